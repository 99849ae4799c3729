//! End-to-end behaviour of the collection types, run once per engine on the real binary:
//! the generic commands on every type (TYPE, OBJECT ENCODING, RENAME, COPY, MOVE, EXPIRE,
//! SCAN TYPE, RANDOMKEY), WRONGTYPE, RESP3 reply shapes after HELLO 3, HSCAN/SSCAN/ZSCAN over
//! big collections, LMPOP/ZMPOP, and lazy free: deleting a 5M-member set must not hold up
//! other clients of the same worker.

mod common;
mod replies;

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{resp, Engine, Server};
use replies::ReplyReader;

engine_tests!(
    generic_commands_on_every_type,
    wrongtype_everywhere,
    resp3_shapes,
    scans_cover_big_collections,
    mpop_pops_from_the_first_non_empty_key,
    lazy_free_keeps_other_clients_responsive,
);

struct Conn {
    s: UnixStream,
    r: ReplyReader<UnixStream>,
}

impl Conn {
    fn new(server: &Server) -> Conn {
        let s = server.unix();
        Conn { r: ReplyReader::new(s.try_clone().unwrap()), s }
    }
    /// Send one space-separated command, return its raw reply as text.
    fn cmd(&mut self, line: &str) -> String {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        self.s.write_all(&resp(&args)).unwrap();
        String::from_utf8_lossy(&self.r.reply()).into_owned()
    }
}

const WRONGTYPE: &str = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";

/// One key of every type, built the same way in each test.
fn populate(c: &mut Conn) {
    assert_eq!(c.cmd("SET str v"), "+OK\r\n");
    assert_eq!(c.cmd("HSET hash f v"), ":1\r\n");
    assert_eq!(c.cmd("RPUSH list a b"), ":2\r\n");
    assert_eq!(c.cmd("SADD set 1 2"), ":2\r\n");
    assert_eq!(c.cmd("ZADD zset 1 a"), ":1\r\n");
}

/// TYPE, OBJECT ENCODING, RENAME, COPY, MOVE, EXPIRE, SCAN TYPE and RANDOMKEY work on every
/// type, and RENAME/COPY/MOVE keep the value's contents.
fn generic_commands_on_every_type(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut c = Conn::new(&server);
    populate(&mut c);
    for (key, ty, enc) in [
        ("str", "string", "embstr"),
        ("hash", "hash", "listpack"),
        ("list", "list", "quicklist"),
        ("set", "set", "intset"),
        ("zset", "zset", "listpack"),
    ] {
        assert_eq!(c.cmd(&format!("TYPE {key}")), format!("+{ty}\r\n"));
        assert_eq!(c.cmd(&format!("OBJECT ENCODING {key}")), format!("${}\r\n{enc}\r\n", enc.len()));
        let scanned = c.cmd(&format!("SCAN 0 TYPE {ty} COUNT 1000"));
        assert!(scanned.ends_with(&format!("*1\r\n${}\r\n{key}\r\n", key.len())), "{scanned}");
    }
    assert_eq!(c.cmd("RENAME hash hash2"), "+OK\r\n");
    assert_eq!(c.cmd("HGET hash2 f"), "$1\r\nv\r\n");
    assert_eq!(c.cmd("COPY zset zset2"), ":1\r\n");
    assert_eq!(c.cmd("ZADD zset2 2 b"), ":1\r\n");
    assert_eq!(c.cmd("ZCARD zset"), ":1\r\n", "COPY is deep");
    assert_eq!(c.cmd("MOVE list 1"), ":1\r\n");
    assert_eq!(c.cmd("SELECT 1"), "+OK\r\n");
    assert_eq!(c.cmd("LRANGE list 0 -1"), "*2\r\n$1\r\na\r\n$1\r\nb\r\n");
    assert_eq!(c.cmd("SELECT 0"), "+OK\r\n");
    assert_eq!(c.cmd("PEXPIRE set 1"), ":1\r\n");
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(c.cmd("SCARD set"), ":0\r\n");
    assert_eq!(c.cmd("TYPE set"), "+none\r\n");
    assert_eq!(c.cmd("DEL hash2 zset zset2 str"), ":4\r\n");
    assert_eq!(c.cmd("DBSIZE"), ":0\r\n");
    assert_eq!(c.cmd("RANDOMKEY"), "$-1\r\n");
    assert_eq!(c.cmd("SADD only x"), ":1\r\n");
    assert_eq!(c.cmd("RANDOMKEY"), "$4\r\nonly\r\n");
    assert_eq!(c.cmd("OBJECT ENCODING only"), "$9\r\nhashtable\r\n");
}

/// Every family answers WRONGTYPE for a key of another type, and changes nothing.
fn wrongtype_everywhere(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut c = Conn::new(&server);
    populate(&mut c);
    for line in [
        "GET hash",
        "APPEND list x",
        "INCR set",
        "HSET str f v",
        "HGETALL list",
        "LPUSH hash x",
        "LRANGE set 0 -1",
        "SADD zset x",
        "SMEMBERS hash",
        "ZADD set 1 x",
        "ZRANGE list 0 -1",
        "SINTER set str",
        "ZUNION 2 zset str",
        "LMOVE list str LEFT LEFT",
        "SORT str",
        "BITPOS hash 1",
        "SETBIT zset 1 1",
        "HSCAN list 0",
    ] {
        assert_eq!(c.cmd(line), WRONGTYPE, "{line}");
    }
    assert_eq!(c.cmd("LLEN list"), ":2\r\n");
    assert_eq!(c.cmd("GET str"), "$1\r\nv\r\n");
    assert_eq!(c.cmd("MGET str hash"), "*2\r\n$1\r\nv\r\n$-1\r\n", "MGET answers nil for other types");
}

/// After HELLO 3: HGETALL is a map, SMEMBERS a set, ZSCORE a double, ZRANGE WITHSCORES an
/// array of [member, score] pairs, ZPOPMIN without count a flat pair.
fn resp3_shapes(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut c = Conn::new(&server);
    populate(&mut c);
    // HELLO's reply is a RESP3 map the RESP2 framer cannot read: send it and skip its bytes.
    c.s.write_all(&resp(&[b"HELLO", b"3"])).unwrap();
    c.s.write_all(&resp(&[b"PING"])).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.ends_with(b"+PONG\r\n") {
        let n = std::io::Read::read(&mut c.s, &mut buf).unwrap();
        assert!(n > 0, "closed");
        seen.extend_from_slice(&buf[..n]);
    }
    if seen.starts_with(b"-NOPROTO") {
        // This build does not speak RESP3 yet (HELLO 3 lands with the RESP3 switch); the
        // shapes are also covered by the command unit tests through `run_for_test_in`.
        eprintln!("{}: HELLO 3 refused, RESP3 shapes not checked end to end", engine.name);
        return;
    }
    let mut exact = |line: &str, want: &[u8]| {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        c.s.write_all(&resp(&args)).unwrap();
        let mut got = vec![0u8; want.len()];
        std::io::Read::read_exact(&mut c.s, &mut got).unwrap();
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want), "{line}");
    };
    exact("HGETALL hash", b"%1\r\n$1\r\nf\r\n$1\r\nv\r\n");
    exact("SMEMBERS set", b"~2\r\n$1\r\n1\r\n$1\r\n2\r\n");
    exact("ZSCORE zset a", b",1\r\n");
    exact("ZADD zset 2.5 b", b":1\r\n");
    exact("ZRANGE zset 0 -1 WITHSCORES", b"*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2.5\r\n");
    exact("ZPOPMIN zset", b"*2\r\n$1\r\na\r\n,1\r\n");
    exact("ZSCORE zset nope", b"_\r\n");
}

/// Collect every item of an `*SCAN` iteration over `key` (fields only for HSCAN/ZSCAN).
fn scan_all(c: &mut Conn, cmd: &str, key: &str, step: usize) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut cursor = "0".to_string();
    for _ in 0..100_000 {
        let reply = c.cmd(&format!("{cmd} {key} {cursor} COUNT 17"));
        let lines: Vec<&str> = reply.split("\r\n").collect();
        cursor = lines[2].to_string();
        for item in lines[5..].iter().step_by(2 * step) {
            seen.insert(item.to_string());
        }
        if cursor == "0" {
            return seen;
        }
    }
    panic!("{cmd} did not finish");
}

/// HSCAN, SSCAN and ZSCAN over hashtable/skiplist-encoded values report every element.
fn scans_cover_big_collections(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut c = Conn::new(&server);
    let n = 1000;
    for i in 0..n {
        c.cmd(&format!("HSET h f{i} v"));
        c.cmd(&format!("SADD s m{i}"));
        c.cmd(&format!("ZADD z {i} m{i}"));
    }
    assert_eq!(c.cmd("OBJECT ENCODING z"), "$8\r\nskiplist\r\n");
    let want: BTreeSet<String> = (0..n).map(|i| format!("m{i}")).collect();
    assert_eq!(scan_all(&mut c, "SSCAN", "s", 1), want);
    assert_eq!(scan_all(&mut c, "ZSCAN", "z", 2), want);
    let fields: BTreeSet<String> = (0..n).map(|i| format!("f{i}")).collect();
    assert_eq!(scan_all(&mut c, "HSCAN", "h", 2), fields);
    let matched = c.cmd("SSCAN s 0 MATCH m99* COUNT 100000");
    assert_eq!(matched.matches("\r\nm99").count(), 11, "{matched}");
}

/// LMPOP and ZMPOP skip missing keys and pop from the first non-empty one.
fn mpop_pops_from_the_first_non_empty_key(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("RPUSH l2 a b c"), ":3\r\n");
    assert_eq!(c.cmd("LMPOP 2 l1 l2 RIGHT COUNT 2"), "*2\r\n$2\r\nl2\r\n*2\r\n$1\r\nc\r\n$1\r\nb\r\n");
    assert_eq!(c.cmd("LMPOP 1 l1 LEFT"), "*-1\r\n");
    assert_eq!(c.cmd("ZADD z2 1 a 2 b"), ":2\r\n");
    assert_eq!(c.cmd("ZMPOP 2 z1 z2 MAX"), "*2\r\n$2\r\nz2\r\n*1\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n");
    assert_eq!(c.cmd("ZMPOP 2 z1 z2 MIN COUNT 5"), "*2\r\n$2\r\nz2\r\n*1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n");
    assert_eq!(c.cmd("EXISTS z2"), ":0\r\n");
}

/// Members in the lazy-free test's set (the figure).
const LAZY_SET_MEMBERS: usize = 5_000_000;
/// Members per SADD while building it.
const LAZY_SADD_BATCH: usize = 10_000;
/// SADDs pipelined before their replies are read: small, so no single reply waits long for
/// the ones before it on a loaded machine (each read has the harness's IO timeout).
const LAZY_SADD_WINDOW: usize = 8;
/// Read timeout while building the big set (see the test).
const LAZY_BUILD_READ_TIMEOUT: Duration = Duration::from_secs(120);
/// Generous bound on a PING's round trip while the big DEL runs.
const LAZY_PING_BOUND: Duration = Duration::from_millis(100);
/// Connections pinging during the DEL: with workers assigned round-robin, four of them
/// cover every worker of a 2-thread server, so one shares the DEL's worker.
const LAZY_PINGERS: usize = 4;

/// The 5M-member sets of the four engines would take ~1.5 GB at once: one at a time.
static BIG_SET_LOCK: Mutex<()> = Mutex::new(());

/// DEL of a 5M-member set returns at once and does not delay PINGs on other connections
/// (one of which shares its worker) by more than 100 ms: the set is freed in the background.
fn lazy_free_keeps_other_clients_responsive(engine: Engine) {
    let _one_at_a_time = BIG_SET_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let server = Server::start(engine, &[]);
    let mut c = Conn::new(&server);
    // Building 5M members is not what is tested, and a debug build on a loaded machine can
    // take longer than the harness's per-read timeout for one window (a resize rehashes
    // millions of members): give the builder a generous bound of its own.
    c.s.set_read_timeout(Some(LAZY_BUILD_READ_TIMEOUT)).unwrap();
    // Build the set with pipelined SADDs (replies read in bulk after each window).
    let mut next = 0;
    while next < LAZY_SET_MEMBERS {
        let mut window = Vec::new();
        let mut sent = 0;
        while sent < LAZY_SADD_WINDOW && next < LAZY_SET_MEMBERS {
            let members: Vec<String> = (next..next + LAZY_SADD_BATCH).map(|i| format!("m{i}")).collect();
            let mut args: Vec<&[u8]> = vec![b"SADD", b"big"];
            args.extend(members.iter().map(|m| m.as_bytes()));
            window.extend_from_slice(&resp(&args));
            next += LAZY_SADD_BATCH;
            sent += 1;
        }
        c.s.write_all(&window).unwrap();
        for _ in 0..sent {
            assert_eq!(c.r.reply(), format!(":{LAZY_SADD_BATCH}\r\n").as_bytes());
        }
    }
    assert_eq!(c.cmd("SCARD big"), format!(":{LAZY_SET_MEMBERS}\r\n"));
    let stop = Arc::new(AtomicBool::new(false));
    let pingers: Vec<_> = (0..LAZY_PINGERS)
        .map(|_| {
            let mut p = Conn::new(&server);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut worst = Duration::ZERO;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    assert_eq!(p.cmd("PING"), "+PONG\r\n");
                    worst = worst.max(t.elapsed());
                }
                worst
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    assert_eq!(c.cmd("DEL big"), ":1\r\n");
    let del_time = t.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let worst = pingers.into_iter().map(|h| h.join().unwrap()).max().unwrap();
    assert!(del_time < LAZY_PING_BOUND, "{}: DEL of a 5M set took {del_time:?}", engine.name);
    assert!(worst < LAZY_PING_BOUND, "{}: a PING took {worst:?} while the set was freed", engine.name);
    assert_eq!(c.cmd("EXISTS big"), ":0\r\n");
}
