//! WATCH bookkeeping: which clients watch which keys, and the "touch" that marks them dirty
//! when a key is modified.
//!
//! Each shard owns the registry of the keys that live in it ([`Registry`]: key → dirty flags
//! of the clients watching it), so it is read and changed under the shard mutex a write
//! already holds. A shard nobody watches has no registry at all (`None`), and the check a
//! write pays is one pointer test on the shard's own cache line. Touching is done by the
//! shard's lowest-level mutation functions (see the contract in [`super`]), so every command
//! and every data type that uses the store's API invalidates WATCH without code of its own.
//!
//! A client's side is [`Watches`]: its dirty flag (an `Arc<AtomicBool>` the registries point
//! at) and the list of keys it watches, so UNWATCH, EXEC, DISCARD and dropping the client
//! (disconnect) remove exactly its registry entries. It keeps the keyspace's shard array
//! alive (an `Arc`), so dropping it needs no reference to the server.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::{lock, Db};

/// A client's dirty flag, shared with the registries of the keys it watches.
type Flag = Arc<AtomicBool>;

/// Watchers of the keys of one shard.
#[derive(Default)]
pub(super) struct Registry {
    keys: ahash::HashMap<Box<[u8]>, Vec<Flag>>,
}

impl Registry {
    /// Mark every client watching `key` dirty.
    pub(super) fn touch(&self, key: &[u8]) {
        if let Some(flags) = self.keys.get(key) {
            for flag in flags {
                flag.store(true, Ordering::Release);
            }
        }
    }

    /// Mark dirty the watchers of every watched key for which `present` is true (FLUSHDB
    /// touches only the watched keys that existed, as Redis does).
    pub(super) fn touch_where(&self, mut present: impl FnMut(&[u8]) -> bool) {
        for (key, flags) in &self.keys {
            if present(key) {
                flags.iter().for_each(|f| f.store(true, Ordering::Release));
            }
        }
    }

    /// Add `flag` as a watcher of `key`; false if it already was one.
    fn add(&mut self, key: &[u8], flag: &Flag) -> bool {
        let flags = self.keys.entry(key.into()).or_default();
        if flags.iter().any(|f| Arc::ptr_eq(f, flag)) {
            return false;
        }
        flags.push(Arc::clone(flag));
        true
    }

    /// Remove `flag` from the watchers of `key` (and the key once nobody watches it).
    fn remove(&mut self, key: &[u8], flag: &Flag) {
        let Some(flags) = self.keys.get_mut(key) else {
            debug_assert!(false, "watched key missing from its registry");
            return;
        };
        flags.retain(|f| !Arc::ptr_eq(f, flag));
        if flags.is_empty() {
            self.keys.remove(key);
        }
    }

    fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Number of distinct watched keys (tests, INFO).
    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }
}

/// One watched key: where its registry lives and its bytes.
struct WatchedKey {
    db: usize,
    shard: usize,
    key: Box<[u8]>,
}

/// The keys one client watches, and its dirty flag. Empty (and allocation-free) until the
/// first WATCH. Dropping it unwatches everything.
#[derive(Default)]
pub struct Watches {
    keys: Vec<WatchedKey>,
    /// Created at the first WATCH and reused after.
    flag: Option<Flag>,
    /// The keyspace's shards, set at the first WATCH.
    dbs: Option<Arc<[Db]>>,
}

impl std::fmt::Debug for Watches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watches").field("keys", &self.keys.len()).field("dirty", &self.is_dirty()).finish()
    }
}

impl Watches {
    /// Number of keys watched.
    pub fn len(&self) -> usize {
        self.keys.len()
    }
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// True once a watched key was modified (or UNWATCH/EXEC/DISCARD have not yet cleared a
    /// flag set before).
    pub fn is_dirty(&self) -> bool {
        self.flag.as_ref().is_some_and(|f| f.load(Ordering::Acquire))
    }

    /// Forget every watched key and clear the dirty flag (UNWATCH, EXEC, DISCARD, RESET).
    pub fn clear(&mut self) {
        if let (Some(dbs), Some(flag)) = (&self.dbs, &self.flag) {
            for w in self.keys.drain(..) {
                let mut shard = lock(&dbs[w.db][w.shard]);
                if let Some(registry) = shard.watched.as_mut() {
                    registry.remove(&w.key, flag);
                    if registry.is_empty() {
                        shard.watched = None;
                    }
                }
            }
            flag.store(false, Ordering::Release);
        }
        self.keys.clear();
    }

    /// Record `key` (db, shard) as watched, with `registry` the shard's (locked) registry slot.
    pub(super) fn add(
        &mut self,
        dbs: &Arc<[Db]>,
        registry: &mut Option<Box<Registry>>,
        db: usize,
        shard: usize,
        key: &[u8],
    ) {
        let flag = self.flag.get_or_insert_with(Flag::default);
        if self.dbs.is_none() {
            self.dbs = Some(Arc::clone(dbs));
        }
        if registry.get_or_insert_with(Box::default).add(key, flag) {
            self.keys.push(WatchedKey { db, shard, key: key.into() });
        }
    }

    /// Each watched key as (db, key bytes).
    pub(super) fn keys(&self) -> impl Iterator<Item = (usize, &[u8])> {
        self.keys.iter().map(|w| (w.db, &w.key[..]))
    }
}

impl Drop for Watches {
    fn drop(&mut self) {
        self.clear();
    }
}
