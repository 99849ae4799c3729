//! Lua scripting end to end, once per engine (threads, epoll and uring with `--threads 2`):
//! Redis 7.0's conversions and error texts byte for byte, the sandbox, atomicity of scripts
//! that touch undeclared keys under concurrent readers, BUSY / SCRIPT KILL / UNKILLABLE /
//! SHUTDOWN NOSAVE, frozen time, FUNCTION LOAD / FCALL / DUMP / RESTORE, INFO fields, and the
//! `redis` crate's `Script` (EVALSHA with EVAL fallback).

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{read_line, resp, roundtrip, Engine, Server};

engine_tests!(
    conversions_match_redis,
    error_formats_match_redis,
    sandbox_matches_redis,
    scripts_are_atomic_across_workers,
    busy_script_kill_and_unkillable,
    shutdown_nosave_stops_a_busy_script,
    sigterm_stops_a_running_script,
    time_is_frozen_inside_a_script,
    functions_load_call_list_dump_restore,
    script_cache_and_info,
    redis_crate_script_falls_back_to_eval,
    big_tables_and_argument_lists_convert,
    thousands_of_scripts_and_functions_stay_cached,
);

/// Send `EVAL <script> 0 [args]` and expect exactly `reply`.
fn eval_expect<S: std::io::Read + Write>(s: &mut S, script: &str, reply: &[u8]) {
    roundtrip(s, &resp(&[b"EVAL", script.as_bytes(), b"0"]), reply);
}

/// A bulk reply's bytes, or `None` for the null bulk.
fn read_bulk_opt<S: std::io::Read>(s: &mut S) -> Option<Vec<u8>> {
    let head = read_line(s);
    if head == b"$-1" {
        return None;
    }
    let len: usize = std::str::from_utf8(&head[1..]).unwrap().parse().unwrap();
    let body = common::read_n(s, len + 2);
    Some(body[..len].to_vec())
}

fn sha1(script: &str) -> String {
    // The server computes the same digest; SCRIPT LOAD returns it.
    let mut h = sha1_smol::Sha1::new();
    h.update(script.as_bytes());
    h.digest().to_string()
}

/// Each Redis → Lua → Redis conversion, as redis-server 7.0.15 answers it.
fn conversions_match_redis(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut s = server.unix();
    roundtrip(&mut s, &resp(&[b"SET", b"s", b"abc"]), b"+OK\r\n");
    let cases: &[(&str, &[u8])] = &[
        ("return {1,2,{3,'x'},redis.call('get','nokey'),5}", b"*5\r\n:1\r\n:2\r\n*2\r\n:3\r\n$1\r\nx\r\n$-1\r\n:5\r\n"),
        ("return {1,nil,3}", b"*1\r\n:1\r\n"),
        ("return 3.99", b":3\r\n"),
        ("return -3.7", b":-3\r\n"),
        ("return true", b":1\r\n"),
        ("return false", b"$-1\r\n"),
        ("return nil", b"$-1\r\n"),
        ("return {ok=1}", b"*0\r\n"),
        ("return {err=1}", b"*0\r\n"),
        ("return {1, {err='inner'}}", b"*2\r\n:1\r\n-inner\r\n"),
        ("return redis.status_reply('FINE')", b"+FINE\r\n"),
        ("return redis.call('ping')", b"+PONG\r\n"),
        ("return type(redis.call('get','nokey'))", b"$7\r\nboolean\r\n"),
        ("return redis.call('get','s')", b"$3\r\nabc\r\n"),
        ("return redis.pcall('incr','s')", b"-ERR value is not an integer or out of range\r\n"),
        (
            "local r = redis.pcall('incr','s'); return type(r) .. r.err",
            b"$48\r\ntableERR value is not an integer or out of range\r\n",
        ),
        ("return {double=3.5}", b"$3\r\n3.5\r\n"),
        ("return {big_number='123'}", b"$3\r\n123\r\n"),
        ("return {map={a=1}}", b"*2\r\n$1\r\na\r\n:1\r\n"),
        ("return redis.sha1hex('')", b"$40\r\nda39a3ee5e6b4b0d3255bfef95601890afd80709\r\n"),
        ("return redis.replicate_commands()", b":1\r\n"),
        ("return redis.set_repl(redis.REPL_ALL)", b"$-1\r\n"),
        ("return tostring(3.0) .. ' ' .. 1e20", b"$7\r\n3 1e+20\r\n"),
        ("return redis.call('get', 5)", b"$-1\r\n"),
        ("return pcall(redis.call, 'nosuch')", b"$-1\r\n"),
        ("return cjson.encode({1,2,{a=1.5}})", b"$15\r\n[1,2,{\"a\":1.5}]\r\n"),
        ("return cjson.decode('[1,2,{\"a\":null}]')[3].a == cjson.null", b":1\r\n"),
        ("return cmsgpack.pack({1,2,'x'})", b"$5\r\n\x93\x01\x02\xa1x\r\n"),
        ("return bit.band(0xff, 0x0f) .. ' ' .. bit.tohex(255)", b"$11\r\n15 000000ff\r\n"),
        ("return struct.pack('>I2', 258)", b"$2\r\n\x01\x02\r\n"),
    ];
    for (script, reply) in cases {
        eval_expect(&mut s, script, reply);
    }
    roundtrip(&mut s, &resp(&[b"EVAL", b"return KEYS[1] .. ARGV[1]", b"1", b"k", b"a"]), b"$2\r\nka\r\n");
    // RESP3: the script's RESP3 types, and the client's protocol picks the bytes.
    s.write_all(&resp(&[b"HELLO", b"3"])).unwrap();
    let hello = ringkv::client::read_reply_from(&mut std::io::BufReader::new(&mut s), &mut Vec::new());
    assert!(hello.is_ok(), "{hello:?}");
    eval_expect(&mut s, "return {double=3.5}", b",3.5\r\n");
    eval_expect(&mut s, "return {map={a=1}}", b"%1\r\n$1\r\na\r\n:1\r\n");
    eval_expect(&mut s, "return {set={a=true}}", b"~1\r\n$1\r\na\r\n");
    eval_expect(&mut s, "return {big_number='123'}", b"(123\r\n");
    eval_expect(&mut s, "redis.setresp(3); return true", b"#t\r\n");
    eval_expect(&mut s, "return false", b"_\r\n");
    eval_expect(&mut s, "redis.setresp(3); return redis.call('get','nokey')", b"_\r\n");
    eval_expect(&mut s, "redis.setresp(3); return type(redis.call('get','nokey'))", b"$3\r\nnil\r\n");
}

/// Every error format: runtime errors with ` script: <sha>, on @user_script:<line>.`,
/// redis.call failures, compile errors, argument errors, NOSCRIPT.
fn error_formats_match_redis(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut s = server.unix();
    roundtrip(&mut s, &resp(&[b"SET", b"s", b"abc"]), b"+OK\r\n");
    let with_sha =
        |script: &str, msg: &str, line: u32| format!("-{msg} script: {}, on @user_script:{line}.\r\n", sha1(script));
    let cases: &[(&str, &str, u32)] = &[
        ("return redis.call('incr','s')", "ERR value is not an integer or out of range", 1),
        ("return redis.call('incr')", "ERR Wrong number of args calling Redis command from script", 1),
        ("return redis.call('nosuch')", "ERR Unknown Redis command called from script", 1),
        ("return redis.call('set','k','v','zz')", "ERR syntax error", 1),
        ("error('boom')", "ERR user_script:1: boom", 1),
        ("\n\nerror('boom')", "ERR user_script:3: boom", 3),
        ("error({err='X tbl'})", "X tbl", 1),
        ("return redis.call('multi')", "ERR This Redis command is not allowed from script", 1),
        ("return redis.call('eval','return 1','0')", "ERR This Redis command is not allowed from script", 1),
        ("return redis.call()", "ERR Please specify at least one argument for this redis lib call", 1),
        ("return redis.call('get', {})", "ERR Lua redis lib command arguments must be strings or integers", 1),
        ("local a = nil; return a.b", "ERR user_script:1: attempt to index local 'a' (a nil value)", 1),
        ("return redis.setresp(4)", "ERR RESP version must be 2 or 3.", 1),
        (
            "#!lua flags=no-writes\nreturn redis.call('set','a','1')",
            "ERR Write commands are not allowed from read-only scripts.",
            2,
        ),
    ];
    for (script, msg, line) in cases {
        eval_expect(&mut s, script, with_sha(script, msg, *line).as_bytes());
    }
    let ro = "return redis.call('set','a','1')";
    roundtrip(
        &mut s,
        &resp(&[b"EVAL_RO", ro.as_bytes(), b"0"]),
        with_sha(ro, "ERR Write commands are not allowed from read-only scripts.", 1).as_bytes(),
    );
    eval_expect(&mut s, "return redis.error_reply('MY err')", b"-MY err\r\n");
    eval_expect(&mut s, "return redis.error_reply('noprefix')", b"-ERR noprefix\r\n");
    eval_expect(&mut s, "return redis.error_reply()", b"-ERR wrong number or type of arguments\r\n");
    eval_expect(
        &mut s,
        "syntax error here",
        b"-ERR Error compiling script (new function): user_script:1: '=' expected near 'error'\r\n",
    );
    eval_expect(&mut s, "#!lua flags=bad\nreturn 1", b"-ERR Unexpected flag in script shebang: bad\r\n");
    let noscript = b"-NOSCRIPT No matching script. Please use EVAL.\r\n";
    roundtrip(&mut s, &resp(&[b"EVALSHA", &[b'f'; 40], b"0"]), noscript);
    roundtrip(&mut s, &resp(&[b"EVALSHA", b"abc", b"0"]), noscript);
    roundtrip(&mut s, &resp(&[b"EVAL", b"return 1", b"-1"]), b"-ERR Number of keys can't be negative\r\n");
    roundtrip(
        &mut s,
        &resp(&[b"EVAL", b"return 1", b"2", b"a"]),
        b"-ERR Number of keys can't be greater than number of args\r\n",
    );
    roundtrip(&mut s, &resp(&[b"EVAL", b"return 1", b"x"]), b"-ERR value is not an integer or out of range\r\n");
    roundtrip(&mut s, &resp(&[b"EVAL", b"return 1"]), b"-ERR wrong number of arguments for 'eval' command\r\n");
    roundtrip(&mut s, &resp(&[b"SCRIPT", b"KILL"]), b"-NOTBUSY No scripts in execution right now.\r\n");
    roundtrip(&mut s, &resp(&[b"SCRIPT", b"FLUSH", b"BAD"]), b"-ERR SCRIPT FLUSH only support SYNC|ASYNC option\r\n");
}

/// No os/io/print/require/dofile; globals cannot be created or replaced; library tables are
/// read-only; `loadstring` code is sandboxed too; nothing leaks into the next script.
fn sandbox_matches_redis(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut s = server.unix();
    let with_sha = |script: &str, msg: &str| format!("-{msg} script: {}, on @user_script:1.\r\n", sha1(script));
    for name in ["os", "io", "print", "require", "dofile", "loadfile", "setfenv", "getfenv", "debug", "package"] {
        let script = format!("return {name}");
        let msg = format!("ERR user_script:1: Script attempted to access nonexistent global variable '{name}'");
        eval_expect(&mut s, &script, with_sha(&script, &msg).as_bytes());
    }
    for script in ["x=1", "redis.call = nil", "string.x = 1", "function f() end", "cjson.encode = nil"] {
        eval_expect(
            &mut s,
            script,
            with_sha(script, "ERR user_script:1: Attempt to modify a readonly table").as_bytes(),
        );
    }
    for script in ["setmetatable(_G, nil)", "rawset(_G, 'x', 1)"] {
        eval_expect(&mut s, script, with_sha(script, "ERR Attempt to modify a readonly table").as_bytes());
    }
    let script = "loadstring('x = 5')()";
    let msg = format!(
        "-ERR [string \"x = 5\"]:1: Attempt to modify a readonly table script: {}, on x = 5:1.\r\n",
        sha1(script)
    );
    eval_expect(&mut s, script, msg.as_bytes());
    eval_expect(&mut s, "return loadstring('return 1')()", b":1\r\n");
    eval_expect(&mut s, "local n = 0 for k in pairs(_G) do n = n + 1 end return n > 30", b":1\r\n");
    eval_expect(&mut s, "local n = 0 for k in pairs(redis) do n = n + 1 end return n > 15", b":1\r\n");
    // Nothing survives from one script to the next.
    eval_expect(&mut s, "return rawget(_G, 'x') == nil", b":1\r\n");
}

/// Writers run a script doing `INCR a`, some padding writes, then `INCR b` with `b` not
/// declared in KEYS, while readers on other connections (other workers) check that
/// `MGET a b` never shows them differ; at the end every increment landed once.
fn scripts_are_atomic_across_workers(engine: Engine) {
    const WRITERS: usize = 3;
    const ROUNDS: usize = 200;
    const READERS: usize = 3;
    const READS: usize = 400;
    let server = Server::start(engine, &[]);
    let script = "redis.call('INCR', KEYS[1]) for i = 1, 30 do redis.call('SET', 'pad' .. i, 'x') end return redis.call('INCR', 'b')";
    std::thread::scope(|scope| {
        for _ in 0..WRITERS {
            let server = &server;
            scope.spawn(move || {
                let mut s = server.unix();
                let req = resp(&[b"EVAL", script.as_bytes(), b"1", b"a"]);
                for _ in 0..ROUNDS {
                    s.write_all(&req).unwrap();
                    let line = read_line(&mut s);
                    assert!(line.starts_with(b":"), "{}", String::from_utf8_lossy(&line));
                }
            });
        }
        for _ in 0..READERS {
            let server = &server;
            scope.spawn(move || {
                let mut s = server.unix();
                for _ in 0..READS {
                    s.write_all(&resp(&[b"MGET", b"a", b"b"])).unwrap();
                    assert_eq!(read_line(&mut s), b"*2");
                    let a = read_bulk_opt(&mut s);
                    let b = read_bulk_opt(&mut s);
                    assert_eq!(a, b, "a reader saw half a script");
                }
            });
        }
    });
    let mut s = server.unix();
    let total = (WRITERS * ROUNDS).to_string();
    roundtrip(
        &mut s,
        &resp(&[b"MGET", b"a", b"b"]),
        &[&b"*2\r\n"[..], &common::bulk(total.as_bytes()), &common::bulk(total.as_bytes())].concat(),
    );
}

const BUSY: &[u8] = b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";
const UNKILLABLE: &[u8] = b"-UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.\r\n";

/// A read-only endless script: BUSY for others after the threshold, FUNCTION KILL refused,
/// SCRIPT KILL stops it with Redis's error to its client, the server serves again. A script
/// that wrote: SCRIPT KILL answers UNKILLABLE. (Connections sharing the script's worker,
/// and one worker, are covered by tests/script_executor.rs.)
fn busy_script_kill_and_unkillable(engine: Engine) {
    let server = Server::start(engine, &["--busy-reply-threshold", "200"]);
    let mut script_conn = server.unix();
    let mut ctl = server.unix();
    roundtrip(&mut ctl, &resp(&[b"PING"]), b"+PONG\r\n");
    let endless = "local i = 0 while true do i = i + 1 end";
    script_conn.write_all(&resp(&[b"EVAL", endless.as_bytes(), b"0"])).unwrap();
    let started = Instant::now();
    // Let the script take the exclusive side. Before the threshold a command waits; after
    // it, BUSY.
    std::thread::sleep(Duration::from_millis(100));
    roundtrip(&mut ctl, &resp(&[b"GET", b"x"]), BUSY);
    assert!(started.elapsed() >= Duration::from_millis(150), "BUSY before the threshold");
    roundtrip(&mut ctl, &resp(&[b"FUNCTION", b"KILL"]), BUSY);
    roundtrip(&mut ctl, &resp(&[b"SCRIPT", b"KILL"]), b"+OK\r\n");
    let killed =
        format!("-ERR Script killed by user with SCRIPT KILL... script: {}, on @user_script:1.", sha1(endless));
    assert_eq!(read_line(&mut script_conn), killed.as_bytes());
    roundtrip(&mut ctl, &resp(&[b"GET", b"x"]), b"$-1\r\n");
    roundtrip(&mut script_conn, &resp(&[b"PING"]), b"+PONG\r\n");
    // pcall cannot swallow the kill.
    let stubborn = "while true do pcall(function() while true do end end) end";
    script_conn.write_all(&resp(&[b"EVAL", stubborn.as_bytes(), b"0"])).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    roundtrip(&mut ctl, &resp(&[b"SCRIPT", b"KILL"]), b"+OK\r\n");
    assert!(read_line(&mut script_conn).starts_with(b"-ERR Script killed by user with SCRIPT KILL..."));
    // A script that wrote cannot be killed; it ends on its own here.
    let writer = "redis.call('SET', 'w', '1') local t = redis.call('TIME') local deadline = t[1] + 2 \
                  while tonumber(redis.call('TIME')[1]) < deadline do end return 'done'";
    script_conn.write_all(&resp(&[b"EVAL", writer.as_bytes(), b"0"])).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    roundtrip(&mut ctl, &resp(&[b"SCRIPT", b"KILL"]), UNKILLABLE);
    roundtrip(&mut ctl, &resp(&[b"SHUTDOWN"]), BUSY);
    assert_eq!(read_line(&mut script_conn), b"$4");
    assert_eq!(read_line(&mut script_conn), b"done");
    roundtrip(&mut ctl, &resp(&[b"GET", b"w"]), b"$1\r\n1\r\n");
}

/// SHUTDOWN NOSAVE ends a busy script that wrote, and the server exits.
fn shutdown_nosave_stops_a_busy_script(engine: Engine) {
    let mut server = Server::start(engine, &["--busy-reply-threshold", "100"]);
    let mut script_conn = server.unix();
    let mut ctl = server.unix();
    roundtrip(&mut ctl, &resp(&[b"PING"]), b"+PONG\r\n");
    let script = "redis.call('SET', 'w', '1') while true do end";
    script_conn.write_all(&resp(&[b"EVAL", script.as_bytes(), b"0"])).unwrap();
    std::thread::sleep(Duration::from_millis(250));
    roundtrip(&mut ctl, &resp(&[b"SCRIPT", b"KILL"]), UNKILLABLE);
    ctl.write_all(&resp(&[b"SHUTDOWN", b"NOSAVE"])).unwrap();
    let status = server.wait_exit().expect("server exits after SHUTDOWN NOSAVE");
    assert!(status.success(), "{status:?}");
}

/// SIGTERM while an endless script runs: the script is aborted and the server exits.
fn sigterm_stops_a_running_script(engine: Engine) {
    let mut server = Server::start(engine, &[]);
    let mut script_conn = server.unix();
    script_conn.write_all(&resp(&[b"EVAL", b"while true do end", b"0"])).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    server.signal(libc::SIGTERM);
    let status = server.wait_exit().expect("server exits after SIGTERM");
    assert!(status.success(), "{status:?}");
}

/// Expiry inside a script uses the time the script started: a key set with PX 1 still
/// exists 20 ms later in the same script, and is gone for the next command.
fn time_is_frozen_inside_a_script(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut s = server.unix();
    let script = "redis.call('set','k','v','px','1') local t = redis.call('time') \
                  while true do local u = redis.call('time') \
                  if (u[1]-t[1])*1000000 + (u[2]-t[2]) > 20000 then break end end \
                  return redis.call('exists','k')";
    eval_expect(&mut s, script, b":1\r\n");
    roundtrip(&mut s, &resp(&[b"EXISTS", b"k"]), b":0\r\n");
}

/// FUNCTION LOAD (errors as Redis), FCALL / FCALL_RO with flags, LIST, DUMP → FLUSH →
/// RESTORE, DELETE, STATS.
fn functions_load_call_list_dump_restore(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut s = server.unix();
    let lib1 =
        "#!lua name=lib1\nredis.register_function('f1', function(keys, args) return redis.call('get', keys[1]) end)";
    roundtrip(&mut s, &resp(&[b"FUNCTION", b"LOAD", lib1.as_bytes()]), b"$4\r\nlib1\r\n");
    roundtrip(&mut s, &resp(&[b"FUNCTION", b"LOAD", lib1.as_bytes()]), b"-ERR Library 'lib1' already exists\r\n");
    roundtrip(&mut s, &resp(&[b"FUNCTION", b"LOAD", b"REPLACE", lib1.as_bytes()]), b"$4\r\nlib1\r\n");
    let errors: &[(&str, &[u8])] = &[
        ("return 1", b"-ERR Missing library metadata\r\n"),
        ("#!lua\nreturn 1", b"-ERR Library name was not given\r\n"),
        ("#!foo name=x\nreturn 1", b"-ERR Engine 'foo' not found\r\n"),
        ("#!lua name=lib2\nreturn 1", b"-ERR No functions registered\r\n"),
        (
            "#!lua name=lib3\nsyntax error",
            b"-ERR Error compiling function: user_function:2: '=' expected near 'error'\r\n",
        ),
        (
            "#!lua name=lib3\nredis.register_function('f1', function() return 1 end)",
            b"-ERR Function f1 already exists\r\n",
        ),
        ("#!lua name=lib6 foo=bar\nreturn 1", b"-ERR Invalid metadata value given: foo=bar\r\n"),
        (
            "#!lua name=lib8\nx = 1",
            b"-ERR Error registering functions: ERR user_function:2: Attempt to modify a readonly table\r\n",
        ),
    ];
    for (code, reply) in errors {
        roundtrip(&mut s, &resp(&[b"FUNCTION", b"LOAD", code.as_bytes()]), reply);
    }
    let lib4 = "#!lua name=lib4\nredis.register_function{function_name='ro', callback=function(k, a) return redis.call('set','x','1') end, flags={'no-writes'}}";
    roundtrip(&mut s, &resp(&[b"FUNCTION", b"LOAD", lib4.as_bytes()]), b"$4\r\nlib4\r\n");
    roundtrip(&mut s, &resp(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    roundtrip(&mut s, &resp(&[b"FCALL", b"f1", b"1", b"k"]), b"$1\r\nv\r\n");
    roundtrip(
        &mut s,
        &resp(&[b"FCALL", b"ro", b"0"]),
        b"-ERR Write commands are not allowed from read-only scripts. script: ro, on @user_function:2.\r\n",
    );
    roundtrip(
        &mut s,
        &resp(&[b"FCALL_RO", b"f1", b"1", b"k"]),
        b"-ERR Can not execute a script with write flag using *_ro command.\r\n",
    );
    roundtrip(&mut s, &resp(&[b"FCALL", b"nosuch", b"0"]), b"-ERR Function not found\r\n");
    roundtrip(&mut s, &resp(&[b"FCALL", b"f1", b"x"]), b"-ERR Bad number of keys provided\r\n");
    roundtrip(&mut s, &resp(&[b"FCALL", b"f1", b"5"]), b"-ERR Number of keys can't be greater than number of args\r\n");
    let list = [
        &b"*1\r\n*8\r\n$12\r\nlibrary_name\r\n$4\r\nlib4\r\n$6\r\nengine\r\n$3\r\nLUA\r\n$9\r\nfunctions\r\n*1\r\n*6\r\n$4\r\nname\r\n$2\r\nro\r\n$11\r\ndescription\r\n$-1\r\n$5\r\nflags\r\n*1\r\n+no-writes\r\n$12\r\nlibrary_code\r\n"[..],
        &common::bulk(lib4.as_bytes()),
    ]
    .concat();
    roundtrip(&mut s, &resp(&[b"FUNCTION", b"LIST", b"WITHCODE", b"LIBRARYNAME", b"lib4"]), &list);
    s.write_all(&resp(&[b"FUNCTION", b"DUMP"])).unwrap();
    let dump = common::read_bulk(&mut s);
    roundtrip(&mut s, &resp(&[b"FUNCTION", b"FLUSH"]), b"+OK\r\n");
    roundtrip(&mut s, &resp(&[b"FCALL", b"f1", b"1", b"k"]), b"-ERR Function not found\r\n");
    roundtrip(&mut s, &resp(&[b"FUNCTION", b"RESTORE", &dump]), b"+OK\r\n");
    roundtrip(&mut s, &resp(&[b"FCALL", b"f1", b"1", b"k"]), b"$1\r\nv\r\n");
    roundtrip(&mut s, &resp(&[b"FUNCTION", b"RESTORE", &dump]), b"-ERR Library 'lib1' already exists\r\n");
    let mut bad = dump.clone();
    bad[2] ^= 0x55;
    // Redis 7.0.15 says "DUMP payload" here too.
    roundtrip(&mut s, &resp(&[b"FUNCTION", b"RESTORE", &bad]), b"-ERR DUMP payload version or checksum are wrong\r\n");
    roundtrip(&mut s, &resp(&[b"FUNCTION", b"DELETE", b"lib4"]), b"+OK\r\n");
    roundtrip(&mut s, &resp(&[b"FUNCTION", b"DELETE", b"lib4"]), b"-ERR Library not found\r\n");
    roundtrip(
        &mut s,
        &resp(&[b"FUNCTION", b"STATS"]),
        b"*4\r\n$14\r\nrunning_script\r\n$-1\r\n$7\r\nengines\r\n*2\r\n$3\r\nLUA\r\n*4\r\n$15\r\nlibraries_count\r\n:1\r\n$15\r\nfunctions_count\r\n:1\r\n",
    );
}

/// SCRIPT LOAD / EXISTS / FLUSH and the INFO fields that count them.
fn script_cache_and_info(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut s = server.unix();
    let body = "return 'loaded'";
    let sha = sha1(body);
    roundtrip(&mut s, &resp(&[b"SCRIPT", b"LOAD", body.as_bytes()]), &common::bulk(sha.as_bytes()));
    roundtrip(
        &mut s,
        &resp(&[b"SCRIPT", b"EXISTS", sha.to_uppercase().as_bytes(), &[b'f'; 40]]),
        b"*2\r\n:1\r\n:0\r\n",
    );
    roundtrip(&mut s, &resp(&[b"EVALSHA", sha.as_bytes(), b"0"]), b"$6\r\nloaded\r\n");
    assert_eq!(server.info_u64("memory", "number_of_cached_scripts"), 1);
    assert!(server.info_u64("memory", "used_memory_lua") > 0);
    roundtrip(&mut s, &resp(&[b"SCRIPT", b"FLUSH", b"ASYNC"]), b"+OK\r\n");
    assert_eq!(server.info_u64("memory", "number_of_cached_scripts"), 0);
    roundtrip(
        &mut s,
        &resp(&[b"EVALSHA", sha.as_bytes(), b"0"]),
        b"-NOSCRIPT No matching script. Please use EVAL.\r\n",
    );
}

/// The `redis` crate's `Script` sends EVALSHA and falls back to EVAL on NOSCRIPT.
fn redis_crate_script_falls_back_to_eval(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut con = server.redis();
    let script = redis::Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    let n: i64 = script.key("counter").arg(5).invoke(&mut con).expect("first call loads it");
    assert_eq!(n, 5);
    let n: i64 = script.key("counter").arg(2).invoke(&mut con).expect("EVALSHA hits the cache");
    assert_eq!(n, 7);
}

/// Tables and argument lists past mlua's reference stack (under 8 000 values held from Rust
/// at once): a script that returns 10 000 strings, a map or a set of thousands, or gets
/// 10 000 arguments used to panic the worker and take the server down.
fn big_tables_and_argument_lists_convert(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut con = server.redis();
    let array: Vec<String> = redis::cmd("EVAL")
        .arg("local t={} for i=1,10000 do t[i]=tostring(i) end return t")
        .arg(0)
        .query(&mut con)
        .unwrap();
    assert_eq!(array.len(), 10_000);
    assert_eq!((array[0].as_str(), array[9_999].as_str()), ("1", "10000"));
    let nested: Vec<Vec<i64>> =
        redis::cmd("EVAL").arg("local t={} for i=1,5000 do t[i]={i,-i} end return t").arg(0).query(&mut con).unwrap();
    assert_eq!((nested.len(), nested[4_999].clone()), (5_000, vec![5_000, -5_000]));
    let map: redis::Value = redis::cmd("EVAL")
        .arg("local t={} for i=1,5000 do t['k'..i]=tostring(i) end return {map=t}")
        .arg(0)
        .query(&mut con)
        .unwrap();
    let redis::Value::Array(flat) = map else { panic!("RESP2 map: a flat array, got {map:?}") };
    assert_eq!(flat.len(), 10_000);
    let set: Vec<String> = redis::cmd("EVAL")
        .arg("local t={} for i=1,9000 do t['m'..i]=true end return {set=t}")
        .arg(0)
        .query(&mut con)
        .unwrap();
    assert_eq!(set.len(), 9_000);
    let many: Vec<String> = (0..10_000).map(|i| i.to_string()).collect();
    let n: i64 = redis::cmd("EVAL").arg("return #ARGV + #KEYS").arg(0).arg(&many).query(&mut con).unwrap();
    assert_eq!(n, 10_000);
    let n: i64 = redis::cmd("EVAL").arg("return #KEYS").arg(10_000).arg(&many).query(&mut con).unwrap();
    assert_eq!(n, 10_000);
    let packed: i64 = redis::cmd("EVAL")
        .arg("local t={} for i=1,9000 do t['k'..i]=i end local n=0 for _ in pairs(cmsgpack.unpack(cmsgpack.pack(t))) do n=n+1 end return n")
        .arg(0)
        .query(&mut con)
        .unwrap();
    assert_eq!(packed, 9_000);
    let pong: String = redis::cmd("PING").query(&mut server.redis()).unwrap();
    assert_eq!(pong, "PONG");
    assert!(!server.stderr().contains("panicked"), "{}", server.stderr());
}

/// More cached scripts and registered functions than mlua's reference stack has slots
/// (under 8 000): each used to hold one, and the 8 000th distinct EVAL panicked the worker.
fn thousands_of_scripts_and_functions_stay_cached(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut con = server.redis();
    const SCRIPTS: i64 = 9_000;
    for chunk in (0..SCRIPTS).collect::<Vec<_>>().chunks(500) {
        let mut pipe = redis::pipe();
        for i in chunk {
            pipe.cmd("EVAL").arg(format!("return {i}")).arg(0);
        }
        let got: Vec<i64> = pipe.query(&mut con).unwrap();
        assert_eq!(got, chunk.to_vec());
    }
    let cached = common::info_field(&server.info("memory"), "number_of_cached_scripts").unwrap();
    assert_eq!(cached, SCRIPTS.to_string());
    // The first script is still cached, and runs by its SHA1.
    let again: i64 = redis::cmd("EVALSHA").arg(sha1("return 0")).arg(0).query(&mut con).unwrap();
    assert_eq!(again, 0);
    // Nine libraries of 1 000 functions each.
    for lib in 0..9 {
        let mut code = format!("#!lua name=lib{lib}\n");
        for f in 0..1000 {
            code.push_str(&format!("redis.register_function('f{lib}_{f}', function() return {f} end)\n"));
        }
        let name: String = redis::cmd("FUNCTION").arg("LOAD").arg(&code).query(&mut con).unwrap();
        assert_eq!(name, format!("lib{lib}"));
    }
    let n: i64 = redis::cmd("FCALL").arg("f8_999").arg(0).query(&mut con).unwrap();
    assert_eq!(n, 999);
    let n: i64 = redis::cmd("FCALL").arg("f0_0").arg(0).query(&mut con).unwrap();
    assert_eq!(n, 0);
    let _: () = redis::cmd("FUNCTION").arg("FLUSH").query(&mut con).unwrap();
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut con).unwrap();
    let n: i64 = redis::cmd("EVAL").arg("return 7").arg(0).query(&mut con).unwrap();
    assert_eq!(n, 7);
    assert!(!server.stderr().contains("panicked"), "{}", server.stderr());
}
