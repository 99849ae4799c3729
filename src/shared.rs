//! State shared by every worker of every engine: the config, the store, server-wide
//! statistics (INFO), per-worker I/O counters (INFO io) and the shutdown signal.
//! Everything here is either immutable after startup or an atomic / a short-held lock.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crate::blocking::Blocking;
use crate::clients::Clients;
use crate::config::Config;
use crate::exclusive::Isolation;
use crate::persist::Persist;
use crate::pubsub::PubSub;
use crate::slowlog::SlowLog;
use crate::store::Store;
use crate::tunables::Tunables;

pub use crate::counter::{stripe_index, StripedCounter, COUNTER_STRIPES};

/// Server-wide counters, reported by INFO. Relaxed atomics: they are statistics.
#[derive(Default)]
pub struct Stats {
    pub total_connections_received: AtomicU64,
    pub total_commands_processed: StripedCounter,
    pub rejected_connections: AtomicU64,
    pub connected_clients: AtomicUsize,
    pub protocol_errors: AtomicU64,
    pub expired_keys: AtomicU64,
    /// Keys removed to stay under maxmemory.
    pub evicted_keys: AtomicU64,
    pub keyspace_hits: StripedCounter,
    pub keyspace_misses: StripedCounter,
    /// Largest pending output (bytes) any client has had (INFO clients).
    pub client_output_max: AtomicUsize,
    /// Clients closed for idling past `--timeout`.
    pub timedout_clients: AtomicU64,
    /// Bytes received from clients (counted per read, not per request).
    pub net_input_bytes: StripedCounter,
    /// Reply bytes produced for clients (counted per batch of requests and per delivery of
    /// other connections' output).
    pub net_output_bytes: StripedCounter,
    /// Largest unparsed input (bytes) any client has had buffered (INFO clients).
    pub client_input_max: AtomicUsize,
    /// Active expiry (INFO `expire_cycle_cpu_milliseconds`, `expired_time_cap_reached_count`,
    /// `expired_stale_perc`): time spent in cycles (µs), cycles stopped by their time budget,
    /// and the moving estimate of the share of expired keys among those sampled (f64 bits).
    pub expire_cycle_us: AtomicU64,
    pub expire_time_cap_reached: AtomicU64,
    pub expired_stale_perc: AtomicU64,
    /// maxmemory: µs since start (+1) when eviction last failed to get under the limit (0:
    /// it is under), and the total µs spent over it before (INFO
    /// `current_eviction_exceeded_time`, `total_eviction_exceeded_time`).
    pub eviction_exceeded_since_us: AtomicU64,
    pub eviction_exceeded_total_us: AtomicU64,
}

/// I/O counters of one worker (one ring or event loop), for INFO io.
#[derive(Default)]
pub struct WorkerIo {
    /// Syscalls made by the I/O path: io_uring_enter calls, or epoll_wait + read + write.
    pub syscalls: AtomicU64,
    pub sqes_submitted: AtomicU64,
    pub cqes_reaped: AtomicU64,
    /// Connections currently owned by this worker.
    pub connections: AtomicUsize,
    /// Connections this worker has accepted or been handed in total.
    pub connections_total: AtomicU64,
    /// uring: connections whose descriptor sits in the ring's fixed-file table now.
    pub fixed_files: AtomicUsize,
    /// uring: connections served through a plain descriptor although the table exists.
    pub fixed_file_fallbacks: AtomicU64,
    /// uring (full mode): multishot recvs ended because the provided-buffer ring was empty
    /// (ENOBUFS; each is re-armed): the sign that `--uring-buffers` is too small for the load.
    pub recv_nobufs: AtomicU64,
    /// uring (full mode): receive buffers in circulation in the worker's ring (it starts
    /// with a few and grows on ENOBUFS up to `--uring-buffers`: `ring::bufring`).
    pub recv_buffers: AtomicU64,
}

/// What the running engine reports about itself.
pub struct IoInfo {
    /// `uring`, `uring-basic`, `epoll` or `threads`.
    pub engine: String,
    pub workers: Vec<WorkerIo>,
}

type Waker = Box<dyn Fn() + Send + Sync>;

/// Everything the workers share.
pub struct Shared {
    /// The command-line flags. The settings CONFIG SET may change are read from
    /// [`Shared::tunables`] instead (their `config` fields hold the startup values only).
    pub config: Config,
    pub tunables: Tunables,
    pub slowlog: SlowLog,
    pub store: Store,
    /// The striped lock that makes EXEC isolated (see [`crate::exclusive`]).
    pub isolation: Isolation,
    pub stats: Stats,
    /// Per-command calls, time and latency histogram (INFO commandstats/latencystats).
    pub cmdstats: crate::metrics::CommandStats,
    /// Error replies by prefix (INFO errorstats, `total_error_replies`).
    pub errors: crate::metrics::ErrorStats,
    /// `instantaneous_ops_per_sec`, `instantaneous_input_kbps`, `instantaneous_output_kbps`,
    /// sampled by [`Shared::sample_instantaneous`] on a timer.
    pub inst_ops: crate::metrics::Instantaneous,
    pub inst_input: crate::metrics::Instantaneous,
    pub inst_output: crate::metrics::Instantaneous,
    pub started: Instant,
    io: OnceLock<IoInfo>,
    /// The listeners, as named in the `ready` log line.
    listening: OnceLock<String>,
    next_client_id: AtomicU64,
    shutdown: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
    /// Every connection; output for a connection from elsewhere (see `clients.rs`).
    pub clients: Arc<Clients>,
    pub pubsub: Arc<PubSub>,
    /// Clients blocked on keys (BLPOP & co.).
    pub blocking: Arc<Blocking<Shared>>,
    /// The Lua VM, script cache, function libraries and the running script's state.
    /// Lua scripting's state (`crate::cmd::script::of` reads it), kept here without naming its type:
    /// scripting runs commands, so it sits above the command layer, which sits above this.
    pub scripting: OnceLock<Box<dyn std::any::Any + Send + Sync>>,
    /// The AOF and save bookkeeping (see [`crate::persist`]).
    pub persist: Persist,
}

impl Shared {
    pub fn new(config: Config) -> Self {
        let store = Store::new(config.databases.max(1), crate::store::SHARDS_PER_DB_DEFAULT);
        let persist = Persist::new(&config);
        store.access_policy().set(config.maxmemory_policy.is_lfu(), config.lfu_log_factor, config.lfu_decay_time);
        Shared {
            tunables: Tunables::new(&config),
            slowlog: SlowLog::default(),
            config,
            store,
            isolation: Isolation::default(),
            stats: Stats::default(),
            cmdstats: crate::metrics::CommandStats::new(crate::metrics::COMMANDS_MAX),
            errors: Default::default(),
            inst_ops: Default::default(),
            inst_input: Default::default(),
            inst_output: Default::default(),
            started: Instant::now(),
            io: OnceLock::new(),
            listening: OnceLock::new(),
            next_client_id: AtomicU64::new(1),
            shutdown: AtomicBool::new(false),
            wakers: Mutex::new(Vec::new()),
            clients: Arc::new(Clients::default()),
            pubsub: Arc::new(PubSub::default()),
            blocking: Arc::new(Blocking::default()),
            scripting: OnceLock::new(),
            persist,
        }
    }

    /// A fresh client id (CLIENT ID), unique for the process lifetime.
    pub fn next_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Relaxed)
    }

    /// Name the listeners for the `ready` log line (before the engine starts).
    pub fn set_listening(&self, listeners: String) {
        let _ = self.listening.set(listeners);
    }

    /// Called once by the engine that ends up serving, once it is settled (io_uring: every
    /// ring set up and probed; after a fallback: the fallback engine): its name and worker
    /// count. The first call logs `ready`, so that line names what actually serves.
    pub fn set_io(&self, engine: &str, workers: usize) -> &IoInfo {
        self.clients.set_workers(workers);
        let mut first = false;
        let io = self.io.get_or_init(|| {
            first = true;
            IoInfo { engine: engine.to_string(), workers: (0..workers).map(|_| WorkerIo::default()).collect() }
        });
        if first {
            crate::alloc::record_startup();
            self.log_settings(engine, workers);
            tracing::info!(
                engine,
                threads = workers,
                listeners = self.listening.get().map_or("", String::as_str),
                "ringkv {} ready",
                env!("CARGO_PKG_VERSION")
            );
        }
        io
    }

    /// The startup block: the effective settings that matter, once the engine is settled.
    fn log_settings(&self, engine: &str, workers: usize) {
        let c = &self.config;
        let t = &self.tunables;
        let path_or = |p: &std::path::Path, none: &str| {
            if p.as_os_str().is_empty() {
                none.to_string()
            } else {
                p.display().to_string()
            }
        };
        let file = c.config_file.as_deref().map_or("none".to_string(), |p| p.display().to_string());
        tracing::info!("config file: {file}");
        tracing::info!(
            "engine: {engine} (asked: {}{}), worker threads: {workers}",
            c.engine.name(),
            if c.engine == crate::config::EngineKind::Uring {
                format!(" {:?}", c.uring_mode).to_lowercase()
            } else {
                String::new()
            }
        );
        tracing::info!("listeners: {}", self.listening.get().map_or("", String::as_str));
        tracing::info!(
            "limits: maxclients {}, databases {}, timeout {}s, proto-max-bulk-len {}, client-query-buffer-limit {}, client-output-pause {}, tcp-backlog {}",
            t.maxclients(),
            self.store.databases(),
            t.timeout_s(),
            t.proto_max_bulk_len(),
            t.client_query_buffer_limit(),
            c.client_output_pause,
            c.tcp_backlog
        );
        tracing::info!(
            "security: protected-mode {}, password {}; appendonly {} (appendfsync {})",
            if t.protected_mode() { "yes" } else { "no" },
            if t.has_password() { "set" } else { "not set" },
            if c.appendonly == crate::config::YesNo::Yes { "yes" } else { "no" },
            c.appendfsync.name()
        );
        tracing::info!(
            "logging: loglevel {}, logfile {}, pidfile {}",
            format!("{:?}", c.loglevel).to_lowercase(),
            path_or(&c.logfile, "stderr"),
            path_or(&c.pidfile, "none")
        );
    }

    /// The engine's I/O info, once it has started.
    pub fn io(&self) -> Option<&IoInfo> {
        self.io.get()
    }

    /// Counters of worker `i` (panics if the engine did not register that many).
    pub fn worker_io(&self, i: usize) -> &WorkerIo {
        &self.io.get().expect("engine registered its workers").workers[i]
    }

    /// True once SIGINT/SIGTERM arrived (or a test asked for shutdown).
    pub fn shutting_down(&self) -> bool {
        self.shutdown.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Start a graceful shutdown: set the flag and wake every registered worker.
    pub fn begin_shutdown(&self) {
        self.shutdown.store(true, std::sync::atomic::Ordering::Release);
        // A running Lua script would keep its worker (and so the shutdown) waiting: abort it,
        // as SHUTDOWN NOSAVE does (ringkv has nothing to save).
        for wake in self.wakers.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            wake();
        }
    }

    /// Register a function that wakes a worker blocked in the kernel (eventfd write, listener
    /// shutdown). If shutdown already began, it is called at once.
    pub fn on_shutdown(&self, wake: Waker) {
        let mut wakers = self.wakers.lock().unwrap_or_else(|e| e.into_inner());
        if self.shutting_down() {
            wake();
        }
        wakers.push(wake);
    }

    /// Take one sample of the instantaneous metrics (Redis does so every 100 ms).
    pub fn sample_instantaneous(&self) {
        let now = Instant::now();
        self.inst_ops.sample(now, self.stats.total_commands_processed.load(Relaxed));
        self.inst_input.sample(now, self.stats.net_input_bytes.load(Relaxed));
        self.inst_output.sample(now, self.net_output_bytes());
    }

    /// `total_net_output_bytes`: replies plus output delivered from other connections.
    pub fn net_output_bytes(&self) -> u64 {
        self.stats.net_output_bytes.load(Relaxed).wrapping_add(self.clients.delivered_bytes.load(Relaxed))
    }

    /// Record a client's buffered input size for INFO's high-water mark.
    pub fn note_input(&self, buffered: usize) {
        if buffered > self.stats.client_input_max.load(Relaxed) {
            self.stats.client_input_max.fetch_max(buffered, Relaxed);
        }
    }

    /// Record a client's pending output size for INFO's high-water mark.
    pub fn note_output(&self, pending: usize) {
        if pending > self.stats.client_output_max.load(Relaxed) {
            self.stats.client_output_max.fetch_max(pending, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::{Acquire, Release};

    #[test]
    fn striped_counter_sums_every_thread_and_takes_any_ordering() {
        // Threads land on different stripes; the load sums them, with the ordering asked for.
        const THREADS: u64 = 4;
        const ADDS: u64 = 1000;
        let counter = StripedCounter::default();
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let counter = &counter;
                s.spawn(move || {
                    for _ in 0..ADDS {
                        counter.fetch_add(1, if t % 2 == 0 { Relaxed } else { Release });
                    }
                });
            }
        });
        assert_eq!(counter.load(Acquire), THREADS * ADDS);
        assert_eq!(counter.load(Relaxed), THREADS * ADDS);
        counter.reset();
        assert_eq!(counter.load(Acquire), 0);
    }
}
