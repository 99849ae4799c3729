//! Random arguments to every command, run once per engine: each request must get exactly one
//! well-formed reply (the unsubscribe family: one per channel), the connection must stay open
//! and the server must log no panic. The commands come from the server's own COMMAND table;
//! the arguments from a small vocabulary of keys of every type, edge-case numbers, the
//! tokens COMMAND DOCS lists (`WITHSCORES`, `LIMIT`, `PXAT`, ...), subcommand names and
//! random bytes. Half the connections speak RESP3.
//!
//! Commands that end, block or reconfigure the connection or the server (SHUTDOWN, DEBUG,
//! blocking pops, MULTI, CLIENT, CONFIG, ACL, ...) are left to their own tests.
//!
//! Seeded and bounded: `RINGKV_FUZZ_SEED` and `RINGKV_FUZZ_COMMANDS` replay or lengthen a run.

mod common;
mod replies;

use std::io::Write;
use std::os::unix::net::UnixStream;

use common::{resp, Engine, Rng, Server};
use replies::ReplyReader;

engine_tests!(random_arguments_get_one_reply_each);

/// Commands per engine unless `RINGKV_FUZZ_COMMANDS` says otherwise.
const COMMANDS_DEFAULT: usize = 4000;
/// Commands on one connection before the next is opened (and the keys set up again).
const COMMANDS_PER_CONNECTION: usize = 400;

/// Not fuzzed here: they end or park the connection, block, stop or reconfigure the server,
/// or change the connection's mode (each has its own tests).
const SKIP: &[&str] = &[
    "shutdown",
    "debug",
    "monitor",
    "sync",
    "psync",
    "replicaof",
    "slaveof",
    "failover",
    "hello",
    "subscribe",
    "psubscribe",
    "ssubscribe",
    "quit",
    "reset",
    "exit",
    "auth",
    "acl",
    "config",
    "client",
    "wait",
    "waitaof",
    "save",
    "bgsave",
    "bgrewriteaof",
    "blpop",
    "brpop",
    "blmove",
    "brpoplpush",
    "bzpopmin",
    "bzpopmax",
    "blmpop",
    "bzmpop",
    "xread",
    "xreadgroup",
    "module",
    "latency",
    "select",
    "swapdb",
    "multi",
    "exec",
    "watch",
    "cluster",
    "readonly",
    "readwrite",
    "asking",
    "migrate",
    "restore-asking",
];
/// Subcommands left out for the same reasons (a script or function killed under another
/// client's feet is the scripting tests' business).
const SKIP_SUB: &[(&str, &str)] = &[("script", "kill"), ("function", "kill")];
/// Replies once per channel or pattern named.
const MANY_REPLIES: &[&str] = &["unsubscribe", "punsubscribe", "sunsubscribe"];

const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "3",
    "10",
    "100",
    "-100",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "18446744073709551615",
    "1.5",
    "-1.5",
    "inf",
    "-inf",
    "+inf",
    "nan",
    "1e308",
    "-1e308",
    "(1",
    "(-1",
    "[a",
    "(a",
    "-",
    "+",
    "abc",
    "",
    "0x10",
    " 1",
    "1 ",
    "99999999999999999999999",
];
const KEYS: &[&str] = &["s1", "s2", "l1", "l2", "h1", "h2", "z1", "z2", "st1", "st2", "hll1", "nokey", "{s1}x"];
const OTHER: &[&str] = &["a", "b", "c", "f", "*", "$", "0-0", "1-1", ">", "\x00\u{ff}"];
/// Keys of every type, set up again on each connection.
const SETUP: &[&[&str]] = &[
    &["FLUSHALL"],
    &["SET", "s1", "10"],
    &["SET", "s2", "hello"],
    &["RPUSH", "l1", "a", "b", "c", "1", "2"],
    &["RPUSH", "l2", "x"],
    &["HSET", "h1", "f", "1", "g", "v"],
    &["HSET", "h2", "a", "b"],
    &["ZADD", "z1", "1", "a", "2", "b", "3", "c"],
    &["ZADD", "z2", "5", "x"],
    &["SADD", "st1", "a", "b", "1"],
    &["SADD", "st2", "b", "c"],
    &["PFADD", "hll1", "a", "b"],
];

/// One command of the table: name, arity (Redis's: negative = at least), subcommand names.
struct Cmd {
    name: String,
    arity: i64,
    subs: Vec<String>,
}

fn text(v: &redis::Value) -> String {
    match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::SimpleString(s) => s.clone(),
        other => panic!("expected a string, got {other:?}"),
    }
}

fn items(v: &redis::Value) -> &[redis::Value] {
    match v {
        redis::Value::Array(a) | redis::Value::Set(a) => a,
        _ => &[],
    }
}

/// The server's command table, from COMMAND.
fn command_table(con: &mut redis::Connection) -> Vec<Cmd> {
    let table: redis::Value = redis::cmd("COMMAND").query(con).expect("COMMAND");
    items(&table)
        .iter()
        .map(|e| {
            let e = items(e);
            let arity = match &e[1] {
                redis::Value::Int(n) => *n,
                other => panic!("arity {other:?}"),
            };
            let subs = e.get(9).map(items).unwrap_or(&[]);
            let subs = subs.iter().map(|s| text(&items(s)[0]).split_once('|').unwrap().1.to_string()).collect();
            Cmd { name: text(&e[0]), arity, subs }
        })
        .collect()
}

/// Every `token` COMMAND DOCS names, at any depth of any command's arguments.
fn doc_tokens(con: &mut redis::Connection) -> Vec<String> {
    fn walk(args: &[redis::Value], out: &mut Vec<String>) {
        for arg in args {
            let fields = match arg {
                redis::Value::Map(m) => m.clone(),
                other => items(other).chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect(),
            };
            for (k, v) in fields {
                match text(&k).as_str() {
                    "token" => out.push(text(&v)),
                    "arguments" => walk(items(&v), out),
                    _ => {}
                }
            }
        }
    }
    fn doc_fields(doc: &redis::Value) -> Vec<(redis::Value, redis::Value)> {
        match doc {
            redis::Value::Map(m) => m.clone(),
            other => items(other).chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect(),
        }
    }
    let docs: redis::Value = redis::cmd("COMMAND").arg("DOCS").query(con).expect("COMMAND DOCS");
    let docs = match docs {
        redis::Value::Map(m) => m,
        other => items(&other).chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect(),
    };
    let mut out = Vec::new();
    for (_, doc) in &docs {
        for (k, v) in doc_fields(doc) {
            match text(&k).as_str() {
                "arguments" => walk(items(&v), &mut out),
                "subcommands" => {
                    for (_, sub) in doc_fields(&v) {
                        for (k, v) in doc_fields(&sub) {
                            if text(&k) == "arguments" {
                                walk(items(&v), &mut out);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn random_arg(rng: &mut Rng, tokens: &[String]) -> Vec<u8> {
    match rng.below(20) {
        0..=5 => rng.pick(KEYS).as_bytes().to_vec(),
        6..=11 => rng.pick(NUMBERS).as_bytes().to_vec(),
        12..=16 => rng.pick(tokens).as_bytes().to_vec(),
        17 | 18 => rng.pick(OTHER).as_bytes().to_vec(),
        _ => {
            let len = rng.below(24);
            (0..len).map(|_| rng.next() as u8).collect()
        }
    }
}

/// A random request: a command of the table (a subcommand of it four times in five), with a
/// number of arguments its arity allows (now and then one that it does not).
fn random_request(rng: &mut Rng, table: &[Cmd], tokens: &[String]) -> Option<Vec<Vec<u8>>> {
    let cmd = rng.pick(table);
    if SKIP.contains(&cmd.name.as_str()) {
        return None;
    }
    let argc = if cmd.arity > 0 {
        let fixed = cmd.arity as usize - 1;
        if rng.below(10) == 0 {
            rng.below(fixed + 3)
        } else {
            fixed
        }
    } else {
        (-cmd.arity) as usize - 1 + rng.below(6)
    };
    let mut args = vec![cmd.name.as_bytes().to_vec()];
    args.extend((0..argc).map(|_| random_arg(rng, tokens)));
    if !cmd.subs.is_empty() && args.len() > 1 && rng.below(5) > 0 {
        let sub = rng.pick(&cmd.subs);
        if SKIP_SUB.contains(&(cmd.name.as_str(), sub.as_str())) {
            return None;
        }
        args[1] = sub.as_bytes().to_vec();
    }
    if (cmd.name == "eval" || cmd.name == "eval_ro") && rng.below(2) == 0 {
        return Some(random_script(rng, table, tokens, &cmd.name));
    }
    Some(args)
}

/// Values a script returns or passes on: every Lua type the conversion to RESP handles.
const LUA_VALUES: &[&str] = &[
    "nil",
    "true",
    "false",
    "0",
    "-1",
    "1.5",
    "-0.5",
    "1e308",
    "0/0",
    "1/0",
    "'x'",
    "''",
    "{}",
    "{1,2,{3,'a'}}",
    "{1,nil,3}",
    "{ok='fine'}",
    "{err='ERR custom'}",
    "{err=5}",
    "{double=1.5}",
    "{map={a=1}}",
    "{set={a=true}}",
    "{big_number='123'}",
    "{verbatim_string={format='txt',string='s'}}",
    "redis.status_reply('S')",
    "redis.error_reply('E bad')",
    "string.rep('a', 100)",
    "KEYS",
    "ARGV",
    "{{{{{{{{{{{{1}}}}}}}}}}}}",
    // Bigger than mlua's reference stack (under 8 000 slots) if held all at once.
    "(function() local t = {} for i = 1, 9000 do t[i] = tostring(i) end return t end)()",
    "{map=(function() local t = {} for i = 1, 5000 do t['k'..i] = i end return t end)()}",
];

/// EVAL of a script that calls a random command (through `redis.call` or `redis.pcall`)
/// and returns its result, or returns one of [`LUA_VALUES`].
fn random_script(rng: &mut Rng, table: &[Cmd], tokens: &[String], eval: &str) -> Vec<Vec<u8>> {
    let body = if rng.below(3) == 0 {
        format!("return {}", rng.pick(LUA_VALUES))
    } else {
        let inner = loop {
            if let Some(args) = random_request(rng, table, tokens) {
                if !args[0].starts_with(b"eval") && !args[0].starts_with(b"fcall") {
                    break args;
                }
            }
        };
        let quoted: Vec<String> =
            inner.iter().map(|a| format!("'{}'", a.iter().map(|b| format!("\\{b}")).collect::<String>())).collect();
        let call = if rng.below(2) == 0 { "call" } else { "pcall" };
        format!("return redis.{call}({})", quoted.join(", "))
    };
    let mut args = vec![eval.as_bytes().to_vec(), body.into_bytes(), b"1".to_vec(), rng.pick(KEYS).as_bytes().to_vec()];
    args.extend((0..rng.below(3)).map(|_| random_arg(rng, tokens)));
    args
}

fn show(args: &[Vec<u8>]) -> String {
    args.iter().map(|a| format!("{:?}", String::from_utf8_lossy(a))).collect::<Vec<_>>().join(" ")
}

/// A connection with the keys set up, in RESP3 if asked.
fn connect(server: &Server, resp3: bool) -> ReplyReader<UnixStream> {
    let mut r = ReplyReader::new(server.unix());
    if resp3 {
        r.stream.write_all(&resp(&[b"HELLO", b"3"])).unwrap();
        assert!(r.reply().starts_with(b"%"), "HELLO 3 answers a map");
    }
    for cmd in SETUP {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        r.stream.write_all(&resp(&args)).unwrap();
        let reply = r.reply();
        assert!(!reply.starts_with(b"-"), "{cmd:?}: {:?}", String::from_utf8_lossy(&reply));
    }
    r
}

fn random_arguments_get_one_reply_each(engine: Engine) {
    let seed = std::env::var("RINGKV_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0xf022_5eed_0000_0001u64);
    let total = std::env::var("RINGKV_FUZZ_COMMANDS").ok().and_then(|s| s.parse().ok()).unwrap_or(COMMANDS_DEFAULT);
    let server = Server::start(engine, &[]);
    let mut con = server.redis();
    let table = command_table(&mut con);
    let tokens = doc_tokens(&mut con);
    assert!(table.len() > 150 && tokens.len() > 50, "{} commands, {} tokens", table.len(), tokens.len());
    let mut rng = Rng::new(seed);
    let mut sent = 0;
    let mut conn_index = 0;
    let mut errors = 0;
    while sent < total {
        let mut r = connect(&server, conn_index % 2 == 1);
        conn_index += 1;
        let mut on_this = 0;
        while on_this < COMMANDS_PER_CONNECTION && sent < total {
            let Some(args) = random_request(&mut rng, &table, &tokens) else { continue };
            let nonce = format!("fuzz-{sent}");
            let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            let mut req = resp(&refs);
            req.extend_from_slice(&resp(&[b"ECHO", nonce.as_bytes()]));
            r.stream.write_all(&req).unwrap_or_else(|e| panic!("seed {seed}, #{sent} {}: write: {e}", show(&args)));
            let mut replies = 0;
            loop {
                let reply = match r.try_reply() {
                    Ok(Some(reply)) => reply,
                    other => panic!("seed {seed}, #{sent} {}: {other:?}\n{}", show(&args), server.stderr()),
                };
                if reply == format!("${}\r\n{nonce}\r\n", nonce.len()).as_bytes() {
                    break;
                }
                if reply.starts_with(b"-") {
                    errors += 1;
                }
                replies += 1;
            }
            let many = MANY_REPLIES.contains(&String::from_utf8_lossy(&args[0]).as_ref());
            assert!(replies == 1 || (many && replies > 1), "seed {seed}, #{sent} {}: {replies} replies", show(&args));
            sent += 1;
            on_this += 1;
        }
    }
    eprintln!("{}: seed {seed}, {total} commands, {errors} error replies", engine.name);
    let stderr = server.stderr();
    assert!(!stderr.contains("panicked"), "seed {seed}: a panic in the log:\n{stderr}");
    let pong: String = redis::cmd("PING").query(&mut server.redis()).expect("PING after the fuzz");
    assert_eq!(pong, "PONG");
}
