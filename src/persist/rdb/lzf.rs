//! LZF, the compression of RDB strings (`rdbcompression yes`): decompression as liblzf's
//! `lzf_d.c` (every copy bounds-checked: a corrupt stream is an error, never a panic) and a
//! compressor writing the same stream format `lzf_compress` writes (literal runs of 1..=32
//! bytes, back references of 3..=264 bytes at distances up to 8 KiB), which Redis's
//! `lzf_decompress` reads. The compressor finds matches through a hash table of 3-byte
//! prefixes sized to the input (a small string does not pay for a 64 Ki-entry table); its
//! output need not be byte-identical to liblzf's, only valid.

/// Longest literal run one control byte announces (liblzf's MAX_LIT).
const MAX_LIT: usize = 1 << 5;
/// Farthest back reference (MAX_OFF): 13 bits of distance.
const MAX_OFF: usize = 1 << 13;
/// Longest back reference (MAX_REF): 7 + 255 + 2 bytes.
const MAX_REF: usize = (1 << 8) + (1 << 3);
/// Largest hash table (entries) of the compressor: liblzf's HLOG is 16; 14 bits keep the
/// table within 64 KiB of u32 positions.
const HASH_BITS_MAX: u32 = 14;
/// Smallest hash table (entries, as bits).
const HASH_BITS_MIN: u32 = 6;

/// Compress `input`; `None` unless the result fits in `out_max` bytes (Redis asks for at
/// least 4 bytes saved: `out_max = len - 4`).
pub fn compress(input: &[u8], out_max: usize) -> Option<Vec<u8>> {
    let n = input.len();
    if n == 0 || out_max == 0 {
        return None;
    }
    let bits = (usize::BITS - n.leading_zeros()).clamp(HASH_BITS_MIN, HASH_BITS_MAX);
    let mut table = vec![0u32; 1 << bits]; // position + 1 of the last prefix seen; 0: none
    let hash = |i: usize| -> usize {
        let v = u32::from(input[i]) << 16 | u32::from(input[i + 1]) << 8 | u32::from(input[i + 2]);
        (v.wrapping_mul(2_654_435_761) >> (32 - bits)) as usize
    };
    let mut out = Vec::with_capacity(out_max.min(n + n / MAX_LIT + 1));
    let (mut i, mut literals) = (0usize, 0usize);
    while i + 2 < n {
        let h = hash(i);
        let candidate = std::mem::replace(&mut table[h], i as u32 + 1) as usize;
        let found = candidate.checked_sub(1).filter(|&r| i - r - 1 < MAX_OFF && input[r..r + 3] == input[i..i + 3]);
        let Some(r) = found else {
            i += 1;
            continue;
        };
        let max_len = (n - i).min(MAX_REF);
        let mut len = 3;
        while len < max_len && input[r + len] == input[i + len] {
            len += 1;
        }
        put_literals(&mut out, &input[literals..i]);
        let (code, off) = (len - 2, i - r - 1);
        if code < 7 {
            out.push((code << 5 | off >> 8) as u8);
        } else {
            out.push((7 << 5 | off >> 8) as u8);
            out.push((code - 7) as u8);
        }
        out.push(off as u8);
        if out.len() > out_max {
            return None;
        }
        for j in i + 1..(i + len).min(n - 2) {
            table[hash(j)] = j as u32 + 1;
        }
        i += len;
        literals = i;
    }
    put_literals(&mut out, &input[literals..]);
    (out.len() <= out_max).then_some(out)
}

/// Literal runs of at most [`MAX_LIT`] bytes, each after its control byte (`length - 1`).
fn put_literals(out: &mut Vec<u8>, bytes: &[u8]) {
    for run in bytes.chunks(MAX_LIT) {
        out.push((run.len() - 1) as u8);
        out.extend_from_slice(run);
    }
}

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

    #[test]
    fn compress_round_trips_and_respects_the_bound() {
        let mut inputs: Vec<Vec<u8>> = vec![
            b"a".repeat(1000),
            b"abcabcabcabcabcabcabcabcabcabc".to_vec(),
            (0..5000u32).map(|i| (i * 7 % 13) as u8).collect(),
            (0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect(), // noise
            b"hello world, hello world, hello world!".to_vec(),
        ];
        inputs.push([b"x".repeat(9000), b"y".repeat(300), b"x".repeat(9000)].concat()); // far refs
        for input in &inputs {
            match compress(input, input.len() - 4) {
                Some(c) => {
                    assert!(c.len() <= input.len() - 4);
                    assert_eq!(decompress(&c, input.len()).as_deref(), Some(&input[..]), "len {}", input.len());
                }
                None => assert!(input.len() == 20_000, "only the noise does not compress"),
            }
        }
        assert!(compress(&b"a".repeat(1000), 1000).unwrap().len() < 30, "runs compress well");
        assert_eq!(compress(b"", 10), None);
        assert_eq!(compress(b"abcdefgh", 4), None, "incompressible within the bound");
        // Every length and a few alphabets round trip (each one small enough to test all).
        for len in 1..300 {
            for alphabet in [1u32, 2, 5, 251] {
                let input: Vec<u8> = (0..len).map(|i| (i * 31 % alphabet) as u8).collect();
                if let Some(c) = compress(&input, input.len() + 64) {
                    assert_eq!(decompress(&c, input.len()).as_deref(), Some(&input[..]), "{len} {alphabet}");
                }
            }
        }
    }
}
