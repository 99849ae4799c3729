//! Lua scripting (EVAL, FCALL and friends): the server-wide scripting state and the rules that
//! keep a script atomic yet never let it wedge the server.
//!
//! # Design
//!
//! - One Lua 5.1 VM per server ([`vm::Engine`], behind a mutex, created at first use), as in
//!   Redis: scripts and function libraries share it, so the script cache and loaded libraries
//!   are server-wide.
//! - A script runs inside [`Isolation::exclusive`](crate::exclusive::Isolation::exclusive),
//!   the same striped lock EXEC uses: no other client on any worker runs any command until
//!   it returns, whatever keys it touches (declared in KEYS or not). The command layer calls
//!   the script commands without their read side ([`runs_exclusive`]).
//! - Busy scripts: an instruction-count hook ([`vm::HOOK_INSTRUCTIONS`]) notices when the
//!   script has run past `busy-reply-threshold` and raises [`RunState::busy`]. Other workers
//!   acquire their read side through [`read_or_busy`]: the uncontended path is one
//!   `try_read`; only when it fails do they wait, polling the busy flag, and answer
//!   `BUSY ...` once it is raised (except the `allow_busy` commands: SCRIPT KILL, FUNCTION
//!   KILL, SHUTDOWN NOSAVE...). SCRIPT KILL sets [`RunState::kill`], which the hook turns
//!   into an error inside the script; a script that already wrote is `UNKILLABLE`, only
//!   SHUTDOWN NOSAVE stops it (the hook then aborts it whatever it did).
//! - Scripts sent to an event-loop worker (uring, epoll) run on the script executor thread
//!   ([`offload`]) with the client parked once they write or run past a 1 ms inline attempt,
//!   so the worker keeps serving its other connections (BUSY, SCRIPT KILL, SHUTDOWN NOSAVE)
//!   whatever the worker count.
//! - Time is frozen during a script: every command it calls sees the `now_ms` read when the
//!   script started, so expiry inside a script is deterministic.

use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::cmd::{Command, Ctx, ALLOW_BUSY};
use crate::exclusive::ReadGuard;
use crate::shared::Shared;

pub mod convert;
pub mod functions;
pub mod libs;
pub mod offload;
pub mod vm;

/// `BUSY` while an EVAL script runs past the threshold (Redis's `slowevalerr`).
pub const ERR_BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
/// `BUSY` while a function runs past the threshold (Redis's `slowscripterr`).
pub const ERR_BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

/// How long a command whose stripe is taken sleeps between checks of the busy flag once
/// spinning did not get it the lock: short, so an EXEC's waiters resume quickly, long enough
/// not to burn a shared core while a script runs.
const CONTENDED_SLEEP: Duration = Duration::from_micros(100);
/// Yields before a contended command starts sleeping (an EXEC usually ends within them).
const CONTENDED_YIELDS: u32 = 64;

/// What kills a running script.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Kill {
    None = 0,
    /// SCRIPT KILL / FUNCTION KILL (only honoured by a script that did not write).
    User = 1,
    /// SHUTDOWN NOSAVE: stop whatever it did.
    Shutdown = 2,
}

/// The running script as other workers see it: atomics only, read without the engine lock.
#[derive(Default)]
pub struct RunState {
    /// A script is running.
    pub running: AtomicBool,
    /// It has run past `busy-reply-threshold`: other clients get BUSY.
    pub busy: AtomicBool,
    /// It called a write command (SCRIPT KILL then answers UNKILLABLE).
    pub dirty: AtomicBool,
    /// It is an EVAL script (not a function): picks the BUSY text and which KILL applies.
    pub is_eval: AtomicBool,
    /// A [`Kill`] request.
    pub kill: AtomicU8,
    /// Start, in ms of [`monotonic_ms`].
    pub started_ms: AtomicU64,
    /// The threshold read at start (ms).
    pub threshold_ms: AtomicU64,
    /// A library's load-time code is running (FUNCTION LOAD): the hook stops it after
    /// [`functions::LOAD_TIMEOUT_MS`].
    pub loading: AtomicBool,
}

impl RunState {
    /// Server shutdown: stop the running script, if any, whatever it did.
    pub fn abort_for_shutdown(&self) {
        if self.running.load(SeqCst) {
            self.kill.store(Kill::Shutdown as u8, SeqCst);
        }
    }

    pub fn kill_request(&self) -> Kill {
        match self.kill.load(SeqCst) {
            1 => Kill::User,
            2 => Kill::Shutdown,
            _ => Kill::None,
        }
    }
    /// The BUSY error for the running script's kind.
    pub fn busy_error(&self) -> &'static str {
        if self.is_eval.load(Relaxed) {
            ERR_BUSY_EVAL
        } else {
            ERR_BUSY_FUNCTION
        }
    }
}

/// Milliseconds on a monotonic clock (since the first call).
pub fn monotonic_ms() -> u64 {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    EPOCH.get_or_init(std::time::Instant::now).elapsed().as_millis() as u64
}

/// A running function's name and the FCALL command line that started it.
pub type RunningFunction = (Vec<u8>, Vec<Vec<u8>>);

/// The scripting state in [`crate::shared::Shared`].
#[derive(Default)]
pub struct Scripting {
    engine: Mutex<Option<vm::Engine>>,
    pub run: Arc<RunState>,
    /// Scripts in the EVAL cache (INFO `number_of_cached_scripts`).
    pub cached_scripts: AtomicUsize,
    /// Bytes the Lua VM uses, updated after each script (INFO `used_memory_lua`).
    pub used_memory_lua: AtomicUsize,
    /// Bytes of the EVAL cache outside the VM (INFO `used_memory_scripts_eval`).
    scripts_bytes: AtomicUsize,
    /// Functions and libraries loaded, and their bytes outside the VM (INFO
    /// `number_of_functions`, `number_of_libraries`, `used_memory_functions`).
    functions: AtomicUsize,
    libraries: AtomicUsize,
    functions_bytes: AtomicUsize,
    /// The running function's name and command line, for FUNCTION STATS (set by FCALL only,
    /// so EVAL's path takes no extra lock).
    pub running_function: Mutex<Option<RunningFunction>>,
    /// The thread event-loop workers run scripts on ([`offload`]); unset until the server
    /// starts it (unit tests run scripts inline).
    pub executor: std::sync::OnceLock<Arc<offload::Executor>>,
}

/// The server's scripting state, created on first use (with a shutdown hook that stops a
/// running script, whatever it did).
pub fn of(shared: &Shared) -> &Scripting {
    let slot = shared.scripting.get_or_init(|| {
        let scripting = Scripting::default();
        let run = Arc::clone(&scripting.run);
        shared.on_shutdown(Box::new(move || run.abort_for_shutdown()));
        Box::new(scripting)
    });
    slot.downcast_ref::<Scripting>().expect("the scripting slot holds Scripting")
}

/// Enter a script run: the exclusive side of the isolation lock (unless EXEC already holds it,
/// whose time is then already fixed) with the script's frozen time, and the Lua engine.
/// `Err` carries the reply for a VM that could not start.
pub fn enter<'s>(ctx: &mut Ctx<'s>) -> Result<(Option<crate::exclusive::ExclusiveGuard<'s>>, EngineGuard<'s>), String> {
    let shared: &'s Shared = ctx.shared;
    let exclusive = (!crate::exclusive::Isolation::holding_exclusive()).then(|| {
        let guard = shared.isolation.exclusive();
        ctx.now_ms = crate::store::now_ms();
        guard
    });
    let engine = of(shared).engine().map_err(|e| format!("ERR Lua VM could not start: {e}"))?;
    Ok((exclusive, engine))
}

impl Scripting {
    /// The engine, created on first use. Callers hold a read side or the exclusive side of
    /// the isolation lock, never wait for the isolation lock while holding this.
    pub fn engine(&self) -> mlua::Result<EngineGuard<'_>> {
        let mut guard = self.engine.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.is_none() {
            *guard = Some(vm::Engine::new(Arc::clone(&self.run))?);
        }
        Ok(EngineGuard { guard, scripting: self })
    }

    /// Server shutdown (signal or SHUTDOWN): stop the running script, if any, whatever it did.
    pub fn abort_for_shutdown(&self) {
        self.run.abort_for_shutdown();
    }

    /// What scripting holds, as of the last release of the engine.
    pub fn memory(&self) -> ScriptMemory {
        ScriptMemory {
            vm: self.used_memory_lua.load(Relaxed),
            cached_scripts: self.cached_scripts.load(Relaxed),
            scripts: self.scripts_bytes.load(Relaxed),
            functions: self.functions.load(Relaxed),
            libraries: self.libraries.load(Relaxed),
            functions_bytes: self.functions_bytes.load(Relaxed),
        }
    }
}

/// Scripting's share of memory, for INFO memory and MEMORY STATS (Redis 7.0's fields). One
/// Lua VM runs both EVAL scripts and function libraries, so its bytes are reported as the
/// EVAL VM's and the functions' VM as empty.
#[derive(Clone, Copy, Debug, Default)]
pub struct ScriptMemory {
    /// Bytes the Lua VM uses (0 before the first script creates it).
    pub vm: usize,
    pub cached_scripts: usize,
    /// Bytes of the EVAL cache outside the VM.
    pub scripts: usize,
    pub functions: usize,
    pub libraries: usize,
    /// Bytes of the libraries outside the VM.
    pub functions_bytes: usize,
}

impl ScriptMemory {
    /// INFO's `used_memory_lua` / `used_memory_vm_eval`: before the VM exists, a fresh VM's
    /// size, as Redis (whose VM exists from the start) reports.
    pub fn vm_reported(&self) -> usize {
        self.vm.max(vm::EMPTY_VM_BYTES)
    }
}

/// The locked engine; updates the INFO counters when released.
pub struct EngineGuard<'a> {
    guard: MutexGuard<'a, Option<vm::Engine>>,
    scripting: &'a Scripting,
}

impl std::ops::Deref for EngineGuard<'_> {
    type Target = vm::Engine;
    fn deref(&self) -> &vm::Engine {
        self.guard.as_ref().expect("engine created in Scripting::engine")
    }
}

impl std::ops::DerefMut for EngineGuard<'_> {
    fn deref_mut(&mut self) -> &mut vm::Engine {
        self.guard.as_mut().expect("engine created in Scripting::engine")
    }
}

impl Drop for EngineGuard<'_> {
    fn drop(&mut self) {
        if let Some(engine) = self.guard.as_ref() {
            let s = self.scripting;
            s.cached_scripts.store(engine.cached_scripts(), Relaxed);
            s.used_memory_lua.store(engine.used_memory(), Relaxed);
            s.scripts_bytes.store(engine.scripts_bytes(), Relaxed);
            s.functions.store(engine.libraries.function_count(), Relaxed);
            s.libraries.store(engine.libraries.libs.len(), Relaxed);
            s.functions_bytes.store(engine.libraries.bytes(), Relaxed);
        }
    }
}

/// Commands that take the exclusive side themselves and must be called without a read side
/// (the script runners). Checked only for `noscript` commands, so the hot path pays one bit
/// test.
pub fn runs_exclusive(cmd: &Command) -> bool {
    matches!(cmd.name, "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro")
}

/// True if a script is running past the threshold and `cmd` must answer BUSY.
#[inline]
pub fn refuse_busy(ctx: &Ctx<'_>, cmd: &Command) -> Option<&'static str> {
    let run = &crate::cmd::script::of(ctx.shared).run;
    if run.busy.load(Relaxed) && cmd.flags & ALLOW_BUSY == 0 {
        return Some(run.busy_error());
    }
    None
}

/// The read side of this client's stripe for running `cmd`, or `Err(BUSY text)` when a
/// script holds the exclusive side past its threshold. Uncontended: one `try_read`. While
/// an EXEC or a script holds the exclusive side: yield, then sleep in short steps, checking
/// the busy flag, so a runaway script cannot leave this worker without an answer.
/// `allow_busy` commands run without the read side while the script is busy (they touch no
/// keys the script could be in the middle of: KILL, SHUTDOWN, MULTI, WATCH...).
pub fn read_or_busy<'s>(
    shared: &'s crate::shared::Shared,
    stripe: usize,
    cmd: &Command,
) -> Result<Option<ReadGuard<'s>>, &'static str> {
    if let Some(g) = shared.isolation.try_read(stripe) {
        return Ok(Some(g));
    }
    let mut tries = 0u32;
    loop {
        let run = &crate::cmd::script::of(shared).run;
        if run.busy.load(SeqCst) {
            if cmd.flags & ALLOW_BUSY != 0 {
                return Ok(None);
            }
            return Err(run.busy_error());
        }
        if let Some(g) = shared.isolation.try_read(stripe) {
            return Ok(Some(g));
        }
        if tries < CONTENDED_YIELDS {
            std::thread::yield_now();
        } else {
            std::thread::sleep(CONTENDED_SLEEP);
        }
        tries = tries.saturating_add(1);
    }
}

thread_local! {
    static IN_SCRIPT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// True while the calling thread runs a command on behalf of a script (blocking commands
/// then behave as non-blocking, as in Redis).
pub fn in_script() -> bool {
    IN_SCRIPT.with(std::cell::Cell::get)
}

pub(crate) fn set_in_script(on: bool) {
    IN_SCRIPT.with(|c| c.set(on));
}
