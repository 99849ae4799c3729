//! How commands are timed for INFO commandstats / latencystats and the slow log: one clock
//! reading per *run* of small fast commands instead of one per command.
//!
//! **Why.** Every call is timed, as Redis times every call. A reading of the clock (the TSC,
//! [`crate::clock`]) costs little in a loop but stalls the request path: measured on the
//! 2-core VM (`scripts/cpu-ab`, five alternating rounds, quiet machine), main against the
//! same build without the per-command readings, redis-benchmark GET c50 `-P 16`: server CPU
//! per request ×0.910 on uring, ×0.938 on epoll, i.e. the readings were 6–9% of the request's
//! CPU at 16-deep pipelining, more than issue 14's 3% budget for all the statistics.
//!
//! **Runs.** Consecutive commands of one batch that are cheap by construction form a run:
//! flagged `fast` (Redis's `CMD_FAST`: O(1) or O(log N), e.g. GET, INCR, HGET, SADD) or
//! [`super::RUN_TIMED`] (SET, SETEX, PSETEX, DEL: O(1) here since big old values are freed by
//! `types::lazyfree`), called in their shortest form (a fixed arity, or exactly the minimum
//! arguments of a variadic one: a 10,000-key MGET or `LPOP key 100000` is timed on its own),
//! with at most [`RUN_ARG_BYTES_MAX`] bytes of arguments. The clock is read when the run
//! starts and when it ends — at the next command that is not in a run, when the batch ends
//! ([`close`]), or after [`RUN_COMMANDS_MAX`] commands — and the run's time is split evenly
//! among its commands. Any other command is timed on its own, from the previous reading to
//! its own end (one reading per command, as before). At pipeline depth 1 a batch is one
//! command: two readings, as before.
//!
//! **What this changes in what INFO and SLOWLOG show.**
//! - `usec` (commandstats) sums are exact per run; within a mixed run (e.g. GET and INCR
//!   pipelined together), each command gets the run's average.
//! - latencystats: a command in a run counts at the run's average (its own duration is
//!   not known). Runs only hold O(1)/O(log N) commands with few arguments, whose durations
//!   are alike and sub-microsecond; Redis prints latencies at microsecond resolution.
//! - The slow log compares each command of a run with the threshold at the run's average.
//!   A fast command stalled by the machine (preempted, paging) inside a longer run may thus
//!   go unlogged. Runs are only formed while `slowlog-log-slower-than` is at least
//!   [`RUN_SLOWLOG_MIN_US`] (the default is 10,000 µs) or the log is off: an operator who
//!   asks for microsecond-level slow logging gets every command timed on its own.
//! - Parsing: as before, a command's time includes parsing it (readings are shared between
//!   neighbouring commands).

use super::{ClientState, Command, FAST, RUN_TIMED};
use crate::protocol::Argv;
use crate::shared::Shared;

/// Most commands in one run: bounds how far a run's average can stray from its commands'
/// own durations, and the run's memory in every client (2 bytes per command).
pub const RUN_COMMANDS_MAX: usize = 32;
/// Most bytes of arguments (name included) of a command that joins a run: copying a long
/// value (SET, APPEND) is timed on its own.
pub const RUN_ARG_BYTES_MAX: usize = 4096;
/// Runs are only formed while `slowlog-log-slower-than` is this many µs or more (or the
/// log is off, < 0); a lower threshold times every command on its own.
pub const RUN_SLOWLOG_MIN_US: i64 = 1000;
/// Marks a run entry whose command replied with an error.
const FAILED_BIT: u16 = 1 << 15;

/// A client's timing state: where the current reading started and the run in progress.
#[derive(Debug)]
pub struct Timing {
    /// The last clock reading ([`crate::clock::ticks`]), where the next command's (or run's)
    /// time starts; 0 = none (read the clock when a command starts).
    mark: u64,
    /// The run's commands: table index, with [`FAILED_BIT`] if it replied an error.
    run: [u16; RUN_COMMANDS_MAX],
    len: usize,
}

impl Default for Timing {
    fn default() -> Self {
        Timing { mark: 0, run: [0; RUN_COMMANDS_MAX], len: 0 }
    }
}

impl Timing {
    /// A batch of requests starts now: its first command is timed from here.
    pub fn start_batch(&mut self) {
        self.mark = crate::clock::ticks();
    }

    /// Forget the last reading (a command run outside a batch reads the clock itself).
    pub fn reset_mark(&mut self) {
        self.mark = 0;
    }

    /// Whether `cmd`, called with `argv`, joins a run (see the module docs).
    #[inline]
    pub fn joins_run(cmd: &Command, argv: Argv<'_>, slowlog_threshold_us: i64) -> bool {
        cmd.flags & (FAST | RUN_TIMED) != 0
            && (cmd.arity > 0 || argv.len() == cmd.arity.unsigned_abs() as usize)
            && !(0..RUN_SLOWLOG_MIN_US).contains(&slowlog_threshold_us)
            && argv.iter().map(<[u8]>::len).sum::<usize>() <= RUN_ARG_BYTES_MAX
    }

    /// A command that joins a run is about to run: make sure the run has a start.
    #[inline]
    pub fn run_command_starts(&mut self) {
        if self.mark == 0 {
            self.mark = crate::clock::ticks();
        }
    }

    /// A command of the run ended (`index` in the command table, `failed`: replied an
    /// error). Returns true when the run is full and must be closed.
    #[inline]
    pub fn run_command_ended(&mut self, index: usize, failed: bool) -> bool {
        let entry = index as u16 | if failed { FAILED_BIT } else { 0 };
        self.run[self.len] = entry;
        self.len += 1;
        self.len == RUN_COMMANDS_MAX
    }

    /// A command timed on its own starts: closes the run in progress, if any, and returns
    /// the reading the command's time starts from.
    pub fn own_command_starts(&mut self, ctx_close: impl FnOnce(&[u16], u64)) -> u64 {
        if self.len > 0 {
            let now = crate::clock::ticks();
            self.finish_run(now, ctx_close);
            return now;
        }
        match std::mem::take(&mut self.mark) {
            0 => crate::clock::ticks(),
            mark => mark,
        }
    }

    /// A command timed on its own ended at `end`: the next one starts there.
    pub fn own_command_ended(&mut self, end: u64) {
        self.mark = end;
    }

    /// Whether a run is in progress.
    pub fn in_run(&self) -> bool {
        self.len > 0
    }

    /// Ends the run at reading `now`: `record(entries, ns_each)` gets its commands and each
    /// one's share of the run's time. The next command starts at `now`.
    pub fn finish_run(&mut self, now: u64, record: impl FnOnce(&[u16], u64)) {
        let len = std::mem::take(&mut self.len);
        if len == 0 {
            return;
        }
        let ns = crate::clock::elapsed_ns(self.mark, now);
        self.mark = now;
        record(&self.run[..len], ns / len as u64);
    }
}

/// Command table index and failure of a run entry.
pub fn entry_parts(entry: u16) -> (usize, bool) {
    (usize::from(entry & !FAILED_BIT), entry & FAILED_BIT != 0)
}

/// Ends the client's run, if any, recording its commands (end of a batch, of a loaded
/// command, of a script job).
pub fn close(shared: &Shared, client: &mut ClientState) {
    if client.timing.in_run() {
        let now = crate::clock::ticks();
        client.timing.finish_run(now, |run, ns_each| record_run(shared, run, ns_each));
    }
}

/// Records a run's commands in INFO commandstats/latencystats at `ns_each` each,
/// consecutive entries of one command and outcome as one update.
pub fn record_run(shared: &Shared, run: &[u16], ns_each: u64) {
    let mut i = 0;
    while i < run.len() {
        let entry = run[i];
        let mut same = 1;
        while i + same < run.len() && run[i + same] == entry {
            same += 1;
        }
        let (index, failed) = entry_parts(entry);
        shared.cmdstats.record_calls(index, same as u64, ns_each, failed);
        i += same;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(flags: u32, arity: i32) -> Command {
        Command { name: "x", arity, flags, keys: (1, 1, 1), handler: |_, _| {} }
    }

    #[test]
    fn only_short_cheap_commands_join_runs_and_only_with_a_coarse_slow_log() {
        let args = |parts: &[&[u8]]| crate::store::journal::encode(parts);
        let get = args(&[b"get", b"k"]);
        let mget3 = args(&[b"mget", b"a", b"b", b"c"]);
        let long_value = vec![b'v'; RUN_ARG_BYTES_MAX];
        let set_long = args(&[b"set", b"k", &long_value]);
        let joins = |c: &Command, bytes: &[u8], threshold: i64| {
            let mut parsed = crate::protocol::Args::new();
            let limits = crate::protocol::Limits::new(u64::MAX);
            assert!(crate::protocol::Parser::new().parse(bytes, &limits, &mut parsed).is_ok());
            Timing::joins_run(c, parsed.argv(bytes), threshold)
        };
        assert!(joins(&cmd(FAST, 2), &get, 10_000));
        assert!(joins(&cmd(RUN_TIMED, 2), &get, -1), "log off");
        assert!(joins(&cmd(FAST, -2), &args(&[b"mget", b"a"]), 10_000), "shortest form");
        assert!(!joins(&cmd(FAST, -2), &mget3, 10_000), "a longer MGET");
        assert!(!joins(&cmd(0, 2), &get, 10_000), "neither fast nor run-timed");
        assert!(!joins(&cmd(FAST, 2), &get, RUN_SLOWLOG_MIN_US - 1), "fine slow log");
        assert!(!joins(&cmd(FAST, 2), &get, 0), "log everything");
        assert!(!joins(&cmd(RUN_TIMED, 3), &set_long, 10_000), "long arguments");
    }

    #[test]
    fn a_run_is_split_evenly_and_closes_when_full() {
        let mut t = Timing::default();
        t.run_command_starts();
        assert!(t.mark != 0);
        for i in 0..RUN_COMMANDS_MAX - 1 {
            assert!(!t.run_command_ended(i % 3, i == 1));
        }
        assert!(t.run_command_ended(7, false), "full");
        let start = t.mark;
        let end = start + 1_000_000;
        let mut seen = Vec::new();
        t.finish_run(end, |run, each| seen.push((run.to_vec(), each)));
        let (run, each) = &seen[0];
        assert_eq!(run.len(), RUN_COMMANDS_MAX);
        assert_eq!(entry_parts(run[1]), (1, true));
        assert_eq!(entry_parts(run[2]), (2, false));
        assert_eq!(*each, crate::clock::elapsed_ns(start, end) / RUN_COMMANDS_MAX as u64);
        assert!(!t.in_run());
        assert_eq!(t.mark, end, "the next command starts where the run ended");
    }

    #[test]
    fn an_own_command_closes_the_run_or_starts_at_the_mark() {
        let mut t = Timing::default();
        t.start_batch();
        let batch_start = t.mark;
        assert_eq!(t.own_command_starts(|_, _| panic!("no run")), batch_start);
        t.own_command_ended(batch_start + 10);
        t.run_command_starts();
        assert_eq!(t.mark, batch_start + 10, "a run starts where the last command ended");
        t.run_command_ended(5, false);
        let mut closed = 0;
        let start = t.own_command_starts(|run, _| closed += run.len());
        assert_eq!(closed, 1);
        assert!(start >= batch_start);
        t.reset_mark();
        assert!(t.own_command_starts(|_, _| {}) != 0, "no mark: reads the clock");
    }
}
