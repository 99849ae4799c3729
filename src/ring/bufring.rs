//! A provided-buffer ring (`IORING_REGISTER_PBUF_RING`): memory we map, whose buffers the
//! kernel picks from when a multishot recv has data, naming the buffer id in the CQE.
//!
//! Kernel layout (include/uapi/linux/io_uring.h): the ring is an array of
//! `struct io_uring_buf { u64 addr; u32 len; u16 bid; u16 resv; }`, and the ring's tail
//! overlays `bufs[0].resv` (byte offset 14):
//!
//! ```text
//! struct io_uring_buf_ring {
//!     union {
//!         struct { __u64 resv1; __u32 resv2; __u16 resv3; __u16 tail; };
//!         struct io_uring_buf bufs[];
//!     };
//! };
//! ```
//!
//! The kernel consumes entries from its private head; we add entries at `tail` and publish a
//! new tail with a Release store, so the kernel sees the entry contents before the tail.
//!
//! Memory: the entry array (16 bytes per buffer, page-rounded) is pinned by the kernel; the
//! buffers themselves are plain anonymous memory the kernel copies into, neither pinned nor
//! counted against RLIMIT_MEMLOCK (see the sizing notes in `ring.rs`).

use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::Submitter;

/// Most entries a buffer ring may have (kernel limit, `IORING_MAX_PBUF_RING_ENTRIES`... 2^15).
pub const BUF_RING_ENTRIES_MAX: u16 = 1 << 15;
/// Smallest receive buffer accepted from the config: below this a recv CQE per few bytes.
pub const BUF_SIZE_MIN: u32 = 512;
/// Largest receive buffer accepted from the config.
pub const BUF_SIZE_MAX: u32 = 1 << 20;

/// An anonymous private mapping, unmapped on drop.
struct Mapping {
    ptr: *mut u8,
    len: usize,
}

impl Mapping {
    fn new(len: usize) -> io::Result<Mapping> {
        // SAFETY: a fresh anonymous private mapping; no existing memory is affected. The result
        // is checked against MAP_FAILED before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping { ptr: ptr.cast(), len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned; nothing references the mapping
        // after its owner (BufRing) is dropped, which happens after the ring stopped using it.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// The buffer ring of one worker (one ring, one buffer group).
pub struct BufRing {
    entries: Mapping,
    buffers: Mapping,
    count: u16,
    mask: u16,
    buf_size: u32,
    /// Our copy of the tail (the kernel's head chases it).
    tail: u16,
    /// Buffer group id the ring is registered under.
    pub bgid: u16,
    /// Buffers given back since start (for INFO-style diagnostics and tests).
    pub returned: u64,
}

// The raw pointers are owned mappings used by one worker thread at a time.
// SAFETY: BufRing has no thread affinity; it is moved into its worker thread once.
unsafe impl Send for BufRing {}

impl BufRing {
    /// Map `count` buffers of `buf_size` bytes and fill the ring with all of them.
    /// `count` must be a power of two in 1..=32768.
    pub fn new(count: u16, buf_size: u32, bgid: u16) -> io::Result<BufRing> {
        if count == 0 || !count.is_power_of_two() || count > BUF_RING_ENTRIES_MAX {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "buffer count must be a power of two in 1..=32768",
            ));
        }
        if !(BUF_SIZE_MIN..=BUF_SIZE_MAX).contains(&buf_size) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "buffer size out of range"));
        }
        let page = page_size();
        let entries_len = (count as usize * std::mem::size_of::<BufRingEntry>()).div_ceil(page) * page;
        let entries = Mapping::new(entries_len)?;
        let buffers = Mapping::new(count as usize * buf_size as usize)?;
        let mut ring = BufRing { entries, buffers, count, mask: count - 1, buf_size, tail: 0, bgid, returned: 0 };
        for bid in 0..count {
            ring.push(bid);
        }
        ring.publish();
        ring.returned = 0;
        Ok(ring)
    }

    /// Register the ring with `submitter` under `self.bgid`.
    pub fn register(&self, submitter: &Submitter<'_>) -> io::Result<()> {
        // SAFETY: the entry array is page-aligned (mmap), holds `count` entries and lives as
        // long as `self`; the owner unregisters it (or drops the ring) before dropping `self`.
        unsafe { submitter.register_buf_ring_with_flags(self.entries.ptr as u64, self.count, self.bgid, 0) }
    }

    pub fn buf_size(&self) -> u32 {
        self.buf_size
    }

    /// The first `len` bytes of buffer `bid`, as filled by the kernel for a CQE. `None` if the
    /// id or length is out of range (a kernel bug; the caller logs and drops the data).
    pub fn filled(&self, bid: u16, len: usize) -> Option<&[u8]> {
        if bid >= self.count || len > self.buf_size as usize {
            return None;
        }
        let offset = bid as usize * self.buf_size as usize;
        // SAFETY: offset + len is within the buffers mapping (checked above). The kernel wrote
        // this buffer before posting the CQE that named it and will not touch it again until
        // we give it back with `recycle`, which needs `&mut self` (so the slice is dead by then).
        Some(unsafe { std::slice::from_raw_parts(self.buffers.ptr.add(offset), len) })
    }

    /// Give buffer `bid` back to the kernel (visible at once). Ids out of range are ignored.
    pub fn recycle(&mut self, bid: u16) {
        if bid >= self.count {
            return;
        }
        self.push(bid);
        self.publish();
        self.returned += 1;
    }

    /// Write entry `tail` describing buffer `bid` (not yet visible to the kernel).
    fn push(&mut self, bid: u16) {
        let index = (self.tail & self.mask) as usize;
        // SAFETY: index < count, and the entry array holds `count` entries. The kernel only
        // reads entries between its head and the published tail; this one is at the unpublished
        // tail, so we are its only user.
        let entry = unsafe { &mut *self.entries.ptr.cast::<BufRingEntry>().add(index) };
        // SAFETY: bid < count, so the address is inside the buffers mapping.
        let addr = unsafe { self.buffers.ptr.add(bid as usize * self.buf_size as usize) };
        entry.set_addr(addr as u64);
        entry.set_len(self.buf_size);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Publish our tail to the kernel.
    fn publish(&self) {
        // SAFETY: the entry array starts with entry 0 (page-aligned, initialised by `new`), whose
        // `resv` field is the ring's tail; it is a naturally aligned u16 shared with the kernel,
        // so it is accessed atomically. Release orders the entry writes before the tail.
        unsafe {
            let tail = BufRingEntry::tail(self.entries.ptr.cast::<BufRingEntry>()) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
    }
}

/// The system page size.
pub fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_sizes() {
        assert!(BufRing::new(3, 4096, 0).is_err());
        assert!(BufRing::new(0, 4096, 0).is_err());
        assert!(BufRing::new(4, 16, 0).is_err());
        assert!(BufRing::new(4, BUF_SIZE_MAX + 1, 0).is_err());
    }

    #[test]
    fn fills_then_recycles_in_order() {
        let mut r = BufRing::new(4, 4096, 0).expect("map");
        assert_eq!(r.tail, 4);
        assert!(r.filled(3, 4096).is_some());
        assert!(r.filled(4, 1).is_none());
        assert!(r.filled(0, 4097).is_none());
        r.recycle(2);
        r.recycle(9); // ignored
        assert_eq!(r.tail, 5);
        assert_eq!(r.returned, 1);
        // Entry 4 & 3 == 0 now names buffer 2.
        // SAFETY: test reads entry 0 of a live mapping.
        let e = unsafe { &*r.entries.ptr.cast::<BufRingEntry>() };
        assert_eq!(e.bid(), 2);
        assert_eq!(e.len(), 4096);
    }
}
