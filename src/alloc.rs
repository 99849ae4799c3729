//! The server's memory allocator: jemalloc (as Redis uses), wrapped to count the bytes the
//! program holds, plus its statistics for INFO / MEMORY STATS and MEMORY PURGE.
//!
//! Why jemalloc: measured against mimalloc and glibc in `docs/memory.md`; jemalloc's
//! background thread returns freed pages to the OS a second or so after they are freed
//! ([`MALLOC_CONF`]), so RSS follows the data set down after FLUSHALL or after big replies.
//!
//! Why a counter of our own: maxmemory checks `used_memory` before every write command, so
//! it must be exact and cheap. jemalloc's `stats.allocated` needs an `epoch` refresh that
//! merges every arena (far too slow per command). [`Counting`] adds each allocation's size to
//! a counter, as Redis 7.0's zmalloc does with its `used_memory` counter: a per-thread stripe
//! written without atomic read-modify-write for the first threads (workers), see
//! [`OWNED_STRIPES`]. The binaries
//! (and the memory tests) install it with `#[global_allocator]`; where it is not installed
//! (library unit tests) [`used_memory`] reads 0 and [`installed`] is false.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering::Relaxed};

use tikv_jemallocator::Jemalloc;

/// jemalloc's start-up options (read before `main`): a background thread purges unused dirty
/// pages (Redis's `jemalloc-bg-thread yes`), dirty pages are returned after 1 s instead of
/// jemalloc's 10 s so RSS comes back within the "few seconds" operators expect, and pages
/// go straight from dirty to released (no muzzy stage that still counts as resident).
/// `slab_sizes`: the 64- and 128-byte classes (a small key's entry block, `store::entry`) get
/// 4-page slabs instead of 1-page ones, so jemalloc keeps one slab descriptor per 256 / 128
/// blocks instead of per 64 / 32: measured 1.5 B/key less RSS at 1M × (16 B key, 32 B value)
/// and 3 B/key less at 3M × 100 B values (`docs/memory.md`).
#[export_name = "_rjem_malloc_conf"]
pub static MALLOC_CONF: &u8 =
    &b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,slab_sizes:64-64:4|128-128:4\0"[0];

/// jemalloc with a byte counter: install with `#[global_allocator]`.
pub struct Counting;

/// Stripes of the byte counter that one thread owns for good: the first threads to allocate
/// (main, workers, timers) each get one and update it with a plain load and store, no locked
/// instruction (an allocation or free on the request path then costs no atomic add). Owned
/// stripes are never given back (a destructor cannot be registered from inside the
/// allocator), so a finished thread's stripe simply keeps its sum.
const OWNED_STRIPES: usize = 32;
/// Stripes shared, with atomic adds, by every later thread (the threads engine's
/// per-connection threads). A block freed on another thread than it was allocated on makes
/// one stripe negative and another positive: the sum is right.
const SHARED_STRIPES: usize = 16;
/// Marks a stripe index in [`STRIPE`] as owned by the thread.
const OWNED_BIT: usize = 1 << (usize::BITS - 2);

/// Bytes currently allocated through [`Counting`] (requested sizes), striped by thread.
static USED_BYTES: [crossbeam_utils::CachePadded<AtomicIsize>; OWNED_STRIPES + SHARED_STRIPES] =
    [const { crossbeam_utils::CachePadded::new(AtomicIsize::new(0)) }; OWNED_STRIPES + SHARED_STRIPES];

/// Threads that asked for a stripe so far.
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's stripe (`usize::MAX` until first use; [`OWNED_BIT`] if owned). No
    /// destructor, so it can be read while the thread's other thread-locals are being torn
    /// down, and using it never allocates.
    static STRIPE: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

/// A stripe for a thread that has none yet.
fn pick_stripe() -> usize {
    let n = NEXT_STRIPE.fetch_add(1, Relaxed);
    if n < OWNED_STRIPES {
        n | OWNED_BIT
    } else {
        OWNED_STRIPES + n % SHARED_STRIPES
    }
}

/// Count `n` bytes allocated (positive) or freed (negative) on this thread's stripe.
#[inline]
fn count(n: isize) {
    let stripe = STRIPE
        .try_with(|s| {
            if s.get() == usize::MAX {
                s.set(pick_stripe());
            }
            s.get()
        })
        .unwrap_or(OWNED_STRIPES);
    let slot = &USED_BYTES[stripe & !OWNED_BIT];
    if stripe & OWNED_BIT != 0 {
        slot.store(slot.load(Relaxed).wrapping_add(n), Relaxed);
    } else {
        slot.fetch_add(n, Relaxed);
    }
}
/// Highest [`USED_BYTES`] seen by [`used_memory_peak`] callers (INFO, eviction checks).
static PEAK_BYTES: AtomicUsize = AtomicUsize::new(0);
/// Set by the first allocation through [`Counting`].
static INSTALLED: AtomicBool = AtomicBool::new(false);
/// `used_memory` once the server was set up, without the data it loaded (Redis's
/// `used_memory_startup`), see [`record_startup`].
static STARTUP_BYTES: AtomicUsize = AtomicUsize::new(0);
/// `used_memory` when loading the data began, then what the load added (see [`loading`]).
static LOAD_START_BYTES: AtomicUsize = AtomicUsize::new(0);
static LOADED_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `Jemalloc` with the caller's arguments unchanged and only
// adds bookkeeping on a static counter, so `Jemalloc`'s guarantees carry over.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        let ptr = unsafe { Jemalloc.alloc(layout) };
        if !ptr.is_null() {
            count(layout.size() as isize);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `alloc_zeroed`'s contract.
        let ptr = unsafe { Jemalloc.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count(layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is; `ptr` came from this allocator with `layout`.
        unsafe { Jemalloc.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is; `ptr` came from this allocator with `layout`.
        let new_ptr = unsafe { Jemalloc.realloc(ptr, layout, new_size) };
        if !new_ptr.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        new_ptr
    }
}

/// Mark the counting allocator as installed (the binaries call it first thing in `main`).
pub fn install() {
    INSTALLED.store(true, Relaxed);
}

/// True when the process runs on [`Counting`] (see [`install`]).
pub fn installed() -> bool {
    INSTALLED.load(Relaxed)
}

/// The allocator as INFO's `mem_allocator` and MEMORY DOCTOR name it (the jemalloc that
/// `tikv-jemalloc-sys` builds).
pub const ALLOCATOR_NAME: &str = "jemalloc-5.3.0";

/// Bytes the program holds from the allocator now (Redis's `used_memory`).
pub fn used_memory() -> usize {
    USED_BYTES.iter().map(|s| s.load(Relaxed)).sum::<isize>().max(0) as usize
}

/// The server loads its data (AOF or RDB) between `loading(true)` and `loading(false)`:
/// what the load adds is data, not startup overhead.
pub fn loading(started: bool) {
    if started {
        LOAD_START_BYTES.store(used_memory(), Relaxed);
    } else {
        LOADED_BYTES.store(used_memory().saturating_sub(LOAD_START_BYTES.load(Relaxed)), Relaxed);
    }
}

/// Note the memory the server holds once its engine is ready, less the data it loaded
/// (Redis notes it before loading; ringkv loads before its engine sets up its rings and
/// buffers, which are overhead too). MEMORY STATS / INFO count it as overhead
/// (`startup.allocated`, `used_memory_startup`).
pub fn record_startup() {
    STARTUP_BYTES.store(used_memory().saturating_sub(LOADED_BYTES.load(Relaxed)), Relaxed);
}

/// What [`record_startup`] noted (0 before it ran).
pub fn used_memory_startup() -> usize {
    STARTUP_BYTES.load(Relaxed)
}

/// The highest `used_memory` observed so far (updated by this call).
pub fn used_memory_peak() -> usize {
    let now = used_memory();
    PEAK_BYTES.fetch_max(now, Relaxed).max(now)
}

/// What jemalloc itself reports (bytes), after refreshing its statistics.
#[derive(Clone, Copy, Debug, Default)]
pub struct AllocatorStats {
    /// Bytes in live allocations, rounded up to jemalloc's size classes.
    pub allocated: usize,
    /// Bytes in pages that hold live allocations.
    pub active: usize,
    /// Bytes in physically resident pages jemalloc maps (metadata included).
    pub resident: usize,
    /// Bytes jemalloc has mapped from the OS.
    pub mapped: usize,
    /// Bytes of jemalloc's own metadata.
    pub metadata: usize,
}

/// jemalloc's statistics (all zero when they cannot be read).
pub fn allocator_stats() -> AllocatorStats {
    use tikv_jemalloc_ctl::{epoch, stats};
    if epoch::advance().is_err() {
        return AllocatorStats::default();
    }
    AllocatorStats {
        allocated: stats::allocated::read().unwrap_or(0),
        active: stats::active::read().unwrap_or(0),
        resident: stats::resident::read().unwrap_or(0),
        mapped: stats::mapped::read().unwrap_or(0),
        metadata: stats::metadata::read().unwrap_or(0),
    }
}

/// jemalloc's `MALLCTL_ARENAS_ALL`: an arena index meaning "every arena".
const ARENAS_ALL: u32 = 4096;

/// MEMORY PURGE: return every arena's unused dirty pages to the OS now.
pub fn purge() -> bool {
    let name = format!("arena.{ARENAS_ALL}.purge\0");
    // SAFETY: `name` is NUL-terminated; `arena.<i>.purge` takes no input and gives no output,
    // so the old/new pointers are null with zero lengths, as mallctl's contract asks.
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    rc == 0
}

/// The process's resident set size in bytes, from `/proc/self/statm` (0 where unavailable).
pub fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf only reads a system constant.
    let page_bytes = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * usize::try_from(page_bytes).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jemalloc_statistics_and_purge_work_without_the_counter() {
        // The library's tests run on the system allocator: the jemalloc calls must still
        // answer (jemalloc is linked) and the counter stays uninstalled.
        assert!(!installed());
        let _ = allocator_stats();
        let _ = purge();
        assert!(used_memory_peak() >= used_memory());
    }
}
