//! One client connection's protocol state, independent of how its bytes move: the resumable
//! parser, the unparsed tail of the input, the client's state (db, auth, name) and the output
//! buffer of encoded replies. Every engine owns one `Session` per connection and does just
//! two things with it: hand it received bytes ([`Session::feed`]) and send what it put in
//! [`Session::out`].
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

use crate::cmd::{self, ClientState, Ctx};
use crate::protocol::{Args, Limits, Parsed, Parser};
use crate::reply;
use crate::shared::Shared;

/// Buffered input is compacted (consumed prefix dropped) once the prefix is this large.
const INBUF_COMPACT_BYTES: usize = 64 * 1024;

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

pub struct Session {
    pub client: ClientState,
    parser: Parser,
    args: Args,
    /// Unparsed input: `inbuf[in_start..]` begins at the current request's first byte.
    inbuf: Vec<u8>,
    in_start: usize,
    /// Encoded replies not yet handed to the kernel.
    pub out: Vec<u8>,
    close: Option<CloseReason>,
    limits: Limits,
    /// Complete requests are buffered that backpressure kept from running.
    held: bool,
}

impl Session {
    pub fn new(shared: &Shared) -> Self {
        let client = ClientState::new(shared);
        let limits = Limits::new(shared.config.proto_max_bulk_len);
        Session {
            limits: if client.authenticated { limits } else { limits.unauthenticated() },
            client,
            parser: Parser::new(),
            args: Args::new(),
            inbuf: Vec::new(),
            in_start: 0,
            out: Vec::new(),
            close: None,
            held: false,
        }
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

    /// True when the engine should keep reading from the socket: not closing and not paused
    /// by a large pending output.
    pub fn wants_read(&self, shared: &Shared) -> bool {
        self.close.is_none() && (self.out.len() as u64) < shared.config.client_output_pause
    }

    /// True if requests are buffered that backpressure held back: call [`Session::resume`]
    /// once output has been sent.
    pub fn has_held_input(&self) -> bool {
        self.close.is_none() && self.held
    }

    /// Handle bytes received from the client: run every complete request (until backpressure
    /// pauses), append replies to `out`, keep the incomplete tail.
    pub fn feed(&mut self, shared: &Shared, data: &[u8]) {
        if self.close.is_some() {
            return; // Closing: input after QUIT or a protocol error is discarded.
        }
        if self.buffered_input() == 0 {
            self.inbuf.clear();
            self.in_start = 0;
            let used = self.run(shared, data);
            if used < data.len() {
                self.inbuf.extend_from_slice(&data[used..]);
            }
        } else {
            self.inbuf.extend_from_slice(data);
            self.run_buffered(shared);
        }
        self.check_query_buffer(shared);
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
            self.inbuf.clear();
            self.in_start = 0;
        } else if self.in_start >= INBUF_COMPACT_BYTES {
            self.inbuf.drain(..self.in_start);
            self.in_start = 0;
        }
    }

    fn check_query_buffer(&mut self, shared: &Shared) {
        if self.close.is_none() && self.buffered_input() as u64 > shared.config.client_query_buffer_limit {
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
        let pause = shared.config.client_output_pause;
        self.held = false;
        while pos < buf.len() && self.close.is_none() {
            if self.out.len() as u64 >= pause {
                self.held = true;
                break;
            }
            match self.parser.parse(&buf[pos..], &self.limits, &mut self.args) {
                Ok(Parsed::Complete { consumed }) => {
                    if !self.args.is_empty() {
                        let argv = self.args.argv(&buf[pos..]);
                        let was_authenticated = self.client.authenticated;
                        let mut ctx = Ctx {
                            shared,
                            client: &mut self.client,
                            out: &mut self.out,
                            now_ms: crate::store::now_ms(),
                        };
                        cmd::execute(&mut ctx, argv);
                        if self.client.authenticated && !was_authenticated {
                            self.limits = Limits::new(shared.config.proto_max_bulk_len);
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
        shared.note_output(self.out.len());
        pos
    }
}
