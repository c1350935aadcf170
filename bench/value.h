/*
 * Self-checking values. A value is fully determined by its key index and its
 * length, so a reader can verify what it got back without remembering what
 * was written. A value of 16 bytes or more:
 *
 *   +----------+---------+---+----------------------------------------+
 *   | h (8 hex)| len (7) | | | body: pattern[(h + 16 + i) % 64] ...   |
 *   +----------+---------+---+----------------------------------------+
 *   0          8         15  16                                     len
 *
 * A value of 1 to 15 bytes has no room for that header; it is
 *
 *   +---+-----------+---------------------------+
 *   | L | h (8 hex) | pattern[(h + 9 + i) % 64] |   cut to len bytes
 *   +---+-----------+---------------------------+
 *   0   1           9                           15
 *
 * where L = 'A' + len - 1 names its length with a letter that is never a
 * (lower-case) hex digit. The empty value is empty.
 *
 * h is a 32-bit hash of the key index. A value returned for the wrong key
 * (a desynchronised pipeline), truncated or extended (the length field or
 * letter no longer matches; a long value cut below 16 bytes begins with a
 * hex digit where a short one has its letter), or corrupted anywhere fails
 * value_check(). Layout alone cannot catch a value emptied (the empty
 * value is valid) or whole but of a length the run never writes (left by an
 * earlier run); so value_check() also refuses the lengths outside those
 * value_gen_expect() names (stashd-bench: --value-size or --value-range).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VALUE_HEADER 16
#define VALUE_MAX_LEN 0x0fffffffu /* what the 7-hex-digit length can say */

/* The shared body pattern and the lengths value_check() accepts; read-only
 * after value_gen_init() and value_gen_expect(). All fields are public. */
struct value_gen {
    char *pattern;  /* max_len + 64 bytes; owned */
    size_t max_len; /* longest value_fill(); at least 4096 */
    size_t min_ok;  /* value_check() accepts lengths in [min_ok, max_ok]: */
    size_t max_ok;  /* [0, VALUE_MAX_LEN] until value_gen_expect() */
};

/* 0 or -ENOMEM / -EINVAL (max_len over VALUE_MAX_LEN). */
int value_gen_init(struct value_gen *vg, size_t max_len);
void value_gen_fini(struct value_gen *vg);

/* Narrows value_check() to lengths in [min_len, max_len], the lengths the
 * run writes (min_len == max_len: fixed sizes). 0 or -EINVAL (min_len over
 * max_len, or max_len over VALUE_MAX_LEN). */
int value_gen_expect(struct value_gen *vg, size_t min_len, size_t max_len);

/* Writes the len-byte value of key index key into dst (len <= max_len). */
void value_fill(const struct value_gen *vg, uint64_t key, char *dst, size_t len);

/* true when len is a length the run writes (see value_gen_expect()) and
 * src[0..len) is exactly the value value_fill() writes for key at this
 * length. */
bool value_check(const struct value_gen *vg, uint64_t key, const char *src, size_t len);
