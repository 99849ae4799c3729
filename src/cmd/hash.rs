//! Hash commands: HSET, HSETNX, HMSET, HGET, HMGET, HDEL, HLEN, HSTRLEN, HEXISTS, HKEYS,
//! HVALS, HGETALL, HINCRBY, HINCRBYFLOAT, HRANDFIELD, HSCAN.
//!
//! Semantics, reply shapes and error texts follow Redis 7.0's `t_hash.c`; HGETALL is a map,
//! HRANDFIELD WITHVALUES an array of [field, value] pairs in RESP3. The data structure is
//! [`crate::types::Hash`].

use super::long_double::{self, AddError};
use super::typed::{
    distinct_random_indices, parse_random_with, parse_scan, random_below, scan_reply, with_created, with_existing,
    ERR_INVALID_CURSOR,
};
use super::FAST;
use super::{parse_i64, wrong_arity, Command, Ctx, Doc, DENYOOM, ERR_NOT_FLOAT};
use super::{ERR_NOT_INTEGER, ERR_OVERFLOW, READONLY, WRITE};
use crate::protocol::Argv;
use crate::reply;
use crate::store::KeyView;
use crate::types::{Hash, WrongType};

const ERR_HASH_NOT_INTEGER: &str = "ERR hash value is not an integer";
const ERR_HASH_NOT_FLOAT: &str = "ERR hash value is not a float";
const ERR_FLOAT_RESULT: &str = "ERR increment would produce NaN or Infinity";
const ERR_INCR_NOT_FINITE: &str = "ERR value is NaN or Infinity";

pub const COMMANDS: &[Command] = &[
    Command { name: "hset", arity: -4, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), handler: hset },
    Command { name: "hmset", arity: -4, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), handler: hmset },
    Command { name: "hsetnx", arity: 4, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), handler: hsetnx },
    Command { name: "hget", arity: 3, flags: READONLY | FAST, keys: (1, 1, 1), handler: hget },
    Command { name: "hmget", arity: -3, flags: READONLY | FAST, keys: (1, 1, 1), handler: hmget },
    Command { name: "hdel", arity: -3, flags: WRITE | FAST, keys: (1, 1, 1), handler: hdel },
    Command { name: "hlen", arity: 2, flags: READONLY | FAST, keys: (1, 1, 1), handler: hlen },
    Command { name: "hstrlen", arity: 3, flags: READONLY | FAST, keys: (1, 1, 1), handler: hstrlen },
    Command { name: "hexists", arity: 3, flags: READONLY | FAST, keys: (1, 1, 1), handler: hexists },
    Command { name: "hkeys", arity: 2, flags: READONLY, keys: (1, 1, 1), handler: hkeys },
    Command { name: "hvals", arity: 2, flags: READONLY, keys: (1, 1, 1), handler: hvals },
    Command { name: "hgetall", arity: 2, flags: READONLY, keys: (1, 1, 1), handler: hgetall },
    Command { name: "hincrby", arity: 4, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), handler: hincrby },
    Command { name: "hincrbyfloat", arity: 4, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), handler: hincrbyfloat },
    Command { name: "hrandfield", arity: -2, flags: READONLY, keys: (1, 1, 1), handler: hrandfield },
    Command { name: "hscan", arity: -3, flags: READONLY, keys: (1, 1, 1), handler: hscan },
];

/// Documentation of this family's commands (see [`super::Doc`]).
pub const DOCS: &[Doc] = &[
    Doc {
        name: "hset",
        group: "hash",
        since: "2.0.0",
        summary: "Set one or more fields of a hash; replies with how many were new.",
        syntax: "key field value [field value ...]",
    },
    Doc {
        name: "hmset",
        group: "hash",
        since: "2.0.0",
        summary: "Set one or more fields of a hash (old form of HSET, replies OK).",
        syntax: "key field value [field value ...]",
    },
    Doc {
        name: "hsetnx",
        group: "hash",
        since: "2.0.0",
        summary: "Set a hash field only if it does not exist yet.",
        syntax: "key field value",
    },
    Doc { name: "hget", group: "hash", since: "2.0.0", summary: "Read one field of a hash.", syntax: "key field" },
    Doc {
        name: "hmget",
        group: "hash",
        since: "2.0.0",
        summary: "Read several fields of a hash, nil for missing ones.",
        syntax: "key field [field ...]",
    },
    Doc {
        name: "hdel",
        group: "hash",
        since: "2.0.0",
        summary: "Delete fields of a hash; replies with how many existed.",
        syntax: "key field [field ...]",
    },
    Doc { name: "hlen", group: "hash", since: "2.0.0", summary: "Number of fields in a hash.", syntax: "key" },
    Doc {
        name: "hstrlen",
        group: "hash",
        since: "3.2.0",
        summary: "Length in bytes of a hash field's value.",
        syntax: "key field",
    },
    Doc { name: "hexists", group: "hash", since: "2.0.0", summary: "Whether a hash has a field.", syntax: "key field" },
    Doc { name: "hkeys", group: "hash", since: "2.0.0", summary: "Every field name of a hash.", syntax: "key" },
    Doc { name: "hvals", group: "hash", since: "2.0.0", summary: "Every value of a hash.", syntax: "key" },
    Doc {
        name: "hgetall",
        group: "hash",
        since: "2.0.0",
        summary: "Every field and value of a hash, as a map.",
        syntax: "key",
    },
    Doc {
        name: "hincrby",
        group: "hash",
        since: "2.0.0",
        summary: "Add an integer to a hash field holding an integer.",
        syntax: "key field increment",
    },
    Doc {
        name: "hincrbyfloat",
        group: "hash",
        since: "2.6.0",
        summary: "Add a float to a hash field holding a number.",
        syntax: "key field increment:double",
    },
    Doc {
        name: "hrandfield",
        group: "hash",
        since: "6.2.0",
        summary: "Random fields of a hash, distinct for a positive count, repeating for a negative one.",
        syntax: "key options=[count [WITHVALUES]]",
    },
    Doc {
        name: "hscan",
        group: "hash",
        since: "2.8.0",
        summary: "Iterate a hash's fields and values with a cursor.",
        syntax: "key cursor [MATCH pattern] [COUNT count]",
    },
];

fn get<'s>(k: &'s mut KeyView<'_>) -> Result<Option<&'s mut Hash>, WrongType> {
    k.hash()
}
fn create<'s>(k: &'s mut KeyView<'_>) -> Result<&'s mut Hash, WrongType> {
    k.hash_or_new()
}

/// Set every field/value pair of `argv[2..]`; the number of new fields, or `None` after an
/// error reply (arity or WRONGTYPE).
fn set_pairs(ctx: &mut Ctx<'_>, argv: Argv<'_>, name: &str) -> Option<usize> {
    if !argv.len().is_multiple_of(2) {
        wrong_arity(ctx, name);
        return None;
    }
    with_created(ctx, argv.get(1), create, |h, _| {
        (2..argv.len()).step_by(2).filter(|&i| h.set(argv.get(i), argv.get(i + 1))).count()
    })
}

/// HSET key field value [field value ...]
fn hset(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    if let Some(added) = set_pairs(ctx, argv, "hset") {
        reply::integer(ctx.out, added as i64);
    }
}

/// HMSET key field value [field value ...]
fn hmset(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    if set_pairs(ctx, argv, "hmset").is_some() {
        ctx.ok();
    }
}

/// HSETNX key field value
fn hsetnx(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    with_created(ctx, argv.get(1), create, |h, out| {
        let added = !h.contains(argv.get(2)) && h.set(argv.get(2), argv.get(3));
        reply::integer(out, i64::from(added));
    });
}

/// HGET key field
fn hget(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    with_existing(ctx, argv.get(1), get, |h, out| reply::opt_bulk(out, h.and_then(|h| h.get(argv.get(2)))));
}

/// HMGET key field [field ...]
fn hmget(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    with_existing(ctx, argv.get(1), get, |h, out| {
        reply::array(out, argv.len() - 2);
        for field in argv.iter().skip(2) {
            reply::opt_bulk(out, h.as_ref().and_then(|h| h.get(field)));
        }
    });
}

/// HDEL key field [field ...]
fn hdel(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    with_existing(ctx, argv.get(1), get, |h, out| {
        let removed = h.map_or(0, |h| argv.iter().skip(2).filter(|f| h.remove(f)).count());
        reply::integer(out, removed as i64);
    });
}

/// HLEN key
fn hlen(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    with_existing(ctx, argv.get(1), get, |h, out| reply::integer(out, h.map_or(0, |h| h.len()) as i64));
}

/// HSTRLEN key field
fn hstrlen(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    with_existing(ctx, argv.get(1), get, |h, out| {
        let len = h.and_then(|h| h.get(argv.get(2)).map(|v| v.len())).unwrap_or(0);
        reply::integer(out, len as i64);
    });
}

/// HEXISTS key field
fn hexists(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    with_existing(ctx, argv.get(1), get, |h, out| {
        reply::integer(out, i64::from(h.is_some_and(|h| h.contains(argv.get(2)))));
    });
}

/// HKEYS key
fn hkeys(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    with_existing(ctx, argv.get(1), get, |h, out| {
        reply::array(out, h.as_ref().map_or(0, |h| h.len()));
        h.iter().flat_map(|h| h.iter()).for_each(|(f, _)| reply::bulk(out, f));
    });
}

/// HVALS key
fn hvals(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    with_existing(ctx, argv.get(1), get, |h, out| {
        reply::array(out, h.as_ref().map_or(0, |h| h.len()));
        h.iter().flat_map(|h| h.iter()).for_each(|(_, v)| reply::bulk(out, v));
    });
}

/// HGETALL key
fn hgetall(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    with_existing(ctx, argv.get(1), get, |h, out| {
        reply::map(out, h.as_ref().map_or(0, |h| h.len()));
        for (f, v) in h.iter().flat_map(|h| h.iter()) {
            reply::bulk(out, f);
            reply::bulk(out, v);
        }
    });
}

/// HINCRBY key field increment
fn hincrby(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let Some(delta) = parse_i64(argv.get(3)) else {
        return ctx.error(ERR_NOT_INTEGER);
    };
    let result = with_created(ctx, argv.get(1), create, |h, _| {
        let old = match h.get(argv.get(2)) {
            Some(v) => parse_i64(v).ok_or(ERR_HASH_NOT_INTEGER)?,
            None => 0,
        };
        let new = old.checked_add(delta).ok_or(ERR_OVERFLOW)?;
        h.set(argv.get(2), itoa::Buffer::new().format(new).as_bytes());
        Ok(new)
    });
    match result {
        Some(Ok(n)) => reply::integer(ctx.out, n),
        Some(Err(e)) => ctx.error(e),
        None => {}
    }
}

/// HINCRBYFLOAT key field increment
fn hincrbyfloat(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    // In long double, as Redis (see long_double). An infinite increment is refused before
    // the key is looked at.
    match long_double::check(argv.get(3)) {
        None => return ctx.error(ERR_NOT_FLOAT),
        Some(true) => return ctx.error(ERR_INCR_NOT_FINITE),
        Some(false) => {}
    }
    let result = with_created(ctx, argv.get(1), create, |h, _| {
        let text = match long_double::add(Some(h.get(argv.get(2)).unwrap_or(b"0")), argv.get(3)) {
            Ok(text) => text,
            Err(AddError::OldNotFloat) => return Err(ERR_HASH_NOT_FLOAT),
            Err(AddError::IncrNotFloat) => return Err(ERR_NOT_FLOAT),
            Err(AddError::NotFinite) => return Err(ERR_FLOAT_RESULT),
        };
        h.set(argv.get(2), &text);
        Ok(text)
    });
    match result {
        Some(Ok(text)) => reply::bulk(ctx.out, &text),
        Some(Err(e)) => ctx.error(e),
        None => {}
    }
}

/// HRANDFIELD key [count [WITHVALUES]]
fn hrandfield(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    if argv.len() == 2 {
        with_existing(ctx, argv.get(1), get, |h, out| match h.filter(|h| !h.is_empty()) {
            Some(h) => reply::bulk(out, h.at(random_below(h.len())).0),
            None => reply::null(out),
        });
        return;
    }
    let (count, repeats, with_values) = match parse_random_with(argv, "withvalues") {
        Ok(c) => c,
        Err(e) => return ctx.error(e),
    };
    with_existing(ctx, argv.get(1), get, |h, out| {
        let Some(h) = h else {
            return reply::array(out, 0);
        };
        let picks: Vec<usize> = if repeats {
            (0..count).map(|_| random_below(h.len())).collect()
        } else {
            distinct_random_indices(h.len(), (count as usize).min(h.len()))
        };
        let pair = |out: &mut reply::Out, i: usize| {
            let (f, v) = h.at(i);
            if with_values && out.resp3() {
                reply::array(out, 2);
            }
            reply::bulk(out, f);
            if with_values {
                reply::bulk(out, v);
            }
        };
        let per = if with_values && !out.resp3() { 2 } else { 1 };
        reply::array(out, picks.len() * per);
        picks.into_iter().for_each(|i| pair(out, i));
    });
}

/// HSCAN key cursor [MATCH pattern] [COUNT count]
fn hscan(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    // Redis's order: the cursor, then the key (missing: an empty scan), then the options.
    let args = parse_scan(argv);
    if let Err(e @ ERR_INVALID_CURSOR) = args {
        return ctx.error(e);
    }
    with_existing(ctx, argv.get(1), get, |h, out| {
        let args = match (&h, &args) {
            (None, _) => return scan_reply(out, 0, &[]),
            (Some(_), Err(e)) => return reply::error(out, e),
            (Some(_), Ok(a)) => a,
        };
        let mut items = Vec::new();
        let next = h.map_or(0, |h| {
            h.scan(args.cursor, args.count, |f, v| {
                if args.matches(f) {
                    items.push(f.to_vec());
                    items.push(v.to_vec());
                }
            })
        });
        scan_reply(out, next, &items);
    });
}

#[cfg(test)]
mod tests {
    use crate::cmd::{run_for_test, run_for_test_in, ClientState};
    use crate::config::Config;
    use crate::reply::Proto;
    use crate::shared::Shared;

    fn run(shared: &Shared, c: &mut ClientState, args: &[&str]) -> String {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        String::from_utf8_lossy(&run_for_test(shared, c, &args)).into_owned()
    }

    #[test]
    fn basic_replies_and_errors_match_redis() {
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        let r = |c: &mut ClientState, a: &[&str]| run(&shared, c, a);
        assert_eq!(r(&mut c, &["HSET", "h", "a", "1", "b"]), "-ERR wrong number of arguments for 'hset' command\r\n");
        assert_eq!(r(&mut c, &["HSET", "h", "a", "1", "b", "2"]), ":2\r\n");
        assert_eq!(r(&mut c, &["HSET", "h", "a", "3"]), ":0\r\n");
        assert_eq!(r(&mut c, &["HGET", "h", "a"]), "$1\r\n3\r\n");
        assert_eq!(r(&mut c, &["HMGET", "h", "a", "zz"]), "*2\r\n$1\r\n3\r\n$-1\r\n");
        assert_eq!(r(&mut c, &["HGETALL", "h"]), "*4\r\n$1\r\na\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n");
        assert_eq!(r(&mut c, &["HINCRBY", "h", "a", "x"]), "-ERR value is not an integer or out of range\r\n");
        assert_eq!(r(&mut c, &["HSET", "h", "s", "abc"]), ":1\r\n");
        assert_eq!(r(&mut c, &["HINCRBY", "h", "s", "1"]), "-ERR hash value is not an integer\r\n");
        assert_eq!(r(&mut c, &["HINCRBYFLOAT", "h", "s", "1"]), "-ERR hash value is not a float\r\n");
        assert_eq!(r(&mut c, &["HINCRBYFLOAT", "h", "a", "1.5"]), "$3\r\n4.5\r\n");
        assert_eq!(r(&mut c, &["HSET", "h", "m", "9223372036854775807"]), ":1\r\n");
        assert_eq!(r(&mut c, &["HINCRBY", "h", "m", "1"]), "-ERR increment or decrement would overflow\r\n");
        assert_eq!(r(&mut c, &["HDEL", "h", "a", "b", "s", "m", "zz"]), ":4\r\n");
        assert_eq!(r(&mut c, &["EXISTS", "h"]), ":0\r\n", "an emptied hash is deleted");
        assert_eq!(r(&mut c, &["HRANDFIELD", "h"]), "$-1\r\n");
        assert_eq!(r(&mut c, &["HRANDFIELD", "h", "3"]), "*0\r\n");
        assert_eq!(r(&mut c, &["HRANDFIELD", "h", "1", "foo"]), "-ERR syntax error\r\n");
        // A missing key is an empty scan before the options are read (Redis 7.0).
        assert_eq!(r(&mut c, &["HSCAN", "h", "0", "count", "0"]), "*2\r\n$1\r\n0\r\n*0\r\n");
        assert_eq!(r(&mut c, &["HSET", "h2", "f", "v"]), ":1\r\n");
        assert_eq!(r(&mut c, &["HSCAN", "h2", "0", "count", "0"]), "-ERR syntax error\r\n");
        assert_eq!(r(&mut c, &["HINCRBYFLOAT", "s", "f", "inf"]), "-ERR value is NaN or Infinity\r\n");
        // Long double, as Redis: 1e400 is finite there (its 401 digits), 1e4932 twice is not.
        assert!(r(&mut c, &["HINCRBYFLOAT", "h2", "nof", "1e400"]).starts_with("$401\r\n10000000000000000000281880"));
        assert_eq!(r(&mut c, &["HINCRBYFLOAT", "h2", "big", "1e4932"]).len(), 4934 + 8);
        assert_eq!(
            r(&mut c, &["HINCRBYFLOAT", "h2", "big", "1e4932"]),
            "-ERR increment would produce NaN or Infinity\r\n"
        );
        assert_eq!(r(&mut c, &["HINCRBYFLOAT", "h2", "f2", "0.1"]), "$3\r\n0.1\r\n");
        assert_eq!(r(&mut c, &["HINCRBYFLOAT", "h2", "f2", "0.2"]), "$3\r\n0.3\r\n");
        assert_eq!(r(&mut c, &["DEL", "h2"]), ":1\r\n");
        assert_eq!(r(&mut c, &["HSCAN", "h", "abc"]), "-ERR invalid cursor\r\n");
        assert_eq!(r(&mut c, &["SET", "s", "v"]), "+OK\r\n");
        let wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
        for cmd in [&["HGET", "s", "a"][..], &["HSET", "s", "a", "b"], &["HLEN", "s"], &["HGETALL", "s"]] {
            assert_eq!(r(&mut c, cmd), wrong, "{cmd:?}");
        }
        assert_eq!(r(&mut c, &["HSET", "h", "a", "1"]), ":1\r\n");
        assert_eq!(r(&mut c, &["GET", "h"]), wrong);
        assert_eq!(r(&mut c, &["HSETNX", "h", "a", "2"]), ":0\r\n");
        assert_eq!(r(&mut c, &["HSETNX", "h", "b", "2"]), ":1\r\n");
        assert_eq!(r(&mut c, &["HRANDFIELD", "h", "-3"]).matches("$1\r\n").count(), 3);
        assert_eq!(r(&mut c, &["HRANDFIELD", "h", "5", "WITHVALUES"]).lines().next(), Some("*4"));
    }

    #[test]
    fn resp3_shapes() {
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        run_for_test(&shared, &mut c, &[b"HSET", b"h", b"a", b"1"]);
        let map = run_for_test_in(&shared, &mut c, Proto::Resp3, &[b"HGETALL", b"h"]);
        assert_eq!(map, b"%1\r\n$1\r\na\r\n$1\r\n1\r\n");
        let pairs = run_for_test_in(&shared, &mut c, Proto::Resp3, &[b"HRANDFIELD", b"h", b"-2", b"WITHVALUES"]);
        assert_eq!(pairs, b"*2\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n");
    }

    #[test]
    fn big_hash_scan_and_encoding() {
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        for i in 0..300 {
            let f = format!("f{i}");
            run(&shared, &mut c, &["HSET", "h", &f, "v"]);
        }
        assert_eq!(run(&shared, &mut c, &["OBJECT", "ENCODING", "h"]), "$9\r\nhashtable\r\n");
        let mut seen = std::collections::HashSet::new();
        let mut cursor = "0".to_string();
        for _ in 0..1000 {
            let reply = run(&shared, &mut c, &["HSCAN", "h", &cursor, "COUNT", "7"]);
            let lines: Vec<&str> = reply.split("\r\n").collect();
            cursor = lines[2].to_string();
            for field in lines.iter().skip(5).step_by(4) {
                seen.insert(field.to_string());
            }
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(cursor, "0");
        assert_eq!(seen.len(), 300);
    }
}
