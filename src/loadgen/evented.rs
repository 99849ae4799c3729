//! The event-driven driver of the load generator: a few threads (one per core by default),
//! each running a mio (epoll) loop over its share of the connections, instead of one OS
//! thread per connection.
//!
//! Why: with a thread per connection, 50 client threads on a 2-core machine measure the
//! client's scheduler as much as the server — every reply wakes a thread, and a server that
//! batches (waits a little for several requests) is penalised by the wakeup storm its batch
//! of replies causes. One loop per core wakes once for many replies, like redis-benchmark.
//!
//! What a connection does is unchanged (see the parent module): one `write` of a pre-encoded
//! batch of `depth` requests per round, reads until `depth` replies have been counted, then
//! the next round at once. The loop only changes who waits: sockets are non-blocking and
//! registered edge-triggered for reading and writing, so every event drains the socket (reads
//! until `WouldBlock`) and continues a partial write. A loop that sees no event for
//! [`IO_TIMEOUT`] fails the run instead of hanging it.

use std::io::{self, Read, Write};
use std::time::Instant;

use hdrhistogram::Histogram;
use mio::{Events, Interest, Poll, Token};

use super::{invalid, Job, ReplyCounter, Target, Workload, IO_TIMEOUT, LATENCY_NS_MAX, READ_BUFFER_BYTES};

/// Events taken from one `epoll_wait`.
const EVENTS_CAPACITY: usize = 256;

/// A non-blocking client socket.
enum Sock {
    Unix(mio::net::UnixStream),
    Tcp(mio::net::TcpStream),
}

impl Sock {
    fn connect(target: &Target) -> io::Result<Sock> {
        // Connect blocking (simple, and the connection is ready when this returns), then
        // switch to non-blocking for the loop.
        Ok(match target {
            Target::Unix(path) => {
                let s = std::os::unix::net::UnixStream::connect(path)?;
                s.set_nonblocking(true)?;
                Sock::Unix(mio::net::UnixStream::from_std(s))
            }
            Target::Tcp(addr) => {
                let s = std::net::TcpStream::connect(addr)?;
                s.set_nodelay(true)?;
                s.set_nonblocking(true)?;
                Sock::Tcp(mio::net::TcpStream::from_std(s))
            }
        })
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Sock::Unix(s) => s.read(buf),
            Sock::Tcp(s) => s.read(buf),
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sock::Unix(s) => s.write(buf),
            Sock::Tcp(s) => s.write(buf),
        }
    }

    fn register(&mut self, poll: &Poll, token: Token) -> io::Result<()> {
        let interest = Interest::READABLE | Interest::WRITABLE;
        match self {
            Sock::Unix(s) => poll.registry().register(s, token, interest),
            Sock::Tcp(s) => poll.registry().register(s, token, interest),
        }
    }
}

/// One connection's state inside a loop.
struct Conn {
    sock: Sock,
    /// [`super::BATCH_VARIANTS`] pre-encoded batches of `depth` requests.
    batches: Vec<Vec<u8>>,
    next_batch: usize,
    /// Bytes of the current round's batch written so far.
    written: usize,
    /// Replies of the current round still to come (0: between rounds).
    awaiting: usize,
    /// Rounds left in the current job, the current one included.
    rounds_left: u64,
    sent_at: Instant,
    counter: ReplyCounter,
}

impl Conn {
    /// Start the next round: pick its batch and write as much as the socket takes.
    fn start_round(&mut self, depth: usize) -> io::Result<()> {
        self.written = 0;
        self.awaiting = depth;
        self.sent_at = Instant::now();
        self.write_more()
    }

    /// Continue the current batch's write until done or the socket is full.
    fn write_more(&mut self) -> io::Result<()> {
        let batch = &self.batches[self.next_batch];
        while self.written < batch.len() {
            match self.sock.write(&batch[self.written..]) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "server stopped reading")),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// True when the current round's batch is fully written.
    fn write_done(&self) -> bool {
        self.written == self.batches[self.next_batch].len()
    }
}

/// One event loop thread's connections; serves [`Job`]s like a blocking connection does.
pub(super) struct Loop {
    poll: Poll,
    events: Events,
    conns: Vec<Conn>,
    depth: usize,
    buf: Vec<u8>,
}

impl Loop {
    /// Connect the given clients (numbers `clients`, which pick their keys).
    pub(super) fn new(target: &Target, workload: &Workload, clients: std::ops::Range<usize>) -> io::Result<Loop> {
        let poll = Poll::new()?;
        let mut conns = Vec::with_capacity(clients.len());
        for (i, client) in clients.enumerate() {
            let mut sock = Sock::connect(target)?;
            sock.register(&poll, Token(i))?;
            conns.push(Conn {
                sock,
                batches: super::encode_batches(workload, client),
                next_batch: 0,
                written: 0,
                awaiting: 0,
                rounds_left: 0,
                sent_at: Instant::now(),
                counter: ReplyCounter::default(),
            });
        }
        Ok(Loop {
            poll,
            events: Events::with_capacity(EVENTS_CAPACITY),
            conns,
            depth: workload.depth,
            buf: vec![0u8; READ_BUFFER_BYTES],
        })
    }

    /// Every connection does `job.rounds` rounds.
    pub(super) fn rounds(&mut self, job: &mut Job) -> io::Result<()> {
        if job.rounds == 0 {
            return Ok(());
        }
        let mut active = self.conns.len();
        for conn in &mut self.conns {
            conn.rounds_left = job.rounds;
            conn.start_round(self.depth)?;
        }
        while active > 0 {
            self.poll.poll(&mut self.events, Some(IO_TIMEOUT))?;
            if self.events.is_empty() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no reply from the server within the timeout"));
            }
            for event in self.events.iter() {
                let Some(conn) = self.conns.get_mut(event.token().0) else { continue };
                if conn.rounds_left == 0 {
                    continue;
                }
                if on_event(conn, &mut self.buf, self.depth, job.latency.as_mut())? {
                    active -= 1;
                }
            }
        }
        Ok(())
    }
}

/// A connection's socket is ready: continue its write, read what arrived, finish rounds and
/// start the next ones. True when the connection has done its last round of the job.
fn on_event(
    conn: &mut Conn,
    buf: &mut [u8],
    depth: usize,
    mut latency: Option<&mut Histogram<u64>>,
) -> io::Result<bool> {
    if !conn.write_done() {
        conn.write_more()?;
    }
    loop {
        let n = match conn.sock.read(buf) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "server closed the connection")),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let replies = conn.counter.feed(&buf[..n])?;
        if replies > conn.awaiting {
            return Err(invalid("server sent more replies than requests".into()));
        }
        if conn.counter.errors > 0 {
            return Err(io::Error::other("server answered with an error reply"));
        }
        if let Some(h) = latency.as_deref_mut().filter(|_| replies > 0) {
            let ns = u64::try_from(conn.sent_at.elapsed().as_nanos()).unwrap_or(u64::MAX);
            h.saturating_record_n(ns.clamp(1, LATENCY_NS_MAX), replies as u64);
        }
        conn.awaiting -= replies;
        if conn.awaiting == 0 && conn.write_done() {
            conn.rounds_left -= 1;
            conn.next_batch = (conn.next_batch + 1) % conn.batches.len();
            if conn.rounds_left == 0 {
                return Ok(true);
            }
            conn.start_round(depth)?;
        }
    }
}
