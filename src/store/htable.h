/*
 * htable: one shard's chained hash table of items (private to store/).
 *
 * A power-of-two array of bucket heads; items chain through item.next.
 * The bucket is the low bits of the key hash (the shard is chosen by the
 * top bits, so the two never overlap for any realistic table size). The
 * table doubles when it holds more than 1.5 items per bucket. Rehashing
 * happens all at once under the shard lock: with many shards each table
 * is small (1M items over 64 shards is ~16k items, well under a
 * millisecond), which is acceptable for now; an incremental rehash can
 * replace it without changing this interface.
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
    uint64_t nitems;       /* linked items */
    unsigned power;
};

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

static inline uint64_t
htable_buckets(const struct htable *ht)
{
    return ht->mask + 1;
}

/* The head link of bucket b, for walks (maintenance). */
static inline struct item **
htable_bucket_head(struct htable *ht, uint64_t b)
{
    return &ht->buckets[b];
}
