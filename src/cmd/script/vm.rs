//! The Lua VM and what scripts see in it: the sandboxed globals, the `redis` API, the
//! EVAL script cache, and running one script or function with Redis 7.0's error formats.
//!
//! Sandbox: scripts run with an environment proxy that reads an allow-listed global table
//! (Redis 7.0's list: no `os`, `io`, `print`, `require`, `dofile`, `loadfile`, `setfenv`...)
//! and refuses writes (`Attempt to modify a readonly table`) and reads of unknown names
//! (`Script attempted to access nonexistent global variable 'x'`); the library tables are
//! read-only proxies too. `loadstring`/`load` give the loaded chunk the same environment.
//!
//! Errors: the script runs under `xpcall` with a handler (Redis's `__redis__err__handler`)
//! that turns any error into a table `{err=, source=, line=}`, the source and line of the
//! innermost user-code frame; the reply is `-<err> script: <name>, on <source>:<line>.`.

use std::cell::Cell;
use std::ops::Range;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;

use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, RegistryKey, StdLib, Table, Value, VmState};

use super::convert;
use super::{monotonic_ms, Kill, RunState};
use crate::cmd::{self, ClientState, Ctx, NOSCRIPT, WRITE};
use crate::protocol::Argv;
use crate::reply::{self, Out, Proto};
use crate::shared::Shared;

/// VM instructions between two runs of the busy/kill hook (Redis's `LUA_MASKCOUNT` step):
/// about a millisecond of Lua, so SCRIPT KILL acts within milliseconds and the hook costs
/// nothing measurable.
pub const HOOK_INSTRUCTIONS: u32 = 100_000;
/// Most scripts the EVAL cache holds. Redis 7.0 keeps every script until SCRIPT FLUSH; a
/// client generating scripts (string-built EVALs) would grow it without bound, so past this
/// the cache is flushed (EVALSHA clients then get NOSCRIPT and fall back to EVAL).
pub const SCRIPT_CACHE_MAX: usize = 10_000;
/// Most bytes the Lua VM may allocate. Redis leaves Lua unbounded; one `string.rep` with a
/// huge count would then take the whole machine. Past this an allocation fails inside the
/// script with Lua's "not enough memory" error, and the server carries on.
pub const LUA_MEMORY_MAX: usize = 1 << 30;
/// `used_memory_lua` of a fresh VM, reported before the VM is first created.
pub const EMPTY_VM_BYTES: usize = 32 * 1024;
/// Lua stack frames the error handler looks through for the user code that failed.
const ERROR_FRAMES_MAX: usize = 32;
/// Most arguments one `redis.call` may pass (the table is converted into one request).
const CALL_ARGS_MAX: usize = 1 << 20;

/// The message a killed script fails with.
pub const KILLED: &str = "Script killed by user with SCRIPT KILL...";
/// The message a script stopped by SHUTDOWN NOSAVE fails with.
const SHUTDOWN_KILLED: &str = "Script killed by SHUTDOWN NOSAVE";

/// Globals a script may read (Redis 7.0's allow list), besides the libraries set up here.
const GLOBALS_ALLOWED: &[&str] = &[
    "_VERSION",
    "assert",
    "collectgarbage",
    "coroutine",
    "error",
    "gcinfo",
    "getmetatable",
    "ipairs",
    "math",
    "next",
    "pairs",
    "pcall",
    "rawequal",
    "rawget",
    "rawset",
    "select",
    "setmetatable",
    "string",
    "table",
    "tonumber",
    "tostring",
    "type",
    "unpack",
    "xpcall",
];

/// Builds the sandbox and the wrappers that need Lua semantics (raising the error table of
/// `redis.call`). Runs once per VM with the raw pieces as arguments.
const PRELUDE: &str = r#"
local G, raw_call, raw_pcall, redis, setfenv, loadstring, load = ...
local next, rawset, setmetatable, error, tostring = next, rawset, setmetatable, error, tostring
local real = setmetatable({}, {__mode = "k"})  -- read-only proxy -> the table it shows
local function refuse() error("Attempt to modify a readonly table", 2) end
local function readonly(t)
  local proxy = setmetatable({}, {__index = t, __newindex = refuse, __metatable = false})
  real[proxy] = t
  return proxy
end
setmetatable(G, {__index = function(_, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end})
redis.call = raw_call
redis.pcall = raw_pcall
for _, name in ipairs({"string", "table", "math", "coroutine", "cjson", "bit", "struct", "cmsgpack"}) do
  if rawget(G, name) then rawset(G, name, readonly(G[name])) end
end
rawset(G, "redis", readonly(redis))
local env = readonly(G)
-- Libraries resolve `redis` through `lib_overrides` first (the load-time API while loading).
-- While a library loads, `redis` is all it sees, as in Redis 7.0 (its load runs with only the
-- library API as globals): any other name is a nonexistent global.
local lib_overrides = {}
local loading = false
local lib_env = setmetatable({}, {__metatable = false, __newindex = refuse, __index = function(_, k)
  local v = lib_overrides[k]
  if v == nil then
    if loading then
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    v = G[k]
  end
  return v
end})
local function set_loading(on) loading = on end
real[lib_env] = G
local function wrap(loader)
  return function(s, name)
    local f, e = loader(s, name)
    if f then setfenv(f, env) end
    return f, e
  end
end
rawset(G, "loadstring", wrap(loadstring))
rawset(G, "load", wrap(load))
rawset(G, "_G", env)
-- Iterating or raw-writing a proxy acts on (or refuses) the table it shows.
rawset(G, "pairs", function(t) return next, real[t] or t, nil end)
rawset(G, "next", function(t, k) return next(real[t] or t, k) end)
rawset(G, "rawset", function(t, k, v)
  if real[t] then error("Attempt to modify a readonly table", 0) end
  return rawset(t, k, v)
end)
rawset(G, "setmetatable", function(t, mt)
  if real[t] or t == G then error("Attempt to modify a readonly table", 0) end
  return setmetatable(t, mt)
end)
return env, lib_env, lib_overrides, set_loading
"#;

/// Runs a script's main function under the error handler; a function gets (keys, args).
const RUNNERS: &str = r#"
local xpcall, handler = ...
local function run_eval(f) return xpcall(f, handler) end
local function run_function(f, keys, args)
  return xpcall(function() return f(keys, args) end, handler)
end
return run_eval, run_function
"#;

thread_local! {
    /// The [`RunCtx`] of the script this thread is running, or null.
    static CURRENT: Cell<*mut RunCtx<'static>> = const { Cell::new(std::ptr::null_mut()) };
}

/// What `redis.call` needs while a script runs.
struct RunCtx<'a> {
    shared: &'a Shared,
    client: &'a mut ClientState,
    now_ms: u64,
    resp3: bool,
    read_only: bool,
    run: &'a RunState,
    buf: Vec<u8>,
    ranges: Vec<Range<usize>>,
}

/// Run `f` with the current script's context, if a script is running on this thread.
fn with_current<R>(f: impl FnOnce(&mut RunCtx<'_>) -> R) -> Option<R> {
    let ptr = CURRENT.with(Cell::get);
    if ptr.is_null() {
        return None;
    }
    // SAFETY: `Engine::run` stores a pointer to a RunCtx on its own stack frame for exactly
    // the duration of the Lua call and clears it before the frame ends; Lua calls back into
    // Rust on this same thread, and `redis.call` cannot reach another script (scripts are
    // `noscript`), so no other reference to the RunCtx exists while `f` runs.
    Some(f(unsafe { &mut *ptr }))
}

/// What to run: an EVAL script or a library function.
pub struct Target<'a> {
    pub func: Function,
    /// EVAL (KEYS/ARGV globals, `@user_script`) or FCALL (keys, args parameters).
    pub eval: bool,
    /// The name errors show: the script's SHA1 or the function's name.
    pub name: &'a str,
    pub read_only: bool,
}

/// The VM and everything that lives in it.
pub struct Engine {
    pub lua: Lua,
    run: Arc<RunState>,
    /// The allow-listed globals the environments read.
    globals: Table,
    /// Environment of EVAL scripts.
    env: Table,
    /// Environment of function libraries; `lib_overrides.redis` is the load-time API while a
    /// library loads, the normal `redis` otherwise.
    pub(super) lib_env: Table,
    pub(super) lib_overrides: Table,
    /// `set_loading(true|false)`: a library is loading (it sees `redis` only).
    pub(super) set_loading: Function,
    run_eval: Function,
    run_function: Function,
    /// SHA1 (lower-case hex) → compiled script and its shebang flags (`None`: no shebang).
    /// Kept in the Lua registry, not as `Function` handles: each handle held from Rust takes
    /// a slot of mlua's reference stack (under 8 000, and running out panics), and the cache
    /// holds up to [`SCRIPT_CACHE_MAX`] scripts.
    scripts: ahash::HashMap<[u8; 40], (RegistryKey, Option<u8>)>,
    /// Bytes of the cached scripts' bodies and entries (INFO `used_memory_scripts_eval`).
    scripts_bytes: usize,
    /// The script's own client (selected db; never in the client list).
    client: Option<ClientState>,
    pub libraries: super::functions::Libraries,
}

impl Engine {
    pub fn new(run: Arc<RunState>) -> mlua::Result<Engine> {
        let libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH; // coroutine is in 5.1's base library
        let lua = Lua::new_with(libs, LuaOptions::default())?;
        lua.set_memory_limit(LUA_MEMORY_MAX)?;
        let raw = lua.globals();
        let globals = lua.create_table()?;
        for name in GLOBALS_ALLOWED {
            globals.raw_set(*name, raw.raw_get::<Value>(*name)?)?;
        }
        super::libs::install(&lua, &globals)?;
        let redis = redis_api(&lua)?;
        lua.set_named_registry_value(CALL_REGISTRY_KEY, lua.create_function(|lua, args: MultiValue| call(lua, args))?)?;
        // SAFETY: `call_raising` only uses the Lua C API on the state it is given, keeps the
        // stack balanced, and holds no Rust values across `lua_call` / `lua_error`.
        let raw_call = unsafe { lua.create_c_function(call_raising)? };
        let raw_pcall = lua.create_function(|lua, args: MultiValue| Ok(call(lua, args)?.0))?;
        let prelude = lua.load(PRELUDE).set_name("=redis").into_function()?;
        let (env, lib_env, lib_overrides, set_loading): (Table, Table, Table, Function) = prelude.call((
            globals.clone(),
            raw_call,
            raw_pcall,
            redis.clone(),
            raw.raw_get::<Function>("setfenv")?,
            raw.raw_get::<Function>("loadstring")?,
            raw.raw_get::<Function>("load")?,
        ))?;
        lib_overrides.raw_set("redis", globals.raw_get::<Value>("redis")?)?;
        let handler = lua.create_function(error_handler)?;
        let runners = lua.load(RUNNERS).set_name("=redis").into_function()?;
        let (run_eval, run_function) = runners.call((raw.raw_get::<Function>("xpcall")?, handler))?;
        install_hook(&lua, Arc::clone(&run))?;
        Ok(Engine {
            lua,
            run,
            globals,
            env,
            lib_env,
            lib_overrides,
            set_loading,
            run_eval,
            run_function,
            scripts: Default::default(),
            scripts_bytes: 0,
            client: None,
            libraries: Default::default(),
        })
    }

    pub(super) fn run_state(&self) -> Arc<RunState> {
        Arc::clone(&self.run)
    }

    pub fn cached_scripts(&self) -> usize {
        self.scripts.len()
    }

    /// Bytes of the EVAL cache (the bodies as sent, their SHA1s and entries).
    pub fn scripts_bytes(&self) -> usize {
        self.scripts_bytes
    }

    pub fn used_memory(&self) -> usize {
        self.lua.used_memory()
    }

    /// The cached script with this SHA1 and its shebang flags, if any.
    pub fn script(&self, sha: &[u8; 40]) -> Option<(Function, Option<u8>)> {
        let (key, flags) = self.scripts.get(sha)?;
        Some((self.lua.registry_value(key).ok()?, *flags))
    }

    pub fn has_script(&self, sha: &[u8; 40]) -> bool {
        self.scripts.contains_key(sha)
    }

    /// Compile `body` and cache it under `sha` with its shebang flags; Err is the full error
    /// reply text.
    pub fn load_script(&mut self, sha: &[u8; 40], body: &[u8]) -> Result<(Function, Option<u8>), String> {
        if let Some(cached) = self.script(sha) {
            return Ok(cached);
        }
        let flags = super::functions::eval_flags(body)?;
        let code = super::functions::strip_shebang(body);
        let compiled =
            self.lua.load(&code[..]).set_name("@user_script").set_environment(self.env.clone()).into_function();
        let f = compiled.map_err(|e| format!("ERR Error compiling script (new function): {}", syntax_message(&e)))?;
        if self.scripts.len() >= SCRIPT_CACHE_MAX {
            self.flush_scripts();
        }
        let key = self.lua.create_registry_value(f.clone()).map_err(|e| format!("ERR {e}"))?;
        self.scripts.insert(*sha, (key, flags));
        self.scripts_bytes += body.len() + sha.len() + std::mem::size_of::<(RegistryKey, Option<u8>)>();
        Ok((f, flags))
    }

    /// SCRIPT FLUSH: forget every cached script.
    pub fn flush_scripts(&mut self) {
        self.scripts.clear();
        self.scripts_bytes = 0;
        self.lua.expire_registry_values();
        let _ = self.lua.gc_collect();
    }

    /// Run `target` with `keys` and `args` as the client of `ctx`, writing its reply. The
    /// caller holds the exclusive side of the isolation lock.
    pub fn run(&mut self, ctx: &mut Ctx<'_>, target: &Target<'_>, keys: &[&[u8]], args: &[&[u8]]) {
        let shared = ctx.shared;
        let run = Arc::clone(&self.run);
        begin(&run, target.eval, shared.tunables.busy_reply_threshold_ms());
        let mut client = self.client.take().unwrap_or_else(|| {
            let c = ClientState::new(shared);
            shared.clients.unregister(&c.handle);
            c
        });
        client.db = ctx.client.db;
        let mut rc = RunCtx {
            shared,
            client: &mut client,
            now_ms: ctx.now_ms,
            resp3: false,
            read_only: target.read_only,
            run: &run,
            buf: Vec::new(),
            ranges: Vec::new(),
        };
        CURRENT.with(|c| c.set((&raw mut rc).cast()));
        let result = self.call_target(target, keys, args);
        CURRENT.with(|c| c.set(std::ptr::null_mut()));
        let resp3 = rc.resp3;
        let killed = run.kill_request() != Kill::None || super::offload::inline_abandoned();
        end(&run);
        self.client = Some(client);
        match result {
            Ok(values) => self.reply(ctx.out, values, resp3, target.name),
            Err(e) => reply::error(ctx.out, &format!("ERR Error running script {}, {e}", target.name)),
        }
        if killed {
            let _ = install_hook(&self.lua, Arc::clone(&self.run));
        }
    }

    fn call_target(&self, target: &Target<'_>, keys: &[&[u8]], args: &[&[u8]]) -> mlua::Result<MultiValue> {
        let lua = &self.lua;
        let keys = sequence(lua, keys)?;
        let args = sequence(lua, args)?;
        if target.eval {
            self.globals.raw_set("KEYS", keys)?;
            self.globals.raw_set("ARGV", args)?;
            self.run_eval.call(target.func.clone())
        } else {
            self.run_function.call((target.func.clone(), keys, args))
        }
    }

    /// The reply for what the runner returned: `(true, result)` or `(false, error table)`.
    fn reply(&self, out: &mut Out, values: MultiValue, resp3: bool, name: &str) {
        let mut it = values.into_iter();
        let ok = matches!(it.next(), Some(Value::Boolean(true)));
        let value = it.next().unwrap_or(Value::Nil);
        if ok {
            return convert::lua_to_reply(out, &value, resp3, 0);
        }
        let Value::Table(t) = value else {
            return reply::error(out, &format!("ERR Error running script {name}, execution failure"));
        };
        let err: String = t.raw_get::<mlua::String>("err").map(|s| s.to_string_lossy()).unwrap_or_default();
        let source: Option<String> =
            t.raw_get::<Option<mlua::String>>("source").ok().flatten().map(|s| s.to_string_lossy());
        let line: Option<i64> = t.raw_get::<Option<i64>>("line").ok().flatten();
        let text = match (source, line) {
            (Some(source), Some(line)) => format!("-{err} script: {name}, on {source}:{line}."),
            _ => format!("-{err}"),
        };
        // Redis's addReplyErrorLength: a message without its own dash gets `-ERR `.
        reply::error(out, &text[1..]);
    }
}

fn begin(run: &RunState, eval: bool, threshold_ms: u64) {
    run.dirty.store(false, SeqCst);
    run.kill.store(Kill::None as u8, SeqCst);
    run.busy.store(false, SeqCst);
    run.is_eval.store(eval, SeqCst);
    run.threshold_ms.store(threshold_ms, SeqCst);
    run.started_ms.store(monotonic_ms(), SeqCst);
    run.running.store(true, SeqCst);
}

fn end(run: &RunState) {
    run.running.store(false, SeqCst);
    run.busy.store(false, SeqCst);
    run.kill.store(Kill::None as u8, SeqCst);
}

/// Raise the busy flag once the running script is past its threshold. Called by the hook
/// and after every command a script calls (a script spending its time in commands runs few
/// VM instructions).
fn check_busy(run: &RunState) {
    // Replies of scripts that ran before this one on the executor go out now if they waited.
    super::offload::wake_overdue();
    if run.busy.load(Relaxed) {
        return;
    }
    let elapsed = monotonic_ms().saturating_sub(run.started_ms.load(Relaxed));
    if elapsed >= run.threshold_ms.load(Relaxed) {
        tracing::warn!("a Lua script has been running for {elapsed} ms: other clients now get BUSY");
        run.busy.store(true, SeqCst);
    }
}

/// The instruction-count hook: raise the busy flag past the threshold, honour kills.
pub(super) fn install_hook(lua: &Lua, run: Arc<RunState>) -> mlua::Result<()> {
    lua.set_hook(HookTriggers::new().every_nth_instruction(HOOK_INSTRUCTIONS), move |lua, _| {
        if run.loading.load(Relaxed) {
            let elapsed = monotonic_ms().saturating_sub(run.started_ms.load(Relaxed));
            if elapsed > run.threshold_ms.load(Relaxed) {
                return Err(mlua::Error::RuntimeError("FUNCTION LOAD timeout".into()));
            }
        }
        if !run.running.load(Relaxed) {
            return Ok(VmState::Continue);
        }
        check_busy(&run);
        if super::offload::abandon_inline(false) {
            let msg = super::offload::ABANDONED;
            lua.set_hook(HookTriggers::EVERY_LINE, move |_, _| Err(mlua::Error::RuntimeError(msg.into())))?;
            return Err(mlua::Error::RuntimeError(msg.into()));
        }
        let msg = match run.kill_request() {
            Kill::User if !run.dirty.load(SeqCst) => KILLED,
            Kill::Shutdown => SHUTDOWN_KILLED,
            _ => return Ok(VmState::Continue),
        };
        tracing::warn!("Lua script killed: {msg}");
        // From now on fail at every line, so `pcall` cannot swallow the kill.
        lua.set_hook(HookTriggers::EVERY_LINE, move |_, _| Err(mlua::Error::RuntimeError(msg.into())))?;
        Err(mlua::Error::RuntimeError(msg.into()))
    })
}

/// Redis's `__redis__err__handler`: any error becomes `{err=, source=, line=}` with the
/// innermost frame of Lua code that is not ours (our chunks are named `=redis`).
fn error_handler(lua: &Lua, err: Value) -> mlua::Result<Table> {
    let table = match err {
        Value::Table(t) if matches!(t.raw_get::<Value>("err"), Ok(Value::String(_))) => t,
        other => {
            let t = lua.create_table()?;
            t.raw_set("err", format!("ERR {}", error_value_text(&other)))?;
            t
        }
    };
    for level in 1..ERROR_FRAMES_MAX {
        let found = lua.inspect_stack(level, |d| {
            let info = d.source();
            let source = info.source.map(|s| s.into_owned())?;
            let internal = info.what == "C" || source.starts_with('=');
            (!internal).then(|| (source, d.current_line().map_or(-1, |n| n as i64)))
        });
        match found {
            None => break,
            Some(Some((source, line))) => {
                table.raw_set("source", source)?;
                table.raw_set("line", line)?;
                break;
            }
            Some(None) => {}
        }
    }
    Ok(table)
}

/// `tostring(err)` for a non-table error; Rust errors show their innermost message.
fn error_value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string_lossy(),
        Value::Error(e) => root_message(e),
        Value::Nil => "nil".into(),
        Value::Boolean(b) => b.to_string(),
        Value::Integer(i) => i.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.type_name().to_string(),
    }
}

/// The message of an error a Lua call returned (its innermost cause).
pub(super) fn lua_error_text(e: &mlua::Error) -> String {
    root_message(e)
}

fn root_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => root_message(cause),
        mlua::Error::RuntimeError(m) => m.split("\nstack traceback:").next().unwrap_or(m).to_string(),
        mlua::Error::BadArgument { cause, pos, to, .. } => {
            format!("bad argument #{pos} to '{}' ({})", to.as_deref().unwrap_or("?"), root_message(cause))
        }
        other => other.to_string(),
    }
}

/// A compile error as Lua prints it (`user_script:1: '=' expected near 'x'`).
fn syntax_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        other => root_message(other),
    }
}

/// Registry key of the Rust half of `redis.call` (returns the reply and whether it failed).
const CALL_REGISTRY_KEY: &str = "ringkv.redis_call";
/// The same key, NUL-terminated for the C API.
const CALL_REGISTRY_KEY_C: &std::ffi::CStr = c"ringkv.redis_call";

/// `redis.call` as a C function, as in Redis: runs the Rust half and raises the error table
/// it returns with `lua_error`. Being a C function matters: `return redis.call(...)` then is
/// no Lua tail call, so the script's frame stays on the stack for the error's line number.
unsafe extern "C-unwind" fn call_raising(state: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    use mlua::ffi;
    // SAFETY (whole body): `state` is the running Lua state that called us; every call below
    // is the documented C API with stack indices we pushed ourselves. Errors raised by
    // `lua_call` or `lua_error` unwind by longjmp through this frame, which owns nothing
    // that needs dropping.
    unsafe {
        let nargs = ffi::lua_gettop(state);
        ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, CALL_REGISTRY_KEY_C.as_ptr());
        ffi::lua_insert(state, 1);
        ffi::lua_call(state, nargs, 2);
        if ffi::lua_toboolean(state, -1) != 0 {
            ffi::lua_settop(state, -2);
            ffi::lua_error(state)
        }
        ffi::lua_settop(state, -2);
        1
    }
}

/// `{err="ERR <msg>"}`, as Redis's `luaPushError` builds it.
fn err_table(lua: &Lua, msg: &str) -> mlua::Result<(Value, bool)> {
    let t = lua.create_table_with_capacity(0, 1)?;
    t.raw_set("err", format!("ERR {msg}"))?;
    Ok((Value::Table(t), true))
}

/// `redis.call` / `redis.pcall`: run one command as the script's client. Returns the reply
/// as a Lua value and whether it is an error (the `call` wrapper then raises it).
fn call(lua: &Lua, args: MultiValue) -> mlua::Result<(Value, bool)> {
    if args.is_empty() {
        return err_table(lua, "Please specify at least one argument for this redis lib call");
    }
    if args.len() > CALL_ARGS_MAX {
        return err_table(lua, "Too many arguments for this redis lib call");
    }
    let outcome = with_current(|rc| -> mlua::Result<Result<Vec<u8>, &'static str>> {
        rc.buf.clear();
        rc.ranges.clear();
        for a in args.iter() {
            let start = rc.buf.len();
            match a {
                Value::String(s) => rc.buf.extend_from_slice(&s.as_bytes()),
                Value::Integer(_) | Value::Number(_) => {
                    let s = lua.coerce_string(a.clone())?.ok_or_else(|| mlua::Error::runtime("number"))?;
                    rc.buf.extend_from_slice(&s.as_bytes());
                }
                _ => return Ok(Err("Lua redis lib command arguments must be strings or integers")),
            }
            rc.ranges.push(start..rc.buf.len());
        }
        let buf = std::mem::take(&mut rc.buf);
        let ranges = std::mem::take(&mut rc.ranges);
        let result = run_command(rc, Argv::from_parts(&buf, &ranges));
        rc.buf = buf;
        rc.ranges = ranges;
        Ok(result)
    });
    match outcome {
        None => err_table(lua, "redis.call is only available while a script runs"),
        Some(r) => match r? {
            Err(msg) if msg == super::offload::ABANDONED => {
                // The inline attempt ends here (the executor runs the script from the start):
                // fail at every line from now on, so `pcall` cannot keep it going.
                lua.set_hook(HookTriggers::EVERY_LINE, move |_, _| Err(mlua::Error::RuntimeError(msg.into())))?;
                Err(mlua::Error::RuntimeError(msg.into()))
            }
            Err(msg) => err_table(lua, msg),
            Ok(bytes) => convert::reply_to_lua(lua, &bytes),
        },
    }
}

/// Check and run one command for a script (Redis's `scriptCall`), returning its encoded
/// reply or the reason it may not run.
fn run_command(rc: &mut RunCtx<'_>, argv: Argv<'_>) -> Result<Vec<u8>, &'static str> {
    let Some(command) = cmd::lookup(argv.get(0)) else {
        return Err("Unknown Redis command called from script");
    };
    let argc = argv.len() as i32;
    if (command.arity > 0 && argc != command.arity) || argc < -command.arity {
        return Err("Wrong number of args calling Redis command from script");
    }
    if command.flags & NOSCRIPT != 0 {
        return Err("This Redis command is not allowed from script");
    }
    if command.flags & WRITE != 0 {
        if rc.read_only {
            return Err("Write commands are not allowed from read-only scripts.");
        }
        if super::offload::abandon_inline(true) {
            return Err(super::offload::ABANDONED); // a write cannot be undone: rerun off the worker
        }
        rc.run.dirty.store(true, SeqCst);
    } else if super::offload::abandon_inline(false) {
        return Err(super::offload::ABANDONED);
    }
    let mut out = Out::with_proto(if rc.resp3 { Proto::Resp3 } else { Proto::Resp2 });
    // As `cmd::call` does: collection writes count for WATCH by the running command's flags;
    // blocking commands act as their non-blocking forms inside a script.
    rc.client.running_flags = command.flags;
    rc.client.cannot_block = true;
    let mut ctx = Ctx { shared: rc.shared, client: rc.client, out: &mut out, now_ms: rc.now_ms };
    // AOF on: the script is recorded as the writes it ran (Redis 7.0's effects replication).
    let journal_on = rc.shared.store.journal().enabled_relaxed();
    let before = journal_on.then(|| crate::store::journal::Mark::now(ctx.client.db));
    super::set_in_script(true);
    (command.handler)(&mut ctx, argv);
    super::set_in_script(false);
    if let Some(before) = before {
        cmd::propagate_change(ctx.shared, command, argv, ctx.now_ms, &before, &ctx.out[..]);
    }
    check_busy(rc.run);
    Ok(out.take())
}

/// The `redis` table (its `call`/`pcall` are added by the prelude).
fn redis_api(lua: &Lua) -> mlua::Result<Table> {
    let redis = lua.create_table()?;
    redis.raw_set("error_reply", lua.create_function(|lua, args: MultiValue| error_reply(lua, args))?)?;
    redis.raw_set("status_reply", lua.create_function(|lua, args: MultiValue| status_reply(lua, args))?)?;
    redis.raw_set("sha1hex", lua.create_function(sha1hex)?)?;
    redis.raw_set("setresp", lua.create_function(setresp)?)?;
    redis.raw_set("set_repl", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
    redis.raw_set("replicate_commands", lua.create_function(|_, _: MultiValue| Ok(true))?)?;
    redis.raw_set("breakpoint", lua.create_function(|_, _: MultiValue| Ok(false))?)?;
    redis.raw_set("debug", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
    add_log_and_constants(lua, &redis)?;
    Ok(redis)
}

/// `redis.log`, its levels, the replication flags and the version constants: shared by the
/// script API and the library-load API.
pub(super) fn add_log_and_constants(lua: &Lua, redis: &Table) -> mlua::Result<()> {
    redis.raw_set("log", lua.create_function(log)?)?;
    for (name, v) in [("LOG_DEBUG", 0), ("LOG_VERBOSE", 1), ("LOG_NOTICE", 2), ("LOG_WARNING", 3)] {
        redis.raw_set(name, v)?;
    }
    for (name, v) in [("REPL_NONE", 0), ("REPL_AOF", 1), ("REPL_SLAVE", 2), ("REPL_REPLICA", 2), ("REPL_ALL", 3)] {
        redis.raw_set(name, v)?;
    }
    let version = crate::cmd::server::REDIS_COMPAT_VERSION;
    redis.raw_set("REDIS_VERSION", version)?;
    let num = version.split('.').filter_map(|p| p.parse::<i64>().ok()).fold(0, |acc, p| acc * 256 + p);
    redis.raw_set("REDIS_VERSION_NUM", num)?;
    Ok(())
}

/// `redis.error_reply(msg)`: `{err=...}` with Redis's code rules.
fn error_reply(lua: &Lua, args: MultiValue) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(0, 1)?;
    let text = match (args.len(), args.front()) {
        (1, Some(Value::String(s))) => {
            let s = s.as_bytes();
            let body = s.strip_prefix(b"-").unwrap_or(&s);
            convert::error_text(body)
        }
        _ => b"ERR wrong number or type of arguments".to_vec(),
    };
    t.raw_set("err", lua.create_string(trim_newlines(&text))?)?;
    Ok(t)
}

fn trim_newlines(b: &[u8]) -> &[u8] {
    let end = b.iter().rposition(|&c| c != b'\r' && c != b'\n').map_or(0, |i| i + 1);
    &b[..end]
}

/// `redis.status_reply(msg)`: `{ok=...}`.
fn status_reply(lua: &Lua, args: MultiValue) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(0, 1)?;
    match (args.len(), args.front()) {
        (1, Some(Value::String(s))) => t.raw_set("ok", s.clone())?,
        _ => t.raw_set("err", "ERR wrong number or type of arguments")?,
    }
    Ok(t)
}

fn sha1hex(lua: &Lua, args: MultiValue) -> mlua::Result<mlua::String> {
    if args.len() != 1 {
        return Err(mlua::Error::runtime("wrong number of arguments"));
    }
    let v = args.into_iter().next().unwrap_or(Value::Nil);
    let bytes = match &v {
        Value::String(s) => s.as_bytes().to_vec(),
        other => lua.coerce_string(other.clone())?.map(|s| s.as_bytes().to_vec()).unwrap_or_default(),
    };
    lua.create_string(sha1_hex(&bytes))
}

/// Lower-case hex SHA1 of `data`, as EVAL's cache keys.
pub fn sha1_hex(data: &[u8]) -> [u8; 40] {
    let digest = sha1_smol::Sha1::from(data).digest().bytes();
    let mut out = [0u8; 40];
    for (i, b) in digest.iter().enumerate() {
        out[2 * i] = b"0123456789abcdef"[(b >> 4) as usize];
        out[2 * i + 1] = b"0123456789abcdef"[(b & 15) as usize];
    }
    out
}

fn setresp(_: &Lua, args: MultiValue) -> mlua::Result<()> {
    let v = match (args.len(), args.front()) {
        (1, Some(Value::Integer(i))) => *i,
        (1, Some(Value::Number(n))) => *n as i64,
        _ => return Err(mlua::Error::runtime("redis.setresp() requires one argument.")),
    };
    if v != 2 && v != 3 {
        return Err(mlua::Error::runtime("RESP version must be 2 or 3."));
    }
    with_current(|rc| rc.resp3 = v == 3);
    Ok(())
}

fn log(lua: &Lua, args: MultiValue) -> mlua::Result<()> {
    if args.len() < 2 {
        return Err(mlua::Error::runtime("redis.log() requires two arguments or more."));
    }
    let level = match args.front() {
        Some(Value::Integer(i)) => *i,
        Some(Value::Number(n)) => *n as i64,
        _ => return Err(mlua::Error::runtime("First argument must be a number (log level).")),
    };
    if !(0..=3).contains(&level) {
        return Err(mlua::Error::runtime("Invalid debug level."));
    }
    let mut text = String::new();
    for (i, v) in args.iter().skip(1).enumerate() {
        if i > 0 {
            text.push(' ');
        }
        if let Some(s) = lua.coerce_string(v.clone())? {
            text.push_str(&s.to_string_lossy());
        }
    }
    match level {
        0 => tracing::debug!("lua: {text}"),
        1 | 2 => tracing::info!("lua: {text}"),
        _ => tracing::warn!("lua: {text}"),
    }
    Ok(())
}

/// A Lua sequence of `items`, built one string at a time: holding them all from Rust first
/// would take a slot of mlua's reference stack each (under 8 000; running out panics), and
/// `EVAL script 0` may carry any number of arguments.
fn sequence(lua: &Lua, items: &[&[u8]]) -> mlua::Result<mlua::Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        t.raw_seti(i + 1, lua.create_string(item)?)?;
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_hex_is_lower_case_hex() {
        assert_eq!(&sha1_hex(b""), b"da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }

    #[test]
    fn memory_limit_fails_the_allocation_not_the_process() {
        // Same mechanism as LUA_MEMORY_MAX, with a small limit so the test allocates little.
        let engine = Engine::new(Arc::default()).expect("engine");
        engine.lua.set_memory_limit(engine.lua.used_memory() + (4 << 20)).expect("limit");
        let r = engine.lua.load("return #string.rep('x', 2^24)").eval::<i64>();
        assert!(matches!(r, Err(mlua::Error::MemoryError(_))), "{r:?}");
        engine.lua.set_memory_limit(LUA_MEMORY_MAX).expect("limit");
        assert_eq!(engine.lua.load("return #string.rep('x', 100)").eval::<i64>().expect("small"), 100);
    }
}
