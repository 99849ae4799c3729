//! The keyspace: an ahash-partitioned, in-memory store of binary-safe string keys and values
//! with millisecond expiry, shared by every engine and every worker thread.
//!
//! Layout: `databases` logical databases (SELECT 0..15), each split into `shards` (a power of
//! two) independent shards. A shard is a mutex around a `hashbrown::HashTable<Entry>`, padded
//! to its own cache line(s) so two cores locking neighbouring shards do not false-share. The
//! key's ahash is computed once per access and used both to pick the shard (low bits) and as
//! the table hash, so a GET hashes its key exactly once.
//!
//! Expiry: an entry carries an absolute deadline in Unix milliseconds. Access is lazy (an
//! expired entry is removed when touched and reads as absent); [`Store::active_expire_cycle`]
//! samples keys that have a deadline (Redis's active expire: sample, delete the expired ones,
//! repeat while a quarter or more were expired, stop at a time budget) so expired keys
//! disappear without being touched.
//!
//! Multi-key commands lock every shard they touch in ascending shard order, so they are atomic
//! and cannot deadlock.

use std::sync::Mutex;

use crossbeam_utils::CachePadded;
use hashbrown::HashTable;

/// Default number of logical databases (Redis's `databases 16`).
pub const DATABASES_DEFAULT: usize = 16;
/// Shards per database: enough to keep lock contention negligible with a worker per core, few
/// enough that an empty database costs little (each shard is one padded mutex + empty table).
pub const SHARDS_PER_DB_DEFAULT: usize = 64;
/// Active expiry: keys sampled per shard per round (Redis's ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP).
pub const EXPIRE_SAMPLE_KEYS: usize = 20;

/// Current wall-clock time in Unix milliseconds (vDSO clock, no syscall).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One key and its value.
#[derive(Debug)]
pub struct Entry {
    pub key: Box<[u8]>,
    pub value: Vec<u8>,
    /// Absolute deadline in Unix ms; 0 = no expiry.
    expire_at_ms: u64,
}

impl Entry {
    /// The deadline in Unix ms, if any.
    pub fn expire_at_ms(&self) -> Option<u64> {
        todo!()
    }
}

/// One partition: a table plus the bookkeeping active expiry needs.
#[derive(Default)]
pub struct Shard {
    table: HashTable<Entry>,
    // + whatever active expiry needs (e.g. hashes of keys with a deadline, sampled at random).
}

/// Access to one key inside its locked shard. `now_ms` is fixed for the whole access, so a key
/// expiring mid-command is seen consistently. Every method treats an expired key as absent
/// (and removes it).
pub struct KeyView<'a> {
    shard: &'a mut Shard,
    hash: u64,
    key: &'a [u8],
    now_ms: u64,
}

impl<'a> KeyView<'a> {
    /// The key this view is for.
    pub fn key(&self) -> &[u8] {
        self.key
    }
    /// The live entry, if any.
    pub fn get(&mut self) -> Option<&mut Entry> {
        todo!()
    }
    /// True if the key exists (and has not expired).
    pub fn exists(&mut self) -> bool {
        todo!()
    }
    /// Store `value`, replacing any old value. `expire_at_ms`: `None` = no expiry (an old TTL
    /// is dropped, as SET does). Returns the old entry if there was a live one.
    pub fn set(&mut self, value: Vec<u8>, expire_at_ms: Option<u64>) -> Option<Entry> {
        let _ = (value, expire_at_ms);
        todo!()
    }
    /// Store `value` keeping the key's current deadline if it has one (SET KEEPTTL, APPEND
    /// on a new key uses `set`). Returns the old entry if there was a live one.
    pub fn set_keep_ttl(&mut self, value: Vec<u8>) -> Option<Entry> {
        let _ = value;
        todo!()
    }
    /// Remove the key; returns the live entry if there was one.
    pub fn remove(&mut self) -> Option<Entry> {
        todo!()
    }
    /// Set (`Some`) or clear (`None`) the key's deadline. Returns false if the key is absent.
    /// A deadline at or before `now_ms` deletes the key (and still returns true), as Redis does.
    pub fn set_expire(&mut self, expire_at_ms: Option<u64>) -> bool {
        let _ = expire_at_ms;
        todo!()
    }
    /// Insert an entry moved from elsewhere (RENAME/MOVE/COPY): key bytes are this view's key,
    /// value and deadline taken from `entry`. Replaces any existing key.
    pub fn put_entry(&mut self, value: Vec<u8>, expire_at_ms: Option<u64>) -> Option<Entry> {
        self.set(value, expire_at_ms)
    }
}

/// Several keys locked together (shards locked in ascending order, each once).
pub struct MultiView<'a> {
    _p: std::marker::PhantomData<&'a ()>,
    // implementation: the guards plus, per requested key, which guard and its hash.
}

impl<'a> MultiView<'a> {
    /// Number of keys requested.
    pub fn len(&self) -> usize {
        todo!()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// A view of key `i` (in the order they were requested).
    pub fn key(&mut self, i: usize) -> KeyView<'_> {
        let _ = i;
        todo!()
    }
}

/// The whole keyspace.
pub struct Store {
    /// `dbs[db][shard]`
    dbs: Box<[Box<[CachePadded<Mutex<Shard>>]>]>,
    hasher: ahash::RandomState,
    shard_mask: u64,
}

impl Store {
    /// `databases` >= 1; `shards_per_db` is rounded up to a power of two.
    pub fn new(databases: usize, shards_per_db: usize) -> Self {
        let _ = (databases, shards_per_db);
        todo!()
    }
    pub fn databases(&self) -> usize {
        self.dbs.len()
    }
    pub fn shards_per_db(&self) -> usize {
        (self.shard_mask + 1) as usize
    }
    /// Run `f` with `key` of `db` locked. `db` must be < databases() (checked by SELECT).
    pub fn with_key<R>(&self, db: usize, key: &[u8], now_ms: u64, f: impl FnOnce(&mut KeyView<'_>) -> R) -> R {
        let _ = (db, key, now_ms, f);
        todo!()
    }
    /// Run `f` with all `keys` (db, key) locked together (the same key may appear twice; it
    /// maps to the same shard and the shard is locked once).
    pub fn with_keys<R>(&self, keys: &[(usize, &[u8])], now_ms: u64, f: impl FnOnce(&mut MultiView<'_>) -> R) -> R {
        let _ = (keys, now_ms, f);
        todo!()
    }
    /// Number of keys in `db` (like Redis, may count expired keys not yet reaped).
    pub fn db_len(&self, db: usize) -> usize {
        let _ = db;
        todo!()
    }
    /// Number of keys with a deadline in `db` (INFO keyspace `expires=`).
    pub fn db_expires(&self, db: usize) -> usize {
        let _ = db;
        todo!()
    }
    /// Remove every key of `db`.
    pub fn flush_db(&self, db: usize) {
        let _ = db;
        todo!()
    }
    /// Remove every key of every db.
    pub fn flush_all(&self) {
        todo!()
    }
    /// Visit live keys of `db` shard by shard, starting at shard `cursor`; stops after the
    /// shard during which at least `count` keys were visited (whole shards only, so a key
    /// present for the whole scan is returned at least once even if tables resize). Returns
    /// the next cursor, 0 when done (SCAN semantics). `f` gets the key bytes.
    pub fn scan(&self, db: usize, cursor: u64, count: usize, now_ms: u64, f: impl FnMut(&[u8])) -> u64 {
        let _ = (db, cursor, count, now_ms, f);
        todo!()
    }
    /// A random live key of `db`, if any (RANDOMKEY).
    pub fn random_key(&self, db: usize, now_ms: u64) -> Option<Vec<u8>> {
        let _ = (db, now_ms);
        todo!()
    }
    /// Active expiry: sample keys with deadlines across all dbs and remove expired ones,
    /// stopping after `budget`. Returns how many keys were removed.
    pub fn active_expire_cycle(&self, now_ms: u64, budget: std::time::Duration) -> usize {
        let _ = (now_ms, budget);
        todo!()
    }
}
