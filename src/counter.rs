//! Statistics counters bumped on every request by every worker, without a contended cache
//! line and without a locked instruction: one cache-padded slot per stripe, reads summed.
//! Used by the server-wide stats, the per-command statistics ([`crate::metrics`]) and the
//! client registry.
//!
//! **Owned stripes.** A thread claims one of [`OWNED_STRIPES`] stripes for its whole life
//! the first time it counts something, and is then that stripe's only writer: an add is a
//! plain load and store ([`add`]), not an atomic read-modify-write (a `lock`-prefixed add
//! costs ~20 cycles and orders the pipeline; with three or four counters per command that
//! was a few percent of a pipelined GET's CPU). uring and epoll workers always get one. When
//! every owned stripe is taken (the threads engine with many connections), a thread counts
//! on one of [`SHARED_STRIPES`] stripes with atomic adds instead. A thread gives its stripe
//! back when it exits; the next owner acquires the claim, so it sees the values left.
//!
//! **Resets** (CONFIG RESETSTAT) never write an owned slot (its owner could overwrite the
//! zero with a stale sum): they record the current sum as a base that reads subtract.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, Ordering::*};

/// Stripes a thread can own (plain load + store adds): at least the uring/epoll workers one
/// machine runs, plus the few other threads that count (timers, accept).
pub const OWNED_STRIPES: usize = 16;
/// Stripes for threads that found no owned stripe free, written with atomic adds.
pub const SHARED_STRIPES: usize = 16;
/// All stripes: owned ones first (`0..OWNED_STRIPES`), then the shared ones.
pub const COUNTER_STRIPES: usize = OWNED_STRIPES + SHARED_STRIPES;

/// Which owned stripes a living thread holds.
static CLAIMED: [AtomicBool; OWNED_STRIPES] = [const { AtomicBool::new(false) }; OWNED_STRIPES];
/// Round-robin start for claims and shared-stripe choice.
static NEXT: AtomicUsize = AtomicUsize::new(0);
/// "No stripe chosen yet" in [`STRIPE`].
const UNSET: usize = usize::MAX;
/// Bit of a [`Stripe`] saying the thread owns it.
const OWNED_BIT: usize = 1 << (usize::BITS - 2);

thread_local! {
    /// This thread's stripe index, with [`OWNED_BIT`] if it owns it (const-initialised: the
    /// hot path is one thread-local read).
    static STRIPE: Cell<usize> = const { Cell::new(UNSET) };
    /// Gives an owned stripe back when the thread exits.
    static RELEASE: GiveBack = const { GiveBack(Cell::new(UNSET)) };
}

/// Returns an owned stripe when its thread ends; later counting from this thread's remaining
/// destructors goes to a shared stripe.
struct GiveBack(Cell<usize>);

impl Drop for GiveBack {
    fn drop(&mut self) {
        let index = self.0.get();
        if index < OWNED_STRIPES {
            let _ = STRIPE.try_with(|s| s.set(OWNED_STRIPES));
            CLAIMED[index].store(false, Release);
        }
    }
}

/// The stripe the calling thread counts on.
#[derive(Clone, Copy, Debug)]
pub struct Stripe(usize);

impl Stripe {
    /// The slot index, `0..COUNTER_STRIPES`.
    #[inline]
    pub fn index(self) -> usize {
        self.0 & !OWNED_BIT
    }
    /// True if no other thread writes this stripe.
    #[inline]
    pub fn owned(self) -> bool {
        self.0 & OWNED_BIT != 0
    }
}

/// The calling thread's stripe (claimed on first use, kept for the thread's life).
#[inline]
pub fn this_stripe() -> Stripe {
    let s = STRIPE.try_with(Cell::get).unwrap_or(OWNED_STRIPES);
    if s != UNSET {
        return Stripe(s);
    }
    claim()
}

#[cold]
fn claim() -> Stripe {
    let start = NEXT.fetch_add(1, Relaxed);
    for i in 0..OWNED_STRIPES {
        let index = (start + i) % OWNED_STRIPES;
        if CLAIMED[index].compare_exchange(false, true, Acquire, Relaxed).is_ok() {
            // Register the release first: if the thread is already being torn down, give the
            // stripe back at once and count on a shared one.
            if RELEASE.try_with(|r| r.0.set(index)).is_ok() {
                let _ = STRIPE.try_with(|s| s.set(index | OWNED_BIT));
                return Stripe(index | OWNED_BIT);
            }
            CLAIMED[index].store(false, Release);
            break;
        }
    }
    let index = OWNED_STRIPES + start % SHARED_STRIPES;
    let _ = STRIPE.try_with(|s| s.set(index));
    Stripe(index)
}

/// This thread's stripe index (fixed for the thread's life).
pub fn stripe_index() -> usize {
    this_stripe().index()
}

/// Add `n` to `slot`, a counter of stripe `stripe`: a plain load and store when the thread
/// owns the stripe, an atomic add otherwise. `order` applies to the store (or the add).
#[inline]
pub fn add(slot: &AtomicU64, n: u64, stripe: Stripe, order: Ordering) {
    if stripe.owned() {
        slot.store(slot.load(Relaxed).wrapping_add(n), order);
    } else {
        slot.fetch_add(n, order);
    }
}

/// A statistics counter bumped on every request by every worker: one cache-padded slot per
/// stripe (see the module docs). Reads sum the stripes.
pub struct StripedCounter {
    stripes: [crossbeam_utils::CachePadded<AtomicU64>; COUNTER_STRIPES],
    /// The sum at the last reset, subtracted by reads.
    base: AtomicU64,
}

impl Default for StripedCounter {
    fn default() -> Self {
        StripedCounter { stripes: std::array::from_fn(|_| Default::default()), base: AtomicU64::new(0) }
    }
}

impl StripedCounter {
    /// Add `n` to this thread's stripe; `order` as for `AtomicU64::fetch_add`.
    #[inline]
    pub fn fetch_add(&self, n: u64, order: Ordering) {
        let stripe = this_stripe();
        add(&self.stripes[stripe.index()], n, stripe, order);
    }
    /// The sum over all stripes since the last reset, each loaded with ordering `order` (as
    /// `AtomicU64::load`). The stripes are read one after another: not one atomic snapshot.
    pub fn load(&self, order: Ordering) -> u64 {
        self.raw_sum(order).wrapping_sub(self.base.load(order))
    }
    fn raw_sum(&self, order: Ordering) -> u64 {
        self.stripes.iter().map(|s| s.load(order)).fold(0u64, u64::wrapping_add)
    }
    /// Reset to zero (CONFIG RESETSTAT): later reads count from the current sum.
    pub fn reset(&self) {
        self.base.store(self.raw_sum(Acquire), Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owning_threads_and_overflow_threads_all_count_exactly() {
        // More threads at once than owned stripes: some count on shared stripes with atomic
        // adds, and none may lose an increment.
        const THREADS: u64 = OWNED_STRIPES as u64 + 8;
        const ADDS: u64 = 20_000;
        let counter = StripedCounter::default();
        let barrier = std::sync::Barrier::new(THREADS as usize);
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                let (counter, barrier) = (&counter, &barrier);
                s.spawn(move || {
                    counter.fetch_add(0, Relaxed); // claim a stripe before anyone counts
                    barrier.wait();
                    for _ in 0..ADDS {
                        counter.fetch_add(1, Relaxed);
                    }
                });
            }
        });
        assert_eq!(counter.load(Relaxed), THREADS * ADDS);
    }

    #[test]
    fn exited_threads_give_their_stripe_back() {
        // Short-lived threads one after another until three times more of them than there are
        // owned stripes have owned one. Had exited threads kept their stripe, at most
        // OWNED_STRIPES threads could ever own one and this would never end (bounded by
        // ATTEMPTS). Other tests' threads may hold stripes meanwhile: a thread that found none
        // free just counts on a shared stripe, and the next one tries again a little later.
        const TARGET: usize = OWNED_STRIPES * 3;
        const ATTEMPTS: usize = 20_000;
        let counter = StripedCounter::default();
        let (mut owned, mut attempts) = (0, 0);
        while owned < TARGET && attempts < ATTEMPTS {
            attempts += 1;
            let got = std::thread::scope(|s| {
                s.spawn(|| {
                    counter.fetch_add(3, Relaxed);
                    this_stripe().owned()
                })
                .join()
                .expect("counting thread")
            });
            if got {
                owned += 1;
            } else {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        assert_eq!(owned, TARGET, "only {owned} of {attempts} threads owned a stripe");
        assert_eq!(counter.load(Relaxed), 3 * attempts as u64);
    }

    #[test]
    fn reset_counts_from_zero_again() {
        let counter = StripedCounter::default();
        counter.fetch_add(5, Relaxed);
        counter.reset();
        assert_eq!(counter.load(Relaxed), 0);
        counter.fetch_add(2, Relaxed);
        assert_eq!(counter.load(Relaxed), 2);
    }
}
