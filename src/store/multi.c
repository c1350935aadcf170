/*
 * multi: Redis's MSET, MSETNX and MGET, each one step across shards.
 *
 * The shards of all the keys are locked together, in ascending index
 * order: the only place a thread holds more than one shard lock, so no
 * two threads can wait on each other. MSET writes every new item into
 * its head's segments first (that may evict, which takes shard locks one
 * at a time, so it happens before any is held); then it locks, checks
 * (MSETNX), links them all and unlocks. Nobody sees some pairs stored
 * and others not, and a store that runs out of memory changes nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "stashd/util/clock.h"
#include "store/store_int.h"

/* Keys handled with arrays on the stack; more take a malloc. */
#define MULTI_STACK 64

/* The distinct shards of a set of keys, ascending. */
struct shard_list {
    uint32_t *idx;
    size_t n;
    uint32_t stack[MULTI_STACK];
};

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* idx must hold count entries; sorts and drops repeats. */
static void
shard_list_finish(struct shard_list *sl)
{
    qsort(sl->idx, sl->n, sizeof(*sl->idx), cmp_u32);
    size_t w = 0;
    for (size_t i = 0; i < sl->n; i++) {
        if (w == 0 || sl->idx[w - 1] != sl->idx[i]) {
            sl->idx[w++] = sl->idx[i];
        }
    }
    sl->n = w;
}

static bool
shard_list_init(struct shard_list *sl, size_t count)
{
    sl->n = 0;
    sl->idx = count <= MULTI_STACK ? sl->stack : malloc(count * sizeof(*sl->idx));
    return sl->idx != NULL;
}

static void
shard_list_fini(struct shard_list *sl)
{
    if (sl->idx != sl->stack) {
        free(sl->idx);
    }
}

static void
shard_list_lock(struct store *s, const struct shard_list *sl, uint32_t now)
{
    for (size_t i = 0; i < sl->n; i++) {
        struct shard *sh = &s->shards[sl->idx[i]];
        shard_lock(sh);
        shard_sync_flush(s, sh, now);
    }
}

static void
shard_list_unlock(struct store *s, const struct shard_list *sl)
{
    for (size_t i = sl->n; i-- > 0;) {
        shard_unlock(&s->shards[sl->idx[i]]);
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
    r->keep_ttl = false;
}

/* Write pair i's item into h's room; its ref, or 0 without memory. */
static uint32_t
write_pair(struct store *s, struct head *h, store_pair_fn pair, void *ctx, size_t i, uint64_t *span,
           uint32_t now)
{
    struct store_key k;
    struct store_set_req r;
    get_pair(pair, ctx, i, &k, &r);
    struct item_fields f = {.flags = r.flags, .exptime = r.exptime, .db = k.db};
    if (r.expire_ms != 0) {
        expiry_to_fields(expiry_of_ms(r.expire_ms), &f);
    }
    *span = item_span_of(&s->segs.sp, item_size_of(item_layout_for(&f, r.nbytes), k.len, r.nbytes));
    uint32_t ref = seg_alloc(s, h, *span);
    if (ref != 0) {
        struct item *it = item_at(&s->segs.sp, ref);
        char *v = item_init(it, k.data, (uint8_t)k.len, r.nbytes, &f, now);
        if (r.nbytes != 0) {
            memcpy(v, r.value, r.nbytes);
        }
        it->state = r.key_binary ? ITEM_KEY_BINARY : 0;
    }
    return ref;
}

/* Is any key of the pairs live? Shards locked. */
static bool
any_exists(struct store *s, size_t n, store_pair_fn pair, void *ctx, uint32_t now)
{
    for (size_t i = 0; i < n; i++) {
        struct store_key k;
        struct store_set_req r;
        get_pair(pair, ctx, i, &k, &r);
        struct index_pos pos;
        enum item_state why;
        if (shard_find(s, shard_of(s, k.hash), &k, now, &pos, &why) != NULL) {
            return true;
        }
    }
    return false;
}

/* Link the written items, in pair order. Shards locked. */
static enum store_rc
link_pairs(struct store *s, struct head *h, size_t n, store_pair_fn pair, void *ctx,
           const uint32_t *refs, const uint64_t *spans, uint32_t now)
{
    enum store_rc rc = STORE_OK;
    for (size_t i = 0; i < n; i++) {
        struct store_key k;
        struct store_set_req r;
        get_pair(pair, ctx, i, &k, &r);
        struct shard *sh = shard_of(s, k.hash);
        struct index_pos pos;
        enum item_state why;
        struct item *old = shard_find(s, sh, &k, now, &pos, &why);
        struct item *it = item_at(&s->segs.sp, refs[i]);
        if (old != NULL) {
            shard_replace(s, sh, h, pos, old, it, false);
        } else if (shard_link(s, sh, h, it, k.hash) != 0) {
            /* The index could not grow (malloc failed): this pair only. */
            seg_unalloc(&s->segs, h, refs[i], spans[i]);
            rc = STORE_NO_MEMORY;
        }
    }
    return rc;
}

static enum store_rc
set_many(struct store *s, size_t n, store_pair_fn pair, void *ctx, bool nx,
         const struct shard_list *sl, uint32_t *refs, uint64_t *spans)
{
    uint32_t now = clock_now();
    struct head *h = seg_head_acquire(&s->segs);
    size_t done = 0;
    for (; done < n; done++) {
        refs[done] = write_pair(s, h, pair, ctx, done, &spans[done], now);
        if (refs[done] == 0) {
            break;
        }
    }
    enum store_rc rc = done < n ? STORE_NO_MEMORY : STORE_OK;
    if (rc == STORE_OK) {
        shard_list_lock(s, sl, now);
        if (nx && any_exists(s, n, pair, ctx, now)) {
            rc = STORE_NOT_STORED;
        } else {
            rc = link_pairs(s, h, n, pair, ctx, refs, spans, now);
            done = 0; /* linked: nothing to give back */
        }
        shard_list_unlock(s, sl);
    }
    while (done-- > 0) {
        seg_unalloc(&s->segs, h, refs[done], spans[done]);
    }
    seg_head_release(&s->segs, h);
    return rc;
}

enum store_rc
store_set_many(struct store *s, size_t n, store_pair_fn pair, void *ctx, bool nx)
{
    struct shard_list sl;
    uint32_t refs_stack[MULTI_STACK];
    uint64_t spans_stack[MULTI_STACK];
    uint32_t *refs = n <= MULTI_STACK ? refs_stack : malloc(n * sizeof(*refs));
    uint64_t *spans = n <= MULTI_STACK ? spans_stack : malloc(n * sizeof(*spans));
    enum store_rc rc = STORE_NO_MEMORY;
    if (refs == NULL || spans == NULL || !shard_list_init(&sl, n)) {
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct store_key k;
        struct store_set_req r;
        get_pair(pair, ctx, i, &k, &r);
        if (!store_fits(s, k.len, r.nbytes)) {
            rc = STORE_TOO_LARGE;
            goto out_list;
        }
        sl.idx[sl.n++] = (uint32_t)(shard_of(s, k.hash) - s->shards);
    }
    shard_list_finish(&sl);
    rc = set_many(s, n, pair, ctx, nx, &sl, refs, spans);
out_list:
    shard_list_fini(&sl);
out:
    if (refs != refs_stack) {
        free(refs);
    }
    if (spans != spans_stack) {
        free(spans);
    }
    return rc;
}

/* Keys first .. first + n - 1 as one step (their shards locked together). */
static bool
get_many(struct store *s, const struct store_key *keys, size_t first, size_t n, store_many_fn fn,
         void *ctx)
{
    struct shard_list sl;
    if (!shard_list_init(&sl, n)) {
        return false;
    }
    for (size_t i = first; i < first + n; i++) {
        sl.idx[sl.n++] = (uint32_t)(shard_of(s, keys[i].hash) - s->shards);
    }
    shard_list_finish(&sl);
    uint32_t now = clock_now();
    shard_list_lock(s, &sl, now);
    for (size_t i = first; i < first + n; i++) {
        const struct store_key *k = &keys[i];
        struct item *it = NULL;
        enum item_state why = ITEM_LIVE;
        struct shard *sh = shard_of(s, k->hash);
        struct index_pos pos;
        if (key_ok(k)) {
            it = shard_find(s, sh, k, now, &pos, &why);
        }
        if (it == NULL) {
            fn(ctx, i, NULL, miss_of(why));
            continue;
        }
        if (!item_is_string(it)) {
            fn(ctx, i, NULL, STORE_MISS_WRONGTYPE);
            continue;
        }
        struct store_item_view v;
        store_view(s, sh, it, &v, 0);
        fn(ctx, i, &v, STORE_MISS_NONE);
        shard_accessed(it, now);
    }
    shard_list_unlock(s, &sl);
    shard_list_fini(&sl);
    return true;
}

void
store_get_many(struct store *s, const struct store_key *keys, size_t n, store_many_fn fn, void *ctx)
{
    if (get_many(s, keys, 0, n, fn, ctx)) {
        return;
    }
    /* No memory for the shard list: a stack's worth at a time (each
     * batch one step, not the whole). */
    for (size_t i = 0; i < n; i += MULTI_STACK) {
        get_many(s, keys, i, n - i < MULTI_STACK ? n - i : MULTI_STACK, fn, ctx);
    }
}
