//! Redis 7 functions: FCALL, FCALL_RO and FUNCTION LOAD / DELETE / FLUSH / LIST / DUMP /
//! RESTORE / STATS / KILL / HELP. Libraries live in the scripting VM
//! ([`crate::cmd::script::functions`]); DUMP/RESTORE use Redis's payload format (RDB `FUNCTION2`
//! records, RDB version, CRC64) so payloads move between ringkv and Redis 7.0.

use super::scripting::{busy_error, keys_and_args, kill};
use super::{Command, Ctx, Doc};
use super::{
    ALLOW_BUSY, MAY_REPLICATE, MOVABLE_KEYS, NOSCRIPT, NO_MANDATORY_KEYS, READONLY, SKIP_MONITOR, STALE, WRITE,
};
use std::sync::PoisonError;

use crate::cmd::script::functions::{self, FLAG_NAMES, FLAG_NO_WRITES};
use crate::cmd::script::vm::Target;
use crate::protocol::Argv;
use crate::reply;

pub mod payload;

const FCALL_FLAGS: u32 = NOSCRIPT | SKIP_MONITOR | MAY_REPLICATE | NO_MANDATORY_KEYS | STALE | MOVABLE_KEYS;
const FCALL_RO_FLAGS: u32 = NOSCRIPT | SKIP_MONITOR | NO_MANDATORY_KEYS | STALE | READONLY | MOVABLE_KEYS;

pub const COMMANDS: &[Command] = &[
    Command { name: "fcall", arity: -3, flags: FCALL_FLAGS, keys: (0, 0, 0), handler: fcall },
    Command { name: "fcall_ro", arity: -3, flags: FCALL_RO_FLAGS, keys: (0, 0, 0), handler: fcall_ro },
    // ALLOW_BUSY for FUNCTION KILL and STATS; the others answer BUSY themselves.
    Command { name: "function", arity: -2, flags: NOSCRIPT | WRITE | ALLOW_BUSY, keys: (0, 0, 0), handler: function },
];

pub const DOCS: &[Doc] = &[
    Doc {
        name: "fcall",
        group: "scripting",
        since: "7.0.0",
        summary: "Call a function from a loaded library with key names and arguments.",
        syntax: "function numkeys [key [key ...]] [arg [arg ...]]",
    },
    Doc {
        name: "fcall_ro",
        group: "scripting",
        since: "7.0.0",
        summary: "Call a function flagged no-writes; it may only read.",
        syntax: "function numkeys [key [key ...]] [arg [arg ...]]",
    },
    Doc { name: "function", group: "scripting", since: "7.0.0", summary: "Manage function libraries.", syntax: "" },
    Doc {
        name: "function|load",
        group: "scripting",
        since: "7.0.0",
        summary: "Load a library from its source (with a #!lua name= header); REPLACE swaps an existing one.",
        syntax: "[REPLACE] function-code",
    },
    Doc {
        name: "function|delete",
        group: "scripting",
        since: "7.0.0",
        summary: "Remove a library and its functions.",
        syntax: "library-name",
    },
    Doc {
        name: "function|flush",
        group: "scripting",
        since: "7.0.0",
        summary: "Remove every library.",
        syntax: "async=[ASYNC | SYNC]",
    },
    Doc {
        name: "function|list",
        group: "scripting",
        since: "7.0.0",
        summary: "Describe the loaded libraries and their functions, optionally with their code.",
        syntax: "[LIBRARYNAME library-name-pattern] [WITHCODE]",
    },
    Doc {
        name: "function|dump",
        group: "scripting",
        since: "7.0.0",
        summary: "Serialize every library into one payload for FUNCTION RESTORE.",
        syntax: "",
    },
    Doc {
        name: "function|restore",
        group: "scripting",
        since: "7.0.0",
        summary: "Load the libraries of a FUNCTION DUMP payload.",
        syntax: "serialized-value policy=[FLUSH | APPEND | REPLACE]",
    },
    Doc {
        name: "function|stats",
        group: "scripting",
        since: "7.0.0",
        summary: "The running function, if any, and how many libraries and functions are loaded.",
        syntax: "",
    },
    Doc {
        name: "function|kill",
        group: "scripting",
        since: "7.0.0",
        summary: "Stop the running function if it has not written anything yet.",
        syntax: "",
    },
    Doc {
        name: "function|help",
        group: "scripting",
        since: "7.0.0",
        summary: "Show FUNCTION's subcommands.",
        syntax: "",
    },
];

/// FCALL function numkeys [key ...] [arg ...]
fn fcall(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    call_function(ctx, argv, false);
}

/// FCALL_RO function numkeys [key ...] [arg ...]
fn fcall_ro(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    call_function(ctx, argv, true);
}

fn call_function(ctx: &mut Ctx<'_>, argv: Argv<'_>, read_only: bool) {
    let shared = ctx.shared;
    let (_exclusive, mut engine) = match crate::cmd::script::enter(ctx) {
        Ok(entered) => entered,
        Err(e) => return ctx.error(&e),
    };
    // Redis's order: the function, then numkeys.
    let Some(f) = engine.libraries.find(argv.get(1)) else {
        return ctx.error("ERR Function not found");
    };
    if super::parse_i64(argv.get(2)).is_none() {
        return ctx.error("ERR Bad number of keys provided");
    }
    let Some((keys, args)) = keys_and_args(ctx, &argv) else { return };
    let no_writes = f.flags & FLAG_NO_WRITES != 0;
    if read_only && !no_writes {
        return ctx.error("ERR Can not execute a script with write flag using *_ro command.");
    }
    let Ok(func) = engine.lua.registry_value(&f.func) else {
        return ctx.error("ERR Function not found");
    };
    let name = String::from_utf8_lossy(&f.name).into_owned();
    let running = &crate::cmd::script::of(shared).running_function;
    *running.lock().unwrap_or_else(PoisonError::into_inner) =
        Some((f.name.clone(), argv.iter().map(<[u8]>::to_vec).collect()));
    engine.run(ctx, &Target { func, eval: false, name: &name, read_only: no_writes }, &keys, &args);
    *running.lock().unwrap_or_else(PoisonError::into_inner) = None;
}

const HELP: &[&str] = &[
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
];

/// FUNCTION LOAD|DELETE|FLUSH|LIST|DUMP|RESTORE|STATS|KILL|HELP
fn function(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let Some(sub) = super::subcommand(ctx, argv, "function") else { return };
    match sub {
        "kill" => return kill(ctx, false),
        "stats" => return stats(ctx),
        _ => {}
    }
    if let Some(msg) = busy_error(ctx) {
        return ctx.error(msg);
    }
    let mut engine = match crate::cmd::script::of(ctx.shared).engine() {
        Ok(e) => e,
        Err(e) => return ctx.error(&format!("ERR {e}")),
    };
    match sub {
        "help" => super::help_reply(ctx, HELP),
        "load" => {
            // Every argument before the code must be REPLACE (Redis allows it repeated).
            let options = (2..argv.len() - 1).map(|i| argv.get(i));
            if let Some(bad) = options.clone().find(|a| !super::eq_ignore_case(a, "replace")) {
                return ctx.error(&format!("ERR Unknown option given: {}", String::from_utf8_lossy(c_str(bad))));
            }
            let replace = options.count() > 0;
            match functions::load(&mut engine, argv.get(argv.len() - 1), replace) {
                Ok(name) => reply::bulk(ctx.out, &name),
                Err(e) => ctx.error(&e),
            }
        }
        "delete" => {
            if engine.libraries.delete(argv.get(2)) {
                engine.lua.expire_registry_values();
                ctx.ok()
            } else {
                ctx.error("ERR Library not found")
            }
        }
        "flush" if argv.len() > 3 => subcommand_syntax_error(ctx, argv),
        "flush" => {
            if argv.len() == 3 && !["sync", "async"].iter().any(|m| super::eq_ignore_case(argv.get(2), m)) {
                return ctx.error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
            }
            engine.libraries.flush();
            engine.lua.expire_registry_values();
            ctx.ok()
        }
        "list" => list(ctx, &engine, argv),
        "dump" => {
            let libs: Vec<&[u8]> = engine.libraries.libs.values().map(|l| &l.code[..]).collect();
            reply::bulk(ctx.out, &payload::dump(&libs));
        }
        "restore" if argv.len() > 4 => subcommand_syntax_error(ctx, argv),
        "restore" => restore(ctx, &mut engine, argv),
        _ => ctx.error(super::ERR_SYNTAX),
    }
}

/// An argument as Redis's `%s` prints it in an error: up to its first NUL byte.
fn c_str(arg: &[u8]) -> &[u8] {
    &arg[..arg.iter().position(|&b| b == 0).unwrap_or(arg.len())]
}

/// Redis's `addReplySubcommandSyntaxError`, for a subcommand given more arguments than it takes.
fn subcommand_syntax_error(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let given = argv.get(1);
    let name = String::from_utf8_lossy(&given[..given.len().min(128)]);
    ctx.error(&format!("ERR unknown subcommand or wrong number of arguments for '{name}'. Try FUNCTION HELP."));
}

/// Every function library's code, for an AOF rewrite's base (`FUNCTION LOAD` each). Empty
/// when the Lua engine cannot start (then no library can exist either).
pub fn library_codes(shared: &crate::shared::Shared) -> Vec<Vec<u8>> {
    match crate::cmd::script::of(shared).engine() {
        Ok(engine) => engine.libraries.libs.values().map(|l| l.code.to_vec()).collect(),
        Err(_) => Vec::new(),
    }
}

/// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]
fn list(ctx: &mut Ctx<'_>, engine: &crate::cmd::script::vm::Engine, argv: Argv<'_>) {
    let (mut pattern, mut with_code, mut i) = (None, false, 2);
    while i < argv.len() {
        let arg = argv.get(i);
        if super::eq_ignore_case(arg, "withcode") && !with_code {
            with_code = true;
        } else if super::eq_ignore_case(arg, "libraryname") && pattern.is_none() && i + 1 < argv.len() {
            pattern = Some(argv.get(i + 1));
            i += 1;
        } else {
            return ctx.error(&format!("ERR Unknown argument {}", String::from_utf8_lossy(c_str(arg))));
        }
        i += 1;
    }
    let libs: Vec<_> = engine
        .libraries
        .libs
        .values()
        .filter(|l| pattern.is_none_or(|p| crate::glob::matches(p, &l.name, false)))
        .collect();
    reply::array(ctx.out, libs.len());
    for lib in libs {
        reply::map(ctx.out, if with_code { 4 } else { 3 });
        reply::bulk(ctx.out, b"library_name");
        reply::bulk(ctx.out, &lib.name);
        reply::bulk(ctx.out, b"engine");
        reply::bulk(ctx.out, b"LUA");
        reply::bulk(ctx.out, b"functions");
        reply::array(ctx.out, lib.functions.len());
        for f in &lib.functions {
            reply::map(ctx.out, 3);
            reply::bulk(ctx.out, b"name");
            reply::bulk(ctx.out, &f.name);
            reply::bulk(ctx.out, b"description");
            reply::opt_bulk(ctx.out, f.description.as_deref());
            reply::bulk(ctx.out, b"flags");
            let names: Vec<&str> = FLAG_NAMES.iter().filter(|(b, _)| f.flags & b != 0).map(|(_, n)| *n).collect();
            reply::set(ctx.out, names.len());
            for n in names {
                reply::simple(ctx.out, n.as_bytes());
            }
        }
        if with_code {
            reply::bulk(ctx.out, b"library_code");
            reply::bulk(ctx.out, &lib.code);
        }
    }
}

/// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]
fn restore(ctx: &mut Ctx<'_>, engine: &mut crate::cmd::script::vm::Engine, argv: Argv<'_>) {
    let policy = if argv.len() > 3 { argv.get(3).to_ascii_lowercase() } else { b"append".to_vec() };
    if !matches!(&policy[..], b"flush" | b"append" | b"replace") {
        return ctx.error("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.");
    }
    let Some(codes) = payload::parse(argv.get(2)) else {
        return ctx.error("ERR DUMP payload version or checksum are wrong");
    };
    let saved = std::mem::take(&mut engine.libraries);
    if policy != b"flush" {
        // Start from the current libraries; on failure they are put back untouched.
        for lib in saved.libs.values() {
            let _ = functions::load(engine, &lib.code, true);
        }
    }
    for code in &codes {
        if let Err(e) = functions::load(engine, code, policy == b"replace") {
            engine.libraries = saved;
            engine.lua.expire_registry_values();
            return ctx.error(&e);
        }
    }
    ctx.ok();
}

/// FUNCTION STATS
fn stats(ctx: &mut Ctx<'_>) {
    let run = &crate::cmd::script::of(ctx.shared).run;
    let running =
        run.running.load(std::sync::atomic::Ordering::SeqCst) && !run.is_eval.load(std::sync::atomic::Ordering::SeqCst);
    // The engine is locked by a running script: counts are read from the INFO counters then.
    let counts = if run.running.load(std::sync::atomic::Ordering::SeqCst) {
        None
    } else {
        crate::cmd::script::of(ctx.shared).engine().ok().map(|e| (e.libraries.libs.len(), e.libraries.function_count()))
    };
    let (libs, funcs) = counts.unwrap_or((0, 0));
    reply::map(ctx.out, 2);
    reply::bulk(ctx.out, b"running_script");
    if running {
        let elapsed =
            crate::cmd::script::monotonic_ms().saturating_sub(run.started_ms.load(std::sync::atomic::Ordering::SeqCst));
        reply::map(ctx.out, 3);
        reply::bulk(ctx.out, b"name");
        reply::bulk(ctx.out, b"?");
        reply::bulk(ctx.out, b"command");
        reply::array(ctx.out, 0);
        reply::bulk(ctx.out, b"duration_ms");
        reply::integer(ctx.out, elapsed as i64);
    } else {
        reply::null(ctx.out);
    }
    reply::bulk(ctx.out, b"engines");
    reply::map(ctx.out, 1);
    reply::bulk(ctx.out, b"LUA");
    reply::map(ctx.out, 2);
    reply::bulk(ctx.out, b"libraries_count");
    reply::integer(ctx.out, libs as i64);
    reply::bulk(ctx.out, b"functions_count");
    reply::integer(ctx.out, funcs as i64);
}
