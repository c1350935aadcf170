/*
 * store_int: what the store's files share (private to store/): struct
 * store and the steps every operation is built from.
 *
 *   store.c    create/destroy, get, set, delete, touch: the facade
 *   expiry.c   the two expiry forms, views, maintenance's expiry walk
 *   multi.c    MSET, MSETNX, MGET: several shards as one step
 *   tx.c       transactions (store_tx) and key versions (WATCH)
 *   db.c       Redis's databases: counts, FLUSHDB, SWAPDB, COPY/RENAME/MOVE
 *   rmw.c      incr/decr and Redis's read-modify-write (store_update)
 *   meta.c     memcached's meta commands
 *   walk.c     SCAN, RANDOMKEY, counts
 *   maint.c    flush_all, the memory limit, the maintenance thread
 *   stats.c    statistics
 *   shard.c    shard locks; find, link, replace, unlink
 *   index.c    a shard's hash table
 *   seg.c      heads, segments, allocation; evict.c: compaction
 *
 * Lock order: a head (seg.h), then the flush lock (store_flush, and a
 * transaction over every shard), then shard locks (several only in
 * ascending index order: multi.c, db.c, tx.c), then the segment lock.
 * Nothing waits for a head while holding a shard lock (it may try one).
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "stashd/store/store.h"
#include "store/index.h"
#include "store/item.h"
#include "store/seg.h"
#include "store/shard.h"

#define SHARDS_LIMIT (1u << 18) /* most shards, explicit or derived */
#define INDEX_FREE_SHARE 8      /* the index may take limit / this beside the items */
/* Optimistic retries of an operation whose view went stale while it made room. */
#define STORE_RETRIES 4

/* What maintenance and delayed flushes keep per shard, apart from the
 * hot struct shard; guarded by the shard's lock. */
struct shard_cold {
    uint32_t flush_gen; /* generation of the last delayed flush applied */
    uint32_t fresh_lo;  /* low 32 bits of cas_seq when old cas_lo were last renewed */
};

struct store {
    struct store_head head; /* first: store_db_phys reads it inline */
    struct segs segs;
    struct shard *shards; /* nshards of them */
    struct shard_cold *cold;
    uint32_t nshards;     /* power of two */
    unsigned shard_bits;  /* log2(nshards) */
    unsigned shard_shift; /* 63 - shard_bits (shard_of) */
    uint64_t max_item_size;
    bool cas_enabled;
    /* Pending delayed flush: (relative time << 32) | generation; time 0 =
     * none. Written by store_flush under flush_lock, cleared by
     * maintenance with a compare-and-swap; read relaxed by every op. */
    _Atomic uint64_t flush_pending;
    pthread_mutex_t flush_lock;
    /* Maintenance (maint.c). maint_lock guards maint_stop and the
     * condition variable; maint_running is only touched by start/stop. */
    pthread_mutex_t maint_lock;
    pthread_cond_t maint_cond;
    pthread_t maint_thread;
    bool maint_running;
    bool maint_stop;
    /* Set by a flush: maintenance walks every segment once (from
     * sweep_next) to unlink what the flush killed. Maintenance's own. */
    _Atomic uint32_t sweep_pending;
    uint32_t sweep_next;
    uint32_t expiry_next; /* where the expiry walk goes on */
    uint32_t maint_passes;
    /* The memory limit as set (-m, cache_memlimit), and the bytes of every
     * shard's index. The index is outside the limit up to limit /
     * INDEX_FREE_SHARE; past that, what it takes is taken from the items'
     * budget (store_charge_index), so resident memory stays within
     * limit + limit / 8 whatever the items' size (README "Memory"). */
    _Atomic uint64_t limit;
    _Atomic uint64_t index_bytes;
    /* The shards' lazy-reclaim counters folded so far (maint.c); fold_lock
     * makes a fold and a statistics read exclude each other. */
    pthread_mutex_t fold_lock;
    uint64_t reclaimed, expired, expired_unfetched;
    /* Redis's databases (db.c): ndb of them. dbc counts, per shard, the
     * live items of databases 1 .. ndb-1 and those of them with an
     * expiry: dbc[(shard * (ndb - 1) + db - 1) * 2 + {0, 1}], guarded by
     * the shard's lock (NULL when ndb is 1). Database 0's are the shard's
     * nlive and nexpiring less the others', so a cache that uses only
     * database 0 never touches it. head.dbmap: SWAPDB's logical ->
     * physical map, written with every shard locked. */
    uint32_t ndb;
    uint32_t *dbc;
    /* The memory file (restart.h): its path and restart_tag (NULL
     * without one), the limit as configured (-m: what a restart must
     * match, whatever cache_memlimit did since), and what the start made
     * of it. Set by store_create, read-only after. */
    char *memory_file;
    char *restart_tag;
    uint64_t config_limit;
    struct store_restart_info restart;
};

static inline struct shard *
shard_of(const struct store *s, uint64_t hash)
{
    /* the top shard_bits bits; two shifts, so that 0 bits needs no branch */
    return &s->shards[(hash >> 1) >> s->shard_shift];
}

/* Prefetch hash's home bucket in sh's index without sh's lock: a prefetch
 * of an address, nothing read from the bucket (index.c stores b and n
 * atomically; from two resizes, they only make a wasted prefetch). */
static inline void
shard_prefetch_bucket(const struct shard *sh, uint64_t hash)
{
    const struct index_bucket *b = __atomic_load_n(&sh->ix.b, __ATOMIC_RELAXED);
    uint32_t nb = __atomic_load_n(&sh->ix.n, __ATOMIC_RELAXED);
    if (b != NULL && nb != 0) {
        __builtin_prefetch(&b[index_home(index_h32(hash), nb)]);
    }
}

static inline bool
key_ok(const struct store_key *k)
{
    return k->len >= 1 && k->len <= STORE_KEY_MAX;
}

/* The cas a client sees: unique across shards. */
static inline uint32_t
shard_index(const struct store *s, const struct shard *sh)
{
    return (uint32_t)(sh - s->shards);
}

static inline uint64_t
visible_cas(const struct store *s, const struct shard *sh, const struct item *it)
{
    return s->cas_enabled ? shard_item_seq(sh, it) * s->nshards + shard_index(s, sh) : 0;
}

static inline enum store_miss
miss_of(enum item_state why)
{
    switch (why) {
    case ITEM_EXPIRED:
        return STORE_MISS_EXPIRED;
    case ITEM_FLUSHED:
        return STORE_MISS_FLUSHED;
    default:
        return STORE_MISS_ABSENT;
    }
}

/* --- tx.c: the calling thread's transaction ---------------------------------- */

/* Is a transaction running on this thread? */
bool tx_running(void);
/* Does this thread's transaction hold sh (in SHARD_TX)? */
bool tx_holds(const struct shard *sh);
/* This thread's transaction's head, when it runs on sg's store: every
 * store call within the transaction writes through it; else NULL. */
struct head *tx_head_for(const struct segs *sg);

/* --- db.c: with the shard lock held ------------------------------------------ */

/* Database db's two counters (items, with an expiry) in shard sh; db >= 1. */
static inline uint32_t *
shard_dbc(const struct store *s, const struct shard *sh, unsigned db)
{
    return &s->dbc[((size_t)(sh - s->shards) * (s->ndb - 1) + db - 1) * 2];
}

/* Count a live item in (delta 1) or out (-1) of the shard's counts. */
static inline void
shard_count_live(const struct store *s, struct shard *sh, const struct item *it, int delta)
{
    bool exp = item_exptime(it) != 0;
    sh->nlive += (uint32_t)delta;
    sh->nexpiring += exp ? (uint32_t)delta : 0;
    if (__builtin_expect((it->layout & ITEM_HAS_DB) != 0, 0) && item_db(it) < s->ndb) {
        uint32_t *c = shard_dbc(s, sh, item_db(it));
        c[0] += (uint32_t)delta;
        c[1] += exp ? (uint32_t)delta : 0;
    }
}

/* A live item's expiry went from was to now (0 = none). */
static inline void
shard_count_expiry(const struct store *s, struct shard *sh, const struct item *it, uint32_t was,
                   uint32_t now)
{
    int d = (now != 0) - (was != 0);
    sh->nexpiring += (uint32_t)d;
    if (d != 0 && (it->layout & ITEM_HAS_DB) && item_db(it) < s->ndb) {
        shard_dbc(s, sh, item_db(it))[1] += (uint32_t)d;
    }
}

/* Flush everything sh holds now: its counts go to 0 (shard_flush_now). */
void shard_flush_all(struct store *s, struct shard *sh);

/* Live items of database db in sh, and of them those with an expiry. */
static inline uint32_t
store_shard_db_count(const struct store *s, const struct shard *sh, unsigned db)
{
    if (db == 0) {
        uint32_t n = sh->nlive;
        for (unsigned d = 1; d < s->ndb; d++) {
            n -= shard_dbc(s, sh, d)[0];
        }
        return n;
    }
    return db < s->ndb ? shard_dbc(s, sh, db)[0] : 0;
}

/* --- shard.c: with the shard lock held ----------------------------------- */

void shard_sync_flush_slow(struct store *s, struct shard *sh, uint32_t now, uint64_t pending);

/* Apply a pending delayed flush whose time has come. Call first thing
 * after taking a shard lock, so nothing reads or stores past it. */
static inline void
shard_sync_flush(struct store *s, struct shard *sh, uint32_t now)
{
    uint64_t p = atomic_load_explicit(&s->flush_pending, memory_order_relaxed);
    if (__builtin_expect(p >> 32 != 0, 0)) {
        shard_sync_flush_slow(s, sh, now, p);
    }
}

/* Lock the key's shard (and bring it up to date with a pending flush).
 * Inline: every keyed operation takes it (callgrind: ~10 instructions of
 * call a get out of line). */
static inline struct shard *
store_lock_key(struct store *s, const struct store_key *k, uint32_t now)
{
    struct shard *sh = shard_of(s, k->hash);
    shard_lock(sh);
    shard_sync_flush(s, sh, now);
    return sh;
}

/* shard_find's rare end: unlink and count a dead item it found. */
struct item *shard_found_dead(struct store *s, struct shard *sh, const struct store_key *k,
                              struct item *it, struct index_pos pos, enum item_state st);

/*
 * The live item with this key, or NULL; *pos is where it sits. A dead one
 * found is unlinked and counted (lazy expiry) and *why says why it
 * missed (ITEM_LIVE when absent). Valid until the lock is released.
 */
static inline struct item *
shard_find(struct store *s, struct shard *sh, const struct store_key *k, uint32_t now,
           struct index_pos *pos, enum item_state *why)
{
    const struct item_space *sp = &s->segs.sp;
    *why = ITEM_LIVE;
    uint32_t ref = index_find(&sh->ix, sp, k->hash, k->data, k->len, k->db, pos);
    if (ref == 0) {
        return NULL;
    }
    struct item *it = item_at(sp, ref);
    enum item_state st = shard_item_state(sh, it, now);
    if (__builtin_expect(st == ITEM_LIVE, 1)) {
        return it;
    }
    *why = st;
    return shard_found_dead(s, sh, k, it, *pos, st);
}

/* Link a filled item whose key is absent: LINKED, a new cas, counted
 * (in h's total_items). 0, or -ENOMEM when the index could not grow. */
int shard_link(struct store *s, struct shard *sh, struct head *h, struct item *it, uint64_t hash);
/* Put filled item it where old is (pos): it gets a new cas and counts as
 * stored unless keep_cas (the same item, rewritten; h may be NULL then);
 * old leaves (its bytes dead). */
void shard_replace(struct store *s, struct shard *sh, struct head *h, struct index_pos pos,
                   struct item *old, struct item *it, bool keep_cas);
/* Remove the linked item at pos. */
void shard_unlink(struct store *s, struct shard *sh, struct index_pos pos, struct item *it,
                  uint64_t hash);
/* Set the items' budget: the limit, less what the index takes past its
 * share. Any thread; takes the segment lock. */
void store_charge_index(struct store *s);

/* Bookkeeping of an item leaving the index (eviction does the rest). */
void shard_note_unlinked(struct store *s, struct shard *sh, struct item *it);
/* ... and of one entering it (LINKED, bytes, expiry and database counts). */
void shard_note_linked(struct store *s, struct shard *sh, struct item *it);

/* --- room for a new item ---------------------------------------------------- */

/*
 * An operation that decides under the shard lock how large a new item it
 * needs takes it from its head's room (seg_alloc_fast). When there is
 * not enough, it drops the lock, allocates ahead (room_make: may evict,
 * or take a jumbo run), retakes the lock, looks again, and uses the
 * allocation if it still needs that size (room_take).
 */
struct room {
    struct head *h;
    uint32_t ref;  /* allocated ahead, or 0 */
    uint64_t span; /* its size */
};

static inline uint32_t
room_take(struct store *s, struct room *rm, uint64_t span)
{
    if (rm->ref != 0 && rm->span == span) {
        uint32_t ref = rm->ref;
        rm->ref = 0;
        return ref;
    }
    return seg_alloc_fast(&s->segs, rm->h, span);
}

/* Give back an allocation made ahead and not used. */
static inline void
room_drop(struct store *s, struct room *rm)
{
    if (rm->ref != 0) {
        seg_unalloc(&s->segs, rm->h, rm->ref, rm->span);
        rm->ref = 0;
    }
}

/* With no shard lock held: allocate span bytes ahead; false if memory
 * could not be found. */
static inline bool
room_make(struct store *s, struct room *rm, uint64_t span)
{
    room_drop(s, rm);
    rm->ref = seg_alloc(s, rm->h, span);
    rm->span = span;
    return rm->ref != 0;
}

/* --- store.c ----------------------------------------------------------------- */

enum store_rc store_check_set(const struct store *s, const struct shard *sh, const struct item *old,
                              const struct store_set_req *r);

/* --- rmw.c -------------------------------------------------------------------- */

/* A store that needs the old item to build the new one: append, prepend,
 * SET KEEPTTL, meta's stale set (ms I). */
enum store_rc store_set_with_old(struct store *s, const struct store_key *k,
                                 const struct store_set_req *r, uint64_t *cas_out);

/* --- expiry.c --------------------------------------------------------------- */

/* An expiry as item fields: a relative second, plus milliseconds for a
 * wall-clock (Redis) deadline. sec 0 = never. */
struct expiry {
    uint32_t sec;
    uint16_t ms;
    bool ms_form;
};

/* A Unix-ms deadline (0 = never) as item fields. */
struct expiry expiry_of_ms(int64_t unix_ms);
struct expiry expiry_of_item(const struct item *it);
/* Has a Unix-ms deadline (nonzero) come? */
bool expiry_passed(int64_t unix_ms);
/* Put e into item fields. */
void expiry_to_fields(struct expiry e, struct item_fields *f);

/* The item's expiry as a Unix time in ms (0 = never). */
int64_t expiry_unix_ms(const struct item *it);

/* What a read sees of it. */
static inline void
store_view(const struct store *s, const struct shard *sh, struct item *it,
           struct store_item_view *v, unsigned skip)
{
    unsigned layout = it->layout;
    char *key = (char *)it->ext + item_ext_len(layout);
    v->key = key;
    v->nkey = it->nkey;
    v->value = key + it->nkey;
    v->nbytes = item_nbytes(it);
    v->flags = item_flags(it);
    v->type = (uint8_t)((layout & ITEM_TYPE_MASK) >> ITEM_TYPE_SHIFT);
    v->cas = (skip & STORE_VIEW_SKIP_CAS) ? 0 : visible_cas(s, sh, it);
    if (skip & STORE_VIEW_SKIP_META) {
        v->exptime = 0;
        v->atime = 0;
        v->fetched = false;
        v->expire_ms = 0;
        return;
    }
    uint32_t exp = item_exptime(it);
    v->exptime = exp;
    v->atime = it->atime;
    v->fetched = (item_state_load(it) & ITEM_FETCHED) != 0;
    v->expire_ms = exp != 0 ? expiry_unix_ms(it) : 0;
}

/* Is it a string (what the string operations read; see store.h)? */
static inline bool
item_is_string(const struct item *it)
{
    return (it->layout & ITEM_TYPE_MASK) == 0;
}

/*
 * Give the linked item *itp (at pos) expiry e, keeping all else (cas
 * included). In place when its header has the fields for it; else a
 * copy takes its place, written into rm's room (*itp is then the copy).
 * 0, or -EAGAIN when a copy is needed and rm is NULL or has no room: the
 * caller makes room (room_make, no shard lock held) and tries again.
 */
int store_set_expiry(struct store *s, struct shard *sh, struct room *rm, struct index_pos pos,
                     struct item **itp, struct expiry e);
/* The room store_set_expiry may need to give it expiry e. */
uint64_t store_expiry_span(const struct store *s, const struct item *it, struct expiry e);

/* Maintenance: unlink expired items of segments whose earliest expiry
 * has come, and (after a flush) of every segment once; bounded work. */
void expiry_walk(struct store *s, uint32_t now);

/* --- evict.c ---------------------------------------------------------------- */

enum evict_keep {
    KEEP_NONE,     /* evict every live item */
    KEEP_ACCESSED, /* keep items read since the segment was sealed */
    KEEP_LIVE,     /* keep every live item (-M): drop only dead ones */
};

/*
 * Compact BUSY segment v in place: items kept move to its front (their
 * ACCESSED bit cleared unless KEEP_LIVE), the rest leave the index. With
 * KEEP_ACCESSED, the costliest items also go until what stays leaves room
 * bytes free in a one-segment victim. The caller holds h (counters) and no
 * shard lock. Returns the bytes kept; v's fill is then its start plus those.
 */
uint32_t evict_compact(struct store *s, struct head *h, uint32_t v, enum evict_keep keep,
                       uint64_t room, uint32_t now);
/* A segment with room for need bytes, OPEN-ready (fill set): fresh from
 * the arena or compacted from the FIFO. SEG_NONE if none could be had. */
uint32_t evict_obtain(struct store *s, struct head *h, uint64_t need);
/* Take a run of n segments, evicting whole segments as needed. */
bool evict_for_run(struct store *s, struct head *h, uint32_t n, uint32_t *first);
/* Evict and release segments until resident memory is within the
 * (lowered) limit. */
void evict_over_limit(struct store *s, struct head *h);
