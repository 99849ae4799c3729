//! The hash type: field → value, both binary. Two encodings, as Redis 7.0's `t_hash.c`:
//! a [`Listpack`] of alternating field, value entries (linear scan) while the hash is small,
//! converted once (never back) to a [`DenseMap`] when it grows past
//! [`HASH_MAX_LISTPACK_ENTRIES`] fields or gets a field or value longer than
//! [`HASH_MAX_LISTPACK_VALUE`] bytes.

use super::dense::DenseMap;
use super::listpack::Listpack;

/// Redis's `hash-max-listpack-entries`: more fields than this → hashtable.
pub const HASH_MAX_LISTPACK_ENTRIES: usize = 128;
/// Redis's `hash-max-listpack-value`: a field or value longer than this → hashtable.
pub const HASH_MAX_LISTPACK_VALUE: usize = 64;

#[derive(Clone)]
enum Repr {
    Listpack(Listpack),
    Table(DenseMap<Box<[u8]>>),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Listpack(Listpack::new())
    }
}

/// A hash value.
#[derive(Clone, Default)]
pub struct Hash {
    repr: Repr,
}

impl Hash {
    pub fn new() -> Hash {
        Hash::default()
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Listpack(lp) => lp.len() / 2,
            Repr::Table(t) => t.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Allocations dropping this hash releases (see `lazyfree`).
    pub fn free_effort(&self) -> usize {
        match &self.repr {
            Repr::Listpack(_) => 1,
            Repr::Table(t) => t.len(),
        }
    }

    /// Redis's OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Listpack(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// Offset of `field`'s entry in a listpack (values are skipped).
    fn lp_find(lp: &Listpack, field: &[u8]) -> Option<usize> {
        let mut at = 0;
        while at < lp.end() {
            let (f, next) = lp.entry_at(at);
            if f == field {
                return Some(at);
            }
            at = lp.entry_at(next).1;
        }
        None
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.repr {
            Repr::Listpack(lp) => Self::lp_find(lp, field).map(|at| lp.entry_at(lp.entry_at(at).1).0),
            Repr::Table(t) => t.get(field).map(|v| &**v),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Set `field` to `value`; true if the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        if let Repr::Listpack(lp) = &self.repr {
            let too_long = field.len() > HASH_MAX_LISTPACK_VALUE || value.len() > HASH_MAX_LISTPACK_VALUE;
            if too_long || (lp.len() / 2 >= HASH_MAX_LISTPACK_ENTRIES && Self::lp_find(lp, field).is_none()) {
                self.convert();
            }
        }
        match &mut self.repr {
            Repr::Listpack(lp) => match Self::lp_find(lp, field) {
                Some(at) => {
                    let value_at = lp.entry_at(at).1;
                    lp.replace_at(value_at, value);
                    false
                }
                None => {
                    lp.push(field);
                    lp.push(value);
                    true
                }
            },
            Repr::Table(t) => t.insert(field, value.into()).is_none(),
        }
    }

    /// Remove `field`; true if it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Listpack(lp) => match Self::lp_find(lp, field) {
                Some(at) => {
                    lp.remove_at(at, 2);
                    true
                }
                None => false,
            },
            Repr::Table(t) => t.remove(field).is_some(),
        }
    }

    fn convert(&mut self) {
        let Repr::Listpack(lp) = &self.repr else {
            return;
        };
        let mut t = DenseMap::with_capacity(lp.len() / 2 + 1);
        let mut it = lp.iter();
        while let (Some(f), Some(v)) = (it.next(), it.next()) {
            t.insert(f, v.into());
        }
        self.repr = Repr::Table(t);
    }

    /// Every (field, value), in the encoding's order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match &self.repr {
            Repr::Listpack(lp) => {
                let mut it = lp.iter();
                Box::new(std::iter::from_fn(move || Some((it.next()?, it.next()?))))
            }
            Repr::Table(t) => Box::new(t.iter().map(|(k, v)| (k, &**v))),
        }
    }

    /// The `i`-th (field, value) (`i < len`): O(1) for a hashtable, linear for a listpack.
    pub fn at(&self, i: usize) -> (&[u8], &[u8]) {
        match &self.repr {
            Repr::Listpack(lp) => {
                let (f, next) = lp.entry_at(lp.offset_of(2 * i));
                (f, lp.entry_at(next).0)
            }
            Repr::Table(t) => {
                let (k, v) = t.at(i);
                (k, v)
            }
        }
    }

    /// One HSCAN step (see [`DenseMap::scan`]); a listpack is returned whole with cursor 0,
    /// as Redis does.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], &[u8])) -> u64 {
        match &self.repr {
            Repr::Listpack(_) => {
                self.iter().for_each(|(k, v)| f(k, v));
                0
            }
            Repr::Table(t) => t.scan(cursor, count, |k, v| f(k, v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_past_thresholds_and_keeps_contents() {
        let mut h = Hash::new();
        for i in 0..HASH_MAX_LISTPACK_ENTRIES {
            assert!(h.set(format!("f{i}").as_bytes(), b"v"));
        }
        assert!(!h.set(b"f0", b"w"));
        assert_eq!(h.encoding(), "listpack");
        assert!(h.set(b"one-more", b"v"));
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), HASH_MAX_LISTPACK_ENTRIES + 1);
        assert_eq!(h.get(b"f0"), Some(&b"w"[..]));

        let mut h = Hash::new();
        h.set(b"a", b"1");
        h.set(b"b", &[b'x'; HASH_MAX_LISTPACK_VALUE]);
        assert_eq!(h.encoding(), "listpack");
        h.set(b"c", &[b'x'; HASH_MAX_LISTPACK_VALUE + 1]);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"a"), Some(&b"1"[..]));
        assert!(h.remove(b"a"));
        assert!(!h.remove(b"a"));
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn listpack_set_get_remove() {
        let mut h = Hash::new();
        h.set(b"a", b"1");
        h.set(b"b", b"2");
        h.set(b"a", b"3");
        assert_eq!(h.iter().collect::<Vec<_>>(), vec![(&b"a"[..], &b"3"[..]), (b"b", b"2")]);
        assert_eq!(h.at(1), (&b"b"[..], &b"2"[..]));
        assert!(h.remove(b"a"));
        assert_eq!(h.get(b"a"), None);
        assert_eq!(h.len(), 1);
    }
}
