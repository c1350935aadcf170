/*
 * index: one shard's table from keys to items (private to store/).
 *
 * An array of 64-byte buckets, one cache line each, of 12 slots: a one-byte
 * tag per slot (8 bits of the key's hash, never 0; 0 marks an empty slot)
 * and a 32-bit item ref (see store/item.h). A lookup compares the 12 tags
 * of the key's home bucket at once (SSE2) and reads only the items whose
 * tag matches, so a miss usually touches one cache line and a hit two (the
 * bucket and the item). A key costs 64 / (12 * load) bytes here.
 *
 *   bucket: | tag[12] | moved | reach | pad[2] | ref[12] |
 *
 * Home buckets come from 32 bits of the hash by multiply-shift (Lemire's
 * "fastrange"), so the table may have any number of buckets: it grows by
 * a fifth when it passes INDEX_LOAD_MAX, which keeps the mean load near
 * 0.80 rather than the 0.6 of a table that doubles. Growing rehashes the
 * whole shard's table under its lock; with at least 4096 shards that is
 * at most ~10^4 items (see store.c's shard count), under a millisecond.
 *
 * A key goes into the first bucket from its home with a free slot (linear
 * probing). Each bucket counts the keys homed at it that live further on
 * (moved) and how far the furthest one is (reach), so a lookup reads
 * buckets home .. home + reach, and only the home bucket when none of its
 * keys had to move: at the mean load a miss reads 1.4 buckets, a hit
 * 1.1, and a further bucket is the next cache line (simulated; counting
 * every key that passed over a bucket, as F14 does, made misses read 2.2
 * at the same load). A count that reached 255 stays there until the next
 * rehash. Since homes are monotonic in the hash, walking homes in order
 * visits keys in hash order whatever the table's size: SCAN's cursor is
 * a position in that order (index_walk).
 *
 * Not thread-safe: the owning shard's lock guards every call.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/item.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define INDEX_SLOTS 12
/* Items per slot before the table grows: 0.88 (in 1/256ths). The growth
 * by a fifth keeps the mean load near 0.80: 6.6 bytes a key. */
#define INDEX_LOAD_MAX 225
#define INDEX_REACH_ALL UINT8_MAX /* reach: look at every bucket */

struct index_bucket {
    uint8_t tag[INDEX_SLOTS];
    uint8_t moved; /* keys homed here that live in a later bucket (255: sticky) */
    uint8_t reach; /* while moved != 0: buckets after this one they may be in */
    uint8_t pad[2];
    uint32_t ref[INDEX_SLOTS];
};

_Static_assert(sizeof(struct index_bucket) == 64, "a bucket is one cache line");

struct index {
    struct index_bucket *b; /* n buckets, 64-byte aligned; NULL while n is 0 */
    uint32_t n;
    uint32_t nitems;
};

/* Where a key sits: bucket and slot. Valid until the table changes. */
struct index_pos {
    uint32_t bucket;
    uint32_t slot;
};

/* The 32 hash bits homes are taken from (clear of the top bits that pick
 * the shard and the low byte that is the tag). */
static inline uint32_t
index_h32(uint64_t hash)
{
    return (uint32_t)(hash >> 14);
}

static inline uint8_t
index_tag(uint64_t hash)
{
    uint8_t t = (uint8_t)hash;
    return t != 0 ? t : 1;
}

static inline uint32_t
index_home(uint32_t h32, uint32_t n)
{
    return (uint32_t)(((uint64_t)h32 * n) >> 32);
}

void index_init(struct index *ix);
void index_fini(struct index *ix);

/* Bytes the bucket array takes. */
static inline uint64_t
index_bytes(const struct index *ix)
{
    return (uint64_t)ix->n * sizeof(struct index_bucket);
}

/* --- the lookup, inline: it is every request's ----------------------------- */

/* Bit i set when slot i's tag is t (t 0: the empty slots). */
static inline uint32_t
index_tag_match(const struct index_bucket *b, uint8_t t)
{
#ifdef __SSE2__
    __m128i v = _mm_load_si128((const __m128i *)(const void *)b);
    __m128i eq = _mm_cmpeq_epi8(v, _mm_set1_epi8((char)t));
    return (uint32_t)_mm_movemask_epi8(eq) & ((1u << INDEX_SLOTS) - 1);
#else
    uint32_t m = 0;
    for (unsigned i = 0; i < INDEX_SLOTS; i++) {
        m |= (uint32_t)(b->tag[i] == t) << i;
    }
    return m;
#endif
}

static inline uint32_t
index_next(const struct index *ix, uint32_t i)
{
    return i + 1 < ix->n ? i + 1 : 0;
}

/* Buckets after home b that keys homed at b may live in. */
static inline uint32_t
index_reach(const struct index *ix, uint32_t b)
{
    const struct index_bucket *hb = &ix->b[b];
    if (hb->moved == 0) {
        return 0;
    }
    return hb->reach == INDEX_REACH_ALL ? ix->n - 1 : hb->reach;
}

static inline uint64_t
index_load8(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint32_t
index_load4(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Keys are short (about 10-60 bytes): compared 8 bytes at a time inline
 * rather than through a memcmp call, the last 8 (or 4) overlapping what
 * came before instead of a byte loop for the tail (callgrind: the tail
 * loop was ~40 instructions a lookup for 14-byte keys). */
static inline bool
index_bytes_equal(const char *a, const char *b, size_t n)
{
    if (n >= 8) {
        for (size_t i = 0; i + 8 < n; i += 8) {
            if (index_load8(a + i) != index_load8(b + i)) {
                return false;
            }
        }
        return index_load8(a + n - 8) == index_load8(b + n - 8);
    }
    if (n >= 4) {
        return index_load4(a) == index_load4(b) && index_load4(a + n - 4) == index_load4(b + n - 4);
    }
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i]) {
            return false;
        }
    }
    return true;
}

static inline bool
index_key_is(struct item *it, const char *key, size_t nkey, uint8_t db)
{
    return it->nkey == nkey && index_bytes_equal(item_key(it), key, nkey) && item_db(it) == db;
}

/*
 * The probe every lookup makes: the slots within reach of hash's home
 * whose tag matches, in order, until match(ctx, ref) says yes; that
 * slot's ref (and *pos), or 0. Inline with match known, so the compiler
 * folds the call away.
 */
typedef bool (*index_match_fn)(const void *ctx, uint32_t ref);

static inline uint32_t
index_probe(const struct index *ix, uint64_t hash, index_match_fn match, const void *ctx,
            struct index_pos *pos)
{
    if (ix->n == 0) {
        return 0;
    }
    uint8_t tag = index_tag(hash);
    uint32_t i = index_home(index_h32(hash), ix->n);
    uint32_t reach = index_reach(ix, i);
    for (uint32_t k = 0; k <= reach; k++) {
        const struct index_bucket *b = &ix->b[i];
        for (uint32_t m = index_tag_match(b, tag); m != 0; m &= m - 1) {
            unsigned s = (unsigned)__builtin_ctz(m);
            if (match(ctx, b->ref[s])) {
                *pos = (struct index_pos){.bucket = i, .slot = s};
                return b->ref[s];
            }
        }
        i = index_next(ix, i);
    }
    return 0;
}

struct index_key_ctx {
    const struct item_space *sp;
    const char *key;
    size_t nkey;
    uint8_t db;
};

static inline bool
index_match_key(const void *ctx, uint32_t ref)
{
    const struct index_key_ctx *c = ctx;
    return index_key_is(item_at(c->sp, ref), c->key, c->nkey, c->db);
}

/* The ref of the item with this key (and database), or 0; *pos is set
 * when found. */
static inline uint32_t
index_find(const struct index *ix, const struct item_space *sp, uint64_t hash, const char *key,
           size_t nkey, uint8_t db, struct index_pos *pos)
{
    struct index_key_ctx c = {.sp = sp, .key = key, .nkey = nkey, .db = db};
    return index_probe(ix, hash, index_match_key, &c, pos);
}

/* Where ref sits (it must be linked under this hash). */
struct index_pos index_find_ref(const struct index *ix, uint64_t hash, uint32_t ref);

/* Add ref under hash (its key absent). Grows the table first when it is
 * at its load; 0, or -ENOMEM when growing failed and there is no room. */
int index_insert(struct index *ix, const struct item_space *sp, uint64_t hash, uint32_t ref);

/* Remove the key at pos (found under hash). */
void index_remove(struct index *ix, struct index_pos pos, uint64_t hash);

/* Point the slot at pos to another item of the same key. */
static inline void
index_set(struct index *ix, struct index_pos pos, uint32_t ref)
{
    ix->b[pos.bucket].ref[pos.slot] = ref;
}

static inline uint32_t
index_ref_at(const struct index *ix, struct index_pos pos)
{
    return ix->b[pos.bucket].ref[pos.slot];
}

/* Rebuild into n buckets (n >= what the items need); 0 or -ENOMEM. */
int index_resize(struct index *ix, const struct item_space *sp, uint32_t n);
/* Grow to hold nitems keys at the mean load of a table that grew to them,
 * so that inserting them rehashes nothing (a restart knows how many it
 * will insert). 0 or -ENOMEM. */
int index_reserve(struct index *ix, const struct item_space *sp, uint64_t nitems);

/*
 * Walk keys in hash order from *cursor (a position in [0, 2^32]; 2^32 is
 * the end): fn(ctx, ref, hash) for every key whose index_h32 is at or
 * after it, a home bucket at a time, until the end or until at least
 * max_homes home buckets were done; *cursor then is where the next call
 * goes on. Keys present for the whole walk are seen once, whatever the
 * table did in between. fn must not change the table. Returns how many
 * keys it saw.
 */
typedef void (*index_walk_fn)(void *ctx, uint32_t ref, uint64_t hash);
uint64_t index_walk(const struct index *ix, const struct item_space *sp, uint64_t *cursor,
                    uint32_t max_homes, index_walk_fn fn, void *ctx);

/* Slot k (0 .. n * INDEX_SLOTS - 1) in table order, 0 if empty: for
 * picking at random. */
static inline uint32_t
index_slot_ref(const struct index *ix, uint64_t k)
{
    return ix->b[k / INDEX_SLOTS].ref[k % INDEX_SLOTS];
}
