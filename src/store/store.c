/*
 * store: the facade over the shards (see stashd/store/store.h).
 *
 * Each operation hashes nothing (the caller's store_key carries the
 * hash), picks the shard from the top bits, takes its lock once, and does
 * O(1) work plus at most one value copy under it: a hash probe, the mode
 * and cas checks, an allocation (which may evict, see evict.c), the fill
 * and the link. Nothing is allocated per read.
 *
 * The storage semantics every protocol shares live here: set modes
 * (memcached's set/add/replace/cas/append/prepend, Redis's NX/XX/GET/
 * KEEPTTL and millisecond deadlines), incr/decr on decimal values, touch,
 * flush now or later, and the multi-key steps of MSET/MGET.
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
/* Each shard should own at least this many pages (8 MiB). A shard is a
 * cache of its own (it takes memory from others only when it holds none),
 * so small shards serve large values badly: with values of 10 B-500 kB at
 * -m 16, 8 shards of 2 MiB had 5771 hits where 2 of 8 MiB had 6379
 * (memcached 6686); at -m 64, 16 shards 26300, 8 shards 27189 (memcached
 * 26812). tests/integration/test_memcap.py's churn, 6 s each. */
#define SHARD_MIN_PAGES 128
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
    s->env.on_evict = cfg->on_evict;
    s->env.evict_ctx = cfg->evict_ctx;
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

/* --- expiry in both forms (see store/item.h) ---------------------------- */

/* An expiry as item fields: a relative second, plus milliseconds when it
 * is a wall-clock (Redis) deadline. sec 0 = never. */
struct expiry {
    uint32_t sec;
    uint32_t ms;
    bool ms_form;
};

static inline int64_t
started_ms(void)
{
    return clock_process_started() * 1000;
}

int64_t
store_now_ms(void)
{
    return item_clock_ms() + started_ms();
}

/* Has a Unix-ms deadline (nonzero) come? */
static inline bool
deadline_passed(int64_t unix_ms)
{
    return unix_ms - started_ms() <= item_clock_ms();
}

/* A Unix-ms deadline (0 = never), as item fields. Deadlines beyond the
 * 32-bit second range are kept at its end (136 years after start). */
static struct expiry
expiry_of_ms(int64_t unix_ms)
{
    if (unix_ms == 0) {
        return (struct expiry){.sec = 0};
    }
    int64_t rel = unix_ms - started_ms();
    if (rel < 1000) {
        return (struct expiry){.sec = CLOCK_EXPIRED};
    }
    if (rel / 1000 >= (int64_t)UINT32_MAX) {
        return (struct expiry){.sec = UINT32_MAX};
    }
    return (struct expiry){
        .sec = (uint32_t)(rel / 1000), .ms = (uint32_t)(rel % 1000), .ms_form = true};
}

static inline struct expiry
expiry_of_item(const struct item *it)
{
    bool ms_form = (it->iflags & ITEM_EXP_MS) != 0;
    return (struct expiry){.sec = it->exptime, .ms = ms_form ? it->flags : 0, .ms_form = ms_form};
}

/* A millisecond deadline on an item that carries client flags has no word
 * for its milliseconds: round it up to the next second. */
static inline struct expiry
expiry_for_flags(struct expiry e, uint32_t client_flags)
{
    if (e.ms_form && (client_flags != 0 || e.sec == 0)) {
        if (e.ms != 0 && e.sec < UINT32_MAX) {
            e.sec++;
        }
        e.ms = 0;
        e.ms_form = false;
    }
    return e;
}

/* Set the client flags and expiry of an item not yet linked. */
static void
item_set_meta(struct item *it, uint32_t client_flags, struct expiry e)
{
    e = expiry_for_flags(e, client_flags);
    it->exptime = e.sec;
    if (e.ms_form) {
        it->flags = e.ms;
        it->iflags |= ITEM_EXP_MS;
    } else {
        it->flags = client_flags;
        it->iflags &= (uint8_t)~ITEM_EXP_MS;
    }
}

/* Change the expiry of a linked item, keeping its client flags. */
static void
item_set_expiry(struct shard *sh, struct item *it, struct expiry e)
{
    e = expiry_for_flags(e, item_client_flags(it));
    shard_set_expiry(sh, it, e.sec, e.ms, e.ms_form);
}

static int64_t
expire_ms_of(const struct item *it)
{
    if (it->exptime == 0) {
        return 0;
    }
    int64_t ms = ((int64_t)clock_process_started() + it->exptime) * 1000;
    return (it->iflags & ITEM_EXP_MS) ? ms + it->flags : ms;
}

static inline void
view_of(const struct store *s, struct item *it, struct store_item_view *v)
{
    *v = (struct store_item_view){
        .key = item_key(it),
        .nkey = it->nkey,
        .value = item_value(it),
        .nbytes = it->nbytes,
        .flags = item_client_flags(it),
        .cas = visible_cas(s, it),
        .exptime = it->exptime,
        .atime = it->atime,
        .fetched = (it->iflags & ITEM_FETCHED) != 0,
        .expire_ms = expire_ms_of(it),
    };
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

unsigned
store_class_for(const struct store *s, size_t nkey, size_t nbytes, uint32_t *size)
{
    uint64_t total = item_size(nkey, nbytes);
    if (size != NULL) {
        *size = total > UINT32_MAX ? UINT32_MAX : (uint32_t)total;
    }
    /* store_each_class numbers classes from 1, the large class last. */
    return slab_class_for(&s->env.classes, total) + 1;
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
        shard_set_expiry(sh, it, o->exptime, 0, false);
    }
    struct store_item_view v;
    view_of(s, it, &v);
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
        shard_set_expiry(sh, it, exptime, 0, false);
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
            /* meta ms I: an older cas stores a stale value (see store_set) */
            if (r->stale_ok && r->cas != 0 && r->cas < visible_cas(s, old)) {
                return STORE_OK;
            }
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
        item_set_meta(it, item_client_flags(old), expiry_of_item(old));
        memcpy(v, old->data + old->nkey, old->nbytes);
        if (r->nbytes != 0) {
            memcpy(v + old->nbytes, r->value, r->nbytes);
        }
        break;
    case STORE_MODE_PREPEND:
        item_set_meta(it, item_client_flags(old), expiry_of_item(old));
        if (r->nbytes != 0) {
            memcpy(v, r->value, r->nbytes);
        }
        memcpy(v + r->nbytes, old->data + old->nkey, old->nbytes);
        break;
    default:
        if (r->keep_ttl) {
            item_set_meta(it, r->flags,
                          old != NULL ? expiry_of_item(old) : (struct expiry){.sec = 0});
        } else if (r->expire_ms != 0) {
            item_set_meta(it, r->flags, expiry_of_ms(r->expire_ms));
        } else {
            item_set_meta(it, r->flags, (struct expiry){.sec = r->exptime});
        }
        if (r->nbytes != 0) {
            memcpy(v, r->value, r->nbytes);
        }
        break;
    }
}

/*
 * The meta state of a freshly filled item: none, but for a base64 key
 * (ms b), and for memcached's stale set (ms I with an older cas), which
 * keeps the old item's expiry and win state and marks the value stale.
 */
static void
set_meta_bits(const struct store *s, struct item *it, const struct store_set_req *r,
              const struct item *old)
{
    if (r->key_binary) {
        it->iflags |= ITEM_KEY_BINARY;
    }
    if (r->stale_ok && old != NULL && r->mode == STORE_MODE_CAS && r->cas != visible_cas(s, old)) {
        item_set_meta(it, r->flags, expiry_of_item(old));
        it->iflags |= (uint8_t)(ITEM_STALE | (old->iflags & ITEM_WIN_SENT));
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
        if (r->expire_ms != 0 && !r->keep_ttl && deadline_passed(r->expire_ms)) {
            /* Redis: a SET whose deadline has passed leaves no key. */
            if (old != NULL) {
                shard_unlink(sh, old);
                shard_free(sh, old);
            }
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
        set_meta_bits(s, it, r, old);
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

/* --- MSET / MSETNX ------------------------------------------------------- */

/* A set of shards by index, to lock them in ascending order: the only
 * order in which any thread holds more than one shard lock (steal() and
 * every walk over all shards hold one at a time). */
struct shard_set {
    uint32_t words; /* (nshards + 63) / 64 */
    uint64_t bits[SHARDS_LIMIT / 64];
};

static void
shard_set_init(struct shard_set *ss, const struct store *s)
{
    ss->words = (s->env.nshards + 63) / 64;
    memset(ss->bits, 0, ss->words * sizeof(ss->bits[0]));
}

static void
shard_set_add(struct shard_set *ss, const struct store *s, uint64_t hash)
{
    size_t i = (size_t)(shard_of(s, hash) - s->shards);
    ss->bits[i / 64] |= (uint64_t)1 << (i % 64);
}

static void
shard_set_lock(struct store *s, const struct shard_set *ss, uint32_t now)
{
    for (uint32_t w = 0; w < ss->words; w++) {
        for (uint64_t b = ss->bits[w]; b != 0; b &= b - 1) {
            struct shard *sh = &s->shards[w * 64 + (uint32_t)__builtin_ctzll(b)];
            shard_lock(sh);
            shard_sync_flush(sh, now);
        }
    }
}

static void
shard_set_unlock(struct store *s, const struct shard_set *ss)
{
    for (uint32_t w = ss->words; w-- > 0;) {
        for (uint64_t b = ss->bits[w]; b != 0; b &= b - 1) {
            shard_unlock(&s->shards[w * 64 + (uint32_t)__builtin_ctzll(b)]);
        }
    }
}

static void
get_pair(store_pair_fn pair, void *ctx, size_t i, struct store_key *k, struct store_set_req *r)
{
    memset(r, 0, sizeof(*r));
    pair(ctx, i, k, r);
    r->mode = STORE_MODE_SET;
    r->cas = 0;
    r->stale_ok = false;
}

/*
 * With every shard of the pairs locked: store pairs from *done on, each
 * allocated without stealing (which would drop a lock). Returns the shard
 * whose allocation failed (*size: the item size it wanted), or NULL when
 * all are stored.
 */
static struct shard *
set_many_locked(struct store *s, size_t n, store_pair_fn pair, void *ctx, uint32_t now,
                size_t *done, uint64_t *size)
{
    for (; *done < n; (*done)++) {
        struct store_key k;
        struct store_set_req r;
        get_pair(pair, ctx, *done, &k, &r);
        struct shard *sh = shard_of(s, k.hash);
        bool disturbed = false;
        sh->no_steal = true;
        struct item *it = shard_alloc(sh, item_size(k.len, r.nbytes), now, &disturbed);
        sh->no_steal = false;
        if (it == NULL) {
            *size = item_size(k.len, r.nbytes);
            return sh;
        }
        /* Looked up after the allocation, which may have evicted it. */
        enum item_state why;
        struct item *old = shard_find(sh, k.data, k.len, k.hash, now, &why);
        fill_set(it, &k, &r, old, r.nbytes, now);
        set_meta_bits(s, it, &r, old);
        it->cas = shard_next_cas(sh);
        if (old != NULL) {
            shard_replace(sh, old, it, k.hash);
        } else {
            shard_link(sh, it, k.hash);
        }
    }
    return NULL;
}

/* MSETNX gave up part way, locks still held: every key was absent when it
 * began, so whatever pairs first..done-1 linked goes again (unseen). */
static void
set_many_undo(struct store *s, size_t first, size_t done, store_pair_fn pair, void *ctx,
              uint32_t now)
{
    for (size_t i = first; i < done; i++) {
        struct store_key k;
        struct store_set_req r;
        get_pair(pair, ctx, i, &k, &r);
        struct shard *sh = shard_of(s, k.hash);
        enum item_state why;
        struct item *it = shard_find(sh, k.data, k.len, k.hash, now, &why);
        if (it != NULL) {
            shard_unlink(sh, it);
            shard_free(sh, it);
        }
    }
}

enum store_rc
store_set_many(struct store *s, size_t n, store_pair_fn pair, void *ctx, bool nx)
{
    struct store_key k;
    struct store_set_req r;
    struct shard_set ss;
    shard_set_init(&ss, s);
    for (size_t i = 0; i < n; i++) {
        get_pair(pair, ctx, i, &k, &r);
        if (!store_fits(s, k.len, r.nbytes)) {
            return STORE_TOO_LARGE;
        }
        shard_set_add(&ss, s, k.hash);
    }
    unsigned nshards = 0;
    for (uint32_t w = 0; w < ss.words; w++) {
        nshards += (unsigned)__builtin_popcountll(ss.bits[w]);
    }
    /*
     * An allocation under several locks cannot take memory from another
     * shard: when one fails, the locks go, that shard makes room the
     * ordinary way (it may steal), and the step starts over. MSETNX undoes
     * what it linked first, so it stays all or nothing; MSET cannot (the
     * values it replaced are gone) and starts over from the pair that
     * failed, so only in that case can a reader see part of an MSET.
     * Rounds: room for each shard once, and a few more for allocations of
     * other clients that take the room first.
     */
    size_t first = 0;
    for (unsigned round = 0; round < 2 * nshards + SET_RETRIES; round++) {
        uint32_t now = clock_now();
        shard_set_lock(s, &ss, now);
        if (nx) {
            for (size_t i = 0; i < n; i++) {
                get_pair(pair, ctx, i, &k, &r);
                enum item_state why;
                if (shard_find(shard_of(s, k.hash), k.data, k.len, k.hash, now, &why) != NULL) {
                    shard_set_unlock(s, &ss);
                    return STORE_NOT_STORED;
                }
            }
        }
        size_t done = first;
        uint64_t size = 0;
        struct shard *short_sh = set_many_locked(s, n, pair, ctx, now, &done, &size);
        if (short_sh != NULL && nx) {
            set_many_undo(s, first, done, pair, ctx, now);
            done = first;
        }
        shard_set_unlock(s, &ss);
        if (short_sh == NULL) {
            return STORE_OK;
        }
        first = done;
        if (!s->env.evictions) {
            /* -M: allocations never steal, so no round would find room
             * (the failure is counted in outofmemory). */
            return STORE_NO_MEMORY;
        }
        shard_lock(short_sh);
        shard_sync_flush(short_sh, now);
        bool disturbed = false;
        struct item *it = shard_alloc(short_sh, size, now, &disturbed);
        if (it != NULL) {
            shard_free(short_sh, it);
        }
        shard_unlock(short_sh);
        if (it == NULL) {
            return STORE_NO_MEMORY;
        }
    }
    return STORE_NO_MEMORY;
}

void
store_get_many(struct store *s, const struct store_key *keys, size_t n, store_many_fn fn, void *ctx)
{
    struct shard_set ss;
    shard_set_init(&ss, s);
    for (size_t i = 0; i < n; i++) {
        shard_set_add(&ss, s, keys[i].hash);
    }
    uint32_t now = clock_now();
    shard_set_lock(s, &ss, now);
    for (size_t i = 0; i < n; i++) {
        const struct store_key *k = &keys[i];
        struct item *it = NULL;
        enum item_state why = ITEM_LIVE;
        struct shard *sh = shard_of(s, k->hash);
        if (key_ok(k)) {
            it = shard_find(sh, k->data, k->len, k->hash, now, &why);
        }
        if (it == NULL) {
            fn(ctx, i, NULL, miss_of(why));
            continue;
        }
        struct store_item_view v;
        view_of(s, it, &v);
        fn(ctx, i, &v, STORE_MISS_NONE);
        shard_accessed(it, now);
    }
    shard_set_unlock(s, &ss);
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
    item_set_meta(it, 0, (struct expiry){.sec = r->exptime});
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
    item_set_meta(nit, item_client_flags(it), expiry_of_item(it));
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
        if (r->created_out != NULL) {
            *r->created_out = true;
        }
        if (r->exptime_out != NULL) {
            *r->exptime_out = 0;
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
    if (r->created_out != NULL) {
        *r->created_out = false;
    }
    if (r->exptime_out != NULL) {
        *r->exptime_out = it->exptime;
    }
    if (r->touch) {
        /* meta ma T: before the write, which carries the expiry over */
        shard_set_expiry(sh, it, r->touch_exptime, 0, false);
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

/* --- read-modify-write (Redis) ------------------------------------------ */

/* Carry out a WRITE whose value has the same length as old's: rewrite
 * old in place (readers copy under the lock, so none sees it half done). */
static void
update_in_place(struct store *s, struct shard *sh, struct item *old,
                const struct store_item_view *ov, const struct store_update *u,
                store_commit_fn commit, void *ctx, uint32_t now)
{
    if (commit != NULL) {
        commit(ctx, ov, u->value != NULL ? NULL : item_value(old));
    }
    if (u->value != NULL && u->nbytes != 0) {
        memmove(item_value(old), u->value, u->nbytes);
    }
    /* The expiry is kept or replaced; the client flags are replaced. */
    struct expiry e = u->keep_expiry ? expiry_of_item(old) : expiry_of_ms(u->expire_ms);
    shard_set_expiry(sh, old, 0, 0, false);
    old->flags = u->flags;
    item_set_expiry(sh, old, e);
    old->iflags &= (uint8_t)~ITEM_META_BITS; /* a new value: no meta state (store.h) */
    old->cas = shard_next_cas(sh);
    shard_accessed(old, now);
    (void)s;
}

/* Carry out a WRITE into a new item. *retry when the allocation made what
 * decide looked at stale. */
static enum store_rc
update_write(struct store *s, struct shard *sh, const struct store_key *k, struct item *old,
             const struct store_item_view *ov, const struct store_update *u, store_commit_fn commit,
             void *ctx, uint32_t now, bool *retry)
{
    uint64_t old_cas = old != NULL ? old->cas : 0;
    bool disturbed = false;
    struct item *it = shard_alloc(sh, item_size(k->len, u->nbytes), now, &disturbed);
    if (it == NULL) {
        return STORE_NO_MEMORY;
    }
    if (disturbed && !still_same(sh, k, now, old, old_cas)) {
        shard_free(sh, it);
        *retry = true;
        return STORE_NO_MEMORY;
    }
    it->nkey = (uint8_t)k->len;
    it->nbytes = u->nbytes;
    it->atime = now;
    memcpy(item_key(it), k->data, k->len);
    struct expiry e = {.sec = 0};
    if (u->keep_expiry) {
        if (old != NULL) {
            e = expiry_of_item(old);
        }
    } else {
        e = expiry_of_ms(u->expire_ms);
    }
    item_set_meta(it, u->flags, e);
    if (u->value != NULL) {
        if (u->nbytes != 0) {
            memcpy(item_value(it), u->value, u->nbytes);
        }
        if (commit != NULL) {
            commit(ctx, ov, NULL);
        }
    } else if (commit != NULL) {
        commit(ctx, ov, item_value(it));
    }
    it->cas = shard_next_cas(sh);
    if (old != NULL) {
        shard_replace(sh, old, it, k->hash);
    } else {
        shard_link(sh, it, k->hash);
    }
    return STORE_OK;
}

static void
unlink_free(struct shard *sh, struct item *it)
{
    shard_unlink(sh, it);
    shard_free(sh, it);
}

/* One decision and its execution; *retry asks for another decide. */
static enum store_rc
update_once(struct store *s, struct shard *sh, const struct store_key *k, struct item *old,
            store_decide_fn decide, store_commit_fn commit, void *ctx, uint32_t now, bool *retry)
{
    struct store_item_view ov;
    const struct store_item_view *ovp = NULL;
    if (old != NULL) {
        view_of(s, old, &ov);
        ovp = &ov;
    }
    struct store_update u;
    memset(&u, 0, sizeof(u));
    decide(ctx, ovp, &u);
    bool expired = !u.keep_expiry && u.expire_ms != 0 && deadline_passed(u.expire_ms);
    switch (u.op) {
    case STORE_UPDATE_WRITE:
        if (!store_fits(s, k->len, u.nbytes)) {
            return STORE_TOO_LARGE;
        }
        if (expired) {
            /* Stored and expired at once: the key goes. */
            if (commit != NULL) {
                commit(ctx, ovp, NULL);
            }
            if (old != NULL) {
                unlink_free(sh, old);
            }
            return STORE_OK;
        }
        if (old != NULL && old->nbytes == u.nbytes) {
            update_in_place(s, sh, old, ovp, &u, commit, ctx, now);
            return STORE_OK;
        }
        return update_write(s, sh, k, old, ovp, &u, commit, ctx, now, retry);
    case STORE_UPDATE_EXPIRE:
    case STORE_UPDATE_DELETE:
        if (commit != NULL) {
            commit(ctx, ovp, NULL);
        }
        if (old == NULL) {
            return STORE_OK;
        }
        if (u.op == STORE_UPDATE_DELETE || expired) {
            unlink_free(sh, old);
        } else {
            item_set_expiry(sh, old, expiry_of_ms(u.expire_ms));
        }
        return STORE_OK;
    case STORE_UPDATE_NONE:
    default:
        if (commit != NULL) {
            commit(ctx, ovp, NULL);
        }
        if (old != NULL) {
            shard_accessed(old, now);
        }
        return STORE_OK;
    }
}

enum store_rc
store_update(struct store *s, const struct store_key *k, store_decide_fn decide,
             store_commit_fn commit, void *ctx)
{
    if (!key_ok(k)) {
        struct store_update u;
        memset(&u, 0, sizeof(u));
        decide(ctx, NULL, &u);
        if (u.op == STORE_UPDATE_WRITE) {
            return STORE_TOO_LARGE;
        }
        if (commit != NULL) {
            commit(ctx, NULL, NULL);
        }
        return STORE_OK;
    }
    uint32_t now = clock_now();
    struct item *old;
    enum item_state why;
    struct shard *sh = lock_and_find(s, k, now, &old, &why);
    enum store_rc rc = STORE_NO_MEMORY;
    for (unsigned attempt = 0; attempt < SET_RETRIES; attempt++) {
        bool retry = false;
        rc = update_once(s, sh, k, old, decide, commit, ctx, now, &retry);
        if (!retry) {
            break;
        }
        rc = STORE_NO_MEMORY;
        old = shard_find(sh, k->data, k->len, k->hash, now, &why);
    }
    shard_unlock(sh);
    return rc;
}

/* --- iteration ---------------------------------------------------------- */

/* One lock hold of a walk looks at up to this many non-empty buckets, or
 * this many buckets in all. */
#define WALK_FULL_BUCKETS 64
#define WALK_BUCKETS 8192

static inline uint64_t
rev64(uint64_t v)
{
    v = ((v >> 1) & 0x5555555555555555ull) | ((v & 0x5555555555555555ull) << 1);
    v = ((v >> 2) & 0x3333333333333333ull) | ((v & 0x3333333333333333ull) << 2);
    v = ((v >> 4) & 0x0f0f0f0f0f0f0f0full) | ((v & 0x0f0f0f0f0f0f0f0full) << 4);
    return __builtin_bswap64(v);
}

/* Redis's dictScan step: increment the reversed cursor. Buckets that one
 * doubling splits (b and b | old_size) come next to each other, and every
 * bucket before the cursor in this order has all its splits before it
 * too, so growth between two steps neither skips nor repeats a bucket. */
static inline uint64_t
scan_next(uint64_t v, uint64_t mask)
{
    v |= ~mask;
    v = rev64(v);
    v++;
    return rev64(v);
}

struct walk_ctx {
    const struct store *s;
    store_read_fn fn;
    void *ctx;
};

static void
walk_item(void *ctx, struct item *it)
{
    struct walk_ctx *w = ctx;
    struct store_item_view v;
    view_of(w->s, it, &v);
    w->fn(w->ctx, &v);
}

/* Work units of one bucket visit: 1/65536 of a bucket of a table at load
 * 1, so a sparse table (tables are sized for the memory limit and never
 * shrink) is walked proportionally faster; at least 1. */
#define SCAN_UNIT 65536u

static inline uint64_t
bucket_cost(const struct shard *sh)
{
    uint64_t buckets = htable_buckets(&sh->ht);
    uint64_t items = sh->ht.nitems;
    uint64_t c = items >= buckets ? SCAN_UNIT : items * SCAN_UNIT / buckets;
    return c ? c : 1;
}

/*
 * The cursor: shard index in the high 32 bits, the bucket cursor (at most
 * HTABLE_POWER_MAX bits) in the low 32. Cursor 0 is shard 0's start.
 *
 * Work per call: Redis looks at up to 10 * count buckets of a table it
 * keeps at about one item per bucket. Ours are sparser, so a bucket costs
 * in proportion to its shard's load (bucket_cost), and a call stops after
 * count items or 10 * count buckets' worth at load 1.
 */
uint64_t
store_scan(struct store *s, uint64_t cursor, uint64_t count, store_read_fn fn, void *ctx)
{
    uint64_t si = cursor >> 32;
    uint64_t v = cursor & 0xffffffffu;
    if (si >= s->env.nshards) {
        return 0;
    }
    count = count ? count : 1;
    uint64_t budget = count > UINT64_MAX / (10 * SCAN_UNIT) ? UINT64_MAX : count * 10 * SCAN_UNIT;
    uint64_t seen = 0, work = 0;
    struct walk_ctx w = {.s = s, .fn = fn, .ctx = ctx};
    uint32_t now = clock_now();
    while (seen < count && work < budget) {
        struct shard *sh = &s->shards[si];
        shard_lock(sh);
        shard_sync_flush(sh, now);
        if (sh->ht.nitems == 0) {
            v = 0; /* nothing here for the whole of this step */
            work += SCAN_UNIT;
        } else {
            uint64_t cost = bucket_cost(sh);
            unsigned full = 0;
            for (unsigned n = 0; n < WALK_BUCKETS && full < WALK_FULL_BUCKETS; n++) {
                uint64_t got = shard_walk_bucket(sh, v & sh->ht.mask, now, walk_item, &w);
                seen += got;
                full += got != 0;
                work += cost;
                v = scan_next(v, sh->ht.mask);
                if (v == 0 || seen >= count || work >= budget) {
                    break;
                }
            }
        }
        shard_unlock(sh);
        if (v == 0 && ++si == s->env.nshards) {
            return 0;
        }
    }
    return (si << 32) | v;
}

struct first_ctx {
    struct walk_ctx w;
    bool found;
};

static void
first_item(void *ctx, struct item *it)
{
    struct first_ctx *f = ctx;
    if (!f->found) {
        f->found = true;
        walk_item(&f->w, it);
    }
}

enum store_rc
store_random(struct store *s, uint64_t rnd, store_read_fn fn, void *ctx)
{
    uint32_t now = clock_now();
    struct first_ctx f = {.w = {.s = s, .fn = fn, .ctx = ctx}};
    uint32_t n = s->env.nshards;
    uint32_t start = (uint32_t)(rnd >> 40) & (n - 1);
    for (uint32_t i = 0; i < n && !f.found; i++) {
        struct shard *sh = &s->shards[(start + i) & (n - 1)];
        shard_lock(sh);
        shard_sync_flush(sh, now);
        uint64_t buckets = htable_buckets(&sh->ht);
        uint64_t b = rnd & sh->ht.mask;
        /* Walk on from a random bucket; drop the lock now and then on a
         * sparse table (its size is read again after each hold). */
        for (uint64_t k = 0; k < buckets && sh->ht.nitems > 0 && !f.found; k++) {
            shard_walk_bucket(sh, b + k, now, first_item, &f);
            if ((k + 1) % WALK_BUCKETS == 0) {
                shard_unlock(sh);
                shard_lock(sh);
                shard_sync_flush(sh, now);
                buckets = htable_buckets(&sh->ht);
            }
        }
        shard_unlock(sh);
    }
    return f.found ? STORE_OK : STORE_NOT_FOUND;
}

uint64_t
store_count(struct store *s)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < s->env.nshards; i++) {
        shard_lock(&s->shards[i]);
        n += s->shards[i].ht.nitems;
        shard_unlock(&s->shards[i]);
    }
    return n;
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

/*
 * A lowered limit is met at once, by evicting here (on the caller's
 * thread, one shard lock hold per page) rather than at the next
 * maintenance pass: until the pool is back under its limit no page and no
 * large item can be had, so stores of large values would fail meanwhile.
 */
int
store_set_memory_limit(struct store *s, uint64_t bytes)
{
    if (bytes < SLAB_PAGE_SIZE) {
        return -EINVAL;
    }
    int rc = slab_set_limit(s->env.pool, bytes);
    if (rc == 0) {
        release_over_limit(s, clock_now());
    }
    return rc;
}

uint64_t
store_memory_limit(const struct store *s)
{
    return slab_limit(s->env.pool);
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
    out->expired += c->expired;
    out->outofmemory += c->outofmemory;
}

void
store_get_stats(struct store *s, struct store_stats *out)
{
    memset(out, 0, sizeof(*out));
    unsigned ncls = s->env.classes.count + 1;
    uint64_t held_buckets = 0;
    for (uint32_t i = 0; i < s->env.nshards; i++) {
        struct shard *sh = &s->shards[i];
        shard_lock(sh);
        out->curr_items += sh->ht.nitems;
        out->expiring += sh->nexpiring;
        out->total_items += sh->total_items;
        out->slabs_moved += sh->slabs_moved;
        out->hash_buckets += htable_buckets(&sh->ht);
        held_buckets += htable_buckets_held(&sh->ht);
        if (sh->ht.old != NULL) {
            out->hash_is_expanding = 1;
        }
        for (unsigned c = 0; c < ncls; c++) {
            out->bytes += sh->cls[c].requested;
            add_counters(out, &sh->cls[c].ctr);
        }
        shard_unlock(sh);
    }
    out->hash_bytes = held_buckets * sizeof(struct item *);
    out->limit_maxbytes = slab_limit(s->env.pool);
    out->total_malloced = slab_used(s->env.pool);
    out->shards = s->env.nshards;
}

/* Items looked at per shard and class for "age". */
#define AGE_SAMPLE 32

static uint32_t
idle_for(const struct item *it, uint32_t now)
{
    return now > it->atime ? now - it->atime : 0;
}

/* The largest idle time among the linked items just ahead of class c's
 * CLOCK hand in this shard (shard lock held). */
static uint32_t
hand_age(const struct shard *sh, unsigned c, uint32_t now)
{
    const struct shard_class *sc = &sh->cls[c];
    if (sc->npages == 0 || sc->nitems == 0) {
        return 0;
    }
    uint32_t size = sh->env->classes.size[c];
    uint32_t per = sh->env->classes.per_page[c];
    uint32_t page = sc->hand_page < sc->npages ? sc->hand_page : 0;
    uint32_t k = sc->hand_chunk;
    uint32_t age = 0;
    for (unsigned n = 0; n < AGE_SAMPLE; n++, k++) {
        if (k >= per) {
            k = 0;
            page = page + 1 < sc->npages ? page + 1 : 0;
        }
        const struct item *it = (const struct item *)(sc->pages[page] + (size_t)k * size);
        if (it->iflags & ITEM_LINKED) {
            uint32_t a = idle_for(it, now);
            age = a > age ? a : age;
        }
    }
    return age;
}

/* The same at the tail of the large-item list (its eviction end). */
static uint32_t
large_age(const struct shard *sh, uint32_t now)
{
    uint32_t age = 0;
    unsigned n = 0;
    for (const struct item_large *l = sh->large_tail; l != NULL && n < AGE_SAMPLE;
         l = l->prev, n++) {
        uint32_t a = idle_for(&l->it, now);
        age = a > age ? a : age;
    }
    return age;
}

void
store_each_class(struct store *s, store_class_fn fn, void *ctx)
{
    unsigned ncls = s->env.classes.count + 1;
    struct store_class_stats cs[SLAB_CLASSES_MAX + 1];
    uint32_t latest[SLAB_CLASSES_MAX + 1];
    memset(cs, 0, sizeof(cs));
    memset(latest, 0, sizeof(latest));
    uint32_t now = clock_now();
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
            if (sc->ctr.evicted_at != 0 && sc->ctr.evicted_at >= latest[c]) {
                latest[c] = sc->ctr.evicted_at;
                o->evicted_time = sc->ctr.evicted_time;
            }
            uint32_t age = c < s->env.classes.count ? hand_age(sh, c, now) : large_age(sh, now);
            o->age = age > o->age ? age : o->age;
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

/* --- memcached meta commands ---------------------------------------------- */

struct store_meta {
    struct store *s;
    struct shard *sh;
    struct item *it;
    struct store_item_view view;
    bool created;
    bool remove;
};

/* The STORE_META_* bits and the item flags they stand for. */
static const struct {
    unsigned meta;
    uint8_t iflag;
} meta_bits[] = {
    {STORE_META_STALE, ITEM_STALE},
    {STORE_META_WIN_SENT, ITEM_WIN_SENT},
    {STORE_META_KEY_BINARY, ITEM_KEY_BINARY},
};
#define NMETA_BITS (sizeof(meta_bits) / sizeof(meta_bits[0]))

/* Link an empty item for a missing key (mg N). NULL when there is no
 * room; *found gets the live item instead if someone stored the key while
 * making room dropped the lock. */
static struct item *
meta_vivify(struct store *s, struct shard *sh, const struct store_key *k, uint32_t now,
            struct item **found)
{
    for (unsigned attempt = 0; attempt < SET_RETRIES; attempt++) {
        bool disturbed = false;
        struct item *it = shard_alloc(sh, item_size(k->len, 0), now, &disturbed);
        if (it == NULL) {
            return NULL;
        }
        if (disturbed && !still_same(sh, k, now, NULL, 0)) {
            shard_free(sh, it);
            enum item_state why;
            *found = shard_find(sh, k->data, k->len, k->hash, now, &why);
            if (*found != NULL) {
                return NULL;
            }
            continue;
        }
        it->nkey = (uint8_t)k->len;
        it->nbytes = 0;
        it->atime = now;
        memcpy(item_key(it), k->data, k->len);
        item_set_meta(it, 0, (struct expiry){.sec = 0});
        it->cas = shard_next_cas(sh);
        shard_link(sh, it, k->hash);
        (void)s;
        return it;
    }
    return NULL;
}

enum store_rc
store_meta(struct store *s, const struct store_key *k, const struct store_meta_opts *o,
           store_meta_fn fn, void *ctx, enum store_miss *miss)
{
    enum store_miss sink;
    miss = miss != NULL ? miss : &sink;
    *miss = STORE_MISS_NONE;
    if (!key_ok(k)) {
        *miss = STORE_MISS_ABSENT;
        return STORE_NOT_FOUND;
    }
    uint32_t now = clock_now();
    struct item *it;
    enum item_state why;
    struct shard *sh = lock_and_find(s, k, now, &it, &why);
    bool created = false;
    if (it == NULL) {
        *miss = miss_of(why);
        if (o == NULL || !o->vivify) {
            shard_unlock(sh);
            return STORE_NOT_FOUND;
        }
        struct item *found = NULL;
        it = meta_vivify(s, sh, k, now, &found);
        if (it != NULL) {
            created = true;
        } else if (found != NULL) {
            it = found;
            *miss = STORE_MISS_NONE;
        } else {
            shard_unlock(sh);
            return STORE_NO_MEMORY;
        }
    }
    struct store_meta m = {.s = s, .sh = sh, .it = it, .created = created};
    view_of(s, it, &m.view);
    fn(ctx, &m);
    if (m.remove) {
        unlink_free(sh, it);
    } else if (o == NULL || !o->no_bump) {
        shard_accessed(it, now);
    }
    shard_unlock(sh);
    return STORE_OK;
}

const struct store_item_view *
store_meta_view(const struct store_meta *m)
{
    return &m->view;
}

bool
store_meta_created(const struct store_meta *m)
{
    return m->created;
}

unsigned
store_meta_state(const struct store_meta *m)
{
    unsigned st = 0;
    for (size_t i = 0; i < NMETA_BITS; i++) {
        if (m->it->iflags & meta_bits[i].iflag) {
            st |= meta_bits[i].meta;
        }
    }
    return st;
}

void
store_meta_set_state(struct store_meta *m, unsigned set, unsigned clear)
{
    for (size_t i = 0; i < NMETA_BITS; i++) {
        if (clear & meta_bits[i].meta) {
            m->it->iflags &= (uint8_t)~meta_bits[i].iflag;
        }
        if (set & meta_bits[i].meta) {
            m->it->iflags |= meta_bits[i].iflag;
        }
    }
}

void
store_meta_set_exptime(struct store_meta *m, uint32_t exptime)
{
    shard_set_expiry(m->sh, m->it, exptime, 0, false);
    m->view.exptime = m->it->exptime;
    m->view.expire_ms = expire_ms_of(m->it);
}

void
store_meta_new_cas(struct store_meta *m)
{
    m->it->cas = shard_next_cas(m->sh);
    m->view.cas = visible_cas(m->s, m->it);
}

void
store_meta_delete(struct store_meta *m)
{
    m->remove = true;
}

unsigned
store_meta_class(const struct store_meta *m)
{
    /* store_each_class numbers classes from 1, the large class last. */
    if (m->it->iflags & ITEM_LARGE) {
        return m->s->env.classes.count + 1;
    }
    return (unsigned)m->it->clsid + 1;
}

uint32_t
store_meta_size(const struct store_meta *m)
{
    return (uint32_t)item_total(m->it);
}
