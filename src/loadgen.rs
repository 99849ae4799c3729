//! A small closed-loop load generator for GET/SET of small values, written once and used by
//! `benches/engines.rs` (and meant for the syscall report).
//!
//! What one connection does: its requests are encoded before the clock starts
//! ([`BATCH_VARIANTS`] batches of `depth` requests each, cycled so the keys vary). One *round*
//! is one `write` of a whole batch followed by `read`s until `depth` replies have arrived.
//! Replies are counted, not parsed: [`ReplyCounter`] scans the bytes with a few-state machine
//! (type byte, line end, bulk length, skip the body) and allocates nothing. So a round costs
//! the client one `write`, usually one `read`, and a linear scan of the reply bytes; there is
//! no per-request allocation, formatting or copying.
//!
//! Who waits for the sockets is the [`Driver`]: [`Driver::Evented`] (the default) runs a few
//! mio/epoll loop threads, one per core, each over its share of the connections (see
//! [`evented`]); [`Driver::Threads`] gives every connection a blocking socket and an OS
//! thread of its own (the original design: on a 2-core machine 50 client threads measure the
//! client's scheduler as much as the server, and penalise a server that answers in batches).
//!
//! [`LoadGen::run`] has every connection do the same number of rounds and returns the wall time
//! until the last one finished. The connections and their threads live as long as the
//! `LoadGen`, so repeated runs (criterion samples) measure requests, not connection setup.
//!
//! Latency: [`LoadGen::run_with_latency`] also records, for every request, the time from the
//! `write` of its batch to the `read` that completed its reply, into an HDR histogram (one per
//! thread, merged at the end). hdrhistogram is a normal dependency rather than a dev one
//! because this module is library code shared by the benches and the report command; it is
//! built without its serialization and sync features, so it only brings in `num-traits` and
//! `byteorder`. A histogram gives exact-to-3-digits quantiles over *every* request with
//! bounded memory whatever the run length, which a sampled `Vec` of microseconds would not.
//!
//! [`CpuSample`] reads `/proc` before and after a run to give the server's CPU time per request
//! and the CPU other processes took meanwhile (on a shared 2-core machine, the difference
//! between a clean number and a disturbed one).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::client::encode_command;
use crate::net::Stream;

pub mod evented;

/// Keys are `key:` plus a zero-padded 12-digit index: 16 bytes, like redis-benchmark's.
pub const KEY_BYTES: usize = 16;
/// Key indexes must fit in the key's 12 digits.
pub const KEYSPACE_MAX: usize = 1_000_000_000_000;
/// Value size when the caller has no preference (redis-benchmark's `-d` default is 3; 32 is a
/// more typical small cache value).
pub const VALUE_BYTES_DEFAULT: usize = 32;
/// Keys a workload spreads over when the caller has no preference.
pub const KEYSPACE_DEFAULT: usize = 10_000;
/// Connections per generator (with [`Driver::Threads`] each is one OS thread, so this is also
/// a thread bound).
pub const CLIENTS_MAX: usize = 1024;
/// Event loop threads [`Driver::Evented`] may run (more than the cores only adds switching).
pub const LOOP_THREADS_MAX: usize = 64;
/// A round's requests, and its replies, must each fit in this many bytes. A blocking client
/// writes its whole batch before reading; if the replies to the first requests could fill the
/// socket buffers before the last request is written, a blocking server (the threads engine)
/// and the client would wait on each other forever. Loopback socket buffers are >= 200 KiB.
pub const ROUND_BYTES_MAX: usize = 64 * 1024;
/// Pre-encoded batches per connection, cycled round after round so consecutive rounds touch
/// different keys without encoding anything while the clock runs.
pub const BATCH_VARIANTS: usize = 16;
/// Socket read buffer per connection: a round's replies arrive in one `read`.
const READ_BUFFER_BYTES: usize = ROUND_BYTES_MAX;
/// Read/write timeout on every socket, so a stuck server fails the run instead of hanging it.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Highest latency the histograms track (larger values are clamped to it).
pub const LATENCY_NS_MAX: u64 = 60_000_000_000;
/// Precision of the latency histograms (significant decimal digits).
const LATENCY_SIGFIGS: u8 = 3;
/// Requests per pipelined batch when preloading keys.
const PRELOAD_BATCH: usize = 512;
/// Longest bulk length the reply counter accepts (Redis's `proto-max-bulk-len` default).
const BULK_LEN_MAX: u64 = 512 * 1024 * 1024;

/// Where the server listens.
#[derive(Clone, Debug)]
pub enum Target {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl Target {
    fn connect(&self) -> io::Result<Stream> {
        let conn = match self {
            Target::Unix(path) => Stream::Unix(UnixStream::connect(path)?),
            Target::Tcp(addr) => {
                let s = TcpStream::connect(addr)?;
                // Batches are already one write each; Nagle would only delay them.
                s.set_nodelay(true)?;
                Stream::Tcp(s)
            }
        };
        conn.set_timeouts(Some(IO_TIMEOUT))?;
        Ok(conn)
    }
}

/// Which command every request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `GET key` (call [`preload`] first so it finds a value).
    Get,
    /// `SET key value`.
    Set,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Set => "set",
        }
    }
}

/// What to send.
#[derive(Clone, Debug)]
pub struct Workload {
    pub op: Op,
    /// Connections (1..=[`CLIENTS_MAX`]).
    pub clients: usize,
    /// Requests written per round on each connection (pipeline depth, >= 1).
    pub depth: usize,
    /// Keys are `key(0..keyspace)` (1..=[`KEYSPACE_MAX`]).
    pub keyspace: usize,
    /// Bytes per SET value (and per value [`preload`] writes).
    pub value_bytes: usize,
}

impl Workload {
    /// `clients` connections pipelining `depth` requests of `op`, default keys and values.
    pub fn new(op: Op, clients: usize, depth: usize) -> Self {
        Workload { op, clients, depth, keyspace: KEYSPACE_DEFAULT, value_bytes: VALUE_BYTES_DEFAULT }
    }

    /// Requests all connections together send per round.
    pub fn requests_per_round(&self) -> u64 {
        (self.clients * self.depth) as u64
    }

    fn check(&self) -> io::Result<()> {
        let bad = |what: String| Err(io::Error::new(io::ErrorKind::InvalidInput, what));
        if self.clients == 0 || self.clients > CLIENTS_MAX {
            return bad(format!("clients must be 1..={CLIENTS_MAX}, got {}", self.clients));
        }
        if self.depth == 0 {
            return bad("depth must be at least 1".into());
        }
        if self.keyspace == 0 || self.keyspace > KEYSPACE_MAX {
            return bad(format!("keyspace must be 1..={KEYSPACE_MAX}, got {}", self.keyspace));
        }
        let request = encoded_request(self.op, &key(0), self.value_bytes).len();
        // Largest reply: `$<len>\r\n<value>\r\n` for GET, `+OK\r\n` for SET.
        let reply = self.value_bytes + 24;
        if self.depth.saturating_mul(request.max(reply)) > ROUND_BYTES_MAX {
            return bad(format!(
                "depth {} x {} bytes per request/reply exceeds the {ROUND_BYTES_MAX}-byte round limit",
                self.depth,
                request.max(reply)
            ));
        }
        Ok(())
    }
}

/// Key number `i` (`i` < [`KEYSPACE_MAX`]): `key:000000000042`.
pub fn key(i: usize) -> [u8; KEY_BYTES] {
    debug_assert!(i < KEYSPACE_MAX);
    let mut k = *b"key:000000000000";
    let mut n = i;
    for slot in k[4..].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    k
}

/// The value every SET (and [`preload`]) writes.
pub fn value(value_bytes: usize) -> Vec<u8> {
    vec![b'v'; value_bytes]
}

fn encoded_request(op: Op, key: &[u8], value_bytes: usize) -> Vec<u8> {
    let mut out = Vec::new();
    match op {
        Op::Get => encode_command(&mut out, &[b"GET", key]),
        Op::Set => encode_command(&mut out, &[b"SET", key, &value(value_bytes)]),
    }
    out
}

/// SET every key of the workload's keyspace (one connection, pipelined), so GETs hit.
pub fn preload(target: &Target, workload: &Workload) -> io::Result<()> {
    workload.check()?;
    let mut conn = target.connect()?;
    let value = value(workload.value_bytes);
    let mut batch = Vec::new();
    let mut counter = ReplyCounter::default();
    let mut buf = vec![0u8; READ_BUFFER_BYTES];
    let mut next = 0;
    while next < workload.keyspace {
        let end = (next + PRELOAD_BATCH).min(workload.keyspace);
        batch.clear();
        for i in next..end {
            encode_command(&mut batch, &[b"SET", &key(i), &value]);
        }
        conn.write_all(&batch)?;
        read_replies(&mut conn, &mut counter, &mut buf, end - next, |_| {})?;
        next = end;
    }
    Ok(())
}

/// Read from `conn` until `want` more replies have arrived; `on_replies(n)` is told about each
/// read that completed `n` of them. Fails on EOF, on more replies than requests and on any
/// error reply.
fn read_replies(
    conn: &mut Stream,
    counter: &mut ReplyCounter,
    buf: &mut [u8],
    want: usize,
    mut on_replies: impl FnMut(usize),
) -> io::Result<()> {
    let mut got = 0;
    while got < want {
        let n = conn.read(buf)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "server closed the connection"));
        }
        let replies = counter.feed(&buf[..n])?;
        got += replies;
        if replies > 0 {
            on_replies(replies);
        }
    }
    if got > want || !counter.at_boundary() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "server sent more replies than requests"));
    }
    if counter.errors > 0 {
        return Err(io::Error::other("server answered with an error reply"));
    }
    Ok(())
}

/// Counts complete RESP2 replies in a byte stream that may be cut anywhere, without parsing
/// them: simple strings, errors, integers and bulk strings (all GET and SET ever return).
/// Arrays are refused, as is any byte that cannot start a reply.
#[derive(Default, Debug)]
pub struct ReplyCounter {
    state: CountState,
    /// Error replies (`-...`) seen so far.
    pub errors: u64,
}

#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
enum CountState {
    /// At the first byte of a reply.
    #[default]
    Start,
    /// Inside a `+`, `-` or `:` line: skip to its `\n`.
    Line,
    /// Inside a `$<len>` line, `len` digits so far.
    BulkLen { len: u64, null: bool },
    /// Inside a bulk body: `remaining` bytes (body plus CRLF) still to skip.
    Body { remaining: u64 },
}

impl ReplyCounter {
    /// Consume `data` and return how many replies it completed.
    pub fn feed(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut done = 0;
        let mut i = 0;
        while i < data.len() {
            match self.state {
                CountState::Start => {
                    self.state = match data[i] {
                        b'+' | b':' => CountState::Line,
                        b'-' => {
                            self.errors += 1;
                            CountState::Line
                        }
                        b'$' => CountState::BulkLen { len: 0, null: false },
                        other => return Err(invalid(format!("unexpected reply type byte 0x{other:02x}"))),
                    };
                    i += 1;
                }
                CountState::Line => match data[i..].iter().position(|&b| b == b'\n') {
                    Some(at) => {
                        i += at + 1;
                        done += 1;
                        self.state = CountState::Start;
                    }
                    None => i = data.len(),
                },
                CountState::BulkLen { len, null } => {
                    let b = data[i];
                    i += 1;
                    self.state = match b {
                        b'0'..=b'9' => {
                            let len = len * 10 + u64::from(b - b'0');
                            if len > BULK_LEN_MAX {
                                return Err(invalid("bulk length out of range".into()));
                            }
                            CountState::BulkLen { len, null }
                        }
                        b'-' => CountState::BulkLen { len, null: true },
                        b'\r' => CountState::BulkLen { len, null },
                        b'\n' if null => {
                            done += 1;
                            CountState::Start
                        }
                        b'\n' => CountState::Body { remaining: len + 2 },
                        other => return Err(invalid(format!("unexpected byte 0x{other:02x} in bulk length"))),
                    };
                }
                CountState::Body { remaining } => {
                    let take = remaining.min((data.len() - i) as u64);
                    i += take as usize;
                    let remaining = remaining - take;
                    self.state = if remaining == 0 {
                        done += 1;
                        CountState::Start
                    } else {
                        CountState::Body { remaining }
                    };
                }
            }
        }
        Ok(done)
    }

    /// True between replies (nothing partial buffered).
    pub fn at_boundary(&self) -> bool {
        self.state == CountState::Start
    }
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

fn invalid_input(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

/// A fresh, empty latency histogram in nanoseconds.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_NS_MAX, LATENCY_SIGFIGS).expect("valid histogram bounds")
}

/// Work for one connection thread.
struct Job {
    rounds: u64,
    /// Present when latencies are wanted; allocated by the caller before the clock starts.
    latency: Option<Histogram<u64>>,
}

/// A connection thread's answer to a [`Job`].
struct Done {
    result: io::Result<()>,
    latency: Option<Histogram<u64>>,
}

/// One connection's state, owned by its thread.
struct Connection {
    conn: Stream,
    /// [`BATCH_VARIANTS`] pre-encoded batches of `depth` requests.
    batches: Vec<Vec<u8>>,
    next_batch: usize,
    depth: usize,
    counter: ReplyCounter,
    buf: Vec<u8>,
}

/// Connection `client`'s [`BATCH_VARIANTS`] pre-encoded batches of `depth` requests.
fn encode_batches(workload: &Workload, client: usize) -> Vec<Vec<u8>> {
    (0..BATCH_VARIANTS)
        .map(|variant| {
            let mut batch = Vec::new();
            for slot in 0..workload.depth {
                let n = (client * BATCH_VARIANTS + variant) * workload.depth + slot;
                batch.extend_from_slice(&encoded_request(
                    workload.op,
                    &key(n % workload.keyspace),
                    workload.value_bytes,
                ));
            }
            batch
        })
        .collect()
}

impl Connection {
    fn new(target: &Target, workload: &Workload, client: usize) -> io::Result<Connection> {
        Ok(Connection {
            conn: target.connect()?,
            batches: encode_batches(workload, client),
            next_batch: 0,
            depth: workload.depth,
            counter: ReplyCounter::default(),
            buf: vec![0u8; READ_BUFFER_BYTES],
        })
    }

    fn rounds(&mut self, rounds: u64, mut latency: Option<&mut Histogram<u64>>) -> io::Result<()> {
        for _ in 0..rounds {
            let batch = &self.batches[self.next_batch];
            self.next_batch = (self.next_batch + 1) % self.batches.len();
            let sent = latency.is_some().then(Instant::now);
            self.conn.write_all(batch)?;
            read_replies(&mut self.conn, &mut self.counter, &mut self.buf, self.depth, |n| {
                if let (Some(h), Some(sent)) = (latency.as_deref_mut(), sent) {
                    let ns = u64::try_from(sent.elapsed().as_nanos()).unwrap_or(u64::MAX);
                    h.saturating_record_n(ns.clamp(1, LATENCY_NS_MAX), n as u64);
                }
            })?;
        }
        Ok(())
    }
}

/// Who waits for the sockets (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    /// A blocking socket and an OS thread per connection.
    Threads,
    /// This many mio (epoll) loop threads, the connections spread evenly over them
    /// (1..=[`LOOP_THREADS_MAX`], and never more threads than connections).
    Evented { threads: usize },
}

impl Default for Driver {
    /// One event loop per core.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Driver::Evented { threads: cores.min(LOOP_THREADS_MAX) }
    }
}

/// What one generator thread drives: a blocking connection or an event loop of several.
enum Worker {
    Blocking(Connection),
    Evented(evented::Loop),
}

impl Worker {
    fn rounds(&mut self, job: &mut Job) -> io::Result<()> {
        match self {
            Worker::Blocking(c) => c.rounds(job.rounds, job.latency.as_mut()),
            Worker::Evented(l) => l.rounds(job),
        }
    }

    /// Serve jobs until the generator is dropped (the job channel closes).
    fn serve(mut self, jobs: Receiver<Job>, done: Sender<Done>) {
        for mut job in jobs {
            let result = self.rounds(&mut job);
            if done.send(Done { result, latency: job.latency }).is_err() {
                return;
            }
        }
    }
}

/// What a run measured.
#[derive(Debug)]
pub struct Report {
    pub requests: u64,
    /// Wall time from starting the connections to the last one finishing.
    pub elapsed: Duration,
    /// Per-request latency in nanoseconds (see the module docs for what it spans).
    pub latency: Histogram<u64>,
}

impl Report {
    pub fn requests_per_sec(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

/// Open connections and their driver threads, ready to run rounds.
pub struct LoadGen {
    jobs: Vec<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
    done: Receiver<Done>,
    requests_per_round: u64,
}

impl LoadGen {
    /// Connect `workload.clients` connections to `target` with the default [`Driver`] (one
    /// event loop per core) and start their threads. Nothing is sent until [`LoadGen::run`].
    /// For GET workloads call [`preload`] first.
    pub fn connect(target: &Target, workload: &Workload) -> io::Result<LoadGen> {
        LoadGen::connect_with(target, workload, Driver::default())
    }

    /// [`LoadGen::connect`] with a chosen [`Driver`].
    pub fn connect_with(target: &Target, workload: &Workload, driver: Driver) -> io::Result<LoadGen> {
        workload.check()?;
        let workers = match driver {
            Driver::Threads => (0..workload.clients)
                .map(|c| Connection::new(target, workload, c).map(Worker::Blocking))
                .collect::<io::Result<Vec<_>>>(),
            Driver::Evented { threads } => {
                if threads == 0 || threads > LOOP_THREADS_MAX {
                    return Err(invalid_input(format!("loop threads must be 1..={LOOP_THREADS_MAX}, got {threads}")));
                }
                let threads = threads.min(workload.clients);
                (0..threads)
                    .map(|t| {
                        let clients = (t * workload.clients / threads)..((t + 1) * workload.clients / threads);
                        evented::Loop::new(target, workload, clients).map(Worker::Evented)
                    })
                    .collect::<io::Result<Vec<_>>>()
            }
        }?;
        let (done_tx, done) = mpsc::channel();
        let mut gen = LoadGen {
            jobs: Vec::with_capacity(workers.len()),
            threads: Vec::with_capacity(workers.len()),
            done,
            requests_per_round: workload.requests_per_round(),
        };
        for (i, worker) in workers.into_iter().enumerate() {
            let (job_tx, job_rx) = mpsc::channel();
            let done_tx = done_tx.clone();
            let thread = std::thread::Builder::new()
                .name(format!("loadgen-{i}"))
                .spawn(move || worker.serve(job_rx, done_tx))?;
            gen.jobs.push(job_tx);
            gen.threads.push(thread);
        }
        Ok(gen)
    }

    /// Requests all connections together send per round.
    pub fn requests_per_round(&self) -> u64 {
        self.requests_per_round
    }

    /// Every connection does `rounds` rounds; returns the wall time until the last finished.
    /// After an error some connections may be mid-round: drop the generator.
    pub fn run(&mut self, rounds: u64) -> io::Result<Duration> {
        self.dispatch(rounds, false).map(|(elapsed, _)| elapsed)
    }

    /// Like [`LoadGen::run`], and also returns every request's latency (ns).
    pub fn run_with_latency(&mut self, rounds: u64) -> io::Result<Report> {
        let (elapsed, latency) = self.dispatch(rounds, true)?;
        Ok(Report { requests: rounds * self.requests_per_round, elapsed, latency })
    }

    fn dispatch(&mut self, rounds: u64, latency: bool) -> io::Result<(Duration, Histogram<u64>)> {
        let mut histograms: Vec<Option<Histogram<u64>>> =
            self.jobs.iter().map(|_| latency.then(latency_histogram)).collect();
        let start = Instant::now();
        for (jobs, latency) in self.jobs.iter().zip(histograms.iter_mut()) {
            jobs.send(Job { rounds, latency: latency.take() }).map_err(|_| thread_gone())?;
        }
        let mut first_error = None;
        let mut merged = latency_histogram();
        for _ in 0..self.jobs.len() {
            let done = self.done.recv().map_err(|_| thread_gone())?;
            if let Err(e) = done.result {
                first_error.get_or_insert(e);
            }
            if let Some(h) = done.latency {
                merged.add(h).map_err(|e| io::Error::other(format!("merging latency histograms: {e}")))?;
            }
        }
        let elapsed = start.elapsed();
        match first_error {
            Some(e) => Err(e),
            None => Ok((elapsed, merged)),
        }
    }
}

fn thread_gone() -> io::Error {
    io::Error::other("a load generator thread exited")
}

impl Drop for LoadGen {
    fn drop(&mut self) {
        self.jobs.clear(); // Closing the job channels ends the threads.
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Connect, run at least `requests` requests (whole rounds), disconnect: the one-call form
/// for reports. GET workloads need [`preload`] first.
pub fn run(target: &Target, workload: &Workload, requests: u64) -> io::Result<Report> {
    let mut gen = LoadGen::connect(target, workload)?;
    let rounds = requests.div_ceil(gen.requests_per_round()).max(1);
    gen.run_with_latency(rounds)
}

/// CPU time counters, to judge a run: the server's CPU time per request, and whether other
/// processes competed for the cores. "Background" is the user+system time of every process
/// other than this one (the client) and the server. Interrupt time is left out, since
/// loopback TCP's softirq work is the run's own traffic. Resolution is one clock tick
/// (usually 10 ms), so compare runs of a second or more.
#[derive(Clone, Copy, Debug)]
pub struct CpuSample {
    at: Instant,
    machine_ticks: u64,
    own_ticks: u64,
    server_ticks: u64,
}

/// What happened between two [`CpuSample`]s.
#[derive(Clone, Copy, Debug)]
pub struct CpuUse {
    pub wall_s: f64,
    /// Server CPU seconds (0 without a server pid).
    pub server_s: f64,
    /// CPU seconds of this process (the load generator and whatever else it runs).
    pub own_s: f64,
    /// Average number of cores busy with other processes.
    pub background_cores: f64,
}

impl CpuSample {
    /// Read the counters now (Linux `/proc`; zeros where unreadable).
    pub fn take(server_pid: Option<u32>) -> CpuSample {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        // cpu  user nice system idle iowait irq softirq steal ...
        let fields: Vec<u64> =
            stat.lines().next().unwrap_or("").split_whitespace().skip(1).map(|f| f.parse().unwrap_or(0)).collect();
        let field = |i: usize| fields.get(i).copied().unwrap_or(0);
        CpuSample {
            at: Instant::now(),
            machine_ticks: field(0) + field(1) + field(2) + field(7),
            own_ticks: process_ticks("self"),
            server_ticks: server_pid.map_or(0, |pid| process_ticks(&pid.to_string())),
        }
    }

    /// CPU use from `before` until this sample.
    pub fn since(&self, before: &CpuSample) -> CpuUse {
        // SAFETY: sysconf only reads a constant of the running system.
        let ticks_per_s = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let server = self.server_ticks.saturating_sub(before.server_ticks);
        let own = self.own_ticks.saturating_sub(before.own_ticks);
        let others = self.machine_ticks.saturating_sub(before.machine_ticks).saturating_sub(server + own);
        let wall_s = self.at.duration_since(before.at).as_secs_f64().max(f64::MIN_POSITIVE);
        CpuUse {
            wall_s,
            server_s: server as f64 / ticks_per_s,
            own_s: own as f64 / ticks_per_s,
            background_cores: others as f64 / ticks_per_s / wall_s,
        }
    }
}

/// utime + stime of a process (all its threads, exited ones included), in clock ticks.
fn process_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the `(comm)`: state is the first, utime and stime the 12th and 13th.
    let after_comm = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Count replies in `stream` fed in pieces cut at every offset pair.
    fn count_split(stream: &[u8]) -> (usize, u64) {
        let mut whole = ReplyCounter::default();
        let expected = whole.feed(stream).unwrap();
        assert!(whole.at_boundary());
        for a in 0..=stream.len() {
            for b in a..=stream.len() {
                let mut c = ReplyCounter::default();
                let n = c.feed(&stream[..a]).unwrap() + c.feed(&stream[a..b]).unwrap() + c.feed(&stream[b..]).unwrap();
                assert_eq!(n, expected, "cut at {a} and {b}");
                assert!(c.at_boundary());
                assert_eq!(c.errors, whole.errors);
            }
        }
        (expected, whole.errors)
    }

    #[test]
    fn counts_replies_cut_anywhere() {
        let stream = b"+OK\r\n$5\r\nhello\r\n$-1\r\n:42\r\n-ERR no\r\n$0\r\n\r\n$12\r\nab\r\n\r\n\r\n\r\nxx\r\n";
        assert_eq!(count_split(stream), (7, 1));
    }

    #[test]
    fn refuses_what_get_and_set_never_return() {
        assert!(ReplyCounter::default().feed(b"*1\r\n+OK\r\n").is_err());
        assert!(ReplyCounter::default().feed(b"$x\r\n").is_err());
        assert!(ReplyCounter::default().feed(b"$99999999999999\r\n").is_err());
    }

    #[test]
    fn cpu_sample_sees_this_process_work() {
        let before = CpuSample::take(None);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut x = 1u64;
        let used = loop {
            for _ in 0..1_000_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            let used = CpuSample::take(None).since(&before);
            if used.own_s > 0.0 || Instant::now() > deadline {
                break used;
            }
        };
        assert!(used.own_s > 0.0, "{used:?}");
        assert_eq!(used.server_s, 0.0);
        assert!(used.background_cores >= 0.0 && used.wall_s > 0.0);
    }

    #[test]
    fn keys_are_16_bytes_and_distinct() {
        assert_eq!(&key(42), b"key:000000000042");
        assert_eq!(&key(KEYSPACE_MAX - 1), b"key:999999999999");
    }

    #[test]
    fn rounds_that_could_deadlock_are_refused() {
        let mut w = Workload::new(Op::Set, 1, 1);
        assert!(w.check().is_ok());
        w.depth = ROUND_BYTES_MAX;
        assert!(w.check().is_err());
        w.depth = 16;
        w.clients = 0;
        assert!(w.check().is_err());
    }

    /// Against a real (in-process, epoll) server: GETs after a preload and SETs both complete
    /// with the right request counts and a latency for every request.
    #[test]
    fn runs_against_a_server() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("ringkv.sock");
        let mut config = crate::config::Config::defaults();
        config.unixsocket = sock.clone();
        config.port = 0;
        config.engine = crate::config::EngineKind::Epoll;
        config.threads = Some(1);
        let listeners = crate::server::bind(&config).unwrap();
        let shared = Arc::new(crate::shared::Shared::new(config));
        let server = {
            let shared = shared.clone();
            std::thread::spawn(move || crate::server::serve(&shared, &listeners))
        };
        let target = Target::Unix(sock);
        let mut get = Workload::new(Op::Get, 3, 4);
        get.keyspace = 100;
        preload(&target, &get).unwrap();
        assert_eq!(shared.store.db_len(0), 100);
        let drivers = [Driver::Threads, Driver::Evented { threads: 1 }, Driver::Evented { threads: 2 }];
        for driver in drivers {
            let mut gen = LoadGen::connect_with(&target, &get, driver).unwrap();
            assert!(gen.run(5).is_ok(), "{driver:?}");
            let report = gen.run_with_latency(7).unwrap();
            assert_eq!(report.requests, 3 * 4 * 7, "{driver:?}");
            assert_eq!(report.latency.len(), report.requests, "{driver:?}: a latency per request");
        }
        let get_before = shared.stats.total_commands_processed.load(std::sync::atomic::Ordering::Relaxed);
        let mut gen =
            LoadGen::connect_with(&target, &Workload::new(Op::Get, 5, 3), Driver::Evented { threads: 2 }).unwrap();
        gen.run(4).unwrap();
        drop(gen);
        assert_eq!(
            shared.stats.total_commands_processed.load(std::sync::atomic::Ordering::Relaxed) - get_before,
            5 * 3 * 4,
            "every request reached the server once"
        );
        let set = run(&target, &Workload::new(Op::Set, 2, 16), 100).unwrap();
        assert_eq!(set.requests, 2 * 16 * 4);
        assert!(LoadGen::connect_with(&target, &get, Driver::Evented { threads: 0 }).is_err());
        shared.begin_shutdown();
        server.join().unwrap().unwrap();
    }
}
