//! Durability: the append-only file in Redis 7's multi-part layout, loaded at startup and
//! appended to while serving.
//!
//! - [`journal`] — orders every change made by any worker into one sequence (and counts
//!   them: the dirty counter); the design and why replay rebuilds what clients saw.
//! - [`propagate`] — what the AOF records for a command (relative expiries made absolute,
//!   float and random outcomes written as results).
//! - [`aof`] — the writer: one flush at a time, `always` / `everysec` / `no`, write failures
//!   (MISCONF) and recovery.
//! - [`manifest`] — the directory's manifest (`file … seq … type …`), replaced atomically.
//! - [`load`] — replaying the directory at startup, torn tails and corruption.
//!
//! Startup ([`start`]): with `--appendonly yes`, the directory `--dir/--appenddirname` is
//! loaded if it has a manifest; otherwise a new one is created with an empty RESP base and
//! an incremental file, as Redis 7.0 does on first start (`aof-use-rdb-preamble no`). The
//! journal is then enabled and the last incremental file opened for appending.

use std::fs::OpenOptions;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::Context;

use crate::config::YesNo;
use crate::shared::Shared;

pub mod aof;
pub mod journal;
pub mod load;
pub mod manifest;
pub mod propagate;

use aof::Aof;
use manifest::{Entry, Kind, Manifest};

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
}

impl Persist {
    pub fn new(config: &crate::config::Config) -> Persist {
        Persist {
            aof: OnceLock::new(),
            last_save_unix: AtomicU64::new(crate::store::now_ms() / 1000),
            changes_at_save: AtomicU64::new(0),
            auto_rewrite_percentage: AtomicU64::new(config.auto_aof_rewrite_percentage),
            auto_rewrite_min_size: AtomicU64::new(config.auto_aof_rewrite_min_size),
        }
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

    /// The AOF, when `--appendonly yes` and it is open.
    pub fn aof(&self) -> Option<&Arc<Aof>> {
        self.aof.get()
    }

    /// Redis's MISCONF error while the last AOF write failed (write commands and PING are
    /// refused with it).
    pub fn misconf(&self) -> Option<String> {
        let errno = self.aof()?.write_error()?;
        Some(format!("MISCONF Errors writing to the AOF file: {}", aof::strerror(errno)))
    }

    /// The `# Persistence` section of INFO, with Redis 7.0's field names.
    pub fn info(&self, shared: &Shared) -> String {
        let changes = shared.store.journal().changes().saturating_sub(self.changes_at_save.load(Ordering::Relaxed));
        let mut s = format!(
            "# Persistence\r\nloading:0\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\ncurrent_cow_size:0\r\ncurrent_cow_size_age:0\r\ncurrent_fork_perc:0.00\r\ncurrent_save_keys_processed:0\r\ncurrent_save_keys_total:0\r\nrdb_changes_since_last_save:{changes}\r\nrdb_bgsave_in_progress:0\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:ok\r\nrdb_last_bgsave_time_sec:-1\r\nrdb_current_bgsave_time_sec:-1\r\nrdb_saves:0\r\nrdb_last_cow_size:0\r\nrdb_last_load_keys_expired:0\r\nrdb_last_load_keys_loaded:0\r\naof_enabled:{}\r\naof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0\r\naof_last_rewrite_time_sec:-1\r\naof_current_rewrite_time_sec:-1\r\naof_last_bgrewrite_status:ok\r\naof_rewrites:0\r\naof_rewrites_consecutive_failures:0\r\naof_last_write_status:{}\r\naof_last_cow_size:0\r\nmodule_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n",
            self.last_save_unix.load(Ordering::Relaxed),
            u8::from(self.aof().is_some()),
            if self.aof().and_then(|a| a.write_error()).is_some() { "err" } else { "ok" },
        );
        if let Some(aof) = self.aof() {
            s.push_str(&format!(
                "aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:0\r\naof_buffer_length:{}\r\naof_pending_bio_fsync:0\r\naof_delayed_fsync:0\r\naof_writes:{}\r\naof_fsyncs:{}\r\n",
                aof.current_size(),
                aof.base_size,
                aof.buffer_length(),
                aof.writes.load(Ordering::Relaxed),
                aof.fsyncs.load(Ordering::Relaxed),
            ));
        }
        s
    }
}

/// Load and open the AOF (with `--appendonly yes`) before the engine starts; returns the
/// background writer thread, if one runs. See the module header.
pub fn start(shared: &Arc<Shared>) -> anyhow::Result<Option<std::thread::JoinHandle<()>>> {
    let config = &shared.config;
    if config.appendonly != YesNo::Yes {
        return Ok(None);
    }
    let dir = config.dir.join(&config.appenddirname);
    let basename = config.appendfilename.as_str();
    let manifest = match manifest::load(&dir, basename)? {
        Some(m) => {
            let started = std::time::Instant::now();
            let loaded = load::load(shared, &dir, &m, config.aof_load_truncated == YesNo::Yes)?;
            tracing::info!(
                commands = loaded.commands,
                "DB loaded from append only file: {:.3} seconds",
                started.elapsed().as_secs_f64()
            );
            m
        }
        None => create_dir(&dir, basename)?,
    };
    let mut manifest = manifest;
    if manifest.incrs.is_empty() {
        let incr = manifest.next_incr(basename);
        std::fs::File::create(dir.join(&incr.name)).and_then(|f| f.sync_all())?;
        manifest::sync_dir(&dir)?;
        manifest.incrs.push(incr);
        manifest::store(&dir, basename, &manifest)?;
    }
    let incr = manifest.incrs.last().cloned().context("manifest without an incremental file")?;
    let path = dir.join(&incr.name);
    let file = OpenOptions::new()
        .create(true)
        .read(true)
        .write(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    manifest::sync_dir(&dir)?;
    let journal = shared.store.journal().clone();
    journal.enable(None);
    let mut aof = Aof::new(config.appendfsync, dir.clone(), path, file, journal);
    let size_of = |e: &Entry| std::fs::metadata(dir.join(&e.name)).map(|m| m.len()).unwrap_or(0);
    let base = manifest.base.as_ref().map_or(0, size_of);
    let earlier: u64 = manifest.incrs[..manifest.incrs.len() - 1].iter().map(size_of).sum();
    aof.set_other_sizes(base, base + earlier);
    let aof = Arc::new(aof);
    let _ = shared.persist.aof.set(aof.clone());
    let stop_shared = shared.clone();
    Ok(Some(aof::spawn_background(aof, move || stop_shared.shutting_down())))
}

/// A new AOF directory: empty RESP base, first incremental file, manifest.
fn create_dir(dir: &std::path::Path, basename: &str) -> anyhow::Result<Manifest> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut m = Manifest::default();
    let base = m.next_base(basename);
    for name in [&base.name, &m.next_incr(basename).name] {
        std::fs::File::create(dir.join(name)).and_then(|f| f.sync_all()).with_context(|| format!("creating {name}"))?;
    }
    tracing::info!("Creating AOF base file {} on server start", base.name);
    m.base = Some(base);
    let incr = m.next_incr(basename);
    tracing::info!("Creating AOF incr file {} on server start", incr.name);
    debug_assert_eq!(incr.kind, Kind::Incr);
    m.incrs.push(incr);
    manifest::sync_dir(dir)?;
    manifest::store(dir, basename, &m)?;
    Ok(m)
}

/// After the engine stopped: write and fsync everything pending.
pub fn stop(shared: &Shared, writer: Option<std::thread::JoinHandle<()>>) {
    if let Some(aof) = shared.persist.aof() {
        aof.final_flush();
    }
    if let Some(w) = writer {
        let _ = w.join();
    }
}
