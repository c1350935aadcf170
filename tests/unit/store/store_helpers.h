/*
 * Helpers shared by the store unit tests (header-only, static inline so
 * each test executable takes what it uses). Include after cmocka.h.
 */
#pragma once

#include <stdio.h>
#include <string.h>

#include "stashd/store/store.h"
#include "stashd/util/clock.h"
#include "stashd/util/hash.h"

/* A default configuration for tests: memcached's defaults, sized down. */
static inline struct store_config
test_config(uint64_t memory_limit, uint32_t shards)
{
    return (struct store_config){
        .memory_limit = memory_limit,
        .max_item_size = 1024 * 1024,
        .growth_factor = 1.25,
        .slab_min_size = 48,
        .shards = shards,
        .threads = 1,
        .evictions = true,
        .cas_enabled = true,
    };
}

static inline struct store *
test_store(const struct store_config *cfg)
{
    static int setup_done;
    if (!setup_done) {
        clock_setup();
        hash_setup(0x1234567);
        setup_done = 1;
    }
    struct store *s = NULL;
    assert_int_equal(store_create(&s, cfg), 0);
    assert_non_null(s);
    return s;
}

/* What a read copies out of the store. */
struct got {
    char value[256 * 1024];
    uint32_t nbytes;
    uint32_t flags;
    uint32_t exptime;
    uint32_t atime;
    uint64_t cas;
    bool fetched;
    bool large_value; /* value did not fit in value[]; only nbytes is valid */
};

static inline void
got_copy(void *ctx, const struct store_item_view *v)
{
    struct got *g = ctx;
    g->nbytes = v->nbytes;
    g->flags = v->flags;
    g->exptime = v->exptime;
    g->atime = v->atime;
    g->cas = v->cas;
    g->fetched = v->fetched;
    g->large_value = v->nbytes > sizeof(g->value);
    if (!g->large_value) {
        memcpy(g->value, v->value, v->nbytes);
    }
}

static inline enum store_rc
kv_set_mode(struct store *s, enum store_mode mode, const char *key, const char *value,
            size_t nbytes, uint32_t flags, uint32_t exptime, uint64_t cas, uint64_t *cas_out)
{
    struct store_key k;
    store_key_init(&k, key, strlen(key));
    struct store_set_req r = {
        .mode = mode,
        .value = value,
        .nbytes = (uint32_t)nbytes,
        .flags = flags,
        .exptime = exptime,
        .cas = cas,
    };
    return store_set(s, &k, &r, cas_out);
}

static inline enum store_rc
kv_set(struct store *s, const char *key, const char *value)
{
    return kv_set_mode(s, STORE_MODE_SET, key, value, strlen(value), 0, 0, 0, NULL);
}

static inline enum store_rc
kv_set_exp(struct store *s, const char *key, const char *value, uint32_t exptime)
{
    return kv_set_mode(s, STORE_MODE_SET, key, value, strlen(value), 0, exptime, 0, NULL);
}

static inline enum store_rc
kv_get(struct store *s, const char *key, struct got *g, enum store_miss *miss)
{
    struct store_key k;
    store_key_init(&k, key, strlen(key));
    return store_get(s, &k, NULL, got_copy, g, miss);
}

/* The value of key as a NUL-terminated string in g->value, or NULL. */
static inline const char *
kv_str(struct store *s, const char *key, struct got *g)
{
    if (kv_get(s, key, g, NULL) != STORE_OK) {
        return NULL;
    }
    g->value[g->nbytes] = '\0';
    return g->value;
}

static inline enum store_rc
kv_delete(struct store *s, const char *key, uint64_t cas)
{
    struct store_key k;
    store_key_init(&k, key, strlen(key));
    return store_delete(s, &k, cas);
}

static inline void
noop_read(void *ctx, const struct store_item_view *v)
{
    (void)ctx;
    (void)v;
}

static inline bool
kv_exists(struct store *s, const char *key)
{
    struct store_key k;
    store_key_init(&k, key, strlen(key));
    return store_get(s, &k, NULL, noop_read, NULL, NULL) == STORE_OK;
}

static inline struct store_stats
kv_stats(struct store *s)
{
    struct store_stats st;
    store_get_stats(s, &st);
    return st;
}
