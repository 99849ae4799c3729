//! The HyperLogLog commands, as Redis 7.0's `hyperloglog.c`: PFADD, PFCOUNT, PFMERGE,
//! PFDEBUG, PFSELFTEST. A HyperLogLog is a string value (see [`crate::hll`] for the bytes),
//! read and changed in place through the store's string access, so TTLs, DUMP / RESTORE and
//! the AOF treat it like any string. PFCOUNT of one key refreshes the cached cardinality in
//! the value when it is stale: a change of the key, propagated (`PFCOUNT key` in the AOF)
//! and seen by WATCH, as in Redis.

use super::{eq_ignore_case, Command, Ctx, Doc, ADMIN, DENYOOM, ERR_WRONGTYPE, FAST, MAY_REPLICATE, READONLY, WRITE};
use crate::hll::{self, Corrupt, Encoding};
use crate::protocol::Argv;
use crate::reply;
use crate::store::KeyView;

/// A string that is not a HyperLogLog (Redis's `isHLLObjectOrReply`).
pub const ERR_NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
/// Register data that does not decode (Redis's `invalid_hll_err`).
pub const ERR_CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";
const ERR_NO_KEY: &str = "ERR The specified key does not exist";
const ERR_NOT_SPARSE: &str = "ERR HLL encoding is not sparse";

pub const COMMANDS: &[Command] = &[
    Command { name: "pfadd", arity: -2, flags: WRITE | DENYOOM | FAST, keys: (1, 1, 1), handler: pfadd },
    Command { name: "pfcount", arity: -2, flags: READONLY | MAY_REPLICATE, keys: (1, -1, 1), handler: pfcount },
    Command { name: "pfmerge", arity: -2, flags: WRITE | DENYOOM, keys: (1, -1, 1), handler: pfmerge },
    Command { name: "pfdebug", arity: 3, flags: WRITE | DENYOOM | ADMIN, keys: (2, 2, 1), handler: pfdebug },
    Command { name: "pfselftest", arity: 1, flags: ADMIN, keys: (0, 0, 0), handler: pfselftest },
];

/// Documentation of this family's commands (see [`super::Doc`]).
pub const DOCS: &[Doc] = &[
    Doc {
        name: "pfadd",
        group: "hyperloglog",
        since: "2.8.9",
        summary: "Add elements to a HyperLogLog, creating it if needed.",
        syntax: "key [element [element ...]]",
    },
    Doc {
        name: "pfcount",
        group: "hyperloglog",
        since: "2.8.9",
        summary: "Approximate number of distinct elements in a HyperLogLog, or in the union of several.",
        syntax: "key [key ...]",
    },
    Doc {
        name: "pfmerge",
        group: "hyperloglog",
        since: "2.8.9",
        summary: "Store the union of HyperLogLogs in a key.",
        syntax: "destkey [sourcekey [sourcekey ...]]",
    },
    Doc {
        name: "pfdebug",
        group: "hyperloglog",
        since: "2.8.9",
        summary: "Internal: inspect or convert a HyperLogLog (GETREG, DECODE, ENCODING, TODENSE).",
        syntax: "subcommand key",
    },
    Doc {
        name: "pfselftest",
        group: "hyperloglog",
        since: "2.8.9",
        summary: "Internal: run the HyperLogLog self test.",
        syntax: "",
    },
];

/// Why a command on a HyperLogLog failed.
#[derive(Debug)]
enum Failure {
    /// A value of another type.
    WrongType,
    /// A string that is not a HyperLogLog.
    NotHll,
    Corrupt,
}

impl Failure {
    fn text(&self) -> &'static str {
        match self {
            Failure::WrongType => ERR_WRONGTYPE,
            Failure::NotHll => ERR_NOT_HLL,
            Failure::Corrupt => ERR_CORRUPT,
        }
    }
}

impl From<Corrupt> for Failure {
    fn from(_: Corrupt) -> Self {
        Failure::Corrupt
    }
}

/// The key's HyperLogLog encoding: `None` if the key is absent, an error if it holds
/// another type or a string that is not a HyperLogLog.
fn check(k: &mut KeyView<'_>) -> Result<Option<Encoding>, Failure> {
    match k.string().map_err(|_| Failure::WrongType)? {
        None => Ok(None),
        Some(v) => hll::encoding(v).map(Some).ok_or(Failure::NotHll),
    }
}

fn sparse_max_bytes(ctx: &Ctx<'_>) -> u64 {
    ctx.shared.tunables.hll_sparse_max_bytes()
}

/// PFADD key [element ...]
fn pfadd(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let max_bytes = sparse_max_bytes(ctx);
    let elements = || argv.iter().skip(2);
    let result: Result<bool, Failure> = ctx.shared.store.with_key(ctx.db(), argv.get(1), ctx.now_ms, |k| {
        if check(k)?.is_none() {
            // A new key counts as an update even with no elements (Redis replies 1).
            let mut v = hll::new_sparse();
            for e in elements() {
                hll::add(&mut v, e, max_bytes)?;
            }
            hll::invalidate(&mut v);
            k.set(v, None);
            return Ok(true);
        }
        // Registers raised before a corrupt part is met stay raised (as in Redis), but the
        // key is not signalled as changed.
        let updated = k
            .string_mut(|v| -> Result<bool, Corrupt> {
                let mut updated = false;
                for e in elements() {
                    updated |= hll::add(v, e, max_bytes)?;
                }
                if updated {
                    hll::invalidate(v);
                }
                Ok(updated)
            })
            .map_err(|_| Failure::WrongType)?
            .unwrap_or(Ok(false))?;
        if updated {
            k.touch();
        }
        Ok(updated)
    });
    match result {
        Ok(updated) => reply::integer(ctx.out, updated as i64),
        Err(e) => ctx.error(e.text()),
    }
}

/// PFCOUNT key [key ...]
fn pfcount(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let result = if argv.len() > 2 { count_union(ctx, argv) } else { count_one(ctx, argv.get(1)) };
    match result {
        // Redis replies the unsigned cardinality as a signed 64-bit integer.
        Ok(n) => reply::integer(ctx.out, n as i64),
        Err(e) => ctx.error(e.text()),
    }
}

/// PFCOUNT of one key: the cached cardinality, or a fresh count written back to the cache.
fn count_one(ctx: &mut Ctx<'_>, key: &[u8]) -> Result<u64, Failure> {
    ctx.shared.store.with_key(ctx.db(), key, ctx.now_ms, |k| {
        if check(k)?.is_none() {
            return Ok(0);
        }
        let v = k.string().map_err(|_| Failure::WrongType)?.unwrap_or_default();
        if let Some(card) = hll::cached(v) {
            return Ok(card);
        }
        let card = hll::count(v)?;
        k.string_mut(|v| hll::store_cached(v, card)).map_err(|_| Failure::WrongType)?;
        k.touch();
        Ok(card)
    })
}

/// The union of the HyperLogLogs at `keys` (absent ones are empty) as one register per byte.
fn union(ctx: &Ctx<'_>, keys: &[&[u8]]) -> Result<(Vec<u8>, bool), Failure> {
    let db = ctx.db();
    let located: Vec<(usize, &[u8])> = keys.iter().map(|k| (db, *k)).collect();
    ctx.shared.store.with_keys(&located, ctx.now_ms, |m| {
        let mut max = vec![0u8; hll::REGISTERS];
        let mut any_dense = false;
        for i in 0..keys.len() {
            let mut k = m.key(i);
            let Some(enc) = check(&mut k)? else { continue };
            any_dense |= enc == Encoding::Dense;
            let v = k.string().map_err(|_| Failure::WrongType)?.unwrap_or_default();
            hll::merge_into(&mut max, v)?;
        }
        Ok((max, any_dense))
    })
}

/// PFCOUNT of several keys: the count of their union (nothing is written).
fn count_union(ctx: &Ctx<'_>, argv: Argv<'_>) -> Result<u64, Failure> {
    let keys: Vec<&[u8]> = argv.iter().skip(1).collect();
    let (max, _) = union(ctx, &keys)?;
    Ok(hll::count_registers(&max))
}

/// PFMERGE destkey sourcekey [sourcekey ...]
fn pfmerge(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    match merge(ctx, argv) {
        Ok(()) => ctx.ok(),
        Err(e) => ctx.error(e.text()),
    }
}

/// The union of every key named (destkey included, as in Redis), written into destkey:
/// dense if any input was dense, else sparse (promoted as it grows).
fn merge(ctx: &Ctx<'_>, argv: Argv<'_>) -> Result<(), Failure> {
    let keys: Vec<&[u8]> = argv.iter().skip(1).collect();
    let (max, any_dense) = union(ctx, &keys)?;
    let max_bytes = sparse_max_bytes(ctx);
    let write = |v: &mut Vec<u8>| -> Result<(), Corrupt> {
        if any_dense {
            hll::to_dense(v)?;
        }
        for (i, &r) in max.iter().enumerate().filter(|(_, &r)| r != 0) {
            // As Redis: a failure of the sparse update here is ignored.
            let _ = hll::set_register(v, i, r, max_bytes);
        }
        hll::invalidate(v);
        Ok(())
    };
    ctx.shared.store.with_key(ctx.db(), keys[0], ctx.now_ms, |k| {
        match k.string_mut(write).map_err(|_| Failure::WrongType)? {
            Some(done) => done?,
            None => {
                let mut v = hll::new_sparse();
                write(&mut v)?;
                k.set(v, None);
            }
        }
        k.touch();
        Ok(())
    })
}

/// PFDEBUG <GETREG | DECODE | ENCODING | TODENSE> key
fn pfdebug(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let sub = argv.get(1);
    let result = ctx.shared.store.with_key(ctx.db(), argv.get(2), ctx.now_ms, |k| {
        let Some(enc) = check(k).map_err(|e| e.text())? else { return Err(ERR_NO_KEY) };
        let v = k.string().map_err(|_| ERR_WRONGTYPE)?.unwrap_or_default();
        if eq_ignore_case(sub, "encoding") {
            return Ok(Debug::Status(if enc == Encoding::Dense { "dense" } else { "sparse" }));
        }
        if eq_ignore_case(sub, "decode") {
            return if enc == Encoding::Sparse { Ok(Debug::Text(hll::sparse::decode(v))) } else { Err(ERR_NOT_SPARSE) };
        }
        let getreg = eq_ignore_case(sub, "getreg");
        if !getreg && !eq_ignore_case(sub, "todense") {
            return Ok(Debug::Unknown);
        }
        let mut converted = false;
        if enc == Encoding::Sparse {
            let done = k.string_mut(hll::to_dense).map_err(|_| ERR_WRONGTYPE)?.unwrap_or(Ok(false));
            converted = done.map_err(|_| ERR_CORRUPT)?;
            // Redis forces the propagation of the conversion.
            k.touch();
        }
        if !getreg {
            return Ok(Debug::Converted(converted));
        }
        let v = k.string().map_err(|_| ERR_WRONGTYPE)?.unwrap_or_default();
        let regs = v.get(hll::HDR_SIZE..).unwrap_or_default();
        Ok(Debug::Registers((0..hll::REGISTERS).map(|i| hll::dense::get(regs, i)).collect()))
    });
    match result {
        Ok(Debug::Status(s)) => reply::simple(ctx.out, s.as_bytes()),
        Ok(Debug::Text(t)) => reply::bulk(ctx.out, t.as_bytes()),
        Ok(Debug::Converted(c)) => reply::integer(ctx.out, c as i64),
        Ok(Debug::Registers(regs)) => {
            reply::array(ctx.out, regs.len());
            for r in regs {
                reply::integer(ctx.out, i64::from(r));
            }
        }
        Ok(Debug::Unknown) => {
            let msg = format!("ERR Unknown PFDEBUG subcommand '{}'", String::from_utf8_lossy(sub));
            ctx.error(&msg);
        }
        Err(e) => ctx.error(e),
    }
}

/// What a PFDEBUG subcommand replies.
enum Debug {
    Status(&'static str),
    Text(String),
    Converted(bool),
    Registers(Vec<u8>),
    Unknown,
}

/// PFSELFTEST
fn pfselftest(ctx: &mut Ctx<'_>, _argv: Argv<'_>) {
    let seed = crate::store::now_us() ^ ctx.client.id.rotate_left(32);
    match hll::selftest::run(seed, sparse_max_bytes(ctx)) {
        Ok(()) => ctx.ok(),
        Err(msg) => ctx.error(&msg),
    }
}

#[cfg(test)]
mod tests {
    use crate::cmd::{run_for_test, run_line_for_test, ClientState};
    use crate::config::Config;
    use crate::shared::Shared;

    /// Replies captured from redis-server 7.0.15 for the same lines.
    #[test]
    fn replies_match_redis() {
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        let mut r = |line: &str| run_line_for_test(&shared, &mut c, line);
        for (line, want) in [
            ("PFADD h", ":1\r\n"),
            ("PFADD h", ":0\r\n"),
            ("PFCOUNT h", ":0\r\n"),
            ("PFADD h a b c hello world", ":1\r\n"),
            ("PFADD h a", ":0\r\n"),
            ("PFCOUNT h", ":5\r\n"),
            ("PFCOUNT nokey", ":0\r\n"),
            ("PFCOUNT nokey h nokey2", ":5\r\n"),
            ("PFADD g x y", ":1\r\n"),
            ("PFCOUNT h g", ":7\r\n"),
            ("PFMERGE m h g", "+OK\r\n"),
            ("PFCOUNT m", ":7\r\n"),
            ("PFDEBUG ENCODING m", "+sparse\r\n"),
            ("PFDEBUG DECODE g", "$30\r\nZ:14932 v:3,1 Z:1441 v:2,1 z:9\r\n"),
            ("PFDEBUG TODENSE m", ":1\r\n"),
            ("PFDEBUG TODENSE m", ":0\r\n"),
            ("PFDEBUG ENCODING m", "+dense\r\n"),
            ("PFDEBUG DECODE m", "-ERR HLL encoding is not sparse\r\n"),
            ("PFMERGE m2 g m", "+OK\r\n"),
            ("PFDEBUG ENCODING m2", "+dense\r\n"),
            ("PFCOUNT m2", ":7\r\n"),
            ("PFDEBUG foo h", "-ERR Unknown PFDEBUG subcommand 'foo'\r\n"),
            ("PFDEBUG GETREG nokey", "-ERR The specified key does not exist\r\n"),
            ("SET s hello", "+OK\r\n"),
            ("PFADD s x", "-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n"),
            ("PFCOUNT s", "-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n"),
            ("PFCOUNT h s", "-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n"),
            ("PFMERGE h s", "-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n"),
            ("PFDEBUG ENCODING s", "-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n"),
            ("RPUSH l x", ":1\r\n"),
            ("PFADD l x", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
            ("PFCOUNT l", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
            ("PFMERGE l h", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
            ("PFMERGE new l", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
            ("EXISTS new", ":0\r\n"),
            ("PFSELFTEST", "+OK\r\n"),
        ] {
            assert_eq!(r(line), want, "{line}");
        }
        let regs = r("PFDEBUG GETREG g");
        assert!(regs.starts_with("*16384\r\n:0\r\n"), "{}", &regs[..20]);
        assert_eq!((regs.matches(":3\r\n").count(), regs.matches(":2\r\n").count()), (1, 1), "g's two registers");
        assert_eq!(r("PFDEBUG ENCODING g"), "+dense\r\n", "GETREG converts, as Redis");
    }

    /// PFCOUNT refreshes the cache in the stored bytes; corrupt register data is INVALIDOBJ.
    #[test]
    fn cache_refresh_and_corrupt_data() {
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        let mut raw = |args: &[&[u8]]| run_for_test(&shared, &mut c, args);
        raw(&[b"PFADD", b"h", b"a", b"b", b"c", b"hello", b"world"]);
        let stale = raw(&[b"GET", b"h"]);
        assert_eq!(stale[5 + 15], 0x80, "cache marked stale by PFADD");
        assert_eq!(raw(&[b"PFCOUNT", b"h"]), b":5\r\n");
        let fresh = raw(&[b"GET", b"h"]);
        assert_eq!(&fresh[5 + 8..5 + 16], &[5, 0, 0, 0, 0, 0, 0, 0], "cardinality 5 cached");
        // A valid header whose registers cover only 16383 registers.
        let mut bad = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80".to_vec();
        bad.extend_from_slice(&[0x7f, 0xfe]);
        raw(&[b"SET", b"bad", &bad]);
        let corrupt = b"-INVALIDOBJ Corrupted HLL object detected\r\n";
        assert_eq!(raw(&[b"PFCOUNT", b"bad"]), corrupt);
        assert_eq!(raw(&[b"PFCOUNT", b"bad", b"h"]), corrupt);
        assert_eq!(raw(&[b"PFMERGE", b"d", b"bad"]), corrupt);
        assert_eq!(raw(&[b"PFDEBUG", b"TODENSE", b"bad"]), corrupt);
        assert_eq!(raw(&[b"EXISTS", b"d"]), b":0\r\n");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

        /// Any bytes in a key (mostly behind a valid header, so the register decoders run):
        /// every PF command replies a value or an error and the server state stays usable.
        #[test]
        fn hostile_values_get_replies(
            header in proptest::sample::select(vec![&b"HYLL\x01\0\0\0"[..], b"HYLL\x00\0\0\0", b"HYLL", b""]),
            card in proptest::prelude::any::<[u8; 8]>(),
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..48),
            element in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..8),
        ) {
            let shared = Shared::new(Config::defaults());
            let mut c = ClientState::new(&shared);
            let mut raw = |args: &[&[u8]]| run_for_test(&shared, &mut c, args);
            let mut value = header.to_vec();
            value.extend_from_slice(&card);
            value.extend_from_slice(&body);
            raw(&[b"SET", b"k", &value]);
            raw(&[b"PFADD", b"ok", b"a"]);
            for args in [
                &[&b"PFADD"[..], b"k", &element][..],
                &[b"PFCOUNT", b"k"],
                &[b"PFCOUNT", b"k", b"ok"],
                &[b"PFMERGE", b"d", b"ok", b"k"],
                &[b"PFDEBUG", b"DECODE", b"k"],
                &[b"PFDEBUG", b"GETREG", b"k"],
                &[b"PFADD", b"k", b"x", b"y", b"z"],
            ] {
                let reply = raw(args);
                proptest::prop_assert!(matches!(reply.first(), Some(b':' | b'+' | b'-' | b'*' | b'$')), "{:?}", reply);
            }
            proptest::prop_assert_eq!(raw(&[b"PFCOUNT", b"ok"]), b":1\r\n".to_vec());
        }
    }
}
