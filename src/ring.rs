//! The io_uring layer: a thin, named layer over the `io-uring` crate that the uring engine
//! ([`crate::engine::uring`]) is built on. [`Ring`]: setup that probes the most efficient
//! flags the kernel has, SQE queueing with a reservation rule, the loop's one
//! `io_uring_enter` per iteration (with the batching wait), completion reaping and the errno
//! decision table; [`sqe`]: the SQE builders, which name a connection by [`Target`] (a plain
//! descriptor or a fixed-file slot); [`bufring`]: the provided-buffer ring that
//! multishot recv fills; kernel probes ([`kernel_version`], [`unsupported_reason`]).
//!
//! # Errors from `io_uring_enter` (every errno has a named decision, see [`enter_decision`])
//! | errno  | meaning here                                             | decision             |
//! |--------|----------------------------------------------------------|----------------------|
//! | EINTR  | a signal interrupted the wait (SQEs were not lost)       | reap, enter again    |
//! | EAGAIN | the kernel could not allocate request memory             | reap, back off, retry|
//! | EBUSY  | CQ overflow backlog not flushed yet / too much in flight | reap, back off, retry|
//! | EBADR  | the kernel dropped completions (CQ overflow, no memory)  | log error, reap, retry|
//! | ETIME  | a batching wait's timeout expired with nothing to reap   | reap, enter again    |
//! | other  | EBADF, EFAULT, EINVAL, ENXIO, EOPNOTSUPP, EEXIST (single issuer violated): a bug | fatal: worker stops, server shuts down |
//!
//! # Buffer-ring sizing and RLIMIT_MEMLOCK
//! Only the ring's own memory is pinned/accounted: the SQ/CQ arrays and the buffer ring's
//! entry array (16 bytes per buffer, one page for 256). The receive buffers are ordinary
//! anonymous memory the kernel copies into, never pinned, so they do not count against
//! RLIMIT_MEMLOCK on any kernel. Since 5.12 ring memory is charged to the memory cgroup;
//! since 6.13 (io_uring "regions") the rings and the buffer-ring entry array are also charged
//! to RLIMIT_MEMLOCK for processes without CAP_IPC_LOCK. Measured on this 6.18 kernel as user
//! `nobody` (`prlimit --memlock=N:N setpriv --reuid=65534 ... ringkv-server --threads T`):
//! with [`SQ_ENTRIES`] = 512 and [`CQ_ENTRIES`] = 2048 one ring needs 68 KiB (basic mode starts
//! at 68 KiB), the default 256-entry buffer ring adds 4 KiB (full mode needs 72 KiB;
//! `--uring-buffers 4096` adds 64 KiB), and an 8 MiB limit serves 112 workers (113: ENOMEM,
//! fall back). The default 256 x 16 KiB receive buffers (4 MiB per worker, touched lazily)
//! are outside that limit. With 1024/4096 entries a ring needed 136 KiB and 8 MiB held only
//! 58 workers, which is why the queues are this size.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use io_uring::{opcode, squeue, IoUring};

pub mod bufring;

/// Submission queue entries per ring: SQEs one iteration can queue before [`Ring::reserve`]
/// needs an extra enter to make room (then amortised over this many SQEs). Sized with the
/// CQ to keep a ring's locked memory small (see "Buffer-ring sizing" above).
pub const SQ_ENTRIES: u32 = 512;
/// Completion queue entries per ring (4x the SQ: multishot ops post many CQEs per SQE). The
/// kernel keeps overflowing CQEs on a list (FEAT_NODROP), so this bounds latency, not safety.
pub const CQ_ENTRIES: u32 = 2048;
/// After an enter failed with EAGAIN/EBUSY and nothing could be reaped, wait this long
/// before retrying, so a kernel short of memory is not spun on.
pub const ENTER_BACKOFF: Duration = Duration::from_millis(1);
/// Default of `--uring-batch-wait-us`: longest a busy worker waits for a batch of completions
/// to gather before handling what has arrived (see [`Ring::enter`]): the wait itself with
/// `--uring-batching fixed`, the ceiling of the adaptive wait otherwise (never applied to a
/// lone client, which is served with plain waits). Measured with 50 clients
/// (redis-benchmark -c 50 -P 1, 2 workers): 200 us gave 0.2-0.3 enters per request, 500 us
/// and 1000 us about 0.06-0.09; 500 us is the smaller bound with the same effect.
pub const BATCH_WAIT_MIN: Duration = Duration::from_micros(500);
/// After [`BATCH_WAIT_MIN`], a batching wait returns on the first completion or after this
/// (ETIME, then the loop simply enters again).
pub const BATCH_WAIT_TIMEOUT: Duration = Duration::from_secs(1);
/// Submit attempts [`Ring::reserve`] makes before it reports the SQ as stuck.
pub const RESERVE_ATTEMPTS_MAX: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// `SINGLE_ISSUER | DEFER_TASKRUN | SUBMIT_ALL` (6.1+): task work runs only inside our
    /// enter, no IPIs or interrupting the loop.
    DeferTaskrun,
    /// `COOP_TASKRUN | TASKRUN_FLAG | SUBMIT_ALL` (5.19+).
    CoopTaskrun,
    /// No setup flags (5.6+).
    Plain,
}

/// One copied-out completion.
#[derive(Clone, Copy, Debug)]
pub struct Cqe {
    pub user_data: u64,
    pub result: i32,
    pub flags: u32,
}

/// Running totals of one ring, published to `INFO io` by the worker.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tally {
    /// Every `io_uring_enter` (successful or not) plus any other syscall the worker makes.
    pub syscalls: u64,
    pub sqes_submitted: u64,
    pub cqes_reaped: u64,
}

/// What to do after `io_uring_enter` failed with an errno (table in the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnterDecision {
    /// Interrupted: go on (reap what is there, enter again).
    Retry,
    /// Transient shortage: reap what is there, back off briefly if nothing was, retry.
    ReapBackoffRetry,
    /// Completions were lost: log loudly, then as ReapBackoffRetry.
    LostCompletions,
    /// A bug or an unusable ring: stop the worker.
    Fatal,
}

/// The named decision for each `io_uring_enter` errno.
pub fn enter_decision(errno: i32) -> EnterDecision {
    match errno {
        libc::EINTR | libc::ETIME => EnterDecision::Retry,
        libc::EAGAIN | libc::EBUSY => EnterDecision::ReapBackoffRetry,
        libc::EBADR => EnterDecision::LostCompletions,
        _ => EnterDecision::Fatal,
    }
}

/// An io_uring instance plus the bookkeeping every worker needs around it.
pub struct Ring {
    uring: IoUring,
    pub flavor: Flavor,
    /// Completions reaped while making room in the SQ mid-batch; handled with the next batch.
    backlog: Vec<Cqe>,
    pub tally: Tally,
    /// Consecutive EAGAIN/EBUSY results, for the log.
    transient_streak: u64,
    /// The kernel supports `min_wait_usec` in enter (IORING_FEAT_MIN_TIMEOUT, 6.12+).
    min_wait: bool,
    /// Timeout of a batching wait once its minimum wait has passed (the kernel needs one
    /// for min_wait to mean "then return on the first completion").
    batch_ts: io_uring::types::Timespec,
}

impl Ring {
    /// Create a ring, trying the most efficient setup flags first and falling back on EINVAL
    /// (flags unknown to this kernel). Other errors (ENOSYS, EPERM, ENOMEM) are returned.
    pub fn new(sq_entries: u32, cq_entries: u32) -> io::Result<Ring> {
        let mut last = io::Error::from_raw_os_error(libc::EINVAL);
        for flavor in [Flavor::DeferTaskrun, Flavor::CoopTaskrun, Flavor::Plain] {
            let mut builder = IoUring::builder();
            builder.setup_cqsize(cq_entries).setup_clamp();
            match flavor {
                Flavor::DeferTaskrun => builder.setup_single_issuer().setup_defer_taskrun().setup_submit_all(),
                Flavor::CoopTaskrun => builder.setup_coop_taskrun().setup_taskrun_flag().setup_submit_all(),
                Flavor::Plain => &mut builder,
            };
            match builder.build(sq_entries) {
                Ok(uring) => {
                    let min_wait = uring.params().is_feature_min_timeout();
                    return Ok(Ring {
                        uring,
                        flavor,
                        backlog: Vec::new(),
                        tally: Tally::default(),
                        transient_streak: 0,
                        min_wait,
                        batch_ts: io_uring::types::Timespec::from(BATCH_WAIT_TIMEOUT),
                    });
                }
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// Check that the kernel supports every opcode in `ops` (name, code). Returns the names
    /// of the missing ones, or an error if the kernel cannot be probed at all (before 5.6).
    pub fn probe(&self, ops: &[(&'static str, u8)]) -> io::Result<Vec<&'static str>> {
        let mut probe = io_uring::Probe::new();
        self.uring.submitter().register_probe(&mut probe)?;
        Ok(ops.iter().filter(|(_, code)| !probe.is_supported(*code)).map(|(name, _)| *name).collect())
    }

    pub fn fd(&self) -> RawFd {
        self.uring.as_raw_fd()
    }

    pub fn submitter(&self) -> io_uring::Submitter<'_> {
        self.uring.submitter()
    }

    /// Free SQ slots right now.
    fn sq_free(&mut self) -> usize {
        let sq = self.uring.submission();
        sq.capacity() - sq.len()
    }

    /// Make sure `n` SQEs can be queued without failing: if the SQ lacks room, submit what is
    /// queued (an extra enter, counted) and check again. A submit that succeeds but frees no
    /// slot is a bug (assert). EAGAIN/EBUSY/EINTR: reap into the backlog and retry, bounded.
    pub fn reserve(&mut self, n: usize) -> Result<(), anyhow::Error> {
        debug_assert!(n <= SQ_ENTRIES as usize);
        for _ in 0..RESERVE_ATTEMPTS_MAX {
            let free = self.sq_free();
            if free >= n {
                return Ok(());
            }
            self.tally.syscalls += 1;
            match self.uring.submit() {
                Ok(submitted) => {
                    self.tally.sqes_submitted += submitted as u64;
                    assert!(submitted > 0, "io_uring_enter submitted nothing from a full SQ");
                }
                Err(e) => self.on_enter_error(&e)?,
            }
        }
        anyhow::bail!("submission queue stayed full after {RESERVE_ATTEMPTS_MAX} submits")
    }

    /// Queue one SQE, first making room with [`Ring::reserve`] if the SQ is full. Queueing
    /// fails only if that does (the ring is unusable).
    ///
    /// # Safety
    /// Every buffer, pointer and descriptor the SQE refers to must stay valid until its final
    /// completion has been reaped (the connection slab and send buffers guarantee this for
    /// connection ops, see `engine/uring/conn.rs`; `Reserved`'s boxed timespecs and eventfd
    /// buffer for the rest, see `engine/uring/reserved.rs`).
    pub unsafe fn push(&mut self, sqe: &squeue::Entry) -> Result<(), anyhow::Error> {
        self.reserve(1)?;
        // SAFETY: forwarded to our caller's contract above.
        let pushed = unsafe { self.uring.submission().push(sqe) }.is_ok();
        assert!(pushed, "SQ full although room was reserved");
        Ok(())
    }

    /// The kernel can wait for a batch (`min_wait_usec`, IORING_FEAT_MIN_TIMEOUT, 6.12+).
    pub fn has_min_wait(&self) -> bool {
        self.min_wait
    }

    /// The loop's one kernel entry: submit everything queued and wait for completions. No
    /// syscall when completions are already waiting and nothing is queued. Returns true if
    /// the call waited (and so ran deferred task work).
    ///
    /// `want` > 1 with `wait_us` > 0 asks for a batch: on kernels with min-wait support the
    /// call waits up to `wait_us` for `want` completions, then returns as soon as there is one
    /// (the engine's batching policy picks both, see `engine/uring/batching.rs`). With
    /// DEFER_TASKRUN the kernel does not even wake the thread before then, so a busy worker
    /// handles many requests per wakeup and per syscall. Otherwise it waits for one.
    pub fn enter(&mut self, want: u32, wait_us: u32) -> Result<bool, anyhow::Error> {
        let ready = !self.backlog.is_empty() || !self.uring.completion().is_empty();
        let queued = !self.uring.submission().is_empty();
        if ready && !queued {
            return Ok(false);
        }
        self.tally.syscalls += 1;
        let entered = if ready {
            self.uring.submit_and_wait(0)
        } else if want > 1 && self.min_wait && wait_us > 0 {
            let args = io_uring::types::SubmitArgs::new().min_wait_usec(wait_us).timespec(&self.batch_ts);
            self.uring.submitter().submit_with_args(want as usize, &args)
        } else {
            self.uring.submit_and_wait(1)
        };
        match entered {
            Ok(submitted) => {
                self.tally.sqes_submitted += submitted as u64;
                self.transient_streak = 0;
                Ok(!ready)
            }
            Err(e) => self.on_enter_error(&e).map(|()| false),
        }
    }

    /// Apply the errno decision table. Transient errors reap into the backlog.
    fn on_enter_error(&mut self, e: &io::Error) -> Result<(), anyhow::Error> {
        let errno = e.raw_os_error().unwrap_or(0);
        match enter_decision(errno) {
            EnterDecision::Retry => {}
            EnterDecision::LostCompletions => {
                tracing::error!("io_uring_enter: EBADR, the kernel dropped completions; some connections may stall");
                self.reap_backlog();
            }
            EnterDecision::ReapBackoffRetry => {
                self.transient_streak += 1;
                if self.transient_streak.is_power_of_two() && self.transient_streak >= 1024 {
                    tracing::warn!(error = %e, streak = self.transient_streak, "io_uring_enter keeps failing transiently");
                }
                if self.reap_backlog() == 0 {
                    std::thread::sleep(ENTER_BACKOFF);
                }
            }
            EnterDecision::Fatal => return Err(anyhow::anyhow!("io_uring_enter failed: {e}")),
        }
        Ok(())
    }

    /// Move every available CQE to the backlog. Returns how many.
    fn reap_backlog(&mut self) -> usize {
        let mut n = 0;
        for cqe in self.uring.completion() {
            self.backlog.push(Cqe { user_data: cqe.user_data(), result: cqe.result(), flags: cqe.flags() });
            n += 1;
        }
        self.tally.cqes_reaped += n as u64;
        n
    }

    /// Copy up to `max` completions into `batch` (backlog first).
    pub fn reap(&mut self, batch: &mut Vec<Cqe>, max: usize) {
        let from_backlog = self.backlog.len().min(max);
        batch.extend(self.backlog.drain(..from_backlog));
        let mut n = 0u64;
        let mut cq = self.uring.completion();
        while batch.len() < max {
            let Some(cqe) = cq.next() else { break };
            batch.push(Cqe { user_data: cqe.user_data(), result: cqe.result(), flags: cqe.flags() });
            n += 1;
        }
        drop(cq);
        self.tally.cqes_reaped += n;
    }
}

/// `user_data` of the setup probe's NOP. Its completion is reaped by the probe itself, so it
/// never reaches a worker's token decoding.
const ENTER_PROBE_USER_DATA: u64 = u64::MAX;
/// Enters the probe makes when a signal interrupts the wait (EINTR).
const ENTER_PROBE_ATTEMPTS_MAX: usize = 3;

impl Ring {
    /// Prove that `io_uring_enter` works: submit a NOP, wait for it, reap it. A seccomp
    /// profile may allow io_uring_setup and io_uring_register but block io_uring_enter; then
    /// setup and the opcode probe succeed and only the first enter fails.
    pub fn probe_enter(&mut self) -> io::Result<()> {
        let nop = opcode::Nop::new().build().user_data(ENTER_PROBE_USER_DATA);
        // SAFETY: a NOP refers to no buffer or descriptor.
        let pushed = unsafe { self.uring.submission().push(&nop) };
        pushed.map_err(|_| io::Error::other("submission queue full before the first enter"))?;
        let mut entered = Err(io::Error::from_raw_os_error(libc::EINTR));
        for _ in 0..ENTER_PROBE_ATTEMPTS_MAX {
            self.tally.syscalls += 1;
            entered = self.uring.submit_and_wait(1);
            if !matches!(&entered, Err(e) if e.raw_os_error() == Some(libc::EINTR)) {
                break;
            }
        }
        self.tally.sqes_submitted += entered? as u64;
        let cqe = self.uring.completion().next().ok_or_else(|| io::Error::other("the probe NOP did not complete"))?;
        self.tally.cqes_reaped += 1;
        assert_eq!(cqe.user_data(), ENTER_PROBE_USER_DATA, "a completion before any other submission");
        if cqe.result() < 0 {
            return Err(io::Error::from_raw_os_error(-cqe.result()));
        }
        Ok(())
    }
}

/// Which descriptor an SQE names: a plain descriptor (the kernel looks it up in the process's
/// descriptor table, `fget`/`fput`, on every op) or an index in the ring's fixed-file table
/// (registered once, see `engine/uring/fixed.rs`; no per-op lookup or reference count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Fd(i32),
    Fixed(u32),
}

/// SQE builders: thin, named wrappers so the loop reads as "recv_multi", "send", "close".
pub mod sqe {
    use io_uring::types::{Fd, Fixed, Timespec};
    use io_uring::{opcode, squeue::Entry};

    use super::Target;

    /// `opcode::$op::new(<target as Fd or Fixed>, $args...)`: one opcode value either way.
    macro_rules! on_target {
        ($op:ident, $target:expr $(, $arg:expr)*) => {
            match $target {
                Target::Fd(fd) => opcode::$op::new(Fd(fd) $(, $arg)*),
                Target::Fixed(index) => opcode::$op::new(Fixed(index) $(, $arg)*),
            }
        };
    }

    pub fn accept_multi(fd: i32, user_data: u64) -> Entry {
        opcode::AcceptMulti::new(Fd(fd)).flags(libc::SOCK_CLOEXEC).build().user_data(user_data)
    }
    pub fn accept(fd: i32, user_data: u64) -> Entry {
        opcode::Accept::new(Fd(fd), std::ptr::null_mut(), std::ptr::null_mut())
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(user_data)
    }
    pub fn recv_multi(target: Target, bgid: u16, user_data: u64) -> Entry {
        on_target!(RecvMulti, target, bgid).build().user_data(user_data)
    }
    pub fn recv(target: Target, buf: *mut u8, len: u32, user_data: u64) -> Entry {
        on_target!(Recv, target, buf, len).build().user_data(user_data)
    }
    pub fn send(target: Target, buf: *const u8, len: u32, user_data: u64) -> Entry {
        on_target!(Send, target, buf, len).flags(libc::MSG_NOSIGNAL).build().user_data(user_data)
    }
    /// A sendmsg of the iovecs `msg` describes (output in several segments). `msg` and its
    /// iovec array must stay where they are until the completion.
    pub fn sendmsg(target: Target, msg: *const libc::msghdr, user_data: u64) -> Entry {
        on_target!(SendMsg, target, msg).flags(libc::MSG_NOSIGNAL as u32).build().user_data(user_data)
    }
    pub fn cancel(target: u64, user_data: u64) -> Entry {
        opcode::AsyncCancel::new(target).build().user_data(user_data)
    }
    /// Close a descriptor, or release a fixed-file slot (the file itself closes once nothing
    /// else holds it: in-flight ops, or a plain descriptor of the same file).
    pub fn close(target: Target, user_data: u64) -> Entry {
        on_target!(Close, target).build().user_data(user_data)
    }
    /// A write of `len` bytes at file offset `offset`, linked to the next SQE (which runs
    /// only if this one wrote everything).
    pub fn write_linked(fd: i32, buf: *const u8, len: u32, offset: u64, user_data: u64) -> Entry {
        opcode::Write::new(Fd(fd), buf, len)
            .offset(offset)
            .build()
            .flags(io_uring::squeue::Flags::IO_LINK)
            .user_data(user_data)
    }
    /// fdatasync of `fd`.
    pub fn fdatasync(fd: i32, user_data: u64) -> Entry {
        opcode::Fsync::new(Fd(fd)).flags(io_uring::types::FsyncFlags::DATASYNC).build().user_data(user_data)
    }
    pub fn read(fd: i32, buf: *mut u8, len: u32, user_data: u64) -> Entry {
        opcode::Read::new(Fd(fd), buf, len).build().user_data(user_data)
    }
    pub fn timeout(ts: *const Timespec, user_data: u64) -> Entry {
        opcode::Timeout::new(ts).build().user_data(user_data)
    }
    /// Post a CQE with `result` and `target_user_data` on the ring `ring_fd`.
    pub fn msg_ring(ring_fd: i32, result: i32, target_user_data: u64, user_data: u64) -> Entry {
        opcode::MsgRingData::new(Fd(ring_fd), result, target_user_data, None).build().user_data(user_data)
    }
}

/// Opcodes every mode needs (basic mode runs on these alone).
pub const OPS_BASIC: &[(&str, u8)] = &[
    ("ACCEPT", opcode::Accept::CODE),
    ("RECV", opcode::Recv::CODE),
    ("SEND", opcode::Send::CODE),
    ("SENDMSG", opcode::SendMsg::CODE),
    ("CLOSE", opcode::Close::CODE),
    ("ASYNC_CANCEL", opcode::AsyncCancel::CODE),
    ("TIMEOUT", opcode::Timeout::CODE),
    ("READ", opcode::Read::CODE),
];
/// Opcode used for hand-offs when present (5.18+); without it every worker accepts.
pub const OP_MSG_RING: (&str, u8) = ("MSG_RING", opcode::MsgRingData::CODE);

/// The running kernel's (major, minor), if uname can tell.
pub fn kernel_version() -> Option<(u32, u32)> {
    // SAFETY: utsname is plain old data; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return None;
    }
    // SAFETY: uname NUL-terminates `release`.
    let release = unsafe { std::ffi::CStr::from_ptr(u.release.as_ptr()) }.to_string_lossy().into_owned();
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// A one-line reason plus hint for a failed setup step.
pub fn unsupported_reason(step: &str, e: &io::Error) -> String {
    let sysctl = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(0);
    match e.raw_os_error() {
        Some(libc::ENOSYS) => format!("{step}: ENOSYS, this kernel has no io_uring (hint: Linux 5.6+ needed; use --engine epoll)"),
        Some(libc::EPERM) if sysctl > 0 => {
            format!("{step}: EPERM, disabled by sysctl kernel.io_uring_disabled={sysctl} (hint: set it to 0, or use --engine epoll)")
        }
        Some(libc::EPERM) => format!("{step}: EPERM, blocked by a seccomp filter (hint: Docker's default profile blocks io_uring; run with a profile that allows it, or use --engine epoll)"),
        Some(libc::ENOMEM) => format!("{step}: ENOMEM, locked-memory limit too low (hint: raise RLIMIT_MEMLOCK, e.g. `ulimit -l` or LimitMEMLOCK=, or use fewer --threads)"),
        Some(libc::EINVAL) => format!("{step}: EINVAL, the kernel rejected the ring parameters (hint: kernel too old; Linux 5.6+ needed)"),
        _ => format!("{step}: {e} (hint: use --engine epoll)"),
    }
}

/// The mode to run in: the configured one, downgraded to basic on kernels without multishot
/// recv.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_enter_errno_has_a_decision() {
        assert_eq!(enter_decision(libc::EINTR), EnterDecision::Retry);
        assert_eq!(enter_decision(libc::EAGAIN), EnterDecision::ReapBackoffRetry);
        assert_eq!(enter_decision(libc::EBUSY), EnterDecision::ReapBackoffRetry);
        assert_eq!(enter_decision(libc::EBADR), EnterDecision::LostCompletions);
        for fatal in [libc::EBADF, libc::EFAULT, libc::EINVAL, libc::ENXIO, libc::EOPNOTSUPP, libc::EEXIST] {
            assert_eq!(enter_decision(fatal), EnterDecision::Fatal);
        }
    }

    #[test]
    fn reasons_name_the_errno_and_a_hint() {
        for errno in [libc::ENOSYS, libc::EPERM, libc::ENOMEM, libc::EINVAL, libc::EACCES] {
            let r = unsupported_reason("io_uring_setup", &io::Error::from_raw_os_error(errno));
            assert!(r.starts_with("io_uring_setup: "), "{r}");
            assert!(r.contains("hint:"), "{r}");
        }
    }

    #[test]
    fn kernel_version_parses() {
        assert!(kernel_version().is_some_and(|(major, _)| major >= 3));
    }

    #[test]
    fn ring_setup_and_probe_work_here() {
        let mut ring = Ring::new(8, 32).expect("io_uring available on the test machine");
        let missing = ring.probe(OPS_BASIC).expect("probe");
        assert!(missing.is_empty(), "{missing:?}");
        // A real enter: the NOP is submitted and reaped (twice: the ring is left clean).
        ring.probe_enter().expect("io_uring_enter works here");
        ring.probe_enter().expect("io_uring_enter works again");
        assert_eq!(ring.tally.cqes_reaped, 2);
    }
}
