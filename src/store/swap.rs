//! SWAPDB: two databases exchange their contents, as Redis 7.0's `dbSwapDatabases`.
//!
//! Each database is split into the same number of shards and a key's shard comes from its
//! hash alone, so shard `s` of one database holds exactly the keys that would live in shard
//! `s` of the other: swapping the two databases is swapping, shard by shard, the tables and
//! slabs (keys, values, deadlines and access clocks travel inside the entries) and the
//! `volatile` counts. No key is copied or rehashed; the cost is two lock acquisitions and a
//! few pointer swaps per shard pair.
//!
//! What stays with the database *number* (as in Redis, where `blocking_keys` and
//! `watched_keys` are not swapped, "since we want clients to remain in the same DB they
//! were"): each shard's WATCH registry, its database index (expired keys are journaled as
//! `DEL` in the db they are in now), its journal, its db's deadline flag, and a rewrite's mark
//! and snapshot (see below).
//!
//! # Atomicity
//!
//! The command runs under the exclusive side of the isolation lock, so no command, active
//! expiry slice or eviction runs meanwhile, and [`Store::swap_dbs`] holds every shard of both
//! databases at once (locked in ascending (db, shard) order, as `with_keys` and
//! `begin_snapshot_with` do, so nothing deadlocks). The shard locks order it against what
//! locks shards without the isolation lock (a snapshot being written, a disconnecting
//! client's UNWATCH), and make the swap one lock section, hence one journal number: whatever
//! else the AOF holds is wholly before or wholly after `SWAPDB`, never in the middle, where a
//! command would replay in the wrong database.
//!
//! # Snapshots (BGSAVE, BGREWRITEAOF)
//!
//! A fork-free snapshot marks every shard at its cut; each shard is serialized, as it was at
//! the cut, by its next locker. The swap locks through `lock`, which serializes a marked
//! shard first, so both databases' shards are written out as they were before the swap and
//! the snapshot stays with the database number it describes; the swap's journal number is
//! past the cut, so the AOF's incremental file replays it after that base.

use std::sync::atomic::Ordering;
use std::sync::MutexGuard;

use super::{key_hash32, lock, Shard, Store};

impl Store {
    /// Exchange the contents of databases `a` and `b` (SWAPDB). Returns false (and changes
    /// nothing) if either is out of range; swapping a database with itself changes nothing.
    /// Watchers of a key of either database are marked dirty when the key exists in that
    /// database before or after the swap (Redis's `touchAllWatchedKeysInDb`). The caller
    /// holds the isolation lock's exclusive side and serves blocked clients afterwards.
    pub fn swap_dbs(&self, a: usize, b: usize) -> bool {
        let databases = self.dbs.len();
        if a >= databases || b >= databases {
            return false;
        }
        if a == b {
            // Still a change, as Redis counts it (`server.dirty++`) and propagates it.
            self.journal.note_change();
            return true;
        }
        let (low, high) = (a.min(b), a.max(b));
        let mut lows: Vec<MutexGuard<'_, Shard>> = self.dbs[low].iter().map(|s| lock(s)).collect();
        let mut highs: Vec<MutexGuard<'_, Shard>> = self.dbs[high].iter().map(|s| lock(s)).collect();
        let mut deadlines = [false, false];
        for (x, y) in lows.iter_mut().zip(highs.iter_mut()) {
            touch_watched(x, y);
            touch_watched(y, x);
            std::mem::swap(&mut x.table, &mut y.table);
            std::mem::swap(&mut x.slab, &mut y.slab);
            std::mem::swap(&mut x.volatile, &mut y.volatile);
            deadlines[0] |= x.volatile > 0;
            deadlines[1] |= y.volatile > 0;
        }
        // One change, in the one lock section every shard of both databases is held in.
        self.journal.note_change();
        // A db that now holds deadlines must be walked by active expiry (a flag left set on
        // a db without any is cleared by the next cycle that walks it).
        for (db, has) in [(low, deadlines[0]), (high, deadlines[1])] {
            if has {
                self.expiring[db].store(true, Ordering::Relaxed);
            }
        }
        true
    }
}

/// Mark dirty the watchers (registered in `shard`) of every watched key that exists in
/// `shard` now or in `other`, the shard whose contents replace it. Expired entries not yet
/// reaped count as existing, as Redis's `dictFind` does.
fn touch_watched(shard: &Shard, other: &Shard) {
    let Some(registry) = &shard.watched else { return };
    registry.touch_where(|key| {
        let hash32 = key_hash32(&shard.hasher, key);
        shard.find(hash32, key).is_some() || other.find(hash32, key).is_some()
    });
}

#[cfg(test)]
mod tests {
    //! The swap on the store alone: contents, counts, deadlines, WATCH, a snapshot in flight.

    use super::*;
    use crate::store::Watches;

    const NOW: u64 = 1_000_000;

    fn set(store: &Store, db: usize, key: &[u8], value: &[u8], expire: Option<u64>) {
        store.with_key(db, key, NOW, |kv| kv.set(value.to_vec(), expire));
    }

    fn get(store: &Store, db: usize, key: &[u8]) -> Option<(Vec<u8>, Option<u64>)> {
        store.with_key(db, key, NOW, |kv| kv.get().map(|e| (e.str().expect("a string").to_vec(), e.expire_at_ms())))
    }

    /// Every shard's table finds every slab entry, and deadlines are in front.
    fn check_shards(store: &Store) {
        for shard in store.dbs.iter().flat_map(|db| db.iter()) {
            let shard = lock(shard);
            assert_eq!(shard.table.len(), shard.slab.len());
            for i in 0..shard.slab.len() {
                assert_eq!(shard.find(shard.hash_of(i), shard.slab.entry(i).key()), Some(i));
                assert_eq!(i < shard.volatile, shard.slab.entry(i).deadline() != 0);
            }
        }
    }

    #[test]
    fn contents_counts_and_deadlines_change_places() {
        let store = Store::new(4, 8);
        for i in 0..300 {
            let expire = (i % 3 == 0).then_some(NOW + 5000 + i);
            set(&store, 1, format!("a{i}").as_bytes(), b"one", expire);
        }
        for i in 0..40 {
            set(&store, 3, format!("b{i}").as_bytes(), b"three", None);
        }
        set(&store, 1, b"both", b"in1", None);
        set(&store, 3, b"both", b"in3", Some(NOW + 7));
        let changes = store.journal().changes();
        assert!(store.swap_dbs(3, 1));
        assert_eq!(store.journal().changes(), changes + 1, "one change (Redis: dirty++)");
        assert_eq!((store.db_len(1), store.db_len(3)), (41, 301));
        assert_eq!((store.db_expires(1), store.db_expires(3)), (1, 100));
        assert_eq!(get(&store, 3, b"a3"), Some((b"one".to_vec(), Some(NOW + 5003))));
        assert_eq!(get(&store, 3, b"a4"), Some((b"one".to_vec(), None)));
        assert_eq!(get(&store, 1, b"a3"), None);
        assert_eq!(get(&store, 1, b"b5"), Some((b"three".to_vec(), None)));
        assert_eq!(get(&store, 1, b"both"), Some((b"in3".to_vec(), Some(NOW + 7))));
        assert_eq!(get(&store, 3, b"both"), Some((b"in1".to_vec(), None)));
        check_shards(&store);
        // Writes after the swap land in the right shards; swapping back restores everything.
        set(&store, 1, b"new", b"x", None);
        assert!(store.swap_dbs(1, 3));
        assert_eq!(get(&store, 3, b"new"), Some((b"x".to_vec(), None)));
        assert_eq!(get(&store, 1, b"a3"), Some((b"one".to_vec(), Some(NOW + 5003))));
        assert_eq!((store.db_len(1), store.db_len(3)), (301, 42));
        check_shards(&store);
    }

    #[test]
    fn same_or_bad_index() {
        let store = Store::new(2, 2);
        set(&store, 0, b"k", b"v", None);
        let changes = store.journal().changes();
        assert!(store.swap_dbs(0, 0));
        assert_eq!(store.journal().changes(), changes + 1, "counted, as Redis does");
        assert!(!store.swap_dbs(0, 2));
        assert!(!store.swap_dbs(5, 1));
        assert_eq!((store.db_len(0), store.db_len(1)), (1, 0));
    }

    #[test]
    fn deadlines_moved_into_a_db_are_actively_expired() {
        let store = Store::new(2, 4);
        set(&store, 0, b"t", b"v", Some(NOW + 10));
        // The cycle clears db 1's flag (no deadline there), then the swap brings one in.
        assert_eq!(store.active_expire_cycle(NOW, std::time::Duration::from_secs(1)), 0);
        assert!(store.swap_dbs(0, 1));
        assert_eq!(store.active_expire_cycle(NOW + 10, std::time::Duration::from_secs(1)), 1);
        assert_eq!(store.db_len(1), 0);
    }

    #[test]
    fn watchers_are_touched_if_the_key_exists_before_or_after() {
        let store = Store::new(3, 4);
        set(&store, 0, b"in0", b"v", None);
        set(&store, 1, b"in1", b"v", None);
        let watch = |db: usize, key: &[u8]| {
            let mut w = Watches::default();
            store.watch(&mut w, db, key, NOW);
            w
        };
        let (w_before, w_after) = (watch(0, b"in0"), watch(0, b"in1"));
        let (w_absent, w_other_db) = (watch(1, b"nowhere"), watch(2, b"in0"));
        let w_in1 = watch(1, b"in1");
        assert!(store.swap_dbs(0, 1));
        assert!(w_before.is_dirty(), "existed in db 0 before");
        assert!(w_after.is_dirty(), "exists in db 0 after");
        assert!(w_in1.is_dirty(), "existed in db 1 before");
        assert!(!w_absent.is_dirty(), "in neither db");
        assert!(!w_other_db.is_dirty(), "another db");
        // The registries stay with their db numbers: a write to db 0 still reaches them.
        let w = watch(0, b"later");
        set(&store, 0, b"later", b"v", None);
        assert!(w.is_dirty());
    }

    #[test]
    fn a_snapshot_in_flight_keeps_the_contents_of_its_cut() {
        let store = Store::new(2, 1);
        set(&store, 0, b"zero", b"0", None);
        set(&store, 1, b"one", b"1", None);
        store.begin_snapshot(NOW);
        assert!(store.swap_dbs(0, 1));
        let (s0, s1) = (store.take_snapshot(0, 0), store.take_snapshot(1, 0));
        store.end_snapshot();
        let has = |s: &[u8], k: &[u8]| s.windows(k.len()).any(|w| w == k);
        assert!(has(&s0, b"zero") && !has(&s0, b"one"), "db 0 as it was at the cut");
        assert!(has(&s1, b"one") && !has(&s1, b"zero"), "db 1 as it was at the cut");
        assert_eq!(get(&store, 0, b"one"), Some((b"1".to_vec(), None)));
    }
}
