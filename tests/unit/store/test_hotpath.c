/*
 * Unit tests for what the request paths touch (issue #13, point 4): a
 * get that hits writes nothing once the item's access bits are set (the
 * item memory is made read-only and thousands of reads do not fault; no
 * statistic moves, so no counter was bumped), and gets, deletes and
 * stores that find room
 * in their head's segments never take the store-wide segment lock (the
 * only process-wide lock; the store has no process-wide counter).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "store_helpers.h"

static struct got g;

enum { N = 2000 };

static void
key_of(char *buf, size_t n, int i)
{
    snprintf(buf, n, "hot:%d", i);
}

static struct store *
filled(void)
{
    struct store_config cfg = test_config(64 << 20, 0);
    struct store *s = test_store(&cfg);
    char key[32];
    for (int i = 0; i < N; i++) {
        key_of(key, sizeof(key), i);
        assert_int_equal(kv_set(s, key, "some value"), STORE_OK);
    }
    return s;
}

static void
test_get_hits_write_nothing(void **state)
{
    (void)state;
    struct store *s = filled();
    char key[32];
    /* Read each item until its bits are set (a first and a second read
     * since eviction last passed), within one second of the clock. */
    for (int r = 0; r < 2; r++) {
        for (int i = 0; i < N; i++) {
            key_of(key, sizeof(key), i);
            assert_int_equal(kv_get(s, key, &g, NULL), STORE_OK);
        }
    }
    struct store_stats st0 = kv_stats(s);
    assert_int_equal(store_debug_items_readonly(s, true), 0); /* a write now faults */
    for (int r = 0; r < 20; r++) {
        for (int i = 0; i < N; i++) {
            key_of(key, sizeof(key), i);
            assert_int_equal(kv_get(s, key, &g, NULL), STORE_OK);
        }
        assert_false(kv_exists(s, "absent"));
    }
    assert_int_equal(store_debug_items_readonly(s, false), 0);
    /* and no store-wide statistic moved */
    struct store_stats st1 = kv_stats(s);
    assert_memory_equal(&st0, &st1, sizeof(st0));
    store_destroy(&s);
}

static void
test_no_store_wide_lock(void **state)
{
    (void)state;
    struct store *s = filled();
    char key[32];
    uint64_t locks = store_debug_segment_locks(s);
    for (int i = 0; i < N; i++) {
        key_of(key, sizeof(key), i);
        assert_int_equal(kv_get(s, key, &g, NULL), STORE_OK);
        assert_false(kv_exists(s, "absent"));
    }
    assert_int_equal(store_debug_segment_locks(s), locks); /* gets, hits and misses */
    for (int i = 0; i < N; i += 2) {
        key_of(key, sizeof(key), i);
        assert_int_equal(kv_delete(s, key, 0), STORE_OK);
    }
    assert_int_equal(store_debug_segment_locks(s), locks); /* deletes */
    for (int i = 1; i < N; i += 2) {
        key_of(key, sizeof(key), i);
        assert_int_equal(kv_set(s, key, "another value"), STORE_OK);
    }
    /* 1000 stores of 30 bytes fit the head's room: at most one new
     * segment (a lock or two) if its segment happened to be full. */
    assert_true(store_debug_segment_locks(s) - locks <= 2);
    store_destroy(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_hits_write_nothing),
        cmocka_unit_test(test_no_store_wide_lock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
