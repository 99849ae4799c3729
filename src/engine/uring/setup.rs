//! What a worker sets up before it knows whether the engine starts: its ring (probed for the
//! opcodes the mode needs), full mode's provided-buffer ring, the shutdown eventfd and the
//! fixed-file table (optional: a kernel without it only means plain descriptors, see
//! `fixed.rs`). Any other failure here is reported before anything is served, so the engine
//! can fall back.

use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Arc;

use super::fixed::FixedFiles;
use super::ServeError;
use crate::config::UringMode;
use crate::ring::bufring::BufRing;
use crate::ring::{unsupported_reason, Ring, CQ_ENTRIES, OPS_BASIC, OP_MSG_RING, SQ_ENTRIES};

/// Buffer group id of the worker's buffer ring (one group per ring).
const BGID: u16 = 0;

/// Full mode asks for incremental buffer consumption (`IOU_PBUF_RING_INC`, 6.12+; older
/// kernels get the plain buffer ring). Measured: lower server CPU per request at 50 clients
/// (docs/batching.md). The environment variable `RINGKV_URING_INC=0` turns it off, to repeat
/// that measurement with one binary.
pub fn incremental_buffers_enabled() -> bool {
    std::env::var("RINGKV_URING_INC").map(|v| v != "0").unwrap_or(true)
}

/// Engine settings every worker shares.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub mode: UringMode,
    pub buffers: u16,
    pub buffer_size: u32,
    /// `--uring-batching` and `--uring-batch-wait-us`.
    pub batching: super::batching::Policy,
    /// `--uring-force-enter-failure` (test-only): the enter probe counts as failed.
    pub force_enter_failure: bool,
    /// Connections the fixed-file table is sized for (`maxclients` at startup; 0 with
    /// `--uring-fixed-files no`).
    pub fixed_files: usize,
    /// Ask for incremental buffer consumption (see [`incremental_buffers_enabled`]).
    pub incremental_buffers: bool,
}

/// What a worker set up before it knows whether the engine starts.
pub struct Setup {
    pub ring: Ring,
    pub bufs: Option<BufRing>,
    /// The shutdown eventfd (read through the ring, written by `Shared::begin_shutdown`).
    pub wake: Arc<OwnedFd>,
    /// The kernel has `IORING_OP_MSG_RING` (accept hand-off possible).
    pub msg_ring: bool,
    /// The fixed-file table (empty when off or refused by the kernel).
    pub files: FixedFiles,
}

pub fn setup(opts: Options) -> Result<Setup, ServeError> {
    let mut ring = Ring::new(SQ_ENTRIES, CQ_ENTRIES)
        .map_err(|e| ServeError::Unsupported(unsupported_reason("io_uring_setup", &e)))?;
    super::check_enter(&mut ring, opts.force_enter_failure)?;
    let missing =
        ring.probe(OPS_BASIC).map_err(|e| ServeError::Unsupported(unsupported_reason("IORING_REGISTER_PROBE", &e)))?;
    if !missing.is_empty() {
        return Err(ServeError::Unsupported(format!(
            "the kernel lacks io_uring ops {} (hint: Linux 5.6+ needed; use --engine epoll)",
            missing.join(", ")
        )));
    }
    let msg_ring = ring.probe(&[OP_MSG_RING]).map(|m| m.is_empty()).unwrap_or(false);
    let bufs = match opts.mode {
        UringMode::Basic => None,
        UringMode::Full => {
            let mut b = BufRing::new(opts.buffers, opts.buffer_size, BGID)
                .map_err(|e| ServeError::Failed(anyhow::anyhow!("mapping the receive buffer ring: {e}")))?;
            b.register(&ring.submitter(), opts.incremental_buffers).map_err(|e| {
                let why = unsupported_reason("IORING_REGISTER_PBUF_RING", &e);
                ServeError::Unsupported(format!("{why} (or use --uring-mode basic)"))
            })?;
            Some(b)
        }
    };
    // Blocking on purpose: io_uring completes reads of an O_NONBLOCK file with EAGAIN instead
    // of waiting. Writers add 1 to a counter that cannot overflow in practice, so never block.
    // SAFETY: plain eventfd(2); the result is checked before use.
    let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if efd < 0 {
        return Err(ServeError::Failed(anyhow::anyhow!("eventfd: {}", std::io::Error::last_os_error())));
    }
    // SAFETY: `efd` is a fresh descriptor we own.
    let wake = Arc::new(unsafe { OwnedFd::from_raw_fd(efd) });
    let files = FixedFiles::register(&mut ring, opts.fixed_files);
    Ok(Setup { ring, bufs, wake, msg_ring, files })
}
