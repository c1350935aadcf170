/*
 * meta: memcached's meta commands (mg, md, me; see cmd/mc_meta_cmd.c):
 * several changes to one item, in the order the request names them,
 * decided under its shard lock through the store_meta_* handle.
 *
 * The state bits, the cas and an existing expiry field change in place.
 * An expiry for an item whose header has no field for it needs a copy:
 * it is written from the head's room when there is one; otherwise the
 * handle reports the new expiry at once and the copy is made right after
 * fn returns (dropping the lock to make room, and skipped if the item was
 * changed meanwhile, as if the touch had come first).
 */
#include <string.h>

#include "stashd/util/clock.h"
#include "store/store_int.h"

struct store_meta {
    struct store *s;
    struct shard *sh;
    struct item *it;
    struct index_pos pos;
    struct room *rm; /* room for copies, or NULL (no head taken) */
    struct store_item_view view;
    bool created;
    bool remove;
    bool exp_pending; /* exp_want still to be given (needs a copy) */
    uint32_t exp_want;
};

/* The STORE_META_* bits and the item state bits they stand for. */
static const struct {
    unsigned meta;
    uint8_t bit;
} meta_bits[] = {
    {STORE_META_STALE, ITEM_STALE},
    {STORE_META_WIN_SENT, ITEM_WIN_SENT},
    {STORE_META_KEY_BINARY, ITEM_KEY_BINARY},
};
#define NMETA_BITS (sizeof(meta_bits) / sizeof(meta_bits[0]))

/* Link an empty item for a missing key (mg N): no flags, no expiry, a new
 * cas. NULL when there is no room; the lock may have been dropped to make
 * it, so *found gets a live item someone stored meanwhile. */
static struct item *
vivify(struct store *s, struct shard *sh, struct room *rm, const struct store_key *k, uint32_t now,
       struct index_pos *pos, struct item **found)
{
    struct item_fields f = {.db = k->db};
    uint64_t span = item_span_of(&s->segs.sp, item_size_of(item_layout_for(&f, 0), k->len, 0));
    for (unsigned attempt = 0; attempt < STORE_RETRIES; attempt++) {
        uint32_t ref = room_take(s, rm, span);
        if (ref != 0) {
            struct item *it = item_at(&s->segs.sp, ref);
            item_init(it, k->data, (uint8_t)k->len, 0, &f, now);
            if (shard_link(s, sh, rm->h, it, k->hash) == 0) {
                return it;
            }
            seg_unalloc(&s->segs, rm->h, ref, span);
            return NULL;
        }
        shard_unlock(sh);
        bool room = room_make(s, rm, span);
        shard_lock(sh);
        shard_sync_flush(s, sh, now);
        enum item_state why;
        *found = shard_find(s, sh, k, now, pos, &why);
        if (*found != NULL || !room) {
            return NULL;
        }
    }
    return NULL;
}

/* Give the expiry fn asked for when it needed a copy and there was no
 * room then. Shard locked on entry and exit. */
static void
apply_pending_expiry(struct store_meta *m, const struct store_key *k, uint32_t now)
{
    struct store *s = m->s;
    struct room local = {0};
    struct room *rm = m->rm != NULL ? m->rm : &local;
    struct expiry e = {.sec = m->exp_want};
    uint64_t span = store_expiry_span(s, m->it, e);
    uint32_t cas_lo = m->it->cas_lo;
    shard_unlock(m->sh);
    if (rm->h == NULL) {
        rm->h = seg_head_acquire(&s->segs);
    }
    bool room = room_make(s, rm, span);
    shard_lock(m->sh);
    shard_sync_flush(s, m->sh, now);
    enum item_state why;
    struct item *it = shard_find(s, m->sh, k, now, &m->pos, &why);
    if (room && it != NULL && it->cas_lo == cas_lo) {
        store_set_expiry(s, m->sh, rm, m->pos, &it, e);
    }
    if (local.h != NULL) {
        room_drop(s, &local);
        shard_unlock(m->sh);
        seg_head_release(&s->segs, local.h);
        shard_lock(m->sh);
    }
}

enum store_rc
store_meta(struct store *s, const struct store_key *k, const struct store_meta_opts *o,
           store_meta_fn fn, void *ctx, enum store_miss *miss)
{
    enum store_miss sink;
    miss = miss != NULL ? miss : &sink;
    *miss = STORE_MISS_NONE;
    if (!key_ok(k)) {
        *miss = STORE_MISS_ABSENT;
        return STORE_NOT_FOUND;
    }
    uint32_t now = clock_now();
    bool viv = o != NULL && o->vivify;
    struct room rm = {.h = viv ? seg_head_acquire(&s->segs) : NULL};
    struct shard *sh = store_lock_key(s, k, now);
    struct store_meta m = {.s = s, .sh = sh, .rm = viv ? &rm : NULL};
    enum item_state why;
    m.it = shard_find(s, sh, k, now, &m.pos, &why);
    enum store_rc rc = STORE_OK;
    if (m.it == NULL) {
        *miss = miss_of(why);
        struct item *found = NULL;
        m.it = viv ? vivify(s, sh, &rm, k, now, &m.pos, &found) : NULL;
        m.created = m.it != NULL;
        if (m.created) {
            enum item_state w;
            m.it = shard_find(s, sh, k, now, &m.pos, &w); /* where it was linked */
        }
        if (found != NULL) {
            m.it = found;
            *miss = STORE_MISS_NONE;
        }
        rc = m.it != NULL ? STORE_OK : viv ? STORE_NO_MEMORY : STORE_NOT_FOUND;
    }
    if (m.it != NULL && !m.created && !item_is_string(m.it) && (o == NULL || !o->any_type)) {
        /* Live, but not a string: a miss, and never vivified over. */
        *miss = STORE_MISS_WRONGTYPE;
        m.it = NULL;
        rc = STORE_NOT_FOUND;
    }
    if (m.it != NULL) {
        store_view(s, sh, m.it, &m.view, 0);
        fn(ctx, &m);
        if (m.remove) {
            shard_unlink(s, sh, m.pos, m.it, k->hash);
        } else {
            if (m.exp_pending) {
                apply_pending_expiry(&m, k, now);
                enum item_state w;
                m.it = shard_find(s, sh, k, now, &m.pos, &w);
            }
            if (m.it != NULL && (o == NULL || !o->no_bump)) {
                shard_accessed(m.it, now);
            }
        }
    }
    shard_unlock(sh);
    if (rm.h != NULL) {
        room_drop(s, &rm);
        seg_head_release(&s->segs, rm.h);
    }
    return rc;
}

const struct store_item_view *
store_meta_view(const struct store_meta *m)
{
    return &m->view;
}

bool
store_meta_created(const struct store_meta *m)
{
    return m->created;
}

unsigned
store_meta_state(const struct store_meta *m)
{
    unsigned st = 0;
    unsigned bits = item_state_load(m->it);
    for (size_t i = 0; i < NMETA_BITS; i++) {
        if (bits & meta_bits[i].bit) {
            st |= meta_bits[i].meta;
        }
    }
    return st;
}

void
store_meta_set_state(struct store_meta *m, unsigned set, unsigned clear)
{
    unsigned on = 0, off = 0;
    for (size_t i = 0; i < NMETA_BITS; i++) {
        if (clear & meta_bits[i].meta) {
            off |= meta_bits[i].bit;
        }
        if (set & meta_bits[i].meta) {
            on |= meta_bits[i].bit;
        }
    }
    item_state_set(m->it, 0, off);
    item_state_set(m->it, on, 0);
}

void
store_meta_set_exptime(struct store_meta *m, uint32_t exptime)
{
    struct expiry e = {.sec = exptime};
    if (store_set_expiry(m->s, m->sh, m->rm, m->pos, &m->it, e) != 0) {
        m->exp_pending = true;
        m->exp_want = exptime;
        m->view.exptime = exptime;
        m->view.expire_ms = exptime == 0 ? 0 : ((int64_t)clock_process_started() + exptime) * 1000;
        return;
    }
    /* The item may be a copy now: the view points into it. */
    m->exp_pending = false;
    struct store_item_view before = m->view;
    store_view(m->s, m->sh, m->it, &m->view, 0);
    m->view.atime = before.atime;
    m->view.fetched = before.fetched;
}

void
store_meta_new_cas(struct store_meta *m)
{
    shard_stamp(m->sh, m->it);
    m->view.cas = visible_cas(m->s, m->sh, m->it);
}

void
store_meta_delete(struct store_meta *m)
{
    m->remove = true;
}

unsigned
store_meta_class(const struct store_meta *m)
{
    /* store_each_class numbers classes from 1, the large class last. */
    return sizeclass_of(&m->s->segs.cls, item_size(m->it)) + 1;
}

uint32_t
store_meta_size(const struct store_meta *m)
{
    return (uint32_t)item_size(m->it);
}
