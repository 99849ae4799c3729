//! HyperLogLog through the real binary, on every engine: PFADD / PFCOUNT / PFMERGE basics,
//! the error replies (a plain string, a list, corrupt register data), the cache refresh of
//! PFCOUNT as a change of the key (WATCH sees it, the AOF records it), DUMP / RESTORE of
//! sparse and dense values, counts kept across an AOF restart, `hll-sparse-max-bytes`, and
//! interop with a real `redis-server` (same bytes after the same PFADDs, DUMP payloads moved
//! both ways; skipped with a note when it is not installed).

mod common;

use common::real_redis::Redis;
use common::{Engine, Launch, Server};
use redis::Connection;

const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";

fn pfadd(c: &mut Connection, key: &str, elements: impl IntoIterator<Item = String>) -> i64 {
    let els: Vec<String> = elements.into_iter().collect();
    redis::cmd("PFADD").arg(key).arg(&els).query(c).unwrap()
}

fn pfcount(c: &mut Connection, keys: &[&str]) -> i64 {
    redis::cmd("PFCOUNT").arg(keys).query(c).unwrap()
}

fn get(c: &mut Connection, key: &str) -> Vec<u8> {
    redis::cmd("GET").arg(key).query(c).unwrap()
}

fn encoding(c: &mut Connection, key: &str) -> String {
    redis::cmd("PFDEBUG").arg("ENCODING").arg(key).query(c).unwrap()
}

fn error_of(c: &mut Connection, cmd: &mut redis::Cmd) -> String {
    let e = cmd.query::<redis::Value>(c).unwrap_err();
    format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or("")).trim().to_string()
}

fn basics_and_errors(engine: Engine) {
    // Counts within 2% of the truth, union counts, merge, and Redis's error replies.
    let server = Server::start(engine, &[]);
    let mut c = server.redis();
    assert_eq!(pfadd(&mut c, "empty", []), 1, "a new key counts as a change");
    assert_eq!(pfadd(&mut c, "empty", []), 0);
    assert_eq!(pfcount(&mut c, &["empty"]), 0);
    assert_eq!(pfadd(&mut c, "a", (0..5000).map(|i| format!("a{i}"))), 1);
    assert_eq!(pfadd(&mut c, "b", (0..5000).map(|i| format!("b{i}"))), 1);
    assert_eq!(pfadd(&mut c, "a", ["a1".to_string()]), 0, "already counted");
    for (keys, truth) in [(&["a"][..], 5000.0), (&["a", "b"][..], 10_000.0), (&["a", "nokey"][..], 5000.0)] {
        let n = pfcount(&mut c, keys) as f64;
        assert!((n - truth).abs() / truth < 0.02, "{keys:?}: {n} vs {truth}");
    }
    let _: () = redis::cmd("PFMERGE").arg("u").arg("a").arg("b").query(&mut c).unwrap();
    assert_eq!(pfcount(&mut c, &["u"]), pfcount(&mut c, &["a", "b"]));
    assert_eq!(encoding(&mut c, "u"), "dense");
    let _: () = redis::cmd("SET").arg("s").arg("hello").query(&mut c).unwrap();
    let _: i64 = redis::cmd("RPUSH").arg("l").arg("x").query(&mut c).unwrap();
    assert_eq!(error_of(&mut c, redis::cmd("PFADD").arg("s").arg("x")), NOT_HLL);
    assert_eq!(error_of(&mut c, redis::cmd("PFCOUNT").arg("a").arg("s")), NOT_HLL);
    assert_eq!(error_of(&mut c, redis::cmd("PFMERGE").arg("d").arg("s")), NOT_HLL);
    let wrong = "WRONGTYPE Operation against a key holding the wrong kind of value";
    assert_eq!(error_of(&mut c, redis::cmd("PFADD").arg("l").arg("x")), wrong);
    assert_eq!(error_of(&mut c, redis::cmd("PFCOUNT").arg("l")), wrong);
    // A sparse HyperLogLog whose opcodes cover 16383 registers only.
    let bad = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x7f\xfe";
    let _: () = redis::cmd("SET").arg("bad").arg(&bad[..]).query(&mut c).unwrap();
    let corrupt = "INVALIDOBJ Corrupted HLL object detected";
    assert_eq!(error_of(&mut c, redis::cmd("PFCOUNT").arg("bad")), corrupt);
    assert_eq!(error_of(&mut c, redis::cmd("PFMERGE").arg("d").arg("bad")), corrupt);
    let exists: i64 = redis::cmd("EXISTS").arg("d").query(&mut c).unwrap();
    assert_eq!(exists, 0, "a failed PFMERGE creates nothing");
    let ok: String = redis::cmd("PFSELFTEST").query(&mut c).unwrap();
    assert_eq!(ok, "OK");
}

fn cache_refresh_is_a_change(engine: Engine) {
    // PFCOUNT of a stale cache writes the cardinality into the value: GET shows it and a
    // WATCH on the key aborts the transaction, as in Redis (signalModifiedKey).
    let server = Server::start(engine, &[]);
    let mut c = server.redis();
    pfadd(&mut c, "h", (0..10).map(|i| i.to_string()));
    assert_eq!(get(&mut c, "h")[15], 0x80, "stale after PFADD");
    let _: () = redis::cmd("WATCH").arg("h").query(&mut c).unwrap();
    let n = pfcount(&mut server.redis(), &["h"]);
    assert_eq!(u64::from_le_bytes(get(&mut c, "h")[8..16].try_into().unwrap()), n as u64);
    let result: Option<(i64,)> = redis::pipe().atomic().cmd("PFCOUNT").arg("h").query(&mut c).unwrap();
    assert_eq!(result, None, "the refresh touched the watched key");
    // A second PFCOUNT reads the cache: no change, the transaction runs.
    let _: () = redis::cmd("WATCH").arg("h").query(&mut c).unwrap();
    assert_eq!(pfcount(&mut server.redis(), &["h"]), n);
    let result: Option<(i64,)> = redis::pipe().atomic().cmd("PFCOUNT").arg("h").query(&mut c).unwrap();
    assert_eq!(result, Some((n,)));
}

fn dump_restore_round_trip(engine: Engine) {
    // A sparse and a dense HyperLogLog survive DUMP / RESTORE byte for byte.
    let server = Server::start(engine, &[]);
    let mut c = server.redis();
    pfadd(&mut c, "sparse", (0..100).map(|i| format!("s{i}")));
    pfadd(&mut c, "dense", (0..20_000).map(|i| format!("d{i}")));
    assert_eq!((encoding(&mut c, "sparse"), encoding(&mut c, "dense")), ("sparse".into(), "dense".into()));
    for key in ["sparse", "dense"] {
        let payload: Vec<u8> = redis::cmd("DUMP").arg(key).query(&mut c).unwrap();
        let copy = format!("{key}-copy");
        let _: () = redis::cmd("RESTORE").arg(&copy).arg(0).arg(payload).query(&mut c).unwrap();
        assert_eq!(get(&mut c, &copy), get(&mut c, key), "{key}");
        assert_eq!(pfcount(&mut c, &[&copy]), pfcount(&mut c, &[key]), "{key}");
    }
}

fn aof_restart_keeps_counts(engine: Engine) {
    // HyperLogLogs written with the AOF on (PFADD, PFMERGE, a PFCOUNT cache refresh) come
    // back byte for byte after a restart; the refresh was recorded as PFCOUNT.
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let args = ["--appendonly", "yes", "--appendfsync", "always", "--dir", dir];
    let server = Launch::new(engine).args(&args).start();
    let mut c = server.redis();
    pfadd(&mut c, "a", (0..300).map(|i| format!("a{i}")));
    pfadd(&mut c, "b", (0..9000).map(|i| format!("b{i}")));
    let _: () = redis::cmd("PFMERGE").arg("u").arg("a").arg("b").query(&mut c).unwrap();
    let counts: Vec<i64> = ["a", "b", "u"].iter().map(|k| pfcount(&mut c, &[k])).collect();
    let before: Vec<Vec<u8>> = ["a", "b", "u"].iter().map(|k| get(&mut c, k)).collect();
    drop(c);
    server.stop();
    let aof = std::fs::read(data.path().join("appendonlydir").join("appendonly.aof.1.incr.aof")).unwrap();
    assert!(aof.windows(9).any(|w| w == b"\r\nPFCOUNT"), "the cache refresh was propagated");
    let server = Launch::new(engine).args(&args).start();
    let mut c = server.redis();
    let after: Vec<Vec<u8>> = ["a", "b", "u"].iter().map(|k| get(&mut c, k)).collect();
    assert_eq!(after, before);
    let again: Vec<i64> = ["a", "b", "u"].iter().map(|k| pfcount(&mut c, &[k])).collect();
    assert_eq!(again, counts);
}

fn sparse_max_bytes_is_a_runtime_setting(engine: Engine) {
    // CONFIG SET hll-sparse-max-bytes: a small limit turns a HyperLogLog dense sooner.
    let server = Server::start(engine, &[]);
    let mut c = server.redis();
    let v: Vec<String> = redis::cmd("CONFIG").arg("GET").arg("hll-sparse-max-bytes").query(&mut c).unwrap();
    assert_eq!(v, ["hll-sparse-max-bytes", "3000"]);
    pfadd(&mut c, "before", (0..60).map(|i| i.to_string()));
    assert_eq!(encoding(&mut c, "before"), "sparse");
    let _: () = redis::cmd("CONFIG").arg("SET").arg("hll-sparse-max-bytes").arg("100").query(&mut c).unwrap();
    pfadd(&mut c, "after", (0..60).map(|i| i.to_string()));
    assert_eq!(encoding(&mut c, "after"), "dense");
    assert_eq!(pfcount(&mut c, &["after"]), pfcount(&mut c, &["before"]));
}

fn same_bytes_as_redis_server(engine: Engine) {
    // The same PFADDs / PFMERGE / PFCOUNT on ringkv and on redis-server leave the same bytes;
    // DUMP payloads restore on the other side and keep counting the same.
    let dir = tempfile::tempdir().unwrap();
    let Some(redis) = Redis::start(dir.path(), &[]) else { return };
    let mut r = redis.conn().unwrap();
    let server = Server::start(engine, &[]);
    let mut k = server.redis();
    for c in [&mut r, &mut k] {
        pfadd(c, "sparse", (0..150).map(|i| format!("s{i}")));
        pfadd(c, "dense", (0..6000).map(|i| format!("d{i}")));
        let _: () = redis::cmd("PFMERGE").arg("m").arg("sparse").arg("dense").query(c).unwrap();
        pfcount(c, &["sparse"]);
    }
    for key in ["sparse", "dense", "m"] {
        assert_eq!(get(&mut k, key), get(&mut r, key), "{key}");
        let from_redis: Vec<u8> = redis::cmd("DUMP").arg(key).query(&mut r).unwrap();
        let from_us: Vec<u8> = redis::cmd("DUMP").arg(key).query(&mut k).unwrap();
        let copy = format!("{key}-copy");
        let _: () = redis::cmd("RESTORE").arg(&copy).arg(0).arg(from_redis).query(&mut k).unwrap();
        let _: () = redis::cmd("RESTORE").arg(&copy).arg(0).arg(from_us).query(&mut r).unwrap();
        for c in [&mut r, &mut k] {
            pfadd(c, &copy, (0..50).map(|i| format!("more{i}")));
        }
        assert_eq!(get(&mut k, &copy), get(&mut r, &copy), "{copy}");
        assert_eq!(pfcount(&mut k, &[&copy, key]), pfcount(&mut r, &[&copy, key]), "{copy}");
    }
    redis.shutdown();
}

engine_tests!(
    same_bytes_as_redis_server,
    basics_and_errors,
    cache_refresh_is_a_change,
    dump_restore_round_trip,
    aof_restart_keeps_counts,
    sparse_max_bytes_is_a_runtime_setting,
);
