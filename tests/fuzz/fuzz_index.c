// layer: store
/*
 * Fuzz target for store/index: random inserts, deletes, lookups, ref
 * moves (what eviction's compaction does), explicit resizes and walks,
 * checked against a model of which keys are in the table. Invariants
 * after every step: a key is found exactly when the model has it, at the
 * ref it was last given; index_find_ref finds that same slot; nitems
 * matches; and every bucket counts the keys homed at it that live further
 * on (moved), within its reach. A walk in hash order sees each key once.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stashd/util/hash.h"
#include "store/index.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define NKEYS 256
#define SPACE (1u << 20)

static struct item_space sp;
static size_t used;

struct model {
    uint32_t ref[NKEYS]; /* 0: absent */
    uint32_t n;
};

static size_t
key_of(char *buf, unsigned k)
{
    return (size_t)snprintf(buf, 16, "k%u", k);
}

/* A new item for key k; 0 when the space is used up. */
static uint32_t
make_item(unsigned k)
{
    char key[16];
    size_t nkey = key_of(key, k);
    struct item_fields f = {0};
    uint64_t span = item_span_of(&sp, item_size_of(item_layout_for(&f, 0), nkey, 0));
    if (used + span > SPACE) {
        return 0;
    }
    struct item *it = (struct item *)(sp.base + used);
    item_init(it, key, (uint8_t)nkey, 0, &f, 0);
    used += span;
    return item_ref(&sp, it);
}

static uint32_t
lookup(const struct index *ix, unsigned k, struct index_pos *pos)
{
    char key[16];
    size_t nkey = key_of(key, k);
    return index_find(ix, &sp, hash_bytes(key, nkey), key, nkey, 0, pos);
}

static uint64_t
hash_of(unsigned k)
{
    char key[16];
    size_t nkey = key_of(key, k);
    return hash_bytes(key, nkey);
}

static void
check_all(const struct index *ix, const struct model *m)
{
    CHECK(ix->nitems == m->n);
    for (unsigned k = 0; k < NKEYS; k++) {
        struct index_pos pos;
        uint32_t ref = lookup(ix, k, &pos);
        CHECK(ref == m->ref[k]);
        if (ref != 0) {
            struct index_pos p2 = index_find_ref(ix, hash_of(k), ref);
            CHECK(p2.bucket == pos.bucket && p2.slot == pos.slot);
        }
    }
    static uint32_t moved[4096], far[4096];
    CHECK(ix->n <= 4096);
    memset(moved, 0, sizeof(moved));
    memset(far, 0, sizeof(far));
    for (uint32_t b = 0; b < ix->n; b++) {
        for (unsigned s = 0; s < INDEX_SLOTS; s++) {
            if (ix->b[b].ref[s] == 0) {
                CHECK(ix->b[b].tag[s] == 0);
                continue;
            }
            uint64_t h = item_hash(item_at(&sp, ix->b[b].ref[s]));
            CHECK(ix->b[b].tag[s] == index_tag(h));
            uint32_t home = index_home(index_h32(h), ix->n);
            uint32_t d = b >= home ? b - home : b + ix->n - home;
            if (d > 0) {
                moved[home]++;
                far[home] = d > far[home] ? d : far[home];
            }
        }
    }
    for (uint32_t b = 0; b < ix->n; b++) {
        const struct index_bucket *bk = &ix->b[b];
        CHECK(bk->moved == moved[b] || (bk->moved == 255 && moved[b] >= 255));
        CHECK(bk->moved == 0 || bk->reach >= far[b] || bk->reach == INDEX_REACH_ALL);
        CHECK(bk->moved != 0 || bk->reach == 0);
    }
}

struct walk_seen {
    uint8_t count[NKEYS];
};

static void
on_walk(void *ctx, uint32_t ref, uint64_t hash)
{
    struct walk_seen *w = ctx;
    struct item *it = item_at(&sp, ref);
    CHECK(hash == item_hash(it));
    char key[16];
    CHECK(it->nkey < sizeof(key));
    memcpy(key, item_key(it), it->nkey);
    key[it->nkey] = '\0';
    unsigned k = (unsigned)strtoul(key + 1, NULL, 10);
    CHECK(k < NKEYS);
    w->count[k]++;
}

static void
walk_all(const struct index *ix, const struct model *m, unsigned step)
{
    struct walk_seen w;
    memset(&w, 0, sizeof(w));
    uint64_t cursor = 0;
    while (cursor < ((uint64_t)1 << 32)) {
        uint64_t before = cursor;
        index_walk(ix, &sp, &cursor, 1 + step % 7, on_walk, &w);
        CHECK(cursor > before || ix->n == 0);
    }
    for (unsigned k = 0; k < NKEYS; k++) {
        CHECK(w.count[k] == (m->ref[k] != 0));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (sp.base == NULL) {
        hash_setup(7);
        sp.base = aligned_alloc(64, SPACE);
        sp.shift = 3;
    }
    used = 8;
    struct index ix;
    index_init(&ix);
    struct model m;
    memset(&m, 0, sizeof(m));
    for (size_t p = 0; p + 1 < size; p += 2) {
        unsigned op = data[p] % 6, k = data[p + 1] % NKEYS;
        struct index_pos pos;
        switch (op) {
        case 0:
        case 1: /* insert, or replace the ref (a new version of the key) */
            if (m.ref[k] == 0) {
                uint32_t ref = make_item(k);
                if (ref != 0 && index_insert(&ix, &sp, hash_of(k), ref) == 0) {
                    m.ref[k] = ref;
                    m.n++;
                }
            } else {
                uint32_t ref = make_item(k);
                if (ref != 0) {
                    CHECK(lookup(&ix, k, &pos) == m.ref[k]);
                    index_set(&ix, pos, ref);
                    m.ref[k] = ref;
                }
            }
            break;
        case 2: /* delete */
            if (m.ref[k] != 0) {
                CHECK(lookup(&ix, k, &pos) == m.ref[k]);
                index_remove(&ix, pos, hash_of(k));
                m.ref[k] = 0;
                m.n--;
            } else {
                CHECK(lookup(&ix, k, &pos) == 0);
            }
            break;
        case 3: /* evict: found by ref, as compaction finds it */
            if (m.ref[k] != 0) {
                pos = index_find_ref(&ix, hash_of(k), m.ref[k]);
                CHECK(index_ref_at(&ix, pos) == m.ref[k]);
                index_remove(&ix, pos, hash_of(k));
                m.ref[k] = 0;
                m.n--;
            }
            break;
        case 4: /* resize to any size that holds the keys */
        {
            uint32_t n = 1 + (m.n + INDEX_SLOTS - 1) / INDEX_SLOTS + data[p + 1] % 40;
            CHECK(index_resize(&ix, &sp, n) == 0);
            break;
        }
        case 5:
            walk_all(&ix, &m, data[p + 1]);
            break;
        }
        /* the key touched at once, everything now and then */
        struct index_pos kp;
        CHECK(lookup(&ix, k, &kp) == m.ref[k]);
        if (p % 64 == 0) {
            check_all(&ix, &m);
        }
    }
    check_all(&ix, &m);
    index_fini(&ix);
    return 0;
}
