/*
 * num: checked number parsing for network input (see util/num.h). The
 * parsers work on (pointer, length) views so they never depend on a NUL
 * and never read past the view.
 */
#include "stashd/util/num.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

bool
num_parse_u64(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || len > 20) {
        return false;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9) {
            return false;
        }
        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

bool
num_parse_u32(const char *s, size_t len, uint32_t *out)
{
    uint64_t v;
    if (!num_parse_u64(s, len, &v) || v > UINT32_MAX) {
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

bool
num_parse_i64(const char *s, size_t len, int64_t *out)
{
    bool neg = false;
    if (len > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        s++;
        len--;
    }
    uint64_t v;
    if (!num_parse_u64(s, len, &v)) {
        return false;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1) {
            return false;
        }
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX) {
            return false;
        }
        *out = (int64_t)v;
    }
    return true;
}

bool
num_parse_i32(const char *s, size_t len, int32_t *out)
{
    int64_t v;
    if (!num_parse_i64(s, len, &v) || v < INT32_MIN || v > INT32_MAX) {
        return false;
    }
    *out = (int32_t)v;
    return true;
}

bool
num_parse_double(const char *s, size_t len, double *out)
{
    char tmp[128];
    if (len == 0 || len >= sizeof(tmp)) {
        return false;
    }
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    /* strtod skips leading space; the protocols do not allow it. */
    if (tmp[0] == ' ' || tmp[0] == '\t' || tmp[0] == '\n' || tmp[0] == '\r' || tmp[0] == '\v' ||
        tmp[0] == '\f') {
        return false;
    }
    char *end;
    double v = strtod(tmp, &end);
    if (end != tmp + len || !isfinite(v)) {
        return false;
    }
    *out = v;
    return true;
}

/* "00".."99": two digits per division in num_u64_to_dec. */
const char num_digit_pairs[201] = "00010203040506070809"
                                  "10111213141516171819"
                                  "20212223242526272829"
                                  "30313233343536373839"
                                  "40414243444546474849"
                                  "50515253545556575859"
                                  "60616263646566676869"
                                  "70717273747576777879"
                                  "80818283848586878889"
                                  "90919293949596979899";

size_t
num_u64_to_dec(uint64_t v, char *out)
{
    if (v < 10) {
        out[0] = (char)('0' + v);
        return 1;
    }
    /* Count the digits, then write them from the end, two at a time:
     * every reply line formats flags and lengths, so this is hot. */
    size_t n = 2;
    for (uint64_t t = 100; n < 20 && v >= t; t *= 10) {
        n++;
    }
    char *p = out + n;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        p -= 2;
        memcpy(p, num_digit_pairs + 2 * r, 2);
    }
    if (v >= 10) {
        memcpy(p - 2, num_digit_pairs + 2 * v, 2);
    } else {
        p[-1] = (char)('0' + v);
    }
    return n;
}

bool
num_parse_i64_exact(const char *s, size_t len, int64_t *out)
{
    if (len == 1 && s[0] == '0') {
        *out = 0;
        return true;
    }
    size_t sign = len > 0 && s[0] == '-';
    /* no '+', no leading zero, no "-0": then num_parse_i64's rules */
    if (len <= sign || s[sign] < '1' || s[sign] > '9') {
        return false;
    }
    return num_parse_i64(s, len, out);
}
