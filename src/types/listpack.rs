//! A listpack: a sequence of byte strings packed into one allocation, each entry a varint
//! length followed by its bytes. It is the compact encoding small hashes, sorted sets and list
//! nodes use (Redis's `listpack.c`, simplified): one allocation instead of one or two per
//! element, and a linear scan is faster than hashing for the few dozen entries it holds
//! before its owner converts it to a general structure past a named threshold.
//!
//! Entries are addressed by byte offset (`usize`, always the start of an entry); offsets stay
//! valid until the next mutation.

/// A packed sequence of byte strings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Listpack {
    buf: Vec<u8>,
    /// Number of entries.
    len: usize,
}

/// Appends `n` as a LEB128 varint.
fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Bytes `put_varint` writes for `n`.
fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Decodes a varint at `at`: (value, bytes used). The buffer only ever holds what
/// `put_varint` wrote, so the encoding is well formed.
fn get_varint(buf: &[u8], at: usize) -> (usize, usize) {
    let mut n = 0usize;
    let mut shift = 0;
    let mut i = at;
    loop {
        let b = buf[i];
        n |= usize::from(b & 0x7f) << shift;
        i += 1;
        if b & 0x80 == 0 {
            return (n, i - at);
        }
        shift += 7;
    }
}

impl Listpack {
    pub fn new() -> Listpack {
        Listpack::default()
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Bytes used by the packed entries.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// The entry starting at `offset` and the offset of the next one.
    pub fn entry_at(&self, offset: usize) -> (&[u8], usize) {
        let (len, used) = get_varint(&self.buf, offset);
        let start = offset + used;
        (&self.buf[start..start + len], start + len)
    }

    /// Offset one past the last entry (where `push` writes).
    pub fn end(&self) -> usize {
        self.buf.len()
    }

    /// Appends an entry.
    pub fn push(&mut self, item: &[u8]) {
        self.buf.reserve(item.len() + varint_len(item.len()));
        put_varint(&mut self.buf, item.len());
        self.buf.extend_from_slice(item);
        self.len += 1;
    }

    /// Inserts `items` before the entry at `offset` (or at `end()`).
    pub fn insert_at(&mut self, offset: usize, items: &[&[u8]]) {
        let mut packed = Vec::with_capacity(items.iter().map(|i| i.len() + varint_len(i.len())).sum());
        for item in items {
            put_varint(&mut packed, item.len());
            packed.extend_from_slice(item);
        }
        self.buf.splice(offset..offset, packed);
        self.len += items.len();
    }

    /// Removes `n` entries starting at `offset`.
    pub fn remove_at(&mut self, offset: usize, n: usize) {
        let mut end = offset;
        for _ in 0..n {
            end = self.entry_at(end).1;
        }
        self.buf.drain(offset..end);
        self.len -= n;
    }

    /// Replaces the entry at `offset` with `item`.
    pub fn replace_at(&mut self, offset: usize, item: &[u8]) {
        let (_, next) = self.entry_at(offset);
        let mut packed = Vec::with_capacity(item.len() + varint_len(item.len()));
        put_varint(&mut packed, item.len());
        packed.extend_from_slice(item);
        self.buf.splice(offset..next, packed);
    }

    /// Every entry, in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter { lp: self, at: 0 }
    }

    /// Every entry with its offset.
    pub fn iter_offsets(&self) -> impl Iterator<Item = (usize, &[u8])> {
        let mut at = 0;
        std::iter::from_fn(move || {
            if at >= self.buf.len() {
                return None;
            }
            let (item, next) = self.entry_at(at);
            let here = at;
            at = next;
            Some((here, item))
        })
    }

    /// Offset of the `i`-th entry (`i <= len`; `len` gives `end()`). Linear.
    pub fn offset_of(&self, i: usize) -> usize {
        let mut at = 0;
        for _ in 0..i {
            at = self.entry_at(at).1;
        }
        at
    }
}

/// Iterator over a listpack's entries.
pub struct Iter<'a> {
    lp: &'a Listpack,
    at: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.at >= self.lp.buf.len() {
            return None;
        }
        let (item, next) = self.lp.entry_at(self.at);
        self.at = next;
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_insert_remove_replace() {
        let mut lp = Listpack::new();
        let long = vec![7u8; 300];
        lp.push(b"a");
        lp.push(&long);
        lp.push(b"");
        assert_eq!(lp.len(), 3);
        assert_eq!(lp.iter().collect::<Vec<_>>(), vec![&b"a"[..], &long[..], b""]);
        let second = lp.offset_of(1);
        lp.insert_at(second, &[b"x", b"y"]);
        assert_eq!(lp.iter().collect::<Vec<_>>(), vec![&b"a"[..], b"x", b"y", &long[..], b""]);
        lp.replace_at(lp.offset_of(3), b"short");
        lp.remove_at(0, 2);
        assert_eq!(lp.iter().collect::<Vec<_>>(), vec![&b"y"[..], b"short", b""]);
        assert_eq!(lp.len(), 3);
        assert_eq!(lp.offset_of(3), lp.end());
        let offsets: Vec<usize> = lp.iter_offsets().map(|(o, _)| o).collect();
        assert_eq!(offsets, vec![0, 2, 8]);
    }
}
