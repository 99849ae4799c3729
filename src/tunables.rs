//! The settings `CONFIG SET` can change while the server runs (Redis's "modifiable" configs):
//! protected-mode, requirepass, maxclients, timeout, client-query-buffer-limit,
//! proto-max-bulk-len, client-output-buffer-limit, the slow log's two knobs and
//! busy-reply-threshold.
//!
//! Why a separate struct: [`crate::config::Config`] is parsed once by clap and read
//! everywhere without locks. The few values that may change live here instead, each in an
//! atomic (one relaxed load on the paths that read them: the query-buffer check per read,
//! the slow-log threshold per command), except the password and the output-buffer limits,
//! which are read at connect/AUTH time or by the pub/sub path and sit behind a `RwLock` that
//! is only written by `CONFIG SET`. They start from the command-line flags; the `Config`
//! fields of the same names keep the startup values only.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize};
use std::sync::{Arc, RwLock};

use crate::config::{Config, YesNo};

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

pub use crate::clients::OutputLimit;

/// Redis's defaults: `normal 0 0 0 slave 256mb 64mb 60 pubsub 32mb 8mb 60`.
pub const OUTPUT_LIMITS_DEFAULT: [OutputLimit; 3] = [
    OutputLimit { hard_bytes: 0, soft_bytes: 0, soft_seconds: 0 },
    OutputLimit { hard_bytes: 256 << 20, soft_bytes: 64 << 20, soft_seconds: 60 },
    OutputLimit { hard_bytes: 32 << 20, soft_bytes: 8 << 20, soft_seconds: 60 },
];

/// The runtime-changeable settings (see the module docs).
pub struct Tunables {
    protected_mode: AtomicBool,
    maxclients: AtomicUsize,
    timeout_s: AtomicU64,
    client_query_buffer_limit: AtomicU64,
    proto_max_bulk_len: AtomicU64,
    slowlog_log_slower_than_us: AtomicI64,
    slowlog_max_len: AtomicU64,
    busy_reply_threshold_ms: AtomicU64,
    /// The password, `None` when unset or empty.
    password: RwLock<Option<Arc<[u8]>>>,
    output_limits: RwLock<[OutputLimit; 3]>,
}

impl Tunables {
    /// Start from the command-line flags.
    pub fn new(config: &Config) -> Tunables {
        Tunables {
            protected_mode: AtomicBool::new(config.protected_mode == YesNo::Yes),
            maxclients: AtomicUsize::new(config.maxclients),
            timeout_s: AtomicU64::new(config.timeout),
            client_query_buffer_limit: AtomicU64::new(config.client_query_buffer_limit),
            proto_max_bulk_len: AtomicU64::new(config.proto_max_bulk_len),
            slowlog_log_slower_than_us: AtomicI64::new(SLOWLOG_LOG_SLOWER_THAN_DEFAULT),
            slowlog_max_len: AtomicU64::new(SLOWLOG_MAX_LEN_DEFAULT),
            busy_reply_threshold_ms: AtomicU64::new(config.busy_reply_threshold),
            password: RwLock::new(config.password().map(Arc::from)),
            output_limits: RwLock::new(OUTPUT_LIMITS_DEFAULT),
        }
    }

    /// Milliseconds a script runs before other clients get BUSY (`busy-reply-threshold`).
    pub fn busy_reply_threshold_ms(&self) -> u64 {
        self.busy_reply_threshold_ms.load(Relaxed)
    }
    pub fn set_busy_reply_threshold_ms(&self, ms: u64) {
        self.busy_reply_threshold_ms.store(ms, Relaxed);
    }
    pub fn protected_mode(&self) -> bool {
        self.protected_mode.load(Relaxed)
    }
    pub fn set_protected_mode(&self, on: bool) {
        self.protected_mode.store(on, Relaxed);
    }
    pub fn maxclients(&self) -> usize {
        self.maxclients.load(Relaxed)
    }
    pub fn set_maxclients(&self, n: usize) {
        self.maxclients.store(n, Relaxed);
    }
    /// Idle seconds after which a client is closed (0 = never).
    pub fn timeout_s(&self) -> u64 {
        self.timeout_s.load(Relaxed)
    }
    pub fn set_timeout_s(&self, s: u64) {
        self.timeout_s.store(s, Relaxed);
    }
    pub fn client_query_buffer_limit(&self) -> u64 {
        self.client_query_buffer_limit.load(Relaxed)
    }
    pub fn set_client_query_buffer_limit(&self, n: u64) {
        self.client_query_buffer_limit.store(n, Relaxed);
    }
    pub fn proto_max_bulk_len(&self) -> u64 {
        self.proto_max_bulk_len.load(Relaxed)
    }
    pub fn set_proto_max_bulk_len(&self, n: u64) {
        self.proto_max_bulk_len.store(n, Relaxed);
    }
    /// Commands taking longer than this many µs are logged; -1 disables the slow log.
    pub fn slowlog_log_slower_than_us(&self) -> i64 {
        self.slowlog_log_slower_than_us.load(Relaxed)
    }
    pub fn set_slowlog_log_slower_than_us(&self, us: i64) {
        self.slowlog_log_slower_than_us.store(us, Relaxed);
    }
    pub fn slowlog_max_len(&self) -> u64 {
        self.slowlog_max_len.load(Relaxed)
    }
    pub fn set_slowlog_max_len(&self, n: u64) {
        self.slowlog_max_len.store(n, Relaxed);
    }

    /// The password clients must give, if one is set.
    pub fn password(&self) -> Option<Arc<[u8]>> {
        self.password.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
    pub fn has_password(&self) -> bool {
        self.password.read().unwrap_or_else(|e| e.into_inner()).is_some()
    }
    /// Set the password; an empty one means none (as Redis's `requirepass ""`).
    pub fn set_password(&self, pass: &[u8]) {
        let new = (!pass.is_empty()).then(|| Arc::from(pass));
        *self.password.write().unwrap_or_else(|e| e.into_inner()) = new;
    }

    /// The output-buffer limit of a client class (the pub/sub path enforces its class).
    pub fn output_limit(&self, class: ClientClass) -> OutputLimit {
        self.output_limits.read().unwrap_or_else(|e| e.into_inner())[class as usize]
    }
    pub fn set_output_limit(&self, class: ClientClass, limit: OutputLimit) {
        self.output_limits.write().unwrap_or_else(|e| e.into_inner())[class as usize] = limit;
    }
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
    fn memtoll_units_like_redis() {
        assert_eq!(memtoll(b"1gB"), Some(1 << 30));
        assert_eq!(memtoll(b"10k"), Some(10_000));
        assert_eq!(memtoll(b"-1"), Some(-1));
        assert_eq!(memtoll(b"5"), Some(5));
        assert_eq!(memtoll(b"1zb"), None);
        assert_eq!(memtoll(b""), None);
        assert_eq!(memtoll(b"mb"), None);
        assert_eq!(memtoll(b"99999999999gb"), None);
    }

    #[test]
    fn tunables_start_from_the_flags_and_change() {
        use clap::Parser;
        let config = Config::parse_from(["ringkv-server", "--requirepass", "pw", "--timeout", "7"]);
        let t = Tunables::new(&config);
        assert_eq!(t.password().as_deref(), Some(&b"pw"[..]));
        assert_eq!(t.timeout_s(), 7);
        assert_eq!(t.output_limit(ClientClass::Pubsub), OUTPUT_LIMITS_DEFAULT[2]);
        t.set_password(b"");
        assert!(!t.has_password());
        let limit = OutputLimit { hard_bytes: 1, soft_bytes: 2, soft_seconds: 3 };
        t.set_output_limit(ClientClass::Pubsub, limit);
        assert_eq!(t.output_limit(ClientClass::Pubsub), limit);
        assert_eq!(ClientClass::parse(b"REPLICA"), Some(ClientClass::Replica));
        assert_eq!(ClientClass::parse(b"master"), None);
    }
}
