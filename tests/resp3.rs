//! RESP3 on every engine: the `redis` crate in RESP3 and RESP2 modes runs commands of every
//! family and sees the reply shapes Redis 7.0 sends (maps, verbatim strings, nulls), and raw
//! `HELLO 3` / `HELLO 2` switch one connection's protocol back and forth, including across
//! large and pipelined outputs that the engines send in several pieces.

mod common;
mod replies;

use std::io::Write;
use std::os::unix::net::UnixStream;

use common::{resp, Engine, Server, IO_TIMEOUT};
use redis::{Commands, Value};
use replies::ReplyReader;
use ringkv::cmd::server::REDIS_COMPAT_VERSION;

engine_tests!(redis_crate_every_family, hello_switches_protocol_on_one_connection);

/// A `redis` crate connection over the Unix socket, in RESP3 or RESP2.
fn connect(server: &Server, resp3: bool) -> redis::Connection {
    let protocol = if resp3 { "resp3" } else { "resp2" };
    let url = format!("redis+unix://{}?protocol={protocol}", server.sock.display());
    let client = redis::Client::open(url.as_str()).expect("redis client");
    let con = client.get_connection_with_timeout(IO_TIMEOUT).expect("redis connect");
    con.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    con
}

/// The value of `key` in a map reply (RESP3) or a flat key/value array (RESP2).
fn field<'a>(reply: &'a Value, key: &str) -> Option<&'a Value> {
    let is_key = |k: &Value| matches!(k, Value::BulkString(b) if b == key.as_bytes());
    match reply {
        Value::Map(pairs) => pairs.iter().find(|(k, _)| is_key(k)).map(|(_, v)| v),
        Value::Array(items) => items.chunks(2).find(|kv| is_key(&kv[0])).map(|kv| &kv[1]),
        _ => None,
    }
}

/// Connection, string, key and server commands through the crate, once per protocol; the
/// crate's typed results are the same, the raw shapes are Redis 7.0's for each protocol.
fn redis_crate_every_family(engine: Engine) {
    let server = Server::start(engine, &[]);
    for resp3 in [true, false] {
        let mut con = connect(&server, resp3);
        let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
        connection_family(&mut con, resp3);
        strings_family(&mut con, resp3);
        keys_family(&mut con);
        server_family(&mut con, resp3);
    }
}

fn connection_family(con: &mut redis::Connection, resp3: bool) {
    let pong: String = redis::cmd("PING").query(con).unwrap();
    assert_eq!(pong, "PONG");
    let echo: String = redis::cmd("ECHO").arg("hi").query(con).unwrap();
    assert_eq!(echo, "hi");
    let name: Value = redis::cmd("CLIENT").arg("GETNAME").query(con).unwrap();
    assert_eq!(name, Value::Nil);
    let _: () = redis::cmd("CLIENT").arg("SETNAME").arg("tester").query(con).unwrap();
    let name: String = redis::cmd("CLIENT").arg("GETNAME").query(con).unwrap();
    assert_eq!(name, "tester");
    let hello: Value = redis::cmd("HELLO").query(con).unwrap();
    assert_eq!(matches!(hello, Value::Map(_)), resp3, "{hello:?}");
    assert_eq!(field(&hello, "proto"), Some(&Value::Int(if resp3 { 3 } else { 2 })));
    assert_eq!(field(&hello, "version"), Some(&Value::BulkString(REDIS_COMPAT_VERSION.into())));
    let info: Value = redis::cmd("CLIENT").arg("INFO").query(con).unwrap();
    match info {
        Value::VerbatimString { text, .. } if resp3 => assert!(text.contains("name=tester"), "{text}"),
        Value::BulkString(text) if !resp3 => assert!(String::from_utf8_lossy(&text).contains("name=tester")),
        other => panic!("CLIENT INFO in resp3={resp3}: {other:?}"),
    }
    let _: () = redis::cmd("SELECT").arg(1).query(con).unwrap();
    let _: () = redis::cmd("SELECT").arg(0).query(con).unwrap();
}

fn strings_family(con: &mut redis::Connection, resp3: bool) {
    let _: () = con.set("k", "v").unwrap();
    let v: String = con.get("k").unwrap();
    assert_eq!(v, "v");
    let missing: Value = redis::cmd("GET").arg("nokey").query(con).unwrap();
    assert_eq!(missing, Value::Nil);
    let got: Vec<Option<String>> = redis::cmd("MGET").arg("k").arg("nokey").query(con).unwrap();
    assert_eq!(got, vec![Some("v".to_string()), None]);
    let created: bool = con.set_nx("k", "w").unwrap();
    assert!(!created);
    assert_eq!(con.incr::<_, _, i64>("n", 5).unwrap(), 5);
    let f: Value = redis::cmd("INCRBYFLOAT").arg("f").arg("1.5").query(con).unwrap();
    assert_eq!(f, Value::BulkString(b"1.5".to_vec()), "INCRBYFLOAT stays a bulk string, as in Redis");
    assert_eq!(con.append::<_, _, i64>("k", "xy").unwrap(), 3);
    let range: String = con.getrange("k", 1, -1).unwrap();
    assert_eq!(range, "xy");
    let getex: Value = redis::cmd("GETEX").arg("nokey").query(con).unwrap();
    assert_eq!(getex, Value::Nil);
    let getdel: Option<String> = con.get_del("k").unwrap();
    assert_eq!(getdel.as_deref(), Some("vxy"));
    let _: bool = con.setbit("bits", 7, true).unwrap();
    assert!(con.getbit::<_, bool>("bits", 7).unwrap());
    assert_eq!(con.bitcount::<_, i64>("bits").unwrap(), 1);
    let _: () = con.set("a", "ohmytext").unwrap();
    let _: () = con.set("b", "mynewtext").unwrap();
    let lcs: Value = redis::cmd("LCS").arg("a").arg("b").arg("IDX").query(con).unwrap();
    assert_eq!(matches!(lcs, Value::Map(_)), resp3, "{lcs:?}");
    assert_eq!(field(&lcs, "len"), Some(&Value::Int(6)));
}

fn keys_family(con: &mut redis::Connection) {
    let _: () = con.set("x", "1").unwrap();
    assert_eq!(con.exists::<_, i64>(&["x", "nokey"]).unwrap(), 1);
    assert!(con.expire::<_, bool>("x", 100).unwrap());
    let ttl: i64 = con.ttl("x").unwrap();
    assert!((1..=100).contains(&ttl), "{ttl}");
    let at: i64 = redis::cmd("EXPIRETIME").arg("x").query(con).unwrap();
    assert!(at > 1_600_000_000, "{at}");
    assert!(con.persist::<_, bool>("x").unwrap());
    let copied: i64 = redis::cmd("COPY").arg("x").arg("y").query(con).unwrap();
    assert_eq!(copied, 1);
    let _: () = con.rename("y", "z").unwrap();
    let kind: String = redis::cmd("TYPE").arg("z").query(con).unwrap();
    assert_eq!(kind, "string");
    let mut scanned: Vec<String> = con.scan_match::<_, String>("z*").unwrap().collect::<Result<_, _>>().unwrap();
    scanned.sort();
    assert_eq!(scanned, vec!["z".to_string()]);
    let keys: Vec<String> = con.keys("z").unwrap();
    assert_eq!(keys, vec!["z".to_string()]);
    assert_eq!(con.del::<_, i64>(&["x", "z"]).unwrap(), 2);
}

fn server_family(con: &mut redis::Connection, resp3: bool) {
    let config: Value = redis::cmd("CONFIG").arg("GET").arg("maxclients").query(con).unwrap();
    assert_eq!(matches!(config, Value::Map(_)), resp3, "{config:?}");
    assert_eq!(field(&config, "maxclients"), Some(&Value::BulkString(b"10000".to_vec())));
    let typed: std::collections::HashMap<String, String> =
        redis::cmd("CONFIG").arg("GET").arg("maxclients").query(con).unwrap();
    assert_eq!(typed["maxclients"], "10000");
    let info: Value = redis::cmd("INFO").arg("server").query(con).unwrap();
    let text = match info {
        Value::VerbatimString { text, .. } if resp3 => text,
        Value::BulkString(text) if !resp3 => String::from_utf8(text).unwrap(),
        other => panic!("INFO in resp3={resp3}: {other:?}"),
    };
    assert!(text.contains(&format!("redis_version:{REDIS_COMPAT_VERSION}\r\n")), "{text}");
    let info: String = redis::cmd("INFO").query(con).unwrap();
    assert!(info.contains("# Server"));
    assert!(dbsize(con) > 0);
    let time: (String, String) = redis::cmd("TIME").query(con).unwrap();
    assert!(time.0.parse::<u64>().unwrap() > 1_600_000_000);
    let info: Value = redis::cmd("COMMAND").arg("INFO").arg("get").arg("nosuch").query(con).unwrap();
    let Value::Array(entries) = info else { panic!("{info:?}") };
    assert!(matches!(&entries[0], Value::Array(fields) if fields.len() == 10), "{entries:?}");
    assert_eq!(entries[1], Value::Nil);
    let docs: Value = redis::cmd("COMMAND").arg("DOCS").arg("get").query(con).unwrap();
    assert_eq!(matches!(docs, Value::Map(_)), resp3, "{docs:?}");
    let _: () = redis::cmd("FLUSHDB").query(con).unwrap();
    assert_eq!(dbsize(con), 0);
}

fn dbsize(con: &mut redis::Connection) -> i64 {
    redis::cmd("DBSIZE").query(con).unwrap()
}

/// Send one command, return its whole reply.
fn ask(r: &mut ReplyReader<UnixStream>, args: &[&[u8]]) -> Vec<u8> {
    r.stream.write_all(&resp(args)).unwrap();
    r.reply()
}

/// On one raw connection: HELLO 3 switches replies to RESP3 and HELLO 2 back; the switch
/// holds across a 4 MiB reply (sent in several pieces) and a thousand pipelined replies.
fn hello_switches_protocol_on_one_connection(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut r = ReplyReader::new(server.unix());

    assert_eq!(ask(&mut r, &[b"GET", b"nokey"]), b"$-1\r\n");
    assert!(ask(&mut r, &[b"HELLO", b"3"]).starts_with(b"%7\r\n$6\r\nserver\r\n"));
    assert_eq!(ask(&mut r, &[b"GET", b"nokey"]), b"_\r\n");
    assert_eq!(ask(&mut r, &[b"CONFIG", b"GET", b"maxclients"]), b"%1\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n");

    let big = vec![b'x'; 4 << 20];
    assert_eq!(ask(&mut r, &[b"SET", b"big", &big]), b"+OK\r\n");
    assert_eq!(ask(&mut r, &[b"GET", b"big"]).len(), big.len() + format!("${}\r\n\r\n", big.len()).len());
    let pipelined: Vec<u8> = (0..1000).flat_map(|_| resp(&[b"GET", b"nokey"])).collect();
    r.stream.write_all(&pipelined).unwrap();
    for i in 0..1000 {
        assert_eq!(r.reply(), b"_\r\n", "pipelined reply {i}");
    }

    assert!(ask(&mut r, &[b"HELLO", b"2"]).starts_with(b"*14\r\n$6\r\nserver\r\n"));
    assert_eq!(ask(&mut r, &[b"GET", b"nokey"]), b"$-1\r\n");
    assert_eq!(ask(&mut r, &[b"HELLO", b"3", b"AUTH", b"default"]), b"-ERR Syntax error in HELLO option 'AUTH'\r\n");
    assert_eq!(ask(&mut r, &[b"GET", b"nokey"]), b"$-1\r\n", "a rejected HELLO keeps the protocol");
}
