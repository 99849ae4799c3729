//! Set commands: SADD, SREM, SISMEMBER, SMISMEMBER, SCARD, SMEMBERS, SPOP, SRANDMEMBER, SMOVE,
//! SINTER, SINTERCARD, SINTERSTORE, SUNION, SUNIONSTORE, SDIFF, SDIFFSTORE, SSCAN.
//!
//! Semantics, reply shapes and error texts follow Redis 7.0's `t_set.c`: SMEMBERS, SINTER,
//! SUNION, SDIFF and SPOP with a count reply with a set (RESP3 `~`), SRANDMEMBER with an
//! array. Multi-key commands lock every key they read or write together (the store's
//! `with_keys`), so they are atomic. The data structure is [`crate::types::Set`].

use super::list::{ERR_NUMKEYS, ERR_WRONG_NUMKEYS};
use super::typed::{
    distinct_random_indices, parse_random_count, parse_scan, random_below, scan_reply, with_created, with_existing,
    ERR_INVALID_CURSOR,
};
use super::FAST;
use super::{eq_ignore_case, parse_i64, Command, Ctx, Doc, DENYOOM, ERR_SYNTAX, ERR_WRONGTYPE, READONLY, WRITE};
use crate::protocol::Argv;
use crate::reply;
use crate::store::KeyView;
use crate::types::{Set, Value, WrongType};

const ERR_POSITIVE: &str = "ERR value is out of range, must be positive";
const ERR_LIMIT_NEGATIVE: &str = "ERR LIMIT can't be negative";

pub const COMMANDS: &[Command] = &[
    Command { name: "sadd", arity: -3, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), handler: sadd },
    Command { name: "srem", arity: -3, flags: WRITE | FAST, keys: (1, 1, 1), handler: srem },
    Command { name: "sismember", arity: 3, flags: READONLY | FAST, keys: (1, 1, 1), handler: sismember },
    Command { name: "smismember", arity: -3, flags: READONLY | FAST, keys: (1, 1, 1), handler: smismember },
    Command { name: "scard", arity: 2, flags: READONLY | FAST, keys: (1, 1, 1), handler: scard },
    Command { name: "smembers", arity: 2, flags: READONLY, keys: (1, 1, 1), handler: smembers },
    Command { name: "spop", arity: -2, flags: WRITE | FAST, keys: (1, 1, 1), handler: spop },
    Command { name: "srandmember", arity: -2, flags: READONLY, keys: (1, 1, 1), handler: srandmember },
    Command { name: "smove", arity: 4, flags: WRITE | FAST, keys: (1, 2, 1), handler: smove },
    Command { name: "sinter", arity: -2, flags: READONLY, keys: (1, -1, 1), handler: sinter },
    Command { name: "sintercard", arity: -3, flags: READONLY, keys: (0, 0, 0), handler: sintercard },
    Command { name: "sinterstore", arity: -3, flags: WRITE | DENYOOM, keys: (1, -1, 1), handler: sinterstore },
    Command { name: "sunion", arity: -2, flags: READONLY, keys: (1, -1, 1), handler: sunion },
    Command { name: "sunionstore", arity: -3, flags: WRITE | DENYOOM, keys: (1, -1, 1), handler: sunionstore },
    Command { name: "sdiff", arity: -2, flags: READONLY, keys: (1, -1, 1), handler: sdiff },
    Command { name: "sdiffstore", arity: -3, flags: WRITE | DENYOOM, keys: (1, -1, 1), handler: sdiffstore },
    Command { name: "sscan", arity: -3, flags: READONLY, keys: (1, 1, 1), handler: sscan },
];

/// Documentation of this family's commands (see [`super::Doc`]).
pub const DOCS: &[Doc] = &[
    Doc {
        name: "sadd",
        group: "set",
        since: "1.0.0",
        summary: "Add members to a set; replies with how many were new.",
        syntax: "key member [member ...]",
    },
    Doc {
        name: "srem",
        group: "set",
        since: "1.0.0",
        summary: "Remove members from a set; replies with how many existed.",
        syntax: "key member [member ...]",
    },
    Doc {
        name: "sismember",
        group: "set",
        since: "1.0.0",
        summary: "Whether a member is in a set.",
        syntax: "key member",
    },
    Doc {
        name: "smismember",
        group: "set",
        since: "6.2.0",
        summary: "Whether each of several members is in a set.",
        syntax: "key member [member ...]",
    },
    Doc { name: "scard", group: "set", since: "1.0.0", summary: "Number of members of a set.", syntax: "key" },
    Doc { name: "smembers", group: "set", since: "1.0.0", summary: "Every member of a set.", syntax: "key" },
    Doc {
        name: "spop",
        group: "set",
        since: "1.0.0",
        summary: "Remove and return random members.",
        syntax: "key [count]",
    },
    Doc {
        name: "srandmember",
        group: "set",
        since: "1.0.0",
        summary: "Random members, distinct for a positive count, repeating for a negative one.",
        syntax: "key [count]",
    },
    Doc {
        name: "smove",
        group: "set",
        since: "1.0.0",
        summary: "Move a member from one set to another.",
        syntax: "source destination member",
    },
    Doc {
        name: "sinter",
        group: "set",
        since: "1.0.0",
        summary: "Members common to every given set.",
        syntax: "key [key ...]",
    },
    Doc {
        name: "sintercard",
        group: "set",
        since: "7.0.0",
        summary: "Size of the intersection, optionally stopping at a limit.",
        syntax: "numkeys key [key ...] [LIMIT limit:integer]",
    },
    Doc {
        name: "sinterstore",
        group: "set",
        since: "1.0.0",
        summary: "Store the intersection of sets in a key.",
        syntax: "destination key [key ...]",
    },
    Doc {
        name: "sunion",
        group: "set",
        since: "1.0.0",
        summary: "Members of any of the given sets.",
        syntax: "key [key ...]",
    },
    Doc {
        name: "sunionstore",
        group: "set",
        since: "1.0.0",
        summary: "Store the union of sets in a key.",
        syntax: "destination key [key ...]",
    },
    Doc {
        name: "sdiff",
        group: "set",
        since: "1.0.0",
        summary: "Members of the first set that are in none of the others.",
        syntax: "key [key ...]",
    },
    Doc {
        name: "sdiffstore",
        group: "set",
        since: "1.0.0",
        summary: "Store the difference of sets in a key.",
        syntax: "destination key [key ...]",
    },
    Doc {
        name: "sscan",
        group: "set",
        since: "2.8.0",
        summary: "Iterate a set's members with a cursor.",
        syntax: "key cursor [MATCH pattern] [COUNT count]",
    },
];

fn get<'s>(k: &'s mut KeyView<'_>) -> Result<Option<&'s mut Set>, WrongType> {
    k.set_value()
}
fn create<'s>(k: &'s mut KeyView<'_>) -> Result<&'s mut Set, WrongType> {
    k.set_or_new()
}

/// SADD key member [member ...]
fn sadd(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    with_created(ctx, argv.get(1), create, |s, out| {
        reply::integer(out, argv.iter().skip(2).filter(|m| s.add(m)).count() as i64);
    });
}

/// SREM key member [member ...]
fn srem(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    with_existing(ctx, argv.get(1), get, |s, out| {
        reply::integer(out, s.map_or(0, |s| argv.iter().skip(2).filter(|m| s.remove(m)).count()) as i64);
    });
}

/// SISMEMBER key member
fn sismember(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    with_existing(ctx, argv.get(1), get, |s, out| {
        reply::integer(out, i64::from(s.is_some_and(|s| s.contains(argv.get(2)))));
    });
}

/// SMISMEMBER key member [member ...]
fn smismember(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    with_existing(ctx, argv.get(1), get, |s, out| {
        reply::array(out, argv.len() - 2);
        for m in argv.iter().skip(2) {
            reply::integer(out, i64::from(s.as_ref().is_some_and(|s| s.contains(m))));
        }
    });
}

/// SCARD key
fn scard(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    with_existing(ctx, argv.get(1), get, |s, out| reply::integer(out, s.map_or(0, |s| s.len()) as i64));
}

/// SMEMBERS key
fn smembers(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    with_existing(ctx, argv.get(1), get, |s, out| {
        reply::set(out, s.as_ref().map_or(0, |s| s.len()));
        s.iter().flat_map(|s| s.iter()).for_each(|m| reply::bulk(out, &m));
    });
}

/// SPOP key [count]
fn spop(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    if argv.len() > 3 {
        return ctx.error(ERR_SYNTAX);
    }
    if argv.len() == 2 {
        with_existing(ctx, argv.get(1), get, |s, out| match s.filter(|s| !s.is_empty()) {
            Some(s) => reply::bulk(out, &s.take_at(random_below(s.len()))),
            None => reply::null(out),
        });
        return;
    }
    let count = match parse_i64(argv.get(2)) {
        Some(n) if n >= 0 => n as u64,
        _ => return ctx.error(ERR_POSITIVE),
    };
    with_existing(ctx, argv.get(1), get, |s, out| {
        let Some(s) = s else {
            return reply::set(out, 0);
        };
        let n = (count as usize).min(s.len());
        reply::set(out, n);
        for _ in 0..n {
            let i = random_below(s.len());
            reply::bulk(out, &s.take_at(i));
        }
    });
}

/// SRANDMEMBER key [count]
fn srandmember(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    if argv.len() > 3 {
        return ctx.error(ERR_SYNTAX);
    }
    if argv.len() == 2 {
        with_existing(ctx, argv.get(1), get, |s, out| match s.filter(|s| !s.is_empty()) {
            Some(s) => reply::bulk(out, &s.at(random_below(s.len()))),
            None => reply::null(out),
        });
        return;
    }
    let (count, repeats) = match parse_random_count(argv.get(2)) {
        Ok(c) => c,
        Err(e) => return ctx.error(e),
    };
    with_existing(ctx, argv.get(1), get, |s, out| {
        let Some(s) = s else {
            return reply::array(out, 0);
        };
        let picks: Vec<usize> = if repeats {
            (0..count).map(|_| random_below(s.len())).collect()
        } else {
            distinct_random_indices(s.len(), (count as usize).min(s.len()))
        };
        reply::array(out, picks.len());
        picks.into_iter().for_each(|i| reply::bulk(out, &s.at(i)));
    });
}

/// SMOVE source destination member
fn smove(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let (db, member) = (ctx.db(), argv.get(3));
    let keys = [(db, argv.get(1)), (db, argv.get(2))];
    let moved = ctx.shared.store.with_keys(&keys, ctx.now_ms, |m| {
        // As Redis: a missing source answers 0 before the destination's type is checked.
        let Some(present) = m.key(0).set_value()?.map(|s| s.contains(member)) else {
            return Ok(false);
        };
        m.key(1).set_value()?;
        if !present {
            return Ok(false);
        }
        if argv.get(1) == argv.get(2) {
            return Ok(true);
        }
        let mut source = m.key(0);
        source.set_value()?.map(|s| s.remove(member));
        source.touch();
        source.remove_if_empty();
        let mut target = m.key(1);
        target.set_or_new()?.add(member);
        target.touch();
        Ok(true)
    });
    match moved {
        Ok(moved) => reply::integer(ctx.out, i64::from(moved)),
        Err(WrongType) => ctx.error(ERR_WRONGTYPE),
    }
}

/// Which set algebra to apply.
#[derive(Clone, Copy, PartialEq)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// Copy the sets at `keys` out (absent = `None`), all locked together; `Err` if any key
/// holds another type (Redis checks every key first).
fn load(m: &mut crate::store::MultiView<'_>, range: std::ops::Range<usize>) -> Result<Vec<Option<Set>>, WrongType> {
    range.map(|i| Ok(m.key(i).set_value()?.map(|s| s.clone()))).collect()
}

/// The members of `op` over `sets`, stopping once `limit` members are found (0 = none).
fn compute(op: Op, sets: &[Option<Set>], limit: usize) -> Vec<Vec<u8>> {
    let limit = if limit == 0 { usize::MAX } else { limit };
    match op {
        Op::Inter => {
            if sets.iter().any(|s| s.is_none()) {
                return Vec::new();
            }
            let mut present: Vec<&Set> = sets.iter().flatten().collect();
            present.sort_by_key(|s| s.len());
            let Some((smallest, rest)) = present.split_first() else {
                return Vec::new();
            };
            smallest.iter().filter(|m| rest.iter().all(|s| s.contains(m))).take(limit).map(|m| m.into_owned()).collect()
        }
        Op::Union => {
            let mut seen = Set::with_table();
            let mut result = Vec::new();
            for m in sets.iter().flatten().flat_map(|s| s.iter()) {
                if seen.add(&m) {
                    result.push(m.into_owned());
                }
            }
            result
        }
        Op::Diff => {
            let Some(Some(first)) = sets.first() else {
                return Vec::new();
            };
            let others = &sets[1..];
            first.iter().filter(|m| others.iter().flatten().all(|s| !s.contains(m))).map(|m| m.into_owned()).collect()
        }
    }
}

/// SINTER / SUNION / SDIFF key [key ...]
fn algebra(ctx: &mut Ctx<'_>, argv: Argv<'_>, op: Op) {
    let db = ctx.db();
    let keys: Vec<(usize, &[u8])> = argv.iter().skip(1).map(|k| (db, k)).collect();
    let result =
        ctx.shared.store.with_keys(&keys, ctx.now_ms, |m| load(m, 0..keys.len()).map(|sets| compute(op, &sets, 0)));
    match result {
        Err(WrongType) => ctx.error(ERR_WRONGTYPE),
        Ok(members) => {
            reply::set(ctx.out, members.len());
            members.iter().for_each(|m| reply::bulk(ctx.out, m));
        }
    }
}

/// SINTERSTORE / SUNIONSTORE / SDIFFSTORE destination key [key ...]
fn algebra_store(ctx: &mut Ctx<'_>, argv: Argv<'_>, op: Op) {
    let db = ctx.db();
    let keys: Vec<(usize, &[u8])> = argv.iter().skip(1).map(|k| (db, k)).collect();
    let stored = ctx.shared.store.with_keys(&keys, ctx.now_ms, |m| {
        let members = compute(op, &load(m, 1..keys.len())?, 0);
        let mut dest = m.key(0);
        if members.is_empty() {
            dest.remove();
            return Ok(0);
        }
        let mut set = Set::new();
        for member in &members {
            set.add(member);
        }
        dest.set(Value::Set(Box::new(set)), None);
        Ok(members.len())
    });
    match stored {
        Err(WrongType) => ctx.error(ERR_WRONGTYPE),
        Ok(n) => reply::integer(ctx.out, n as i64),
    }
}

/// SINTER key [key ...]
fn sinter(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    algebra(ctx, argv, Op::Inter);
}
/// SUNION key [key ...]
fn sunion(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    algebra(ctx, argv, Op::Union);
}
/// SDIFF key [key ...]
fn sdiff(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    algebra(ctx, argv, Op::Diff);
}
/// SINTERSTORE destination key [key ...]
fn sinterstore(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    algebra_store(ctx, argv, Op::Inter);
}
/// SUNIONSTORE destination key [key ...]
fn sunionstore(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    algebra_store(ctx, argv, Op::Union);
}
/// SDIFFSTORE destination key [key ...]
fn sdiffstore(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    algebra_store(ctx, argv, Op::Diff);
}

/// `numkeys key [key ...]` then options, as SINTERCARD / ZINTERCARD / ZUNION … parse it:
/// the keys and the index of the first option.
pub fn parse_numkeys(argv: Argv<'_>, first: usize) -> Result<(Vec<&[u8]>, usize), &'static str> {
    // Redis's message covers a non-integer numkeys too.
    let n = parse_i64(argv.get(first)).ok_or(ERR_NUMKEYS)?;
    if n < 1 {
        return Err(ERR_NUMKEYS);
    }
    if n as u64 > (argv.len() - first - 1) as u64 {
        return Err(ERR_WRONG_NUMKEYS);
    }
    let n = n as usize;
    Ok(((first + 1..first + 1 + n).map(|i| argv.get(i)).collect(), first + 1 + n))
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
fn sintercard(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let (keys, mut i) = match parse_numkeys(argv, 1) {
        Ok(p) => p,
        Err(e) => return ctx.error(e),
    };
    let mut limit = 0;
    while i < argv.len() {
        if eq_ignore_case(argv.get(i), "limit") && i + 1 < argv.len() {
            match parse_i64(argv.get(i + 1)) {
                // Redis's message covers a non-integer too.
                None => return ctx.error(ERR_LIMIT_NEGATIVE),
                Some(n) if n < 0 => return ctx.error(ERR_LIMIT_NEGATIVE),
                Some(n) => limit = n as usize,
            }
            i += 2;
        } else {
            return ctx.error(ERR_SYNTAX);
        }
    }
    let db = ctx.db();
    let keys: Vec<(usize, &[u8])> = keys.into_iter().map(|k| (db, k)).collect();
    let result = ctx
        .shared
        .store
        .with_keys(&keys, ctx.now_ms, |m| load(m, 0..keys.len()).map(|s| compute(Op::Inter, &s, limit).len()));
    match result {
        Err(WrongType) => ctx.error(ERR_WRONGTYPE),
        Ok(n) => reply::integer(ctx.out, n as i64),
    }
}

/// SSCAN key cursor [MATCH pattern] [COUNT count]
fn sscan(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    // Redis's order: the cursor, then the key (missing: an empty scan), then the options.
    let args = parse_scan(argv);
    if let Err(e @ ERR_INVALID_CURSOR) = args {
        return ctx.error(e);
    }
    with_existing(ctx, argv.get(1), get, |s, out| {
        let args = match (&s, &args) {
            (None, _) => return scan_reply(out, 0, &[]),
            (Some(_), Err(e)) => return reply::error(out, e),
            (Some(_), Ok(a)) => a,
        };
        let mut items = Vec::new();
        let next = s.map_or(0, |s| {
            s.scan(args.cursor, args.count, |m| {
                if args.matches(m) {
                    items.push(m.to_vec());
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

    use crate::cmd::run_line_for_test as run;

    #[test]
    fn scans_check_cursor_then_key_then_options() {
        // Found by scripts/redis-diff; replies captured from redis-server 7.0.15 (for SSCAN,
        // HSCAN and ZSCAN alike: they share the order).
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        let mut r = |line: &str| run(&shared, &mut c, line);
        r("SADD st a");
        let empty = "*2\r\n$1\r\n0\r\n*0\r\n";
        let wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
        for scan in ["SSCAN", "HSCAN", "ZSCAN"] {
            assert_eq!(r(&format!("{scan} missing x")), "-ERR invalid cursor\r\n", "{scan}");
            assert_eq!(r(&format!("{scan} missing 0 FOO")), empty, "{scan}");
            assert_eq!(r(&format!("{scan} missing 1 COUNT abc")), empty, "{scan}");
        }
        assert_eq!(r("SSCAN st 0 FOO"), "-ERR syntax error\r\n");
        assert_eq!(r("SSCAN st 0 COUNT 0"), "-ERR syntax error\r\n");
        assert_eq!(r("HSCAN st 0 COUNT 0"), wrong);
        assert_eq!(r("ZSCAN st 0 BOGUS"), wrong);
    }

    #[test]
    fn replies_and_errors_match_redis() {
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        let mut r = |line: &str| run(&shared, &mut c, line);
        assert_eq!(r("SADD s1 a b c"), ":3\r\n");
        assert_eq!(r("SADD s2 c d"), ":2\r\n");
        assert_eq!(r("SMOVE s1 s2 zz"), ":0\r\n");
        assert_eq!(r("SMOVE nokey s2 a"), ":0\r\n");
        assert_eq!(r("SPOP s1 -1"), "-ERR value is out of range, must be positive\r\n");
        assert_eq!(r("SPOP s1 0"), "*0\r\n");
        assert_eq!(r("SPOP nokey"), "$-1\r\n");
        assert_eq!(r("SPOP nokey 3"), "*0\r\n");
        assert_eq!(r("SPOP s1 1 2"), "-ERR syntax error\r\n");
        assert_eq!(r("SRANDMEMBER nokey"), "$-1\r\n");
        assert_eq!(r("SRANDMEMBER nokey -3"), "*0\r\n");
        assert_eq!(r("SRANDMEMBER s1 0"), "*0\r\n");
        assert_eq!(r("SRANDMEMBER s1 -5").matches("$1\r\n").count(), 5);
        assert_eq!(r("SRANDMEMBER s1 5").matches("$1\r\n").count(), 3);
        assert_eq!(r("SINTERCARD 0 s1"), "-ERR numkeys should be greater than 0\r\n");
        assert_eq!(r("SINTERCARD 2 s1 s2 LIMIT -1"), "-ERR LIMIT can't be negative\r\n");
        assert_eq!(r("SINTERCARD 2 s1 s2 LIMIT 0"), ":1\r\n");
        assert_eq!(r("SINTERCARD 1 s1 foo"), "-ERR syntax error\r\n");
        assert_eq!(r("SINTERCARD 3 s1 s2"), "-ERR Number of keys can't be greater than number of args\r\n");
        assert_eq!(r("SINTERSTORE d nokey s1"), ":0\r\n");
        assert_eq!(r("EXISTS d"), ":0\r\n");
        assert_eq!(r("SDIFFSTORE d s1 s2"), ":2\r\n");
        assert_eq!(r("SMISMEMBER d a zz"), "*2\r\n:1\r\n:0\r\n");
        assert_eq!(r("SUNION s1 s2 nokey").matches("$1\r\n").count(), 4);
        assert_eq!(r("SMOVE s1 s2 a"), ":1\r\n");
        assert_eq!(r("SISMEMBER s2 a"), ":1\r\n");
        assert_eq!(r("SET str v"), "+OK\r\n");
        let wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
        assert_eq!(r("SINTER nokey str"), wrong);
        assert_eq!(r("SUNIONSTORE d s1 str"), wrong);
        assert_eq!(r("SMOVE s1 str b"), wrong);
        assert_eq!(r("SADD str a"), wrong);
        assert_eq!(r("SADD n 1 2 3"), ":3\r\n");
        assert_eq!(r("OBJECT ENCODING n"), "$6\r\nintset\r\n");
        assert_eq!(r("SMEMBERS n"), "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n");
        assert_eq!(r("SADD n x"), ":1\r\n");
        assert_eq!(r("OBJECT ENCODING n"), "$9\r\nhashtable\r\n");
        assert_eq!(r("SREM n 1 2 3 x"), ":4\r\n");
        assert_eq!(r("EXISTS n"), ":0\r\n");
    }

    #[test]
    fn resp3_sets() {
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        run_for_test(&shared, &mut c, &[b"SADD", b"s", b"a"]);
        assert_eq!(run_for_test_in(&shared, &mut c, Proto::Resp3, &[b"SMEMBERS", b"s"]), b"~1\r\n$1\r\na\r\n");
        assert_eq!(run_for_test_in(&shared, &mut c, Proto::Resp3, &[b"SRANDMEMBER", b"s", b"1"]), b"*1\r\n$1\r\na\r\n");
        assert_eq!(run_for_test_in(&shared, &mut c, Proto::Resp3, &[b"SPOP", b"s", b"1"]), b"~1\r\n$1\r\na\r\n");
    }
}
