//! Connections as the rest of the server sees them, and output produced for a connection
//! somewhere else: pub/sub messages, MONITOR lines, CLIENT KILL (and, later, woken blocking
//! pops). One mechanism for all of them, on every engine.
//!
//! Every connection registers a [`ClientHandle`] in the [`Clients`] registry (CLIENT LIST,
//! CLIENT KILL, PUBLISH find it there). Only the connection's owner (its worker, or its own
//! thread in the `threads` engine) touches its `Session`; anyone else who has output for it
//! appends the bytes to the handle's mailbox and calls [`Clients::notify`]:
//!
//! ```text
//!   publisher (any worker)                         owner worker
//!   ─────────────────────                         ────────────
//!   handle.mail += bytes  (FIFO, one mutex)
//!   inbox[owner].queue.push(handle)
//!   if !inbox.signaled.swap(true) ──wake()──►  eventfd read completes (uring) /
//!                                              mio Waker (epoll)
//!                                              inbox.take() → for each handle: find the
//!                                              connection (handle.local), session.pull_remote()
//!                                              appends the mail to its output, then the
//!                                              connection rules send it
//! ```
//!
//! Cost: nothing on the request path of a client nobody sends to; per delivery one mutex on
//! the target's mailbox and its worker's queue, and at most one wake-up syscall per worker
//! until that worker has drained its inbox (the `signaled` flag coalesces them). A
//! threads-engine connection has no event loop: once it may receive output from elsewhere
//! (subscribed, monitoring) it gets an eventfd of its own and waits in `poll` on the socket
//! and that eventfd instead of a blocking read; CLIENT KILL of a threads connection shuts its
//! socket down, which wakes the blocked read.
//!
//! Order: bytes for one connection are appended under one mutex, so messages from one
//! publisher arrive in publish order. Bound: a subscriber that stops reading is disconnected
//! by the pub/sub class of `client-output-buffer-limit` (hard limit, or soft limit held for
//! its seconds), checked on every delivery against mailbox plus pending output.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// Registry shards: CLIENT LIST walks all of them, registration locks one.
const REGISTRY_SHARDS: usize = 16;

/// Who runs a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// Worker `i` of an event-loop engine (uring, epoll).
    Worker(usize),
    /// Its own thread (threads engine, tests).
    Thread,
}

/// What an engine knows about a new connection. Addresses are read from the descriptor
/// when first shown (CLIENT LIST, MONITOR), so accepting costs no extra syscall.
#[derive(Clone, Copy, Debug)]
pub struct ConnInfo {
    pub owner: Owner,
    pub fd: RawFd,
}

impl ConnInfo {
    /// A connection no engine owns (unit tests, tools).
    pub fn detached() -> ConnInfo {
        ConnInfo { owner: Owner::Thread, fd: -1 }
    }
}

/// Output for the connection from elsewhere, not yet taken by its owner.
#[derive(Default)]
struct Mail {
    bytes: Vec<u8>,
    /// When the pending output first went over the soft limit (Unix ms), 0 = not over.
    soft_since_ms: u64,
}

/// What CLIENT LIST shows that only the owner knows, published by it once per batch of
/// requests (not per command).
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub db: usize,
    pub name: Option<Box<[u8]>>,
    /// Last command's full name (`client|list`).
    pub cmd: &'static str,
    pub last_ms: u64,
    pub resp: u8,
    pub sub: usize,
    pub psub: usize,
    pub ssub: usize,
    /// Queued commands in MULTI, -1 outside a transaction.
    pub multi: i64,
    pub monitor: bool,
    pub pending_out: usize,
}

/// A connection as seen from anywhere in the server.
pub struct ClientHandle {
    pub id: u64,
    pub owner: Owner,
    pub fd: RawFd,
    pub created_ms: u64,
    addr: OnceLock<Box<str>>,
    laddr: OnceLock<Box<str>>,
    /// Where the owner keeps the connection (uring/epoll: slab slot and generation), set by
    /// the owner when it stores the connection.
    pub local: AtomicU64,
    snapshot: Mutex<Snapshot>,
    mail: Mutex<Mail>,
    has_mail: AtomicBool,
    killed: AtomicBool,
    /// Threads engine: eventfd the connection thread polls once it may receive output from
    /// elsewhere, and whether its socket is still open (CLIENT KILL shuts it down).
    thread_wake: OnceLock<OwnedFd>,
    thread_open: Mutex<bool>,
}

impl ClientHandle {
    /// Peer address as Redis prints it: `ip:port`, or `path:0` for a Unix-socket client.
    pub fn addr(&self) -> &str {
        self.addr.get_or_init(|| crate::net::fd_label(self.fd, true).into())
    }

    /// Local address, same format.
    pub fn laddr(&self) -> &str {
        self.laddr.get_or_init(|| crate::net::fd_label(self.fd, false).into())
    }

    fn lock_snapshot(&self) -> MutexGuard<'_, Snapshot> {
        self.snapshot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The owner publishes what CLIENT LIST shows.
    pub fn publish(&self, update: impl FnOnce(&mut Snapshot)) {
        update(&mut self.lock_snapshot());
    }

    pub fn snapshot(&self) -> Snapshot {
        self.lock_snapshot().clone()
    }

    /// True if output from elsewhere is waiting (one relaxed load: the owner checks this
    /// whenever it services the connection).
    pub fn has_mail(&self) -> bool {
        self.has_mail.load(Acquire)
    }

    /// Owner: take the waiting output.
    pub fn take_mail(&self) -> Vec<u8> {
        let mut mail = self.mail.lock().unwrap_or_else(|e| e.into_inner());
        self.has_mail.store(false, Relaxed);
        std::mem::take(&mut mail.bytes)
    }

    /// Set by CLIENT KILL, an output-buffer limit, or shutdown: the owner closes the
    /// connection at once.
    pub fn killed(&self) -> bool {
        self.killed.load(Acquire)
    }

    /// Threads engine: the eventfd to poll beside the socket, once the connection may get
    /// output from elsewhere.
    pub fn thread_wake_fd(&self) -> Option<RawFd> {
        self.thread_wake.get().map(|fd| fd.as_raw_fd())
    }

    /// Owner (threads engine): the socket is about to be closed; nobody may shut it down
    /// from now on.
    pub fn thread_closing(&self) {
        *self.thread_open.lock().unwrap_or_else(|e| e.into_inner()) = false;
    }

    /// Owner: make sure output from elsewhere can wake this connection (threads engine:
    /// create its eventfd). Called before subscribing or monitoring.
    pub fn enable_remote_output(&self) {
        if self.owner == Owner::Thread && self.thread_wake.get().is_none() {
            // SAFETY: plain eventfd(2); the result is checked before use.
            let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
            if fd >= 0 {
                // SAFETY: `fd` is a fresh descriptor we own.
                let _ = self.thread_wake.set(unsafe { OwnedFd::from_raw_fd(fd) });
            } else {
                tracing::warn!(error = %std::io::Error::last_os_error(), "eventfd for a threads-engine client");
            }
        }
    }
}

/// A worker's queue of connections that have mail or were killed.
#[derive(Default)]
pub struct Inbox {
    queue: Mutex<Vec<Arc<ClientHandle>>>,
    signaled: AtomicBool,
    wake: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

impl Inbox {
    /// Owner: the connections to look at. Clears the signal first, so a delivery racing
    /// with this call signals again.
    pub fn take(&self) -> Vec<Arc<ClientHandle>> {
        self.signaled.store(false, Release);
        std::mem::take(&mut *self.queue.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

pub use crate::config::OutputLimit;

/// Every connection, the per-worker inboxes, and the connections in MONITOR mode.
pub struct Clients {
    shards: Vec<Mutex<HashMap<u64, Arc<ClientHandle>>>>,
    inboxes: OnceLock<Vec<Inbox>>,
    monitors: Mutex<Vec<Arc<ClientHandle>>>,
    /// Number of monitors: one relaxed load per command tells whether to feed them.
    monitor_count: AtomicUsize,
    /// Subscribers disconnected by the output buffer limit (INFO stats).
    pub output_limit_disconnections: AtomicU64,
    /// Bytes delivered to connections from elsewhere (pub/sub messages, MONITOR lines), part
    /// of INFO's `total_net_output_bytes`. Striped: every PUBLISH fan-out adds to it.
    pub delivered_bytes: crate::counter::StripedCounter,
}

impl Default for Clients {
    fn default() -> Self {
        Clients {
            shards: (0..REGISTRY_SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            inboxes: OnceLock::new(),
            monitors: Mutex::new(Vec::new()),
            monitor_count: AtomicUsize::new(0),
            output_limit_disconnections: AtomicU64::new(0),
            delivered_bytes: Default::default(),
        }
    }
}

impl Clients {
    fn shard(&self, id: u64) -> MutexGuard<'_, HashMap<u64, Arc<ClientHandle>>> {
        self.shards[id as usize % REGISTRY_SHARDS].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called by the serving engine once: one inbox per worker.
    pub fn set_workers(&self, workers: usize) {
        let _ = self.inboxes.set((0..workers).map(|_| Inbox::default()).collect());
    }

    /// Worker `i` registers how it is woken (eventfd write, mio Waker).
    pub fn on_mail(&self, worker: usize, wake: Box<dyn Fn() + Send + Sync>) {
        if let Some(inbox) = self.inbox(worker) {
            let _ = inbox.wake.set(wake);
        }
    }

    pub fn inbox(&self, worker: usize) -> Option<&Inbox> {
        self.inboxes.get().and_then(|v| v.get(worker))
    }

    /// Register a new connection.
    pub fn register(&self, id: u64, info: ConnInfo, now_ms: u64) -> Arc<ClientHandle> {
        let handle = Arc::new(ClientHandle {
            id,
            owner: info.owner,
            fd: info.fd,
            addr: OnceLock::new(),
            laddr: OnceLock::new(),
            created_ms: now_ms,
            local: AtomicU64::new(u64::MAX),
            snapshot: Mutex::new(Snapshot {
                db: 0,
                name: None,
                cmd: "NULL",
                last_ms: now_ms,
                resp: 2,
                sub: 0,
                psub: 0,
                ssub: 0,
                multi: -1,
                monitor: false,
                pending_out: 0,
            }),
            mail: Mutex::new(Mail::default()),
            has_mail: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            thread_wake: OnceLock::new(),
            thread_open: Mutex::new(true),
        });
        self.shard(id).insert(id, handle.clone());
        handle
    }

    /// A connection is gone.
    pub fn unregister(&self, handle: &ClientHandle) {
        self.shard(handle.id).remove(&handle.id);
        self.set_monitor(handle, false);
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientHandle>> {
        self.shard(id).get(&id).cloned()
    }

    /// How many connections there are and the reply bytes they have waiting to be sent
    /// (MEMORY STATS `clients.normal`): one lock per registry shard and per client, nothing
    /// copied.
    pub fn output_totals(&self) -> (usize, usize) {
        let (mut count, mut bytes) = (0, 0);
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            count += shard.len();
            bytes += shard.values().map(|h| h.lock_snapshot().pending_out).sum::<usize>();
        }
        (count, bytes)
    }

    /// Every connection, ordered by id (CLIENT LIST order).
    pub fn all(&self) -> Vec<Arc<ClientHandle>> {
        let mut all: Vec<_> = self
            .shards
            .iter()
            .flat_map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect::<Vec<_>>())
            .collect();
        all.sort_by_key(|h| h.id);
        all
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Append `bytes` to the connection's output from elsewhere and wake its owner. With a
    /// `limit`, a connection whose output would pass it is killed instead (counted).
    pub fn deliver(&self, to: &Arc<ClientHandle>, bytes: &[u8], limit: Option<(OutputLimit, u64)>) {
        if to.killed() {
            return;
        }
        {
            let mut mail = to.mail.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((limit, now_ms)) = limit {
                let pending = to.lock_snapshot().pending_out as u64;
                let total = pending + (mail.bytes.len() + bytes.len()) as u64;
                if over_limit(&limit, total, &mut mail.soft_since_ms, now_ms) {
                    drop(mail);
                    self.output_limit_disconnections.fetch_add(1, Relaxed);
                    tracing::info!(client = to.id, addr = %to.addr(), "client scheduled to be closed ASAP for overcoming of output buffer limits");
                    return self.kill(to);
                }
            }
            mail.bytes.extend_from_slice(bytes);
            to.has_mail.store(true, Release);
            self.delivered_bytes.fetch_add(bytes.len() as u64, Relaxed);
        }
        self.notify(to);
    }

    /// Append `bytes` to the connection's output from elsewhere without waking its owner
    /// yet: the caller marks what the owner should see with them, then calls
    /// [`Clients::wake_owner`] (a reply that ends a client's wait, see
    /// [`crate::blocking::Waiter::complete`]).
    pub fn append_mail(&self, to: &Arc<ClientHandle>, bytes: &[u8]) {
        if to.killed() {
            return;
        }
        let mut mail = to.mail.lock().unwrap_or_else(|e| e.into_inner());
        mail.bytes.extend_from_slice(bytes);
        to.has_mail.store(true, Release);
        self.delivered_bytes.fetch_add(bytes.len() as u64, Relaxed);
    }

    /// Wake the owner of `to` so it looks at the connection (after [`Clients::append_mail`]).
    pub fn wake_owner(&self, to: &Arc<ClientHandle>) {
        self.notify(to);
    }

    /// Close the connection as soon as its owner sees it (CLIENT KILL).
    pub fn kill(&self, to: &Arc<ClientHandle>) {
        to.killed.store(true, Release);
        if to.owner == Owner::Thread {
            let open = to.thread_open.lock().unwrap_or_else(|e| e.into_inner());
            if *open && to.fd >= 0 {
                // SAFETY: while `thread_open` is true (checked under its lock) the owner has
                // not closed the socket, so `fd` is still this connection's descriptor.
                unsafe { libc::shutdown(to.fd, libc::SHUT_RDWR) };
            }
        }
        self.notify(to);
    }

    /// Wake the owner of `to` so it looks at the connection.
    fn notify(&self, to: &Arc<ClientHandle>) {
        match to.owner {
            Owner::Worker(i) => {
                let Some(inbox) = self.inbox(i) else { return };
                inbox.queue.lock().unwrap_or_else(|e| e.into_inner()).push(to.clone());
                if !inbox.signaled.swap(true, Release) {
                    if let Some(wake) = inbox.wake.get() {
                        wake();
                    }
                }
            }
            Owner::Thread => {
                if let Some(fd) = to.thread_wake_fd() {
                    let one: u64 = 1;
                    // SAFETY: the eventfd is owned by the handle we hold; `one` is 8 bytes.
                    unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
                }
            }
        }
    }

    /// Start or stop feeding `handle` every command (MONITOR).
    pub fn set_monitor(&self, handle: &ClientHandle, on: bool) {
        let mut monitors = self.monitors.lock().unwrap_or_else(|e| e.into_inner());
        let had = monitors.iter().position(|m| m.id == handle.id);
        match (had, on) {
            (None, true) => {
                if let Some(h) = self.get(handle.id) {
                    monitors.push(h);
                }
            }
            (Some(i), false) => {
                monitors.remove(i);
            }
            _ => {}
        }
        self.monitor_count.store(monitors.len(), Release);
    }

    /// True when some connection is in MONITOR mode.
    pub fn monitoring(&self) -> bool {
        self.monitor_count.load(Relaxed) > 0
    }

    /// Send a MONITOR line to every monitor (built only when there is one).
    pub fn feed_monitors(&self, line: impl FnOnce() -> Vec<u8>) {
        let monitors = self.monitors.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if monitors.is_empty() {
            return;
        }
        let line = line();
        for m in &monitors {
            self.deliver(m, &line, None);
        }
    }
}

/// Redis's `checkClientOutputBufferLimits`: over the hard limit at once, or over the soft
/// limit for longer than its seconds.
fn over_limit(limit: &OutputLimit, total: u64, soft_since_ms: &mut u64, now_ms: u64) -> bool {
    if limit.hard_bytes > 0 && total >= limit.hard_bytes {
        return true;
    }
    if limit.soft_bytes > 0 && total >= limit.soft_bytes {
        if *soft_since_ms == 0 {
            *soft_since_ms = now_ms;
            return false;
        }
        return now_ms.saturating_sub(*soft_since_ms) >= limit.soft_seconds * 1000;
    }
    *soft_since_ms = 0;
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_limit_follows_redis() {
        let limit = OutputLimit { hard_bytes: 100, soft_bytes: 50, soft_seconds: 2 };
        let mut since = 0;
        assert!(!over_limit(&limit, 10, &mut since, 1000));
        assert!(!over_limit(&limit, 60, &mut since, 1000), "soft limit starts a timer");
        assert_eq!(since, 1000);
        assert!(!over_limit(&limit, 60, &mut since, 2999));
        assert!(over_limit(&limit, 60, &mut since, 3000), "soft limit held for its seconds");
        let mut since = 0;
        assert!(!over_limit(&limit, 60, &mut since, 1000));
        assert!(!over_limit(&limit, 10, &mut since, 1500));
        assert_eq!(since, 0, "dropping under the soft limit resets the timer");
        assert!(over_limit(&limit, 100, &mut since, 1500), "hard limit at once");
        assert!(!over_limit(&OutputLimit::default(), u64::MAX, &mut since, 0), "0 = no limit");
    }

    #[test]
    fn deliveries_keep_order_and_coalesce_wakeups() {
        let clients = Clients::default();
        clients.set_workers(2);
        let wakes = Arc::new(AtomicUsize::new(0));
        let w = wakes.clone();
        clients.on_mail(
            1,
            Box::new(move || {
                w.fetch_add(1, Relaxed);
            }),
        );
        let info = ConnInfo { owner: Owner::Worker(1), ..ConnInfo::detached() };
        let h = clients.register(7, info, 0);
        for i in 0..10u8 {
            clients.deliver(&h, &[i], None);
        }
        assert_eq!(wakes.load(Relaxed), 1, "one wake until the worker drains its inbox");
        let queued = clients.inbox(1).unwrap().take();
        assert_eq!(queued.len(), 10);
        assert!(h.has_mail());
        assert_eq!(h.take_mail(), (0..10u8).collect::<Vec<_>>());
        assert!(!h.has_mail());
        clients.deliver(&h, b"x", None);
        assert_eq!(wakes.load(Relaxed), 2, "signaled again after the drain");
        clients.unregister(&h);
        assert!(clients.get(7).is_none());
    }

    #[test]
    fn hard_limit_kills_and_counts() {
        let clients = Clients::default();
        let h = clients.register(1, ConnInfo::detached(), 0);
        let limit = Some((OutputLimit { hard_bytes: 8, soft_bytes: 0, soft_seconds: 0 }, 0));
        clients.deliver(&h, b"1234", limit);
        assert!(!h.killed());
        clients.deliver(&h, b"5678", limit);
        assert!(h.killed());
        assert_eq!(clients.output_limit_disconnections.load(Relaxed), 1);
        assert_eq!(h.take_mail(), b"1234");
    }

    #[test]
    fn monitors_are_counted() {
        let clients = Clients::default();
        let h = clients.register(3, ConnInfo::detached(), 0);
        assert!(!clients.monitoring());
        clients.set_monitor(&h, true);
        clients.set_monitor(&h, true);
        assert!(clients.monitoring());
        clients.feed_monitors(|| b"+line\r\n".to_vec());
        assert_eq!(h.take_mail(), b"+line\r\n");
        clients.unregister(&h);
        assert!(!clients.monitoring());
    }
}
