//! End-to-end behaviour of `ringkv-server`, run once per engine: real binary, real sockets,
//! driven by the `redis` client library and by raw RESP / inline bytes.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{
    eventually, info_field, line_cmd, read_line, read_n, read_to_eof, resp, roundtrip, Engine, Launch, Server,
};
use redis::Commands;

engine_tests!(
    redis_client_basics,
    binary_keys_and_values,
    seed_session_set_get_exit,
    inline_commands_and_quotes,
    pipelined_thousand_requests_in_one_write,
    request_split_at_every_byte,
    protocol_errors_reply_then_close,
    error_texts_match_redis,
    quit_closes_after_reply,
    large_value_round_trip,
    tcp_listener_serves,
    select_isolates_databases,
    active_expiry_without_access,
    maxclients_refuses_with_redis_error,
    requirepass_gates_commands,
    info_reports_engine_and_counters,
    sigterm_exits_cleanly_and_removes_socket,
    many_concurrent_clients,
    half_close_after_pipeline_gets_every_reply,
    sighup_is_ignored,
    tcp_only_with_empty_unixsocket,
    ready_is_logged_once_naming_the_engine_that_serves,
);

/// The `redis` crate can SET/GET/INCR/DEL/EXPIRE against the server.
fn redis_client_basics(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut con = server.redis();
    let _: () = con.set("greeting", "hello").unwrap();
    let v: String = con.get("greeting").unwrap();
    assert_eq!(v, "hello");
    let missing: Option<String> = con.get("nope").unwrap();
    assert_eq!(missing, None);
    let n: i64 = con.incr("counter", 5).unwrap();
    assert_eq!(n, 5);
    let n: i64 = con.incr("counter", -7).unwrap();
    assert_eq!(n, -2);
    let _: () = redis::cmd("MSET").arg("a").arg("1").arg("b").arg("2").query(&mut con).unwrap();
    let vals: Vec<Option<String>> = redis::cmd("MGET").arg("a").arg("x").arg("b").query(&mut con).unwrap();
    assert_eq!(vals, vec![Some("1".into()), None, Some("2".into())]);
    let ok: bool = con.expire("a", 100).unwrap();
    assert!(ok);
    let ttl: i64 = con.ttl("a").unwrap();
    assert!((99..=100).contains(&ttl), "ttl {ttl}");
    let deleted: i64 = con.del(&["a", "b", "nope"]).unwrap();
    assert_eq!(deleted, 2);
    let size: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size, 2);
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
}

/// Keys and values may contain any byte, including CR, LF and NUL.
fn binary_keys_and_values(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut con = server.redis();
    let key: Vec<u8> = vec![0, b'\r', b'\n', 0xff, b' ', b'"'];
    let value: Vec<u8> = (0..=255u8).collect();
    let _: () = con.set(&key, &value).unwrap();
    let got: Vec<u8> = con.get(&key).unwrap();
    assert_eq!(got, value);
    let len: i64 = con.strlen(&key).unwrap();
    assert_eq!(len, 256);
}

/// The seed program's session, typed as plain lines: SET, GET, EXIT.
fn seed_session_set_get_exit(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut s = server.unix();
    s.write_all(b"SET name ringkv\r\nGET name\nGET missing\r\nEXIT\r\nGET name\r\n").unwrap();
    let all = read_to_eof(&mut s);
    assert_eq!(String::from_utf8_lossy(&all), "+OK\r\n$6\r\nringkv\r\n$-1\r\n+OK\r\n");
}

/// Inline commands honour quotes and escapes like redis-cli / sdssplitargs.
fn inline_commands_and_quotes(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut s = server.unix();
    roundtrip(&mut s, b"SET k \"a b\\x41\\n\"\r\n", b"+OK\r\n");
    roundtrip(&mut s, b"GET k\r\n", b"$5\r\na bA\n\r\n");
    roundtrip(&mut s, b"SET 'single quoted' 'it''\r\n", b"-ERR Protocol error: unbalanced quotes in request\r\n");
    assert!(read_to_eof(&mut s).is_empty(), "connection closes after a protocol error");
    let mut s = server.unix();
    roundtrip(&mut s, b"\r\n\r\nPING\r\n", b"+PONG\r\n");
    // sdssplitargs rules, shared with ringkv-cli: a NUL ends the line; an escaped NUL is data.
    roundtrip(&mut s, b"SET k a\0b c\r\nGET k\r\n", b"+OK\r\n$1\r\na\r\n");
    roundtrip(&mut s, b"SET k \"\\x00z\"\r\nGET k\r\n", b"+OK\r\n$2\r\n\0z\r\n");
    roundtrip(&mut s, b"SET k \"x\0y\"\r\n", b"-ERR Protocol error: unbalanced quotes in request\r\n");
}

/// 1000 requests in a single write get 1000 replies, in order.
fn pipelined_thousand_requests_in_one_write(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut s = server.unix();
    let mut req = Vec::new();
    let mut expect = Vec::new();
    for i in 0..1000 {
        let k = format!("key:{i}");
        let v = format!("value:{i}");
        req.extend(resp(&[b"SET", k.as_bytes(), v.as_bytes()]));
        req.extend(resp(&[b"GET", k.as_bytes()]));
        expect.extend_from_slice(b"+OK\r\n");
        expect.extend(format!("${}\r\n{v}\r\n", v.len()).into_bytes());
    }
    roundtrip(&mut s, &req, &expect);
}

/// A request delivered in two pieces, split at every byte offset, gives the same reply.
fn request_split_at_every_byte(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut s = server.unix();
    let req = resp(&[b"SET", b"split", b"va\r\nlue"]);
    for cut in 1..req.len() {
        s.write_all(&req[..cut]).unwrap();
        s.flush().unwrap();
        std::thread::sleep(Duration::from_millis(1));
        s.write_all(&req[cut..]).unwrap();
        assert_eq!(read_n(&mut s, 5), b"+OK\r\n", "cut at {cut}");
    }
    roundtrip(&mut s, &resp(&[b"GET", b"split"]), b"$7\r\nva\r\nlue\r\n");
}

/// Malformed frames get Redis's protocol error text, then the server closes the connection.
fn protocol_errors_reply_then_close(engine: Engine) {
    let server = Server::start(engine, &[]);
    let cases: &[(&[u8], &str)] = &[
        (b"*1\r\n$x\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1\r\n+GET\r\n", "-ERR Protocol error: expected '$', got '+'\r\n"),
        (b"*abc\r\n", "-ERR Protocol error: invalid multibulk length\r\n"),
        (b"*1\r\n$-5\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
        (b"SET \"unterminated\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"),
    ];
    for (req, want) in cases {
        let mut s = server.unix();
        s.write_all(b"PING\r\n").unwrap();
        s.write_all(req).unwrap();
        let all = read_to_eof(&mut s);
        assert_eq!(String::from_utf8_lossy(&all), format!("+PONG\r\n{want}"));
    }
    // An inline request with no newline within 64 KiB.
    let mut s = server.unix();
    let _ = s.write_all(&vec![b'a'; 70 * 1024]);
    let all = read_to_eof(&mut s);
    assert_eq!(String::from_utf8_lossy(&all), "-ERR Protocol error: too big inline request\r\n");
    // The server is still fine.
    let mut s = server.unix();
    roundtrip(&mut s, b"PING\r\n", b"+PONG\r\n");
}

/// Unknown commands and wrong arity use Redis's exact wording, and the connection stays open.
fn error_texts_match_redis(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut s = server.unix();
    roundtrip(&mut s, &resp(&[b"GET"]), b"-ERR wrong number of arguments for 'get' command\r\n");
    roundtrip(
        &mut s,
        &resp(&[b"FOO", b"a", b"b"]),
        b"-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n",
    );
    roundtrip(&mut s, &resp(&[b"SET", b"k", b"v", b"XX", b"NX"]), b"-ERR syntax error\r\n");
    roundtrip(&mut s, &resp(&[b"SET", b"n", b"x"]), b"+OK\r\n");
    roundtrip(&mut s, &resp(&[b"INCR", b"n"]), b"-ERR value is not an integer or out of range\r\n");
    roundtrip(&mut s, &resp(&[b"SELECT", b"99"]), b"-ERR DB index is out of range\r\n");
    roundtrip(&mut s, &resp(&[b"HELLO", b"4"]), b"-NOPROTO unsupported protocol version\r\n");
    roundtrip(&mut s, b"PING\r\n", b"+PONG\r\n");
}

/// QUIT replies +OK and then the server closes; nothing after it runs.
fn quit_closes_after_reply(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut s = server.unix();
    s.write_all(&[resp(&[b"QUIT"]), resp(&[b"SET", b"after", b"quit"])].concat()).unwrap();
    assert_eq!(read_to_eof(&mut s), b"+OK\r\n");
    let mut s = server.unix();
    roundtrip(&mut s, &resp(&[b"EXISTS", b"after"]), b":0\r\n");
}

/// A 4 MiB value goes in and comes back intact.
fn large_value_round_trip(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut con = server.redis();
    let value: Vec<u8> = (0..4 * 1024 * 1024).map(|i| (i * 31 % 251) as u8).collect();
    let _: () = con.set("big", &value).unwrap();
    let got: Vec<u8> = con.get("big").unwrap();
    assert!(got == value, "4 MiB value differs");
}

/// The TCP listener serves the same commands, and the `redis` crate works over it.
fn tcp_listener_serves(engine: Engine) {
    let server = Server::start_tcp(engine, &[]);
    let mut s = server.tcp();
    roundtrip(&mut s, b"SET t 1\r\nINCR t\r\n", b"+OK\r\n:2\r\n");
    let mut con = server.redis_tcp();
    let v: i64 = con.get("t").unwrap();
    assert_eq!(v, 2);
}

/// SELECT switches between independent databases.
fn select_isolates_databases(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut s = server.unix();
    roundtrip(
        &mut s,
        b"SET k db0\r\nSELECT 3\r\nGET k\r\nSET k db3\r\nSELECT 0\r\nGET k\r\n",
        b"+OK\r\n+OK\r\n$-1\r\n+OK\r\n+OK\r\n$3\r\ndb0\r\n",
    );
}

/// Keys with a TTL vanish by themselves (active expiry), not only when touched.
fn active_expiry_without_access(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut s = server.unix();
    let mut req = Vec::new();
    for i in 0..200 {
        req.extend(resp(&[b"SET", format!("tmp:{i}").as_bytes(), b"x", b"PX", b"100"]));
    }
    req.extend(resp(&[b"SET", b"keep", b"x"]));
    roundtrip(&mut s, &req, &b"+OK\r\n".repeat(201));
    let gone = eventually(Duration::from_secs(5), || line_cmd(&mut s, "DBSIZE") == ":1");
    assert!(gone, "expired keys were not reclaimed by the active cycle");
    let mut con = server.redis();
    let info: String = redis::cmd("INFO").arg("stats").query(&mut con).unwrap();
    let expired: u64 = info_field(&info, "expired_keys").unwrap().parse().unwrap();
    assert!(expired >= 1, "{info}");
}

/// Over --maxclients the client gets Redis's error and is closed; others keep working.
fn maxclients_refuses_with_redis_error(engine: Engine) {
    let server = Server::start(engine, &["--maxclients", "2"]);
    // The harness's probes may still be counted for a moment (a refused connection is
    // retried): wait until `a` is admitted and alone.
    let mut a = server.unix();
    let alone = eventually(Duration::from_secs(5), || {
        let _ = a.write_all(b"INFO clients\r\n");
        let info = String::from_utf8_lossy(&read_line(&mut a)).into_owned();
        let Some(len) = info.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) else {
            a = server.unix();
            return false;
        };
        let body = String::from_utf8_lossy(&read_n(&mut a, len + 2)).into_owned();
        info_field(&body, "connected_clients").as_deref() == Some("1")
    });
    assert!(alone);
    let mut b = server.unix();
    roundtrip(&mut b, b"PING\r\n", b"+PONG\r\n");
    let mut c = server.unix();
    assert_eq!(read_to_eof(&mut c), b"-ERR max number of clients reached\r\n");
    drop(a);
    let ok = eventually(Duration::from_secs(5), || {
        let mut d = server.unix();
        d.write_all(b"PING\r\n").is_ok() && {
            let mut buf = [0u8; 7];
            d.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
        }
    });
    assert!(ok, "a slot freed by a closed client is reusable");
    roundtrip(&mut b, b"PING\r\n", b"+PONG\r\n");
}

/// With --requirepass, commands need AUTH first; wrong passwords get WRONGPASS.
fn requirepass_gates_commands(engine: Engine) {
    let server = Server::start(engine, &["--requirepass", "s3cret"]);
    let mut s = server.unix();
    roundtrip(&mut s, b"GET k\r\n", b"-NOAUTH Authentication required.\r\n");
    roundtrip(&mut s, b"AUTH nope\r\n", b"-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    roundtrip(&mut s, b"AUTH s3cret\r\n", b"+OK\r\n");
    roundtrip(&mut s, b"SET k v\r\nGET k\r\n", b"+OK\r\n$1\r\nv\r\n");
    let mut t = server.unix();
    roundtrip(&mut t, b"AUTH default s3cret\r\nPING\r\n", b"+OK\r\n+PONG\r\n");
}

/// INFO names the engine and counts commands and I/O syscalls.
fn info_reports_engine_and_counters(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut con = server.redis();
    for i in 0..50 {
        let _: () = con.set(format!("k{i}"), i).unwrap();
    }
    let info: String = redis::cmd("INFO").query(&mut con).unwrap();
    let io_engine = info_field(&info, "io_engine").expect("io_engine");
    assert_eq!(io_engine, engine.name);
    let cmds: u64 = info_field(&info, "total_commands_processed").unwrap().parse().unwrap();
    assert!(cmds >= 50, "{cmds}");
    let syscalls: u64 = info_field(&info, "io_syscalls").unwrap().parse().unwrap();
    assert!(syscalls > 0);
    assert_eq!(info_field(&info, "db0").as_deref(), Some("keys=50,expires=0,avg_ttl=0"));
    let connected: u64 = info_field(&info, "connected_clients").unwrap().parse().unwrap();
    assert!(connected >= 1);
}

/// SIGTERM: exit status 0 and the socket file is removed.
fn sigterm_exits_cleanly_and_removes_socket(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut idle = server.unix();
    roundtrip(&mut idle, b"PING\r\n", b"+PONG\r\n");
    let sock = server.sock.clone();
    let status = server.stop();
    assert!(status.success(), "exit status {status}");
    assert!(!sock.exists(), "socket file left behind");
    assert!(read_to_eof(&mut idle).is_empty());
}

/// 50 clients at once, each with its own keys, all see their own writes.
fn many_concurrent_clients(engine: Engine) {
    let server = Server::start(engine, &[]);
    std::thread::scope(|scope| {
        for c in 0..50 {
            let server = &server;
            scope.spawn(move || {
                let mut s = server.unix();
                for i in 0..100 {
                    let k = format!("c{c}:k{i}");
                    roundtrip(&mut s, &resp(&[b"SET", k.as_bytes(), k.as_bytes()]), b"+OK\r\n");
                    let want = format!("${}\r\n{k}\r\n", k.len());
                    roundtrip(&mut s, &resp(&[b"GET", k.as_bytes()]), want.as_bytes());
                }
            });
        }
    });
    let mut con = server.redis();
    let size: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size, 5000);
}

/// The connection rules deliver replies before closing on the peer's EOF: a client that
/// pipelines GETs whose replies total 8 MiB (far over the 256 KiB output pause, so the server
/// holds requests back and stops reading), then shuts down its sending side before reading
/// anything, still reads every reply, in order, and then sees the server close.
fn half_close_after_pipeline_gets_every_reply(engine: Engine) {
    const VALUE_BYTES: usize = 512 * 1024;
    const GETS: usize = 16;
    let server = Server::start(engine, &[]);
    let mut s = server.unix();
    let value: Vec<u8> = (0..VALUE_BYTES).map(|i| b'a' + (i % 26) as u8).collect();
    roundtrip(&mut s, &resp(&[b"SET", b"big", &value]), b"+OK\r\n");
    let mut pipeline = Vec::new();
    for i in 0..GETS {
        pipeline.extend(resp(&[b"GET", b"big"]));
        pipeline.extend(resp(&[b"ECHO", i.to_string().as_bytes()]));
    }
    s.write_all(&pipeline).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let all = read_to_eof(&mut s);
    let mut expected = Vec::new();
    for i in 0..GETS {
        expected.extend(format!("${VALUE_BYTES}\r\n").as_bytes());
        expected.extend(&value);
        expected.extend(b"\r\n");
        let n = i.to_string();
        expected.extend(format!("${}\r\n{n}\r\n", n.len()).as_bytes());
    }
    assert_eq!(all.len(), expected.len(), "every reply arrives before the close");
    assert!(all == expected, "replies arrive whole and in order");
}

/// SIGHUP used to kill the server (exit 129, socket file left, every key lost). Like Redis it
/// is ignored (and logged): the keys survive, and SIGTERM still shuts down cleanly.
fn sighup_is_ignored(engine: Engine) {
    let mut server = Server::start(engine, &[]);
    let mut s = server.unix();
    roundtrip(&mut s, b"SET k survives\r\n", b"+OK\r\n");
    server.signal(libc::SIGHUP);
    assert!(eventually(Duration::from_secs(10), || server.stderr().contains("SIGHUP")), "{}", server.stderr());
    assert_eq!(server.try_exit_status(), None, "{}", server.stderr());
    roundtrip(&mut s, b"GET k\r\n", b"$8\r\nsurvives\r\n");
    roundtrip(&mut server.unix(), b"PING\r\n", b"+PONG\r\n");
    let sock = server.sock.clone();
    assert!(server.stop().success());
    assert!(!sock.exists(), "socket file left behind");
}

/// `--unixsocket ""` (documented as "no Unix socket"; clap used to refuse it) starts a
/// TCP-only server: it serves over TCP and creates no socket file.
fn tcp_only_with_empty_unixsocket(engine: Engine) {
    let server = Launch::new(engine).tcp_only().start();
    let mut con = server.redis_tcp();
    let _: () = con.set("k", "v").unwrap();
    let got: String = con.get("k").unwrap();
    assert_eq!(got, "v");
    let unixsocket: Vec<String> = redis::cmd("CONFIG").arg("GET").arg("unixsocket").query(&mut con).unwrap();
    assert_eq!(unixsocket, ["unixsocket", ""]);
    let files: Vec<_> = std::fs::read_dir(server.dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files, ["stderr.log"], "only the harness's log file is in the server's directory");
}

/// The `ready` line is logged once, after the engine is settled, naming the engine and mode
/// that serve (it used to say `engine="uring"` before a fallback or a basic-mode downgrade).
fn ready_is_logged_once_naming_the_engine_that_serves(engine: Engine) {
    let server = Server::start(engine, &[]);
    let log = server.stderr();
    let ready: Vec<&str> = log.lines().filter(|l| l.contains(" ready")).collect();
    assert_eq!(ready.len(), 1, "{log}");
    assert!(ready[0].contains(&format!("engine=\"{}\"", engine.name)), "{log}");
    assert!(ready[0].contains(&format!("unix:{}", server.sock.display())), "{log}");
}
