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

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpStream, UnixStream};
use mio::{Events, Interest, Poll, Token, Waker};

use super::{admit, client_closed, refuse, Listener};
use crate::session::Session;
use crate::shared::{Shared, WorkerIo};

/// epoll_wait batch size.
const EVENTS_MAX: usize = 1024;
/// Read buffer per worker (shared by its connections: data is parsed before the next read).
const READ_BUF_BYTES: usize = 64 * 1024;
/// Reads per connection per readiness event before moving on to other connections.
const READS_PER_EVENT_MAX: usize = 16;
/// How long shutdown waits for pending replies to drain before closing anyway.
const SHUTDOWN_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// epoll_wait timeout when idle-client timeouts are enabled (how often they are checked).
const IDLE_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// After an accept error such as EMFILE, try again this soon: edge-triggered epoll reports no
/// new edge for connections already waiting in the backlog.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(10);
/// While shutdown flushes, how long one epoll_wait for writability may block.
const SHUTDOWN_POLL_INTERVAL: Duration = Duration::from_millis(10);

const WAKER_TOKEN: Token = Token(usize::MAX);
/// Listener `i` uses token `LISTENER_TOKEN_BASE + i`.
const LISTENER_TOKEN_BASE: usize = usize::MAX - 64;

enum Sock {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Sock {
    fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Sock::Unix(s) => s,
            Sock::Tcp(s) => s,
        }
    }
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Sock::Unix(s) => s.read(buf),
            Sock::Tcp(s) => s.read(buf),
        }
    }
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sock::Unix(s) => s.write(buf),
            Sock::Tcp(s) => s.write(buf),
        }
    }
}

struct Conn {
    sock: Sock,
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
        let (tx, rx) = mpsc::channel::<(Sock, Option<SocketAddr>)>();
        polls.push(poll);
        senders.push(tx);
        receivers.push(rx);
        wakers.push(waker);
    }
    for w in &wakers {
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
    senders: Vec<Sender<(Sock, Option<SocketAddr>)>>,
    wakers: Vec<Arc<Waker>>,
    next: usize,
}

struct Worker<'a> {
    index: usize,
    shared: &'a Shared,
    io: &'a WorkerIo,
    poll: Poll,
    rx: Receiver<(Sock, Option<SocketAddr>)>,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    buf: Vec<u8>,
}

impl<'a> Worker<'a> {
    fn new(index: usize, shared: &'a Shared, poll: Poll, rx: Receiver<(Sock, Option<SocketAddr>)>) -> Self {
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
        let mut mio_listeners = Vec::new();
        if let Some(ls) = listeners {
            for (i, l) in ls.iter().enumerate() {
                let fd = l.fd();
                // SAFETY: `fd` is a listening socket owned by `ls`, which outlives this worker;
                // the mio listener is turned back into a raw fd (not closed) when we finish.
                let mut ml = match l {
                    Listener::Unix(_) => MioListener::Unix(unsafe { mio::net::UnixListener::from_raw_fd(fd) }),
                    Listener::Tcp(_) => MioListener::Tcp(unsafe { mio::net::TcpListener::from_raw_fd(fd) }),
                };
                self.poll.registry().register(ml.source(), Token(LISTENER_TOKEN_BASE + i), Interest::READABLE)?;
                mio_listeners.push(ml);
            }
            // Listeners must be non-blocking for edge-triggered accept loops.
            for l in ls {
                set_nonblocking(l.fd());
            }
        }
        let mut events = Events::with_capacity(EVENTS_MAX);
        // Always wake now and then: CONFIG SET may turn the idle timeout on at any time.
        let idle_timeout = Some(IDLE_CHECK_INTERVAL);
        // Listeners whose last accept failed (EMFILE, ENOMEM, ...): retried after a backoff.
        let mut accept_retry = vec![false; mio_listeners.len()];
        let result = loop {
            if self.shared.shutting_down() {
                break Ok(());
            }
            self.count(1);
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
                } else if t >= LISTENER_TOKEN_BASE {
                    accept_retry[t - LISTENER_TOKEN_BASE] = true;
                } else {
                    let closed = ev.is_read_closed() || ev.is_error();
                    self.on_ready(t, ev.is_readable() || closed, closed);
                }
            }
            if let Some(h) = handoff.as_mut() {
                for (i, ml) in mio_listeners.iter_mut().enumerate() {
                    if accept_retry[i] {
                        accept_retry[i] = !self.accept_all(ml, h);
                    }
                }
            }
            self.take_handoffs();
            if self.shared.tunables.timeout_s() > 0 {
                self.close_idle();
            }
        };
        for ml in &mut mio_listeners {
            let _ = self.poll.registry().deregister(ml.source());
        }
        for ml in mio_listeners {
            // Give the fd back without closing it; the Listener owns it.
            let _ = ml.into_raw_fd();
        }
        self.shutdown_flush();
        result
    }

    /// Accept until the backlog is empty (true) or accepting fails (false: retry later).
    fn accept_all(&mut self, ml: &mut MioListener, h: &mut Handoff) -> bool {
        loop {
            self.count(1);
            let accepted = match ml {
                MioListener::Unix(l) => l.accept().map(|(s, _)| (Sock::Unix(s), None)),
                MioListener::Tcp(l) => l.accept().map(|(s, a)| {
                    let _ = s.set_nodelay(true);
                    (Sock::Tcp(s), Some(a))
                }),
            };
            match accepted {
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

    fn take_handoffs(&mut self) {
        while let Ok((sock, peer)) = self.rx.try_recv() {
            self.add_conn(sock, peer);
        }
    }

    fn add_conn(&mut self, mut sock: Sock, peer: Option<SocketAddr>) {
        if let Err(msg) = admit(self.shared, peer) {
            let fd = match &sock {
                Sock::Unix(s) => s.as_raw_fd(),
                Sock::Tcp(s) => s.as_raw_fd(),
            };
            refuse(fd, msg);
            return;
        }
        let slot = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        if self.poll.registry().register(sock.source(), Token(slot), Interest::READABLE).is_err() {
            self.free.push(slot);
            client_closed(self.shared);
            return;
        }
        self.io.connections.fetch_add(1, Relaxed);
        self.io.connections_total.fetch_add(1, Relaxed);
        self.conns[slot] = Some(Conn {
            sock,
            session: Session::with_peer(self.shared, peer),
            sent: 0,
            want_write: false,
            read_pending: true,
            peer_closed: false,
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
        let mut alive = true;
        if readable {
            conn.read_pending = true;
        }
        if closed {
            conn.peer_closed = true;
        }
        // Alternate: flush output, run held requests, read more; until nothing moves.
        loop {
            if !self.flush(&mut conn) {
                alive = false;
                break;
            }
            if conn.session.close_reason().is_some() {
                alive = !conn.session.out.is_empty();
                break;
            }
            if !conn.session.wants_read(self.shared) {
                break; // Output still pending: wait for WRITABLE.
            }
            if conn.session.has_held_input() {
                conn.session.resume(self.shared);
                continue;
            }
            if !conn.read_pending {
                break;
            }
            match self.read_some(&mut conn) {
                ReadOutcome::Progress => continue,
                ReadOutcome::Drained => {
                    conn.read_pending = false;
                    continue;
                }
                ReadOutcome::Closed => {
                    alive = false;
                    break;
                }
            }
        }
        if alive {
            let want_write = conn.sent < conn.session.out.len();
            if want_write != conn.want_write {
                let interest = if want_write { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
                if self.poll.registry().reregister(conn.sock.source(), Token(slot), interest).is_err() {
                    self.close(conn, slot);
                    return;
                }
                conn.want_write = want_write;
            }
            self.conns[slot] = Some(conn);
        } else {
            self.close(conn, slot);
        }
    }

    /// Up to READS_PER_EVENT_MAX reads, feeding the session after each.
    fn read_some(&mut self, conn: &mut Conn) -> ReadOutcome {
        for _ in 0..READS_PER_EVENT_MAX {
            self.count(1);
            match conn.sock.read(&mut self.buf) {
                Ok(0) => return ReadOutcome::Closed,
                Ok(n) => {
                    conn.session.feed(self.shared, &self.buf[..n]);
                    // A short read on a stream socket means its receive queue is empty now;
                    // new data raises a new edge, so skip the read that would say EAGAIN.
                    // Not once the peer has shut down: that edge has been reported already,
                    // and only reading on finds the EOF.
                    if n < self.buf.len() && !conn.peer_closed {
                        return ReadOutcome::Drained;
                    }
                    if !conn.session.out.is_empty() || conn.session.close_reason().is_some() {
                        return ReadOutcome::Progress;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return ReadOutcome::Drained,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return ReadOutcome::Closed,
            }
        }
        ReadOutcome::Progress
    }

    /// Write pending output; false if the connection failed.
    fn flush(&mut self, conn: &mut Conn) -> bool {
        while conn.sent < conn.session.out.len() {
            self.count(1);
            match conn.sock.write(&conn.session.out[conn.sent..]) {
                Ok(0) => return false,
                Ok(n) => {
                    conn.sent += n;
                    debug_assert!(conn.sent <= conn.session.out.len());
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
        conn.session.out.clear();
        conn.sent = 0;
        true
    }

    fn close(&mut self, mut conn: Conn, slot: usize) {
        let _ = self.poll.registry().deregister(conn.sock.source());
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
                let mut conn = self.conns[slot].take().expect("pending slots are occupied");
                if self.flush(&mut conn) && conn.sent < conn.session.out.len() {
                    self.conns[slot] = Some(conn);
                    return true;
                }
                self.close(conn, slot);
                false
            });
            let now = Instant::now();
            if pending.is_empty() || now >= deadline {
                break;
            }
            self.count(1);
            let _ = self.poll.poll(&mut events, Some(SHUTDOWN_POLL_INTERVAL.min(deadline - now)));
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

enum ReadOutcome {
    /// Read something; the caller loops (flush, run, read again).
    Progress,
    /// The socket has no more data now (possibly after reading some).
    Drained,
    /// EOF or error.
    Closed,
}

enum MioListener {
    Unix(mio::net::UnixListener),
    Tcp(mio::net::TcpListener),
}

impl MioListener {
    fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            MioListener::Unix(l) => l,
            MioListener::Tcp(l) => l,
        }
    }
    fn into_raw_fd(self) -> i32 {
        match self {
            MioListener::Unix(l) => l.into_raw_fd(),
            MioListener::Tcp(l) => l.into_raw_fd(),
        }
    }
}

fn set_nonblocking(fd: i32) {
    // SAFETY: fcntl on a descriptor we own; only toggles O_NONBLOCK.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}
