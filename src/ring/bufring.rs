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
//! Incremental consumption (`IOU_PBUF_RING_INC`, Linux 6.12+, asked for by
//! [`BufRing::register`], plain ring on older kernels): the kernel fills one buffer over many
//! recvs, advancing the entry's address past what it wrote, and flags each CQE but the one
//! that used the buffer up `IORING_CQE_F_BUF_MORE` (the buffer is still the kernel's). We keep
//! where the next CQE's data starts per buffer ([`BufRing::filled`]), and give a buffer back
//! only on its last CQE ([`BufRing::consumed`]). Without it every recv takes a whole buffer,
//! so 50 clients sending 40-byte requests walk all 256 x 16 KiB (4 MiB) of buffers; with it
//! their requests land one after another in the same few pages (measured: lower server CPU
//! per request at 50 unpipelined clients, docs/batching.md).
//!
//! Memory: the entry array (16 bytes per buffer, page-rounded) is pinned by the kernel; the
//! buffers themselves are plain anonymous memory the kernel copies into, neither pinned nor
//! counted against RLIMIT_MEMLOCK (see the sizing notes in `ring.rs`).
//!
//! **Buffers in circulation grow with the load.** The kernel takes buffers from the ring's
//! head and we give them back at its tail, so over a long stream it walks every buffer in
//! circulation: with all 256 x 16 KiB handed out at start, loading a data set through one
//! connection touched the whole 4 MiB per worker (4 bytes per key of a 1M-key load, measured
//! in docs/memory.md). So the ring starts with [`BUF_RING_INITIAL`] buffers in circulation
//! and doubles them, up to the configured count, each time a recv finds it empty
//! ([`BufRing::grow`], called on ENOBUFS; INFO `io_recv_nobufs` counts those). A light load
//! keeps touching the same few pages; a heavy one (hundreds of clients pipelining, large
//! values) reaches the full ring after a few ENOBUFS, as measured with `--uring-buffers 64`
//! and `128` fixed: 54,000 and 33 ENOBUFS per 400k pipelined 4 KB SETs from 500 clients,
//! none at 256.

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
/// `IOU_PBUF_RING_INC` (include/uapi/linux/io_uring.h, 6.12+): incremental buffer consumption.
const PBUF_RING_INC: u16 = 2;
/// Buffers in circulation when a ring starts (see the module docs): 512 KiB at 16 KiB each.
pub const BUF_RING_INITIAL: u16 = 32;

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
    /// Registered with `IOU_PBUF_RING_INC` (6.12+): the kernel fills a buffer over several
    /// recvs (CQEs flagged `BUF_MORE` while it keeps the buffer) instead of one recv each.
    incremental: bool,
    /// Incremental mode: bytes of each buffer already handed out by CQEs since it was last
    /// given back (where the next CQE naming it starts).
    offsets: Vec<u32>,
    /// Buffers given back since start (for INFO-style diagnostics and tests).
    pub returned: u64,
    /// Buffers in circulation: ids `0..circulating` have been handed to the kernel (see
    /// [`BufRing::grow`]); the others' pages have never been touched.
    circulating: u16,
}

// The raw pointers are owned mappings used by one worker thread at a time.
// SAFETY: BufRing has no thread affinity; it is moved into its worker thread once.
unsafe impl Send for BufRing {}

impl BufRing {
    /// Map `count` buffers of `buf_size` bytes and put the first [`BUF_RING_INITIAL`] of them
    /// in circulation (see [`BufRing::grow`]). `count` must be a power of two in 1..=32768.
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
        let offsets = vec![0; count as usize];
        let mut ring = BufRing {
            entries,
            buffers,
            count,
            mask: count - 1,
            buf_size,
            tail: 0,
            bgid,
            returned: 0,
            incremental: false,
            offsets,
            circulating: 0,
        };
        ring.add_buffers(count.min(BUF_RING_INITIAL));
        Ok(ring)
    }

    /// The ring ran dry (a recv ended with ENOBUFS): double the buffers in circulation, up to
    /// the ring's size. Returns whether it grew.
    pub fn grow(&mut self) -> bool {
        let more = self.circulating.min(self.count - self.circulating);
        self.add_buffers(more);
        more > 0
    }

    /// Buffers in circulation (handed to the kernel at least once).
    pub fn circulating(&self) -> u16 {
        self.circulating
    }

    /// Hand the next `n` never-used buffers to the kernel.
    fn add_buffers(&mut self, n: u16) {
        for bid in self.circulating..self.circulating + n {
            self.push(bid);
        }
        self.circulating += n;
        self.publish();
    }

    /// Register the ring with `submitter` under `self.bgid`; `incremental` asks for
    /// `IOU_PBUF_RING_INC`, and a kernel that refuses it (EINVAL, before 6.12) gets the plain
    /// ring instead.
    pub fn register(&mut self, submitter: &Submitter<'_>, incremental: bool) -> io::Result<()> {
        let addr = self.entries.ptr as u64;
        if incremental {
            // SAFETY: as below.
            let r = unsafe { submitter.register_buf_ring_with_flags(addr, self.count, self.bgid, PBUF_RING_INC) };
            match r {
                Ok(()) => {
                    self.incremental = true;
                    return Ok(());
                }
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
                Err(e) => return Err(e),
            }
        }
        // SAFETY: the entry array is page-aligned (mmap), holds `count` entries and lives as
        // long as `self`; the owner unregisters it (or drops the ring) before dropping `self`.
        unsafe { submitter.register_buf_ring_with_flags(addr, self.count, self.bgid, 0) }
    }

    /// Registered with `IOU_PBUF_RING_INC`.
    pub fn incremental(&self) -> bool {
        self.incremental
    }

    pub fn buf_size(&self) -> u32 {
        self.buf_size
    }

    /// The `len` bytes of buffer `bid` the kernel filled for a CQE (from the buffer's start, or
    /// in incremental mode from where the previous CQE naming it ended). `None` if the id or
    /// length is out of range (a kernel bug; the caller logs and drops the data).
    pub fn filled(&self, bid: u16, len: usize) -> Option<&[u8]> {
        if bid >= self.count {
            return None;
        }
        let start = self.offsets[bid as usize] as usize;
        if start + len > self.buf_size as usize {
            return None;
        }
        let offset = bid as usize * self.buf_size as usize + start;
        // SAFETY: offset + len is within the buffers mapping (checked above). The kernel wrote
        // this buffer before posting the CQE that named it and will not touch it again until
        // we give it back with `recycle`, which needs `&mut self` (so the slice is dead by then).
        Some(unsafe { std::slice::from_raw_parts(self.buffers.ptr.add(offset), len) })
    }

    /// A CQE naming buffer `bid` with `len` bytes was handled. `more` (the CQE's `BUF_MORE`
    /// flag, incremental mode only): the kernel keeps the buffer and appends the next data
    /// after these bytes; otherwise the buffer comes back to us and is given back at once.
    pub fn consumed(&mut self, bid: u16, len: usize, more: bool) {
        if more && self.incremental && bid < self.count {
            let at = &mut self.offsets[bid as usize];
            *at = (*at as usize + len).min(self.buf_size as usize) as u32;
            return;
        }
        self.recycle(bid);
    }

    /// Give buffer `bid` back to the kernel (visible at once). Ids out of range are ignored.
    pub fn recycle(&mut self, bid: u16) {
        if bid >= self.count {
            return;
        }
        self.offsets[bid as usize] = 0;
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
    fn incremental_buffers_hand_out_consecutive_bytes_and_come_back_on_the_last_cqe() {
        let mut r = BufRing::new(4, 4096, 0).expect("map");
        r.incremental = true; // as if registered with IOU_PBUF_RING_INC
        let base = r.filled(1, 0).unwrap().as_ptr() as usize;
        r.consumed(1, 100, true);
        assert_eq!(r.filled(1, 50).unwrap().as_ptr() as usize, base + 100, "the next CQE starts after the first");
        r.consumed(1, 50, true);
        assert!(r.filled(1, 4096 - 150).is_some());
        assert!(r.filled(1, 4096 - 149).is_none(), "past the buffer's end");
        assert_eq!((r.tail, r.returned), (4, 0), "not given back while the kernel keeps it");
        r.consumed(1, 3946, false);
        assert_eq!((r.tail, r.returned), (5, 1), "given back on its last CQE");
        assert_eq!(r.filled(1, 1).unwrap().as_ptr() as usize, base, "from its start again");
        // Without incremental mode `more` never holds a buffer back.
        let mut plain = BufRing::new(4, 4096, 0).expect("map");
        plain.consumed(2, 10, true);
        assert_eq!((plain.tail, plain.returned), (5, 1));
    }

    #[test]
    fn the_kernel_fills_one_buffer_over_several_recvs_when_incremental() {
        use crate::ring::{sqe, Cqe, Ring, Target};
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let mut ring = Ring::new(8, 32).expect("io_uring available on the test machine");
        let mut bufs = BufRing::new(2, 4096, 0).expect("map");
        bufs.register(&ring.submitter(), true).expect("register");
        assert!(bufs.incremental(), "IOU_PBUF_RING_INC is available on the test machine's kernel");
        let (ours, mut peer) = std::os::unix::net::UnixStream::pair().unwrap();
        // SAFETY: the multishot recv writes only into the registered buffer ring.
        unsafe { ring.push(&sqe::recv_multi(Target::Fd(ours.as_raw_fd()), 0, 1)).unwrap() };
        let mut got = Vec::new();
        for msg in [&b"first"[..], b"second"] {
            peer.write_all(msg).unwrap();
            let mut cqes: Vec<Cqe> = Vec::new();
            while cqes.is_empty() {
                ring.enter(1, 0).expect("enter");
                ring.reap(&mut cqes, 1);
            }
            let c = cqes[0];
            let bid = io_uring::cqueue::buffer_select(c.flags).expect("a buffer");
            assert!(io_uring::cqueue::buffer_more(c.flags), "the kernel keeps the buffer");
            got.push((bid, bufs.filled(bid, c.result as usize).unwrap().to_vec()));
            bufs.consumed(bid, c.result as usize, true);
        }
        assert_eq!(got[0].0, got[1].0, "both recvs used the same buffer");
        assert_eq!((got[0].1.as_slice(), got[1].1.as_slice()), (&b"first"[..], &b"second"[..]));
        drop(peer); // EOF ends the multishot; the ring is dropped with it
    }

    #[test]
    fn buffers_in_circulation_double_on_demand_up_to_the_ring_size() {
        let mut r = BufRing::new(256, 4096, 0).expect("map");
        assert_eq!((r.circulating(), r.tail), (BUF_RING_INITIAL, BUF_RING_INITIAL));
        assert!(r.grow());
        assert_eq!((r.circulating(), r.tail), (2 * BUF_RING_INITIAL, 2 * BUF_RING_INITIAL));
        // SAFETY: test reads an entry of a live mapping.
        let e = unsafe { &*r.entries.ptr.cast::<BufRingEntry>().add(BUF_RING_INITIAL as usize) };
        assert_eq!(e.bid(), BUF_RING_INITIAL, "the new buffers follow the old ones");
        assert!(r.grow() && r.grow());
        assert_eq!(r.circulating(), 256);
        assert!(!r.grow(), "never past the ring's size");
        assert_eq!(r.tail, 256);
        let mut small = BufRing::new(4, 4096, 0).expect("map");
        assert_eq!(small.circulating(), 4, "a ring smaller than the initial count starts full");
        assert!(!small.grow());
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
