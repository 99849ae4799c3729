//! The append-only file through the real binary, on every engine: restart after SIGTERM with
//! each fsync policy, kill -9 under `appendfsync always` writers (no acknowledged write lost,
//! no transaction half-applied), a torn tail at every offset of its last record, a corrupt
//! byte refused with file and offset, a full disk (MISCONF, then recovery), and interop with
//! a real `redis-server` (skipped with a note when it is not installed; CI installs it).

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::real_redis::{dump_all, populate, Redis};
use common::{Engine, Launch, Server};
use redis::Commands;

/// kill -9 rounds per engine (the issue asks for 20 or more).
const KILL_ROUNDS: usize = 20;
/// Writer connections during the kill rounds.
const WRITERS: usize = 8;
/// Full-disk test: 16 KiB writes, 960 KiB in all: more than the 512 KiB the ballast leaves
/// free on the 2 MiB tmpfs, less than the whole of it.
const FULL_DISK_WRITES: usize = 60;

fn aof_server(engine: Engine, dir: &Path, fsync: &str, extra: &[&str]) -> Server {
    let dir = dir.to_str().unwrap();
    let mut args = vec!["--appendonly", "yes", "--appendfsync", fsync, "--dir", dir];
    args.extend_from_slice(extra);
    Launch::new(engine).args(&args).start()
}

fn incr_file(dir: &Path) -> PathBuf {
    dir.join("appendonlydir").join("appendonly.aof.1.incr.aof")
}

fn writes_survive_a_restart_with_every_policy(engine: Engine) {
    // For each policy: strings, counters, lists, hashes, a transaction and a TTL written, the
    // server stopped (SIGTERM), started again on the same directory: everything is back,
    // the TTL still counting down from the same deadline.
    for fsync in ["always", "everysec", "no"] {
        let data = tempfile::tempdir().unwrap();
        let server = aof_server(engine, data.path(), fsync, &[]);
        let mut c = server.redis();
        let _: () = c.set("s", "v").unwrap();
        let _: i64 = c.incr("n", 5).unwrap();
        let _: i64 = c.rpush("l", &["a", "b"]).unwrap();
        let _: i64 = c.hset("h", "f", "x").unwrap();
        let _: () = redis::cmd("SET").arg("t").arg("1").arg("EX").arg(1000).query(&mut c).unwrap();
        let _: () = redis::pipe().atomic().set("m1", "1").set("m2", "2").query(&mut c).unwrap();
        let _: () = redis::cmd("SELECT").arg(2).query(&mut c).unwrap();
        let _: () = c.set("in2", "yes").unwrap();
        let ttl_before: i64 = redis::cmd("PEXPIRETIME").arg("t").query(&mut server.redis()).unwrap();
        assert!(server.info("persistence").contains("aof_enabled:1"));
        drop(c);
        server.stop();
        let server = aof_server(engine, data.path(), fsync, &[]);
        let mut c = server.redis();
        assert_eq!(c.get::<_, String>("s").unwrap(), "v", "{fsync}");
        assert_eq!(c.get::<_, i64>("n").unwrap(), 5);
        assert_eq!(c.lrange::<_, Vec<String>>("l", 0, -1).unwrap(), ["a", "b"]);
        assert_eq!(c.hget::<_, _, String>("h", "f").unwrap(), "x");
        assert_eq!(c.get::<_, String>("m2").unwrap(), "2");
        let ttl_after: i64 = redis::cmd("PEXPIRETIME").arg("t").query(&mut c).unwrap();
        assert_eq!(ttl_after, ttl_before, "the deadline is stored absolute");
        let _: () = redis::cmd("SELECT").arg(2).query(&mut c).unwrap();
        assert_eq!(c.get::<_, String>("in2").unwrap(), "yes");
    }
}

/// What one writer had acknowledged when the server died.
#[derive(Default, Clone, Copy, Debug)]
struct Acked {
    counter: i64,
    list_len: i64,
    tx: i64,
}

/// Writer `i`: INCR, LPUSH and a MULTI block setting two keys to the same number, each
/// checked against what it expects, until the connection dies. Returns what was acknowledged.
fn writer(server_sock: PathBuf, i: usize, start: Acked, stop: Arc<AtomicBool>) -> Acked {
    let mut acked = start;
    let Ok(client) = redis::Client::open(format!("unix://{}", server_sock.display())) else { return acked };
    let Ok(mut c) = client.get_connection() else { return acked };
    while !stop.load(Ordering::Relaxed) {
        let Ok(v) = c.incr::<_, _, i64>(format!("counter:{i}"), 1) else { break };
        assert_eq!(v, acked.counter + 1, "writer {i}: counter");
        acked.counter = v;
        let Ok(len) = c.lpush::<_, _, i64>(format!("list:{i}"), v) else { break };
        assert_eq!(len, acked.list_len + 1, "writer {i}: list");
        acked.list_len = len;
        let n = acked.tx + 1;
        let r: redis::RedisResult<()> =
            redis::pipe().atomic().set(format!("tx:{i}:a"), n).set(format!("tx:{i}:b"), n).query(&mut c);
        if r.is_err() {
            break;
        }
        acked.tx = n;
    }
    acked
}

/// What the restarted server has for writer `i`, checked against what was acknowledged: every
/// acknowledged write present, at most the one in flight beyond it, both keys of the
/// transaction equal.
fn check_writer(c: &mut redis::Connection, i: usize, acked: Acked) -> Acked {
    let counter: i64 = c.get::<_, Option<i64>>(format!("counter:{i}")).unwrap().unwrap_or(0);
    let list_len: i64 = c.llen(format!("list:{i}")).unwrap();
    let a: i64 = c.get::<_, Option<i64>>(format!("tx:{i}:a")).unwrap().unwrap_or(0);
    let b: i64 = c.get::<_, Option<i64>>(format!("tx:{i}:b")).unwrap().unwrap_or(0);
    assert!((acked.counter..=acked.counter + 1).contains(&counter), "writer {i}: counter {counter}, acked {acked:?}");
    assert!((acked.list_len..=acked.list_len + 1).contains(&list_len), "writer {i}: list {list_len}, acked {acked:?}");
    assert_eq!(a, b, "writer {i}: transaction half-applied");
    assert!((acked.tx..=acked.tx + 1).contains(&a), "writer {i}: tx {a}, acked {acked:?}");
    Acked { counter, list_len, tx: a }
}

fn kill_9_under_always_loses_no_acknowledged_write(engine: Engine) {
    // KILL_ROUNDS times: WRITERS connections write for a random 50-250 ms, the server is
    // SIGKILLed mid-stream and restarted on the same directory; every acknowledged write is
    // there, nothing beyond the one write each writer had in flight, no half transaction.
    let data = tempfile::tempdir().unwrap();
    let mut server = aof_server(engine, data.path(), "always", &[]);
    let mut state = [Acked::default(); WRITERS];
    let mut seed = 0x9E37_79B9u64 ^ std::process::id() as u64;
    let mut total = 0;
    for round in 0..KILL_ROUNDS {
        let stop = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..WRITERS)
            .map(|i| {
                let (sock, start, stop) = (server.sock.clone(), state[i], stop.clone());
                std::thread::spawn(move || writer(sock, i, start, stop))
            })
            .collect();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(50 + seed % 200));
        server.kill_and_restart();
        stop.store(true, Ordering::Relaxed);
        let acked: Vec<Acked> = handles.into_iter().map(|h| h.join().expect("writer")).collect();
        let mut c = server.redis();
        for (i, a) in acked.iter().enumerate() {
            total += a.counter - state[i].counter;
            state[i] = check_writer(&mut c, i, *a);
        }
        assert!(round > 0 || total > 0 || acked.iter().all(|a| a.counter == 0));
    }
    assert!(total > 0, "no write was acknowledged in {KILL_ROUNDS} rounds");
}

/// Encode a command as RESP.
fn resp(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

/// An AOF directory in `dir` as ringkv would leave it, with `incr` as its incremental file.
fn write_aof_dir(dir: &Path, incr: &[u8]) {
    let d = dir.join("appendonlydir");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("appendonly.aof.1.base.aof"), b"").unwrap();
    std::fs::write(d.join("appendonly.aof.1.incr.aof"), incr).unwrap();
    std::fs::write(
        d.join("appendonly.aof.manifest"),
        "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n",
    )
    .unwrap();
}

fn torn_tail_loads_at_every_offset_of_the_last_record(engine: Engine) {
    // The last record is a MULTI block; the file cut at every offset inside it loads (with
    // aof-load-truncated yes, the default) with the earlier keys and none of the block; with
    // `no` it refuses to start.
    let head = [resp(&["SELECT", "0"]), resp(&["SET", "a", "1"]), resp(&["RPUSH", "l", "x"])].concat();
    let block = [resp(&["MULTI"]), resp(&["SET", "b", "2"]), resp(&["SET", "c", "3"]), resp(&["EXEC"])].concat();
    let whole = [head.clone(), block.clone()].concat();
    // Every cut of the block would take as many server starts; a stride keeps each engine's
    // run short while still covering cuts in the MULTI, in both SETs and in the EXEC.
    let stride = if engine.name == "uring" { 1 } else { 7 };
    for cut in (head.len() + 1..whole.len()).step_by(stride) {
        let data = tempfile::tempdir().unwrap();
        write_aof_dir(data.path(), &whole[..cut]);
        let server = aof_server(engine, data.path(), "everysec", &[]);
        let mut c = server.redis();
        assert_eq!(c.get::<_, Option<String>>("a").unwrap().as_deref(), Some("1"), "cut {cut}");
        assert_eq!(c.llen::<_, i64>("l").unwrap(), 1);
        assert_eq!(c.exists::<_, i64>(&["b", "c"]).unwrap(), 0, "cut {cut}: half a transaction");
        drop(server);
        assert_eq!(std::fs::metadata(incr_file(data.path())).unwrap().len(), head.len() as u64, "cut back");
    }
    let data = tempfile::tempdir().unwrap();
    write_aof_dir(data.path(), &whole[..whole.len() - 3]);
    let dir = data.path().to_str().unwrap();
    let mut args = engine.args.to_vec();
    args.extend(["--appendonly", "yes", "--aof-load-truncated", "no", "--dir", dir]);
    let (_, err) = common::refuses_to_start(&args);
    assert!(err.contains("Unexpected end of file reading the append only file appendonly.aof.1.incr.aof"), "{err}");
}

fn corrupt_byte_in_the_middle_is_refused_with_file_and_offset(engine: Engine) {
    let records = [resp(&["SET", "a", "1"]), resp(&["SET", "b", "2"]), resp(&["SET", "c", "3"])];
    let mut bytes = records.concat();
    let offset = records[0].len();
    bytes[offset] = b'?'; // the `*` that starts the second record
    let data = tempfile::tempdir().unwrap();
    write_aof_dir(data.path(), &bytes);
    let dir = data.path().to_str().unwrap();
    let mut args = engine.args.to_vec();
    args.extend(["--appendonly", "yes", "--dir", dir]);
    let (_, err) = common::refuses_to_start(&args);
    assert!(
        err.contains(&format!(
            "Bad file format reading the append only file appendonly.aof.1.incr.aof at offset {offset}"
        )),
        "{err}"
    );
}

fn full_disk_gives_misconf_and_recovers(engine: Engine) {
    // A 2 MiB tmpfs with a 1.5 MiB ballast file: writes fill the rest, the write that
    // does not fit leaves its client waiting (not acknowledged) and others get MISCONF (PING
    // too, reads still work); once the ballast is removed the held reply arrives, writes
    // work again, and a restart has every acknowledged write.
    if engine.name == "epoll" {
        // Known limitation: the epoll baseline waits for the fdatasync inside its event loop,
        // so while the disk is full the loop holding the stuck write (loop 0 also accepts)
        // stops serving; only the uring engine holds replies without blocking.
        eprintln!("note: full_disk_gives_misconf_and_recovers skipped on epoll: its loop blocks on the AOF");
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("note: full_disk_gives_misconf_and_recovers skipped: mounting a tmpfs needs root");
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let mnt = data.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"]).arg(&mnt).status();
    if !mounted.is_ok_and(|s| s.success()) {
        eprintln!("note: full_disk_gives_misconf_and_recovers skipped: could not mount a tmpfs");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mnt.clone());
    let ballast = mnt.join("ballast");
    std::fs::write(&ballast, vec![7u8; 1024 * 1024 + 512 * 1024]).unwrap();
    let server = aof_server(engine, &mnt, "always", &[]);
    let value = "v".repeat(16 * 1024);
    let (sock, v) = (server.sock.clone(), value.clone());
    let filler = std::thread::spawn(move || {
        let mut c = redis::Client::open(format!("unix://{}", sock.display())).unwrap().get_connection().unwrap();
        let mut acked = 0;
        for i in 0..FULL_DISK_WRITES {
            match c.set::<_, _, ()>(format!("k{i}"), &v) {
                Ok(()) => acked = i + 1,
                Err(e) => panic!("write {i}: {e}"),
            }
        }
        acked
    });
    // Wait until a write failed (the filler's reply is then held); a probe before that would
    // be a write that waits for the disk too.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !server.info("persistence").contains("aof_last_write_status:err") {
        assert!(Instant::now() < deadline, "no write failed although the disk is full");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut c = server.redis();
    let misconf = loop {
        match c.set::<_, _, ()>("probe", "1") {
            Err(e) if e.to_string().contains("MISCONF") => break e.to_string(),
            _ => {}
        }
        assert!(Instant::now() < deadline, "no MISCONF while the disk is full");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(misconf.contains("Errors writing to the AOF file: No space left on device"), "{misconf}");
    let ping: redis::RedisResult<String> = redis::cmd("PING").query(&mut c);
    assert!(ping.unwrap_err().to_string().contains("MISCONF"));
    let _: Option<String> = c.get("k0").unwrap();
    std::fs::remove_file(&ballast).unwrap();
    let acked = filler.join().expect("the held writes are acknowledged once space is freed");
    assert_eq!(acked, FULL_DISK_WRITES);
    let _: () = c.set("after", "1").unwrap();
    drop(c);
    let server = {
        let _ = server.stop();
        aof_server(engine, &mnt, "always", &[])
    };
    let mut c = server.redis();
    for i in 0..FULL_DISK_WRITES {
        assert_eq!(c.strlen::<_, usize>(format!("k{i}")).unwrap(), value.len(), "k{i}");
    }
    assert_eq!(c.get::<_, String>("after").unwrap(), "1");
}

fn redis_loads_ringkv_aof_and_ringkv_loads_redis_aof(engine: Engine) {
    // ringkv writes, stops; redis-server loads the same directory and reports the same
    // keys, values and deadlines; it writes more and stops; ringkv loads that and agrees.
    let data = tempfile::tempdir().unwrap();
    let server = aof_server(engine, data.path(), "always", &[]);
    let mut c = server.redis();
    populate(&mut c);
    let ours = dump_all(&mut c);
    drop(c);
    server.stop();
    let Some((redis, mut r)) = redis_loads_the_same(data.path(), &ours, "ringkv's AOF") else {
        return;
    };
    let _: () = r.set("from_redis", "1").unwrap();
    let _: i64 = r.lpush("l", "front").unwrap();
    let _: () = redis::cmd("SET").arg("px").arg("1").arg("PX").arg(700_000).query(&mut r).unwrap();
    let theirs = dump_all(&mut r);
    drop(r);
    redis.shutdown();
    let server = aof_server(engine, data.path(), "always", &[]);
    assert_eq!(dump_all(&mut server.redis()), theirs, "ringkv loaded redis-server's AOF differently");
}

fn ringkv_loads_redis_rdb_preamble_aof(engine: Engine) {
    // redis-server with Redis 7.0's default aof-use-rdb-preamble yes: its rewritten
    // directory (an RDB base with the data + an incremental file) loads in ringkv the same;
    // ringkv's own rewrite (an RDB base too) loads back in redis-server.
    let data = tempfile::tempdir().unwrap();
    let Some(redis) = Redis::start(data.path(), &["--appendonly", "yes", "--aof-use-rdb-preamble", "yes"]) else {
        return;
    };
    let mut r = redis.conn().unwrap();
    populate(&mut r);
    let _: String = redis::cmd("BGREWRITEAOF").query(&mut r).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info: String = redis::cmd("INFO").arg("persistence").query(&mut r).unwrap();
        if info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrites:1") {
            break;
        }
        assert!(Instant::now() < deadline, "redis-server's rewrite did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _: () = r.set("after_rewrite", "1").unwrap();
    let theirs = dump_all(&mut r);
    drop(r);
    redis.shutdown();
    let names = std::fs::read_to_string(data.path().join("appendonlydir").join("appendonly.aof.manifest")).unwrap();
    assert!(names.contains(".base.rdb"), "{names}");
    let server = aof_server(engine, data.path(), "always", &[]);
    let mut c = server.redis();
    assert_eq!(dump_all(&mut c), theirs, "ringkv loaded redis-server's RDB-preamble AOF differently");
    let _: String = redis::cmd("BGREWRITEAOF").query(&mut c).unwrap();
    wait_rewrites(&server, 1);
    let _: () = c.set("after_ours", "1").unwrap();
    let ours = dump_all(&mut c);
    drop(c);
    server.stop();
    assert!(manifest_lines(data.path())[0].contains(".base.rdb"));
    let _ = redis_loads_the_same(data.path(), &ours, "ringkv's RDB-preamble AOF");
}

/// The incremental file's commands, upper-cased names first, for "is X recorded" checks.
fn recorded_names(dir: &Path) -> Vec<String> {
    let text = std::fs::read(incr_file(dir)).unwrap();
    let text = String::from_utf8_lossy(&text);
    let mut names = Vec::new();
    let mut lines = text.split("\r\n");
    while let Some(line) = lines.next() {
        if line.starts_with('*') {
            let _len = lines.next();
            names.push(lines.next().unwrap_or_default().to_ascii_uppercase());
        }
    }
    names
}

fn blocking_pops_scripts_and_functions_are_recorded_as_their_effects(engine: Engine) {
    // A BLPOP and a BLMOVE served on behalf of blocked clients by pushes from another
    // connection, a script with two writes, a function library and an FCALL: the file holds
    // LPOP / LMOVE after the push, the script's writes in MULTI/EXEC, FUNCTION LOAD, never
    // BLPOP, BLMOVE, EVAL or FCALL; a restart gives the same data and library.
    let data = tempfile::tempdir().unwrap();
    let server = aof_server(engine, data.path(), "everysec", &[]);
    let mut c = server.redis();
    let blocked = |args: Vec<&'static str>| {
        let mut b = server.redis();
        std::thread::spawn(move || redis::cmd(args[0]).arg(&args[1..]).query::<redis::Value>(&mut b).unwrap())
    };
    let pop = blocked(vec!["BLPOP", "q", "0"]);
    let mv = blocked(vec!["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.info("clients").contains("blocked_clients:2") {
        assert!(Instant::now() < deadline, "clients did not block");
        std::thread::sleep(Duration::from_millis(10));
    }
    let _: i64 = c.rpush("q", &["one", "two"]).unwrap();
    let _: i64 = c.rpush("src", "moved").unwrap();
    pop.join().unwrap();
    mv.join().unwrap();
    let _: () = redis::cmd("EVAL")
        .arg("redis.call('SET', KEYS[1], 'a'); redis.call('SADD', KEYS[2], 'm'); return 1")
        .arg(2)
        .arg("sk")
        .arg("sset")
        .query(&mut c)
        .unwrap();
    let lib = "#!lua name=lib\nredis.register_function('put', function(keys, args) return redis.call('HSET', keys[1], 'f', args[1]) end)";
    let _: String = redis::cmd("FUNCTION").arg("LOAD").arg(lib).query(&mut c).unwrap();
    let _: i64 = redis::cmd("FCALL").arg("put").arg(1).arg("fh").arg("v").query(&mut c).unwrap();
    let _: i64 = c.zadd("z", "m", 2.5).unwrap();
    let _: redis::Value = redis::cmd("BZPOPMIN").arg("z").arg("0").query(&mut c).unwrap();
    let before = dump_all(&mut c);
    drop(c);
    server.stop();
    let names = recorded_names(data.path());
    for absent in ["BLPOP", "BLMOVE", "EVAL", "FCALL", "BZPOPMIN"] {
        assert!(!names.iter().any(|n| n == absent), "{absent} recorded: {names:?}");
    }
    let at = |name: &str| names.iter().position(|n| n == name).unwrap_or_else(|| panic!("no {name}: {names:?}"));
    assert!(at("RPUSH") < at("LPOP"), "the push before the pop it served: {names:?}");
    assert!(at("LPOP") < at("LMOVE") && at("ZPOPMIN") > at("ZADD"), "{names:?}");
    assert!(at("MULTI") < at("SET") && at("SADD") < at("EXEC"), "the script as a transaction: {names:?}");
    assert!(at("FUNCTION") < at("HSET"), "{names:?}");
    let server = aof_server(engine, data.path(), "everysec", &[]);
    let mut c = server.redis();
    assert_eq!(dump_all(&mut c), before);
    let listed: redis::Value = redis::cmd("FUNCTION").arg("LIST").query(&mut c).unwrap();
    assert!(format!("{listed:?}").contains("put"), "the library is back: {listed:?}");
}

/// Keys written before each rewrite test's rewrite (enough for the rewrite to take a while
/// and for writers to hit shards not yet serialized).
const REWRITE_KEYS: usize = 20_000;
/// Rounds of kill -9 during a rewrite, per engine.
const REWRITE_KILL_ROUNDS: usize = 4;

/// `n` keys of every type in db 0 and a few in db 1, written with pipelines.
fn populate_many(c: &mut redis::Connection, n: usize) {
    let mut pipe = redis::pipe();
    for i in 0..n {
        match i % 5 {
            0 => pipe.set(format!("s{i}"), i).ignore(),
            1 => pipe.rpush(format!("l{i}"), &[i, i + 1]).ignore(),
            2 => pipe.hset(format!("h{i}"), "f", i).ignore(),
            3 => pipe.sadd(format!("set{i}"), &[i, i * 2]).ignore(),
            _ => pipe.zadd(format!("z{i}"), "m", i as f64 + 0.5).ignore(),
        };
        if i % 7 == 0 {
            pipe.cmd("PEXPIRE").arg(format!("s{}", i - i % 5)).arg(3_600_000).ignore();
        }
        if i % 1000 == 999 || i + 1 == n {
            let _: () = pipe.query(c).unwrap();
            pipe = redis::pipe();
        }
    }
    let _: () = redis::cmd("SELECT").arg(1).query(c).unwrap();
    let _: () = c.set("db1", "one").unwrap();
    let _: () = redis::cmd("SELECT").arg(0).query(c).unwrap();
}

/// Writer `i` during a rewrite: non-idempotent writes to every type (INCR, LPUSH + RPOP,
/// HINCRBY, SADD, ZINCRBY, APPEND, DEL) on the first `keys` keys of [`populate_many`],
/// spread over every shard, until `stop`.
fn rewrite_writer(sock: PathBuf, i: usize, keys: usize, stop: Arc<AtomicBool>) -> u64 {
    let Ok(client) = redis::Client::open(format!("unix://{}", sock.display())) else { return 0 };
    let Ok(mut c) = client.get_connection() else { return 0 };
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let k = (n as usize * 7919 + i * 104_729) % keys;
        let r: redis::RedisResult<()> = redis::pipe()
            .incr(format!("w{i}:{}", k % 50), 1)
            .ignore()
            .lpush(format!("wl{i}"), n)
            .ignore()
            .cmd("HINCRBY")
            .arg(format!("h{}", k - k % 5 + 2))
            .arg("n")
            .arg(1)
            .ignore()
            .sadd(format!("set{}", k - k % 5 + 3), n)
            .ignore()
            .zincr(format!("z{}", k - k % 5 + 4), "m", 1)
            .ignore()
            .append(format!("s{}", k - k % 5), "+")
            .ignore()
            .del(format!("l{}", k - k % 5 + 1))
            .ignore()
            .query(&mut c);
        if r.is_err() {
            break;
        }
        if n.is_multiple_of(3) {
            let _: redis::RedisResult<Option<String>> = c.rpop(format!("wl{i}"), None);
        }
        n += 1;
    }
    n
}

/// Wait for the rewrite count in INFO to reach `n` (and no rewrite running); returns INFO.
fn wait_rewrites(server: &Server, n: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info = server.info("persistence");
        let done = common::info_field(&info, "aof_rewrites").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        if done >= n && info.contains("aof_rewrite_in_progress:0") {
            return info;
        }
        assert!(!info.contains("aof_last_bgrewrite_status:err"), "the rewrite failed: {info}");
        assert!(Instant::now() < deadline, "no rewrite finished: {info}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The manifest's lines.
fn manifest_lines(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("appendonlydir").join("appendonly.aof.manifest")).unwrap();
    text.lines().map(str::to_string).collect()
}

fn rewrite_under_concurrent_writes_then_restart_gives_the_same_state(engine: Engine) {
    // REWRITE_KEYS keys of every type, then four writers changing keys of every type (and
    // every shard) while BGREWRITEAOF runs, twice; once the writers stop, every key's
    // type, value and deadline is read; after a restart on the rewritten directory the same
    // reads give the same answers. The manifest then names the second base and one
    // incremental file, and the files of before are gone.
    let data = tempfile::tempdir().unwrap();
    let server = aof_server(engine, data.path(), "everysec", &[]);
    let mut c = server.redis();
    populate_many(&mut c, REWRITE_KEYS);
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|i| {
            let (sock, stop) = (server.sock.clone(), stop.clone());
            std::thread::spawn(move || rewrite_writer(sock, i, REWRITE_KEYS, stop))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    for round in 1..=2 {
        let reply: String = redis::cmd("BGREWRITEAOF").query(&mut c).unwrap();
        assert_eq!(reply, "Background append only file rewriting started");
        let info = wait_rewrites(&server, round);
        assert!(info.contains("aof_last_bgrewrite_status:ok"), "{info}");
        std::thread::sleep(Duration::from_millis(30));
    }
    stop.store(true, Ordering::Relaxed);
    let written: u64 = writers.into_iter().map(|h| h.join().expect("writer")).sum();
    assert!(written > 0, "the writers wrote nothing");
    let info = server.info("persistence");
    let base_size = common::info_field(&info, "aof_base_size").and_then(|v| v.parse::<u64>().ok()).unwrap();
    assert!(base_size > REWRITE_KEYS as u64 * 20, "aof_base_size {base_size}");
    let before = dump_all(&mut c);
    drop(c);
    server.stop();
    let lines = manifest_lines(data.path());
    assert_eq!(lines, ["file appendonly.aof.3.base.rdb seq 3 type b", "file appendonly.aof.3.incr.aof seq 3 type i"]);
    let mut names: Vec<String> = std::fs::read_dir(data.path().join("appendonlydir"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["appendonly.aof.3.base.rdb", "appendonly.aof.3.incr.aof", "appendonly.aof.manifest"]);
    let server = aof_server(engine, data.path(), "everysec", &[]);
    let after = dump_all(&mut server.redis());
    assert_eq!(after.len(), before.len());
    for (a, b) in after.iter().zip(&before) {
        assert_eq!(a, b);
    }
}

fn kill_9_during_a_rewrite_keeps_a_loadable_directory(engine: Engine) {
    // REWRITE_KILL_ROUNDS times: BGREWRITEAOF under writers, the server SIGKILLed a random
    // 0-40 ms later (before, during or after the manifest switch); the restart loads the
    // directory and every key written before the rewrite is there.
    let data = tempfile::tempdir().unwrap();
    let mut server = aof_server(engine, data.path(), "always", &[]);
    populate_many(&mut server.redis(), REWRITE_KEYS / 4);
    let mut seed = 0x2545_F491u64 ^ std::process::id() as u64;
    for round in 0..REWRITE_KILL_ROUNDS {
        let stop = Arc::new(AtomicBool::new(false));
        let (sock, stop2) = (server.sock.clone(), stop.clone());
        let w = std::thread::spawn(move || rewrite_writer(sock, round, REWRITE_KEYS / 4, stop2));
        let _: String = redis::cmd("BGREWRITEAOF").query(&mut server.redis()).unwrap_or_default();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(seed % 40));
        server.kill_and_restart();
        stop.store(true, Ordering::Relaxed);
        let _ = w.join();
        let mut c = server.redis();
        let keys: Vec<String> = c.keys("s*").unwrap();
        let plain = keys.iter().filter(|k| !k.starts_with("set")).count();
        assert_eq!(plain, REWRITE_KEYS / 4 / 5, "round {round}: string keys after the restart");
        assert_eq!(c.get::<_, String>("s0").unwrap().trim_end_matches('+'), "0", "round {round}");
    }
}

fn redis_loads_a_rewritten_directory(engine: Engine) {
    // populate + a function library, BGREWRITEAOF, more writes: redis-server loads the
    // rewritten directory (new base + incremental file) with the same keys, values and
    // deadlines.
    let data = tempfile::tempdir().unwrap();
    let server = aof_server(engine, data.path(), "always", &[]);
    let mut c = server.redis();
    populate(&mut c);
    populate_many(&mut c, 500);
    let lib = "#!lua name=rw\nredis.register_function('rwf', function(keys, args) return 1 end)";
    let _: String = redis::cmd("FUNCTION").arg("LOAD").arg(lib).query(&mut c).unwrap();
    let _: String = redis::cmd("BGREWRITEAOF").query(&mut c).unwrap();
    wait_rewrites(&server, 1);
    let _: () = c.set("after_rewrite", "1").unwrap();
    let _: i64 = c.rpush("l", "tail").unwrap();
    let ours = dump_all(&mut c);
    drop(c);
    server.stop();
    let Some((_redis, mut r)) = redis_loads_the_same(data.path(), &ours, "the rewritten AOF") else {
        return;
    };
    let listed: redis::Value = redis::cmd("FUNCTION").arg("LIST").query(&mut r).unwrap();
    assert!(format!("{listed:?}").contains("rwf"), "the library is in the base: {listed:?}");
}

fn bgrewriteaof_with_appendonly_no_writes_the_directory(engine: Engine) {
    // Redis 7.0 allows BGREWRITEAOF with appendonly no: it writes a base and a manifest
    // naming it alone, and appends nothing. Writes after it are not in the directory; a start
    // with appendonly yes loads the base (and adds an incremental file); so does redis-server.
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let server = Launch::new(engine).args(&["--dir", dir, "--save", ""]).start();
    let mut c = server.redis();
    populate(&mut c);
    let ours = dump_all(&mut c);
    let reply: String = redis::cmd("BGREWRITEAOF").query(&mut c).unwrap();
    assert_eq!(reply, "Background append only file rewriting started");
    let info = wait_rewrites(&server, 1);
    assert!(info.contains("aof_enabled:0\r\n") && info.contains("aof_last_bgrewrite_status:ok"), "{info}");
    assert_eq!(manifest_lines(data.path()), ["file appendonly.aof.1.base.rdb seq 1 type b"]);
    let _: () = c.set("after", "1").unwrap();
    let _: String = redis::cmd("BGREWRITEAOF").query(&mut c).unwrap();
    wait_rewrites(&server, 2);
    assert_eq!(manifest_lines(data.path()), ["file appendonly.aof.2.base.rdb seq 2 type b"]);
    assert!(!data.path().join("appendonlydir").join("appendonly.aof.1.base.rdb").exists(), "the old base is gone");
    let _: () = c.set("not_in_the_aof", "1").unwrap();
    let ours_second: Vec<String> = dump_all(&mut c).into_iter().filter(|l| !l.contains("not_in_the_aof")).collect();
    assert_eq!(ours_second.len(), ours.len() + 1);
    drop(c);
    drop(server);
    let server = aof_server(engine, data.path(), "everysec", &["--save", ""]);
    assert_eq!(dump_all(&mut server.redis()), ours_second);
    drop(server);
    let _ = redis_loads_the_same(data.path(), &ours_second, "the directory BGREWRITEAOF wrote with appendonly no");
}

fn the_aof_is_rewritten_automatically_when_it_grows(engine: Engine) {
    // auto-aof-rewrite-min-size 64kb, percentage 100: writing ~200 KB starts rewrites by
    // themselves; INFO reports them and the base holds the data; CONFIG SET 0 turns it off.
    let data = tempfile::tempdir().unwrap();
    // (Uncompressed, so that the base's size shows the data.)
    let server =
        aof_server(engine, data.path(), "no", &["--auto-aof-rewrite-min-size", "64kb", "--rdbcompression", "no"]);
    let mut c = server.redis();
    let cfg: Vec<String> = redis::cmd("CONFIG").arg("GET").arg("auto-aof-rewrite-min-size").query(&mut c).unwrap();
    assert_eq!(cfg, ["auto-aof-rewrite-min-size", "65536"]);
    let value = "v".repeat(1000);
    for i in 0..200 {
        let _: () = c.set(format!("k{}", i % 20), &value).unwrap();
    }
    let info = wait_rewrites(&server, 1);
    let base: u64 = common::info_field(&info, "aof_base_size").unwrap().parse().unwrap();
    assert!(base >= 20 * 1000, "{info}");
    let _: () = redis::cmd("CONFIG").arg("SET").arg("auto-aof-rewrite-percentage").arg(0).query(&mut c).unwrap();
    let rewrites = server.info_u64("persistence", "aof_rewrites");
    for i in 0..400 {
        let _: () = c.set(format!("k{}", i % 20), &value).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.info_u64("persistence", "aof_rewrites"), rewrites, "percentage 0: never");
}

/// Test helper self-check: the RESP encoder matches what a server parses.
fn resp_helper_round_trips(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut s = server.unix();
    s.write_all(&resp(&["SET", "k", "v v"])).unwrap();
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"+OK\r\n");
}

/// Writer connections and writes each in `replies_wait_for_their_fdatasync_under_concurrent_writers`.
const SYNC_WRITERS: usize = 6;
const SYNC_WRITES: usize = 25;

fn aof_fsyncs(c: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("persistence").query(c).unwrap();
    let line = info.lines().find(|l| l.starts_with("aof_fsyncs:")).expect("aof_fsyncs in INFO");
    line["aof_fsyncs:".len()..].trim().parse().unwrap()
}

fn replies_wait_for_their_fdatasync_under_concurrent_writers(engine: Engine) {
    // SYNC_WRITERS connections (on two workers) write at once under `always`, so flushes
    // group writes of several connections and are held for released clients. For every
    // acknowledged SET: an fdatasync completed between sending it and its reply (INFO
    // aof_fsyncs, read on the writer's own connection, moved), and the command is in the
    // incremental file already.
    let data = tempfile::tempdir().unwrap();
    let server = aof_server(engine, data.path(), "always", &[]);
    let path = incr_file(data.path());
    let handles: Vec<_> = (0..SYNC_WRITERS)
        .map(|i| {
            let (mut c, path) = (server.redis(), path.clone());
            std::thread::spawn(move || {
                for n in 0..SYNC_WRITES {
                    let (key, value) = (format!("sync:{i}"), format!("{n}-{}", "x".repeat(i)));
                    let before = aof_fsyncs(&mut c);
                    let _: () = c.set(&key, &value).unwrap();
                    assert!(aof_fsyncs(&mut c) > before, "writer {i}: reply {n} before any fdatasync");
                    let file = std::fs::read(&path).unwrap();
                    let record = resp(&["SET", &key, &value]);
                    assert!(
                        file.windows(record.len()).any(|w| w == record),
                        "writer {i}: SET {n} acknowledged, not in the file"
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("writer");
    }
}

/// Pipelined SETs per connection and connections in `everysec_and_no_fsync_at_their_own_pace`.
const PACE_PIPELINE: usize = 200;
const PACE_CONNECTIONS: usize = 4;
const PACE_ROUNDS: usize = 10;

fn everysec_and_no_fsync_at_their_own_pace(engine: Engine) {
    // Many batches of writes from several connections: `everysec` fdatasyncs about once a
    // second and `no` never (Redis's policies), on every engine: no engine may sync per
    // batch as `always` does. The writes still reach the file.
    for fsync in ["everysec", "no"] {
        let data = tempfile::tempdir().unwrap();
        let server = aof_server(engine, data.path(), fsync, &[]);
        let started = Instant::now();
        let mut conns: Vec<_> = (0..PACE_CONNECTIONS).map(|_| server.unix()).collect();
        for round in 0..PACE_ROUNDS {
            for (i, c) in conns.iter_mut().enumerate() {
                let batch: Vec<u8> = (0..PACE_PIPELINE)
                    .flat_map(|n| resp(&["SET", &format!("pace:{i}:{n}"), &round.to_string()]))
                    .collect();
                c.write_all(&batch).unwrap();
            }
            for c in conns.iter_mut() {
                assert_eq!(common::read_n(c, 5 * PACE_PIPELINE), b"+OK\r\n".repeat(PACE_PIPELINE));
            }
        }
        let fsyncs = server.info_u64("persistence", "aof_fsyncs");
        let seconds = started.elapsed().as_secs();
        match fsync {
            "no" => assert_eq!(fsyncs, 0, "appendfsync no"),
            _ => assert!(fsyncs <= seconds + 2, "appendfsync everysec: {fsyncs} fdatasyncs in {seconds} s"),
        }
        let last = resp(&["SET", &format!("pace:0:{}", PACE_PIPELINE - 1), &(PACE_ROUNDS - 1).to_string()]);
        let path = incr_file(data.path());
        let written = common::eventually(Duration::from_secs(5), || {
            std::fs::read(&path).is_ok_and(|f| f.windows(last.len()).any(|w| w == last))
        });
        assert!(written, "{fsync}: the last write never reached the file");
    }
}

fn shutdown_pipelined_after_writes_keeps_them(engine: Engine) {
    // SETs and SHUTDOWN in one read: the writes before it are in the file SHUTDOWN flushes
    // (a batch's writes may be journaled together at its end: SHUTDOWN must not wait for
    // them forever, nor leave them out).
    for fsync in ["always", "everysec"] {
        let data = tempfile::tempdir().unwrap();
        let mut server = aof_server(engine, data.path(), fsync, &[]);
        let mut c = server.unix();
        let mut batch: Vec<u8> = (0..20).flat_map(|n| resp(&["SET", &format!("k{n}"), "v"])).collect();
        batch.extend(resp(&["INCR", "n"]));
        batch.extend(resp(&["SHUTDOWN"]));
        c.write_all(&batch).unwrap();
        let status = server.wait_exit().expect("SHUTDOWN after pipelined writes exits");
        assert!(status.success(), "{fsync}: {status:?}\n{}", server.stderr());
        drop(server);
        let server = aof_server(engine, data.path(), fsync, &[]);
        let mut c = server.redis();
        assert_eq!(c.get::<_, i64>("n").unwrap(), 1, "{fsync}");
        assert_eq!(c.get::<_, String>("k19").unwrap(), "v", "{fsync}");
    }
}

engine_tests!(
    replies_wait_for_their_fdatasync_under_concurrent_writers,
    everysec_and_no_fsync_at_their_own_pace,
    shutdown_pipelined_after_writes_keeps_them,
    writes_survive_a_restart_with_every_policy,
    scripts_acknowledged_under_always_survive_kill_9,
    kill_9_under_always_loses_no_acknowledged_write,
    torn_tail_loads_at_every_offset_of_the_last_record,
    corrupt_byte_in_the_middle_is_refused_with_file_and_offset,
    full_disk_gives_misconf_and_recovers,
    redis_loads_ringkv_aof_and_ringkv_loads_redis_aof,
    resp_helper_round_trips,
    blocking_pops_scripts_and_functions_are_recorded_as_their_effects,
    rewrite_under_concurrent_writes_then_restart_gives_the_same_state,
    kill_9_during_a_rewrite_keeps_a_loadable_directory,
    redis_loads_a_rewritten_directory,
    bgrewriteaof_with_appendonly_no_writes_the_directory,
    ringkv_loads_redis_rdb_preamble_aof,
    the_aof_is_rewritten_automatically_when_it_grows,
);

/// Under `appendfsync always`, a script's reply is sent only once its writes are durable,
/// also when it ran on the script executor (uring, epoll: the reply is mailed after the
/// executor waited for the fdatasync): kill -9 right after the last reply loses nothing.
fn scripts_acknowledged_under_always_survive_kill_9(engine: Engine) {
    const SCRIPT_CALLS: i64 = 50;
    let data = tempfile::tempdir().unwrap();
    let mut server = aof_server(engine, data.path(), "always", &[]);
    let mut c = server.redis();
    for i in 1..=SCRIPT_CALLS {
        let n: i64 = redis::cmd("EVAL")
            .arg("redis.call('SET', KEYS[2], ARGV[1]); return redis.call('INCR', KEYS[1])")
            .arg(2)
            .arg("n")
            .arg("last")
            .arg(i)
            .query(&mut c)
            .unwrap();
        assert_eq!(n, i);
    }
    drop(c);
    server.kill_and_restart();
    let mut c = server.redis();
    assert_eq!(c.get::<_, i64>("n").unwrap(), SCRIPT_CALLS);
    assert_eq!(c.get::<_, i64>("last").unwrap(), SCRIPT_CALLS);
}

/// A real redis-server started on the AOF directory `dir` (RESP base, as ringkv writes) and
/// checked to hold exactly `ours`; `None` (with a note) when redis-server is not installed.
fn redis_loads_the_same(dir: &Path, ours: &[String], what: &str) -> Option<(Redis, redis::Connection)> {
    let redis = Redis::start(dir, &["--appendonly", "yes", "--aof-use-rdb-preamble", "no"])?;
    let mut r = redis.conn().unwrap();
    assert_eq!(dump_all(&mut r), ours, "redis-server loaded {what} differently");
    Some((redis, r))
}
