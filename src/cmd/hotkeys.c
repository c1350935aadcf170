/*
 * hotkeys: sampled Space-Saving sketches (see cmd/hotkeys.h).
 *
 * Space-Saving keeps k counters; a key not tracked replaces the one with
 * the smallest count and inherits that count (+1), so every key whose
 * true frequency exceeds N/k is guaranteed to be tracked, and counts
 * overestimate by at most the inherited minimum. With k = 32 a linear
 * scan is cheaper than a heap, and it runs for one read in
 * HOTKEYS_SAMPLE only.
 */
#include "stashd/cmd/hotkeys.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The slots as columns: a sample scans hash, len and count (8 + 1 + 8
 * bytes a slot, 9 cache lines for all 32) and reads a key only where its
 * hash matches. Rows of 272 bytes put each slot's fields on a line of its
 * own, so every sample walked 32 lines (callgrind, cell b: ~440
 * instructions a sample, 12 a request). */
struct hotkeys_private {
    /* Guards the slots: taken by the owning worker on a sampled read and
     * by readers of the top list. */
    pthread_mutex_t lock;
    uint64_t rng; /* owner only: xorshift state for the sampling gaps */
    uint64_t hash[HOTKEYS_SLOTS];
    uint64_t count[HOTKEYS_SLOTS]; /* sampled reads, inherited minimum included */
    uint8_t len[HOTKEYS_SLOTS];    /* 0: empty */
    char key[HOTKEYS_SLOTS][250];
};

/* The gap to the next sampled read: 1 .. 2 x HOTKEYS_SAMPLE - 1. */
static uint32_t
next_gap(struct hotkeys_private *p)
{
    p->rng ^= p->rng << 13;
    p->rng ^= p->rng >> 7;
    p->rng ^= p->rng << 17;
    return 1 + (uint32_t)(p->rng % (2 * HOTKEYS_SAMPLE - 1));
}

/* The public part and the private one, in one allocation. */
struct hotkeys_block {
    struct hotkeys pub;
    struct hotkeys_private priv;
};

int
hotkeys_create(struct hotkeys **hp)
{
    struct hotkeys_block *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        return -ENOMEM;
    }
    struct hotkeys_private *p = &b->priv;
    pthread_mutex_init(&p->lock, NULL);
    p->rng = (uint64_t)(uintptr_t)b | 1;
    b->pub.priv = p;
    b->pub.countdown = next_gap(p);
    *hp = &b->pub;
    return 0;
}

void
hotkeys_destroy(struct hotkeys **hp)
{
    struct hotkeys *h = *hp;
    if (h != NULL) {
        pthread_mutex_destroy(&h->priv->lock);
        free((struct hotkeys_block *)(void *)h); /* pub is the block's first member */
        *hp = NULL;
    }
}

void
hotkeys_sample(struct hotkeys *h, const char *key, size_t len, uint64_t hash)
{
    struct hotkeys_private *p = h->priv;
    h->countdown = next_gap(p);
    if (len == 0 || len > 250) {
        return;
    }
    pthread_mutex_lock(&p->lock);
    unsigned min = 0;
    uint64_t least = UINT64_MAX;
    for (unsigned i = 0; i < HOTKEYS_SLOTS; i++) {
        if (__builtin_expect(p->hash[i] == hash, 0) && p->len[i] == len &&
            memcmp(p->key[i], key, len) == 0) {
            p->count[i]++;
            pthread_mutex_unlock(&p->lock);
            return;
        }
        if (p->count[i] < least) {
            least = p->count[i];
            min = i;
        }
    }
    /* Not tracked: take over the smallest counter (an empty one has 0). */
    p->hash[min] = hash;
    p->len[min] = (uint8_t)len;
    memcpy(p->key[min], key, len);
    p->count[min]++;
    pthread_mutex_unlock(&p->lock);
}

static int
by_count_desc(const void *a, const void *b)
{
    const struct hotkeys_entry *x = a, *y = b;
    return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

size_t
hotkeys_top(struct hotkeys *const *hs, size_t n, struct hotkeys_entry *out, size_t max)
{
    size_t cap = n * HOTKEYS_SLOTS;
    struct hotkeys_entry *all = calloc(cap > 0 ? cap : 1, sizeof(*all));
    if (all == NULL) {
        return 0;
    }
    size_t found = 0;
    for (size_t w = 0; w < n; w++) {
        struct hotkeys_private *h = hs[w]->priv;
        pthread_mutex_lock(&h->lock);
        for (unsigned i = 0; i < HOTKEYS_SLOTS; i++) {
            size_t len = h->len[i];
            if (len == 0) {
                continue;
            }
            size_t j = 0;
            while (j < found && !(all[j].len == len && memcmp(all[j].key, h->key[i], len) == 0)) {
                j++;
            }
            if (j == found) {
                memcpy(all[j].key, h->key[i], len);
                all[j].len = len;
                found++;
            }
            all[j].count += h->count[i] * HOTKEYS_SAMPLE;
        }
        pthread_mutex_unlock(&h->lock);
    }
    qsort(all, found, sizeof(*all), by_count_desc);
    size_t k = found < max ? found : max;
    memcpy(out, all, k * sizeof(*all));
    free(all);
    return k;
}
