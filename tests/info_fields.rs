//! INFO server and stats against the real server, on every engine: Redis 7.0's fields in
//! Redis's order (ringkv's own fields may sit between them; the ones ringkv cannot give a
//! true value for are absent), and the counters that have a ringkv meaning move: active
//! expiry's stale-keys estimate and time, and the time used memory stays over maxmemory.

mod common;

use std::time::{Duration, Instant};

use common::{Server, ALL_ENGINES};

/// Redis 7.0.15's INFO server fields, in its order.
const REDIS_SERVER: &[&str] = &[
    "redis_version",
    "redis_git_sha1",
    "redis_git_dirty",
    "redis_build_id",
    "redis_mode",
    "os",
    "arch_bits",
    "monotonic_clock",
    "multiplexing_api",
    "atomicvar_api",
    "gcc_version",
    "process_id",
    "process_supervised",
    "run_id",
    "tcp_port",
    "server_time_usec",
    "uptime_in_seconds",
    "uptime_in_days",
    "hz",
    "configured_hz",
    "lru_clock",
    "executable",
    "config_file",
    "io_threads_active",
];

/// Redis 7.0.15's INFO stats fields, in its order, less those ringkv leaves out: reads and
/// writes processed (and by I/O threads), reply buffer resizes, deep sanitizations.
const REDIS_STATS: &[&str] = &[
    "total_connections_received",
    "total_commands_processed",
    "instantaneous_ops_per_sec",
    "total_net_input_bytes",
    "total_net_output_bytes",
    "total_net_repl_input_bytes",
    "total_net_repl_output_bytes",
    "instantaneous_input_kbps",
    "instantaneous_output_kbps",
    "instantaneous_input_repl_kbps",
    "instantaneous_output_repl_kbps",
    "rejected_connections",
    "sync_full",
    "sync_partial_ok",
    "sync_partial_err",
    "expired_keys",
    "expired_stale_perc",
    "expired_time_cap_reached_count",
    "expire_cycle_cpu_milliseconds",
    "evicted_keys",
    "evicted_clients",
    "total_eviction_exceeded_time",
    "current_eviction_exceeded_time",
    "keyspace_hits",
    "keyspace_misses",
    "pubsub_channels",
    "pubsub_patterns",
    "pubsubshard_channels",
    "latest_fork_usec",
    "total_forks",
    "migrate_cached_sockets",
    "slave_expires_tracked_keys",
    "active_defrag_hits",
    "active_defrag_misses",
    "active_defrag_key_hits",
    "active_defrag_key_misses",
    "total_active_defrag_time",
    "current_active_defrag_time",
    "tracking_total_keys",
    "tracking_total_items",
    "tracking_total_prefixes",
    "unexpected_error_replies",
    "total_error_replies",
];

/// Keys given a short TTL for the expiry counters, and how long to wait for active expiry.
const EXPIRING: usize = 500;
const EXPIRY_WAIT_MAX: Duration = Duration::from_secs(10);
/// How long used memory is kept over the limit before reading the eviction timers.
const OVER_LIMIT: Duration = Duration::from_millis(30);

fn names(info: &str) -> Vec<String> {
    info.lines()
        .filter(|l| !l.starts_with('#') && l.contains(':'))
        .map(|l| l.split(':').next().unwrap().to_string())
        .collect()
}

/// The fields of `redis` in `info`, in `info`'s order (other fields skipped).
fn redis_order(info: &str, redis: &[&str]) -> Vec<String> {
    names(info).into_iter().filter(|n| redis.contains(&n.as_str())).collect()
}

fn value(info: &str, name: &str) -> f64 {
    let line = info.lines().find(|l| l.starts_with(&format!("{name}:"))).unwrap_or_else(|| panic!("no {name}"));
    line.split(':').nth(1).unwrap().trim().parse().unwrap()
}

#[test]
fn info_server_and_stats_have_redis_fields_and_they_move() {
    for &engine in ALL_ENGINES {
        let server = Server::start(engine, &[]);
        assert_eq!(redis_order(&server.info("server"), REDIS_SERVER), REDIS_SERVER, "{engine:?}");
        assert_eq!(redis_order(&server.info("stats"), REDIS_STATS), REDIS_STATS, "{engine:?}");

        let mut con = server.redis();
        let mut pipe = redis::pipe();
        for i in 0..EXPIRING {
            pipe.cmd("SET").arg(format!("e{i}")).arg("v").arg("PX").arg(5).ignore();
        }
        pipe.query::<()>(&mut con).unwrap();
        // Nobody reads them again: only active expiry deletes them.
        let deadline = Instant::now() + EXPIRY_WAIT_MAX;
        while value(&server.info("stats"), "expired_keys") < EXPIRING as f64 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let stats = server.info("stats");
        assert_eq!(value(&stats, "expired_keys"), EXPIRING as f64, "{engine:?}");
        assert!(value(&stats, "expired_stale_perc") > 0.0, "{engine:?}: {stats}");

        let _: () = redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg(1).query(&mut con).unwrap();
        let refused = redis::cmd("SET").arg("k").arg("v").query::<()>(&mut con).unwrap_err();
        assert!(refused.to_string().contains("OOM"), "{engine:?}: {refused}");
        std::thread::sleep(OVER_LIMIT);
        let stats = server.info("stats");
        let (current, total) =
            (value(&stats, "current_eviction_exceeded_time"), value(&stats, "total_eviction_exceeded_time"));
        assert!(current >= OVER_LIMIT.as_millis() as f64 && total >= current, "{engine:?}: {current} {total}");
        // Under the limit again: the next write's check stops the clock.
        let _: () = redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg("1gb").query(&mut con).unwrap();
        let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
        let stats = server.info("stats");
        assert_eq!(value(&stats, "current_eviction_exceeded_time"), 0.0, "{engine:?}");
        assert!(value(&stats, "total_eviction_exceeded_time") >= current, "{engine:?}");
        server.stop();
    }
}
