//! The I/O engines. They differ only in how bytes move between sockets and [`Session`]s;
//! parsing, commands and the store are shared (see the crate docs for the picture).
//!
//! - [`threads`]: one blocking OS thread per connection (the seed program's design).
//! - [`epoll`]: one mio/epoll event loop per worker thread.
//! - [`uring`]: per-core io_uring rings (on the io_uring layer in [`crate::ring`]).
//!
//! This module also holds what every engine needs at the edges: admission control
//! (maxclients, protected mode) with Redis's exact messages, and the one vectored write of
//! a session's output segments ([`write_segments`]) epoll and threads share. The socket types are in
//! [`crate::net`].
//!
//! [`Session`]: crate::session::Session

use std::io::{IoSlice, Write};
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering::Relaxed;

use crate::reply::Segments;
use crate::shared::Shared;

pub mod conn_rules;
pub mod epoll;
pub mod limits;
pub mod threads;
pub mod uring;

/// One write of the output in `segs` from total offset `from` (epoll and threads; uring
/// builds its own SENDMSG): a plain `write` when the output is one contiguous buffer (always,
/// unless replies reference stored values), a `writev` of at most
/// [`limits::IOVECS_PER_SEND_MAX`] segments otherwise. Returns the bytes written.
pub fn write_segments(w: &mut impl Write, segs: &Segments, from: usize) -> std::io::Result<usize> {
    if !segs.has_refs() {
        return w.write(segs.owned_from(from));
    }
    let iov: Vec<IoSlice<'_>> = segs.chunks_from(from).take(limits::IOVECS_PER_SEND_MAX).map(IoSlice::new).collect();
    w.write_vectored(&iov)
}

/// Redis's reply to a client over `maxclients`.
pub const ERR_MAXCLIENTS: &[u8] = b"-ERR max number of clients reached\r\n";
/// Redis's reply to a non-loopback client in protected mode (no password set).
pub const ERR_DENIED: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Decide whether a newly accepted client may stay. On `Ok` the client is counted in
/// `connected_clients` (call [`client_closed`] when it goes). On `Err` the engine writes the
/// returned message (best effort, non-blocking) and closes the socket.
///
/// Order and counters follow Redis (networking.c): the maxclients check comes first, then
/// protected mode; both count in `rejected_connections`, and only an admitted client counts in
/// `total_connections_received`. `peer` is `None` for Unix-socket clients, which are local.
pub fn admit(shared: &Shared, peer: Option<SocketAddr>) -> Result<(), &'static [u8]> {
    let stats = &shared.stats;
    let now = stats.connected_clients.fetch_add(1, Relaxed);
    if now >= shared.tunables.maxclients() {
        stats.connected_clients.fetch_sub(1, Relaxed);
        stats.rejected_connections.fetch_add(1, Relaxed);
        return Err(ERR_MAXCLIENTS);
    }
    if let Some(addr) = peer {
        if protected_mode_refuses(shared, addr) {
            stats.connected_clients.fetch_sub(1, Relaxed);
            stats.rejected_connections.fetch_add(1, Relaxed);
            return Err(ERR_DENIED);
        }
    }
    stats.total_connections_received.fetch_add(1, Relaxed);
    Ok(())
}

/// Protected mode (on, with no password) refuses TCP clients that are not on the loopback
/// interface. An IPv4 client of a dual-stack (`::`) listener shows up as `::ffff:a.b.c.d`;
/// it is judged by its IPv4 address.
fn protected_mode_refuses(shared: &Shared, addr: SocketAddr) -> bool {
    shared.tunables.protected_mode() && !shared.tunables.has_password() && !addr.ip().to_canonical().is_loopback()
}

/// Undo [`admit`]'s count when an admitted client's connection ends.
pub fn client_closed(shared: &Shared) {
    shared.stats.connected_clients.fetch_sub(1, Relaxed);
}

/// Write a refusal message without blocking (the socket buffer of a fresh connection always
/// has room for it; if not, the client simply sees the close).
pub fn refuse(fd: RawFd, msg: &[u8]) {
    // SAFETY: `fd` is an open socket owned by the caller; `msg` is a valid buffer of its length.
    unsafe {
        libc::send(fd, msg.as_ptr().cast(), msg.len(), libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn shared_with(args: &[&str]) -> Shared {
        use clap::Parser;
        let argv = std::iter::once("ringkv-server").chain(args.iter().copied());
        Shared::new(Config::parse_from(argv))
    }

    fn addr(s: &str) -> Option<SocketAddr> {
        Some(s.parse().unwrap())
    }

    fn counts(shared: &Shared) -> (usize, u64, u64) {
        let st = &shared.stats;
        (
            st.connected_clients.load(Relaxed),
            st.rejected_connections.load(Relaxed),
            st.total_connections_received.load(Relaxed),
        )
    }

    #[test]
    fn protected_mode_refuses_remote_tcp_clients_without_a_password() {
        // Defaults: protected mode on, no password. Remote addresses (v4, v6) are refused with
        // Redis's DENIED text; loopback (v4, v6, v4-mapped v6) and Unix clients are admitted.
        let shared = shared_with(&[]);
        for remote in ["10.1.2.3:5000", "192.168.0.7:1", "[2001:db8::1]:6379", "[::ffff:10.0.0.1]:9"] {
            assert_eq!(admit(&shared, addr(remote)), Err(ERR_DENIED), "{remote}");
        }
        assert_eq!(counts(&shared), (0, 4, 0));
        for local in ["127.0.0.1:5000", "127.3.4.5:1", "[::1]:6379", "[::ffff:127.0.0.1]:9"] {
            assert_eq!(admit(&shared, addr(local)), Ok(()), "{local}");
        }
        assert_eq!(admit(&shared, None), Ok(()));
        assert_eq!(counts(&shared), (5, 4, 5));
        let text = std::str::from_utf8(ERR_DENIED).unwrap();
        assert!(text.starts_with("-DENIED Redis is running in protected mode because protected mode is enabled"));
        assert!(text.ends_with("connections from the outside.\r\n"));
        assert_eq!(text.matches("\r\n").count(), 1, "the refusal is one line");
    }

    #[test]
    fn protected_mode_admits_remote_clients_with_a_password_or_when_off() {
        // A password, or `--protected-mode no`, lets non-loopback clients in (AUTH still
        // guards the commands when a password is set).
        for args in [&["--requirepass", "pw"][..], &["--protected-mode", "no"][..]] {
            let shared = shared_with(args);
            assert_eq!(admit(&shared, addr("10.1.2.3:5000")), Ok(()), "{args:?}");
            assert_eq!(admit(&shared, addr("[2001:db8::1]:1")), Ok(()), "{args:?}");
            assert_eq!(counts(&shared), (2, 0, 2));
        }
        // An empty password is no password.
        let shared = shared_with(&["--requirepass", ""]);
        assert_eq!(admit(&shared, addr("10.1.2.3:5000")), Err(ERR_DENIED));
    }

    #[test]
    fn maxclients_is_checked_first_and_slots_are_given_back() {
        // Over maxclients every client gets the maxclients error, remote or not; a closed
        // client's slot can be taken again.
        let shared = shared_with(&["--maxclients", "2"]);
        assert_eq!(admit(&shared, None), Ok(()));
        assert_eq!(admit(&shared, addr("127.0.0.1:1")), Ok(()));
        assert_eq!(admit(&shared, None), Err(ERR_MAXCLIENTS));
        assert_eq!(admit(&shared, addr("10.0.0.1:1")), Err(ERR_MAXCLIENTS));
        assert_eq!(counts(&shared), (2, 2, 2));
        client_closed(&shared);
        assert_eq!(admit(&shared, addr("10.0.0.1:1")), Err(ERR_DENIED));
        assert_eq!(admit(&shared, None), Ok(()));
        assert_eq!(counts(&shared), (2, 3, 3));
        assert_eq!(ERR_MAXCLIENTS, b"-ERR max number of clients reached\r\n");
    }
}
