//! A long script never wedges the worker that received it (issue 12): on every engine, and
//! with one worker for epoll and uring (so every connection shares the script's worker),
//! other clients — connected before the script or during it — get BUSY past
//! `busy-reply-threshold`, SCRIPT KILL / FUNCTION KILL stop a script that did not write,
//! SHUTDOWN NOSAVE ends one that did. Also: pipelined requests after EVAL answer after it, in
//! order (CLIENT REPLY and SELECT as the caller set them); EVAL inside MULTI; a client that
//! disconnects while its script runs. Every "endless" script is bounded by TIME (20 s) in
//! case the kill under test fails, and every socket read has the harness's timeout.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{read_line, resp, roundtrip, Engine, Server};

/// epoll with one event loop: the script's client and every other client share it.
const EPOLL_ONE: Engine = Engine { name: "epoll", args: &["--engine", "epoll", "--threads", "1"] };
/// uring (full mode) with one worker.
const URING_ONE: Engine =
    Engine { name: "uring", args: &["--engine", "uring", "--uring-mode", "full", "--threads", "1"] };

/// `engine_tests!` plus the one-worker epoll and uring configurations.
macro_rules! executor_tests {
    ($($name:ident),* $(,)?) => {
        engine_tests!($($name),*);
        config_tests!([epoll_one_worker => EPOLL_ONE, uring_one_worker => URING_ONE], [$($name),*]);
    };
}

executor_tests!(
    busy_for_every_client_and_script_kill,
    function_kill_stops_a_busy_function,
    unkillable_script_and_shutdown_nosave,
    pipelined_requests_answer_after_the_script_in_order,
    eval_inside_multi_runs_in_the_transaction,
    client_disconnecting_mid_script,
);

const BUSY: &[u8] = b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";
const BUSY_FUNCTION: &[u8] =
    b"-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n";
const UNKILLABLE: &[u8] = b"-UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.\r\n";
/// A read-only script that runs until killed (at most 20 s).
const ENDLESS: &str = "local t = redis.call('TIME') \
                       while tonumber(redis.call('TIME')[1]) < t[1] + 20 do end return 'ran out'";
/// Most control connections a test opens: with two workers and round-robin placement, some
/// of them share the script's worker.
const CONTROLS: usize = 4;
/// The threshold the tests set with CONFIG SET (ms).
const THRESHOLD_MS: u64 = 100;

fn sha1(script: &str) -> String {
    let mut h = sha1_smol::Sha1::new();
    h.update(script.as_bytes());
    h.digest().to_string()
}

/// A server with `busy-reply-threshold` lowered by CONFIG SET, and `CONTROLS` connections
/// opened before the script's (and checked to answer).
fn start(engine: Engine) -> (Server, Vec<std::os::unix::net::UnixStream>) {
    let server = Server::start(engine, &[]);
    let mut first = server.unix();
    let threshold = THRESHOLD_MS.to_string();
    roundtrip(&mut first, &resp(&[b"CONFIG", b"SET", b"busy-reply-threshold", threshold.as_bytes()]), b"+OK\r\n");
    let mut controls = vec![first];
    for _ in 1..CONTROLS {
        let mut c = server.unix();
        roundtrip(&mut c, &resp(&[b"PING"]), b"+PONG\r\n");
        controls.push(c);
    }
    (server, controls)
}

/// Send `script` as EVAL on a new connection; wait until others get BUSY (asked on `ctl`
/// with `probe`, which must answer `busy`). Returns the script's connection.
fn start_busy_script(
    server: &Server,
    ctl: &mut std::os::unix::net::UnixStream,
    request: &[u8],
    busy: &[u8],
) -> std::os::unix::net::UnixStream {
    let mut script_conn = server.unix();
    roundtrip(&mut script_conn, &resp(&[b"PING"]), b"+PONG\r\n");
    let started = Instant::now();
    script_conn.write_all(request).unwrap();
    // A GET may run before the script starts (null); once the script runs it waits, and
    // past the threshold it gets BUSY.
    let busy_line = &busy[..busy.len() - 2];
    let deadline = Instant::now() + common::IO_TIMEOUT;
    loop {
        ctl.write_all(&resp(&[b"GET", b"x"])).unwrap();
        let line = read_line(ctl);
        if line == busy_line {
            break;
        }
        assert_eq!(line, b"$-1", "GET before the script is busy");
        assert!(Instant::now() < deadline, "no BUSY within {:?}", common::IO_TIMEOUT);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(started.elapsed() >= Duration::from_millis(THRESHOLD_MS / 2), "BUSY long before the threshold");
    script_conn
}

/// Every control connection (some on the script's worker) and a new one get BUSY for PING
/// and GET; SCRIPT KILL from one stops the read-only script, whose client gets Redis 7.0's
/// error; everyone is served again.
fn busy_for_every_client_and_script_kill(engine: Engine) {
    let (server, mut controls) = start(engine);
    let request = resp(&[b"EVAL", ENDLESS.as_bytes(), b"0"]);
    let mut script_conn = start_busy_script(&server, &mut controls[0], &request, BUSY);
    for c in controls.iter_mut() {
        roundtrip(c, &resp(&[b"PING"]), BUSY);
        roundtrip(c, &resp(&[b"GET", b"x"]), BUSY);
    }
    let mut late = server.unix();
    roundtrip(&mut late, &resp(&[b"PING"]), BUSY);
    roundtrip(&mut late, &resp(&[b"FUNCTION", b"KILL"]), BUSY);
    roundtrip(&mut late, &resp(&[b"SCRIPT", b"KILL"]), b"+OK\r\n");
    let killed =
        format!("-ERR Script killed by user with SCRIPT KILL... script: {}, on @user_script:1.", sha1(ENDLESS));
    assert_eq!(read_line(&mut script_conn), killed.as_bytes());
    for c in controls.iter_mut().chain([&mut late, &mut script_conn]) {
        roundtrip(c, &resp(&[b"PING"]), b"+PONG\r\n");
    }
    roundtrip(&mut late, &resp(&[b"SCRIPT", b"KILL"]), b"-NOTBUSY No scripts in execution right now.\r\n");
}

/// FCALL of an endless read-only function: BUSY names FUNCTION KILL, which stops it.
fn function_kill_stops_a_busy_function(engine: Engine) {
    let (server, mut controls) = start(engine);
    let lib = format!(
        "#!lua name=spin\nredis.register_function{{function_name='spin', callback=function(keys, args) {ENDLESS} end, flags={{'no-writes'}}}}"
    );
    roundtrip(&mut controls[0], &resp(&[b"FUNCTION", b"LOAD", lib.as_bytes()]), b"$4\r\nspin\r\n");
    let mut script_conn =
        start_busy_script(&server, &mut controls[0], &resp(&[b"FCALL", b"spin", b"0"]), BUSY_FUNCTION);
    for c in controls.iter_mut() {
        roundtrip(c, &resp(&[b"PING"]), BUSY_FUNCTION);
    }
    roundtrip(&mut controls[1], &resp(&[b"FUNCTION", b"KILL"]), b"+OK\r\n");
    assert!(read_line(&mut script_conn).starts_with(b"-ERR Script killed by user with SCRIPT KILL..."));
    roundtrip(&mut script_conn, &resp(&[b"PING"]), b"+PONG\r\n");
}

/// A script that wrote: SCRIPT KILL answers UNKILLABLE, plain SHUTDOWN BUSY, SHUTDOWN NOSAVE
/// (sent on the script's worker with one worker) ends it and the server exits.
fn unkillable_script_and_shutdown_nosave(engine: Engine) {
    let (mut server, mut controls) = start(engine);
    let writer = format!("redis.call('SET', 'w', '1') {ENDLESS}");
    let _script_conn = start_busy_script(&server, &mut controls[0], &resp(&[b"EVAL", writer.as_bytes(), b"0"]), BUSY);
    for c in controls.iter_mut() {
        roundtrip(c, &resp(&[b"SCRIPT", b"KILL"]), UNKILLABLE);
    }
    roundtrip(&mut controls[1], &resp(&[b"SHUTDOWN"]), BUSY);
    controls[2].write_all(&resp(&[b"SHUTDOWN", b"NOSAVE"])).unwrap();
    let status = server.wait_exit().expect("server exits after SHUTDOWN NOSAVE");
    assert!(status.success(), "{status:?}");
}

/// Requests pipelined behind EVAL run after its reply, in order: a 30 ms script, then GET,
/// then more scripts, SELECT and CLIENT REPLY SKIP (the skipped script still runs).
fn pipelined_requests_answer_after_the_script_in_order(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut s = server.unix();
    let slow_incr = "local t = redis.call('TIME') local n = 0 \
                     while (redis.call('TIME')[1] - t[1]) * 1000000 + redis.call('TIME')[2] - t[2] < 30000 do n = n + 1 end \
                     return redis.call('INCR', KEYS[1])";
    let mut pipeline = Vec::new();
    pipeline.extend(resp(&[b"SET", b"n", b"10"]));
    pipeline.extend(resp(&[b"EVAL", slow_incr.as_bytes(), b"1", b"n"]));
    pipeline.extend(resp(&[b"GET", b"n"]));
    pipeline.extend(resp(&[b"EVAL", b"return ARGV[1]", b"0", b"second"]));
    pipeline.extend(resp(&[b"SELECT", b"3"]));
    pipeline.extend(resp(&[b"EVAL", b"return redis.call('SET', KEYS[1], 'in3')", b"1", b"k"]));
    pipeline.extend(resp(&[b"CLIENT", b"REPLY", b"SKIP"]));
    pipeline.extend(resp(&[b"EVAL", b"return redis.call('INCR', KEYS[1])", b"1", b"k3"]));
    pipeline.extend(resp(&[b"GET", b"k3"]));
    pipeline.extend(resp(&[b"GET", b"k"]));
    pipeline.extend(resp(&[b"SELECT", b"0"]));
    pipeline.extend(resp(&[b"EXISTS", b"k"]));
    let expect = b"+OK\r\n:11\r\n$2\r\n11\r\n$6\r\nsecond\r\n+OK\r\n+OK\r\n$1\r\n1\r\n$3\r\nin3\r\n+OK\r\n:0\r\n";
    roundtrip(&mut s, &pipeline, expect);
    // Many scripts in one write: each reply once, in order.
    let rounds = 200;
    let mut many = Vec::new();
    for i in 0..rounds {
        many.extend(resp(&[
            b"EVAL",
            b"return redis.call('INCR', KEYS[1]) .. ':' .. ARGV[1]",
            b"1",
            b"c",
            i.to_string().as_bytes(),
        ]));
    }
    s.write_all(&many).unwrap();
    for i in 0..rounds {
        let body = format!("{}:{i}", i + 1);
        assert_eq!(read_line(&mut s), format!("${}", body.len()).as_bytes());
        assert_eq!(read_line(&mut s), body.as_bytes());
    }
}

/// EVAL queued in MULTI runs inside EXEC (in the transaction's exclusive section).
fn eval_inside_multi_runs_in_the_transaction(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut s = server.unix();
    roundtrip(&mut s, &resp(&[b"MULTI"]), b"+OK\r\n");
    roundtrip(&mut s, &resp(&[b"EVAL", b"return redis.call('INCR', KEYS[1])", b"1", b"m"]), b"+QUEUED\r\n");
    roundtrip(&mut s, &resp(&[b"INCR", b"m"]), b"+QUEUED\r\n");
    roundtrip(&mut s, &resp(&[b"EVAL", b"return redis.call('GET', KEYS[1])", b"1", b"m"]), b"+QUEUED\r\n");
    roundtrip(&mut s, &resp(&[b"EXEC"]), b"*3\r\n:1\r\n:2\r\n$1\r\n2\r\n");
    roundtrip(&mut s, &resp(&[b"EVAL", b"return redis.call('GET', KEYS[1])", b"1", b"m"]), b"$1\r\n2\r\n");
}

/// The script's client goes away mid-script: the server stays up, SCRIPT KILL stops the
/// script, and scripts run again; a short script whose client left also completes.
fn client_disconnecting_mid_script(engine: Engine) {
    let (server, mut controls) = start(engine);
    let script_conn = start_busy_script(&server, &mut controls[0], &resp(&[b"EVAL", ENDLESS.as_bytes(), b"0"]), BUSY);
    drop(script_conn);
    std::thread::sleep(Duration::from_millis(20));
    roundtrip(&mut controls[1], &resp(&[b"PING"]), BUSY);
    roundtrip(&mut controls[1], &resp(&[b"SCRIPT", b"KILL"]), b"+OK\r\n");
    // The script stops at its next hook, just after the OK.
    let deadline = Instant::now() + common::IO_TIMEOUT;
    loop {
        controls[0].write_all(&resp(&[b"PING"])).unwrap();
        let line = read_line(&mut controls[0]);
        if line == b"+PONG" {
            break;
        }
        assert_eq!(line, &BUSY[..BUSY.len() - 2]);
        assert!(Instant::now() < deadline, "the killed script still runs");
        std::thread::sleep(Duration::from_millis(5));
    }
    roundtrip(&mut controls[0], &resp(&[b"EVAL", b"return 7", b"0"]), b":7\r\n");
    // A client that sends a short writing script and closes at once: the write lands.
    let mut gone = server.unix();
    gone.write_all(&resp(&[b"EVAL", b"return redis.call('SET', KEYS[1], 'done')", b"1", b"left"])).unwrap();
    drop(gone);
    assert!(common::eventually(Duration::from_secs(5), || {
        let mut c = server.unix();
        c.write_all(&resp(&[b"EXISTS", b"left"])).unwrap();
        read_line(&mut c) == b":1"
    }));
    roundtrip(&mut controls[2], &resp(&[b"PING"]), b"+PONG\r\n");
}
