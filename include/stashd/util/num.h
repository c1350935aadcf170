/*
 * num: checked number parsing for network input. Every parser rejects
 * empty input, signs where not allowed, trailing junk and overflow, and
 * never reads past len (input need not be NUL-terminated).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decimal digits only, no sign, fits in 64 bits. */
bool num_parse_u64(const char *s, size_t len, uint64_t *out);
/* Decimal digits only, no sign, fits in 32 bits. */
bool num_parse_u32(const char *s, size_t len, uint32_t *out);
/* Optional leading '-' (or '+'), then digits; fits in int64_t. */
bool num_parse_i64(const char *s, size_t len, int64_t *out);
/* Redis's string2ll: the exact decimal form of an int64_t, as Redis
 * prints one: an optional '-', no '+', no leading zero (but "0"), no
 * spaces. */
bool num_parse_i64_exact(const char *s, size_t len, int64_t *out);
/* Like num_parse_i64, bounded to int32_t. */
bool num_parse_i32(const char *s, size_t len, int32_t *out);
/* A finite double in strtod syntax, whole input consumed. */
bool num_parse_double(const char *s, size_t len, double *out);

/* Write v in decimal to out (>= 21 bytes); returns the length. */
size_t num_u64_to_dec(uint64_t v, char *out);

/* "00".."99", for formatting two digits at a time. */
extern const char num_digit_pairs[201];

/* num_u64_to_dec with the small values every reply line carries (flags,
 * lengths under 10,000) formatted inline (callgrind: the call cost ~25
 * instructions a number). */
static inline size_t
num_u64_to_dec_fast(uint64_t v, char *out)
{
    if (v < 10) {
        out[0] = (char)('0' + v);
        return 1;
    }
    if (v < 100) {
        out[0] = num_digit_pairs[2 * v];
        out[1] = num_digit_pairs[2 * v + 1];
        return 2;
    }
    if (v < 1000) {
        out[0] = (char)('0' + v / 100);
        out[1] = num_digit_pairs[2 * (v % 100)];
        out[2] = num_digit_pairs[2 * (v % 100) + 1];
        return 3;
    }
    if (v < 10000) {
        out[0] = num_digit_pairs[2 * (v / 100)];
        out[1] = num_digit_pairs[2 * (v / 100) + 1];
        out[2] = num_digit_pairs[2 * (v % 100)];
        out[3] = num_digit_pairs[2 * (v % 100) + 1];
        return 4;
    }
    return num_u64_to_dec(v, out);
}
