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

/// `--threads 0` used to run one worker silently: it is refused, with Redis's wording for a
/// number out of range, exit status 1.
#[test]
fn threads_zero_is_refused() {
    let (status, err) = common::refuses_to_start(&["--threads", "0", "--engine", "epoll"]);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("'--threads <N>': argument must be between 1 and 1024 inclusive"), "{err}");
}

/// A bad flag is reported once, before anything is bound or logged as ready, and the exit
/// status is 1 (`--uring-buffers 3` used to log `ready`, then the error twice).
#[test]
fn bad_flags_are_reported_once_before_binding() {
    for engine in ["uring", "epoll"] {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("s.sock");
        let args = ["--unixsocket", sock.to_str().unwrap(), "--engine", engine, "--uring-buffers", "3"];
        let (status, err) = common::refuses_to_start(&args);
        assert_eq!(status.code(), Some(1), "{err}");
        assert_eq!(err.matches("--uring-buffers 3: must be a power of two").count(), 1, "{engine}: {err}");
        assert!(!err.contains("ready"), "{engine}: {err}");
        assert!(!sock.exists(), "{engine}: the socket was bound before the flags were checked");
    }
}

/// `--unixsocket ""` is documented as "no Unix socket" (clap used to refuse the empty
/// value): with --port 0 as well there is nothing to listen on, which is an error.
#[test]
fn empty_unixsocket_without_port_is_nothing_to_listen_on() {
    let (status, err) = common::refuses_to_start(&["--unixsocket", "", "--port", "0", "--engine", "epoll"]);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("nothing to listen on"), "{err}");
    assert!(!err.contains("a value is required"), "{err}");
}

/// Logs written to a file (or pipe) carry no ANSI colour codes.
#[test]
fn logs_to_a_file_have_no_colour_codes() {
    let server = Server::start(THREADS, &[]);
    let log = server.stderr();
    assert!(log.contains("ready"), "{log}");
    assert!(!log.contains('\x1b'), "escape codes in the log: {log:?}");
}

/// Connections a test opens at most per listener while counting the backlog (over the
/// largest backlog it asks for, so a kernel that queues more shows as a failure).
const BACKLOG_PROBE_MAX: usize = 600;
/// How long a TCP connect may take before it counts as "the listener's queue is full" (an
/// overflowing SYN is dropped and retried after 1 s, so this is never reached by a
/// connection the kernel queued).
const BACKLOG_TCP_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Unix connections queued on `sock` before a non-blocking connect says EAGAIN.
fn queued_unix_connections(sock: &std::path::Path) -> usize {
    use std::os::unix::ffi::OsStrExt;
    let mut addr: libc::sockaddr_un = zeroed_sockaddr_un();
    let path = sock.as_os_str().as_bytes();
    assert!(path.len() < addr.sun_path.len());
    for (dst, &b) in addr.sun_path.iter_mut().zip(path) {
        *dst = b as libc::c_char;
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let mut held = Vec::new();
    while held.len() < BACKLOG_PROBE_MAX {
        // SAFETY: plain socket(2); the result is checked and owned by an OwnedFd below.
        let fd =
            unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        // SAFETY: `fd` is a fresh descriptor we own.
        let owned = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        // SAFETY: `addr` is a valid sockaddr_un of `len` bytes; `fd` is an open socket.
        let rc = unsafe { libc::connect(fd, (&addr as *const libc::sockaddr_un).cast(), len) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            assert_eq!(e.raw_os_error(), Some(libc::EAGAIN), "connect: {e}");
            return held.len();
        }
        held.push(owned);
    }
    held.len()
}

fn zeroed_sockaddr_un() -> libc::sockaddr_un {
    // SAFETY: sockaddr_un is plain old data; all zeroes is a valid (empty) value.
    unsafe { std::mem::zeroed() }
}

/// TCP connections queued on `port` before a connect times out (its SYN dropped).
fn queued_tcp_connections(port: u16) -> usize {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut held = Vec::new();
    while held.len() < BACKLOG_PROBE_MAX {
        match std::net::TcpStream::connect_timeout(&addr, BACKLOG_TCP_CONNECT_TIMEOUT) {
            Ok(s) => held.push(s),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return held.len(),
            Err(e) => panic!("connect: {e}"),
        }
    }
    held.len()
}

/// Every thread of process `pid` is stopped (state `T` in /proc).
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return false };
    tasks.flatten().all(|task| {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // The state follows the parenthesised command name, which may itself contain spaces.
        stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('T'))
    })
}

/// Checks `--tcp-backlog` (default 511, as Redis; it used to be std's 128) on the Unix and
/// the TCP listener: with the server stopped (SIGSTOP) nothing is accepted, and Linux queues
/// backlog + 1 connections on a listener before it refuses more.
#[test]
fn listen_backlog_follows_tcp_backlog() {
    let somaxconn: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn").unwrap().trim().parse().unwrap();
    for (flags, backlog) in [(&[][..], 511usize), (&["--tcp-backlog", "100"][..], 100)] {
        let server = common::Launch::new(common::EPOLL).args(flags).tcp().start();
        let shown: Vec<String> = redis::cmd("CONFIG").arg("GET").arg("tcp-backlog").query(&mut server.redis()).unwrap();
        assert_eq!(shown, ["tcp-backlog".to_string(), backlog.to_string()]);
        let want = backlog.min(somaxconn) + 1;
        server.signal(libc::SIGSTOP);
        // kill(2) returns before the threads stop; one could still accept a probe connection.
        assert!(common::eventually(common::START_TIMEOUT, || all_threads_stopped(server.pid())));
        let unix = queued_unix_connections(&server.sock);
        let tcp = queued_tcp_connections(server.port);
        server.signal(libc::SIGCONT);
        assert_eq!((unix, tcp), (want, want), "backlog {backlog} (flags {flags:?})");
    }
}
