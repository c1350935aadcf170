/*
 * resp_string: Redis's string commands over the shared keyspace (GET,
 * SET and its variants, MGET/MSET, APPEND, GETRANGE/SETRANGE; the INCR
 * family is in resp_incr.c). Values are the same bytes memcached clients see: a RESP write
 * stores client flags 0, and a value stored by memcached with flags reads
 * back whole (flags ignored); commands that rewrite a value in place of
 * its old one (APPEND, SETRANGE, INCR*) keep its flags and expiry.
 *
 * The hot path (GET, SET, MGET) allocates nothing: a GET copies the value
 * once, under the shard lock, straight from the item into the reply
 * buffer. Commands that read and write at once go through store_update,
 * whose decide callback computes the new value and commit callback
 * writes the reply from the old one (exactly once).
 *
 * Error texts and argument rules follow Redis 7.0's t_string.c.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd_count.h"
#include "cmd/resp_internal.h"
#include "cmd/resp_arg.h"
#include "cmd/resp_reply.h"
#include "stashd/cmd/hotkeys.h"
#include "stashd/store/store.h"
#include "stashd/util/metrics.h"
#include "stashd/util/num.h"

/* --- GET, MGET ------------------------------------------------------------------ */

/* Append "$<n>\r\n<value>\r\n" with one reservation; called under the
 * shard lock (a copy, nothing else). Inline: it is most of a GET hit's
 * reply, and the call cost ~15 instructions of it. */
static inline __attribute__((always_inline)) void
bulk_of_view(struct resp_exec *x, const char *value, size_t n)
{
    int rc = buf_reserve(x->out, 1 + 20 + 2 + n + 2, SIZE_MAX);
    if (rc != 0) {
        resp_reply_fail(x, rc);
        return;
    }
    char *start = x->out->data + x->out->wpos;
    char *p = start;
    *p++ = '$';
    p += num_u64_to_dec_fast(n, p);
    *p++ = '\r';
    *p++ = '\n';
    if (n != 0) {
        memcpy(p, value, n);
        p += n;
    }
    memcpy(p, "\r\n", 2);
    p += 2;
    x->out->wpos += (size_t)(p - start);
}

/* GET's value (under its one shard lock) and each of MGET's (under all of
 * theirs): a large one goes straight to the socket when it can
 * (session_direct, session_out_value), except inside EXEC, whose replies
 * are placed by offset into the output. */
static void
on_bulk(void *ctx, const struct store_item_view *v)
{
    struct resp_exec *x = ctx;
    if (x->in_exec || x->out != x->s->out || !session_direct(x->s, v->nbytes)) {
        bulk_of_view(x, v->value, v->nbytes);
        return;
    }
    char hdr[32];
    size_t h = 0;
    hdr[h++] = '$';
    h += num_u64_to_dec_fast(v->nbytes, hdr + h);
    hdr[h++] = '\r';
    hdr[h++] = '\n';
    int rc = buf_append(x->out, hdr, h);
    rc = rc != 0 ? rc : session_out_value(x->s, &x->call.unsent, v->value, v->nbytes);
    rc = rc != 0 ? rc : buf_append(x->out, "\r\n", 2);
    if (rc != 0) {
        resp_reply_fail(x, rc);
    }
}

static inline void
count_get(struct resp_exec *x, enum store_rc rc, enum store_miss miss)
{
    METRIC_INC(x->m, cmd_get);
    if (rc == STORE_OK) {
        METRIC_INC(x->m, get_hits);
        return;
    }
    METRIC_INC(x->m, get_misses);
    cmd_count_miss_reason(x->m, miss);
}

bool
resp_read_string(struct resp_exec *x, const struct store_key *k, store_read_fn fn, void *ctx)
{
    enum store_miss miss = STORE_MISS_NONE;
    if (store_get(x->store, k, NULL, fn, ctx, &miss) != STORE_OK && miss == STORE_MISS_WRONGTYPE) {
        resp_reply_err(x, RESP_ERR_WRONGTYPE);
        return false;
    }
    return true;
}

/* GET (and each MGET key): the value, or null. */
static void
get_one(struct resp_exec *x, struct bstr key)
{
    struct store_key k;
    resp_key(x, &k, key);
    enum store_miss miss = STORE_MISS_NONE;
    static const struct store_get_opts value_only = {.skip = STORE_VIEW_SKIP_CAS |
                                                             STORE_VIEW_SKIP_META};
    enum store_rc rc = store_get(x->store, &k, &value_only, on_bulk, x, &miss);
    hotkeys_note(x->s->hot, k.data, k.len, k.hash);
    count_get(x, rc, miss);
    if (rc == STORE_OK) {
        return;
    }
    if (miss == STORE_MISS_WRONGTYPE) {
        resp_reply_err(x, RESP_ERR_WRONGTYPE);
    } else {
        resp_reply_null(x);
    }
}

void
resp_cmd_get(struct resp_exec *x)
{
    get_one(x, x->argv[1]);
}

static void
on_mget(void *ctx, size_t i, const struct store_item_view *v, enum store_miss miss)
{
    struct resp_exec *x = ctx;
    count_get(x, v != NULL ? STORE_OK : STORE_NOT_FOUND, miss);
    if (v != NULL) {
        on_bulk(x, v); /* all its keys' shards held: each value stays put */
    } else {
        resp_reply_null(x);
    }
    (void)i;
}

/* Keys an MGET looks up from a stack array; more take one allocation. */
#define MGET_STACK_KEYS 64

/*
 * As Redis, MGET reads all its keys as one step (store_get_many): it sees
 * an MSET of other keys whole or not at all.
 */
void
resp_cmd_mget(struct resp_exec *x)
{
    size_t n = x->argc - 1;
    struct store_key stack_keys[MGET_STACK_KEYS];
    struct store_key *keys = stack_keys;
    if (n > MGET_STACK_KEYS && (keys = malloc(n * sizeof(*keys))) == NULL) {
        resp_reply_err(x, RESP_ERR_OOM);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        resp_key(x, &keys[i], x->argv[1 + i]);
        hotkeys_note(x->s->hot, keys[i].data, keys[i].len, keys[i].hash);
    }
    resp_reply_array(x, n);
    store_get_many(x->store, keys, n, on_mget, x);
    if (keys != stack_keys) {
        free(keys);
    }
}

/* --- SET and its options ------------------------------------------------------------ */

enum {
    OPT_NX = 1u << 0,
    OPT_XX = 1u << 1,
    OPT_GET = 1u << 2,
    OPT_KEEPTTL = 1u << 3,
    OPT_PERSIST = 1u << 4,
    OPT_EX = 1u << 5,
    OPT_PX = 1u << 6,
    OPT_EXAT = 1u << 7,
    OPT_PXAT = 1u << 8,
};
#define OPT_EXPIRE (OPT_EX | OPT_PX | OPT_EXAT | OPT_PXAT)

struct set_opts {
    unsigned flags;
    struct bstr expire; /* the EX/PX/EXAT/PXAT argument */
};

/*
 * Redis's parseExtendedStringArgumentsOrReply for SET (is_set) and GETEX:
 * an option is refused (syntax error) when it conflicts with one given
 * before it; repeating one is allowed (the last value wins).
 */
static bool
parse_opts(struct resp_exec *x, size_t j, bool is_set, struct set_opts *o)
{
    for (; j < x->argc; j++) {
        struct bstr a = x->argv[j];
        bool next = j + 1 < x->argc;
        unsigned f = o->flags;
        unsigned set = 0;
        if (resp_arg_is(a, "nx") && is_set && !(f & OPT_XX)) {
            set = OPT_NX;
        } else if (resp_arg_is(a, "xx") && is_set && !(f & OPT_NX)) {
            set = OPT_XX;
        } else if (resp_arg_is(a, "get") && is_set) {
            set = OPT_GET;
        } else if (resp_arg_is(a, "keepttl") && is_set && !(f & (OPT_PERSIST | OPT_EXPIRE))) {
            set = OPT_KEEPTTL;
        } else if (resp_arg_is(a, "persist") && !is_set && !(f & (OPT_EXPIRE | OPT_KEEPTTL))) {
            set = OPT_PERSIST;
        } else if (resp_arg_is(a, "ex") && next &&
                   !(f & (OPT_KEEPTTL | OPT_PERSIST | (OPT_EXPIRE & ~OPT_EX)))) {
            set = OPT_EX;
        } else if (resp_arg_is(a, "px") && next &&
                   !(f & (OPT_KEEPTTL | OPT_PERSIST | (OPT_EXPIRE & ~OPT_PX)))) {
            set = OPT_PX;
        } else if (resp_arg_is(a, "exat") && next &&
                   !(f & (OPT_KEEPTTL | OPT_PERSIST | (OPT_EXPIRE & ~OPT_EXAT)))) {
            set = OPT_EXAT;
        } else if (resp_arg_is(a, "pxat") && next &&
                   !(f & (OPT_KEEPTTL | OPT_PERSIST | (OPT_EXPIRE & ~OPT_PXAT)))) {
            set = OPT_PXAT;
        } else {
            resp_reply_err(x, RESP_ERR_SYNTAX);
            return false;
        }
        o->flags |= set;
        if (set & OPT_EXPIRE) {
            o->expire = x->argv[++j];
        }
    }
    return true;
}

enum deadline_rc { DEADLINE_OK, DEADLINE_NOT_INT, DEADLINE_INVALID };

/* Redis's getExpireMillisecondsOrReply: the option's number as a Unix-ms
 * deadline. Positive only; seconds must not overflow once in ms, nor a
 * relative time once added to now. */
static enum deadline_rc
deadline_of(const struct set_opts *o, int64_t *out)
{
    int64_t v;
    if (!resp_arg_i64(o->expire, &v)) {
        return DEADLINE_NOT_INT;
    }
    bool secs = (o->flags & (OPT_EX | OPT_EXAT)) != 0;
    if (v <= 0 || (secs && v > INT64_MAX / 1000)) {
        return DEADLINE_INVALID;
    }
    if (secs) {
        v *= 1000;
    }
    if (o->flags & (OPT_EX | OPT_PX)) {
        int64_t now = store_now_ms();
        if (v > INT64_MAX - now) {
            return DEADLINE_INVALID;
        }
        v += now;
    }
    *out = v;
    return DEADLINE_OK;
}

static void
deadline_err(struct resp_exec *x, enum deadline_rc rc)
{
    if (rc == DEADLINE_NOT_INT) {
        resp_reply_err(x, RESP_ERR_NOT_INT);
    } else {
        resp_reply_errf(x, "ERR invalid expire time in '%s' command", x->cmd->name);
    }
}

/* SET ... GET: the old value is the reply whether or not NX/XX let the
 * write happen (Redis 7). */
struct setget {
    struct resp_exec *x;
    unsigned flags;
    struct bstr value;
    int64_t deadline;
};

static void
setget_decide(void *ctx, const struct store_item_view *old, struct store_update *u)
{
    struct setget *g = ctx;
    if (((g->flags & OPT_NX) && old != NULL) || ((g->flags & OPT_XX) && old == NULL) ||
        (old != NULL && old->type != STORE_TYPE_STRING)) {
        return; /* another type: reply_old answers WRONGTYPE */
    }
    u->op = STORE_UPDATE_WRITE;
    u->value = g->value.data;
    u->nbytes = (uint32_t)g->value.len;
    u->keep_expiry = (g->flags & OPT_KEEPTTL) != 0;
    u->expire_ms = g->deadline;
}

/* commit for the commands that answer with the old value; ctx is a
 * struct whose first member is the struct resp_exec pointer. Their
 * decide leaves a key of another type alone. */
static void
reply_old(void *ctx, const struct store_item_view *old, char *dst)
{
    struct resp_exec *x = *(struct resp_exec **)ctx;
    (void)dst;
    if (old != NULL && old->type != STORE_TYPE_STRING) {
        resp_reply_err(x, RESP_ERR_WRONGTYPE);
    } else if (old != NULL) {
        bulk_of_view(x, old->value, old->nbytes);
    } else {
        resp_reply_null(x);
    }
}

/*
 * setGenericCommand: value under key with the option flags and deadline
 * (0 = none). int_reply answers :1/:0 (SETNX) instead of +OK/null.
 */
static void
set_generic(struct resp_exec *x, struct bstr key, struct bstr value, unsigned flags,
            int64_t deadline, bool int_reply)
{
    METRIC_INC(x->m, cmd_set);
    struct store_key k;
    resp_key(x, &k, key);
    if (value.len > UINT32_MAX) {
        resp_reply_err(x, RESP_ERR_TOO_BIG);
        return;
    }
    enum store_rc rc;
    if (flags & OPT_GET) {
        struct setget g = {
            .x = x,
            .flags = flags,
            .value = value,
            .deadline = deadline,
        };
        rc = store_update(x->store, &k, setget_decide, reply_old, &g);
        if (rc != STORE_OK) {
            resp_reply_err_store(x, rc, key.len);
        }
        return;
    }
    struct store_set_req r = {
        .mode = (flags & OPT_NX)   ? STORE_MODE_ADD
                : (flags & OPT_XX) ? STORE_MODE_REPLACE
                                   : STORE_MODE_SET,
        .value = value.data,
        .nbytes = (uint32_t)value.len,
        .expire_ms = deadline,
        .keep_ttl = (flags & OPT_KEEPTTL) != 0,
    };
    rc = store_set(x->store, &k, &r, NULL);
    if (rc == STORE_OK) {
        if (int_reply) {
            resp_reply_int(x, 1);
        } else {
            resp_reply_ok(x);
        }
    } else if (rc == STORE_NOT_STORED) {
        if (int_reply) {
            resp_reply_int(x, 0);
        } else {
            resp_reply_null(x);
        }
    } else {
        resp_reply_err_store(x, rc, key.len);
    }
}

void
resp_cmd_set(struct resp_exec *x)
{
    struct set_opts o = {0};
    if (!parse_opts(x, 3, true, &o)) {
        return;
    }
    int64_t deadline = 0;
    if (o.flags & OPT_EXPIRE) {
        enum deadline_rc rc = deadline_of(&o, &deadline);
        if (rc != DEADLINE_OK) {
            deadline_err(x, rc);
            return;
        }
    }
    set_generic(x, x->argv[1], x->argv[2], o.flags, deadline, false);
}

void
resp_cmd_setnx(struct resp_exec *x)
{
    set_generic(x, x->argv[1], x->argv[2], OPT_NX, 0, true);
}

static void
setex_generic(struct resp_exec *x, unsigned unit)
{
    struct set_opts o = {.flags = unit, .expire = x->argv[2]};
    int64_t deadline = 0;
    enum deadline_rc rc = deadline_of(&o, &deadline);
    if (rc != DEADLINE_OK) {
        deadline_err(x, rc);
        return;
    }
    set_generic(x, x->argv[1], x->argv[3], 0, deadline, false);
}

void
resp_cmd_setex(struct resp_exec *x)
{
    setex_generic(x, OPT_EX);
}

void
resp_cmd_psetex(struct resp_exec *x)
{
    setex_generic(x, OPT_PX);
}

void
resp_cmd_getset(struct resp_exec *x)
{
    set_generic(x, x->argv[1], x->argv[2], OPT_GET, 0, false);
}

/* --- GETDEL, GETEX ------------------------------------------------------------------ */

struct getex {
    struct resp_exec *x; /* first: reply_old reads it */
    unsigned flags;
    enum deadline_rc bad; /* an invalid deadline, reported only for a live key */
    int64_t deadline;
};

static void
getdel_decide(void *ctx, const struct store_item_view *old, struct store_update *u)
{
    (void)ctx;
    if (old != NULL && old->type == STORE_TYPE_STRING) {
        u->op = STORE_UPDATE_DELETE;
    }
}

void
resp_cmd_getdel(struct resp_exec *x)
{
    struct store_key k;
    resp_key(x, &k, x->argv[1]);
    struct getex g = {.x = x};
    enum store_rc rc = store_update(x->store, &k, getdel_decide, reply_old, &g);
    if (rc != STORE_OK) {
        resp_reply_err_store(x, rc, x->argv[1].len);
    }
}

static void
getex_decide(void *ctx, const struct store_item_view *old, struct store_update *u)
{
    struct getex *g = ctx;
    if (old == NULL || old->type != STORE_TYPE_STRING || g->bad != DEADLINE_OK) {
        return;
    }
    if (g->flags & OPT_EXPIRE) {
        u->op = STORE_UPDATE_EXPIRE;
        u->expire_ms = g->deadline;
    } else if (g->flags & OPT_PERSIST) {
        u->op = STORE_UPDATE_EXPIRE;
        u->expire_ms = 0;
    }
}

static void
getex_commit(void *ctx, const struct store_item_view *old, char *dst)
{
    struct getex *g = ctx;
    if (old != NULL && old->type == STORE_TYPE_STRING && g->bad != DEADLINE_OK) {
        deadline_err(g->x, g->bad);
        return;
    }
    reply_old(ctx, old, dst);
}

void
resp_cmd_getex(struct resp_exec *x)
{
    struct set_opts o = {0};
    if (!parse_opts(x, 2, false, &o)) {
        return;
    }
    struct getex g = {.x = x, .flags = o.flags};
    if (o.flags & OPT_EXPIRE) {
        g.bad = deadline_of(&o, &g.deadline);
    }
    struct store_key k;
    resp_key(x, &k, x->argv[1]);
    enum store_rc rc = store_update(x->store, &k, getex_decide, getex_commit, &g);
    if (rc != STORE_OK) {
        resp_reply_err_store(x, rc, x->argv[1].len);
    }
}

/* --- MSET, MSETNX ------------------------------------------------------------------------ */

/* Refuse before writing anything a pair that cannot be stored. */
static bool
pairs_fit(struct resp_exec *x)
{
    if (x->argc % 2 == 0) {
        resp_reply_err_arity(x, x->cmd->name);
        return false;
    }
    for (size_t i = 1; i < x->argc; i += 2) {
        if (!store_fits(x->store, x->argv[i].len, x->argv[i + 1].len)) {
            resp_reply_err_store(x, STORE_TOO_LARGE, x->argv[i].len);
            return false;
        }
    }
    return true;
}

static void
mset_pair(void *ctx, size_t i, struct store_key *k, struct store_set_req *r)
{
    struct resp_exec *x = ctx;
    resp_key(x, k, x->argv[1 + 2 * i]);
    r->value = x->argv[2 + 2 * i].data;
    r->nbytes = (uint32_t)x->argv[2 + 2 * i].len;
}

/*
 * As Redis, all pairs are stored as one step (store_set_many): no client
 * sees some of them and not the others, and MSETNX stores all or none.
 */
static void
mset_generic(struct resp_exec *x, bool nx)
{
    if (!pairs_fit(x)) {
        return;
    }
    size_t n = (x->argc - 1) / 2;
    METRIC_ADD(x->m, cmd_set, n);
    enum store_rc rc = store_set_many(x->store, n, mset_pair, x, nx);
    if (rc == STORE_NOT_STORED) {
        resp_reply_int(x, 0);
        return;
    }
    if (rc != STORE_OK) {
        resp_reply_err_store(x, rc, x->argv[1].len);
        return;
    }
    if (nx) {
        resp_reply_int(x, 1);
    } else {
        resp_reply_ok(x);
    }
}

void
resp_cmd_mset(struct resp_exec *x)
{
    mset_generic(x, false);
}

void
resp_cmd_msetnx(struct resp_exec *x)
{
    mset_generic(x, true);
}

/* --- APPEND, STRLEN, GETRANGE, SETRANGE ----------------------------------------------- */

/* A length that may not fit a value: past UINT32_MAX the store refuses
 * it as too large. */
static inline uint32_t
clamp_len(uint64_t n)
{
    return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

struct splice {
    struct bstr value; /* bytes written at offset */
    uint64_t offset;
    bool append;    /* offset is the old length */
    bool wrongtype; /* the key holds another type: nothing is written */
    int64_t result; /* the new length, or the old one when nothing is written */
};

static void
splice_decide(void *ctx, const struct store_item_view *old, struct store_update *u)
{
    struct splice *sp = ctx;
    sp->wrongtype = old != NULL && old->type != STORE_TYPE_STRING;
    if (sp->wrongtype) {
        return;
    }
    uint64_t oldlen = old != NULL ? old->nbytes : 0;
    if (sp->append) {
        sp->offset = oldlen;
    } else if (sp->value.len == 0) {
        /* SETRANGE with nothing to write: the length, no change. */
        sp->result = (int64_t)oldlen;
        return;
    }
    uint64_t end = sp->offset + sp->value.len;
    uint64_t newlen = end > oldlen ? end : oldlen;
    sp->result = (int64_t)newlen;
    u->op = STORE_UPDATE_WRITE;
    u->nbytes = clamp_len(newlen);
    if (old != NULL) {
        u->flags = old->flags;
        u->keep_expiry = true;
    }
}

static void
splice_commit(void *ctx, const struct store_item_view *old, char *dst)
{
    struct splice *sp = ctx;
    if (dst == NULL) {
        return;
    }
    uint64_t oldlen = old != NULL ? old->nbytes : 0;
    if (old != NULL && dst != old->value && oldlen != 0) {
        memcpy(dst, old->value, oldlen);
    }
    if (sp->offset > oldlen) {
        memset(dst + oldlen, 0, sp->offset - oldlen);
    }
    if (sp->value.len != 0) {
        memcpy(dst + sp->offset, sp->value.data, sp->value.len);
    }
}

static void
splice_reply(struct resp_exec *x, const struct splice *sp)
{
    if (sp->wrongtype) {
        resp_reply_err(x, RESP_ERR_WRONGTYPE);
    } else {
        resp_reply_int(x, sp->result);
    }
}

void
resp_cmd_append(struct resp_exec *x)
{
    struct splice sp = {.value = x->argv[2], .append = true};
    struct store_key k;
    resp_key(x, &k, x->argv[1]);
    enum store_rc rc = store_update(x->store, &k, splice_decide, splice_commit, &sp);
    if (rc != STORE_OK) {
        resp_reply_err_store(x, rc, x->argv[1].len);
        return;
    }
    splice_reply(x, &sp);
}

void
resp_cmd_setrange(struct resp_exec *x)
{
    int64_t offset;
    if (!resp_arg_i64(x->argv[2], &offset)) {
        resp_reply_err(x, RESP_ERR_NOT_INT);
        return;
    }
    if (offset < 0) {
        resp_reply_err(x, "ERR offset is out of range");
        return;
    }
    struct splice sp = {.value = x->argv[3], .offset = (uint64_t)offset};
    struct store_key k;
    resp_key(x, &k, x->argv[1]);
    enum store_rc rc = store_update(x->store, &k, splice_decide, splice_commit, &sp);
    if (rc != STORE_OK) {
        /* Too large is Redis's proto-max-bulk-len error even for a key
         * stashd cannot hold. */
        resp_reply_err_store(x, rc, x->argv[1].len == 0 ? 1 : x->argv[1].len);
        return;
    }
    splice_reply(x, &sp);
}

static void
on_len(void *ctx, const struct store_item_view *v)
{
    *(int64_t *)ctx = v->nbytes;
}

void
resp_cmd_strlen(struct resp_exec *x)
{
    struct store_key k;
    resp_key(x, &k, x->argv[1]);
    int64_t n = 0;
    if (resp_read_string(x, &k, on_len, &n)) {
        resp_reply_int(x, n);
    }
}

struct range {
    struct resp_exec *x;
    int64_t start, end;
    bool found;
};

/* Redis's getrangeCommand index rules, then the slice as a bulk. */
static void
on_range(void *ctx, const struct store_item_view *v)
{
    struct range *r = ctx;
    r->found = true;
    int64_t len = v->nbytes;
    int64_t start = r->start, end = r->end;
    if (start < 0 && end < 0 && start > end) {
        bulk_of_view(r->x, "", 0);
        return;
    }
    if (start < 0) {
        start = len + start;
    }
    if (end < 0) {
        end = len + end;
    }
    if (start < 0) {
        start = 0;
    }
    if (end < 0) {
        end = 0;
    }
    if (end >= len) {
        end = len - 1;
    }
    if (start > end || len == 0) {
        bulk_of_view(r->x, "", 0);
    } else {
        bulk_of_view(r->x, v->value + start, (size_t)(end - start + 1));
    }
}

void
resp_cmd_getrange(struct resp_exec *x)
{
    struct range r = {.x = x};
    if (!resp_arg_i64(x->argv[2], &r.start) || !resp_arg_i64(x->argv[3], &r.end)) {
        resp_reply_err(x, RESP_ERR_NOT_INT);
        return;
    }
    struct store_key k;
    resp_key(x, &k, x->argv[1]);
    r.found = false;
    if (resp_read_string(x, &k, on_range, &r) && !r.found) {
        resp_reply_bulk(x, "", 0);
    }
}
