//! Shared harness for the integration tests: start the real `ringkv-server` binary on a temp
//! Unix socket (and optionally a free loopback TCP port) with a given engine, wait until it
//! answers, talk to it with raw bytes or the `redis` crate, stop it with SIGTERM on drop.
//!
//! `engine_tests!(fn_a, fn_b, ...)` turns each `fn name(engine: Engine)` into one `#[test]` per
//! engine, so every behaviour is checked on every engine.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to start answering.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a server may take to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Socket read timeout in tests, so a hung server fails the test instead of hanging it.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// An engine configuration under test.
#[derive(Clone, Copy, Debug)]
pub struct Engine {
    pub name: &'static str,
    pub args: &'static [&'static str],
}

pub const THREADS: Engine = Engine { name: "threads", args: &["--engine", "threads"] };
pub const EPOLL: Engine = Engine { name: "epoll", args: &["--engine", "epoll", "--threads", "2"] };
pub const URING: Engine =
    Engine { name: "uring", args: &["--engine", "uring", "--uring-mode", "full", "--threads", "2"] };
pub const URING_BASIC: Engine =
    Engine { name: "uring-basic", args: &["--engine", "uring", "--uring-mode", "basic", "--threads", "2"] };
pub const ALL_ENGINES: &[Engine] = &[THREADS, EPOLL, URING, URING_BASIC];

/// Generate one `#[test]` per engine for each listed `fn name(engine: Engine)`.
#[macro_export]
macro_rules! engine_tests {
    ($($name:ident),* $(,)?) => {
        mod threads { $( #[test] fn $name() { super::$name(super::common::THREADS) } )* }
        mod epoll { $( #[test] fn $name() { super::$name(super::common::EPOLL) } )* }
        mod uring { $( #[test] fn $name() { super::$name(super::common::URING) } )* }
        mod uring_basic { $( #[test] fn $name() { super::$name(super::common::URING_BASIC) } )* }
    };
}

/// A running server; SIGTERM + wait on drop.
pub struct Server {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub sock: PathBuf,
    /// Loopback TCP port, 0 if TCP is off.
    pub port: u16,
    pub engine: Engine,
    stderr_path: PathBuf,
}

/// A free loopback port (bind to 0, read it, release it).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 0");
    l.local_addr().unwrap().port()
}

impl Server {
    /// Start on a Unix socket only.
    pub fn start(engine: Engine, extra: &[&str]) -> Server {
        Self::start_opts(engine, extra, false)
    }

    /// Start on a Unix socket and a free loopback TCP port.
    pub fn start_tcp(engine: Engine, extra: &[&str]) -> Server {
        Self::start_opts(engine, extra, true)
    }

    fn start_opts(engine: Engine, extra: &[&str], tcp: bool) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let sock = dir.path().join("ringkv.sock");
        let stderr_path = dir.path().join("stderr.log");
        let port = if tcp { free_port() } else { 0 };
        let child = spawn(&sock, port, engine, extra, &stderr_path);
        let mut server = Server { child: Some(child), dir, sock, port, engine, stderr_path };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(mut s) = UnixStream::connect(&self.sock) {
                s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                // Any well-formed reply will do (a password-protected server says -NOAUTH).
                if s.write_all(b"PING\r\n").is_ok() {
                    let line = read_line(&mut s);
                    if line == b"+PONG" || line.starts_with(b"-NOAUTH") {
                        return;
                    }
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("server ({}) exited during startup: {status}\n{}", self.engine.name, self.stderr());
            }
            assert!(
                Instant::now() < deadline,
                "server ({}) did not start in time\n{}",
                self.engine.name,
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Everything the server logged so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// A raw Unix-socket connection with timeouts set.
    pub fn unix(&self) -> UnixStream {
        let s = UnixStream::connect(&self.sock).expect("connect unix");
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        s
    }

    /// A raw TCP connection with timeouts set.
    pub fn tcp(&self) -> TcpStream {
        assert!(self.port != 0, "server started without TCP");
        let s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect tcp");
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        s.set_nodelay(true).unwrap();
        s
    }

    /// A `redis` crate connection over the Unix socket.
    pub fn redis(&self) -> redis::Connection {
        let url = format!("redis+unix://{}", self.sock.display());
        let client = redis::Client::open(url.as_str()).expect("redis client");
        let con = client.get_connection_with_timeout(IO_TIMEOUT).expect("redis connect");
        con.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        con
    }

    /// A `redis` crate connection over TCP.
    pub fn redis_tcp(&self) -> redis::Connection {
        let url = format!("redis://127.0.0.1:{}/", self.port);
        let client = redis::Client::open(url.as_str()).expect("redis client");
        client.get_connection_with_timeout(IO_TIMEOUT).expect("redis connect")
    }

    /// Number of open descriptors of the server process.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map(|d| d.count()).unwrap_or(0)
    }

    /// Resident set size of the server process in bytes.
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    }

    /// Send SIGTERM and wait (bounded) for the exit status.
    pub fn stop(mut self) -> ExitStatus {
        self.terminate().expect("server exited")
    }

    /// Wait (bounded by [`STOP_TIMEOUT`]) for the server to exit on its own (e.g. after
    /// SHUTDOWN); `None` if it is still running then (it is killed on drop).
    pub fn wait_exit(&mut self) -> Option<ExitStatus> {
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.as_mut()?.try_wait().unwrap() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }

    fn terminate(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "server ({}) did not exit within {STOP_TIMEOUT:?} of SIGTERM\n{}",
                    self.engine.name,
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Start the server process (not waiting for it).
pub fn spawn(
    sock: &std::path::Path,
    port: u16,
    engine: Engine,
    extra: &[&str],
    stderr_path: &std::path::Path,
) -> Child {
    let stderr = std::fs::File::create(stderr_path).expect("stderr log");
    let port_s = port.to_string();
    Command::new(env!("CARGO_BIN_EXE_ringkv-server"))
        .arg("--unixsocket")
        .arg(sock)
        .args(["--port", &port_s])
        .args(engine.args)
        .args(extra)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn ringkv-server")
}

/// Send `req` and read until exactly `expect.len()` bytes have arrived; assert they match.
pub fn roundtrip<S: Read + Write>(s: &mut S, req: &[u8], expect: &[u8]) {
    s.write_all(req).unwrap();
    let got = read_n(s, expect.len());
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expect),
        "request {:?}",
        String::from_utf8_lossy(req)
    );
}

/// Read exactly `n` bytes.
pub fn read_n<S: Read>(s: &mut S, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).unwrap_or_else(|e| panic!("reading {n} bytes: {e}"));
    buf
}

/// Read one CRLF-terminated line (without the CRLF), byte by byte; empty on EOF/error.
pub fn read_line<S: Read>(s: &mut S) -> Vec<u8> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while s.read_exact(&mut b).is_ok() {
        line.push(b[0]);
        if line.ends_with(b"\r\n") {
            line.truncate(line.len() - 2);
            return line;
        }
    }
    Vec::new()
}

/// Send an inline command and read a one-line reply (status, error or integer).
pub fn line_cmd<S: Read + Write>(s: &mut S, cmd: &str) -> String {
    s.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
    String::from_utf8_lossy(&read_line(s)).into_owned()
}

/// Read until the peer closes; returns everything read (bounded by the IO timeout).
pub fn read_to_eof<S: Read>(s: &mut S) -> Vec<u8> {
    let mut all = Vec::new();
    s.read_to_end(&mut all).expect("read to EOF");
    all
}

/// Encode a command as a RESP multibulk.
pub fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Parse `INFO` text into (field, value) lookups.
pub fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines().find_map(|l| l.strip_prefix(&format!("{field}:")).map(|v| v.trim().to_string()))
}

/// Poll `f` until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
