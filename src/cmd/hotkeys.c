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

struct slot {
    uint64_t hash;
    uint64_t count; /* sampled reads, inherited minimum included */
    uint8_t len;    /* 0: empty */
    char key[250];
};

struct hotkeys_private {
    /* Guards slots: taken by the owning worker on a sampled read and by
     * readers of the top list. */
    pthread_mutex_t lock;
    uint64_t rng; /* owner only: xorshift state for the sampling gaps */
    struct slot slots[HOTKEYS_SLOTS];
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
    struct slot *min = &p->slots[0];
    for (unsigned i = 0; i < HOTKEYS_SLOTS; i++) {
        struct slot *s = &p->slots[i];
        if (s->len == len && s->hash == hash && memcmp(s->key, key, len) == 0) {
            s->count++;
            pthread_mutex_unlock(&p->lock);
            return;
        }
        if (s->count < min->count) {
            min = s;
        }
    }
    /* Not tracked: take over the smallest counter (an empty one has 0). */
    min->hash = hash;
    min->len = (uint8_t)len;
    memcpy(min->key, key, len);
    min->count++;
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
            const struct slot *s = &h->slots[i];
            if (s->len == 0) {
                continue;
            }
            size_t j = 0;
            while (j < found &&
                   !(all[j].len == s->len && memcmp(all[j].key, s->key, s->len) == 0)) {
                j++;
            }
            if (j == found) {
                memcpy(all[j].key, s->key, s->len);
                all[j].len = s->len;
                found++;
            }
            all[j].count += s->count * HOTKEYS_SAMPLE;
        }
        pthread_mutex_unlock(&h->lock);
    }
    qsort(all, found, sizeof(*all), by_count_desc);
    size_t k = found < max ? found : max;
    memcpy(out, all, k * sizeof(*all));
    free(all);
    return k;
}
