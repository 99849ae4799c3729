//! The script executor: EVAL / FCALL from event-loop workers (uring, epoll) that write or run
//! long run on one thread of their own, with the calling client parked, so a long script
//! never holds the worker that received it. (Fast path: a script first runs inline and is
//! abandoned, without a trace, at its first write or past [`INLINE_BUDGET`]: see [`run`].) The worker keeps serving its other connections: their commands wait for the
//! script (the isolation lock's read side) up to `busy-reply-threshold`, then get `BUSY`, and
//! SCRIPT KILL / FUNCTION KILL / SHUTDOWN NOSAVE get through, on every worker count.
//!
//! # Flow
//!
//! ```text
//!   worker (any)                                  executor thread
//!   ────────────                                  ───────────────
//!   execute(EVAL) → submit: copy argv, park the
//!     client (a detached Waiter: its next
//!     pipelined requests wait, in order), push
//!     the job on this thread's pending list
//!   ... rest of the loop iteration ...
//!   flush (before the loop sleeps): append the
//!     pending jobs to the queue; notify only if  ─► wakes (once per idle → busy)
//!     the executor is idle                           takes every queued job; for each:
//!                                                    cmd::call (timed, slow log, stats) →
//!                                                    exclusive side, frozen time, the VM
//!                                                    Waiter::complete: reply into the
//!                                                    client's mailbox, then Served
//!   mailbox wake (coalesced per worker)       ◄──  at the batch's end (or once a reply
//!                                                    waited WAKE_DELAY_MAX)
//!   pull_remote: unpark, reply after the
//!   earlier ones, then the held requests run
//! ```
//!
//! # Decisions
//!
//! - **Batched hand-over.** A worker queues scripts on a thread-local list and hands them
//!   over once per loop iteration ([`flush`]); the executor is only signalled when it sleeps,
//!   and wakes each worker once per batch of replies ([`WAKE_DELAY_MAX`] bounds how long a
//!   reply waits for the rest of its batch). So
//!   the thread hand-over costs a few syscalls per *batch*, not per script (see
//!   docs/scripting.md for the measured cost).
//! - **No deadlock.** A worker never waits for the executor: it hands jobs over without
//!   waiting, and its commands wait for the isolation lock (never for the executor) holding
//!   no read side. The executor takes the exclusive side per script, as the worker did.
//! - **Read-only fast path.** Handing every script over cost about twice the CPU of a
//!   trivial inline script (measured in docs/scripting.md): thread wake-ups. A script that
//!   only reads and ends within [`INLINE_BUDGET`] stays on the worker; what it did can be
//!   dropped (it wrote nothing) when it turns out to write or run long, and it is then rerun
//!   from the start here.
//! - **What stays inline.** EVAL inside MULTI/EXEC (EXEC already holds the exclusive side on
//!   the worker), the threads engine (a thread per connection: the script holds only its
//!   own connection's thread) and sessions of no engine (unit tests): [`submit`] declines
//!   and the caller runs the script at once.
//! - **The client's context.** What a script reads of its caller is copied into the job
//!   (selected db, protocol, name, connection handle for the slow log, whether CLIENT REPLY
//!   keeps the reply); the script's own commands run as the VM's client, as before. MONITOR
//!   was fed and CLIENT PAUSE checked when the request was executed on the worker.
//! - **Bounds.** A parked client submits nothing more until its reply came, so the queue
//!   holds at most one job per connection (bounded by `maxclients`).
//! - **Disconnects and shutdown.** A client that closes while parked cancels its waiter; its
//!   script still runs (as in Redis, a request received is executed) and the reply is
//!   dropped. At shutdown the
//!   executor drops queued jobs (their connections are closing) after the running script,
//!   which shutdown aborts, returns.

use std::cell::RefCell;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use crate::blocking::Waiter;
use crate::clients::{ClientHandle, Clients};
use crate::cmd::{ClientState, Command, Ctx};
use crate::protocol::Argv;
use crate::reply::{Out, Proto};
use crate::shared::Shared;

/// The reply a client gets if its script's command panicked on the executor (a bug): the
/// executor survives it and serves the next scripts.
const ERR_EXECUTOR_PANIC: &str = "ERR internal error while running the script";

/// One script call handed to the executor.
struct Job {
    cmd: &'static Command,
    /// The request's arguments, copied out of the worker's input buffer.
    args: Vec<u8>,
    ranges: Vec<Range<usize>>,
    db: usize,
    proto: Proto,
    name: Option<Box<[u8]>>,
    handle: Arc<ClientHandle>,
    waiter: Arc<Waiter<Shared>>,
    /// False under CLIENT REPLY OFF / SKIP: the script runs, its reply is dropped.
    keep_reply: bool,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    /// The executor waits on the condvar (a flush must notify it).
    idle: bool,
    /// Shutdown: drop what is queued and end the thread.
    stop: bool,
}

/// The executor's queue and wake-up, in [`crate::cmd::script::Scripting`].
#[derive(Default)]
pub struct Executor {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// `!idle`, readable without the lock (see [`flush`]'s return value).
    working: AtomicBool,
}

impl Executor {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stop(&self) {
        self.lock().stop = true;
        self.wake.notify_one();
    }
}

thread_local! {
    /// Jobs this worker thread submitted in the current loop iteration (see [`flush`]).
    static PENDING: RefCell<Vec<Job>> = const { RefCell::new(Vec::new()) };
}

/// Start the executor thread (once per server; engines whose workers call [`flush`] then
/// offload scripts). It holds the server weakly and ends at shutdown.
pub fn start(shared: &Arc<Shared>) -> std::io::Result<()> {
    let scripting = super::of(shared);
    if scripting.executor.get().is_some() {
        return Ok(());
    }
    let exec = Arc::new(Executor::default());
    let weak = Arc::downgrade(shared);
    let thread_exec = Arc::clone(&exec);
    std::thread::Builder::new().name("script-exec".into()).spawn(move || executor_main(&thread_exec, &weak))?;
    let stopper = Arc::clone(&exec);
    shared.on_shutdown(Box::new(move || stopper.stop()));
    let _ = scripting.executor.set(exec);
    Ok(())
}

/// How long a script may run inline on the worker before it is abandoned and rerun on the
/// executor (checked after each command it calls and by the hook every
/// [`super::vm::HOOK_INSTRUCTIONS`]): far below any sensible `busy-reply-threshold`, long
/// enough for the scripts real clients send (a few commands).
const INLINE_BUDGET: Duration = Duration::from_millis(1);

/// The error that unwinds an abandoned inline attempt (never reaches a client: the attempt's
/// reply is dropped).
pub const ABANDONED: &str = "script moved to the script executor";

/// This worker thread's inline attempt.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Inline {
    Off,
    /// Running inline since this instant.
    Trying(Instant),
    /// Gave up: the script is unwinding and will run on the executor.
    Abandoned,
}

thread_local! {
    static INLINE: std::cell::Cell<Inline> = const { std::cell::Cell::new(Inline::Off) };
}

/// Run EVAL / EVALSHA / FCALL... for the client of `ctx`. On an event-loop worker: first
/// inline, as long as the script only reads and stays within [`INLINE_BUDGET`] (what it did
/// so far can be dropped without a trace: it wrote nothing); if it wants to write or runs
/// longer, the attempt is abandoned (its reply and statistics dropped) and the script runs
/// from the start on the executor with the client parked. Elsewhere: inline.
pub fn run(ctx: &mut Ctx<'_>, cmd: &'static Command, argv: Argv<'_>) {
    if !can_offload(ctx) {
        return crate::cmd::call(ctx, cmd, argv);
    }
    let reply_start = ctx.out.len();
    INLINE.with(|c| c.set(Inline::Trying(Instant::now())));
    crate::cmd::call(ctx, cmd, argv);
    if INLINE.with(|c| c.replace(Inline::Off)) == Inline::Abandoned {
        ctx.out.truncate(reply_start);
        submit(ctx, cmd, argv);
    }
}

/// Called by the running script before each command (`write`: the command writes) and by
/// its hook: true if this is an inline attempt that must stop now (it is then abandoned).
pub(crate) fn abandon_inline(write: bool) -> bool {
    INLINE.with(|c| match c.get() {
        Inline::Off => false,
        Inline::Abandoned => true,
        Inline::Trying(since) => {
            let stop = write || since.elapsed() >= INLINE_BUDGET;
            if stop {
                c.set(Inline::Abandoned);
            }
            stop
        }
    })
}

/// True while an abandoned inline attempt unwinds (its reply and statistics are dropped).
pub(crate) fn inline_abandoned() -> bool {
    INLINE.with(|c| c.get() == Inline::Abandoned)
}

/// The client's engine offloads scripts, the executor runs, and the server is not stopping.
/// (With the AOF on, the executor runs each script as one journal unit and, under
/// `appendfsync always`, mails the reply only once it is durable: see `run_job`.)
fn can_offload(ctx: &Ctx<'_>) -> bool {
    ctx.client.offload_scripts && !ctx.shared.shutting_down() && super::of(ctx.shared).executor.get().is_some()
}

/// Hand `cmd` (EVAL, EVALSHA, FCALL...) to the executor and park the client, if this client's
/// engine offloads scripts and the executor runs; false: the caller runs it inline.
pub fn submit(ctx: &mut Ctx<'_>, cmd: &'static Command, argv: Argv<'_>) -> bool {
    if !can_offload(ctx) {
        return false;
    }
    let mut args = Vec::with_capacity(argv.iter().map(<[u8]>::len).sum());
    let mut ranges = Vec::with_capacity(argv.len());
    for arg in argv.iter() {
        ranges.push(args.len()..args.len() + arg.len());
        args.extend_from_slice(arg);
    }
    let client = &mut *ctx.client;
    let waiter = Waiter::detached(client.handle.clone(), client.db, ctx.out.proto);
    let job = Job {
        cmd,
        args,
        ranges,
        db: client.db,
        proto: ctx.out.proto,
        name: client.name.clone(),
        handle: client.handle.clone(),
        waiter: waiter.clone(),
        keep_reply: client.reply_mode.after_command().0,
    };
    PENDING.with(|p| p.borrow_mut().push(job));
    client.blocked = Some(waiter);
    true
}

/// Hand this thread's pending jobs to the executor. Engines call it before their loop sleeps.
/// Returns true if script replies may be on their way (jobs handed over now, or the
/// executor is working): the worker should then wake for the first completion rather than
/// wait for a batch of them (the replies come as one mailbox wake-up). Nothing pending: one
/// thread-local check and, once an executor exists, one relaxed load.
pub fn flush(shared: &Shared) -> bool {
    let jobs = PENDING.with(|p| {
        let mut p = p.borrow_mut();
        (!p.is_empty()).then(|| std::mem::take(&mut *p))
    });
    let Some(mut jobs) = jobs else {
        return super::of(shared).executor.get().is_some_and(|e| e.working.load(Relaxed));
    };
    let Some(exec) = super::of(shared).executor.get() else {
        // Unreachable (submit checked it); end the waits rather than leave clients parked.
        for job in jobs {
            if job.waiter.complete(&shared.clients, b"-ERR script executor not running\r\n") {
                shared.clients.wake_owner(&job.handle);
            }
        }
        return false;
    };
    let mut q = exec.lock();
    let notify = q.idle;
    q.jobs.append(&mut jobs);
    q.idle = false;
    exec.working.store(true, Relaxed);
    drop(q);
    if notify {
        exec.wake.notify_one();
    }
    true
}

/// The executor thread: wait for jobs, run them in order, deliver each reply.
fn executor_main(exec: &Executor, shared: &Weak<Shared>) {
    let mut proxy: Option<ClientState> = None;
    let mut batch = Vec::new();
    loop {
        {
            let mut q = exec.lock();
            while q.jobs.is_empty() && !q.stop {
                q.idle = true;
                exec.working.store(false, Relaxed);
                q = exec.wake.wait(q).unwrap_or_else(|e| e.into_inner());
            }
            q.idle = false;
            if q.stop {
                let dropped = std::mem::take(&mut q.jobs);
                drop(q);
                drop(dropped);
                return;
            }
            std::mem::swap(&mut batch, &mut q.jobs);
        }
        let Some(shared) = shared.upgrade() else { return };
        let proxy = proxy.get_or_insert_with(|| {
            // The caller's stand-in for `cmd::call` (never in the client list).
            let c = ClientState::new(&shared);
            shared.clients.unregister(&c.handle);
            c
        });
        for job in batch.drain(..) {
            if shared.shutting_down() {
                break; // the rest are dropped: their connections are closing
            }
            wake_overdue();
            run_job(&shared, proxy, job);
        }
        batch.clear();
        wake_deferred();
    }
}

/// Longest a finished script's reply waits for the rest of its batch before its worker is
/// woken: waking once per batch (not per script) is what keeps the hand-over cheap, and
/// this bounds what it adds to a reply when a later script of the batch runs long (checked
/// before each script, and by the running script's hook and after each command it calls).
const WAKE_DELAY_MAX: Duration = Duration::from_micros(200);

/// Owners to wake for replies the executor delivered, since when.
#[derive(Default)]
struct Wakes {
    clients: Option<Arc<Clients>>,
    handles: Vec<Arc<ClientHandle>>,
    since: Option<Instant>,
}

thread_local! {
    /// The executor's deferred wake-ups (see [`WAKE_DELAY_MAX`]).
    static WAKES: RefCell<Wakes> = RefCell::new(Wakes::default());
}

fn defer_wake(clients: &Arc<Clients>, handle: Arc<ClientHandle>) {
    WAKES.with(|w| {
        let mut w = w.borrow_mut();
        if w.clients.is_none() {
            w.clients = Some(Arc::clone(clients));
        }
        w.since.get_or_insert_with(Instant::now);
        w.handles.push(handle);
    });
}

/// Wake the owners of every reply delivered so far (one wake-up per worker: the inbox
/// coalesces them).
fn wake_deferred() {
    let (clients, handles) = WAKES.with(|w| {
        let mut w = w.borrow_mut();
        w.since = None;
        (w.clients.clone(), std::mem::take(&mut w.handles))
    });
    if let Some(clients) = clients {
        for h in &handles {
            clients.wake_owner(h);
        }
    }
}

/// Wake owners whose replies waited [`WAKE_DELAY_MAX`] or more. Called by the running
/// script's busy checks (hook, after each command): one thread-local read when none wait.
pub(crate) fn wake_overdue() {
    let overdue = WAKES.with(|w| w.borrow().since.is_some_and(|t| t.elapsed() >= WAKE_DELAY_MAX));
    if overdue {
        wake_deferred();
    }
}

/// Run one script call as its client would have on the worker, then deliver the reply.
fn run_job(shared: &Shared, proxy: &mut ClientState, job: Job) {
    proxy.db = job.db;
    proxy.name = job.name;
    proxy.timing.reset_mark();
    let own = std::mem::replace(&mut proxy.handle, job.handle.clone());
    let mut out = Out::with_proto(job.proto);
    // AOF on: the script's changes are one journal unit, as on a worker (execute_batched).
    let journal_on = shared.store.journal().enabled_relaxed();
    let mut seq = 0;
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let unit = journal_on.then(crate::store::journal::UnitGuard::begin);
        let mut ctx = Ctx { shared, client: &mut *proxy, out: &mut out, now_ms: crate::store::now_ms() };
        crate::cmd::call(&mut ctx, job.cmd, Argv::from_parts(&job.args, &job.ranges));
        crate::cmd::timing::close(shared, ctx.client);
        seq = crate::store::journal::unit_seq();
        drop(unit);
    }));
    proxy.handle = own;
    // `appendfsync always`: the reply leaves only once the fdatasync covering the script's
    // writes completed (the executor waits; the workers keep serving).
    if let Some(aof) = shared.persist.aof().filter(|a| seq != 0 && a.policy() == crate::config::AppendFsync::Always) {
        aof.wait_durable(seq);
    }
    if ran.is_err() {
        tracing::error!("a script command panicked on the script executor");
        out.clear();
        crate::reply::error(&mut out, ERR_EXECUTOR_PANIC);
    }
    if !job.keep_reply {
        out.clear();
    }
    if job.waiter.complete(&shared.clients, &out) {
        defer_wake(&shared.clients, job.handle);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::{run_for_test, ClientState};
    use crate::config::Config;
    use clap::Parser as _;

    /// Wait (bounded) until the client's parked script delivered its reply; the reply.
    fn reply_of(client: &mut ClientState) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !client.handle.has_mail() {
            assert!(Instant::now() < deadline, "no reply from the executor");
            std::thread::sleep(Duration::from_millis(1));
        }
        let w = client.blocked.take().expect("parked while the script ran");
        assert_eq!(w.state(), crate::blocking::State::Served, "the reply is mailed before the wait ends");
        client.handle.take_mail()
    }

    #[test]
    fn scripts_run_on_the_executor_with_the_client_parked() {
        // An offloading client's EVAL replies nothing at once and parks; after the flush the
        // executor runs it in the client's db and mails the reply.
        // Without the flag (or before the executor starts) the script runs inline.
        let shared = Arc::new(Shared::new(Config::parse_from(["ringkv-server"])));
        let mut c = ClientState::new(&shared);
        c.offload_scripts = true;
        let eval: &[&[u8]] = &[b"EVAL", b"return redis.call('INCR', KEYS[1])", b"1", b"n"];
        assert_eq!(run_for_test(&shared, &mut c, eval), b":1\r\n", "inline until the executor runs");
        start(&shared).expect("executor");
        c.db = 2;
        assert!(run_for_test(&shared, &mut c, eval).is_empty(), "the reply comes by mail");
        assert!(c.blocked.is_some());
        flush(&shared);
        assert_eq!(reply_of(&mut c), b":1\r\n", "db 2 has its own counter");
        // Fast path: a script that only reads and ends within the budget answers inline; one
        // that reads past the budget is abandoned and rerun on the executor.
        let read: &[&[u8]] = &[b"EVAL", b"return redis.call('GET', KEYS[1])", b"1", b"n"];
        assert_eq!(run_for_test(&shared, &mut c, read), b"$1\r\n1\r\n");
        assert!(c.blocked.is_none(), "answered inline");
        let long = b"local t = redis.call('TIME') \
                     while (redis.call('TIME')[1] - t[1]) * 1000000 + redis.call('TIME')[2] - t[2] < 20000 do end \
                     return redis.call('GET', KEYS[1])";
        assert!(run_for_test(&shared, &mut c, &[b"EVAL", long, b"1", b"n"]).is_empty(), "past the budget");
        flush(&shared);
        assert_eq!(reply_of(&mut c), b"$1\r\n1\r\n");
        c.offload_scripts = false;
        assert_eq!(run_for_test(&shared, &mut c, eval), b":2\r\n");
        assert_eq!(shared.blocking.blocked_clients(), 0, "a parked script client is not a blocked client");
        shared.begin_shutdown();
    }

    #[test]
    fn a_client_closing_while_parked_drops_only_its_reply() {
        // The closed client's script still runs (its write lands); nothing is mailed.
        let shared = Arc::new(Shared::new(Config::parse_from(["ringkv-server"])));
        start(&shared).expect("executor");
        let mut gone = ClientState::new(&shared);
        gone.offload_scripts = true;
        let handle = gone.handle.clone();
        let set: &[&[u8]] = &[b"EVAL", b"return redis.call('SET', KEYS[1], 'v')", b"1", b"k"];
        assert!(run_for_test(&shared, &mut gone, set).is_empty());
        drop(gone);
        flush(&shared);
        let mut c = ClientState::new(&shared);
        let deadline = Instant::now() + Duration::from_secs(10);
        while run_for_test(&shared, &mut c, &[b"EXISTS", b"k"]) != b":1\r\n" {
            assert!(Instant::now() < deadline, "the script of the closed client did not run");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(!handle.has_mail());
        shared.begin_shutdown();
    }
}
