//! Differential tests of the collection types, run once per engine: random command
//! sequences (proptest) go to a running server and to a small in-test model of Redis 7.0's
//! hash, list, set and sorted-set semantics (written from Redis's documented behaviour, not
//! from ringkv's code); every raw reply must match the model's byte for byte, and after each
//! sequence every key's whole contents must too.
//!
//! Each sequence uses three collection keys (`a`, `b`, `c`) and a string key `s` (so
//! WRONGTYPE paths are exercised), small pools of fields / members / values so commands
//! collide, and occasional bulk commands that push a value past Redis's listpack / intset
//! thresholds (so both encodings are compared). Order-free replies (HGETALL, SMEMBERS) are
//! compared after sorting.
//!
//! Cases per engine and type: TYPES_DIFF_CASES (PROPTEST_CASES overrides).

mod common;
mod replies;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Write;
use std::os::unix::net::UnixStream;

use common::{resp, Engine, Server};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use replies::ReplyReader;

engine_tests!(hashes_match_the_model, lists_match_the_model, sets_match_the_model, zsets_match_the_model);

/// Sequences per engine and type, and commands per sequence.
const TYPES_DIFF_CASES: u32 = 24;
const COMMANDS_MAX: usize = 60;

const KEYS: [&str; 4] = ["a", "b", "c", "s"];
const WRONGTYPE: &[u8] = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";

// ---- RESP2 encoding of model replies -----------------------------------------------------

fn int(n: i64) -> Vec<u8> {
    format!(":{n}\r\n").into_bytes()
}
fn bulk(b: &[u8]) -> Vec<u8> {
    let mut v = format!("${}\r\n", b.len()).into_bytes();
    v.extend_from_slice(b);
    v.extend_from_slice(b"\r\n");
    v
}
fn nil() -> Vec<u8> {
    b"$-1\r\n".to_vec()
}
fn opt(b: Option<&[u8]>) -> Vec<u8> {
    b.map_or_else(nil, bulk)
}
fn arr(items: &[Vec<u8>]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", items.len()).into_bytes();
    items.iter().for_each(|i| v.extend_from_slice(i));
    v
}
fn err(msg: &str) -> Vec<u8> {
    format!("-{msg}\r\n").into_bytes()
}
fn ok() -> Vec<u8> {
    b"+OK\r\n".to_vec()
}
/// A score as Redis 7.0 prints it (`%.17g`); the model only uses multiples of 0.5.
fn score_text(s: f64) -> Vec<u8> {
    if s.is_infinite() {
        return if s > 0.0 { b"inf".to_vec() } else { b"-inf".to_vec() };
    }
    if s == s.trunc() {
        format!("{}", s as i64).into_bytes()
    } else {
        format!("{s}").into_bytes()
    }
}

// ---- the model ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Val {
    Str(Vec<u8>),
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
    List(VecDeque<Vec<u8>>),
    Set(BTreeSet<Vec<u8>>),
    /// (member, score), kept sorted by (score, member).
    ZSet(Vec<(Vec<u8>, f64)>),
}

#[derive(Default)]
struct Model {
    keys: BTreeMap<Vec<u8>, Val>,
}

fn i(b: &[u8]) -> Option<i64> {
    std::str::from_utf8(b)
        .ok()?
        .parse()
        .ok()
        .filter(|_| b == b"0" || (b[0] != b'0' && b[0] != b'+' && !b.starts_with(b"-0")))
}

fn zsort(z: &mut [(Vec<u8>, f64)]) {
    z.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then_with(|| a.0.cmp(&b.0)));
}

/// Redis's inclusive index range over `len` items as a half-open range.
fn clamp(start: i64, stop: i64, len: usize) -> std::ops::Range<usize> {
    let len = len as i64;
    let s = if start < 0 { (start + len).max(0) } else { start };
    let e = if stop < 0 { stop + len } else { stop.min(len - 1) };
    if s > e || s >= len {
        0..0
    } else {
        s as usize..e as usize + 1
    }
}

macro_rules! typed {
    ($model:expr, $key:expr, $variant:ident) => {
        match $model.keys.get_mut($key) {
            None => None,
            Some(Val::$variant(v)) => Some(v),
            Some(_) => return WRONGTYPE.to_vec(),
        }
    };
}

impl Model {
    fn drop_empty(&mut self, key: &[u8]) {
        let empty = match self.keys.get(key) {
            Some(Val::Hash(h)) => h.is_empty(),
            Some(Val::List(l)) => l.is_empty(),
            Some(Val::Set(s)) => s.is_empty(),
            Some(Val::ZSet(z)) => z.is_empty(),
            _ => false,
        };
        if empty {
            self.keys.remove(key);
        }
    }

    fn apply(&mut self, argv: &[Vec<u8>]) -> Vec<u8> {
        let name = String::from_utf8_lossy(&argv[0]).to_ascii_uppercase();
        let key = argv.get(1).cloned().unwrap_or_default();
        let reply = match &name[..] {
            "TYPE" => {
                let t = match self.keys.get(&key) {
                    None => "none",
                    Some(Val::Str(_)) => "string",
                    Some(Val::Hash(_)) => "hash",
                    Some(Val::List(_)) => "list",
                    Some(Val::Set(_)) => "set",
                    Some(Val::ZSet(_)) => "zset",
                };
                format!("+{t}\r\n").into_bytes()
            }
            "DEL" => int(i64::from(self.keys.remove(&key).is_some())),
            "EXISTS" => int(i64::from(self.keys.contains_key(&key))),
            "SET" => {
                self.keys.insert(key.clone(), Val::Str(argv[2].clone()));
                ok()
            }
            "GET" => match self.keys.get(&key) {
                None => nil(),
                Some(Val::Str(s)) => bulk(s),
                Some(_) => WRONGTYPE.to_vec(),
            },
            n if n.starts_with('H') => self.hash(&name, &key, argv),
            n if n.starts_with('L') || n == "RPUSH" || n == "RPOP" || n == "RPOPLPUSH" => self.list(&name, &key, argv),
            n if n.starts_with('S') => self.set(&name, &key, argv),
            n if n.starts_with('Z') => self.zset(&name, &key, argv),
            other => panic!("model has no {other}"),
        };
        self.drop_empty(&key);
        if name == "RPOPLPUSH" || name == "LMOVE" || name == "SMOVE" {
            self.drop_empty(&argv[2]);
        }
        reply
    }

    fn hash(&mut self, name: &str, key: &[u8], argv: &[Vec<u8>]) -> Vec<u8> {
        if name == "HINCRBY" && i(&argv[3]).is_none() {
            // The increment is checked before the key.
            return err("ERR value is not an integer or out of range");
        }
        let creating = matches!(name, "HSET" | "HSETNX" | "HINCRBY");
        if creating && !self.keys.contains_key(key) {
            self.keys.insert(key.to_vec(), Val::Hash(BTreeMap::new()));
        }
        let h = typed!(self, key, Hash);
        let empty = BTreeMap::new();
        match name {
            "HSET" => {
                let h = h.unwrap();
                int(argv[2..].chunks(2).filter(|p| h.insert(p[0].clone(), p[1].clone()).is_none()).count() as i64)
            }
            "HSETNX" => {
                let h = h.unwrap();
                let new = !h.contains_key(&argv[2]);
                if new {
                    h.insert(argv[2].clone(), argv[3].clone());
                }
                int(i64::from(new))
            }
            "HDEL" => int(h.map_or(0, |h| argv[2..].iter().filter(|f| h.remove(*f).is_some()).count()) as i64),
            "HGET" => opt(h.and_then(|h| h.get(&argv[2])).map(|v| &v[..])),
            "HMGET" => {
                let h = h.map_or(&empty, |h| &*h);
                arr(&argv[2..].iter().map(|f| opt(h.get(f).map(|v| &v[..]))).collect::<Vec<_>>())
            }
            "HLEN" => int(h.map_or(0, |h| h.len()) as i64),
            "HEXISTS" => int(i64::from(h.is_some_and(|h| h.contains_key(&argv[2])))),
            "HSTRLEN" => int(h.and_then(|h| h.get(&argv[2])).map_or(0, |v| v.len()) as i64),
            "HINCRBY" => {
                let h = h.unwrap();
                let Some(delta) = i(&argv[3]) else {
                    return err("ERR value is not an integer or out of range");
                };
                let old = match h.get(&argv[2]) {
                    None => 0,
                    Some(v) => match i(v) {
                        Some(n) => n,
                        None => return err("ERR hash value is not an integer"),
                    },
                };
                let Some(new) = old.checked_add(delta) else {
                    return err("ERR increment or decrement would overflow");
                };
                h.insert(argv[2].clone(), new.to_string().into_bytes());
                int(new)
            }
            other => panic!("model has no {other}"),
        }
    }

    fn list(&mut self, name: &str, key: &[u8], argv: &[Vec<u8>]) -> Vec<u8> {
        if matches!(name, "LPUSH" | "RPUSH") && !self.keys.contains_key(key) {
            self.keys.insert(key.to_vec(), Val::List(VecDeque::new()));
        }
        if name == "RPOPLPUSH" || name == "LMOVE" {
            return self.lmove(argv);
        }
        let l = typed!(self, key, List);
        let num = |j: usize| i(&argv[j]).unwrap();
        match name {
            "LPUSH" | "RPUSH" => {
                let l = l.unwrap();
                for v in &argv[2..] {
                    if name == "LPUSH" {
                        l.push_front(v.clone());
                    } else {
                        l.push_back(v.clone());
                    }
                }
                int(l.len() as i64)
            }
            "LPOP" | "RPOP" => {
                let front = name == "LPOP";
                let count = argv.get(2).map(|c| i(c).unwrap() as usize);
                let Some(l) = l else {
                    return if count.is_some() { b"*-1\r\n".to_vec() } else { nil() };
                };
                let n = count.unwrap_or(1).min(l.len());
                let items: Vec<Vec<u8>> =
                    (0..n).map(|_| if front { l.pop_front() } else { l.pop_back() }.unwrap()).collect();
                match count {
                    None => opt(items.first().map(|v| &v[..])),
                    Some(_) => arr(&items.iter().map(|v| bulk(v)).collect::<Vec<_>>()),
                }
            }
            "LLEN" => int(l.map_or(0, |l| l.len()) as i64),
            "LINDEX" => {
                let l = l.cloned().unwrap_or_default();
                let idx = num(2);
                let p = if idx < 0 { idx + l.len() as i64 } else { idx };
                opt(usize::try_from(p).ok().and_then(|p| l.get(p)).map(|v| &v[..]))
            }
            "LRANGE" => {
                let l = l.cloned().unwrap_or_default();
                let r = clamp(num(2), num(3), l.len());
                arr(&l.range(r).map(|v| bulk(v)).collect::<Vec<_>>())
            }
            "LSET" => {
                let Some(l) = l else {
                    return err("ERR no such key");
                };
                let idx = num(2);
                let p = if idx < 0 { idx + l.len() as i64 } else { idx };
                match usize::try_from(p).ok().filter(|&p| p < l.len()) {
                    Some(p) => {
                        l[p] = argv[3].clone();
                        ok()
                    }
                    None => err("ERR index out of range"),
                }
            }
            "LREM" => {
                let Some(l) = l else {
                    return int(0);
                };
                let count = num(2);
                let limit = if count == 0 { usize::MAX } else { count.unsigned_abs() as usize };
                let mut removed = 0;
                let mut items: Vec<Vec<u8>> = l.drain(..).collect();
                if count < 0 {
                    items.reverse();
                }
                items.retain(|v| {
                    let drop = *v == argv[3] && removed < limit;
                    removed += usize::from(drop);
                    !drop
                });
                if count < 0 {
                    items.reverse();
                }
                l.extend(items);
                int(removed as i64)
            }
            "LINSERT" => {
                let Some(l) = l else {
                    return int(0);
                };
                let Some(at) = l.iter().position(|v| *v == argv[3]) else {
                    return int(-1);
                };
                let after = argv[2] == b"AFTER";
                l.insert(at + usize::from(after), argv[4].clone());
                int(l.len() as i64)
            }
            "LTRIM" => {
                if let Some(l) = l {
                    let r = clamp(num(2), num(3), l.len());
                    let kept: VecDeque<Vec<u8>> = l.range(r).cloned().collect();
                    *l = kept;
                }
                ok()
            }
            "LPOS" => {
                let l = l.cloned().unwrap_or_default();
                let rank = num(4);
                let count = argv.get(6).map(|c| i(c).unwrap() as usize);
                let mut hits: Vec<usize> = (0..l.len()).filter(|&p| l[p] == argv[2]).collect();
                if rank < 0 {
                    hits.reverse();
                }
                let found: Vec<usize> = hits
                    .into_iter()
                    .skip(rank.unsigned_abs() as usize - 1)
                    .take(match count {
                        Some(0) => usize::MAX,
                        Some(n) => n,
                        None => 1,
                    })
                    .collect();
                match count {
                    None => found.first().map_or_else(nil, |&p| int(p as i64)),
                    Some(_) => arr(&found.iter().map(|&p| int(p as i64)).collect::<Vec<_>>()),
                }
            }
            other => panic!("model has no {other}"),
        }
    }

    /// RPOPLPUSH src dst / LMOVE src dst LEFT|RIGHT LEFT|RIGHT
    fn lmove(&mut self, argv: &[Vec<u8>]) -> Vec<u8> {
        let (src, dst) = (&argv[1], &argv[2]);
        let (from_left, to_left) =
            if argv.len() == 5 { (argv[3] == b"LEFT", argv[4] == b"LEFT") } else { (false, true) };
        match self.keys.get(src) {
            None => return nil(),
            Some(Val::List(_)) => {}
            Some(_) => return WRONGTYPE.to_vec(),
        }
        if matches!(self.keys.get(dst), Some(v) if !matches!(v, Val::List(_))) {
            return WRONGTYPE.to_vec();
        }
        let Some(Val::List(l)) = self.keys.get_mut(src) else { unreachable!() };
        let item = if from_left { l.pop_front() } else { l.pop_back() }.unwrap();
        self.drop_empty(src);
        let Val::List(d) = self.keys.entry(dst.clone()).or_insert_with(|| Val::List(VecDeque::new())) else {
            unreachable!()
        };
        if to_left {
            d.push_front(item.clone());
        } else {
            d.push_back(item.clone());
        }
        bulk(&item)
    }

    fn set(&mut self, name: &str, key: &[u8], argv: &[Vec<u8>]) -> Vec<u8> {
        match name {
            "SMOVE" => return self.smove(argv),
            "SINTERCARD" | "SINTERSTORE" | "SUNIONSTORE" | "SDIFFSTORE" => return self.set_algebra(name, argv),
            _ => {}
        }
        if name == "SADD" && !self.keys.contains_key(key) {
            self.keys.insert(key.to_vec(), Val::Set(BTreeSet::new()));
        }
        let s = typed!(self, key, Set);
        match name {
            "SADD" => {
                let s = s.unwrap();
                int(argv[2..].iter().filter(|m| s.insert((*m).clone())).count() as i64)
            }
            "SREM" => int(s.map_or(0, |s| argv[2..].iter().filter(|m| s.remove(*m)).count()) as i64),
            "SISMEMBER" => int(i64::from(s.is_some_and(|s| s.contains(&argv[2])))),
            "SMISMEMBER" => {
                let s = s.cloned().unwrap_or_default();
                arr(&argv[2..].iter().map(|m| int(i64::from(s.contains(m)))).collect::<Vec<_>>())
            }
            "SCARD" => int(s.map_or(0, |s| s.len()) as i64),
            other => panic!("model has no {other}"),
        }
    }

    fn smove(&mut self, argv: &[Vec<u8>]) -> Vec<u8> {
        let (src, dst, m) = (&argv[1], &argv[2], &argv[3]);
        // Redis: a missing source answers 0 before any type check.
        let present = match self.keys.get(src) {
            None => return int(0),
            Some(Val::Set(s)) => s.contains(m),
            Some(_) => return WRONGTYPE.to_vec(),
        };
        if matches!(self.keys.get(dst), Some(v) if !matches!(v, Val::Set(_))) {
            return WRONGTYPE.to_vec();
        }
        if !present {
            return int(0);
        }
        if src == dst {
            return int(1);
        }
        if let Some(Val::Set(s)) = self.keys.get_mut(src) {
            s.remove(m);
        }
        self.drop_empty(src);
        if let Val::Set(d) = self.keys.entry(dst.clone()).or_insert_with(|| Val::Set(BTreeSet::new())) {
            d.insert(m.clone());
        }
        int(1)
    }

    /// SINTERCARD 2 x y / S{INTER,UNION,DIFF}STORE dst x y
    fn set_algebra(&mut self, name: &str, argv: &[Vec<u8>]) -> Vec<u8> {
        let sources = &argv[2..4];
        let mut sets = Vec::new();
        for k in sources {
            match self.keys.get(k) {
                None => sets.push(None),
                Some(Val::Set(s)) => sets.push(Some(s.clone())),
                Some(_) => return WRONGTYPE.to_vec(),
            }
        }
        let get = |j: usize| sets[j].clone().unwrap_or_default();
        let result: BTreeSet<Vec<u8>> = match name {
            "SINTERCARD" | "SINTERSTORE" => get(0).intersection(&get(1)).cloned().collect(),
            "SUNIONSTORE" => get(0).union(&get(1)).cloned().collect(),
            _ => get(0).difference(&get(1)).cloned().collect(),
        };
        if name == "SINTERCARD" {
            return int(result.len() as i64);
        }
        let n = result.len();
        if n == 0 {
            self.keys.remove(&argv[1]);
        } else {
            self.keys.insert(argv[1].clone(), Val::Set(result));
        }
        int(n as i64)
    }

    fn zset(&mut self, name: &str, key: &[u8], argv: &[Vec<u8>]) -> Vec<u8> {
        const FLAGS: [&[u8]; 6] = [b"NX", b"XX", b"GT", b"LT", b"CH", b"INCR"];
        let first_pair = 2 + argv[2..].iter().take_while(|a| FLAGS.contains(&a.as_slice())).count();
        let has = |f: &str| argv[2..first_pair].iter().any(|a| a.as_slice() == f.as_bytes());
        if name == "ZADD" {
            // Flags are validated before the key is looked at.
            if has("NX") && has("XX") {
                return err("ERR XX and NX options at the same time are not compatible");
            }
            if u8::from(has("GT")) + u8::from(has("LT")) + u8::from(has("NX")) > 1 {
                return err("ERR GT, LT, and/or NX options at the same time are not compatible");
            }
        }
        if matches!(name, "ZADD" | "ZINCRBY") {
            match self.keys.get(key) {
                None if !(name == "ZADD" && argv.iter().any(|a| a == b"XX")) => {
                    self.keys.insert(key.to_vec(), Val::ZSet(Vec::new()));
                }
                _ => {}
            }
        }
        let z = typed!(self, key, ZSet);
        let sc = |b: &[u8]| -> f64 {
            match b {
                b"inf" | b"+inf" => f64::INFINITY,
                b"-inf" => f64::NEG_INFINITY,
                _ => std::str::from_utf8(b).unwrap().parse().unwrap(),
            }
        };
        let items = |z: &[(Vec<u8>, f64)], r: std::ops::Range<usize>, ws: bool| {
            let mut out = Vec::new();
            for (m, s) in &z[r] {
                out.push(bulk(m));
                if ws {
                    out.push(bulk(&score_text(*s)));
                }
            }
            arr(&out)
        };
        match name {
            "ZADD" => {
                let (nx, xx, gt, lt, ch, incr) = (has("NX"), has("XX"), has("GT"), has("LT"), has("CH"), has("INCR"));
                let Some(z) = z else {
                    return if incr { nil() } else { int(0) };
                };
                if incr {
                    let (score, member) = (sc(&argv[first_pair]), argv[first_pair + 1].clone());
                    return zadd_one(z, nx, xx, gt, lt, ch, incr, score, member);
                }
                let mut total = 0;
                for pair in argv[first_pair..].chunks(2) {
                    let r = zadd_one(z, nx, xx, gt, lt, ch, false, sc(&pair[0]), pair[1].clone());
                    total += std::str::from_utf8(&r[1..r.len() - 2]).unwrap().parse::<i64>().unwrap();
                }
                int(total)
            }
            "ZINCRBY" => zadd_one(z.unwrap(), false, false, false, false, false, true, sc(&argv[2]), argv[3].clone()),
            "ZREM" => int(z.map_or(0, |z| {
                let before = z.len();
                z.retain(|(m, _)| !argv[2..].contains(m));
                before - z.len()
            }) as i64),
            "ZCARD" => int(z.map_or(0, |z| z.len()) as i64),
            "ZSCORE" => {
                opt(z.and_then(|z| z.iter().find(|(m, _)| *m == argv[2])).map(|(_, s)| score_text(*s)).as_deref())
            }
            "ZRANK" | "ZREVRANK" => {
                let z = z.cloned().unwrap_or_default();
                match z.iter().position(|(m, _)| *m == argv[2]) {
                    Some(p) if name == "ZRANK" => int(p as i64),
                    Some(p) => int((z.len() - 1 - p) as i64),
                    None => nil(),
                }
            }
            "ZCOUNT" | "ZRANGEBYSCORE" => {
                let z = z.cloned().unwrap_or_default();
                let bound = |b: &[u8]| if b[0] == b'(' { (sc(&b[1..]), true) } else { (sc(b), false) };
                let ((min, minx), (max, maxx)) = (bound(&argv[2]), bound(&argv[3]));
                let inr = |s: f64| (s > min || (!minx && s == min)) && (s < max || (!maxx && s == max));
                let start = z.iter().take_while(|(_, s)| !inr(*s) && *s <= min).count();
                let end = start + z[start..].iter().take_while(|(_, s)| inr(*s)).count();
                if name == "ZCOUNT" {
                    int((end - start) as i64)
                } else {
                    items(&z, start..end, argv.len() > 4)
                }
            }
            "ZRANGE" => {
                let z = z.cloned().unwrap_or_default();
                let r = clamp(i(&argv[2]).unwrap(), i(&argv[3]).unwrap(), z.len());
                items(&z, r, argv.len() > 4)
            }
            "ZREMRANGEBYRANK" => {
                let Some(z) = z else {
                    return int(0);
                };
                let r = clamp(i(&argv[2]).unwrap(), i(&argv[3]).unwrap(), z.len());
                let n = r.len();
                z.drain(r);
                int(n as i64)
            }
            "ZPOPMIN" | "ZPOPMAX" => {
                let Some(z) = z else {
                    return arr(&[]);
                };
                let n = (i(&argv[2]).unwrap() as usize).min(z.len());
                let popped: Vec<(Vec<u8>, f64)> =
                    if name == "ZPOPMIN" { z.drain(..n).collect() } else { z.drain(z.len() - n..).rev().collect() };
                arr(&popped.iter().flat_map(|(m, s)| [bulk(m), bulk(&score_text(*s))]).collect::<Vec<_>>())
            }
            other => panic!("model has no {other}"),
        }
    }
}

/// ZADD of one element with flags (Redis's zsetAdd).
#[allow(clippy::too_many_arguments)]
fn zadd_one(
    z: &mut Vec<(Vec<u8>, f64)>,
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
    score: f64,
    member: Vec<u8>,
) -> Vec<u8> {
    let skipped = if incr { nil() } else { int(0) };
    match z.iter().position(|(m, _)| *m == member) {
        Some(_) if nx => skipped,
        Some(p) => {
            let cur = z[p].1;
            let new = if incr { cur + score } else { score };
            if new.is_nan() {
                return err("ERR resulting score is not a number (NaN)");
            }
            if (gt && new <= cur) || (lt && new >= cur) {
                return skipped;
            }
            z[p].1 = new;
            zsort(z);
            if incr {
                bulk(&score_text(new))
            } else {
                int(i64::from(ch && new != cur))
            }
        }
        None if xx => skipped,
        None => {
            z.push((member, score));
            zsort(z);
            if incr {
                bulk(&score_text(score))
            } else {
                int(1)
            }
        }
    }
}

// ---- command generators ------------------------------------------------------------------

/// A deterministic pick from `r`.
struct Pick(u64);

impl Pick {
    fn n(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
    fn of<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.n(xs.len() as u64) as usize]
    }
    fn key(&mut self) -> String {
        // `s` (a string) now and then, for WRONGTYPE.
        if self.n(12) == 0 {
            "s".into()
        } else {
            self.of(&["a", "b", "c"]).into()
        }
    }
    fn int(&mut self, lo: i64, hi: i64) -> String {
        (lo + self.n((hi - lo + 1) as u64) as i64).to_string()
    }
}

fn words(line: String) -> Vec<Vec<u8>> {
    line.split(' ').map(|w| w.as_bytes().to_vec()).collect()
}

/// `count` distinct-ish items `prefix0..` of `len` bytes (a bulk push past a threshold).
fn bulk_items(prefix: &str, count: usize, len: usize) -> String {
    (0..count).map(|j| format!("{prefix}{j:0>len$}")).collect::<Vec<_>>().join(" ")
}

fn hash_cmd(p: &mut Pick) -> Vec<Vec<u8>> {
    let k = p.key();
    let f = p.of(&["f0", "f1", "f2", "f3", "f4"]);
    let v = p.of(&["1", "-7", "x", "9223372036854775807", ""]);
    words(match p.n(12) {
        0 => format!("HSET {k} {f} {v} {} 2", p.of(&["f1", "f5"])),
        1 if p.n(8) == 0 => format!("HSET {k} {}", bulk_items("g", 140, 3).replace(' ', " v ") + " v"),
        1 => format!("HSET {k} {f} {}", "L".repeat(70)),
        2 => format!("HDEL {k} {f} f1"),
        3 => format!("HGET {k} {f}"),
        4 => format!("HMGET {k} {f} f9"),
        5 => format!("HLEN {k}"),
        6 => format!("HEXISTS {k} {f}"),
        7 => format!("HSTRLEN {k} {f}"),
        8 => format!("HINCRBY {k} {f} {}", p.of(&["1", "-3", "x", "9223372036854775807"])),
        9 => format!("HSETNX {k} {f} {v}"),
        10 => format!("TYPE {k}"),
        _ => format!("{} {k}", p.of(&["DEL", "EXISTS"])),
    })
}

fn list_cmd(p: &mut Pick) -> Vec<Vec<u8>> {
    let k = p.key();
    let v = p.of(&["v0", "v1", "v2"]);
    words(match p.n(17) {
        0 => format!("LPUSH {k} {v} v1"),
        1 if p.n(6) == 0 => format!("RPUSH {k} {}", bulk_items("x", 120, 90)),
        1 => format!("RPUSH {k} {v}"),
        2 => format!("LPOP {k}"),
        3 => format!("RPOP {k} {}", p.int(0, 3)),
        4 => format!("LINDEX {k} {}", p.int(-4, 4)),
        5 => format!("LRANGE {k} {} {}", p.int(-5, 5), p.int(-5, 5)),
        6 => format!("LSET {k} {} {v}", p.int(-3, 3)),
        7 => format!("LREM {k} {} {v}", p.int(-2, 2)),
        8 => format!("LINSERT {k} {} {v} new", p.of(&["BEFORE", "AFTER"])),
        9 => format!("LTRIM {k} {} {}", p.int(-4, 4), p.int(-4, 4)),
        10 => format!("LLEN {k}"),
        11 => format!("LPOS {k} {v} RANK {}", p.of(&["1", "2", "-1", "-2"])),
        12 => format!("LPOS {k} {v} RANK {} COUNT {}", p.of(&["1", "-1"]), p.int(0, 2)),
        13 => format!("RPOPLPUSH {k} {}", p.key()),
        14 => format!("LMOVE {k} {} {} {}", p.key(), p.of(&["LEFT", "RIGHT"]), p.of(&["LEFT", "RIGHT"])),
        15 => format!("TYPE {k}"),
        _ => format!("DEL {k}"),
    })
}

fn set_cmd(p: &mut Pick) -> Vec<Vec<u8>> {
    let k = p.key();
    let m = p.of(&["1", "2", "-3", "m", "n", "01"]);
    words(match p.n(13) {
        0 => format!("SADD {k} {m} 2"),
        1 if p.n(6) == 0 => format!("SADD {k} {}", (0..600).map(|j| j.to_string()).collect::<Vec<_>>().join(" ")),
        1 => format!("SADD {k} {m}"),
        2 => format!("SREM {k} {m} 1"),
        3 => format!("SISMEMBER {k} {m}"),
        4 => format!("SMISMEMBER {k} {m} 2"),
        5 => format!("SCARD {k}"),
        6 => format!("SMOVE {k} {} {m}", p.key()),
        7 => format!("SINTERCARD 2 {k} {}", p.key()),
        8 => format!("SINTERSTORE {} {k} {}", p.key(), p.key()),
        9 => format!("SUNIONSTORE {} {k} {}", p.key(), p.key()),
        10 => format!("SDIFFSTORE {} {k} {}", p.key(), p.key()),
        11 => format!("TYPE {k}"),
        _ => format!("DEL {k}"),
    })
}

fn zset_cmd(p: &mut Pick) -> Vec<Vec<u8>> {
    let k = p.key();
    let m = p.of(&["m0", "m1", "m2", "m3"]);
    let s = p.of(&["-inf", "-2", "-1", "0", "0.5", "1", "2.5", "3", "inf"]);
    let bound = p.of(&["-inf", "+inf", "(1", "1", "2.5", "(0", "-1"]);
    let bound2 = p.of(&["-inf", "+inf", "(3", "3", "0.5", "(2.5"]);
    words(match p.n(14) {
        0 => {
            let flags = p.of(&[
                "", "NX ", "XX ", "GT ", "LT ", "CH ", "GT CH ", "LT CH ", "XX INCR ", "INCR ", "NX XX ", "GT LT ",
            ]);
            format!("ZADD {k} {flags}{s} {m}")
        }
        1 if p.n(5) == 0 => {
            let pairs: Vec<String> = (0..140).map(|j| format!("{} big{j}", j % 7)).collect();
            format!("ZADD {k} {}", pairs.join(" "))
        }
        1 => format!("ZINCRBY {k} {s} {m}"),
        2 => format!("ZREM {k} {m} m1"),
        3 => format!("ZCARD {k}"),
        4 => format!("ZSCORE {k} {m}"),
        5 => format!("{} {k} {m}", p.of(&["ZRANK", "ZREVRANK"])),
        6 => format!("ZCOUNT {k} {bound} {bound2}"),
        7 => format!("ZRANGEBYSCORE {k} {bound} {bound2} WITHSCORES"),
        8 => format!("ZRANGE {k} {} {}", p.int(-4, 4), p.int(-4, 4)),
        9 => format!("ZRANGE {k} {} {} WITHSCORES", p.int(-4, 4), p.int(-4, 4)),
        10 => format!("ZREMRANGEBYRANK {k} {} {}", p.int(-3, 3), p.int(-3, 3)),
        11 => format!("{} {k} {}", p.of(&["ZPOPMIN", "ZPOPMAX"]), p.int(0, 2)),
        12 => format!("TYPE {k}"),
        _ => format!("DEL {k}"),
    })
}

// ---- the runner --------------------------------------------------------------------------

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
    String::from_utf8_lossy(&b[..b.len().min(600)]).into_owned()
}

/// Parse a flat RESP2 array of bulks into its items, sorted and joined with `|` (for
/// order-free replies; the pools hold no `|`).
fn sorted_items(reply: &[u8]) -> Vec<u8> {
    let lines: Vec<&[u8]> = reply.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l)).collect();
    let n: usize = std::str::from_utf8(&lines[0][1..]).unwrap().parse().unwrap();
    let mut items: Vec<Vec<u8>> = (0..n).map(|j| lines[2 + 2 * j].to_vec()).collect();
    items.sort();
    items.join(&b'|')
}

fn joined_sorted(mut items: Vec<Vec<u8>>) -> Vec<u8> {
    items.sort();
    items.join(&b'|')
}

/// The final contents of `key` as the server reports them, next to the model's.
fn final_state(conn: &mut Conn, model: &Model, key: &str) -> (Vec<u8>, Vec<u8>) {
    let k = key.as_bytes().to_vec();
    let run = |conn: &mut Conn, line: &str| conn.run(&words(line.to_string()));
    match model.keys.get(&k) {
        None => (run(conn, &format!("EXISTS {key}")), int(0)),
        Some(Val::Str(s)) => (run(conn, &format!("GET {key}")), bulk(s)),
        Some(Val::Hash(h)) => {
            let got = sorted_items(&run(conn, &format!("HGETALL {key}")));
            (got, joined_sorted(h.iter().flat_map(|(f, v)| [f.clone(), v.clone()]).collect()))
        }
        Some(Val::List(l)) => {
            (run(conn, &format!("LRANGE {key} 0 -1")), arr(&l.iter().map(|v| bulk(v)).collect::<Vec<_>>()))
        }
        Some(Val::Set(s)) => {
            (sorted_items(&run(conn, &format!("SMEMBERS {key}"))), joined_sorted(s.iter().cloned().collect()))
        }
        Some(Val::ZSet(z)) => {
            let want: Vec<Vec<u8>> = z.iter().flat_map(|(m, s)| [bulk(m), bulk(&score_text(*s))]).collect();
            (run(conn, &format!("ZRANGE {key} 0 -1 WITHSCORES")), arr(&want))
        }
    }
}

fn run_differential(engine: Engine, gen: fn(&mut Pick) -> Vec<Vec<u8>>) {
    let server = Server::start(engine, &[]);
    let s = server.unix();
    let conn = RefCell::new(Conn { r: ReplyReader::new(s.try_clone().unwrap()), s });
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(TYPES_DIFF_CASES);
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let strategy = (any::<u64>(), 1..COMMANDS_MAX);
    let result = runner.run(&strategy, |(seed, n)| {
        let mut conn = conn.borrow_mut();
        let mut model = Model::default();
        for setup in [words("FLUSHALL".into()), words("SET s str".into())] {
            let got = conn.run(&setup);
            prop_assert_eq!(got, ok());
            if setup[0] == b"SET" {
                model.apply(&setup);
            }
        }
        let mut pick = Pick(seed);
        let mut history = Vec::new();
        for _ in 0..n {
            let argv = gen(&mut pick);
            history.push(show(&argv.join(&b' ')));
            let got = conn.run(&argv);
            let want = model.apply(&argv);
            prop_assert_eq!(show(&got), show(&want), "after {:?}", history);
        }
        for key in KEYS {
            let (got, want) = final_state(&mut conn, &model, key);
            prop_assert_eq!(show(&got), show(&want), "final {} after {:?}", key, history);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{} engine differs from the model: {e}", engine.name);
    }
}

fn hashes_match_the_model(engine: Engine) {
    run_differential(engine, hash_cmd);
}
fn lists_match_the_model(engine: Engine) {
    run_differential(engine, list_cmd);
}
fn sets_match_the_model(engine: Engine) {
    run_differential(engine, set_cmd);
}
fn zsets_match_the_model(engine: Engine) {
    run_differential(engine, zset_cmd);
}
