/*
 * Unit tests for store/index: a shard's table of item refs. Lookups,
 * removal with the moved counts kept exact, growth, finding a ref,
 * walking in hash order across growth (SCAN's promise), and what it
 * costs per item.
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
#include "store/index.h"

#define SPACE (32u << 20)

/* Items live in one buffer, as in the arena: a ref is an offset / 8. */
static struct item_space sp;
static size_t used;

static uint32_t
make_item(const char *key)
{
    size_t nkey = strlen(key);
    struct item_fields f = {0};
    uint64_t span = item_span_of(&sp, item_size_of(item_layout_for(&f, 1), nkey, 1));
    assert_true(used + span <= SPACE);
    struct item *it = (struct item *)(sp.base + used);
    char *v = item_init(it, key, (uint8_t)nkey, 1, &f, 0);
    *v = 'v';
    uint32_t ref = item_ref(&sp, it);
    used += span;
    return ref;
}

static void
key_of(char *buf, size_t n, unsigned i)
{
    snprintf(buf, n, "key:%u", i);
}

static uint32_t
find(const struct index *ix, const char *key, struct index_pos *pos)
{
    struct index_pos sink;
    return index_find(ix, &sp, hash_bytes(key, strlen(key)), key, strlen(key), 0,
                      pos != NULL ? pos : &sink);
}

static uint32_t
insert(struct index *ix, unsigned i)
{
    char key[32];
    key_of(key, sizeof(key), i);
    uint32_t ref = make_item(key);
    assert_int_equal(index_insert(ix, &sp, hash_bytes(key, strlen(key)), ref), 0);
    return ref;
}

static void
remove_key(struct index *ix, unsigned i)
{
    char key[32];
    key_of(key, sizeof(key), i);
    struct index_pos pos;
    assert_true(find(ix, key, &pos) != 0);
    index_remove(ix, pos, hash_bytes(key, strlen(key)));
}

/* Every bucket's moved count is the number of keys homed at it that live
 * in a later bucket, and its reach covers the furthest (none saturates
 * in these tests). */
static void
check_moved(const struct index *ix)
{
    uint32_t *moved = calloc(ix->n ? ix->n : 1, sizeof(*moved));
    uint32_t *far = calloc(ix->n ? ix->n : 1, sizeof(*far));
    for (uint32_t b = 0; b < ix->n; b++) {
        for (unsigned s = 0; s < INDEX_SLOTS; s++) {
            uint32_t ref = ix->b[b].ref[s];
            assert_true((ref == 0) == (ix->b[b].tag[s] == 0));
            if (ref == 0) {
                continue;
            }
            uint64_t h = item_hash(item_at(&sp, ref));
            assert_int_equal(ix->b[b].tag[s], index_tag(h));
            uint32_t home = index_home(index_h32(h), ix->n);
            uint32_t d = b >= home ? b - home : b + ix->n - home;
            if (d > 0) {
                moved[home]++;
                far[home] = d > far[home] ? d : far[home];
            }
        }
    }
    for (uint32_t b = 0; b < ix->n; b++) {
        assert_int_equal(ix->b[b].moved, moved[b]);
        assert_true(ix->b[b].reach >= far[b]);
        assert_true(moved[b] != 0 || ix->b[b].reach == 0);
    }
    free(moved);
    free(far);
}

static int
setup(void **state)
{
    (void)state;
    hash_setup(42);
    sp.base = aligned_alloc(64, SPACE);
    sp.shift = 3;
    used = 8; /* ref 0 is never an item */
    return sp.base == NULL;
}

static int
teardown(void **state)
{
    (void)state;
    free(sp.base);
    return 0;
}

static void
test_insert_find_remove(void **state)
{
    (void)state;
    struct index ix;
    index_init(&ix);
    assert_int_equal(find(&ix, "absent", NULL), 0); /* an empty table has no buckets */
    uint32_t refs[200];
    for (unsigned i = 0; i < 200; i++) {
        refs[i] = insert(&ix, i);
    }
    assert_int_equal(ix.nitems, 200);
    for (unsigned i = 0; i < 200; i++) {
        char key[32];
        key_of(key, sizeof(key), i);
        struct index_pos pos;
        assert_int_equal(find(&ix, key, &pos), refs[i]);
        assert_int_equal(index_ref_at(&ix, pos), refs[i]);
        struct index_pos p2 = index_find_ref(&ix, hash_bytes(key, strlen(key)), refs[i]);
        assert_int_equal(p2.bucket, pos.bucket);
        assert_int_equal(p2.slot, pos.slot);
    }
    assert_int_equal(find(&ix, "key:200", NULL), 0);
    assert_int_equal(find(&ix, "key:1x", NULL), 0);
    check_moved(&ix);
    for (unsigned i = 0; i < 200; i += 2) {
        remove_key(&ix, i);
    }
    assert_int_equal(ix.nitems, 100);
    for (unsigned i = 0; i < 200; i++) {
        char key[32];
        key_of(key, sizeof(key), i);
        assert_int_equal(find(&ix, key, NULL) != 0, i % 2 == 1);
    }
    check_moved(&ix);
    /* Point a slot at another item of the same key. */
    struct index_pos pos;
    assert_true(find(&ix, "key:1", &pos) != 0);
    uint32_t again = make_item("key:1");
    index_set(&ix, pos, again);
    assert_int_equal(find(&ix, "key:1", NULL), again);
    index_fini(&ix);
}

/* A table kept small (the growth is what test_growth covers) so buckets
 * spill: lookups follow the spill and removals keep the counts exact. */
static void
test_overflow(void **state)
{
    (void)state;
    struct index ix;
    index_init(&ix);
    assert_int_equal(index_resize(&ix, &sp, 4), 0);
    unsigned n = 4 * INDEX_SLOTS * INDEX_LOAD_MAX / 256; /* up to the load */
    for (unsigned i = 0; i < n; i++) {
        insert(&ix, 1000 + i);
    }
    assert_int_equal(ix.n, 4);
    unsigned spilled = 0;
    for (uint32_t b = 0; b < ix.n; b++) {
        spilled += ix.b[b].moved;
    }
    assert_true(spilled > 0);
    check_moved(&ix);
    for (unsigned i = 0; i < n; i++) {
        char key[32];
        key_of(key, sizeof(key), 1000 + i);
        assert_true(find(&ix, key, NULL) != 0);
    }
    for (unsigned i = 0; i < n; i += 3) {
        remove_key(&ix, 1000 + i);
        check_moved(&ix);
    }
    for (unsigned i = 0; i < n; i++) {
        char key[32];
        key_of(key, sizeof(key), 1000 + i);
        assert_int_equal(find(&ix, key, NULL) != 0, i % 3 != 0);
    }
    index_fini(&ix);
}

static void
test_growth(void **state)
{
    (void)state;
    struct index ix;
    index_init(&ix);
    enum { N = 100000 };
    double min_load = 1.0;
    uint32_t last_n = 0;
    for (unsigned i = 0; i < N; i++) {
        insert(&ix, 5000000 + i);
        double load = (double)ix.nitems / ((double)ix.n * INDEX_SLOTS);
        assert_true(load <= INDEX_LOAD_MAX / 256.0 + 1e-9);
        if (ix.n != last_n && ix.n > 64) {
            /* Just grown: by a fifth, so never far below the maximum. */
            min_load = load < min_load ? load : min_load;
        }
        last_n = ix.n;
    }
    print_message("index: %u items in %u buckets, %.2f bytes an item, lowest load after growth "
                  "%.2f\n",
                  ix.nitems, ix.n, (double)index_bytes(&ix) / ix.nitems, min_load);
    assert_true(min_load > 0.68); /* less where the allocator gave more */
    assert_true((double)index_bytes(&ix) / ix.nitems < 9.0);
    for (unsigned i = 0; i < N; i++) {
        char key[32];
        key_of(key, sizeof(key), 5000000 + i);
        assert_true(find(&ix, key, NULL) != 0);
    }
    check_moved(&ix);
    index_fini(&ix);
}

struct seen {
    unsigned count[4000];
    unsigned total;
};

static void
on_ref(void *ctx, uint32_t ref, uint64_t hash)
{
    struct seen *sn = ctx;
    struct item *it = item_at(&sp, ref);
    assert_int_equal(hash, item_hash(it));
    char key[32];
    memcpy(key, item_key(it), it->nkey);
    key[it->nkey] = '\0';
    unsigned i = (unsigned)strtoul(key + 4, NULL, 10);
    assert_true(i < 4000);
    sn->count[i]++;
    sn->total++;
}

/* A walk in hash order sees each key present throughout exactly once,
 * though the table grows (and is rebuilt) between its steps. */
static void
test_walk_across_growth(void **state)
{
    (void)state;
    struct index ix;
    index_init(&ix);
    for (unsigned i = 0; i < 1000; i++) {
        insert(&ix, i);
    }
    static struct seen sn;
    memset(&sn, 0, sizeof(sn));
    uint64_t cursor = 0;
    unsigned steps = 0, added = 1000;
    while (cursor < ((uint64_t)1 << 32)) {
        uint64_t before = cursor;
        index_walk(&ix, &sp, &cursor, 3, on_ref, &sn);
        assert_true(cursor > before);
        steps++;
        if (steps % 5 == 0 && added < 4000) {
            for (unsigned j = 0; j < 300 && added < 4000; j++) {
                insert(&ix, added++); /* grows the table now and then */
            }
        }
    }
    for (unsigned i = 0; i < 1000; i++) {
        assert_int_equal(sn.count[i], 1);
    }
    for (unsigned i = 1000; i < added; i++) {
        assert_true(sn.count[i] <= 1);
    }
    /* A walk from the end, or of an empty table, ends at once. */
    cursor = (uint64_t)1 << 32;
    assert_int_equal(index_walk(&ix, &sp, &cursor, 10, on_ref, &sn), 0);
    index_fini(&ix);
    cursor = 0;
    assert_int_equal(index_walk(&ix, &sp, &cursor, 10, on_ref, &sn), 0);
    assert_int_equal(cursor, (uint64_t)1 << 32);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insert_find_remove),
        cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_walk_across_growth),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
