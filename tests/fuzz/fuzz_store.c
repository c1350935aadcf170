// layer: store
/*
 * Fuzz target for the store's allocator and eviction (store/seg.c,
 * store/evict.c) through its API: random sets of small and large values,
 * adds, appends, deletes, gets, incrs, touches, MSETs, flushes and
 * maintenance passes into a store of 2 MiB, so segments fill, are sealed,
 * compacted, freed and reused all the time. A model keeps each key's last
 * value. Invariants: a read returns the model's value or nothing (an
 * eviction), never another value or a torn one; a key deleted, flushed or
 * never stored reads as absent; a store just made reads back at once;
 * memory held never passes the limit; MSET is all or nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stashd/store/store.h"
#include "stashd/util/clock.h"
#include "stashd/util/hash.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define NKEYS 48
#define SMALL_MAX 1024      /* values the model keeps byte for byte */
#define BIG_UNIT (4 * 1024) /* big values: a run of one byte, up to 255 units */
#define LIMIT (2u << 20)

enum kstate { ABSENT, SMALL, BIG, UNKNOWN };

struct kmodel {
    enum kstate st;
    uint32_t len;
    uint8_t fill; /* BIG: the byte */
    uint8_t val[SMALL_MAX];
};

static struct kmodel model[NKEYS];
static uint8_t buf[255 * BIG_UNIT];
static uint8_t got[255 * BIG_UNIT];
static uint32_t got_len;
static int got_hit;

static void
key_of(struct store_key *k, char *kb, unsigned i)
{
    size_t n = 0;
    kb[n++] = 'k';
    kb[n++] = (char)('a' + i % 26);
    kb[n++] = (char)('0' + i / 26);
    store_key_init(k, kb, n);
}

static void
copy_out(void *ctx, const struct store_item_view *v)
{
    (void)ctx;
    got_hit = 1;
    got_len = v->nbytes;
    CHECK(v->nbytes <= sizeof(got));
    memcpy(got, v->value, v->nbytes);
}

/* Read key i and check it against the model; an eviction is allowed
 * unless must_hit. */
static void
verify(struct store *s, unsigned i, int must_hit)
{
    char kb[8];
    struct store_key k;
    key_of(&k, kb, i);
    got_hit = 0;
    enum store_rc rc = store_get(s, &k, NULL, copy_out, NULL, NULL);
    CHECK((rc == STORE_OK) == (got_hit == 1));
    struct kmodel *m = &model[i];
    if (!got_hit) {
        CHECK(!must_hit);
        m->st = ABSENT; /* evicted: cannot come back */
        return;
    }
    switch (m->st) {
    case ABSENT:
        CHECK(0);
        break;
    case SMALL:
        CHECK(got_len == m->len && memcmp(got, m->val, m->len) == 0);
        break;
    case BIG:
        CHECK(got_len == m->len);
        for (uint32_t j = 0; j < got_len; j++) {
            CHECK(got[j] == m->fill);
        }
        break;
    case UNKNOWN:
        break;
    }
}

static void
make_value(uint8_t arg, uint32_t *len, int *big, uint8_t *fill)
{
    *big = arg >= 224;
    *fill = (uint8_t)(arg * 31 + 7);
    if (*big) {
        *len = (uint32_t)(arg - 223) * 8 * BIG_UNIT; /* 32 KiB .. 1 MiB (some never fit) */
        if (*len > sizeof(buf)) {
            *len = sizeof(buf);
        }
        memset(buf, *fill, *len);
    } else {
        *len = (uint32_t)arg * 4 % SMALL_MAX;
        for (uint32_t j = 0; j < *len; j++) {
            buf[j] = (uint8_t)(*fill + j);
        }
    }
}

static void
record(unsigned i, uint32_t len, int big, uint8_t fill)
{
    struct kmodel *m = &model[i];
    m->len = len;
    m->fill = fill;
    m->st = big ? BIG : SMALL;
    if (!big) {
        memcpy(m->val, buf, len);
    }
}

static void
do_set(struct store *s, unsigned i, uint8_t arg, enum store_mode mode)
{
    char kb[8];
    struct store_key k;
    key_of(&k, kb, i);
    uint32_t len;
    int big;
    uint8_t fill;
    make_value(arg, &len, &big, &fill);
    struct store_set_req r = {.mode = mode, .value = (const char *)buf, .nbytes = len};
    enum store_rc rc = store_set(s, &k, &r, NULL);
    struct kmodel *m = &model[i];
    if (mode == STORE_MODE_ADD && rc == STORE_NOT_STORED) {
        CHECK(m->st != ABSENT);
        return;
    }
    if (mode == STORE_MODE_APPEND) {
        if (rc == STORE_NOT_STORED) {
            m->st = m->st == ABSENT ? ABSENT : UNKNOWN; /* evicted, or too large */
            return;
        }
        CHECK(m->st != ABSENT);
        if (rc != STORE_OK) {
            CHECK(rc == STORE_NO_MEMORY);
            return;
        }
        if (m->st == SMALL && m->len + len <= SMALL_MAX && !big) {
            memcpy(m->val + m->len, buf, len);
            m->len += len;
        } else {
            m->st = UNKNOWN;
        }
        verify(s, i, 1);
        return;
    }
    if (rc == STORE_TOO_LARGE || rc == STORE_NO_MEMORY) {
        CHECK(big); /* small values always find room */
        return;     /* the old value, if any, is untouched */
    }
    CHECK(rc == STORE_OK);
    record(i, len, big, fill);
    verify(s, i, 1);
}

struct mset_ctx {
    unsigned keys[4];
    char kb[4][8];
    uint8_t fill;
};

static void
mset_pair(void *ctx, size_t i, struct store_key *k, struct store_set_req *r)
{
    struct mset_ctx *c = ctx;
    key_of(k, c->kb[i], c->keys[i]);
    r->value = (const char *)buf;
    r->nbytes = 16;
}

static void
do_mset(struct store *s, const uint8_t *a, int nx)
{
    struct mset_ctx c;
    for (int j = 0; j < 4; j++) {
        c.keys[j] = a[j] % NKEYS;
    }
    memset(buf, a[0], 16);
    int any_live = 0;
    for (int j = 0; j < 4; j++) {
        verify(s, c.keys[j], 0); /* learn which are still there */
        any_live |= model[c.keys[j]].st != ABSENT;
    }
    enum store_rc rc = store_set_many(s, 4, mset_pair, &c, nx != 0);
    if (nx && any_live) {
        CHECK(rc == STORE_NOT_STORED);
        return;
    }
    CHECK(rc == STORE_OK);
    for (int j = 0; j < 4; j++) {
        record(c.keys[j], 16, 0, a[0]);
        memset(model[c.keys[j]].val, a[0], 16);
    }
    for (int j = 0; j < 4; j++) {
        verify(s, c.keys[j], 1);
    }
}

static void
do_delete(struct store *s, unsigned i)
{
    char kb[8];
    struct store_key k;
    key_of(&k, kb, i);
    enum store_rc rc = store_delete(s, &k, 0);
    CHECK(rc == STORE_OK || rc == STORE_NOT_FOUND);
    CHECK(rc == STORE_NOT_FOUND || model[i].st != ABSENT);
    model[i].st = ABSENT;
    verify(s, i, 0);
}

static void
do_touch(struct store *s, unsigned i, uint8_t arg)
{
    char kb[8];
    struct store_key k;
    key_of(&k, kb, i);
    /* a far expiry, or none: the value must survive the copy a touch makes */
    enum store_rc rc = store_touch(s, &k, arg & 1 ? clock_now() + 1000 : 0);
    CHECK(rc == STORE_OK || model[i].st != ABSENT || rc == STORE_NOT_FOUND);
    CHECK(rc != STORE_OK || model[i].st != ABSENT);
    verify(s, i, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int setup_done;
    if (!setup_done) {
        clock_setup();
        hash_setup(11);
        setup_done = 1;
    }
    struct store_config cfg = {
        .memory_limit = LIMIT,
        .max_item_size = 512 * 1024,
        .growth_factor = 1.25,
        .slab_min_size = 48,
        .shards = 4,
        .threads = 2,
        .evictions = true,
        .cas_enabled = true,
    };
    struct store *s = NULL;
    CHECK(store_create(&s, &cfg) == 0);
    memset(model, 0, sizeof(model));
    for (size_t p = 0; p + 5 < size; p += 6) {
        const uint8_t *a = data + p;
        unsigned i = a[1] % NKEYS;
        switch (a[0] % 12) {
        case 0:
        case 1:
        case 2:
            do_set(s, i, a[2], STORE_MODE_SET);
            break;
        case 3:
            do_set(s, i, a[2], STORE_MODE_ADD);
            break;
        case 4:
            do_set(s, i, (uint8_t)(a[2] % 64), STORE_MODE_APPEND);
            break;
        case 5:
            do_delete(s, i);
            break;
        case 6:
        case 7:
            verify(s, i, 0);
            break;
        case 8:
            do_mset(s, a + 2, a[0] & 0x10);
            break;
        case 9:
            do_touch(s, i, a[2]);
            break;
        case 10:
            if (a[2] < 8) {
                store_flush(s, 0);
                for (unsigned j = 0; j < NKEYS; j++) {
                    model[j].st = ABSENT;
                }
            } else {
                store_maintain(s);
            }
            break;
        case 11: {
            struct store_stats st;
            store_get_stats(s, &st);
            CHECK(st.total_malloced <= st.limit_maxbytes);
            break;
        }
        }
    }
    for (unsigned j = 0; j < NKEYS; j++) {
        verify(s, j, 0);
    }
    store_destroy(&s);
    return 0;
}
