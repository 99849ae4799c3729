//! List commands: LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP, RPOP, LLEN, LINDEX, LSET, LRANGE, LTRIM,
//! LREM, LINSERT, LPOS, LMOVE, RPOPLPUSH, LMPOP (the blocking variants are built elsewhere,
//! on the [`Ctx::key_ready`] hook every push here calls).
//!
//! Semantics, reply shapes and error texts follow Redis 7.0's `t_list.c`. The data structure
//! is [`crate::types::List`].

use super::typed::{with_created, with_existing};
use super::FAST;
use super::{
    eq_ignore_case, parse_i64, Command, Ctx, Doc, DENYOOM, ERR_NOT_INTEGER, ERR_SYNTAX, ERR_WRONGTYPE, READONLY, WRITE,
};
use crate::protocol::Argv;
use crate::reply::{self, Out};
use crate::store::KeyView;
use crate::types::{List, WrongType};

const ERR_NO_SUCH_KEY: &str = "ERR no such key";
const ERR_INDEX_RANGE: &str = "ERR index out of range";
const ERR_POSITIVE: &str = "ERR value is out of range, must be positive";
const ERR_RANK_ZERO: &str =
    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";
const ERR_COUNT_NEGATIVE: &str = "ERR COUNT can't be negative";
const ERR_MAXLEN_NEGATIVE: &str = "ERR MAXLEN can't be negative";
pub const ERR_NUMKEYS: &str = "ERR numkeys should be greater than 0";
pub const ERR_WRONG_NUMKEYS: &str = "ERR Number of keys can't be greater than number of args";
pub const ERR_COUNT_POSITIVE: &str = "ERR count should be greater than 0";

pub const COMMANDS: &[Command] = &[
    Command { name: "lpush", arity: -3, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), handler: lpush },
    Command { name: "rpush", arity: -3, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), handler: rpush },
    Command { name: "lpushx", arity: -3, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), handler: lpushx },
    Command { name: "rpushx", arity: -3, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), handler: rpushx },
    Command { name: "lpop", arity: -2, flags: WRITE | FAST, keys: (1, 1, 1), handler: lpop },
    Command { name: "rpop", arity: -2, flags: WRITE | FAST, keys: (1, 1, 1), handler: rpop },
    Command { name: "llen", arity: 2, flags: READONLY | FAST, keys: (1, 1, 1), handler: llen },
    Command { name: "lindex", arity: 3, flags: READONLY, keys: (1, 1, 1), handler: lindex },
    Command { name: "lset", arity: 4, flags: WRITE | DENYOOM, keys: (1, 1, 1), handler: lset },
    Command { name: "lrange", arity: 4, flags: READONLY, keys: (1, 1, 1), handler: lrange },
    Command { name: "ltrim", arity: 4, flags: WRITE, keys: (1, 1, 1), handler: ltrim },
    Command { name: "lrem", arity: 4, flags: WRITE, keys: (1, 1, 1), handler: lrem },
    Command { name: "linsert", arity: 5, flags: WRITE | DENYOOM, keys: (1, 1, 1), handler: linsert },
    Command { name: "lpos", arity: -3, flags: READONLY, keys: (1, 1, 1), handler: lpos },
    Command { name: "lmove", arity: 5, flags: WRITE | DENYOOM, keys: (1, 2, 1), handler: lmove },
    Command { name: "rpoplpush", arity: 3, flags: WRITE | DENYOOM, keys: (1, 2, 1), handler: rpoplpush },
    Command { name: "lmpop", arity: -4, flags: WRITE, keys: (0, 0, 0), handler: lmpop },
];

/// Documentation of this family's commands (see [`super::Doc`]).
pub const DOCS: &[Doc] = &[
    Doc {
        name: "lpush",
        group: "list",
        since: "1.0.0",
        summary: "Prepend elements to a list, creating it if needed.",
        syntax: "key element [element ...]",
    },
    Doc {
        name: "rpush",
        group: "list",
        since: "1.0.0",
        summary: "Append elements to a list, creating it if needed.",
        syntax: "key element [element ...]",
    },
    Doc {
        name: "lpushx",
        group: "list",
        since: "2.2.0",
        summary: "Prepend elements only if the list exists.",
        syntax: "key element [element ...]",
    },
    Doc {
        name: "rpushx",
        group: "list",
        since: "2.2.0",
        summary: "Append elements only if the list exists.",
        syntax: "key element [element ...]",
    },
    Doc {
        name: "lpop",
        group: "list",
        since: "1.0.0",
        summary: "Remove and return elements from the head of a list.",
        syntax: "key [count]",
    },
    Doc {
        name: "rpop",
        group: "list",
        since: "1.0.0",
        summary: "Remove and return elements from the tail of a list.",
        syntax: "key [count]",
    },
    Doc { name: "llen", group: "list", since: "1.0.0", summary: "Length of a list.", syntax: "key" },
    Doc {
        name: "lindex",
        group: "list",
        since: "1.0.0",
        summary: "The element at an index (negative counts from the tail).",
        syntax: "key index",
    },
    Doc {
        name: "lset",
        group: "list",
        since: "1.0.0",
        summary: "Replace the element at an index.",
        syntax: "key index element",
    },
    Doc {
        name: "lrange",
        group: "list",
        since: "1.0.0",
        summary: "Elements between two inclusive indexes.",
        syntax: "key start stop:integer",
    },
    Doc {
        name: "ltrim",
        group: "list",
        since: "1.0.0",
        summary: "Keep only the elements between two inclusive indexes.",
        syntax: "key start stop:integer",
    },
    Doc {
        name: "lrem",
        group: "list",
        since: "1.0.0",
        summary: "Remove occurrences of an element, from the head or the tail.",
        syntax: "key count element",
    },
    Doc {
        name: "linsert",
        group: "list",
        since: "2.2.0",
        summary: "Insert an element before or after a pivot element.",
        syntax: "key where=<BEFORE | AFTER> pivot element",
    },
    Doc {
        name: "lpos",
        group: "list",
        since: "6.0.6",
        summary: "Positions of matching elements.",
        syntax: "key element [RANK rank:integer] [COUNT num-matches:integer] [MAXLEN len]",
    },
    Doc {
        name: "lmove",
        group: "list",
        since: "6.2.0",
        summary: "Pop from one end of a list and push to an end of another.",
        syntax: "source destination wherefrom=<LEFT | RIGHT> whereto=<LEFT | RIGHT>",
    },
    Doc {
        name: "rpoplpush",
        group: "list",
        since: "1.2.0",
        summary: "Pop from the tail of a list and push to the head of another.",
        syntax: "source destination",
    },
    Doc {
        name: "lmpop",
        group: "list",
        since: "7.0.0",
        summary: "Pop elements from the first non-empty list of several.",
        syntax: "numkeys key [key ...] where=<LEFT | RIGHT> [COUNT count]",
    },
];

fn get<'s>(k: &'s mut KeyView<'_>) -> Result<Option<&'s mut List>, WrongType> {
    k.list()
}
fn create<'s>(k: &'s mut KeyView<'_>) -> Result<&'s mut List, WrongType> {
    k.list_or_new()
}

/// LPUSH / RPUSH / LPUSHX / RPUSHX key element [element ...]
fn push(ctx: &mut Ctx<'_>, argv: Argv<'_>, front: bool, existing_only: bool) {
    let add = |l: &mut List, out: &mut Out| {
        for item in argv.iter().skip(2) {
            if front {
                l.push_front(item);
            } else {
                l.push_back(item);
            }
        }
        reply::integer(out, l.len() as i64);
    };
    let pushed = if existing_only {
        with_existing(ctx, argv.get(1), get, |l, out| match l {
            Some(l) => add(l, out),
            None => reply::integer(out, 0),
        })
    } else {
        with_created(ctx, argv.get(1), create, add)
    };
    if pushed.is_some() {
        ctx.key_ready(ctx.db(), argv.get(1));
    }
}

/// LPUSH key element [element ...]
fn lpush(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    push(ctx, argv, true, false);
}
/// RPUSH key element [element ...]
fn rpush(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    push(ctx, argv, false, false);
}
/// LPUSHX key element [element ...]
fn lpushx(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    push(ctx, argv, true, true);
}
/// RPUSHX key element [element ...]
fn rpushx(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    push(ctx, argv, false, true);
}

/// Pop up to `count` elements from one end.
pub fn pop_many(l: &mut List, front: bool, count: usize) -> Vec<Vec<u8>> {
    let n = count.min(l.len());
    (0..n).filter_map(|_| if front { l.pop_front() } else { l.pop_back() }).collect()
}

/// LPOP / RPOP key [count]
fn pop(ctx: &mut Ctx<'_>, argv: Argv<'_>, front: bool) {
    if argv.len() > 3 {
        return super::wrong_arity(ctx, if front { "lpop" } else { "rpop" });
    }
    let count = match argv.len() {
        3 => match parse_i64(argv.get(2)) {
            None => return ctx.error(ERR_POSITIVE),
            Some(n) if n < 0 => return ctx.error(ERR_POSITIVE),
            Some(n) => Some(n as usize),
        },
        _ => None,
    };
    with_existing(ctx, argv.get(1), get, |l, out| match (l, count) {
        (None, None) => reply::null(out),
        (None, Some(_)) => reply::null_array(out),
        (Some(l), None) => reply::opt_bulk(out, pop_many(l, front, 1).first().map(|v| &v[..])),
        (Some(l), Some(n)) => {
            let items = pop_many(l, front, n);
            reply::array(out, items.len());
            items.iter().for_each(|i| reply::bulk(out, i));
        }
    });
}

/// LPOP key [count]
fn lpop(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    pop(ctx, argv, true);
}
/// RPOP key [count]
fn rpop(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    pop(ctx, argv, false);
}

/// LLEN key
fn llen(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    with_existing(ctx, argv.get(1), get, |l, out| reply::integer(out, l.map_or(0, |l| l.len()) as i64));
}

/// A list index (negative from the tail) as a position, if in range.
fn position(index: i64, len: usize) -> Option<usize> {
    let i = if index < 0 { index.checked_add(len as i64)? } else { index };
    (0..len as i64).contains(&i).then_some(i as usize)
}

/// LINDEX key index
fn lindex(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    // As in Redis, the key (missing: null; wrong type) comes before the index's syntax.
    let index = parse_i64(argv.get(2));
    with_existing(ctx, argv.get(1), get, |l, out| match (l, index) {
        (Some(_), None) => reply::error(out, ERR_NOT_INTEGER),
        (l, index) => {
            let item = l.zip(index).and_then(|(l, index)| position(index, l.len()).and_then(|i| l.get(i)));
            reply::opt_bulk(out, item);
        }
    });
}

/// LSET key index element
fn lset(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    // As in Redis, the key (no such key; wrong type) comes before the index's syntax.
    let index = parse_i64(argv.get(2));
    with_existing(ctx, argv.get(1), get, |l, out| match (l, index) {
        (None, _) => reply::error(out, ERR_NO_SUCH_KEY),
        (Some(_), None) => reply::error(out, ERR_NOT_INTEGER),
        (Some(l), Some(index)) => match position(index, l.len()) {
            Some(i) if l.set(i, argv.get(3)) => reply::ok(out),
            _ => reply::error(out, ERR_INDEX_RANGE),
        },
    });
}

/// Redis's inclusive range `[start, stop]` over `len` elements, as a half-open range.
pub fn clamp_range(start: i64, stop: i64, len: usize) -> std::ops::Range<usize> {
    let len = len as i64;
    let start = if start < 0 { (start + len).max(0) } else { start };
    let stop = if stop < 0 { stop + len } else { stop.min(len - 1) };
    if start > stop || start >= len {
        return 0..0;
    }
    start as usize..stop as usize + 1
}

/// LRANGE key start stop
fn lrange(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let (Some(start), Some(stop)) = (parse_i64(argv.get(2)), parse_i64(argv.get(3))) else {
        return ctx.error(ERR_NOT_INTEGER);
    };
    with_existing(ctx, argv.get(1), get, |l, out| {
        let Some(l) = l else {
            return reply::array(out, 0);
        };
        let range = clamp_range(start, stop, l.len());
        reply::array(out, range.len());
        l.iter_from(range.start).take(range.len()).for_each(|i| reply::bulk(out, i));
    });
}

/// LTRIM key start stop
fn ltrim(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let (Some(start), Some(stop)) = (parse_i64(argv.get(2)), parse_i64(argv.get(3))) else {
        return ctx.error(ERR_NOT_INTEGER);
    };
    with_existing(ctx, argv.get(1), get, |l, out| {
        if let Some(l) = l {
            let keep = clamp_range(start, stop, l.len());
            let (head, tail) = (keep.start, l.len() - keep.end.max(keep.start));
            let head = if keep.is_empty() { l.len() } else { head };
            pop_many(l, true, head);
            pop_many(l, false, tail);
        }
        reply::ok(out);
    });
}

/// LREM key count element
fn lrem(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let Some(count) = parse_i64(argv.get(2)) else {
        return ctx.error(ERR_NOT_INTEGER);
    };
    let element = argv.get(3);
    with_existing(ctx, argv.get(1), get, |l, out| {
        let Some(l) = l else {
            return reply::integer(out, 0);
        };
        let matches: Vec<usize> = l.iter().enumerate().filter(|(_, i)| *i == element).map(|(n, _)| n).collect();
        let limit = if count == 0 { matches.len() } else { (count.unsigned_abs() as usize).min(matches.len()) };
        let chosen: ahash::HashSet<usize> = if count >= 0 {
            matches.iter().take(limit).copied().collect()
        } else {
            matches.iter().rev().take(limit).copied().collect()
        };
        let removed = l.retain(|n, _| !chosen.contains(&n));
        reply::integer(out, removed as i64);
    });
}

/// LINSERT key BEFORE|AFTER pivot element
fn linsert(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let after = match argv.get(2) {
        w if eq_ignore_case(w, "after") => true,
        w if eq_ignore_case(w, "before") => false,
        _ => return ctx.error(ERR_SYNTAX),
    };
    let inserted = with_existing(ctx, argv.get(1), get, |l, out| {
        let Some(l) = l else {
            return reply::integer(out, 0);
        };
        let Some(at) = l.iter().position(|i| i == argv.get(3)) else {
            return reply::integer(out, -1);
        };
        l.insert(at + usize::from(after), argv.get(4));
        reply::integer(out, l.len() as i64);
    });
    if inserted.is_some() {
        ctx.key_ready(ctx.db(), argv.get(1));
    }
}

/// LPOS options.
struct LposArgs {
    rank: i64,
    count: Option<usize>,
    maxlen: usize,
}

fn parse_lpos(argv: Argv<'_>) -> Result<LposArgs, &'static str> {
    let mut args = LposArgs { rank: 1, count: None, maxlen: 0 };
    let mut i = 3;
    while i < argv.len() {
        if i + 1 >= argv.len() {
            return Err(ERR_SYNTAX);
        }
        let (opt, n) = (argv.get(i), parse_i64(argv.get(i + 1)));
        if eq_ignore_case(opt, "rank") {
            match n.ok_or(ERR_NOT_INTEGER)? {
                0 => return Err(ERR_RANK_ZERO),
                // Redis 7.0 negates LONG_MIN into itself, which then matches from the tail
                // at the first hit: rank -1.
                i64::MIN => args.rank = -1,
                r => args.rank = r,
            }
        } else if eq_ignore_case(opt, "count") {
            // Redis's message for COUNT and MAXLEN covers a non-integer too.
            let n = n.ok_or(ERR_COUNT_NEGATIVE)?;
            args.count = Some(usize::try_from(n).map_err(|_| ERR_COUNT_NEGATIVE)?);
        } else if eq_ignore_case(opt, "maxlen") {
            let n = n.ok_or(ERR_MAXLEN_NEGATIVE)?;
            args.maxlen = usize::try_from(n).map_err(|_| ERR_MAXLEN_NEGATIVE)?;
        } else {
            return Err(ERR_SYNTAX);
        }
        i += 2;
    }
    Ok(args)
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
fn lpos(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let args = match parse_lpos(argv) {
        Ok(a) => a,
        Err(e) => return ctx.error(e),
    };
    let element = argv.get(2);
    with_existing(ctx, argv.get(1), get, |l, out| {
        let mut found = Vec::new();
        if let Some(l) = l {
            let len = l.len();
            let scanned = if args.maxlen == 0 { len } else { args.maxlen.min(len) };
            let wanted = match args.count {
                Some(0) => usize::MAX,
                Some(n) => n,
                None => 1,
            };
            let skip = (args.rank.unsigned_abs() - 1) as usize;
            let hits: Box<dyn Iterator<Item = usize>> = if args.rank > 0 {
                Box::new(l.iter().take(scanned).enumerate().filter(|(_, i)| *i == element).map(|(n, _)| n))
            } else {
                Box::new(
                    l.iter_rev()
                        .take(scanned)
                        .enumerate()
                        .filter(|(_, i)| *i == element)
                        .map(move |(n, _)| len - 1 - n),
                )
            };
            found.extend(hits.skip(skip).take(wanted));
        }
        match args.count {
            None => match found.first() {
                Some(&p) => reply::integer(out, p as i64),
                None => reply::null(out),
            },
            Some(_) => {
                reply::array(out, found.len());
                found.iter().for_each(|&p| reply::integer(out, p as i64));
            }
        }
    });
}

/// LEFT → true, RIGHT → false.
pub fn parse_side(arg: &[u8]) -> Option<bool> {
    if eq_ignore_case(arg, "left") {
        Some(true)
    } else if eq_ignore_case(arg, "right") {
        Some(false)
    } else {
        None
    }
}

/// Pop from `src` (front if `from_left`) and push to `dst`, atomically. `Ok(None)` when the
/// source is absent.
fn move_element(
    ctx: &mut Ctx<'_>,
    src: &[u8],
    dst: &[u8],
    from_left: bool,
    to_left: bool,
) -> Result<Option<Vec<u8>>, WrongType> {
    let db = ctx.db();
    let keys = [(db, src), (db, dst)];
    ctx.shared.store.with_keys(&keys, ctx.now_ms, |m| {
        if m.key(0).list()?.is_none() {
            return Ok(None);
        }
        m.key(1).list()?;
        let mut source = m.key(0);
        let item = source.list()?.and_then(|l| if from_left { l.pop_front() } else { l.pop_back() });
        let Some(item) = item else {
            return Ok(None);
        };
        source.touch();
        source.remove_if_empty();
        let target = &mut m.key(1);
        let l = target.list_or_new()?;
        if to_left {
            l.push_front(&item);
        } else {
            l.push_back(&item);
        }
        target.touch();
        Ok(Some(item))
    })
}

fn move_and_reply(ctx: &mut Ctx<'_>, argv: Argv<'_>, from_left: bool, to_left: bool) {
    match move_element(ctx, argv.get(1), argv.get(2), from_left, to_left) {
        Err(WrongType) => ctx.error(ERR_WRONGTYPE),
        Ok(None) => reply::null(ctx.out),
        Ok(Some(item)) => {
            reply::bulk(ctx.out, &item);
            ctx.key_ready(ctx.db(), argv.get(2));
        }
    }
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT
fn lmove(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let (Some(from), Some(to)) = (parse_side(argv.get(3)), parse_side(argv.get(4))) else {
        return ctx.error(ERR_SYNTAX);
    };
    move_and_reply(ctx, argv, from, to);
}

/// RPOPLPUSH source destination
fn rpoplpush(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    move_and_reply(ctx, argv, false, true);
}

/// Parsed `numkeys key [key ...] <where> [COUNT count]` of LMPOP / ZMPOP: (keys, where
/// argument, count).
pub type MpopArgs<'a> = (Vec<&'a [u8]>, &'a [u8], usize);

/// Parse LMPOP / ZMPOP arguments; `is_side` accepts the where argument, checked (as in
/// Redis) before the options.
pub fn parse_mpop(argv: Argv<'_>, is_side: fn(&[u8]) -> bool) -> Result<MpopArgs<'_>, &'static str> {
    let numkeys = parse_i64(argv.get(1)).filter(|&n| n > 0).ok_or(ERR_NUMKEYS)?;
    let numkeys = usize::try_from(numkeys).map_err(|_| ERR_NUMKEYS)?;
    if numkeys > argv.len().saturating_sub(3) {
        return Err(ERR_SYNTAX);
    }
    let keys: Vec<&[u8]> = (2..2 + numkeys).map(|i| argv.get(i)).collect();
    let side = argv.get(2 + numkeys);
    if !is_side(side) {
        return Err(ERR_SYNTAX);
    }
    let mut count = 1;
    let mut i = 3 + numkeys;
    let mut seen_count = false;
    while i < argv.len() {
        if eq_ignore_case(argv.get(i), "count") && i + 1 < argv.len() && !seen_count {
            let n = parse_i64(argv.get(i + 1)).filter(|&n| n > 0).ok_or(ERR_COUNT_POSITIVE)?;
            count = usize::try_from(n).unwrap_or(usize::MAX);
            seen_count = true;
            i += 2;
        } else {
            return Err(ERR_SYNTAX);
        }
    }
    Ok((keys, side, count))
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
fn lmpop(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let (keys, side, count) = match parse_mpop(argv, |s| parse_side(s).is_some()) {
        Ok(p) => p,
        Err(e) => return ctx.error(e),
    };
    let Some(front) = parse_side(side) else {
        return ctx.error(ERR_SYNTAX);
    };
    for key in keys {
        let popped = with_existing(ctx, key, get, |l, out| {
            let l = l?;
            let items = pop_many(l, front, count);
            reply::array(out, 2);
            reply::bulk(out, key);
            reply::array(out, items.len());
            items.iter().for_each(|i| reply::bulk(out, i));
            Some(())
        });
        match popped {
            None => return,           // WRONGTYPE written
            Some(Some(())) => return, // popped and replied
            Some(None) => {}
        }
    }
    reply::null_array(ctx.out);
}

#[cfg(test)]
mod tests {
    use crate::cmd::ClientState;
    use crate::config::Config;
    use crate::shared::Shared;

    use crate::cmd::run_line_for_test as run;

    #[test]
    fn replies_and_errors_match_redis() {
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        let mut r = |line: &str| run(&shared, &mut c, line);
        assert_eq!(r("LSET nokey 0 a"), "-ERR no such key\r\n");
        assert_eq!(r("RPUSH l a b c a"), ":4\r\n");
        assert_eq!(r("LSET l 10 x"), "-ERR index out of range\r\n");
        assert_eq!(r("LPOP l -1"), "-ERR value is out of range, must be positive\r\n");
        assert_eq!(r("LPOP l 0"), "*0\r\n");
        assert_eq!(r("LPOP nokey 2"), "*-1\r\n");
        assert_eq!(r("LPOP nokey"), "$-1\r\n");
        assert_eq!(r("LPOP l 2 3"), "-ERR wrong number of arguments for 'lpop' command\r\n");
        assert!(r("LPOS l a RANK 0").starts_with("-ERR RANK can't be zero"));
        assert_eq!(r("LPOS l a COUNT -1"), "-ERR COUNT can't be negative\r\n");
        assert_eq!(r("LPOS l a MAXLEN -1"), "-ERR MAXLEN can't be negative\r\n");
        assert_eq!(r("LPOS l a COUNT 0"), "*2\r\n:0\r\n:3\r\n");
        assert_eq!(r("LPOS l a RANK -1"), ":3\r\n");
        assert_eq!(r("LPOS l a RANK 2 MAXLEN 3"), "$-1\r\n");
        assert_eq!(r("LMPOP 0 l left"), "-ERR numkeys should be greater than 0\r\n");
        assert_eq!(r("LMPOP 1 l left count 0"), "-ERR count should be greater than 0\r\n");
        assert_eq!(r("LMPOP 2 l left"), "-ERR syntax error\r\n");
        assert_eq!(r("LMPOP 1 l middle"), "-ERR syntax error\r\n");
        assert_eq!(r("LMPOP 1 nokey left"), "*-1\r\n");
        assert_eq!(r("LMPOP 2 nokey l right COUNT 2"), "*2\r\n$1\r\nl\r\n*2\r\n$1\r\na\r\n$1\r\nc\r\n");
        assert_eq!(r("LINSERT l middle a x"), "-ERR syntax error\r\n");
        assert_eq!(r("LINSERT l BEFORE b x"), ":3\r\n");
        assert_eq!(r("LINSERT l AFTER zz x"), ":-1\r\n");
        assert_eq!(r("LINSERT nokey AFTER zz x"), ":0\r\n");
        assert_eq!(r("LRANGE l 0 -1"), "*3\r\n$1\r\na\r\n$1\r\nx\r\n$1\r\nb\r\n");
        assert_eq!(r("LRANGE l -100 100"), r("LRANGE l 0 -1"));
        assert_eq!(r("LRANGE l 2 1"), "*0\r\n");
        assert_eq!(r("LINDEX l -1"), "$1\r\nb\r\n");
        assert_eq!(r("LINDEX l 3"), "$-1\r\n");
        assert_eq!(r("RPUSH l x x"), ":5\r\n");
        assert_eq!(r("LREM l -2 x"), ":2\r\n");
        assert_eq!(r("LRANGE l 0 -1"), "*3\r\n$1\r\na\r\n$1\r\nx\r\n$1\r\nb\r\n");
        assert_eq!(r("LMOVE l l2 up left"), "-ERR syntax error\r\n");
        assert_eq!(r("LMOVE l l2 LEFT RIGHT"), "$1\r\na\r\n");
        assert_eq!(r("RPOPLPUSH l l"), "$1\r\nb\r\n");
        assert_eq!(r("LRANGE l 0 -1"), "*2\r\n$1\r\nb\r\n$1\r\nx\r\n");
        assert_eq!(r("SET s v"), "+OK\r\n");
        let wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
        assert_eq!(r("RPOPLPUSH l s"), wrong);
        assert_eq!(r("LLEN l"), ":2\r\n", "a failed move changes nothing");
        assert_eq!(r("LPUSH s a"), wrong);
        assert_eq!(r("LMPOP 2 nokey s left"), wrong);
        assert_eq!(r("LTRIM l 1 0"), "+OK\r\n");
        assert_eq!(r("EXISTS l"), ":0\r\n");
        assert_eq!(r("LPUSHX l a"), ":0\r\n");
        assert_eq!(r("EXISTS l"), ":0\r\n");
        assert_eq!(r("RPUSH l a b c d e"), ":5\r\n");
        assert_eq!(r("LTRIM l 1 -2"), "+OK\r\n");
        assert_eq!(r("LRANGE l 0 -1"), "*3\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n");
        assert_eq!(r("OBJECT ENCODING l"), "$9\r\nquicklist\r\n");
    }

    #[test]
    fn key_checks_come_before_argument_syntax_as_in_redis() {
        // Found by scripts/redis-diff; replies captured from redis-server 7.0.15.
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        let mut r = |line: &str| run(&shared, &mut c, line);
        let wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
        r("SADD st a");
        r("RPUSH lp a b a");
        assert_eq!(r("LINDEX nokey -0"), "$-1\r\n");
        assert_eq!(r("LINDEX st x"), wrong);
        assert_eq!(r("LINDEX lp x"), "-ERR value is not an integer or out of range\r\n");
        assert_eq!(r("LSET nokey x v"), "-ERR no such key\r\n");
        assert_eq!(r("LSET st x v"), wrong);
        assert_eq!(r("LSET lp x v"), "-ERR value is not an integer or out of range\r\n");
        assert_eq!(r("LPOS lp a COUNT abc"), "-ERR COUNT can't be negative\r\n");
        assert_eq!(r("LPOS lp a MAXLEN 1.5"), "-ERR MAXLEN can't be negative\r\n");
        assert_eq!(r("LPOS lp a RANK x"), "-ERR value is not an integer or out of range\r\n");
        assert_eq!(r("LPOS lp a RANK -9223372036854775808"), ":2\r\n");
        assert_eq!(r("LMPOP 1 lp BAD COUNT 0"), "-ERR syntax error\r\n");
        assert_eq!(r("ZMPOP 1 lp BAD COUNT 0"), "-ERR syntax error\r\n");
        r("ZADD zz 1 a");
        assert_eq!(r("ZRANGE zz 0 1 REV REV"), "-ERR syntax error\r\n");
        assert_eq!(r("ZRANGE zz 0 1 BYLEX BYLEX"), "-ERR syntax error\r\n");
        assert_eq!(r("ZRANGE zz 0 1 WITHSCORES WITHSCORES"), "*2\r\n$1\r\na\r\n$1\r\n1\r\n");
        assert_eq!(r("ZPOPMIN zz x"), "-ERR value is out of range, must be positive\r\n");
    }
}
