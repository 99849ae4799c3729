//! The `epoll` engine: `--threads` event loops (mio, edge-triggered epoll), each owning its
//! connections. The seed's "thread pool or epoll" fix, and the engine `uring` falls back to
//! when the kernel refuses io_uring.
//!
//! Per ready connection: read until the socket is drained (or a per-event read cap, for
//! fairness), run every complete request, write all replies with one `write`. Worker 0 owns
//! the listeners and hands accepted connections round-robin to the workers over a channel plus
//! a mio `Waker`, so connections spread evenly.
//!
//! Backpressure: while a session's pending output is over `--client-output-pause` it is not
//! read from; once the output drains the held requests run and reading resumes (edge-triggered
//! epoll gives no new edge for data that was already there, so the loop re-reads by itself).
//!
//! `io_syscalls` counts epoll_wait, read and write (and accept) calls.

use std::io::{ErrorKind, Read};
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use super::conn_rules::{next_step, session_facts, Facts, Step};
use super::limits::{ACCEPT_ERROR_BACKOFF, DRAIN_POLL_INTERVAL, IDLE_CHECK_INTERVAL, SHUTDOWN_FLUSH_TIMEOUT};
use super::{admit, client_closed, refuse};
use crate::clients::{ConnInfo, Owner};
use crate::net::{Listener, Stream};
use crate::session::Session;
use crate::shared::{Shared, WorkerIo};

/// epoll_wait batch size.
const EVENTS_MAX: usize = 1024;
/// Read buffer per worker (shared by its connections: data is parsed before the next read).
const READ_BUF_BYTES: usize = 64 * 1024;
/// Reads per connection per readiness event before moving on to other connections.
const READS_PER_EVENT_MAX: usize = 16;

const WAKER_TOKEN: Token = Token(usize::MAX);
/// Listener `i` uses token `LISTENER_TOKEN_BASE + i`.
const LISTENER_TOKEN_BASE: usize = usize::MAX - 64;

struct Conn {
    sock: Stream,
    session: Session,
    /// Bytes of `session.out` already written.
    sent: usize,
    /// Registered for WRITABLE (output is waiting for socket space).
    want_write: bool,
    /// The socket may still hold unread data (we stopped before WouldBlock).
    read_pending: bool,
    /// An event said the peer shut down its side (or the socket failed): the socket must be
    /// read until EOF/error, since no further edge will come for it. A short read then does
    /// not mean "nothing more": the EOF may have arrived with the data in one edge.
    peer_closed: bool,
    /// A read returned 0: the peer sent EOF.
    eof: bool,
    /// A read or write failed: close without flushing.
    failed: bool,
    /// The last write stopped at a full socket; cleared by the next event.
    write_blocked: bool,
    last_active: Instant,
}

/// Serve until shutdown with `config.worker_threads()` event loops.
pub fn serve(shared: &Arc<Shared>, listeners: &[Listener]) -> anyhow::Result<()> {
    let workers = shared.config.worker_threads();
    shared.set_io("epoll", workers);
    let mut polls = Vec::new();
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    let mut wakers = Vec::new();
    for _ in 0..workers {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER_TOKEN)?);
        let (tx, rx) = mpsc::channel::<(Stream, Option<SocketAddr>)>();
        polls.push(poll);
        senders.push(tx);
        receivers.push(rx);
        wakers.push(waker);
    }
    for (i, w) in wakers.iter().enumerate() {
        // Output other connections produced for this loop's clients (see `clients.rs`).
        let mail = w.clone();
        shared.clients.on_mail(
            i,
            Box::new(move || {
                let _ = mail.wake();
            }),
        );
        let w = w.clone();
        shared.on_shutdown(Box::new(move || {
            let _ = w.wake();
        }));
    }
    let handoff = Handoff { senders, wakers: wakers.clone(), next: 0 };
    let mut handoff = Some(handoff);
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let mut handles = Vec::new();
        for (i, (poll, rx)) in polls.into_iter().zip(receivers).enumerate() {
            let shared = shared.clone();
            let lst = if i == 0 { Some(listeners) } else { None };
            let handoff = if i == 0 { handoff.take() } else { None };
            handles.push(scope.spawn(move || Worker::new(i, &shared, poll, rx).run(lst, handoff)));
        }
        for h in handles {
            h.join().map_err(|_| anyhow::anyhow!("epoll worker panicked"))??;
        }
        Ok(())
    })
}

/// Worker 0's accept side: round-robin accepted sockets to workers.
struct Handoff {
    senders: Vec<Sender<(Stream, Option<SocketAddr>)>>,
    wakers: Vec<Arc<Waker>>,
    next: usize,
}

struct Worker<'a> {
    index: usize,
    shared: &'a Shared,
    io: &'a WorkerIo,
    poll: Poll,
    rx: Receiver<(Stream, Option<SocketAddr>)>,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    buf: Vec<u8>,
}

impl<'a> Worker<'a> {
    fn new(index: usize, shared: &'a Shared, poll: Poll, rx: Receiver<(Stream, Option<SocketAddr>)>) -> Self {
        Worker {
            index,
            shared,
            io: shared.worker_io(index),
            poll,
            rx,
            conns: Vec::new(),
            free: Vec::new(),
            buf: vec![0u8; READ_BUF_BYTES],
        }
    }

    fn count(&self, n: u64) {
        self.io.syscalls.fetch_add(n, Relaxed);
    }

    fn run(mut self, listeners: Option<&[Listener]>, mut handoff: Option<Handoff>) -> anyhow::Result<()> {
        let listeners = listeners.unwrap_or(&[]);
        for (i, l) in listeners.iter().enumerate() {
            // Non-blocking for edge-triggered accept loops; registered by descriptor (the
            // Listener keeps owning it).
            l.set_nonblocking(true)?;
            self.poll.registry().register(
                &mut SourceFd(&l.fd()),
                Token(LISTENER_TOKEN_BASE + i),
                Interest::READABLE,
            )?;
        }
        let mut events = Events::with_capacity(EVENTS_MAX);
        // Always wake now and then: CONFIG SET may turn the idle timeout on at any time.
        let idle_timeout = Some(IDLE_CHECK_INTERVAL);
        // Listeners whose last accept failed (EMFILE, ENOMEM, ...): retried after a backoff.
        let mut accept_retry = vec![false; listeners.len()];
        let result = loop {
            if self.shared.shutting_down() {
                break Ok(());
            }
            self.count(1);
            // Scripts this iteration's requests submitted go to the executor in one batch.
            let _ = crate::session::flush_offloaded(self.shared);
            let timeout = if accept_retry.contains(&true) { Some(ACCEPT_ERROR_BACKOFF) } else { idle_timeout };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == ErrorKind::Interrupted {
                    continue;
                }
                break Err(e.into());
            }
            for ev in events.iter() {
                let t = ev.token().0;
                if ev.token() == WAKER_TOKEN {
                    self.take_handoffs();
                    self.take_mail();
                } else if t >= LISTENER_TOKEN_BASE {
                    accept_retry[t - LISTENER_TOKEN_BASE] = true;
                } else {
                    let closed = ev.is_read_closed() || ev.is_error();
                    self.on_ready(t, ev.is_readable() || closed, closed);
                }
            }
            if let Some(h) = handoff.as_mut() {
                for (i, l) in listeners.iter().enumerate() {
                    if accept_retry[i] {
                        accept_retry[i] = !self.accept_all(l, h);
                    }
                }
            }
            self.take_handoffs();
            if self.shared.tunables.timeout_s() > 0 {
                self.close_idle();
            }
        };
        for l in listeners {
            let _ = self.poll.registry().deregister(&mut SourceFd(&l.fd()));
        }
        self.shutdown_flush();
        result
    }

    /// Accept until the backlog is empty (true) or accepting fails (false: retry later).
    fn accept_all(&mut self, listener: &Listener, h: &mut Handoff) -> bool {
        loop {
            self.count(1);
            match listener.accept() {
                Ok((sock, peer)) => {
                    let target = h.next % h.senders.len();
                    h.next = h.next.wrapping_add(1);
                    if target == self.index {
                        self.add_conn(sock, peer);
                    } else if h.senders[target].send((sock, peer)).is_ok() {
                        let _ = h.wakers[target].wake();
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors or memory: the client waits in the backlog.
                    tracing::warn!(error = %e, "accept failed");
                    return false;
                }
            }
        }
    }

    /// Connections that other connections produced output for (or killed): run their rules.
    fn take_mail(&mut self) {
        let Some(inbox) = self.shared.clients.inbox(self.index) else { return };
        for handle in inbox.take() {
            let slot = handle.local.load(Relaxed) as usize;
            let ours = self.conns.get(slot).and_then(Option::as_ref).is_some_and(|c| c.session.client.id == handle.id);
            if ours {
                self.on_ready(slot, false, false);
            }
        }
    }

    fn take_handoffs(&mut self) {
        while let Ok((sock, peer)) = self.rx.try_recv() {
            self.add_conn(sock, peer);
        }
    }

    fn add_conn(&mut self, sock: Stream, peer: Option<SocketAddr>) {
        if let Err(msg) = admit(self.shared, peer) {
            refuse(sock.fd(), msg);
            return;
        }
        let slot = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        let registered = sock.set_nonblocking(true).is_ok()
            && self.poll.registry().register(&mut SourceFd(&sock.fd()), Token(slot), Interest::READABLE).is_ok();
        if !registered {
            self.free.push(slot);
            client_closed(self.shared);
            return;
        }
        self.io.connections.fetch_add(1, Relaxed);
        self.io.connections_total.fetch_add(1, Relaxed);
        let mut session = Session::for_conn(self.shared, ConnInfo { owner: Owner::Worker(self.index), fd: sock.fd() });
        session.client.stripe = self.index; // this loop's stripe of the isolation lock
        session.client.offload_scripts = true; // scripts run on the executor (flushed below)
        session.handle().local.store(slot as u64, Relaxed);
        self.conns[slot] = Some(Conn {
            sock,
            session,
            sent: 0,
            want_write: false,
            read_pending: true,
            peer_closed: false,
            eof: false,
            failed: false,
            write_blocked: false,
            last_active: Instant::now(),
        });
        // Data may already be waiting (edge-triggered: no event for it until more arrives).
        self.on_ready(slot, true, false);
    }

    /// A readiness event (or a fresh connection): `readable` if it may have input, `closed` if
    /// the event reported the peer's shutdown or an error.
    fn on_ready(&mut self, slot: usize, readable: bool, closed: bool) {
        let Some(mut conn) = self.conns.get_mut(slot).and_then(Option::take) else { return };
        conn.last_active = Instant::now();
        if readable {
            conn.read_pending = true;
        }
        if closed {
            conn.peer_closed = true;
        }
        // An event may mean write room: try writing again.
        conn.write_blocked = false;
        if self.run_rules(&mut conn) == Step::Close {
            self.close(conn, slot);
            return;
        }
        let want_write = conn.sent < conn.session.out.len();
        if want_write != conn.want_write {
            let interest = if want_write { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
            if self.poll.registry().reregister(&mut SourceFd(&conn.sock.fd()), Token(slot), interest).is_err() {
                self.close(conn, slot);
                return;
            }
            conn.want_write = want_write;
        }
        self.conns[slot] = Some(conn);
    }

    /// Follow the connection rules until they say wait, read with nothing left to read, or
    /// close (returned as `Close`; anything else means the connection stays).
    fn run_rules(&mut self, conn: &mut Conn) -> Step {
        // Output other connections produced for this one goes after its own replies.
        conn.failed |= conn.session.pull_remote();
        loop {
            let facts = Facts {
                can_send: !conn.write_blocked,
                flushed: conn.session.out.is_empty(),
                peer_eof: conn.eof,
                draining: self.shared.shutting_down(),
                killed: conn.failed,
                ..session_facts(&conn.session, self.shared, false)
            };
            match next_step(facts) {
                Step::Send => self.flush(conn),
                Step::Resume => conn.session.resume(self.shared),
                Step::Read if conn.read_pending => self.read_some(conn),
                step @ (Step::Read | Step::Wait | Step::Close) => return step,
            }
        }
    }

    /// Up to READS_PER_EVENT_MAX reads, feeding the session after each. Sets `read_pending`
    /// false once the socket is drained, `eof` at the peer's EOF, `failed` on an error.
    fn read_some(&mut self, conn: &mut Conn) {
        for _ in 0..READS_PER_EVENT_MAX {
            self.count(1);
            match conn.sock.read(&mut self.buf) {
                Ok(0) => {
                    conn.eof = true;
                    conn.read_pending = false;
                    return;
                }
                Ok(n) => {
                    conn.session.feed(self.shared, &self.buf[..n]);
                    // A short read on a stream socket means its receive queue is empty now;
                    // new data raises a new edge, so skip the read that would say EAGAIN.
                    // Not once the peer has shut down: that edge has been reported already,
                    // and only reading on finds the EOF.
                    if n < self.buf.len() && !conn.peer_closed {
                        conn.read_pending = false;
                        return;
                    }
                    if !conn.session.out.is_empty() || conn.session.close_reason().is_some() {
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    conn.read_pending = false;
                    return;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    conn.failed = true;
                    return;
                }
            }
        }
    }

    /// Write pending output until done or the socket is full (`write_blocked`); an error
    /// marks the connection `failed`.
    fn flush(&mut self, conn: &mut Conn) {
        while conn.sent < conn.session.out.len() {
            self.count(1);
            match super::write_segments(&mut conn.sock, conn.session.out.segments(), conn.sent) {
                Ok(0) => {
                    conn.failed = true;
                    return;
                }
                Ok(n) => {
                    conn.sent += n;
                    debug_assert!(conn.sent <= conn.session.out.len());
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    conn.write_blocked = true;
                    return;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    conn.failed = true;
                    return;
                }
            }
        }
        conn.session.output_sent();
        conn.sent = 0;
    }

    fn close(&mut self, conn: Conn, slot: usize) {
        let _ = self.poll.registry().deregister(&mut SourceFd(&conn.sock.fd()));
        drop(conn);
        self.free.push(slot);
        self.io.connections.fetch_sub(1, Relaxed);
        client_closed(self.shared);
    }

    /// Close clients that have shown no activity (no request, and no progress reading their
    /// replies) for `--timeout` seconds, as Redis does.
    fn close_idle(&mut self) {
        let limit = Duration::from_secs(self.shared.tunables.timeout_s());
        for slot in 0..self.conns.len() {
            let idle = self.conns[slot].as_ref().is_some_and(|c| c.last_active.elapsed() > limit);
            if idle {
                let conn = self.conns[slot].take().expect("checked above");
                self.shared.stats.timedout_clients.fetch_add(1, Relaxed);
                self.close(conn, slot);
            }
        }
    }

    /// Shutdown: nothing new is run; the replies every connection already has are written
    /// (all connections in turn, waiting for writability, at most SHUTDOWN_FLUSH_TIMEOUT in
    /// total), then every connection is closed.
    fn shutdown_flush(&mut self) {
        let deadline = Instant::now() + SHUTDOWN_FLUSH_TIMEOUT;
        let mut events = Events::with_capacity(EVENTS_MAX);
        let mut pending: Vec<usize> = (0..self.conns.len()).filter(|&s| self.conns[s].is_some()).collect();
        loop {
            pending.retain(|&slot| {
                // Draining: the rules only flush, then close.
                let mut conn = self.conns[slot].take().expect("pending slots are occupied");
                conn.write_blocked = false;
                if self.run_rules(&mut conn) == Step::Close {
                    self.close(conn, slot);
                    return false;
                }
                self.conns[slot] = Some(conn);
                true
            });
            let now = Instant::now();
            if pending.is_empty() || now >= deadline {
                break;
            }
            self.count(1);
            let _ = self.poll.poll(&mut events, Some(DRAIN_POLL_INTERVAL.min(deadline - now)));
        }
        if !pending.is_empty() {
            tracing::warn!(
                worker = self.index,
                connections = pending.len(),
                "replies not flushed within {SHUTDOWN_FLUSH_TIMEOUT:?}; closing anyway"
            );
            for slot in pending {
                let conn = self.conns[slot].take().expect("pending slots are occupied");
                self.close(conn, slot);
            }
        }
    }
}
