/*
 * resp_keys: Redis's keyspace commands over the shared keyspace: DEL,
 * UNLINK, EXISTS, TOUCH, TYPE (string or hash), the EXPIRE and TTL
 * families, PERSIST, KEYS, SCAN, RANDOMKEY, each in the connection's
 * database (DBSIZE, FLUSHALL, FLUSHDB and the rest are in resp_db.c).
 * They act on keys of every type (store reads with any_type).
 *
 * Deadlines are Unix milliseconds, as Redis keeps them; a key stored by
 * memcached with a relative expiry reads back with its second-resolution
 * deadline. KEYS and SCAN walk the store a slice at a time (store_scan),
 * copying keys out under each shard lock and matching the pattern after,
 * so that no pattern, however slow, runs under a lock.
 *
 * Error texts and argument rules follow Redis 7.0's expire.c and db.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd_count.h"
#include "cmd/resp_internal.h"
#include "stashd/util/glob.h"
#include "cmd/resp_arg.h"
#include "cmd/resp_reply.h"
#include "stashd/cmd/hotkeys.h"
#include "stashd/store/store.h"
#include "stashd/util/metrics.h"
#include "stashd/util/num.h"
#include "stashd/util/options.h"

/* Reads of a key of any type. */
static const struct store_get_opts any_type = {.any_type = true};

static void
on_type(void *ctx, const struct store_item_view *v)
{
    *(int *)ctx = v->type;
}

/* The key's type (enum store_type), or -1 when it does not exist. */
static int
type_of(struct resp_exec *x, struct bstr key)
{
    struct store_key k;
    resp_key(x, &k, key);
    int type = -1;
    (void)store_get(x->store, &k, &any_type, on_type, &type, NULL);
    return type;
}

/* DEL and UNLINK (freeing is O(1) either way). */
void
resp_cmd_del(struct resp_exec *x)
{
    int64_t n = 0;
    for (size_t i = 1; i < x->argc; i++) {
        struct store_key k;
        resp_key(x, &k, x->argv[i]);
        if (store_delete(x->store, &k, 0) == STORE_OK) {
            METRIC_INC(x->m, delete_hits);
            n++;
        } else {
            METRIC_INC(x->m, delete_misses);
        }
    }
    resp_reply_int(x, n);
}

void
resp_cmd_exists(struct resp_exec *x)
{
    int64_t n = 0;
    for (size_t i = 1; i < x->argc; i++) {
        n += type_of(x, x->argv[i]) >= 0 ? 1 : 0;
    }
    resp_reply_int(x, n);
}

/* TOUCH: how many of the keys exist. Each is read as GET reads it, so it
 * counts as accessed (its CLOCK bit, its idle time), as a hit or a miss,
 * and for the hot keys. */
void
resp_cmd_touch(struct resp_exec *x)
{
    int64_t n = 0;
    for (size_t i = 1; i < x->argc; i++) {
        struct store_key k;
        resp_key(x, &k, x->argv[i]);
        enum store_miss miss = STORE_MISS_NONE;
        int type = -1;
        enum store_rc rc = store_get(x->store, &k, &any_type, on_type, &type, &miss);
        hotkeys_note(x->s->hot, k.data, k.len, k.hash);
        cmd_count_read(x->m, false, rc);
        if (rc == STORE_OK) {
            n++;
        } else {
            cmd_count_miss_reason(x->m, miss);
        }
    }
    resp_reply_int(x, n);
}

void
resp_cmd_type(struct resp_exec *x)
{
    static const char *const names[] = {[STORE_TYPE_STRING] = "string", [STORE_TYPE_HASH] = "hash"};
    int type = type_of(x, x->argv[1]);
    resp_reply_simple(x, type >= 0 ? names[type] : "none");
}

/* --- EXPIRE family ----------------------------------------------------------------- */

enum { EXP_NX = 1, EXP_XX = 2, EXP_GT = 4, EXP_LT = 8 };

struct expire {
    unsigned flags;
    int64_t when; /* Unix ms */
    int64_t now;
    int64_t result;
};

static void
expire_decide(void *ctx, const struct store_item_view *old, struct store_update *u)
{
    struct expire *e = ctx;
    e->result = 0;
    if (old == NULL) {
        return;
    }
    int64_t cur = old->expire_ms != 0 ? old->expire_ms : -1;
    if ((e->flags & EXP_NX) && cur != -1) {
        return;
    }
    if ((e->flags & EXP_XX) && cur == -1) {
        return;
    }
    /* No expiry counts as infinite: GT never beats it, LT always does. */
    if ((e->flags & EXP_GT) && (e->when <= cur || cur == -1)) {
        return;
    }
    if ((e->flags & EXP_LT) && cur != -1 && e->when >= cur) {
        return;
    }
    e->result = 1;
    if (e->when <= e->now) {
        u->op = STORE_UPDATE_DELETE; /* already past: Redis deletes the key */
    } else {
        u->op = STORE_UPDATE_EXPIRE;
        u->expire_ms = e->when;
    }
}

/* expireGenericCommand: basetime 0 for the AT forms, now for relative
 * ones; secs for the second-unit ones. */
static void
expire_generic(struct resp_exec *x, bool relative, bool secs)
{
    struct expire e = {0};
    bool nx = false, xx = false, gt = false, lt = false;
    for (size_t j = 3; j < x->argc; j++) {
        struct bstr a = x->argv[j];
        if (resp_arg_is(a, "nx")) {
            nx = true;
        } else if (resp_arg_is(a, "xx")) {
            xx = true;
        } else if (resp_arg_is(a, "gt")) {
            gt = true;
        } else if (resp_arg_is(a, "lt")) {
            lt = true;
        } else {
            const char *nul = memchr(a.data, '\0', a.len);
            int n = (int)(nul != NULL ? (size_t)(nul - a.data) : a.len);
            resp_reply_errf(x, "ERR Unsupported option %.*s", n > 256 ? 256 : n, a.data);
            return;
        }
    }
    if (nx && (xx || gt || lt)) {
        resp_reply_err(x, "ERR NX and XX, GT or LT options at the same time are not compatible");
        return;
    }
    if (gt && lt) {
        resp_reply_err(x, "ERR GT and LT options at the same time are not compatible");
        return;
    }
    e.flags = (nx ? EXP_NX : 0) | (xx ? EXP_XX : 0) | (gt ? EXP_GT : 0) | (lt ? EXP_LT : 0);
    int64_t when;
    if (!resp_arg_i64(x->argv[2], &when)) {
        resp_reply_err(x, RESP_ERR_NOT_INT);
        return;
    }
    if (secs) {
        if (when > INT64_MAX / 1000 || when < INT64_MIN / 1000) {
            resp_reply_errf(x, "ERR invalid expire time in '%s' command", x->cmd->name);
            return;
        }
        when *= 1000;
    }
    e.now = store_now_ms();
    int64_t base = relative ? e.now : 0;
    if (when > INT64_MAX - base) {
        resp_reply_errf(x, "ERR invalid expire time in '%s' command", x->cmd->name);
        return;
    }
    e.when = when + base;
    struct store_key k;
    resp_key(x, &k, x->argv[1]);
    enum store_rc rc = store_update(x->store, &k, expire_decide, NULL, &e);
    METRIC_INC(x->m, cmd_touch);
    if (rc != STORE_OK) {
        resp_reply_err_store(x, rc, x->argv[1].len);
        return;
    }
    if (e.result) {
        METRIC_INC(x->m, touch_hits);
    } else {
        METRIC_INC(x->m, touch_misses);
    }
    resp_reply_int(x, e.result);
}

void
resp_cmd_expire(struct resp_exec *x)
{
    expire_generic(x, true, true);
}

void
resp_cmd_pexpire(struct resp_exec *x)
{
    expire_generic(x, true, false);
}

void
resp_cmd_expireat(struct resp_exec *x)
{
    expire_generic(x, false, true);
}

void
resp_cmd_pexpireat(struct resp_exec *x)
{
    expire_generic(x, false, false);
}

struct ttl {
    bool found;
    int64_t expire_ms;
};

static void
on_ttl(void *ctx, const struct store_item_view *v)
{
    struct ttl *t = ctx;
    t->found = true;
    t->expire_ms = v->expire_ms;
}

/* ttlGenericCommand: -2 no key, -1 no expiry, else the time left (or the
 * deadline), never negative, seconds rounded to the nearest. */
static void
ttl_generic(struct resp_exec *x, bool ms, bool abs)
{
    struct ttl t = {0};
    struct store_key k;
    resp_key(x, &k, x->argv[1]);
    (void)store_get(x->store, &k, &any_type, on_ttl, &t, NULL);
    if (!t.found) {
        resp_reply_int(x, -2);
        return;
    }
    if (t.expire_ms == 0) {
        resp_reply_int(x, -1);
        return;
    }
    int64_t v = abs ? t.expire_ms : t.expire_ms - store_now_ms();
    if (v < 0) {
        v = 0;
    }
    resp_reply_int(x, ms ? v : (v + 500) / 1000);
}

void
resp_cmd_ttl(struct resp_exec *x)
{
    ttl_generic(x, false, false);
}

void
resp_cmd_pttl(struct resp_exec *x)
{
    ttl_generic(x, true, false);
}

void
resp_cmd_expiretime(struct resp_exec *x)
{
    ttl_generic(x, false, true);
}

void
resp_cmd_pexpiretime(struct resp_exec *x)
{
    ttl_generic(x, true, true);
}

static void
persist_decide(void *ctx, const struct store_item_view *old, struct store_update *u)
{
    int64_t *result = ctx;
    *result = 0;
    if (old != NULL && old->expire_ms != 0) {
        *result = 1;
        u->op = STORE_UPDATE_EXPIRE;
        u->expire_ms = 0;
    }
}

void
resp_cmd_persist(struct resp_exec *x)
{
    int64_t result = 0;
    struct store_key k;
    resp_key(x, &k, x->argv[1]);
    enum store_rc rc = store_update(x->store, &k, persist_decide, NULL, &result);
    if (rc != STORE_OK) {
        resp_reply_err_store(x, rc, x->argv[1].len);
        return;
    }
    resp_reply_int(x, result);
}

/* --- KEYS, SCAN ---------------------------------------------------------------------- */

/* Items a KEYS slice gathers before matching them. */
#define KEYS_SLICE 1024

/*
 * Keys copied out of the store under its locks, as [length byte][key]
 * records (keys are at most 250 bytes), to be matched after. Only
 * KEYS/SCAN allocate this, never the GET/SET path.
 */
struct gather {
    struct buf raw;
    int err;
    int type; /* SCAN TYPE: only keys of this enum store_type; -1 every key */
};

static void
on_gather(void *ctx, const struct store_item_view *v)
{
    struct gather *g = ctx;
    if (g->type != -1 && v->type != g->type) {
        return;
    }
    unsigned char n = (unsigned char)v->nkey;
    int rc = buf_append(&g->raw, &n, 1);
    rc = rc ? rc : buf_append(&g->raw, v->key, v->nkey);
    if (rc != 0 && g->err == 0) {
        g->err = rc;
    }
}

/* Move the gathered keys that match into x->c->scratch as bulk strings;
 * returns how many. pat NULL matches every key. */
static size_t
emit_matching(struct resp_exec *x, struct gather *g, const struct bstr *pat)
{
    size_t count = 0;
    if (buf_readable(&g->raw) == 0) {
        return 0;
    }
    const char *p = g->raw.data + g->raw.rpos;
    const char *end = p + buf_readable(&g->raw);
    while (p < end) {
        size_t n = (unsigned char)*p++;
        if (pat == NULL || glob_match(pat->data, pat->len, p, n, false)) {
            resp_reply_fail(x, resp_bulk(&x->c->scratch, p, n));
            count++;
        }
        p += n;
    }
    buf_reset(&g->raw);
    return count;
}

/* The array header, then the bulks gathered in scratch. */
static void
reply_scratch(struct resp_exec *x, size_t count)
{
    resp_reply_array(x, count);
    struct buf *b = &x->c->scratch;
    if (buf_readable(b) != 0) {
        resp_reply_raw(x, b->data + b->rpos, buf_readable(b));
    }
    buf_reset(b);
    buf_shrink(b, 64 * 1024);
}

void
resp_cmd_keys(struct resp_exec *x)
{
    struct bstr pat = x->argv[1];
    const struct bstr *pp = pat.len == 1 && pat.data[0] == '*' ? NULL : &pat;
    struct gather g = {.err = 0, .type = -1};
    buf_init(&g.raw);
    buf_reset(&x->c->scratch);
    size_t count = 0;
    uint64_t cursor = 0;
    do {
        cursor = store_scan(x->store, x->db, cursor, KEYS_SLICE, on_gather, &g);
        count += emit_matching(x, &g, pp);
    } while (cursor != 0 && g.err == 0);
    resp_reply_fail(x, g.err);
    buf_fini(&g.raw);
    reply_scratch(x, count);
}

void
resp_cmd_scan(struct resp_exec *x)
{
    uint64_t cursor;
    if (!resp_arg_cursor(x->argv[1], &cursor)) {
        resp_reply_err(x, "ERR invalid cursor");
        return;
    }
    int64_t count = 10;
    const struct bstr *pat = NULL;
    int type = -1; /* TYPE: -1 any, else an enum store_type; -2 a type with no keys */
    for (size_t i = 2; i < x->argc;) {
        size_t left = x->argc - i;
        if (resp_arg_is(x->argv[i], "count") && left >= 2) {
            if (!resp_arg_i64(x->argv[i + 1], &count)) {
                resp_reply_err(x, RESP_ERR_NOT_INT);
                return;
            }
            if (count < 1) {
                resp_reply_err(x, RESP_ERR_SYNTAX);
                return;
            }
        } else if (resp_arg_is(x->argv[i], "match") && left >= 2) {
            pat = &x->argv[i + 1];
            if (pat->len == 1 && pat->data[0] == '*') {
                pat = NULL;
            }
        } else if (resp_arg_is(x->argv[i], "type") && left >= 2) {
            type = resp_arg_is(x->argv[i + 1], "string") ? STORE_TYPE_STRING
                   : resp_arg_is(x->argv[i + 1], "hash") ? STORE_TYPE_HASH
                                                         : -2;
        } else {
            resp_reply_err(x, RESP_ERR_SYNTAX);
            return;
        }
        i += 2;
    }
    struct gather g = {.err = 0, .type = type};
    buf_init(&g.raw);
    buf_reset(&x->c->scratch);
    uint64_t next = store_scan(x->store, x->db, cursor, (uint64_t)count, on_gather, &g);
    size_t n = emit_matching(x, &g, pat);
    resp_reply_fail(x, g.err);
    buf_fini(&g.raw);
    char num[24];
    size_t len = num_u64_to_dec(next, num);
    resp_reply_array(x, 2);
    resp_reply_bulk(x, num, len);
    reply_scratch(x, n);
}

static void
on_key_bulk(void *ctx, const struct store_item_view *v)
{
    struct resp_exec *x = ctx;
    resp_reply_bulk(x, v->key, v->nkey);
}

void
resp_cmd_randomkey(struct resp_exec *x)
{
    if (store_random(x->store, x->db, resp_conn_rand(x->c), on_key_bulk, x) != STORE_OK) {
        resp_reply_null(x);
    }
}

/* HOTKEYS [N]: stashd's own: the N (default 10, at most 100) most read
 * keys, estimated from the workers' sampled sketches, as key -> count. */
void
resp_cmd_hotkeys(struct resp_exec *x)
{
    uint64_t n = 10;
    if (x->argc > 2) {
        resp_reply_err(x, "ERR syntax error");
        return;
    }
    if (x->argc == 2 && (!num_parse_u64(x->argv[1].data, x->argv[1].len, &n) || n == 0)) {
        resp_reply_err(x, RESP_ERR_NOT_INT);
        return;
    }
    if (n > 100) {
        n = 100;
    }
    struct hotkeys_entry *top = calloc((size_t)n, sizeof(*top));
    if (top == NULL) {
        resp_reply_err(x, "ERR out of memory");
        return;
    }
    const struct cmd_env *env = x->s->env;
    size_t k = env->hotkeys != NULL ? hotkeys_top(env->hotkeys, env->nhotkeys, top, (size_t)n) : 0;
    resp_reply_map(x, k);
    for (size_t i = 0; i < k; i++) {
        resp_reply_bulk(x, top[i].key, top[i].len);
        resp_reply_int(x, (int64_t)top[i].count);
    }
    free(top);
}
