/*
 * glob: Redis's glob-style pattern matching (see util/glob.h), bounded by
 * the lengths of both strings and by the pattern's nesting of stars.
 */
#include "stashd/util/glob.h"

#include <stdint.h>

static inline int
lower(int c, bool nocase)
{
    return nocase && c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Redis patterns nest no deeper than this many stars (a pathological
 * pattern then simply does not match). */
#define GLOB_NESTING_MAX 1000

/*
 * A character class, after its '[': does it hold c? Leaves *pp on the
 * closing ']' or, when there is none, on the pattern's last byte (Redis
 * then takes the rest of the pattern as the class).
 */
static bool
glob_class(const unsigned char **pp, size_t *plenp, int c, bool nocase)
{
    const unsigned char *p = *pp;
    size_t plen = *plenp;
    bool not = plen > 0 && p[0] == '^';
    if (not ) {
        p++;
        plen--;
    }
    bool match = false;
    for (;;) {
        if (plen >= 2 && p[0] == '\\') {
            p++;
            plen--;
            match = match || p[0] == c;
        } else if (plen == 0) {
            p--;
            plen++;
            break;
        } else if (p[0] == ']') {
            break;
        } else if (plen >= 3 && p[1] == '-') {
            int lo = lower(p[0], nocase), hi = lower(p[2], nocase);
            if (lo > hi) {
                int t = lo;
                lo = hi;
                hi = t;
            }
            int lc = lower(c, nocase);
            match = match || (lc >= lo && lc <= hi);
            p += 2;
            plen -= 2;
        } else {
            match = match || lower(p[0], nocase) == lower(c, nocase);
        }
        p++;
        plen--;
    }
    *pp = p;
    *plenp = plen;
    return not ? !match : match;
}

/*
 * Redis 7.0's stringmatchlen, quirks included ('[' without ']' takes the
 * rest of the pattern as its class; "[a-]" is the range a..']'; "\\"
 * escapes), with every read bounded by the lengths: arguments are views,
 * not NUL-terminated. *skip is Redis's skipLongerMatches: once the rest
 * of the pattern after a star matches nowhere, longer matches of earlier
 * stars cannot help, which keeps the match polynomial.
 */
static bool
glob_impl(const unsigned char *p, size_t plen, const unsigned char *s, size_t slen, bool nocase,
          bool *skip, int nesting)
{
    if (nesting > GLOB_NESTING_MAX) {
        return false;
    }
    while (plen > 0 && slen > 0) {
        if (p[0] == '*') {
            while (plen > 1 && p[1] == '*') {
                p++;
                plen--;
            }
            if (plen == 1) {
                return true;
            }
            for (; slen > 0; s++, slen--) {
                if (glob_impl(p + 1, plen - 1, s, slen, nocase, skip, nesting + 1)) {
                    return true;
                }
                if (*skip) {
                    return false;
                }
            }
            *skip = true;
            return false;
        }
        if (p[0] == '[') {
            p++;
            plen--;
            if (!glob_class(&p, &plen, s[0], nocase)) {
                return false;
            }
        } else if (p[0] != '?') {
            if (p[0] == '\\' && plen >= 2) {
                p++;
                plen--;
            }
            if (lower(p[0], nocase) != lower(s[0], nocase)) {
                return false;
            }
        }
        s++;
        slen--;
        p++;
        plen--;
        if (slen == 0) {
            while (plen > 0 && p[0] == '*') {
                p++;
                plen--;
            }
        }
    }
    return plen == 0 && slen == 0;
}

bool
glob_match(const char *pat, size_t plen, const char *str, size_t slen, bool nocase)
{
    bool skip = false;
    return glob_impl((const unsigned char *)pat, plen, (const unsigned char *)str, slen, nocase,
                     &skip, 0);
}
