//! INFO: Redis 7.0's sections and field names wherever ringkv has the concept, plus ringkv's
//! own `io` section. Sections always come in Redis's order whatever order they were asked
//! in; `INFO` / `INFO default` gives every section but `commandstats` and `latencystats`,
//! `all` and `everything` give every section (ringkv has no modules, so the two are the
//! same), and unknown names add nothing, as Redis 7.0's `genRedisInfoString`.
//!
//! Fields Redis prints for features ringkv does not have are printed with the values Redis
//! shows when the feature is off (persistence: `loading:0`, `aof_enabled:0`, ...; replication:
//! `role:master`, `connected_slaves:0`), so exporters and dashboards find them. Fields about
//! Redis internals ringkv has no counterpart for (Lua memory, fork and defrag counters,
//! Redis's memory overhead breakdown) are left out rather than invented. Memory figures come
//! from [`crate::alloc`]: `used_memory` is the counting allocator's live bytes, `allocator_*`
//! are jemalloc's own statistics.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::OnceLock;

use super::server::REDIS_COMPAT_VERSION;
use super::Ctx;
use crate::protocol::Argv;
use crate::reply;
use crate::shared::Shared;

/// Appends one section's text.
type Section = fn(&Shared, &mut String);

/// Every section, in the order Redis prints them (`io` is ringkv's), and whether `INFO` /
/// `INFO default` includes it.
const SECTIONS: &[(&str, bool, Section)] = &[
    ("server", true, server),
    ("clients", true, clients),
    ("memory", true, memory),
    ("persistence", true, persistence),
    ("stats", true, stats),
    ("replication", true, replication),
    ("cpu", true, cpu),
    ("modules", true, |_, s| s.push_str("# Modules\r\n")),
    ("commandstats", false, commandstats),
    ("errorstats", true, errorstats),
    ("latencystats", false, latencystats),
    ("cluster", true, |_, s| s.push_str("# Cluster\r\ncluster_enabled:0\r\n")),
    ("io", true, io),
    ("keyspace", true, keyspace),
];

/// The text of INFO for the given section names (lower-case; empty = `default`).
pub fn info_text(shared: &Shared, asked: &[String]) -> String {
    let default = asked.is_empty() || asked.iter().any(|a| a == "default");
    let all = asked.iter().any(|a| a == "all" || a == "everything");
    let mut s = String::new();
    for (name, in_default, write) in SECTIONS {
        if all || (default && *in_default) || asked.iter().any(|a| a == name) {
            if !s.is_empty() {
                s.push_str("\r\n");
            }
            write(shared, &mut s);
        }
    }
    s
}

/// INFO [section [section ...]]
pub fn info(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let asked: Vec<String> = argv.iter().skip(1).map(|a| String::from_utf8_lossy(a).to_ascii_lowercase()).collect();
    let text = info_text(ctx.shared, &asked);
    reply::verbatim(ctx.out, b"txt", text.as_bytes());
}

/// 40 hex digits that identify this process (Redis's `run_id`, also used as `master_replid`).
fn run_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let seed = ahash::RandomState::new();
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let words: Vec<u64> = (0..3u64).map(|i| seed.hash_one((i, nanos, std::process::id()))).collect();
        let hex: String = words.iter().map(|w| format!("{w:016x}")).collect();
        hex[..40].to_string()
    })
}

/// `uname -s -r -m`, as Redis's `os` field.
fn os_name() -> String {
    // SAFETY: utsname is plain old data; uname fills it and we read NUL-terminated fields.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return std::env::consts::OS.to_string();
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!("{} {} {}", field(&u.sysname), field(&u.release), field(&u.machine))
}

fn now_us() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_micros()
}

fn server(shared: &Shared, s: &mut String) {
    let up = shared.started.elapsed().as_secs();
    let engine = shared.io().map(|i| i.engine.as_str()).unwrap_or("none");
    let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default();
    let config_file = shared.config.config_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    let _ = write!(
        s,
        "# Server\r\nredis_version:{REDIS_COMPAT_VERSION}\r\nringkv_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:{:x}\r\nredis_mode:standalone\r\nos:{}\r\narch_bits:{}\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:{engine}\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{up}\r\nuptime_in_days:{}\r\nhz:10\r\nconfigured_hz:10\r\nlru_clock:{}\r\nexecutable:{exe}\r\nconfig_file:{config_file}\r\nio_threads_active:0\r\n",
        env!("CARGO_PKG_VERSION"),
        crate::persist::rdb::crc64::crc64(crate::version::VERSION_LONG.as_bytes()),
        os_name(),
        usize::BITS,
        std::process::id(),
        run_id(),
        shared.config.port,
        now_us(),
        up / 86400,
        lru_clock(),
    );
}

/// Redis's LRU clock: seconds, wrapping at 24 bits (`LRU_CLOCK_RESOLUTION` 1000 ms,
/// `LRU_CLOCK_MAX`).
fn lru_clock() -> u64 {
    ((now_us() / 1_000_000) & ((1 << 24) - 1)) as u64
}

fn clients(shared: &Shared, s: &mut String) {
    let st = &shared.stats;
    let _ = write!(
        s,
        "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:{}\r\nclient_recent_max_output_buffer:{}\r\nblocked_clients:{blocked}\r\ntracking_clients:0\r\nclients_in_timeout_table:{blocked}\r\n",
        st.connected_clients.load(Relaxed),
        shared.tunables.maxclients(),
        st.client_input_max.load(Relaxed),
        st.client_output_max.load(Relaxed),
        blocked = shared.blocking.blocked_clients(),
    );
}

fn total_system_memory() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let (pages, page) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
    (pages.max(0) as u64).saturating_mul(page.max(0) as u64)
}

/// Redis's `bytesToHuman`: B, K, M, G, T, P with two decimals.
pub fn human(bytes: u64) -> String {
    let units = ["B", "K", "M", "G", "T", "P"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes}B")
    } else {
        format!("{v:.2}{}", units[i])
    }
}

fn memory(shared: &Shared, s: &mut String) {
    let o = crate::cmd::memory::overhead::Overhead::now(shared);
    let (used, peak, a, sc) = (o.used, o.peak, o.allocator, o.scripts);
    let sys = total_system_memory();
    let max = shared.tunables.maxmemory();
    let ((afr, afb), (arr, arb)) = (o.allocator_frag(), o.allocator_rss());
    let ((ror, rob), (mfr, mfb)) = (o.rss_overhead(), o.total_frag());
    let lazyfree = (crate::types::lazyfree::pending(), crate::types::lazyfree::freed_total());
    let _ = write!(
        s,
        "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{}\r\nused_memory_rss_human:{}\r\n\
         used_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\nused_memory_peak_perc:{:.2}%\r\n\
         used_memory_overhead:{}\r\nused_memory_startup:{}\r\nused_memory_dataset:{}\r\nused_memory_dataset_perc:{:.2}%\r\n\
         allocator_allocated:{}\r\nallocator_active:{}\r\nallocator_resident:{}\r\n\
         total_system_memory:{sys}\r\ntotal_system_memory_human:{}\r\n\
         used_memory_lua:{vm}\r\nused_memory_vm_eval:{vm}\r\nused_memory_lua_human:{}\r\nused_memory_scripts_eval:{}\r\n\
         number_of_cached_scripts:{}\r\nnumber_of_functions:{}\r\nnumber_of_libraries:{}\r\n\
         used_memory_vm_functions:0\r\nused_memory_vm_total:{vm}\r\nused_memory_vm_total_human:{}\r\n\
         used_memory_functions:{}\r\nused_memory_scripts:{scripts}\r\nused_memory_scripts_human:{}\r\n\
         maxmemory:{max}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\n\
         allocator_frag_ratio:{afr:.2}\r\nallocator_frag_bytes:{afb}\r\nallocator_rss_ratio:{arr:.2}\r\nallocator_rss_bytes:{arb}\r\n\
         rss_overhead_ratio:{ror:.2}\r\nrss_overhead_bytes:{rob}\r\nmem_fragmentation_ratio:{mfr:.2}\r\nmem_fragmentation_bytes:{mfb}\r\n\
         mem_not_counted_for_evict:0\r\nmem_replication_backlog:0\r\nmem_total_replication_buffers:0\r\n\
         mem_clients_slaves:0\r\nmem_clients_normal:{}\r\nmem_cluster_links:0\r\nmem_aof_buffer:{}\r\n\
         mem_allocator:{}\r\nactive_defrag_running:0\r\nlazyfree_pending_objects:{}\r\nlazyfreed_objects:{}\r\n",
        human(used as u64),
        o.rss,
        human(o.rss as u64),
        human(peak as u64),
        o.peak_percent(),
        o.total,
        o.startup,
        o.dataset,
        o.dataset_percent(),
        a.allocated,
        a.active,
        a.resident,
        human(sys),
        human(sc.vm_reported() as u64),
        sc.scripts,
        sc.cached_scripts,
        sc.functions,
        sc.libraries,
        human(sc.vm_reported() as u64),
        sc.functions_bytes,
        human((sc.scripts + sc.functions_bytes) as u64),
        human(max),
        shared.tunables.maxmemory_policy().name(),
        o.clients_normal,
        o.aof_buffer,
        crate::alloc::ALLOCATOR_NAME,
        lazyfree.0,
        lazyfree.1,
        vm = sc.vm_reported(),
        scripts = sc.scripts + sc.functions_bytes,
    );
}

fn persistence(shared: &Shared, s: &mut String) {
    s.push_str(&shared.persist.info(shared.store.journal().changes()));
}

fn stats(shared: &Shared, s: &mut String) {
    let st = &shared.stats;
    let (exceeded_now, exceeded_total) = crate::evict::exceeded_ms(shared);
    // Replication, forks, defragmentation, key tracking and MIGRATE do not exist in ringkv:
    // their counters are 0, as on a Redis that never used them.
    let _ = write!(
        s,
        "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\n\
         total_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\ntotal_net_repl_input_bytes:0\r\ntotal_net_repl_output_bytes:0\r\n\
         instantaneous_input_kbps:{:.2}\r\ninstantaneous_output_kbps:{:.2}\r\n\
         instantaneous_input_repl_kbps:0.00\r\ninstantaneous_output_repl_kbps:0.00\r\nrejected_connections:{}\r\n\
         sync_full:0\r\nsync_partial_ok:0\r\nsync_partial_err:0\r\nexpired_keys:{}\r\nexpired_stale_perc:{:.2}\r\n\
         expired_time_cap_reached_count:{}\r\nexpire_cycle_cpu_milliseconds:{}\r\nevicted_keys:{}\r\nevicted_clients:0\r\n\
         total_eviction_exceeded_time:{exceeded_total}\r\ncurrent_eviction_exceeded_time:{exceeded_now}\r\n\
         keyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\npubsubshard_channels:{}\r\n\
         latest_fork_usec:0\r\ntotal_forks:0\r\nmigrate_cached_sockets:0\r\nslave_expires_tracked_keys:0\r\n\
         active_defrag_hits:0\r\nactive_defrag_misses:0\r\nactive_defrag_key_hits:0\r\nactive_defrag_key_misses:0\r\n\
         total_active_defrag_time:0\r\ncurrent_active_defrag_time:0\r\n\
         tracking_total_keys:0\r\ntracking_total_items:0\r\ntracking_total_prefixes:0\r\nunexpected_error_replies:0\r\n\
         total_error_replies:{}\r\ntotal_protocol_errors:{}\r\ntimedout_clients:{}\r\nclient_output_buffer_limit_disconnections:{}\r\n",
        st.total_connections_received.load(Relaxed),
        st.total_commands_processed.load(Relaxed),
        shared.inst_ops.per_sec().round() as u64,
        st.net_input_bytes.load(Relaxed),
        shared.net_output_bytes(),
        shared.inst_input.per_sec() / 1024.0,
        shared.inst_output.per_sec() / 1024.0,
        st.rejected_connections.load(Relaxed),
        st.expired_keys.load(Relaxed),
        f64::from_bits(st.expired_stale_perc.load(Relaxed)) * 100.0,
        st.expire_time_cap_reached.load(Relaxed),
        st.expire_cycle_us.load(Relaxed) / 1000,
        st.evicted_keys.load(Relaxed),
        st.keyspace_hits.load(Relaxed),
        st.keyspace_misses.load(Relaxed),
        shared.pubsub.channels(crate::pubsub::Kind::Channel, None).len(),
        shared.pubsub.numpat(),
        shared.pubsub.channels(crate::pubsub::Kind::Shard, None).len(),
        shared.errors.total.load(Relaxed),
        st.protocol_errors.load(Relaxed),
        st.timedout_clients.load(Relaxed),
        shared.clients.output_limit_disconnections.load(Relaxed),
    );
}

fn replication(_shared: &Shared, s: &mut String) {
    let _ = write!(
        s,
        "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_replid:{}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\nrepl_backlog_size:0\r\nrepl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n",
        run_id()
    );
}

/// `getrusage(who)`: (system, user) CPU time as Redis prints it (`%ld.%06ld`).
fn rusage(who: libc::c_int) -> (String, String) {
    // SAFETY: rusage is plain old data; getrusage fills it.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `r` is a valid, writable rusage.
    unsafe { libc::getrusage(who, &mut r) };
    let tv = |t: libc::timeval| format!("{}.{:06}", t.tv_sec, t.tv_usec);
    (tv(r.ru_stime), tv(r.ru_utime))
}

fn cpu(_shared: &Shared, s: &mut String) {
    let (sys, user) = rusage(libc::RUSAGE_SELF);
    let (sys_c, user_c) = rusage(libc::RUSAGE_CHILDREN);
    let _ = write!(
        s,
        "# CPU\r\nused_cpu_sys:{sys}\r\nused_cpu_user:{user}\r\nused_cpu_sys_children:{sys_c}\r\nused_cpu_user_children:{user_c}\r\n"
    );
}

/// Every command that was called, rejected or failed, with its totals.
fn called(shared: &Shared) -> Vec<(&'static str, crate::metrics::CmdTotals)> {
    (0..super::command_count())
        .filter_map(|i| Some((super::by_index(i)?.name, shared.cmdstats.totals(i))))
        .filter(|(_, t)| t.calls + t.rejected + t.failed > 0)
        .collect()
}

fn commandstats(shared: &Shared, s: &mut String) {
    s.push_str("# Commandstats\r\n");
    for (name, t) in called(shared) {
        let per_call = if t.calls == 0 { 0.0 } else { t.usec as f64 / t.calls as f64 };
        let _ = write!(
            s,
            "cmdstat_{name}:calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}\r\n",
            t.calls, t.usec, t.rejected, t.failed
        );
    }
}

fn errorstats(shared: &Shared, s: &mut String) {
    s.push_str("# Errorstats\r\n");
    for (prefix, count) in shared.errors.counts() {
        let _ = write!(s, "errorstat_{prefix}:count={count}\r\n");
    }
}

fn latencystats(shared: &Shared, s: &mut String) {
    s.push_str("# Latencystats\r\n");
    for (name, t) in called(shared).into_iter().filter(|(_, t)| t.calls > 0) {
        let _ = write!(
            s,
            "latency_percentiles_usec_{name}:p50={:.3},p99={:.3},p99.9={:.3}\r\n",
            t.percentile_us(50.0),
            t.percentile_us(99.0),
            t.percentile_us(99.9)
        );
    }
}

fn io(shared: &Shared, s: &mut String) {
    s.push_str("# IO\r\n");
    let Some(io) = shared.io() else { return };
    let sum = |f: fn(&crate::shared::WorkerIo) -> u64| io.workers.iter().map(f).sum::<u64>();
    let _ = write!(
        s,
        "io_engine:{}\r\nio_threads:{}\r\nio_syscalls:{}\r\nio_sqes_submitted:{}\r\nio_cqes_reaped:{}\r\n",
        io.engine,
        io.workers.len(),
        sum(|w| w.syscalls.load(Relaxed)),
        sum(|w| w.sqes_submitted.load(Relaxed)),
        sum(|w| w.cqes_reaped.load(Relaxed)),
    );
    // uring: connections in the rings' fixed-file tables, and those that fell back to plain
    // descriptors (engine/uring/fixed.rs); 0 for the other engines.
    let _ = write!(
        s,
        "io_fixed_files:{}\r\nio_fixed_file_fallbacks:{}\r\n",
        io.workers.iter().map(|w| w.fixed_files.load(Relaxed)).sum::<usize>(),
        sum(|w| w.fixed_file_fallbacks.load(Relaxed)),
    );
    // uring: receive buffers in circulation (they grow with the load up to --uring-buffers
    // per worker) and recvs the empty ring ended (ring::bufring).
    let _ = write!(
        s,
        "io_recv_buffers:{}\r\nio_recv_nobufs:{}\r\n",
        sum(|w| w.recv_buffers.load(Relaxed)),
        sum(|w| w.recv_nobufs.load(Relaxed))
    );
    for (i, w) in io.workers.iter().enumerate() {
        let _ = write!(
            s,
            "io_worker{i}:connections={},accepted={},syscalls={}\r\n",
            w.connections.load(Relaxed),
            w.connections_total.load(Relaxed),
            w.syscalls.load(Relaxed)
        );
    }
}

fn keyspace(shared: &Shared, s: &mut String) {
    s.push_str("# Keyspace\r\n");
    for db in 0..shared.store.databases() {
        let keys = shared.store.db_len(db);
        if keys > 0 {
            let _ = write!(s, "db{db}:keys={keys},expires={},avg_ttl=0\r\n", shared.store.db_expires(db));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::{run_for_test, ClientState};
    use crate::config::Config;

    fn headers(text: &str) -> Vec<&str> {
        text.lines().filter(|l| l.starts_with("# ")).collect()
    }

    #[test]
    fn default_all_and_everything_pick_sections_in_redis_order() {
        let s = Shared::new(Config::defaults());
        let default = info_text(&s, &[]);
        assert_eq!(
            headers(&default),
            [
                "# Server",
                "# Clients",
                "# Memory",
                "# Persistence",
                "# Stats",
                "# Replication",
                "# CPU",
                "# Modules",
                "# Errorstats",
                "# Cluster",
                "# IO",
                "# Keyspace"
            ]
        );
        assert_eq!(headers(&info_text(&s, &["default".into()])), headers(&default));
        let all = info_text(&s, &["all".into()]);
        assert_eq!(headers(&all).len(), SECTIONS.len());
        assert_eq!(headers(&info_text(&s, &["everything".into()])), headers(&all));
        // Asked order does not matter; unknown names add nothing; sections are separated by
        // one blank line and the text ends with the last field's CRLF.
        let two = info_text(&s, &["cpu".into(), "bogus".into(), "server".into()]);
        assert_eq!(headers(&two), ["# Server", "# CPU"]);
        assert!(two.contains("\r\n\r\n# CPU\r\n") && two.ends_with("\r\n") && !two.ends_with("\r\n\r\n"));
        assert_eq!(info_text(&s, &["bogus".into()]), "");
        let with_stats = info_text(&s, &["default".into(), "commandstats".into()]);
        assert!(headers(&with_stats).contains(&"# Commandstats"));
        assert!(!headers(&with_stats).contains(&"# Latencystats"));
    }

    #[test]
    fn every_section_has_redis_field_names() {
        let s = Shared::new(Config::defaults());
        let all = info_text(&s, &["everything".into()]);
        for field in [
            "redis_version:",
            "process_id:",
            "tcp_port:7379",
            "uptime_in_days:0",
            "executable:",
            "config_file:",
            "run_id:",
            "connected_clients:",
            "maxclients:10000",
            "client_recent_max_input_buffer:",
            "client_recent_max_output_buffer:",
            "used_memory:",
            "maxmemory_policy:noeviction",
            "loading:0",
            "rdb_changes_since_last_save:0",
            "aof_enabled:0",
            "instantaneous_ops_per_sec:",
            "total_net_input_bytes:",
            "total_net_output_bytes:",
            "keyspace_hits:",
            "keyspace_misses:",
            "total_error_replies:",
            "role:master",
            "connected_slaves:0",
            "used_cpu_sys:",
            "used_cpu_user:",
            "cluster_enabled:0",
        ] {
            assert!(all.contains(&format!("\r\n{field}")), "missing {field}");
        }
    }

    #[test]
    fn command_error_and_latency_stats_count_calls() {
        let s = Shared::new(Config::defaults());
        let mut c = ClientState::new(&s);
        for args in
            [&[&b"SET"[..], b"k", b"v"][..], &[b"GET", b"k"], &[b"GET", b"k"], &[b"GET"], &[b"INCR", b"k"], &[b"NOPE"]]
        {
            run_for_test(&s, &mut c, args);
        }
        let text = info_text(&s, &["commandstats".into(), "errorstats".into(), "latencystats".into(), "stats".into()]);
        let field = |name: &str| text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name}: {text}"));
        assert!(field("cmdstat_get:").starts_with("cmdstat_get:calls=2,usec="), "{text}");
        assert!(field("cmdstat_get:").ends_with(",rejected_calls=1,failed_calls=0"), "{text}");
        assert!(field("cmdstat_incr:").ends_with(",rejected_calls=0,failed_calls=1"), "{text}");
        assert_eq!(field("errorstat_ERR:"), "errorstat_ERR:count=3");
        assert_eq!(field("total_error_replies:"), "total_error_replies:3");
        let lat = field("latency_percentiles_usec_set:");
        assert!(lat.contains(":p50=") && lat.contains(",p99=") && lat.contains(",p99.9="), "{lat}");
        assert!(!text.contains("cmdstat_nope"));
    }
}
