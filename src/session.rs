//! One client connection's protocol state, independent of how its bytes move: the resumable
//! parser, the unparsed tail of the input, the client's state (db, auth, name) and the output
//! buffer of encoded replies. Every engine owns one `Session` per connection and does just
//! two things with it: hand it received bytes ([`Session::feed`]) and send what it put in
//! [`Session::out`] (owned bytes, with references to big stored values spliced in rather than
//! copies of them: see `reply::out`).
//!
//! Input path: bytes are parsed in place from the slice the engine passes (for io_uring that
//! is the kernel-filled provided buffer); only an incomplete request's tail is copied into the
//! session's own buffer, and later bytes are appended to it. The parser resumes where it was.
//!
//! Backpressure: while `out` holds `--client-output-pause` bytes or more, the session stops
//! running requests; the rest of the input stays buffered and the engine should stop reading
//! from the socket ([`Session::wants_read`]) until it has sent some output and called
//! [`Session::resume`]. Memory per client is then bounded by that limit plus one reply plus
//! one read's worth of input.

use std::sync::atomic::Ordering::Relaxed;

use crate::clients::{ClientHandle, ConnInfo};
use crate::cmd::{self, ClientState, Ctx};
use crate::protocol::{Args, Limits, Parsed, Parser};
use crate::reply::{self, Out, Segments};
use crate::shared::Shared;

/// Buffered input is compacted (consumed prefix dropped) once the prefix is this large.
const INBUF_COMPACT_BYTES: usize = 64 * 1024;
/// An emptied input buffer keeps its allocation up to this capacity; a bigger one (after a
/// large request) is freed so an idle connection does not pin it.
pub const INBUF_KEEP_BYTES: usize = 64 * 1024;
/// The same bound for the output buffer once the engine has sent everything in it.
pub const OUT_KEEP_BYTES: usize = 64 * 1024;

/// Why a session wants its connection closed (after its output has been sent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// QUIT / EXIT.
    Quit,
    /// A protocol error reply was written.
    ProtocolError,
    /// Unparsed input passed `--client-query-buffer-limit`.
    QueryBufferLimit,
}

/// Before an event-loop engine's worker sleeps: hand the scripts its sessions submitted in
/// this loop iteration to the script executor, in one batch (sessions whose
/// `client.offload_scripts` the engine set; see [`crate::cmd::script::offload`]). True if
/// script replies may be on their way: wake for the first completion, not a batch.
pub fn flush_offloaded(shared: &Shared) -> bool {
    cmd::script::offload::flush(shared)
}

pub struct Session {
    pub client: ClientState,
    parser: Parser,
    args: Args,
    /// Unparsed input: `inbuf[in_start..]` begins at the current request's first byte.
    inbuf: Vec<u8>,
    in_start: usize,
    /// Encoded replies not yet handed to the kernel.
    pub out: Out,
    close: Option<CloseReason>,
    limits: Limits,
    /// Complete requests are buffered that backpressure kept from running.
    held: bool,
    /// Requests run on this connection so far (engines use it to see how requests arrive).
    commands: u64,
    /// `appendfsync always` on a ring-driven AOF: `(offset in out, journal number)` of each
    /// reply to a write, oldest first. Output from an offset on is held until the AOF is
    /// durable up to that number (see [`Session::sendable_len`]).
    holds: std::collections::VecDeque<(usize, u64)>,
}

impl Session {
    /// A session on no connection (unit tests, benches).
    pub fn new(shared: &Shared) -> Self {
        Self::for_conn(shared, ConnInfo::detached())
    }

    /// The session of a new connection, registered for CLIENT LIST and pub/sub.
    pub fn for_conn(shared: &Shared, info: ConnInfo) -> Self {
        let client = ClientState::for_conn(shared, info);
        let limits = Limits::new(shared.tunables.proto_max_bulk_len());
        Session {
            limits: if client.authenticated { limits } else { limits.unauthenticated() },
            client,
            parser: Parser::new(),
            args: Args::new(),
            inbuf: Vec::new(),
            in_start: 0,
            out: Out::for_conn(),
            close: None,
            held: false,
            commands: 0,
            holds: std::collections::VecDeque::new(),
        }
    }

    /// How much of `out` may be sent now: everything before the first reply to a write the
    /// AOF has not made durable yet (`appendfsync always`, ring-driven).
    pub fn sendable_len(&self, shared: &Shared) -> usize {
        let Some(&(offset, seq)) = self.holds.front() else { return self.out.len() };
        let durable = shared.persist.aof().map_or(u64::MAX, |a| a.durable_seq());
        if seq <= durable {
            // Later holds have higher numbers; find the first one still waiting.
            return self.holds.iter().find(|&&(_, s)| s > durable).map_or(self.out.len(), |&(o, _)| o);
        }
        offset
    }

    /// True while some reply waits for the AOF (the engine re-checks when it advances).
    pub fn waiting_durable(&self, shared: &Shared) -> bool {
        self.sendable_len(shared) < self.out.len()
    }

    /// True while `out` holds a reply to a write that was still waiting for the AOF when the
    /// output was last taken: the engine lists the connection and re-services it when the
    /// durable number advances. Unlike [`Session::waiting_durable`] this does not read the
    /// durable number again, so a flush that completes between the engine's send and this
    /// check cannot leave the reply unsent and the connection unlisted.
    pub fn holds_replies(&self) -> bool {
        !self.holds.is_empty()
    }

    /// Move what may be sent now into `dst` (which must be empty); the held rest stays.
    /// Referenced values move as references (never copied).
    pub fn take_sendable(&mut self, shared: &Shared, dst: &mut Segments) {
        debug_assert!(dst.is_empty());
        let n = self.sendable_len(shared);
        if n == self.out.len() {
            self.holds.clear();
            self.out.swap_segments(dst);
            return;
        }
        self.out.move_front(n, dst);
        self.holds.retain(|&(offset, _)| offset >= n);
        for hold in self.holds.iter_mut() {
            hold.0 -= n;
        }
    }

    /// How many requests this connection has run.
    pub fn commands_run(&self) -> u64 {
        self.commands
    }

    /// Set once the connection must be closed after `out` is sent. No more input is processed.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.close
    }

    /// Bytes of input received but not yet run (an incomplete request, or requests held back
    /// by backpressure).
    pub fn buffered_input(&self) -> usize {
        self.inbuf.len() - self.in_start
    }

    /// True when pending output is at or over `--client-output-pause`: no more requests run
    /// and the engine stops reading until some of it is sent.
    pub fn output_paused(&self, shared: &Shared) -> bool {
        self.out.len() as u64 >= shared.config.client_output_pause
    }

    /// True if requests are buffered that backpressure held back: call [`Session::resume`]
    /// once output has been sent.
    pub fn has_held_input(&self) -> bool {
        self.close.is_none() && self.held && self.client.blocked.is_none()
    }

    /// True while the client waits in a blocking command: nothing runs, input is buffered.
    pub fn blocked(&self) -> bool {
        self.client.blocked.is_some()
    }

    /// Handle bytes received from the client: run every complete request (until backpressure
    /// pauses), append replies to `out`, keep the incomplete tail.
    pub fn feed(&mut self, shared: &Shared, data: &[u8]) {
        if self.close.is_some() {
            return; // Closing: input after QUIT or a protocol error is discarded.
        }
        shared.stats.net_input_bytes.fetch_add(data.len() as u64, Relaxed);
        if self.buffered_input() == 0 {
            self.clear_input();
            let used = self.run(shared, data);
            if used < data.len() {
                self.inbuf.extend_from_slice(&data[used..]);
            }
        } else {
            self.inbuf.extend_from_slice(data);
            self.run_buffered(shared);
        }
        shared.note_input(self.buffered_input());
        self.check_query_buffer(shared);
    }

    /// The engine sent all of `out`: empty it, and free its allocation if a big reply grew it
    /// past [`OUT_KEEP_BYTES`].
    pub fn output_sent(&mut self) {
        self.out.clear_and_shrink(OUT_KEEP_BYTES);
    }

    /// Empty the input buffer, freeing it past [`INBUF_KEEP_BYTES`].
    fn clear_input(&mut self) {
        self.inbuf.clear();
        self.in_start = 0;
        if self.inbuf.capacity() > INBUF_KEEP_BYTES {
            self.inbuf = Vec::new();
        }
    }

    /// This connection as the rest of the server sees it.
    pub fn handle(&self) -> &std::sync::Arc<ClientHandle> {
        &self.client.handle
    }

    /// Take output other connections produced for this one (pub/sub messages, MONITOR
    /// lines) into `out`, after the replies already there. Returns true if the connection
    /// was killed (CLIENT KILL, output buffer limit): the engine closes it at once.
    pub fn pull_remote(&mut self) -> bool {
        if self.client.blocked.as_ref().is_some_and(|w| w.state() != crate::blocking::State::Blocked) {
            // The wait ended (served, timed out, unblocked): its reply is in the mail.
            self.client.blocked = None;
            self.held = self.buffered_input() > 0;
        }
        let handle = &self.client.handle;
        if handle.has_mail() {
            let mail = handle.take_mail();
            if self.out.is_empty() {
                self.out.set_bytes(mail);
            } else {
                self.out.extend_from_slice(&mail);
            }
            let pending = self.out.len();
            handle.publish(|s| s.pending_out = pending);
        }
        handle.killed()
    }

    /// Run requests that backpressure held back, once the engine has sent some output.
    pub fn resume(&mut self, shared: &Shared) {
        if self.has_held_input() {
            self.run_buffered(shared);
        }
    }

    /// Run what is in the input buffer.
    fn run_buffered(&mut self, shared: &Shared) {
        if self.close.is_some() || self.buffered_input() == 0 {
            self.held = false;
            return;
        }
        let inbuf = std::mem::take(&mut self.inbuf);
        let used = self.run(shared, &inbuf[self.in_start..]);
        self.inbuf = inbuf;
        self.in_start += used;
        if self.in_start == self.inbuf.len() {
            self.clear_input();
        } else if self.in_start >= INBUF_COMPACT_BYTES {
            self.inbuf.drain(..self.in_start);
            self.in_start = 0;
        }
    }

    fn check_query_buffer(&mut self, shared: &Shared) {
        if self.close.is_none() && self.buffered_input() as u64 > shared.tunables.client_query_buffer_limit() {
            // Redis logs and drops such a client without a reply.
            tracing::warn!(client = self.client.id, "closing client that reached max query buffer length");
            self.close = Some(CloseReason::QueryBufferLimit);
            self.inbuf = Vec::new();
            self.in_start = 0;
        }
    }

    /// Parse and execute requests from `buf` (which starts at a request boundary or at the
    /// parser's resume point). Returns how many bytes were fully consumed.
    fn run(&mut self, shared: &Shared, buf: &[u8]) -> usize {
        let mut pos = 0;
        let out_start = self.out.len();
        let pause = shared.config.client_output_pause;
        let mut last: Option<(&'static str, u64)> = None;
        // One clock reading per batch of requests (Redis caches the command time per event
        // loop iteration too): every request of the batch sees the same time.
        let now_ms = crate::store::now_ms();
        // The batch's first command is timed from here (see cmd::timing).
        self.client.timing.start_batch();
        let mut wait_for_seq = 0;
        self.held = false;
        // The isolation read side, taken by the batch's first command and kept for the rest
        // (cmd::execute_batched); released when the batch ends.
        let mut read = cmd::BatchRead::new(shared);
        // AOF on: the batch's small writes are filled into the journal together at its end.
        let fills = shared.store.journal().enabled_relaxed().then(crate::store::journal::BatchFills::begin);
        while pos < buf.len() && self.close.is_none() {
            if self.client.blocked.is_some() {
                self.held = true; // runs once the wait ends
                break;
            }
            if self.out.len() as u64 >= pause {
                self.held = true;
                break;
            }
            match self.parser.parse(&buf[pos..], &self.limits, &mut self.args) {
                Ok(Parsed::Complete { consumed }) => {
                    if !self.args.is_empty() {
                        let argv = self.args.argv(&buf[pos..]);
                        let was_authenticated = self.client.authenticated;
                        let reply_start = self.out.len();
                        let seq_before = self.client.write_seq;
                        let mut ctx = Ctx { shared, client: &mut self.client, out: &mut self.out, now_ms };
                        let name = cmd::execute_batched(&mut ctx, argv, &mut read).map_or("NULL", |c| c.name);
                        if self.client.postponed {
                            // CLIENT PAUSE: the request stays unconsumed and runs again later.
                            self.client.postponed = false;
                            self.held = true;
                            break;
                        }
                        let (keep, next) = self.client.reply_mode.after_command();
                        if !keep {
                            self.out.truncate(reply_start);
                        }
                        if self.client.write_seq != seq_before {
                            wait_for_seq = self.hold_reply(shared, reply_start).max(wait_for_seq);
                        }
                        self.client.reply_mode = next;
                        last = Some((name, now_ms));
                        self.commands += 1;
                        if self.client.authenticated && !was_authenticated {
                            self.limits = Limits::new(shared.tunables.proto_max_bulk_len());
                        }
                        if self.client.close_after_reply {
                            self.close = Some(CloseReason::Quit);
                        }
                    }
                    pos += consumed;
                }
                Ok(Parsed::Incomplete) => break,
                Err(e) => {
                    shared.stats.protocol_errors.fetch_add(1, Relaxed);
                    reply::error(&mut self.out, &e.message());
                    self.close = Some(CloseReason::ProtocolError);
                    self.inbuf = Vec::new();
                    self.in_start = 0;
                    return buf.len();
                }
            }
        }
        // The batch's run of fast commands ends here (cmd::timing).
        cmd::timing::close(shared, &mut self.client);
        // Filled before the replies wait for (or are sent ahead of) the AOF.
        drop(fills);
        // Released before waiting for the AOF: a wait must not hold up EXEC or a rewrite.
        drop(read);
        if wait_for_seq > 0 {
            if let Some(aof) = shared.persist.aof() {
                aof.wait_durable(wait_for_seq);
            }
        }
        shared.note_output(self.out.len());
        let produced = self.out.len().saturating_sub(out_start) as u64;
        shared.stats.net_output_bytes.fetch_add(produced, Relaxed);
        if let Some((cmd, now_ms)) = last {
            self.publish_snapshot(cmd, now_ms);
        }
        pos
    }

    /// The request whose reply starts at `reply_start` changed the keyspace. With
    /// `appendfsync always` its reply must wait for the fdatasync covering it: held (ring
    /// engine, which flushes and re-checks) or waited for at the end of this batch (returns
    /// the number to wait for; 0 = nothing to wait for).
    fn hold_reply(&mut self, shared: &Shared, reply_start: usize) -> u64 {
        let Some(aof) = shared.persist.aof() else { return 0 };
        let seq = self.client.write_seq;
        if aof.policy() != crate::config::AppendFsync::Always || aof.durable_seq() >= seq {
            return 0;
        }
        if aof.ring_driven() {
            self.holds.push_back((reply_start, seq));
            return 0;
        }
        seq
    }

    /// Publish what CLIENT LIST shows of this connection: once per batch of requests, under
    /// the handle's own (uncontended) lock.
    fn publish_snapshot(&self, cmd: &'static str, now_ms: u64) {
        let c = &self.client;
        c.handle.publish(|s| {
            s.db = c.db;
            s.cmd = cmd;
            s.last_ms = now_ms;
            s.resp = if self.out.resp3() { 3 } else { 2 };
            s.sub = c.subs.channels.len();
            s.psub = c.subs.patterns.len();
            s.ssub = c.subs.shard.len();
            s.monitor = c.monitor;
            s.pending_out = self.out.len();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use clap::Parser as _;

    fn shared(args: &[&str]) -> Shared {
        Shared::new(Config::parse_from(std::iter::once("ringkv-server").chain(args.iter().copied())))
    }

    fn resp(args: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        crate::client::encode_command(&mut out, args);
        out
    }

    fn take_out(s: &mut Session) -> String {
        String::from_utf8_lossy(&s.out.take()).into_owned()
    }

    #[test]
    fn hello_switches_the_protocol_for_the_following_requests() {
        // The protocol lives with `out`: HELLO 3 in one feed, the next feed (after the engine
        // took the bytes) still replies in RESP3, until HELLO 2 switches back.
        let shared = shared(&[]);
        let mut s = Session::new(&shared);
        s.feed(&shared, &resp(&[b"HELLO", b"3"]));
        assert!(take_out(&mut s).starts_with("%7\r\n"));
        s.feed(&shared, &resp(&[b"GET", b"nokey"]));
        assert_eq!(take_out(&mut s), "_\r\n");
        s.feed(&shared, &[resp(&[b"HELLO", b"2"]), resp(&[b"GET", b"nokey"])].concat());
        let out = take_out(&mut s);
        assert!(out.starts_with("*14\r\n") && out.ends_with("$-1\r\n"), "{out}");
    }

    #[test]
    fn unauthenticated_limits_apply_until_auth() {
        // Before AUTH, 11 elements or a 16385-byte bulk is a protocol error that closes the
        // connection; after AUTH (or HELLO ... AUTH) on the same connection both are fine.
        let shared = shared(&["--requirepass", "pw"]);
        let eleven: Vec<&[u8]> = vec![b"x"; 11];
        let mut s = Session::new(&shared);
        s.feed(&shared, &resp(&eleven));
        assert_eq!(take_out(&mut s), "-ERR Protocol error: unauthenticated multibulk length\r\n");
        assert_eq!(s.close_reason(), Some(CloseReason::ProtocolError));

        let big = vec![b'v'; 16385];
        let mut s = Session::new(&shared);
        s.feed(&shared, &resp(&[b"AUTH", &big]));
        assert_eq!(take_out(&mut s), "-ERR Protocol error: unauthenticated bulk length\r\n");
        assert_eq!(s.close_reason(), Some(CloseReason::ProtocolError));

        for auth in [resp(&[b"AUTH", b"pw"]), resp(&[b"HELLO", b"2", b"AUTH", b"default", b"pw"])] {
            let mut s = Session::new(&shared);
            let mut input = auth;
            input.extend(resp(&[b"MSET", b"a", b"1", b"b", b"2", b"c", b"3", b"d", b"4", b"e", b"5"]));
            input.extend(resp(&[b"SET", b"big", &big]));
            input.extend(resp(&[b"STRLEN", b"big"]));
            s.feed(&shared, &input);
            let out = take_out(&mut s);
            assert!(out.ends_with("+OK\r\n+OK\r\n:16385\r\n"), "{out}");
            assert_eq!(s.close_reason(), None);
        }
        // Without a password the big limits apply from the start.
        let open = self::shared(&[]);
        let mut s = Session::new(&open);
        s.feed(&open, &resp(&eleven));
        assert_eq!(
            take_out(&mut s),
            "-ERR unknown command 'x', with args beginning with: 'x' 'x' 'x' 'x' 'x' 'x' 'x' 'x' 'x' 'x' \r\n"
        );
    }

    #[test]
    fn backpressure_holds_requests_until_output_is_taken() {
        // With 1 KiB of pending output allowed, a pipeline of 100 GETs of a 600-byte value
        // stops after two replies; each resume after the output is taken runs two more, in
        // order, until all 100 replies came out.
        let shared = shared(&["--client-output-pause", "1kb"]);
        let mut s = Session::new(&shared);
        s.feed(&shared, &resp(&[b"SET", b"k", &[b'z'; 600]]));
        assert_eq!(take_out(&mut s), "+OK\r\n");
        let get = resp(&[b"GET", b"k"]);
        s.feed(&shared, &get.repeat(100));
        let reply_len = "$600\r\n".len() + 602;
        let mut replies = 0;
        for _ in 0..100 {
            assert!(s.out.len() < 1024 + reply_len, "pending output is bounded");
            replies += s.out.len() / reply_len;
            s.out.clear();
            if !s.has_held_input() {
                break;
            }
            assert!(!s.output_paused(&shared));
            s.resume(&shared);
        }
        assert_eq!(replies, 100);
        assert_eq!(s.buffered_input(), 0);
    }

    #[test]
    fn query_buffer_limit_closes_without_reply() {
        // An incomplete request bigger than --client-query-buffer-limit closes the client.
        let shared = shared(&["--client-query-buffer-limit", "1kb"]);
        let mut s = Session::new(&shared);
        s.feed(&shared, b"*2\r\n$3\r\nGET\r\n$5000\r\n");
        s.feed(&shared, &[b'a'; 1000]);
        assert_eq!(s.close_reason(), None);
        s.feed(&shared, &[b'a'; 100]);
        assert_eq!(s.close_reason(), Some(CloseReason::QueryBufferLimit));
        assert!(s.out.is_empty());
        assert_eq!(s.buffered_input(), 0);
        s.feed(&shared, b"PING\r\n");
        assert!(s.out.is_empty(), "input after the close is ignored");
    }

    #[test]
    fn client_reply_off_skip_on() {
        // OFF drops every reply (its own too), SKIP drops its own and the next one, ON
        // answers OK and replies again: only the last two replies come out.
        let shared = shared(&[]);
        let mut s = Session::new(&shared);
        s.feed(&shared, b"CLIENT REPLY OFF\r\nSET a 1\r\nCLIENT REPLY ON\r\nCLIENT REPLY SKIP\r\nGET a\r\nGET a\r\n");
        assert_eq!(take_out(&mut s), "+OK\r\n$1\r\n1\r\n");
        s.feed(&shared, b"CLIENT REPLY SKIP\r\nPING\r\nPING\r\n");
        assert_eq!(take_out(&mut s), "+PONG\r\n");
        s.feed(&shared, b"CLIENT REPLY MAYBE\r\n");
        assert_eq!(take_out(&mut s), "-ERR syntax error\r\n");
    }
}
