/*
 * maint: flush_all (now or later), the memory limit at run time, and the
 * maintenance thread that, about ten times a second, applies a due
 * delayed flush, unlinks expired and flushed items (expiry.c), renews
 * old cas numbers, and gives memory back after the limit was lowered.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "stashd/util/clock.h"
#include "stashd/util/log.h"
#include "store/store_int.h"

#define MAINT_INTERVAL_NS 100000000L /* 100 ms */
#define FOLD_PASSES 10               /* passes between visits to every shard */
/* An item's cas_lo is renewed once it is this far behind its shard's
 * sequence; shard_item_seq is exact up to 2^32. */
#define SEQ_RENEW ((uint64_t)1 << 30)

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
    uint64_t p = atomic_load_explicit(&s->flush_pending, memory_order_relaxed);
    uint32_t at = (uint32_t)(p >> 32);
    if (at == 0 || now < at) {
        return;
    }
    for (uint32_t i = 0; i < s->nshards; i++) {
        shard_lock(&s->shards[i]);
        shard_sync_flush(s, &s->shards[i], now);
        shard_unlock(&s->shards[i]);
    }
    atomic_store_explicit(&s->sweep_pending, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->segs.flushes, 1, memory_order_relaxed);
    atomic_compare_exchange_strong_explicit(&s->flush_pending, &p, pending_of(0, (uint32_t)p),
                                            memory_order_relaxed, memory_order_relaxed);
}

void
store_flush(struct store *s, uint32_t at)
{
    uint32_t now = clock_now();
    /* A transaction over every shard took the flush lock already (tx.c). */
    bool own = !tx_running();
    if (own) {
        pthread_mutex_lock(&s->flush_lock);
    }
    uint64_t p = atomic_load_explicit(&s->flush_pending, memory_order_relaxed);
    uint32_t gen = (uint32_t)p + 1;
    if (at != 0 && at > now) {
        atomic_store_explicit(&s->flush_pending, pending_of(at, gen), memory_order_relaxed);
        if (own) {
            pthread_mutex_unlock(&s->flush_lock);
        }
        return;
    }
    /* Now: cancel any pending one, then mark every shard. */
    atomic_store_explicit(&s->flush_pending, pending_of(0, gen), memory_order_relaxed);
    for (uint32_t i = 0; i < s->nshards; i++) {
        struct shard *sh = &s->shards[i];
        shard_lock(sh);
        shard_flush_all(s, sh);
        s->cold[i].flush_gen = gen;
        shard_unlock(sh);
    }
    atomic_store_explicit(&s->sweep_pending, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->segs.flushes, 1, memory_order_relaxed);
    if (own) {
        pthread_mutex_unlock(&s->flush_lock);
    }
}

/* The items' budget for a limit, given the index's bytes. */
static uint64_t
items_budget(uint64_t limit, uint64_t index_bytes, uint32_t seg_size)
{
    uint64_t free_share = limit / INDEX_FREE_SHARE;
    uint64_t over = index_bytes > free_share ? index_bytes - free_share : 0;
    uint64_t floor = 4 * (uint64_t)seg_size;
    return over + floor < limit ? limit - over : floor;
}

void
store_charge_index(struct store *s)
{
    struct segs *sg = &s->segs;
    uint64_t limit = atomic_load_explicit(&s->limit, memory_order_relaxed);
    uint64_t budget = items_budget(
        limit, atomic_load_explicit(&s->index_bytes, memory_order_relaxed), sg->seg_size);
    if (budget == arena_limit(sg->arena)) {
        return;
    }
    /* Lowered: new segments are refused until eviction (allocations, and
     * maintenance) brings resident memory down. */
    segs_lock(sg);
    arena_set_limit(sg->arena, budget);
    segs_unlock(sg);
}

int
store_set_memory_limit(struct store *s, uint64_t bytes)
{
    struct segs *sg = &s->segs;
    if (bytes < 4 * (uint64_t)sg->seg_size || bytes > (uint64_t)sg->nsegs * sg->seg_size) {
        return -EINVAL;
    }
    atomic_store_explicit(&s->limit, bytes, memory_order_relaxed);
    segs_lock(sg);
    int rc = arena_set_limit(
        sg->arena, items_budget(bytes, atomic_load_explicit(&s->index_bytes, memory_order_relaxed),
                                sg->seg_size));
    segs_unlock(sg);
    if (rc != 0) {
        return rc;
    }
    /* A lowered limit is met at once, on the caller's thread, rather than
     * at the next maintenance pass: until then no segment can be had. */
    struct head *h = seg_head_acquire(sg);
    evict_over_limit(s, h);
    seg_head_release(sg, h);
    return 0;
}

uint64_t
store_memory_limit(const struct store *s)
{
    return atomic_load_explicit(&s->limit, memory_order_relaxed);
}

/* Give items of shard sh that fell SEQ_RENEW behind a new cas, and
 * unlink the dead ones met on the way (see shard_item_seq). */
static void
renew_seqs(struct store *s, struct shard *sh, uint32_t now)
{
    const struct item_space *sp = &s->segs.sp;
    for (uint64_t k = 0; k < (uint64_t)sh->ix.n * INDEX_SLOTS; k++) {
        uint32_t ref = index_slot_ref(&sh->ix, k);
        if (ref == 0) {
            continue;
        }
        struct item *it = item_at(sp, ref);
        enum item_state why = shard_item_state(sh, it, now);
        if (why != ITEM_LIVE) {
            struct index_pos pos = {.bucket = (uint32_t)(k / INDEX_SLOTS),
                                    .slot = (uint32_t)(k % INDEX_SLOTS)};
            shard_count_dead(sh, it, why);
            shard_unlink(s, sh, pos, it, item_hash(it));
        } else if (sh->cas_seq - shard_item_seq(sh, it) >= SEQ_RENEW) {
            shard_stamp(sh, it);
        }
    }
    s->cold[shard_index(s, sh)].fresh_lo = (uint32_t)sh->cas_seq;
}

void
store_maintain(struct store *s)
{
    uint32_t now = clock_now();
    flush_if_due(s, now);
    expiry_walk(s, now);
    /* Per shard, once a second: renew old cas numbers when due, and fold
     * the lazy reclaim counters (32 bits) into the store's totals. */
    if (s->maint_passes++ % FOLD_PASSES != 0) {
        goto limit;
    }
    pthread_mutex_lock(&s->fold_lock);
    for (uint32_t i = 0; i < s->nshards; i++) {
        struct shard *sh = &s->shards[i];
        shard_lock(sh);
        if ((uint32_t)sh->cas_seq - s->cold[i].fresh_lo >= SEQ_RENEW) {
            shard_sync_flush(s, sh, now);
            renew_seqs(s, sh, now);
        }
        s->reclaimed += sh->reclaimed;
        s->expired += sh->expired;
        s->expired_unfetched += sh->expired_unfetched;
        sh->reclaimed = sh->expired = sh->expired_unfetched = 0;
        shard_unlock(sh);
    }
    pthread_mutex_unlock(&s->fold_lock);
limit:;
    struct segs *sg = &s->segs;
    if (arena_resident_bytes(sg->arena) > arena_limit(sg->arena)) {
        struct head *h = seg_head_acquire(sg);
        evict_over_limit(s, h);
        seg_head_release(sg, h);
    }
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
