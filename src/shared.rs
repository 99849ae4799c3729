//! State shared by every worker of every engine: the config, the store, server-wide
//! statistics (INFO), per-worker I/O counters (INFO io) and the shutdown signal.
//! Everything here is either immutable after startup or an atomic / a short-held lock.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use crate::config::Config;
use crate::slowlog::SlowLog;
use crate::store::Store;
use crate::tunables::Tunables;

/// Slots of a [`StripedCounter`]: more than the worker threads we expect on one machine's
/// cores would gain little; each slot is a cache line.
const COUNTER_STRIPES: usize = 16;

/// A statistics counter bumped on every request by every worker: one cache-padded atomic per
/// stripe, a thread always uses the same stripe, so workers on different cores do not bounce
/// one cache line per command. Reads sum the stripes.
pub struct StripedCounter {
    stripes: [crossbeam_utils::CachePadded<AtomicU64>; COUNTER_STRIPES],
}

impl Default for StripedCounter {
    fn default() -> Self {
        StripedCounter { stripes: std::array::from_fn(|_| Default::default()) }
    }
}

fn stripe_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Relaxed) % COUNTER_STRIPES;
    }
    STRIPE.with(|s| *s)
}

impl StripedCounter {
    /// Add `n` (the ordering argument mirrors `AtomicU64` so call sites read the same).
    pub fn fetch_add(&self, n: u64, _order: std::sync::atomic::Ordering) {
        self.stripes[stripe_index()].fetch_add(n, Relaxed);
    }
    /// The sum over all stripes.
    pub fn load(&self, _order: std::sync::atomic::Ordering) -> u64 {
        self.stripes.iter().map(|s| s.load(Relaxed)).fold(0u64, u64::wrapping_add)
    }
    /// Reset to zero (CONFIG RESETSTAT).
    pub fn reset(&self) {
        for s in &self.stripes {
            s.store(0, Relaxed);
        }
    }
}

/// Server-wide counters, reported by INFO. Relaxed atomics: they are statistics.
#[derive(Default)]
pub struct Stats {
    pub total_connections_received: AtomicU64,
    pub total_commands_processed: StripedCounter,
    pub rejected_connections: AtomicU64,
    pub connected_clients: AtomicUsize,
    pub protocol_errors: AtomicU64,
    pub expired_keys: AtomicU64,
    pub keyspace_hits: StripedCounter,
    pub keyspace_misses: StripedCounter,
    /// Largest pending output (bytes) any client has had (INFO clients).
    pub client_output_max: AtomicUsize,
    /// Clients closed for idling past `--timeout`.
    pub timedout_clients: AtomicU64,
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
    pub stats: Stats,
    pub started: Instant,
    io: OnceLock<IoInfo>,
    next_client_id: AtomicU64,
    shutdown: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl Shared {
    pub fn new(config: Config) -> Self {
        let store = Store::new(config.databases.max(1), crate::store::SHARDS_PER_DB_DEFAULT);
        Shared {
            tunables: Tunables::new(&config),
            slowlog: SlowLog::default(),
            config,
            store,
            stats: Stats::default(),
            started: Instant::now(),
            io: OnceLock::new(),
            next_client_id: AtomicU64::new(1),
            shutdown: AtomicBool::new(false),
            wakers: Mutex::new(Vec::new()),
        }
    }

    /// A fresh client id (CLIENT ID), unique for the process lifetime.
    pub fn next_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Relaxed)
    }

    /// Called once by the engine that ends up serving: its name and worker count.
    pub fn set_io(&self, engine: &str, workers: usize) -> &IoInfo {
        self.io.get_or_init(|| IoInfo {
            engine: engine.to_string(),
            workers: (0..workers).map(|_| WorkerIo::default()).collect(),
        })
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

    /// Record a client's pending output size for INFO's high-water mark.
    pub fn note_output(&self, pending: usize) {
        if pending > self.stats.client_output_max.load(Relaxed) {
            self.stats.client_output_max.fetch_max(pending, Relaxed);
        }
    }
}
