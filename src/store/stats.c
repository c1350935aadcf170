/*
 * stats: the store's statistics, summed on read from the shards (items,
 * bytes, lazy reclaims) and the heads (evictions and what compaction
 * reclaimed, by size class). Nothing here is on a request's path.
 *
 * Per-class item counts and bytes (`stats items`, `stats slabs`) are not
 * kept as items come and go (that would be a counter per shard and class,
 * or a shared one); store_each_class counts them by walking the item
 * headers of every segment, about 10 ms per million items.
 */
#include <string.h>

#include "stashd/util/clock.h"
#include "store/store_int.h"

/* Sum the heads' counters, each under its head's lock (total_items: may
 * be NULL). */
static void
sum_heads(struct store *s, struct head_ctr *by_class, unsigned ncls, uint64_t *total_items,
          uint64_t *moved)
{
    struct segs *sg = &s->segs;
    for (uint32_t i = 0; i < sg->nheads; i++) {
        struct head *h = &sg->heads[i];
        seg_head_lock(h);
        if (total_items != NULL) {
            *total_items += h->total_items;
        }
        *moved += h->moved;
        for (unsigned c = 0; c < ncls; c++) {
            struct head_ctr *o = &by_class[c];
            const struct head_ctr *x = &h->ctr[c];
            o->evicted += x->evicted;
            o->evicted_nonzero += x->evicted_nonzero;
            o->evicted_unfetched += x->evicted_unfetched;
            o->reclaimed += x->reclaimed;
            o->expired += x->expired;
            o->expired_unfetched += x->expired_unfetched;
            o->outofmemory += x->outofmemory;
            if (x->evicted_at != 0 && x->evicted_at >= o->evicted_at) {
                o->evicted_at = x->evicted_at;
                o->evicted_time = x->evicted_time;
            }
        }
        seg_head_unlock(h);
    }
}

void
store_get_stats(struct store *s, struct store_stats *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->fold_lock);
    out->reclaimed = s->reclaimed;
    out->expired = s->expired;
    out->expired_unfetched = s->expired_unfetched;
    uint32_t now = clock_now();
    for (uint32_t i = 0; i < s->nshards; i++) {
        struct shard *sh = &s->shards[i];
        shard_lock(sh);
        shard_sync_flush(s, sh, now); /* a delayed flush counts from its time */
        out->curr_items += sh->nlive;
        out->expiring += sh->nexpiring;
        out->bytes += sh->bytes;
        out->reclaimed += sh->reclaimed;
        out->expired += sh->expired;
        out->expired_unfetched += sh->expired_unfetched;
        out->hash_buckets += sh->ix.n;
        out->hash_bytes += index_bytes(&sh->ix);
        shard_unlock(sh);
    }
    pthread_mutex_unlock(&s->fold_lock);
    unsigned ncls = s->segs.cls.count + 1;
    struct head_ctr by_class[SIZECLASS_MAX + 1];
    memset(by_class, 0, sizeof(by_class));
    sum_heads(s, by_class, ncls, &out->total_items, &out->items_moved);
    for (unsigned c = 0; c < ncls; c++) {
        out->evictions += by_class[c].evicted;
        out->evicted_nonzero += by_class[c].evicted_nonzero;
        out->evicted_unfetched += by_class[c].evicted_unfetched;
        out->reclaimed += by_class[c].reclaimed;
        out->expired += by_class[c].expired;
        out->expired_unfetched += by_class[c].expired_unfetched;
        out->outofmemory += by_class[c].outofmemory;
    }
    out->limit_maxbytes = atomic_load_explicit(&s->limit, memory_order_relaxed);
    out->total_malloced = arena_resident_bytes(s->segs.arena);
    out->shards = s->nshards;
    out->restart_warm = s->restart.restored;
    out->restart_items = s->restart.items;
    out->restart_dropped = s->restart.dropped;
}

uint64_t
store_debug_segment_locks(const struct store *s)
{
    return atomic_load_explicit(&s->segs.lock_count, memory_order_relaxed);
}

int
store_debug_items_readonly(struct store *s, bool readonly)
{
    return arena_debug_protect(s->segs.arena, readonly);
}

/* --- per class ------------------------------------------------------------- */

struct class_walk {
    struct store *s;
    struct store_class_stats *cs;
    uint32_t now;
    bool oldest; /* the segment walked is the next to be evicted: sample age */
};

/* Count the linked items of segment i by class (it is held still). */
static void
count_segment(struct store *s, uint32_t i, struct class_walk *cw)
{
    struct segs *sg = &s->segs;
    char *base = seg_addr(sg, i);
    uint32_t fill = atomic_load_explicit(&sg->seg[i].fill, memory_order_relaxed);
    for (uint64_t off = seg_start(sg, i); off < fill;) {
        struct item *it = (struct item *)(base + off);
        uint64_t size = item_size(it);
        off += item_span_of(&sg->sp, size);
        if (!(item_state_load(it) & ITEM_LINKED)) {
            continue;
        }
        struct store_class_stats *o = &cw->cs[sizeclass_of(&sg->cls, size)];
        o->number++;
        o->mem_requested += size;
        if (cw->oldest) {
            /* atime is the shard lock's; a stale read only skews "age". */
            uint32_t at = __atomic_load_n(&it->atime, __ATOMIC_RELAXED);
            uint32_t idle = cw->now > at ? cw->now - at : 0;
            o->age = idle > o->age ? idle : o->age;
        }
    }
}

static void
count_still(void *ctx, uint32_t i, bool oldest)
{
    struct class_walk *cw = ctx;
    cw->oldest = oldest;
    count_segment(cw->s, i, cw);
}

void
store_each_class(struct store *s, store_class_fn fn, void *ctx)
{
    struct segs *sg = &s->segs;
    unsigned ncls = sg->cls.count + 1;
    struct store_class_stats cs[SIZECLASS_MAX + 1];
    struct head_ctr by_class[SIZECLASS_MAX + 1];
    memset(cs, 0, sizeof(cs));
    memset(by_class, 0, sizeof(by_class));
    struct class_walk cw = {.s = s, .cs = cs, .now = clock_now()};
    for (uint32_t i = 0; i < sg->nsegs; i++) {
        seg_with_still(sg, i, true, count_still, &cw);
    }
    uint64_t moved = 0;
    sum_heads(s, by_class, ncls, NULL, &moved);
    for (unsigned c = 0; c < ncls; c++) {
        struct store_class_stats *o = &cs[c];
        const struct head_ctr *x = &by_class[c];
        o->id = c + 1; /* memcached numbers classes from 1 */
        o->evicted = x->evicted;
        o->evicted_nonzero = x->evicted_nonzero;
        o->evicted_unfetched = x->evicted_unfetched;
        o->expired_unfetched = x->expired_unfetched;
        o->reclaimed = x->reclaimed;
        o->outofmemory = x->outofmemory;
        o->evicted_time = x->evicted_time;
        /* Items are not in class-sized chunks: a class's "chunks" are its
         * items, and its "pages" the segments' worth of bytes they take. */
        o->chunk_size = c < sg->cls.count ? sg->cls.size[c] : 0;
        o->chunks_per_page = o->chunk_size ? sg->seg_size / o->chunk_size : 1;
        o->total_pages = (o->mem_requested + sg->seg_size - 1) / sg->seg_size;
        o->total_chunks = o->used_chunks = o->number;
        o->free_chunks = 0;
        if (o->number != 0 || o->evicted != 0 || o->reclaimed != 0 || o->outofmemory != 0) {
            fn(ctx, o);
        }
    }
}
