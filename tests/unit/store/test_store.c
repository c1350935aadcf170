/*
 * Unit tests for the store facade: set modes, cas, append/prepend,
 * incr/decr, touch, delete, size limits, -M and the statistics.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "store_helpers.h"

static struct got g; /* big: keep it off the stack */

static void
test_create_invalid(void **state)
{
    (void)state;
    clock_setup();
    struct store *s = NULL;
    struct store_config cfg = test_config(8 << 20, 3); /* not a power of two */
    assert_int_equal(store_create(&s, &cfg), -EINVAL);
    cfg = test_config(1000, 0); /* under one page */
    assert_int_equal(store_create(&s, &cfg), -EINVAL);
    cfg = test_config(8 << 20, 0);
    cfg.growth_factor = 1.0;
    assert_int_equal(store_create(&s, &cfg), -EINVAL);
    cfg = test_config(8 << 20, 0);
    cfg.slab_min_size = 1 << 20;
    assert_int_equal(store_create(&s, &cfg), -EINVAL);
    assert_null(s);
}

static void
test_shard_count(void **state)
{
    (void)state;
    /* At least 4096 shards whatever the memory and threads (contention
     * is what shards are for; memory is not theirs)... */
    struct store_config cfg = test_config(4ull << 20, 0);
    struct store *s = test_store(&cfg);
    assert_int_equal(kv_stats(s).shards, 4096);
    store_destroy(&s);
    cfg = test_config(1ull << 30, 0);
    cfg.threads = 64;
    s = test_store(&cfg);
    assert_int_equal(kv_stats(s).shards, 4096);
    store_destroy(&s);
    /* ... one per 256 KiB past 1 GiB, so each index stays small ... */
    cfg = test_config(2ull << 30, 0);
    s = test_store(&cfg);
    assert_int_equal(kv_stats(s).shards, 8192);
    store_destroy(&s);
    /* ... or as many as asked for (a power of two). */
    cfg = test_config(64ull << 20, 8);
    s = test_store(&cfg);
    assert_int_equal(kv_stats(s).shards, 8);
    store_destroy(&s);
    assert_null(s);
}

static void
test_set_get_delete(void **state)
{
    (void)state;
    struct store_config cfg = test_config(8 << 20, 4);
    struct store *s = test_store(&cfg);
    enum store_miss miss;
    assert_int_equal(kv_get(s, "k", &g, &miss), STORE_NOT_FOUND);
    assert_int_equal(miss, STORE_MISS_ABSENT);
    uint64_t cas = 0;
    assert_int_equal(kv_set_mode(s, STORE_MODE_SET, "k", "hello", 5, 42, 0, 0, &cas), STORE_OK);
    assert_true(cas != 0);
    assert_int_equal(kv_get(s, "k", &g, &miss), STORE_OK);
    assert_int_equal(miss, STORE_MISS_NONE);
    assert_int_equal(g.nbytes, 5);
    assert_memory_equal(g.value, "hello", 5);
    assert_int_equal(g.flags, 42);
    assert_int_equal(g.cas, cas);
    assert_int_equal(g.exptime, 0);
    assert_false(g.fetched);
    assert_int_equal(kv_get(s, "k", &g, NULL), STORE_OK);
    assert_true(g.fetched);
    /* Empty values are values. */
    assert_int_equal(kv_set_mode(s, STORE_MODE_SET, "e", NULL, 0, 0, 0, 0, NULL), STORE_OK);
    assert_int_equal(kv_get(s, "e", &g, NULL), STORE_OK);
    assert_int_equal(g.nbytes, 0);
    /* Replace the value; the old chunk is reused. */
    assert_int_equal(kv_set(s, "k", "world!"), STORE_OK);
    assert_string_equal(kv_str(s, "k", &g), "world!");
    assert_int_equal(kv_stats(s).curr_items, 2);
    assert_int_equal(kv_delete(s, "k", 0), STORE_OK);
    assert_int_equal(kv_delete(s, "k", 0), STORE_NOT_FOUND);
    assert_int_equal(kv_get(s, "k", &g, &miss), STORE_NOT_FOUND);
    assert_int_equal(miss, STORE_MISS_ABSENT);
    struct store_stats st = kv_stats(s);
    assert_int_equal(st.curr_items, 1);
    assert_int_equal(st.total_items, 3);
    assert_int_equal(st.bytes, 12 + 1 + 0); /* header, key "e", empty value */
    store_destroy(&s);
}

/* A reader that skips fields (store_get_opts.skip) gets them as 0 and
 * everything else as a full read; the read itself still counts (the item
 * becomes fetched). */
static void
test_get_skips_fields(void **state)
{
    (void)state;
    struct store_config cfg = test_config(8 << 20, 4);
    struct store *s = test_store(&cfg);
    uint64_t cas = 0;
    uint32_t exp = clock_exptime_to_rel(1000);
    assert_int_equal(kv_set_mode(s, STORE_MODE_SET, "k", "hello", 5, 7, exp, 0, &cas), STORE_OK);
    struct store_key k;
    store_key_init(&k, "k", 1);
    const struct store_get_opts both = {.skip = STORE_VIEW_SKIP_CAS | STORE_VIEW_SKIP_META};
    g.fetched = true;
    g.atime = g.exptime = 1;
    assert_int_equal(store_get(s, &k, &both, got_copy, &g, NULL), STORE_OK);
    assert_int_equal(g.nbytes, 5);
    assert_memory_equal(g.value, "hello", 5);
    assert_int_equal(g.flags, 7);
    assert_int_equal(g.cas, 0);
    assert_int_equal(g.exptime, 0);
    assert_int_equal(g.atime, 0);
    assert_false(g.fetched);
    const struct store_get_opts meta = {.skip = STORE_VIEW_SKIP_META};
    assert_int_equal(store_get(s, &k, &meta, got_copy, &g, NULL), STORE_OK);
    assert_int_equal(g.cas, cas);
    assert_int_equal(g.exptime, 0);
    /* a full read after them: the skipped reads marked it fetched */
    assert_int_equal(kv_get(s, "k", &g, NULL), STORE_OK);
    assert_int_equal(g.cas, cas);
    assert_int_equal(g.exptime, exp);
    assert_true(g.fetched);
    store_destroy(&s);
}

/* The look-ahead of a pipelined batch is only a hint: it reads nothing
 * as a client would (no hit, no fetched or accessed bit), changes nothing,
 * takes no segment lock, and passes over a shard someone holds. */
#define STORE_TEST_PREFETCH 16

static void
test_prefetch_is_a_hint(void **state)
{
    (void)state;
    struct store_config cfg = test_config(8 << 20, 4);
    struct store *s = test_store(&cfg);
    uint64_t h[STORE_TEST_PREFETCH];
    for (size_t i = 0; i < STORE_TEST_PREFETCH; i++) {
        h[i] = hash_bytes(&i, sizeof(i));
    }
    store_prefetch_many(s, h, STORE_TEST_PREFETCH); /* empty indexes */
    store_prefetch_many(s, h, 0);
    char key[32];
    for (unsigned i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "key:%u", i);
        assert_int_equal(kv_set(s, key, key), STORE_OK);
    }
    struct store_stats before = kv_stats(s);
    uint64_t seglocks = store_debug_segment_locks(s);
    for (unsigned i = 0; i < 2000; i += STORE_TEST_PREFETCH / 2) {
        for (unsigned j = 0; j < STORE_TEST_PREFETCH / 2; j++) {
            snprintf(key, sizeof(key), "key:%u", i + j);
            h[2 * j] = hash_bytes(key, strlen(key));
            snprintf(key, sizeof(key), "absent:%u", i + j);
            h[2 * j + 1] = hash_bytes(key, strlen(key));
        }
        store_prefetch_many(s, h, STORE_TEST_PREFETCH);
    }
    struct store_stats after = kv_stats(s);
    assert_int_equal(after.curr_items, before.curr_items);
    assert_int_equal(after.total_items, before.total_items);
    assert_int_equal(after.bytes, before.bytes);
    assert_int_equal(store_debug_segment_locks(s), seglocks);
    for (unsigned i = 0; i < 2000; i += 97) {
        snprintf(key, sizeof(key), "key:%u", i);
        assert_string_equal(kv_str(s, key, &g), key);
        assert_false(g.fetched); /* the first real read */
    }
    store_destroy(&s);
}

static void
test_modes(void **state)
{
    (void)state;
    struct store_config cfg = test_config(8 << 20, 4);
    struct store *s = test_store(&cfg);
    assert_int_equal(kv_set_mode(s, STORE_MODE_REPLACE, "m", "r", 1, 0, 0, 0, NULL),
                     STORE_NOT_STORED);
    assert_int_equal(kv_set_mode(s, STORE_MODE_APPEND, "m", "a", 1, 0, 0, 0, NULL),
                     STORE_NOT_STORED);
    assert_int_equal(kv_set_mode(s, STORE_MODE_PREPEND, "m", "p", 1, 0, 0, 0, NULL),
                     STORE_NOT_STORED);
    assert_false(kv_exists(s, "m"));
    assert_int_equal(kv_set_mode(s, STORE_MODE_ADD, "m", "1", 1, 7, 0, 0, NULL), STORE_OK);
    assert_int_equal(kv_set_mode(s, STORE_MODE_ADD, "m", "2", 1, 0, 0, 0, NULL), STORE_NOT_STORED);
    assert_string_equal(kv_str(s, "m", &g), "1");
    assert_int_equal(kv_set_mode(s, STORE_MODE_REPLACE, "m", "3", 1, 9, 0, 0, NULL), STORE_OK);
    assert_string_equal(kv_str(s, "m", &g), "3");
    assert_int_equal(g.flags, 9);
    /* An expired item is absent for add. */
    assert_int_equal(kv_set_exp(s, "x", "old", CLOCK_EXPIRED), STORE_OK);
    assert_int_equal(kv_set_mode(s, STORE_MODE_ADD, "x", "new", 3, 0, 0, 0, NULL), STORE_OK);
    assert_string_equal(kv_str(s, "x", &g), "new");
    store_destroy(&s);
}

static void
test_append_prepend(void **state)
{
    (void)state;
    struct store_config cfg = test_config(8 << 20, 4);
    struct store *s = test_store(&cfg);
    uint32_t exp = clock_now() + 1000;
    uint64_t cas1, cas2;
    assert_int_equal(kv_set_mode(s, STORE_MODE_SET, "ap", "mid", 3, 77, exp, 0, &cas1), STORE_OK);
    assert_int_equal(kv_set_mode(s, STORE_MODE_APPEND, "ap", "-end", 4, 1, 5, 0, &cas2), STORE_OK);
    assert_true(cas2 != cas1);
    assert_int_equal(kv_set_mode(s, STORE_MODE_PREPEND, "ap", "start-", 6, 2, 6, 0, NULL),
                     STORE_OK);
    assert_string_equal(kv_str(s, "ap", &g), "start-mid-end");
    assert_int_equal(g.flags, 77);    /* kept */
    assert_int_equal(g.exptime, exp); /* kept */
    /* Appending nothing still makes a new version. */
    uint64_t cas3;
    assert_int_equal(kv_set_mode(s, STORE_MODE_APPEND, "ap", NULL, 0, 0, 0, 0, &cas3), STORE_OK);
    assert_string_equal(kv_str(s, "ap", &g), "start-mid-end");
    assert_int_equal(g.cas, cas3);
    /* Append with a cas must match. */
    assert_int_equal(kv_set_mode(s, STORE_MODE_APPEND, "ap", "x", 1, 0, 0, cas3 + 1, NULL),
                     STORE_EXISTS);
    assert_int_equal(kv_set_mode(s, STORE_MODE_APPEND, "ap", "x", 1, 0, 0, cas3, NULL), STORE_OK);
    assert_string_equal(kv_str(s, "ap", &g), "start-mid-endx");
    /* Growing across classes and into a large item keeps the bytes. */
    char *chunk = malloc(10000);
    memset(chunk, 'z', 10000);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(kv_set_mode(s, STORE_MODE_APPEND, "ap", chunk, 10000, 0, 0, 0, NULL),
                         STORE_OK);
    }
    assert_int_equal(kv_get(s, "ap", &g, NULL), STORE_OK);
    assert_int_equal(g.nbytes, 14 + 50000);
    assert_memory_equal(g.value, "start-mid-endx", 14);
    assert_int_equal(g.value[14 + 49999], 'z');
    free(chunk);
    store_destroy(&s);
}

static void
test_cas(void **state)
{
    (void)state;
    struct store_config cfg = test_config(8 << 20, 8);
    struct store *s = test_store(&cfg);
    uint64_t cas;
    assert_int_equal(kv_set_mode(s, STORE_MODE_CAS, "c", "v", 1, 0, 0, 12345, NULL),
                     STORE_NOT_FOUND);
    assert_int_equal(kv_set_mode(s, STORE_MODE_SET, "c", "v1", 2, 0, 0, 0, &cas), STORE_OK);
    assert_int_equal(kv_set_mode(s, STORE_MODE_CAS, "c", "v2", 2, 0, 0, cas + 1, NULL),
                     STORE_EXISTS);
    assert_int_equal(kv_set_mode(s, STORE_MODE_CAS, "c", "v2", 2, 0, 0, 0, NULL), STORE_EXISTS);
    uint64_t cas2;
    assert_int_equal(kv_set_mode(s, STORE_MODE_CAS, "c", "v2", 2, 0, 0, cas, &cas2), STORE_OK);
    assert_true(cas2 != cas);
    assert_string_equal(kv_str(s, "c", &g), "v2");
    /* The old cas no longer works. */
    assert_int_equal(kv_set_mode(s, STORE_MODE_CAS, "c", "v3", 2, 0, 0, cas, NULL), STORE_EXISTS);
    /* A nonzero cas in other modes must match too. */
    assert_int_equal(kv_set_mode(s, STORE_MODE_SET, "c", "v4", 2, 0, 0, cas, NULL), STORE_EXISTS);
    assert_int_equal(kv_set_mode(s, STORE_MODE_REPLACE, "c", "v4", 2, 0, 0, cas, NULL),
                     STORE_EXISTS);
    assert_int_equal(kv_set_mode(s, STORE_MODE_SET, "c", "v4", 2, 0, 0, cas2, &cas), STORE_OK);
    assert_int_equal(kv_set_mode(s, STORE_MODE_SET, "nokey", "v", 1, 0, 0, 99, NULL),
                     STORE_NOT_FOUND);
    /* Delete with cas. */
    assert_int_equal(kv_delete(s, "c", cas + 1), STORE_EXISTS);
    assert_int_equal(kv_delete(s, "c", cas), STORE_OK);
    /* Touch keeps the cas; every store makes a new one, unique over keys
     * of all shards. */
    uint64_t seen[2000];
    char key[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "u%d", i);
        assert_int_equal(kv_set_mode(s, STORE_MODE_SET, key, "x", 1, 0, 0, 0, &seen[i]), STORE_OK);
        for (int j = 0; j < i; j++) {
            assert_true(seen[j] != seen[i]);
        }
    }
    struct store_key k;
    store_key_init(&k, "u0", 2);
    assert_int_equal(store_touch(s, &k, 0), STORE_OK);
    assert_int_equal(kv_get(s, "u0", &g, NULL), STORE_OK);
    assert_int_equal(g.cas, seen[0]);
    store_destroy(&s);

    /* -C: cas reported as 0 and never matched. */
    cfg.cas_enabled = false;
    s = test_store(&cfg);
    assert_int_equal(kv_set_mode(s, STORE_MODE_SET, "c", "v1", 2, 0, 0, 0, &cas), STORE_OK);
    assert_int_equal(cas, 0);
    assert_int_equal(kv_get(s, "c", &g, NULL), STORE_OK);
    assert_int_equal(g.cas, 0);
    assert_int_equal(kv_set_mode(s, STORE_MODE_CAS, "c", "v2", 2, 0, 0, 0, NULL), STORE_EXISTS);
    assert_int_equal(kv_set_mode(s, STORE_MODE_CAS, "c", "v2", 2, 0, 0, 1, NULL), STORE_EXISTS);
    store_destroy(&s);
}

static void
test_sizes(void **state)
{
    (void)state;
    struct store_config cfg = test_config(8 << 20, 4);
    cfg.max_item_size = 4096;
    struct store *s = test_store(&cfg);
    /* 12-byte header, one more byte of length for values >= 256 */
    assert_true(store_fits(s, 1, 4096 - 14));
    assert_false(store_fits(s, 1, 4096 - 13));
    assert_false(store_fits(s, 0, 1));
    assert_false(store_fits(s, 251, 1));
    assert_true(store_fits(s, 250, 1));
    assert_false(store_fits(s, 10, SIZE_MAX));
    assert_false(store_fits(s, 10, (size_t)UINT32_MAX + 1));
    char *big = calloc(1, 8192);
    assert_int_equal(kv_set_mode(s, STORE_MODE_SET, "big", big, 4096, 0, 0, 0, NULL),
                     STORE_TOO_LARGE);
    assert_int_equal(kv_set_mode(s, STORE_MODE_SET, "big", big, 4096 - 13 - 3, 0, 0, 0, NULL),
                     STORE_OK);
    /* Appending past the limit: NOT_STORED, as memcached says. */
    assert_int_equal(kv_set_mode(s, STORE_MODE_APPEND, "big", big, 1, 0, 0, 0, NULL),
                     STORE_NOT_STORED);
    char key[300];
    memset(key, 'k', sizeof(key));
    key[251] = '\0';
    assert_int_equal(kv_set(s, key, "v"), STORE_TOO_LARGE);
    key[250] = '\0';
    assert_int_equal(kv_set(s, key, "v"), STORE_OK);
    assert_string_equal(kv_str(s, key, &g), "v");
    struct store_key k = {.data = "", .len = 0, .hash = 0};
    struct store_set_req r = {.mode = STORE_MODE_SET, .value = "v", .nbytes = 1};
    assert_int_equal(store_set(s, &k, &r, NULL), STORE_TOO_LARGE);
    assert_int_equal(store_get(s, &k, NULL, got_copy, &g, NULL), STORE_NOT_FOUND);
    assert_int_equal(store_delete(s, &k, 0), STORE_NOT_FOUND);
    free(big);
    store_destroy(&s);
}

static enum store_rc
arith(struct store *s, const char *key, bool incr, uint64_t delta, uint64_t *out)
{
    struct store_key k;
    store_key_init(&k, key, strlen(key));
    struct store_arith_req r = {.incr = incr, .delta = delta};
    return store_arith(s, &k, &r, out, NULL);
}

static void
test_arith(void **state)
{
    (void)state;
    struct store_config cfg = test_config(8 << 20, 4);
    struct store *s = test_store(&cfg);
    uint64_t v = 0;
    assert_int_equal(arith(s, "n", true, 1, &v), STORE_NOT_FOUND);
    assert_int_equal(kv_set_mode(s, STORE_MODE_SET, "n", "10", 2, 5, 0, 0, NULL), STORE_OK);
    assert_int_equal(arith(s, "n", false, 1, &v), STORE_OK);
    assert_int_equal(v, 9);
    /* In place, padded with a space, as memcached does. */
    assert_int_equal(kv_get(s, "n", &g, NULL), STORE_OK);
    assert_int_equal(g.nbytes, 2);
    assert_memory_equal(g.value, "9 ", 2);
    assert_int_equal(g.flags, 5);
    /* "9 " parses (trailing space) and grows to a new item. */
    assert_int_equal(arith(s, "n", true, 91, &v), STORE_OK);
    assert_int_equal(v, 100);
    assert_string_equal(kv_str(s, "n", &g), "100");
    assert_int_equal(g.flags, 5);
    /* Floor at 0. */
    assert_int_equal(arith(s, "n", false, 1000, &v), STORE_OK);
    assert_int_equal(v, 0);
    assert_string_equal(kv_str(s, "n", &g), "0  ");
    /* Wrap at 2^64. */
    assert_int_equal(kv_set(s, "w", "18446744073709551615"), STORE_OK);
    assert_int_equal(arith(s, "w", true, 2, &v), STORE_OK);
    assert_int_equal(v, 1);
    assert_string_equal(kv_str(s, "w", &g), "1                   ");
    assert_int_equal(arith(s, "w", true, UINT64_MAX, &v), STORE_OK);
    assert_int_equal(v, 0);
    /* cas: a new one each time, and checked. */
    uint64_t cas;
    assert_int_equal(kv_set_mode(s, STORE_MODE_SET, "c", "5", 1, 0, 0, 0, &cas), STORE_OK);
    struct store_key k;
    store_key_init(&k, "c", 1);
    struct store_arith_req r = {.incr = true, .delta = 1, .cas = cas + 1};
    uint64_t cas2 = 0;
    assert_int_equal(store_arith(s, &k, &r, &v, &cas2), STORE_EXISTS);
    r.cas = cas;
    assert_int_equal(store_arith(s, &k, &r, &v, &cas2), STORE_OK);
    assert_int_equal(v, 6);
    assert_true(cas2 != 0 && cas2 != cas);
    assert_int_equal(kv_get(s, "c", &g, NULL), STORE_OK);
    assert_int_equal(g.cas, cas2);
    /* Accepted forms (memcached's safe_strtoull). */
    const char *ok[] = {"7", " 7", "+7", "7 ", "7\r\n", "7 junk", "007", "-0"};
    uint64_t okv[] = {8, 8, 8, 8, 8, 8, 8, 1};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(kv_set(s, "p", ok[i]), STORE_OK);
        assert_int_equal(arith(s, "p", true, 1, &v), STORE_OK);
        assert_int_equal(v, okv[i]);
    }
    /* Refused forms. */
    const char *bad[] = {"",    "abc",  "12abc", "-1", " ", "+", "18446744073709551616",
                         "1.5", "0x10", "- 1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(kv_set(s, "p", bad[i]), STORE_OK);
        assert_int_equal(arith(s, "p", true, 1, &v), STORE_NON_NUMERIC);
        assert_int_equal(arith(s, "p", false, 1, &v), STORE_NON_NUMERIC);
    }
    /* Binary protocol: create with the initial value. */
    store_key_init(&k, "created", 7);
    struct store_arith_req cr = {
        .incr = true, .delta = 5, .create = true, .initial = 1000, .exptime = clock_now() + 100};
    assert_int_equal(store_arith(s, &k, &cr, &v, &cas), STORE_OK);
    assert_int_equal(v, 1000);
    assert_string_equal(kv_str(s, "created", &g), "1000");
    assert_int_equal(g.exptime, cr.exptime);
    assert_int_equal(g.cas, cas);
    assert_int_equal(store_arith(s, &k, &cr, &v, NULL), STORE_OK);
    assert_int_equal(v, 1005);
    /* A large value is never a number. */
    char *big = malloc(20000);
    memset(big, '1', 20000);
    assert_int_equal(kv_set_mode(s, STORE_MODE_SET, "big", big, 20000, 0, 0, 0, NULL), STORE_OK);
    assert_int_equal(arith(s, "big", true, 1, &v), STORE_NON_NUMERIC);
    free(big);
    store_destroy(&s);
}

static void
test_touch(void **state)
{
    (void)state;
    struct store_config cfg = test_config(8 << 20, 4);
    struct store *s = test_store(&cfg);
    struct store_key k;
    store_key_init(&k, "t", 1);
    assert_int_equal(store_touch(s, &k, 100), STORE_NOT_FOUND);
    assert_int_equal(kv_set(s, "t", "v"), STORE_OK);
    uint32_t exp = clock_now() + 500;
    assert_int_equal(store_touch(s, &k, exp), STORE_OK);
    assert_int_equal(kv_get(s, "t", &g, NULL), STORE_OK);
    assert_int_equal(g.exptime, exp);
    assert_true(g.fetched); /* touch counts as a fetch, as in memcached */
    /* get-and-touch reports the new expiry. */
    struct store_get_opts o = {.touch = true, .exptime = exp + 1};
    assert_int_equal(store_get(s, &k, &o, got_copy, &g, NULL), STORE_OK);
    assert_int_equal(g.exptime, exp + 1);
    /* Touch into the past expires it. */
    assert_int_equal(store_touch(s, &k, CLOCK_EXPIRED), STORE_OK);
    enum store_miss miss;
    assert_int_equal(kv_get(s, "t", &g, &miss), STORE_NOT_FOUND);
    assert_int_equal(miss, STORE_MISS_EXPIRED);
    store_destroy(&s);
}

static void
test_no_evictions(void **state)
{
    (void)state;
    struct store_config cfg = test_config(2 << 20, 1);
    cfg.evictions = false;
    struct store *s = test_store(&cfg);
    char key[32], val[100];
    memset(val, 'v', sizeof(val));
    int stored = 0;
    enum store_rc rc = STORE_OK;
    for (int i = 0; i < 100000 && rc == STORE_OK; i++) {
        snprintf(key, sizeof(key), "nm:%d", i);
        rc = kv_set_mode(s, STORE_MODE_SET, key, val, sizeof(val), 0, 0, 0, NULL);
        stored += rc == STORE_OK;
    }
    assert_int_equal(rc, STORE_NO_MEMORY);
    assert_true(stored > 10000);
    struct store_stats st = kv_stats(s);
    assert_int_equal(st.evictions, 0);
    assert_true(st.outofmemory >= 1);
    assert_true(st.total_malloced <= st.limit_maxbytes);
    /* Everything stored is still there. */
    for (int i = 0; i < stored; i++) {
        snprintf(key, sizeof(key), "nm:%d", i);
        assert_true(kv_exists(s, key));
    }
    /* Deleting frees room. */
    assert_int_equal(kv_delete(s, "nm:0", 0), STORE_OK);
    assert_int_equal(kv_set_mode(s, STORE_MODE_SET, "again", val, sizeof(val), 0, 0, 0, NULL),
                     STORE_OK);
    /* A larger item finds too little dead to compact into room. */
    char big[1000];
    memset(big, 'b', sizeof(big));
    assert_int_equal(kv_set_mode(s, STORE_MODE_SET, "other", big, sizeof(big), 0, 0, 0, NULL),
                     STORE_NO_MEMORY);
    /* Expired items may be reclaimed: after a flush, everything is dead. */
    store_flush(s, 0);
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "after:%d", i);
        assert_int_equal(kv_set_mode(s, STORE_MODE_SET, key, val, sizeof(val), 0, 0, 0, NULL),
                         STORE_OK);
    }
    /* ... and for items of every size. */
    assert_int_equal(kv_set_mode(s, STORE_MODE_SET, "other", big, sizeof(big), 0, 0, 0, NULL),
                     STORE_OK);
    st = kv_stats(s);
    assert_int_equal(st.evictions, 0);
    assert_true(st.reclaimed >= 1000);
    store_destroy(&s);
}

struct class_sum {
    unsigned classes;
    uint64_t number;
    uint64_t pages;
    bool saw_large;
    unsigned last_id;
};

static void
class_cb(void *ctx, const struct store_class_stats *cs)
{
    struct class_sum *sum = ctx;
    assert_true(cs->id > sum->last_id);
    sum->last_id = cs->id;
    sum->classes++;
    sum->number += cs->number;
    sum->pages += cs->total_pages;
    if (cs->chunk_size == 0) {
        sum->saw_large = true;
    }
    /* Items are not in chunks: a class's chunks are its items. */
    assert_int_equal(cs->used_chunks, cs->number);
    assert_int_equal(cs->total_chunks, cs->number);
    assert_int_equal(cs->free_chunks, 0);
    assert_true(cs->mem_requested >= cs->number * 12);
}

static void
test_stats(void **state)
{
    (void)state;
    struct store_config cfg = test_config(16 << 20, 4);
    struct store *s = test_store(&cfg);
    char key[32];
    char *val = malloc(30000);
    memset(val, 'q', 30000);
    size_t sizes[] = {10, 100, 1000, 10000, 30000};
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "s%d", i);
        assert_int_equal(kv_set_mode(s, STORE_MODE_SET, key, val, sizes[i % 5], 0, 0, 0, NULL),
                         STORE_OK);
    }
    struct class_sum sum = {0};
    store_each_class(s, class_cb, &sum);
    assert_int_equal(sum.number, 100);
    assert_int_equal(sum.classes, 5);
    assert_true(sum.saw_large);
    struct store_stats st = kv_stats(s);
    assert_int_equal(st.curr_items, 100);
    assert_int_equal(st.limit_maxbytes, 16 << 20);
    assert_true(st.total_malloced >= 20 * 30000);
    assert_true(st.hash_buckets >= 100 / 12);
    assert_int_equal(st.hash_bytes, st.hash_buckets * 64); /* a cache line a bucket */
    assert_int_equal(st.shards, 4);
    uint64_t bytes = 0;
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "s%d", i);
        bytes += 12 + (sizes[i % 5] < 256 ? 0 : 1) + strlen(key) + sizes[i % 5];
    }
    assert_int_equal(st.bytes, bytes);
    free(val);
    store_destroy(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_invalid),
        cmocka_unit_test(test_shard_count),
        cmocka_unit_test(test_set_get_delete),
        cmocka_unit_test(test_get_skips_fields),
        cmocka_unit_test(test_prefetch_is_a_hint),
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_append_prepend),
        cmocka_unit_test(test_cas),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_arith),
        cmocka_unit_test(test_touch),
        cmocka_unit_test(test_no_evictions),
        cmocka_unit_test(test_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
