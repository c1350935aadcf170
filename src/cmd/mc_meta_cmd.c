/*
 * mc_meta_cmd: the semantics of memcached's meta commands (see
 * mc_meta_cmd.h), after memcached 1.6.18's proto_text.c and checked
 * against the real server (tests/integration/test_meta.py compares bytes).
 *
 * Reply lines are built in a stack buffer (bounded: every flag letter
 * appears at most once, see LINE_CAP) and appended once, with the value,
 * while the item is held; nothing is allocated per request.
 *
 * Stale-while-revalidate and stampede protection live in three bits of
 * the item (store.h, STORE_META_*):
 *
 *   md <key> I [T<ttl>]   marks the item stale (X), new cas, win cleared
 *   mg <key> ...          on a stale item: X, and W for the first client
 *                         (which then owns the recache); Z for the others
 *   mg <key> N<ttl>       on a miss, links an empty item and gives its
 *                         creator W; others get Z until a set replaces it
 *   mg <key> R<ttl>       W for the first client to see less than <ttl>
 *                         seconds left, Z for the others
 *   ms <key> .. I C<cas>  with an older cas, stores the value but keeps
 *                         it stale (so a late writer cannot clear X)
 *
 * The win is decided under the shard lock, so exactly one client gets W.
 *
 * Flags are answered in the order the request lists them, and those that
 * change the item (T, N) take effect where they stand: "mg k t T30"
 * reports the old TTL, "mg k T30 t" the new one, as memcached does.
 */
#include "cmd/mc_meta_cmd.h"
#include "cmd/mc_core.h"
#include "cmd/cmd_count.h"
#include "stashd/cmd/hotkeys.h"

#include <string.h>

#include "stashd/store/store.h"
#include "stashd/util/buf.h"
#include "stashd/util/clock.h"
#include "stashd/util/metrics.h"
#include "stashd/util/num.h"

/*
 * Longest reply line: "VA " and a length (13), each flag letter at most
 * once: k with a base64 key and " b" (350), O (33), c (22), s t f l (12
 * each), h (3), then " Z X W" and "\r\n" (8). Under 512; twice that for
 * margin.
 */
#define LINE_CAP 1024

struct line {
    size_t n;
    char buf[LINE_CAP];
};

static void
put(struct line *l, const void *p, size_t n)
{
    if (l->n + n <= LINE_CAP) { /* always true: see LINE_CAP */
        memcpy(l->buf + l->n, p, n);
        l->n += n;
    }
}

#define PUT_LIT(l, s) put((l), (s), sizeof(s) - 1)

static void
put_u64(struct line *l, uint64_t v)
{
    char tmp[24];
    put(l, tmp, num_u64_to_dec(v, tmp));
}

/* " <c><number>" */
static void
put_flag_u64(struct line *l, char c, uint64_t v)
{
    char hdr[2] = {' ', c};
    put(l, hdr, 2);
    put_u64(l, v);
}

/* " k<key>", base64 with " b" after it for a binary key. */
static void
put_key(struct line *l, const char *key, size_t nkey, bool binary)
{
    PUT_LIT(l, " k");
    if (!binary) {
        put(l, key, nkey);
        return;
    }
    char enc[MC_META_B64_MAX];
    put(l, enc, mc_meta_base64_encode(key, nkey, enc));
    PUT_LIT(l, " b");
}

/* " t<seconds left>", or " t-1" for no expiry. memcached subtracts in
 * 32 bits, so a TTL just set into the past wraps; so does this. */
static void
put_ttl(struct line *l, uint32_t exptime, uint32_t now)
{
    if (exptime == 0) {
        PUT_LIT(l, " t-1");
    } else {
        put_flag_u64(l, 't', (uint32_t)(exptime - now));
    }
}

/* The O and k flags only: what a miss or a status-only reply carries. */
static void
put_opaque_key(struct line *l, const struct mc_meta_req *r)
{
    for (unsigned i = 0; i < r->nflags; i++) {
        struct bstr t = r->flags[i];
        if (t.data[0] == 'O') {
            PUT_LIT(l, " ");
            put(l, t.data, t.len);
        } else if (t.data[0] == 'k') {
            put_key(l, r->key.data, r->key.len, r->key_binary);
        }
    }
}

static void
append(struct buf *out, const void *p, size_t n, int *err)
{
    int rc = buf_append(out, p, n);
    if (rc != 0 && *err == 0) {
        *err = rc;
    }
}

/* The line, "\r\n" ended, then (when value is set) the value and "\r\n":
 * one reservation. */
static void
emit(struct buf *out, struct line *l, const char *value, size_t nvalue, bool with_value, int *err)
{
    PUT_LIT(l, "\r\n");
    size_t total = l->n + (with_value ? nvalue + 2 : 0);
    int rc = buf_reserve(out, total, SIZE_MAX);
    if (rc != 0) {
        if (*err == 0) {
            *err = rc;
        }
        return;
    }
    char *p = out->data + out->wpos;
    memcpy(p, l->buf, l->n);
    p += l->n;
    if (with_value) {
        if (nvalue != 0) {
            memcpy(p, value, nvalue);
        }
        memcpy(p + nvalue, "\r\n", 2);
    }
    out->wpos += total;
}

static uint32_t
rel(int32_t exptime)
{
    return clock_exptime_to_rel(exptime);
}

struct exec {
    struct session *s;
    struct store *store;
    struct metrics *m;
    struct buf *out;
    int *err;
    size_t *unsent; /* the text step's mark (session_call.unsent) */
    const struct mc_meta_req *r;
    uint32_t now;
};

/* --- mg ------------------------------------------------------------------ */

struct mg_ctx {
    struct exec *x;
    bool ttl_set;
    bool long_opaque; /* stopped at an O token over the limit */
    uint32_t nbytes;  /* the value's length, for watch */
};

static bool
opaque_too_long(struct bstr t)
{
    return t.data[0] == 'O' && t.len > MC_META_OPAQUE_MAX;
}

/* Under the shard lock: the flags in order, then Z, X and W. */
static void
mg_hit(void *ctx, struct store_meta *m)
{
    struct mg_ctx *c = ctx;
    struct exec *x = c->x;
    const struct mc_meta_req *r = x->r;
    const struct store_item_view *v = store_meta_view(m);
    bool created = store_meta_created(m);
    unsigned state = store_meta_state(m);
    bool won = false;
    struct line l;
    l.n = 0;
    c->nbytes = v->nbytes;
    if (r->value) {
        PUT_LIT(&l, "VA ");
        put_u64(&l, v->nbytes);
    } else {
        PUT_LIT(&l, "HD");
    }
    for (unsigned i = 0; i < r->nflags; i++) {
        struct bstr t = r->flags[i];
        switch (t.data[0]) {
        case 'T':
            c->ttl_set = true;
            store_meta_set_exptime(m, rel(r->ttl));
            break;
        case 'N':
            if (created) {
                store_meta_set_exptime(m, rel(r->vivify_ttl));
                won = true;
            }
            break;
        case 'R':
            /* Less than the recache TTL left, and nobody has the win yet. */
            if (!(state & STORE_META_WIN_SENT) && !created && v->exptime != 0 &&
                v->exptime < rel(r->recache_ttl)) {
                won = true;
            }
            break;
        case 's':
            put_flag_u64(&l, 's', v->nbytes);
            break;
        case 't':
            put_ttl(&l, v->exptime, x->now);
            break;
        case 'c':
            put_flag_u64(&l, 'c', v->cas);
            break;
        case 'f':
            put_flag_u64(&l, 'f', v->flags);
            break;
        case 'l':
            put_flag_u64(&l, 'l', (uint32_t)(x->now - v->atime));
            break;
        case 'h':
            PUT_LIT(&l, " h");
            put(&l, v->fetched ? "1" : "0", 1);
            break;
        case 'O':
            if (opaque_too_long(t)) {
                /* memcached notices here: what the flags before did stays,
                 * the win is not handed out, the reply is the error */
                c->long_opaque = true;
                return;
            }
            PUT_LIT(&l, " ");
            put(&l, t.data, t.len);
            break;
        case 'k':
            put_key(&l, v->key, v->nkey, (state & STORE_META_KEY_BINARY) != 0);
            break;
        default:
            break;
        }
    }
    /* Z before X and W, so that a client never sees W with Z. */
    if (state & STORE_META_WIN_SENT) {
        PUT_LIT(&l, " Z");
    }
    if (state & STORE_META_STALE) {
        PUT_LIT(&l, " X");
        if (!(state & STORE_META_WIN_SENT)) {
            won = true; /* stale and nobody recaching: this client does */
        }
    }
    if (won) {
        PUT_LIT(&l, " W");
        store_meta_set_state(m, STORE_META_WIN_SENT, 0);
    }
    if (r->value && !r->vivify && session_direct(x->s, v->nbytes)) {
        /* As a text get: the line, then the value from item memory with
         * the replies before it when the socket takes them (not with N,
         * whose item room holds a segment head). */
        emit(x->out, &l, NULL, 0, false, x->err);
        int rc = *x->err != 0 ? 0 : session_out_value(x->s, x->unsent, v->value, v->nbytes);
        rc = rc != 0 ? rc : buf_append(x->out, "\r\n", 2);
        if (rc != 0 && *x->err == 0) {
            *x->err = rc;
        }
        return;
    }
    emit(x->out, &l, v->value, v->nbytes, r->value, x->err);
}

static void
cmd_mg(struct exec *x, const struct store_key *k)
{
    const struct mc_meta_req *r = x->r;
    /* memcached delays the LRU bump of a request that reads or sets the
     * access state (h, l, T, N, R) until after its reply; either way the
     * reply sees the state from before this access. */
    struct store_meta_opts o = {.vivify = r->vivify, .no_bump = r->no_update};
    struct mg_ctx c = {.x = x};
    enum store_miss miss = STORE_MISS_NONE;
    enum store_rc rc = store_meta(x->store, k, &o, mg_hit, &c, &miss);
    hotkeys_note(x->s->hot, k->data, k->len, k->hash);
    if (__builtin_expect(x->s->want & (STATS_WANT_FETCHERS | STATS_WANT_DETAIL), 0)) {
        mc_core_note_get(x->s, k, miss, rc == STORE_OK, c.nbytes, true);
    }
    if (c.long_opaque) {
        append(x->out, mc_meta_error_text(MC_META_ERR_OPAQUE).data,
               mc_meta_error_text(MC_META_ERR_OPAQUE).len, x->err);
        return; /* memcached counts nothing then */
    }
    if (rc == STORE_OK) {
        if (c.ttl_set) {
            METRIC_INC(x->m, cmd_touch);
            METRIC_INC(x->m, touch_hits);
        } else {
            METRIC_INC(x->m, cmd_get);
            METRIC_INC(x->m, get_hits);
        }
        return;
    }
    METRIC_INC(x->m, cmd_get);
    METRIC_INC(x->m, get_misses);
    cmd_count_miss_reason(x->m, miss); /* also when vivify found no room: a miss, as memcached */
    if (r->long_opaque) {
        append(x->out, mc_meta_error_text(MC_META_ERR_OPAQUE).data,
               mc_meta_error_text(MC_META_ERR_OPAQUE).len, x->err);
        return;
    }
    if (r->noreply) {
        return; /* q hides EN */
    }
    struct line l;
    l.n = 0;
    PUT_LIT(&l, "EN");
    put_opaque_key(&l, r);
    emit(x->out, &l, NULL, 0, false, x->err);
}

/* --- ms ------------------------------------------------------------------ */

static enum store_mode
ms_mode(const struct mc_meta_req *r)
{
    enum store_mode mode;
    switch (r->mode) {
    case 'E':
        return STORE_MODE_ADD;
    case 'A':
        return STORE_MODE_APPEND;
    case 'P':
        return STORE_MODE_PREPEND;
    case 'R':
        mode = STORE_MODE_REPLACE;
        break;
    default: /* 'S' or none */
        mode = STORE_MODE_SET;
        break;
    }
    /* A cas turns set and replace into a compare-and-swap. */
    return r->has_cas ? STORE_MODE_CAS : mode;
}

static void
cmd_ms(struct exec *x, const struct store_key *k)
{
    const struct mc_meta_req *r = x->r;
    enum store_mode mode = ms_mode(r);
    bool joins = mode == STORE_MODE_APPEND || mode == STORE_MODE_PREPEND;
    struct store_set_req sr = {
        .mode = mode,
        .value = r->data.data,
        .nbytes = r->nbytes,
        .flags = r->client_flags,
        .exptime = r->has_ttl ? rel(r->ttl) : 0,
        /* add ignores a cas (memcached stores it on a miss); append and
         * prepend compare it. */
        .cas = mode == STORE_MODE_ADD || !r->has_cas ? 0 : r->cas,
        .stale_ok = r->stale && mode == STORE_MODE_CAS,
        /* memcached's joined item is a new one, without the binary mark */
        .key_binary = r->key_binary && !joins,
    };
    uint64_t cas = 0;
    /* memcached's ms drops the old item whatever the mode when a store
     * fails for size or memory */
    enum store_rc rc = mc_core_store(x->s, k, &sr, true, &cas);
    struct line l;
    l.n = 0;
    switch (rc) {
    case STORE_OK:
        if (r->noreply) {
            return;
        }
        PUT_LIT(&l, "HD");
        break;
    case STORE_EXISTS:
        PUT_LIT(&l, "EX");
        break;
    case STORE_NOT_FOUND:
        PUT_LIT(&l, "NF");
        break;
    case STORE_NOT_STORED:
        PUT_LIT(&l, "NS");
        break;
    case STORE_TOO_LARGE:
    case STORE_NO_MEMORY:
    default: {
        /* memcached fails the allocation before reading the value: the
         * old item went (mc_core_store), so no stale value survives. */
        static const char oom[] = "SERVER_ERROR out of memory storing object\r\n";
        struct bstr msg = rc == STORE_TOO_LARGE
                              ? mc_meta_error_text(MC_META_ERR_TOO_LARGE)
                              : (struct bstr){.data = oom, .len = sizeof(oom) - 1};
        append(x->out, msg.data, msg.len, x->err);
        return;
    }
    }
    /* O, k and c, in order (c is the stored item's cas, 0 if none). */
    for (unsigned i = 0; i < r->nflags; i++) {
        struct bstr t = r->flags[i];
        if (t.data[0] == 'O') {
            PUT_LIT(&l, " ");
            put(&l, t.data, t.len);
        } else if (t.data[0] == 'k') {
            put_key(&l, r->key.data, r->key.len, r->key_binary);
        } else if (t.data[0] == 'c') {
            put_flag_u64(&l, 'c', rc == STORE_OK ? cas : 0);
        }
    }
    emit(x->out, &l, NULL, 0, false, x->err);
}

/* --- md ------------------------------------------------------------------ */

struct md_ctx {
    struct exec *x;
    bool exists;  /* cas mismatch */
    bool deleted; /* removed (else invalidated) */
};

static void
md_hit(void *ctx, struct store_meta *m)
{
    struct md_ctx *c = ctx;
    const struct mc_meta_req *r = c->x->r;
    if (r->has_cas && store_meta_view(m)->cas != r->cas) {
        c->exists = true;
        return;
    }
    /* A key of another type (a Redis hash) is deleted, even by md I:
     * memcached reads never see it, so there is no stale value to serve. */
    if (r->stale && store_meta_view(m)->type == STORE_TYPE_STRING) {
        /* Invalidate: keep the value, mark it stale, let the next reader
         * win the recache. */
        if (r->has_ttl) {
            store_meta_set_exptime(m, rel(r->ttl));
        }
        store_meta_set_state(m, STORE_META_STALE, STORE_META_WIN_SENT);
        store_meta_new_cas(m);
        return;
    }
    store_meta_delete(m);
    c->deleted = true;
}

static void
cmd_md(struct exec *x, const struct store_key *k)
{
    const struct mc_meta_req *r = x->r;
    struct store_meta_opts o = {.no_bump = true, .any_type = true};
    struct md_ctx c = {.x = x};
    enum store_rc rc = store_meta(x->store, k, &o, md_hit, &c, NULL);
    if (__builtin_expect(x->s->want & STATS_WANT_DETAIL, 0)) {
        mc_core_note_delete(x->s, k);
    }
    struct line l;
    l.n = 0;
    if (rc != STORE_OK || c.exists) {
        METRIC_INC(x->m, delete_misses);
        if (c.exists) {
            PUT_LIT(&l, "EX");
        } else {
            PUT_LIT(&l, "NF");
        }
    } else {
        if (c.deleted) {
            METRIC_INC(x->m, delete_hits);
        }
        if (r->noreply) {
            return;
        }
        PUT_LIT(&l, "HD");
    }
    put_opaque_key(&l, r);
    emit(x->out, &l, NULL, 0, false, x->err);
}

/* --- ma ------------------------------------------------------------------ */

static void
cmd_ma(struct exec *x, const struct store_key *k)
{
    const struct mc_meta_req *r = x->r;
    bool incr = !(r->mode == 'D' || r->mode == '-');
    /* memcached applies T and N while it writes the reply, in order, and
     * stops at an O token over the limit (answering that error after the
     * arithmetic is done): only the flags before it count. */
    unsigned nflags = r->nflags;
    for (unsigned i = 0; i < r->nflags; i++) {
        if (opaque_too_long(r->flags[i])) {
            nflags = i;
            break;
        }
    }
    /* A created item's expiry is what its T and N flags leave; an
     * existing one's what T leaves. */
    uint32_t new_exptime = 0;
    bool touch = false;
    for (unsigned i = 0; i < nflags; i++) {
        if (r->flags[i].data[0] == 'T') {
            new_exptime = rel(r->ttl);
            touch = true;
        } else if (r->flags[i].data[0] == 'N') {
            new_exptime = rel(r->vivify_ttl);
        }
    }
    uint32_t exptime = 0;
    bool created = false;
    struct store_arith_req ar = {
        .incr = incr,
        .delta = r->delta,
        .create = r->vivify,
        .initial = r->initial,
        .exptime = new_exptime,
        .cas = r->has_cas ? r->cas : 0,
        .touch = touch,
        .touch_exptime = touch ? rel(r->ttl) : 0,
        .exptime_out = &exptime,
        .created_out = &created,
    };
    uint64_t value = 0, cas = 0;
    enum store_rc rc = mc_core_arith(x->s, k, &ar, &value, &cas);
    struct line l;
    l.n = 0;
    bool long_opaque = nflags < r->nflags;
    switch (rc) {
    case STORE_OK:
        break;
    case STORE_NOT_FOUND:
        if (long_opaque) {
            break;
        }
        PUT_LIT(&l, "NF");
        put_opaque_key(&l, r);
        emit(x->out, &l, NULL, 0, false, x->err);
        return;
    case STORE_EXISTS:
        if (long_opaque) {
            break;
        }
        PUT_LIT(&l, "EX");
        put_opaque_key(&l, r);
        emit(x->out, &l, NULL, 0, false, x->err);
        return;
    case STORE_NON_NUMERIC: {
        static const char msg[] =
            "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n";
        append(x->out, msg, sizeof(msg) - 1, x->err);
        return;
    }
    default: {
        static const char msg[] = "SERVER_ERROR out of memory\r\n";
        append(x->out, msg, sizeof(msg) - 1, x->err);
        return;
    }
    }
    if (long_opaque) {
        append(x->out, mc_meta_error_text(MC_META_ERR_OPAQUE).data,
               mc_meta_error_text(MC_META_ERR_OPAQUE).len, x->err);
        return;
    }
    if (!created) {
        if (r->noreply) {
            return; /* q hides a hit's reply; memcached still answers a creation */
        }
    }
    char num[24];
    size_t nlen = num_u64_to_dec(value, num);
    if (r->value) {
        PUT_LIT(&l, "VA ");
        put_u64(&l, nlen);
    } else {
        PUT_LIT(&l, "HD");
    }
    for (unsigned i = 0; i < r->nflags; i++) {
        struct bstr t = r->flags[i];
        switch (t.data[0]) {
        case 'c':
            put_flag_u64(&l, 'c', cas);
            break;
        case 't':
            put_ttl(&l, exptime, x->now);
            break;
        case 'T':
            exptime = rel(r->ttl);
            break;
        case 'N':
            if (created) {
                exptime = rel(r->vivify_ttl);
            }
            break;
        case 'O':
            PUT_LIT(&l, " ");
            put(&l, t.data, t.len);
            break;
        case 'k':
            put_key(&l, r->key.data, r->key.len, r->key_binary);
            break;
        default:
            break;
        }
    }
    emit(x->out, &l, num, nlen, r->value, x->err);
}

/* --- me ------------------------------------------------------------------ */

static void
me_hit(void *ctx, struct store_meta *m)
{
    struct exec *x = ctx;
    const struct store_item_view *v = store_meta_view(m);
    struct line l;
    l.n = 0;
    PUT_LIT(&l, "ME ");
    if (store_meta_state(m) & STORE_META_KEY_BINARY) {
        char enc[MC_META_B64_MAX];
        put(&l, enc, mc_meta_base64_encode(v->key, v->nkey, enc));
    } else {
        put(&l, v->key, v->nkey);
    }
    /* memcached prints exp as now - exptime: minus the seconds left. */
    PUT_LIT(&l, " exp=");
    if (v->exptime == 0) {
        PUT_LIT(&l, "-1");
    } else {
        int32_t d = (int32_t)(x->now - v->exptime);
        if (d < 0) {
            PUT_LIT(&l, "-");
            put_u64(&l, (uint64_t)(-(int64_t)d));
        } else {
            put_u64(&l, (uint64_t)d);
        }
    }
    PUT_LIT(&l, " la=");
    put_u64(&l, (uint32_t)(x->now - v->atime));
    PUT_LIT(&l, " cas=");
    put_u64(&l, v->cas);
    if (v->fetched) {
        PUT_LIT(&l, " fetch=yes");
    } else {
        PUT_LIT(&l, " fetch=no");
    }
    PUT_LIT(&l, " cls=");
    put_u64(&l, store_meta_class(m));
    PUT_LIT(&l, " size=");
    put_u64(&l, store_meta_size(m));
    emit(x->out, &l, NULL, 0, false, x->err);
}

static void
cmd_me(struct exec *x, const struct store_key *k)
{
    struct store_meta_opts o = {.no_bump = true};
    METRIC_INC(x->m, cmd_meta);
    if (store_meta(x->store, k, &o, me_hit, x, NULL) != STORE_OK) {
        append(x->out, "EN\r\n", 4, x->err);
    }
}

/* --- the entry point -------------------------------------------------------- */

void
mc_meta_cmd_serve(struct session *s, const struct mc_text_req *line, struct mc_meta_outcome *o,
                  int *err, size_t *unsent)
{
    memset(o, 0, sizeof(*o));
    const struct mc_meta_req *r = &line->meta;
    struct exec x = {
        .s = s,
        .store = s->env->store,
        .m = s->metrics,
        .out = s->out,
        .err = err,
        .unsent = unsent,
        .r = r,
        .now = clock_now(),
    };
    switch (line->meta_rc) {
    case MC_META_NEED_MORE: /* mc_text_parse returns it as its own */
        break;
    case MC_META_TOO_LARGE: {
        /* As memcached: counted, the old value dropped, the value
         * swallowed, then the error. */
        struct store_key k;
        store_key_init_db(&k, r->key.data, r->key.len, store_db_phys(s->env->store, 0));
        mc_core_too_large(s, &k, true, true);
        o->consumed = line->consumed;
        o->swallow = r->swallow;
        o->due = MC_META_ERR_TOO_LARGE;
        return;
    }
    case MC_META_ERROR:
        o->error = true;
        o->consumed = line->consumed + r->extra;
        if (r->error_id == MC_META_ERR_CHUNK) {
            METRIC_INC(x.m, cmd_set); /* memcached counts the set it read */
        }
        if (r->swallow > 0) {
            o->swallow = r->swallow;
            o->due = r->error_id;
        } else {
            append(s->out, r->error.data, r->error.len, err);
        }
        return;
    case MC_META_OK:
        break;
    }
    o->consumed = line->consumed + r->extra;
    struct store_key k;
    if (r->cmd != MC_META_MN) {
        store_key_init_db(&k, r->key.data, r->key.len, store_db_phys(s->env->store, 0));
    }
    switch (r->cmd) {
    case MC_META_MG:
        cmd_mg(&x, &k);
        break;
    case MC_META_MS:
        cmd_ms(&x, &k);
        break;
    case MC_META_MD:
        cmd_md(&x, &k);
        break;
    case MC_META_MA:
        cmd_ma(&x, &k);
        break;
    case MC_META_ME:
        cmd_me(&x, &k);
        break;
    case MC_META_MN:
        append(s->out, "MN\r\n", 4, err);
        break;
    }
}
