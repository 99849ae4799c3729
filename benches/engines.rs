//! Requests per second of each I/O engine (threads, epoll, uring) serving GET and SET of small
//! values: 16-byte keys, 32-byte values, 10 000 keys preloaded so every GET hits.
//!
//! Configurations: over the Unix socket, {GET, SET} x {1, 50} connections x pipeline depth
//! {1, 16}; over loopback TCP, GET with 50 connections at depth 16. Each criterion group is
//! one configuration and holds one benchmark per engine, so the engines are compared within
//! the same run on the same machine state.
//!
//! Server: the real `ringkv-server` binary, one child process per engine, started once with
//! `--unixsocket <tmp> --port <free> --engine E` and stopped with SIGTERM at the end. epoll and
//! uring run with `--threads 1`: this machine has 2 cores, and with one server worker the
//! other core is left to the load generator, instead of two server workers and 50 client
//! threads all fighting over both. The threads engine has no such knob (one thread per
//! connection is its design). The engine that actually served is read from `INFO io`
//! (`io_engine`); if uring fell back to epoll the benchmark is named `uring-fellback-to-epoll`.
//!
//! Client: `ringkv::loadgen`, in this process, with its default event-driven driver: one
//! mio (epoll) loop thread per core, each over its share of the connections (before issue 15
//! every connection had its own blocking thread: 50 client threads on 2 cores measured the
//! client's scheduler as much as the servers, and penalised a server that answers in batches,
//! since each batch of replies woke 50 threads). Every round a connection writes `depth`
//! pre-encoded requests with one `write` and reads until `depth` replies have arrived,
//! counting reply frames with a byte scan (no parsing, no allocation). One criterion iteration
//! is one round on every connection, so throughput is `connections x depth` requests per
//! iteration and the time is the wall time for all connections to finish their rounds. Client
//! and server share the same 2 cores, so these numbers include the client's CPU cost: they
//! compare engines under identical load, they are not the server's ceiling.
//!
//! Reading the numbers: with 1 connection every request is a ping-pong between a client and a
//! server thread, so on a 2-vCPU VM those results mostly measure how fast an idle vCPU wakes
//! up. On the Firecracker VM this was written on they varied 3-4x between runs (22k-100k GETs/s
//! at depth 1) and were *fastest* while an unrelated process kept the other vCPU busy. Compare
//! engines within one run, prefer the 50-connection groups, and look at server CPU per request
//! too: there the threads engine runs on both cores while epoll and uring have one worker.
//!
//! After each benchmark an `extra` line (not in `--test` mode) gives the server's CPU time per
//! request over the benchmark, the background load (CPU that other processes on the machine
//! used meanwhile: if it is not near 0 the numbers are disturbed), and p50/p99 request latency
//! from one more run of 20 000 requests.
//!
//! Run: `cargo bench --bench engines` (about 80 s); one group: `cargo bench --bench engines --
//! unix_get_c50_d16`; smoke test: `cargo bench --bench engines -- --test`.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use ringkv::client::{Client, Reply};
use ringkv::loadgen::{self, CpuSample, LoadGen, Op, Target, Workload};

/// Engines in the order they appear in every group (threads first: the baseline).
const ENGINES: &[Engine] = &[
    Engine { name: "threads", args: &["--engine", "threads"] },
    Engine { name: "epoll", args: &["--engine", "epoll", "--threads", "1"] },
    Engine { name: "uring", args: &["--engine", "uring", "--threads", "1"] },
];
/// How long a server may take to answer PING after it is spawned.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a server may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests in the extra run that measures latency percentiles.
const LATENCY_REQUESTS: u64 = 20_000;

struct Engine {
    name: &'static str,
    args: &'static [&'static str],
}

/// A running `ringkv-server`; SIGTERM (then SIGKILL) on drop.
struct Server {
    child: Child,
    _dir: tempfile::TempDir,
    sock: PathBuf,
    port: u16,
    stderr_path: PathBuf,
    /// What the benchmark is called: the engine asked for, or what it fell back to.
    label: String,
    /// `io_engine` from INFO io.
    io_engine: String,
}

impl Server {
    fn start(engine: &Engine) -> Result<Server, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let sock = dir.path().join("ringkv.sock");
        let stderr_path = dir.path().join("stderr.log");
        let port = free_port();
        let stderr = std::fs::File::create(&stderr_path).map_err(|e| format!("stderr log: {e}"))?;
        let child = Command::new(server_binary())
            .current_dir(dir.path())
            .arg("--unixsocket")
            .arg(&sock)
            .args(["--port", &port.to_string()])
            .args(engine.args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("spawn ringkv-server: {e}"))?;
        let mut server =
            Server { child, _dir: dir, sock, port, stderr_path, label: String::new(), io_engine: String::new() };
        server.wait_ready()?;
        server.io_engine = server.info_io_engine()?;
        server.label = if server.io_engine.starts_with(engine.name) {
            server.io_engine.clone() // "uring" or "uring-basic"
        } else {
            format!("{}-fellback-to-{}", engine.name, server.io_engine)
        };
        let preload = Workload::new(Op::Get, 1, 1);
        loadgen::preload(&server.unix(), &preload).map_err(|e| format!("preload: {e}\n{}", server.stderr()))?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(mut c) = Client::connect_unix(&self.sock) {
                let _ = c.set_timeout(Some(Duration::from_secs(5)));
                if matches!(c.command(&[b"PING"]), Ok(Reply::Status(s)) if s == b"PONG") {
                    return Ok(());
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited during startup: {status}\n{}", self.stderr()));
            }
            if Instant::now() > deadline {
                return Err(format!("did not answer PING within {START_TIMEOUT:?}\n{}", self.stderr()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn info_io_engine(&self) -> Result<String, String> {
        let mut c = Client::connect_unix(&self.sock).map_err(|e| format!("connect: {e}"))?;
        let info = match c.command(&[b"INFO", b"io"]) {
            Ok(Reply::Bulk(Some(text))) => String::from_utf8_lossy(&text).into_owned(),
            other => return Err(format!("INFO io: unexpected {other:?}")),
        };
        info.lines()
            .find_map(|l| l.strip_prefix("io_engine:"))
            .map(|e| e.trim().to_string())
            .ok_or_else(|| format!("INFO io has no io_engine line:\n{info}"))
    }

    fn unix(&self) -> Target {
        Target::Unix(self.sock.clone())
    }

    fn tcp(&self) -> Target {
        Target::Tcp(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.port)))
    }

    fn stderr(&self) -> String {
        let mut s = String::new();
        let _ = std::fs::File::open(&self.stderr_path).and_then(|mut f| f.read_to_string(&mut s));
        s
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid, which we have not yet reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        eprintln!("{}: no exit within {STOP_TIMEOUT:?} of SIGTERM, killing it", self.label);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port that was free a moment ago (bind to 0, read it, release it).
fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// The `ringkv-server` built in the same profile as this bench. Cargo builds a package's
/// binaries before its benches and says where (`CARGO_BIN_EXE_*`); failing that, it sits next
/// to the `deps/` directory holding this executable; failing that, build it.
fn server_binary() -> PathBuf {
    if let Some(path) = option_env!("CARGO_BIN_EXE_ringkv-server").map(PathBuf::from) {
        if path.exists() {
            return path;
        }
    }
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe.parent().and_then(Path::parent).expect("bench executable lives in <target>/<profile>/deps");
    let path = profile_dir.join("ringkv-server");
    if !path.exists() {
        let target_dir = profile_dir.parent().expect("<target>/<profile>");
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "--bin", "ringkv-server", "--manifest-path"])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .arg("--target-dir")
            .arg(target_dir)
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build --release --bin ringkv-server failed");
        return target_dir.join("release").join("ringkv-server");
    }
    path
}

fn test_mode() -> bool {
    std::env::args().any(|a| a == "--test")
}

/// Benchmark every running server on one workload, as one criterion group.
fn bench_config(c: &mut Criterion, servers: &[Server], tcp: bool, workload: &Workload) {
    let mut group = c.benchmark_group(group_name(tcp, workload));
    group.throughput(Throughput::Elements(workload.requests_per_round()));
    for server in servers {
        bench_server(&mut group, server, tcp, workload);
    }
    group.finish();
}

fn bench_server(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    server: &Server,
    tcp: bool,
    workload: &Workload,
) {
    let target = if tcp { server.tcp() } else { server.unix() };
    // Connected on first use, so a filtered-out benchmark opens nothing.
    let mut gen: Option<LoadGen> = None;
    let mut requests = 0u64;
    let cpu_before = CpuSample::take(Some(server.child.id()));
    group.bench_function(&server.label, |b| {
        let gen = gen.get_or_insert_with(|| {
            LoadGen::connect(&target, workload).unwrap_or_else(|e| panic!("{}: connect: {e}", server.label))
        });
        b.iter_custom(|rounds| {
            requests += rounds * gen.requests_per_round();
            gen.run(rounds).unwrap_or_else(|e| panic!("{}: {e}\n{}", server.label, server.stderr()))
        });
    });
    let cpu = CpuSample::take(Some(server.child.id())).since(&cpu_before);
    if let Some(gen) = gen.as_mut().filter(|_| !test_mode()) {
        let rounds = (LATENCY_REQUESTS / gen.requests_per_round()).max(1);
        let report = gen.run_with_latency(rounds).unwrap_or_else(|e| panic!("{}: {e}", server.label));
        let us = |q: f64| report.latency.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "extra {}/{}: server CPU {:.2} µs/request, background load {:.0}% of a core; \
             latency p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs ({} requests at {:.0} req/s)",
            group_name(tcp, workload),
            server.label,
            cpu.server_s * 1e6 / requests.max(1) as f64,
            cpu.background_cores * 100.0,
            us(0.50),
            us(0.99),
            report.latency.max() as f64 / 1000.0,
            report.requests,
            report.requests_per_sec()
        );
    }
}

/// `unix_get_c50_d16`: transport, command, connections, pipeline depth.
fn group_name(tcp: bool, workload: &Workload) -> String {
    format!("{}_{}_c{}_d{}", if tcp { "tcp" } else { "unix" }, workload.op.name(), workload.clients, workload.depth)
}

fn engines(c: &mut Criterion) {
    let servers: Vec<Server> = ENGINES
        .iter()
        .filter_map(|engine| match Server::start(engine) {
            Ok(server) => Some(server),
            Err(e) => {
                eprintln!("skipping engine {}: ringkv-server failed to start: {e}", engine.name);
                None
            }
        })
        .collect();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    for server in &servers {
        println!("server {}: io_engine={} (kernel {})", server.label, server.io_engine, kernel.trim());
    }
    for op in [Op::Get, Op::Set] {
        for clients in [1, 50] {
            for depth in [1, 16] {
                bench_config(c, &servers, false, &Workload::new(op, clients, depth));
            }
        }
    }
    bench_config(c, &servers, true, &Workload::new(Op::Get, 50, 16));
}

criterion_group! {
    name = benches;
    // Plots are skipped: rendering them costs seconds per benchmark on a 2-core machine.
    config = Criterion::default()
        .without_plots()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = engines
}
criterion_main!(benches);
