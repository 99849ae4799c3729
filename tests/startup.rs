//! Server startup and the socket file: stale sockets are replaced, a live server's socket and
//! non-socket files are never touched, and permissions come from --unixsocketperm.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::{Server, THREADS};

fn run_server_expect_failure(args: &[&str]) -> String {
    common::refuses_to_start(args).1
}

/// A second server on the same socket refuses to start and leaves the first one alone.
#[test]
fn live_socket_is_not_stolen() {
    let first = Server::start(THREADS, &[]);
    let sock = first.sock.to_str().unwrap().to_string();
    let err = run_server_expect_failure(&["--unixsocket", &sock, "--port", "0", "--engine", "threads"]);
    assert!(err.contains("already listening"), "{err}");
    let mut s = first.unix();
    common::roundtrip(&mut s, b"PING\r\n", b"+PONG\r\n");
}

/// A regular file at the socket path is never deleted.
#[test]
fn regular_file_is_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-a-socket");
    std::fs::write(&path, b"precious").unwrap();
    let err =
        run_server_expect_failure(&["--unixsocket", path.to_str().unwrap(), "--port", "0", "--engine", "threads"]);
    assert!(err.contains("not a socket"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

/// A stale socket file (nobody listening) is replaced.
#[test]
fn stale_socket_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let mut child = common::spawn(&path, 0, THREADS, &[], &dir.path().join("err.log"));
    let ok = common::eventually(Duration::from_secs(10), || std::os::unix::net::UnixStream::connect(&path).is_ok());
    let _ = child.kill();
    let _ = child.wait();
    assert!(ok, "server did not take over the stale socket");
}

/// The socket is created with --unixsocketperm.
#[test]
fn socket_permissions_follow_flag() {
    let server = Server::start(THREADS, &["--unixsocketperm", "660"]);
    let mode = std::fs::metadata(&server.sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    let server = Server::start(THREADS, &[]);
    let mode = std::fs::metadata(&server.sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

/// Bad flag values are rejected with a message, not a panic.
#[test]
fn bad_flags_are_rejected() {
    let err = run_server_expect_failure(&["--proto-max-bulk-len", "12xb"]);
    assert!(err.contains("invalid size"), "{err}");
    let err = run_server_expect_failure(&["--engine", "kqueue"]);
    assert!(err.contains("invalid value"), "{err}");
}
