/* Unit tests for util/num: checked parsing of hostile numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>
#include <string.h>

#include "stashd/util/num.h"

#define S(x) x, strlen(x)

static void
test_u64(void **state)
{
    uint64_t v;
    assert_true(num_parse_u64(S("0"), &v));
    assert_int_equal(v, 0);
    assert_true(num_parse_u64(S("18446744073709551615"), &v));
    assert_true(v == UINT64_MAX);
    assert_false(num_parse_u64(S("18446744073709551616"), &v));
    assert_false(num_parse_u64(S("99999999999999999999"), &v));
    assert_false(num_parse_u64(S(""), &v));
    assert_false(num_parse_u64(S("-1"), &v));
    assert_false(num_parse_u64(S("+1"), &v));
    assert_false(num_parse_u64(S("1 "), &v));
    assert_false(num_parse_u64(S("1a"), &v));
    /* Length bounds the read: "12" out of "123". */
    assert_true(num_parse_u64("123", 2, &v));
    assert_int_equal(v, 12);
}

static void
test_u32_i64(void **state)
{
    uint32_t u;
    int64_t i;
    int32_t j;
    assert_true(num_parse_u32(S("4294967295"), &u));
    assert_false(num_parse_u32(S("4294967296"), &u));
    assert_true(num_parse_i64(S("-9223372036854775808"), &i));
    assert_true(i == INT64_MIN);
    assert_false(num_parse_i64(S("-9223372036854775809"), &i));
    assert_true(num_parse_i64(S("9223372036854775807"), &i));
    assert_false(num_parse_i64(S("9223372036854775808"), &i));
    assert_true(num_parse_i64(S("-5"), &i));
    assert_int_equal(i, -5);
    assert_false(num_parse_i64(S("-"), &i));
    assert_false(num_parse_i64(S("--5"), &i));
    assert_true(num_parse_i32(S("-2147483648"), &j));
    assert_false(num_parse_i32(S("2147483648"), &j));
}

/* Redis's string2ll: the exact form Redis prints, nothing else. */
static void
test_i64_exact(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        bool ok;
        int64_t v;
    } cases[] = {
        {"0", true, 0},
        {"-1", true, -1},
        {"42", true, 42},
        {"9223372036854775807", true, INT64_MAX},
        {"-9223372036854775808", true, INT64_MIN},
        {"9223372036854775808", false, 0},
        {"-9223372036854775809", false, 0},
        {"-0", false, 0},
        {"01", false, 0},
        {"+1", false, 0},
        {" 1", false, 0},
        {"1 ", false, 0},
        {"-", false, 0},
        {"", false, 0},
        {"1a", false, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t v = 12345;
        bool ok = num_parse_i64_exact(cases[i].s, strlen(cases[i].s), &v);
        assert_int_equal(ok, cases[i].ok);
        if (ok) {
            assert_int_equal(v, cases[i].v);
        }
    }
}

static void
test_double_and_format(void **state)
{
    double d;
    assert_true(num_parse_double(S("1.5"), &d));
    assert_true(d == 1.5);
    assert_false(num_parse_double(S(" 1.5"), &d));
    assert_false(num_parse_double(S("1.5x"), &d));
    assert_false(num_parse_double(S("inf"), &d));
    assert_false(num_parse_double(S("nan"), &d));
    char out[24];
    size_t n = num_u64_to_dec(UINT64_MAX, out);
    assert_int_equal(n, 20);
    assert_memory_equal(out, "18446744073709551615", 20);
    n = num_u64_to_dec(0, out);
    assert_int_equal(n, 1);
    assert_memory_equal(out, "0", 1);
    /* every power of ten and its neighbours, and a sweep, against printf */
    char want[32];
    uint64_t p10 = 1;
    for (int k = 0; k < 20; k++, p10 *= 10) {
        uint64_t vs[3] = {p10 - 1, p10, p10 + 1};
        for (int j = 0; j < 3; j++) {
            int w = snprintf(want, sizeof(want), "%llu", (unsigned long long)vs[j]);
            n = num_u64_to_dec(vs[j], out);
            assert_int_equal(n, (size_t)w);
            assert_memory_equal(out, want, n);
        }
    }
    for (uint64_t v = 0; v < 200000; v += 7) {
        uint64_t x = v * 2654435761u;
        int w = snprintf(want, sizeof(want), "%llu", (unsigned long long)x);
        n = num_u64_to_dec(x, out);
        assert_int_equal(n, (size_t)w);
        assert_memory_equal(out, want, n);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_u64),
        cmocka_unit_test(test_u32_i64),
        cmocka_unit_test(test_i64_exact),
        cmocka_unit_test(test_double_and_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
