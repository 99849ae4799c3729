//! Server commands: COMMAND, CONFIG GET, INFO, DBSIZE, FLUSHDB, FLUSHALL, TIME.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use super::{all_commands, eq_ignore_case, Command, Ctx, ERR_SYNTAX, READONLY, WRITE};
use crate::protocol::Argv;
use crate::reply;

/// The Redis version whose behaviour ringkv follows: replies, shapes and error texts are
/// checked against this release. Reported as `redis_version` in INFO and `version` in HELLO
/// so client libraries that gate features on it behave; `ringkv_version` is ringkv's own.
/// The one place this version is written.
pub const REDIS_COMPAT_VERSION: &str = "7.0.15";

/// Documentation of this family's commands (see [`super::Doc`]).
pub const DOCS: &[super::Doc] = &[];

pub const COMMANDS: &[Command] = &[
    Command { name: "command", arity: -1, flags: 0, keys: (0, 0, 0), handler: command },
    Command { name: "config", arity: -2, flags: 0, keys: (0, 0, 0), handler: config },
    Command { name: "info", arity: -1, flags: 0, keys: (0, 0, 0), handler: info },
    Command { name: "dbsize", arity: 1, flags: READONLY, keys: (0, 0, 0), handler: dbsize },
    Command { name: "flushdb", arity: -1, flags: WRITE, keys: (0, 0, 0), handler: flushdb },
    Command { name: "flushall", arity: -1, flags: WRITE, keys: (0, 0, 0), handler: flushall },
    Command { name: "time", arity: 1, flags: 0, keys: (0, 0, 0), handler: time },
];

/// One command's entry in COMMAND / COMMAND INFO, in Redis 7.0's ten-field shape: name,
/// arity, flags (a set), first key, last key, step, ACL categories (a set; ringkv has no
/// ACLs), tips (a set), key specifications (a set) and subcommands.
fn command_info(out: &mut reply::Out, cmd: &Command) {
    reply::array(out, 10);
    reply::bulk(out, cmd.name.as_bytes());
    reply::integer(out, cmd.arity as i64);
    let mut flags: Vec<&[u8]> = Vec::new();
    if cmd.flags & WRITE != 0 {
        flags.push(b"write");
    }
    if cmd.flags & READONLY != 0 {
        flags.push(b"readonly");
    }
    if cmd.flags & super::NO_AUTH != 0 {
        flags.push(b"no_auth");
    }
    reply::set(out, flags.len());
    for f in flags {
        reply::simple(out, f);
    }
    let (first, last, step) = cmd.keys;
    reply::integer(out, first as i64);
    reply::integer(out, last as i64);
    reply::integer(out, step as i64);
    reply::set(out, 0);
    reply::set(out, 0);
    key_specs(out, cmd.keys);
    reply::set(out, 0);
}

/// The key specifications derived from the legacy `(first, last, step)` triple: none for a
/// command without keys, else one `index` + `range` spec as Redis writes them.
fn key_specs(out: &mut reply::Out, (first, last, step): (i32, i32, i32)) {
    if first == 0 {
        return reply::set(out, 0);
    }
    // `lastkey` is relative to the first key; a negative `last` counts from the end as is.
    let lastkey = if last < 0 { last } else { last - first };
    reply::set(out, 1);
    reply::map(out, 3);
    reply::bulk(out, b"flags");
    reply::set(out, 0);
    reply::bulk(out, b"begin_search");
    reply::map(out, 2);
    reply::bulk(out, b"type");
    reply::bulk(out, b"index");
    reply::bulk(out, b"spec");
    reply::map(out, 1);
    reply::bulk(out, b"index");
    reply::integer(out, first as i64);
    reply::bulk(out, b"find_keys");
    reply::map(out, 2);
    reply::bulk(out, b"type");
    reply::bulk(out, b"range");
    reply::bulk(out, b"spec");
    reply::map(out, 3);
    reply::bulk(out, b"lastkey");
    reply::integer(out, lastkey as i64);
    reply::bulk(out, b"keystep");
    reply::integer(out, step as i64);
    reply::bulk(out, b"limit");
    reply::integer(out, 0);
}

/// One command's entry in COMMAND DOCS: a map of summary, since and group, from its family's
/// [`super::Doc`] row (placeholders for a command that has none yet).
fn command_docs(out: &mut reply::Out, cmd: &Command) {
    let doc = super::doc(cmd.name);
    let field = |f: fn(&super::Doc) -> &'static str, default: &'static str| doc.map_or(default, f);
    reply::bulk(out, cmd.name.as_bytes());
    reply::map(out, 3);
    reply::bulk(out, b"summary");
    reply::bulk(out, field(|d| d.summary, "").as_bytes());
    reply::bulk(out, b"since");
    reply::bulk(out, field(|d| d.since, "1.0.0").as_bytes());
    reply::bulk(out, b"group");
    reply::bulk(out, field(|d| d.group, "generic").as_bytes());
}

/// COMMAND [COUNT | INFO name... | DOCS [name...] | LIST]
fn command(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let mut cmds: Vec<&Command> = all_commands().collect();
    cmds.sort_by_key(|c| c.name);
    if argv.len() == 1 {
        reply::array(ctx.out, cmds.len());
        for c in cmds {
            command_info(ctx.out, c);
        }
        return;
    }
    let sub = argv.get(1);
    if eq_ignore_case(sub, "count") && argv.len() == 2 {
        reply::integer(ctx.out, cmds.len() as i64);
    } else if eq_ignore_case(sub, "list") && argv.len() == 2 {
        reply::array(ctx.out, cmds.len());
        for c in cmds {
            reply::bulk(ctx.out, c.name.as_bytes());
        }
    } else if eq_ignore_case(sub, "info") {
        let wanted = if argv.len() == 2 {
            cmds.iter().map(|c| c.name.as_bytes()).collect()
        } else {
            argv.iter().skip(2).collect::<Vec<_>>()
        };
        reply::array(ctx.out, wanted.len());
        for name in wanted {
            match super::lookup(name) {
                Some(c) => command_info(ctx.out, c),
                None => reply::null(ctx.out),
            }
        }
    } else if eq_ignore_case(sub, "docs") {
        let found: Vec<&Command> =
            if argv.len() == 2 { cmds } else { argv.iter().skip(2).filter_map(super::lookup).collect() };
        reply::map(ctx.out, found.len());
        for c in found {
            command_docs(ctx.out, c);
        }
    } else {
        let name = String::from_utf8_lossy(sub).into_owned();
        ctx.error(&format!("ERR unknown subcommand '{name}'. Try COMMAND HELP."));
    }
}

/// CONFIG GET parameter [parameter ...] | CONFIG RESETSTAT
fn config(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let sub = argv.get(1);
    if eq_ignore_case(sub, "get") {
        if argv.len() < 3 {
            return super::wrong_arity(ctx, "config|get");
        }
        let c = &ctx.shared.config;
        let params: Vec<(&str, String)> = vec![
            ("save", String::new()),
            ("appendonly", "no".into()),
            ("maxclients", c.maxclients.to_string()),
            ("databases", ctx.shared.store.databases().to_string()),
            ("port", c.port.to_string()),
            ("tcp-backlog", c.tcp_backlog.to_string()),
            ("bind", c.bind.clone()),
            ("unixsocket", c.unixsocket.display().to_string()),
            ("unixsocketperm", format!("{:o}", c.unixsocketperm)),
            ("timeout", c.timeout.to_string()),
            ("proto-max-bulk-len", c.proto_max_bulk_len.to_string()),
            ("client-query-buffer-limit", c.client_query_buffer_limit.to_string()),
            ("protected-mode", if c.protected_mode == crate::config::YesNo::Yes { "yes".into() } else { "no".into() }),
            ("requirepass", c.requirepass.clone().unwrap_or_default()),
            ("io-threads", c.worker_threads().to_string()),
            ("maxmemory", "0".into()),
        ];
        let mut found: Vec<&(&str, String)> = Vec::new();
        for pat in argv.iter().skip(2) {
            for p in &params {
                if crate::glob::matches(pat, p.0.as_bytes(), true) && !found.iter().any(|f| f.0 == p.0) {
                    found.push(p);
                }
            }
        }
        reply::map(ctx.out, found.len());
        for (name, value) in found {
            reply::bulk(ctx.out, name.as_bytes());
            reply::bulk(ctx.out, value.as_bytes());
        }
    } else if eq_ignore_case(sub, "resetstat") && argv.len() == 2 {
        let s = &ctx.shared.stats;
        for a in [&s.total_connections_received, &s.rejected_connections, &s.protocol_errors, &s.expired_keys] {
            a.store(0, Relaxed);
        }
        for c in [&s.total_commands_processed, &s.keyspace_hits, &s.keyspace_misses] {
            c.reset();
        }
        ctx.ok();
    } else {
        let name = String::from_utf8_lossy(sub).into_owned();
        ctx.error(&format!("ERR unknown subcommand '{name}'. Try CONFIG HELP."));
    }
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
            shared.config.maxclients,
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
