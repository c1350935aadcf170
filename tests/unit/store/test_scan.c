/*
 * Unit tests for walking the keyspace: store_scan (Redis SCAN's cursor
 * promises, across table growth), store_random and store_count.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "store_helpers.h"

#define NKEYS 5000

/* Keys are "key:<n>"; seen[n] counts how often the walk saw key n. */
struct seen {
    unsigned count[4 * NKEYS];
    uint64_t total;
    uint64_t other; /* keys not of that form */
};

static void
on_key(void *ctx, const struct store_item_view *v)
{
    struct seen *sn = ctx;
    sn->total++;
    char buf[32];
    if (v->nkey < 5 || v->nkey >= sizeof(buf) || memcmp(v->key, "key:", 4) != 0) {
        sn->other++;
        return;
    }
    memcpy(buf, v->key + 4, v->nkey - 4);
    buf[v->nkey - 4] = '\0';
    long n = strtol(buf, NULL, 10);
    if (n >= 0 && n < 4 * NKEYS) {
        sn->count[n]++;
    }
}

static void
put(struct store *s, int n)
{
    char key[32];
    snprintf(key, sizeof(key), "key:%d", n);
    assert_int_equal(kv_set(s, key, "v"), STORE_OK);
}

static struct store *
small_tables(uint32_t shards)
{
    /* 4 MiB starts the tables at 4096 buckets in all (one per KiB), so
     * NKEYS keys and more make every table double. */
    struct store_config cfg = test_config(4 << 20, shards);
    struct store *s = test_store(&cfg);
    clock_update();
    return s;
}

static void
test_scan_sees_each_key_once(void **state)
{
    (void)state;
    struct store *s = small_tables(4);
    for (int i = 0; i < NKEYS; i++) {
        put(s, i);
    }
    static struct seen sn;
    memset(&sn, 0, sizeof(sn));
    uint64_t cursor = 0;
    unsigned calls = 0;
    do {
        cursor = store_scan(s, STORE_DB_ANY, cursor, 10, on_key, &sn);
        calls++;
        assert_true(calls < 100000);
    } while (cursor != 0);
    assert_int_equal(sn.total, NKEYS);
    for (int i = 0; i < NKEYS; i++) {
        assert_int_equal(sn.count[i], 1);
    }
    assert_true(calls > NKEYS / 100); /* it did go a slice at a time */
    store_destroy(&s);
}

static void
test_scan_across_growth(void **state)
{
    (void)state;
    struct store *s = small_tables(2);
    for (int i = 0; i < NKEYS; i++) {
        put(s, i);
    }
    static struct seen sn;
    memset(&sn, 0, sizeof(sn));
    uint64_t cursor = 0;
    int next = NKEYS;
    do {
        cursor = store_scan(s, STORE_DB_ANY, cursor, 5, on_key, &sn);
        /* Grow the tables between calls. */
        for (int j = 0; j < 3 && next < 4 * NKEYS; j++) {
            put(s, next++);
        }
    } while (cursor != 0);
    /* Every key present for the whole walk: seen exactly once (tables
     * only grow, so no bucket is visited twice). */
    for (int i = 0; i < NKEYS; i++) {
        assert_int_equal(sn.count[i], 1);
    }
    for (int i = NKEYS; i < next; i++) {
        assert_true(sn.count[i] <= 1);
    }
    store_destroy(&s);
}

static void
test_scan_edges(void **state)
{
    (void)state;
    struct store *s = small_tables(4);
    static struct seen sn;
    memset(&sn, 0, sizeof(sn));
    /* Empty store: one call ends the walk. */
    assert_int_equal(store_scan(s, STORE_DB_ANY, 0, 10, on_key, &sn), 0);
    assert_int_equal(sn.total, 0);
    /* A cursor past the last shard ends it; arbitrary low bits are fine. */
    put(s, 1);
    assert_int_equal(store_scan(s, STORE_DB_ANY, (uint64_t)4 << 32, 10, on_key, &sn), 0);
    assert_int_equal(store_scan(s, STORE_DB_ANY, UINT64_MAX, 10, on_key, &sn), 0);
    uint64_t c = store_scan(s, STORE_DB_ANY, 0xdeadbeef, 1000, on_key, &sn);
    (void)c;
    /* Dead items are not shown (and are freed on the way). */
    memset(&sn, 0, sizeof(sn));
    assert_int_equal(kv_set_exp(s, "key:2", "v", CLOCK_EXPIRED), STORE_OK);
    assert_int_equal(kv_stats(s).curr_items, 2);
    uint64_t cursor = 0;
    do {
        cursor = store_scan(s, STORE_DB_ANY, cursor, 1000, on_key, &sn);
    } while (cursor != 0);
    assert_int_equal(sn.total, 1);
    assert_int_equal(sn.count[1], 1);
    assert_int_equal(kv_stats(s).curr_items, 1);
    assert_int_equal(store_count(s), 1);
    /* Flushed items are not shown either. */
    store_flush(s, 0);
    memset(&sn, 0, sizeof(sn));
    assert_int_equal(store_scan(s, STORE_DB_ANY, 0, 1000, on_key, &sn), 0);
    assert_int_equal(sn.total, 0);
    store_destroy(&s);
}

static void
test_scan_count_bounds_work(void **state)
{
    (void)state;
    struct store *s = small_tables(1);
    for (int i = 0; i < NKEYS; i++) {
        put(s, i);
    }
    static struct seen sn;
    memset(&sn, 0, sizeof(sn));
    uint64_t c = store_scan(s, STORE_DB_ANY, 0, 1, on_key, &sn);
    assert_true(c != 0);
    assert_true(sn.total >= 1 && sn.total < 20); /* a bucket or a few */
    memset(&sn, 0, sizeof(sn));
    c = store_scan(s, STORE_DB_ANY, 0, UINT64_MAX, on_key, &sn); /* whole keyspace */
    assert_int_equal(c, 0);
    assert_int_equal(sn.total, NKEYS);
    store_destroy(&s);
}

static void
test_random(void **state)
{
    (void)state;
    struct store *s = small_tables(8);
    static struct seen sn;
    memset(&sn, 0, sizeof(sn));
    assert_int_equal(store_random(s, STORE_DB_ANY, 12345, on_key, &sn), STORE_NOT_FOUND);
    put(s, 7);
    for (uint64_t r = 0; r < 64; r++) {
        assert_int_equal(store_random(s, STORE_DB_ANY, r * 0x9e3779b97f4a7c15ull, on_key, &sn),
                         STORE_OK);
    }
    assert_int_equal(sn.count[7], 64);
    /* Only a dead item left: not found. */
    assert_int_equal(kv_delete(s, "key:7", 0), STORE_OK);
    assert_int_equal(kv_set_exp(s, "key:8", "v", CLOCK_EXPIRED), STORE_OK);
    assert_int_equal(store_random(s, STORE_DB_ANY, 99, on_key, &sn), STORE_NOT_FOUND);
    /* Many keys: several distinct picks. */
    for (int i = 0; i < 1000; i++) {
        put(s, i);
    }
    memset(&sn, 0, sizeof(sn));
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 200; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        assert_int_equal(store_random(s, STORE_DB_ANY, x, on_key, &sn), STORE_OK);
    }
    int distinct = 0;
    for (int i = 0; i < 1000; i++) {
        distinct += sn.count[i] > 0;
    }
    assert_true(distinct > 50);
    assert_int_equal(store_count(s), 1000);
    store_destroy(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_sees_each_key_once),
        cmocka_unit_test(test_scan_across_growth),
        cmocka_unit_test(test_scan_edges),
        cmocka_unit_test(test_scan_count_bounds_work),
        cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
