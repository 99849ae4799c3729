//! Per-connection state of the ring loop and the slab that holds it.
//!
//! Lifecycle (monoio's rule: an in-flight operation owns its buffer and keeps its fd alive):
//!
//! ```text
//!   accept/hand-off ──► Open ──(EOF+flushed | error | QUIT/protocol error+flushed |
//!                        │      idle timeout | shutdown+flushed)──► Closing ──► freed
//!                        │                                           │
//!                        └ recv/send SQEs in flight                   └ cancels + Close SQE
//! ```
//!
//! A slot is freed (and its generation bumped) only when `inflight` — the number of SQEs of
//! this slot whose final completion has not arrived — is back to zero. Until then the send
//! buffer and the basic-mode receive buffer stay where the kernel was told they are, and the
//! descriptor is not reused by a later connection in this slot (nor its fixed-file entry,
//! which has the slot's index: see `fixed.rs`).

use std::os::fd::RawFd;
use std::time::Instant;

use crate::engine::limits::IOVECS_PER_SEND_MAX;
use crate::reply::{Out, Segments};
use crate::ring::Target;
use crate::session::Session;

/// A finished send buffer keeps its allocation for the next reply up to this capacity; larger
/// ones (after a big value) are freed so an idle connection does not pin megabytes.
pub const SEND_BUF_KEEP_BYTES: usize = 64 * 1024;
/// One Send SQE carries at most this many bytes (the SQE length field is 32 bits; a
/// SENDMSG's iovecs are capped at the same total).
pub const SEND_CHUNK_MAX: usize = 1 << 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Serving requests.
    Open,
    /// Cancels and the Close are queued; waiting for `inflight` to reach 0.
    Closing,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvState {
    /// No recv in flight.
    Idle,
    /// A recv (multishot in full mode) is in flight.
    Armed,
    /// An AsyncCancel for the recv is in flight; its final CQE has not arrived yet.
    Cancelling,
}

/// Reply bytes handed to the kernel: taken whole out of `session.out`, so they never move
/// while a Send is in flight; a short send resubmits from `progress` (mid-segment if need
/// be). Output in one piece goes out with a plain `SEND`; output with referenced values
/// (several segments) with a `SENDMSG` over an iovec array kept here, at a stable heap
/// address, until its completion. References are dropped as soon as everything is sent.
#[derive(Debug, Default)]
pub struct SendBuf {
    segs: Segments,
    progress: usize,
    pub in_flight: bool,
    /// The iovec array and header of the `SENDMSG` in flight (allocated on first use).
    msg: Option<Box<MsgParts>>,
}

/// A `SENDMSG`'s message header and iovec array. Boxed so their addresses do not move with the
/// connection (the slab may grow) while the kernel may read them.
struct MsgParts {
    hdr: libc::msghdr,
    iov: Vec<libc::iovec>,
}

impl std::fmt::Debug for MsgParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MsgParts({} iovecs)", self.iov.len())
    }
}

/// What the next send of a [`SendBuf`] is.
pub enum SendOp {
    /// One contiguous chunk: a plain `SEND` of (pointer, length).
    Send(*const u8, u32),
    /// Several segments: a `SENDMSG` of this header.
    SendMsg(*const libc::msghdr),
}

impl SendBuf {
    pub fn new(buf: Vec<u8>) -> SendBuf {
        debug_assert!(buf.is_empty());
        SendBuf { segs: Segments::from_vec(buf), progress: 0, in_flight: false, msg: None }
    }

    /// Bytes not yet accepted by the kernel.
    pub fn pending(&self) -> usize {
        self.segs.len() - self.progress
    }

    /// Take what the session may send now (all of `out` unless replies wait for the AOF; see
    /// [`Session::take_sendable`](crate::session::Session::take_sendable)) as the new buffer.
    pub fn take_sendable(&mut self, session: &mut crate::session::Session, shared: &crate::shared::Shared) {
        assert!(!self.in_flight);
        assert_eq!(self.pending(), 0);
        self.segs.clear();
        self.progress = 0;
        session.take_sendable(shared, &mut self.segs);
    }

    /// Swap `out` (the session's replies) in as the new buffer to send; `out` gets the old,
    /// empty allocation back to fill with the next replies, and keeps its protocol.
    pub fn take_from(&mut self, out: &mut Out) {
        assert!(!self.in_flight);
        assert_eq!(self.pending(), 0);
        self.segs.clear();
        self.progress = 0;
        out.swap_segments(&mut self.segs);
    }

    /// The next send to hand to the kernel. What it points to stays put until `advance`.
    pub fn next_op(&mut self) -> SendOp {
        let mut chunks = self.segs.chunks_from(self.progress);
        let first = chunks.next().unwrap_or_default();
        if first.len() >= SEND_CHUNK_MAX || chunks.next().is_none() {
            return SendOp::Send(first.as_ptr(), first.len().min(SEND_CHUNK_MAX) as u32);
        }
        let parts = self.msg.get_or_insert_with(|| {
            // SAFETY: msghdr is plain data; all zeroes is a valid empty header (null name and
            // control, no iovecs, no flags).
            Box::new(MsgParts { hdr: unsafe { std::mem::zeroed() }, iov: Vec::new() })
        });
        parts.iov.clear();
        let mut total = 0;
        for chunk in self.segs.chunks_from(self.progress).take(IOVECS_PER_SEND_MAX) {
            let len = chunk.len().min(SEND_CHUNK_MAX - total);
            parts.iov.push(libc::iovec { iov_base: chunk.as_ptr() as *mut libc::c_void, iov_len: len });
            total += len;
            if total == SEND_CHUNK_MAX {
                break;
            }
        }
        parts.hdr.msg_iov = parts.iov.as_mut_ptr();
        parts.hdr.msg_iovlen = parts.iov.len() as _;
        SendOp::SendMsg(&parts.hdr)
    }

    /// The kernel accepted `n` more bytes. Returns true once everything was sent.
    pub fn advance(&mut self, n: usize) -> bool {
        assert!(n <= self.pending(), "send progress {} + {n} passes length {}", self.progress, self.segs.len());
        self.progress += n;
        if self.progress < self.segs.len() {
            return false;
        }
        self.segs.clear();
        self.segs.shrink_past(SEND_BUF_KEEP_BYTES);
        self.progress = 0;
        if let Some(parts) = self.msg.as_mut() {
            parts.iov.clear();
        }
        true
    }

    /// The allocation, for reuse by a later connection.
    pub fn into_vec(self) -> Vec<u8> {
        self.segs.into_vec()
    }
}

/// One client connection owned by a worker.
pub struct Conn {
    /// The plain descriptor (open until the connection closes).
    pub fd: RawFd,
    /// What its SQEs name: its fixed-file slot, or `fd` (see `fixed.rs`).
    pub file: Target,
    pub session: Session,
    pub phase: Phase,
    /// SQEs of this slot whose final completion has not arrived (recv, send, cancels, close).
    pub inflight: u32,
    pub recv: RecvState,
    /// Basic mode: where the single-shot recv writes (owned by the recv while it is armed).
    pub rbuf: Vec<u8>,
    pub send: SendBuf,
    /// The peer finished sending: stop reading; close once every reply is flushed.
    pub eof: bool,
    /// Close now without flushing (connection error, idle timeout, shutdown deadline).
    pub kill: bool,
    /// Queued for post-batch service (dedupes the touched list).
    pub touched: bool,
    /// Listed among the connections whose replies wait for the AOF (dedupes that list).
    pub waiting_durable: bool,
    /// Last time bytes moved in either direction (for `--timeout`).
    pub last_active: Instant,
}

impl Conn {
    pub fn new(fd: RawFd, session: Session, rbuf: Vec<u8>, send: Vec<u8>, now: Instant) -> Conn {
        Conn {
            fd,
            file: Target::Fd(fd),
            session,
            phase: Phase::Open,
            inflight: 0,
            recv: RecvState::Idle,
            rbuf,
            send: SendBuf::new(send),
            eof: false,
            kill: false,
            touched: false,
            waiting_durable: false,
            last_active: now,
        }
    }

    /// Every reply produced so far has been accepted by the kernel.
    pub fn flushed(&self) -> bool {
        !self.send.in_flight && self.send.pending() == 0 && self.session.out.is_empty()
    }

    /// One more SQE of this slot is in flight.
    pub fn op_started(&mut self) {
        self.inflight += 1;
    }

    /// A final completion arrived. Returns true when nothing is in flight any more.
    pub fn op_finished(&mut self) -> bool {
        assert!(self.inflight > 0, "completion for a slot with nothing in flight");
        self.inflight -= 1;
        self.inflight == 0
    }
}

struct Slot {
    gen: u32,
    conn: Option<Conn>,
}

/// The connection slab: slots addressed by index, each with a generation for its tokens.
#[derive(Default)]
pub struct Slab {
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
}

impl Slab {
    /// Store `conn`; returns (slot, generation).
    pub fn insert(&mut self, conn: Conn) -> (u32, u32) {
        self.live += 1;
        if let Some(i) = self.free.pop() {
            let slot = &mut self.slots[i as usize];
            debug_assert!(slot.conn.is_none());
            slot.conn = Some(conn);
            return (i, slot.gen);
        }
        let i = u32::try_from(self.slots.len()).expect("slab index fits a token's 32-bit slot field");
        self.slots.push(Slot { gen: 0, conn: Some(conn) });
        (i, 0)
    }

    /// The connection in `slot` if its generation is `gen`.
    pub fn get_mut(&mut self, slot: u32, gen: u32) -> Option<&mut Conn> {
        let s = self.slots.get_mut(slot as usize)?;
        if s.gen != gen {
            return None;
        }
        s.conn.as_mut()
    }

    /// The connection in `slot` (any generation) and its generation.
    pub fn get_any(&mut self, slot: u32) -> Option<(&mut Conn, u32)> {
        let s = self.slots.get_mut(slot as usize)?;
        let gen = s.gen;
        s.conn.as_mut().map(|c| (c, gen))
    }

    /// Free `slot`: bump its generation so stale tokens no longer match.
    pub fn remove(&mut self, slot: u32) -> Option<Conn> {
        let s = self.slots.get_mut(slot as usize)?;
        let conn = s.conn.take()?;
        s.gen = (s.gen + 1) & super::token::GEN_MASK;
        self.free.push(slot);
        self.live -= 1;
        Some(conn)
    }

    pub fn live(&self) -> usize {
        self.live
    }

    /// Slot indices currently holding a connection.
    pub fn occupied(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots.iter().enumerate().filter(|(_, s)| s.conn.is_some()).map(|(i, _)| i as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out_of(bytes: &[u8]) -> Out {
        let mut out = Out::new();
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn send_buf_tracks_progress_and_recycles() {
        let mut s = SendBuf::new(Vec::with_capacity(16));
        let mut out = out_of(b"hello world");
        s.take_from(&mut out);
        assert!(out.is_empty());
        assert!(out.capacity() >= 16, "old allocation handed back to the session");
        assert_eq!(s.pending(), 11);
        assert!(!s.advance(5));
        let SendOp::Send(_, len) = s.next_op() else { panic!("one segment: a plain send") };
        assert_eq!(len, 6);
        assert!(s.advance(6));
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn taking_the_bytes_keeps_the_protocol() {
        // HELLO 3 sets the protocol on the session's buffer; handing its bytes to the kernel
        // must not reset it to RESP2 for the next replies.
        let mut s = SendBuf::new(Vec::new());
        let mut out = Out::with_proto(crate::reply::Proto::Resp3);
        out.extend_from_slice(b"_\r\n");
        s.take_from(&mut out);
        assert_eq!(out.proto, crate::reply::Proto::Resp3);
        assert_eq!(s.pending(), 3);
    }

    #[test]
    #[should_panic(expected = "passes length")]
    fn send_progress_never_passes_length() {
        let mut s = SendBuf::new(Vec::new());
        s.take_from(&mut out_of(b"abc"));
        s.advance(4);
    }

    /// Up to `max` bytes of what `op` would send, gathered as the kernel would.
    fn gather(op: SendOp, max: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let pieces: Vec<(*const u8, usize)> = match op {
            SendOp::Send(ptr, len) => vec![(ptr, len as usize)],
            SendOp::SendMsg(msg) => {
                // SAFETY: `msg` points to the SendBuf's boxed header, whose iovec array holds
                // `msg_iovlen` entries; both stay put until the next `advance`.
                let m = unsafe { &*msg };
                // SAFETY: as above.
                let iov = unsafe { std::slice::from_raw_parts(m.msg_iov, m.msg_iovlen as _) };
                iov.iter().map(|v| (v.iov_base as *const u8, v.iov_len)).collect()
            }
        };
        for (ptr, len) in pieces {
            let n = len.min(max - got.len());
            // SAFETY: each (pointer, length) lies inside a buffer the SendBuf holds.
            got.extend_from_slice(unsafe { std::slice::from_raw_parts(ptr, n) });
        }
        got
    }

    #[test]
    fn referenced_values_go_out_with_sendmsg_and_resume_mid_segment() {
        // "+OK", a bulk referencing a stored value, "+OK": SENDMSG of the segments until only
        // one is left, then a plain SEND; every short send resumes where it stopped.
        let value: crate::reply::SharedBytes = std::sync::Arc::new(pattern(crate::reply::SHARE_MIN_BYTES));
        let mut out = Out::for_conn();
        out.extend_from_slice(b"+OK\r\n");
        crate::reply::stored_bulk(&mut out, &value, Some(&value));
        out.extend_from_slice(b"+OK\r\n");
        assert_eq!(out.segments().chunks_from(0).count(), 3, "framing, the value, framing");
        let want = out.segments().to_vec();
        let mut s = SendBuf::new(Vec::new());
        s.take_from(&mut out);
        let (mut got, mut kinds) = (Vec::new(), (0, 0));
        while s.pending() > 0 {
            let op = s.next_op();
            match op {
                SendOp::Send(..) => kinds.0 += 1,
                SendOp::SendMsg(..) => kinds.1 += 1,
            }
            let sent = gather(op, 1000);
            got.extend_from_slice(&sent);
            s.advance(sent.len());
        }
        assert_eq!(got, want);
        assert!(kinds.1 > 0, "several segments: SENDMSG {kinds:?}");
        assert_eq!(std::sync::Arc::strong_count(&value), 1, "the reference is dropped once sent");
        // Once only the last segment is left, a plain SEND of it.
        let mut out = Out::for_conn();
        crate::reply::stored_bulk(&mut out, &value, Some(&value));
        out.extend_from_slice(b"+OK\r\n");
        s.take_from(&mut out);
        let tail = b"\r\n+OK\r\n".len();
        assert!(!s.advance(s.pending() - tail));
        assert!(matches!(s.next_op(), SendOp::Send(_, n) if n as usize == tail));
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn big_send_buffers_are_not_kept() {
        let mut s = SendBuf::new(Vec::new());
        s.take_from(&mut out_of(&vec![0u8; SEND_BUF_KEEP_BYTES * 2]));
        assert!(s.advance(SEND_BUF_KEEP_BYTES * 2));
        assert_eq!(s.into_vec().capacity(), 0);
    }

    #[test]
    fn slab_generations_reject_stale_tokens() {
        let shared = crate::shared::Shared::new(crate::config::Config::defaults());
        let mk = || Conn::new(7, Session::new(&shared), Vec::new(), Vec::new(), Instant::now());
        let mut slab = Slab::default();
        let (a, ga) = slab.insert(mk());
        assert!(slab.get_mut(a, ga).is_some());
        assert!(slab.remove(a).is_some());
        assert!(slab.get_mut(a, ga).is_none());
        let (b, gb) = slab.insert(mk());
        assert_eq!(a, b, "slot reused");
        assert_ne!(ga, gb, "with a new generation");
        assert!(slab.get_mut(a, ga).is_none());
        assert_eq!(slab.live(), 1);
        assert_eq!(slab.occupied().collect::<Vec<_>>(), vec![b]);
    }
}
