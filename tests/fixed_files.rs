//! The io_uring engine's fixed-file table (`--uring-fixed-files`, `engine/uring/fixed.rs`),
//! against the real `ringkv-server` binary in full and basic mode with one and two workers:
//! every connection gets a slot, and every way a connection ends releases it (QUIT, the
//! peer closing, CLIENT KILL from a connection on another worker, the idle timeout,
//! shutdown); refused connections (maxclients, protected mode) never take one; connections
//! past the table fall back to plain descriptors and are served all the same.
//!
//! What the kernel holds is read from `/proc/PID/fdinfo/<ring fd>` (`UserFiles:` lists every
//! occupied slot), not only from the server's own `INFO io` counters: a slot that was never
//! closed keeps its socket open and shows up there.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use common::{
    eventually, info_u64, read_line, read_to_eof, resp, roundtrip, Engine, Launch, Server, URING, URING_BASIC,
};

/// How long slots may take to be released after the connections went.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);

const FULL_T1: Engine =
    Engine { name: "uring", args: &["--engine", "uring", "--uring-mode", "full", "--threads", "1"] };
const BASIC_T1: Engine =
    Engine { name: "uring-basic", args: &["--engine", "uring", "--uring-mode", "basic", "--threads", "1"] };

// One test per mode and worker count (`URING`/`URING_BASIC` run two workers).
config_tests!(
    [full_t1 => FULL_T1, full_t2 => URING, basic_t1 => BASIC_T1, basic_t2 => URING_BASIC],
    [
    quit_and_peer_close_release_their_slots,
    client_kill_from_another_worker_releases_the_slot,
    idle_timeout_releases_the_slot,
    maxclients_rejection_takes_no_slot,
    protected_mode_rejection_takes_no_slot,
    shutdown_with_connections_open_closes_every_slot,
    connections_past_the_table_fall_back_to_plain_descriptors,
    fixed_files_off_uses_plain_descriptors,
    ]
);

/// Occupied fixed-file slots over all of the process's io_uring instances, as the kernel
/// reports them (`None` while a ring's lock was busy and its list could not be read).
fn kernel_slots(pid: u32) -> Option<usize> {
    let mut total = 0;
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.flatten() {
        let is_ring = std::fs::read_link(entry.path()).is_ok_and(|l| l.to_string_lossy() == "anon_inode:[io_uring]");
        if !is_ring {
            continue;
        }
        let info =
            std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", entry.file_name().to_string_lossy())).ok()?;
        let mut lines = info.lines().skip_while(|l| !l.starts_with("UserFiles:"));
        let registered: usize = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
        if registered == 0 {
            continue;
        }
        // "%5u: socket:[inode]" per occupied slot, up to the next section.
        total += lines.take_while(|l| !l.starts_with("UserBufs:")).filter(|l| l.contains(": ")).count();
    }
    Some(total)
}

/// Wait until both the kernel and INFO io (asked through `via`, one of the connections)
/// say `n` connections hold a slot; panics with both numbers otherwise.
fn assert_slots(server: &Server, via: &mut UnixStream, n: usize) {
    let ok = eventually(SETTLE_TIMEOUT, || {
        kernel_slots(server.pid()) == Some(n) && info_u64(via, "io", "io_fixed_files") as usize == n
    });
    let kernel = kernel_slots(server.pid());
    assert!(ok, "expected {n} slots: kernel says {kernel:?}, INFO io {}", server.info("io"));
}

fn ping(s: &mut UnixStream) {
    roundtrip(s, b"PING\r\n", b"+PONG\r\n");
}

/// QUIT (+OK, then closed) and a client that just goes both give their slot back.
fn quit_and_peer_close_release_their_slots(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut admin = server.unix();
    let mut clients: Vec<UnixStream> = (0..6).map(|_| server.unix()).collect();
    for c in &mut clients {
        ping(c);
    }
    assert_slots(&server, &mut admin, 7);
    for c in &mut clients[..3] {
        c.write_all(b"QUIT\r\n").unwrap();
        assert_eq!(read_to_eof(c), b"+OK\r\n");
    }
    assert_slots(&server, &mut admin, 4);
    clients.clear();
    assert_slots(&server, &mut admin, 1);
    ping(&mut admin);
    assert_eq!(info_u64(&mut admin, "io", "io_fixed_file_fallbacks"), 0);
}

/// CLIENT KILL ID of connections owned by either worker closes them: they see EOF and their
/// slots are released.
fn client_kill_from_another_worker_releases_the_slot(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut admin = server.unix();
    let mut victims: Vec<UnixStream> = (0..4).map(|_| server.unix()).collect();
    let mut ids = Vec::new();
    for v in &mut victims {
        v.write_all(&resp(&[b"CLIENT", b"ID"])).unwrap();
        ids.push(read_line(v)[1..].to_vec());
    }
    assert_slots(&server, &mut admin, 5);
    for (v, id) in victims.iter_mut().zip(&ids) {
        roundtrip(&mut admin, &resp(&[b"CLIENT", b"KILL", b"ID", id.as_slice()]), b":1\r\n");
        assert_eq!(read_to_eof(v), b"", "killed connection is closed");
    }
    assert_slots(&server, &mut admin, 1);
}

/// A client idle past `--timeout` is closed (no reply) and its slot released.
fn idle_timeout_releases_the_slot(engine: Engine) {
    let server = Server::start(engine, &["--timeout", "1"]);
    let mut idle = server.unix();
    ping(&mut idle);
    let mut busy = server.unix();
    let start = Instant::now();
    let mut closed = false;
    while !closed && start.elapsed() < SETTLE_TIMEOUT {
        ping(&mut busy);
        idle.set_nonblocking(true).unwrap();
        closed = matches!(idle.read(&mut [0u8; 8]), Ok(0));
        idle.set_nonblocking(false).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(closed, "the idle client was not closed");
    ping(&mut busy);
    // `busy` alone is left (and stays active while it asks).
    assert_slots(&server, &mut busy, 1);
}

/// A first client, once the harness's startup probes have left (they may still count
/// against a small maxclients for a moment).
fn admitted_alone(server: &Server) -> UnixStream {
    let mut a = server.unix();
    let alone = eventually(SETTLE_TIMEOUT, || {
        if a.write_all(b"INFO clients\r\n").is_err() {
            a = server.unix();
            return false;
        }
        let head = String::from_utf8_lossy(&read_line(&mut a)).into_owned();
        let Some(len) = head.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) else {
            a = server.unix(); // refused: try again
            return false;
        };
        let body = String::from_utf8_lossy(&common::read_n(&mut a, len + 2)).into_owned();
        common::info_field(&body, "connected_clients").as_deref() == Some("1")
    });
    assert!(alone, "the startup probes did not leave");
    a
}

/// A client over `maxclients` gets Redis's error and is closed without ever taking a slot;
/// once a client leaves, a new one is served through a slot again.
fn maxclients_rejection_takes_no_slot(engine: Engine) {
    let server = Server::start(engine, &["--maxclients", "3"]);
    let mut a = admitted_alone(&server);
    let mut b = server.unix();
    let mut c = server.unix();
    ping(&mut b);
    ping(&mut c);
    let mut d = server.unix();
    assert_eq!(read_to_eof(&mut d), b"-ERR max number of clients reached\r\n");
    let slots = eventually(SETTLE_TIMEOUT, || kernel_slots(server.pid()) == Some(3));
    assert!(slots, "kernel slots {:?} with 3 clients admitted", kernel_slots(server.pid()));
    drop(c);
    assert_slots(&server, &mut a, 2);
    ping(&mut b);
    assert!(info_u64(&mut a, "stats", "rejected_connections") >= 1);
    assert_eq!(info_u64(&mut a, "io", "io_fixed_file_fallbacks"), 0);
}

/// A local non-loopback IPv4 address of this host, if it has one (the source address the
/// kernel would pick to reach a documentation address; nothing is sent).
fn non_loopback_ipv4() -> Option<std::net::Ipv4Addr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("198.51.100.1:9").ok()?;
    match s.local_addr().ok()?.ip() {
        std::net::IpAddr::V4(ip) if !ip.is_loopback() && !ip.is_unspecified() => Some(ip),
        _ => None,
    }
}

/// Protected mode refuses a TCP client from a non-loopback address (DENIED, closed) without
/// it taking a slot. Skipped on a host with no non-loopback address.
fn protected_mode_rejection_takes_no_slot(engine: Engine) {
    let Some(ip) = non_loopback_ipv4() else {
        eprintln!("skipped: this host has no non-loopback IPv4 address");
        return;
    };
    let server = Launch::new(engine).args(&["--bind", "0.0.0.0"]).tcp().start();
    let mut admin = server.unix();
    let mut remote = std::net::TcpStream::connect((ip, server.port)).unwrap();
    remote.set_read_timeout(Some(SETTLE_TIMEOUT)).unwrap();
    let got = read_to_eof(&mut remote);
    assert!(got.starts_with(b"-DENIED Redis is running in protected mode"), "{}", String::from_utf8_lossy(&got));
    assert_slots(&server, &mut admin, 1);
    ping(&mut admin);
    assert_eq!(info_u64(&mut admin, "io", "io_fixed_file_fallbacks"), 0);
}

/// SIGTERM with connections open (one mid-reply): every client sees its replies and EOF,
/// and the server exits 0 (a worker ends only once every close, the slots' included, has
/// completed).
fn shutdown_with_connections_open_closes_every_slot(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut idle: Vec<UnixStream> = (0..5).map(|_| server.unix()).collect();
    for c in &mut idle {
        ping(c);
    }
    let mut busy = server.unix();
    busy.write_all(&b"PING\r\n".repeat(500)).unwrap();
    assert!(eventually(SETTLE_TIMEOUT, || kernel_slots(server.pid()).is_some_and(|n| n >= 6)));
    let status = server.stop();
    assert!(status.success(), "exit status {status}");
    for c in &mut idle {
        assert_eq!(read_to_eof(c), b"");
    }
    let got = common::read_until_closed(&mut busy);
    assert!(got.chunks(7).all(|c| c == b"+PONG\r\n"), "partial or corrupt replies at shutdown");
}

/// The table is sized by maxclients at startup; after CONFIG SET raises maxclients, the
/// connections past it are served through plain descriptors (counted, logged once), and
/// every slot is still released at the end.
fn connections_past_the_table_fall_back_to_plain_descriptors(engine: Engine) {
    let server = Server::start(engine, &["--maxclients", "3"]);
    let mut admin = admitted_alone(&server);
    roundtrip(&mut admin, &resp(&[b"CONFIG", b"SET", b"maxclients", b"100"]), b"+OK\r\n");
    let mut clients: Vec<UnixStream> = (0..10).map(|_| server.unix()).collect();
    for c in &mut clients {
        ping(c);
        c.write_all(b"SET k v\r\nGET k\r\n").unwrap();
        assert_eq!(read_line(c), b"+OK");
        assert_eq!(read_line(c), b"$1");
        assert_eq!(read_line(c), b"v");
    }
    let fallbacks = info_u64(&mut admin, "io", "io_fixed_file_fallbacks");
    assert!(fallbacks >= 1, "11 connections over tables of 3 slots per worker: {}", server.info("io"));
    let in_use = info_u64(&mut admin, "io", "io_fixed_files");
    assert!(in_use <= 6, "at most 3 slots per worker: {in_use}");
    assert!(eventually(SETTLE_TIMEOUT, || kernel_slots(server.pid()) == Some(in_use as usize)));
    assert!(server.stderr().contains("fixed-file slot unavailable"), "{}", server.stderr());
    clients.clear();
    // Only `admin` is left; whether it holds a slot depends on which worker took it.
    let settled = eventually(SETTLE_TIMEOUT, || {
        let n = info_u64(&mut admin, "io", "io_fixed_files");
        n <= 1 && kernel_slots(server.pid()) == Some(n as usize)
    });
    assert!(settled, "slots not released: kernel {:?}, {}", kernel_slots(server.pid()), server.info("io"));
}

/// `--uring-fixed-files no`: no table at all, connections served through plain descriptors.
fn fixed_files_off_uses_plain_descriptors(engine: Engine) {
    let server = Server::start(engine, &["--uring-fixed-files", "no"]);
    let mut clients: Vec<UnixStream> = (0..3).map(|_| server.unix()).collect();
    for c in &mut clients {
        ping(c);
    }
    assert_eq!(kernel_slots(server.pid()), Some(0));
    assert_eq!(info_u64(&mut clients[0], "io", "io_fixed_files"), 0);
    assert_eq!(info_u64(&mut clients[0], "io", "io_fixed_file_fallbacks"), 0);
    let mut admin = server.unix();
    roundtrip(
        &mut admin,
        &resp(&[b"CONFIG", b"GET", b"uring-fixed-files"]),
        b"*2\r\n$17\r\nuring-fixed-files\r\n$2\r\nno\r\n",
    );
}
