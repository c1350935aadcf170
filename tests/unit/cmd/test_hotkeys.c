/* Unit tests for cmd/hotkeys: the sampled Space-Saving sketch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "stashd/cmd/hotkeys.h"
#include "stashd/util/hash.h"

static void
note(struct hotkeys *h, const char *k)
{
    hotkeys_note(h, k, strlen(k), hash_bytes(k, strlen(k)));
}

static void
test_heavy_hitters_survive_a_long_tail(void **state)
{
    struct hotkeys *h[2] = {NULL, NULL};
    assert_int_equal(hotkeys_create(&h[0]), 0);
    assert_int_equal(hotkeys_create(&h[1]), 0);
    char k[32];
    /* 10% "a", 5% "b" on each worker, the rest 20000 distinct keys. */
    for (int i = 0; i < 40000; i++) {
        struct hotkeys *w = h[i & 1];
        if (i % 10 == 0) {
            note(w, "a");
        } else if (i % 20 == 1) {
            note(w, "b");
        } else {
            snprintf(k, sizeof(k), "tail:%d", i);
            note(w, k);
        }
    }
    struct hotkeys_entry top[5];
    size_t n = hotkeys_top(h, 2, top, 5);
    assert_int_equal(n, 5);
    assert_int_equal(top[0].len, 1);
    assert_memory_equal(top[0].key, "a", 1);
    assert_memory_equal(top[1].key, "b", 1);
    /* Estimates overcount by at most the inherited minimum: about right. */
    assert_true(top[0].count >= 3000 && top[0].count <= 6000);
    assert_true(top[1].count >= 1000 && top[1].count <= 4000);
    for (size_t i = 1; i < n; i++) {
        assert_true(top[i - 1].count >= top[i].count);
    }
    hotkeys_destroy(&h[0]);
    hotkeys_destroy(&h[1]);
    assert_null(h[0]);
}

static void
test_bounds(void **state)
{
    struct hotkeys *h = NULL;
    assert_int_equal(hotkeys_create(&h), 0);
    char big[300];
    memset(big, 'x', sizeof(big));
    for (int i = 0; i < 100; i++) {
        hotkeys_note(h, big, sizeof(big), 1); /* over 250: ignored */
        hotkeys_note(h, big, 0, 2);           /* empty: ignored */
    }
    hotkeys_note(NULL, "k", 1, 3); /* no sketch: no-op */
    struct hotkeys_entry top[4];
    assert_int_equal(hotkeys_top(&h, 1, top, 4), 0);
    hotkeys_destroy(&h);
}

int
main(void)
{
    hash_setup(42);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heavy_hitters_survive_a_long_tail),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
