//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT LOAD / EXISTS / FLUSH / KILL / HELP, with
//! Redis 7.0's replies and errors. The VM, sandbox and conversions are in
//! [`crate::cmd::script`]; this file parses arguments, takes the exclusive side of the isolation
//! lock (scripts are atomic across workers) and hands over to [`crate::cmd::script::vm::Engine`].

use std::sync::atomic::Ordering::SeqCst;

use super::{Command, Ctx, Doc};
use super::{ALLOW_BUSY, MAY_REPLICATE, MOVABLE_KEYS, NOSCRIPT, NO_MANDATORY_KEYS, READONLY, SKIP_MONITOR, STALE};
use crate::cmd::script::functions::FLAG_NO_WRITES;
use crate::cmd::script::vm::{sha1_hex, Target};
use crate::cmd::script::{Kill, ERR_BUSY_EVAL, ERR_BUSY_FUNCTION};
use crate::protocol::Argv;
use crate::reply;

pub const ERR_NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";

const EVAL_FLAGS: u32 = NOSCRIPT | SKIP_MONITOR | MAY_REPLICATE | NO_MANDATORY_KEYS | STALE | MOVABLE_KEYS;
const EVAL_RO_FLAGS: u32 = NOSCRIPT | SKIP_MONITOR | NO_MANDATORY_KEYS | STALE | READONLY | MOVABLE_KEYS;

pub const COMMANDS: &[Command] = &[
    Command { name: "eval", arity: -3, flags: EVAL_FLAGS, keys: (0, 0, 0), handler: eval },
    Command { name: "evalsha", arity: -3, flags: EVAL_FLAGS, keys: (0, 0, 0), handler: evalsha },
    Command { name: "eval_ro", arity: -3, flags: EVAL_RO_FLAGS, keys: (0, 0, 0), handler: eval_ro },
    Command { name: "evalsha_ro", arity: -3, flags: EVAL_RO_FLAGS, keys: (0, 0, 0), handler: evalsha_ro },
    // ALLOW_BUSY so SCRIPT KILL gets through a busy script; the other subcommands answer BUSY
    // themselves then.
    Command { name: "script", arity: -2, flags: NOSCRIPT | ALLOW_BUSY, keys: (0, 0, 0), handler: script },
];

pub const DOCS: &[Doc] = &[
    Doc {
        name: "eval",
        group: "scripting",
        since: "2.6.0",
        summary: "Run a Lua script atomically, with key names in KEYS and the other arguments in ARGV.",
        syntax: "script numkeys [key [key ...]] [arg [arg ...]]",
    },
    Doc {
        name: "evalsha",
        group: "scripting",
        since: "2.6.0",
        summary: "Run a cached Lua script by the SHA1 digest of its source.",
        syntax: "sha1 numkeys [key [key ...]] [arg [arg ...]]",
    },
    Doc {
        name: "eval_ro",
        group: "scripting",
        since: "7.0.0",
        summary: "Run a Lua script that may only read; write commands inside it fail.",
        syntax: "script numkeys [key [key ...]] [arg [arg ...]]",
    },
    Doc {
        name: "evalsha_ro",
        group: "scripting",
        since: "7.0.0",
        summary: "Run a cached read-only Lua script by its SHA1 digest.",
        syntax: "sha1 numkeys [key [key ...]] [arg [arg ...]]",
    },
    Doc { name: "script", group: "scripting", since: "2.6.0", summary: "Manage the Lua script cache.", syntax: "" },
    Doc {
        name: "script|load",
        group: "scripting",
        since: "2.6.0",
        summary: "Compile a script into the cache without running it; returns its SHA1.",
        syntax: "script",
    },
    Doc {
        name: "script|exists",
        group: "scripting",
        since: "2.6.0",
        summary: "For each SHA1, 1 if that script is cached, else 0.",
        syntax: "sha1 [sha1 ...]",
    },
    Doc {
        name: "script|flush",
        group: "scripting",
        since: "2.6.0",
        summary: "Empty the script cache.",
        syntax: "async=[ASYNC | SYNC]",
    },
    Doc {
        name: "script|kill",
        group: "scripting",
        since: "2.6.0",
        summary: "Stop the running script if it has not written anything yet.",
        syntax: "",
    },
    Doc { name: "script|help", group: "scripting", since: "5.0.0", summary: "Show SCRIPT's subcommands.", syntax: "" },
];

/// EVAL script numkeys [key ...] [arg ...]
fn eval(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    run_script(ctx, argv, false, false);
}
/// EVALSHA sha1 numkeys [key ...] [arg ...]
fn evalsha(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    run_script(ctx, argv, true, false);
}
/// EVAL_RO script numkeys [key ...] [arg ...]
fn eval_ro(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    run_script(ctx, argv, false, true);
}
/// EVALSHA_RO sha1 numkeys [key ...] [arg ...]
fn evalsha_ro(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    run_script(ctx, argv, true, true);
}

/// A script call's key names and other arguments.
pub type KeysArgs<'a> = (Vec<&'a [u8]>, Vec<&'a [u8]>);

/// Split `argv[2..]` into keys and args by `argv[2]` (numkeys), with Redis's errors.
pub fn keys_and_args<'a>(ctx: &mut Ctx<'_>, argv: &Argv<'a>) -> Option<KeysArgs<'a>> {
    let Some(numkeys) = super::parse_i64(argv.get(2)) else {
        ctx.error(super::ERR_NOT_INTEGER);
        return None;
    };
    let available = argv.len() - 3;
    if numkeys < 0 {
        ctx.error("ERR Number of keys can't be negative");
        return None;
    }
    if numkeys as u64 > available as u64 {
        ctx.error("ERR Number of keys can't be greater than number of args");
        return None;
    }
    let rest: Vec<&'a [u8]> = (3..argv.len()).map(|i| argv.get(i)).collect();
    let (keys, args) = rest.split_at(numkeys as usize);
    Some((keys.to_vec(), args.to_vec()))
}

/// A SHA1 argument as the cache's key: lower-cased; `None` if it is not 40 bytes.
fn sha_key(arg: &[u8]) -> Option<[u8; 40]> {
    let mut sha: [u8; 40] = arg.try_into().ok()?;
    sha.make_ascii_lowercase();
    Some(sha)
}

fn run_script(ctx: &mut Ctx<'_>, argv: Argv<'_>, by_sha: bool, read_only: bool) {
    let source = argv.get(1);
    // As in Redis, a SHA1 that is not 40 bytes long is NOSCRIPT before numkeys is looked at.
    let sha = if by_sha {
        match sha_key(source) {
            Some(sha) => sha,
            None => return ctx.error(ERR_NOSCRIPT),
        }
    } else {
        sha1_hex(source)
    };
    let Some((keys, args)) = keys_and_args(ctx, &argv) else { return };
    let (_exclusive, mut engine) = match crate::cmd::script::enter(ctx) {
        Ok(entered) => entered,
        Err(e) => return ctx.error(&e),
    };
    let found = if by_sha {
        engine.script(&sha).ok_or_else(|| ERR_NOSCRIPT.to_string())
    } else {
        engine.load_script(&sha, source)
    };
    let (func, flags) = match found {
        Ok(f) => f,
        Err(e) => return ctx.error(&e),
    };
    let name = std::str::from_utf8(&sha).unwrap_or_default();
    let read_only = read_only || flags.is_some_and(|f| f & FLAG_NO_WRITES != 0);
    engine.run(ctx, &Target { func, eval: true, name, read_only }, &keys, &args);
}

const HELP: &[&str] = &[
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Prints this help.",
];

/// SCRIPT LOAD|EXISTS|FLUSH|KILL|HELP
fn script(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let Some(sub) = super::subcommand(ctx, argv, "script") else { return };
    if sub == "kill" {
        return kill(ctx, true);
    }
    if let Some(msg) = busy_error(ctx) {
        return ctx.error(msg);
    }
    match sub {
        "help" => super::help_reply(ctx, HELP),
        "load" => {
            let body = argv.get(2);
            let sha = sha1_hex(body);
            let loaded = crate::cmd::script::of(ctx.shared)
                .engine()
                .map_err(|e| format!("ERR {e}"))
                .and_then(|mut e| e.load_script(&sha, body));
            match loaded {
                Ok(_) => reply::bulk(ctx.out, &sha),
                Err(e) => ctx.error(&e),
            }
        }
        "exists" => {
            let engine = match crate::cmd::script::of(ctx.shared).engine() {
                Ok(e) => e,
                Err(e) => return ctx.error(&format!("ERR {e}")),
            };
            let found: Vec<bool> =
                (2..argv.len()).map(|i| sha_key(argv.get(i)).is_some_and(|sha| engine.has_script(&sha))).collect();
            drop(engine);
            reply::array(ctx.out, found.len());
            for f in found {
                reply::integer(ctx.out, i64::from(f));
            }
        }
        "flush" => {
            if argv.len() > 3
                || (argv.len() == 3 && !["sync", "async"].iter().any(|m| super::eq_ignore_case(argv.get(2), m)))
            {
                return ctx.error("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
            }
            if let Ok(mut engine) = crate::cmd::script::of(ctx.shared).engine() {
                engine.flush_scripts();
            }
            ctx.ok();
        }
        _ => ctx.error(super::ERR_SYNTAX),
    }
}

/// While a script is busy, the BUSY text for commands that are not allowed then.
pub fn busy_error(ctx: &Ctx<'_>) -> Option<&'static str> {
    let run = &crate::cmd::script::of(ctx.shared).run;
    run.busy.load(SeqCst).then(|| run.busy_error())
}

/// SCRIPT KILL (`is_eval`) / FUNCTION KILL, as Redis 7.0's `scriptKill`.
pub fn kill(ctx: &mut Ctx<'_>, is_eval: bool) {
    let run = &crate::cmd::script::of(ctx.shared).run;
    if !run.running.load(SeqCst) {
        return ctx.error("NOTBUSY No scripts in execution right now.");
    }
    if run.dirty.load(SeqCst) {
        return ctx.error("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
    }
    let running_eval = run.is_eval.load(SeqCst);
    if is_eval && !running_eval {
        return ctx.error(ERR_BUSY_FUNCTION);
    }
    if !is_eval && running_eval {
        return ctx.error(ERR_BUSY_EVAL);
    }
    run.kill.store(Kill::User as u8, SeqCst);
    ctx.ok();
}

#[cfg(test)]
mod tests {
    use crate::cmd::{run_for_test, ClientState};
    use crate::config::Config;
    use crate::shared::Shared;

    fn run(shared: &Shared, c: &mut ClientState, args: &[&str]) -> String {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        String::from_utf8_lossy(&run_for_test(shared, c, &args)).into_owned()
    }

    #[test]
    fn blocking_commands_are_refused_in_scripts() {
        // Redis 7.0 flags BLPOP & co. `noscript` (captured from redis-server 7.0.15): the
        // script gets an error and nothing blocks.
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        run(&shared, &mut c, &["RPUSH", "q", "x"]);
        for cmd in ["BLPOP", "BRPOP", "BZPOPMIN", "BZPOPMAX"] {
            let script = format!("return redis.call('{cmd}', KEYS[1], 0)");
            let got = run(&shared, &mut c, &["EVAL", &script, "1", "q"]);
            assert!(got.starts_with("-ERR This Redis command is not allowed from script"), "{cmd}: {got}");
        }
        assert!(c.blocked.is_none());
        assert_eq!(shared.blocking.blocked_clients(), 0);
        assert_eq!(run(&shared, &mut c, &["LLEN", "q"]), ":1\r\n", "nothing was popped");
    }

    #[test]
    fn argument_checks_come_in_redis_order() {
        // Found by scripts/redis-diff; replies captured from redis-server 7.0.15.
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        let mut r = |args: &[&str]| run(&shared, &mut c, args);
        let sha = "a".repeat(40);
        let noscript = "-NOSCRIPT No matching script. Please use EVAL.\r\n";
        assert_eq!(r(&["EVALSHA", "100", "abc"]), noscript);
        assert_eq!(r(&["EVALSHA_RO", "f1", "-1"]), noscript);
        assert_eq!(r(&["EVALSHA", &sha, "abc"]), "-ERR value is not an integer or out of range\r\n");
        assert_eq!(r(&["EVALSHA", &sha, "0"]), noscript);
        assert_eq!(r(&["FCALL", "nofn", "abc"]), "-ERR Function not found\r\n");
        let lib = "#!lua name=lib\nredis.register_function('f', function(k, a) return 1 end)";
        assert_eq!(r(&["FUNCTION", "LOAD", lib]), "$3\r\nlib\r\n");
        assert_eq!(r(&["FCALL", "f", "abc"]), "-ERR Bad number of keys provided\r\n");
        assert_eq!(r(&["FCALL", "f", "2", "x"]), "-ERR Number of keys can't be greater than number of args\r\n");
        assert_eq!(r(&["FUNCTION", "LOAD", "REPLACE", "replace", lib]), "$3\r\nlib\r\n");
        assert_eq!(
            r(&["FUNCTION", "LOAD", "REPLACE", lib, lib]),
            format!("-ERR Unknown option given: {}\r\n", lib.replace('\n', " "))
        );
        assert_eq!(
            r(&["FUNCTION", "FLUSH", "a", "b"]),
            "-ERR unknown subcommand or wrong number of arguments for 'FLUSH'. Try FUNCTION HELP.\r\n"
        );
        assert_eq!(
            r(&["FUNCTION", "RESTORE", "a", "b", "c"]),
            "-ERR unknown subcommand or wrong number of arguments for 'RESTORE'. Try FUNCTION HELP.\r\n"
        );
        assert_eq!(r(&["FUNCTION", "RESTORE", "c"]), "-ERR DUMP payload version or checksum are wrong\r\n");
        assert_eq!(r(&["FUNCTION", "LIST", "LIBRARYNAME", "f2", "\0x", "WITHCODE"]), "-ERR Unknown argument \r\n");
        assert_eq!(r(&["FUNCTION", "LOAD", "a\0b", lib]), "-ERR Unknown option given: a\r\n");
    }

    #[test]
    fn a_loading_library_sees_only_redis() {
        // Redis 7.0 loads a library with the library API as its only globals (found by
        // scripts/redis-diff; replies captured from redis-server 7.0.15); its functions see
        // every allowed global when they run.
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        let mut r = |args: &[&str]| run(&shared, &mut c, args);
        let missing = |name: &str| {
            format!("-ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable '{name}'\r\n")
        };
        assert_eq!(r(&["FUNCTION", "LOAD", "#!lua name=a\nerror('x')"]), missing("error"));
        assert_eq!(
            r(&[
                "FUNCTION",
                "LOAD",
                "#!lua name=b\nlocal s = string.upper('a')\nredis.register_function('f', function() return s end)"
            ]),
            missing("string")
        );
        let lib = "#!lua name=c\nredis.log(redis.LOG_NOTICE, 'hi')\nredis.register_function('up', function(k, a) return string.upper(a[1]) end)";
        assert_eq!(r(&["FUNCTION", "LOAD", lib]), "$1\r\nc\r\n");
        assert_eq!(r(&["FCALL", "up", "0", "abc"]), "$3\r\nABC\r\n");
    }

    #[test]
    fn collection_writes_in_scripts_invalidate_watch() {
        let shared = Shared::new(Config::defaults());
        let mut watcher = ClientState::new(&shared);
        let mut other = ClientState::new(&shared);
        run(&shared, &mut other, &["HSET", "h", "f", "1"]);
        run(&shared, &mut watcher, &["WATCH", "h"]);
        run(&shared, &mut other, &["EVAL", "return redis.call('HGET', KEYS[1], 'f')", "1", "h"]);
        run(&shared, &mut watcher, &["MULTI"]);
        assert_eq!(run(&shared, &mut watcher, &["EXEC"]), "*0\r\n", "a read in a script does not invalidate");
        run(&shared, &mut watcher, &["WATCH", "h"]);
        run(&shared, &mut other, &["EVAL", "return redis.call('HSET', KEYS[1], 'f', '2')", "1", "h"]);
        run(&shared, &mut watcher, &["MULTI"]);
        assert_eq!(run(&shared, &mut watcher, &["EXEC"]), "*-1\r\n", "a write in a script invalidates");
    }
}
