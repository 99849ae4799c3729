//! The set type: unordered unique binary members. Two encodings, as Redis 7.0's `t_set.c`:
//! an intset (a sorted `Vec<i64>`, binary search) while every member is an integer in
//! Redis's canonical form and there are at most [`SET_MAX_INTSET_ENTRIES`], converted once
//! (never back) to a [`DenseMap`] hashtable otherwise. (Redis 7.0 has no listpack set
//! encoding; it came in 7.2, so `set-max-listpack-entries` does not apply.)

use std::borrow::Cow;

use super::dense::DenseMap;
use crate::args::parse_i64;

/// Redis's `set-max-intset-entries`: more members than this → hashtable.
pub const SET_MAX_INTSET_ENTRIES: usize = 512;

#[derive(Clone)]
enum Repr {
    Intset(Vec<i64>),
    Table(DenseMap<()>),
}

/// A set value.
#[derive(Clone)]
pub struct Set {
    repr: Repr,
}

impl Default for Set {
    fn default() -> Self {
        Set { repr: Repr::Intset(Vec::new()) }
    }
}

fn int_bytes(n: i64) -> Cow<'static, [u8]> {
    Cow::Owned(itoa::Buffer::new().format(n).as_bytes().to_vec())
}

impl Set {
    pub fn new() -> Set {
        Set::default()
    }
    /// An empty set already in the hashtable encoding (for results that will not be ints).
    pub fn with_table() -> Set {
        Set { repr: Repr::Table(DenseMap::new()) }
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Intset(v) => v.len(),
            Repr::Table(t) => t.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Allocations dropping this set releases (see `lazyfree`).
    pub fn free_effort(&self) -> usize {
        match &self.repr {
            Repr::Intset(_) => 1,
            Repr::Table(t) => t.len(),
        }
    }

    /// Redis's OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Intset(_) => "intset",
            Repr::Table(_) => "hashtable",
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match &self.repr {
            Repr::Intset(v) => parse_i64(member).is_some_and(|n| v.binary_search(&n).is_ok()),
            Repr::Table(t) => t.contains(member),
        }
    }

    /// Add `member`; true if it is new.
    pub fn add(&mut self, member: &[u8]) -> bool {
        if let Repr::Intset(v) = &mut self.repr {
            match parse_i64(member) {
                Some(n) => match v.binary_search(&n) {
                    Ok(_) => return false,
                    Err(at) if v.len() < SET_MAX_INTSET_ENTRIES => {
                        v.insert(at, n);
                        return true;
                    }
                    Err(_) => self.convert(),
                },
                None => self.convert(),
            }
        }
        match &mut self.repr {
            Repr::Table(t) => t.insert(member, ()).is_none(),
            Repr::Intset(_) => unreachable!("converted above"),
        }
    }

    /// Remove `member`; true if it was present.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Intset(v) => match parse_i64(member).map(|n| v.binary_search(&n)) {
                Some(Ok(at)) => {
                    v.remove(at);
                    true
                }
                _ => false,
            },
            Repr::Table(t) => t.remove(member).is_some(),
        }
    }

    fn convert(&mut self) {
        let Repr::Intset(v) = &self.repr else {
            return;
        };
        let mut t = DenseMap::with_capacity(v.len() + 1);
        for &n in v {
            t.insert(itoa::Buffer::new().format(n).as_bytes(), ());
        }
        self.repr = Repr::Table(t);
    }

    /// Every member (an intset in ascending order).
    pub fn iter(&self) -> Box<dyn Iterator<Item = Cow<'_, [u8]>> + '_> {
        match &self.repr {
            Repr::Intset(v) => Box::new(v.iter().map(|&n| int_bytes(n))),
            Repr::Table(t) => Box::new(t.iter().map(|(k, _)| Cow::Borrowed(k))),
        }
    }

    /// The `i`-th member (`i < len`), O(1).
    pub fn at(&self, i: usize) -> Cow<'_, [u8]> {
        match &self.repr {
            Repr::Intset(v) => int_bytes(v[i]),
            Repr::Table(t) => Cow::Borrowed(t.at(i).0),
        }
    }

    /// Remove and return the `i`-th member (`i < len`).
    pub fn take_at(&mut self, i: usize) -> Vec<u8> {
        match &mut self.repr {
            Repr::Intset(v) => int_bytes(v.remove(i)).into_owned(),
            Repr::Table(t) => t.remove_index(i).0.into_vec(),
        }
    }

    /// One SSCAN step; an intset is returned whole with cursor 0, as Redis does.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8])) -> u64 {
        match &self.repr {
            Repr::Intset(_) => {
                self.iter().for_each(|m| f(&m));
                0
            }
            Repr::Table(t) => t.scan(cursor, count, |k, _| f(k)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intset_until_a_string_or_too_many() {
        let mut s = Set::new();
        assert!(s.add(b"3"));
        assert!(s.add(b"-1"));
        assert!(!s.add(b"3"));
        assert_eq!(s.encoding(), "intset");
        assert_eq!(s.iter().map(|m| m.into_owned()).collect::<Vec<_>>(), vec![b"-1".to_vec(), b"3".to_vec()]);
        assert!(!s.contains(b"03"));
        assert!(s.add(b"03"), "not canonical: a string");
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(b"3") && s.contains(b"03"));

        let mut s = Set::new();
        for i in 0..SET_MAX_INTSET_ENTRIES {
            s.add(i.to_string().as_bytes());
        }
        assert_eq!(s.encoding(), "intset");
        s.add(b"100000");
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(s.len(), SET_MAX_INTSET_ENTRIES + 1);
        assert!(s.remove(b"7"));
        assert!(!s.contains(b"7"));
    }
}
