//! The two text rules the server and the CLI must agree on, written once:
//!
//! - [`split_into`] / [`split`]: Redis's `sdssplitargs` (src/sds.c), which splits an inline
//!   request on the server and every line typed into `redis-cli`. Whitespace separates
//!   arguments; `"..."` takes the escapes `\n \r \t \b \a \xHH` and `\<any>`; `'...'` takes only
//!   `\'`; a closing quote must be followed by whitespace or the end of the line; an
//!   unterminated quote is an error.
//! - [`parse_i64`]: Redis's `string2ll` (src/util.c), the integer syntax of every command
//!   argument, of RESP headers, and of hiredis's integer replies.
//!
//! NUL bytes: `sdssplitargs` works on a C string, so **a NUL byte ends the line**: `SET k a\0b`
//! is `SET k a`, and `SET k "a\0b"` is an unterminated quote. `redis-cli` behaves exactly so
//! (checked against redis-cli 7.0.15). A NUL made by the `"\x00"` escape is ordinary data.

use std::ops::Range;

/// The line has a quote that is not closed, or a closing quote followed by something other
/// than whitespace (Redis: `unbalanced quotes in request` / redis-cli `Invalid argument(s)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnbalancedQuotes;

/// Longest decimal text [`parse_i64`] accepts: `-9223372036854775808` (Redis's
/// `string2ll` refuses anything longer before looking at it).
pub const I64_TEXT_LEN_MAX: usize = 20;

/// Redis's `string2ll`: optional `-`, then digits without leading zeros (just `0` is fine), no
/// `+`, no spaces, at most [`I64_TEXT_LEN_MAX`] bytes, must fit an `i64`.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > I64_TEXT_LEN_MAX {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    if !matches!(digits.first(), Some(b'1'..=b'9')) {
        return None;
    }
    let mut value: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        // `-(i64::MIN)` does not fit an `i64`, hence the unsigned detour.
        (value <= i64::MIN.unsigned_abs()).then(|| (value as i64).wrapping_neg())
    } else {
        i64::try_from(value).ok()
    }
}

/// C's `isspace` in the "C" locale.
pub fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Split `line` like `sdssplitargs` into owned arguments.
pub fn split(line: &[u8]) -> Result<Vec<Vec<u8>>, UnbalancedQuotes> {
    let mut bytes = Vec::with_capacity(line.len());
    let mut ranges = Vec::new();
    split_into(line, &mut bytes, &mut ranges)?;
    Ok(ranges.into_iter().map(|r| bytes[r].to_vec()).collect())
}

/// Split `line` like `sdssplitargs`, appending the unquoted arguments to `out` and each one's
/// range in `out` to `ranges` (neither is cleared; nothing allocates beyond `line.len()`
/// bytes, as unquoting never makes text longer). On error, what was appended is garbage.
pub fn split_into(line: &[u8], out: &mut Vec<u8>, ranges: &mut Vec<Range<usize>>) -> Result<(), UnbalancedQuotes> {
    // sdssplitargs reads a C string: the line ends at its first NUL byte.
    let line = &line[..line.iter().position(|&b| b == 0).unwrap_or(line.len())];
    out.reserve(line.len());
    let mut p = 0;
    loop {
        while p < line.len() && is_space(line[p]) {
            p += 1;
        }
        if p == line.len() {
            return Ok(());
        }
        let start = out.len();
        p = token(line, p, out)?;
        ranges.push(start..out.len());
    }
}

/// One argument starting at `line[p]`: plain bytes, then optionally one quoted part that ends
/// it (`ab"c d"` is `abc d`). Returns where the next search for an argument starts.
fn token(line: &[u8], p: usize, out: &mut Vec<u8>) -> Result<usize, UnbalancedQuotes> {
    let rest = &line[p..];
    let plain =
        rest.iter().position(|&b| matches!(b, b' ' | b'\n' | b'\r' | b'\t' | b'"' | b'\'')).unwrap_or(rest.len());
    out.extend_from_slice(&rest[..plain]);
    let p = p + plain;
    match line.get(p) {
        None => Ok(p),
        Some(b'"') => double_quoted(line, p + 1, out),
        Some(b'\'') => single_quoted(line, p + 1, out),
        // The separator itself is consumed, as in Redis.
        Some(_) => Ok(p + 1),
    }
}

/// The inside of `"..."` from `line[p]`: escapes `\n \r \t \b \a \xHH`, any other `\c` is `c`.
/// Returns the offset after the closing quote.
fn double_quoted(line: &[u8], mut p: usize, out: &mut Vec<u8>) -> Result<usize, UnbalancedQuotes> {
    loop {
        let rest = &line[p..];
        let Some(plain) = rest.iter().position(|&b| b == b'\\' || b == b'"') else {
            return Err(UnbalancedQuotes);
        };
        out.extend_from_slice(&rest[..plain]);
        p += plain;
        if line[p] == b'"' {
            return closing_quote(line, p);
        }
        let hex = |i: usize| line.get(i).and_then(|&b| (b as char).to_digit(16));
        match (line.get(p + 1), hex(p + 2), hex(p + 3)) {
            (Some(b'x'), Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                p += 4;
            }
            (Some(&c), _, _) => {
                out.push(match c {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'b' => 0x08,
                    b'a' => 0x07,
                    c => c,
                });
                p += 2;
            }
            // A backslash ending the line: the quote is unterminated.
            (None, _, _) => return Err(UnbalancedQuotes),
        }
    }
}

/// The inside of `'...'` from `line[p]`: only `\'` is an escape. Returns the offset after the
/// closing quote.
fn single_quoted(line: &[u8], mut p: usize, out: &mut Vec<u8>) -> Result<usize, UnbalancedQuotes> {
    loop {
        match line.get(p) {
            None => return Err(UnbalancedQuotes),
            Some(b'\\') if line.get(p + 1) == Some(&b'\'') => {
                out.push(b'\'');
                p += 2;
            }
            Some(b'\'') => return closing_quote(line, p),
            Some(&c) => {
                out.push(c);
                p += 1;
            }
        }
    }
}

/// A closing quote at `line[q]` must be followed by whitespace or the end of the line.
fn closing_quote(line: &[u8], q: usize) -> Result<usize, UnbalancedQuotes> {
    match line.get(q + 1) {
        Some(&b) if !is_space(b) => Err(UnbalancedQuotes),
        _ => Ok(q + 1),
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

    fn args(list: &[&[u8]]) -> Vec<Vec<u8>> {
        list.iter().map(|a| a.to_vec()).collect()
    }

    #[test]
    fn split_follows_sdssplitargs() {
        let ok: [(&[u8], &[&[u8]]); 15] = [
            (b"", &[]),
            (b"   \t ", &[]),
            (b"set a b", &[b"set", b"a", b"b"]),
            (b"  set   a\tb  ", &[b"set", b"a", b"b"]),
            (br#"set "a b" 'c d'"#, &[b"set", b"a b", b"c d"]),
            (br#""\n\r\t\a\b\"\\\q""#, &[b"\n\r\t\x07\x08\"\\q"]),
            (br#""\x41\x4a\x4A\xzz\x4G""#, &[b"AJJxzzx4G"]),
            (br#""\xff""#, &[b"\xff"]),
            (br#"'it\'s' 'a\nb' 'a\\b\"'"#, &[b"it's", br"a\nb", br#"a\\b\""#]),
            (br#"ab"c d"  x'y z'"#, &[b"abc d", b"xy z"]),
            (br#""" ''"#, &[b"", b""]),
            ("héllo wörld".as_bytes(), &["héllo".as_bytes(), "wörld".as_bytes()]),
            (b"a\x0bb \x0c c", &[b"a\x0bb", b"c"]),
            (b"E a\rb\r\r", &[b"E", b"a", b"b"]),
            (b"\"a\"\x0b'b'\x0cz", &[b"a", b"b", b"z"]),
        ];
        for (line, want) in ok {
            assert_eq!(split(line), Ok(args(want)), "{}", line.escape_ascii());
        }
        for line in [&br#"get "a"#[..], b"get 'a", br#""a"b"#, b"'a'b", br#""a\"#, br#"'a\'"#] {
            assert_eq!(split(line), Err(UnbalancedQuotes), "{}", line.escape_ascii());
        }
    }

    #[test]
    fn a_nul_byte_ends_the_line_as_in_redis() {
        // The server's inline splitter used to keep NUL as data (`a\0b` one argument) and the
        // CLI's used to split at it and go on (`a`, `b`); sdssplitargs, and redis-cli 7.0.15
        // fed the same lines on stdin, stop at it.
        assert_eq!(split(b"SET k a\0b c"), Ok(args(&[b"SET", b"k", b"a"])));
        assert_eq!(split(b"SET k q\0"), Ok(args(&[b"SET", b"k", b"q"])));
        assert_eq!(split(b"\0PING"), Ok(vec![]));
        assert_eq!(split(b"SET k \"x\0y\""), Err(UnbalancedQuotes));
        assert_eq!(split(b"SET k 'x\0y'"), Err(UnbalancedQuotes));
        assert_eq!(split(b"ECHO \"a\"\0b"), Ok(args(&[b"ECHO", b"a"])));
        // An escaped NUL is data.
        assert_eq!(split(br#"ECHO "\x00z""#), Ok(args(&[b"ECHO", b"\0z"])));
    }

    #[test]
    fn split_into_appends_ranges_over_one_buffer() {
        let (mut out, mut ranges) = (b"keep".to_vec(), Vec::new());
        ranges.push(0..4);
        split_into(b"a \"b c\"", &mut out, &mut ranges).unwrap();
        assert_eq!(out, b"keepab c");
        assert_eq!(ranges, [0..4, 4..5, 5..8]);
    }

    #[test]
    fn numbers_follow_string2ll() {
        // Redis's string2ll accepts exactly: "0", or an optional '-' and digits without a
        // leading zero, at most 20 bytes, within i64.
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"10"), Some(10));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"00",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"1a",
            b"1\0",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"18446744073709551616",
            b"000000000000000000001",
        ] {
            assert_eq!(parse_i64(bad), None, "{}", bad.escape_ascii());
        }
    }
}
