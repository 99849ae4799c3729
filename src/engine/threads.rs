//! The `threads` engine: the seed program's design done carefully. One blocking OS thread
//! per connection; each thread reads into a buffer, runs every complete request in it, and
//! writes all the replies of that batch with one `write` (so a pipeline of N requests costs
//! one read and one write, not N of each). An accept thread per listener.
//!
//! Shutdown: listeners and client sockets are shut down for reading, which wakes every
//! blocked `accept`/`read`; each connection thread has already written everything it
//! produced (it writes before it reads again), so it just exits.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{admit, client_closed, refuse, Listener, Stream};
use crate::session::Session;
use crate::shared::Shared;

/// Read buffer per connection thread.
const READ_BUF_BYTES: usize = 16 * 1024;
/// Stack per connection thread: the request path is shallow; keeps 10k clients cheap.
const CONN_STACK_BYTES: usize = 256 * 1024;
/// Syscall counts are added to the shared counter every this many calls (and at close), so
/// the baseline is not slowed by a contended atomic.
const SYSCALL_FLUSH_EVERY: u64 = 64;
/// After an accept error such as EMFILE, wait this long before trying again.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(10);

type Registry = Mutex<HashMap<u64, Stream>>;

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
            for s in registry.lock().unwrap_or_else(|e| e.into_inner()).values() {
                s.shutdown(Shutdown::Read);
            }
        }));
    }
    std::thread::scope(|scope| {
        for l in listeners {
            let (shared, registry) = (shared.clone(), registry.clone());
            scope.spawn(move || accept_loop(&shared, l, &registry));
        }
    });
    // Accept threads are done; wait for connection threads to drain.
    while shared.stats.connected_clients.load(Relaxed) > 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
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
                let mut session = Session::new(&shared2);
                let id = session.client.id;
                if let Ok(clone) = stream.try_clone() {
                    registry2.lock().unwrap_or_else(|e| e.into_inner()).insert(id, clone);
                }
                if shared2.shutting_down() {
                    stream.shutdown(Shutdown::Read);
                }
                serve_connection(&shared2, stream, &mut session);
                registry2.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
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

fn serve_connection(shared: &Shared, mut stream: Stream, session: &mut Session) {
    let timeout = shared.config.timeout;
    if timeout > 0 {
        let t = Some(Duration::from_secs(timeout));
        let _ = match &stream {
            Stream::Unix(s) => s.set_read_timeout(t),
            Stream::Tcp(s) => s.set_read_timeout(t),
        };
    }
    let mut buf = vec![0u8; READ_BUF_BYTES];
    let mut syscalls = 0u64;
    loop {
        if !session.out.is_empty() {
            if !write_all(&mut stream, &session.out, &mut syscalls) {
                break;
            }
            session.out.clear();
        }
        if session.close_reason().is_some() {
            break;
        }
        if session.has_held_input() {
            session.resume(shared);
            continue;
        }
        syscalls += 1;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => session.feed(shared, &buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                shared.stats.timedout_clients.fetch_add(1, Relaxed);
                break;
            }
            Err(_) => break,
        }
        if syscalls >= SYSCALL_FLUSH_EVERY {
            shared.worker_io(0).syscalls.fetch_add(syscalls, Relaxed);
            syscalls = 0;
        }
    }
    shared.worker_io(0).syscalls.fetch_add(syscalls, Relaxed);
}

/// Write all of `buf`, counting each write call. False if the connection failed.
fn write_all(stream: &mut Stream, mut buf: &[u8], syscalls: &mut u64) -> bool {
    while !buf.is_empty() {
        *syscalls += 1;
        match stream.write(buf) {
            Ok(0) => return false,
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
    true
}
