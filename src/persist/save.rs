//! SAVE / BGSAVE state: one snapshot at a time (BGREWRITEAOF shares the store's snapshot
//! marks, so it takes the same slot), the statistics INFO persistence reports, and the
//! RDB entry format handed to the store's snapshot (`store::SnapshotWriter`).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

/// Redis's CONFIG_BGSAVE_RETRY_DELAY: after a failed BGSAVE, save points wait this long
/// before trying again (a full disk is not hammered every 100 ms).
pub const BGSAVE_RETRY_DELAY_S: u64 = 5;

/// Redis 7.0's replies.
pub const ERR_BGSAVE_IN_PROGRESS: &str = "ERR Background save already in progress";
pub const ERR_REWRITE_RUNNING: &str = "ERR An AOF log rewriting in progress: can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.";

/// The RDB record of one live entry (for `Store::begin_snapshot_with`), strings written as
/// they are (`rdbcompression no`).
pub fn rdb_entry(out: &mut Vec<u8>, entry: &crate::store::Entry) {
    super::rdb::write_key(out, entry.key(), entry.value(), entry.expire_at_ms());
}

/// [`rdb_entry`] with strings LZF-compressed where Redis would (`rdbcompression yes`).
pub fn rdb_entry_lzf(out: &mut Vec<u8>, entry: &crate::store::Entry) {
    super::rdb::encoding::with_compression(true, || rdb_entry(out, entry));
}

/// Which save the command layer asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// SAVE: now, inside the command (which holds the isolation lock's read side).
    Save,
    /// BGSAVE: on a thread.
    Bgsave,
    /// SHUTDOWN's save (Redis's `prepareForShutdown`), by a caller holding no isolation
    /// lock: a running BGSAVE or AOF rewrite is stopped first.
    Shutdown,
}

/// What SHUTDOWN (or SIGTERM / SIGINT) says about saving.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownSave {
    /// Save when save points are configured.
    Default,
    /// SHUTDOWN SAVE: save even without save points.
    Save,
    /// SHUTDOWN NOSAVE: never.
    NoSave,
}

impl ShutdownSave {
    /// Whether this shutdown writes the RDB file, given whether save points exist.
    pub fn saves(self, has_save_points: bool) -> bool {
        match self {
            ShutdownSave::Default => has_save_points,
            ShutdownSave::Save => true,
            ShutdownSave::NoSave => false,
        }
    }
}

/// What SAVE, BGSAVE and SHUTDOWN ask of the layer that can walk the server (`durability`,
/// installed at startup). Err: the reply.
pub type Runner = Box<dyn Fn(Kind) -> Result<(), String> + Send + Sync>;

/// SAVE / BGSAVE bookkeeping.
pub struct Saves {
    /// Runs a save (see [`Runner`]); unset in unit tests of the command layer.
    runner: std::sync::OnceLock<Runner>,
    /// Held by whoever has the store's snapshot marks (a save or an AOF rewrite).
    slot: Mutex<()>,
    /// A BGSAVE runs (`rdb_bgsave_in_progress`).
    bg_in_progress: AtomicBool,
    /// Unix ms the running BGSAVE started (0: none).
    bg_started_ms: AtomicU64,
    /// Seconds the last BGSAVE took (-1: none yet).
    bg_last_time_sec: AtomicI64,
    /// The last BGSAVE failed (`rdb_last_bgsave_status:err`).
    bg_last_failed: AtomicBool,
    /// Unix seconds of the last BGSAVE attempt (Redis's `lastbgsave_try`: save points retry
    /// a failed one after [`BGSAVE_RETRY_DELAY_S`]).
    last_try_s: AtomicU64,
    /// Set to make the snapshot being written stop (shutdown: Redis kills its save child).
    abort: AtomicBool,
    /// What the shutdown under way said about saving ([`ShutdownSave`] as u8).
    shutdown_mode: std::sync::atomic::AtomicU8,
    /// The shutdown's first save (before the engine stopped) was written.
    shutdown_saved: AtomicBool,
    /// Saves started by SAVE and BGSAVE, failed ones included (`rdb_saves`, Redis 7.0's
    /// `stat_rdb_saves`: not FLUSHALL's or loading's).
    saves: AtomicU64,
    /// Keys loaded at startup (`rdb_last_load_keys_loaded`) and skipped as expired.
    pub loaded_keys: AtomicU64,
    pub loaded_expired: AtomicU64,
}

impl Default for Saves {
    fn default() -> Self {
        Saves {
            runner: std::sync::OnceLock::new(),
            slot: Mutex::new(()),
            bg_in_progress: AtomicBool::new(false),
            bg_started_ms: AtomicU64::new(0),
            bg_last_time_sec: AtomicI64::new(-1),
            bg_last_failed: AtomicBool::new(false),
            last_try_s: AtomicU64::new(0),
            abort: AtomicBool::new(false),
            shutdown_mode: std::sync::atomic::AtomicU8::new(ShutdownSave::Default as u8),
            shutdown_saved: AtomicBool::new(false),
            saves: AtomicU64::new(0),
            loaded_keys: AtomicU64::new(0),
            loaded_expired: AtomicU64::new(0),
        }
    }
}

impl Saves {
    /// Install the runner (startup, once).
    pub fn set_runner(&self, r: Runner) {
        let _ = self.runner.set(r);
    }
    /// Run a save of `kind`.
    pub fn run(&self, kind: Kind) -> Result<(), String> {
        match self.runner.get() {
            Some(r) => r(kind),
            None => Err("ERR saving is not available".into()),
        }
    }
    /// The snapshot slot if free now.
    pub fn try_slot(&self) -> Option<MutexGuard<'_, ()>> {
        match self.slot.try_lock() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }
    /// The snapshot slot, waiting for a save or rewrite to end.
    pub fn slot(&self) -> MutexGuard<'_, ()> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }
    /// Claim the BGSAVE: false if one runs.
    pub fn begin_bg(&self, now_ms: u64) -> bool {
        if self.bg_in_progress.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.bg_started_ms.store(now_ms, Ordering::Relaxed);
        self.count_save();
        true
    }
    pub fn bg_in_progress(&self) -> bool {
        self.bg_in_progress.load(Ordering::Acquire)
    }
    /// The BGSAVE ended: `Some(ok)`, or `None` when it was stopped (shutdown), which leaves
    /// the last status as it was (Redis: a child killed with SIGUSR1 is no error).
    pub fn end_bg(&self, now_ms: u64, ok: Option<bool>) {
        let started = self.bg_started_ms.swap(0, Ordering::Relaxed);
        self.bg_last_time_sec.store((now_ms.saturating_sub(started) / 1000) as i64, Ordering::Relaxed);
        if let Some(ok) = ok {
            self.bg_last_failed.store(!ok, Ordering::Relaxed);
        }
        self.bg_in_progress.store(false, Ordering::Release);
    }
    /// The last BGSAVE failed.
    pub fn bg_failed(&self) -> bool {
        self.bg_last_failed.load(Ordering::Relaxed)
    }
    /// A save succeeded: `rdb_last_bgsave_status:ok`.
    pub fn clear_failed(&self) {
        self.bg_last_failed.store(false, Ordering::Relaxed);
    }
    /// A BGSAVE is attempted at Unix second `now_s`.
    pub fn tried(&self, now_s: u64) {
        self.last_try_s.store(now_s, Ordering::Relaxed);
    }
    pub fn last_try_s(&self) -> u64 {
        self.last_try_s.load(Ordering::Relaxed)
    }
    /// Ask the snapshot being written to stop (`true`), or allow snapshots again.
    pub fn set_abort(&self, on: bool) {
        self.abort.store(on, Ordering::SeqCst);
    }
    pub fn aborting(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }
    /// The shutdown asked for `mode`; `saved`: its save before the engine stopped is written.
    pub fn set_shutdown(&self, mode: ShutdownSave, saved: bool) {
        self.shutdown_mode.store(mode as u8, Ordering::SeqCst);
        self.shutdown_saved.store(saved, Ordering::SeqCst);
    }
    /// What the shutdown asked for, and whether its first save is written.
    pub fn shutdown(&self) -> (ShutdownSave, bool) {
        let mode = match self.shutdown_mode.load(Ordering::SeqCst) {
            m if m == ShutdownSave::Save as u8 => ShutdownSave::Save,
            m if m == ShutdownSave::NoSave as u8 => ShutdownSave::NoSave,
            _ => ShutdownSave::Default,
        };
        (mode, self.shutdown_saved.load(Ordering::SeqCst))
    }
    pub fn count_save(&self) {
        self.saves.fetch_add(1, Ordering::Relaxed);
    }

    /// The `rdb_*` lines of INFO persistence from `rdb_bgsave_in_progress` on.
    pub fn info(&self, now_ms: u64, last_save_unix: u64, changes: u64) -> String {
        let started = self.bg_started_ms.load(Ordering::Relaxed);
        let current = if started == 0 { -1 } else { (now_ms.saturating_sub(started) / 1000) as i64 };
        format!(
            "rdb_changes_since_last_save:{changes}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{last_save_unix}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:{current}\r\nrdb_saves:{}\r\nrdb_last_cow_size:0\r\nrdb_last_load_keys_expired:{}\r\nrdb_last_load_keys_loaded:{}\r\n",
            u8::from(self.bg_in_progress()),
            if self.bg_failed() { "err" } else { "ok" },
            self.bg_last_time_sec.load(Ordering::Relaxed),
            self.saves.load(Ordering::Relaxed),
            self.loaded_expired.load(Ordering::Relaxed),
            self.loaded_keys.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_background_save_at_a_time_and_info_follows() {
        let s = Saves::default();
        assert!(s.begin_bg(1_000));
        assert!(!s.begin_bg(1_000));
        assert!(s.info(3_500, 7, 0).contains("rdb_bgsave_in_progress:1\r\nrdb_last_save_time:7\r\n"));
        assert!(s.info(3_500, 7, 0).contains("rdb_current_bgsave_time_sec:2\r\n"));
        s.end_bg(4_000, Some(false));
        let info = s.info(5_000, 7, 3);
        assert!(info.contains("rdb_changes_since_last_save:3\r\nrdb_bgsave_in_progress:0\r\n"), "{info}");
        assert!(
            info.contains("rdb_last_bgsave_status:err\r\nrdb_last_bgsave_time_sec:3\r\nrdb_current_bgsave_time_sec:-1")
        );
        let held = s.try_slot();
        assert!(held.is_some() && s.try_slot().is_none());
    }
}
