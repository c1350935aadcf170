/*
 * tx: transactions (store_tx, for Redis's EXEC) and key versions (for
 * WATCH).
 *
 * A transaction takes, in this order: a head (every store call it makes
 * writes through it), room for the writes it announced, the flush lock
 * when it takes every shard, then its shards in ascending index order,
 * each marked SHARD_TX. While fn runs, the thread's tx_cur says which
 * shards it holds: the store calls fn makes find their shard's lock in
 * SHARD_TX and go on without taking it (shard_lock_slow), and their
 * unlocks leave it (shard_unlock); seg_head_acquire hands them the
 * transaction's head and seg_head_release leaves it. So the store's
 * ordinary code runs unchanged inside, and the lock order holds: head,
 * flush lock, shards in order, segment lock.
 *
 * What fn's stores cannot do is evict: eviction takes the shard of each
 * item it moves or drops, and another thread's transaction (or MSET) may
 * hold that shard while waiting for one of ours. So evict.c takes no
 * victim while a transaction runs on the thread: room comes from what was
 * reserved before the locks, or from free segments, else the store fails
 * with STORE_NO_MEMORY (Redis's OOM error for that command).
 */
#include <assert.h>
#include <stdlib.h>

#include "stashd/util/clock.h"
#include "store/store_int.h"

/* Shard lists of up to this many keys live on the stack. */
#define TX_STACK 64

struct tx {
    struct store *s;
    struct head *h;
    const uint32_t *idx; /* shards held, ascending; unused with all */
    size_t n;
    bool all;
};

/* The transaction running on this thread, or NULL. Only its thread
 * reads or writes it. */
static _Thread_local const struct tx *tx_cur;

bool
tx_running(void)
{
    return tx_cur != NULL;
}

bool
tx_holds(const struct shard *sh)
{
    const struct tx *t = tx_cur;
    if (t == NULL || sh < t->s->shards || sh >= t->s->shards + t->s->nshards) {
        return false;
    }
    if (t->all) {
        return true;
    }
    uint32_t i = (uint32_t)(sh - t->s->shards);
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t->idx[mid] < i) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < t->n && t->idx[lo] == i;
}

struct head *
tx_head_for(const struct segs *sg)
{
    const struct tx *t = tx_cur;
    return t != NULL && &t->s->segs == sg ? t->h : NULL;
}

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The keys' shards into idx (room for n), sorted, repeats dropped. */
static size_t
shards_of(const struct store *s, const struct store_key *keys, size_t n, uint32_t *idx)
{
    for (size_t i = 0; i < n; i++) {
        idx[i] = shard_index(s, shard_of(s, keys[i].hash));
    }
    qsort(idx, n, sizeof(*idx), cmp_u32);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (w == 0 || idx[w - 1] != idx[i]) {
            idx[w++] = idx[i];
        }
    }
    return w;
}

static void
take(struct store *s, struct shard *sh, uint32_t now)
{
    shard_lock(sh);
    atomic_store_explicit(&sh->lock, SHARD_TX, memory_order_relaxed); /* ours: no other writer */
    shard_sync_flush(s, sh, now);
}

static void
give(struct shard *sh)
{
    atomic_store_explicit(&sh->lock, SHARD_FREE, memory_order_release);
}

enum store_rc
store_tx(struct store *s, const struct store_tx_req *r, store_tx_fn fn, void *ctx)
{
    assert(tx_cur == NULL); /* transactions do not nest */
    uint32_t stack[TX_STACK];
    uint32_t *idx = stack;
    struct tx t = {.s = s, .all = r->all};
    if (!r->all) {
        if (r->nkeys > TX_STACK) {
            idx = malloc(r->nkeys * sizeof(*idx));
            if (idx == NULL) {
                return STORE_NO_MEMORY;
            }
        }
        t.n = shards_of(s, r->keys, r->nkeys, idx);
        t.idx = idx;
    }
    struct segs *sg = &s->segs;
    t.h = seg_head_acquire(sg);
    if (r->reserve != 0) {
        /* No shard held yet: this may evict. A shortfall shows later as
         * STORE_NO_MEMORY for the writes that find no room. */
        uint64_t most = sg->seg_size - ((uint64_t)1 << sg->sp.shift);
        uint64_t want = item_span_of(&sg->sp, r->reserve);
        seg_reserve(s, t.h, want < most ? want : most);
    }
    uint32_t now = clock_now();
    if (r->all) {
        pthread_mutex_lock(&s->flush_lock); /* store_flush's, taken before shards */
        for (uint32_t i = 0; i < s->nshards; i++) {
            take(s, &s->shards[i], now);
        }
    } else {
        for (size_t i = 0; i < t.n; i++) {
            take(s, &s->shards[idx[i]], now);
        }
    }
    tx_cur = &t;
    fn(ctx);
    tx_cur = NULL;
    if (r->all) {
        for (uint32_t i = s->nshards; i-- > 0;) {
            give(&s->shards[i]);
        }
        pthread_mutex_unlock(&s->flush_lock);
    } else {
        for (size_t i = t.n; i-- > 0;) {
            give(&s->shards[idx[i]]);
        }
    }
    seg_head_release(sg, t.h);
    if (idx != stack) {
        free(idx);
    }
    return STORE_OK;
}

void
store_key_version(struct store *s, const struct store_key *k, struct store_version *out)
{
    *out = (struct store_version){.live = false};
    if (!key_ok(k)) {
        return;
    }
    uint32_t now = clock_now();
    struct shard *sh = store_lock_key(s, k, now);
    struct index_pos pos;
    enum item_state why;
    struct item *it = shard_find(s, sh, k, now, &pos, &why);
    if (it != NULL) {
        out->live = true;
        out->seq = shard_item_seq(sh, it);
        out->expire_ms = item_exptime(it) != 0 ? expiry_unix_ms(it) : 0;
    } else {
        out->seq = sh->cas_seq;
    }
    shard_unlock(sh);
}
