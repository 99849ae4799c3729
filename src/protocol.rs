//! RESP2 request parser: multibulk (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) and inline (`GET k\r\n`).
//!
//! Why it looks like this: every engine (threads, epoll, io_uring) hands the parser whatever
//! bytes arrived, possibly straight out of a kernel-filled provided buffer. So the parser is
//! pure (bytes in, "complete after `consumed` bytes" / "incomplete" / protocol error out),
//! never does I/O, and is *resumable*: when a request is split over many reads the parser keeps
//! its position (`Parser` state) and does not rescan what it already validated. The caller keeps
//! the unconsumed tail of the request and passes it again (with more bytes appended) — the
//! buffer handed to [`Parser::parse`] always starts at the first byte of the current request.
//!
//! Arguments are returned as byte ranges into that buffer ([`Args`], viewed through [`Argv`]),
//! so a multibulk request is parsed without copying. Inline requests may need unquoting
//! (`SET k "a b"`), so their arguments live in the `Args` scratch buffer instead.
//!
//! Limits and error texts are Redis's (src/networking.c, processInlineBuffer and
//! processMultibulkBuffer), because clients and test suites match on them.

use std::ops::Range;

use crate::args::parse_i64;

/// Longest inline request line (Redis's PROTO_INLINE_MAX_SIZE): a newline must show up within
/// this many bytes or the client gets `too big inline request` and is closed.
pub const INLINE_MAX_BYTES: usize = 64 * 1024;
/// Longest `*<count>` / `$<len>` header line before its `\r\n` (Redis: 64 KiB as well for the
/// whole line; a count that long is nonsense, so we reject it early with Redis's texts
/// `too big mbulk count string` / `too big bulk count string`).
pub const HEADER_LINE_MAX_BYTES: usize = 64 * 1024;
/// Largest multibulk element count Redis accepts (INT_MAX).
pub const MULTIBULK_COUNT_MAX: i64 = i32::MAX as i64;
/// Before AUTH, Redis accepts at most 10 elements and 16 KiB bulks (networking.c), so a client
/// that has not proved it knows the password cannot make the server buffer much for it.
pub const UNAUTH_MULTIBULK_COUNT_MAX: i64 = 10;
/// See [`UNAUTH_MULTIBULK_COUNT_MAX`].
pub const UNAUTH_BULK_LEN_MAX: i64 = 16 * 1024;
/// Never preallocate more argument slots than this from a count the client sent.
pub const ARGS_PREALLOC_MAX: usize = 1024;

/// Per-connection parse limits (from the server config, tightened before AUTH).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `--proto-max-bulk-len`: longest bulk string accepted.
    pub bulk_len_max: i64,
    /// Largest multibulk element count accepted.
    pub multibulk_count_max: i64,
    /// The client has not authenticated yet: counts over [`UNAUTH_MULTIBULK_COUNT_MAX`] and
    /// bulks over [`UNAUTH_BULK_LEN_MAX`] are refused with Redis's `unauthenticated` texts.
    pub unauthenticated: bool,
}

impl Limits {
    /// The limits for an authenticated (or no-password) client.
    pub fn new(proto_max_bulk_len: u64) -> Self {
        Limits {
            bulk_len_max: proto_max_bulk_len.min(i64::MAX as u64) as i64,
            multibulk_count_max: MULTIBULK_COUNT_MAX,
            unauthenticated: false,
        }
    }
    /// Redis's limits for a client that has not authenticated yet.
    pub fn unauthenticated(self) -> Self {
        Limits { unauthenticated: true, ..self }
    }
}

/// A protocol error. The client gets `-ERR Protocol error: <text>\r\n` and is then closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    TooBigInline,
    UnbalancedQuotes,
    TooBigMbulkCount,
    InvalidMultibulkLength,
    TooBigBulkCount,
    /// `expected '$', got '<byte>'`
    ExpectedDollar(u8),
    InvalidBulkLength,
    /// A count over [`UNAUTH_MULTIBULK_COUNT_MAX`] before AUTH.
    UnauthenticatedMultibulkLength,
    /// A bulk over [`UNAUTH_BULK_LEN_MAX`] bytes before AUTH.
    UnauthenticatedBulkLength,
}

impl ProtocolError {
    /// The full error reply line without the leading `-` and trailing CRLF, exactly as Redis
    /// words it, e.g. `ERR Protocol error: invalid bulk length`.
    pub fn message(&self) -> String {
        let detail = match self {
            ProtocolError::TooBigInline => "too big inline request".to_string(),
            ProtocolError::UnbalancedQuotes => "unbalanced quotes in request".to_string(),
            ProtocolError::TooBigMbulkCount => "too big mbulk count string".to_string(),
            ProtocolError::InvalidMultibulkLength => "invalid multibulk length".to_string(),
            ProtocolError::TooBigBulkCount => "too big bulk count string".to_string(),
            // Redis turns CR and LF in error replies into spaces, so the reply stays one line.
            ProtocolError::ExpectedDollar(b'\r' | b'\n') => "expected '$', got ' '".to_string(),
            ProtocolError::ExpectedDollar(b) => format!("expected '$', got '{}'", *b as char),
            ProtocolError::InvalidBulkLength => "invalid bulk length".to_string(),
            ProtocolError::UnauthenticatedMultibulkLength => "unauthenticated multibulk length".to_string(),
            ProtocolError::UnauthenticatedBulkLength => "unauthenticated bulk length".to_string(),
        };
        format!("ERR Protocol error: {detail}")
    }
}

/// What one call to [`Parser::parse`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole request: its arguments are in the `Args` passed in (possibly zero arguments, e.g.
    /// an empty inline line or `*0\r\n`, which the caller skips), and it used the first
    /// `consumed` bytes of the buffer.
    Complete { consumed: usize },
    /// More bytes are needed. Call again later with the same buffer start plus more bytes.
    Incomplete,
}

/// The arguments of one parsed request. Reused across requests to avoid allocating.
#[derive(Default, Debug)]
pub struct Args {
    ranges: Vec<Range<usize>>,
    /// Inline requests: unquoted argument bytes; `ranges` then index into this.
    scratch: Vec<u8>,
    inline: bool,
}

impl Args {
    pub fn new() -> Self {
        Self::default()
    }
    /// Number of arguments (including the command name).
    pub fn len(&self) -> usize {
        self.ranges.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
    /// View the arguments over `buf`, the same buffer that was passed to `parse`.
    pub fn argv<'a>(&'a self, buf: &'a [u8]) -> Argv<'a> {
        let base = if self.inline { &self.scratch[..] } else { buf };
        Argv { base, ranges: &self.ranges }
    }
}

/// A borrowed view of a request's arguments: `argv.get(0)` is the command name.
#[derive(Clone, Copy, Debug)]
pub struct Argv<'a> {
    base: &'a [u8],
    ranges: &'a [Range<usize>],
}

impl<'a> Argv<'a> {
    /// Build a view from owned slices' backing data (used by tests and the CLI).
    pub fn from_parts(base: &'a [u8], ranges: &'a [Range<usize>]) -> Self {
        Argv { base, ranges }
    }
    pub fn len(&self) -> usize {
        self.ranges.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
    /// Argument `i`; panics if `i >= len()` (arity is checked before commands run).
    pub fn get(&self, i: usize) -> &'a [u8] {
        &self.base[self.ranges[i].clone()]
    }
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        let base = self.base;
        self.ranges.iter().map(move |r| &base[r.clone()])
    }
}

/// The parser gives back a `Vec` of argument slots bigger than this after a huge request, so one
/// 100k-argument `MSET` does not pin 1.6 MB per connection forever (16 bytes per slot).
const ARGS_RETAIN_MAX: usize = 64 * 1024;

/// Resumable parser state for one connection.
///
/// The state machine, per request (offsets are into the buffer, which starts at the request):
///
/// ```text
///            first byte '*'                        count <= 0: Complete
///   Idle ──────────────────► CountLine ──────────────────────────────────────►
///     │                          │ count > 0
///     │ any other byte           ▼
///     ▼                     BulkLenLine ◄────────────┐ more elements
///   Inline ──► Complete          │ `$<len>` valid    │
///   (line found, split)          ▼                   │
///                            BulkBody ───────────────┘ last element: Complete
/// ```
///
/// `Inline`, `CountLine` and `BulkLenLine` remember how far the line-end search got, so a line
/// arriving in pieces is scanned once; `BulkBody` only compares the buffer length with the bulk
/// length, so receiving a huge value costs O(1) per call. Multibulk argument ranges collect in
/// `Parser::ranges` (not in the caller's `Args`), so nothing depends on the caller passing the
/// same `Args` to every call; on `Complete` the two vectors are swapped, so both are reused.
#[derive(Default, Debug)]
pub struct Parser {
    state: State,
    /// Ranges of the multibulk elements read so far for the current request.
    ranges: Vec<Range<usize>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    /// Nothing of the current request has been looked at.
    #[default]
    Idle,
    /// Inline request: no `\n` in `buf[..scanned]`.
    Inline { scanned: usize },
    /// `*<count>` line at offset 0: no usable `\r` in `buf[1..scanned]`.
    CountLine { scanned: usize },
    /// `$<len>` line at `start`: no usable `\r` in `buf[start..scanned]`; `remaining` elements
    /// (this one included) are still to come.
    BulkLenLine { start: usize, scanned: usize, remaining: u64 },
    /// Body of `len` bytes plus its two terminator bytes, starting at `start`.
    BulkBody { start: usize, len: u64, remaining: u64 },
}

impl State {
    /// The furthest buffer offset this state relies on having seen.
    fn offset(&self) -> usize {
        match *self {
            State::Idle => 0,
            State::Inline { scanned } | State::CountLine { scanned } => scanned,
            State::BulkLenLine { scanned, .. } => scanned,
            State::BulkBody { start, .. } => start,
        }
    }
}

/// Where the end of a line is.
enum Line {
    /// The terminator is at this offset.
    Found(usize),
    /// Not yet; the search may resume at `scanned`.
    Missing { scanned: usize },
    /// No terminator within the line's byte limit.
    TooLong,
}

impl Parser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parse one request from `buf`, which starts at the first byte of the current request.
    /// On `Complete`, `args` holds the request and the parser is reset for the next one.
    /// On `Incomplete`, the parser remembers how far it got; the next call must pass a buffer
    /// with the same first bytes (the unconsumed tail plus whatever arrived since).
    /// On error the connection must be closed after the error reply is written.
    pub fn parse(&mut self, buf: &[u8], limits: &Limits, args: &mut Args) -> Result<Parsed, ProtocolError> {
        debug_assert!(self.state.offset() <= buf.len(), "buffer shrank between parse calls");
        if self.state.offset() > buf.len() {
            // The caller broke the contract. Starting over is always correct, only slower.
            self.state = State::Idle;
        }
        if matches!(self.state, State::Idle) && buf.first() == Some(&b'*') && !limits.unauthenticated {
            if let Some(consumed) = parse_whole(buf, limits, &mut args.ranges) {
                args.inline = false;
                return Ok(Parsed::Complete { consumed });
            }
        }
        let result = self.run(buf, limits, args);
        if result != Ok(Parsed::Incomplete) {
            self.state = State::Idle;
        }
        result
    }

    /// Step the state machine until the request is complete, incomplete or invalid.
    fn run(&mut self, buf: &[u8], limits: &Limits, args: &mut Args) -> Result<Parsed, ProtocolError> {
        loop {
            let step = match self.state {
                State::Idle => match buf.first() {
                    None => Some(Parsed::Incomplete),
                    Some(b'*') => {
                        self.state = State::CountLine { scanned: 1 };
                        None
                    }
                    Some(_) => {
                        self.state = State::Inline { scanned: 0 };
                        None
                    }
                },
                State::Inline { scanned } => Some(self.inline_line(buf, scanned, args)?),
                State::CountLine { scanned } => self.count_line(buf, scanned, limits, args)?,
                State::BulkLenLine { start, scanned, remaining } => {
                    self.bulk_len_line(buf, start, scanned, remaining, limits)?
                }
                State::BulkBody { start, len, remaining } => self.bulk_body(buf, start, len, remaining, args),
            };
            if let Some(parsed) = step {
                return Ok(parsed);
            }
        }
    }

    /// `Inline`: find the `\n`, then split the line into `args.scratch`.
    fn inline_line(&mut self, buf: &[u8], scanned: usize, args: &mut Args) -> Result<Parsed, ProtocolError> {
        let lf = match find_line(buf, 0, scanned, b'\n', INLINE_MAX_BYTES) {
            Line::Found(lf) => lf,
            Line::Missing { scanned } => {
                self.state = State::Inline { scanned };
                return Ok(Parsed::Incomplete);
            }
            Line::TooLong => return Err(ProtocolError::TooBigInline),
        };
        let line = &buf[..lf];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        split_inline(line, args)?;
        Ok(Parsed::Complete { consumed: lf + 1 })
    }

    /// `CountLine`: read `*<count>`. Returns the result if the request ends here.
    fn count_line(
        &mut self,
        buf: &[u8],
        scanned: usize,
        limits: &Limits,
        args: &mut Args,
    ) -> Result<Option<Parsed>, ProtocolError> {
        let cr = match header_line(buf, 0, scanned) {
            Line::Found(cr) => cr,
            Line::Missing { scanned } => {
                self.state = State::CountLine { scanned };
                return Ok(Some(Parsed::Incomplete));
            }
            Line::TooLong => return Err(ProtocolError::TooBigMbulkCount),
        };
        let count = parse_i64(&buf[1..cr])
            .filter(|&count| count <= limits.multibulk_count_max)
            .ok_or(ProtocolError::InvalidMultibulkLength)?;
        // Checked after the general limit, as Redis does (so `*99999999999` stays "invalid").
        if limits.unauthenticated && count > UNAUTH_MULTIBULK_COUNT_MAX {
            return Err(ProtocolError::UnauthenticatedMultibulkLength);
        }
        let next = cr + 2;
        if count <= 0 {
            args.ranges.clear();
            args.inline = false;
            return Ok(Some(Parsed::Complete { consumed: next }));
        }
        let count = count as u64;
        self.ranges.clear();
        if self.ranges.capacity() > ARGS_RETAIN_MAX {
            self.ranges.shrink_to(ARGS_RETAIN_MAX);
        }
        // Never trust the count for memory: the slots fill as elements actually arrive.
        self.ranges.reserve(count.min(ARGS_PREALLOC_MAX as u64) as usize);
        self.state = State::BulkLenLine { start: next, scanned: next, remaining: count };
        Ok(None)
    }

    /// `BulkLenLine`: read `$<len>`. Returns `Incomplete` if the line is not all there yet.
    fn bulk_len_line(
        &mut self,
        buf: &[u8],
        start: usize,
        scanned: usize,
        remaining: u64,
        limits: &Limits,
    ) -> Result<Option<Parsed>, ProtocolError> {
        let cr = match header_line(buf, start, scanned) {
            Line::Found(cr) => cr,
            Line::Missing { scanned } => {
                self.state = State::BulkLenLine { start, scanned, remaining };
                return Ok(Some(Parsed::Incomplete));
            }
            Line::TooLong => return Err(ProtocolError::TooBigBulkCount),
        };
        // Like Redis, the `$` is checked only once the whole line is there.
        let first = buf[start];
        if first != b'$' {
            return Err(ProtocolError::ExpectedDollar(first));
        }
        let len = parse_i64(&buf[start + 1..cr])
            .filter(|len| (0..=limits.bulk_len_max).contains(len))
            .ok_or(ProtocolError::InvalidBulkLength)?;
        if limits.unauthenticated && len > UNAUTH_BULK_LEN_MAX {
            return Err(ProtocolError::UnauthenticatedBulkLength);
        }
        self.state = State::BulkBody { start: cr + 2, len: len as u64, remaining };
        Ok(None)
    }

    /// `BulkBody`: wait for `len + 2` bytes, record the element. Returns the result if the
    /// request is complete or more bytes are needed.
    fn bulk_body(&mut self, buf: &[u8], start: usize, len: u64, remaining: u64, args: &mut Args) -> Option<Parsed> {
        debug_assert!(remaining > 0);
        // `len <= i64::MAX`, so `len + 2` cannot overflow.
        if ((buf.len() - start) as u64) < len + 2 {
            return Some(Parsed::Incomplete);
        }
        // Fits: it is at most the buffer length. Like Redis, the two bytes after the body are
        // taken to be `\r\n` without looking at them.
        let end = start + len as usize;
        self.ranges.push(start..end);
        let next = end + 2;
        if remaining == 1 {
            std::mem::swap(&mut self.ranges, &mut args.ranges);
            args.inline = false;
            return Some(Parsed::Complete { consumed: next });
        }
        self.state = State::BulkLenLine { start: next, scanned: next, remaining: remaining - 1 };
        None
    }
}

/// Most elements a request may have for [`parse_whole`] (longer ones take the state machine).
const WHOLE_ARGS_MAX: u64 = 64;
/// Most digits of a count or length [`parse_whole`] reads (fits a `u64` without overflow).
const WHOLE_DIGITS_MAX: usize = 18;

/// The fast path for the common case: a whole, small multibulk request already in `buf`
/// (starting with `*`), parsed in one pass into `ranges` without the resumable state machine.
/// Returns the bytes consumed, or `None` for anything else (incomplete, more than
/// [`WHOLE_ARGS_MAX`] elements, a number not in plain form, any error), after which the state
/// machine parses the same bytes from the start: every outcome other than the plain one stays
/// the state machine's, and `ranges` is then overwritten.
#[inline]
fn parse_whole(buf: &[u8], limits: &Limits, ranges: &mut Vec<Range<usize>>) -> Option<usize> {
    let (count, mut pos) = plain_number(buf, 1)?;
    if count == 0 || count > WHOLE_ARGS_MAX {
        return None;
    }
    ranges.clear();
    for _ in 0..count {
        if *buf.get(pos)? != b'$' {
            return None;
        }
        let (len, body) = plain_number(buf, pos + 1)?;
        if len > limits.bulk_len_max as u64 {
            return None;
        }
        let end = body.checked_add(len as usize)?;
        if end.checked_add(2)? > buf.len() {
            return None;
        }
        ranges.push(body..end);
        pos = end + 2;
    }
    Some(pos)
}

/// The decimal number at `buf[at..]` ending at a `\r` whose next byte has arrived too (as
/// [`header_line`] wants), and the position after that `\r\n`: digits only, at most
/// [`WHOLE_DIGITS_MAX`], no leading zero (what [`parse_i64`] accepts as non-negative).
#[inline]
fn plain_number(buf: &[u8], at: usize) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    let mut i = at;
    loop {
        let b = *buf.get(i)?;
        if b == b'\r' {
            break;
        }
        if !b.is_ascii_digit() || i - at == WHOLE_DIGITS_MAX {
            return None;
        }
        value = value * 10 + u64::from(b - b'0');
        i += 1;
    }
    let digits = i - at;
    if digits == 0 || (digits > 1 && buf[at] == b'0') || i + 1 >= buf.len() {
        return None;
    }
    Some((value, i + 2))
}

/// Search `needle`, the terminator of the line starting at `start`, resuming at `scanned`. The
/// terminator may be at most `line_max` bytes after `start` (Redis errors once more than
/// `line_max` bytes are buffered without it; checking the position instead makes the outcome
/// independent of how the bytes were split into reads).
fn find_line(buf: &[u8], start: usize, scanned: usize, needle: u8, line_max: usize) -> Line {
    let window_end = buf.len().min(start.saturating_add(line_max).saturating_add(1));
    debug_assert!(start <= scanned && scanned <= window_end);
    match buf[scanned..window_end].iter().position(|&b| b == needle) {
        Some(i) => Line::Found(scanned + i),
        None if window_end - start > line_max => Line::TooLong,
        None => Line::Missing { scanned: window_end },
    }
}

/// A `*<count>` / `$<len>` line: like Redis it ends at the first `\r`, and the byte after it
/// (a `\n` in any sane request; Redis does not check) must have arrived too.
fn header_line(buf: &[u8], start: usize, scanned: usize) -> Line {
    match find_line(buf, start, scanned, b'\r', HEADER_LINE_MAX_BYTES) {
        Line::Found(cr) if cr + 1 >= buf.len() => Line::Missing { scanned: cr },
        line => line,
    }
}

/// Split an inline line into `args.scratch` with the shared `sdssplitargs` rules
/// ([`crate::args::split_into`]: quotes, escapes, and a NUL byte ending the line). Redis's own
/// inline reader looks for the line end with `strchr`, so a NUL there makes it wait for input
/// that never completes the request; ringkv finds the line end and applies the same rules
/// `redis-cli` does.
fn split_inline(line: &[u8], args: &mut Args) -> Result<(), ProtocolError> {
    args.inline = true;
    args.ranges.clear();
    args.scratch.clear();
    crate::args::split_into(line, &mut args.scratch, &mut args.ranges).map_err(|_| ProtocolError::UnbalancedQuotes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What one parse produced: the arguments and bytes consumed, `None` for incomplete.
    type Outcome = Result<Option<(Vec<Vec<u8>>, usize)>, ProtocolError>;

    fn limits() -> Limits {
        Limits::new(512 * 1024 * 1024)
    }

    fn feed(parser: &mut Parser, buf: &[u8], limits: &Limits, args: &mut Args) -> Outcome {
        Ok(match parser.parse(buf, limits, args)? {
            Parsed::Incomplete => None,
            Parsed::Complete { consumed } => Some((args.argv(buf).iter().map(<[u8]>::to_vec).collect(), consumed)),
        })
    }

    fn once_with(buf: &[u8], limits: &Limits) -> Outcome {
        feed(&mut Parser::new(), buf, limits, &mut Args::new())
    }

    fn once(buf: &[u8]) -> Outcome {
        once_with(buf, &limits())
    }

    /// Feed `buf[..cut]` for each cut (ascending), stopping at the first result that is not
    /// "incomplete", then the whole buffer.
    fn in_pieces(buf: &[u8], cuts: impl IntoIterator<Item = usize>, limits: &Limits) -> Outcome {
        let mut parser = Parser::new();
        let mut args = Args::new();
        for cut in cuts {
            if let Some(done) = feed(&mut parser, &buf[..cut], limits, &mut args)? {
                return Ok(Some(done));
            }
        }
        feed(&mut parser, buf, limits, &mut args)
    }

    fn owned(args: &[&[u8]]) -> Vec<Vec<u8>> {
        args.iter().map(|a| a.to_vec()).collect()
    }

    fn encode(args: &[Vec<u8>]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// Every request kind the parser knows, with the arguments it must produce.
    fn valid_requests() -> Vec<(&'static [u8], Vec<Vec<u8>>)> {
        vec![
            (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n", owned(&[b"SET", b"k", b"hello"])),
            (b"*2\r\n$4\r\nECHO\r\n$6\r\na\r\n\0\xffb\r\n", owned(&[b"ECHO", b"a\r\n\0\xffb"])),
            (b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", owned(&[b"ECHO", b""])),
            (b"*1\r\n$10\r\n0123456789\r\n", owned(&[b"0123456789"])),
            (b"*0\r\n", vec![]),
            (b"*-1\r\n", vec![]),
            (b"*-7\r\n", vec![]),
            (b"PING\r\n", owned(&[b"PING"])),
            (b"PING\n", owned(&[b"PING"])),
            (b"\r\n", vec![]),
            (b"\n", vec![]),
            (b" \t \x0b\x0c \r\n", vec![]),
            (b"  GET   k  \r\n", owned(&[b"GET", b"k"])),
            (b"SET k \"a b\\n\\x41\" 'it\\'s'\r\n", owned(&[b"SET", b"k", b"a b\nA", b"it's"])),
            (b"E \"\\t\\r\\a\\b\\\\\\\"\\z\\x4G\"\n", owned(&[b"E", b"\t\r\x07\x08\\\"zx4G"])),
            (b"E 'a\\b\\\"' \"\" ''\n", owned(&[b"E", b"a\\b\\\"", b"", b""])),
            (b"E ab\"c d\"\tx'y z'\n", owned(&[b"E", b"abc d", b"xy z"])),
            (b"E \"\\xfF\\x00\"\x0bz\n", owned(&[b"E", b"\xff\0", b"z"])),
            (b"E a\x0bb \xff a\0b c\n", owned(&[b"E", b"a\x0bb", b"\xff", b"a"])),
            (b"E a\0\"b 'c\r\n", owned(&[b"E", b"a"])),
            (b"E a\rb\r\r\n", owned(&[b"E", b"a", b"b"])),
        ]
    }

    #[test]
    fn every_request_kind_parses_in_one_piece() {
        // Each request kind, whole in the buffer, gives its arguments and its exact length.
        for (buf, want) in valid_requests() {
            let got = once(buf).unwrap();
            assert_eq!(got, Some((want, buf.len())), "{:?}", buf.escape_ascii().to_string());
        }
    }

    #[test]
    fn every_split_gives_the_same_request() {
        // A request cut at any byte offset is incomplete before the cut and then the same
        // request as in one piece; so is a request arriving one byte at a time.
        for (buf, want) in valid_requests() {
            let whole = Some((want, buf.len()));
            for cut in 0..buf.len() {
                let mut parser = Parser::new();
                let mut args = Args::new();
                let first = feed(&mut parser, &buf[..cut], &limits(), &mut args);
                assert_eq!(first, Ok(None), "{:?} cut at {cut}", buf.escape_ascii().to_string());
                let second = feed(&mut parser, buf, &limits(), &mut args);
                assert_eq!(second.as_ref().unwrap(), &whole);
            }
            assert_eq!(in_pieces(buf, 0..buf.len(), &limits()).unwrap(), whole);
        }
    }

    #[test]
    fn pipelined_requests_come_out_one_per_call() {
        // Several requests in one buffer are parsed one after another, advancing by `consumed`.
        let mut buf = Vec::new();
        let mut wants = Vec::new();
        for (request, want) in valid_requests() {
            buf.extend_from_slice(request);
            wants.push(want);
        }
        let mut parser = Parser::new();
        let mut args = Args::new();
        let mut at = 0;
        for want in wants {
            let (got, consumed) = feed(&mut parser, &buf[at..], &limits(), &mut args).unwrap().expect("complete");
            assert_eq!(got, want);
            at += consumed;
        }
        assert_eq!(at, buf.len());
        assert_eq!(parser.parse(&buf[at..], &limits(), &mut args), Ok(Parsed::Incomplete));
    }

    #[test]
    fn error_texts_are_redis_texts() {
        // The replies clients see, word for word as redis-server sends them.
        let cases = [
            (ProtocolError::TooBigInline, "ERR Protocol error: too big inline request"),
            (ProtocolError::UnbalancedQuotes, "ERR Protocol error: unbalanced quotes in request"),
            (ProtocolError::TooBigMbulkCount, "ERR Protocol error: too big mbulk count string"),
            (ProtocolError::InvalidMultibulkLength, "ERR Protocol error: invalid multibulk length"),
            (ProtocolError::TooBigBulkCount, "ERR Protocol error: too big bulk count string"),
            (ProtocolError::ExpectedDollar(b'x'), "ERR Protocol error: expected '$', got 'x'"),
            (ProtocolError::ExpectedDollar(b'\r'), "ERR Protocol error: expected '$', got ' '"),
            (ProtocolError::ExpectedDollar(b'\n'), "ERR Protocol error: expected '$', got ' '"),
            (ProtocolError::InvalidBulkLength, "ERR Protocol error: invalid bulk length"),
            (ProtocolError::UnauthenticatedMultibulkLength, "ERR Protocol error: unauthenticated multibulk length"),
            (ProtocolError::UnauthenticatedBulkLength, "ERR Protocol error: unauthenticated bulk length"),
        ];
        for (err, text) in cases {
            assert_eq!(err.message(), text);
        }
    }

    /// Bad requests and the error each must give, in one piece and byte by byte.
    fn bad_requests() -> Vec<(&'static [u8], ProtocolError)> {
        use ProtocolError::*;
        vec![
            (b"*1\r\nx3\r\nabc\r\n", ExpectedDollar(b'x')),
            (b"*1\r\n\r\n", ExpectedDollar(b'\r')),
            (b"*2\r\n$1\r\na\r\n*1\r\n", ExpectedDollar(b'*')),
            (b"*1\r\n$-1\r\n", InvalidBulkLength),
            (b"*1\r\n$abc\r\n", InvalidBulkLength),
            (b"*1\r\n$+3\r\n", InvalidBulkLength),
            (b"*1\r\n$03\r\n", InvalidBulkLength),
            (b"*1\r\n$-0\r\n", InvalidBulkLength),
            (b"*1\r\n$\r\n", InvalidBulkLength),
            (b"*1\r\n$ 3\r\n", InvalidBulkLength),
            (b"*1\r\n$3 \r\n", InvalidBulkLength),
            (b"*1\r\n$99999999999999999999\r\n", InvalidBulkLength),
            (b"*1\r\n$1000000000000000000000\r\n", InvalidBulkLength),
            (b"*1\r\n$536870913\r\n", InvalidBulkLength),
            (b"*abc\r\n", InvalidMultibulkLength),
            (b"*+1\r\n", InvalidMultibulkLength),
            (b"*01\r\n", InvalidMultibulkLength),
            (b"* 1\r\n", InvalidMultibulkLength),
            (b"*-0\r\n", InvalidMultibulkLength),
            (b"*-\r\n", InvalidMultibulkLength),
            (b"*\r\n", InvalidMultibulkLength),
            (b"*1x\r\n", InvalidMultibulkLength),
            (b"*2147483648\r\n", InvalidMultibulkLength),
            (b"*-9223372036854775809\r\n", InvalidMultibulkLength),
            (b"SET k \"abc\r\n", UnbalancedQuotes),
            (b"SET k 'abc\r\n", UnbalancedQuotes),
            (b"SET k \"a\"b\r\n", UnbalancedQuotes),
            (b"SET k 'a'b\n", UnbalancedQuotes),
            (b"SET k \"abc\\\n", UnbalancedQuotes),
            (b"SET k \"abc\\\"\n", UnbalancedQuotes),
            (b"SET k 'abc\\'\n", UnbalancedQuotes),
            (b"SET k \"a\0b\"\r\n", UnbalancedQuotes),
        ]
    }

    #[test]
    fn bad_requests_give_redis_errors() {
        // Each malformed request gives its error whether it arrives whole or byte by byte.
        for (buf, want) in bad_requests() {
            let name = buf.escape_ascii().to_string();
            assert_eq!(once(buf), Err(want), "{name}");
            assert_eq!(in_pieces(buf, 0..buf.len(), &limits()), Err(want), "{name}");
        }
        let err = once(b"*1\r\nx3\r\nabc\r\n").unwrap_err();
        assert_eq!(err.message(), "ERR Protocol error: expected '$', got 'x'");
        let err = once(b"*1\r\n$-1\r\n").unwrap_err();
        assert_eq!(err.message(), "ERR Protocol error: invalid bulk length");
        let err = once(b"*x\r\n").unwrap_err();
        assert_eq!(err.message(), "ERR Protocol error: invalid multibulk length");
        let err = once(b"GET \"k\r\n").unwrap_err();
        assert_eq!(err.message(), "ERR Protocol error: unbalanced quotes in request");
    }

    #[test]
    fn unauthenticated_limits_are_ten_args_and_16k_bulks() {
        // Before AUTH at most 10 elements and 16384-byte bulks get through, as in Redis.
        let unauth = limits().unauthenticated();
        assert_eq!(once_with(b"*10\r\n", &unauth), Ok(None));
        let err = once_with(b"*11\r\n", &unauth).unwrap_err();
        assert_eq!(err, ProtocolError::UnauthenticatedMultibulkLength);
        assert_eq!(err.message(), "ERR Protocol error: unauthenticated multibulk length");
        assert_eq!(once_with(b"*-1\r\n", &unauth), Ok(Some((vec![], 5))));
        // Over INT_MAX is "invalid" whether or not the client has authenticated.
        assert_eq!(once_with(b"*2147483648\r\n", &unauth), Err(ProtocolError::InvalidMultibulkLength));
        let big = vec![b'v'; 16384];
        let ok = encode(&[b"SET".to_vec(), big.clone()]);
        assert_eq!(once_with(&ok, &unauth), Ok(Some((vec![b"SET".to_vec(), big], ok.len()))));
        let err = once_with(b"*1\r\n$16385\r\n", &unauth).unwrap_err();
        assert_eq!(err, ProtocolError::UnauthenticatedBulkLength);
        assert_eq!(err.message(), "ERR Protocol error: unauthenticated bulk length");
        assert_eq!(in_pieces(b"*1\r\n$16385\r\n", 0..13, &unauth), Err(err));
        // A negative or over-proto-max-bulk-len length is "invalid" first, as in Redis.
        assert_eq!(once_with(b"*1\r\n$-1\r\n", &unauth), Err(ProtocolError::InvalidBulkLength));
        assert_eq!(
            once_with(b"*1\r\n$9\r\n", &Limits::new(8).unauthenticated()),
            Err(ProtocolError::InvalidBulkLength)
        );
        assert_eq!(once(b"*11\r\n"), Ok(None));
        assert_eq!(once(b"*1\r\n$16385\r\n"), Ok(None));
    }

    #[test]
    fn bulk_length_limit_comes_from_limits() {
        // `--proto-max-bulk-len` is the largest bulk accepted, inclusive.
        let small = Limits::new(3);
        assert_eq!(once_with(b"*1\r\n$3\r\nabc\r\n", &small), Ok(Some((owned(&[b"abc"]), 13))));
        assert_eq!(once_with(b"*1\r\n$4\r\n", &small), Err(ProtocolError::InvalidBulkLength));
    }

    #[test]
    fn inline_line_limit() {
        // A newline may come at most INLINE_MAX_BYTES bytes in; one byte more is an error.
        let mut buf = vec![b'a'; INLINE_MAX_BYTES];
        assert_eq!(once(&buf), Ok(None));
        buf.push(b'\n');
        let (args, consumed) = once(&buf).unwrap().unwrap();
        assert_eq!((args.len(), args[0].len(), consumed), (1, INLINE_MAX_BYTES, buf.len()));
        buf.pop();
        buf.push(b'a');
        let err = once(&buf).unwrap_err();
        assert_eq!(err, ProtocolError::TooBigInline);
        assert_eq!(err.message(), "ERR Protocol error: too big inline request");
        buf.push(b'\n');
        assert_eq!(once(&buf), Err(ProtocolError::TooBigInline));
        assert_eq!(in_pieces(&buf, (0..buf.len()).step_by(1000), &limits()), Err(ProtocolError::TooBigInline));
        assert_eq!(in_pieces(&buf, 0..buf.len(), &limits()), Err(ProtocolError::TooBigInline));
    }

    #[test]
    fn header_line_limits() {
        // A `*` or `$` line must reach its CR within HEADER_LINE_MAX_BYTES bytes.
        let mut count = b"*".to_vec();
        count.resize(HEADER_LINE_MAX_BYTES, b'1');
        assert_eq!(once(&count), Ok(None));
        count.push(b'1');
        let err = once(&count).unwrap_err();
        assert_eq!(err, ProtocolError::TooBigMbulkCount);
        assert_eq!(err.message(), "ERR Protocol error: too big mbulk count string");
        assert_eq!(in_pieces(&count, 0..count.len(), &limits()), Err(err));

        let mut bulk = b"*2\r\n$4\r\nECHO\r\n$".to_vec();
        let start = bulk.len() - 1;
        bulk.resize(start + HEADER_LINE_MAX_BYTES, b'1');
        assert_eq!(once(&bulk), Ok(None));
        bulk.push(b'1');
        let err = once(&bulk).unwrap_err();
        assert_eq!(err, ProtocolError::TooBigBulkCount);
        assert_eq!(err.message(), "ERR Protocol error: too big bulk count string");
        assert_eq!(in_pieces(&bulk, 0..bulk.len(), &limits()), Err(err));

        // Like Redis, the size cap is checked before the element's first byte.
        let mut junk = b"*1\r\n".to_vec();
        junk.resize(4 + HEADER_LINE_MAX_BYTES + 1, b'X');
        assert_eq!(once(&junk), Err(ProtocolError::TooBigBulkCount));
        // A long line that does end in time is judged on its value.
        let mut long = b"*".to_vec();
        long.resize(HEADER_LINE_MAX_BYTES, b'1');
        long.extend_from_slice(b"\r\n");
        assert_eq!(once(&long), Err(ProtocolError::InvalidMultibulkLength));
    }

    #[test]
    fn huge_count_does_not_preallocate() {
        // A client announcing 2^31-1 elements gets at most ARGS_PREALLOC_MAX slots up front.
        let mut parser = Parser::new();
        let mut args = Args::new();
        let buf = b"*2147483647\r\n$1\r\na\r\n";
        assert_eq!(parser.parse(buf, &limits(), &mut args), Ok(Parsed::Incomplete));
        assert!(parser.ranges.capacity() <= ARGS_PREALLOC_MAX);
        assert_eq!(parser.ranges.len(), 1);
    }

    #[test]
    fn validated_bytes_are_not_read_again() {
        // After "incomplete" the parser resumes where it stopped: overwriting the bytes it has
        // already validated does not change the outcome, which shows they are not rescanned.
        let real = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        let mut parser = Parser::new();
        let mut args = Args::new();
        assert_eq!(parser.parse(&real[..18], &limits(), &mut args), Ok(Parsed::Incomplete));
        let mut garbled = real.to_vec();
        garbled[..18].fill(b'#');
        let parsed = parser.parse(&garbled, &limits(), &mut args);
        assert_eq!(parsed, Ok(Parsed::Complete { consumed: real.len() }));
        let got: Vec<&[u8]> = args.argv(real).iter().collect();
        assert_eq!(got, [&b"GET"[..], b"k"]);

        // Inline: the newline search resumes at the end of what was scanned.
        assert_eq!(parser.parse(b"PING", &limits(), &mut args), Ok(Parsed::Incomplete));
        let parsed = parser.parse(b"PI\nG\r\n", &limits(), &mut args);
        assert_eq!(parsed, Ok(Parsed::Complete { consumed: 6 }));
        let got: Vec<&[u8]> = args.argv(b"").iter().collect();
        assert_eq!(got, [&b"PI"[..], b"G"]);
    }

    #[test]
    fn huge_bulk_waits_with_a_length_check() {
        // While a 4 MiB value trickles in, each call only compares lengths (state BulkBody).
        let value = vec![7u8; 4 << 20];
        let buf = encode(&[b"SET".to_vec(), b"k".to_vec(), value.clone()]);
        let mut parser = Parser::new();
        let mut args = Args::new();
        let header_end = buf.len() - value.len() - 2;
        for cut in (header_end..buf.len()).step_by(4096) {
            assert_eq!(parser.parse(&buf[..cut], &limits(), &mut args), Ok(Parsed::Incomplete));
            assert!(matches!(parser.state, State::BulkBody { .. }));
        }
        let parsed = parser.parse(&buf, &limits(), &mut args);
        assert_eq!(parsed, Ok(Parsed::Complete { consumed: buf.len() }));
        assert_eq!(args.argv(&buf).get(2), &value[..]);
        assert_eq!(parser.state, State::Idle);
    }

    #[test]
    fn args_vectors_are_reused() {
        // Steady-state parsing allocates nothing: the two range vectors trade places.
        let buf = encode(&[b"GET".to_vec(), b"k".to_vec()]);
        let mut parser = Parser::new();
        let mut args = Args::new();
        for _ in 0..2 {
            parser.parse(&buf, &limits(), &mut args).unwrap();
        }
        let pointers = (args.ranges.as_ptr(), parser.ranges.as_ptr());
        for _ in 0..2 {
            parser.parse(&buf, &limits(), &mut args).unwrap();
        }
        assert_eq!((args.ranges.as_ptr(), parser.ranges.as_ptr()), pointers);
    }

    fn protocol_byte() -> impl Strategy<Value = u8> {
        prop_oneof![any::<u8>(), prop::sample::select(b"*$\r\n\r\n0123456789-+ \"'\\x".to_vec())]
    }

    fn any_limits() -> impl Strategy<Value = Limits> {
        prop_oneof![Just(limits()), Just(limits().unauthenticated()), Just(Limits::new(8))]
    }

    #[test]
    fn whole_request_fast_path_agrees_with_the_state_machine() {
        // Fed whole (fast path first) vs. fed after a one-byte piece (state machine only).
        let cases: &[&[u8]] = &[
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
            b"*2\r\n$03\r\nGET\r\n$1\r\nk\r\n",
            b"*02\r\n$3\r\nGET\r\n$1\r\nk\r\n",
            b"*2\r\n$-1\r\nGET\r\n$1\r\nk\r\n",
            b"*0\r\n",
            b"*-1\r\n",
            b"*1\r\n$0\r\n\r\n",
            b"*1\r\n$3\r\nGET\r",
            b"*1\r\n$3\r\nGETxx",
            b"*1\r\n:3\r\nGET\r\n",
            b"*1\r\n$99999999999999999999\r\nx\r\n",
            b"*65\r\n$1\r\na\r\n",
            b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n",
        ];
        for case in cases {
            let small = Limits { bulk_len_max: 2, ..limits() };
            for l in [limits(), small] {
                assert_eq!(once_with(case, &l), in_pieces(case, [1], &l), "{:?}", String::from_utf8_lossy(case));
            }
        }
        assert_eq!(once(b"*1\r\n$4\r\nPING\r\nrest"), Ok(Some((vec![b"PING".to_vec()], 14))));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(
            buf in prop::collection::vec(protocol_byte(), 0..400),
            limits in any_limits(),
        ) {
            // Parse requests off the buffer until it is used up, incomplete or invalid.
            let mut parser = Parser::new();
            let mut args = Args::new();
            let mut at = 0;
            while let Ok(Parsed::Complete { consumed }) = parser.parse(&buf[at..], &limits, &mut args) {
                prop_assert!(consumed > 0 && consumed <= buf.len() - at);
                let _ = args.argv(&buf[at..]).iter().count();
                at += consumed;
            }
        }

        #[test]
        fn random_splits_match_one_piece(
            buf in prop::collection::vec(protocol_byte(), 0..400),
            mut cuts in prop::collection::vec(0usize..400, 0..8),
            limits in any_limits(),
        ) {
            // Whatever the bytes, feeding them in pieces ends the same way as feeding them whole.
            cuts.retain(|&c| c < buf.len());
            cuts.sort_unstable();
            prop_assert_eq!(in_pieces(&buf, cuts, &limits), once_with(&buf, &limits));
        }

        #[test]
        fn multibulk_round_trips(
            argv in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..8),
            mut cuts in prop::collection::vec(0usize..400, 0..8),
        ) {
            // Any arguments, encoded as a multibulk request, parse back exactly.
            let buf = encode(&argv);
            let want = Some((argv, buf.len()));
            prop_assert_eq!(&once(&buf).unwrap(), &want);
            cuts.retain(|&c| c < buf.len());
            cuts.sort_unstable();
            prop_assert_eq!(&in_pieces(&buf, cuts, &limits()).unwrap(), &want);
        }

        #[test]
        fn quoted_inline_round_trips(
            argv in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), 1..6),
        ) {
            // Any arguments, written double-quoted with \xHH escapes, parse back exactly.
            let mut buf = Vec::new();
            for arg in &argv {
                buf.extend_from_slice(b" \"");
                for b in arg {
                    buf.extend_from_slice(format!("\\x{b:02x}").as_bytes());
                }
                buf.push(b'"');
            }
            buf.extend_from_slice(b"\r\n");
            prop_assert_eq!(once(&buf).unwrap(), Some((argv, buf.len())));
        }
    }
}
