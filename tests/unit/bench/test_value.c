/* Unit tests for bench/value: the documented layout, that every generated
 * value verifies, and that value_check() rejects a flipped byte, a
 * truncated or extended value, and the value of another key or length. */
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
    /* Truncated: a prefix is not the value of the shorter length, once the
     * prefix holds the whole length field (15 bytes; shorter values carry
     * only a prefix of the header and are checked as such). */
    char *v = make(99, 5000);
    for (size_t len = 15; len < 5000; len++) {
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

static void
test_other_key_or_length(void **state)
{
    for (uint64_t key = 0; key < 5000; key++) {
        char *v = make(key, 100);
        assert_false(value_check(&vg, key + 1, v, 100));
        assert_false(value_check(&vg, key ^ (1ull << 40), v, 100));
        /* Short values are header prefixes: still the key's hash. */
        assert_false(value_check(&vg, key + 1, v, 8));
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
        cmocka_unit_test(test_other_key_or_length),
        cmocka_unit_test(test_longer_than_pattern),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
