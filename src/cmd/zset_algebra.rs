//! Sorted-set algebra: ZUNION, ZINTER, ZDIFF, ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE, ZINTERCARD.
//!
//! As Redis 7.0's `zunionInterDiffGenericCommand`: inputs may be sorted sets or plain sets
//! (every member scoring 1), WEIGHTS multiply scores (a NaN product counts as 0), AGGREGATE
//! SUM (NaN → 0) / MIN / MAX combines them; every input key (and the destination) is locked
//! together, so the result is one consistent snapshot.

use super::zset::{reply_members, store_items};
use super::zset_range::order;
use super::{
    eq_ignore_case, parse_f64, parse_i64, Command, Ctx, Doc, DENYOOM, ERR_SYNTAX, ERR_WRONGTYPE, READONLY, WRITE,
};
use crate::protocol::Argv;
use crate::reply;
use crate::store::MultiView;
use crate::types::{ValueRef, WrongType};

const ERR_WEIGHT: &str = "ERR weight value is not a float";
const ERR_LIMIT_NEGATIVE: &str = "ERR LIMIT can't be negative";

pub const COMMANDS: &[Command] = &[
    Command { name: "zunion", arity: -3, flags: READONLY, keys: (0, 0, 0), handler: zunion },
    Command { name: "zinter", arity: -3, flags: READONLY, keys: (0, 0, 0), handler: zinter },
    Command { name: "zdiff", arity: -3, flags: READONLY, keys: (0, 0, 0), handler: zdiff },
    Command { name: "zunionstore", arity: -4, flags: WRITE | DENYOOM, keys: (1, 1, 1), handler: zunionstore },
    Command { name: "zinterstore", arity: -4, flags: WRITE | DENYOOM, keys: (1, 1, 1), handler: zinterstore },
    Command { name: "zdiffstore", arity: -4, flags: WRITE | DENYOOM, keys: (1, 1, 1), handler: zdiffstore },
    Command { name: "zintercard", arity: -3, flags: READONLY, keys: (0, 0, 0), handler: zintercard },
];

/// Documentation of this family's commands (see [`super::Doc`]).
pub const DOCS: &[Doc] = &[
    Doc {
        name: "zunion",
        group: "sorted-set",
        since: "6.2.0",
        summary: "Union of sorted sets (or sets), scores combined.",
        syntax: "numkeys key [key ...] [WEIGHTS weight:integer [weight:integer ...]] [AGGREGATE aggregate=<SUM | MIN | MAX>] [WITHSCORES]",
    },
    Doc {
        name: "zinter",
        group: "sorted-set",
        since: "6.2.0",
        summary: "Intersection of sorted sets (or sets), scores combined.",
        syntax: "numkeys key [key ...] [WEIGHTS weight:integer [weight:integer ...]] [AGGREGATE aggregate=<SUM | MIN | MAX>] [WITHSCORES]",
    },
    Doc {
        name: "zdiff",
        group: "sorted-set",
        since: "6.2.0",
        summary: "Members of the first sorted set found in none of the others.",
        syntax: "numkeys key [key ...] [WITHSCORES]",
    },
    Doc {
        name: "zunionstore",
        group: "sorted-set",
        since: "2.0.0",
        summary: "Store a ZUNION result in a key.",
        syntax: "destination numkeys key [key ...] [WEIGHTS weight:integer [weight:integer ...]] [AGGREGATE aggregate=<SUM | MIN | MAX>]",
    },
    Doc {
        name: "zinterstore",
        group: "sorted-set",
        since: "2.0.0",
        summary: "Store a ZINTER result in a key.",
        syntax: "destination numkeys key [key ...] [WEIGHTS weight:integer [weight:integer ...]] [AGGREGATE aggregate=<SUM | MIN | MAX>]",
    },
    Doc {
        name: "zdiffstore",
        group: "sorted-set",
        since: "6.2.0",
        summary: "Store a ZDIFF result in a key.",
        syntax: "destination numkeys key [key ...]",
    },
    Doc {
        name: "zintercard",
        group: "sorted-set",
        since: "7.0.0",
        summary: "Size of the intersection, optionally stopping at a limit.",
        syntax: "numkeys key [key ...] [LIMIT limit:integer]",
    },
];

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    fn apply(self, acc: f64, v: f64) -> f64 {
        match self {
            Aggregate::Sum => {
                let s = acc + v;
                if s.is_nan() {
                    0.0
                } else {
                    s
                }
            }
            Aggregate::Min => acc.min(v),
            Aggregate::Max => acc.max(v),
        }
    }
}

/// A parsed algebra request.
struct Request<'a> {
    keys: Vec<&'a [u8]>,
    weights: Vec<f64>,
    aggregate: Aggregate,
    with_scores: bool,
}

/// Parse `numkeys key ...` from `argv[first..]`: the keys and where the options start.
fn parse_keys<'a>(argv: Argv<'a>, first: usize, name: &str) -> Result<(Vec<&'a [u8]>, usize), String> {
    let n = match parse_i64(argv.get(first)) {
        None => return Err(super::ERR_NOT_INTEGER.into()),
        Some(n) if n < 1 => return Err(format!("ERR at least 1 input key is needed for '{name}' command")),
        Some(n) if n as u64 > (argv.len() - first - 1) as u64 => return Err(ERR_SYNTAX.into()),
        Some(n) => n as usize,
    };
    Ok(((first + 1..first + 1 + n).map(|i| argv.get(i)).collect(), first + 1 + n))
}

/// Parse `[WEIGHTS ...] [AGGREGATE ...] [WITHSCORES]` from `argv[i..]`. Redis reads them
/// after checking the input keys' types, so the caller does too.
fn parse_options<'a>(
    argv: Argv<'a>,
    mut i: usize,
    keys: Vec<&'a [u8]>,
    op: Op,
    store: bool,
) -> Result<Request<'a>, String> {
    let mut req = Request { weights: vec![1.0; keys.len()], keys, aggregate: Aggregate::Sum, with_scores: false };
    while i < argv.len() {
        let a = argv.get(i);
        let n = req.keys.len();
        if op != Op::Diff && eq_ignore_case(a, "weights") && i + n < argv.len() {
            for j in 0..n {
                req.weights[j] = parse_f64(argv.get(i + 1 + j)).ok_or(ERR_WEIGHT)?;
            }
            i += n + 1;
        } else if op != Op::Diff && eq_ignore_case(a, "aggregate") && i + 1 < argv.len() {
            let v = argv.get(i + 1);
            req.aggregate = match () {
                _ if eq_ignore_case(v, "sum") => Aggregate::Sum,
                _ if eq_ignore_case(v, "min") => Aggregate::Min,
                _ if eq_ignore_case(v, "max") => Aggregate::Max,
                _ => return Err(ERR_SYNTAX.into()),
            };
            i += 2;
        } else if !store && eq_ignore_case(a, "withscores") {
            req.with_scores = true;
            i += 1;
        } else {
            return Err(ERR_SYNTAX.into());
        }
    }
    Ok(req)
}

/// One input's (member, score) pairs, `None` if the key is absent.
type Input = Option<Vec<(Vec<u8>, f64)>>;

/// Read input key `i` of `m`: a sorted set, or a set (scores 1).
fn read_input(m: &mut MultiView<'_>, i: usize) -> Result<Input, WrongType> {
    let mut k = m.key(i);
    Ok(match k.get().map(|e| e.value()) {
        None => None,
        Some(ValueRef::ZSet(z)) => Some(z.iter().into_iter().map(|(m, s)| (m.to_vec(), s)).collect()),
        Some(ValueRef::Set(s)) => Some(s.iter().map(|m| (m.into_owned(), 1.0)).collect()),
        Some(_) => return Err(WrongType),
    })
}

/// Weighted score, NaN → 0 (as Redis).
fn weighted(score: f64, weight: f64) -> f64 {
    let v = score * weight;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

/// The result of `op` over `inputs`, sorted by (score, member).
fn compute(op: Op, req: &Request<'_>, inputs: Vec<Input>) -> Vec<(Vec<u8>, f64)> {
    let mut acc: ahash::HashMap<Vec<u8>, f64> = ahash::HashMap::default();
    let mut order_seen: Vec<Vec<u8>> = Vec::new();
    match op {
        Op::Union => {
            for (input, &w) in inputs.iter().zip(&req.weights) {
                for (m, s) in input.iter().flatten() {
                    let v = weighted(*s, w);
                    match acc.get_mut(m) {
                        Some(a) => *a = req.aggregate.apply(*a, v),
                        None => {
                            acc.insert(m.clone(), v);
                            order_seen.push(m.clone());
                        }
                    }
                }
            }
        }
        Op::Inter => {
            if inputs.iter().any(Option::is_none) {
                return Vec::new();
            }
            let maps: Vec<ahash::HashMap<&[u8], f64>> =
                inputs.iter().flatten().map(|v| v.iter().map(|(m, s)| (&m[..], *s)).collect()).collect();
            let first = inputs[0].as_deref().unwrap_or_default();
            for (m, s) in first {
                let mut v = weighted(*s, req.weights[0]);
                let mut all = true;
                for (map, &w) in maps.iter().zip(&req.weights).skip(1) {
                    match map.get(&m[..]) {
                        Some(&other) => v = req.aggregate.apply(v, weighted(other, w)),
                        None => all = false,
                    }
                }
                if all {
                    acc.insert(m.clone(), v);
                    order_seen.push(m.clone());
                }
            }
        }
        Op::Diff => {
            let others: ahash::HashSet<&[u8]> =
                inputs.iter().skip(1).flatten().flatten().map(|(m, _)| &m[..]).collect();
            for (m, s) in inputs[0].iter().flatten() {
                if !others.contains(&m[..]) {
                    acc.insert(m.clone(), *s);
                    order_seen.push(m.clone());
                }
            }
        }
    }
    let mut items: Vec<(Vec<u8>, f64)> = order_seen.into_iter().map(|m| (m.clone(), acc[&m])).collect();
    items.sort_by(order);
    items
}

/// Every algebra command: `first` is the numkeys position; `store` puts the result at argv[1].
fn run(ctx: &mut Ctx<'_>, argv: Argv<'_>, op: Op, store: bool, name: &str) {
    let first = if store { 2 } else { 1 };
    let (keys, options_at) = match parse_keys(argv, first, name) {
        Ok(k) => k,
        Err(e) => return ctx.error(&e),
    };
    let db = ctx.db();
    let mut locked: Vec<(usize, &[u8])> = keys.iter().map(|&k| (db, k)).collect();
    if store {
        locked.push((db, argv.get(1)));
    }
    let n = keys.len();
    // Redis's order: numkeys, the inputs' types (WRONGTYPE), then the options.
    let req = parse_options(argv, options_at, keys, op, store);
    let result = ctx.shared.store.with_keys(&locked, ctx.now_ms, |m| {
        let inputs = (0..n).map(|i| read_input(m, i)).collect::<Result<Vec<_>, _>>()?;
        let Ok(req) = &req else { return Ok(None) };
        let items = compute(op, req, inputs);
        if store {
            return Ok(Some((store_items(&mut m.key(n), &items), Vec::new())));
        }
        Ok(Some((items.len(), items)))
    });
    match (result, &req) {
        (Err(WrongType), _) => ctx.error(ERR_WRONGTYPE),
        (Ok(_), Err(e)) => ctx.error(e),
        (Ok(None), Ok(_)) => {}
        (Ok(Some((count, _))), Ok(_)) if store => {
            reply::integer(ctx.out, count as i64);
            if count > 0 {
                ctx.key_ready(db, argv.get(1));
            }
        }
        (Ok(Some((_, items))), Ok(req)) => reply_members(ctx.out, &items, req.with_scores),
    }
}

/// ZUNION numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
fn zunion(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    run(ctx, argv, Op::Union, false, "zunion");
}
/// ZINTER numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
fn zinter(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    run(ctx, argv, Op::Inter, false, "zinter");
}
/// ZDIFF numkeys key [key ...] [WITHSCORES]
fn zdiff(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    run(ctx, argv, Op::Diff, false, "zdiff");
}
/// ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX]
fn zunionstore(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    run(ctx, argv, Op::Union, true, "zunionstore");
}
/// ZINTERSTORE destination numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX]
fn zinterstore(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    run(ctx, argv, Op::Inter, true, "zinterstore");
}
/// ZDIFFSTORE destination numkeys key [key ...]
fn zdiffstore(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    run(ctx, argv, Op::Diff, true, "zdiffstore");
}

/// ZINTERCARD numkeys key [key ...] [LIMIT limit]
fn zintercard(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    // Redis 7.0 shares ZINTER's parsing: numkeys, the inputs' types, then LIMIT.
    let (keys, mut i) = match parse_keys(argv, 1, "zintercard") {
        Ok(p) => p,
        Err(e) => return ctx.error(&e),
    };
    let mut limit = Ok(usize::MAX);
    while i < argv.len() && limit.is_ok() {
        if eq_ignore_case(argv.get(i), "limit") && i + 1 < argv.len() {
            limit = match parse_i64(argv.get(i + 1)) {
                // Redis's message covers a non-integer too.
                None => Err(ERR_LIMIT_NEGATIVE),
                Some(n) if n < 0 => Err(ERR_LIMIT_NEGATIVE),
                Some(0) => Ok(usize::MAX),
                Some(n) => Ok(n as usize),
            };
            i += 2;
        } else {
            limit = Err(ERR_SYNTAX);
        }
    }
    let db = ctx.db();
    let n = keys.len();
    let req = Request { weights: vec![1.0; n], keys, aggregate: Aggregate::Sum, with_scores: false };
    let locked: Vec<(usize, &[u8])> = req.keys.iter().map(|&k| (db, k)).collect();
    let result = ctx.shared.store.with_keys(&locked, ctx.now_ms, |m| {
        let inputs = (0..n).map(|i| read_input(m, i)).collect::<Result<Vec<_>, _>>()?;
        Ok(limit.map(|limit| compute(Op::Inter, &req, inputs).len().min(limit)))
    });
    match result {
        Err(WrongType) => ctx.error(ERR_WRONGTYPE),
        Ok(Err(e)) => ctx.error(e),
        Ok(Ok(count)) => reply::integer(ctx.out, count as i64),
    }
}

#[cfg(test)]
mod tests {
    use crate::cmd::{run_line_for_test, ClientState};
    use crate::config::Config;
    use crate::shared::Shared;

    #[test]
    fn input_types_are_checked_before_options_as_in_redis() {
        // Found by scripts/redis-diff; replies captured from redis-server 7.0.15.
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        let mut r = |line: &str| run_line_for_test(&shared, &mut c, line);
        let wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
        r("ZADD zz 1 a");
        r("SET s9 x");
        for (cmd, want) in [
            ("ZINTER 1 s9 WEIGHTS abc", wrong),
            ("ZUNIONSTORE dst 1 s9 FOO", wrong),
            ("ZINTERCARD 0 zz", "-ERR at least 1 input key is needed for 'zintercard' command\r\n"),
            ("ZINTERCARD 3 zz", "-ERR syntax error\r\n"),
            ("ZINTERCARD 1 s9 LIMIT b", wrong),
            ("ZINTERCARD 1 zz LIMIT b", "-ERR LIMIT can't be negative\r\n"),
            ("ZINTERCARD 1 zz LIMIT", "-ERR syntax error\r\n"),
            ("ZINTERCARD x zz", "-ERR value is not an integer or out of range\r\n"),
            ("ZUNION 1 zz WEIGHTS x", "-ERR weight value is not a float\r\n"),
            ("ZDIFFSTORE dst 1 zz WEIGHTS 1", "-ERR syntax error\r\n"),
            ("EXISTS dst", ":0\r\n"),
            ("SINTERCARD x zz", "-ERR numkeys should be greater than 0\r\n"),
            ("SINTERCARD 1 zz LIMIT x", "-ERR LIMIT can't be negative\r\n"),
            ("ZUNION 1 zz WITHSCORES", "*2\r\n$1\r\na\r\n$1\r\n1\r\n"),
        ] {
            assert_eq!(r(cmd), want, "{cmd}");
        }
    }
}
