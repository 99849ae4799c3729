//! Server commands: INFO, DBSIZE, FLUSHDB, FLUSHALL, TIME, SHUTDOWN. (COMMAND, CONFIG and
//! SLOWLOG have their own files.)

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

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
    Command { name: "info", arity: -1, flags: LOADING | STALE | SENTINEL, keys: (0, 0, 0), handler: info },
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

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf has no memory-safety preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    pages * page
}

fn human(bytes: u64) -> String {
    let units = ["B", "K", "M", "G", "T"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.2}{}", units[i])
}

/// The text of INFO for the given sections (lower-case names; empty = all).
pub fn info_text(ctx: &Ctx<'_>, sections: &[String]) -> String {
    let want = |s: &str| {
        sections.is_empty() || sections.iter().any(|x| x == s || x == "all" || x == "everything" || x == "default")
    };
    let shared = ctx.shared;
    let st = &shared.stats;
    let mut s = String::new();
    if want("server") {
        let up = shared.started.elapsed().as_secs();
        let engine = shared.io().map(|i| i.engine.as_str()).unwrap_or("none");
        let _ = write!(
            s,
            "# Server\r\nredis_version:{REDIS_COMPAT_VERSION}\r\nringkv_version:{}\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:64\r\nmultiplexing_api:{engine}\r\nprocess_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{up}\r\nuptime_in_days:{}\r\n\r\n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH,
            std::process::id(),
            shared.config.port,
            up / 86400
        );
    }
    if want("clients") {
        let _ = write!(
            s,
            "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\nclient_recent_max_output_buffer:{}\r\nblocked_clients:0\r\n\r\n",
            st.connected_clients.load(Relaxed),
            shared.tunables.maxclients(),
            st.client_output_max.load(Relaxed)
        );
    }
    if want("memory") {
        let rss = rss_bytes();
        let _ = write!(
            s,
            "# Memory\r\nused_memory:{rss}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\n\r\n",
            human(rss),
            human(rss)
        );
    }
    if want("persistence") {
        s.push_str(&shared.persist.info(shared));
        s.push_str("\r\n");
    }
    if want("stats") {
        let _ = write!(
            s,
            "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\ntotal_protocol_errors:{}\r\ntimedout_clients:{}\r\nclient_output_buffer_limit_disconnections:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\n\r\n",
            st.total_connections_received.load(Relaxed),
            st.total_commands_processed.load(Relaxed),
            st.rejected_connections.load(Relaxed),
            st.expired_keys.load(Relaxed),
            st.keyspace_hits.load(Relaxed),
            st.keyspace_misses.load(Relaxed),
            st.protocol_errors.load(Relaxed),
            st.timedout_clients.load(Relaxed),
            shared.clients.output_limit_disconnections.load(Relaxed),
            shared.pubsub.channels(crate::pubsub::Kind::Channel, None).len(),
            shared.pubsub.numpat(),
        );
    }
    if want("io") {
        s.push_str("# IO\r\n");
        if let Some(io) = shared.io() {
            let sum = |f: fn(&crate::shared::WorkerIo) -> u64| io.workers.iter().map(f).sum::<u64>();
            let _ = write!(
                s,
                "io_engine:{}\r\nio_threads:{}\r\nio_syscalls:{}\r\nio_sqes_submitted:{}\r\nio_cqes_reaped:{}\r\n",
                io.engine,
                io.workers.len(),
                sum(|w| w.syscalls.load(Relaxed)),
                sum(|w| w.sqes_submitted.load(Relaxed)),
                sum(|w| w.cqes_reaped.load(Relaxed)),
            );
            for (i, w) in io.workers.iter().enumerate() {
                let _ = write!(
                    s,
                    "io_worker{i}:connections={},accepted={},syscalls={}\r\n",
                    w.connections.load(Relaxed),
                    w.connections_total.load(Relaxed),
                    w.syscalls.load(Relaxed)
                );
            }
        }
        s.push_str("\r\n");
    }
    if want("keyspace") {
        s.push_str("# Keyspace\r\n");
        for db in 0..shared.store.databases() {
            let keys = shared.store.db_len(db);
            if keys > 0 {
                let _ = write!(s, "db{db}:keys={keys},expires={},avg_ttl=0\r\n", shared.store.db_expires(db));
            }
        }
        s.push_str("\r\n");
    }
    while s.ends_with("\r\n\r\n") {
        s.truncate(s.len() - 2);
    }
    s
}

/// INFO [section ...]
fn info(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let sections: Vec<String> = argv.iter().skip(1).map(|a| String::from_utf8_lossy(a).to_ascii_lowercase()).collect();
    let text = info_text(ctx, &sections);
    reply::verbatim(ctx.out, b"txt", text.as_bytes());
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
