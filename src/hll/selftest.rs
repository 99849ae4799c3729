//! PFSELFTEST: Redis 7.0's internal checks of the HyperLogLog code, bounded. Redis runs
//! 1000 register cycles and adds 10 million elements (seconds of a blocked server); here
//! [`REGISTER_CYCLES`] and [`ELEMENTS_MAX`] keep it to milliseconds while covering the same
//! ground: dense register access, sparse and dense agreeing, and the estimate's error at
//! every power of ten.

use super::{count, dense, new_sparse, set_register, Encoding, DENSE_SIZE, HDR_SIZE, REGISTERS, REGISTER_MAX};

/// Rounds of "fill every register with random values, read them back" (Redis: 1000).
pub const REGISTER_CYCLES: usize = 10;
/// Elements added in the error test (Redis: 10 million); the last checkpoint is this one.
pub const ELEMENTS_MAX: u64 = 100_000;

/// xorshift64*: the test's random numbers (any seed but 0).
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// Run the checks with random numbers from `seed`; Err: the `TESTFAILED ...` error text.
pub fn run(seed: u64, sparse_max_bytes: u64) -> Result<(), String> {
    let mut state = seed | 1;
    let mut regs = vec![0u8; DENSE_SIZE - HDR_SIZE];
    let mut expect = vec![0u8; REGISTERS];
    for _ in 0..REGISTER_CYCLES {
        for (i, e) in expect.iter_mut().enumerate() {
            *e = (next(&mut state) as u8) & REGISTER_MAX;
            dense::put(&mut regs, i, *e);
        }
        for (i, &e) in expect.iter().enumerate() {
            let got = dense::get(&regs, i);
            if got != e {
                return Err(format!("TESTFAILED Register {i} should be {e} but is {got}"));
            }
        }
    }
    approximation(next(&mut state), sparse_max_bytes)
}

/// Add distinct elements to a dense and a sparse HyperLogLog; at 1, 10, 100, ... check the
/// sparse one is still sparse while small, that both count the same, and the error.
fn approximation(seed: u64, sparse_max_bytes: u64) -> Result<(), String> {
    let mut dense_hll = new_sparse();
    super::to_dense(&mut dense_hll).map_err(|_| "TESTFAILED dense conversion".to_string())?;
    let mut sparse_hll = new_sparse();
    let relerr = 1.04 / (REGISTERS as f64).sqrt();
    let mut checkpoint = 1u64;
    for j in 1..=ELEMENTS_MAX {
        let ele = (j ^ seed).to_le_bytes();
        let (index, n) = super::murmur::pattern(&ele);
        let corrupt = |_| "TESTFAILED corrupted HLL".to_string();
        set_register(&mut dense_hll, index, n, sparse_max_bytes).map_err(corrupt)?;
        set_register(&mut sparse_hll, index, n, sparse_max_bytes).map_err(corrupt)?;
        if j != checkpoint {
            continue;
        }
        if j < sparse_max_bytes / 2 && super::encoding(&sparse_hll) != Some(Encoding::Sparse) {
            return Err("TESTFAILED sparse encoding not used".into());
        }
        let (a, b) = (count(&dense_hll), count(&sparse_hll));
        if a != b {
            return Err("TESTFAILED dense/sparse disagree".into());
        }
        let abserr = (checkpoint as i64 - a.unwrap_or(0) as i64).unsigned_abs();
        let maxerr = if j == 10 { 1 } else { (relerr * 6.0 * checkpoint as f64).ceil() as u64 };
        if abserr > maxerr {
            return Err(format!("TESTFAILED Too big error. card:{checkpoint} abserr:{abserr}"));
        }
        checkpoint *= 10;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn passes_for_several_seeds() {
        for seed in [1u64, 42, 0xdead_beef, u64::MAX] {
            assert_eq!(super::run(seed, super::super::SPARSE_MAX_BYTES_DEFAULT), Ok(()), "seed {seed}");
        }
    }
}
