//! Keyspace and expiry commands: DEL, UNLINK, EXISTS, TYPE, TOUCH, RENAME, RENAMENX, COPY,
//! MOVE, KEYS, SCAN, RANDOMKEY, EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, TTL, PTTL, EXPIRETIME,
//! PEXPIRETIME, PERSIST.
//!
//! Also OBJECT (ENCODING, REFCOUNT, IDLETIME, FREQ, HELP).
//!
//! Semantics follow Redis 7 (`db.c`, `expire.c`, `object.c`): the same reply types, the same
//! order of checks and the same error texts. Every command here works on keys of any type
//! (TYPE answers `string`, `hash`, `list`, `set`, `zset` or `none`). Commands that touch two keys
//! (RENAME, RENAMENX, COPY, MOVE) lock both together with [`Store::with_keys`] so no other
//! client can see the key half-moved.
//!
//! [`Store::with_keys`]: crate::store::Store::with_keys

use super::{
    eq_ignore_case, parse_i64, Command, Ctx, DENYOOM, ERR_DB_INDEX, ERR_NOT_INTEGER, ERR_NO_SUCH_KEY, ERR_SYNTAX, FAST,
    READONLY, RUN_TIMED, WRITE,
};
use crate::glob;
use crate::protocol::Argv;
use crate::reply;

/// Documentation of this family's commands (see [`super::Doc`]).
pub const DOCS: &[super::Doc] = &[
    super::Doc {
        name: "del",
        group: "generic",
        since: "1.0.0",
        summary: "Delete keys; the reply counts those that existed.",
        syntax: "key [key ...]",
    },
    super::Doc {
        name: "unlink",
        group: "generic",
        since: "4.0.0",
        summary: "Delete keys like DEL (the memory is freed the same way here).",
        syntax: "key [key ...]",
    },
    super::Doc {
        name: "exists",
        group: "generic",
        since: "1.0.0",
        summary: "Count how many of the given keys exist (repeats count again).",
        syntax: "key [key ...]",
    },
    super::Doc {
        name: "type",
        group: "generic",
        since: "1.0.0",
        summary: "The type of the value stored at a key, or none.",
        syntax: "key",
    },
    super::Doc {
        name: "touch",
        group: "generic",
        since: "3.2.1",
        summary: "Count the given keys that exist, marking them as accessed.",
        syntax: "key [key ...]",
    },
    super::Doc {
        name: "rename",
        group: "generic",
        since: "1.0.0",
        summary: "Give a key a new name, replacing any key there.",
        syntax: "key newkey",
    },
    super::Doc {
        name: "renamenx",
        group: "generic",
        since: "1.0.0",
        summary: "Give a key a new name only if that name is free.",
        syntax: "key newkey",
    },
    super::Doc {
        name: "copy",
        group: "generic",
        since: "6.2.0",
        summary: "Duplicate a key's value under another name, possibly in another database.",
        syntax: "source destination [DB destination-db] [REPLACE]",
    },
    super::Doc {
        name: "move",
        group: "generic",
        since: "1.0.0",
        summary: "Move a key to another database.",
        syntax: "key db",
    },
    super::Doc {
        name: "keys",
        group: "generic",
        since: "1.0.0",
        summary: "Every key matching a glob pattern (walks the whole database).",
        syntax: "pattern",
    },
    super::Doc {
        name: "scan",
        group: "generic",
        since: "2.8.0",
        summary: "Walk the keyspace a step at a time with a cursor.",
        syntax: "cursor [MATCH pattern] [COUNT count] [TYPE type]",
    },
    super::Doc {
        name: "randomkey",
        group: "generic",
        since: "1.0.0",
        summary: "A random key of the selected database.",
        syntax: "",
    },
    super::Doc {
        name: "expire",
        group: "generic",
        since: "1.0.0",
        summary: "Make a key expire after some seconds.",
        syntax: "key seconds condition=[NX | XX | GT | LT]",
    },
    super::Doc {
        name: "pexpire",
        group: "generic",
        since: "2.6.0",
        summary: "Make a key expire after some milliseconds.",
        syntax: "key milliseconds condition=[NX | XX | GT | LT]",
    },
    super::Doc {
        name: "expireat",
        group: "generic",
        since: "1.2.0",
        summary: "Make a key expire at a Unix time in seconds.",
        syntax: "key unix-time-seconds condition=[NX | XX | GT | LT]",
    },
    super::Doc {
        name: "pexpireat",
        group: "generic",
        since: "2.6.0",
        summary: "Make a key expire at a Unix time in milliseconds.",
        syntax: "key unix-time-milliseconds condition=[NX | XX | GT | LT]",
    },
    super::Doc {
        name: "ttl",
        group: "generic",
        since: "1.0.0",
        summary: "Seconds until a key expires (-1: never, -2: no key).",
        syntax: "key",
    },
    super::Doc {
        name: "pttl",
        group: "generic",
        since: "2.6.0",
        summary: "Milliseconds until a key expires (-1: never, -2: no key).",
        syntax: "key",
    },
    super::Doc {
        name: "expiretime",
        group: "generic",
        since: "7.0.0",
        summary: "The Unix time in seconds at which a key expires.",
        syntax: "key",
    },
    super::Doc {
        name: "pexpiretime",
        group: "generic",
        since: "7.0.0",
        summary: "The Unix time in milliseconds at which a key expires.",
        syntax: "key",
    },
    super::Doc { name: "persist", group: "generic", since: "2.2.0", summary: "Remove a key's expiry.", syntax: "key" },
    super::Doc {
        name: "object",
        group: "generic",
        since: "2.2.3",
        summary: "Inspect a key's value: its internal encoding, reference count, idle time, frequency.",
        syntax: "",
    },
    super::Doc {
        name: "object|encoding",
        group: "generic",
        since: "2.2.3",
        summary: "The internal encoding of a key's value (listpack, hashtable, skiplist, int, embstr, ...).",
        syntax: "key",
    },
    super::Doc {
        name: "object|refcount",
        group: "generic",
        since: "2.2.3",
        summary: "The reference count of a key's value (always 1 here).",
        syntax: "key",
    },
    super::Doc {
        name: "object|idletime",
        group: "generic",
        since: "2.2.3",
        summary: "Seconds since the key was last accessed.",
        syntax: "key",
    },
    super::Doc {
        name: "object|freq",
        group: "generic",
        since: "4.0.0",
        summary: "The access-frequency counter of a key (LFU).",
        syntax: "key",
    },
    super::Doc {
        name: "object|help",
        group: "generic",
        since: "6.2.0",
        summary: "Show helpful text about the different subcommands.",
        syntax: "",
    },
];

pub const COMMANDS: &[Command] = &[
    Command { name: "del", arity: -2, flags: WRITE | RUN_TIMED, keys: (1, -1, 1), handler: del },
    Command { name: "unlink", arity: -2, flags: WRITE | FAST, keys: (1, -1, 1), handler: unlink },
    Command { name: "exists", arity: -2, flags: READONLY | FAST, keys: (1, -1, 1), handler: exists },
    Command { name: "type", arity: 2, flags: READONLY | FAST, keys: (1, 1, 1), handler: type_ },
    Command { name: "touch", arity: -2, flags: READONLY | FAST, keys: (1, -1, 1), handler: touch },
    Command { name: "rename", arity: 3, flags: WRITE, keys: (1, 2, 1), handler: rename },
    Command { name: "renamenx", arity: 3, flags: WRITE | FAST, keys: (1, 2, 1), handler: renamenx },
    Command { name: "copy", arity: -3, flags: WRITE | DENYOOM, keys: (1, 2, 1), handler: copy },
    Command { name: "move", arity: 3, flags: WRITE | FAST, keys: (1, 1, 1), handler: move_ },
    Command { name: "keys", arity: 2, flags: READONLY, keys: (0, 0, 0), handler: keys },
    Command { name: "scan", arity: -2, flags: READONLY, keys: (0, 0, 0), handler: scan },
    Command { name: "randomkey", arity: 1, flags: READONLY, keys: (0, 0, 0), handler: randomkey },
    Command { name: "expire", arity: -3, flags: WRITE | FAST, keys: (1, 1, 1), handler: expire },
    Command { name: "pexpire", arity: -3, flags: WRITE | FAST, keys: (1, 1, 1), handler: pexpire },
    Command { name: "expireat", arity: -3, flags: WRITE | FAST, keys: (1, 1, 1), handler: expireat },
    Command { name: "pexpireat", arity: -3, flags: WRITE | FAST, keys: (1, 1, 1), handler: pexpireat },
    Command { name: "ttl", arity: 2, flags: READONLY | FAST, keys: (1, 1, 1), handler: ttl },
    Command { name: "pttl", arity: 2, flags: READONLY | FAST, keys: (1, 1, 1), handler: pttl },
    Command { name: "expiretime", arity: 2, flags: READONLY | FAST, keys: (1, 1, 1), handler: expiretime },
    Command { name: "pexpiretime", arity: 2, flags: READONLY | FAST, keys: (1, 1, 1), handler: pexpiretime },
    Command { name: "persist", arity: 2, flags: WRITE | FAST, keys: (1, 1, 1), handler: persist },
    Command { name: "object", arity: -2, flags: READONLY, keys: (2, 2, 1), handler: object },
];

/// Largest COUNT hint SCAN honours. COUNT sizes how many shards one call walks (and so the
/// reply and the time spent); a client asking for 2^63 gets a bounded step instead of a
/// whole-keyspace walk in one request. Whole shards are always visited, so a shard holding
/// more keys than this is still returned in one step.
const SCAN_COUNT_MAX: usize = 100_000;
/// SCAN's default COUNT (Redis's).
const SCAN_COUNT_DEFAULT: usize = 10;
/// Keys KEYS asks the store for per step while walking the whole database: the shard locks
/// are taken one at a time either way; this only bounds the work between two store calls.
const KEYS_STEP: usize = 1024;

const ERR_SAME_OBJECT: &str = "ERR source and destination objects are the same";
const ERR_INVALID_CURSOR: &str = "ERR invalid cursor";
const ERR_INT_RANGE: &str = "ERR value is out of range, value must between -2147483648 and 2147483647";

/// DEL key [key ...]
fn del(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    remove_keys(ctx, argv);
}

/// UNLINK key [key ...] (as DEL: any big value, deleted by either, is freed by the lazy-free
/// thread, see `types::lazyfree`)
fn unlink(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    remove_keys(ctx, argv);
}

/// Remove each key in turn; reply with how many existed (a repeated key counts once).
fn remove_keys(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let (db, now) = (ctx.db(), ctx.now_ms);
    let store = &ctx.shared.store;
    let removed = argv.iter().skip(1).filter(|key| store.with_key(db, key, now, |k| k.remove().is_some())).count();
    reply::integer(ctx.out, removed as i64);
}

/// EXISTS key [key ...]
fn exists(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    count_existing(ctx, argv);
}

/// TOUCH key [key ...] (ringkv keeps no access times, so this counts like EXISTS)
fn touch(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    count_existing(ctx, argv);
}

/// Reply with how many of the keys exist; a repeated key counts every time, as in Redis.
fn count_existing(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let (db, now) = (ctx.db(), ctx.now_ms);
    let store = &ctx.shared.store;
    let found = argv.iter().skip(1).filter(|key| store.with_key(db, key, now, |k| k.exists())).count();
    reply::integer(ctx.out, found as i64);
}

/// TYPE key
fn type_(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let name = ctx.shared.store.with_key(ctx.db(), argv.get(1), ctx.now_ms, |k| k.type_name());
    reply::simple(ctx.out, name.as_bytes());
}

/// OBJECT <ENCODING | REFCOUNT | IDLETIME | FREQ> key, OBJECT HELP
fn object(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let sub = argv.get(1);
    if argv.len() == 2 && eq_ignore_case(sub, "help") {
        let lines: [&[u8]; 4] = [
            b"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            b"ENCODING <key>",
            b"    Return the kind of internal representation used in order to store the value",
            b"    associated with a <key>.",
        ];
        reply::array(ctx.out, lines.len());
        return lines.iter().for_each(|l| reply::simple(ctx.out, l));
    }
    let Some(known) = ["encoding", "refcount", "idletime", "freq", "help"].into_iter().find(|n| eq_ignore_case(sub, n))
    else {
        let name = String::from_utf8_lossy(&sub[..sub.len().min(128)]).into_owned();
        return ctx.error(&format!("ERR unknown subcommand '{name}'. Try OBJECT HELP."));
    };
    if argv.len() != 3 {
        return ctx.error(&format!("ERR wrong number of arguments for 'object|{known}' command"));
    }
    // OBJECT does not count as an access (Redis's LOOKUP_NOTOUCH).
    let found = ctx.shared.store.with_key(ctx.db(), argv.get(2), ctx.now_ms, |k| {
        let now_ms = k.now_ms();
        let (encoding, bits) = k.peek().map(|e| (e.value().encoding(), e.access()))?;
        let policy = k.access_policy();
        let lfu = policy.is_lfu();
        let idle_s = crate::store::idle_ms(bits, now_ms) / 1000;
        Some((encoding, lfu, idle_s, if lfu { policy.lfu_counter(bits, now_ms) } else { 0 }))
    });
    let Some((encoding, lfu, idle_s, freq)) = found else {
        return reply::null(ctx.out);
    };
    if eq_ignore_case(sub, "encoding") {
        reply::bulk(ctx.out, encoding.as_bytes());
    } else if eq_ignore_case(sub, "refcount") {
        reply::integer(ctx.out, 1);
    } else if eq_ignore_case(sub, "idletime") {
        if lfu {
            return ctx.error("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
        }
        reply::integer(ctx.out, idle_s as i64);
    } else if lfu {
        reply::integer(ctx.out, i64::from(freq));
    } else {
        ctx.error("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
    }
}

/// RENAME key newkey
fn rename(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    rename_generic(ctx, argv, false);
}

/// RENAMENX key newkey
fn renamenx(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    rename_generic(ctx, argv, true);
}

/// What a rename did, decided under the locks and replied to after.
enum Renamed {
    NoSuchKey,
    /// RENAMENX found the destination taken (or source == destination).
    Refused,
    Done,
}

fn rename_generic(ctx: &mut Ctx<'_>, argv: Argv<'_>, nx: bool) {
    let (db, now) = (ctx.db(), ctx.now_ms);
    let (src, dst) = (argv.get(1), argv.get(2));
    let store = &ctx.shared.store;
    let outcome = if src == dst {
        // Redis: renaming a key to itself succeeds (RENAMENX: 0) if the key exists.
        match store.with_key(db, src, now, |k| k.exists()) {
            false => Renamed::NoSuchKey,
            true if nx => Renamed::Refused,
            true => Renamed::Done,
        }
    } else {
        store.with_keys(&[(db, src), (db, dst)], now, |m| {
            if !m.key(0).exists() {
                return Renamed::NoSuchKey;
            }
            if nx && m.key(1).exists() {
                return Renamed::Refused;
            }
            let entry = m.key(0).remove().expect("source exists under the lock");
            let deadline = entry.expire_at_ms();
            m.key(1).put_entry(entry.into_value(), deadline);
            Renamed::Done
        })
    };
    match outcome {
        Renamed::NoSuchKey => ctx.error(ERR_NO_SUCH_KEY),
        Renamed::Refused => reply::integer(ctx.out, 0),
        Renamed::Done if nx => reply::integer(ctx.out, 1),
        Renamed::Done => ctx.ok(),
    }
}

/// Parse a database index as COPY's DB option and MOVE do (`getIntFromObjectOrReply`, then
/// `selectDb`); on failure the error has been replied.
fn parse_db_index(ctx: &mut Ctx<'_>, arg: &[u8]) -> Option<usize> {
    let Some(id) = parse_i64(arg) else {
        ctx.error(ERR_NOT_INTEGER);
        return None;
    };
    if i32::try_from(id).is_err() {
        ctx.error(ERR_INT_RANGE);
        return None;
    }
    match usize::try_from(id) {
        Ok(db) if db < ctx.shared.store.databases() => Some(db),
        _ => {
            ctx.error(ERR_DB_INDEX);
            None
        }
    }
}

/// COPY source destination [DB destination-db] [REPLACE]
fn copy(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let src_db = ctx.db();
    let mut dst_db = src_db;
    let mut replace = false;
    let mut i = 3;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        if eq_ignore_case(argv.get(i), "replace") {
            replace = true;
        } else if eq_ignore_case(argv.get(i), "db") && more >= 1 {
            let Some(db) = parse_db_index(ctx, argv.get(i + 1)) else {
                return;
            };
            dst_db = db;
            i += 1;
        } else {
            return ctx.error(ERR_SYNTAX);
        }
        i += 1;
    }
    let (src, dst) = (argv.get(1), argv.get(2));
    if src_db == dst_db && src == dst {
        return ctx.error(ERR_SAME_OBJECT);
    }
    let copied = ctx.shared.store.with_keys(&[(src_db, src), (dst_db, dst)], ctx.now_ms, |m| {
        let Some((value, deadline)) = m.key(0).get().map(|e| (e.value().to_value(), e.expire_at_ms())) else {
            return false;
        };
        let mut target = m.key(1);
        if target.exists() && !replace {
            return false;
        }
        target.put_entry(value, deadline);
        true
    });
    reply::integer(ctx.out, copied as i64);
}

/// MOVE key db
fn move_(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let src_db = ctx.db();
    let Some(dst_db) = parse_db_index(ctx, argv.get(2)) else {
        return;
    };
    if src_db == dst_db {
        return ctx.error(ERR_SAME_OBJECT);
    }
    let key = argv.get(1);
    let moved = ctx.shared.store.with_keys(&[(src_db, key), (dst_db, key)], ctx.now_ms, |m| {
        if !m.key(0).exists() || m.key(1).exists() {
            return false;
        }
        let entry = m.key(0).remove().expect("source exists under the lock");
        let deadline = entry.expire_at_ms();
        m.key(1).put_entry(entry.into_value(), deadline);
        true
    });
    reply::integer(ctx.out, moved as i64);
}

/// KEYS pattern
fn keys(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let pattern = argv.get(1);
    let all = pattern == b"*";
    let (db, now) = (ctx.db(), ctx.now_ms);
    // The reply's length is only known at the end: encode the keys aside, then the header.
    let mut body = ctx.out.sibling();
    let mut found = 0usize;
    let mut cursor = 0;
    loop {
        cursor = ctx.shared.store.scan(db, cursor, KEYS_STEP, now, |key| {
            if all || glob::matches(pattern, key, false) {
                reply::bulk(&mut body, key);
                found += 1;
            }
        });
        if cursor == 0 {
            break;
        }
    }
    reply::array(ctx.out, found);
    ctx.out.extend_from_slice(&body);
}

/// Parse a SCAN cursor as Redis does (`strtoul`, base 10): optional sign, digits, nothing
/// else; a leading space or overflow is invalid. `-n` wraps like strtoul, and an empty
/// string is cursor 0.
pub(crate) fn parse_cursor(arg: &[u8]) -> Option<u64> {
    let (neg, digits) = match arg.first() {
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() {
        // strtoul converted nothing: valid only if there was nothing to convert.
        return arg.is_empty().then_some(0);
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
fn scan(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let Some(cursor) = parse_cursor(argv.get(1)) else {
        return ctx.error(ERR_INVALID_CURSOR);
    };
    let mut pattern: Option<&[u8]> = None;
    let mut count = SCAN_COUNT_DEFAULT;
    let mut type_filter: Option<&[u8]> = None;
    let mut i = 2;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        let opt = argv.get(i);
        if eq_ignore_case(opt, "count") && more >= 1 {
            match parse_i64(argv.get(i + 1)) {
                None => return ctx.error(ERR_NOT_INTEGER),
                Some(n) if n < 1 => return ctx.error(ERR_SYNTAX),
                Some(n) => count = usize::try_from(n).unwrap_or(usize::MAX).min(SCAN_COUNT_MAX),
            }
        } else if eq_ignore_case(opt, "match") && more >= 1 {
            let p = argv.get(i + 1);
            pattern = (p != b"*").then_some(p);
        } else if eq_ignore_case(opt, "type") && more >= 1 {
            // As Redis 7.0: an unknown type name matches nothing (7.2 made it an error).
            type_filter = Some(argv.get(i + 1));
        } else {
            return ctx.error(ERR_SYNTAX);
        }
        i += 2;
    }
    let mut body = ctx.out.sibling();
    let mut found = 0usize;
    let next = ctx.shared.store.scan_entries(ctx.db(), cursor, count, ctx.now_ms, |entry| {
        let type_ok = type_filter.is_none_or(|t| eq_ignore_case(t, entry.value().type_name()));
        if type_ok && pattern.is_none_or(|p| glob::matches(p, entry.key(), false)) {
            reply::bulk(&mut body, entry.key());
            found += 1;
        }
    });
    let out = &mut *ctx.out;
    reply::array(out, 2);
    reply::bulk(out, itoa::Buffer::new().format(next).as_bytes());
    reply::array(out, found);
    out.extend_from_slice(&body);
}

/// RANDOMKEY
fn randomkey(ctx: &mut Ctx<'_>, _argv: Argv<'_>) {
    let key = ctx.shared.store.random_key(ctx.db(), ctx.now_ms);
    reply::opt_bulk(ctx.out, key.as_deref());
}

/// EXPIRE key seconds [NX|XX|GT|LT]
fn expire(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let now = ctx.now_ms as i64;
    expire_generic(ctx, argv, now, Unit::Seconds, "expire");
}

/// PEXPIRE key milliseconds [NX|XX|GT|LT]
fn pexpire(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let now = ctx.now_ms as i64;
    expire_generic(ctx, argv, now, Unit::Millis, "pexpire");
}

/// EXPIREAT key unix-time-seconds [NX|XX|GT|LT]
fn expireat(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    expire_generic(ctx, argv, 0, Unit::Seconds, "expireat");
}

/// PEXPIREAT key unix-time-milliseconds [NX|XX|GT|LT]
fn pexpireat(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    expire_generic(ctx, argv, 0, Unit::Millis, "pexpireat");
}

#[derive(Clone, Copy, PartialEq)]
enum Unit {
    Seconds,
    Millis,
}

/// The NX/XX/GT/LT flags of the EXPIRE family.
#[derive(Default, Clone, Copy)]
struct ExpireFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

/// Parse the flags after `key time` as Redis's `parseExtendedExpireArgumentsOrReply`.
fn parse_expire_flags(argv: Argv<'_>) -> Result<ExpireFlags, String> {
    let mut f = ExpireFlags::default();
    for opt in argv.iter().skip(3) {
        if eq_ignore_case(opt, "nx") {
            f.nx = true;
        } else if eq_ignore_case(opt, "xx") {
            f.xx = true;
        } else if eq_ignore_case(opt, "gt") {
            f.gt = true;
        } else if eq_ignore_case(opt, "lt") {
            f.lt = true;
        } else {
            return Err(format!("ERR Unsupported option {}", String::from_utf8_lossy(opt)));
        }
    }
    if f.nx && (f.xx || f.gt || f.lt) {
        return Err("ERR NX and XX, GT or LT options at the same time are not compatible".into());
    }
    if f.gt && f.lt {
        return Err("ERR GT and LT options at the same time are not compatible".into());
    }
    Ok(f)
}

/// True if the flags allow replacing deadline `current` (`None` = no expiry, which GT and
/// LT treat as infinite) with `when`.
fn expire_allowed(f: ExpireFlags, current: Option<u64>, when: i64) -> bool {
    let current = current.map(|c| i64::try_from(c).unwrap_or(i64::MAX));
    if f.nx && current.is_some() {
        return false;
    }
    if f.xx && current.is_none() {
        return false;
    }
    if f.gt && current.is_none_or(|c| when <= c) {
        return false;
    }
    if f.lt && current.is_some_and(|c| when >= c) {
        return false;
    }
    true
}

/// The EXPIRE family (`expireGenericCommand`): `basetime_ms` is now for relative forms, 0
/// for absolute ones. A deadline at or before now deletes the key and replies 1.
fn expire_generic(ctx: &mut Ctx<'_>, argv: Argv<'_>, basetime_ms: i64, unit: Unit, name: &str) {
    let flags = match parse_expire_flags(argv) {
        Ok(f) => f,
        Err(e) => return ctx.error(&e),
    };
    let Some(mut when) = parse_i64(argv.get(2)) else {
        return ctx.error(ERR_NOT_INTEGER);
    };
    let invalid = format!("ERR invalid expire time in '{name}' command");
    if unit == Unit::Seconds {
        match when.checked_mul(1000) {
            Some(ms) => when = ms,
            None => return ctx.error(&invalid),
        }
    }
    match when.checked_add(basetime_ms) {
        Some(at) => when = at,
        None => return ctx.error(&invalid),
    }
    let now = ctx.now_ms;
    let done = ctx.shared.store.with_key(ctx.db(), argv.get(1), now, |k| {
        let Some(current) = k.get().map(|e| e.expire_at_ms()) else {
            return false;
        };
        if !expire_allowed(flags, current, when) {
            return false;
        }
        match u64::try_from(when) {
            Ok(at) if at > now => {
                k.set_expire(Some(at));
            }
            _ => {
                k.remove();
            }
        }
        true
    });
    reply::integer(ctx.out, done as i64);
}

/// TTL key
fn ttl(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    ttl_generic(ctx, argv, false, false);
}

/// PTTL key
fn pttl(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    ttl_generic(ctx, argv, true, false);
}

/// EXPIRETIME key
fn expiretime(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    ttl_generic(ctx, argv, false, true);
}

/// PEXPIRETIME key
fn pexpiretime(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    ttl_generic(ctx, argv, true, true);
}

/// `ttlGenericCommand`: -2 missing, -1 no deadline, else the remaining time (or, `abs`, the
/// deadline itself); seconds are rounded to nearest as Redis does (`(ms + 500) / 1000`).
fn ttl_generic(ctx: &mut Ctx<'_>, argv: Argv<'_>, ms: bool, abs: bool) {
    let now = ctx.now_ms;
    let deadline = ctx.shared.store.with_key(ctx.db(), argv.get(1), now, |k| k.get().map(|e| e.expire_at_ms()));
    let n = match deadline {
        None => -2,
        Some(None) => -1,
        Some(Some(at)) => {
            let t = if abs { at } else { at.saturating_sub(now) };
            let t = if ms { t } else { t.saturating_add(500) / 1000 };
            i64::try_from(t).unwrap_or(i64::MAX)
        }
    };
    reply::integer(ctx.out, n);
}

/// PERSIST key
fn persist(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let cleared = ctx.shared.store.with_key(ctx.db(), argv.get(1), ctx.now_ms, |k| {
        let has_deadline = k.get().is_some_and(|e| e.expire_at_ms().is_some());
        has_deadline && k.set_expire(None)
    });
    reply::integer(ctx.out, cleared as i64);
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::cmd::{run_for_test, ClientState};
    use crate::config::Config;
    use crate::shared::Shared;
    use crate::store::now_ms;

    fn setup() -> (Shared, ClientState) {
        let shared = Shared::new(Config::defaults());
        let client = ClientState::new(&shared);
        (shared, client)
    }

    fn set(shared: &Shared, db: usize, key: &[u8], value: &[u8], deadline_ms: Option<u64>) {
        shared.store.with_key(db, key, now_ms(), |k| k.set(value.to_vec(), deadline_ms));
    }

    fn get(shared: &Shared, db: usize, key: &[u8]) -> Option<(Vec<u8>, Option<u64>)> {
        shared.store.with_key(db, key, now_ms(), |k| {
            k.get().map(|e| (e.str().map(<[u8]>::to_vec).expect("a string"), e.expire_at_ms()))
        })
    }

    fn int(n: i64) -> Vec<u8> {
        format!(":{n}\r\n").into_bytes()
    }

    fn bulk(b: &[u8]) -> Vec<u8> {
        let mut out = format!("${}\r\n", b.len()).into_bytes();
        out.extend_from_slice(b);
        out.extend_from_slice(b"\r\n");
        out
    }

    fn err(msg: &str) -> Vec<u8> {
        format!("-{msg}\r\n").into_bytes()
    }

    /// Read one bulk string at `at`, returning it and the position after it.
    fn read_bulk(r: &[u8], at: usize) -> (Vec<u8>, usize) {
        assert_eq!(r[at], b'$', "bulk expected at {at} in {:?}", String::from_utf8_lossy(r));
        let nl = at + r[at..].windows(2).position(|w| w == b"\r\n").unwrap();
        let len: usize = std::str::from_utf8(&r[at + 1..nl]).unwrap().parse().unwrap();
        let start = nl + 2;
        assert_eq!(&r[start + len..start + len + 2], b"\r\n");
        (r[start..start + len].to_vec(), start + len + 2)
    }

    /// Read an array of bulks at `at`.
    fn read_bulk_array(r: &[u8], at: usize) -> (Vec<Vec<u8>>, usize) {
        assert_eq!(r[at], b'*');
        let nl = at + r[at..].windows(2).position(|w| w == b"\r\n").unwrap();
        let n: usize = std::str::from_utf8(&r[at + 1..nl]).unwrap().parse().unwrap();
        let mut pos = nl + 2;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            let (b, next) = read_bulk(r, pos);
            items.push(b);
            pos = next;
        }
        (items, pos)
    }

    fn parse_keys_reply(r: &[u8]) -> Vec<Vec<u8>> {
        let (mut items, end) = read_bulk_array(r, 0);
        assert_eq!(end, r.len());
        items.sort();
        items
    }

    fn parse_scan_reply(r: &[u8]) -> (u64, Vec<Vec<u8>>) {
        assert!(r.starts_with(b"*2\r\n"), "{:?}", String::from_utf8_lossy(r));
        let (cursor, pos) = read_bulk(r, 4);
        let (keys, end) = read_bulk_array(r, pos);
        assert_eq!(end, r.len());
        (std::str::from_utf8(&cursor).unwrap().parse().unwrap(), keys)
    }

    #[test]
    fn del_and_unlink_count_keys_that_existed() {
        // DEL/UNLINK remove every named key and count each existing key once.
        let (shared, mut c) = setup();
        set(&shared, 0, b"a", b"1", None);
        set(&shared, 0, b"b", b"2", None);
        assert_eq!(run_for_test(&shared, &mut c, &[b"DEL", b"a", b"b", b"c"]), int(2));
        assert_eq!(get(&shared, 0, b"a"), None);
        assert_eq!(run_for_test(&shared, &mut c, &[b"DEL", b"a"]), int(0));
        set(&shared, 0, b"a", b"1", None);
        assert_eq!(run_for_test(&shared, &mut c, &[b"del", b"a", b"a"]), int(1));
        set(&shared, 0, b"u", b"1", None);
        assert_eq!(run_for_test(&shared, &mut c, &[b"UNLINK", b"u", b"v"]), int(1));
        assert_eq!(get(&shared, 0, b"u"), None);
        assert_eq!(run_for_test(&shared, &mut c, &[b"DEL"]), err("ERR wrong number of arguments for 'del' command"));
    }

    #[test]
    fn del_only_touches_the_selected_db() {
        // A key of the same name in another database survives DEL.
        let (shared, mut c) = setup();
        set(&shared, 0, b"k", b"0", None);
        set(&shared, 1, b"k", b"1", None);
        c.db = 1;
        assert_eq!(run_for_test(&shared, &mut c, &[b"DEL", b"k"]), int(1));
        assert_eq!(get(&shared, 0, b"k"), Some((b"0".to_vec(), None)));
    }

    #[test]
    fn exists_and_touch_count_duplicates() {
        // EXISTS and TOUCH count a repeated existing key every time it is named.
        let (shared, mut c) = setup();
        set(&shared, 0, b"a", b"1", None);
        assert_eq!(run_for_test(&shared, &mut c, &[b"EXISTS", b"a", b"a", b"b"]), int(2));
        assert_eq!(run_for_test(&shared, &mut c, &[b"EXISTS", b"b"]), int(0));
        assert_eq!(run_for_test(&shared, &mut c, &[b"TOUCH", b"a", b"b", b"a"]), int(2));
    }

    #[test]
    fn expired_keys_are_invisible() {
        // A key whose deadline passed reads as missing for every command.
        let (shared, mut c) = setup();
        set(&shared, 0, b"gone", b"1", Some(now_ms() + 20));
        std::thread::sleep(std::time::Duration::from_millis(40));
        assert_eq!(run_for_test(&shared, &mut c, &[b"EXISTS", b"gone"]), int(0));
        assert_eq!(run_for_test(&shared, &mut c, &[b"TTL", b"gone"]), int(-2));
        assert_eq!(run_for_test(&shared, &mut c, &[b"KEYS", b"*"]), b"*0\r\n");
        assert_eq!(run_for_test(&shared, &mut c, &[b"RENAME", b"gone", b"x"]), err("ERR no such key"));
    }

    #[test]
    fn type_is_string_or_none() {
        // TYPE answers with a status reply naming the value's type, none when absent.
        let (shared, mut c) = setup();
        set(&shared, 0, b"a", b"1", None);
        assert_eq!(run_for_test(&shared, &mut c, &[b"TYPE", b"a"]), b"+string\r\n");
        assert_eq!(run_for_test(&shared, &mut c, &[b"TYPE", b"b"]), b"+none\r\n");
        shared.store.with_key(0, b"h", now_ms(), |k| k.hash_or_new().map(|h| h.set(b"f", b"v")).ok());
        assert_eq!(run_for_test(&shared, &mut c, &[b"TYPE", b"h"]), b"+hash\r\n");
        assert_eq!(run_for_test(&shared, &mut c, &[b"OBJECT", b"ENCODING", b"h"]), bulk(b"listpack"));
        assert_eq!(run_for_test(&shared, &mut c, &[b"OBJECT", b"encoding", b"a"]), bulk(b"int"));
        assert_eq!(run_for_test(&shared, &mut c, &[b"OBJECT", b"ENCODING", b"zz"]), b"$-1\r\n");
        assert_eq!(
            run_for_test(&shared, &mut c, &[b"OBJECT", b"foo", b"a"]),
            err("ERR unknown subcommand 'foo'. Try OBJECT HELP.")
        );
        assert_eq!(
            run_for_test(&shared, &mut c, &[b"OBJECT", b"encoding"]),
            err("ERR wrong number of arguments for 'object|encoding' command")
        );
        let scanned = scan_all(&shared, &mut c, &[b"TYPE", b"hash"]);
        assert_eq!(scanned, vec![b"h".to_vec()]);
    }

    #[test]
    fn rename_moves_value_and_ttl() {
        // RENAME overwrites the destination, keeps the source's deadline and drops the source.
        let (shared, mut c) = setup();
        let deadline = now_ms() + 100_000;
        set(&shared, 0, b"src", b"v", Some(deadline));
        set(&shared, 0, b"dst", b"old", None);
        assert_eq!(run_for_test(&shared, &mut c, &[b"RENAME", b"src", b"dst"]), b"+OK\r\n");
        assert_eq!(get(&shared, 0, b"src"), None);
        assert_eq!(get(&shared, 0, b"dst"), Some((b"v".to_vec(), Some(deadline))));
        // A destination with a TTL loses it when the source has none.
        set(&shared, 0, b"plain", b"p", None);
        assert_eq!(run_for_test(&shared, &mut c, &[b"RENAME", b"plain", b"dst"]), b"+OK\r\n");
        assert_eq!(get(&shared, 0, b"dst"), Some((b"p".to_vec(), None)));
    }

    #[test]
    fn rename_errors_and_same_key() {
        // A missing source is an error; renaming a key onto itself succeeds if it exists.
        let (shared, mut c) = setup();
        assert_eq!(run_for_test(&shared, &mut c, &[b"RENAME", b"nope", b"x"]), err("ERR no such key"));
        assert_eq!(run_for_test(&shared, &mut c, &[b"RENAME", b"nope", b"nope"]), err("ERR no such key"));
        set(&shared, 0, b"k", b"v", None);
        assert_eq!(run_for_test(&shared, &mut c, &[b"RENAME", b"k", b"k"]), b"+OK\r\n");
        assert_eq!(get(&shared, 0, b"k"), Some((b"v".to_vec(), None)));
        assert_eq!(
            run_for_test(&shared, &mut c, &[b"RENAME", b"k"]),
            err("ERR wrong number of arguments for 'rename' command")
        );
    }

    #[test]
    fn renamenx_only_into_a_free_name() {
        // RENAMENX replies 1 when it renamed, 0 when the destination exists (or is the source).
        let (shared, mut c) = setup();
        set(&shared, 0, b"a", b"1", None);
        set(&shared, 0, b"b", b"2", None);
        assert_eq!(run_for_test(&shared, &mut c, &[b"RENAMENX", b"a", b"b"]), int(0));
        assert_eq!(get(&shared, 0, b"a"), Some((b"1".to_vec(), None)));
        assert_eq!(get(&shared, 0, b"b"), Some((b"2".to_vec(), None)));
        assert_eq!(run_for_test(&shared, &mut c, &[b"RENAMENX", b"a", b"a"]), int(0));
        let deadline = now_ms() + 50_000;
        shared.store.with_key(0, b"a", now_ms(), |k| k.set_expire(Some(deadline)));
        assert_eq!(run_for_test(&shared, &mut c, &[b"RENAMENX", b"a", b"c"]), int(1));
        assert_eq!(get(&shared, 0, b"c"), Some((b"1".to_vec(), Some(deadline))));
        assert_eq!(get(&shared, 0, b"a"), None);
        assert_eq!(run_for_test(&shared, &mut c, &[b"RENAMENX", b"a", b"z"]), err("ERR no such key"));
    }

    #[test]
    fn copy_within_a_db() {
        // COPY duplicates value and deadline; an existing destination needs REPLACE.
        let (shared, mut c) = setup();
        let deadline = now_ms() + 100_000;
        set(&shared, 0, b"src", b"v", Some(deadline));
        assert_eq!(run_for_test(&shared, &mut c, &[b"COPY", b"src", b"dst"]), int(1));
        assert_eq!(get(&shared, 0, b"src"), Some((b"v".to_vec(), Some(deadline))));
        assert_eq!(get(&shared, 0, b"dst"), Some((b"v".to_vec(), Some(deadline))));
        set(&shared, 0, b"other", b"o", None);
        assert_eq!(run_for_test(&shared, &mut c, &[b"COPY", b"other", b"dst"]), int(0));
        assert_eq!(get(&shared, 0, b"dst"), Some((b"v".to_vec(), Some(deadline))));
        assert_eq!(run_for_test(&shared, &mut c, &[b"COPY", b"other", b"dst", b"replace"]), int(1));
        assert_eq!(get(&shared, 0, b"dst"), Some((b"o".to_vec(), None)));
        assert_eq!(run_for_test(&shared, &mut c, &[b"COPY", b"missing", b"dst", b"REPLACE"]), int(0));
        assert_eq!(get(&shared, 0, b"dst"), Some((b"o".to_vec(), None)));
    }

    #[test]
    fn copy_across_dbs() {
        // COPY ... DB n writes into database n and leaves the source alone.
        let (shared, mut c) = setup();
        set(&shared, 0, b"k", b"v", None);
        assert_eq!(run_for_test(&shared, &mut c, &[b"COPY", b"k", b"k", b"DB", b"3"]), int(1));
        assert_eq!(get(&shared, 3, b"k"), Some((b"v".to_vec(), None)));
        assert_eq!(get(&shared, 0, b"k"), Some((b"v".to_vec(), None)));
        assert_eq!(run_for_test(&shared, &mut c, &[b"COPY", b"k", b"k", b"DB", b"3"]), int(0));
        set(&shared, 0, b"k", b"new", None);
        assert_eq!(run_for_test(&shared, &mut c, &[b"COPY", b"k", b"k", b"REPLACE", b"db", b"3"]), int(1));
        assert_eq!(get(&shared, 3, b"k"), Some((b"new".to_vec(), None)));
        // The DB option naming the current db is the same db.
        c.db = 3;
        assert_eq!(
            run_for_test(&shared, &mut c, &[b"COPY", b"k", b"k", b"DB", b"3"]),
            err("ERR source and destination objects are the same")
        );
        assert_eq!(run_for_test(&shared, &mut c, &[b"COPY", b"k", b"k2", b"DB", b"0"]), int(1));
        assert_eq!(get(&shared, 0, b"k2"), Some((b"new".to_vec(), None)));
    }

    #[test]
    fn copy_errors() {
        // COPY's option errors use Redis's texts, checked before the key is looked at.
        let (shared, mut c) = setup();
        let cases: &[(&[&[u8]], &str)] = &[
            (&[b"COPY", b"a", b"a"], "ERR source and destination objects are the same"),
            (&[b"COPY", b"a", b"b", b"DB", b"16"], "ERR DB index is out of range"),
            (&[b"COPY", b"a", b"b", b"DB", b"-1"], "ERR DB index is out of range"),
            (&[b"COPY", b"a", b"b", b"DB", b"x"], "ERR value is not an integer or out of range"),
            (
                &[b"COPY", b"a", b"b", b"DB", b"4294967296"],
                "ERR value is out of range, value must between -2147483648 and 2147483647",
            ),
            (&[b"COPY", b"a", b"b", b"DB"], "ERR syntax error"),
            (&[b"COPY", b"a", b"b", b"NX"], "ERR syntax error"),
            (&[b"COPY", b"a"], "ERR wrong number of arguments for 'copy' command"),
        ];
        for (args, want) in cases {
            assert_eq!(run_for_test(&shared, &mut c, args), err(want), "{args:?}");
        }
    }

    #[test]
    fn move_between_dbs() {
        // MOVE transfers value and deadline; a destination holding the key refuses with 0.
        let (shared, mut c) = setup();
        let deadline = now_ms() + 100_000;
        set(&shared, 0, b"k", b"v", Some(deadline));
        assert_eq!(run_for_test(&shared, &mut c, &[b"MOVE", b"k", b"1"]), int(1));
        assert_eq!(get(&shared, 0, b"k"), None);
        assert_eq!(get(&shared, 1, b"k"), Some((b"v".to_vec(), Some(deadline))));
        assert_eq!(run_for_test(&shared, &mut c, &[b"MOVE", b"k", b"1"]), int(0));
        set(&shared, 0, b"k", b"again", None);
        assert_eq!(run_for_test(&shared, &mut c, &[b"MOVE", b"k", b"1"]), int(0));
        assert_eq!(get(&shared, 0, b"k"), Some((b"again".to_vec(), None)));
        assert_eq!(get(&shared, 1, b"k"), Some((b"v".to_vec(), Some(deadline))));
    }

    #[test]
    fn move_errors() {
        // MOVE checks the index, then same-db, before the key.
        let (shared, mut c) = setup();
        c.db = 2;
        let cases: &[(&[&[u8]], &str)] = &[
            (&[b"MOVE", b"k", b"2"], "ERR source and destination objects are the same"),
            (&[b"MOVE", b"k", b"16"], "ERR DB index is out of range"),
            (&[b"MOVE", b"k", b"-1"], "ERR DB index is out of range"),
            (&[b"MOVE", b"k", b"one"], "ERR value is not an integer or out of range"),
            (
                &[b"MOVE", b"k", b"-2147483649"],
                "ERR value is out of range, value must between -2147483648 and 2147483647",
            ),
        ];
        for (args, want) in cases {
            assert_eq!(run_for_test(&shared, &mut c, args), err(want), "{args:?}");
        }
        assert_eq!(run_for_test(&shared, &mut c, &[b"MOVE", b"missing", b"0"]), int(0));
    }

    #[test]
    fn keys_matches_globs() {
        // KEYS returns exactly the keys of the selected db that match the pattern.
        let (shared, mut c) = setup();
        for k in [&b"hello"[..], b"hallo", b"hxllo", b"hllo", b"heeeello", b"user:1", b"user:2"] {
            set(&shared, 0, k, b"v", None);
        }
        set(&shared, 1, b"hello", b"other db", None);
        let keys = |c: &mut ClientState, pat: &[u8]| parse_keys_reply(&run_for_test(&shared, c, &[b"KEYS", pat]));
        let v = |ks: &[&[u8]]| ks.iter().map(|k| k.to_vec()).collect::<Vec<_>>();
        assert_eq!(keys(&mut c, b"*").len(), 7);
        assert_eq!(keys(&mut c, b"h?llo"), v(&[b"hallo", b"hello", b"hxllo"]));
        assert_eq!(keys(&mut c, b"h*llo"), v(&[b"hallo", b"heeeello", b"hello", b"hllo", b"hxllo"]));
        assert_eq!(keys(&mut c, b"h[ae]llo"), v(&[b"hallo", b"hello"]));
        assert_eq!(keys(&mut c, b"h[^e]llo"), v(&[b"hallo", b"hxllo"]));
        assert_eq!(keys(&mut c, b"user:*"), v(&[b"user:1", b"user:2"]));
        assert_eq!(keys(&mut c, b"USER:*"), v(&[]));
        assert_eq!(keys(&mut c, b"hello"), v(&[b"hello"]));
        assert_eq!(keys(&mut c, b"nomatch*"), v(&[]));
        c.db = 1;
        assert_eq!(keys(&mut c, b"*"), v(&[b"hello"]));
        c.db = 5;
        assert_eq!(run_for_test(&shared, &mut c, &[b"KEYS", b"*"]), b"*0\r\n");
    }

    #[test]
    fn scan_visits_every_key_exactly_once() {
        // A full SCAN loop with COUNT 10 over 1000 keys returns each key once and ends at 0.
        let (shared, mut c) = setup();
        for i in 0..1000 {
            set(&shared, 0, format!("key:{i}").as_bytes(), b"v", None);
        }
        let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut cursor = 0u64;
        let mut calls = 0;
        loop {
            let cur = cursor.to_string();
            let r = run_for_test(&shared, &mut c, &[b"SCAN", cur.as_bytes(), b"COUNT", b"10"]);
            let (next, keys) = parse_scan_reply(&r);
            for k in keys {
                *seen.entry(k).or_default() += 1;
            }
            calls += 1;
            assert!(calls <= shared.store.shards_per_db() + 1, "SCAN did not terminate");
            if next == 0 {
                break;
            }
            assert!(next > cursor, "cursor must advance");
            cursor = next;
        }
        assert!(calls > 1, "COUNT 10 over 1000 keys should take several calls");
        assert_eq!(seen.len(), 1000);
        assert!(seen.values().all(|&n| n == 1));
        for i in 0..1000 {
            assert!(seen.contains_key(format!("key:{i}").as_bytes()));
        }
    }

    /// Run a full SCAN with extra options, returning every key seen (sorted).
    fn scan_all(shared: &Shared, c: &mut ClientState, opts: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut cursor = 0u64;
        loop {
            let cur = cursor.to_string();
            let mut args: Vec<&[u8]> = vec![b"SCAN", cur.as_bytes()];
            args.extend_from_slice(opts);
            let (next, keys) = parse_scan_reply(&run_for_test(shared, c, &args));
            out.extend(keys);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        out.sort();
        out
    }

    #[test]
    fn scan_match_and_type() {
        // MATCH filters by glob and TYPE string keeps every key; other types match nothing.
        let (shared, mut c) = setup();
        for i in 0..50 {
            set(&shared, 0, format!("user:{i}").as_bytes(), b"v", None);
            set(&shared, 0, format!("item:{i}").as_bytes(), b"v", None);
        }
        let users = scan_all(&shared, &mut c, &[b"MATCH", b"user:*"]);
        assert_eq!(users.len(), 50);
        assert!(users.iter().all(|k| k.starts_with(b"user:")));
        assert_eq!(scan_all(&shared, &mut c, &[b"match", b"user:1?", b"count", b"1000"]).len(), 10);
        assert_eq!(scan_all(&shared, &mut c, &[b"MATCH", b"*"]).len(), 100);
        assert_eq!(scan_all(&shared, &mut c, &[b"TYPE", b"STRING"]).len(), 100);
        assert_eq!(scan_all(&shared, &mut c, &[b"TYPE", b"list"]).len(), 0);
        assert_eq!(scan_all(&shared, &mut c, &[b"TYPE", b"nosuchtype"]).len(), 0);
        let both = scan_all(&shared, &mut c, &[b"MATCH", b"item:4*", b"TYPE", b"string", b"COUNT", b"5"]);
        assert_eq!(both.len(), 11);
        // A huge COUNT is a hint, capped, and still answers.
        assert_eq!(scan_all(&shared, &mut c, &[b"COUNT", b"9223372036854775807"]).len(), 100);
    }

    #[test]
    fn scan_cursor_and_option_errors() {
        // Cursors parse like strtoul; COUNT < 1 and unknown options are syntax errors.
        let (shared, mut c) = setup();
        set(&shared, 0, b"k", b"v", None);
        for bad in [&b"abc"[..], b" 1", b"1 ", b"1x", b"18446744073709551616", b"+", b"-"] {
            assert_eq!(run_for_test(&shared, &mut c, &[b"SCAN", bad]), err("ERR invalid cursor"), "{bad:?}");
        }
        for ok in [&b""[..], b"0", b"+0", b"00"] {
            assert_eq!(
                parse_scan_reply(&run_for_test(&shared, &mut c, &[b"SCAN", ok, b"COUNT", b"100000"])).1.len(),
                1
            );
        }
        // A cursor past the last shard (or -1, which wraps) is a finished scan.
        for past in [&b"-1"[..], b"18446744073709551615", b"100000"] {
            assert_eq!(run_for_test(&shared, &mut c, &[b"SCAN", past]), b"*2\r\n$1\r\n0\r\n*0\r\n");
        }
        let cases: &[(&[&[u8]], &str)] = &[
            (&[b"SCAN", b"0", b"COUNT", b"0"], "ERR syntax error"),
            (&[b"SCAN", b"0", b"COUNT", b"-5"], "ERR syntax error"),
            (&[b"SCAN", b"0", b"COUNT", b"ten"], "ERR value is not an integer or out of range"),
            (&[b"SCAN", b"0", b"COUNT"], "ERR syntax error"),
            (&[b"SCAN", b"0", b"MATCH"], "ERR syntax error"),
            (&[b"SCAN", b"0", b"TYPE"], "ERR syntax error"),
            (&[b"SCAN", b"0", b"LIMIT", b"5"], "ERR syntax error"),
            (&[b"SCAN", b"x", b"LIMIT", b"5"], "ERR invalid cursor"),
            (&[b"SCAN"], "ERR wrong number of arguments for 'scan' command"),
        ];
        for (args, want) in cases {
            assert_eq!(run_for_test(&shared, &mut c, args), err(want), "{args:?}");
        }
    }

    #[test]
    fn randomkey_returns_a_live_key_or_null() {
        // RANDOMKEY answers a null bulk on an empty db, else one of its keys.
        let (shared, mut c) = setup();
        assert_eq!(run_for_test(&shared, &mut c, &[b"RANDOMKEY"]), b"$-1\r\n");
        set(&shared, 0, b"only", b"v", None);
        assert_eq!(run_for_test(&shared, &mut c, &[b"RANDOMKEY"]), bulk(b"only"));
        c.db = 1;
        assert_eq!(run_for_test(&shared, &mut c, &[b"randomkey"]), b"$-1\r\n");
    }

    #[test]
    fn expire_family_sets_deadlines() {
        // Each EXPIRE form converts its argument into the same absolute deadline in ms.
        let (shared, mut c) = setup();
        set(&shared, 0, b"k", b"v", None);
        let before = now_ms();
        assert_eq!(run_for_test(&shared, &mut c, &[b"EXPIRE", b"k", b"100"]), int(1));
        let at = get(&shared, 0, b"k").unwrap().1.unwrap();
        assert!(at >= before + 100_000 && at <= now_ms() + 100_000);
        assert_eq!(run_for_test(&shared, &mut c, &[b"TTL", b"k"]), int(100));
        assert_eq!(run_for_test(&shared, &mut c, &[b"PEXPIRE", b"k", b"5000"]), int(1));
        let at = get(&shared, 0, b"k").unwrap().1.unwrap();
        assert!(at >= before + 5000 && at <= now_ms() + 5000);
        let target_s = now_ms() / 1000 + 1000;
        assert_eq!(run_for_test(&shared, &mut c, &[b"EXPIREAT", b"k", target_s.to_string().as_bytes()]), int(1));
        assert_eq!(get(&shared, 0, b"k").unwrap().1, Some(target_s * 1000));
        let target_ms = now_ms() + 123_456;
        assert_eq!(run_for_test(&shared, &mut c, &[b"PEXPIREAT", b"k", target_ms.to_string().as_bytes()]), int(1));
        assert_eq!(get(&shared, 0, b"k").unwrap().1, Some(target_ms));
        // A missing key: 0, nothing created.
        assert_eq!(run_for_test(&shared, &mut c, &[b"EXPIRE", b"missing", b"100"]), int(0));
        assert_eq!(run_for_test(&shared, &mut c, &[b"EXPIRE", b"missing", b"-1"]), int(0));
        assert_eq!(get(&shared, 0, b"missing"), None);
    }

    #[test]
    fn past_deadlines_delete_the_key() {
        // A deadline at or before now deletes the key and still replies 1.
        let (shared, mut c) = setup();
        let cases: &[&[&[u8]]] = &[
            &[b"EXPIRE", b"k", b"-1"],
            &[b"EXPIRE", b"k", b"0"],
            &[b"PEXPIRE", b"k", b"-100000"],
            &[b"EXPIREAT", b"k", b"1"],
            &[b"PEXPIREAT", b"k", b"0"],
            &[b"PEXPIREAT", b"k", b"-9223372036854775808"],
            &[b"EXPIRE", b"k", b"-9223372036854775"],
        ];
        for args in cases {
            set(&shared, 0, b"k", b"v", None);
            assert_eq!(run_for_test(&shared, &mut c, args), int(1), "{args:?}");
            assert_eq!(get(&shared, 0, b"k"), None, "{args:?}");
        }
        // LT treats "no expiry" as infinite, so a past deadline passes LT and deletes.
        set(&shared, 0, b"k", b"v", None);
        assert_eq!(run_for_test(&shared, &mut c, &[b"EXPIRE", b"k", b"-1", b"LT"]), int(1));
        assert_eq!(get(&shared, 0, b"k"), None);
        // GT with a past deadline fails against a live TTL and keeps the key.
        set(&shared, 0, b"k", b"v", Some(now_ms() + 100_000));
        assert_eq!(run_for_test(&shared, &mut c, &[b"EXPIRE", b"k", b"-1", b"GT"]), int(0));
        assert!(get(&shared, 0, b"k").is_some());
    }

    #[test]
    fn expire_flags_truth_table() {
        // NX/XX/GT/LT against a key without and with a deadline (D), following Redis 7.
        let (shared, mut c) = setup();
        let d = now_ms() + 100_000;
        let ds = d.to_string();
        let above = (d + 1).to_string();
        let below = (d - 1).to_string();
        // (flags, new deadline, key has D?, expected reply, deadline afterwards)
        type Case<'a> = (&'a [&'a [u8]], &'a str, bool, i64, Option<u64>);
        let cases: &[Case<'_>] = &[
            (&[], &ds, false, 1, Some(d)),
            (&[b"NX"], &ds, false, 1, Some(d)),
            (&[b"NX"], &above, true, 0, Some(d)),
            (&[b"XX"], &ds, false, 0, None),
            (&[b"XX"], &above, true, 1, Some(d + 1)),
            (&[b"GT"], &ds, false, 0, None),
            (&[b"GT"], &above, true, 1, Some(d + 1)),
            (&[b"GT"], &ds, true, 0, Some(d)),
            (&[b"GT"], &below, true, 0, Some(d)),
            (&[b"LT"], &ds, false, 1, Some(d)),
            (&[b"LT"], &below, true, 1, Some(d - 1)),
            (&[b"LT"], &ds, true, 0, Some(d)),
            (&[b"LT"], &above, true, 0, Some(d)),
            (&[b"XX", b"GT"], &above, false, 0, None),
            (&[b"XX", b"GT"], &above, true, 1, Some(d + 1)),
            (&[b"gt", b"xx"], &below, true, 0, Some(d)),
            (&[b"XX", b"LT"], &below, false, 0, None),
            (&[b"XX", b"LT"], &below, true, 1, Some(d - 1)),
            (&[b"lt", b"XX"], &above, true, 0, Some(d)),
            (&[b"nx", b"NX"], &ds, false, 1, Some(d)),
        ];
        for &(flags, when, has_ttl, want, after) in cases {
            set(&shared, 0, b"k", b"v", has_ttl.then_some(d));
            let mut args: Vec<&[u8]> = vec![b"PEXPIREAT", b"k", when.as_bytes()];
            args.extend_from_slice(flags);
            assert_eq!(run_for_test(&shared, &mut c, &args), int(want), "{args:?} ttl={has_ttl}");
            assert_eq!(get(&shared, 0, b"k").map(|e| e.1), Some(after), "{args:?} ttl={has_ttl}");
        }
    }

    #[test]
    fn expire_option_errors() {
        // Flag errors come first (even for a missing key), then the number, then overflow.
        let (shared, mut c) = setup();
        set(&shared, 0, b"k", b"v", None);
        let nx_err = "ERR NX and XX, GT or LT options at the same time are not compatible";
        let gtlt_err = "ERR GT and LT options at the same time are not compatible";
        let cases: &[(&[&[u8]], &str)] = &[
            (&[b"EXPIRE", b"k", b"10", b"NX", b"XX"], nx_err),
            (&[b"EXPIRE", b"k", b"10", b"NX", b"GT"], nx_err),
            (&[b"EXPIRE", b"k", b"10", b"lt", b"nx"], nx_err),
            (&[b"EXPIRE", b"k", b"10", b"NX", b"GT", b"LT"], nx_err),
            (&[b"PEXPIRE", b"missing", b"10", b"GT", b"LT"], gtlt_err),
            (&[b"EXPIREAT", b"k", b"10", b"XX", b"GT", b"LT"], gtlt_err),
            (&[b"EXPIRE", b"k", b"10", b"FOO"], "ERR Unsupported option FOO"),
            (&[b"EXPIRE", b"k", b"ten", b"FOO"], "ERR Unsupported option FOO"),
            (&[b"EXPIRE", b"k", b"ten"], "ERR value is not an integer or out of range"),
            (&[b"EXPIRE", b"k", b"1.5"], "ERR value is not an integer or out of range"),
            (&[b"EXPIRE", b"k", b"9223372036854775807"], "ERR invalid expire time in 'expire' command"),
            (&[b"EXPIRE", b"k", b"-9223372036854776"], "ERR invalid expire time in 'expire' command"),
            (&[b"EXPIRE", b"missing", b"9223372036854775"], "ERR invalid expire time in 'expire' command"),
            (&[b"PEXPIRE", b"k", b"9223372036854775807"], "ERR invalid expire time in 'pexpire' command"),
            (&[b"EXPIREAT", b"k", b"9223372036854776"], "ERR invalid expire time in 'expireat' command"),
            (&[b"EXPIRE", b"k"], "ERR wrong number of arguments for 'expire' command"),
        ];
        for (args, want) in cases {
            assert_eq!(run_for_test(&shared, &mut c, args), err(want), "{args:?}");
        }
        assert_eq!(get(&shared, 0, b"k"), Some((b"v".to_vec(), None)));
        // The largest absolute deadline is accepted; deadlines past year 2527 are kept as
        // that year's (the access clock shares the deadline word, see `store::access`).
        assert_eq!(run_for_test(&shared, &mut c, &[b"PEXPIREAT", b"k", b"9223372036854775807"]), int(1));
        let max = crate::store::DEADLINE_MAX_MS as i64;
        assert_eq!(run_for_test(&shared, &mut c, &[b"PEXPIRETIME", b"k"]), int(max));
    }

    #[test]
    fn ttl_values() {
        // TTL/PTTL: -2 missing, -1 no deadline, else remaining; TTL rounds to nearest second.
        let (shared, mut c) = setup();
        for cmd in [&b"TTL"[..], b"PTTL", b"EXPIRETIME", b"PEXPIRETIME"] {
            assert_eq!(run_for_test(&shared, &mut c, &[cmd, b"missing"]), int(-2));
        }
        set(&shared, 0, b"plain", b"v", None);
        for cmd in [&b"TTL"[..], b"PTTL", b"EXPIRETIME", b"PEXPIRETIME"] {
            assert_eq!(run_for_test(&shared, &mut c, &[cmd, b"plain"]), int(-1));
        }
        set(&shared, 0, b"down", b"v", Some(now_ms() + 100_300));
        assert_eq!(run_for_test(&shared, &mut c, &[b"TTL", b"down"]), int(100));
        set(&shared, 0, b"up", b"v", Some(now_ms() + 100_700));
        assert_eq!(run_for_test(&shared, &mut c, &[b"TTL", b"up"]), int(101));
        let r = run_for_test(&shared, &mut c, &[b"PTTL", b"up"]);
        let ms: i64 = std::str::from_utf8(&r[1..r.len() - 2]).unwrap().parse().unwrap();
        assert!((100_000..=100_700).contains(&ms), "{ms}");
    }

    #[test]
    fn expiretime_values() {
        // EXPIRETIME rounds the deadline to the nearest second; PEXPIRETIME is exact.
        let (shared, mut c) = setup();
        let base = (now_ms() / 1000 + 10_000) * 1000;
        set(&shared, 0, b"a", b"v", Some(base + 499));
        set(&shared, 0, b"b", b"v", Some(base + 500));
        assert_eq!(run_for_test(&shared, &mut c, &[b"EXPIRETIME", b"a"]), int((base / 1000) as i64));
        assert_eq!(run_for_test(&shared, &mut c, &[b"EXPIRETIME", b"b"]), int((base / 1000 + 1) as i64));
        assert_eq!(run_for_test(&shared, &mut c, &[b"PEXPIRETIME", b"a"]), int((base + 499) as i64));
    }

    #[test]
    fn persist_removes_the_deadline() {
        // PERSIST replies 1 only when it removed a deadline.
        let (shared, mut c) = setup();
        set(&shared, 0, b"k", b"v", Some(now_ms() + 100_000));
        assert_eq!(run_for_test(&shared, &mut c, &[b"PERSIST", b"k"]), int(1));
        assert_eq!(get(&shared, 0, b"k"), Some((b"v".to_vec(), None)));
        assert_eq!(run_for_test(&shared, &mut c, &[b"TTL", b"k"]), int(-1));
        assert_eq!(run_for_test(&shared, &mut c, &[b"PERSIST", b"k"]), int(0));
        assert_eq!(run_for_test(&shared, &mut c, &[b"PERSIST", b"missing"]), int(0));
    }

    #[test]
    fn binary_keys_round_trip() {
        // Keys holding NUL and CRLF work in every command and stay framed in replies.
        let (shared, mut c) = setup();
        let a: &[u8] = b"a\0b";
        let crlf: &[u8] = b"c\r\nd";
        set(&shared, 0, a, b"1", None);
        set(&shared, 0, crlf, b"2", None);
        assert_eq!(run_for_test(&shared, &mut c, &[b"EXISTS", a, crlf, b"a"]), int(2));
        assert_eq!(parse_keys_reply(&run_for_test(&shared, &mut c, &[b"KEYS", b"*"])), vec![a.to_vec(), crlf.to_vec()]);
        assert_eq!(parse_keys_reply(&run_for_test(&shared, &mut c, &[b"KEYS", b"a\0*"])), vec![a.to_vec()]);
        assert_eq!(scan_all(&shared, &mut c, &[b"MATCH", b"c\r\n?"]), vec![crlf.to_vec()]);
        assert_eq!(run_for_test(&shared, &mut c, &[b"RENAME", a, b"x\0y"]), b"+OK\r\n");
        assert_eq!(get(&shared, 0, b"x\0y"), Some((b"1".to_vec(), None)));
        assert_eq!(run_for_test(&shared, &mut c, &[b"EXPIRE", crlf, b"100"]), int(1));
        assert_eq!(run_for_test(&shared, &mut c, &[b"TTL", crlf]), int(100));
        assert_eq!(run_for_test(&shared, &mut c, &[b"COPY", crlf, b"\0", b"DB", b"1"]), int(1));
        assert_eq!(run_for_test(&shared, &mut c, &[b"MOVE", b"x\0y", b"1"]), int(1));
        c.db = 1;
        assert_eq!(
            parse_keys_reply(&run_for_test(&shared, &mut c, &[b"KEYS", b"*"])),
            vec![b"\0".to_vec(), b"x\0y".to_vec()]
        );
        assert_eq!(run_for_test(&shared, &mut c, &[b"DEL", b"\0", b"x\0y"]), int(2));
    }

    #[test]
    fn table_rows_match_redis() {
        // Arity, flags and key positions as Redis's COMMAND reports them.
        use crate::cmd::{lookup, DENYOOM, FAST, READONLY, WRITE};
        type Row = (&'static str, i32, u32, (i32, i32, i32));
        let rows: &[Row] = &[
            ("del", -2, WRITE, (1, -1, 1)),
            ("exists", -2, READONLY | FAST, (1, -1, 1)),
            ("rename", 3, WRITE, (1, 2, 1)),
            ("copy", -3, WRITE | DENYOOM, (1, 2, 1)),
            ("move", 3, WRITE | FAST, (1, 1, 1)),
            ("scan", -2, READONLY, (0, 0, 0)),
            ("randomkey", 1, READONLY, (0, 0, 0)),
            ("pexpireat", -3, WRITE | FAST, (1, 1, 1)),
            ("pexpiretime", 2, READONLY | FAST, (1, 1, 1)),
            ("persist", 2, WRITE | FAST, (1, 1, 1)),
        ];
        for &(name, arity, flags, keys) in rows {
            let cmd = lookup(name.as_bytes()).unwrap();
            // Redis's flags: ringkv's own RUN_TIMED is not one of them.
            assert_eq!((cmd.arity, cmd.flags & !crate::cmd::RUN_TIMED, cmd.keys), (arity, flags, keys), "{name}");
        }
        assert_eq!(super::COMMANDS.len(), 22);
    }
}
