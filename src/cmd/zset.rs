//! Sorted-set commands on one key: ZADD, ZINCRBY, ZREM, ZCARD, ZSCORE, ZMSCORE, ZRANK,
//! ZREVRANK, ZCOUNT, ZLEXCOUNT, the ZRANGE family (ZRANGE with BYSCORE/BYLEX/REV/LIMIT,
//! ZRANGESTORE, ZREVRANGE, ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX),
//! ZREMRANGEBYRANK/SCORE/LEX, ZPOPMIN, ZPOPMAX, ZMPOP, ZRANDMEMBER, ZSCAN. The multi-key
//! algebra (ZUNION, ZINTER, ZDIFF, their STORE forms, ZINTERCARD) is in `zset_algebra.rs`.
//!
//! Semantics, reply shapes and error texts follow Redis 7.0's `t_zset.c`: scores are doubles
//! (`reply::double`), WITHSCORES in RESP3 is an array of [member, score] pairs, ZSCAN's
//! scores are bulk strings in both protocols. Every range is reduced to ascending ranks
//! (`zset_range.rs`), then walked once.

use super::list::parse_mpop;
use super::typed::{
    distinct_random_indices, parse_random_with, parse_scan, random_below, scan_reply, with_created, with_existing,
    ERR_INVALID_CURSOR,
};
use super::zset_range::{parse_score, LexRange, ScoreRange};
use super::FAST;
use super::{
    eq_ignore_case, parse_i64, Command, Ctx, Doc, DENYOOM, ERR_NOT_FLOAT, ERR_NOT_INTEGER, ERR_SYNTAX, ERR_WRONGTYPE,
};
use super::{READONLY, WRITE};
use crate::protocol::Argv;
use crate::reply::{self, format_double, Out};
use crate::store::KeyView;
use crate::types::{Value, WrongType, ZSet};

const ERR_NX_XX: &str = "ERR XX and NX options at the same time are not compatible";
const ERR_GT_LT_NX: &str = "ERR GT, LT, and/or NX options at the same time are not compatible";
const ERR_INCR_PAIR: &str = "ERR INCR option supports a single increment-element pair";
const ERR_NAN: &str = "ERR resulting score is not a number (NaN)";
const ERR_POSITIVE: &str = "ERR value is out of range, must be positive";
const ERR_LIMIT_ONLY: &str = "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX";
const ERR_WITHSCORES_LEX: &str = "ERR syntax error, WITHSCORES not supported in combination with BYLEX";

pub const COMMANDS: &[Command] = &[
    Command { name: "zadd", arity: -4, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), handler: zadd },
    Command { name: "zincrby", arity: 4, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), handler: zincrby },
    Command { name: "zrem", arity: -3, flags: WRITE | FAST, keys: (1, 1, 1), handler: zrem },
    Command { name: "zcard", arity: 2, flags: READONLY | FAST, keys: (1, 1, 1), handler: zcard },
    Command { name: "zscore", arity: 3, flags: READONLY | FAST, keys: (1, 1, 1), handler: zscore },
    Command { name: "zmscore", arity: -3, flags: READONLY | FAST, keys: (1, 1, 1), handler: zmscore },
    Command { name: "zrank", arity: 3, flags: READONLY | FAST, keys: (1, 1, 1), handler: zrank },
    Command { name: "zrevrank", arity: 3, flags: READONLY | FAST, keys: (1, 1, 1), handler: zrevrank },
    Command { name: "zcount", arity: 4, flags: READONLY | FAST, keys: (1, 1, 1), handler: zcount },
    Command { name: "zlexcount", arity: 4, flags: READONLY | FAST, keys: (1, 1, 1), handler: zlexcount },
    Command { name: "zrange", arity: -4, flags: READONLY, keys: (1, 1, 1), handler: zrange },
    Command { name: "zrangestore", arity: -5, flags: WRITE | DENYOOM, keys: (1, 2, 1), handler: zrangestore },
    Command { name: "zrevrange", arity: -4, flags: READONLY, keys: (1, 1, 1), handler: zrevrange },
    Command { name: "zrangebyscore", arity: -4, flags: READONLY, keys: (1, 1, 1), handler: zrangebyscore },
    Command { name: "zrevrangebyscore", arity: -4, flags: READONLY, keys: (1, 1, 1), handler: zrevrangebyscore },
    Command { name: "zrangebylex", arity: -4, flags: READONLY, keys: (1, 1, 1), handler: zrangebylex },
    Command { name: "zrevrangebylex", arity: -4, flags: READONLY, keys: (1, 1, 1), handler: zrevrangebylex },
    Command { name: "zremrangebyrank", arity: 4, flags: WRITE, keys: (1, 1, 1), handler: zremrangebyrank },
    Command { name: "zremrangebyscore", arity: 4, flags: WRITE, keys: (1, 1, 1), handler: zremrangebyscore },
    Command { name: "zremrangebylex", arity: 4, flags: WRITE, keys: (1, 1, 1), handler: zremrangebylex },
    Command { name: "zpopmin", arity: -2, flags: WRITE | FAST, keys: (1, 1, 1), handler: zpopmin },
    Command { name: "zpopmax", arity: -2, flags: WRITE | FAST, keys: (1, 1, 1), handler: zpopmax },
    Command { name: "zmpop", arity: -4, flags: WRITE, keys: (0, 0, 0), handler: zmpop },
    Command { name: "zrandmember", arity: -2, flags: READONLY, keys: (1, 1, 1), handler: zrandmember },
    Command { name: "zscan", arity: -3, flags: READONLY, keys: (1, 1, 1), handler: zscan },
];

/// Documentation of this family's commands (see [`super::Doc`]).
pub const DOCS: &[Doc] = &[
    Doc {
        name: "zadd",
        group: "sorted-set",
        since: "1.2.0",
        summary: "Add members with scores, or update their scores.",
        syntax:
            "key condition=[NX | XX] comparison=[GT | LT] change=[CH] increment=[INCR] score member [score member ...]",
    },
    Doc {
        name: "zincrby",
        group: "sorted-set",
        since: "1.2.0",
        summary: "Add to a member's score.",
        syntax: "key increment member",
    },
    Doc {
        name: "zrem",
        group: "sorted-set",
        since: "1.2.0",
        summary: "Remove members.",
        syntax: "key member [member ...]",
    },
    Doc { name: "zcard", group: "sorted-set", since: "1.2.0", summary: "Number of members.", syntax: "key" },
    Doc { name: "zscore", group: "sorted-set", since: "1.2.0", summary: "A member's score.", syntax: "key member" },
    Doc {
        name: "zmscore",
        group: "sorted-set",
        since: "6.2.0",
        summary: "Several members' scores.",
        syntax: "key member [member ...]",
    },
    Doc {
        name: "zrank",
        group: "sorted-set",
        since: "2.0.0",
        summary: "A member's rank, lowest score first.",
        syntax: "key member",
    },
    Doc {
        name: "zrevrank",
        group: "sorted-set",
        since: "2.0.0",
        summary: "A member's rank, highest score first.",
        syntax: "key member",
    },
    Doc {
        name: "zcount",
        group: "sorted-set",
        since: "2.0.0",
        summary: "Members with a score in a range.",
        syntax: "key min:double max:double",
    },
    Doc {
        name: "zlexcount",
        group: "sorted-set",
        since: "2.8.9",
        summary: "Members in a lexicographical range.",
        syntax: "key min max",
    },
    Doc {
        name: "zrange",
        group: "sorted-set",
        since: "1.2.0",
        summary: "Members in a range of ranks, scores or names.",
        syntax:
            "key start:string stop:string sortby=[BYSCORE | BYLEX] [REV] offset_count=[LIMIT offset count] [WITHSCORES]",
    },
    Doc {
        name: "zrangestore",
        group: "sorted-set",
        since: "6.2.0",
        summary: "Store a ZRANGE result in a key.",
        syntax: "dst:key src:key min max sortby=[BYSCORE | BYLEX] [REV] offset_count=[LIMIT offset count]",
    },
    Doc {
        name: "zrevrange",
        group: "sorted-set",
        since: "1.2.0",
        summary: "Members in a range of ranks, highest first.",
        syntax: "key start stop:integer [WITHSCORES]",
    },
    Doc {
        name: "zrangebyscore",
        group: "sorted-set",
        since: "1.0.5",
        summary: "Members in a score range.",
        syntax: "key min:double max:double [WITHSCORES] offset_count=[LIMIT offset count]",
    },
    Doc {
        name: "zrevrangebyscore",
        group: "sorted-set",
        since: "2.2.0",
        summary: "Members in a score range, highest first.",
        syntax: "key max:double min:double [WITHSCORES] offset_count=[LIMIT offset count]",
    },
    Doc {
        name: "zrangebylex",
        group: "sorted-set",
        since: "2.8.9",
        summary: "Members in a lexicographical range.",
        syntax: "key min max offset_count=[LIMIT offset count]",
    },
    Doc {
        name: "zrevrangebylex",
        group: "sorted-set",
        since: "2.8.9",
        summary: "Members in a lexicographical range, last first.",
        syntax: "key max min offset_count=[LIMIT offset count]",
    },
    Doc {
        name: "zremrangebyrank",
        group: "sorted-set",
        since: "2.0.0",
        summary: "Remove members in a range of ranks.",
        syntax: "key start stop:integer",
    },
    Doc {
        name: "zremrangebyscore",
        group: "sorted-set",
        since: "1.2.0",
        summary: "Remove members in a score range.",
        syntax: "key min:double max:double",
    },
    Doc {
        name: "zremrangebylex",
        group: "sorted-set",
        since: "2.8.9",
        summary: "Remove members in a lexicographical range.",
        syntax: "key min max",
    },
    Doc {
        name: "zpopmin",
        group: "sorted-set",
        since: "5.0.0",
        summary: "Remove and return the lowest-scored members.",
        syntax: "key [count]",
    },
    Doc {
        name: "zpopmax",
        group: "sorted-set",
        since: "5.0.0",
        summary: "Remove and return the highest-scored members.",
        syntax: "key [count]",
    },
    Doc {
        name: "zmpop",
        group: "sorted-set",
        since: "7.0.0",
        summary: "Pop members from the first non-empty sorted set of several.",
        syntax: "numkeys key [key ...] where=<MIN | MAX> [COUNT count]",
    },
    Doc {
        name: "zrandmember",
        group: "sorted-set",
        since: "6.2.0",
        summary: "Random members, distinct for a positive count, repeating for a negative one.",
        syntax: "key options=[count [WITHSCORES]]",
    },
    Doc {
        name: "zscan",
        group: "sorted-set",
        since: "2.8.0",
        summary: "Iterate members and scores with a cursor.",
        syntax: "key cursor [MATCH pattern] [COUNT count]",
    },
];

fn get<'s>(k: &'s mut KeyView<'_>) -> Result<Option<&'s mut ZSet>, WrongType> {
    k.zset()
}
fn create<'s>(k: &'s mut KeyView<'_>) -> Result<&'s mut ZSet, WrongType> {
    k.zset_or_new()
}

/// Write (member, score) pairs: RESP3 `[[m, s], ...]`, RESP2 flat `[m, s, ...]`; members
/// only without `with_scores`.
pub fn reply_members(out: &mut Out, items: &[(Vec<u8>, f64)], with_scores: bool) {
    let nested = with_scores && out.resp3();
    reply::array(out, if with_scores && !nested { items.len() * 2 } else { items.len() });
    for (m, s) in items {
        if nested {
            reply::array(out, 2);
        }
        reply::bulk(out, m);
        if with_scores {
            reply::double(out, *s);
        }
    }
}

/// ZADD options.
#[derive(Default)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// ZADD's (score, member) pairs.
type Pairs<'a> = Vec<(f64, &'a [u8])>;

/// Parse ZADD's flags and pairs; the first pair's index is returned with the flags.
fn parse_zadd(argv: Argv<'_>, incr: bool) -> Result<(AddFlags, Pairs<'_>), &'static str> {
    let mut f = AddFlags { incr, ..AddFlags::default() };
    let mut i = 2;
    while i < argv.len() {
        let a = argv.get(i);
        let flag = match () {
            _ if eq_ignore_case(a, "nx") => &mut f.nx,
            _ if eq_ignore_case(a, "xx") => &mut f.xx,
            _ if eq_ignore_case(a, "gt") => &mut f.gt,
            _ if eq_ignore_case(a, "lt") => &mut f.lt,
            _ if eq_ignore_case(a, "ch") => &mut f.ch,
            _ if eq_ignore_case(a, "incr") => &mut f.incr,
            _ => break,
        };
        *flag = true;
        i += 1;
    }
    let rest = argv.len() - i;
    if rest == 0 || !rest.is_multiple_of(2) {
        return Err(ERR_SYNTAX);
    }
    if f.nx && f.xx {
        return Err(ERR_NX_XX);
    }
    if u8::from(f.gt) + u8::from(f.lt) + u8::from(f.nx) > 1 {
        return Err(ERR_GT_LT_NX);
    }
    if f.incr && rest > 2 {
        return Err(ERR_INCR_PAIR);
    }
    let pairs =
        (i..argv.len()).step_by(2).map(|j| Ok((parse_score(argv.get(j)).ok_or(ERR_NOT_FLOAT)?, argv.get(j + 1))));
    Ok((f, pairs.collect::<Result<_, &'static str>>()?))
}

/// Outcome of one ZADD element.
enum Added {
    New,
    Changed(f64),
    Same(f64),
    Skipped,
}

/// Apply one element with ZADD's rules (Redis's `zsetAdd`).
fn add_one(z: &mut ZSet, f: &AddFlags, score: f64, member: &[u8]) -> Result<Added, &'static str> {
    match z.score(member) {
        Some(_) if f.nx => Ok(Added::Skipped),
        Some(cur) => {
            let new = if f.incr { cur + score } else { score };
            if new.is_nan() {
                return Err(ERR_NAN);
            }
            if (f.gt && new <= cur) || (f.lt && new >= cur) {
                return Ok(Added::Skipped);
            }
            if new == cur {
                return Ok(Added::Same(new));
            }
            z.insert(member, new);
            Ok(Added::Changed(new))
        }
        None if f.xx => Ok(Added::Skipped),
        None => {
            z.insert(member, score);
            Ok(Added::New)
        }
    }
}

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]
fn zadd(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    zadd_generic(ctx, argv, false);
}

/// ZADD, or ZINCRBY (`incr`: INCR is on whatever the flags say).
fn zadd_generic(ctx: &mut Ctx<'_>, argv: Argv<'_>, incr: bool) {
    let (f, pairs) = match parse_zadd(argv, incr) {
        Ok(p) => p,
        Err(e) => return ctx.error(e),
    };
    let apply = |z: &mut ZSet, out: &mut Out| {
        let (mut added, mut changed) = (0, 0);
        for &(score, member) in &pairs {
            match add_one(z, &f, score, member) {
                Err(e) => return reply::error(out, e),
                Ok(Added::New) => added += 1,
                Ok(Added::Changed(s)) if f.incr => return reply::double(out, s),
                Ok(Added::Changed(_)) => changed += 1,
                Ok(Added::Same(s)) if f.incr => return reply::double(out, s),
                Ok(_) if f.incr => return reply::null(out),
                Ok(_) => {}
            }
        }
        if f.incr {
            // The single element was new.
            return reply::double(out, pairs[0].0);
        }
        reply::integer(out, if f.ch { added + changed } else { added });
    };
    let done = if f.xx {
        with_existing(ctx, argv.get(1), get, |z, out| match z {
            Some(z) => apply(z, out),
            None if f.incr => reply::null(out),
            None => reply::integer(out, 0),
        })
    } else {
        with_created(ctx, argv.get(1), create, apply)
    };
    if done.is_some() {
        ctx.key_ready(ctx.db(), argv.get(1));
    }
}

/// ZINCRBY key increment member: ZADD with INCR, as Redis (`zaddGenericCommand`), so a ZADD
/// flag in the increment's place is read as one (and leaves a syntax error).
fn zincrby(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    zadd_generic(ctx, argv, true);
}

/// ZREM key member [member ...]
fn zrem(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    with_existing(ctx, argv.get(1), get, |z, out| {
        reply::integer(out, z.map_or(0, |z| argv.iter().skip(2).filter(|m| z.remove(m)).count()) as i64);
    });
}

/// ZCARD key
fn zcard(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    with_existing(ctx, argv.get(1), get, |z, out| reply::integer(out, z.map_or(0, |z| z.len()) as i64));
}

/// ZSCORE key member
fn zscore(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    with_existing(ctx, argv.get(1), get, |z, out| match z.and_then(|z| z.score(argv.get(2))) {
        Some(s) => reply::double(out, s),
        None => reply::null(out),
    });
}

/// ZMSCORE key member [member ...]
fn zmscore(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    with_existing(ctx, argv.get(1), get, |z, out| {
        reply::array(out, argv.len() - 2);
        for m in argv.iter().skip(2) {
            match z.as_ref().and_then(|z| z.score(m)) {
                Some(s) => reply::double(out, s),
                None => reply::null(out),
            }
        }
    });
}

/// ZRANK / ZREVRANK key member
fn rank(ctx: &mut Ctx<'_>, argv: Argv<'_>, rev: bool) {
    with_existing(ctx, argv.get(1), get, |z, out| {
        let rank = z.and_then(|z| z.rank(argv.get(2)).map(|r| if rev { z.len() - 1 - r } else { r }));
        match rank {
            Some(r) => reply::integer(out, r as i64),
            None => reply::null(out),
        }
    });
}

/// ZRANK key member
fn zrank(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    rank(ctx, argv, false);
}
/// ZREVRANK key member
fn zrevrank(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    rank(ctx, argv, true);
}

/// ZCOUNT key min max
fn zcount(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let range = match ScoreRange::parse(argv.get(2), argv.get(3)) {
        Ok(r) => r,
        Err(e) => return ctx.error(e),
    };
    with_existing(ctx, argv.get(1), get, |z, out| reply::integer(out, z.map_or(0, |z| range.ranks(z).len()) as i64));
}

/// ZLEXCOUNT key min max
fn zlexcount(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let range = match LexRange::parse(argv.get(2), argv.get(3)) {
        Ok(r) => r,
        Err(e) => return ctx.error(e),
    };
    with_existing(ctx, argv.get(1), get, |z, out| reply::integer(out, z.map_or(0, |z| range.ranks(z).len()) as i64));
}

/// What a ZRANGE-like command selects.
enum Select {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// A parsed ZRANGE-like request.
struct RangeSpec {
    select: Select,
    rev: bool,
    /// LIMIT offset count (count < 0 = all).
    limit: Option<(i64, i64)>,
    with_scores: bool,
}

impl RangeSpec {
    /// The selected (member, score) pairs in reply order.
    fn collect(&self, z: &ZSet) -> Vec<(Vec<u8>, f64)> {
        let len = z.len();
        let ranks = match &self.select {
            Select::Rank(start, stop) => {
                let r = super::list::clamp_range(*start, *stop, len);
                if self.rev {
                    len - r.end..len - r.start
                } else {
                    r
                }
            }
            Select::Score(r) => r.ranks(z),
            Select::Lex(r) => r.ranks(z),
        };
        let (offset, count) = self.limit.unwrap_or((0, -1));
        if offset < 0 {
            return Vec::new();
        }
        let take = if count < 0 { usize::MAX } else { count as usize };
        let available = ranks.len().saturating_sub(offset as usize).min(take);
        let ranks = if self.rev {
            ranks.end - (offset as usize).min(ranks.len()) - available..ranks.end - (offset as usize).min(ranks.len())
        } else {
            ranks.start + (offset as usize).min(ranks.len())
                ..ranks.start + (offset as usize).min(ranks.len()) + available
        };
        let mut items = Vec::with_capacity(ranks.len());
        z.for_range(ranks.start, ranks.end, self.rev, |m, s| items.push((m.to_vec(), s)));
        items
    }
}

/// How the command names its arguments.
#[derive(Clone, Copy, PartialEq)]
enum Style {
    /// ZRANGE / ZRANGESTORE: BYSCORE/BYLEX/REV/LIMIT/WITHSCORES options.
    Generic {
        store: bool,
    },
    Rank {
        rev: bool,
    },
    Score {
        rev: bool,
    },
    Lex {
        rev: bool,
    },
}

/// Parse `min max [options]` at `argv[first..]`.
fn parse_range(argv: Argv<'_>, first: usize, style: Style) -> Result<RangeSpec, &'static str> {
    let (mut by_score, mut by_lex, mut rev, mut with_scores, mut limit) = (false, false, false, false, None);
    match style {
        Style::Score { rev: r } => (by_score, rev) = (true, r),
        Style::Lex { rev: r } => (by_lex, rev) = (true, r),
        Style::Rank { rev: r } => rev = r,
        Style::Generic { .. } => {}
    }
    let mut i = first + 2;
    while i < argv.len() {
        let a = argv.get(i);
        let generic = matches!(style, Style::Generic { .. });
        // Every form parses WITHSCORES and LIMIT, as Redis's zrangeGenericCommand: the checks
        // below then refuse them where they do not apply, with Redis's own errors.
        if eq_ignore_case(a, "withscores") && style != (Style::Generic { store: true }) {
            with_scores = true;
        } else if eq_ignore_case(a, "limit") && i + 2 < argv.len() {
            let (Some(o), Some(c)) = (parse_i64(argv.get(i + 1)), parse_i64(argv.get(i + 2))) else {
                return Err(ERR_NOT_INTEGER);
            };
            limit = Some((o, c));
            i += 2;
        } else if generic && !by_score && !by_lex && eq_ignore_case(a, "byscore") {
            // As in Redis, each of REV and BYSCORE|BYLEX may be given once.
            by_score = true;
        } else if generic && !by_score && !by_lex && eq_ignore_case(a, "bylex") {
            by_lex = true;
        } else if generic && !rev && eq_ignore_case(a, "rev") {
            rev = true;
        } else {
            return Err(ERR_SYNTAX);
        }
        i += 1;
    }
    if by_score && by_lex {
        return Err(ERR_SYNTAX);
    }
    // Redis tests LIMIT's count against its default, -1: `LIMIT 0 -1` passes a rank range.
    if limit.is_some_and(|(_, count)| count != -1) && !by_score && !by_lex {
        return Err(ERR_LIMIT_ONLY);
    }
    if with_scores && by_lex {
        return Err(ERR_WITHSCORES_LEX);
    }
    // With REV the first argument is the upper end.
    let (lo, hi) = if rev && (by_score || by_lex) {
        (argv.get(first + 1), argv.get(first))
    } else {
        (argv.get(first), argv.get(first + 1))
    };
    let select = if by_score {
        Select::Score(ScoreRange::parse(lo, hi)?)
    } else if by_lex {
        Select::Lex(LexRange::parse(lo, hi)?)
    } else {
        let (Some(a), Some(b)) = (parse_i64(lo), parse_i64(hi)) else {
            return Err(ERR_NOT_INTEGER);
        };
        Select::Rank(a, b)
    };
    Ok(RangeSpec { select, rev, limit, with_scores })
}

/// Every read-only ZRANGE-like command: parse, collect, reply.
fn range_command(ctx: &mut Ctx<'_>, argv: Argv<'_>, style: Style) {
    let spec = match parse_range(argv, 2, style) {
        Ok(s) => s,
        Err(e) => return ctx.error(e),
    };
    with_existing(ctx, argv.get(1), get, |z, out| {
        let items = z.map(|z| spec.collect(z)).unwrap_or_default();
        reply_members(out, &items, spec.with_scores);
    });
}

/// ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
fn zrange(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    range_command(ctx, argv, Style::Generic { store: false });
}
/// ZREVRANGE key start stop [WITHSCORES]
fn zrevrange(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    range_command(ctx, argv, Style::Rank { rev: true });
}
/// ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]
fn zrangebyscore(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    range_command(ctx, argv, Style::Score { rev: false });
}
/// ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]
fn zrevrangebyscore(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    range_command(ctx, argv, Style::Score { rev: true });
}
/// ZRANGEBYLEX key min max [LIMIT offset count]
fn zrangebylex(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    range_command(ctx, argv, Style::Lex { rev: false });
}
/// ZREVRANGEBYLEX key max min [LIMIT offset count]
fn zrevrangebylex(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    range_command(ctx, argv, Style::Lex { rev: true });
}

/// Store `items` as a sorted set at `k` (deleting `k` if empty); returns the count.
pub fn store_items(k: &mut KeyView<'_>, items: &[(Vec<u8>, f64)]) -> usize {
    if items.is_empty() {
        k.remove();
        return 0;
    }
    let mut z = ZSet::new();
    for (m, s) in items {
        z.insert(m, *s);
    }
    let n = z.len();
    k.set(Value::ZSet(Box::new(z)), None);
    n
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
fn zrangestore(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let spec = match parse_range(argv, 3, Style::Generic { store: true }) {
        Ok(s) => s,
        Err(e) => return ctx.error(e),
    };
    let db = ctx.db();
    let keys = [(db, argv.get(1)), (db, argv.get(2))];
    let stored = ctx.shared.store.with_keys(&keys, ctx.now_ms, |m| {
        let items = m.key(1).zset()?.map(|z| spec.collect(z)).unwrap_or_default();
        Ok(store_items(&mut m.key(0), &items))
    });
    match stored {
        Err(WrongType) => ctx.error(ERR_WRONGTYPE),
        Ok(n) => {
            reply::integer(ctx.out, n as i64);
            if n > 0 {
                ctx.key_ready(db, argv.get(1));
            }
        }
    }
}

/// ZREMRANGEBYRANK / BYSCORE / BYLEX key min max
fn remove_range(ctx: &mut Ctx<'_>, argv: Argv<'_>, style: Style) {
    let spec = match parse_range(argv, 2, style) {
        Ok(s) => s,
        Err(e) => return ctx.error(e),
    };
    with_existing(ctx, argv.get(1), get, |z, out| {
        let Some(z) = z else {
            return reply::integer(out, 0);
        };
        let ranks = match &spec.select {
            Select::Rank(a, b) => super::list::clamp_range(*a, *b, z.len()),
            Select::Score(r) => r.ranks(z),
            Select::Lex(r) => r.ranks(z),
        };
        reply::integer(out, z.remove_range(ranks.start, ranks.end).len() as i64);
    });
}

/// ZREMRANGEBYRANK key start stop
fn zremrangebyrank(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    remove_range(ctx, argv, Style::Rank { rev: false });
}
/// ZREMRANGEBYSCORE key min max
fn zremrangebyscore(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    remove_range(ctx, argv, Style::Score { rev: false });
}
/// ZREMRANGEBYLEX key min max
fn zremrangebylex(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    remove_range(ctx, argv, Style::Lex { rev: false });
}

/// Pop up to `count` lowest (or highest, `max`) members, in pop order.
pub fn pop(z: &mut ZSet, max: bool, count: usize) -> Vec<(Vec<u8>, f64)> {
    let n = count.min(z.len());
    if max {
        let len = z.len();
        let mut items = z.remove_range(len - n, len);
        items.reverse();
        items
    } else {
        z.remove_range(0, n)
    }
}

/// ZPOPMIN / ZPOPMAX key [count]
fn zpop(ctx: &mut Ctx<'_>, argv: Argv<'_>, max: bool) {
    if argv.len() > 3 {
        return ctx.error(ERR_SYNTAX);
    }
    let count = match argv.len() {
        3 => match parse_i64(argv.get(2)) {
            // Redis's message covers a non-integer count too.
            None => return ctx.error(ERR_POSITIVE),
            Some(n) if n < 0 => return ctx.error(ERR_POSITIVE),
            Some(n) => Some(n as usize),
        },
        _ => None,
    };
    with_existing(ctx, argv.get(1), get, |z, out| {
        let items = z.map(|z| pop(z, max, count.unwrap_or(1))).unwrap_or_default();
        if count.is_some() {
            return reply_members(out, &items, true);
        }
        // Without a count: a flat [member, score] in both protocols.
        reply::array(out, items.len() * 2);
        for (m, s) in &items {
            reply::bulk(out, m);
            reply::double(out, *s);
        }
    });
}

/// ZPOPMIN key [count]
fn zpopmin(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    zpop(ctx, argv, false);
}
/// ZPOPMAX key [count]
fn zpopmax(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    zpop(ctx, argv, true);
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]
fn zmpop(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let (keys, side, count) = match parse_mpop(argv, |s| eq_ignore_case(s, "min") || eq_ignore_case(s, "max")) {
        Ok(p) => p,
        Err(e) => return ctx.error(e),
    };
    let max = match side {
        s if eq_ignore_case(s, "min") => false,
        s if eq_ignore_case(s, "max") => true,
        _ => return ctx.error(ERR_SYNTAX),
    };
    for key in keys {
        let popped = with_existing(ctx, key, get, |z, out| {
            let items = pop(z?, max, count);
            reply::array(out, 2);
            reply::bulk(out, key);
            reply::array(out, items.len());
            for (m, s) in &items {
                reply::array(out, 2);
                reply::bulk(out, m);
                reply::double(out, *s);
            }
            Some(())
        });
        if popped != Some(None) {
            return; // replied (popped, or WRONGTYPE)
        }
    }
    reply::null_array(ctx.out);
}

/// ZRANDMEMBER key [count [WITHSCORES]]
fn zrandmember(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    if argv.len() == 2 {
        with_existing(ctx, argv.get(1), get, |z, out| match z.filter(|z| !z.is_empty()) {
            Some(z) => reply::bulk(out, z.get(random_below(z.len())).0),
            None => reply::null(out),
        });
        return;
    }
    let (count, repeats, with_scores) = match parse_random_with(argv, "withscores") {
        Ok(c) => c,
        Err(e) => return ctx.error(e),
    };
    with_existing(ctx, argv.get(1), get, |z, out| {
        let Some(z) = z else {
            return reply::array(out, 0);
        };
        let picks: Vec<usize> = if repeats {
            (0..count).map(|_| random_below(z.len())).collect()
        } else {
            distinct_random_indices(z.len(), (count as usize).min(z.len()))
        };
        let items: Vec<(Vec<u8>, f64)> = picks
            .into_iter()
            .map(|i| {
                let (m, s) = z.get(i);
                (m.to_vec(), s)
            })
            .collect();
        reply_members(out, &items, with_scores);
    });
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]
fn zscan(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    // Redis's order: the cursor, then the key (missing: an empty scan), then the options.
    let args = parse_scan(argv);
    if let Err(e @ ERR_INVALID_CURSOR) = args {
        return ctx.error(e);
    }
    with_existing(ctx, argv.get(1), get, |z, out| {
        let args = match (&z, &args) {
            (None, _) => return scan_reply(out, 0, &[]),
            (Some(_), Err(e)) => return reply::error(out, e),
            (Some(_), Ok(a)) => a,
        };
        let mut items = Vec::new();
        let next = z.map_or(0, |z| {
            z.scan(args.cursor, args.count, |m, s| {
                if args.matches(m) {
                    items.push(m.to_vec());
                    items.push(format_double(s).into_bytes());
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

    fn run(shared: &Shared, c: &mut ClientState, proto: Proto, line: &str) -> String {
        let args: Vec<&[u8]> = line.split(' ').map(|a| a.as_bytes()).collect();
        String::from_utf8_lossy(&run_for_test_in(shared, c, proto, &args)).into_owned()
    }

    #[test]
    fn random_counts_and_limit_checks_match_redis() {
        // Found by scripts/redis-diff; replies captured from redis-server 7.0.15.
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        let mut r = |line: &str| run(&shared, &mut c, Proto::Resp2, line);
        let wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
        let long_min =
            "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n";
        r("ZADD zz 1 a 2 b");
        assert_eq!(r("ZRANDMEMBER zz -9223372036854775808"), long_min);
        assert_eq!(r("SRANDMEMBER zz -9223372036854775808"), long_min);
        assert_eq!(r("HRANDFIELD zz -9223372036854775808"), long_min);
        assert_eq!(r("ZRANDMEMBER zz abc foo"), "-ERR value is not an integer or out of range\r\n");
        assert_eq!(r("HRANDFIELD zz 4611686018427387904 WITHVALUES"), "-ERR value is out of range\r\n");
        assert_eq!(r("HRANDFIELD zz 4611686018427387903 WITHVALUES"), wrong);
        assert_eq!(r("ZRANDMEMBER h 9223372036854775807 WITHSCORES"), "-ERR value is out of range\r\n");
        assert_eq!(r("ZRANGE zz 0 1 LIMIT 0 -1"), "*2\r\n$1\r\na\r\n$1\r\nb\r\n");
        assert_eq!(
            r("ZRANGE zz 0 1 LIMIT 0 1"),
            "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n"
        );
        // The older forms parse LIMIT and WITHSCORES too, then refuse them as ZRANGE does.
        assert_eq!(
            r("ZREVRANGE zz 0 1 LIMIT 0 1"),
            "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n"
        );
        assert_eq!(r("ZREVRANGE zz 0 1 LIMIT x 1"), "-ERR value is not an integer or out of range\r\n");
        assert_eq!(r("ZREVRANGE zz 0 1 LIMIT 0 -1"), "*2\r\n$1\r\nb\r\n$1\r\na\r\n");
        assert_eq!(
            r("ZRANGEBYLEX zz - + WITHSCORES"),
            "-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n"
        );
        // ZINCRBY is ZADD with INCR: a flag in the increment's place is a flag.
        assert_eq!(r("ZINCRBY zz GT a"), "-ERR syntax error\r\n");
        assert_eq!(r("ZINCRBY zz abc a"), "-ERR value is not a valid float\r\n");
        assert_eq!(r("ZINCRBY zz 2 a"), "$1\r\n3\r\n");
    }

    #[test]
    fn negative_zero_is_stored_as_zero_in_a_small_zset() {
        // Found by scripts/redis-diff; replies captured from redis-server 7.0.15: the reply
        // is the computed -0, the listpack keeps 0, the skiplist keeps -0.
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        let mut r = |line: &str| run(&shared, &mut c, Proto::Resp2, line);
        assert_eq!(r("ZINCRBY small -0 x"), "$2\r\n-0\r\n");
        assert_eq!(r("ZSCORE small x"), "$1\r\n0\r\n");
        assert_eq!(r("ZINCRBY small -0 x"), "$1\r\n0\r\n");
        assert_eq!(r("ZADD small -0 y"), ":1\r\n");
        assert_eq!(r("ZSCORE small y"), "$1\r\n0\r\n");
        let members: Vec<String> = (0..130).map(|i| format!("{i} m{i}")).collect();
        r(&format!("ZADD big {}", members.join(" ")));
        assert_eq!(r("ZINCRBY big -0 neg"), "$2\r\n-0\r\n");
        assert_eq!(r("ZSCORE big neg"), "$2\r\n-0\r\n");
    }

    #[test]
    fn replies_and_errors_match_redis_resp2() {
        // Expected texts captured from redis-server 7.0.15.
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        let mut r = |line: &str| run(&shared, &mut c, Proto::Resp2, line);
        assert_eq!(r("ZADD z 1 a 2 b 3 c"), ":3\r\n");
        assert_eq!(
            r("ZMPOP 1 z MIN COUNT 2"),
            "*2\r\n$1\r\nz\r\n*2\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"
        );
        assert_eq!(r("ZPOPMIN z"), "*2\r\n$1\r\nc\r\n$1\r\n3\r\n");
        assert_eq!(r("ZADD z NX XX 1 a"), "-ERR XX and NX options at the same time are not compatible\r\n");
        assert_eq!(r("ZADD z GT LT 1 a"), "-ERR GT, LT, and/or NX options at the same time are not compatible\r\n");
        assert_eq!(r("ZADD z NX GT 1 a"), "-ERR GT, LT, and/or NX options at the same time are not compatible\r\n");
        assert_eq!(r("ZADD z INCR 1 a 2 b"), "-ERR INCR option supports a single increment-element pair\r\n");
        assert_eq!(r("ZADD z 1 a 2"), "-ERR syntax error\r\n");
        assert_eq!(r("ZADD z abc a"), "-ERR value is not a valid float\r\n");
        assert_eq!(r("ZADD z 1e400 a"), "-ERR value is not a valid float\r\n");
        assert_eq!(r("ZADD z inf a"), ":1\r\n");
        assert_eq!(r("ZINCRBY z -inf a"), "-ERR resulting score is not a number (NaN)\r\n");
        assert_eq!(r("ZADD z nan a"), "-ERR value is not a valid float\r\n");
        assert_eq!(
            r("ZRANGE z 0 -1 LIMIT 0 1"),
            "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n"
        );
        assert_eq!(r("ZRANGE z a b BYSCORE"), "-ERR min or max is not a float\r\n");
        assert_eq!(r("ZRANGE z a b BYLEX"), "-ERR min or max not valid string range item\r\n");
        assert_eq!(
            r("ZRANGE z [a [b BYLEX WITHSCORES"),
            "-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n"
        );
        assert_eq!(r("ZRANGEBYSCORE z ( 5"), "*0\r\n");
        assert_eq!(r("ZUNIONSTORE d 0 z"), "-ERR at least 1 input key is needed for 'zunionstore' command\r\n");
        assert_eq!(r("ZUNIONSTORE d 2 z"), "-ERR syntax error\r\n");
        assert_eq!(r("ZUNION 1 z WEIGHTS"), "-ERR syntax error\r\n");
        assert_eq!(r("ZUNION 1 z WEIGHTS a"), "-ERR weight value is not a float\r\n");
        assert_eq!(r("ZUNION 1 z AGGREGATE foo"), "-ERR syntax error\r\n");
        assert_eq!(r("ZDIFF 1 z WEIGHTS 1"), "-ERR syntax error\r\n");
        assert_eq!(r("ZPOPMIN z -1"), "-ERR value is out of range, must be positive\r\n");
        assert_eq!(r("ZRANGEBYSCORE z -inf +inf LIMIT 0"), "-ERR syntax error\r\n");
        assert_eq!(r("ZRANGEBYSCORE z -inf +inf LIMIT 0 -1"), "*1\r\n$1\r\na\r\n");
        assert_eq!(r("ZRANGE z 0 -1 REV BYSCORE"), "*0\r\n");
        assert_eq!(r("ZRANGE z +inf -inf BYSCORE REV WITHSCORES"), "*2\r\n$1\r\na\r\n$3\r\ninf\r\n");
        assert_eq!(r("ZINTERSTORE d 1 nokey"), ":0\r\n");
        assert_eq!(r("ZINTERCARD 1 z LIMIT -1"), "-ERR LIMIT can't be negative\r\n");
        assert_eq!(r("ZRANDMEMBER z -5").matches("$1\r\na\r\n").count(), 5);
        assert_eq!(r("ZRANDMEMBER z 1 foo"), "-ERR syntax error\r\n");
        assert_eq!(r("ZADD z 1 a"), ":0\r\n");
        assert_eq!(r("ZADD z GT CH 0 a"), ":0\r\n");
        assert_eq!(r("ZADD z LT CH 0 a"), ":1\r\n");
        assert_eq!(r("ZADD z XX INCR 5 nokey"), "$-1\r\n");
        assert_eq!(r("ZRANGEBYLEX z - + LIMIT 0 1"), "*1\r\n$1\r\na\r\n");
        assert_eq!(r("ZREMRANGEBYRANK z 0 0"), ":1\r\n");
        assert_eq!(r("EXISTS z"), ":0\r\n");
        assert_eq!(r("ZREMRANGEBYSCORE z x 1"), "-ERR min or max is not a float\r\n");
        assert_eq!(r("ZREMRANGEBYLEX z a b"), "-ERR min or max not valid string range item\r\n");
        assert_eq!(r("ZRANK nokey a"), "$-1\r\n");
        assert_eq!(r("ZSCORE nokey a"), "$-1\r\n");
        assert_eq!(r("ZMSCORE nokey a"), "*1\r\n$-1\r\n");
        assert_eq!(r("ZADD nokey XX 1 a"), ":0\r\n");
        assert_eq!(r("EXISTS nokey"), ":0\r\n", "ZADD XX on a missing key creates nothing");
    }

    #[test]
    fn ranges_and_algebra() {
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        let mut r = |line: &str| run(&shared, &mut c, Proto::Resp2, line);
        assert_eq!(r("ZADD z 1 a 2 b 3 c 4 d"), ":4\r\n");
        assert_eq!(r("ZRANGE z 0 1 REV"), "*2\r\n$1\r\nd\r\n$1\r\nc\r\n");
        assert_eq!(r("ZREVRANGE z 0 0 WITHSCORES"), "*2\r\n$1\r\nd\r\n$1\r\n4\r\n");
        assert_eq!(r("ZRANGEBYSCORE z (1 3 LIMIT 1 5"), "*1\r\n$1\r\nc\r\n");
        assert_eq!(r("ZREVRANGEBYSCORE z 3 (1"), "*2\r\n$1\r\nc\r\n$1\r\nb\r\n");
        assert_eq!(r("ZRANGE z 3 (1 BYSCORE REV LIMIT 1 1"), "*1\r\n$1\r\nb\r\n");
        assert_eq!(r("ZCOUNT z (1 +inf"), ":3\r\n");
        assert_eq!(r("ZRANK z c"), ":2\r\n");
        assert_eq!(r("ZREVRANK z c"), ":1\r\n");
        assert_eq!(r("ZRANGESTORE dst z 1 2"), ":2\r\n");
        assert_eq!(r("ZRANGE dst 0 -1 WITHSCORES"), "*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n");
        assert_eq!(r("SADD s b x"), ":2\r\n");
        assert_eq!(r("ZUNION 2 z s WEIGHTS 1 10 WITHSCORES").split("\r\n").filter(|l| *l == "$2").count(), 2);
        assert_eq!(r("ZINTER 2 z s AGGREGATE MAX WITHSCORES"), "*2\r\n$1\r\nb\r\n$1\r\n2\r\n");
        assert_eq!(r("ZDIFF 2 z s"), "*3\r\n$1\r\na\r\n$1\r\nc\r\n$1\r\nd\r\n");
        assert_eq!(r("ZUNIONSTORE u 2 z s AGGREGATE MIN"), ":5\r\n");
        assert_eq!(r("ZSCORE u b"), "$1\r\n1\r\n");
        assert_eq!(r("ZINTERCARD 2 z s"), ":1\r\n");
        assert_eq!(r("ZADD lex 0 a 0 b 0 c"), ":3\r\n");
        assert_eq!(r("ZLEXCOUNT lex (a +"), ":2\r\n");
        assert_eq!(r("ZREVRANGEBYLEX lex + [b"), "*2\r\n$1\r\nc\r\n$1\r\nb\r\n");
        assert_eq!(r("ZREMRANGEBYLEX lex - (c"), ":2\r\n");
        assert_eq!(r("ZPOPMAX z 2"), "*4\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\nc\r\n$1\r\n3\r\n");
        assert_eq!(r("SET str v"), "+OK\r\n");
        let wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
        assert_eq!(r("ZADD str 1 a"), wrong);
        assert_eq!(r("ZUNION 2 z str"), wrong);
        assert_eq!(r("ZRANGESTORE d str 0 1"), wrong);
        assert_eq!(r("ZMPOP 2 nokey str MIN"), wrong);
    }

    #[test]
    fn resp3_shapes_match_redis() {
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        run_for_test(&shared, &mut c, &[b"ZADD", b"z", b"1", b"a", b"2", b"b"]);
        let mut r = |line: &str| run(&shared, &mut c, Proto::Resp3, line);
        assert_eq!(r("ZRANGE z 0 -1 WITHSCORES"), "*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n");
        assert_eq!(r("ZSCORE z a"), ",1\r\n");
        assert_eq!(r("ZMSCORE z a zz"), "*2\r\n,1\r\n_\r\n");
        assert_eq!(r("ZSCAN z 0"), "*2\r\n$1\r\n0\r\n*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n");
        assert_eq!(r("ZINCRBY z 1.5 a"), ",2.5\r\n");
        assert_eq!(r("ZADD z NX INCR 1 a"), "_\r\n");
        assert_eq!(r("ZPOPMIN z"), "*2\r\n$1\r\nb\r\n,2\r\n");
        assert_eq!(r("ZPOPMIN z 1"), "*1\r\n*2\r\n$1\r\na\r\n,2.5\r\n");
        assert_eq!(r("ZMPOP 1 z MIN"), "_\r\n");
    }

    #[test]
    fn big_sorted_set_uses_the_skiplist() {
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        let mut r = |line: &str| run(&shared, &mut c, Proto::Resp2, line);
        for i in 0..500 {
            r(&format!("ZADD z {} m{i}", i % 50));
        }
        assert_eq!(r("OBJECT ENCODING z"), "$8\r\nskiplist\r\n");
        assert_eq!(r("ZCARD z"), ":500\r\n");
        assert_eq!(r("ZCOUNT z 10 (20"), ":100\r\n");
        assert_eq!(r("ZRANGE z 0 0"), "*1\r\n$2\r\nm0\r\n");
        assert_eq!(r("ZREMRANGEBYSCORE z -inf (49"), ":490\r\n");
        assert_eq!(r("ZCARD z"), ":10\r\n");
    }
}
