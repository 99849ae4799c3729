//! State shared by every worker of every engine: the config, the store, server-wide
//! statistics (INFO), per-worker I/O counters (INFO io) and the shutdown signal.
//! Everything here is either immutable after startup or an atomic / a short-held lock.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crate::clients::Clients;
use crate::config::Config;
use crate::exclusive::Isolation;
use crate::persist::Persist;
use crate::pubsub::PubSub;
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
    /// Add `n` to this thread's stripe with ordering `order` (as `AtomicU64::fetch_add`).
    pub fn fetch_add(&self, n: u64, order: std::sync::atomic::Ordering) {
        self.stripes[stripe_index()].fetch_add(n, order);
    }
    /// The sum over all stripes, each loaded with ordering `order` (as `AtomicU64::load`).
    /// The stripes are read one after another: the sum is not one atomic snapshot.
    pub fn load(&self, order: std::sync::atomic::Ordering) -> u64 {
        self.stripes.iter().map(|s| s.load(order)).fold(0u64, u64::wrapping_add)
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
    /// The striped lock that makes EXEC isolated (see [`crate::exclusive`]).
    pub isolation: Isolation,
    pub stats: Stats,
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
    /// The AOF and save bookkeeping (see [`crate::persist`]).
    pub persist: Persist,
}

impl Shared {
    pub fn new(config: Config) -> Self {
        let store = Store::new(config.databases.max(1), crate::store::SHARDS_PER_DB_DEFAULT);
        Shared {
            tunables: Tunables::new(&config),
            slowlog: SlowLog::default(),
            config,
            store,
            isolation: Isolation::default(),
            stats: Stats::default(),
            started: Instant::now(),
            io: OnceLock::new(),
            listening: OnceLock::new(),
            next_client_id: AtomicU64::new(1),
            shutdown: AtomicBool::new(false),
            wakers: Mutex::new(Vec::new()),
            clients: Arc::new(Clients::default()),
            pubsub: Arc::new(PubSub::default()),
            persist: Persist::default(),
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
