/*
 * Unit tests for the store's Redis primitives: transactions (store_tx:
 * store calls within run under the keys' shard locks, one step to other
 * threads, with no eviction inside), key versions (WATCH), databases
 * (the database in a key's identity, per-database counts, FLUSHDB,
 * SWAPDB's map, SCAN and RANDOMKEY by database) and store_copy (COPY,
 * RENAME, MOVE), and the exact live counts (a flush empties them at once).
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "store_helpers.h"

static struct got g;

static void
key_db(struct store_key *k, const char *key, uint8_t db)
{
    store_key_init_db(k, key, strlen(key), db);
}

static enum store_rc
set_db(struct store *s, const char *key, uint8_t db, const char *value, uint32_t flags,
       int64_t expire_ms)
{
    struct store_key k;
    key_db(&k, key, db);
    struct store_set_req r = {.mode = STORE_MODE_SET,
                              .value = value,
                              .nbytes = (uint32_t)strlen(value),
                              .flags = flags,
                              .expire_ms = expire_ms};
    return store_set(s, &k, &r, NULL);
}

static const char *
get_db(struct store *s, const char *key, uint8_t db)
{
    struct store_key k;
    key_db(&k, key, db);
    if (store_get(s, &k, NULL, got_copy, &g, NULL) != STORE_OK) {
        return NULL;
    }
    g.value[g.nbytes] = '\0';
    return g.value;
}

static uint64_t
incr(struct store *s, const char *key)
{
    struct store_key k;
    store_key_init(&k, key, strlen(key));
    struct store_arith_req r = {.incr = true, .delta = 1, .create = true, .initial = 1};
    uint64_t v = 0;
    assert_int_equal(store_arith(s, &k, &r, &v, NULL), STORE_OK);
    return v;
}

/* --- transactions ---------------------------------------------------------------- */

struct tx_args {
    struct store *s;
    const char *const *keys;
    size_t n;
    unsigned ran;
};

static void
tx_set_all(void *ctx)
{
    struct tx_args *a = ctx;
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(kv_set(a->s, a->keys[i], "in-tx"), STORE_OK);
        assert_string_equal(kv_str(a->s, a->keys[i], &g), "in-tx");
    }
    a->ran++;
}

static enum store_rc
run_tx(struct store *s, const char *const *keys, size_t n, bool all, uint64_t reserve,
       store_tx_fn fn, void *ctx)
{
    struct store_key k[64];
    for (size_t i = 0; i < n; i++) {
        store_key_init(&k[i], keys[i], strlen(keys[i]));
    }
    struct store_tx_req r = {.keys = k, .nkeys = n, .all = all, .reserve = reserve};
    return store_tx(s, &r, fn, ctx);
}

static void
test_tx_runs_store_calls_under_its_locks(void **state)
{
    (void)state;
    struct store_config cfg = test_config(8 << 20, 16);
    struct store *s = test_store(&cfg);
    const char *keys[] = {"a", "b", "c", "a"}; /* a key twice: its shard once */
    struct tx_args a = {.s = s, .keys = keys, .n = 4};
    assert_int_equal(run_tx(s, keys, 4, false, 64, tx_set_all, &a), STORE_OK);
    assert_int_equal(a.ran, 1);
    assert_string_equal(kv_str(s, "b", &g), "in-tx");
    /* The locks are free again: a plain store goes through. */
    assert_int_equal(kv_set(s, "a", "after"), STORE_OK);
    assert_string_equal(kv_str(s, "a", &g), "after");
    /* No keys at all: fn still runs. */
    assert_int_equal(run_tx(s, keys, 0, false, 0, tx_set_all, &(struct tx_args){.s = s}), STORE_OK);
    store_destroy(&s);
}

/* Two counters moved together in transactions; other threads read both
 * with one MGET (store_get_many: their shards locked together) and never
 * see them apart, while more threads MSET and evict in a small store. */
struct race {
    struct store *s;
    atomic_bool stop;
    atomic_uint_fast64_t torn, reads, txs;
};

static void
tx_incr_both(void *ctx)
{
    struct race *r = ctx;
    incr(r->s, "x");
    sched_yield(); /* a window for the reader, were the locks not held */
    incr(r->s, "y");
}

static void *
race_tx(void *arg)
{
    struct race *r = arg;
    const char *keys[] = {"x", "y"};
    for (int i = 0; i < 1000 || atomic_load(&r->reads) < 1000; i++) {
        assert_int_equal(run_tx(r->s, keys, 2, false, 64, tx_incr_both, r), STORE_OK);
        atomic_fetch_add(&r->txs, 1);
    }
    return NULL;
}

struct pair_seen {
    char v[2][24];
    bool hit[2];
};

static void
on_pair(void *ctx, size_t i, const struct store_item_view *v, enum store_miss miss)
{
    (void)miss;
    struct pair_seen *p = ctx;
    p->hit[i] = v != NULL;
    if (v != NULL) {
        size_t n = v->nbytes < 23 ? v->nbytes : 23;
        memcpy(p->v[i], v->value, n);
        p->v[i][n] = '\0';
    }
}

static void *
race_reader(void *arg)
{
    struct race *r = arg;
    struct store_key k[2];
    store_key_init(&k[0], "x", 1);
    store_key_init(&k[1], "y", 1);
    while (!atomic_load(&r->stop)) {
        struct pair_seen p = {0};
        store_get_many(r->s, k, 2, on_pair, &p);
        if (p.hit[0] != p.hit[1] || (p.hit[0] && strcmp(p.v[0], p.v[1]) != 0)) {
            atomic_fetch_add(&r->torn, 1);
        }
        atomic_fetch_add(&r->reads, 1);
    }
    return NULL;
}

static void
filler_pair(void *ctx, size_t i, struct store_key *k, struct store_set_req *r)
{
    static _Thread_local char keys[4][32];
    static char value[2000];
    unsigned base = *(unsigned *)ctx;
    snprintf(keys[i], sizeof(keys[i]), "fill%u", base + (unsigned)i);
    store_key_init(k, keys[i], strlen(keys[i]));
    r->value = value;
    r->nbytes = sizeof(value);
}

static void *
race_filler(void *arg)
{
    struct race *r = arg;
    for (unsigned i = 0; !atomic_load(&r->stop); i += 4) {
        unsigned base = i % 20000;
        store_set_many(r->s, 4, filler_pair, &base, false); /* evicts in a 4 MiB store */
    }
    return NULL;
}

static void
test_tx_is_one_step_to_other_threads(void **state)
{
    (void)state;
    struct store_config cfg = test_config(4 << 20, 64);
    struct store *s = test_store(&cfg);
    struct race r = {.s = s};
    pthread_t tx[2], rd, fill[2];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_create(&tx[i], NULL, race_tx, &r), 0);
        assert_int_equal(pthread_create(&fill[i], NULL, race_filler, &r), 0);
    }
    assert_int_equal(pthread_create(&rd, NULL, race_reader, &r), 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(tx[i], NULL);
    }
    atomic_store(&r.stop, true);
    pthread_join(rd, NULL);
    for (int i = 0; i < 2; i++) {
        pthread_join(fill[i], NULL);
    }
    assert_int_equal(atomic_load(&r.torn), 0);
    assert_true(atomic_load(&r.reads) > 0);
    /* Every transaction counted both, none lost (or x and y were
     * evicted together, never one). */
    const char *x = kv_str(s, "x", &g);
    if (x != NULL) {
        char xs[24];
        memcpy(xs, x, g.nbytes < 23 ? g.nbytes + 1 : 24);
        xs[23] = '\0';
        assert_string_equal(kv_str(s, "y", &g), xs);
    }
    store_destroy(&s);
}

/* Inside a transaction nothing is evicted: writes past the room made
 * first fail with STORE_NO_MEMORY (no deadlock), and room is found again
 * after. */
struct fill_args {
    struct store *s;
    unsigned stored, failed;
};

static void
tx_write_much(void *ctx)
{
    struct fill_args *a = ctx;
    static char big[100000];
    memset(big, 'b', sizeof(big));
    for (int i = 0; i < 40; i++) {
        char key[16];
        snprintf(key, sizeof(key), "big%d", i % 4);
        enum store_rc rc = kv_set_mode(a->s, STORE_MODE_SET, key, big, sizeof(big), 0, 0, 0, NULL);
        if (rc == STORE_OK) {
            a->stored++;
        } else {
            assert_int_equal(rc, STORE_NO_MEMORY);
            a->failed++;
        }
    }
}

static void
test_tx_does_not_evict(void **state)
{
    (void)state;
    struct store_config cfg = test_config(4 << 20, 16); /* 16 segments of 256 KiB */
    struct store *s = test_store(&cfg);
    char v[1000];
    memset(v, 'v', sizeof(v));
    for (int i = 0; i < 20000; i++) { /* full: stores now evict */
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(kv_set_mode(s, STORE_MODE_SET, key, v, sizeof(v), 0, 0, 0, NULL),
                         STORE_OK);
    }
    uint64_t evicted = kv_stats(s).evictions;
    assert_true(evicted > 0);
    const char *keys[] = {"big0", "big1", "big2", "big3"};
    struct fill_args a = {.s = s};
    assert_int_equal(run_tx(s, keys, 4, false, 100100, tx_write_much, &a), STORE_OK);
    assert_true(a.stored >= 1); /* what the reserve held */
    assert_true(a.failed >= 1);
    /* The transaction evicted nothing itself (its reserve did, before). */
    uint64_t after_reserve = kv_stats(s).evictions;
    assert_int_equal(kv_set(s, "later", "x"), STORE_OK);
    assert_true(kv_stats(s).evictions >= after_reserve);
    store_destroy(&s);
}

struct all_args {
    struct store *s;
    uint64_t before, after;
    unsigned seen;
};

static void
on_seen(void *ctx, const struct store_item_view *v)
{
    (void)v;
    ((struct all_args *)ctx)->seen++;
}

static void
tx_flush_everything(void *ctx)
{
    struct all_args *a = ctx;
    a->before = store_count(a->s);
    uint64_t c = 0;
    do {
        c = store_scan(a->s, STORE_DB_ANY, c, 100, on_seen, a);
    } while (c != 0);
    store_flush(a->s, 0);
    store_flush_db(a->s, 1);
    store_swap_db(a->s, 0, 1);
    store_swap_db(a->s, 0, 1);
    a->after = store_count(a->s);
}

static void
test_tx_over_every_shard(void **state)
{
    (void)state;
    struct store_config cfg = test_config(8 << 20, 64);
    cfg.databases = 4;
    struct store *s = test_store(&cfg);
    for (int i = 0; i < 100; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(kv_set(s, key, "v"), STORE_OK);
    }
    struct all_args a = {.s = s};
    assert_int_equal(run_tx(s, NULL, 0, true, 0, tx_flush_everything, &a), STORE_OK);
    assert_int_equal(a.before, 100);
    assert_int_equal(a.seen, 100);
    assert_int_equal(a.after, 0);
    assert_int_equal(store_count(s), 0);
    assert_int_equal(kv_set(s, "k1", "v"), STORE_OK); /* and every lock is free */
    store_destroy(&s);
}

/* --- versions (WATCH) ------------------------------------------------------------- */

static struct store_version
version(struct store *s, const char *key)
{
    struct store_key k;
    store_key_init(&k, key, strlen(key));
    struct store_version v;
    store_key_version(s, &k, &v);
    return v;
}

static bool
changed(struct store *s, const char *key, struct store_version *v)
{
    struct store_version now = version(s, key);
    bool c = !store_version_equal(&now, v);
    *v = now;
    return c;
}

static void
test_versions_see_every_change(void **state)
{
    (void)state;
    struct store_config cfg = test_config(8 << 20, 1); /* one shard: the conservative case */
    cfg.cas_enabled = false;                           /* -C: versions do not need the cas */
    struct store *s = test_store(&cfg);
    struct store_version v = version(s, "k");
    assert_false(v.live);
    assert_false(changed(s, "k", &v));
    assert_int_equal(kv_set(s, "other", "x"), STORE_OK);
    assert_true(changed(s, "k", &v)); /* absent: any store in its shard counts */
    assert_int_equal(kv_set(s, "k", "1"), STORE_OK);
    assert_true(changed(s, "k", &v));
    assert_true(v.live);
    assert_false(changed(s, "k", &v)); /* a read changes nothing */
    assert_string_equal(kv_str(s, "k", &g), "1");
    assert_false(changed(s, "k", &v));
    assert_int_equal(kv_set(s, "k", "1"), STORE_OK); /* the same value again */
    assert_true(changed(s, "k", &v));
    struct store_key k;
    store_key_init(&k, "k", 1);
    assert_int_equal(store_touch(s, &k, clock_now() + 100), STORE_OK); /* no new cas */
    assert_true(changed(s, "k", &v));
    incr(s, "k");
    assert_true(changed(s, "k", &v));
    assert_int_equal(kv_set(s, "other", "y"), STORE_OK);
    assert_false(changed(s, "k", &v)); /* live: only its own changes */
    assert_int_equal(kv_delete(s, "k", 0), STORE_OK);
    assert_true(changed(s, "k", &v));
    assert_int_equal(kv_set_exp(s, "k", "v", clock_now() + 100), STORE_OK);
    assert_true(changed(s, "k", &v));
    assert_int_equal(store_touch(s, &k, CLOCK_EXPIRED), STORE_OK); /* its expiry comes */
    assert_true(changed(s, "k", &v));
    assert_false(v.live);
    assert_int_equal(kv_set(s, "k", "v"), STORE_OK);
    assert_true(changed(s, "k", &v));
    store_flush(s, 0);
    assert_true(changed(s, "k", &v)); /* flushed */
    store_destroy(&s);
}

/* --- databases --------------------------------------------------------------------- */

static void
test_database_is_part_of_a_key(void **state)
{
    (void)state;
    struct store_config cfg = test_config(8 << 20, 16);
    cfg.databases = 16;
    struct store *s = test_store(&cfg);
    assert_int_equal(store_databases(s), 16);
    assert_int_equal(set_db(s, "k", 0, "zero", 0, 0), STORE_OK);
    assert_int_equal(set_db(s, "k", 3, "three", 7, 0), STORE_OK);
    assert_int_equal(set_db(s, "only3", 3, "x", 0, store_now_ms() + 100000), STORE_OK);
    assert_string_equal(get_db(s, "k", 0), "zero");
    assert_string_equal(get_db(s, "k", 3), "three");
    assert_int_equal(g.flags, 7);
    assert_null(get_db(s, "k", 1));
    assert_null(get_db(s, "only3", 0));
    assert_int_equal(store_db_keys(s, 0), 1);
    assert_int_equal(store_db_keys(s, 3), 2);
    assert_int_equal(store_db_keys(s, 5), 0);
    assert_int_equal(store_count(s), 3);
    struct store_db_info info[16];
    store_db_info(s, info);
    assert_int_equal(info[0].keys, 1);
    assert_int_equal(info[0].expires, 0);
    assert_int_equal(info[3].keys, 2);
    assert_int_equal(info[3].expires, 1);
    assert_true(info[3].avg_ttl_ms > 90000 && info[3].avg_ttl_ms <= 100000);
    /* An APPEND keeps its item's database. */
    struct store_key k;
    key_db(&k, "k", 3);
    struct store_set_req r = {.mode = STORE_MODE_APPEND, .value = "!", .nbytes = 1};
    assert_int_equal(store_set(s, &k, &r, NULL), STORE_OK);
    assert_string_equal(get_db(s, "k", 3), "three!");
    assert_string_equal(get_db(s, "k", 0), "zero");
    assert_int_equal(store_db_keys(s, 3), 2);
    /* SCAN and RANDOMKEY by database. */
    struct all_args a = {.s = s};
    uint64_t c = 0;
    do {
        c = store_scan(s, 3, c, 10, on_seen, &a);
    } while (c != 0);
    assert_int_equal(a.seen, 2);
    assert_int_equal(store_random(s, 7, 12345, on_seen, &a), STORE_NOT_FOUND);
    assert_int_equal(store_random(s, 0, 12345, got_copy, &g), STORE_OK);
    assert_int_equal(g.nbytes, 4);
    /* FLUSHDB 3 leaves database 0. */
    store_flush_db(s, 3);
    assert_int_equal(store_db_keys(s, 3), 0);
    assert_int_equal(store_count(s), 1);
    assert_string_equal(get_db(s, "k", 0), "zero");
    /* FLUSHDB 0 when nothing else is stored: the O(1) flush. */
    store_flush_db(s, 0);
    assert_int_equal(store_count(s), 0);
    assert_null(get_db(s, "k", 0));
    store_maintain(s);
    assert_int_equal(kv_stats(s).curr_items, 0);
    store_destroy(&s);
}

static void
test_counts_are_exact_after_flushes(void **state)
{
    (void)state;
    struct store_config cfg = test_config(8 << 20, 16);
    cfg.databases = 2;
    struct store *s = test_store(&cfg);
    for (int i = 0; i < 50; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(set_db(s, key, (uint8_t)(i % 2), "v", 0, store_now_ms() + 100000),
                         STORE_OK);
    }
    assert_int_equal(kv_stats(s).curr_items, 50);
    assert_int_equal(kv_stats(s).expiring, 50);
    store_flush(s, 0);
    /* At once, though the flushed items are still linked. */
    assert_int_equal(store_count(s), 0);
    assert_int_equal(kv_stats(s).curr_items, 0);
    assert_int_equal(kv_stats(s).expiring, 0);
    assert_int_equal(store_db_keys(s, 1), 0);
    assert_int_equal(set_db(s, "n", 1, "v", 0, 0), STORE_OK);
    assert_int_equal(store_db_keys(s, 1), 1);
    for (int i = 0; i < 20; i++) {
        store_maintain(s); /* the sweep unlinks the flushed ones: no count moves */
    }
    assert_int_equal(store_count(s), 1);
    assert_int_equal(store_db_keys(s, 1), 1);
    /* A delayed flush counts from its time. */
    clock_update();
    uint32_t at = clock_now() + 1;
    store_flush(s, at);
    assert_int_equal(store_count(s), 1);
    for (int i = 0; i < 40 && clock_now() < at; i++) {
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
        clock_update();
    }
    assert_int_equal(store_count(s), 0);
    assert_int_equal(store_db_keys(s, 1), 0);
    store_destroy(&s);
}

/* --- COPY, RENAME, MOVE, SWAPDB --------------------------------------------------------- */

static enum store_rc
copy(struct store *s, const char *src, uint8_t sdb, const char *dst, uint8_t ddb, bool replace,
     bool remove)
{
    struct store_key a, b;
    key_db(&a, src, sdb);
    key_db(&b, dst, ddb);
    return store_copy(s, &a, &b, replace, remove);
}

static void
test_copy_rename_move(void **state)
{
    (void)state;
    struct store_config cfg = test_config(8 << 20, 16);
    cfg.databases = 4;
    struct store *s = test_store(&cfg);
    int64_t deadline = store_now_ms() + 50000;
    assert_int_equal(set_db(s, "src", 0, "value", 42, deadline), STORE_OK);
    /* COPY: flags and expiry come along. */
    assert_int_equal(copy(s, "src", 0, "dst", 0, false, false), STORE_OK);
    assert_string_equal(get_db(s, "dst", 0), "value");
    assert_int_equal(g.flags, 42);
    struct store_key k;
    key_db(&k, "dst", 0);
    struct got g2;
    assert_int_equal(store_get(s, &k, NULL, got_copy, &g2, NULL), STORE_OK);
    assert_true(g2.exptime != 0);
    assert_int_equal(copy(s, "src", 0, "dst", 0, false, false), STORE_NOT_STORED);
    assert_int_equal(set_db(s, "src", 0, "new", 0, 0), STORE_OK);
    assert_int_equal(copy(s, "src", 0, "dst", 0, true, false), STORE_OK);
    assert_string_equal(get_db(s, "dst", 0), "new");
    assert_int_equal(copy(s, "nosuch", 0, "dst", 0, true, false), STORE_NOT_FOUND);
    /* RENAME: src goes. RENAMENX on a present dst changes nothing. */
    assert_int_equal(copy(s, "src", 0, "renamed", 0, true, true), STORE_OK);
    assert_null(get_db(s, "src", 0));
    assert_string_equal(get_db(s, "renamed", 0), "new");
    assert_int_equal(copy(s, "renamed", 0, "dst", 0, false, true), STORE_NOT_STORED);
    assert_string_equal(get_db(s, "renamed", 0), "new");
    /* MOVE: the same key in another database (one shard). */
    assert_int_equal(copy(s, "renamed", 0, "renamed", 2, false, true), STORE_OK);
    assert_null(get_db(s, "renamed", 0));
    assert_string_equal(get_db(s, "renamed", 2), "new");
    assert_int_equal(store_db_keys(s, 2), 1);
    assert_int_equal(store_db_keys(s, 0), 1);
    /* A key of an invalid length. */
    struct store_key a, b;
    key_db(&a, "dst", 0);
    store_key_init_db(&b, "", 0, 0);
    assert_int_equal(store_copy(s, &a, &b, true, false), STORE_TOO_LARGE);
    /* SWAPDB's map. */
    assert_int_equal(store_db_phys(s, 2), 2);
    store_swap_db(s, 0, 2);
    assert_int_equal(store_db_phys(s, 0), 2);
    assert_int_equal(store_db_phys(s, 2), 0);
    assert_int_equal(store_db_phys(s, 9), 0); /* out of range */
    store_swap_db(s, 0, 2);
    assert_int_equal(store_db_phys(s, 0), 0);
    store_destroy(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tx_runs_store_calls_under_its_locks),
        cmocka_unit_test(test_tx_is_one_step_to_other_threads),
        cmocka_unit_test(test_tx_does_not_evict),
        cmocka_unit_test(test_tx_over_every_shard),
        cmocka_unit_test(test_versions_see_every_change),
        cmocka_unit_test(test_database_is_part_of_a_key),
        cmocka_unit_test(test_counts_are_exact_after_flushes),
        cmocka_unit_test(test_copy_rename_move),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
