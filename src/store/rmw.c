/*
 * rmw: stores that read the old item to write the new one, under one
 * shard lock: append/prepend, SET KEEPTTL and meta's stale set
 * (store_set_with_old), incr/decr (store_arith), and Redis's general
 * read-modify-write (store_update).
 *
 * Each decides under the lock how large a new item it needs and takes
 * it from its head's room; when there is not enough it drops the lock,
 * allocates ahead (struct room, store_int.h) and starts over. An old
 * item's memory may be reused once it is replaced or unlinked (eviction
 * compacts dead items away), so everything read from it, the caller's
 * commit included, happens before that.
 */
#include <errno.h>
#include <string.h>

#include "stashd/mem/sizeclass.h"
#include "stashd/util/clock.h"
#include "stashd/util/num.h"
#include "store/store_int.h"

/* Values longer than this are not numbers to incr/decr (memcached's
 * chunked items). */
#define ARITH_MAX_VALUE SIZECLASS_CHUNK_MAX

/* An operation's outcome while it still needs memory it could not take
 * under the lock: *span says how much. */
#define NEED_ROOM (-1)
/* Room made before the first look, so that small writes rarely have to
 * drop the lock and decide again. */
#define ROOM_GUESS 256

/* One try of an operation under the key's shard lock: a store_rc, or
 * NEED_ROOM with *span when it needs more room than rm has. */
typedef int (*rmw_try_fn)(struct store *s, struct shard *sh, struct room *rm, void *args,
                          uint32_t now, uint64_t *span);

/*
 * Run try under k's shard lock until it needs no more room: when it does,
 * drop the lock, allocate ahead (which may evict) and try again, a few
 * times at most. The head is taken, with some room, before the first try.
 */
static enum store_rc
rmw_run(struct store *s, const struct store_key *k, rmw_try_fn try, void *args)
{
    uint32_t now = clock_now();
    struct room rm = {.h = seg_head_acquire(&s->segs)};
    seg_reserve(s, rm.h, ROOM_GUESS);
    int rc = STORE_NO_MEMORY;
    for (unsigned attempt = 0; attempt < STORE_RETRIES; attempt++) {
        struct shard *sh = store_lock_key(s, k, now);
        uint64_t span = 0;
        rc = try(s, sh, &rm, args, now, &span);
        shard_unlock(sh);
        if (rc != NEED_ROOM) {
            break;
        }
        rc = STORE_NO_MEMORY;
        if (!room_make(s, &rm, span)) {
            break;
        }
    }
    room_drop(s, &rm);
    seg_head_release(&s->segs, rm.h);
    return (enum store_rc)rc;
}

static uint64_t
span_for(const struct store *s, const struct item_fields *f, size_t nkey, uint64_t nbytes)
{
    return item_span_of(&s->segs.sp, item_size_of(item_layout_for(f, nbytes), nkey, nbytes));
}

/* --- append, prepend, KEEPTTL, stale sets ------------------------------------ */

/* The new item's fields and state bits, from the request and old. */
static struct item_fields
fields_with_old(const struct store_key *k, const struct store_set_req *r, const struct item *old,
                unsigned *state)
{
    struct item_fields f = {.flags = r->flags, .exptime = r->exptime, .db = k->db};
    *state = r->key_binary ? ITEM_KEY_BINARY : 0;
    if (r->mode == STORE_MODE_APPEND || r->mode == STORE_MODE_PREPEND) {
        f = item_fields_of(old); /* they keep flags, expiry and database */
        return f;
    }
    if (r->expire_ms != 0) {
        expiry_to_fields(expiry_of_ms(r->expire_ms), &f);
    }
    if (r->keep_ttl) {
        expiry_to_fields(old != NULL ? expiry_of_item(old) : (struct expiry){.sec = 0}, &f);
    }
    if (r->stale_ok && old != NULL && r->mode == STORE_MODE_CAS) {
        /* ms I with an older cas: stored stale, keeping the old expiry
         * and win state (a matching cas is an ordinary cas store). */
        expiry_to_fields(expiry_of_item(old), &f);
        *state |= ITEM_STALE | (item_state_load(old) & ITEM_WIN_SENT);
    }
    return f;
}

/* One try under the lock; NEED_ROOM with *span when rm has no room. */
static int
set_with_old_once(struct store *s, struct shard *sh, struct room *rm, const struct store_key *k,
                  const struct store_set_req *r, uint32_t now, uint64_t *span, uint64_t *cas_out)
{
    struct index_pos pos;
    enum item_state why;
    struct item *old = shard_find(s, sh, k, now, &pos, &why);
    enum store_rc rc = store_check_set(s, sh, old, r);
    if (rc != STORE_OK) {
        return rc;
    }
    bool stale = r->stale_ok && old != NULL && r->mode == STORE_MODE_CAS &&
                 r->cas != visible_cas(s, sh, old);
    bool join = r->mode == STORE_MODE_APPEND || r->mode == STORE_MODE_PREPEND;
    uint64_t nbytes = r->nbytes + (join ? item_nbytes(old) : 0);
    if (join && !store_fits(s, k->len, nbytes)) {
        return STORE_NOT_STORED; /* as memcached, when the joined item is too large */
    }
    unsigned state;
    struct item_fields f = fields_with_old(k, r, old, &state);
    if (!stale) {
        state &= ~(unsigned)(ITEM_STALE | ITEM_WIN_SENT);
    }
    *span = span_for(s, &f, k->len, nbytes);
    uint32_t ref = room_take(s, rm, *span);
    if (ref == 0) {
        return NEED_ROOM;
    }
    struct item *it = item_at(&s->segs.sp, ref);
    char *v = item_init(it, k->data, (uint8_t)k->len, (uint32_t)nbytes, &f, now);
    /* (r->value may be NULL for an empty value) */
    uint32_t at = r->mode == STORE_MODE_APPEND ? item_nbytes(old) : 0;
    if (r->nbytes != 0) {
        memcpy(v + at, r->value, r->nbytes);
    }
    if (join) {
        memcpy(v + (r->mode == STORE_MODE_PREPEND ? r->nbytes : 0), item_value(old),
               item_nbytes(old));
    }
    it->state = (uint8_t)state;
    if (old != NULL) {
        shard_replace(s, sh, rm->h, pos, old, it, false);
    } else if (shard_link(s, sh, rm->h, it, k->hash) != 0) {
        seg_unalloc(&s->segs, rm->h, ref, *span);
        return STORE_NO_MEMORY;
    }
    if (cas_out != NULL) {
        *cas_out = visible_cas(s, sh, it);
    }
    return STORE_OK;
}

struct set_args {
    const struct store_key *k;
    const struct store_set_req *r;
    uint64_t *cas_out;
};

static int
set_with_old_try(struct store *s, struct shard *sh, struct room *rm, void *args, uint32_t now,
                 uint64_t *span)
{
    struct set_args *a = args;
    return set_with_old_once(s, sh, rm, a->k, a->r, now, span, a->cas_out);
}

enum store_rc
store_set_with_old(struct store *s, const struct store_key *k, const struct store_set_req *r,
                   uint64_t *cas_out)
{
    struct set_args a = {.k = k, .r = r, .cas_out = cas_out};
    return rmw_run(s, k, set_with_old_try, &a);
}

/* --- incr/decr ---------------------------------------------------------------- */

static inline bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/*
 * memcached's safe_strtoull over a value that is not NUL-terminated:
 * strtoull(10) rules (leading whitespace, an optional sign, digits, no
 * overflow), then the number must end the value or be followed by
 * whitespace; a value that only parses through a '-' to 2^63 or more is
 * refused (as memcached does for "-1").
 */
static bool
parse_counter(const char *p, size_t n, uint64_t *out)
{
    size_t i = 0;
    while (i < n && is_space(p[i])) {
        i++;
    }
    bool neg = false;
    if (i < n && (p[i] == '+' || p[i] == '-')) {
        neg = p[i] == '-';
        i++;
    }
    size_t start = i;
    uint64_t v = 0;
    bool overflow = false;
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            overflow = true;
        } else {
            v = v * 10 + d;
        }
    }
    if (i == start || overflow || (i < n && !is_space(p[i]))) {
        return false;
    }
    if (neg) {
        v = (uint64_t)0 - v;
    }
    if ((int64_t)v < 0 && memchr(p, '-', n) != NULL) {
        return false;
    }
    *out = v;
    return true;
}

/* Link a new item for a missing key (binary incr/decr with initial). */
static int
arith_create(struct store *s, struct shard *sh, struct room *rm, const struct store_key *k,
             const struct store_arith_req *r, uint32_t now, uint64_t *value_out, uint64_t *cas_out,
             uint64_t *span)
{
    char buf[24];
    size_t len = num_u64_to_dec(r->initial, buf);
    struct item_fields f = {.exptime = r->exptime, .db = k->db};
    *span = span_for(s, &f, k->len, len);
    uint32_t ref = room_take(s, rm, *span);
    if (ref == 0) {
        return NEED_ROOM;
    }
    struct item *it = item_at(&s->segs.sp, ref);
    memcpy(item_init(it, k->data, (uint8_t)k->len, (uint32_t)len, &f, now), buf, len);
    if (shard_link(s, sh, rm->h, it, k->hash) != 0) {
        seg_unalloc(&s->segs, rm->h, ref, *span);
        return STORE_NO_MEMORY;
    }
    if (r->created_out != NULL) {
        *r->created_out = true;
    }
    if (r->exptime_out != NULL) {
        *r->exptime_out = 0;
    }
    *value_out = r->initial;
    *cas_out = visible_cas(s, sh, it);
    return STORE_OK;
}

/*
 * Write an arith result: in place when the digits fit the old value
 * (padded with spaces, as memcached does) and the expiry fits the
 * header, else as a new item that replaces it.
 */
static int
arith_write(struct store *s, struct shard *sh, struct room *rm, const struct store_key *k,
            struct index_pos pos, struct item *it, const struct item_fields *f, uint64_t value,
            uint32_t now, uint64_t *cas_out, uint64_t *span)
{
    char buf[24];
    size_t len = num_u64_to_dec(value, buf);
    uint32_t nbytes = item_nbytes(it);
    struct expiry e = {.sec = f->exptime, .ms = f->ms, .ms_form = f->exp_ms};
    if (len <= nbytes &&
        (f->exptime == item_exptime(it) || store_set_expiry(s, sh, NULL, pos, &it, e) == 0)) {
        memcpy(item_value(it), buf, len);
        memset(item_value(it) + len, ' ', nbytes - len);
        shard_stamp(sh, it);
        shard_accessed(it, now);
        *cas_out = visible_cas(s, sh, it);
        return STORE_OK;
    }
    *span = span_for(s, f, k->len, len);
    uint32_t ref = room_take(s, rm, *span);
    if (ref == 0) {
        return NEED_ROOM;
    }
    struct item *n = item_at(&s->segs.sp, ref);
    memcpy(item_init(n, k->data, (uint8_t)k->len, (uint32_t)len, f, now), buf, len);
    shard_replace(s, sh, rm->h, pos, it, n, false);
    *cas_out = visible_cas(s, sh, n);
    return STORE_OK;
}

static int
arith_once(struct store *s, struct shard *sh, struct room *rm, const struct store_key *k,
           const struct store_arith_req *r, uint32_t now, uint64_t *value_out, uint64_t *cas_out,
           uint64_t *span)
{
    struct index_pos pos;
    enum item_state why;
    struct item *it = shard_find(s, sh, k, now, &pos, &why);
    if (it == NULL) {
        if (!r->create) {
            return STORE_NOT_FOUND;
        }
        return arith_create(s, sh, rm, k, r, now, value_out, cas_out, span);
    }
    /* memcached's order: not a number-sized value, then cas, then parse.
     * Another type than string holds no number. */
    uint32_t nbytes = item_nbytes(it);
    if (nbytes == 0 || nbytes > ARITH_MAX_VALUE || !item_is_string(it)) {
        return STORE_NON_NUMERIC;
    }
    if (r->cas != 0 && r->cas != visible_cas(s, sh, it)) {
        return STORE_EXISTS;
    }
    uint64_t value;
    if (!parse_counter(item_value(it), nbytes, &value)) {
        return STORE_NON_NUMERIC;
    }
    if (r->incr) {
        value += r->delta; /* wraps at 2^64 */
    } else {
        value = r->delta > value ? 0 : value - r->delta;
    }
    struct item_fields f = item_fields_of(it);
    uint32_t was = f.exptime;
    if (r->touch) {
        /* meta ma T: the new expiry, carried into what is written */
        expiry_to_fields((struct expiry){.sec = r->touch_exptime}, &f);
    }
    int rc = arith_write(s, sh, rm, k, pos, it, &f, value, now, cas_out, span);
    if (rc == STORE_OK) {
        *value_out = value;
        if (r->created_out != NULL) {
            *r->created_out = false;
        }
        if (r->exptime_out != NULL) {
            *r->exptime_out = was;
        }
    }
    return rc;
}

struct arith_args {
    const struct store_key *k;
    const struct store_arith_req *r;
    uint64_t *value_out, *cas_out;
};

static int
arith_try(struct store *s, struct shard *sh, struct room *rm, void *args, uint32_t now,
          uint64_t *span)
{
    struct arith_args *a = args;
    return arith_once(s, sh, rm, a->k, a->r, now, a->value_out, a->cas_out, span);
}

enum store_rc
store_arith(struct store *s, const struct store_key *k, const struct store_arith_req *r,
            uint64_t *value_out, uint64_t *cas_out)
{
    uint64_t value_sink, cas_sink;
    value_out = value_out != NULL ? value_out : &value_sink;
    cas_out = cas_out != NULL ? cas_out : &cas_sink;
    if (!key_ok(k)) {
        return STORE_NOT_FOUND;
    }
    struct arith_args a = {.k = k, .r = r, .value_out = value_out, .cas_out = cas_out};
    return rmw_run(s, k, arith_try, &a);
}

/* --- read-modify-write (Redis) -------------------------------------------------- */

/* The fields of an update's new value. */
static struct item_fields
update_fields(const struct store_key *k, const struct store_update *u, const struct item *old)
{
    struct item_fields f = {.flags = u->flags, .db = k->db, .type = u->type};
    struct expiry e = {.sec = 0};
    if (u->keep_expiry) {
        if (old != NULL) {
            e = expiry_of_item(old);
        }
    } else {
        e = expiry_of_ms(u->expire_ms);
    }
    expiry_to_fields(e, &f);
    return f;
}

/* Can old take fields f and a value of its own length and type in place? */
static bool
rewrite_in_place(const struct item *old, const struct item_fields *f, uint32_t nbytes)
{
    unsigned want = item_layout_for(f, nbytes);
    unsigned have = old->layout;
    unsigned same = ITEM_VLEN_MASK | ITEM_TYPE_MASK;
    /* Every field the new value needs is there (a present one may be 0). */
    return item_nbytes(old) == nbytes && (want & ~have & ~same) == 0 &&
           (have & same) == (want & same);
}

/* Carry out a WRITE in place: old keeps its slot, gets the new value,
 * flags and expiry, and a new cas (readers copy under the lock, so none
 * sees it half done). */
static void
update_in_place(struct store *s, struct shard *sh, struct index_pos pos, struct item *old,
                const struct store_item_view *ov, const struct store_update *u,
                const struct item_fields *f, store_commit_fn commit, void *ctx, uint32_t now)
{
    if (commit != NULL) {
        commit(ctx, ov, u->value != NULL ? NULL : item_value(old));
    }
    if (u->value != NULL && u->nbytes != 0) {
        memmove(item_value(old), u->value, u->nbytes);
    }
    if (old->layout & ITEM_HAS_FLAGS) {
        item_put32(old, item_off_flags(old), f->flags);
    }
    struct expiry e = {.sec = f->exptime, .ms = f->ms, .ms_form = f->exp_ms};
    store_set_expiry(s, sh, NULL, pos, &old, e); /* in place: cannot fail */
    item_state_set(old, 0, ITEM_META_BITS);      /* a new value: no meta state (store.h) */
    shard_stamp(sh, old);
    shard_accessed(old, now);
}

/* Carry out a WRITE into a new item; NEED_ROOM with *span when rm has
 * no room (commit not called yet). */
static int
update_write(struct store *s, struct shard *sh, struct room *rm, const struct store_key *k,
             struct index_pos pos, struct item *old, const struct store_item_view *ov,
             const struct store_update *u, const struct item_fields *f, store_commit_fn commit,
             void *ctx, uint32_t now, uint64_t *span)
{
    *span = span_for(s, f, k->len, u->nbytes);
    uint32_t ref = room_take(s, rm, *span);
    if (ref == 0) {
        return NEED_ROOM;
    }
    struct item *it = item_at(&s->segs.sp, ref);
    char *v = item_init(it, k->data, (uint8_t)k->len, u->nbytes, f, now);
    if (u->value != NULL && u->nbytes != 0) {
        memcpy(v, u->value, u->nbytes);
    }
    if (commit != NULL) {
        commit(ctx, ov, u->value != NULL ? NULL : v);
    }
    if (old != NULL) {
        shard_replace(s, sh, rm->h, pos, old, it, false);
    } else if (shard_link(s, sh, rm->h, it, k->hash) != 0) {
        seg_unalloc(&s->segs, rm->h, ref, *span);
        return STORE_NO_MEMORY;
    }
    return STORE_OK;
}

/* EXPIRE: a new expiry for old, copying it if its header lacks room. */
static int
update_expire(struct store *s, struct shard *sh, struct room *rm, struct index_pos pos,
              struct item *old, const struct store_item_view *ov, const struct store_update *u,
              store_commit_fn commit, void *ctx, uint64_t *span)
{
    struct expiry e = expiry_of_ms(u->expire_ms);
    *span = store_expiry_span(s, old, e);
    bool copy = store_set_expiry(s, sh, NULL, pos, &old, e) != 0;
    if (copy) {
        /* Take the room first, so commit runs once, on success. */
        uint32_t ref = room_take(s, rm, *span);
        if (ref == 0) {
            return NEED_ROOM;
        }
        rm->ref = ref;
        rm->span = *span;
        if (commit != NULL) {
            commit(ctx, ov, NULL);
        }
        store_set_expiry(s, sh, rm, pos, &old, e);
        return STORE_OK;
    }
    if (commit != NULL) {
        commit(ctx, ov, NULL);
    }
    return STORE_OK;
}

/* One decision and its execution; NEED_ROOM asks for another decide. */
static int
update_once(struct store *s, struct shard *sh, struct room *rm, const struct store_key *k,
            store_decide_fn decide, store_commit_fn commit, void *ctx, uint32_t now, uint64_t *span)
{
    struct index_pos pos;
    enum item_state why;
    struct item *old = shard_find(s, sh, k, now, &pos, &why);
    struct store_item_view ov;
    const struct store_item_view *ovp = NULL;
    if (old != NULL) {
        store_view(s, sh, old, &ov, 0);
        ovp = &ov;
    }
    struct store_update u;
    memset(&u, 0, sizeof(u));
    decide(ctx, ovp, &u);
    bool expired = !u.keep_expiry && u.expire_ms != 0 && expiry_passed(u.expire_ms);
    switch (u.op) {
    case STORE_UPDATE_WRITE:
        if (!store_fits(s, k->len, u.nbytes)) {
            return STORE_TOO_LARGE;
        }
        if (!expired) {
            struct item_fields f = update_fields(k, &u, old);
            if (old != NULL && !u.new_item && rewrite_in_place(old, &f, u.nbytes)) {
                update_in_place(s, sh, pos, old, ovp, &u, &f, commit, ctx, now);
                return STORE_OK;
            }
            return update_write(s, sh, rm, k, pos, old, ovp, &u, &f, commit, ctx, now, span);
        }
        break; /* stored and expired at once: the key goes */
    case STORE_UPDATE_EXPIRE:
        if (old != NULL && !expired) {
            return update_expire(s, sh, rm, pos, old, ovp, &u, commit, ctx, span);
        }
        break;
    case STORE_UPDATE_DELETE:
        expired = true;
        break;
    case STORE_UPDATE_NONE:
    default:
        if (commit != NULL) {
            commit(ctx, ovp, NULL);
        }
        if (old != NULL) {
            shard_accessed(old, now);
        }
        return STORE_OK;
    }
    /* The key goes (or was absent): commit first, while old is whole. */
    if (commit != NULL) {
        commit(ctx, ovp, NULL);
    }
    if (old != NULL && expired) {
        shard_unlink(s, sh, pos, old, k->hash);
    }
    return STORE_OK;
}

struct update_args {
    const struct store_key *k;
    store_decide_fn decide;
    store_commit_fn commit;
    void *ctx;
};

static int
update_try(struct store *s, struct shard *sh, struct room *rm, void *args, uint32_t now,
           uint64_t *span)
{
    struct update_args *a = args;
    return update_once(s, sh, rm, a->k, a->decide, a->commit, a->ctx, now, span);
}

enum store_rc
store_update(struct store *s, const struct store_key *k, store_decide_fn decide,
             store_commit_fn commit, void *ctx)
{
    if (!key_ok(k)) {
        struct store_update u;
        memset(&u, 0, sizeof(u));
        decide(ctx, NULL, &u);
        if (u.op == STORE_UPDATE_WRITE) {
            return STORE_TOO_LARGE;
        }
        if (commit != NULL) {
            commit(ctx, NULL, NULL);
        }
        return STORE_OK;
    }
    struct update_args a = {.k = k, .decide = decide, .commit = commit, .ctx = ctx};
    return rmw_run(s, k, update_try, &a);
}
