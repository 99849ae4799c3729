//! The statistics behind INFO's `commandstats`, `latencystats` and `errorstats` sections and
//! the `instantaneous_*` fields of `stats`.
//!
//! **Hot-path cost.** Every command that runs is timed (one TSC reading, [`crate::clock`],
//! per command or per run of small fast commands: [`crate::cmd::timing`]) and counted in
//! [`CommandStats`]: its duration is added to a per-stripe total and one bucket of a
//! per-stripe latency histogram is bumped (once per run for a run's consecutive calls of
//! one command). Stripes are owned by threads
//! ([`crate::counter`]): each uring/epoll worker writes its own cache lines with plain loads
//! and stores, no locked instruction (threads beyond the owned stripes, as under the threads
//! engine with many connections, share overflow stripes with atomic adds). Reads (INFO) sum
//! the stripes. The number of calls is the histogram's total.
//!
//! **Decision: time every call, not by sampling.** The slow log times every command anyway
//! (the default `slowlog-log-slower-than` is 10 ms), and both it and these statistics use the
//! same readings. On a quiet machine the readings turned out to cost 6–9% of the CPU per GET
//! at 16-deep pipelining (the TSC read stalls the request path), so small fast commands are
//! timed by runs, one reading per run ([`crate::cmd::timing`], with the measurements and
//! what it changes in INFO and SLOWLOG); every other command keeps a reading of its own.
//!
//! **Histogram.** Durations in nanoseconds, four sub-buckets per power of two (values within
//! 25% share a bucket) up to 2^[`LATENCY_EXP_MAX`] ns (~69 s; longer calls count in the last
//! bucket). Percentiles report the upper edge of the bucket holding the rank, in µs with three
//! decimals as Redis prints them; Redis's HdrHistogram is finer, so ours read up to 25% high.
//!
//! **Errors.** Error replies are rare, so [`ErrorStats`] counts them per prefix (`ERR`,
//! `WRONGTYPE`, ...) under a mutex, at most [`ERROR_PREFIXES_MAX`] prefixes as Redis.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};

use crossbeam_utils::CachePadded;

use crate::counter::{add, this_stripe, Stripe, StripedCounter, COUNTER_STRIPES};

/// Highest power of two (in ns) the latency histogram tells apart: 2^36 ns ≈ 69 s.
pub const LATENCY_EXP_MAX: u32 = 36;
/// Sub-buckets per power of two (a power of two itself: 4 → 25% resolution).
const SUB_BUCKETS: u64 = 4;
/// Buckets per command: values 0..4 ns exactly, then 4 per power of two from 2^2 to 2^36.
pub const LATENCY_BUCKETS: usize = (SUB_BUCKETS + (LATENCY_EXP_MAX as u64 - 2) * SUB_BUCKETS) as usize;
/// Distinct error prefixes counted (Redis's errorstats stops tracking past 128 too).
pub const ERROR_PREFIXES_MAX: usize = 128;
/// Longest error prefix kept (longer first words are cut).
const ERROR_PREFIX_BYTES_MAX: usize = 64;
/// Samples in an instantaneous metric's ring (Redis's STATS_METRIC_SAMPLES).
pub const INST_SAMPLES: usize = 16;

/// One command's counters in one stripe.
struct CmdSlot {
    /// Sum of call durations, ns.
    ns: AtomicU64,
    failed: AtomicU64,
    rejected: AtomicU64,
    /// Calls per duration bucket (see [`bucket_of`]); their sum is the number of calls.
    hist: [AtomicU64; LATENCY_BUCKETS],
}

impl Default for CmdSlot {
    fn default() -> Self {
        CmdSlot {
            ns: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            hist: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// A command's slot in one stripe, allocated on its first call there.
type StripeSlot = OnceLock<Box<CmdSlot>>;

/// The bucket of a duration of `ns` nanoseconds.
pub fn bucket_of(ns: u64) -> usize {
    if ns < SUB_BUCKETS {
        return ns as usize;
    }
    let exp = (63 - ns.leading_zeros()).min(LATENCY_EXP_MAX - 1);
    let sub = if exp == LATENCY_EXP_MAX - 1 && ns >> exp > 1 {
        SUB_BUCKETS - 1
    } else {
        (ns >> (exp - 2)) & (SUB_BUCKETS - 1)
    };
    (SUB_BUCKETS + u64::from(exp - 2) * SUB_BUCKETS + sub) as usize
}

/// The upper edge (exclusive) of bucket `b`, in ns.
pub fn bucket_upper_ns(b: usize) -> u64 {
    let b = b as u64;
    if b < SUB_BUCKETS {
        return b + 1;
    }
    let exp = (b - SUB_BUCKETS) / SUB_BUCKETS + 2;
    let sub = (b - SUB_BUCKETS) % SUB_BUCKETS;
    (SUB_BUCKETS + sub + 1) << (exp - 2)
}

/// Commands the per-command statistics have room for: more than the command table holds (a
/// test in `cmd` checks it), so [`crate::shared`] can size them without reaching up into the
/// command layer.
pub const COMMANDS_MAX: usize = 512;

/// Per-command counters, striped (see the module docs). Commands are numbered by
/// [`crate::cmd::index_of`].
pub struct CommandStats {
    commands: usize,
    /// A stripe's table is allocated when a thread on it first records something, and each
    /// command's slot in it when that command is first recorded there: memory follows the
    /// commands each thread runs (a GET/SET load on all 32 stripes: 32 × (8 KiB + 2 × 1 144 B)
    /// ≈ 330 KiB), not
    /// stripes × commands (18 MiB).
    stripes: [CachePadded<OnceLock<Box<[StripeSlot]>>>; COUNTER_STRIPES],
    /// Sums at the last CONFIG RESETSTAT, per command (empty: never reset).
    base: Mutex<Vec<Raw>>,
}

/// What INFO prints for one command, summed over the stripes.
#[derive(Clone, Debug, Default)]
pub struct CmdTotals {
    pub calls: u64,
    pub usec: u64,
    pub rejected: u64,
    pub failed: u64,
    pub hist: Vec<u64>,
}

impl CmdTotals {
    /// The duration (µs, upper bucket edge) under which `pct` percent of calls finished.
    pub fn percentile_us(&self, pct: f64) -> f64 {
        let rank = ((pct / 100.0) * self.calls as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (b, n) in self.hist.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return bucket_upper_ns(b) as f64 / 1000.0;
            }
        }
        0.0
    }
}

impl CommandStats {
    /// Counters for `commands` commands (indexes `0..commands`).
    pub fn new(commands: usize) -> Self {
        CommandStats {
            commands,
            stripes: std::array::from_fn(|_| CachePadded::new(OnceLock::new())),
            base: Mutex::new(Vec::new()),
        }
    }

    /// Bytes the allocated stripe tables and slots take (MEMORY STATS counts them as
    /// overhead): at most [`COUNTER_STRIPES`] tables, one slot per command recorded on each.
    pub fn allocated_bytes(&self) -> usize {
        self.stripes
            .iter()
            .filter_map(|s| s.get())
            .map(|slots| {
                let used = slots.iter().filter(|s| s.get().is_some()).count();
                std::mem::size_of_val(&**slots) + used * std::mem::size_of::<CmdSlot>()
            })
            .sum()
    }

    fn slot(&self, cmd: usize) -> Option<(&CmdSlot, Stripe)> {
        if cmd >= self.commands {
            return None;
        }
        let stripe = this_stripe();
        let slots = self.stripes[stripe.index()].get_or_init(|| (0..self.commands).map(|_| OnceLock::new()).collect());
        Some((slots[cmd].get_or_init(Box::default), stripe))
    }

    /// A call of command `cmd` that ran for `ns` nanoseconds (`failed`: it replied an error).
    #[inline]
    pub fn record(&self, cmd: usize, ns: u64, failed: bool) {
        self.record_calls(cmd, 1, ns, failed);
    }

    /// `calls` calls of command `cmd` that took `ns_each` nanoseconds each (a run's share,
    /// see [`crate::cmd::timing`]); `failed`: they replied an error.
    pub fn record_calls(&self, cmd: usize, calls: u64, ns_each: u64, failed: bool) {
        if let Some((slot, stripe)) = self.slot(cmd) {
            add(&slot.ns, ns_each.wrapping_mul(calls), stripe, Relaxed);
            add(&slot.hist[bucket_of(ns_each)], calls, stripe, Relaxed);
            if failed {
                add(&slot.failed, calls, stripe, Relaxed);
            }
        }
    }

    /// Command `cmd` was refused before running (arity, auth, context).
    pub fn reject(&self, cmd: usize) {
        if let Some((slot, stripe)) = self.slot(cmd) {
            add(&slot.rejected, 1, stripe, Relaxed);
        }
    }

    /// Command `cmd`'s counters summed over the stripes, since the last reset.
    pub fn totals(&self, cmd: usize) -> CmdTotals {
        let mut t = self.raw(cmd);
        if let Some(base) = self.base.lock().unwrap_or_else(|e| e.into_inner()).get(cmd) {
            t.ns = t.ns.wrapping_sub(base.ns);
            t.failed = t.failed.wrapping_sub(base.failed);
            t.rejected = t.rejected.wrapping_sub(base.rejected);
            for (n, b) in t.hist.iter_mut().zip(&base.hist) {
                *n = n.wrapping_sub(*b);
            }
        }
        CmdTotals {
            calls: t.hist.iter().fold(0u64, |a, n| a.wrapping_add(*n)),
            usec: t.ns / 1000,
            rejected: t.rejected,
            failed: t.failed,
            hist: t.hist,
        }
    }

    /// Command `cmd`'s counters summed over the stripes, ever (resets not subtracted).
    fn raw(&self, cmd: usize) -> Raw {
        let mut t = Raw { hist: vec![0; LATENCY_BUCKETS], ..Default::default() };
        if cmd >= self.commands {
            return t;
        }
        for slot in self.stripes.iter().filter_map(|s| s.get()).filter_map(|slots| slots[cmd].get()) {
            t.ns = t.ns.wrapping_add(slot.ns.load(Relaxed));
            t.failed = t.failed.wrapping_add(slot.failed.load(Relaxed));
            t.rejected = t.rejected.wrapping_add(slot.rejected.load(Relaxed));
            for (sum, n) in t.hist.iter_mut().zip(slot.hist.iter()) {
                *sum = sum.wrapping_add(n.load(Relaxed));
            }
        }
        t
    }

    /// Zero everything (CONFIG RESETSTAT). The slots are not written (their owning threads
    /// write them without atomic adds, see [`crate::counter`]): the current sums become the
    /// base that [`CommandStats::totals`] subtracts.
    pub fn reset(&self) {
        let base = (0..self.commands).map(|cmd| self.raw(cmd)).collect();
        *self.base.lock().unwrap_or_else(|e| e.into_inner()) = base;
    }
}

/// One command's sums over the stripes.
#[derive(Default)]
struct Raw {
    ns: u64,
    failed: u64,
    rejected: u64,
    hist: Vec<u64>,
}

/// Error replies: the total and a count per prefix (the reply's first word).
#[derive(Default)]
pub struct ErrorStats {
    pub total: StripedCounter,
    by_prefix: Mutex<Vec<(Box<str>, u64)>>,
}

impl ErrorStats {
    /// Count the error reply `reply` (starting with `-`, as written on the wire).
    pub fn record(&self, reply: &[u8]) {
        self.total.fetch_add(1, Relaxed);
        let text = reply.strip_prefix(b"-").unwrap_or(reply);
        let end = text.iter().position(|&b| b == b' ' || b == b'\r').unwrap_or(text.len());
        let prefix = String::from_utf8_lossy(&text[..end.min(ERROR_PREFIX_BYTES_MAX)]);
        let mut map = self.by_prefix.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = map.iter_mut().find(|(p, _)| **p == *prefix) {
            entry.1 += 1;
        } else if map.len() < ERROR_PREFIXES_MAX {
            map.push((prefix.into(), 1));
        }
    }

    /// Every prefix with its count, in first-seen order.
    pub fn counts(&self) -> Vec<(Box<str>, u64)> {
        self.by_prefix.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn reset(&self) {
        self.total.reset();
        self.by_prefix.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// Redis's instantaneous metrics: a ring of the last [`INST_SAMPLES`] per-second rates of a
/// counter, sampled on a timer; the metric is their mean.
#[derive(Default)]
pub struct Instantaneous {
    ring: Mutex<InstRing>,
}

#[derive(Default)]
struct InstRing {
    last: Option<(std::time::Instant, u64)>,
    rates: [f64; INST_SAMPLES],
    next: usize,
}

impl Instantaneous {
    /// Record the counter's `value` at `now`.
    pub fn sample(&self, now: std::time::Instant, value: u64) {
        let mut r = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((then, old)) = r.last {
            let secs = now.duration_since(then).as_secs_f64();
            if secs > 0.0 {
                let i = r.next;
                r.rates[i] = value.saturating_sub(old) as f64 / secs;
                r.next = (i + 1) % INST_SAMPLES;
            }
        }
        r.last = Some((now, value));
    }

    /// The mean rate per second over the ring.
    pub fn per_sec(&self) -> f64 {
        let r = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        r.rates.iter().sum::<f64>() / INST_SAMPLES as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_contain_their_values() {
        let mut last = 0;
        for ns in (0..5000u64).chain([1 << 20, (1 << 30) + 7, 1 << 35, u64::MAX]) {
            let b = bucket_of(ns);
            assert!(b < LATENCY_BUCKETS, "{ns}");
            assert!(b >= last, "{ns}");
            last = b;
            if ns < 1 << (LATENCY_EXP_MAX - 1) {
                assert!(ns < bucket_upper_ns(b), "{ns} below the upper edge of bucket {b}");
                assert!(b == 0 || ns >= bucket_upper_ns(b - 1), "{ns} above the edge of bucket {}", b - 1);
            }
        }
    }

    #[test]
    fn totals_sum_stripes_and_percentiles_follow_the_histogram() {
        let stats = CommandStats::new(3);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for i in 0..100u64 {
                        stats.record(1, if i < 98 { 1_000 } else { 1_000_000 }, i == 0);
                    }
                });
            }
        });
        stats.reject(1);
        stats.record(7, 5, false); // out of range: ignored
        let t = stats.totals(1);
        assert_eq!((t.calls, t.failed, t.rejected), (400, 4, 1));
        assert_eq!(t.usec, (392 * 1_000 + 8 * 1_000_000) / 1000);
        let p50 = t.percentile_us(50.0);
        assert!((1.0..=1.25).contains(&p50), "{p50}");
        let p999 = t.percentile_us(99.9);
        assert!((1000.0..=1250.0).contains(&p999), "{p999}");
        assert_eq!(stats.totals(0).calls, 0);
        stats.reset();
        assert_eq!(stats.totals(1).calls, 0);
    }

    #[test]
    fn memory_follows_the_commands_recorded() {
        let stats = CommandStats::new(COMMANDS_MAX);
        assert_eq!(stats.allocated_bytes(), 0);
        let table = COMMANDS_MAX * std::mem::size_of::<StripeSlot>();
        let slot = std::mem::size_of::<CmdSlot>();
        std::thread::scope(|s| {
            s.spawn(|| {
                stats.record(3, 10, false);
                assert_eq!(stats.allocated_bytes(), table + slot);
                stats.record(3, 10, false);
                stats.reject(3);
                assert_eq!(stats.allocated_bytes(), table + slot, "same command, same slot");
                stats.record(400, 10, false);
                assert_eq!(stats.allocated_bytes(), table + 2 * slot);
            });
        });
        std::thread::scope(|s| {
            s.spawn(|| {
                let before = stats.allocated_bytes();
                stats.record(3, 10, false);
                // A new thread may get the stripe the first one gave back (slot already there),
                // or another one (a table and a slot).
                let grew = stats.allocated_bytes() - before;
                assert!(grew == 0 || grew == table + slot, "{grew}");
            });
        });
        assert_eq!(stats.totals(3).calls, 3);
        assert_eq!(stats.totals(3).rejected, 1);
        assert_eq!(stats.totals(400).calls, 1);
        assert!(stats.allocated_bytes() < 2 * (table + 2 * slot));
    }

    #[test]
    fn errors_count_by_prefix() {
        let e = ErrorStats::default();
        e.record(b"-ERR unknown command\r\n");
        e.record(b"-WRONGTYPE Operation\r\n");
        e.record(b"-ERR syntax\r\n");
        assert_eq!(e.total.load(Relaxed), 3);
        assert_eq!(e.counts(), vec![("ERR".into(), 2), ("WRONGTYPE".into(), 1)]);
        for i in 0..ERROR_PREFIXES_MAX * 2 {
            e.record(format!("-E{i} x\r\n").as_bytes());
        }
        assert_eq!(e.counts().len(), ERROR_PREFIXES_MAX);
    }

    #[test]
    fn instantaneous_is_the_mean_of_the_ring() {
        let m = Instantaneous::default();
        let t0 = std::time::Instant::now();
        for i in 0..=INST_SAMPLES as u64 {
            m.sample(t0 + std::time::Duration::from_millis(100 * i), 10 * i);
        }
        assert!((m.per_sec() - 100.0).abs() < 1e-6, "{}", m.per_sec());
    }
}
