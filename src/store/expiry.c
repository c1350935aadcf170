/*
 * expiry: memcached's and Redis's expiry forms as item fields, the view a
 * read gets, changing a linked item's expiry, and maintenance's walk that
 * unlinks expired (and flushed) items without waiting for a read.
 *
 * memcached's expiry is a relative second on the coarse clock
 * (util/clock.h). Redis's is a Unix time in milliseconds on the wall
 * clock: stored as the relative second plus a 2-byte millisecond field
 * (ITEM_EXP_MS, store/item.h), and checked against clock_wall_ms() near
 * the deadline. Either form reads back in both (exptime and expire_ms).
 *
 * The walk visits only segments whose earliest expiry (seg.exp_min) has
 * come, and every segment once after a flush, so a cache without
 * expiries costs it nothing.
 */
#include <errno.h>
#include <string.h>

#include "stashd/util/clock.h"
#include "store/store_int.h"

/* Segments one maintenance pass walks for expiry, and after a flush. */
#define WALK_SEGS 32

static inline int64_t
started_ms(void)
{
    return clock_process_started() * 1000;
}

int64_t
store_now_ms(void)
{
    return clock_wall_ms() + started_ms();
}

bool
expiry_passed(int64_t unix_ms)
{
    return unix_ms - started_ms() <= clock_wall_ms();
}

struct expiry
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
        return (struct expiry){.sec = UINT32_MAX}; /* 136 years after start */
    }
    return (struct expiry){
        .sec = (uint32_t)(rel / 1000), .ms = (uint16_t)(rel % 1000), .ms_form = true};
}

struct expiry
expiry_of_item(const struct item *it)
{
    return (struct expiry){
        .sec = item_exptime(it),
        .ms = (uint16_t)item_ms(it),
        .ms_form = (it->layout & ITEM_EXP_MS) != 0,
    };
}

int64_t
expiry_unix_ms(const struct item *it)
{
    uint32_t exp = item_exptime(it);
    if (exp == 0) {
        return 0;
    }
    return ((int64_t)clock_process_started() + exp) * 1000 + item_ms(it);
}

void
expiry_to_fields(struct expiry e, struct item_fields *f)
{
    f->exptime = e.sec;
    /* A deadline on a whole second needs no millisecond field. */
    f->exp_ms = e.sec != 0 && e.ms_form && e.ms != 0;
    f->ms = f->exp_ms ? e.ms : 0;
}

/* Can it take expiry e without a new layout? */
static bool
fits_in_place(const struct item *it, struct item_fields f)
{
    if (f.exptime == 0) {
        return true; /* a field, if any, is set to 0 */
    }
    return (it->layout & ITEM_HAS_EXP) && (!f.exp_ms || (it->layout & ITEM_EXP_MS));
}

int
store_set_expiry(struct store *s, struct shard *sh, struct room *rm, struct index_pos pos,
                 struct item **itp, struct expiry e)
{
    struct item *it = *itp;
    struct item_fields f = item_fields_of(it);
    expiry_to_fields(e, &f);
    if (fits_in_place(it, f)) {
        uint32_t was = item_exptime(it);
        if (it->layout & ITEM_HAS_EXP) {
            item_put32(it, item_off_exp(it), f.exptime);
        }
        if (it->layout & ITEM_EXP_MS) {
            uint16_t ms = f.ms;
            memcpy(it->ext + item_off_ms(it), &ms, 2);
        }
        shard_count_expiry(s, sh, it, was, f.exptime);
        seg_note_expiry(&s->segs, item_ref(&s->segs.sp, it), f.exptime);
        return 0;
    }
    const struct item_space *sp = &s->segs.sp;
    uint32_t nbytes = item_nbytes(it);
    uint64_t span = item_span_of(sp, item_size_of(item_layout_for(&f, nbytes), it->nkey, nbytes));
    uint32_t ref = rm != NULL ? room_take(s, rm, span) : 0;
    if (ref == 0) {
        return -EAGAIN;
    }
    struct item *n = item_at(sp, ref);
    char *v = item_init(n, item_key(it), it->nkey, nbytes, &f, it->atime);
    memcpy(v, item_value(it), nbytes);
    __atomic_store_n(&n->state, (uint8_t)(item_state_load(it) & ~ITEM_LINKED), __ATOMIC_RELAXED);
    shard_replace(s, sh, NULL, pos, it, n, true);
    *itp = n;
    return 0;
}

/* The span of it with expiry e: what store_set_expiry may need. */
uint64_t
store_expiry_span(const struct store *s, const struct item *it, struct expiry e)
{
    struct item_fields f = item_fields_of(it);
    expiry_to_fields(e, &f);
    uint32_t nbytes = item_nbytes(it);
    return item_span_of(&s->segs.sp, item_size_of(item_layout_for(&f, nbytes), it->nkey, nbytes));
}

/* --- maintenance's walk ------------------------------------------------------ */

/* Unlink it if it is dead; its earliest expiry otherwise (0: none). */
static uint32_t
walk_item(struct store *s, struct item *it, uint32_t now)
{
    uint64_t hash = item_hash(it);
    struct shard *sh = shard_of(s, hash);
    shard_lock(sh);
    shard_sync_flush(s, sh, now);
    uint32_t exp = 0;
    if (item_state_load(it) & ITEM_LINKED) {
        enum item_state why = shard_item_state(sh, it, now);
        if (why != ITEM_LIVE) {
            struct index_pos pos = index_find_ref(&sh->ix, hash, item_ref(&s->segs.sp, it));
            shard_count_dead(sh, it, why);
            shard_unlink(s, sh, pos, it, hash);
        } else {
            exp = item_exptime(it);
        }
    }
    shard_unlock(sh);
    return exp;
}

/* Walk the items of segment i (held still by the caller). */
static void
walk_segment(struct store *s, uint32_t i, uint32_t now)
{
    struct segs *sg = &s->segs;
    struct seg *sd = &sg->seg[i];
    char *base = seg_addr(sg, i);
    uint32_t fill = atomic_load_explicit(&sd->fill, memory_order_relaxed);
    /* A concurrent expiry change lowers exp_min with an atomic min; start
     * from "none" and merge what the walk finds, so neither is lost. */
    atomic_store_explicit(&sd->exp_min, 0, memory_order_relaxed);
    uint32_t exp_min = UINT32_MAX;
    for (uint64_t off = seg_start(sg, i); off < fill;) {
        struct item *it = (struct item *)(base + off);
        off += item_span(&sg->sp, it);
        if (item_state_load(it) & ITEM_LINKED) {
            uint32_t exp = walk_item(s, it, now);
            if (exp != 0 && exp < exp_min) {
                exp_min = exp;
            }
        }
    }
    seg_exp_lower(sg, sd, exp_min == UINT32_MAX ? 0 : exp_min);
}

struct walk_args {
    struct store *s;
    uint32_t now;
};

static void
walk_still(void *ctx, uint32_t i, bool oldest)
{
    (void)oldest;
    struct walk_args *a = ctx;
    walk_segment(a->s, i, a->now);
}

/* Walk segment i if it can be held still (busy ones wait for next time). */
static void
walk_if_still(struct store *s, uint32_t i, uint32_t now)
{
    struct walk_args a = {.s = s, .now = now};
    seg_with_still(&s->segs, i, false, walk_still, &a);
}

void
expiry_walk(struct store *s, uint32_t now)
{
    struct segs *sg = &s->segs;
    uint32_t sweep = atomic_load_explicit(&s->sweep_pending, memory_order_relaxed);
    if (sweep != 0) {
        /* Only segments that hold items count against the pass's budget:
         * the range is 4 x -m of segments, mostly never used, and counting
         * those made a sweep take nsegs / WALK_SEGS passes whatever the
         * store held (12.8 s at -m 1024), its flushed items holding their
         * segments all that time; refilled after each flush_all, a store
         * holding 50 MB grew 50 MB a flush, where memcached's stays level. */
        uint32_t k = 0;
        while (k < WALK_SEGS && s->sweep_next < sg->nsegs) {
            uint32_t i = s->sweep_next++;
            uint32_t st = atomic_load_explicit(&sg->seg[i].state, memory_order_relaxed);
            if (st == SEG_OPEN || st == SEG_SEALED) {
                walk_if_still(s, i, now);
                k++;
            }
        }
        if (s->sweep_next >= sg->nsegs) {
            s->sweep_next = 0;
            /* Done, unless another flush asked for a new sweep meanwhile. */
            atomic_compare_exchange_strong_explicit(&s->sweep_pending, &sweep, 0,
                                                    memory_order_relaxed, memory_order_relaxed);
        }
    }
    /* Nothing is due before the hint: no segment need even be looked at
     * (a cache without expiries pays nothing here). */
    uint32_t hint = atomic_load_explicit(&sg->exp_hint, memory_order_relaxed);
    if (hint == 0 || hint > now) {
        return;
    }
    /* Recompute the hint: reset it, then merge what the scan finds with an
     * atomic min, so an expiry set meanwhile is not lost. */
    atomic_store_explicit(&sg->exp_hint, 0, memory_order_relaxed);
    uint32_t walked = 0, low = 0;
    for (uint32_t k = 0; k < sg->nsegs; k++) {
        uint32_t i = s->expiry_next;
        s->expiry_next = i + 1 < sg->nsegs ? i + 1 : 0;
        uint32_t exp = atomic_load_explicit(&sg->seg[i].exp_min, memory_order_relaxed);
        if (exp != 0 && exp <= now && walked < WALK_SEGS) {
            walk_if_still(s, i, now);
            walked++;
            exp = atomic_load_explicit(&sg->seg[i].exp_min, memory_order_relaxed);
        }
        low = exp != 0 && (low == 0 || exp < low) ? exp : low;
    }
    seg_atomic_min(&sg->exp_hint, low);
}
