/*
 * item: how one cached key/value lives in memory (private to store/).
 *
 * An item is stored inline: a 35-byte header, the key, then the value,
 * in one slab chunk (chunks are 8-byte aligned, so the header's 64-bit
 * fields are aligned). There are no LRU pointers: eviction is CLOCK over
 * the class's pages (see evict.c), driven by the ACCESSED bit.
 *
 *   | next | cas | exptime | atime | flags | nbytes | nkey | clsid | iflags | key | value | slack
 *     8      8     4         4       4       4        1      1       1
 *
 * A free chunk reuses the first two words as its free-list links (next,
 * free_prev) and has iflags 0, which is how a walk over a page tells free
 * chunks from items: every chunk of a class page is, whenever the shard
 * lock is free, either on the class free list or a LINKED item.
 *
 * A large item (bigger than SLAB_CHUNK_MAX) is one malloc: a 16-byte
 * prefix with the shard's large-list links, then the same header.
 *
 * Every field is guarded by the lock of the shard that owns the item.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "stashd/util/hash.h"

/* iflags bits */
#define ITEM_LINKED 0x01u   /* in the hash table (else: a free chunk, or not yet linked) */
#define ITEM_ACCESSED 0x02u /* read since the CLOCK hand last passed (second chance) */
#define ITEM_FETCHED 0x04u  /* read at least once since it was stored */
#define ITEM_LARGE 0x08u    /* a large item (struct item_large), not a slab chunk */

struct item {
    struct item *next; /* hash chain when linked; next free chunk when free */
    union {
        uint64_t cas;           /* unique version (see shard_next_cas) */
        struct item *free_prev; /* free chunk: previous free chunk */
    };
    uint32_t exptime; /* relative expiry, 0 = never */
    uint32_t atime;   /* relative time of the last access */
    uint32_t flags;   /* client flags, opaque */
    uint32_t nbytes;  /* value length */
    uint8_t nkey;     /* key length, 1..STORE_KEY_MAX */
    uint8_t clsid;    /* slab class index; ITEM_CLASS_LARGE for large items */
    uint8_t iflags;   /* ITEM_* bits */
    char data[];      /* nkey bytes of key, then nbytes of value */
};

#define ITEM_HDR_SIZE (offsetof(struct item, data))
#define ITEM_CLASS_LARGE 0xffu

_Static_assert(offsetof(struct item, data) == 35, "item header is 35 bytes");

/* A large item: list links in front of the ordinary header. */
struct item_large {
    struct item_large *prev; /* toward the head (most recently stored) */
    struct item_large *next; /* toward the tail (eviction candidates) */
    struct item it;
};

#define ITEM_LARGE_PREFIX (offsetof(struct item_large, it))

/* Bytes an item of this key and value needs in a chunk (no overflow:
 * both inputs are at most 32 bits). */
static inline uint64_t
item_size(uint64_t nkey, uint64_t nbytes)
{
    return ITEM_HDR_SIZE + nkey + nbytes;
}

static inline uint64_t
item_total(const struct item *it)
{
    return item_size(it->nkey, it->nbytes);
}

/* View into the item; valid while the shard lock is held. */
static inline char *
item_key(struct item *it)
{
    return it->data;
}

static inline char *
item_value(struct item *it)
{
    return it->data + it->nkey;
}

static inline struct item_large *
item_to_large(struct item *it)
{
    return (struct item_large *)((char *)it - ITEM_LARGE_PREFIX);
}

static inline uint64_t
item_hash(struct item *it)
{
    return hash_bytes(it->data, it->nkey);
}

/* Why an item is no longer visible (mirrors enum store_miss). */
enum item_state { ITEM_LIVE, ITEM_EXPIRED, ITEM_FLUSHED };

/* An item is dead once its expiry has come or a flush covers its cas. */
static inline enum item_state
item_state(const struct item *it, uint32_t now, uint64_t flush_cas)
{
    if (it->exptime != 0 && it->exptime <= now) {
        return ITEM_EXPIRED;
    }
    if (it->cas <= flush_cas) {
        return ITEM_FLUSHED;
    }
    return ITEM_LIVE;
}
