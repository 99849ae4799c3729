//! INFO memory and MEMORY STATS / DOCTOR against the real server, on every engine: INFO
//! memory has Redis 7.0's fields in Redis's order; `used_memory` splits into overhead and
//! dataset the way Redis splits it (overhead = startup + clients + AOF buffer + scripting +
//! keyspace tables; dataset = the rest); loading keys grows the dataset and the keyspace
//! table, and MEMORY STATS agrees with INFO. Exporters and dashboards read these fields by
//! name.

mod common;

use common::{Server, ALL_ENGINES};
use redis::Value;

/// Redis 7.0.15's INFO memory fields, in its order.
const REDIS_INFO_MEMORY: &[&str] = &[
    "used_memory",
    "used_memory_human",
    "used_memory_rss",
    "used_memory_rss_human",
    "used_memory_peak",
    "used_memory_peak_human",
    "used_memory_peak_perc",
    "used_memory_overhead",
    "used_memory_startup",
    "used_memory_dataset",
    "used_memory_dataset_perc",
    "allocator_allocated",
    "allocator_active",
    "allocator_resident",
    "total_system_memory",
    "total_system_memory_human",
    "used_memory_lua",
    "used_memory_vm_eval",
    "used_memory_lua_human",
    "used_memory_scripts_eval",
    "number_of_cached_scripts",
    "number_of_functions",
    "number_of_libraries",
    "used_memory_vm_functions",
    "used_memory_vm_total",
    "used_memory_vm_total_human",
    "used_memory_functions",
    "used_memory_scripts",
    "used_memory_scripts_human",
    "maxmemory",
    "maxmemory_human",
    "maxmemory_policy",
    "allocator_frag_ratio",
    "allocator_frag_bytes",
    "allocator_rss_ratio",
    "allocator_rss_bytes",
    "rss_overhead_ratio",
    "rss_overhead_bytes",
    "mem_fragmentation_ratio",
    "mem_fragmentation_bytes",
    "mem_not_counted_for_evict",
    "mem_replication_backlog",
    "mem_total_replication_buffers",
    "mem_clients_slaves",
    "mem_clients_normal",
    "mem_cluster_links",
    "mem_aof_buffer",
    "mem_allocator",
    "active_defrag_running",
    "lazyfree_pending_objects",
    "lazyfreed_objects",
];

/// Redis 7.0.15's MEMORY STATS fields (without the per-database ones), in its order.
const REDIS_MEMORY_STATS: &[&str] = &[
    "peak.allocated",
    "total.allocated",
    "startup.allocated",
    "replication.backlog",
    "clients.slaves",
    "clients.normal",
    "cluster.links",
    "aof.buffer",
    "lua.caches",
    "functions.caches",
    "overhead.total",
    "keys.count",
    "keys.bytes-per-key",
    "dataset.bytes",
    "dataset.percentage",
    "peak.percentage",
    "allocator.allocated",
    "allocator.active",
    "allocator.resident",
    "allocator-fragmentation.ratio",
    "allocator-fragmentation.bytes",
    "allocator-rss.ratio",
    "allocator-rss.bytes",
    "rss-overhead.ratio",
    "rss-overhead.bytes",
    "fragmentation",
    "fragmentation.bytes",
];

/// Keys loaded for the growth checks.
const KEYS: usize = 20_000;

fn fields(info: &str) -> Vec<(String, String)> {
    info.lines()
        .filter(|l| !l.starts_with('#') && l.contains(':'))
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.to_string(), v.trim().to_string())
        })
        .collect()
}

fn field(info: &[(String, String)], name: &str) -> u64 {
    info.iter().find(|(k, _)| k == name).unwrap_or_else(|| panic!("no {name}")).1.parse().unwrap()
}

/// MEMORY STATS as (name, value) in reply order; a database's map as `db.N` with its fields.
fn memory_stats(con: &mut redis::Connection) -> Vec<(String, Value)> {
    let reply: Value = redis::cmd("MEMORY").arg("STATS").query(con).unwrap();
    let items = match reply {
        Value::Array(items) => items.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect::<Vec<_>>(),
        Value::Map(items) => items,
        other => panic!("MEMORY STATS: {other:?}"),
    };
    items.into_iter().map(|(k, v)| (redis::from_redis_value::<String>(k).unwrap(), v)).collect()
}

fn stat(stats: &[(String, Value)], name: &str) -> i64 {
    let v = &stats.iter().find(|(k, _)| k == name).unwrap_or_else(|| panic!("no {name}")).1;
    redis::from_redis_value(v.clone()).unwrap()
}

#[test]
fn info_memory_and_memory_stats_split_used_memory_as_redis_does() {
    for &engine in ALL_ENGINES {
        let server = Server::start(engine, &[]);
        let mut con = server.redis();
        let info = fields(&server.info("memory"));
        let names: Vec<&str> = info.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, REDIS_INFO_MEMORY, "{engine:?}");

        let empty_overhead = field(&info, "used_memory_overhead");
        assert!(field(&info, "used_memory_startup") > 0, "{engine:?}");
        assert!(field(&info, "used_memory_startup") <= empty_overhead, "{engine:?}");
        assert!(field(&info, "mem_clients_normal") > 0, "{engine:?}: the INFO connection itself");
        // Under 5 MB used, Redis's doctor declines (its other findings: overhead.rs's tests).
        let doctor: String = redis::cmd("MEMORY").arg("DOCTOR").query(&mut con).unwrap();
        assert!(doctor.starts_with("Hi Sam, this instance is empty"), "{engine:?}: {doctor}");

        for chunk in (0..KEYS).collect::<Vec<_>>().chunks(1000) {
            let mut pipe = redis::pipe();
            for i in chunk {
                pipe.cmd("SET").arg(format!("key:{i:08}")).arg(vec![b'v'; 64]).ignore();
            }
            pipe.query::<()>(&mut con).unwrap();
        }
        let _: String = redis::cmd("SCRIPT").arg("LOAD").arg("return 1").query(&mut con).unwrap();

        let info = fields(&server.info("memory"));
        let (used, overhead, dataset) =
            (field(&info, "used_memory"), field(&info, "used_memory_overhead"), field(&info, "used_memory_dataset"));
        assert_eq!(overhead + dataset, used, "{engine:?}: {info:?}");
        assert!(dataset >= (KEYS * 64) as u64, "{engine:?}: dataset {dataset} holds the values");
        assert!(overhead > empty_overhead, "{engine:?}: the keyspace table is overhead");
        assert!(field(&info, "used_memory_scripts_eval") >= "return 1".len() as u64, "{engine:?}");
        assert_eq!(field(&info, "number_of_cached_scripts"), 1, "{engine:?}");

        let stats = memory_stats(&mut con);
        let names: Vec<&str> = stats.iter().map(|(k, _)| k.as_str()).filter(|k| !k.starts_with("db.")).collect();
        assert_eq!(names, REDIS_MEMORY_STATS, "{engine:?}");
        let db0 = &stats.iter().find(|(k, _)| k == "db.0").expect("db.0 with keys").1;
        let db0: Vec<(String, i64)> = redis::from_redis_value(db0.clone()).unwrap();
        let main = db0.iter().find(|(k, _)| k == "overhead.hashtable.main").unwrap().1;
        assert!(main as usize >= KEYS * std::mem::size_of::<usize>(), "{engine:?}: a slot per key at least: {db0:?}");
        assert_eq!(stat(&stats, "keys.count"), KEYS as i64, "{engine:?}");
        let (total, startup) = (stat(&stats, "total.allocated"), stat(&stats, "startup.allocated"));
        assert_eq!(stat(&stats, "keys.bytes-per-key"), (total - startup) / KEYS as i64, "{engine:?}");
        assert_eq!(stat(&stats, "dataset.bytes"), total - stat(&stats, "overhead.total"), "{engine:?}");
        assert!(stat(&stats, "lua.caches") >= "return 1".len() as i64, "{engine:?}");
        server.stop();
    }
}
