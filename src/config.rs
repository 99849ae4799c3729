//! Server configuration: the command-line flags (named after Redis's config directives where
//! one exists) and the limits they set. Parsed once at startup; read-only afterwards.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Default Unix socket path.
pub const UNIXSOCKET_DEFAULT: &str = "/tmp/ringkv.sock";
/// Default TCP port (Redis's 6379 + 1000, so both can run side by side).
pub const PORT_DEFAULT: u16 = 7379;
/// Redis's default `busy-reply-threshold` (ms).
pub const BUSY_REPLY_THRESHOLD_MS_DEFAULT: u64 = 5000;
/// Redis's default `maxclients`.
pub const MAXCLIENTS_DEFAULT: usize = 10_000;
/// Redis's default `proto-max-bulk-len` (512 MiB).
pub const PROTO_MAX_BULK_LEN_DEFAULT: u64 = 512 * 1024 * 1024;
/// Redis's default `client-query-buffer-limit` (1 GiB).
pub const CLIENT_QUERY_BUFFER_LIMIT_DEFAULT: u64 = 1024 * 1024 * 1024;
/// Once a connection has this many reply bytes waiting to be sent, the server stops running
/// its requests (and stops reading from it) until the client reads. Bounds memory per client
/// under a client that pipelines without reading: at most this plus one reply.
pub const OUTPUT_PAUSE_BYTES_DEFAULT: u64 = 256 * 1024;
/// Redis's default `tcp-backlog`: pending connections the kernel queues per listener before
/// the server accepts them (std's `bind` uses 128; a burst of connects over it costs each
/// overflowing client a ~1 s SYN retransmit). The kernel caps it at `net.core.somaxconn`.
pub const TCP_BACKLOG_DEFAULT: u32 = 511;
/// Largest `--tcp-backlog` (Redis: INT_MAX, the type `listen(2)` takes).
pub const TCP_BACKLOG_MAX: u32 = i32::MAX as u32;
/// Largest `--threads`: a worker per core is the point, and each io_uring worker pins about
/// 72 KiB of locked memory; more than this is a typo, not a machine.
pub const THREADS_MAX: usize = 1024;

/// Which I/O engine moves the bytes. Parser, commands and store are the same for all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EngineKind {
    /// Per-core io_uring rings with batched submissions (the default).
    Uring,
    /// One epoll event loop per worker thread (mio).
    Epoll,
    /// One OS thread per connection, blocking I/O (the seed program's design).
    Threads,
}

impl EngineKind {
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Uring => "uring",
            EngineKind::Epoll => "epoll",
            EngineKind::Threads => "threads",
        }
    }
}

/// io_uring mode: `full` uses multishot accept/recv and a provided buffer ring (Linux 6.0+);
/// `basic` uses single-shot recv into per-connection buffers (older kernels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum UringMode {
    Full,
    Basic,
}

/// `--maxmemory-policy`: what happens when a write needs memory over `--maxmemory` (Redis's
/// eight policies; `volatile-*` only evict keys with a TTL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MaxmemoryPolicy {
    VolatileLru,
    AllkeysLru,
    VolatileLfu,
    AllkeysLfu,
    VolatileRandom,
    AllkeysRandom,
    VolatileTtl,
    Noeviction,
}

impl MaxmemoryPolicy {
    /// Every policy, in Redis's order (index = the value kept in the tunables' atomic).
    pub const ALL: [MaxmemoryPolicy; 8] = [
        MaxmemoryPolicy::VolatileLru,
        MaxmemoryPolicy::AllkeysLru,
        MaxmemoryPolicy::VolatileLfu,
        MaxmemoryPolicy::AllkeysLfu,
        MaxmemoryPolicy::VolatileRandom,
        MaxmemoryPolicy::AllkeysRandom,
        MaxmemoryPolicy::VolatileTtl,
        MaxmemoryPolicy::Noeviction,
    ];

    /// The name CONFIG GET and INFO print.
    pub fn name(self) -> &'static str {
        match self {
            MaxmemoryPolicy::VolatileLru => "volatile-lru",
            MaxmemoryPolicy::AllkeysLru => "allkeys-lru",
            MaxmemoryPolicy::VolatileLfu => "volatile-lfu",
            MaxmemoryPolicy::AllkeysLfu => "allkeys-lfu",
            MaxmemoryPolicy::VolatileRandom => "volatile-random",
            MaxmemoryPolicy::AllkeysRandom => "allkeys-random",
            MaxmemoryPolicy::VolatileTtl => "volatile-ttl",
            MaxmemoryPolicy::Noeviction => "noeviction",
        }
    }

    /// Parse a name case-insensitively (CONFIG SET).
    pub fn parse(name: &[u8]) -> Option<MaxmemoryPolicy> {
        Self::ALL.into_iter().find(|p| p.name().as_bytes().eq_ignore_ascii_case(name))
    }

    /// Only keys with a TTL may be evicted.
    pub fn volatile_only(self) -> bool {
        matches!(
            self,
            MaxmemoryPolicy::VolatileLru
                | MaxmemoryPolicy::VolatileLfu
                | MaxmemoryPolicy::VolatileRandom
                | MaxmemoryPolicy::VolatileTtl
        )
    }

    /// The entry's access bits hold an LFU counter (else an LRU clock).
    pub fn is_lfu(self) -> bool {
        matches!(self, MaxmemoryPolicy::VolatileLfu | MaxmemoryPolicy::AllkeysLfu)
    }
}

/// io_uring batching policy (see `engine/uring/batching.rs`): `fixed` waits the full
/// `--uring-batch-wait-us` for a batch when busy with unpipelined clients; `adaptive` waits
/// only while the worker is saturated, for a fraction of a loop cycle (at most
/// `--uring-batch-wait-us`); `auto` (the default) is `fixed` with two or more workers and
/// never waits with one (docs/batching.md, run 5: a lone worker that waits loses requests
/// per second and latency, two workers that wait win requests per second and CPU).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum UringBatching {
    Auto,
    Adaptive,
    Fixed,
}

/// `appendfsync` values, as Redis spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AppendFsync {
    Always,
    Everysec,
    No,
}

impl AppendFsync {
    pub fn name(self) -> &'static str {
        match self {
            AppendFsync::Always => "always",
            AppendFsync::Everysec => "everysec",
            AppendFsync::No => "no",
        }
    }
}

/// Redis 7.0's default save points (`save 3600 1 300 100 60 10000`).
pub const SAVE_DEFAULT: &str = "3600 1 300 100 60 10000";

/// One save point: BGSAVE when `changes` changes were made and more than `seconds` passed
/// since the last successful save.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SavePoint {
    pub seconds: u64,
    pub changes: u64,
}

/// Redis's text of a rejected `save` value (CONFIG SET and the config file).
pub const ERR_SAVE_PARAMS: &str = "Invalid save parameters";

/// Parse one `save` value as Redis 7.0's `setConfigSaveOption` does: the words are split at
/// single spaces; `""` means no points; an even count of integers, seconds >= 1 and
/// changes >= 0 (each word read as `strtoll`, which takes an empty word as 0).
pub fn parse_save_points(text: &str) -> Result<Vec<SavePoint>, &'static str> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let words: Vec<&str> = text.split(' ').collect();
    if !words.len().is_multiple_of(2) {
        return Err(ERR_SAVE_PARAMS);
    }
    let mut points = Vec::with_capacity(words.len() / 2);
    for pair in words.chunks(2) {
        let seconds = strtoll_whole(pair[0]).filter(|&n| n >= 1).ok_or(ERR_SAVE_PARAMS)?;
        let changes = strtoll_whole(pair[1]).filter(|&n| n >= 0).ok_or(ERR_SAVE_PARAMS)?;
        points.push(SavePoint { seconds: seconds as u64, changes: changes as u64 });
    }
    Ok(points)
}

/// The save points of `--save` values in order: each value's points are added to those
/// before it, `""` clears them (Redis reads repeated `save` lines so).
pub fn save_points(values: &[String]) -> Vec<SavePoint> {
    let mut points = Vec::new();
    for value in values {
        match parse_save_points(value) {
            Ok(more) if more.is_empty() => points.clear(),
            Ok(more) => points.extend(more),
            Err(_) => {} // refused by the flag's parser already
        }
    }
    points
}

/// Save points as CONFIG GET shows them: `"3600 1 300 100"`.
pub fn format_save_points(points: &[SavePoint]) -> String {
    points.iter().map(|p| format!("{} {}", p.seconds, p.changes)).collect::<Vec<_>>().join(" ")
}

/// C's `strtoll` when the whole word must be consumed: leading whitespace, a sign, digits
/// (none: 0); out of range clamps, as strtoll does.
fn strtoll_whole(word: &str) -> Option<i64> {
    let t = word.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() && !t.is_empty() {
        return None; // a lone sign: strtoll reads nothing, the word is not consumed
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut n: i64 = 0;
    for b in digits.bytes() {
        n = n.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    Some(if negative { -n } else { n })
}

fn parse_save_flag(s: &str) -> Result<String, String> {
    parse_save_points(s).map(|_| s.to_string()).map_err(str::to_string)
}

/// `yes`/`no` flag values, as Redis spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum YesNo {
    Yes,
    No,
}

/// `--loglevel`, Redis's four levels (tracing's level in brackets): `debug` (TRACE),
/// `verbose` (DEBUG), `notice` (INFO), `warning` (WARN).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Debug,
    Verbose,
    Notice,
    Warning,
}

impl LogLevel {
    /// The `tracing_subscriber` filter directive for this level.
    pub fn filter(self) -> &'static str {
        match self {
            LogLevel::Debug => "trace",
            LogLevel::Verbose => "debug",
            LogLevel::Notice => "info",
            LogLevel::Warning => "warn",
        }
    }
}

/// ringkv-server's flags. Every visible flag is also a config-file directive of the same name
/// (see [`crate::conffile`]) and a CONFIG GET parameter (`cmd::config::PARAMS`). A flag given
/// twice takes its last value, so flags after the config file override it.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "ringkv-server",
    version = crate::version::VERSION_LONG,
    about = "A Redis-protocol in-memory key-value server on io_uring",
    override_usage = "ringkv-server [/path/to/ringkv.conf] [OPTIONS]",
    args_override_self = true
)]
pub struct Config {
    /// Unix socket path ("" = no Unix socket).
    #[arg(long, default_value = UNIXSOCKET_DEFAULT, value_parser = parse_path)]
    pub unixsocket: PathBuf,
    /// Unix socket permissions (octal).
    #[arg(long, default_value = "700", value_parser = parse_octal)]
    pub unixsocketperm: u32,
    /// TCP address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// TCP port (0 = no TCP listener).
    #[arg(long, default_value_t = PORT_DEFAULT)]
    pub port: u16,
    /// Listen backlog of the TCP and Unix listeners (capped by net.core.somaxconn).
    #[arg(long, default_value_t = TCP_BACKLOG_DEFAULT, value_parser = parse_tcp_backlog)]
    pub tcp_backlog: u32,
    /// I/O engine.
    #[arg(long, value_enum, default_value_t = EngineKind::Uring)]
    pub engine: EngineKind,
    /// Worker threads, 1 to 1024 (default: number of CPUs). The threads engine ignores it.
    #[arg(long, value_name = "N", value_parser = parse_threads)]
    pub threads: Option<usize>,
    /// Maximum simultaneous clients; over it a client gets an error and is closed.
    #[arg(long, default_value_t = MAXCLIENTS_DEFAULT)]
    pub maxclients: usize,
    /// Password clients must send with AUTH before anything else.
    #[arg(long)]
    pub requirepass: Option<String>,
    /// Number of logical databases (SELECT 0..N-1).
    #[arg(long, default_value_t = crate::store::DATABASES_DEFAULT)]
    pub databases: usize,
    /// Longest bulk string a client may send (e.g. 512mb).
    #[arg(long, default_value = "512mb", value_parser = parse_size)]
    pub proto_max_bulk_len: u64,
    /// Largest unparsed request data buffered per client (e.g. 1gb).
    #[arg(long, default_value = "1gb", value_parser = parse_size)]
    pub client_query_buffer_limit: u64,
    /// Pending reply bytes per client after which the server stops reading from it.
    #[arg(long, default_value = "256kb", value_parser = parse_size)]
    pub client_output_pause: u64,
    /// Close connections idle for this many seconds (0 = never).
    #[arg(long, default_value_t = 0)]
    pub timeout: u64,
    /// Milliseconds a Lua script or function may run before other clients get BUSY and
    /// SCRIPT KILL / FUNCTION KILL may stop it (Redis's `busy-reply-threshold`, alias
    /// `lua-time-limit`; 0 = BUSY as soon as a script runs).
    #[arg(long, alias = "lua-time-limit", default_value_t = BUSY_REPLY_THRESHOLD_MS_DEFAULT)]
    pub busy_reply_threshold: u64,
    /// Refuse non-loopback TCP clients when no password is set.
    #[arg(long, value_enum, default_value_t = YesNo::Yes)]
    pub protected_mode: YesNo,
    /// io_uring mode (full needs Linux 6.0+ for multishot recv).
    #[arg(long, value_enum, default_value_t = UringMode::Full)]
    pub uring_mode: UringMode,
    /// Provided-buffer ring: number of receive buffers per worker (power of two): the most
    /// in circulation (the ring starts with fewer and grows under load, `ring::bufring`).
    #[arg(long, default_value_t = 256)]
    pub uring_buffers: u16,
    /// Provided-buffer ring: size of each receive buffer.
    #[arg(long, default_value = "16kb", value_parser = parse_size)]
    pub uring_buffer_size: u64,
    /// io_uring: when busy, the longest (µs) a worker may wait for a batch of completions to
    /// gather before handling what arrived (kernel 6.12+ min-wait; 0 = never wait): the
    /// ceiling of the adaptive wait, or the wait itself with `--uring-batching fixed`.
    #[arg(long, default_value_t = 500)]
    pub uring_batch_wait_us: u32,
    /// io_uring batching policy: fixed (the full `--uring-batch-wait-us` when busy),
    /// adaptive (wait only while saturated, a fraction of the loop cycle) or auto (fixed
    /// with two or more workers, no wait with one).
    #[arg(long, value_enum, default_value_t = UringBatching::Auto)]
    pub uring_batching: UringBatching,
    /// io_uring: install connections' descriptors in each ring's fixed-file table (Linux
    /// 5.19+; sized by maxclients), so their ops skip the per-op descriptor lookup.
    #[arg(long, value_enum, default_value_t = YesNo::Yes)]
    pub uring_fixed_files: YesNo,
    /// Log verbosity: debug, verbose, notice or warning (RUST_LOG, when set, wins).
    #[arg(long, value_enum, default_value_t = LogLevel::Notice)]
    pub loglevel: LogLevel,
    /// Log to this file instead of standard error ("" = standard error); reopened on SIGHUP.
    #[arg(long, default_value = "", value_parser = parse_path)]
    pub logfile: PathBuf,
    /// Write the process id to this file at startup, remove it at exit ("" = none).
    #[arg(long, default_value = "", value_parser = parse_path)]
    pub pidfile: PathBuf,
    /// Log commands slower than this many microseconds (-1 = slow log off).
    #[arg(long, default_value_t = SLOWLOG_LOG_SLOWER_THAN_DEFAULT, value_parser = parse_slowlog_slower_than, allow_negative_numbers = true)]
    pub slowlog_log_slower_than: i64,
    /// Slow log entries kept.
    #[arg(long, default_value_t = SLOWLOG_MAX_LEN_DEFAULT, value_parser = parse_slowlog_max_len)]
    pub slowlog_max_len: u64,
    /// Output buffer limit of a client class: "<class> <hard> <soft> <soft-seconds>"
    /// (normal, replica, pubsub); repeat for several classes.
    #[arg(long, value_name = "CLASS HARD SOFT SECONDS", value_parser = parse_output_limit_flag)]
    pub client_output_buffer_limit: Vec<String>,
    /// Memory limit for data (e.g. 100mb; 0 = none). Over it, write commands evict keys
    /// by --maxmemory-policy or are refused with an OOM error.
    #[arg(long, default_value = "0", value_parser = parse_size)]
    pub maxmemory: u64,
    /// What to do at --maxmemory: noeviction, allkeys-lru, allkeys-lfu, allkeys-random,
    /// volatile-lru, volatile-lfu, volatile-random or volatile-ttl.
    #[arg(long, value_enum, default_value_t = MaxmemoryPolicy::Noeviction)]
    pub maxmemory_policy: MaxmemoryPolicy,
    /// Keys sampled per eviction (more = closer to true LRU/LFU, slower).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=i32::MAX as i64))]
    pub maxmemory_samples: u32,
    /// LFU counter growth: higher = more hits needed to raise the counter.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=i32::MAX as i64))]
    pub lfu_log_factor: u32,
    /// Minutes after which an idle key's LFU counter is halved (decremented) (0 = never).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=i32::MAX as i64))]
    pub lfu_decay_time: u32,
    /// Largest sparse HyperLogLog in bytes (header included; e.g. 3kb): past it, PFADD
    /// converts it to the 12 KB dense encoding (Redis's `hll-sparse-max-bytes`).
    #[arg(long, default_value = "3000", value_parser = parse_size)]
    pub hll_sparse_max_bytes: u64,
    /// Keep an append-only file of every write (Redis 7 multi-part layout) and load it at
    /// startup.
    #[arg(long, value_enum, default_value_t = YesNo::No)]
    pub appendonly: YesNo,
    /// When the AOF is flushed to disk: `always` (a write's reply waits for the fdatasync
    /// that covers it), `everysec`, or `no` (the kernel decides).
    #[arg(long, value_enum, default_value_t = AppendFsync::Everysec)]
    pub appendfsync: AppendFsync,
    /// Working directory: the AOF directory and the RDB file live here.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Name of the RDB snapshot file (under --dir): written by SAVE and BGSAVE, loaded at
    /// startup when --appendonly is no.
    #[arg(long, default_value = "dump.rdb")]
    pub dbfilename: String,
    /// End RDB files with a CRC64 checksum and verify it on load (no: write 0, skip checks).
    #[arg(long, value_enum, default_value_t = YesNo::Yes)]
    pub rdbchecksum: YesNo,
    /// Save points, `"<seconds> <changes> ..."`: BGSAVE when at least <changes> changes were
    /// made and more than <seconds> passed since the last save. Repeatable (the points
    /// accumulate, as `save` lines in redis.conf); `""` removes every point before it.
    #[arg(long, default_value = SAVE_DEFAULT, value_parser = parse_save_flag, action = clap::ArgAction::Append)]
    pub save: Vec<String>,
    /// After a failed background save, refuse write commands with -MISCONF until a save
    /// succeeds (only while save points are configured).
    #[arg(long, value_enum, default_value_t = YesNo::Yes)]
    pub stop_writes_on_bgsave_error: YesNo,
    /// Compress strings longer than 20 bytes with LZF in RDB files (when it saves space).
    #[arg(long, value_enum, default_value_t = YesNo::Yes)]
    pub rdbcompression: YesNo,
    /// Base name of the AOF files (`<name>.1.base.aof`, `<name>.1.incr.aof`, `<name>.manifest`).
    #[arg(long, default_value = "appendonly.aof")]
    pub appendfilename: String,
    /// Directory (under --dir) holding the AOF files.
    #[arg(long, default_value = "appendonlydir")]
    pub appenddirname: String,
    /// Load an AOF whose last command was cut short (crash mid-write), dropping that command,
    /// instead of refusing to start.
    #[arg(long, value_enum, default_value_t = YesNo::Yes)]
    pub aof_load_truncated: YesNo,
    /// The AOF base written by a rewrite (and at creation) is an RDB image (`*.base.rdb`,
    /// smaller and faster to load) instead of RESP commands (`*.base.aof`).
    #[arg(long, value_enum, default_value_t = YesNo::Yes)]
    pub aof_use_rdb_preamble: YesNo,
    /// Rewrite the AOF when it has grown by this percentage since the last rewrite (0 = never).
    #[arg(long, default_value_t = 100)]
    pub auto_aof_rewrite_percentage: u64,
    /// ... and is at least this big.
    #[arg(long, default_value = "64mb", value_parser = parse_size)]
    pub auto_aof_rewrite_min_size: u64,
    /// Test-only: make io_uring setup fail, to exercise the fallback path.
    #[arg(long, hide = true)]
    pub uring_force_setup_failure: bool,
    /// Test-only: make the io_uring_enter probe (a NOP submitted and reaped during ring
    /// setup) count as failed, as under a seccomp profile that blocks io_uring_enter.
    #[arg(long, hide = true)]
    pub uring_force_enter_failure: bool,
    /// The config file the server was started with (absolute), for INFO and CONFIG REWRITE.
    #[arg(skip)]
    pub config_file: Option<PathBuf>,
}

impl Config {
    /// Defaults as if no flag was given (used by tests and benches).
    pub fn defaults() -> Self {
        Config::parse_from(["ringkv-server"])
    }
    /// Worker thread count after applying the default.
    pub fn worker_threads(&self) -> usize {
        self.threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).max(1)
    }
    /// The password as bytes, if set and non-empty.
    pub fn password(&self) -> Option<&[u8]> {
        self.requirepass.as_deref().filter(|p| !p.is_empty()).map(str::as_bytes)
    }
}

/// A path, where `""` is allowed (it means "none"; clap's own path parser refuses it).
fn parse_path(s: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(s))
}

/// Redis's wording for a number outside its range.
fn parse_in_range(s: &str, min: u64, max: u64) -> Result<u64, String> {
    s.parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("argument must be between {min} and {max} inclusive"))
}

fn parse_slowlog_slower_than(s: &str) -> Result<i64, String> {
    let n = crate::args::parse_i64(s.as_bytes()).ok_or("argument couldn't be parsed into an integer")?;
    if n < -1 {
        return Err(format!("argument must be between -1 and {} inclusive", i64::MAX));
    }
    Ok(n)
}

fn parse_slowlog_max_len(s: &str) -> Result<u64, String> {
    parse_in_range(s, 0, i64::MAX as u64)
}

fn parse_output_limit_flag(s: &str) -> Result<String, String> {
    parse_output_limits(s.as_bytes()).map(|_| s.to_string())
}

fn parse_threads(s: &str) -> Result<usize, String> {
    parse_in_range(s, 1, THREADS_MAX as u64).map(|n| n as usize)
}

fn parse_tcp_backlog(s: &str) -> Result<u32, String> {
    parse_in_range(s, 0, u64::from(TCP_BACKLOG_MAX)).map(|n| n as u32)
}

fn parse_octal(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("invalid permissions '{s}': expected octal like 700"))
}

/// Parse a size the way Redis's config does (`memtoll`): a number with an optional unit:
/// `b`, `k` (1000), `kb` (1024), `m`, `mb`, `g`, `gb`, case-insensitive.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let lower = s.trim().to_ascii_lowercase();
    let digits_end = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
    let (num, unit) = lower.split_at(digits_end);
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return Err(format!("invalid size '{s}': expected e.g. 512mb")),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mul))
        .ok_or_else(|| format!("invalid size '{s}': expected e.g. 512mb"))
}

// ---- value types and parsers other settings share (client-output-buffer-limit, sizes) ----

/// Redis's default `slowlog-log-slower-than` (µs): commands slower than 10 ms are logged.
pub const SLOWLOG_LOG_SLOWER_THAN_DEFAULT: i64 = 10_000;
/// Redis's default `slowlog-max-len`: entries kept.
pub const SLOWLOG_MAX_LEN_DEFAULT: u64 = 128;

/// A client class of `client-output-buffer-limit` (Redis's `normal`, `replica`/`slave`,
/// `pubsub`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientClass {
    Normal = 0,
    Replica = 1,
    Pubsub = 2,
}

impl ClientClass {
    /// Every class, in the order CONFIG GET prints them.
    pub const ALL: [ClientClass; 3] = [ClientClass::Normal, ClientClass::Replica, ClientClass::Pubsub];

    /// The name CONFIG GET prints (Redis 7.0 still prints `slave`).
    pub fn name(self) -> &'static str {
        match self {
            ClientClass::Normal => "normal",
            ClientClass::Replica => "slave",
            ClientClass::Pubsub => "pubsub",
        }
    }

    /// Parse a class name as Redis's `getClientTypeByName` does (case-insensitive;
    /// `master` is not a class that has a limit).
    pub fn parse(name: &[u8]) -> Option<ClientClass> {
        let lower = name.to_ascii_lowercase();
        match &lower[..] {
            b"normal" => Some(ClientClass::Normal),
            b"slave" | b"replica" => Some(ClientClass::Replica),
            b"pubsub" => Some(ClientClass::Pubsub),
            _ => None,
        }
    }
}

/// One class of `client-output-buffer-limit`: disconnect a client whose pending output
/// reaches `hard_bytes`, or stays at `soft_bytes` or more for `soft_seconds` (0 = no limit).
/// The current values live in [`crate::tunables::Tunables::output_limit`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutputLimit {
    pub hard_bytes: u64,
    pub soft_bytes: u64,
    pub soft_seconds: u64,
}

/// Most classes one client-output-buffer-limit value may list (`class hard soft seconds`
/// groups; more than the three classes is accepted as Redis does, the last one wins).
const OUTPUT_LIMIT_GROUPS_MAX: usize = 64;
/// Redis's defaults: `normal 0 0 0 slave 256mb 64mb 60 pubsub 32mb 8mb 60`.
pub const OUTPUT_LIMITS_DEFAULT: [OutputLimit; 3] = [
    OutputLimit { hard_bytes: 0, soft_bytes: 0, soft_seconds: 0 },
    OutputLimit { hard_bytes: 256 << 20, soft_bytes: 64 << 20, soft_seconds: 60 },
    OutputLimit { hard_bytes: 32 << 20, soft_bytes: 8 << 20, soft_seconds: 60 },
];

/// `class hard soft seconds [class hard soft seconds ...]`, as Redis's
/// `updateClientOutputBufferLimit`.
pub fn parse_output_limits(v: &[u8]) -> Result<Vec<(ClientClass, OutputLimit)>, String> {
    let words: Vec<&[u8]> = v.split(|b| *b == b' ').filter(|w| !w.is_empty()).collect();
    if !words.len().is_multiple_of(4) || words.len() / 4 > OUTPUT_LIMIT_GROUPS_MAX {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let bad = || "Error in hard, soft or soft_seconds setting in buffer limit configuration.".to_string();
    let mut out = Vec::with_capacity(words.len() / 4);
    for group in words.chunks(4) {
        let class =
            ClientClass::parse(group[0]).ok_or("Invalid client class specified in buffer limit configuration.")?;
        let hard = memtoll(group[1]).filter(|n| *n >= 0).ok_or_else(bad)?;
        let soft = memtoll(group[2]).filter(|n| *n >= 0).ok_or_else(bad)?;
        let secs = std::str::from_utf8(group[3]).ok().and_then(|t| t.parse::<i64>().ok());
        let secs = secs.filter(|n| *n >= 0).ok_or_else(bad)?;
        let limit = OutputLimit { hard_bytes: hard as u64, soft_bytes: soft as u64, soft_seconds: secs as u64 };
        out.push((class, limit));
    }
    Ok(out)
}

/// Parse a memory value as Redis's `memtoll`: an optional `-`, digits, and an optional unit
/// `b`, `k`, `kb`, `m`, `mb`, `g`, `gb` (case-insensitive; `k` = 1000, `kb` = 1024).
pub fn memtoll(s: &[u8]) -> Option<i64> {
    let digits_end = s.iter().position(|c| !c.is_ascii_digit() && *c != b'-').unwrap_or(s.len());
    let (num, unit) = s.split_at(digits_end);
    let mul: i64 = match &unit.to_ascii_lowercase()[..] {
        b"" | b"b" => 1,
        b"k" => 1000,
        b"kb" => 1024,
        b"m" => 1000 * 1000,
        b"mb" => 1024 * 1024,
        b"g" => 1000 * 1000 * 1000,
        b"gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    let n: i64 = std::str::from_utf8(num).ok()?.parse().ok()?;
    n.checked_mul(mul)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_redis() {
        assert_eq!(parse_size("512mb"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_size("1GB"), Ok(1 << 30));
        assert_eq!(parse_size("10k"), Ok(10_000));
        assert_eq!(parse_size("10kb"), Ok(10_240));
        assert_eq!(parse_size("77"), Ok(77));
        assert!(parse_size("12xb").is_err());
        assert!(parse_size("mb").is_err());
        assert!(parse_size("99999999999999999999gb").is_err());
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = Config::defaults();
        assert_eq!(c.unixsocket, PathBuf::from("/tmp/ringkv.sock"));
        assert_eq!(c.unixsocketperm, 0o700);
        assert_eq!(c.port, 7379);
        assert_eq!(c.engine, EngineKind::Uring);
        assert_eq!(c.proto_max_bulk_len, PROTO_MAX_BULK_LEN_DEFAULT);
        assert_eq!(c.client_query_buffer_limit, CLIENT_QUERY_BUFFER_LIMIT_DEFAULT);
        assert_eq!(c.client_output_pause, OUTPUT_PAUSE_BYTES_DEFAULT);
        assert_eq!(c.maxclients, MAXCLIENTS_DEFAULT);
        assert_eq!(c.tcp_backlog, 511);
    }

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("ringkv-server").chain(args.iter().copied()))
    }

    #[test]
    fn empty_unixsocket_means_none() {
        // Documented as "no Unix socket"; clap's path parser used to refuse the empty value.
        assert_eq!(parse(&["--unixsocket", ""]).unwrap().unixsocket, PathBuf::new());
        assert_eq!(parse(&["--unixsocket", "/tmp/x.sock"]).unwrap().unixsocket, PathBuf::from("/tmp/x.sock"));
    }

    #[test]
    fn threads_and_backlog_ranges_are_checked() {
        // `--threads 0` used to run one worker silently.
        for bad in ["0", "1025", "-1", "two"] {
            let err = parse(&[&format!("--threads={bad}")]).unwrap_err().to_string();
            assert!(err.contains("argument must be between 1 and 1024 inclusive"), "{bad}: {err}");
        }
        assert_eq!(parse(&["--threads", "1"]).unwrap().worker_threads(), 1);
        assert_eq!(parse(&["--threads", "1024"]).unwrap().worker_threads(), 1024);
        assert_eq!(parse(&["--tcp-backlog", "0"]).unwrap().tcp_backlog, 0);
        let err = parse(&["--tcp-backlog", "2147483648"]).unwrap_err().to_string();
        assert!(err.contains("argument must be between 0 and 2147483647 inclusive"), "{err}");
    }

    #[test]
    fn save_points_parse_as_redis_and_accumulate() {
        let sp = |seconds, changes| SavePoint { seconds, changes };
        assert_eq!(parse_save_points(""), Ok(vec![]));
        assert_eq!(parse_save_points("3600 1 300 100"), Ok(vec![sp(3600, 1), sp(300, 100)]));
        assert_eq!(parse_save_points("10 "), Ok(vec![sp(10, 0)]), "strtoll reads an empty word as 0");
        assert_eq!(parse_save_points("+10 0"), Ok(vec![sp(10, 0)]));
        for bad in ["1 2 3", "0 1", "abc 1", "10 -1", "  10   1  ", "10  1", "10 1x", "- 1"] {
            assert_eq!(parse_save_points(bad), Err(ERR_SAVE_PARAMS), "{bad:?}");
        }
        let parse =
            |args: &[&str]| Config::try_parse_from(std::iter::once("ringkv-server").chain(args.iter().copied()));
        assert_eq!(save_points(&Config::defaults().save), vec![sp(3600, 1), sp(300, 100), sp(60, 10000)]);
        let c = parse(&["--save", "5 5", "--save", "7 7"]).unwrap();
        assert_eq!(save_points(&c.save), vec![sp(5, 5), sp(7, 7)]);
        let c = parse(&["--save", "5 5", "--save", "", "--save", "9 9"]).unwrap();
        assert_eq!(save_points(&c.save), vec![sp(9, 9)], "\"\" clears what came before");
        assert!(save_points(&parse(&["--save", ""]).unwrap().save).is_empty());
        assert!(parse(&["--save", "1 2 3"]).unwrap_err().to_string().contains(ERR_SAVE_PARAMS));
        assert_eq!(format_save_points(&[sp(3600, 1), sp(300, 100)]), "3600 1 300 100");
    }
}
