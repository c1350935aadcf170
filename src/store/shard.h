/*
 * shard: one lock's worth of the keyspace (private to store/).
 *
 * A shard owns, under its one mutex: a chained hash table, its own slab
 * classes (free chunks and pages per class, pages borrowed from the global
 * pool), its large items, its CLOCK hands, its allocation rates for page
 * rebalancing, its CAS sequence and its statistics. Every step of an
 * item's life (allocate, fill, link, unlink, free) happens under that
 * lock, so no half-built item is ever visible.
 *
 *   struct shard
 *   +-- lock ------------------------------------------------------+
 *   | htable: buckets -> item -> item                               |
 *   | cls[0..n-1]: free list <-> chunk <-> chunk; pages[] ; hand    |
 *   | cls[n] (large): large_head <-> item_large <-> large_tail      |
 *   | rates, cas_seq, flush_cas, counters                           |
 *   +---------------------------------------------------------------+
 *
 * Lock order: shard, then page pool (lock-free). A thread never waits for
 * a second shard lock while holding one: stealing memory from another
 * shard releases its own lock first and only trylocks the others.
 *
 * shard.c: lifecycle, pages and free chunks, lookup, link/unlink/free,
 * flush and the maintenance scan. evict.c: allocation when memory is
 * short (CLOCK eviction, page rebalancing, large items, stealing).
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "stashd/mem/slab.h"
#include "stashd/store/store.h"
#include "store/htable.h"
#include "store/item.h"

struct shard;

/* What all shards share. Read-only after store_create, except the atomics. */
struct shard_env {
    struct slab_pool *pool;
    struct slab_classes classes;
    struct shard *shards;    /* all of them, for stealing */
    uint32_t nshards;        /* power of two */
    bool evictions;          /* false (-M): never evict a live item */
    store_evict_fn on_evict; /* store_config.on_evict, called by shard_count_gone */
    void *evict_ctx;
    /* Pending delayed flush: (relative time << 32) | generation; time 0 =
     * none. Written by store_flush (under its flush lock) and cleared by
     * maintenance with a compare-and-swap; read relaxed by every op. */
    _Atomic uint64_t flush_pending;
    _Atomic uint32_t steal_cursor; /* relaxed; where the next steal starts */
};

struct shard_counters {
    uint64_t evicted;           /* live items removed to make room */
    uint64_t evicted_nonzero;   /* ... that had an expiry */
    uint64_t evicted_unfetched; /* ... that were never read */
    uint64_t expired_unfetched; /* expired items freed that were never read */
    uint64_t reclaimed;         /* dead (expired/flushed) items whose memory was freed */
    uint64_t expired;           /* ... of which expired (not flushed) */
    uint64_t outofmemory;       /* allocations that failed */
    uint32_t evicted_at;        /* clock_now() of the last eviction, 0 if none */
    uint32_t evicted_time;      /* seconds that item had gone unread */
};

/* One size class of one shard; also used for the large "class". */
struct shard_class {
    struct item *free_head; /* free chunks, doubly linked (item.next / free_prev) */
    char **pages;           /* pages of this class, unordered; NULL for large */
    uint32_t npages;
    uint32_t pages_cap;  /* capacity of pages[] */
    uint32_t nfree;      /* chunks on free_head */
    uint32_t hand_page;  /* CLOCK hand: index into pages[] ... */
    uint32_t hand_chunk; /* ... and the next chunk to look at in that page */
    uint64_t nitems;     /* linked items */
    uint64_t requested;  /* bytes of linked items (header + key + value) */
    uint64_t rate;       /* decayed bytes allocated, for the page share */
    struct shard_counters ctr;
};

struct shard {
    _Alignas(64) pthread_mutex_t lock; /* guards every field below */
    struct htable ht;
    struct shard_env *env;
    struct shard_class *cls;       /* env->classes.count slab classes, then large */
    struct item_large *large_head; /* linked large items, most recently stored first */
    struct item_large *large_tail;
    uint64_t large_bytes; /* bytes charged for large items (linked or not) */
    uint64_t held;        /* pages * SLAB_PAGE_SIZE + large_bytes */
    uint64_t rate_total;  /* sum of cls[].rate */
    uint32_t rate_allocs; /* allocations since the rates were last halved */
    uint32_t index;       /* position in env->shards */
    uint64_t cas_seq;     /* last sequence number issued */
    uint64_t flush_cas;   /* items with cas <= this are flushed (dead) */
    uint32_t flush_gen;   /* generation of the last delayed flush applied */
    uint64_t scan_cursor; /* maintenance: next bucket to scan */
    uint64_t total_items; /* items ever linked */
    uint64_t nexpiring;   /* linked items with an expiry (Redis's "expires") */
    uint64_t slabs_moved; /* pages moved between classes */
    /* While an allocation of this shard makes room (shard_alloc), the
     * bytes it freed, kept charged for it (see slab.h, "credit"); NULL
     * otherwise, so that frees release to the pool. */
    uint64_t *credit;
    /* Set while store_set_many holds this and other shards' locks: an
     * allocation must not drop the lock to steal (it fails instead). */
    bool no_steal;
};

/* Index of the large class in shard.cls. */
static inline unsigned
shard_large_class(const struct shard *sh)
{
    return sh->env->classes.count;
}

/* 0 or -ENOMEM. */
int shard_init(struct shard *sh, struct shard_env *env, uint32_t index, unsigned ht_power);
/* Frees every item, page and the table; the shard must be idle. */
void shard_fini(struct shard *sh);

static inline void
shard_lock(struct shard *sh)
{
    pthread_mutex_lock(&sh->lock);
}

static inline void
shard_unlock(struct shard *sh)
{
    pthread_mutex_unlock(&sh->lock);
}

/* The cas the last issued sequence maps to. Unique across shards:
 * sequence * nshards + index. */
static inline uint64_t
shard_cas_of(const struct shard *sh, uint64_t seq)
{
    return seq * sh->env->nshards + sh->index;
}

static inline uint64_t
shard_next_cas(struct shard *sh)
{
    return shard_cas_of(sh, ++sh->cas_seq);
}

/* Invalidate every item stored so far (O(1): no walk). */
static inline void
shard_flush_now(struct shard *sh)
{
    sh->flush_cas = shard_cas_of(sh, sh->cas_seq);
}

/* Apply a pending delayed flush whose time has come. Call first thing
 * after taking the lock, so that nothing reads or stores past it. */
static inline void
shard_sync_flush(struct shard *sh, uint32_t now)
{
    uint64_t p = atomic_load_explicit(&sh->env->flush_pending, memory_order_relaxed);
    uint32_t at = (uint32_t)(p >> 32);
    uint32_t gen = (uint32_t)p;
    if (at != 0 && now >= at && sh->flush_gen != gen) {
        shard_flush_now(sh);
        sh->flush_gen = gen;
    }
}

/*
 * The live item with this key, or NULL. A dead one found on the way is
 * unlinked and freed (lazy expiry), and *why says why it missed
 * (ITEM_LIVE when absent). The item is valid until the lock is released
 * or the shard next allocates.
 */
struct item *shard_find(struct shard *sh, const char *key, size_t nkey, uint64_t hash, uint32_t now,
                        enum item_state *why);

/* Link a filled, unlinked item (its key absent). */
void shard_link(struct shard *sh, struct item *it, uint64_t hash);
/* Link new_it in place of the linked old_it (same key), then free old_it. */
void shard_replace(struct shard *sh, struct item *old_it, struct item *new_it, uint64_t hash);
/* Unlink a linked item (it stays allocated). */
void shard_unlink(struct shard *sh, struct item *it);
/* Give back an unlinked item's memory (free chunk, or large free). */
void shard_free(struct shard *sh, struct item *it);
/* Count an item that leaves without being asked to: evicted when why is
 * ITEM_LIVE, reclaimed (expired or flushed) otherwise. */
void shard_count_gone(struct shard *sh, const struct item *it, enum item_state why);
/* Unlink, count and free a dead item. */
void shard_drop_dead(struct shard *sh, struct item *it, enum item_state why);

/* Mark a read or touch: second chance for CLOCK, fetched, access time.
 * Writes only what changes, to keep clean lines clean. */
static inline void
shard_accessed(struct item *it, uint32_t now)
{
    if ((it->iflags & (ITEM_ACCESSED | ITEM_FETCHED)) != (ITEM_ACCESSED | ITEM_FETCHED)) {
        it->iflags |= ITEM_ACCESSED | ITEM_FETCHED;
    }
    if (it->atime != now) {
        it->atime = now;
    }
}

/* Scan up to nbuckets buckets from the cursor, freeing dead items.
 * Returns how many items it freed. */
uint64_t shard_scan(struct shard *sh, uint64_t nbuckets, uint32_t now);

/* Give a linked item a new expiry (exptime 0 = never; exp_ms with
 * ITEM_EXP_MS, see item.h), keeping nexpiring right. */
void shard_set_expiry(struct shard *sh, struct item *it, uint32_t exptime, uint32_t ms,
                      bool ms_form);

/* Call fn(ctx, it) for each live item of bucket b (freeing the dead ones
 * met on the way); returns how many it passed to fn. fn must not change
 * the table. */
typedef void (*shard_item_fn)(void *ctx, struct item *it);
uint64_t shard_walk_bucket(struct shard *sh, uint64_t b, uint32_t now, shard_item_fn fn, void *ctx);

/* Pages and free chunks (for evict.c). */
void shard_chunk_push(struct shard_class *sc, struct item *it);
struct item *shard_chunk_pop(struct shard_class *sc);
void shard_chunk_remove(struct shard_class *sc, struct item *it);
/* Attach a page to class c and carve it into free chunks. 0 or -ENOMEM
 * (the page array could not grow; the page is not attached). */
int shard_page_attach(struct shard *sh, unsigned c, char *page);
/* Detach page index pi of class c (its chunks must be accounted for). */
char *shard_page_detach(struct shard *sh, unsigned c, uint32_t pi);

/*
 * evict.c: allocate an unlinked item of size bytes (item_size()), with
 * clsid and iflags (ITEM_LARGE or 0) set and nothing else. When memory is
 * short it reclaims dead items, evicts by CLOCK, moves pages between
 * classes or steals from other shards; *disturbed is then set, meaning
 * items may have been unlinked or the lock dropped and retaken, so any
 * item pointer the caller held must be looked up again. NULL: no memory
 * (counted in outofmemory).
 */
struct item *shard_alloc(struct shard *sh, uint64_t size, uint32_t now, bool *disturbed);

/*
 * Give at least one page's worth of memory back to the pool: a page from
 * the class most above its share, or large items from the tail. With
 * live_ok false only dead items go (a page holding no live item, or dead
 * large items). false if nothing could be given. Lock held.
 */
bool shard_release_memory(struct shard *sh, uint32_t now, bool live_ok);

/* Move a large item to the head of the large list (second chance). */
void shard_large_to_head(struct shard *sh, struct item_large *l);
