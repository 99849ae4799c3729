//! One io_uring worker thread: its ring, buffer ring, connection slab, and the loop.
//!
//! ```text
//! loop {
//!     enter(plan)          one io_uring_enter: submit everything queued + wait for CQEs
//!                          (Batching::plan: a batch of `want` for up to `wait_us`, then >= 1)
//!     reap()               copy up to CQE_BATCH_MAX completions out of the CQ
//!     handle(each)         feed recv data to sessions (buffers go back at once), account
//!                          sends, accept/adopt connections, timers, shutdown wake
//!     service(touched)     per touched connection: one send of all its output, resume input
//!                          held by backpressure, re-arm/cancel recv, start close
//!     rearm accepts        listeners whose accept ended (Running only)
//!     step_state()         shutdown progress
//! }
//! ```
//!
//! The [`Worker`] owns the loop, the connection slab and the per-connection steps; each of
//! its other concerns is a type of its own: [`Acceptor`] (accept states, admission, MSG_RING
//! hand-off), [`Reserved`] (non-connection ops, their memory and their in-flight count),
//! [`Lifecycle`] (the shutdown state machine), [`Batching`] (what the next enter waits for),
//! [`FixedFiles`] (the fixed-file table: a connection's SQEs name its slot when it has one).
//!
//! Nothing here enters the kernel except [`Ring::enter`] (and [`Ring::reserve`] when the SQ is
//! full). Per-connection work is queued, never executed inline from a completion.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use io_uring::cqueue;

use super::accept::Acceptor;
use super::batching::{Batching, Wait};
use super::conn::{Conn, Phase, RecvState, SendOp, Slab, SEND_BUF_KEEP_BYTES};
use super::drain::{Lifecycle, Quiet, State};
use super::fixed::FixedFiles;
use super::reserved::Reserved;
use super::setup::{setup, Options, Setup};
use super::token::{ConnOp, Token};
use super::{errno_str, Coord, Plan, Ready, CQE_BATCH_MAX};
use crate::clients::{ConnInfo, Owner};
use crate::config::UringMode;
use crate::engine::client_closed;
use crate::engine::conn_rules::{next_step, session_facts, Facts, Step};
use crate::engine::limits::{IDLE_CHECK_INTERVAL, SHUTDOWN_FLUSH_TIMEOUT};
use crate::net::Listener;
use crate::persist::aof::hold::{Check, RingWorker};
use crate::persist::aof::FlushJob;
use crate::ring::bufring::BufRing;
use crate::ring::{sqe, Cqe, Ring, Target};
use crate::session::Session;
use crate::shared::Shared;

/// Per-connection buffers kept for reuse by later connections (each pool).
pub const SPARE_BUFS_MAX: usize = 256;
/// Bytes of allocations each pool may hold: a burst of closing connections leaves at most
/// this much behind per worker (the rest is freed).
pub const SPARE_POOL_BYTES_MAX: usize = 4 << 20;

/// True if a pool of spare buffers may take one more of `capacity` bytes (both bounds).
fn pool_has_room(pool: &[Vec<u8>], capacity: usize) -> bool {
    let held: usize = pool.iter().map(Vec::capacity).sum();
    pool.len() < SPARE_BUFS_MAX && held + capacity <= SPARE_POOL_BYTES_MAX
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
    // The eventfd wakes the worker for shutdown and for output other connections produced
    // for its clients (see `clients.rs`).
    let poke = move || {
        let one: u64 = 1;
        // SAFETY: the closure owns an Arc of the eventfd, so the descriptor is open; `one` is
        // a valid 8-byte buffer.
        unsafe { libc::write(wake.as_raw_fd(), (&one as *const u64).cast(), 8) };
    };
    shared.clients.on_mail(id, Box::new(poke.clone()));
    // A flush by any worker may release replies this worker holds.
    let aof_me = shared.persist.aof().map(|aof| aof.on_durable(id, Box::new(poke.clone())));
    shared.on_shutdown(Box::new(poke));
    let mut worker = Worker::new(id, shared, listeners, opts, coord, setup, plan);
    worker.aof_me = aof_me;
    worker.run()
}

pub struct Worker<'a> {
    ring: Ring,
    /// Full mode's buffer ring. Declared after `ring` so it is dropped after it.
    bufs: Option<BufRing>,
    /// The ring's fixed-file table: which connections' SQEs name a slot.
    files: FixedFiles,
    id: usize,
    shared: &'a Shared,
    opts: Options,
    acceptor: Acceptor<'a>,
    reserved: Reserved,
    life: Lifecycle,
    batching: Batching,
    slab: Slab,
    touched: Vec<u32>,
    batch: Vec<Cqe>,
    spare_rbufs: Vec<Vec<u8>>,
    spare_sends: Vec<Vec<u8>>,
    now: Instant,
    last_sweep: Instant,
    connections_total: u64,
    /// Completions for slots already freed/reused (dropped after returning their buffer).
    stale: u64,
    /// Multishot recvs ended by an empty buffer ring (re-armed after their batch).
    enobufs: u64,
    /// The AOF flush this worker's ring is running (`appendfsync always`; it owns the bytes
    /// the write SQE points at), and which of its two completions arrived.
    aof_job: Option<AofInFlight>,
    /// Connections with replies held for the AOF (`appendfsync always`), re-serviced when
    /// the durable number advances.
    durable_waiting: Vec<(u32, u32)>,
    /// The durable number when `durable_waiting` was last re-serviced.
    seen_durable: u64,
    /// This worker's part of the AOF's shared flush hold (`appendfsync always`; see
    /// `persist::aof::hold`).
    aof_me: Option<Arc<RingWorker>>,
    /// The shared hold keeps the next AOF flush waiting, until this moment at the latest
    /// (see [`Worker::aof_step`]).
    flush_hold: Option<Instant>,
    /// When this worker's armed hold timer fires (None: not armed).
    hold_timer_at: Option<Instant>,
}

/// A linked write + fdatasync of the AOF in flight on this ring.
struct AofInFlight {
    job: FlushJob,
    /// The write's result, once its completion arrived (Ok: it wrote everything).
    write_ok: Option<bool>,
    fsync_result: Option<Result<(), i32>>,
    started: Instant,
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
        let multishot = opts.mode == UringMode::Full;
        Worker {
            ring: setup.ring,
            bufs: setup.bufs,
            files: setup.files,
            id,
            shared,
            opts,
            acceptor: Acceptor::new(id, plan, listeners, coord, multishot),
            reserved: Reserved::new(setup.wake, tick_interval),
            life: Lifecycle::default(),
            batching: Batching::new(opts.batching),
            slab: Slab::default(),
            touched: Vec::new(),
            batch: Vec::with_capacity(CQE_BATCH_MAX),
            spare_rbufs: Vec::new(),
            spare_sends: Vec::new(),
            now,
            last_sweep: now,
            connections_total: 0,
            stale: 0,
            enobufs: 0,
            aof_job: None,
            durable_waiting: Vec::new(),
            seen_durable: 0,
            aof_me: None,
            flush_hold: None,
            hold_timer_at: None,
        }
    }

    fn run(&mut self) -> anyhow::Result<()> {
        self.reserved.arm_wake(&mut self.ring)?;
        self.reserved.arm_tick(&mut self.ring)?;
        self.acceptor.rearm(self.life.running(), &mut self.reserved, &mut self.ring)?;
        loop {
            if self.life.done(self.reserved.inflight(), self.slab.live()) {
                break;
            }
            let acceptors_done = self.acceptor.all_acceptors_done();
            self.publish_counters();
            // Scripts this iteration's requests submitted go to the executor in one batch;
            // while their replies may come (one mailbox wake-up), wait for no batch.
            let replies_due = crate::session::flush_offloaded(self.shared);
            let mut plan = self.batching.plan(Instant::now());
            // Replies held for the AOF (appendfsync always) leave when the fdatasync
            // completes: waiting for more completions past that one would add the batch wait
            // to every held write (measured: always c50 P1 was ~0.55x Redis's req/s).
            if replies_due || self.aof_job.is_some() || self.flush_hold.is_some() || !self.durable_waiting.is_empty() {
                plan = Wait::PLAIN;
            }
            let waited = self.ring.enter(plan.want, plan.wait_us)?;
            self.now = Instant::now();
            self.batching.woke(self.now);
            self.batch.clear();
            self.ring.reap(&mut self.batch, CQE_BATCH_MAX);
            let batch = std::mem::take(&mut self.batch);
            for cqe in &batch {
                self.handle(cqe)?;
            }
            self.batch = batch;
            self.service_touched()?;
            self.aof_step()?;
            self.acceptor.rearm(self.life.running(), &mut self.reserved, &mut self.ring)?;
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
        w.fixed_files.store(self.files.in_use(), Relaxed);
        w.fixed_file_fallbacks.store(self.files.fallbacks(), Relaxed);
        w.recv_nobufs.store(self.enobufs, Relaxed);
        w.recv_buffers.store(self.bufs.as_ref().map_or(0, |b| u64::from(b.circulating())), Relaxed);
    }

    // ---- completions --------------------------------------------------------------------

    fn handle(&mut self, cqe: &Cqe) -> anyhow::Result<()> {
        let Some(tok) = Token::decode(cqe.user_data) else {
            tracing::error!(user_data = cqe.user_data, result = cqe.result, "completion with an unknown token");
            return Ok(());
        };
        match tok {
            Token::Conn { slot, gen, op } => self.on_conn(slot, gen, op, cqe),
            Token::Accept { listener } => self.on_accept(listener as usize, cqe),
            Token::AcceptBackoff { listener } => {
                self.reserved.done();
                self.acceptor.backoff_over(listener as usize, self.life.running());
                Ok(())
            }
            Token::Wake => self.on_wake(cqe.result),
            Token::Tick => {
                self.reserved.tick_done();
                self.on_tick()
            }
            Token::DrainTick => {
                self.reserved.drain_tick_done();
                if self.life.draining() {
                    self.reserved.arm_drain_tick(&mut self.ring)?;
                }
                Ok(())
            }
            Token::Handoff => {
                if cqe.result >= 0 {
                    self.adopt(cqe.result);
                } else {
                    tracing::error!(result = cqe.result, "hand-off completion without a descriptor");
                }
                Ok(())
            }
            Token::HandoffSent { fd } => {
                self.reserved.done();
                if let Some(fd) = self.acceptor.handoff_sent(fd, cqe.result) {
                    self.adopt(fd);
                }
                Ok(())
            }
            Token::CloseUnowned | Token::CancelReserved => {
                self.reserved.done();
                Ok(())
            }
            Token::AofHold => {
                self.reserved.aof_hold_done();
                self.on_hold_timer();
                Ok(())
            }
            Token::AofWrite | Token::AofFsync => {
                self.reserved.done();
                self.on_aof(tok == Token::AofWrite, cqe.result);
                Ok(())
            }
        }
    }

    // ---- the AOF (appendfsync always): group commit on this ring --------------------------

    /// One of the flush's two completions. The write's result decides whether the file grew
    /// (or is cut back, see `persist::aof`); once both arrived, the fdatasync's result makes
    /// the flush durable and the token is released (waking workers that hold replies).
    fn on_aof(&mut self, is_write: bool, result: i32) {
        let Some(aof) = self.shared.persist.aof() else { return };
        let Some(flight) = self.aof_job.as_mut() else {
            tracing::error!(result, "AOF completion with no flush in flight");
            return;
        };
        if is_write {
            let r = if result >= 0 { Ok(result as usize) } else { Err(-result) };
            flight.write_ok = Some(aof.write_done(&mut flight.job, r));
        } else {
            flight.fsync_result = Some(if result >= 0 { Ok(()) } else { Err(-result) });
        }
        let (Some(write_ok), Some(fsync)) = (flight.write_ok, flight.fsync_result) else { return };
        // The next flush's hold opens before `durable_seq` moves: a worker that sees the new
        // number also sees that it owes the hold its release.
        aof.hold().flush_done(self.now, flight.started.elapsed(), write_ok && fsync.is_ok());
        if write_ok {
            aof.fsync_done(flight.job.released_seq, fsync);
        }
        self.aof_job = None;
        aof.end_flush(Some(self.id));
    }

    /// After the batch: send replies the AOF has made durable since, then start a flush if
    /// bytes are pending and nobody flushes.
    ///
    /// Group size: when a flush completes and releases replies, the next flush is held until
    /// the released clients are back, over all workers, or for at most half a flush's measured
    /// duration (capped by `AOF_HOLD_MAX`): one decision per flush, shared by every worker, in
    /// `persist::aof::hold` (why, and why a held flush is never stranded, in its header).
    /// This worker publishes how many of its connections hold replies and, when it has bytes
    /// pending and sees no flush in flight, asks the hold whether to flush now.
    fn aof_step(&mut self) -> anyhow::Result<()> {
        let Some(aof) = self.shared.persist.aof() else { return Ok(()) };
        if !aof.ring_driven() {
            return Ok(());
        }
        let waiters = self.durable_waiting.len();
        // Published before `durable_seq` is read (a fence on each side): either this read sees
        // a flush's new number, or that flush's end sees this worker waiting and wakes it.
        if let Some(me) = &self.aof_me {
            aof.hold().set_waiting(me, waiters);
        }
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        let durable = aof.durable_seq();
        let released = durable != self.seen_durable && waiters > 0;
        if released {
            self.seen_durable = durable;
            for (slot, gen) in std::mem::take(&mut self.durable_waiting) {
                if let Some(conn) = self.slab.get_mut(slot, gen) {
                    conn.waiting_durable = false;
                    self.touch(slot);
                }
            }
            self.service_touched()?;
        }
        if let Some(me) = &self.aof_me {
            if released {
                aof.hold().released(me, waiters, self.durable_waiting.len());
            }
        }
        self.flush_hold = None;
        if self.aof_job.is_some() || self.life.finishing() {
            return Ok(());
        }
        if aof.hold().is_open() && !aof.flush_in_flight() && aof.bytes_pending() {
            if let Check::Held { deadline, arm } = aof.hold().check(self.id, self.now, self.hold_timer_at) {
                self.flush_hold = Some(deadline);
                if arm {
                    // Counted from now (after `self.now`): it fires at or after the deadline.
                    let wait = deadline.saturating_duration_since(Instant::now());
                    if self.reserved.arm_aof_hold(&mut self.ring, wait)? {
                        self.hold_timer_at = Some(deadline);
                    }
                }
                return Ok(());
            }
        }
        let Some(job) = aof.begin_flush() else { return Ok(()) };
        let (ptr, len, offset, fd) = (job.bytes.as_ptr(), job.bytes.len(), job.offset, job.fd());
        self.aof_job = Some(AofInFlight { job, write_ok: None, fsync_result: None, started: Instant::now() });
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        // SAFETY: the bytes belong to the job in `self.aof_job`, which is neither dropped nor
        // changed until both completions arrived (on_aof); a Vec's heap buffer does not move
        // when the Vec itself moves.
        unsafe { self.reserved.aof_flush(&mut self.ring, fd, ptr, len, offset) }
    }

    /// The hold timer fired: it covers no deadline any more (the AOF step after this batch
    /// checks the hold again). A finishing worker starts no flush, so it wakes the workers
    /// holding replies to check instead (see `persist::aof::hold`).
    fn on_hold_timer(&mut self) {
        self.hold_timer_at = None;
        let Some(aof) = self.shared.persist.aof() else { return };
        aof.hold().timer_fired(self.id);
        if self.life.finishing() {
            aof.hold().wake_waiting(Some(self.id));
        }
    }

    /// The eventfd read completed: 8 bytes mean another thread asked for shutdown. Anything
    /// else (EINTR & co.) is read again, unless the worker is finishing.
    fn on_wake(&mut self, result: i32) -> anyhow::Result<()> {
        self.reserved.wake_done();
        if self.shared.shutting_down() {
            self.begin_drain()
        } else if !self.life.finishing() {
            if result == 8 {
                self.take_mail();
            }
            self.reserved.arm_wake(&mut self.ring)
        } else {
            Ok(())
        }
    }

    /// Connections that other connections produced output for (or killed): service them.
    fn take_mail(&mut self) {
        let Some(inbox) = self.shared.clients.inbox(self.id) else { return };
        for handle in inbox.take() {
            let local = handle.local.load(Relaxed);
            let (slot, gen) = ((local >> 32) as u32, local as u32);
            if self.slab.get_mut(slot, gen).is_some_and(|c| c.session.client.id == handle.id) {
                self.touch(slot);
            }
        }
    }

    fn on_conn(&mut self, slot: u32, gen: u32, op: ConnOp, cqe: &Cqe) -> anyhow::Result<()> {
        let bid = cqueue::buffer_select(cqe.flags);
        let ends = !(op == ConnOp::Recv && cqueue::more(cqe.flags));
        if op == ConnOp::Recv && cqe.result == -libc::ENOBUFS {
            self.enobufs += 1;
            // More buffers in circulation (ring::bufring): the re-armed recv finds them.
            if let Some(bufs) = self.bufs.as_mut() {
                bufs.grow();
            }
        }
        let Some(conn) = self.slab.get_mut(slot, gen) else {
            // A slot is never reused while its ops are in flight, so this is a bug; still,
            // the buffer must go back or the ring would shrink for good.
            if let (Some(b), Some(bufs)) = (bid, self.bufs.as_mut()) {
                bufs.consumed(b, cqe.result.max(0) as usize, cqueue::buffer_more(cqe.flags));
            }
            self.stale += 1;
            tracing::debug!(slot, gen, ?op, result = cqe.result, "completion for a freed slot dropped");
            return Ok(());
        };
        match op {
            ConnOp::Recv => {
                let before = conn.session.commands_run();
                on_recv(conn, self.bufs.as_mut(), self.shared, self.now, cqe.result, cqe.flags, ends);
                if cqe.result > 0 {
                    self.batching.recv_with_data(conn.session.commands_run() - before);
                }
            }
            ConnOp::Send => on_send(conn, self.now, cqe.result),
            ConnOp::Close if cqe.result < 0 => {
                tracing::warn!(error = %errno_str(cqe.result), "closing a client descriptor failed")
            }
            _ => {} // Cancel: 0, ENOENT (already done) and EALREADY are all fine.
        }
        if ends && conn.op_finished() && conn.phase == Phase::Closing {
            self.free(slot);
        } else {
            self.touch(slot);
        }
        Ok(())
    }

    fn on_accept(&mut self, listener: usize, cqe: &Cqe) -> anyhow::Result<()> {
        let ends = !cqueue::more(cqe.flags);
        if ends {
            self.reserved.done();
        }
        if cqe.result >= 0 {
            let running = self.life.running();
            let r = &mut self.reserved;
            if let Some(fd) = self.acceptor.accepted(cqe.result, listener, running, self.shared, r, &mut self.ring)? {
                self.adopt(fd);
            }
        }
        if ends {
            self.acceptor.ended(listener, cqe.result, self.life.running(), &mut self.reserved, &mut self.ring)?;
        }
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
        session.client.offload_scripts = true; // scripts run on the executor (flushed below)
        let handle = session.handle().clone();
        let conn = Conn::new(fd, session, rbuf, send, self.now);
        let (slot, gen) = self.slab.insert(conn);
        let file = self.files.install(&mut self.ring, slot, fd);
        if let Some(conn) = self.slab.get_mut(slot, gen) {
            conn.file = file;
        }
        handle.local.store((u64::from(slot) << 32) | u64::from(gen), Relaxed);
        self.connections_total += 1;
        self.touch(slot);
    }

    /// Every completion of the slot has arrived after its close: release it.
    fn free(&mut self, slot: u32) {
        let Some(conn) = self.slab.remove(slot) else { return };
        debug_assert_eq!(conn.inflight, 0);
        if let Target::Fixed(_) = conn.file {
            self.files.released(); // its Close of the slot has completed
        }
        client_closed(self.shared);
        if !conn.rbuf.is_empty() && pool_has_room(&self.spare_rbufs, conn.rbuf.capacity()) {
            self.spare_rbufs.push(conn.rbuf);
        }
        // A connection closed mid-reply may hold a huge send buffer: only small ones are kept.
        let send = conn.send.into_vec();
        if (1..=SEND_BUF_KEEP_BYTES).contains(&send.capacity()) && pool_has_room(&self.spare_sends, send.capacity()) {
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
        if !self.life.finishing() {
            self.reserved.arm_tick(&mut self.ring)?;
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
            self.note_durable_wait(slot);
        }
        self.touched = touched;
        self.touched.clear();
        Ok(())
    }

    /// List the connection if replies of its writes wait for the AOF. Held replies are what
    /// counts, not whether they are still waiting now: a flush completing since `service`
    /// sent (nothing of) them must still find the connection listed, or nothing would send
    /// them (measured: replies stuck for good under 40 writers, tests/aof_hold.rs).
    fn note_durable_wait(&mut self, slot: u32) {
        if let Some((conn, gen)) = self.slab.get_any(slot) {
            if !conn.waiting_durable && conn.phase == Phase::Open && conn.session.holds_replies() {
                conn.waiting_durable = true;
                self.durable_waiting.push((slot, gen));
            }
        }
    }

    /// Everything a connection needs after the batch, as the connection rules say: send,
    /// resume, keep a recv armed (or cancel it), close.
    fn service(&mut self, slot: u32) -> anyhow::Result<()> {
        let draining = !self.life.running();
        let shared = self.shared;
        let Some((conn, gen)) = self.slab.get_any(slot) else { return Ok(()) };
        if !conn.touched {
            return Ok(()); // serviced already (listed twice after a slot reuse)
        }
        conn.touched = false;
        if conn.phase == Phase::Closing {
            return Ok(());
        }
        // Output other connections produced for this one goes after its own replies.
        conn.kill |= conn.session.pull_remote();
        loop {
            let short_send_rest = !conn.send.in_flight && conn.send.pending() > 0;
            let facts = Facts {
                can_send: !conn.send.in_flight,
                flushed: conn.flushed(),
                peer_eof: conn.eof,
                draining,
                killed: conn.kill,
                ..session_facts(&conn.session, shared, short_send_rest)
            };
            match next_step(facts) {
                Step::Send => self.batching.send_queued(pump_send(conn, slot, gen, shared, &mut self.ring)?),
                Step::Resume => conn.session.resume(shared),
                Step::Close => return start_close(conn, slot, gen, &mut self.ring),
                Step::Read => return arm_recv(conn, slot, gen, self.bufs.as_ref(), &mut self.ring),
                Step::Wait => return stop_recv(conn, slot, gen, self.bufs.is_some(), &mut self.ring),
            }
        }
    }

    // ---- shutdown (decisions in `Lifecycle`; the work they ask for here) ------------------

    fn begin_drain(&mut self) -> anyhow::Result<()> {
        if !self.life.begin_drain(self.now) {
            return Ok(());
        }
        self.acceptor.stop(&mut self.reserved, &mut self.ring)?;
        self.reserved.arm_drain_tick(&mut self.ring)?;
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
        match self.life.state() {
            State::Running => {
                if self.shared.shutting_down() {
                    self.begin_drain()?;
                }
            }
            State::Draining { .. } => {
                if self.life.flush_deadline_passed(self.now) {
                    self.close_all_unflushed()?;
                }
                self.acceptor.release_if_done();
                let quiet = Quiet { peers_quiet, acceptor_done: self.acceptor.done(), connections: self.slab.live() };
                if self.life.finish(quiet) {
                    self.reserved.cancel_own(&mut self.ring)?;
                }
            }
            State::Finishing => {}
        }
        Ok(())
    }

    /// The flush deadline passed: close every connection without waiting for its replies.
    fn close_all_unflushed(&mut self) -> anyhow::Result<()> {
        let left = self.slab.live();
        tracing::warn!(
            worker = self.id,
            connections = left,
            "replies not flushed within {SHUTDOWN_FLUSH_TIMEOUT:?}; closing anyway"
        );
        let slots: Vec<u32> = self.slab.occupied().collect();
        for slot in slots {
            if let Some((conn, _)) = self.slab.get_any(slot) {
                conn.kill = true;
            }
            self.touch(slot);
        }
        self.service_touched()
    }
}

impl Drop for Worker<'_> {
    fn drop(&mut self) {
        // A worker that stops on an error must not leave the others waiting for it.
        self.acceptor.release();
        if self.slab.live() > 0 || self.reserved.inflight() > 0 {
            // Abnormal exit with ops in flight: the kernel may still write into connection
            // buffers, the buffer ring or the eventfd buffer until it has torn the ring down.
            // Leak them rather than free memory the kernel can write to.
            std::mem::forget(std::mem::take(&mut self.slab));
            std::mem::forget(self.bufs.take());
            self.reserved.leak();
        }
    }
}

// ---- per-connection steps (free functions so a `&mut Conn` and the ring can be borrowed
// ---- side by side) --------------------------------------------------------------------

/// A recv completion (CQE `result` and `flags`): feed the bytes (straight from the kernel's
/// buffer), give the buffer back (unless the kernel keeps filling it: incremental mode's
/// `BUF_MORE`), note EOF or errors.
fn on_recv(
    conn: &mut Conn,
    bufs: Option<&mut BufRing>,
    shared: &Shared,
    now: Instant,
    result: i32,
    flags: u32,
    ends: bool,
) {
    let bid = cqueue::buffer_select(flags);
    let more = cqueue::buffer_more(flags);
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
                ring.consumed(b, n, more);
            }
            (None, None) if n <= conn.rbuf.len() => {
                if open {
                    conn.session.feed(shared, &conn.rbuf[..n]);
                }
            }
            (bid, ring) => {
                tracing::error!(?bid, len = n, "recv completion with an unexpected buffer");
                if let (Some(b), Some(ring)) = (bid, ring) {
                    ring.consumed(b, n, more);
                }
            }
        }
        conn.last_active = now;
        return;
    }
    if let (Some(b), Some(ring)) = (bid, bufs) {
        ring.consumed(b, 0, more);
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
fn pump_send(conn: &mut Conn, slot: u32, gen: u32, shared: &Shared, ring: &mut Ring) -> anyhow::Result<bool> {
    if conn.send.in_flight {
        return Ok(false);
    }
    if conn.send.pending() == 0 {
        if conn.session.sendable_len(shared) == 0 {
            return Ok(false);
        }
        conn.send.take_sendable(&mut conn.session, shared);
    }
    let token = Token::conn(slot, gen, ConnOp::Send).encode();
    let entry = match conn.send.next_op() {
        SendOp::Send(ptr, len) => sqe::send(conn.file, ptr, len, token),
        SendOp::SendMsg(msg) => sqe::sendmsg(conn.file, msg, token),
    };
    // SAFETY: the bytes (and a SENDMSG's boxed header and iovec array) live in `conn.send`,
    // which is neither swapped, advanced nor dropped while `in_flight` is set, and the slot is
    // not freed before this send's completion.
    unsafe { ring.push(&entry)? };
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
    let recv_token = Token::conn(slot, gen, ConnOp::Recv).encode();
    let entry = match bufs {
        Some(b) => sqe::recv_multi(conn.file, b.bgid, recv_token),
        None => sqe::recv(conn.file, conn.rbuf.as_mut_ptr(), conn.rbuf.len() as u32, recv_token),
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
    let recv_token = Token::conn(slot, gen, ConnOp::Recv).encode();
    // SAFETY: AsyncCancel refers to no memory.
    unsafe { ring.push(&sqe::cancel(recv_token, Token::conn(slot, gen, ConnOp::Cancel).encode()))? };
    conn.recv = RecvState::Cancelling;
    conn.op_started();
    Ok(())
}

/// Cancel the connection's ops and close its descriptor (and its fixed-file slot, if it has
/// one) through the ring. The slot is freed when the last of their completions arrives.
fn start_close(conn: &mut Conn, slot: u32, gen: u32, ring: &mut Ring) -> anyhow::Result<()> {
    conn.phase = Phase::Closing;
    let cancel_token = Token::conn(slot, gen, ConnOp::Cancel).encode();
    if conn.recv == RecvState::Armed {
        // SAFETY: AsyncCancel refers to no memory.
        unsafe { ring.push(&sqe::cancel(Token::conn(slot, gen, ConnOp::Recv).encode(), cancel_token))? };
        conn.recv = RecvState::Cancelling;
        conn.op_started();
    }
    if conn.send.in_flight {
        // SAFETY: as above.
        unsafe { ring.push(&sqe::cancel(Token::conn(slot, gen, ConnOp::Send).encode(), cancel_token))? };
        conn.op_started();
    }
    let close_token = Token::conn(slot, gen, ConnOp::Close).encode();
    if let Target::Fixed(_) = conn.file {
        // SAFETY: Close refers to no memory; in-flight ops keep the slot's file alive.
        unsafe { ring.push(&sqe::close(conn.file, close_token))? };
        conn.op_started();
    }
    // SAFETY: Close refers to no memory; in-flight ops hold their own file references.
    unsafe { ring.push(&sqe::close(Target::Fd(conn.fd), close_token))? };
    conn.op_started();
    Ok(())
}
