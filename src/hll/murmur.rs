//! MurmurHash64A (MurmurHash2, 64-bit) as Redis 7.0's `hyperloglog.c` has it, and the
//! element → (register, run length) step of `hllPatLen`. Every HyperLogLog Redis wrote must
//! hash its elements the same way here, or merged and loaded sketches would disagree.

use super::{P, P_MASK, Q};

/// Redis's seed for HyperLogLog element hashes.
pub const SEED: u64 = 0xadc8_3b19;

/// MurmurHash64A of `key` with `seed`, little-endian 8-byte blocks (Redis's endian-neutral
/// variant). The length enters as C's `int` times the multiplier (wrapping).
pub fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    // Redis passes the length as an `int`, sign-extended into the 64-bit product.
    let len = key.len() as i32 as i64 as u64;
    let mut h = seed ^ len.wrapping_mul(M);
    let mut blocks = key.chunks_exact(8);
    for block in &mut blocks {
        let mut k = u64::from_le_bytes(block.try_into().unwrap_or([0; 8]));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register `ele` hashes to and the length of its `000..1` pattern (1 ..= Q+1), as
/// Redis 7.0's `hllPatLen`: the low P bits pick the register, the rest are scanned from
/// their least significant bit, with bit Q set so the scan ends.
pub fn pattern(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, SEED);
    let index = (hash & P_MASK) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_stays_in_range() {
        for i in 0..10_000u32 {
            let (index, count) = pattern(&i.to_le_bytes());
            assert!(index < super::super::REGISTERS);
            assert!((1..=Q as u8 + 1).contains(&count));
        }
    }

    #[test]
    fn tail_bytes_and_blocks_both_count() {
        // Every length 0..=17 hashes differently from its one-byte-shorter prefix.
        let data: Vec<u8> = (1..=17).collect();
        for n in 1..=data.len() {
            assert_ne!(murmur64a(&data[..n], SEED), murmur64a(&data[..n - 1], SEED), "length {n}");
        }
    }
}
