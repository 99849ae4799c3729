//! maxmemory: before a command flagged `denyoom` runs, the writing worker makes room (Redis's
//! `performEvictions`, called from `processCommand`). While `used_memory` (see
//! [`crate::alloc`]) is over `maxmemory` it evicts keys by `maxmemory-policy`; with
//! `noeviction`, or when no key is eligible (`volatile-*` with no key that has a TTL), the
//! command is refused with Redis's OOM error. Reads and deletes are never refused.
//!
//! Approximated LRU / LFU / TTL as Redis: each round samples `maxmemory-samples` keys of one
//! random shard into this thread's eviction pool ([`POOL_SIZE`] best candidates, kept across
//! calls), then evicts the pool's best candidate that still exists. `*-random` removes a random
//! key directly. Only one shard is locked at a time, so every worker can evict concurrently
//! with no global stop.

use std::cell::RefCell;
use std::sync::atomic::Ordering::Relaxed;

use crate::config::MaxmemoryPolicy;
use crate::shared::Shared;
use crate::store::{Candidate, Score};

/// Redis's reply to a `denyoom` command it cannot make room for.
pub const OOM_ERROR: &str = "OOM command not allowed when used memory > 'maxmemory'.";
/// Candidates kept in a thread's eviction pool (Redis's `EVPOOL_SIZE`).
const POOL_SIZE: usize = 16;
/// Keys sampled per round at most, whatever `maxmemory-samples` says (it may be set up to
/// 2^31; a round holds one shard's lock).
const SAMPLES_MAX: usize = 64;
/// Keys one command may evict before it runs anyway (Redis stops at a time budget and lets
/// the command run; the next write continues). Bounds the loop when little memory comes back
/// per key.
const EVICTIONS_PER_COMMAND_MAX: usize = 100_000;
/// Sampling rounds per evicted key before giving up on this command (stale pool entries,
/// shards emptied concurrently by other workers).
const ROUNDS_PER_EVICTION_MAX: usize = 64;

thread_local! {
    /// This thread's eviction pool, sorted by score (best last), and the policy that filled it.
    static POOL: RefCell<(Option<MaxmemoryPolicy>, Vec<Candidate>)> = const { RefCell::new((None, Vec::new())) };
}

/// Push the policy's LRU/LFU choice and LFU parameters into the store (startup, CONFIG SET).
pub fn sync_access_policy(shared: &Shared) {
    let t = &shared.tunables;
    shared.store.access_policy().set(t.maxmemory_policy().is_lfu(), t.lfu_log_factor(), t.lfu_decay_time());
}

/// No room could be made under maxmemory: the command gets [`OOM_ERROR`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfMemory;

/// Make room for a `denyoom` command, or say it must be refused.
pub fn make_room(shared: &Shared, now_ms: u64) -> Result<(), OutOfMemory> {
    let max = shared.tunables.maxmemory();
    if max == 0 || (crate::alloc::used_memory() as u64) <= max {
        exceeded(shared, false);
        return Ok(());
    }
    let policy = shared.tunables.maxmemory_policy();
    if policy == MaxmemoryPolicy::Noeviction {
        exceeded(shared, true);
        return Err(OutOfMemory);
    }
    let samples = (shared.tunables.maxmemory_samples() as usize).clamp(1, SAMPLES_MAX);
    for _ in 0..EVICTIONS_PER_COMMAND_MAX {
        if !evict_one(shared, policy, samples, now_ms) {
            exceeded(shared, true);
            return Err(OutOfMemory);
        }
        shared.stats.evicted_keys.fetch_add(1, Relaxed);
        if crate::alloc::used_memory() as u64 <= max {
            exceeded(shared, false);
            return Ok(());
        }
    }
    // Still over after this command's share of evictions: the next write goes on.
    exceeded(shared, true);
    Ok(())
}

/// Track how long used memory stays over the limit, as Redis's `performEvictions` does: the
/// clock starts when eviction leaves it over (or cannot evict) and stops when a check finds
/// it under (INFO `current_eviction_exceeded_time`, `total_eviction_exceeded_time`).
fn exceeded(shared: &Shared, over: bool) {
    let st = &shared.stats;
    let since = &st.eviction_exceeded_since_us;
    if over {
        if since.load(Relaxed) == 0 {
            let _ = since.compare_exchange(0, uptime_us(shared), Relaxed, Relaxed);
        }
    } else if since.load(Relaxed) != 0 {
        let start = since.swap(0, Relaxed);
        if start != 0 {
            st.eviction_exceeded_total_us.fetch_add(uptime_us(shared).saturating_sub(start), Relaxed);
        }
    }
}

/// µs since the server started, plus one (0 stays free to mean "not over the limit").
fn uptime_us(shared: &Shared) -> u64 {
    shared.started.elapsed().as_micros() as u64 + 1
}

/// (current, total) time used memory has been over `maxmemory` in ms (INFO stats).
pub fn exceeded_ms(shared: &Shared) -> (u64, u64) {
    let st = &shared.stats;
    let since = st.eviction_exceeded_since_us.load(Relaxed);
    let current = if since == 0 { 0 } else { uptime_us(shared).saturating_sub(since) };
    (current / 1000, (st.eviction_exceeded_total_us.load(Relaxed) + current) / 1000)
}

/// Evict one key by `policy`; false if no key is eligible.
fn evict_one(shared: &Shared, policy: MaxmemoryPolicy, samples: usize, now_ms: u64) -> bool {
    let store = &shared.store;
    let volatile = policy.volatile_only();
    let score = match policy {
        MaxmemoryPolicy::AllkeysRandom | MaxmemoryPolicy::VolatileRandom => return store.evict_random(volatile),
        MaxmemoryPolicy::VolatileTtl => Score::Ttl,
        _ => Score::Idle,
    };
    POOL.with(|pool| {
        let (filled_by, pool) = &mut *pool.borrow_mut();
        if *filled_by != Some(policy) {
            pool.clear();
            *filled_by = Some(policy);
        }
        for _ in 0..ROUNDS_PER_EVICTION_MAX {
            let found = store.evict_sample(volatile, score, samples, now_ms, |s, db, key| offer(pool, s, db, key));
            if !found && pool.is_empty() {
                return false;
            }
            while let Some(best) = pool.pop() {
                if store.evict_key(best.db, &best.key, volatile, now_ms) {
                    return true;
                }
            }
        }
        false
    })
}

/// Insert a sampled key into the pool (sorted by score, best last) if it beats the worst one
/// or there is room; a key already in the pool is not added twice.
fn offer(pool: &mut Vec<Candidate>, score: u64, db: usize, key: &[u8]) {
    if pool.iter().any(|c| c.db == db && *c.key == *key) {
        return;
    }
    if pool.len() >= POOL_SIZE {
        if pool.first().is_some_and(|worst| worst.score >= score) {
            return;
        }
        pool.remove(0);
    }
    let at = pool.partition_point(|c| c.score <= score);
    pool.insert(at, Candidate { score, db, key: key.into() });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_keeps_the_best_candidates_sorted() {
        let mut pool = Vec::new();
        for (i, score) in [5u64, 1, 9, 3, 7].iter().enumerate() {
            offer(&mut pool, *score, 0, format!("k{i}").as_bytes());
        }
        offer(&mut pool, 9, 0, b"k2"); // already there
        let scores: Vec<u64> = pool.iter().map(|c| c.score).collect();
        assert_eq!(scores, [1, 3, 5, 7, 9]);
        for i in 0..40u64 {
            offer(&mut pool, 100 + i, 1, format!("x{i}").as_bytes());
        }
        assert_eq!(pool.len(), POOL_SIZE);
        assert_eq!(pool.first().map(|c| c.score), Some(124));
        assert_eq!(pool.last().map(|c| c.score), Some(139));
    }
}
