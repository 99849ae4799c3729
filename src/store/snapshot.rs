//! A shard's point-in-time snapshot for BGREWRITEAOF (the design and why it is exact are in
//! `durability::rewrite`): every live key as the commands that rebuild it, in RESP, taken
//! by the first locker of a shard after `Store::begin_snapshot` marked it.

use super::{Entry, Shard};
use crate::store::journal::encode;
use crate::types::ValueRef;

/// Items per rebuilding command (RPUSH, SADD, HSET, ZADD), as Redis's
/// `AOF_REWRITE_ITEMS_PER_CMD`: bounds the size of one command in the base file.
pub const SNAPSHOT_ITEMS_PER_COMMAND: usize = 64;

impl Shard {
    /// Serialize the shard now (it is marked and locked) and keep the bytes for the rewrite.
    pub(super) fn take_snapshot_now(&mut self) {
        let now_ms = std::mem::take(&mut self.snapshot_due_ms);
        let mut out = Vec::new();
        let writer = self.snapshot_writer.unwrap_or(write_entry);
        for i in 0..self.slab.len() {
            let entry = self.slab.entry(i);
            if !entry.is_expired(now_ms) {
                writer(&mut out, entry);
            }
        }
        self.snapshot = Some(out.into_boxed_slice());
    }
}

/// The commands that rebuild `entry`: its value, then `PEXPIREAT` for a deadline.
pub fn write_entry(out: &mut Vec<u8>, entry: &Entry) {
    let key = entry.key();
    match entry.value() {
        ValueRef::Str(v) => out.extend_from_slice(&encode(&[b"SET", key, v])),
        ValueRef::List(l) => write_items(out, b"RPUSH", key, l.iter().map(|i| vec![i.to_vec()])),
        ValueRef::Set(s) => write_items(out, b"SADD", key, s.iter().map(|m| vec![m.into_owned()])),
        ValueRef::Hash(h) => write_items(out, b"HSET", key, h.iter().map(|(f, v)| vec![f.to_vec(), v.to_vec()])),
        ValueRef::ZSet(z) => {
            let items = z.iter().into_iter().map(|(m, score)| vec![score_text(score), m.to_vec()]);
            write_items(out, b"ZADD", key, items)
        }
    }
    if let Some(at) = entry.expire_at_ms() {
        let mut n = itoa::Buffer::new();
        out.extend_from_slice(&encode(&[b"PEXPIREAT", key, n.format(at).as_bytes()]));
    }
}

/// `name key item...` in commands of at most [`SNAPSHOT_ITEMS_PER_COMMAND`] items (an item
/// is one argument, or two for a hash field or a sorted-set member).
fn write_items(out: &mut Vec<u8>, name: &[u8], key: &[u8], items: impl Iterator<Item = Vec<Vec<u8>>>) {
    let mut batch: Vec<Vec<u8>> = Vec::new();
    let mut count = 0;
    let flush = |out: &mut Vec<u8>, batch: &mut Vec<Vec<u8>>| {
        let mut args: Vec<&[u8]> = vec![name, key];
        args.extend(batch.iter().map(Vec::as_slice));
        out.extend_from_slice(&encode(&args));
        batch.clear();
    };
    for item in items {
        batch.extend(item);
        count += 1;
        if count == SNAPSHOT_ITEMS_PER_COMMAND {
            flush(out, &mut batch);
            count = 0;
        }
    }
    if count > 0 {
        flush(out, &mut batch);
    }
}

/// A score as text that parses back to the same double (Rust's shortest round-trip form;
/// `inf` / `-inf` as Redis reads them).
fn score_text(score: f64) -> Vec<u8> {
    if score.is_infinite() {
        return if score > 0.0 { b"inf".to_vec() } else { b"-inf".to_vec() };
    }
    format!("{score}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn every_type_is_written_as_commands_with_absolute_deadlines_in_batches() {
        let store = Store::new(1, 1);
        let now = 1_000;
        store.with_key(0, b"s", now, |k| k.set(b"v".to_vec(), Some(90_000)));
        store.with_key(0, b"l", now, |k| {
            let l = k.list_or_new().unwrap();
            for i in 0..(SNAPSHOT_ITEMS_PER_COMMAND + 1) {
                l.push_back(i.to_string().as_bytes());
            }
            k.touch();
        });
        store.with_key(0, b"gone", now, |k| k.set(b"x".to_vec(), Some(1_500)));
        store.begin_snapshot(2_000);
        let bytes = String::from_utf8(store.take_snapshot(0, 0)).unwrap();
        assert!(bytes.contains(&String::from_utf8(encode(&[b"SET", b"s", b"v"])).unwrap()));
        assert!(bytes.contains(&String::from_utf8(encode(&[b"PEXPIREAT", b"s", b"90000"])).unwrap()));
        assert_eq!(bytes.matches("RPUSH").count(), 2, "65 items: two commands");
        assert!(!bytes.contains("gone"), "keys expired at the cut are left out");
        assert!(store.take_snapshot(0, 0).is_empty(), "taken once");
        assert_eq!(score_text(f64::NEG_INFINITY), b"-inf");
        assert_eq!(score_text(0.1).as_slice(), b"0.1");
    }
}
