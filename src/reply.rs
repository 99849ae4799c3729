//! Reply encoding into a connection's output buffer. Commands describe each reply once, with
//! the shapes of RESP3 (map, set, double, boolean, null, verbatim string, push); the
//! connection's protocol ([`Out::proto`], set by `HELLO`) decides the bytes, as Redis's
//! `addReplyMapLen` & co. do: in RESP2 a map is a flat array of 2n, a set an array, a double
//! a bulk string, a boolean an integer, null `$-1` (or `*-1` for a null array). Engines only
//! ever see the finished bytes.

pub mod out;

pub use out::{Out, Segments, SharedBytes, ValueSlice, SHARE_MIN_BYTES};

/// The protocol a connection speaks (`HELLO 2|3`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Proto {
    #[default]
    Resp2,
    Resp3,
}

/// Append `+<s>\r\n`.
pub fn simple(out: &mut Out, s: &[u8]) {
    out.push(b'+');
    out.extend_from_slice(s);
    out.extend_from_slice(b"\r\n");
}

/// Append `+OK\r\n`.
pub fn ok(out: &mut Out) {
    out.extend_from_slice(b"+OK\r\n");
}

/// Append `-<msg>\r\n`. `msg` carries its own prefix (`ERR ...`, `WRONGTYPE ...`); CR and LF
/// inside it are replaced by spaces, as Redis does, so an error can never break the framing.
pub fn error(out: &mut Out, msg: &str) {
    out.push(b'-');
    out.extend(msg.bytes().map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
    out.extend_from_slice(b"\r\n");
}

/// Append `:<n>\r\n`.
pub fn integer(out: &mut Out, n: i64) {
    out.push(b':');
    push_int(out, n);
    out.extend_from_slice(b"\r\n");
}

/// Append `$<len>\r\n<bytes>\r\n`.
pub fn bulk(out: &mut Out, b: &[u8]) {
    out.reserve(b.len() + 16);
    out.push(b'$');
    push_int(out, b.len() as i64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

/// Append a bulk of a stored string value: when the output takes references
/// ([`Out::for_conn`]) and the value has a shared buffer of [`SHARE_MIN_BYTES`] or more, the
/// reply references that buffer (no copy); otherwise the bytes are copied as by [`bulk`].
pub fn stored_bulk(out: &mut Out, value: &[u8], buf: Option<&SharedBytes>) {
    match buf {
        Some(buf) if out.shares() && value.len() >= SHARE_MIN_BYTES && buf.len() == value.len() => {
            out.push(b'$');
            push_int(out, value.len() as i64);
            out.extend_from_slice(b"\r\n");
            out.push_ref(ValueSlice::whole(buf));
            out.extend_from_slice(b"\r\n");
        }
        _ => bulk(out, value),
    }
}

/// [`stored_bulk`] of an optional value: the null bulk when absent.
pub fn opt_stored_bulk(out: &mut Out, value: Option<(&[u8], Option<&SharedBytes>)>) {
    match value {
        Some((value, buf)) => stored_bulk(out, value, buf),
        None => null(out),
    }
}

/// Append an optional bulk: the value or the null bulk.
pub fn opt_bulk(out: &mut Out, b: Option<&[u8]>) {
    match b {
        Some(b) => bulk(out, b),
        None => null(out),
    }
}

/// Append a null: `$-1\r\n` (RESP2 null bulk) or `_\r\n` (RESP3).
pub fn null(out: &mut Out) {
    let bytes: &[u8] = if out.resp3() { b"_\r\n" } else { b"$-1\r\n" };
    out.extend_from_slice(bytes);
}

/// Append a null array: `*-1\r\n` (RESP2) or `_\r\n` (RESP3).
pub fn null_array(out: &mut Out) {
    let bytes: &[u8] = if out.resp3() { b"_\r\n" } else { b"*-1\r\n" };
    out.extend_from_slice(bytes);
}

/// Append an array header `*<n>\r\n`; the caller then appends `n` replies.
pub fn array(out: &mut Out, n: usize) {
    out.push(b'*');
    push_int(out, n as i64);
    out.extend_from_slice(b"\r\n");
}

/// Append a bulk holding the decimal form of `n`.
pub fn bulk_int(out: &mut Out, n: i64) {
    let mut buf = itoa::Buffer::new();
    bulk(out, buf.format(n).as_bytes());
}

/// Append a header of `n` prefixed by `resp3` (RESP3) or `*` with `n * per` (RESP2).
fn aggregate(out: &mut Out, resp3: u8, n: usize, per: usize) {
    if out.resp3() {
        out.push(resp3);
        push_int(out, n as i64);
    } else {
        out.push(b'*');
        push_int(out, (n * per) as i64);
    }
    out.extend_from_slice(b"\r\n");
}

/// Append a map header of `n` key/value pairs (`%n`; RESP2: an array of `2n`); the caller
/// then appends `2n` replies, key then value.
pub fn map(out: &mut Out, n: usize) {
    aggregate(out, b'%', n, 2);
}

/// Append a set header (`~n`; RESP2: an array); the caller then appends `n` replies.
pub fn set(out: &mut Out, n: usize) {
    aggregate(out, b'~', n, 1);
}

/// Append a push header (`>n`; RESP2: an array), for out-of-band data such as pub/sub
/// messages; the caller then appends `n` replies.
pub fn push(out: &mut Out, n: usize) {
    aggregate(out, b'>', n, 1);
}

/// Append a double: `,<v>` in RESP3, a bulk string in RESP2, formatted as Redis 7.0's
/// `addReplyDouble` does (`%.17g`, `inf` / `-inf`).
pub fn double(out: &mut Out, v: f64) {
    let text = format_double(v);
    if out.resp3() {
        out.push(b',');
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(b"\r\n");
    } else {
        bulk(out, text.as_bytes());
    }
}

/// Append a boolean: `#t` / `#f` in RESP3, `:1` / `:0` in RESP2.
pub fn boolean(out: &mut Out, v: bool) {
    if out.resp3() {
        let bytes: &[u8] = if v { b"#t\r\n" } else { b"#f\r\n" };
        out.extend_from_slice(bytes);
    } else {
        integer(out, i64::from(v));
    }
}

/// Append a verbatim string (`=<len>\r\n<fmt>:<text>`, e.g. format `txt` for INFO) in
/// RESP3, a plain bulk string in RESP2.
pub fn verbatim(out: &mut Out, format: &[u8; 3], text: &[u8]) {
    if !out.resp3() {
        return bulk(out, text);
    }
    out.reserve(text.len() + 24);
    out.push(b'=');
    push_int(out, text.len() as i64 + 4);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(format);
    out.push(b':');
    out.extend_from_slice(text);
    out.extend_from_slice(b"\r\n");
}

/// Append a big number (`(<digits>` in RESP3, a bulk string in RESP2).
pub fn big_number(out: &mut Out, digits: &[u8]) {
    if !out.resp3() {
        return bulk(out, digits);
    }
    out.push(b'(');
    out.extend_from_slice(digits);
    out.extend_from_slice(b"\r\n");
}

/// A double as C's `%.17g` prints it (Redis 7.0's reply format for scores and doubles), with
/// `inf` / `-inf` for infinities.
pub fn format_double(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v.is_nan() {
        return "nan".into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    // 17 significant digits in scientific form, then %g's choice of style.
    let sci = format!("{v:.16e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} always has an exponent");
    let exp: i32 = exp.parse().expect("exponent is an integer");
    if !(-4..17).contains(&exp) {
        let m = trim_fraction(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{:02}", exp.unsigned_abs());
    }
    let decimals = (16 - exp).max(0) as usize;
    trim_fraction(&format!("{v:.decimals$}")).to_string()
}

/// `1.2300` → `1.23`, `5.000` → `5` (what %g does to the fraction).
fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
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
        let mut out = Out::new();
        ok(&mut out);
        simple(&mut out, b"PONG");
        error(&mut out, "ERR bad\r\nthing");
        integer(&mut out, -42);
        bulk(&mut out, b"a\r\nb");
        null(&mut out);
        null_array(&mut out);
        array(&mut out, 2);
        bulk_int(&mut out, 7);
        assert_eq!(*out, b"+OK\r\n+PONG\r\n-ERR bad  thing\r\n:-42\r\n$4\r\na\r\nb\r\n$-1\r\n*-1\r\n*2\r\n$1\r\n7\r\n");
    }

    #[test]
    fn resp3_shapes_and_their_resp2_forms() {
        let mut two = Out::new();
        let mut three = Out::with_proto(Proto::Resp3);
        for out in [&mut two, &mut three] {
            map(out, 1);
            set(out, 2);
            push(out, 3);
            double(out, 1.5);
            boolean(out, true);
            null(out);
            null_array(out);
            verbatim(out, b"txt", b"hi");
            big_number(out, b"123");
        }
        assert_eq!(two.take(), b"*2\r\n*2\r\n*3\r\n$3\r\n1.5\r\n:1\r\n$-1\r\n*-1\r\n$2\r\nhi\r\n$3\r\n123\r\n");
        assert_eq!(three.take(), b"%1\r\n~2\r\n>3\r\n,1.5\r\n#t\r\n_\r\n_\r\n=6\r\ntxt:hi\r\n(123\r\n");
    }

    #[test]
    fn stored_bulks_reference_only_big_values_of_connection_outputs() {
        // A connection's output references a value of SHARE_MIN_BYTES or more; one byte less,
        // or an output built aside (MULTI, Lua, mailboxes), copies. The bytes are the same.
        let big: SharedBytes = std::sync::Arc::new(vec![b'v'; SHARE_MIN_BYTES]);
        let small: SharedBytes = std::sync::Arc::new(vec![b's'; SHARE_MIN_BYTES - 1]);
        let mut conn = Out::for_conn();
        let mut aside = conn.sibling();
        for out in [&mut conn, &mut aside] {
            stored_bulk(out, &big, Some(&big));
            stored_bulk(out, &small, Some(&small));
            opt_stored_bulk(out, None);
        }
        assert_eq!(conn.segments().chunks_from(0).count(), 3, "header, the value, the rest");
        assert!(!aside.segments().has_refs());
        assert_eq!(std::sync::Arc::strong_count(&big), 2);
        assert_eq!(std::sync::Arc::strong_count(&small), 1);
        let mut want = Out::new();
        bulk(&mut want, &big);
        bulk(&mut want, &small);
        null(&mut want);
        let want = want.take();
        assert_eq!(conn.take(), want);
        assert_eq!(aside.take(), want);
    }

    #[test]
    fn doubles_print_as_redis_percent_17g() {
        for (v, text) in [
            (1.5, "1.5"),
            (1.1, "1.1000000000000001"),
            (3.0, "3"),
            (-0.0, "-0"),
            (1e17, "1e+17"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (123456789.0, "123456789"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(format_double(v), text, "{v}");
        }
    }
}
