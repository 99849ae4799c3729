//! The RDB primitives (`rdb.c`): lengths, strings (raw, integer-encoded, LZF), and the
//! compact blobs stored inside strings — listpacks (`listpack.c`), and for loading older
//! files ziplists (`ziplist.c`) and intsets (`intset.c`).
//!
//! Reading works on an in-memory slice through [`Reader`]: every length is checked against
//! the bytes left before anything is allocated or copied, so a corrupt file is an error
//! ([`RdbError`]), never a panic or an allocation sized by the file.

use std::borrow::Cow;

use super::{lzf, RdbError};

/// `RDB_ENCVAL` length prefix bits: the value is a special encoding, not a length.
const ENC_VAL: u8 = 3;
const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;
/// Redis tries the integer encoding only for strings this short (`rdbSaveRawString`).
const INT_ENCODING_LEN_MAX: usize = 11;
/// Strings at most this long are never compressed (`rdbSaveRawString`: "under 20 bytes it's
/// unable to compress even aaaaaaaaaaaaaaaaaa").
const LZF_LEN_MIN_EXCLUSIVE: usize = 20;
/// Bytes compression must save for a string to be written compressed (`rdbSaveLzfStringObject`).
const LZF_SAVING_MIN: usize = 4;

thread_local! {
    /// `rdbcompression` for what this thread writes now (see [`with_compression`]).
    static COMPRESS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f` with LZF compression of the strings it writes on or off (`rdbcompression`): a
/// setting of the writer, not threaded through every value encoder. Off by default.
pub fn with_compression<R>(on: bool, f: impl FnOnce() -> R) -> R {
    let before = COMPRESS.with(|c| c.replace(on));
    let result = f();
    COMPRESS.with(|c| c.set(before));
    result
}
/// A listpack's header (total bytes u32 + count u16) and its end marker.
const LP_HEADER: usize = 6;
const LP_EOF: u8 = 0xff;
/// A listpack's element count saturates here (`LP_HDR_NUMELE_UNKNOWN`).
const LP_COUNT_UNKNOWN: usize = 65535;
/// A ziplist's header: total bytes, tail offset (u32 each), count (u16).
const ZL_HEADER: usize = 10;
/// An intset's header: encoding width and length (u32 each).
const INTSET_HEADER: usize = 8;

/// A cursor over the bytes of a file or payload.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }
    pub fn pos(&self) -> usize {
        self.pos
    }
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    /// An error at the current position.
    pub fn err(&self, what: &str) -> RdbError {
        RdbError::new(format!("{what} at offset {}", self.pos))
    }
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], RdbError> {
        if n > self.remaining() {
            return Err(self.err("unexpected end of data"));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }
    pub fn u8(&mut self) -> Result<u8, RdbError> {
        Ok(self.bytes(1)?[0])
    }
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], RdbError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }

    /// A length or a special encoding (`rdbLoadLenByRef`): `(value, is_encoded)`.
    fn length_or_encoding(&mut self) -> Result<(u64, bool), RdbError> {
        let first = self.u8()?;
        Ok(match first >> 6 {
            0 => (u64::from(first & 0x3f), false),
            1 => (u64::from(first & 0x3f) << 8 | u64::from(self.u8()?), false),
            ENC_VAL => (u64::from(first & 0x3f), true),
            _ => match first {
                0x80 => (u64::from(u32::from_be_bytes(self.array()?)), false),
                0x81 => (u64::from_be_bytes(self.array()?), false),
                _ => return Err(self.err("invalid length encoding")),
            },
        })
    }

    /// A plain length (a count or a size).
    pub fn length(&mut self) -> Result<u64, RdbError> {
        match self.length_or_encoding()? {
            (n, false) => Ok(n),
            _ => Err(self.err("unexpected string encoding where a length was expected")),
        }
    }

    /// A length that must fit in the bytes left (`min_bytes_each` per counted item).
    pub fn count(&mut self, min_bytes_each: usize) -> Result<usize, RdbError> {
        let n = self.length()?;
        let bound = self.remaining() / min_bytes_each.max(1);
        usize::try_from(n).ok().filter(|&n| n <= bound).ok_or_else(|| self.err("count larger than the data left"))
    }

    /// A string in any encoding (`rdbGenericLoadStringObject`).
    pub fn string(&mut self) -> Result<Cow<'a, [u8]>, RdbError> {
        let (n, encoded) = self.length_or_encoding()?;
        if !encoded {
            let n = usize::try_from(n).map_err(|_| self.err("string too long"))?;
            return Ok(Cow::Borrowed(self.bytes(n)?));
        }
        let int = match n as u8 {
            ENC_INT8 => i64::from(self.u8()? as i8),
            ENC_INT16 => i64::from(i16::from_le_bytes(self.array()?)),
            ENC_INT32 => i64::from(i32::from_le_bytes(self.array()?)),
            ENC_LZF => {
                let clen = usize::try_from(self.length()?).map_err(|_| self.err("LZF length"))?;
                let len = usize::try_from(self.length()?).map_err(|_| self.err("LZF length"))?;
                let input = self.bytes(clen)?;
                return lzf::decompress(input, len).map(Cow::Owned).ok_or_else(|| self.err("invalid LZF data"));
            }
            _ => return Err(self.err("unknown string encoding")),
        };
        Ok(Cow::Owned(int.to_string().into_bytes()))
    }
}

/// `rdbSaveLen`.
pub fn write_length(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]);
    } else if let Ok(n32) = u32::try_from(n) {
        out.push(0x80);
        out.extend_from_slice(&n32.to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// `rdbSaveRawString`: integer-encoded when Redis would (a canonical integer of at most 11
/// characters that fits 32 bits); else, under [`with_compression`], LZF when the string is
/// longer than 20 bytes and compression saves at least 4; raw otherwise.
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() <= INT_ENCODING_LEN_MAX {
        if let Some(v) = crate::args::parse_i64(s) {
            let tag = ENC_VAL << 6;
            if let Ok(v) = i8::try_from(v) {
                out.extend_from_slice(&[tag | ENC_INT8, v as u8]);
                return;
            } else if let Ok(v) = i16::try_from(v) {
                out.push(tag | ENC_INT16);
                out.extend_from_slice(&v.to_le_bytes());
                return;
            } else if let Ok(v) = i32::try_from(v) {
                out.push(tag | ENC_INT32);
                out.extend_from_slice(&v.to_le_bytes());
                return;
            }
        }
    }
    if s.len() > LZF_LEN_MIN_EXCLUSIVE && COMPRESS.with(std::cell::Cell::get) {
        if let Some(packed) = lzf::compress(s, s.len() - LZF_SAVING_MIN) {
            out.push(ENC_VAL << 6 | ENC_LZF);
            write_length(out, packed.len() as u64);
            write_length(out, s.len() as u64);
            out.extend_from_slice(&packed);
            return;
        }
    }
    write_length(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Builds a listpack (`lpAppend`): integers in canonical form take the integer encodings.
pub struct ListpackWriter {
    buf: Vec<u8>,
    count: usize,
}

impl Default for ListpackWriter {
    fn default() -> Self {
        ListpackWriter { buf: vec![0; LP_HEADER], count: 0 }
    }
}

impl ListpackWriter {
    /// Bytes so far (to cut a list into nodes).
    pub fn bytes(&self) -> usize {
        self.buf.len() + 1
    }
    pub fn count(&self) -> usize {
        self.count
    }
    pub fn push(&mut self, item: &[u8]) {
        let start = self.buf.len();
        let b = &mut self.buf;
        match crate::args::parse_i64(item) {
            Some(v) if (0..=127).contains(&v) => b.push(v as u8),
            Some(v) if (-4096..=4095).contains(&v) => {
                let u = (v as u64) & 0x1fff;
                b.extend_from_slice(&[0xc0 | (u >> 8) as u8, u as u8]);
            }
            Some(v) if i16::try_from(v).is_ok() => {
                b.push(0xf1);
                b.extend_from_slice(&(v as i16).to_le_bytes());
            }
            Some(v) if (-(1 << 23)..(1 << 23)).contains(&v) => {
                b.push(0xf2);
                b.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
            }
            Some(v) if i32::try_from(v).is_ok() => {
                b.push(0xf3);
                b.extend_from_slice(&(v as i32).to_le_bytes());
            }
            Some(v) => {
                b.push(0xf4);
                b.extend_from_slice(&v.to_le_bytes());
            }
            None if item.len() < 64 => b.push(0x80 | item.len() as u8),
            None if item.len() < 4096 => b.extend_from_slice(&[0xe0 | (item.len() >> 8) as u8, item.len() as u8]),
            None => {
                b.push(0xf0);
                b.extend_from_slice(&(item.len() as u32).to_le_bytes());
            }
        }
        if crate::args::parse_i64(item).is_none() {
            b.extend_from_slice(item);
        }
        let entry_len = b.len() - start;
        write_backlen(b, entry_len);
        self.count += 1;
    }
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(LP_EOF);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let count = self.count.min(LP_COUNT_UNKNOWN) as u16;
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

/// `lpEncodeBacklen`: the entry's length in 7-bit groups, readable from the right.
fn write_backlen(out: &mut Vec<u8>, len: usize) {
    let groups = match len {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    };
    for i in (0..groups).rev() {
        let byte = ((len >> (7 * i)) & 127) as u8;
        out.push(if i == groups - 1 { byte } else { byte | 128 });
    }
}

/// Size of the backlen that follows an entry of `len` bytes.
fn backlen_size(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Every element of a listpack, integers as their decimal text.
pub fn read_listpack(blob: &[u8]) -> Result<Vec<Vec<u8>>, RdbError> {
    let bad = |what: &str| RdbError::new(format!("corrupt listpack: {what}"));
    if blob.len() < LP_HEADER + 1 || u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize != blob.len() {
        return Err(bad("header"));
    }
    let mut r = Reader::new(&blob[LP_HEADER..]);
    let mut items = Vec::new();
    loop {
        let start = r.pos();
        let first = r.u8().map_err(|_| bad("no end marker"))?;
        if first == LP_EOF {
            break;
        }
        let item = lp_entry(&mut r, first).map_err(|_| bad("entry"))?;
        let size = r.pos() - start;
        r.bytes(backlen_size(size)).map_err(|_| bad("backlen"))?;
        items.push(item);
    }
    if r.remaining() != 0 {
        return Err(bad("bytes after the end marker"));
    }
    Ok(items)
}

/// One listpack entry after its first byte (the backlen is left to the caller).
fn lp_entry(r: &mut Reader<'_>, first: u8) -> Result<Vec<u8>, RdbError> {
    let int = |v: i64| Ok(v.to_string().into_bytes());
    let str_of = |r: &mut Reader<'_>, n: usize| Ok(r.bytes(n)?.to_vec());
    match first {
        0x00..=0x7f => int(i64::from(first)),
        0x80..=0xbf => str_of(r, usize::from(first & 0x3f)),
        0xc0..=0xdf => {
            let u = (u16::from(first & 0x1f) << 8) | u16::from(r.u8()?);
            // Sign-extend 13 bits.
            int(i64::from(((u << 3) as i16) >> 3))
        }
        0xe0..=0xef => {
            let n = (usize::from(first & 0x0f) << 8) | usize::from(r.u8()?);
            str_of(r, n)
        }
        0xf0 => {
            let n = u32::from_le_bytes(r.array()?) as usize;
            str_of(r, n)
        }
        0xf1 => int(i64::from(i16::from_le_bytes(r.array()?))),
        0xf2 => {
            let b: [u8; 3] = r.array()?;
            int(i64::from(i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8))
        }
        0xf3 => int(i64::from(i32::from_le_bytes(r.array()?))),
        0xf4 => int(i64::from_le_bytes(r.array()?)),
        _ => Err(r.err("unknown listpack encoding")),
    }
}

/// Every element of a ziplist (RDB files before version 10), integers as text.
pub fn read_ziplist(blob: &[u8]) -> Result<Vec<Vec<u8>>, RdbError> {
    let bad = || RdbError::new("corrupt ziplist".to_string());
    if blob.len() < ZL_HEADER + 1 || u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize != blob.len() {
        return Err(bad());
    }
    let mut r = Reader::new(&blob[ZL_HEADER..]);
    let mut items = Vec::new();
    loop {
        let prev = r.u8().map_err(|_| bad())?;
        if prev == 0xff {
            break;
        }
        if prev == 0xfe {
            r.bytes(4).map_err(|_| bad())?;
        }
        items.push(zl_entry(&mut r).map_err(|_| bad())?);
    }
    if r.remaining() != 0 {
        return Err(bad());
    }
    Ok(items)
}

/// One ziplist entry after its prevlen.
fn zl_entry(r: &mut Reader<'_>) -> Result<Vec<u8>, RdbError> {
    let enc = r.u8()?;
    let int = |v: i64| Ok(v.to_string().into_bytes());
    let n = match enc >> 6 {
        0 => usize::from(enc & 0x3f),
        1 => (usize::from(enc & 0x3f) << 8) | usize::from(r.u8()?),
        2 => u32::from_be_bytes(r.array()?) as usize,
        _ => {
            return match enc {
                0xc0 => int(i64::from(i16::from_le_bytes(r.array()?))),
                0xd0 => int(i64::from(i32::from_le_bytes(r.array()?))),
                0xe0 => int(i64::from_le_bytes(r.array()?)),
                0xf0 => {
                    let b: [u8; 3] = r.array()?;
                    int(i64::from(i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8))
                }
                0xfe => int(i64::from(r.u8()? as i8)),
                0xf1..=0xfd => int(i64::from(enc & 0x0f) - 1),
                _ => Err(r.err("unknown ziplist encoding")),
            }
        }
    };
    Ok(r.bytes(n)?.to_vec())
}

/// An intset blob of ascending integers (the narrowest width that fits them all).
pub fn write_intset(values: &[i64]) -> Vec<u8> {
    let fits = |lo: i64, hi: i64| values.iter().all(|v| (lo..=hi).contains(v));
    let width: usize = if fits(i16::MIN.into(), i16::MAX.into()) {
        2
    } else if fits(i32::MIN.into(), i32::MAX.into()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(INTSET_HEADER + width * values.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

/// The integers of an intset blob.
pub fn read_intset(blob: &[u8]) -> Result<Vec<i64>, RdbError> {
    let bad = || RdbError::new("corrupt intset".to_string());
    let mut r = Reader::new(blob);
    let width = u32::from_le_bytes(r.array().map_err(|_| bad())?) as usize;
    let len = u32::from_le_bytes(r.array().map_err(|_| bad())?) as usize;
    if !matches!(width, 2 | 4 | 8) || len.checked_mul(width) != Some(r.remaining()) {
        return Err(bad());
    }
    let mut out = Vec::with_capacity(len);
    for chunk in r.bytes(len * width).map_err(|_| bad())?.chunks_exact(width) {
        let mut b = [0u8; 8];
        b[..width].copy_from_slice(chunk);
        let shift = 64 - 8 * width as u32;
        out.push((i64::from_le_bytes(b) << shift) >> shift);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_strings_round_trip_in_every_encoding() {
        for n in [0u64, 63, 64, 16383, 16384, u32::MAX as u64, u32::MAX as u64 + 1] {
            let mut out = Vec::new();
            write_length(&mut out, n);
            assert_eq!(Reader::new(&out).length().unwrap(), n);
        }
        for s in ["", "a", "0", "-1", "127", "-128", "300", "70000", "-2147483648", "2147483648", "01", "+1", "abc"] {
            let mut out = Vec::new();
            write_string(&mut out, s.as_bytes());
            let mut r = Reader::new(&out);
            assert_eq!(&r.string().unwrap()[..], s.as_bytes(), "{s}");
            assert_eq!(r.remaining(), 0);
        }
        let mut out = Vec::new();
        write_string(&mut out, b"12");
        assert_eq!(out, [0xc0, 12], "int8 encoding as Redis");
        write_string(&mut out, b"2147483648");
        assert_eq!(out[2], 10, "beyond 32 bits: raw");
    }

    #[test]
    fn listpacks_round_trip_every_integer_width_and_string_size() {
        let long = "x".repeat(5000);
        let items: Vec<String> =
            ["0", "127", "128", "-1", "-4096", "4095", "4096", "-32768", "32767", "8388607", "-8388608"]
                .iter()
                .map(|s| s.to_string())
                .chain(
                    ["2147483647", "-2147483649", "9223372036854775807", "-9223372036854775808", "a", "01"]
                        .map(String::from),
                )
                .chain([long.clone(), "y".repeat(200)])
                .collect();
        let mut w = ListpackWriter::default();
        for i in &items {
            w.push(i.as_bytes());
        }
        let blob = w.finish();
        let back = read_listpack(&blob).unwrap();
        assert_eq!(back, items.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>());
        assert!(read_listpack(&blob[..blob.len() - 1]).is_err());
    }

    #[test]
    fn intsets_round_trip_at_each_width() {
        for values in [vec![-3, 1, 2], vec![-70000, 5], vec![i64::MIN, i64::MAX]] {
            assert_eq!(read_intset(&write_intset(&values)).unwrap(), values);
        }
        assert!(read_intset(&[2, 0, 0, 0, 5, 0, 0, 0]).is_err());
    }
}
