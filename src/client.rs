//! A small blocking RESP2 client, used by `ringkv-cli`, the integration tests and the load
//! generator.
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

/// One RESP2 reply. Null bulk (`$-1`) and null array (`*-1`) are `Bulk(None)` / `Array(None)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Status(Vec<u8>),
    Error(Vec<u8>),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
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
    out.push(b'*');
    push_decimal(out, args.len());
    out.extend_from_slice(b"\r\n");
    for arg in args {
        out.push(b'$');
        push_decimal(out, arg.len());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

fn push_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
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
        b'$' => {
            let Some(len) = parse_len(body, BULK_LEN_MAX, "bulk length")? else {
                return Ok(Reply::Bulk(None));
            };
            read_bulk(reader, len).map(|bulk| Reply::Bulk(Some(bulk)))
        }
        b'*' => {
            let Some(count) = parse_len(body, ARRAY_LEN_MAX, "array length")? else {
                return Ok(Reply::Array(None));
            };
            if depth + 1 > NESTING_DEPTH_MAX {
                return Err(invalid("reply nests arrays too deeply"));
            }
            let mut items = Vec::with_capacity(count.min(ARRAY_PREALLOC_MAX));
            for _ in 0..count {
                items.push(read_reply_depth(reader, line, depth + 1)?);
            }
            Ok(Reply::Array(Some(items)))
        }
        _ => Err(invalid("unknown reply type byte")),
    }
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

/// redis-cli's `cliFormatReplyTTY`. `prefix` is the indentation of nested array elements
/// after the first (the first follows its parent's `N) ` on the same line).
fn write_tty(out: &mut Vec<u8>, reply: &Reply, prefix: &str) {
    match reply {
        Reply::Status(s) => {
            out.extend_from_slice(s);
            out.push(b'\n');
        }
        Reply::Error(e) => {
            out.extend_from_slice(b"(error) ");
            out.extend_from_slice(e);
            out.push(b'\n');
        }
        Reply::Integer(n) => out.extend_from_slice(format!("(integer) {n}\n").as_bytes()),
        Reply::Bulk(Some(b)) => {
            write_repr(out, b);
            out.push(b'\n');
        }
        Reply::Bulk(None) | Reply::Array(None) => out.extend_from_slice(b"(nil)\n"),
        Reply::Array(Some(items)) if items.is_empty() => {
            out.extend_from_slice(b"(empty array)\n");
        }
        Reply::Array(Some(items)) => {
            let width = items.len().to_string().len();
            let nested = format!("{prefix}{}", " ".repeat(width + 2));
            for (i, item) in items.iter().enumerate() {
                let indent = if i == 0 { "" } else { prefix };
                out.extend_from_slice(format!("{indent}{:>width$}) ", i + 1).as_bytes());
                write_tty(out, item, &nested);
            }
        }
    }
}

/// redis-cli's `cliFormatReplyRaw`, without the final newline.
fn write_raw(out: &mut Vec<u8>, reply: &Reply) {
    match reply {
        Reply::Status(s) | Reply::Bulk(Some(s)) => out.extend_from_slice(s),
        Reply::Error(e) => {
            out.extend_from_slice(e);
            out.push(b'\n');
        }
        Reply::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Reply::Bulk(None) | Reply::Array(None) => {}
        Reply::Array(Some(items)) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b'\n');
                }
                write_raw(out, item);
            }
        }
    }
}

/// Redis's `sdscatrepr`: double-quoted, with `\\ \" \n \r \t \a \b` and `\xHH` for the rest
/// of what C's `isprint` rejects.
pub fn write_repr(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for &c in bytes {
        match c {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', c]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(c),
            _ => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(b'"');
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
