//! Shared harness for the integration tests: start the real `ringkv-server` binary on a temp
//! Unix socket (and optionally a free loopback TCP port) with a given engine, wait until it
//! answers, check that it runs the engine asked for (`INFO io`), talk to it with raw bytes or
//! the `redis` crate, stop it with SIGTERM ([`Server::stop`]) or SIGKILL on drop.
//!
//! `engine_tests!(fn_a, fn_b, ...)` turns each `fn name(engine: Engine)` into one `#[test]` per
//! engine, so every behaviour is checked on every engine.
#![allow(dead_code)]

pub mod real_redis;

use std::io::{ErrorKind, Read, Write};
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
    /// Also the `io_engine` that `INFO io` must report for it.
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

/// Generate one module per listed configuration, each with a `#[test]` per listed
/// `fn name(engine: Engine)`: `config_tests!([full => URING, basic => URING_BASIC], [a, b]);`
/// (the engines are constants in the calling test file or imported into it).
#[macro_export]
macro_rules! config_tests {
    ([$($module:ident => $engine:ident),* $(,)?], $names:tt) => {
        $( config_tests!(@module $module, $engine, $names); )*
    };
    (@module $module:ident, $engine:ident, [$($name:ident),* $(,)?]) => {
        mod $module { $( #[test] fn $name() { super::$name(super::$engine) } )* }
    };
}

/// How to start a server. [`Server::start`] and [`Server::start_tcp`] cover most tests; the
/// rest say what differs: `Launch::new(engine).args(..).tcp().start()`.
#[derive(Clone, Debug)]
pub struct Launch {
    engine: Engine,
    extra: Vec<String>,
    /// Also listen on a free loopback TCP port.
    tcp: bool,
    /// Listen on the Unix socket (`--unixsocket ""` when false).
    unix: bool,
    /// RLIMIT_NOFILE (soft and hard) for the server process.
    nofile: Option<u64>,
    /// The `io_engine` INFO must report once the server runs: `engine.name` unless a test
    /// deliberately forces a fallback and says so with [`Launch::expect_io_engine`].
    io_engine: &'static str,
    /// A config file, passed first (before every flag, as ringkv-server requires).
    conf: Option<PathBuf>,
}

impl Launch {
    pub fn new(engine: Engine) -> Launch {
        Launch { engine, extra: Vec::new(), tcp: false, unix: true, nofile: None, io_engine: engine.name, conf: None }
    }
    /// Extra server flags.
    pub fn args(mut self, extra: &[&str]) -> Launch {
        self.extra.extend(extra.iter().map(|a| a.to_string()));
        self
    }
    /// Start with this config file (the harness's flags still override it).
    pub fn conf(mut self, path: &std::path::Path) -> Launch {
        self.conf = Some(path.to_path_buf());
        self
    }
    /// Listen on a free loopback TCP port too.
    pub fn tcp(mut self) -> Launch {
        self.tcp = true;
        self
    }
    /// TCP only: the server gets `--unixsocket ""`.
    pub fn tcp_only(mut self) -> Launch {
        self.tcp = true;
        self.unix = false;
        self
    }
    /// Start the server with this RLIMIT_NOFILE.
    pub fn nofile(mut self, n: u64) -> Launch {
        self.nofile = Some(n);
        self
    }
    /// Opt out of "the engine asked for is the engine running": expect `io_engine` instead.
    pub fn expect_io_engine(mut self, io_engine: &'static str) -> Launch {
        self.io_engine = io_engine;
        self
    }
    /// Start, wait until it answers, and check that it runs the expected engine.
    pub fn start(self) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let sock = dir.path().join("ringkv.sock");
        let stderr_path = dir.path().join("stderr.log");
        let port = if self.tcp { free_port() } else { 0 };
        let mut server = Server { child: None, dir, sock, port, engine: self.engine, stderr_path, launch: self };
        server.spawn_and_check();
        server
    }
    /// The `--requirepass` value, if the flags set one.
    fn password(&self) -> Option<&str> {
        let at = self.extra.iter().position(|a| a == "--requirepass")?;
        self.extra.get(at + 1).map(String::as_str).filter(|p| !p.is_empty())
    }
}

/// A running server; SIGKILL + wait on drop.
pub struct Server {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    /// The Unix socket path (unused when started with [`Launch::tcp_only`]).
    pub sock: PathBuf,
    /// Loopback TCP port, 0 if TCP is off.
    pub port: u16,
    pub engine: Engine,
    stderr_path: PathBuf,
    launch: Launch,
}

/// A free loopback port (bind to 0, read it, release it).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 0");
    l.local_addr().unwrap().port()
}

/// A connection of either kind, for checks that work on both.
pub enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Unix(s) => s.write(buf),
            Conn::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Server {
    /// Start on a Unix socket only.
    pub fn start(engine: Engine, extra: &[&str]) -> Server {
        Launch::new(engine).args(extra).start()
    }

    /// Start on a Unix socket and a free loopback TCP port.
    pub fn start_tcp(engine: Engine, extra: &[&str]) -> Server {
        Launch::new(engine).args(extra).tcp().start()
    }

    /// Spawn the process, wait until it answers, then check its engine.
    fn spawn_and_check(&mut self) {
        let sock = if self.launch.unix { self.sock.clone() } else { PathBuf::new() };
        let child = spawn_with(&sock, self.port, &self.launch, &self.stderr_path);
        self.child = Some(child);
        self.wait_ready();
        self.check_engine();
    }

    /// A connection over the Unix socket if the server has one, else over TCP; `None` if the
    /// connect fails.
    fn try_connect(&self) -> Option<Conn> {
        let conn = if self.launch.unix {
            Conn::Unix(UnixStream::connect(&self.sock).ok()?)
        } else {
            Conn::Tcp(TcpStream::connect(("127.0.0.1", self.port)).ok()?)
        };
        match &conn {
            Conn::Unix(s) => s.set_read_timeout(Some(IO_TIMEOUT)).ok()?,
            Conn::Tcp(s) => s.set_read_timeout(Some(IO_TIMEOUT)).ok()?,
        }
        Some(conn)
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(mut s) = self.try_connect() {
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

    /// The harness tells the truth: the engine INFO reports is the one the test asked for, so
    /// a silent fallback (uring to epoll, full to basic) cannot pass as the engine under test.
    fn check_engine(&self) {
        let mut s = self.try_connect().expect("connect after startup");
        if let Some(pw) = self.launch.password() {
            assert_eq!(line_cmd(&mut s, &format!("AUTH {pw}")), "+OK");
        }
        let text = info(&mut s, "io");
        let running = info_field(&text, "io_engine");
        assert_eq!(
            running.as_deref(),
            Some(self.launch.io_engine),
            "asked for engine {} ({:?}), the server runs another\n{}",
            self.engine.name,
            self.engine.args,
            self.stderr()
        );
    }

    /// SIGKILL the server and start it again at once on the same socket and port, as a
    /// supervisor would (panics, with the server's log, if the new one does not come up).
    pub fn kill_and_restart(&mut self) {
        let mut child = self.child.take().expect("server running");
        let _ = child.kill();
        let _ = child.wait();
        self.spawn_and_check();
    }

    /// The server listens on its Unix socket (not started with [`Launch::tcp_only`]).
    pub fn has_unix(&self) -> bool {
        self.launch.unix
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Send `signal` to the server process.
    pub fn signal(&self, signal: i32) {
        // SAFETY: plain kill(2) on our own, not yet reaped, child's pid.
        assert_eq!(unsafe { libc::kill(self.pid() as i32, signal) }, 0);
    }

    /// The exit status if the server has exited (reaps it), without waiting.
    pub fn try_exit_status(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().unwrap().try_wait().unwrap()
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

    /// `INFO <section>` over a fresh Unix-socket connection.
    pub fn info(&self, section: &str) -> String {
        info(&mut self.unix(), section)
    }

    /// An `INFO <section>` field as a number, over a fresh Unix-socket connection.
    pub fn info_u64(&self, section: &str, field: &str) -> u64 {
        info_u64(&mut self.unix(), section, field)
    }

    /// Number of open descriptors of the server process.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map(|d| d.count()).unwrap_or(0)
    }

    /// Resident set size of the server process in bytes.
    pub fn rss_bytes(&self) -> u64 {
        rss_of(self.pid())
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

/// Start the server process (not waiting for it) on `sock` (empty: no Unix socket) and
/// `port` (0: no TCP), with `engine`'s flags and `extra`.
pub fn spawn(
    sock: &std::path::Path,
    port: u16,
    engine: Engine,
    extra: &[&str],
    stderr_path: &std::path::Path,
) -> Child {
    spawn_with(sock, port, &Launch::new(engine).args(extra), stderr_path)
}

fn spawn_with(sock: &std::path::Path, port: u16, launch: &Launch, stderr_path: &std::path::Path) -> Child {
    use std::os::unix::process::CommandExt;
    let stderr = std::fs::File::create(stderr_path).expect("stderr log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringkv-server"));
    // The server's working directory is the test's temporary directory (the stderr log lives
    // there): the default `--dir .` (dump.rdb, appendonlydir) never lands in the crate root.
    if let Some(dir) = stderr_path.parent() {
        cmd.current_dir(dir);
    }
    if let Some(conf) = &launch.conf {
        cmd.arg(conf);
    }
    cmd.arg("--unixsocket").arg(sock).args(["--port", &port.to_string()]);
    cmd.args(launch.engine.args).args(&launch.extra).env("RUST_LOG", "info");
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr);
    if let Some(nofile) = launch.nofile {
        // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit { rlim_cur: nofile, rlim_max: nofile };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    cmd.spawn().expect("spawn ringkv-server")
}

/// Run the server with `args`, expecting it to refuse to start: returns its exit status and
/// standard error. Unless `args` name them, the server gets a temporary socket and no TCP, so
/// a server that does start by mistake touches nothing outside the test.
pub fn refuses_to_start(args: &[&str]) -> (ExitStatus, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringkv-server"));
    cmd.current_dir(dir.path());
    if !args.contains(&"--unixsocket") {
        cmd.arg("--unixsocket").arg(dir.path().join("ringkv.sock"));
    }
    if !args.contains(&"--port") {
        cmd.args(["--port", "0"]);
    }
    let stderr_path = dir.path().join("stderr.log");
    let stderr = std::fs::File::create(&stderr_path).expect("stderr log");
    let mut child = cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr).spawn().unwrap();
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let err = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            assert!(!status.success(), "server should have refused to start with {args:?}\n{err}");
            return (status, err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("server started with {args:?}\n{}", std::fs::read_to_string(&stderr_path).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
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

/// Read one bulk-string reply's payload (panics on anything else).
pub fn read_bulk<S: Read>(s: &mut S) -> Vec<u8> {
    let header = read_line(s);
    assert_eq!(header.first(), Some(&b'$'), "expected a bulk reply, got {:?}", String::from_utf8_lossy(&header));
    let len: usize = std::str::from_utf8(&header[1..]).unwrap().parse().unwrap();
    let mut body = read_n(s, len + 2);
    body.truncate(len);
    body
}

/// Encode `v` as a RESP bulk string.
pub fn bulk(v: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", v.len()).into_bytes();
    out.extend_from_slice(v);
    out.extend_from_slice(b"\r\n");
    out
}

/// `INFO <section>` over an existing connection (none comes or goes).
pub fn info<S: Read + Write>(s: &mut S, section: &str) -> String {
    s.write_all(&resp(&[b"INFO", section.as_bytes()])).unwrap();
    String::from_utf8(read_bulk(s)).unwrap()
}

/// An `INFO <section>` field as a number, over an existing connection.
pub fn info_u64<S: Read + Write>(s: &mut S, section: &str, field: &str) -> u64 {
    let text = info(s, section);
    info_field(&text, field).unwrap_or_else(|| panic!("INFO {section} has no {field}:\n{text}")).parse().unwrap()
}

/// A value whose every byte depends on its position (and `salt`), so misordered or lost
/// bytes show.
pub fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8 ^ salt).collect()
}

/// Read until the server closes: EOF, or a reset (a Unix socket closed with our unread
/// requests in it reports ECONNRESET after the data). A read timeout is a failure: the
/// server must close these connections by itself.
pub fn read_until_closed<S: Read>(s: &mut S) -> Vec<u8> {
    let mut all = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return all,
            Ok(n) => all.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return all,
            Err(e) => panic!("server did not close the connection: {e} (read {} bytes)", all.len()),
        }
    }
}

/// Resident set size of a process, bytes (0 if it is gone).
pub fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
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

/// xorshift64*: a tiny deterministic generator, so every run with one seed does the same.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// True with probability 1/n.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
    /// One of `from` (not empty).
    pub fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        &from[self.below(from.len())]
    }
    /// Random bytes, a random length in `0..n`.
    pub fn bytes_below(&mut self, n: usize) -> Vec<u8> {
        let len = self.below(n);
        self.bytes(len)
    }
}
