/*
 * htable: chained hash table of one shard (see htable.h).
 */
#include "store/htable.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/item.h"

/* Old buckets whose chain heads are prefetched together when moving. */
#define MOVE_BATCH 16

int
htable_init(struct htable *ht, unsigned power)
{
    if (power < HTABLE_POWER_MIN) {
        power = HTABLE_POWER_MIN;
    }
    if (power > HTABLE_POWER_MAX) {
        power = HTABLE_POWER_MAX;
    }
    ht->buckets = calloc((size_t)1 << power, sizeof(*ht->buckets));
    if (ht->buckets == NULL) {
        return -ENOMEM;
    }
    ht->power = power;
    ht->mask = ((uint64_t)1 << power) - 1;
    ht->nitems = 0;
    ht->old = NULL;
    ht->old_mask = 0;
    ht->moved = 0;
    return 0;
}

void
htable_fini(struct htable *ht)
{
    free(ht->buckets);
    free(ht->old);
    ht->buckets = NULL;
    ht->old = NULL;
    ht->nitems = 0;
}

/* The head of the chain that holds (or would hold) the items of hash. */
static inline struct item **
head_of(struct htable *ht, uint64_t hash)
{
    if (ht->old != NULL) {
        struct item **oh = &ht->old[hash & ht->old_mask];
        if (*oh != NULL) {
            return oh;
        }
    }
    return &ht->buckets[hash & ht->mask];
}

struct item **
htable_slot(struct htable *ht, uint64_t hash, const char *key, size_t nkey)
{
    struct item **link = head_of(ht, hash);
    for (struct item *it = *link; it != NULL; link = &it->next, it = *link) {
        if (it->nkey == nkey && memcmp(it->data, key, nkey) == 0) {
            break;
        }
    }
    return link;
}

/* Move old bucket ob's chain into the new array. Key hashes are
 * recomputed (items do not store them, to keep the header small). */
static void
move_bucket(struct htable *ht, uint64_t ob)
{
    struct item *it = ht->old[ob];
    ht->old[ob] = NULL;
    while (it != NULL) {
        struct item *next = it->next;
        struct item **head = &ht->buckets[item_hash(it) & ht->mask];
        it->next = *head;
        *head = it;
        it = next;
    }
}

bool
htable_migrate(struct htable *ht, uint64_t n)
{
    if (ht->old == NULL) {
        return false;
    }
    while (n > 0 && ht->moved <= ht->old_mask) {
        /* Hashing a moved item reads its key: ask for a batch of chain
         * heads at once, so their cache misses overlap. */
        uint64_t batch = ht->old_mask + 1 - ht->moved;
        batch = batch < n ? batch : n;
        batch = batch < MOVE_BATCH ? batch : MOVE_BATCH;
        for (uint64_t i = 0; i < batch; i++) {
            const struct item *it = ht->old[ht->moved + i];
            if (it != NULL) {
                __builtin_prefetch(it);
                __builtin_prefetch((const char *)it + 64);
            }
        }
        for (uint64_t i = 0; i < batch; i++) {
            move_bucket(ht, ht->moved++);
        }
        n -= batch;
    }
    if (ht->moved <= ht->old_mask) {
        return true;
    }
    free(ht->old);
    ht->old = NULL;
    ht->old_mask = 0;
    ht->moved = 0;
    return false;
}

void
htable_move_for(struct htable *ht, uint64_t b)
{
    move_bucket(ht, b & ht->old_mask); /* a no-op once it is empty */
}

/*
 * Start doubling: a new array, filled by later inserts and maintenance
 * (htable_migrate). If the allocation fails the table stays as it is:
 * longer chains, still correct.
 */
static void
grow(struct htable *ht)
{
    if (ht->power >= HTABLE_POWER_MAX) {
        return;
    }
    /* Only when inserts outran the move, which HTABLE_MOVE_STEP prevents. */
    while (htable_migrate(ht, UINT64_MAX)) {
    }
    unsigned power = ht->power + 1;
    struct item **nb = calloc((size_t)1 << power, sizeof(*nb));
    if (nb == NULL) {
        return;
    }
    ht->old = ht->buckets;
    ht->old_mask = ht->mask;
    ht->moved = 0;
    ht->buckets = nb;
    ht->mask = ((uint64_t)1 << power) - 1;
    ht->power = power;
}

void
htable_insert(struct htable *ht, uint64_t hash, struct item *it)
{
    if (ht->old != NULL) {
        htable_migrate(ht, HTABLE_MOVE_STEP);
    }
    struct item **head = head_of(ht, hash);
    it->next = *head;
    *head = it;
    ht->nitems++;
    /* Load above 1.5 items per bucket: nitems > buckets + buckets / 2. */
    if (ht->nitems > ht->mask + 1 + (ht->mask + 1) / 2) {
        grow(ht);
    }
}

static struct item **
find_link(struct htable *ht, uint64_t hash, struct item *it)
{
    struct item **link = head_of(ht, hash);
    while (*link != it) {
        assert(*link != NULL); /* it must be linked in this table */
        link = &(*link)->next;
    }
    return link;
}

void
htable_unlink(struct htable *ht, uint64_t hash, struct item *it)
{
    struct item **link = find_link(ht, hash, it);
    *link = it->next;
    it->next = NULL;
    ht->nitems--;
}

void
htable_replace(struct htable *ht, uint64_t hash, struct item *old_it, struct item *new_it)
{
    struct item **link = find_link(ht, hash, old_it);
    new_it->next = old_it->next;
    *link = new_it;
    old_it->next = NULL;
}
