//! Admin and introspection commands against the real server, on every engine: CONFIG SET of
//! each runtime parameter changes behaviour at once, SLOWLOG records commands from
//! connections on every worker, SHUTDOWN stops the server cleanly, and COMMAND INFO/DOCS
//! have Redis 7.0's shapes on the wire.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{eventually, read_n, read_to_eof, resp, roundtrip, Engine, Server};

/// Send one request and read one whole reply (any RESP2 type, nested), returned raw.
fn request<S: Read + Write>(s: &mut S, args: &[&[u8]]) -> Vec<u8> {
    s.write_all(&resp(args)).unwrap();
    let mut out = Vec::new();
    read_reply(s, &mut out);
    out
}

fn read_reply<S: Read>(s: &mut S, out: &mut Vec<u8>) {
    let line = common::read_line(s); // without its CRLF
    assert!(!line.is_empty(), "connection closed or empty line");
    out.extend_from_slice(&line);
    out.extend_from_slice(b"\r\n");
    let n: i64 = std::str::from_utf8(&line[1..]).unwrap_or("0").parse().unwrap_or(0);
    match line[0] {
        b'$' if n >= 0 => out.extend(read_n(s, n as usize + 2)),
        b'*' => {
            for _ in 0..n.max(0) {
                read_reply(s, out);
            }
        }
        _ => {}
    }
}

fn config_set<S: Read + Write>(s: &mut S, name: &str, value: &str) {
    assert_eq!(request(s, &[b"CONFIG", b"SET", name.as_bytes(), value.as_bytes()]), b"+OK\r\n", "{name}");
}

/// Lowering maxclients refuses the next client with Redis's error; raising it admits again.
fn config_set_maxclients(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut admin = server.unix();
    // Only `admin` is connected once the harness's probe is gone: then allow just it.
    assert!(eventually(Duration::from_secs(5), || {
        let info = request(&mut admin, &[b"INFO", b"clients"]);
        String::from_utf8_lossy(&info).contains("connected_clients:1\r\n")
    }));
    config_set(&mut admin, "maxclients", "1");
    let mut refused = server.unix();
    assert_eq!(read_to_eof(&mut refused), b"-ERR max number of clients reached\r\n");
    config_set(&mut admin, "maxclients", "10");
    let mut ok = server.unix();
    roundtrip(&mut ok, b"PING\r\n", b"+PONG\r\n");
}

/// requirepass set at runtime: new connections need AUTH; the setter's own connection stays
/// authenticated (as in Redis); clearing it opens the server again.
fn config_set_requirepass(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut admin = server.unix();
    config_set(&mut admin, "requirepass", "s3cret");
    roundtrip(&mut admin, b"PING\r\n", b"+PONG\r\n");
    let mut other = server.unix();
    roundtrip(&mut other, b"GET k\r\n", b"-NOAUTH Authentication required.\r\n");
    roundtrip(&mut other, b"AUTH s3cret\r\n", b"+OK\r\n");
    config_set(&mut other, "requirepass", "");
    let mut open = server.unix();
    roundtrip(&mut open, b"PING\r\n", b"+PONG\r\n");
}

/// timeout set at runtime closes idle clients, including one connected before the change.
fn config_set_timeout(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut before = server.unix();
    roundtrip(&mut before, b"PING\r\n", b"+PONG\r\n");
    let mut admin = server.unix();
    config_set(&mut admin, "timeout", "1");
    let started = Instant::now();
    let mut after = server.unix();
    roundtrip(&mut after, b"PING\r\n", b"+PONG\r\n");
    assert!(read_to_eof(&mut after).is_empty(), "closed without a reply");
    assert!(read_to_eof(&mut before).is_empty());
    // Generous bounds: 1 s of idleness plus up to a 1 s sweep, and the test's IO timeout.
    assert!(started.elapsed() >= Duration::from_millis(900), "{:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());
}

/// proto-max-bulk-len lowered at runtime: a bigger bulk from a new connection is a protocol
/// error; SETRANGE past it is refused on any connection.
fn config_set_proto_max_bulk_len(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut admin = server.unix();
    config_set(&mut admin, "proto-max-bulk-len", "1mb");
    let mut s = server.unix();
    let big = vec![b'x'; (1 << 20) + 1];
    // Only the header: the server refuses the length before the body arrives.
    s.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n").unwrap();
    assert_eq!(read_to_eof(&mut s), b"-ERR Protocol error: invalid bulk length\r\n");
    let got = request(&mut admin, &[b"SETRANGE", b"k", b"1048576", b"x"]);
    assert_eq!(got, b"-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n");
    config_set(&mut admin, "proto-max-bulk-len", "2mb");
    let mut t = server.unix();
    assert_eq!(request(&mut t, &[b"SET", b"k", &big]), b"+OK\r\n");
}

/// CONFIG GET shows the new values; a bad pair makes the whole CONFIG SET fail.
fn config_get_and_atomic_set(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut s = server.unix();
    let bad = request(&mut s, &[b"CONFIG", b"SET", b"timeout", b"5", b"maxclients", b"x"]);
    assert_eq!(bad, b"-ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer\r\n");
    config_set(&mut s, "client-output-buffer-limit", "pubsub 64mb 16mb 30");
    let got = request(&mut s, &[b"CONFIG", b"GET", b"timeout", b"client-output-buffer*"]);
    let limits = "normal 0 0 0 slave 268435456 67108864 60 pubsub 67108864 16777216 30";
    let want = format!(
        "*4\r\n$7\r\ntimeout\r\n$1\r\n0\r\n$26\r\nclient-output-buffer-limit\r\n${}\r\n{limits}\r\n",
        limits.len()
    );
    assert_eq!(String::from_utf8_lossy(&got), want);
}

/// With slowlog-log-slower-than 0, commands from many connections (spread over the workers)
/// are all logged, newest first, with the client's address and name.
fn slowlog_records_every_worker(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut admin = server.unix();
    config_set(&mut admin, "slowlog-max-len", "1000");
    config_set(&mut admin, "slowlog-log-slower-than", "0");
    assert_eq!(request(&mut admin, &[b"SLOWLOG", b"RESET"]), b"+OK\r\n");
    let clients = 8;
    for i in 0..clients {
        let mut c = server.unix();
        let name = format!("c{i}");
        assert_eq!(request(&mut c, &[b"CLIENT", b"SETNAME", name.as_bytes()]), b"+OK\r\n");
        assert_eq!(request(&mut c, &[b"SET", name.as_bytes(), b"v"]), b"+OK\r\n");
    }
    config_set(&mut admin, "slowlog-log-slower-than", "-1");
    let log = String::from_utf8_lossy(&request(&mut admin, &[b"SLOWLOG", b"GET", b"-1"])).into_owned();
    for i in 0..clients {
        let entry = format!("*3\r\n$3\r\nSET\r\n$2\r\nc{i}\r\n$1\r\nv\r\n");
        assert!(log.contains(&entry), "c{i} missing:\n{log}");
        assert!(log.contains(&format!("$2\r\nc{i}\r\n")));
    }
    let sock_peer = format!("{}:0", server.sock.display());
    assert!(log.contains(&sock_peer), "{log}");
    let len = request(&mut admin, &[b"SLOWLOG", b"LEN"]);
    let n: usize = std::str::from_utf8(&len[1..len.len() - 2]).unwrap().parse().unwrap();
    // RESET + 8 × (SETNAME, SET). The CONFIG SET that turned logging off is not logged: as
    // Redis, the threshold is read after the command ran.
    assert_eq!(n, 2 * clients + 1, "{log}");
}

/// SHUTDOWN: no reply to the caller, other clients' connections end, exit status 0, the
/// socket file is gone. Bad combinations are syntax errors and leave the server running.
fn shutdown_stops_the_server(engine: Engine) {
    let mut server = Server::start(engine, &[]);
    let mut other = server.unix();
    roundtrip(&mut other, b"PING\r\n", b"+PONG\r\n");
    let mut s = server.unix();
    assert_eq!(request(&mut s, &[b"SHUTDOWN", b"SAVE", b"NOSAVE"]), b"-ERR syntax error\r\n");
    assert_eq!(request(&mut s, &[b"SHUTDOWN", b"ABORT"]), b"-ERR No shutdown in progress.\r\n");
    s.write_all(&resp(&[b"SHUTDOWN", b"NOSAVE"])).unwrap();
    assert!(read_to_eof(&mut s).is_empty(), "no reply to SHUTDOWN");
    assert!(read_to_eof(&mut other).is_empty());
    let status = server.wait_exit().expect("server exits after SHUTDOWN");
    assert!(status.success(), "exit status {status}");
    assert!(!server.sock.exists(), "socket file left behind");
}

/// COMMAND INFO get and COMMAND DOCS set on the wire, against Redis 7.0's structure.
fn command_info_and_docs_on_the_wire(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut s = server.unix();
    let info = request(&mut s, &[b"COMMAND", b"INFO", b"get"]);
    // Captured from redis-server 7.0.15.
    let want: &[u8] = b"*1\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n";
    assert_eq!(String::from_utf8_lossy(&info), String::from_utf8_lossy(want));
    let docs = String::from_utf8_lossy(&request(&mut s, &[b"COMMAND", b"DOCS", b"set"])).into_owned();
    // Redis's argument entries for SET's key, value, GET and EX seconds (our oneof names
    // differ: Redis names them `condition` / `expiration`).
    for part in [
        "*6\r\n$4\r\nname\r\n$3\r\nkey\r\n$4\r\ntype\r\n$3\r\nkey\r\n$14\r\nkey_spec_index\r\n:0\r\n",
        "*4\r\n$4\r\nname\r\n$5\r\nvalue\r\n$4\r\ntype\r\n$6\r\nstring\r\n",
        "$4\r\nname\r\n$3\r\nget\r\n$4\r\ntype\r\n$10\r\npure-token\r\n$5\r\ntoken\r\n$3\r\nGET\r\n",
        "$4\r\nname\r\n$7\r\nseconds\r\n$4\r\ntype\r\n$7\r\ninteger\r\n$5\r\ntoken\r\n$2\r\nEX\r\n",
        "$4\r\nname\r\n$22\r\nunix-time-milliseconds\r\n$4\r\ntype\r\n$9\r\nunix-time\r\n$5\r\ntoken\r\n$4\r\nPXAT\r\n",
    ] {
        assert!(docs.contains(part), "{part:?} not in\n{docs}");
    }
    assert!(docs.starts_with("*2\r\n$3\r\nset\r\n*8\r\n$7\r\nsummary\r\n"), "{docs}");
}

engine_tests!(
    config_set_maxclients,
    config_set_requirepass,
    config_set_timeout,
    config_set_proto_max_bulk_len,
    config_get_and_atomic_set,
    slowlog_records_every_worker,
    shutdown_stops_the_server,
    command_info_and_docs_on_the_wire,
);
