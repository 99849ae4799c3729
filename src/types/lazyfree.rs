//! Lazy free: big collections are dropped on a background thread, so deleting, overwriting or
//! expiring a 5M-element set does not stall the worker (and every other client of it) while
//! millions of allocations are returned. As Redis's `lazyfree.c`, the decision is by "free
//! effort" (allocations to release), and only above [`LAZYFREE_THRESHOLD`]; small values are
//! cheaper to free inline than to hand over.
//!
//! [`defer`] is called from `Value`'s `Drop`, so every path that lets go of a value (DEL,
//! UNLINK, overwrite, RENAME onto a key, expiry, FLUSHDB) is covered in one place.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::OnceLock;

/// Redis's LAZYFREE_THRESHOLD: a value whose free effort (allocations to release) exceeds
/// this is freed in the background.
pub const LAZYFREE_THRESHOLD: usize = 64;
/// Values waiting for the background thread. Past this the dropping thread frees the value
/// itself (backpressure instead of unbounded garbage).
const LAZYFREE_QUEUE_MAX: usize = 1024;

/// Something to drop off the worker.
pub type Garbage = Box<dyn Send>;

/// Values handed to the background thread so far (INFO-style counter, and for tests).
static DEFERRED: AtomicU64 = AtomicU64::new(0);
/// Values the background thread has freed so far (INFO `lazyfreed_objects`).
static FREED: AtomicU64 = AtomicU64::new(0);

fn sender() -> Option<&'static SyncSender<Garbage>> {
    static SENDER: OnceLock<Option<SyncSender<Garbage>>> = OnceLock::new();
    SENDER
        .get_or_init(|| {
            let (tx, rx) = sync_channel::<Garbage>(LAZYFREE_QUEUE_MAX);
            let spawned = std::thread::Builder::new().name("ringkv-lazyfree".into()).spawn(move || {
                for garbage in rx {
                    drop(garbage);
                    FREED.fetch_add(1, Ordering::Relaxed);
                }
            });
            spawned.ok().map(|_| tx)
        })
        .as_ref()
}

/// Drop `garbage` on the lazy-free thread (inline if the queue is full or the thread could
/// not start).
pub fn defer(garbage: Garbage) {
    let Some(tx) = sender() else {
        return drop(garbage);
    };
    match tx.try_send(garbage) {
        Ok(()) => {
            DEFERRED.fetch_add(1, Ordering::Relaxed);
        }
        Err(TrySendError::Full(garbage) | TrySendError::Disconnected(garbage)) => drop(garbage),
    }
}

/// Values handed to the background thread since start.
pub fn deferred_total() -> u64 {
    DEFERRED.load(Ordering::Relaxed)
}

/// Values the background thread has freed since start (INFO `lazyfreed_objects`).
pub fn freed_total() -> u64 {
    FREED.load(Ordering::Relaxed)
}

/// Values handed over and not freed yet (INFO `lazyfree_pending_objects`).
pub fn pending() -> u64 {
    deferred_total().saturating_sub(freed_total())
}
