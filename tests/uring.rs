//! Targeted tests of the io_uring engine (`--engine uring`), each against the real
//! `ringkv-server` binary with two workers, in full mode (multishot recv + buffer ring) and in
//! basic mode (single-shot recv) where the behaviour applies to both: short sends, an
//! exhausted buffer ring, descriptor leaks over many connections, clients vanishing with
//! replies in flight, one huge pipelined write, the fallback path, shutdown, and `INFO io`.
//! The generic behaviour suite runs against these engines from `tests/server.rs`.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{
    eventually, info, info_field, info_u64, pattern, read_line, read_n, read_to_eof, read_until_closed, resp,
    roundtrip, Engine, Launch, Server, URING, URING_BASIC,
};

/// How long the server may take to settle back (descriptors, client counts) after a burst.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);

config_tests!(
    [full => URING, basic => URING_BASIC],
    [
    eight_mib_value_to_a_slow_reader,
    many_clients_at_once_against_a_tiny_buffer_ring,
    ten_thousand_connect_close_cycles_leak_no_descriptors,
    clients_closing_with_replies_in_flight,
    ten_thousand_pipelined_commands_in_one_write,
    client_that_never_reads_stays_bounded,
    idle_clients_time_out,
    sigterm_flushes_closes_and_exits_zero,
    info_io_shows_batched_syscalls,
    restart_right_after_kill_9,
    ]
);

/// The server's descriptor count once `admin` is its only client (the harness's readiness
/// probe may still be closing when a test starts).
fn settled_fd_baseline(server: &Server, admin: &mut UnixStream) -> usize {
    assert!(eventually(SETTLE_TIMEOUT, || info_u64(admin, "clients", "connected_clients") == 1));
    server.open_fds()
}

/// Wait until the server's descriptor count is back to `baseline` (bounded).
fn assert_fds_settle(server: &Server, baseline: usize) {
    let mut last = 0;
    let settled = eventually(SETTLE_TIMEOUT, || {
        last = server.open_fds();
        last == baseline
    });
    assert!(settled, "server has {last} open descriptors, started with {baseline}");
}

/// Checks short sends: an 8 MiB reply cannot fit a Unix socket buffer, so the kernel takes
/// it in pieces while the client reads slowly; every byte must arrive, in order.
fn eight_mib_value_to_a_slow_reader(engine: Engine) {
    let server = Server::start(engine, &[]);
    let value = pattern(8 << 20, 0);
    let mut c = server.unix();
    roundtrip(&mut c, &resp(&[b"SET", b"big", &value]), b"+OK\r\n");
    let mut admin = server.unix();
    let sqes_before = info_u64(&mut admin, "io", "io_sqes_submitted");

    c.write_all(&resp(&[b"GET", b"big"])).unwrap();
    let header = read_line(&mut c);
    assert_eq!(header, format!("${}", value.len()).into_bytes());
    let mut got = Vec::with_capacity(value.len() + 2);
    let mut chunk = vec![0u8; 16 * 1024];
    while got.len() < value.len() + 2 {
        let want = chunk.len().min(value.len() + 2 - got.len());
        let n = c.read(&mut chunk[..want]).expect("slow read");
        assert!(n > 0, "server closed mid-reply after {} bytes", got.len());
        got.extend_from_slice(&chunk[..n]);
        std::thread::sleep(Duration::from_micros(300));
    }
    assert!(got.ends_with(b"\r\n"));
    got.truncate(value.len());
    assert!(got == value, "8 MiB value corrupted in transit");

    let sqes_after = info_u64(&mut admin, "io", "io_sqes_submitted");
    assert!(sqes_after - sqes_before >= 8, "expected many partial sends, saw {} SQEs", sqes_after - sqes_before);
    roundtrip(&mut c, b"PING\r\n", b"+PONG\r\n");
}

/// Checks ENOBUFS handling: 4 receive buffers of 4 KiB shared by 64 clients that all send a
/// pipeline of 200 requests at the same moment; every reply must be complete and correct.
fn many_clients_at_once_against_a_tiny_buffer_ring(engine: Engine) {
    let server = Server::start(engine, &["--uring-buffers", "4", "--uring-buffer-size", "4kb"]);
    many_clients_at_once(&server);
}

/// 64 clients send a pipeline of 200 SET + GET pairs (300-byte values) at the same moment;
/// every reply must be complete and correct.
fn many_clients_at_once(server: &Server) {
    const CLIENTS: usize = 64;
    const REQUESTS: usize = 200;
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let mut s = server.unix();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut req = Vec::new();
                let mut expect = Vec::new();
                for i in 0..REQUESTS {
                    let key = format!("c{c}:k{i}");
                    let val = format!("{:0>300}", i * c);
                    req.extend_from_slice(&resp(&[b"SET", key.as_bytes(), val.as_bytes()]));
                    req.extend_from_slice(&resp(&[b"GET", key.as_bytes()]));
                    expect.extend_from_slice(b"+OK\r\n");
                    expect.extend_from_slice(format!("${}\r\n{val}\r\n", val.len()).as_bytes());
                }
                barrier.wait();
                let mut w = s.try_clone().unwrap();
                let writer = std::thread::spawn(move || w.write_all(&req).unwrap());
                let got = read_n(&mut s, expect.len());
                writer.join().unwrap();
                assert!(got == expect, "client {c}: replies differ");
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut c = server.unix();
    roundtrip(&mut c, b"PING\r\n", b"+PONG\r\n");
}

/// Checks that closed connections give back their descriptors: 10,000 connect/close cycles
/// (some sending a request, some not) leave the server's descriptor count where it started.
fn ten_thousand_connect_close_cycles_leak_no_descriptors(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut admin = server.unix();
    let baseline = settled_fd_baseline(&server, &mut admin);
    for i in 0..10_000 {
        let mut s = UnixStream::connect(&server.sock).expect("connect");
        match i % 3 {
            0 => {}
            1 => s.write_all(b"PING\r\n").unwrap(),
            _ => roundtrip(&mut s, b"PING\r\n", b"+PONG\r\n"),
        }
    }
    assert_fds_settle(&server, baseline);
    assert!(eventually(SETTLE_TIMEOUT, || info_u64(&mut admin, "clients", "connected_clients") == 1));
    assert_eq!(server.open_fds(), baseline);
}

/// Checks that clients vanishing while large replies are being sent (EPIPE/ECONNRESET on the
/// send, cancels racing completions) leak nothing and disturb no one else.
fn clients_closing_with_replies_in_flight(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut admin = server.unix();
    roundtrip(&mut admin, &resp(&[b"SET", b"v", &pattern(512 * 1024, 0)]), b"+OK\r\n");
    let baseline = settled_fd_baseline(&server, &mut admin);
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let sock = server.sock.clone();
            std::thread::spawn(move || {
                for i in 0..20 {
                    let mut s = UnixStream::connect(&sock).unwrap();
                    let mut req = Vec::new();
                    for _ in 0..8 {
                        req.extend_from_slice(&resp(&[b"GET", b"v"]));
                    }
                    let _ = s.write_all(&req);
                    if (t + i) % 2 == 0 {
                        let mut some = [0u8; 1000];
                        let _ = s.read(&mut some);
                    }
                    drop(s);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_fds_settle(&server, baseline);
    assert!(eventually(SETTLE_TIMEOUT, || info_u64(&mut admin, "clients", "connected_clients") == 1));
    roundtrip(&mut admin, b"PING\r\n", b"+PONG\r\n");
}

/// Checks batching end to end: one write of 10,000 pipelined commands gets 10,000 replies,
/// in order.
fn ten_thousand_pipelined_commands_in_one_write(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut s = server.unix();
    let mut req = Vec::new();
    let mut expect = Vec::new();
    for i in 0..5_000 {
        let (k, v) = (format!("key:{i}"), format!("value:{i}"));
        req.extend_from_slice(&resp(&[b"SET", k.as_bytes(), v.as_bytes()]));
        expect.extend_from_slice(b"+OK\r\n");
        req.extend_from_slice(&resp(&[b"GET", k.as_bytes()]));
        expect.extend_from_slice(format!("${}\r\n{v}\r\n", v.len()).as_bytes());
    }
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || w.write_all(&req).unwrap());
    let got = read_n(&mut s, expect.len());
    writer.join().unwrap();
    assert!(got == expect, "pipelined replies differ");
}

/// Checks backpressure: a client that pipelines GETs of a 1 MiB value and never reads makes
/// the server stop reading from it; the server's memory stays bounded and it keeps serving
/// others.
fn client_that_never_reads_stays_bounded(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut admin = server.unix();
    roundtrip(&mut admin, &resp(&[b"SET", b"m", &pattern(1 << 20, 0)]), b"+OK\r\n");
    let rss_before = server.rss_bytes();
    let hog = server.unix();
    hog.set_nonblocking(true).unwrap();
    let get = resp(&[b"GET", b"m"]);
    let mut sent = 0usize;
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut hog_w = &hog;
    while Instant::now() < deadline {
        match hog_w.write(&get) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("writing: {e}"),
        }
    }
    let requested_mib = sent / get.len();
    assert!(requested_mib > 100, "client could only queue {requested_mib} requests");
    let growth = server.rss_bytes().saturating_sub(rss_before);
    assert!(
        growth < 64 << 20,
        "server grew {growth} bytes for a client that asked for {requested_mib} MiB and read none"
    );
    roundtrip(&mut admin, b"PING\r\n", b"+PONG\r\n");
    drop(hog);
    assert!(eventually(SETTLE_TIMEOUT, || info_u64(&mut admin, "clients", "connected_clients") == 1));
}

/// Checks `--timeout`: an idle client is closed by the ring's timer, a busy one is not.
/// (2 s rather than 1 s so a starved test machine does not make the busy client look idle.)
fn idle_clients_time_out(engine: Engine) {
    let server = Server::start(engine, &["--timeout", "2"]);
    let mut idle = server.unix();
    let mut busy = server.unix();
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(4500) {
        roundtrip(&mut busy, b"PING\r\n", b"+PONG\r\n");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(read_to_eof(&mut idle), b"");
    roundtrip(&mut busy, b"PING\r\n", b"+PONG\r\n");
    assert!(info_u64(&mut busy, "stats", "timedout_clients") >= 1);
}

/// Checks shutdown: SIGTERM with clients connected (one with replies still queued) flushes,
/// closes every client, exits 0 and removes the socket file.
fn sigterm_flushes_closes_and_exits_zero(engine: Engine) {
    let server = Server::start(engine, &[]);
    let sock = server.sock.clone();
    let mut idle: Vec<UnixStream> = (0..10).map(|_| server.unix()).collect();
    let mut busy = server.unix();
    let mut req = Vec::new();
    for _ in 0..1000 {
        req.extend_from_slice(b"PING\r\n");
    }
    busy.write_all(&req).unwrap();
    let status = server.stop();
    assert!(status.success(), "exit status {status}");
    assert!(!sock.exists(), "socket file left behind");
    let got = read_until_closed(&mut busy);
    assert!(
        got.len().is_multiple_of(7) && got.chunks(7).all(|c| c == b"+PONG\r\n"),
        "partial or corrupt replies at shutdown"
    );
    for s in &mut idle {
        assert_eq!(read_until_closed(s), b"");
    }
}

/// Checks that `INFO io` shows the batching: 50 clients pipelining 50 requests at a time
/// cost far fewer io_uring_enter calls than commands.
fn info_io_shows_batched_syscalls(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut admin = server.unix();
    let text = info(&mut admin, "io");
    let expected_engine = if engine.name == "uring" { "uring" } else { "uring-basic" };
    assert_eq!(info_field(&text, "io_engine").as_deref(), Some(expected_engine), "{text}");
    assert_eq!(info_field(&text, "io_threads").as_deref(), Some("2"));
    let sys0 = info_u64(&mut admin, "io", "io_syscalls");
    let cmd0 = info_u64(&mut admin, "stats", "total_commands_processed");
    let threads: Vec<_> = (0..50)
        .map(|_| {
            let mut s = server.unix();
            std::thread::spawn(move || {
                let batch: Vec<u8> = (0..50).flat_map(|_| resp(&[b"GET", b"nokey"])).collect();
                let expect: Vec<u8> = (0..50).flat_map(|_| b"$-1\r\n".to_vec()).collect();
                for _ in 0..40 {
                    roundtrip(&mut s, &batch, &expect);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let sys = info_u64(&mut admin, "io", "io_syscalls") - sys0;
    let cmds = info_u64(&mut admin, "stats", "total_commands_processed") - cmd0;
    assert!(cmds >= 100_000, "commands counted: {cmds}");
    assert!(sys * 10 < cmds, "{sys} io_uring_enter calls for {cmds} commands");
    let text = info(&mut admin, "io");
    for w in ["io_worker0", "io_worker1"] {
        let line = info_field(&text, w).unwrap_or_else(|| panic!("no {w} in {text}"));
        let accepted: u64 = line.split(',').find_map(|kv| kv.strip_prefix("accepted=")).unwrap().parse().unwrap();
        assert!(accepted >= 20, "connections not spread over workers: {text}");
    }
}

/// Checks the fallback: with io_uring setup forced to fail, the server logs one line naming
/// the reason and serves everything on the next engine.
#[test]
fn forced_setup_failure_falls_back_and_serves() {
    let server = Launch::new(URING).args(&["--uring-force-setup-failure"]).expect_io_engine("epoll").start();
    let mut c = server.unix();
    roundtrip(&mut c, &resp(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    roundtrip(&mut c, &resp(&[b"GET", b"k"]), b"$1\r\nv\r\n");
    let text = info(&mut c, "io");
    assert_eq!(info_field(&text, "io_engine").as_deref(), Some("epoll"), "{text}");
    let log = server.stderr();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("io_uring unusable")).collect();
    assert_eq!(lines.len(), 1, "expected one fallback line:\n{log}");
    assert!(lines[0].contains("--uring-force-setup-failure") && lines[0].contains("hint"), "{}", lines[0]);
    assert!(server.stop().success());
}

/// Checks the fallback when io_uring_enter is blocked (a seccomp profile that allows
/// io_uring_setup): the NOP probe during ring setup fails, the server logs one line with the
/// reason and a hint, then `ready` naming epoll, and serves. It used to exit 1 after `ready`.
#[test]
fn blocked_io_uring_enter_falls_back_to_epoll() {
    let server = Launch::new(URING).args(&["--uring-force-enter-failure"]).expect_io_engine("epoll").start();
    let mut c = server.unix();
    roundtrip(&mut c, &resp(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    roundtrip(&mut c, &resp(&[b"GET", b"k"]), b"$1\r\nv\r\n");
    let log = server.stderr();
    let lines: Vec<&str> = log.lines().collect();
    let at = |needle: &str| -> Vec<usize> { (0..lines.len()).filter(|&i| lines[i].contains(needle)).collect() };
    let (unusable, ready) = (at("io_uring unusable"), at(" ready"));
    assert_eq!((unusable.len(), ready.len()), (1, 1), "{log}");
    assert!(unusable[0] < ready[0], "ready logged before the fallback:\n{log}");
    let line = lines[unusable[0]];
    assert!(line.contains("io_uring_enter") && line.contains("hint"), "{line}");
    assert!(lines[ready[0]].contains("engine=\"epoll\""), "{log}");
    assert!(server.stop().success());
}

/// Rounds of kill -9 and immediate restart.
const KILL_RESTART_ROUNDS: usize = 10;

/// Checks that a supervisor restarting the server right after `kill -9` succeeds: the dead
/// process's rings are torn down asynchronously, so its Unix socket still answers and its
/// TCP port is still in use for a moment (this failed about 4 times in 10). A server on both
/// listeners, then a TCP-only one (so the TCP bind meets the old listener first), every round.
fn restart_right_after_kill_9(engine: Engine) {
    for launch in [Launch::new(engine).tcp(), Launch::new(engine).tcp_only()] {
        let mut server = launch.start();
        for round in 0..KILL_RESTART_ROUNDS {
            server.kill_and_restart();
            if server.has_unix() {
                roundtrip(&mut server.unix(), b"PING\r\n", b"+PONG\r\n");
            }
            roundtrip(&mut server.tcp(), b"PING\r\n", b"+PONG\r\n");
            assert!(!server.stderr().contains("ERROR"), "round {round}: {}", server.stderr());
        }
        assert!(server.stop().success());
    }
}

/// The buffer ring starts with a few buffers in circulation (ring::bufring) and grows when
/// a burst empties it, never past `--uring-buffers`; INFO io shows both.
#[test]
fn buffer_ring_grows_under_load_up_to_its_size() {
    let server = Server::start(URING, &["--uring-buffers", "128", "--uring-buffer-size", "4kb"]);
    let mut admin = server.unix();
    let workers = info_u64(&mut admin, "io", "io_threads");
    let initial = info_u64(&mut admin, "io", "io_recv_buffers");
    assert_eq!(initial, workers * 32, "BUF_RING_INITIAL per worker");
    assert_eq!(info_u64(&mut admin, "io", "io_recv_nobufs"), 0);
    many_clients_at_once(&server);
    let grown = info_u64(&mut admin, "io", "io_recv_buffers");
    assert!(info_u64(&mut admin, "io", "io_recv_nobufs") > 0, "the burst never emptied the ring");
    assert!(grown > initial && grown <= workers * 128, "{initial} -> {grown}");
}

/// Checks the startup warning for a buffer ring too small for one request batch (1 x 512
/// bytes cut throughput 14x without a word): one line naming the flag to raise, and no such
/// line with the defaults.
#[test]
fn tiny_buffer_ring_warns_once_at_startup() {
    let tiny = Server::start(URING, &["--uring-buffers", "1", "--uring-buffer-size", "512"]);
    let log = tiny.stderr();
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains("receive buffer ring too small")).collect();
    assert_eq!(warnings.len(), 1, "one line for the server, not one per worker:\n{log}");
    assert!(warnings[0].contains("raise --uring-buffers"), "{}", warnings[0]);
    let roomy = Server::start(URING, &["--uring-buffers", "8", "--uring-buffer-size", "8kb"]);
    assert!(!roomy.stderr().contains("buffer ring too small"), "{}", roomy.stderr());
    let small = Server::start(URING, &["--uring-buffers", "16", "--uring-buffer-size", "1kb"]);
    assert!(small.stderr().contains("raise --uring-buffer-size"), "{}", small.stderr());
}
