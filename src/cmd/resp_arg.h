/*
 * resp_arg: reading a RESP request's arguments (private to cmd/): views
 * into the connection's read buffer, never NUL-terminated.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "stashd/store/store.h"
#include "stashd/util/bstr.h"
#include "stashd/util/num.h"

/* Case-insensitive compare of an argument with a lower-case literal. */
static inline bool
resp_arg_is(struct bstr a, const char *lower)
{
    size_t n = strlen(lower);
    if (a.len != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = a.data[i];
        if (ch >= 'A' && ch <= 'Z') {
            ch = (char)(ch + 32);
        }
        if (ch != lower[i]) {
            return false;
        }
    }
    return true;
}

/* An integer argument as Redis reads one (string2ll: see util/num.h). */
static inline bool
resp_arg_i64(struct bstr a, int64_t *out)
{
    return num_parse_i64_exact(a.data, a.len, out);
}

/* Redis's parseScanCursorOrReply: strtoul rules (an optional sign, a
 * negative one wrapping), no leading space, nothing after the digits. */
static inline bool
resp_arg_cursor(struct bstr a, uint64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (a.len > 0 && (a.data[0] == '+' || a.data[0] == '-')) {
        neg = a.data[0] == '-';
        i = 1;
    }
    if (i == a.len) {
        *out = 0;
        return a.len == 0; /* strtoul("") is 0 with nothing left over */
    }
    uint64_t v = 0;
    for (; i < a.len; i++) {
        char ch = a.data[i];
        if (ch < '0' || ch > '9') {
            return false;
        }
        unsigned d = (unsigned)(ch - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    *out = neg ? (uint64_t)0 - v : v;
    return true;
}

/* printf's "%.*s" of an argument as Redis prints it: a C string, so it
 * ends at the first NUL byte, and at most max bytes. */
static inline int
resp_arg_print_len(struct bstr a, size_t max)
{
    const char *nul = a.len > 0 ? memchr(a.data, '\0', a.len) : NULL;
    size_t n = nul != NULL ? (size_t)(nul - a.data) : a.len;
    return (int)(n < max ? n : max);
}
