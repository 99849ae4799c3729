//! Server commands: INFO (its sections in `info.rs`), DBSIZE, FLUSHDB, FLUSHALL, SWAPDB, TIME, SHUTDOWN. (COMMAND, CONFIG and
//! SLOWLOG have their own files.)

use super::NO_ASYNC_LOADING;
use super::{eq_ignore_case, parse_i64, Command, Ctx, Doc, ERR_DB_INDEX, ERR_SYNTAX};
use super::{ADMIN, ALLOW_BUSY, FAST, LOADING, NOSCRIPT, NO_MULTI, READONLY, SENTINEL, STALE, STORE_WIDE, WRITE};
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
        name: "bgrewriteaof",
        group: "server",
        since: "1.0.0",
        summary: "Rewrite the append-only file in the background, from a snapshot of the data.",
        syntax: "",
    },
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
        syntax: "async=[ASYNC | SYNC]",
    },
    Doc {
        name: "flushall",
        group: "server",
        since: "1.0.0",
        summary: "Delete every key of every database.",
        syntax: "async=[ASYNC | SYNC]",
    },
    Doc {
        name: "swapdb",
        group: "server",
        since: "4.0.0",
        summary: "Exchange the contents of two databases, atomically for every client.",
        syntax: "index1 index2",
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
    Doc {
        name: "role",
        group: "server",
        since: "2.8.12",
        summary: "The replication role of this server: always master (ringkv has no replication).",
        syntax: "",
    },
    Doc {
        name: "latency",
        group: "server",
        since: "2.8.13",
        summary: "Latency monitor subcommands (no latency events are recorded yet).",
        syntax: "",
    },
    Doc {
        name: "latency|latest",
        group: "server",
        since: "2.8.13",
        summary: "The latest latency event per event type (none are recorded).",
        syntax: "",
    },
    Doc {
        name: "latency|history",
        group: "server",
        since: "2.8.13",
        summary: "The history of one latency event type (none are recorded).",
        syntax: "event",
    },
    Doc {
        name: "latency|reset",
        group: "server",
        since: "2.8.13",
        summary: "Reset latency event history; replies how many event types were reset.",
        syntax: "[event [event ...]]",
    },
    Doc {
        name: "latency|doctor",
        group: "server",
        since: "2.8.13",
        summary: "A human-readable latency report (the monitor is off).",
        syntax: "",
    },
    Doc {
        name: "latency|help",
        group: "server",
        since: "2.8.13",
        summary: "Show helpful text about the different subcommands.",
        syntax: "",
    },
];

pub const COMMANDS: &[Command] = &[
    Command { name: "info", arity: -1, flags: LOADING | STALE | SENTINEL, keys: (0, 0, 0), handler: super::info::info },
    Command { name: "dbsize", arity: 1, flags: READONLY | FAST, keys: (0, 0, 0), handler: dbsize },
    Command { name: "flushdb", arity: -1, flags: WRITE | STORE_WIDE, keys: (0, 0, 0), handler: flushdb },
    Command { name: "flushall", arity: -1, flags: WRITE | STORE_WIDE, keys: (0, 0, 0), handler: flushall },
    Command { name: "swapdb", arity: 3, flags: WRITE | FAST | STORE_WIDE, keys: (0, 0, 0), handler: swapdb },
    Command { name: "time", arity: 1, flags: LOADING | STALE | FAST, keys: (0, 0, 0), handler: time },
    Command {
        name: "role",
        arity: 1,
        flags: NOSCRIPT | LOADING | STALE | FAST | SENTINEL,
        keys: (0, 0, 0),
        handler: role,
    },
    Command { name: "latency", arity: -2, flags: 0, keys: (0, 0, 0), handler: latency },
    Command {
        name: "bgrewriteaof",
        arity: 1,
        flags: ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        keys: (0, 0, 0),
        handler: bgrewriteaof,
    },
    Command {
        name: "shutdown",
        arity: -1,
        flags: ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | SENTINEL | ALLOW_BUSY,
        keys: (0, 0, 0),
        handler: shutdown,
    },
];

/// BGREWRITEAOF: hand a rewrite to the rewrite thread (`durability::rewrite`); with
/// `appendonly no` it writes the AOF directory's base and manifest without enabling appending,
/// as Redis 7.0 does.
fn bgrewriteaof(ctx: &mut Ctx<'_>, _argv: Argv<'_>) {
    match ctx.shared.persist.rewrite.request() {
        Ok(()) => reply::simple(ctx.out, b"Background append only file rewriting started"),
        Err(e) => ctx.error(e),
    }
}

/// ROLE: `master`, replication offset 0, no replicas (ringkv has no replication).
fn role(ctx: &mut Ctx<'_>, _argv: Argv<'_>) {
    reply::array(ctx.out, 3);
    reply::bulk(ctx.out, b"master");
    reply::integer(ctx.out, 0);
    reply::array(ctx.out, 0);
}

const LATENCY_HELP: &[&str] = &[
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HELP",
    "    Prints this help.",
];

/// LATENCY LATEST | HISTORY event | RESET [event ...] | DOCTOR | HELP: the latency monitor
/// (`latency-monitor-threshold` 0, as Redis's default: nothing is recorded, so the answers
/// are Redis's answers for an empty monitor).
fn latency(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let sub = argv.get(1);
    let n = argv.len();
    if (eq_ignore_case(sub, "latest") && n == 2) || (eq_ignore_case(sub, "history") && n == 3) {
        reply::array(ctx.out, 0);
    } else if eq_ignore_case(sub, "reset") {
        reply::integer(ctx.out, 0);
    } else if eq_ignore_case(sub, "doctor") && n == 2 {
        let text = "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n";
        reply::verbatim(ctx.out, b"txt", text.as_bytes());
    } else if eq_ignore_case(sub, "help") && n == 2 {
        reply::array(ctx.out, LATENCY_HELP.len());
        for line in LATENCY_HELP {
            reply::simple(ctx.out, line.as_bytes());
        }
    } else if ["latest", "history", "doctor", "help"].iter().any(|k| eq_ignore_case(sub, k)) {
        let name = String::from_utf8_lossy(sub).to_ascii_lowercase();
        ctx.error(&format!("ERR wrong number of arguments for 'latency|{name}' command"));
    } else {
        let name = String::from_utf8_lossy(sub);
        ctx.error(&format!("ERR unknown subcommand '{name}'. Try LATENCY HELP."));
    }
}

/// SHUTDOWN [NOSAVE | SAVE] [NOW] [FORCE] [ABORT], as Redis 7.0's `shutdownCommand`: the
/// RDB file is written first when save points are configured (SAVE: always, NOSAVE: never;
/// `durability::shutdown`, run here holding no isolation lock, see `cmd::run_isolated`); a
/// failed save refuses the shutdown unless FORCE. Then the same graceful path as SIGTERM
/// (replies already produced are sent, every connection closes, the AOF is fsynced, the
/// process exits 0). The caller gets no reply on success: its connection is closed, as
/// Redis's is. NOW (skip waiting for replicas) changes nothing here; ABORT finds no shutdown
/// in progress (ours never waits).
fn shutdown(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    use crate::persist::save::{Kind, ShutdownSave};
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
    // A busy script: only NOSAVE may stop the server, and it aborts the script (Redis 7.0).
    let run = &crate::cmd::script::of(ctx.shared).run;
    if run.busy.load(std::sync::atomic::Ordering::SeqCst) {
        if !nosave {
            return ctx.error(run.busy_error());
        }
        run.kill.store(crate::cmd::script::Kill::Shutdown as u8, std::sync::atomic::Ordering::SeqCst);
    }
    let mode = match (save, nosave) {
        (true, _) => ShutdownSave::Save,
        (_, true) => ShutdownSave::NoSave,
        _ => ShutdownSave::Default,
    };
    let saves = &ctx.shared.persist.saves;
    if mode.saves(ctx.shared.persist.has_save_points()) {
        let saved = saves.run(Kind::Shutdown).is_ok();
        if !saved && !force {
            tracing::warn!("Errors trying to shut down the server. Check the logs for more information.");
            return ctx.error("ERR Errors trying to SHUTDOWN. Check logs.");
        }
        saves.set_shutdown(if saved { mode } else { ShutdownSave::NoSave }, saved);
    } else {
        saves.set_shutdown(mode, false);
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

/// FLUSHALL [ASYNC|SYNC] (and the save Redis makes after it when save points are configured)
fn flushall(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    if !flush_mode_ok(argv) {
        return ctx.error(ERR_SYNTAX);
    }
    ctx.shared.store.flush_all();
    // With save points, Redis 7.0 writes the (now empty) RDB file at once, resetting the
    // changes counted since the last save (`flushAllDataAndResetRDB`); its result is not the
    // reply's. A snapshot already being written is left to finish (Redis kills it): the next
    // save point covers the flush.
    if ctx.shared.persist.has_save_points() {
        if let Err(e) = ctx.shared.persist.saves.run(crate::persist::save::Kind::Save) {
            tracing::warn!("FLUSHALL: the RDB file was not written: {e}");
        }
    }
    ctx.ok();
}

/// SWAPDB index1 index2 (under the exclusive side of the isolation lock: see `STORE_WIDE`)
fn swapdb(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let Some(a) = db_index(argv.get(1)) else { return ctx.error("ERR invalid first DB index") };
    let Some(b) = db_index(argv.get(2)) else { return ctx.error("ERR invalid second DB index") };
    let (Ok(a), Ok(b)) = (usize::try_from(a), usize::try_from(b)) else { return ctx.error(ERR_DB_INDEX) };
    if !ctx.shared.store.swap_dbs(a, b) {
        return ctx.error(ERR_DB_INDEX);
    }
    if a != b {
        // Clients blocked on a key of either db that now holds data are served (Redis's
        // `scanDatabaseForReadyKeys`), on their behalf, as a push serves them.
        for db in [a, b] {
            for key in ctx.shared.blocking.waited_keys(db) {
                let present = ctx.shared.store.with_key(db, &key, ctx.now_ms, |kv| kv.peek().is_some());
                if present {
                    ctx.key_ready(db, &key);
                }
            }
        }
    }
    ctx.ok();
}

/// A DB index as Redis's `getIntFromObjectOrReply` reads it: an integer that fits a C int
/// (range is checked against the databases after).
fn db_index(arg: &[u8]) -> Option<i32> {
    parse_i64(arg).and_then(|n| i32::try_from(n).ok())
}

/// TIME
fn time(ctx: &mut Ctx<'_>, _argv: Argv<'_>) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    reply::array(ctx.out, 2);
    reply::bulk_int(ctx.out, now.as_secs() as i64);
    reply::bulk_int(ctx.out, now.subsec_micros() as i64);
}
