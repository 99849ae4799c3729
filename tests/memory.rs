//! Measures the store's memory per key: 1,000,000 keys of 16 bytes with 32-byte values in a
//! `Store` with the default databases and shards. Prints bytes per key as the allocator sees
//! them (the server's counting jemalloc: requested bytes, no size-class rounding) and as RSS
//! growth (`/proc/self/statm`), plus insert and lookup speed. The counted bytes are bounded
//! a little above the measured figure, so the layout cannot silently grow.
//!
//! Run: `cargo test --release --test memory -- --nocapture`

use std::collections::HashMap;
use std::time::Instant;

use ringkv::store::{now_ms, Store, DATABASES_DEFAULT, SHARDS_PER_DB_DEFAULT};

/// Keys inserted.
const KEYS: usize = 1_000_000;
/// Key and value sizes (the payload is 48 bytes per key).
const KEY_BYTES: usize = 16;
const VALUE_BYTES: usize = 32;
/// Bound on counted bytes per key: measured 77.7 with compact entries (one 59-byte block per
/// key behind an 8-byte slab pointer, no stored hash, see `store::entry`), so a layout
/// regression (a second allocation per key, a 16-byte slab element, a hash vector) fails.
const BYTES_PER_KEY_MAX: f64 = 82.0;

/// The server's allocator (jemalloc with the byte counter INFO's `used_memory` reads), so
/// RSS here is what the server would show.
#[global_allocator]
static GLOBAL: ringkv::alloc::Counting = ringkv::alloc::Counting;

/// Live bytes handed out by the allocator (requested sizes).
fn live_bytes() -> usize {
    ringkv::alloc::used_memory()
}

use ringkv::alloc::rss_bytes;

fn key(i: usize) -> [u8; KEY_BYTES] {
    let mut key = [0u8; KEY_BYTES];
    let text = format!("key:{i:012}");
    key.copy_from_slice(text.as_bytes());
    key
}

#[test]
fn bytes_per_key() {
    let store = Store::new(DATABASES_DEFAULT, SHARDS_PER_DB_DEFAULT);
    let now = now_ms();
    let (live_before, rss_before) = (live_bytes(), rss_bytes());

    let started = Instant::now();
    for i in 0..KEYS {
        let value = vec![b'v'; VALUE_BYTES];
        store.with_key(0, &key(i), now, |kv| kv.set(value, None));
    }
    let insert_ns = started.elapsed().as_nanos() as f64 / KEYS as f64;

    let live = live_bytes() - live_before;
    let rss = rss_bytes().saturating_sub(rss_before);
    let bytes_per_key = live as f64 / KEYS as f64;
    let payload = (KEY_BYTES + VALUE_BYTES) as f64;
    println!("bytes_per_key={bytes_per_key:.1} (payload {payload}, overhead {:.1})", bytes_per_key - payload);
    println!("rss_bytes_per_key={:.1}", rss as f64 / KEYS as f64);

    let started = Instant::now();
    let mut found = 0;
    for i in (0..KEYS).map(|i| i.wrapping_mul(7919) % KEYS) {
        found += store.with_key(0, &key(i), now, |kv| kv.get().map_or(0, |e| e.value().len()));
    }
    let get_ns = started.elapsed().as_nanos() as f64 / KEYS as f64;
    println!("insert_ns_per_key={insert_ns:.0} get_ns_per_key={get_ns:.0} (one thread)");

    assert_eq!(found, KEYS * VALUE_BYTES);
    assert_eq!(store.db_len(0), KEYS);
    assert!(bytes_per_key < BYTES_PER_KEY_MAX, "{bytes_per_key:.1} bytes per key");
    drop(store);
    baseline_hash_map();
}

/// The same workload on one plain `HashMap` with the entry stored inline (key, value,
/// deadline: 48 bytes per bucket), no locks: a yardstick for the numbers above, measured in
/// the same run because absolute timings depend on the machine's load.
fn baseline_hash_map() {
    let live_before = live_bytes();
    let mut map: HashMap<Box<[u8]>, (Vec<u8>, u64), ahash::RandomState> = HashMap::default();
    let started = Instant::now();
    for i in 0..KEYS {
        map.insert(Box::from(&key(i)[..]), (vec![b'v'; VALUE_BYTES], 0));
    }
    let insert_ns = started.elapsed().as_nanos() as f64 / KEYS as f64;
    let live = live_bytes() - live_before;
    let started = Instant::now();
    let mut found = 0;
    for i in (0..KEYS).map(|i| i.wrapping_mul(7919) % KEYS) {
        found += map.get(&key(i)[..]).map_or(0, |(v, _)| v.len());
    }
    let get_ns = started.elapsed().as_nanos() as f64 / KEYS as f64;
    println!(
        "baseline HashMap<Box<[u8]>, (Vec<u8>, u64)>: bytes_per_key={:.1} \
         insert_ns_per_key={insert_ns:.0} get_ns_per_key={get_ns:.0}",
        live as f64 / KEYS as f64
    );
    assert_eq!(found, KEYS * VALUE_BYTES);
}
