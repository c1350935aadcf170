/*
 * Unit tests for expiry and flush: lazy expiry on access, the maintenance
 * scan that reclaims dead items, flush_all now and delayed, and the
 * maintenance thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "store_helpers.h"

static struct got g;

static void
sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void
test_lazy_expiry(void **state)
{
    (void)state;
    struct store_config cfg = test_config(8 << 20, 4);
    struct store *s = test_store(&cfg);
    assert_int_equal(kv_set_exp(s, "gone", "v", CLOCK_EXPIRED), STORE_OK);
    assert_int_equal(kv_set_exp(s, "now", "v", clock_now()), STORE_OK); /* expires at now */
    assert_int_equal(kv_set_exp(s, "later", "v", clock_now() + 100), STORE_OK);
    assert_int_equal(kv_stats(s).curr_items, 3);
    enum store_miss miss;
    assert_int_equal(kv_get(s, "gone", &g, &miss), STORE_NOT_FOUND);
    assert_int_equal(miss, STORE_MISS_EXPIRED);
    /* Freed on that access: a second look finds nothing at all. */
    assert_int_equal(kv_get(s, "gone", &g, &miss), STORE_NOT_FOUND);
    assert_int_equal(miss, STORE_MISS_ABSENT);
    assert_int_equal(kv_get(s, "now", &g, &miss), STORE_NOT_FOUND);
    assert_int_equal(miss, STORE_MISS_EXPIRED);
    assert_int_equal(kv_get(s, "later", &g, &miss), STORE_OK);
    struct store_stats st = kv_stats(s);
    assert_int_equal(st.curr_items, 1);
    assert_int_equal(st.reclaimed, 2);
    assert_int_equal(st.expired_unfetched, 2);
    /* Expired items are missing for every operation. */
    assert_int_equal(kv_set_exp(s, "gone", "v", CLOCK_EXPIRED), STORE_OK);
    assert_int_equal(kv_delete(s, "gone", 0), STORE_NOT_FOUND);
    assert_int_equal(kv_set_exp(s, "gone", "v", CLOCK_EXPIRED), STORE_OK);
    assert_int_equal(kv_set_mode(s, STORE_MODE_REPLACE, "gone", "w", 1, 0, 0, 0, NULL),
                     STORE_NOT_STORED);
    store_destroy(&s);
}

static void
test_maintain_reclaims(void **state)
{
    (void)state;
    struct store_config cfg = test_config(16 << 20, 4);
    struct store *s = test_store(&cfg);
    char key[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "e%d", i);
        assert_int_equal(kv_set_exp(s, key, "expired", i % 2 ? CLOCK_EXPIRED : 0), STORE_OK);
    }
    /* A read of one before it expired: fetched, so not "unfetched". */
    assert_int_equal(kv_set_exp(s, "fetched", "v", clock_now() + 100), STORE_OK);
    assert_int_equal(kv_get(s, "fetched", &g, NULL), STORE_OK);
    struct store_key k;
    store_key_init(&k, "fetched", 7);
    assert_int_equal(store_touch(s, &k, CLOCK_EXPIRED), STORE_OK);
    assert_int_equal(kv_stats(s).curr_items, 20001);
    /* Each pass is bounded; enough passes cover every bucket. */
    for (int pass = 0; pass < 64; pass++) {
        store_maintain(s);
    }
    struct store_stats st = kv_stats(s);
    assert_int_equal(st.curr_items, 10000);
    assert_int_equal(st.reclaimed, 10001);
    assert_int_equal(st.expired_unfetched, 10000);
    for (int i = 0; i < 20000; i += 2) {
        snprintf(key, sizeof(key), "e%d", i);
        assert_true(kv_exists(s, key));
    }
    store_destroy(&s);
}

static void
test_flush_now(void **state)
{
    (void)state;
    struct store_config cfg = test_config(8 << 20, 8);
    struct store *s = test_store(&cfg);
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "f%d", i);
        assert_int_equal(kv_set(s, key, "v"), STORE_OK);
    }
    store_flush(s, 0);
    enum store_miss miss;
    assert_int_equal(kv_get(s, "f0", &g, &miss), STORE_NOT_FOUND);
    assert_int_equal(miss, STORE_MISS_FLUSHED);
    /* Stores after the flush are visible; add treats flushed as absent. */
    assert_int_equal(kv_set_mode(s, STORE_MODE_ADD, "f1", "new", 3, 0, 0, 0, NULL), STORE_OK);
    assert_string_equal(kv_str(s, "f1", &g), "new");
    assert_int_equal(kv_set(s, "fresh", "x"), STORE_OK);
    assert_true(kv_exists(s, "fresh"));
    /* Maintenance frees the rest. */
    for (int pass = 0; pass < 16; pass++) {
        store_maintain(s);
    }
    struct store_stats st = kv_stats(s);
    assert_int_equal(st.curr_items, 2);
    assert_true(st.reclaimed >= 998);
    /* A flush "at" a time already past is immediate. */
    store_flush(s, CLOCK_EXPIRED);
    assert_false(kv_exists(s, "fresh"));
    store_destroy(&s);
}

/*
 * After a flush, maintenance's sweep walks the segments that hold items,
 * not the whole range (4 x -m of segments, mostly never used): at -m 1024
 * it took 128 passes (12.8 s) whatever the store held, and a store
 * refilled after each flush_all grew by what it held every time.
 */
static void
test_flush_sweep_walks_used_segments(void **state)
{
    (void)state;
    struct store_config cfg = test_config((uint64_t)1024 << 20, 8);
    struct store *s = test_store(&cfg);
    static char val[1000];
    memset(val, 'f', sizeof(val));
    char key[32];
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 20000; i++) { /* ~20 MB */
            snprintf(key, sizeof(key), "r%d:%d", round, i);
            assert_int_equal(kv_set_mode(s, STORE_MODE_SET, key, val, sizeof(val), 0, 0, 0, NULL),
                             STORE_OK);
        }
        store_flush(s, 0);
        /* At once, as curr_items: the flush killed them (unlinked later) */
        assert_int_equal(kv_stats(s).bytes, 0);
        assert_int_equal(kv_stats(s).curr_items, 0);
        for (int pass = 0; pass < 3; pass++) { /* 32 segments a pass: 21 here */
            store_maintain(s);
        }
        struct store_stats st = kv_stats(s);
        assert_int_equal(st.curr_items, 0);
        assert_int_equal(st.bytes, 0); /* every flushed item unlinked */
        /* Their segments came back, and the next round writes there. */
        assert_true(st.total_malloced < (32 << 20));
    }
    store_destroy(&s);
}

static void
test_flush_delayed(void **state)
{
    (void)state;
    struct store_config cfg = test_config(8 << 20, 8);
    struct store *s = test_store(&cfg);
    clock_update();
    assert_int_equal(kv_set(s, "before", "v"), STORE_OK);
    assert_int_equal(kv_set(s, "early", "v"), STORE_OK);
    /* A pending flush replaced by a later one only counts once. */
    store_flush(s, clock_now() + 1000);
    store_flush(s, clock_now() + 1);
    store_maintain(s);
    assert_true(kv_exists(s, "before"));
    assert_int_equal(kv_set(s, "during", "v"), STORE_OK);
    /* Wait for the clock to pass the flush time (the one sleep here). */
    uint32_t at = clock_now() + 1;
    for (int i = 0; i < 40 && clock_now() < at; i++) {
        sleep_ms(100);
        clock_update();
    }
    assert_true(clock_now() >= at);
    /* Items that existed at the flush time are gone, even without a
     * maintenance pass (the shard applies it on access). */
    enum store_miss miss;
    assert_int_equal(kv_get(s, "before", &g, &miss), STORE_NOT_FOUND);
    assert_int_equal(miss, STORE_MISS_FLUSHED);
    assert_false(kv_exists(s, "during"));
    assert_int_equal(kv_set(s, "after", "v"), STORE_OK);
    store_maintain(s); /* applies to every shard and clears the pending flush */
    assert_true(kv_exists(s, "after"));
    assert_false(kv_exists(s, "early"));
    store_maintain(s);
    assert_true(kv_exists(s, "after"));
    /* An immediate flush cancels a pending one. */
    store_flush(s, clock_now() + 1);
    store_flush(s, 0);
    assert_false(kv_exists(s, "after"));
    assert_int_equal(kv_set(s, "survivor", "v"), STORE_OK);
    store_destroy(&s);
}

static void
test_maintenance_thread(void **state)
{
    (void)state;
    struct store_config cfg = test_config(8 << 20, 4);
    struct store *s = test_store(&cfg);
    assert_int_equal(store_start_maintenance(s), 0);
    assert_int_equal(store_start_maintenance(s), 0); /* idempotent */
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "t%d", i);
        assert_int_equal(kv_set_exp(s, key, "v", CLOCK_EXPIRED), STORE_OK);
    }
    for (int i = 0; i < 50 && kv_stats(s).curr_items != 0; i++) {
        sleep_ms(20);
    }
    assert_int_equal(kv_stats(s).curr_items, 0);
    assert_int_equal(kv_stats(s).reclaimed, 1000);
    /* Stop is prompt (the thread waits on a condition variable). */
    uint64_t t0 = clock_mono_ns();
    store_stop_maintenance(s);
    assert_true(clock_mono_ns() - t0 < 50 * 1000000ull);
    store_stop_maintenance(s);
    /* Destroy stops a running thread too. */
    assert_int_equal(store_start_maintenance(s), 0);
    store_destroy(&s);
    assert_null(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lazy_expiry),
        cmocka_unit_test(test_maintain_reclaims),
        cmocka_unit_test(test_flush_now),
        cmocka_unit_test(test_flush_delayed),
        cmocka_unit_test(test_maintenance_thread),
        cmocka_unit_test(test_flush_sweep_walks_used_segments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
