/*
 * htable: one shard's chained hash table of items (private to store/).
 *
 * A power-of-two array of bucket heads; items chain through item.next.
 * The bucket is the low bits of the key hash (the shard is chosen by the
 * top bits, so the two never overlap for any realistic table size). The
 * table doubles when it holds more than 1.5 items per bucket.
 *
 * Growing is incremental, so no operation pays for moving the whole table
 * (an all-at-once rehash of 200k items held the shard lock for 12-15 ms,
 * and a shard of millions of small items would stall for hundreds). On a
 * grow the new array becomes `buckets` and the previous one `old`; every
 * insert then moves HTABLE_MOVE_STEP old buckets into the new array (and
 * maintenance moves more, htable_migrate), in order, until `old` is empty
 * and freed. Meanwhile an old bucket that still holds items holds every
 * item of its keys: a lookup goes to old[hash & old_mask] when that bucket
 * is not empty, else to the new array. An old bucket once empty stays
 * empty (nothing is linked into an empty old bucket), so the rule never
 * splits a key's items between the arrays.
 *
 * Walks go over the new array's buckets: htable_bucket_head() first moves
 * the old bucket that feeds the one asked for, so a walk sees every item.
 *
 * Not thread-safe: the owning shard's lock guards every call.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct item;

struct htable {
    struct item **buckets; /* 1 << power heads */
    uint64_t mask;         /* (1 << power) - 1 */
    uint64_t nitems;       /* linked items, in both arrays */
    unsigned power;
    /* While growing: the previous array, its mask, and how far the
     * in-order move has got (old buckets below it are empty). */
    struct item **old;
    uint64_t old_mask;
    uint64_t moved;
};

/* Old buckets each insert moves while a grow is in progress (about 10 us
 * of work at 1.5 items per bucket): the move ends after old_size / 64
 * inserts, long before the new array is at 1.5 items per bucket again,
 * and lookups pay for the second array only that long. 2 buckets per
 * insert made a 4M-insert fill 15% slower than all-at-once; 64, with
 * the chain heads prefetched in batches, is within noise of it. */
#define HTABLE_MOVE_STEP 64

#define HTABLE_POWER_MIN 4
#define HTABLE_POWER_MAX 30

/* 0 or -ENOMEM. */
int htable_init(struct htable *ht, unsigned power);
void htable_fini(struct htable *ht);

/*
 * The link that points at the item with this key, or at the NULL ending
 * its chain when there is none. Valid until the table next changes.
 */
struct item **htable_slot(struct htable *ht, uint64_t hash, const char *key, size_t nkey);

/* Link it (not linked, key not present) at the head of its bucket, and
 * grow the table when it is over its load. */
void htable_insert(struct htable *ht, uint64_t hash, struct item *it);
/* Unlink a linked item. */
void htable_unlink(struct htable *ht, uint64_t hash, struct item *it);
/* Put new_it where old_it is (same key); old_it is unlinked. */
void htable_replace(struct htable *ht, uint64_t hash, struct item *old_it, struct item *new_it);
/* Move up to n old buckets into the new array (a grow in progress); true
 * while some are left. */
bool htable_migrate(struct htable *ht, uint64_t n);

/* Buckets of the (new) array: what walks go over. */
static inline uint64_t
htable_buckets(const struct htable *ht)
{
    return ht->mask + 1;
}

/* Buckets allocated, the old array of a grow in progress included. */
static inline uint64_t
htable_buckets_held(const struct htable *ht)
{
    return ht->mask + 1 + (ht->old != NULL ? ht->old_mask + 1 : 0);
}

/* Move the old bucket that feeds bucket b (a grow in progress). */
void htable_move_for(struct htable *ht, uint64_t b);

/* The head link of bucket b (< htable_buckets), for walks: every item of
 * bucket b is on it (the old bucket feeding it is moved first). */
static inline struct item **
htable_bucket_head(struct htable *ht, uint64_t b)
{
    if (ht->old != NULL) {
        htable_move_for(ht, b);
    }
    return &ht->buckets[b];
}
