//! Isolation for EXEC and Lua scripts: a striped "big-reader" lock that lets one
//! client run several commands while no other client on any worker, engine or thread runs
//! any command at all.
//!
//! # Decision
//!
//! Every ordinary command holds the *read* side of one stripe for its whole run
//! ([`Isolation::read`]; a batch of pipelined commands keeps it from one command to the next,
//! see `cmd::execute_batched`, and releases it before MULTI queueing, EXEC, scripts and
//! eviction); the stripe is the connection's worker index (uring, epoll) or its
//! client id modulo [`STRIPES`] (threads engine), set in [`crate::cmd::ClientState::stripe`].
//! EXEC takes the *write* side of every stripe, in index order ([`Isolation::exclusive`]), runs
//! the queued commands with the ordinary store API, then releases. So a transaction is
//! isolated from every other command whatever keys either touches, including keys a script
//! computes at run time and never declared: nothing about the keys has to be known up front.
//!
//! Alternatives rejected: locking the shards of the declared keys (scripts do not declare
//! all their keys; commands like FLUSHDB, KEYS, RANDOMKEY touch every shard); per-key
//! versions checked at commit (needs undo or copy-on-write of values).
//!
//! # Cost
//!
//! - Per batch of ordinary commands (one command at pipeline depth 1): one uncontended atomic
//!   read-lock and one atomic unlock on a cache
//!   line that only this stripe's worker writes (uring/epoll: one worker per stripe, so the
//!   line stays in that core's cache), and a thread-local depth counter. No allocation and
//!   no store-wide shared write. The threads engine spreads its per-connection threads over
//!   the stripes, so two threads share a line only when they share a stripe.
//! - Per EXEC: [`STRIPES`] uncontended write-lock acquisitions (a few hundred ns), plus waiting
//!   for the command each other worker is running to finish.
//! - While an EXEC runs, every other worker stalls at its next command: a transaction is
//!   serialised against the whole server, as in Redis. Its length is bounded by the queue
//!   limits in [`crate::cmd::multi`]. The RwLock prefers writers, so a stream of readers on a
//!   stripe cannot starve an EXEC.
//!
//! # Deadlock rules
//!
//! - The exclusive side is never requested by a thread that holds a read side (it would wait
//!   for itself). [`Isolation::exclusive`] asserts this with a thread-local count of held read
//!   sides; the command layer runs EXEC without taking its read side.
//! - Nothing waits for another lock while holding a read side except the store's shard
//!   mutexes, which an exclusive holder never holds while acquiring stripes.
//! - Stripes are always write-locked in ascending index order, so two EXECs cannot deadlock.

use std::cell::Cell;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crossbeam_utils::CachePadded;

/// Number of stripes: at least the worker threads one machine runs (each uring/epoll worker
/// gets its own), few enough that EXEC's write-locking of all of them stays cheap.
pub const STRIPES: usize = 64;
/// The stripe background work (active expiry) reads under. Any stripe is correct; expiry runs
/// a few times a second, so sharing a line with one worker costs nothing measurable.
pub const BACKGROUND_STRIPE: usize = STRIPES - 1;

thread_local! {
    /// Read sides this thread holds right now.
    static READ_DEPTH: Cell<u32> = const { Cell::new(0) };
    /// Exclusive sections this thread holds right now (0 or 1).
    static EXCLUSIVE_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// The striped big-reader lock.
pub struct Isolation {
    stripes: Box<[CachePadded<RwLock<()>>]>,
}

impl Default for Isolation {
    fn default() -> Self {
        Isolation { stripes: (0..STRIPES).map(|_| CachePadded::new(RwLock::new(()))).collect() }
    }
}

/// A held read side: dropping it releases the stripe.
pub struct ReadGuard<'a> {
    _guard: RwLockReadGuard<'a, ()>,
}

impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        READ_DEPTH.with(|d| d.set(d.get() - 1));
    }
}

/// Every stripe's write side: no other command runs until it is dropped.
pub struct ExclusiveGuard<'a> {
    _guards: Vec<RwLockWriteGuard<'a, ()>>,
}

impl Drop for ExclusiveGuard<'_> {
    fn drop(&mut self) {
        EXCLUSIVE_DEPTH.with(|d| d.set(d.get() - 1));
    }
}

impl Isolation {
    /// Hold stripe `stripe`'s read side (taken modulo [`STRIPES`]) while one command runs.
    /// Blocks only while an exclusive section is running or waiting for this stripe.
    #[inline]
    pub fn read(&self, stripe: usize) -> ReadGuard<'_> {
        let lock = &self.stripes[stripe % STRIPES];
        // A panic under the read side cannot leave `()` inconsistent: ignore poisoning.
        let guard = lock.read().unwrap_or_else(PoisonError::into_inner);
        READ_DEPTH.with(|d| d.set(d.get() + 1));
        ReadGuard { _guard: guard }
    }

    /// Stripe `stripe`'s read side if it is free now; `None` while an exclusive section runs
    /// or waits for it (the caller then decides whether to wait: see
    /// [`crate::cmd::script::read_or_busy`], which answers BUSY during a long script).
    #[inline]
    pub fn try_read(&self, stripe: usize) -> Option<ReadGuard<'_>> {
        let guard = match self.stripes[stripe % STRIPES].try_read() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        READ_DEPTH.with(|d| d.set(d.get() + 1));
        Some(ReadGuard { _guard: guard })
    }

    /// Take every stripe's write side in index order. Panics if this thread holds a read side:
    /// that would deadlock (the caller would wait for its own stripe), so it is a bug in the
    /// caller, never a client's doing.
    pub fn exclusive(&self) -> ExclusiveGuard<'_> {
        let held = READ_DEPTH.with(Cell::get);
        assert_eq!(held, 0, "exclusive section requested while holding {held} read side(s)");
        let guards = self.stripes.iter().map(|s| s.write().unwrap_or_else(PoisonError::into_inner)).collect();
        EXCLUSIVE_DEPTH.with(|d| d.set(d.get() + 1));
        ExclusiveGuard { _guards: guards }
    }

    /// True if the calling thread is inside an exclusive section (EXEC running a queued
    /// EVAL: the script then runs in the section it already has).
    pub fn holding_exclusive() -> bool {
        EXCLUSIVE_DEPTH.with(Cell::get) > 0
    }

    /// True if the calling thread holds a read side (for assertions).
    pub fn holding_read() -> bool {
        READ_DEPTH.with(Cell::get) > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    use std::sync::Arc;

    #[test]
    fn exclusive_excludes_readers_on_every_stripe() {
        // Readers on many stripes update two counters in two steps; an exclusive section that
        // reads both must always see them equal, and all increments must land.
        const THREADS: usize = 4;
        const ROUNDS: u64 = 2_000;
        let lock = Arc::new(Isolation::default());
        let pair = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
        let readers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (lock, pair) = (Arc::clone(&lock), Arc::clone(&pair));
                std::thread::spawn(move || {
                    for round in 0..ROUNDS {
                        let _r = lock.read(t * 7 + round as usize);
                        pair.0.fetch_add(1, Relaxed);
                        std::hint::spin_loop();
                        pair.1.fetch_add(1, Relaxed);
                    }
                })
            })
            .collect();
        for _ in 0..500 {
            let _x = lock.exclusive();
            assert_eq!(pair.0.load(Relaxed), pair.1.load(Relaxed), "a reader ran inside the section");
        }
        for r in readers {
            r.join().expect("reader");
        }
        assert_eq!(pair.0.load(Relaxed), THREADS as u64 * ROUNDS);
    }

    #[test]
    fn two_exclusive_sections_serialise() {
        // Writers from several threads never overlap.
        let lock = Arc::new(Isolation::default());
        let inside = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let (lock, inside) = (Arc::clone(&lock), Arc::clone(&inside));
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let _x = lock.exclusive();
                        assert_eq!(inside.fetch_add(1, Relaxed), 0);
                        inside.fetch_sub(1, Relaxed);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("writer");
        }
    }

    #[test]
    fn depth_tracks_read_sides() {
        let lock = Isolation::default();
        assert!(!Isolation::holding_read());
        let a = lock.read(1);
        let b = lock.read(STRIPES + 2); // taken modulo STRIPES
        assert!(Isolation::holding_read());
        drop(a);
        assert!(Isolation::holding_read());
        drop(b);
        assert!(!Isolation::holding_read());
        drop(lock.exclusive());
    }

    #[test]
    #[should_panic(expected = "exclusive section requested while holding 1 read side")]
    fn exclusive_while_reading_is_refused_not_deadlocked() {
        // Without the check this would block forever on its own stripe.
        let lock = Isolation::default();
        let _r = lock.read(3);
        let _x = lock.exclusive();
    }
}
