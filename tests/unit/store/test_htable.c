/*
 * Unit tests for store/htable: insert, lookup, unlink, replace, growth
 * with many keys, and the incremental move of a grow.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stashd/util/hash.h"
#include "store/htable.h"
#include "store/item.h"

#define NKEYS 100000

static struct item *
make_item(const char *key)
{
    size_t n = strlen(key);
    struct item *it = calloc(1, sizeof(struct item) + n);
    assert_non_null(it);
    it->nkey = (uint8_t)n;
    memcpy(it->data, key, n);
    return it;
}

static struct item *
lookup(struct htable *ht, const char *key)
{
    size_t n = strlen(key);
    return *htable_slot(ht, hash_bytes(key, n), key, n);
}

static void
test_basic(void **state)
{
    (void)state;
    struct htable ht;
    assert_int_equal(htable_init(&ht, 0), 0);
    assert_int_equal(htable_buckets(&ht), 1u << HTABLE_POWER_MIN);
    struct item *a = make_item("alpha");
    struct item *b = make_item("beta");
    assert_null(lookup(&ht, "alpha"));
    htable_insert(&ht, item_hash(a), a);
    htable_insert(&ht, item_hash(b), b);
    assert_ptr_equal(lookup(&ht, "alpha"), a);
    assert_ptr_equal(lookup(&ht, "beta"), b);
    assert_null(lookup(&ht, "alph"));
    assert_null(lookup(&ht, "alphaa"));
    struct item *a2 = make_item("alpha");
    htable_replace(&ht, item_hash(a), a, a2);
    assert_ptr_equal(lookup(&ht, "alpha"), a2);
    assert_int_equal(ht.nitems, 2);
    htable_unlink(&ht, item_hash(a2), a2);
    assert_null(lookup(&ht, "alpha"));
    assert_ptr_equal(lookup(&ht, "beta"), b);
    htable_unlink(&ht, item_hash(b), b);
    assert_int_equal(ht.nitems, 0);
    free(a);
    free(a2);
    free(b);
    htable_fini(&ht);
}

/* All keys land in 16 buckets first, forcing long chains and collisions
 * within buckets, then growth spreads them. */
static void
test_many_keys_grow(void **state)
{
    (void)state;
    struct htable ht;
    assert_int_equal(htable_init(&ht, HTABLE_POWER_MIN), 0);
    struct item **items = calloc(NKEYS, sizeof(*items));
    char key[32];
    for (int i = 0; i < NKEYS; i++) {
        snprintf(key, sizeof(key), "key:%d", i);
        items[i] = make_item(key);
        htable_insert(&ht, item_hash(items[i]), items[i]);
        /* Load never exceeds 1.5 per bucket. */
        assert_true(ht.nitems * 2 <= htable_buckets(&ht) * 3);
    }
    assert_int_equal(ht.nitems, NKEYS);
    assert_true(htable_buckets(&ht) >= NKEYS * 2 / 3);
    assert_true(htable_buckets(&ht) <= NKEYS * 2);
    for (int i = 0; i < NKEYS; i++) {
        snprintf(key, sizeof(key), "key:%d", i);
        assert_ptr_equal(lookup(&ht, key), items[i]);
    }
    /* Delete the even ones. */
    for (int i = 0; i < NKEYS; i += 2) {
        htable_unlink(&ht, item_hash(items[i]), items[i]);
    }
    assert_int_equal(ht.nitems, NKEYS / 2);
    for (int i = 0; i < NKEYS; i++) {
        snprintf(key, sizeof(key), "key:%d", i);
        struct item *it = lookup(&ht, key);
        if (i % 2 == 0) {
            assert_null(it);
        } else {
            assert_ptr_equal(it, items[i]);
        }
    }
    /* Walk every bucket: exactly the odd items, each once. */
    uint64_t seen = 0;
    for (uint64_t b = 0; b < htable_buckets(&ht); b++) {
        for (struct item *it = *htable_bucket_head(&ht, b); it != NULL; it = it->next) {
            assert_int_equal(item_hash(it) & ht.mask, b);
            seen++;
        }
    }
    assert_int_equal(seen, NKEYS / 2);
    for (int i = 0; i < NKEYS; i++) {
        free(items[i]);
    }
    free(items);
    htable_fini(&ht);
}

/* Every item of items[0..n) with live[i] is found, and nothing else. */
static void
check_all(struct htable *ht, struct item **items, const bool *live, int n)
{
    char key[32];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "key:%d", i);
        struct item *it = lookup(ht, key);
        if (live[i]) {
            assert_ptr_equal(it, items[i]);
        } else {
            assert_null(it);
        }
    }
}

/*
 * A grow moves the old array a few buckets per insert: during the move
 * every item stays findable, unlink and replace work on items in either
 * array, a walk over htable_bucket_head sees each item once in its right
 * bucket, and the old array is freed once the move is done.
 */
static void
test_grow_is_incremental(void **state)
{
    (void)state;
    enum { MAX = 60000 };
    struct htable ht;
    assert_int_equal(htable_init(&ht, 10), 0);
    int N = MAX;
    static struct item *items[MAX];
    static bool live[MAX];
    char key[32];
    unsigned grows = 0, inserts_while_moving = 0, checks = 0;
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "key:%d", i);
        items[i] = make_item(key);
        bool was_moving = ht.old != NULL;
        unsigned power = ht.power;
        htable_insert(&ht, item_hash(items[i]), items[i]);
        live[i] = true;
        grows += ht.power != power;
        if (ht.power != power) {
            /* a grow starts with nothing moved: the old array holds all */
            assert_non_null(ht.old);
            assert_int_equal(ht.moved, 0);
            assert_int_equal(ht.old_mask + 1, (ht.mask + 1) / 2);
        }
        inserts_while_moving += was_moving;
        if (was_moving && i % 7 == 0) {
            /* unlink one item and replace another, wherever they are */
            int u = i / 2, r = i / 3;
            if (live[u]) {
                htable_unlink(&ht, item_hash(items[u]), items[u]);
                live[u] = false;
            }
            if (live[r]) {
                snprintf(key, sizeof(key), "key:%d", r);
                struct item *fresh = make_item(key);
                htable_replace(&ht, item_hash(items[r]), items[r], fresh);
                free(items[r]);
                items[r] = fresh;
            }
            check_all(&ht, items, live, i + 1);
            checks++;
        }
        /* Stop part way through a move, to walk it below. */
        if (grows >= 4 && ht.old != NULL && ht.moved > 100) {
            N = i + 1;
            break;
        }
    }
    assert_non_null(ht.old);
    assert_true(grows >= 4);
    assert_true(checks > 10);
    assert_true(inserts_while_moving > 0);
    uint64_t nlive = 0;
    for (int i = 0; i < N; i++) {
        nlive += live[i];
    }
    assert_int_equal(ht.nitems, nlive);
    /* Walk while a move may still be in progress: each item once. */
    uint64_t seen = 0;
    for (uint64_t b = 0; b < htable_buckets(&ht); b++) {
        for (struct item *it = *htable_bucket_head(&ht, b); it != NULL; it = it->next) {
            assert_int_equal(item_hash(it) & ht.mask, b);
            seen++;
        }
    }
    assert_int_equal(seen, nlive);
    /* The walk emptied every old bucket; the move's cursor runs on. */
    while (htable_migrate(&ht, 64)) {
    }
    assert_null(ht.old);
    check_all(&ht, items, live, N);
    for (int i = 0; i < N; i++) {
        free(items[i]);
    }
    htable_fini(&ht);
}

/* Maintenance's htable_migrate finishes a move without inserts, and a
 * move interrupted by deletes leaves no item behind. */
static void
test_migrate_finishes_move(void **state)
{
    (void)state;
    enum { N = 4000 };
    struct htable ht;
    assert_int_equal(htable_init(&ht, HTABLE_POWER_MIN), 0);
    static struct item *items[N];
    static bool live[N];
    char key[32];
    int n = 0;
    /* Insert until a grow has just started. */
    for (; n < N; n++) {
        snprintf(key, sizeof(key), "key:%d", n);
        items[n] = make_item(key);
        unsigned power = ht.power;
        htable_insert(&ht, item_hash(items[n]), items[n]);
        live[n] = true;
        if (ht.power != power && ht.power > 8) {
            n++;
            break;
        }
    }
    assert_non_null(ht.old);
    for (int i = 0; i < n; i += 3) {
        htable_unlink(&ht, item_hash(items[i]), items[i]);
        live[i] = false;
    }
    check_all(&ht, items, live, n);
    uint64_t steps = 0;
    while (htable_migrate(&ht, 5)) {
        steps++;
    }
    assert_true(steps > 0);
    assert_null(ht.old);
    check_all(&ht, items, live, n);
    for (int i = 0; i < n; i++) {
        free(items[i]);
    }
    htable_fini(&ht);
}

int
main(void)
{
    hash_setup(42);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_many_keys_grow),
        cmocka_unit_test(test_grow_is_incremental),
        cmocka_unit_test(test_migrate_finishes_move),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
