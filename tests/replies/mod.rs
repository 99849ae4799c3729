//! RESP2 and RESP3 reply framing for tests that must know where one reply ends without trusting the
//! server: the length of the complete reply at the start of a buffer, and a reader that hands
//! out whole replies from a socket.
#![allow(dead_code)]

use std::io::Read;

/// Nesting depth a reply may have before it is called malformed (COMMAND DOCS nests the
/// deepest: arguments of arguments, each a map in an array, about 10 levels).
const DEPTH_MAX: usize = 32;

/// Length of the complete reply that starts `buf`: `Ok(Some(n))`, `Ok(None)` if more bytes
/// are needed, `Err` if `buf` does not start with a well-formed RESP2 or RESP3 reply.
pub fn reply_len(buf: &[u8]) -> Result<Option<usize>, String> {
    reply_len_at(buf, 0, 0)
}

fn reply_len_at(buf: &[u8], at: usize, depth: usize) -> Result<Option<usize>, String> {
    if depth > DEPTH_MAX {
        return Err("nested too deeply".into());
    }
    let Some(line_end) = find_crlf(buf, at) else {
        return Ok(None);
    };
    let line = &buf[at + 1..line_end];
    let next = line_end + 2;
    match buf[at] {
        b'+' | b'-' | b'_' | b',' | b'#' | b'(' => Ok(Some(next)),
        b':' => number(line).map(|_| Some(next)),
        b'$' | b'=' | b'!' => {
            let n = number(line)?;
            if n == -1 {
                return Ok(Some(next));
            }
            let n = usize::try_from(n).map_err(|_| format!("bad bulk length {n}"))?;
            if buf.len() < next + n + 2 {
                return Ok(None);
            }
            if &buf[next + n..next + n + 2] != b"\r\n" {
                return Err("bulk not followed by CRLF".into());
            }
            Ok(Some(next + n + 2))
        }
        b'*' | b'~' | b'>' | b'%' => {
            let n = number(line)?;
            if n == -1 {
                return Ok(Some(next));
            }
            let n = usize::try_from(n).map_err(|_| format!("bad array length {n}"))?;
            let n = if buf[at] == b'%' { n * 2 } else { n };
            let mut pos = next;
            for _ in 0..n {
                match reply_len_at(buf, pos, depth + 1)? {
                    Some(end) => pos = end,
                    None => return Ok(None),
                }
            }
            Ok(Some(pos))
        }
        other => Err(format!("reply starts with {:?}", other as char)),
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?.windows(2).position(|w| w == b"\r\n").map(|i| from + i)
}

fn number(line: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad number {:?}", String::from_utf8_lossy(line)))
}

/// Reads whole replies from a stream, keeping whatever follows the last one.
pub struct ReplyReader<S> {
    pub stream: S,
    buf: Vec<u8>,
}

impl<S: Read> ReplyReader<S> {
    pub fn new(stream: S) -> Self {
        ReplyReader { stream, buf: Vec::new() }
    }

    /// The next whole reply; panics on EOF, a read error or a malformed reply.
    pub fn reply(&mut self) -> Vec<u8> {
        match self.try_reply() {
            Ok(Some(r)) => r,
            Ok(None) => panic!("connection closed before a whole reply; have {:?}", self.pending_text()),
            Err(e) => panic!("{e}; have {:?}", self.pending_text()),
        }
    }

    /// The next whole reply, `Ok(None)` on a clean EOF between replies.
    pub fn try_reply(&mut self) -> Result<Option<Vec<u8>>, String> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some(n) = reply_len(&self.buf)? {
                let rest = self.buf.split_off(n);
                return Ok(Some(std::mem::replace(&mut self.buf, rest)));
            }
            match self.stream.read(&mut chunk) {
                Ok(0) if self.buf.is_empty() => return Ok(None),
                Ok(0) => return Err("EOF inside a reply".into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }

    /// Bytes received but not yet handed out.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    fn pending_text(&self) -> String {
        String::from_utf8_lossy(&self.buf[..self.buf.len().min(200)]).into_owned()
    }
}

#[test]
fn reply_len_frames_every_kind() {
    assert_eq!(reply_len(b"+OK\r\n"), Ok(Some(5)));
    assert_eq!(reply_len(b"-ERR x\r\n+OK"), Ok(Some(8)));
    assert_eq!(reply_len(b":-12\r\n"), Ok(Some(6)));
    assert_eq!(reply_len(b"$-1\r\n"), Ok(Some(5)));
    assert_eq!(reply_len(b"$3\r\na\r\n\r\n"), Ok(Some(9)));
    assert_eq!(reply_len(b"$3\r\na\r\n"), Ok(None));
    assert_eq!(reply_len(b"*2\r\n$1\r\na\r\n*-1\r\n"), Ok(Some(16)));
    assert_eq!(reply_len(b"*2\r\n$1\r\na\r\n"), Ok(None));
    assert_eq!(reply_len(b""), Ok(None));
    assert!(reply_len(b"?\r\n").is_err());
    assert!(reply_len(b"$3\r\nabcd\r\n").is_err());
}
