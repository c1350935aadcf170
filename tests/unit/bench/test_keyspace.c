/* Unit tests for bench/keyspace: how a key index is spelled (prefix, zero
 * padding, decimal; one fixed size or a per-key size in a range), what
 * keyspace_init() refuses, and the three distributions of keyspace_next(),
 * Zipf's against its exact probabilities. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyspace.h"

/* Spells idx and NUL-terminates it, for string comparisons. */
static size_t
spell(const struct keyspace *ks, uint64_t idx, char out[KEYSPACE_MAX_KEY + 1])
{
    size_t n = keyspace_format(ks, idx, out);
    assert_true(n <= KEYSPACE_MAX_KEY);
    out[n] = '\0';
    return n;
}

static void
test_u64_spelling(void **state)
{
    char out[24], want[24];
    uint64_t vs[] = {0, 1, 9, 10, 99, 100, 12345, 4294967295u, 4294967296u, UINT64_MAX};
    for (size_t i = 0; i < sizeof(vs) / sizeof(vs[0]); i++) {
        int w = snprintf(want, sizeof(want), "%llu", (unsigned long long)vs[i]);
        size_t n = keyspace_u64(out, vs[i]);
        assert_int_equal(n, (size_t)w);
        assert_memory_equal(out, want, n);
    }
}

static void
test_spelling_unpadded_and_fixed(void **state)
{
    struct keyspace ks;
    char k[KEYSPACE_MAX_KEY + 1];

    /* key_size 0: prefix and decimal, no padding (key_size_max ignored). */
    assert_int_equal(keyspace_init(&ks, 0, 1000, KEYSPACE_UNIFORM, 0.99, "key:", 0, 64), 0);
    assert_int_equal(keyspace_key_size(&ks, 42), 0);
    assert_int_equal(spell(&ks, 42, k), 6);
    assert_string_equal(k, "key:42");
    assert_int_equal(spell(&ks, 0, k), 5);
    assert_string_equal(k, "key:0");
    assert_int_equal(spell(&ks, 999, k), 7);
    assert_string_equal(k, "key:999");

    /* The header's example: 32 bytes. */
    assert_int_equal(keyspace_init(&ks, 0, 1000, KEYSPACE_UNIFORM, 0.99, "key:", 32, 32), 0);
    assert_int_equal(spell(&ks, 42, k), 32);
    assert_string_equal(k, "key:0000000000000000000000000042");
    assert_int_equal(spell(&ks, 0, k), 32);
    assert_string_equal(k, "key:0000000000000000000000000000");
    for (uint64_t i = 0; i < 1000; i++) {
        assert_int_equal(keyspace_key_size(&ks, i), 32);
        char want[64];
        snprintf(want, sizeof(want), "key:%028llu", (unsigned long long)i);
        assert_int_equal(spell(&ks, i, k), 32);
        assert_string_equal(k, want);
    }

    /* A size exactly the longest key's: that key is unpadded, others are. */
    assert_int_equal(keyspace_init(&ks, 0, 1000, KEYSPACE_UNIFORM, 0.99, "key:", 7, 7), 0);
    assert_int_equal(spell(&ks, 999, k), 7);
    assert_string_equal(k, "key:999");
    assert_int_equal(spell(&ks, 5, k), 7);
    assert_string_equal(k, "key:005");

    /* An empty prefix and a key_min offset. */
    assert_int_equal(keyspace_init(&ks, 1000000, 10, KEYSPACE_UNIFORM, 0.99, "", 10, 10), 0);
    assert_int_equal(spell(&ks, 1000009, k), 10);
    assert_string_equal(k, "0001000009");
}

/* Qsort over fixed-size records of KEYSPACE_MAX_KEY + 1 bytes. */
static int
cmp_key(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Range sizes: every spelled length is in [lo, hi], equals the larger of
 * keyspace_key_size() and the bare spelling, is the same on every call,
 * gives the index back when the padding is stripped, and no two indices
 * share a key. Returns the histogram of lengths through len_count. */
static void
check_range(const char *prefix, uint64_t key_min, uint64_t count, size_t lo, size_t hi,
            uint64_t *len_count)
{
    struct keyspace ks;
    assert_int_equal(keyspace_init(&ks, key_min, count, KEYSPACE_UNIFORM, 0.99, prefix, lo, hi), 0);
    size_t plen = strlen(prefix);
    size_t rec = KEYSPACE_MAX_KEY + 1;
    char *all = malloc(count * rec);
    assert_non_null(all);
    char again[KEYSPACE_MAX_KEY + 1];
    for (uint64_t j = 0; j < count; j++) {
        uint64_t i = key_min + j;
        char *k = all + j * rec;
        size_t n = spell(&ks, i, k);
        size_t want = keyspace_key_size(&ks, i);
        assert_true(want >= lo && want <= hi);
        assert_true(n >= lo && n <= hi);
        char digits[24];
        size_t nd = keyspace_u64(digits, i);
        assert_int_equal(n, want > plen + nd ? want : plen + nd);
        len_count[n]++;
        /* Same index, same spelling, every time. */
        assert_int_equal(keyspace_key_size(&ks, i), want);
        assert_int_equal(spell(&ks, i, again), n);
        assert_string_equal(again, k);
        /* prefix + zeros + decimal: stripping the zeros gives i back. */
        assert_memory_equal(k, prefix, plen);
        const char *d = k + plen;
        while (*d == '0' && d[1] != '\0') {
            d++;
        }
        assert_true(d == k + plen || d[-1] == '0');
        assert_int_equal(strtoull(d, NULL, 10), i);
        assert_int_equal(strlen(d), nd);
    }
    qsort(all, count, rec, cmp_key);
    for (uint64_t j = 1; j < count; j++) {
        assert_true(strcmp(all + (j - 1) * rec, all + j * rec) < 0);
    }
    free(all);
}

static void
test_spelling_range(void **state)
{
    /* 100k indices, all shorter than the smallest size: every length in
     * [10, 40] and near uniform (3226 expected each; 10% is ~6 sigma). */
    uint64_t lens[KEYSPACE_MAX_KEY + 1] = {0};
    check_range("k:", 0, 100000, 10, 40, lens);
    for (size_t l = 10; l <= 40; l++) {
        double expect = 100000.0 / 31;
        assert_true(fabs((double)lens[l] - expect) < 0.1 * expect);
    }

    /* Bare spellings longer than the smaller sizes ("key:" + up to 7
     * digits = 11 bytes): a draw below that is left unpadded, never cut. */
    memset(lens, 0, sizeof(lens));
    check_range("key:", 1000000, 100000, 5, 14, lens);
    for (size_t l = 5; l < 11; l++) {
        assert_int_equal(lens[l], 0);
    }
    /* 11 collects the draws 5..11 (7 of 10); 12..14 one tenth each. */
    assert_true(fabs((double)lens[11] - 70000.0) < 0.05 * 70000.0);
    for (size_t l = 12; l <= 14; l++) {
        assert_true(fabs((double)lens[l] - 10000.0) < 0.1 * 10000.0);
    }

    /* Index 0 padded to several lengths is still one key. */
    memset(lens, 0, sizeof(lens));
    check_range("", 0, 1000, 1, 250, lens);
}

static void
test_init_rejects(void **state)
{
    struct keyspace ks;
    char p250[KEYSPACE_MAX_KEY + 2];
    memset(p250, 'p', 250);
    p250[250] = '\0';
    char p251[KEYSPACE_MAX_KEY + 2];
    memset(p251, 'p', 251);
    p251[251] = '\0';
    char p249[KEYSPACE_MAX_KEY + 2];
    memset(p249, 'p', 249);
    p249[249] = '\0';

    assert_int_equal(keyspace_init(&ks, 0, 0, KEYSPACE_UNIFORM, 0.99, "key:", 0, 0), -EINVAL);
    assert_int_equal(keyspace_init(&ks, 0, 1, KEYSPACE_UNIFORM, 0.99, "key:", 0, 0), 0);

    /* The prefix alone, or prefix + digits, over KEYSPACE_MAX_KEY. */
    assert_int_equal(keyspace_init(&ks, 0, 1, KEYSPACE_UNIFORM, 0.99, p251, 0, 0), -EINVAL);
    assert_int_equal(keyspace_init(&ks, 0, 1, KEYSPACE_UNIFORM, 0.99, p250, 0, 0), -EINVAL);
    assert_int_equal(keyspace_init(&ks, 0, 10, KEYSPACE_UNIFORM, 0.99, p249, 0, 0), 0);
    assert_int_equal(keyspace_init(&ks, 0, 11, KEYSPACE_UNIFORM, 0.99, p249, 0, 0), -EINVAL);

    /* A fixed size shorter than the longest key ("key:999999" is 10). */
    assert_int_equal(keyspace_init(&ks, 0, 1000000, KEYSPACE_UNIFORM, 0.99, "key:", 9, 9), -EINVAL);
    assert_int_equal(keyspace_init(&ks, 0, 1000000, KEYSPACE_UNIFORM, 0.99, "key:", 10, 10), 0);
    /* A range whose largest size is shorter than the longest key. */
    assert_int_equal(keyspace_init(&ks, 0, 1000000, KEYSPACE_UNIFORM, 0.99, "key:", 5, 9), -EINVAL);
    assert_int_equal(keyspace_init(&ks, 0, 1000000, KEYSPACE_UNIFORM, 0.99, "key:", 5, 10), 0);

    /* Sizes over memcached's 250. */
    assert_int_equal(keyspace_init(&ks, 0, 100, KEYSPACE_UNIFORM, 0.99, "key:", 251, 251), -EINVAL);
    assert_int_equal(keyspace_init(&ks, 0, 100, KEYSPACE_UNIFORM, 0.99, "key:", 10, 251), -EINVAL);
    assert_int_equal(keyspace_init(&ks, 0, 100, KEYSPACE_UNIFORM, 0.99, "key:", 10, 250), 0);
    assert_int_equal(keyspace_init(&ks, 0, 100, KEYSPACE_UNIFORM, 0.99, "key:", 250, 250), 0);

    /* key_size_max below key_size (keyspace.h: -EINVAL). */
    assert_int_equal(keyspace_init(&ks, 0, 100, KEYSPACE_UNIFORM, 0.99, "key:", 20, 10), -EINVAL);
    assert_int_equal(keyspace_init(&ks, 0, 100, KEYSPACE_UNIFORM, 0.99, "key:", 20, 0), -EINVAL);

    /* Index overflow: key_min + count - 1 must fit. */
    assert_int_equal(keyspace_init(&ks, UINT64_MAX, 2, KEYSPACE_UNIFORM, 0.99, "k", 0, 0), -EINVAL);
    assert_int_equal(keyspace_init(&ks, UINT64_MAX - 1, 1, KEYSPACE_UNIFORM, 0.99, "k", 0, 0), 0);

    /* Zipf needs s > 0 (NaN included); other distributions ignore s. */
    assert_int_equal(keyspace_init(&ks, 0, 100, KEYSPACE_ZIPF, 0.0, "key:", 0, 0), -EINVAL);
    assert_int_equal(keyspace_init(&ks, 0, 100, KEYSPACE_ZIPF, -1.0, "key:", 0, 0), -EINVAL);
    assert_int_equal(keyspace_init(&ks, 0, 100, KEYSPACE_ZIPF, NAN, "key:", 0, 0), -EINVAL);
    assert_int_equal(keyspace_init(&ks, 0, 100, KEYSPACE_ZIPF, 1e-3, "key:", 0, 0), 0);
    assert_int_equal(keyspace_init(&ks, 0, 100, KEYSPACE_UNIFORM, 0.0, "key:", 0, 0), 0);
}

static void
test_sequential(void **state)
{
    struct keyspace ks;
    struct rng r = {1};
    assert_int_equal(keyspace_init(&ks, 1000, 7, KEYSPACE_SEQUENTIAL, 0.99, "key:", 0, 0), 0);
    uint64_t seq = 5;
    uint64_t want[] = {1005, 1006, 1000, 1001, 1002, 1003, 1004, 1005, 1006, 1000};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_int_equal(keyspace_next(&ks, &r, &seq), want[i]);
    }
    assert_int_equal(seq, 15);
    /* Two cursors walk independently. */
    uint64_t a = 0, b = 0;
    for (int i = 0; i < 20; i++) {
        assert_int_equal(keyspace_next(&ks, &r, &a), 1000 + i % 7);
    }
    assert_int_equal(keyspace_next(&ks, &r, &b), 1000);
    /* Any start value stays in range. */
    seq = UINT64_MAX - 3;
    for (int i = 0; i < 10; i++) {
        uint64_t k = keyspace_next(&ks, &r, &seq);
        assert_true(k >= 1000 && k < 1007);
    }
}

static void
test_uniform(void **state)
{
    struct keyspace ks;
    struct rng r = {42};
    uint64_t seq = 0;
    enum { N = 100, DRAWS = 1000000 };
    static uint64_t hits[N];
    assert_int_equal(keyspace_init(&ks, 500, N, KEYSPACE_UNIFORM, 0.99, "key:", 0, 0), 0);
    for (int i = 0; i < DRAWS; i++) {
        uint64_t k = keyspace_next(&ks, &r, &seq);
        assert_true(k >= 500 && k < 500 + N);
        hits[k - 500]++;
    }
    assert_int_equal(seq, 0); /* the cursor is for sequential only */
    double chi2 = 0, expect = (double)DRAWS / N;
    for (int i = 0; i < N; i++) {
        assert_true(fabs((double)hits[i] - expect) < 0.05 * expect); /* 5 sigma */
        chi2 += ((double)hits[i] - expect) * ((double)hits[i] - expect) / expect;
    }
    assert_true(chi2 < 200.0); /* 99 degrees of freedom */

    /* A huge key space: still in range. */
    assert_int_equal(keyspace_init(&ks, 7, UINT64_MAX - 7, KEYSPACE_UNIFORM, 0.99, "k", 0, 0), 0);
    for (int i = 0; i < 10000; i++) {
        assert_true(keyspace_next(&ks, &r, &seq) >= 7);
    }
}

/* Draws Zipf(s) over n keys, and compares the frequency of the first ranks
 * with k^-s / H(n, s), and the whole distribution by chi-square. */
static void
check_zipf(uint64_t n, double s, int draws, uint64_t seed)
{
    struct keyspace ks;
    struct rng r = {seed};
    uint64_t seq = 0;
    const uint64_t key_min = 1000;
    assert_int_equal(keyspace_init(&ks, key_min, n, KEYSPACE_ZIPF, s, "key:", 0, 0), 0);
    double hn = 0;
    for (uint64_t k = n; k >= 1; k--) { /* small terms first */
        hn += pow((double)k, -s);
    }
    enum { CELLS = 64 };
    uint64_t obs[CELLS + 1] = {0}; /* ranks 1..64, and the rest */
    for (int i = 0; i < draws; i++) {
        uint64_t key = keyspace_next(&ks, &r, &seq);
        assert_true(key >= key_min && key < key_min + n);
        uint64_t rank = key - key_min + 1;
        obs[rank <= CELLS ? rank - 1 : CELLS]++;
    }
    /* Rank 1: the hottest key's share is 1/H(n, s). */
    if (n == 1) {
        assert_int_equal(obs[0], (uint64_t)draws);
        return;
    }
    double p1 = 1.0 / hn;
    double f1 = (double)obs[0] / draws;
    double sigma1 = sqrt(p1 * (1 - p1) / draws);
    assert_true(fabs(f1 - p1) < 5 * sigma1);
    assert_true(fabs(f1 - p1) < 0.02 * p1);

    double chi2 = 0, rest = 1.0;
    int cells = 0;
    for (uint64_t k = 1; k <= CELLS && k <= n; k++) {
        double pk = pow((double)k, -s) / hn;
        double e = pk * draws;
        rest -= pk;
        chi2 += ((double)obs[k - 1] - e) * ((double)obs[k - 1] - e) / e;
        cells++;
    }
    if (n > CELLS) {
        double e = rest * draws;
        chi2 += ((double)obs[CELLS] - e) * ((double)obs[CELLS] - e) / e;
        cells++;
    }
    /* cells - 1 degrees of freedom; 3x is far past any sane p-value. */
    assert_true(chi2 < 3.0 * (cells - 1));
}

static void
test_zipf(void **state)
{
    check_zipf(1000, 0.99, 2000000, 1);
    check_zipf(1000000, 0.99, 2000000, 2);
    check_zipf(10, 0.99, 500000, 3);
    check_zipf(1000, 1.0, 1000000, 4); /* exactly 1: the series branches */
    check_zipf(5000, 0.5, 1000000, 5);
    check_zipf(5000, 1.5, 1000000, 6);
    check_zipf(1, 0.99, 1000, 7); /* one key: always it */

    /* A key space of 10^12 costs nothing to set up; ranks stay in range. */
    struct keyspace ks;
    struct rng r = {8};
    uint64_t seq = 0, first = 0;
    assert_int_equal(keyspace_init(&ks, 5, 1000000000000ull, KEYSPACE_ZIPF, 0.99, "k", 0, 0), 0);
    for (int i = 0; i < 200000; i++) {
        uint64_t k = keyspace_next(&ks, &r, &seq);
        assert_true(k >= 5 && k < 5 + 1000000000000ull);
        first += k == 5;
    }
    assert_true(first > 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_u64_spelling),   cmocka_unit_test(test_spelling_unpadded_and_fixed),
        cmocka_unit_test(test_spelling_range), cmocka_unit_test(test_init_rejects),
        cmocka_unit_test(test_sequential),     cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_zipf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
