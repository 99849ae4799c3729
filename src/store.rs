//! The keyspace: an ahash-partitioned, in-memory store of binary-safe string keys and values
//! with millisecond expiry, shared by every engine and every worker thread.
//!
//! Layout: `databases` logical databases (SELECT 0..15), each split into `shards` (a power of
//! two) independent shards. A shard is a mutex around its tables, padded to its own cache
//! line(s) so two cores locking neighbouring shards do not false-share. The key's 64-bit ahash
//! is computed once per access: its high half picks the shard, its low half is the key's
//! 32-bit hash inside the shard, so a GET hashes its key exactly once. (Using different bits
//! for the two jobs keeps each shard's table evenly spread: every key of a shard agrees on the
//! shard bits, so those bits must not also pick the bucket.)
//!
//! Inside a shard, entries live in a dense, chunked slab (`Vec`s of [`SLAB_CHUNK`] entries, so
//! growth never copies more than one chunk). An [`Entry`] is a thin pointer (8 bytes) to one
//! heap block holding the key, a short string value and the deadline/access word (see
//! [`entry`]). The `hashbrown::HashTable` holds only a `u32` slab index per bucket (4 bytes +
//! 1 control byte), so the table's unavoidable slack (a power-of-two bucket count, 44..88%
//! full) costs about 5..11 bytes per key. Hashes are not stored: when the table rehashes
//! (growth, shrink) or an entry moves in the slab, the key's hash is recomputed from its
//! block (one ahash of the key), which saves 4 bytes per key; lookups hash only the key asked
//! for, as before. Deleting moves the last entry into the hole and fixes that one table slot.
//! Measured with `cargo test --release --test memory -- --nocapture` (1M keys of 16 bytes with
//! 32-byte values, default dbs and shards, jemalloc), see `docs/memory.md` for the server:
//! with the former 48-byte entry (separate key and value allocations, a parallel hash vector)
//! 112 bytes per key counted and 119 of RSS growth; with compact entries 82 and 90; without
//! the hash vector (and with 4-page jemalloc slabs, see `alloc`) 77.7 and 84.5. The same
//! keys in one `HashMap` with 48-byte entries stored inline take 151 bytes per key counted.
//! The price is one more dependent memory access per lookup (the `u32` slot) than a map
//! holding the entries inline, and a table resize that rehashes every key from its block.
//!
//! Expiry: an entry carries an absolute deadline in Unix milliseconds. Access is lazy (an
//! expired entry is removed when touched and reads as absent); [`Store::active_expire_cycle`]
//! samples keys that have a deadline (Redis's active expire: sample, delete the expired ones,
//! repeat while a quarter or more were expired, stop at a time budget) so expired keys
//! disappear without being touched. The slab keeps the keys with a deadline in front
//! (`[0, volatile)`), so sampling one is a random index and `expires=` is an exact count.
//!
//! Multi-key commands lock every shard they touch in ascending shard order, so they are atomic
//! and cannot deadlock. Closures run with shards locked: they must not call back into the
//! [`Store`].
//!
//! # Modification contract (WATCH)
//!
//! Every change to a key goes through one of the shard's lowest-level mutations: `insert`
//! (new key), `remove_at` (DEL, overwrite-with-past-deadline, lazy and active expiry, flush),
//! `set_deadline` (value replaced by `set`, EXPIRE, PERSIST) and, for in-place changes,
//! [`KeyView::get_mut`] and [`KeyView::set_keep_ttl`]. Each of them "touches" the key: the
//! shard's WATCH registry ([`watch`]) marks every client watching it dirty, so EXEC fails.
//! Reads use [`KeyView::get`], which hands out `&Entry` and touches nothing. A data type
//! (hash, list, set, zset, ...) that changes its value in place must reach it through
//! `get_mut` (only once it is sure it will change it, so a failing command does not
//! invalidate WATCH), or replace it with `set`/`set_keep_ttl`/`put_entry`; then WATCH needs
//! nothing more from it. A shard nobody watches pays one `None` test per mutation.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crossbeam_utils::CachePadded;
use hashbrown::HashTable;

use crate::store::journal::Journal;
use crate::types::Value;

mod access;
pub mod entry;
mod evict;
pub mod journal;
mod snapshot;
mod swap;
mod typed;
mod watch;
pub use access::{idle_ms, AccessPolicy, DEADLINE_MAX_MS};
pub use entry::Entry;
pub use evict::{Candidate, Score};
pub use watch::Watches;

/// Default number of logical databases (Redis's `databases 16`).
pub const DATABASES_DEFAULT: usize = 16;
/// Shards per database: enough to keep lock contention negligible with a worker per core, few
/// enough that an empty database costs little (each shard is one padded mutex + empty table).
pub const SHARDS_PER_DB_DEFAULT: usize = 64;
pub use snapshot::{write_entry, SNAPSHOT_ITEMS_PER_COMMAND};
/// Upper bound for `shards_per_db`: the shard comes from the hash's high 32 bits, and more
/// shards than this only cost memory (every shard is at least a padded mutex, ~128 bytes).
pub const SHARDS_PER_DB_MAX: usize = 1 << 16;
/// Active expiry: keys sampled per shard per round (Redis's ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP).
pub const EXPIRE_SAMPLE_KEYS: usize = 20;
/// Active expiry keeps sampling a shard while at least 1/EXPIRE_REPEAT_RATIO of a round's
/// sample had expired (Redis: 25%).
const EXPIRE_REPEAT_RATIO: usize = 4;
/// Entries per slab chunk: 256 * 8 bytes = 2 KiB. Big enough that the per-chunk `Vec`
/// header is noise, small enough that a growing shard never copies more than one chunk and a
/// shard's half-empty last chunk wastes at most 2 KiB.
pub const SLAB_CHUNK: usize = 1 << SLAB_CHUNK_BITS;
const SLAB_CHUNK_BITS: u32 = 8;
/// The first chunk of a shard starts this small and doubles up to [`SLAB_CHUNK`], so a shard
/// holding a handful of keys (most shards of most databases) costs a few hundred bytes.
const SLAB_FIRST_CHUNK_MIN: usize = 4;
/// Entries per shard are addressed by `u32`; `u32::MAX` is reserved as a scratch marker. At
/// 64 shards per db that is ~275 billion keys per db, far beyond any machine's memory.
pub const SHARD_KEYS_MAX: usize = u32::MAX as usize - 1;
/// A shard's table (and hash vector) is shrunk when it is less than 1/SHRINK_RATIO full ...
const SHRINK_RATIO: usize = 4;
/// ... and larger than this many slots (small tables are not worth a rehash).
const SHRINK_CAPACITY_MIN: usize = 128;
/// RANDOMKEY: random slab positions tried per shard before moving on (expired keys hit on
/// the way are deleted), so a db full of expired keys cannot loop forever.
const RANDOM_KEY_TRIES_PER_SHARD: usize = 16;
/// Odd multiplier that spreads a key's 32-bit hash over the 64 bits hashbrown wants (low bits
/// pick the bucket, the top 7 bits are the control byte).
const TABLE_HASH_MUL: u64 = 0x9E37_79B9_7F4A_7C15;

/// Current wall-clock time in Unix milliseconds (vDSO clock, no syscall). 0 on a thread
/// inside a [`FrozenClock`] (loading: nothing expires).
pub fn now_ms() -> u64 {
    if FROZEN.with(Cell::get) {
        return 0;
    }
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

thread_local! {
    static FROZEN: Cell<bool> = const { Cell::new(false) };
}

/// While alive, [`now_ms`] reads 0 on this thread, so no key counts as expired: loading an
/// AOF replays commands as they ran (Redis does not expire keys while loading either; the
/// file has a DEL for every key that expired).
pub struct FrozenClock {
    _private: (),
}

impl FrozenClock {
    pub fn start() -> FrozenClock {
        FROZEN.with(|f| f.set(true));
        FrozenClock { _private: () }
    }
}

impl Drop for FrozenClock {
    fn drop(&mut self) {
        FROZEN.with(|f| f.set(false));
    }
}

/// Wall-clock time in Unix microseconds (MONITOR, SLOWLOG timestamps).
pub fn now_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// The deadline and access clock of an entry live in its block's metadata word: low
/// [`access::DEADLINE_BITS`] bits the absolute deadline in Unix ms (0 = no expiry), high
/// [`access::ACCESS_BITS`] the access clock (LRU / LFU, see [`access`]).
impl Entry {
    /// The deadline in Unix ms, if any.
    pub fn expire_at_ms(&self) -> Option<u64> {
        let deadline = self.deadline();
        if deadline == 0 {
            None
        } else {
            Some(deadline)
        }
    }

    /// The deadline (0 = none).
    fn deadline(&self) -> u64 {
        self.meta() & DEADLINE_MAX_MS
    }

    fn set_deadline(&mut self, deadline_ms: u64) {
        self.set_meta(pack_meta(deadline_ms, self.access()));
    }

    /// The access clock bits (see [`access`]).
    pub fn access(&self) -> u64 {
        self.meta() >> access::DEADLINE_BITS
    }

    fn set_access(&mut self, bits: u64) {
        self.set_meta(pack_meta(self.deadline(), bits));
    }

    fn is_expired(&self, now_ms: u64) -> bool {
        let deadline = self.deadline();
        deadline != 0 && deadline <= now_ms
    }
}

/// The deadline word: `deadline_ms` clamped to [`DEADLINE_MAX_MS`], `access` on top.
fn pack_meta(deadline_ms: u64, access: u64) -> u64 {
    deadline_ms.min(DEADLINE_MAX_MS) | (access << access::DEADLINE_BITS)
}

/// The 64-bit table hash for a key's 32-bit in-shard hash.
fn table_hash(hash32: u32) -> u64 {
    u64::from(hash32).wrapping_mul(TABLE_HASH_MUL)
}

/// A uniformly random index below `n` (`n` > 0) from a per-thread xorshift64 generator.
fn random_below(n: usize) -> usize {
    thread_local! {
        static RNG: Cell<u64> =
            Cell::new(ahash::RandomState::new().hash_one(std::thread::current().id()) | 1);
    }
    let x = RNG.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        x
    });
    ((u128::from(x) * n as u128) >> 64) as usize
}

/// Dense storage for a shard's entries, indexed `0..len()`.
#[derive(Default)]
struct Slab {
    /// Every chunk but the last holds exactly [`SLAB_CHUNK`] entries.
    chunks: Vec<Vec<Entry>>,
    /// Entries held.
    len: usize,
}

impl Slab {
    fn len(&self) -> usize {
        self.len
    }

    fn entry(&self, i: usize) -> &Entry {
        &self.chunks[i >> SLAB_CHUNK_BITS][i & (SLAB_CHUNK - 1)]
    }

    fn entry_mut(&mut self, i: usize) -> &mut Entry {
        &mut self.chunks[i >> SLAB_CHUNK_BITS][i & (SLAB_CHUNK - 1)]
    }

    fn push(&mut self, entry: Entry) {
        match self.chunks.last_mut() {
            Some(last) if last.len() < SLAB_CHUNK => {
                if last.len() == last.capacity() {
                    // Only the first chunk grows; double it, capped at a full chunk.
                    let extra = last.len().max(SLAB_FIRST_CHUNK_MIN);
                    last.reserve_exact(extra.min(SLAB_CHUNK - last.len()));
                }
                last.push(entry);
            }
            _ => {
                let capacity = if self.chunks.is_empty() { SLAB_FIRST_CHUNK_MIN } else { SLAB_CHUNK };
                let mut chunk = Vec::with_capacity(capacity);
                chunk.push(entry);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
    }

    /// Removes the last entry.
    fn pop(&mut self) -> Option<Entry> {
        let last = self.chunks.last_mut()?;
        let entry = last.pop();
        if last.is_empty() {
            self.chunks.pop();
        }
        self.len -= usize::from(entry.is_some());
        entry
    }

    fn swap(&mut self, a: usize, b: usize) {
        if a == b {
            return;
        }
        let (chunk_a, chunk_b) = (a >> SLAB_CHUNK_BITS, b >> SLAB_CHUNK_BITS);
        let (slot_a, slot_b) = (a & (SLAB_CHUNK - 1), b & (SLAB_CHUNK - 1));
        if chunk_a == chunk_b {
            self.chunks[chunk_a].swap(slot_a, slot_b);
        } else {
            let (low, high) = (chunk_a.min(chunk_b), chunk_a.max(chunk_b));
            let (head, tail) = self.chunks.split_at_mut(high);
            let (slot_low, slot_high) = if chunk_a < chunk_b { (slot_a, slot_b) } else { (slot_b, slot_a) };
            std::mem::swap(&mut head[low][slot_low], &mut tail[0][slot_high]);
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.chunks.iter().flatten()
    }
}

/// One partition: a table plus the bookkeeping active expiry needs.
///
/// Invariants: the table holds exactly the indices `0..slab.len()`, each in the bucket of
/// `table_hash(hash_of(i))`; entries `0..volatile` have a deadline, the rest have none.
#[derive(Default)]
pub struct Shard {
    /// Slab index of each key, hashed by the key's 32-bit hash.
    table: HashTable<u32>,
    /// The store's key hasher (a copy): the table rehashes from the keys (see [`Shard::hash_of`]).
    hasher: ahash::RandomState,
    slab: Slab,
    /// Number of entries with a deadline; they occupy slab positions `0..volatile`.
    volatile: usize,
    /// Clients watching keys of this shard; `None` while nobody does (see [`watch`]).
    watched: Option<Box<watch::Registry>>,
    /// The database this shard belongs to (expired keys are journaled as `DEL` in it).
    db: usize,
    /// The store's change journal (see [`crate::store::journal`]): every modification
    /// takes its order from it.
    journal: Arc<Journal>,
    /// A rewrite marked this shard: its first locker serializes it first (see
    /// [`Store::begin_snapshot`]); the rewrite's Unix ms (0 = not marked).
    snapshot_due_ms: u64,
    /// The serialized shard, waiting for the rewrite to pick it up.
    snapshot: Option<Box<[u8]>>,
    /// The db's "may hold keys with a deadline" flag, shared by its shards: set when this
    /// shard's `volatile` leaves 0, cleared by active expiry (see
    /// [`Store::active_expire_cycle`]), so the cycle skips dbs without deadlines.
    expiring: Arc<AtomicBool>,
    /// How the marked shard is serialized: AOF commands (BGREWRITEAOF) or RDB records
    /// (SAVE / BGSAVE); `None` = [`snapshot::write_entry`].
    snapshot_writer: Option<SnapshotWriter>,
}

/// Serializes one live entry into a snapshot (see [`Store::begin_snapshot_with`]).
pub type SnapshotWriter = fn(&mut Vec<u8>, &Entry);

/// The in-shard 32-bit hash of `key` (the low half of its 64-bit hash, see the module docs).
fn key_hash32(hasher: &ahash::RandomState, key: &[u8]) -> u32 {
    hasher.hash_one(key) as u32
}

impl Shard {
    /// The in-shard hash of the entry at slab position `i`, recomputed from its key: keeping
    /// it in a parallel vector would cost 4 bytes per key for the rare moves and rehashes.
    fn hash_of(&self, i: usize) -> u32 {
        key_hash32(&self.hasher, self.slab.entry(i).key())
    }

    /// `key` is being modified: mark its watchers dirty (see the modification contract) and
    /// order the change in the journal.
    #[inline]
    fn touch(&self, key: &[u8]) {
        if let Some(registry) = &self.watched {
            registry.touch(key);
        }
        self.journal.note_change();
    }

    /// Remove the entry at `i` because it expired or is evicted: its watchers are touched
    /// and the removal is journaled as a `DEL` (not as a change made by the running command).
    fn remove_expired(&mut self, i: usize) -> Option<Entry> {
        let entry = self.slab.entry(i);
        if let Some(registry) = &self.watched {
            registry.touch(entry.key());
        }
        self.journal.note_expired(self.db, entry.key());
        self.remove_untouched(i)
    }

    /// Slab position of `key` (expired or not).
    fn find(&self, hash32: u32, key: &[u8]) -> Option<usize> {
        let slab = &self.slab;
        let found = self.table.find(table_hash(hash32), |&i| slab.entry(i as usize).key() == key);
        found.map(|&i| i as usize)
    }

    /// Slab position of `key` if it is live; an expired entry is removed.
    fn find_live(&mut self, hash32: u32, key: &[u8], now_ms: u64) -> Option<usize> {
        let i = self.find(hash32, key)?;
        if self.slab.entry(i).is_expired(now_ms) {
            self.remove_expired(i);
            return None;
        }
        Some(i)
    }

    /// Adds an entry whose key is not present; returns its slab position.
    fn insert(&mut self, hash32: u32, entry: Entry) -> usize {
        debug_assert!(self.slab.len() < SHARD_KEYS_MAX);
        self.touch(entry.key());
        let has_deadline = entry.deadline() != 0;
        let i = self.slab.len();
        self.slab.push(entry);
        let (slab, hasher) = (&self.slab, &self.hasher);
        let rehash = |&j: &u32| table_hash(key_hash32(hasher, slab.entry(j as usize).key()));
        self.table.insert_unique(table_hash(hash32), i as u32, rehash);
        if !has_deadline {
            return i;
        }
        let front = self.volatile;
        self.swap_slots(i, front);
        self.add_volatile();
        front
    }

    /// One more entry with a deadline (callers place it at slab position `volatile`).
    fn add_volatile(&mut self) {
        if self.volatile == 0 {
            self.expiring.store(true, Ordering::Relaxed);
        }
        self.volatile += 1;
    }

    /// Points the table slot holding `from` (an entry with hash `hash32`) at `to`.
    fn retarget(&mut self, hash32: u32, from: usize, to: usize) {
        let slot = self.table.find_mut(table_hash(hash32), |&x| x as usize == from);
        debug_assert!(slot.is_some(), "slab index {from} missing from the table");
        if let Some(slot) = slot {
            *slot = to as u32;
        }
    }

    /// Swaps two slab positions and their table slots.
    fn swap_slots(&mut self, a: usize, b: usize) {
        if a == b {
            return;
        }
        let hashes = [table_hash(self.hash_of(a)), table_hash(self.hash_of(b))];
        let wanted = [a, b];
        let slots = self.table.get_many_mut(hashes, |k, &x| x as usize == wanted[k]);
        debug_assert!(slots.iter().all(Option::is_some), "slab index missing from the table");
        if let [Some(slot_a), Some(slot_b)] = slots {
            *slot_a = b as u32;
            *slot_b = a as u32;
        }
        self.slab.swap(a, b);
    }

    /// Removes the entry at slab position `i`, filling the hole so the slab stays dense and
    /// the entries with a deadline stay in front.
    fn remove_at(&mut self, i: usize) -> Option<Entry> {
        self.touch(self.slab.entry(i).key());
        self.remove_untouched(i)
    }

    /// [`Shard::remove_at`] without touching (the caller did).
    fn remove_untouched(&mut self, i: usize) -> Option<Entry> {
        let hash32 = self.hash_of(i);
        let removed = self.table.find_entry(table_hash(hash32), |&x| x as usize == i);
        debug_assert!(removed.is_ok(), "slab index {i} missing from the table");
        removed.ok()?.remove();
        let mut hole = i;
        if hole < self.volatile {
            let last_volatile = self.volatile - 1;
            self.move_into_hole(last_volatile, hole);
            self.volatile = last_volatile;
            hole = last_volatile;
        }
        let last = self.slab.len() - 1;
        self.move_into_hole(last, hole);
        let entry = self.slab.pop();
        self.maybe_shrink();
        entry
    }

    /// Moves the entry at `from` into `hole` (whose table slot is already gone); the removed
    /// entry ends up at `from`.
    fn move_into_hole(&mut self, from: usize, hole: usize) {
        if from == hole {
            return;
        }
        self.slab.swap(from, hole);
        self.retarget(self.hash_of(hole), from, hole);
    }

    /// Sets the deadline (0 = none) of the entry at `i`; returns its new slab position.
    fn set_deadline(&mut self, i: usize, expire_at_ms: u64) -> usize {
        self.touch(self.slab.entry(i).key());
        let had_deadline = self.slab.entry(i).deadline() != 0;
        let mut i = i;
        if !had_deadline && expire_at_ms != 0 {
            let front = self.volatile;
            self.swap_slots(i, front);
            self.add_volatile();
            i = front;
        } else if had_deadline && expire_at_ms == 0 {
            self.volatile -= 1;
            let boundary = self.volatile;
            self.swap_slots(i, boundary);
            i = boundary;
        }
        self.slab.entry_mut(i).set_deadline(expire_at_ms);
        i
    }

    /// Gives memory back after mass deletion (hashbrown never shrinks on its own).
    fn maybe_shrink(&mut self) {
        let capacity = self.table.capacity();
        if capacity > SHRINK_CAPACITY_MIN && self.table.len() * SHRINK_RATIO < capacity {
            let (slab, hasher) = (&self.slab, &self.hasher);
            let rehash = |&j: &u32| table_hash(key_hash32(hasher, slab.entry(j as usize).key()));
            self.table.shrink_to(self.table.len(), rehash);
        }
    }

    /// Active expiry on this shard: one round of up to [`EXPIRE_SAMPLE_KEYS`] samples.
    /// Returns how many keys expired and whether another round is worthwhile (at least
    /// 1/[`EXPIRE_REPEAT_RATIO`] of a random sample had expired).
    fn expire_round(&mut self, now_ms: u64) -> (usize, usize, bool) {
        let mut expired = 0;
        if self.volatile <= EXPIRE_SAMPLE_KEYS {
            let sampled = self.volatile;
            // Few enough to check them all. Walking down is safe: removing `i` moves the
            // entry from `volatile - 1` (already checked) into `i`.
            for i in (0..self.volatile).rev() {
                if self.slab.entry(i).is_expired(now_ms) {
                    self.remove_expired(i);
                    expired += 1;
                }
            }
            return (sampled, expired, false);
        }
        let mut sampled = 0;
        for _ in 0..EXPIRE_SAMPLE_KEYS {
            if self.volatile == 0 {
                break;
            }
            sampled += 1;
            let i = random_below(self.volatile);
            if self.slab.entry(i).is_expired(now_ms) {
                self.remove_expired(i);
                expired += 1;
            }
        }
        (sampled, expired, expired * EXPIRE_REPEAT_RATIO >= EXPIRE_SAMPLE_KEYS)
    }
}

/// Access to one key inside its locked shard. `now_ms` is fixed for the whole access, so a key
/// expiring mid-command is seen consistently. Every method treats an expired key as absent
/// (and removes it).
pub struct KeyView<'a> {
    shard: &'a mut Shard,
    access: &'a AccessPolicy,
    hash: u64,
    key: &'a [u8],
    now_ms: u64,
}

impl<'a> KeyView<'a> {
    /// The key this view is for.
    pub fn key(&self) -> &[u8] {
        self.key
    }

    fn hash32(&self) -> u32 {
        self.hash as u32
    }

    /// The live entry's slab position, its access clock updated (a read or write access).
    fn find_live(&mut self) -> Option<usize> {
        let i = self.find_live_untouched()?;
        let entry = self.shard.slab.entry_mut(i);
        let random01 = || random_below(1 << 24) as f64 / f64::from(1u32 << 24);
        entry.set_access(self.access.touched(entry.access(), self.now_ms, random01));
        Some(i)
    }

    /// The live entry's slab position, leaving its access clock alone.
    fn find_live_untouched(&mut self) -> Option<usize> {
        self.shard.find_live(self.hash32(), self.key, self.now_ms)
    }

    /// The live entry without counting an access (OBJECT IDLETIME / FREQ, Redis's
    /// `LOOKUP_NOTOUCH`).
    pub fn peek(&mut self) -> Option<&Entry> {
        let i = self.find_live_untouched()?;
        Some(self.shard.slab.entry(i))
    }

    /// How the store records accesses (to read an entry's [`Entry::access`] bits).
    pub fn access_policy(&self) -> &AccessPolicy {
        self.access
    }

    /// The time of this access in Unix ms.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// The live entry, if any, for reading.
    pub fn get(&mut self) -> Option<&Entry> {
        let i = self.find_live()?;
        Some(self.shard.slab.entry(i))
    }

    /// The live entry, if any, to change in place. Counts as a modification of the key
    /// (WATCH), so call it only once the change is certain.
    pub fn get_mut(&mut self) -> Option<&mut Entry> {
        let i = self.find_live()?;
        self.shard.touch(self.key);
        Some(self.shard.slab.entry_mut(i))
    }

    /// The live entry, to change in place when whether it changes is known only afterwards
    /// (collection commands): not counted as a modification; the caller calls
    /// [`KeyView::touch`] once it has changed something.
    pub fn get_untracked(&mut self) -> Option<&mut Entry> {
        let i = self.find_live()?;
        Some(self.shard.slab.entry_mut(i))
    }

    /// Count a change made through [`KeyView::get_untracked`] as a modification (WATCH).
    pub fn touch(&mut self) {
        self.shard.touch(self.key);
    }

    /// True if the key exists (and has not expired).
    pub fn exists(&mut self) -> bool {
        self.find_live().is_some()
    }

    /// Store `value`, replacing any old value. `expire_at_ms`: `None` = no expiry (an old TTL
    /// is dropped, as SET does). Returns the old entry if there was a live one.
    ///
    /// A deadline at or before `now_ms` stores nothing: the old key is removed (and returned),
    /// as Redis does for `SET k v PXAT <past>`.
    pub fn set(&mut self, value: impl Into<Value>, expire_at_ms: Option<u64>) -> Option<Entry> {
        let value = value.into();
        self.set_with(expire_at_ms, |key, meta| Entry::new(key, value, meta))
    }

    /// [`KeyView::set`] for a string given as bytes: one allocation (the entry's block) for
    /// a short value, none at all when it overwrites a short string of the same length.
    pub fn set_bytes(&mut self, value: &[u8], expire_at_ms: Option<u64>) {
        let deadline = match expire_at_ms {
            Some(t) if t <= self.now_ms => return drop(self.remove()),
            Some(t) => t,
            None => 0,
        };
        let Some(i) = self.find_live() else {
            let entry = Entry::new_str(self.key, value, pack_meta(deadline, self.access.initial(self.now_ms)));
            self.shard.insert(self.hash32(), entry);
            return;
        };
        self.shard.slab.entry_mut(i).overwrite_str(value);
        self.shard.set_deadline(i, deadline);
    }

    /// The body of [`KeyView::set`]: `build(key, meta)` makes the new entry.
    fn set_with(&mut self, expire_at_ms: Option<u64>, build: impl FnOnce(&[u8], u64) -> Entry) -> Option<Entry> {
        let deadline = match expire_at_ms {
            Some(t) if t <= self.now_ms => return self.remove(),
            Some(t) => t,
            None => 0,
        };
        let Some(i) = self.find_live() else {
            let entry = build(self.key, pack_meta(deadline, self.access.initial(self.now_ms)));
            self.shard.insert(self.hash32(), entry);
            return None;
        };
        let entry = self.shard.slab.entry_mut(i);
        let new = build(self.key, entry.meta());
        let old = std::mem::replace(entry, new);
        self.shard.set_deadline(i, deadline);
        Some(old)
    }

    /// Store `value` keeping the key's current deadline if it has one (SET KEEPTTL, APPEND
    /// on a new key uses `set`). Returns the old entry if there was a live one.
    pub fn set_keep_ttl(&mut self, value: impl Into<Value>) -> Option<Entry> {
        let value = value.into();
        let Some(i) = self.find_live() else {
            return self.set(value, None);
        };
        self.shard.touch(self.key);
        Some(self.shard.slab.entry_mut(i).replace_value(value))
    }

    /// Store the string `value` keeping the key's deadline (INCR, SET KEEPTTL): in place
    /// when it overwrites a short string of the same length. A modification (WATCH).
    pub fn set_bytes_keep_ttl(&mut self, value: &[u8]) {
        let Some(i) = self.find_live() else {
            return self.set_bytes(value, None);
        };
        self.shard.touch(self.key);
        self.shard.slab.entry_mut(i).overwrite_str(value);
    }

    /// Remove the key; returns the live entry if there was one.
    pub fn remove(&mut self) -> Option<Entry> {
        let i = self.find_live()?;
        self.shard.remove_at(i)
    }

    /// Set (`Some`) or clear (`None`) the key's deadline. Returns false if the key is absent.
    /// A deadline at or before `now_ms` deletes the key (and still returns true), as Redis does.
    pub fn set_expire(&mut self, expire_at_ms: Option<u64>) -> bool {
        let Some(i) = self.find_live() else {
            return false;
        };
        match expire_at_ms {
            Some(t) if t <= self.now_ms => {
                self.shard.remove_at(i);
            }
            Some(t) => {
                self.shard.set_deadline(i, t);
            }
            None => {
                self.shard.set_deadline(i, 0);
            }
        }
        true
    }

    /// Insert an entry moved from elsewhere (RENAME/MOVE/COPY): key bytes are this view's key,
    /// value and deadline taken from `entry`. Replaces any existing key.
    pub fn put_entry(&mut self, value: impl Into<Value>, expire_at_ms: Option<u64>) -> Option<Entry> {
        self.set(value, expire_at_ms)
    }
}

/// Several keys locked together (shards locked in ascending order, each once).
pub struct MultiView<'a> {
    /// One guard per distinct shard, in ascending (db, shard) order.
    guards: Vec<MutexGuard<'a, Shard>>,
    /// Per requested key: index into `guards` and the key's hash.
    slots: Vec<(usize, u64)>,
    keys: &'a [(usize, &'a [u8])],
    access: &'a AccessPolicy,
    now_ms: u64,
}

impl<'a> MultiView<'a> {
    /// Number of keys requested.
    pub fn len(&self) -> usize {
        self.slots.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// A view of key `i` (in the order they were requested). Panics if `i >= len()`.
    pub fn key(&mut self, i: usize) -> KeyView<'_> {
        let (guard, hash) = self.slots[i];
        KeyView { shard: &mut self.guards[guard], access: self.access, hash, key: self.keys[i].1, now_ms: self.now_ms }
    }
}

/// Every access to a shard locks it here: a new journal section (only while the journal is
/// on: `appendonly no` pays one relaxed load), and a rewrite's snapshot taken first if the
/// shard is marked (one test of a field of the locked shard otherwise).
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    let mut guard = lock_raw(shard);
    if guard.journal.enabled_relaxed() {
        crate::store::journal::new_section();
    }
    if guard.snapshot_due_ms != 0 {
        guard.take_snapshot_now();
    }
    guard
}

fn lock_raw(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // A panic while a shard was locked leaves it consistent (no operation panics halfway on
    // purpose), so keep serving rather than poisoning the whole keyspace.
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One database: its shards, each on its own cache line(s).
type Db = Box<[CachePadded<Mutex<Shard>>]>;

/// The whole keyspace.
pub struct Store {
    /// `dbs[db][shard]`. Shared with clients' [`Watches`], which unregister themselves when
    /// dropped.
    dbs: Arc<[Db]>,
    hasher: ahash::RandomState,
    shard_mask: u64,
    /// Global shard index (`db * shards_per_db + shard`) where the next active expire cycle
    /// starts, so consecutive cycles with a short budget still cover every shard.
    expire_cursor: AtomicUsize,
    /// How accesses update each entry's clock (maxmemory-policy, lfu-*).
    access: AccessPolicy,
    /// Orders every change for the AOF and counts them (see [`crate::store::journal`]).
    journal: Arc<Journal>,
    /// Per db: may it hold keys with a deadline (shared with its shards, see `Shard`).
    expiring: Box<[Arc<AtomicBool>]>,
}

impl Store {
    /// `databases` >= 1; `shards_per_db` is rounded up to a power of two (at most
    /// [`SHARDS_PER_DB_MAX`]; 0 is taken as 1, as is 0 databases).
    pub fn new(databases: usize, shards_per_db: usize) -> Self {
        let databases = databases.max(1);
        let shards = shards_per_db.clamp(1, SHARDS_PER_DB_MAX).next_power_of_two();
        let journal = Arc::new(Journal::default());
        let expiring: Box<[Arc<AtomicBool>]> = (0..databases).map(|_| Arc::default()).collect();
        let hasher = ahash::RandomState::new();
        let dbs = expiring
            .iter()
            .enumerate()
            .map(|(db, flag)| {
                let shard = || Shard {
                    expiring: flag.clone(),
                    db,
                    journal: journal.clone(),
                    hasher: hasher.clone(),
                    ..Shard::default()
                };
                (0..shards).map(|_| CachePadded::new(Mutex::new(shard()))).collect()
            })
            .collect();
        Store {
            dbs,
            hasher,
            shard_mask: shards as u64 - 1,
            expire_cursor: AtomicUsize::new(0),
            access: AccessPolicy::default(),
            journal,
            expiring,
        }
    }

    /// The change journal (dirty counter, AOF order).
    pub fn journal(&self) -> &Arc<Journal> {
        &self.journal
    }

    /// A rewrite's cut (the caller holds the exclusive side of the isolation lock, so nothing
    /// changes meanwhile): mark every shard; each is serialized, as it is now, by its next
    /// locker (see `durability::rewrite` for why that is exact). `now_ms`: keys expired by
    /// then are left out.
    pub fn begin_snapshot(&self, now_ms: u64) {
        self.begin_snapshot_with(now_ms, None, false);
    }

    /// [`Store::begin_snapshot`] with another entry format (`None`: AOF commands).
    /// `all_at_once`: hold every shard's lock together while marking (in ascending order, as
    /// `with_keys`), for a caller that cannot take the isolation lock's exclusive side (SAVE
    /// runs inside a command): no lock section is then half seen, across shards.
    pub fn begin_snapshot_with(&self, now_ms: u64, writer: Option<SnapshotWriter>, all_at_once: bool) {
        let mut held = Vec::new();
        for shard in self.dbs.iter().flat_map(|db| db.iter()) {
            let mut g = lock_raw(shard);
            g.snapshot_due_ms = now_ms.max(1);
            g.snapshot = None;
            g.snapshot_writer = writer;
            if all_at_once {
                held.push(g);
            }
        }
    }

    /// The snapshot of shard `shard` of `db` as RESP commands (serialized now if nobody did
    /// yet), handed over once.
    pub fn take_snapshot(&self, db: usize, shard: usize) -> Vec<u8> {
        let Some(s) = self.dbs.get(db).and_then(|d| d.get(shard)) else { return Vec::new() };
        lock(s).snapshot.take().map(Vec::from).unwrap_or_default()
    }

    /// The rewrite is over (done or failed): drop every mark and snapshot left.
    pub fn end_snapshot(&self) {
        for shard in self.dbs.iter().flat_map(|db| db.iter()) {
            let mut g = lock_raw(shard);
            g.snapshot_due_ms = 0;
            g.snapshot = None;
            g.snapshot_writer = None;
        }
    }
    pub fn databases(&self) -> usize {
        self.dbs.len()
    }
    /// How accesses update each entry's clock (set from maxmemory-policy and lfu-*).
    pub fn access_policy(&self) -> &AccessPolicy {
        &self.access
    }
    pub fn shards_per_db(&self) -> usize {
        (self.shard_mask + 1) as usize
    }

    /// The key's hash and its shard within a db.
    fn locate(&self, key: &[u8]) -> (u64, usize) {
        let hash = self.hasher.hash_one(key);
        (hash, ((hash >> 32) & self.shard_mask) as usize)
    }

    /// Run `f` with `key` of `db` locked. `db` must be < databases() (checked by SELECT);
    /// panics otherwise.
    pub fn with_key<R>(&self, db: usize, key: &[u8], now_ms: u64, f: impl FnOnce(&mut KeyView<'_>) -> R) -> R {
        let (hash, shard) = self.locate(key);
        let mut guard = lock(&self.dbs[db][shard]);
        f(&mut KeyView { shard: &mut guard, access: &self.access, hash, key, now_ms })
    }

    /// Run `f` with all `keys` (db, key) locked together (the same key may appear twice; it
    /// maps to the same shard and the shard is locked once). Every db must be < databases();
    /// panics otherwise.
    pub fn with_keys<R>(&self, keys: &[(usize, &[u8])], now_ms: u64, f: impl FnOnce(&mut MultiView<'_>) -> R) -> R {
        let shards = self.shards_per_db();
        let located: Vec<(usize, u64)> = keys
            .iter()
            .map(|&(db, key)| {
                assert!(db < self.dbs.len(), "db {db} out of range");
                let (hash, shard) = self.locate(key);
                (db * shards + shard, hash)
            })
            .collect();
        let mut order: Vec<usize> = located.iter().map(|&(global, _)| global).collect();
        order.sort_unstable();
        order.dedup();
        let guards = order.iter().map(|&global| lock(&self.dbs[global / shards][global % shards])).collect();
        let slots = located
            .iter()
            .map(|&(global, hash)| (order.binary_search(&global).unwrap_or_else(|at| at), hash))
            .collect();
        f(&mut MultiView { guards, slots, keys, access: &self.access, now_ms })
    }

    /// Start watching `key` of `db` for `watches` (WATCH). An expired key is removed first
    /// (that touches other watchers, not this one), so a key that is logically absent now
    /// and stays so does not fail the EXEC.
    pub fn watch(&self, watches: &mut Watches, db: usize, key: &[u8], now_ms: u64) {
        let (hash, shard) = self.locate(key);
        let mut guard = lock(&self.dbs[db][shard]);
        guard.find_live(hash as u32, key, now_ms);
        watches.add(&self.dbs, &mut guard.watched, db, shard, key);
    }

    /// True if no key `watches` watches was modified since it was watched (EXEC). Keys that
    /// have expired meanwhile are removed now, which marks them modified, as Redis's EXEC
    /// refuses to run when a watched key expired.
    pub fn watches_clean(&self, watches: &Watches, now_ms: u64) -> bool {
        for (db, key) in watches.keys() {
            let (hash, shard) = self.locate(key);
            lock(&self.dbs[db][shard]).find_live(hash as u32, key, now_ms);
        }
        !watches.is_dirty()
    }

    /// Number of distinct watched keys across all dbs (tests: registries are released).
    pub fn watched_keys(&self) -> usize {
        self.dbs.iter().flat_map(|db| db.iter()).map(|s| lock(s).watched.as_ref().map_or(0, |r| r.len())).sum()
    }

    /// Bytes `db`'s keyspace structures take beside the entries themselves: each shard's
    /// hash table and its slab of entry handles (MEMORY STATS `overhead.hashtable.main`, as
    /// Redis counts its dict's buckets and entries there). Deadlines live in the entries, so
    /// there is no second table for them.
    pub fn table_overhead(&self, db: usize) -> usize {
        self.dbs.get(db).map_or(0, |shards| {
            shards
                .iter()
                .map(|s| {
                    let shard = lock_raw(s);
                    let slab: usize = shard.slab.chunks.iter().map(|c| c.capacity()).sum();
                    shard.table.allocation_size() + slab * std::mem::size_of::<Entry>()
                })
                .sum()
        })
    }

    /// Number of keys in `db` (like Redis, may count expired keys not yet reaped).
    pub fn db_len(&self, db: usize) -> usize {
        self.dbs.get(db).map_or(0, |shards| shards.iter().map(|s| lock(s).slab.len()).sum())
    }

    /// Number of keys with a deadline in `db` (INFO keyspace `expires=`).
    pub fn db_expires(&self, db: usize) -> usize {
        self.dbs.get(db).map_or(0, |shards| shards.iter().map(|s| lock(s).volatile).sum())
    }

    /// Remove every key of `db`. The old contents are freed after each shard is unlocked.
    /// Watchers of keys that existed are marked dirty; the watch registry stays.
    pub fn flush_db(&self, db: usize) {
        for shard in self.dbs.get(db).into_iter().flatten() {
            let mut guard = lock(shard);
            let watched = guard.watched.take();
            if let Some(registry) = &watched {
                let shard = &*guard;
                registry.touch_where(|key| {
                    let hash32 = self.locate(key).0 as u32;
                    shard.find(hash32, key).is_some()
                });
            }
            if guard.slab.len() > 0 {
                guard.journal.note_change();
            }
            let (db, journal, snapshot) = (guard.db, guard.journal.clone(), guard.snapshot.take());
            let (expiring, hasher) = (guard.expiring.clone(), guard.hasher.clone());
            let fresh = Shard { watched, db, journal, snapshot, expiring, hasher, ..Shard::default() };
            let old = std::mem::replace(&mut *guard, fresh);
            drop(guard);
            drop(old);
        }
    }

    /// Remove every key of every db.
    pub fn flush_all(&self) {
        for db in 0..self.dbs.len() {
            self.flush_db(db);
        }
    }

    /// Visit live keys of `db` shard by shard, starting at shard `cursor`; stops after the
    /// shard during which at least `count` keys were visited (whole shards only, so a key
    /// present for the whole scan is returned at least once even if tables resize). Returns
    /// the next cursor, 0 when done (SCAN semantics). `f` gets the key bytes. A cursor past
    /// the last shard (or a bad `db`) visits nothing and returns 0.
    pub fn scan(&self, db: usize, cursor: u64, count: usize, now_ms: u64, mut f: impl FnMut(&[u8])) -> u64 {
        self.scan_entries(db, cursor, count, now_ms, |entry| f(entry.key()))
    }

    /// As [`Store::scan`], giving `f` the whole entry (SCAN ... TYPE looks at the value).
    pub fn scan_entries(&self, db: usize, cursor: u64, count: usize, now_ms: u64, mut f: impl FnMut(&Entry)) -> u64 {
        let Some(shards) = self.dbs.get(db) else {
            return 0;
        };
        let mut next = usize::try_from(cursor).unwrap_or(usize::MAX);
        let mut visited = 0;
        while next < shards.len() {
            let shard = lock(&shards[next]);
            for entry in shard.slab.iter().filter(|e| !e.is_expired(now_ms)) {
                f(entry);
                visited += 1;
            }
            next += 1;
            if visited >= count {
                break;
            }
        }
        if next >= shards.len() {
            0
        } else {
            next as u64
        }
    }

    /// A random live key of `db`, if any (RANDOMKEY). Expired keys met on the way are removed.
    pub fn random_key(&self, db: usize, now_ms: u64) -> Option<Vec<u8>> {
        let shards = self.dbs.get(db)?;
        let start = random_below(shards.len());
        for k in 0..shards.len() {
            let mut shard = lock(&shards[(start + k) % shards.len()]);
            for _ in 0..RANDOM_KEY_TRIES_PER_SHARD {
                if shard.slab.len() == 0 {
                    break;
                }
                let i = random_below(shard.slab.len());
                if shard.slab.entry(i).is_expired(now_ms) {
                    shard.remove_expired(i);
                    continue;
                }
                return Some(shard.slab.entry(i).key().to_vec());
            }
        }
        None
    }

    /// Active expiry: sample keys with deadlines across all dbs and remove expired ones,
    /// stopping after `budget`. Returns how many keys were removed.
    ///
    /// Walks at most every shard once, starting where the previous cycle stopped. A shard is
    /// re-sampled (lock released between rounds) while a quarter or more of a round expired.
    pub fn active_expire_cycle(&self, now_ms: u64, budget: std::time::Duration) -> usize {
        self.active_expire_cycle_counted(now_ms, budget).removed
    }

    /// [`Store::active_expire_cycle`], also counting the keys it sampled (INFO
    /// `expired_stale_perc`).
    pub fn active_expire_cycle_counted(&self, now_ms: u64, budget: std::time::Duration) -> ExpireCycle {
        let stop_at = Instant::now().checked_add(budget);
        let over_budget = || stop_at.is_some_and(|t| Instant::now() >= t);
        let shards = self.shards_per_db();
        let total = self.dbs.len() * shards;
        let start = self.expire_cursor.load(Ordering::Relaxed) % total;
        let (mut removed, mut sampled, mut walked) = (0, 0, 0);
        // Whether the db being walked still has deadlines (known only for a db walked from its
        // first shard, whose flag was cleared on the way in).
        let mut left: Option<bool> = None;
        while walked < total {
            let global = (start + walked) % total;
            let (db, index) = (global / shards, global % shards);
            let expiring = &self.expiring[db];
            if index == 0 {
                // Cleared before the walk: a shard that gains a deadline after we pass it sets
                // the flag again itself (under its lock, after ours).
                if !expiring.swap(false, Ordering::Relaxed) {
                    walked = (walked + shards).min(total); // no deadline anywhere in this db
                    continue;
                }
                left = Some(false);
            }
            walked += 1;
            let mut guard = lock(&self.dbs[db][index]);
            loop {
                let (seen, expired, again) = guard.expire_round(now_ms);
                removed += expired;
                sampled += seen;
                if !again || over_budget() {
                    break;
                }
            }
            let remains = guard.volatile > 0;
            drop(guard);
            left = left.map(|l| l || remains);
            let db_done = index + 1 == shards;
            let stop = walked < total && over_budget();
            // Keep the flag unless this walk saw every shard of the db without a deadline left.
            if (db_done && left != Some(false)) || (stop && !db_done) {
                expiring.store(true, Ordering::Relaxed);
            }
            if db_done {
                left = None;
            }
            if stop {
                break;
            }
        }
        self.expire_cursor.store((start + walked) % total, Ordering::Relaxed);
        ExpireCycle { removed, sampled }
    }
}

/// What one active expiry cycle did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExpireCycle {
    /// Keys it deleted.
    pub removed: usize,
    /// Keys with a deadline it looked at.
    pub sampled: usize,
}

#[cfg(test)]
mod tests {
    //! Unit tests for the keyspace. Time is passed explicitly (`now_ms` arguments), so expiry
    //! is tested without sleeping.

    use std::collections::HashMap;
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    const NOW: u64 = 1_000_000;

    fn set(store: &Store, db: usize, key: &[u8], value: &[u8], expire: Option<u64>) -> Option<Entry> {
        store.with_key(db, key, NOW, |kv| kv.set(value.to_vec(), expire))
    }

    fn get_at(store: &Store, db: usize, key: &[u8], now: u64) -> Option<Vec<u8>> {
        store.with_key(db, key, now, |kv| kv.get().map(|e| e.str().map(<[u8]>::to_vec).expect("a string")))
    }

    fn get(store: &Store, db: usize, key: &[u8]) -> Option<Vec<u8>> {
        get_at(store, db, key, NOW)
    }

    fn ttl(store: &Store, db: usize, key: &[u8]) -> Option<u64> {
        store.with_key(db, key, NOW, |kv| kv.get().and_then(|e| e.expire_at_ms()))
    }

    /// Checks every shard's invariants: table and slab agree, deadlines are in front.
    fn check_invariants(store: &Store) {
        for shards in store.dbs.iter() {
            for shard in shards.iter() {
                let shard = lock(shard);
                assert_eq!(shard.table.len(), shard.slab.len());
                assert_eq!(shard.slab.len(), shard.slab.iter().count());
                for i in 0..shard.slab.len() {
                    let entry = shard.slab.entry(i);
                    assert_eq!(shard.find(shard.hash_of(i), entry.key()), Some(i));
                    assert_eq!(i < shard.volatile, entry.deadline() != 0, "index {i}");
                    let (hash, _) = store.locate(entry.key());
                    assert_eq!(hash as u32, shard.hash_of(i));
                }
                let chunks = &shard.slab.chunks;
                if let Some((_, full)) = chunks.split_last() {
                    assert!(full.iter().all(|c| c.len() == SLAB_CHUNK));
                }
            }
        }
    }

    #[test]
    fn new_rounds_shards_up() {
        let store = Store::new(0, 0);
        assert_eq!((store.databases(), store.shards_per_db()), (1, 1));
        let store = Store::new(3, 5);
        assert_eq!((store.databases(), store.shards_per_db()), (3, 8));
        let store = Store::new(1, usize::MAX);
        assert_eq!(store.shards_per_db(), SHARDS_PER_DB_MAX);
    }

    #[test]
    fn slab_element_is_a_thin_pointer() {
        assert_eq!(std::mem::size_of::<Entry>(), 8);
    }

    #[test]
    fn string_writes_by_bytes_keep_or_drop_the_ttl() {
        let store = Store::new(1, 4);
        store.with_key(0, b"k", NOW, |kv| kv.set_bytes(b"12", Some(NOW + 500)));
        assert_eq!((get(&store, 0, b"k").as_deref(), ttl(&store, 0, b"k")), (Some(&b"12"[..]), Some(NOW + 500)));
        // Same length: overwritten in place, the deadline stays.
        store.with_key(0, b"k", NOW, |kv| kv.set_bytes_keep_ttl(b"13"));
        assert_eq!((get(&store, 0, b"k").as_deref(), ttl(&store, 0, b"k")), (Some(&b"13"[..]), Some(NOW + 500)));
        // Another length: a new block, the deadline still stays.
        store.with_key(0, b"k", NOW, |kv| kv.set_bytes_keep_ttl(b"100"));
        assert_eq!((get(&store, 0, b"k").as_deref(), ttl(&store, 0, b"k")), (Some(&b"100"[..]), Some(NOW + 500)));
        // SET without a TTL drops it, and the key moves out of the volatile front.
        store.with_key(0, b"k", NOW, |kv| kv.set_bytes(b"101", None));
        assert_eq!((get(&store, 0, b"k").as_deref(), ttl(&store, 0, b"k")), (Some(&b"101"[..]), None));
        assert_eq!(store.db_expires(0), 0);
        // A past deadline removes the key; keep-TTL on an absent key creates it without one.
        store.with_key(0, b"k", NOW, |kv| kv.set_bytes(b"x", Some(NOW)));
        assert_eq!(get(&store, 0, b"k"), None);
        store.with_key(0, b"n", NOW, |kv| kv.set_bytes_keep_ttl(b"1"));
        assert_eq!((get(&store, 0, b"n").as_deref(), ttl(&store, 0, b"n")), (Some(&b"1"[..]), None));
        check_invariants(&store);
    }

    #[test]
    fn shards_rehash_from_keys_with_the_stores_hasher_even_after_a_flush() {
        let store = Store::new(1, 2);
        for round in 0..2 {
            // Enough keys to grow and (after the deletes) shrink every shard's table, with
            // deadlines so entries move between the volatile front and the rest.
            for i in 0..2000u32 {
                let deadline = (i % 3 == 0).then_some(NOW + 1000);
                set(&store, 0, format!("k{i}").as_bytes(), b"v", deadline);
            }
            for i in (0..2000u32).filter(|i| i % 10 != 0) {
                store.with_key(0, format!("k{i}").as_bytes(), NOW, |kv| kv.remove());
            }
            check_invariants(&store);
            assert_eq!(store.db_len(0), 200);
            assert_eq!(get(&store, 0, b"k990").as_deref(), Some(&b"v"[..]), "round {round}");
            store.flush_db(0);
        }
    }

    #[test]
    fn strings_grow_in_place_past_the_inline_limit() {
        let store = Store::new(1, 4);
        set(&store, 0, b"k", b"ab", Some(NOW + 500));
        let mut want = b"ab".to_vec();
        for round in 0..3 {
            let chunk = vec![b'0' + round; entry::INLINE_VALUE_MAX / 2 + 1];
            let len = store.with_key(0, b"k", NOW, |kv| {
                kv.string_mut(|v| {
                    v.extend_from_slice(&chunk);
                    v.len()
                })
            });
            want.extend_from_slice(&chunk);
            assert_eq!(len, Ok(Some(want.len())));
        }
        assert_eq!(get(&store, 0, b"k"), Some(want));
        assert_eq!(ttl(&store, 0, b"k"), Some(NOW + 500));
        assert_eq!(store.with_key(0, b"absent", NOW, |kv| kv.string_mut(|_| ())), Ok(None));
        assert!(store.with_key(0, b"h", NOW, |kv| kv.hash_or_new().map(|h| h.set(b"f", b"v"))).is_ok());
        assert_eq!(store.with_key(0, b"h", NOW, |kv| kv.string_mut(|_| ())), Err(crate::types::WrongType));
        check_invariants(&store);
    }

    #[test]
    fn set_get_remove() {
        let store = Store::new(2, 4);
        assert_eq!(get(&store, 0, b"k"), None);
        assert!(set(&store, 0, b"k", b"v1", None).is_none());
        assert_eq!(get(&store, 0, b"k"), Some(b"v1".to_vec()));
        assert_eq!(get(&store, 1, b"k"), None, "dbs are separate");
        let old = set(&store, 0, b"k", b"v2", None).expect("old entry");
        assert_eq!(old.value(), b"v1");
        assert_eq!(get(&store, 0, b"k"), Some(b"v2".to_vec()));
        store.with_key(0, b"k", NOW, |kv| {
            assert!(kv.exists());
            assert_eq!(kv.key(), b"k");
            let removed = kv.remove().expect("removed");
            assert_eq!(removed.key(), b"k");
            assert_eq!(removed.value(), b"v2");
            assert!(!kv.exists());
            assert!(kv.remove().is_none());
        });
        assert_eq!(store.db_len(0), 0);
        check_invariants(&store);
    }

    #[test]
    fn binary_and_empty_keys() {
        let store = Store::new(1, 4);
        set(&store, 0, b"", b"empty", None);
        set(&store, 0, b"\0\xff\r\n", b"", None);
        assert_eq!(get(&store, 0, b""), Some(b"empty".to_vec()));
        assert_eq!(get(&store, 0, b"\0\xff\r\n"), Some(Vec::new()));
        assert_eq!(store.db_len(0), 2);
    }

    #[test]
    fn overwrite_drops_ttl() {
        let store = Store::new(1, 4);
        set(&store, 0, b"k", b"v", Some(NOW + 100));
        assert_eq!(ttl(&store, 0, b"k"), Some(NOW + 100));
        assert_eq!(store.db_expires(0), 1);
        let old = set(&store, 0, b"k", b"w", None).expect("old");
        assert_eq!(old.expire_at_ms(), Some(NOW + 100));
        assert_eq!(ttl(&store, 0, b"k"), None);
        assert_eq!(store.db_expires(0), 0);
        assert_eq!(get_at(&store, 0, b"k", NOW + 1000), Some(b"w".to_vec()));
        check_invariants(&store);
    }

    #[test]
    fn set_keep_ttl_keeps_deadline() {
        let store = Store::new(1, 4);
        set(&store, 0, b"k", b"v", Some(NOW + 100));
        let old = store.with_key(0, b"k", NOW, |kv| kv.set_keep_ttl(b"w".to_vec())).expect("old");
        assert_eq!(old.value(), b"v");
        assert_eq!(ttl(&store, 0, b"k"), Some(NOW + 100));
        assert_eq!(get(&store, 0, b"k"), Some(b"w".to_vec()));
        assert_eq!(store.db_expires(0), 1);
        // On a new key it is a plain set without deadline.
        assert!(store.with_key(0, b"new", NOW, |kv| kv.set_keep_ttl(b"x".to_vec())).is_none());
        assert_eq!(ttl(&store, 0, b"new"), None);
        check_invariants(&store);
    }

    #[test]
    fn lazy_expiry() {
        let store = Store::new(1, 4);
        set(&store, 0, b"k", b"v", Some(NOW + 10));
        assert_eq!(get_at(&store, 0, b"k", NOW + 9), Some(b"v".to_vec()));
        assert_eq!(store.db_len(0), 1);
        // At the deadline the key is gone, and touching it removed it.
        assert_eq!(get_at(&store, 0, b"k", NOW + 10), None);
        assert_eq!(store.db_len(0), 0);
        assert_eq!(store.db_expires(0), 0);
        // Every accessor sees an expired key as absent.
        set(&store, 0, b"k", b"v", Some(NOW + 10));
        let later = NOW + 11;
        assert!(!store.with_key(0, b"k", later, |kv| kv.exists()));
        set(&store, 0, b"k", b"v", Some(NOW + 10));
        assert!(store.with_key(0, b"k", later, |kv| kv.remove()).is_none());
        set(&store, 0, b"k", b"v", Some(NOW + 10));
        assert!(!store.with_key(0, b"k", later, |kv| kv.set_expire(None)));
        set(&store, 0, b"k", b"v", Some(NOW + 10));
        assert!(store.with_key(0, b"k", later, |kv| kv.set(b"w".to_vec(), None)).is_none());
        assert_eq!(get_at(&store, 0, b"k", later), Some(b"w".to_vec()));
        check_invariants(&store);
    }

    #[test]
    fn set_expire_semantics() {
        let store = Store::new(1, 4);
        assert!(!store.with_key(0, b"absent", NOW, |kv| kv.set_expire(Some(NOW + 5))));
        set(&store, 0, b"k", b"v", None);
        assert!(store.with_key(0, b"k", NOW, |kv| kv.set_expire(Some(NOW + 5))));
        assert_eq!(ttl(&store, 0, b"k"), Some(NOW + 5));
        assert_eq!(store.db_expires(0), 1);
        assert!(store.with_key(0, b"k", NOW, |kv| kv.set_expire(Some(NOW + 7))));
        assert_eq!(ttl(&store, 0, b"k"), Some(NOW + 7));
        assert_eq!(store.db_expires(0), 1);
        assert!(store.with_key(0, b"k", NOW, |kv| kv.set_expire(None)));
        assert_eq!(ttl(&store, 0, b"k"), None);
        assert_eq!(store.db_expires(0), 0);
        // A deadline at (or before) now deletes the key and still reports success.
        assert!(store.with_key(0, b"k", NOW, |kv| kv.set_expire(Some(NOW))));
        assert_eq!(get(&store, 0, b"k"), None);
        assert_eq!(store.db_len(0), 0);
        check_invariants(&store);
    }

    #[test]
    fn set_with_past_deadline_stores_nothing() {
        let store = Store::new(1, 4);
        assert!(set(&store, 0, b"k", b"v", Some(NOW - 1)).is_none());
        assert_eq!(store.db_len(0), 0);
        set(&store, 0, b"k", b"v", None);
        let old = set(&store, 0, b"k", b"w", Some(NOW)).expect("old entry returned");
        assert_eq!(old.value(), b"v");
        assert_eq!(get(&store, 0, b"k"), None);
        assert_eq!(store.db_len(0), 0);
        // put_entry follows the same rules.
        let put = store.with_key(0, b"p", NOW, |kv| kv.put_entry(b"x".to_vec(), Some(NOW + 1)));
        assert!(put.is_none());
        assert_eq!(ttl(&store, 0, b"p"), Some(NOW + 1));
        check_invariants(&store);
    }

    #[test]
    fn with_keys_duplicates_same_shard_and_dbs() {
        // One shard per db: every key of a db shares a shard.
        let store = Store::new(3, 1);
        set(&store, 0, b"a", b"1", None);
        set(&store, 2, b"a", b"3", None);
        let keys: [(usize, &[u8]); 5] = [(0, b"a"), (0, b"b"), (2, b"a"), (0, b"a"), (1, b"c")];
        let seen = store.with_keys(&keys, NOW, |mv| {
            assert_eq!(mv.len(), 5);
            assert!(!mv.is_empty());
            assert_eq!(mv.guards.len(), 3, "one lock per distinct (db, shard)");
            mv.key(1).set(b"2".to_vec(), None);
            mv.key(4).set(b"4".to_vec(), None);
            // The duplicate sees writes made through the first view.
            mv.key(0).set(b"1b".to_vec(), None);
            (0..mv.len())
                .map(|i| mv.key(i).get().map(|e| e.str().map(<[u8]>::to_vec).expect("a string")))
                .collect::<Vec<_>>()
        });
        let expect: Vec<Option<Vec<u8>>> =
            [&b"1b"[..], b"2", b"3", b"1b", b"4"].iter().map(|v| Some(v.to_vec())).collect();
        assert_eq!(seen, expect);
        assert_eq!(get(&store, 1, b"c"), Some(b"4".to_vec()));
        assert!(store.with_keys(&[], NOW, |mv| mv.is_empty()));
        check_invariants(&store);
    }

    #[test]
    fn with_keys_many_shards_in_any_order() {
        let store = Store::new(2, 8);
        let names: Vec<Vec<u8>> = (0..64).map(|i| format!("key{i}").into_bytes()).collect();
        let mut keys: Vec<(usize, &[u8])> = names.iter().map(|k| (0, &k[..])).collect();
        keys.extend(names.iter().rev().map(|k| (1, &k[..])));
        store.with_keys(&keys, NOW, |mv| {
            for i in 0..mv.len() {
                let value = i.to_string().into_bytes();
                mv.key(i).set(value, None);
            }
        });
        assert_eq!(store.db_len(0), 64);
        assert_eq!(store.db_len(1), 64);
        assert_eq!(get(&store, 1, b"key63"), Some(b"64".to_vec()));
        check_invariants(&store);
    }

    #[test]
    fn scan_visits_every_key_once_and_terminates() {
        let store = Store::new(1, 16);
        for i in 0..1000 {
            set(&store, 0, format!("k{i}").as_bytes(), b"v", None);
        }
        // Expired keys are not reported.
        set(&store, 0, b"gone", b"v", Some(NOW));
        store.with_key(0, b"dead", NOW - 10, |kv| kv.set(b"v".to_vec(), Some(NOW - 5)));
        for count in [0, 1, 10, 100, 10_000] {
            let mut seen = HashMap::new();
            let mut cursor = 0;
            let mut calls = 0;
            loop {
                cursor = store.scan(0, cursor, count, NOW, |k| *seen.entry(k.to_vec()).or_insert(0) += 1);
                calls += 1;
                assert!(calls <= 17, "scan did not terminate");
                if cursor == 0 {
                    break;
                }
            }
            assert_eq!(seen.len(), 1000, "count {count}");
            assert!(seen.values().all(|&n| n == 1));
        }
        assert_eq!(store.scan(0, 99, 10, NOW, |_| panic!("past the end")), 0);
        assert_eq!(store.scan(5, 0, 10, NOW, |_| panic!("bad db")), 0);
    }

    #[test]
    fn random_key_returns_live_keys() {
        let store = Store::new(2, 8);
        assert_eq!(store.random_key(0, NOW), None);
        set(&store, 0, b"only", b"v", None);
        for _ in 0..20 {
            assert_eq!(store.random_key(0, NOW), Some(b"only".to_vec()));
        }
        for i in 0..100 {
            set(&store, 0, format!("k{i}").as_bytes(), b"v", None);
        }
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            let key = store.random_key(0, NOW).expect("non-empty");
            assert!(get(&store, 0, &key).is_some());
            seen.insert(key);
        }
        assert!(seen.len() > 50, "random_key looks stuck: {} distinct", seen.len());
        // Only expired keys: none is returned, and they get reaped.
        set(&store, 1, b"x", b"v", Some(NOW + 1));
        assert_eq!(store.random_key(1, NOW + 1), None);
        assert_eq!(store.db_len(1), 0);
        assert_eq!(store.random_key(9, NOW), None);
    }

    #[test]
    fn flush_db_and_flush_all() {
        let store = Store::new(3, 4);
        for db in 0..3 {
            for i in 0..50 {
                set(&store, db, format!("k{i}").as_bytes(), b"v", Some(NOW + 100));
            }
        }
        store.flush_db(1);
        assert_eq!((store.db_len(0), store.db_len(1), store.db_len(2)), (50, 0, 50));
        assert_eq!(store.db_expires(1), 0);
        store.flush_db(7);
        store.flush_all();
        assert_eq!((store.db_len(0), store.db_len(2)), (0, 0));
        assert_eq!(store.db_expires(0), 0);
        set(&store, 0, b"k", b"v", None);
        assert_eq!(get(&store, 0, b"k"), Some(b"v".to_vec()));
    }

    #[test]
    fn db_len_and_db_expires() {
        let store = Store::new(2, 4);
        for i in 0..30 {
            let expire = if i % 3 == 0 { Some(NOW + 10) } else { None };
            set(&store, 1, format!("k{i}").as_bytes(), b"v", expire);
        }
        assert_eq!(store.db_len(1), 30);
        assert_eq!(store.db_expires(1), 10);
        assert_eq!(store.db_len(0), 0);
        assert_eq!(store.db_len(99), 0);
        assert_eq!(store.db_expires(99), 0);
        check_invariants(&store);
    }

    #[test]
    fn active_expire_removes_untouched_keys() {
        let store = Store::new(2, 4);
        // Many volatile keys per shard (random sampling path) and a few (exhaustive path).
        for i in 0..5000 {
            set(&store, 0, format!("a{i}").as_bytes(), b"v", Some(NOW + 10));
        }
        for i in 0..5 {
            set(&store, 1, format!("b{i}").as_bytes(), b"v", Some(NOW + 10));
        }
        for i in 0..100 {
            set(&store, 0, format!("late{i}").as_bytes(), b"v", Some(NOW + 1000));
            set(&store, 0, format!("plain{i}").as_bytes(), b"v", None);
        }
        assert_eq!(store.active_expire_cycle(NOW, Duration::from_secs(10)), 0);
        let mut removed = 0;
        for _ in 0..100 {
            removed += store.active_expire_cycle(NOW + 10, Duration::from_secs(10));
            if store.db_expires(0) == 100 && store.db_len(1) == 0 {
                break;
            }
        }
        assert_eq!(removed, 5005);
        assert_eq!(store.db_len(0), 200);
        assert_eq!(store.db_expires(0), 100);
        assert_eq!(store.db_len(1), 0);
        check_invariants(&store);
    }

    #[test]
    fn active_expire_skips_dbs_without_deadlines_and_notices_new_ones() {
        // A cycle clears the flag of a db it walked completely without deadlines left; a key
        // given a deadline afterwards (insert or EXPIRE) sets it again, and a later cycle,
        // even one that stops after one shard, removes it.
        let store = Store::new(3, 8);
        set(&store, 1, b"a", b"v", Some(NOW + 5));
        assert_eq!(store.active_expire_cycle(NOW + 5, Duration::from_secs(10)), 1);
        assert!(store.expiring.iter().all(|f| !f.load(Ordering::Relaxed)), "every db walked clean");
        set(&store, 2, b"plain", b"v", None);
        assert!(!store.expiring[2].load(Ordering::Relaxed), "no deadline, no flag");
        set(&store, 2, b"b", b"v", Some(NOW + 5));
        store.with_key(2, b"plain", NOW, |v| v.set_expire(Some(NOW + 5)));
        assert!(store.expiring[2].load(Ordering::Relaxed));
        let mut removed = 0;
        for _ in 0..1000 {
            removed += store.active_expire_cycle(NOW + 5, Duration::ZERO);
            if removed == 2 {
                break;
            }
        }
        assert_eq!(removed, 2);
        assert_eq!(store.db_len(2), 0);
    }

    #[test]
    fn active_expire_respects_budget_and_resumes() {
        let store = Store::new(4, 16);
        for db in 0..4 {
            for i in 0..200 {
                set(&store, db, format!("k{i}").as_bytes(), b"v", Some(NOW + 1));
            }
        }
        // A zero budget still makes progress (one shard), and later cycles continue from there.
        let mut removed = 0;
        let mut cycles = 0;
        while removed < 800 {
            let now_removed = store.active_expire_cycle(NOW + 1, Duration::ZERO);
            assert!(now_removed > 0 || cycles > 0);
            removed += now_removed;
            cycles += 1;
            assert!(cycles < 10_000);
        }
        assert_eq!((0..4).map(|db| store.db_len(db)).sum::<usize>(), 0);
    }

    #[test]
    fn random_operations_match_a_model() {
        // One shard so the slab spans many chunks, shrinks and regrows.
        let store = Store::new(1, 1);
        let mut model: HashMap<Vec<u8>, (Vec<u8>, u64)> = HashMap::new();
        let mut now = NOW;
        for step in 0..40_000u64 {
            let r = random_below(1 << 30) as u64;
            let key = format!("k{}", r % 2000).into_bytes();
            let deadline = if r.is_multiple_of(5) { Some(now + 1 + (r >> 20) % 50) } else { None };
            model.retain(|_, (_, t)| *t == 0 || *t > now);
            match (r >> 11) % 6 {
                0 | 1 => {
                    let value = step.to_le_bytes().to_vec();
                    store.with_key(0, &key, now, |kv| kv.set(value.clone(), deadline));
                    model.insert(key, (value, deadline.unwrap_or(0)));
                }
                2 => {
                    let got = store.with_key(0, &key, now, |kv| kv.remove()).map(Entry::into_value);
                    assert_eq!(got.and_then(|mut v| v.take_str()), model.remove(&key).map(|(v, _)| v));
                }
                3 => {
                    let ok = store.with_key(0, &key, now, |kv| kv.set_expire(deadline));
                    assert_eq!(ok, model.contains_key(&key));
                    if let Some((_, t)) = model.get_mut(&key) {
                        *t = deadline.unwrap_or(0);
                    }
                }
                4 => {
                    let got = store.with_key(0, &key, now, |kv| {
                        kv.get().map(|e| (e.str().map(<[u8]>::to_vec).expect("a string"), e.deadline()))
                    });
                    assert_eq!(got.as_ref(), model.get(&key));
                }
                _ => {
                    if step % 500 == 0 {
                        store.active_expire_cycle(now, Duration::from_secs(1));
                    }
                    now += 1;
                }
            }
            if step % 10_000 == 9_999 {
                // Mass delete to exercise shrinking.
                for i in 0..2000 {
                    let key = format!("k{i}").into_bytes();
                    store.with_key(0, &key, now, |kv| kv.remove());
                }
                model.clear();
                check_invariants(&store);
            }
        }
        check_invariants(&store);
        store.active_expire_cycle(now + 10_000, Duration::from_secs(1));
        model.retain(|_, (_, t)| *t == 0);
        assert_eq!(store.db_len(0), model.len());
        check_invariants(&store);
    }

    #[test]
    fn concurrent_with_keys_no_deadlock() {
        // Four threads increment overlapping key sets (across dbs, duplicates included) in
        // different orders; every increment must land exactly once.
        const THREADS: u64 = 4;
        const ROUNDS: u64 = 2000;
        let store = Arc::new(Store::new(2, 4));
        let names: Vec<Vec<u8>> = (0..12).map(|i| format!("c{i}").into_bytes()).collect();
        let names = Arc::new(names);
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (store, names) = (Arc::clone(&store), Arc::clone(&names));
                std::thread::spawn(move || {
                    for round in 0..ROUNDS {
                        let mut keys: Vec<(usize, &[u8])> = (0..5)
                            .map(|j| {
                                let n = ((round * 7 + t * 3 + j * 5) % 12) as usize;
                                (n % 2, &names[n][..])
                            })
                            .collect();
                        if (round + t) % 2 == 0 {
                            keys.reverse();
                        }
                        store.with_keys(&keys, NOW, |mv| {
                            for i in 0..mv.len() {
                                let mut kv = mv.key(i);
                                let n = kv.get().map_or(0, |e| {
                                    u64::from_le_bytes(e.str().expect("a string")[..8].try_into().unwrap())
                                });
                                kv.set_keep_ttl((n + 1).to_le_bytes().to_vec());
                            }
                        });
                        let (db, key) = keys[0];
                        store.with_key(db, key, NOW, |kv| kv.exists());
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("thread");
        }
        let mut total = 0;
        for (n, name) in names.iter().enumerate() {
            if let Some(v) = get(&store, n % 2, name) {
                total += u64::from_le_bytes(v[..8].try_into().unwrap());
            }
        }
        assert_eq!(total, THREADS * ROUNDS * 5);
        check_invariants(&store);
    }
}
