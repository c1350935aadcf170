/*
 * shard: one lock's worth of the keyspace (private to store/).
 *
 * A shard owns, under its one lock, the index of its keys (store/index.h)
 * and the cas sequence, flush mark and counters of its items. It owns no
 * memory: items of every shard share the segments (store/seg.h), so the
 * number of shards is chosen for concurrency alone (at least 4096, see
 * store.c), and memory never has to move between shards.
 *
 * The lock is a spinlock held for O(1) work plus the copy of one value:
 * a probe, a check, a link. Every step of an item's life that the index
 * sees (link, replace, unlink, and a move by eviction) happens under it.
 *
 * Lock order (see also store_int.h): a head, then shards in ascending
 * index order (MSET, MSETNX and MGET hold several; everything else holds
 * one at a time), then the segment lock. Eviction holds its head and
 * takes each item's shard alone.
 */
#pragma once

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/index.h"
#include "store/item.h"

/* Spins before a waiter yields its CPU. */
#define SHARD_SPINS 128

/*
 * One shard: 64 bytes, a cache line, so that a lookup's lock and table
 * pointer cost one miss. The counters of lazy reclaims are 32 bits;
 * maintenance folds them into the store's 64-bit totals (maint.c). Fields
 * used only by maintenance and delayed flushes are in struct shard_cold
 * (store_int.h).
 */
struct shard {
    _Alignas(64) _Atomic uint32_t lock; /* 0 free, 1 held; guards every field below */
    uint32_t nexpiring;                 /* linked items with an expiry */
    struct index ix;
    uint64_t cas_seq;   /* last sequence number issued */
    uint64_t flush_seq; /* items with a sequence <= this are flushed (dead) */
    uint64_t bytes;     /* item_size of linked items */
    /* Dead (expired or flushed) items unlinked, of which expired, and of
     * those never read; since maintenance last folded them. */
    uint32_t reclaimed, expired, expired_unfetched;
};

_Static_assert(sizeof(struct shard) == 64, "a shard is one cache line");

void shard_lock_slow(struct shard *sh);

static inline void
shard_lock(struct shard *sh)
{
    if (atomic_exchange_explicit(&sh->lock, 1, memory_order_acquire) != 0) {
        shard_lock_slow(sh);
    }
}

static inline bool
shard_trylock(struct shard *sh)
{
    return atomic_load_explicit(&sh->lock, memory_order_relaxed) == 0 &&
           atomic_exchange_explicit(&sh->lock, 1, memory_order_acquire) == 0;
}

static inline void
shard_unlock(struct shard *sh)
{
    atomic_store_explicit(&sh->lock, 0, memory_order_release);
}

/* The full sequence number of an item: cas_lo is its low 32 bits, and
 * maintenance keeps every item within 2^31 of the shard's latest. */
static inline uint64_t
shard_item_seq(const struct shard *sh, const struct item *it)
{
    return sh->cas_seq - (uint32_t)((uint32_t)sh->cas_seq - it->cas_lo);
}

/* Give an item a new sequence number (a new cas). */
static inline void
shard_stamp(struct shard *sh, struct item *it)
{
    it->cas_lo = (uint32_t)++sh->cas_seq;
}

/* Invalidate every item stored so far (O(1): no walk). */
static inline void
shard_flush_now(struct shard *sh)
{
    sh->flush_seq = sh->cas_seq;
}

/* Has a millisecond deadline passed? The coarse clock decides when the
 * deadline is at least a second away from it either way; only near the
 * deadline is the wall clock read (the two clocks differ by the fraction
 * of a second the process started at plus how stale the cached clock is). */
bool shard_ms_expired(uint32_t exptime, uint32_t ms, uint32_t now);

/* An item is dead once its expiry has come or a flush covers it. */
static inline enum item_state
shard_item_state(const struct shard *sh, const struct item *it, uint32_t now)
{
    if (it->layout & ITEM_HAS_EXP) {
        uint32_t exp = item_exptime(it); /* 0: never (a field set back to none) */
        if (exp != 0 &&
            (!(it->layout & ITEM_EXP_MS) ? exp <= now : shard_ms_expired(exp, item_ms(it), now))) {
            return ITEM_EXPIRED;
        }
    }
    if (sh->flush_seq != 0 && shard_item_seq(sh, it) <= sh->flush_seq) {
        return ITEM_FLUSHED;
    }
    return ITEM_LIVE;
}

/* Mark a read: second chance for eviction (a first and a second read
 * since eviction last passed, which make an item cheaper to keep: see
 * evict.c),
 * fetched, access time. Writes only what changes, so a hot item's line
 * stays clean between seconds and between eviction passes. */
static inline void
shard_accessed(struct item *it, uint32_t now)
{
    unsigned st = item_state_load(it);
    if ((st & (ITEM_ACCESS_BITS | ITEM_FETCHED)) != (ITEM_ACCESS_BITS | ITEM_FETCHED)) {
        item_state_set(
            it, (st & ITEM_ACCESSED) ? ITEM_ACCESSED2 | ITEM_FETCHED : ITEM_ACCESSED | ITEM_FETCHED,
            0);
    }
    if (it->atime != now) {
        __atomic_store_n(&it->atime, now, __ATOMIC_RELAXED); /* statistics read it unlocked */
    }
}

/* Count a dead item unlinked on the way (lazy expiry, flush). */
static inline void
shard_count_dead(struct shard *sh, const struct item *it, enum item_state why)
{
    sh->reclaimed++;
    if (why == ITEM_EXPIRED) {
        sh->expired++;
        if (!(item_state_load(it) & ITEM_FETCHED)) {
            sh->expired_unfetched++;
        }
    }
}
