/*
 * Unit tests for mem/slab: the class table for -n/-f, the page budget,
 * large allocations charged to it, and run-time limit changes.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "stashd/mem/slab.h"

#define HDR 35 /* the store's item header, as in store/item.h */

/* Every class is 8-aligned, ascending, ends at SLAB_CHUNK_MAX, and the
 * lookup picks the smallest class that holds each size. */
static void
check_table(const struct slab_classes *sc)
{
    assert_true(sc->count >= 1 && sc->count <= SLAB_CLASSES_MAX);
    assert_int_equal(sc->size[sc->count - 1], SLAB_CHUNK_MAX);
    for (unsigned i = 0; i < sc->count; i++) {
        assert_int_equal(sc->size[i] % SLAB_CHUNK_ALIGN, 0);
        assert_int_equal(sc->per_page[i], SLAB_PAGE_SIZE / sc->size[i]);
        if (i > 0) {
            assert_true(sc->size[i] > sc->size[i - 1]);
        }
    }
    for (uint64_t n = 1; n <= SLAB_CHUNK_MAX; n++) {
        unsigned c = slab_class_for(sc, n);
        assert_true(c < sc->count);
        assert_true(sc->size[c] >= n);
        if (c > 0) {
            assert_true(sc->size[c - 1] < n);
        }
    }
    assert_int_equal(slab_class_for(sc, SLAB_CHUNK_MAX + 1), sc->count);
    assert_int_equal(slab_class_for(sc, UINT64_MAX), sc->count);
}

static void
test_classes_default(void **state)
{
    (void)state;
    struct slab_classes sc;
    assert_int_equal(slab_classes_init(&sc, HDR, 48, 1.25), 0);
    check_table(&sc);
    /* 35 + 48 = 83 -> 88; 110 -> 112; 140 -> 144; 180 -> 184; 230 -> 232 */
    assert_int_equal(sc.size[0], 88);
    assert_int_equal(sc.size[1], 112);
    assert_int_equal(sc.size[2], 144);
    assert_int_equal(sc.size[3], 184);
    assert_int_equal(sc.size[4], 232);
    for (unsigned i = 1; i + 1 < sc.count; i++) {
        assert_true(sc.size[i] >= ceil(sc.size[i - 1] * 1.25));
        assert_true(sc.size[i] < ceil(sc.size[i - 1] * 1.25) + SLAB_CHUNK_ALIGN);
    }
    /* 32-byte key + 100-byte value: 167 bytes go to the 184-byte chunk. */
    assert_int_equal(sc.size[slab_class_for(&sc, HDR + 32 + 100)], 184);
}

static void
test_classes_options(void **state)
{
    (void)state;
    struct slab_classes sc;
    /* -n 100 -f 2: 136, 272, ..., 8704, then 16384. */
    assert_int_equal(slab_classes_init(&sc, HDR, 100, 2.0), 0);
    check_table(&sc);
    assert_int_equal(sc.count, 8);
    assert_int_equal(sc.size[0], 136);
    assert_int_equal(sc.size[1], 272);
    assert_int_equal(sc.size[6], 8704);
    /* A factor barely above 1 still progresses, capped at the class limit. */
    assert_int_equal(slab_classes_init(&sc, HDR, 48, 1.0001), 0);
    check_table(&sc);
    assert_int_equal(sc.count, SLAB_CLASSES_MAX);
    assert_int_equal(sc.size[1], sc.size[0] + SLAB_CHUNK_ALIGN);
    /* One huge first class. */
    assert_int_equal(slab_classes_init(&sc, HDR, SLAB_CHUNK_MAX - HDR, 1.25), 0);
    assert_int_equal(sc.count, 1);
    check_table(&sc);
}

static void
test_classes_invalid(void **state)
{
    (void)state;
    struct slab_classes sc;
    assert_int_equal(slab_classes_init(&sc, HDR, 48, 1.0), -EINVAL);
    assert_int_equal(slab_classes_init(&sc, HDR, 48, 0.5), -EINVAL);
    assert_int_equal(slab_classes_init(&sc, HDR, 48, NAN), -EINVAL);
    assert_int_equal(slab_classes_init(&sc, HDR, 48, INFINITY), -EINVAL);
    assert_int_equal(slab_classes_init(&sc, HDR, SLAB_CHUNK_MAX, 1.25), -EINVAL);
    assert_int_equal(slab_classes_init(&sc, HDR, UINT32_MAX, 1.25), -EINVAL);
}

static void
test_page_budget(void **state)
{
    (void)state;
    struct slab_pool *p = NULL;
    assert_int_equal(slab_pool_create(&p, 0), -EINVAL);
    assert_int_equal(slab_pool_create(&p, 4 * SLAB_PAGE_SIZE + 100), 0);
    void *pages[5];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(slab_page_borrow(p, &pages[i]), 0);
        assert_int_equal((uintptr_t)pages[i] % SLAB_PAGE_SIZE, 0);
        /* The page is ours to write. */
        ((char *)pages[i])[0] = 1;
        ((char *)pages[i])[SLAB_PAGE_SIZE - 1] = 1;
    }
    assert_int_equal(slab_used(p), 4 * SLAB_PAGE_SIZE);
    assert_int_equal(slab_pages(p), 4);
    assert_int_equal(slab_room(p), 100);
    assert_int_equal(slab_page_borrow(p, &pages[4]), -ENOSPC);
    slab_page_return(p, pages[3]);
    assert_int_equal(slab_page_borrow(p, &pages[3]), 0);
    for (int i = 0; i < 4; i++) {
        slab_page_return(p, pages[i]);
    }
    assert_int_equal(slab_used(p), 0);
    assert_int_equal(slab_pages(p), 0);
    slab_pool_destroy(&p);
    assert_null(p);
}

static void
test_large(void **state)
{
    (void)state;
    struct slab_pool *p = NULL;
    assert_int_equal(slab_pool_create(&p, 256 * 1024), 0);
    void *a, *b, *page;
    assert_int_equal(slab_large_alloc(p, 0, &a), -EINVAL);
    assert_int_equal(slab_large_alloc(p, 100000, &a), 0);
    assert_true(slab_used(p) >= 100000);
    assert_int_equal(slab_used(p), slab_large_charged(a));
    assert_int_equal(slab_large_alloc(p, 200000, &b), -ENOSPC);
    /* Pages and large allocations share one budget. */
    assert_int_equal(slab_page_borrow(p, &page), 0);
    assert_int_equal(slab_large_alloc(p, 100000, &b), -ENOSPC);
    slab_page_return(p, page);
    assert_int_equal(slab_large_alloc(p, 100000, &b), 0);
    assert_true(slab_used(p) <= slab_limit(p) + 2 * 16384); /* allocator rounding only */
    slab_large_free(p, a);
    slab_large_free(p, b);
    assert_int_equal(slab_used(p), 0);
    slab_pool_destroy(&p);
}

/* Memory freed into a credit stays charged: another borrower finds no
 * room, the credit's holder gets it back, and what is left is released. */
static void
test_credit(void **state)
{
    (void)state;
    struct slab_pool *p = NULL;
    assert_int_equal(slab_pool_create(&p, 4 * SLAB_PAGE_SIZE), 0);
    void *pages[4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(slab_page_borrow(p, &pages[i]), 0);
    }
    uint64_t credit = 0;
    slab_page_return_credit(p, &credit, pages[0]);
    slab_page_return_credit(p, &credit, pages[1]);
    assert_int_equal(credit, 2 * SLAB_PAGE_SIZE);
    assert_int_equal(slab_pages(p), 2);
    assert_int_equal(slab_used(p), 4 * SLAB_PAGE_SIZE); /* still charged */
    void *other;
    assert_int_equal(slab_page_borrow(p, &other), -ENOSPC); /* not for others */
    /* The holder: a page from the credit, then a large item from the rest. */
    assert_int_equal(slab_page_borrow_credit(p, &credit, &pages[0]), 0);
    assert_int_equal(credit, SLAB_PAGE_SIZE);
    void *big;
    assert_int_equal(slab_large_alloc_credit(p, &credit, 2 * SLAB_PAGE_SIZE, &big), -ENOSPC);
    assert_int_equal(credit, SLAB_PAGE_SIZE); /* a failure takes nothing */
    assert_int_equal(slab_large_alloc_credit(p, &credit, 40000, &big), 0);
    uint64_t charged = slab_large_charged(big);
    assert_true(charged >= 40000);
    /* the large item took its usable size out of the credit (none from
     * the budget), the rest is still held for us */
    assert_int_equal(credit, SLAB_PAGE_SIZE - charged);
    assert_int_equal(slab_used(p), 4 * SLAB_PAGE_SIZE);
    slab_credit_release(p, &credit);
    assert_int_equal(credit, 0);
    assert_int_equal(slab_used(p), 3 * SLAB_PAGE_SIZE + charged);
    /* A large free into a credit, then released: the budget is whole. */
    slab_large_free_credit(p, &credit, big);
    assert_int_equal(credit, charged);
    assert_int_equal(slab_used(p), 3 * SLAB_PAGE_SIZE + charged);
    slab_credit_release(p, &credit);
    slab_page_return(p, pages[0]);
    slab_page_return(p, pages[2]);
    slab_page_return(p, pages[3]);
    assert_int_equal(slab_used(p), 0);
    assert_int_equal(slab_pages(p), 0);
    slab_pool_destroy(&p);
}

static void
test_limit_change(void **state)
{
    (void)state;
    struct slab_pool *p = NULL;
    assert_int_equal(slab_pool_create(&p, 4 * SLAB_PAGE_SIZE), 0);
    void *pages[8];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(slab_page_borrow(p, &pages[i]), 0);
    }
    assert_int_equal(slab_set_limit(p, 0), -EINVAL);
    assert_int_equal(slab_set_limit(p, 2 * SLAB_PAGE_SIZE), 0);
    assert_int_equal(slab_limit(p), 2 * SLAB_PAGE_SIZE);
    assert_int_equal(slab_room(p), 0);
    assert_int_equal(slab_page_borrow(p, &pages[4]), -ENOSPC);
    slab_page_return(p, pages[3]);
    slab_page_return(p, pages[2]);
    assert_int_equal(slab_page_borrow(p, &pages[2]), -ENOSPC); /* at the limit */
    assert_int_equal(slab_set_limit(p, 8 * SLAB_PAGE_SIZE), 0);
    for (int i = 2; i < 8; i++) {
        assert_int_equal(slab_page_borrow(p, &pages[i]), 0);
    }
    void *extra;
    assert_int_equal(slab_page_borrow(p, &extra), -ENOSPC);
    for (int i = 0; i < 8; i++) {
        slab_page_return(p, pages[i]);
    }
    slab_pool_destroy(&p);
}

/* Concurrent borrowers never push the total past the limit. */
struct race {
    struct slab_pool *p;
    _Atomic uint64_t max_used;
};

static void *
race_main(void *arg)
{
    struct race *r = arg;
    void *held[8];
    for (int round = 0; round < 2000; round++) {
        int n = 0;
        while (n < 8 && slab_page_borrow(r->p, &held[n]) == 0) {
            n++;
        }
        uint64_t used = slab_used(r->p);
        uint64_t seen = atomic_load(&r->max_used);
        while (used > seen && !atomic_compare_exchange_weak(&r->max_used, &seen, used)) {
        }
        while (n > 0) {
            slab_page_return(r->p, held[--n]);
        }
    }
    return NULL;
}

static void
test_concurrent_budget(void **state)
{
    (void)state;
    struct race r = {0};
    assert_int_equal(slab_pool_create(&r.p, 10 * SLAB_PAGE_SIZE), 0);
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, race_main, &r), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
    }
    assert_true(atomic_load(&r.max_used) <= 10 * SLAB_PAGE_SIZE);
    assert_int_equal(slab_used(r.p), 0);
    slab_pool_destroy(&r.p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classes_default), cmocka_unit_test(test_classes_options),
        cmocka_unit_test(test_classes_invalid), cmocka_unit_test(test_page_budget),
        cmocka_unit_test(test_large),           cmocka_unit_test(test_credit),
        cmocka_unit_test(test_limit_change),    cmocka_unit_test(test_concurrent_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
