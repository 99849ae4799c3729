//! Each key's access clock for maxmemory's approximated LRU and LFU (Redis's 24-bit
//! `robj.lru`), kept in the top [`ACCESS_BITS`] bits of the entry's deadline word so an
//! entry's metadata stays one 64-bit word in its block (see [`super::entry`]): deadlines
//! keep [`DEADLINE_BITS`] bits of Unix ms (up to year 2527; a later deadline is stored as
//! [`DEADLINE_MAX_MS`]).
//!
//! Under an LRU (or non-LFU) policy the bits are the last access time in seconds modulo
//! 2^20 (wraps after ~12 days; Redis's 24 bits wrap after ~194 days): OBJECT IDLETIME and LRU
//! eviction read the idle time from it. Under an LFU policy they are 12 bits of minutes
//! (the last decrement time, wrapping after ~68 hours; Redis keeps 16) and Redis's 8-bit
//! logarithmic counter: a hit raises it with probability 1 / ((counter - 5) * lfu-log-factor
//! + 1), and it drops by one per `lfu-decay-time` minutes without access.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU32};

/// Bits of an entry's deadline word that hold the access clock.
pub const ACCESS_BITS: u32 = 20;
/// Bits left for the deadline in Unix ms.
pub const DEADLINE_BITS: u32 = 64 - ACCESS_BITS;
/// Latest storable deadline (Unix ms, year 2527); later ones are clamped to it.
pub const DEADLINE_MAX_MS: u64 = (1 << DEADLINE_BITS) - 1;
const ACCESS_MASK: u64 = (1 << ACCESS_BITS) - 1;
/// LRU clock resolution (Redis's `LRU_CLOCK_RESOLUTION`).
const LRU_RESOLUTION_MS: u64 = 1000;
/// LFU: bits of the counter (low) and of the minutes clock (high).
const LFU_COUNTER_BITS: u32 = 8;
const LFU_MINUTES_MASK: u64 = (1 << (ACCESS_BITS - LFU_COUNTER_BITS)) - 1;
/// Redis's `LFU_INIT_VAL`: a new key starts here so it is not evicted at once.
pub const LFU_INIT_VAL: u8 = 5;

/// How accesses are recorded (set from `maxmemory-policy`, `lfu-log-factor`,
/// `lfu-decay-time`; shared by every shard).
#[derive(Debug)]
pub struct AccessPolicy {
    lfu: AtomicBool,
    log_factor: AtomicU32,
    decay_minutes: AtomicU32,
}

impl Default for AccessPolicy {
    fn default() -> Self {
        AccessPolicy { lfu: AtomicBool::new(false), log_factor: AtomicU32::new(10), decay_minutes: AtomicU32::new(1) }
    }
}

impl AccessPolicy {
    /// Record LFU counters (true) or LRU clocks (false) from now on.
    pub fn set(&self, lfu: bool, log_factor: u32, decay_minutes: u32) {
        self.lfu.store(lfu, Relaxed);
        self.log_factor.store(log_factor, Relaxed);
        self.decay_minutes.store(decay_minutes, Relaxed);
    }

    pub fn is_lfu(&self) -> bool {
        self.lfu.load(Relaxed)
    }

    /// The access bits of a key created now.
    pub fn initial(&self, now_ms: u64) -> u64 {
        if self.is_lfu() {
            lfu_pack(now_ms, LFU_INIT_VAL)
        } else {
            lru_clock(now_ms)
        }
    }

    /// The access bits after an access at `now_ms` (`random01`: draws a uniform number in
    /// [0, 1), only under an LFU policy: an LRU access costs no random number).
    #[inline]
    pub fn touched(&self, old: u64, now_ms: u64, random01: impl FnOnce() -> f64) -> u64 {
        if !self.is_lfu() {
            return lru_clock(now_ms);
        }
        let counter = self.lfu_counter(old, now_ms);
        lfu_pack(now_ms, lfu_log_incr(counter, self.log_factor.load(Relaxed), random01()))
    }

    /// The LFU counter with the decay since its last access applied (Redis's `LFUDecrAndReturn`).
    pub fn lfu_counter(&self, bits: u64, now_ms: u64) -> u8 {
        let counter = (bits & ((1 << LFU_COUNTER_BITS) - 1)) as u8;
        let decay = u64::from(self.decay_minutes.load(Relaxed));
        if decay == 0 {
            return counter;
        }
        let then = bits >> LFU_COUNTER_BITS;
        let elapsed = (minutes(now_ms).wrapping_sub(then)) & LFU_MINUTES_MASK;
        let periods = elapsed / decay;
        counter.saturating_sub(u8::try_from(periods).unwrap_or(u8::MAX))
    }

    /// Eviction score: the higher, the better a candidate (Redis's pool `idle`).
    pub fn idle_score(&self, bits: u64, now_ms: u64) -> u64 {
        if self.is_lfu() {
            u64::from(u8::MAX - self.lfu_counter(bits, now_ms))
        } else {
            idle_ms(bits, now_ms)
        }
    }
}

fn minutes(now_ms: u64) -> u64 {
    (now_ms / 60_000) & LFU_MINUTES_MASK
}

fn lfu_pack(now_ms: u64, counter: u8) -> u64 {
    (minutes(now_ms) << LFU_COUNTER_BITS) | u64::from(counter)
}

/// Redis's `LFULogIncr`.
fn lfu_log_incr(counter: u8, log_factor: u32, random01: f64) -> u8 {
    if counter == u8::MAX {
        return counter;
    }
    let base = f64::from(counter.saturating_sub(LFU_INIT_VAL));
    let p = 1.0 / (base * f64::from(log_factor) + 1.0);
    if random01 < p {
        counter + 1
    } else {
        counter
    }
}

/// The LRU clock at `now_ms`.
pub fn lru_clock(now_ms: u64) -> u64 {
    (now_ms / LRU_RESOLUTION_MS) & ACCESS_MASK
}

/// Milliseconds since the access recorded in LRU `bits` (Redis's `estimateObjectIdleTime`;
/// an idle time past the clock's wrap reads as the remainder).
pub fn idle_ms(bits: u64, now_ms: u64) -> u64 {
    (lru_clock(now_ms).wrapping_sub(bits) & ACCESS_MASK) * LRU_RESOLUTION_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000;

    #[test]
    fn lru_idle_time_counts_seconds_and_wraps() {
        let p = AccessPolicy::default();
        let bits = p.initial(T0);
        assert_eq!(idle_ms(bits, T0), 0);
        assert_eq!(idle_ms(bits, T0 + 42_000), 42_000);
        // Past the wrap the idle time starts again from zero.
        assert_eq!(idle_ms(bits, T0 + (ACCESS_MASK + 1) * 1000 + 3000), 3000);
    }

    #[test]
    fn lfu_counter_grows_logarithmically_and_decays() {
        let p = AccessPolicy::default();
        p.set(true, 10, 1);
        let mut bits = p.initial(T0);
        assert_eq!(p.lfu_counter(bits, T0), LFU_INIT_VAL);
        // A hit at p = 1 always counts while the counter is at its initial value ...
        bits = p.touched(bits, T0, || 0.5);
        assert_eq!(p.lfu_counter(bits, T0), LFU_INIT_VAL + 1);
        // ... then only with probability 1 / (1 * 10 + 1).
        assert_eq!(p.lfu_counter(p.touched(bits, T0, || 0.5), T0), LFU_INIT_VAL + 1);
        assert_eq!(p.lfu_counter(p.touched(bits, T0, || 0.01), T0), LFU_INIT_VAL + 2);
        // One minute idle per decrement; never below zero.
        assert_eq!(p.lfu_counter(bits, T0 + 3 * 60_000), LFU_INIT_VAL - 2);
        assert_eq!(p.lfu_counter(bits, T0 + 60 * 60_000), 0);
        assert!(p.idle_score(bits, T0 + 60 * 60_000) > p.idle_score(bits, T0));
        p.set(true, 10, 0);
        assert_eq!(p.lfu_counter(bits, T0 + 60 * 60_000), LFU_INIT_VAL + 1, "decay off");
    }
}
