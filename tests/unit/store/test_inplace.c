/*
 * Unit tests for values stored in place (store_reserve, store_commit,
 * store_abandon): the item is taken before its value has arrived, and
 * neither eviction nor compaction may touch it until it is linked or
 * dropped, however much the store churns meanwhile.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "store_helpers.h"
#include "store/store_int.h"

static void
fill_pattern(char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (char)('a' + (i * 7 + seed) % 26);
    }
}

struct check {
    unsigned seed;
    uint32_t nbytes;
    bool same;
};

static void
check_pattern(void *ctx, const struct store_item_view *v)
{
    struct check *c = ctx;
    c->same = v->nbytes == c->nbytes;
    for (uint32_t i = 0; c->same && i < v->nbytes; i++) {
        c->same = v->value[i] == (char)('a' + (i * 7 + c->seed) % 26);
    }
}

static bool
has_pattern(struct store *s, const char *key, uint32_t nbytes, unsigned seed)
{
    struct store_key k;
    store_key_init(&k, key, strlen(key));
    struct check c = {.seed = seed, .nbytes = nbytes};
    return store_get(s, &k, NULL, check_pattern, &c, NULL) == STORE_OK && c.same;
}

/* Segments kept from eviction for values still arriving (store/seg.h). */
static unsigned
reserved_segments(struct store *s)
{
    unsigned n = 0;
    for (uint32_t i = 0; i < s->segs.nsegs; i++) {
        n += atomic_load(&s->segs.seg[i].reserved) != 0;
    }
    return n;
}

static enum store_rc
reserve(struct store *s, enum store_mode mode, const char *key, uint32_t nbytes, uint64_t cas,
        struct store_pending *p)
{
    struct store_key k;
    store_key_init(&k, key, strlen(key));
    struct store_set_req r = {.mode = mode, .nbytes = nbytes, .flags = 7, .cas = cas};
    return store_reserve(s, &k, &r, p);
}

static enum store_rc
commit(struct store *s, enum store_mode mode, const char *key, uint32_t nbytes, uint64_t cas,
       struct store_pending *p, uint64_t *cas_out)
{
    struct store_key k;
    store_key_init(&k, key, strlen(key));
    struct store_set_req r = {.mode = mode, .nbytes = nbytes, .flags = 7, .cas = cas};
    return store_commit(s, &k, &r, p, cas_out);
}

/* Many sets of other keys: enough to cycle the whole store several times. */
static void
churn(struct store *s, int rounds, uint32_t size)
{
    char *val = malloc(size);
    assert_non_null(val);
    memset(val, 'x', size);
    char key[32];
    for (int i = 0; i < rounds; i++) {
        snprintf(key, sizeof(key), "churn:%d", i);
        assert_int_equal(kv_set_mode(s, STORE_MODE_SET, key, val, size, 0, 0, 0, NULL), STORE_OK);
    }
    free(val);
}

static void
test_commit_modes(void **state)
{
    (void)state;
    struct store_config cfg = test_config(8 << 20, 0);
    struct store *s = test_store(&cfg);
    struct store_pending p;
    uint64_t cas = 0;
    enum { N = 40000 };
    /* set: readable once committed, not before */
    assert_int_equal(reserve(s, STORE_MODE_SET, "k", N, 0, &p), STORE_OK);
    assert_false(kv_exists(s, "k"));
    fill_pattern(p.value, N, 1);
    assert_int_equal(commit(s, STORE_MODE_SET, "k", N, 0, &p, &cas), STORE_OK);
    assert_true(cas != 0);
    assert_true(has_pattern(s, "k", N, 1));
    assert_int_equal(kv_stats(s).curr_items, 1);
    /* add over it: refused, the old value stays */
    assert_int_equal(reserve(s, STORE_MODE_ADD, "k", N, 0, &p), STORE_OK);
    fill_pattern(p.value, N, 2);
    assert_int_equal(commit(s, STORE_MODE_ADD, "k", N, 0, &p, NULL), STORE_NOT_STORED);
    assert_true(has_pattern(s, "k", N, 1));
    /* cas: a stale one is refused, the current one stores */
    assert_int_equal(reserve(s, STORE_MODE_CAS, "k", N, cas + 1, &p), STORE_OK);
    assert_int_equal(commit(s, STORE_MODE_CAS, "k", N, cas + 1, &p, NULL), STORE_EXISTS);
    assert_int_equal(reserve(s, STORE_MODE_CAS, "k", N, cas, &p), STORE_OK);
    fill_pattern(p.value, N, 3);
    assert_int_equal(commit(s, STORE_MODE_CAS, "k", N, cas, &p, NULL), STORE_OK);
    assert_true(has_pattern(s, "k", N, 3));
    /* replace of a missing key: refused */
    assert_int_equal(reserve(s, STORE_MODE_REPLACE, "nope", N, 0, &p), STORE_OK);
    assert_int_equal(commit(s, STORE_MODE_REPLACE, "nope", N, 0, &p, NULL), STORE_NOT_STORED);
    assert_false(kv_exists(s, "nope"));
    /* append and prepend need the old value: not in place */
    assert_int_equal(reserve(s, STORE_MODE_APPEND, "k", N, 0, &p), STORE_NOT_STORED);
    /* too large for the store at all */
    assert_int_equal(reserve(s, STORE_MODE_SET, "big", 2 << 20, 0, &p), STORE_TOO_LARGE);
    /* a set that was begun and dropped leaves nothing behind */
    assert_int_equal(reserve(s, STORE_MODE_SET, "gone", N, 0, &p), STORE_OK);
    store_abandon(s, &p);
    assert_false(kv_exists(s, "gone"));
    assert_int_equal(kv_stats(s).curr_items, 1);
    store_destroy(&s);
}

/* A flush between the reservation and the commit: the value was stored
 * after the flush, so it stays (as memcached's item linked after it). */
static void
test_commit_after_flush(void **state)
{
    (void)state;
    struct store_config cfg = test_config(8 << 20, 0);
    struct store *s = test_store(&cfg);
    struct store_pending p;
    assert_int_equal(reserve(s, STORE_MODE_SET, "k", 50000, 0, &p), STORE_OK);
    fill_pattern(p.value, 50000, 4);
    store_flush(s, 0);
    assert_int_equal(commit(s, STORE_MODE_SET, "k", 50000, 0, &p, NULL), STORE_OK);
    assert_true(has_pattern(s, "k", 50000, 4));
    store_destroy(&s);
}

/*
 * The store churns through several times its memory while values wait in
 * reserved items (one in a segment, one in a run larger than a segment):
 * neither is evicted, moved or overwritten, and the memory stays within
 * the limit. Written before, during and after the churn, each value must
 * read back whole.
 */
static void
test_reserved_survive_churn(void **state)
{
    (void)state;
    struct store_config cfg = test_config(4 << 20, 0); /* 256 KiB segments */
    struct store *s = test_store(&cfg);
    struct store_pending small, jumbo;
    enum { SMALL = 100000, JUMBO = 600000 };
    assert_int_equal(reserve(s, STORE_MODE_SET, "small", SMALL, 0, &small), STORE_OK);
    fill_pattern(small.value, SMALL / 2, 5);
    assert_int_equal(reserve(s, STORE_MODE_SET, "jumbo", JUMBO, 0, &jumbo), STORE_OK);
    fill_pattern(jumbo.value, JUMBO / 2, 6);
    assert_int_equal(reserved_segments(s), 2);
    uint64_t ev0 = kv_stats(s).evictions;
    churn(s, 20000, 1000); /* ~20 MB through a 4 MiB store */
    struct store_stats st = kv_stats(s);
    assert_true(st.evictions > ev0 + 10000);
    assert_true(st.total_malloced <= st.limit_maxbytes);
    /* the halves written before the churn are intact; write the rest */
    struct check c = {.seed = 5};
    for (uint32_t i = 0; i < SMALL / 2; i++) {
        assert_int_equal(small.value[i], (char)('a' + (i * 7 + c.seed) % 26));
    }
    char *tail = malloc(JUMBO);
    assert_non_null(tail);
    fill_pattern(tail, SMALL, 5);
    memcpy(small.value + SMALL / 2, tail + SMALL / 2, SMALL - SMALL / 2);
    fill_pattern(tail, JUMBO, 6);
    memcpy(jumbo.value + JUMBO / 2, tail + JUMBO / 2, JUMBO - JUMBO / 2);
    free(tail);
    assert_int_equal(commit(s, STORE_MODE_SET, "small", SMALL, 0, &small, NULL), STORE_OK);
    assert_int_equal(commit(s, STORE_MODE_SET, "jumbo", JUMBO, 0, &jumbo, NULL), STORE_OK);
    assert_true(has_pattern(s, "small", SMALL, 5));
    assert_true(has_pattern(s, "jumbo", JUMBO, 6));
    /* once linked they are ordinary items: no segment is held back */
    assert_int_equal(reserved_segments(s), 0);
    churn(s, 20000, 1000);
    st = kv_stats(s);
    assert_true(st.total_malloced <= st.limit_maxbytes);
    store_destroy(&s);
}

/* Dropped reservations give their memory back: reserving and abandoning
 * many times the store's size never runs it out of room. */
static void
test_abandon_frees(void **state)
{
    (void)state;
    struct store_config cfg = test_config(4 << 20, 0);
    struct store *s = test_store(&cfg);
    struct store_pending p;
    for (int i = 0; i < 400; i++) {
        assert_int_equal(reserve(s, STORE_MODE_SET, "k", 200000, 0, &p), STORE_OK);
        store_abandon(s, &p);
        if (i % 50 == 0) {
            churn(s, 200, 1000);
        }
    }
    struct store_stats st = kv_stats(s);
    assert_true(st.total_malloced <= st.limit_maxbytes);
    assert_int_equal(reserved_segments(s), 0);
    assert_false(kv_exists(s, "k"));
    char val[3000];
    memset(val, 'y', sizeof(val));
    for (int i = 0; i < 3000; i++) {
        char key[32];
        snprintf(key, sizeof(key), "after:%d", i);
        assert_int_equal(kv_set_mode(s, STORE_MODE_SET, key, val, sizeof(val), 0, 0, 0, NULL),
                         STORE_OK);
    }
    store_destroy(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commit_modes),
        cmocka_unit_test(test_commit_after_flush),
        cmocka_unit_test(test_reserved_survive_churn),
        cmocka_unit_test(test_abandon_frees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
