/*
 * Multithreaded smoke test: threads set, read, touch and delete shared
 * keys under a small memory limit (so eviction, page moves and stealing
 * all run concurrently) while the maintenance thread reclaims and a
 * reader sums statistics. Every value carries a checksum of its key and
 * of itself, checked on every read: a torn or misplaced value fails.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "store_helpers.h"

#define THREADS 4
#define KEYS 2000
#define MAX_VALUE (40 * 1024) /* some values are large items */

static _Atomic bool stop;
static _Atomic uint64_t ops, hits, bad;

struct worker {
    struct store *s;
    uint64_t rng;
    char buf[MAX_VALUE];
    uint32_t got_len;
    char got[MAX_VALUE];
};

static uint64_t
next_rand(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* value = hash(key) (8 bytes) | seed (8 bytes) | pattern from seed */
static uint32_t
make_value(char *buf, const char *key, uint64_t seed, uint32_t len)
{
    uint64_t h = hash_bytes(key, strlen(key));
    memcpy(buf, &h, 8);
    memcpy(buf + 8, &seed, 8);
    for (uint32_t i = 16; i < len; i++) {
        buf[i] = (char)(seed + i * 31);
    }
    return len;
}

static bool
check_value(const char *buf, uint32_t len, const char *key)
{
    if (len < 16) {
        return false;
    }
    uint64_t h, seed;
    memcpy(&h, buf, 8);
    memcpy(&seed, buf + 8, 8);
    if (h != hash_bytes(key, strlen(key))) {
        return false;
    }
    if (len != 16 + seed % (MAX_VALUE - 16)) {
        return false;
    }
    for (uint32_t i = 16; i < len; i++) {
        if (buf[i] != (char)(seed + i * 31)) {
            return false;
        }
    }
    return true;
}

static void
copy_out(void *ctx, const struct store_item_view *v)
{
    struct worker *w = ctx;
    w->got_len = v->nbytes <= MAX_VALUE ? v->nbytes : 0;
    memcpy(w->got, v->value, w->got_len);
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    char key[32];
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        uint64_t r = next_rand(&w->rng);
        snprintf(key, sizeof(key), "key:%u", (unsigned)(r % KEYS));
        struct store_key k;
        store_key_init(&k, key, strlen(key));
        unsigned op = (unsigned)(r >> 32) % 100;
        if (op < 40) {
            uint64_t seed = next_rand(&w->rng);
            /* Mostly small values, some mid-size, a few large. */
            unsigned kind = (unsigned)(seed >> 40) % 100;
            uint64_t span = kind < 80 ? 200 : kind < 97 ? 8000 : MAX_VALUE - 16;
            seed = seed - seed % (MAX_VALUE - 16) + (seed >> 20) % span;
            uint32_t len = make_value(w->buf, key, seed, 16 + (uint32_t)(seed % (MAX_VALUE - 16)));
            struct store_set_req req = {.mode = STORE_MODE_SET, .value = w->buf, .nbytes = len};
            enum store_rc rc = store_set(w->s, &k, &req, NULL);
            if (rc != STORE_OK) {
                atomic_fetch_add(&bad, 1);
            }
        } else if (op < 90) {
            if (op < 45) {
                /* a pipelined batch's look-ahead, racing the others'
                 * sets, deletes and evictions */
                uint64_t h[4] = {k.hash, next_rand(&w->rng), k.hash ^ 1, r};
                store_prefetch_many(w->s, h, 4);
            }
            if (store_get(w->s, &k, NULL, copy_out, w, NULL) == STORE_OK) {
                atomic_fetch_add_explicit(&hits, 1, memory_order_relaxed);
                if (!check_value(w->got, w->got_len, key)) {
                    atomic_fetch_add(&bad, 1);
                }
            }
        } else if (op < 95) {
            store_delete(w->s, &k, 0);
        } else {
            store_touch(w->s, &k, (r & 1) ? 0 : CLOCK_EXPIRED);
        }
        atomic_fetch_add_explicit(&ops, 1, memory_order_relaxed);
    }
    return NULL;
}

static void *
stats_main(void *arg)
{
    struct store *s = arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        struct store_stats st;
        store_get_stats(s, &st);
        if (st.total_malloced > st.limit_maxbytes + 256 * 1024) {
            atomic_fetch_add(&bad, 1);
        }
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 5000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void
run(uint64_t memory, uint32_t shards)
{
    struct store_config cfg = test_config(memory, shards);
    struct store *s = test_store(&cfg);
    assert_int_equal(store_start_maintenance(s), 0);
    atomic_store(&stop, false);
    atomic_store(&ops, 0);
    atomic_store(&hits, 0);
    atomic_store(&bad, 0);
    static struct worker w[THREADS];
    pthread_t t[THREADS + 1];
    for (int i = 0; i < THREADS; i++) {
        w[i].s = s;
        w[i].rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    assert_int_equal(pthread_create(&t[THREADS], NULL, stats_main, s), 0);
    struct timespec ts = {.tv_sec = 1, .tv_nsec = 0};
    nanosleep(&ts, NULL);
    atomic_store(&stop, true);
    for (int i = 0; i <= THREADS; i++) {
        pthread_join(t[i], NULL);
    }
    struct store_stats st;
    store_get_stats(s, &st);
    print_message("threads (%llu MiB, %u shards): %llu ops, %llu hits, %llu evictions, "
                  "%llu pages moved, bad %llu\n",
                  (unsigned long long)(memory >> 20), (unsigned)st.shards, (unsigned long long)ops,
                  (unsigned long long)hits, (unsigned long long)st.evictions,
                  (unsigned long long)st.slabs_moved, (unsigned long long)bad);
    assert_int_equal(atomic_load(&bad), 0);
    assert_true(atomic_load(&hits) > 0);
    store_destroy(&s);
}

static void
test_threads_roomy(void **state)
{
    (void)state;
    run(64 << 20, 0);
}

static void
test_threads_tight(void **state)
{
    (void)state;
    run(2 << 20, 8); /* 4 pages per shard: constant eviction and stealing */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_roomy),
        cmocka_unit_test(test_threads_tight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
