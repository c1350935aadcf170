/* Unit tests for bench/value: the documented layout, that every generated
 * value verifies, and that value_check() rejects a flipped byte, a
 * truncated or extended value (cut below 16 bytes or emptied too), the
 * value of another key or length, and a length outside the run's sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "value.h"

static struct value_gen vg;

static int
setup(void **state)
{
    return value_gen_init(&vg, 10000);
}

static int
teardown(void **state)
{
    value_gen_fini(&vg);
    return 0;
}

static char *
make(uint64_t key, size_t len)
{
    char *v = malloc(len + 1);
    assert_non_null(v);
    value_fill(&vg, key, v, len);
    return v;
}

static void
test_init(void **state)
{
    struct value_gen g;
    assert_int_equal(value_gen_init(&g, 10), 0);
    assert_int_equal(g.max_len, 4096); /* at least 4 KiB */
    value_gen_fini(&g);
    assert_null(g.pattern);
    assert_int_equal(value_gen_init(&g, 5000), 0);
    assert_int_equal(g.max_len, 5000);
    value_gen_fini(&g);
    assert_int_equal(value_gen_init(&g, (size_t)VALUE_MAX_LEN + 1), -EINVAL);

    /* Every length until narrowed; a narrowing that says nothing sensible
     * is refused and changes nothing. */
    assert_int_equal(value_gen_init(&g, 100), 0);
    assert_int_equal(g.min_ok, 0);
    assert_int_equal(g.max_ok, VALUE_MAX_LEN);
    assert_int_equal(value_gen_expect(&g, 10, 5), -EINVAL);
    assert_int_equal(value_gen_expect(&g, 1, (size_t)VALUE_MAX_LEN + 1), -EINVAL);
    assert_int_equal(g.min_ok, 0);
    assert_int_equal(g.max_ok, VALUE_MAX_LEN);
    assert_int_equal(value_gen_expect(&g, 100, 100), 0);
    assert_int_equal(g.min_ok, 100);
    assert_int_equal(g.max_ok, 100);
    value_gen_fini(&g);
}

static void
test_layout(void **state)
{
    /* hash (8 hex) | length (7 hex) | '|' | body from a 64-byte cycle. */
    char *v = make(42, 300);
    for (int i = 0; i < 15; i++) {
        assert_non_null(strchr("0123456789abcdef", v[i]));
    }
    assert_memory_equal(v + 8, "000012c", 7);
    assert_int_equal(v[15], '|');
    for (int i = VALUE_HEADER; i < 300; i++) {
        assert_non_null(
            memchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", v[i], 64));
        if (i + 64 < 300) {
            assert_int_equal(v[i], v[i + 64]);
        }
    }
    /* The hash is the key's: a different key, a different header; the same
     * key at another length, the same hash. */
    char *w = make(43, 300), *x = make(42, 20);
    assert_memory_not_equal(v, w, 8);
    assert_memory_equal(v, x, 8);
    assert_memory_equal(x + 8, "0000014|", 8);
    free(v);
    free(w);
    free(x);

    /* Under 16 bytes: a length letter ('A' + len - 1), the key's 8 hash
     * digits, then the body pattern from offset 9, all cut to len. */
    char *s15 = make(42, 15), *s5 = make(42, 5), *s1 = make(42, 1);
    v = make(42, 300);
    assert_int_equal(s15[0], 'O');
    assert_memory_equal(s15 + 1, v, 8);
    for (int i = 9; i < 15; i++) {
        assert_int_equal(s15[i], v[i + 64]); /* the body's period is 64 */
    }
    assert_int_equal(s5[0], 'E');
    assert_memory_equal(s5 + 1, v, 4);
    assert_int_equal(s1[0], 'A');
    free(v);
    free(s15);
    free(s5);
    free(s1);
}

static void
test_fill_verifies(void **state)
{
    size_t lens[] = {0, 1, 7, 8, 15, 16, 17, 63, 64, 65, 100, 1000, 4096, 9999, 10000};
    for (uint64_t key = 0; key < 200; key++) {
        for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
            char *v = make(key * 0x9e3779b97f4a7c15ull, lens[i]);
            assert_true(value_check(&vg, key * 0x9e3779b97f4a7c15ull, v, lens[i]));
            free(v);
        }
    }
    /* Every length up to 300 for one key. */
    for (size_t len = 0; len <= 300; len++) {
        char *v = make(UINT64_MAX, len);
        assert_true(value_check(&vg, UINT64_MAX, v, len));
        free(v);
    }
}

static void
test_flipped_byte(void **state)
{
    size_t lens[] = {1, 5, 15, 16, 17, 64, 100, 257, 4100, 10000};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        size_t len = lens[i];
        char *v = make(7, len);
        for (size_t pos = 0; pos < len; pos++) {
            for (int bit = 0; bit < 8; bit += 3) {
                v[pos] ^= (char)(1 << bit);
                if (value_check(&vg, 7, v, len)) {
                    fail_msg("len %zu: flip of bit %d at %zu not detected", len, bit, pos);
                }
                v[pos] ^= (char)(1 << bit);
            }
        }
        assert_true(value_check(&vg, 7, v, len));
        free(v);
    }
}

static void
test_truncated_or_extended(void **state)
{
    /* Truncated: a prefix is not the value of the shorter length, down to
     * 1 byte (0 bytes is the empty value; see test_expected_lengths). */
    char *v = make(99, 5000);
    for (size_t len = 1; len < 5000; len++) {
        if (value_check(&vg, 99, v, len)) {
            fail_msg("5000-byte value cut to %zu passed", len);
        }
    }
    free(v);

    /* Extended: the right body continued by one or more bytes. */
    char *longer = make(99, 2000);
    char *buf = malloc(2100);
    assert_non_null(buf);
    value_fill(&vg, 99, buf, 1000);
    memcpy(buf + 1000, longer + 1000, 1000); /* the body, continued */
    for (size_t len = 1001; len <= 2000; len += 37) {
        assert_false(value_check(&vg, 99, buf, len));
    }
    assert_true(value_check(&vg, 99, buf, 1000));
    free(longer);
    free(buf);
}

/* The bug an integration test found: a 100-byte value cut to 13 bytes or
 * fewer, or emptied, passed as the value of that length, because short
 * values were bare prefixes of the header, whose hash does not depend on
 * the length and whose length digits start with zeros. */
static void
test_cut_below_header(void **state)
{
    size_t lens[] = {16, 17, 100, 255, 256, 4096, 5000};
    for (uint64_t key = 0; key < 300; key++) {
        for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
            char *v = make(key, lens[i]);
            /* By layout alone, every cut to 1..15 bytes. */
            for (size_t len = 1; len < VALUE_HEADER; len++) {
                if (value_check(&vg, key, v, len)) {
                    fail_msg("key %llu: %zu-byte value cut to %zu passed", (unsigned long long)key,
                             lens[i], len);
                }
            }
            free(v);
        }
    }

    /* A short value cut or extended by a byte or more is no other short
     * value: the letter says its length. */
    for (uint64_t key = 0; key < 300; key++) {
        char *v = make(key, VALUE_HEADER);
        for (size_t from = 1; from <= VALUE_HEADER; from++) {
            value_fill(&vg, key, v, from);
            for (size_t len = 1; len <= VALUE_HEADER; len++) {
                if (len != from) {
                    assert_false(value_check(&vg, key, v, len));
                }
            }
        }
        free(v);
    }

    /* With the run's sizes told (--value-size 100), a cut to any length
     * 0..99 fails, the empty value included. */
    struct value_gen fixed;
    assert_int_equal(value_gen_init(&fixed, 100), 0);
    assert_int_equal(value_gen_expect(&fixed, 100, 100), 0);
    char *v = malloc(100);
    assert_non_null(v);
    for (uint64_t key = 0; key < 300; key++) {
        value_fill(&fixed, key, v, 100);
        assert_true(value_check(&fixed, key, v, 100));
        for (size_t len = 0; len < 100; len++) {
            if (value_check(&fixed, key, v, len)) {
                fail_msg("key %llu: 100-byte value cut to %zu passed", (unsigned long long)key,
                         len);
            }
        }
        assert_false(value_check(&fixed, key, "", 0));
    }
    free(v);
    value_gen_fini(&fixed);
}

static void
test_expected_lengths(void **state)
{
    /* --value-range 1-15: every legitimate short value passes, the empty
     * value and the lengths around the range do not. */
    struct value_gen g;
    assert_int_equal(value_gen_init(&g, 15), 0);
    assert_int_equal(value_gen_expect(&g, 1, 15), 0);
    char v[VALUE_HEADER + 1];
    for (uint64_t key = 0; key < 1000; key++) {
        for (size_t len = 1; len <= 15; len++) {
            value_fill(&g, key, v, len);
            if (!value_check(&g, key, v, len)) {
                fail_msg("key %llu: legitimate %zu-byte value refused", (unsigned long long)key,
                         len);
            }
        }
        value_fill(&g, key, v, 0);
        assert_false(value_check(&g, key, v, 0));
        value_fill(&g, key, v, 16);
        assert_false(value_check(&g, key, v, 16));
    }
    /* Without the narrowing the same empty and 16-byte values pass: the
     * refusal is the length's, not the bytes'. */
    assert_true(value_check(&vg, 3, "", 0));
    value_fill(&vg, 3, v, 16);
    assert_true(value_check(&vg, 3, v, 16));

    /* --value-range 10-4096: the ends pass, one past them does not. */
    assert_int_equal(value_gen_expect(&g, 10, 4096), 0);
    char *big = make(8, 4097);
    assert_false(value_check(&g, 8, big, 4097));
    free(big);
    big = make(8, 4096);
    assert_true(value_check(&g, 8, big, 4096));
    free(big);
    value_fill(&g, 8, v, 10);
    assert_true(value_check(&g, 8, v, 10));
    value_fill(&g, 8, v, 9);
    assert_false(value_check(&g, 8, v, 9));
    value_gen_fini(&g);
}

static void
test_other_key_or_length(void **state)
{
    for (uint64_t key = 0; key < 5000; key++) {
        char *v = make(key, 100);
        assert_false(value_check(&vg, key + 1, v, 100));
        assert_false(value_check(&vg, key ^ (1ull << 40), v, 100));
        /* Short values carry the key's hash too. */
        char s[VALUE_HEADER];
        for (size_t len = 9; len < VALUE_HEADER; len++) { /* all 8 digits */
            value_fill(&vg, key, s, len);
            assert_true(value_check(&vg, key, s, len));
            assert_false(value_check(&vg, key + 1, s, len));
        }
        free(v);
    }
    /* The same key at another length: the first 100 bytes of its 150-byte
     * value are not its 100-byte value. */
    char *a = make(5, 150), *b = make(5, 100);
    assert_false(value_check(&vg, 5, a, 100));
    assert_true(value_check(&vg, 5, b, 100));
    free(a);
    free(b);
}

static void
test_longer_than_pattern(void **state)
{
    /* A value written by a generator with a larger max_len (an earlier
     * run) is checked in chunks by one with the minimum. */
    struct value_gen small, big;
    assert_int_equal(value_gen_init(&small, 0), 0);
    assert_int_equal(value_gen_init(&big, 20000), 0);
    size_t len = 20000;
    char *v = malloc(len);
    assert_non_null(v);
    value_fill(&big, 123, v, len);
    assert_true(value_check(&small, 123, v, len));
    assert_true(value_check(&big, 123, v, len));
    size_t flips[] = {16, 4095, 4096, 4111, 4112, 8207, 12000, 19999};
    for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
        v[flips[i]] ^= 1;
        assert_false(value_check(&small, 123, v, len));
        v[flips[i]] ^= 1;
    }
    assert_false(value_check(&small, 124, v, len));
    /* Over what the header can say: refused without reading. */
    assert_false(value_check(&small, 123, v, (size_t)VALUE_MAX_LEN + 1));
    free(v);
    value_gen_fini(&small);
    value_gen_fini(&big);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_fill_verifies),
        cmocka_unit_test(test_flipped_byte),
        cmocka_unit_test(test_truncated_or_extended),
        cmocka_unit_test(test_cut_below_header),
        cmocka_unit_test(test_expected_lengths),
        cmocka_unit_test(test_other_key_or_length),
        cmocka_unit_test(test_longer_than_pattern),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
