// layer: util
/*
 * Fuzz target for util/glob: byte 0 picks where the input splits into a
 * pattern and a string, and case folding. Any input must return without
 * reading past either view (exact-size copies for ASan) and in bounded
 * time; and a few properties must hold against Redis's rules: a pattern
 * without special characters matches exactly itself (case-folded when
 * nocase), "*" matches everything, and a pattern matches itself with
 * every special character escaped.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "stashd/util/glob.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool
plain(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strchr("*?[]\\^-", p[i]) != NULL || p[i] == '\0') {
            return false;
        }
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    bool nocase = data[0] & 1;
    size_t n = size - 1;
    size_t cut = (size_t)(data[0] >> 1) * n / 128;
    char *pat = malloc(cut > 0 ? cut : 1);
    char *str = malloc(n - cut > 0 ? n - cut : 1);
    if (pat == NULL || str == NULL) {
        free(pat);
        free(str);
        return 0;
    }
    memcpy(pat, data + 1, cut);
    memcpy(str, data + 1 + cut, n - cut);
    bool m = glob_match(pat, cut, str, n - cut, nocase);
    if (plain(pat, cut)) {
        bool eq = cut == n - cut &&
                  (nocase ? strncasecmp(pat, str, cut) == 0 : memcmp(pat, str, cut) == 0);
        /* strncasecmp stops at NUL: compare bytes when the string has one */
        if (memchr(str, '\0', n - cut) == NULL) {
            CHECK(m == eq);
        }
    }
    CHECK(n - cut == 0 || glob_match("*", 1, str, n - cut, nocase));
    /* the string, every byte escaped, matches itself */
    char *esc = malloc(2 * (n - cut) + 1);
    if (esc != NULL) {
        for (size_t i = 0; i < n - cut; i++) {
            esc[2 * i] = '\\';
            esc[2 * i + 1] = str[i];
        }
        CHECK(glob_match(esc, 2 * (n - cut), str, n - cut, nocase));
        free(esc);
    }
    free(pat);
    free(str);
    return 0;
}
