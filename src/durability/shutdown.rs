//! Saving at shutdown, as Redis 7.0's `prepareForShutdown`: SHUTDOWN and SIGTERM / SIGINT
//! write the RDB file when save points are configured, SHUTDOWN SAVE writes it even without
//! them, SHUTDOWN NOSAVE never does; with the AOF on, what is pending is written and fsynced
//! ([`super::stop`]).
//!
//! Two steps, because ringkv's other workers keep serving until the engine has stopped
//! (Redis exits from inside the command, so nothing runs after its save):
//!
//! 1. [`save_now`] (SHUTDOWN's handler, through `persist::save::Kind::Shutdown`, or
//!    [`prepare`] for SIGTERM / SIGINT), before the engine is told to stop, by a caller
//!    holding no isolation lock: a running BGSAVE or AOF rewrite is stopped (Redis kills its
//!    child), then the file is written from a cut taken under the exclusive side. If that
//!    fails the shutdown is refused, as in Redis: SHUTDOWN replies `-ERR Errors trying to
//!    SHUTDOWN. Check logs.` (unless FORCE), a signal is logged and the server keeps
//!    serving. A signal while a script runs (it holds the exclusive side, maybe forever)
//!    aborts the script and saves nothing, as SHUTDOWN NOSAVE (Redis would wait for the
//!    script to end).
//! 2. [`finish`], after the engine stopped and every connection closed: if anything changed
//!    between step 1's cut and the last worker stopping, the file is written again, so no
//!    acknowledged write is missing from it. A failure now can only be logged. Nothing
//!    changed (the usual case): nothing is written twice.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::persist::save::ShutdownSave;
use crate::shared::Shared;

use super::rdb_save::{self, Cut};

/// Step 1 (see the module header). Err: the shutdown must not go on (the cause is logged).
pub fn prepare(shared: &Shared, mode: ShutdownSave, force: bool) -> anyhow::Result<()> {
    let saves = &shared.persist.saves;
    if !mode.saves(shared.persist.has_save_points()) {
        saves.set_shutdown(mode, false);
        return Ok(());
    }
    if !script_ends(shared) {
        // A script holds the exclusive side and may never end: it is aborted by the
        // shutdown, and its half-applied writes are not saved (as SHUTDOWN NOSAVE).
        tracing::warn!("A script is running: shutting down without saving (as SHUTDOWN NOSAVE).");
        saves.set_shutdown(ShutdownSave::NoSave, false);
        return Ok(());
    }
    match save_now(shared) {
        Ok(()) => {
            saves.set_shutdown(mode, true);
            Ok(())
        }
        Err(_) if force => {
            tracing::warn!("Error trying to save the DB. Exit anyway (FORCE).");
            saves.set_shutdown(ShutdownSave::NoSave, false);
            Ok(())
        }
        Err(e) => {
            tracing::warn!("Errors trying to shut down the server. Check the logs for more information.");
            Err(e)
        }
    }
}

/// How long a signal's shutdown waits for a running script to end before aborting it
/// without saving (scripts are usually short; an endless one must not block the exit).
pub const SCRIPT_END_WAIT: Duration = Duration::from_secs(1);

/// True when no script runs, or the one running ended within [`SCRIPT_END_WAIT`].
fn script_ends(shared: &Shared) -> bool {
    let running = &crate::cmd::script::of(shared).run.running;
    let deadline = Instant::now() + SCRIPT_END_WAIT;
    while running.load(Ordering::SeqCst) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// Stop a running snapshot, then write the RDB file (the caller holds no isolation lock).
pub fn save_now(shared: &Shared) -> anyhow::Result<()> {
    let saves = &shared.persist.saves;
    if saves.bg_in_progress() {
        tracing::warn!("There is a background save in progress. Stopping it!");
    }
    saves.set_abort(true);
    let _slot = saves.slot();
    saves.set_abort(false);
    tracing::info!("Saving the final RDB snapshot before exiting.");
    let saved = rdb_save::save(shared, Cut::Exclusive);
    if let Err(e) = &saved {
        tracing::warn!("Error trying to save the DB: {e:#}");
    }
    saved
}

/// Step 2 (see the module header): the engine has stopped.
pub fn finish(shared: &Shared) {
    let saves = &shared.persist.saves;
    let (mode, saved) = saves.shutdown();
    if !mode.saves(shared.persist.has_save_points()) {
        return;
    }
    if saved && shared.persist.dirty(shared.store.journal().changes()) == 0 {
        return;
    }
    saves.set_abort(true);
    let _slot = saves.slot();
    saves.set_abort(false);
    tracing::info!("Saving the changes made during shutdown.");
    if let Err(e) = rdb_save::save(shared, Cut::AllShards) {
        tracing::warn!("Error trying to save the DB at exit: {e:#}");
    }
}
