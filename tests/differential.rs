//! Differential test, run once per engine: random command sequences (proptest) go to a
//! running server and to a small in-test model of Redis's string semantics; every raw reply
//! must match the model's byte for byte, and after each sequence the keyspace must too.
//!
//! The model is written from Redis's behaviour (t_string.c, expire.c, server.c), not from
//! ringkv's code: SET with NX/XX/GET/EX/PX/KEEPTTL, GET, DEL, EXISTS, INCR/DECR/INCRBY/DECRBY
//! at the i64 edges, APPEND, STRLEN, GETRANGE, MGET, MSET, GETDEL, GETSET, SETNX, SETRANGE,
//! TTL/EXPIRE/PERSIST, TYPE, wrong arity and unknown commands; binary keys and values with
//! NUL, CR and LF. Long TTLs are followed as "has a TTL of about n seconds"; a 1 ms TTL is
//! followed by a pause longer than it, after which the model drops the key.
//!
//! One server per engine; FLUSHALL between cases. Cases: DIFF_CASES (PROPTEST_CASES overrides).

mod common;
mod replies;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::{resp, Engine, Server};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use replies::ReplyReader;

engine_tests!(random_command_sequences_match_the_model);

/// Sequences per engine, and commands per sequence.
const DIFF_CASES: u32 = 64;
const DIFF_COMMANDS_MAX: usize = 40;
/// Pause after a `PX 1` SET: the key has certainly expired by the next command.
const SHORT_TTL_PAUSE: Duration = Duration::from_millis(3);
/// A TTL reply may be this many seconds under the model's (time passes during a case).
const TTL_SLACK_S: i64 = 3;

/// Keys the sequences use: few, so commands collide; binary ones included.
const KEYS: [&[u8]; 6] = [b"k", b"\0", b"a\r\nb", b"\xff\xfe\x00", b"key with spaces", b""];

/// Integer edge cases and almost-integers, as values and as increments.
const NUMBERS: [&[u8]; 18] = [
    b"0",
    b"1",
    b"-1",
    b"9223372036854775807",
    b"9223372036854775806",
    b"-9223372036854775808",
    b"-9223372036854775807",
    b"01",
    b"+1",
    b" 1",
    b"1 ",
    b"-0",
    b"abc",
    b"",
    b"1.5",
    b"18446744073709551616",
    b"\r\n",
    b"100",
];

// ---- operations --------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum TtlOpt {
    /// EX n with a long n (seconds).
    Ex(i64),
    /// PX 1: gone by the next command.
    Px1,
    KeepTtl,
}

#[derive(Clone, Debug)]
enum Op {
    Set {
        key: usize,
        val: Vec<u8>,
        nx: bool,
        xx: bool,
        get: bool,
        ttl: Option<TtlOpt>,
    },
    /// SET with options Redis rejects: the reply is the error, nothing changes.
    SetBad {
        key: usize,
        opts: Vec<&'static [u8]>,
        error: &'static str,
    },
    SetNx(usize, Vec<u8>),
    Get(usize),
    Del(Vec<usize>),
    Exists(Vec<usize>),
    Incr(usize),
    Decr(usize),
    IncrBy(usize, Vec<u8>),
    DecrBy(usize, Vec<u8>),
    Append(usize, Vec<u8>),
    Strlen(usize),
    GetRange(usize, Vec<u8>, Vec<u8>),
    Mget(Vec<usize>),
    Mset(Vec<(usize, Vec<u8>)>),
    GetDel(usize),
    GetSet(usize, Vec<u8>),
    SetRange(usize, Vec<u8>, Vec<u8>),
    Ttl(usize),
    Expire(usize, Vec<u8>),
    Persist(usize),
    Type(usize),
    /// A known command with the wrong number of arguments.
    WrongArity(Vec<&'static [u8]>),
    /// An unknown command name with printable arguments.
    Unknown(&'static [u8], Vec<Vec<u8>>),
}

/// Mix the case of a command name (commands are case-insensitive).
fn cased(name: &str, mask: u32) -> Vec<u8> {
    name.bytes().enumerate().map(|(i, b)| if mask >> (i % 32) & 1 == 1 { b.to_ascii_lowercase() } else { b }).collect()
}

impl Op {
    /// The request's arguments; `mask` mixes the case of the command name.
    fn argv(&self, mask: u32) -> Vec<Vec<u8>> {
        let k = |i: &usize| KEYS[*i].to_vec();
        let mut a: Vec<Vec<u8>> = match self {
            Op::Set { key, val, nx, xx, get, ttl } => {
                let mut a = vec![cased("SET", mask), k(key), val.clone()];
                if *nx {
                    a.push(b"NX".to_vec());
                }
                if *xx {
                    a.push(b"XX".to_vec());
                }
                if *get {
                    a.push(b"GET".to_vec());
                }
                match ttl {
                    Some(TtlOpt::Ex(s)) => a.extend([b"EX".to_vec(), s.to_string().into_bytes()]),
                    Some(TtlOpt::Px1) => a.extend([b"PX".to_vec(), b"1".to_vec()]),
                    Some(TtlOpt::KeepTtl) => a.push(b"KEEPTTL".to_vec()),
                    None => {}
                }
                return a;
            }
            Op::SetBad { key, opts, .. } => {
                let mut a = vec![cased("SET", mask), k(key), b"v".to_vec()];
                a.extend(opts.iter().map(|o| o.to_vec()));
                return a;
            }
            Op::SetNx(key, v) => vec![b"SETNX".to_vec(), k(key), v.clone()],
            Op::Get(key) => vec![b"GET".to_vec(), k(key)],
            Op::Del(keys) => std::iter::once(b"DEL".to_vec()).chain(keys.iter().map(k)).collect(),
            Op::Exists(keys) => std::iter::once(b"EXISTS".to_vec()).chain(keys.iter().map(k)).collect(),
            Op::Incr(key) => vec![b"INCR".to_vec(), k(key)],
            Op::Decr(key) => vec![b"DECR".to_vec(), k(key)],
            Op::IncrBy(key, n) => vec![b"INCRBY".to_vec(), k(key), n.clone()],
            Op::DecrBy(key, n) => vec![b"DECRBY".to_vec(), k(key), n.clone()],
            Op::Append(key, v) => vec![b"APPEND".to_vec(), k(key), v.clone()],
            Op::Strlen(key) => vec![b"STRLEN".to_vec(), k(key)],
            Op::GetRange(key, s, e) => vec![b"GETRANGE".to_vec(), k(key), s.clone(), e.clone()],
            Op::Mget(keys) => std::iter::once(b"MGET".to_vec()).chain(keys.iter().map(k)).collect(),
            Op::Mset(pairs) => {
                std::iter::once(b"MSET".to_vec()).chain(pairs.iter().flat_map(|(key, v)| [k(key), v.clone()])).collect()
            }
            Op::GetDel(key) => vec![b"GETDEL".to_vec(), k(key)],
            Op::GetSet(key, v) => vec![b"GETSET".to_vec(), k(key), v.clone()],
            Op::SetRange(key, o, v) => vec![b"SETRANGE".to_vec(), k(key), o.clone(), v.clone()],
            Op::Ttl(key) => vec![b"TTL".to_vec(), k(key)],
            Op::Expire(key, s) => vec![b"EXPIRE".to_vec(), k(key), s.clone()],
            Op::Persist(key) => vec![b"PERSIST".to_vec(), k(key)],
            Op::Type(key) => vec![b"TYPE".to_vec(), k(key)],
            Op::WrongArity(argv) => argv.iter().map(|a| a.to_vec()).collect(),
            Op::Unknown(name, args) => std::iter::once(name.to_vec()).chain(args.iter().cloned()).collect(),
        };
        if !matches!(self, Op::Unknown(..)) {
            a[0] = cased(std::str::from_utf8(&a[0]).unwrap(), mask);
        }
        a
    }
}

/// Mostly the first two keys, so that commands often meet the same key.
fn key_index() -> impl Strategy<Value = usize> {
    prop_oneof![3 => 0..2usize, 2 => 0..KEYS.len()]
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..24),
        2 => prop::sample::select(NUMBERS.to_vec()).prop_map(|n| n.to_vec()),
        1 => prop::collection::vec(prop::sample::select(b"\r\n\0$*-:+".to_vec()), 0..8),
    ]
}

fn number() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => prop::sample::select(NUMBERS.to_vec()).prop_map(|n| n.to_vec()),
        1 => any::<i64>().prop_map(|n| n.to_string().into_bytes()),
        1 => (-20i64..20).prop_map(|n| n.to_string().into_bytes()),
    ]
}

fn range_bound() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => (-12i64..12).prop_map(|n| n.to_string().into_bytes()),
        1 => prop::sample::select(vec![i64::MIN, i64::MAX, -100, 100]).prop_map(|n| n.to_string().into_bytes()),
        1 => Just(b"x".to_vec()),
    ]
}

fn keys() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(key_index(), 1..5)
}

fn ttl() -> impl Strategy<Value = Option<TtlOpt>> {
    prop_oneof![
        3 => Just(None),
        1 => (1000i64..100_000).prop_map(|s| Some(TtlOpt::Ex(s))),
        1 => Just(Some(TtlOpt::Px1)),
        1 => Just(Some(TtlOpt::KeepTtl)),
    ]
}

/// SET option lists Redis rejects, with the error each gives.
fn set_bad() -> impl Strategy<Value = (Vec<&'static [u8]>, &'static str)> {
    const SYNTAX: &str = "ERR syntax error";
    const NOT_INT: &str = "ERR value is not an integer or out of range";
    const EXPIRE: &str = "ERR invalid expire time in 'set' command";
    let cases: Vec<(Vec<&'static [u8]>, &'static str)> = vec![
        (vec![b"NX", b"XX"], SYNTAX),
        (vec![b"EX", b"10", b"PX", b"10"], SYNTAX),
        (vec![b"EX"], SYNTAX),
        (vec![b"BOGUS"], SYNTAX),
        (vec![b"EX", b"10", b"KEEPTTL"], SYNTAX),
        (vec![b"EX", b"abc"], NOT_INT),
        (vec![b"EX", b"0"], EXPIRE),
        (vec![b"PX", b"-5"], EXPIRE),
        (vec![b"EX", b"9223372036854775807"], EXPIRE),
    ];
    prop::sample::select(cases)
}

fn wrong_arity() -> impl Strategy<Value = Vec<&'static [u8]>> {
    let cases: Vec<Vec<&'static [u8]>> = vec![
        vec![b"GET"],
        vec![b"GET", b"a", b"b"],
        vec![b"SET", b"k"],
        vec![b"INCR"],
        vec![b"INCR", b"a", b"b"],
        vec![b"STRLEN"],
        vec![b"GETRANGE", b"k", b"0"],
        vec![b"APPEND", b"k"],
        vec![b"DEL"],
        vec![b"MGET"],
        vec![b"EXISTS"],
        vec![b"GETDEL"],
        vec![b"GETSET", b"k"],
        vec![b"SETRANGE", b"k", b"0"],
        vec![b"TTL"],
        vec![b"MSET", b"k"],
        vec![b"MSET", b"k", b"v", b"k2"],
        vec![b"INCRBY", b"k"],
        vec![b"DECRBY", b"k", b"1", b"2"],
        vec![b"EXPIRE", b"k"],
        vec![b"SETNX", b"k"],
        vec![b"TYPE"],
    ];
    prop::sample::select(cases)
}

fn unknown() -> impl Strategy<Value = Op> {
    let names: Vec<&'static [u8]> = vec![b"FOO", b"GETT", b"setx", b"x", b"INCRBYY"];
    let arg = prop::collection::vec(prop::sample::select(b"ab c'\r\n\"\\z09".to_vec()), 0..6);
    (prop::sample::select(names), prop::collection::vec(arg, 0..3)).prop_map(|(n, a)| Op::Unknown(n, a))
}

fn op() -> impl Strategy<Value = Op> {
    let k = key_index;
    prop_oneof![
        6 => (k(), value(), any::<bool>(), any::<bool>(), any::<bool>(), ttl()).prop_filter(
            "NX and XX together is a SetBad case", |(_, _, nx, xx, _, _)| !(*nx && *xx)
        ).prop_map(|(key, val, nx, xx, get, ttl)| Op::Set { key, val, nx, xx, get, ttl }),
        1 => (k(), set_bad()).prop_map(|(key, (opts, error))| Op::SetBad { key, opts, error }),
        1 => (k(), value()).prop_map(|(key, v)| Op::SetNx(key, v)),
        4 => k().prop_map(Op::Get),
        2 => keys().prop_map(Op::Del),
        2 => keys().prop_map(Op::Exists),
        2 => k().prop_map(Op::Incr),
        1 => k().prop_map(Op::Decr),
        2 => (k(), number()).prop_map(|(key, n)| Op::IncrBy(key, n)),
        2 => (k(), number()).prop_map(|(key, n)| Op::DecrBy(key, n)),
        2 => (k(), value()).prop_map(|(key, v)| Op::Append(key, v)),
        1 => k().prop_map(Op::Strlen),
        2 => (k(), range_bound(), range_bound()).prop_map(|(key, s, e)| Op::GetRange(key, s, e)),
        2 => keys().prop_map(Op::Mget),
        2 => prop::collection::vec((k(), value()), 1..4).prop_map(Op::Mset),
        1 => k().prop_map(Op::GetDel),
        1 => (k(), value()).prop_map(|(key, v)| Op::GetSet(key, v)),
        2 => (k(), range_bound(), value()).prop_map(|(key, o, v)| Op::SetRange(key, o, v)),
        3 => k().prop_map(Op::Ttl),
        2 => (k(), prop_oneof![
            (1000i64..100_000).prop_map(|s| s.to_string().into_bytes()),
            prop::sample::select(vec![&b"0"[..], b"-1", b"x", b"9223372036854775807", b"-9223372036854775808"])
                .prop_map(|s| s.to_vec()),
        ]).prop_map(|(key, s)| Op::Expire(key, s)),
        1 => k().prop_map(Op::Persist),
        1 => k().prop_map(Op::Type),
        1 => wrong_arity().prop_map(Op::WrongArity),
        1 => unknown(),
    ]
}

// ---- the model ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Entry {
    value: Vec<u8>,
    /// Seconds of TTL the last EX/EXPIRE gave (long, so it never runs out during a case).
    ttl_s: Option<i64>,
}

/// What the server must reply.
#[derive(Debug)]
enum Want {
    Exact(Vec<u8>),
    /// `:n` with `s - TTL_SLACK_S <= n <= s`.
    TtlAbout(i64),
}

#[derive(Default)]
struct Model {
    keys: BTreeMap<Vec<u8>, Entry>,
}

fn err(msg: &str) -> Vec<u8> {
    format!("-{msg}\r\n").into_bytes()
}
fn int(n: i64) -> Vec<u8> {
    format!(":{n}\r\n").into_bytes()
}
fn bulk(v: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", v.len()).into_bytes();
    out.extend_from_slice(v);
    out.extend_from_slice(b"\r\n");
    out
}
fn opt_bulk(v: Option<&[u8]>) -> Vec<u8> {
    v.map(bulk).unwrap_or_else(|| b"$-1\r\n".to_vec())
}
const OK: &[u8] = b"+OK\r\n";
const NOT_INT: &str = "ERR value is not an integer or out of range";

/// Redis's string2ll: "0", or an optional '-' then digits without a leading zero; i64 range.
fn strict_i64(b: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(b).ok()?;
    let digits = s.strip_prefix('-').unwrap_or(s);
    let canonical =
        s == "0" || (!digits.is_empty() && !digits.starts_with('0') && digits.bytes().all(|c| c.is_ascii_digit()));
    if canonical {
        s.parse().ok()
    } else {
        None
    }
}

impl Model {
    fn get(&self, key: usize) -> Option<&Entry> {
        self.keys.get(KEYS[key])
    }

    /// Apply `op`; returns the reply Redis would give.
    fn apply(&mut self, op: &Op) -> Want {
        Want::Exact(match op {
            Op::Set { key, val, nx, xx, get, ttl } => self.set(*key, val, *nx, *xx, *get, ttl),
            Op::SetBad { error, .. } => err(error),
            Op::SetNx(key, v) => {
                if self.get(*key).is_some() {
                    int(0)
                } else {
                    self.keys.insert(KEYS[*key].to_vec(), Entry { value: v.clone(), ttl_s: None });
                    int(1)
                }
            }
            Op::Get(key) => opt_bulk(self.get(*key).map(|e| &e.value[..])),
            Op::Del(keys) => int(keys.iter().filter(|k| self.keys.remove(KEYS[**k]).is_some()).count() as i64),
            Op::Exists(keys) => int(keys.iter().filter(|k| self.get(**k).is_some()).count() as i64),
            Op::Incr(key) => self.incr_by(*key, 1),
            Op::Decr(key) => self.incr_by(*key, -1),
            Op::IncrBy(key, n) => match strict_i64(n) {
                Some(n) => self.incr_by(*key, n),
                None => err(NOT_INT),
            },
            Op::DecrBy(key, n) => match strict_i64(n) {
                None => err(NOT_INT),
                Some(i64::MIN) => err("ERR decrement would overflow"),
                Some(n) => self.incr_by(*key, -n),
            },
            Op::Append(key, v) => {
                let e = self.keys.entry(KEYS[*key].to_vec()).or_insert(Entry { value: Vec::new(), ttl_s: None });
                e.value.extend_from_slice(v);
                int(e.value.len() as i64)
            }
            Op::Strlen(key) => int(self.get(*key).map_or(0, |e| e.value.len() as i64)),
            Op::GetRange(key, s, e) => match (strict_i64(s), strict_i64(e)) {
                (Some(s), Some(e)) => bulk(&getrange(self.get(*key).map_or(&[][..], |x| &x.value[..]), s, e)),
                _ => err(NOT_INT),
            },
            Op::Mget(keys) => {
                let mut out = format!("*{}\r\n", keys.len()).into_bytes();
                for k in keys {
                    out.extend(opt_bulk(self.get(*k).map(|e| &e.value[..])));
                }
                out
            }
            Op::Mset(pairs) => {
                for (k, v) in pairs {
                    self.keys.insert(KEYS[*k].to_vec(), Entry { value: v.clone(), ttl_s: None });
                }
                OK.to_vec()
            }
            Op::GetDel(key) => opt_bulk(self.keys.remove(KEYS[*key]).map(|e| e.value).as_deref()),
            Op::GetSet(key, v) => {
                let old = self.keys.insert(KEYS[*key].to_vec(), Entry { value: v.clone(), ttl_s: None });
                opt_bulk(old.map(|e| e.value).as_deref())
            }
            Op::SetRange(key, o, v) => self.setrange(*key, o, v),
            Op::Ttl(key) => match self.get(*key) {
                None => int(-2),
                Some(Entry { ttl_s: None, .. }) => int(-1),
                Some(Entry { ttl_s: Some(s), .. }) => return Want::TtlAbout(*s),
            },
            Op::Expire(key, s) => self.expire(*key, s),
            Op::Persist(key) => match self.keys.get_mut(KEYS[*key]) {
                Some(e) if e.ttl_s.is_some() => {
                    e.ttl_s = None;
                    int(1)
                }
                _ => int(0),
            },
            Op::Type(key) => {
                if self.get(*key).is_some() {
                    b"+string\r\n".to_vec()
                } else {
                    b"+none\r\n".to_vec()
                }
            }
            Op::WrongArity(argv) => {
                let name = String::from_utf8_lossy(argv[0]).to_ascii_lowercase();
                err(&format!("ERR wrong number of arguments for '{name}' command"))
            }
            Op::Unknown(name, args) => {
                let mut shown = String::new();
                for a in args {
                    shown.push_str(&format!("'{}' ", String::from_utf8_lossy(a)));
                }
                let msg = format!(
                    "ERR unknown command '{}', with args beginning with: {shown}",
                    String::from_utf8_lossy(name)
                );
                err(&msg.replace(['\r', '\n'], " "))
            }
        })
    }

    fn set(&mut self, key: usize, val: &[u8], nx: bool, xx: bool, get: bool, ttl: &Option<TtlOpt>) -> Vec<u8> {
        let old = self.get(key).cloned();
        let reply_old = opt_bulk(old.as_ref().map(|e| &e.value[..]));
        if (nx && old.is_some()) || (xx && old.is_none()) {
            return if get { reply_old } else { b"$-1\r\n".to_vec() };
        }
        let ttl_s = match ttl {
            Some(TtlOpt::Ex(s)) => Some(*s),
            Some(TtlOpt::KeepTtl) => old.and_then(|e| e.ttl_s),
            Some(TtlOpt::Px1) | None => None,
        };
        if matches!(ttl, Some(TtlOpt::Px1)) {
            self.keys.remove(KEYS[key]); // expired by the next command
        } else {
            self.keys.insert(KEYS[key].to_vec(), Entry { value: val.to_vec(), ttl_s });
        }
        if get {
            reply_old
        } else {
            OK.to_vec()
        }
    }

    fn incr_by(&mut self, key: usize, delta: i64) -> Vec<u8> {
        let (current, ttl_s) = match self.get(key) {
            None => (0, None),
            Some(e) => match strict_i64(&e.value) {
                Some(n) => (n, e.ttl_s),
                None => return err(NOT_INT),
            },
        };
        let Some(new) = current.checked_add(delta) else {
            return err("ERR increment or decrement would overflow");
        };
        self.keys.insert(KEYS[key].to_vec(), Entry { value: new.to_string().into_bytes(), ttl_s });
        int(new)
    }

    fn setrange(&mut self, key: usize, offset: &[u8], v: &[u8]) -> Vec<u8> {
        let Some(offset) = strict_i64(offset) else { return err(NOT_INT) };
        if offset < 0 {
            return err("ERR offset is out of range");
        }
        let current_len = self.get(key).map_or(0, |e| e.value.len());
        if v.is_empty() {
            return int(current_len as i64);
        }
        if offset as u128 + v.len() as u128 > 512 * 1024 * 1024 {
            return err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
        }
        let e = self.keys.entry(KEYS[key].to_vec()).or_insert(Entry { value: Vec::new(), ttl_s: None });
        let end = offset as usize + v.len();
        if e.value.len() < end {
            e.value.resize(end, 0);
        }
        e.value[offset as usize..end].copy_from_slice(v);
        int(e.value.len() as i64)
    }

    fn expire(&mut self, key: usize, secs: &[u8]) -> Vec<u8> {
        let Some(s) = strict_i64(secs) else { return err(NOT_INT) };
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&s) {
            return err("ERR invalid expire time in 'expire' command");
        }
        match self.keys.get_mut(KEYS[key]) {
            None => int(0),
            Some(_) if s <= 0 => {
                self.keys.remove(KEYS[key]);
                int(1)
            }
            Some(e) => {
                e.ttl_s = Some(s);
                int(1)
            }
        }
    }
}

/// GETRANGE as Redis 7 computes it.
fn getrange(v: &[u8], start: i64, end: i64) -> Vec<u8> {
    let len = v.len() as i128;
    let (mut s, mut e) = (start as i128, end as i128);
    if s < 0 && e < 0 && s > e {
        return Vec::new();
    }
    if s < 0 {
        s += len;
    }
    if e < 0 {
        e += len;
    }
    s = s.max(0);
    e = e.max(0);
    if e >= len {
        e = len - 1;
    }
    if s > e || len == 0 {
        return Vec::new();
    }
    v[s as usize..=e as usize].to_vec()
}

// ---- the test ----------------------------------------------------------------------------

struct Conn {
    s: UnixStream,
    r: ReplyReader<UnixStream>,
}

impl Conn {
    fn run(&mut self, argv: &[Vec<u8>]) -> Vec<u8> {
        let args: Vec<&[u8]> = argv.iter().map(|a| &a[..]).collect();
        self.s.write_all(&resp(&args)).unwrap();
        self.r.reply()
    }
}

fn show(b: &[u8]) -> String {
    b.escape_ascii().to_string()
}

fn check(op: &Op, argv: &[Vec<u8>], want: Want, got: &[u8]) -> Result<(), TestCaseError> {
    let ok = match &want {
        Want::Exact(w) => w == got,
        Want::TtlAbout(s) => std::str::from_utf8(got)
            .ok()
            .and_then(|t| t.strip_prefix(':')?.strip_suffix("\r\n")?.parse::<i64>().ok())
            .is_some_and(|n| (s - TTL_SLACK_S..=*s).contains(&n)),
    };
    if ok {
        return Ok(());
    }
    let shown: Vec<String> = argv.iter().map(|a| show(a)).collect();
    let want = match want {
        Want::Exact(w) => show(&w),
        Want::TtlAbout(s) => format!(":{s} (or up to {TTL_SLACK_S} less)"),
    };
    Err(TestCaseError::fail(format!("{op:?}\n  sent {shown:?}\n  want {want}\n  got  {}", show(got))))
}

/// Random sequences of string and key commands give exactly the replies the model predicts,
/// and leave the keyspace the model predicts.
fn random_command_sequences_match_the_model(engine: Engine) {
    let server = Server::start(engine, &[]);
    let s = server.unix();
    let conn = RefCell::new(Conn { r: ReplyReader::new(s.try_clone().unwrap()), s });
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(DIFF_CASES);
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let strategy = prop::collection::vec((op(), any::<u32>()), 1..DIFF_COMMANDS_MAX);
    let result = runner.run(&strategy, |ops| {
        let mut conn = conn.borrow_mut();
        prop_assert_eq!(conn.run(&[b"FLUSHALL".to_vec()]), OK.to_vec());
        let mut model = Model::default();
        for (op, mask) in &ops {
            let argv = op.argv(*mask);
            let got = conn.run(&argv);
            check(op, &argv, model.apply(op), &got)?;
            if matches!(op, Op::Set { ttl: Some(TtlOpt::Px1), .. }) {
                std::thread::sleep(SHORT_TTL_PAUSE);
            }
        }
        // The keyspace agrees too: every key's value and TTL.
        for (i, key) in KEYS.iter().enumerate() {
            let got = conn.run(&[b"GET".to_vec(), key.to_vec()]);
            let want = opt_bulk(model.get(i).map(|e| &e.value[..]));
            prop_assert_eq!(show(&got), show(&want), "final value of {}", show(key));
            let argv = [b"TTL".to_vec(), key.to_vec()];
            let got = conn.run(&argv);
            check(&Op::Ttl(i), &argv, model.apply(&Op::Ttl(i)), &got)?;
        }
        let size = conn.run(&[b"DBSIZE".to_vec()]);
        prop_assert_eq!(show(&size), show(&int(model.keys.len() as i64)));
        Ok(())
    });
    if let Err(e) = result {
        panic!("{} engine differs from the model: {e}", engine.name);
    }
}
