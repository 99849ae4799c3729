//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH, with Redis 7.0's semantics.
//!
//! Queueing happens centrally: once a client is inside MULTI, [`super::execute`] still looks
//! the command up and checks arity and auth (a failure there "flags" the transaction, as
//! Redis's `flagTransaction`, and EXEC then answers EXECABORT), then hands it to
//! [`queue_or_run`]: EXEC, DISCARD, MULTI, WATCH, QUIT and RESET run at once, commands Redis
//! marks `no-multi` are refused, everything else is copied into the client's queue (its
//! arguments must outlive the receive buffer) and answered `+QUEUED`. The queue is bounded
//! by [`QUEUE_COMMANDS_MAX`] and [`QUEUE_BYTES_MAX`]; going past either refuses the command
//! and flags the transaction.
//!
//! EXEC runs the queue inside [`Isolation::exclusive`](crate::exclusive::Isolation::exclusive)
//! (see [`crate::exclusive`] for why and what it costs): no command of any other client runs
//! until the last queued command's reply is written, so nobody observes a partial
//! transaction. Runtime errors of queued commands are ordinary replies inside EXEC's array.
//! The time used for expiry is read once, after the exclusive section began, and is the same
//! for every queued command (Redis fixes the time during EXEC too).
//!
//! WATCH registers the client's dirty flag with the store (see [`crate::store::Watches`]);
//! every modification of a watched key sets it. EXEC checks it under the exclusive section
//! (expired watched keys count as modified), so between the check and the last queued command
//! no other client can change anything.

use std::ops::Range;

use super::{Command, Ctx};
use super::{ALLOW_BUSY, FAST, LOADING, NOSCRIPT, SKIP_SLOWLOG, STALE};
use crate::protocol::Argv;
use crate::reply;
use crate::store::Watches;

/// Most commands one transaction may queue. Each queued command later runs while every other
/// client waits, so this bounds how long one EXEC can stall the server (and the size of its
/// reply array); 100k simple commands run in tens of milliseconds.
pub const QUEUE_COMMANDS_MAX: usize = 100_000;
/// Most bytes one transaction's queue may hold: argument bytes plus per-argument and
/// per-command bookkeeping. Queued arguments are copies, so this bounds the memory a client
/// can pin between MULTI and EXEC.
pub const QUEUE_BYTES_MAX: usize = 128 << 20;
/// After EXEC/DISCARD, queue buffers bigger than this are freed rather than kept for reuse.
const QUEUE_RETAIN_BYTES: usize = 64 * 1024;

/// Commands that run at once inside MULTI instead of being queued (Redis's processCommand).
const RUN_AT_ONCE: &[&str] = &["exec", "discard", "multi", "watch", "quit", "exit", "reset"];

const ERR_EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";
const ERR_NOT_IN_MULTI: &str = "ERR Command not allowed inside a transaction";

/// Flags as Redis 7.0's: EXEC is `skip_slowlog` (its queued commands are logged one by one).
pub const COMMANDS: &[Command] = &[
    Command {
        name: "multi",
        arity: 1,
        flags: NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        keys: (0, 0, 0),
        handler: multi,
    },
    Command {
        name: "exec",
        arity: 1,
        flags: NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG,
        keys: (0, 0, 0),
        handler: exec,
    },
    Command {
        name: "discard",
        arity: 1,
        flags: NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        keys: (0, 0, 0),
        handler: discard,
    },
    Command {
        name: "watch",
        arity: -2,
        flags: NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        keys: (1, -1, 1),
        handler: watch,
    },
    Command {
        name: "unwatch",
        arity: 1,
        flags: NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        keys: (0, 0, 0),
        handler: unwatch,
    },
];

/// Documentation of this family's commands (see [`super::Doc`]).
pub const DOCS: &[super::Doc] = &[
    super::Doc {
        name: "multi",
        group: "transactions",
        since: "1.2.0",
        summary: "Start queueing commands to run later as one isolated, all-or-nothing batch.",
        syntax: "",
    },
    super::Doc {
        name: "exec",
        group: "transactions",
        since: "1.2.0",
        summary: "Run the queued commands in isolation and return their replies as one array.",
        syntax: "",
    },
    super::Doc {
        name: "discard",
        group: "transactions",
        since: "2.0.0",
        summary: "Drop the queued commands, leave the transaction and forget watched keys.",
        syntax: "",
    },
    super::Doc {
        name: "watch",
        group: "transactions",
        since: "2.2.0",
        summary: "Make the next EXEC fail if any of these keys is modified before it runs.",
        syntax: "key [key ...]",
    },
    super::Doc {
        name: "unwatch",
        group: "transactions",
        since: "2.2.0",
        summary: "Forget every key this connection watches.",
        syntax: "",
    },
];

/// One queued command: its table row and its arguments' slots in [`Queue::ranges`].
struct Queued {
    cmd: &'static Command,
    args: Range<usize>,
}

/// Queued commands with copies of their arguments.
#[derive(Default)]
struct Queue {
    commands: Vec<Queued>,
    /// Every queued argument's bytes, back to back.
    bytes: Vec<u8>,
    /// Each argument's range in `bytes`.
    ranges: Vec<Range<usize>>,
}

impl Queue {
    /// Bytes this queue accounts for against [`QUEUE_BYTES_MAX`].
    fn footprint(&self) -> usize {
        self.bytes.len()
            + self.ranges.len() * std::mem::size_of::<Range<usize>>()
            + self.commands.len() * std::mem::size_of::<Queued>()
    }

    /// Copy `argv` in; false (nothing queued) if a limit would be passed.
    fn push(&mut self, cmd: &'static Command, argv: Argv<'_>) -> bool {
        let arg_bytes: usize = argv.iter().map(<[u8]>::len).sum();
        let added = arg_bytes + argv.len() * std::mem::size_of::<Range<usize>>() + std::mem::size_of::<Queued>();
        if self.commands.len() >= QUEUE_COMMANDS_MAX || self.footprint() + added > QUEUE_BYTES_MAX {
            return false;
        }
        let first = self.ranges.len();
        for arg in argv.iter() {
            let start = self.bytes.len();
            self.bytes.extend_from_slice(arg);
            self.ranges.push(start..self.bytes.len());
        }
        self.commands.push(Queued { cmd, args: first..self.ranges.len() });
        true
    }

    /// Empty the queue, keeping small buffers for the next transaction.
    fn clear(&mut self) {
        if self.footprint() > QUEUE_RETAIN_BYTES {
            *self = Queue::default();
        } else {
            self.commands.clear();
            self.bytes.clear();
            self.ranges.clear();
        }
    }
}

/// A client's transaction state: inside MULTI or not, the queue, and its watched keys.
#[derive(Default)]
pub struct Transaction {
    /// Between MULTI and EXEC/DISCARD.
    active: bool,
    /// A command was refused while queueing: EXEC answers EXECABORT.
    aborted: bool,
    queue: Queue,
    watches: Watches,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("active", &self.active)
            .field("aborted", &self.aborted)
            .field("queued", &self.queue.commands.len())
            .field("watches", &self.watches)
            .finish()
    }
}

impl Transaction {
    /// True between MULTI and EXEC/DISCARD.
    #[inline]
    pub fn in_multi(&self) -> bool {
        self.active
    }

    /// A command was refused before it could be queued (unknown, wrong arity, no auth, ...):
    /// inside MULTI this makes EXEC fail with EXECABORT (Redis's flagTransaction).
    #[inline]
    pub fn reject(&mut self) {
        if self.active {
            self.aborted = true;
        }
    }

    /// Number of commands queued.
    pub fn queued(&self) -> usize {
        self.queue.commands.len()
    }

    /// Keys watched.
    pub fn watched(&self) -> usize {
        self.watches.len()
    }

    /// Leave MULTI, drop the queue and unwatch everything (DISCARD, EXEC, RESET).
    pub fn reset(&mut self) {
        self.active = false;
        self.aborted = false;
        self.queue.clear();
        self.watches.clear();
    }
}

/// Inside MULTI: run `cmd` at once if Redis does, otherwise queue it (or refuse it).
/// Called by [`super::execute`] without a read side of the isolation lock held, so EXEC can
/// take the exclusive side.
pub(super) fn queue_or_run(ctx: &mut Ctx<'_>, cmd: &'static Command, argv: Argv<'_>) {
    if RUN_AT_ONCE.contains(&cmd.name) {
        return super::call(ctx, cmd, argv);
    }
    // Redis checks a subcommand's name and arity when it queues (its command table holds
    // them): an error there aborts the transaction as any queueing error does.
    if argv.len() >= 2
        && super::meta::subcommand_docs(cmd.name).next().is_some()
        && super::subcommand(ctx, argv, cmd.name).is_none()
    {
        ctx.client.tx.reject();
        return;
    }
    let tx = &mut ctx.client.tx;
    // Flagged `no_multi` (SHUTDOWN, SAVE): refused inside MULTI, the transaction flagged.
    if cmd.flags & super::NO_MULTI != 0 {
        tx.reject();
        return ctx.error(ERR_NOT_IN_MULTI);
    }
    if !tx.queue.push(cmd, argv) {
        tx.reject();
        let msg = format!(
            "ERR Transaction queue limit reached ({QUEUE_COMMANDS_MAX} commands, {QUEUE_BYTES_MAX} bytes); EXEC will discard the transaction"
        );
        return ctx.error(&msg);
    }
    reply::simple(ctx.out, b"QUEUED");
}

/// MULTI
fn multi(ctx: &mut Ctx<'_>, _argv: Argv<'_>) {
    if ctx.client.tx.active {
        return ctx.error("ERR MULTI calls can not be nested");
    }
    ctx.client.tx.active = true;
    ctx.ok();
}

/// DISCARD
fn discard(ctx: &mut Ctx<'_>, _argv: Argv<'_>) {
    if !ctx.client.tx.active {
        return ctx.error("ERR DISCARD without MULTI");
    }
    ctx.client.tx.reset();
    ctx.ok();
}

/// EXEC
fn exec(ctx: &mut Ctx<'_>, _argv: Argv<'_>) {
    let tx = &mut ctx.client.tx;
    if !tx.active {
        return ctx.error("ERR EXEC without MULTI");
    }
    if tx.aborted {
        tx.reset();
        return ctx.error(ERR_EXECABORT);
    }
    let queue = std::mem::take(&mut tx.queue);
    let shared = ctx.shared;
    // Never with a read side held: queue_or_run runs EXEC without one.
    let exclusive = shared.isolation.exclusive();
    ctx.now_ms = crate::store::now_ms();
    let tx = &mut ctx.client.tx;
    let clean = tx.watches.is_empty() || shared.store.watches_clean(&tx.watches, ctx.now_ms);
    tx.active = false;
    tx.watches.clear();
    if clean {
        reply::array(ctx.out, queue.commands.len());
        // Blocking commands act as their non-blocking forms inside a transaction.
        ctx.client.cannot_block = true;
        for queued in &queue.commands {
            let argv = Argv::from_parts(&queue.bytes, &queue.ranges[queued.args.clone()]);
            super::call(ctx, queued.cmd, argv); // each queued command is slow-logged on its own
        }
        ctx.client.cannot_block = false;
    } else {
        reply::null_array(ctx.out);
    }
    drop(exclusive);
    let tx = &mut ctx.client.tx;
    tx.queue = queue;
    tx.reset();
}

/// WATCH key [key ...]
fn watch(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let (shared, db, now) = (ctx.shared, ctx.client.db, ctx.now_ms);
    let tx = &mut ctx.client.tx;
    if tx.active {
        return ctx.error("ERR WATCH inside MULTI is not allowed");
    }
    // As Redis: no point in watching more once a watched key changed.
    if !tx.watches.is_dirty() {
        for key in argv.iter().skip(1) {
            shared.store.watch(&mut tx.watches, db, key, now);
        }
    }
    ctx.ok();
}

/// UNWATCH
fn unwatch(ctx: &mut Ctx<'_>, _argv: Argv<'_>) {
    ctx.client.tx.watches.clear();
    ctx.ok();
}

#[cfg(test)]
mod tests {
    use super::super::{run_for_test, run_for_test_in, ClientState};
    use super::*;
    use crate::config::Config;
    use crate::reply::Proto;
    use crate::shared::Shared;
    use clap::Parser as _;

    fn shared() -> Shared {
        Shared::new(Config::parse_from(["ringkv-server"]))
    }

    /// Run each command in turn as `client`; the replies, concatenated, as text.
    fn run(shared: &Shared, client: &mut ClientState, cmds: &[&[&str]]) -> String {
        let mut out = Vec::new();
        for args in cmds {
            let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            out.extend(run_for_test(shared, client, &args));
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn queued_commands_run_at_exec_with_runtime_errors_inline() {
        // Replies and error texts as Redis 7.0 gives them.
        let s = shared();
        let mut c = ClientState::new(&s);
        let out = run(&s, &mut c, &[&["MULTI"], &["INCR", "a"], &["SET", "b", "x"], &["INCR", "b"], &["GET", "a"]]);
        assert_eq!(out, "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n");
        assert_eq!(run(&s, &mut ClientState::new(&s), &[&["GET", "a"]]), "$-1\r\n", "nothing ran before EXEC");
        let out = run(&s, &mut c, &[&["EXEC"]]);
        assert_eq!(out, "*4\r\n:1\r\n+OK\r\n-ERR value is not an integer or out of range\r\n$1\r\n1\r\n");
        assert!(!c.tx.in_multi());
        assert_eq!(c.tx.queued(), 0);
    }

    #[test]
    fn errors_outside_and_nested() {
        let s = shared();
        let mut c = ClientState::new(&s);
        let out = run(&s, &mut c, &[&["EXEC"], &["DISCARD"], &["MULTI"], &["MULTI"], &["WATCH", "k"], &["EXEC"]]);
        assert_eq!(
            out,
            "-ERR EXEC without MULTI\r\n-ERR DISCARD without MULTI\r\n+OK\r\n-ERR MULTI calls can not be nested\r\n\
             -ERR WATCH inside MULTI is not allowed\r\n*0\r\n"
        );
    }

    #[test]
    fn subcommand_errors_abort_exec_as_in_redis() {
        // Found by scripts/redis-diff; replies captured from redis-server 7.0.15.
        let s = shared();
        let mut c = ClientState::new(&s);
        let mut r = |line: &str| run(&s, &mut c, &[&line.split(' ').collect::<Vec<_>>()]);
        let out = r("MULTI") + &r("CLIENT NO-EVICT") + &r("EXEC");
        assert_eq!(
            out,
            "+OK\r\n-ERR wrong number of arguments for 'client|no-evict' command\r\n\
             -EXECABORT Transaction discarded because of previous errors.\r\n"
        );
        let out = r("MULTI") + &r("CONFIG NOPE") + &r("EXEC");
        assert_eq!(
            out,
            "+OK\r\n-ERR unknown subcommand 'NOPE'. Try CONFIG HELP.\r\n\
             -EXECABORT Transaction discarded because of previous errors.\r\n"
        );
        let out = r("MULTI") + &r("CLIENT GETNAME") + &r("EXEC");
        assert_eq!(out, "+OK\r\n+QUEUED\r\n*1\r\n$-1\r\n");
    }

    #[test]
    fn queueing_errors_abort_exec() {
        // Unknown command and wrong arity flag the transaction; nothing queued runs.
        let s = shared();
        let mut c = ClientState::new(&s);
        let out =
            run(&s, &mut c, &[&["MULTI"], &["SET", "x", "1"], &["NOSUCH", "a"], &["GET"], &["EXEC"], &["GET", "x"]]);
        assert_eq!(
            out,
            "+OK\r\n+QUEUED\r\n-ERR unknown command 'NOSUCH', with args beginning with: 'a' \r\n\
             -ERR wrong number of arguments for 'get' command\r\n\
             -EXECABORT Transaction discarded because of previous errors.\r\n$-1\r\n"
        );
        // A no-multi command is refused too.
        let out = run(&s, &mut c, &[&["MULTI"], &["SAVE"], &["EXEC"]]);
        let out2 = run(&s, &mut c, &[&["MULTI"], &["SHUTDOWN"], &["EXEC"]]);
        // SAVE/SHUTDOWN may not exist in this build: then they are unknown commands; either
        // way EXEC aborts.
        assert!(out.ends_with("-EXECABORT Transaction discarded because of previous errors.\r\n"), "{out}");
        assert!(out2.ends_with("-EXECABORT Transaction discarded because of previous errors.\r\n"), "{out2}");
        assert!(!c.tx.in_multi());
    }

    #[test]
    fn a_refused_exec_discards_the_transaction_as_redis() {
        // Redis 7.0's execCommandAbort: EXEC refused before it runs (here: wrong arity),
        // inside MULTI or not, answers EXECABORT and ends the transaction and its watches.
        let s = shared();
        let mut c = ClientState::new(&s);
        let abort = "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n";
        let out = run(
            &s,
            &mut c,
            &[&["WATCH", "w"], &["MULTI"], &["SET", "a", "1"], &["EXEC", "x"], &["EXEC"], &["GET", "a"]],
        );
        assert_eq!(out, format!("+OK\r\n+OK\r\n+QUEUED\r\n{abort}-ERR EXEC without MULTI\r\n$-1\r\n"));
        assert_eq!(c.tx.watched(), 0);
        assert_eq!(s.store.watched_keys(), 0);
        assert_eq!(run(&s, &mut c, &[&["EXEC", "x"]]), abort, "outside MULTI too");
    }

    #[test]
    fn discard_drops_queue_and_watches() {
        let s = shared();
        let mut c = ClientState::new(&s);
        let out = run(&s, &mut c, &[&["WATCH", "w"], &["MULTI"], &["SET", "x", "1"], &["DISCARD"], &["GET", "x"]]);
        assert_eq!(out, "+OK\r\n+OK\r\n+QUEUED\r\n+OK\r\n$-1\r\n");
        assert_eq!(c.tx.watched(), 0);
        assert_eq!(s.store.watched_keys(), 0);
    }

    #[test]
    fn select_inside_multi_applies_at_exec() {
        let s = shared();
        let mut c = ClientState::new(&s);
        let out = run(&s, &mut c, &[&["MULTI"], &["SELECT", "3"], &["SET", "q", "1"], &["EXEC"]]);
        assert_eq!(out, "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n+OK\r\n");
        assert_eq!(c.db, 3);
        assert_eq!(run(&s, &mut c, &[&["GET", "q"]]), "$1\r\n1\r\n");
    }

    #[test]
    fn watch_dirty_gives_null_array_in_both_protocols() {
        let s = shared();
        for (proto, null) in [(Proto::Resp2, "*-1\r\n"), (Proto::Resp3, "_\r\n")] {
            let mut c = ClientState::new(&s);
            let mut other = ClientState::new(&s);
            run(&s, &mut c, &[&["WATCH", "w"], &["MULTI"], &["SET", "x", "1"]]);
            run(&s, &mut other, &[&["SET", "w", "2"]]);
            let out = run_for_test_in(&s, &mut c, proto, &[b"EXEC"]);
            assert_eq!(String::from_utf8_lossy(&out), null);
            assert_eq!(run(&s, &mut c, &[&["EXISTS", "x"]]), ":0\r\n");
            assert_eq!(s.store.watched_keys(), 0, "EXEC unwatches");
        }
    }

    #[test]
    fn watch_is_not_invalidated_by_reads_or_failed_writes() {
        let s = shared();
        let mut c = ClientState::new(&s);
        let mut other = ClientState::new(&s);
        run(&s, &mut other, &[&["SET", "w", "text"]]);
        run(&s, &mut c, &[&["WATCH", "w", "absent"]]);
        run(&s, &mut other, &[&["GET", "w"], &["INCR", "w"], &["EXISTS", "absent"], &["TTL", "w"], &["SET", "z", "1"]]);
        assert_eq!(run(&s, &mut c, &[&["MULTI"], &["EXEC"]]), "+OK\r\n*0\r\n");
    }

    #[test]
    fn every_kind_of_modification_invalidates_watch() {
        // Each modification from another client makes EXEC fail; nothing else does.
        let cases: &[&[&[&str]]] = &[
            &[&["SET", "w", "2"]],
            &[&["DEL", "w"]],
            &[&["APPEND", "w", "x"]],
            &[&["INCR", "n"]],
            &[&["SETRANGE", "w", "0", "z"]],
            &[&["SETBIT", "w", "1", "1"]],
            &[&["EXPIRE", "w", "100"]],
            &[&["RENAME", "w", "other"]],
            &[&["RENAME", "v", "w"]],
            &[&["COPY", "v", "w", "REPLACE"]],
            &[&["MOVE", "w", "1"]],
            &[&["FLUSHDB"]],
            &[&["FLUSHALL"]],
            &[&["MSET", "a", "1", "w", "3"]],
        ];
        for case in cases {
            let s = shared();
            let mut setup = ClientState::new(&s);
            run(&s, &mut setup, &[&["SET", "w", "1"], &["SET", "v", "1"], &["SET", "n", "5"]]);
            let mut c = ClientState::new(&s);
            run(&s, &mut c, &[&["WATCH", "w", "n"], &["MULTI"], &["SET", "done", "1"]]);
            let mut other = ClientState::new(&s);
            run(&s, &mut other, case);
            assert_eq!(run(&s, &mut c, &[&["EXEC"]]), "*-1\r\n", "{case:?}");
        }
    }

    #[test]
    fn collection_writes_invalidate_watch_and_reads_do_not() {
        // Each write to a collection from another client fails the EXEC (moves touch both
        // keys); reads of the same keys do not.
        let writes: &[&[&str]] = &[
            &["HSET", "h", "f", "2"],
            &["HDEL", "h", "f"],
            &["RPUSH", "l", "x"],
            &["LPOP", "l"],
            &["LMOVE", "l", "l2", "LEFT", "LEFT"],
            &["SADD", "s", "n"],
            &["SMOVE", "s", "s2", "m"],
            &["ZADD", "z", "5", "m"],
            &["ZINCRBY", "z", "1", "m"],
        ];
        let setup: &[&[&str]] =
            &[&["HSET", "h", "f", "1"], &["RPUSH", "l", "a"], &["SADD", "s", "m"], &["ZADD", "z", "1", "m"]];
        for write in writes {
            let s = shared();
            run(&s, &mut ClientState::new(&s), setup);
            let mut c = ClientState::new(&s);
            run(&s, &mut c, &[&["WATCH", "h", "l", "s", "z"], &["MULTI"], &["SET", "done", "1"]]);
            run(&s, &mut ClientState::new(&s), &[write]);
            assert_eq!(run(&s, &mut c, &[&["EXEC"]]), "*-1\r\n", "{write:?}");
        }
        let s = shared();
        run(&s, &mut ClientState::new(&s), setup);
        let mut c = ClientState::new(&s);
        run(&s, &mut c, &[&["WATCH", "h", "l", "s", "z"]]);
        let reads: &[&[&str]] = &[
            &["HGET", "h", "f"],
            &["HGETALL", "h"],
            &["LRANGE", "l", "0", "-1"],
            &["SMEMBERS", "s"],
            &["ZSCORE", "z", "m"],
        ];
        run(&s, &mut ClientState::new(&s), reads);
        assert_eq!(run(&s, &mut c, &[&["MULTI"], &["EXEC"]]), "+OK\r\n*0\r\n");
    }

    #[test]
    fn flush_only_invalidates_keys_that_existed() {
        let s = shared();
        let mut c = ClientState::new(&s);
        let mut other = ClientState::new(&s);
        run(&s, &mut c, &[&["WATCH", "absent"]]);
        run(&s, &mut other, &[&["FLUSHDB"]]);
        assert_eq!(run(&s, &mut c, &[&["MULTI"], &["EXEC"]]), "+OK\r\n*0\r\n");
    }

    #[test]
    fn watch_in_another_db() {
        // WATCH is per db: a write to the same name in another db does not count.
        let s = shared();
        let mut c = ClientState::new(&s);
        let mut other = ClientState::new(&s);
        run(&s, &mut c, &[&["SELECT", "2"], &["WATCH", "k"]]);
        run(&s, &mut other, &[&["SET", "k", "db0"]]);
        assert_eq!(run(&s, &mut c, &[&["MULTI"], &["EXEC"]]), "+OK\r\n*0\r\n");
        run(&s, &mut c, &[&["WATCH", "k"]]);
        run(&s, &mut other, &[&["SELECT", "2"], &["SET", "k", "db2"]]);
        assert_eq!(run(&s, &mut c, &[&["MULTI"], &["EXEC"]]), "+OK\r\n*-1\r\n");
    }

    #[test]
    fn unwatch_and_drop_release_registry_entries() {
        let s = shared();
        let mut a = ClientState::new(&s);
        let mut b = ClientState::new(&s);
        run(&s, &mut a, &[&["WATCH", "k1", "k2", "k1"]]);
        run(&s, &mut b, &[&["WATCH", "k2", "k3"]]);
        assert_eq!(a.tx.watched(), 2, "a repeated key is watched once");
        assert_eq!(s.store.watched_keys(), 3);
        run(&s, &mut a, &[&["UNWATCH"]]);
        assert_eq!(s.store.watched_keys(), 2);
        drop(b); // disconnect
        assert_eq!(s.store.watched_keys(), 0);
        // UNWATCH also clears a dirty flag.
        let mut other = ClientState::new(&s);
        run(&s, &mut a, &[&["WATCH", "k"]]);
        run(&s, &mut other, &[&["SET", "k", "1"]]);
        run(&s, &mut a, &[&["UNWATCH"]]);
        assert_eq!(run(&s, &mut a, &[&["MULTI"], &["EXEC"]]), "+OK\r\n*0\r\n");
    }

    #[test]
    fn expired_watched_key_fails_exec_but_already_expired_does_not() {
        let s = shared();
        let mut c = ClientState::new(&s);
        let mut other = ClientState::new(&s);
        run(&s, &mut other, &[&["SET", "e", "1", "PX", "30"]]);
        run(&s, &mut c, &[&["WATCH", "e"], &["MULTI"]]);
        std::thread::sleep(std::time::Duration::from_millis(60));
        assert_eq!(run(&s, &mut c, &[&["EXEC"]]), "*-1\r\n", "expired between WATCH and EXEC");
        // Watching a key that had already expired: still absent at EXEC, so EXEC runs.
        run(&s, &mut other, &[&["SET", "g", "1", "PX", "1"]]);
        std::thread::sleep(std::time::Duration::from_millis(10));
        assert_eq!(run(&s, &mut c, &[&["WATCH", "g"], &["MULTI"], &["EXEC"]]), "+OK\r\n+OK\r\n*0\r\n");
    }

    #[test]
    fn queue_limits_flag_the_transaction() {
        let s = shared();
        let mut c = ClientState::new(&s);
        run(&s, &mut c, &[&["MULTI"]]);
        for _ in 0..QUEUE_COMMANDS_MAX {
            assert_eq!(run_for_test(&s, &mut c, &[b"PING"]), b"+QUEUED\r\n");
        }
        let out = String::from_utf8(run_for_test(&s, &mut c, &[b"PING"])).unwrap();
        assert!(out.starts_with("-ERR Transaction queue limit reached"), "{out}");
        assert_eq!(run(&s, &mut c, &[&["EXEC"]]), format!("-{ERR_EXECABORT}\r\n"));
        // Bytes: two values of half the limit do not both fit.
        let half = vec![b'v'; QUEUE_BYTES_MAX / 2];
        run(&s, &mut c, &[&["MULTI"]]);
        assert_eq!(run_for_test(&s, &mut c, &[b"SET", b"a", &half]), b"+QUEUED\r\n");
        let out = String::from_utf8(run_for_test(&s, &mut c, &[b"SET", b"b", &half])).unwrap();
        assert!(out.starts_with("-ERR Transaction queue limit reached"), "{out}");
        assert_eq!(run(&s, &mut c, &[&["EXEC"], &["EXISTS", "a"]]), format!("-{ERR_EXECABORT}\r\n:0\r\n"));
    }

    #[test]
    fn quit_inside_multi_runs_at_once() {
        let s = shared();
        let mut c = ClientState::new(&s);
        assert_eq!(run(&s, &mut c, &[&["MULTI"], &["QUIT"]]), "+OK\r\n+OK\r\n");
        assert!(c.close_after_reply);
    }
}
