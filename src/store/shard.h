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
    /* SHARD_FREE, SHARD_HELD, or SHARD_TX (held by a transaction: see
     * tx.c); guards every field below */
    _Alignas(64) _Atomic uint32_t lock;
    uint32_t nexpiring; /* of nlive, those with an expiry */
    struct index ix;
    uint64_t cas_seq;   /* last sequence number issued */
    uint64_t flush_seq; /* items with a sequence <= this are flushed (dead) */
    uint64_t bytes;     /* item_size of linked items a flush did not kill */
    /* Dead (expired or flushed) items unlinked, of which expired, and of
     * those never read; since maintenance last folded them. */
    uint32_t reclaimed, expired, expired_unfetched;
    /* Linked items no flush covers (expired ones not yet unlinked
     * included): DBSIZE and curr_items; a flush sets it to 0 at once. */
    uint32_t nlive;
};

_Static_assert(sizeof(struct shard) == 64, "a shard is one cache line");

/*
 * Lock states. A transaction (store_tx, tx.c) takes its shards and marks
 * them SHARD_TX: the store calls it makes then "lock" and "unlock" them
 * as no-ops (shard_lock_slow checks that the calling thread's transaction
 * holds the shard), while every other thread waits as for SHARD_HELD.
 * So every taking is a compare-and-swap from SHARD_FREE: an exchange
 * would overwrite SHARD_TX.
 */
#define SHARD_FREE 0u
#define SHARD_HELD 1u
#define SHARD_TX 2u

void shard_lock_slow(struct shard *sh);

static inline bool
shard_cas_free(struct shard *sh, uint32_t to)
{
    uint32_t want = SHARD_FREE;
    return atomic_compare_exchange_strong_explicit(&sh->lock, &want, to, memory_order_acquire,
                                                   memory_order_relaxed);
}

static inline void
shard_lock(struct shard *sh)
{
    if (!shard_cas_free(sh, SHARD_HELD)) {
        shard_lock_slow(sh);
    }
}

static inline bool
shard_trylock(struct shard *sh)
{
    return atomic_load_explicit(&sh->lock, memory_order_relaxed) == SHARD_FREE &&
           shard_cas_free(sh, SHARD_HELD);
}

/* A shard in SHARD_TX is only ever unlocked by its transaction's end:
 * unlocks within the transaction (its thread's store calls) leave it. */
static inline void
shard_unlock(struct shard *sh)
{
    if (__builtin_expect(atomic_load_explicit(&sh->lock, memory_order_relaxed) == SHARD_TX, 0)) {
        return;
    }
    atomic_store_explicit(&sh->lock, SHARD_FREE, memory_order_release);
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

/* Invalidate every item stored so far (O(1): no walk). Use
 * shard_flush_all (store_int.h), which also zeroes the counts. */
static inline void
shard_flush_now(struct shard *sh)
{
    sh->flush_seq = sh->cas_seq;
    sh->nlive = 0;
    sh->nexpiring = 0;
    sh->bytes = 0;
}

/* Is a linked item covered by a flush (dead, not yet unlinked)? */
static inline bool
shard_item_flushed(const struct shard *sh, const struct item *it)
{
    return sh->flush_seq != 0 && shard_item_seq(sh, it) <= sh->flush_seq;
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
    if (shard_item_flushed(sh, it)) {
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
