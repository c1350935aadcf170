/*
 * evict: making room, by compacting the oldest sealed segment in place
 * (see seg.h for the picture); below the limit, by compacting a half-dead
 * one before taking memory the store does not hold yet (pop_half_dead).
 *
 * A segment taken for eviction leaves the FIFO (state BUSY, so nothing
 * else walks or frees it) and is walked item by item, each under its own
 * shard lock: a dead item (unlinked, expired or flushed) is dropped; a
 * live one is kept when the mode says so, moving down to the segment's
 * write point with its index slot repointed; else it is evicted. The
 * segment is then its head's open one, with the kept items first, or
 * goes back to the end of the FIFO if what it freed is not enough.
 *
 * What is kept: with items of one size, exactly those read since the
 * segment was sealed (CLOCK with a segment-sized hand, moving through
 * memory in the order it was written). With sizes that vary, a pass
 * evicts as many bytes as CLOCK would, but chooses them by cost, bytes
 * over how often read (GreedyDual-Size with two bits of frequency): a
 * large item read once may go where small ones not read stay. Hits count
 * per item while room is per byte, so this serves more hits.
 *
 * When what CLOCK would free is less than a large allocation needs (its
 * victim's items were mostly read), the pass goes on by
 * cost until there is room: the large items go, the small read ones
 * stay. Until then such a pass freed too little, the segment went back to
 * the FIFO, and after two rounds a pass kept nothing, small read items
 * included. Values of 10 B-500 kB, Zipf 0.99 over twice what fits, set on
 * a miss, 50 connections at pipeline 16: at -m 16 77% of gets hit, then
 * 99.7-100%; at -m 64 88-91%, then 96.9-99.8%; at -m 1024 88%, then
 * 92-93.5% (memcached: 100%, 96.8%, 88%). With one size (100 B, 300 kB)
 * or 1-20 kB nothing changed. Only an allocation of at least
 * 1/LARGE_NEED_DIV of a segment does this (evict_obtain). Measured in
 * README "Memory".
 */
#include <errno.h>
#include <string.h>

#include "stashd/util/clock.h"
#include "store/store_int.h"

/* Weights of an item read once (times 2: 1.5) and twice since the last
 * pass (3), against 1 for an item not read. Tried: 1.25 and 2.5, 2 and
 * 4, 4 and 8: at 10 B-500 kB, -m 64, 94%, 92%, 88% of gets hit. */
#define COST_READ1X2 3
#define COST_READ2 3

/* Victims one allocation may compact before it gives up. The first two
 * keep what was read since they were sealed; later ones keep nothing, so
 * a cache that is read all over still makes room in bounded work. */
#define OBTAIN_ROUNDS 8
#define KEEP_ACCESSED_ROUNDS 2
/* An allocation of at least 1/LARGE_NEED_DIV of a segment is large: a
 * pass for it drops by cost until it has room (see evict_obtain). */
#define LARGE_NEED_DIV 8
/* Sealed segments, from the oldest, looked at for one half dead. */
#define DEAD_LOOKAHEAD 8

/* Each item a compaction moves or drops is looked up in the index: a
 * shard line, then a bucket, in random places. Its walk prefetches the
 * shard line COMPACT_LAG items before the bucket, and that COMPACT_LAG
 * items before the move (evict_compact). */
#define COMPACT_LAG 8
#define COMPACT_RING 32 /* a power of two above 2 * COMPACT_LAG */
_Static_assert(COMPACT_RING > 2 * COMPACT_LAG && (COMPACT_RING & (COMPACT_RING - 1)) == 0,
               "the ring holds an item from its shard prefetch to its move");

static void
count_gone(struct store *s, struct head *h, const struct item *it, enum item_state why,
           uint32_t now)
{
    struct head_ctr *c = &h->ctr[sizeclass_of(&s->segs.cls, item_size(it))];
    bool fetched = (item_state_load(it) & ITEM_FETCHED) != 0;
    if (why == ITEM_LIVE) {
        if (s->segs.on_evict != NULL) {
            struct item *w = (struct item *)it; /* only read */
            struct store_evict_info e = {
                .key = item_key(w),
                .nkey = it->nkey,
                .nbytes = item_nbytes(it),
                .exptime = item_exptime(it),
                .atime = it->atime,
                .fetched = fetched,
                .cls = sizeclass_of(&s->segs.cls, item_size(it)) + 1,
            };
            s->segs.on_evict(s->segs.evict_ctx, &e);
        }
        c->evicted++;
        c->evicted_at = now;
        c->evicted_time = now > it->atime ? now - it->atime : 0;
        c->evicted_nonzero += item_exptime(it) != 0;
        c->evicted_unfetched += !fetched;
        return;
    }
    c->reclaimed++;
    if (why == ITEM_EXPIRED) {
        c->expired++;
        c->expired_unfetched += !fetched;
    }
}

/*
 * What an item costs to keep, as a bucket (log2): its bytes over a
 * weight for how often it was read since the last pass (GreedyDual-Size
 * with two bits of frequency). Eviction drops the costliest first.
 */
#define COST_BUCKETS 160 /* quarter octaves */

static inline unsigned
cost_bucket(unsigned state, uint64_t span)
{
    uint64_t c = (state & ITEM_ACCESSED2)  ? span / COST_READ2
                 : (state & ITEM_ACCESSED) ? span * 2 / COST_READ1X2
                                           : span;
    if (c < 4) {
        return (unsigned)c;
    }
    unsigned lg = 63 - (unsigned)__builtin_clzll(c);
    return 4 * lg + (unsigned)((c >> (lg - 2)) & 3);
}

/* What a KEEP_ACCESSED compaction drops (drop_from): every item of a cost
 * bucket above bucket, and of bucket itself the first quota bytes. */
struct drop {
    unsigned bucket;
    uint64_t quota;
};

static bool
stays_in(struct drop *d, unsigned state, uint64_t span)
{
    unsigned b = cost_bucket(state, span);
    if (b != d->bucket) {
        return b < d->bucket;
    }
    if (d->quota == 0) {
        return true;
    }
    d->quota = d->quota > span ? d->quota - span : 0;
    return false;
}

/*
 * One item of a segment being compacted, LINKED when the walk met it:
 * keep it at dst (moving it there) or let it go. Returns the bytes kept.
 */
static uint64_t
compact_one(struct store *s, struct head *h, struct item *it, uint64_t hash, char *dst,
            enum evict_keep keep, struct drop *drop, uint32_t now, uint32_t *exp_min)
{
    const struct item_space *sp = &s->segs.sp;
    struct shard *sh = shard_of(s, hash);
    shard_lock(sh);
    shard_sync_flush(s, sh, now);
    if (!(item_state_load(it) & ITEM_LINKED)) {
        shard_unlock(sh); /* unlinked since the walk looked */
        return 0;
    }
    enum item_state why = shard_item_state(sh, it, now);
    uint64_t span = item_span(sp, it);
    bool stays =
        why == ITEM_LIVE &&
        (keep == KEEP_LIVE || (keep == KEEP_ACCESSED && stays_in(drop, item_state_load(it), span)));
    struct index_pos pos = index_find_ref(&sh->ix, hash, item_ref(sp, it));
    if (!stays) {
        count_gone(s, h, it, why, now);
        index_remove(&sh->ix, pos, hash);
        shard_note_unlinked(s, sh, it);
        shard_unlock(sh);
        return 0;
    }
    struct item *d = (struct item *)dst;
    if (d != it) {
        memmove(d, it, span);
        index_set(&sh->ix, pos, item_ref(sp, d));
        h->moved++;
    }
    if (keep != KEEP_LIVE) {
        item_state_set(d, 0, ITEM_ACCESS_BITS);
    }
    uint32_t exp = item_exptime(d);
    if (exp != 0 && exp < *exp_min) {
        *exp_min = exp;
    }
    shard_unlock(sh);
    return span;
}

/*
 * Which items a compaction of this segment drops: the costliest first,
 * until as many bytes go as its unread items hold, and at least enough
 * that what stays leaves room bytes free. Whole cost buckets above
 * d->bucket go; of d->bucket itself, items in segment order until
 * d->quota bytes have gone. With items of one size and a small room that
 * is CLOCK exactly (the unread go, the read stay: their costs differ by
 * the weights, more than a bucket apart); when all were read, only what
 * the room needs goes.
 */
static void
drop_from(const struct segs *sg, const char *base, uint64_t start, uint64_t fill, uint64_t room,
          struct drop *d)
{
    uint64_t bytes[COST_BUCKETS] = {0}, unread = 0, live = 0;
    for (uint64_t off = start; off < fill;) {
        const struct item *it = (const struct item *)(base + off);
        uint64_t span = item_span(&sg->sp, it);
        unsigned st = item_state_load(it);
        if (st & ITEM_LINKED) {
            bytes[cost_bucket(st, span)] += span;
            unread += (st & ITEM_ACCESSED) ? 0 : span;
            live += span;
        }
        off += span;
    }
    /* What may stay: the segment past its start, less the room. */
    uint64_t space = sg->seg_size - start;
    uint64_t may_stay = room < space ? space - room : 0;
    uint64_t target = live > may_stay && live - may_stay > unread ? live - may_stay : unread;
    d->bucket = COST_BUCKETS; /* nothing goes */
    d->quota = 0;
    if (target == 0) {
        return;
    }
    for (unsigned b = COST_BUCKETS; b-- > 0;) {
        if (bytes[b] >= target) {
            d->bucket = b;
            d->quota = target;
            return;
        }
        target -= bytes[b];
    }
    d->bucket = 0;
    d->quota = UINT64_MAX; /* everything goes */
}

uint32_t
evict_compact(struct store *s, struct head *h, uint32_t v, enum evict_keep keep, uint64_t room,
              uint32_t now)
{
    struct segs *sg = &s->segs;
    struct seg *sd = &sg->seg[v];
    char *base = seg_addr(sg, v);
    uint32_t start = seg_start(sg, v);
    uint32_t fill = atomic_load_explicit(&sd->fill, memory_order_relaxed);
    uint32_t exp_min = UINT32_MAX;
    struct drop drop = {COST_BUCKETS, 0};
    if (keep == KEEP_ACCESSED) {
        drop_from(sg, base, start, fill, sd->nsegs == 1 ? room : 0, &drop);
    }
    /*
     * A pipeline over the segment's linked items, in order: as the walk
     * takes item i it prefetches i's shard line and, COMPACT_LAG items
     * behind, the index bucket of the item whose shard line has had that
     * long to arrive (reading the shard's table address, unlocked), and
     * moves the item COMPACT_LAG behind that. Each item moves to base +
     * w, below its own offset and clear of the items still in the ring
     * (w is at most their offsets), and is checked again under its lock.
     */
    struct {
        struct item *it;
        uint64_t hash;
    } ring[COMPACT_RING];
    uint64_t w = start, off = start;
    unsigned in = 0, fetched = 0, done = 0;
    for (;;) {
        bool more = off < fill;
        if (more) {
            struct item *it = (struct item *)(base + off);
            off += item_span(&sg->sp, it); /* immutable: no lock needed */
            /* Acquire: an item seen unlinked had its death counted
             * already (seg.h), so resetting the count below loses
             * nothing. */
            if (!(__atomic_load_n(&it->state, __ATOMIC_ACQUIRE) & ITEM_LINKED)) {
                continue;
            }
            uint64_t hash = item_hash(it); /* of its key: immutable too */
            ring[in % COMPACT_RING].it = it;
            ring[in % COMPACT_RING].hash = hash;
            __builtin_prefetch(shard_of(s, hash), 1);
            in++;
        } else if (done == in) {
            break;
        }
        if (fetched < in && (in - fetched > COMPACT_LAG || !more)) {
            uint64_t hash = ring[fetched % COMPACT_RING].hash;
            shard_prefetch_bucket(shard_of(s, hash), hash);
            fetched++;
        }
        if (done < fetched && (fetched - done > COMPACT_LAG || !more)) {
            unsigned i = done % COMPACT_RING;
            w += compact_one(s, h, ring[i].it, ring[i].hash, base + w, keep, &drop, now, &exp_min);
            done++;
        }
    }
    /* -M: a segment found all alive is not looked at again until a flush
     * or an expiry may have killed something in it. */
    sd->clean = keep == KEEP_LIVE && w == fill;
    sd->clean_flush = atomic_load_explicit(&sg->flushes, memory_order_relaxed);
    atomic_store_explicit(&sd->fill, (uint32_t)w, memory_order_relaxed);
    atomic_store_explicit(&sd->dead, 0, memory_order_relaxed);
    atomic_store_explicit(&sd->exp_min, exp_min == UINT32_MAX ? 0 : exp_min, memory_order_relaxed);
    return (uint32_t)(w - start);
}

/* Might segment i hold items that died without being unlinked (expired,
 * or flushed)? Not if a compaction found none since the last flush and
 * none of its items has expired since. */
static bool
may_hold_dead(const struct segs *sg, uint32_t i, uint32_t now)
{
    const struct seg *sd = &sg->seg[i];
    uint32_t exp = atomic_load_explicit(&sd->exp_min, memory_order_relaxed);
    return !sd->clean ||
           sd->clean_flush != atomic_load_explicit(&sg->flushes, memory_order_relaxed) ||
           (exp != 0 && exp <= now);
}

/* -M's victim: the sealed segment with the most dead bytes, else the
 * oldest that may hold items dead but not unlinked; SEG_NONE if none.
 * Segment lock held. */
static uint32_t
most_dead(const struct segs *sg, uint32_t now)
{
    uint32_t best = SEG_NONE, best_dead = 0, maybe = SEG_NONE;
    for (uint32_t i = sg->fifo_head; i != SEG_NONE; i = sg->seg[i].next) {
        uint32_t d = atomic_load_explicit(&sg->seg[i].dead, memory_order_relaxed);
        if (!seg_evictable(&sg->seg[i])) {
            continue;
        }
        if (d > best_dead) {
            best = i;
            best_dead = d;
        } else if (maybe == SEG_NONE && may_hold_dead(sg, i, now)) {
            maybe = i;
        }
    }
    return best != SEG_NONE ? best : maybe;
}

/*
 * The oldest evictable sealed segment (not pinned, nothing reserved), unless one of the few after
 * it is at least half dead (overwritten or deleted items): compacting that one frees its dead
 * bytes, room a slab cache gets back at once when an item is replaced. *dead_pick says it was such
 * a younger one: evict_obtain then keeps all of its live items in its first rounds (they are not
 * the oldest, so not the ones to evict). Under a herd of sets on miss (many clients setting the
 * same hot key at once, each copy but the last dead at once) that took the Zipf hit ratio of values
 * of 10 B to 500 kB from 86-87% to 90-91% at -m 64 and from 71% to 79-80% at -m 16 (3 and 2 runs),
 * where keeping only what was read evicted younger items in place of older ones. Segment lock held.
 */
static uint32_t
oldest_or_dead(const struct segs *sg, bool *dead_pick)
{
    uint32_t oldest = SEG_NONE;
    unsigned looked = 0;
    for (uint32_t i = sg->fifo_head; i != SEG_NONE && looked < DEAD_LOOKAHEAD;
         i = sg->seg[i].next) {
        const struct seg *sd = &sg->seg[i];
        if (!seg_evictable(sd)) {
            continue;
        }
        looked++;
        oldest = oldest == SEG_NONE ? i : oldest;
        uint32_t dead = atomic_load_explicit(&sd->dead, memory_order_relaxed);
        uint32_t fill = atomic_load_explicit(&sd->fill, memory_order_relaxed);
        if (sd->nsegs == 1 && dead >= fill / 2) {
            *dead_pick = i != oldest;
            return i;
        }
    }
    return oldest;
}

/* Can segment i be reused as a half-dead one now? Segment lock held. */
static bool
reusable(const struct segs *sg, uint32_t i)
{
    const struct seg *sd = &sg->seg[i];
    return atomic_load_explicit(&sd->state, memory_order_relaxed) == SEG_SEALED &&
           seg_evictable(sd) && sd->nsegs == 1 && seg_half_dead(sg, i);
}

static uint32_t
take_reusable(struct segs *sg, uint32_t i)
{
    seg_fifo_remove(sg, i);
    atomic_store_explicit(&sg->seg[i].state, SEG_BUSY, memory_order_relaxed);
    return i;
}

/*
 * Before the store backs a segment it does not hold yet: a sealed segment
 * at least half dead, out of the FIFO (BUSY), or SEG_NONE. Compacted
 * keeping its live items, it is reused as a slab cache reuses a replaced
 * item's chunk. Without this, a store below its limit took fresh memory
 * until a segment was all dead, which under overwrites is when every one
 * of its thousands of items was set again: 100k keys of 100 B, set 1:10
 * with gets, held 146 MB resident for 16 MB of items (memcached: 26 MB).
 * Keys set again at random leave the oldest segments the most dead, so the
 * oldest DEAD_LOOKAHEAD are looked at first; then the segments noted as
 * they became half dead (segs.half), which finds the dead space of keys
 * set again behind a prefix of items that never change (400k static keys,
 * then 100k set again at random: 173 MiB resident for 59 MiB of items
 * with the oldest few only). Each set moves about half an item (0.53 in
 * the first case; a segment is reused once half dead), and resident memory
 * stays under twice the live bytes (README "Memory"); paired, server CPU
 * per request did not move. Segment lock held.
 */
static uint32_t
pop_half_dead(struct segs *sg)
{
    unsigned looked = 0;
    for (uint32_t i = sg->fifo_head; i != SEG_NONE && looked < DEAD_LOOKAHEAD;
         i = sg->seg[i].next) {
        if (!seg_evictable(&sg->seg[i])) {
            continue;
        }
        looked++;
        if (reusable(sg, i)) {
            return take_reusable(sg, i);
        }
    }
    while (sg->half_n > 0) {
        uint32_t i = sg->half[sg->half_first];
        sg->half_first = (sg->half_first + 1) % SEG_HALF_RING;
        sg->half_n--;
        /* out of the ring: a later death may note it again */
        atomic_store_explicit(&sg->seg[i].half_noted, false, memory_order_relaxed);
        if (reusable(sg, i)) {
            return take_reusable(sg, i);
        }
    }
    return SEG_NONE;
}

/* Take the next victim out of the FIFO (BUSY), or SEG_NONE. Segment lock
 * held. With evictions, the oldest unpinned; with -M, the most dead. */
static uint32_t
pop_victim(struct segs *sg, bool evicting, uint32_t now, bool *dead_pick)
{
    uint32_t v = SEG_NONE;
    *dead_pick = false;
    if (evicting) {
        v = oldest_or_dead(sg, dead_pick);
    } else {
        v = most_dead(sg, now);
    }
    if (v != SEG_NONE) {
        seg_fifo_remove(sg, v);
        atomic_store_explicit(&sg->seg[v].state, SEG_BUSY, memory_order_relaxed);
    }
    return v;
}

/* A fresh segment from the arena, ready to open; SEG_NONE when the budget
 * has none. Segment lock held. */
static uint32_t
take_fresh(struct segs *sg)
{
    uint32_t i;
    if (arena_take(sg->arena, 1, &i) != 0) {
        return SEG_NONE;
    }
    struct seg *sd = &sg->seg[i];
    sd->nsegs = 1;
    sd->pinned = false;
    sd->clean = false;
    atomic_store_explicit(&sd->fill, seg_start(sg, i), memory_order_relaxed);
    atomic_store_explicit(&sd->dead, 0, memory_order_relaxed);
    atomic_store_explicit(&sd->exp_min, 0, memory_order_relaxed);
    return i;
}

/* Put a compacted victim back: freed when nothing was kept, else sealed
 * anew (at the end of the FIFO). */
static void
put_back(struct segs *sg, uint32_t v, uint32_t kept)
{
    segs_lock(sg);
    if (kept == 0) {
        seg_free_run(sg, v);
    } else {
        seg_fifo_push(sg, v);
    }
    segs_unlock(sg);
}

uint32_t
evict_obtain(struct store *s, struct head *h, uint64_t need)
{
    struct segs *sg = &s->segs;
    uint32_t now = clock_now();
    bool sealed_others = false;
    /* A transaction holds shard locks: only free segments (tx.c). */
    bool no_evict = tx_running();
    for (unsigned round = 0; round < OBTAIN_ROUNDS; round++) {
        segs_lock(sg);
        /* Resident memory first: a spare segment, else a half-dead one
         * (once: if compacting it made too little room, the rounds go on
         * as before). */
        if (round == 0 && !no_evict && arena_spare(sg->arena) == 0) {
            uint32_t r = pop_half_dead(sg);
            if (r != SEG_NONE) {
                segs_unlock(sg);
                uint32_t kept = evict_compact(s, h, r, KEEP_LIVE, 0, now);
                if (sg->seg_size - seg_start(sg, r) - kept >= need) {
                    return r;
                }
                put_back(sg, r, kept);
                segs_lock(sg);
            }
        }
        uint32_t i = take_fresh(sg);
        bool dead_pick = false;
        uint32_t v =
            i == SEG_NONE && !no_evict ? pop_victim(sg, sg->evictions, now, &dead_pick) : SEG_NONE;
        segs_unlock(sg);
        if (i != SEG_NONE) {
            return i;
        }
        if (no_evict) {
            return SEG_NONE;
        }
        if (v == SEG_NONE) {
            /* Everything is in open segments: make other heads' ones
             * evictable, once. */
            if (!sealed_others && seg_seal_idle(sg, h)) {
                sealed_others = true;
                continue;
            }
            return SEG_NONE;
        }
        /*
         * What the pass keeps:
         * - a half-dead younger segment keeps its live items, but only in
         *   the first rounds;
         * - the first rounds keep what was read (CLOCK) and, for a large
         *   item, drop the costliest read items too until the room is
         *   there: the large ones go, the small ones stay. Put back
         *   instead, the segment would keep them all with their bits
         *   cleared, and a later round would take a segment's worth. A
         *   small item takes CLOCK's room only: when its victims were all
         *   read, their second chance matters more than the rounds' walks
         *   (making room for one small item per pass would walk a segment
         *   per set);
         * - later rounds keep nothing, so an allocation finds room in
         *   bounded work even in a cache read all over. (Dropping by cost
         *   until half the segment was free served the same hit ratios,
         *   but moved the hand twice as fast through a cache read all
         *   over, evicting its newest unread items sooner.)
         */
        bool early = round < KEEP_ACCESSED_ROUNDS;
        enum evict_keep keep = KEEP_ACCESSED;
        uint64_t room = 0;
        if (!sg->evictions || (dead_pick && early)) {
            keep = KEEP_LIVE;
        } else if (early) {
            room = need >= sg->seg_size / LARGE_NEED_DIV ? need : 0;
        } else {
            keep = KEEP_NONE;
        }
        uint32_t kept = evict_compact(s, h, v, keep, room, now);
        if (sg->seg[v].nsegs == 1 && sg->seg_size - seg_start(sg, v) - kept >= need) {
            return v;
        }
        /* A jumbo run (kept whole or freed), or not enough room. */
        put_back(sg, v, kept);
    }
    return SEG_NONE;
}

bool
evict_for_run(struct store *s, struct head *h, uint32_t n, uint32_t *first)
{
    struct segs *sg = &s->segs;
    uint32_t now = clock_now();
    bool sealed_others = false;
    /* Each round frees a segment or more: enough rounds to free the
     * whole budget once. */
    uint32_t rounds = sg->nsegs + 4;
    bool no_evict = tx_running(); /* as evict_obtain */
    for (uint32_t round = 0; round < rounds; round++) {
        segs_lock(sg);
        int rc = arena_take(sg->arena, n, first);
        bool dead_pick;
        uint32_t v =
            rc != 0 && !no_evict ? pop_victim(sg, sg->evictions, now, &dead_pick) : SEG_NONE;
        segs_unlock(sg);
        if (rc == 0) {
            struct seg *sd = &sg->seg[*first];
            sd->pinned = false;
            return true;
        }
        if (no_evict) {
            return false;
        }
        if (v == SEG_NONE) {
            if (!sealed_others && seg_seal_idle(sg, h)) {
                sealed_others = true;
                continue;
            }
            return false;
        }
        uint32_t kept = evict_compact(s, h, v, sg->evictions ? KEEP_NONE : KEEP_LIVE, 0, now);
        put_back(sg, v, kept);
    }
    return false;
}

void
evict_over_limit(struct store *s, struct head *h)
{
    struct segs *sg = &s->segs;
    uint32_t now = clock_now();
    bool sealed_others = false;
    for (;;) {
        segs_lock(sg);
        arena_trim(sg->arena);
        bool over = arena_resident_bytes(sg->arena) > arena_limit(sg->arena);
        bool dead_pick;
        uint32_t v = over ? pop_victim(sg, true, now, &dead_pick) : SEG_NONE;
        segs_unlock(sg);
        if (!over) {
            return;
        }
        if (v == SEG_NONE) {
            if (!sealed_others && seg_seal_idle(sg, h)) {
                sealed_others = true;
                continue;
            }
            return;
        }
        evict_compact(s, h, v, KEEP_NONE, 0, now);
        segs_lock(sg);
        uint32_t nsegs = sg->seg[v].nsegs;
        seg_free_run(sg, v);
        arena_release(sg->arena, v, nsegs);
        segs_unlock(sg);
    }
}
