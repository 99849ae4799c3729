//! Limits and timings every engine shares, named once so the engines behave alike.
//!
//! | constant | value | used for |
//! |---|---|---|
//! | [`SHUTDOWN_FLUSH_TIMEOUT`] | 5 s | at shutdown, how long replies already produced may take to reach clients before connections are closed regardless |
//! | [`DRAIN_POLL_INTERVAL`] | 10 ms | while draining, how often an engine checks its progress and the deadline |
//! | [`ACCEPT_ERROR_BACKOFF`] | 10 ms | after accept failed for lack of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM), the wait before accepting again, so the loop does not spin; clients wait in the backlog meanwhile |
//! | [`IDLE_CHECK_INTERVAL`] | 1 s | granularity of the `--timeout` idle-client check |
//! | [`IOVECS_PER_SEND_MAX`] | 1024 | segments (owned bytes, referenced values) one vectored send (`writev`, `SENDMSG`) carries; the rest goes in the next |
//!
//! Fairness caps are per engine, because the unit differs: epoll reads at most
//! `READS_PER_EVENT_MAX` (16) times 64 KiB from one connection per readiness event; uring
//! handles at most `CQE_BATCH_MAX` (1024) completions before its post-batch work (sends,
//! re-arms) runs; a threads-engine connection has its own thread and needs none.

use std::time::Duration;

/// At shutdown, how long pending replies may take to flush before connections are closed.
pub const SHUTDOWN_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// While draining, how often the engine wakes to check progress and the deadline.
pub const DRAIN_POLL_INTERVAL: Duration = Duration::from_millis(10);
/// After accept failed with EMFILE/ENFILE/ENOBUFS/ENOMEM, wait this long before retrying.
pub const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(10);
/// How often clients idle past `--timeout` are looked for.
pub const IDLE_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// Segments one vectored send carries at most: the kernel's `UIO_MAXIOV` (IOV_MAX, 1024),
/// past which `writev` / `sendmsg` fail with EINVAL. A pipeline of big GETs needs two per
/// reply, so one send still carries up to 512 of them.
pub const IOVECS_PER_SEND_MAX: usize = 1024;
