// layer: mem
/*
 * Fuzz target for mem/arena: random takes (single segments and runs),
 * gives, releases, limit changes and trims, checked against a model that
 * keeps each segment's state. Invariants after every step: the arena's
 * counters match the model; a take only hands out segments that were not
 * in use, never backs new memory past the budget, prefers spare segments,
 * and fails only when the model agrees it must; memory written into a
 * used segment stays there until the segment is given back.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stashd/mem/arena.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define NSEGS 48
#define SEG ARENA_SEG_MIN

enum { FREE, SPARE, USED };

struct model {
    uint8_t state[NSEGS];
    uint8_t tag[NSEGS]; /* byte written at the start of each used segment */
    uint32_t limit_segs;
};

static uint32_t
count(const struct model *m, int st)
{
    uint32_t n = 0;
    for (int i = 0; i < NSEGS; i++) {
        n += m->state[i] == st;
    }
    return n;
}

static uint32_t
resident(const struct model *m)
{
    return count(m, SPARE) + count(m, USED);
}

static void
check_counts(const struct arena *a, const struct model *m)
{
    CHECK(arena_used_bytes(a) == (uint64_t)count(m, USED) * SEG);
    CHECK(arena_resident_bytes(a) == (uint64_t)resident(m) * SEG);
    CHECK(arena_spare(a) == count(m, SPARE));
    for (uint32_t i = 0; i < NSEGS; i++) {
        CHECK(arena_is_used(a, i) == (m->state[i] == USED));
        CHECK(arena_is_resident(a, i) == (m->state[i] != FREE));
    }
}

/* The fewest FREE segments among runs of n segments not in use, or -1. */
static int
min_run_cost(const struct model *m, uint32_t n)
{
    int best = -1;
    for (uint32_t s = 0; s + n <= NSEGS; s++) {
        int cost = 0;
        uint32_t i = s;
        for (; i < s + n && m->state[i] != USED; i++) {
            cost += m->state[i] == FREE;
        }
        if (i == s + n && (best < 0 || cost < best)) {
            best = cost;
        }
    }
    return best;
}

/* Spares the arena released to make room for a run became FREE. */
static void
sync_released(const struct arena *a, struct model *m)
{
    for (uint32_t i = 0; i < NSEGS; i++) {
        if (m->state[i] == SPARE && !arena_is_resident(a, i)) {
            m->state[i] = FREE;
        }
    }
}

static void
do_take(struct arena *a, struct model *m, uint32_t n, uint8_t tag)
{
    uint32_t before = resident(m);
    uint32_t spare = count(m, SPARE);
    uint32_t room = before >= m->limit_segs ? 0 : m->limit_segs - before;
    int cost = min_run_cost(m, n);
    uint32_t first = 0;
    int rc = arena_take(a, n, &first);
    sync_released(a, m);
    if (rc != 0) {
        if (n == 1) {
            CHECK(rc == -ENOSPC && spare == 0 && room == 0);
        } else if (rc == -ENOMEM) {
            CHECK(cost < 0);
        } else {
            CHECK(rc == -ENOSPC && cost > (int)room);
        }
        return;
    }
    CHECK(cost >= 0 && first + n <= NSEGS);
    uint32_t backed = 0;
    for (uint32_t i = first; i < first + n; i++) {
        CHECK(m->state[i] != USED);
        if (m->state[i] == FREE) {
            backed++;
            CHECK(arena_base(a)[(size_t)i * SEG] == 0); /* fresh memory reads zero */
        }
        m->state[i] = USED;
        m->tag[i] = tag;
        arena_base(a)[(size_t)i * SEG] = (char)tag;
    }
    if (n == 1 && spare > 0) {
        CHECK(backed == 0); /* spares first */
    }
    /* New memory only within the budget. */
    CHECK(backed == 0 ? resident(m) <= before : resident(m) <= m->limit_segs);
}

/* Give (or release) the used run that starts at the seg-th used segment. */
static void
do_free(struct arena *a, struct model *m, uint32_t pick, uint32_t len, bool release)
{
    uint32_t used = count(m, USED);
    if (used == 0) {
        return;
    }
    uint32_t k = pick % used, i = 0;
    for (;; i++) {
        if (m->state[i] == USED && k-- == 0) {
            break;
        }
    }
    uint32_t n = 0;
    for (; n < len && i + n < NSEGS && m->state[i + n] == USED; n++) {
        CHECK(arena_base(a)[(size_t)(i + n) * SEG] == (char)m->tag[i + n]);
        m->state[i + n] = release ? FREE : SPARE;
    }
    if (release) {
        arena_release(a, i, n);
    } else {
        arena_give(a, i, n);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    struct model m;
    memset(&m, 0, sizeof(m));
    m.limit_segs = 1 + data[0] % NSEGS;
    struct arena *a = NULL;
    CHECK(arena_create(&a, (uint64_t)m.limit_segs * SEG, SEG, NSEGS) == 0);
    for (size_t p = 1; p + 1 < size; p += 2) {
        uint8_t op = data[p], arg = data[p + 1];
        switch (op % 8) {
        case 0:
        case 1:
        case 2:
            do_take(a, &m, 1, arg);
            break;
        case 3:
            do_take(a, &m, 1 + arg % 6, arg);
            break;
        case 4:
        case 5:
            do_free(a, &m, arg, 1 + (op >> 3) % 4, false);
            break;
        case 6:
            do_free(a, &m, arg, 1 + (op >> 3) % 4, true);
            break;
        case 7:
            m.limit_segs = 1 + arg % NSEGS;
            CHECK(arena_set_limit(a, (uint64_t)m.limit_segs * SEG) == 0);
            if (op & 0x80) {
                uint32_t before = resident(&m);
                uint32_t got = arena_trim(a);
                sync_released(a, &m);
                CHECK(before - resident(&m) == got);
                CHECK(resident(&m) <= m.limit_segs || count(&m, SPARE) == 0);
            }
            break;
        }
        check_counts(a, &m);
    }
    arena_destroy(&a);
    CHECK(a == NULL);
    return 0;
}
