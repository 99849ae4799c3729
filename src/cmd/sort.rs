//! SORT and SORT_RO: sort the elements of a list, set or sorted set numerically or (ALPHA)
//! bytewise, optionally by external keys (BY pattern, `*` replaced by the element, `->field`
//! for a hash field), fetching external keys (GET pattern, `#` = the element), with LIMIT,
//! DESC and STORE (a list). Semantics and error texts follow Redis 7.0's `sort.c`, including
//! BY without `*` meaning "don't sort" and ties broken by the element's bytes.
//!
//! The source is copied out under its lock; BY/GET keys are then read one lock at a time
//! (their names depend on the data, so they cannot be locked up front), and STORE writes
//! the destination under its own lock.

use std::cmp::Ordering;

use super::{
    eq_ignore_case, parse_f64, parse_i64, Command, Ctx, Doc, DENYOOM, ERR_NOT_INTEGER, ERR_SYNTAX, ERR_WRONGTYPE,
};
use super::{READONLY, WRITE};
use crate::protocol::Argv;
use crate::reply;
use crate::types::{List, Value, ValueRef, WrongType};

const ERR_NOT_DOUBLE: &str = "ERR One or more scores can't be converted into double";

pub const COMMANDS: &[Command] = &[
    Command { name: "sort", arity: -2, flags: WRITE | DENYOOM, keys: (1, 1, 1), handler: sort },
    Command { name: "sort_ro", arity: -2, flags: READONLY, keys: (1, 1, 1), handler: sort_ro },
];

/// Documentation of this family's commands (see [`super::Doc`]).
pub const DOCS: &[Doc] = &[
    Doc { name: "sort", group: "generic", since: "1.0.0", summary: "Sort a list, set or sorted set, optionally by or fetching other keys, optionally storing the result.", syntax: "key [BY pattern] offset_count=[LIMIT offset count] [GET pattern [GET pattern ...]] order=[ASC | DESC] sorting=[ALPHA] [STORE destination]" },
    Doc { name: "sort_ro", group: "generic", since: "7.0.0", summary: "Read-only SORT (no STORE).", syntax: "key [BY pattern] offset_count=[LIMIT offset count] [GET pattern [GET pattern ...]] order=[ASC | DESC] sorting=[ALPHA]" },
];

/// Parsed SORT options.
struct SortArgs<'a> {
    desc: bool,
    alpha: bool,
    limit: Option<(i64, i64)>,
    by: Option<&'a [u8]>,
    dont_sort: bool,
    gets: Vec<&'a [u8]>,
    store: Option<&'a [u8]>,
}

fn parse(argv: Argv<'_>, read_only: bool) -> Result<SortArgs<'_>, &'static str> {
    let mut a =
        SortArgs { desc: false, alpha: false, limit: None, by: None, dont_sort: false, gets: Vec::new(), store: None };
    let mut i = 2;
    while i < argv.len() {
        let opt = argv.get(i);
        let left = argv.len() - i - 1;
        if eq_ignore_case(opt, "asc") {
            a.desc = false;
        } else if eq_ignore_case(opt, "desc") {
            a.desc = true;
        } else if eq_ignore_case(opt, "alpha") {
            a.alpha = true;
        } else if eq_ignore_case(opt, "limit") && left >= 2 {
            let (Some(off), Some(count)) = (parse_i64(argv.get(i + 1)), parse_i64(argv.get(i + 2))) else {
                return Err(ERR_NOT_INTEGER);
            };
            a.limit = Some((off, count));
            i += 2;
        } else if eq_ignore_case(opt, "store") && left >= 1 && !read_only {
            a.store = Some(argv.get(i + 1));
            i += 1;
        } else if eq_ignore_case(opt, "by") && left >= 1 {
            let p = argv.get(i + 1);
            a.dont_sort = !p.contains(&b'*');
            a.by = Some(p);
            i += 1;
        } else if eq_ignore_case(opt, "get") && left >= 1 {
            a.gets.push(argv.get(i + 1));
            i += 1;
        } else {
            return Err(ERR_SYNTAX);
        }
        i += 1;
    }
    Ok(a)
}

/// The value `pattern` names for `element` (Redis's `lookupKeyByPattern`): `#` is the element,
/// `*` is replaced by it, `key->field` reads a hash field; `None` if absent or not a string.
fn lookup(ctx: &Ctx<'_>, pattern: &[u8], element: &[u8]) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(element.to_vec());
    }
    let star = pattern.iter().position(|&b| b == b'*')?;
    let arrow = pattern[star + 1..].windows(2).position(|w| w == b"->").map(|p| p + star + 1);
    let (key_pat, field) = match arrow {
        Some(at) if at + 2 < pattern.len() => (&pattern[..at], Some(&pattern[at + 2..])),
        _ => (pattern, None),
    };
    let mut key = key_pat[..star].to_vec();
    key.extend_from_slice(element);
    key.extend_from_slice(&key_pat[star + 1..]);
    ctx.shared.store.with_key(ctx.client.db, &key, ctx.now_ms, |k| match (k.get().map(|e| e.value()), field) {
        (Some(ValueRef::Str(s)), None) => Some(s.to_vec()),
        (Some(ValueRef::Hash(h)), Some(f)) => h.get(f).map(<[u8]>::to_vec),
        _ => None,
    })
}

/// A source's elements, and whether their order means something (list, zset).
type Loaded = (Vec<Vec<u8>>, bool);

/// The source's elements in their natural order (list order, set iteration, zset by score);
/// `Err` for a string or `None` for a missing key.
fn load(ctx: &Ctx<'_>, key: &[u8]) -> Result<Option<Loaded>, WrongType> {
    ctx.shared.store.with_key(ctx.client.db, key, ctx.now_ms, |k| match k.get().map(|e| e.value()) {
        None => Ok(None),
        Some(ValueRef::List(l)) => Ok(Some((l.iter().map(<[u8]>::to_vec).collect(), true))),
        Some(ValueRef::Set(s)) => Ok(Some((s.iter().map(|m| m.into_owned()).collect(), false))),
        Some(ValueRef::ZSet(z)) => Ok(Some((z.iter().into_iter().map(|(m, _)| m.to_vec()).collect(), true))),
        Some(_) => Err(WrongType),
    })
}

/// Sort `items` as SORT would (no-op when `dont_sort`).
fn sort_items(ctx: &Ctx<'_>, a: &SortArgs<'_>, items: &mut Vec<Vec<u8>>) -> Result<(), &'static str> {
    if a.dont_sort {
        return Ok(());
    }
    let keys: Vec<Option<Vec<u8>>> = items
        .iter()
        .map(|e| match a.by {
            Some(p) => lookup(ctx, p, e),
            None => Some(e.clone()),
        })
        .collect();
    let mut rows: Vec<(Vec<u8>, Option<Vec<u8>>, f64)> = Vec::with_capacity(items.len());
    for (e, k) in items.drain(..).zip(keys) {
        let score = match (&k, a.alpha) {
            (_, true) | (None, false) => 0.0,
            (Some(v), false) => parse_f64(v).ok_or(ERR_NOT_DOUBLE)?,
        };
        rows.push((e, k, score));
    }
    rows.sort_by(|x, y| {
        let cmp = if a.alpha { x.1.cmp(&y.1) } else { x.2.partial_cmp(&y.2).unwrap_or(Ordering::Equal) };
        // Redis breaks ties by the element itself, except for ALPHA with BY: equal (or both
        // missing) weights compare equal and the stable sort keeps the source's order.
        let cmp = if a.alpha && a.by.is_some() { cmp } else { cmp.then_with(|| x.0.cmp(&y.0)) };
        if a.desc {
            cmp.reverse()
        } else {
            cmp
        }
    });
    items.extend(rows.into_iter().map(|r| r.0));
    Ok(())
}

/// Redis's LIMIT clamp: the kept index range.
fn limit_range(limit: Option<(i64, i64)>, len: usize) -> std::ops::Range<usize> {
    let Some((off, count)) = limit else {
        return 0..len;
    };
    let start = off.max(0) as u64;
    if start >= len as u64 {
        return 0..0;
    }
    let end = if count < 0 { len as u64 } else { (start + count as u64).min(len as u64) };
    start as usize..end as usize
}

fn sort_generic(ctx: &mut Ctx<'_>, argv: Argv<'_>, read_only: bool) {
    let mut args = match parse(argv, read_only) {
        Ok(a) => a,
        Err(e) => return ctx.error(e),
    };
    let (mut items, ordered) = match load(ctx, argv.get(1)) {
        Err(WrongType) => return ctx.error(ERR_WRONGTYPE),
        Ok(None) => (Vec::new(), false),
        Ok(Some(found)) => found,
    };
    if args.dont_sort && args.desc && ordered {
        items.reverse();
    }
    // Redis stores an unsorted set's elements sorted (ALPHA, no BY), so the stored list does
    // not depend on the set's hash order.
    if args.dont_sort && !ordered && args.store.is_some() {
        (args.dont_sort, args.alpha, args.by) = (false, true, None);
    }
    if let Err(e) = sort_items(ctx, &args, &mut items) {
        return ctx.error(e);
    }
    let range = limit_range(args.limit, items.len());
    let kept = &items[range];
    let output: Vec<Option<Vec<u8>>> = if args.gets.is_empty() {
        kept.iter().map(|e| Some(e.clone())).collect()
    } else {
        kept.iter().flat_map(|e| args.gets.iter().map(move |p| (p, e))).map(|(p, e)| lookup(ctx, p, e)).collect()
    };
    let Some(dest) = args.store else {
        reply::array(ctx.out, output.len());
        return output.iter().for_each(|v| reply::opt_bulk(ctx.out, v.as_deref()));
    };
    let count = output.len();
    ctx.shared.store.with_key(ctx.client.db, dest, ctx.now_ms, |k| {
        if output.is_empty() {
            k.remove();
            return;
        }
        let mut list = List::new();
        output.iter().for_each(|v| list.push_back(v.as_deref().unwrap_or_default()));
        k.set(Value::List(Box::new(list)), None);
    });
    reply::integer(ctx.out, count as i64);
    if count > 0 {
        ctx.key_ready(ctx.db(), dest);
    }
}

/// SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA] [STORE dst]
fn sort(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    sort_generic(ctx, argv, false);
}

/// SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]
fn sort_ro(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    sort_generic(ctx, argv, true);
}

#[cfg(test)]
mod tests {
    use crate::cmd::{run_line_for_test, ClientState};
    use crate::config::Config;
    use crate::shared::Shared;

    #[test]
    fn replies_match_redis() {
        // Expected replies captured from redis-server 7.0.15.
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        let mut r = |line: &str| run_line_for_test(&shared, &mut c, line);
        for (cmd, want) in [
            ("RPUSH l 3 1 2", ":3\r\n"),
            ("SORT l", "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n"),
            ("SORT l DESC LIMIT 0 2", "*2\r\n$1\r\n3\r\n$1\r\n2\r\n"),
            ("SORT l ALPHA", "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n"),
            ("SADD s b a c", ":3\r\n"),
            ("SORT s", "-ERR One or more scores can't be converted into double\r\n"),
            ("SORT s ALPHA", "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"),
            ("MSET w_1 30 w_2 10 w_3 20 o_1 one o_2 two o_3 three", "+OK\r\n"),
            ("SORT l BY w_*", "*3\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n1\r\n"),
            (
                "SORT l BY w_* GET o_* GET #",
                "*6\r\n$3\r\ntwo\r\n$1\r\n2\r\n$5\r\nthree\r\n$1\r\n3\r\n$3\r\none\r\n$1\r\n1\r\n",
            ),
            ("SORT l GET o_* STORE dst", ":3\r\n"),
            ("LRANGE dst 0 -1", "*3\r\n$3\r\none\r\n$3\r\ntwo\r\n$5\r\nthree\r\n"),
            ("SORT l LIMIT 1", "-ERR syntax error\r\n"),
            ("SORT l foo", "-ERR syntax error\r\n"),
            ("SORT_RO l STORE x", "-ERR syntax error\r\n"),
            ("HSET h_1 f 5", ":1\r\n"),
            ("HSET h_2 f 1", ":1\r\n"),
            ("HSET h_3 f 3", ":1\r\n"),
            ("SORT l BY h_*->f GET h_*->f", "*3\r\n$1\r\n1\r\n$1\r\n3\r\n$1\r\n5\r\n"),
            ("SET str x", "+OK\r\n"),
            ("SORT str", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
            ("SORT l BY nosort DESC", "*3\r\n$1\r\n2\r\n$1\r\n1\r\n$1\r\n3\r\n"),
            ("ZADD z 3 a 1 b 2 c", ":3\r\n"),
            ("SORT z BY nosort", "*3\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\na\r\n"),
            ("SORT z ALPHA BY nosort DESC LIMIT 0 2", "*2\r\n$1\r\na\r\n$1\r\nc\r\n"),
            ("SORT l GET", "-ERR syntax error\r\n"),
            ("SORT l LIMIT a b", "-ERR value is not an integer or out of range\r\n"),
            ("SORT nokey", "*0\r\n"),
            ("SORT nokey STORE dst", ":0\r\n"),
            ("EXISTS dst", ":0\r\n"),
        ] {
            assert_eq!(r(cmd), want, "{cmd}");
        }
    }

    #[test]
    fn alpha_by_ties_keep_the_source_order() {
        // Found by scripts/redis-diff; replies captured from redis-server 7.0.15: with ALPHA
        // and BY, equal or missing weights tie (no tie-break by element), in either direction.
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        let mut r = |line: &str| run_line_for_test(&shared, &mut c, line);
        r("RPUSH sl b c a 1");
        r("MSET w_a 2 w_b 1");
        assert_eq!(r("SORT sl BY nokey_* ALPHA DESC"), "*4\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\na\r\n$1\r\n1\r\n");
        assert_eq!(r("SORT sl BY w_* ALPHA"), "*4\r\n$1\r\nc\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\na\r\n");
        r("SADD so b c a");
        assert_eq!(r("SORT so BY nosort DESC LIMIT 0 2 STORE d1"), ":2\r\n");
        assert_eq!(r("LRANGE d1 0 -1"), "*2\r\n$1\r\nc\r\n$1\r\nb\r\n");
        assert_eq!(r("SORT so BY nosort STORE d1"), ":3\r\n");
        assert_eq!(r("LRANGE d1 0 -1"), "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n");
        assert_eq!(r("SORT sl BY w_* ALPHA DESC"), "*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\n1\r\n");
    }
}
