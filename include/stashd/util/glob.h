/*
 * glob: Redis 7.0's glob-style patterns (KEYS, SCAN MATCH, CONFIG GET),
 * its stringmatchlen with every quirk: '*', '?', "[abc]", "[^a]", "[a-z]",
 * '\\' escapes; a '[' without ']' takes the rest of the pattern as its
 * class; "[a-]" is the range a..']'. Both strings are views (not
 * NUL-terminated); every read is bounded by their lengths. Matching is
 * polynomial (Redis's skipLongerMatches) and a pattern nesting more than
 * 1000 stars does not match, so hostile patterns cost bounded time and
 * stack.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

bool glob_match(const char *pat, size_t plen, const char *str, size_t slen, bool nocase);
