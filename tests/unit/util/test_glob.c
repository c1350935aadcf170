/*
 * Tests for util/glob: Redis 7.0's stringmatchlen, quirks included (each
 * case checked against redis-server's KEYS), bounded on hostile patterns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "stashd/util/glob.h"

static void
test_cases(void **state)
{
    (void)state;
    struct {
        const char *pat, *str;
        bool nocase, want;
    } cases[] = {
        {"*", "", false, false},
        {"a*", "abc", false, true},
        {"a?c", "abc", false, true},
        {"a?c", "ac", false, false},
        {"[abc]x", "bx", false, true},
        {"[^abc]x", "bx", false, false},
        {"[a-c]x", "cx", false, true},
        {"[c-a]x", "bx", false, true},
        {"a\\*", "a*", false, true},
        {"a\\*", "ab", false, false},
        {"[", "[", false, false},
        {"a[b", "ab", false, true},
        {"MAX*", "maxmemory", true, true},
        {"MAX*", "maxmemory", false, false},
        {"*a*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false, false},
        {"**x", "abx", false, true},
        {"a*", "b", false, false},
        {"[\\]]", "]", false, true},
        {"h[a-]llo", "h]llo", false, false}, /* as Redis: the class eats "llo" */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool got = glob_match(cases[i].pat, strlen(cases[i].pat), cases[i].str,
                              strlen(cases[i].str), cases[i].nocase);
        if (got != cases[i].want) {
            fail_msg("glob '%s' on '%s': %d", cases[i].pat, cases[i].str, got);
        }
    }
}

/* A string that is not NUL-terminated is read within its length only
 * (ASan: an exact-size buffer). */
static void
test_views_bounded(void **state)
{
    (void)state;
    char *pat = malloc(3), *str = malloc(3);
    memcpy(pat, "a*[", 3);
    memcpy(str, "abc", 3);
    assert_false(glob_match(pat, 3, str, 3, false));
    memcpy(pat, "a\\", 2);
    assert_false(glob_match(pat, 2, str, 1, false));
    free(pat);
    free(str);
}

/* Hostile patterns cost bounded time: many stars against a long
 * non-matching string, and a nesting past the limit. */
static void
test_hostile_patterns_are_fast(void **state)
{
    (void)state;
    static char pat[4097], str[4097];
    for (size_t i = 0; i < 4096; i += 2) {
        pat[i] = '*';
        pat[i + 1] = 'a';
    }
    memset(str, 'a', 4096);
    str[4095] = 'b';
    clock_t t0 = clock();
    assert_false(glob_match(pat, 4096, str, 4096, false));
    memset(pat, '*', 4096);
    pat[4095] = 'b';
    assert_true(glob_match(pat, 4096, str, 4096, false));
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    assert_true(secs < 2.0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_views_bounded),
        cmocka_unit_test(test_hostile_patterns_are_fast),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
