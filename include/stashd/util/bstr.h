/*
 * bstr: a byte-string view (pointer + length) into memory owned elsewhere.
 * Views never own; each function returning one says what it points into.
 */
#pragma once

#include <stddef.h>
#include <string.h>
#include <stdbool.h>

struct bstr {
    const char *data;
    size_t len;
};

#define BSTR_LIT(s) ((struct bstr){.data = (s), .len = sizeof(s) - 1})

static inline bool
bstr_eq(struct bstr a, struct bstr b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

static inline bool
bstr_eq_cstr(struct bstr a, const char *s)
{
    size_t n = strlen(s);
    return a.len == n && memcmp(a.data, s, n) == 0;
}

/*
 * Equal, in time that depends on the lengths only, never on where the
 * bytes first differ: for passwords and tokens, so that a guess's timing
 * tells nothing about how much of it was right.
 */
static inline bool
bstr_eq_secret(struct bstr a, struct bstr b)
{
    unsigned char diff = a.len != b.len;
    size_t n = a.len < b.len ? a.len : b.len;
    for (size_t i = 0; i < n; i++) {
        diff |= (unsigned char)(a.data[i] ^ b.data[i]);
    }
    return diff == 0;
}
