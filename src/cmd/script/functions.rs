//! Function libraries (Redis 7's FUNCTION LOAD / FCALL): the `#!lua name=<lib>` header, the
//! load-time API (`redis.register_function` by position or with a table of
//! `function_name`, `callback`, `flags`, `description`), the registry of libraries and
//! functions, and the EVAL shebang (`#!lua flags=no-writes,...`).
//!
//! A library's code runs once at load, in the shared library environment whose `redis` is
//! the load-time API; afterwards the same environment resolves `redis` to the script API,
//! so registered functions call commands as scripts do. Loading is all-or-nothing: a library
//! whose code fails or registers nothing leaves the registry as it was.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::SeqCst;

use mlua::{Function, Lua, Table, Value};

use super::vm::Engine;

/// `no-writes`: the function may only read (FCALL_RO may call it).
pub const FLAG_NO_WRITES: u8 = 1 << 0;
/// Every flag a function or EVAL shebang may carry, with its name, as Redis 7.0 lists them.
pub const FLAG_NAMES: &[(u8, &str)] = &[
    (FLAG_NO_WRITES, "no-writes"),
    (1 << 1, "allow-oom"),
    (1 << 2, "allow-stale"),
    (1 << 3, "no-cluster"),
    (1 << 4, "allow-cross-slot-keys"),
];
/// Most functions one library may register (each is a registry entry and a reply row).
const FUNCTIONS_PER_LIBRARY_MAX: usize = 1024;
/// Milliseconds a library's load-time code may run (Redis's load timeout).
pub const LOAD_TIMEOUT_MS: u64 = 500;

/// One registered function.
pub struct Func {
    pub name: Vec<u8>,
    /// In the Lua registry (see `vm::Engine::scripts` for why not a `Function`).
    pub func: mlua::RegistryKey,
    pub flags: u8,
    pub description: Option<Vec<u8>>,
}

/// One loaded library.
pub struct Library {
    pub name: Vec<u8>,
    pub code: Vec<u8>,
    pub functions: Vec<Func>,
}

/// Every loaded library, by name; functions are found by scanning (FCALL looks one name up
/// in a map built from the libraries, see [`Libraries::find`]).
#[derive(Default)]
pub struct Libraries {
    pub libs: BTreeMap<Vec<u8>, Library>,
    /// Function name → library name.
    index: ahash::HashMap<Vec<u8>, Vec<u8>>,
    /// Bytes of the libraries' code, names and function entries (INFO `used_memory_functions`).
    bytes: usize,
}

/// What one library costs outside the Lua VM: its code and name, its functions' names and
/// descriptions, their entries and their index entries.
fn library_bytes(lib: &Library) -> usize {
    let funcs: usize = lib
        .functions
        .iter()
        .map(|f| {
            2 * f.name.len() + lib.name.len() + f.description.as_ref().map_or(0, Vec::len) + std::mem::size_of::<Func>()
        })
        .sum();
    lib.code.len() + lib.name.len() + std::mem::size_of::<Library>() + funcs
}

impl Libraries {
    pub fn find(&self, name: &[u8]) -> Option<&Func> {
        let lib = self.index.get(name)?;
        self.libs.get(lib)?.functions.iter().find(|f| f.name == name)
    }
    pub fn function_count(&self) -> usize {
        self.index.len()
    }
    pub fn bytes(&self) -> usize {
        self.bytes
    }
    pub fn delete(&mut self, lib: &[u8]) -> bool {
        let Some(old) = self.libs.remove(lib) else { return false };
        self.bytes -= library_bytes(&old);
        for f in &old.functions {
            self.index.remove(&f.name);
        }
        true
    }
    pub fn flush(&mut self) {
        self.libs.clear();
        self.index.clear();
        self.bytes = 0;
    }
    fn insert(&mut self, lib: Library) {
        self.bytes += library_bytes(&lib);
        for f in &lib.functions {
            self.index.insert(f.name.clone(), lib.name.clone());
        }
        self.libs.insert(lib.name.clone(), lib);
    }
}

/// Parse a library header `#!lua name=<lib>`; Err is the reply text. As Redis 7.0's
/// `functionExtractLibMetaData`: the first line (a newline is required) is split with
/// `sdssplitargs` (quotes allowed, unbalanced ones rejected), `name=` in any case and once;
/// then the engine (any case), then the name's characters.
fn library_name(code: &[u8]) -> Result<Vec<u8>, String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let invalid = || "ERR Invalid library metadata".to_string();
    let end = code.iter().position(|&b| b == b'\n').ok_or_else(invalid)?;
    let parts = crate::args::split(&code[..end]).ok().filter(|p| !p.is_empty()).ok_or_else(invalid)?;
    let engine = parts[0].get(2..).unwrap_or_default();
    let mut name = None;
    for part in &parts[1..] {
        match part.get(..5) {
            Some(key) if key.eq_ignore_ascii_case(b"name=") => {
                if name.is_some() {
                    return Err("ERR Invalid metadata value, name argument was given multiple times".into());
                }
                name = Some(part[5..].to_vec());
            }
            _ => return Err(format!("ERR Invalid metadata value given: {}", String::from_utf8_lossy(part))),
        }
    }
    let name = name.ok_or("ERR Library name was not given")?;
    if !engine.eq_ignore_ascii_case(b"lua") {
        return Err(format!("ERR Engine '{}' not found", String::from_utf8_lossy(engine)));
    }
    if name.is_empty() || !name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_') {
        return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    Ok(name)
}

/// EVAL's shebang: `#!lua [flags=a,b]` → its flags (`None` without a shebang). Err is the
/// reply text.
pub fn eval_flags(body: &[u8]) -> Result<Option<u8>, String> {
    let Some(rest) = body.strip_prefix(b"#!") else { return Ok(None) };
    let line = &rest[..rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len())];
    let mut parts = line.split(|&b| b == b' ').filter(|p| !p.is_empty());
    if parts.next() != Some(b"lua") {
        return Err(format!(
            "ERR Unexpected engine in script shebang: {}",
            String::from_utf8_lossy(&body[..line.len() + 2])
        ));
    }
    let mut flags = 0;
    for part in parts {
        let Some(list) = part.strip_prefix(b"flags=") else {
            return Err(format!("ERR Unknown lua shebang option: {}", String::from_utf8_lossy(part)));
        };
        for flag in list.split(|&b| b == b',').filter(|f| !f.is_empty()) {
            let known = FLAG_NAMES.iter().find(|(_, n)| n.as_bytes() == flag);
            let Some((bit, _)) = known else {
                return Err(format!("ERR Unexpected flag in script shebang: {}", String::from_utf8_lossy(flag)));
            };
            flags |= bit;
        }
    }
    Ok(Some(flags))
}

/// The code to compile: a leading `#!` line becomes a comment, so line numbers stay those
/// the user wrote.
pub fn strip_shebang(body: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if body.starts_with(b"#!") {
        std::borrow::Cow::Owned([&b"--"[..], body].concat())
    } else {
        std::borrow::Cow::Borrowed(body)
    }
}

/// What `register_function` collects during a load.
#[derive(Default)]
struct Pending {
    functions: Vec<Func>,
    error: Option<String>,
}

/// FUNCTION LOAD: compile and run `code`, register its functions. Ok: the library name.
pub fn load(engine: &mut Engine, code: &[u8], replace: bool) -> Result<Vec<u8>, String> {
    let name = library_name(code)?;
    if engine.libraries.libs.contains_key(&name) && !replace {
        return Err(format!("ERR Library '{}' already exists", String::from_utf8_lossy(&name)));
    }
    let functions = run_library(engine, code)?;
    if functions.is_empty() {
        return Err("ERR No functions registered".into());
    }
    for f in &functions {
        let owner = engine.libraries.index.get(&f.name);
        if owner.is_some_and(|lib| *lib != name) {
            return Err(format!("ERR Function {} already exists", String::from_utf8_lossy(&f.name)));
        }
    }
    engine.libraries.delete(&name);
    engine.libraries.insert(Library { name: name.clone(), code: code.to_vec(), functions });
    // A replaced library's functions leave the registry (their keys were dropped).
    engine.lua.expire_registry_values();
    Ok(name)
}

fn run_library(engine: &mut Engine, code: &[u8]) -> Result<Vec<Func>, String> {
    let lua = &engine.lua;
    let compiled = lua
        .load(&strip_shebang(code)[..])
        .set_name("@user_function")
        .set_environment(engine.lib_env.clone())
        .into_function()
        .map_err(|e| format!("ERR Error compiling function: {}", compile_message(&e)))?;
    let api = load_api(lua).map_err(|e| format!("ERR {e}"))?;
    let normal: Value = engine.lib_overrides.raw_get("redis").map_err(|e| format!("ERR {e}"))?;
    let _ = engine.lib_overrides.raw_set("redis", api);
    let _ = engine.set_loading.call::<()>(true);
    lua.set_app_data(Pending::default());
    let run = engine.run_state();
    run.started_ms.store(super::monotonic_ms(), SeqCst);
    run.threshold_ms.store(LOAD_TIMEOUT_MS, SeqCst);
    run.loading.store(true, SeqCst);
    let result = compiled.call::<Value>(());
    run.loading.store(false, SeqCst);
    let _ = engine.set_loading.call::<()>(false);
    let _ = engine.lib_overrides.raw_set("redis", normal);
    let pending = lua.remove_app_data::<Pending>().unwrap_or_default();
    if let Err(e) = result {
        return Err(format!("ERR Error registering functions: ERR {}", super::vm::lua_error_text(&e)));
    }
    if let Some(e) = pending.error {
        return Err(format!("ERR Error registering functions: {e}"));
    }
    Ok(pending.functions)
}

fn compile_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// The `redis` table a library sees while it loads.
fn load_api(lua: &Lua) -> mlua::Result<Table> {
    let api = lua.create_table()?;
    api.raw_set("register_function", lua.create_function(register_function)?)?;
    super::vm::add_log_and_constants(lua, &api)?;
    Ok(api)
}

/// `redis.register_function(name, callback)` or `redis.register_function{...}`.
fn register_function(lua: &Lua, args: mlua::MultiValue) -> mlua::Result<()> {
    let parsed = parse_registration(lua, &args);
    let mut pending = lua.app_data_mut::<Pending>().ok_or_else(|| mlua::Error::runtime("not loading a library"))?;
    match parsed {
        Err(e) => {
            pending.error.get_or_insert(format!("ERR {e}"));
            Err(mlua::Error::runtime(e))
        }
        Ok(f) => {
            if pending.functions.iter().any(|g| g.name == f.name) {
                let e = format!("Function {} already exists", String::from_utf8_lossy(&f.name));
                pending.error.get_or_insert(format!("ERR {e}"));
                return Err(mlua::Error::runtime(e));
            }
            if pending.functions.len() >= FUNCTIONS_PER_LIBRARY_MAX {
                return Err(mlua::Error::runtime("too many functions in one library"));
            }
            pending.functions.push(f);
            Ok(())
        }
    }
}

fn parse_registration(lua: &Lua, args: &mlua::MultiValue) -> Result<Func, String> {
    let (name, func, flags, description) = match (args.len(), args.front(), args.get(1)) {
        (2, Some(Value::String(n)), Some(Value::Function(f))) => (n.as_bytes().to_vec(), f.clone(), 0, None),
        (1, Some(Value::Table(t)), _) => from_table(t)?,
        _ => return Err("wrong number of arguments to redis.register_function".into()),
    };
    if name.is_empty() || !name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_') {
        return Err("Function names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    let func = lua.create_registry_value(func).map_err(|e| e.to_string())?;
    Ok(Func { name, func, flags, description })
}

type Registration = (Vec<u8>, Function, u8, Option<Vec<u8>>);

fn from_table(t: &Table) -> Result<Registration, String> {
    let (mut name, mut func, mut flags, mut description) = (None, None, 0u8, None);
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair.map_err(|e| e.to_string())?;
        let key = match &k {
            Value::String(s) => s.as_bytes().to_vec(),
            _ => return Err("named argument key given to redis.register_function is not a string".into()),
        };
        match (&key[..], v) {
            (b"function_name", Value::String(s)) => name = Some(s.as_bytes().to_vec()),
            (b"callback", Value::Function(f)) => func = Some(f),
            (b"description", Value::String(s)) => description = Some(s.as_bytes().to_vec()),
            (b"flags", Value::Table(list)) => {
                for flag in list.sequence_values::<mlua::String>() {
                    let flag = flag.map_err(|_| "unknown flag given".to_string())?;
                    let bit = FLAG_NAMES.iter().find(|(_, n)| n.as_bytes() == &flag.as_bytes()[..]);
                    flags |= bit.ok_or("unknown flag given")?.0;
                }
            }
            (b"function_name" | b"callback" | b"description" | b"flags", _) => {
                return Err(format!(
                    "{} argument given to redis.register_function has a wrong type",
                    String::from_utf8_lossy(&key)
                ));
            }
            _ => return Err("unknown argument given to redis.register_function".into()),
        }
    }
    let name = name.ok_or("redis.register_function must get a function name argument")?;
    let func = func.ok_or("redis.register_function must get a callback argument")?;
    Ok((name, func, flags, description))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_headers_parse_with_redis_errors() {
        assert_eq!(library_name(b"#!lua name=lib1\nx").unwrap(), b"lib1");
        assert_eq!(library_name(b"return 1").unwrap_err(), "ERR Missing library metadata");
        assert_eq!(library_name(b"#!lua\nx").unwrap_err(), "ERR Library name was not given");
        assert_eq!(library_name(b"#!foo name=x\n").unwrap_err(), "ERR Engine 'foo' not found");
        assert_eq!(library_name(b"#!lua name=a foo=bar\n").unwrap_err(), "ERR Invalid metadata value given: foo=bar");
        assert!(library_name(b"#!lua name=li-b\n").unwrap_err().starts_with("ERR Library names can only"));
    }

    #[test]
    fn library_headers_split_like_redis() {
        // Found by scripts/redis-diff; errors captured from redis-server 7.0.15.
        assert_eq!(library_name(b"#!LUA name=a1\nx").unwrap(), b"a1");
        assert_eq!(library_name(b"#!lua NAME=a2\nx").unwrap(), b"a2");
        assert_eq!(library_name(b"#!lua \"name=a6\"\nx").unwrap(), b"a6");
        assert_eq!(
            library_name(b"#!lua name=a3 name=b\n").unwrap_err(),
            "ERR Invalid metadata value, name argument was given multiple times"
        );
        assert_eq!(library_name(b"#!lua name=a4").unwrap_err(), "ERR Invalid library metadata");
        assert_eq!(library_name(b"#!lua name=\"a7\n").unwrap_err(), "ERR Invalid library metadata");
        assert_eq!(library_name(b"#! lua name=a5\n").unwrap_err(), "ERR Invalid metadata value given: lua");
        assert_eq!(library_name(b"#!lua name=a9\tfoo\n").unwrap_err(), "ERR Invalid metadata value given: foo");
        assert_eq!(library_name(b"#!foo x=1\n").unwrap_err(), "ERR Invalid metadata value given: x=1");
    }

    #[test]
    fn eval_shebang_flags() {
        assert_eq!(eval_flags(b"return 1").unwrap(), None);
        assert_eq!(eval_flags(b"#!lua\nreturn 1").unwrap(), Some(0));
        assert_eq!(eval_flags(b"#!lua flags=no-writes\nreturn 1").unwrap(), Some(FLAG_NO_WRITES));
        assert_eq!(eval_flags(b"#!lua flags=bad\n").unwrap_err(), "ERR Unexpected flag in script shebang: bad");
        assert_eq!(eval_flags(b"#!luax\nreturn 1").unwrap_err(), "ERR Unexpected engine in script shebang: #!luax");
    }
}
