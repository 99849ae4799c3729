//! The flush hold of `appendfsync always` on the io_uring engine: one decision per flush,
//! shared by every worker ring.
//!
//! # Why hold at all
//!
//! One flush (linked WRITE + FDATASYNC) runs at a time. With every client waiting for its
//! reply and the next flush started the moment the last one completes, the clients split
//! into two groups that take turns (one in the flush, the other arriving meanwhile): about
//! half of them per fdatasync. So when a flush completes and releases replies, the next flush
//! is held until the released clients are back (as many connections hold replies, over all
//! workers, as before the release) or for at most half the measured flush duration (capped by
//! [`AOF_HOLD_MAX`]): one group, about twice as many writes per fdatasync
//! (docs/persistence.md). Reads are served meanwhile; a held write waits at most the hold.
//! Durability does not depend on any of this: a reply leaves only once `durable_seq`, raised
//! by the completed fdatasync, covers it.
//!
//! # The shared state
//!
//! - Per worker ([`RingWorker`]): `waiting`, how many of its connections hold replies (the
//!   worker publishes it in every AOF step, before it reads `durable_seq`, and again after a
//!   release), and `ack_due`, set while the open hold waits for this worker to release its
//!   connections.
//! - `waiting_total`: the sum of the `waiting`s (each publication adds its difference).
//! - The hold ([`State`], under a mutex; `open` mirrors it for a lock-free "no hold" test):
//!   its deadline, how many workers still owe their release (`acks_pending`), the `target`
//!   (the sum of what those workers held when they released), and which worker's timer fires
//!   by the deadline (`timer_by`).
//!
//! # The protocol
//!
//! 1. **Open** ([`Hold::flush_done`], by the worker whose flush completed, *before* it raises
//!    `durable_seq`): every worker with `waiting > 0` gets `ack_due`; the deadline is now +
//!    half the moving average of the flush duration (at most [`AOF_HOLD_MAX`]). No worker
//!    waiting, or a zero wait: no hold.
//! 2. **Release** ([`Hold::released`], by each worker once it sees the new `durable_seq`):
//!    it publishes its new count; if it had `ack_due`, `target` grows by what it held before
//!    the release and `acks_pending` falls by one.
//! 3. **Check** ([`Hold::check`], by any worker that has bytes pending and sees no flush in
//!    flight): the hold is over (closed, "flush now") once `acks_pending == 0 && waiting_total
//!    >= target` (the released clients are back) or the deadline passed. Otherwise "held": the
//!    worker arms its hold timer for the deadline unless some worker's timer already fires by
//!    then (`timer_by`).
//!
//! # No stranding: every interleaving
//!
//! A held flush is stranded if bytes are pending, no flush is in flight, the hold is open,
//! and every worker sleeps in `io_uring_enter` with nothing due to wake it before an
//! unbounded time. It cannot happen:
//!
//! - **Bytes become pending on a worker** (a request it ran): that worker runs its AOF step
//!   at the end of the same loop iteration. Hold closed: it flushes. Hold open and over: it
//!   closes it and flushes. Hold open and not over: it arms a timer for the deadline, or
//!   `timer_by` names a worker whose armed timer fires by the deadline.
//! - **A flush is in flight** when the bytes arrive: a ring flush's worker runs its AOF step
//!   in the iteration that reaped the completion (after opening the next hold), so it takes
//!   over the bytes; a blocking flush (script executor, rewrite) wakes, when it ends, every
//!   worker with connections waiting, and each runs its AOF step.
//! - **The condition becomes true by a count change** (clients back, or the last release):
//!   the worker whose publication completed it checks in the same AOF step. The counts and
//!   the hold are read under the hold's mutex after the publication (`waiting_total` is an
//!   atomic read-modify-write sequenced before that lock), so of two workers updating at
//!   once, the one that locks second sees both updates.
//! - **The deadline passes**: the worker named by `timer_by` wakes (its timer fires at or
//!   after the deadline: an io_uring timeout counts CLOCK_MONOTONIC from its submission,
//!   which follows the reading of `Instant::now()` that it was computed from) and checks:
//!   the deadline has passed, so it flushes. A timer that fires early (armed for an earlier
//!   hold) clears `timer_by`; its worker checks, finds the hold still on, and arms again.
//! - **The timer's worker is finishing** (shutdown: its loop is ending and starts no flush):
//!   when its timer fires it wakes every worker with connections waiting
//!   ([`Hold::wake_waiting`]); they check, and the deadline has passed.
//! - **A flush completes while a worker is about to sleep with replies held**: the worker
//!   publishes its count, then (SeqCst fence) reads `durable_seq`; the flush raises
//!   `durable_seq`, then (SeqCst fence, [`Hold::wake_waiting`]) reads the counts. Either the
//!   worker sees the new number and releases, or the flush's end sees its count and wakes it.
//!   (The worker lists a connection by its held replies, not by re-reading `durable_seq`, so
//!   a flush that completes between its send and its listing cannot leave a reply unsent
//!   and unlisted: that left replies stuck for good before, tests/aof_hold.rs.)
//! - **A worker owed a release** (`ack_due`) is woken by the flush's end (it has connections
//!   waiting) and releases in its next AOF step; if it never does (stopped), the deadline
//!   still ends the hold.
//! - **A worker's only timer is armed for a later moment** (an older hold's, when the flush
//!   durations vary): it does not claim `timer_by`; another worker may, or at worst the old
//!   timer ends this hold. That timer fires by the older flush's completion +
//!   [`AOF_HOLD_MAX`], which is before this flush's completion + [`AOF_HOLD_MAX`]: a held
//!   write still waits at most [`AOF_HOLD_MAX`] after the flush before it completed.
//!
//! With one worker this is the earlier per-worker hold exactly: the target is what the
//! worker held when it released, the deadline the same (measured, docs/persistence.md).
//! With more workers it works (tests/aof_hold.rs) but measured no better than no hold
//! (fewer fdatasyncs, about the same CPU per request, lower req/s: docs/persistence.md).
//! With one worker it paid while that worker also waited for batches of completions; since
//! a lone worker no longer does (`--uring-batching auto`) the hold cost it a quarter of its
//! req/s at pipeline 1 for 4% fewer fdatasyncs (docs/persistence.md). So it is off by
//! default ([`HoldMode`]; `RINGKV_AOF_HOLD=1` holds with one worker, `all` with any number).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The longest a flush is held for the clients whose replies were just released (the hold
/// is half the measured flush duration, at most this): a write's reply can take this much
/// longer, at worst.
pub const AOF_HOLD_MAX: Duration = Duration::from_micros(1000);
/// Moving average of the flush duration weighs the newest sample 1/2^FLUSH_AVG_SHIFT.
const FLUSH_AVG_SHIFT: u32 = 3;

/// A worker's wake-up (an eventfd write).
pub type Waker = Box<dyn Fn() + Send + Sync>;

/// Which configurations hold flushes (environment variable `RINGKV_AOF_HOLD`, to repeat the
/// measurements in docs/persistence.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldMode {
    /// Any number of uring workers (`RINGKV_AOF_HOLD=all`: not better than no hold with two
    /// workers in the measurements of docs/persistence.md, so not the default).
    All,
    /// Only with one uring worker (`RINGKV_AOF_HOLD=1`; the default until the one-worker
    /// batch wait went, docs/persistence.md "The hold without the batch wait").
    OneWorker,
    /// Never (the default; `RINGKV_AOF_HOLD=0`).
    Off,
}

impl HoldMode {
    /// From `RINGKV_AOF_HOLD`: `all` = any number of workers, `1` = one worker only,
    /// anything else or unset = off.
    pub fn from_env() -> HoldMode {
        match std::env::var("RINGKV_AOF_HOLD").as_deref() {
            Ok("all") => HoldMode::All,
            Ok("1") => HoldMode::OneWorker,
            _ => HoldMode::Off,
        }
    }
}

/// One uring worker's part of the hold (registered by [`Hold::register`]).
pub struct RingWorker {
    pub id: usize,
    /// Connections of this worker holding replies until `durable_seq` covers them.
    waiting: AtomicUsize,
    /// The open hold waits for this worker to release its connections.
    ack_due: AtomicBool,
    wake: Waker,
}

/// The hold of the next flush (see the module header).
#[derive(Debug)]
struct State {
    deadline: Instant,
    /// Connections the acknowledged workers held before their release.
    target: usize,
    /// Workers that had connections waiting when the flush completed and have not released
    /// them yet.
    acks_pending: usize,
    /// A worker whose armed hold timer fires by `deadline`.
    timer_by: Option<usize>,
}

/// What [`Hold::check`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// No hold, or it is over (closed now): start the flush.
    Flush,
    /// Held until `deadline` at the latest; `arm`: this worker must arm its hold timer for it
    /// (it is now `timer_by`).
    Held { deadline: Instant, arm: bool },
}

/// The shared hold and the registry of uring workers (one per [`super::Aof`]).
pub struct Hold {
    mode: HoldMode,
    workers: Mutex<Vec<Arc<RingWorker>>>,
    /// `workers.len()`, read without the lock.
    worker_count: AtomicUsize,
    waiting_total: AtomicUsize,
    /// A hold is open (mirrors `state`, which is authoritative).
    open: AtomicBool,
    state: Mutex<Option<State>>,
    /// Moving average of a flush's duration (write + fdatasync), µs. Written by the flush
    /// token's holder only.
    flush_avg_us: AtomicU64,
    /// Holds opened, and those ended by their deadline rather than by the clients' return
    /// (INFO persistence `aof_flush_holds`, `aof_flush_hold_timeouts`).
    pub holds: AtomicU64,
    pub hold_timeouts: AtomicU64,
}

impl Hold {
    pub fn new(mode: HoldMode) -> Hold {
        Hold {
            mode,
            workers: Mutex::new(Vec::new()),
            worker_count: AtomicUsize::new(0),
            waiting_total: AtomicUsize::new(0),
            open: AtomicBool::new(false),
            state: Mutex::new(None),
            flush_avg_us: AtomicU64::new(0),
            holds: AtomicU64::new(0),
            hold_timeouts: AtomicU64::new(0),
        }
    }

    /// Register worker `id` and its wake-up (called once per uring worker at its start).
    pub fn register(&self, id: usize, wake: Waker) -> Arc<RingWorker> {
        let me = Arc::new(RingWorker { id, waiting: AtomicUsize::new(0), ack_due: AtomicBool::new(false), wake });
        self.workers.lock().unwrap_or_else(PoisonError::into_inner).push(me.clone());
        self.worker_count.fetch_add(1, Ordering::AcqRel);
        me
    }

    /// How many uring workers flush.
    pub fn workers(&self) -> usize {
        self.worker_count.load(Ordering::Acquire)
    }

    /// Wake every worker with connections waiting for durability, except `me`. Called after
    /// `durable_seq` was raised; the fence pairs with the one a worker has between publishing
    /// its count and reading `durable_seq`: either the worker sees the new number or this
    /// sees its count.
    pub fn wake_waiting(&self, me: Option<usize>) {
        std::sync::atomic::fence(Ordering::SeqCst);
        for w in self.workers.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            if Some(w.id) != me && w.waiting.load(Ordering::Acquire) > 0 {
                (w.wake)();
            }
        }
    }

    /// Worker `w` now has `count` connections holding replies. Called by that worker only
    /// (it alone writes its `waiting`).
    pub fn set_waiting(&self, w: &RingWorker, count: usize) {
        let before = w.waiting.load(Ordering::Relaxed);
        if count == before {
            return;
        }
        w.waiting.store(count, Ordering::SeqCst);
        if count > before {
            self.waiting_total.fetch_add(count - before, Ordering::SeqCst);
        } else if count < before {
            self.waiting_total.fetch_sub(before - count, Ordering::SeqCst);
        }
    }

    /// Worker `w` released its connections for a new `durable_seq`: it held `before`, now
    /// `after` (those still waiting and any that started meanwhile). Acknowledges the open
    /// hold if it owed it.
    pub fn released(&self, w: &RingWorker, before: usize, after: usize) {
        self.set_waiting(w, after);
        if !w.ack_due.swap(false, Ordering::SeqCst) {
            return;
        }
        if let Some(s) = self.state.lock().unwrap_or_else(PoisonError::into_inner).as_mut() {
            s.acks_pending = s.acks_pending.saturating_sub(1);
            s.target += before;
        }
    }

    /// The flush token's holder: its flush took `took` and, if `released`, made new changes
    /// durable (called before `durable_seq` is raised). Opens the hold of the next flush when
    /// some worker holds replies. Returns true if it opened one.
    pub fn flush_done(&self, now: Instant, took: Duration, released: bool) -> bool {
        let took_us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let avg = self.flush_avg_us.load(Ordering::Relaxed);
        let avg = avg - (avg >> FLUSH_AVG_SHIFT) + (took_us >> FLUSH_AVG_SHIFT);
        self.flush_avg_us.store(avg, Ordering::Relaxed);
        let wait = Duration::from_micros(avg / 2).min(AOF_HOLD_MAX);
        let enabled = match self.mode {
            HoldMode::All => true,
            HoldMode::OneWorker => self.workers() == 1,
            HoldMode::Off => false,
        };
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        *state = None;
        self.open.store(false, Ordering::SeqCst);
        if !(enabled && released) || wait.is_zero() {
            return false;
        }
        let mut acks = 0;
        for w in self.workers.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            let owes = w.waiting.load(Ordering::SeqCst) > 0;
            w.ack_due.store(owes, Ordering::SeqCst);
            acks += usize::from(owes);
        }
        if acks == 0 {
            return false;
        }
        *state = Some(State { deadline: now + wait, target: 0, acks_pending: acks, timer_by: None });
        self.open.store(true, Ordering::SeqCst);
        self.holds.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// A hold is open (it may be over already: [`Hold::check`] decides).
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::SeqCst)
    }

    /// Worker `id` has bytes pending and sees no flush in flight: may it flush now? `timer_at`:
    /// when its armed hold timer fires (None: none armed). See the module header.
    pub fn check(&self, id: usize, now: Instant, timer_at: Option<Instant>) -> Check {
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(s) = guard.as_mut() else { return Check::Flush };
        let back = s.acks_pending == 0 && self.waiting_total.load(Ordering::SeqCst) >= s.target;
        if back || now >= s.deadline {
            if !back {
                self.hold_timeouts.fetch_add(1, Ordering::Relaxed);
            }
            *guard = None;
            self.open.store(false, Ordering::SeqCst);
            return Check::Flush;
        }
        let deadline = s.deadline;
        if s.timer_by.is_some() {
            return Check::Held { deadline, arm: false };
        }
        match timer_at {
            None => {
                s.timer_by = Some(id);
                Check::Held { deadline, arm: true }
            }
            Some(t) if t <= deadline => {
                s.timer_by = Some(id);
                Check::Held { deadline, arm: false }
            }
            Some(_) => Check::Held { deadline, arm: false },
        }
    }

    /// Worker `id`'s hold timer fired: it no longer covers any deadline.
    pub fn timer_fired(&self, id: usize) {
        if let Some(s) = self.state.lock().unwrap_or_else(PoisonError::into_inner).as_mut() {
            if s.timer_by == Some(id) {
                s.timer_by = None;
            }
        }
    }

    /// Connections holding replies, over all workers (tests, INFO).
    pub fn waiting_total(&self) -> usize {
        self.waiting_total.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hold with `n` workers, each counting its wake-ups.
    fn hold(n: usize, mode: HoldMode) -> (Hold, Vec<Arc<RingWorker>>, Vec<Arc<AtomicUsize>>) {
        let h = Hold::new(mode);
        let mut workers = Vec::new();
        let mut wakes = Vec::new();
        for id in 0..n {
            let woken = Arc::new(AtomicUsize::new(0));
            let w = woken.clone();
            workers.push(h.register(
                id,
                Box::new(move || {
                    w.fetch_add(1, Ordering::Relaxed);
                }),
            ));
            wakes.push(woken);
        }
        (h, workers, wakes)
    }

    /// A flush of 800 µs (average after `FLUSH_AVG_SHIFT` steps: the hold is its half).
    fn warm_up(h: &Hold) {
        for _ in 0..64 {
            h.flush_done(Instant::now(), Duration::from_micros(800), false);
        }
    }

    #[test]
    fn counts_add_up_over_workers() {
        let (h, w, _) = hold(2, HoldMode::All);
        h.set_waiting(&w[0], 3);
        h.set_waiting(&w[1], 5);
        assert_eq!(h.waiting_total(), 8);
        h.set_waiting(&w[0], 1);
        h.released(&w[1], 5, 2);
        assert_eq!(h.waiting_total(), 3);
        h.set_waiting(&w[0], 0);
        h.set_waiting(&w[1], 0);
        assert_eq!(h.waiting_total(), 0);
    }

    #[test]
    fn the_hold_ends_when_every_released_client_is_back_on_any_worker() {
        // 3 + 2 connections released by one flush: the next flush waits for 5 waiting again,
        // whichever worker they are on, and only after both workers released.
        let (h, w, _) = hold(2, HoldMode::All);
        warm_up(&h);
        h.set_waiting(&w[0], 3);
        h.set_waiting(&w[1], 2);
        let t0 = Instant::now();
        assert!(h.flush_done(t0, Duration::from_micros(800), true));
        h.released(&w[0], 3, 0);
        // Worker 1 has not released yet: its stale count must not end the hold.
        h.set_waiting(&w[0], 3);
        assert!(matches!(h.check(0, t0, None), Check::Held { arm: true, .. }));
        h.released(&w[1], 2, 0);
        h.set_waiting(&w[0], 4);
        assert!(matches!(h.check(0, t0, Some(t0)), Check::Held { arm: false, .. }));
        h.set_waiting(&w[1], 1);
        assert_eq!(h.check(1, t0, None), Check::Flush, "5 back over both workers");
        assert!(!h.is_open());
        assert_eq!(h.check(0, t0, None), Check::Flush, "closed: no hold until the next flush");
        assert_eq!((h.holds.load(Ordering::Relaxed), h.hold_timeouts.load(Ordering::Relaxed)), (1, 0));
    }

    #[test]
    fn the_deadline_ends_a_hold_whoever_checks() {
        let (h, w, _) = hold(2, HoldMode::All);
        warm_up(&h);
        h.set_waiting(&w[1], 4);
        let t0 = Instant::now();
        assert!(h.flush_done(t0, Duration::from_micros(800), true));
        h.released(&w[1], 4, 0);
        let Check::Held { deadline, arm: true } = h.check(1, t0, None) else { panic!("held, timer by worker 1") };
        assert!(deadline > t0 && deadline <= t0 + AOF_HOLD_MAX, "half a flush, at most AOF_HOLD_MAX");
        assert_eq!(h.check(0, deadline - Duration::from_micros(1), None), Check::Held { deadline, arm: false });
        assert_eq!(h.check(0, deadline, None), Check::Flush);
        assert_eq!(h.hold_timeouts.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn one_timer_per_hold_and_an_early_timer_hands_over() {
        // The first worker to hold arms the timer; the other relies on it. When it fires
        // early (an older hold's timer), the hold is not over: the next check re-arms.
        let (h, w, _) = hold(2, HoldMode::All);
        warm_up(&h);
        h.set_waiting(&w[0], 2);
        let t0 = Instant::now();
        assert!(h.flush_done(t0, Duration::from_micros(800), true));
        h.released(&w[0], 2, 0);
        let early = t0 + Duration::from_micros(10);
        let Check::Held { deadline, arm: false } = h.check(0, t0, Some(early)) else { panic!("early timer covers") };
        assert_eq!(h.check(1, t0, None), Check::Held { deadline, arm: false }, "worker 0's timer covers it");
        h.timer_fired(0);
        assert_eq!(h.check(0, early, None), Check::Held { deadline, arm: true }, "re-armed after the early fire");
        // A timer that fires after the deadline covers nothing: the other worker arms one.
        h.timer_fired(0);
        assert_eq!(h.check(0, early, Some(deadline + Duration::from_millis(5))), Check::Held { deadline, arm: false });
        assert_eq!(h.check(1, early, None), Check::Held { deadline, arm: true });
    }

    #[test]
    fn no_hold_without_waiters_or_measurement_or_when_off() {
        let (h, w, _) = hold(2, HoldMode::All);
        let t0 = Instant::now();
        h.set_waiting(&w[0], 2);
        assert!(!h.flush_done(t0, Duration::ZERO, true), "no flush measured yet: no hold");
        warm_up(&h);
        h.set_waiting(&w[0], 0);
        assert!(!h.flush_done(t0, Duration::from_micros(800), true), "nobody waits");
        h.set_waiting(&w[0], 2);
        assert!(!h.flush_done(t0, Duration::from_micros(800), false), "the flush failed: nothing released");
        let (off, w, _) = hold(1, HoldMode::Off);
        warm_up(&off);
        off.set_waiting(&w[0], 2);
        assert!(!off.flush_done(t0, Duration::from_micros(800), true));
        let (one, w, _) = hold(2, HoldMode::OneWorker);
        warm_up(&one);
        one.set_waiting(&w[0], 2);
        assert!(!one.flush_done(t0, Duration::from_micros(800), true), "two workers: off in this mode");
    }

    #[test]
    fn a_long_flush_holds_at_most_the_cap() {
        let (h, w, _) = hold(1, HoldMode::All);
        for _ in 0..64 {
            h.flush_done(Instant::now(), Duration::from_millis(50), false);
        }
        h.set_waiting(&w[0], 1);
        let t0 = Instant::now();
        assert!(h.flush_done(t0, Duration::from_millis(50), true));
        let Check::Held { deadline, .. } = h.check(0, t0, None) else { panic!("held") };
        assert_eq!(deadline, t0 + AOF_HOLD_MAX);
    }

    #[test]
    fn a_worker_that_never_releases_delays_the_hold_only_to_its_deadline() {
        // Worker 1 had connections waiting but stops (never releases): every client of
        // worker 0 back is not enough, the deadline ends the hold.
        let (h, w, _) = hold(2, HoldMode::All);
        warm_up(&h);
        h.set_waiting(&w[0], 1);
        h.set_waiting(&w[1], 1);
        let t0 = Instant::now();
        assert!(h.flush_done(t0, Duration::from_micros(800), true));
        h.released(&w[0], 1, 0);
        h.set_waiting(&w[0], 5);
        let Check::Held { deadline, .. } = h.check(0, t0, None) else { panic!("waits for worker 1") };
        assert_eq!(h.check(0, deadline, None), Check::Flush);
    }

    #[test]
    fn a_new_flush_reopens_and_owes_only_workers_still_waiting() {
        // A hold owed by worker 1 is replaced by the next flush's: worker 1 owes it once, and
        // worker 0 (nothing waiting) not at all.
        let (h, w, wakes) = hold(2, HoldMode::All);
        warm_up(&h);
        h.set_waiting(&w[1], 2);
        let t0 = Instant::now();
        assert!(h.flush_done(t0, Duration::from_micros(800), true));
        assert!(h.flush_done(t0, Duration::from_micros(800), true));
        h.released(&w[1], 2, 0);
        h.set_waiting(&w[1], 2);
        assert_eq!(h.check(1, t0, None), Check::Flush, "one release owed, target 2, 2 back");
        h.set_waiting(&w[0], 1);
        h.wake_waiting(Some(0));
        h.wake_waiting(None);
        let woken: Vec<usize> = wakes.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        assert_eq!(woken, [1, 2], "only workers with connections waiting, never the caller");
    }

    #[test]
    fn concurrent_releases_and_checks_never_strand_the_hold() {
        // Two threads play two workers: each publishes its clients' return and checks after
        // every publication. Whatever the interleaving, one of them sees the hold over once
        // every released client is back (it is not left to the deadline).
        for round in 0..200 {
            let (h, w, _) = hold(2, HoldMode::All);
            let h = Arc::new(h);
            warm_up(&h);
            h.set_waiting(&w[0], 8);
            h.set_waiting(&w[1], 8);
            let t0 = Instant::now();
            assert!(h.flush_done(t0, Duration::from_micros(800), true));
            let threads: Vec<_> = (0..2)
                .map(|i| {
                    let (h, me) = (h.clone(), w[i].clone());
                    std::thread::spawn(move || {
                        h.released(&me, 8, 0);
                        let mut flushed = false;
                        for back in 1..=8 {
                            h.set_waiting(&me, back);
                            flushed |= h.check(i, t0, Some(t0)) == Check::Flush;
                        }
                        flushed
                    })
                })
                .collect();
            let flushed: Vec<bool> = threads.into_iter().map(|t| t.join().unwrap()).collect();
            assert!(flushed.iter().any(|&f| f), "round {round}: nobody saw the clients back");
            assert_eq!(h.hold_timeouts.load(Ordering::Relaxed), 0);
        }
    }
}
