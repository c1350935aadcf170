/*
 * Self-checking values. A value is fully determined by its key index and its
 * length, so a reader can verify what it got back without remembering what
 * was written:
 *
 *   +----------+---------+---+----------------------------------------+
 *   | h (8 hex)| len (7) | | | body: pattern[(h + 16 + i) % 64] ...   |
 *   +----------+---------+---+----------------------------------------+
 *   0          8         15  16                                     len
 *
 * h is a 32-bit hash of the key index. A value returned for the wrong key
 * (a desynchronised pipeline), truncated or extended (the length field no
 * longer matches), or corrupted anywhere fails value_check(). Values shorter
 * than 16 bytes carry only a prefix of the header and are checked as such.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VALUE_HEADER 16
#define VALUE_MAX_LEN 0x0fffffffu /* what the 7-hex-digit length can say */

/* The shared body pattern; read-only after value_gen_init(). */
struct value_gen {
    char *pattern;  /* max_len + 64 bytes; owned */
    size_t max_len; /* longest value_fill(); at least 4096 */
};

/* 0 or -ENOMEM / -EINVAL (max_len over VALUE_MAX_LEN). */
int value_gen_init(struct value_gen *vg, size_t max_len);
void value_gen_fini(struct value_gen *vg);

/* Writes the len-byte value of key index key into dst (len <= max_len). */
void value_fill(const struct value_gen *vg, uint64_t key, char *dst, size_t len);

/* true when src[0..len) is exactly the value value_fill() writes for key at
 * this length (any length up to VALUE_MAX_LEN). */
bool value_check(const struct value_gen *vg, uint64_t key, const char *src, size_t len);
