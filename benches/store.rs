//! What partitioning the keyspace buys: GET and SET from 1 and 2 threads on
//!
//! - `partitioned`: ringkv's [`Store`] as the server builds it (64 shards per db, each its own
//!   padded mutex, shard picked by the key's ahash);
//! - `one_shard`: the same `Store` code with a single shard, i.e. one lock, so the difference
//!   to `partitioned` is the partitioning alone;
//! - `seed_mutex_hashmap`: the seed program's table, `Mutex<HashMap<Vec<u8>, Vec<u8>>>` with
//!   std's SipHash (one lock, different table and hasher).
//!
//! Same 100 000 keys (16 bytes) with 32-byte values in all three; each thread walks its own
//! shuffled order of them. A GET looks the key up and reads the value's length; a SET
//! overwrites the value with a fresh 32-byte `Vec` (no key allocation in any variant). The
//! threads start together on a barrier; the time is the slowest thread's. This machine has 2
//! cores, so 2 threads is as much contention as it can show, and only if nothing else runs: an
//! `extra` line after each benchmark gives the CPU other processes used meanwhile. Ops/s.
//!
//! Run: `cargo bench --bench store`.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ringkv::loadgen::{key, value, CpuSample, KEY_BYTES, VALUE_BYTES_DEFAULT};
use ringkv::store::{now_ms, Store, SHARDS_PER_DB_DEFAULT};

/// Keys in every table.
const KEYS: usize = 100_000;
/// Thread counts compared.
const THREADS: [usize; 2] = [1, 2];

/// A table under test: the three variants behind one interface.
trait Table: Sync {
    /// Length of the key's value (0 if absent).
    fn get(&self, key: &[u8], now_ms: u64) -> usize;
    fn set(&self, key: &[u8], value: Vec<u8>, now_ms: u64);
}

impl Table for Store {
    fn get(&self, key: &[u8], now_ms: u64) -> usize {
        self.with_key(0, key, now_ms, |kv| kv.get().map_or(0, |e| e.value().len()))
    }
    fn set(&self, key: &[u8], value: Vec<u8>, now_ms: u64) {
        self.with_key(0, key, now_ms, |kv| drop(kv.set(value, None)));
    }
}

/// The seed program's keyspace.
struct SeedTable(Mutex<HashMap<Vec<u8>, Vec<u8>>>);

impl Table for SeedTable {
    fn get(&self, key: &[u8], _now_ms: u64) -> usize {
        self.0.lock().unwrap().get(key).map_or(0, Vec::len)
    }
    fn set(&self, key: &[u8], value: Vec<u8>, _now_ms: u64) {
        let mut map = self.0.lock().unwrap();
        match map.get_mut(key) {
            Some(v) => *v = value,
            None => {
                map.insert(key.to_vec(), value);
            }
        }
    }
}

/// The keys, and a shuffled visiting order (xorshift Fisher-Yates, fixed seed).
fn keys_and_order() -> (Vec<[u8; KEY_BYTES]>, Vec<u32>) {
    let keys: Vec<_> = (0..KEYS).map(key).collect();
    let mut order: Vec<u32> = (0..KEYS as u32).collect();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..order.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    (keys, order)
}

/// Run `op(thread, i)` for `i in 0..iters` on `threads` threads started together; returns the
/// slowest thread's time.
fn on_threads(threads: usize, iters: u64, op: &(dyn Fn(usize, u64) + Sync)) -> Duration {
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    for i in 0..iters {
                        op(t, i);
                    }
                    start.elapsed()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("bench thread")).max().unwrap_or_default()
    })
}

fn store(c: &mut Criterion) {
    let (keys, order) = keys_and_order();
    let v = value(VALUE_BYTES_DEFAULT);
    let now = now_ms();
    let tables: Vec<(&str, Box<dyn Table>)> = vec![
        ("partitioned", Box::new(Store::new(1, SHARDS_PER_DB_DEFAULT))),
        ("one_shard", Box::new(Store::new(1, 1))),
        ("seed_mutex_hashmap", Box::new(SeedTable(Mutex::new(HashMap::new())))),
    ];
    for (_, table) in &tables {
        for k in &keys {
            table.set(k, v.clone(), now);
        }
        assert_eq!(table.get(&keys[KEYS - 1], now), VALUE_BYTES_DEFAULT);
    }
    // Thread t starts this far into the order, so two threads touch different keys.
    let stride = KEYS / 2;
    let key_of = |t: usize, i: u64| &keys[order[(i as usize + t * stride) % KEYS] as usize][..];
    for op in ["get", "set"] {
        let mut group = c.benchmark_group(format!("store_{op}"));
        for (name, table) in &tables {
            let table = &**table;
            for threads in THREADS {
                group.throughput(Throughput::Elements(threads as u64));
                let id = BenchmarkId::new(*name, format!("{threads}thread"));
                let before = CpuSample::take(None);
                group.bench_function(id, |b| {
                    b.iter_custom(|iters| {
                        if op == "get" {
                            on_threads(threads, iters, &|t, i| {
                                black_box(table.get(key_of(t, i), now));
                            })
                        } else {
                            on_threads(threads, iters, &|t, i| table.set(key_of(t, i), v.clone(), now))
                        }
                    })
                });
                if !std::env::args().any(|a| a == "--test") {
                    let cpu = CpuSample::take(None).since(&before);
                    println!(
                        "extra store_{op}/{name}/{threads}thread: background load {:.0}% of a core",
                        cpu.background_cores * 100.0
                    );
                }
            }
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    // Plots are skipped: rendering them costs seconds per benchmark on a 2-core machine.
    config = Criterion::default()
        .without_plots()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = store
}
criterion_main!(benches);
