/*
 * Unit tests for store_set_many (Redis MSET and MSETNX): all pairs stored
 * as one step, MSETNX all or nothing (also when two clients race on
 * overlapping keys), limits checked before anything changes, and the
 * allocation that must steal memory from another shard while several
 * shard locks are held; and store_get_many (MGET), which sees an MSET
 * whole or not at all.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "store_helpers.h"

static struct got g;

struct pairs {
    const char *const *kv; /* key, value, key, value, ... */
    size_t n;              /* pairs */
    uint32_t big;          /* nonzero: value i == 1 has this many bytes of big[] */
    const char *bigval;
};

static void
pair_of(void *ctx, size_t i, struct store_key *k, struct store_set_req *r)
{
    const struct pairs *p = ctx;
    store_key_init(k, p->kv[2 * i], strlen(p->kv[2 * i]));
    r->value = p->kv[2 * i + 1];
    r->nbytes = (uint32_t)strlen(p->kv[2 * i + 1]);
    if (p->big != 0 && i == 1) {
        r->value = p->bigval;
        r->nbytes = p->big;
    }
}

static enum store_rc
mset(struct store *s, const char *const *kv, size_t n, bool nx)
{
    struct pairs p = {.kv = kv, .n = n};
    return store_set_many(s, n, pair_of, &p, nx);
}

static void
test_mset_stores_every_pair(void **state)
{
    (void)state;
    struct store_config cfg = test_config(8 << 20, 16);
    struct store *s = test_store(&cfg);
    assert_int_equal(kv_set(s, "b", "old"), STORE_OK);
    const char *kv[] = {"a", "1", "b", "2", "c", "3", "a", "4"};
    assert_int_equal(mset(s, kv, 4, false), STORE_OK);
    assert_string_equal(kv_str(s, "a", &g), "4"); /* a key given twice: the last value */
    assert_string_equal(kv_str(s, "b", &g), "2");
    assert_string_equal(kv_str(s, "c", &g), "3");
    assert_int_equal(store_count(s), 3);
    store_destroy(&s);
}

static void
test_msetnx_all_or_nothing(void **state)
{
    (void)state;
    struct store_config cfg = test_config(8 << 20, 16);
    struct store *s = test_store(&cfg);
    assert_int_equal(kv_set(s, "b", "old"), STORE_OK);
    const char *kv[] = {"a", "1", "b", "2", "c", "3"};
    assert_int_equal(mset(s, kv, 3, true), STORE_NOT_STORED);
    assert_null(kv_str(s, "a", &g));
    assert_string_equal(kv_str(s, "b", &g), "old");
    assert_null(kv_str(s, "c", &g));
    const char *fresh[] = {"x", "1", "y", "2", "x", "3"};
    assert_int_equal(mset(s, fresh, 3, true), STORE_OK);
    assert_string_equal(kv_str(s, "x", &g), "3");
    assert_string_equal(kv_str(s, "y", &g), "2");
    /* An expired key does not count as existing. */
    assert_int_equal(kv_set_exp(s, "e", "v", clock_now() - 1), STORE_OK);
    const char *over[] = {"e", "new", "z", "1"};
    assert_int_equal(mset(s, over, 2, true), STORE_OK);
    assert_string_equal(kv_str(s, "e", &g), "new");
    store_destroy(&s);
}

static void
test_mset_too_large_changes_nothing(void **state)
{
    (void)state;
    struct store_config cfg = test_config(8 << 20, 16);
    struct store *s = test_store(&cfg);
    static char big[2 << 20];
    memset(big, 'x', sizeof(big));
    const char *kv[] = {"a", "1", "b", "2", "c", "3"};
    struct pairs p = {.kv = kv, .n = 3, .big = sizeof(big), .bigval = big};
    assert_int_equal(store_set_many(s, 3, pair_of, &p, false), STORE_TOO_LARGE);
    assert_int_equal(store_count(s), 0);
    store_destroy(&s);
}

static void
test_mset_without_evictions_when_full(void **state)
{
    (void)state;
    struct store_config cfg = test_config(2 << 20, 1);
    cfg.evictions = false;
    struct store *s = test_store(&cfg);
    static char v[1000];
    memset(v, 'v', sizeof(v) - 1);
    char key[32];
    unsigned stored = 0;
    for (unsigned i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "fill:%u", i);
        if (kv_set(s, key, v) != STORE_OK) {
            break;
        }
        stored++;
    }
    assert_true(stored > 100 && stored < 100000);
    const char *kv[] = {"m1", v, "m2", v};
    assert_int_equal(mset(s, kv, 2, false), STORE_NO_MEMORY);
    assert_int_equal(mset(s, kv, 2, true), STORE_NO_MEMORY);
    assert_int_equal(store_count(s), stored); /* nothing was evicted */
    store_destroy(&s);
}

/* Keys whose hash puts them in shard `want` of 4 (the top two bits). */
static void
key_in_shard(char *out, size_t cap, unsigned want, unsigned *next)
{
    for (;; (*next)++) {
        snprintf(out, cap, "k%u", *next);
        if (hash_bytes(out, strlen(out)) >> 62 == want) {
            (*next)++;
            return;
        }
    }
}

/* Memory full (shard 0's keys took it all): MSET and MSETNX of values
 * larger than a segment's free room still store every pair, making room
 * before they lock anything (memory is no shard's: any key may use what
 * another key's eviction frees). */
static void
test_mset_when_memory_is_full(void **state)
{
    (void)state;
    struct store_config cfg = test_config(4 << 20, 4);
    struct store *s = test_store(&cfg);
    static char v[1000];
    memset(v, 'v', sizeof(v) - 1);
    char key[32];
    unsigned next = 0;
    for (unsigned i = 0; i < 8000; i++) {
        key_in_shard(key, sizeof(key), 0, &next);
        assert_int_equal(kv_set(s, key, v), STORE_OK);
    }
    struct store_stats st;
    memset(&st, 0, sizeof(st));
    store_get_stats(s, &st);
    assert_true(st.evictions > 0); /* shard 0 filled the whole budget */
    uint64_t evicted = st.evictions;
    char k1[32], k2[32], k3a[32], k3b[32];
    key_in_shard(k1, sizeof(k1), 1, &next);
    key_in_shard(k2, sizeof(k2), 2, &next);
    key_in_shard(k3a, sizeof(k3a), 3, &next);
    key_in_shard(k3b, sizeof(k3b), 3, &next);
    /* 4 x 100 kB: more than the room a head has in its segments. */
    static char big[4][100 * 1000];
    for (int i = 0; i < 4; i++) {
        memset(big[i], 'a' + i, sizeof(big[i]) - 1);
    }
    const char *kv[] = {k1, big[0], k2, big[1], k3a, big[2], k3b, big[3]};
    assert_int_equal(mset(s, kv, 4, true), STORE_OK);
    assert_string_equal(kv_str(s, k1, &g), big[0]);
    assert_string_equal(kv_str(s, k2, &g), big[1]);
    assert_string_equal(kv_str(s, k3a, &g), big[2]);
    assert_string_equal(kv_str(s, k3b, &g), big[3]);
    /* The same for MSET, over keys that exist by now. */
    const char *again[] = {k1, big[3], k2, big[2], k3a, big[1], k3b, big[0]};
    assert_int_equal(mset(s, again, 4, false), STORE_OK);
    assert_string_equal(kv_str(s, k1, &g), big[3]);
    assert_string_equal(kv_str(s, k3b, &g), big[0]);
    memset(&st, 0, sizeof(st));
    store_get_stats(s, &st);
    assert_true(st.evictions > evicted); /* shard 0's items made the room */
    assert_int_equal(st.outofmemory, 0);
    store_destroy(&s);
}

/*
 * Two clients race MSETNX on overlapping keys, round after round: A on
 * keys 0..9, B on 5..14. Exactly one wins, and the loser stored nothing:
 * storing each pair on its own (check, then add) would leave the loser's
 * keys 10..14 (or A's 0..4) behind half the time.
 */
#define RACE_ROUNDS 2000

struct racer {
    struct store *s;
    pthread_barrier_t *bar;
    unsigned first; /* first key index */
    const char *value;
    enum store_rc rc[RACE_ROUNDS];
};

struct race_pairs {
    unsigned round, first;
    const char *value;
    char keys[10][24];
};

static void
race_pair(void *ctx, size_t i, struct store_key *k, struct store_set_req *r)
{
    struct race_pairs *p = ctx;
    snprintf(p->keys[i], sizeof(p->keys[i]), "r%u:%zu", p->round, p->first + i);
    store_key_init(k, p->keys[i], strlen(p->keys[i]));
    r->value = p->value;
    r->nbytes = (uint32_t)strlen(p->value);
}

static void *
race_main(void *arg)
{
    struct racer *rc = arg;
    struct race_pairs p = {.first = rc->first, .value = rc->value};
    for (unsigned round = 0; round < RACE_ROUNDS; round++) {
        p.round = round;
        pthread_barrier_wait(rc->bar);
        rc->rc[round] = store_set_many(rc->s, 10, race_pair, &p, true);
    }
    return NULL;
}

static void
test_msetnx_race_one_winner(void **state)
{
    (void)state;
    struct store_config cfg = test_config(64 << 20, 64);
    struct store *s = test_store(&cfg);
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 2);
    static struct racer a, b;
    a = (struct racer){.s = s, .bar = &bar, .first = 0, .value = "A"};
    b = (struct racer){.s = s, .bar = &bar, .first = 5, .value = "B"};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, race_main, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, race_main, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&bar);
    unsigned a_won = 0;
    char key[24];
    for (unsigned round = 0; round < RACE_ROUNDS; round++) {
        bool aok = a.rc[round] == STORE_OK, bok = b.rc[round] == STORE_OK;
        assert_true(aok != bok);
        assert_int_equal(aok ? b.rc[round] : a.rc[round], STORE_NOT_STORED);
        a_won += aok;
        for (unsigned i = 0; i < 15; i++) {
            snprintf(key, sizeof(key), "r%u:%u", round, i);
            const char *got = kv_str(s, key, &g);
            bool in_a = i < 10, in_b = i >= 5;
            if ((aok && in_a) || (bok && in_b)) {
                assert_non_null(got);
                assert_string_equal(got, aok ? "A" : "B");
            } else {
                assert_null(got);
            }
        }
    }
    print_message("A won %u of %u rounds\n", a_won, RACE_ROUNDS);
    store_destroy(&s);
}

struct many_got {
    size_t calls;
    char val[4][32];
    bool hit[4];
    enum store_miss miss[4];
};

static void
on_many(void *ctx, size_t i, const struct store_item_view *v, enum store_miss miss)
{
    struct many_got *m = ctx;
    assert_int_equal(i, m->calls); /* in order, once each */
    m->calls++;
    m->hit[i] = v != NULL;
    m->miss[i] = miss;
    if (v != NULL) {
        assert_true(v->nbytes < sizeof(m->val[i]));
        memcpy(m->val[i], v->value, v->nbytes);
        m->val[i][v->nbytes] = '\0';
    }
}

static void
keys_of(struct store_key *k, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        store_key_init(&k[i], names[i], strlen(names[i]));
    }
}

static void
test_get_many_hits_misses_in_order(void **state)
{
    (void)state;
    struct store_config cfg = test_config(8 << 20, 16);
    struct store *s = test_store(&cfg);
    assert_int_equal(kv_set(s, "a", "1"), STORE_OK);
    assert_int_equal(kv_set(s, "c", "3"), STORE_OK);
    assert_int_equal(kv_set_exp(s, "e", "v", clock_now() - 1), STORE_OK);
    const char *names[] = {"a", "b", "c", "e"};
    struct store_key k[4];
    keys_of(k, names, 4);
    struct many_got m;
    memset(&m, 0, sizeof(m));
    store_get_many(s, k, 4, on_many, &m);
    assert_int_equal(m.calls, 4);
    assert_true(m.hit[0] && !m.hit[1] && m.hit[2] && !m.hit[3]);
    assert_string_equal(m.val[0], "1");
    assert_string_equal(m.val[2], "3");
    assert_int_equal(m.miss[0], STORE_MISS_NONE);
    assert_int_equal(m.miss[1], STORE_MISS_ABSENT);
    assert_int_equal(m.miss[3], STORE_MISS_EXPIRED);
    store_destroy(&s);
}

/*
 * A writer MSETs two keys of different shards to the same counter, over
 * and over; a reader reads both with store_get_many and must always see
 * them equal. Reading them one at a time sees a new one and an old one.
 */
#define TORN_WRITES 20000

struct torn {
    struct store *s;
    const char *ka, *kb;
    _Atomic bool reading;
    _Atomic bool done;
};

struct torn_pairs {
    const char *ka, *kb;
    char v[24];
};

static void
torn_pair(void *ctx, size_t i, struct store_key *k, struct store_set_req *r)
{
    struct torn_pairs *p = ctx;
    const char *key = i == 0 ? p->ka : p->kb;
    store_key_init(k, key, strlen(key));
    r->value = p->v;
    r->nbytes = (uint32_t)strlen(p->v);
}

static void *
torn_writer(void *arg)
{
    struct torn *t = arg;
    struct torn_pairs p = {.ka = t->ka, .kb = t->kb};
    while (!atomic_load(&t->reading)) {
        /* start with the reader, so the two overlap */
    }
    for (unsigned i = 1; i <= TORN_WRITES; i++) {
        snprintf(p.v, sizeof(p.v), "%u", i);
        assert_int_equal(store_set_many(t->s, 2, torn_pair, &p, false), STORE_OK);
    }
    atomic_store(&t->done, true);
    return NULL;
}

static void
test_get_many_sees_mset_whole(void **state)
{
    (void)state;
    struct store_config cfg = test_config(8 << 20, 4);
    struct store *s = test_store(&cfg);
    char ka[32], kb[32];
    unsigned next = 0;
    key_in_shard(ka, sizeof(ka), 1, &next);
    key_in_shard(kb, sizeof(kb), 2, &next);
    static struct torn t;
    t = (struct torn){.s = s, .ka = ka, .kb = kb};
    const char *names[] = {ka, kb};
    struct store_key k[2];
    keys_of(k, names, 2);
    pthread_t w;
    assert_int_equal(pthread_create(&w, NULL, torn_writer, &t), 0);
    unsigned reads = 0, both = 0;
    atomic_store(&t.reading, true);
    while (!atomic_load(&t.done) || reads == 0) {
        struct many_got m;
        memset(&m, 0, sizeof(m));
        store_get_many(s, k, 2, on_many, &m);
        assert_int_equal(m.hit[0], m.hit[1]);
        if (m.hit[0]) {
            assert_string_equal(m.val[0], m.val[1]);
            both++;
        }
        reads++;
    }
    pthread_join(w, NULL);
    print_message("%u reads, %u saw both keys\n", reads, both);
    /* However the threads were scheduled, the last MSET is there whole. */
    struct many_got m;
    memset(&m, 0, sizeof(m));
    store_get_many(s, k, 2, on_many, &m);
    assert_true(m.hit[0] && m.hit[1]);
    char last[24];
    snprintf(last, sizeof(last), "%u", TORN_WRITES);
    assert_string_equal(m.val[0], last);
    assert_string_equal(m.val[1], last);
    store_destroy(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mset_stores_every_pair),
        cmocka_unit_test(test_msetnx_all_or_nothing),
        cmocka_unit_test(test_mset_too_large_changes_nothing),
        cmocka_unit_test(test_mset_without_evictions_when_full),
        cmocka_unit_test(test_mset_when_memory_is_full),
        cmocka_unit_test(test_msetnx_race_one_winner),
        cmocka_unit_test(test_get_many_hits_misses_in_order),
        cmocka_unit_test(test_get_many_sees_mset_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
