//! String commands: GET/SET and their variants, multi-key MGET/MSET/MSETNX, counters
//! (INCR family, INCRBYFLOAT), ranges (APPEND, STRLEN, GETRANGE/SUBSTR, SETRANGE), bits
//! (SETBIT, GETBIT, BITCOUNT) and LCS. Semantics, reply types and error texts follow Redis 7
//! (`src/t_string.c`, `src/bitops.c`).
//!
//! Values are bytes. Every size a client asks for (SETRANGE/SETBIT offsets, APPEND growth, the
//! LCS table) is checked against `proto-max-bulk-len` before anything is allocated.

use std::sync::atomic::Ordering::Relaxed;

use super::long_double::AddError;
use super::{
    eq_ignore_case, parse_i64, wrong_arity, Command, Ctx, DENYOOM, ERR_NOT_FLOAT, ERR_NOT_INTEGER, ERR_OVERFLOW,
    ERR_STRING_TOO_LONG, ERR_SYNTAX, ERR_WRONGTYPE, FAST, READONLY, RUN_TIMED, WRITE,
};
use crate::protocol::Argv;
use crate::reply;
use crate::shared::Shared;
use crate::store::entry::SharedStr;
use crate::store::Entry;

/// Documentation of this family's commands (see [`super::Doc`]).
pub const DOCS: &[super::Doc] = &[
    super::Doc { name: "get", group: "string", since: "1.0.0", summary: "The value stored at a key, or null.", syntax: "key" },
    super::Doc { name: "set", group: "string", since: "1.0.0", summary: "Store a value at a key, with optional expiry and conditions.", syntax: "key value condition=[NX | XX] [GET] expiration=[EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]" },
    super::Doc { name: "setnx", group: "string", since: "1.0.0", summary: "Store a value only if the key does not exist.", syntax: "key value" },
    super::Doc { name: "setex", group: "string", since: "2.0.0", summary: "Store a value that expires after some seconds.", syntax: "key seconds value" },
    super::Doc { name: "psetex", group: "string", since: "2.6.0", summary: "Store a value that expires after some milliseconds.", syntax: "key milliseconds value" },
    super::Doc { name: "getset", group: "string", since: "1.0.0", summary: "Store a value and return the one it replaced.", syntax: "key value" },
    super::Doc { name: "getdel", group: "string", since: "6.2.0", summary: "Return a key's value and delete the key.", syntax: "key" },
    super::Doc { name: "getex", group: "string", since: "6.2.0", summary: "Return a key's value, changing or removing its expiry.", syntax: "key expiration=[EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | PERSIST]" },
    super::Doc { name: "mget", group: "string", since: "1.0.0", summary: "The values of several keys, null for missing ones.", syntax: "key [key ...]" },
    super::Doc { name: "mset", group: "string", since: "1.0.1", summary: "Store several key/value pairs at once.", syntax: "key value [key value ...]" },
    super::Doc { name: "msetnx", group: "string", since: "1.0.1", summary: "Store several pairs only if none of the keys exists.", syntax: "key value [key value ...]" },
    super::Doc { name: "append", group: "string", since: "2.0.0", summary: "Add bytes to the end of a value; returns the new length.", syntax: "key value" },
    super::Doc { name: "strlen", group: "string", since: "2.2.0", summary: "The length in bytes of a key's value.", syntax: "key" },
    super::Doc { name: "incr", group: "string", since: "1.0.0", summary: "Add one to the integer stored at a key.", syntax: "key" },
    super::Doc { name: "decr", group: "string", since: "1.0.0", summary: "Subtract one from the integer stored at a key.", syntax: "key" },
    super::Doc { name: "incrby", group: "string", since: "1.0.0", summary: "Add an integer to the integer stored at a key.", syntax: "key increment" },
    super::Doc { name: "decrby", group: "string", since: "1.0.0", summary: "Subtract an integer from the integer stored at a key.", syntax: "key decrement" },
    super::Doc { name: "incrbyfloat", group: "string", since: "2.6.0", summary: "Add a floating-point number to the number stored at a key.", syntax: "key increment:double" },
    super::Doc { name: "getrange", group: "string", since: "2.4.0", summary: "A byte range of a value (negative offsets count from the end).", syntax: "key start end" },
    super::Doc { name: "substr", group: "string", since: "1.0.0", summary: "Old name of GETRANGE.", syntax: "key start end" },
    super::Doc { name: "setrange", group: "string", since: "2.2.0", summary: "Overwrite part of a value from an offset, padding with zero bytes.", syntax: "key offset value" },
    super::Doc { name: "setbit", group: "bitmap", since: "2.2.0", summary: "Set or clear one bit of a value; returns the old bit.", syntax: "key offset value:integer" },
    super::Doc { name: "getbit", group: "bitmap", since: "2.2.0", summary: "One bit of a value.", syntax: "key offset" },
    super::Doc { name: "bitcount", group: "bitmap", since: "2.6.0", summary: "Count the set bits of a value or of a byte/bit range.", syntax: "key index=[start end index_unit=[BYTE | BIT]]" },
    super::Doc { name: "lcs", group: "string", since: "7.0.0", summary: "The longest common subsequence of two values, its length or its match positions.", syntax: "key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]" },
];

pub const COMMANDS: &[Command] = &[
    Command { name: "get", arity: 2, flags: READONLY | FAST, keys: (1, 1, 1), handler: get },
    Command { name: "set", arity: -3, flags: WRITE | DENYOOM | RUN_TIMED, keys: (1, 1, 1), handler: set },
    Command { name: "setnx", arity: 3, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), handler: setnx },
    Command { name: "setex", arity: 4, flags: WRITE | DENYOOM | RUN_TIMED, keys: (1, 1, 1), handler: setex },
    Command { name: "psetex", arity: 4, flags: WRITE | DENYOOM | RUN_TIMED, keys: (1, 1, 1), handler: psetex },
    Command { name: "getset", arity: 3, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), handler: getset },
    Command { name: "getdel", arity: 2, flags: WRITE | FAST, keys: (1, 1, 1), handler: getdel },
    Command { name: "getex", arity: -2, flags: WRITE | FAST, keys: (1, 1, 1), handler: getex },
    Command { name: "mget", arity: -2, flags: READONLY | FAST, keys: (1, -1, 1), handler: mget },
    Command { name: "mset", arity: -3, flags: WRITE | DENYOOM, keys: (1, -1, 2), handler: mset },
    Command { name: "msetnx", arity: -3, flags: WRITE | DENYOOM, keys: (1, -1, 2), handler: msetnx },
    Command { name: "append", arity: 3, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), handler: append },
    Command { name: "strlen", arity: 2, flags: READONLY | FAST, keys: (1, 1, 1), handler: strlen },
    Command { name: "incr", arity: 2, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), handler: incr },
    Command { name: "decr", arity: 2, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), handler: decr },
    Command { name: "incrby", arity: 3, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), handler: incrby },
    Command { name: "decrby", arity: 3, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), handler: decrby },
    Command { name: "incrbyfloat", arity: 3, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), handler: incrbyfloat },
    Command { name: "getrange", arity: 4, flags: READONLY, keys: (1, 1, 1), handler: getrange },
    Command { name: "substr", arity: 4, flags: READONLY, keys: (1, 1, 1), handler: getrange },
    Command { name: "setrange", arity: 4, flags: WRITE | DENYOOM, keys: (1, 1, 1), handler: setrange },
    Command { name: "setbit", arity: 4, flags: WRITE | DENYOOM, keys: (1, 1, 1), handler: setbit },
    Command { name: "getbit", arity: 3, flags: READONLY | FAST, keys: (1, 1, 1), handler: getbit },
    Command { name: "bitcount", arity: -2, flags: READONLY, keys: (1, 1, 1), handler: bitcount },
    Command { name: "lcs", arity: -3, flags: READONLY, keys: (1, 2, 1), handler: lcs },
];

const ERR_OFFSET_RANGE: &str = "ERR offset is out of range";
const ERR_BIT_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const ERR_BIT_VALUE: &str = "ERR bit is not an integer or out of range";
const ERR_FLOAT_RESULT: &str = "ERR increment would produce NaN or Infinity";
const ERR_DECREMENT_OVERFLOW: &str = "ERR decrement would overflow";
const ERR_LCS_IDX_AND_LEN: &str = "ERR If you want both the length and indexes, please just use IDX.";
const ERR_LCS_NOT_STRINGS: &str = "ERR The specified keys must contain string values";
const ERR_LCS_TOO_LONG: &str = "ERR String too long for LCS";
const ERR_LCS_TABLE_CAP: &str = "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len";
const ERR_LCS_ALLOC: &str = "ERR Insufficient memory, failed allocating transient memory for LCS";

/// LCS indexes its DP table with u32 (as Redis does): inputs of this many bytes or more are
/// refused. The table's size is capped separately by `proto-max-bulk-len`, which bites long
/// before this.
const LCS_INPUT_LEN_LIMIT: u64 = u32::MAX as u64 - 1;

/// Count a read lookup in INFO's keyspace_hits / keyspace_misses, as Redis's lookupKeyRead.
fn count_lookup(shared: &Shared, found: bool) {
    let counter = if found { &shared.stats.keyspace_hits } else { &shared.stats.keyspace_misses };
    counter.fetch_add(1, Relaxed);
}

/// Redis's checkStringLength: a value of `len + extra` bytes must fit proto-max-bulk-len.
fn fits_bulk_len(shared: &Shared, len: u64, extra: u64) -> bool {
    len.checked_add(extra).is_some_and(|total| total <= shared.tunables.proto_max_bulk_len())
}

// ---------------------------------------------------------------------------------------
// SET / GETEX option parsing
// ---------------------------------------------------------------------------------------

/// The four ways to give a deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ExpireKind {
    /// EX seconds (relative)
    Ex,
    /// PX milliseconds (relative)
    Px,
    /// EXAT unix-seconds
    ExAt,
    /// PXAT unix-milliseconds
    PxAt,
}

impl ExpireKind {
    fn from_arg(arg: &[u8]) -> Option<Self> {
        [("ex", Self::Ex), ("px", Self::Px), ("exat", Self::ExAt), ("pxat", Self::PxAt)]
            .into_iter()
            .find(|(name, _)| eq_ignore_case(arg, name))
            .map(|(_, kind)| kind)
    }
    fn in_seconds(self) -> bool {
        matches!(self, Self::Ex | Self::ExAt)
    }
    fn is_relative(self) -> bool {
        matches!(self, Self::Ex | Self::Px)
    }
}

/// Which command's options are being parsed (Redis's COMMAND_SET / COMMAND_GET).
#[derive(Clone, Copy, PartialEq, Eq)]
enum OptionsFor {
    Set,
    GetEx,
}

/// Parsed `[NX|XX] [GET] [EX|PX|EXAT|PXAT n|KEEPTTL|PERSIST]`.
#[derive(Default)]
struct ExtOptions<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    persist: bool,
    expire: Option<(ExpireKind, &'a [u8])>,
}

/// Parse SET/GETEX options from `argv[first..]` with Redis's exact acceptance rules
/// (parseExtendedStringArgumentsOrReply): a repeated option is fine, conflicting ones or
/// an option of the other command is a syntax error.
fn parse_ext_options(argv: Argv<'_>, first: usize, cmd: OptionsFor) -> Result<ExtOptions<'_>, &'static str> {
    let mut o = ExtOptions::default();
    let is_set = cmd == OptionsFor::Set;
    let mut i = first;
    while i < argv.len() {
        let opt = argv.get(i);
        let next = (i + 1 < argv.len()).then(|| argv.get(i + 1));
        if is_set && eq_ignore_case(opt, "nx") && !o.xx {
            o.nx = true;
        } else if is_set && eq_ignore_case(opt, "xx") && !o.nx {
            o.xx = true;
        } else if is_set && eq_ignore_case(opt, "get") {
            o.get = true;
        } else if is_set && eq_ignore_case(opt, "keepttl") && o.expire.is_none() {
            o.keep_ttl = true;
        } else if !is_set && eq_ignore_case(opt, "persist") && o.expire.is_none() {
            o.persist = true;
        } else if let (Some(kind), Some(arg)) = (ExpireKind::from_arg(opt), next) {
            let compatible = !o.keep_ttl && !o.persist && o.expire.is_none_or(|(k, _)| k == kind);
            if !compatible {
                return Err(ERR_SYNTAX);
            }
            o.expire = Some((kind, arg));
            i += 1;
        } else {
            return Err(ERR_SYNTAX);
        }
        i += 1;
    }
    Ok(o)
}

/// The absolute deadline (Unix ms) an expire argument asks for, validated like Redis's
/// getExpireMillisecondsOrReply: not an integer → ERR_NOT_INTEGER; zero, negative or
/// overflowing → `ERR invalid expire time in '<cmd>' command`.
fn expire_deadline_ms(kind: ExpireKind, arg: &[u8], now_ms: u64, cmd: &str) -> Result<u64, String> {
    let invalid = || format!("ERR invalid expire time in '{cmd}' command");
    let n = parse_i64(arg).ok_or_else(|| ERR_NOT_INTEGER.to_string())?;
    if n <= 0 {
        return Err(invalid());
    }
    let ms = if kind.in_seconds() { n.checked_mul(1000).ok_or_else(invalid)? } else { n };
    let ms = if kind.is_relative() { ms.checked_add(now_ms as i64).ok_or_else(invalid)? } else { ms };
    Ok(ms as u64)
}

// ---------------------------------------------------------------------------------------
// GET / SET family
// ---------------------------------------------------------------------------------------

/// GET key
fn get(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let (shared, db, now) = (ctx.shared, ctx.db(), ctx.now_ms);
    let out = &mut *ctx.out;
    let found = shared.store.with_key(db, argv.get(1), now, |k| match k.string_for_reply() {
        Ok(value) => {
            reply::opt_stored_bulk(out, value);
            value.is_some()
        }
        Err(_) => {
            reply::error(out, ERR_WRONGTYPE);
            true
        }
    });
    count_lookup(shared, found);
}

/// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT ts|PXAT ts|KEEPTTL]
fn set(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let opts = match parse_ext_options(argv, 3, OptionsFor::Set) {
        Ok(o) => o,
        Err(e) => return ctx.error(e),
    };
    let deadline = match opts.expire.map(|(kind, arg)| expire_deadline_ms(kind, arg, ctx.now_ms, "set")) {
        None => None,
        Some(Ok(d)) => Some(d),
        Some(Err(e)) => return ctx.error(&e),
    };
    let (shared, db, now) = (ctx.shared, ctx.db(), ctx.now_ms);
    let out = &mut *ctx.out;
    shared.store.with_key(db, argv.get(1), now, |k| {
        if opts.get {
            let Ok(old) = k.string_for_reply() else {
                return reply::error(out, ERR_WRONGTYPE);
            };
            reply::opt_stored_bulk(out, old);
            count_lookup(shared, old.is_some());
        }
        let found = k.exists();
        if (opts.nx && found) || (opts.xx && !found) {
            if !opts.get {
                reply::null(out);
            }
            return;
        }
        let value = argv.get(2);
        match deadline {
            // EXAT/PXAT in the past: the key is set and expires at once, i.e. it is gone.
            Some(d) if d <= now => drop(k.remove()),
            Some(d) => k.set_bytes(value, Some(d)),
            None if opts.keep_ttl => k.set_bytes_keep_ttl(value),
            None => k.set_bytes(value, None),
        }
        if !opts.get {
            reply::ok(out);
        }
    });
}

/// SETNX key value
fn setnx(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let (shared, db, now) = (ctx.shared, ctx.db(), ctx.now_ms);
    let created = shared.store.with_key(db, argv.get(1), now, |k| {
        if k.exists() {
            return false;
        }
        k.set_bytes(argv.get(2), None);
        true
    });
    reply::integer(ctx.out, created as i64);
}

/// SETEX key seconds value
fn setex(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    set_with_ttl(ctx, argv, ExpireKind::Ex, "setex");
}

/// PSETEX key milliseconds value
fn psetex(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    set_with_ttl(ctx, argv, ExpireKind::Px, "psetex");
}

/// SETEX / PSETEX: `argv[2]` is the relative TTL, `argv[3]` the value.
fn set_with_ttl(ctx: &mut Ctx<'_>, argv: Argv<'_>, kind: ExpireKind, cmd: &str) {
    let deadline = match expire_deadline_ms(kind, argv.get(2), ctx.now_ms, cmd) {
        Ok(d) => d,
        Err(e) => return ctx.error(&e),
    };
    let (shared, db, now) = (ctx.shared, ctx.db(), ctx.now_ms);
    shared.store.with_key(db, argv.get(1), now, |k| k.set_bytes(argv.get(3), Some(deadline)));
    ctx.ok();
}

/// GETSET key value
fn getset(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let (shared, db, now) = (ctx.shared, ctx.db(), ctx.now_ms);
    let out = &mut *ctx.out;
    let found = shared.store.with_key(db, argv.get(1), now, |k| {
        if k.string().is_err() {
            reply::error(out, ERR_WRONGTYPE);
            return true;
        }
        let old = k.set(argv.get(2).to_vec(), None);
        reply::opt_stored_bulk(out, old.as_ref().and_then(stored_str));
        old.is_some()
    });
    count_lookup(shared, found);
}

/// GETDEL key
fn getdel(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let (shared, db, now) = (ctx.shared, ctx.db(), ctx.now_ms);
    let old = shared.store.with_key(db, argv.get(1), now, |k| match k.string() {
        Ok(_) => Ok(k.remove()),
        Err(e) => Err(e),
    });
    let Ok(old) = old else {
        return ctx.error(ERR_WRONGTYPE);
    };
    count_lookup(shared, old.is_some());
    reply::opt_stored_bulk(ctx.out, old.as_ref().and_then(stored_str));
}

/// A removed or replaced entry's string for a reply: its bytes and, for a big value, its
/// shared buffer (the reply's reference keeps it alive after the entry is dropped).
fn stored_str(e: &Entry) -> Option<(&[u8], Option<&SharedStr>)> {
    e.str().map(|s| (s, e.shared_str()))
}

/// GETEX key [EX s|PX ms|EXAT ts|PXAT ts|PERSIST]
fn getex(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let opts = match parse_ext_options(argv, 2, OptionsFor::GetEx) {
        Ok(o) => o,
        Err(e) => return ctx.error(e),
    };
    let (shared, db, now) = (ctx.shared, ctx.db(), ctx.now_ms);
    let out = &mut *ctx.out;
    shared.store.with_key(db, argv.get(1), now, |k| {
        let (entry, buf) = match k.string_for_reply() {
            Err(_) => return reply::error(out, ERR_WRONGTYPE),
            Ok(None) => {
                count_lookup(shared, false);
                return reply::null(out);
            }
            Ok(Some(entry)) => entry,
        };
        count_lookup(shared, true);
        // As Redis: a missing key answers nil before the expire argument is validated.
        let deadline = match opts.expire.map(|(kind, arg)| expire_deadline_ms(kind, arg, now, "getex")) {
            None => None,
            Some(Ok(d)) => Some(d),
            Some(Err(e)) => return reply::error(out, &e),
        };
        reply::stored_bulk(out, entry, buf);
        if deadline.is_some() || opts.persist {
            // A deadline already passed (EXAT/PXAT) deletes the key.
            k.set_expire(deadline);
        }
    });
}

/// MGET key [key ...]
fn mget(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let (shared, db, now) = (ctx.shared, ctx.db(), ctx.now_ms);
    let keys: Vec<(usize, &[u8])> = argv.iter().skip(1).map(|key| (db, key)).collect();
    let out = &mut *ctx.out;
    reply::array(out, keys.len());
    let hits = shared.store.with_keys(&keys, now, |m| {
        let mut hits = 0;
        for i in 0..m.len() {
            let mut k = m.key(i);
            // MGET answers nil for a key of another type.
            let value = k.string_for_reply().ok().flatten();
            hits += value.is_some() as u64;
            reply::opt_stored_bulk(out, value);
        }
        hits
    });
    shared.stats.keyspace_hits.fetch_add(hits, Relaxed);
    shared.stats.keyspace_misses.fetch_add(keys.len() as u64 - hits, Relaxed);
}

/// MSET key value [key value ...]
fn mset(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    if argv.len().is_multiple_of(2) {
        return wrong_arity(ctx, "mset");
    }
    mset_generic(ctx, argv, false);
    ctx.ok();
}

/// MSETNX key value [key value ...]
fn msetnx(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    if argv.len().is_multiple_of(2) {
        return wrong_arity(ctx, "msetnx");
    }
    let done = mset_generic(ctx, argv, true);
    reply::integer(ctx.out, done as i64);
}

/// Set every pair atomically (all keys locked together). With `nx`, set nothing if any key
/// exists. Returns whether the keys were set.
fn mset_generic(ctx: &mut Ctx<'_>, argv: Argv<'_>, nx: bool) -> bool {
    let (shared, db, now) = (ctx.shared, ctx.db(), ctx.now_ms);
    let keys: Vec<(usize, &[u8])> = (1..argv.len()).step_by(2).map(|i| (db, argv.get(i))).collect();
    shared.store.with_keys(&keys, now, |m| {
        if nx && (0..m.len()).any(|i| m.key(i).exists()) {
            return false;
        }
        for i in 0..m.len() {
            m.key(i).set_bytes(argv.get(2 + 2 * i), None);
        }
        true
    })
}

// ---------------------------------------------------------------------------------------
// Counters
// ---------------------------------------------------------------------------------------

/// INCR key
fn incr(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    incr_by(ctx, argv.get(1), 1);
}

/// DECR key
fn decr(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    incr_by(ctx, argv.get(1), -1);
}

/// INCRBY key increment
fn incrby(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    match parse_i64(argv.get(2)) {
        Some(delta) => incr_by(ctx, argv.get(1), delta),
        None => ctx.error(ERR_NOT_INTEGER),
    }
}

/// DECRBY key decrement
fn decrby(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    match parse_i64(argv.get(2)) {
        None => ctx.error(ERR_NOT_INTEGER),
        Some(i64::MIN) => ctx.error(ERR_DECREMENT_OVERFLOW),
        Some(delta) => incr_by(ctx, argv.get(1), -delta),
    }
}

/// Add `delta` to the integer at `key` (absent = 0), keeping its TTL.
fn incr_by(ctx: &mut Ctx<'_>, key: &[u8], delta: i64) {
    let (shared, db, now) = (ctx.shared, ctx.db(), ctx.now_ms);
    let result = shared.store.with_key(db, key, now, |k| {
        let Some(value) = k.string().map_err(|_| ERR_WRONGTYPE)? else {
            k.set_bytes(itoa::Buffer::new().format(delta).as_bytes(), None);
            return Ok(delta);
        };
        let old = parse_i64(value).ok_or(ERR_NOT_INTEGER)?;
        let new = old.checked_add(delta).ok_or(ERR_OVERFLOW)?;
        // Only now, with the result known, a modification (WATCH); the TTL stays.
        k.set_bytes_keep_ttl(itoa::Buffer::new().format(new).as_bytes());
        Ok(new)
    });
    match result {
        Ok(n) => reply::integer(ctx.out, n),
        Err(e) => ctx.error(e),
    }
}

/// INCRBYFLOAT key increment
fn incrbyfloat(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let (shared, db, now) = (ctx.shared, ctx.db(), ctx.now_ms);
    let out = &mut *ctx.out;
    let result = shared.store.with_key(db, argv.get(1), now, |k| {
        // In long double, as Redis (see long_double).
        let text = match super::long_double::add(k.string().map_err(|_| ERR_WRONGTYPE)?, argv.get(2)) {
            Ok(text) => text,
            Err(AddError::OldNotFloat | AddError::IncrNotFloat) => return Err(ERR_NOT_FLOAT),
            Err(AddError::NotFinite) => return Err(ERR_FLOAT_RESULT),
        };
        reply::bulk(out, &text);
        k.set_bytes_keep_ttl(&text);
        Ok(())
    });
    if let Err(e) = result {
        ctx.error(e);
    }
}

// ---------------------------------------------------------------------------------------
// Lengths and ranges
// ---------------------------------------------------------------------------------------

/// APPEND key value
fn append(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let (shared, db, now) = (ctx.shared, ctx.db(), ctx.now_ms);
    let tail = argv.get(2);
    let result = shared.store.with_key(db, argv.get(1), now, |k| {
        let Some(len) = k.string().map_err(|_| ERR_WRONGTYPE)?.map(<[u8]>::len) else {
            k.set_bytes(tail, None);
            return Ok(tail.len());
        };
        if !fits_bulk_len(shared, len as u64, tail.len() as u64) {
            return Err(ERR_STRING_TOO_LONG);
        }
        let len = k.string_mut(|value| {
            reserve_for_append(value, tail.len());
            value.extend_from_slice(tail);
            value.len()
        });
        k.touch();
        Ok(len.ok().flatten().unwrap_or(0))
    });
    match result {
        Ok(len) => reply::integer(ctx.out, len as i64),
        Err(e) => ctx.error(e),
    }
}

/// Past this length an appended string grows by this much at a time instead of doubling
/// (Redis's `SDS_MAX_PREALLOC` in `sdsMakeRoomFor`): a 100 MiB value appended to holds at
/// most 1 MiB spare, not up to 100 MiB.
const APPEND_PREALLOC_MAX: usize = 1024 * 1024;

/// Make room for `add` more bytes as Redis does for APPEND: double while short (appends
/// stay amortised O(1)), then [`APPEND_PREALLOC_MAX`] more.
fn reserve_for_append(value: &mut Vec<u8>, add: usize) {
    let need = value.len().saturating_add(add);
    if value.capacity() >= need {
        return;
    }
    let target = if need < APPEND_PREALLOC_MAX { need * 2 } else { need.saturating_add(APPEND_PREALLOC_MAX) };
    value.reserve_exact(target - value.len());
}

/// STRLEN key
fn strlen(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let (shared, db, now) = (ctx.shared, ctx.db(), ctx.now_ms);
    let len = shared.store.with_key(db, argv.get(1), now, |k| k.string().map(|v| v.map(|v| v.len())));
    let Ok(len) = len else {
        return ctx.error(ERR_WRONGTYPE);
    };
    count_lookup(shared, len.is_some());
    reply::integer(ctx.out, len.unwrap_or(0) as i64);
}

/// Clamp Redis-style inclusive `[start, end]` (negative = from the end) to a string of `len`
/// units. `None` = empty range.
fn clamp_range(mut start: i64, mut end: i64, len: i64) -> Option<(i64, i64)> {
    if start < 0 && end < 0 && start > end {
        return None;
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    let start = start.max(0);
    let end = end.max(0).min(len - 1);
    (start <= end && len > 0).then_some((start, end))
}

/// GETRANGE key start end (SUBSTR key start end is the old name)
fn getrange(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let (Some(start), Some(end)) = (parse_i64(argv.get(2)), parse_i64(argv.get(3))) else {
        return ctx.error(ERR_NOT_INTEGER);
    };
    let (shared, db, now) = (ctx.shared, ctx.db(), ctx.now_ms);
    let out = &mut *ctx.out;
    let found = shared.store.with_key(db, argv.get(1), now, |k| {
        let value = match k.string() {
            Err(_) => {
                reply::error(out, ERR_WRONGTYPE);
                return true;
            }
            Ok(None) => {
                reply::bulk(out, b"");
                return false;
            }
            Ok(Some(value)) => value,
        };
        match clamp_range(start, end, value.len() as i64) {
            Some((s, e)) => reply::bulk(out, &value[s as usize..=e as usize]),
            None => reply::bulk(out, b""),
        }
        true
    });
    count_lookup(shared, found);
}

/// SETRANGE key offset value
fn setrange(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let offset = match parse_i64(argv.get(2)) {
        None => return ctx.error(ERR_NOT_INTEGER),
        Some(o) if o < 0 => return ctx.error(ERR_OFFSET_RANGE),
        Some(o) => o as u64,
    };
    let (shared, db, now) = (ctx.shared, ctx.db(), ctx.now_ms);
    let patch = argv.get(3);
    let result = shared.store.with_key(db, argv.get(1), now, |k| {
        let old_len = k.string().map_err(|_| ERR_WRONGTYPE)?.map(|v| v.len());
        if patch.is_empty() {
            // Nothing to write: report the current length, create nothing.
            return Ok(old_len.unwrap_or(0));
        }
        if !fits_bulk_len(shared, offset, patch.len() as u64) {
            return Err(ERR_STRING_TOO_LONG);
        }
        // Checked above: offset + patch.len() <= proto-max-bulk-len, so it fits a usize.
        let offset = offset as usize;
        let end = offset + patch.len();
        let write = |value: &mut Vec<u8>| {
            if value.len() < end {
                value.resize(end, 0);
            }
            value[offset..end].copy_from_slice(patch);
            value.len()
        };
        match k.string_mut(write).map_err(|_| ERR_WRONGTYPE)? {
            Some(len) => {
                k.touch();
                Ok(len)
            }
            None => {
                let mut value = Vec::new();
                let len = write(&mut value);
                k.set(value, None);
                Ok(len)
            }
        }
    });
    match result {
        Ok(len) => reply::integer(ctx.out, len as i64),
        Err(e) => ctx.error(e),
    }
}

// ---------------------------------------------------------------------------------------
// Bits
// ---------------------------------------------------------------------------------------

/// A bit offset argument, bounded so the byte it lands in stays under proto-max-bulk-len
/// (Redis's getBitOffsetFromArgument).
fn parse_bit_offset(shared: &Shared, arg: &[u8]) -> Option<u64> {
    let offset = parse_i64(arg).filter(|&o| o >= 0)? as u64;
    ((offset >> 3) < shared.tunables.proto_max_bulk_len()).then_some(offset)
}

/// The value of bit `offset` (bit 0 = most significant bit of byte 0) in `value`.
fn bit_at(value: &[u8], offset: u64) -> bool {
    let byte = (offset >> 3) as usize;
    let mask = 1u8 << (7 - (offset & 7));
    value.get(byte).is_some_and(|b| b & mask != 0)
}

/// SETBIT key offset value
fn setbit(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let Some(offset) = parse_bit_offset(ctx.shared, argv.get(2)) else {
        return ctx.error(ERR_BIT_OFFSET);
    };
    let on = match parse_i64(argv.get(3)) {
        Some(0) => false,
        Some(1) => true,
        _ => return ctx.error(ERR_BIT_VALUE),
    };
    let (shared, db, now) = (ctx.shared, ctx.db(), ctx.now_ms);
    // parse_bit_offset bounds the byte index by proto-max-bulk-len.
    let byte = (offset >> 3) as usize;
    let mask = 1u8 << (7 - (offset & 7));
    let was_set = shared.store.with_key(db, argv.get(1), now, |k| {
        let update = |value: &mut Vec<u8>| {
            if value.len() <= byte {
                value.resize(byte + 1, 0);
            }
            let was_set = value[byte] & mask != 0;
            if on {
                value[byte] |= mask;
            } else {
                value[byte] &= !mask;
            }
            was_set
        };
        match k.string_mut(update) {
            Err(_) => Err(ERR_WRONGTYPE),
            Ok(Some(was_set)) => {
                k.touch();
                Ok(was_set)
            }
            Ok(None) => {
                let mut value = Vec::new();
                let was_set = update(&mut value);
                k.set(value, None);
                Ok(was_set)
            }
        }
    });
    match was_set {
        Ok(was_set) => reply::integer(ctx.out, was_set as i64),
        Err(e) => ctx.error(e),
    }
}

/// GETBIT key offset
fn getbit(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let Some(offset) = parse_bit_offset(ctx.shared, argv.get(2)) else {
        return ctx.error(ERR_BIT_OFFSET);
    };
    let (shared, db, now) = (ctx.shared, ctx.db(), ctx.now_ms);
    let bit = shared.store.with_key(db, argv.get(1), now, |k| k.string().map(|v| v.map(|v| bit_at(v, offset))));
    let Ok(bit) = bit else {
        return ctx.error(ERR_WRONGTYPE);
    };
    count_lookup(shared, bit.is_some());
    reply::integer(ctx.out, bit.unwrap_or(false) as i64);
}

/// A BITCOUNT range: `[start, end]` in bytes or, with `bits`, in bits.
#[derive(Clone, Copy)]
struct BitRange {
    start: i64,
    end: i64,
    bits: bool,
}

/// Count the set bits of `value` within `range` (whole value if `None`).
fn count_bits(value: &[u8], range: Option<BitRange>) -> u64 {
    let popcount = |bytes: &[u8]| bytes.iter().map(|b| b.count_ones() as u64).sum::<u64>();
    let Some(r) = range else {
        return popcount(value);
    };
    let len = value.len() as i64;
    let units = if r.bits { len * 8 } else { len };
    let Some((start, end)) = clamp_range(r.start, r.end, units) else {
        return 0;
    };
    if !r.bits {
        return popcount(&value[start as usize..=end as usize]);
    }
    let (first, last) = ((start >> 3) as usize, (end >> 3) as usize);
    let mut count = popcount(&value[first..=last]);
    // Take back the bits of the edge bytes that lie outside the range.
    let before_start = !(0xffu8 >> (start & 7));
    let after_end = 0x7fu8 >> (end & 7);
    count -= (value[first] & before_start).count_ones() as u64;
    count -= (value[last] & after_end).count_ones() as u64;
    count
}

/// BITCOUNT's optional `start end [BYTE|BIT]`.
fn parse_bitcount_range(argv: Argv<'_>) -> Result<Option<BitRange>, &'static str> {
    match argv.len() {
        2 => Ok(None),
        4 | 5 => {
            let (Some(start), Some(end)) = (parse_i64(argv.get(2)), parse_i64(argv.get(3))) else {
                return Err(ERR_NOT_INTEGER);
            };
            let bits = match argv.len() {
                5 if eq_ignore_case(argv.get(4), "bit") => true,
                5 if eq_ignore_case(argv.get(4), "byte") => false,
                5 => return Err(ERR_SYNTAX),
                _ => false,
            };
            Ok(Some(BitRange { start, end, bits }))
        }
        _ => Err(ERR_SYNTAX),
    }
}

/// BITCOUNT key [start end [BYTE|BIT]]
fn bitcount(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    // As in Redis, the key comes first: a missing key counts 0 and a wrong type is
    // WRONGTYPE whatever the range arguments are; only then are they checked.
    let range = parse_bitcount_range(argv);
    let (shared, db, now) = (ctx.shared, ctx.db(), ctx.now_ms);
    let count =
        shared.store.with_key(db, argv.get(1), now, |k| k.string().map(|v| v.map(|v| range.map(|r| count_bits(v, r)))));
    match count {
        Err(_) => ctx.error(ERR_WRONGTYPE),
        Ok(None) => {
            count_lookup(shared, false);
            reply::integer(ctx.out, 0);
        }
        Ok(Some(Err(e))) => ctx.error(e),
        Ok(Some(Ok(n))) => {
            count_lookup(shared, true);
            reply::integer(ctx.out, n as i64);
        }
    }
}

// ---------------------------------------------------------------------------------------
// LCS
// ---------------------------------------------------------------------------------------

/// Parsed `[LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]`.
#[derive(Default)]
struct LcsOptions {
    len: bool,
    idx: bool,
    min_match_len: u64,
    with_match_len: bool,
}

fn parse_lcs_options(argv: Argv<'_>) -> Result<LcsOptions, &'static str> {
    let mut o = LcsOptions::default();
    let mut i = 3;
    while i < argv.len() {
        let opt = argv.get(i);
        if eq_ignore_case(opt, "idx") {
            o.idx = true;
        } else if eq_ignore_case(opt, "len") {
            o.len = true;
        } else if eq_ignore_case(opt, "withmatchlen") {
            o.with_match_len = true;
        } else if eq_ignore_case(opt, "minmatchlen") && i + 1 < argv.len() {
            let n = parse_i64(argv.get(i + 1)).ok_or(ERR_NOT_INTEGER)?;
            o.min_match_len = n.max(0) as u64;
            i += 1;
        } else {
            return Err(ERR_SYNTAX);
        }
        i += 1;
    }
    if o.idx && o.len {
        return Err(ERR_LCS_IDX_AND_LEN);
    }
    Ok(o)
}

/// The DP table of LCS lengths: `at(i, j)` = LCS length of `a[..i]` and `b[..j]`.
struct LcsTable {
    cells: Vec<u32>,
    width: usize,
}

impl LcsTable {
    /// Build the table, refusing (as Redis 7.2 does) when it would need more than
    /// proto-max-bulk-len bytes, or when the allocation fails.
    fn build(a: &[u8], b: &[u8], cap_bytes: u64) -> Result<Self, &'static str> {
        if a.len() as u64 >= LCS_INPUT_LEN_LIMIT || b.len() as u64 >= LCS_INPUT_LEN_LIMIT {
            return Err(ERR_LCS_TOO_LONG);
        }
        let width = b.len() + 1;
        let cells_len = (a.len() as u64 + 1) * width as u64;
        let bytes = cells_len.checked_mul(std::mem::size_of::<u32>() as u64).ok_or(ERR_LCS_ALLOC)?;
        if bytes > cap_bytes {
            return Err(ERR_LCS_TABLE_CAP);
        }
        // Below the cap, so it fits a usize.
        let cells_len = cells_len as usize;
        let mut cells = Vec::new();
        cells.try_reserve_exact(cells_len).map_err(|_| ERR_LCS_ALLOC)?;
        cells.resize(cells_len, 0u32);
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                cells[i * width + j] = if a[i - 1] == b[j - 1] {
                    cells[(i - 1) * width + j - 1] + 1
                } else {
                    cells[(i - 1) * width + j].max(cells[i * width + j - 1])
                };
            }
        }
        Ok(LcsTable { cells, width })
    }
    fn at(&self, i: usize, j: usize) -> u32 {
        self.cells[i * self.width + j]
    }
}

/// One matching run: `a[a_start..=a_end]` equals `b[b_start..=b_end]`.
struct LcsMatch {
    a_start: usize,
    a_end: usize,
    b_start: usize,
    b_end: usize,
}

/// Walk the table back from the end (Redis's order: last match first), returning the common
/// subsequence and its contiguous matching runs.
fn lcs_backtrack(a: &[u8], b: &[u8], table: &LcsTable) -> (Vec<u8>, Vec<LcsMatch>) {
    let mut seq = Vec::with_capacity(table.at(a.len(), b.len()) as usize);
    let mut matches = Vec::new();
    let mut run: Option<LcsMatch> = None;
    let (mut i, mut j) = (a.len(), b.len());
    while i > 0 && j > 0 {
        if a[i - 1] == b[j - 1] {
            seq.push(a[i - 1]);
            match &mut run {
                // The previous step matched at (i, j): extend the run backwards.
                Some(m) => {
                    m.a_start = i - 1;
                    m.b_start = j - 1;
                }
                None => run = Some(LcsMatch { a_start: i - 1, a_end: i - 1, b_start: j - 1, b_end: j - 1 }),
            }
            i -= 1;
            j -= 1;
        } else {
            matches.extend(run.take());
            if table.at(i - 1, j) > table.at(i, j - 1) {
                i -= 1;
            } else {
                j -= 1;
            }
        }
    }
    matches.extend(run);
    seq.reverse();
    (seq, matches)
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]
fn lcs(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let (shared, db, now) = (ctx.shared, ctx.db(), ctx.now_ms);
    // Copy both values out so the DP runs without holding the shard locks.
    let keys = [(db, argv.get(1)), (db, argv.get(2))];
    let pair = shared.store.with_keys(&keys, now, |m| {
        let a = m.key(0).string().map(|v| v.map(<[u8]>::to_vec));
        let b = m.key(1).string().map(|v| v.map(<[u8]>::to_vec));
        Some((a.ok()?, b.ok()?))
    });
    let Some((a, b)) = pair else {
        return ctx.error(ERR_LCS_NOT_STRINGS);
    };
    // Redis checks the keys' types before the options.
    let opts = match parse_lcs_options(argv) {
        Ok(o) => o,
        Err(e) => return ctx.error(e),
    };
    count_lookup(shared, a.is_some());
    count_lookup(shared, b.is_some());
    let (a, b) = (a.unwrap_or_default(), b.unwrap_or_default());
    let table = match LcsTable::build(&a, &b, shared.tunables.proto_max_bulk_len()) {
        Ok(t) => t,
        Err(e) => return ctx.error(e),
    };
    let len = table.at(a.len(), b.len()) as i64;
    let out = &mut *ctx.out;
    if opts.len {
        return reply::integer(out, len);
    }
    let (seq, matches) = lcs_backtrack(&a, &b, &table);
    if !opts.idx {
        return reply::bulk(out, &seq);
    }
    let shown: Vec<&LcsMatch> =
        matches.iter().filter(|m| (m.a_end - m.a_start + 1) as u64 >= opts.min_match_len).collect();
    reply::map(out, 2);
    reply::bulk(out, b"matches");
    reply::array(out, shown.len());
    for m in shown {
        reply::array(out, 2 + opts.with_match_len as usize);
        reply::array(out, 2);
        reply::integer(out, m.a_start as i64);
        reply::integer(out, m.a_end as i64);
        reply::array(out, 2);
        reply::integer(out, m.b_start as i64);
        reply::integer(out, m.b_end as i64);
        if opts.with_match_len {
            reply::integer(out, (m.a_end - m.a_start + 1) as i64);
        }
    }
    reply::bulk(out, b"len");
    reply::integer(out, len);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::{run_for_test, ClientState};
    use crate::config::Config;
    use crate::store::now_ms;

    /// A server state plus one client, driving commands through the real command table.
    struct Fixture {
        shared: Shared,
        client: ClientState,
    }

    impl Fixture {
        fn new() -> Self {
            Self::with_config(Config::defaults())
        }
        /// A fixture whose proto-max-bulk-len is `max` bytes.
        fn with_bulk_max(max: u64) -> Self {
            let mut config = Config::defaults();
            config.proto_max_bulk_len = max;
            Self::with_config(config)
        }
        fn with_config(config: Config) -> Self {
            let shared = Shared::new(config);
            let client = ClientState::new(&shared);
            Fixture { shared, client }
        }
        /// Run a command given as raw arguments; returns the raw reply.
        fn raw(&mut self, args: &[&[u8]]) -> Vec<u8> {
            run_for_test(&self.shared, &mut self.client, args)
        }
        /// Run a command given as space-separated words; returns the reply as text.
        fn cmd(&mut self, line: &str) -> String {
            let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
            String::from_utf8(self.raw(&args)).expect("reply is not UTF-8; use raw()")
        }
        /// The key's deadline (Unix ms), straight from the store.
        fn deadline(&self, key: &[u8]) -> Option<u64> {
            self.shared.store.with_key(0, key, now_ms(), |k| k.get().and_then(|e| e.expire_at_ms()))
        }
        /// The key's value, straight from the store.
        fn value(&self, key: &[u8]) -> Option<Vec<u8>> {
            self.shared
                .store
                .with_key(0, key, now_ms(), |k| k.get().map(|e| e.str().map(<[u8]>::to_vec).expect("a string")))
        }
        fn hits_misses(&self) -> (u64, u64) {
            let s = &self.shared.stats;
            (s.keyspace_hits.load(Relaxed), s.keyspace_misses.load(Relaxed))
        }
    }

    /// Assert `deadline` is `ttl_ms` after a time between `before` and now.
    fn assert_deadline_in(deadline: Option<u64>, before: u64, ttl_ms: u64) {
        let d = deadline.expect("key should have a deadline");
        assert!(d >= before + ttl_ms && d <= now_ms() + ttl_ms, "deadline {d} not ~{ttl_ms}ms after {before}");
    }

    fn bulk(s: &str) -> String {
        format!("${}\r\n{s}\r\n", s.len())
    }

    const OK: &str = "+OK\r\n";
    const NIL: &str = "$-1\r\n";
    const EMPTY: &str = "$0\r\n\r\n";

    fn err(msg: &str) -> String {
        format!("-{msg}\r\n")
    }

    #[test]
    fn every_command_is_registered_with_its_arity() {
        let mut t = Fixture::new();
        for cmd in COMMANDS {
            assert!(crate::cmd::lookup(cmd.name.as_bytes()).is_some(), "{}", cmd.name);
            assert!(cmd.flags & (WRITE | READONLY) != 0, "{}", cmd.name);
        }
        assert_eq!(t.cmd("GET a b"), err("ERR wrong number of arguments for 'get' command"));
        assert_eq!(t.cmd("SET a"), err("ERR wrong number of arguments for 'set' command"));
        assert_eq!(t.cmd("LCS a"), err("ERR wrong number of arguments for 'lcs' command"));
    }

    #[test]
    fn get_and_set_round_trip_and_count_hits() {
        let mut t = Fixture::new();
        assert_eq!(t.cmd("GET k"), NIL);
        assert_eq!(t.cmd("SET k v"), OK);
        assert_eq!(t.cmd("GET k"), bulk("v"));
        assert_eq!(t.hits_misses(), (1, 1));
        assert_eq!(t.cmd("SET k other"), OK);
        assert_eq!(t.cmd("GET k"), bulk("other"));
    }

    #[test]
    fn values_are_binary_safe() {
        let mut t = Fixture::new();
        let value: &[u8] = b"a\r\nb\0c\xff";
        assert_eq!(t.raw(&[b"SET", b"k\0\r\n", value]), b"+OK\r\n");
        assert_eq!(t.raw(&[b"GET", b"k\0\r\n"]), b"$7\r\na\r\nb\0c\xff\r\n");
        assert_eq!(t.raw(&[b"APPEND", b"k\0\r\n", b"\r\n"]), b":9\r\n");
        assert_eq!(t.raw(&[b"MGET", b"k\0\r\n"]), b"*1\r\n$9\r\na\r\nb\0c\xff\r\n\r\n");
        assert_eq!(t.raw(&[b"GETRANGE", b"k\0\r\n", b"1", b"2"]), b"$2\r\n\r\n\r\n");
    }

    #[test]
    fn set_nx_and_xx() {
        let mut t = Fixture::new();
        assert_eq!(t.cmd("SET k v XX"), NIL);
        assert_eq!(t.value(b"k"), None);
        assert_eq!(t.cmd("SET k v nx"), OK);
        assert_eq!(t.cmd("SET k w NX"), NIL);
        assert_eq!(t.value(b"k").as_deref(), Some(&b"v"[..]));
        assert_eq!(t.cmd("SET k w XX"), OK);
        assert_eq!(t.value(b"k").as_deref(), Some(&b"w"[..]));
        assert_eq!(t.cmd("SET k w NX NX"), NIL);
        assert_eq!(t.cmd("SET k w NX XX"), err(ERR_SYNTAX));
        assert_eq!(t.cmd("SET k w XX NX"), err(ERR_SYNTAX));
    }

    #[test]
    fn set_get_returns_the_old_value() {
        let mut t = Fixture::new();
        assert_eq!(t.cmd("SET k v1 GET"), NIL);
        assert_eq!(t.cmd("SET k v2 GET"), bulk("v1"));
        assert_eq!(t.cmd("GET k"), bulk("v2"));
        // NX aborts the write but GET still answers with the old value.
        assert_eq!(t.cmd("SET k v3 NX GET"), bulk("v2"));
        assert_eq!(t.cmd("GET k"), bulk("v2"));
        assert_eq!(t.cmd("SET new v XX GET"), NIL);
        assert_eq!(t.value(b"new"), None);
    }

    #[test]
    fn set_expire_options_set_deadlines() {
        let mut t = Fixture::new();
        let before = now_ms();
        assert_eq!(t.cmd("SET k v EX 100"), OK);
        assert_deadline_in(t.deadline(b"k"), before, 100_000);
        let before = now_ms();
        assert_eq!(t.cmd("SET k v px 1500"), OK);
        assert_deadline_in(t.deadline(b"k"), before, 1500);
        let at_s = now_ms() / 1000 + 1000;
        assert_eq!(t.cmd(&format!("SET k v EXAT {at_s}")), OK);
        assert_eq!(t.deadline(b"k"), Some(at_s * 1000));
        let at_ms = now_ms() + 50_000;
        assert_eq!(t.cmd(&format!("SET k v PXAT {at_ms}")), OK);
        assert_eq!(t.deadline(b"k"), Some(at_ms));
        // A later option of the same kind wins.
        let before = now_ms();
        assert_eq!(t.cmd("SET k v EX 10 EX 20"), OK);
        assert_deadline_in(t.deadline(b"k"), before, 20_000);
        // A plain SET drops the TTL.
        assert_eq!(t.cmd("SET k v"), OK);
        assert_eq!(t.deadline(b"k"), None);
        // A deadline in the past: OK, and the key is gone.
        assert_eq!(t.cmd("SET k v PXAT 1"), OK);
        assert_eq!(t.cmd("GET k"), NIL);
    }

    #[test]
    fn set_keepttl_keeps_the_deadline() {
        let mut t = Fixture::new();
        assert_eq!(t.cmd("SET k v EX 100"), OK);
        let deadline = t.deadline(b"k");
        assert!(deadline.is_some());
        assert_eq!(t.cmd("SET k v2 KEEPTTL"), OK);
        assert_eq!(t.deadline(b"k"), deadline);
        assert_eq!(t.cmd("GET k"), bulk("v2"));
        assert_eq!(t.cmd("SET fresh v KEEPTTL"), OK);
        assert_eq!(t.deadline(b"fresh"), None);
    }

    #[test]
    fn set_rejects_bad_options_with_redis_errors() {
        let mut t = Fixture::new();
        let invalid = err("ERR invalid expire time in 'set' command");
        assert_eq!(t.cmd("SET k v EX 0"), invalid);
        assert_eq!(t.cmd("SET k v EX -1"), invalid);
        assert_eq!(t.cmd("SET k v PX 0"), invalid);
        assert_eq!(t.cmd("SET k v EXAT 0"), invalid);
        assert_eq!(t.cmd("SET k v EX 9223372036854775807"), invalid);
        assert_eq!(t.cmd("SET k v PX 9223372036854775807"), invalid);
        assert_eq!(t.cmd("SET k v EX abc"), err(ERR_NOT_INTEGER));
        assert_eq!(t.cmd("SET k v EX 1.5"), err(ERR_NOT_INTEGER));
        assert_eq!(t.cmd("SET k v EX"), err(ERR_SYNTAX));
        assert_eq!(t.cmd("SET k v EX 10 PX 10"), err(ERR_SYNTAX));
        assert_eq!(t.cmd("SET k v PXAT 10 EXAT 10"), err(ERR_SYNTAX));
        assert_eq!(t.cmd("SET k v KEEPTTL EX 10"), err(ERR_SYNTAX));
        assert_eq!(t.cmd("SET k v EX 10 KEEPTTL"), err(ERR_SYNTAX));
        assert_eq!(t.cmd("SET k v PERSIST"), err(ERR_SYNTAX));
        assert_eq!(t.cmd("SET k v BOGUS"), err(ERR_SYNTAX));
        assert_eq!(t.value(b"k"), None, "no failed SET may write");
    }

    #[test]
    fn setnx_setex_psetex() {
        let mut t = Fixture::new();
        assert_eq!(t.cmd("SETNX k v"), ":1\r\n");
        assert_eq!(t.cmd("SETNX k w"), ":0\r\n");
        assert_eq!(t.cmd("GET k"), bulk("v"));
        let before = now_ms();
        assert_eq!(t.cmd("SETEX k 10 v2"), OK);
        assert_deadline_in(t.deadline(b"k"), before, 10_000);
        assert_eq!(t.cmd("GET k"), bulk("v2"));
        let before = now_ms();
        assert_eq!(t.cmd("PSETEX k 2500 v3"), OK);
        assert_deadline_in(t.deadline(b"k"), before, 2500);
        assert_eq!(t.cmd("SETEX k 0 v"), err("ERR invalid expire time in 'setex' command"));
        assert_eq!(t.cmd("SETEX k -5 v"), err("ERR invalid expire time in 'setex' command"));
        assert_eq!(t.cmd("PSETEX k 0 v"), err("ERR invalid expire time in 'psetex' command"));
        assert_eq!(t.cmd("SETEX k x v"), err(ERR_NOT_INTEGER));
        assert_eq!(t.cmd("GET k"), bulk("v3"));
    }

    #[test]
    fn getset_and_getdel() {
        let mut t = Fixture::new();
        assert_eq!(t.cmd("GETSET k v"), NIL);
        assert_eq!(t.cmd("SET k v EX 100"), OK);
        assert_eq!(t.cmd("GETSET k w"), bulk("v"));
        assert_eq!(t.deadline(b"k"), None, "GETSET drops the TTL");
        assert_eq!(t.cmd("GETDEL k"), bulk("w"));
        assert_eq!(t.cmd("GETDEL k"), NIL);
        assert_eq!(t.value(b"k"), None);
    }

    #[test]
    fn getex_changes_or_keeps_the_ttl() {
        let mut t = Fixture::new();
        assert_eq!(t.cmd("GETEX k"), NIL);
        // A missing key answers nil even before the expire argument is checked (as Redis).
        assert_eq!(t.cmd("GETEX k EX -1"), NIL);
        assert_eq!(t.cmd("SET k v"), OK);
        assert_eq!(t.cmd("GETEX k"), bulk("v"));
        assert_eq!(t.deadline(b"k"), None);
        let before = now_ms();
        assert_eq!(t.cmd("GETEX k EX 100"), bulk("v"));
        assert_deadline_in(t.deadline(b"k"), before, 100_000);
        assert_eq!(t.cmd("GETEX k PERSIST"), bulk("v"));
        assert_eq!(t.deadline(b"k"), None);
        let before = now_ms();
        assert_eq!(t.cmd("GETEX k PX 700"), bulk("v"));
        assert_deadline_in(t.deadline(b"k"), before, 700);
        let at = now_ms() + 60_000;
        assert_eq!(t.cmd(&format!("GETEX k PXAT {at}")), bulk("v"));
        assert_eq!(t.deadline(b"k"), Some(at));
        assert_eq!(t.cmd("GETEX k EX 0"), err("ERR invalid expire time in 'getex' command"));
        assert_eq!(t.cmd("GETEX k EX x"), err(ERR_NOT_INTEGER));
        assert_eq!(t.cmd("GETEX k NX"), err(ERR_SYNTAX));
        assert_eq!(t.cmd("GETEX k KEEPTTL"), err(ERR_SYNTAX));
        assert_eq!(t.cmd("GETEX k GET"), err(ERR_SYNTAX));
        assert_eq!(t.cmd("GETEX k EX 10 PERSIST"), err(ERR_SYNTAX));
        assert_eq!(t.cmd("GETEX k PERSIST EX 10"), err(ERR_SYNTAX));
        assert_eq!(t.deadline(b"k"), Some(at));
        // An absolute deadline already passed deletes the key after replying.
        assert_eq!(t.cmd("GETEX k EXAT 1"), bulk("v"));
        assert_eq!(t.value(b"k"), None);
    }

    #[test]
    fn mget_mset_msetnx() {
        let mut t = Fixture::new();
        assert_eq!(t.cmd("MSET a 1 b 2"), OK);
        assert_eq!(t.cmd("MGET a nope b"), format!("*3\r\n{}{NIL}{}", bulk("1"), bulk("2")));
        assert_eq!(t.hits_misses(), (2, 1));
        assert_eq!(t.cmd("MSET a 1 b"), err("ERR wrong number of arguments for 'mset' command"));
        assert_eq!(t.cmd("MSET a"), err("ERR wrong number of arguments for 'mset' command"));
        assert_eq!(t.cmd("MSET dup 1 dup 2"), OK);
        assert_eq!(t.cmd("GET dup"), bulk("2"));
        assert_eq!(t.cmd("SET ttl v EX 100"), OK);
        assert_eq!(t.cmd("MSET ttl w"), OK);
        assert_eq!(t.deadline(b"ttl"), None, "MSET drops the TTL");

        assert_eq!(t.cmd("MSETNX x 1 y 2"), ":1\r\n");
        assert_eq!(t.cmd("MSETNX z 3 x 9"), ":0\r\n");
        assert_eq!(t.value(b"z"), None, "MSETNX sets nothing when one key exists");
        assert_eq!(t.cmd("GET x"), bulk("1"));
        assert_eq!(t.cmd("MSETNX z"), err("ERR wrong number of arguments for 'msetnx' command"));
        assert_eq!(t.cmd("MSETNX z 1 w"), err("ERR wrong number of arguments for 'msetnx' command"));
    }

    #[test]
    fn incr_family() {
        let mut t = Fixture::new();
        assert_eq!(t.cmd("INCR n"), ":1\r\n");
        assert_eq!(t.cmd("INCRBY n 10"), ":11\r\n");
        assert_eq!(t.cmd("DECR n"), ":10\r\n");
        assert_eq!(t.cmd("DECRBY n 15"), ":-5\r\n");
        assert_eq!(t.cmd("GET n"), bulk("-5"));
        assert_eq!(t.cmd("DECR fresh"), ":-1\r\n");
        assert_eq!(t.cmd("INCRBY fresh2 -7"), ":-7\r\n");
        assert_eq!(t.cmd("INCRBY n x"), err(ERR_NOT_INTEGER));
        assert_eq!(t.cmd("DECRBY n 1.0"), err(ERR_NOT_INTEGER));
        assert_eq!(t.cmd("DECRBY n -9223372036854775808"), err("ERR decrement would overflow"));
        // TTL survives an increment.
        assert_eq!(t.cmd("SET n 1 EX 100"), OK);
        assert_eq!(t.cmd("INCR n"), ":2\r\n");
        assert!(t.deadline(b"n").is_some());
    }

    #[test]
    fn incr_overflow_and_non_integers() {
        let mut t = Fixture::new();
        assert_eq!(t.cmd("SET n 9223372036854775807"), OK);
        assert_eq!(t.cmd("INCR n"), err(ERR_OVERFLOW));
        assert_eq!(t.cmd("GET n"), bulk("9223372036854775807"));
        assert_eq!(t.cmd("SET n -9223372036854775808"), OK);
        assert_eq!(t.cmd("DECR n"), err(ERR_OVERFLOW));
        assert_eq!(t.cmd("INCRBY n 9223372036854775807"), ":-1\r\n");
        for bad in ["abc", "01", "+1", "1.0", "", "99999999999999999999", "-0"] {
            assert_eq!(t.raw(&[b"SET", b"n", bad.as_bytes()]), b"+OK\r\n");
            assert_eq!(t.cmd("INCR n"), err(ERR_NOT_INTEGER), "value {bad:?}");
        }
        for bad in [" 1", "1 ", "1\r\n"] {
            assert_eq!(t.raw(&[b"SET", b"n", bad.as_bytes()]), b"+OK\r\n");
            assert_eq!(t.raw(&[b"INCR", b"n"]), format!("-{ERR_NOT_INTEGER}\r\n").as_bytes(), "value {bad:?}");
        }
    }

    #[test]
    fn incrbyfloat_formats_like_redis() {
        let mut t = Fixture::new();
        assert_eq!(t.cmd("SET f 10.5"), OK);
        assert_eq!(t.cmd("INCRBYFLOAT f 0.1"), bulk("10.6"));
        assert_eq!(t.cmd("SET f 5.0e3"), OK);
        assert_eq!(t.cmd("INCRBYFLOAT f 2.0e2"), bulk("5200"));
        assert_eq!(t.cmd("INCRBYFLOAT f 200"), bulk("5400"));
        assert_eq!(t.cmd("GET f"), bulk("5400"));
        assert_eq!(t.cmd("INCRBYFLOAT new -3.5"), bulk("-3.5"));
        assert_eq!(t.cmd("INCRBYFLOAT i 3"), bulk("3"));
        assert_eq!(t.cmd("INCRBYFLOAT f abc"), err(ERR_NOT_FLOAT));
        assert_eq!(t.cmd("INCRBYFLOAT f nan"), err(ERR_NOT_FLOAT));
        assert_eq!(t.cmd("INCRBYFLOAT f inf"), err("ERR increment would produce NaN or Infinity"));
        // Long double, as Redis: 2e308 is finite there, 1e4932 twice is not.
        assert_eq!(t.cmd("SET f 1e308"), OK);
        assert_eq!(t.cmd("INCRBYFLOAT f 1e308").len(), 309 + 8);
        assert_eq!(t.cmd("SET f 1e4932"), OK);
        assert_eq!(t.cmd("INCRBYFLOAT f 1e4932"), err("ERR increment would produce NaN or Infinity"));
        assert_eq!(t.cmd("SET f 0.1"), OK);
        assert_eq!(t.cmd("INCRBYFLOAT f 0.2"), bulk("0.3"));
        assert_eq!(t.cmd("SET s hello"), OK);
        assert_eq!(t.cmd("INCRBYFLOAT s 1"), err(ERR_NOT_FLOAT));
        assert_eq!(t.raw(&[b"SET", b"s", b" 1"]), b"+OK\r\n");
        assert_eq!(t.cmd("INCRBYFLOAT s 1"), err(ERR_NOT_FLOAT));
        // TTL survives.
        assert_eq!(t.cmd("SET f 1 EX 100"), OK);
        assert_eq!(t.cmd("INCRBYFLOAT f 1.5"), bulk("2.5"));
        assert!(t.deadline(b"f").is_some());
    }

    #[test]
    fn append_room_grows_like_redis() {
        let mut v = vec![0u8; 100];
        reserve_for_append(&mut v, 10);
        assert!(v.capacity() >= 220, "short strings double: {}", v.capacity());
        let mut v = vec![0u8; 5 * APPEND_PREALLOC_MAX];
        reserve_for_append(&mut v, 4);
        let spare = v.capacity() - v.len();
        assert!((4..=APPEND_PREALLOC_MAX + 4).contains(&spare), "long strings get at most 1 MiB spare: {spare}");
        let cap = v.capacity();
        reserve_for_append(&mut v, 4);
        assert_eq!(v.capacity(), cap, "room already there: no reallocation");
    }

    #[test]
    fn append_and_strlen() {
        let mut t = Fixture::new();
        assert_eq!(t.cmd("STRLEN k"), ":0\r\n");
        assert_eq!(t.cmd("APPEND k Hello"), ":5\r\n");
        assert_eq!(t.cmd("APPEND k _World"), ":11\r\n");
        assert_eq!(t.cmd("GET k"), bulk("Hello_World"));
        assert_eq!(t.cmd("STRLEN k"), ":11\r\n");
        assert_eq!(t.cmd("SET t v EX 100"), OK);
        assert_eq!(t.cmd("APPEND t w"), ":2\r\n");
        assert!(t.deadline(b"t").is_some(), "APPEND keeps the TTL");
    }

    #[test]
    fn append_respects_proto_max_bulk_len() {
        let mut t = Fixture::with_bulk_max(8);
        assert_eq!(t.cmd("APPEND k 12345"), ":5\r\n");
        assert_eq!(t.cmd("APPEND k 678"), ":8\r\n");
        assert_eq!(t.cmd("APPEND k 9"), err(ERR_STRING_TOO_LONG));
        assert_eq!(t.cmd("GET k"), bulk("12345678"));
    }

    #[test]
    fn getrange_and_substr() {
        let mut t = Fixture::new();
        assert_eq!(t.raw(&[b"SET", b"k", b"This is a string"]), b"+OK\r\n");
        assert_eq!(t.cmd("GETRANGE k 0 3"), bulk("This"));
        assert_eq!(t.cmd("GETRANGE k -3 -1"), bulk("ing"));
        assert_eq!(t.cmd("GETRANGE k 0 -1"), bulk("This is a string"));
        assert_eq!(t.cmd("GETRANGE k 10 100"), bulk("string"));
        assert_eq!(t.cmd("GETRANGE k -100 3"), bulk("This"));
        assert_eq!(t.cmd("GETRANGE k -1 -5"), EMPTY);
        assert_eq!(t.cmd("GETRANGE k 5 3"), EMPTY);
        assert_eq!(t.cmd("GETRANGE k 100 200"), EMPTY);
        assert_eq!(t.cmd("GETRANGE k -9223372036854775808 9223372036854775807"), bulk("This is a string"));
        assert_eq!(t.cmd("GETRANGE missing 0 -1"), EMPTY);
        assert_eq!(t.cmd("GETRANGE k x 1"), err(ERR_NOT_INTEGER));
        assert_eq!(t.cmd("SUBSTR k 5 6"), bulk("is"));
        assert_eq!(t.raw(&[b"SET", b"e", b""]), b"+OK\r\n");
        assert_eq!(t.cmd("GETRANGE e 0 -1"), EMPTY);
    }

    #[test]
    fn setrange_pads_with_zeros() {
        let mut t = Fixture::new();
        assert_eq!(t.raw(&[b"SET", b"k", b"Hello World"]), b"+OK\r\n");
        assert_eq!(t.cmd("SETRANGE k 6 Redis"), ":11\r\n");
        assert_eq!(t.value(b"k").as_deref(), Some(&b"Hello Redis"[..]));
        assert_eq!(t.cmd("SETRANGE k 13 !"), ":14\r\n");
        assert_eq!(t.value(b"k").as_deref(), Some(&b"Hello Redis\0\0!"[..]));
        assert_eq!(t.cmd("SETRANGE new 5 ab"), ":7\r\n");
        assert_eq!(t.raw(&[b"GET", b"new"]), b"$7\r\n\0\0\0\0\0ab\r\n");
        // Empty patch: current length, nothing created.
        assert_eq!(t.raw(&[b"SETRANGE", b"k", b"100", b""]), b":14\r\n");
        assert_eq!(t.raw(&[b"SETRANGE", b"none", b"100", b""]), b":0\r\n");
        assert_eq!(t.value(b"none"), None);
        assert_eq!(t.cmd("SETRANGE k -1 x"), err("ERR offset is out of range"));
        assert_eq!(t.cmd("SETRANGE k x x"), err(ERR_NOT_INTEGER));
        // A huge offset errors instead of allocating.
        assert_eq!(t.cmd("SETRANGE k 9223372036854775807 x"), err(ERR_STRING_TOO_LONG));
        assert_eq!(t.cmd("SETRANGE big 536870912 x"), err(ERR_STRING_TOO_LONG));
        assert_eq!(t.value(b"big"), None);
        // TTL survives.
        assert_eq!(t.cmd("SET t abc EX 100"), OK);
        assert_eq!(t.cmd("SETRANGE t 1 X"), ":3\r\n");
        assert!(t.deadline(b"t").is_some());
    }

    #[test]
    fn setrange_limit_is_inclusive() {
        let mut t = Fixture::with_bulk_max(10);
        assert_eq!(t.cmd("SETRANGE k 9 x"), ":10\r\n");
        assert_eq!(t.cmd("SETRANGE k 10 x"), err(ERR_STRING_TOO_LONG));
        assert_eq!(t.cmd("SETRANGE k 8 xyz"), err(ERR_STRING_TOO_LONG));
    }

    #[test]
    fn setbit_and_getbit() {
        let mut t = Fixture::new();
        assert_eq!(t.cmd("SETBIT k 7 1"), ":0\r\n");
        assert_eq!(t.raw(&[b"GET", b"k"]), b"$1\r\n\x01\r\n");
        assert_eq!(t.cmd("SETBIT k 7 1"), ":1\r\n");
        assert_eq!(t.cmd("SETBIT k 7 0"), ":1\r\n");
        assert_eq!(t.cmd("SETBIT k 0 1"), ":0\r\n");
        assert_eq!(t.cmd("SETBIT k 17 1"), ":0\r\n");
        assert_eq!(t.raw(&[b"GET", b"k"]), b"$3\r\n\x80\x00\x40\r\n");
        assert_eq!(t.cmd("GETBIT k 0"), ":1\r\n");
        assert_eq!(t.cmd("GETBIT k 1"), ":0\r\n");
        assert_eq!(t.cmd("GETBIT k 17"), ":1\r\n");
        assert_eq!(t.cmd("GETBIT k 1000"), ":0\r\n");
        assert_eq!(t.cmd("GETBIT missing 3"), ":0\r\n");
        // "A" = 0x41 = 0100_0001
        assert_eq!(t.cmd("SET a A"), OK);
        let bits: Vec<String> = (0..8).map(|i| t.cmd(&format!("GETBIT a {i}"))).collect();
        assert_eq!(bits.concat(), ":0\r\n:1\r\n:0\r\n:0\r\n:0\r\n:0\r\n:0\r\n:1\r\n");
    }

    #[test]
    fn setbit_errors_and_limits() {
        let mut t = Fixture::new();
        let offset_err = err("ERR bit offset is not an integer or out of range");
        let bit_err = err("ERR bit is not an integer or out of range");
        assert_eq!(t.cmd("SETBIT k -1 1"), offset_err);
        assert_eq!(t.cmd("SETBIT k x 1"), offset_err);
        assert_eq!(t.cmd("SETBIT k 4294967296 1"), offset_err, "byte 512MiB is past proto-max-bulk-len");
        assert_eq!(t.cmd("GETBIT k 4294967296"), offset_err);
        assert_eq!(t.cmd("GETBIT k -1"), offset_err);
        assert_eq!(t.cmd("SETBIT k 1 2"), bit_err);
        assert_eq!(t.cmd("SETBIT k 1 -1"), bit_err);
        assert_eq!(t.cmd("SETBIT k 1 x"), bit_err);
        assert_eq!(t.value(b"k"), None);

        let mut t = Fixture::with_bulk_max(4);
        assert_eq!(t.cmd("SETBIT k 31 1"), ":0\r\n");
        assert_eq!(t.cmd("SETBIT k 32 1"), offset_err);
        assert_eq!(t.cmd("SETBIT k 9223372036854775807 1"), offset_err);
        assert_eq!(t.value(b"k").map(|v| v.len()), Some(4));
    }

    #[test]
    fn bitcount_bytes_and_bits() {
        let mut t = Fixture::new();
        assert_eq!(t.cmd("SET mykey foobar"), OK);
        assert_eq!(t.cmd("BITCOUNT mykey"), ":26\r\n");
        assert_eq!(t.cmd("BITCOUNT mykey 0 0"), ":4\r\n");
        assert_eq!(t.cmd("BITCOUNT mykey 1 1"), ":6\r\n");
        assert_eq!(t.cmd("BITCOUNT mykey 1 1 BYTE"), ":6\r\n");
        assert_eq!(t.cmd("BITCOUNT mykey 5 30 BIT"), ":17\r\n");
        assert_eq!(t.cmd("BITCOUNT mykey 0 -1"), ":26\r\n");
        assert_eq!(t.cmd("BITCOUNT mykey -1 -1"), ":4\r\n");
        assert_eq!(t.cmd("BITCOUNT mykey -1 -2"), ":0\r\n");
        assert_eq!(t.cmd("BITCOUNT mykey 3 2"), ":0\r\n");
        assert_eq!(t.cmd("BITCOUNT mykey 0 100"), ":26\r\n");
        assert_eq!(t.cmd("BITCOUNT mykey 0 -1 bit"), ":26\r\n");
        // 'f' = 0x66 = 0110_0110: bits 1..=2 are set, bits 3..=4 are not.
        assert_eq!(t.cmd("BITCOUNT mykey 1 2 BIT"), ":2\r\n");
        assert_eq!(t.cmd("BITCOUNT mykey 3 4 BIT"), ":0\r\n");
        assert_eq!(t.cmd("BITCOUNT mykey -8 -1 BIT"), ":4\r\n");
        assert_eq!(t.cmd("BITCOUNT missing"), ":0\r\n");
        assert_eq!(t.cmd("BITCOUNT missing 0 -1 BIT"), ":0\r\n");
        assert_eq!(t.cmd("BITCOUNT mykey 0"), err(ERR_SYNTAX));
        assert_eq!(t.cmd("BITCOUNT mykey 0 1 WORD"), err(ERR_SYNTAX));
        assert_eq!(t.cmd("BITCOUNT mykey 0 1 BIT x"), err(ERR_SYNTAX));
        assert_eq!(t.cmd("BITCOUNT mykey a 1"), err(ERR_NOT_INTEGER));
    }

    #[test]
    fn lcs_examples_from_the_redis_docs() {
        let mut t = Fixture::new();
        assert_eq!(t.cmd("MSET key1 ohmytext key2 mynewtext"), OK);
        assert_eq!(t.cmd("LCS key1 key2"), bulk("mytext"));
        assert_eq!(t.cmd("LCS key1 key2 LEN"), ":6\r\n");
        assert_eq!(
            t.cmd("LCS key1 key2 IDX"),
            "*4\r\n$7\r\nmatches\r\n*2\r\n\
             *2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n\
             *2\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n\
             $3\r\nlen\r\n:6\r\n"
        );
        assert_eq!(
            t.cmd("LCS key1 key2 IDX MINMATCHLEN 4 WITHMATCHLEN"),
            "*4\r\n$7\r\nmatches\r\n*1\r\n\
             *3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n\
             $3\r\nlen\r\n:6\r\n"
        );
        assert_eq!(
            t.cmd("LCS key1 key2 IDX WITHMATCHLEN MINMATCHLEN -3"),
            "*4\r\n$7\r\nmatches\r\n*2\r\n\
             *3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n\
             *3\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n:2\r\n\
             $3\r\nlen\r\n:6\r\n"
        );
    }

    #[test]
    fn bitcount_and_lcs_check_keys_before_arguments() {
        // Found by scripts/redis-diff; replies captured from redis-server 7.0.15.
        let mut t = Fixture::new();
        let wrong = err("WRONGTYPE Operation against a key holding the wrong kind of value");
        assert_eq!(t.cmd("RPUSH l a"), ":1\r\n");
        assert_eq!(t.cmd("BITCOUNT nokey 0"), ":0\r\n");
        assert_eq!(t.cmd("BITCOUNT nokey x y"), ":0\r\n");
        assert_eq!(t.cmd("BITCOUNT l 0"), wrong);
        assert_eq!(t.cmd("SET s a"), OK);
        assert_eq!(t.cmd("BITCOUNT s 0"), err("ERR syntax error"));
        assert_eq!(t.cmd("BITCOUNT s x 1"), err("ERR value is not an integer or out of range"));
        assert_eq!(t.cmd("BITCOUNT s 0 -1 BIT"), ":3\r\n");
        assert_eq!(t.cmd("LCS l s LEN IDX MINMATCHLEN x"), err("ERR The specified keys must contain string values"));
        assert_eq!(t.cmd("LCS s s MINMATCHLEN x"), err("ERR value is not an integer or out of range"));
    }

    #[test]
    fn lcs_edge_cases_and_errors() {
        let mut t = Fixture::new();
        assert_eq!(t.cmd("LCS a b"), EMPTY);
        assert_eq!(t.cmd("LCS a b LEN"), ":0\r\n");
        assert_eq!(t.cmd("LCS a b IDX"), "*4\r\n$7\r\nmatches\r\n*0\r\n$3\r\nlen\r\n:0\r\n");
        assert_eq!(t.hits_misses(), (0, 6));
        assert_eq!(t.cmd("SET a same"), OK);
        assert_eq!(t.cmd("LCS a a"), bulk("same"));
        assert_eq!(t.cmd("LCS a b LEN IDX"), err("ERR If you want both the length and indexes, please just use IDX."));
        assert_eq!(t.cmd("LCS a b MINMATCHLEN"), err(ERR_SYNTAX));
        assert_eq!(t.cmd("LCS a b MINMATCHLEN x"), err(ERR_NOT_INTEGER));
        assert_eq!(t.cmd("LCS a b BOGUS"), err(ERR_SYNTAX));
        assert_eq!(t.raw(&[b"MSET", b"x", b"a\0b\r\nc", b"y", b"\0\r\n"]), b"+OK\r\n");
        assert_eq!(t.raw(&[b"LCS", b"x", b"y"]), b"$3\r\n\0\r\n\r\n");
    }

    #[test]
    fn lcs_table_is_capped_by_proto_max_bulk_len() {
        // 11 x 11 cells of 4 bytes = 484 bytes > 400.
        let mut t = Fixture::with_bulk_max(400);
        assert_eq!(t.cmd("MSET a 0123456789 b 9876543210"), OK);
        let cap = err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
        assert_eq!(t.cmd("LCS a b"), cap);
        assert_eq!(t.cmd("LCS a b LEN"), cap);
        // 10 x 10 cells = 400 bytes: allowed.
        assert_eq!(t.cmd("MSET a 012345678 b 876543210"), OK);
        assert_eq!(t.cmd("LCS a b LEN"), ":1\r\n");
    }

    #[test]
    fn clamp_range_matches_redis() {
        assert_eq!(clamp_range(0, -1, 0), None);
        assert_eq!(clamp_range(0, 0, 1), Some((0, 0)));
        assert_eq!(clamp_range(-5, -1, 3), Some((0, 2)));
        assert_eq!(clamp_range(-1, -3, 3), None);
        assert_eq!(clamp_range(2, 1, 3), None);
        assert_eq!(clamp_range(i64::MIN, i64::MAX, 4), Some((0, 3)));
    }
}
