/*
 * htable: chained hash table of one shard (see htable.h).
 */
#include "store/htable.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/item.h"

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
    return 0;
}

void
htable_fini(struct htable *ht)
{
    free(ht->buckets);
    ht->buckets = NULL;
    ht->nitems = 0;
}

struct item **
htable_slot(struct htable *ht, uint64_t hash, const char *key, size_t nkey)
{
    struct item **link = &ht->buckets[hash & ht->mask];
    for (struct item *it = *link; it != NULL; link = &it->next, it = *link) {
        if (it->nkey == nkey && memcmp(it->data, key, nkey) == 0) {
            break;
        }
    }
    return link;
}

/*
 * Double the bucket array and move every item. Key hashes are recomputed
 * (items do not store them, to keep the header small). If the allocation
 * fails the table stays as it is: longer chains, still correct.
 */
static void
grow(struct htable *ht)
{
    if (ht->power >= HTABLE_POWER_MAX) {
        return;
    }
    unsigned power = ht->power + 1;
    struct item **nb = calloc((size_t)1 << power, sizeof(*nb));
    if (nb == NULL) {
        return;
    }
    uint64_t mask = ((uint64_t)1 << power) - 1;
    for (uint64_t b = 0; b <= ht->mask; b++) {
        struct item *it = ht->buckets[b];
        while (it != NULL) {
            struct item *next = it->next;
            struct item **head = &nb[item_hash(it) & mask];
            it->next = *head;
            *head = it;
            it = next;
        }
    }
    free(ht->buckets);
    ht->buckets = nb;
    ht->mask = mask;
    ht->power = power;
}

void
htable_insert(struct htable *ht, uint64_t hash, struct item *it)
{
    struct item **head = &ht->buckets[hash & ht->mask];
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
    struct item **link = &ht->buckets[hash & ht->mask];
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
