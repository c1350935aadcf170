/*
 * Self-checking values; see value.h for the layout.
 */
#include "value.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char alphabet[64] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";

static uint32_t
key_hash(uint64_t key)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    key *= 0xc4ceb9fe1a85ec53ull;
    key ^= key >> 33;
    return (uint32_t)key;
}

static void
put_hex(char *dst, uint64_t v, int digits)
{
    static const char hex[16] = "0123456789abcdef";
    for (int i = digits - 1; i >= 0; i--) {
        dst[i] = hex[v & 15];
        v >>= 4;
    }
}

/* The value of hash h at length len begins with the first min(len, 16)
 * bytes of hdr (see value.h for both forms). */
static void
make_header(char hdr[VALUE_HEADER], uint32_t h, size_t len)
{
    if (len >= VALUE_HEADER) {
        put_hex(hdr, h, 8);
        put_hex(hdr + 8, len, 7);
        hdr[15] = '|';
        return;
    }
    /* Too short for the length field: a letter says the length instead.
     * It is never a hex digit, so no prefix of a longer value (which
     * starts with one) and no cut of a longer short value (another
     * letter) passes for this one. (len 0: the empty value uses none of
     * hdr.) */
    hdr[0] = (char)('A' + len - 1);
    put_hex(hdr + 1, h, 8);
    for (size_t i = 9; i < VALUE_HEADER; i++) {
        hdr[i] = alphabet[(h + i) & 63];
    }
}

int
value_gen_init(struct value_gen *vg, size_t max_len)
{
    if (max_len > VALUE_MAX_LEN) {
        return -EINVAL;
    }
    /* At least 4 KiB, so value_check() compares big values in few chunks. */
    size_t n = max_len < 4096 ? 4096 : max_len;
    vg->pattern = malloc(n + 64);
    if (vg->pattern == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < n + 64; i++) {
        vg->pattern[i] = alphabet[i & 63];
    }
    vg->max_len = n;
    vg->min_ok = 0;
    vg->max_ok = VALUE_MAX_LEN;
    return 0;
}

int
value_gen_expect(struct value_gen *vg, size_t min_len, size_t max_len)
{
    if (min_len > max_len || max_len > VALUE_MAX_LEN) {
        return -EINVAL;
    }
    vg->min_ok = min_len;
    vg->max_ok = max_len;
    return 0;
}

void
value_gen_fini(struct value_gen *vg)
{
    free(vg->pattern);
    vg->pattern = NULL;
}

void
value_fill(const struct value_gen *vg, uint64_t key, char *dst, size_t len)
{
    uint32_t h = key_hash(key);
    char hdr[VALUE_HEADER];
    make_header(hdr, h, len);
    if (len <= VALUE_HEADER) {
        memcpy(dst, hdr, len);
        return;
    }
    memcpy(dst, hdr, VALUE_HEADER);
    memcpy(dst + VALUE_HEADER, vg->pattern + ((h + VALUE_HEADER) & 63), len - VALUE_HEADER);
}

bool
value_check(const struct value_gen *vg, uint64_t key, const char *src, size_t len)
{
    /* A length the run never writes is wrong whatever the bytes: this
     * catches the one cut the layout cannot see (to 0 bytes: the empty
     * value is valid) and a whole value left by a run with other sizes. */
    if (len < vg->min_ok || len > vg->max_ok) {
        return false;
    }
    uint32_t h = key_hash(key);
    char hdr[VALUE_HEADER];
    make_header(hdr, h, len);
    if (len <= VALUE_HEADER) {
        return memcmp(src, hdr, len) == 0;
    }
    if (memcmp(src, hdr, VALUE_HEADER) != 0) {
        return false;
    }
    /* The body is periodic (64 bytes), so a value longer than the pattern
     * (which value_gen_expect() would refuse, but a reader that does not
     * narrow the lengths accepts) is checked in chunks. */
    for (size_t pos = VALUE_HEADER; pos < len;) {
        size_t n = len - pos < vg->max_len ? len - pos : vg->max_len;
        if (memcmp(src + pos, vg->pattern + ((h + pos) & 63), n) != 0) {
            return false;
        }
        pos += n;
    }
    return true;
}
