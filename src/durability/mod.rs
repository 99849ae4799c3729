//! The parts of persistence that drive the whole server (above the command layer, because
//! they run commands and walk the store): loading the AOF at startup ([`load`]), opening it
//! for appending ([`start`]), BGREWRITEAOF and its automatic trigger ([`rewrite`]), SAVE,
//! BGSAVE and the save points ([`rdb_save`]), and the final flush and save at shutdown
//! ([`stop`], [`shutdown`]). The files, the writer and the state they share with
//! the command layer are in [`crate::persist`].
//!
//! Startup: with `--appendonly yes`, the directory `--dir/--appenddirname` is loaded if it has
//! a manifest; otherwise a new one is created with an empty base (an RDB image holding no key
//! with `aof-use-rdb-preamble yes`, an empty RESP file with `no`) and an incremental file, as
//! Redis 7.0 does on first start. The journal is then enabled
//! and the last incremental file opened for appending. Two threads run beside the engine: the
//! AOF writer (`persist::aof`) and the rewrite thread, which waits for BGREWRITEAOF and checks
//! the automatic trigger every [`AUTO_REWRITE_CHECK`].

use std::fs::OpenOptions;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::config::YesNo;
use crate::persist::aof::{self, Aof};
use crate::persist::manifest::{self, Entry, Kind, Manifest};
use crate::shared::Shared;

pub mod load;
pub mod rdb_save;
pub mod rewrite;
pub mod shutdown;

/// How often the rewrite thread checks `auto-aof-rewrite-percentage` (Redis: serverCron).
pub const AUTO_REWRITE_CHECK: Duration = Duration::from_millis(100);

/// The threads [`start`] runs beside the engine, joined by [`stop`].
pub struct Threads {
    /// The AOF writer (`appendonly yes` only).
    writer: Option<std::thread::JoinHandle<()>>,
    rewriter: std::thread::JoinHandle<()>,
}

/// Load and open the AOF (with `--appendonly yes`) before the engine starts; returns the
/// background threads, if any run. See the module header.
pub fn start(shared: &Arc<Shared>) -> anyhow::Result<Option<Threads>> {
    let config = &shared.config;
    rdb_save::install(shared);
    if config.appendonly != YesNo::Yes {
        rdb_save::load_at_startup(shared)?;
        // BGREWRITEAOF works without the AOF too (it writes the directory, nothing appends).
        let rewriter = rewrite::spawn_thread(shared.clone())?;
        return Ok(Some(Threads { writer: None, rewriter }));
    }
    let dir = config.dir.join(&config.appenddirname);
    let basename = config.appendfilename.as_str();
    let mut manifest = match manifest::load(&dir, basename)? {
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
        None => {
            let rdb_base = shared.persist.rdb_preamble().then(|| rdb_save::empty_image(shared));
            create_dir(&dir, basename, rdb_base)?
        }
    };
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
    let aof = Aof::new(config.appendfsync, dir.clone(), path, file, journal);
    let size_of = |e: &Entry| std::fs::metadata(dir.join(&e.name)).map(|m| m.len()).unwrap_or(0);
    let base = manifest.base.as_ref().map_or(0, size_of);
    let earlier: u64 = manifest.incrs[..manifest.incrs.len() - 1].iter().map(size_of).sum();
    aof.set_other_sizes(base, base + earlier);
    let aof = Arc::new(aof);
    shared.persist.set_aof(aof.clone());
    shared.persist.rewrite.set_base_size(aof.current_size());
    let stop_shared = shared.clone();
    let writer = aof::spawn_background(aof, move || stop_shared.shutting_down());
    let rewriter = rewrite::spawn_thread(shared.clone())?;
    Ok(Some(Threads { writer: Some(writer), rewriter }))
}

/// A new AOF directory: an empty base (RESP, or `rdb_base`: an RDB image holding no key),
/// the first incremental file, the manifest.
fn create_dir(dir: &std::path::Path, basename: &str, rdb_base: Option<Vec<u8>>) -> anyhow::Result<Manifest> {
    use std::io::Write;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut m = Manifest::default();
    let base = m.next_base(basename, rdb_base.is_some());
    let contents = [rdb_base.unwrap_or_default(), Vec::new()];
    for (name, bytes) in [&base.name, &m.next_incr(basename).name].into_iter().zip(contents) {
        std::fs::File::create(dir.join(name))
            .and_then(|mut f| f.write_all(&bytes).and_then(|()| f.sync_all()))
            .with_context(|| format!("creating {name}"))?;
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

/// After the engine stopped: end the rewrite thread (a rewrite or BGSAVE in progress is
/// abandoned; the directory stays loadable), write and fsync everything pending in the AOF,
/// then the shutdown's RDB save if it has one left to write ([`shutdown::finish`]).
pub fn stop(shared: &Shared, threads: Option<Threads>) {
    shared.persist.saves.set_abort(true);
    shared.persist.rewrite.wake();
    let writer = threads.and_then(|t| {
        let _ = t.rewriter.join();
        t.writer
    });
    if let Some(aof) = shared.persist.aof() {
        aof.final_flush();
    }
    if let Some(w) = writer {
        let _ = w.join();
    }
    shutdown::finish(shared);
}

/// Write out a marked snapshot (BGREWRITEAOF's base, BGSAVE's file): every db's shards in
/// order, each taken from the store as soon as it is serialized ([`crate::store::Store::take_snapshot`]).
/// `emit(db, first_in_db, bytes)` gets each non-empty shard; `first_in_db` says the caller
/// must write the db's header first (SELECT / SELECTDB). Stops with an error if the server
/// starts shutting down.
pub(crate) fn write_snapshot(
    shared: &Shared,
    mut emit: impl FnMut(usize, bool, &[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let store = &shared.store;
    for db in 0..store.databases() {
        let mut first = true;
        for shard in 0..store.shards_per_db() {
            if shared.persist.saves.aborting() {
                anyhow::bail!("the snapshot was stopped (shutdown)");
            }
            let bytes = store.take_snapshot(db, shard);
            if !bytes.is_empty() {
                emit(db, first, &bytes)?;
                first = false;
            }
        }
    }
    Ok(())
}
