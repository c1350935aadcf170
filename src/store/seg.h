/*
 * seg: where items are written (private to store/).
 *
 * Items of every shard are packed, one after another, into the arena's
 * segments (mem/arena.h). Writers take a *head*: a small set of segments
 * open for appending, with a lock of its own, so a store costs a bump of
 * the head's fill and no shared counter. A head's segment that is full is
 * *sealed*: it joins the FIFO of sealed segments, oldest first.
 *
 *   head 0: [open A | open B]    head 1: [open C | open D]   (one per writer thread)
 *   FIFO:   oldest -> S1 -> S2 -> ... -> Sn <- newest        (sealed, immutable but
 *                                                             for dead items)
 *
 * When the budget has no segment left, the writer takes the oldest sealed
 * segment and compacts it in place (evict.c): items read since it was
 * sealed (ACCESSED) move to its front with the bit cleared, the others
 * are evicted, dead ones dropped; the segment becomes the writer's open
 * segment, behind the items it kept. That is CLOCK with the FIFO as its
 * hand (but one of the next few sealed segments that is at least half
 * dead is compacted first, keeping all its live items), and no
 * rounding: the only waste is the 0-7 bytes that align an item, the
 * unused tail of a sealed segment, and dead items not yet compacted. An
 * item larger than a segment takes a run of whole segments (a "jumbo"
 * run, FIFO-ordered too).
 *
 * Each segment counts its dead bytes (items unlinked or abandoned); one
 * whose items are all dead is freed at once, and -M compacts the
 * segment with the most dead bytes instead of evicting. Below the budget,
 * a writer that needs a segment takes a spare one, else compacts a sealed
 * segment that is at least half dead (keeping its live items: one of the
 * oldest few, or one noted in segs.half as it became so), and backs a new
 * one only when neither is there: resident memory follows the live items
 * under overwrites, as a slab cache's does.
 *
 * Locks: a head's lock is held for a whole store operation that may
 * write (so nobody seals its segments under it); shard locks inside it;
 * the segment lock (FIFO, arena, segment states) innermost and briefly.
 * Eviction runs with its head held and no shard lock, taking each item's
 * shard lock in turn. Segments sealed while their head's operation has
 * items in them not yet linked are pinned until the operation ends, so
 * eviction cannot compact them under it.
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "stashd/mem/arena.h"
#include "stashd/mem/sizeclass.h"
#include "stashd/store/store.h"
#include "store/item.h"

struct store;

#define SEG_NONE UINT32_MAX
#define HEAD_OPEN 2 /* segments a head appends to (best fit between them) */
#define SEG_HALF_RING 64

enum seg_state {
    SEG_FREE,   /* not the store's (FREE or SPARE in the arena) */
    SEG_OPEN,   /* a head appends to it */
    SEG_SEALED, /* in the FIFO */
    SEG_BUSY,   /* out of the FIFO, being compacted, or walked by maintenance */
    SEG_TAIL,   /* a later segment of a jumbo run (its first one holds the state) */
};

/* One segment's metadata, a cache line each (dead is written by every
 * thread that unlinks an item of it). */
struct seg {
    _Alignas(64) _Atomic uint32_t state; /* enum seg_state; changed under the segment lock */
    _Atomic uint32_t fill;               /* bytes written from the segment's start */
    _Atomic uint32_t dead;               /* of those, bytes of items no longer linked */
    _Atomic uint32_t exp_min;            /* earliest expiry of its items; 0: none */
    uint32_t nsegs;                      /* segments of the run: 1, or more (jumbo) */
    uint32_t prev, next;                 /* FIFO links, SEG_NONE at the ends */
    uint32_t sealed_at;                  /* clock_now() when sealed */
    _Atomic uint32_t owner;              /* head index while OPEN (read unlocked, as a hint) */
    uint32_t clean_flush;                /* -M: segs.flushes when a compaction found nothing dead */
    bool clean;                          /* ... (then valid) */
    bool pinned;                         /* holds unlinked items of its head's operation */
    /* In segs.half (or being put there) since it was sealed at least half
     * dead or, sealed, became so; cleared when it leaves the ring. */
    _Atomic bool half_noted;
    /* Items reserved in it whose values are still arriving (store_reserve):
     * not evicted, compacted or freed while nonzero. */
    _Atomic uint32_t reserved;
};

/* May eviction take segment sd (or a walk pin it)? Segment lock held. */
static inline bool
seg_evictable(const struct seg *sd)
{
    return !sd->pinned && atomic_load_explicit(&sd->reserved, memory_order_acquire) == 0;
}

/* Per head, per size class (mem/sizeclass.h; the last is "large"):
 * counted by whoever holds the head, read by statistics. */
struct head_ctr {
    uint64_t evicted, evicted_nonzero, evicted_unfetched;
    uint64_t reclaimed, expired, expired_unfetched;
    uint64_t outofmemory;
    uint32_t evicted_at, evicted_time;
};

struct head {
    _Alignas(64) _Atomic uint32_t lock; /* 0 free, 1 held; guards every field below */
    uint32_t index;
    uint32_t open[HEAD_OPEN]; /* OPEN segments, SEG_NONE if none */
    uint32_t fill[HEAD_OPEN]; /* their fill (the head writes each segment's; this is its copy) */
    /* Segments sealed or taken (jumbo) during the current operation:
     * pinned until seg_head_release. */
    uint32_t *pins;
    uint32_t npins, pins_cap;
    /* The last allocation, which seg_unalloc can take back. */
    uint32_t last_seg, last_off, last_span;
    uint32_t op_allocs;   /* allocations made by the current operation */
    uint64_t total_items; /* items stored through this head */
    uint64_t moved;       /* live items its compactions moved (evict.c) */
    struct head_ctr *ctr; /* nclasses + 1 */
};

struct segs {
    pthread_mutex_t lock; /* the segment lock: arena, FIFO, states */
    struct arena *arena;
    struct item_space sp;
    struct seg *seg; /* one per arena segment */
    uint32_t seg_size;
    unsigned seg_shift; /* log2(seg_size) */
    uint32_t nsegs;
    uint32_t fifo_head, fifo_tail; /* oldest and newest sealed */
    uint32_t nsealed;
    struct head *heads;
    uint32_t nheads;
    bool evictions;            /* false (-M): only dead items make room */
    _Atomic uint32_t flushes;  /* flush_all count: -M's "nothing dead here" marks expire */
    _Atomic uint32_t exp_hint; /* no segment's exp_min is below this (0: none has one) */
    struct sizeclass cls;      /* for per-class statistics */
    store_evict_fn on_evict;   /* store_config.on_evict, called by eviction */
    void *evict_ctx;
    /* Times the segment lock was taken: shows (in a test) that gets,
     * sets and deletes with room in their head never take it. */
    _Atomic uint64_t lock_count;
    /* Sealed segments that became at least half dead, oldest first (a
     * ring, the oldest dropped when full): where a store below its limit
     * looks for dead space to reuse beyond the FIFO's oldest few (evict.c,
     * pop_half_dead). Entries are checked when taken. Segment lock. */
    uint32_t half[SEG_HALF_RING];
    uint32_t half_first, half_n;
};

/* Over anonymous memory (fd -1) or the memory file open at fd, which the
 * arena owns from the call on. 0, -EINVAL, -ENOMEM, -errno. */
int segs_init(struct segs *sg, uint64_t limit, uint32_t seg_size, uint32_t nsegs, unsigned shift,
              uint32_t nheads, bool evictions, const struct sizeclass *cls, int fd);
void segs_fini(struct segs *sg);

void segs_lock(struct segs *sg);
static inline void
segs_unlock(struct segs *sg)
{
    pthread_mutex_unlock(&sg->lock);
}

/* Bytes at the start of segment i that hold no item (ref 0 is never an item). */
static inline uint32_t
seg_start(const struct segs *sg, uint32_t i)
{
    return i == 0 ? (1u << sg->sp.shift) : 0;
}

static inline char *
seg_addr(const struct segs *sg, uint32_t i)
{
    return sg->sp.base + (size_t)i * sg->seg_size;
}

static inline uint32_t
seg_of_ref(const struct segs *sg, uint32_t ref)
{
    return (uint32_t)(((uint64_t)ref << sg->sp.shift) >> sg->seg_shift);
}

/* A head's lock: a spinlock, as a shard's (held for one operation;
 * eviction within one may hold it for a segment's worth of work). */
bool seg_head_trylock(struct head *h);
void seg_head_lock(struct head *h);
void seg_head_unlock(struct head *h);

/* Take a head for an operation that may write (blocks if all are busy). */
struct head *seg_head_acquire(struct segs *sg);
/* End the operation: unpin what it pinned, free the head. */
void seg_head_release(struct segs *sg, struct head *h);

/*
 * Room for an item of span bytes: its ref, or 0 when none could be made
 * (-M with nothing dead, or the item can never fit; counted in
 * outofmemory). May evict, which takes shard locks: the caller holds h
 * and no shard lock.
 */
uint32_t seg_alloc(struct store *s, struct head *h, uint64_t span);

/* Make sure h has room for span bytes (evicting as needed), allocating
 * nothing; false as seg_alloc fails. Holds no shard lock. */
bool seg_reserve(struct store *s, struct head *h, uint64_t span);
/* Room left in h's open slot k (0 when the slot is empty: its fill copy
 * is then the segment size). */
static inline uint32_t
seg_room_in(const struct segs *sg, const struct head *h, unsigned k)
{
    return sg->seg_size - h->fill[k];
}

/* The open slot whose segment has the least room that still fits span,
 * or HEAD_OPEN. */
static inline unsigned
seg_best_fit(const struct segs *sg, const struct head *h, uint64_t span)
{
    unsigned best = HEAD_OPEN;
    for (unsigned k = 0; k < HEAD_OPEN; k++) {
        if (seg_room_in(sg, h, k) >= span &&
            (best == HEAD_OPEN || seg_room_in(sg, h, k) < seg_room_in(sg, h, best))) {
            best = k;
        }
    }
    return best;
}

static inline uint32_t
seg_bump(struct segs *sg, struct head *h, unsigned k, uint64_t span)
{
    uint32_t i = h->open[k];
    struct seg *sd = &sg->seg[i];
    uint32_t off = h->fill[k];
    h->fill[k] = off + (uint32_t)span;
    atomic_store_explicit(&sd->fill, off + (uint32_t)span, memory_order_relaxed);
    h->last_seg = i;
    h->last_off = off;
    h->last_span = (uint32_t)span;
    h->op_allocs++;
    /* The next allocation from this slot lands right after this one, in
     * lines no cache holds yet. Ask for them now, for writing: a store's
     * copy into them then waits for nothing, and neither does the shard
     * lock taken after it (a locked instruction waits until every earlier
     * store has its line). perf, cell b text under memtier: link_checked's
     * lock went from 1.3-1.6% of the server's CPU to 0.1%; paired CPU a
     * request 1.4-1.8% lower on every protocol (bench/README, stop 39).
     * Only within the segment: the next one may be another head's. */
    const char *seg = sg->sp.base + (uint64_t)i * sg->seg_size;
    for (uint64_t o = off + span; o < off + span + 256 && o < sg->seg_size; o += 64) {
        __builtin_prefetch(seg + o, 1);
    }
    return (uint32_t)((((uint64_t)i * sg->seg_size) + off) >> sg->sp.shift);
}

/* Room for span bytes from what h has already, without evicting: for
 * use under a shard lock. 0 when there is not enough. */
static inline uint32_t
seg_alloc_fast(struct segs *sg, struct head *h, uint64_t span)
{
    unsigned k = seg_best_fit(sg, h, span);
    return k == HEAD_OPEN ? 0 : seg_bump(sg, h, k, span);
}

/* Give back an allocation that was never linked (the operation failed). */
void seg_unalloc(struct segs *sg, struct head *h, uint32_t ref, uint64_t span);

/*
 * An item of span bytes leaves the index (unlinked, or replaced), in two
 * steps around the clearing of its LINKED bit: seg_count_dead before it
 * (so that eviction, which skips items it sees unlinked and then resets
 * the count, never meets a death it has not seen counted), seg_maybe_free
 * after it (frees the segment if nothing in it lives; takes the segment
 * lock only then). Any thread. seg_note_dead does both, for an item that
 * was never linked.
 */
static inline void
seg_count_dead(struct segs *sg, uint32_t ref, uint64_t span)
{
    atomic_fetch_add_explicit(&sg->seg[seg_of_ref(sg, ref)].dead, (uint32_t)span,
                              memory_order_relaxed);
}

/* Are all of segment i's items dead? */
static inline bool
seg_all_dead(const struct segs *sg, uint32_t i)
{
    const struct seg *sd = &sg->seg[i];
    uint32_t dead = atomic_load_explicit(&sd->dead, memory_order_relaxed);
    return dead + seg_start(sg, i) >= atomic_load_explicit(&sd->fill, memory_order_relaxed);
}

/* Free segment i if it is sealed, unpinned and all dead (checked again
 * under the segment lock). */
void seg_free_if_dead(struct segs *sg, uint32_t i);

/* Is segment i at least half dead (and holding anything)? */
static inline bool
seg_half_dead(const struct segs *sg, uint32_t i)
{
    const struct seg *sd = &sg->seg[i];
    uint32_t used = atomic_load_explicit(&sd->fill, memory_order_relaxed) - seg_start(sg, i);
    return used > 0 && atomic_load_explicit(&sd->dead, memory_order_relaxed) >= used / 2;
}

/* Put sealed segment i, just found half dead, in segs.half (takes the
 * segment lock: once a segment per compaction, at most). */
void seg_note_half_dead(struct segs *sg, uint32_t i);
/* The same, segment lock held. */
void seg_half_push(struct segs *sg, uint32_t i);

static inline void
seg_maybe_free(struct segs *sg, uint32_t ref)
{
    uint32_t i = seg_of_ref(sg, ref);
    struct seg *sd = &sg->seg[i];
    if (atomic_load_explicit(&sd->state, memory_order_relaxed) != SEG_SEALED) {
        return; /* an open one is looked at when it is sealed */
    }
    if (seg_all_dead(sg, i)) {
        seg_free_if_dead(sg, i);
    } else if (!atomic_load_explicit(&sd->half_noted, memory_order_relaxed) &&
               seg_half_dead(sg, i) &&
               !atomic_exchange_explicit(&sd->half_noted, true, memory_order_relaxed)) {
        seg_note_half_dead(sg, i);
    }
}

void seg_note_dead(struct segs *sg, uint32_t ref, uint64_t span);
/* An item of this segment got an expiry (lowers the segment's exp_min). */
void seg_note_expiry(struct segs *sg, uint32_t ref, uint32_t exptime);
/* Lower segment sd's exp_min (and the store-wide hint) to exptime (0: no
 * change); any thread. */
void seg_exp_lower(struct segs *sg, struct seg *sd, uint32_t exptime);
/* Lower *m to v with 0 meaning none; any thread. */
void seg_atomic_min(_Atomic uint32_t *m, uint32_t v);

/* Lock-free reads for statistics. */
uint64_t seg_used_bytes(const struct segs *sg);

/*
 * Call fn(ctx, i, oldest) with segment i held still, for a walk over its
 * items: an open one under its head's lock (waited for if wait, else only
 * tried), a sealed one pinned (oldest: it is the next to be evicted); not
 * at all if it is busy, free or a run's tail. A sealed segment found all
 * dead afterwards is freed. The caller holds no shard lock and no head.
 */
typedef void (*seg_still_fn)(void *ctx, uint32_t seg, bool oldest);
void seg_with_still(struct segs *sg, uint32_t i, bool wait, seg_still_fn fn, void *ctx);

/* For evict.c, with the segment lock held: */
void seg_fifo_remove(struct segs *sg, uint32_t i);
void seg_fifo_push(struct segs *sg, uint32_t i); /* as the newest, SEALED */
void seg_free_run(struct segs *sg, uint32_t i);  /* back to the arena, spare */
/* Seal the open segments of heads that are not busy, and h's own when
 * its operation has allocated nothing yet (so that eviction can take them
 * when nothing else is left); true if any. */
bool seg_seal_idle(struct segs *sg, struct head *h);
