//! RESP2 reply encoding into a connection's output buffer. Every command writes its reply
//! through these functions; engines only ever see the finished bytes.

/// Append `+<s>\r\n`.
pub fn simple(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'+');
    out.extend_from_slice(s);
    out.extend_from_slice(b"\r\n");
}

/// Append `+OK\r\n`.
pub fn ok(out: &mut Vec<u8>) {
    out.extend_from_slice(b"+OK\r\n");
}

/// Append `-<msg>\r\n`. `msg` carries its own prefix (`ERR ...`, `WRONGTYPE ...`); CR and LF
/// inside it are replaced by spaces, as Redis does, so an error can never break the framing.
pub fn error(out: &mut Vec<u8>, msg: &str) {
    out.push(b'-');
    out.extend(msg.bytes().map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
    out.extend_from_slice(b"\r\n");
}

/// Append `:<n>\r\n`.
pub fn integer(out: &mut Vec<u8>, n: i64) {
    out.push(b':');
    push_int(out, n);
    out.extend_from_slice(b"\r\n");
}

/// Append `$<len>\r\n<bytes>\r\n`.
pub fn bulk(out: &mut Vec<u8>, b: &[u8]) {
    out.reserve(b.len() + 16);
    out.push(b'$');
    push_int(out, b.len() as i64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

/// Append an optional bulk: the value or the null bulk.
pub fn opt_bulk(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        Some(b) => bulk(out, b),
        None => null(out),
    }
}

/// Append the null bulk `$-1\r\n`.
pub fn null(out: &mut Vec<u8>) {
    out.extend_from_slice(b"$-1\r\n");
}

/// Append the null array `*-1\r\n`.
pub fn null_array(out: &mut Vec<u8>) {
    out.extend_from_slice(b"*-1\r\n");
}

/// Append an array header `*<n>\r\n`; the caller then appends `n` replies.
pub fn array(out: &mut Vec<u8>, n: usize) {
    out.push(b'*');
    push_int(out, n as i64);
    out.extend_from_slice(b"\r\n");
}

/// Append a bulk holding the decimal form of `n`.
pub fn bulk_int(out: &mut Vec<u8>, n: i64) {
    let mut buf = itoa::Buffer::new();
    bulk(out, buf.format(n).as_bytes());
}

fn push_int(out: &mut Vec<u8>, n: i64) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(n).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_reply_type() {
        let mut out = Vec::new();
        ok(&mut out);
        simple(&mut out, b"PONG");
        error(&mut out, "ERR bad\r\nthing");
        integer(&mut out, -42);
        bulk(&mut out, b"a\r\nb");
        null(&mut out);
        null_array(&mut out);
        array(&mut out, 2);
        bulk_int(&mut out, 7);
        assert_eq!(out, b"+OK\r\n+PONG\r\n-ERR bad  thing\r\n:-42\r\n$4\r\na\r\nb\r\n$-1\r\n*-1\r\n*2\r\n$1\r\n7\r\n");
    }
}
