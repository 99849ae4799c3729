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
    #[arg(long, default_value = UNIXSOCKET_DEFAULT)]
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
    /// I/O engine.
    #[arg(long, value_enum, default_value_t = EngineKind::Uring)]
    pub engine: EngineKind,
    /// Worker threads (default: number of CPUs). The threads engine ignores it.
    #[arg(long)]
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
    /// Test-only: make io_uring setup fail, to exercise the fallback path.
    #[arg(long, hide = true)]
    pub uring_force_setup_failure: bool,
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
    }
}
