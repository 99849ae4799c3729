//! The FUNCTION DUMP / RESTORE payload, byte-compatible with Redis 7.0: one RDB
//! `FUNCTION2` record (opcode 245 + an RDB string holding the library code) per library,
//! then the RDB version (2 bytes, little-endian) and a CRC64 (Jones, reflected, 8 bytes
//! little-endian) of everything before it. We write plain strings; we read plain and
//! LZF-compressed ones (Redis compresses code longer than 20 bytes).

/// RDB opcode of a function library record (Redis 7's `RDB_OPCODE_FUNCTION2`).
const OPCODE_FUNCTION2: u8 = 245;
/// The RDB version Redis 7.0 writes; payloads from newer versions are refused, as Redis does.
const RDB_VERSION: u16 = 10;
/// Largest decompressed string accepted from a payload: a library's code is at most a
/// client argument (proto-max-bulk-len's ceiling).
const STRING_BYTES_MAX: usize = 512 * 1024 * 1024;

pub fn dump(codes: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for code in codes {
        out.push(OPCODE_FUNCTION2);
        write_len(&mut out, code.len());
        out.extend_from_slice(code);
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The library codes in `payload`, or `None` if it is malformed, from a newer RDB version
/// or fails its checksum.
pub fn parse(payload: &[u8]) -> Option<Vec<Vec<u8>>> {
    if payload.len() < 10 {
        return None;
    }
    let (body, footer) = payload.split_at(payload.len() - 8);
    if crc64(0, body) != u64::from_le_bytes(footer.try_into().ok()?) {
        return None;
    }
    let (records, version) = body.split_at(body.len() - 2);
    if u16::from_le_bytes(version.try_into().ok()?) > RDB_VERSION {
        return None;
    }
    let mut pos = 0;
    let mut codes = Vec::new();
    while pos < records.len() {
        if records[pos] != OPCODE_FUNCTION2 {
            return None;
        }
        pos += 1;
        codes.push(read_string(records, &mut pos)?);
    }
    Some(codes)
}

fn write_len(out: &mut Vec<u8>, len: usize) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.extend_from_slice(&[0x40 | (len >> 8) as u8, len as u8]);
    } else if len <= u32::MAX as usize {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// An RDB length, or `Err(encoding)` for the special encodings (`11xxxxxx`).
fn read_len(buf: &[u8], pos: &mut usize) -> Option<Result<usize, u8>> {
    let first = *buf.get(*pos)?;
    *pos += 1;
    let len = match first >> 6 {
        0 => (first & 0x3f) as usize,
        1 => {
            let b = *buf.get(*pos)?;
            *pos += 1;
            (((first & 0x3f) as usize) << 8) | b as usize
        }
        2 if first == 0x80 => {
            let b = buf.get(*pos..*pos + 4)?;
            *pos += 4;
            u32::from_be_bytes(b.try_into().ok()?) as usize
        }
        2 if first == 0x81 => {
            let b = buf.get(*pos..*pos + 8)?;
            *pos += 8;
            usize::try_from(u64::from_be_bytes(b.try_into().ok()?)).ok()?
        }
        3 => return Some(Err(first & 0x3f)),
        _ => return None,
    };
    Some(Ok(len))
}

fn read_string(buf: &[u8], pos: &mut usize) -> Option<Vec<u8>> {
    match read_len(buf, pos)? {
        Ok(len) => {
            let s = buf.get(*pos..pos.checked_add(len)?)?.to_vec();
            *pos += len;
            Some(s)
        }
        // RDB_ENC_LZF
        Err(3) => {
            let clen = read_len(buf, pos)?.ok()?;
            let ulen = read_len(buf, pos)?.ok()?;
            if ulen > STRING_BYTES_MAX {
                return None;
            }
            let data = buf.get(*pos..pos.checked_add(clen)?)?;
            *pos += clen;
            let out = lzf_decompress(data, ulen)?;
            (out.len() == ulen).then_some(out)
        }
        Err(_) => None,
    }
}

/// LZF decompression (liblzf's format), producing at most `cap` bytes.
fn lzf_decompress(input: &[u8], cap: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(cap.min(1 << 20));
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            out.extend_from_slice(input.get(i..i + run)?);
            i += run;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(i)? as usize;
                i += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + *input.get(i)? as usize + 1;
            i += 1;
            let start = out.len().checked_sub(back)?;
            for k in 0..len + 2 {
                let b = out[start + k];
                out.push(b);
            }
        }
        if out.len() > cap {
            return None;
        }
    }
    Some(out)
}

/// Redis's `crc64` (Jones polynomial, reflected, no final xor).
fn crc64(mut crc: u64, data: &[u8]) -> u64 {
    const POLY: u64 = 0x95ac_9329_ac4b_c9b5;
    for &b in data {
        crc ^= b as u64;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ POLY } else { crc >> 1 };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_matches_redis_test_vector() {
        // From Redis's crc64.c self-test.
        assert_eq!(crc64(0, b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }

    #[test]
    fn dump_parses_back_and_corruption_is_refused() {
        let long = vec![b'x'; 20_000];
        let payload = dump(&[b"#!lua name=a\n", &long]);
        assert_eq!(parse(&payload).unwrap(), vec![b"#!lua name=a\n".to_vec(), long]);
        let mut bad = payload.clone();
        bad[3] ^= 1;
        assert!(parse(&bad).is_none());
        assert!(parse(b"short").is_none());
    }

    #[test]
    fn reads_a_redis_made_lzf_payload() {
        // FUNCTION DUMP from redis-server 7.0.15 after loading one library.
        let code = b"#!lua name=lib1\nredis.register_function('f1', function(keys, args) return redis.call('get', keys[1]) end)";
        let redis = b"\xf5\xc3@b@i\x1f#!lua name=lib1\nredis.register_f\runction('f1', \xe0\x00\x0e\x11keys, args) return \x06@9\x08call('get -@$\x08[1]) end)";
        let mut payload = redis.to_vec();
        payload.extend_from_slice(&RDB_VERSION.to_le_bytes());
        let crc = crc64(0, &payload);
        payload.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(parse(&payload).unwrap(), vec![code.to_vec()]);
    }
}
