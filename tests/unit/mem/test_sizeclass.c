/*
 * Unit tests for mem/sizeclass: the class table that -n and -f shape,
 * which groups items by size in statistics.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "stashd/mem/sizeclass.h"

#define HDR 12 /* the store's fixed item header, as in store/item.h */

/* Every class is 8-aligned, ascending, ends at SIZECLASS_CHUNK_MAX, and the
 * lookup picks the smallest class that holds each size. */
static void
check_table(const struct sizeclass *sc)
{
    assert_true(sc->count >= 1 && sc->count <= SIZECLASS_MAX);
    assert_int_equal(sc->size[sc->count - 1], SIZECLASS_CHUNK_MAX);
    for (unsigned i = 0; i < sc->count; i++) {
        assert_int_equal(sc->size[i] % SIZECLASS_ALIGN, 0);
        if (i > 0) {
            assert_true(sc->size[i] > sc->size[i - 1]);
        }
    }
    for (uint64_t n = 1; n <= SIZECLASS_CHUNK_MAX; n++) {
        unsigned c = sizeclass_of(sc, n);
        assert_true(c < sc->count);
        assert_true(sc->size[c] >= n);
        if (c > 0) {
            assert_true(sc->size[c - 1] < n);
        }
    }
    assert_int_equal(sizeclass_of(sc, SIZECLASS_CHUNK_MAX + 1), sc->count);
    assert_int_equal(sizeclass_of(sc, UINT64_MAX), sc->count);
}

static void
test_classes_default(void **state)
{
    (void)state;
    struct sizeclass sc;
    assert_int_equal(sizeclass_init(&sc, HDR, 48, 1.25), 0);
    check_table(&sc);
    /* 12 + 48 = 60 -> 64; 80; 100 -> 104; 130 -> 136; 170 -> 176 */
    assert_int_equal(sc.size[0], 64);
    assert_int_equal(sc.size[1], 80);
    assert_int_equal(sc.size[2], 104);
    assert_int_equal(sc.size[3], 136);
    assert_int_equal(sc.size[4], 176);
    for (unsigned i = 1; i + 1 < sc.count; i++) {
        assert_true(sc.size[i] >= ceil(sc.size[i - 1] * 1.25));
        assert_true(sc.size[i] < ceil(sc.size[i - 1] * 1.25) + SIZECLASS_ALIGN);
    }
    /* 32-byte key + 100-byte value: 144 bytes are in the 176-byte class. */
    assert_int_equal(sc.size[sizeclass_of(&sc, HDR + 32 + 100)], 176);
}

static void
test_classes_options(void **state)
{
    (void)state;
    struct sizeclass sc;
    /* -n 100 -f 2: 112, 224, ..., 14336, then 16384. */
    assert_int_equal(sizeclass_init(&sc, HDR, 100, 2.0), 0);
    check_table(&sc);
    assert_int_equal(sc.count, 9);
    assert_int_equal(sc.size[0], 112);
    assert_int_equal(sc.size[1], 224);
    assert_int_equal(sc.size[7], 14336);
    /* A factor barely above 1 still progresses, capped at the class limit. */
    assert_int_equal(sizeclass_init(&sc, HDR, 48, 1.0001), 0);
    check_table(&sc);
    assert_int_equal(sc.count, SIZECLASS_MAX);
    assert_int_equal(sc.size[1], sc.size[0] + SIZECLASS_ALIGN);
    /* One huge first class. */
    assert_int_equal(sizeclass_init(&sc, HDR, SIZECLASS_CHUNK_MAX - HDR, 1.25), 0);
    assert_int_equal(sc.count, 1);
    check_table(&sc);
}

static void
test_classes_invalid(void **state)
{
    (void)state;
    struct sizeclass sc;
    assert_int_equal(sizeclass_init(&sc, HDR, 48, 1.0), -EINVAL);
    assert_int_equal(sizeclass_init(&sc, HDR, 48, 0.5), -EINVAL);
    assert_int_equal(sizeclass_init(&sc, HDR, 48, NAN), -EINVAL);
    assert_int_equal(sizeclass_init(&sc, HDR, 48, INFINITY), -EINVAL);
    assert_int_equal(sizeclass_init(&sc, HDR, SIZECLASS_CHUNK_MAX, 1.25), -EINVAL);
    assert_int_equal(sizeclass_init(&sc, HDR, UINT32_MAX, 1.25), -EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classes_default),
        cmocka_unit_test(test_classes_options),
        cmocka_unit_test(test_classes_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
