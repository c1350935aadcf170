/*
 * evict: where a shard finds memory for a new item when it has no free
 * chunk (see shard_alloc in shard.h). In order:
 *
 *   1. a free chunk of the class;
 *   2. a new page from the pool, while the budget has room;
 *   3. with evictions off (-M): dead items only (expired or flushed), in
 *      the class or as a page holding nothing live; else STORE_NO_MEMORY;
 *   4. page rebalancing: if the class holds at least a page less than its
 *      share of the shard's memory, a whole page is taken from the class
 *      most above its share (its items evicted) and re-carved;
 *   5. CLOCK eviction in the class: a hand walks the class's pages chunk
 *      by chunk; an item read since the hand last passed (ACCESSED) gets a
 *      second chance, one without is evicted and its chunk reused;
 *   6. if the shard holds nothing at all: steal, i.e. drop our lock,
 *      ask other shards round-robin (trylock, then waiting) until one
 *      gives memory back, retake our lock and start over (bounded).
 *
 * Memory freed on the way (pages released, large items freed, here or by
 * another shard for us) goes into the allocation's credit (sh->credit,
 * see slab.h): it stays charged for this allocation, so another worker's
 * borrow cannot take the room before the allocation that made it.
 *
 * Shares: every allocation adds its chunk size to its class's rate, and
 * every RATE_DECAY_ALLOCS allocations all rates are halved, so a rate is
 * the recent bytes-per-time a class asks for. A class's share of the
 * shard's memory is held_total * rate / rate_total: memory goes where the
 * writes go, which gives items of every size about the same lifetime and
 * prevents memcached's slab calcification (a class starved because the
 * pages were all taken before the workload changed). The one-page
 * hysteresis stops pages from ping-ponging between classes.
 *
 * Large items (> SLAB_CHUNK_MAX) are one "class" in the same accounting:
 * they make room by taking pages from classes above their share, by
 * second-chance eviction at the tail of the large list, or by stealing.
 */
#include "store/shard.h"

#include <errno.h>
#include <limits.h>

/* ACCESSED bits one CLOCK eviction may clear before it evicts the item
 * under the hand anyway: bounds the time under the lock when a whole
 * class was read since the last pass. */
#define CLOCK_CLEAR_MAX 256
/* Chunks (or large items) a dead-only scan looks at. */
#define DEAD_SCAN_MAX 256
/* Allocations per shard between two halvings of the rates. */
#define RATE_DECAY_ALLOCS 2048
/* Times a slab allocation starts over after stealing. */
#define STEAL_ROUNDS 8
/* Pages of other classes probed for "nothing live in it" (-M). */
#define DEAD_PAGE_PROBES 4

#define NO_CLASS UINT_MAX

static void
rate_note(struct shard *sh, unsigned c, uint64_t bytes)
{
    sh->cls[c].rate += bytes;
    sh->rate_total += bytes;
    if (++sh->rate_allocs < RATE_DECAY_ALLOCS) {
        return;
    }
    sh->rate_allocs = 0;
    sh->rate_total = 0;
    for (unsigned i = 0; i <= shard_large_class(sh); i++) {
        sh->cls[i].rate /= 2;
        sh->rate_total += sh->cls[i].rate;
    }
}

static uint64_t
held_by(const struct shard *sh, unsigned c)
{
    if (c == shard_large_class(sh)) {
        return sh->large_bytes;
    }
    return (uint64_t)sh->cls[c].npages * SLAB_PAGE_SIZE;
}

static double
share_of(const struct shard *sh, unsigned c)
{
    if (sh->rate_total == 0) {
        return 0.0;
    }
    return (double)sh->held * ((double)sh->cls[c].rate / (double)sh->rate_total);
}

/* Can class d give memory away now? */
static bool
can_give(const struct shard *sh, unsigned d)
{
    if (d == shard_large_class(sh)) {
        return sh->large_tail != NULL;
    }
    return sh->cls[d].npages > 0;
}

/* Does class c hold at least a page less than its share (or nothing)? */
static bool
wants_more(const struct shard *sh, unsigned c)
{
    uint64_t held = held_by(sh, c);
    if (held == 0) {
        return true;
    }
    return share_of(sh, c) >= (double)(held + SLAB_PAGE_SIZE);
}

/*
 * The class other than c most above its share that can give; NO_CLASS if
 * none. A class keeps its last page while it is still in use (rate > 0):
 * otherwise a rarely used class and a busy one would trade that page back
 * and forth, each trade evicting a page of items. Only a class holding
 * nothing (need_any) may take a last page, and only when nothing else is
 * left.
 */
static unsigned
pick_donor(const struct shard *sh, unsigned c, bool need_any)
{
    unsigned best = NO_CLASS;
    unsigned last_resort = NO_CLASS;
    double best_surplus = 0.0;
    for (unsigned d = 0; d <= shard_large_class(sh); d++) {
        if (d == c || !can_give(sh, d)) {
            continue;
        }
        if (d != shard_large_class(sh) && sh->cls[d].npages == 1 && sh->cls[d].rate != 0) {
            last_resort = d;
            continue;
        }
        double surplus = (double)held_by(sh, d) - share_of(sh, d);
        if (best == NO_CLASS || surplus > best_surplus) {
            best = d;
            best_surplus = surplus;
        }
    }
    return best != NO_CLASS || !need_any ? best : last_resort;
}

static inline struct item *
chunk_at(const struct shard *sh, unsigned c, const char *page, uint32_t k)
{
    return (struct item *)(page + (size_t)k * sh->env->classes.size[c]);
}

/*
 * The page of class d to give away: the one the CLOCK hand enters next.
 * The hand has not passed it for the longest time, so its items had the
 * longest chance to be read since, and least reason to stay.
 */
static uint32_t
victim_page(const struct shard_class *sd)
{
    if (sd->npages <= 1) {
        return 0;
    }
    return sd->hand_page + 1 < sd->npages ? sd->hand_page + 1 : 0;
}

/*
 * Empty page pi of class d: its linked items are unlinked (counted as
 * evicted, or reclaimed if dead) and its free chunks leave the free list;
 * then the page is detached. Relies on the invariant that, between
 * allocations, every chunk is linked or on the free list.
 */
static char *
page_evacuate(struct shard *sh, unsigned d, uint32_t pi, uint32_t now)
{
    struct shard_class *sd = &sh->cls[d];
    char *page = sd->pages[pi];
    uint32_t per = sh->env->classes.per_page[d];
    for (uint32_t k = 0; k < per; k++) {
        struct item *it = chunk_at(sh, d, page, k);
        if (it->iflags & ITEM_LINKED) {
            enum item_state st = item_state(it, now, sh->flush_cas);
            shard_unlink(sh, it);
            shard_count_gone(sh, it, st);
        } else {
            shard_chunk_remove(sd, it);
        }
    }
    return shard_page_detach(sh, d, pi);
}

/* Move page pi of class d to class c. */
static void
page_move(struct shard *sh, unsigned d, uint32_t pi, unsigned c, uint32_t now)
{
    char *page = page_evacuate(sh, d, pi, now);
    if (shard_page_attach(sh, c, page) != 0) {
        /* No room to track it: give it back (to the credit, if any),
         * where the next round borrows it again. */
        slab_page_return_credit(sh->env->pool, sh->credit, page);
        return;
    }
    sh->slabs_moved++;
}

/* Give page pi of class d back to the pool. */
static void
page_release(struct shard *sh, unsigned d, uint32_t pi, uint32_t now)
{
    slab_page_return_credit(sh->env->pool, sh->credit, page_evacuate(sh, d, pi, now));
}

/* Does page pi of class d hold no live item? */
static bool
page_all_dead(const struct shard *sh, unsigned d, uint32_t pi, uint32_t now)
{
    const char *page = sh->cls[d].pages[pi];
    for (uint32_t k = 0; k < sh->env->classes.per_page[d]; k++) {
        const struct item *it = chunk_at(sh, d, page, k);
        if ((it->iflags & ITEM_LINKED) && item_state(it, now, sh->flush_cas) == ITEM_LIVE) {
            return false;
        }
    }
    return true;
}

/*
 * Find a page of a class other than c that holds no live item (-M: such
 * a page can change class without evicting anything). Probes at most
 * DEAD_PAGE_PROBES pages, each class's from the one after its hand.
 * Returns the class (and *pi) or NO_CLASS.
 */
static unsigned
dead_page_class(const struct shard *sh, unsigned c, uint32_t now, uint32_t *pi)
{
    unsigned probes = 0;
    for (unsigned d = 0; d < shard_large_class(sh) && probes < DEAD_PAGE_PROBES; d++) {
        const struct shard_class *sd = &sh->cls[d];
        if (d == c || sd->npages == 0) {
            continue;
        }
        uint32_t p = victim_page(sd);
        for (uint32_t i = 0; i < sd->npages && probes < DEAD_PAGE_PROBES; i++) {
            probes++;
            if (page_all_dead(sh, d, p, now)) {
                *pi = p;
                return d;
            }
            p = p + 1 < sd->npages ? p + 1 : 0;
        }
    }
    return NO_CLASS;
}

/*
 * The CLOCK hand of class c: returns an unlinked chunk taken from a dead
 * item (reclaimed) or, when live_ok, from the first item without a
 * second chance (evicted). NULL if the class has no page, or no dead item
 * within DEAD_SCAN_MAX chunks when !live_ok.
 */
static struct item *
clock_take(struct shard *sh, unsigned c, uint32_t now, bool live_ok)
{
    struct shard_class *sc = &sh->cls[c];
    if (sc->npages == 0) {
        return NULL;
    }
    uint32_t per = sh->env->classes.per_page[c];
    uint64_t chunks = (uint64_t)sc->npages * per;
    uint64_t steps = live_ok ? 2 * chunks + 1 : (chunks < DEAD_SCAN_MAX ? chunks : DEAD_SCAN_MAX);
    unsigned cleared = 0;
    for (uint64_t step = 0; step < steps; step++) {
        if (sc->hand_chunk >= per) {
            sc->hand_chunk = 0;
            sc->hand_page++;
        }
        if (sc->hand_page >= sc->npages) {
            sc->hand_page = 0;
        }
        struct item *it = chunk_at(sh, c, sc->pages[sc->hand_page], sc->hand_chunk);
        sc->hand_chunk++;
        if (!(it->iflags & ITEM_LINKED)) {
            continue; /* a free chunk: the free list hands those out */
        }
        enum item_state st = item_state(it, now, sh->flush_cas);
        if (st == ITEM_LIVE) {
            if (!live_ok) {
                continue;
            }
            if ((it->iflags & ITEM_ACCESSED) && cleared < CLOCK_CLEAR_MAX) {
                it->iflags &= (uint8_t)~ITEM_ACCESSED;
                cleared++;
                continue;
            }
        }
        shard_unlink(sh, it);
        shard_count_gone(sh, it, st);
        it->iflags = 0;
        return it;
    }
    return NULL;
}

/*
 * Free one large item from the tail of the large list: a dead one, or
 * (live_ok) the first without a second chance; accessed ones move to the
 * head with the bit cleared. false if none could go.
 */
static bool
large_evict_one(struct shard *sh, uint32_t now, bool live_ok)
{
    unsigned looked = 0;
    struct item_large *l = sh->large_tail;
    while (l != NULL) {
        struct item *it = &l->it;
        enum item_state st = item_state(it, now, sh->flush_cas);
        if (st == ITEM_LIVE) {
            if (!live_ok) {
                if (++looked >= DEAD_SCAN_MAX) {
                    return false;
                }
                l = l->prev;
                continue;
            }
            if ((it->iflags & ITEM_ACCESSED) && looked < CLOCK_CLEAR_MAX) {
                it->iflags &= (uint8_t)~ITEM_ACCESSED;
                looked++;
                shard_large_to_head(sh, l);
                l = sh->large_tail;
                continue;
            }
        }
        shard_unlink(sh, it);
        shard_count_gone(sh, it, st);
        shard_free(sh, it);
        return true;
    }
    return false;
}

bool
shard_release_memory(struct shard *sh, uint32_t now, bool live_ok)
{
    unsigned large = shard_large_class(sh);
    if (!live_ok) {
        if (large_evict_one(sh, now, false)) {
            return true;
        }
        uint32_t pi;
        unsigned d = dead_page_class(sh, NO_CLASS, now, &pi);
        if (d == NO_CLASS) {
            return false;
        }
        page_release(sh, d, pi, now);
        return true;
    }
    unsigned d = pick_donor(sh, NO_CLASS, true);
    if (d == NO_CLASS) {
        return false;
    }
    if (d == large) {
        uint64_t before = sh->large_bytes;
        while (before - sh->large_bytes < SLAB_PAGE_SIZE && large_evict_one(sh, now, true)) {
        }
        return before != sh->large_bytes;
    }
    page_release(sh, d, victim_page(&sh->cls[d]), now);
    return true;
}

/*
 * Drop our lock, ask other shards (round-robin from a shared cursor) to
 * give memory back, into our credit, until one does; retake our lock. A first
 * pass only trylocks (a busy shard is skipped); if no shard gave, a second
 * pass waits for each lock in turn, so contention alone never makes a
 * store fail. No lock is held while waiting, so no order among shard locks
 * is needed. The caller must treat its view of the shard as stale.
 */
static void
steal(struct shard *sh, uint32_t now, bool live_ok)
{
    struct shard_env *env = sh->env;
    if (env->nshards == 1) {
        return;
    }
    /* Our credit travels with us: what the other shard frees is kept
     * charged for this allocation, so no other borrower takes it first. */
    uint64_t *credit = sh->credit;
    sh->credit = NULL;
    shard_unlock(sh);
    uint32_t start = atomic_fetch_add_explicit(&env->steal_cursor, 1, memory_order_relaxed);
    bool gave = false;
    for (int pass = 0; pass < 2 && !gave; pass++) {
        for (uint32_t i = 0; i < env->nshards && !gave; i++) {
            struct shard *o = &env->shards[(start + i) & (env->nshards - 1)];
            if (o == sh) {
                continue;
            }
            if (pass == 0) {
                if (pthread_mutex_trylock(&o->lock) != 0) {
                    continue;
                }
            } else {
                shard_lock(o);
            }
            shard_sync_flush(o, now);
            o->credit = credit;
            gave = shard_release_memory(o, now, live_ok);
            o->credit = NULL;
            shard_unlock(o);
        }
    }
    shard_lock(sh);
    sh->credit = credit;
}

static struct item *
alloc_chunk(struct shard *sh, unsigned c, uint32_t now, bool *disturbed)
{
    struct shard_env *env = sh->env;
    struct shard_class *sc = &sh->cls[c];
    for (unsigned round = 0; round <= STEAL_ROUNDS; round++) {
        struct item *it = shard_chunk_pop(sc);
        if (it != NULL) {
            return it;
        }
        void *page;
        int rc = slab_page_borrow_credit(env->pool, sh->credit, &page);
        if (rc == 0) {
            if (shard_page_attach(sh, c, page) != 0) {
                slab_page_return_credit(env->pool, sh->credit, page);
                break;
            }
            continue;
        }
        if (rc != -ENOSPC) {
            break;
        }
        *disturbed = true;
        if (!env->evictions) {
            it = clock_take(sh, c, now, false);
            if (it != NULL) {
                return it;
            }
            uint32_t pi;
            unsigned d = dead_page_class(sh, c, now, &pi);
            if (d != NO_CLASS) {
                page_move(sh, d, pi, c, now);
                continue;
            }
            if (large_evict_one(sh, now, false)) {
                continue;
            }
            break;
        }
        if (wants_more(sh, c)) {
            unsigned d = pick_donor(sh, c, sc->npages == 0);
            if (d == shard_large_class(sh)) {
                while (*sh->credit < SLAB_PAGE_SIZE && slab_room(env->pool) < SLAB_PAGE_SIZE &&
                       large_evict_one(sh, now, true)) {
                }
                continue;
            }
            if (d != NO_CLASS) {
                page_move(sh, d, victim_page(&sh->cls[d]), c, now);
                continue;
            }
        }
        it = clock_take(sh, c, now, true);
        if (it != NULL) {
            return it;
        }
        if (sh->no_steal) {
            return NULL; /* the caller makes room and retries; not counted */
        }
        steal(sh, now, true);
    }
    sc->ctr.outofmemory++;
    return NULL;
}

static struct item *
alloc_large(struct shard *sh, uint64_t size, uint32_t now, bool *disturbed)
{
    struct shard_env *env = sh->env;
    unsigned lc = shard_large_class(sh);
    uint64_t want = ITEM_LARGE_PREFIX + size;
    /* Each round frees about a page, so allow a few rounds per page. */
    uint64_t rounds = 16 + 2 * (want / SLAB_PAGE_SIZE);
    if (want > slab_limit(env->pool)) {
        rounds = 0; /* could never fit */
    }
    for (uint64_t round = 0; round < rounds; round++) {
        void *m;
        int rc = slab_large_alloc_credit(env->pool, sh->credit, want, &m);
        if (rc == 0) {
            struct item_large *l = m;
            uint64_t charged = slab_large_charged(m);
            l->prev = l->next = NULL;
            l->it.clsid = ITEM_CLASS_LARGE;
            l->it.iflags = ITEM_LARGE;
            sh->large_bytes += charged;
            sh->held += charged;
            return &l->it;
        }
        if (rc != -ENOSPC) {
            break;
        }
        *disturbed = true;
        if (!env->evictions) {
            if (shard_release_memory(sh, now, false)) {
                continue;
            }
            break;
        }
        if (wants_more(sh, lc)) {
            unsigned d = pick_donor(sh, lc, false);
            if (d != NO_CLASS) {
                page_release(sh, d, victim_page(&sh->cls[d]), now);
                continue;
            }
        }
        if (large_evict_one(sh, now, true) || shard_release_memory(sh, now, true)) {
            continue;
        }
        if (sh->no_steal) {
            return NULL;
        }
        steal(sh, now, true);
    }
    sh->cls[lc].ctr.outofmemory++;
    return NULL;
}

struct item *
shard_alloc(struct shard *sh, uint64_t size, uint32_t now, bool *disturbed)
{
    const struct slab_classes *classes = &sh->env->classes;
    unsigned c = slab_class_for(classes, size);
    uint64_t credit = 0;
    sh->credit = &credit;
    struct item *it;
    if (c == classes->count) {
        rate_note(sh, c, size);
        it = alloc_large(sh, size, now, disturbed);
    } else {
        rate_note(sh, c, classes->size[c]);
        it = alloc_chunk(sh, c, now, disturbed);
        if (it != NULL) {
            it->clsid = (uint8_t)c;
            it->iflags = 0;
        }
    }
    sh->credit = NULL;
    slab_credit_release(sh->env->pool, &credit);
    return it;
}
