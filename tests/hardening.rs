//! Hostile and careless clients, run once per engine: chaos (garbage, cut frames, abrupt
//! closes mid-request and mid-reply, slow writers), a client that pipelines without reading,
//! SIGTERM under pipelined load, auth and its pre-auth limits, maxclients and the INFO
//! counters, idle timeouts, query-buffer limits, a low descriptor limit; plus the socket-file
//! cases (symlinks) that are the same for every engine.
//!
//! Everything runs on temporary Unix sockets; every test is bounded in requests and time.
//! Measured figures (peak RSS over baseline, descriptors, shutdown time) are printed to
//! stderr: `cargo test --test hardening -- --nocapture`.

mod common;
mod replies;

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    bulk, eventually, info_field, info_u64, pattern, read_n, read_until_closed, resp, roundtrip, rss_of, Engine,
    Launch, Rng, Server, IO_TIMEOUT, THREADS,
};
use replies::{reply_len, ReplyReader};

engine_tests!(
    chaos_clients_leave_no_trace,
    half_close_is_always_noticed,
    non_reading_pipeliner_stays_bounded,
    sigterm_under_pipelined_load_delivers_whole_replies,
    sigterm_with_a_client_that_never_reads_is_bounded,
    auth_gates_commands_and_limits_before_auth,
    maxclients_and_protocol_errors_are_counted,
    idle_timeout_closes_silent_and_non_reading_clients,
    query_buffer_and_bulk_limits_close_the_client,
    low_descriptor_limit_lowers_maxclients,
);

// ---- small helpers ----------------------------------------------------------------------

/// The seed of the chaos test: `RINGKV_CHAOS_SEED` or a fixed default.
fn chaos_seed() -> u64 {
    std::env::var("RINGKV_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_1234_abcd_0001)
}

/// Samples a process's RSS every few milliseconds on its own thread, keeping the peak.
struct RssSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Interval between RSS samples.
const RSS_SAMPLE_INTERVAL: Duration = Duration::from_millis(10);

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let peak = Arc::new(AtomicU64::new(rss_of(pid)));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Relaxed) {
                p.fetch_max(rss_of(pid), Relaxed);
                std::thread::sleep(RSS_SAMPLE_INTERVAL);
            }
        });
        RssSampler { peak, stop, thread: Some(thread) }
    }
    fn finish(mut self) -> u64 {
        self.stop.store(true, Relaxed);
        let _ = self.thread.take().unwrap().join();
        self.peak.load(Relaxed)
    }
}

// ---- chaos -------------------------------------------------------------------------------

/// Threads driving chaos clients.
const CHAOS_THREADS: usize = 8;
/// Connections each chaos thread opens over the run (320 in all).
const CHAOS_CONNS_PER_THREAD: usize = 40;
/// Connections one chaos thread keeps open at once (so at most 64 at once).
const CHAOS_OPEN_PER_THREAD_MAX: usize = 8;
/// The value chaos clients GET and then hang up on mid-reply.
const CHAOS_BIG_VALUE_BYTES: usize = 1024 * 1024;
/// Bound on the server's peak RSS over its baseline during chaos. At most 64 connections
/// are open at once; the worst a chaos connection can pin is about 2.5 MiB (a 1 MiB reply
/// plus the paused output limit, or a 1 MiB partial request), so 64 x 4 MiB.
const CHAOS_RSS_OVER_BASELINE_MAX: u64 = 256 * 1024 * 1024;

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Pipelined SETs of binary keys and values, written in random pieces; replies checked;
    /// every key is read back at the end of the test.
    Good,
    /// A valid SET written one byte at a time with pauses; also read back at the end.
    Slow,
    /// Valid commands on chaos keys (replies only checked for framing).
    Mixed,
    /// Random bytes, then either an abrupt close or a half-close and read to EOF.
    Garbage,
    /// A valid request cut at a random byte, then an abrupt close.
    Cut,
    /// GETs of the 1 MiB value, a random part of the reply read, then an abrupt close.
    AbortMidReply,
    /// A malformed frame: the server must reply with a protocol error and close.
    ProtocolError,
    /// A huge announced count or bulk, some of its body, then an abrupt close.
    Huge,
}

fn pick_kind(rng: &mut Rng) -> Kind {
    match rng.below(100) {
        0..=24 => Kind::Good,
        25..=29 => Kind::Slow,
        30..=44 => Kind::Mixed,
        45..=59 => Kind::Garbage,
        60..=74 => Kind::Cut,
        75..=84 => Kind::AbortMidReply,
        85..=92 => Kind::ProtocolError,
        _ => Kind::Huge,
    }
}

struct ChaosClient {
    s: UnixStream,
    kind: Kind,
    /// Unique id within the thread (keys are prefixed with thread and id).
    id: usize,
    thread: usize,
    steps_left: usize,
    /// Slow writer: its request and how much of it is written.
    slow: Option<SlowWrite>,
    /// Good client: keys it wrote (to read one back).
    mine: Vec<(Vec<u8>, Vec<u8>)>,
    written: usize,
}

/// A SET being written one byte at a time.
struct SlowWrite {
    req: Vec<u8>,
    written: usize,
    key: Vec<u8>,
    value: Vec<u8>,
}

/// What the well-behaved chaos clients wrote and must read back: key -> value.
type Written = BTreeMap<Vec<u8>, Vec<u8>>;

impl ChaosClient {
    fn new(server: &Server, rng: &mut Rng, thread: usize, id: usize) -> ChaosClient {
        let kind = pick_kind(rng);
        let steps_left = match kind {
            Kind::Good | Kind::Mixed => 1 + rng.below(4),
            _ => 1,
        };
        ChaosClient { s: server.unix(), kind, id, thread, steps_left, slow: None, mine: Vec::new(), written: 0 }
    }

    fn key(&self, prefix: &str, rng: &mut Rng, n: usize) -> Vec<u8> {
        let mut k = format!("{prefix}:{:02}:{:04}:{n:03}:", self.thread, self.id).into_bytes();
        let tail = rng.below(12);
        k.extend(rng.bytes(tail));
        k
    }

    fn value(rng: &mut Rng) -> Vec<u8> {
        let len = match rng.below(10) {
            0 => 0,
            1 => 16 * 1024 + rng.below(16 * 1024),
            2 => 1 + rng.below(8),
            _ => rng.below(2048),
        };
        let mut v = rng.bytes(len);
        if rng.one_in(4) && !v.is_empty() {
            // Make sure framing bytes show up inside values.
            let at = rng.below(v.len());
            v.splice(at..at, b"\r\n$3\r\n\0*1\r\n".iter().copied());
        }
        v
    }

    /// One step; true when this client is finished (it is then dropped, closing the socket).
    fn step(&mut self, rng: &mut Rng, written: &mut Written) -> bool {
        match self.kind {
            Kind::Good => self.step_good(rng, written),
            Kind::Slow => self.step_slow(rng, written),
            Kind::Mixed => self.step_mixed(rng),
            Kind::Garbage => self.step_garbage(rng),
            Kind::Cut => self.step_cut(rng),
            Kind::AbortMidReply => self.step_abort_mid_reply(rng),
            Kind::ProtocolError => self.step_protocol_error(rng),
            Kind::Huge => self.step_huge(rng),
        }
    }

    fn step_good(&mut self, rng: &mut Rng, written: &mut Written) -> bool {
        let n = 1 + rng.below(4);
        let mut req = Vec::new();
        for _ in 0..n {
            let key = if !self.mine.is_empty() && rng.one_in(4) {
                self.mine[rng.below(self.mine.len())].0.clone() // overwrite one of ours
            } else {
                self.written += 1;
                self.key("good", rng, self.written)
            };
            let value = Self::value(rng);
            req.extend(resp(&[b"SET", &key, &value]));
            self.mine.retain(|(k, _)| *k != key);
            self.mine.push((key.clone(), value.clone()));
            written.insert(key, value);
        }
        write_in_pieces(&mut self.s, &req, rng).expect("good client write");
        assert_eq!(read_n(&mut self.s, 5 * n), b"+OK\r\n".repeat(n), "good client SET replies");
        let (key, value) = self.mine[rng.below(self.mine.len())].clone();
        self.s.write_all(&resp(&[b"GET", &key])).unwrap();
        assert!(read_n(&mut self.s, bulk(&value).len()) == bulk(&value), "good client read-back");
        self.steps_left -= 1;
        if self.steps_left == 0 && rng.one_in(2) {
            self.s.write_all(b"QUIT\r\n").unwrap();
            assert_eq!(read_until_closed(&mut self.s), b"+OK\r\n");
        }
        self.steps_left == 0
    }

    fn step_slow(&mut self, rng: &mut Rng, written: &mut Written) -> bool {
        if self.slow.is_none() {
            let key = self.key("slow", rng, 0);
            let value = rng.bytes_below(40);
            let req = resp(&[b"SET", &key, &value]);
            self.slow = Some(SlowWrite { req, written: 0, key, value });
        }
        let slow = self.slow.as_mut().unwrap();
        self.s.write_all(&slow.req[slow.written..slow.written + 1]).expect("slow writer write");
        slow.written += 1;
        std::thread::sleep(Duration::from_millis(1));
        if slow.written < slow.req.len() {
            return false;
        }
        assert_eq!(read_n(&mut self.s, 5), b"+OK\r\n", "slow writer reply");
        written.insert(slow.key.clone(), slow.value.clone());
        true
    }

    fn step_mixed(&mut self, rng: &mut Rng) -> bool {
        let n = 1 + rng.below(8);
        let mut req = Vec::new();
        for _ in 0..n {
            let k = format!("chaos:{}", rng.below(8)).into_bytes();
            let v = rng.bytes_below(64);
            let cmd: Vec<&[u8]> = match rng.below(12) {
                0 => vec![b"INCR", b"chaos:counter"],
                1 => vec![b"APPEND", &k, &v],
                2 => vec![b"MGET", &k, b"chaos:1", b"chaos:2"],
                3 => vec![b"DEL", &k],
                4 => vec![b"EXISTS", &k, &k],
                5 => vec![b"STRLEN", &k],
                6 => vec![b"GETRANGE", &k, b"0", b"-1"],
                7 => vec![b"SET", &k, &v, b"PX", b"50"],
                8 => vec![b"PING"],
                9 => vec![b"NOSUCHCOMMAND", &v],
                10 => vec![b"GET"],
                _ => vec![b"INFO", b"clients"],
            };
            if rng.one_in(6) {
                req.extend_from_slice(b"PING\r\n"); // inline
            } else {
                req.extend(resp(&cmd));
            }
        }
        write_in_pieces(&mut self.s, &req, rng).expect("mixed client write");
        let mut r = ReplyReader::new(&mut self.s);
        for _ in 0..n {
            r.reply();
        }
        assert!(r.pending().is_empty());
        self.steps_left -= 1;
        self.steps_left == 0
    }

    fn step_garbage(&mut self, rng: &mut Rng) -> bool {
        let len = 1 + rng.below(4096);
        let alphabet = b"*$\r\n0123456789-\r\n\r\n";
        let junk: Vec<u8> = (0..len)
            .map(|_| if rng.one_in(2) { alphabet[rng.below(alphabet.len())] } else { rng.next() as u8 })
            .collect();
        let _ = write_in_pieces(&mut self.s, &junk, rng);
        if rng.one_in(2) {
            let _ = self.s.shutdown(Shutdown::Write);
            read_until_closed(&mut self.s);
        }
        true
    }

    fn step_cut(&mut self, rng: &mut Rng) -> bool {
        let k = self.key("chaos", rng, 0);
        let v = rng.bytes_below(200 * 1024);
        let req = match rng.below(4) {
            0 => resp(&[b"SET", &k, &v]),
            1 => resp(&[b"MSET", &k, &v, b"chaos:x", &v, b"chaos:y", b"1"]),
            2 => resp(&[b"GET", b"chaos:big"]),
            _ => format!("SET {} \"quoted value\"\r\n", String::from_utf8_lossy(&k[..8])).into_bytes(),
        };
        let cut = 1 + rng.below(req.len() - 1);
        let _ = write_in_pieces(&mut self.s, &req[..cut], rng);
        true
    }

    fn step_abort_mid_reply(&mut self, rng: &mut Rng) -> bool {
        let gets = 1 + rng.below(4);
        let _ = self.s.write_all(&resp(&[b"GET", b"chaos:big"]).repeat(gets));
        let want = rng.below(200 * 1024);
        let mut got = 0;
        let mut chunk = [0u8; 16 * 1024];
        while got < want {
            match self.s.read(&mut chunk[..(want - got).min(16 * 1024)]) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        true
    }

    fn step_protocol_error(&mut self, rng: &mut Rng) -> bool {
        let cases: [(&[u8], &str); 6] = [
            (b"*1\r\n$x\r\n", "invalid bulk length"),
            (b"*1\r\n+GET\r\n", "expected '$', got '+'"),
            (b"*abc\r\n", "invalid multibulk length"),
            (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$999999999999\r\n", "invalid bulk length"),
            (b"SET k \"unterminated\r\n", "unbalanced quotes in request"),
            (&[b'a'; 70 * 1024], "too big inline request"),
        ];
        let (req, text) = cases[rng.below(cases.len())];
        let mut all = Vec::new();
        if rng.one_in(2) {
            all.extend_from_slice(b"PING\r\n");
        }
        all.extend_from_slice(req);
        let _ = write_in_pieces(&mut self.s, &all, rng);
        let got = String::from_utf8_lossy(&read_until_closed(&mut self.s)).into_owned();
        assert!(got.ends_with(&format!("-ERR Protocol error: {text}\r\n")), "{got:?}");
        true
    }

    fn step_huge(&mut self, rng: &mut Rng) -> bool {
        let mut req = if rng.one_in(2) {
            b"*3\r\n$3\r\nSET\r\n$10\r\nchaos:huge\r\n$100000000\r\n".to_vec()
        } else {
            b"*2147483647\r\n$4\r\nMSET\r\n".to_vec()
        };
        req.extend(rng.bytes_below(1024 * 1024));
        let _ = write_in_pieces(&mut self.s, &req, rng);
        true
    }
}

/// Write `buf` in up to four pieces cut at random offsets.
fn write_in_pieces(s: &mut UnixStream, buf: &[u8], rng: &mut Rng) -> std::io::Result<()> {
    let mut cuts: Vec<usize> = (0..rng.below(4)).map(|_| rng.below(buf.len() + 1)).collect();
    cuts.sort_unstable();
    let mut at = 0;
    for cut in cuts.into_iter().chain([buf.len()]) {
        s.write_all(&buf[at..cut])?;
        at = cut;
    }
    Ok(())
}

fn chaos_thread(server: &Server, thread: usize, seed: u64) -> Written {
    let mut rng = Rng::new(seed ^ (thread as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut written = Written::new();
    let mut open: Vec<ChaosClient> = Vec::new();
    let mut opened = 0;
    while opened < CHAOS_CONNS_PER_THREAD || !open.is_empty() {
        let room = opened < CHAOS_CONNS_PER_THREAD && open.len() < CHAOS_OPEN_PER_THREAD_MAX;
        if room && (open.is_empty() || rng.one_in(3)) {
            open.push(ChaosClient::new(server, &mut rng, thread, opened));
            opened += 1;
            continue;
        }
        let i = rng.below(open.len());
        if open[i].step(&mut rng, &mut written) {
            open.swap_remove(i);
        }
    }
    written
}

/// Hundreds of connections mixing valid commands, garbage, cut frames, abrupt closes
/// mid-request and mid-reply and slow writers: afterwards the server answers, every key the
/// well-behaved clients wrote reads back byte for byte, its descriptors are back to the
/// starting count, and its peak RSS stayed under CHAOS_RSS_OVER_BASELINE_MAX over baseline.
fn chaos_clients_leave_no_trace(engine: Engine) {
    let server = Server::start(engine, &[]);
    let seed = chaos_seed();
    let mut probe = server.unix();
    roundtrip(&mut probe, &resp(&[b"SET", b"chaos:big", &pattern(CHAOS_BIG_VALUE_BYTES, 7)]), b"+OK\r\n");
    // Engines close a client's descriptors before they stop counting it, so once the probe is
    // alone the count is the probe's plus the server's own.
    let alone = eventually(Duration::from_secs(15), || info_u64(&mut probe, "everything", "connected_clients") == 1);
    assert!(alone, "the harness's readiness probe never went away");
    let fds_before = server.open_fds();
    let rss_before = server.rss_bytes();
    let sampler = RssSampler::start(server.pid());
    let started = Instant::now();

    let written: Vec<Written> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..CHAOS_THREADS)
            .map(|t| {
                scope.spawn({
                    let server = &server;
                    move || chaos_thread(server, t, seed)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| panic!("chaos thread failed (seed {seed})"))).collect()
    });
    let rss_peak = sampler.finish();
    let elapsed = started.elapsed();

    // The server answers, and what the good clients wrote is all there.
    roundtrip(&mut probe, b"PING\r\n", b"+PONG\r\n");
    let all: Written = written.into_iter().flatten().collect();
    assert!(all.len() > 100, "too few good keys ({}) to mean anything", all.len());
    let mut r = ReplyReader::new(probe.try_clone().unwrap());
    let pairs: Vec<_> = all.iter().collect();
    for batch in pairs.chunks(64) {
        let req: Vec<u8> = batch.iter().flat_map(|(k, _)| resp(&[b"GET", k])).collect();
        probe.write_all(&req).unwrap();
        for (k, v) in batch {
            assert!(r.reply() == bulk(v), "key {:?} lost or changed (seed {seed})", k.escape_ascii().to_string());
        }
    }

    // Descriptors come back to the count with only the probe connected.
    let mut fds_after = 0;
    let settled = eventually(Duration::from_secs(15), || {
        fds_after = server.open_fds();
        fds_after == fds_before && info_u64(&mut probe, "everything", "connected_clients") == 1
    });
    if !settled {
        let fds = std::fs::read_dir(format!("/proc/{}/fd", server.pid())).unwrap();
        let targets: Vec<String> =
            fds.flatten().filter_map(|e| std::fs::read_link(e.path()).ok()).map(|t| t.display().to_string()).collect();
        eprintln!(
            "server descriptors now: {targets:?}; clients {}",
            info_u64(&mut probe, "everything", "connected_clients")
        );
    }
    assert!(settled, "descriptors: {fds_before} before, {fds_after} after (seed {seed})");
    let protocol_errors = info_u64(&mut probe, "everything", "total_protocol_errors");
    assert!(protocol_errors > 0);
    let over = rss_peak.saturating_sub(rss_before);
    eprintln!(
        "chaos[{}]: seed {seed:#x}, {} connections in {elapsed:?}, {} good keys, {protocol_errors} protocol errors, \
         fds {fds_before}->{fds_after}, rss {} MiB baseline, peak +{} MiB",
        engine.name,
        CHAOS_THREADS * CHAOS_CONNS_PER_THREAD,
        all.len(),
        rss_before >> 20,
        over >> 20
    );
    assert!(over < CHAOS_RSS_OVER_BASELINE_MAX, "peak RSS {} MiB over baseline (seed {seed})", over >> 20);
    assert!(!server.stderr().contains("panicked"), "{}", server.stderr());
}

/// Connections in the half-close test.
const HALF_CLOSE_ROUNDS: usize = 300;

/// A client that sends a request (whole or cut short) and then shuts down its sending side
/// gets the replies to its whole requests and then EOF, every time. (The epoll engine once
/// lost the EOF when it arrived in the same readiness edge as the data, about once in 30.)
fn half_close_is_always_noticed(engine: Engine) {
    let server = Server::start(engine, &[]);
    for round in 0..HALF_CLOSE_ROUNDS {
        let (req, want): (&[u8], &[u8]) = match round % 3 {
            0 => (b"PING\r\n", b"+PONG\r\n"),
            1 => (b"PING\r\nGET k", b"+PONG\r\n"),
            _ => (b"*2\r\n$3\r\nGET\r\n$1\r\n", b""),
        };
        let mut s = server.unix();
        s.write_all(req).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_until_closed(&mut s), want, "round {round}");
    }
}

// ---- a client that does not read -------------------------------------------------------

/// Size of the value the non-reading client asks for.
const PIPELINER_VALUE_BYTES: usize = 1024 * 1024;
/// GETs of it the client pipelines without reading: 200 MiB of replies that a server without
/// output backpressure would buffer.
const PIPELINER_GETS: usize = 200;
/// Inline PINGs sent after them (2 MiB of requests: more than the socket buffers hold, so the
/// client's writes block once the server stops reading).
const PIPELINER_PINGS: usize = 2 * 1024 * 1024 / 6;
/// Bound on the server's RSS growth while the client does not read, and while it catches up.
const PIPELINER_RSS_OVER_BASELINE_MAX: u64 = 64 * 1024 * 1024;
/// How long the client keeps not reading.
const PIPELINER_STALL: Duration = Duration::from_millis(1500);

/// A client pipelines 200 GETs of a 1 MiB value (and 2 MiB of PINGs) without reading: the
/// server's RSS stays under PIPELINER_RSS_OVER_BASELINE_MAX over baseline, another client is
/// served meanwhile, and when the client reads it gets every reply, in order.
fn non_reading_pipeliner_stays_bounded(engine: Engine) {
    let server = Server::start(engine, &[]);
    let value = pattern(PIPELINER_VALUE_BYTES, 3);
    let mut other = server.unix();
    roundtrip(&mut other, &resp(&[b"SET", b"big", &value]), b"+OK\r\n");
    let rss_before = server.rss_bytes();
    let sampler = RssSampler::start(server.pid());

    let mut reader = server.unix();
    let mut writer = reader.try_clone().unwrap();
    let mut req = Vec::new();
    for _ in 0..PIPELINER_GETS {
        req.extend(resp(&[b"GET", b"big"]));
        req.extend(resp(&[b"INCR", b"seq"]));
    }
    req.extend(b"PING\r\n".repeat(PIPELINER_PINGS));
    let writing = std::thread::spawn(move || writer.write_all(&req));

    // Not reading. Meanwhile another client is served.
    let stall_end = Instant::now() + PIPELINER_STALL;
    let mut served = 0;
    while Instant::now() < stall_end {
        roundtrip(&mut other, &resp(&[b"SET", b"other", b"x"]), b"+OK\r\n");
        roundtrip(&mut other, &resp(&[b"GET", b"other"]), b"$1\r\nx\r\n");
        served += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    let rss_stalled = sampler.peak.load(Relaxed);

    // Now read everything, in order.
    let want_value = bulk(&value);
    for i in 0..PIPELINER_GETS {
        assert!(read_n(&mut reader, want_value.len()) == want_value, "GET reply {i}");
        let want = format!(":{}\r\n", i + 1);
        assert_eq!(read_n(&mut reader, want.len()), want.as_bytes(), "INCR reply {i}");
    }
    let pongs = read_n(&mut reader, 7 * PIPELINER_PINGS);
    assert!(pongs == b"+PONG\r\n".repeat(PIPELINER_PINGS), "PING replies");
    writing.join().unwrap().expect("pipeliner's writes");
    let rss_peak = sampler.finish();

    let max_out = server.info_u64("everything", "client_recent_max_output_buffer");
    let over = rss_peak.saturating_sub(rss_before);
    eprintln!(
        "pipeliner[{}]: rss {} MiB baseline, +{} MiB while stalled, peak +{} MiB; largest pending output {} KiB; \
         other client served {served} times meanwhile",
        engine.name,
        rss_before >> 20,
        rss_stalled.saturating_sub(rss_before) >> 20,
        over >> 20,
        max_out >> 10
    );
    assert!(served > 0);
    assert!(over < PIPELINER_RSS_OVER_BASELINE_MAX, "peak RSS {} MiB over baseline", over >> 20);
    assert!(max_out >= PIPELINER_VALUE_BYTES as u64, "INFO clients reports the largest pending output");
    assert!(max_out < PIPELINER_RSS_OVER_BASELINE_MAX, "pending output {max_out} is bounded");
}

// ---- shutdown under load ---------------------------------------------------------------

/// Clients pipelining when SIGTERM arrives.
const SHUTDOWN_CLIENTS: usize = 50;
/// Replies every client must have seen before the signal is sent.
const SHUTDOWN_REPLIES_BEFORE: usize = 200;
/// The process must exit this soon after SIGTERM. Every engine flushes pending replies for at
/// most 5 s (SHUTDOWN_FLUSH_TIMEOUT) and then closes; the rest is slack for a loaded machine.
const SHUTDOWN_BOUND: Duration = Duration::from_secs(10);
/// Every 8th request is a GET of a value this big, so replies span many writes.
const SHUTDOWN_VALUE_BYTES: usize = 64 * 1024;
/// Requests per write.
const SHUTDOWN_BATCH: usize = 64;

/// What client `c` sends as request `j`, and the reply it must get.
fn shutdown_request(c: usize, j: usize) -> Vec<u8> {
    if j % 8 == 7 {
        resp(&[b"GET", b"big"])
    } else {
        resp(&[b"INCR", format!("ctr:{c}").as_bytes()])
    }
}

/// Check the replies in `buf` against the expected sequence; returns the bytes consumed.
fn check_shutdown_replies(buf: &[u8], next: &mut usize, incrs: &mut u64, value: &[u8]) -> usize {
    let mut at = 0;
    while let Some(n) = reply_len(&buf[at..]).expect("well-formed replies") {
        let reply = &buf[at..at + n];
        if *next % 8 == 7 {
            assert!(reply == bulk(value), "reply {next} should be the big value");
        } else {
            *incrs += 1;
            assert_eq!(reply, format!(":{incrs}\r\n").as_bytes(), "reply {next}");
        }
        *next += 1;
        at += n;
    }
    at
}

/// SIGTERM while 50 clients pipeline INCRs and GETs of a 64 KiB value: every client's
/// received bytes are whole replies, in order, ending at a reply boundary; the process exits
/// 0 within SHUTDOWN_BOUND and removes its socket file.
fn sigterm_under_pipelined_load_delivers_whole_replies(engine: Engine) {
    let server = Server::start(engine, &[]);
    let value = pattern(SHUTDOWN_VALUE_BYTES, 9);
    roundtrip(&mut server.unix(), &resp(&[b"SET", b"big", &value]), b"+OK\r\n");
    let sock = server.sock.clone();
    let progress: Arc<Vec<AtomicUsize>> = Arc::new((0..SHUTDOWN_CLIENTS).map(|_| AtomicUsize::new(0)).collect());

    let mut readers = Vec::new();
    for c in 0..SHUTDOWN_CLIENTS {
        let mut rd = server.unix();
        let mut wr = rd.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut j = 0;
            loop {
                let batch: Vec<u8> = (j..j + SHUTDOWN_BATCH).flat_map(|j| shutdown_request(c, j)).collect();
                if wr.write_all(&batch).is_err() {
                    return; // the server closed
                }
                j += SHUTDOWN_BATCH;
            }
        });
        let (progress, value) = (progress.clone(), value.clone());
        readers.push(std::thread::spawn(move || {
            let (mut buf, mut next, mut incrs) = (Vec::new(), 0usize, 0u64);
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                match rd.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
                    Err(e) => panic!("client {c}: {e}"),
                }
                let used = check_shutdown_replies(&buf, &mut next, &mut incrs, &value);
                buf.drain(..used);
                progress[c].store(next, Relaxed);
            }
            assert!(buf.is_empty(), "client {c} saw a torn reply: {} stray bytes after reply {next}", buf.len());
            next
        }));
    }
    let loaded =
        eventually(Duration::from_secs(30), || progress.iter().all(|p| p.load(Relaxed) >= SHUTDOWN_REPLIES_BEFORE));
    assert!(loaded, "clients did not get going");

    let signalled = Instant::now();
    let status = server.stop();
    let took = signalled.elapsed();
    let counts: Vec<usize> = readers.into_iter().map(|r| r.join().expect("client saw whole replies")).collect();
    eprintln!(
        "shutdown[{}]: exit in {took:?} under {SHUTDOWN_CLIENTS} pipelining clients; replies per client {}..{}",
        engine.name,
        counts.iter().min().unwrap(),
        counts.iter().max().unwrap()
    );
    assert!(status.success(), "exit status {status}");
    assert!(took < SHUTDOWN_BOUND, "shutdown took {took:?}");
    assert!(!sock.exists(), "socket file left behind");
}

/// SIGTERM while a client has megabytes of replies pending and never reads them: the server
/// gives up on it after its flush timeout (5 s) and still exits 0 within SHUTDOWN_BOUND; an
/// idle client connected at the same time just sees the connection close.
fn sigterm_with_a_client_that_never_reads_is_bounded(engine: Engine) {
    let server = Server::start(engine, &[]);
    let value = pattern(1024 * 1024, 5);
    let mut stuck = server.unix();
    roundtrip(&mut stuck, &resp(&[b"SET", b"big", &value]), b"+OK\r\n");
    stuck.write_all(&resp(&[b"GET", b"big"]).repeat(16)).unwrap();
    let mut polite = server.unix();
    roundtrip(&mut polite, b"PING\r\n", b"+PONG\r\n");
    // Let the server fill the stuck client's socket buffer and stall on it.
    let stalled = eventually(Duration::from_secs(10), || {
        server.info_u64("everything", "client_recent_max_output_buffer") >= value.len() as u64
    });
    assert!(stalled);
    let sock = server.sock.clone();
    let signalled = Instant::now();
    let status = server.stop();
    let took = signalled.elapsed();
    eprintln!("shutdown[{}]: exit in {took:?} with a client that never reads", engine.name);
    assert!(status.success(), "exit status {status}");
    assert!(took < SHUTDOWN_BOUND, "shutdown took {took:?}");
    assert!(!sock.exists(), "socket file left behind");
    assert!(read_until_closed(&mut polite).is_empty());
    drop(stuck);
}

// ---- auth --------------------------------------------------------------------------------

/// Before AUTH only AUTH, HELLO and QUIT run (NOAUTH for the rest, WRONGPASS for bad
/// credentials); an 11-element request or a 16385-byte bulk is a protocol error that closes
/// the connection; after AUTH or HELLO 2 AUTH on the same connection both are fine.
fn auth_gates_commands_and_limits_before_auth(engine: Engine) {
    let server = Server::start(engine, &["--requirepass", "pw"]);
    let noauth = b"-NOAUTH Authentication required.\r\n";
    let wrongpass = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n";
    let mut s = server.unix();
    let gated: [&[&[u8]]; 9] = [
        &[b"PING"],
        &[b"SET", b"k", b"v"],
        &[b"INFO"],
        &[b"DBSIZE"],
        &[b"FLUSHALL"],
        &[b"SELECT", b"1"],
        &[b"CLIENT", b"ID"],
        &[b"KEYS", b"*"],
        &[b"ECHO", b"x"],
    ];
    for cmd in gated {
        roundtrip(&mut s, &resp(cmd), noauth);
    }
    let mut r = ReplyReader::new(s.try_clone().unwrap());
    s.write_all(&resp(&[b"HELLO", b"2"])).unwrap();
    assert!(r.reply().starts_with(b"-NOAUTH HELLO must be called with the client already authenticated"));
    roundtrip(&mut s, &resp(&[b"HELLO", b"2", b"AUTH", b"default", b"nope"]), wrongpass);
    roundtrip(&mut s, &resp(&[b"AUTH", b"default", b"nope"]), wrongpass);
    // Ten elements and 16384-byte bulks are allowed before AUTH (and get NOAUTH).
    let ten: Vec<&[u8]> = std::iter::once(&b"MGET"[..]).chain(std::iter::repeat_n(&b"k"[..], 9)).collect();
    roundtrip(&mut s, &resp(&ten), noauth);
    roundtrip(&mut s, &resp(&[b"ECHO", &[b'e'; 16384]]), noauth);
    // Eleven elements: protocol error, then close.
    let eleven: Vec<&[u8]> = std::iter::once(&b"MGET"[..]).chain(std::iter::repeat_n(&b"k"[..], 10)).collect();
    s.write_all(&resp(&eleven)).unwrap();
    assert_eq!(read_until_closed(&mut s), b"-ERR Protocol error: unauthenticated multibulk length\r\n");
    let mut s = server.unix();
    let _ = s.write_all(&resp(&[b"ECHO", &[b'e'; 16385]]));
    assert_eq!(read_until_closed(&mut s), b"-ERR Protocol error: unauthenticated bulk length\r\n");
    // QUIT works before AUTH.
    let mut s = server.unix();
    s.write_all(&resp(&[b"QUIT"])).unwrap();
    assert_eq!(read_until_closed(&mut s), b"+OK\r\n");

    // HELLO 2 AUTH authenticates; the big limits apply from then on.
    let big = vec![b'b'; 100_000];
    let mut s = server.unix();
    let mut r = ReplyReader::new(s.try_clone().unwrap());
    s.write_all(&resp(&[b"HELLO", b"2", b"AUTH", b"default", b"pw"])).unwrap();
    let hello = r.reply();
    assert!(hello.starts_with(b"*14\r\n$6\r\nserver\r\n"), "{}", String::from_utf8_lossy(&hello));
    let mset: Vec<&[u8]> = std::iter::once(&b"MSET"[..]).chain((0..10).flat_map(|_| [&b"m"[..], &b"v"[..]])).collect();
    s.write_all(&resp(&mset)).unwrap();
    assert_eq!(r.reply(), b"+OK\r\n");
    s.write_all(&resp(&[b"SET", b"big", &big])).unwrap();
    assert_eq!(r.reply(), b"+OK\r\n");
    s.write_all(&resp(&[b"GET", b"big"])).unwrap();
    assert!(r.reply() == bulk(&big));
    // AUTH password, then 11 elements on the same connection.
    let mut t = server.unix();
    roundtrip(&mut t, &resp(&[b"AUTH", b"pw"]), b"+OK\r\n");
    roundtrip(&mut t, &resp(&eleven), &b"*10\r\n".iter().copied().chain(b"$-1\r\n".repeat(10)).collect::<Vec<u8>>());
}

// ---- maxclients and counters -----------------------------------------------------------

/// Over --maxclients the refused clients get Redis's error and are counted in INFO stats
/// rejected_connections (admitted ones in total_connections_received); a protocol error is
/// counted in total_protocol_errors; CONFIG RESETSTAT zeroes them.
fn maxclients_and_protocol_errors_are_counted(engine: Engine) {
    let server = Server::start(engine, &["--maxclients", "3"]);
    let mut a = server.unix();
    roundtrip(&mut a, b"PING\r\n", b"+PONG\r\n");
    // Wait until `a` is alone (the harness's readiness probe may linger a moment).
    let alone = eventually(Duration::from_secs(10), || {
        let mut r = ReplyReader::new(a.try_clone().unwrap());
        a.write_all(b"INFO clients\r\n").unwrap();
        String::from_utf8_lossy(&r.reply()).contains("connected_clients:1\r\n")
    });
    assert!(alone);
    roundtrip(&mut a, b"CONFIG RESETSTAT\r\n", b"+OK\r\n");
    let mut b = server.unix();
    roundtrip(&mut b, b"PING\r\n", b"+PONG\r\n");
    let mut c = server.unix();
    roundtrip(&mut c, b"PING\r\n", b"+PONG\r\n");
    for _ in 0..2 {
        let mut refused = server.unix();
        assert_eq!(read_until_closed(&mut refused), b"-ERR max number of clients reached\r\n");
    }
    let stats = |a: &mut UnixStream| {
        let mut r = ReplyReader::new(a.try_clone().unwrap());
        a.write_all(b"INFO stats\r\n").unwrap();
        let text = String::from_utf8_lossy(&r.reply()).into_owned();
        let get = |f: &str| info_field(&text, f).unwrap().parse::<u64>().unwrap();
        (get("rejected_connections"), get("total_connections_received"), get("total_protocol_errors"))
    };
    assert_eq!(stats(&mut a), (2, 2, 0));
    drop(b);
    let mut bad = None;
    let ok = eventually(Duration::from_secs(10), || {
        let mut s = server.unix();
        // Until b's slot is free this client is refused (and the write may fail): retry.
        let _ = s.write_all(b"*1\r\n$x\r\n");
        let got = read_until_closed(&mut s);
        bad = Some(got.clone());
        got == b"-ERR Protocol error: invalid bulk length\r\n"
    });
    assert!(ok, "{:?}", bad.map(|b| String::from_utf8_lossy(&b).into_owned()));
    let (rejected, _, protocol_errors) = stats(&mut a);
    assert!(rejected >= 2 && protocol_errors == 1, "rejected {rejected}, protocol errors {protocol_errors}");
    roundtrip(&mut a, b"CONFIG RESETSTAT\r\n", b"+OK\r\n");
    assert_eq!(stats(&mut a), (0, 0, 0));
    roundtrip(&mut c, b"PING\r\n", b"+PONG\r\n");
}

// ---- idle timeout ------------------------------------------------------------------------

/// --timeout in seconds for the idle test (long enough that a client pinging every 100 ms is
/// never idle that long even on a loaded machine).
const IDLE_TIMEOUT_S: u64 = 3;

/// With --timeout, a silent client and one that does not read its replies are closed (and
/// counted in timedout_clients); a client that keeps talking stays.
fn idle_timeout_closes_silent_and_non_reading_clients(engine: Engine) {
    let timeout = IDLE_TIMEOUT_S.to_string();
    let server = Server::start(engine, &["--timeout", &timeout]);
    let value = pattern(1024 * 1024, 1);
    let mut silent = server.unix();
    roundtrip(&mut silent, b"PING\r\n", b"+PONG\r\n");
    let mut stuck = server.unix();
    roundtrip(&mut stuck, &resp(&[b"SET", b"big", &value]), b"+OK\r\n");
    stuck.write_all(&resp(&[b"GET", b"big"]).repeat(8)).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let mut active = server.unix();
    let pinger = std::thread::spawn({
        let stop = stop.clone();
        move || {
            while !stop.load(Relaxed) {
                roundtrip(&mut active, b"PING\r\n", b"+PONG\r\n");
                std::thread::sleep(Duration::from_millis(100));
            }
            active
        }
    });
    let closed = eventually(Duration::from_secs(20), || server.info_u64("everything", "timedout_clients") >= 2);
    stop.store(true, Relaxed);
    let mut active = pinger.join().expect("the active client was never cut off");
    assert!(closed, "idle clients were not closed");
    assert!(read_until_closed(&mut silent).is_empty());
    let got = read_until_closed(&mut stuck);
    assert!(got.len() < 8 * (value.len() + 20), "the non-reading client was closed before all replies");
    roundtrip(&mut active, b"PING\r\n", b"+PONG\r\n");
}

// ---- query buffer and bulk limits ------------------------------------------------------

/// A request bigger than --client-query-buffer-limit closes the client without a reply; a
/// bulk over --proto-max-bulk-len is a protocol error; requests under both work.
fn query_buffer_and_bulk_limits_close_the_client(engine: Engine) {
    let server = Server::start(engine, &["--client-query-buffer-limit", "1mb", "--proto-max-bulk-len", "4mb"]);
    let mut s = server.unix();
    let mut req = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3000000\r\n".to_vec();
    req.extend(vec![b'q'; 1536 * 1024]);
    let _ = s.write_all(&req);
    assert!(read_until_closed(&mut s).is_empty(), "closed without a reply, as Redis does");

    let mut s = server.unix();
    let _ = s.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5000000\r\n");
    assert_eq!(read_until_closed(&mut s), b"-ERR Protocol error: invalid bulk length\r\n");

    let mut s = server.unix();
    let ok = vec![b'o'; 900 * 1024];
    roundtrip(&mut s, &resp(&[b"SET", b"k", &ok]), b"+OK\r\n");
    roundtrip(&mut s, &resp(&[b"STRLEN", b"k"]), format!(":{}\r\n", ok.len()).as_bytes());
}

// ---- descriptor limit --------------------------------------------------------------------

/// RLIMIT_NOFILE for the low-limit test, and the descriptors the server keeps in reserve
/// (ringkv::server::RESERVED_FDS).
const LOW_NOFILE: u64 = 64;
const RESERVED_FDS: u64 = 32;

/// With RLIMIT_NOFILE 64 (hard), the server lowers maxclients to what fits (as Redis does),
/// so the clients over it get `max number of clients reached` instead of hanging in the
/// backlog; once they go, new clients are served.
fn low_descriptor_limit_lowers_maxclients(engine: Engine) {
    let server = Launch::new(engine).nofile(LOW_NOFILE).start();
    let maxclients = (LOW_NOFILE - RESERVED_FDS) as usize; // one descriptor per client
    let connect = || {
        let s = UnixStream::connect(&server.sock).unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s
    };
    let mut first = connect();
    let mut r = ReplyReader::new(first.try_clone().unwrap());
    first.write_all(&resp(&[b"CONFIG", b"GET", b"maxclients"])).unwrap();
    let want = format!("*2\r\n$10\r\nmaxclients\r\n${}\r\n{maxclients}\r\n", maxclients.to_string().len());
    assert_eq!(String::from_utf8_lossy(&r.reply()), want);
    let mut open = vec![first];
    let mut refused = 0;
    for _ in 0..maxclients + 8 {
        let mut s = connect();
        let _ = s.write_all(b"PING\r\n");
        let mut line = [0u8; 7];
        match s.read_exact(&mut line) {
            Ok(()) if &line == b"+PONG\r\n" => open.push(s),
            Ok(()) => {
                let mut rest = read_until_closed(&mut s);
                rest.splice(0..0, line);
                assert_eq!(rest, b"-ERR max number of clients reached\r\n");
                refused += 1;
            }
            Err(e) => panic!("a client got neither a reply nor a refusal: {e}"),
        }
    }
    eprintln!("nofile[{}]: maxclients {maxclients}, {} served, {refused} refused", engine.name, open.len());
    assert!(refused >= 8, "refused {refused}");
    assert!(open.len() <= maxclients);
    open.clear();
    let again = eventually(Duration::from_secs(10), || {
        let mut s = connect();
        s.write_all(b"PING\r\n").is_ok() && common::read_line(&mut s) == b"+PONG"
    });
    assert!(again);
}

// ---- the socket file -------------------------------------------------------------------

/// Run the server (threads engine) on `path` expecting it to refuse to start; its stderr.
fn refuses_to_start(path: &Path) -> String {
    common::refuses_to_start(&["--unixsocket", path.to_str().unwrap(), "--engine", "threads"]).1
}

/// A symlink at the socket path, to a regular file, is refused; link and file stay.
#[test]
fn symlink_to_a_regular_file_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("precious");
    std::fs::write(&target, b"precious").unwrap();
    let link = dir.path().join("ringkv.sock");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let err = refuses_to_start(&link);
    assert!(err.contains("symbolic link"), "{err}");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");
}

/// A dangling symlink at the socket path is refused and left in place (bind would otherwise
/// create the socket wherever it points).
#[test]
fn dangling_symlink_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ringkv.sock");
    let nowhere = dir.path().join("nowhere");
    std::os::unix::fs::symlink(&nowhere, &link).unwrap();
    let err = refuses_to_start(&link);
    assert!(err.contains("symbolic link"), "{err}");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert!(!nowhere.exists(), "nothing was created at the link's target");
}

/// A symlink to another server's live socket, or to a stale socket, is refused; the live
/// server keeps serving and the stale socket file stays.
#[test]
fn symlink_to_a_socket_is_refused() {
    let live = Server::start(THREADS, &[]);
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("live.sock");
    std::os::unix::fs::symlink(&live.sock, &link).unwrap();
    let err = refuses_to_start(&link);
    assert!(err.contains("symbolic link"), "{err}");
    roundtrip(&mut live.unix(), b"PING\r\n", b"+PONG\r\n");

    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let link = dir.path().join("stale-link.sock");
    std::os::unix::fs::symlink(&stale, &link).unwrap();
    let err = refuses_to_start(&link);
    assert!(err.contains("symbolic link"), "{err}");
    assert!(std::fs::symlink_metadata(&stale).is_ok(), "the stale socket it points to stays");
}

/// A directory at the socket path is refused and left alone.
#[test]
fn directory_at_the_socket_path_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ringkv.sock");
    std::fs::create_dir(&path).unwrap();
    std::fs::write(path.join("inside"), b"x").unwrap();
    let err = refuses_to_start(&path);
    assert!(err.contains("not a socket"), "{err}");
    assert!(path.join("inside").exists());
}
