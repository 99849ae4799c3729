//! String commands: GET/SET and their variants, multi-key MGET/MSET/MSETNX, counters
//! (INCR family, INCRBYFLOAT), ranges (APPEND, STRLEN, GETRANGE/SUBSTR, SETRANGE), bits
//! (SETBIT, GETBIT, BITCOUNT) and LCS. Semantics, reply types and error texts follow Redis 7
//! (`src/t_string.c`, `src/bitops.c`).
//!
//! Values are bytes. Every size a client asks for (SETRANGE/SETBIT offsets, APPEND growth, the
//! LCS table) is checked against `proto-max-bulk-len` before anything is allocated.

use std::sync::atomic::Ordering::Relaxed;

use super::{
    eq_ignore_case, format_f64, parse_f64, parse_i64, wrong_arity, Command, Ctx, ERR_NOT_FLOAT, ERR_NOT_INTEGER,
    ERR_OVERFLOW, ERR_STRING_TOO_LONG, ERR_SYNTAX, READONLY, WRITE,
};
use crate::protocol::Argv;
use crate::reply;
use crate::shared::Shared;

pub const COMMANDS: &[Command] = &[
    Command { name: "get", arity: 2, flags: READONLY, keys: (1, 1, 1), handler: get },
    Command { name: "set", arity: -3, flags: WRITE, keys: (1, 1, 1), handler: set },
    Command { name: "setnx", arity: 3, flags: WRITE, keys: (1, 1, 1), handler: setnx },
    Command { name: "setex", arity: 4, flags: WRITE, keys: (1, 1, 1), handler: setex },
    Command { name: "psetex", arity: 4, flags: WRITE, keys: (1, 1, 1), handler: psetex },
    Command { name: "getset", arity: 3, flags: WRITE, keys: (1, 1, 1), handler: getset },
    Command { name: "getdel", arity: 2, flags: WRITE, keys: (1, 1, 1), handler: getdel },
    Command { name: "getex", arity: -2, flags: WRITE, keys: (1, 1, 1), handler: getex },
    Command { name: "mget", arity: -2, flags: READONLY, keys: (1, -1, 1), handler: mget },
    Command { name: "mset", arity: -3, flags: WRITE, keys: (1, -1, 2), handler: mset },
    Command { name: "msetnx", arity: -3, flags: WRITE, keys: (1, -1, 2), handler: msetnx },
    Command { name: "append", arity: 3, flags: WRITE, keys: (1, 1, 1), handler: append },
    Command { name: "strlen", arity: 2, flags: READONLY, keys: (1, 1, 1), handler: strlen },
    Command { name: "incr", arity: 2, flags: WRITE, keys: (1, 1, 1), handler: incr },
    Command { name: "decr", arity: 2, flags: WRITE, keys: (1, 1, 1), handler: decr },
    Command { name: "incrby", arity: 3, flags: WRITE, keys: (1, 1, 1), handler: incrby },
    Command { name: "decrby", arity: 3, flags: WRITE, keys: (1, 1, 1), handler: decrby },
    Command { name: "incrbyfloat", arity: 3, flags: WRITE, keys: (1, 1, 1), handler: incrbyfloat },
    Command { name: "getrange", arity: 4, flags: READONLY, keys: (1, 1, 1), handler: getrange },
    Command { name: "substr", arity: 4, flags: READONLY, keys: (1, 1, 1), handler: getrange },
    Command { name: "setrange", arity: 4, flags: WRITE, keys: (1, 1, 1), handler: setrange },
    Command { name: "setbit", arity: 4, flags: WRITE, keys: (1, 1, 1), handler: setbit },
    Command { name: "getbit", arity: 3, flags: READONLY, keys: (1, 1, 1), handler: getbit },
    Command { name: "bitcount", arity: -2, flags: READONLY, keys: (1, 1, 1), handler: bitcount },
    Command { name: "lcs", arity: -3, flags: READONLY, keys: (1, 2, 1), handler: lcs },
];

const ERR_OFFSET_RANGE: &str = "ERR offset is out of range";
const ERR_BIT_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const ERR_BIT_VALUE: &str = "ERR bit is not an integer or out of range";
const ERR_FLOAT_RESULT: &str = "ERR increment would produce NaN or Infinity";
const ERR_DECREMENT_OVERFLOW: &str = "ERR decrement would overflow";
const ERR_LCS_IDX_AND_LEN: &str = "ERR If you want both the length and indexes, please just use IDX.";
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
    len.checked_add(extra).is_some_and(|total| total <= shared.config.proto_max_bulk_len)
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
    let found = shared.store.with_key(db, argv.get(1), now, |k| {
        let value = k.get().map(|e| &e.value[..]);
        reply::opt_bulk(out, value);
        value.is_some()
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
            let old = k.get().map(|e| &e.value[..]);
            reply::opt_bulk(out, old);
            count_lookup(shared, old.is_some());
        }
        let found = k.exists();
        if (opts.nx && found) || (opts.xx && !found) {
            if !opts.get {
                reply::null(out);
            }
            return;
        }
        let value = argv.get(2).to_vec();
        match deadline {
            // EXAT/PXAT in the past: the key is set and expires at once, i.e. it is gone.
            Some(d) if d <= now => drop(k.remove()),
            Some(d) => drop(k.set(value, Some(d))),
            None if opts.keep_ttl => drop(k.set_keep_ttl(value)),
            None => drop(k.set(value, None)),
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
        k.set(argv.get(2).to_vec(), None);
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
    shared.store.with_key(db, argv.get(1), now, |k| k.set(argv.get(3).to_vec(), Some(deadline)));
    ctx.ok();
}

/// GETSET key value
fn getset(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let (shared, db, now) = (ctx.shared, ctx.db(), ctx.now_ms);
    let out = &mut *ctx.out;
    let found = shared.store.with_key(db, argv.get(1), now, |k| {
        let old = k.set(argv.get(2).to_vec(), None);
        reply::opt_bulk(out, old.as_ref().map(|e| &e.value[..]));
        old.is_some()
    });
    count_lookup(shared, found);
}

/// GETDEL key
fn getdel(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let (shared, db, now) = (ctx.shared, ctx.db(), ctx.now_ms);
    let old = shared.store.with_key(db, argv.get(1), now, |k| k.remove());
    count_lookup(shared, old.is_some());
    reply::opt_bulk(ctx.out, old.as_ref().map(|e| &e.value[..]));
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
        let Some(entry) = k.get() else {
            count_lookup(shared, false);
            return reply::null(out);
        };
        count_lookup(shared, true);
        // As Redis: a missing key answers nil before the expire argument is validated.
        let deadline = match opts.expire.map(|(kind, arg)| expire_deadline_ms(kind, arg, now, "getex")) {
            None => None,
            Some(Ok(d)) => Some(d),
            Some(Err(e)) => return reply::error(out, &e),
        };
        reply::bulk(out, &entry.value);
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
            let value = k.get().map(|e| &e.value[..]);
            hits += value.is_some() as u64;
            reply::opt_bulk(out, value);
        }
        hits
    });
    shared.stats.keyspace_hits.fetch_add(hits, Relaxed);
    shared.stats.keyspace_misses.fetch_add(keys.len() as u64 - hits, Relaxed);
}

/// MSET key value [key value ...]
fn mset(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    if argv.len() % 2 == 0 {
        return wrong_arity(ctx, "mset");
    }
    mset_generic(ctx, argv, false);
    ctx.ok();
}

/// MSETNX key value [key value ...]
fn msetnx(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    if argv.len() % 2 == 0 {
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
            m.key(i).set(argv.get(2 + 2 * i).to_vec(), None);
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
        let Some(entry) = k.get() else {
            k.set(itoa::Buffer::new().format(delta).as_bytes().to_vec(), None);
            return Ok(delta);
        };
        let old = parse_i64(&entry.value).ok_or(ERR_NOT_INTEGER)?;
        let new = old.checked_add(delta).ok_or(ERR_OVERFLOW)?;
        entry.value.clear();
        entry.value.extend_from_slice(itoa::Buffer::new().format(new).as_bytes());
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
        let old = match k.get() {
            Some(entry) => parse_f64(&entry.value).ok_or(ERR_NOT_FLOAT)?,
            None => 0.0,
        };
        let delta = parse_f64(argv.get(2)).ok_or(ERR_NOT_FLOAT)?;
        let new = old + delta;
        if !new.is_finite() {
            return Err(ERR_FLOAT_RESULT);
        }
        let text = format_f64(new).into_bytes();
        reply::bulk(out, &text);
        match k.get() {
            Some(entry) => entry.value = text,
            None => drop(k.set(text, None)),
        }
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
        let Some(entry) = k.get() else {
            k.set(tail.to_vec(), None);
            return Ok(tail.len());
        };
        if !fits_bulk_len(shared, entry.value.len() as u64, tail.len() as u64) {
            return Err(ERR_STRING_TOO_LONG);
        }
        entry.value.extend_from_slice(tail);
        Ok(entry.value.len())
    });
    match result {
        Ok(len) => reply::integer(ctx.out, len as i64),
        Err(e) => ctx.error(e),
    }
}

/// STRLEN key
fn strlen(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let (shared, db, now) = (ctx.shared, ctx.db(), ctx.now_ms);
    let len = shared.store.with_key(db, argv.get(1), now, |k| k.get().map(|e| e.value.len()));
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
        let Some(entry) = k.get() else {
            reply::bulk(out, b"");
            return false;
        };
        match clamp_range(start, end, entry.value.len() as i64) {
            Some((s, e)) => reply::bulk(out, &entry.value[s as usize..=e as usize]),
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
        let old_len = k.get().map(|e| e.value.len());
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
        match k.get() {
            Some(entry) => Ok(write(&mut entry.value)),
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
    ((offset >> 3) < shared.config.proto_max_bulk_len).then_some(offset)
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
        match k.get() {
            Some(entry) => update(&mut entry.value),
            None => {
                let mut value = Vec::new();
                let was_set = update(&mut value);
                k.set(value, None);
                was_set
            }
        }
    });
    reply::integer(ctx.out, was_set as i64);
}

/// GETBIT key offset
fn getbit(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let Some(offset) = parse_bit_offset(ctx.shared, argv.get(2)) else {
        return ctx.error(ERR_BIT_OFFSET);
    };
    let (shared, db, now) = (ctx.shared, ctx.db(), ctx.now_ms);
    let bit = shared.store.with_key(db, argv.get(1), now, |k| k.get().map(|e| bit_at(&e.value, offset)));
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

/// BITCOUNT key [start end [BYTE|BIT]]
fn bitcount(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let range = match argv.len() {
        2 => None,
        4 | 5 => {
            let (Some(start), Some(end)) = (parse_i64(argv.get(2)), parse_i64(argv.get(3))) else {
                return ctx.error(ERR_NOT_INTEGER);
            };
            let bits = match argv.len() {
                5 if eq_ignore_case(argv.get(4), "bit") => true,
                5 if eq_ignore_case(argv.get(4), "byte") => false,
                5 => return ctx.error(ERR_SYNTAX),
                _ => false,
            };
            Some(BitRange { start, end, bits })
        }
        _ => return ctx.error(ERR_SYNTAX),
    };
    let (shared, db, now) = (ctx.shared, ctx.db(), ctx.now_ms);
    let count = shared.store.with_key(db, argv.get(1), now, |k| k.get().map(|e| count_bits(&e.value, range)));
    count_lookup(shared, count.is_some());
    reply::integer(ctx.out, count.unwrap_or(0) as i64);
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
    let opts = match parse_lcs_options(argv) {
        Ok(o) => o,
        Err(e) => return ctx.error(e),
    };
    let (shared, db, now) = (ctx.shared, ctx.db(), ctx.now_ms);
    // Copy both values out so the DP runs without holding the shard locks.
    let keys = [(db, argv.get(1)), (db, argv.get(2))];
    let (a, b) = shared.store.with_keys(&keys, now, |m| {
        let a = m.key(0).get().map(|e| e.value.clone());
        let b = m.key(1).get().map(|e| e.value.clone());
        (a, b)
    });
    count_lookup(shared, a.is_some());
    count_lookup(shared, b.is_some());
    let (a, b) = (a.unwrap_or_default(), b.unwrap_or_default());
    let table = match LcsTable::build(&a, &b, shared.config.proto_max_bulk_len) {
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
    reply::array(out, 4);
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
