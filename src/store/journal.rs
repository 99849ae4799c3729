//! The change journal: puts every modification of the keyspace, made by any worker, into one
//! total order that replays to the state clients saw, and is the dirty counter (Redis's
//! `server.dirty`) that save points and "propagate only what changed" read.
//!
//! # Design
//!
//! Several workers apply writes at once, each under the locks of the shards it touches. The
//! order that matters is the order in which two writes to the same key were applied, and that
//! order is decided while a shard lock is held. So the journal takes a **sequence number
//! under the shard lock**: the store's single modification funnel (`Shard::touch`, the same
//! hook WATCH uses) calls [`Journal::note_change`], which takes the next number from one
//! atomic counter the first time the running unit of work modifies something inside a given
//! lock section (a section is one acquisition of shard locks: `Store::with_key`,
//! `with_keys`, a flush step...). A unit is one command, one EXEC with its queue, or one
//! active-expiry slice; the thread running it keeps its numbers in a thread-local [`Unit`].
//!
//! When the unit ends, what it changed is handed to the journal ([`Journal::fill`]) as
//! *pieces*: the command as the AOF must replay it (rewritten by `cmd::propagate`) at the
//! unit's highest number, and a `DEL` for every key found expired at the number of the section
//! that removed it. Every number the unit took is marked filled, with or without pieces. The
//! journal releases filled numbers strictly in order: a number is released only once every
//! lower number is filled. Released pieces are encoded into the pending AOF bytes, with a
//! `SELECT` whenever the database differs from the last one written.
//!
//! # Lanes: filling without a shared lock
//!
//! A thread fills into its own *lane* (numbers and pieces appended in the order it filled
//! them: ascending, since a thread takes its numbers one unit after the other). Only the
//! consumer, whoever takes the pending bytes (the AOF writer every 10 ms, or the worker that
//! flushes for `appendfsync always`), locks the lanes, under the order's lock: it swaps each
//! lane's buffer for an empty one and merges the taken runs by number (a k-way merge) for as
//! long as the next number is there. A number still held by a unit (or filled into a lane
//! after the swap) stops the merge; the runs wait for the next take. Before lanes, every fill
//! took the one order mutex: with two workers at pipeline 16 that lock, its waits and its
//! reorder slots were about a tenth of the server's CPU samples (docs/persistence.md,
//! "Lanes").
//!
//! # Why replay rebuilds what clients saw
//!
//! - Two commands that modify the same key both take a number while holding that key's shard
//!   lock, so the one applied first has the lower number in that section. A command holds all
//!   of its shards for its whole modification (`with_keys` locks them together), so every
//!   number of one is below every number of the other: ordering commands by their highest
//!   number orders every conflicting pair as they were applied. Commands that conflict on no
//!   key commute, and any order of them replays to the same state.
//! - FLUSHALL and FLUSHDB touch every shard, one after another, and SWAPDB holds both
//!   databases' shards in one section (`store::swap`); the command layer runs all three under
//!   the exclusive side of the isolation lock (`crate::exclusive`), like EXEC, so no other
//!   command interleaves with them.
//! - EXEC runs its queue under the exclusive side, so nothing else takes numbers meanwhile;
//!   its pieces are released together at its highest number, wrapped in MULTI/EXEC when it
//!   changed more than one thing (as Redis 7.0 writes it), so a torn tail never applies half
//!   of it (the loader drops an unterminated MULTI).
//! - A key removed because it expired is logged as `DEL` at the number of its removal, before
//!   the command that found it expired; replay never expires keys by itself (the loader runs
//!   with expiry off, as Redis's does), so `SET k v NX` on an expired key replays the same.
//! - A unit that ends without filling its numbers would stall the release forever: the
//!   [`UnitGuard`] fills on drop (a handler that panics fills its numbers with nothing), and a
//!   change made outside any unit is filled at once.
//!
//! A command that modifies keys in several separate lock sections (not atomic in memory
//! either) is ordered by its last section.
//!
//! # Filling once per batch
//!
//! Each fill locks the thread's lane and copies the pieces' bytes into it. So a worker
//! running a batch of requests (a [`BatchFills`] scope, opened by the session around
//! one read's worth of requests) keeps the numbers and pieces of its finished units and fills
//! them all at once when the batch ends. That changes when numbers are released, never which
//! pieces they carry: each piece keeps its own unit's number, so the file order is the same.
//! Only small non-blocking commands (the command layer says which: `fast` or run-timed ones)
//! are deferred; before any other command runs the deferred units are filled
//! ([`flush_deferred`]), so nothing that waits for the AOF (SHUTDOWN, a rewrite, EXEC taking
//! the exclusive side) can wait for numbers its own thread holds back. The batch's end fills
//! before its replies are held for `appendfsync always` or sent.
//!
//! # Bounds
//!
//! What waits in lanes and runs is what was filled behind the lowest number still held: the
//! units in flight (one per thread that writes), each a handful of sections (FLUSHALL: one
//! per shard), plus the numbers a batch defers ([`DEFERRED_SEQS_MAX`], [`DEFERRED_BYTES_MAX`]
//! per worker), plus what writers produce between two takes. The pending bytes are bounded by
//! what writers produce between two flushes of the AOF. Emptied lane buffers are kept for
//! reuse: at most [`SPARE_LANE_BUFS_MAX`] of them, each of at most
//! [`SPARE_LANE_BUF_BYTES_MAX`] bytes. There is one lane per thread that filled; a lane whose
//! thread has ended is dropped at the first take that finds it empty.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// One command (or a DEL of an expired key) as the AOF replays it, RESP-encoded.
#[derive(Debug, Clone)]
pub struct Piece {
    /// The number it is released at.
    pub seq: u64,
    /// The database it runs in; `None` for MULTI and EXEC (no SELECT before them).
    pub db: Option<usize>,
    /// The command in RESP (`*n\r\n$len\r\narg\r\n...`).
    pub resp: Vec<u8>,
    /// Done on behalf of another client while a command ran (a blocked client served by a
    /// push): it goes after that command's own piece.
    pub effect: bool,
}

/// The released, ordered, encoded changes waiting to be written.
#[derive(Default)]
pub struct Pending {
    /// RESP bytes for the AOF, in release order.
    pub bytes: Vec<u8>,
    /// Every number up to this one is in `bytes` (or was written before).
    pub released_seq: u64,
    /// The bytes are the last ones of the file before a rewrite's cut (see
    /// [`Journal::set_cut`]): whatever follows goes to the next incremental file.
    pub cut: bool,
}

/// The reorder window: the consumer's side, merging the lanes' filled numbers into one
/// order (see [`Journal::collect`]).
#[derive(Default)]
struct Order {
    /// The lowest number not yet released.
    next: u64,
    /// What was taken from the lanes and is not released yet (each sorted by number).
    runs: Vec<Run>,
    /// Emptied lane buffers kept for the next swap (at most [`SPARE_LANE_BUFS_MAX`]).
    spares: Vec<LaneBuf>,
    pending: Pending,
    /// The database the last released piece ran in (the AOF's current SELECT).
    selected_db: Option<usize>,
    /// A rewrite's cut not yet reached: once this number is released, what follows belongs
    /// to the next incremental file.
    cut: Option<u64>,
    /// The bytes released up to a reached cut (and its number), not yet taken.
    before_cut: Option<(Vec<u8>, u64)>,
}

/// Filled numbers and their pieces, in the order one thread filled them.
#[derive(Default)]
struct LaneBuf {
    /// The numbers filled (ascending, unless [`LaneBuf::sort`] has something to do).
    seqs: Vec<u64>,
    pieces: Vec<LanePiece>,
    /// The pieces' RESP, back to back.
    bytes: Vec<u8>,
}

/// A piece in a [`LaneBuf`]: its RESP is `bytes[start..end]`.
struct LanePiece {
    seq: u64,
    db: Option<usize>,
    start: usize,
    end: usize,
}

/// One thread's lane: only that thread pushes, only the consumer (under the order's lock)
/// takes, so its lock is almost never contended.
#[derive(Default)]
struct Lane {
    buf: Mutex<LaneBuf>,
}

/// A lane buffer taken by the consumer, with how far its merge got.
struct Run {
    buf: LaneBuf,
    /// Index of the next number in `buf.seqs`.
    s: usize,
    /// Index of the next piece in `buf.pieces`.
    p: usize,
}

/// At most this many emptied lane buffers are kept for reuse...
const SPARE_LANE_BUFS_MAX: usize = 16;
/// ... each holding at most this many bytes of capacity (larger ones are freed).
const SPARE_LANE_BUF_BYTES_MAX: usize = 1 << 20;

/// Gives every journal an identity for the thread-local lane cache (an address could be
/// reused by a later journal).
static NEXT_JOURNAL_ID: AtomicU64 = AtomicU64::new(1);

/// The journal of one store (see the module header).
pub struct Journal {
    /// Tells this journal's lanes from another's in the thread-local cache.
    id: u64,
    /// The last number handed out; every change takes one: the dirty counter.
    seq: AtomicU64,
    /// Changes made while the journal is off, counted per worker (the dirty counter without
    /// a shared cache line: `appendonly no` writes pay a plain add on their own stripe).
    off_changes: crate::counter::StripedCounter,
    /// True once the AOF consumes released pieces (otherwise units drop them).
    enabled: AtomicBool,
    order: Mutex<Order>,
    /// Every thread's lane (one per thread that filled numbers; a lane whose thread is gone
    /// is dropped once emptied).
    lanes: Mutex<Vec<Arc<Lane>>>,
}

impl Default for Journal {
    fn default() -> Journal {
        Journal {
            id: NEXT_JOURNAL_ID.fetch_add(1, Ordering::Relaxed),
            seq: AtomicU64::new(0),
            off_changes: Default::default(),
            enabled: AtomicBool::new(false),
            order: Mutex::default(),
            lanes: Mutex::default(),
        }
    }
}

/// A batch defers at most this many numbers before filling them: the other workers' changes
/// that follow them in the order wait (unreleased) at most that long.
pub const DEFERRED_SEQS_MAX: usize = 64;
/// ... and at most this many bytes of pieces (what the batch holds back from the AOF).
pub const DEFERRED_BYTES_MAX: usize = 64 * 1024;

thread_local! {
    /// Bumped at every acquisition of shard locks (see [`new_section`]).
    static SECTION: Cell<u64> = const { Cell::new(0) };
    static UNIT: RefCell<Unit> = RefCell::new(Unit::default());
    /// This thread's lane and the id of the journal it belongs to.
    static LANE: RefCell<Option<(u64, Arc<Lane>)>> = const { RefCell::new(None) };
}

/// What the running unit of work on this thread has changed so far.
#[derive(Default)]
struct Unit {
    /// Nesting depth of [`UnitGuard`]s; only the outermost fills.
    depth: u32,
    /// The journal the numbers below (and the deferred ones) belong to. It stays set after
    /// the unit ends (the next unit on this thread almost always uses the same one: no
    /// reference count traffic per command) and only changes while nothing is held.
    journal: Option<Arc<Journal>>,
    /// Numbers taken, ascending.
    seqs: Vec<u64>,
    /// The section in which the last number was taken.
    section: u64,
    pieces: Vec<Piece>,
    /// Changes noted by commands (not expiry) so far in this unit.
    changes: u64,
    /// Pieces of commands (not expired-key DELs) pushed so far.
    commands: usize,
    /// EXEC ran in this unit: release everything at the highest number.
    transaction: bool,
    /// Nesting depth of [`BatchFills`] scopes: while open, finished units that may be
    /// deferred wait in `deferred` for one fill at the batch's end.
    batch_depth: u32,
    deferred: Deferred,
}

/// Finished units of the running batch whose numbers are not filled yet (see [`BatchFills`]),
/// all of the unit's journal.
#[derive(Default)]
struct Deferred {
    /// Their numbers, ascending.
    seqs: Vec<u64>,
    /// Their pieces, each at its own unit's numbers.
    pieces: Vec<Piece>,
    /// Bytes of `pieces` (bounded by [`DEFERRED_BYTES_MAX`]).
    bytes: usize,
}

/// A new lock section starts on this thread (the store calls it whenever it locks shards).
#[inline]
pub fn new_section() {
    SECTION.with(|s| s.set(s.get().wrapping_add(1)));
}

/// Encode `args` as a RESP command.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    crate::client::encode_command(&mut out, args);
    out
}

impl Journal {
    /// Number of changes so far (the dirty counter; also the highest number handed out).
    pub fn changes(&self) -> u64 {
        self.seq.load(Ordering::Acquire) + self.off_changes.load(Ordering::Relaxed)
    }

    /// The highest number handed out (the journal's order; [`Journal::changes`] also counts
    /// changes made while it was off, which take no number).
    pub fn last_seq(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// True while released pieces are consumed by an AOF.
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::SeqCst)
    }

    /// [`Journal::enabled`] as the request path reads it: one relaxed load, all that
    /// `appendonly no` costs a command (the flag only changes at startup, before any
    /// request runs).
    #[inline]
    pub fn enabled_relaxed(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Start releasing pieces: every number taken from now on is ordered into the pending
    /// bytes. `selected_db`: the database the AOF's tail ends in (None: unknown, so the first
    /// piece gets a SELECT).
    pub fn enable(&self, selected_db: Option<usize>) {
        self.enabled.store(true, Ordering::SeqCst);
        let mut order = self.order.lock().unwrap_or_else(PoisonError::into_inner);
        order.next = self.seq.load(Ordering::SeqCst) + 1;
        order.runs.clear();
        order.selected_db = selected_db;
        order.pending.released_seq = order.next - 1;
    }

    /// Take the released bytes (to write them), leaving an empty buffer. When a rewrite's
    /// cut was reached, only the bytes before it come (`cut` set): the caller writes them to
    /// the current file, then moves to the next one before taking the rest.
    pub fn take_pending(&self) -> Pending {
        let mut order = self.order.lock().unwrap_or_else(PoisonError::into_inner);
        self.collect(&mut order);
        if let Some((bytes, released_seq)) = order.before_cut.take() {
            return Pending { bytes, released_seq, cut: true };
        }
        let released_seq = order.pending.released_seq;
        let bytes = std::mem::take(&mut order.pending.bytes);
        Pending { bytes, released_seq, cut: false }
    }

    /// Put bytes that could not be written back in front of what was released since (`cut`:
    /// they were the bytes before a cut).
    pub fn untake_pending(&self, mut bytes: Vec<u8>, cut: bool, released_seq: u64) {
        let mut order = self.order.lock().unwrap_or_else(PoisonError::into_inner);
        if cut {
            order.before_cut = Some((bytes, released_seq));
            return;
        }
        bytes.extend_from_slice(&order.pending.bytes);
        order.pending.bytes = bytes;
    }

    /// Bytes released and not yet taken, and the highest number released.
    pub fn pending_len(&self) -> (usize, u64) {
        let mut order = self.order.lock().unwrap_or_else(PoisonError::into_inner);
        self.collect(&mut order);
        let before = order.before_cut.as_ref().map_or(0, |(b, _)| b.len());
        (order.pending.bytes.len() + before, order.pending.released_seq)
    }

    /// A rewrite's cut: changes numbered up to `seq` belong to the current incremental file,
    /// later ones to the next (the writer switches files when it reaches the cut, see
    /// [`Journal::take_pending`]). The caller holds the exclusive side of the isolation lock,
    /// so every change up to `seq` is applied and every later one is not yet.
    pub fn set_cut(&self, seq: u64) {
        let mut order = self.order.lock().unwrap_or_else(PoisonError::into_inner);
        if order.next > seq {
            order.cut_now();
        } else {
            order.cut = Some(seq);
        }
    }

    /// Forget the database of the AOF's tail (a new incremental file starts: its first piece
    /// gets a SELECT).
    pub fn reset_selected_db(&self) {
        self.order.lock().unwrap_or_else(PoisonError::into_inner).selected_db = None;
    }

    /// A change is being made under a shard lock (the store's modification funnel).
    pub fn note_change(self: &Arc<Self>) {
        self.take_seq(true);
    }

    /// Key `key` of `db` is being removed because it expired: logged as DEL.
    pub fn note_expired(self: &Arc<Self>, db: usize, key: &[u8]) {
        let Some(seq) = self.take_seq(false) else { return };
        let piece = Piece { seq, db: Some(db), resp: encode(&[b"DEL", key]), effect: false };
        if !self.push_to_unit(piece.clone()) {
            self.fill(&[seq], vec![piece]);
        }
    }

    /// Take a number for this change if the unit has none from this lock section. Returns
    /// the unit's current number (None when the journal is off).
    fn take_seq(self: &Arc<Self>, by_command: bool) -> Option<u64> {
        // `appendonly no`: only the count matters (units are opened only with the journal on;
        // it is switched on at startup, before any request). One relaxed load, then a plain
        // add on this thread's stripe: no shared counter on the write path.
        if !self.enabled_relaxed() {
            self.off_changes.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let section = SECTION.with(Cell::get);
        let enabled = self.enabled();
        let taken = UNIT.with(|u| {
            let mut u = u.borrow_mut();
            if u.depth == 0 {
                return None;
            }
            if !u.journal.as_ref().is_some_and(|j| Arc::ptr_eq(j, self)) {
                if !u.seqs.is_empty() {
                    return None; // the unit is another store's
                }
                u.fill_deferred();
                u.journal = Some(self.clone());
            }
            u.changes += u64::from(by_command);
            if u.section == section && !u.seqs.is_empty() {
                return u.seqs.last().copied();
            }
            let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
            u.section = section;
            u.seqs.push(seq);
            Some(seq)
        });
        if let Some(seq) = taken {
            return enabled.then_some(seq);
        }
        // Outside any unit (or another store's unit): a number of its own, filled at once.
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        if enabled && by_command {
            self.fill(&[seq], Vec::new());
        }
        enabled.then_some(seq)
    }

    /// Add `piece` to this thread's unit if one is open on this journal.
    fn push_to_unit(self: &Arc<Self>, piece: Piece) -> bool {
        UNIT.with(|u| {
            let mut u = u.borrow_mut();
            if u.depth > 0 && !u.seqs.is_empty() && u.journal.as_ref().is_some_and(|j| Arc::ptr_eq(j, self)) {
                u.pieces.push(piece);
                true
            } else {
                false
            }
        })
    }

    /// Mark `seqs` filled with `pieces` (each at its own number) and release what is now
    /// contiguous. Numbers below the release point (taken before the journal was enabled)
    /// are ignored.
    pub fn fill(&self, seqs: &[u64], mut pieces: Vec<Piece>) {
        self.fill_from(seqs, &mut pieces);
    }

    /// [`Journal::fill`] draining `pieces` (its allocation stays with the caller, which
    /// reuses it for its next unit). `seqs` ascend.
    fn fill_from(&self, seqs: &[u64], pieces: &mut Vec<Piece>) {
        if !self.enabled() {
            pieces.clear();
            return;
        }
        let push = |lane: &Lane| lane.buf.lock().unwrap_or_else(PoisonError::into_inner).push(seqs, pieces);
        let pushed = LANE.try_with(|cached| {
            let mut cached = cached.borrow_mut();
            match &*cached {
                Some((id, lane)) if *id == self.id => push(lane),
                _ => {
                    let lane = self.new_lane();
                    push(&lane);
                    *cached = Some((self.id, lane));
                }
            }
        });
        if pushed.is_err() {
            // The thread is exiting (its locals are gone): a lane of its own, orphaned at once.
            push(&self.new_lane());
        }
        pieces.clear();
    }

    /// A new lane for the calling thread, registered for the consumer.
    fn new_lane(&self) -> Arc<Lane> {
        let lane = Arc::new(Lane::default());
        self.lanes.lock().unwrap_or_else(PoisonError::into_inner).push(lane.clone());
        lane
    }

    /// The consumer's side (the caller holds the order's lock): take what every lane filled
    /// and release whatever is now contiguous. A lane whose thread is gone is dropped once
    /// emptied.
    fn collect(&self, order: &mut Order) {
        let mut lanes = self.lanes.lock().unwrap_or_else(PoisonError::into_inner);
        lanes.retain(|lane| {
            // Only the registry holds it: nothing can be pushed to it any more.
            let orphan = Arc::strong_count(lane) == 1;
            let mut buf = lane.buf.lock().unwrap_or_else(PoisonError::into_inner);
            if !buf.seqs.is_empty() || !buf.pieces.is_empty() {
                let spare = order.spares.pop().unwrap_or_default();
                let mut taken = std::mem::replace(&mut *buf, spare);
                drop(buf);
                taken.sort();
                order.runs.push(Run { buf: taken, s: 0, p: 0 });
            }
            !orphan
        });
        drop(lanes);
        order.merge();
    }
}

impl LaneBuf {
    /// Add filled numbers and their pieces.
    fn push(&mut self, seqs: &[u64], pieces: &[Piece]) {
        self.seqs.extend_from_slice(seqs);
        for piece in pieces {
            let start = self.bytes.len();
            self.bytes.extend_from_slice(&piece.resp);
            self.pieces.push(LanePiece { seq: piece.seq, db: piece.db, start, end: self.bytes.len() });
        }
    }

    /// Put numbers and pieces in number order (pieces of one number keep theirs). They
    /// already are unless the thread filled a number outside its units between deferred
    /// ones: a check.
    fn sort(&mut self) {
        if !self.seqs.is_sorted() {
            self.seqs.sort_unstable();
        }
        if !self.pieces.is_sorted_by_key(|p| p.seq) {
            self.pieces.sort_by_key(|p| p.seq);
        }
    }

    fn clear(&mut self) {
        self.seqs.clear();
        self.pieces.clear();
        self.bytes.clear();
    }
}

impl Run {
    /// The next number of this run not yet merged.
    fn head(&self) -> Option<u64> {
        self.buf.seqs.get(self.s).copied()
    }
}

impl Order {
    /// The cut is reached: what was released so far is the current file's last bytes; the
    /// next file starts with a SELECT.
    fn cut_now(&mut self) {
        let bytes = std::mem::take(&mut self.pending.bytes);
        let released = self.next.saturating_sub(1);
        match self.before_cut.as_mut() {
            Some((b, seq)) => {
                b.extend_from_slice(&bytes);
                *seq = released;
            }
            None => self.before_cut = Some((bytes, released)),
        }
        self.selected_db = None;
        self.cut = None;
    }

    /// Release every number that is now contiguous, taking them from the runs in number
    /// order (a k-way merge: each run is sorted; a thread's numbers often follow each other,
    /// so a run is drained for as long as it holds the next number).
    fn merge(&mut self) {
        let mut runs = std::mem::take(&mut self.runs);
        let mut heads: BinaryHeap<Reverse<(u64, usize)>> =
            runs.iter().enumerate().filter_map(|(i, r)| Some(Reverse((r.head()?, i)))).collect();
        while let Some(&Reverse((head, i))) = heads.peek() {
            if head > self.next {
                break; // a gap: that number is still held by its thread
            }
            heads.pop();
            let run = &mut runs[i];
            while let Some(seq) = run.head().filter(|&seq| seq <= self.next) {
                // A number below `next` was taken before the journal was enabled: skipped.
                let release = seq == self.next;
                while let Some(piece) = run.buf.pieces.get(run.p).filter(|p| p.seq <= seq) {
                    if release && piece.seq == seq {
                        self.append(piece.db, &run.buf.bytes[piece.start..piece.end]);
                    }
                    run.p += 1;
                }
                run.s += 1;
                if release {
                    self.advance();
                }
            }
            if let Some(seq) = run.head() {
                heads.push(Reverse((seq, i)));
            }
        }
        for mut run in runs {
            if run.head().is_some() {
                self.runs.push(run);
            } else if self.spares.len() < SPARE_LANE_BUFS_MAX && run.buf.bytes.capacity() <= SPARE_LANE_BUF_BYTES_MAX {
                run.buf.clear();
                self.spares.push(run.buf);
            }
        }
    }

    /// Encode one released piece into the pending bytes, after a SELECT when its database
    /// differs from the last one written.
    fn append(&mut self, db: Option<usize>, resp: &[u8]) {
        if let Some(db) = db {
            if self.selected_db != Some(db) {
                let mut buf = itoa::Buffer::new();
                crate::client::encode_command(&mut self.pending.bytes, &[b"SELECT", buf.format(db).as_bytes()]);
                self.selected_db = Some(db);
            }
        }
        self.pending.bytes.extend_from_slice(resp);
    }

    /// Number `next` is released: move on (and switch files at a rewrite's cut).
    fn advance(&mut self) {
        self.pending.released_seq = self.next;
        self.next += 1;
        if self.cut == Some(self.next - 1) {
            self.cut_now();
        }
    }
}

/// An open unit of work on this thread; the outermost one fills the journal when dropped
/// (or, finished with [`UnitGuard::finish`] as deferrable inside a batch, at the batch's end).
pub struct UnitGuard {
    /// The unit may wait for the batch's fill (set by [`UnitGuard::finish`]).
    deferrable: bool,
}

impl UnitGuard {
    /// Open a unit (nested calls join the open one).
    pub fn begin() -> UnitGuard {
        UNIT.with(|u| u.borrow_mut().depth += 1);
        UnitGuard { deferrable: false }
    }

    /// Close the unit. `deferrable`: it ran a small command that never waits for anything
    /// (see the module header), so inside a [`BatchFills`] scope its numbers may be filled at
    /// the batch's end.
    pub fn finish(mut self, deferrable: bool) {
        self.deferrable = deferrable;
    }
}

impl Drop for UnitGuard {
    fn drop(&mut self) {
        let deferrable = self.deferrable;
        UNIT.with(|u| {
            let mut u = u.borrow_mut();
            u.depth -= 1;
            if u.depth > 0 {
                return;
            }
            let transaction = std::mem::replace(&mut u.transaction, false);
            let commands = std::mem::replace(&mut u.commands, 0);
            u.changes = 0;
            if u.seqs.is_empty() {
                return; // changed nothing
            }
            if transaction {
                let max_seq = u.seqs.last().copied().unwrap_or(0);
                wrap_transaction(&mut u.pieces, commands, max_seq);
            }
            if deferrable && u.batch_depth > 0 && u.defer(true) {
                return;
            }
            if u.deferred.seqs.is_empty() {
                u.fill_own();
            } else {
                // With what the batch deferred, in one lock of the order.
                u.defer(false);
                u.fill_deferred();
            }
        });
    }
}

impl Unit {
    /// Move the finished unit's numbers and pieces to the batch's deferred ones. False (the
    /// caller fills now) when `bounded` and the batch is full.
    fn defer(&mut self, bounded: bool) -> bool {
        let d = &mut self.deferred;
        if bounded && (d.seqs.len() + self.seqs.len() > DEFERRED_SEQS_MAX || d.bytes >= DEFERRED_BYTES_MAX) {
            return false;
        }
        d.seqs.append(&mut self.seqs);
        d.bytes += self.pieces.iter().map(|p| p.resp.len()).sum::<usize>();
        d.pieces.append(&mut self.pieces);
        true
    }

    /// Fill the finished unit's numbers (its vectors keep their allocations for the next).
    fn fill_own(&mut self) {
        if let Some(journal) = &self.journal {
            journal.fill_from(&self.seqs, &mut self.pieces);
        }
        self.seqs.clear();
        self.pieces.clear();
    }

    /// Fill the batch's deferred numbers. (The journal's lock is taken with this thread's
    /// unit borrowed: filling never comes back to it.)
    fn fill_deferred(&mut self) {
        let d = &mut self.deferred;
        if d.seqs.is_empty() {
            return;
        }
        if let Some(journal) = &self.journal {
            journal.fill_from(&d.seqs, &mut d.pieces);
        }
        d.seqs.clear();
        d.pieces.clear();
        d.bytes = 0;
    }
}

/// Fill what this thread's batch has deferred (nothing: no cost but a thread-local read).
pub fn flush_deferred() {
    UNIT.with(|u| u.borrow_mut().fill_deferred());
}

/// A batch of requests run by one thread (the session's one read's worth): deferrable units
/// finished inside it are filled together when it ends (see the module header).
pub struct BatchFills {
    _private: (),
}

impl BatchFills {
    /// Open a batch (nested calls join the open one).
    pub fn begin() -> BatchFills {
        UNIT.with(|u| u.borrow_mut().batch_depth += 1);
        BatchFills { _private: () }
    }
}

impl Drop for BatchFills {
    fn drop(&mut self) {
        let outermost = UNIT.with(|u| {
            let mut u = u.borrow_mut();
            u.batch_depth -= 1;
            u.batch_depth == 0
        });
        if outermost {
            flush_deferred();
        }
    }
}

/// EXEC: every piece at the highest number, in MULTI/EXEC when more than one command changed
/// something (Redis 7.0 writes a transaction with one write as the bare command).
fn wrap_transaction(pieces: &mut Vec<Piece>, commands: usize, max_seq: u64) {
    for p in pieces.iter_mut() {
        p.seq = max_seq;
    }
    if commands > 1 {
        pieces.insert(0, Piece { seq: max_seq, db: None, resp: encode(&[b"MULTI"]), effect: false });
        pieces.push(Piece { seq: max_seq, db: None, resp: encode(&[b"EXEC"]), effect: false });
    }
}

/// Changes noted by commands in this thread's open unit so far (compare before and after a
/// command to know whether it changed anything).
pub fn unit_changes() -> u64 {
    UNIT.with(|u| u.borrow().changes)
}

/// The highest number this thread's open unit holds (0: none).
pub fn unit_seq() -> u64 {
    UNIT.with(|u| u.borrow().seqs.last().copied().unwrap_or(0))
}

/// Where this thread's open unit stood before a command ran (see [`Mark::now`]).
pub struct Mark {
    changes: u64,
    pieces: usize,
    db: usize,
}

impl Mark {
    /// Before running a command in database `db`.
    pub fn now(db: usize) -> Mark {
        UNIT.with(|u| {
            let u = u.borrow();
            Mark { changes: u.changes, pieces: u.pieces.len(), db }
        })
    }

    /// The command changed something (noted by the store's modification funnel).
    pub fn changed(&self) -> bool {
        unit_changes() != self.changes
    }

    /// Add the command's piece (already rewritten for the AOF) at the unit's current highest
    /// number: after what expired while it ran, before what it did on behalf of other clients
    /// ([`push_effect`]).
    pub fn push_command(&self, resp: Vec<u8>) {
        UNIT.with(|u| {
            let mut u = u.borrow_mut();
            let Some(&seq) = u.seqs.last() else { return };
            if !u.journal.as_ref().is_some_and(|j| j.enabled()) {
                return;
            }
            let at = (self.pieces..u.pieces.len()).find(|&i| u.pieces[i].effect).unwrap_or(u.pieces.len());
            u.pieces.insert(at, Piece { seq, db: Some(self.db), resp, effect: false });
            u.commands += 1;
        });
    }
}

/// Add a command piece for what the running command did on behalf of another client (a
/// blocked client served: its pop as `LPOP`, `LMOVE`, ...), or for a blocking command served
/// at once; it lands after the running command's own piece.
pub fn push_effect(db: usize, resp: Vec<u8>) {
    UNIT.with(|u| {
        let mut u = u.borrow_mut();
        let Some(&seq) = u.seqs.last() else { return };
        if u.journal.as_ref().is_some_and(|j| j.enabled()) {
            u.pieces.push(Piece { seq, db: Some(db), resp, effect: true });
            u.commands += 1;
        }
    });
}

/// True while this thread runs a unit of an enabled journal (an effect is worth encoding).
pub fn unit_open() -> bool {
    UNIT.with(|u| u.borrow().depth > 0)
}

/// The open unit is an EXEC: release it as one block.
pub fn mark_transaction() {
    UNIT.with(|u| u.borrow_mut().transaction = true);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(seq: u64, db: usize, arg: &[u8]) -> Piece {
        Piece { seq, db: Some(db), resp: encode(&[b"SET", arg, b"1"]), effect: false }
    }

    #[test]
    fn release_waits_for_every_lower_number_and_selects_dbs() {
        // Number 2 is filled first: nothing is released until 1 is; then both, in order,
        // with a SELECT before the first piece and before the change of database.
        let j = Arc::new(Journal::default());
        j.enable(None);
        let (s1, s2) = (j.seq.fetch_add(1, Ordering::SeqCst) + 1, j.seq.fetch_add(1, Ordering::SeqCst) + 1);
        j.fill(&[s2], vec![piece(s2, 3, b"b")]);
        assert_eq!(j.pending_len().0, 0);
        j.fill(&[s1], vec![piece(s1, 0, b"a")]);
        let p = j.take_pending();
        assert_eq!(p.released_seq, s2);
        let text = String::from_utf8(p.bytes).unwrap();
        let expected = [
            encode(&[b"SELECT", b"0"]),
            encode(&[b"SET", b"a", b"1"]),
            encode(&[b"SELECT", b"3"]),
            encode(&[b"SET", b"b", b"1"]),
        ]
        .concat();
        assert_eq!(text.as_bytes(), &expected[..]);
    }

    #[test]
    fn a_unit_takes_one_number_per_section_and_fills_on_drop() {
        // Two changes in one section share a number; a new section takes the next one; the
        // command piece lands at the highest; the guard's drop releases everything.
        let j = Arc::new(Journal::default());
        j.enable(Some(0));
        {
            let _unit = UnitGuard::begin();
            new_section();
            j.note_change();
            j.note_change();
            assert_eq!(unit_seq(), 1);
            new_section();
            j.note_change();
            assert_eq!(unit_seq(), 2);
            assert_eq!(unit_changes(), 3);
            Mark::now(0).push_command(encode(&[b"SET", b"k", b"v"]));
        }
        let p = j.take_pending();
        assert_eq!(p.released_seq, 2);
        assert_eq!(p.bytes, encode(&[b"SET", b"k", b"v"]));
        assert_eq!(j.changes(), 2);
    }

    #[test]
    fn expired_keys_are_logged_before_the_command_and_transactions_wrap() {
        let j = Arc::new(Journal::default());
        j.enable(Some(0));
        {
            let _unit = UnitGuard::begin();
            mark_transaction();
            new_section();
            j.note_expired(0, b"old");
            j.note_change();
            Mark::now(0).push_command(encode(&[b"SET", b"a", b"1"]));
            new_section();
            j.note_change();
            Mark::now(0).push_command(encode(&[b"INCR", b"a"]));
        }
        let expected = [
            encode(&[b"MULTI"]),
            encode(&[b"DEL", b"old"]),
            encode(&[b"SET", b"a", b"1"]),
            encode(&[b"INCR", b"a"]),
            encode(&[b"EXEC"]),
        ]
        .concat();
        assert_eq!(j.take_pending().bytes, expected);
    }

    #[test]
    fn a_cut_splits_the_released_bytes_at_its_number() {
        // Cut at 1 while 1 and 2 are taken, 2 filled first: the first take gives only
        // number 1's piece (flagged cut), the second the rest, starting with a SELECT.
        let j = Arc::new(Journal::default());
        j.enable(Some(0));
        let (s1, s2) = (j.seq.fetch_add(1, Ordering::SeqCst) + 1, j.seq.fetch_add(1, Ordering::SeqCst) + 1);
        j.set_cut(s1);
        j.fill(&[s2], vec![piece(s2, 0, b"b")]);
        j.fill(&[s1], vec![piece(s1, 0, b"a")]);
        let first = j.take_pending();
        assert!(first.cut);
        assert_eq!((first.bytes, first.released_seq), (encode(&[b"SET", b"a", b"1"]), s1));
        let rest = j.take_pending();
        assert!(!rest.cut);
        assert_eq!(rest.bytes, [encode(&[b"SELECT", b"0"]), encode(&[b"SET", b"b", b"1"])].concat());
        // A cut at a number already released takes effect at once (an empty first part).
        j.set_cut(s2);
        let p = j.take_pending();
        assert!(p.cut && p.bytes.is_empty());
    }

    /// One deferrable unit: a change in a section of its own and its SET piece.
    fn small_unit(j: &Arc<Journal>, key: &[u8], deferrable: bool) {
        let unit = UnitGuard::begin();
        new_section();
        j.note_change();
        Mark::now(0).push_command(encode(&[b"SET", key, b"1"]));
        unit.finish(deferrable);
    }

    #[test]
    fn a_batch_fills_its_deferred_units_at_its_end_each_at_its_number() {
        // Units a and c are deferred; another thread's change (number 2) comes between them.
        // Nothing is released while the batch is open; at its end everything is, in number
        // order, each piece at its own number.
        let j = Arc::new(Journal::default());
        j.enable(Some(0));
        let batch = BatchFills::begin();
        small_unit(&j, b"a", true);
        std::thread::scope(|s| {
            s.spawn(|| small_unit(&j, b"b", false));
        });
        small_unit(&j, b"c", true);
        assert_eq!(j.pending_len(), (0, 0), "number 1 is held back by the open batch");
        drop(batch);
        let p = j.take_pending();
        assert_eq!(p.released_seq, 3);
        let expected: Vec<u8> = [b"a", b"b", b"c"].iter().flat_map(|k| encode(&[b"SET", *k, b"1"])).collect();
        assert_eq!(p.bytes, expected);
    }

    #[test]
    fn a_unit_that_may_wait_fills_what_the_batch_deferred_first() {
        let j = Arc::new(Journal::default());
        j.enable(Some(0));
        let _batch = BatchFills::begin();
        small_unit(&j, b"a", true);
        small_unit(&j, b"b", false);
        assert_eq!(j.pending_len().1, 2, "filled before the batch ends");
        small_unit(&j, b"c", true);
        flush_deferred();
        assert_eq!(j.pending_len().1, 3);
        let expected: Vec<u8> = [b"a", b"b", b"c"].iter().flat_map(|k| encode(&[b"SET", *k, b"1"])).collect();
        assert_eq!(j.take_pending().bytes, expected);
    }

    #[test]
    fn a_batch_defers_at_most_its_bound() {
        let j = Arc::new(Journal::default());
        j.enable(Some(0));
        let _batch = BatchFills::begin();
        for i in 0..=DEFERRED_SEQS_MAX {
            small_unit(&j, i.to_string().as_bytes(), true);
        }
        assert_eq!(j.pending_len().1, DEFERRED_SEQS_MAX as u64 + 1, "the full batch filled with the unit past it");
        // Outside a batch nothing is deferred.
        drop(_batch);
        small_unit(&j, b"x", true);
        assert_eq!(j.pending_len().1, DEFERRED_SEQS_MAX as u64 + 2);
    }

    #[test]
    fn pieces_out_of_number_order_are_released_in_order() {
        let j = Arc::new(Journal::default());
        j.enable(Some(0));
        let (s1, s2) = (j.seq.fetch_add(1, Ordering::SeqCst) + 1, j.seq.fetch_add(1, Ordering::SeqCst) + 1);
        j.fill(&[s1, s2], vec![piece(s2, 0, b"b"), piece(s1, 0, b"a")]);
        assert_eq!(j.take_pending().bytes, [encode(&[b"SET", b"a", b"1"]), encode(&[b"SET", b"b", b"1"])].concat());
    }

    /// One unit that bumps a shared counter under its mutex (as under a shard lock) and logs
    /// `SET c <new value>`.
    fn counter_unit(j: &Arc<Journal>, value: &Mutex<u64>) {
        let _unit = UnitGuard::begin();
        let v = {
            let mut g = value.lock().unwrap();
            new_section();
            j.note_change();
            *g += 1;
            *g
        };
        Mark::now(0).push_command(encode(&[b"SET", b"c", v.to_string().as_bytes()]));
    }

    #[test]
    fn concurrent_units_release_in_number_order() {
        // Four threads each run units that change a shared counter under one mutex (as a
        // shard lock): the released log replays the counter's history in order.
        let j = Arc::new(Journal::default());
        j.enable(Some(0));
        let value = Arc::new(Mutex::new(0u64));
        std::thread::scope(|s| {
            for _ in 0..4 {
                let (j, value) = (j.clone(), value.clone());
                s.spawn(move || {
                    for _ in 0..500 {
                        counter_unit(&j, &value);
                    }
                });
            }
        });
        let bytes = j.take_pending().bytes;
        let expected: Vec<u8> = (1..=2000u64).flat_map(|v| encode(&[b"SET", b"c", v.to_string().as_bytes()])).collect();
        assert_eq!(bytes, expected);
    }

    #[test]
    fn short_lived_threads_fill_while_a_consumer_takes_and_their_lanes_go() {
        // Threads that write a little and end (the threads engine's connections), while
        // another thread keeps taking: every change comes out once, in order, and the lanes
        // of the ended threads are dropped.
        let j = Arc::new(Journal::default());
        j.enable(Some(0));
        let value = Arc::new(Mutex::new(0u64));
        let done = AtomicBool::new(false);
        let mut bytes = Vec::new();
        std::thread::scope(|s| {
            let consumer = s.spawn(|| {
                let mut out = Vec::new();
                while !done.load(Ordering::Acquire) {
                    out.extend(j.take_pending().bytes);
                    std::thread::yield_now();
                }
                out
            });
            for _ in 0..20 {
                std::thread::scope(|s| {
                    for _ in 0..4 {
                        let (j, value) = (j.clone(), value.clone());
                        s.spawn(move || {
                            for _ in 0..25 {
                                counter_unit(&j, &value);
                            }
                        });
                    }
                });
            }
            done.store(true, Ordering::Release);
            bytes = consumer.join().unwrap();
        });
        bytes.extend(j.take_pending().bytes);
        let expected: Vec<u8> = (1..=2000u64).flat_map(|v| encode(&[b"SET", b"c", v.to_string().as_bytes()])).collect();
        assert_eq!(bytes, expected);
        assert_eq!(j.take_pending().released_seq, 2000);
        // A thread drops its lane with its locals, which can happen just after the scope's
        // join returned: the lanes go at a take after that (bounded wait).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !j.lanes.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
            j.take_pending();
        }
        assert!(j.lanes.lock().unwrap().is_empty(), "the ended threads' lanes are dropped");
    }
}
