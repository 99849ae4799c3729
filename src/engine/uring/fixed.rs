//! The worker's fixed-file table (registered files): each connection's descriptor is installed
//! in the ring once, so its recv, send and close SQEs name [`Target::Fixed`] and the kernel
//! skips the per-op descriptor lookup and file reference count (`fget`/`fput` on every send,
//! every single-shot recv and every multishot arm). Measured (docs/batching.md): 0.6–1.0
//! points of server CPU less at GET c50 P1, 0.4 at P16, for one `io_uring_register` per new
//! connection.
//!
//! ```text
//!   adopt ──install (IORING_REGISTER_FILES_UPDATE at index = slab slot, one syscall)──► Fixed(slot)
//!     │        └─ slot >= table size, or the update failed ──► Fd(fd) (counted as a fallback)
//!     ▼
//!   recv/send SQEs name Fixed(slot) ── start_close: Close(Fixed(slot)) releases the entry,
//!                                        Close(Fd(fd)) the plain descriptor ──► slot freed
//!                                        after both completed ──► a later connection reinstalls
//! ```
//!
//! - **Index = slab slot.** No allocator of its own: the slab reuses freed slots first, so
//!   indices stay below this worker's peak number of connections (closing ones included),
//!   which admission bounds by `maxclients`. A slot is reused only after every op of the old
//!   connection completed, its Close of the entry included.
//! - **The plain descriptor stays open** while the connection lives: admission, the TCP
//!   socket options and CLIENT LIST's addresses (`getpeername` from any thread) use it, and
//!   the MSG_RING hand-off carries it (a fixed slot belongs to one ring). The socket closes
//!   when both closes have run and no op holds it.
//! - **Sizing** ([`table_size`]): `maxclients` at startup, at most the soft `RLIMIT_NOFILE`
//!   (the kernel refuses a bigger table with EMFILE) and [`FIXED_FILES_MAX`].
//! - **Degrading:** a connection whose slot is past the table (maxclients raised at runtime)
//!   or whose install failed is served through its plain descriptor, counted in
//!   `io_fixed_file_fallbacks` (INFO io); the first such case is logged.
//! - **Probing:** sparse registration (`IORING_REGISTER_FILES2` + `IORING_RSRC_REGISTER_SPARSE`,
//!   Linux 5.19+, which also has close of a fixed slot, 5.15+). A kernel that refuses it runs
//!   every connection on plain descriptors, as before (logged once at info level).

use std::os::fd::RawFd;

use crate::ring::{Ring, Target};

/// Most fixed-file slots per worker (8 bytes of kernel memory each: 512 KiB per ring at
/// most). Connections past it on one worker use plain descriptors.
pub const FIXED_FILES_MAX: u32 = 1 << 16;

/// Slots to register: `maxclients` connections could all land on one worker, but no more than
/// the kernel accepts (`RLIMIT_NOFILE` soft limit) nor [`FIXED_FILES_MAX`].
pub fn table_size(maxclients: usize, nofile_soft: u64) -> u32 {
    let n = (maxclients as u64).min(nofile_soft).min(u64::from(FIXED_FILES_MAX));
    n as u32
}

/// The soft `RLIMIT_NOFILE` (unlimited if it cannot be read).
fn nofile_soft() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return u64::MAX;
    }
    lim.rlim_cur
}

/// One ring's fixed-file table, as the worker uses it.
#[derive(Debug, Default)]
pub struct FixedFiles {
    /// Registered slots (0: no table, every connection on its plain descriptor).
    size: u32,
    /// Connections holding a slot (until their slab slot is freed).
    in_use: usize,
    /// Connections served through their plain descriptor although the table exists.
    fallbacks: u64,
}

impl FixedFiles {
    /// Register a sparse table for `maxclients` connections on `ring`; none if `maxclients`
    /// is 0 (the feature is off) or the kernel refuses.
    pub fn register(ring: &mut Ring, maxclients: usize) -> FixedFiles {
        let size = table_size(maxclients, nofile_soft());
        if size == 0 {
            return FixedFiles::default();
        }
        ring.tally.syscalls += 1;
        match ring.submitter().register_files_sparse(size) {
            Ok(()) => FixedFiles { size, ..FixedFiles::default() },
            Err(e) => {
                tracing::info!(error = %e, size, "no fixed-file table (Linux 5.19+ needed): connections use plain descriptors");
                FixedFiles::default()
            }
        }
    }

    /// Registered slots.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Install the connection in slab slot `slot` (plain descriptor `fd`): the target its SQEs
    /// name from now on.
    pub fn install(&mut self, ring: &mut Ring, slot: u32, fd: RawFd) -> Target {
        if self.size == 0 {
            return Target::Fd(fd);
        }
        if slot >= self.size {
            self.fall_back(slot, "the table is full (maxclients was raised after startup)");
            return Target::Fd(fd);
        }
        ring.tally.syscalls += 1;
        match ring.submitter().register_files_update(slot, &[fd]) {
            Ok(1) => {
                self.in_use += 1;
                Target::Fixed(slot)
            }
            Ok(n) => {
                self.fall_back(slot, &format!("the kernel installed {n} files instead of 1"));
                Target::Fd(fd)
            }
            Err(e) => {
                self.fall_back(slot, &e.to_string());
                Target::Fd(fd)
            }
        }
    }

    fn fall_back(&mut self, slot: u32, why: &str) {
        if self.fallbacks == 0 {
            tracing::warn!(
                slot,
                size = self.size,
                "fixed-file slot unavailable ({why}); using plain descriptors for such connections"
            );
        }
        self.fallbacks += 1;
    }

    /// A connection that held a slot is gone (its Close of the slot completed).
    pub fn released(&mut self) {
        assert!(self.in_use > 0, "fixed-file slot released with none in use");
        self.in_use -= 1;
    }

    /// Connections holding a slot now.
    pub fn in_use(&self) -> usize {
        self.in_use
    }

    /// Connections served through plain descriptors although the table exists.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::{sqe, Cqe};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn the_table_respects_maxclients_the_descriptor_limit_and_the_cap() {
        assert_eq!(table_size(10_000, 1_048_576), 10_000);
        assert_eq!(table_size(10_000, 1_024), 1_024, "RLIMIT_NOFILE bounds it");
        assert_eq!(table_size(usize::MAX, u64::MAX), FIXED_FILES_MAX);
        assert_eq!(table_size(0, 1_024), 0, "off");
    }

    fn complete_one(ring: &mut Ring) -> Cqe {
        let mut out = Vec::new();
        while out.is_empty() {
            ring.enter(1, 0).expect("enter");
            ring.reap(&mut out, 1);
        }
        out[0]
    }

    #[test]
    fn installed_connections_use_their_slot_and_the_rest_fall_back() {
        let mut ring = Ring::new(8, 32).expect("io_uring available on the test machine");
        let mut files = FixedFiles::register(&mut ring, 2);
        assert_eq!(files.size(), 2, "sparse registration works on the test machine's kernel");
        let (ours, mut peer) = UnixStream::pair().unwrap();
        assert_eq!(files.install(&mut ring, 1, ours.as_raw_fd()), Target::Fixed(1));
        assert_eq!(files.install(&mut ring, 2, ours.as_raw_fd()), Target::Fd(ours.as_raw_fd()), "past the table");
        assert_eq!((files.in_use(), files.fallbacks()), (1, 1));
        // A send through the slot reaches the peer.
        let msg = b"+OK\r\n";
        // SAFETY: `msg` is a static buffer; the test waits for the completion.
        unsafe { ring.push(&sqe::send(Target::Fixed(1), msg.as_ptr(), msg.len() as u32, 7)).unwrap() };
        assert_eq!(complete_one(&mut ring).result, msg.len() as i32);
        let mut got = [0u8; 5];
        std::io::Read::read_exact(&mut peer, &mut got).unwrap();
        assert_eq!(&got, msg);
        // The table holds the socket open after its plain descriptor is closed...
        drop(ours);
        peer.set_nonblocking(true).unwrap();
        let held = std::io::Read::read(&mut peer, &mut got).map_err(|e| e.kind());
        assert_eq!(held, Err(std::io::ErrorKind::WouldBlock), "the slot still holds the socket");
        // ...until the slot is closed: then the peer sees EOF.
        // SAFETY: Close refers to no memory.
        unsafe { ring.push(&sqe::close(Target::Fixed(1), 8)).unwrap() };
        assert_eq!(complete_one(&mut ring).result, 0);
        files.released();
        peer.set_nonblocking(false).unwrap();
        peer.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        assert_eq!(std::io::Read::read(&mut peer, &mut got).unwrap(), 0, "EOF once the slot is closed");
        assert_eq!(files.in_use(), 0);
    }

    #[test]
    fn no_table_means_plain_descriptors() {
        let mut ring = Ring::new(8, 32).expect("io_uring available on the test machine");
        let mut files = FixedFiles::register(&mut ring, 0);
        assert_eq!(files.size(), 0);
        assert_eq!(files.install(&mut ring, 0, 5), Target::Fd(5));
        assert_eq!(files.fallbacks(), 0, "no table is not a fallback");
    }

    #[test]
    #[should_panic(expected = "none in use")]
    fn releasing_more_than_installed_is_a_bug() {
        FixedFiles::default().released();
    }
}
