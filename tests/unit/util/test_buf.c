/* Unit tests for util/buf: growth, bounds, compaction, shrinking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "stashd/util/buf.h"

static void
test_append_and_consume(void **state)
{
    struct buf b;
    buf_init(&b);
    assert_int_equal(BUF_APPEND_LIT(&b, "hello "), 0);
    assert_int_equal(buf_append_u64(&b, 18446744073709551615ull), 0);
    assert_int_equal(buf_append_i64(&b, -42), 0);
    assert_int_equal(buf_appendf(&b, " %s=%d", "x", 7), 0);
    const char *want = "hello 18446744073709551615-42 x=7";
    assert_int_equal(buf_readable(&b), strlen(want));
    assert_memory_equal(b.data + b.rpos, want, strlen(want));
    b.rpos += 6;
    buf_compact(&b);
    assert_int_equal(b.rpos, 0);
    assert_memory_equal(b.data, "1844", 4);
    buf_fini(&b);
}

static void
test_reserve_bounded(void **state)
{
    struct buf b;
    buf_init(&b);
    assert_int_equal(buf_reserve(&b, 100, 4096), 0);
    assert_true(buf_writable(&b) >= 100);
    assert_int_equal(buf_reserve(&b, 5000, 4096), -ENOMEM);
    assert_int_equal(buf_reserve(&b, 4096, 4096), 0);
    assert_true(b.cap <= 4096);
    buf_fini(&b);
}

static void
test_shrink_only_when_empty(void **state)
{
    struct buf b;
    buf_init(&b);
    assert_int_equal(buf_reserve(&b, 1 << 20, 0), 0);
    b.wpos = 10;
    buf_shrink(&b, 1024);
    assert_true(b.cap >= (1 << 20));
    b.rpos = 10;
    buf_shrink(&b, 1024);
    assert_int_equal(b.cap, 1024);
    assert_int_equal(buf_readable(&b), 0);
    buf_shrink(&b, 0);
    assert_null(b.data);
    buf_fini(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_consume),
        cmocka_unit_test(test_reserve_bounded),
        cmocka_unit_test(test_shrink_only_when_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
