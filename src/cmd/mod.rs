//! The command layer: one table of every command (name, arity, flags, handler), central
//! arity and auth checks, and the helpers commands share (argument parsing, Redis's exact
//! error texts). Each command family lives in its own file and exports a `COMMANDS` slice;
//! this module merges them into one lookup table at first use.
//!
//! A handler gets a [`Ctx`] (shared server state, this client's state, its output buffer and
//! the time of the request) and the request's [`Argv`]; it writes exactly one reply.

use std::sync::{Arc, OnceLock};

use crate::clients::{ClientHandle, Clients, ConnInfo};
use crate::exclusive::ReadGuard;
use crate::protocol::Argv;
use crate::pubsub::PubSub;
use crate::reply;
use crate::shared::Shared;
use crate::store::journal;

pub mod bits;
pub mod blocking;
pub mod client;
pub mod command;
pub mod config;
pub mod connection;
pub mod dump;
pub mod function;
pub mod hash;
pub mod hyperloglog;
pub mod info;
pub mod key_specs;
pub mod keys;
pub mod list;
pub mod long_double;
pub mod memory;
pub mod meta;
pub mod multi;
pub mod propagate;
pub mod pubsub;
#[cfg(test)]
mod resp3_tests;
pub mod save;
pub mod script;
pub mod scripting;
pub mod server;
pub mod set;
pub mod slowlog;
pub mod sort;
pub mod strings;
pub mod syntax;
pub mod timing;
pub mod typed;
pub mod zset;
pub mod zset_algebra;
pub mod zset_range;

// Command flags, as COMMAND INFO reports them (Redis's `CMD_*`). Each family sets the ones
// that apply in its table rows; ACL categories are derived from them and the group.

/// The command may run before AUTH (AUTH, HELLO, QUIT): `no_auth`.
pub const NO_AUTH: u32 = 1 << 0;
/// The command may modify the keyspace: `write`.
pub const WRITE: u32 = 1 << 1;
/// The command only reads the keyspace: `readonly`.
pub const READONLY: u32 = 1 << 2;
/// The command may grow memory use (refused under maxmemory in Redis): `denyoom`.
pub const DENYOOM: u32 = 1 << 3;
/// An administrative command (CONFIG, SHUTDOWN, SLOWLOG...): `admin`.
pub const ADMIN: u32 = 1 << 4;
/// A pub/sub command: `pubsub`.
pub const PUBSUB: u32 = 1 << 5;
/// Not allowed from scripts: `noscript`.
pub const NOSCRIPT: u32 = 1 << 6;
/// May block the client: `blocking`.
pub const BLOCKING: u32 = 1 << 7;
/// Allowed while the server loads its data: `loading`.
pub const LOADING: u32 = 1 << 8;
/// Allowed on a replica with stale data: `stale`.
pub const STALE: u32 = 1 << 9;
/// Not shown by MONITOR: `skip_monitor`.
pub const SKIP_MONITOR: u32 = 1 << 10;
/// Never recorded in the slow log: `skip_slowlog`.
pub const SKIP_SLOWLOG: u32 = 1 << 11;
/// O(1) or O(log N), never delays the server: `fast`.
pub const FAST: u32 = 1 << 12;
/// May be replicated even though it is not a write: `may_replicate`.
pub const MAY_REPLICATE: u32 = 1 << 13;
/// Not allowed inside MULTI: `no_multi`.
pub const NO_MULTI: u32 = 1 << 14;
/// Allowed while a script runs too long: `allow_busy`.
pub const ALLOW_BUSY: u32 = 1 << 15;
/// The key positions are not fixed (numkeys, options): `movablekeys`.
pub const MOVABLE_KEYS: u32 = 1 << 16;
/// Allowed on a replica during async loading is off: `no_async_loading`.
pub const NO_ASYNC_LOADING: u32 = 1 << 17;
/// May run without any key even though it takes keys: `no_mandatory_keys`.
pub const NO_MANDATORY_KEYS: u32 = 1 << 18;
/// Sentinel also has it: `sentinel`.
pub const SENTINEL: u32 = 1 << 19;
/// ringkv's own, not printed by COMMAND INFO: not `fast` in Redis's table, but O(1) in its
/// shortest form with small arguments (SET, SETEX, PSETEX, DEL: big old values are freed by
/// `types::lazyfree`), so it may be timed in a run of fast commands ([`timing`]).
pub const RUN_TIMED: u32 = 1 << 20;
/// ringkv's own, not printed by COMMAND INFO: the command changes every shard, one after
/// another (FLUSHALL, FLUSHDB, SWAPDB). It runs under the exclusive side of the isolation lock,
/// so that no other change interleaves with it (see crate::store::journal), and its journal
/// unit is never deferred to the batch's end even when it is `fast` (SWAPDB): a thread must
/// not wait for the exclusive side while holding deferred numbers.
pub const STORE_WIDE: u32 = 1 << 21;

/// Every flag with the name COMMAND INFO prints, in Redis's order. Redis 7.0 hides
/// `may_replicate` and `sentinel` on purpose (`addReplyCommandFlags`), so they are not here.
pub const FLAG_NAMES: &[(u32, &str)] = &[
    (WRITE, "write"),
    (READONLY, "readonly"),
    (DENYOOM, "denyoom"),
    (ADMIN, "admin"),
    (PUBSUB, "pubsub"),
    (NOSCRIPT, "noscript"),
    (BLOCKING, "blocking"),
    (LOADING, "loading"),
    (STALE, "stale"),
    (SKIP_MONITOR, "skip_monitor"),
    (SKIP_SLOWLOG, "skip_slowlog"),
    (FAST, "fast"),
    (NO_AUTH, "no_auth"),
    (NO_MANDATORY_KEYS, "no_mandatory_keys"),
    (NO_ASYNC_LOADING, "no_async_loading"),
    (NO_MULTI, "no_multi"),
    (MOVABLE_KEYS, "movablekeys"),
    (ALLOW_BUSY, "allow_busy"),
];
/// Longest command name looked up (longer names cannot be commands).
const COMMAND_NAME_MAX: usize = 32;

/// A command handler. It must write exactly one reply to `ctx.out`.
pub type Handler = fn(&mut Ctx<'_>, Argv<'_>);

/// One row of the command table.
#[derive(Clone)]
pub struct Command {
    /// Lower-case name.
    pub name: &'static str,
    /// Redis arity: `n` = exactly n arguments including the name, `-n` = at least n.
    pub arity: i32,
    /// [`WRITE`], [`READONLY`], [`FAST`]... (see [`FLAG_NAMES`]).
    pub flags: u32,
    /// Position of the first key, last key (negative: from the end) and step, as COMMAND
    /// reports them (0 = no keys).
    pub keys: (i32, i32, i32),
    pub handler: Handler,
}

/// A command's documentation, for `COMMAND DOCS`, redis-cli's `help` and its argument hints.
/// Each command family exports a `DOCS` slice beside its `COMMANDS`, one row per command
/// (subcommands as `"parent|sub"`).
pub struct Doc {
    /// Lower-case name, as in the command table.
    pub name: &'static str,
    /// Redis's group: `string`, `generic`, `connection`, `server`, `list`, `hash`, `set`,
    /// `sorted-set`, `bitmap`, `hyperloglog`, `pubsub`, `transactions`, `scripting`.
    pub group: &'static str,
    /// The Redis version that introduced the command, e.g. `"1.0.0"`.
    pub since: &'static str,
    /// One line, in our own words.
    pub summary: &'static str,
    /// The arguments after the name in Redis's documentation notation, e.g.
    /// `"key value [NX | XX] [GET] [EX seconds | PX milliseconds]"`.
    pub syntax: &'static str,
}

/// CLIENT REPLY ON | OFF | SKIP, applied by the session after each command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// CLIENT REPLY SKIP was the last command: drop its reply and the next command's.
    Skip,
    /// Drop the next command's reply, then back to On.
    SkipNext,
}

impl ReplyMode {
    /// After a command ran: keep its reply (true) or drop it, and the mode that follows.
    pub fn after_command(self) -> (bool, ReplyMode) {
        match self {
            ReplyMode::On => (true, ReplyMode::On),
            ReplyMode::Off => (false, ReplyMode::Off),
            ReplyMode::Skip => (false, ReplyMode::SkipNext),
            ReplyMode::SkipNext => (false, ReplyMode::On),
        }
    }
}

/// Per-connection state commands can see and change.
pub struct ClientState {
    pub id: u64,
    /// Selected database.
    pub db: usize,
    /// True when no password is configured or AUTH succeeded.
    pub authenticated: bool,
    pub name: Option<Box<[u8]>>,
    /// QUIT: write the reply, then close.
    pub close_after_reply: bool,
    /// This connection as the rest of the server sees it (CLIENT LIST/KILL, pub/sub, the
    /// peer address SLOWLOG and MONITOR report).
    pub handle: Arc<ClientHandle>,
    /// Channels, patterns and shard channels this client is subscribed to.
    pub subs: pubsub::Subscriptions,
    /// In MONITOR mode.
    pub monitor: bool,
    clients: Arc<Clients>,
    pubsub: Arc<PubSub>,
    blocking: Arc<crate::blocking::Blocking<Shared>>,
    /// The stripe of the isolation lock this client's commands read under
    /// ([`crate::exclusive`]): `id % STRIPES` by default (threads engine); the uring and
    /// epoll engines set their worker index.
    pub stripe: usize,
    /// MULTI state: queued commands and watched keys.
    pub tx: multi::Transaction,
    /// CLIENT REPLY: whether this connection's replies are sent.
    pub reply_mode: ReplyMode,
    /// Flags of the command running now (collection commands count a `write` access as a
    /// modification for WATCH).
    pub running_flags: u32,
    /// Command timing: the last clock reading and the run of fast commands in progress
    /// ([`timing`]).
    pub timing: timing::Timing,
    /// Waiting in a blocking command (BLPOP & co.): no request runs until the wait ends.
    pub blocked: Option<Arc<crate::blocking::Waiter<Shared>>>,
    /// Blocking commands act as their non-blocking forms (inside EXEC, scripts).
    pub cannot_block: bool,
    /// The last command was postponed by CLIENT PAUSE: the session runs it again later.
    pub postponed: bool,
    /// CLIENT NO-EVICT (kept for CLIENT LIST; there is no client eviction yet).
    pub no_evict: bool,
    /// The journal number of this client's last change (see [`crate::store::journal`]):
    /// with `appendfsync always`, its reply is sent once the AOF is durable up to it.
    pub write_seq: u64,
    /// EVAL/FCALL run on the script executor with this client parked (set by event-loop
    /// engines, which hand jobs over before they sleep: see [`script::offload`]).
    pub offload_scripts: bool,
}

impl ClientState {
    /// A client on no connection (unit tests).
    pub fn new(shared: &Shared) -> Self {
        Self::for_conn(shared, ConnInfo::detached())
    }

    /// The state of a new connection, registered for CLIENT LIST and pub/sub.
    pub fn for_conn(shared: &Shared, info: ConnInfo) -> Self {
        let id = shared.next_client_id();
        let handle = shared.clients.register(id, info, crate::store::now_ms());
        ClientState {
            id,
            db: 0,
            authenticated: !shared.tunables.has_password(),
            name: None,
            close_after_reply: false,
            handle,
            subs: Default::default(),
            monitor: false,
            clients: shared.clients.clone(),
            pubsub: shared.pubsub.clone(),
            blocking: shared.blocking.clone(),
            stripe: (id % crate::exclusive::STRIPES as u64) as usize,
            tx: multi::Transaction::default(),
            reply_mode: ReplyMode::On,
            running_flags: 0,
            timing: Default::default(),
            blocked: None,
            cannot_block: false,
            postponed: false,
            no_evict: false,
            write_seq: 0,
            offload_scripts: false,
        }
    }
}

impl Drop for ClientState {
    /// A closed connection leaves every registry: subscriptions, monitors, the client list.
    fn drop(&mut self) {
        if let Some(w) = self.blocked.take() {
            self.blocking.cancel(&w);
        }
        self.subs.clear(&self.pubsub, self.id);
        self.clients.unregister(&self.handle);
    }
}

impl std::fmt::Debug for ClientState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientState").field("id", &self.id).field("db", &self.db).finish_non_exhaustive()
    }
}

/// What a command runs with.
pub struct Ctx<'a> {
    pub shared: &'a Shared,
    pub client: &'a mut ClientState,
    pub out: &'a mut reply::Out,
    /// Wall-clock time of this request in Unix ms (one reading per request).
    pub now_ms: u64,
}

impl Ctx<'_> {
    /// The selected database.
    pub fn db(&self) -> usize {
        self.client.db
    }
    pub fn error(&mut self, msg: &str) {
        reply::error(self.out, msg);
    }
    pub fn ok(&mut self) {
        reply::ok(self.out);
    }
    /// A push made `key` of `db` a non-empty list or sorted set: the one place blocked
    /// BLPOP/BZPOPMIN/... clients will be woken from (Redis's `signalKeyAsReady`). Every
    /// command that may make a list or zset non-empty calls it after the change, with the
    /// shard already unlocked. A no-op until blocking commands exist.
    pub fn key_ready(&mut self, db: usize, key: &[u8]) {
        self.shared.blocking.signal(self.shared, &self.shared.clients, db, key, self.now_ms);
    }
}

/// Every family's command table. A new family adds its `COMMANDS` here and its `DOCS` to
/// [`DOC_FAMILIES`].
const FAMILIES: &[&[Command]] = &[
    connection::COMMANDS,
    server::COMMANDS,
    command::COMMANDS,
    config::COMMANDS,
    slowlog::COMMANDS,
    strings::COMMANDS,
    keys::COMMANDS,
    dump::COMMANDS,
    save::COMMANDS,
    multi::COMMANDS,
    pubsub::COMMANDS,
    hash::COMMANDS,
    list::COMMANDS,
    set::COMMANDS,
    zset::COMMANDS,
    zset_algebra::COMMANDS,
    bits::COMMANDS,
    hyperloglog::COMMANDS,
    sort::COMMANDS,
    blocking::COMMANDS,
    memory::COMMANDS,
    scripting::COMMANDS,
    function::COMMANDS,
];

/// Every family's documentation rows (see [`Doc`]).
const DOC_FAMILIES: &[&[Doc]] = &[
    connection::DOCS,
    server::DOCS,
    command::DOCS,
    config::DOCS,
    slowlog::DOCS,
    strings::DOCS,
    keys::DOCS,
    dump::DOCS,
    save::DOCS,
    multi::DOCS,
    pubsub::DOCS,
    hash::DOCS,
    list::DOCS,
    set::DOCS,
    zset::DOCS,
    zset_algebra::DOCS,
    bits::DOCS,
    hyperloglog::DOCS,
    sort::DOCS,
    blocking::DOCS,
    memory::DOCS,
    scripting::DOCS,
    function::DOCS,
];

/// Every documentation row, commands and subcommands (`"parent|sub"`).
pub fn all_docs() -> impl Iterator<Item = &'static Doc> {
    DOC_FAMILIES.iter().flat_map(|f| f.iter())
}

/// Every command, copied once into one array (so a command's position in it is its index for
/// per-command statistics, see [`index_of`]), and name → position. ahash: the lookup runs
/// once per request.
struct Table {
    commands: Vec<Command>,
    by_name: ahash::HashMap<&'static [u8], usize>,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = Table { commands: Vec::new(), by_name: Default::default() };
        for family in FAMILIES {
            for cmd in family.iter() {
                let old = t.by_name.insert(cmd.name.as_bytes(), t.commands.len());
                assert!(old.is_none(), "command {} defined twice", cmd.name);
                t.commands.push(cmd.clone());
            }
        }
        t
    })
}

/// How many commands the table holds (the indexes [`index_of`] returns are below it).
pub fn command_count() -> usize {
    table().commands.len()
}

/// The index of a command returned by [`lookup`] / [`all_commands`] (its position in the
/// table), for per-command statistics. `None` for a `Command` from anywhere else.
pub fn index_of(cmd: &Command) -> Option<usize> {
    let base = table().commands.as_ptr() as usize;
    let offset = (cmd as *const Command as usize).wrapping_sub(base);
    let i = offset / std::mem::size_of::<Command>();
    (offset.is_multiple_of(std::mem::size_of::<Command>()) && i < command_count()).then_some(i)
}

/// The command at table index `i` (see [`index_of`]).
pub fn by_index(i: usize) -> Option<&'static Command> {
    table().commands.get(i)
}

/// The documentation row of command `name` (lower-case, or `"parent|sub"`), if its family
/// has one.
pub use meta::doc;

/// Every command, for COMMAND / COMMAND COUNT.
pub fn all_commands() -> impl Iterator<Item = &'static Command> {
    table().commands.iter()
}

/// Find a command by name, case-insensitively.
pub fn lookup(name: &[u8]) -> Option<&'static Command> {
    if name.len() > COMMAND_NAME_MAX {
        return None;
    }
    let t = table();
    // Clients repeat commands: the thread's last hit is compared before any hashing.
    let last = LAST_LOOKUP.with(std::cell::Cell::get);
    if let Some(cmd) = t.commands.get(last).filter(|c| c.name.as_bytes().eq_ignore_ascii_case(name)) {
        return Some(cmd);
    }
    let mut lower = [0u8; COMMAND_NAME_MAX];
    for (d, s) in lower.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    let i = *t.by_name.get(&lower[..name.len()])?;
    LAST_LOOKUP.with(|l| l.set(i));
    Some(&t.commands[i])
}

thread_local! {
    /// Index of this thread's last command found by [`lookup`] (`usize::MAX`: none yet).
    static LAST_LOOKUP: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

/// Run one request: look the command up, check arity and auth centrally (and, for a RESP2
/// client in subscribed mode, that the command is allowed there), make room under maxmemory
/// for a `denyoom` command or refuse it (see [`crate::evict`]), feed MONITOR, then either
/// queue it (inside MULTI, see [`multi`]) or run it through `call` (timed for the slow log)
/// while holding this client's stripe of the isolation lock (see [`crate::exclusive`]), so no
/// EXEC runs in the middle of it. A refusal here flags an open transaction (EXEC then answers
/// EXECABORT). Returns the command found (even if it was refused), for CLIENT LIST's `cmd`.
pub fn execute(ctx: &mut Ctx<'_>, argv: Argv<'_>) -> Option<&'static Command> {
    let shared = ctx.shared;
    execute_batched(ctx, argv, &mut BatchRead::new(shared))
}

/// The isolation read side a batch of requests keeps between its commands (see
/// [`execute_batched`]); dropping it releases the side.
pub struct BatchRead<'g> {
    shared: &'g Shared,
    guard: Option<ReadGuard<'g>>,
}

impl<'g> BatchRead<'g> {
    pub fn new(shared: &'g Shared) -> Self {
        BatchRead { shared, guard: None }
    }
    /// Release the read side now (before anything that must not run under it).
    fn release(&mut self) {
        self.guard = None;
    }
}

/// [`execute`] for one command of a batch (the requests a session runs in one go): the read
/// side taken for an ordinary command is left in `read` for the next command of the batch
/// instead of being released and taken again (the caller drops it when the batch ends), so
/// a pipelined batch pays one lock and one unlock. Anything that must not run under it (EXEC,
/// scripts, MULTI queueing, eviction which takes its own) releases it first. Holding it for a
/// batch delays an EXEC on another worker by at most the rest of the batch.
pub fn execute_batched(ctx: &mut Ctx<'_>, argv: Argv<'_>, read: &mut BatchRead<'_>) -> Option<&'static Command> {
    debug_assert!(!argv.is_empty());
    let shared = ctx.shared;
    shared.stats.total_commands_processed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let reply_start = ctx.out.len();
    let Some(cmd) = lookup(argv.get(0)) else {
        ctx.client.tx.reject();
        unknown_command(ctx, argv);
        count_error(ctx, reply_start);
        return None;
    };
    let argc = argv.len() as i32;
    if (cmd.arity > 0 && argc != cmd.arity) || argc < -cmd.arity {
        ctx.client.tx.reject();
        wrong_arity(ctx, cmd.name);
        return rejected(ctx, cmd, reply_start);
    }
    if !ctx.client.authenticated && cmd.flags & NO_AUTH == 0 {
        ctx.client.tx.reject();
        ctx.error("NOAUTH Authentication required.");
        return rejected(ctx, cmd, reply_start);
    }
    if ctx.client.subs.any() && !ctx.out.resp3() && !pubsub::ALLOWED_WHILE_SUBSCRIBED.contains(&cmd.name) {
        let msg = format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            cmd.name
        );
        ctx.client.tx.reject();
        ctx.error(&msg);
        return rejected(ctx, cmd, reply_start);
    }
    // --- scripting: a script past busy-reply-threshold answers BUSY for it (crate::cmd::script) ---
    if let Some(msg) = crate::cmd::script::refuse_busy(ctx, cmd) {
        ctx.client.tx.reject();
        ctx.error(msg);
        abort_exec(ctx, cmd, reply_start);
        return Some(cmd);
    }
    if cmd.flags & DENYOOM != 0 && shared.tunables.maxmemory() != 0 {
        // Eviction changes keys: it runs under this client's stripe, as commands do (BUSY
        // past a script's threshold; an `allow_busy` command then evicts nothing).
        read.release();
        let evicting = match crate::cmd::script::read_or_busy(read.shared, ctx.client.stripe, cmd) {
            Ok(evicting) => evicting,
            Err(msg) => {
                ctx.client.tx.reject();
                ctx.error(msg);
                return Some(cmd);
            }
        };
        let room = if evicting.is_some() { crate::evict::make_room(shared, ctx.now_ms) } else { Ok(()) };
        drop(evicting);
        if room.is_err() {
            ctx.client.tx.reject();
            ctx.error(crate::evict::OOM_ERROR);
            return rejected(ctx, cmd, reply_start);
        }
    }
    if let Some(until) = shared.blocking.paused_until(cmd.flags & (WRITE | MAY_REPLICATE) != 0, ctx.now_ms) {
        postpone(ctx, until);
        return Some(cmd);
    }
    if cmd.flags & WRITE != 0 || cmd.name == "ping" {
        if let Some(msg) = shared.persist.misconf() {
            ctx.client.tx.reject();
            ctx.error(&msg);
            return Some(cmd);
        }
    }
    if shared.clients.monitoring() && cmd.flags & (SKIP_MONITOR | ADMIN) == 0 && !MONITOR_HIDDEN.contains(&cmd.name) {
        feed_monitors(ctx, argv);
    }
    if !shared.store.journal().enabled_relaxed() {
        run_isolated(ctx, cmd, argv, read);
        return Some(cmd);
    }
    // AOF on: everything this request changes is one unit of the journal (an EXEC or a
    // script: everything it ran; see crate::store::journal). A small command's unit may be
    // filled with the rest of the batch; before anything else runs, the batch's deferred
    // units are filled (such a command may wait for the AOF).
    // A blocking pop may park the client: never deferred, though BZPOPMIN is `fast`.
    let deferrable = cmd.flags & (FAST | RUN_TIMED) != 0 && cmd.flags & (STORE_WIDE | BLOCKING) == 0;
    if !deferrable {
        journal::flush_deferred();
    }
    let unit = journal::UnitGuard::begin();
    run_isolated(ctx, cmd, argv, read);
    let seq = journal::unit_seq();
    if seq != 0 {
        ctx.client.write_seq = seq;
    }
    unit.finish(deferrable);
    Some(cmd)
}

/// Run `cmd` under the isolation lock it needs: queued or run inside MULTI (EXEC takes the
/// exclusive side itself), scripts (which take the exclusive side themselves), the
/// store-wide commands under the exclusive side (each releases the batch's read side
/// first), the rest under the batch's read side (taken if the batch has none yet).
fn run_isolated(ctx: &mut Ctx<'_>, cmd: &'static Command, argv: Argv<'_>, read: &mut BatchRead<'_>) {
    let shared = ctx.shared;
    if ctx.client.tx.in_multi() {
        read.release();
        return multi::queue_or_run(ctx, cmd, argv);
    }
    // --- scripting: EVAL/FCALL take the exclusive side themselves, so no read side here;
    // on an event-loop worker a script that writes or runs long moves to the script
    // executor, the client parked (crate::cmd::script::offload) ---
    if cmd.flags & NOSCRIPT != 0 && crate::cmd::script::runs_exclusive(cmd) {
        read.release();
        return crate::cmd::script::offload::run(ctx, cmd, argv);
    }
    if cmd.flags & STORE_WIDE != 0 && !crate::exclusive::Isolation::holding_exclusive() {
        // Touches every shard one after another: isolated like EXEC, so the AOF can order
        // it (see crate::store::journal).
        read.release();
        let _exclusive = shared.isolation.exclusive();
        return call(ctx, cmd, argv);
    }
    if cmd.flags & ALLOW_BUSY != 0 && cmd.name == "shutdown" {
        // SHUTDOWN may save (durability::shutdown): it stops a running snapshot and takes the
        // exclusive side for its cut, so it runs holding no side of the lock.
        read.release();
        return call(ctx, cmd, argv);
    }
    if read.guard.is_none() {
        // The read side, or BUSY while a script holds the exclusive side past its threshold
        // (one try_read when uncontended; see crate::cmd::script::read_or_busy).
        match crate::cmd::script::read_or_busy(read.shared, ctx.client.stripe, cmd) {
            Ok(guard) => read.guard = guard,
            Err(msg) => return ctx.error(msg),
        }
    }
    call(ctx, cmd, argv);
}

/// CLIENT PAUSE is in force for this command: park the client until `until_ms` (or CLIENT
/// UNPAUSE); the session keeps the request and runs it again then (Redis's
/// `blockPostponeClient`).
fn postpone(ctx: &mut Ctx<'_>, until_ms: u64) {
    let shared = ctx.shared;
    ctx.client.handle.enable_remote_output();
    let never: crate::blocking::Serve<Shared> = Box::new(|_, _, _| false);
    let w = crate::blocking::Waiter::new(
        ctx.client.handle.clone(),
        ctx.client.db,
        Vec::new(),
        ctx.out.proto,
        until_ms,
        |_| {},
        never,
    );
    shared.blocking.postpone(&w, &shared.clients);
    ctx.client.blocked = Some(w);
    ctx.client.postponed = true;
}

/// A command refused before it ran: counted as a rejected call and an error reply. A refused
/// EXEC also ends the transaction (see [`abort_exec`]).
fn rejected(ctx: &mut Ctx<'_>, cmd: &'static Command, reply_start: usize) -> Option<&'static Command> {
    if let Some(i) = index_of(cmd) {
        ctx.shared.cmdstats.reject(i);
    }
    abort_exec(ctx, cmd, reply_start);
    count_error(ctx, reply_start);
    Some(cmd)
}

/// EXEC refused before it ran (wrong arity, NOAUTH, BUSY...), inside MULTI or not: as Redis's
/// `execCommandAbort`, the transaction is discarded (watches too) and the error, written from
/// `reply_start`, becomes `EXECABORT Transaction discarded because of: <it>` (without its
/// `ERR` code, which Redis's formatted refusals do not carry).
fn abort_exec(ctx: &mut Ctx<'_>, cmd: &'static Command, reply_start: usize) {
    if cmd.name != "exec" {
        return;
    }
    let written = ctx.out.owned_from(reply_start);
    let text = written.strip_prefix(b"-").unwrap_or(written);
    let text = text.strip_suffix(b"\r\n").unwrap_or(text);
    let text = text.strip_prefix(b"ERR ").unwrap_or(text);
    let mut msg = b"EXECABORT Transaction discarded because of: ".to_vec();
    msg.extend_from_slice(text);
    ctx.out.truncate(reply_start);
    ctx.client.tx.reset();
    reply::error(ctx.out, &String::from_utf8_lossy(&msg));
}

/// Count the reply written from `reply_start` in INFO errorstats if it is an error.
fn count_error(ctx: &Ctx<'_>, reply_start: usize) -> bool {
    let reply = ctx.out.owned_from(reply_start);
    let failed = reply.first() == Some(&b'-');
    if failed {
        ctx.shared.errors.record(reply);
    }
    failed
}

/// Run a command that is due to run now (not queued), as Redis's `call`: the handler, timed
/// for INFO commandstats/latencystats (see [`crate::metrics`]: every call is timed, as Redis
/// does; small fast commands by runs, see [`timing`]) and for the slow log unless the log is
/// off or the command is `skip_slowlog`.
/// A reply that starts as an error counts as a failed call. [`execute`] and EXEC (for each
/// queued command) come through here; the caller holds the isolation lock.
pub(crate) fn call(ctx: &mut Ctx<'_>, cmd: &'static Command, argv: Argv<'_>) {
    ctx.client.running_flags = cmd.flags;
    let reply_start = ctx.out.len();
    // AOF on: note what the journal's unit held before, to see what this command changed.
    let journal_on = ctx.shared.store.journal().enabled_relaxed();
    let before = if journal_on { Some(journal::Mark::now(ctx.client.db)) } else { None };
    // Timing (see `timing`): a small fast command joins the run in progress (one clock
    // reading per run); any other command is timed on its own, from the previous reading
    // (the batch's start or the previous command's end) to its end. Either way a command's
    // time includes parsing it.
    if timing::Timing::joins_run(cmd, argv, ctx.shared.tunables.slowlog_log_slower_than_us()) {
        ctx.client.timing.run_command_starts();
        (cmd.handler)(ctx, argv);
        let failed = count_error(ctx, reply_start);
        if let Some(i) = index_of(cmd) {
            if ctx.client.timing.run_command_ended(i, failed) {
                timing::close(ctx.shared, ctx.client);
            }
        }
    } else {
        let shared = ctx.shared;
        let start = ctx.client.timing.own_command_starts(|run, each| timing::record_run(shared, run, each));
        ctx.client.timing.reset_mark(); // commands run inside this one (EXEC, scripts) read their own
        (cmd.handler)(ctx, argv);
        timing::close(ctx.shared, ctx.client); // a run of fast commands inside this one (EXEC, scripts)
        let end = crate::clock::ticks();
        ctx.client.timing.own_command_ended(end);
        let duration_ns = crate::clock::elapsed_ns(start, end);
        if cmd.flags & NOSCRIPT != 0 && crate::cmd::script::offload::inline_abandoned() {
            return; // a script's inline attempt: it runs again on the executor, counted there
        }
        let failed = count_error(ctx, reply_start);
        if let Some(i) = index_of(cmd) {
            ctx.shared.cmdstats.record(i, duration_ns, failed);
        }
        // As Redis, the threshold is read after the command ran (CONFIG SET of it).
        let threshold_us = ctx.shared.tunables.slowlog_log_slower_than_us();
        let duration_us = duration_ns / 1000;
        if threshold_us >= 0 && cmd.flags & SKIP_SLOWLOG == 0 && duration_us >= threshold_us as u64 {
            slowlog::record(ctx, argv, duration_us);
        }
    }
    if let Some(before) = before {
        let reply = ctx.out.owned_from(reply_start);
        propagate_change(ctx.shared, cmd, argv, ctx.now_ms, &before, reply);
    }
}

/// What the AOF must replay for `cmd`, run with `argv` (its reply: `reply`), added to this
/// thread's journal unit (see [`crate::cmd::propagate`]): nothing when it changed
/// nothing (unless Redis forces its propagation); EXEC and scripts are propagated as the
/// commands they ran, wrapped in MULTI/EXEC. Scripts call it for each command they run.
pub(crate) fn propagate_change(
    shared: &Shared,
    cmd: &'static Command,
    argv: Argv<'_>,
    now_ms: u64,
    before: &journal::Mark,
    reply: &[u8],
) {
    if cmd.name == "exec" || crate::cmd::script::runs_exclusive(cmd) {
        return journal::mark_transaction();
    }
    let changed = before.changed();
    if !changed && !propagate::forced(cmd.name, argv, reply) {
        return;
    }
    let journal = shared.store.journal();
    if !journal.enabled() {
        return;
    }
    if journal::unit_seq() == 0 {
        // Forced propagation of a command that changed no key (FLUSHALL on an empty db,
        // FUNCTION LOAD): a number of its own, taken under the isolation lock it runs in.
        journal::new_section();
        journal.note_change();
    }
    if let Some(resp) = propagate::rewrite(cmd.name, argv, now_ms, reply) {
        before.push_command(resp);
    }
}

/// Commands MONITOR does not show beyond those flagged `admin` or `skip_monitor`: the ones
/// that carry a password.
const MONITOR_HIDDEN: &[&str] = &["auth", "hello"];

/// Send `+<unix time> [<db> <addr>] "arg" ...` to every monitor, arguments quoted as
/// Redis's `sdscatrepr` does.
fn feed_monitors(ctx: &Ctx<'_>, argv: Argv<'_>) {
    let (now_us, db, addr) = (crate::store::now_us(), ctx.client.db, ctx.client.handle.addr());
    ctx.shared.clients.feed_monitors(|| {
        let mut line = format!("+{}.{:06} [{db} {addr}]", now_us / 1_000_000, now_us % 1_000_000).into_bytes();
        for arg in argv.iter() {
            line.push(b' ');
            crate::args::write_repr(&mut line, arg);
        }
        line.extend_from_slice(b"\r\n");
        line
    });
}

/// `ERR unknown command 'x', with args beginning with: 'a' 'b' ` (Redis's exact format,
/// including the 128-byte caps and the trailing space).
fn unknown_command(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let mut args = String::new();
    for arg in argv.iter().skip(1) {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        let shown = &arg[..arg.len().min(room)];
        args.push('\'');
        args.push_str(&String::from_utf8_lossy(shown));
        args.push_str("' ");
    }
    let name = argv.get(0);
    let name = String::from_utf8_lossy(&name[..name.len().min(128)]);
    ctx.error(&format!("ERR unknown command '{name}', with args beginning with: {args}"));
}

/// For a container command (CONFIG, COMMAND, SLOWLOG...): find the subcommand named by
/// `argv[1]` among `parent`'s Doc rows and check its arity (derived from its syntax), with
/// Redis's errors. Returns the subcommand's lower-case name, or `None` after replying.
pub fn subcommand(ctx: &mut Ctx<'_>, argv: Argv<'_>, parent: &str) -> Option<&'static str> {
    let given = argv.get(1);
    let found = meta::subcommand_docs(parent).find(|d| eq_ignore_case(given, &d.name[parent.len() + 1..]));
    let Some(doc) = found else {
        let name = String::from_utf8_lossy(&given[..given.len().min(128)]);
        let upper = parent.to_ascii_uppercase();
        ctx.error(&format!("ERR unknown subcommand '{name}'. Try {upper} HELP."));
        return None;
    };
    let arity = meta::subcommand_arity(doc);
    let argc = argv.len() as i32;
    if (arity > 0 && argc != arity) || argc < -arity {
        wrong_arity(ctx, doc.name);
        return None;
    }
    Some(&doc.name[parent.len() + 1..])
}

/// Redis's `addReplyHelp`: the lines as an array of status replies.
pub fn help_reply(ctx: &mut Ctx<'_>, lines: &[&str]) {
    reply::array(ctx.out, lines.len());
    for line in lines {
        reply::simple(ctx.out, line.as_bytes());
    }
}

/// `ERR wrong number of arguments for 'get' command`
pub fn wrong_arity(ctx: &mut Ctx<'_>, name: &str) {
    ctx.error(&format!("ERR wrong number of arguments for '{name}' command"));
}

/// Redis's shared error texts.
pub const ERR_SYNTAX: &str = "ERR syntax error";
pub const ERR_NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const ERR_NOT_FLOAT: &str = "ERR value is not a valid float";
pub const ERR_OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const ERR_NO_SUCH_KEY: &str = "ERR no such key";
pub const ERR_DB_INDEX: &str = "ERR DB index is out of range";
pub const ERR_WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const ERR_STRING_TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

/// Integer arguments follow Redis's `string2ll` (one parser for server and CLI).
pub use crate::args::parse_i64;

/// Parse a float like Redis's `string2ld`/`strtold` use in INCRBYFLOAT: decimal or exponent
/// notation, `inf`/`-inf` accepted here (the caller rejects non-finite results), no spaces,
/// not NaN.
pub fn parse_f64(b: &[u8]) -> Option<f64> {
    if b.is_empty() || b.len() > 5120 || b[0].is_ascii_whitespace() || b[b.len() - 1].is_ascii_whitespace() {
        return None;
    }
    let s = std::str::from_utf8(b).ok()?;
    let lower = s.to_ascii_lowercase();
    let v: f64 = match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => {
            if lower.contains("inf") || lower.contains("nan") {
                return None;
            }
            if lower.trim_start_matches(['+', '-']).starts_with("0x") {
                return parse_hex_f64(&lower).filter(|v| !v.is_nan());
            }
            s.parse().ok()?
        }
    };
    (!v.is_nan()).then_some(v)
}

/// Largest binary exponent a hex float may carry: past it the value is 0 or inf anyway.
const HEX_FLOAT_EXP_MAX: i32 = 100_000;

/// C's `strtod` hex form, which Redis accepts wherever it parses a float (`0x10`, `-0x1.8p3`):
/// `[+-]0x<hex>[.<hex>][p[+-]<decimal>]`, lower-cased by the caller. Mantissa digits past
/// f64's precision are rounded away as they are read.
fn parse_hex_f64(s: &str) -> Option<f64> {
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let rest = rest.strip_prefix("0x")?;
    let (mantissa, exp) = match rest.split_once('p') {
        Some((m, e)) => (m, e.parse::<i32>().ok()?.clamp(-HEX_FLOAT_EXP_MAX, HEX_FLOAT_EXP_MAX)),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut value = 0f64;
    for c in int.chars() {
        value = value * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        value += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    let value = value * 2f64.powi(exp);
    Some(if negative { -value } else { value })
}

/// Format a float as Redis replies with it for INCRBYFLOAT (`%.17Lg`, trailing zeros
/// trimmed): the shortest text that round-trips, never exponent notation for the usual range.
pub fn format_f64(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e17 {
        return format!("{}", v as i128);
    }
    if v == v.trunc() && v.is_finite() {
        // `%.17Lf` of a whole number: its exact digits (2^63 is 9223372036854775808).
        return format!("{v:.0}");
    }
    let s = format!("{v}");
    match s.split_once('.') {
        // `%.17Lf` never writes more than 17 decimals: a tiny value rounds to 0 (never -0).
        Some((_, frac)) if frac.len() > 17 => {
            let fixed = format!("{v:.17}");
            match fixed.trim_end_matches('0').trim_end_matches('.') {
                "-0" => "0".to_string(),
                t => t.to_string(),
            }
        }
        _ => s,
    }
}

/// Case-insensitive ASCII comparison of an argument with an option name.
pub fn eq_ignore_case(arg: &[u8], opt: &str) -> bool {
    arg.eq_ignore_ascii_case(opt.as_bytes())
}

/// Test support: run one command against `shared` as `client` and return the raw reply bytes.
#[cfg(test)]
pub fn run_for_test(shared: &Shared, client: &mut ClientState, args: &[&[u8]]) -> Vec<u8> {
    run_for_test_in(shared, client, reply::Proto::Resp2, args)
}

/// Test support: run one command given as a line of space-separated arguments; the reply as
/// text.
#[cfg(test)]
pub fn run_line_for_test(shared: &Shared, client: &mut ClientState, line: &str) -> String {
    let args: Vec<&[u8]> = line.split(' ').map(|a| a.as_bytes()).collect();
    String::from_utf8_lossy(&run_for_test(shared, client, &args)).into_owned()
}

/// Test support: as [`run_for_test`], with the replies encoded in `proto`.
#[cfg(test)]
pub fn run_for_test_in(shared: &Shared, client: &mut ClientState, proto: reply::Proto, args: &[&[u8]]) -> Vec<u8> {
    let mut base = Vec::new();
    let mut ranges = Vec::new();
    for a in args {
        ranges.push(base.len()..base.len() + a.len());
        base.extend_from_slice(a);
    }
    let mut out = reply::Out::with_proto(proto);
    let mut ctx = Ctx { shared, client, out: &mut out, now_ms: crate::store::now_ms() };
    execute(&mut ctx, Argv::from_parts(&base, &ranges));
    timing::close(shared, client); // one command is one batch
    out.take()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_f64_rejects_nan_and_spaces() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"5.0e3"), Some(5000.0));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"abc"), None);
    }

    #[test]
    fn parse_f64_takes_c_hex_floats_as_redis() {
        // Found by scripts/redis-diff: Redis parses floats with strtod/strtold, which read
        // hex (ZADD z 0x10 m scores 16; INCRBYFLOAT k 0x10 gives 16; HINCRBYFLOAT h f 0x1p3 8).
        assert_eq!(parse_f64(b"0x10"), Some(16.0));
        assert_eq!(parse_f64(b"-0X1.8p1"), Some(-3.0));
        assert_eq!(parse_f64(b"0x1p3"), Some(8.0));
        assert_eq!(parse_f64(b"+0x.8"), Some(0.5));
        assert_eq!(parse_f64(b"0x1p-2"), Some(0.25));
        assert_eq!(parse_f64(b"0x1p999999999"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"0x0p999999"), None);
        for bad in [&b"0x"[..], b"0x.", b"0xg", b"0x1p", b"0x1px", b"+-0x1", b"0x1.2.3"] {
            assert_eq!(parse_f64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn format_f64_keeps_at_most_17_decimals_like_redis() {
        // Found by scripts/redis-diff (INCRBYFLOAT on redis-server 7.0.15).
        assert_eq!(format_f64(-1e-320), "0");
        assert_eq!(format_f64(1e-320), "0");
        assert_eq!(format_f64(-1e-18), "0");
        assert_eq!(format_f64(1.5e-17), "0.00000000000000002");
        assert_eq!(format_f64(0.1), "0.1");
        assert_eq!(format_f64(9223372036854775808.0), "9223372036854775808");
        assert_eq!(format_f64(-9223372036854775808.0), "-9223372036854775808");
    }

    #[test]
    fn format_f64_like_redis() {
        assert_eq!(format_f64(10.5), "10.5");
        assert_eq!(format_f64(3.0), "3");
        assert_eq!(format_f64(5000.0), "5000");
        assert_eq!(format_f64(-0.1), "-0.1");
    }

    #[test]
    fn per_command_statistics_have_room_for_every_command() {
        assert!(command_count() <= crate::metrics::COMMANDS_MAX, "raise metrics::COMMANDS_MAX");
    }

    #[test]
    fn every_command_has_exactly_one_doc_row_and_every_syntax_parses() {
        // Over the merged table, so families added later are covered too: one Doc row per
        // command, subcommand rows only under an existing command, every syntax parses, and
        // a subcommand's arity derived from its syntax is a valid arity.
        for cmd in all_commands() {
            let rows = all_docs().filter(|d| d.name == cmd.name).count();
            assert_eq!(rows, 1, "command {} has {rows} Doc rows", cmd.name);
        }
        for doc in all_docs() {
            let args = syntax::parse_doc(doc).unwrap_or_else(|e| panic!("{}: {e}: {:?}", doc.name, doc.syntax));
            match doc.name.split_once('|') {
                Some((parent, _)) => {
                    assert!(lookup(parent.as_bytes()).is_some(), "{}: no command {parent}", doc.name);
                    assert_ne!(syntax::arity(2, &args), 0);
                }
                None => {
                    let cmd =
                        lookup(doc.name.as_bytes()).unwrap_or_else(|| panic!("Doc row {} has no command", doc.name));
                    // A command without subcommands: the arity its syntax implies is the table's.
                    if meta::subcommand_docs(doc.name).next().is_none() && !doc.syntax.is_empty() {
                        assert_eq!(syntax::arity(1, &args), cmd.arity, "{}: arity vs syntax", doc.name);
                    }
                }
            }
            assert!(!doc.summary.is_empty() && !doc.since.is_empty() && !doc.group.is_empty(), "{}", doc.name);
            assert_eq!(all_docs().filter(|d| d.name == doc.name).count(), 1, "{} twice", doc.name);
        }
    }

    #[test]
    fn every_command_has_a_sane_row() {
        for cmd in all_commands() {
            assert_eq!(cmd.name, cmd.name.to_ascii_lowercase());
            assert!(cmd.arity != 0, "{}", cmd.name);
            assert!(lookup(cmd.name.to_ascii_uppercase().as_bytes()).is_some());
        }
    }
}
