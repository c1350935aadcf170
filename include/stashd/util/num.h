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
