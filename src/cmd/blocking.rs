//! Blocking pops: BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP BZPOPMIN BZPOPMAX BZMPOP. Each first
//! tries its non-blocking form; with nothing to pop it blocks the client through
//! [`crate::blocking`], which serves it when another connection pushes to one of its keys,
//! times it out, or unblocks it (CLIENT UNBLOCK). Inside EXEC (and scripts) they never block:
//! an empty result is answered at once, as Redis does.

use std::sync::Arc;

use super::list::{parse_side, pop_many, ERR_COUNT_POSITIVE, ERR_NUMKEYS};
use super::NOSCRIPT;
use super::{eq_ignore_case, parse_i64, Command, Ctx, Doc, ERR_SYNTAX, ERR_WRONGTYPE};
use super::{BLOCKING, DENYOOM, FAST, MOVABLE_KEYS, WRITE};
use crate::blocking::Waiter;
use crate::protocol::Argv;
use crate::reply::{self, Out};
use crate::shared::Shared;
use crate::types::WrongType;

pub const DOCS: &[Doc] = &[
    Doc {
        name: "blpop",
        group: "list",
        since: "2.0.0",
        summary: "Pop the first element of the first non-empty list, waiting up to timeout seconds for one.",
        syntax: "key [key ...] timeout:double",
    },
    Doc {
        name: "brpop",
        group: "list",
        since: "2.0.0",
        summary: "Pop the last element of the first non-empty list, waiting up to timeout seconds for one.",
        syntax: "key [key ...] timeout:double",
    },
    Doc {
        name: "brpoplpush",
        group: "list",
        since: "2.2.0",
        summary: "Move the last element of a list to the head of another, waiting for one if needed.",
        syntax: "source destination timeout:double",
    },
    Doc {
        name: "blmove",
        group: "list",
        since: "6.2.0",
        summary: "Move an element from one end of a list to an end of another, waiting for one if needed.",
        syntax: "source destination wherefrom=<LEFT | RIGHT> whereto=<LEFT | RIGHT> timeout:double",
    },
    Doc {
        name: "blmpop",
        group: "list",
        since: "7.0.0",
        summary: "Pop up to count elements from the first non-empty list, waiting for one if needed.",
        syntax: "timeout:double numkeys key [key ...] where=<LEFT | RIGHT> [COUNT count]",
    },
    Doc {
        name: "bzpopmin",
        group: "sorted-set",
        since: "5.0.0",
        summary: "Pop the lowest-scored member of the first non-empty sorted set, waiting for one if needed.",
        syntax: "key [key ...] timeout:double",
    },
    Doc {
        name: "bzpopmax",
        group: "sorted-set",
        since: "5.0.0",
        summary: "Pop the highest-scored member of the first non-empty sorted set, waiting for one if needed.",
        syntax: "key [key ...] timeout:double",
    },
    Doc {
        name: "bzmpop",
        group: "sorted-set",
        since: "7.0.0",
        summary: "Pop up to count members of the first non-empty sorted set, waiting for one if needed.",
        syntax: "timeout:double numkeys key [key ...] where=<MIN | MAX> [COUNT count]",
    },
];

pub const COMMANDS: &[Command] = &[
    Command { name: "blpop", arity: -3, flags: WRITE | BLOCKING | NOSCRIPT, keys: (1, -2, 1), handler: blpop },
    Command { name: "brpop", arity: -3, flags: WRITE | BLOCKING | NOSCRIPT, keys: (1, -2, 1), handler: brpop },
    Command {
        name: "brpoplpush",
        arity: 4,
        flags: WRITE | DENYOOM | BLOCKING | NOSCRIPT,
        keys: (1, 2, 1),
        handler: brpoplpush,
    },
    Command {
        name: "blmove",
        arity: 6,
        flags: WRITE | DENYOOM | BLOCKING | NOSCRIPT,
        keys: (1, 2, 1),
        handler: blmove,
    },
    Command { name: "blmpop", arity: -5, flags: WRITE | BLOCKING | MOVABLE_KEYS, keys: (0, 0, 0), handler: blmpop },
    Command {
        name: "bzpopmin",
        arity: -3,
        flags: WRITE | FAST | BLOCKING | NOSCRIPT,
        keys: (1, -2, 1),
        handler: bzpopmin,
    },
    Command {
        name: "bzpopmax",
        arity: -3,
        flags: WRITE | FAST | BLOCKING | NOSCRIPT,
        keys: (1, -2, 1),
        handler: bzpopmax,
    },
    Command { name: "bzmpop", arity: -5, flags: WRITE | BLOCKING | MOVABLE_KEYS, keys: (0, 0, 0), handler: bzmpop },
];

const ERR_TIMEOUT_FLOAT: &str = "ERR timeout is not a float or out of range";
const ERR_TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";
/// Longest timeout kept: longer ones (Redis 7.0 accepts anything that fits its `long long`
/// milliseconds) wait this long, which is forever in practice and cannot overflow a deadline.
const TIMEOUT_MS_MAX: u64 = (i64::MAX / 2) as u64;
/// 2^63 as a float: milliseconds at or past it do not fit Redis's `long long`.
const I64_LIMIT_F64: f64 = 9_223_372_036_854_775_808.0;

/// What a blocked client pops once a key is ready.
#[derive(Clone, Debug)]
enum Op {
    /// BLPOP/BRPOP: one element, reply `[key, element]`.
    Pop { front: bool },
    /// BLMOVE/BRPOPLPUSH: reply the element.
    Move { dest: Box<[u8]>, from_left: bool, to_left: bool },
    /// BLMPOP: reply `[key, [elements]]`.
    MPop { front: bool, count: usize },
    /// BZPOPMIN/MAX: reply `[key, member, score]`.
    ZPop { max: bool },
    /// BZMPOP: reply `[key, [[member, score] ...]]`.
    ZMPop { max: bool, count: usize },
}

/// What came of one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Attempt {
    Served,
    Empty,
    WrongType,
}

/// Redis's `getTimeoutFromObjectOrReply`: seconds as a float, 0 = forever → milliseconds.
/// As in Redis 7.0, `inf` parses and a value whose milliseconds overflow a `long long`
/// (±inf, 1e16 s) lands on its minimum: "timeout is negative"; -0.0001 rounds up to 0.
fn parse_timeout(arg: &[u8]) -> Result<u64, &'static str> {
    let secs = super::parse_f64(arg).filter(|s| !s.is_nan()).ok_or(ERR_TIMEOUT_FLOAT)?;
    let ms = (secs * 1000.0).ceil();
    if !(0.0..I64_LIMIT_F64).contains(&ms) {
        return Err(ERR_TIMEOUT_NEGATIVE);
    }
    Ok((ms as u64).min(TIMEOUT_MS_MAX))
}

/// Try `keys` in order (once, under each key's shard lock). `strict`: a key of another
/// type answers WRONGTYPE (the client's own try); otherwise it is skipped (serving a
/// waiter, as Redis skips keys whose type changed).
fn attempt(shared: &Shared, db: usize, keys: &[Box<[u8]>], op: &Op, out: &mut Out, now: u64, strict: bool) -> Attempt {
    for key in keys {
        let done = match op {
            Op::Move { dest, from_left, to_left } => move_one(shared, db, key, dest, *from_left, *to_left, out, now),
            _ => pop_one(shared, db, key, op, out, now),
        };
        match done {
            Attempt::WrongType if !strict => {}
            Attempt::Empty => {}
            other => return other,
        }
    }
    Attempt::Empty
}

/// One pop (all but Move) from `key`, with its reply.
fn pop_one(shared: &Shared, db: usize, key: &[u8], op: &Op, out: &mut Out, now: u64) -> Attempt {
    shared.store.with_key(db, key, now, |k| {
        let popped = match op {
            Op::Pop { front } | Op::MPop { front, .. } => match k.list() {
                Err(WrongType) => return Attempt::WrongType,
                Ok(None) => return Attempt::Empty,
                Ok(Some(l)) => {
                    let count = if let Op::MPop { count, .. } = op { *count } else { 1 };
                    let items = pop_many(l, *front, count);
                    reply::array(out, 2);
                    reply::bulk(out, key);
                    if matches!(op, Op::MPop { .. }) {
                        reply::array(out, items.len());
                    }
                    items.iter().for_each(|i| reply::bulk(out, i));
                    (items.len(), if *front { &b"LPOP"[..] } else { &b"RPOP"[..] })
                }
            },
            Op::ZPop { max } | Op::ZMPop { max, .. } => match k.zset() {
                Err(WrongType) => return Attempt::WrongType,
                Ok(None) => return Attempt::Empty,
                Ok(Some(z)) => {
                    let count = if let Op::ZMPop { count, .. } = op { *count } else { 1 };
                    let items = super::zset::pop(z, *max, count);
                    zpop_reply(out, key, &items, matches!(op, Op::ZMPop { .. }));
                    (items.len(), if *max { &b"ZPOPMAX"[..] } else { &b"ZPOPMIN"[..] })
                }
            },
            Op::Move { .. } => unreachable!("moves go through move_one"),
        };
        let (popped, name) = popped;
        k.touch();
        propagate_pop(db, key, name, op, popped);
        k.remove_if_empty();
        if popped > 0 {
            Attempt::Served
        } else {
            Attempt::Empty
        }
    })
}

/// What the AOF records for a pop done by a blocking command (Redis 7.0 propagates BLPOP as
/// `LPOP key`, BLMPOP as `LPOP key count`, BZPOPMIN as `ZPOPMIN key`, ...): the key served
/// and how many came off it, never the blocking form (see [`crate::store::journal::push_effect`]).
fn propagate_pop(db: usize, key: &[u8], name: &[u8], op: &Op, popped: usize) {
    if popped == 0 || !crate::store::journal::unit_open() {
        return;
    }
    let mut n = itoa::Buffer::new();
    let resp = if matches!(op, Op::MPop { .. } | Op::ZMPop { .. }) {
        crate::store::journal::encode(&[name, key, n.format(popped).as_bytes()])
    } else {
        crate::store::journal::encode(&[name, key])
    };
    crate::store::journal::push_effect(db, resp);
}

fn zpop_reply(out: &mut Out, key: &[u8], items: &[(Vec<u8>, f64)], nested: bool) {
    if nested {
        reply::array(out, 2);
        reply::bulk(out, key);
        reply::array(out, items.len());
        for (m, s) in items {
            reply::array(out, 2);
            reply::bulk(out, m);
            reply::double(out, *s);
        }
    } else if let Some((m, s)) = items.first() {
        reply::array(out, 3);
        reply::bulk(out, key);
        reply::bulk(out, m);
        reply::double(out, *s);
    }
}

/// LMOVE from `src` to `dest` in one step; then waiters on `dest` may be served.
#[allow(clippy::too_many_arguments)]
fn move_one(
    shared: &Shared,
    db: usize,
    src: &[u8],
    dest: &[u8],
    from_left: bool,
    to_left: bool,
    out: &mut Out,
    now: u64,
) -> Attempt {
    let keys = [(db, src), (db, dest)];
    let moved = shared.store.with_keys(&keys, now, |m| {
        if m.key(0).list()?.is_none() {
            return Ok(None);
        }
        m.key(1).list()?; // the destination must be a list (or absent)
        let mut source = m.key(0);
        let item = source.list()?.and_then(|l| if from_left { l.pop_front() } else { l.pop_back() });
        let Some(item) = item else { return Ok(None) };
        source.touch();
        if crate::store::journal::unit_open() {
            let side = |left: bool| if left { &b"LEFT"[..] } else { &b"RIGHT"[..] };
            let resp = crate::store::journal::encode(&[b"LMOVE", src, dest, side(from_left), side(to_left)]);
            crate::store::journal::push_effect(db, resp);
        }
        source.remove_if_empty();
        let mut target = m.key(1);
        let l = target.list_or_new()?;
        if to_left {
            l.push_front(&item);
        } else {
            l.push_back(&item);
        }
        target.touch();
        Ok(Some(item))
    });
    match moved {
        Err(WrongType) => Attempt::WrongType,
        Ok(None) => Attempt::Empty,
        Ok(Some(item)) => {
            reply::bulk(out, &item);
            // The destination may serve its own waiters now. Not when it is the source: the
            // signal that got here goes on through that key's queue itself (and this waiter,
            // being served, is still first in it).
            if src != dest {
                shared.blocking.signal(shared, &shared.clients, db, dest, now);
            }
            Attempt::Served
        }
    }
}

/// Serve at once if a key has data; otherwise block (or, when the client may not block,
/// answer the timeout reply now).
fn serve_or_block(ctx: &mut Ctx<'_>, keys: Vec<Box<[u8]>>, timeout_ms: u64, op: Op, timeout_reply: fn(&mut Out)) {
    let (shared, db, now) = (ctx.shared, ctx.db(), ctx.now_ms);
    match attempt(shared, db, &keys, &op, ctx.out, now, true) {
        Attempt::Served => return,
        Attempt::WrongType => return ctx.error(ERR_WRONGTYPE),
        Attempt::Empty => {}
    }
    if ctx.client.cannot_block {
        // Redis answers BLMOVE / BRPOPLPUSH that may not block with a null bulk, though
        // their timeout is a null array.
        return if matches!(op, Op::Move { .. }) { reply::null(ctx.out) } else { timeout_reply(ctx.out) };
    }
    ctx.client.handle.enable_remote_output();
    let deadline_ms = if timeout_ms == 0 { 0 } else { now.saturating_add(timeout_ms) };
    let serve_keys = keys.clone();
    let serve: crate::blocking::Serve<Shared> =
        Box::new(move |shared, out, now| attempt(shared, db, &serve_keys, &op, out, now, false) == Attempt::Served);
    let waiter = Waiter::new(ctx.client.handle.clone(), db, keys, ctx.out.proto, deadline_ms, timeout_reply, serve);
    shared.blocking.block(&waiter, &shared.clients);
    ctx.client.blocked = Some(Arc::clone(&waiter));
    // A push between the first try and the registration found no waiter: try once more.
    shared.blocking.serve(shared, &shared.clients, &waiter, now);
}

/// The keys a blocked client waits on.
type Keys = Vec<Box<[u8]>>;

/// `key [key ...] timeout` → keys and timeout.
fn keys_then_timeout(argv: Argv<'_>) -> Result<(Keys, u64), &'static str> {
    let timeout = parse_timeout(argv.get(argv.len() - 1))?;
    Ok(((1..argv.len() - 1).map(|i| Box::from(argv.get(i))).collect(), timeout))
}

fn pop_command(ctx: &mut Ctx<'_>, argv: Argv<'_>, op: Op) {
    match keys_then_timeout(argv) {
        Ok((keys, timeout)) => serve_or_block(ctx, keys, timeout, op, reply::null_array),
        Err(e) => ctx.error(e),
    }
}

/// BLPOP key [key ...] timeout
fn blpop(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    pop_command(ctx, argv, Op::Pop { front: true });
}
/// BRPOP key [key ...] timeout
fn brpop(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    pop_command(ctx, argv, Op::Pop { front: false });
}
/// BZPOPMIN key [key ...] timeout
fn bzpopmin(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    pop_command(ctx, argv, Op::ZPop { max: false });
}
/// BZPOPMAX key [key ...] timeout
fn bzpopmax(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    pop_command(ctx, argv, Op::ZPop { max: true });
}

fn move_command(ctx: &mut Ctx<'_>, argv: Argv<'_>, from_left: bool, to_left: bool, timeout_arg: usize) {
    let timeout = match parse_timeout(argv.get(timeout_arg)) {
        Ok(t) => t,
        Err(e) => return ctx.error(e),
    };
    let op = Op::Move { dest: argv.get(2).into(), from_left, to_left };
    // Redis 7.0 times every blocked list command out with a null array, BLMOVE included.
    serve_or_block(ctx, vec![argv.get(1).into()], timeout, op, reply::null_array);
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout
fn blmove(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let (Some(from), Some(to)) = (parse_side(argv.get(3)), parse_side(argv.get(4))) else {
        return ctx.error(ERR_SYNTAX);
    };
    move_command(ctx, argv, from, to, 5);
}
/// BRPOPLPUSH source destination timeout
fn brpoplpush(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    move_command(ctx, argv, false, true, 3);
}

/// `timeout numkeys key [key ...] <where> [COUNT count]` → (timeout, keys, where, count),
/// checked in Redis's order: numkeys, where, options, and the timeout last.
fn parse_bmpop<T>(argv: Argv<'_>, side: fn(&[u8]) -> Option<T>) -> Result<(u64, Keys, T, usize), &'static str> {
    let numkeys = parse_i64(argv.get(2)).filter(|&n| n > 0).ok_or(ERR_NUMKEYS)?;
    let numkeys = usize::try_from(numkeys).map_err(|_| ERR_NUMKEYS)?;
    if numkeys > argv.len().saturating_sub(4) {
        return Err(ERR_SYNTAX);
    }
    let keys = (3..3 + numkeys).map(|i| Box::from(argv.get(i))).collect();
    let side = side(argv.get(3 + numkeys)).ok_or(ERR_SYNTAX)?;
    let (mut count, mut i) = (None, 4 + numkeys);
    while i < argv.len() {
        if eq_ignore_case(argv.get(i), "count") && i + 1 < argv.len() && count.is_none() {
            let n = parse_i64(argv.get(i + 1)).filter(|&n| n > 0).ok_or(ERR_COUNT_POSITIVE)?;
            count = Some(usize::try_from(n).unwrap_or(usize::MAX));
            i += 2;
        } else {
            return Err(ERR_SYNTAX);
        }
    }
    let timeout = parse_timeout(argv.get(1))?;
    Ok((timeout, keys, side, count.unwrap_or(1)))
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]
fn blmpop(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let (timeout, keys, front, count) = match parse_bmpop(argv, parse_side) {
        Ok(p) => p,
        Err(e) => return ctx.error(e),
    };
    serve_or_block(ctx, keys, timeout, Op::MPop { front, count }, reply::null_array);
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]
fn bzmpop(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let min_max = |s: &[u8]| match s {
        s if eq_ignore_case(s, "min") => Some(false),
        s if eq_ignore_case(s, "max") => Some(true),
        _ => None,
    };
    let (timeout, keys, max, count) = match parse_bmpop(argv, min_max) {
        Ok(p) => p,
        Err(e) => return ctx.error(e),
    };
    serve_or_block(ctx, keys, timeout, Op::ZMPop { max, count }, reply::null_array);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::ClientState;
    use crate::config::Config;

    use crate::cmd::run_line_for_test as run;

    #[test]
    fn timeouts_parse_as_redis() {
        assert_eq!(parse_timeout(b"0"), Ok(0));
        assert_eq!(parse_timeout(b"1.5"), Ok(1500));
        assert_eq!(parse_timeout(b"0.0001"), Ok(1));
        assert_eq!(parse_timeout(b"-1"), Err(ERR_TIMEOUT_NEGATIVE));
        assert_eq!(parse_timeout(b"x"), Err(ERR_TIMEOUT_FLOAT));
        assert_eq!(parse_timeout(b"nan"), Err(ERR_TIMEOUT_FLOAT));
        // Found by scripts/redis-diff (redis-server 7.0.15's replies): overflowing
        // milliseconds are "negative", a tiny negative rounds up to forever, big ones block.
        assert_eq!(parse_timeout(b"inf"), Err(ERR_TIMEOUT_NEGATIVE));
        assert_eq!(parse_timeout(b"-inf"), Err(ERR_TIMEOUT_NEGATIVE));
        assert_eq!(parse_timeout(b"1e300"), Err(ERR_TIMEOUT_NEGATIVE));
        assert_eq!(parse_timeout(b"1e16"), Err(ERR_TIMEOUT_NEGATIVE));
        assert_eq!(parse_timeout(b"-0.0001"), Ok(0));
        assert_eq!(parse_timeout(b"9e15"), Ok(TIMEOUT_MS_MAX));
    }

    #[test]
    fn argument_errors_come_in_redis_order_and_move_times_out_with_a_null_array() {
        // Found by scripts/redis-diff; replies captured from redis-server 7.0.15.
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        let mut r = |line: &str| run(&shared, &mut c, line);
        assert_eq!(r("BLMPOP abc 2 z2 LeFt"), "-ERR syntax error\r\n");
        assert_eq!(r("BLMPOP 1e400 0 l LEFT"), "-ERR numkeys should be greater than 0\r\n");
        assert_eq!(r("BLMPOP -1 1 l LEFT COUNT 0"), "-ERR count should be greater than 0\r\n");
        assert_eq!(r("BLMPOP -1 1 l UP COUNT 0"), "-ERR syntax error\r\n");
        assert_eq!(r("BZMPOP inf 3 h bin MIN"), "-ERR syntax error\r\n");
        assert_eq!(r("BZMPOP -1 1 z MAX"), "-ERR timeout is negative\r\n");
        let mut m = ClientState::new(&shared);
        let mut r = |line: &str| run(&shared, &mut m, line);
        let out = r("MULTI") + &r("BLMOVE nosrc dst RIGHT LEFT 0") + &r("BLPOP nosrc 0") + &r("EXEC");
        assert_eq!(out, "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n$-1\r\n*-1\r\n");
        assert_eq!(run(&shared, &mut c, "BLMOVE nosrc dst RIGHT LEFT 0.001"), "");
        assert!(c.blocked.is_some(), "an empty source blocks");
    }

    #[test]
    fn data_present_answers_at_once_and_a_push_serves_a_waiter_in_order() {
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        assert_eq!(run(&shared, &mut c, "RPUSH l a b"), ":2\r\n");
        assert_eq!(run(&shared, &mut c, "BLPOP none l 0"), "*2\r\n$1\r\nl\r\n$1\r\na\r\n");
        assert_eq!(run(&shared, &mut c, "BRPOP l 0"), "*2\r\n$1\r\nl\r\n$1\r\nb\r\n");
        assert_eq!(run(&shared, &mut c, "SET s x"), "+OK\r\n");
        assert!(run(&shared, &mut c, "BLPOP s 0").starts_with("-WRONGTYPE"));
        // Two waiters block on `q`; one push of two elements serves them in order.
        let mut w1 = ClientState::new(&shared);
        let mut w2 = ClientState::new(&shared);
        assert_eq!(run(&shared, &mut w1, "BLPOP q 0"), "");
        assert_eq!(run(&shared, &mut w2, "BZPOPMIN z q 0"), "");
        assert!(w1.blocked.is_some());
        assert_eq!(run(&shared, &mut c, "RPUSH q 1 2"), ":2\r\n");
        assert_eq!(w1.handle.take_mail(), b"*2\r\n$1\r\nq\r\n$1\r\n1\r\n");
        assert_eq!(run(&shared, &mut c, "LLEN q"), ":1\r\n");
        // w2 waits for a sorted set: the list key it also named does not serve it.
        assert_eq!(w2.blocked.as_ref().map(|w| w.state()), Some(crate::blocking::State::Blocked));
        assert_eq!(run(&shared, &mut c, "ZADD z 1 m"), ":1\r\n");
        assert_eq!(w2.handle.take_mail(), b"*3\r\n$1\r\nz\r\n$1\r\nm\r\n$1\r\n1\r\n");
        drop(w2);
        assert_eq!(shared.blocking.blocked_clients(), 0);
    }

    #[test]
    fn inside_exec_blocking_commands_do_not_block() {
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        let out = run(&shared, &mut c, "MULTI") + &run(&shared, &mut c, "BLPOP q 0") + &run(&shared, &mut c, "EXEC");
        assert_eq!(out, "+OK\r\n+QUEUED\r\n*1\r\n*-1\r\n");
        assert!(c.blocked.is_none());
    }
}
