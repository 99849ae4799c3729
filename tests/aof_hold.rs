//! `appendfsync always` with two workers and many concurrent writers, on every engine (on
//! io_uring with the flush hold shared by the worker rings turned on, `RINGKV_AOF_HOLD=all`,
//! see `persist::aof::hold`): every writer gets every reply, none waits much longer than a
//! flush and its hold (a stranded held flush would leave a reply waiting for the next write,
//! or forever), and every acknowledged write survives `kill -9` + restart, also when the
//! kill comes mid-stream.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Engine, Launch, Server, IO_TIMEOUT};

/// Writer connections (half one request at a time, half pipelined).
const WRITERS: usize = 40;
/// Keys each writer sets in the full run.
const WRITES_PER_WRITER: usize = 160;
/// Depth of the pipelined writers' batches.
const PIPELINE: usize = 8;
/// The longest one reply (or one pipelined batch) may take. The hold adds at most 1 ms to a
/// flush; this is generous for a loaded 2-core machine, and far below a stranded flush
/// (which only moves when another write comes, or never: the IO timeout).
const REPLY_BOUND: Duration = Duration::from_secs(3);
/// Rounds of the lone-writer test, and the connections that go quiet after each round's
/// first write.
const LONE_ROUNDS: usize = 30;
const LONE_GROUP: usize = 9;

fn aof_server(engine: Engine, dir: &Path) -> Server {
    // Every server this file starts shares the hold over its two workers (not the default).
    std::env::set_var("RINGKV_AOF_HOLD", "all");
    let dir = dir.to_str().unwrap();
    Launch::new(engine).args(&["--appendonly", "yes", "--appendfsync", "always", "--dir", dir]).start()
}

fn connect(sock: &Path) -> Option<UnixStream> {
    let s = UnixStream::connect(sock).ok()?;
    s.set_read_timeout(Some(IO_TIMEOUT)).ok()?;
    s.set_write_timeout(Some(IO_TIMEOUT)).ok()?;
    Some(s)
}

fn set_cmd(key: &str, value: &str) -> Vec<u8> {
    format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n", key.len(), value.len()).into_bytes()
}

fn key(writer: usize, n: usize) -> (String, String) {
    (format!("hold:{writer}:{n}"), format!("v{n}-{}", "x".repeat(writer % 7)))
}

/// Send `n` SETs of writer `w` from key `first` in one write, read the `n` `+OK`s. Returns
/// how long that took, or why the connection failed (the server was killed).
fn batch(s: &mut UnixStream, w: usize, first: usize, n: usize) -> Result<Duration, String> {
    let req: Vec<u8> = (first..first + n).flat_map(|i| set_cmd(&key(w, i).0, &key(w, i).1)).collect();
    let started = Instant::now();
    s.write_all(&req).map_err(|e| format!("writer {w}: write: {e}"))?;
    let mut got = vec![0u8; 5 * n];
    s.read_exact(&mut got).map_err(|e| format!("writer {w}: read after {:?}: {e}", started.elapsed()))?;
    assert!(got.chunks(5).all(|r| r == b"+OK\r\n"), "writer {w}: {:?}", String::from_utf8_lossy(&got));
    Ok(started.elapsed())
}

/// Writer `w`, keys `from..` until `limit` keys or `stop` (or the connection fails: the
/// error is returned). Counts its acknowledged keys in `acked` as they come; returns its
/// slowest reply.
fn writer(
    sock: PathBuf,
    w: usize,
    from: usize,
    limit: usize,
    acked: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> Outcome {
    let depth = if w.is_multiple_of(2) { 1 } else { PIPELINE };
    let mut slowest = Duration::ZERO;
    let Some(mut s) = connect(&sock) else { return (slowest, Some(format!("writer {w}: connect"))) };
    let mut done = 0;
    while done < limit && !stop.load(Ordering::Relaxed) {
        match batch(&mut s, w, from + done, depth.min(limit - done)) {
            Ok(took) => slowest = slowest.max(took),
            Err(e) => return (slowest, Some(e)),
        }
        done += depth.min(limit - done);
        acked.store(done, Ordering::Release);
    }
    (slowest, None)
}

/// A writer's slowest reply, and the error that ended it early.
type Outcome = (Duration, Option<String>);

/// Every key writer `w` had acknowledged (`acked` from key `from`) is there with its value.
fn check_acked(c: &mut redis::Connection, w: usize, from: usize, acked: usize) {
    for chunk in (from..from + acked).collect::<Vec<_>>().chunks(64) {
        let keys: Vec<String> = chunk.iter().map(|&n| key(w, n).0).collect();
        let values: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query(c).unwrap();
        for (&n, v) in chunk.iter().zip(values) {
            assert_eq!(v, Some(key(w, n).1), "writer {w}: key {n} acknowledged, lost after kill -9");
        }
    }
}

/// Every writer's thread, keys `from..from + limit`.
fn spawn_writers(server: &Server, from: usize, limit: usize, stop: &Arc<AtomicBool>) -> Writers {
    let acked: Vec<Arc<AtomicUsize>> = (0..WRITERS).map(|_| Arc::new(AtomicUsize::new(0))).collect();
    let handles = (0..WRITERS)
        .map(|w| {
            let (sock, acked, stop) = (server.sock.clone(), acked[w].clone(), stop.clone());
            std::thread::spawn(move || writer(sock, w, from, limit, acked, stop))
        })
        .collect();
    (acked, handles)
}

/// Per writer: keys acknowledged so far, and its thread (returning its slowest reply).
type Writers = (Vec<Arc<AtomicUsize>>, Vec<std::thread::JoinHandle<Outcome>>);

fn many_writers_on_both_workers_get_every_reply_and_survive_kill_9(engine: Engine) {
    // WRITERS connections (one request at a time and pipelined) write at once: each gets
    // every reply within REPLY_BOUND; on io_uring both workers serve some of them. kill -9,
    // restart: every key is there. Then again, killed mid-stream: every acknowledged key is.
    let data = tempfile::tempdir().unwrap();
    let mut server = aof_server(engine, data.path());
    let stop = Arc::new(AtomicBool::new(false));
    let (acked, handles) = spawn_writers(&server, 0, WRITES_PER_WRITER, &stop);
    for (w, h) in handles.into_iter().enumerate() {
        let (slowest, error) = h.join().expect("writer");
        assert_eq!(error, None, "writer {w}");
        assert!(slowest < REPLY_BOUND, "writer {w}: a reply took {slowest:?}");
        assert_eq!(acked[w].load(Ordering::Acquire), WRITES_PER_WRITER, "writer {w}: every reply");
    }
    if engine.name.starts_with("uring") {
        // Each worker served some of the writers (accepted counts every connection so far).
        let io = server.info("io");
        for worker in ["io_worker0:", "io_worker1:"] {
            let line = io.lines().find(|l| l.starts_with(worker)).unwrap_or_else(|| panic!("{worker} in {io}"));
            assert!(!line.contains("accepted=0,"), "{line}: the writers must be spread over both workers");
        }
    }
    assert!(server.info_u64("persistence", "aof_fsyncs") > 0);
    if engine.name.starts_with("uring") {
        // The shared hold was on: flushes completed with writers waiting on both workers.
        assert!(server.info_u64("persistence", "aof_flush_holds") > 0);
    }
    server.kill_and_restart();
    let mut c = server.redis();
    for (w, a) in acked.iter().enumerate() {
        check_acked(&mut c, w, 0, a.load(Ordering::Acquire));
    }
    // Mid-stream, on keys of their own: the writers run until the kill; what they had
    // acknowledged survives.
    let (acked, handles) = spawn_writers(&server, WRITES_PER_WRITER, usize::MAX, &stop);
    let started = Instant::now();
    while acked.iter().map(|a| a.load(Ordering::Acquire)).sum::<usize>() < WRITERS && started.elapsed() < REPLY_BOUND {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    server.kill_and_restart();
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().expect("writer");
    }
    let mut c = server.redis();
    let mut total = 0;
    for (w, a) in acked.iter().enumerate() {
        total += a.load(Ordering::Acquire);
        check_acked(&mut c, w, WRITES_PER_WRITER, a.load(Ordering::Acquire));
    }
    assert!(total >= WRITERS, "only {total} writes acknowledged before the kill");
}

fn a_lone_writer_is_not_held_for_clients_that_do_not_come_back(engine: Engine) {
    // Each round, a group of connections and one more send a SET at once (so one flush can
    // release them all); then the group goes quiet while the lone one writes again at once:
    // the hold waits for clients that do not come back, so only its deadline (a timer,
    // whichever worker armed it) can start the flush. Every reply comes within REPLY_BOUND.
    let data = tempfile::tempdir().unwrap();
    let server = aof_server(engine, data.path());
    let mut conns: Vec<UnixStream> = (0..=LONE_GROUP).map(|_| connect(&server.sock).expect("connect")).collect();
    let lone = LONE_GROUP;
    for round in 0..LONE_ROUNDS {
        let started = Instant::now();
        for (w, s) in conns.iter_mut().enumerate() {
            let (key, value) = key(w, 2 * round);
            s.write_all(&set_cmd(&key, &value)).unwrap();
        }
        for (w, s) in conns.iter_mut().enumerate() {
            let mut got = [0u8; 5];
            s.read_exact(&mut got).unwrap_or_else(|e| panic!("writer {w}, round {round}: {e}"));
            assert_eq!(&got, b"+OK\r\n");
        }
        let took = batch(&mut conns[lone], lone, 2 * round + 1, 1).unwrap();
        assert!(started.elapsed() < 2 * REPLY_BOUND, "round {round}: {:?}", started.elapsed());
        assert!(took < REPLY_BOUND, "round {round}: the lone write took {took:?}");
    }
    let mut c = server.redis();
    check_acked(&mut c, lone, 0, 2 * LONE_ROUNDS);
}

engine_tests!(
    many_writers_on_both_workers_get_every_reply_and_survive_kill_9,
    a_lone_writer_is_not_held_for_clients_that_do_not_come_back,
);
