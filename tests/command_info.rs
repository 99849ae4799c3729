//! ringkv's live `COMMAND INFO` against Redis 7.0's, captured in `tests/command_info.golden`
//! (written by `scripts/command-info-diff --write-golden`, see its header): arity, flags, key
//! positions, ACL categories, tips, key specs, for every command and subcommand ringkv has.
//! Clients read these (key positions, ACL categories) and ringkv acts on its flags at run
//! time (`fast`, `denyoom`, `noscript`, `loading`, `stale`, `no_multi`, `allow_busy`), so a
//! difference is a bug unless it is listed in [`ONLY_RINGKV`] or [`DELIBERATE`] with why.
//! One engine is enough: the table is the same for all of them.

mod common;

use common::{Server, THREADS};
use redis::Value;

const GOLDEN: &str = include_str!("command_info.golden");

/// Commands and subcommands ringkv has that Redis 7.0 lacks, so the golden file has no line
/// for them.
const ONLY_RINGKV: &[&str] = &[
    // CLIENT SETINFO came with Redis 7.2; ringkv accepts it so newer clients can connect.
    "client|setinfo",
    // EXIT: the same as QUIT, under the name the seed program used.
    "exit",
];

/// Names whose entry differs from Redis 7.0 on purpose (none today): `(name, why)`.
const DELIBERATE: &[(&str, &str)] = &[];

/// A reply rendered as `scripts/command-info-diff` renders it: integers in decimal, strings
/// as they are, arrays as `[a,b]`, nil as `nil` (RESP2, so key-spec maps are flat arrays).
fn render(v: &Value) -> String {
    match v {
        Value::Nil => "nil".into(),
        Value::Int(i) => i.to_string(),
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Okay => "OK".into(),
        Value::Array(items) => format!("[{}]", items.iter().map(render).collect::<Vec<_>>().join(",")),
        other => panic!("unexpected reply {other:?}"),
    }
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        other => panic!("not an integer: {other:?}"),
    }
}

/// `(name, line)` for one COMMAND INFO entry and each of its subcommands.
fn lines_of(entry: &Value, out: &mut Vec<(String, String)>) {
    let Value::Array(f) = entry else { panic!("entry is not an array: {entry:?}") };
    assert_eq!(f.len(), 10, "{entry:?}");
    let name = render(&f[0]);
    let line = format!(
        "{name}\tarity={}\tflags={}\tkeys={},{},{}\tacl={}\ttips={}\tspecs={}",
        int(&f[1]),
        render(&f[2]),
        int(&f[3]),
        int(&f[4]),
        int(&f[5]),
        render(&f[6]),
        render(&f[7]),
        render(&f[8])
    );
    out.push((name, line));
    if let Value::Array(subs) = &f[9] {
        for s in subs {
            lines_of(s, out);
        }
    }
}

/// Every line of ringkv's COMMAND INFO matches the golden file's, and the golden file has a
/// line for every command and subcommand of ringkv's (allow-lists aside).
#[test]
fn command_info_matches_redis_7_0() {
    let server = Server::start(THREADS, &[]);
    let mut con = server.redis();
    let all: Value = redis::cmd("COMMAND").arg("INFO").query(&mut con).unwrap();
    let Value::Array(entries) = all else { panic!("{all:?}") };
    let mut mine = Vec::new();
    for e in &entries {
        lines_of(e, &mut mine);
    }
    let golden: std::collections::HashMap<&str, &str> = GOLDEN
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| (l.split('\t').next().unwrap(), l))
        .collect();
    let mut problems = Vec::new();
    for (name, line) in &mine {
        let skip = ONLY_RINGKV.contains(&name.as_str()) || DELIBERATE.iter().any(|(n, _)| n == name);
        match golden.get(name.as_str()) {
            _ if skip => {}
            None => problems.push(format!("{name}: not in the golden file (regenerate it, or allow-list)")),
            Some(want) if *want != line => problems.push(format!("ringkv: {line}\nredis:  {want}")),
            Some(_) => {}
        }
    }
    for name in golden.keys() {
        if !mine.iter().any(|(n, _)| n == name) {
            problems.push(format!("{name}: in the golden file, not in ringkv's COMMAND INFO"));
        }
    }
    assert!(problems.is_empty(), "{} differences from Redis 7.0:\n{}", problems.len(), problems.join("\n"));
    assert!(mine.len() > 200, "too few commands: {}", mine.len());
}

/// The allow-lists name real commands of ringkv (a stale entry would hide nothing and rot).
#[test]
fn allow_lists_name_ringkv_commands() {
    let server = Server::start(THREADS, &[]);
    let mut con = server.redis();
    let names: Vec<String> = redis::cmd("COMMAND").arg("LIST").query(&mut con).unwrap();
    for n in ONLY_RINGKV.iter().chain(DELIBERATE.iter().map(|(n, _)| n)) {
        assert!(names.iter().any(|m| m == n), "{n} is allow-listed but ringkv has no such command");
        assert!(!GOLDEN.lines().any(|l| l.split('\t').next() == Some(n)), "{n} is allow-listed and in the golden file");
    }
}
