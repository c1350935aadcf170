/*
 * walk: visiting the keyspace a slice at a time: Redis's SCAN, RANDOMKEY
 * and DBSIZE.
 *
 * SCAN's cursor is a shard and a position in that shard's hash order
 * (index_walk, index.h): shards are walked in order, and within a shard
 * keys in the order of 32 bits of their hash, which no growth of the
 * table changes. So a key present for the whole walk is seen exactly
 * once, whatever happened to the tables between calls.
 */
#include "stashd/util/clock.h"
#include "store/store_int.h"

/* Home buckets per lock hold of a walk (about 9 keys each). A call looks
 * at up to 10 * count slots (Redis: 10 * count buckets of about one key),
 * and passes empty shards at no cost, so walking a store of few keys
 * takes few calls however many shards it has. */
#define WALK_HOMES 64
/* Cursor: shard index above the 33 bits of position (0 .. 2^32). */
#define POS_BITS 33
#define POS_END ((uint64_t)1 << 32)

/* Dead items one home's walk frees (more are left for maintenance). */
#define WALK_DEAD 32

struct walk_ctx {
    struct store *s;
    struct shard *sh;
    uint32_t now;
    int db; /* STORE_DB_ANY, or the database whose items fn sees */
    store_read_fn fn;
    void *ctx;
    uint64_t live; /* live items passed to fn */
    /* Dead items met, unlinked after the walk step (which may not change
     * the table itself). */
    uint32_t dead_ref[WALK_DEAD];
    uint64_t dead_hash[WALK_DEAD];
    unsigned ndead;
};

static void
walk_one(void *ctx, uint32_t ref, uint64_t hash)
{
    struct walk_ctx *w = ctx;
    struct item *it = item_at(&w->s->segs.sp, ref);
    if (shard_item_state(w->sh, it, w->now) != ITEM_LIVE) {
        if (w->ndead < WALK_DEAD) {
            w->dead_ref[w->ndead] = ref;
            w->dead_hash[w->ndead++] = hash;
        }
        return;
    }
    if (w->db != STORE_DB_ANY && item_db(it) != w->db) {
        return;
    }
    struct store_item_view v;
    store_view(w->s, w->sh, it, &v, 0);
    w->fn(w->ctx, &v);
    w->live++;
}

/* Unlink the dead items the last walk step met. Shard locked. */
static void
free_dead(struct walk_ctx *w)
{
    for (unsigned i = 0; i < w->ndead; i++) {
        struct item *it = item_at(&w->s->segs.sp, w->dead_ref[i]);
        struct index_pos pos = index_find_ref(&w->sh->ix, w->dead_hash[i], w->dead_ref[i]);
        shard_count_dead(w->sh, it, shard_item_state(w->sh, it, w->now));
        shard_unlink(w->s, w->sh, pos, it, w->dead_hash[i]);
    }
    w->ndead = 0;
}

uint64_t
store_scan(struct store *s, int db, uint64_t cursor, uint64_t count, store_read_fn fn, void *ctx)
{
    uint64_t si = cursor >> POS_BITS;
    uint64_t pos = cursor & ((((uint64_t)1) << POS_BITS) - 1);
    if (si >= s->nshards || pos > POS_END) {
        return 0;
    }
    count = count ? count : 1;
    /* Redis looks at up to 10 * count buckets of about one key each. */
    uint64_t budget = count > UINT64_MAX / 10 ? UINT64_MAX : count * 10;
    uint64_t work = 0;
    struct walk_ctx w = {.s = s, .now = clock_now(), .db = db, .fn = fn, .ctx = ctx};
    while (w.live < count && work < budget) {
        struct shard *sh = &s->shards[si];
        shard_lock(sh);
        shard_sync_flush(s, sh, w.now);
        w.sh = sh;
        if (sh->ix.nitems == 0 || (db != STORE_DB_ANY && store_shard_db_count(s, sh, db) == 0)) {
            pos = POS_END; /* free: a call may pass every empty shard */
        }
        for (unsigned homes = 0; pos < POS_END && homes < WALK_HOMES; homes++) {
            index_walk(&sh->ix, &s->segs.sp, &pos, 1, walk_one, &w);
            free_dead(&w);
            work += INDEX_SLOTS;
            if (w.live >= count || work >= budget) {
                break;
            }
        }
        shard_unlock(sh);
        if (pos >= POS_END) {
            pos = 0;
            if (++si == s->nshards) {
                return 0;
            }
        }
    }
    return (si << POS_BITS) | pos;
}

/* The first live item of database db from slot k of sh's table on
 * (wrapping), passed to fn; false if none. Dead ones met are unlinked.
 * Shard locked. */
static bool
random_in(struct store *s, struct shard *sh, int db, uint64_t k, uint32_t now, store_read_fn fn,
          void *ctx)
{
    uint64_t slots = (uint64_t)sh->ix.n * INDEX_SLOTS;
    for (uint64_t j = 0; j < slots; j++) {
        uint64_t slot = (k + j) % slots;
        uint32_t ref = index_slot_ref(&sh->ix, slot);
        if (ref == 0) {
            continue;
        }
        struct item *it = item_at(&s->segs.sp, ref);
        enum item_state why = shard_item_state(sh, it, now);
        if (why != ITEM_LIVE) {
            uint64_t hash = item_hash(it);
            struct index_pos pos = {.bucket = (uint32_t)(slot / INDEX_SLOTS),
                                    .slot = (uint32_t)(slot % INDEX_SLOTS)};
            shard_count_dead(sh, it, why);
            shard_unlink(s, sh, pos, it, hash);
            continue;
        }
        if (db != STORE_DB_ANY && item_db(it) != db) {
            continue;
        }
        struct store_item_view v;
        store_view(s, sh, it, &v, 0);
        fn(ctx, &v);
        return true;
    }
    return false;
}

enum store_rc
store_random(struct store *s, int db, uint64_t rnd, store_read_fn fn, void *ctx)
{
    uint32_t now = clock_now();
    uint32_t n = s->nshards;
    uint32_t start = (uint32_t)(rnd >> 40) & (n - 1);
    for (uint32_t i = 0; i < n; i++) {
        struct shard *sh = &s->shards[(start + i) & (n - 1)];
        shard_lock(sh);
        shard_sync_flush(s, sh, now);
        bool found = sh->ix.n != 0 &&
                     (db == STORE_DB_ANY || store_shard_db_count(s, sh, db) != 0) &&
                     random_in(s, sh, db, rnd % ((uint64_t)sh->ix.n * INDEX_SLOTS), now, fn, ctx);
        shard_unlock(sh);
        if (found) {
            return STORE_OK;
        }
    }
    return STORE_NOT_FOUND;
}

uint64_t
store_count(struct store *s)
{
    uint64_t n = 0;
    uint32_t now = clock_now();
    for (uint32_t i = 0; i < s->nshards; i++) {
        struct shard *sh = &s->shards[i];
        shard_lock(sh);
        shard_sync_flush(s, sh, now);
        n += sh->nlive;
        shard_unlock(sh);
    }
    return n;
}
