/*
 * seg: heads, the FIFO of sealed segments, and allocation (see seg.h).
 * Compaction, the eviction step itself, is in evict.c.
 */
#include "store/seg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stashd/util/clock.h"
#include "store/store_int.h"

/* Where a thread looks for a head first: the one it had last, so its
 * writes stay in its own segments. A hint only (any head will do). */
static _Thread_local uint32_t head_hint = UINT32_MAX;
static _Atomic uint32_t head_next;

void
segs_lock(struct segs *sg)
{
    pthread_mutex_lock(&sg->lock);
    atomic_fetch_add_explicit(&sg->lock_count, 1, memory_order_relaxed);
}

int
segs_init(struct segs *sg, uint64_t limit, uint32_t seg_size, uint32_t nsegs, unsigned shift,
          uint32_t nheads, bool evictions, const struct sizeclass *cls, int fd)
{
    memset(sg, 0, sizeof(*sg));
    int rc = fd < 0 ? arena_create(&sg->arena, limit, seg_size, nsegs)
                    : arena_create_file(&sg->arena, limit, seg_size, nsegs, fd);
    if (rc != 0) {
        return rc;
    }
    sg->sp = (struct item_space){.base = arena_base(sg->arena), .shift = shift};
    sg->seg_size = seg_size;
    sg->seg_shift = (unsigned)__builtin_ctz(seg_size);
    sg->nsegs = nsegs;
    sg->fifo_head = sg->fifo_tail = SEG_NONE;
    sg->evictions = evictions;
    sg->cls = *cls;
    sg->nheads = nheads;
    sg->seg = calloc(nsegs, sizeof(*sg->seg));
    sg->heads = calloc(nheads, sizeof(*sg->heads));
    if (sg->seg == NULL || sg->heads == NULL) {
        goto fail;
    }
    /* Zeroed metadata is a free segment's (exp_min 0: no expiry), so none
     * of it is touched before its segment is used. */
    for (uint32_t i = 0; i < nheads; i++) {
        struct head *h = &sg->heads[i];
        h->index = i;
        for (unsigned k = 0; k < HEAD_OPEN; k++) {
            h->open[k] = SEG_NONE;
            h->fill[k] = seg_size; /* no room */
        }
        h->last_seg = SEG_NONE;
        h->ctr = calloc(cls->count + 1, sizeof(*h->ctr));
        if (h->ctr == NULL) {
            goto fail;
        }
    }
    pthread_mutex_init(&sg->lock, NULL);
    return 0;

fail:
    for (uint32_t i = 0; sg->heads != NULL && i < nheads; i++) {
        free(sg->heads[i].ctr);
    }
    free(sg->heads);
    free(sg->seg);
    arena_destroy(&sg->arena);
    return -ENOMEM;
}

void
segs_fini(struct segs *sg)
{
    if (sg->arena == NULL) {
        return;
    }
    for (uint32_t i = 0; i < sg->nheads; i++) {
        free(sg->heads[i].ctr);
        free(sg->heads[i].pins);
    }
    free(sg->heads);
    free(sg->seg);
    arena_destroy(&sg->arena);
    pthread_mutex_destroy(&sg->lock);
}

/* --- the FIFO (segment lock held) ----------------------------------------- */

void
seg_fifo_remove(struct segs *sg, uint32_t i)
{
    struct seg *sd = &sg->seg[i];
    if (sd->prev != SEG_NONE) {
        sg->seg[sd->prev].next = sd->next;
    } else {
        sg->fifo_head = sd->next;
    }
    if (sd->next != SEG_NONE) {
        sg->seg[sd->next].prev = sd->prev;
    } else {
        sg->fifo_tail = sd->prev;
    }
    sd->prev = sd->next = SEG_NONE;
    sg->nsealed--;
}

/* Append segment i to the FIFO as its newest, SEALED. */
void
seg_fifo_push(struct segs *sg, uint32_t i)
{
    struct seg *sd = &sg->seg[i];
    sd->prev = sg->fifo_tail;
    sd->next = SEG_NONE;
    if (sg->fifo_tail != SEG_NONE) {
        sg->seg[sg->fifo_tail].next = i;
    } else {
        sg->fifo_head = i;
    }
    sg->fifo_tail = i;
    sg->nsealed++;
    sd->sealed_at = clock_now();
    atomic_store_explicit(&sd->state, SEG_SEALED, memory_order_relaxed);
}

/* Give a run back to the arena: its segments stay resident, spare. */
void
seg_free_run(struct segs *sg, uint32_t i)
{
    struct seg *sd = &sg->seg[i];
    for (uint32_t k = 0; k < sd->nsegs; k++) {
        atomic_store_explicit(&sg->seg[i + k].state, SEG_FREE, memory_order_relaxed);
    }
    arena_give(sg->arena, i, sd->nsegs);
    sd->nsegs = 1;
    sd->pinned = false;
}

/* --- heads ------------------------------------------------------------------ */

bool
seg_head_trylock(struct head *h)
{
    return atomic_load_explicit(&h->lock, memory_order_relaxed) == 0 &&
           atomic_exchange_explicit(&h->lock, 1, memory_order_acquire) == 0;
}

void
seg_head_lock(struct head *h)
{
    for (unsigned spins = 0; !seg_head_trylock(h); spins++) {
        if (spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        } else {
            sched_yield(); /* its holder may be compacting a segment */
        }
    }
}

void
seg_head_unlock(struct head *h)
{
    atomic_store_explicit(&h->lock, 0, memory_order_release);
}

struct head *
seg_head_acquire(struct segs *sg)
{
    struct head *th = tx_head_for(sg);
    if (__builtin_expect(th != NULL, 0)) {
        return th; /* within a transaction: its head (tx.c) */
    }
    if (head_hint == UINT32_MAX) {
        head_hint = atomic_fetch_add_explicit(&head_next, 1, memory_order_relaxed);
    }
    for (uint32_t k = 0; k < sg->nheads; k++) {
        struct head *h = &sg->heads[(head_hint + k) % sg->nheads];
        if (seg_head_trylock(h)) {
            head_hint = h->index;
            return h;
        }
    }
    struct head *h = &sg->heads[head_hint % sg->nheads];
    seg_head_lock(h);
    return h;
}

void
seg_head_release(struct segs *sg, struct head *h)
{
    if (__builtin_expect(tx_head_for(sg) == h, 0)) {
        return; /* the transaction releases it at its end */
    }
    if (h->npins > 0) {
        segs_lock(sg);
        for (uint32_t k = 0; k < h->npins; k++) {
            uint32_t i = h->pins[k];
            struct seg *sd = &sg->seg[i];
            sd->pinned = false;
            if (atomic_load_explicit(&sd->state, memory_order_relaxed) == SEG_SEALED &&
                seg_evictable(sd) && seg_all_dead(sg, i)) {
                seg_fifo_remove(sg, i);
                seg_free_run(sg, i);
            }
        }
        segs_unlock(sg);
        h->npins = 0;
    }
    h->last_seg = SEG_NONE;
    h->op_allocs = 0;
    seg_head_unlock(h);
}

/* Room to pin one more segment; false if memory ran out. */
static bool
pin_room(struct head *h)
{
    if (h->npins < h->pins_cap) {
        return true;
    }
    uint32_t cap = h->pins_cap ? 2 * h->pins_cap : 8;
    uint32_t *np = realloc(h->pins, cap * sizeof(*np));
    if (np == NULL) {
        return false;
    }
    h->pins = np;
    h->pins_cap = cap;
    return true;
}

/* Segment i may hold items of h's operation not yet linked: keep it from
 * eviction until the operation ends. An operation that has allocated
 * nothing yet has no such items. Needs pin_room. */
static void
pin(struct head *h, struct seg *sd, uint32_t i)
{
    if (h->op_allocs > 0) {
        sd->pinned = true;
        h->pins[h->npins++] = i;
    }
}

/* Seal h's open segment in slot k (segment lock held; pin_room done). */
static void
seal_slot(struct segs *sg, struct head *h, unsigned k)
{
    uint32_t i = h->open[k];
    h->open[k] = SEG_NONE;
    h->fill[k] = sg->seg_size;
    pin(h, &sg->seg[i], i);
    seg_fifo_push(sg, i);
    /* Items that died while it was open crossed no line seg_maybe_free
     * watches: look now. */
    struct seg *sd = &sg->seg[i];
    if (seg_half_dead(sg, i) &&
        !atomic_exchange_explicit(&sd->half_noted, true, memory_order_relaxed)) {
        seg_half_push(sg, i);
    }
}

/* Make segment i (just taken or compacted, fill set) h's open one in slot k. */
static void
open_in(struct segs *sg, struct head *h, unsigned k, uint32_t i)
{
    struct seg *sd = &sg->seg[i];
    atomic_store_explicit(&sd->owner, h->index, memory_order_relaxed);
    sd->nsegs = 1;
    atomic_store_explicit(&sd->state, SEG_OPEN, memory_order_relaxed);
    h->open[k] = i;
    h->fill[k] = atomic_load_explicit(&sd->fill, memory_order_relaxed);
}

/* --- allocation -------------------------------------------------------------- */

/* Count an allocation that found no room, in its size class. */
static void
count_oom(struct segs *sg, struct head *h, uint64_t span)
{
    h->ctr[sizeclass_of(&sg->cls, span)].outofmemory++;
}

/* The slot to refill: an empty one, else the one with the least room
 * (sealed first); HEAD_OPEN if it could not be sealed. */
static unsigned
slot_to_refill(struct segs *sg, struct head *h)
{
    unsigned k = 0;
    for (unsigned j = 0; j < HEAD_OPEN; j++) {
        if (h->open[j] == SEG_NONE) {
            return j;
        }
        if (seg_room_in(sg, h, j) < seg_room_in(sg, h, k)) {
            k = j;
        }
    }
    if (!pin_room(h)) {
        return HEAD_OPEN;
    }
    segs_lock(sg);
    seal_slot(sg, h, k);
    segs_unlock(sg);
    return k;
}

bool
seg_reserve(struct store *s, struct head *h, uint64_t span)
{
    struct segs *sg = &s->segs;
    if (span > sg->seg_size - (1u << sg->sp.shift)) {
        return true; /* a jumbo run is taken whole by seg_alloc */
    }
    if (seg_best_fit(sg, h, span) != HEAD_OPEN) {
        return true;
    }
    unsigned k = slot_to_refill(sg, h);
    uint32_t i = k == HEAD_OPEN ? SEG_NONE : evict_obtain(s, h, span);
    if (i == SEG_NONE) {
        count_oom(sg, h, span);
        return false;
    }
    open_in(sg, h, k, i);
    return true;
}

/* A run of whole segments for one item too large for a segment. */
static uint32_t
alloc_jumbo(struct store *s, struct head *h, uint64_t span)
{
    struct segs *sg = &s->segs;
    uint64_t need = span + (1u << sg->sp.shift); /* room for segment 0's hole */
    uint64_t n = (need + sg->seg_size - 1) / sg->seg_size;
    if (n > sg->nsegs || n * sg->seg_size > arena_limit(sg->arena)) {
        count_oom(sg, h, span);
        return 0;
    }
    uint32_t first;
    if (!pin_room(h) || !evict_for_run(s, h, (uint32_t)n, &first)) {
        count_oom(sg, h, span);
        return 0;
    }
    struct seg *sd = &sg->seg[first];
    uint32_t start = seg_start(sg, first);
    sd->nsegs = (uint32_t)n;
    sd->clean = false;
    atomic_store_explicit(&sd->fill, start + (uint32_t)span, memory_order_relaxed);
    atomic_store_explicit(&sd->dead, 0, memory_order_relaxed);
    atomic_store_explicit(&sd->exp_min, 0, memory_order_relaxed);
    for (uint32_t k = 1; k < n; k++) {
        atomic_store_explicit(&sg->seg[first + k].state, SEG_TAIL, memory_order_relaxed);
    }
    h->op_allocs++;
    segs_lock(sg);
    pin(h, sd, first);
    seg_fifo_push(sg, first);
    segs_unlock(sg);
    h->last_seg = SEG_NONE; /* not taken back piecemeal */
    return (uint32_t)((((uint64_t)first * sg->seg_size) + start) >> sg->sp.shift);
}

uint32_t
seg_alloc(struct store *s, struct head *h, uint64_t span)
{
    struct segs *sg = &s->segs;
    if (span > sg->seg_size - (1u << sg->sp.shift)) {
        return alloc_jumbo(s, h, span);
    }
    uint32_t ref = seg_alloc_fast(sg, h, span);
    if (ref != 0) {
        return ref;
    }
    if (!seg_reserve(s, h, span)) {
        return 0;
    }
    return seg_alloc_fast(sg, h, span);
}

void
seg_unalloc(struct segs *sg, struct head *h, uint32_t ref, uint64_t span)
{
    uint32_t i = seg_of_ref(sg, ref);
    uint32_t off = (uint32_t)(((uint64_t)ref << sg->sp.shift) - (uint64_t)i * sg->seg_size);
    struct seg *sd = &sg->seg[i];
    for (unsigned k = 0; k < HEAD_OPEN; k++) {
        if (h->last_seg == i && h->open[k] == i && h->last_off == off && h->last_span == span &&
            h->fill[k] == off + span) {
            h->fill[k] = off;
            atomic_store_explicit(&sd->fill, off, memory_order_relaxed);
            h->last_seg = SEG_NONE;
            return;
        }
    }
    /* Not the last thing written: a hole, dead from the start. */
    item_make_hole(item_at(&sg->sp, ref), span);
    seg_note_dead(sg, ref, span);
}

/* --- accounting ------------------------------------------------------------- */

void
seg_free_if_dead(struct segs *sg, uint32_t i)
{
    struct seg *sd = &sg->seg[i];
    segs_lock(sg);
    if (atomic_load_explicit(&sd->state, memory_order_relaxed) == SEG_SEALED && seg_evictable(sd) &&
        seg_all_dead(sg, i)) {
        seg_fifo_remove(sg, i);
        seg_free_run(sg, i);
    }
    segs_unlock(sg);
}

void
seg_half_push(struct segs *sg, uint32_t i)
{
    if (sg->half_n == SEG_HALF_RING) {
        /* full: the oldest entry goes, and may be noted again */
        atomic_store_explicit(&sg->seg[sg->half[sg->half_first]].half_noted, false,
                              memory_order_relaxed);
        sg->half_first = (sg->half_first + 1) % SEG_HALF_RING;
        sg->half_n--;
    }
    sg->half[(sg->half_first + sg->half_n) % SEG_HALF_RING] = i;
    sg->half_n++;
}

void
seg_note_half_dead(struct segs *sg, uint32_t i)
{
    segs_lock(sg);
    if (atomic_load_explicit(&sg->seg[i].state, memory_order_relaxed) == SEG_SEALED) {
        seg_half_push(sg, i);
    } else {
        atomic_store_explicit(&sg->seg[i].half_noted, false, memory_order_relaxed);
    }
    segs_unlock(sg);
}

void
seg_note_dead(struct segs *sg, uint32_t ref, uint64_t span)
{
    seg_count_dead(sg, ref, span);
    seg_maybe_free(sg, ref);
}

void
seg_note_expiry(struct segs *sg, uint32_t ref, uint32_t exptime)
{
    seg_exp_lower(sg, &sg->seg[seg_of_ref(sg, ref)], exptime);
}

void
seg_atomic_min(_Atomic uint32_t *m, uint32_t v)
{
    if (v == 0) {
        return;
    }
    uint32_t cur = atomic_load_explicit(m, memory_order_relaxed);
    while ((cur == 0 || v < cur) && !atomic_compare_exchange_weak_explicit(
                                        m, &cur, v, memory_order_relaxed, memory_order_relaxed)) {
    }
}

void
seg_exp_lower(struct segs *sg, struct seg *sd, uint32_t exptime)
{
    seg_atomic_min(&sd->exp_min, exptime);
    seg_atomic_min(&sg->exp_hint, exptime);
}

uint64_t
seg_used_bytes(const struct segs *sg)
{
    return arena_used_bytes(sg->arena);
}

bool
seg_seal_idle(struct segs *sg, struct head *h)
{
    bool any = false;
    if (h != NULL && h->op_allocs == 0) {
        /* h's own, when its operation has no item in them. */
        segs_lock(sg);
        for (unsigned k = 0; k < HEAD_OPEN; k++) {
            if (h->open[k] != SEG_NONE) {
                seg_fifo_push(sg, h->open[k]);
                h->open[k] = SEG_NONE;
                h->fill[k] = sg->seg_size;
                any = true;
            }
        }
        segs_unlock(sg);
    }
    for (uint32_t j = 0; j < sg->nheads; j++) {
        struct head *o = &sg->heads[j];
        if (o == h || !seg_head_trylock(o)) {
            continue;
        }
        segs_lock(sg);
        for (unsigned k = 0; k < HEAD_OPEN; k++) {
            if (o->open[k] != SEG_NONE) {
                seg_fifo_push(sg, o->open[k]);
                o->open[k] = SEG_NONE;
                o->fill[k] = sg->seg_size;
                any = true;
            }
        }
        segs_unlock(sg);
        seg_head_unlock(o);
    }
    return any;
}

void
seg_with_still(struct segs *sg, uint32_t i, bool wait, seg_still_fn fn, void *ctx)
{
    struct seg *sd = &sg->seg[i];
    uint32_t st = atomic_load_explicit(&sd->state, memory_order_relaxed);
    if (st == SEG_OPEN) {
        struct head *h = &sg->heads[atomic_load_explicit(&sd->owner, memory_order_relaxed)];
        if (wait) {
            seg_head_lock(h);
        } else if (!seg_head_trylock(h)) {
            return;
        }
        /* Still its: the head is idle, so nothing is being written in it. */
        if (atomic_load_explicit(&sd->state, memory_order_relaxed) == SEG_OPEN &&
            atomic_load_explicit(&sd->owner, memory_order_relaxed) == h->index) {
            fn(ctx, i, false);
        }
        seg_head_unlock(h);
        return;
    }
    if (st != SEG_SEALED) {
        return;
    }
    /* Pinned: neither eviction nor freeing touches it meanwhile. */
    segs_lock(sg);
    bool held = atomic_load_explicit(&sd->state, memory_order_relaxed) == SEG_SEALED && !sd->pinned;
    bool oldest = held && sg->fifo_head == i;
    if (held) {
        sd->pinned = true;
    }
    segs_unlock(sg);
    if (!held) {
        return;
    }
    fn(ctx, i, oldest);
    segs_lock(sg);
    sd->pinned = false;
    if (seg_evictable(sd) && seg_all_dead(sg, i)) {
        seg_fifo_remove(sg, i);
        seg_free_run(sg, i);
    }
    segs_unlock(sg);
}
