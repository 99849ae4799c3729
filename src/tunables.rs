//! The settings `CONFIG SET` can change while the server runs (Redis's "modifiable" configs):
//! protected-mode, requirepass, maxclients, timeout, client-query-buffer-limit,
//! proto-max-bulk-len, client-output-buffer-limit, the slow log's two knobs, maxmemory with
//! its policy, samples and LFU parameters, and busy-reply-threshold.
//!
//! Why a separate struct: [`crate::config::Config`] is parsed once by clap and read
//! everywhere without locks. The few values that may change live here instead, each in an
//! atomic (one relaxed load on the paths that read them: the query-buffer check per read,
//! the slow-log threshold per command), except the password and the output-buffer limits,
//! which are read at connect/AUTH time or by the pub/sub path and sit behind a `RwLock` that
//! is only written by `CONFIG SET`. They start from the command-line flags; the `Config`
//! fields of the same names keep the startup values only.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicU8, AtomicUsize};
use std::sync::{Arc, RwLock};

use crate::config::{Config, MaxmemoryPolicy, YesNo};

pub use crate::config::{
    memtoll, parse_output_limits, ClientClass, OutputLimit, OUTPUT_LIMITS_DEFAULT, SLOWLOG_LOG_SLOWER_THAN_DEFAULT,
    SLOWLOG_MAX_LEN_DEFAULT,
};

/// Redis's defaults with every `--client-output-buffer-limit` of the flags (or config file)
/// applied in order (each was validated when the flags were parsed).
fn config_output_limits(config: &Config) -> [OutputLimit; 3] {
    let mut limits = OUTPUT_LIMITS_DEFAULT;
    for value in &config.client_output_buffer_limit {
        for (class, limit) in parse_output_limits(value.as_bytes()).unwrap_or_default() {
            limits[class as usize] = limit;
        }
    }
    limits
}

/// A policy's index in [`MaxmemoryPolicy::ALL`].
fn policy_index(policy: MaxmemoryPolicy) -> u8 {
    MaxmemoryPolicy::ALL.iter().position(|&p| p == policy).unwrap_or(0) as u8
}

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
    maxmemory: AtomicU64,
    /// Index in [`MaxmemoryPolicy::ALL`].
    maxmemory_policy: AtomicU8,
    maxmemory_samples: AtomicU32,
    lfu_log_factor: AtomicU32,
    lfu_decay_time: AtomicU32,
    hll_sparse_max_bytes: AtomicU64,
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
            slowlog_log_slower_than_us: AtomicI64::new(config.slowlog_log_slower_than),
            slowlog_max_len: AtomicU64::new(config.slowlog_max_len),
            busy_reply_threshold_ms: AtomicU64::new(config.busy_reply_threshold),
            password: RwLock::new(config.password().map(Arc::from)),
            output_limits: RwLock::new(config_output_limits(config)),
            maxmemory: AtomicU64::new(config.maxmemory),
            maxmemory_policy: AtomicU8::new(policy_index(config.maxmemory_policy)),
            maxmemory_samples: AtomicU32::new(config.maxmemory_samples),
            lfu_log_factor: AtomicU32::new(config.lfu_log_factor),
            lfu_decay_time: AtomicU32::new(config.lfu_decay_time),
            hll_sparse_max_bytes: AtomicU64::new(config.hll_sparse_max_bytes),
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

    /// `maxmemory` in bytes (0 = no limit).
    pub fn maxmemory(&self) -> u64 {
        self.maxmemory.load(Relaxed)
    }
    pub fn set_maxmemory(&self, bytes: u64) {
        self.maxmemory.store(bytes, Relaxed);
    }
    pub fn maxmemory_policy(&self) -> MaxmemoryPolicy {
        MaxmemoryPolicy::ALL[usize::from(self.maxmemory_policy.load(Relaxed)) % MaxmemoryPolicy::ALL.len()]
    }
    pub fn set_maxmemory_policy(&self, policy: MaxmemoryPolicy) {
        self.maxmemory_policy.store(policy_index(policy), Relaxed);
    }
    pub fn maxmemory_samples(&self) -> u32 {
        self.maxmemory_samples.load(Relaxed)
    }
    pub fn set_maxmemory_samples(&self, n: u32) {
        self.maxmemory_samples.store(n, Relaxed);
    }
    pub fn lfu_log_factor(&self) -> u32 {
        self.lfu_log_factor.load(Relaxed)
    }
    pub fn set_lfu_log_factor(&self, n: u32) {
        self.lfu_log_factor.store(n, Relaxed);
    }
    /// Minutes per LFU counter decrement of an idle key (0 = no decay).
    pub fn lfu_decay_time(&self) -> u32 {
        self.lfu_decay_time.load(Relaxed)
    }
    pub fn set_lfu_decay_time(&self, n: u32) {
        self.lfu_decay_time.store(n, Relaxed);
    }
    /// Bytes a sparse HyperLogLog may reach before it becomes dense (`hll-sparse-max-bytes`).
    pub fn hll_sparse_max_bytes(&self) -> u64 {
        self.hll_sparse_max_bytes.load(Relaxed)
    }
    pub fn set_hll_sparse_max_bytes(&self, n: u64) {
        self.hll_sparse_max_bytes.store(n, Relaxed);
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

/// Descriptors kept free for listeners, rings, eventfds, logs (Redis's
/// CONFIG_MIN_RESERVED_FDS).
pub const RESERVED_FDS: u64 = 32;

/// Raise the soft RLIMIT_NOFILE (up to the hard limit) so `wanted` clients fit; returns how
/// many clients fit now (`wanted` or fewer). Also used by CONFIG SET maxclients.
pub fn fit_maxclients(wanted: usize) -> usize {
    // Every engine holds one descriptor per client.
    let need: libc::rlim_t = (wanted as u64).saturating_add(RESERVED_FDS);
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 || lim.rlim_cur >= need {
        return wanted;
    }
    let raised = libc::rlimit { rlim_cur: need.min(lim.rlim_max), rlim_max: lim.rlim_max };
    // SAFETY: setrlimit reads the struct we pass; raising the soft limit up to the hard one
    // needs no privilege.
    let have =
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 { raised.rlim_cur } else { lim.rlim_cur };
    if have >= need {
        return wanted;
    }
    have.saturating_sub(RESERVED_FDS).max(1) as usize
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
