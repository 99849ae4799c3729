//! The worker's reserved operations: every SQE that belongs to no connection (the shutdown
//! eventfd read, the timers, accepts, hand-offs, closes of descriptors that never became
//! connections, cancels of these), the memory they point at, and how many are in flight.
//!
//! Every such SQE is built here, and points only at memory [`Reserved`] owns in a box (the
//! eventfd read's target, the timespecs) or at nothing. The worker ends its loop only once
//! [`Reserved::inflight`] is back to zero, so the boxes outlive every op that refers to them;
//! if it stops early with ops in flight it calls [`Reserved::leak`] instead of freeing memory
//! the kernel may still write.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use io_uring::squeue::Entry;
use io_uring::types::Timespec;

use super::token;
use crate::engine::limits::{ACCEPT_ERROR_BACKOFF, DRAIN_POLL_INTERVAL, IDLE_CHECK_INTERVAL};
use crate::ring::{sqe, Ring};

/// The worker's non-connection ops in flight and what they point at.
pub struct Reserved {
    /// Reserved SQEs whose final completion has not arrived.
    inflight: u32,
    /// The shutdown eventfd (written by `Shared::begin_shutdown`).
    wake: Arc<OwnedFd>,
    /// Target of the eventfd read while it is in flight.
    wake_buf: Box<u64>,
    /// Timespecs handed to Timeout SQEs (the kernel copies them at submission).
    tick_ts: Box<Timespec>,
    drain_ts: Box<Timespec>,
    backoff_ts: Box<Timespec>,
    aof_hold_ts: Box<Timespec>,
    aof_hold_armed: bool,
    /// Whether this worker has a periodic timer at all.
    ticks: bool,
    wake_armed: bool,
    tick_armed: bool,
    drain_armed: bool,
}

impl Reserved {
    /// `tick_interval`: the periodic timer's period, `None` for no timer.
    pub fn new(wake: Arc<OwnedFd>, tick_interval: Option<Duration>) -> Reserved {
        Reserved {
            inflight: 0,
            wake,
            wake_buf: Box::new(0),
            tick_ts: Box::new(Timespec::from(tick_interval.unwrap_or(IDLE_CHECK_INTERVAL))),
            drain_ts: Box::new(Timespec::from(DRAIN_POLL_INTERVAL)),
            backoff_ts: Box::new(Timespec::from(ACCEPT_ERROR_BACKOFF)),
            aof_hold_ts: Box::new(Timespec::from(Duration::ZERO)),
            aof_hold_armed: false,
            ticks: tick_interval.is_some(),
            wake_armed: false,
            tick_armed: false,
            drain_armed: false,
        }
    }

    /// Reserved ops whose final completion has not arrived.
    #[inline]
    pub fn inflight(&self) -> u32 {
        self.inflight
    }

    fn push(&mut self, ring: &mut Ring, entry: &Entry) -> anyhow::Result<()> {
        // SAFETY: every reserved SQE is built in this file and points only at this struct's
        // boxed eventfd buffer/timespecs (live until the worker's ops have all completed, or
        // leaked) or at nothing.
        unsafe { ring.push(entry)? };
        self.inflight += 1;
        Ok(())
    }

    /// Queue the AOF's linked write + fdatasync of `len` bytes at `ptr` to file offset
    /// `offset` of `fd` (two ops, each completing once).
    ///
    /// # Safety
    /// `ptr..ptr+len` must stay valid and unmoved until the write's completion arrives (the
    /// worker keeps the flush job, which owns the bytes, until then).
    pub unsafe fn aof_flush(
        &mut self,
        ring: &mut Ring,
        fd: RawFd,
        ptr: *const u8,
        len: u32,
        offset: u64,
    ) -> anyhow::Result<()> {
        use super::token::Token;
        // Both SQEs must land in the same submission, or the link would attach to whatever
        // is queued next.
        ring.reserve(2)?;
        self.push(ring, &crate::ring::sqe::write_linked(fd, ptr, len, offset, Token::AofWrite.encode()))?;
        self.push(ring, &crate::ring::sqe::fdatasync(fd, Token::AofFsync.encode()))
    }

    /// Arm the timer that ends a hold of the next AOF flush after `wait` (one at a time:
    /// false if one is armed already, which ends the hold earlier).
    pub fn arm_aof_hold(&mut self, ring: &mut Ring, wait: Duration) -> anyhow::Result<bool> {
        if self.aof_hold_armed {
            return Ok(false);
        }
        *self.aof_hold_ts = Timespec::from(wait);
        let ts: *const Timespec = &*self.aof_hold_ts;
        self.push(ring, &sqe::timeout(ts, token::Token::AofHold.encode()))?;
        self.aof_hold_armed = true;
        Ok(true)
    }

    /// The AOF hold timer fired.
    pub fn aof_hold_done(&mut self) {
        self.done();
        self.aof_hold_armed = false;
    }

    /// A reserved op's final completion arrived.
    #[inline]
    pub fn done(&mut self) {
        assert!(self.inflight > 0, "reserved completion with nothing in flight");
        self.inflight -= 1;
    }

    // ---- the worker's own ops: armed flags, so shutdown cancels exactly what is armed ----

    /// Read the shutdown eventfd.
    pub fn arm_wake(&mut self, ring: &mut Ring) -> anyhow::Result<()> {
        let buf: *mut u64 = &mut *self.wake_buf;
        self.push(ring, &sqe::read(self.wake.as_raw_fd(), buf.cast(), 8, token::WAKE))?;
        self.wake_armed = true;
        Ok(())
    }

    /// The eventfd read completed.
    #[inline]
    pub fn wake_done(&mut self) {
        self.done();
        self.wake_armed = false;
    }

    /// Start the periodic timer, if this worker has one.
    pub fn arm_tick(&mut self, ring: &mut Ring) -> anyhow::Result<()> {
        if self.ticks {
            let ts: *const Timespec = &*self.tick_ts;
            self.push(ring, &sqe::timeout(ts, token::TICK))?;
            self.tick_armed = true;
        }
        Ok(())
    }

    /// The periodic timer fired (or was cancelled).
    #[inline]
    pub fn tick_done(&mut self) {
        self.done();
        self.tick_armed = false;
    }

    /// Start the drain timer (shutdown only).
    pub fn arm_drain_tick(&mut self, ring: &mut Ring) -> anyhow::Result<()> {
        let ts: *const Timespec = &*self.drain_ts;
        self.push(ring, &sqe::timeout(ts, token::DRAIN_TICK))?;
        self.drain_armed = true;
        Ok(())
    }

    /// The drain timer fired (or was cancelled).
    #[inline]
    pub fn drain_tick_done(&mut self) {
        self.done();
        self.drain_armed = false;
    }

    /// Cancel whichever of the wake read, the tick and the drain tick are armed (in that
    /// order), at the end of shutdown.
    pub fn cancel_own(&mut self, ring: &mut Ring) -> anyhow::Result<()> {
        for (armed, target) in
            [(self.wake_armed, token::WAKE), (self.tick_armed, token::TICK), (self.drain_armed, token::DRAIN_TICK)]
        {
            if armed {
                self.cancel(ring, target)?;
            }
        }
        Ok(())
    }

    // ---- accepts and hand-offs (state kept by the acceptor) ------------------------------

    /// Accept on listener `listener`'s descriptor `fd`: multishot, or one connection.
    pub fn accept(&mut self, ring: &mut Ring, fd: RawFd, listener: usize, multishot: bool) -> anyhow::Result<()> {
        let entry = if multishot {
            sqe::accept_multi(fd, token::accept(listener))
        } else {
            sqe::accept(fd, token::accept(listener))
        };
        self.push(ring, &entry)
    }

    /// The backoff timer of listener `listener`.
    pub fn accept_backoff(&mut self, ring: &mut Ring, listener: usize) -> anyhow::Result<()> {
        let ts: *const Timespec = &*self.backoff_ts;
        self.push(ring, &sqe::timeout(ts, token::accept_backoff(listener)))
    }

    /// Hand `fd` to the worker whose ring is `peer_ring` (MSG_RING: it arrives there as a
    /// [`token::HANDOFF`] completion whose result is the descriptor).
    pub fn hand_off(&mut self, ring: &mut Ring, peer_ring: RawFd, fd: RawFd) -> anyhow::Result<()> {
        self.push(ring, &sqe::msg_ring(peer_ring, fd, token::HANDOFF, token::handoff_sent(fd)))
    }

    /// Close a descriptor that never became a connection.
    pub fn close_unowned(&mut self, ring: &mut Ring, fd: RawFd) -> anyhow::Result<()> {
        self.push(ring, &sqe::close(crate::ring::Target::Fd(fd), token::CLOSE_UNOWNED))
    }

    /// Cancel the reserved op whose token is `target`.
    pub fn cancel(&mut self, ring: &mut Ring, target: u64) -> anyhow::Result<()> {
        self.push(ring, &sqe::cancel(target, token::CANCEL_RESERVED))
    }

    /// The worker stops with ops in flight: the kernel may still write into the eventfd
    /// buffer until it has torn the ring down. Leak it rather than free memory the kernel can
    /// write to.
    pub fn leak(&mut self) {
        std::mem::forget(std::mem::replace(&mut self.wake_buf, Box::new(0)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::uring::token::Token;
    use crate::ring::Cqe;
    use std::os::fd::FromRawFd;

    fn eventfd() -> Arc<OwnedFd> {
        // SAFETY: plain eventfd(2); the result is checked before use.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        assert!(fd >= 0);
        // SAFETY: `fd` is a fresh descriptor we own.
        Arc::new(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    fn reap_all(ring: &mut Ring, want: usize) -> Vec<Cqe> {
        let mut out = Vec::new();
        while out.len() < want {
            ring.enter(1, 0).expect("enter");
            ring.reap(&mut out, 64);
        }
        out
    }

    #[test]
    fn a_worker_without_a_timer_arms_none() {
        let mut ring = Ring::new(8, 32).expect("io_uring available on the test machine");
        let mut r = Reserved::new(eventfd(), None);
        r.arm_tick(&mut ring).unwrap();
        assert_eq!(r.inflight(), 0);
        r.cancel_own(&mut ring).unwrap();
        assert_eq!(r.inflight(), 0, "nothing armed, nothing cancelled");
    }

    #[test]
    fn the_wake_read_completes_with_eight_bytes() {
        let mut ring = Ring::new(8, 32).expect("io_uring available on the test machine");
        let wake = eventfd();
        let mut r = Reserved::new(wake.clone(), None);
        r.arm_wake(&mut ring).unwrap();
        assert_eq!(r.inflight(), 1);
        let one: u64 = 1;
        // SAFETY: an open eventfd and a valid 8-byte buffer.
        assert_eq!(unsafe { libc::write(wake.as_raw_fd(), (&one as *const u64).cast(), 8) }, 8);
        let cqes = reap_all(&mut ring, 1);
        assert_eq!(Token::decode(cqes[0].user_data), Some(Token::Wake));
        assert_eq!(cqes[0].result, 8);
        r.wake_done();
        assert_eq!(r.inflight(), 0);
        r.cancel_own(&mut ring).unwrap();
        assert_eq!(r.inflight(), 0, "the wake read is no longer armed");
    }

    #[test]
    fn shutdown_cancels_exactly_the_armed_ops() {
        let mut ring = Ring::new(8, 32).expect("io_uring available on the test machine");
        let mut r = Reserved::new(eventfd(), Some(Duration::from_secs(60)));
        r.arm_wake(&mut ring).unwrap();
        r.arm_tick(&mut ring).unwrap();
        assert_eq!(r.inflight(), 2);
        r.cancel_own(&mut ring).unwrap();
        assert_eq!(r.inflight(), 4, "two cancels");
        let mut kinds = Vec::new();
        for cqe in reap_all(&mut ring, 4) {
            let t = Token::decode(cqe.user_data).expect("our token");
            match t {
                Token::Wake => r.wake_done(),
                Token::Tick => r.tick_done(),
                _ => r.done(),
            }
            kinds.push(t);
        }
        kinds.sort_by_key(|t| t.encode());
        assert_eq!(kinds, [Token::Wake, Token::Tick, Token::CancelReserved, Token::CancelReserved]);
        assert_eq!(r.inflight(), 0);
    }

    #[test]
    #[should_panic(expected = "nothing in flight")]
    fn a_completion_with_nothing_in_flight_is_a_bug() {
        Reserved::new(eventfd(), None).done();
    }
}
