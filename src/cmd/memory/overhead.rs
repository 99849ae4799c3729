//! Where the memory goes: Redis 7.0's `getMemoryOverheadData` for ringkv, the one model INFO
//! memory, MEMORY STATS and MEMORY DOCTOR report from (so their numbers agree).
//!
//! `used_memory` splits into *overhead* and *dataset*. Overhead is what the server holds
//! whatever the data: what it held once set up (`startup`), the clients' state and unsent
//! replies, the AOF bytes not yet written, scripting's caches and its Lua VM, the
//! per-command statistics, and each database's keyspace structures (hash tables and entry
//! slabs). The dataset is the rest:
//! keys, values and their entries. Like Redis's, the split is an estimate: the client and
//! script figures are sizes the server keeps, not allocator readings.
//!
//! ringkv has no replication and no cluster, so the replication backlog, replica buffers
//! and cluster links are 0, as on a Redis without them.

use crate::alloc::AllocatorStats;
use crate::clients::ClientHandle;
use crate::cmd::ClientState;
use crate::shared::Shared;

/// What one client costs beside its unsent replies: its command state (database,
/// transaction, subscriptions, timing) and its entry in the client registry.
pub const CLIENT_BASE_BYTES: usize = std::mem::size_of::<ClientState>() + std::mem::size_of::<ClientHandle>();

/// MEMORY DOCTOR's thresholds, Redis's: under this much used memory there is nothing to say,
pub const DOCTOR_EMPTY_BYTES: usize = 5 << 20;
/// a peak this many times the current use is reported,
const DOCTOR_PEAK_RATIO: f64 = 1.5;
/// fragmentation ratios above these, with at least `DOCTOR_FRAG_BYTES` behind them,
const DOCTOR_RSS_RATIO: f64 = 1.4;
const DOCTOR_ALLOCATOR_RATIO: f64 = 1.1;
const DOCTOR_FRAG_BYTES: i64 = 10 << 20;
/// clients holding more than this each on average,
const DOCTOR_CLIENT_BYTES: usize = 200 << 10;
/// and more cached scripts than this.
const DOCTOR_SCRIPTS: usize = 1000;

/// One reading of the model (see the module docs).
#[derive(Debug, Default)]
pub struct Overhead {
    pub used: usize,
    pub peak: usize,
    pub startup: usize,
    pub clients: usize,
    pub clients_normal: usize,
    pub aof_buffer: usize,
    /// `(db, its keyspace structures' bytes)` for every database with keys.
    pub dbs: Vec<(usize, usize)>,
    pub total: usize,
    pub keys: usize,
    pub dataset: usize,
    pub scripts: crate::cmd::script::ScriptMemory,
    pub allocator: AllocatorStats,
    pub rss: usize,
}

impl Overhead {
    /// Read the model now.
    pub fn now(shared: &Shared) -> Overhead {
        let rss = crate::alloc::rss_bytes();
        // Without the counting allocator (library tests) the resident set stands in.
        let used = if crate::alloc::installed() { crate::alloc::used_memory() } else { rss };
        let (clients, pending_out) = shared.clients.output_totals();
        let scripts = crate::cmd::script::of(shared).memory();
        let mut o = Overhead {
            used,
            peak: crate::alloc::used_memory_peak().max(used),
            startup: crate::alloc::used_memory_startup(),
            clients,
            clients_normal: pending_out + clients * CLIENT_BASE_BYTES,
            aof_buffer: shared.persist.aof().map_or(0, |aof| aof.buffer_length()),
            scripts,
            allocator: crate::alloc::allocator_stats(),
            rss,
            ..Overhead::default()
        };
        for db in 0..shared.store.databases() {
            let keys = shared.store.db_len(db);
            if keys > 0 {
                o.keys += keys;
                o.dbs.push((db, shared.store.table_overhead(db)));
            }
        }
        // The Lua VM allocates through the server's allocator, so `used_memory` includes it
        // (Redis's does not); the per-command statistics' stripe tables and slots are
        // allocated as threads first record commands. Both are overhead, though no MEMORY
        // STATS field names them.
        o.total = o.startup
            + o.scripts.vm
            + shared.cmdstats.allocated_bytes()
            + o.clients_normal
            + o.aof_buffer
            + o.scripts.scripts
            + o.scripts.functions_bytes
            + o.dbs.iter().map(|(_, bytes)| bytes).sum::<usize>();
        o.dataset = used.saturating_sub(o.total);
        o
    }

    /// Used memory above the startup's (at least 1, as Redis's `net_usage`).
    fn net(&self) -> usize {
        self.used.saturating_sub(self.startup).max(1)
    }

    pub fn dataset_percent(&self) -> f64 {
        self.dataset as f64 * 100.0 / self.net() as f64
    }

    pub fn peak_percent(&self) -> f64 {
        ratio(self.used, self.peak) * 100.0
    }

    /// Redis's `keys.bytes-per-key`: net usage over the keys.
    pub fn bytes_per_key(&self) -> usize {
        self.net().checked_div(self.keys).unwrap_or(0)
    }

    /// Fragmentation as Redis names its pairs: (ratio, bytes).
    pub fn total_frag(&self) -> (f64, i64) {
        (ratio(self.rss, self.used), self.rss as i64 - self.used as i64)
    }
    pub fn allocator_frag(&self) -> (f64, i64) {
        let a = &self.allocator;
        (ratio(a.active, a.allocated), a.active as i64 - a.allocated as i64)
    }
    pub fn allocator_rss(&self) -> (f64, i64) {
        let a = &self.allocator;
        (ratio(a.resident, a.active), a.resident as i64 - a.active as i64)
    }
    pub fn rss_overhead(&self) -> (f64, i64) {
        let a = &self.allocator;
        (ratio(self.rss, a.resident), self.rss as i64 - a.resident as i64)
    }

    /// MEMORY DOCTOR's report, Redis 7.0's checks and texts.
    pub fn doctor(&self) -> String {
        if self.used < DOCTOR_EMPTY_BYTES {
            return "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n".into();
        }
        let over = |(ratio, bytes): (f64, i64), limit: f64| ratio > limit && bytes > DOCTOR_FRAG_BYTES;
        let high_rss = format!("{HIGH_RSS}{}\".", crate::alloc::ALLOCATOR_NAME);
        let findings: [(bool, &str); 7] = [
            (ratio(self.peak, self.used) > DOCTOR_PEAK_RATIO, PEAK),
            (over(self.total_frag(), DOCTOR_RSS_RATIO), &high_rss),
            (over(self.allocator_frag(), DOCTOR_ALLOCATOR_RATIO), ALLOCATOR_FRAG),
            (over(self.allocator_rss(), DOCTOR_ALLOCATOR_RATIO), ALLOCATOR_RSS),
            (over(self.rss_overhead(), DOCTOR_ALLOCATOR_RATIO), PROCESS_RSS),
            (self.clients > 0 && self.clients_normal / self.clients > DOCTOR_CLIENT_BYTES, CLIENT_BUFFERS),
            (self.scripts.cached_scripts > DOCTOR_SCRIPTS, MANY_SCRIPTS),
        ];
        if findings.iter().all(|(found, _)| !found) {
            return "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n".into();
        }
        let mut s = String::from("Sam, I detected a few issues in this Redis instance memory implants:\n\n");
        for (_, text) in findings.iter().filter(|(found, _)| *found) {
            s.push_str(text);
            s.push_str("\n\n");
        }
        s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
        s
    }
}

/// `a / b`, 0 when `b` is 0.
pub fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

const PEAK: &str = " * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.";
/// Followed by the allocator's name and `".`.
const HIGH_RSS: &str = " * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The currently used allocator is \"";
const ALLOCATOR_FRAG: &str = " * High allocator fragmentation: This instance has an allocator external fragmentation greater than 1.1. This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. You can try enabling 'activedefrag' config option.";
const ALLOCATOR_RSS: &str = " * High allocator RSS overhead: This instance has an RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the allocator is much larger than the sum what the allocator actually holds). This problem is usually due to a large peak memory (check if there is a peak memory entry above in the report), you can try the MEMORY PURGE command to reclaim it.";
const PROCESS_RSS: &str = " * High process RSS overhead: This instance has non-allocator RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the Redis process is much larger than the RSS the allocator holds). This problem may be due to Lua scripts or Modules.";
const CLIENT_BUFFERS: &str = " * Big client buffers: The clients output buffers in this instance are greater than 200K per client (on average). This may result from different causes, like Pub/Sub clients subscribed to channels bot not receiving data fast enough, so that data piles on the Redis instance output buffer, or clients sending commands with large replies or very large sequences of commands in the same pipeline. Please use the CLIENT LIST command in order to investigate the issue if it causes problems in your instance, or to understand better why certain clients are using a big amount of memory.";
const MANY_SCRIPTS: &str = " * Many scripts: There seem to be many cached scripts in this instance (more than 1000). This may be because scripts are generated and `EVAL`ed, instead of being parameterized (with KEYS and ARGV), `SCRIPT LOAD`ed and `EVALSHA`ed. Unless `SCRIPT FLUSH` is called periodically, the scripts' caches may end up consuming most of your memory.";

#[cfg(test)]
mod tests {
    use super::*;

    /// A reading of `used` bytes with everything else quiet: resident = active = allocated.
    fn reading(used: usize) -> Overhead {
        let allocator = AllocatorStats { allocated: used, active: used, resident: used, ..Default::default() };
        Overhead { used, peak: used, rss: used, clients: 1, clients_normal: 1000, allocator, ..Default::default() }
    }

    #[test]
    fn doctor_reports_what_redis_reports() {
        let small = reading(DOCTOR_EMPTY_BYTES - 1).doctor();
        assert!(small.starts_with("Hi Sam, this instance is empty"), "{small}");
        let fine = reading(64 << 20).doctor();
        assert!(fine.starts_with("Hi Sam, I can't find any memory issue"), "{fine}");

        let mut o = reading(64 << 20);
        o.peak = 200 << 20;
        o.clients_normal = 2 * DOCTOR_CLIENT_BYTES;
        let report = o.doctor();
        assert!(report.starts_with("Sam, I detected a few issues"), "{report}");
        assert!(report.contains(" * Peak memory:") && report.contains(" * Big client buffers:"), "{report}");
        assert!(
            !report.contains(" * High allocator fragmentation") && !report.contains(" * High total RSS"),
            "{report}"
        );
        assert!(report.ends_with("I'm here to keep you safe, Sam. I want to help you.\n"), "{report}");

        // A process RSS 2x the allocator's, 64 MiB of it: high total RSS and process RSS.
        let mut o = reading(64 << 20);
        o.rss = 128 << 20;
        let report = o.doctor();
        assert!(report.contains(" * High total RSS:") && report.contains(" * High process RSS overhead:"), "{report}");
        assert!(!report.contains(" * High allocator fragmentation") && !report.contains(" * Peak memory"), "{report}");
    }

    #[test]
    fn dataset_and_per_key_figures_follow_redis() {
        let mut o = reading(10_000);
        o.startup = 4_000;
        o.total = 6_000;
        o.dataset = 4_000;
        o.keys = 3;
        assert_eq!(o.bytes_per_key(), 2_000);
        assert!((o.dataset_percent() - 66.666).abs() < 0.01);
        o.keys = 0;
        assert_eq!(o.bytes_per_key(), 0);
        o.startup = 20_000; // more than is used now: net usage counts as 1 byte, as Redis's
        assert_eq!(o.dataset_percent(), 400_000.0);
    }
}
