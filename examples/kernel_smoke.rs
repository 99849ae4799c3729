//! Smoke test of one server configuration, for `scripts/kernel-matrix` (which runs it inside
//! QEMU guests booted with other kernels) and for anyone checking a machine by hand:
//!
//! ```sh
//! cargo build --release --bins --example kernel_smoke
//! target/release/examples/kernel_smoke uring-full target/release/ringkv-server
//! ```
//!
//! It starts `ringkv-server` with the configuration's flags on a temporary Unix socket and a
//! loopback TCP port, then checks, stopping at the first failure: PING on both listeners;
//! SET/GET/INCR; a pipelined batch of 2,000 commands sent in one write; 16 concurrent
//! connections incrementing one counter; `INFO io` naming an engine the configuration may be
//! served by; SIGTERM giving exit status 0 and removing the socket file. It prints one line,
//! `<config>: PASS (served by <engine>[: <why>])` or `<config>: FAIL <check>: <what>`, and
//! exits 0 only on PASS. When the engine serving is not the one asked for (uring falls back
//! to basic mode before Linux 6.0, and to epoll when io_uring is refused), the reason is the
//! server's own log line.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use ringkv::client::{Client, Reply};

/// How long the server may take to answer PING after it is started (TCG guests are slow).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the server may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Socket timeout for every request, so a hung server fails the check instead of hanging it.
const IO_TIMEOUT: Duration = Duration::from_secs(15);
/// Commands in the pipelined batch (half SET, half GET), sent with one flush.
const PIPELINE_PAIRS: usize = 1000;
/// Concurrent connections (half Unix, half TCP) and the INCRs each sends.
const CONCURRENT_CLIENTS: usize = 16;
const CONCURRENT_INCRS: i64 = 200;
/// Worker threads the server is started with (the guests have 2 vCPUs).
const SERVER_THREADS: &str = "2";

/// A configuration: its name, its engine flags, and the `io_engine` values that may serve it.
struct Config {
    name: &'static str,
    flags: &'static [&'static str],
    served_by: &'static [&'static str],
}

const CONFIGS: &[Config] = &[
    Config {
        name: "uring-full",
        flags: &["--engine", "uring", "--uring-mode", "full"],
        served_by: &["uring", "uring-basic", "epoll"],
    },
    Config {
        name: "uring-basic",
        flags: &["--engine", "uring", "--uring-mode", "basic"],
        served_by: &["uring-basic", "epoll"],
    },
    Config { name: "epoll", flags: &["--engine", "epoll"], served_by: &["epoll"] },
    Config { name: "threads", flags: &["--engine", "threads"], served_by: &["threads"] },
];

/// A failed check: which one, and what went wrong.
struct Failure {
    check: &'static str,
    what: String,
}

type Checked<T> = Result<T, Failure>;

fn fail<T>(check: &'static str, what: impl Into<String>) -> Checked<T> {
    Err(Failure { check, what: what.into() })
}

/// Wraps an I/O error as a failure of `check`.
fn io<T>(check: &'static str, r: std::io::Result<T>) -> Checked<T> {
    r.or_else(|e| fail(check, e.to_string()))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(name), Some(server)) = (args.first(), args.get(1)) else {
        let names: Vec<&str> = CONFIGS.iter().map(|c| c.name).collect();
        eprintln!("usage: kernel_smoke <{}> <path/to/ringkv-server> [port]", names.join("|"));
        std::process::exit(2);
    };
    let Some(config) = CONFIGS.iter().find(|c| c.name == name) else {
        eprintln!("kernel_smoke: unknown configuration {name:?}");
        std::process::exit(2);
    };
    let port: u16 = args.get(2).and_then(|p| p.parse().ok()).unwrap_or(7379);
    match run(config, Path::new(server), port) {
        Ok(served) => println!("{}: PASS (served by {served})", config.name),
        Err(f) => {
            println!("{}: FAIL {}: {}", config.name, f.check, f.what);
            std::process::exit(1);
        }
    }
}

/// The running server, its socket and the log lines it has written so far.
struct Server {
    child: Child,
    sock: PathBuf,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        // The child is still running only when a check failed.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = self.sock.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Runs every check; on success, what served the configuration (with the reason when it is
/// not what was asked for).
fn run(config: &Config, server_bin: &Path, port: u16) -> Checked<String> {
    let mut server = start(config, server_bin, port)?;
    let mut unix = connect(&server, false)?;
    let mut tcp = connect(&server, true)?;
    for c in [&mut unix, &mut tcp] {
        expect(c, "ping", &[b"PING"], Reply::Status(b"PONG".to_vec()))?;
    }
    set_get_incr(&mut unix, &mut tcp)?;
    pipeline(&mut tcp)?;
    concurrent(&server)?;
    let engine = info_io_engine(&mut unix, config)?;
    drop((unix, tcp));
    sigterm(&mut server)?;
    let log = server.log.lock().unwrap().clone();
    Ok(describe_served(config, &engine, &log))
}

fn start(config: &Config, server_bin: &Path, port: u16) -> Checked<Server> {
    let dir = std::env::temp_dir().join(format!("ringkv-smoke-{}", std::process::id()));
    io("start", std::fs::create_dir_all(&dir))?;
    let sock = dir.join(format!("{}.sock", config.name));
    let mut cmd = Command::new(server_bin);
    cmd.args(config.flags)
        .args(["--threads", SERVER_THREADS, "--port", &port.to_string(), "--unixsocket"])
        .arg(&sock)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = io("start", cmd.spawn())?;
    let log = Arc::new(Mutex::new(Vec::new()));
    let stderr = child.stderr.take().expect("stderr is piped");
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let mut server = Server { child, sock, port, log };
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            let log = server.log.lock().unwrap().join(" | ");
            return fail("start", format!("server exited with {status}: {log}"));
        }
        if let Ok(mut c) = Client::connect_unix(&server.sock) {
            let _ = c.set_timeout(Some(IO_TIMEOUT));
            if c.command(&[b"PING"]).is_ok() {
                return Ok(server);
            }
        }
        if Instant::now() > deadline {
            return fail("start", format!("no answer within {START_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn connect(server: &Server, tcp: bool) -> Checked<Client> {
    let c = if tcp { Client::connect_tcp("127.0.0.1", server.port) } else { Client::connect_unix(&server.sock) };
    let mut c = io("connect", c)?;
    io("connect", c.set_timeout(Some(IO_TIMEOUT)))?;
    Ok(c)
}

fn expect(c: &mut Client, check: &'static str, args: &[&[u8]], want: Reply) -> Checked<()> {
    let got = io(check, c.command(args))?;
    if got != want {
        return fail(check, format!("{} replied {got:?}, expected {want:?}", String::from_utf8_lossy(args[0])));
    }
    Ok(())
}

fn bulk(b: &[u8]) -> Reply {
    Reply::Bulk(Some(b.to_vec()))
}

/// SET/GET across both listeners, INCR and INCRBY.
fn set_get_incr(unix: &mut Client, tcp: &mut Client) -> Checked<()> {
    const C: &str = "set-get-incr";
    expect(unix, C, &[b"SET", b"smoke:k", b"hello"], Reply::Status(b"OK".to_vec()))?;
    expect(tcp, C, &[b"GET", b"smoke:k"], bulk(b"hello"))?;
    expect(tcp, C, &[b"GET", b"smoke:missing"], Reply::Bulk(None))?;
    for n in 1..=3 {
        expect(unix, C, &[b"INCR", b"smoke:n"], Reply::Integer(n))?;
    }
    expect(tcp, C, &[b"INCRBY", b"smoke:n", b"10"], Reply::Integer(13))?;
    expect(unix, C, &[b"INCR", b"smoke:k"], Reply::Error(b"ERR value is not an integer or out of range".to_vec()))
}

/// 1,000 SETs then 1,000 GETs of the same keys, written with one flush, replies in order.
fn pipeline(c: &mut Client) -> Checked<()> {
    const C: &str = "pipeline";
    let keys: Vec<String> = (0..PIPELINE_PAIRS).map(|i| format!("smoke:p:{i}")).collect();
    for (i, k) in keys.iter().enumerate() {
        io(C, c.send(&[b"SET", k.as_bytes(), i.to_string().as_bytes()]))?;
    }
    for k in &keys {
        io(C, c.send(&[b"GET", k.as_bytes()]))?;
    }
    io(C, c.flush())?;
    for i in 0..PIPELINE_PAIRS {
        let r = io(C, c.read_reply())?;
        if r != Reply::Status(b"OK".to_vec()) {
            return fail(C, format!("SET #{i} replied {r:?}"));
        }
    }
    for i in 0..PIPELINE_PAIRS {
        let r = io(C, c.read_reply())?;
        if r != bulk(i.to_string().as_bytes()) {
            return fail(C, format!("GET #{i} replied {r:?}"));
        }
    }
    Ok(())
}

/// Connections opened together (half Unix, half TCP) increment one counter; none is lost.
fn concurrent(server: &Server) -> Checked<()> {
    const C: &str = "concurrent";
    let mut clients = Vec::new();
    for i in 0..CONCURRENT_CLIENTS {
        clients.push(connect(server, i % 2 == 1).map_err(|f| Failure { check: C, what: f.what })?);
    }
    let barrier = Arc::new(Barrier::new(CONCURRENT_CLIENTS));
    let threads: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            let barrier = barrier.clone();
            std::thread::spawn(move || -> Result<(), String> {
                barrier.wait();
                for _ in 0..CONCURRENT_INCRS {
                    match c.command(&[b"INCR", b"smoke:c"]) {
                        Ok(Reply::Integer(_)) => {}
                        other => return Err(format!("INCR replied {other:?}")),
                    }
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return fail(C, e),
            Err(_) => return fail(C, "a client thread panicked"),
        }
    }
    let total = CONCURRENT_CLIENTS as i64 * CONCURRENT_INCRS;
    let mut c = connect(server, false)?;
    expect(&mut c, C, &[b"GET", b"smoke:c"], bulk(total.to_string().as_bytes()))
}

/// `io_engine` from INFO io, which must be one the configuration may be served by.
fn info_io_engine(c: &mut Client, config: &Config) -> Checked<String> {
    const C: &str = "info-io";
    let text = match io(C, c.command(&[b"INFO", b"io"]))? {
        Reply::Bulk(Some(b)) | Reply::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
        other => return fail(C, format!("INFO io replied {other:?}")),
    };
    let field = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')).map(str::to_string);
    let Some(engine) = field("io_engine") else { return fail(C, format!("no io_engine field in {text:?}")) };
    if field("io_syscalls").is_none() {
        return fail(C, "no io_syscalls field");
    }
    if !config.served_by.contains(&engine.as_str()) {
        return fail(C, format!("io_engine:{engine}, expected one of {:?}", config.served_by));
    }
    Ok(engine)
}

/// SIGTERM: exit status 0 within the timeout, socket file removed.
fn sigterm(server: &mut Server) -> Checked<()> {
    const C: &str = "sigterm";
    // SAFETY: kill(2) on our own child's pid; it has not been reaped, so the pid is its own.
    if unsafe { libc::kill(server.child.id() as libc::pid_t, libc::SIGTERM) } != 0 {
        return fail(C, format!("kill: {}", std::io::Error::last_os_error()));
    }
    let status = wait_exit(&mut server.child)?;
    if !status.success() {
        let log = server.log.lock().unwrap().join(" | ");
        return fail(C, format!("server exited with {status}: {log}"));
    }
    if server.sock.exists() {
        return fail(C, format!("{} still exists after exit", server.sock.display()));
    }
    Ok(())
}

fn wait_exit(child: &mut Child) -> Checked<ExitStatus> {
    let deadline = Instant::now() + STOP_TIMEOUT;
    loop {
        if let Some(status) = io("sigterm", child.try_wait())? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            return fail("sigterm", format!("still running {STOP_TIMEOUT:?} after SIGTERM"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `uring`, or `uring-basic: kernel < 6.0`, or `epoll: <the server's fallback reason>`.
fn describe_served(config: &Config, engine: &str, log: &[String]) -> String {
    let asked = if config.name == "uring-full" { "uring" } else { config.name };
    let reason = match engine {
        _ if engine == asked => None,
        "uring-basic" => log.iter().any(|l| l.contains("kernel older than 6.0")).then(|| "kernel < 6.0".to_string()),
        "epoll" => log
            .iter()
            .find_map(|l| l.split_once("falling back to the epoll engine: ").map(|(_, why)| why.trim().to_string())),
        _ => None,
    };
    match reason {
        Some(why) => format!("{engine}: {why}"),
        None => engine.to_string(),
    }
}
