//! INCRBYFLOAT and HINCRBYFLOAT arithmetic in C's `long double`, as Redis 7.0 computes them.
//!
//! **Why C.** Redis adds in `long double` (x87 80-bit extended precision on x86-64), parses
//! with `strtold` and prints with `"%.17Lf"` (`string2ld` / `ld2string` in its util.c). The
//! extra bits are visible: `INCRBYFLOAT k 0.1` three times replies `0.3` in Redis and
//! `0.30000000000000004` in `f64`; `INCRBYFLOAT k 3.0000000000000001` keeps its last digit.
//! Rust has no `long double` type and cannot call functions that take or return one, so
//! the arithmetic is a few lines of C (`src/cmd/long_double.c`, built by `build.rs` with the `cc`
//! crate), calling the same libc functions Redis calls: the replies match Redis's on the
//! same platform bit for bit.

use std::os::raw::{c_char, c_int};

/// Redis's `MAX_LONG_DOUBLE_CHARS`: the longest text parsed or printed (`%.17Lf` of the
/// largest long double is about 4 950 characters).
pub const LD_CHARS_MAX: usize = 5 * 1024;

extern "C" {
    fn ringkv_ld_check(s: *const c_char, len: usize, infinite: *mut c_int) -> c_int;
    fn ringkv_ld_add(
        old: *const c_char,
        old_len: usize,
        incr: *const c_char,
        incr_len: usize,
        out: *mut c_char,
        cap: usize,
        out_len: *mut usize,
    ) -> c_int;
}

/// Why [`add`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddError {
    /// The stored value is not a float Redis accepts.
    OldNotFloat,
    /// The increment is not a float Redis accepts.
    IncrNotFloat,
    /// The sum is NaN or infinite.
    NotFinite,
}

/// `Some(infinite)` if `text` parses as Redis's long double (`string2ld`: no leading space,
/// nothing after the number, no NUL inside, not NaN, no overflow), `None` if not.
pub fn check(text: &[u8]) -> Option<bool> {
    let mut infinite: c_int = 0;
    // SAFETY: `text` is valid for `text.len()` bytes and only read; `infinite` is a valid
    // out-pointer. The C side copies at most LD_CHARS_MAX - 1 bytes into its own buffer.
    let ok = unsafe { ringkv_ld_check(text.as_ptr().cast(), text.len(), &mut infinite) };
    (ok == 1).then_some(infinite != 0)
}

/// `old + incr` in long double (`old` absent: 0), printed as Redis prints it
/// (`ld2string(LD_STR_HUMAN)`).
pub fn add(old: Option<&[u8]>, incr: &[u8]) -> Result<Vec<u8>, AddError> {
    // Nearly every sum prints in a few dozen bytes: a small stack buffer first, the largest
    // text only when the C side says it did not fit.
    let mut small = [0u8; SMALL_TEXT_BYTES];
    match raw_add(old, incr, &mut small) {
        (RC_TOO_LONG, _) => {
            let mut big = vec![0u8; LD_CHARS_MAX];
            let (rc, len) = raw_add(old, incr, &mut big);
            outcome(rc).map(|()| {
                big.truncate(len);
                big
            })
        }
        (rc, len) => outcome(rc).map(|()| small[..len].to_vec()),
    }
}

/// Bytes of the first buffer [`add`] tries.
const SMALL_TEXT_BYTES: usize = 128;
/// `ringkv_ld_add`'s code for "the text does not fit in the buffer".
const RC_TOO_LONG: c_int = 4;

/// `ringkv_ld_add`'s other return codes as a result.
fn outcome(rc: c_int) -> Result<(), AddError> {
    match rc {
        0 => Ok(()),
        1 => Err(AddError::OldNotFloat),
        2 => Err(AddError::IncrNotFloat),
        // 3, and 4 (cannot happen for a finite long double in LD_CHARS_MAX bytes).
        _ => Err(AddError::NotFinite),
    }
}

/// The C call: its return code and the text's length.
fn raw_add(old: Option<&[u8]>, incr: &[u8], out: &mut [u8]) -> (c_int, usize) {
    let mut len = 0usize;
    let (old_ptr, old_len) = old.map_or((std::ptr::null(), 0), |o| (o.as_ptr(), o.len()));
    // SAFETY: `old` (when not null) and `incr` are valid for their lengths and only read;
    // `out` is valid for writes of `out.len()` bytes, which the C side never exceeds (it
    // bounds snprintf by `cap`); `len` is a valid out-pointer.
    let rc = unsafe {
        ringkv_ld_add(
            old_ptr.cast(),
            old_len,
            incr.as_ptr().cast(),
            incr.len(),
            out.as_mut_ptr().cast(),
            out.len(),
            &mut len,
        )
    };
    (rc, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(old: &str, incr: &str) -> String {
        String::from_utf8(add(Some(old.as_bytes()), incr.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn sums_print_as_redis_prints_them() {
        assert_eq!(sum("0.1", "0.2"), "0.3");
        assert_eq!(sum("10.50", "0.1"), "10.6");
        assert_eq!(sum("5.0e3", "2.0e2"), "5200");
        assert_eq!(sum("1.1", "2.2"), "3.3");
        assert_eq!(sum("0", "3.0000000000000001"), "3.0000000000000001");
        assert_eq!(sum("0", "9223372036854775807"), "9223372036854775807");
        assert_eq!(sum("0", "99999999999999999999999"), "100000000000000000000000");
        assert_eq!(sum("-1", "1"), "0");
        assert_eq!(sum("-0.0", "0"), "0");
        assert_eq!(sum("1", "-1.5"), "-0.5");
        assert_eq!(String::from_utf8(add(None, b"-3.5").unwrap()).unwrap(), "-3.5");
        // 1e308 + 1e308 is finite in long double (Redis replies its 309 digits).
        assert_eq!(sum("1e308", "1e308").len(), 309);
    }

    #[test]
    fn what_redis_rejects_is_rejected() {
        assert_eq!(add(Some(b"abc"), b"1"), Err(AddError::OldNotFloat));
        assert_eq!(add(Some(b"1"), b" 1"), Err(AddError::IncrNotFloat));
        assert_eq!(add(Some(b"1"), b"1 "), Err(AddError::IncrNotFloat));
        assert_eq!(add(Some(b"1"), b""), Err(AddError::IncrNotFloat));
        assert_eq!(add(Some(b"1\0x"), b"1"), Err(AddError::OldNotFloat), "a NUL inside");
        assert_eq!(add(Some(b"1"), b"nan"), Err(AddError::IncrNotFloat));
        assert_eq!(add(Some(b"1"), b"1e99999"), Err(AddError::IncrNotFloat), "overflow");
        assert_eq!(add(Some(b"1"), b"inf"), Err(AddError::NotFinite));
        assert_eq!(add(Some(b"inf"), b"-inf"), Err(AddError::NotFinite));
        assert_eq!(add(Some(&[b'1'; LD_CHARS_MAX]), b"1"), Err(AddError::OldNotFloat), "too long");
        assert_eq!(check(b"inf"), Some(true));
        assert_eq!(check(b"1e400"), Some(false), "finite in long double");
        assert_eq!(check(b"x"), None);
    }
}
