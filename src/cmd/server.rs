//! Server commands: INFO (its sections in `info.rs`), DBSIZE, FLUSHDB, FLUSHALL, TIME, SHUTDOWN. (COMMAND, CONFIG and
//! SLOWLOG have their own files.)

use super::{eq_ignore_case, Command, Ctx, Doc, ERR_SYNTAX};
use super::{ADMIN, ALLOW_BUSY, FAST, LOADING, NOSCRIPT, NO_MULTI, READONLY, SENTINEL, STALE, WRITE};
use crate::protocol::Argv;
use crate::reply;

/// The Redis version whose behaviour ringkv follows: replies, shapes and error texts are
/// checked against this release. Reported as `redis_version` in INFO and `version` in HELLO
/// so client libraries that gate features on it behave; `ringkv_version` is ringkv's own.
/// The one place this version is written.
pub const REDIS_COMPAT_VERSION: &str = "7.0.15";

/// Documentation of this family's commands (see [`super::Doc`]).
pub const DOCS: &[Doc] = &[
    Doc {
        name: "info",
        group: "server",
        since: "1.0.0",
        summary: "Server information and statistics, by section.",
        syntax: "[section [section ...]]",
    },
    Doc {
        name: "dbsize",
        group: "server",
        since: "1.0.0",
        summary: "How many keys the selected database holds.",
        syntax: "",
    },
    Doc {
        name: "flushdb",
        group: "server",
        since: "1.0.0",
        summary: "Delete every key of the selected database.",
        syntax: "[ASYNC | SYNC]",
    },
    Doc {
        name: "flushall",
        group: "server",
        since: "1.0.0",
        summary: "Delete every key of every database.",
        syntax: "[ASYNC | SYNC]",
    },
    Doc {
        name: "time",
        group: "server",
        since: "2.6.0",
        summary: "The server's clock: Unix seconds and microseconds.",
        syntax: "",
    },
    Doc {
        name: "shutdown",
        group: "server",
        since: "1.0.0",
        summary: "Stop the server after the replies in flight are sent.",
        syntax: "[NOSAVE | SAVE] [NOW] [FORCE] [ABORT]",
    },
];

pub const COMMANDS: &[Command] = &[
    Command { name: "info", arity: -1, flags: LOADING | STALE | SENTINEL, keys: (0, 0, 0), handler: super::info::info },
    Command { name: "dbsize", arity: 1, flags: READONLY | FAST, keys: (0, 0, 0), handler: dbsize },
    Command { name: "flushdb", arity: -1, flags: WRITE, keys: (0, 0, 0), handler: flushdb },
    Command { name: "flushall", arity: -1, flags: WRITE, keys: (0, 0, 0), handler: flushall },
    Command { name: "time", arity: 1, flags: LOADING | STALE | FAST, keys: (0, 0, 0), handler: time },
    Command {
        name: "shutdown",
        arity: -1,
        flags: ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | SENTINEL | ALLOW_BUSY,
        keys: (0, 0, 0),
        handler: shutdown,
    },
];

/// SHUTDOWN [NOSAVE | SAVE] [NOW] [FORCE] [ABORT], as Redis 7.0's `shutdownCommand`: the same
/// graceful path as SIGTERM (replies already produced are sent, then every connection
/// closes and the process exits 0). The caller gets no reply on success: its connection is
/// closed, as Redis's is. ringkv has no persistence, so a plain SHUTDOWN (or NOSAVE) does what
/// Redis does with no save points; an explicit SAVE asks for a snapshot ringkv cannot write,
/// which fails the way a failed save does in Redis unless FORCE is given. NOW (skip waiting
/// for replicas) changes nothing here; ABORT finds no shutdown in progress (ours never waits).
fn shutdown(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let (mut nosave, mut save, mut force, mut abort, mut other) = (false, false, false, false, false);
    for arg in argv.iter().skip(1) {
        match arg.to_ascii_lowercase().as_slice() {
            b"nosave" => nosave = true,
            b"save" => save = true,
            b"now" => other = true,
            b"force" => force = true,
            b"abort" => abort = true,
            _ => return ctx.error(ERR_SYNTAX),
        }
    }
    if (abort && (nosave || save || force || other)) || (nosave && save) {
        return ctx.error(ERR_SYNTAX);
    }
    if abort {
        return ctx.error("ERR No shutdown in progress.");
    }
    if save && !force {
        tracing::warn!("SHUTDOWN SAVE: ringkv has no persistence, refusing (use NOSAVE, or SAVE FORCE)");
        return ctx.error("ERR Errors trying to SHUTDOWN. Check logs.");
    }
    tracing::info!("SHUTDOWN requested by client {}", ctx.client.id);
    ctx.client.close_after_reply = true;
    ctx.shared.begin_shutdown();
}

/// DBSIZE
fn dbsize(ctx: &mut Ctx<'_>, _argv: Argv<'_>) {
    reply::integer(ctx.out, ctx.shared.store.db_len(ctx.client.db) as i64);
}

/// Parse the optional ASYNC|SYNC of FLUSHDB/FLUSHALL (both flush synchronously here).
fn flush_mode_ok(argv: Argv<'_>) -> bool {
    match argv.len() {
        1 => true,
        2 => eq_ignore_case(argv.get(1), "async") || eq_ignore_case(argv.get(1), "sync"),
        _ => false,
    }
}

/// FLUSHDB [ASYNC|SYNC]
fn flushdb(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    if !flush_mode_ok(argv) {
        return ctx.error(ERR_SYNTAX);
    }
    ctx.shared.store.flush_db(ctx.client.db);
    ctx.ok();
}

/// FLUSHALL [ASYNC|SYNC]
fn flushall(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    if !flush_mode_ok(argv) {
        return ctx.error(ERR_SYNTAX);
    }
    ctx.shared.store.flush_all();
    ctx.ok();
}

/// TIME
fn time(ctx: &mut Ctx<'_>, _argv: Argv<'_>) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    reply::array(ctx.out, 2);
    reply::bulk_int(ctx.out, now.as_secs() as i64);
    reply::bulk_int(ctx.out, now.subsec_micros() as i64);
}
