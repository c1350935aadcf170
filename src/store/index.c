/*
 * index: one shard's bucketised hash table of item refs (see index.h).
 */
#include "store/index.h"

#include <assert.h>
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

/* Items whose headers a rehash asks for together, so their misses overlap. */
#define PREFETCH_BATCH 8

/* b and n are stored atomically: store_prefetch_many reads them without
 * the shard's lock, to prefetch a bucket (it reads no bucket so). */
void
index_init(struct index *ix)
{
    __atomic_store_n(&ix->b, NULL, __ATOMIC_RELAXED);
    __atomic_store_n(&ix->n, 0, __ATOMIC_RELAXED);
    ix->nitems = 0;
}

void
index_fini(struct index *ix)
{
    free(ix->b);
    index_init(ix);
}

static bool
match_ref(const void *ctx, uint32_t ref)
{
    return ref == *(const uint32_t *)ctx;
}

struct index_pos
index_find_ref(const struct index *ix, uint64_t hash, uint32_t ref)
{
    struct index_pos pos = {0, 0};
    uint32_t found = index_probe(ix, hash, match_ref, &ref, &pos);
    assert(found == ref && "ref not in the index");
    (void)found;
    return pos;
}

/* Put ref into the first free slot from its home (there is one). */
static void
place(struct index_bucket *bk, uint32_t n, uint64_t hash, uint32_t ref)
{
    uint32_t home = index_home(index_h32(hash), n);
    for (uint32_t i = home, d = 0;; d++) {
        struct index_bucket *b = &bk[i];
        uint32_t empty = index_tag_match(b, 0);
        if (empty != 0) {
            unsigned s = (unsigned)__builtin_ctz(empty);
            b->tag[s] = index_tag(hash);
            b->ref[s] = ref;
            if (d > 0) {
                struct index_bucket *hb = &bk[home];
                hb->moved += hb->moved != UINT8_MAX;
                uint32_t r = d < INDEX_REACH_ALL ? d : INDEX_REACH_ALL;
                hb->reach = (uint8_t)(r > hb->reach ? r : hb->reach);
            }
            return;
        }
        i = i + 1 < n ? i + 1 : 0;
    }
}

static inline bool
over_load(uint64_t items, uint32_t n)
{
    return items * 256 > (uint64_t)n * INDEX_SLOTS * INDEX_LOAD_MAX;
}

int
index_resize(struct index *ix, const struct item_space *sp, uint32_t n)
{
    struct index_bucket *nb = aligned_alloc(64, (size_t)n * sizeof(*nb));
    if (nb == NULL) {
        return -ENOMEM;
    }
    /* The allocator rounds sizes up to its classes (up to a quarter more):
     * take what it gave as buckets rather than waste it. */
    size_t usable = malloc_usable_size(nb) / sizeof(*nb);
    n = usable > n && usable <= UINT32_MAX / 2 ? (uint32_t)usable : n;
    memset(nb, 0, (size_t)n * sizeof(*nb));
    /* Keys are hashed again from the items (slots keep only a tag). */
    uint32_t refs[PREFETCH_BATCH];
    unsigned pending = 0;
    for (uint64_t k = 0; k <= (uint64_t)ix->n * INDEX_SLOTS; k++) {
        bool last = k == (uint64_t)ix->n * INDEX_SLOTS;
        uint32_t ref = last ? 0 : index_slot_ref(ix, k);
        if (ref != 0) {
            __builtin_prefetch(item_at(sp, ref));
            refs[pending++] = ref;
        }
        if (pending == PREFETCH_BATCH || (last && pending > 0)) {
            for (unsigned j = 0; j < pending; j++) {
                place(nb, n, item_hash(item_at(sp, refs[j])), refs[j]);
            }
            pending = 0;
        }
    }
    free(ix->b);
    __atomic_store_n(&ix->b, nb, __ATOMIC_RELAXED);
    __atomic_store_n(&ix->n, n, __ATOMIC_RELAXED);
    return 0;
}

/* The mean load of a table grown a fifth at a time (in 1/256ths). */
#define INDEX_LOAD_MEAN 205

int
index_reserve(struct index *ix, const struct item_space *sp, uint64_t nitems)
{
    uint64_t n = nitems * 256 / ((uint64_t)INDEX_SLOTS * INDEX_LOAD_MEAN) + 1;
    if (nitems == 0 || n <= ix->n) {
        return 0;
    }
    return n > UINT32_MAX / 2 ? -ENOMEM : index_resize(ix, sp, (uint32_t)n);
}

/* The next size: a fifth more (at least one bucket more). */
static uint32_t
grown(uint32_t n)
{
    uint64_t g = (uint64_t)n + (n >= 5 ? n / 5 : 1);
    return g > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)g;
}

int
index_insert(struct index *ix, const struct item_space *sp, uint64_t hash, uint32_t ref)
{
    if (over_load((uint64_t)ix->nitems + 1, ix->n)) {
        if (index_resize(ix, sp, grown(ix->n)) != 0 &&
            (uint64_t)ix->nitems >= (uint64_t)ix->n * INDEX_SLOTS) {
            return -ENOMEM;
        }
    }
    place(ix->b, ix->n, hash, ref);
    ix->nitems++;
    return 0;
}

void
index_remove(struct index *ix, struct index_pos pos, uint64_t hash)
{
    struct index_bucket *b = &ix->b[pos.bucket];
    b->tag[pos.slot] = 0;
    b->ref[pos.slot] = 0;
    ix->nitems--;
    uint32_t home = index_home(index_h32(hash), ix->n);
    struct index_bucket *hb = &ix->b[home];
    if (home != pos.bucket && hb->moved != UINT8_MAX) {
        assert(hb->moved > 0);
        if (--hb->moved == 0) {
            hb->reach = 0;
        }
    }
}

/* The first h32 whose home is bucket i (2^32 past the last). */
static inline uint64_t
home_start(uint32_t i, uint32_t n)
{
    return (((uint64_t)i << 32) + n - 1) / n;
}

uint64_t
index_walk(const struct index *ix, const struct item_space *sp, uint64_t *cursor,
           uint32_t max_homes, index_walk_fn fn, void *ctx)
{
    uint64_t seen = 0;
    if (ix->n == 0 || *cursor >= ((uint64_t)1 << 32)) {
        *cursor = (uint64_t)1 << 32;
        return 0;
    }
    uint32_t home = index_home((uint32_t)*cursor, ix->n);
    for (uint32_t done = 0; done < max_homes && home < ix->n; done++, home++) {
        uint64_t lo = *cursor, hi = home_start(home + 1, ix->n);
        /* The keys of this home are in it or within its reach. */
        uint32_t i = home, reach = index_reach(ix, home);
        for (uint32_t k = 0; k <= reach; k++) {
            const struct index_bucket *b = &ix->b[i];
            for (unsigned s = 0; s < INDEX_SLOTS; s++) {
                if (b->ref[s] == 0) {
                    continue;
                }
                uint64_t h = item_hash(item_at(sp, b->ref[s]));
                if (index_h32(h) >= lo && index_h32(h) < hi) {
                    fn(ctx, b->ref[s], h);
                    seen++;
                }
            }
            i = index_next(ix, i);
        }
        *cursor = hi;
    }
    return seen;
}
