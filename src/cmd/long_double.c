/*
 * INCRBYFLOAT and HINCRBYFLOAT arithmetic exactly as Redis 7.0 does it: in C's `long double`
 * (x87 80-bit extended precision on x86-64), parsed with strtold and printed with "%.17Lf",
 * the same libc calls as Redis's string2ld and ld2string(LD_STR_HUMAN) in util.c. Rust has
 * no long double; see long_double.rs for why this is C.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Redis's MAX_LONG_DOUBLE_CHARS: longest text parsed or printed. */
#define LD_CHARS_MAX (5 * 1024)

/* Redis's string2ld: 1 and *out set if s[0..len] is a long double Redis accepts. */
static int parse(const char *s, size_t len, long double *out) {
    char buf[LD_CHARS_MAX];
    char *end;
    long double v;
    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    v = strtold(buf, &end);
    if (isspace((unsigned char)buf[0]) || end[0] != '\0' || (size_t)(end - buf) != len ||
        (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL || fpclassify(v) == FP_ZERO)) ||
        errno == EINVAL || isnan(v))
        return 0;
    *out = v;
    return 1;
}

/* Redis's ld2string(LD_STR_HUMAN) for a finite value: "%.17Lf", trailing zeroes after the
 * point removed, "-0" written "0". Returns the length, 0 if it does not fit. */
static size_t human(long double v, char *buf, size_t cap) {
    int n = snprintf(buf, cap, "%.17Lf", v);
    size_t len;
    if (n < 0 || (size_t)n + 1 > cap) return 0;
    len = (size_t)n;
    if (strchr(buf, '.') != NULL) {
        char *p = buf + len - 1;
        while (*p == '0') {
            p--;
            len--;
        }
        if (*p == '.') len--;
    }
    if (len == 2 && buf[0] == '-' && buf[1] == '0') {
        buf[0] = '0';
        len = 1;
    }
    return len;
}

/* 1 if s[0..len] parses as Redis's long double; *infinite says whether it is an infinity. */
int ringkv_ld_check(const char *s, size_t len, int *infinite) {
    long double v;
    if (!parse(s, len, &v)) return 0;
    *infinite = isinf(v) ? 1 : 0;
    return 1;
}

/* old + incr (old NULL: 0) into out[0..cap], its length in *out_len.
 * Returns 0 on success, 1 if old is not a float, 2 if incr is not, 3 if the sum is NaN or
 * infinite, 4 if the text does not fit in cap. */
int ringkv_ld_add(const char *old, size_t old_len, const char *incr, size_t incr_len, char *out, size_t cap,
                  size_t *out_len) {
    long double value = 0, delta;
    if (old != NULL && !parse(old, old_len, &value)) return 1;
    if (!parse(incr, incr_len, &delta)) return 2;
    value += delta;
    if (isnan(value) || isinf(value)) return 3;
    *out_len = human(value, out, cap);
    return *out_len == 0 ? 4 : 0;
}
