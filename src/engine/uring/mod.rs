//! The `uring` engine: per-worker io_uring rings that batch every accept, recv and send of a
//! loop iteration into one `io_uring_enter`, built on the io_uring layer in [`crate::ring`].
//!
//! This file is the engine's entry point ([`serve`]: ring setup on every worker, then the
//! go). The other files, by responsibility:
//! - [`setup`] — what a worker sets up before the go: ring, buffer ring, shutdown eventfd.
//! - [`worker`] — the ring loop (one per thread) and the per-connection steps.
//! - [`conn`] — per-connection state and the slab that holds it.
//! - [`accept`] — `Acceptor`: accept state per listener, admission, the MSG_RING hand-off.
//! - [`reserved`] — `Reserved`: the worker's non-connection ops, their memory, their count.
//! - [`drain`] — `Lifecycle`: the shutdown state machine (Running, Draining, Finishing).
//! - [`batching`] — `Batching`: how many completions the next enter waits for.
//! - [`fixed`] — `FixedFiles`: the ring's fixed-file table (connections' registered files).
//! - [`token`] — the `user_data` layout, one variant per kind of completion.
//!
//! ```text
//!                 listeners (unix, tcp)
//!                        │ multishot accept (worker 0)
//!                        ▼
//!   ┌──────────── worker 0 ─────────────┐  MSG_RING(fd)  ┌──────────── worker 1 ───────────┐
//!   │ ring: SQ ─► kernel ─► CQ          │ ─────────────► │ ring: SQ ─► kernel ─► CQ        │
//!   │ buffer ring (recv data lands here)│                │ buffer ring                     │
//!   │ slab of Conn { Session, send buf }│                │ slab of Conn { Session, ... }   │
//!   │ eventfd read (shutdown), timers   │                │ eventfd read, timers            │
//!   └──────────────┬────────────────────┘                └──────────────┬──────────────────┘
//!                  └────────── Arc<Shared>: store, stats, INFO io ──────┘
//! ```
//!
//! One loop iteration: enter the kernel once (submit everything queued, wait for completions:
//! one when the worker is quiet, a batch when it is saturated, see `batching`) → copy a
//! bounded batch of CQEs out → handle each (feed received bytes to the
//! connection's `Session`, which runs the requests and appends replies to `session.out`; give
//! the receive buffer back at once) → after the whole batch, for every connection touched:
//! start one send of all its output, resume input held back by backpressure, re-arm or cancel
//! its recv, start its close. All of that is queued, and the next iteration's single enter
//! submits it together with the wait.
//!
//! # Modes
//! - `full` (Linux 6.0+): multishot accept, multishot recv selecting buffers from the
//!   provided-buffer ring (consumed incrementally on 6.12+, see `ring/bufring.rs`); requests
//!   are parsed straight out of the kernel-filled buffer.
//! - `basic` (Linux 5.6+): single-shot accept and single-shot recv into a per-connection
//!   buffer; still one enter per iteration. Chosen by `--uring-mode basic` or automatically
//!   on kernels older than 6.0.
//!
//! # Accept spread
//! Measured on Linux 6.18, 2 workers, three runs of `redis-benchmark -s SOCK -t get -n 20000
//! -c 50` then `INFO io`: when every worker arms its own multishot accept on the same listener
//! (`RINGKV_URING_ACCEPT=each`), worker 1 got all 154 connections and worker 0 none (accept
//! polls are exclusive waits; the same waiter keeps winning). So worker 0 alone accepts and
//! hands descriptors round-robin to the others with `IORING_OP_MSG_RING` (the descriptor
//! travels in the CQE's result; no extra syscall): 77 and 77. Without MSG_RING (before 5.18)
//! every worker accepts for itself.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

use crate::config::{Config, UringMode};
use crate::net::Listener;
use crate::ring::{bufring, kernel_version, unsupported_reason, Ring};
use crate::shared::Shared;

pub mod accept;
pub mod batching;
pub mod conn;
pub mod drain;
pub mod fixed;
pub mod reserved;
pub mod setup;
pub mod token;
pub mod worker;

/// CQEs copied out and handled per iteration before the post-batch work (sends, re-arms) runs.
pub const CQE_BATCH_MAX: usize = 1024;
/// Oldest kernel with multishot recv (full mode).
const FULL_MODE_KERNEL_MIN: (u32, u32) = (6, 0);

/// Why the engine could not run.
#[derive(Debug)]
pub enum ServeError {
    /// io_uring is unusable here (old kernel, seccomp, sysctl, memlock, missing opcodes, or the
    /// test-only forced failure): a one-line reason with a hint. The caller falls back.
    Unsupported(String),
    /// Anything else: bad configuration, or a fatal error while serving.
    Failed(anyhow::Error),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::Unsupported(why) => write!(f, "io_uring unusable: {why}"),
            ServeError::Failed(e) => write!(f, "{e:#}"),
        }
    }
}

/// A negative CQE result as the error it stands for (for logs).
fn errno_str(result: i32) -> std::io::Error {
    std::io::Error::from_raw_os_error(-result)
}

/// How completions of this ring's deferred work get run (from most to least efficient).
fn effective_mode(configured: UringMode) -> UringMode {
    match (configured, kernel_version()) {
        (UringMode::Full, Some(v)) if v < FULL_MODE_KERNEL_MIN => {
            tracing::info!(kernel = ?v, "kernel older than 6.0 has no multishot recv: using --uring-mode basic");
            UringMode::Basic
        }
        (mode, _) => mode,
    }
}

/// Below this many receive buffers per worker, a handful of clients' requests exhaust the
/// buffer ring: recvs end in ENOBUFS and are re-armed, more SQEs and syscalls per request
/// (1 buffer x 512 bytes with 64 threads: 87 SQEs per command, 14x less throughput).
pub const BUF_RING_COUNT_WARN_MIN: u16 = 8;
/// Below this many receive-buffer bytes per worker, one batch of typical requests (a few
/// dozen clients, a few hundred bytes to a few KiB each) does not fit in the ring.
pub const BUF_RING_BYTES_WARN_MIN: u64 = 64 * 1024;

/// Warn once at startup when full mode's buffer ring is too small for one typical request
/// batch, naming the flag to raise.
fn warn_if_buffer_ring_small(count: u16, size: u32) {
    let bytes = u64::from(count) * u64::from(size);
    let raise = match (count < BUF_RING_COUNT_WARN_MIN, bytes < BUF_RING_BYTES_WARN_MIN) {
        (true, true) => "--uring-buffers and --uring-buffer-size",
        (true, false) => "--uring-buffers",
        (false, true) => "--uring-buffer-size",
        (false, false) => return,
    };
    tracing::warn!(
        "receive buffer ring too small for a typical request batch: --uring-buffers {count} x --uring-buffer-size \
         {size} = {bytes} bytes per worker (want at least {BUF_RING_COUNT_WARN_MIN} buffers and {} KiB); \
         requests will wait for buffers and throughput drops: raise {raise}",
        BUF_RING_BYTES_WARN_MIN / 1024
    );
}

/// During a worker's ring setup, before anything is committed to io_uring: a real enter must
/// work (see [`Ring::probe_enter`]); `--uring-force-enter-failure` makes it count as failed.
pub fn check_enter(ring: &mut Ring, force_failure: bool) -> Result<(), ServeError> {
    ring.probe_enter().map_err(|e| ServeError::Unsupported(unsupported_reason("io_uring_enter", &e)))?;
    if force_failure {
        return Err(ServeError::Unsupported(
            "io_uring_enter failure forced by --uring-force-enter-failure (test-only switch; hint: remove the flag)"
                .into(),
        ));
    }
    Ok(())
}

/// Validate the buffer-ring flags (only full mode uses the ring; basic uses the size).
/// Validate the buffer-ring flags (only full mode uses the ring; basic uses the size).
/// Checked at startup for every engine, before anything is bound.
pub fn validate_buffers(c: &Config) -> Result<(u16, u32), ServeError> {
    let count = c.uring_buffers;
    if count == 0 || !count.is_power_of_two() || count > bufring::BUF_RING_ENTRIES_MAX {
        return Err(ServeError::Failed(anyhow::anyhow!(
            "--uring-buffers {count}: must be a power of two from 1 to 32768"
        )));
    }
    let size = c.uring_buffer_size;
    if !(bufring::BUF_SIZE_MIN as u64..=bufring::BUF_SIZE_MAX as u64).contains(&size) {
        return Err(ServeError::Failed(anyhow::anyhow!(
            "--uring-buffer-size {size}: must be from {} to {} bytes",
            bufring::BUF_SIZE_MIN,
            bufring::BUF_SIZE_MAX
        )));
    }
    Ok((count, size as u32))
}

/// What a worker learns once every worker's setup succeeded.
#[derive(Clone, Debug)]
pub struct Plan {
    /// This worker arms accepts on the listeners.
    pub acceptor: bool,
    /// Ring fds of all workers (index = worker id) to hand accepted descriptors to; empty
    /// when each worker keeps what it accepts.
    pub peers: Vec<RawFd>,
}

/// A worker's setup report: (worker id, Ok((its ring fd, kernel has MSG_RING)) or why not).
pub type Ready = (usize, Result<(RawFd, bool), ServeError>);

/// State shared by the workers of one engine run.
pub struct Coord {
    /// Acceptor workers that may still hand descriptors to others. A worker finishes its
    /// shutdown only after this is 0 (so no hand-off can land on a ring that is gone).
    pub acceptors_running: AtomicUsize,
}

/// Serve until shutdown on io_uring. `Err(Unsupported)` means nothing was started and the
/// caller should fall back to another engine.
pub fn serve(shared: &Arc<Shared>, listeners: &[Listener]) -> Result<(), ServeError> {
    if shared.config.uring_force_setup_failure {
        return Err(ServeError::Unsupported(
            "setup failure forced by --uring-force-setup-failure (test-only switch; hint: remove the flag)".into(),
        ));
    }
    let (buffers, buffer_size) = validate_buffers(&shared.config)?;
    let mode = effective_mode(shared.config.uring_mode);
    let workers = shared.config.worker_threads();
    let coord = Coord { acceptors_running: AtomicUsize::new(0) };
    let opts = setup::Options {
        mode,
        buffers,
        buffer_size,
        batching: batching::Policy::of(shared.config.uring_batching, shared.config.uring_batch_wait_us, workers),
        force_enter_failure: shared.config.uring_force_enter_failure,
        fixed_files: match shared.config.uring_fixed_files {
            crate::config::YesNo::Yes => shared.tunables.maxclients(),
            crate::config::YesNo::No => 0,
        },
        incremental_buffers: setup::incremental_buffers_enabled(),
    };
    std::thread::scope(|scope| {
        let (ready_tx, ready_rx) = mpsc::channel::<Ready>();
        let mut go = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for id in 0..workers {
            let (go_tx, go_rx) = mpsc::channel::<Option<Plan>>();
            let worker_ready = ready_tx.clone();
            let coord = &coord;
            let spawned =
                std::thread::Builder::new().name(format!("ringkv-uring-{id}")).spawn_scoped(scope, move || {
                    worker::thread_main(id, shared, listeners, opts, coord, worker_ready, go_rx)
                });
            match spawned {
                Ok(h) => {
                    handles.push(h);
                    go.push(go_tx);
                }
                Err(e) => {
                    let _ = ready_tx
                        .send((id, Err(ServeError::Failed(anyhow::anyhow!("could not spawn worker thread: {e}")))));
                }
            }
        }
        drop(ready_tx);
        // Phase 1: every worker sets up its ring; any failure aborts all (nothing served yet).
        let mut ring_fds = vec![-1; workers];
        let mut have_msg_ring = true;
        let mut first_err = None;
        for _ in 0..workers {
            match ready_rx.recv() {
                Ok((id, Ok((fd, msg_ring)))) => {
                    ring_fds[id] = fd;
                    have_msg_ring &= msg_ring;
                }
                Ok((_, Err(e))) => first_err = first_err.or(Some(e)),
                Err(_) => {
                    first_err =
                        first_err.or(Some(ServeError::Failed(anyhow::anyhow!("a worker thread died during setup"))))
                }
            }
        }
        if let Some(e) = first_err {
            for tx in &go {
                let _ = tx.send(None);
            }
            for h in handles {
                let _ = h.join();
            }
            return Err(e);
        }
        // Phase 2: register the engine (which logs `ready`) and start serving.
        if mode == UringMode::Full {
            warn_if_buffer_ring_small(buffers, buffer_size);
        }
        let name = match mode {
            UringMode::Full => "uring",
            UringMode::Basic => "uring-basic",
        };
        shared.set_io(name, workers);
        if let Some(aof) = shared.persist.aof() {
            // `appendfsync always` flushes go through the workers' rings (WRITE and FSYNC
            // predate every op probed above, so any ring that set up can run them).
            // `everysec` and `no` are the background writer's, as on every engine: a worker
            // flushing after each batch would fdatasync after each batch too.
            if aof.policy() == crate::config::AppendFsync::Always {
                aof.set_ring_driven();
            }
        }
        let handoff = have_msg_ring && workers > 1 && accept::handoff_enabled();
        coord.acceptors_running.store(if handoff { 1 } else { workers }, Ordering::Release);
        for (id, tx) in go.iter().enumerate() {
            let plan = Plan {
                acceptor: !handoff || id == 0,
                peers: if handoff && id == 0 { ring_fds.clone() } else { Vec::new() },
            };
            let _ = tx.send(Some(plan));
        }
        let mut result = Ok(());
        for h in handles {
            let r = match h.join() {
                Ok(r) => r,
                Err(_) => Err(anyhow::anyhow!("an io_uring worker panicked")),
            };
            if let Err(e) = r {
                shared.begin_shutdown();
                if result.is_ok() {
                    result = Err(ServeError::Failed(e));
                }
            }
        }
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enter_check_passes_here_and_can_be_forced_to_fail() {
        let mut ring = Ring::new(8, 32).expect("io_uring available on the test machine");
        assert!(check_enter(&mut ring, false).is_ok());
        match check_enter(&mut ring, true) {
            Err(ServeError::Unsupported(why)) => assert!(why.contains("hint:"), "{why}"),
            other => panic!("forced enter failure gave {other:?}"),
        }
    }
}
