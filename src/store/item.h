/*
 * item: how one cached key/value lives in memory (private to store/).
 *
 * Items are packed whole, 8-byte aligned, into segments of the arena (see
 * store/seg.h), and the index refers to one by its offset from the arena's
 * base in units of 8 bytes (a 32-bit "ref"; 0 is never an item). The
 * header is 12 bytes, plus a few bytes only when the item needs them:
 *
 *   0       1        2      3     4        8       12
 *   | state | layout | nkey | v0 | cas_lo | atime | v1..v3 | flags | exptime | ms | db | key |
 * value | 0-3 B    0/4 B   0/4 B   0/2  0/1
 *
 *   state   ITEM_LINKED/ACCESSED/FETCHED and the meta-protocol bits; read
 *           without the shard lock by eviction, so every access is atomic
 *   layout  how many bytes the value length takes, which optional fields
 *           follow, and the item's type in the top 2 bits (enum
 *           store_type: string or hash)
 *   nkey    key length, 1..250
 *   v0..v3  value length, little-endian, 1-4 bytes (1 for values < 256)
 *   cas_lo  low 32 bits of the shard's cas sequence number at the last
 *           change; the full number is rebuilt from the shard's current
 *           one (see shard_item_seq), and maintenance gives items that
 *           fall 2^30 behind a fresh one, so the rebuild is always exact
 *   atime   relative time of the last access (mg's l, `stats items` age)
 *   flags   client flags, when nonzero (ITEM_HAS_FLAGS)
 *   exptime relative expiry, when set (ITEM_HAS_EXP)
 *   ms      milliseconds of a Redis deadline (ITEM_EXP_MS): the item dies
 *           at exptime * 1000 + ms on the wall clock (clock_wall_ms)
 *   db      database number when nonzero (ITEM_HAS_DB; for Redis SELECT)
 *
 * A 32-byte key and a 100-byte value take 12 + 32 + 100 = 144 bytes.
 *
 * An item is written once, before it is linked. After that only state,
 * cas_lo, atime, an existing exptime/ms field and (same-length rewrites)
 * the value bytes change, in place, under the shard lock; anything that
 * needs another layout (flags added, an expiry where there was none, a
 * value of another length) writes a new item. Eviction may move a linked
 * item within its segment, under its shard lock.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "stashd/util/hash.h"

/* state bits (atomic byte) */
#define ITEM_LINKED 0x01u   /* in the index (else: dead, abandoned, or not yet linked) */
#define ITEM_ACCESSED 0x02u /* read since eviction last passed (second chance) */
#define ITEM_FETCHED 0x04u  /* read at least once since it was stored */
/* memcached meta-protocol state (store_meta in store.h); a new item (any
 * store, append included) starts without them, as memcached's does: */
#define ITEM_STALE 0x08u      /* invalidated (md I) or stored stale (ms I C): mg says X */
#define ITEM_WIN_SENT 0x10u   /* a client was given the win (W): others get Z */
#define ITEM_KEY_BINARY 0x20u /* stored under a base64 (b) key: k sends it encoded */
#define ITEM_META_BITS (ITEM_STALE | ITEM_WIN_SENT | ITEM_KEY_BINARY)
#define ITEM_ACCESSED2 0x40u /* read again since eviction last passed (ACCESSED set) */
#define ITEM_ACCESS_BITS (ITEM_ACCESSED | ITEM_ACCESSED2)

/* layout bits */
#define ITEM_VLEN_MASK 0x03u /* value length bytes - 1 */
#define ITEM_HAS_FLAGS 0x04u /* a 4-byte client flags field */
#define ITEM_HAS_EXP 0x08u   /* a 4-byte relative expiry field */
#define ITEM_EXP_MS 0x10u    /* a 2-byte millisecond field (with ITEM_HAS_EXP) */
#define ITEM_HAS_DB 0x20u    /* a 1-byte database number */
#define ITEM_TYPE_SHIFT 6    /* 2 bits of type: enum store_type */
#define ITEM_TYPE_MASK 0xc0u

/*
 * The version of this layout as a memory file keeps it (store/restart.c):
 * a restart only adopts items written under the same one. Whoever changes
 * what an item's bytes mean (a field, a bit, a type) bumps it.
 */
/* 2: the top two layout bits say the value's type (enum store_type); a
 * binary of format 1 would serve a hash's field table as a string. */
#define ITEM_FORMAT 2u

#define ITEM_HDR 12u         /* the fixed part */
#define ITEM_EXT_MAX 14u     /* the optional part at most: 3 + 4 + 4 + 2 + 1 */
#define ITEM_ALIGN 8u        /* items start on multiples of this (at least) */
#define ITEM_REF_SHIFT_MIN 3 /* refs count 8-byte units (more past 32 GiB) */

struct item {
    uint8_t state;   /* atomic: see item_state_load */
    uint8_t layout;  /* immutable */
    uint8_t nkey;    /* immutable */
    uint8_t v0;      /* immutable */
    uint32_t cas_lo; /* shard lock */
    uint32_t atime;  /* shard lock */
    uint8_t ext[];   /* optional fields, key, value */
};

_Static_assert(sizeof(struct item) == ITEM_HDR, "item header is 12 bytes");

/* What a new item holds besides its key and value. */
struct item_fields {
    uint32_t flags;   /* client flags */
    uint32_t exptime; /* relative expiry, 0 = never */
    uint16_t ms;      /* with exp_ms: milliseconds of the deadline */
    bool exp_ms;
    uint8_t db;
    uint8_t type; /* enum store_type */
};

static inline unsigned
item_state_load(const struct item *it)
{
    return __atomic_load_n(&it->state, __ATOMIC_RELAXED);
}

/* Under the shard lock (the only writer), so load + store suffices. */
static inline void
item_state_set(struct item *it, unsigned set, unsigned clear)
{
    unsigned st = item_state_load(it);
    unsigned nst = (st | set) & ~clear;
    if (nst != st) {
        __atomic_store_n(&it->state, (uint8_t)nst, __ATOMIC_RELAXED);
    }
}

/* Bytes the value length takes for n bytes of value. */
static inline unsigned
item_vlen_bytes(uint64_t n)
{
    return n < 0x100 ? 1 : n < 0x10000 ? 2 : n < 0x1000000 ? 3 : 4;
}

/* Bytes of the optional part for layout bits l (a table: it is on every
 * access to a key). */
#define ITEM_EXT_LEN_(l)                                                                           \
    (((l)&3) + (((l) >> 2) & 1) * 4 + (((l) >> 3) & 1) * 4 + (((l) >> 4) & 1) * 2 +                \
     (((l) >> 5) & 1))
#define ITEM_X4_(b)                                                                                \
    ITEM_EXT_LEN_(b), ITEM_EXT_LEN_(b + 1), ITEM_EXT_LEN_(b + 2), ITEM_EXT_LEN_(b + 3)
#define ITEM_X16_(b) ITEM_X4_(b), ITEM_X4_(b + 4), ITEM_X4_(b + 8), ITEM_X4_(b + 12)
static const uint8_t item_ext_len_tab[64] = {ITEM_X16_(0), ITEM_X16_(16), ITEM_X16_(32),
                                             ITEM_X16_(48)};

static inline unsigned
item_ext_len(unsigned layout)
{
    return item_ext_len_tab[layout & 0x3f];
}

/* The layout a new item with these fields and value length gets. */
static inline unsigned
item_layout_for(const struct item_fields *f, uint64_t nbytes)
{
    unsigned l = item_vlen_bytes(nbytes) - 1;
    l |= f->flags != 0 ? ITEM_HAS_FLAGS : 0;
    l |= f->exptime != 0 ? ITEM_HAS_EXP : 0;
    l |= f->exptime != 0 && f->exp_ms ? ITEM_EXP_MS : 0;
    l |= f->db != 0 ? ITEM_HAS_DB : 0;
    l |= ((unsigned)f->type << ITEM_TYPE_SHIFT) & ITEM_TYPE_MASK;
    return l;
}

/* Bytes an item takes (header, fields, key, value), and the same rounded
 * up to ITEM_ALIGN: the room it takes in a segment. */
static inline uint64_t
item_size_of(unsigned layout, uint64_t nkey, uint64_t nbytes)
{
    return ITEM_HDR + item_ext_len(layout) + nkey + nbytes;
}

/*
 * Where items live: the arena's base, and the unit refs count in (1 <<
 * shift bytes: 8, or more for an arena over 32 GiB, so that 32-bit refs
 * reach all of it). Items start on multiples of the unit.
 */
struct item_space {
    char *base;
    unsigned shift;
};

static inline struct item *
item_at(const struct item_space *sp, uint32_t ref)
{
    return (struct item *)(sp->base + ((size_t)ref << sp->shift));
}

static inline uint32_t
item_ref(const struct item_space *sp, const struct item *it)
{
    return (uint32_t)(((const char *)it - sp->base) >> sp->shift);
}

static inline uint64_t
item_span_of(const struct item_space *sp, uint64_t size)
{
    uint64_t unit = (uint64_t)1 << sp->shift;
    return (size + unit - 1) & ~(unit - 1);
}

static inline uint32_t
item_nbytes(const struct item *it)
{
    /* The rest of the length is in the first 0-3 bytes of ext; an item
     * spans at least 16 bytes, so 4 can be read and the extra masked off. */
    static const uint32_t mask[4] = {0, 0xff, 0xffff, 0xffffff};
    uint32_t hi;
    memcpy(&hi, it->ext, 4);
    return it->v0 | (hi & mask[it->layout & ITEM_VLEN_MASK]) << 8;
}

static inline uint64_t
item_size(const struct item *it)
{
    return item_size_of(it->layout, it->nkey, item_nbytes(it));
}

static inline uint64_t
item_span(const struct item_space *sp, const struct item *it)
{
    return item_span_of(sp, item_size(it));
}

/* Offsets of the optional fields, after the value length bytes. */
static inline unsigned
item_off_flags(const struct item *it)
{
    return it->layout & ITEM_VLEN_MASK;
}

static inline unsigned
item_off_exp(const struct item *it)
{
    return item_off_flags(it) + ((it->layout & ITEM_HAS_FLAGS) ? 4 : 0);
}

static inline unsigned
item_off_ms(const struct item *it)
{
    return item_off_exp(it) + ((it->layout & ITEM_HAS_EXP) ? 4 : 0);
}

static inline unsigned
item_off_db(const struct item *it)
{
    return item_off_ms(it) + ((it->layout & ITEM_EXP_MS) ? 2 : 0);
}

static inline uint32_t
item_get32(const struct item *it, unsigned off)
{
    uint32_t v;
    memcpy(&v, it->ext + off, 4);
    return v;
}

static inline void
item_put32(struct item *it, unsigned off, uint32_t v)
{
    memcpy(it->ext + off, &v, 4);
}

/* Client flags (0 when the item has no field). */
static inline uint32_t
item_flags(const struct item *it)
{
    return (it->layout & ITEM_HAS_FLAGS) ? item_get32(it, item_off_flags(it)) : 0;
}

/* Relative expiry, 0 = never. */
static inline uint32_t
item_exptime(const struct item *it)
{
    return (it->layout & ITEM_HAS_EXP) ? item_get32(it, item_off_exp(it)) : 0;
}

/* Milliseconds of a Redis deadline (0 without ITEM_EXP_MS). */
static inline uint32_t
item_ms(const struct item *it)
{
    if (!(it->layout & ITEM_EXP_MS)) {
        return 0;
    }
    uint16_t v;
    memcpy(&v, it->ext + item_off_ms(it), 2);
    return v;
}

/* The value's type (enum store_type). */
static inline unsigned
item_type(const struct item *it)
{
    return (it->layout & ITEM_TYPE_MASK) >> ITEM_TYPE_SHIFT;
}

static inline uint8_t
item_db(const struct item *it)
{
    return (it->layout & ITEM_HAS_DB) ? it->ext[item_off_db(it)] : 0;
}

/* View into the item; valid while the shard lock is held. */
static inline char *
item_key(struct item *it)
{
    return (char *)it->ext + item_ext_len(it->layout);
}

static inline char *
item_value(struct item *it)
{
    return item_key(it) + it->nkey;
}

static inline uint64_t
item_hash(struct item *it)
{
    return hash_bytes(item_key(it), it->nkey);
}

/*
 * Write a new item's header, fields and key (the value is the caller's);
 * state is 0 (not linked), cas_lo and atime as given. Returns where the
 * value goes.
 */
static inline char *
item_init(struct item *it, const char *key, uint8_t nkey, uint32_t nbytes,
          const struct item_fields *f, uint32_t atime)
{
    unsigned layout = item_layout_for(f, nbytes);
    it->state = 0;
    it->layout = (uint8_t)layout;
    it->nkey = nkey;
    it->v0 = (uint8_t)nbytes;
    it->cas_lo = 0;
    it->atime = atime;
    unsigned vl = layout & ITEM_VLEN_MASK;
    for (unsigned i = 0; i < vl; i++) {
        it->ext[i] = (uint8_t)(nbytes >> (8 * (i + 1)));
    }
    if (layout & ITEM_HAS_FLAGS) {
        item_put32(it, item_off_flags(it), f->flags);
    }
    if (layout & ITEM_HAS_EXP) {
        item_put32(it, item_off_exp(it), f->exptime);
    }
    if (layout & ITEM_EXP_MS) {
        uint16_t ms = f->ms;
        memcpy(it->ext + item_off_ms(it), &ms, 2);
    }
    if (layout & ITEM_HAS_DB) {
        it->ext[item_off_db(it)] = f->db;
    }
    char *k = item_key(it);
    memcpy(k, key, nkey);
    return k + nkey;
}

/* Make span bytes (at least 16) at it a hole: a dead item with no key
 * whose size is span, so that walks over its segment step over it. */
static inline void
item_make_hole(struct item *it, uint64_t span)
{
    uint32_t n = (uint32_t)(span - ITEM_HDR - 3);
    __atomic_store_n(&it->state, 0, __ATOMIC_RELAXED);
    it->layout = 3; /* a 4-byte value length, no fields */
    it->nkey = 0;
    it->v0 = (uint8_t)n;
    for (unsigned i = 0; i < 3; i++) {
        it->ext[i] = (uint8_t)(n >> (8 * (i + 1)));
    }
}

/* The fields of an existing item, to carry over into a new one. */
static inline struct item_fields
item_fields_of(const struct item *it)
{
    return (struct item_fields){
        .flags = item_flags(it),
        .exptime = item_exptime(it),
        .ms = (uint16_t)item_ms(it),
        .exp_ms = (it->layout & ITEM_EXP_MS) != 0,
        .db = item_db(it),
        .type = (uint8_t)item_type(it),
    };
}

/* Why an item is no longer visible (mirrors enum store_miss). */
enum item_state { ITEM_LIVE, ITEM_EXPIRED, ITEM_FLUSHED };
