/* Unit tests for bench/progress: the line's layout (thousands grouped, a
 * missing hit ratio as "-"), and when the line is on: only for a terminal
 * and without --quiet. The live behaviour (lines over '\r', cleared at the
 * end) is tested end to end under a pseudo-terminal in
 * tests/integration/test_bench.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "options.h"
#include "progress.h"

static void
test_format(void **state)
{
    char buf[200];
    int n = progress_format(buf, sizeof(buf), 3.04, "run", 1234567.4, 0.9123, 0);
    assert_string_equal(buf, "stashd-bench    3.0 s  run          1,234,567 ops/s  hits  91.2%  "
                             "errors 0");
    assert_int_equal(n, (int)strlen(buf));
    progress_format(buf, sizeof(buf), 0.95, "preload", 999.6, -1, 12);
    assert_string_equal(buf, "stashd-bench    0.9 s  preload          1,000 ops/s  hits      -  "
                             "errors 12");
    progress_format(buf, sizeof(buf), 61, "warm-up", 0, 1, 18446744073709551615ull);
    assert_non_null(strstr(buf, "  0 ops/s  hits 100.0%  errors 18446744073709551615"));
}

/* A line cut by a small buffer is still a string. */
static void
test_format_truncates(void **state)
{
    char buf[16];
    int n = progress_format(buf, sizeof(buf), 1, "run", 1e9, 0.5, 3);
    assert_true(n > 15);
    assert_int_equal(strlen(buf), 15);
}

static void
test_off_unless_a_terminal(void **state)
{
    struct options o;
    options_defaults(&o);
    struct progress p;
    FILE *f = tmpfile();
    assert_non_null(f);
    progress_init(&p, &o, f, 100);
    assert_null(p.f);
    assert_int_equal(p.next_ns, UINT64_MAX);
    progress_clear(&p); /* nothing shown: writes nothing */
    fflush(f);
    assert_int_equal(ftell(f), 0);
    fclose(f);
}

static void
test_on_for_a_terminal_off_when_quiet(void **state)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0) {
        skip();
    }
    FILE *f = fopen(ptsname(m), "w");
    assert_non_null(f);
    struct options o;
    options_defaults(&o);
    struct progress p;
    progress_init(&p, &o, f, 100);
    assert_ptr_equal(p.f, f);
    assert_int_equal(p.next_ns, 100 + 1000000000ull);
    o.quiet = true;
    progress_init(&p, &o, f, 100);
    assert_null(p.f);
    assert_int_equal(p.next_ns, UINT64_MAX);
    fclose(f);
    close(m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_truncates),
        cmocka_unit_test(test_off_unless_a_terminal),
        cmocka_unit_test(test_on_for_a_terminal_off_when_quiet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
