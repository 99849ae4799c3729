//! The sorted set type: unique binary members, each with a float score, ordered by (score,
//! member). Two encodings, as Redis 7.0's `t_zset.c`: a [`Listpack`] of alternating member,
//! score entries kept in order (linear scan) while small, converted once (never back) past
//! [`ZSET_MAX_LISTPACK_ENTRIES`] members or a member longer than
//! [`ZSET_MAX_LISTPACK_VALUE`] bytes to a [`SkipList`] (order and rank, O(log n)) plus a
//! [`DenseMap`] member → score (O(1) ZSCORE, random picks, ZSCAN).
//!
//! Ranges of every kind (score, lex, rank) are reduced to a rank interval with
//! [`ZSet::count_before`], then walked by rank, so each command has one code path for both
//! encodings.

use std::cmp::Ordering;

use super::dense::DenseMap;
use super::listpack::Listpack;
use super::skiplist::{cmp, SkipList};

/// Redis's `zset-max-listpack-entries`: more members than this → skiplist.
pub const ZSET_MAX_LISTPACK_ENTRIES: usize = 128;
/// Redis's `zset-max-listpack-value`: a member longer than this → skiplist.
pub const ZSET_MAX_LISTPACK_VALUE: usize = 64;

#[derive(Clone)]
enum Repr {
    /// member, score (8 bytes, `f64::to_le_bytes`), ... in (score, member) order.
    Listpack(Listpack),
    Skiplist {
        dict: DenseMap<f64>,
        list: SkipList,
    },
}

/// A sorted set value.
#[derive(Clone)]
pub struct ZSet {
    repr: Repr,
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet { repr: Repr::Listpack(Listpack::new()) }
    }
}

fn decode_score(b: &[u8]) -> f64 {
    f64::from_le_bytes(b.try_into().unwrap_or([0; 8]))
}

/// Iterates a zset listpack as (offset of member, member, score).
fn lp_iter(lp: &Listpack) -> impl Iterator<Item = (usize, &[u8], f64)> {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= lp.end() {
            return None;
        }
        let (member, next) = lp.entry_at(at);
        let (score, after) = lp.entry_at(next);
        let here = at;
        at = after;
        Some((here, member, decode_score(score)))
    })
}

impl ZSet {
    pub fn new() -> ZSet {
        ZSet::default()
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Listpack(lp) => lp.len() / 2,
            Repr::Skiplist { dict, .. } => dict.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Allocations dropping this sorted set releases (see `lazyfree`).
    pub fn free_effort(&self) -> usize {
        match &self.repr {
            Repr::Listpack(_) => 1,
            Repr::Skiplist { dict, .. } => 2 * dict.len(),
        }
    }

    /// Redis's OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Listpack(_) => "listpack",
            Repr::Skiplist { .. } => "skiplist",
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Listpack(lp) => lp_iter(lp).find(|(_, m, _)| *m == member).map(|(_, _, s)| s),
            Repr::Skiplist { dict, .. } => dict.get(member).copied(),
        }
    }

    /// Set `member`'s score (`score` is not NaN); returns the old score if it existed.
    pub fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        if let Repr::Listpack(lp) = &self.repr {
            let full = lp.len() / 2 >= ZSET_MAX_LISTPACK_ENTRIES;
            if member.len() > ZSET_MAX_LISTPACK_VALUE || (full && self.score(member).is_none()) {
                self.convert();
            }
        }
        match &mut self.repr {
            Repr::Listpack(lp) => {
                let old = lp_iter(lp).find(|(_, m, _)| *m == member).map(|(at, _, s)| (at, s));
                if let Some((at, _)) = old {
                    lp.remove_at(at, 2);
                }
                let at = lp_iter(lp)
                    .find(|(_, m, s)| cmp(*s, m, score, member) == Ordering::Greater)
                    .map_or(lp.end(), |(at, _, _)| at);
                // Redis 7.0 keeps listpack scores as text, and a stored -0 reads back as 0
                // (the skiplist keeps the double's sign).
                let score = score + 0.0;
                lp.insert_at(at, &[member, &score.to_le_bytes()]);
                old.map(|(_, s)| s)
            }
            Repr::Skiplist { dict, list } => {
                let old = dict.insert(member, score);
                if let Some(old) = old {
                    list.remove(old, member);
                }
                list.insert(score, member);
                old
            }
        }
    }

    /// Remove `member`; true if it was present.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Listpack(lp) => {
                let found = lp_iter(lp).find(|(_, m, _)| *m == member).map(|(at, _, _)| at);
                if let Some(at) = found {
                    lp.remove_at(at, 2);
                }
                found.is_some()
            }
            Repr::Skiplist { dict, list } => match dict.remove(member) {
                Some(score) => list.remove(score, member),
                None => false,
            },
        }
    }

    fn convert(&mut self) {
        let Repr::Listpack(lp) = &self.repr else {
            return;
        };
        let mut dict = DenseMap::with_capacity(lp.len() / 2 + 1);
        let mut list = SkipList::new();
        for (_, member, score) in lp_iter(lp) {
            dict.insert(member, score);
            list.insert(score, member);
        }
        self.repr = Repr::Skiplist { dict, list };
    }

    /// How many members sort before the first one for which `before` is false; `before` must
    /// hold for a prefix of the (score, member) order.
    pub fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        match &self.repr {
            Repr::Listpack(lp) => lp_iter(lp).take_while(|(_, m, s)| before(*s, m)).count(),
            Repr::Skiplist { list, .. } => list.count_before(before),
        }
    }

    /// 0-based ascending rank of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        Some(self.count_before(|s, m| cmp(s, m, score, member) == Ordering::Less))
    }

    /// The member and score at ascending rank `r` (< len).
    pub fn get(&self, r: usize) -> (&[u8], f64) {
        match &self.repr {
            Repr::Listpack(lp) => {
                let (member, next) = lp.entry_at(lp.offset_of(2 * r));
                (member, decode_score(lp.entry_at(next).0))
            }
            Repr::Skiplist { list, .. } => list.get(r),
        }
    }

    /// Visit ascending ranks `start..end` (clamped to len), ascending or (`rev`) descending.
    pub fn for_range<'a>(&'a self, start: usize, end: usize, rev: bool, mut f: impl FnMut(&'a [u8], f64)) {
        let end = end.min(self.len());
        if start >= end {
            return;
        }
        match &self.repr {
            Repr::Listpack(lp) => {
                let items: Vec<(&[u8], f64)> =
                    lp_iter(lp).skip(start).take(end - start).map(|(_, m, s)| (m, s)).collect();
                if rev {
                    items.into_iter().rev().for_each(|(m, s)| f(m, s));
                } else {
                    items.into_iter().for_each(|(m, s)| f(m, s));
                }
            }
            Repr::Skiplist { list, .. } => list.for_range(start, end, rev, f),
        }
    }

    /// Remove ascending ranks `start..end` (clamped); returns the removed (member, score)
    /// pairs in ascending order.
    pub fn remove_range(&mut self, start: usize, end: usize) -> Vec<(Vec<u8>, f64)> {
        let mut gone = Vec::new();
        self.for_range(start, end, false, |m, s| gone.push((m.to_vec(), s)));
        for (member, _) in &gone {
            self.remove(member);
        }
        gone
    }

    /// Every (member, score) in order.
    pub fn iter(&self) -> Vec<(&[u8], f64)> {
        let mut all = Vec::with_capacity(self.len());
        self.for_range(0, self.len(), false, |m, s| all.push((m, s)));
        all
    }

    /// One ZSCAN step; a listpack is returned whole with cursor 0, as Redis does.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], f64)) -> u64 {
        match &self.repr {
            Repr::Listpack(lp) => {
                lp_iter(lp).for_each(|(_, m, s)| f(m, s));
                0
            }
            Repr::Skiplist { dict, .. } => dict.scan(cursor, count, |m, s| f(m, *s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(z: &ZSet) -> Vec<(Vec<u8>, f64)> {
        z.iter().into_iter().map(|(m, s)| (m.to_vec(), s)).collect()
    }

    #[test]
    fn both_encodings_agree() {
        let mut small = ZSet::new();
        let mut big = ZSet::new();
        big.convert();
        for i in 0..100u32 {
            let member = format!("m{}", i % 37).into_bytes();
            let score = f64::from((i * 7) % 11) - 5.0;
            assert_eq!(small.insert(&member, score), big.insert(&member, score));
            if i % 5 == 0 {
                let gone = format!("m{}", i % 13).into_bytes();
                assert_eq!(small.remove(&gone), big.remove(&gone));
            }
        }
        assert_eq!((small.encoding(), big.encoding()), ("listpack", "skiplist"));
        assert_eq!(members(&small), members(&big));
        for r in 0..small.len() {
            assert_eq!(small.get(r), big.get(r));
            let (m, _) = small.get(r);
            assert_eq!(small.rank(m), Some(r));
            assert_eq!(big.rank(m), Some(r));
        }
        let below_zero = |s: f64, _: &[u8]| s < 0.0;
        assert_eq!(small.count_before(below_zero), big.count_before(below_zero));
        assert_eq!(small.remove_range(2, 5), big.remove_range(2, 5));
        assert_eq!(members(&small), members(&big));
    }

    #[test]
    fn converts_past_thresholds() {
        let mut z = ZSet::new();
        for i in 0..ZSET_MAX_LISTPACK_ENTRIES {
            z.insert(format!("m{i}").as_bytes(), i as f64);
        }
        assert_eq!(z.encoding(), "listpack");
        z.insert(b"m0", -1.0);
        assert_eq!(z.encoding(), "listpack");
        z.insert(b"new", 0.5);
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(z.get(0), (&b"m0"[..], -1.0));
        let mut z = ZSet::new();
        z.insert(&[b'x'; ZSET_MAX_LISTPACK_VALUE + 1], 1.0);
        assert_eq!(z.encoding(), "skiplist");
    }
}
