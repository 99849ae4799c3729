//! Helpers the collection families (`hash`, `list`, `set`, `zset`) share: run a closure on a
//! key's value of one type (answering `WRONGTYPE` for another type, removing the key if the
//! closure left its collection empty), the `*SCAN` argument parser, and count arguments.
//!
//! Every change goes through the store's [`KeyView`] (the same path string commands use).
//! WATCH: the typed accessors do not count as modifications by themselves; an access by a
//! command flagged `write` does (over-approximated: a write that changed nothing, such as
//! SADD of a present member, still invalidates watchers; never the other way round).

use super::{eq_ignore_case, parse_i64, Ctx, ERR_NOT_INTEGER, ERR_SYNTAX, ERR_WRONGTYPE, WRITE};
use crate::glob;
use crate::protocol::Argv;
use crate::reply::{self, Out};
use crate::store::KeyView;
use crate::types::WrongType;

/// A typed accessor of [`KeyView`] (`KeyView::hash`, `KeyView::zset`, …).
pub type Getter<T> = for<'s, 'a> fn(&'s mut KeyView<'a>) -> Result<Option<&'s mut T>, WrongType>;
/// A typed accessor that creates an empty value if absent (`KeyView::hash_or_new`, …).
pub type Creator<T> = for<'s, 'a> fn(&'s mut KeyView<'a>) -> Result<&'s mut T, WrongType>;

/// Run `f` on the value of `key` (`None` if absent). Writes `WRONGTYPE` and returns `None`
/// for a key of another type. A collection `f` left empty is removed.
pub fn with_existing<T, R>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    get: Getter<T>,
    f: impl FnOnce(Option<&mut T>, &mut Out) -> R,
) -> Option<R> {
    let out = &mut *ctx.out;
    // A write command's access counts as a modification (WATCH); a read's does not.
    let write = ctx.client.running_flags & WRITE != 0;
    ctx.shared.store.with_key(ctx.client.db, key, ctx.now_ms, |k| {
        let result = match get(k) {
            Ok(value) => f(value, out),
            Err(WrongType) => {
                reply::error(out, ERR_WRONGTYPE);
                return None;
            }
        };
        if write && k.exists() {
            k.touch();
        }
        k.remove_if_empty();
        Some(result)
    })
}

/// Run `f` on the value of `key`, created empty if absent (so `f` must add to it, or the key
/// is removed again). Writes `WRONGTYPE` and returns `None` for a key of another type.
pub fn with_created<T, R>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    create: Creator<T>,
    f: impl FnOnce(&mut T, &mut Out) -> R,
) -> Option<R> {
    let out = &mut *ctx.out;
    ctx.shared.store.with_key(ctx.client.db, key, ctx.now_ms, |k| {
        let result = match create(k) {
            Ok(value) => f(value, out),
            Err(WrongType) => {
                reply::error(out, ERR_WRONGTYPE);
                return None;
            }
        };
        k.touch();
        k.remove_if_empty();
        Some(result)
    })
}

/// Largest COUNT a `*SCAN` step honours (bounds one reply).
pub const SCAN_COUNT_MAX: usize = 100_000;
/// Redis's default `*SCAN` COUNT.
const SCAN_COUNT_DEFAULT: usize = 10;
/// Largest element count a random-pick command (HRANDFIELD, SRANDMEMBER, ZRANDMEMBER with a
/// negative count) replies with: Redis has none, but a client asking for 2^62 repeated picks
/// would make the server build a reply it cannot hold. Beyond it: `ERR value is out of range`.
pub const RANDOM_REPLY_MAX: u64 = 10_000_000;
pub const ERR_OUT_OF_RANGE: &str = "ERR value is out of range";
pub const ERR_INVALID_CURSOR: &str = "ERR invalid cursor";

/// Parsed `cursor [MATCH pattern] [COUNT count]`.
pub struct ScanArgs<'a> {
    pub cursor: u64,
    pub pattern: Option<&'a [u8]>,
    pub count: usize,
}

impl ScanArgs<'_> {
    /// True if `item` passes MATCH.
    pub fn matches(&self, item: &[u8]) -> bool {
        self.pattern.is_none_or(|p| glob::matches(p, item, false))
    }
}

/// Parse `argv[2..]` of HSCAN/SSCAN/ZSCAN (`key cursor [MATCH p] [COUNT n]`).
pub fn parse_scan(argv: Argv<'_>) -> Result<ScanArgs<'_>, &'static str> {
    let cursor = super::keys::parse_cursor(argv.get(2)).ok_or(ERR_INVALID_CURSOR)?;
    let mut args = ScanArgs { cursor, pattern: None, count: SCAN_COUNT_DEFAULT };
    let mut i = 3;
    while i < argv.len() {
        let opt = argv.get(i);
        if i + 1 >= argv.len() {
            return Err(ERR_SYNTAX);
        }
        if eq_ignore_case(opt, "count") {
            match parse_i64(argv.get(i + 1)) {
                None => return Err(ERR_NOT_INTEGER),
                Some(n) if n < 1 => return Err(ERR_SYNTAX),
                Some(n) => args.count = usize::try_from(n).unwrap_or(usize::MAX).min(SCAN_COUNT_MAX),
            }
        } else if eq_ignore_case(opt, "match") {
            let p = argv.get(i + 1);
            args.pattern = (p != b"*").then_some(p);
        } else {
            return Err(ERR_SYNTAX);
        }
        i += 2;
    }
    Ok(args)
}

/// Write a `*SCAN` reply: `[cursor, [items...]]` (a flat array in both protocols, as Redis).
pub fn scan_reply(out: &mut Out, cursor: u64, items: &[Vec<u8>]) {
    reply::array(out, 2);
    reply::bulk(out, itoa::Buffer::new().format(cursor).as_bytes());
    reply::array(out, items.len());
    items.iter().for_each(|i| reply::bulk(out, i));
}

/// A uniformly random index below `n` (> 0).
pub fn random_below(n: usize) -> usize {
    use std::cell::Cell;
    thread_local! {
        static RNG: Cell<u64> = Cell::new(ahash::RandomState::new().hash_one(0u8) | 1);
    }
    let x = RNG.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        x
    });
    ((u128::from(x) * n as u128) >> 64) as usize
}

/// `count` distinct random indices below `n` (`count <= n`), in random order.
pub fn distinct_random_indices(n: usize, count: usize) -> Vec<usize> {
    if count * 2 >= n {
        // Many of them: shuffle all, keep a prefix.
        let mut all: Vec<usize> = (0..n).collect();
        for i in 0..count {
            let j = i + random_below(n - i);
            all.swap(i, j);
        }
        all.truncate(count);
        return all;
    }
    let mut picked = ahash::HashSet::default();
    let mut order = Vec::with_capacity(count);
    while order.len() < count {
        let i = random_below(n);
        if picked.insert(i) {
            order.push(i);
        }
    }
    order
}

/// A random-pick count argument: `(how many, repeats allowed)`; errors as Redis.
pub fn parse_random_count(arg: &[u8]) -> Result<(u64, bool), &'static str> {
    let n = parse_i64(arg).ok_or(ERR_NOT_INTEGER)?;
    if n == i64::MIN {
        // Redis reads the count in [-LONG_MAX, LONG_MAX].
        return Err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807");
    }
    let (count, repeats) = (n.unsigned_abs(), n < 0);
    if repeats && count > RANDOM_REPLY_MAX {
        return Err(ERR_OUT_OF_RANGE);
    }
    Ok((count, repeats))
}

/// HRANDFIELD / ZRANDMEMBER `key count [option]` → (count, repeats, option given), checked in
/// Redis's order: the count, the option's name, then with the option the count's range (the
/// reply holds two entries per pick).
pub fn parse_random_with(argv: Argv<'_>, option: &str) -> Result<(u64, bool, bool), &'static str> {
    let (count, repeats) = parse_random_count(argv.get(2))?;
    let with = match argv.len() {
        3 => false,
        4 if eq_ignore_case(argv.get(3), option) => true,
        _ => return Err(ERR_SYNTAX),
    };
    if with && count > (i64::MAX / 2) as u64 {
        return Err(ERR_OUT_OF_RANGE);
    }
    Ok((count, repeats, with))
}
