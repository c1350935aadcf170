/*
 * store: the cache's one keyspace, shared by every protocol and worker.
 *
 * Keys hash once (hash_bytes) to a shard (top bits) and a home bucket in
 * the shard's index. There are at least 4096 shards, each a spinlock held
 * only for O(1) work plus the copy of one value, over an index of compact
 * item references. Items of all shards are stored whole (header + key +
 * value) in segments of one arena bounded by the memory limit (see
 * mem/arena.h and store/seg.h); memory belongs to no shard, so the shard
 * count is set for concurrency alone.
 *
 * Reads hand the caller a view of the item inside the shard lock, through
 * a callback that must only copy (no I/O, no other store call). Nothing
 * returned outlives the call. A read takes the shard lock, marks the item
 * accessed if it was not, and writes nothing else: no shared counter.
 *
 * Every item has a type (enum store_type): a string, which is what
 * memcached and Redis's string commands read and write, or a hash, an
 * encoded field table only the hash commands read (cmd/hashval.h). The
 * type is set when a value is written (store_update's u->type; every
 * other store writes strings) and reported in each view. The string
 * operations see only strings: store_get, store_get_many, store_touch,
 * store_meta and store_arith treat an item of another type as a miss
 * (STORE_MISS_WRONGTYPE) unless asked for any type, and append, prepend
 * and cas stores treat it as absent; stores that replace the whole value
 * (set, add, replace, MSET) and deletes act on the key whatever its type.
 *
 * Expiry comes in two forms. memcached's is a relative second on the
 * coarse clock (util/clock.h: exptime fields). Redis's is an absolute
 * Unix time in milliseconds on the wall clock (expire_ms fields, with
 * store_now_ms() as "now"). Either form reads back in both: a view has
 * exptime and expire_ms.
 *
 * Lock order: a writer's head (its segments), then shard locks, then the
 * segment lock. MSET, MSETNX, MGET, store_copy and transactions
 * (store_tx) hold several shard locks, and take them in ascending shard
 * order; every other path holds at most one (eviction takes each evicted
 * item's shard in turn, holding none).
 *
 * Databases (Redis's SELECT): a key's database is part of its identity
 * (store_key.db, kept in the item), so the same key bytes in two
 * databases are two items, in the same shard. memcached's protocols use
 * database 0 as RESP's clients name it (store_db_phys(s, 0): after SWAPDB
 * 0 N they see what RESP's database 0 sees).
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stashd/util/hash.h"

struct store;

#define STORE_KEY_MAX 250
/* Databases a store may have (an item keeps its database in one byte). */
#define STORE_DB_MAX 256
/* store_scan and store_random: any database. */
#define STORE_DB_ANY (-1)

/*
 * A live item the store is evicting to make room, as the eviction hook
 * (store_config.on_evict) sees it. Views valid during the call only.
 */
struct store_evict_info {
    const char *key;
    uint32_t nkey;
    uint32_t nbytes;  /* value length */
    uint32_t exptime; /* relative expiry (util/clock.h), 0 = never */
    uint32_t atime;   /* relative time of the last access */
    bool fetched;     /* read since it was stored */
    unsigned cls;     /* slab class, numbered as store_each_class numbers them */
};
typedef void (*store_evict_fn)(void *ctx, const struct store_evict_info *e);

/* store_config.large_pages (0 and 1 read as off and on). */
enum store_large_pages {
    STORE_LARGE_PAGES_OFF,
    STORE_LARGE_PAGES_ON,
    STORE_LARGE_PAGES_AUTO,
};

struct store_config {
    uint64_t memory_limit;  /* bytes for items (-m) */
    uint64_t max_item_size; /* largest key + value + header (-I) */
    double growth_factor;   /* slab class growth (-f) */
    uint32_t slab_min_size; /* -n: key + value space of the smallest chunk */
    uint32_t shards;        /* power of two, or 0 = derived from threads and memory */
    uint32_t threads;       /* worker count, for the derived shard count */
    bool evictions;         /* false (-M): fail stores with STORE_NO_MEMORY */
    bool cas_enabled;       /* false (-C): report cas 0 */
    /* --large-pages: item memory (anonymous only, with -m of 32 MiB or
     * more) in 2 MiB segments on transparent huge pages (mem/arena.h,
     * arena_use_huge_pages); auto: where they cost no memory worth
     * counting (store.c, large_pages_auto). */
    enum store_large_pages large_pages;
    uint32_t databases; /* Redis's databases, 1..STORE_DB_MAX; 0 = 1 */
    /*
     * Called for each live item evicted to make room (not for expired or
     * flushed items reclaimed), from whichever thread is allocating, with
     * that item's shard lock held: it must copy what it needs and return,
     * calling no store function and taking no lock a store caller may
     * hold (memcached's `watch evictions`). NULL: none.
     */
    store_evict_fn on_evict;
    void *evict_ctx;
    /*
     * -e: keep item memory in this file (a shared mapping of it: on tmpfs
     * it stays in memory, and outlives the process), locked against a
     * second user. When the last stop was clean (store_save wrote FILE.meta
     * beside it) and the settings match, the store starts with the items
     * the file holds; else it starts empty, and the log says why. NULL or
     * "": anonymous memory. See store_restart_info and README "Warm
     * restart".
     */
    const char *memory_file;
    /* Settings of the layers above that a restored cache must match as
     * well, as text compared whole (at most 127 bytes); NULL: none. */
    const char *restart_tag;
};

enum store_rc {
    STORE_OK,          /* done (STORED, DELETED, TOUCHED, found) */
    STORE_NOT_FOUND,   /* no such live item */
    STORE_EXISTS,      /* cas mismatch */
    STORE_NOT_STORED,  /* add on present key, replace/append/prepend on missing */
    STORE_TOO_LARGE,   /* key + value exceed the item size limit */
    STORE_NO_MEMORY,   /* could not free room (evictions off, or all pinned) */
    STORE_NON_NUMERIC, /* incr/decr on a value that is not a decimal number */
};

/* Why a lookup missed, for get_expired / get_flushed. WRONGTYPE: the key
 * is live but holds another type than the operation reads (Redis's
 * WRONGTYPE; a miss to memcached). */
enum store_miss {
    STORE_MISS_NONE,
    STORE_MISS_ABSENT,
    STORE_MISS_EXPIRED,
    STORE_MISS_FLUSHED,
    STORE_MISS_WRONGTYPE,
};

/* What a key's value is (Redis's TYPE); 2 bits in the item. */
enum store_type {
    STORE_TYPE_STRING = 0,
    STORE_TYPE_HASH = 1, /* a field table (cmd/hashval.h) */
};

struct store_key {
    const char *data; /* caller's memory; 1..STORE_KEY_MAX bytes */
    size_t len;
    uint64_t hash; /* hash_bytes(data, len): the database plays no part */
    uint8_t db;    /* database, below store_config.databases */
};

static inline void
store_key_init_db(struct store_key *k, const char *data, size_t len, uint8_t db)
{
    k->data = data;
    k->len = len;
    k->hash = hash_bytes(data, len);
    k->db = db;
}

/* The same with the hash known (a look-ahead computed it). */
static inline void
store_key_init_hashed(struct store_key *k, const char *data, size_t len, uint64_t hash, uint8_t db)
{
    k->data = data;
    k->len = len;
    k->hash = hash;
    k->db = db;
}

/* A key of physical database 0 (before any SWAPDB, the one clients name 0). */
static inline void
store_key_init(struct store_key *k, const char *data, size_t len)
{
    store_key_init_db(k, data, len, 0);
}

/* An item as a read sees it. Valid only inside the store_read_fn call. */
struct store_item_view {
    const char *key;
    uint32_t nkey;
    const char *value;
    uint32_t nbytes;
    uint32_t flags;    /* client flags */
    uint64_t cas;      /* 0 when CAS is disabled */
    uint32_t exptime;  /* relative expiry (util/clock.h), 0 = never; after any touch */
    uint32_t atime;    /* relative time of the previous access */
    bool fetched;      /* read before this access */
    int64_t expire_ms; /* the same expiry as a Unix time in ms, 0 = never */
    uint8_t type;      /* enum store_type */
};

/* Called with the shard lock held: copy what is needed and return. */
typedef void (*store_read_fn)(void *ctx, const struct store_item_view *v);

/* Fields of the view a reader does not read (store_get_opts.skip): they
 * are left 0, and the lookup does not work them out. A plain get of the
 * memcached text protocol reads neither; RESP's GET neither; a gets or a
 * binary get reads the cas. */
#define STORE_VIEW_SKIP_CAS 1u  /* cas */
#define STORE_VIEW_SKIP_META 2u /* exptime, atime, fetched, expire_ms */

/* Options for store_get; NULL means a plain read with the whole view. */
struct store_get_opts {
    bool touch;       /* also set the expiry (gat/gats/touch-on-read) */
    uint32_t exptime; /* new relative expiry when touch */
    bool any_type;    /* read an item of any type (else strings only) */
    uint8_t skip;     /* STORE_VIEW_SKIP_* */
};

enum store_mode {
    STORE_MODE_SET,
    STORE_MODE_ADD,
    STORE_MODE_REPLACE,
    STORE_MODE_APPEND,  /* keeps the item's flags and expiry */
    STORE_MODE_PREPEND, /* keeps the item's flags and expiry */
    STORE_MODE_CAS,     /* set only if the item's cas equals req->cas */
};

struct store_set_req {
    enum store_mode mode;
    const char *value; /* caller's memory, copied into the item */
    uint32_t nbytes;
    uint32_t flags;
    uint32_t exptime; /* relative (clock_exptime_to_rel) */
    uint64_t cas;     /* STORE_MODE_CAS: expected; other modes: 0 or must match */
    /* Redis's forms (RESP), for SET/ADD/REPLACE; both 0 for memcached: */
    int64_t expire_ms; /* nonzero: Unix-ms deadline instead of exptime; if it is
                        * not after store_now_ms() the old item goes and nothing
                        * is stored (STORE_OK) */
    bool keep_ttl;     /* keep the old item's expiry (SET KEEPTTL) */
    /*
     * memcached meta (ms), both false otherwise. stale_ok: in
     * STORE_MODE_CAS, a cas lower than the item's still stores, as a stale
     * value keeping the item's expiry and win state (ms I). key_binary:
     * the key came base64-encoded (ms b), so mg k sends it back so.
     */
    bool stale_ok;
    bool key_binary;
};

struct store_arith_req {
    bool incr; /* else decr (floors at 0; incr wraps at 2^64) */
    uint64_t delta;
    bool create; /* binary protocol: create with initial if missing */
    uint64_t initial;
    uint32_t exptime; /* relative expiry of a created item */
    uint64_t cas;     /* 0 or must match */
    /*
     * memcached meta (ma), zero otherwise: touch also gives an existing
     * item the expiry touch_exptime; unless NULL, on STORE_OK, *exptime_out
     * gets the expiry before any touch (0 = never, and 0 for a created
     * item) and *created_out whether the item was created.
     */
    bool touch;
    uint32_t touch_exptime;
    uint32_t *exptime_out;
    bool *created_out;
};

/* Totals over all shards (summed on read). */
struct store_stats {
    uint64_t curr_items;  /* live items: linked, no flush covers them (as store_count) */
    uint64_t bytes;       /* bytes held by live items (header + key + value) */
    uint64_t total_items; /* items ever stored */
    uint64_t evictions;
    uint64_t evicted_nonzero; /* evicted items that had an expiry set */
    uint64_t evicted_unfetched;
    uint64_t expired_unfetched;
    uint64_t reclaimed; /* expired items whose memory was reused or freed */
    uint64_t expired;   /* ... of which expired rather than flushed */
    uint64_t expiring;  /* of curr_items, those with an expiry */
    uint64_t outofmemory;
    uint64_t slabs_moved; /* pages moved between classes (always 0: items are not in classes) */
    uint64_t items_moved; /* live items compaction moved (a segment reused or evicted) */
    uint64_t limit_maxbytes;
    uint64_t total_malloced;    /* bytes of item memory held (resident segments) */
    uint64_t hash_bytes;        /* index memory (outside the limit) */
    uint64_t hash_is_expanding; /* always 0: a shard's index grows at once */
    uint64_t hash_buckets;
    uint64_t shards;
    /* The start's warm restart (store_restart_info): 1 if it restored,
     * items restored, items in the file that had expired or were flushed. */
    uint64_t restart_warm;
    uint64_t restart_items;
    uint64_t restart_dropped;
};

/* One size class (mem/sizeclass.h; items are grouped by size for these
 * figures only: they are not stored in class-sized chunks). */
struct store_class_stats {
    unsigned id;
    uint32_t chunk_size; /* 0 for the large-item class */
    uint32_t chunks_per_page;
    uint64_t total_pages;
    uint64_t total_chunks;
    uint64_t used_chunks;
    uint64_t free_chunks;
    uint64_t mem_requested; /* bytes of live items in this class */
    uint64_t number;        /* live items */
    uint64_t evicted;
    uint64_t evicted_nonzero;
    uint64_t evicted_unfetched;
    uint64_t expired_unfetched;
    uint64_t reclaimed;
    uint64_t outofmemory;
    /* memcached's "age": seconds the items next in line for eviction
     * (those of the oldest sealed segment) have gone unread, at most. */
    uint32_t age;
    uint32_t evicted_time; /* idle seconds of the class's latest evicted item */
};

/* 0, -EINVAL, -ENOMEM; with a memory file also -EBUSY (another process
 * holds it) or the -errno of opening it. */
int store_create(struct store **sp, const struct store_config *cfg);
void store_destroy(struct store **sp);

/* What store_create made of the memory file. */
struct store_restart_info {
    bool file;           /* a memory file is in use */
    bool restored;       /* its items were restored */
    uint64_t items;      /* items restored */
    uint64_t dropped;    /* items in it that had expired or were flushed */
    uint64_t bytes;      /* bytes of the items restored */
    uint64_t elapsed_us; /* time the restore took */
    char reason[192];    /* why it started empty, when it did */
};
void store_restart_info(const struct store *s, struct store_restart_info *out);

/*
 * Write what a restart needs beside the memory file (FILE.meta: settings,
 * clock, cas sequences, where the items are, checksums), after the file's
 * pages (msync); the metadata last, by rename, so that a stop killed
 * half way leaves none. Only with no other thread using the store
 * (workers and maintenance stopped). *items (unless NULL) gets the items
 * saved. 0, -ENOTSUP without a memory file, or -errno.
 */
int store_save(struct store *s, uint64_t *items);

/* Background maintenance thread: expiry reclaimer, delayed flush_all, and
 * giving pages back after the memory limit is lowered. */
int store_start_maintenance(struct store *s);
void store_stop_maintenance(struct store *s);
/* One bounded maintenance pass, for tests and for the thread. */
void store_maintain(struct store *s);

/* Would an item with this key and value length fit the size limit? */
bool store_fits(const struct store *s, size_t nkey, size_t nbytes);

/* The slab class an item with this key and value length is stored in,
 * numbered as store_each_class numbers them (the large class last), and
 * in *size (unless NULL) the bytes it takes: header, key and value. For
 * reports (watch, lru_crawler metadump); the item need not exist. */
unsigned store_class_for(const struct store *s, size_t nkey, size_t nbytes, uint32_t *size);

/* A hint: requests soon will look up keys of these hashes (a pipelined
 * batch); start loading what they will touch into the cache, all at once.
 * Waits for no lock. */
void store_prefetch_many(struct store *s, const uint64_t *hash, size_t n);

enum store_rc store_get(struct store *s, const struct store_key *k, const struct store_get_opts *o,
                        store_read_fn fn, void *ctx, enum store_miss *miss);
/* *cas_out (may be NULL) receives the new item's cas on STORE_OK. */
enum store_rc store_set(struct store *s, const struct store_key *k, const struct store_set_req *r,
                        uint64_t *cas_out);
/*
 * A value stored in place as it arrives: a large set whose value has not
 * all been read yet gets its item now, the caller writes the value into
 * it (p->value, r->nbytes bytes) as the bytes come, over as many reads
 * as it takes, and then links it with store_commit or drops it with
 * store_abandon. The value is never buffered whole outside the item, and
 * its memory is within the limit from the start, as memcached's item is
 * while its value is read. Until then the item is in no index and its
 * segment is kept from eviction and compaction, so the caller bounds how
 * much it holds so (a client that stops halfway holds it until closed).
 *
 * For the modes set_plain serves: SET, ADD, REPLACE and CAS, without
 * keep_ttl or stale_ok (else STORE_NOT_STORED: store the buffered value
 * with store_set). STORE_TOO_LARGE, STORE_NO_MEMORY (no room could be
 * made) as store_set; STORE_OK with *p filled.
 */
struct store_pending {
    char *value; /* where the value's r->nbytes bytes go */
    uint32_t ref;
    uint64_t span;
};
enum store_rc store_reserve(struct store *s, const struct store_key *k,
                            const struct store_set_req *r, struct store_pending *p);
/* Link the filled item as store_set would (k and r as given to
 * store_reserve; r->value unused): its answer, and *cas_out on STORE_OK.
 * p is spent either way. */
enum store_rc store_commit(struct store *s, const struct store_key *k,
                           const struct store_set_req *r, struct store_pending *p,
                           uint64_t *cas_out);
/* Drop a reserved item whose value will not come (the client left, or
 * sent a bad data chunk). */
void store_abandon(struct store *s, struct store_pending *p);
/* What a reservation of that size keeps from eviction at most: the whole
 * segments it may lie in (one, or a large item's run). A caller that
 * bounds this bounds how much of the store waiting clients can pin. */
uint64_t store_reserve_cost(const struct store *s, size_t nkey, size_t nbytes);

/*
 * Redis's MSET and MSETNX: store n pairs as one step. pair(ctx, i, k, r)
 * gives pair i (0 <= i < n; it may be called more than once per pair and
 * must give the same answer); r->mode, r->cas and r->keep_ttl are
 * ignored, the rest of r is used as by store_set. Every new item is
 * written first; then the shards of all the keys are locked, in shard
 * order, and the pairs linked, so no other client sees some pairs stored
 * and others not. nx: store them only if none of the keys exists, else
 * STORE_NOT_STORED and nothing changes. A key given twice ends with its
 * last value. STORE_TOO_LARGE (a pair that can never fit) and
 * STORE_NO_MEMORY (-M, or nothing left to evict) change nothing.
 */
typedef void (*store_pair_fn)(void *ctx, size_t i, struct store_key *k, struct store_set_req *r);
enum store_rc store_set_many(struct store *s, size_t n, store_pair_fn pair, void *ctx, bool nx);
/*
 * Redis's MGET: look up n keys as one step (strings only: another type
 * is a miss, STORE_MISS_WRONGTYPE). Their shards stay locked (in
 * shard order) for the whole step, so no other client's store lands
 * between two of the reads (an MSET is seen whole or not at all).
 * fn(ctx, i, v, miss) is called for each key in order, under the locks (it
 * must not call the store): v is NULL on a miss, and miss says why.
 */
typedef void (*store_many_fn)(void *ctx, size_t i, const struct store_item_view *v,
                              enum store_miss miss);
void store_get_many(struct store *s, const struct store_key *keys, size_t n, store_many_fn fn,
                    void *ctx);
/* cas: 0 = any, else must match (STORE_EXISTS). Any type. */
enum store_rc store_delete(struct store *s, const struct store_key *k, uint64_t cas);
/* memcached's touch: strings only (another type is STORE_NOT_FOUND). */
enum store_rc store_touch(struct store *s, const struct store_key *k, uint32_t exptime);
/* incr/decr: an item of another type than string is STORE_NON_NUMERIC. */
enum store_rc store_arith(struct store *s, const struct store_key *k,
                          const struct store_arith_req *r, uint64_t *value_out, uint64_t *cas_out);

/* Unix time in milliseconds, the clock of expire_ms (wall clock, read
 * from the OS on each call). */
int64_t store_now_ms(void);

/*
 * Read-modify-write of one key under its shard lock: the general form of
 * the Redis commands that read and write at once (SET .. GET, GETSET,
 * GETDEL, GETEX, APPEND, SETRANGE, INCR*, EXPIRE with conditions,
 * PERSIST).
 *
 * decide(ctx, old, u) looks at the live item of any type (old NULL when
 * absent; old->type says which: a command for one type refuses another
 * by leaving u->op NONE) and fills *u (zeroed before each call:
 * STORE_UPDATE_NONE). It may be called
 * more than once, when making room for a new value changed the shard
 * (only the last call counts), so it must not have effects outside ctx.
 * It must not call the store.
 *
 * commit(ctx, old, dst), unless NULL, is called exactly once, after the
 * last decide, while the decision is carried out under the lock: old is
 * still the item decide saw (copy from it what the reply needs), and for
 * a WRITE with u->value NULL, dst is where the u->nbytes bytes of the new
 * value go. dst is old->value itself when the value is rewritten in place
 * (same length: only the changed bytes need writing), and NULL when
 * nothing is to be written (other ops, u->value given, or a deadline
 * already past). commit is not called when the store fails
 * (STORE_TOO_LARGE, STORE_NO_MEMORY).
 *
 * A key of an invalid length (0 or over STORE_KEY_MAX) reads as absent;
 * a WRITE to it is STORE_TOO_LARGE.
 */
enum store_update_op {
    STORE_UPDATE_NONE,   /* leave the key as it is (a read, a failed condition) */
    STORE_UPDATE_WRITE,  /* store a new value, creating the key if absent */
    STORE_UPDATE_EXPIRE, /* change only the expiry of the live item */
    STORE_UPDATE_DELETE, /* remove the live item */
};

struct store_update {
    enum store_update_op op;
    const void *value; /* WRITE: the new value (caller's memory, copied), or NULL:
                        * commit writes it */
    uint32_t nbytes;   /* WRITE: its length */
    uint32_t flags;    /* WRITE: client flags */
    bool keep_expiry;  /* WRITE: keep old's expiry (KEEPTTL, APPEND, INCR) */
    int64_t expire_ms; /* WRITE without keep_expiry, and EXPIRE: Unix-ms deadline,
                        * 0 = never; one not after store_now_ms() removes the key */
    uint8_t type;      /* WRITE: the new value's type (enum store_type) */
    bool new_item;     /* WRITE: into a new item even at the old length, so that
                        * commit's dst is never old->value */
};

typedef void (*store_decide_fn)(void *ctx, const struct store_item_view *old,
                                struct store_update *u);
typedef void (*store_commit_fn)(void *ctx, const struct store_item_view *old, char *dst);

/* STORE_OK once the decision is carried out (whatever it was),
 * STORE_TOO_LARGE, or STORE_NO_MEMORY. */
enum store_rc store_update(struct store *s, const struct store_key *k, store_decide_fn decide,
                           store_commit_fn commit, void *ctx);

/*
 * Walk database db's keys (STORE_DB_ANY: every database's) a slice at a
 * time, as Redis's SCAN: start with cursor
 * 0, call again with the cursor returned until it is 0. fn sees each live
 * item under its shard lock (copy and return; no store calls). Every key
 * present for the whole walk is seen at least once, and only once unless
 * it was deleted and stored again meanwhile: shards are walked in order
 * and each shard's buckets in reverse-bit order (Redis's dictScan), which
 * stays exact across table growth (tables never shrink). A call looks at
 * buckets until count items were seen or it did the work of 10 * count
 * buckets of a table at one item per bucket (a sparse table's empty
 * buckets cost less), dropping its shard lock every few dozen non-empty
 * buckets. A cursor that no walk returned ends the walk (returns 0) or
 * visits an arbitrary slice.
 */
uint64_t store_scan(struct store *s, int db, uint64_t cursor, uint64_t count, store_read_fn fn,
                    void *ctx);

/* Call fn for one live item of database db (STORE_DB_ANY: any) chosen
 * with the random bits rnd (not uniformly: a random bucket of a random
 * non-empty shard, then the next live item). STORE_NOT_FOUND when no live
 * item was found. */
enum store_rc store_random(struct store *s, int db, uint64_t rnd, store_read_fn fn, void *ctx);

/* Live items of every database (curr_items): linked items no flush
 * covers. A flush makes it 0 at once; expired items count until they are
 * unlinked, which the maintenance thread does within about a second of
 * their expiry (lazily, a read of one does it at once). */
uint64_t store_count(struct store *s);

/* Redis's DBSIZE: live items of database db (counted as store_count). */
uint64_t store_db_keys(struct store *s, unsigned db);
/* Redis's INFO keyspace: for each database d (0 .. store_databases-1,
 * the store's numbers) in out[d], its live items, those of them with an
 * expiry, and the mean time left of a sample of those (ms; 0 when none
 * was sampled), Redis's estimate "avg_ttl". One pass over the shards. */
struct store_db_info {
    uint64_t keys;
    uint64_t expires;
    uint64_t avg_ttl_ms;
};
void store_db_info(struct store *s, struct store_db_info *out);

/* For tests: how often the store-wide segment lock was taken (once per
 * segment's worth of stores; never by a get, or by a set or delete that
 * finds room in its head). */
uint64_t store_debug_segment_locks(const struct store *s);
/* For tests: make item memory read-only (or writable again), so that a
 * write to it faults: shows that reads write nothing. Only while no
 * other thread uses the store. 0 or -errno. */
int store_debug_items_readonly(struct store *s, bool readonly);

/* Invalidate every item, of every database, that exists at relative
 * time at (0 = now). A later call replaces a pending one. */
void store_flush(struct store *s, uint32_t at);
/* Redis's FLUSHDB: remove every item of database db now (a walk of the
 * shards that hold any; a shard whose live items are all db's is flushed
 * in O(1)). */
void store_flush_db(struct store *s, unsigned db);

/*
 * Redis's SWAPDB maps the databases clients name (logical) to those items
 * keep (physical); store keys carry the physical one. store_db_phys reads
 * the map (relaxed: a command running while SWAPDB swaps finishes in the
 * database it started in); store_swap_db exchanges two entries with
 * every shard locked, so no store call sees half a swap.
 */
/* The head of struct store (store_int.h): what a request reads without a
 * call. */
struct store_head {
    _Atomic uint8_t dbmap[STORE_DB_MAX]; /* logical -> physical; 0 past the databases */
};

static inline uint8_t
store_db_phys(const struct store *s, unsigned logical)
{
    const struct store_head *h = (const struct store_head *)(const void *)s;
    return logical < STORE_DB_MAX ? atomic_load_explicit(&h->dbmap[logical], memory_order_relaxed)
                                  : 0;
}
void store_swap_db(struct store *s, unsigned a, unsigned b);
unsigned store_databases(const struct store *s);

/*
 * Redis's COPY, RENAME, RENAMENX and MOVE: store a copy of src's item
 * (value, client flags and expiry; a new cas) under dst (another key, or
 * the same key in another database), as one step: both shards are locked
 * together while dst is linked and, with remove_src, src unlinked, so no
 * client of any protocol sees both or neither. replace: a live dst is
 * replaced, else STORE_NOT_STORED and nothing changes. STORE_NOT_FOUND
 * when src is absent; STORE_NO_MEMORY. src and dst must differ.
 */
enum store_rc store_copy(struct store *s, const struct store_key *src, const struct store_key *dst,
                         bool replace, bool remove_src);

/*
 * A key's version, for Redis's WATCH: what is compared is whether the key
 * is live, its sequence number (every store of a value, from any
 * protocol, gives a new one; it is the cas, kept even with -C) and its
 * expiry (which memcached's touch changes without a new cas). So any
 * write, delete, touch or expiry change, an expiry coming, an eviction
 * or a flush changes it. For a key absent at the time, the version is
 * its shard's last sequence number: any store to that shard (so to the
 * key) changes it, a conservative answer (a store to another key of the
 * same shard, 1 in 4096 or more, counts too).
 */
struct store_version {
    uint64_t seq;
    int64_t expire_ms;
    bool live;
};
void store_key_version(struct store *s, const struct store_key *k, struct store_version *out);
static inline bool
store_version_equal(const struct store_version *a, const struct store_version *b)
{
    return a->live == b->live && a->seq == b->seq && a->expire_ms == b->expire_ms;
}

/*
 * Transactions (Redis's EXEC): run fn(ctx) with the shards of n keys
 * (every shard, with all) locked together, in shard order, so that the
 * store calls fn makes are one step to every other client: none sees a
 * part of them. fn runs on the calling thread and may call, on those
 * keys only, any of store_get, store_set, store_set_many, store_get_many,
 * store_delete, store_touch, store_arith, store_update, store_meta,
 * store_copy, store_key_version; with all, also store_scan,
 * store_random, store_count, store_db_info, store_flush (now),
 * store_flush_db and store_swap_db. It must not call the others
 * (statistics, the memory limit, maintenance) nor wait for anything
 * another thread holds.
 *
 * Memory: eviction takes shard locks, so it cannot run while fn holds
 * them. Room for reserve bytes of new items (at most a segment's) is
 * made first; within fn a store finds room in that, or in memory free
 * without evicting, or fails with STORE_NO_MEMORY.
 *
 * STORE_OK once fn has run; STORE_NO_MEMORY (fn not run) when the list
 * of shards could not be allocated. Transactions do not nest.
 */
typedef void (*store_tx_fn)(void *ctx);
struct store_tx_req {
    const struct store_key *keys;
    size_t nkeys;
    bool all;         /* lock every shard (keys are then ignored) */
    uint64_t reserve; /* bytes of new items fn may store */
};
enum store_rc store_tx(struct store *s, const struct store_tx_req *r, store_tx_fn fn, void *ctx);

/* Change the memory limit at run time (cache_memlimit). Lowering it frees
 * memory in the background; 0 or -EINVAL. */
int store_set_memory_limit(struct store *s, uint64_t bytes);
uint64_t store_memory_limit(const struct store *s);

void store_get_stats(struct store *s, struct store_stats *out);
typedef void (*store_class_fn)(void *ctx, const struct store_class_stats *cs);
/* Classes that hold pages or items, in id order. */
void store_each_class(struct store *s, store_class_fn fn, void *ctx);

/*
 * memcached's meta commands (mg, md, me; see cmd/mc_meta_cmd.c) need more
 * than a read: several changes to one item, in the order the request
 * names them, decided on what the item is when its shard lock is held.
 * store_meta() finds the live item (or, with vivify, links an empty one
 * in its place on a miss: no flags, no expiry, a new cas) and calls fn
 * with a handle on it, under the lock; fn reads and changes the item
 * through the store_meta_* calls below (copying what its reply needs, no
 * I/O, no other store call). Unless no_bump, the item is then marked
 * accessed, as a read would.
 *
 * Per-item meta state (STORE_META_*) is kept in the item header. It
 * belongs to the item, not the key: any store of a new value clears it,
 * except ms in stale mode (stale_ok), which keeps the win state.
 */
#define STORE_META_STALE 0x1u      /* invalidated: reads say X until a new value is stored */
#define STORE_META_WIN_SENT 0x2u   /* a client was told it won (W): others are told Z */
#define STORE_META_KEY_BINARY 0x4u /* the key was stored base64-encoded (ms b) */

struct store_meta; /* a live item under its shard lock, valid during fn */
typedef void (*store_meta_fn)(void *ctx, struct store_meta *m);

struct store_meta_opts {
    bool vivify;   /* on a miss, link an empty item and call fn with it */
    bool no_bump;  /* leave the access time, fetched and CLOCK bits as they were */
    bool any_type; /* an item of any type (else another type than string is a
                    * miss, STORE_MISS_WRONGTYPE, never vivified over) */
};

/* STORE_OK once fn has run; STORE_NOT_FOUND on a miss without vivify (fn
 * not called; *miss says why); STORE_NO_MEMORY when vivify found no room. */
enum store_rc store_meta(struct store *s, const struct store_key *k,
                         const struct store_meta_opts *o, store_meta_fn fn, void *ctx,
                         enum store_miss *miss);

/* The item as fn found it; exptime and cas follow the calls below. Valid
 * during fn only. fetched and atime are from before this access. */
const struct store_item_view *store_meta_view(const struct store_meta *m);
/* Linked by this call (vivify). */
bool store_meta_created(const struct store_meta *m);
/* STORE_META_* bits. */
unsigned store_meta_state(const struct store_meta *m);
void store_meta_set_state(struct store_meta *m, unsigned set, unsigned clear);
/* New relative expiry (0 = never). */
void store_meta_set_exptime(struct store_meta *m, uint32_t exptime);
/* Give the item a new cas (0 when CAS is disabled). */
void store_meta_new_cas(struct store_meta *m);
/* Remove the item once fn returns. */
void store_meta_delete(struct store_meta *m);
/* The item's slab class, numbered as `stats slabs` numbers them, and the
 * bytes it takes (header, key and value). */
unsigned store_meta_class(const struct store_meta *m);
uint32_t store_meta_size(const struct store_meta *m);
