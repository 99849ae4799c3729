//! Accepting connections: one state machine per listener, admission, and the MSG_RING
//! hand-off that spreads accepted descriptors over the workers.
//!
//! ```text
//!            rearm (after each batch, Running only)
//!   Idle ───────────────────────────────► Armed ──(final CQE)──► accept_ended():
//!    ▲                                      │                      result >= 0, ECONNABORTED & co. ─► Idle
//!    │                                      │                      EMFILE/ENFILE/ENOBUFS/ENOMEM   ─► Backoff
//!    │                                      │                      EINVAL/EBADF/ENOTSOCK/...      ─► Stopped (logged)
//!    │                                      │                      Cancelling or shutting down    ─► Stopped
//!    │                                      └─(drain: cancel)─► Cancelling ──(final CQE)──► Stopped
//!    └──(backoff timer, Running)── Backoff ──(backoff timer, draining)──► Stopped
//!   Idle ──(drain)──► Stopped
//! ```
//!
//! With hand-off (see "Accept spread" in the engine docs) worker 0 alone accepts and sends
//! every admitted descriptor round-robin to a worker's ring (itself included) with
//! `IORING_OP_MSG_RING`; the descriptor arrives there as a [`super::token::HANDOFF`]
//! completion. A hand-off that fails is served by the sender. An acceptor that will hand off
//! nothing more (accepts stopped, no hand-off in flight) tells the others through
//! [`Coord::acceptors_running`], so none finishes its shutdown while a descriptor may still
//! land on its ring.

use std::os::fd::RawFd;
use std::sync::atomic::Ordering::{Acquire, Release};

use super::reserved::Reserved;
use super::{errno_str, token, Coord, Plan};
use crate::engine::limits::ACCEPT_ERROR_BACKOFF;
use crate::engine::{admit, refuse};
use crate::net::Listener;
use crate::ring::Ring;
use crate::shared::Shared;

/// Accept on worker 0 only and hand descriptors to the others over MSG_RING (when the
/// kernel has it). Measured: letting every worker arm its own multishot accept on the same
/// listener gave one worker nearly all connections (see "Accept spread" in
/// [`crate::engine::uring`]). The environment variable `RINGKV_URING_ACCEPT=each` switches to
/// per-worker accepts, to repeat that measurement.
pub fn handoff_enabled() -> bool {
    std::env::var("RINGKV_URING_ACCEPT").map(|v| v != "each").unwrap_or(true)
}

/// One listener's accept, as this worker sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcceptState {
    /// Not armed; re-armed after the current batch.
    Idle,
    Armed,
    /// Cancelled at shutdown; waiting for the final completion.
    Cancelling,
    /// Waiting for the backoff timer after EMFILE & co.
    Backoff,
    /// No more accepts on this listener.
    Stopped,
}

/// What the final completion of an accept leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcceptEnd {
    /// Re-arm after this batch: a single-shot accept, a multishot the kernel ended, or an
    /// error accept(2) says to retry.
    Rearm,
    /// Out of descriptors or memory: retrying at once would spin, so wait
    /// [`ACCEPT_ERROR_BACKOFF`].
    Backoff,
    /// Cancelled by us, or shutting down: no more accepts.
    Stop,
    /// The listener itself is unusable (a bug or an outside close): no more accepts here.
    Broken,
}

/// The named decision for an accept's final completion with `result`, from `state`.
pub fn accept_ended(state: AcceptState, running: bool, result: i32) -> AcceptEnd {
    if state == AcceptState::Cancelling || !running {
        return AcceptEnd::Stop;
    }
    if result >= 0 {
        return AcceptEnd::Rearm;
    }
    match -result {
        libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM => AcceptEnd::Backoff,
        libc::EINVAL | libc::EBADF | libc::ENOTSOCK | libc::EFAULT | libc::EOPNOTSUPP => AcceptEnd::Broken,
        // ECANCELED outside shutdown, ECONNABORTED, EPROTO, EPERM, EINTR, EAGAIN and the
        // network errors accept(2) says to treat like EAGAIN.
        _ => AcceptEnd::Rearm,
    }
}

/// At the start of a drain: the listener's next state, and the token of the reserved op to
/// cancel (the armed accept, or the backoff timer, which then completes into Stopped).
pub fn drain_step(state: AcceptState, listener: usize) -> (AcceptState, Option<u64>) {
    match state {
        AcceptState::Armed => (AcceptState::Cancelling, Some(token::accept(listener))),
        AcceptState::Backoff => (AcceptState::Backoff, Some(token::accept_backoff(listener))),
        AcceptState::Idle => (AcceptState::Stopped, None),
        AcceptState::Cancelling | AcceptState::Stopped => (state, None),
    }
}

/// A worker's accepts and hand-offs.
pub struct Acceptor<'a> {
    listeners: &'a [Listener],
    coord: &'a Coord,
    /// One per listener.
    states: Vec<AcceptState>,
    /// Full mode: multishot accepts.
    multishot: bool,
    /// This worker accepts (and counts in `coord.acceptors_running` until released).
    accepting: bool,
    /// This worker's index in `peers`.
    id: usize,
    /// Ring fds of all workers (index = worker id) to hand descriptors to; empty when this
    /// worker keeps what it accepts.
    peers: Vec<RawFd>,
    next_peer: usize,
    /// MSG_RINGs sent whose completion has not arrived.
    handoffs_inflight: u32,
    /// `coord.acceptors_running` was decremented for this worker.
    released: bool,
}

impl<'a> Acceptor<'a> {
    pub fn new(id: usize, plan: Plan, listeners: &'a [Listener], coord: &'a Coord, multishot: bool) -> Self {
        let first = if plan.acceptor { AcceptState::Idle } else { AcceptState::Stopped };
        Acceptor {
            listeners,
            coord,
            states: vec![first; listeners.len()],
            multishot,
            accepting: plan.acceptor,
            id,
            peers: plan.peers,
            next_peer: 0,
            handoffs_inflight: 0,
            released: false,
        }
    }

    /// Arm every idle listener's accept (after each batch, while running).
    pub fn rearm(&mut self, running: bool, reserved: &mut Reserved, ring: &mut Ring) -> anyhow::Result<()> {
        if !running {
            return Ok(());
        }
        for i in 0..self.states.len() {
            if self.states[i] == AcceptState::Idle {
                reserved.accept(ring, self.listeners[i].fd(), i, self.multishot)?;
                self.states[i] = AcceptState::Armed;
            }
        }
        Ok(())
    }

    /// The final completion of listener `i`'s accept, with `result`.
    pub fn ended(
        &mut self,
        i: usize,
        result: i32,
        running: bool,
        reserved: &mut Reserved,
        ring: &mut Ring,
    ) -> anyhow::Result<()> {
        let Some(&state) = self.states.get(i) else { return Ok(()) };
        let next = match accept_ended(state, running, result) {
            AcceptEnd::Rearm => AcceptState::Idle,
            AcceptEnd::Backoff => {
                tracing::warn!(error = %errno_str(result), "accept failed; retrying in {ACCEPT_ERROR_BACKOFF:?}");
                reserved.accept_backoff(ring, i)?;
                AcceptState::Backoff
            }
            AcceptEnd::Stop => AcceptState::Stopped,
            AcceptEnd::Broken => {
                tracing::error!(error = %errno_str(result), listener = %self.listeners[i].describe(), "accept failed for good; no longer accepting here");
                AcceptState::Stopped
            }
        };
        self.states[i] = next;
        Ok(())
    }

    /// Listener `i`'s backoff timer completed: accept again, unless shutting down.
    pub fn backoff_over(&mut self, i: usize, running: bool) {
        if let Some(state) = self.states.get_mut(i) {
            *state = if running { AcceptState::Idle } else { AcceptState::Stopped };
        }
    }

    /// A new descriptor from listener `i`: admit it (or close it), then keep it or hand it to
    /// a peer. Returns the descriptor when this worker is to adopt it.
    pub fn accepted(
        &mut self,
        fd: RawFd,
        i: usize,
        running: bool,
        shared: &Shared,
        reserved: &mut Reserved,
        ring: &mut Ring,
    ) -> anyhow::Result<Option<RawFd>> {
        if !running {
            reserved.close_unowned(ring, fd)?;
            return Ok(None);
        }
        let peer = if self.listeners[i].is_tcp() {
            ring.tally.syscalls += 2;
            set_nodelay(fd);
            match peer_addr(fd) {
                Some(a) => Some(a),
                None => {
                    reserved.close_unowned(ring, fd)?; // peer already gone
                    return Ok(None);
                }
            }
        } else {
            None
        };
        if let Err(msg) = admit(shared, peer) {
            ring.tally.syscalls += 1;
            refuse(fd, msg);
            reserved.close_unowned(ring, fd)?;
            return Ok(None);
        }
        let Some(peer_ring) = self.place() else { return Ok(Some(fd)) };
        reserved.hand_off(ring, peer_ring, fd)?;
        self.handoffs_inflight += 1;
        Ok(None)
    }

    /// Where the next admitted descriptor goes: `None` here, or a peer's ring fd.
    fn place(&mut self) -> Option<RawFd> {
        if self.peers.is_empty() {
            return None;
        }
        let target = self.next_peer % self.peers.len();
        self.next_peer = self.next_peer.wrapping_add(1);
        (target != self.id).then(|| self.peers[target])
    }

    /// Our MSG_RING handing `fd` over completed with `result`. Returns the descriptor when
    /// the hand-off failed and this worker is to serve it.
    pub fn handoff_sent(&mut self, fd: RawFd, result: i32) -> Option<RawFd> {
        assert!(self.handoffs_inflight > 0, "hand-off completion with none in flight");
        self.handoffs_inflight -= 1;
        if result >= 0 {
            return None;
        }
        tracing::warn!(error = %errno_str(result), "handing a connection to another worker failed; serving it here");
        Some(fd)
    }

    /// Shutdown: stop accepting (cancel armed accepts and backoff timers).
    pub fn stop(&mut self, reserved: &mut Reserved, ring: &mut Ring) -> anyhow::Result<()> {
        for i in 0..self.states.len() {
            let (next, cancel) = drain_step(self.states[i], i);
            if let Some(target) = cancel {
                reserved.cancel(ring, target)?;
            }
            self.states[i] = next;
        }
        Ok(())
    }

    /// Every accept stopped and no hand-off in flight: nothing more will come from here.
    pub fn done(&self) -> bool {
        self.states.iter().all(|a| *a == AcceptState::Stopped) && self.handoffs_inflight == 0
    }

    /// No worker may still hand a descriptor to another (every acceptor released).
    #[inline]
    pub fn all_acceptors_done(&self) -> bool {
        self.coord.acceptors_running.load(Acquire) == 0
    }

    /// An acceptor that will hand off nothing more tells the others.
    pub fn release_if_done(&mut self) {
        if self.accepting && !self.released && self.done() {
            self.release();
        }
    }

    /// Tell the others unconditionally (a worker stopping on an error must not leave them
    /// waiting for it). Once only.
    pub fn release(&mut self) {
        if self.accepting && !self.released {
            self.released = true;
            self.coord.acceptors_running.fetch_sub(1, Release);
        }
    }
}

fn set_nodelay(fd: RawFd) {
    let one: libc::c_int = 1;
    // SAFETY: setsockopt on a socket we own with a valid c_int option value.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
}

/// The TCP peer's address (None if the peer is already gone).
fn peer_addr(fd: RawFd) -> Option<std::net::SocketAddr> {
    // SAFETY: sockaddr_storage is plain old data.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `ss`/`len` describe a writable buffer large enough for any address.
    if unsafe { libc::getpeername(fd, (&mut ss as *mut libc::sockaddr_storage).cast(), &mut len) } != 0 {
        return None;
    }
    match ss.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a = unsafe { &*(&ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(std::net::SocketAddr::from((ip, u16::from_be(a.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a = unsafe { &*(&ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(std::net::SocketAddr::from((ip, u16::from_be(a.sin6_port))))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    use AcceptState::*;

    #[test]
    fn every_accept_errno_has_a_decision() {
        for errno in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
            assert_eq!(accept_ended(Armed, true, -errno), AcceptEnd::Backoff, "errno {errno}");
        }
        for errno in [libc::EINVAL, libc::EBADF, libc::ENOTSOCK, libc::EFAULT, libc::EOPNOTSUPP] {
            assert_eq!(accept_ended(Armed, true, -errno), AcceptEnd::Broken, "errno {errno}");
        }
        for errno in [
            libc::ECANCELED,
            libc::ECONNABORTED,
            libc::EPROTO,
            libc::EPERM,
            libc::EINTR,
            libc::EAGAIN,
            libc::ENETDOWN,
            libc::EHOSTUNREACH,
        ] {
            assert_eq!(accept_ended(Armed, true, -errno), AcceptEnd::Rearm, "errno {errno}");
        }
        assert_eq!(accept_ended(Armed, true, 7), AcceptEnd::Rearm, "single-shot accept or an ended multishot");
    }

    #[test]
    fn shutdown_or_our_cancel_stops_whatever_the_result() {
        for result in [7, 0, -libc::ECANCELED, -libc::EMFILE, -libc::EBADF] {
            assert_eq!(accept_ended(Cancelling, true, result), AcceptEnd::Stop);
            assert_eq!(accept_ended(Armed, false, result), AcceptEnd::Stop);
            assert_eq!(accept_ended(Cancelling, false, result), AcceptEnd::Stop);
        }
    }

    #[test]
    fn draining_cancels_what_is_armed_and_stops_the_rest() {
        assert_eq!(drain_step(Armed, 1), (Cancelling, Some(token::accept(1))));
        assert_eq!(drain_step(Backoff, 0), (Backoff, Some(token::accept_backoff(0))), "stops when the timer ends");
        assert_eq!(drain_step(Idle, 0), (Stopped, None));
        assert_eq!(drain_step(Cancelling, 0), (Cancelling, None));
        assert_eq!(drain_step(Stopped, 0), (Stopped, None));
    }

    fn acceptor<'a>(coord: &'a Coord, id: usize, plan: Plan) -> Acceptor<'a> {
        Acceptor::new(id, plan, &[], coord, true)
    }

    #[test]
    fn backoff_ends_in_idle_while_running_and_stopped_after() {
        let coord = Coord { acceptors_running: AtomicUsize::new(1) };
        let mut a = acceptor(&coord, 0, Plan { acceptor: true, peers: Vec::new() });
        a.states = vec![Backoff, Backoff];
        a.backoff_over(0, true);
        a.backoff_over(1, false);
        a.backoff_over(5, true); // no such listener: ignored
        assert_eq!(a.states, [Idle, Stopped]);
    }

    #[test]
    fn descriptors_go_round_robin_over_every_worker_including_the_acceptor() {
        let coord = Coord { acceptors_running: AtomicUsize::new(1) };
        let mut a = acceptor(&coord, 0, Plan { acceptor: true, peers: vec![10, 11, 12] });
        let places: Vec<_> = (0..7).map(|_| a.place()).collect();
        assert_eq!(places, [None, Some(11), Some(12), None, Some(11), Some(12), None]);
        let mut alone = acceptor(&coord, 0, Plan { acceptor: true, peers: Vec::new() });
        assert_eq!((alone.place(), alone.place()), (None, None), "no hand-off: every descriptor stays");
    }

    #[test]
    fn a_failed_handoff_is_served_by_the_sender() {
        let coord = Coord { acceptors_running: AtomicUsize::new(1) };
        let mut a = acceptor(&coord, 0, Plan { acceptor: true, peers: vec![10, 11] });
        a.handoffs_inflight = 2;
        assert_eq!(a.handoff_sent(42, 0), None);
        assert_eq!(a.handoff_sent(43, -libc::EBADFD), Some(43));
        assert_eq!(a.handoffs_inflight, 0);
    }

    #[test]
    fn the_acceptor_is_released_once_when_nothing_more_can_come() {
        let coord = Coord { acceptors_running: AtomicUsize::new(2) };
        let mut a = acceptor(&coord, 0, Plan { acceptor: true, peers: vec![10, 11] });
        a.states = vec![Stopped, Cancelling];
        a.release_if_done();
        assert_eq!(coord.acceptors_running.load(Acquire), 2, "an accept is still being cancelled");
        a.states[1] = Stopped;
        a.handoffs_inflight = 1;
        a.release_if_done();
        assert_eq!(coord.acceptors_running.load(Acquire), 2, "a hand-off is in flight");
        a.handoffs_inflight = 0;
        a.release_if_done();
        a.release_if_done();
        a.release();
        assert_eq!(coord.acceptors_running.load(Acquire), 1, "released exactly once");
        let mut other = acceptor(&coord, 1, Plan { acceptor: false, peers: Vec::new() });
        assert!(other.done(), "a worker that does not accept starts stopped");
        other.release();
        assert_eq!(coord.acceptors_running.load(Acquire), 1, "and never counted");
    }
}
