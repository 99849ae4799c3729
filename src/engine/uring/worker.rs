//! One io_uring worker thread: its ring, buffer ring, connection slab, and the loop.
//!
//! ```text
//! loop {
//!     enter(want)          one io_uring_enter: submit everything queued + wait for CQEs
//!                          (a batch of `want` for up to BATCH_WAIT_MIN, then >= 1)
//!     reap()               copy up to CQE_BATCH_MAX completions out of the CQ
//!     handle(each)         feed recv data to sessions (buffers go back at once), account
//!                          sends, accept/adopt connections, timers, shutdown wake
//!     service(touched)     per touched connection: one send of all its output, resume input
//!                          held by backpressure, re-arm/cancel recv, start close
//!     step_state()         shutdown progress
//! }
//! ```
//!
//! Nothing here enters the kernel except [`Ring::enter`] (and [`Ring::reserve`] when the SQ is
//! full). Per-connection work is queued, never executed inline from a completion.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use io_uring::cqueue;
use io_uring::types::Timespec;

use super::conn::{Conn, Phase, RecvState, Slab};
use super::token::{self, Op, Token};
use super::{Coord, Plan, Ready, ServeError, CQE_BATCH_MAX};
use crate::clients::{ConnInfo, Owner};
use crate::config::UringMode;
use crate::engine::conn_rules::{next_step, Facts, Step};
use crate::engine::limits::{ACCEPT_ERROR_BACKOFF, DRAIN_POLL_INTERVAL, IDLE_CHECK_INTERVAL, SHUTDOWN_FLUSH_TIMEOUT};
use crate::engine::{admit, client_closed, refuse};
use crate::net::Listener;
use crate::ring::bufring::BufRing;
use crate::ring::{sqe, unsupported_reason, Cqe, Ring, CQ_ENTRIES, OPS_BASIC, OP_MSG_RING, SQ_ENTRIES};
use crate::session::Session;
use crate::shared::Shared;

/// Accept on worker 0 only and hand descriptors to the others over MSG_RING (when the
/// kernel has it). Measured: letting every worker arm its own multishot accept on the same
/// listener gave one worker nearly all connections (see `ring.rs`). The environment variable
/// `RINGKV_URING_ACCEPT=each` switches to per-worker accepts, to repeat that measurement.
pub fn accept_handoff() -> bool {
    std::env::var("RINGKV_URING_ACCEPT").map(|v| v != "each").unwrap_or(true)
}

/// Per-connection buffers kept for reuse by later connections (each pool).
pub const SPARE_BUFS_MAX: usize = 256;
/// Buffer group id of the worker's buffer ring (one group per ring).
const BGID: u16 = 0;

/// Engine settings every worker shares.
/// Above this many requests per recv completion (on average over a batch) clients are
/// pipelining, and the worker does not wait for a batch to gather: each completion already
/// carries many requests, and waiting only idles the worker while clients wait for replies.
const PIPELINED_REQUESTS_PER_RECV: u64 = 2;

#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub mode: UringMode,
    pub buffers: u16,
    pub buffer_size: u32,
    /// `--uring-batch-wait-us`.
    pub batch_wait_us: u32,
    /// `--uring-force-enter-failure` (test-only).
    pub force_enter_failure: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AcceptState {
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Running,
    /// Shutdown: not accepting, not reading; flushing replies, closing connections.
    Draining {
        deadline: Instant,
        forced: bool,
    },
    /// Every connection is gone; cancelling the worker's own ops and waiting for them.
    Finishing,
}

/// What a worker set up before it knows whether the engine starts.
pub struct Setup {
    ring: Ring,
    bufs: Option<BufRing>,
    wake: Arc<OwnedFd>,
    msg_ring: bool,
}

fn setup(opts: Options) -> Result<Setup, ServeError> {
    let mut ring = Ring::new(SQ_ENTRIES, CQ_ENTRIES)
        .map_err(|e| ServeError::Unsupported(unsupported_reason("io_uring_setup", &e)))?;
    ring.set_batch_wait(opts.batch_wait_us);
    super::check_enter(&mut ring, opts.force_enter_failure)?;
    let missing =
        ring.probe(OPS_BASIC).map_err(|e| ServeError::Unsupported(unsupported_reason("IORING_REGISTER_PROBE", &e)))?;
    if !missing.is_empty() {
        return Err(ServeError::Unsupported(format!(
            "the kernel lacks io_uring ops {} (hint: Linux 5.6+ needed; use --engine epoll)",
            missing.join(", ")
        )));
    }
    let msg_ring = ring.probe(&[OP_MSG_RING]).map(|m| m.is_empty()).unwrap_or(false);
    let bufs = match opts.mode {
        UringMode::Basic => None,
        UringMode::Full => {
            let b = BufRing::new(opts.buffers, opts.buffer_size, BGID)
                .map_err(|e| ServeError::Failed(anyhow::anyhow!("mapping the receive buffer ring: {e}")))?;
            b.register(&ring.submitter()).map_err(|e| {
                let why = unsupported_reason("IORING_REGISTER_PBUF_RING", &e);
                ServeError::Unsupported(format!("{why} (or use --uring-mode basic)"))
            })?;
            Some(b)
        }
    };
    // Blocking on purpose: io_uring completes reads of an O_NONBLOCK file with EAGAIN instead
    // of waiting. Writers add 1 to a counter that cannot overflow in practice, so never block.
    // SAFETY: plain eventfd(2); the result is checked before use.
    let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if efd < 0 {
        return Err(ServeError::Failed(anyhow::anyhow!("eventfd: {}", std::io::Error::last_os_error())));
    }
    // SAFETY: `efd` is a fresh descriptor we own.
    let wake = Arc::new(unsafe { OwnedFd::from_raw_fd(efd) });
    Ok(Setup { ring, bufs, wake, msg_ring })
}

/// A worker's thread: set up, report, wait for the go (or abort), serve.
pub fn thread_main(
    id: usize,
    shared: &Arc<Shared>,
    listeners: &[Listener],
    opts: Options,
    coord: &Coord,
    ready: Sender<Ready>,
    go: Receiver<Option<Plan>>,
) -> anyhow::Result<()> {
    let setup = match setup(opts) {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send((id, Err(e)));
            return Ok(());
        }
    };
    let _ = ready.send((id, Ok((setup.ring.fd(), setup.msg_ring))));
    drop(ready);
    let Ok(Some(plan)) = go.recv() else {
        return Ok(()); // another worker's setup failed: the engine does not start
    };
    let wake = setup.wake.clone();
    shared.on_shutdown(Box::new(move || {
        let one: u64 = 1;
        // SAFETY: the closure owns an Arc of the eventfd, so the descriptor is open; `one` is
        // a valid 8-byte buffer.
        unsafe { libc::write(wake.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }));
    let mut worker = Worker::new(id, shared, listeners, opts, coord, setup, plan);
    worker.run()
}

pub struct Worker<'a> {
    ring: Ring,
    /// Full mode's buffer ring. Declared after `ring` so it is dropped after it.
    bufs: Option<BufRing>,
    id: usize,
    shared: &'a Shared,
    listeners: &'a [Listener],
    opts: Options,
    plan: Plan,
    coord: &'a Coord,
    accepts: Vec<AcceptState>,
    next_peer: usize,
    slab: Slab,
    touched: Vec<u32>,
    batch: Vec<Cqe>,
    wake: Arc<OwnedFd>,
    /// Target of the eventfd read while it is in flight.
    wake_buf: Box<u64>,
    /// Timespecs handed to Timeout SQEs (the kernel copies them at submission).
    tick_ts: Box<Timespec>,
    drain_ts: Box<Timespec>,
    backoff_ts: Box<Timespec>,
    tick_interval: Option<Duration>,
    wake_armed: bool,
    tick_armed: bool,
    drain_armed: bool,
    /// Reserved (non-connection) SQEs whose final completion has not arrived.
    reserved_inflight: u32,
    handoffs_inflight: u32,
    acceptor_released: bool,
    state: State,
    spare_rbufs: Vec<Vec<u8>>,
    spare_sends: Vec<Vec<u8>>,
    now: Instant,
    last_sweep: Instant,
    connections_total: u64,
    /// Completions for slots already freed/reused (dropped after returning their buffer).
    stale: u64,
    /// Multishot recvs ended by an empty buffer ring (re-armed after their batch).
    enobufs: u64,
    /// Sends queued since the last enter, and recv completions with data in the last batch:
    /// together the batch size the next enter waits for.
    sends_queued: u32,
    recvs_with_data: u32,
    /// Requests those recvs carried: many per recv means pipelining clients, for which the
    /// batching wait only idles the worker (see docs/syscalls.md).
    requests_in_batch: u64,
}

impl<'a> Worker<'a> {
    fn new(
        id: usize,
        shared: &'a Shared,
        listeners: &'a [Listener],
        opts: Options,
        coord: &'a Coord,
        setup: Setup,
        plan: Plan,
    ) -> Self {
        let now = Instant::now();
        // Worker 0 runs active expiry; the others wake for the idle sweep, which CONFIG SET
        // may turn on at any time.
        let tick_interval =
            if id == 0 { Some(crate::expire::EXPIRE_CYCLE_INTERVAL) } else { Some(IDLE_CHECK_INTERVAL) };
        Worker {
            ring: setup.ring,
            bufs: setup.bufs,
            id,
            shared,
            listeners,
            opts,
            accepts: vec![if plan.acceptor { AcceptState::Idle } else { AcceptState::Stopped }; listeners.len()],
            plan,
            coord,
            next_peer: 0,
            slab: Slab::default(),
            touched: Vec::new(),
            batch: Vec::with_capacity(CQE_BATCH_MAX),
            wake: setup.wake,
            wake_buf: Box::new(0),
            tick_ts: Box::new(Timespec::from(tick_interval.unwrap_or(IDLE_CHECK_INTERVAL))),
            drain_ts: Box::new(Timespec::from(DRAIN_POLL_INTERVAL)),
            backoff_ts: Box::new(Timespec::from(ACCEPT_ERROR_BACKOFF)),
            tick_interval,
            wake_armed: false,
            tick_armed: false,
            drain_armed: false,
            reserved_inflight: 0,
            handoffs_inflight: 0,
            acceptor_released: false,
            state: State::Running,
            spare_rbufs: Vec::new(),
            spare_sends: Vec::new(),
            now,
            last_sweep: now,
            connections_total: 0,
            stale: 0,
            enobufs: 0,
            sends_queued: 0,
            recvs_with_data: 0,
            requests_in_batch: 0,
        }
    }

    fn run(&mut self) -> anyhow::Result<()> {
        self.arm_wake()?;
        self.arm_tick()?;
        self.rearm_accepts()?;
        loop {
            if self.state == State::Finishing && self.reserved_inflight == 0 && self.slab.live() == 0 {
                break;
            }
            let acceptors_done = self.coord.acceptors_running.load(Acquire) == 0;
            self.publish_counters();
            // Busy (the last batch brought several requests, one or two per completion): wait
            // for a batch as large, plus the sends just queued (they complete at once), for at
            // most --uring-batch-wait-us. Pipelining clients are not waited for.
            // Otherwise wait for one completion, adding no latency to a lone client.
            let unpipelined = self.requests_in_batch <= PIPELINED_REQUESTS_PER_RECV * u64::from(self.recvs_with_data);
            let want = if self.recvs_with_data >= 2 && unpipelined {
                self.sends_queued.saturating_add(self.recvs_with_data).min(CQE_BATCH_MAX as u32)
            } else {
                1
            };
            let waited = self.ring.enter(want)?;
            self.sends_queued = 0;
            self.recvs_with_data = 0;
            self.requests_in_batch = 0;
            self.now = Instant::now();
            self.batch.clear();
            self.ring.reap(&mut self.batch, CQE_BATCH_MAX);
            let batch = std::mem::take(&mut self.batch);
            for cqe in &batch {
                self.handle(cqe)?;
            }
            self.batch = batch;
            self.service_touched()?;
            self.rearm_accepts()?;
            self.step_state(acceptors_done && waited)?;
        }
        self.publish_counters();
        if let Some(b) = &self.bufs {
            if let Err(e) = self.ring.submitter().unregister_buf_ring(b.bgid) {
                tracing::debug!(error = %e, "unregistering the buffer ring");
            }
        }
        tracing::debug!(worker = self.id, stale = self.stale, enobufs = self.enobufs, stats = ?self.ring.tally, "worker done");
        Ok(())
    }

    fn publish_counters(&self) {
        let w = self.shared.worker_io(self.id);
        let t = self.ring.tally;
        w.syscalls.store(t.syscalls, Relaxed);
        w.sqes_submitted.store(t.sqes_submitted, Relaxed);
        w.cqes_reaped.store(t.cqes_reaped, Relaxed);
        w.connections.store(self.slab.live(), Relaxed);
        w.connections_total.store(self.connections_total, Relaxed);
    }

    // ---- reserved ops -------------------------------------------------------------------

    fn push_reserved(&mut self, sqe: &io_uring::squeue::Entry) -> anyhow::Result<()> {
        // SAFETY: reserved SQEs point only at the worker's boxed eventfd buffer/timespecs (live
        // until the worker's ops have all completed) or at nothing.
        unsafe { self.ring.push(sqe)? };
        self.reserved_inflight += 1;
        Ok(())
    }

    fn reserved_done(&mut self) {
        assert!(self.reserved_inflight > 0, "reserved completion with nothing in flight");
        self.reserved_inflight -= 1;
    }

    fn arm_wake(&mut self) -> anyhow::Result<()> {
        let buf: *mut u64 = &mut *self.wake_buf;
        self.push_reserved(&sqe::read(self.wake.as_raw_fd(), buf.cast(), 8, token::WAKE))?;
        self.wake_armed = true;
        Ok(())
    }

    fn arm_tick(&mut self) -> anyhow::Result<()> {
        if self.tick_interval.is_some() {
            let ts: *const Timespec = &*self.tick_ts;
            self.push_reserved(&sqe::timeout(ts, token::TICK))?;
            self.tick_armed = true;
        }
        Ok(())
    }

    fn arm_drain_tick(&mut self) -> anyhow::Result<()> {
        let ts: *const Timespec = &*self.drain_ts;
        self.push_reserved(&sqe::timeout(ts, token::DRAIN_TICK))?;
        self.drain_armed = true;
        Ok(())
    }

    fn rearm_accepts(&mut self) -> anyhow::Result<()> {
        if self.state != State::Running {
            return Ok(());
        }
        for i in 0..self.accepts.len() {
            if self.accepts[i] == AcceptState::Idle {
                let fd = self.listeners[i].fd();
                let entry = match self.opts.mode {
                    UringMode::Full => sqe::accept_multi(fd, token::accept(i)),
                    UringMode::Basic => sqe::accept(fd, token::accept(i)),
                };
                self.push_reserved(&entry)?;
                self.accepts[i] = AcceptState::Armed;
            }
        }
        Ok(())
    }

    // ---- completions --------------------------------------------------------------------

    fn handle(&mut self, cqe: &Cqe) -> anyhow::Result<()> {
        let Some(tok) = Token::decode(cqe.user_data) else {
            tracing::error!(user_data = cqe.user_data, result = cqe.result, "completion with an unknown token");
            return Ok(());
        };
        match tok.op {
            Op::Recv | Op::Send | Op::Cancel | Op::Close => self.on_conn(tok, cqe),
            Op::Accept => self.on_accept(tok.gen as usize, cqe),
            Op::AcceptBackoff => {
                self.reserved_done();
                let i = tok.gen as usize;
                if let Some(state) = self.accepts.get_mut(i) {
                    *state = if self.state == State::Running { AcceptState::Idle } else { AcceptState::Stopped };
                }
                Ok(())
            }
            Op::Wake => {
                self.reserved_done();
                self.wake_armed = false;
                if cqe.result == 8 || self.shared.shutting_down() {
                    self.begin_drain()
                } else if self.state != State::Finishing {
                    self.arm_wake() // EINTR & co.: read again
                } else {
                    Ok(())
                }
            }
            Op::Tick => {
                self.reserved_done();
                self.tick_armed = false;
                self.on_tick()
            }
            Op::DrainTick => {
                self.reserved_done();
                self.drain_armed = false;
                if matches!(self.state, State::Draining { .. }) {
                    self.arm_drain_tick()?;
                }
                Ok(())
            }
            Op::Handoff => {
                if cqe.result >= 0 {
                    self.adopt(cqe.result);
                } else {
                    tracing::error!(result = cqe.result, "hand-off completion without a descriptor");
                }
                Ok(())
            }
            Op::HandoffSent => {
                self.reserved_done();
                self.handoffs_inflight -= 1;
                if cqe.result < 0 {
                    tracing::warn!(error = %errno_str(cqe.result), "handing a connection to another worker failed; serving it here");
                    self.adopt(tok.slot as RawFd);
                }
                Ok(())
            }
            Op::CloseUnowned | Op::CancelReserved => {
                self.reserved_done();
                Ok(())
            }
        }
    }

    fn on_conn(&mut self, tok: Token, cqe: &Cqe) -> anyhow::Result<()> {
        let bid = cqueue::buffer_select(cqe.flags);
        let ends = !(tok.op == Op::Recv && cqueue::more(cqe.flags));
        if tok.op == Op::Recv && cqe.result == -libc::ENOBUFS {
            self.enobufs += 1;
        }
        let Some(conn) = self.slab.get_mut(tok.slot, tok.gen) else {
            // A slot is never reused while its ops are in flight, so this is a bug; still,
            // the buffer must go back or the ring would shrink for good.
            if let (Some(b), Some(bufs)) = (bid, self.bufs.as_mut()) {
                bufs.recycle(b);
            }
            self.stale += 1;
            tracing::debug!(?tok, result = cqe.result, "completion for a freed slot dropped");
            return Ok(());
        };
        match tok.op {
            Op::Recv => {
                let before = conn.session.commands_run();
                on_recv(conn, self.bufs.as_mut(), self.shared, self.now, cqe.result, bid, ends);
                if cqe.result > 0 {
                    self.recvs_with_data += 1;
                    self.requests_in_batch += conn.session.commands_run() - before;
                }
            }
            Op::Send => on_send(conn, self.now, cqe.result),
            Op::Close if cqe.result < 0 => {
                tracing::warn!(error = %errno_str(cqe.result), "closing a client descriptor failed")
            }
            _ => {} // Cancel: 0, ENOENT (already done) and EALREADY are all fine.
        }
        if ends && conn.op_finished() && conn.phase == Phase::Closing {
            self.free(tok.slot);
        } else {
            self.touch(tok.slot);
        }
        Ok(())
    }

    fn on_accept(&mut self, i: usize, cqe: &Cqe) -> anyhow::Result<()> {
        let ends = !cqueue::more(cqe.flags);
        if ends {
            self.reserved_done();
        }
        if cqe.result >= 0 {
            self.on_accepted(cqe.result, i)?;
        }
        if !ends {
            return Ok(());
        }
        let Some(&state) = self.accepts.get(i) else { return Ok(()) };
        let next = if state == AcceptState::Cancelling || self.state != State::Running {
            AcceptState::Stopped
        } else if cqe.result >= 0 {
            AcceptState::Idle // single-shot accept, or the kernel ended the multishot
        } else {
            match -cqe.result {
                // Out of descriptors or memory: retrying at once would spin.
                libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM => {
                    tracing::warn!(error = %errno_str(cqe.result), "accept failed; retrying in {ACCEPT_ERROR_BACKOFF:?}");
                    let ts: *const Timespec = &*self.backoff_ts;
                    self.push_reserved(&sqe::timeout(ts, token::accept_backoff(i)))?;
                    AcceptState::Backoff
                }
                // The listener itself is unusable: a bug or an outside close.
                libc::EINVAL | libc::EBADF | libc::ENOTSOCK | libc::EFAULT | libc::EOPNOTSUPP => {
                    tracing::error!(error = %errno_str(cqe.result), listener = %self.listeners[i].describe(), "accept failed for good; no longer accepting here");
                    AcceptState::Stopped
                }
                // ECANCELED outside shutdown, ECONNABORTED, EPROTO, EPERM, EINTR, EAGAIN and the
                // network errors accept(2) says to treat like EAGAIN: re-arm.
                _ => AcceptState::Idle,
            }
        };
        self.accepts[i] = next;
        Ok(())
    }

    /// A new descriptor from our accept: admit it, then keep it or hand it to a peer.
    fn on_accepted(&mut self, fd: RawFd, i: usize) -> anyhow::Result<()> {
        if self.state != State::Running {
            return self.push_reserved(&sqe::close(fd, token::CLOSE_UNOWNED));
        }
        let peer = if self.listeners[i].is_tcp() {
            self.ring.tally.syscalls += 2;
            set_nodelay(fd);
            match peer_addr(fd) {
                Some(a) => Some(a),
                None => return self.push_reserved(&sqe::close(fd, token::CLOSE_UNOWNED)), // peer already gone
            }
        } else {
            None
        };
        if let Err(msg) = admit(self.shared, peer) {
            self.ring.tally.syscalls += 1;
            refuse(fd, msg);
            return self.push_reserved(&sqe::close(fd, token::CLOSE_UNOWNED));
        }
        if self.plan.peers.is_empty() {
            self.adopt(fd);
            return Ok(());
        }
        let target = self.next_peer % self.plan.peers.len();
        self.next_peer = self.next_peer.wrapping_add(1);
        if target == self.id {
            self.adopt(fd);
            return Ok(());
        }
        self.push_reserved(&sqe::msg_ring(self.plan.peers[target], fd, token::HANDOFF, token::handoff_sent(fd)))?;
        self.handoffs_inflight += 1;
        Ok(())
    }

    /// Take ownership of an admitted client descriptor.
    fn adopt(&mut self, fd: RawFd) {
        let rbuf = match self.opts.mode {
            UringMode::Basic => self.spare_rbufs.pop().unwrap_or_else(|| vec![0; self.opts.buffer_size as usize]),
            UringMode::Full => Vec::new(),
        };
        let send = self.spare_sends.pop().unwrap_or_default();
        let mut session = Session::for_conn(self.shared, ConnInfo { owner: Owner::Worker(self.id), fd });
        session.client.stripe = self.id; // this worker's stripe of the isolation lock
        let conn = Conn::new(fd, session, rbuf, send, self.now);
        let (slot, _) = self.slab.insert(conn);
        self.connections_total += 1;
        self.touch(slot);
    }

    /// Every completion of the slot has arrived after its close: release it.
    fn free(&mut self, slot: u32) {
        let Some(conn) = self.slab.remove(slot) else { return };
        debug_assert_eq!(conn.inflight, 0);
        client_closed(self.shared);
        if !conn.rbuf.is_empty() && self.spare_rbufs.len() < SPARE_BUFS_MAX {
            self.spare_rbufs.push(conn.rbuf);
        }
        let send = conn.send.into_vec();
        if send.capacity() > 0 && self.spare_sends.len() < SPARE_BUFS_MAX {
            self.spare_sends.push(send);
        }
    }

    fn touch(&mut self, slot: u32) {
        if let Some((conn, _)) = self.slab.get_any(slot) {
            if !conn.touched {
                conn.touched = true;
                self.touched.push(slot);
            }
        }
    }

    fn on_tick(&mut self) -> anyhow::Result<()> {
        if self.id == 0 {
            crate::expire::expire_tick(self.shared);
        }
        let timeout_s = self.shared.tunables.timeout_s();
        if timeout_s > 0 && self.now.duration_since(self.last_sweep) >= IDLE_CHECK_INTERVAL {
            self.last_sweep = self.now;
            self.sweep_idle(Duration::from_secs(timeout_s));
        }
        if self.state != State::Finishing {
            self.arm_tick()?;
        }
        Ok(())
    }

    /// Close clients idle for `--timeout` (Redis: no reply, just closed).
    fn sweep_idle(&mut self, timeout: Duration) {
        let slots: Vec<u32> = self.slab.occupied().collect();
        for slot in slots {
            let Some((conn, _)) = self.slab.get_any(slot) else { continue };
            if conn.phase == Phase::Open && !conn.kill && self.now.duration_since(conn.last_active) >= timeout {
                conn.kill = true;
                self.shared.stats.timedout_clients.fetch_add(1, Relaxed);
                self.touch(slot);
            }
        }
    }

    // ---- after the batch ----------------------------------------------------------------

    fn service_touched(&mut self) -> anyhow::Result<()> {
        let touched = std::mem::take(&mut self.touched);
        for &slot in &touched {
            self.service(slot)?;
        }
        self.touched = touched;
        self.touched.clear();
        Ok(())
    }

    /// Everything a connection needs after the batch, as the connection rules say: send,
    /// resume, keep a recv armed (or cancel it), close.
    fn service(&mut self, slot: u32) -> anyhow::Result<()> {
        let draining = self.state != State::Running;
        let shared = self.shared;
        let Some((conn, gen)) = self.slab.get_any(slot) else { return Ok(()) };
        if !conn.touched {
            return Ok(()); // serviced already (listed twice after a slot reuse)
        }
        conn.touched = false;
        if conn.phase == Phase::Closing {
            return Ok(());
        }
        loop {
            let short_send_rest = !conn.send.in_flight && conn.send.pending() > 0;
            let facts = Facts {
                can_send: !conn.send.in_flight,
                flushed: conn.flushed(),
                peer_eof: conn.eof,
                draining,
                killed: conn.kill,
                ..conn.session.facts(shared, short_send_rest)
            };
            match next_step(facts) {
                Step::Send => self.sends_queued += u32::from(pump_send(conn, slot, gen, &mut self.ring)?),
                Step::Resume => conn.session.resume(shared),
                Step::Close => return start_close(conn, slot, gen, &mut self.ring),
                Step::Read => return arm_recv(conn, slot, gen, self.bufs.as_ref(), &mut self.ring),
                Step::Wait => return stop_recv(conn, slot, gen, self.bufs.is_some(), &mut self.ring),
            }
        }
    }

    // ---- shutdown -----------------------------------------------------------------------

    fn begin_drain(&mut self) -> anyhow::Result<()> {
        if self.state != State::Running {
            return Ok(());
        }
        self.state = State::Draining { deadline: self.now + SHUTDOWN_FLUSH_TIMEOUT, forced: false };
        for i in 0..self.accepts.len() {
            match self.accepts[i] {
                AcceptState::Armed => {
                    self.push_reserved(&sqe::cancel(token::accept(i), token::CANCEL_RESERVED))?;
                    self.accepts[i] = AcceptState::Cancelling;
                }
                AcceptState::Backoff => {
                    self.push_reserved(&sqe::cancel(token::accept_backoff(i), token::CANCEL_RESERVED))?
                }
                AcceptState::Idle => self.accepts[i] = AcceptState::Stopped,
                AcceptState::Cancelling | AcceptState::Stopped => {}
            }
        }
        self.arm_drain_tick()?;
        let slots: Vec<u32> = self.slab.occupied().collect();
        for slot in slots {
            self.touch(slot);
        }
        Ok(())
    }

    /// Shutdown progress after each iteration. `peers_quiet`: no acceptor may still hand us a
    /// descriptor, checked before this iteration's enter, which waited (so any hand-off posted
    /// before that was reaped in this batch).
    fn step_state(&mut self, peers_quiet: bool) -> anyhow::Result<()> {
        match self.state {
            State::Running => {
                if self.shared.shutting_down() {
                    self.begin_drain()?;
                }
            }
            State::Draining { deadline, forced } => {
                if !forced && self.now >= deadline {
                    let left = self.slab.live();
                    tracing::warn!(
                        worker = self.id,
                        connections = left,
                        "replies not flushed within {SHUTDOWN_FLUSH_TIMEOUT:?}; closing anyway"
                    );
                    self.state = State::Draining { deadline, forced: true };
                    let slots: Vec<u32> = self.slab.occupied().collect();
                    for slot in slots {
                        if let Some((conn, _)) = self.slab.get_any(slot) {
                            conn.kill = true;
                        }
                        self.touch(slot);
                    }
                    self.service_touched()?;
                }
                self.release_acceptor_if_done();
                let accepts_done = self.accepts.iter().all(|a| *a == AcceptState::Stopped);
                if peers_quiet && accepts_done && self.handoffs_inflight == 0 && self.slab.live() == 0 {
                    self.state = State::Finishing;
                    for (armed, target) in [
                        (self.wake_armed, token::WAKE),
                        (self.tick_armed, token::TICK),
                        (self.drain_armed, token::DRAIN_TICK),
                    ] {
                        if armed {
                            self.push_reserved(&sqe::cancel(target, token::CANCEL_RESERVED))?;
                        }
                    }
                }
            }
            State::Finishing => {}
        }
        Ok(())
    }

    /// An acceptor that will hand off nothing more tells the others.
    fn release_acceptor_if_done(&mut self) {
        if self.plan.acceptor
            && !self.acceptor_released
            && self.accepts.iter().all(|a| *a == AcceptState::Stopped)
            && self.handoffs_inflight == 0
        {
            self.acceptor_released = true;
            self.coord.acceptors_running.fetch_sub(1, Release);
        }
    }
}

impl Drop for Worker<'_> {
    fn drop(&mut self) {
        // A worker that stops on an error must not leave the others waiting for it.
        if self.plan.acceptor && !self.acceptor_released {
            self.acceptor_released = true;
            self.coord.acceptors_running.fetch_sub(1, Release);
        }
        if self.slab.live() > 0 || self.reserved_inflight > 0 {
            // Abnormal exit with ops in flight: the kernel may still write into connection
            // buffers, the buffer ring or the eventfd buffer until it has torn the ring down.
            // Leak them rather than free memory the kernel can write to.
            std::mem::forget(std::mem::take(&mut self.slab));
            std::mem::forget(self.bufs.take());
            std::mem::forget(std::mem::replace(&mut self.wake_buf, Box::new(0)));
        }
    }
}

// ---- per-connection steps (free functions so a `&mut Conn` and the ring can be borrowed
// ---- side by side) --------------------------------------------------------------------

/// A recv completion: feed the bytes (straight from the kernel's buffer), give the buffer
/// back, note EOF or errors.
fn on_recv(
    conn: &mut Conn,
    bufs: Option<&mut BufRing>,
    shared: &Shared,
    now: Instant,
    result: i32,
    bid: Option<u16>,
    ends: bool,
) {
    if ends {
        conn.recv = RecvState::Idle;
    }
    let open = conn.phase == Phase::Open && !conn.kill;
    if result > 0 {
        let n = result as usize;
        match (bid, bufs) {
            (Some(b), Some(ring)) => {
                match ring.filled(b, n) {
                    Some(bytes) if open => conn.session.feed(shared, bytes),
                    Some(_) => {}
                    None => tracing::error!(bid = b, len = n, "recv completion names a buffer out of range"),
                }
                ring.recycle(b);
            }
            (None, None) if n <= conn.rbuf.len() => {
                if open {
                    conn.session.feed(shared, &conn.rbuf[..n]);
                }
            }
            (bid, ring) => {
                tracing::error!(?bid, len = n, "recv completion with an unexpected buffer");
                if let (Some(b), Some(ring)) = (bid, ring) {
                    ring.recycle(b);
                }
            }
        }
        conn.last_active = now;
        return;
    }
    if let (Some(b), Some(ring)) = (bid, bufs) {
        ring.recycle(b);
    }
    match -result {
        0 => conn.eof = true,
        // ENOBUFS: the buffer ring ran dry and ended the multishot; it is re-armed after this
        // batch, which has given every buffer it used back. ECANCELED: ours. EINTR/EAGAIN:
        // transient; re-armed.
        libc::ENOBUFS | libc::ECANCELED | libc::EINTR | libc::EAGAIN => {}
        // ECONNRESET, ETIMEDOUT, ENOTCONN, ...: the connection is gone.
        _ => conn.kill = true,
    }
}

/// A send completion: advance, or note the failure. The rest (a short send's remainder,
/// new output) is sent by `service`.
fn on_send(conn: &mut Conn, now: Instant, result: i32) {
    conn.send.in_flight = false;
    if result > 0 {
        conn.send.advance(result as usize);
        conn.last_active = now;
        return;
    }
    match -result {
        0 if conn.send.pending() == 0 => {}
        // EINTR/EAGAIN: resubmitted by service. ECANCELED: we are closing.
        libc::EINTR | libc::EAGAIN | libc::ECANCELED => {}
        // EPIPE, ECONNRESET, a 0-byte send of a non-empty buffer, ...: drop the output, close.
        _ => conn.kill = true,
    }
}

/// Start a Send of the connection's pending output if none is in flight. True if it did.
fn pump_send(conn: &mut Conn, slot: u32, gen: u32, ring: &mut Ring) -> anyhow::Result<bool> {
    if conn.send.in_flight {
        return Ok(false);
    }
    if conn.send.pending() == 0 {
        if conn.session.out.is_empty() {
            return Ok(false);
        }
        conn.send.take_from(&mut conn.session.out);
    }
    let (ptr, len) = conn.send.chunk();
    // SAFETY: the bytes live in `conn.send`, which is neither swapped, advanced nor dropped
    // while `in_flight` is set, and the slot is not freed before this send's completion.
    unsafe { ring.push(&sqe::send(conn.fd, ptr, len, Token::conn(slot, gen, Op::Send).encode()))? };
    conn.send.in_flight = true;
    conn.op_started();
    Ok(true)
}

/// Keep a recv armed on the connection: multishot into the buffer ring (full mode) or a
/// single-shot recv into the connection's own buffer (basic mode).
fn arm_recv(conn: &mut Conn, slot: u32, gen: u32, bufs: Option<&BufRing>, ring: &mut Ring) -> anyhow::Result<()> {
    if conn.recv != RecvState::Idle {
        return Ok(());
    }
    let recv_token = Token::conn(slot, gen, Op::Recv).encode();
    let entry = match bufs {
        Some(b) => sqe::recv_multi(conn.fd, b.bgid, recv_token),
        None => sqe::recv(conn.fd, conn.rbuf.as_mut_ptr(), conn.rbuf.len() as u32, recv_token),
    };
    // SAFETY: multishot recv writes only into the buffer ring (alive as long as the ring);
    // basic recv writes into `conn.rbuf`, which is not resized or dropped until the slot is
    // freed after this recv's completion.
    unsafe { ring.push(&entry)? };
    conn.recv = RecvState::Armed;
    conn.op_started();
    Ok(())
}

/// Reading must pause (backpressure, closing, draining): stop a multishot recv. Data that
/// still arrives before the cancel lands is buffered by the session (bounded by the socket
/// buffer). A basic-mode single-shot recv is left to complete; it is not re-armed.
fn stop_recv(conn: &mut Conn, slot: u32, gen: u32, multishot: bool, ring: &mut Ring) -> anyhow::Result<()> {
    if !(multishot && conn.recv == RecvState::Armed) {
        return Ok(());
    }
    let recv_token = Token::conn(slot, gen, Op::Recv).encode();
    // SAFETY: AsyncCancel refers to no memory.
    unsafe { ring.push(&sqe::cancel(recv_token, Token::conn(slot, gen, Op::Cancel).encode()))? };
    conn.recv = RecvState::Cancelling;
    conn.op_started();
    Ok(())
}

/// Cancel the connection's ops and close its descriptor through the ring. The slot is freed
/// when the last of their completions arrives.
fn start_close(conn: &mut Conn, slot: u32, gen: u32, ring: &mut Ring) -> anyhow::Result<()> {
    conn.phase = Phase::Closing;
    let cancel_token = Token::conn(slot, gen, Op::Cancel).encode();
    if conn.recv == RecvState::Armed {
        // SAFETY: AsyncCancel refers to no memory.
        unsafe { ring.push(&sqe::cancel(Token::conn(slot, gen, Op::Recv).encode(), cancel_token))? };
        conn.recv = RecvState::Cancelling;
        conn.op_started();
    }
    if conn.send.in_flight {
        // SAFETY: as above.
        unsafe { ring.push(&sqe::cancel(Token::conn(slot, gen, Op::Send).encode(), cancel_token))? };
        conn.op_started();
    }
    // SAFETY: Close refers to no memory; in-flight ops hold their own file references.
    unsafe { ring.push(&sqe::close(conn.fd, Token::conn(slot, gen, Op::Close).encode()))? };
    conn.op_started();
    Ok(())
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

fn errno_str(result: i32) -> std::io::Error {
    std::io::Error::from_raw_os_error(-result)
}
