// layer: cmd
/*
 * Fuzz target for cmd/hashval: a hash key's field table, changed by
 * field sets (HSET's and HDEL's) against a model, a plain list of pairs.
 *
 * The first byte picks the start: an empty table, or (its low bit) the
 * next bytes as a raw table, malformed as they come: the model is then
 * what hashval_next yields of it (duplicate fields included, which a
 * change updates or deletes everywhere). Then each op is a SET of 1-12
 * pairs or a DEL of 1-12 fields, some repeated, drawn from a pool of
 * names whose lengths cross the varints' one-byte limit (sets past
 * HASHVAL_LINEAR take the indexed path). After each op:
 *
 *   - the plan's counts (added, removed, pairs) and size match the model;
 *   - hashval_apply writes exactly p->size bytes (guard bytes around);
 *   - the table it wrote parses whole, as the model's pairs in order;
 *   - when the plan is in_place, writing over a copy of the old table
 *     gives the same bytes;
 *   - hashval_get, hashval_count and hashval_is_listpack agree with the
 *     model.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/hashval.h"
#include "stashd/util/hash.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define TABLE_MAX (64 * 1024)
#define PAIRS_MAX 4096
#define OP_MAX 12
#define GUARD 16

struct pair {
    const char *f;
    size_t flen;
    const char *v;
    size_t vlen;
};

static struct {
    struct pair pairs[PAIRS_MAX]; /* the model */
    size_t n;
    char table[TABLE_MAX];
    size_t len;
    char out[TABLE_MAX + 2 * GUARD];
    char copy[TABLE_MAX];
    char names[32][160];
    size_t name_len[32];
    char values[1024];
    int ready;
} fz;

static void
setup(void)
{
    if (fz.ready) {
        return;
    }
    hash_setup(7);
    for (int i = 0; i < 32; i++) {
        /* lengths 0..8, then some past 127 (two-byte varints) */
        size_t n = i < 24 ? (size_t)(i % 9) : (size_t)(120 + i);
        for (size_t j = 0; j < n; j++) {
            fz.names[i][j] = (char)('a' + (i + j) % 26);
        }
        if (n != 0) {
            fz.names[i][0] = (char)('A' + i);
        }
        fz.name_len[i] = n;
    }
    for (size_t j = 0; j < sizeof(fz.values); j++) {
        fz.values[j] = (char)('0' + j % 10);
    }
    fz.ready = 1;
}

/* A value of length drawn from b: short mostly, some past 127 and 255. */
static struct pair
value_of(unsigned char b, unsigned char salt)
{
    size_t len = b < 200 ? b % 70 : (size_t)(b - 200) * 9;
    size_t off = salt % 200;
    return (struct pair){.v = fz.values + off, .vlen = len};
}

static bool
eq(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

/* The table must parse whole as the model. */
static void
check_table(const char *t, size_t len)
{
    struct hashval_iter it;
    uint64_t count;
    hashval_open(&it, t, len, &count);
    CHECK(count == fz.n);
    struct bstr f, v;
    size_t i = 0;
    while (hashval_next(&it, &f, &v)) {
        CHECK(i < fz.n);
        CHECK(eq(f.data, f.len, fz.pairs[i].f, fz.pairs[i].flen));
        CHECK(eq(v.data, v.len, fz.pairs[i].v, fz.pairs[i].vlen));
        i++;
    }
    CHECK(i == fz.n && it.p == (const unsigned char *)t + len);
    CHECK(hashval_count(t, len) == fz.n);
    bool lp = fz.n <= HASHVAL_LISTPACK_ENTRIES;
    for (size_t j = 0; j < fz.n; j++) {
        struct bstr got;
        CHECK(hashval_get(t, len, (struct bstr){.data = fz.pairs[j].f, .len = fz.pairs[j].flen},
                          &got));
        lp = lp && fz.pairs[j].flen <= HASHVAL_LISTPACK_VALUE &&
             fz.pairs[j].vlen <= HASHVAL_LISTPACK_VALUE;
    }
    CHECK(hashval_is_listpack(t, len) == lp);
}

/* Point the model's views into the table now held in fz.table. */
static void
model_from_table(void)
{
    struct hashval_iter it;
    uint64_t count;
    hashval_open(&it, fz.table, fz.len, &count);
    fz.n = 0;
    struct bstr f, v;
    while (fz.n < PAIRS_MAX && hashval_next(&it, &f, &v)) {
        fz.pairs[fz.n++] = (struct pair){.f = f.data, .flen = f.len, .v = v.data, .vlen = v.len};
    }
}

/* Apply one op of k names (and values) to the model, as hashval does:
 * set every occurrence of a named field, append the others in
 * first-named order; or delete every occurrence. Returns expected
 * added / removed. */
static size_t
model_apply(const struct pair *ops, size_t k, bool del, struct pair *next, size_t *nnext)
{
    size_t n = 0, changed = 0;
    for (size_t i = 0; i < fz.n; i++) {
        struct pair p = fz.pairs[i];
        const struct pair *hit = NULL;
        for (size_t j = 0; j < k; j++) {
            if (eq(ops[j].f, ops[j].flen, p.f, p.flen)) {
                hit = &ops[j]; /* the last one named wins */
            }
        }
        if (hit != NULL) {
            changed++;
            if (del) {
                continue;
            }
            p.v = hit->v;
            p.vlen = hit->vlen;
        }
        next[n++] = p;
    }
    size_t added = 0;
    if (!del) {
        for (size_t j = 0; j < k; j++) {
            bool seen = false;
            for (size_t i = 0; i < n && !seen; i++) {
                seen = eq(next[i].f, next[i].flen, ops[j].f, ops[j].flen);
            }
            if (seen) {
                continue;
            }
            const struct pair *last = &ops[j];
            for (size_t l = j + 1; l < k; l++) {
                if (eq(ops[l].f, ops[l].flen, ops[j].f, ops[j].flen)) {
                    last = &ops[l];
                }
            }
            next[n] = ops[j];
            next[n].v = last->v;
            next[n].vlen = last->vlen;
            n++;
            added++;
        }
    }
    *nnext = n;
    return del ? changed : added;
}

static struct pair next_pairs[PAIRS_MAX + OP_MAX];

static void
run_op(const uint8_t *d, size_t k, bool del)
{
    struct pair ops[OP_MAX];
    struct hashval_set set;
    CHECK(hashval_set_init(&set, k) == 0);
    for (size_t j = 0; j < k; j++) {
        unsigned name = d[3 * j] % 32;
        struct pair v = value_of(d[3 * j + 1], d[3 * j + 2]);
        ops[j] = (struct pair){
            .f = fz.names[name], .flen = fz.name_len[name], .v = v.v, .vlen = del ? 0 : v.vlen};
        hashval_set_add(&set, (struct bstr){.data = ops[j].f, .len = ops[j].flen},
                        (struct bstr){.data = ops[j].v, .len = ops[j].vlen});
    }
    struct hashval_plan p;
    hashval_plan(&set, fz.len ? fz.table : NULL, fz.len, del, &p);
    size_t nnext;
    size_t expect = model_apply(ops, k, del, next_pairs, &nnext);
    CHECK(p.count == nnext);
    CHECK(del ? p.removed == expect && p.added == 0 : p.added == expect && p.removed == 0);
    if (nnext > PAIRS_MAX || p.size > TABLE_MAX) {
        hashval_set_fini(&set);
        return; /* the store would refuse it as too large */
    }
    memset(fz.out, 0xa5, sizeof(fz.out));
    hashval_apply(&set, fz.len ? fz.table : NULL, fz.len, del, &p, fz.out + GUARD);
    for (size_t i = 0; i < GUARD; i++) {
        CHECK((unsigned char)fz.out[i] == 0xa5);
        CHECK((unsigned char)fz.out[GUARD + p.size + i] == 0xa5);
    }
    if (p.in_place) {
        CHECK(p.size == fz.len);
        memcpy(fz.copy, fz.table, fz.len);
        hashval_apply_in_place(&set, fz.table, fz.copy);
        CHECK(memcmp(fz.copy, fz.out + GUARD, fz.len) == 0);
    }
    /* The new table becomes the old one; the model's views move with it
     * (they point into fz.table or the pools, both still there). */
    for (size_t i = 0; i < nnext; i++) {
        fz.pairs[i] = next_pairs[i];
    }
    fz.n = nnext;
    char *fresh = fz.out + GUARD;
    check_table(fresh, (size_t)p.size);
    memcpy(fz.table, fresh, (size_t)p.size);
    fz.len = (size_t)p.size;
    model_from_table(); /* views into fz.table again */
    hashval_set_fini(&set);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    if (size == 0) {
        return 0;
    }
    fz.len = 0;
    fz.n = 0;
    size_t i = 1;
    if (data[0] & 1) {
        size_t raw = size > 1 ? data[1] : 0;
        raw = raw > size - 2 ? size - 2 : raw;
        if (size > 1) {
            memcpy(fz.table, data + 2, raw);
            fz.len = raw;
            i = 2 + raw;
        }
        model_from_table();
    }
    while (i < size) {
        unsigned op = data[i++];
        size_t k = 1 + (op >> 1) % OP_MAX;
        if (size - i < 3 * k) {
            break;
        }
        run_op(data + i, k, op & 1);
        i += 3 * k;
    }
    return 0;
}
