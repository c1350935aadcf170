/*
 * Unit tests for store/htable: insert, lookup, unlink, replace and growth
 * with many keys.
 */
#include <setjmp.h>
#include <stdarg.h>
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

int
main(void)
{
    hash_setup(42);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_many_keys_grow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
