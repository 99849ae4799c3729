//! Sorted-set argument parsing shared by the ZSET commands: scores (Redis 7.0's
//! `getDoubleFromObject`), score ranges (`(` exclusive, `-inf` / `+inf`, as `zslParseRange`),
//! lex ranges (`[` / `(` / `-` / `+`, as `zslParseLexRange`), and the reduction of any range
//! to a half-open interval of ascending ranks, which every ZRANGE-like command then walks.

use crate::types::skiplist;
use crate::types::ZSet;

pub const ERR_MIN_MAX_FLOAT: &str = "ERR min or max is not a float";
pub const ERR_MIN_MAX_LEX: &str = "ERR min or max not valid string range item";

/// A score argument (ZADD, ZINCRBY): a full decimal or `inf`-style float, no spaces, no NaN,
/// no overflow to infinity and no underflow to zero (strtod's ERANGE), as Redis.
pub fn parse_score(b: &[u8]) -> Option<f64> {
    let v = crate::cmd::parse_f64(b)?;
    let text = std::str::from_utf8(b).ok()?.to_ascii_lowercase();
    if v.is_infinite() && !text.contains("inf") {
        return None; // overflow, e.g. 1e400
    }
    let mantissa = text.split('e').next().unwrap_or("");
    if v == 0.0 && mantissa.bytes().any(|c| (b'1'..=b'9').contains(&c)) {
        return None; // underflow, e.g. 1e-400
    }
    Some(v)
}

/// One end of a score range argument: strtod over the text after an optional `(`; leading
/// spaces allowed, an empty text is 0 (as Redis), NaN refused.
fn parse_range_end(b: &[u8]) -> Option<(f64, bool)> {
    let (exclusive, rest) = match b.first() {
        Some(b'(') => (true, &b[1..]),
        _ => (false, b),
    };
    let rest = std::str::from_utf8(rest).ok()?.trim_start();
    if rest.is_empty() {
        return Some((0.0, exclusive));
    }
    let v = crate::cmd::parse_f64(rest.as_bytes())?;
    Some((v, exclusive))
}

/// `[min, max]` of scores with exclusive flags.
#[derive(Clone, Copy, Debug)]
pub struct ScoreRange {
    pub min: f64,
    pub min_ex: bool,
    pub max: f64,
    pub max_ex: bool,
}

impl ScoreRange {
    pub fn parse(min: &[u8], max: &[u8]) -> Result<ScoreRange, &'static str> {
        let (min, min_ex) = parse_range_end(min).ok_or(ERR_MIN_MAX_FLOAT)?;
        let (max, max_ex) = parse_range_end(max).ok_or(ERR_MIN_MAX_FLOAT)?;
        Ok(ScoreRange { min, min_ex, max, max_ex })
    }

    /// Ascending ranks `start..end` of the members in range.
    pub fn ranks(&self, z: &ZSet) -> std::ops::Range<usize> {
        let start = z.count_before(|s, _| s < self.min || (self.min_ex && s == self.min));
        let end = z.count_before(|s, _| s < self.max || (!self.max_ex && s == self.max));
        start..end.max(start)
    }
}

/// One end of a lex range.
#[derive(Clone, Debug)]
pub enum LexEnd {
    NegInf,
    PosInf,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

impl LexEnd {
    fn parse(b: &[u8]) -> Option<LexEnd> {
        match b.first() {
            Some(b'-') if b.len() == 1 => Some(LexEnd::NegInf),
            Some(b'+') if b.len() == 1 => Some(LexEnd::PosInf),
            Some(b'[') => Some(LexEnd::Incl(b[1..].to_vec())),
            Some(b'(') => Some(LexEnd::Excl(b[1..].to_vec())),
            _ => None,
        }
    }
}

/// A lex range `[min, max]`.
#[derive(Clone, Debug)]
pub struct LexRange {
    pub min: LexEnd,
    pub max: LexEnd,
}

impl LexRange {
    pub fn parse(min: &[u8], max: &[u8]) -> Result<LexRange, &'static str> {
        let min = LexEnd::parse(min).ok_or(ERR_MIN_MAX_LEX)?;
        let max = LexEnd::parse(max).ok_or(ERR_MIN_MAX_LEX)?;
        Ok(LexRange { min, max })
    }

    /// Ascending ranks `start..end` of the members in range (members are assumed to share
    /// one score, as Redis documents for lex ranges).
    pub fn ranks(&self, z: &ZSet) -> std::ops::Range<usize> {
        let start = z.count_before(|_, m| match &self.min {
            LexEnd::NegInf => false,
            LexEnd::PosInf => true,
            LexEnd::Incl(x) => m < &x[..],
            LexEnd::Excl(x) => m <= &x[..],
        });
        let end = z.count_before(|_, m| match &self.max {
            LexEnd::NegInf => false,
            LexEnd::PosInf => true,
            LexEnd::Incl(x) => m <= &x[..],
            LexEnd::Excl(x) => m < &x[..],
        });
        start..end.max(start)
    }
}

/// (score, member) order, re-exported for result sorting.
pub fn order(a: &(Vec<u8>, f64), b: &(Vec<u8>, f64)) -> std::cmp::Ordering {
    skiplist::cmp(a.1, &a.0, b.1, &b.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_parse_as_redis() {
        assert_eq!(parse_score(b"1.5"), Some(1.5));
        assert_eq!(parse_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_score(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_score(b"1e400"), None);
        assert_eq!(parse_score(b"1e-400"), None);
        assert_eq!(parse_score(b"0e5"), Some(0.0));
        assert_eq!(parse_score(b"nan"), None);
        assert_eq!(parse_score(b" 1"), None);
        assert_eq!(parse_score(b""), None);
    }

    #[test]
    fn ranges_parse_as_redis() {
        let r = ScoreRange::parse(b"(1", b"+inf").unwrap();
        assert!(r.min_ex && !r.max_ex && r.min == 1.0 && r.max == f64::INFINITY);
        let r = ScoreRange::parse(b"(", b" 5").unwrap();
        assert!(r.min_ex && r.min == 0.0 && r.max == 5.0);
        assert_eq!(ScoreRange::parse(b"a", b"1").unwrap_err(), ERR_MIN_MAX_FLOAT);
        assert_eq!(ScoreRange::parse(b"1", b"(nan").unwrap_err(), ERR_MIN_MAX_FLOAT);
        assert!(LexRange::parse(b"-", b"+").is_ok());
        assert!(LexRange::parse(b"[a", b"(b").is_ok());
        assert_eq!(LexRange::parse(b"a", b"+").unwrap_err(), ERR_MIN_MAX_LEX);
        assert_eq!(LexRange::parse(b"-", b"++").unwrap_err(), ERR_MIN_MAX_LEX);
    }

    #[test]
    fn ranges_map_to_ranks() {
        let mut z = ZSet::new();
        for (m, s) in [("a", 1.0), ("b", 2.0), ("c", 2.0), ("d", 3.0)] {
            z.insert(m.as_bytes(), s);
        }
        assert_eq!(ScoreRange::parse(b"2", b"2").unwrap().ranks(&z), 1..3);
        assert_eq!(ScoreRange::parse(b"(1", b"(3").unwrap().ranks(&z), 1..3);
        assert_eq!(ScoreRange::parse(b"5", b"1").unwrap().ranks(&z), 4..4);
        assert_eq!(ScoreRange::parse(b"-inf", b"+inf").unwrap().ranks(&z), 0..4);
        let mut lex = ZSet::new();
        for m in ["a", "b", "c", "d"] {
            lex.insert(m.as_bytes(), 0.0);
        }
        assert_eq!(LexRange::parse(b"[b", b"(d").unwrap().ranks(&lex), 1..3);
        assert_eq!(LexRange::parse(b"-", b"+").unwrap().ranks(&lex), 0..4);
        assert_eq!(LexRange::parse(b"+", b"-").unwrap().ranks(&lex), 4..4);
    }
}
