//! The store's side of maxmemory eviction (Redis's `evict.c`): sample a few keys of one random
//! non-empty shard and offer the best candidates to the caller's eviction pool, remove a
//! chosen key, or remove a random key. Each call locks one shard at a time, so evicting
//! workers never stop the others (no global lock); the policy logic lives in
//! [`crate::evict`].

use std::cell::Cell;

use super::{lock, random_below, Shard, Store};

/// Random shards tried per database when looking for one with candidates, before moving on
/// to the next database (most shards of an unused database are empty).
const SHARD_TRIES_PER_DB: usize = 4;

/// How a candidate is scored (higher = evicted first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Score {
    /// Idle time from the LRU clock, or 255 - LFU counter (see [`super::AccessPolicy`]).
    Idle,
    /// Sooner deadline first (volatile-ttl).
    Ttl,
}

/// A key offered for eviction.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub score: u64,
    pub db: usize,
    pub key: Box<[u8]>,
}

thread_local! {
    /// The database where this thread last found candidates: tried first next time.
    static DB_HINT: Cell<usize> = const { Cell::new(0) };
}

impl Shard {
    /// Positions eligible for eviction: every entry, or those with a deadline (in front).
    fn eligible(&self, volatile_only: bool) -> usize {
        if volatile_only {
            self.volatile
        } else {
            self.slab.len()
        }
    }
}

impl Store {
    /// Lock a random shard holding eligible keys and run `f` on it with its db; `None` if no
    /// shard of any db has one. Tries [`SHARD_TRIES_PER_DB`] random shards per db (starting
    /// at this thread's hint), then walks every shard.
    fn with_random_shard<R>(&self, volatile_only: bool, mut f: impl FnMut(usize, &mut Shard) -> R) -> Option<R> {
        let dbs = self.dbs.len();
        let shards = self.shards_per_db();
        let hint = DB_HINT.with(Cell::get) % dbs;
        for d in 0..dbs {
            let db = (hint + d) % dbs;
            for _ in 0..SHARD_TRIES_PER_DB.min(shards) {
                let mut shard = lock(&self.dbs[db][random_below(shards)]);
                if shard.eligible(volatile_only) > 0 {
                    DB_HINT.with(|h| h.set(db));
                    return Some(f(db, &mut shard));
                }
            }
        }
        let start = random_below(dbs * shards);
        for k in 0..dbs * shards {
            let global = (start + k) % (dbs * shards);
            let db = global / shards;
            let mut shard = lock(&self.dbs[db][global % shards]);
            if shard.eligible(volatile_only) > 0 {
                DB_HINT.with(|h| h.set(db));
                return Some(f(db, &mut shard));
            }
        }
        None
    }

    /// Sample up to `samples` eligible keys of one random shard and offer each to `offer`
    /// (Redis's `evictionPoolPopulate`). Expired keys met are removed instead. Returns false
    /// when no shard has an eligible key.
    pub fn evict_sample(
        &self,
        volatile_only: bool,
        score: Score,
        samples: usize,
        now_ms: u64,
        mut offer: impl FnMut(u64, usize, &[u8]),
    ) -> bool {
        let access = &self.access;
        self.with_random_shard(volatile_only, |db, shard| {
            for _ in 0..samples {
                let n = shard.eligible(volatile_only);
                if n == 0 {
                    break;
                }
                let i = random_below(n);
                let entry = shard.slab.entry(i);
                if entry.is_expired(now_ms) {
                    shard.remove_expired(i);
                    continue;
                }
                let value = match score {
                    Score::Idle => access.idle_score(entry.access(), now_ms),
                    Score::Ttl => u64::MAX - entry.deadline(),
                };
                offer(value, db, entry.key());
            }
        })
        .is_some()
    }

    /// Remove `key` of `db` for eviction if it is still there (and, for `volatile_only`,
    /// still has a deadline). Returns true if it was removed.
    pub fn evict_key(&self, db: usize, key: &[u8], volatile_only: bool, now_ms: u64) -> bool {
        let (hash, shard) = self.locate(key);
        let Some(db_shards) = self.dbs.get(db) else {
            return false;
        };
        let mut shard = lock(&db_shards[shard]);
        let Some(i) = shard.find_live(hash as u32, key, now_ms) else {
            return false;
        };
        if volatile_only && shard.slab.entry(i).deadline() == 0 {
            return false;
        }
        shard.remove_expired(i).is_some()
    }

    /// Remove one random eligible key (allkeys-random / volatile-random). Returns false when
    /// there is none.
    pub fn evict_random(&self, volatile_only: bool) -> bool {
        self.with_random_shard(volatile_only, |_, shard| {
            let i = random_below(shard.eligible(volatile_only));
            shard.remove_expired(i).is_some()
        })
        .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    #[test]
    fn volatile_sampling_sees_only_keys_with_a_deadline() {
        // 100 keys without TTL, 3 with: volatile sampling offers only the 3, in any db.
        let store = Store::new(4, 8);
        for i in 0..100 {
            store.with_key(2, format!("p{i}").as_bytes(), NOW, |k| k.set(b"v".to_vec(), None));
        }
        for i in 0..3 {
            store.with_key(3, format!("t{i}").as_bytes(), NOW, |k| k.set(b"v".to_vec(), Some(NOW + 1000 + i)));
        }
        for _ in 0..20 {
            let mut seen = Vec::new();
            assert!(store.evict_sample(true, Score::Ttl, 5, NOW, |score, db, key| seen.push((
                score,
                db,
                key.to_vec()
            ))));
            assert!(seen.iter().all(|(_, db, key)| *db == 3 && key.starts_with(b"t")), "{seen:?}");
        }
        assert!(!store.evict_key(2, b"p1", true, NOW), "no deadline: not evictable as volatile");
        assert!(store.evict_key(2, b"p1", false, NOW));
        for _ in 0..3 {
            assert!(store.evict_random(true));
        }
        assert!(!store.evict_random(true), "no volatile key left");
        assert!(!store.evict_sample(true, Score::Idle, 5, NOW, |_, _, _| {}));
        assert_eq!(store.db_len(2), 99);
    }
}
