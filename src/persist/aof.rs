//! The append-only file writer: takes the journal's released bytes (see
//! [`crate::store::journal`]) and appends them to the current incremental file of the AOF directory,
//! fsyncing as `--appendfsync` says.
//!
//! # Who writes, and when
//!
//! One flush at a time, whoever runs it: a flush *token* (`flushing`) is taken, the pending
//! bytes are taken from the journal with the highest number they cover, written at the end
//! of the file, then (for `always`) fdatasynced; only then is `durable_seq` raised, the token
//! released and the waiters woken. Writes never overlap, so the file holds the bytes in the
//! journal's order.
//!
//! - `always` on the io_uring engine: the worker that finds bytes pending at the end of its
//!   loop iteration takes the token and queues a linked `WRITE` + `FSYNC(DATASYNC)` on its own
//!   ring, submitted with everything else by its one `io_uring_enter`; it keeps serving reads
//!   (and running writes, whose replies it holds) until the completion raises `durable_seq`,
//!   then every worker sends the replies that number covers (group commit: one fdatasync for
//!   every write released before it, from every connection of every worker). The next flush
//!   is held until the clients just answered are back, over all workers, for at most
//!   [`hold::AOF_HOLD_MAX`]: one decision per flush, shared by every worker ([`hold`]).
//! - `always` on epoll and threads (baselines): a session that ran writes calls
//!   [`Aof::wait_durable`], which either runs the flush itself (blocking `pwrite` +
//!   `fdatasync`) or waits for the flush in progress, leader/follower style.
//! - `everysec` / `no`: a background thread writes what is pending every
//!   [`AOF_WRITE_INTERVAL`] ([`AOF_IDLE_INTERVAL`] after a step with nothing to write) and
//!   (everysec) fdatasyncs once a second.
//!
//! # A rewrite's cut
//!
//! BGREWRITEAOF opens the next incremental file ([`Aof::prepare_switch`]) and sets the
//! journal's cut: the journal hands out the bytes up to the cut as one last job for the
//! current file (flagged `cut`, always fdatasynced whatever the policy, since nothing syncs
//! that file later); the flush after it moves to the new file. Jobs carry their file, so a
//! write in flight on a worker ring keeps the old descriptor open.
//!
//! # Failures
//!
//! A failed or short write is undone (the file is truncated back to its last good size), the
//! bytes go back in front of the pending ones, and writes are refused with Redis's `MISCONF`
//! text until a retry (at most every [`AOF_RETRY_INTERVAL`]) succeeds: nothing is lost and
//! nothing is written twice. A failed fdatasync cannot be retried (the kernel may have dropped
//! the dirty pages it failed to write), so, as Redis does, the server logs and exits: the file
//! up to its last good fsync is what restarts.

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::config::AppendFsync;

use crate::store::journal::Journal;

pub mod hold;

use hold::{Hold, HoldMode, RingWorker, Waker};

/// How often the background thread writes pending bytes for `everysec` and `no` (and for
/// `always` on the baseline engines when no client waits) while there are some. Measured
/// against 10 ms (docs/persistence.md, "The writer's interval"): smaller writes take the
/// other core for shorter stretches, so everysec's p99 at SET c50 P16 fell by a quarter to
/// a third, at the same CPU per request.
pub const AOF_WRITE_INTERVAL: Duration = Duration::from_millis(2);
/// After a step that found nothing to write the thread sleeps this long instead (an idle
/// server wakes it 100 times a second, not 500). With [`AOF_WRITE_INTERVAL`] it bounds what a
/// crash of the process (not of the machine) can lose in those modes, beyond the fsync
/// interval.
pub const AOF_IDLE_INTERVAL: Duration = Duration::from_millis(10);
/// `everysec`: the interval between two fdatasyncs (Redis: one second).
pub const AOF_FSYNC_INTERVAL: Duration = Duration::from_secs(1);
/// After a failed write, the next attempt waits this long (Redis retries from its 1 s cron;
/// a shorter wait gets held replies out sooner once space is freed).
pub const AOF_RETRY_INTERVAL: Duration = Duration::from_millis(100);
/// How long a waiting writer sleeps before checking again for a flush it could run itself
/// (a flush in progress wakes it earlier).
const WAIT_SLICE: Duration = Duration::from_millis(10);

/// A flush taken by one flusher: the bytes, the number they cover, where they go.
pub struct FlushJob {
    pub bytes: Vec<u8>,
    pub released_seq: u64,
    /// File offset of the first byte (the file's size when the flush began).
    pub offset: u64,
    /// The file written (kept open until the job ends, even if the AOF moves on).
    file: Arc<File>,
    /// The last bytes before a rewrite's cut: once written and synced, the AOF moves to the
    /// next incremental file.
    pub cut: bool,
}

impl FlushJob {
    /// The descriptor to write and fdatasync.
    pub fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

/// The incremental file appended to.
struct Current {
    file: Arc<File>,
    path: PathBuf,
}

/// The current incremental file and its bookkeeping.
pub struct Aof {
    policy: AppendFsync,
    /// The AOF directory.
    pub dir: PathBuf,
    current: Mutex<Current>,
    /// The incremental file a rewrite opened, taken over at the cut (see
    /// [`Journal::set_cut`]).
    next: Mutex<Option<Current>>,
    /// The cut's bytes are written and synced: move to `next` at the next flush.
    switch_due: AtomicBool,
    /// Moves to a new incremental file so far.
    switches: AtomicU64,
    journal: Arc<Journal>,
    flushing: AtomicBool,
    /// Bytes of the current incremental file known good (written completely).
    size: AtomicU64,
    /// Bytes of the base and the earlier incremental files (INFO aof_current_size).
    other_size: AtomicU64,
    /// INFO aof_base_size.
    base_size: AtomicU64,
    written_seq: AtomicU64,
    durable_seq: AtomicU64,
    /// errno of the last failed write; 0 = the last write succeeded.
    write_errno: AtomicI32,
    last_failure: Mutex<Option<Instant>>,
    last_fsync: Mutex<Instant>,
    /// Flushes completed (writes) and fdatasyncs done, for INFO and the benchmarks.
    pub writes: AtomicU64,
    pub fsyncs: AtomicU64,
    /// A worker ring flushes `always` writes (uring engine): the sessions hold replies instead
    /// of waiting.
    ring_driven: AtomicBool,
    stopping: AtomicBool,
    wait_lock: Mutex<()>,
    wait_cond: Condvar,
    /// The uring workers (wake-ups, connections waiting) and the hold of the next flush.
    hold: Hold,
}

impl Aof {
    /// An AOF appending to `file` (already positioned data: `size` bytes), in `dir`.
    pub fn new(policy: AppendFsync, dir: PathBuf, path: PathBuf, file: File, journal: Arc<Journal>) -> Aof {
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let seq = journal.last_seq();
        Aof {
            policy,
            dir,
            current: Mutex::new(Current { file: Arc::new(file), path }),
            next: Mutex::new(None),
            switch_due: AtomicBool::new(false),
            switches: AtomicU64::new(0),
            journal,
            flushing: AtomicBool::new(false),
            size: AtomicU64::new(size),
            other_size: AtomicU64::new(0),
            base_size: AtomicU64::new(0),
            written_seq: AtomicU64::new(seq),
            durable_seq: AtomicU64::new(seq),
            write_errno: AtomicI32::new(0),
            last_failure: Mutex::new(None),
            last_fsync: Mutex::new(Instant::now()),
            writes: AtomicU64::new(0),
            fsyncs: AtomicU64::new(0),
            ring_driven: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            wait_lock: Mutex::new(()),
            wait_cond: Condvar::new(),
            hold: Hold::new(HoldMode::from_env()),
        }
    }

    /// Sizes of the files before the current incremental one (INFO).
    pub fn set_other_sizes(&self, base: u64, other: u64) {
        self.base_size.store(base, Ordering::Relaxed);
        self.other_size.store(other, Ordering::Relaxed);
    }

    /// INFO aof_base_size.
    pub fn base_size(&self) -> u64 {
        self.base_size.load(Ordering::Relaxed)
    }

    pub fn policy(&self) -> AppendFsync {
        self.policy
    }

    /// The current incremental file's path.
    pub fn path(&self) -> PathBuf {
        self.current.lock().unwrap_or_else(PoisonError::into_inner).path.clone()
    }

    fn file(&self) -> Arc<File> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner).file.clone()
    }

    /// A rewrite opened `file` (empty) as the next incremental file: taken over once the
    /// journal's cut is written (see [`Journal::set_cut`]).
    pub fn prepare_switch(&self, file: File, path: PathBuf) {
        *self.next.lock().unwrap_or_else(PoisonError::into_inner) = Some(Current { file: Arc::new(file), path });
    }

    /// Moves to a new incremental file so far (a rewrite waits for its own).
    pub fn switches(&self) -> u64 {
        self.switches.load(Ordering::Acquire)
    }

    /// Under the flush token: move to the next incremental file if the cut was written.
    fn switch_if_due(&self, cut_written: bool) {
        if !(cut_written || self.switch_due.swap(false, Ordering::AcqRel)) {
            return;
        }
        let Some(next) = self.next.lock().unwrap_or_else(PoisonError::into_inner).take() else { return };
        tracing::info!(path = %next.path.display(), "AOF: appending to a new incremental file");
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = next;
        let old = self.size.swap(0, Ordering::AcqRel);
        self.other_size.fetch_add(old, Ordering::AcqRel);
        self.switches.fetch_add(1, Ordering::AcqRel);
    }

    /// Every change up to this number is on disk as the policy requires (`always`: fsynced).
    pub fn durable_seq(&self) -> u64 {
        self.durable_seq.load(Ordering::Acquire)
    }

    /// INFO aof_current_size.
    pub fn current_size(&self) -> u64 {
        self.other_size.load(Ordering::Relaxed) + self.size.load(Ordering::Relaxed)
    }

    /// The errno of the last failed write, if the last write failed (MISCONF).
    pub fn write_error(&self) -> Option<i32> {
        match self.write_errno.load(Ordering::Acquire) {
            0 => None,
            e => Some(e),
        }
    }

    /// Replies wait for `always` flushes done by worker rings (uring engine).
    pub fn set_ring_driven(&self) {
        self.ring_driven.store(true, Ordering::Release);
    }

    /// True when sessions must hold replies of writes until `durable_seq` covers them
    /// (instead of calling [`Aof::wait_durable`]).
    pub fn ring_driven(&self) -> bool {
        self.ring_driven.load(Ordering::Acquire)
    }

    /// Register uring worker `id`'s wake-up: called when a flush ends while the worker holds
    /// replies (it publishes how many with [`Hold::set_waiting`] / [`Hold::released`]).
    pub fn on_durable(&self, id: usize, wake: Waker) -> Arc<RingWorker> {
        self.hold.register(id, wake)
    }

    /// The uring workers' shared flush hold (see [`hold`]).
    pub fn hold(&self) -> &Hold {
        &self.hold
    }

    /// Some flush holds the token (its end wakes the workers holding replies).
    pub fn flush_in_flight(&self) -> bool {
        self.flushing.load(Ordering::Acquire)
    }

    /// Bytes are released and not yet taken by a flush (a flush now would write them).
    pub fn bytes_pending(&self) -> bool {
        self.journal.pending_len().0 > 0
    }

    /// Take the flush token and the pending bytes. `None`: another flush runs, nothing is
    /// pending (the numbers released with no bytes become durable at once), or a failed
    /// write's retry is not due yet.
    pub fn begin_flush(&self) -> Option<FlushJob> {
        if self.flushing.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return None;
        }
        let retry_due = self.write_error().is_none()
            || self
                .last_failure
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_none_or(|t| t.elapsed() >= AOF_RETRY_INTERVAL);
        if !retry_due {
            self.flushing.store(false, Ordering::Release);
            return None;
        }
        self.switch_if_due(false);
        let pending = self.journal.take_pending();
        if pending.cut && pending.bytes.is_empty() {
            // Nothing before the cut left to write: the next file starts now.
            self.switch_if_due(true);
            self.flushing.store(false, Ordering::Release);
            return None;
        }
        if pending.bytes.is_empty() {
            let advanced = self.written_seq.load(Ordering::Acquire) == self.durable_seq()
                && self.durable_seq.fetch_max(pending.released_seq, Ordering::AcqRel) < pending.released_seq;
            if advanced {
                self.written_seq.fetch_max(pending.released_seq, Ordering::AcqRel);
            }
            // Wake waiters only if something became durable (a wake-up that finds nothing
            // new would come straight back here: a busy loop).
            if advanced {
                self.end_flush(None);
            } else {
                self.flushing.store(false, Ordering::Release);
            }
            return None;
        }
        Some(FlushJob {
            bytes: pending.bytes,
            released_seq: pending.released_seq,
            offset: self.size.load(Ordering::Acquire),
            file: self.file(),
            cut: pending.cut,
        })
    }

    /// The job's write finished with `result` (bytes written or an errno). On success the
    /// file grew; on failure (or a short write) the file is cut back, the bytes go back to
    /// the journal, and writes are refused until a retry succeeds. Returns true on success.
    pub fn write_done(&self, job: &mut FlushJob, result: Result<usize, i32>) -> bool {
        match result {
            Ok(n) if n == job.bytes.len() => {
                self.size.fetch_add(n as u64, Ordering::AcqRel);
                self.written_seq.fetch_max(job.released_seq, Ordering::AcqRel);
                self.writes.fetch_add(1, Ordering::Relaxed);
                if job.cut {
                    self.switch_due.store(true, Ordering::Release);
                }
                if self.write_errno.swap(0, Ordering::AcqRel) != 0 {
                    tracing::warn!("AOF write error looks solved, Redis can write again.");
                }
                true
            }
            other => {
                // A short write is what a full disk looks like (Redis reports ENOSPC too).
                let errno = match other {
                    Err(e) => e,
                    Ok(_) => libc::ENOSPC,
                };
                if let Err(e) = job.file.set_len(job.offset) {
                    tracing::warn!(error = %e, "could not remove the AOF's partial write; it will be overwritten");
                }
                self.journal.untake_pending(std::mem::take(&mut job.bytes), job.cut, job.released_seq);
                *self.last_failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
                if self.write_errno.swap(errno, Ordering::AcqRel) == 0 {
                    tracing::warn!(
                        path = %self.path().display(),
                        "Error writing to the AOF file: {}",
                        strerror(errno)
                    );
                }
                false
            }
        }
    }

    /// The job's fdatasync finished. A failure is fatal (see the module header).
    pub fn fsync_done(&self, released_seq: u64, result: Result<(), i32>) {
        if let Err(errno) = result {
            tracing::error!(
                path = %self.path().display(),
                "Can't persist AOF for fsync error when the AOF fsync policy is 'always': {}. Exiting...",
                strerror(errno)
            );
            std::process::exit(1);
        }
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        *self.last_fsync.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.durable_seq.fetch_max(released_seq, Ordering::AcqRel);
    }

    /// Release the flush token and wake everyone waiting for durability (except worker
    /// `me`, which ran the flush and looks itself).
    pub fn end_flush(&self, me: Option<usize>) {
        self.flushing.store(false, Ordering::Release);
        drop(self.wait_lock.lock().unwrap_or_else(PoisonError::into_inner));
        self.wait_cond.notify_all();
        self.hold.wake_waiting(me);
    }

    /// One blocking flush: write what is pending and, if `sync`, fdatasync. Returns false if
    /// another flush was running, a retry was not due or nothing was pending.
    pub fn flush_blocking(&self, sync: bool) -> bool {
        let Some(mut job) = self.begin_flush() else { return false };
        let result = job.file.write_all_at(&job.bytes, job.offset).map(|()| job.bytes.len());
        let ok = self.write_done(&mut job, result.map_err(|e| e.raw_os_error().unwrap_or(libc::EIO)));
        // The file before a cut is synced whatever the policy: nothing syncs it later.
        if ok && (sync || job.cut) {
            let r = job.file.sync_data().map_err(|e| e.raw_os_error().unwrap_or(libc::EIO));
            self.fsync_done(job.released_seq, r);
        } else if ok && self.policy != AppendFsync::Always {
            // everysec / no: written is what these policies promise per flush.
            self.durable_seq.fetch_max(job.released_seq, Ordering::AcqRel);
        }
        self.end_flush(None);
        true
    }

    /// everysec: fdatasync what was written, if a second passed since the last one.
    pub fn fsync_if_due(&self) {
        let due = self.last_fsync.lock().unwrap_or_else(PoisonError::into_inner).elapsed() >= AOF_FSYNC_INTERVAL;
        if !due || self.flushing.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return;
        }
        let written = self.written_seq.load(Ordering::Acquire);
        let r = self.file().sync_data().map_err(|e| e.raw_os_error().unwrap_or(libc::EIO));
        self.fsync_done(written, r);
        self.end_flush(None);
    }

    /// Block until change `seq` is durable (baseline engines, `always`): run the flush if
    /// nobody is, otherwise wait for the one running. Returns false if the server stops first.
    pub fn wait_durable(&self, seq: u64) -> bool {
        while self.durable_seq() < seq {
            if self.stopping.load(Ordering::Acquire) {
                return false;
            }
            if self.flush_blocking(true) {
                continue;
            }
            let guard = self.wait_lock.lock().unwrap_or_else(PoisonError::into_inner);
            if self.durable_seq() < seq {
                drop(self.wait_cond.wait_timeout(guard, WAIT_SLICE));
            }
        }
        true
    }

    /// The background writer's work for one interval (see the module header). Returns true
    /// if it wrote (or tried to write) pending bytes.
    pub fn background_step(&self) -> bool {
        match self.policy {
            AppendFsync::Always if self.ring_driven() => false,
            AppendFsync::Always => self.flush_blocking(true),
            AppendFsync::Everysec => {
                let wrote = self.flush_blocking(false);
                self.fsync_if_due();
                wrote
            }
            AppendFsync::No => self.flush_blocking(false),
        }
    }

    /// Shutdown: stop waiting writers, then write and fsync everything pending (retrying
    /// while another flush finishes).
    pub fn final_flush(&self) {
        self.stopping.store(true, Ordering::Release);
        for _ in 0..100 {
            if self.journal.pending_len().0 == 0 && !self.flushing.load(Ordering::Acquire) {
                break;
            }
            if !self.flush_blocking(true) {
                std::thread::sleep(WAIT_SLICE);
            }
        }
        if let Err(e) = self.file().sync_all() {
            tracing::warn!(error = %e, "fsync of the AOF at shutdown failed");
        }
    }

    /// Bytes released and not yet written (INFO aof_buffer_length).
    pub fn buffer_length(&self) -> usize {
        self.journal.pending_len().0
    }
}

/// `strerror`'s text for `errno` (as Redis prints it in MISCONF), without Rust's suffix.
pub fn strerror(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Run the background writer until `stop` (see [`Aof::background_step`]).
pub fn spawn_background(aof: Arc<Aof>, stop: impl Fn() -> bool + Send + 'static) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("ringkv-aof".into())
        .spawn(move || {
            let mut interval = AOF_IDLE_INTERVAL;
            while !stop() {
                std::thread::sleep(interval);
                interval = if aof.background_step() { AOF_WRITE_INTERVAL } else { AOF_IDLE_INTERVAL };
            }
        })
        .expect("spawn the AOF thread")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::journal::{encode, new_section, Mark, UnitGuard};

    fn aof(policy: AppendFsync) -> (tempfile::TempDir, Arc<Journal>, Aof) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.1.incr.aof");
        let file = std::fs::OpenOptions::new().create(true).truncate(true).read(true).write(true).open(&path).unwrap();
        let journal = Arc::new(Journal::default());
        journal.enable(Some(0));
        let aof = Aof::new(policy, dir.path().into(), path, file, journal.clone());
        (dir, journal, aof)
    }

    fn change(journal: &Arc<Journal>, key: &[u8]) -> u64 {
        let _unit = UnitGuard::begin();
        new_section();
        journal.note_change();
        Mark::now(0).push_command(encode(&[b"SET", key, b"v"]));
        crate::store::journal::unit_seq()
    }

    #[test]
    fn wait_durable_writes_and_fsyncs_once_for_everything_pending() {
        let (_dir, journal, aof) = aof(AppendFsync::Always);
        change(&journal, b"a");
        let seq = change(&journal, b"b");
        assert!(aof.wait_durable(seq));
        assert_eq!(aof.fsyncs.load(Ordering::Relaxed), 1);
        let text = std::fs::read(aof.path()).unwrap();
        assert_eq!(text, [encode(&[b"SET", b"a", b"v"]), encode(&[b"SET", b"b", b"v"])].concat());
        assert_eq!(aof.current_size(), text.len() as u64);
    }

    #[test]
    fn a_failed_write_is_cut_back_kept_and_retried() {
        // The first write "fails" half-way: the file is cut back to its old size, MISCONF's
        // errno is kept, and the retry writes the same bytes once.
        let (_dir, journal, aof) = aof(AppendFsync::Always);
        let seq = change(&journal, b"a");
        let mut job = aof.begin_flush().unwrap();
        job.file.write_all_at(&job.bytes[..5], job.offset).unwrap();
        assert!(!aof.write_done(&mut job, Ok(5)));
        aof.end_flush(None);
        assert_eq!(aof.write_error(), Some(libc::ENOSPC));
        assert_eq!(std::fs::metadata(aof.path()).unwrap().len(), 0);
        assert!(aof.begin_flush().is_none(), "retry not due yet");
        *aof.last_failure.lock().unwrap() = Some(Instant::now() - AOF_RETRY_INTERVAL);
        assert!(aof.wait_durable(seq));
        assert_eq!(aof.write_error(), None);
        assert_eq!(std::fs::read(aof.path()).unwrap(), encode(&[b"SET", b"a", b"v"]));
        assert_eq!(strerror(libc::ENOSPC), "No space left on device");
    }
}
