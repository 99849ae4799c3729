//! A hash table whose entries live in one dense `Vec`, for the general encodings of big
//! hashes (field → value), sets (member → ()) and sorted sets' member → score dictionary.
//!
//! The `hashbrown::HashTable` holds only indices into the entry vector (the store's own
//! layout, see `store.rs`), which buys what Redis's dict gives those commands:
//! - O(1) uniform random picks (HRANDFIELD, SRANDMEMBER, SPOP, ZRANDMEMBER): a random index;
//! - a SCAN cursor that survives deletion: positions are visited from the top down, and
//!   deletion moves the last entry (already visited) into the hole, so an entry present for a
//!   whole scan is reported at least once; entries added during a scan land at the top.
//!
//! Keys are hashed with a per-instance ahash `RandomState` (no flooding by chosen keys).

use hashbrown::HashTable;

/// A map from byte strings to `V` with dense, index-addressable entries.
#[derive(Clone, Default)]
pub struct DenseMap<V> {
    table: HashTable<usize>,
    entries: Vec<(Box<[u8]>, V)>,
    hasher: ahash::RandomState,
}

impl<V> DenseMap<V> {
    pub fn new() -> Self {
        DenseMap { table: HashTable::new(), entries: Vec::new(), hasher: ahash::RandomState::new() }
    }
    pub fn with_capacity(n: usize) -> Self {
        DenseMap {
            table: HashTable::with_capacity(n),
            entries: Vec::with_capacity(n),
            hasher: ahash::RandomState::new(),
        }
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn find(&self, key: &[u8]) -> Option<usize> {
        let entries = &self.entries;
        self.table.find(self.hash(key), |&i| *entries[i].0 == *key).copied()
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.find(key).map(|i| &self.entries[i].1)
    }
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        self.find(key).map(|i| &mut self.entries[i].1)
    }
    pub fn contains(&self, key: &[u8]) -> bool {
        self.find(key).is_some()
    }

    /// Insert or replace; returns the old value.
    pub fn insert(&mut self, key: &[u8], value: V) -> Option<V> {
        if let Some(i) = self.find(key) {
            return Some(std::mem::replace(&mut self.entries[i].1, value));
        }
        let i = self.entries.len();
        self.entries.push((key.into(), value));
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.table.insert_unique(hasher.hash_one(key), i, |&j| hasher.hash_one(&entries[j].0));
        None
    }

    /// Remove `key`; returns its value.
    pub fn remove(&mut self, key: &[u8]) -> Option<V> {
        let i = self.find(key)?;
        Some(self.remove_index(i).1)
    }

    /// Remove the entry at position `i` (< len), moving the last entry into its place.
    pub fn remove_index(&mut self, i: usize) -> (Box<[u8]>, V) {
        let hash = self.hash(&self.entries[i].0);
        if let Ok(slot) = self.table.find_entry(hash, |&x| x == i) {
            slot.remove();
        }
        let last = self.entries.len() - 1;
        if i != last {
            let last_hash = self.hash(&self.entries[last].0);
            if let Some(slot) = self.table.find_mut(last_hash, |&x| x == last) {
                *slot = i;
            }
        }
        let removed = self.entries.swap_remove(i);
        if self.table.capacity() > 64 && self.table.len() * 4 < self.table.capacity() {
            let (entries, hasher) = (&self.entries, &self.hasher);
            self.table.shrink_to(entries.len(), |&j| hasher.hash_one(&entries[j].0));
            self.entries.shrink_to(entries_target(self.entries.len()));
        }
        removed
    }

    /// The entry at position `i` (< len).
    pub fn at(&self, i: usize) -> (&[u8], &V) {
        let (k, v) = &self.entries[i];
        (k, v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> {
        self.entries.iter().map(|(k, v)| (&**k, v))
    }

    /// One SCAN step: visits positions below `cursor` (0 = start: the top) downwards until
    /// `count` were visited; returns the next cursor (0 = done).
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], &V)) -> u64 {
        let top = if cursor == 0 { self.len() } else { (cursor as usize).min(self.len()) };
        let bottom = top.saturating_sub(count.max(1));
        for i in (bottom..top).rev() {
            let (k, v) = self.at(i);
            f(k, v);
        }
        bottom as u64
    }
}

/// Capacity kept for the entry vector after a shrink.
fn entries_target(len: usize) -> usize {
    len * 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_and_scan_cover_everything() {
        let mut m: DenseMap<u32> = DenseMap::new();
        for i in 0..1000u32 {
            assert_eq!(m.insert(format!("k{i}").as_bytes(), i), None);
        }
        assert_eq!(m.insert(b"k5", 55), Some(5));
        for i in (0..1000u32).step_by(3) {
            assert!(m.remove(format!("k{i}").as_bytes()).is_some());
        }
        assert_eq!(m.len(), 666);
        assert_eq!(m.get(b"k5"), Some(&55));
        assert!(m.get(b"k3").is_none());
        // A scan with deletions in between still reports every surviving key.
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut step = 0;
        loop {
            cursor = m.scan(cursor, 10, |k, _| {
                seen.insert(k.to_vec());
            });
            if step == 5 {
                m.remove(b"k1");
                m.remove(b"k2");
            }
            step += 1;
            if cursor == 0 {
                break;
            }
        }
        for (k, _) in m.iter() {
            assert!(seen.contains(k));
        }
        for i in 0..1000u32 {
            m.remove(format!("k{i}").as_bytes());
        }
        assert!(m.is_empty());
    }
}
