//! One value in the RDB object format (`rdbSaveObject` / `rdbLoadObject`), as Redis 7.0
//! writes it — strings, lists as quicklist 2 of listpacks, sets as an intset or a plain set,
//! hashes and sorted sets as a listpack or their general form (binary-double scores) — and
//! read back from every encoding Redis 7.0 still loads except zipmap (Redis 2.4): also
//! plain lists, ziplists, quicklist 1 and string-encoded scores.

use super::encoding::{read_intset, read_listpack, read_ziplist, write_intset, write_length, write_string};
use super::encoding::{ListpackWriter, Reader};
use super::RdbError;
use crate::types::{Hash, List, Set, Value, ValueRef, ZSet};

/// RDB object types (`rdb.h`).
pub const TYPE_STRING: u8 = 0;
pub const TYPE_LIST: u8 = 1;
pub const TYPE_SET: u8 = 2;
pub const TYPE_ZSET: u8 = 3;
pub const TYPE_HASH: u8 = 4;
pub const TYPE_ZSET_2: u8 = 5;
pub const TYPE_MODULE: u8 = 6;
pub const TYPE_MODULE_2: u8 = 7;
pub const TYPE_HASH_ZIPMAP: u8 = 9;
pub const TYPE_LIST_ZIPLIST: u8 = 10;
pub const TYPE_SET_INTSET: u8 = 11;
pub const TYPE_ZSET_ZIPLIST: u8 = 12;
pub const TYPE_HASH_ZIPLIST: u8 = 13;
pub const TYPE_LIST_QUICKLIST: u8 = 14;
pub const TYPE_STREAM_LISTPACKS: u8 = 15;
pub const TYPE_HASH_LISTPACK: u8 = 16;
pub const TYPE_ZSET_LISTPACK: u8 = 17;
pub const TYPE_LIST_QUICKLIST_2: u8 = 18;
pub const TYPE_STREAM_LISTPACKS_2: u8 = 19;

/// Quicklist 2 node containers (`QUICKLIST_NODE_CONTAINER_*`).
const CONTAINER_PLAIN: u64 = 1;
const CONTAINER_PACKED: u64 = 2;
/// A list node's listpack is closed at this size, as Redis's default
/// `list-max-listpack-size -2` (8 KB).
const LIST_NODE_BYTES: usize = crate::types::list::LIST_NODE_BYTES_MAX;

/// Append the type byte and the object for `value` (`rdbSaveObjectType` + `rdbSaveObject`).
pub fn write_value(out: &mut Vec<u8>, value: ValueRef<'_>) {
    match value {
        ValueRef::Str(s) => {
            out.push(TYPE_STRING);
            write_string(out, s);
        }
        ValueRef::List(l) => write_list(out, l),
        ValueRef::Set(s) => write_set(out, s),
        ValueRef::Hash(h) if h.encoding() == "listpack" => {
            out.push(TYPE_HASH_LISTPACK);
            let mut lp = ListpackWriter::default();
            for (f, v) in h.iter() {
                lp.push(f);
                lp.push(v);
            }
            write_string(out, &lp.finish());
        }
        ValueRef::Hash(h) => {
            out.push(TYPE_HASH);
            write_length(out, h.len() as u64);
            for (f, v) in h.iter() {
                write_string(out, f);
                write_string(out, v);
            }
        }
        ValueRef::ZSet(z) => write_zset(out, z),
    }
}

fn write_list(out: &mut Vec<u8>, list: &List) {
    out.push(TYPE_LIST_QUICKLIST_2);
    let mut nodes: Vec<Vec<u8>> = Vec::new();
    let mut lp = ListpackWriter::default();
    for item in list.iter() {
        if lp.count() > 0 && lp.bytes() + item.len() > LIST_NODE_BYTES {
            nodes.push(std::mem::take(&mut lp).finish());
        }
        lp.push(item);
    }
    if lp.count() > 0 {
        nodes.push(lp.finish());
    }
    write_length(out, nodes.len() as u64);
    for node in nodes {
        write_length(out, CONTAINER_PACKED);
        write_string(out, &node);
    }
}

fn write_set(out: &mut Vec<u8>, set: &Set) {
    if set.encoding() == "intset" {
        out.push(TYPE_SET_INTSET);
        let values: Vec<i64> = set.iter().filter_map(|m| crate::args::parse_i64(&m)).collect();
        write_string(out, &write_intset(&values));
        return;
    }
    out.push(TYPE_SET);
    write_length(out, set.len() as u64);
    for m in set.iter() {
        write_string(out, &m);
    }
}

fn write_zset(out: &mut Vec<u8>, z: &ZSet) {
    if z.encoding() == "listpack" {
        out.push(TYPE_ZSET_LISTPACK);
        let mut lp = ListpackWriter::default();
        for (m, score) in z.iter() {
            lp.push(m);
            lp.push(&score_text(score));
        }
        write_string(out, &lp.finish());
        return;
    }
    out.push(TYPE_ZSET_2);
    write_length(out, z.len() as u64);
    // From the highest to the lowest, as Redis (a loader inserting at the head is O(1)).
    for (m, score) in z.iter().into_iter().rev() {
        write_string(out, m);
        out.extend_from_slice(&score.to_le_bytes());
    }
}

/// A score as listpack text, as Redis's `d2string`: an integer when the double is one
/// (below 2^52), otherwise the shortest text that reads back to the same double.
fn score_text(score: f64) -> Vec<u8> {
    /// `d2string`'s exact-integer range.
    const EXACT: f64 = 4503599627370496.0;
    if score.is_infinite() {
        return if score > 0.0 { b"inf".to_vec() } else { b"-inf".to_vec() };
    }
    if score == score.trunc() && score.abs() < EXACT {
        return (score as i64).to_string().into_bytes();
    }
    format!("{score:?}").into_bytes()
}

/// A score written as text (old `RDB_TYPE_ZSET`, ziplists, listpacks); NaN is refused.
fn parse_score(text: &[u8]) -> Result<f64, RdbError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|f| !f.is_nan())
        .ok_or_else(|| RdbError::new("invalid sorted set score".into()))
}

/// Read an object of type `ty`. `Ok(None)`: an empty collection (Redis skips such keys).
pub fn read_value(r: &mut Reader<'_>, ty: u8) -> Result<Option<Value>, RdbError> {
    let value = match ty {
        TYPE_STRING => return Ok(Some(Value::Str(r.string()?.into_owned()))),
        TYPE_LIST => {
            let n = r.count(1)?;
            list_of((0..n).map(|_| r.string().map(|s| s.into_owned())).collect::<Result<Vec<_>, _>>()?)
        }
        TYPE_LIST_ZIPLIST => list_of(read_ziplist(&r.string()?)?),
        TYPE_LIST_QUICKLIST | TYPE_LIST_QUICKLIST_2 => read_quicklist(r, ty == TYPE_LIST_QUICKLIST_2)?,
        TYPE_SET => {
            let n = r.count(1)?;
            let mut set = Set::new();
            for _ in 0..n {
                set.add(&r.string()?);
            }
            Value::Set(Box::new(set))
        }
        TYPE_SET_INTSET => {
            let mut set = Set::new();
            for v in read_intset(&r.string()?)? {
                set.add(v.to_string().as_bytes());
            }
            Value::Set(Box::new(set))
        }
        TYPE_HASH => {
            let n = r.count(2)?;
            let mut pairs = Vec::new();
            for _ in 0..n {
                pairs.push(r.string()?.into_owned());
                pairs.push(r.string()?.into_owned());
            }
            hash_of(pairs)?
        }
        TYPE_HASH_ZIPLIST => hash_of(read_ziplist(&r.string()?)?)?,
        TYPE_HASH_LISTPACK => hash_of(read_listpack(&r.string()?)?)?,
        TYPE_ZSET | TYPE_ZSET_2 => read_zset(r, ty == TYPE_ZSET_2)?,
        TYPE_ZSET_ZIPLIST => zset_of_pairs(read_ziplist(&r.string()?)?)?,
        TYPE_ZSET_LISTPACK => zset_of_pairs(read_listpack(&r.string()?)?)?,
        TYPE_MODULE | TYPE_MODULE_2 => return Err(r.err("module values are not supported")),
        TYPE_STREAM_LISTPACKS | TYPE_STREAM_LISTPACKS_2 => return Err(r.err("streams are not supported")),
        TYPE_HASH_ZIPMAP => return Err(r.err("zipmap hashes (RDB from Redis 2.4) are not supported")),
        _ => return Err(r.err(&format!("unknown object type {ty}"))),
    };
    Ok((!value.is_empty()).then_some(value))
}

fn list_of(items: Vec<Vec<u8>>) -> Value {
    let mut list = List::new();
    for i in &items {
        list.push_back(i);
    }
    Value::List(Box::new(list))
}

/// Quicklist 1 (nodes are ziplists) or 2 (a container, then a listpack or one plain item).
fn read_quicklist(r: &mut Reader<'_>, v2: bool) -> Result<Value, RdbError> {
    let nodes = r.count(1)?;
    let mut list = List::new();
    for _ in 0..nodes {
        let container = if v2 { r.length()? } else { CONTAINER_PACKED };
        let blob = r.string()?;
        match container {
            CONTAINER_PLAIN => list.push_back(&blob),
            CONTAINER_PACKED => {
                let items = if v2 { read_listpack(&blob)? } else { read_ziplist(&blob)? };
                if items.is_empty() {
                    return Err(r.err("empty quicklist node"));
                }
                items.iter().for_each(|i| list.push_back(i));
            }
            _ => return Err(r.err("unknown quicklist container")),
        }
    }
    Ok(Value::List(Box::new(list)))
}

/// field, value, field, value... (a field seen twice is corrupt, as Redis's check).
fn hash_of(pairs: Vec<Vec<u8>>) -> Result<Value, RdbError> {
    if !pairs.len().is_multiple_of(2) {
        return Err(RdbError::new("hash with an odd number of elements".into()));
    }
    let mut hash = Hash::new();
    for pair in pairs.chunks_exact(2) {
        if !hash.set(&pair[0], &pair[1]) {
            return Err(RdbError::new("duplicate hash field".into()));
        }
    }
    Ok(Value::Hash(Box::new(hash)))
}

/// member, score-text, member, score-text...
fn zset_of_pairs(pairs: Vec<Vec<u8>>) -> Result<Value, RdbError> {
    if !pairs.len().is_multiple_of(2) {
        return Err(RdbError::new("sorted set with an odd number of elements".into()));
    }
    let mut z = ZSet::new();
    for pair in pairs.chunks_exact(2) {
        if z.insert(&pair[0], parse_score(&pair[1])?).is_some() {
            return Err(RdbError::new("duplicate sorted set member".into()));
        }
    }
    Ok(Value::ZSet(Box::new(z)))
}

/// `RDB_TYPE_ZSET` (scores as length-prefixed text) or `RDB_TYPE_ZSET_2` (binary doubles).
fn read_zset(r: &mut Reader<'_>, binary: bool) -> Result<Value, RdbError> {
    let n = r.count(2)?;
    let mut z = ZSet::new();
    for _ in 0..n {
        let member = r.string()?;
        let score = if binary {
            f64::from_le_bytes(r.array()?)
        } else {
            match r.u8()? {
                253 => f64::NAN,
                254 => f64::INFINITY,
                255 => f64::NEG_INFINITY,
                len => parse_score(r.bytes(usize::from(len))?)?,
            }
        };
        if score.is_nan() {
            return Err(r.err("NaN score"));
        }
        if z.insert(&member, score).is_some() {
            return Err(r.err("duplicate sorted set member"));
        }
    }
    Ok(Value::ZSet(Box::new(z)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(v: &Value) -> Value {
        let mut out = Vec::new();
        write_value(&mut out, v.into());
        let mut r = Reader::new(&out[1..]);
        let back = read_value(&mut r, out[0]).unwrap().unwrap();
        assert_eq!(r.remaining(), 0);
        back
    }

    #[test]
    fn scores_as_text_read_back_exactly() {
        for s in [0.0, -1.0, 0.1, 1e300, -2.5e-10, 4503599627370497.0, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(parse_score(&score_text(s)).unwrap(), s);
        }
        assert_eq!(score_text(3.0), b"3");
        assert!(parse_score(b"nan").is_err());
    }

    #[test]
    fn every_type_in_both_encodings_round_trips() {
        for n in [3usize, 1000] {
            let mut list = List::new();
            let mut set = Set::new();
            let mut ints = Set::new();
            let mut hash = Hash::new();
            let mut z = ZSet::new();
            for i in 0..n {
                list.push_back(format!("item{i}").as_bytes());
                set.add(format!("m{i}").as_bytes());
                ints.add((i as i64 * 1_000_003 - 7).to_string().as_bytes());
                hash.set(format!("f{i}").as_bytes(), i.to_string().as_bytes());
                z.insert(format!("z{i}").as_bytes(), i as f64 / 3.0);
            }
            let cases = [
                Value::List(Box::new(list)),
                Value::Set(Box::new(set)),
                Value::Set(Box::new(ints)),
                Value::Hash(Box::new(hash)),
                Value::ZSet(Box::new(z)),
            ];
            for v in &cases {
                let back = round_trip(v);
                assert_eq!(back.encoding(), v.encoding());
                assert_eq!(crate::persist::rdb::tests::canonical(&back), crate::persist::rdb::tests::canonical(v));
            }
        }
        assert_eq!(round_trip(&Value::Str(b"12345".to_vec())), &b"12345");
    }
}
