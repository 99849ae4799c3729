//! Transactions end to end, once per engine (epoll and uring with `--threads 2`): MULTI/EXEC
//! isolation under concurrent readers and writers, WATCH invalidated from other connections
//! and by expiry, EXECABORT, DISCARD, the queue limit, and the `redis` crate's atomic
//! pipelines and `transaction` retry loop.

mod common;

use std::io::Write;
use std::time::Duration;

use common::{read_n, resp, roundtrip, Engine, Server};
use redis::Commands;

engine_tests!(
    exec_is_isolated_from_concurrent_readers,
    watch_invalidated_by_other_connections,
    watch_invalidated_by_expiry,
    execabort_discard_and_nothing_half_applied,
    queue_limit_aborts_the_transaction,
    redis_crate_atomic_pipe,
    redis_crate_transaction_retry_loop,
    one_pipeline_mixes_plain_commands_exec_and_scripts,
    subcommand_errors_abort_the_transaction,
);

/// A subcommand with the wrong number of arguments (or an unknown one) is refused when
/// queued and EXEC aborts, as in Redis 7.0 (found by scripts/redis-diff); nothing queued
/// before it runs.
fn subcommand_errors_abort_the_transaction(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut s = server.unix();
    roundtrip(&mut s, &resp(&[b"MULTI"]), b"+OK\r\n");
    roundtrip(&mut s, &resp(&[b"SET", b"k", b"v"]), b"+QUEUED\r\n");
    roundtrip(
        &mut s,
        &resp(&[b"CLIENT", b"NO-EVICT"]),
        b"-ERR wrong number of arguments for 'client|no-evict' command\r\n",
    );
    roundtrip(&mut s, &resp(&[b"OBJECT", b"NOPE"]), b"-ERR unknown subcommand 'NOPE'. Try OBJECT HELP.\r\n");
    roundtrip(&mut s, &resp(&[b"EXEC"]), b"-EXECABORT Transaction discarded because of previous errors.\r\n");
    roundtrip(&mut s, &resp(&[b"EXISTS", b"k"]), b":0\r\n");
}

/// Clients concurrently run `MULTI; INCR a; INCR b; EXEC` (pipelined in one write, as
/// redis-py and the `redis` crate send it) while readers on other connections check that
/// `MGET a b` never shows a != b; at the end every increment landed exactly once.
fn exec_is_isolated_from_concurrent_readers(engine: Engine) {
    const WRITERS: usize = 4;
    const ROUNDS: usize = 300;
    const READERS: usize = 3;
    const READS: usize = 600;
    let server = Server::start(engine, &[]);
    // Padding between the two INCRs widens the window a non-isolated EXEC would expose.
    const PAD: usize = 30;
    let mut tx = [resp(&[b"MULTI"]), resp(&[b"INCR", b"a"])].concat();
    for i in 0..PAD {
        tx.extend(resp(&[b"SET", format!("pad{i}").as_bytes(), b"x"]));
    }
    tx.extend([resp(&[b"INCR", b"b"]), resp(&[b"EXEC"])].concat());
    let head = ["+OK\r\n", &"+QUEUED\r\n".repeat(PAD + 2), &format!("*{}\r\n", PAD + 2)].concat();
    std::thread::scope(|scope| {
        for _ in 0..WRITERS {
            let (server, tx, head) = (&server, &tx, &head);
            scope.spawn(move || {
                let mut s = server.unix();
                for _ in 0..ROUNDS {
                    s.write_all(tx).unwrap();
                    // +OK, the +QUEUEDs, then EXEC's array: INCR a, the +OKs, INCR b.
                    assert_eq!(read_n(&mut s, head.len()), head.as_bytes());
                    let a = common::read_line(&mut s);
                    let pads = read_n(&mut s, b"+OK\r\n".len() * PAD);
                    assert_eq!(pads, b"+OK\r\n".repeat(PAD));
                    let b = common::read_line(&mut s);
                    assert_eq!(a, b, "EXEC's own replies show a != b");
                }
            });
        }
        for _ in 0..READERS {
            let server = &server;
            scope.spawn(move || {
                let mut con = server.redis();
                for _ in 0..READS {
                    let (a, b): (Option<i64>, Option<i64>) =
                        redis::cmd("MGET").arg("a").arg("b").query(&mut con).unwrap();
                    assert_eq!(a.unwrap_or(0), b.unwrap_or(0), "a reader saw half a transaction");
                }
            });
        }
    });
    let mut con = server.redis();
    let (a, b): (i64, i64) = redis::cmd("MGET").arg("a").arg("b").query(&mut con).unwrap();
    assert_eq!((a, b), ((WRITERS * ROUNDS) as i64, (WRITERS * ROUNDS) as i64));
}

/// WATCH k, then a write to k from another connection (several, so that with two workers
/// at least one is on the other worker) makes EXEC reply a null array and run nothing; a
/// write to a different key does not.
fn watch_invalidated_by_other_connections(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut others: Vec<_> = (0..4).map(|_| server.unix()).collect();
    let mut s = server.unix();
    for (i, other) in others.iter_mut().enumerate() {
        roundtrip(&mut s, &resp(&[b"WATCH", b"k"]), b"+OK\r\n");
        roundtrip(other, &resp(&[b"SET", b"unrelated", b"1"]), b"+OK\r\n");
        let v = format!("v{i}");
        roundtrip(other, &resp(&[b"SET", b"k", v.as_bytes()]), b"+OK\r\n");
        roundtrip(&mut s, &resp(&[b"MULTI"]), b"+OK\r\n");
        roundtrip(&mut s, &resp(&[b"SET", b"ran", b"1"]), b"+QUEUED\r\n");
        roundtrip(&mut s, &resp(&[b"EXEC"]), b"*-1\r\n");
        roundtrip(&mut s, &resp(&[b"EXISTS", b"ran"]), b":0\r\n");
        // Untouched: the transaction runs.
        roundtrip(&mut s, &resp(&[b"WATCH", b"k"]), b"+OK\r\n");
        roundtrip(other, &resp(&[b"SET", b"unrelated", b"2"]), b"+OK\r\n");
        s.write_all(&[resp(&[b"MULTI"]), resp(&[b"GET", b"k"]), resp(&[b"EXEC"])].concat()).unwrap();
        let want = format!("+OK\r\n+QUEUED\r\n*1\r\n$2\r\n{v}\r\n");
        assert_eq!(read_n(&mut s, want.len()), want.as_bytes());
    }
}

/// A watched key that expires before EXEC (found by the active cycle or at EXEC) fails it.
fn watch_invalidated_by_expiry(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut s = server.unix();
    roundtrip(&mut s, &resp(&[b"SET", b"e", b"1", b"PX", b"50"]), b"+OK\r\n");
    roundtrip(&mut s, &resp(&[b"WATCH", b"e"]), b"+OK\r\n");
    std::thread::sleep(Duration::from_millis(300));
    roundtrip(
        &mut s,
        &[resp(&[b"MULTI"]), resp(&[b"SET", b"ran", b"1"]), resp(&[b"EXEC"])].concat(),
        b"+OK\r\n+QUEUED\r\n*-1\r\n",
    );
    roundtrip(&mut s, &resp(&[b"EXISTS", b"ran"]), b":0\r\n");
}

/// Queueing errors make EXEC answer EXECABORT and nothing queued runs, even when the whole
/// sequence arrives in one write; DISCARD drops the queue; errors outside MULTI.
fn execabort_discard_and_nothing_half_applied(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut s = server.unix();
    let batch = [
        resp(&[b"MULTI"]),
        resp(&[b"SET", b"x", b"1"]),
        resp(&[b"NOSUCH", b"arg"]),
        resp(&[b"SET", b"y"]),
        resp(&[b"SET", b"z", b"1"]),
        resp(&[b"EXEC"]),
        resp(&[b"EXISTS", b"x", b"y", b"z"]),
    ]
    .concat();
    let want = "+OK\r\n+QUEUED\r\n-ERR unknown command 'NOSUCH', with args beginning with: 'arg' \r\n\
                -ERR wrong number of arguments for 'set' command\r\n+QUEUED\r\n\
                -EXECABORT Transaction discarded because of previous errors.\r\n:0\r\n";
    roundtrip(&mut s, &batch, want.as_bytes());
    let batch =
        [resp(&[b"MULTI"]), resp(&[b"SET", b"x", b"1"]), resp(&[b"DISCARD"]), resp(&[b"EXISTS", b"x"])].concat();
    roundtrip(&mut s, &batch, b"+OK\r\n+QUEUED\r\n+OK\r\n:0\r\n");
    let batch =
        [resp(&[b"EXEC"]), resp(&[b"DISCARD"]), resp(&[b"MULTI"]), resp(&[b"MULTI"]), resp(&[b"WATCH", b"a"])].concat();
    let want = "-ERR EXEC without MULTI\r\n-ERR DISCARD without MULTI\r\n+OK\r\n\
                -ERR MULTI calls can not be nested\r\n-ERR WATCH inside MULTI is not allowed\r\n";
    roundtrip(&mut s, &batch, want.as_bytes());
    // Those errors do not abort: the transaction still runs.
    roundtrip(&mut s, &[resp(&[b"SET", b"w", b"1"]), resp(&[b"EXEC"])].concat(), b"+QUEUED\r\n*1\r\n+OK\r\n");
}

/// Past the queue's command limit the command is refused and EXEC aborts.
fn queue_limit_aborts_the_transaction(engine: Engine) {
    const LIMIT: usize = 100_000; // ringkv::cmd::multi::QUEUE_COMMANDS_MAX
    let server = Server::start(engine, &[]);
    let mut s = server.unix();
    roundtrip(&mut s, &resp(&[b"MULTI"]), b"+OK\r\n");
    let set = resp(&[b"SET", b"q", b"1"]);
    // Written from another thread: the server stops reading while its replies pile up.
    let mut writer = s.try_clone().unwrap();
    let writing = std::thread::spawn(move || writer.write_all(&set.repeat(LIMIT + 1)).unwrap());
    let queued = read_n(&mut s, b"+QUEUED\r\n".len() * LIMIT);
    assert!(queued.chunks(9).all(|c| c == b"+QUEUED\r\n"));
    let err = common::read_line(&mut s);
    assert!(err.starts_with(b"-ERR Transaction queue limit reached"), "{}", String::from_utf8_lossy(&err));
    writing.join().unwrap();
    roundtrip(&mut s, &resp(&[b"EXEC"]), b"-EXECABORT Transaction discarded because of previous errors.\r\n");
    roundtrip(&mut s, &resp(&[b"EXISTS", b"q"]), b":0\r\n");
}

/// `redis::pipe().atomic()` sends MULTI ... EXEC and gets the queued commands' results.
fn redis_crate_atomic_pipe(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut con = server.redis();
    let (a, b, got): (i64, i64, String) =
        redis::pipe().atomic().incr("a", 1).incr("b", 2).set("s", "v").ignore().get("s").query(&mut con).unwrap();
    assert_eq!((a, b, got.as_str()), (1, 2, "v"));
    // A runtime error inside the transaction is reported, the other commands still ran.
    let result: redis::RedisResult<(i64, i64)> = redis::pipe().atomic().incr("s", 1).incr("a", 1).query(&mut con);
    assert!(result.is_err(), "{result:?}");
    let a: i64 = con.get("a").unwrap();
    assert_eq!(a, 2);
}

/// Concurrent read-modify-write through `redis::transaction` (WATCH, GET, MULTI/SET/EXEC,
/// retried on a null EXEC): no increment is lost.
fn redis_crate_transaction_retry_loop(engine: Engine) {
    const CLIENTS: usize = 4;
    const INCREMENTS: usize = 50;
    let server = Server::start(engine, &[]);
    std::thread::scope(|scope| {
        for _ in 0..CLIENTS {
            let server = &server;
            scope.spawn(move || {
                let mut con = server.redis();
                for _ in 0..INCREMENTS {
                    let (new,): (i64,) = redis::transaction(&mut con, &["cas"], |con, pipe| {
                        let old: Option<i64> = con.get("cas")?;
                        pipe.set("cas", old.unwrap_or(0) + 1).ignore().get("cas").query(con)
                    })
                    .unwrap();
                    assert!(new >= 1);
                }
            });
        }
    });
    let mut con = server.redis();
    let total: i64 = con.get("cas").unwrap();
    assert_eq!(total, (CLIENTS * INCREMENTS) as i64);
}

/// A batch of ordinary commands keeps one isolation read side between its commands
/// (`cmd::execute_batched`); MULTI queueing, EXEC and EVAL in the same pipelined write must
/// release it first (EXEC and scripts take the exclusive side: holding the read side would
/// deadlock or trip the exclusive section's assertion). Meanwhile another connection runs
/// transactions, so the exclusive side is contended.
fn one_pipeline_mixes_plain_commands_exec_and_scripts(engine: Engine) {
    const ROUNDS: usize = 200;
    let server = Server::start(engine, &[]);
    let other = {
        let mut c = server.redis();
        std::thread::spawn(move || {
            for _ in 0..ROUNDS {
                let _: () = redis::pipe().atomic().incr("o", 1).ignore().query(&mut c).unwrap();
            }
        })
    };
    let mut s = server.unix();
    let script = "return redis.call('incr', KEYS[1])";
    for round in 0..ROUNDS {
        let mut req = resp(&[b"SET", b"a", b"1"]);
        req.extend(resp(&[b"INCR", b"a"]));
        req.extend(resp(&[b"MULTI"]));
        req.extend(resp(&[b"INCR", b"a"]));
        req.extend(resp(&[b"EXEC"]));
        req.extend(resp(&[b"EVAL", script.as_bytes(), b"1", b"a"]));
        req.extend(resp(&[b"GET", b"a"]));
        let expect = b"+OK\r\n:2\r\n+OK\r\n+QUEUED\r\n*1\r\n:3\r\n:4\r\n$1\r\n4\r\n";
        s.write_all(&req).unwrap();
        let got = read_n(&mut s, expect.len());
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(expect), "round {round}");
    }
    other.join().unwrap();
    let o: u64 = server.redis().get("o").unwrap();
    assert_eq!(o, ROUNDS as u64);
}
