//! The batching policy: how many completions the next `io_uring_enter` waits for, and for how
//! long ([`Batching::plan`]), so a busy worker handles many requests per wakeup and per
//! syscall without adding latency that costs its clients more than it saves.
//!
//! What is batchable: a worker whose last batch held several recvs, one or two requests each,
//! is busy with many clients each waiting for a reply. Pipelining clients (many requests per
//! recv) are never waited for (each completion already carries many requests, and waiting
//! would only idle the worker while they wait for replies), nor is a lone client. Those get a
//! plain wait for one completion. A batchable worker asks for as many completions as the last
//! batch brought plus the sends it just queued (those complete at once).
//!
//! How long ([`Policy`]; `--uring-batching auto`, the default, is `fixed` with two or more
//! workers and no wait with one: [`AUTO_WAIT_WORKERS_MIN`]):
//! - `Fixed { wait_us }` (`--uring-batching fixed`): the full
//!   `--uring-batch-wait-us` every time: the fewest syscalls, up to that much added latency
//!   per request. In the measurements (docs/batching.md) it also gave the most requests per
//!   second at 50 unpipelined clients, so it stays the default.
//! - `Adaptive { cap_us }` (`--uring-batching adaptive`), interrupt moderation as NICs do it
//!   (measured, not the default: on the loaded 2-core machine it rarely judged the worker
//!   saturated and behaved like no batching, docs/batching.md): the worker
//!   measures how long it spends handling a batch (`busy`) and how long it then sleeps in the
//!   kernel (`idle`), as moving averages. It waits for a batch only while it is *saturated*
//!   (busy at least [`SATURATED_BUSY_PERCENT`] of the time) and then for at most
//!   [`WAIT_SHARE_PERCENT`] of a loop cycle (busy + idle: the time a request waits for its
//!   reply anyway; capped by `--uring-batch-wait-us`), so the latency a request can gain is a
//!   fraction of its service time. Below saturation, or when that fraction is under [`WAIT_US_MIN`], it waits
//!   plainly (one completion wakes it): the worker has time to spare, so a syscall per
//!   wakeup costs nothing anybody waits for.
//!
//! Never waiting while a completion is reapable is [`crate::ring::Ring::enter`]'s rule: with
//! completions ready it only submits.

use std::time::{Duration, Instant};

use super::CQE_BATCH_MAX;
use crate::config::UringBatching;

/// Above this many requests per recv completion (on average over a batch) clients are
/// pipelining, and the worker does not wait for a batch to gather.
pub const PIPELINED_REQUESTS_PER_RECV: u64 = 2;
/// The adaptive policy waits for a batch only while the worker spends at least this share of
/// its time handling completions (the rest asleep in `io_uring_enter`).
/// (50 left the worker waiting plainly at 50 unpipelined clients on 2 cores: docs/batching.md.)
pub const SATURATED_BUSY_PERCENT: u64 = 25;
/// The adaptive wait is at most this share of the (averaged) loop cycle, handling plus
/// sleeping: the time a request that arrives during one batch waits for its reply anyway. So
/// the added latency stays a fraction of the service time; the feedback (a wait lengthens the
/// cycle) converges, since the share is below 100%.
pub const WAIT_SHARE_PERCENT: u64 = 50;
/// An adaptive wait shorter than this is not worth a timer in the kernel: wait plainly.
pub const WAIT_US_MIN: u64 = 5;
/// `auto` waits for batches only with at least this many workers. Measured on 2 cores with
/// the load generator on the same machine (docs/batching.md, run 5): a lone worker that
/// waits for its batch loses requests per second and latency to one that does not (the
/// client has the other core anyway); two workers that wait leave the client a core and win
/// requests per second and CPU per request.
pub const AUTO_WAIT_WORKERS_MIN: usize = 2;
/// Moving averages weigh the newest sample 1/2^EWMA_SHIFT (1/8: about the last 8 batches).
const EWMA_SHIFT: u32 = 3;

/// How long a batchable worker waits (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Always `wait_us` (0: never wait for a batch).
    Fixed { wait_us: u32 },
    /// A share of the measured service time while saturated, at most `cap_us`.
    Adaptive { cap_us: u32 },
}

impl Policy {
    /// The policy `--uring-batching` and `--uring-batch-wait-us` ask for, for `workers`
    /// workers: `auto` waits as `fixed` with two or more and never with one.
    pub fn of(batching: UringBatching, wait_us: u32, workers: usize) -> Policy {
        match batching {
            UringBatching::Adaptive => Policy::Adaptive { cap_us: wait_us },
            UringBatching::Fixed => Policy::Fixed { wait_us },
            UringBatching::Auto if workers < AUTO_WAIT_WORKERS_MIN => Policy::Fixed { wait_us: 0 },
            UringBatching::Auto => Policy::Fixed { wait_us },
        }
    }
}

/// What the next enter waits for: `want` completions for up to `wait_us`, then any one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wait {
    pub want: u32,
    pub wait_us: u32,
}

impl Wait {
    /// Wait for one completion, however long it takes.
    pub const PLAIN: Wait = Wait { want: 1, wait_us: 0 };
}

/// The counts of the batch being handled and the measured rhythm of the loop.
#[derive(Clone, Copy, Debug)]
pub struct Batching {
    policy: Policy,
    /// Sends queued since the last enter.
    sends_queued: u32,
    /// Recv completions with data in the last batch.
    recvs_with_data: u32,
    /// Requests those recvs carried.
    requests: u64,
    /// When the last enter returned (the batch's handling began).
    woke_at: Option<Instant>,
    /// When the last enter was called (the worker went to sleep).
    slept_at: Option<Instant>,
    /// Moving average of the time from an enter's return to the next enter, ns.
    busy_ns: u64,
    /// Moving average of the time spent inside enter, ns.
    idle_ns: u64,
}

impl Batching {
    pub fn new(policy: Policy) -> Batching {
        Batching {
            policy,
            sends_queued: 0,
            recvs_with_data: 0,
            requests: 0,
            woke_at: None,
            slept_at: None,
            busy_ns: 0,
            idle_ns: 0,
        }
    }

    /// A send was queued (`queued`) or found nothing to start.
    #[inline]
    pub fn send_queued(&mut self, queued: bool) {
        self.sends_queued += u32::from(queued);
    }

    /// A recv completion brought data that ran `requests` requests.
    #[inline]
    pub fn recv_with_data(&mut self, requests: u64) {
        self.recvs_with_data += 1;
        self.requests += requests;
    }

    /// The batch is handled and the worker is about to enter at `now`: what to wait for.
    pub fn plan(&mut self, now: Instant) -> Wait {
        if let Some(woke) = self.woke_at {
            ewma(&mut self.busy_ns, now.saturating_duration_since(woke));
        }
        self.slept_at = Some(now);
        let unpipelined = self.requests <= PIPELINED_REQUESTS_PER_RECV * u64::from(self.recvs_with_data);
        if self.recvs_with_data < 2 || !unpipelined {
            return Wait::PLAIN;
        }
        let want = self.sends_queued.saturating_add(self.recvs_with_data).min(CQE_BATCH_MAX as u32);
        let wait_us = match self.policy {
            Policy::Fixed { wait_us } => wait_us,
            Policy::Adaptive { cap_us } => self.adaptive_wait_us(cap_us),
        };
        if wait_us == 0 {
            return Wait::PLAIN;
        }
        Wait { want, wait_us }
    }

    /// The adaptive wait: 0 (plain) below saturation or below [`WAIT_US_MIN`], else a share
    /// of the batch's service time, at most `cap_us`.
    fn adaptive_wait_us(&self, cap_us: u32) -> u32 {
        let cycle_ns = self.busy_ns + self.idle_ns;
        if cycle_ns == 0 || self.busy_ns * 100 < cycle_ns * SATURATED_BUSY_PERCENT {
            return 0;
        }
        let wait_us = cycle_ns * WAIT_SHARE_PERCENT / 100 / 1000;
        if wait_us < WAIT_US_MIN {
            return 0;
        }
        wait_us.min(u64::from(cap_us)) as u32
    }

    /// The enter returned at `now`: start counting the next batch.
    pub fn woke(&mut self, now: Instant) {
        if let Some(slept) = self.slept_at {
            ewma(&mut self.idle_ns, now.saturating_duration_since(slept));
        }
        self.woke_at = Some(now);
        self.sends_queued = 0;
        self.recvs_with_data = 0;
        self.requests = 0;
    }
}

/// Fold `sample` into the moving average `avg` (ns; the first sample seeds it).
fn ewma(avg: &mut u64, sample: Duration) {
    let sample = u64::try_from(sample.as_nanos()).unwrap_or(u64::MAX);
    *avg = if *avg == 0 { sample } else { *avg - (*avg >> EWMA_SHIFT) + (sample >> EWMA_SHIFT) };
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXED: Policy = Policy::Fixed { wait_us: 500 };
    const ADAPTIVE: Policy = Policy::Adaptive { cap_us: 500 };

    fn batch(b: &mut Batching, sends: u32, recvs: &[u64]) {
        for _ in 0..sends {
            b.send_queued(true);
        }
        b.send_queued(false);
        for &requests in recvs {
            b.recv_with_data(requests);
        }
    }

    fn fixed(sends: u32, recvs: &[u64]) -> Wait {
        let mut b = Batching::new(FIXED);
        batch(&mut b, sends, recvs);
        b.plan(Instant::now())
    }

    /// Run `n` loop iterations of `busy_us` handling `recvs` one-request recvs (plus as many
    /// sends), then `idle_us` asleep; return the last plan.
    fn rhythm(b: &mut Batching, n: usize, busy_us: u64, idle_us: u64, recvs: usize) -> Wait {
        let mut t = Instant::now();
        let mut plan = Wait::PLAIN;
        for _ in 0..n {
            b.woke(t);
            batch(b, recvs as u32, &vec![1; recvs]);
            t += Duration::from_micros(busy_us);
            plan = b.plan(t);
            t += Duration::from_micros(idle_us);
        }
        plan
    }

    #[test]
    fn a_quiet_worker_waits_for_one_completion() {
        assert_eq!(Batching::new(FIXED).plan(Instant::now()), Wait::PLAIN);
        assert_eq!(fixed(5, &[]), Wait::PLAIN, "sends alone are no batch");
        assert_eq!(fixed(1, &[1]), Wait::PLAIN, "one recv is a lone client");
    }

    #[test]
    fn a_busy_worker_waits_for_a_batch_as_large_plus_its_sends() {
        assert_eq!(fixed(0, &[1, 1]), Wait { want: 2, wait_us: 500 });
        assert_eq!(fixed(3, &[1, 1, 1]).want, 6);
        assert_eq!(fixed(4, &[2, 2, 2, 2]).want, 8, "two requests per recv is still not pipelining");
    }

    #[test]
    fn pipelining_clients_are_not_waited_for() {
        assert_eq!(fixed(2, &[2, 3]), Wait::PLAIN, "5 requests over 2 recvs passes 2 per recv");
        assert_eq!(fixed(50, &[16; 50]), Wait::PLAIN);
        assert_eq!(fixed(2, &[0, 4]).want, 4, "the average counts, not one recv");
    }

    #[test]
    fn the_wait_is_bounded_by_the_reap_batch() {
        assert_eq!(fixed(CQE_BATCH_MAX as u32, &[1; 10]).want, CQE_BATCH_MAX as u32);
        let mut b = Batching::new(FIXED);
        batch(&mut b, 0, &[1, 1]);
        b.sends_queued = u32::MAX;
        assert_eq!(b.plan(Instant::now()).want, CQE_BATCH_MAX as u32, "saturates, never wraps");
    }

    #[test]
    fn auto_waits_only_with_several_workers() {
        assert_eq!(Policy::of(UringBatching::Auto, 500, 1), Policy::Fixed { wait_us: 0 });
        assert_eq!(Policy::of(UringBatching::Auto, 500, 2), Policy::Fixed { wait_us: 500 });
        assert_eq!(Policy::of(UringBatching::Fixed, 500, 1), Policy::Fixed { wait_us: 500 }, "asked for");
        assert_eq!(Policy::of(UringBatching::Adaptive, 300, 1), Policy::Adaptive { cap_us: 300 });
    }

    #[test]
    fn a_fixed_wait_of_zero_is_plain() {
        let mut b = Batching::new(Policy::Fixed { wait_us: 0 });
        batch(&mut b, 3, &[1, 1, 1]);
        assert_eq!(b.plan(Instant::now()), Wait::PLAIN);
    }

    #[test]
    fn waking_starts_a_new_count() {
        let mut b = Batching::new(FIXED);
        batch(&mut b, 3, &[1, 1, 1]);
        b.woke(Instant::now());
        assert_eq!(b.plan(Instant::now()), Wait::PLAIN);
    }

    #[test]
    fn adaptive_waits_a_share_of_the_service_time_when_saturated() {
        // 25 clients, 100 µs handling each batch, 20 µs asleep: saturated.
        let mut b = Batching::new(ADAPTIVE);
        let plan = rhythm(&mut b, 32, 100, 20, 25);
        assert_eq!(plan.want, 50);
        let share = 120 * WAIT_SHARE_PERCENT / 100;
        assert!(plan.wait_us as u64 <= share && plan.wait_us as u64 >= share - 2, "{plan:?}");
    }

    #[test]
    fn adaptive_waits_plainly_when_the_worker_has_time_to_spare() {
        // Same batches, but the worker sleeps 9x as long as it works: not saturated.
        let mut b = Batching::new(ADAPTIVE);
        assert_eq!(rhythm(&mut b, 32, 100, 900, 25), Wait::PLAIN);
        // And it adapts back when the load rises.
        let plan = rhythm(&mut b, 64, 100, 10, 25);
        assert!(plan.wait_us > 0, "{plan:?}");
    }

    #[test]
    fn adaptive_skips_waits_too_short_to_matter_and_respects_the_cap() {
        let mut b = Batching::new(ADAPTIVE);
        assert_eq!(rhythm(&mut b, 32, 4, 1, 2), Wait::PLAIN, "a 2.5 µs wait is not worth a timer");
        let mut b = Batching::new(Policy::Adaptive { cap_us: 30 });
        assert_eq!(rhythm(&mut b, 32, 1000, 10, 25).wait_us, 30);
        let mut b = Batching::new(Policy::Adaptive { cap_us: 0 });
        assert_eq!(rhythm(&mut b, 32, 1000, 10, 25), Wait::PLAIN, "a cap of 0 turns waits off");
    }

    #[test]
    fn adaptive_never_waits_for_pipelined_or_lone_clients() {
        let mut b = Batching::new(ADAPTIVE);
        rhythm(&mut b, 32, 100, 10, 25);
        b.woke(Instant::now());
        batch(&mut b, 50, &[16; 50]);
        assert_eq!(b.plan(Instant::now()), Wait::PLAIN);
        b.woke(Instant::now());
        batch(&mut b, 1, &[1]);
        assert_eq!(b.plan(Instant::now()), Wait::PLAIN);
    }
}
