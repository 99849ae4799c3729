//! BGREWRITEAOF without fork: a new base file written from a point-in-time snapshot of the
//! keyspace while writes keep flowing to a new incremental file, then the manifest switched.
//!
//! # Steps
//!
//! 1. **The cut** (under the exclusive side of the isolation lock, a pause of O(shards)
//!    lock acquisitions plus two small fsyncs): a new, empty incremental file is created and
//!    added to the manifest (old base + old incrs + new incr: loadable as it stands); the
//!    journal's cut is set at its current number `S` (changes up to `S` go to the old incremental
//!    file, later ones to the new one: `store::journal::Journal::set_cut`); every shard is
//!    marked "snapshot due" (`Store::begin_snapshot`); the function libraries are copied.
//! 2. **The base**: shard by shard, the snapshot is taken (or picked up) and appended to a
//!    temp file `temp-rewriteaof-bg-<pid>.aof`: `FUNCTION LOAD` per library, then per
//!    database a `SELECT` and every live key as `SET` / `RPUSH` / `HSET` / `SADD` / `ZADD`
//!    (at most [`crate::store::SNAPSHOT_ITEMS_PER_COMMAND`] items each, as Redis's
//!    `AOF_REWRITE_ITEMS_PER_CMD`) and `PEXPIREAT` for a deadline. fsynced.
//! 3. The writer has moved to the new incremental file (it does once the bytes up to `S` are
//!    written and synced); the temp file is renamed to the next base name, the directory
//!    fsynced, the manifest replaced (new base + new incr: temp file, fsync, rename, fsync
//!    dir), and the old base and incremental files deleted.
//!
//! # Why the result is exact
//!
//! A shard marked "snapshot due" is serialized by whoever locks it first (`store::lock`, the
//! one function every shard access goes through): a writer that wants to change it, a
//! reader, or the rewrite walking the shards. Every change happens under its shard's lock,
//! so the serialized state is the shard's state at the cut: it holds every change numbered up
//! to `S` (all applied before the cut: the cut is taken under the exclusive side, when no
//! command, expiry slice or eviction is running) and none numbered after (those need the lock
//! after the mark, and the mark's first locker serializes before anything changes). The new
//! incremental file holds exactly the changes after `S`, in journal order. So base + new incr
//! replays to the live state, whatever the writers did while the base was being written.
//! Writers never wait for the whole rewrite: the first access to a not yet serialized shard
//! pays its serialization (a 64th of a database, by default), once.
//!
//! A crash at any point leaves a loadable directory: before the final manifest, the
//! intermediate one (old files + the new incremental file) holds everything; the temp base
//! is not in any manifest. A failed rewrite leaves the intermediate manifest, which the next
//! rewrite replaces (Redis behaves the same).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::persist::aof::Aof;
use crate::persist::manifest::{self, Entry, Manifest};
use crate::shared::Shared;
use crate::store::journal::encode;

/// Longest the rewrite waits for the writer to reach the cut and move to the new
/// incremental file (it does at its next flush: milliseconds unless the disk stalls).
pub const SWITCH_WAIT: Duration = Duration::from_secs(30);
/// Buffer of the base file's writer.
const BASE_WRITE_BUFFER: usize = 1 << 20;

/// The rewrite thread: waits for BGREWRITEAOF, checks the automatic trigger, until shutdown.
pub fn spawn_thread(shared: Arc<Shared>) -> anyhow::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("ringkv-aofrw".into())
        .spawn(move || {
            while !shared.shutting_down() {
                let asked = shared.persist.rewrite.wait_request(super::AUTO_REWRITE_CHECK);
                let auto = !asked && shared.persist.auto_rewrite_due() && shared.persist.rewrite.try_begin();
                if auto {
                    tracing::info!("Starting automatic rewriting of AOF on growth");
                }
                if asked || auto {
                    run(&shared);
                }
            }
        })
        .context("starting the AOF rewrite thread")
}

/// One rewrite (the caller set `in_progress`), with its logs and INFO bookkeeping.
fn run(shared: &Shared) {
    // One snapshot at a time: a BGSAVE running is waited for (Redis schedules the rewrite).
    let _slot = shared.persist.saves.slot();
    let rw = &shared.persist.rewrite;
    rw.started(crate::store::now_ms());
    let Some(aof) = shared.persist.aof() else {
        tracing::info!("Background append only file rewriting started (appendonly no)");
        let result = rewrite_without_aof(shared);
        if let Err(e) = &result {
            tracing::warn!("Background AOF rewrite failed: {e:#}");
        } else {
            tracing::info!("Background AOF rewrite finished successfully");
        }
        rw.finished(crate::store::now_ms(), result.is_ok(), 0);
        return;
    };
    tracing::info!("Background append only file rewriting started");
    let started = Instant::now();
    let result = rewrite(shared, aof);
    let ok = result.is_ok();
    match result {
        Ok(()) => tracing::info!(
            "Background AOF rewrite finished successfully in {:.3} seconds",
            started.elapsed().as_secs_f64()
        ),
        Err(e) => tracing::warn!("Background AOF rewrite failed: {e:#}"),
    }
    rw.finished(crate::store::now_ms(), ok, aof.current_size());
}

/// The steps of the module header.
fn rewrite(shared: &Shared, aof: &Aof) -> anyhow::Result<()> {
    let dir = aof.dir.clone();
    let basename = shared.config.appendfilename.as_str();
    let temp = dir.join(format!("temp-rewriteaof-bg-{}.aof", std::process::id()));
    // Counted before the cut: the writer may move to the new file at once.
    let switches = aof.switches();
    let rdb = shared.persist.rdb_preamble();
    let (manifest, incr, functions, sizes) = cut(shared, aof, basename, rdb)?;
    let written = write_base(shared, &temp, &functions, rdb.then_some(&sizes[..]));
    // Every shard's snapshot must be dropped, whatever happened (a failure left some).
    shared.store.end_snapshot();
    let base_size = match written {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
    };
    if let Err(e) = wait_for_switch(shared, aof, switches) {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    let base = manifest.next_base(basename, rdb);
    std::fs::rename(&temp, dir.join(&base.name)).with_context(|| format!("renaming to {}", base.name))?;
    manifest::sync_dir(&dir)?;
    let old: Vec<String> =
        manifest.base.iter().chain(&manifest.incrs).map(|e| e.name.clone()).filter(|n| *n != incr.name).collect();
    manifest::store(&dir, basename, &Manifest { base: Some(base), incrs: vec![incr] })?;
    for name in old {
        if let Err(e) = std::fs::remove_file(dir.join(&name)) {
            tracing::warn!("could not remove the old AOF file {name}: {e}");
        }
    }
    manifest::sync_dir(&dir)?;
    aof.set_other_sizes(base_size, base_size);
    Ok(())
}

/// BGREWRITEAOF with `appendonly no` (Redis 7.0 allows it): a new base from a snapshot
/// taken under the exclusive side, and a manifest naming that base alone (Redis moves the
/// incremental files to history and deletes them); nothing is appended afterwards. Starting
/// later with `appendonly yes` loads the base and adds an incremental file.
fn rewrite_without_aof(shared: &Shared) -> anyhow::Result<()> {
    let dir = shared.config.dir.join(&shared.config.appenddirname);
    let basename = shared.config.appendfilename.as_str();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let temp = dir.join(format!("temp-rewriteaof-bg-{}.aof", std::process::id()));
    let rdb = shared.persist.rdb_preamble();
    let (functions, sizes) = {
        let _exclusive = shared.isolation.exclusive();
        mark(shared, rdb)
    };
    let written = write_base(shared, &temp, &functions, rdb.then_some(&sizes[..]));
    shared.store.end_snapshot();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    let old_manifest = manifest::load(&dir, basename)?.unwrap_or_default();
    let base = old_manifest.next_base(basename, rdb);
    std::fs::rename(&temp, dir.join(&base.name)).with_context(|| format!("renaming to {}", base.name))?;
    manifest::sync_dir(&dir)?;
    manifest::store(&dir, basename, &Manifest { base: Some(base), incrs: Vec::new() })?;
    for old in old_manifest.base.iter().chain(&old_manifest.incrs) {
        if let Err(e) = std::fs::remove_file(dir.join(&old.name)) {
            tracing::warn!("could not remove the old AOF file {}: {e}", old.name);
        }
    }
    manifest::sync_dir(&dir)?;
    Ok(())
}

/// Step 1 under the exclusive side: the new incremental file in the manifest, the journal's
/// cut, the shards marked, the libraries copied. Returns the manifest as it is now, the new
/// incremental file's entry and the library codes.
fn cut(shared: &Shared, aof: &Aof, basename: &str, rdb: bool) -> anyhow::Result<(Manifest, Entry, Functions, Sizes)> {
    let dir = &aof.dir;
    let _exclusive = shared.isolation.exclusive();
    let mut m = manifest::load(dir, basename)?.context("the AOF manifest is gone")?;
    let incr = m.next_incr(basename);
    let path = dir.join(&incr.name);
    let file = OpenOptions::new()
        .create(true)
        .read(true)
        .write(true)
        .truncate(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.sync_all()?;
    manifest::sync_dir(dir)?;
    m.incrs.push(incr.clone());
    manifest::store(dir, basename, &m)?;
    aof.prepare_switch(file, path);
    let journal = shared.store.journal();
    journal.set_cut(journal.last_seq());
    let (functions, sizes) = mark(shared, rdb);
    Ok((m, incr, functions, sizes))
}

/// The library codes of a base.
type Functions = Vec<Vec<u8>>;
/// Keys and keys with a deadline per database at the cut (an RDB base's RESIZEDB hints).
type Sizes = Vec<(usize, usize)>;

/// Mark the store for the base's snapshot (the caller holds the exclusive side): RDB
/// records for an RDB-preamble base, commands otherwise; the libraries and sizes at the cut.
fn mark(shared: &Shared, rdb: bool) -> (Functions, Sizes) {
    let now = crate::store::now_ms();
    let sizes = if rdb { super::rdb_save::db_sizes(shared) } else { Vec::new() };
    let writer = rdb.then(|| super::rdb_save::entry_writer(shared));
    shared.store.begin_snapshot_with(now, writer, false);
    (crate::cmd::function::library_codes(shared), sizes)
}

/// Step 2: the base file at `temp`, fsynced: an RDB image when `rdb_sizes` is given (the
/// sizes at the cut), RESP commands otherwise. Returns its size.
fn write_base(
    shared: &Shared,
    temp: &std::path::Path,
    functions: &[Vec<u8>],
    rdb_sizes: Option<&[(usize, usize)]>,
) -> anyhow::Result<u64> {
    if let Some(sizes) = rdb_sizes {
        super::rdb_save::write_temp(shared, temp, functions, sizes, true)?;
        return Ok(std::fs::metadata(temp)?.len());
    }
    let file = File::create(temp).with_context(|| format!("creating {}", temp.display()))?;
    let mut w = BufWriter::with_capacity(BASE_WRITE_BUFFER, file);
    let mut size = 0u64;
    for code in functions {
        let cmd = encode(&[b"FUNCTION", b"LOAD", code]);
        w.write_all(&cmd)?;
        size += cmd.len() as u64;
    }
    super::write_snapshot(shared, |db, first, bytes| {
        if first {
            let mut n = itoa::Buffer::new();
            let select = encode(&[b"SELECT", n.format(db).as_bytes()]);
            w.write_all(&select)?;
            size += select.len() as u64;
        }
        w.write_all(bytes)?;
        size += bytes.len() as u64;
        Ok(())
    })?;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all().with_context(|| format!("fsync {}", temp.display()))?;
    Ok(size)
}

/// Step 3's precondition: the writer moved past the cut (`switches` was its count before).
fn wait_for_switch(shared: &Shared, aof: &Aof, switches: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + SWITCH_WAIT;
    while aof.switches() == switches {
        if Instant::now() > deadline || shared.shutting_down() {
            bail!("the AOF writer did not reach the rewrite's cut");
        }
        // Run a flush if nobody is (any flusher switches files at the cut).
        if !aof.flush_blocking(true) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    Ok(())
}
