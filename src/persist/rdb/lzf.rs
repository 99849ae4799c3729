//! LZF decompression (liblzf's `lzf_d.c`), for the compressed strings Redis writes with
//! `rdbcompression yes`. Decompression only: ringkv writes strings uncompressed, which every
//! Redis reads. Every copy is bounds-checked: a corrupt stream is an error, never a panic.

/// The most output one input byte can give: a 3-byte back reference copies up to 264
/// bytes. A declared length beyond `compressed * LZF_MAX_EXPANSION` is corrupt, so the
/// output buffer is never sized from an untrusted number alone.
pub const LZF_MAX_EXPANSION: usize = 88;

/// Decompress `input` into exactly `out_len` bytes; `None` if the stream is corrupt.
pub fn decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    if out_len > input.len().saturating_mul(LZF_MAX_EXPANSION) {
        return None;
    }
    let mut out = Vec::with_capacity(out_len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = usize::from(input[i]);
        i += 1;
        if ctrl < 32 {
            // A literal run of ctrl + 1 bytes.
            let n = ctrl + 1;
            let run = input.get(i..i + n)?;
            if out.len() + n > out_len {
                return None;
            }
            out.extend_from_slice(run);
            i += n;
        } else {
            let mut n = ctrl >> 5;
            if n == 7 {
                n += usize::from(*input.get(i)?);
                i += 1;
            }
            n += 2;
            let back = ((ctrl & 0x1f) << 8) + usize::from(*input.get(i)?) + 1;
            i += 1;
            if back > out.len() || out.len() + n > out_len {
                return None;
            }
            let start = out.len() - back;
            // Byte by byte: the source may overlap what is being written (a run).
            for k in 0..n {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
    (out.len() == out_len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_back_references() {
        // "abcabcabcabc": literal "abc", then a back reference of 9 bytes at distance 3.
        let stream = [2, b'a', b'b', b'c', (7 << 5), 0, 2];
        assert_eq!(decompress(&stream, 12).unwrap(), b"abcabcabcabc");
        assert_eq!(decompress(&stream, 11), None, "length mismatch");
        assert_eq!(decompress(&[(1 << 5), 5], 3), None, "reference before the start");
        assert_eq!(decompress(&[5, b'a'], 6), None, "truncated literal");
    }
}
