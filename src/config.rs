//! Server configuration: the command-line flags (named after Redis's config directives where
//! one exists) and the limits they set. Parsed once at startup; read-only afterwards.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Default Unix socket path.
pub const UNIXSOCKET_DEFAULT: &str = "/tmp/ringkv.sock";
/// Default TCP port (Redis's 6379 + 1000, so both can run side by side).
pub const PORT_DEFAULT: u16 = 7379;
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

/// `yes`/`no` flag values, as Redis spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum YesNo {
    Yes,
    No,
}

/// ringkv-server's flags.
#[derive(Clone, Debug, Parser)]
#[command(name = "ringkv-server", version, about = "A Redis-protocol in-memory key-value server on io_uring")]
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
    /// Refuse non-loopback TCP clients when no password is set.
    #[arg(long, value_enum, default_value_t = YesNo::Yes)]
    pub protected_mode: YesNo,
    /// io_uring mode (full needs Linux 6.0+ for multishot recv).
    #[arg(long, value_enum, default_value_t = UringMode::Full)]
    pub uring_mode: UringMode,
    /// Provided-buffer ring: number of receive buffers per worker (power of two).
    #[arg(long, default_value_t = 256)]
    pub uring_buffers: u16,
    /// Provided-buffer ring: size of each receive buffer.
    #[arg(long, default_value = "16kb", value_parser = parse_size)]
    pub uring_buffer_size: u64,
    /// io_uring: when busy, how long (µs) a worker may wait for a batch of completions to
    /// gather before handling what arrived (kernel 6.12+ min-wait; 0 = never wait). Trades
    /// up to this much latency under load for fewer syscalls and wakeups.
    #[arg(long, default_value_t = 500)]
    pub uring_batch_wait_us: u32,
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
}
