/* Unit tests for bench/hist: percentiles of known distributions against the
 * exact order statistics, within the stated 1/64 precision; min, max and
 * p100 exact; merging; the empty histogram. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"
#include "keyspace.h" /* struct rng */

static const double pcts[] = {0,  0.001, 0.1, 1,    10,   25,    33.3,  50,     66.6, 75,
                              90, 95,    99,  99.5, 99.9, 99.95, 99.99, 99.999, 100};

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The smallest recorded value with at least p percent of the n sorted
 * values at or below it, in exact arithmetic: rank = ceil(p * n / 100) with
 * p held as an integer number of thousandths of a percent. */
static uint64_t
exact_percentile(const uint64_t *sorted, size_t n, double p)
{
    uint64_t milli = (uint64_t)llround(p * 1000.0);
    unsigned __int128 num = (unsigned __int128)milli * n;
    uint64_t rank = (uint64_t)((num + 100000 - 1) / 100000);
    if (rank == 0) {
        rank = 1;
    }
    return sorted[rank - 1];
}

/* Records vals[0..n), then checks every percentile is the exact one or
 * above it by less than 1/64 of it, and the exact min, max and mean. */
static void
check_distribution(uint64_t *vals, size_t n)
{
    static struct hist h;
    hist_init(&h);
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        hist_record(&h, vals[i]);
        sum += (double)vals[i];
    }
    qsort(vals, n, sizeof(vals[0]), cmp_u64);
    assert_int_equal(h.count, n);
    assert_int_equal(h.min, vals[0]);
    assert_int_equal(h.max, vals[n - 1]);
    assert_true(fabs(hist_mean(&h) - sum / (double)n) <= 1e-9 * (sum / (double)n));
    for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
        uint64_t want = exact_percentile(vals, n, pcts[i]);
        uint64_t got = hist_percentile(&h, pcts[i]);
        if (got < want || got > want + want / 64) {
            fail_msg("p%g of %zu values: got %llu, exact %llu", pcts[i], n, (unsigned long long)got,
                     (unsigned long long)want);
        }
    }
    assert_int_equal(hist_percentile(&h, 100), vals[n - 1]);
}

static void
test_empty(void **state)
{
    struct hist h;
    hist_init(&h);
    assert_int_equal(h.count, 0);
    for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
        assert_int_equal(hist_percentile(&h, pcts[i]), 0);
    }
    assert_true(hist_mean(&h) == 0.0);
}

static void
test_exact_below_128(void **state)
{
    /* Below 2^HIST_SUB_BITS every value has its own slot: exact answers. */
    struct hist h;
    hist_init(&h);
    for (uint64_t v = 0; v < 128; v++) {
        hist_record(&h, v);
    }
    assert_int_equal(h.min, 0);
    assert_int_equal(h.max, 127);
    assert_int_equal(hist_percentile(&h, 0), 0);
    assert_int_equal(hist_percentile(&h, 50), 63);
    assert_int_equal(hist_percentile(&h, 75), 95);
    assert_int_equal(hist_percentile(&h, 99), 126);
    assert_int_equal(hist_percentile(&h, 100), 127);
    assert_true(hist_mean(&h) == 63.5);

    /* One value: every percentile is it. */
    hist_init(&h);
    hist_record(&h, 12345);
    for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
        assert_int_equal(hist_percentile(&h, pcts[i]), 12345);
    }
}

static void
test_known_distributions(void **state)
{
    enum { N = 200000 };
    uint64_t *vals = malloc(N * sizeof(uint64_t));
    assert_non_null(vals);
    struct rng r = {2024};

    /* 1..N, each once. */
    for (size_t i = 0; i < N; i++) {
        vals[i] = i + 1;
    }
    check_distribution(vals, N);

    /* Uniform over [50 us, 5 ms] in ns. */
    for (size_t i = 0; i < N; i++) {
        vals[i] = 50000 + rng_below(&r, 4950000);
    }
    check_distribution(vals, N);

    /* Log-uniform over 2^0 .. 2^40: every octave of the layout. */
    for (size_t i = 0; i < N; i++) {
        vals[i] = (uint64_t)exp2(rng_double(&r) * 40.0);
    }
    check_distribution(vals, N);

    /* A bimodal latency: 99% fast, 1% a thousand times slower. */
    for (size_t i = 0; i < N; i++) {
        vals[i] = rng_below(&r, 100) == 0 ? 80000000 + rng_below(&r, 1000000)
                                          : 80000 + rng_below(&r, 1000);
    }
    check_distribution(vals, N);

    /* Counts that are round multiples, where p/100 * count is an integer. */
    for (size_t n = 1000; n <= 20000; n += 1000) {
        for (size_t i = 0; i < n; i++) {
            vals[i] = 1000 + rng_below(&r, 1000000);
        }
        check_distribution(vals, n);
    }
    free(vals);
}

/* p99.9 of 999 fast values and one slow one is the fast value: at least
 * 99.9% of the values are <= it. Before the fix, 99.9 / 100 * 1000 rounded
 * to 999.0000000000001 and ceil() picked rank 1000, the slow one. */
static void
test_rank_rounding(void **state)
{
    struct hist h;
    hist_init(&h);
    for (int i = 0; i < 999; i++) {
        hist_record(&h, 100);
    }
    hist_record(&h, 1000000);
    assert_int_equal(hist_percentile(&h, 99.9), 100);
    assert_int_equal(hist_percentile(&h, 99.91), 1000000);

    hist_init(&h);
    for (uint64_t v = 1; v <= 1000; v++) {
        hist_record(&h, v);
    }
    assert_int_equal(hist_percentile(&h, 99.9), 999); /* slot 992..999 */
    assert_int_equal(hist_percentile(&h, 99.8), 999);
    assert_int_equal(hist_percentile(&h, 50), 503); /* slot 500..503 */
    assert_int_equal(hist_percentile(&h, 10), 100);
}

static void
test_extremes(void **state)
{
    struct hist h;
    hist_init(&h);
    hist_record(&h, 0);
    hist_record(&h, UINT64_MAX);
    assert_int_equal(h.min, 0);
    assert_int_equal(h.max, UINT64_MAX);
    assert_int_equal(hist_percentile(&h, 50), 0);
    assert_int_equal(hist_percentile(&h, 100), UINT64_MAX);
    /* Above 2^44 values share the last slot; a percentile there is still
     * bounded by the recorded min and max. */
    hist_init(&h);
    hist_record(&h, 1ull << 50);
    hist_record(&h, 1ull << 51);
    assert_int_equal(hist_percentile(&h, 50), 1ull << 50);
    assert_int_equal(hist_percentile(&h, 100), 1ull << 51);
    /* Slot edges: 127 | 128 and each octave's first and last value. */
    for (unsigned b = 7; b < 44; b++) {
        uint64_t lo = 1ull << b, hi = (2ull << b) - 1;
        uint64_t edge[] = {lo - 1, lo, lo + 1, hi};
        for (size_t i = 0; i < 4; i++) {
            hist_init(&h);
            hist_record(&h, 0);
            hist_record(&h, edge[i]);
            hist_record(&h, UINT64_MAX >> 20);
            uint64_t got = hist_percentile(&h, 50);
            assert_true(got >= edge[i] && got <= edge[i] + edge[i] / 64);
        }
    }
}

static void
test_merge(void **state)
{
    static struct hist a, b, all, empty;
    struct rng r = {77};
    hist_init(&a);
    hist_init(&b);
    hist_init(&all);
    hist_init(&empty);
    for (int i = 0; i < 50000; i++) {
        uint64_t v = (uint64_t)exp2(rng_double(&r) * 30.0);
        hist_record(i % 3 ? &a : &b, v);
        hist_record(&all, v);
    }
    /* Merging into an empty histogram copies; merging an empty one is a
     * no-op; a + b is the histogram of both. */
    hist_merge(&empty, &a);
    assert_memory_equal(&empty, &a, sizeof(a));
    struct hist *none = calloc(1, sizeof(*none));
    assert_non_null(none);
    hist_init(none);
    hist_merge(&a, none);
    assert_memory_equal(&empty, &a, sizeof(a));
    free(none);

    hist_merge(&a, &b);
    assert_int_equal(a.count, all.count);
    assert_int_equal(a.min, all.min);
    assert_int_equal(a.max, all.max);
    assert_memory_equal(a.slots, all.slots, sizeof(a.slots));
    assert_true(fabs(a.sum - all.sum) <= 1e-9 * all.sum);
    for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
        assert_int_equal(hist_percentile(&a, pcts[i]), hist_percentile(&all, pcts[i]));
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_exact_below_128),
        cmocka_unit_test(test_known_distributions),
        cmocka_unit_test(test_rank_rounding),
        cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
