//! DUMP and RESTORE (`cluster.c` in Redis 7.0): a key's value as an RDB-encoded payload
//! (`persist::rdb::dump_payload`: one object, the RDB version, a CRC64), and the reverse,
//! with Redis 7.0's option parsing, order of checks and error texts. Payloads move values
//! between ringkv and Redis in both directions (tested against a real `redis-server` in
//! `tests/rdb.rs`).
//!
//! IDLETIME and FREQ are parsed and validated as Redis does; the restored key starts with a
//! fresh access clock (the eviction sampling treats it as just written).

use super::{eq_ignore_case, parse_i64, Command, Ctx, DENYOOM, ERR_NOT_INTEGER, ERR_SYNTAX, READONLY, WRITE};
use crate::persist::rdb;
use crate::protocol::Argv;
use crate::reply;
use crate::types::Value;

/// Documentation of this family's commands (see [`super::Doc`]).
pub const DOCS: &[super::Doc] = &[
    super::Doc {
        name: "dump",
        group: "generic",
        since: "2.6.0",
        summary: "A key's value serialized in Redis's RDB format, for RESTORE.",
        syntax: "key",
    },
    super::Doc {
        name: "restore",
        group: "generic",
        since: "2.6.0",
        summary: "Create a key from a DUMP payload, with a TTL in milliseconds (0: none).",
        syntax: "key ttl:integer serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency:integer]",
    },
];

pub const COMMANDS: &[Command] = &[
    Command { name: "dump", arity: 2, flags: READONLY, keys: (1, 1, 1), handler: dump },
    Command { name: "restore", arity: -4, flags: WRITE | DENYOOM, keys: (1, 1, 1), handler: restore },
];

/// Redis 7.0's replies.
pub const ERR_PAYLOAD: &str = "ERR DUMP payload version or checksum are wrong";
pub const ERR_BAD_FORMAT: &str = "ERR Bad data format";
pub const ERR_BUSYKEY: &str = "BUSYKEY Target key name already exists.";
const ERR_TTL: &str = "ERR Invalid TTL value, must be >= 0";
const ERR_IDLETIME: &str = "ERR Invalid IDLETIME value, must be >= 0";
const ERR_FREQ: &str = "ERR Invalid FREQ value, must be >= 0 and <= 255";

/// DUMP key (strings LZF-compressed with `rdbcompression yes`, as Redis's payloads)
fn dump(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let lzf = ctx.shared.persist.rdbcompression();
    let payload = ctx.shared.store.with_key(ctx.db(), argv.get(1), ctx.now_ms, |k| {
        k.get().map(|e| rdb::encoding::with_compression(lzf, || rdb::dump_payload(e.value())))
    });
    match payload {
        Some(p) => reply::bulk(ctx.out, &p),
        None => reply::null(ctx.out),
    }
}

/// RESTORE's options.
#[derive(Default)]
struct Options {
    replace: bool,
    absttl: bool,
}

/// `RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]`: options are
/// parsed first (IDLETIME and FREQ exclude each other), then BUSYKEY, the TTL, the payload.
fn parse_options(ctx: &mut Ctx<'_>, argv: Argv<'_>) -> Option<Options> {
    let mut o = Options::default();
    let (mut idle, mut freq) = (false, false);
    let mut j = 4;
    while j < argv.len() {
        let more = argv.len() - j - 1;
        let arg = argv.get(j);
        if eq_ignore_case(arg, "replace") {
            o.replace = true;
        } else if eq_ignore_case(arg, "absttl") {
            o.absttl = true;
        } else if eq_ignore_case(arg, "idletime") && more >= 1 && !freq {
            let Some(n) = parse_i64(argv.get(j + 1)) else {
                ctx.error(ERR_NOT_INTEGER);
                return None;
            };
            if n < 0 {
                ctx.error(ERR_IDLETIME);
                return None;
            }
            idle = true;
            j += 1;
        } else if eq_ignore_case(arg, "freq") && more >= 1 && !idle {
            let Some(n) = parse_i64(argv.get(j + 1)) else {
                ctx.error(ERR_NOT_INTEGER);
                return None;
            };
            if !(0..=255).contains(&n) {
                ctx.error(ERR_FREQ);
                return None;
            }
            freq = true;
            j += 1;
        } else {
            ctx.error(ERR_SYNTAX);
            return None;
        }
        j += 1;
    }
    Some(o)
}

/// What RESTORE found under the key's lock.
enum Restored {
    Busy,
    Done(bool),
}

/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
fn restore(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let Some(o) = parse_options(ctx, argv) else { return };
    let (db, key, now) = (ctx.db(), argv.get(1), ctx.now_ms);
    let store = &ctx.shared.store;
    if !o.replace && store.with_key(db, key, now, |k| k.exists()) {
        return ctx.error(ERR_BUSYKEY);
    }
    let Some(ttl) = parse_i64(argv.get(2)) else { return ctx.error(ERR_NOT_INTEGER) };
    if ttl < 0 {
        return ctx.error(ERR_TTL);
    }
    let payload = argv.get(3);
    if !rdb::verify_payload(payload) {
        return ctx.error(ERR_PAYLOAD);
    }
    let Ok(value) = rdb::read_payload(payload) else { return ctx.error(ERR_BAD_FORMAT) };
    let wakes = matches!(value, Value::List(_) | Value::ZSet(_));
    let deadline = match ttl {
        0 => None,
        t if o.absttl => Some(t as u64),
        t => Some(now.saturating_add(t as u64)),
    };
    // Checked again under the lock: another client may have created the key meanwhile.
    let outcome = store.with_key(db, key, now, |k| {
        if !o.replace && k.exists() {
            return Restored::Busy;
        }
        // A deadline already past deletes the key (Redis: checkAlreadyExpired).
        k.set(value, deadline);
        Restored::Done(k.exists())
    });
    match outcome {
        Restored::Busy => ctx.error(ERR_BUSYKEY),
        Restored::Done(created) => {
            if created && wakes {
                ctx.key_ready(db, key);
            }
            ctx.ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::cmd::{run_for_test, ClientState};
    use crate::config::Config;
    use crate::shared::Shared;

    fn run(shared: &Shared, c: &mut ClientState, args: &[&[u8]]) -> Vec<u8> {
        run_for_test(shared, c, args)
    }

    fn bulk_payload(reply: &[u8]) -> Vec<u8> {
        let nl = reply.iter().position(|&b| b == b'\n').unwrap();
        reply[nl + 1..reply.len() - 2].to_vec()
    }

    #[test]
    fn dump_then_restore_every_type_with_ttl_and_replace() {
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        let setup: &[&[&[u8]]] = &[
            &[b"SET", b"s", b"hello"],
            &[b"RPUSH", b"l", b"a", b"1", b"b"],
            &[b"SADD", b"i", b"1", b"2"],
            &[b"SADD", b"t", b"x", b"y"],
            &[b"HSET", b"h", b"f", b"v"],
            &[b"ZADD", b"z", b"1.5", b"m", b"2", b"n"],
        ];
        for cmd in setup {
            run(&shared, &mut c, cmd);
        }
        for key in [&b"s"[..], b"l", b"i", b"t", b"h", b"z"] {
            let before = run(&shared, &mut c, &[b"DUMP", key]);
            let payload = bulk_payload(&before);
            let copy = [key, b"-copy"].concat();
            assert_eq!(run(&shared, &mut c, &[b"RESTORE", &copy, b"0", &payload]), b"+OK\r\n");
            assert_eq!(run(&shared, &mut c, &[b"DUMP", &copy]), before, "{}", String::from_utf8_lossy(key));
            assert_eq!(
                run(&shared, &mut c, &[b"RESTORE", &copy, b"0", &payload]),
                b"-BUSYKEY Target key name already exists.\r\n"
            );
            assert_eq!(run(&shared, &mut c, &[b"RESTORE", &copy, b"100000", &payload, b"REPLACE"]), b"+OK\r\n");
            assert_eq!(run(&shared, &mut c, &[b"TTL", &copy]), b":100\r\n");
        }
        assert_eq!(run(&shared, &mut c, &[b"DUMP", b"nope"]), b"$-1\r\n");
    }

    #[test]
    fn restore_errors_in_redis_order() {
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        run(&shared, &mut c, &[b"SET", b"s", b"v"]);
        let payload = bulk_payload(&run(&shared, &mut c, &[b"DUMP", b"s"]));
        let err = |m: &str| format!("-{m}\r\n").into_bytes();
        let cases: &[(&[&[u8]], &str)] = &[
            (&[b"RESTORE", b"s", b"x", b"bad"], "BUSYKEY Target key name already exists."),
            (&[b"RESTORE", b"n", b"x", b"bad"], "ERR value is not an integer or out of range"),
            (&[b"RESTORE", b"n", b"-1", b"bad"], "ERR Invalid TTL value, must be >= 0"),
            (&[b"RESTORE", b"n", b"0", b"bad"], "ERR DUMP payload version or checksum are wrong"),
            (&[b"RESTORE", b"n", b"0", b"bad", b"FOO"], "ERR syntax error"),
            (&[b"RESTORE", b"n", b"0", b"bad", b"IDLETIME", b"-1"], "ERR Invalid IDLETIME value, must be >= 0"),
            (&[b"RESTORE", b"n", b"0", b"bad", b"FREQ", b"256"], "ERR Invalid FREQ value, must be >= 0 and <= 255"),
            (&[b"RESTORE", b"n", b"0", b"bad", b"FREQ", b"1", b"IDLETIME", b"1"], "ERR syntax error"),
        ];
        for (args, want) in cases {
            assert_eq!(run(&shared, &mut c, args), err(want), "{args:?}");
        }
        assert_eq!(run(&shared, &mut c, &[b"RESTORE", b"n", b"1", &payload, b"ABSTTL"]), b"+OK\r\n");
        assert_eq!(run(&shared, &mut c, &[b"EXISTS", b"n"]), b":0\r\n", "a deadline in the past: not created");
        assert_eq!(
            run(&shared, &mut c, &[b"RESTORE", b"n", b"0", &payload, b"IDLETIME", b"5", b"REPLACE"]),
            b"+OK\r\n"
        );
        // A payload whose checksum is right but whose body is not an object.
        let mut bad = vec![0x63u8, 0, 10, 0];
        let crc = crate::persist::rdb::crc64::crc64(&bad);
        bad.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(run(&shared, &mut c, &[b"RESTORE", b"m", b"0", &bad]), err("ERR Bad data format"));
    }
}
