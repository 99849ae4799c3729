//! A statistics counter bumped on every request by every worker, without a contended cache
//! line: one cache-padded atomic per stripe, each thread on its own stripe, reads summed.
//! Used by the server-wide stats, the per-command statistics and the client registry.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Slots of a [`StripedCounter`]: more than the worker threads we expect on one machine's
/// cores would gain little; each slot is a cache line.
pub const COUNTER_STRIPES: usize = 16;

/// A statistics counter bumped on every request by every worker: one cache-padded atomic per
/// stripe, a thread always uses the same stripe, so workers on different cores do not bounce
/// one cache line per command. Reads sum the stripes.
pub struct StripedCounter {
    stripes: [crossbeam_utils::CachePadded<AtomicU64>; COUNTER_STRIPES],
}

impl Default for StripedCounter {
    fn default() -> Self {
        StripedCounter { stripes: std::array::from_fn(|_| Default::default()) }
    }
}

/// This thread's stripe of the striped counters (fixed for the thread's life).
pub fn stripe_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Relaxed) % COUNTER_STRIPES;
    }
    STRIPE.with(|s| *s)
}

impl StripedCounter {
    /// Add `n` to this thread's stripe with ordering `order` (as `AtomicU64::fetch_add`).
    pub fn fetch_add(&self, n: u64, order: std::sync::atomic::Ordering) {
        self.stripes[stripe_index()].fetch_add(n, order);
    }
    /// The sum over all stripes, each loaded with ordering `order` (as `AtomicU64::load`).
    /// The stripes are read one after another: the sum is not one atomic snapshot.
    pub fn load(&self, order: std::sync::atomic::Ordering) -> u64 {
        self.stripes.iter().map(|s| s.load(order)).fold(0u64, u64::wrapping_add)
    }
    /// Reset to zero (CONFIG RESETSTAT).
    pub fn reset(&self) {
        for s in &self.stripes {
            s.store(0, Relaxed);
        }
    }
}
