//! Byte-exact replies of commands from every family in both protocols: each command writes
//! its reply once (`reply::map`, `reply::null`, `reply::verbatim`, …) and the connection's
//! protocol picks the bytes. The expected frames were taken from Redis 7.0.15 (`HELLO 3`,
//! then the command, over a raw socket); the RESP2 column is the same command on a RESP2
//! connection.

use crate::cmd::{run_for_test_in, ClientState};
use crate::config::Config;
use crate::reply::Proto;
use crate::shared::Shared;

/// One request and its reply in RESP3 and in RESP2.
struct Row {
    args: &'static [&'static str],
    resp3: &'static str,
    resp2: &'static str,
}

const fn row(args: &'static [&'static str], resp3: &'static str, resp2: &'static str) -> Row {
    Row { args, resp3, resp2 }
}

/// Run in order on a fresh server per protocol, so both see the same keyspace.
const ROWS: &[Row] = &[
    // connection
    row(&["PING"], "+PONG\r\n", "+PONG\r\n"),
    row(&["ECHO", "hi"], "$2\r\nhi\r\n", "$2\r\nhi\r\n"),
    row(&["CLIENT", "GETNAME"], "_\r\n", "$-1\r\n"),
    row(&["HELLO", "4"], "-NOPROTO unsupported protocol version\r\n", "-NOPROTO unsupported protocol version\r\n"),
    row(
        &["HELLO", "x"],
        "-ERR Protocol version is not an integer or out of range\r\n",
        "-ERR Protocol version is not an integer or out of range\r\n",
    ),
    row(
        &["HELLO", "3", "SETNAME"],
        "-ERR Syntax error in HELLO option 'SETNAME'\r\n",
        "-ERR Syntax error in HELLO option 'SETNAME'\r\n",
    ),
    // server
    row(
        &["CONFIG", "GET", "maxclients"],
        "%1\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n",
        "*2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n",
    ),
    row(&["CONFIG", "GET", "nothing*"], "%0\r\n", "*0\r\n"),
    row(&["COMMAND", "INFO", "nosuch"], "*1\r\n_\r\n", "*1\r\n$-1\r\n"),
    row(&["COMMAND", "DOCS", "nosuch"], "%0\r\n", "*0\r\n"),
    row(&["INFO", "keyspace"], "=16\r\ntxt:# Keyspace\r\n\r\n", "$12\r\n# Keyspace\r\n\r\n"),
    row(&["DBSIZE"], ":0\r\n", ":0\r\n"),
    // strings
    row(&["GET", "k"], "_\r\n", "$-1\r\n"),
    row(&["SET", "k", "v", "GET"], "_\r\n", "$-1\r\n"),
    row(&["SET", "k", "w", "NX"], "_\r\n", "$-1\r\n"),
    row(&["SET", "k", "w", "NX", "GET"], "$1\r\nv\r\n", "$1\r\nv\r\n"),
    row(&["SETNX", "k", "x"], ":0\r\n", ":0\r\n"),
    row(&["MGET", "k", "nokey"], "*2\r\n$1\r\nv\r\n_\r\n", "*2\r\n$1\r\nv\r\n$-1\r\n"),
    row(&["INCRBYFLOAT", "f", "1.5"], "$3\r\n1.5\r\n", "$3\r\n1.5\r\n"),
    row(&["GETEX", "nokey"], "_\r\n", "$-1\r\n"),
    row(&["GETDEL", "nokey"], "_\r\n", "$-1\r\n"),
    row(&["SET", "a", "ohmytext"], "+OK\r\n", "+OK\r\n"),
    row(&["SET", "b", "mynewtext"], "+OK\r\n", "+OK\r\n"),
    row(
        &["LCS", "a", "b", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"],
        "%2\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n",
        "*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n",
    ),
    row(&["LCS", "a", "b", "LEN"], ":6\r\n", ":6\r\n"),
    // keys
    row(&["EXISTS", "k", "nokey"], ":1\r\n", ":1\r\n"),
    row(&["COPY", "k", "k2"], ":1\r\n", ":1\r\n"),
    row(&["EXPIRETIME", "k"], ":-1\r\n", ":-1\r\n"),
    row(&["EXPIRETIME", "nokey"], ":-2\r\n", ":-2\r\n"),
    row(&["TYPE", "nokey"], "+none\r\n", "+none\r\n"),
    row(&["SCAN", "0", "MATCH", "k2"], "*2\r\n$1\r\n0\r\n*1\r\n$2\r\nk2\r\n", "*2\r\n$1\r\n0\r\n*1\r\n$2\r\nk2\r\n"),
    row(&["KEYS", "nomatch*"], "*0\r\n", "*0\r\n"),
    row(&["FLUSHALL"], "+OK\r\n", "+OK\r\n"),
    row(&["RANDOMKEY"], "_\r\n", "$-1\r\n"),
];

fn run(shared: &Shared, client: &mut ClientState, proto: Proto, args: &[&str]) -> String {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    String::from_utf8(run_for_test_in(shared, client, proto, &args)).unwrap()
}

#[test]
fn every_family_replies_in_each_protocol() {
    // Each row's reply in RESP3 and, on a second server, in RESP2.
    for proto in [Proto::Resp3, Proto::Resp2] {
        let shared = Shared::new(Config::defaults());
        let mut client = ClientState::new(&shared);
        for row in ROWS {
            let want = if proto == Proto::Resp3 { row.resp3 } else { row.resp2 };
            assert_eq!(run(&shared, &mut client, proto, row.args), want, "{:?} in {proto:?}", row.args);
        }
    }
}

#[test]
fn hello_replies_with_a_map_in_the_protocol_it_selects() {
    // HELLO 3 answers with a 7-entry map, HELLO 2 with the same 14 items as a flat array,
    // whatever the protocol before; bare HELLO keeps the current one.
    let shared = Shared::new(Config::defaults());
    let mut c = ClientState::new(&shared);
    let version = crate::cmd::server::REDIS_COMPAT_VERSION;
    assert!(version.starts_with("7.0."), "ringkv follows Redis 7.0, not {version}");
    let body = |proto: u8, id: u64| {
        format!(
            "$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n${}\r\n{version}\r\n$5\r\nproto\r\n:{proto}\r\n\
             $2\r\nid\r\n:{id}\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n\
             $7\r\nmodules\r\n*0\r\n",
            version.len()
        )
    };
    let id = c.id;
    assert_eq!(run(&shared, &mut c, Proto::Resp2, &["HELLO", "3"]), format!("%7\r\n{}", body(3, id)));
    assert_eq!(run(&shared, &mut c, Proto::Resp3, &["HELLO", "2"]), format!("*14\r\n{}", body(2, id)));
    assert_eq!(run(&shared, &mut c, Proto::Resp3, &["HELLO"]), format!("%7\r\n{}", body(3, id)));
    assert_eq!(run(&shared, &mut c, Proto::Resp2, &["HELLO"]), format!("*14\r\n{}", body(2, id)));
    let named = run(&shared, &mut c, Proto::Resp2, &["HELLO", "3", "SETNAME", "me"]);
    assert!(named.starts_with("%7\r\n"), "{named}");
    assert_eq!(c.name.as_deref(), Some(&b"me"[..]));
}

#[test]
fn client_info_is_verbatim_text() {
    let shared = Shared::new(Config::defaults());
    let mut c = ClientState::new(&shared);
    let two = run(&shared, &mut c, Proto::Resp2, &["CLIENT", "INFO"]);
    let three = run(&shared, &mut c, Proto::Resp3, &["CLIENT", "INFO"]);
    let text = two.split_once("\r\n").unwrap().1;
    assert!(two.starts_with('$') && text.contains(" resp=2\n"), "{two}");
    // Same line, but the connection now speaks RESP3 and says so.
    let text3 = text.replace(" resp=2\n", " resp=3\n");
    assert_eq!(three, format!("={}\r\ntxt:{text3}", text3.len() - 2 + 4));
}

#[test]
fn command_info_has_redis_7_shape() {
    // Ten fields; flags, ACL categories, tips and subcommands are sets; GET's key spec.
    let shared = Shared::new(Config::defaults());
    let mut c = ClientState::new(&shared);
    let get = run(&shared, &mut c, Proto::Resp3, &["COMMAND", "INFO", "get"]);
    // As redis-server 7.0.15 (the RESP2 form is checked in `cmd::command`).
    let want = "*1\r\n*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n\
                ~3\r\n+@read\r\n+@string\r\n+@fast\r\n~0\r\n~1\r\n%3\r\n$5\r\nflags\r\n~2\r\n+RO\r\n\
                +access\r\n$12\r\nbegin_search\r\n%2\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n%1\r\n\
                $5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n%2\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n\
                %3\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n~0\r\n";
    assert_eq!(get, want);
    // PING as redis-server 7.0.15: `sentinel` is not printed, tips are bulk strings.
    let ping = run(&shared, &mut c, Proto::Resp2, &["COMMAND", "INFO", "ping"]);
    assert_eq!(
        ping,
        "*1\r\n*10\r\n$4\r\nping\r\n:-1\r\n*1\r\n+fast\r\n:0\r\n:0\r\n:0\r\n\
         *2\r\n+@fast\r\n+@connection\r\n*2\r\n$25\r\nrequest_policy:all_shards\r\n\
         $29\r\nresponse_policy:all_succeeded\r\n*0\r\n*0\r\n"
    );
    let docs = run(&shared, &mut c, Proto::Resp3, &["COMMAND", "DOCS", "get"]);
    // summary, since, group and the argument tree.
    assert!(docs.starts_with("%1\r\n$3\r\nget\r\n%4\r\n$7\r\nsummary\r\n"), "{docs}");
}
