/*
 * db: Redis's numbered databases over the one keyspace: per-database
 * counts (DBSIZE, INFO keyspace), FLUSHDB, SWAPDB's map, and the commands
 * that move an item to another key or database as one step (COPY,
 * RENAME, RENAMENX, MOVE).
 *
 * An item's database is a byte of its header (store/item.h; absent for
 * database 0) and part of its key's identity in the index, not of its
 * hash: the same key in two databases lives in one shard, so MOVE and
 * COPY ... DB lock a single shard.
 */
#include <stdlib.h>
#include <string.h>

#include "stashd/util/clock.h"
#include "store/store_int.h"

/* INFO keyspace's avg_ttl: the mean over at most this many items of a
 * database, from at most TTL_SHARDS shards. */
#define TTL_SAMPLE 128
#define TTL_SHARDS 64

void
shard_flush_all(struct store *s, struct shard *sh)
{
    shard_flush_now(sh);
    if (s->ndb > 1) {
        memset(shard_dbc(s, sh, 1), 0, sizeof(uint32_t) * 2 * (s->ndb - 1));
    }
}

unsigned
store_databases(const struct store *s)
{
    return s->ndb;
}

void
store_swap_db(struct store *s, unsigned a, unsigned b)
{
    if (a >= s->ndb || b >= s->ndb || a == b) {
        return;
    }
    /* Every shard held: no store call is between its reads of the map
     * (a transaction reads it while it holds its shards). */
    for (uint32_t i = 0; i < s->nshards; i++) {
        shard_lock(&s->shards[i]);
    }
    uint8_t pa = atomic_load_explicit(&s->head.dbmap[a], memory_order_relaxed);
    uint8_t pb = atomic_load_explicit(&s->head.dbmap[b], memory_order_relaxed);
    atomic_store_explicit(&s->head.dbmap[a], pb, memory_order_relaxed);
    atomic_store_explicit(&s->head.dbmap[b], pa, memory_order_relaxed);
    for (uint32_t i = s->nshards; i-- > 0;) {
        shard_unlock(&s->shards[i]);
    }
}

/* --- counts ------------------------------------------------------------------ */

uint64_t
store_db_keys(struct store *s, unsigned db)
{
    if (db >= s->ndb) {
        return 0;
    }
    uint64_t n = 0;
    uint32_t now = clock_now();
    for (uint32_t i = 0; i < s->nshards; i++) {
        struct shard *sh = &s->shards[i];
        shard_lock(sh);
        shard_sync_flush(s, sh, now);
        n += store_shard_db_count(s, sh, db);
        shard_unlock(sh);
    }
    return n;
}

struct ttl_sample {
    uint64_t sum[STORE_DB_MAX];
    uint32_t n[STORE_DB_MAX];
};

/* Add the time left of sh's live items with an expiry to their
 * database's sample (at most TTL_SAMPLE each). Shard locked. */
static void
sample_ttls(struct store *s, struct shard *sh, uint32_t now, int64_t now_ms, struct ttl_sample *t)
{
    const struct item_space *sp = &s->segs.sp;
    for (uint64_t k = 0; k < (uint64_t)sh->ix.n * INDEX_SLOTS; k++) {
        uint32_t ref = index_slot_ref(&sh->ix, k);
        if (ref == 0) {
            continue;
        }
        struct item *it = item_at(sp, ref);
        unsigned db = item_db(it);
        if (item_exptime(it) == 0 || db >= s->ndb || t->n[db] >= TTL_SAMPLE ||
            shard_item_state(sh, it, now) != ITEM_LIVE) {
            continue;
        }
        int64_t left = expiry_unix_ms(it) - now_ms;
        t->sum[db] += left > 0 ? (uint64_t)left : 0;
        t->n[db]++;
    }
}

void
store_db_info(struct store *s, struct store_db_info *out)
{
    memset(out, 0, sizeof(*out) * s->ndb);
    struct ttl_sample *t = calloc(1, sizeof(*t));
    uint32_t now = clock_now();
    int64_t now_ms = store_now_ms();
    unsigned sampled = 0;
    /* Sample from a shard that moves from call to call. */
    uint32_t start = (uint32_t)(clock_mono_ns() >> 10) & (s->nshards - 1);
    for (uint32_t j = 0; j < s->nshards; j++) {
        struct shard *sh = &s->shards[(start + j) & (s->nshards - 1)];
        shard_lock(sh);
        shard_sync_flush(s, sh, now);
        uint64_t keys0 = sh->nlive, expires0 = sh->nexpiring;
        for (unsigned d = 1; d < s->ndb; d++) {
            const uint32_t *c = shard_dbc(s, sh, d);
            out[d].keys += c[0];
            out[d].expires += c[1];
            keys0 -= c[0];
            expires0 -= c[1];
        }
        out[0].keys += keys0;
        out[0].expires += expires0;
        if (t != NULL && sh->nexpiring != 0 && sampled < TTL_SHARDS) {
            sample_ttls(s, sh, now, now_ms, t);
            sampled++;
        }
        shard_unlock(sh);
    }
    for (unsigned d = 0; t != NULL && d < s->ndb; d++) {
        out[d].avg_ttl_ms = t->n[d] != 0 ? t->sum[d] / t->n[d] : 0;
    }
    free(t);
}

/* --- FLUSHDB -------------------------------------------------------------------- */

/* Unlink every item of database db in sh, and the dead ones met. Shard
 * locked. */
static void
unlink_db(struct store *s, struct shard *sh, unsigned db, uint32_t now)
{
    const struct item_space *sp = &s->segs.sp;
    for (uint64_t k = 0; k < (uint64_t)sh->ix.n * INDEX_SLOTS; k++) {
        uint32_t ref = index_slot_ref(&sh->ix, k);
        if (ref == 0) {
            continue;
        }
        struct item *it = item_at(sp, ref);
        enum item_state why = shard_item_state(sh, it, now);
        if (why == ITEM_LIVE && item_db(it) != db) {
            continue;
        }
        struct index_pos pos = {.bucket = (uint32_t)(k / INDEX_SLOTS),
                                .slot = (uint32_t)(k % INDEX_SLOTS)};
        if (why != ITEM_LIVE) {
            shard_count_dead(sh, it, why);
        }
        shard_unlink(s, sh, pos, it, item_hash(it));
    }
}

void
store_flush_db(struct store *s, unsigned db)
{
    if (db >= s->ndb) {
        return;
    }
    uint32_t now = clock_now();
    bool flushed = false;
    for (uint32_t i = 0; i < s->nshards; i++) {
        struct shard *sh = &s->shards[i];
        shard_lock(sh);
        shard_sync_flush(s, sh, now);
        uint32_t n = store_shard_db_count(s, sh, db);
        if (n != 0 && n == sh->nlive) {
            shard_flush_all(s, sh); /* all its live items are db's: O(1) */
            flushed = true;
        } else if (n != 0) {
            unlink_db(s, sh, db, now);
        }
        shard_unlock(sh);
    }
    if (flushed) {
        /* Maintenance unlinks what the flushes covered (as store_flush). */
        atomic_store_explicit(&s->sweep_pending, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->segs.flushes, 1, memory_order_relaxed);
    }
}

/* --- COPY, RENAME, MOVE --------------------------------------------------------- */

/* An operation's outcome while it still needs room it could not take
 * under the locks: *span says how much (as rmw.c). */
#define NEED_ROOM (-1)

/* One try with both shards locked. */
static int
copy_once(struct store *s, struct room *rm, const struct store_key *src,
          const struct store_key *dst, bool replace, bool remove_src, uint32_t now, uint64_t *span)
{
    struct shard *ssh = shard_of(s, src->hash), *dsh = shard_of(s, dst->hash);
    struct index_pos spos, dpos;
    enum item_state why;
    struct item *from = shard_find(s, ssh, src, now, &spos, &why);
    if (from == NULL) {
        return STORE_NOT_FOUND;
    }
    struct item *old = shard_find(s, dsh, dst, now, &dpos, &why);
    if (old != NULL && !replace) {
        return STORE_NOT_STORED;
    }
    uint32_t nbytes = item_nbytes(from);
    if (!store_fits(s, dst->len, nbytes)) {
        return STORE_TOO_LARGE;
    }
    struct item_fields f = item_fields_of(from);
    f.db = dst->db;
    *span = item_span_of(&s->segs.sp, item_size_of(item_layout_for(&f, nbytes), dst->len, nbytes));
    uint32_t ref = room_take(s, rm, *span);
    if (ref == 0) {
        return NEED_ROOM;
    }
    struct item *it = item_at(&s->segs.sp, ref);
    memcpy(item_init(it, dst->data, (uint8_t)dst->len, nbytes, &f, now), item_value(from), nbytes);
    if (old != NULL) {
        shard_replace(s, dsh, rm->h, dpos, old, it, false);
    } else if (shard_link(s, dsh, rm->h, it, dst->hash) != 0) {
        seg_unalloc(&s->segs, rm->h, ref, *span);
        return STORE_NO_MEMORY;
    }
    if (remove_src) {
        /* Linking may have grown the table: find src's slot again. */
        from = shard_find(s, ssh, src, now, &spos, &why);
        if (from != NULL) {
            shard_unlink(s, ssh, spos, from, src->hash);
        }
    }
    return STORE_OK;
}

static void
lock_pair(struct store *s, struct shard *a, struct shard *b, uint32_t now)
{
    if (a > b) {
        struct shard *t = a;
        a = b;
        b = t;
    }
    shard_lock(a);
    shard_sync_flush(s, a, now);
    if (b != a) {
        shard_lock(b);
        shard_sync_flush(s, b, now);
    }
}

static void
unlock_pair(struct shard *a, struct shard *b)
{
    if (b != a) {
        shard_unlock(b);
    }
    shard_unlock(a);
}

enum store_rc
store_copy(struct store *s, const struct store_key *src, const struct store_key *dst, bool replace,
           bool remove_src)
{
    if (!key_ok(src)) {
        return STORE_NOT_FOUND;
    }
    if (!key_ok(dst)) {
        return STORE_TOO_LARGE;
    }
    uint32_t now = clock_now();
    struct shard *ssh = shard_of(s, src->hash), *dsh = shard_of(s, dst->hash);
    struct room rm = {.h = seg_head_acquire(&s->segs)};
    int rc = STORE_NO_MEMORY;
    for (unsigned attempt = 0; attempt < STORE_RETRIES; attempt++) {
        lock_pair(s, ssh, dsh, now);
        uint64_t span = 0;
        rc = copy_once(s, &rm, src, dst, replace, remove_src, now, &span);
        unlock_pair(ssh < dsh ? ssh : dsh, ssh < dsh ? dsh : ssh);
        if (rc != NEED_ROOM) {
            break;
        }
        rc = STORE_NO_MEMORY;
        if (!room_make(s, &rm, span)) {
            break;
        }
    }
    room_drop(s, &rm);
    seg_head_release(&s->segs, rm.h);
    return (enum store_rc)rc;
}
