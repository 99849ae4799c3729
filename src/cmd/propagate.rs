//! What the AOF records for a command that changed the keyspace: the command itself, or a
//! rewritten form that replays to the same state at any later time, as Redis 7.0's
//! `feedAppendOnlyFile` and the commands' `rewriteClientCommandVector` calls write it:
//!
//! - relative and second-based expiries become absolute milliseconds: EXPIRE, PEXPIRE,
//!   EXPIREAT → `PEXPIREAT key ms` (flags dropped: the expiry was applied); SET with EX, PX or
//!   EXAT, SETEX, PSETEX → `SET key value PXAT ms`; GETEX EX|PX|EXAT|PXAT → `PEXPIREAT`,
//!   GETEX PERSIST → `PERSIST`;
//!   RESTORE with a relative TTL → its deadline and `ABSTTL`;
//! - results that depend on float formatting or randomness are written as their outcome:
//!   INCRBYFLOAT → `SET key value KEEPTTL`, HINCRBYFLOAT → `HSET key field value`, SPOP →
//!   `SREM key member...` (read from the reply the command just wrote);
//! - everything else is written as received.
//!
//! The deadline is computed from the same `now_ms` the handler used, so the file holds the
//! exact deadline the key got.

use crate::cmd::eq_ignore_case;
use crate::protocol::Argv;

use crate::store::journal::encode;

/// Commands the AOF records even when they changed nothing (Redis 7.0 forces their
/// propagation).
pub const ALWAYS_PROPAGATED: &[&str] = &["flushall", "flushdb", "swapdb"];

/// FUNCTION subcommands that change the function libraries (no key): recorded as received
/// when they succeed, as Redis 7.0 propagates them.
pub const FUNCTION_WRITES: &[&str] = &["load", "delete", "flush", "restore"];

/// Blocking pops record what they did themselves (`LPOP key`, `LMOVE ...`: see
/// `cmd::blocking`), whether served at once or later on behalf of the client: the command
/// itself is never recorded (a replay must not block).
pub const SELF_PROPAGATED: &[&str] =
    &["blpop", "brpop", "blmove", "brpoplpush", "blmpop", "bzpopmin", "bzpopmax", "bzmpop"];

/// Record `name` even though it changed no key: the store-wide commands and the FUNCTION
/// writes, when they succeeded.
pub fn forced(name: &str, argv: Argv<'_>, reply: &[u8]) -> bool {
    if reply.first() == Some(&b'-') {
        return false;
    }
    ALWAYS_PROPAGATED.contains(&name)
        || (name == "function" && argv.len() > 1 && FUNCTION_WRITES.iter().any(|s| eq_ignore_case(argv.get(1), s)))
}

/// The RESP the AOF records for `name` (lower-case) run with `argv` at `now_ms`, given the
/// reply it wrote (`reply`: the bytes the handler appended). `None`: record nothing.
pub fn rewrite(name: &str, argv: Argv<'_>, now_ms: u64, reply: &[u8]) -> Option<Vec<u8>> {
    let arg = |i: usize| argv.get(i);
    let ms_text = |ms: i128| ms.to_string().into_bytes();
    match name {
        "expire" | "pexpire" | "expireat" | "pexpireat" => {
            let n = i128::from(crate::cmd::parse_i64(arg(2))?);
            let ms = match name {
                "expire" => now_ms as i128 + n * 1000,
                "pexpire" => now_ms as i128 + n,
                "expireat" => n * 1000,
                _ => n,
            };
            Some(encode(&[b"PEXPIREAT", arg(1), &ms_text(ms)]))
        }
        "setex" | "psetex" => {
            let n = i128::from(crate::cmd::parse_i64(arg(2))?);
            let ms = now_ms as i128 + if name == "setex" { n * 1000 } else { n };
            Some(encode(&[b"SET", arg(1), arg(3), b"PXAT", &ms_text(ms)]))
        }
        "set" => Some(rewrite_set(argv, now_ms).unwrap_or_else(|| verbatim(argv))),
        "getex" => rewrite_getex(argv, now_ms),
        "restore" => Some(rewrite_restore(argv, now_ms)),
        "incrbyfloat" => Some(encode(&[b"SET", arg(1), &reply_bulk(reply)?, b"KEEPTTL"])),
        "hincrbyfloat" => Some(encode(&[b"HSET", arg(1), arg(2), &reply_bulk(reply)?])),
        "spop" => {
            let members = reply_members(reply);
            if members.is_empty() {
                return None;
            }
            let mut args: Vec<&[u8]> = vec![b"SREM", arg(1)];
            args.extend(members.iter().map(Vec::as_slice));
            Some(encode(&args))
        }
        _ if SELF_PROPAGATED.contains(&name) => None,
        _ => Some(verbatim(argv)),
    }
}

/// The command as received.
pub fn verbatim(argv: Argv<'_>) -> Vec<u8> {
    let payload: usize = argv.iter().map(|a| a.len() + 16).sum();
    let mut out = Vec::with_capacity(payload + 16);
    crate::client::encode_argv(&mut out, argv.len(), argv.iter());
    out
}

/// SET with EX, PX or EXAT → `SET key value PXAT ms` (NX, XX, GET dropped: it was applied).
/// `None`: no such option (PXAT, KEEPTTL or none), written as received.
fn rewrite_set(argv: Argv<'_>, now_ms: u64) -> Option<Vec<u8>> {
    let mut i = 3;
    while i < argv.len() {
        let opt = argv.get(i);
        let unit = if eq_ignore_case(opt, "ex") {
            Some((1000, true))
        } else if eq_ignore_case(opt, "px") {
            Some((1, true))
        } else if eq_ignore_case(opt, "exat") {
            Some((1000, false))
        } else {
            None
        };
        if let (Some((mul, relative)), true) = (unit, i + 1 < argv.len()) {
            let n = i128::from(crate::cmd::parse_i64(argv.get(i + 1))?);
            let ms = n * mul + if relative { now_ms as i128 } else { 0 };
            return Some(encode(&[b"SET", argv.get(1), argv.get(2), b"PXAT", ms.to_string().as_bytes()]));
        }
        i += 1;
    }
    None
}

/// RESTORE with a relative TTL → the absolute deadline and ABSTTL (Redis 7.0 rewrites it
/// the same way); otherwise as received.
fn rewrite_restore(argv: Argv<'_>, now_ms: u64) -> Vec<u8> {
    let ttl = crate::cmd::parse_i64(argv.get(2)).unwrap_or(0);
    let absttl = argv.iter().skip(4).any(|a| eq_ignore_case(a, "absttl"));
    if ttl <= 0 || absttl {
        return verbatim(argv);
    }
    let at = (now_ms as i128 + i128::from(ttl)).to_string();
    let mut args: Vec<&[u8]> = argv.iter().collect();
    args[2] = at.as_bytes();
    args.push(b"ABSTTL");
    encode(&args)
}

/// GETEX key EX|PX|EXAT|PXAT n → `PEXPIREAT key ms`; PERSIST → `PERSIST key`.
fn rewrite_getex(argv: Argv<'_>, now_ms: u64) -> Option<Vec<u8>> {
    let opt = argv.get(2);
    if argv.len() == 3 && eq_ignore_case(opt, "persist") {
        return Some(encode(&[b"PERSIST", argv.get(1)]));
    }
    if argv.len() != 4 {
        return None;
    }
    let n = i128::from(crate::cmd::parse_i64(argv.get(3))?);
    let ms = if eq_ignore_case(opt, "ex") {
        now_ms as i128 + n * 1000
    } else if eq_ignore_case(opt, "px") {
        now_ms as i128 + n
    } else if eq_ignore_case(opt, "exat") {
        n * 1000
    } else if eq_ignore_case(opt, "pxat") {
        n
    } else {
        return None;
    };
    Some(encode(&[b"PEXPIREAT", argv.get(1), ms.to_string().as_bytes()]))
}

/// The payload of a bulk reply (`$n\r\n...\r\n`).
fn reply_bulk(reply: &[u8]) -> Option<Vec<u8>> {
    let (item, _) = parse_bulk(reply)?;
    item
}

/// Parse one bulk string at the start of `buf`: (payload, or None for a null; bytes used).
fn parse_bulk(buf: &[u8]) -> Option<(Option<Vec<u8>>, usize)> {
    let line_end = buf.windows(2).position(|w| w == b"\r\n")?;
    let header = &buf[..line_end];
    match header.first()? {
        b'$' => {
            let n = crate::cmd::parse_i64(&header[1..])?;
            if n < 0 {
                return Some((None, line_end + 2));
            }
            let start = line_end + 2;
            let end = start.checked_add(n as usize)?;
            let payload = buf.get(start..end)?;
            Some((Some(payload.to_vec()), end + 2))
        }
        b'_' => Some((None, line_end + 2)),
        _ => None,
    }
}

/// The members of an SPOP reply: one bulk, or an array / set (RESP3 `~`) of bulks.
fn reply_members(reply: &[u8]) -> Vec<Vec<u8>> {
    let mut members = Vec::new();
    match reply.first() {
        Some(b'*' | b'~') => {
            let Some(line_end) = reply.windows(2).position(|w| w == b"\r\n") else { return members };
            let mut pos = line_end + 2;
            while pos < reply.len() {
                match parse_bulk(&reply[pos..]) {
                    Some((Some(m), used)) => {
                        members.push(m);
                        pos += used;
                    }
                    _ => break,
                }
            }
        }
        _ => {
            if let Some(Some(m)) = reply_bulk(reply).map(Some) {
                members.push(m);
            }
        }
    }
    members
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv_of(args: &[&str]) -> (Vec<u8>, Vec<std::ops::Range<usize>>) {
        let mut base = Vec::new();
        let mut ranges = Vec::new();
        for a in args {
            ranges.push(base.len()..base.len() + a.len());
            base.extend_from_slice(a.as_bytes());
        }
        (base, ranges)
    }

    fn rw(args: &[&str], now: u64, reply: &[u8]) -> Option<String> {
        let (base, ranges) = argv_of(args);
        let name = args[0].to_ascii_lowercase();
        rewrite(&name, Argv::from_parts(&base, &ranges), now, reply).map(|b| String::from_utf8(b).unwrap())
    }

    fn cmd(args: &[&str]) -> String {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        String::from_utf8(encode(&args)).unwrap()
    }

    #[test]
    fn relative_expiries_become_absolute_milliseconds() {
        let now = 1_700_000_000_000;
        assert_eq!(rw(&["EXPIRE", "k", "10", "NX"], now, b":1\r\n"), Some(cmd(&["PEXPIREAT", "k", "1700000010000"])));
        assert_eq!(rw(&["pexpire", "k", "5"], now, b""), Some(cmd(&["PEXPIREAT", "k", "1700000000005"])));
        assert_eq!(rw(&["expireat", "k", "7"], now, b""), Some(cmd(&["PEXPIREAT", "k", "7000"])));
        assert_eq!(
            rw(&["set", "k", "v", "NX", "EX", "2", "GET"], now, b""),
            Some(cmd(&["SET", "k", "v", "PXAT", "1700000002000"]))
        );
        assert_eq!(rw(&["set", "k", "v", "pxat", "99"], now, b""), Some(cmd(&["set", "k", "v", "pxat", "99"])));
        assert_eq!(rw(&["SETEX", "k", "3", "v"], now, b""), Some(cmd(&["SET", "k", "v", "PXAT", "1700000003000"])));
        assert_eq!(rw(&["psetex", "k", "3", "v"], now, b""), Some(cmd(&["SET", "k", "v", "PXAT", "1700000000003"])));
        assert_eq!(rw(&["getex", "k", "persist"], now, b""), Some(cmd(&["PERSIST", "k"])));
        assert_eq!(rw(&["getex", "k", "EX", "1"], now, b""), Some(cmd(&["PEXPIREAT", "k", "1700000001000"])));
        assert_eq!(
            rw(&["restore", "k", "5", "p"], now, b""),
            Some(cmd(&["restore", "k", "1700000000005", "p", "ABSTTL"]))
        );
        assert_eq!(
            rw(&["restore", "k", "5", "p", "absttl"], now, b""),
            Some(cmd(&["restore", "k", "5", "p", "absttl"]))
        );
        assert_eq!(rw(&["restore", "k", "0", "p"], now, b""), Some(cmd(&["restore", "k", "0", "p"])));
    }

    #[test]
    fn outcomes_replace_floats_and_randomness() {
        assert_eq!(rw(&["incrbyfloat", "f", "0.1"], 0, b"$3\r\n1.6\r\n"), Some(cmd(&["SET", "f", "1.6", "KEEPTTL"])));
        assert_eq!(rw(&["hincrbyfloat", "h", "x", "1"], 0, b"$1\r\n2\r\n"), Some(cmd(&["HSET", "h", "x", "2"])));
        assert_eq!(rw(&["spop", "s"], 0, b"$1\r\nz\r\n"), Some(cmd(&["SREM", "s", "z"])));
        assert_eq!(rw(&["spop", "s", "3"], 0, b"~2\r\n$1\r\na\r\n$2\r\nbc\r\n"), Some(cmd(&["SREM", "s", "a", "bc"])));
        assert_eq!(rw(&["spop", "s"], 0, b"$-1\r\n"), None);
        assert_eq!(rw(&["lpush", "l", "a"], 0, b":1\r\n"), Some(cmd(&["lpush", "l", "a"])));
    }
}
