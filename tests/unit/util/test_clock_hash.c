/* Unit tests for util/clock (memcached's exptime rules) and util/hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "stashd/util/clock.h"
#include "stashd/util/hash.h"

static void
test_exptime_rules(void **state)
{
    clock_setup();
    uint32_t now = clock_now();
    assert_int_equal(now, 2);
    assert_int_equal(clock_exptime_to_rel(0), 0);
    assert_int_equal(clock_exptime_to_rel(-1), CLOCK_EXPIRED);
    assert_true(CLOCK_EXPIRED < now);
    assert_int_equal(clock_exptime_to_rel(100), now + 100);
    assert_int_equal(clock_exptime_to_rel(CLOCK_MAX_DELTA), now + CLOCK_MAX_DELTA);
    /* Over 30 days: absolute Unix time. */
    int64_t unow = clock_unix_now();
    assert_int_equal(clock_exptime_to_rel(unow + 50), now + 50);
    assert_int_equal(clock_exptime_to_rel(CLOCK_MAX_DELTA + 1), CLOCK_EXPIRED);
    assert_int_equal(clock_exptime_to_rel(unow - 10), CLOCK_EXPIRED);
    assert_true(clock_rel_to_unix(now + 50) == unow + 50);
}

/* The coarse second turns with the wall clock's (clock_wall_ms), so that
 * a millisecond deadline on a whole second, checked on the coarse clock,
 * is not kept up to a second past it. Over a bit more than a second, so
 * that a turn of the second falls inside. */
static void
test_coarse_second_follows_wall(void **state)
{
    clock_setup();
    for (int i = 0; i < 24; i++) {
        int64_t before = clock_wall_ms();
        clock_update();
        int64_t now = clock_now();
        int64_t after = clock_wall_ms();
        /* A few ms of slack: CLOCK_REALTIME may be slewed against the
         * monotonic clock the coarse one counts on. */
        assert_true(now >= (before - 5) / 1000);
        assert_true(now <= (after + 5) / 1000);
        nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
    }
}

/* A warm restart's clock goes on from the stopped one's (stop_rel read at
 * Unix second stop_unix) plus the whole seconds since, counted on one
 * exact read of the wall clock: relative and Unix time stay in step. */
static void
test_continue_counts_the_downtime(void **state)
{
    clock_setup();
    struct timespec w0, w1;
    clock_gettime(CLOCK_REALTIME, &w0);
    uint32_t rel = clock_continue(100, (int64_t)w0.tv_sec - 7, 1u << 31);
    clock_gettime(CLOCK_REALTIME, &w1);
    assert_true(rel >= 107 && rel <= 107 + (uint32_t)(w1.tv_sec - w0.tv_sec));
    assert_int_equal(clock_now(), rel);
    int64_t unow = clock_unix_now();
    assert_true(unow >= (int64_t)w0.tv_sec && unow <= (int64_t)w1.tv_sec);
    assert_int_equal(rel - 100, unow - ((int64_t)w0.tv_sec - 7));
    assert_true(clock_rel_to_unix(rel) == unow);
    /* A stop read off the cached clock and 2 s of downtime: at least 2 s
     * pass on the relative clock, whatever the phase. */
    for (int i = 0; i < 8; i++) {
        clock_update();
        uint32_t stop_rel = clock_now();
        int64_t stop_unix = clock_unix_now();
        rel = clock_continue(stop_rel, stop_unix - 2, 1u << 31);
        assert_true(rel >= stop_rel + 2);
        nanosleep(&(struct timespec){.tv_nsec = 130 * 1000 * 1000}, NULL);
    }
    /* The wall clock went back: no time passes, none is taken away. */
    clock_gettime(CLOCK_REALTIME, &w0);
    assert_int_equal(clock_continue(100, (int64_t)w0.tv_sec + 1000, 1u << 31), 100);
    assert_int_equal(clock_now(), 100);
    /* Past the limit: refused, the clock as it was. */
    assert_int_equal(clock_continue(100, (int64_t)w0.tv_sec - 10, 105), 0);
    assert_int_equal(clock_now(), 100);
    assert_int_equal(clock_unix_now() - clock_process_started(), 100);
}

static void
test_hash_spread(void **state)
{
    hash_setup(12345);
    uint64_t a = hash_bytes("key:1", 5);
    uint64_t b = hash_bytes("key:2", 5);
    assert_true(a != b);
    assert_true(hash_bytes("key:1", 5) == a);
    /* Every length class hashes differently from its prefix. */
    char buf[64];
    memset(buf, 'x', sizeof(buf));
    uint64_t prev = hash_bytes(buf, 0);
    for (size_t n = 1; n < sizeof(buf); n++) {
        uint64_t h = hash_bytes(buf, n);
        assert_true(h != prev);
        prev = h;
    }
    /* Low bits (bucket) and high bits (shard) both spread: 4096 keys over
     * 16 shards and 16 buckets, no slot empty. */
    int hi[16] = {0}, lo[16] = {0};
    for (int i = 0; i < 4096; i++) {
        char k[16];
        int n = snprintf(k, sizeof(k), "k%d", i);
        uint64_t h = hash_bytes(k, (size_t)n);
        hi[h >> 60]++;
        lo[h & 15]++;
    }
    for (int i = 0; i < 16; i++) {
        assert_true(hi[i] > 150 && hi[i] < 370);
        assert_true(lo[i] > 150 && lo[i] < 370);
    }
    /* A different seed gives different hashes. */
    hash_setup(999);
    assert_true(hash_bytes("key:1", 5) != a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exptime_rules),
        cmocka_unit_test(test_coarse_second_follows_wall),
        cmocka_unit_test(test_continue_counts_the_downtime),
        cmocka_unit_test(test_hash_spread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
