/*
 * resp_hash: Redis's hash commands (HSET HSETNX HMSET HGET HMGET HGETALL
 * HKEYS HVALS HLEN HSTRLEN HEXISTS HDEL HINCRBY HINCRBYFLOAT HRANDFIELD
 * HSCAN) over the shared keyspace. A hash is one item typed
 * STORE_TYPE_HASH whose value is a field table (hashval.h): it is bounded
 * by the item size limit, and expires and is evicted as one key.
 *
 * Reads take the item under its shard lock (store_get for any type) and
 * write the reply straight from the table, as GET copies a value; HSCAN
 * and HRANDFIELD copy the table out first and match patterns or draw
 * fields after, so that no glob pattern runs under a lock. Writes are one
 * store_update each: decide reads the old table (refusing another type:
 * WRONGTYPE), plans the change (hashval_plan: the new size, the reply)
 * and commit writes the new table into the new item, or over the old one
 * when only values of the same length change (a counter, a session
 * field rewritten), so no concurrent change to any field is lost.
 *
 * Error texts and argument rules follow Redis 7.0's t_hash.c and db.c;
 * the order of the checks too (arguments, then the key's type, then the
 * rest), as the differential tests compare.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd_count.h"
#include "cmd/hashval.h"
#include "cmd/resp_arg.h"
#include "cmd/resp_cmd.h"
#include "cmd/resp_internal.h"
#include "cmd/resp_reply.h"
#include "stashd/cmd/hotkeys.h"
#include "stashd/store/store.h"
#include "stashd/util/glob.h"
#include "stashd/util/metrics.h"
#include "stashd/util/num.h"

/* --- reads -------------------------------------------------------------------- */

/* A hash read's outcome: HASH_ANSWERED when the key held another type
 * (or a copy failed) and the error is already the reply. */
enum hfound { HASH_FOUND, HASH_NONE, HASH_ANSWERED };

struct typed_read {
    store_read_fn fn; /* called for a hash, under the lock */
    void *ctx;
    bool wrong;
};

static void
on_typed(void *ctx, const struct store_item_view *v)
{
    struct typed_read *r = ctx;
    if (v->type != STORE_TYPE_HASH) {
        r->wrong = true;
        return;
    }
    r->fn(r->ctx, v);
}

/*
 * Read the hash at key: fn(ctx, v) under its shard lock when it is one.
 * Another type is answered WRONGTYPE here (HASH_ANSWERED: the caller
 * sends nothing more). Counted as a read, as Redis counts keyspace hits.
 */
static enum hfound
hash_read(struct resp_exec *x, struct bstr key, store_read_fn fn, void *ctx)
{
    struct store_key k;
    resp_key(x, &k, key);
    const struct store_get_opts o = {.any_type = true};
    struct typed_read r = {.fn = fn, .ctx = ctx};
    enum store_miss miss = STORE_MISS_NONE;
    enum store_rc rc = store_get(x->store, &k, &o, on_typed, &r, &miss);
    hotkeys_note(x->s->hot, k.data, k.len, k.hash);
    cmd_count_read(x->m, false, rc);
    if (rc != STORE_OK) {
        cmd_count_miss_reason(x->m, miss);
        return HASH_NONE;
    }
    if (r.wrong) {
        resp_reply_err(x, RESP_ERR_WRONGTYPE);
        return HASH_ANSWERED;
    }
    return HASH_FOUND;
}

static inline struct bstr
bstr_of(const char *p, size_t n)
{
    return (struct bstr){.data = p, .len = n};
}

struct field_read {
    struct resp_exec *x;
    struct bstr field;
    bool found;
    struct bstr value; /* valid under the lock only */
};

static void
on_hget(void *ctx, const struct store_item_view *v)
{
    struct field_read *f = ctx;
    f->found = hashval_get(v->value, v->nbytes, f->field, &f->value);
    if (f->found) {
        resp_reply_bulk(f->x, f->value.data, f->value.len);
    }
}

void
resp_cmd_hget(struct resp_exec *x)
{
    struct field_read f = {.x = x, .field = x->argv[2]};
    if (hash_read(x, x->argv[1], on_hget, &f) != HASH_ANSWERED && !f.found) {
        resp_reply_null(x);
    }
}

static void
on_field_facts(void *ctx, const struct store_item_view *v)
{
    struct field_read *f = ctx;
    f->found = hashval_get(v->value, v->nbytes, f->field, &f->value);
}

/* HEXISTS and HSTRLEN: whether the field is there, its value's length. */
static void
field_facts(struct resp_exec *x, bool len)
{
    struct field_read f = {.x = x, .field = x->argv[2]};
    if (hash_read(x, x->argv[1], on_field_facts, &f) == HASH_ANSWERED) {
        return;
    }
    resp_reply_int(x, !f.found ? 0 : len ? (int64_t)f.value.len : 1);
}

void
resp_cmd_hexists(struct resp_exec *x)
{
    field_facts(x, false);
}

void
resp_cmd_hstrlen(struct resp_exec *x)
{
    field_facts(x, true);
}

static void
on_hlen(void *ctx, const struct store_item_view *v)
{
    *(uint64_t *)ctx = hashval_count(v->value, v->nbytes);
}

void
resp_cmd_hlen(struct resp_exec *x)
{
    uint64_t n = 0;
    if (hash_read(x, x->argv[1], on_hlen, &n) != HASH_ANSWERED) {
        resp_reply_int(x, (int64_t)n);
    }
}

struct hmget {
    struct resp_exec *x;
    struct hashval_set set;
};

static void
on_hmget(void *ctx, const struct store_item_view *v)
{
    struct hmget *g = ctx;
    struct hashval_plan p;
    hashval_plan(&g->set, v->value, v->nbytes, true, &p); /* finds each field's value */
    struct resp_exec *x = g->x;
    resp_reply_array(x, x->argc - 2);
    for (size_t i = 2; i < x->argc; i++) {
        const struct hashval_entry *e = hashval_set_find(&g->set, x->argv[i]);
        if (e->old.data != NULL) {
            resp_reply_bulk(x, e->old.data, e->old.len);
        } else {
            resp_reply_null(x);
        }
    }
}

/* The fields argv[from], argv[from + step], ... as a set (values at
 * argv[from + 1] ... when step is 2); false (OOM replied) if there is no
 * memory for its index. */
static bool
fields_of(struct resp_exec *x, struct hashval_set *set, size_t from, size_t step)
{
    size_t n = (x->argc - from) / step;
    if (hashval_set_init(set, n) != 0) {
        resp_reply_err(x, RESP_ERR_OOM);
        return false;
    }
    for (size_t i = from; i + step - 1 < x->argc; i += step) {
        hashval_set_add(set, x->argv[i], step == 2 ? x->argv[i + 1] : bstr_of(NULL, 0));
    }
    return true;
}

void
resp_cmd_hmget(struct resp_exec *x)
{
    struct hmget g = {.x = x};
    if (!fields_of(x, &g.set, 2, 1)) {
        return;
    }
    if (hash_read(x, x->argv[1], on_hmget, &g) == HASH_NONE) {
        resp_reply_array(x, x->argc - 2);
        for (size_t i = 2; i < x->argc; i++) {
            resp_reply_null(x);
        }
    }
    hashval_set_fini(&g.set);
}

enum { WANT_FIELDS = 1, WANT_VALUES = 2 };

struct getall {
    struct resp_exec *x;
    unsigned want;
};

static void
on_getall(void *ctx, const struct store_item_view *v)
{
    struct getall *g = ctx;
    struct hashval_iter it;
    uint64_t n;
    hashval_open(&it, v->value, v->nbytes, &n);
    if (g->want == (WANT_FIELDS | WANT_VALUES)) {
        resp_reply_map(g->x, n);
    } else {
        resp_reply_array(g->x, n);
    }
    struct bstr f, val;
    while (hashval_next(&it, &f, &val)) {
        if (g->want & WANT_FIELDS) {
            resp_reply_bulk(g->x, f.data, f.len);
        }
        if (g->want & WANT_VALUES) {
            resp_reply_bulk(g->x, val.data, val.len);
        }
    }
}

/* HGETALL (a map in RESP3), HKEYS, HVALS. */
static void
getall(struct resp_exec *x, unsigned want)
{
    struct getall g = {.x = x, .want = want};
    if (hash_read(x, x->argv[1], on_getall, &g) == HASH_NONE) {
        if (want == (WANT_FIELDS | WANT_VALUES)) {
            resp_reply_map(x, 0);
        } else {
            resp_reply_array(x, 0);
        }
    }
}

void
resp_cmd_hgetall(struct resp_exec *x)
{
    getall(x, WANT_FIELDS | WANT_VALUES);
}

void
resp_cmd_hkeys(struct resp_exec *x)
{
    getall(x, WANT_FIELDS);
}

void
resp_cmd_hvals(struct resp_exec *x)
{
    getall(x, WANT_VALUES);
}

/* --- HRANDFIELD, HSCAN: on a copy of the table ----------------------------------- */

struct copy {
    struct buf *b;
    int err;
};

static void
on_copy(void *ctx, const struct store_item_view *v)
{
    struct copy *c = ctx;
    buf_reset(c->b);
    c->err = buf_append(c->b, v->value, v->nbytes);
}

/* Copy the hash at key into x->c->scratch; *table views it (until the
 * scratch buffer is next used). */
static enum hfound
hash_copy(struct resp_exec *x, struct bstr key, struct bstr *table)
{
    struct copy c = {.b = &x->c->scratch};
    buf_reset(c.b);
    enum hfound found = hash_read(x, key, on_copy, &c);
    if (found == HASH_FOUND && c.err != 0) {
        resp_reply_err(x, RESP_ERR_OOM);
        return HASH_ANSWERED;
    }
    *table = found == HASH_FOUND && c.b->data != NULL
                 ? bstr_of(c.b->data + c.b->rpos, buf_readable(c.b))
                 : bstr_of(NULL, 0);
    return found;
}

static void
scratch_done(struct resp_exec *x)
{
    buf_reset(&x->c->scratch);
    buf_shrink(&x->c->scratch, 64 * 1024);
}

/* One HRANDFIELD pick: the field, and with values its value (a pair of
 * its own in RESP3). */
static void
reply_pick(struct resp_exec *x, struct bstr f, struct bstr v, bool withvalues)
{
    if (withvalues && x->c->resp3) {
        resp_reply_array(x, 2);
    }
    resp_reply_bulk(x, f.data, f.len);
    if (withvalues) {
        resp_reply_bulk(x, v.data, v.len);
    }
}

/* Bytes a reply of count picks can take at most: each as large as the
 * largest pair. */
static uint64_t
picks_bound(struct bstr table, uint64_t count)
{
    struct hashval_iter it;
    uint64_t n;
    hashval_open(&it, table.data, table.len, &n);
    uint64_t most = 0;
    struct bstr f, v;
    while (hashval_next(&it, &f, &v)) {
        uint64_t sz = f.len + v.len;
        most = sz > most ? sz : most;
    }
    /* headers: "*2\r\n" and two "$<len>\r\n...\r\n" */
    most += 4 + 2 * (1 + 10 + 4);
    return count > UINT64_MAX / most ? UINT64_MAX : count * most;
}

/* count picks with repetition (HRANDFIELD with a negative count). */
static void
rand_repeat(struct resp_exec *x, struct bstr table, uint64_t n, uint64_t count, bool withvalues)
{
    if (picks_bound(table, count) > resp_max_request(x->s)) {
        resp_reply_err(x, "ERR HRANDFIELD count is too large: the reply would exceed "
                          "stashd's reply limit");
        return;
    }
    /* Where each pair starts, for picks in O(1). */
    uint32_t small[HASHVAL_LISTPACK_ENTRIES];
    uint32_t *at = n <= HASHVAL_LISTPACK_ENTRIES ? small : malloc(n * sizeof(*at));
    if (at == NULL) {
        resp_reply_err(x, RESP_ERR_OOM);
        return;
    }
    struct hashval_iter it;
    uint64_t header;
    hashval_open(&it, table.data, table.len, &header);
    uint64_t have = 0;
    struct bstr f, v;
    for (const unsigned char *p = it.p; have < n && hashval_next(&it, &f, &v); p = it.p) {
        at[have++] = (uint32_t)(p - (const unsigned char *)table.data);
    }
    resp_reply_array(x, withvalues && !x->c->resp3 ? count * 2 : count);
    for (uint64_t i = 0; i < count && have != 0; i++) {
        uint32_t off = at[resp_conn_rand(x->c) % have];
        struct hashval_iter one = {.p = (const unsigned char *)table.data + off,
                                   .end = (const unsigned char *)table.data + table.len};
        hashval_next(&one, &f, &v);
        reply_pick(x, f, v, withvalues);
    }
    if (at != small) {
        free(at);
    }
}

/* count distinct picks (count < n), in table order: selection sampling
 * (Knuth's algorithm S), one walk, no memory. */
static void
rand_distinct(struct resp_exec *x, struct bstr table, uint64_t n, uint64_t count, bool withvalues)
{
    resp_reply_array(x, withvalues && !x->c->resp3 ? count * 2 : count);
    struct hashval_iter it;
    uint64_t header;
    hashval_open(&it, table.data, table.len, &header);
    uint64_t left = n, need = count;
    struct bstr f, v;
    while (need != 0 && hashval_next(&it, &f, &v)) {
        if (resp_conn_rand(x->c) % left < need) {
            reply_pick(x, f, v, withvalues);
            need--;
        }
        left--;
    }
}

static void
on_rand_one(void *ctx, const struct store_item_view *v)
{
    struct resp_exec *x = ctx;
    struct hashval_iter it;
    uint64_t n;
    hashval_open(&it, v->value, v->nbytes, &n);
    uint64_t pick = n != 0 ? resp_conn_rand(x->c) % n : 0;
    struct bstr f, val;
    for (uint64_t i = 0; hashval_next(&it, &f, &val); i++) {
        if (i == pick) {
            resp_reply_bulk(x, f.data, f.len);
            return;
        }
    }
    resp_reply_null(x);
}

void
resp_cmd_hrandfield(struct resp_exec *x)
{
    if (x->argc == 2) {
        if (hash_read(x, x->argv[1], on_rand_one, x) == HASH_NONE) {
            resp_reply_null(x);
        }
        return;
    }
    int64_t l;
    if (!resp_arg_i64(x->argv[2], &l)) {
        resp_reply_err(x, RESP_ERR_NOT_INT);
        return;
    }
    if (l == INT64_MIN) {
        resp_reply_err(x, "ERR value is out of range, value must between -9223372036854775807 "
                          "and 9223372036854775807");
        return;
    }
    bool withvalues = x->argc == 4;
    if (x->argc > 4 || (withvalues && !resp_arg_is(x->argv[3], "withvalues"))) {
        resp_reply_err(x, RESP_ERR_SYNTAX);
        return;
    }
    if (withvalues && (l < -INT64_MAX / 2 || l > INT64_MAX / 2)) {
        resp_reply_err(x, "ERR value is out of range");
        return;
    }
    struct bstr table;
    enum hfound found = hash_copy(x, x->argv[1], &table);
    uint64_t count = l < 0 ? (uint64_t)0 - (uint64_t)l : (uint64_t)l;
    if (found == HASH_NONE || (found == HASH_FOUND && count == 0)) {
        resp_reply_array(x, 0);
    } else if (found == HASH_FOUND) {
        uint64_t n = hashval_count(table.data, table.len);
        if (l < 0 || count == 1) {
            rand_repeat(x, table, n, count, withvalues);
        } else {
            rand_distinct(x, table, n, count < n ? count : n, withvalues);
        }
    }
    scratch_done(x);
}

/*
 * HSCAN: the whole hash in one reply, with cursor 0, whatever the cursor
 * and COUNT, as Redis answers for a hash it keeps as a listpack (for a
 * larger one Redis may answer in slices). A hash is at most -I bytes, so
 * is the reply. MATCH filters fields, after the copy.
 */
/* [cursor "0", ...] */
#define SCAN_HEAD "*2\r\n$1\r\n0\r\n"

void
resp_cmd_hscan(struct resp_exec *x)
{
    uint64_t cursor;
    if (!resp_arg_cursor(x->argv[2], &cursor)) {
        resp_reply_err(x, "ERR invalid cursor");
        return;
    }
    struct bstr table;
    enum hfound found = hash_copy(x, x->argv[1], &table);
    if (found == HASH_NONE) {
        resp_reply_raw(x, SCAN_HEAD "*0\r\n", sizeof(SCAN_HEAD "*0\r\n") - 1);
    }
    if (found != HASH_FOUND) {
        scratch_done(x);
        return;
    }
    const struct bstr *pat = NULL;
    for (size_t i = 3; i < x->argc; i += 2) {
        int64_t count;
        if (resp_arg_is(x->argv[i], "count") && i + 1 < x->argc) {
            if (!resp_arg_i64(x->argv[i + 1], &count)) {
                resp_reply_err(x, RESP_ERR_NOT_INT);
                goto done;
            }
            if (count < 1) {
                resp_reply_err(x, RESP_ERR_SYNTAX);
                goto done;
            }
        } else if (resp_arg_is(x->argv[i], "match") && i + 1 < x->argc) {
            pat = &x->argv[i + 1];
            if (pat->len == 1 && pat->data[0] == '*') {
                pat = NULL;
            }
        } else {
            resp_reply_err(x, RESP_ERR_SYNTAX);
            goto done;
        }
    }
    struct hashval_iter it;
    uint64_t n;
    struct bstr f, v;
    if (pat != NULL) {
        hashval_open(&it, table.data, table.len, &n);
        n = 0;
        while (hashval_next(&it, &f, &v)) {
            n += glob_match(pat->data, pat->len, f.data, f.len, false);
        }
    } else {
        n = hashval_count(table.data, table.len);
    }
    resp_reply_raw(x, SCAN_HEAD, sizeof(SCAN_HEAD) - 1);
    resp_reply_array(x, 2 * n);
    hashval_open(&it, table.data, table.len, &n);
    while (hashval_next(&it, &f, &v)) {
        if (pat == NULL || glob_match(pat->data, pat->len, f.data, f.len, false)) {
            resp_reply_bulk(x, f.data, f.len);
            resp_reply_bulk(x, v.data, v.len);
        }
    }
done:
    scratch_done(x);
}

/* --- writes ---------------------------------------------------------------------- */

enum hwrite_mode { HW_SET, HW_SETNX, HW_DEL, HW_INCR, HW_INCRF };

enum hwrite_rc {
    HW_OK,
    HW_WRONGTYPE,
    HW_EXISTS,    /* HSETNX: the field is there */
    HW_NOT_INT,   /* HINCRBY: the value is no integer */
    HW_OVERFLOW,  /* HINCRBY: the sum overflows */
    HW_NOT_FLOAT, /* HINCRBYFLOAT: the value is no float */
    HW_NAN,       /* HINCRBYFLOAT: the sum is NaN or infinite */
};

/* One hash write: the fields it names, and what decide planned. */
struct hwrite {
    enum hwrite_mode mode;
    struct hashval_set set;
    struct hashval_plan plan;
    enum hwrite_rc rc;
    int64_t delta; /* HINCRBY */
    int64_t value;
    long double fdelta; /* HINCRBYFLOAT */
    char *text;         /* the new value of an increment */
    size_t text_len;
};

/* HINCRBY/HINCRBYFLOAT: the new value of the one field, from old (NULL:
 * absent), into w->text; false with w->rc on an error. */
static bool
incr_value(struct hwrite *w, const struct bstr *old)
{
    if (w->mode == HW_INCR) {
        int64_t v = 0;
        if (old != NULL && !resp_arg_i64(*old, &v)) {
            w->rc = HW_NOT_INT;
            return false;
        }
        if ((w->delta < 0 && v < 0 && w->delta < INT64_MIN - v) ||
            (w->delta > 0 && v > 0 && w->delta > INT64_MAX - v)) {
            w->rc = HW_OVERFLOW;
            return false;
        }
        w->value = v + w->delta;
        uint64_t mag = w->value < 0 ? (uint64_t)0 - (uint64_t)w->value : (uint64_t)w->value;
        size_t n = 0;
        if (w->value < 0) {
            w->text[n++] = '-';
        }
        w->text_len = n + num_u64_to_dec(mag, w->text + n);
        return true;
    }
    long double v = 0;
    if (old != NULL && !resp_parse_ld(old->data, old->len, &v)) {
        w->rc = HW_NOT_FLOAT;
        return false;
    }
    v += w->fdelta;
    if (isnan(v) || isinf(v)) {
        w->rc = HW_NAN;
        return false;
    }
    w->text_len = resp_format_ld(v, w->text, RESP_LD_CHARS);
    return true;
}

static void
hwrite_decide(void *ctx, const struct store_item_view *old, struct store_update *u)
{
    struct hwrite *w = ctx;
    w->rc = HW_OK;
    if (old != NULL && old->type != STORE_TYPE_HASH) {
        w->rc = HW_WRONGTYPE;
        return;
    }
    const char *v = old != NULL ? old->value : NULL;
    size_t n = old != NULL ? old->nbytes : 0;
    if (w->mode == HW_SETNX || w->mode == HW_INCR || w->mode == HW_INCRF) {
        struct bstr cur;
        bool has = hashval_get(v, n, w->set.e[0].field, &cur);
        if (w->mode == HW_SETNX && has) {
            w->rc = HW_EXISTS;
            return;
        }
        if (w->mode != HW_SETNX) {
            if (!incr_value(w, has ? &cur : NULL)) {
                return;
            }
            w->set.e[0].value = bstr_of(w->text, w->text_len);
        }
    }
    bool del = w->mode == HW_DEL;
    hashval_plan(&w->set, v, n, del, &w->plan);
    if (del) {
        if (w->plan.removed != 0) {
            u->op = w->plan.count == 0 ? STORE_UPDATE_DELETE : STORE_UPDATE_WRITE;
        }
    } else {
        u->op = STORE_UPDATE_WRITE;
    }
    if (u->op != STORE_UPDATE_WRITE) {
        return;
    }
    u->nbytes = w->plan.size > UINT32_MAX ? UINT32_MAX : (uint32_t)w->plan.size;
    u->type = STORE_TYPE_HASH;
    u->keep_expiry = true; /* changing fields keeps the key's TTL, as in Redis */
    u->new_item = !w->plan.in_place;
}

static void
hwrite_commit(void *ctx, const struct store_item_view *old, char *dst)
{
    struct hwrite *w = ctx;
    if (dst == NULL) {
        return;
    }
    if (old != NULL && dst == old->value) {
        hashval_apply_in_place(&w->set, old->value, dst);
        return;
    }
    hashval_apply(&w->set, old != NULL ? old->value : NULL, old != NULL ? old->nbytes : 0,
                  w->mode == HW_DEL, &w->plan, dst);
}

/* Carry out w on the key argv[1]; false when an error was answered. */
static bool
hwrite_run(struct resp_exec *x, struct hwrite *w)
{
    struct store_key k;
    resp_key(x, &k, x->argv[1]);
    enum store_rc rc = store_update(x->store, &k, hwrite_decide, hwrite_commit, w);
    if (rc != STORE_OK) {
        resp_reply_err_store(x, rc, x->argv[1].len);
        return false;
    }
    static const char *const errs[] = {
        [HW_WRONGTYPE] = RESP_ERR_WRONGTYPE,
        [HW_NOT_INT] = "ERR hash value is not an integer",
        [HW_OVERFLOW] = "ERR increment or decrement would overflow",
        [HW_NOT_FLOAT] = "ERR hash value is not a float",
        [HW_NAN] = "ERR increment would produce NaN or Infinity",
    };
    if (w->rc != HW_OK && w->rc != HW_EXISTS) {
        resp_reply_err(x, errs[w->rc]);
        return false;
    }
    return true;
}

/* HSET and HMSET: pairs from argv[2]. */
static void
hset_generic(struct resp_exec *x, bool hmset)
{
    if (x->argc % 2 != 0) {
        resp_reply_err_arity(x, x->cmd->name);
        return;
    }
    METRIC_INC(x->m, cmd_set);
    struct hwrite w = {.mode = HW_SET};
    if (!fields_of(x, &w.set, 2, 2)) {
        return;
    }
    if (hwrite_run(x, &w)) {
        if (hmset) {
            resp_reply_ok(x);
        } else {
            resp_reply_int(x, (int64_t)w.plan.added);
        }
    }
    hashval_set_fini(&w.set);
}

void
resp_cmd_hset(struct resp_exec *x)
{
    hset_generic(x, false);
}

void
resp_cmd_hmset(struct resp_exec *x)
{
    hset_generic(x, true);
}

void
resp_cmd_hsetnx(struct resp_exec *x)
{
    METRIC_INC(x->m, cmd_set);
    struct hwrite w = {.mode = HW_SETNX};
    hashval_set_init(&w.set, 1);
    hashval_set_add(&w.set, x->argv[2], x->argv[3]);
    if (hwrite_run(x, &w)) {
        resp_reply_int(x, w.rc == HW_EXISTS ? 0 : 1);
    }
    hashval_set_fini(&w.set);
}

void
resp_cmd_hdel(struct resp_exec *x)
{
    struct hwrite w = {.mode = HW_DEL};
    if (!fields_of(x, &w.set, 2, 1)) {
        return;
    }
    if (hwrite_run(x, &w)) {
        resp_reply_int(x, (int64_t)w.plan.removed);
    }
    hashval_set_fini(&w.set);
}

void
resp_cmd_hincrby(struct resp_exec *x)
{
    struct hwrite w = {.mode = HW_INCR};
    if (!resp_arg_i64(x->argv[3], &w.delta)) {
        resp_reply_err(x, RESP_ERR_NOT_INT);
        return;
    }
    char text[24];
    w.text = text;
    hashval_set_init(&w.set, 1);
    hashval_set_add(&w.set, x->argv[2], bstr_of(NULL, 0));
    if (hwrite_run(x, &w)) {
        resp_reply_int(x, w.value);
    }
    hashval_set_fini(&w.set);
}

void
resp_cmd_hincrbyfloat(struct resp_exec *x)
{
    struct hwrite w = {.mode = HW_INCRF};
    if (!resp_parse_ld(x->argv[3].data, x->argv[3].len, &w.fdelta)) {
        resp_reply_err(x, RESP_ERR_NOT_FLOAT);
        return;
    }
    if (isnan(w.fdelta) || isinf(w.fdelta)) {
        resp_reply_err(x, "ERR value is NaN or Infinity");
        return;
    }
    w.text = malloc(RESP_LD_CHARS); /* 5 KiB: off the stack; not a hot command */
    if (w.text == NULL) {
        resp_reply_err(x, RESP_ERR_OOM);
        return;
    }
    hashval_set_init(&w.set, 1);
    hashval_set_add(&w.set, x->argv[2], bstr_of(NULL, 0));
    if (hwrite_run(x, &w)) {
        resp_reply_bulk(x, w.text, w.text_len);
    }
    hashval_set_fini(&w.set);
    free(w.text);
}
