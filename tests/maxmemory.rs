//! maxmemory against the real server, on every engine: a flood writing five times the limit
//! from two connections keeps INFO's `used_memory` at the limit for every evicting policy
//! (set at runtime with CONFIG SET); volatile-* evict only keys with a TTL and answer Redis's
//! OOM error once none is left; noeviction answers the OOM error to writes while GET and DEL
//! keep working.

mod common;

use std::io::{BufReader, Read, Write};

use common::{info_u64, read_line, resp, Engine, Server};

/// Redis's error for a write it cannot make room for.
const OOM: &[u8] = b"-OOM command not allowed when used memory > 'maxmemory'.";
/// Room above the baseline `used_memory` each test allows for data.
const LIMIT_ABOVE_BASE: u64 = 4 << 20;
/// Value size of the flood.
const VALUE_BYTES: usize = 1024;
/// Requests per pipelined batch.
const BATCH: usize = 64;
/// What `used_memory` may exceed the limit by when read after the flood: the last writes'
/// own allocations (each checked the limit before it ran) and the INFO connection itself.
const SLACK_BYTES: u64 = 64 << 10;

fn command<S: Read + Write>(s: &mut S, args: &[&[u8]]) -> Vec<u8> {
    s.write_all(&resp(args)).unwrap();
    read_line(s)
}

/// Write `bytes` of 1 KiB values under `prefix` (with a TTL when `ttl`), pipelined; returns
/// the reply lines that were not `+OK`.
fn flood(server: &Server, prefix: &str, bytes: usize, ttl: bool) -> Vec<Vec<u8>> {
    let mut s = server.unix();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let value = vec![b'v'; VALUE_BYTES];
    let mut failures = Vec::new();
    let total = bytes / VALUE_BYTES;
    for start in (0..total).step_by(BATCH) {
        let mut req = Vec::new();
        let end = (start + BATCH).min(total);
        for i in start..end {
            let key = format!("{prefix}:{i}");
            if ttl {
                req.extend(resp(&[b"SET", key.as_bytes(), &value, b"EX", b"100000"]));
            } else {
                req.extend(resp(&[b"SET", key.as_bytes(), &value]));
            }
        }
        s.write_all(&req).unwrap();
        for _ in start..end {
            let line = read_line(&mut r);
            if line != b"+OK" {
                failures.push(line);
            }
        }
    }
    failures
}

fn used(server: &Server) -> u64 {
    server.info_u64("memory", "used_memory")
}

fn eviction_keeps_used_memory_under_the_limit(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut c = server.unix();
    for policy in [
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        assert_eq!(command(&mut c, &[b"FLUSHALL"]), b"+OK");
        let limit = used(&server) + LIMIT_ABOVE_BASE;
        assert_eq!(command(&mut c, &[b"CONFIG", b"SET", b"maxmemory-policy", policy.as_bytes()]), b"+OK");
        assert_eq!(command(&mut c, &[b"CONFIG", b"SET", b"maxmemory", limit.to_string().as_bytes()]), b"+OK");
        let evicted_before = info_u64(&mut c, "stats", "evicted_keys");
        let volatile = policy.starts_with("volatile");
        let writers: Vec<Vec<Vec<u8>>> = std::thread::scope(|scope| {
            let server = &server;
            let handles: Vec<_> = (0..2)
                .map(|w| {
                    scope.spawn(move || flood(server, &format!("w{w}"), 5 * LIMIT_ABOVE_BASE as usize / 2, volatile))
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("writer")).collect()
        });
        for failures in writers {
            assert!(failures.is_empty(), "{policy}: {:?}", String::from_utf8_lossy(&failures[0]));
        }
        let now = used(&server);
        assert!(now <= limit + SLACK_BYTES, "{policy}: used_memory {now} over maxmemory {limit}");
        let evicted = info_u64(&mut c, "stats", "evicted_keys") - evicted_before;
        assert!(evicted > 0, "{policy}: nothing evicted");
        let written = 5 * LIMIT_ABOVE_BASE / VALUE_BYTES as u64;
        let dbsize = common::info(&mut c, "keyspace");
        assert!(!dbsize.contains(&format!("keys={written},")), "{policy}: {dbsize}");
        assert_eq!(command(&mut c, &[b"CONFIG", b"SET", b"maxmemory", b"0"]), b"+OK");
    }
}

fn volatile_policies_evict_only_keys_with_a_ttl(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut c = server.unix();
    for policy in ["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"] {
        assert_eq!(command(&mut c, &[b"FLUSHALL"]), b"+OK");
        let limit = used(&server) + LIMIT_ABOVE_BASE;
        assert_eq!(command(&mut c, &[b"CONFIG", b"SET", b"maxmemory-policy", policy.as_bytes()]), b"+OK");
        assert_eq!(command(&mut c, &[b"CONFIG", b"SET", b"maxmemory", limit.to_string().as_bytes()]), b"+OK");
        // 1 MiB of keys with a TTL, then keys without until the server refuses.
        assert!(flood(&server, "ttl", 1 << 20, true).is_empty());
        let refused = flood(&server, "keep", 2 * LIMIT_ABOVE_BASE as usize, false);
        assert!(!refused.is_empty(), "{policy}: no OOM error");
        assert!(refused.iter().all(|l| l == OOM), "{policy}: {:?}", String::from_utf8_lossy(&refused[0]));
        // Every key with a TTL was evicted before the first refusal; none without.
        assert_eq!(command(&mut c, &[b"EXISTS", b"ttl:0"]), b":0", "{policy}");
        assert_eq!(command(&mut c, &[b"EXISTS", b"keep:0"]), b":1", "{policy}");
        let keyspace = common::info(&mut c, "keyspace");
        assert!(keyspace.contains("expires=0,"), "{policy}: {keyspace}");
        assert_eq!(command(&mut c, &[b"CONFIG", b"SET", b"maxmemory", b"0"]), b"+OK");
    }
}

fn noeviction_refuses_writes_but_serves_reads_and_deletes(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut c = server.unix();
    assert_eq!(command(&mut c, &[b"SET", b"first", b"1"]), b"+OK");
    let limit = used(&server) + LIMIT_ABOVE_BASE;
    assert_eq!(command(&mut c, &[b"CONFIG", b"SET", b"maxmemory", limit.to_string().as_bytes()]), b"+OK");
    let refused = flood(&server, "k", 2 * LIMIT_ABOVE_BASE as usize, false);
    assert!(!refused.is_empty() && refused.iter().all(|l| l == OOM), "{:?}", refused.first());
    // Once the flood's connection is gone (its buffers freed), fill the rest from this one.
    let gone =
        common::eventually(std::time::Duration::from_secs(5), || info_u64(&mut c, "clients", "connected_clients") == 1);
    assert!(gone);
    let value = vec![b'v'; VALUE_BYTES];
    let full = (0..LIMIT_ABOVE_BASE as usize / VALUE_BYTES)
        .any(|i| command(&mut c, &[b"SET", format!("more:{i}").as_bytes(), &value]) == OOM);
    assert!(full);
    assert_eq!(command(&mut c, &[b"SET", b"x", b"y"]), OOM);
    assert_eq!(command(&mut c, &[b"LPUSH", b"l", b"y"]), OOM);
    assert_eq!(command(&mut c, &[b"GET", b"first"]), b"$1");
    assert_eq!(read_line(&mut c), b"1");
    assert_eq!(info_u64(&mut c, "stats", "evicted_keys"), 0);
    // Deleting makes room again.
    let mut deleted = 0;
    for i in 0..(2 * LIMIT_ABOVE_BASE as usize / VALUE_BYTES) {
        if command(&mut c, &[b"DEL", format!("k:{i}").as_bytes(), format!("more:{i}").as_bytes()]) != b":0" {
            deleted += 1;
        }
    }
    assert!(deleted > 0);
    assert_eq!(command(&mut c, &[b"SET", b"x", b"y"]), b"+OK");
    assert_eq!(command(&mut c, &[b"CONFIG", b"GET", b"maxmemory-policy"]), b"*2");
}

engine_tests!(
    eviction_keeps_used_memory_under_the_limit,
    volatile_policies_evict_only_keys_with_a_ttl,
    noeviction_refuses_writes_but_serves_reads_and_deletes,
);
