//! A small blocking RESP client, used by `ringkv-cli`, the integration tests and the load
//! generator. It reads every RESP2 and RESP3 reply type (after `HELLO 3`); RESP3 attributes
//! (`|`) are read and dropped, as most clients do.
//!
//! Requests are encoded into a write buffer by [`Client::send`] and go out on
//! [`Client::flush`], so a caller can pipeline: send N commands, flush once, read N replies.
//! [`Client::command`] does all three for one command. The reply parser
//! ([`read_reply_from`]) works on any `BufRead`, bounds nesting depth and every length, and
//! reports malformed data as `io::ErrorKind::InvalidData`; it never panics.
//!
//! The module also holds [`format_reply`], redis-cli's TTY and raw output formats, for the CLI
//! (which splits typed lines with the server's own `sdssplitargs` rules, [`crate::args`]).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;

pub use crate::args::write_repr;
use crate::net::Stream;
use std::path::Path;
use std::time::Duration;

/// Longest status, error or header line accepted from the server, CRLF included. Matches the
/// server's own inline/header limit; a longer line means the peer is not speaking RESP.
pub const LINE_LEN_MAX: usize = 64 * 1024;
/// Largest bulk string accepted: Redis's default `proto-max-bulk-len` (512 MiB).
pub const BULK_LEN_MAX: usize = 512 * 1024 * 1024;
/// Largest array element count accepted, the same bound Redis puts on a multibulk count.
pub const ARRAY_LEN_MAX: usize = i32::MAX as usize;
/// Deepest array nesting accepted. The parser recurses once per level, so this also bounds
/// its stack use; no ringkv reply nests more than a few levels.
pub const NESTING_DEPTH_MAX: usize = 64;
/// Array elements reserved up front, whatever count the server announced: memory follows the
/// bytes that actually arrive, not a number in a header.
const ARRAY_PREALLOC_MAX: usize = 1024;
/// Bulk bytes reserved up front, for the same reason.
const BULK_PREALLOC_MAX: usize = 64 * 1024;
/// Socket read buffer. Large enough that a pipelined batch of small replies is one `read`.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// One reply. RESP2's null bulk (`$-1`) and null array (`*-1`) are `Bulk(None)` /
/// `Array(None)`; RESP3's null (`_`) is `Null`. A RESP3 blob error (`!`) is an `Error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Status(Vec<u8>),
    Error(Vec<u8>),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
    /// `_`
    Null,
    /// `,<text>`: the double as the server wrote it (`1.5`, `inf`, `1e+17`).
    Double(Vec<u8>),
    /// `#t` / `#f`
    Boolean(bool),
    /// `(<digits>`
    BigNumber(Vec<u8>),
    /// `=<len>\r\n<fmt>:<text>`: the three-letter format (`txt`, `mkd`) and the text.
    Verbatim([u8; 3], Vec<u8>),
    /// `%<n>`: key/value pairs in the order received.
    Map(Vec<(Reply, Reply)>),
    /// `~<n>`
    Set(Vec<Reply>),
    /// `><n>`: out-of-band data (pub/sub messages, invalidations).
    Push(Vec<Reply>),
}

/// A blocking connection to a RESP server over a Unix or TCP socket.
pub struct Client {
    /// Owns the stream; writes go through `get_mut()`, so reads and writes share one socket.
    reader: BufReader<Stream>,
    /// Encoded requests not yet written. Grows with what the caller pipelines before `flush`.
    write_buf: Vec<u8>,
    /// Scratch for the reply parser's header lines, reused across replies.
    line: Vec<u8>,
}

impl Client {
    pub fn connect_unix(path: impl AsRef<Path>) -> io::Result<Client> {
        Ok(Client::new(Stream::Unix(UnixStream::connect(path)?)))
    }

    pub fn connect_tcp(host: &str, port: u16) -> io::Result<Client> {
        let stream = TcpStream::connect((host, port))?;
        // Requests are already batched in `write_buf`; Nagle would only add latency.
        stream.set_nodelay(true)?;
        Ok(Client::new(Stream::Tcp(stream)))
    }

    fn new(stream: Stream) -> Client {
        Client { reader: BufReader::with_capacity(READ_BUFFER_BYTES, stream), write_buf: Vec::new(), line: Vec::new() }
    }

    /// Read and write timeout for the socket; `None` blocks forever (the default).
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.reader.get_ref().set_timeouts(timeout)
    }

    /// Encodes `args` as a RESP multibulk into the write buffer. Nothing is written to the
    /// socket until [`Client::flush`].
    pub fn send(&mut self, args: &[&[u8]]) -> io::Result<()> {
        encode_command(&mut self.write_buf, args);
        Ok(())
    }

    /// Writes everything `send` has buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.write_buf.is_empty() {
            return Ok(());
        }
        let result = self.reader.get_mut().write_all(&self.write_buf);
        self.write_buf.clear();
        result
    }

    /// Sends one command and waits for its reply. Anything sent earlier and not yet read must
    /// be read first, or this returns the reply to that earlier command.
    pub fn command(&mut self, args: &[&[u8]]) -> io::Result<Reply> {
        self.send(args)?;
        self.flush()?;
        self.read_reply()
    }

    /// Reads one reply. A server error reply is `Ok(Reply::Error(..))`; `Err` means the
    /// connection failed or the server sent something that is not RESP2.
    pub fn read_reply(&mut self) -> io::Result<Reply> {
        read_reply_from(&mut self.reader, &mut self.line)
    }
}

/// Appends `*<n>\r\n` then `$<len>\r\n<arg>\r\n` for each argument.
pub fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    let payload: usize = args.iter().map(|a| a.len() + 16).sum();
    out.reserve(payload + 16);
    encode_argv(out, args.len(), args.iter().copied());
}

/// [`encode_command`] for `count` arguments given by an iterator (no slice to collect first).
pub fn encode_argv<'a>(out: &mut Vec<u8>, count: usize, args: impl Iterator<Item = &'a [u8]>) {
    out.push(b'*');
    push_decimal(out, count);
    out.extend_from_slice(b"\r\n");
    for arg in args {
        out.push(b'$');
        push_decimal(out, arg.len());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

fn push_decimal(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Parses one RESP2 reply from `reader`. `line` is scratch space the caller may reuse.
pub fn read_reply_from<R: BufRead>(reader: &mut R, line: &mut Vec<u8>) -> io::Result<Reply> {
    read_reply_depth(reader, line, 0)
}

fn read_reply_depth<R: BufRead>(reader: &mut R, line: &mut Vec<u8>, depth: usize) -> io::Result<Reply> {
    read_line(reader, line)?;
    let (kind, body) = match line.split_first() {
        Some((kind, body)) => (*kind, body),
        None => return Err(invalid("empty reply line")),
    };
    match kind {
        b'+' => Ok(Reply::Status(body.to_vec())),
        b'-' => Ok(Reply::Error(body.to_vec())),
        b':' => Ok(Reply::Integer(parse_i64(body)?)),
        b'_' if body.is_empty() => Ok(Reply::Null),
        b',' => Ok(Reply::Double(body.to_vec())),
        b'#' => match body {
            b"t" => Ok(Reply::Boolean(true)),
            b"f" => Ok(Reply::Boolean(false)),
            _ => Err(invalid("malformed boolean")),
        },
        b'(' if is_big_number(body) => Ok(Reply::BigNumber(body.to_vec())),
        b'$' | b'!' | b'=' => read_blob(reader, kind, body),
        b'*' | b'%' | b'~' | b'>' | b'|' => read_aggregate(reader, line, kind, depth),
        _ => Err(invalid("unknown reply type byte")),
    }
}

/// `[-]digits`, as a RESP3 big number must be.
fn is_big_number(body: &[u8]) -> bool {
    let digits = body.strip_prefix(b"-").unwrap_or(body);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

/// A bulk string (`$`), blob error (`!`) or verbatim string (`=`) whose header was `body`.
fn read_blob<R: BufRead>(reader: &mut R, kind: u8, body: &[u8]) -> io::Result<Reply> {
    let len = parse_len(body, BULK_LEN_MAX, "bulk length")?;
    let Some(len) = len else {
        return if kind == b'$' { Ok(Reply::Bulk(None)) } else { Err(invalid("negative blob length")) };
    };
    let blob = read_bulk(reader, len)?;
    match kind {
        b'$' => Ok(Reply::Bulk(Some(blob))),
        b'!' => Ok(Reply::Error(blob)),
        _ => match blob.get(..4) {
            Some([a, b, c, b':']) => Ok(Reply::Verbatim([*a, *b, *c], blob[4..].to_vec())),
            _ => Err(invalid("verbatim string without a format")),
        },
    }
}

/// An array, map, set, push or attribute whose header is in `line`. An attribute is read
/// and dropped; the reply it annotates follows it and is returned instead.
fn read_aggregate<R: BufRead>(reader: &mut R, line: &mut Vec<u8>, kind: u8, depth: usize) -> io::Result<Reply> {
    let Some(count) = parse_len(&line[1..], ARRAY_LEN_MAX, "aggregate length")? else {
        return if kind == b'*' { Ok(Reply::Array(None)) } else { Err(invalid("negative aggregate length")) };
    };
    if depth + 1 > NESTING_DEPTH_MAX {
        return Err(invalid("reply nests arrays too deeply"));
    }
    let per = if kind == b'%' || kind == b'|' { 2 } else { 1 };
    let total = count.checked_mul(per).ok_or_else(|| invalid("aggregate length overflows"))?;
    let mut items = Vec::with_capacity(total.min(ARRAY_PREALLOC_MAX));
    for _ in 0..total {
        items.push(read_reply_depth(reader, line, depth + 1)?);
    }
    Ok(match kind {
        b'*' => Reply::Array(Some(items)),
        b'~' => Reply::Set(items),
        b'>' => Reply::Push(items),
        b'%' => {
            let mut items = items.into_iter();
            Reply::Map(std::iter::from_fn(|| Some((items.next()?, items.next()?))).collect())
        }
        _ => return read_reply_depth(reader, line, depth + 1),
    })
}

/// Reads one CRLF-terminated line into `line`, without the CRLF, reading at most
/// `LINE_LEN_MAX` bytes.
fn read_line<R: BufRead>(reader: &mut R, line: &mut Vec<u8>) -> io::Result<()> {
    line.clear();
    loop {
        let available = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed by server"));
        }
        let newline = available.iter().position(|&b| b == b'\n');
        let take = newline.map_or(available.len(), |i| i + 1);
        if line.len() + take > LINE_LEN_MAX {
            return Err(invalid("reply line too long"));
        }
        line.extend_from_slice(&available[..take]);
        reader.consume(take);
        if newline.is_some() {
            break;
        }
    }
    // The loop only ends after pushing a '\n'.
    line.pop();
    if line.pop() != Some(b'\r') {
        return Err(invalid("reply line not terminated by CRLF"));
    }
    Ok(())
}

fn read_bulk<R: BufRead>(reader: &mut R, len: usize) -> io::Result<Vec<u8>> {
    let mut bulk = Vec::with_capacity(len.min(BULK_PREALLOC_MAX));
    reader.take(len as u64).read_to_end(&mut bulk)?;
    if bulk.len() != len {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed inside a bulk reply"));
    }
    let mut crlf = [0u8; 2];
    reader.read_exact(&mut crlf)?;
    if &crlf != b"\r\n" {
        return Err(invalid("bulk reply not terminated by CRLF"));
    }
    Ok(bulk)
}

/// A bulk or array header: `-1` is null, otherwise `0..=max`.
fn parse_len(body: &[u8], max: usize, what: &str) -> io::Result<Option<usize>> {
    let n = parse_i64(body)?;
    if n == -1 {
        return Ok(None);
    }
    match usize::try_from(n) {
        Ok(len) if len <= max => Ok(Some(len)),
        _ => Err(invalid(&format!("invalid {what} {n}"))),
    }
}

/// A reply's integer or length, parsed like hiredis does: Redis's `string2ll`.
fn parse_i64(body: &[u8]) -> io::Result<i64> {
    crate::args::parse_i64(body).ok_or_else(|| invalid("malformed number"))
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("Protocol error: {msg}"))
}

/// The text redis-cli prints for `reply`, trailing newline included. `tty` selects its
/// terminal format (quoted strings, `(integer)`, numbered arrays); otherwise its raw format
/// (bytes as they are, one array element per line). Bytes that are not UTF-8 are replaced;
/// use [`write_reply`] to get the exact bytes of raw output.
pub fn format_reply(reply: &Reply, tty: bool) -> String {
    let mut out = Vec::new();
    write_reply(&mut out, reply, tty);
    String::from_utf8_lossy(&out).into_owned()
}

/// [`format_reply`], appending the exact bytes to `out`.
pub fn write_reply(out: &mut Vec<u8>, reply: &Reply, tty: bool) {
    if tty {
        write_tty(out, reply, "");
    } else {
        write_raw(out, reply);
        out.push(b'\n');
    }
}

/// redis-cli's `cliFormatReplyTTY`. `prefix` is the indentation of nested elements after
/// the first (the first follows its parent's `N) ` on the same line).
fn write_tty(out: &mut Vec<u8>, reply: &Reply, prefix: &str) {
    match reply {
        Reply::Status(s) | Reply::Verbatim(_, s) => {
            out.extend_from_slice(s);
            out.push(b'\n');
        }
        Reply::Error(e) => {
            out.extend_from_slice(b"(error) ");
            out.extend_from_slice(e);
            out.push(b'\n');
        }
        Reply::Integer(n) => out.extend_from_slice(format!("(integer) {n}\n").as_bytes()),
        Reply::Double(d) => {
            out.extend_from_slice(b"(double) ");
            out.extend_from_slice(d);
            out.push(b'\n');
        }
        // redis-cli 7.0 cannot print big numbers; this is 7.2's format.
        Reply::BigNumber(d) => {
            out.extend_from_slice(b"(big number) ");
            out.extend_from_slice(d);
            out.push(b'\n');
        }
        Reply::Boolean(b) => out.extend_from_slice(if *b { b"(true)\n" } else { b"(false)\n" }),
        Reply::Bulk(Some(b)) => {
            write_repr(out, b);
            out.push(b'\n');
        }
        Reply::Bulk(None) | Reply::Array(None) | Reply::Null => out.extend_from_slice(b"(nil)\n"),
        Reply::Array(Some(items)) => write_tty_aggregate(out, items.iter().map(|i| (i, None)), b')', "array", prefix),
        Reply::Set(items) => write_tty_aggregate(out, items.iter().map(|i| (i, None)), b'~', "set", prefix),
        Reply::Push(items) => write_tty_aggregate(out, items.iter().map(|i| (i, None)), b')', "push", prefix),
        Reply::Map(pairs) => write_tty_aggregate(out, pairs.iter().map(|(k, v)| (k, Some(v))), b'#', "hash", prefix),
    }
}

/// An aggregate in redis-cli's TTY format: `N) item` lines (`N~` for sets, `N# key => value`
/// for maps), indexes right-aligned to the widest, nested items indented under their parent;
/// `(empty <what>)` when there are none.
fn write_tty_aggregate<'a>(
    out: &mut Vec<u8>,
    items: impl ExactSizeIterator<Item = (&'a Reply, Option<&'a Reply>)>,
    sep: u8,
    what: &str,
    prefix: &str,
) {
    if items.len() == 0 {
        out.extend_from_slice(format!("(empty {what})\n").as_bytes());
        return;
    }
    let width = items.len().to_string().len();
    let nested = format!("{prefix}{}", " ".repeat(width + 2));
    for (i, (item, value)) in items.enumerate() {
        let indent = if i == 0 { "" } else { prefix };
        out.extend_from_slice(format!("{indent}{:>width$}{} ", i + 1, sep as char).as_bytes());
        write_tty(out, item, &nested);
        if let Some(value) = value {
            out.pop(); // the key's newline
            out.extend_from_slice(b" => ");
            if is_multiline_tty(value) {
                out.push(b'\n');
                out.extend_from_slice(nested.as_bytes());
            }
            write_tty(out, value, &nested);
        }
    }
}

/// redis-cli's `cliIsMultilineValueTTY`: a map value printed on lines of its own (an
/// aggregate of more than one element, or of one that is itself multi-line).
fn is_multiline_tty(reply: &Reply) -> bool {
    match reply {
        Reply::Array(Some(items)) | Reply::Set(items) | Reply::Push(items) => match items.as_slice() {
            [] => false,
            [one] => is_multiline_tty(one),
            _ => true,
        },
        Reply::Map(pairs) => match pairs.as_slice() {
            [] => false,
            [(_, value)] => is_multiline_tty(value),
            _ => true,
        },
        _ => false,
    }
}

/// redis-cli's `cliFormatReplyRaw`, without the final newline.
fn write_raw(out: &mut Vec<u8>, reply: &Reply) {
    match reply {
        Reply::Status(s) | Reply::Bulk(Some(s)) | Reply::Verbatim(_, s) => out.extend_from_slice(s),
        Reply::Double(s) | Reply::BigNumber(s) => out.extend_from_slice(s),
        Reply::Error(e) => {
            out.extend_from_slice(e);
            out.push(b'\n');
        }
        Reply::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Reply::Boolean(b) => out.extend_from_slice(if *b { b"(true)" } else { b"(false)" }),
        Reply::Bulk(None) | Reply::Array(None) | Reply::Null => {}
        Reply::Array(Some(items)) | Reply::Set(items) | Reply::Push(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b'\n');
                }
                write_raw(out, item);
            }
        }
        Reply::Map(pairs) => {
            for (i, (key, value)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(b'\n');
                }
                write_raw(out, key);
                out.push(b' ');
                write_raw(out, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(Some(s.as_bytes().to_vec()))
    }

    fn parse(bytes: &[u8]) -> io::Result<Reply> {
        read_reply_from(&mut &bytes[..], &mut Vec::new())
    }

    /// A reply covering every type, with its encoding.
    fn sample() -> (&'static [u8], Reply) {
        let bytes: &[u8] = b"*7\r\n+OK\r\n-ERR bad\r\n:-42\r\n$5\r\na\r\nbc\r\n$-1\r\n*-1\r\n\
                             *2\r\n*0\r\n$0\r\n\r\n";
        let reply = Reply::Array(Some(vec![
            Reply::Status(b"OK".to_vec()),
            Reply::Error(b"ERR bad".to_vec()),
            Reply::Integer(-42),
            bulk("a\r\nbc"),
            Reply::Bulk(None),
            Reply::Array(None),
            Reply::Array(Some(vec![Reply::Array(Some(vec![])), bulk("")])),
        ]));
        (bytes, reply)
    }

    #[test]
    fn parses_every_reply_type() {
        // Each RESP2 type, nested, parses to the matching `Reply`.
        let (bytes, reply) = sample();
        assert_eq!(parse(bytes).unwrap(), reply);
        assert_eq!(parse(b":9223372036854775807\r\n").unwrap(), Reply::Integer(i64::MAX));
        assert_eq!(parse(b":-9223372036854775808\r\n").unwrap(), Reply::Integer(i64::MIN));
    }

    /// Yields one byte per `read`, so the parser sees the reply split at every offset.
    struct OneByte<'a>(&'a [u8]);

    impl Read for OneByte<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), buf.is_empty()) {
                (Some((&b, rest)), false) => {
                    buf[0] = b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn parses_reply_split_at_every_byte() {
        // A reply arriving one byte per read parses the same as one arriving whole.
        let (bytes, reply) = sample();
        let mut reader = BufReader::with_capacity(1, OneByte(bytes));
        assert_eq!(read_reply_from(&mut reader, &mut Vec::new()).unwrap(), reply);
    }

    /// Every RESP3 type, nested, with an attribute before the last element.
    fn sample3() -> (&'static [u8], Reply) {
        let bytes: &[u8] = b"*9\r\n_\r\n,3.141\r\n#t\r\n#f\r\n(-12345678901234567890123\r\n\
                             =8\r\ntxt:a\r\nb\r\n!7\r\nERR x y\r\n%1\r\n+k\r\n~2\r\n:1\r\n>0\r\n\
                             |1\r\n+ttl\r\n:9\r\n$1\r\nv\r\n";
        let reply = Reply::Array(Some(vec![
            Reply::Null,
            Reply::Double(b"3.141".to_vec()),
            Reply::Boolean(true),
            Reply::Boolean(false),
            Reply::BigNumber(b"-12345678901234567890123".to_vec()),
            Reply::Verbatim(*b"txt", b"a\r\nb".to_vec()),
            Reply::Error(b"ERR x y".to_vec()),
            Reply::Map(vec![(Reply::Status(b"k".to_vec()), Reply::Set(vec![Reply::Integer(1), Reply::Push(vec![])]))]),
            bulk("v"),
        ]));
        (bytes, reply)
    }

    #[test]
    fn parses_every_resp3_type() {
        // RESP3 types parse whole and split at every byte; the attribute is dropped.
        let (bytes, reply) = sample3();
        assert_eq!(parse(bytes).unwrap(), reply);
        let mut reader = BufReader::with_capacity(1, OneByte(bytes));
        assert_eq!(read_reply_from(&mut reader, &mut Vec::new()).unwrap(), reply);
    }

    #[test]
    fn rejects_malformed_resp3() {
        for bytes in [
            &b"_x\r\n"[..],
            b"#x\r\n",
            b"(12a\r\n",
            b"(\r\n",
            b"=3\r\nabc\r\n",
            b"=-1\r\n",
            b"!-1\r\n",
            b"%-1\r\n",
            b"~-1\r\n",
        ] {
            let err = parse(bytes).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{bytes:?}");
        }
        assert_eq!(parse(b"%1\r\n:1\r\n").unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn formats_resp3_like_redis_cli() {
        // redis-cli 7.0.15 -3 output for DEBUG PROTOCOL map / set / double / verbatim / true,
        // TTY and raw.
        let int = Reply::Integer;
        let map = Reply::Map(vec![
            (int(0), Reply::Boolean(false)),
            (int(1), Reply::Boolean(true)),
            (int(2), Reply::Boolean(false)),
        ]);
        let set = Reply::Set(vec![int(0), int(1), int(2)]);
        let verbatim = Reply::Verbatim(*b"txt", b"This is a verbatim\nstring".to_vec());
        let cases = [
            (
                map,
                "1# (integer) 0 => (false)\n2# (integer) 1 => (true)\n3# (integer) 2 => (false)\n",
                "0 (false)\n1 (true)\n2 (false)\n",
            ),
            (set, "1~ (integer) 0\n2~ (integer) 1\n3~ (integer) 2\n", "0\n1\n2\n"),
            (Reply::Double(b"3.141".to_vec()), "(double) 3.141\n", "3.141\n"),
            (verbatim, "This is a verbatim\nstring\n", "This is a verbatim\nstring\n"),
            (Reply::Boolean(true), "(true)\n", "(true)\n"),
            (Reply::Null, "(nil)\n", "\n"),
            (Reply::Map(vec![]), "(empty hash)\n", "\n"),
            (Reply::Set(vec![]), "(empty set)\n", "\n"),
        ];
        for (reply, tty, raw) in cases {
            assert_eq!(format_reply(&reply, true), tty, "{reply:?}");
            assert_eq!(format_reply(&reply, false), raw, "{reply:?}");
        }
    }

    #[test]
    fn formats_nested_maps_like_redis_cli() {
        // LCS a b IDX WITHMATCHLEN (a=ohmytext, b=mynewtext) as redis-cli 7.0.15 -3 prints it:
        // a multi-line map value starts on its own line.
        let int = Reply::Integer;
        let arr = |v: Vec<Reply>| Reply::Array(Some(v));
        let m = |a: i64, b: i64, c: i64, d: i64, len: i64| {
            arr(vec![arr(vec![int(a), int(b)]), arr(vec![int(c), int(d)]), int(len)])
        };
        let reply =
            Reply::Map(vec![(bulk("matches"), arr(vec![m(4, 7, 5, 8, 4), m(2, 3, 0, 1, 2)])), (bulk("len"), int(6))]);
        let tty = "\
1# \"matches\" => 
   1) 1) 1) (integer) 4
         2) (integer) 7
      2) 1) (integer) 5
         2) (integer) 8
      3) (integer) 4
   2) 1) 1) (integer) 2
         2) (integer) 3
      2) 1) (integer) 0
         2) (integer) 1
      3) (integer) 2
2# \"len\" => (integer) 6
";
        assert_eq!(format_reply(&reply, true), tty);
        let single = Reply::Map(vec![(bulk("spec"), Reply::Map(vec![(bulk("index"), int(1))]))]);
        assert_eq!(format_reply(&single, true), "1# \"spec\" => 1# \"index\" => (integer) 1\n");
    }

    #[test]
    fn rejects_malformed_replies() {
        // Malformed or oversized input is an InvalidData error, truncation is UnexpectedEof.
        let deep = "*1\r\n".repeat(NESTING_DEPTH_MAX + 1) + ":1\r\n";
        let long_line = [b"+".as_slice(), &vec![b'a'; LINE_LEN_MAX], b"\r\n"].concat();
        let big_bulk = format!("${}\r\n", BULK_LEN_MAX + 1);
        // Numbers follow string2ll, as in hiredis: no leading zeros, no '+'.
        let invalid_data: [&[u8]; 17] = [
            b"\r\n",
            b"?x\r\n",
            b"+OK\n",
            b":\r\n",
            b":12a\r\n",
            b":-\r\n",
            b":007\r\n",
            b":+1\r\n",
            b"$01\r\na\r\n",
            b":9223372036854775808\r\n",
            b"$-2\r\n",
            b"$abc\r\n",
            b"$3\r\nabcde",
            b"*-5\r\n",
            deep.as_bytes(),
            &long_line,
            big_bulk.as_bytes(),
        ];
        for bytes in invalid_data {
            let err = parse(bytes).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{bytes:?}");
        }
        let exact_depth = "*1\r\n".repeat(NESTING_DEPTH_MAX) + ":1\r\n";
        assert!(parse(exact_depth.as_bytes()).is_ok());
        for bytes in [&b""[..], b"+OK", b"$5\r\nab", b"$2\r\nab", b"*3\r\n:1\r\n"] {
            let err = parse(bytes).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{bytes:?}");
        }
    }

    #[test]
    fn huge_array_count_does_not_preallocate() {
        // A header announcing 2^31-1 elements fails at end of input instead of reserving them.
        let err = parse(format!("*{ARRAY_LEN_MAX}\r\n:1\r\n").as_bytes()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn encodes_multibulk() {
        let mut out = Vec::new();
        encode_command(&mut out, &[b"SET", b"k", b"", &[0u8; 10]]);
        assert_eq!(out, b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n$10\r\n\0\0\0\0\0\0\0\0\0\0\r\n");
    }

    #[test]
    fn pipelines_over_tcp() {
        // Two sends and one flush reach a TCP peer as two multibulks; replies read in order.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let peer = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let expected = b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
            let mut got = vec![0u8; expected.len()];
            conn.read_exact(&mut got).unwrap();
            assert_eq!(&got, expected);
            conn.write_all(b"+PONG\r\n$1\r\nv\r\n").unwrap();
        });
        let mut client = Client::connect_tcp("127.0.0.1", port).unwrap();
        client.set_timeout(Some(Duration::from_secs(5))).unwrap();
        client.send(&[b"PING"]).unwrap();
        client.send(&[b"GET", b"k"]).unwrap();
        client.flush().unwrap();
        assert_eq!(client.read_reply().unwrap(), Reply::Status(b"PONG".to_vec()));
        assert_eq!(client.read_reply().unwrap(), bulk("v"));
        peer.join().unwrap();
        let err = client.read_reply().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn formats_scalars() {
        // Matches redis-cli 7 byte for byte, in TTY mode and in raw mode.
        let cases = [
            (Reply::Status(b"OK".to_vec()), "OK\n", "OK\n"),
            (Reply::Error(b"ERR x".to_vec()), "(error) ERR x\n", "ERR x\n\n"),
            (Reply::Integer(-7), "(integer) -7\n", "-7\n"),
            (bulk("v"), "\"v\"\n", "v\n"),
            (bulk(""), "\"\"\n", "\n"),
            (Reply::Bulk(None), "(nil)\n", "\n"),
            (Reply::Array(None), "(nil)\n", "\n"),
            (Reply::Array(Some(vec![])), "(empty array)\n", "\n"),
        ];
        for (reply, tty, raw) in cases {
            assert_eq!(format_reply(&reply, true), tty, "{reply:?}");
            assert_eq!(format_reply(&reply, false), raw, "{reply:?}");
        }
    }

    #[test]
    fn formats_escapes() {
        let reply = Reply::Bulk(Some(b"a\"b\\c\nd\r\t\x07\x08\x01\x7f\xff ~".to_vec()));
        assert_eq!(format_reply(&reply, true), "\"a\\\"b\\\\c\\nd\\r\\t\\a\\b\\x01\\x7f\\xff ~\"\n");
        let mut raw = Vec::new();
        write_reply(&mut raw, &reply, false);
        assert_eq!(raw, b"a\"b\\c\nd\r\t\x07\x08\x01\x7f\xff ~\n");
    }

    #[test]
    fn formats_nested_arrays() {
        // The reply to EVAL "return {1,{2,'x',{}},{'a',{3,{4}}},
        // redis.status_reply('OK'),redis.error_reply('E1 bad'),false}" 0, as redis-cli 7
        // prints it.
        let int = Reply::Integer;
        let arr = |v: Vec<Reply>| Reply::Array(Some(v));
        let reply = arr(vec![
            int(1),
            arr(vec![int(2), bulk("x"), arr(vec![])]),
            arr(vec![bulk("a"), arr(vec![int(3), arr(vec![int(4)])])]),
            Reply::Status(b"OK".to_vec()),
            Reply::Error(b"E1 bad".to_vec()),
            Reply::Bulk(None),
        ]);
        let tty = "\
1) (integer) 1
2) 1) (integer) 2
   2) \"x\"
   3) (empty array)
3) 1) \"a\"
   2) 1) (integer) 3
      2) 1) (integer) 4
4) OK
5) (error) E1 bad
6) (nil)
";
        assert_eq!(format_reply(&reply, true), tty);
        assert_eq!(format_reply(&reply, false), "1\n2\nx\n\na\n3\n4\nOK\nE1 bad\n\n\n");
    }

    #[test]
    fn pads_array_indexes_to_the_widest() {
        let items: Vec<Reply> = (1..=11).map(|i| bulk(&i.to_string())).collect();
        let reply = Reply::Array(Some(vec![Reply::Array(Some(items))]));
        let tty = format_reply(&reply, true);
        let lines: Vec<&str> = tty.lines().collect();
        assert_eq!(lines[0], "1)  1) \"1\"");
        assert_eq!(lines[1], "    2) \"2\"");
        assert_eq!(lines[10], "   11) \"11\"");
    }
}
