/*
 * store: the facade over the shards (see stashd/store/store.h).
 *
 * Each operation hashes nothing (the caller's store_key carries the
 * hash), picks the shard from the top bits, takes its lock once, and does
 * O(1) work plus at most one value copy under it: a hash probe, the mode
 * and cas checks, an allocation (which may evict, see evict.c), the fill
 * and the link. Nothing is allocated per read.
 *
 * Memcached semantics live here: set modes, cas, append/prepend, incr/
 * decr on decimal values, touch, flush_all now or later.
 *
 * The maintenance thread (store_start_maintenance) calls store_maintain
 * about ten times a second: delayed flush, a bounded scan of each shard's
 * buckets that frees dead items, and giving memory back to the pool when
 * the limit was lowered below what is in use.
 */
#include "stashd/store/store.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stashd/mem/slab.h"
#include "stashd/util/clock.h"
#include "stashd/util/log.h"
#include "stashd/util/num.h"
#include "store/shard.h"

/* Shard count bounds when derived from threads and memory. */
#define SHARDS_MIN 16
#define SHARDS_MAX 1024
#define SHARDS_PER_THREAD 8
#define SHARD_MIN_PAGES 32 /* each shard should own at least this many pages */
#define SHARDS_LIMIT 65536 /* largest explicit shard count */
/* Optimistic retries of a store whose lookup went stale while allocating. */
#define SET_RETRIES 4
/* Maintenance: buckets scanned per lock hold, and lock holds per shard per
 * pass (so a pass visits at most 64 * 16 = 1024 buckets of each shard). */
#define MAINT_BUCKETS 64
#define MAINT_BATCHES 16
#define MAINT_INTERVAL_NS 100000000L /* 100 ms */

struct store {
    struct shard_env env; /* what every shard shares (pool, classes, ...) */
    struct shard *shards; /* env.nshards of them, cache-line aligned */
    unsigned shard_bits;  /* log2(nshards) */
    uint64_t max_item_size;
    bool cas_enabled;
    /* Serialises store_flush callers, which read-modify-write
     * env.flush_pending; readers only load it. */
    pthread_mutex_t flush_lock;
    _Atomic uint32_t release_cursor; /* maintenance: next shard asked to give memory back */

    /* Maintenance thread. maint_lock guards maint_stop and the condition
     * variable; maint_running is only touched by start/stop callers. */
    pthread_mutex_t maint_lock;
    pthread_cond_t maint_cond;
    pthread_t maint_thread;
    bool maint_running;
    bool maint_stop;
};

/* --- set-up ------------------------------------------------------------ */

static uint64_t
pow2_floor(uint64_t v)
{
    uint64_t p = 1;
    while (p <= v / 2) {
        p *= 2;
    }
    return p;
}

static uint64_t
pow2_ceil(uint64_t v)
{
    uint64_t p = 1;
    while (p < v) {
        p *= 2;
    }
    return p;
}

/* cfg->shards, or next_pow2(threads * 8) in [16, 1024], cut so each shard
 * gets at least SHARD_MIN_PAGES pages of the limit; 0 if cfg->shards is
 * not a power of two. */
static uint32_t
shard_count(const struct store_config *cfg)
{
    if (cfg->shards != 0) {
        bool pow2 = (cfg->shards & (cfg->shards - 1)) == 0;
        return pow2 && cfg->shards <= SHARDS_LIMIT ? cfg->shards : 0;
    }
    uint64_t threads = cfg->threads ? cfg->threads : 1;
    uint64_t n = pow2_ceil(threads * SHARDS_PER_THREAD);
    n = n < SHARDS_MIN ? SHARDS_MIN : n > SHARDS_MAX ? SHARDS_MAX : n;
    uint64_t by_mem = cfg->memory_limit / (SHARD_MIN_PAGES * SLAB_PAGE_SIZE);
    if (by_mem < n) {
        n = by_mem ? pow2_floor(by_mem) : 1;
    }
    return (uint32_t)n;
}

/* Start each table at about one bucket per KiB of the limit (memcached's
 * default 64 Ki buckets for 64 MiB), within [16, 64 Ki] per shard. */
static unsigned
initial_power(uint64_t limit, uint32_t nshards)
{
    uint64_t want = limit / 1024 / nshards;
    unsigned power = HTABLE_POWER_MIN;
    while (power < 16 && ((uint64_t)1 << power) < want) {
        power++;
    }
    return power;
}

static unsigned
log2_u32(uint32_t v)
{
    unsigned b = 0;
    while (((uint32_t)1 << b) < v) {
        b++;
    }
    return b;
}

int
store_create(struct store **sp, const struct store_config *cfg)
{
    uint32_t nshards = shard_count(cfg);
    if (nshards == 0 || cfg->memory_limit < SLAB_PAGE_SIZE ||
        cfg->max_item_size <= ITEM_HDR_SIZE + 1) {
        return -EINVAL;
    }
    struct store *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return -ENOMEM;
    }
    int rc =
        slab_classes_init(&s->env.classes, ITEM_HDR_SIZE, cfg->slab_min_size, cfg->growth_factor);
    if (rc != 0) {
        goto fail_classes;
    }
    rc = slab_pool_create(&s->env.pool, cfg->memory_limit);
    if (rc != 0) {
        goto fail_classes;
    }
    s->env.nshards = nshards;
    s->env.evictions = cfg->evictions;
    atomic_init(&s->env.flush_pending, 0);
    atomic_init(&s->env.steal_cursor, 0);
    atomic_init(&s->release_cursor, 0);
    s->shard_bits = log2_u32(nshards);
    s->max_item_size = cfg->max_item_size;
    s->cas_enabled = cfg->cas_enabled;
    s->shards = aligned_alloc(_Alignof(struct shard), nshards * sizeof(struct shard));
    if (s->shards == NULL) {
        rc = -ENOMEM;
        goto fail_shards;
    }
    s->env.shards = s->shards;
    unsigned power = initial_power(cfg->memory_limit, nshards);
    uint32_t ready = 0;
    for (; ready < nshards; ready++) {
        rc = shard_init(&s->shards[ready], &s->env, ready, power);
        if (rc != 0) {
            goto fail_shard_init;
        }
    }
    pthread_mutex_init(&s->flush_lock, NULL);
    pthread_mutex_init(&s->maint_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->maint_cond, &ca);
    pthread_condattr_destroy(&ca);
    *sp = s;
    return 0;

fail_shard_init:
    while (ready-- > 0) {
        shard_fini(&s->shards[ready]);
    }
    free(s->shards);
fail_shards:
    slab_pool_destroy(&s->env.pool);
fail_classes:
    free(s);
    return rc;
}

void
store_destroy(struct store **sp)
{
    struct store *s = *sp;
    if (s == NULL) {
        return;
    }
    store_stop_maintenance(s);
    for (uint32_t i = 0; i < s->env.nshards; i++) {
        shard_fini(&s->shards[i]);
    }
    free(s->shards);
    slab_pool_destroy(&s->env.pool);
    pthread_cond_destroy(&s->maint_cond);
    pthread_mutex_destroy(&s->maint_lock);
    pthread_mutex_destroy(&s->flush_lock);
    free(s);
    *sp = NULL;
}

/* --- helpers ------------------------------------------------------------ */

static inline struct shard *
shard_of(const struct store *s, uint64_t hash)
{
    uint64_t i = s->shard_bits ? hash >> (64 - s->shard_bits) : 0;
    return &s->shards[i];
}

static inline bool
key_ok(const struct store_key *k)
{
    return k->len >= 1 && k->len <= STORE_KEY_MAX;
}

/* The cas a client sees. */
static inline uint64_t
visible_cas(const struct store *s, const struct item *it)
{
    return s->cas_enabled ? it->cas : 0;
}

static inline enum store_miss
miss_of(enum item_state why)
{
    switch (why) {
    case ITEM_EXPIRED:
        return STORE_MISS_EXPIRED;
    case ITEM_FLUSHED:
        return STORE_MISS_FLUSHED;
    default:
        return STORE_MISS_ABSENT;
    }
}

/* Lock the key's shard, bring it up to date with a pending flush and
 * look the key up. */
static struct shard *
lock_and_find(struct store *s, const struct store_key *k, uint32_t now, struct item **itp,
              enum item_state *why)
{
    struct shard *sh = shard_of(s, k->hash);
    shard_lock(sh);
    shard_sync_flush(sh, now);
    *itp = shard_find(sh, k->data, k->len, k->hash, now, why);
    return sh;
}

/*
 * After an allocation that disturbed the shard: is the key still bound
 * to the item we looked up (same pointer and same cas, since a freed
 * chunk can come back as a new item of the same key)?
 */
static bool
still_same(struct shard *sh, const struct store_key *k, uint32_t now, struct item *old,
           uint64_t old_cas)
{
    enum item_state why;
    struct item *cur = shard_find(sh, k->data, k->len, k->hash, now, &why);
    return cur == old && (cur == NULL || cur->cas == old_cas);
}

/* --- reads ------------------------------------------------------------- */

bool
store_fits(const struct store *s, size_t nkey, size_t nbytes)
{
    if (nkey < 1 || nkey > STORE_KEY_MAX || nbytes > UINT32_MAX) {
        return false;
    }
    return item_size(nkey, nbytes) <= s->max_item_size;
}

enum store_rc
store_get(struct store *s, const struct store_key *k, const struct store_get_opts *o,
          store_read_fn fn, void *ctx, enum store_miss *miss)
{
    if (!key_ok(k)) {
        if (miss != NULL) {
            *miss = STORE_MISS_ABSENT;
        }
        return STORE_NOT_FOUND;
    }
    uint32_t now = clock_now();
    struct item *it;
    enum item_state why;
    struct shard *sh = lock_and_find(s, k, now, &it, &why);
    if (it == NULL) {
        shard_unlock(sh);
        if (miss != NULL) {
            *miss = miss_of(why);
        }
        return STORE_NOT_FOUND;
    }
    if (o != NULL && o->touch) {
        it->exptime = o->exptime;
    }
    const struct store_item_view v = {
        .key = item_key(it),
        .nkey = it->nkey,
        .value = item_value(it),
        .nbytes = it->nbytes,
        .flags = it->flags,
        .cas = visible_cas(s, it),
        .exptime = it->exptime,
        .atime = it->atime,
        .fetched = (it->iflags & ITEM_FETCHED) != 0,
    };
    fn(ctx, &v);
    shard_accessed(it, now);
    shard_unlock(sh);
    if (miss != NULL) {
        *miss = STORE_MISS_NONE;
    }
    return STORE_OK;
}

enum store_rc
store_touch(struct store *s, const struct store_key *k, uint32_t exptime)
{
    if (!key_ok(k)) {
        return STORE_NOT_FOUND;
    }
    uint32_t now = clock_now();
    struct item *it;
    enum item_state why;
    struct shard *sh = lock_and_find(s, k, now, &it, &why);
    enum store_rc rc = STORE_NOT_FOUND;
    if (it != NULL) {
        it->exptime = exptime;
        shard_accessed(it, now);
        rc = STORE_OK;
    }
    shard_unlock(sh);
    return rc;
}

enum store_rc
store_delete(struct store *s, const struct store_key *k, uint64_t cas)
{
    if (!key_ok(k)) {
        return STORE_NOT_FOUND;
    }
    uint32_t now = clock_now();
    struct item *it;
    enum item_state why;
    struct shard *sh = lock_and_find(s, k, now, &it, &why);
    enum store_rc rc = STORE_NOT_FOUND;
    if (it != NULL) {
        if (cas != 0 && cas != visible_cas(s, it)) {
            rc = STORE_EXISTS;
        } else {
            shard_unlink(sh, it);
            shard_free(sh, it);
            rc = STORE_OK;
        }
    }
    shard_unlock(sh);
    return rc;
}

/* --- stores ------------------------------------------------------------ */

/*
 * The mode and cas rules of memcached 1.6 for a key whose live item is
 * old (or NULL): add needs it absent, replace/append/prepend present, cas
 * present with an equal cas (a cas of 0 never matches, as in memcached);
 * any other mode given a nonzero cas also needs it present (else
 * NOT_FOUND) and equal (else EXISTS).
 */
static enum store_rc
check_set(const struct store *s, const struct item *old, const struct store_set_req *r)
{
    switch (r->mode) {
    case STORE_MODE_ADD:
        if (old != NULL) {
            return STORE_NOT_STORED;
        }
        break;
    case STORE_MODE_REPLACE:
    case STORE_MODE_APPEND:
    case STORE_MODE_PREPEND:
        if (old == NULL) {
            return STORE_NOT_STORED;
        }
        break;
    case STORE_MODE_CAS:
        if (old == NULL) {
            return STORE_NOT_FOUND;
        }
        if (r->cas == 0 || r->cas != visible_cas(s, old)) {
            return STORE_EXISTS;
        }
        return STORE_OK;
    case STORE_MODE_SET:
        break;
    }
    if (r->cas != 0) {
        if (old == NULL) {
            return STORE_NOT_FOUND;
        }
        if (r->cas != visible_cas(s, old)) {
            return STORE_EXISTS;
        }
    }
    return STORE_OK;
}

/* Fill a fresh item: key, header, and the value (joined with old's for
 * append/prepend, which also keep old's flags and expiry). */
static void
fill_set(struct item *it, const struct store_key *k, const struct store_set_req *r,
         const struct item *old, uint32_t nbytes, uint32_t now)
{
    it->nkey = (uint8_t)k->len;
    it->nbytes = nbytes;
    it->atime = now;
    memcpy(item_key(it), k->data, k->len);
    char *v = item_value(it);
    switch (r->mode) {
    case STORE_MODE_APPEND:
        it->flags = old->flags;
        it->exptime = old->exptime;
        memcpy(v, old->data + old->nkey, old->nbytes);
        if (r->nbytes != 0) {
            memcpy(v + old->nbytes, r->value, r->nbytes);
        }
        break;
    case STORE_MODE_PREPEND:
        it->flags = old->flags;
        it->exptime = old->exptime;
        if (r->nbytes != 0) {
            memcpy(v, r->value, r->nbytes);
        }
        memcpy(v + r->nbytes, old->data + old->nkey, old->nbytes);
        break;
    default:
        it->flags = r->flags;
        it->exptime = r->exptime;
        if (r->nbytes != 0) {
            memcpy(v, r->value, r->nbytes);
        }
        break;
    }
}

enum store_rc
store_set(struct store *s, const struct store_key *k, const struct store_set_req *r,
          uint64_t *cas_out)
{
    if (!store_fits(s, k->len, r->nbytes)) {
        return STORE_TOO_LARGE;
    }
    uint32_t now = clock_now();
    struct item *old;
    enum item_state why;
    struct shard *sh = lock_and_find(s, k, now, &old, &why);
    enum store_rc rc;
    for (unsigned attempt = 0;; attempt++) {
        rc = check_set(s, old, r);
        if (rc != STORE_OK) {
            break;
        }
        uint64_t nbytes = r->nbytes;
        if (r->mode == STORE_MODE_APPEND || r->mode == STORE_MODE_PREPEND) {
            /* memcached answers NOT_STORED when the joined item cannot be
             * allocated, too large included. */
            nbytes += old->nbytes;
            if (nbytes > UINT32_MAX || item_size(k->len, nbytes) > s->max_item_size) {
                rc = STORE_NOT_STORED;
                break;
            }
        }
        uint64_t old_cas = old != NULL ? old->cas : 0;
        bool disturbed = false;
        struct item *it = shard_alloc(sh, item_size(k->len, nbytes), now, &disturbed);
        if (it == NULL) {
            rc = STORE_NO_MEMORY;
            break;
        }
        if (disturbed && !still_same(sh, k, now, old, old_cas)) {
            /* The allocation evicted or let others change what we
             * checked: give the chunk back and decide again. */
            shard_free(sh, it);
            if (attempt + 1 >= SET_RETRIES) {
                rc = STORE_NO_MEMORY;
                break;
            }
            old = shard_find(sh, k->data, k->len, k->hash, now, &why);
            continue;
        }
        fill_set(it, k, r, old, (uint32_t)nbytes, now);
        it->cas = shard_next_cas(sh);
        if (old != NULL) {
            shard_replace(sh, old, it, k->hash);
        } else {
            shard_link(sh, it, k->hash);
        }
        if (cas_out != NULL) {
            *cas_out = visible_cas(s, it);
        }
        break;
    }
    shard_unlock(sh);
    return rc;
}

/* --- incr/decr ---------------------------------------------------------- */

static inline bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/*
 * memcached's safe_strtoull over a value that is not NUL-terminated:
 * strtoull(10) rules (leading whitespace, an optional sign, digits, no
 * overflow), then the number must end the value or be followed by
 * whitespace; a value that only parses through a '-' to 2^63 or more is
 * refused (as memcached does for "-1").
 */
static bool
parse_counter(const char *p, size_t n, uint64_t *out)
{
    size_t i = 0;
    while (i < n && is_space(p[i])) {
        i++;
    }
    bool neg = false;
    if (i < n && (p[i] == '+' || p[i] == '-')) {
        neg = p[i] == '-';
        i++;
    }
    size_t start = i;
    uint64_t v = 0;
    bool overflow = false;
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            overflow = true;
        } else {
            v = v * 10 + d;
        }
    }
    if (i == start || overflow || (i < n && !is_space(p[i]))) {
        return false;
    }
    if (neg) {
        v = (uint64_t)0 - v;
    }
    if ((int64_t)v < 0 && memchr(p, '-', n) != NULL) {
        return false;
    }
    *out = v;
    return true;
}

/* Create the item for a missing key (binary incr/decr with initial). */
static enum store_rc
arith_create(struct store *s, struct shard *sh, const struct store_key *k,
             const struct store_arith_req *r, uint32_t now, uint64_t *value_out, uint64_t *cas_out,
             bool *retry)
{
    char buf[24];
    size_t len = num_u64_to_dec(r->initial, buf);
    bool disturbed = false;
    struct item *it = shard_alloc(sh, item_size(k->len, len), now, &disturbed);
    if (it == NULL) {
        return STORE_NO_MEMORY;
    }
    if (disturbed && !still_same(sh, k, now, NULL, 0)) {
        /* Someone stored the key while our lock was dropped. */
        shard_free(sh, it);
        *retry = true;
        return STORE_NO_MEMORY;
    }
    it->nkey = (uint8_t)k->len;
    it->nbytes = (uint32_t)len;
    it->flags = 0;
    it->exptime = r->exptime;
    it->atime = now;
    memcpy(item_key(it), k->data, k->len);
    memcpy(item_value(it), buf, len);
    it->cas = shard_next_cas(sh);
    shard_link(sh, it, k->hash);
    *value_out = r->initial;
    *cas_out = visible_cas(s, it);
    return STORE_OK;
}

/* Write the new value of an arith: in place when it fits (padded with
 * spaces, as memcached does), else as a new item replacing it. */
static enum store_rc
arith_write(struct store *s, struct shard *sh, const struct store_key *k, struct item *it,
            uint64_t value, uint32_t now, uint64_t *cas_out, bool *retry)
{
    char buf[24];
    size_t len = num_u64_to_dec(value, buf);
    if (len <= it->nbytes) {
        memcpy(item_value(it), buf, len);
        memset(item_value(it) + len, ' ', it->nbytes - len);
        it->cas = shard_next_cas(sh);
        shard_accessed(it, now);
        *cas_out = visible_cas(s, it);
        return STORE_OK;
    }
    uint64_t old_cas = it->cas;
    bool disturbed = false;
    struct item *nit = shard_alloc(sh, item_size(k->len, len), now, &disturbed);
    if (nit == NULL) {
        return STORE_NO_MEMORY;
    }
    if (disturbed && !still_same(sh, k, now, it, old_cas)) {
        /* The item we computed from went away (evicted while making room,
         * or changed while the lock was dropped): start over. */
        shard_free(sh, nit);
        *retry = true;
        return STORE_NO_MEMORY;
    }
    nit->nkey = it->nkey;
    nit->nbytes = (uint32_t)len;
    nit->flags = it->flags;
    nit->exptime = it->exptime;
    nit->atime = now;
    memcpy(item_key(nit), k->data, k->len);
    memcpy(item_value(nit), buf, len);
    nit->cas = shard_next_cas(sh);
    shard_replace(sh, it, nit, k->hash);
    *cas_out = visible_cas(s, nit);
    return STORE_OK;
}

/* One try of store_arith under the shard lock; *retry when the
 * allocation made what was checked stale. */
static enum store_rc
arith_once(struct store *s, struct shard *sh, const struct store_key *k,
           const struct store_arith_req *r, uint32_t now, uint64_t *value_out, uint64_t *cas_out,
           bool *retry)
{
    enum item_state why;
    struct item *it = shard_find(sh, k->data, k->len, k->hash, now, &why);
    if (it == NULL) {
        if (!r->create) {
            return STORE_NOT_FOUND;
        }
        return arith_create(s, sh, k, r, now, value_out, cas_out, retry);
    }
    /* memcached's order: not a number-sized value, then cas, then parse.
     * Large items are too long to be numbers (memcached's chunked items). */
    if (it->nbytes == 0 || (it->iflags & ITEM_LARGE)) {
        return STORE_NON_NUMERIC;
    }
    if (r->cas != 0 && r->cas != visible_cas(s, it)) {
        return STORE_EXISTS;
    }
    uint64_t value;
    if (!parse_counter(item_value(it), it->nbytes, &value)) {
        return STORE_NON_NUMERIC;
    }
    if (r->incr) {
        value += r->delta; /* wraps at 2^64 */
    } else {
        value = r->delta > value ? 0 : value - r->delta;
    }
    enum store_rc rc = arith_write(s, sh, k, it, value, now, cas_out, retry);
    if (rc == STORE_OK) {
        *value_out = value;
    }
    return rc;
}

enum store_rc
store_arith(struct store *s, const struct store_key *k, const struct store_arith_req *r,
            uint64_t *value_out, uint64_t *cas_out)
{
    uint64_t value_sink, cas_sink;
    value_out = value_out != NULL ? value_out : &value_sink;
    cas_out = cas_out != NULL ? cas_out : &cas_sink;
    if (!key_ok(k)) {
        return STORE_NOT_FOUND;
    }
    uint32_t now = clock_now();
    struct shard *sh = shard_of(s, k->hash);
    shard_lock(sh);
    shard_sync_flush(sh, now);
    enum store_rc rc = STORE_NO_MEMORY;
    for (unsigned attempt = 0; attempt < SET_RETRIES; attempt++) {
        bool retry = false;
        rc = arith_once(s, sh, k, r, now, value_out, cas_out, &retry);
        if (!retry) {
            break;
        }
    }
    shard_unlock(sh);
    return rc;
}

/* --- flush -------------------------------------------------------------- */

static inline uint64_t
pending_of(uint32_t at, uint32_t gen)
{
    return ((uint64_t)at << 32) | gen;
}

/* Apply a due delayed flush to every shard, then clear it unless a newer
 * store_flush replaced it meanwhile. */
static void
flush_if_due(struct store *s, uint32_t now)
{
    uint64_t p = atomic_load_explicit(&s->env.flush_pending, memory_order_relaxed);
    uint32_t at = (uint32_t)(p >> 32);
    if (at == 0 || now < at) {
        return;
    }
    for (uint32_t i = 0; i < s->env.nshards; i++) {
        shard_lock(&s->shards[i]);
        shard_sync_flush(&s->shards[i], now);
        shard_unlock(&s->shards[i]);
    }
    atomic_compare_exchange_strong_explicit(&s->env.flush_pending, &p, pending_of(0, (uint32_t)p),
                                            memory_order_relaxed, memory_order_relaxed);
}

void
store_flush(struct store *s, uint32_t at)
{
    uint32_t now = clock_now();
    pthread_mutex_lock(&s->flush_lock);
    uint64_t p = atomic_load_explicit(&s->env.flush_pending, memory_order_relaxed);
    uint32_t gen = (uint32_t)p + 1;
    if (at != 0 && at > now) {
        atomic_store_explicit(&s->env.flush_pending, pending_of(at, gen), memory_order_relaxed);
        pthread_mutex_unlock(&s->flush_lock);
        return;
    }
    /* Now: cancel any pending one, then mark every shard. */
    atomic_store_explicit(&s->env.flush_pending, pending_of(0, gen), memory_order_relaxed);
    for (uint32_t i = 0; i < s->env.nshards; i++) {
        struct shard *sh = &s->shards[i];
        shard_lock(sh);
        shard_flush_now(sh);
        sh->flush_gen = gen;
        shard_unlock(sh);
    }
    pthread_mutex_unlock(&s->flush_lock);
}

/* --- memory limit and maintenance ---------------------------------------- */

int
store_set_memory_limit(struct store *s, uint64_t bytes)
{
    if (bytes < SLAB_PAGE_SIZE) {
        return -EINVAL;
    }
    return slab_set_limit(s->env.pool, bytes);
}

uint64_t
store_memory_limit(const struct store *s)
{
    return slab_limit(s->env.pool);
}

/* Give memory back while the pool is over its (lowered) limit: one shard
 * lock hold per page; stops after a full round that freed nothing. */
static void
release_over_limit(struct store *s, uint32_t now)
{
    uint32_t idle = 0;
    while (slab_used(s->env.pool) > slab_limit(s->env.pool) && idle < s->env.nshards) {
        uint32_t i = atomic_fetch_add_explicit(&s->release_cursor, 1, memory_order_relaxed);
        struct shard *sh = &s->shards[i & (s->env.nshards - 1)];
        shard_lock(sh);
        shard_sync_flush(sh, now);
        bool gave = shard_release_memory(sh, now, true);
        shard_unlock(sh);
        idle = gave ? 0 : idle + 1;
    }
}

void
store_maintain(struct store *s)
{
    uint32_t now = clock_now();
    flush_if_due(s, now);
    for (uint32_t i = 0; i < s->env.nshards; i++) {
        struct shard *sh = &s->shards[i];
        for (unsigned b = 0; b < MAINT_BATCHES; b++) {
            shard_lock(sh);
            shard_sync_flush(sh, now);
            shard_scan(sh, MAINT_BUCKETS, now);
            uint64_t buckets = htable_buckets(&sh->ht);
            shard_unlock(sh);
            if ((uint64_t)(b + 1) * MAINT_BUCKETS >= buckets) {
                break;
            }
        }
    }
    release_over_limit(s, now);
}

static void *
maint_main(void *arg)
{
    struct store *s = arg;
    pthread_mutex_lock(&s->maint_lock);
    while (!s->maint_stop) {
        pthread_mutex_unlock(&s->maint_lock);
        store_maintain(s);
        pthread_mutex_lock(&s->maint_lock);
        if (s->maint_stop) {
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += MAINT_INTERVAL_NS;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->maint_cond, &s->maint_lock, &ts);
    }
    pthread_mutex_unlock(&s->maint_lock);
    return NULL;
}

int
store_start_maintenance(struct store *s)
{
    if (s->maint_running) {
        return 0;
    }
    s->maint_stop = false;
    int rc = pthread_create(&s->maint_thread, NULL, maint_main, s);
    if (rc != 0) {
        log_error("store: cannot start the maintenance thread: %s", strerror(rc));
        return -rc;
    }
    s->maint_running = true;
    return 0;
}

void
store_stop_maintenance(struct store *s)
{
    if (!s->maint_running) {
        return;
    }
    pthread_mutex_lock(&s->maint_lock);
    s->maint_stop = true;
    pthread_cond_signal(&s->maint_cond);
    pthread_mutex_unlock(&s->maint_lock);
    pthread_join(s->maint_thread, NULL);
    s->maint_running = false;
}

/* --- statistics ---------------------------------------------------------- */

static void
add_counters(struct store_stats *out, const struct shard_counters *c)
{
    out->evictions += c->evicted;
    out->evicted_nonzero += c->evicted_nonzero;
    out->evicted_unfetched += c->evicted_unfetched;
    out->expired_unfetched += c->expired_unfetched;
    out->reclaimed += c->reclaimed;
    out->outofmemory += c->outofmemory;
}

void
store_get_stats(struct store *s, struct store_stats *out)
{
    memset(out, 0, sizeof(*out));
    unsigned ncls = s->env.classes.count + 1;
    for (uint32_t i = 0; i < s->env.nshards; i++) {
        struct shard *sh = &s->shards[i];
        shard_lock(sh);
        out->curr_items += sh->ht.nitems;
        out->total_items += sh->total_items;
        out->slabs_moved += sh->slabs_moved;
        out->hash_buckets += htable_buckets(&sh->ht);
        for (unsigned c = 0; c < ncls; c++) {
            out->bytes += sh->cls[c].requested;
            add_counters(out, &sh->cls[c].ctr);
        }
        shard_unlock(sh);
    }
    out->hash_bytes = out->hash_buckets * sizeof(struct item *);
    out->limit_maxbytes = slab_limit(s->env.pool);
    out->total_malloced = slab_used(s->env.pool);
    out->shards = s->env.nshards;
}

void
store_each_class(struct store *s, store_class_fn fn, void *ctx)
{
    unsigned ncls = s->env.classes.count + 1;
    struct store_class_stats cs[SLAB_CLASSES_MAX + 1];
    memset(cs, 0, sizeof(cs));
    for (uint32_t i = 0; i < s->env.nshards; i++) {
        struct shard *sh = &s->shards[i];
        shard_lock(sh);
        for (unsigned c = 0; c < ncls; c++) {
            const struct shard_class *sc = &sh->cls[c];
            struct store_class_stats *o = &cs[c];
            o->total_pages += sc->npages;
            o->free_chunks += sc->nfree;
            o->number += sc->nitems;
            o->mem_requested += sc->requested;
            o->evicted += sc->ctr.evicted;
            o->evicted_nonzero += sc->ctr.evicted_nonzero;
            o->evicted_unfetched += sc->ctr.evicted_unfetched;
            o->expired_unfetched += sc->ctr.expired_unfetched;
            o->reclaimed += sc->ctr.reclaimed;
            o->outofmemory += sc->ctr.outofmemory;
        }
        shard_unlock(sh);
    }
    for (unsigned c = 0; c < ncls; c++) {
        struct store_class_stats *o = &cs[c];
        o->id = c + 1; /* memcached numbers classes from 1 */
        if (c < s->env.classes.count) {
            o->chunk_size = s->env.classes.size[c];
            o->chunks_per_page = s->env.classes.per_page[c];
            o->total_chunks = o->total_pages * o->chunks_per_page;
            o->used_chunks = o->total_chunks - o->free_chunks;
        } else {
            /* Large items: one "chunk" each. */
            o->total_chunks = o->used_chunks = o->number;
        }
        if (o->total_pages != 0 || o->number != 0) {
            fn(ctx, o);
        }
    }
}
