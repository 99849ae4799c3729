//! Clients blocked on keys (BLPOP, BLMOVE, BZPOPMIN, …), as Redis's `blocked.c`: a per-key
//! FIFO of waiters, served after the command that made the key ready, by whoever ran that
//! command, in the order the waiters blocked.
//!
//! A blocking command first tries to pop like its non-blocking form. If nothing is there it
//! registers a [`Waiter`] under every key it waits on and its session stops running requests
//! (it keeps reading, so a disconnect is seen). Then exactly one of these ends the wait, under
//! the waiter's own lock, so a waiter is served at most once:
//! - a push (any worker): `Ctx::key_ready` → [`Blocking::signal`] serves the key's waiters in
//!   FIFO order by running their pop *on their behalf* against the store and delivering the
//!   reply to their connection through [`crate::clients`] (mailbox + owner wake-up), until the
//!   key runs dry;
//! - the deadline: the timer thread delivers the timeout reply (a null);
//! - CLIENT UNBLOCK (null, or `-UNBLOCKED ...`);
//! - the connection closing (the waiter is cancelled and removed).
//!
//! No polling: wake-ups are delivered. A push with nobody waiting anywhere costs one relaxed
//! load ([`Blocking::signal`] returns at once while no client is blocked). The race between a
//! client registering and a push in between is closed by a second try after registering.

use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use crate::clients::{ClientHandle, Clients};
use crate::reply::{Out, Proto};

/// Longest the timer thread sleeps before it looks at the deadlines and the shutdown flag
/// again (a new earlier deadline wakes it sooner).
const TIMER_IDLE_WAIT: Duration = Duration::from_millis(100);
/// Most waiters one signal serves before it stops (a key refilled while being served keeps
/// the rest for the next push); bounds the work a single push does on behalf of others.
const SERVE_PER_SIGNAL_MAX: usize = 4096;

/// Keys made ready while waiters are being served on this thread (see [`Blocking::signal`]);
/// `None` outside a signal.
type ReadyKeys = std::cell::RefCell<Option<VecDeque<(usize, Box<[u8]>)>>>;

thread_local! {
    static READY_KEYS: ReadyKeys = const { std::cell::RefCell::new(None) };
}

/// Most ready keys one signal serves (a cascade of moves); the rest wait for the next push.
const READY_KEYS_PER_SIGNAL_MAX: usize = 1024;

/// Ends a signal's ready-key list even if serving panicked.
struct ResetReadyKeys;

impl Drop for ResetReadyKeys {
    fn drop(&mut self) {
        let _ = READY_KEYS.try_with(|r| *r.borrow_mut() = None);
    }
}

/// How a wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Blocked,
    Served,
    TimedOut,
    Unblocked,
    Cancelled,
}

/// What to run for a waiter when one of its keys is ready: writes the reply into `out` and
/// returns true if it popped something (false: the keys are empty, keep waiting).
pub type Serve<C> = Box<dyn Fn(&C, &mut Out, u64) -> bool + Send + Sync>;

/// One blocked client.
pub struct Waiter<C: 'static> {
    pub handle: Arc<ClientHandle>,
    pub db: usize,
    pub keys: Vec<Box<[u8]>>,
    pub proto: Proto,
    /// Unix ms, 0 = forever.
    pub deadline_ms: u64,
    /// The timeout reply (Redis: a null array, or a null bulk for BLMOVE/BRPOPLPUSH).
    pub timeout_reply: fn(&mut Out),
    serve: Serve<C>,
    state: Mutex<State>,
    /// Never registered in [`Blocking`]: a client parked while its script runs on the
    /// script executor, ended by [`Waiter::complete`] (or cancelled when it closes).
    detached: bool,
}

impl<C> Waiter<C> {
    pub fn new(
        handle: Arc<ClientHandle>,
        db: usize,
        keys: Vec<Box<[u8]>>,
        proto: Proto,
        deadline_ms: u64,
        timeout_reply: fn(&mut Out),
        serve: Serve<C>,
    ) -> Arc<Waiter<C>> {
        Arc::new(Waiter {
            handle,
            db,
            keys,
            proto,
            deadline_ms,
            timeout_reply,
            serve,
            state: Mutex::new(State::Blocked),
            detached: false,
        })
    }

    /// A waiter no key, deadline or registry knows: its client's requests wait until
    /// [`Waiter::complete`] delivers the reply (a script running on the script executor).
    pub fn detached(handle: Arc<ClientHandle>, db: usize, proto: Proto) -> Arc<Waiter<C>> {
        let never: Serve<C> = Box::new(|_, _, _| false);
        Arc::new(Waiter {
            handle,
            db,
            keys: Vec::new(),
            proto,
            deadline_ms: 0,
            timeout_reply: |_| {},
            serve: never,
            state: Mutex::new(State::Blocked),
            detached: true,
        })
    }

    /// End a detached wait with `reply` (encoded bytes) if the client is still waiting:
    /// the reply is in its mailbox before the wait reads as ended, so its owner never runs a
    /// later request ahead of it. False if the wait had ended (the client closed). The
    /// caller then wakes the owner ([`Clients::wake_owner`]), possibly once for a batch.
    pub fn complete(&self, clients: &Clients, reply: &[u8]) -> bool {
        let mut state = self.lock();
        if *state != State::Blocked {
            return false;
        }
        clients.append_mail(&self.handle, reply);
        *state = State::Served;
        true
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn state(&self) -> State {
        *self.lock()
    }
}

/// (db, key) → waiters in the order they blocked.
type Queues<C> = HashMap<(usize, Box<[u8]>), VecDeque<Arc<Waiter<C>>>, ahash::RandomState>;

/// Deadline heap entry (earliest first).
struct Due<C: 'static>(u64, Weak<Waiter<C>>);

impl<C> PartialEq for Due<C> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl<C> Eq for Due<C> {}
impl<C> PartialOrd for Due<C> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<C> Ord for Due<C> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.0.cmp(&self.0) // a max-heap of reversed deadlines = earliest first
    }
}

/// CLIENT PAUSE: until when (Unix ms, 0 = not paused) and whether every command (ALL) or
/// only writes (WRITE) wait.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pause {
    pub until_ms: u64,
    pub all: bool,
}

/// Every blocked client, by key and by client id, and the timer that times them out.
pub struct Blocking<C: 'static> {
    pause: Mutex<Pause>,
    /// Clients whose command waits for the pause to end (it runs again then).
    postponed: Mutex<Vec<Arc<Waiter<C>>>>,
    /// A pause is or was set: lets every command skip the pause check with one load.
    pause_set: std::sync::atomic::AtomicBool,
    queues: Mutex<Queues<C>>,
    by_client: Mutex<HashMap<u64, Arc<Waiter<C>>>>,
    /// Clients blocked right now: lets a push skip everything while it is 0.
    blocked: AtomicUsize,
    deadlines: Mutex<BinaryHeap<Due<C>>>,
    timer_wake: Condvar,
    timer: OnceLock<()>,
}

impl<C> Default for Blocking<C> {
    fn default() -> Self {
        Blocking {
            pause: Mutex::new(Pause::default()),
            postponed: Mutex::new(Vec::new()),
            pause_set: std::sync::atomic::AtomicBool::new(false),
            queues: Mutex::new(Queues::default()),
            by_client: Mutex::new(HashMap::new()),
            blocked: AtomicUsize::new(0),
            deadlines: Mutex::new(BinaryHeap::new()),
            timer_wake: Condvar::new(),
            timer: OnceLock::new(),
        }
    }
}

impl<C: Send + Sync + 'static> Blocking<C> {
    fn queues(&self) -> MutexGuard<'_, Queues<C>> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Clients blocked right now (INFO `blocked_clients`).
    pub fn blocked_clients(&self) -> usize {
        self.blocked.load(Relaxed)
    }

    /// Register a waiter under each of its keys (FIFO) and its deadline. The caller tries
    /// [`Blocking::serve`] once more afterwards (see the module header).
    pub fn block(self: &Arc<Self>, w: &Arc<Waiter<C>>, clients: &Arc<Clients>) {
        {
            let mut queues = self.queues();
            for key in &w.keys {
                queues.entry((w.db, key.clone())).or_default().push_back(w.clone());
            }
        }
        self.by_client.lock().unwrap_or_else(|e| e.into_inner()).insert(w.handle.id, w.clone());
        self.blocked.fetch_add(1, Relaxed);
        if w.deadline_ms > 0 {
            self.start_timer(clients);
            self.deadlines.lock().unwrap_or_else(|e| e.into_inner()).push(Due(w.deadline_ms, Arc::downgrade(w)));
            self.timer_wake.notify_one();
        }
    }

    /// The keys of `db` some client waits on (SWAPDB signals those that now hold data, as
    /// Redis's `scanDatabaseForReadyKeys`). Empty at the cost of one load while nobody is
    /// blocked.
    pub fn waited_keys(&self, db: usize) -> Vec<Box<[u8]>> {
        if self.blocked.load(Relaxed) == 0 {
            return Vec::new();
        }
        self.queues().keys().filter(|(d, _)| *d == db).map(|(_, key)| key.clone()).collect()
    }

    /// Take `w` out of every queue once its wait ended.
    fn remove(&self, w: &Arc<Waiter<C>>) {
        let mut queues = self.queues();
        for key in &w.keys {
            let k = (w.db, key.clone());
            if let Some(q) = queues.get_mut(&k) {
                q.retain(|x| !Arc::ptr_eq(x, w));
                if q.is_empty() {
                    queues.remove(&k);
                }
            }
        }
        drop(queues);
        if w.keys.is_empty() {
            self.postponed.lock().unwrap_or_else(|e| e.into_inner()).retain(|x| !Arc::ptr_eq(x, w));
        }
        let mut by_client = self.by_client.lock().unwrap_or_else(|e| e.into_inner());
        if by_client.get(&w.handle.id).is_some_and(|x| Arc::ptr_eq(x, w)) {
            by_client.remove(&w.handle.id);
        }
        self.blocked.fetch_sub(1, Relaxed);
    }

    /// End `w`'s wait with `to` if it is still blocked: the reply `reply` writes goes to its
    /// connection. Returns false if the wait had already ended.
    fn finish(&self, w: &Arc<Waiter<C>>, clients: &Clients, to: State, reply: impl FnOnce(&mut Out) -> bool) -> bool {
        let mut state = w.lock();
        if *state != State::Blocked {
            return false;
        }
        let mut out = Out::with_proto(w.proto);
        if !reply(&mut out) {
            return false;
        }
        // The reply is in the mailbox before the wait reads as ended: an owner that sees the
        // end then finds the reply, and runs the client's next requests after it.
        clients.append_mail(&w.handle, &out);
        *state = to;
        drop(state);
        self.remove(w);
        clients.wake_owner(&w.handle);
        true
    }

    /// Try to serve `w` now (its keys may have data): true if it was served.
    pub fn serve(&self, ctx: &C, clients: &Clients, w: &Arc<Waiter<C>>, now_ms: u64) -> bool {
        self.finish(w, clients, State::Served, |out| (w.serve)(ctx, out, now_ms))
    }

    /// `key` in `db` may have become non-empty: serve its waiters in the order they blocked
    /// until one finds nothing.
    pub fn signal(&self, ctx: &C, clients: &Clients, db: usize, key: &[u8], now_ms: u64) {
        if self.blocked.load(Relaxed) == 0 {
            return;
        }
        // Serving a waiter can make another key ready (BLMOVE pushes to its destination).
        // That key is queued and served by the outermost call once the waiter is done, never
        // recursively: a chain of moves (A → B, B → A) would otherwise lock a waiter twice.
        let nested = READY_KEYS.with(|r| match r.borrow_mut().as_mut() {
            Some(pending) => {
                pending.push_back((db, key.into()));
                true
            }
            None => false,
        });
        if nested {
            return;
        }
        READY_KEYS.with(|r| *r.borrow_mut() = Some(VecDeque::from([(db, Box::from(key))])));
        let _reset = ResetReadyKeys;
        for _ in 0..READY_KEYS_PER_SIGNAL_MAX {
            let Some((db, key)) = READY_KEYS.with(|r| r.borrow_mut().as_mut().and_then(VecDeque::pop_front)) else {
                break;
            };
            self.serve_key(ctx, clients, db, &key, now_ms);
        }
    }

    /// Serve `key`'s waiters in the order they blocked until one finds nothing.
    fn serve_key(&self, ctx: &C, clients: &Clients, db: usize, key: &[u8], now_ms: u64) {
        for _ in 0..SERVE_PER_SIGNAL_MAX {
            let first = self.queues().get(&(db, key.into())).and_then(|q| q.front().cloned());
            let Some(w) = first else { return };
            if !self.serve(ctx, clients, &w, now_ms) && w.state() == State::Blocked {
                return; // the key is empty again: the rest keep waiting
            }
        }
    }

    /// CLIENT UNBLOCK: end client `id`'s wait with a null (`error` false) or the UNBLOCKED
    /// error. False if it was not blocked.
    pub fn unblock(&self, clients: &Clients, id: u64, error: bool) -> bool {
        let w = self.by_client.lock().unwrap_or_else(|e| e.into_inner()).get(&id).cloned();
        let Some(w) = w else { return false };
        self.finish(&w, clients, State::Unblocked, |out| {
            if error {
                crate::reply::error(out, "UNBLOCKED client unblocked via CLIENT UNBLOCK");
            } else {
                (w.timeout_reply)(out);
            }
            true
        })
    }

    /// CLIENT PAUSE: from now until `until_ms`, commands of every client (`all`) or only
    /// writes wait. A later pause extends (never shortens) the time, and ALL wins over WRITE.
    pub fn pause(&self, clients: &Arc<Clients>, until_ms: u64, all: bool) {
        let mut p = self.pause.lock().unwrap_or_else(|e| e.into_inner());
        p.all = if p.until_ms > crate::store::now_ms() { p.all || all } else { all };
        p.until_ms = p.until_ms.max(until_ms);
        self.pause_set.store(true, Relaxed);
        let _ = clients;
    }

    /// The pause in force at `now_ms` for a command with `write` effects, if any: its end.
    pub fn paused_until(&self, write: bool, now_ms: u64) -> Option<u64> {
        if !self.pause_set.load(Relaxed) {
            return None;
        }
        let p = *self.pause.lock().unwrap_or_else(|e| e.into_inner());
        (p.until_ms > now_ms && (p.all || write)).then_some(p.until_ms)
    }

    /// Park a client whose command must wait for the pause: it is woken (and runs the
    /// command again) at `until_ms` or on CLIENT UNPAUSE.
    pub fn postpone(self: &Arc<Self>, w: &Arc<Waiter<C>>, clients: &Arc<Clients>) {
        self.postponed.lock().unwrap_or_else(|e| e.into_inner()).push(w.clone());
        self.block(w, clients);
    }

    /// CLIENT UNPAUSE: end the pause and wake every postponed client.
    pub fn unpause(&self, clients: &Clients) {
        *self.pause.lock().unwrap_or_else(|e| e.into_inner()) = Pause::default();
        let postponed = std::mem::take(&mut *self.postponed.lock().unwrap_or_else(|e| e.into_inner()));
        for w in &postponed {
            self.finish(w, clients, State::Unblocked, |_| true);
        }
    }

    /// True while a pause is in force (active expiry waits, as in Redis).
    pub fn paused(&self) -> bool {
        self.paused_until(true, crate::store::now_ms()).is_some()
    }

    /// The client's connection closed while it waited.
    pub fn cancel(&self, w: &Arc<Waiter<C>>) {
        let mut state = w.lock();
        if *state == State::Blocked {
            *state = State::Cancelled;
            drop(state);
            if !w.detached {
                self.remove(w);
            }
        }
    }

    /// Start the timer thread on first use. It holds only a weak reference, so it ends with
    /// the registry (and checks at least every [`TIMER_IDLE_WAIT`]).
    fn start_timer(self: &Arc<Self>, clients: &Arc<Clients>) {
        self.timer.get_or_init(|| {
            let (me, clients) = (Arc::downgrade(self), Arc::downgrade(clients));
            let spawned = std::thread::Builder::new().name("ringkv-blocked".into()).spawn(move || {
                while let (Some(b), Some(c)) = (me.upgrade(), clients.upgrade()) {
                    b.time_out_due(&c);
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start the blocked-clients timer");
            }
        });
    }

    /// One timer round: wait until the earliest deadline (at most TIMER_IDLE_WAIT), then
    /// time out every waiter that is due.
    fn time_out_due(&self, clients: &Clients) {
        let mut heap = self.deadlines.lock().unwrap_or_else(|e| e.into_inner());
        let now = crate::store::now_ms();
        let wait = heap.peek().map_or(TIMER_IDLE_WAIT, |d| Duration::from_millis(d.0.saturating_sub(now)));
        if !wait.is_zero() {
            heap = self.timer_wake.wait_timeout(heap, wait.min(TIMER_IDLE_WAIT)).unwrap_or_else(|e| e.into_inner()).0;
        }
        let now = crate::store::now_ms();
        let mut due = Vec::new();
        while heap.peek().is_some_and(|d| d.0 <= now) {
            due.push(heap.pop().expect("peeked").1);
        }
        drop(heap);
        for w in due.iter().filter_map(Weak::upgrade) {
            self.finish(&w, clients, State::TimedOut, |out| {
                (w.timeout_reply)(out);
                true
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::ConnInfo;
    use crate::config::Config;
    use crate::shared::Shared;
    use std::time::Instant;

    #[test]
    fn detached_waiters_complete_once_mail_first_and_cancel_cleanly() {
        // A detached wait (a script on the executor) is in no registry: completing it mails
        // the reply and ends the wait, once; a cancelled one mails nothing; neither touches
        // the blocked-client count.
        let shared = Shared::new(Config::defaults());
        let blocking: Blocking<Shared> = Blocking::default();
        let handle = shared.clients.register(1, ConnInfo::detached(), 0);
        let w = Waiter::<Shared>::detached(handle.clone(), 0, Proto::Resp2);
        assert_eq!(w.state(), State::Blocked);
        assert!(w.complete(&shared.clients, b":1\r\n"));
        assert_eq!(w.state(), State::Served);
        assert!(!w.complete(&shared.clients, b":2\r\n"), "completed twice");
        assert_eq!(handle.take_mail(), b":1\r\n");
        let w = Waiter::<Shared>::detached(handle.clone(), 0, Proto::Resp2);
        blocking.cancel(&w);
        assert_eq!(w.state(), State::Cancelled);
        assert!(!w.complete(&shared.clients, b":3\r\n"));
        assert!(!handle.has_mail());
        assert_eq!(blocking.blocked_clients(), 0);
    }

    fn waiter(
        clients: &Clients,
        id: u64,
        key: &str,
        deadline_ms: u64,
        stock: Arc<Mutex<Vec<u8>>>,
    ) -> Arc<Waiter<Shared>> {
        let handle = clients.register(id, ConnInfo::detached(), 0);
        let serve: Serve<Shared> = Box::new(move |_, out, _| match stock.lock().unwrap().pop() {
            Some(b) => {
                crate::reply::integer(out, i64::from(b));
                true
            }
            None => false,
        });
        Waiter::new(handle, 0, vec![key.as_bytes().into()], Proto::Resp2, deadline_ms, crate::reply::null_array, serve)
    }

    #[test]
    fn waiters_are_served_fifo_once_and_only_while_there_is_data() {
        let shared = Shared::new(Config::defaults());
        let clients = shared.clients.clone();
        let b = Arc::new(Blocking::<Shared>::default());
        let stock = Arc::new(Mutex::new(Vec::new()));
        let ws: Vec<_> = (1..=3).map(|i| waiter(&clients, i, "k", 0, stock.clone())).collect();
        for w in &ws {
            b.block(w, &clients);
        }
        assert_eq!(b.blocked_clients(), 3);
        b.signal(&shared, &clients, 0, b"k", 0);
        assert!(ws.iter().all(|w| w.state() == State::Blocked), "nothing to serve");
        stock.lock().unwrap().extend([7, 8]);
        b.signal(&shared, &clients, 0, b"k", 0);
        assert_eq!(ws.iter().map(|w| w.state()).collect::<Vec<_>>(), [State::Served, State::Served, State::Blocked]);
        assert_eq!(ws[0].handle.take_mail(), b":8\r\n");
        assert_eq!(ws[1].handle.take_mail(), b":7\r\n");
        assert!(!b.serve(&shared, &clients, &ws[0], 0), "served once");
        assert!(b.unblock(&clients, 3, true));
        assert_eq!(ws[2].handle.take_mail(), b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n");
        assert!(!b.unblock(&clients, 3, false));
        assert_eq!(b.blocked_clients(), 0);
        assert!(b.queues().is_empty(), "no queue left behind");
    }

    #[test]
    fn waited_keys_lists_each_key_of_a_db_once() {
        let shared = Shared::new(Config::defaults());
        let clients = shared.clients.clone();
        let b = Arc::new(Blocking::<Shared>::default());
        assert!(b.waited_keys(0).is_empty());
        let stock = Arc::new(Mutex::new(Vec::new()));
        let ws = [waiter(&clients, 1, "x", 0, stock.clone()), waiter(&clients, 2, "x", 0, stock.clone())];
        let y = waiter(&clients, 3, "y", 0, stock);
        for w in ws.iter().chain([&y]) {
            b.block(w, &clients);
        }
        let mut keys = b.waited_keys(0);
        keys.sort();
        assert_eq!(keys, [Box::from(&b"x"[..]), Box::from(&b"y"[..])]);
        assert!(b.waited_keys(1).is_empty(), "another db");
        for w in ws.iter().chain([&y]) {
            b.cancel(w);
        }
        assert!(b.waited_keys(0).is_empty());
    }

    #[test]
    fn deadlines_time_out_and_cancel_removes() {
        let clients = Arc::new(Clients::default());
        let b = Arc::new(Blocking::<Shared>::default());
        let stock = Arc::new(Mutex::new(Vec::new()));
        let soon = waiter(&clients, 1, "a", crate::store::now_ms() + 50, stock.clone());
        let never = waiter(&clients, 2, "a", 0, stock);
        b.block(&soon, &clients);
        b.block(&never, &clients);
        let deadline = Instant::now() + Duration::from_secs(10);
        while soon.state() == State::Blocked && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(soon.state(), State::TimedOut);
        assert_eq!(soon.handle.take_mail(), b"*-1\r\n");
        b.cancel(&never);
        assert_eq!(never.state(), State::Cancelled);
        assert_eq!(b.blocked_clients(), 0);
        assert!(b.queues().is_empty());
    }
}
