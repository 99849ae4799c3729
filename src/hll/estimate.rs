//! The cardinality estimate from a register histogram: Otmar Ertl's improved estimator
//! ("New cardinality estimation algorithms for HyperLogLog sketches", arXiv:1702.01284), the
//! one Redis 7.0's `hllCount` uses, computed in the same order with the same `f64`
//! operations (and the same libm `pow`) so that PFCOUNT returns Redis's numbers.

use super::{Q, REGISTERS};

/// 0.5 / ln(2): the estimator's alpha for an infinite number of registers.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// Ertl's sigma(x) (infinite at 1).
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0f64, x);
    loop {
        x *= x;
        let z_prime = z;
        z += x * y;
        y += y;
        if z_prime == z {
            return z;
        }
    }
}

/// Ertl's tau(x) (0 at 0 and 1).
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0f64, 1.0 - x);
    loop {
        x = x.sqrt();
        let z_prime = z;
        y *= 0.5;
        z -= (1.0 - x).powf(2.0) * y;
        if z_prime == z {
            return z / 3.0;
        }
    }
}

/// C's `llroundl` on x86-64 for a value that came from a double: round half away from zero;
/// NaN or out of range gives `i64::MIN` (the hardware's "integer indefinite"), which Redis
/// then stores as the unsigned cardinality 2^63.
fn llround(x: f64) -> i64 {
    // 2^63 as a double: the first value past i64's range.
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    let r = x.round();
    if (-TWO_POW_63..TWO_POW_63).contains(&r) {
        r as i64
    } else {
        i64::MIN
    }
}

/// The estimated cardinality for a histogram of register values (`histo[v]` = registers
/// holding v; values past Q+1 only occur in hostile strings and are ignored, as in Redis).
pub fn cardinality(histo: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let q = Q as usize;
    let mut z = m * tau((m - f64::from(histo[q + 1])) / m);
    for j in (1..=q).rev() {
        z += f64::from(histo[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(histo[0]) / m);
    llround(ALPHA_INF * m * m / z) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_extreme_histograms() {
        let mut h = [0u32; 64];
        h[0] = REGISTERS as u32;
        assert_eq!(cardinality(&h), 0, "all registers zero");
        let mut h = [0u32; 64];
        h[Q as usize + 1] = REGISTERS as u32;
        assert_eq!(cardinality(&h), 1u64 << 63, "z = 0: Redis's llroundl(inf)");
        let mut h = [0u32; 64];
        h[1] = REGISTERS as u32;
        let n = cardinality(&h);
        assert!(n > 10_000 && n < 30_000, "every register 1: about m ln 2 .. {n}");
    }
}
