//! CONFIG GET / SET / RESETSTAT / REWRITE / HELP. The parameters live in `PARAMS`: each
//! has a getter (its effective value, as CONFIG GET prints it) and, when it may change at
//! runtime, a setter that validates and applies ([`crate::tunables`] holds those values).
//! CONFIG SET of several pairs is all-or-none, as Redis 7.0: every pair is checked (names,
//! immutability, duplicates, values) before any is applied. Error texts are Redis's.

use std::sync::atomic::Ordering::Relaxed;

use super::{eq_ignore_case, parse_i64, Command, Ctx, Doc};
use crate::protocol::Argv;
use crate::reply;
use crate::shared::Shared;
use crate::tunables::{memtoll, parse_output_limits, ClientClass};

pub const COMMANDS: &[Command] = &[Command { name: "config", arity: -2, flags: 0, keys: (0, 0, 0), handler: config }];

pub const DOCS: &[Doc] = &[
    Doc { name: "config", group: "server", since: "2.0.0", summary: "Read and change server settings.", syntax: "" },
    Doc {
        name: "config|get",
        group: "server",
        since: "2.0.0",
        summary: "The values of the settings whose names match the patterns.",
        syntax: "parameter=<parameter> [parameter=<parameter> ...]",
    },
    Doc {
        name: "config|set",
        group: "server",
        since: "2.0.0",
        summary: "Change settings at runtime, all of them or none.",
        syntax: "parameter value [parameter value ...]",
    },
    Doc {
        name: "config|resetstat",
        group: "server",
        since: "2.0.0",
        summary: "Zero the statistics INFO reports.",
        syntax: "",
    },
    Doc {
        name: "config|rewrite",
        group: "server",
        since: "2.8.0",
        summary: "Write the settings back to the config file.",
        syntax: "",
    },
    Doc { name: "config|help", group: "server", since: "5.0.0", summary: "List the CONFIG subcommands.", syntax: "" },
];

const HELP: &[&str] = &[
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
    "HELP",
    "    Prints this help.",
];

/// Validate `value`; apply it too when the flag is true. Err: the text after
/// `CONFIG SET failed (possibly related to argument 'x') - `.
type Setter = fn(&Shared, &[u8], bool) -> Result<(), String>;

struct Param {
    name: &'static str,
    get: fn(&Shared) -> String,
    /// `None`: immutable while running.
    set: Option<Setter>,
    /// A startup flag and config-file directive of the same name (written by CONFIG
    /// REWRITE); false for the few Redis names CONFIG GET answers for compatibility only.
    flag: bool,
}

/// A flag that CONFIG SET cannot change.
const fn fixed(name: &'static str, get: fn(&Shared) -> String) -> Param {
    Param { name, get, set: None, flag: true }
}

/// A flag that CONFIG SET changes (in [`crate::tunables`]).
const fn runtime(name: &'static str, get: fn(&Shared) -> String, set: Setter) -> Param {
    Param { name, get, set: Some(set), flag: true }
}

/// The settings: one row per flag/directive, in the order of the flags, then the names kept
/// for Redis compatibility. (Names, defaults and value syntax of the flags are clap's, see
/// [`crate::conffile`]; a test checks that this table and the flags agree.)
const PARAMS: &[Param] = &[
    fixed("unixsocket", |s| s.config.unixsocket.display().to_string()),
    fixed("unixsocketperm", |s| format!("{:o}", s.config.unixsocketperm)),
    fixed("bind", |s| s.config.bind.clone()),
    fixed("port", |s| s.config.port.to_string()),
    fixed("tcp-backlog", |s| s.config.tcp_backlog.to_string()),
    fixed("engine", |s| s.config.engine.name().to_string()),
    fixed("threads", |s| s.config.worker_threads().to_string()),
    runtime("maxclients", |s| s.tunables.maxclients().to_string(), set_maxclients),
    runtime("requirepass", get_requirepass, set_requirepass),
    fixed("databases", |s| s.store.databases().to_string()),
    runtime("proto-max-bulk-len", |s| s.tunables.proto_max_bulk_len().to_string(), set_proto_max_bulk_len),
    runtime(
        "client-query-buffer-limit",
        |s| s.tunables.client_query_buffer_limit().to_string(),
        set_query_buffer_limit,
    ),
    fixed("client-output-pause", |s| s.config.client_output_pause.to_string()),
    runtime("timeout", |s| s.tunables.timeout_s().to_string(), set_timeout),
    runtime("busy-reply-threshold", |s| s.tunables.busy_reply_threshold_ms().to_string(), set_busy_reply_threshold),
    runtime("protected-mode", |s| yes_no(s.tunables.protected_mode()), set_protected_mode),
    fixed("uring-mode", |s| format!("{:?}", s.config.uring_mode).to_ascii_lowercase()),
    fixed("uring-buffers", |s| s.config.uring_buffers.to_string()),
    fixed("uring-buffer-size", |s| s.config.uring_buffer_size.to_string()),
    fixed("uring-batch-wait-us", |s| s.config.uring_batch_wait_us.to_string()),
    fixed("uring-batching", |s| format!("{:?}", s.config.uring_batching).to_ascii_lowercase()),
    fixed("uring-fixed-files", |s| yes_no(s.config.uring_fixed_files == crate::config::YesNo::Yes)),
    fixed("loglevel", |s| format!("{:?}", s.config.loglevel).to_ascii_lowercase()),
    fixed("logfile", |s| s.config.logfile.display().to_string()),
    fixed("pidfile", |s| s.config.pidfile.display().to_string()),
    runtime(
        "slowlog-log-slower-than",
        |s| s.tunables.slowlog_log_slower_than_us().to_string(),
        set_slowlog_slower_than,
    ),
    runtime("slowlog-max-len", |s| s.tunables.slowlog_max_len().to_string(), set_slowlog_max_len),
    runtime("client-output-buffer-limit", get_output_limits, set_output_limits),
    runtime("maxmemory", |s| s.tunables.maxmemory().to_string(), set_maxmemory),
    runtime("maxmemory-policy", |s| s.tunables.maxmemory_policy().name().to_string(), set_maxmemory_policy),
    runtime("maxmemory-samples", |s| s.tunables.maxmemory_samples().to_string(), set_maxmemory_samples),
    runtime("lfu-log-factor", |s| s.tunables.lfu_log_factor().to_string(), set_lfu_log_factor),
    runtime("lfu-decay-time", |s| s.tunables.lfu_decay_time().to_string(), set_lfu_decay_time),
    runtime("hll-sparse-max-bytes", |s| s.tunables.hll_sparse_max_bytes().to_string(), set_hll_sparse_max_bytes),
    runtime("appendonly", |s| yes_no(s.persist.aof().is_some()), set_appendonly),
    fixed("appendfsync", |s| s.config.appendfsync.name().to_string()),
    fixed("dir", get_dir),
    fixed("dbfilename", |s| s.config.dbfilename.clone()),
    fixed("rdbchecksum", |s| yes_no(s.config.rdbchecksum == crate::config::YesNo::Yes)),
    runtime("save", |s| crate::config::format_save_points(&s.persist.save_points()), set_save),
    runtime("stop-writes-on-bgsave-error", |s| yes_no(s.persist.stop_writes_on_bgsave_error()), set_stop_writes),
    runtime("rdbcompression", |s| yes_no(s.persist.rdbcompression()), set_rdbcompression),
    fixed("appendfilename", |s| s.config.appendfilename.clone()),
    fixed("appenddirname", |s| s.config.appenddirname.clone()),
    fixed("aof-load-truncated", |s| yes_no(s.config.aof_load_truncated == crate::config::YesNo::Yes)),
    runtime("aof-use-rdb-preamble", |s| yes_no(s.persist.rdb_preamble()), set_rdb_preamble),
    runtime(
        "auto-aof-rewrite-percentage",
        |s| s.persist.auto_rewrite_percentage().to_string(),
        set_auto_rewrite_percentage,
    ),
    runtime("auto-aof-rewrite-min-size", |s| s.persist.auto_rewrite_min_size().to_string(), set_auto_rewrite_min_size),
    Param {
        name: "lua-time-limit",
        get: |s| s.tunables.busy_reply_threshold_ms().to_string(),
        set: Some(set_busy_reply_threshold),
        flag: false,
    },
    Param { name: "io-threads", get: |s| s.config.worker_threads().to_string(), set: None, flag: false },
];

/// CONFIG GET dir: the absolute working directory, as Redis reports it.
fn get_dir(s: &Shared) -> String {
    std::fs::canonicalize(&s.config.dir).unwrap_or_else(|_| s.config.dir.clone()).display().to_string()
}

/// appendonly: the value it has is accepted; switching the AOF on or off while running is
/// not supported yet (Redis starts a rewrite / stops appending): restart with the flag.
fn set_appendonly(s: &Shared, v: &[u8], _apply: bool) -> Result<(), String> {
    let on = parse_bool(v)?;
    if on == s.persist.aof().is_some() {
        return Ok(());
    }
    Err("can't switch the append only file on or off at runtime; restart with --appendonly yes|no".into())
}

/// save: Redis's `setConfigSaveOption` rules (see [`crate::config::parse_save_points`]).
fn set_save(s: &Shared, v: &[u8], apply: bool) -> Result<(), String> {
    let text = std::str::from_utf8(v).map_err(|_| crate::config::ERR_SAVE_PARAMS.to_string())?;
    let points = crate::config::parse_save_points(text)?;
    if apply {
        s.persist.set_save_points(points);
    }
    Ok(())
}

/// A yes/no parameter: parsed always, `set` called with it only when applying.
fn set_bool(v: &[u8], apply: bool, set: impl FnOnce(bool)) -> Result<(), String> {
    let on = parse_bool(v)?;
    if apply {
        set(on);
    }
    Ok(())
}

fn set_stop_writes(s: &Shared, v: &[u8], apply: bool) -> Result<(), String> {
    set_bool(v, apply, |on| s.persist.set_stop_writes_on_bgsave_error(on))
}

fn set_rdbcompression(s: &Shared, v: &[u8], apply: bool) -> Result<(), String> {
    set_bool(v, apply, |on| s.persist.set_rdbcompression(on))
}

fn set_rdb_preamble(s: &Shared, v: &[u8], apply: bool) -> Result<(), String> {
    set_bool(v, apply, |on| s.persist.set_rdb_preamble(on))
}

fn set_auto_rewrite_percentage(s: &Shared, v: &[u8], apply: bool) -> Result<(), String> {
    let n = parse_num(v, false, 0, i32::MAX as i64)?;
    if apply {
        s.persist.set_auto_rewrite_percentage(n as u64);
    }
    Ok(())
}

fn set_auto_rewrite_min_size(s: &Shared, v: &[u8], apply: bool) -> Result<(), String> {
    let n = parse_num(v, true, 0, i64::MAX)?;
    if apply {
        s.persist.set_auto_rewrite_min_size(n as u64);
    }
    Ok(())
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

fn get_requirepass(s: &Shared) -> String {
    String::from_utf8_lossy(s.tunables.password().as_deref().unwrap_or(b"")).into_owned()
}

fn parse_bool(v: &[u8]) -> Result<bool, String> {
    if v.eq_ignore_ascii_case(b"yes") {
        Ok(true)
    } else if v.eq_ignore_ascii_case(b"no") {
        Ok(false)
    } else {
        Err("argument must be 'yes' or 'no'".into())
    }
}

/// An integer config in `min..=max`, parsed as Redis's numeric configs (`memory`: with
/// units, as `memtoll`).
fn parse_num(v: &[u8], memory: bool, min: i64, max: i64) -> Result<i64, String> {
    let n = if memory {
        memtoll(v).ok_or("argument must be a memory value")?
    } else {
        parse_i64(v).ok_or("argument couldn't be parsed into an integer")?
    };
    if n < min || n > max {
        return Err(format!("argument must be between {min} and {max} inclusive"));
    }
    Ok(n)
}

/// Redis's lower bound for proto-max-bulk-len and client-query-buffer-limit (1 MiB).
const BUFFER_CONFIG_MIN: i64 = 1024 * 1024;

fn set_protected_mode(s: &Shared, v: &[u8], apply: bool) -> Result<(), String> {
    set_bool(v, apply, |on| s.tunables.set_protected_mode(on))
}

fn set_requirepass(s: &Shared, v: &[u8], apply: bool) -> Result<(), String> {
    if apply {
        s.tunables.set_password(v);
    }
    Ok(())
}

fn set_maxclients(s: &Shared, v: &[u8], apply: bool) -> Result<(), String> {
    let n = parse_num(v, false, 1, u32::MAX as i64)? as usize;
    if n > s.tunables.maxclients() {
        let fit = crate::tunables::fit_maxclients(n);
        if fit < n {
            return Err(format!(
                "The operating system is not able to handle the specified number of clients, try with {fit}"
            ));
        }
    }
    if apply {
        s.tunables.set_maxclients(n);
    }
    Ok(())
}

fn set_timeout(s: &Shared, v: &[u8], apply: bool) -> Result<(), String> {
    let n = parse_num(v, false, 0, i32::MAX as i64)?;
    if apply {
        s.tunables.set_timeout_s(n as u64);
    }
    Ok(())
}

fn set_query_buffer_limit(s: &Shared, v: &[u8], apply: bool) -> Result<(), String> {
    let n = parse_num(v, true, BUFFER_CONFIG_MIN, i64::MAX)?;
    if apply {
        s.tunables.set_client_query_buffer_limit(n as u64);
    }
    Ok(())
}

fn set_proto_max_bulk_len(s: &Shared, v: &[u8], apply: bool) -> Result<(), String> {
    let n = parse_num(v, true, BUFFER_CONFIG_MIN, i64::MAX)?;
    if apply {
        s.tunables.set_proto_max_bulk_len(n as u64);
    }
    Ok(())
}

fn set_slowlog_slower_than(s: &Shared, v: &[u8], apply: bool) -> Result<(), String> {
    let n = parse_num(v, false, -1, i64::MAX)?;
    if apply {
        s.tunables.set_slowlog_log_slower_than_us(n);
    }
    Ok(())
}

fn set_busy_reply_threshold(s: &Shared, v: &[u8], apply: bool) -> Result<(), String> {
    let n = parse_num(v, false, 0, i64::MAX)? as u64;
    if apply {
        s.tunables.set_busy_reply_threshold_ms(n);
    }
    Ok(())
}

fn set_slowlog_max_len(s: &Shared, v: &[u8], apply: bool) -> Result<(), String> {
    let n = parse_num(v, false, 0, i64::MAX)? as u64;
    if apply {
        s.tunables.set_slowlog_max_len(n);
        s.slowlog.trim(n);
    }
    Ok(())
}

fn set_maxmemory(s: &Shared, v: &[u8], apply: bool) -> Result<(), String> {
    let n = parse_num(v, true, 0, i64::MAX)? as u64;
    if apply {
        s.tunables.set_maxmemory(n);
        let used = crate::alloc::used_memory() as u64;
        if n != 0 && used > n {
            // Redis logs this too; the next write command evicts down to the limit.
            tracing::warn!(
                used,
                maxmemory = n,
                "WARNING: the new maxmemory value set via CONFIG SET is smaller than the current memory usage"
            );
        }
    }
    Ok(())
}

fn set_maxmemory_policy(s: &Shared, v: &[u8], apply: bool) -> Result<(), String> {
    let policy = crate::config::MaxmemoryPolicy::parse(v).ok_or("argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction")?;
    if apply {
        s.tunables.set_maxmemory_policy(policy);
        crate::evict::sync_access_policy(s);
    }
    Ok(())
}

fn set_maxmemory_samples(s: &Shared, v: &[u8], apply: bool) -> Result<(), String> {
    let n = parse_num(v, false, 1, i32::MAX as i64)? as u32;
    if apply {
        s.tunables.set_maxmemory_samples(n);
    }
    Ok(())
}

fn set_lfu_log_factor(s: &Shared, v: &[u8], apply: bool) -> Result<(), String> {
    let n = parse_num(v, false, 0, i32::MAX as i64)? as u32;
    if apply {
        s.tunables.set_lfu_log_factor(n);
        crate::evict::sync_access_policy(s);
    }
    Ok(())
}

fn set_lfu_decay_time(s: &Shared, v: &[u8], apply: bool) -> Result<(), String> {
    let n = parse_num(v, false, 0, i32::MAX as i64)? as u32;
    if apply {
        s.tunables.set_lfu_decay_time(n);
        crate::evict::sync_access_policy(s);
    }
    Ok(())
}

/// hll-sparse-max-bytes: a size (units allowed) from 0 to LONG_MAX, as Redis.
fn set_hll_sparse_max_bytes(s: &Shared, v: &[u8], apply: bool) -> Result<(), String> {
    let n = parse_num(v, true, 0, i64::MAX)? as u64;
    if apply {
        s.tunables.set_hll_sparse_max_bytes(n);
    }
    Ok(())
}

fn get_output_limits(s: &Shared) -> String {
    let parts: Vec<String> = ClientClass::ALL
        .iter()
        .map(|&c| {
            let l = s.tunables.output_limit(c);
            format!("{} {} {} {}", c.name(), l.hard_bytes, l.soft_bytes, l.soft_seconds)
        })
        .collect();
    parts.join(" ")
}

fn set_output_limits(s: &Shared, v: &[u8], apply: bool) -> Result<(), String> {
    let limits = parse_output_limits(v)?;
    if apply {
        for (class, limit) in limits {
            s.tunables.set_output_limit(class, limit);
        }
    }
    Ok(())
}

/// CONFIG subcommand [arg ...]
fn config(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let Some(sub) = super::subcommand(ctx, argv, "config") else { return };
    match sub {
        "get" => get(ctx, argv),
        "set" => set(ctx, argv),
        "resetstat" => {
            resetstat(ctx.shared);
            ctx.ok();
        }
        "rewrite" => match rewrite(ctx.shared) {
            Ok(()) => ctx.ok(),
            Err(e) => ctx.error(&e),
        },
        _ => super::help_reply(ctx, HELP),
    }
}

/// CONFIG GET pattern [pattern ...]: a map of every parameter matching any pattern.
fn get(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let found: Vec<&Param> = PARAMS
        .iter()
        .filter(|p| argv.iter().skip(2).any(|pat| crate::glob::matches(pat, p.name.as_bytes(), true)))
        .collect();
    reply::map(ctx.out, found.len());
    for p in found {
        reply::bulk(ctx.out, p.name.as_bytes());
        reply::bulk(ctx.out, (p.get)(ctx.shared).as_bytes());
    }
}

/// CONFIG SET parameter value [parameter value ...]: check everything, then apply all.
fn set(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    if !argv.len().is_multiple_of(2) {
        return ctx.error(super::ERR_SYNTAX);
    }
    let mut chosen: Vec<(&Param, &[u8])> = Vec::new();
    let mut first_error: Option<String> = None;
    for pair in (2..argv.len()).step_by(2) {
        let name = argv.get(pair);
        let shown = String::from_utf8_lossy(name);
        let Some(p) = PARAMS.iter().find(|p| eq_ignore_case(name, p.name)) else {
            return ctx.error(&format!("ERR Unknown option or number of arguments for CONFIG SET - '{shown}'"));
        };
        if first_error.is_none() {
            if p.set.is_none() {
                first_error = Some(set_failed(&shown, "can't set immutable config"));
            } else if chosen.iter().any(|(q, _)| std::ptr::eq(*q, p)) {
                first_error = Some(set_failed(&shown, "duplicate parameter"));
            }
        }
        chosen.push((p, argv.get(pair + 1)));
    }
    if let Some(e) = first_error {
        return ctx.error(&e);
    }
    for &(p, value) in &chosen {
        if let Err(why) = (p.set.expect("checked"))(ctx.shared, value, false) {
            return ctx.error(&set_failed(p.name, &why));
        }
    }
    for &(p, value) in &chosen {
        let applied = (p.set.expect("checked"))(ctx.shared, value, true);
        debug_assert!(applied.is_ok(), "validated above");
    }
    ctx.ok();
}

fn set_failed(name: &str, why: &str) -> String {
    format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}")
}

/// The config-file lines that set `p` to its value in `s`: one line, or one per client
/// class for `client-output-buffer-limit`.
fn directive_lines(p: &Param, s: &Shared) -> Vec<String> {
    let value = (p.get)(s);
    if p.name == "client-output-buffer-limit" {
        // class hard soft seconds: the two limits are byte counts.
        let words: Vec<&str> = value.split(' ').collect();
        return words
            .chunks(4)
            .map(|group| {
                let group: Vec<String> = group
                    .iter()
                    .enumerate()
                    .map(|(i, w)| if i == 1 || i == 2 { format_memory(w) } else { w.to_string() })
                    .collect();
                format!("{} {}", p.name, group.join(" "))
            })
            .collect();
    }
    if MEMORY_DIRECTIVES.contains(&p.name) {
        return vec![format!("{} {}", p.name, format_memory(&value))];
    }
    vec![format!("{} {}", p.name, crate::conffile::quote(value.as_bytes()))]
}

/// Directives holding a byte count: CONFIG REWRITE writes them as Redis does.
const MEMORY_DIRECTIVES: &[&str] =
    &["maxmemory", "proto-max-bulk-len", "client-query-buffer-limit", "auto-aof-rewrite-min-size", "uring-buffer-size"];

/// A byte count as Redis's `rewriteConfigFormatMemory` writes it: in the largest of gb, mb,
/// kb that divides it exactly, else in bytes (`100mb`, `1gb`, `1500000000`).
fn format_memory(value: &str) -> String {
    const KB: u64 = 1024;
    let Ok(bytes) = value.parse::<u64>() else {
        return value.to_string();
    };
    match bytes {
        0 => "0".to_string(),
        b if b % (KB * KB * KB) == 0 => format!("{}gb", b / (KB * KB * KB)),
        b if b % (KB * KB) == 0 => format!("{}mb", b / (KB * KB)),
        b if b % KB == 0 => format!("{}kb", b / KB),
        b => b.to_string(),
    }
}

/// A server state with every setting at its default, to tell which settings differ. Built
/// once, on a thread of its own: clap's parser needs more stack than a threads-engine
/// connection thread has.
fn default_settings() -> &'static Shared {
    static DEFAULTS: std::sync::OnceLock<Box<Shared>> = std::sync::OnceLock::new();
    DEFAULTS.get_or_init(|| {
        std::thread::scope(|s| s.spawn(|| Box::new(Shared::new(crate::config::Config::defaults()))).join())
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// CONFIG REWRITE: write every directive's current value into the config file the server
/// started with (see [`crate::conffile::rewrite_text`]). Err: the error reply.
fn rewrite(shared: &Shared) -> Result<(), String> {
    let Some(path) = &shared.config.config_file else {
        return Err("ERR The server is running without a config file".into());
    };
    let failed = |e: std::io::Error| {
        tracing::warn!("CONFIG REWRITE failed: {e}");
        format!("ERR Rewriting config file: {e}")
    };
    let old = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(failed(e)),
    };
    let defaults = default_settings();
    let current: Vec<crate::conffile::Current> = PARAMS
        .iter()
        .filter(|p| p.flag)
        .map(|p| crate::conffile::Current {
            name: p.name,
            lines: directive_lines(p, shared),
            is_default: (p.get)(shared) == (p.get)(defaults),
        })
        .collect();
    crate::conffile::write_atomically(path, &crate::conffile::rewrite_text(&old, &current)).map_err(failed)?;
    tracing::info!("CONFIG REWRITE executed with success.");
    Ok(())
}

/// CONFIG RESETSTAT: zero INFO's counters.
fn resetstat(shared: &Shared) {
    let s = &shared.stats;
    for a in [
        &s.total_connections_received,
        &s.rejected_connections,
        &s.protocol_errors,
        &s.expired_keys,
        &s.evicted_keys,
        &s.timedout_clients,
    ] {
        a.store(0, Relaxed);
    }
    for c in
        [&s.total_commands_processed, &s.keyspace_hits, &s.keyspace_misses, &s.net_input_bytes, &s.net_output_bytes]
    {
        c.reset();
    }
    shared.clients.delivered_bytes.reset();
    shared.cmdstats.reset();
    shared.errors.reset();
}

#[cfg(test)]
mod tests {
    use crate::cmd::{run_for_test_in, ClientState};
    use crate::config::Config;
    use crate::reply::Proto;
    use crate::shared::Shared;
    use crate::tunables::ClientClass;

    fn run(shared: &Shared, args: &[&str]) -> String {
        let mut c = ClientState::new(shared);
        c.authenticated = true; // these tests may set requirepass
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        String::from_utf8(run_for_test_in(shared, &mut c, Proto::Resp2, &args)).unwrap()
    }

    fn failed(name: &str, why: &str) -> String {
        format!("-ERR CONFIG SET failed (possibly related to argument '{name}') - {why}\r\n")
    }

    #[test]
    fn set_changes_every_runtime_parameter() {
        let s = Shared::new(Config::defaults());
        let ok = run(
            &s,
            &[
                "CONFIG",
                "SET",
                "protected-mode",
                "no",
                "requirepass",
                "pw",
                "maxclients",
                "50",
                "timeout",
                "9",
                "client-query-buffer-limit",
                "2mb",
                "proto-max-bulk-len",
                "1gb",
                "slowlog-log-slower-than",
                "-1",
                "slowlog-max-len",
                "5",
                "client-output-buffer-limit",
                "pubsub 1mb 512kb 7 replica 1 2 3",
            ],
        );
        assert_eq!(ok, "+OK\r\n");
        let t = &s.tunables;
        assert!(!t.protected_mode());
        assert_eq!(t.password().as_deref(), Some(&b"pw"[..]));
        assert_eq!((t.maxclients(), t.timeout_s()), (50, 9));
        assert_eq!((t.client_query_buffer_limit(), t.proto_max_bulk_len()), (2 << 20, 1 << 30));
        assert_eq!((t.slowlog_log_slower_than_us(), t.slowlog_max_len()), (-1, 5));
        let p = t.output_limit(ClientClass::Pubsub);
        assert_eq!((p.hard_bytes, p.soft_bytes, p.soft_seconds), (1 << 20, 512 << 10, 7));
        let got = run(&s, &["CONFIG", "GET", "client-output-buffer-limit", "TIME*", "requirepass"]);
        let limits = "normal 0 0 0 slave 1 2 3 pubsub 1048576 524288 7";
        let want = format!("*6\r\n$11\r\nrequirepass\r\n$2\r\npw\r\n$7\r\ntimeout\r\n$1\r\n9\r\n$26\r\nclient-output-buffer-limit\r\n${}\r\n{limits}\r\n", limits.len());
        assert_eq!(got, want);
    }

    #[test]
    fn set_is_all_or_nothing_with_redis_errors() {
        let s = Shared::new(Config::defaults());
        let cases: &[(&[&str], String)] = &[
            (
                &["timeout", "5", "foo", "1"],
                "-ERR Unknown option or number of arguments for CONFIG SET - 'foo'\r\n".into(),
            ),
            (&["timeout", "5", "port", "1"], failed("port", "can't set immutable config")),
            (&["TIMEOUT", "5", "timeout", "6"], failed("timeout", "duplicate parameter")),
            (
                &["timeout", "5", "maxclients", "abc"],
                failed("maxclients", "argument couldn't be parsed into an integer"),
            ),
            (&["Timeout", "-1"], failed("timeout", "argument must be between 0 and 2147483647 inclusive")),
            (&["maxclients", "0"], failed("maxclients", "argument must be between 1 and 4294967295 inclusive")),
            (&["protected-mode", "maybe"], failed("protected-mode", "argument must be 'yes' or 'no'")),
            (&["proto-max-bulk-len", "1zb"], failed("proto-max-bulk-len", "argument must be a memory value")),
            (
                &["proto-max-bulk-len", "1"],
                failed("proto-max-bulk-len", "argument must be between 1048576 and 9223372036854775807 inclusive"),
            ),
            (
                &["slowlog-log-slower-than", "-5"],
                failed("slowlog-log-slower-than", "argument must be between -1 and 9223372036854775807 inclusive"),
            ),
            (
                &["client-output-buffer-limit", "normal 0 0"],
                failed("client-output-buffer-limit", "Wrong number of arguments in buffer limit configuration."),
            ),
            (
                &["client-output-buffer-limit", "master 1 0 1"],
                failed("client-output-buffer-limit", "Invalid client class specified in buffer limit configuration."),
            ),
            (
                &["client-output-buffer-limit", "normal 1x 0 0"],
                failed(
                    "client-output-buffer-limit",
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration.",
                ),
            ),
            (&["timeout", "5", "maxclients"], "-ERR syntax error\r\n".into()),
        ];
        for (pairs, want) in cases {
            let mut args = vec!["CONFIG", "SET"];
            args.extend_from_slice(pairs);
            assert_eq!(&run(&s, &args), want, "{pairs:?}");
            assert_eq!(s.tunables.timeout_s(), 0, "nothing applied: {pairs:?}");
        }
        assert_eq!(run(&s, &["CONFIG", "SET", "save", "", "appendonly", "no"]), "+OK\r\n");
        assert_eq!(run(&s, &["CONFIG", "SET", "x"]), "-ERR wrong number of arguments for 'config|set' command\r\n");
    }

    #[test]
    fn save_points_get_and_set_as_redis() {
        let s = Shared::new(Config::defaults());
        assert_eq!(run(&s, &["CONFIG", "GET", "save"]), "*2\r\n$4\r\nsave\r\n$23\r\n3600 1 300 100 60 10000\r\n");
        assert_eq!(run(&s, &["CONFIG", "SET", "save", "10 1 20 2"]), "+OK\r\n");
        assert_eq!(crate::config::format_save_points(&s.persist.save_points()), "10 1 20 2");
        for bad in ["1 2 3", "0 1", "abc 1", "10 -1", "  10 1"] {
            assert_eq!(run(&s, &["CONFIG", "SET", "save", bad]), failed("save", "Invalid save parameters"), "{bad:?}");
        }
        assert_eq!(crate::config::format_save_points(&s.persist.save_points()), "10 1 20 2", "unchanged");
        assert_eq!(run(&s, &["CONFIG", "SET", "save", ""]), "+OK\r\n");
        assert_eq!(run(&s, &["CONFIG", "GET", "save"]), "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
        assert!(!s.persist.has_save_points());
        assert_eq!(
            run(&s, &["CONFIG", "SET", "stop-writes-on-bgsave-error", "maybe"]),
            failed("stop-writes-on-bgsave-error", "argument must be 'yes' or 'no'")
        );
        assert_eq!(run(&s, &["CONFIG", "SET", "stop-writes-on-bgsave-error", "no", "rdbcompression", "no"]), "+OK\r\n");
        assert!(!s.persist.stop_writes_on_bgsave_error() && !s.persist.rdbcompression());
    }

    #[test]
    fn params_and_flags_are_one_table() {
        let flags: Vec<String> = crate::conffile::directives().into_iter().map(|d| d.name).collect();
        let params: Vec<String> = super::PARAMS.iter().filter(|p| p.flag).map(|p| p.name.to_string()).collect();
        assert_eq!(params, flags, "cmd::config::PARAMS rows with flag: true, in the order of the flags");
        // CONFIG GET of a fresh server reports each flag's clap default (threads: the CPUs).
        let s = Shared::new(Config::defaults());
        for d in crate::conffile::directives() {
            let p = super::PARAMS.iter().find(|p| p.name == d.name).unwrap();
            let got = (p.get)(&s);
            let want = match d.name.as_str() {
                "threads" => s.config.worker_threads().to_string(),
                "client-output-buffer-limit" => {
                    "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60".into()
                }
                "dir" => std::fs::canonicalize(&d.default).unwrap().display().to_string(),
                "proto-max-bulk-len"
                | "client-query-buffer-limit"
                | "client-output-pause"
                | "uring-buffer-size"
                | "auto-aof-rewrite-min-size" => crate::config::parse_size(&d.default).unwrap().to_string(),
                _ => d.default.clone(),
            };
            assert_eq!(got, want, "{}", d.name);
        }
    }

    #[test]
    fn rewrite_writes_byte_counts_as_redis_does() {
        assert_eq!(super::format_memory("104857600"), "100mb");
        assert_eq!(super::format_memory("1073741824"), "1gb");
        assert_eq!(super::format_memory("16384"), "16kb");
        assert_eq!(super::format_memory("1500000000"), "1500000000");
        assert_eq!(super::format_memory("0"), "0");
    }

    #[test]
    fn rewrite_writes_changed_values_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.conf");
        std::fs::write(&path, "# top\ntimeout 1\n# end\n").unwrap();
        let mut config = Config::defaults();
        config.config_file = Some(path.clone());
        let s = Shared::new(config);
        assert_eq!(
            run(&s, &["CONFIG", "SET", "timeout", "42", "requirepass", "p w", "slowlog-max-len", "7"]),
            "+OK\r\n"
        );
        assert_eq!(run(&s, &["CONFIG", "REWRITE"]), "+OK\r\n");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "# top\ntimeout 42\n# end\n# Generated by CONFIG REWRITE\nrequirepass \"p w\"\nslowlog-max-len 7\n"
        );
        // The rewritten file loads back to the same values.
        let args = ["ringkv-server".into(), path.clone().into_os_string()];
        let back = crate::conffile::load(args.to_vec()).unwrap();
        assert_eq!((back.timeout, back.requirepass.as_deref(), back.slowlog_max_len), (42, Some("p w"), 7));
        std::fs::remove_dir_all(dir.path()).unwrap();
        assert!(run(&s, &["CONFIG", "REWRITE"]).starts_with("-ERR Rewriting config file: "));
    }

    #[test]
    fn get_help_rewrite_resetstat() {
        let s = Shared::new(Config::defaults());
        assert_eq!(
            run(&s, &["CONFIG", "GET", "slowlog*"]),
            "*4\r\n$23\r\nslowlog-log-slower-than\r\n$5\r\n10000\r\n$15\r\nslowlog-max-len\r\n$3\r\n128\r\n"
        );
        let mut c = ClientState::new(&s);
        let resp3 = run_for_test_in(&s, &mut c, Proto::Resp3, &[b"CONFIG", b"GET", b"maxclients"]);
        assert_eq!(resp3, b"%1\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n");
        assert_eq!(run(&s, &["CONFIG", "REWRITE"]), "-ERR The server is running without a config file\r\n");
        assert!(run(&s, &["CONFIG", "HELP"]).starts_with("*11\r\n+CONFIG <subcommand>"));
        assert_eq!(run(&s, &["CONFIG", "GET"]), "-ERR wrong number of arguments for 'config|get' command\r\n");
        assert_eq!(run(&s, &["CONFIG", "NOPE"]), "-ERR unknown subcommand 'NOPE'. Try CONFIG HELP.\r\n");
        s.stats.rejected_connections.store(3, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(run(&s, &["CONFIG", "RESETSTAT"]), "+OK\r\n");
        assert_eq!(s.stats.rejected_connections.load(std::sync::atomic::Ordering::Relaxed), 0);
    }
}
