/*
 * hashval: a hash key's field table (see hashval.h).
 */
#include "cmd/hashval.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stashd/util/hash.h"

size_t
hashval_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t
hashval_put_varint(char *dst, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        dst[n++] = (char)(0x80 | (v & 0x7f));
        v >>= 7;
    }
    dst[n++] = (char)v;
    return n;
}

/* A varint of at most 32 bits in its shortest form at *p (before end);
 * false if there is none. */
static inline bool
get_varint(const unsigned char **p, const unsigned char *end, uint64_t *out)
{
    const unsigned char *q = *p;
    if (__builtin_expect(q < end && *q < 0x80, 1)) {
        *out = *q;
        *p = q + 1;
        return true;
    }
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 7 * HASHVAL_VARINT_MAX; shift += 7) {
        if (q == end) {
            return false;
        }
        unsigned char b = *q++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            /* Only the shortest form parses, so that every length a
             * table holds takes hashval_varint_len bytes. */
            if (v > UINT32_MAX || (b == 0 && shift != 0)) {
                return false;
            }
            *out = v;
            *p = q;
            return true;
        }
    }
    return false;
}

void
hashval_open(struct hashval_iter *it, const char *v, size_t n, uint64_t *count)
{
    it->p = (const unsigned char *)v;
    it->end = n != 0 ? it->p + n : it->p; /* (no arithmetic on a NULL v) */
    if (n == 0 || !get_varint(&it->p, it->end, count)) {
        *count = 0;
        it->p = it->end;
    }
}

bool
hashval_next(struct hashval_iter *it, struct bstr *field, struct bstr *value)
{
    const unsigned char *p = it->p;
    uint64_t flen, vlen;
    if (p == it->end || !get_varint(&p, it->end, &flen) || flen > (uint64_t)(it->end - p)) {
        goto stop;
    }
    field->data = (const char *)p;
    field->len = flen;
    p += flen;
    if (!get_varint(&p, it->end, &vlen) || vlen > (uint64_t)(it->end - p)) {
        goto stop;
    }
    value->data = (const char *)p;
    value->len = vlen;
    it->p = p + vlen;
    return true;
stop:
    it->p = it->end;
    return false;
}

bool
hashval_get(const char *v, size_t n, struct bstr field, struct bstr *value)
{
    struct hashval_iter it;
    uint64_t count;
    hashval_open(&it, v, n, &count);
    struct bstr f, val;
    while (hashval_next(&it, &f, &val)) {
        if (bstr_eq(f, field)) {
            *value = val;
            return true;
        }
    }
    return false;
}

uint64_t
hashval_count(const char *v, size_t n)
{
    struct hashval_iter it;
    uint64_t count;
    hashval_open(&it, v, n, &count);
    return count;
}

bool
hashval_is_listpack(const char *v, size_t n)
{
    struct hashval_iter it;
    uint64_t count;
    hashval_open(&it, v, n, &count);
    if (count > HASHVAL_LISTPACK_ENTRIES) {
        return false;
    }
    struct bstr f, val;
    while (hashval_next(&it, &f, &val)) {
        if (f.len > HASHVAL_LISTPACK_VALUE || val.len > HASHVAL_LISTPACK_VALUE) {
            return false;
        }
    }
    return true;
}

/* --- field sets ------------------------------------------------------------ */

int
hashval_set_init(struct hashval_set *s, size_t cap)
{
    s->n = 0;
    s->cap = cap;
    s->e = s->small;
    s->slots = NULL;
    s->nslots = 0;
    if (cap <= HASHVAL_LINEAR) {
        return 0;
    }
    size_t nslots = 16;
    while (nslots < 2 * cap) {
        nslots *= 2;
    }
    s->e = malloc(cap * sizeof(*s->e));
    s->slots = calloc(nslots, sizeof(*s->slots));
    if (s->e == NULL || s->slots == NULL) {
        free(s->slots);
        if (s->e != s->small) {
            free(s->e);
        }
        s->e = s->small;
        s->slots = NULL;
        return -ENOMEM;
    }
    s->nslots = nslots;
    return 0;
}

void
hashval_set_fini(struct hashval_set *s)
{
    if (s->e != s->small) {
        free(s->e);
    }
    free(s->slots);
    s->e = s->small;
    s->slots = NULL;
    s->n = 0;
}

/* The entry of field (hash h when indexed), or NULL; *slot gets the
 * free slot where it would go. */
static struct hashval_entry *
set_lookup(const struct hashval_set *s, struct bstr field, uint64_t h, size_t *slot)
{
    if (s->slots == NULL) {
        for (size_t i = 0; i < s->n; i++) {
            if (bstr_eq(s->e[i].field, field)) {
                return &s->e[i];
            }
        }
        return NULL;
    }
    size_t mask = s->nslots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t ix = s->slots[i];
        if (ix == 0) {
            *slot = i;
            return NULL;
        }
        struct hashval_entry *e = &s->e[ix - 1];
        if (e->hash == h && bstr_eq(e->field, field)) {
            return e;
        }
    }
}

struct hashval_entry *
hashval_set_find(const struct hashval_set *s, struct bstr field)
{
    size_t slot;
    return set_lookup(s, field, s->slots != NULL ? hash_bytes(field.data, field.len) : 0, &slot);
}

struct hashval_entry *
hashval_set_add(struct hashval_set *s, struct bstr field, struct bstr value)
{
    uint64_t h = s->slots != NULL ? hash_bytes(field.data, field.len) : 0;
    size_t slot = 0;
    struct hashval_entry *e = set_lookup(s, field, h, &slot);
    if (e != NULL) {
        e->value = value;
        return e;
    }
    e = &s->e[s->n++];
    *e = (struct hashval_entry){.field = field, .value = value, .hash = h};
    if (s->slots != NULL) {
        s->slots[slot] = (uint32_t)s->n;
    }
    return e;
}

/* --- changes ------------------------------------------------------------------ */

void
hashval_plan(struct hashval_set *s, const char *v, size_t n, bool del, struct hashval_plan *p)
{
    for (size_t i = 0; i < s->n; i++) {
        s->e[i].old = (struct bstr){.data = NULL, .len = 0};
    }
    struct hashval_iter it;
    uint64_t header;
    hashval_open(&it, v, n, &header);
    const unsigned char *start = it.p, *at = it.p;
    /* found counts the pairs of the set's fields, distinct their fields
     * (they differ only in a table that repeats a field: one not written
     * by stashd, whose every copy a change rewrites) */
    uint64_t walked = 0, found = 0, distinct = 0;
    int64_t delta = 0; /* bytes the found pairs gain */
    bool in_place = !del;
    struct bstr f, val;
    while (hashval_next(&it, &f, &val)) {
        at = it.p;
        walked++;
        struct hashval_entry *e = s->n != 0 ? hashval_set_find(s, f) : NULL;
        if (e == NULL) {
            continue;
        }
        distinct += e->old.data == NULL;
        e->old = val;
        found++;
        if (del) {
            delta -= (int64_t)hashval_pair_size(f.len, val.len);
        } else {
            delta += (int64_t)hashval_varint_len(e->value.len) + (int64_t)e->value.len -
                     (int64_t)hashval_varint_len(val.len) - (int64_t)val.len;
            in_place = in_place && e->value.len == val.len;
        }
    }
    /* Bytes of the pairs walked: a table that stops parsing keeps what
     * parsed. */
    uint64_t pairs = (uint64_t)(at - start);
    if (del) {
        p->count = walked - found;
        p->added = 0;
        p->removed = found;
    } else {
        p->count = walked + (s->n - distinct);
        p->added = s->n - distinct;
        p->removed = 0;
        for (size_t i = 0; i < s->n; i++) {
            if (s->e[i].old.data == NULL) {
                delta += (int64_t)hashval_pair_size(s->e[i].field.len, s->e[i].value.len);
            }
        }
    }
    p->size = hashval_varint_len(p->count) + (uint64_t)((int64_t)pairs + delta);
    /* In place only over a table that parsed whole, with the same count. */
    p->in_place = in_place && p->added == 0 && walked == header && found == distinct && v != NULL &&
                  at == (const unsigned char *)v + n;
}

/* Append a pair at *w. */
static void
put_pair(char **w, struct bstr field, struct bstr value)
{
    char *d = *w;
    d += hashval_put_varint(d, field.len);
    if (field.len != 0) {
        memcpy(d, field.data, field.len);
    }
    d += field.len;
    d += hashval_put_varint(d, value.len);
    if (value.len != 0) {
        memcpy(d, value.data, value.len);
    }
    *w = d + value.len;
}

void
hashval_apply(const struct hashval_set *s, const char *v, size_t n, bool del,
              const struct hashval_plan *p, char *dst)
{
    char *w = dst;
    w += hashval_put_varint(w, p->count);
    struct hashval_iter it;
    uint64_t header;
    hashval_open(&it, v, n, &header);
    /* Pairs left as they are are copied a run at a time. */
    const unsigned char *run = it.p;
    const unsigned char *at = it.p;
    struct bstr f, val;
    while (hashval_next(&it, &f, &val)) {
        struct hashval_entry *e = s->n != 0 ? hashval_set_find(s, f) : NULL;
        if (e != NULL) {
            size_t len = (size_t)(at - run);
            if (len != 0) {
                memcpy(w, run, len);
                w += len;
            }
            if (!del) {
                put_pair(&w, f, e->value);
            }
            run = it.p;
        }
        at = it.p;
    }
    size_t len = (size_t)(at - run);
    if (len != 0) {
        memcpy(w, run, len);
        w += len;
    }
    if (!del) {
        for (size_t i = 0; i < s->n; i++) {
            if (s->e[i].old.data == NULL) {
                put_pair(&w, s->e[i].field, s->e[i].value);
            }
        }
    }
}

void
hashval_apply_in_place(const struct hashval_set *s, const char *v, char *dst)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct hashval_entry *e = &s->e[i];
        if (e->old.data != NULL && e->value.len != 0) {
            memmove(dst + (e->old.data - v), e->value.data, e->value.len);
        }
    }
}
