//! SWAPDB through the real binary, on every engine: contents, deadlines and counts change
//! places; Redis 7.0's error texts; WATCH aborts when a watched key exists in either db
//! before or after; a client blocked in one db is served when the swap brings it data;
//! inside MULTI/EXEC and scripts; and persistence: the AOF replays it, and a BGREWRITEAOF
//! or BGSAVE cut while swaps run restores a consistent state.

mod common;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use common::real_redis::{dump_all, populate};
use common::{eventually, read_line, resp, roundtrip, Engine, Launch, Server};
use redis::Commands;

engine_tests!(
    contents_deadlines_and_counts_change_places,
    errors_are_redis_texts,
    watch_aborts_if_the_key_exists_in_either_db,
    a_client_blocked_in_one_db_is_served_by_the_swap,
    swapdb_in_multi_and_in_scripts,
    the_aof_replays_swaps,
    snapshots_taken_while_swapping_are_consistent,
);

/// Keys per db in the persistence tests: enough that a snapshot spans every shard and takes
/// a while to write, few enough to load quickly.
const SNAPSHOT_KEYS: usize = 3000;
/// Swaps run while a snapshot is written.
const SWAPS_DURING_SNAPSHOT: usize = 50;

fn select(c: &mut redis::Connection, db: i64) {
    let _: () = redis::cmd("SELECT").arg(db).query(c).unwrap();
}

fn swapdb(c: &mut redis::Connection, a: i64, b: i64) {
    let reply: String = redis::cmd("SWAPDB").arg(a).arg(b).query(c).unwrap();
    assert_eq!(reply, "OK");
}

/// The `dbN:` line of INFO keyspace, without its avg_ttl.
fn keyspace_line(server: &Server, db: usize) -> Option<String> {
    let info = server.info("keyspace");
    let line = common::info_field(&info, &format!("db{db}"))?;
    Some(line.split(",avg_ttl").next().unwrap_or_default().to_string())
}

fn contents_deadlines_and_counts_change_places(engine: Engine) {
    // Strings, a list, a hash and deadlines in db 0, other keys in db 1 (one name in both):
    // after SWAPDB 0 1 each db holds the other's keys with their values and deadlines, and
    // DBSIZE / INFO keyspace follow; a client that had SELECTed db 1 sees the new contents.
    let server = Server::start(engine, &[]);
    let mut c = server.redis();
    let mut in1 = server.redis();
    select(&mut in1, 1);
    let _: () = c.set("s", "zero").unwrap();
    let _: () = redis::cmd("SET").arg("t").arg("v").arg("PX").arg(500_000).query(&mut c).unwrap();
    let _: i64 = c.rpush("l", &["a", "b"]).unwrap();
    let _: i64 = c.hset("h", "f", "x").unwrap();
    let _: () = in1.set("s", "one").unwrap();
    let _: () = in1.set("only1", "yes").unwrap();
    let deadline: i64 = redis::cmd("PEXPIRETIME").arg("t").query(&mut c).unwrap();
    assert_eq!(keyspace_line(&server, 0).as_deref(), Some("keys=4,expires=1"));
    swapdb(&mut c, 0, 1);
    assert_eq!(c.get::<_, String>("s").unwrap(), "one");
    assert_eq!(c.get::<_, String>("only1").unwrap(), "yes");
    assert!(!c.exists::<_, bool>("t").unwrap());
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 2);
    assert_eq!(in1.get::<_, String>("s").unwrap(), "zero");
    assert_eq!(in1.lrange::<_, Vec<String>>("l", 0, -1).unwrap(), ["a", "b"]);
    assert_eq!(in1.hget::<_, _, String>("h", "f").unwrap(), "x");
    assert_eq!(redis::cmd("PEXPIRETIME").arg("t").query::<i64>(&mut in1).unwrap(), deadline);
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut in1).unwrap(), 4);
    assert_eq!(keyspace_line(&server, 0).as_deref(), Some("keys=2,expires=0"));
    assert_eq!(keyspace_line(&server, 1).as_deref(), Some("keys=4,expires=1"));
    // Writes after the swap go to the db as it is now; a swap with an empty db empties it.
    let _: () = c.set("after", "1").unwrap();
    swapdb(&mut c, 5, 0);
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 0);
    assert_eq!(keyspace_line(&server, 5).as_deref(), Some("keys=3,expires=0"));
    assert_eq!(keyspace_line(&server, 0), None);
    // A deadline moved into another db still expires there.
    let _: () = redis::cmd("SET").arg("soon").arg("v").arg("PX").arg(50).query(&mut c).unwrap();
    swapdb(&mut c, 0, 7);
    select(&mut c, 7);
    assert!(eventually(Duration::from_secs(5), || keyspace_line(&server, 7).is_none()), "expired in db 7");
}

fn errors_are_redis_texts(engine: Engine) {
    // Arity, unparsable or too large indexes (first, then second), out of range, and the
    // same index (OK, nothing changes), as Redis 7.0 answers them.
    let server = Server::start(engine, &[]);
    let mut s = server.unix();
    let cases: &[(&[&[u8]], &[u8])] = &[
        (&[b"SWAPDB", b"0"], b"-ERR wrong number of arguments for 'swapdb' command\r\n"),
        (&[b"SWAPDB", b"0", b"1", b"2"], b"-ERR wrong number of arguments for 'swapdb' command\r\n"),
        (&[b"SWAPDB", b"a", b"1"], b"-ERR invalid first DB index\r\n"),
        (&[b"SWAPDB", b"0", b"b"], b"-ERR invalid second DB index\r\n"),
        (&[b"SWAPDB", b"x", b"y"], b"-ERR invalid first DB index\r\n"),
        (&[b"SWAPDB", b"1.5", b"0"], b"-ERR invalid first DB index\r\n"),
        (&[b"SWAPDB", b"", b"0"], b"-ERR invalid first DB index\r\n"),
        (&[b"SWAPDB", b"2147483648", b"0"], b"-ERR invalid first DB index\r\n"),
        (&[b"SWAPDB", b"0", b"-2147483649"], b"-ERR invalid second DB index\r\n"),
        (&[b"SWAPDB", b"0", b"16"], b"-ERR DB index is out of range\r\n"),
        (&[b"SWAPDB", b"-1", b"0"], b"-ERR DB index is out of range\r\n"),
        (&[b"SWAPDB", b"2147483647", b"0"], b"-ERR DB index is out of range\r\n"),
        (&[b"SET", b"k", b"v"], b"+OK\r\n"),
        (&[b"SWAPDB", b"0", b"0"], b"+OK\r\n"),
        (&[b"GET", b"k"], b"$1\r\nv\r\n"),
    ];
    for (args, expect) in cases {
        roundtrip(&mut s, &resp(args), expect);
    }
}

/// Run MULTI; SET `key` x; EXEC on `c` (which WATCHes): true if the transaction ran.
fn exec_runs(c: &mut redis::Connection, key: &str) -> bool {
    let _: () = redis::cmd("MULTI").query(c).unwrap();
    let _: String = redis::cmd("SET").arg(key).arg("x").query(c).unwrap();
    let reply: Option<Vec<String>> = redis::cmd("EXEC").query(c).unwrap();
    reply.is_some()
}

fn watch_aborts_if_the_key_exists_in_either_db(engine: Engine) {
    // As Redis's touchAllWatchedKeysInDb: a watcher of key k of a swapped db is aborted when
    // k exists in that db before the swap or after it; a key in neither, or a watcher of
    // another db, is left alone.
    let server = Server::start(engine, &[]);
    let mut other = server.redis();
    let _: () = other.set("in0", "v").unwrap();
    select(&mut other, 1);
    let _: () = other.set("in1", "v").unwrap();
    let watcher = |db: i64, key: &str| {
        let mut c = server.redis();
        select(&mut c, db);
        let _: () = redis::cmd("WATCH").arg(key).query(&mut c).unwrap();
        c
    };
    let mut before = watcher(0, "in0");
    let mut after = watcher(0, "in1");
    let mut into1 = watcher(1, "in0");
    let mut absent = watcher(1, "nowhere");
    let mut elsewhere = watcher(2, "in0");
    swapdb(&mut other, 0, 1);
    assert!(!exec_runs(&mut before, "in0"), "existed in db 0 before the swap");
    assert!(!exec_runs(&mut after, "in1"), "exists in db 0 after the swap");
    assert!(!exec_runs(&mut into1, "in0"), "exists in db 1 after the swap");
    assert!(exec_runs(&mut absent, "nowhere"), "in neither db");
    assert!(exec_runs(&mut elsewhere, "in0"), "db 2 was not swapped");
}

fn a_client_blocked_in_one_db_is_served_by_the_swap(engine: Engine) {
    // BLPOP q in db 1 (on its own connection, possibly another worker) while q is a list in
    // db 0: SWAPDB 0 1 serves it at once; the pop is taken from the db it is in now. A
    // waiter on a key the swap brings no data to keeps waiting.
    let server = Server::start(engine, &[]);
    let mut waiter = server.unix();
    roundtrip(&mut waiter, &resp(&[b"SELECT", b"1"]), b"+OK\r\n");
    waiter.write_all(&resp(&[b"BLPOP", b"q", b"0"])).unwrap();
    let mut idle = server.unix();
    roundtrip(&mut idle, &resp(&[b"SELECT", b"1"]), b"+OK\r\n");
    idle.write_all(&resp(&[b"BLPOP", b"empty", b"0"])).unwrap();
    assert!(eventually(Duration::from_secs(5), || server.info_u64("clients", "blocked_clients") == 2));
    let mut c = server.redis();
    let _: i64 = c.rpush("q", &["first", "second"]).unwrap();
    let _: () = c.set("empty", "a string").unwrap();
    swapdb(&mut c, 0, 1);
    assert_eq!(read_line(&mut waiter), b"*2");
    assert_eq!(read_line(&mut waiter), b"$1");
    assert_eq!(read_line(&mut waiter), b"q");
    assert_eq!(read_line(&mut waiter), b"$5");
    assert_eq!(read_line(&mut waiter), b"first");
    select(&mut c, 1);
    assert_eq!(c.lrange::<_, Vec<String>>("q", 0, -1).unwrap(), ["second"]);
    assert_eq!(server.info_u64("clients", "blocked_clients"), 1, "the waiter on a string stays");
    roundtrip(&mut waiter, &resp(&[b"PING"]), b"+PONG\r\n");
}

fn swapdb_in_multi_and_in_scripts(engine: Engine) {
    // Queued in MULTI and run by EXEC with the commands around it seeing the swap; allowed
    // in scripts (Redis 7.0's flags: write, fast, no noscript), errors included.
    let server = Server::start(engine, &[]);
    let mut c = server.redis();
    let _: () = c.set("a", "0").unwrap();
    let (set, swap, get): (String, String, Option<String>) =
        redis::pipe().atomic().set("b", "0").cmd("SWAPDB").arg(0).arg(1).get("a").query(&mut c).unwrap();
    assert_eq!((set.as_str(), swap.as_str(), get), ("OK", "OK", None));
    select(&mut c, 1);
    assert_eq!(c.mget::<_, Vec<String>>(&["a", "b"]).unwrap(), ["0", "0"]);
    let reply: String = redis::cmd("EVAL").arg("return redis.call('swapdb', 0, 1)").arg(0).query(&mut c).unwrap();
    assert_eq!(reply, "OK");
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 0);
    let err = redis::cmd("EVAL").arg("return redis.call('swapdb', 0, 99)").arg(0).query::<String>(&mut c).unwrap_err();
    assert!(err.to_string().contains("DB index is out of range"), "{err}");
    let mut s = server.unix();
    roundtrip(&mut s, &resp(&[b"MULTI"]), b"+OK\r\n");
    roundtrip(&mut s, &resp(&[b"SWAPDB", b"0"]), b"-ERR wrong number of arguments for 'swapdb' command\r\n");
    roundtrip(&mut s, &resp(&[b"EXEC"]), b"-EXECABORT Transaction discarded because of previous errors.\r\n");
}

fn aof_server(engine: Engine, dir: &Path) -> Server {
    let dir = dir.to_str().unwrap();
    Launch::new(engine).args(&["--appendonly", "yes", "--appendfsync", "everysec", "--dir", dir]).start()
}

fn the_aof_replays_swaps(engine: Engine) {
    // Data of every type and deadlines in dbs 0 and 1, swaps (one with itself, one with an
    // empty db, one that serves a blocked client), writes in between: after a restart from
    // the AOF both dbs hold exactly what they held.
    let data = tempfile::tempdir().unwrap();
    let server = aof_server(engine, data.path());
    let mut c = server.redis();
    populate(&mut c);
    swapdb(&mut c, 0, 1);
    let _: () = c.set("after-first", "x").unwrap();
    swapdb(&mut c, 1, 1);
    swapdb(&mut c, 1, 9);
    swapdb(&mut c, 9, 0);
    let mut waiter = server.unix();
    waiter.write_all(&resp(&[b"BLPOP", b"q", b"0"])).unwrap();
    assert!(eventually(Duration::from_secs(5), || server.info_u64("clients", "blocked_clients") == 1));
    select(&mut c, 1);
    let _: i64 = c.rpush("q", &["a", "b"]).unwrap();
    swapdb(&mut c, 0, 1);
    assert_eq!(read_line(&mut waiter), b"*2");
    let before = dump_all(&mut c);
    assert!(before.iter().any(|l| l.starts_with("0 q list")), "{before:?}");
    drop(c);
    server.stop();
    let server = aof_server(engine, data.path());
    assert_eq!(dump_all(&mut server.redis()), before);
}

/// Wait until INFO persistence no longer shows `field:1`.
fn wait_not(server: &Server, field: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.info("persistence").contains(&format!("{field}:1")) {
        assert!(Instant::now() < deadline, "{field} stayed on");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Fill dbs 0 and 1 with [`SNAPSHOT_KEYS`] keys each, told apart by value.
fn fill_two_dbs(c: &mut redis::Connection) {
    for db in 0..2 {
        select(c, db);
        let mut pipe = redis::pipe();
        for i in 0..SNAPSHOT_KEYS {
            pipe.set(format!("k{i}"), format!("db{db}-{i}")).ignore();
        }
        let _: () = pipe.query(c).unwrap();
    }
    select(c, 0);
}

fn snapshots_taken_while_swapping_are_consistent(engine: Engine) {
    // SWAPDB 0 1 repeatedly right after BGREWRITEAOF, then after BGSAVE: every shard of
    // each db comes back from the same side of every swap (never half of db 0 and half of
    // db 1), after a restart from the rewritten AOF and from the RDB file.
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let launch = |aof: &str| Launch::new(engine).args(&["--appendonly", aof, "--dir", dir, "--save", ""]).start();
    let server = launch("yes");
    let mut c = server.redis();
    fill_two_dbs(&mut c);
    let _: String = redis::cmd("BGREWRITEAOF").query(&mut c).unwrap();
    for _ in 0..SWAPS_DURING_SNAPSHOT {
        swapdb(&mut c, 0, 1);
    }
    wait_not(&server, "aof_rewrite_in_progress");
    let _: String = redis::cmd("BGSAVE").query(&mut c).unwrap();
    for _ in 0..SWAPS_DURING_SNAPSHOT + 1 {
        swapdb(&mut c, 1, 0);
    }
    wait_not(&server, "rdb_bgsave_in_progress");
    assert!(server.info("persistence").contains("rdb_last_bgsave_status:ok"));
    let now = dump_all(&mut c);
    drop(c);
    server.stop();
    let from_aof = launch("yes");
    assert_eq!(dump_all(&mut from_aof.redis()), now, "restart from the rewritten AOF");
    from_aof.stop();
    // The RDB holds the state at the BGSAVE's cut (taken by the saver thread, so after some
    // of the swaps that follow the command): each db wholly from one side, the two opposite.
    let from_rdb = launch("no");
    let got = dump_all(&mut from_rdb.redis());
    assert_eq!(got.len(), now.len());
    let sides: Vec<usize> = (0..2)
        .map(|db| {
            let prefix = format!("{db} ");
            let from = |side: usize| {
                got.iter().filter(|l| l.starts_with(&prefix) && l.contains(&format!("db{side}-"))).count()
            };
            let (zero, one) = (from(0), from(1));
            assert!(zero == 0 || one == 0, "db {db} torn: {zero} keys from db 0, {one} from db 1");
            usize::from(one > 0)
        })
        .collect();
    assert_ne!(sides[0], sides[1], "both dbs from the same side");
}
