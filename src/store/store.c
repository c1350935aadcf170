/*
 * store: the facade (see stashd/store/store.h): set-up, and the
 * operations on one key that every protocol uses most: get, set, delete,
 * touch. The rest is split by job (store_int.h lists the files).
 *
 * A read locks the key's shard, probes its index, copies through the
 * caller's callback and marks the item accessed (writing only bits that
 * change): no allocation, no shared counter. A store of a plain value
 * writes the new item into its head's segment before it takes the shard
 * lock, so the lock covers only the probe, the checks and the link; a
 * store that needs the old item first (append, KEEPTTL, meta stale sets)
 * allocates under the lock from its head's room, or drops the lock to
 * make room and looks again.
 */
#include "stashd/store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stashd/util/clock.h"
#include "stashd/util/log.h"
#include "store/restart.h"
#include "store/store_int.h"

/* Shards: at least this many, so 16 workers rarely meet on one lock
 * (Pogocache runs 4096), and more for large limits, so that a shard's
 * index (rehashed whole when it grows) stays small: one shard per
 * SHARD_BYTES of the limit. */
#define SHARDS_MIN 4096
#define SHARD_BYTES (256u * 1024)
/* Segments: 1 MiB, or less under 16 MiB so that there are 16. On huge
 * pages (store_config.large_pages) 2 MiB, one huge page each: the unit
 * the kernel makes resident is then the unit the arena counts, and a
 * segment given back leaves no half-used huge page for khugepaged to
 * fill in again. */
#define SEG_MAX_BYTES (1u << 20)
#define SEG_HUGE_BYTES ((uint32_t)ARENA_HUGE_PAGE)
#define SEGS_MIN 16
/* The reserved range: 4 times the limit (room to raise it, and to find
 * runs for items larger than a segment), within what 32-bit refs reach. */
#define RANGE_FACTOR 4
#define REF_SHIFT_MAX 6
/* Heads: one per worker and one more; at most one per 8 segments. */
#define SEGS_PER_HEAD 8

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

static unsigned
log2_ceil(uint64_t v)
{
    unsigned b = 0;
    while (((uint64_t)1 << b) < v) {
        b++;
    }
    return b;
}

/* cfg->shards (a power of two), or the derived count; 0 if invalid. */
static uint32_t
shard_count(const struct store_config *cfg)
{
    if (cfg->shards != 0) {
        bool pow2 = (cfg->shards & (cfg->shards - 1)) == 0;
        return pow2 && cfg->shards <= SHARDS_LIMIT ? cfg->shards : 0;
    }
    uint64_t n = pow2_ceil(cfg->memory_limit / SHARD_BYTES);
    n = n < SHARDS_MIN ? SHARDS_MIN : n > SHARDS_LIMIT ? SHARDS_LIMIT : n;
    return (uint32_t)n;
}

/* Segment size, reserved segments and ref shift for a limit; false if
 * the limit is too small or too large. */
static bool
arena_shape(uint64_t limit, bool huge, uint32_t *seg_size, uint32_t *nsegs, unsigned *shift)
{
    uint64_t seg = pow2_floor(limit / SEGS_MIN);
    uint64_t max = huge ? SEG_HUGE_BYTES : SEG_MAX_BYTES;
    seg = seg > max ? max : seg;
    if (seg < ARENA_SEG_MIN || limit < 4 * (uint64_t)ARENA_SEG_MIN) {
        return false;
    }
    uint64_t range = limit * RANGE_FACTOR;
    uint64_t reach = (uint64_t)1 << (32 + ITEM_REF_SHIFT_MIN);
    if (range > reach) {
        /* Past 32 GiB: keep 8-byte refs while twice the limit fits. */
        range = limit * 2 <= reach ? reach : limit * 2;
    }
    unsigned sh = log2_ceil(range);
    sh = sh > 32 + ITEM_REF_SHIFT_MIN ? sh - 32 : ITEM_REF_SHIFT_MIN;
    uint64_t n = range / seg;
    if (sh > REF_SHIFT_MAX || n > ARENA_NSEGS_MAX) {
        return false;
    }
    *seg_size = (uint32_t)seg;
    *nsegs = (uint32_t)n;
    *shift = sh;
    return true;
}

static uint32_t
head_count(const struct store_config *cfg, uint32_t seg_size)
{
    uint64_t by_mem = cfg->memory_limit / seg_size / SEGS_PER_HEAD;
    uint64_t n = (uint64_t)(cfg->threads ? cfg->threads : 1) + 1;
    n = n > by_mem ? by_mem : n;
    return n < 1 ? 1 : (uint32_t)n;
}

/* --large-pages auto puts item memory on huge pages where what they cost
 * is noise. Each head's open segment is resident whole from its first
 * write, 2 MiB, where 4 KiB pages are resident as they fill: auto is on
 * when those segments come to at most 1/256 of the limit (-t 1 from -m
 * 1024, -t 4 from 2.5 GiB), and from 4 GiB whatever the threads. What it
 * buys: a pipelined batch reads items scattered over the arena, and on
 * 4 KiB pages those reads miss the TLB as well as the cache (README,
 * "Memory"). */
#define LARGE_PAGES_AUTO_MIN ((uint64_t)4 << 30)
#define LARGE_PAGES_AUTO_SHARE 256

static bool
large_pages_auto(const struct store_config *cfg)
{
    uint64_t open = (uint64_t)head_count(cfg, SEG_HUGE_BYTES) * SEG_HUGE_BYTES;
    return cfg->memory_limit >= LARGE_PAGES_AUTO_MIN ||
           open * LARGE_PAGES_AUTO_SHARE <= cfg->memory_limit;
}

/* Huge pages back anonymous item memory only (a memory file's pages are
 * the file's), and only segments of a whole huge page. */
static bool
huge_pages(const struct store_config *cfg)
{
    bool want = cfg->large_pages == STORE_LARGE_PAGES_ON ||
                (cfg->large_pages == STORE_LARGE_PAGES_AUTO && large_pages_auto(cfg));
    return want && (cfg->memory_file == NULL || cfg->memory_file[0] == '\0') &&
           cfg->memory_limit / SEGS_MIN >= SEG_HUGE_BYTES;
}

/* Redis's databases a configuration asks for (0 means 1). */
static uint32_t
store_ndb(const struct store_config *cfg)
{
    return cfg->databases != 0 ? cfg->databases : 1;
}

/* What a configuration makes of the store; false if it is invalid. */
static bool
shape_of(const struct store_config *cfg, struct restart_shape *sh, struct sizeclass *cls)
{
    *sh = (struct restart_shape){
        .memory_limit = cfg->memory_limit,
        .nshards = shard_count(cfg),
        .cas_enabled = cfg->cas_enabled,
        .ndb = store_ndb(cfg),
        .tag = cfg->restart_tag,
    };
    if (sh->nshards == 0 ||
        !arena_shape(cfg->memory_limit, huge_pages(cfg), &sh->seg_size, &sh->nsegs,
                     &sh->ref_shift) ||
        cfg->max_item_size <= ITEM_HDR + 1 || store_ndb(cfg) > STORE_DB_MAX ||
        sizeclass_init(cls, ITEM_HDR, cfg->slab_min_size, cfg->growth_factor) != 0) {
        return false;
    }
    sh->file_size = (uint64_t)sh->nsegs * sh->seg_size;
    return true;
}

/* An empty store of this shape, over anonymous memory (fd -1) or the
 * memory file at fd (which it owns from the call on, failing or not). */
static int
build(struct store **sp, const struct store_config *cfg, const struct restart_shape *shape,
      const struct sizeclass *cls, int fd)
{
    struct store *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        if (fd >= 0) {
            close(fd);
        }
        return -ENOMEM;
    }
    int rc = segs_init(&s->segs, cfg->memory_limit, shape->seg_size, shape->nsegs, shape->ref_shift,
                       head_count(cfg, shape->seg_size), cfg->evictions, cls, fd);
    if (rc != 0) {
        free(s);
        return rc;
    }
    if (fd < 0 && huge_pages(cfg) && shape->seg_size == SEG_HUGE_BYTES) {
        if (arena_use_huge_pages(s->segs.arena)) {
            log_verbose("item memory: 2 MiB segments on transparent huge pages");
        } else {
            log_warn("item memory: the kernel refused transparent huge pages (madvise); "
                     "running on normal pages");
        }
    }
    uint32_t nshards = shape->nshards;
    uint32_t ndb = store_ndb(cfg);
    s->shards = aligned_alloc(_Alignof(struct shard), (size_t)nshards * sizeof(struct shard));
    if (s->shards == NULL) {
        segs_fini(&s->segs);
        free(s);
        return -ENOMEM;
    }
    /* Zeroed is ready: an empty index, lock free. calloc'd memory is
     * untouched until used, so an idle server pays little for 4096. */
    memset(s->shards, 0, (size_t)nshards * sizeof(struct shard));
    s->cold = calloc(nshards, sizeof(*s->cold));
    /* Untouched (so not resident) until a shard holds an item of a
     * database other than 0: 8 bytes a shard and database. */
    s->dbc = ndb > 1 ? calloc((size_t)nshards * (ndb - 1) * 2, sizeof(*s->dbc)) : NULL;
    if (s->cold == NULL || (ndb > 1 && s->dbc == NULL)) {
        free(s->dbc);
        free(s->cold);
        free(s->shards);
        segs_fini(&s->segs);
        free(s);
        return -ENOMEM;
    }
    s->nshards = nshards;
    s->shard_bits = log2_ceil(nshards);
    s->shard_shift = 63 - s->shard_bits;
    s->ndb = ndb;
    for (unsigned d = 0; d < STORE_DB_MAX; d++) {
        atomic_init(&s->head.dbmap[d], (uint8_t)(d < ndb ? d : 0)); /* past ndb: 0 */
    }
    s->max_item_size = cfg->max_item_size;
    s->cas_enabled = cfg->cas_enabled;
    s->config_limit = cfg->memory_limit;
    s->segs.on_evict = cfg->on_evict;
    s->segs.evict_ctx = cfg->evict_ctx;
    atomic_init(&s->limit, cfg->memory_limit);
    atomic_init(&s->index_bytes, 0);
    pthread_mutex_init(&s->flush_lock, NULL);
    pthread_mutex_init(&s->fold_lock, NULL);
    pthread_mutex_init(&s->maint_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->maint_cond, &ca);
    pthread_condattr_destroy(&ca);
    *sp = s;
    return 0;
}

/*
 * A store over the memory file: restored from it when its metadata is
 * trusted (restart.h), else empty over the file emptied. The file stays
 * open and locked throughout; one log line says which start it was.
 */
static int
create_with_file(struct store **sp, const struct store_config *cfg,
                 const struct restart_shape *shape, const struct sizeclass *cls)
{
    struct store_restart_info info = {.file = true};
    struct restart_meta *m = NULL;
    struct store *s = NULL;
    int fd;
    int rc = restart_open(cfg->memory_file, shape, &fd, &m, &info);
    if (rc != 0) {
        return rc;
    }
    if (m != NULL) {
        /* The arena takes a second descriptor of the same open file (and
         * so of its lock): fd stays for an empty start if this fails. */
        int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        rc = dfd < 0 ? -errno : build(&s, cfg, shape, cls, dfd);
        if (rc != 0) {
            snprintf(info.reason, sizeof(info.reason), "cannot map it: %s", strerror(-rc));
        } else if (restart_restore(s, m, &info) != 0) {
            store_destroy(&s);
        }
        restart_meta_free(&m);
    }
    if (s != NULL) {
        close(fd);
    } else {
        rc = restart_clear(fd, shape->file_size);
        if (rc != 0) {
            close(fd);
        } else {
            rc = build(&s, cfg, shape, cls, fd);
        }
        if (rc != 0) {
            log_error("memory file %s: cannot use it: %s", cfg->memory_file, strerror(-rc));
            return rc;
        }
    }
    s->restart = info;
    s->memory_file = strdup(cfg->memory_file);
    s->restart_tag = strdup(cfg->restart_tag != NULL ? cfg->restart_tag : "");
    if (s->memory_file == NULL || s->restart_tag == NULL) {
        store_destroy(&s);
        return -ENOMEM;
    }
    restart_log(cfg->memory_file, &info);
    *sp = s;
    return 0;
}

int
store_create(struct store **sp, const struct store_config *cfg)
{
    struct restart_shape shape;
    struct sizeclass cls;
    if (!shape_of(cfg, &shape, &cls)) {
        return -EINVAL;
    }
    if (cfg->memory_file != NULL && cfg->memory_file[0] != '\0') {
        return create_with_file(sp, cfg, &shape, &cls);
    }
    return build(sp, cfg, &shape, &cls, -1);
}

void
store_restart_info(const struct store *s, struct store_restart_info *out)
{
    *out = s->restart;
}

int
store_save(struct store *s, uint64_t *items)
{
    if (s->memory_file == NULL) {
        return -ENOTSUP;
    }
    return restart_save(s, s->memory_file, s->restart_tag, items);
}

void
store_destroy(struct store **sp)
{
    struct store *s = *sp;
    if (s == NULL) {
        return;
    }
    store_stop_maintenance(s);
    for (uint32_t i = 0; i < s->nshards; i++) {
        index_fini(&s->shards[i].ix);
    }
    free(s->shards);
    free(s->cold);
    free(s->dbc);
    segs_fini(&s->segs);
    pthread_cond_destroy(&s->maint_cond);
    pthread_mutex_destroy(&s->maint_lock);
    pthread_mutex_destroy(&s->fold_lock);
    pthread_mutex_destroy(&s->flush_lock);
    free(s->memory_file);
    free(s->restart_tag);
    free(s);
    *sp = NULL;
}

bool
store_fits(const struct store *s, size_t nkey, size_t nbytes)
{
    if (nkey < 1 || nkey > STORE_KEY_MAX || nbytes > UINT32_MAX) {
        return false;
    }
    return ITEM_HDR + item_vlen_bytes(nbytes) - 1 + nkey + nbytes <= s->max_item_size;
}

unsigned
store_class_for(const struct store *s, size_t nkey, size_t nbytes, uint32_t *size)
{
    uint64_t total = ITEM_HDR + item_vlen_bytes(nbytes) - 1 + (uint64_t)nkey + nbytes;
    if (size != NULL) {
        *size = total > UINT32_MAX ? UINT32_MAX : (uint32_t)total;
    }
    /* store_each_class numbers classes from 1, the large class last. */
    return sizeclass_of(&s->segs.cls, total) + 1;
}

/* --- reads ------------------------------------------------------------------ */

/*
 * Give the live item *itp (at pos, shard locked) the relative expiry
 * exptime, dropping and retaking the lock when it must be copied and h
 * has no room. The item is looked up again then (*itp NULL if it went).
 */
static void
touch_locked(struct store *s, struct shard *sh, struct head *h, const struct store_key *k,
             struct index_pos *pos, struct item **itp, uint32_t exptime, uint32_t now)
{
    struct expiry e = {.sec = exptime};
    struct room rm = {.h = h};
    for (unsigned attempt = 0; *itp != NULL && attempt < STORE_RETRIES; attempt++) {
        if (store_set_expiry(s, sh, &rm, *pos, itp, e) == 0) {
            break;
        }
        uint64_t span = store_expiry_span(s, *itp, e);
        shard_unlock(sh);
        bool room = room_make(s, &rm, span);
        shard_lock(sh);
        shard_sync_flush(s, sh, now);
        enum item_state why;
        *itp = shard_find(s, sh, k, now, pos, &why);
        if (!room) {
            break; /* no memory for the copy: the expiry stays as it was */
        }
    }
    room_drop(s, &rm);
}

/*
 * Three passes over the keys a batch of pipelined requests will look up,
 * so that their cache misses overlap instead of coming one request after
 * another: the shards' lines, then the home buckets, then (each shard
 * tried, not waited for) the items whose tags match. A bucket is read
 * only under its shard's lock, so a bucket array a resize freed is never
 * touched; what changes between here and the requests only costs a
 * wasted prefetch.
 */
void
store_prefetch_many(struct store *s, const uint64_t *hash, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        __builtin_prefetch(shard_of(s, hash[i]), 1);
    }
    for (size_t i = 0; i < n; i++) {
        shard_prefetch_bucket(shard_of(s, hash[i]), hash[i]);
    }
    for (size_t i = 0; i < n; i++) {
        struct shard *sh = shard_of(s, hash[i]);
        if (shard_trylock(sh)) {
            if (sh->ix.n != 0) {
                const struct index_bucket *b = &sh->ix.b[index_home(index_h32(hash[i]), sh->ix.n)];
                uint32_t m = index_tag_match(b, index_tag(hash[i]));
                if (m != 0) {
                    const char *it = (const char *)item_at(&s->segs.sp, b->ref[__builtin_ctz(m)]);
                    /* the lines of its first 128 bytes: header, key and
                     * the start of the value, wherever it starts in a line */
                    __builtin_prefetch(it, 1);
                    __builtin_prefetch(it + 64);
                    __builtin_prefetch(it + 127);
                }
            }
            shard_unlock(sh);
        }
    }
}

/* Flattened: GCC left shard_find, which a dozen callers share, out of
 * line, and the call cost ~12 instructions a get in saved registers and
 * arguments (callgrind, cell b's 200,000 pipelined requests, before ->
 * after, ~3 of it the send(2) change: text 989 -> 975 instructions a
 * request, binary 989 -> 971, RESP 970 -> 956). */
__attribute__((flatten)) enum store_rc
store_get(struct store *s, const struct store_key *k, const struct store_get_opts *o,
          store_read_fn fn, void *ctx, enum store_miss *miss)
{
    enum store_miss sink;
    miss = miss != NULL ? miss : &sink;
    if (!key_ok(k)) {
        *miss = STORE_MISS_ABSENT;
        return STORE_NOT_FOUND;
    }
    uint32_t now = clock_now();
    bool touch = o != NULL && o->touch;
    struct head *h = touch ? seg_head_acquire(&s->segs) : NULL;
    struct shard *sh = store_lock_key(s, k, now);
    struct index_pos pos;
    enum item_state why;
    struct item *it = shard_find(s, sh, k, now, &pos, &why);
    bool wrong = it != NULL && !item_is_string(it) && (o == NULL || !o->any_type);
    if (__builtin_expect(wrong, 0)) {
        it = NULL;
    }
    if (it != NULL && touch) {
        touch_locked(s, sh, h, k, &pos, &it, o->exptime, now);
        why = ITEM_LIVE;
    }
    if (it != NULL) {
        struct store_item_view v;
        store_view(s, sh, it, &v, o != NULL ? o->skip : 0);
        fn(ctx, &v);
        shard_accessed(it, now);
    }
    shard_unlock(sh);
    if (h != NULL) {
        seg_head_release(&s->segs, h);
    }
    *miss = it != NULL ? STORE_MISS_NONE : wrong ? STORE_MISS_WRONGTYPE : miss_of(why);
    return it != NULL ? STORE_OK : STORE_NOT_FOUND;
}

enum store_rc
store_touch(struct store *s, const struct store_key *k, uint32_t exptime)
{
    if (!key_ok(k)) {
        return STORE_NOT_FOUND;
    }
    uint32_t now = clock_now();
    struct head *h = seg_head_acquire(&s->segs);
    struct shard *sh = store_lock_key(s, k, now);
    struct index_pos pos;
    enum item_state why;
    struct item *it = shard_find(s, sh, k, now, &pos, &why);
    if (it != NULL && !item_is_string(it)) {
        it = NULL; /* memcached's touch sees strings only */
    }
    if (it != NULL) {
        touch_locked(s, sh, h, k, &pos, &it, exptime, now);
    }
    if (it != NULL) {
        shard_accessed(it, now);
    }
    shard_unlock(sh);
    seg_head_release(&s->segs, h);
    return it != NULL ? STORE_OK : STORE_NOT_FOUND;
}

enum store_rc
store_delete(struct store *s, const struct store_key *k, uint64_t cas)
{
    if (!key_ok(k)) {
        return STORE_NOT_FOUND;
    }
    uint32_t now = clock_now();
    struct shard *sh = store_lock_key(s, k, now);
    struct index_pos pos;
    enum item_state why;
    struct item *it = shard_find(s, sh, k, now, &pos, &why);
    enum store_rc rc = STORE_NOT_FOUND;
    if (it != NULL) {
        if (cas != 0 && cas != visible_cas(s, sh, it)) {
            rc = STORE_EXISTS;
        } else {
            shard_unlink(s, sh, pos, it, k->hash);
            rc = STORE_OK;
        }
    }
    shard_unlock(sh);
    return rc;
}

/* --- stores ------------------------------------------------------------------ */

/*
 * The mode and cas rules of memcached 1.6 for a key whose live item is
 * old (or NULL): add needs it absent, replace/append/prepend present, cas
 * present with an equal cas (a cas of 0 never matches, as in memcached);
 * any other mode given a nonzero cas also needs it present (else
 * NOT_FOUND) and equal (else EXISTS). An item of another type than
 * string is present for set, add and replace (they replace the whole
 * value, as Redis's SET does) and absent for the modes that build on the
 * old value or its cas (append, prepend, cas).
 */
enum store_rc
store_check_set(const struct store *s, const struct shard *sh, const struct item *old,
                const struct store_set_req *r)
{
    if (old != NULL && !item_is_string(old) &&
        (r->mode == STORE_MODE_APPEND || r->mode == STORE_MODE_PREPEND ||
         r->mode == STORE_MODE_CAS || r->cas != 0)) {
        old = NULL;
    }
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
        if (r->cas == 0 || r->cas != visible_cas(s, sh, old)) {
            /* meta ms I: an older cas stores a stale value (set_with_old) */
            if (r->stale_ok && r->cas != 0 && r->cas < visible_cas(s, sh, old)) {
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
        if (r->cas != visible_cas(s, sh, old)) {
            return STORE_EXISTS;
        }
    }
    return STORE_OK;
}

/* The fields of a plain store's new item. */
static struct item_fields
req_fields(const struct store_key *k, const struct store_set_req *r)
{
    struct item_fields f = {.flags = r->flags, .exptime = r->exptime, .db = k->db};
    if (r->expire_ms != 0) {
        expiry_to_fields(expiry_of_ms(r->expire_ms), &f);
    }
    return f;
}

/* Link it (filled) for k whose live item is old (or NULL, pos unset). */
static enum store_rc
link_new(struct store *s, struct shard *sh, struct head *h, const struct store_key *k,
         struct index_pos pos, struct item *old, struct item *it)
{
    if (old != NULL) {
        shard_replace(s, sh, h, pos, old, it, false);
        return STORE_OK;
    }
    return shard_link(s, sh, h, it, k->hash) == 0 ? STORE_OK : STORE_NO_MEMORY;
}

/* A Redis SET whose deadline has passed: the old item goes, nothing is
 * stored. */
static enum store_rc
set_expired(struct store *s, const struct store_key *k, const struct store_set_req *r)
{
    uint32_t now = clock_now();
    struct shard *sh = store_lock_key(s, k, now);
    struct index_pos pos;
    enum item_state why;
    struct item *old = shard_find(s, sh, k, now, &pos, &why);
    enum store_rc rc = store_check_set(s, sh, old, r);
    if (rc == STORE_OK && old != NULL) {
        shard_unlink(s, sh, pos, old, k->hash);
    }
    shard_unlock(sh);
    return rc;
}

/* An item for k of r->nbytes, taken in h and written but for its value:
 * where the value goes (*ref, *span set), or NULL when no room was made. */
static char *
new_item(struct store *s, struct head *h, const struct store_key *k, const struct store_set_req *r,
         uint32_t now, uint32_t *ref, uint64_t *span)
{
    struct item_fields f = req_fields(k, r);
    const struct item_space *sp = &s->segs.sp;
    *span = item_span_of(sp, item_size_of(item_layout_for(&f, r->nbytes), k->len, r->nbytes));
    *ref = seg_alloc(s, h, *span);
    if (*ref == 0) {
        return NULL;
    }
    struct item *it = item_at(sp, *ref);
    char *v = item_init(it, k->data, (uint8_t)k->len, r->nbytes, &f, now);
    if (r->key_binary) {
        it->state = ITEM_KEY_BINARY;
    }
    return v;
}

/* Link the filled item it for k, under its shard lock, if r's mode and
 * cas allow: STORE_OK (and *cas_out), else why not, it left unlinked. */
static enum store_rc
link_checked(struct store *s, struct head *h, const struct store_key *k,
             const struct store_set_req *r, struct item *it, uint32_t now, uint64_t *cas_out)
{
    struct shard *sh = store_lock_key(s, k, now);
    struct index_pos pos;
    enum item_state why;
    struct item *old = shard_find(s, sh, k, now, &pos, &why);
    enum store_rc rc = store_check_set(s, sh, old, r);
    if (rc == STORE_OK) {
        rc = link_new(s, sh, h, k, pos, old, it);
    }
    if (rc == STORE_OK && cas_out != NULL) {
        *cas_out = visible_cas(s, sh, it);
    }
    shard_unlock(sh);
    return rc;
}

/* A plain set, add, replace or cas: the item is written before the lock. */
static enum store_rc
set_plain(struct store *s, const struct store_key *k, const struct store_set_req *r,
          uint64_t *cas_out)
{
    uint32_t now = clock_now();
    struct head *h = seg_head_acquire(&s->segs);
    uint32_t ref;
    uint64_t span;
    char *v = new_item(s, h, k, r, now, &ref, &span);
    if (v == NULL) {
        seg_head_release(&s->segs, h);
        return STORE_NO_MEMORY;
    }
    if (r->nbytes != 0) {
        memcpy(v, r->value, r->nbytes);
    }
    enum store_rc rc = link_checked(s, h, k, r, item_at(&s->segs.sp, ref), now, cas_out);
    if (rc != STORE_OK) {
        seg_unalloc(&s->segs, h, ref, span); /* h still held: nobody wrote after it */
    }
    seg_head_release(&s->segs, h);
    return rc;
}

/* --- values stored in place (store.h) --------------------------------------- */

static bool
reservable(const struct store_set_req *r)
{
    return r->mode != STORE_MODE_APPEND && r->mode != STORE_MODE_PREPEND && !r->keep_ttl &&
           !r->stale_ok;
}

enum store_rc
store_reserve(struct store *s, const struct store_key *k, const struct store_set_req *r,
              struct store_pending *p)
{
    if (!store_fits(s, k->len, r->nbytes)) {
        return STORE_TOO_LARGE;
    }
    if (!reservable(r)) {
        return STORE_NOT_STORED;
    }
    struct head *h = seg_head_acquire(&s->segs);
    uint32_t ref;
    uint64_t span;
    p->value = new_item(s, h, k, r, clock_now(), &ref, &span);
    if (p->value == NULL) {
        seg_head_release(&s->segs, h);
        return STORE_NO_MEMORY;
    }
    /* Before the head goes: until then the segment is open (or its run
     * pinned), so nothing can take it before this is seen. */
    atomic_fetch_add_explicit(&s->segs.seg[seg_of_ref(&s->segs, ref)].reserved, 1,
                              memory_order_relaxed);
    seg_head_release(&s->segs, h);
    p->ref = ref;
    p->span = span;
    return STORE_OK;
}

uint64_t
store_reserve_cost(const struct store *s, size_t nkey, size_t nbytes)
{
    const struct segs *sg = &s->segs;
    uint64_t seg = sg->seg_size;
    uint64_t need = (uint64_t)nkey + nbytes + ITEM_HDR + ITEM_EXT_MAX + (1u << sg->sp.shift);
    return need <= seg ? seg : (need + seg - 1) / seg * seg;
}

/* The reservation of p ends: its segment may be evicted again. */
static void
unreserve(struct store *s, const struct store_pending *p)
{
    atomic_fetch_sub_explicit(&s->segs.seg[seg_of_ref(&s->segs, p->ref)].reserved, 1,
                              memory_order_release);
}

void
store_abandon(struct store *s, struct store_pending *p)
{
    /* Dead before the segment may be taken (seg.h: seg_count_dead). */
    seg_count_dead(&s->segs, p->ref, p->span);
    unreserve(s, p);
    seg_maybe_free(&s->segs, p->ref);
    p->ref = 0;
}

enum store_rc
store_commit(struct store *s, const struct store_key *k, const struct store_set_req *r,
             struct store_pending *p, uint64_t *cas_out)
{
    const struct item_space *sp = &s->segs.sp;
    struct item *it = item_at(sp, p->ref);
    uint32_t now = clock_now();
    it->atime = now; /* stored now, not when its value began to arrive */
    /* It lies where its value began, maybe in a segment now among the
     * oldest: one second chance, as a new item at the FIFO's end has. */
    item_state_set(it, ITEM_ACCESSED, 0);
    enum store_rc rc = STORE_OK;
    if (r->expire_ms != 0 && expiry_passed(r->expire_ms)) {
        rc = set_expired(s, k, r);
        store_abandon(s, p);
        return rc;
    }
    struct head *h = seg_head_acquire(&s->segs);
    rc = link_checked(s, h, k, r, it, now, cas_out);
    if (rc != STORE_OK) {
        seg_count_dead(&s->segs, p->ref, p->span); /* dead while still reserved */
    }
    seg_head_release(&s->segs, h);
    unreserve(s, p);
    if (rc != STORE_OK) {
        seg_maybe_free(&s->segs, p->ref);
    }
    p->ref = 0;
    return rc;
}

enum store_rc
store_set(struct store *s, const struct store_key *k, const struct store_set_req *r,
          uint64_t *cas_out)
{
    if (!store_fits(s, k->len, r->nbytes)) {
        return STORE_TOO_LARGE;
    }
    if (r->expire_ms != 0 && !r->keep_ttl && expiry_passed(r->expire_ms)) {
        return set_expired(s, k, r);
    }
    if (r->mode == STORE_MODE_APPEND || r->mode == STORE_MODE_PREPEND || r->keep_ttl ||
        r->stale_ok) {
        return store_set_with_old(s, k, r, cas_out);
    }
    return set_plain(s, k, r, cas_out);
}
