//! Persistence state and files: the append-only file in Redis 7's multi-part layout, the
//! writer that appends to it, and the bookkeeping INFO persistence and BGREWRITEAOF read.
//! This layer knows files and the journal, not commands or the server: loading, startup and
//! the rewrite itself, which run commands and walk the store, are in [`crate::durability`].
//!
//! - `store::journal` (below the store's shard locks) orders every change made by any worker
//!   into one sequence; `cmd::propagate` says what the AOF records for a command.
//! - [`aof`] — the writer: one flush at a time, `always` / `everysec` / `no`, write failures
//!   (MISCONF) and recovery, the move to a new incremental file at a rewrite's cut.
//! - [`manifest`] — the directory's manifest (`file … seq … type …`), replaced atomically.
//! - [`rdb`] — the RDB format (files, DUMP payloads, RDB-preamble AOF bases, LZF);
//!   [`save`] — SAVE / BGSAVE / shutdown-save state, save points' retry, the snapshot slot.
//!
//! # What `appendonly` costs the request path
//!
//! `appendonly no` (the default): the journal is off; a command pays one relaxed load of its
//! `enabled` flag in `cmd::execute` and `cmd::call`, and each change one more in the store's
//! modification funnel (`Shard::touch`) plus a plain add on the worker's own stripe of the
//! change counter save points read (no thread-local unit, no shared counter). Every write
//! command also pays one relaxed load for the RDB MISCONF flag
//! (`stop-writes-on-bgsave-error`, see [`Persist::misconf`]). Measured in `docs/persistence.md`.
//!
//! `appendonly yes`: per command a thread-local unit (begun and filled), per lock section
//! that changes something one `fetch_add` on the journal's shared counter (a contended cache
//! line across workers), per changing command its RESP encoding and one lock of the
//! journal's reorder window; then the writes and fsyncs of the policy (`always`: a reply
//! waits for the fdatasync that covers it, one per batch across every connection).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::Duration;

pub mod aof;
pub mod manifest;
pub mod rdb;
pub mod save;

use aof::Aof;

/// Redis 7.0's error for write commands after a failed background save
/// (`stop-writes-on-bgsave-error yes` with save points configured): `shared.bgsaveerr`.
pub const ERR_MISCONF_RDB: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// Redis 7.0's reply to BGREWRITEAOF while a rewrite runs.
pub const ERR_REWRITE_IN_PROGRESS: &str = "ERR Background append only file rewriting already in progress";

/// Persistence state every worker shares.
pub struct Persist {
    aof: OnceLock<Arc<Aof>>,
    /// Unix seconds of the last successful save (startup until a save exists).
    last_save_unix: AtomicU64,
    /// The journal's change count at the last save (INFO rdb_changes_since_last_save).
    changes_at_save: AtomicU64,
    /// `auto-aof-rewrite-percentage` and `auto-aof-rewrite-min-size` (CONFIG SET changes them).
    auto_rewrite_percentage: AtomicU64,
    auto_rewrite_min_size: AtomicU64,
    /// BGREWRITEAOF's state and statistics.
    pub rewrite: Rewrite,
    /// SAVE / BGSAVE's state and statistics, and the one snapshot slot.
    pub saves: save::Saves,
    /// `save`: the save points (CONFIG SET changes them; read by the cron every 100 ms).
    save_points: Mutex<Vec<crate::config::SavePoint>>,
    /// `stop-writes-on-bgsave-error`.
    stop_writes: AtomicBool,
    /// Write commands are refused with [`ERR_MISCONF_RDB`]: `stop-writes-on-bgsave-error`,
    /// save points configured and the last background save failed (Redis's
    /// `writeCommandsDeniedByDiskError`), kept up to date by whatever changes one of the
    /// three, so the request path pays one relaxed load.
    rdb_misconf: AtomicBool,
    /// `rdbcompression`.
    rdbcompression: AtomicBool,
    /// `aof-use-rdb-preamble`.
    rdb_preamble: AtomicBool,
}

/// The rewrite's state (INFO persistence) and the request the rewrite thread waits for.
#[derive(Default)]
pub struct Rewrite {
    /// A rewrite was asked for or runs (`aof_rewrite_in_progress`).
    in_progress: AtomicBool,
    /// Unix ms at which the running rewrite started (0: none).
    started_ms: AtomicU64,
    /// Seconds the last rewrite took (-1: none yet).
    last_time_sec: AtomicI64,
    /// The last rewrite failed (`aof_last_bgrewrite_status:err`).
    last_failed: AtomicBool,
    rewrites: AtomicU64,
    consecutive_failures: AtomicU64,
    /// The AOF's size after the last rewrite or at startup: the base of
    /// `auto-aof-rewrite-percentage`.
    base_size: AtomicU64,
    asked: Mutex<bool>,
    wake: Condvar,
}

impl Rewrite {
    /// BGREWRITEAOF: hand a rewrite to the rewrite thread. Err: one is already running.
    pub fn request(&self) -> Result<(), &'static str> {
        if self.in_progress.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return Err(ERR_REWRITE_IN_PROGRESS);
        }
        *self.asked.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.wake.notify_all();
        Ok(())
    }

    /// The automatic trigger: start a rewrite unless one runs. True if this call started it.
    pub fn try_begin(&self) -> bool {
        self.in_progress.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// The rewrite thread: wait up to `timeout` for a request; true if one came.
    pub fn wait_request(&self, timeout: Duration) -> bool {
        let mut asked = self.asked.lock().unwrap_or_else(PoisonError::into_inner);
        if !*asked {
            asked = self.wake.wait_timeout(asked, timeout).unwrap_or_else(PoisonError::into_inner).0;
        }
        std::mem::replace(&mut *asked, false)
    }

    /// Wake the rewrite thread (shutdown).
    pub fn wake(&self) {
        self.wake.notify_all();
    }

    /// The rewrite thread starts working at Unix ms `now_ms`.
    pub fn started(&self, now_ms: u64) {
        self.started_ms.store(now_ms.max(1), Ordering::Release);
    }

    /// The rewrite ended at `now_ms`; `ok` or failed. `aof_size`: the AOF's size now (the
    /// next automatic rewrite's base, after a success).
    pub fn finished(&self, now_ms: u64, ok: bool, aof_size: u64) {
        let started = self.started_ms.swap(0, Ordering::AcqRel);
        let secs = now_ms.saturating_sub(started) / 1000;
        self.last_time_sec.store(secs as i64, Ordering::Relaxed);
        self.last_failed.store(!ok, Ordering::Relaxed);
        if ok {
            self.rewrites.fetch_add(1, Ordering::Relaxed);
            self.consecutive_failures.store(0, Ordering::Relaxed);
            self.base_size.store(aof_size, Ordering::Relaxed);
        } else {
            self.consecutive_failures.fetch_add(1, Ordering::Relaxed);
        }
        self.in_progress.store(false, Ordering::Release);
    }

    pub fn in_progress(&self) -> bool {
        self.in_progress.load(Ordering::Acquire)
    }

    /// The base of `auto-aof-rewrite-percentage` (set at startup, then by each rewrite).
    pub fn set_base_size(&self, n: u64) {
        self.base_size.store(n, Ordering::Relaxed);
    }

    pub fn base_size(&self) -> u64 {
        self.base_size.load(Ordering::Relaxed)
    }

    /// INFO's rewrite fields.
    fn info(&self, now_ms: u64) -> String {
        let started = self.started_ms.load(Ordering::Acquire);
        let current = if started == 0 { -1 } else { (now_ms.saturating_sub(started) / 1000) as i64 };
        let last = self.last_time_sec.load(Ordering::Relaxed);
        format!(
            "aof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:0\r\naof_last_rewrite_time_sec:{last}\r\naof_current_rewrite_time_sec:{current}\r\naof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\naof_rewrites_consecutive_failures:{}\r\n",
            u8::from(self.in_progress()),
            if self.last_failed.load(Ordering::Relaxed) { "err" } else { "ok" },
            self.rewrites.load(Ordering::Relaxed),
            self.consecutive_failures.load(Ordering::Relaxed),
        )
    }
}

impl Persist {
    pub fn new(config: &crate::config::Config) -> Persist {
        let rewrite = Rewrite::default();
        rewrite.last_time_sec.store(-1, Ordering::Relaxed);
        Persist {
            aof: OnceLock::new(),
            last_save_unix: AtomicU64::new(crate::store::now_ms() / 1000),
            changes_at_save: AtomicU64::new(0),
            auto_rewrite_percentage: AtomicU64::new(config.auto_aof_rewrite_percentage),
            auto_rewrite_min_size: AtomicU64::new(config.auto_aof_rewrite_min_size),
            rewrite,
            saves: save::Saves::default(),
            save_points: Mutex::new(crate::config::save_points(&config.save)),
            stop_writes: AtomicBool::new(config.stop_writes_on_bgsave_error == crate::config::YesNo::Yes),
            rdb_misconf: AtomicBool::new(false),
            rdbcompression: AtomicBool::new(config.rdbcompression == crate::config::YesNo::Yes),
            rdb_preamble: AtomicBool::new(config.aof_use_rdb_preamble == crate::config::YesNo::Yes),
        }
    }

    /// The save points (`save`).
    pub fn save_points(&self) -> Vec<crate::config::SavePoint> {
        self.save_points.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn set_save_points(&self, points: Vec<crate::config::SavePoint>) {
        *self.save_points.lock().unwrap_or_else(PoisonError::into_inner) = points;
        self.update_rdb_misconf();
    }

    pub fn has_save_points(&self) -> bool {
        !self.save_points.lock().unwrap_or_else(PoisonError::into_inner).is_empty()
    }

    pub fn stop_writes_on_bgsave_error(&self) -> bool {
        self.stop_writes.load(Ordering::Relaxed)
    }

    pub fn set_stop_writes_on_bgsave_error(&self, on: bool) {
        self.stop_writes.store(on, Ordering::Relaxed);
        self.update_rdb_misconf();
    }

    pub fn rdbcompression(&self) -> bool {
        self.rdbcompression.load(Ordering::Relaxed)
    }

    pub fn set_rdbcompression(&self, on: bool) {
        self.rdbcompression.store(on, Ordering::Relaxed);
    }

    /// `aof-use-rdb-preamble`: the next AOF base is an RDB image.
    pub fn rdb_preamble(&self) -> bool {
        self.rdb_preamble.load(Ordering::Relaxed)
    }

    pub fn set_rdb_preamble(&self, on: bool) {
        self.rdb_preamble.store(on, Ordering::Relaxed);
    }

    /// A background save ended (`Some(ok)`, `None`: stopped): its status and the MISCONF
    /// state follow.
    pub fn bgsave_done(&self, now_ms: u64, ok: Option<bool>) {
        self.saves.end_bg(now_ms, ok);
        self.update_rdb_misconf();
    }

    /// Recompute [`Persist::rdb_misconf`] from its three inputs.
    fn update_rdb_misconf(&self) {
        let on = self.stop_writes_on_bgsave_error() && self.has_save_points() && self.saves.bg_failed();
        self.rdb_misconf.store(on, Ordering::Relaxed);
    }

    /// Changes since the last successful save (`rdb_changes_since_last_save`, Redis's
    /// `server.dirty`); `changes`: the journal's change count now.
    pub fn dirty(&self, changes: u64) -> u64 {
        changes.saturating_sub(self.changes_at_save.load(Ordering::Relaxed))
    }

    /// A save succeeded: LASTSAVE and `rdb_changes_since_last_save` start from it
    /// (`changes`: the journal's change count at the save's cut).
    pub fn saved(&self, unix_s: u64, changes: u64) {
        self.last_save_unix.store(unix_s, Ordering::Relaxed);
        self.changes_at_save.store(changes, Ordering::Relaxed);
        // A good save, foreground or not, clears the failed status (Redis's rdbSave).
        self.saves.clear_failed();
        self.update_rdb_misconf();
    }

    /// LASTSAVE's answer.
    pub fn last_save_unix(&self) -> u64 {
        self.last_save_unix.load(Ordering::Relaxed)
    }

    /// Install the AOF (startup, once).
    pub fn set_aof(&self, aof: Arc<Aof>) {
        let _ = self.aof.set(aof);
    }

    pub fn auto_rewrite_percentage(&self) -> u64 {
        self.auto_rewrite_percentage.load(Ordering::Relaxed)
    }

    pub fn set_auto_rewrite_percentage(&self, n: u64) {
        self.auto_rewrite_percentage.store(n, Ordering::Relaxed);
    }

    pub fn auto_rewrite_min_size(&self) -> u64 {
        self.auto_rewrite_min_size.load(Ordering::Relaxed)
    }

    pub fn set_auto_rewrite_min_size(&self, n: u64) {
        self.auto_rewrite_min_size.store(n, Ordering::Relaxed);
    }

    /// Redis's automatic rewrite condition: the AOF is at least `auto-aof-rewrite-min-size`
    /// and grew by `auto-aof-rewrite-percentage` over its size after the last rewrite.
    pub fn auto_rewrite_due(&self) -> bool {
        let Some(aof) = self.aof() else { return false };
        let pct = self.auto_rewrite_percentage();
        let size = aof.current_size();
        if pct == 0 || size < self.auto_rewrite_min_size() || self.rewrite.in_progress() {
            return false;
        }
        let base = self.rewrite.base_size().max(1);
        (size.saturating_mul(100) / base).saturating_sub(100) >= pct
    }

    /// The AOF, when `--appendonly yes` and it is open.
    pub fn aof(&self) -> Option<&Arc<Aof>> {
        self.aof.get()
    }

    /// Redis's MISCONF error while the last background save failed (see
    /// [`Persist::rdb_misconf`]) or the last AOF write failed (write commands and PING are
    /// refused with it).
    pub fn misconf(&self) -> Option<String> {
        if self.rdb_misconf.load(Ordering::Relaxed) {
            return Some(ERR_MISCONF_RDB.to_string());
        }
        let errno = self.aof()?.write_error()?;
        Some(format!("MISCONF Errors writing to the AOF file: {}", aof::strerror(errno)))
    }

    /// The `# Persistence` section of INFO, with Redis 7.0's field names. `dirty`: the
    /// journal's change count.
    pub fn info(&self, dirty: u64) -> String {
        let changes = self.dirty(dirty);
        let mut s = format!(
            "# Persistence\r\nloading:0\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\ncurrent_cow_size:0\r\ncurrent_cow_size_age:0\r\ncurrent_fork_perc:0.00\r\ncurrent_save_keys_processed:0\r\ncurrent_save_keys_total:0\r\n{}aof_enabled:{}\r\n{}aof_last_write_status:{}\r\naof_last_cow_size:0\r\nmodule_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n",
            self.saves.info(crate::store::now_ms(), self.last_save_unix.load(Ordering::Relaxed), changes),
            u8::from(self.aof().is_some()),
            self.rewrite.info(crate::store::now_ms()),
            if self.aof().and_then(|a| a.write_error()).is_some() { "err" } else { "ok" },
        );
        if let Some(aof) = self.aof() {
            s.push_str(&format!(
                "aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:0\r\naof_buffer_length:{}\r\naof_pending_bio_fsync:0\r\naof_delayed_fsync:0\r\naof_writes:{}\r\naof_fsyncs:{}\r\naof_flush_holds:{}\r\naof_flush_hold_timeouts:{}\r\n",
                aof.current_size(),
                aof.base_size(),
                aof.buffer_length(),
                aof.writes.load(Ordering::Relaxed),
                aof.fsyncs.load(Ordering::Relaxed),
                aof.hold().holds.load(Ordering::Relaxed),
                aof.hold().hold_timeouts.load(Ordering::Relaxed),
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rewrite_at_a_time_and_info_follows_it() {
        let p = Persist::new(&crate::config::Config::defaults());
        assert!(p.info(0).contains("aof_rewrite_in_progress:0\r\n"));
        assert!(p.info(0).contains("aof_last_rewrite_time_sec:-1\r\n"));
        assert_eq!(p.rewrite.request(), Ok(()));
        assert_eq!(p.rewrite.request(), Err(ERR_REWRITE_IN_PROGRESS));
        assert!(!p.rewrite.try_begin());
        assert!(p.rewrite.wait_request(Duration::ZERO), "the request reaches the rewrite thread");
        assert!(!p.rewrite.wait_request(Duration::ZERO), "once");
        p.rewrite.started(10_000);
        let info = p.info(0);
        assert!(info.contains("aof_rewrite_in_progress:1\r\n") && !info.contains("aof_current_rewrite_time_sec:-1"));
        p.rewrite.finished(12_500, true, 4096);
        let info = p.info(0);
        assert!(info.contains("aof_rewrites:1\r\naof_rewrites_consecutive_failures:0\r\n"), "{info}");
        assert!(info.contains("aof_last_rewrite_time_sec:2\r\naof_current_rewrite_time_sec:-1\r\n"), "{info}");
        assert_eq!(p.rewrite.base_size(), 4096);
        assert!(p.rewrite.try_begin());
        p.rewrite.finished(13_000, false, 0);
        assert!(p.info(0).contains("aof_last_bgrewrite_status:err"));
    }
}
