/* malloc_math: exp, log and round against libm's, over their domains. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server/malloc_math.h"

static uint64_t
bits_of(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof(u));
    return u;
}

/* Distance in units in the last place between two finite doubles of the
 * same sign (or zeros). */
static uint64_t
ulps(double a, double b)
{
    if (a == b) {
        return 0;
    }
    if (signbit(a) != signbit(b)) {
        return UINT64_MAX;
    }
    uint64_t x = bits_of(fabs(a)), y = bits_of(fabs(b));
    return x > y ? x - y : y - x;
}

/* A reproducible stream of bits (splitmix64). */
static uint64_t
next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double
uniform(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * ((double)(next(s) >> 11) * 0x1.0p-53);
}

static void
test_log(void **state)
{
    (void)state;
    uint64_t s = 1, worst = 0;
    for (int i = 0; i < 200000; i++) {
        /* every positive finite double, subnormals included */
        uint64_t u = next(&s) & 0x7fefffffffffffffull;
        double x;
        memcpy(&x, &u, sizeof(x));
        if (x == 0) {
            continue;
        }
        uint64_t d = ulps(__wrap_log(x), log(x));
        worst = d > worst ? d : worst;
    }
    for (int i = 0; i < 100000; i++) { /* near 1, where log is small */
        double x = uniform(&s, 0.9, 1.1);
        uint64_t d = ulps(__wrap_log(x), log(x));
        worst = d > worst ? d : worst;
    }
    assert_true(worst <= 2);
    assert_true(__wrap_log(1.0) == 0.0 && !signbit(__wrap_log(1.0)));
    assert_true(__wrap_log(0.0) == -HUGE_VAL && __wrap_log(-0.0) == -HUGE_VAL);
    assert_true(__wrap_log(HUGE_VAL) == HUGE_VAL);
    assert_true(isnan(__wrap_log(-1.0)) && isnan(__wrap_log(-HUGE_VAL)));
    assert_true(isnan(__wrap_log(NAN)));
    assert_true(__wrap_log(DBL_TRUE_MIN) == log(DBL_TRUE_MIN));
    assert_true(ulps(__wrap_log(DBL_MAX), log(DBL_MAX)) <= 1);
    /* the profiler's use: log(u) / log(1 - 2^-19), u in (0, 1] */
    assert_true(ulps(__wrap_log(1.0 - 1.0 / 524288), log(1.0 - 1.0 / 524288)) <= 1);
}

static void
test_exp(void **state)
{
    (void)state;
    uint64_t s = 2, worst = 0;
    for (int i = 0; i < 300000; i++) {
        double x = uniform(&s, -708.0, 709.7);
        uint64_t d = ulps(__wrap_exp(x), exp(x));
        worst = d > worst ? d : worst;
    }
    for (int i = 0; i < 100000; i++) {
        double x = uniform(&s, -1e-3, 1e-3);
        uint64_t d = ulps(__wrap_exp(x), exp(x));
        worst = d > worst ? d : worst;
    }
    assert_true(worst <= 2);
    /* subnormal results: within one of their (coarser) last places */
    for (int i = 0; i < 10000; i++) {
        double x = uniform(&s, -745.1, -708.5);
        assert_true(fabs(__wrap_exp(x) - exp(x)) <= 2 * DBL_TRUE_MIN + fabs(exp(x)) * 1e-15);
    }
    assert_true(__wrap_exp(0.0) == 1.0 && __wrap_exp(-0.0) == 1.0);
    assert_true(__wrap_exp(710.0) == HUGE_VAL && __wrap_exp(HUGE_VAL) == HUGE_VAL);
    assert_true(__wrap_exp(-746.0) == 0.0 && __wrap_exp(-HUGE_VAL) == 0.0);
    assert_true(isnan(__wrap_exp(NAN)));
    assert_true(isfinite(__wrap_exp(709.78)) && ulps(__wrap_exp(709.78), exp(709.78)) <= 2);
}

static void
test_round(void **state)
{
    (void)state;
    uint64_t s = 3;
    for (int i = 0; i < 300000; i++) {
        double x;
        if (i % 3 == 0) { /* halves and near-halves of every size */
            x = ldexp((double)(int64_t)(next(&s) % 2000001) - 1000000.0 + 0.5, -(int)(i % 4));
        } else {
            /* a random sign and mantissa, exponents -10 to 59 */
            uint64_t r = next(&s);
            uint64_t u = (r & (1ull << 63)) | ((uint64_t)(1013 + r % 70) << 52) | (next(&s) >> 12);
            memcpy(&x, &u, sizeof(x));
        }
        double want = round(x), got = __wrap_round(x);
        assert_true(bits_of(got) == bits_of(want));
    }
    const double cases[] = {0.0,
                            -0.0,
                            0.49999999999999994,
                            -0.49999999999999994,
                            0.5,
                            -0.5,
                            1.5,
                            -1.5,
                            2.5,
                            -2.5,
                            4503599627370495.5,
                            4503599627370497.0,
                            1e300,
                            -1e300,
                            DBL_TRUE_MIN,
                            -DBL_TRUE_MIN,
                            HUGE_VAL,
                            -HUGE_VAL};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_true(bits_of(__wrap_round(cases[i])) == bits_of(round(cases[i])));
    }
    assert_true(isnan(__wrap_round(NAN)));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log),
        cmocka_unit_test(test_exp),
        cmocka_unit_test(test_round),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
