//! HyperLogLog, byte-compatible with Redis 7.0's `hyperloglog.c`: a HyperLogLog is an
//! ordinary string value, so it needs no value type of its own and DUMP / RDB / AOF carry it
//! unchanged. This module is the algorithm and the encodings on plain bytes; the commands
//! (PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST) are `cmd::hyperloglog`.
//!
//! The string is a 16-byte header — `HYLL`, the encoding (0 dense, 1 sparse), 3 unused
//! bytes, the cached cardinality as 8 little-endian bytes whose top bit marks it stale —
//! then the registers: P = 14, 16384 registers of 6 bits, dense ([`dense`], 12288 bytes)
//! or run-length coded ([`sparse`]) until the sparse string would pass
//! `hll-sparse-max-bytes` or a register passes 32. Elements are hashed with MurmurHash64A
//! ([`murmur`]); the count is Ertl's estimator ([`estimate`]). Every function takes any
//! bytes: malformed register data is [`Corrupt`] (Redis's `INVALIDOBJ`), never a panic.

pub mod dense;
pub mod estimate;
#[cfg(test)]
mod golden_tests;
pub mod murmur;
pub mod selftest;
pub mod sparse;

/// Header bytes before the registers.
pub const HDR_SIZE: usize = 16;
/// Register index bits: 2^14 registers (error about 0.81%).
pub const P: u32 = 14;
/// Hash bits left for the run length.
pub const Q: u32 = 64 - P;
/// Number of registers.
pub const REGISTERS: usize = 1 << P;
/// Mask of the register index bits of a hash.
pub const P_MASK: u64 = REGISTERS as u64 - 1;
/// Bits per dense register.
pub const BITS: usize = 6;
/// Largest register value.
pub const REGISTER_MAX: u8 = (1 << BITS) - 1;
/// Length of a dense HyperLogLog string.
pub const DENSE_SIZE: usize = HDR_SIZE + (REGISTERS * BITS).div_ceil(8);
/// The header's magic.
const MAGIC: &[u8; 4] = b"HYLL";
/// Encoding byte of the dense form.
const DENSE: u8 = 0;
/// Encoding byte of the sparse form.
const SPARSE: u8 = 1;
/// Offset of the cached cardinality in the header.
const CARD: usize = 8;
/// Redis's default `hll-sparse-max-bytes`: past it (header included) a sparse HyperLogLog
/// becomes dense (3000 bytes ≈ 2000-3000 elements, where dense gets cheaper to update).
pub const SPARSE_MAX_BYTES_DEFAULT: u64 = 3000;

/// The register data does not decode to 16384 registers (`INVALIDOBJ Corrupted HLL object
/// detected`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Corrupt;

/// The two encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Dense,
    Sparse,
}

/// The encoding of `v` if it is a HyperLogLog string by Redis's `isHLLObjectOrReply`: at
/// least a header, the magic, a known encoding, and exactly [`DENSE_SIZE`] bytes if dense.
/// `None`: `WRONGTYPE Key is not a valid HyperLogLog string value.`
pub fn encoding(v: &[u8]) -> Option<Encoding> {
    if v.len() < HDR_SIZE || &v[..4] != MAGIC {
        return None;
    }
    match v[4] {
        DENSE if v.len() == DENSE_SIZE => Some(Encoding::Dense),
        SPARSE => Some(Encoding::Sparse),
        _ => None,
    }
}

/// A new, empty HyperLogLog as PFADD / PFMERGE create it: sparse, cardinality 0 cached.
pub fn new_sparse() -> Vec<u8> {
    let mut v = vec![0u8; HDR_SIZE];
    v[..4].copy_from_slice(MAGIC);
    v[4] = SPARSE;
    v.extend_from_slice(&sparse::empty_registers());
    v
}

/// The cached cardinality, if the header holds a current one.
pub fn cached(v: &[u8]) -> Option<u64> {
    let card = u64::from_le_bytes(v.get(CARD..HDR_SIZE)?.try_into().ok()?);
    (card >> 63 == 0).then_some(card)
}

/// Mark the cached cardinality stale (the registers changed).
pub fn invalidate(v: &mut [u8]) {
    if let Some(b) = v.get_mut(HDR_SIZE - 1) {
        *b |= 0x80;
    }
}

/// Store `card` as the cached cardinality.
pub fn store_cached(v: &mut [u8], card: u64) {
    if let Some(bytes) = v.get_mut(CARD..HDR_SIZE) {
        bytes.copy_from_slice(&card.to_le_bytes());
    }
}

/// Convert a valid sparse `v` to dense in place (Redis's `hllSparseToDense`: the header,
/// cached cardinality included, is kept). Ok(false): it was dense already.
pub fn to_dense(v: &mut Vec<u8>) -> Result<bool, Corrupt> {
    if encoding(v) != Some(Encoding::Sparse) {
        return Ok(false);
    }
    let regs = sparse::to_dense_registers(v)?;
    v.truncate(HDR_SIZE);
    v[4] = DENSE;
    v.extend_from_slice(&regs);
    Ok(true)
}

/// Raise register `index` to `count` if lower, in whichever encoding `v` has (promoting a
/// sparse one past `max_bytes` or past value 32). True if it changed. The cached
/// cardinality is invalidated by a sparse update, else left for the caller (as in Redis).
pub fn set_register(v: &mut Vec<u8>, index: usize, count: u8, max_bytes: u64) -> Result<bool, Corrupt> {
    if encoding(v) == Some(Encoding::Sparse) {
        match sparse::set(v, index, count, max_bytes)? {
            sparse::SetOutcome::Unchanged => return Ok(false),
            sparse::SetOutcome::Updated => {
                // Redis's hllSparseSet invalidates the cache itself on every in-place update
                // (which shows when a later element of the same PFADD meets corrupt data).
                invalidate(v);
                return Ok(true);
            }
            sparse::SetOutcome::Promote => {
                to_dense(v)?;
            }
        }
    }
    match v.get_mut(HDR_SIZE..) {
        Some(regs) => Ok(dense::raise(regs, index, count)),
        None => Err(Corrupt),
    }
}

/// Add one element (Redis's `hllAdd`): true if a register changed. The caller invalidates
/// the cached cardinality once after its elements.
pub fn add(v: &mut Vec<u8>, element: &[u8], max_bytes: u64) -> Result<bool, Corrupt> {
    let (index, count) = murmur::pattern(element);
    set_register(v, index, count, max_bytes)
}

/// The register histogram of a HyperLogLog string.
fn histogram(v: &[u8]) -> Result<[u32; 64], Corrupt> {
    let mut histo = [0u32; 64];
    match encoding(v) {
        Some(Encoding::Dense) => dense::histogram(&v[HDR_SIZE..], &mut histo),
        Some(Encoding::Sparse) => sparse::histogram(v, &mut histo)?,
        None => return Err(Corrupt),
    }
    Ok(histo)
}

/// The estimated cardinality of `v`'s registers (ignores the cache).
pub fn count(v: &[u8]) -> Result<u64, Corrupt> {
    Ok(estimate::cardinality(&histogram(v)?))
}

/// `max[i] = max(max[i], register i of v)`: one step of a multi-key PFCOUNT or PFMERGE.
/// `max` has [`REGISTERS`] entries.
pub fn merge_into(max: &mut [u8], v: &[u8]) -> Result<(), Corrupt> {
    match encoding(v) {
        Some(Encoding::Dense) => {
            dense::merge(&v[HDR_SIZE..], max);
            Ok(())
        }
        Some(Encoding::Sparse) => sparse::merge(v, max),
        None => Err(Corrupt),
    }
}

/// The estimated cardinality of unpacked registers (one byte each), e.g. a merge result.
pub fn count_registers(max: &[u8]) -> u64 {
    let mut histo = [0u32; 64];
    for &r in max {
        histo[usize::from(r & 63)] += 1;
    }
    estimate::cardinality(&histo)
}
