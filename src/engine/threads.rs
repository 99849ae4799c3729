//! The `threads` engine: the seed program's design done carefully. One blocking OS thread
//! per connection; each thread reads into a buffer, runs every complete request in it, and
//! writes all the replies of that batch with one `write` (so a pipeline of N requests costs
//! one read and one write, not N of each). An accept thread per listener.
//!
//! Shutdown: listeners and client sockets are shut down for reading, which wakes every
//! blocked `accept`/`read`. A connection thread writes everything it has produced before it
//! reads again, and once shutdown has begun it runs nothing new: it exits right after that
//! write. A thread still blocked writing to a client that does not read after
//! [`SHUTDOWN_FLUSH_TIMEOUT`] has its socket shut down both ways, so shutdown is bounded.
//!
//! Idle `timeout`: a connection thread blocked on its socket wakes every
//! [`IDLE_CHECK_INTERVAL`] (the socket's receive and send timeouts) and checks how long the
//! client has been idle against the current `timeout`, which CONFIG SET may change at any
//! time. A client that sends nothing, or does not read its replies, for that long is closed
//! (Redis closes both kinds too). Activity only sets a flag ([`Idle`]); the clock is read
//! when the socket timeout fires, so a request costs no clock read for this, and a timeout
//! fires at most one [`IDLE_CHECK_INTERVAL`] late (Redis's check runs from its cron too).

use std::collections::HashMap;
use std::io::{ErrorKind, Read};
use std::net::Shutdown;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::conn_rules::{next_step, session_facts, Facts, Step};
use super::limits::{ACCEPT_ERROR_BACKOFF, DRAIN_POLL_INTERVAL, IDLE_CHECK_INTERVAL, SHUTDOWN_FLUSH_TIMEOUT};
use super::{admit, client_closed, refuse};
use crate::clients::{ConnInfo, Owner};
use crate::net::{Listener, Stream};
use crate::reply::Segments;
use crate::session::Session;
use crate::shared::Shared;

/// Read buffer per connection thread.
const READ_BUF_BYTES: usize = 16 * 1024;
/// Stack per connection thread: the request path is shallow; keeps 10k clients cheap.
const CONN_STACK_BYTES: usize = 256 * 1024;
/// Syscall counts are added to the shared counter every this many calls (and at close), so
/// the baseline is not slowed by a contended atomic.
const SYSCALL_FLUSH_EVERY: u64 = 64;
/// After that, how long shutdown waits for the threads to notice (they only have to return
/// from a failed `write`).
const SHUTDOWN_FORCED_WAIT: Duration = Duration::from_secs(2);

/// Descriptors of the live connections, so shutdown can wake the threads blocked on them.
/// Invariant: a descriptor is in here only while its `Stream` is open (it is removed, under
/// the lock, before the stream is dropped), so a descriptor number reused by a later socket
/// is never shut down by mistake. Holding the number instead of a `dup` keeps the engine at
/// one descriptor per client.
type Registry = Mutex<HashMap<u64, RawFd>>;

/// `shutdown(2)` every registered connection.
fn shutdown_all(registry: &Registry, how: libc::c_int) {
    for &fd in registry.lock().unwrap_or_else(|e| e.into_inner()).values() {
        // SAFETY: by the registry's invariant `fd` is an open socket while we hold the lock.
        unsafe { libc::shutdown(fd, how) };
    }
}

/// Serve until shutdown. Returns once every connection thread has finished.
pub fn serve(shared: &Arc<Shared>, listeners: &[Listener]) -> anyhow::Result<()> {
    shared.set_io("threads", 1);
    let registry: Arc<Registry> = Arc::new(Mutex::new(HashMap::new()));
    {
        let fds: Vec<i32> = listeners.iter().map(Listener::fd).collect();
        let registry = registry.clone();
        shared.on_shutdown(Box::new(move || {
            for &fd in &fds {
                // SAFETY: the listeners outlive the engine (serve borrows them); shutdown on a
                // listening socket wakes a blocked accept with EINVAL on Linux.
                unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
            }
            shutdown_all(&registry, libc::SHUT_RD);
        }));
    }
    std::thread::scope(|scope| {
        for l in listeners {
            let (shared, registry) = (shared.clone(), registry.clone());
            scope.spawn(move || accept_loop(&shared, l, &registry));
        }
    });
    // Accept threads are done; wait (bounded) for connection threads to drain.
    if !wait_for_connections(shared, SHUTDOWN_FLUSH_TIMEOUT) {
        let left = shared.stats.connected_clients.load(Relaxed);
        tracing::warn!(connections = left, "replies not flushed within {SHUTDOWN_FLUSH_TIMEOUT:?}; closing anyway");
        shutdown_all(&registry, libc::SHUT_RDWR);
        if !wait_for_connections(shared, SHUTDOWN_FORCED_WAIT) {
            tracing::warn!("connection threads still running at exit");
        }
    }
    Ok(())
}

/// Wait until no admitted connection is left, at most `limit`. True if none is left.
fn wait_for_connections(shared: &Shared, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if shared.stats.connected_clients.load(Relaxed) == 0 {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(DRAIN_POLL_INTERVAL);
    }
}

fn accept_loop(shared: &Arc<Shared>, listener: &Listener, registry: &Arc<Registry>) {
    loop {
        let accepted = listener.accept();
        if shared.shutting_down() {
            return;
        }
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                std::thread::sleep(ACCEPT_ERROR_BACKOFF);
                continue;
            }
        };
        if let Err(msg) = admit(shared, peer) {
            refuse(stream.fd(), msg);
            continue;
        }
        let io = shared.worker_io(0);
        io.connections.fetch_add(1, Relaxed);
        io.connections_total.fetch_add(1, Relaxed);
        let (shared2, registry2) = (shared.clone(), registry.clone());
        let spawned =
            std::thread::Builder::new().name("ringkv-conn".into()).stack_size(CONN_STACK_BYTES).spawn(move || {
                let mut stream = stream;
                let info = ConnInfo { owner: Owner::Thread, fd: stream.fd() };
                let mut session = Session::for_conn(&shared2, info);
                let id = session.client.id;
                registry2.lock().unwrap_or_else(|e| e.into_inner()).insert(id, stream.fd());
                if shared2.shutting_down() {
                    stream.shutdown(Shutdown::Read);
                }
                serve_connection(&shared2, &mut stream, &mut session);
                registry2.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                session.handle().thread_closing(); // CLIENT KILL must not touch the fd now
                drop(stream); // only now: see Registry
                shared2.worker_io(0).connections.fetch_sub(1, Relaxed);
                client_closed(&shared2);
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not spawn a connection thread");
            io.connections.fetch_sub(1, Relaxed);
            client_closed(shared);
        }
    }
}

fn serve_connection(shared: &Shared, stream: &mut Stream, session: &mut Session) {
    // Wake every IDLE_CHECK_INTERVAL while blocked, so a `timeout` set later applies too.
    let _ = stream.set_timeouts(Some(IDLE_CHECK_INTERVAL));
    let mut buf = vec![0u8; READ_BUF_BYTES];
    let mut syscalls = 0u64;
    let mut peer_eof = false;
    let mut idle = Idle::new();
    loop {
        // Writes block until done, so a write can always start and output is flushed once
        // nothing is unsent.
        let killed = session.pull_remote();
        let facts = Facts {
            killed,
            can_send: true,
            flushed: session.out.is_empty(),
            peer_eof,
            draining: shared.shutting_down(),
            ..session_facts(session, shared, false)
        };
        match next_step(facts) {
            Step::Send => {
                if let Err(e) = write_all(shared, stream, session.out.segments(), &mut syscalls, &mut idle) {
                    note_timeout(shared, &e);
                    break;
                }
                session.output_sent();
            }
            Step::Resume => session.resume(shared),
            Step::Read => {
                if let Some(efd) = session.handle().thread_wake_fd() {
                    // Output may come from elsewhere (subscribed, monitoring): wait for
                    // either the socket or the connection's eventfd.
                    syscalls += 1;
                    match wait_for_input(stream.fd(), efd) {
                        Ok(true) => {}
                        Ok(false) => {
                            syscalls += 1;
                            drain_eventfd(efd);
                            continue;
                        }
                        Err(e) => {
                            note_timeout(shared, &e);
                            break;
                        }
                    }
                }
                syscalls += 1;
                match stream.read(&mut buf) {
                    Ok(0) => peer_eof = true,
                    Ok(n) => {
                        idle.active = true;
                        session.feed(shared, &buf[..n]);
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) if is_timeout(&e) && !idle.expired(shared) => {}
                    Err(e) => {
                        note_timeout(shared, &e);
                        break;
                    }
                }
            }
            // Wait cannot happen with blocking writes (output is always flushed first).
            Step::Close | Step::Wait => break,
        }
        if syscalls >= SYSCALL_FLUSH_EVERY {
            shared.worker_io(0).syscalls.fetch_add(syscalls, Relaxed);
            syscalls = 0;
        }
    }
    shared.worker_io(0).syscalls.fetch_add(syscalls, Relaxed);
}

/// The socket timeout fired (a wake-up every [`IDLE_CHECK_INTERVAL`] while blocked).
fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// How long a connection has been idle (no input read, no output accepted), read only when
/// its socket timeout fires.
struct Idle {
    /// No activity is known since this instant (or since the timeout that set it).
    since: Instant,
    /// Activity happened after `since` was taken.
    active: bool,
}

impl Idle {
    fn new() -> Idle {
        Idle { since: Instant::now(), active: false }
    }

    /// The socket timeout fired: true when `timeout` is set and the client has been idle for
    /// that long. Activity since the last check restarts the count from now: the socket sat
    /// idle for one [`IDLE_CHECK_INTERVAL`] before this wake-up, so the client is closed at
    /// most that much later than its last activity plus `timeout`.
    fn expired(&mut self, shared: &Shared) -> bool {
        if std::mem::take(&mut self.active) {
            self.since = Instant::now();
            return false;
        }
        let timeout_s = shared.tunables.timeout_s();
        timeout_s > 0 && self.since.elapsed() >= Duration::from_secs(timeout_s)
    }
}

/// A socket timeout is the idle `--timeout` expiring: count it for INFO.
fn note_timeout(shared: &Shared, e: &std::io::Error) {
    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
        shared.stats.timedout_clients.fetch_add(1, Relaxed);
    }
}

/// Write all of `segs` (vectored when replies reference values), counting each write call.
/// A client that accepts nothing for `timeout` seconds is given up on.
fn write_all(
    shared: &Shared,
    stream: &mut Stream,
    segs: &Segments,
    syscalls: &mut u64,
    idle: &mut Idle,
) -> std::io::Result<()> {
    let mut sent = 0;
    while sent < segs.len() {
        *syscalls += 1;
        match super::write_segments(stream, segs, sent) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => {
                sent += n;
                idle.active = true;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) && !idle.expired(shared) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Wait until the socket has input (true) or the connection's eventfd was written (false:
/// output from elsewhere is waiting). The socket's idle `--timeout` applies as for a read.
fn wait_for_input(sock: RawFd, efd: RawFd) -> std::io::Result<bool> {
    let mut fds = [
        libc::pollfd { fd: sock, events: libc::POLLIN, revents: 0 },
        libc::pollfd { fd: efd, events: libc::POLLIN, revents: 0 },
    ];
    loop {
        // SAFETY: `fds` is a valid array of two pollfd for the duration of the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        // Socket first: its replies are due before the mail (both are sent in order anyway).
        return Ok(fds[0].revents != 0 || fds[1].revents == 0);
    }
}

/// Reset the connection's eventfd after a wake-up.
fn drain_eventfd(efd: RawFd) {
    let mut counter = 0u64;
    // SAFETY: reading 8 bytes into a u64 from a non-blocking eventfd the handle owns.
    unsafe { libc::read(efd, (&mut counter as *mut u64).cast(), 8) };
}
