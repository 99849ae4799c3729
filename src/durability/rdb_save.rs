//! SAVE, BGSAVE and loading `dir/dbfilename` at startup, in the RDB format of
//! `persist::rdb`. No fork: the snapshot is the one BGREWRITEAOF uses (`durability::rewrite`
//! explains why it is exact) with RDB records instead of commands — shards marked at a cut,
//! each serialized by its first locker, written shard by shard while writes continue.
//!
//! - BGSAVE: a thread takes the cut under the isolation lock's exclusive side (no command,
//!   EXEC or script half applied), then writes the file.
//! - SAVE runs inside a command (it holds the isolation lock's read side, so it cannot take
//!   the exclusive one): its cut holds every shard lock at once instead, then it writes the
//!   file before replying, as Redis's SAVE blocks its caller.
//!
//! Either way the file is written to `temp-<pid>.rdb`, fsynced, renamed over
//! `dir/dbfilename` and the directory fsynced, so a crash leaves the old file or the new one.
//! One snapshot at a time: saves and AOF rewrites share `persist::save::Saves`' slot.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use crate::persist::rdb::encoding::with_compression;
use crate::persist::rdb::{self, crc64};
use crate::persist::save::{rdb_entry, rdb_entry_lzf, Kind};
use crate::shared::Shared;

/// Buffer of the file writer.
const WRITE_BUFFER: usize = 1 << 20;

/// How the cut is taken (see the module header).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    Exclusive,
    AllShards,
}

/// Write the snapshot file (the caller holds the snapshot slot).
pub fn save(shared: &Shared, cut: Cut) -> anyhow::Result<()> {
    let started = Instant::now();
    let (functions, changes, sizes) = {
        let _exclusive = (cut == Cut::Exclusive).then(|| shared.isolation.exclusive());
        let store = &shared.store;
        let sizes = db_sizes(shared);
        store.begin_snapshot_with(crate::store::now_ms(), Some(entry_writer(shared)), cut == Cut::AllShards);
        (crate::cmd::function::library_codes(shared), store.journal().changes(), sizes)
    };
    let written = write_file(shared, &functions, &sizes);
    shared.store.end_snapshot();
    written?;
    shared.persist.saved(crate::store::now_ms() / 1000, changes);
    tracing::info!("DB saved on disk ({:.3} seconds)", started.elapsed().as_secs_f64());
    Ok(())
}

/// Keys and keys with a deadline per database (the RESIZEDB hints), read at a cut.
pub(crate) fn db_sizes(shared: &Shared) -> Vec<(usize, usize)> {
    let store = &shared.store;
    (0..store.databases()).map(|db| (store.db_len(db), store.db_expires(db))).collect()
}

/// The snapshot's entry format: RDB records, compressed as `rdbcompression` says.
pub(crate) fn entry_writer(shared: &Shared) -> crate::store::SnapshotWriter {
    if shared.persist.rdbcompression() {
        rdb_entry_lzf
    } else {
        rdb_entry
    }
}

/// An RDB image holding no key (an AOF directory's first base with the RDB preamble).
pub(crate) fn empty_image(shared: &Shared) -> Vec<u8> {
    let mut out = Vec::new();
    rdb::write_header(&mut out, &aux(true), &[]);
    let check = shared.config.rdbchecksum == crate::config::YesNo::Yes;
    let crc = crc64::update(0, &out);
    out.extend_from_slice(&rdb::eof_trailer(check.then_some(crc)));
    out
}

fn aux(aof_base: bool) -> rdb::Aux {
    rdb::Aux { ctime_unix: crate::store::now_ms() / 1000, used_mem: crate::alloc::used_memory() as u64, aof_base }
}

/// The file: temp, fsync, rename, fsync the directory.
fn write_file(shared: &Shared, functions: &[Vec<u8>], sizes: &[(usize, usize)]) -> anyhow::Result<()> {
    let dir = &shared.config.dir;
    let temp = dir.join(format!("temp-{}.rdb", std::process::id()));
    let result = write_temp(shared, &temp, functions, sizes, false);
    if let Err(e) = result {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    let path = dir.join(&shared.config.dbfilename);
    std::fs::rename(&temp, &path).with_context(|| format!("renaming to {}", path.display()))?;
    crate::persist::manifest::sync_dir(dir)?;
    Ok(())
}

/// Write the marked snapshot as an RDB image to `temp` and fsync it (`aof_base`: as an AOF
/// directory's RDB-preamble base). The caller marked the store with [`entry_writer`].
pub(crate) fn write_temp(
    shared: &Shared,
    temp: &std::path::Path,
    functions: &[Vec<u8>],
    sizes: &[(usize, usize)],
    aof_base: bool,
) -> anyhow::Result<()> {
    let file = File::create(temp).with_context(|| format!("creating {}", temp.display()))?;
    let mut w = BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut crc = 0u64;
    let mut put = |w: &mut BufWriter<File>, bytes: &[u8]| -> std::io::Result<()> {
        crc = crc64::update(crc, bytes);
        w.write_all(bytes)
    };
    let mut head = Vec::new();
    let aux = aux(aof_base);
    with_compression(shared.persist.rdbcompression(), || rdb::write_header(&mut head, &aux, functions));
    put(&mut w, &head)?;
    super::write_snapshot(shared, |db, first, bytes| {
        if first {
            let (keys, expires) = sizes.get(db).copied().unwrap_or_default();
            let mut start = Vec::new();
            rdb::write_db_start(&mut start, db, keys, expires);
            put(&mut w, &start)?;
        }
        Ok(put(&mut w, bytes)?)
    })?;
    let check = shared.config.rdbchecksum == crate::config::YesNo::Yes;
    let trailer = rdb::eof_trailer(check.then_some(crc));
    w.write_all(&trailer)?;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all().with_context(|| format!("fsync {}", temp.display()))?;
    Ok(())
}

/// BGSAVE: claim it (Err: Redis's reply) and run it on a thread (which waits for an AOF
/// rewrite running to end: BGSAVE SCHEDULE).
pub fn bgsave(shared: &Arc<Shared>) -> Result<(), &'static str> {
    if !shared.persist.saves.begin_bg(crate::store::now_ms()) {
        return Err(crate::persist::save::ERR_BGSAVE_IN_PROGRESS);
    }
    shared.persist.saves.tried(crate::store::now_ms() / 1000);
    let s = shared.clone();
    let spawned = std::thread::Builder::new().name("ringkv-bgsave".into()).spawn(move || {
        let ok = {
            let _slot = s.persist.saves.slot();
            tracing::info!("Background saving started");
            save(&s, Cut::Exclusive)
        };
        let outcome = match &ok {
            Err(e) if s.persist.saves.aborting() => {
                tracing::warn!("Background saving stopped: {e:#}");
                None
            }
            Err(e) => {
                tracing::warn!("Background saving error: {e:#}");
                Some(false)
            }
            Ok(()) => {
                tracing::info!("Background saving terminated with success");
                Some(true)
            }
        };
        s.persist.bgsave_done(crate::store::now_ms(), outcome);
    });
    if spawned.is_err() {
        shared.persist.bgsave_done(crate::store::now_ms(), Some(false));
        return Err("ERR could not start the background save thread");
    }
    Ok(())
}

/// The save points, checked every [`crate::server::INST_SAMPLE_INTERVAL`] by the server's
/// cron thread (Redis's serverCron): with no save or AOF rewrite running, start a BGSAVE
/// when a point is reached — at least `changes` changes and more than `seconds` since the
/// last successful save — unless the last BGSAVE failed less than
/// [`BGSAVE_RETRY_DELAY_S`](crate::persist::save::BGSAVE_RETRY_DELAY_S) ago.
pub fn cron(shared: &Arc<Shared>) {
    let persist = &shared.persist;
    if shared.shutting_down() || persist.saves.bg_in_progress() || persist.rewrite.in_progress() {
        return;
    }
    let dirty = persist.dirty(shared.store.journal().changes());
    let now_s = crate::store::now_ms() / 1000;
    let since_save = now_s.saturating_sub(persist.last_save_unix());
    let retry_ok = !persist.saves.bg_failed()
        || now_s.saturating_sub(persist.saves.last_try_s()) > crate::persist::save::BGSAVE_RETRY_DELAY_S;
    let due = persist.save_points().into_iter().find(|p| dirty >= p.changes && since_save > p.seconds);
    if let (Some(point), true) = (due, retry_ok) {
        tracing::info!("{} changes in {} seconds. Saving...", point.changes, point.seconds);
        if let Err(e) = bgsave(shared) {
            tracing::warn!("Can't start the background save: {e}");
        }
    }
}

/// Startup with `appendonly no`: load `dir/dbfilename` if it exists.
pub fn load_at_startup(shared: &Shared) -> anyhow::Result<()> {
    let path = shared.config.dir.join(&shared.config.dbfilename);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let started = Instant::now();
    let _clock = crate::store::FrozenClock::start();
    let (keys, expired) = load_bytes(shared, &bytes).map_err(|e| {
        anyhow::anyhow!("Short read or OOM loading DB. Unrecoverable error, aborting now. ({}: {e})", path.display())
    })?;
    let saves = &shared.persist.saves;
    saves.loaded_keys.store(keys, std::sync::atomic::Ordering::Relaxed);
    saves.loaded_expired.store(expired, std::sync::atomic::Ordering::Relaxed);
    shared.persist.saved(
        std::fs::metadata(&path)
            .ok()
            .and_then(|m| m.modified().ok())
            .map_or(0, |t| t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())),
        shared.store.journal().changes(),
    );
    tracing::info!(keys, expired, "DB loaded from disk: {:.3} seconds", started.elapsed().as_secs_f64());
    Ok(())
}

/// Load an RDB image (a dump.rdb, or an AOF directory's RDB-preamble base) into the store:
/// function libraries, then keys (those already expired are skipped). Returns the keys
/// loaded and skipped.
pub fn load_bytes(shared: &Shared, bytes: &[u8]) -> Result<(u64, u64), rdb::RdbError> {
    let now = crate::store::now_ms();
    let (mut keys, mut expired) = (0u64, 0u64);
    let mut client = crate::cmd::ClientState::new(shared);
    let check = shared.config.rdbchecksum == crate::config::YesNo::Yes;
    let store = &shared.store;
    rdb::load(bytes, check, |item| {
        match item {
            rdb::Item::Aux(..) => {}
            rdb::Item::Function(code) => {
                super::load::run_encoded(shared, &mut client, &[b"FUNCTION", b"LOAD", b"REPLACE", &code])
                    .map_err(|e| rdb::RdbError::new(format!("loading a function library: {e}")))?
            }
            rdb::Item::Key { db, key, value, expire_at_ms } => {
                if db >= store.databases() {
                    return Err(rdb::RdbError::new(format!("database {db} out of range (--databases)")));
                }
                if expire_at_ms.is_some_and(|t| t <= now) {
                    expired += 1;
                    return Ok(());
                }
                store.with_key(db, &key, now, |k| k.set(value, expire_at_ms));
                keys += 1;
            }
        }
        Ok(())
    })?;
    Ok((keys, expired))
}

/// Install SAVE / BGSAVE / SHUTDOWN's runner (a weak reference: the server owns `Shared`).
pub fn install(shared: &Arc<Shared>) {
    let weak = Arc::downgrade(shared);
    shared.persist.saves.set_runner(Box::new(move |kind| {
        let shared = weak.upgrade().ok_or("ERR the server is shutting down")?;
        match kind {
            Kind::Bgsave => bgsave(&shared).map_err(str::to_string),
            Kind::Shutdown => super::shutdown::save_now(&shared).map_err(|_| "ERR".to_string()),
            Kind::Save => {
                let _slot = shared.persist.saves.try_slot().ok_or(crate::persist::save::ERR_BGSAVE_IN_PROGRESS)?;
                save(&shared, Cut::AllShards).map_err(|e| {
                    tracing::warn!("Error saving DB on disk: {e:#}");
                    "ERR".to_string()
                })
            }
        }
    }));
}
