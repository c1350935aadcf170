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
 * Expiry has two forms, told apart by ITEM_EXP_MS:
 *
 *   memcached's: exptime is a relative second on the coarse clock
 *   (clock_now(), monotonic); the item is dead once exptime <= now.
 *   flags is the client's 32-bit flags word.
 *
 *   Redis's (ITEM_EXP_MS): the deadline is exptime * 1000 + flags
 *   milliseconds after relative time 0 on the wall clock
 *   (item_clock_ms()), as Redis keeps expiry in wall-clock milliseconds.
 *   flags then holds the milliseconds (0..999) and the client flags are 0.
 *
 * Millisecond deadlines thus cost no header bytes: an item set over RESP
 * has client flags 0, so their word is free. An item that carries client
 * flags (stored by a memcached client) and is given a deadline over RESP
 * keeps its flags and has the deadline rounded up to a whole second.
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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stashd/util/hash.h"

/* iflags bits */
#define ITEM_LINKED 0x01u   /* in the hash table (else: a free chunk, or not yet linked) */
#define ITEM_ACCESSED 0x02u /* read since the CLOCK hand last passed (second chance) */
#define ITEM_FETCHED 0x04u  /* read at least once since it was stored */
#define ITEM_LARGE 0x08u    /* a large item (struct item_large), not a slab chunk */
#define ITEM_EXP_MS 0x10u   /* millisecond deadline; flags holds its milliseconds */
/* memcached meta-protocol state (store_meta in store.h); a new item (any
 * store, append included) starts without them, as memcached's does: */
#define ITEM_STALE 0x20u      /* invalidated (md I) or stored stale (ms I C): mg says X */
#define ITEM_WIN_SENT 0x40u   /* a client was given the win (W): others get Z */
#define ITEM_KEY_BINARY 0x80u /* stored under a base64 (b) key: k sends it encoded */
#define ITEM_META_BITS (ITEM_STALE | ITEM_WIN_SENT | ITEM_KEY_BINARY)

struct item {
    struct item *next; /* hash chain when linked; next free chunk when free */
    union {
        uint64_t cas;           /* unique version (see shard_next_cas) */
        struct item *free_prev; /* free chunk: previous free chunk */
    };
    uint32_t exptime; /* relative expiry, 0 = never */
    uint32_t atime;   /* relative time of the last access */
    uint32_t flags;   /* client flags, opaque; with ITEM_EXP_MS the deadline's ms */
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

/*
 * Milliseconds since relative time 0 on the wall clock (CLOCK_REALTIME
 * minus clock_process_started()): the clock of ITEM_EXP_MS deadlines.
 * Read from the OS (vDSO, no syscall) on each call.
 */
int64_t item_clock_ms(void);

/* The client flags of an item (0 when the word holds milliseconds). */
static inline uint32_t
item_client_flags(const struct item *it)
{
    return (it->iflags & ITEM_EXP_MS) ? 0 : it->flags;
}

/*
 * Has a millisecond deadline passed? The coarse clock decides when the
 * deadline is at least a second away from it either way; only near the
 * deadline is the wall clock read. The coarse clock is monotonic and the
 * deadline wall-clock, so they differ by the fraction of a second at
 * which the process started plus how stale the cached clock is (well
 * under a second while the clock timer runs): a band of [now - 1, now + 2]
 * covers both.
 */
static inline bool
item_ms_expired(const struct item *it, uint32_t now)
{
    if ((uint64_t)it->exptime + 1 < now) {
        return true;
    }
    if (it->exptime > (uint64_t)now + 2) {
        return false;
    }
    return (int64_t)it->exptime * 1000 + it->flags <= item_clock_ms();
}

/* An item is dead once its expiry has come or a flush covers its cas. */
static inline enum item_state
item_state(const struct item *it, uint32_t now, uint64_t flush_cas)
{
    if (it->exptime != 0) {
        if (!(it->iflags & ITEM_EXP_MS) ? it->exptime <= now : item_ms_expired(it, now)) {
            return ITEM_EXPIRED;
        }
    }
    if (it->cas <= flush_cas) {
        return ITEM_FLUSHED;
    }
    return ITEM_LIVE;
}
