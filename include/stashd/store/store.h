/*
 * store: the cache's one keyspace, shared by every protocol and worker.
 *
 * Keys hash once (hash_bytes) to a shard (top bits) and a bucket inside it.
 * Each shard owns, under one lock held only for O(1) work plus the copy of
 * one value: its hash table, its items (stored inline, header + key +
 * value, in slab chunks of size classes carved from pages), its per-class
 * eviction state and its statistics. Pages come from one pool bounded by
 * the memory limit (see mem/slab.h); values too large for the largest
 * chunk are allocated whole and still counted against the limit.
 *
 * Reads hand the caller a view of the item inside the shard lock, through
 * a callback that must only copy (no I/O, no other store call). Nothing
 * returned outlives the call.
 *
 * Lock order: shard, then page pool. A thread never waits for a second
 * shard lock while holding one (cross-shard page stealing uses trylock).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stashd/util/hash.h"

struct store;

#define STORE_KEY_MAX 250

struct store_config {
    uint64_t memory_limit;  /* bytes for items (-m) */
    uint64_t max_item_size; /* largest key + value + header (-I) */
    double growth_factor;   /* slab class growth (-f) */
    uint32_t slab_min_size; /* -n: key + value space of the smallest chunk */
    uint32_t shards;        /* power of two, or 0 = derived from threads and memory */
    uint32_t threads;       /* worker count, for the derived shard count */
    bool evictions;         /* false (-M): fail stores with STORE_NO_MEMORY */
    bool cas_enabled;       /* false (-C): report cas 0 */
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

/* Why a lookup missed, for get_expired / get_flushed. */
enum store_miss { STORE_MISS_NONE, STORE_MISS_ABSENT, STORE_MISS_EXPIRED, STORE_MISS_FLUSHED };

struct store_key {
    const char *data; /* caller's memory; 1..STORE_KEY_MAX bytes */
    size_t len;
    uint64_t hash; /* hash_bytes(data, len) */
};

static inline void
store_key_init(struct store_key *k, const char *data, size_t len)
{
    k->data = data;
    k->len = len;
    k->hash = hash_bytes(data, len);
}

/* An item as a read sees it. Valid only inside the store_read_fn call. */
struct store_item_view {
    const char *key;
    uint32_t nkey;
    const char *value;
    uint32_t nbytes;
    uint32_t flags;   /* client flags */
    uint64_t cas;     /* 0 when CAS is disabled */
    uint32_t exptime; /* relative expiry (util/clock.h), 0 = never; after any touch */
    uint32_t atime;   /* relative time of the previous access */
    bool fetched;     /* read before this access */
};

/* Called with the shard lock held: copy what is needed and return. */
typedef void (*store_read_fn)(void *ctx, const struct store_item_view *v);

/* Options for store_get; NULL means a plain read. */
struct store_get_opts {
    bool touch;       /* also set the expiry (gat/gats/touch-on-read) */
    uint32_t exptime; /* new relative expiry when touch */
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
};

struct store_arith_req {
    bool incr;        /* else decr (floors at 0; incr wraps at 2^64) */
    uint64_t delta;
    bool create;      /* binary protocol: create with initial if missing */
    uint64_t initial;
    uint32_t exptime; /* relative expiry of a created item */
    uint64_t cas;     /* 0 or must match */
};

/* Totals over all shards (summed on read). */
struct store_stats {
    uint64_t curr_items;
    uint64_t bytes; /* bytes held by live items (header + key + value) */
    uint64_t total_items; /* items ever stored */
    uint64_t evictions;
    uint64_t evicted_nonzero; /* evicted items that had an expiry set */
    uint64_t evicted_unfetched;
    uint64_t expired_unfetched;
    uint64_t reclaimed; /* expired items whose memory was reused or freed */
    uint64_t outofmemory;
    uint64_t slabs_moved; /* pages moved between classes */
    uint64_t limit_maxbytes;
    uint64_t total_malloced; /* bytes of pages and large items held */
    uint64_t hash_bytes;     /* hash table memory (outside the limit) */
    uint64_t hash_buckets;
    uint64_t shards;
};

/* One slab class, summed over shards. */
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
};

int store_create(struct store **sp, const struct store_config *cfg); /* 0, -EINVAL, -ENOMEM */
void store_destroy(struct store **sp);

/* Background maintenance thread: expiry reclaimer, delayed flush_all, and
 * giving pages back after the memory limit is lowered. */
int store_start_maintenance(struct store *s);
void store_stop_maintenance(struct store *s);
/* One bounded maintenance pass, for tests and for the thread. */
void store_maintain(struct store *s);

/* Would an item with this key and value length fit the size limit? */
bool store_fits(const struct store *s, size_t nkey, size_t nbytes);

enum store_rc store_get(struct store *s, const struct store_key *k, const struct store_get_opts *o,
                        store_read_fn fn, void *ctx, enum store_miss *miss);
/* *cas_out (may be NULL) receives the new item's cas on STORE_OK. */
enum store_rc store_set(struct store *s, const struct store_key *k, const struct store_set_req *r,
                        uint64_t *cas_out);
/* cas: 0 = any, else must match (STORE_EXISTS). */
enum store_rc store_delete(struct store *s, const struct store_key *k, uint64_t cas);
enum store_rc store_touch(struct store *s, const struct store_key *k, uint32_t exptime);
enum store_rc store_arith(struct store *s, const struct store_key *k,
                          const struct store_arith_req *r, uint64_t *value_out, uint64_t *cas_out);

/* Invalidate every item that exists at relative time at (0 = now). A later
 * call replaces a pending one. */
void store_flush(struct store *s, uint32_t at);

/* Change the memory limit at run time (cache_memlimit). Lowering it frees
 * memory in the background; 0 or -EINVAL. */
int store_set_memory_limit(struct store *s, uint64_t bytes);
uint64_t store_memory_limit(const struct store *s);

void store_get_stats(struct store *s, struct store_stats *out);
typedef void (*store_class_fn)(void *ctx, const struct store_class_stats *cs);
/* Classes that hold pages or items, in id order. */
void store_each_class(struct store *s, store_class_fn fn, void *ctx);
