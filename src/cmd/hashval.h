/*
 * hashval: the value of a Redis hash key, a field table encoded in the
 * item's value bytes (private to cmd/). The store keeps it as any other
 * value, typed STORE_TYPE_HASH, bounded by the item size limit (-I), and
 * evicts and expires it as one key; only the hash commands (resp_hash.c)
 * and OBJECT ENCODING read it.
 *
 *   table := count pair*             count: how many pairs follow
 *   pair  := flen field vlen value   flen, vlen: their byte lengths
 *
 * count, flen and vlen are LEB128 varints (7 bits a byte, low bits first:
 * one byte below 128, at most five). Fields are distinct and kept in
 * insertion order, as Redis's listpack keeps them: setting a new field
 * appends it, setting an existing one rewrites its value where it is,
 * deleting one closes the gap. A table with no pair is never stored (the
 * key goes, as in Redis).
 *
 * Everything parses in place, with no allocation: views point into the
 * bytes given (under the shard lock, an item's value) and live as long as
 * they do. Lookup is a walk over the pairs comparing lengths first,
 * linear in the fields as Redis's listpack is up to its 512 entries; a
 * change of k fields costs one walk and one copy of the table whatever
 * its size, the k fields being found through a small hash index when k
 * is over HASHVAL_LINEAR. A table that does not parse (never written by
 * stashd; the fuzz target makes them) reads as ending where it stops
 * parsing, and a change rewrites it so.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stashd/util/bstr.h"

#define HASHVAL_VARINT_MAX 5
/* Field sets up to this size are searched linearly, with no index and
 * no allocation. */
#define HASHVAL_LINEAR 8
/* Redis 7.0's default hash-max-listpack-entries (512, not 128: that is
 * zset's) and hash-max-listpack-value: past
 * either, Redis keeps a hash in a hashtable (OBJECT ENCODING). */
#define HASHVAL_LISTPACK_ENTRIES 512
#define HASHVAL_LISTPACK_VALUE 64

/* A cursor over a table's pairs; p is where the next pair starts. */
struct hashval_iter {
    const unsigned char *p, *end;
};

size_t hashval_varint_len(uint64_t v);
/* Write v at dst (hashval_varint_len(v) bytes); returns that length. */
size_t hashval_put_varint(char *dst, uint64_t v);
/* Bytes a pair of these lengths takes. */
static inline uint64_t
hashval_pair_size(uint64_t flen, uint64_t vlen)
{
    return hashval_varint_len(flen) + flen + hashval_varint_len(vlen) + vlen;
}

/* Open the table of n bytes at v (v may be NULL when n is 0): *count gets
 * its header's pair count (0 when it does not parse) and it the first
 * pair. */
void hashval_open(struct hashval_iter *it, const char *v, size_t n, uint64_t *count);
/* The next pair (views into the table); false at the end, or where the
 * table stops parsing. */
bool hashval_next(struct hashval_iter *it, struct bstr *field, struct bstr *value);
/* The value of field (a view into the table); false if absent. */
bool hashval_get(const char *v, size_t n, struct bstr field, struct bstr *value);
/* The pair count the header says (HLEN). */
uint64_t hashval_count(const char *v, size_t n);
/* Would Redis keep this table as a listpack (OBJECT ENCODING)? At most
 * HASHVAL_LISTPACK_ENTRIES pairs, none longer than HASHVAL_LISTPACK_VALUE. */
bool hashval_is_listpack(const char *v, size_t n);

/*
 * A set of distinct fields a command names, each with a value to set (or
 * none, for a delete or a read), built before the table is looked at:
 * the same field given twice keeps its first place and takes its last
 * value, as Redis applies HSET's pairs in order.
 */
struct hashval_entry {
    struct bstr field;
    struct bstr value; /* the value to set (caller's memory) */
    /* After hashval_plan: the field's value in the table (a view into
     * it), data NULL when the table lacks the field. */
    struct bstr old;
    uint64_t hash; /* of field, when the set is indexed */
};

struct hashval_set {
    struct hashval_entry *e; /* n entries, in first-given order */
    size_t n, cap;
    uint32_t *slots; /* entry index + 1, 0 empty; NULL when cap <= HASHVAL_LINEAR */
    size_t nslots;   /* a power of two over 2 * cap */
    struct hashval_entry small[HASHVAL_LINEAR];
};

/* For up to cap fields; 0 or -ENOMEM (only past HASHVAL_LINEAR). */
int hashval_set_init(struct hashval_set *s, size_t cap);
void hashval_set_fini(struct hashval_set *s);
/* Add field with value (n < cap); returns its entry. */
struct hashval_entry *hashval_set_add(struct hashval_set *s, struct bstr field, struct bstr value);
/* The entry of field, or NULL. */
struct hashval_entry *hashval_set_find(const struct hashval_set *s, struct bstr field);

/* What a change to a table gives. */
struct hashval_plan {
    uint64_t size;    /* bytes of the new table */
    uint64_t count;   /* its pairs (0: the key goes) */
    uint64_t added;   /* fields new to the table (HSET's reply) */
    uint64_t removed; /* fields deleted from it (HDEL's reply) */
    /* Every field set is in the table with a value of the new length: the
     * new table has the old one's length and layout, and
     * hashval_apply_in_place writes it over the old one. */
    bool in_place;
};

/*
 * Plan setting every entry's value (del false), or deleting every
 * entry's field (del true), in the table (v, n; NULL, 0 for none); fills
 * each entry's old. The result may be written by hashval_apply into
 * other memory, or (p->in_place) by hashval_apply_in_place over the
 * table itself.
 */
void hashval_plan(struct hashval_set *s, const char *v, size_t n, bool del, struct hashval_plan *p);
/* Write the planned table (p->size bytes) at dst, which must not overlap
 * the table v. */
void hashval_apply(const struct hashval_set *s, const char *v, size_t n, bool del,
                   const struct hashval_plan *p, char *dst);
/* Write the new values over the old ones, in the table v itself (dst is
 * v, writable; the plan was in_place). */
void hashval_apply_in_place(const struct hashval_set *s, const char *v, char *dst);
