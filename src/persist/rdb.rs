//! The RDB format, version 10 (what Redis 7.0 writes): the snapshot file (`dump.rdb`) and
//! the DUMP / RESTORE payload. Pure bytes in, bytes out: the keyspace walk, the files and
//! the commands are elsewhere (`durability::rdb_save`, `cmd::dump`).
//!
//! # File layout (`rdbSaveRio`)
//!
//! ```text
//! "REDIS0010"
//! AUX redis-ver, redis-bits, ctime, used-mem, aof-base        (opcode 250, two strings)
//! FUNCTION2 <library code>                                    (opcode 245, per library)
//! per non-empty database:
//!     SELECTDB <db>  RESIZEDB <keys> <keys with a deadline>   (254, 251)
//!     [EXPIRETIME_MS <u64 LE>] <type> <key> <value>            (252 ...)
//! EOF  CRC-64/Jones of everything before, little-endian       (255, 8 bytes; 0 = not computed)
//! ```
//!
//! A DUMP payload is one `<type> <value>`, then the RDB version (u16 LE) and the CRC64 of the
//! bytes before it (`createDumpPayload`).
//!
//! Values: [`value`] (every type and encoding), primitives in [`encoding`], checksum in
//! [`crc64`], compressed strings in [`lzf`]. Loading reads a slice already in memory; every
//! count and length is checked against the bytes left before use, so any corrupt input is an
//! [`RdbError`] naming what and where, never a panic (fuzzed in the tests below).

use std::borrow::Cow;

pub mod crc64;
pub mod encoding;
pub mod lzf;
pub mod value;

use encoding::{write_length, write_string, Reader};

/// The RDB version ringkv writes (Redis 7.0's `RDB_VERSION`); files and payloads up to it load.
pub const RDB_VERSION: u16 = 10;
/// The file magic before the four-digit version.
const MAGIC: &[u8] = b"REDIS";
/// The Redis version the AUX field `redis-ver` announces (the semantics ringkv follows).
pub const REDIS_VER: &str = "7.0.15";

/// Opcodes (`rdb.h`).
const OPCODE_FUNCTION2: u8 = 245;
const OPCODE_FUNCTION: u8 = 246;
const OPCODE_MODULE_AUX: u8 = 247;
const OPCODE_IDLE: u8 = 248;
const OPCODE_FREQ: u8 = 249;
const OPCODE_AUX: u8 = 250;
const OPCODE_RESIZEDB: u8 = 251;
const OPCODE_EXPIRETIME_MS: u8 = 252;
const OPCODE_EXPIRETIME: u8 = 253;
const OPCODE_SELECTDB: u8 = 254;
const OPCODE_EOF: u8 = 255;

/// What is wrong with a file or payload (where, in the message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdbError(String);

impl RdbError {
    pub fn new(what: String) -> RdbError {
        RdbError(what)
    }
}

impl std::fmt::Display for RdbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RdbError {}

/// The AUX fields written at the start of a file.
pub struct Aux {
    pub ctime_unix: u64,
    pub used_mem: u64,
    /// The file is an AOF directory's base (`aof-base 1`), not a dump.rdb.
    pub aof_base: bool,
}

/// The file's beginning: magic, version, AUX fields, the function libraries.
pub fn write_header(out: &mut Vec<u8>, aux: &Aux, functions: &[Vec<u8>]) {
    out.extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
    let mut field = |k: &str, v: &str| {
        out.push(OPCODE_AUX);
        write_string(out, k.as_bytes());
        write_string(out, v.as_bytes());
    };
    field("redis-ver", REDIS_VER);
    field("redis-bits", "64");
    field("ctime", &aux.ctime_unix.to_string());
    field("used-mem", &aux.used_mem.to_string());
    field("aof-base", if aux.aof_base { "1" } else { "0" });
    for code in functions {
        out.push(OPCODE_FUNCTION2);
        write_string(out, code);
    }
}

/// A database's beginning: SELECTDB and the RESIZEDB hint.
pub fn write_db_start(out: &mut Vec<u8>, db: usize, keys: usize, expires: usize) {
    out.push(OPCODE_SELECTDB);
    write_length(out, db as u64);
    out.push(OPCODE_RESIZEDB);
    write_length(out, keys as u64);
    write_length(out, expires as u64);
}

/// One key: its deadline if any, then type, key and value (`rdbSaveKeyValuePair`).
pub fn write_key<'a>(
    out: &mut Vec<u8>,
    key: &[u8],
    value: impl Into<crate::types::ValueRef<'a>>,
    expire_at_ms: Option<u64>,
) {
    if let Some(at) = expire_at_ms {
        out.push(OPCODE_EXPIRETIME_MS);
        out.extend_from_slice(&at.to_le_bytes());
    }
    let start = out.len();
    value::write_value(out, value.into());
    // The key goes between the type byte and the value.
    let mut k = Vec::with_capacity(key.len() + 9);
    write_string(&mut k, key);
    out.splice(start + 1..start + 1, k);
}

/// The EOF opcode and checksum; `crc` is the running CRC64 of everything written before
/// (`None`: `rdbchecksum no`, written as 0 which loaders skip).
pub fn eof_trailer(crc: Option<u64>) -> [u8; 9] {
    let mut t = [0u8; 9];
    t[0] = OPCODE_EOF;
    let crc = crc.map_or(0, |c| crc64::update(c, &[OPCODE_EOF]));
    t[1..].copy_from_slice(&crc.to_le_bytes());
    t
}

/// A DUMP payload for `value`.
pub fn dump_payload<'a>(value: impl Into<crate::types::ValueRef<'a>>) -> Vec<u8> {
    let mut out = Vec::new();
    value::write_value(&mut out, value.into());
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64::crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// `verifyDumpPayload`: the footer's version is one we read and the checksum matches.
pub fn verify_payload(payload: &[u8]) -> bool {
    if payload.len() < 10 {
        return false;
    }
    let (body, crc) = payload.split_at(payload.len() - 8);
    let version = u16::from_le_bytes([body[body.len() - 2], body[body.len() - 1]]);
    version <= RDB_VERSION && crc64::crc64(body).to_le_bytes() == crc
}

/// The value of a verified payload; `Err`: RESTORE's "Bad data format" (also for an
/// empty collection, as Redis).
pub fn read_payload(payload: &[u8]) -> Result<crate::types::Value, RdbError> {
    let body = &payload[..payload.len().saturating_sub(10)];
    let mut r = Reader::new(body);
    let ty = r.u8()?;
    let v = value::read_value(&mut r, ty)?.ok_or_else(|| RdbError::new("empty value".into()))?;
    if r.remaining() != 0 {
        return Err(r.err("trailing bytes"));
    }
    Ok(v)
}

/// What a file holds, handed to the loader's callback in file order.
pub enum Item<'a> {
    /// An AUX field.
    Aux(Cow<'a, [u8]>, Cow<'a, [u8]>),
    /// A function library's code.
    Function(Cow<'a, [u8]>),
    /// A key of database `db`; `expire_at_ms` as stored (the caller drops expired keys).
    Key { db: usize, key: Cow<'a, [u8]>, value: crate::types::Value, expire_at_ms: Option<u64> },
}

/// Read a whole file, calling `f` per item; `check_crc`: verify the trailer (Redis's
/// `rdbchecksum`; a stored 0 is never checked). Returns the file's RDB version.
pub fn load(buf: &[u8], check_crc: bool, mut f: impl FnMut(Item<'_>) -> Result<(), RdbError>) -> Result<u16, RdbError> {
    let mut r = Reader::new(buf);
    let version = read_magic(&mut r)?;
    let mut db = 0usize;
    let mut expire: Option<u64> = None;
    loop {
        let op = r.u8()?;
        match op {
            OPCODE_EOF => break,
            OPCODE_SELECTDB => db = usize::try_from(r.length()?).map_err(|_| r.err("database index"))?,
            OPCODE_RESIZEDB => {
                r.length()?;
                r.length()?;
            }
            OPCODE_EXPIRETIME_MS => expire = Some(u64::from_le_bytes(r.array()?)),
            OPCODE_EXPIRETIME => expire = Some(u64::from(u32::from_le_bytes(r.array()?)) * 1000),
            OPCODE_IDLE => {
                r.length()?;
            }
            OPCODE_FREQ => {
                r.u8()?;
            }
            OPCODE_AUX => {
                let (k, v) = (r.string()?, r.string()?);
                f(Item::Aux(k, v))?;
            }
            OPCODE_FUNCTION2 => f(Item::Function(r.string()?))?,
            OPCODE_FUNCTION => return Err(r.err("pre-7.0 function records (RDB_OPCODE_FUNCTION) are not supported")),
            OPCODE_MODULE_AUX => return Err(r.err("module data is not supported")),
            ty => {
                let key = r.string()?;
                let value = value::read_value(&mut r, ty)?;
                if let Some(value) = value {
                    f(Item::Key { db, key, value, expire_at_ms: expire })?;
                }
                expire = None;
            }
        }
    }
    if version >= 5 {
        let end = r.pos();
        let stored = u64::from_le_bytes(r.array()?);
        if check_crc && stored != 0 && stored != crc64::crc64(&buf[..end]) {
            return Err(RdbError::new("wrong RDB checksum".into()));
        }
    }
    Ok(version)
}

/// "REDIS" and four digits; versions above ours are refused as Redis does.
fn read_magic(r: &mut Reader<'_>) -> Result<u16, RdbError> {
    let head = r.bytes(9).map_err(|_| RdbError::new("too short for an RDB file".into()))?;
    if &head[..5] != MAGIC {
        return Err(RdbError::new("wrong signature trying to load DB from file".into()));
    }
    let version = std::str::from_utf8(&head[5..])
        .ok()
        .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| RdbError::new("wrong signature trying to load DB from file".into()))?;
    if version == 0 || version > RDB_VERSION {
        return Err(RdbError::new(format!("Can't handle RDB format version {version}")));
    }
    Ok(version)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::types::{Hash, List, Set, Value, ZSet};
    use proptest::prelude::*;

    /// A value as sorted text, to compare contents whatever the iteration order.
    pub fn canonical(v: &Value) -> Vec<String> {
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let mut out: Vec<String> = match v {
            Value::Str(b) => return vec![s(b)],
            Value::List(l) => return l.iter().map(s).collect(),
            Value::Set(x) => x.iter().map(|m| s(&m)).collect(),
            Value::Hash(h) => h.iter().map(|(f, v)| format!("{}={}", s(f), s(v))).collect(),
            Value::ZSet(z) => z.iter().into_iter().map(|(m, sc)| format!("{}={sc:?}", s(m))).collect(),
        };
        out.sort();
        out
    }

    fn sample_file(check: bool) -> Vec<u8> {
        let mut out = Vec::new();
        write_header(&mut out, &Aux { ctime_unix: 1, used_mem: 2, aof_base: false }, &[b"#!lua name=x".to_vec()]);
        write_db_start(&mut out, 3, 2, 1);
        write_key(&mut out, b"k", &Value::Str(b"v".to_vec()), Some(123));
        let mut z = ZSet::new();
        z.insert(b"m", 1.5);
        write_key(&mut out, b"z", &Value::ZSet(Box::new(z)), None);
        let crc = check.then(|| crc64::crc64(&out));
        out.extend_from_slice(&eof_trailer(crc));
        out
    }

    fn collect(buf: &[u8]) -> Result<Vec<String>, RdbError> {
        let mut seen = Vec::new();
        load(buf, true, |item| {
            seen.push(match item {
                Item::Aux(k, _) => format!("aux {}", String::from_utf8_lossy(&k)),
                Item::Function(c) => format!("fn {}", String::from_utf8_lossy(&c)),
                Item::Key { db, key, value, expire_at_ms } => {
                    format!("{db} {} {:?} {expire_at_ms:?}", String::from_utf8_lossy(&key), canonical(&value))
                }
            });
            Ok(())
        })?;
        Ok(seen)
    }

    #[test]
    fn a_file_round_trips_with_aux_functions_databases_and_deadlines() {
        let seen = collect(&sample_file(true)).unwrap();
        assert_eq!(seen.iter().filter(|s| s.starts_with("aux")).count(), 5);
        assert!(seen.contains(&"fn #!lua name=x".to_string()));
        assert!(seen.contains(&"3 k [\"v\"] Some(123)".to_string()));
        assert!(seen.contains(&"3 z [\"m=1.5\"] None".to_string()));
        assert!(collect(&sample_file(false)).is_ok(), "a zero checksum is not checked");
        let mut bad = sample_file(true);
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert_eq!(collect(&bad).unwrap_err().to_string(), "wrong RDB checksum");
        let mut future = sample_file(true);
        future[5..9].copy_from_slice(b"0011");
        assert_eq!(collect(&future).unwrap_err().to_string(), "Can't handle RDB format version 11");
    }

    #[test]
    fn dump_payloads_verify_and_round_trip() {
        let p = dump_payload(&Value::Str(b"hello".to_vec()));
        assert!(verify_payload(&p));
        assert_eq!(read_payload(&p).unwrap(), &b"hello");
        let mut bad = p.clone();
        bad[2] ^= 1;
        assert!(!verify_payload(&bad));
        assert!(!verify_payload(b"short"));
        // Redis 7.0's DUMP of the string "hello" (checked against redis-server).
        assert_eq!(p, b"\x00\x05hello\n\x00cr\xdfve4 \n".to_vec());
        let mut list = List::new();
        for i in [&b"1"[..], b"2", b"abc"] {
            list.push_back(i);
        }
        let want =
            b"\x12\x01\x02\x10\x10\x00\x00\x00\x03\x00\x01\x01\x02\x01\x83abc\x04\xff\n\x00\xc54\xae\r\xdc#\xb9\xee";
        assert_eq!(dump_payload(&Value::List(Box::new(list))), want.to_vec(), "Redis 7.0's DUMP of RPUSH l 1 2 abc");
    }

    /// Corrupted copies the fuzz loop below tries (a few seconds in a debug build).
    const RANDOM_CORRUPTIONS: usize = 4_000;

    #[test]
    fn random_corruptions_of_a_file_never_panic() {
        let mut list = List::new();
        let mut hash = Hash::new();
        let mut set = Set::new();
        for i in 0..300 {
            list.push_back(format!("{i}").as_bytes());
            hash.set(format!("f{i}").as_bytes(), b"v");
            set.add(format!("s{i}").as_bytes());
        }
        let mut base = sample_file(true);
        base.truncate(base.len() - 9);
        for (k, v) in [
            (b"l", Value::List(Box::new(list))),
            (b"h", Value::Hash(Box::new(hash))),
            (b"s", Value::Set(Box::new(set))),
        ] {
            write_key(&mut base, k, &v, None);
        }
        base.extend_from_slice(&eof_trailer(None));
        assert!(collect(&base).is_ok());
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..RANDOM_CORRUPTIONS {
            let mut f = base.clone();
            for _ in 0..(next() % 4 + 1) {
                let at = (next() % f.len() as u64) as usize;
                f[at] = next() as u8;
            }
            if next() % 5 == 0 {
                f.truncate((next() % f.len() as u64) as usize + 1);
            }
            let _ = collect(&f);
            let _ = read_payload(f.get(9..).unwrap_or(&[]));
        }
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut f = b"REDIS0010".to_vec();
            f.extend_from_slice(&bytes);
            let _ = collect(&f);
            let _ = read_payload(&bytes);
            let _ = encoding::read_listpack(&bytes);
            let _ = encoding::read_ziplist(&bytes);
        }

        #[test]
        fn strings_and_lists_round_trip(items in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..50)) {
            let mut list = List::new();
            for i in &items {
                list.push_back(i);
            }
            let v = Value::List(Box::new(list));
            let back = read_payload(&dump_payload(&v)).unwrap();
            let got: Vec<Vec<u8>> = match &back { Value::List(l) => l.iter().map(<[u8]>::to_vec).collect(), _ => vec![] };
            prop_assert_eq!(got, items.clone());
            let s = Value::Str(items.concat());
            let back = read_payload(&dump_payload(&s)).unwrap();
            prop_assert_eq!(back.as_str(), Some(&items.concat()));
        }
    }
}
