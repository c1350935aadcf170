/*
 * shard: the spinlock's slow path, and the steps that change what a
 * shard's index holds: find (with lazy expiry), link, replace, unlink.
 * Every function here but shard_lock_slow runs with the shard lock held.
 */
#include "store/shard.h"

#include <assert.h>
#include <errno.h>

#include "stashd/util/clock.h"
#include "store/store_int.h"

void
shard_lock_slow(struct shard *sh)
{
    if (atomic_load_explicit(&sh->lock, memory_order_relaxed) == SHARD_TX && tx_holds(sh)) {
        return; /* a store call within this thread's transaction */
    }
    /* Within a transaction only its own shards may be taken (lock order). */
    assert(!tx_running());
    for (unsigned spins = 0;; spins++) {
        if (atomic_load_explicit(&sh->lock, memory_order_relaxed) == SHARD_FREE &&
            shard_cas_free(sh, SHARD_HELD)) {
            return;
        }
        if (spins < SHARD_SPINS) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        } else {
            /* The holder may be descheduled (2 cores, busy load
             * generator): let it run. */
            sched_yield();
        }
    }
}

bool
shard_ms_expired(uint32_t exptime, uint32_t ms, uint32_t now)
{
    if ((uint64_t)exptime + 1 < now) {
        return true;
    }
    if (exptime > (uint64_t)now + 2) {
        return false;
    }
    return (int64_t)exptime * 1000 + ms <= clock_wall_ms();
}

static inline uint64_t
pending_at(uint64_t p)
{
    return p >> 32;
}

void
shard_sync_flush_slow(struct store *s, struct shard *sh, uint32_t now, uint64_t p)
{
    uint32_t at = (uint32_t)pending_at(p);
    uint32_t gen = (uint32_t)p;
    if (at != 0 && now >= at && s->cold[shard_index(s, sh)].flush_gen != gen) {
        shard_flush_all(s, sh);
        s->cold[shard_index(s, sh)].flush_gen = gen;
    }
}

void
shard_note_unlinked(struct store *s, struct shard *sh, struct item *it)
{
    if (!shard_item_flushed(sh, it)) { /* a flush already took it out */
        sh->bytes -= item_size(it);
        shard_count_live(s, sh, it, -1);
    }
    /* Last, and with release: once LINKED is clear, eviction may reuse
     * the item's bytes (without this lock), and whoever sees it clear also
     * sees what was done before, the dead count included. */
    __atomic_store_n(&it->state,
                     (uint8_t)(item_state_load(it) & ~(unsigned)(ITEM_LINKED | ITEM_ACCESS_BITS)),
                     __ATOMIC_RELEASE);
}

void
shard_note_linked(struct store *s, struct shard *sh, struct item *it)
{
    item_state_set(it, ITEM_LINKED, 0);
    sh->bytes += item_size(it);
    shard_count_live(s, sh, it, 1);
    uint32_t exp = item_exptime(it);
    if (exp != 0) {
        seg_note_expiry(&s->segs, item_ref(&s->segs.sp, it), exp);
    }
}

/* it leaves the index (already out of it): dead in its segment. */
static void
leave(struct store *s, struct shard *sh, struct item *it)
{
    const struct item_space *sp = &s->segs.sp;
    uint32_t ref = item_ref(sp, it);
    seg_count_dead(&s->segs, ref, item_span(sp, it)); /* before LINKED clears: seg.h */
    shard_note_unlinked(s, sh, it);
    seg_maybe_free(&s->segs, ref);
}

void
shard_unlink(struct store *s, struct shard *sh, struct index_pos pos, struct item *it,
             uint64_t hash)
{
    index_remove(&sh->ix, pos, hash);
    leave(s, sh, it);
}

struct item *
shard_found_dead(struct store *s, struct shard *sh, const struct store_key *k, struct item *it,
                 struct index_pos pos, enum item_state st)
{
    shard_count_dead(sh, it, st);
    shard_unlink(s, sh, pos, it, k->hash);
    return NULL;
}

int
shard_link(struct store *s, struct shard *sh, struct head *h, struct item *it, uint64_t hash)
{
    uint64_t before = index_bytes(&sh->ix);
    if (index_insert(&sh->ix, &s->segs.sp, hash, item_ref(&s->segs.sp, it)) != 0) {
        return -ENOMEM;
    }
    if (index_bytes(&sh->ix) != before) { /* it grew: rare */
        atomic_fetch_add_explicit(&s->index_bytes, index_bytes(&sh->ix) - before,
                                  memory_order_relaxed);
        store_charge_index(s);
    }
    shard_stamp(sh, it);
    shard_note_linked(s, sh, it);
    h->total_items++;
    return 0;
}

void
shard_replace(struct store *s, struct shard *sh, struct head *h, struct index_pos pos,
              struct item *old, struct item *it, bool keep_cas)
{
    const struct item_space *sp = &s->segs.sp;
    index_set(&sh->ix, pos, item_ref(sp, it));
    if (keep_cas) {
        it->cas_lo = old->cas_lo;
    } else {
        shard_stamp(sh, it);
        h->total_items++;
    }
    shard_note_linked(s, sh, it);
    leave(s, sh, old);
}
