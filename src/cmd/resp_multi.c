/*
 * resp_multi: Redis's transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
 *
 * Between MULTI and EXEC a request is checked as dispatch checks any
 * (name, arity, authentication: a refusal makes EXEC answer EXECABORT),
 * then copied into the connection's queue and answered QUEUED: its
 * arguments were views into the read buffer, which moves on. The queue
 * is one buffer of records (struct tx_rec, then the argument lengths,
 * then their bytes), kept between transactions, so a MULTI/EXEC of a few
 * commands allocates nothing once the connection has run one. It is
 * bounded (TX_MAX_CMDS commands, and the larger of TX_MIN_BYTES and four
 * times the largest request): past that the queue is dropped at once,
 * every further command is refused with the limit error, and EXEC
 * aborts.
 *
 * EXEC runs the queue as one step for every client of every protocol:
 * the shards of every key the queued commands name (the table's key
 * positions) and of every watched key are locked together, in shard
 * order (store_tx), and each command runs through the ordinary dispatch
 * under them, its reply appended in turn. A command that reads or writes
 * the whole keyspace (RESP_CMD_TX_ALL: KEYS, SCAN, FLUSHALL, SWAPDB, ...)
 * makes EXEC lock every shard. INFO, CONFIG, CLIENT and HOTKEYS
 * (RESP_CMD_TX_AFTER) touch no key but read store-wide statistics or wait
 * on other worker threads, which must not happen under shard locks: EXEC
 * runs them once the locks are dropped and puts their replies in their
 * places.
 *
 * Memory for the writes is made before the locks (store_tx's reserve,
 * estimated from the write commands' argument bytes); a write that finds
 * no room within the transaction fails with Redis's OOM error in EXEC's
 * reply, the other commands run (README "Transactions").
 *
 * WATCH records each key's version (store_key_version: live or not, its
 * sequence number, its expiry); EXEC compares them under its locks and
 * answers a null array, running nothing, when any differs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/resp_arg.h"
#include "cmd/resp_cmd.h"
#include "cmd/resp_internal.h"
#include "cmd/resp_reply.h"
#include "stashd/proto/resp.h"
#include "stashd/store/store.h"
#include "stashd/util/buf.h"
#include "stashd/util/options.h"

/* The queue's bounds: commands, and bytes (arguments and their records);
 * watched keys are bounded alike. The bytes stay below the worker's share
 * of the connection-buffer budget (net.h's NET_CONN_WORST is at least
 * 8 MiB), which counts the queue (session_held_bytes): one client meets
 * this limit's clear error before the budget would close it. */
#define TX_MAX_CMDS ((size_t)1 << 17)
#define TX_MIN_BYTES ((size_t)4 << 20)
/* Buffers larger than this are freed after a transaction. */
#define TX_KEEP_BYTES ((size_t)64 << 10)
/* Per key of a write, for the room EXEC makes: an item's header and
 * alignment at most. */
#define TX_ITEM_OVERHEAD 32

/* One queued command's record in the queue, followed by argc lengths
 * (uint32_t) and the arguments' bytes. */
struct tx_rec {
    uint32_t argc;
    uint32_t flags;            /* the command's and its row's RESP_CMD_* */
    int32_t first, last, step; /* its row's key positions */
    uint32_t bytes;            /* of the arguments */
};

struct tx_watch {
    uint8_t db; /* as the client numbers it (SWAPDB may remap it) */
    size_t off; /* the key's bytes in wkeys */
    uint32_t len;
    struct store_version v;
};

struct resp_tx {
    bool multi; /* between MULTI and EXEC/DISCARD */
    bool dirty; /* a command was refused while queueing: EXEC aborts */
    bool full;  /* the queue passed its bound (and was dropped) */
    size_t nq;  /* commands queued */
    struct buf q;
    struct tx_watch *w;
    size_t nw, wcap;
    struct buf wkeys;
    /* EXEC's working arrays, kept between transactions. */
    struct bstr *argv;
    size_t argv_cap;
    struct store_key *keys;
    size_t keys_cap;
};

static size_t
max_bytes(const struct resp_exec *x)
{
    size_t two = 2 * (size_t)x->s->env->opts->max_item_size + RESP_MAX_INLINE;
    return two > TX_MIN_BYTES ? two : TX_MIN_BYTES;
}

size_t
resp_tx_held(const struct resp_conn *c)
{
    const struct resp_tx *t = c->tx;
    if (t == NULL) {
        return 0;
    }
    return t->q.cap + t->wkeys.cap + t->wcap * sizeof(*t->w) + t->argv_cap * sizeof(*t->argv) +
           t->keys_cap * sizeof(*t->keys);
}

bool
resp_tx_queueing(const struct resp_conn *c)
{
    return c->tx != NULL && c->tx->multi;
}

static void
unwatch(struct resp_tx *t)
{
    t->nw = 0;
    buf_reset(&t->wkeys);
    if (t->wcap * sizeof(*t->w) > TX_KEEP_BYTES) {
        free(t->w);
        t->w = NULL;
        t->wcap = 0;
    }
    buf_shrink(&t->wkeys, TX_KEEP_BYTES);
}

/* The end of a transaction (EXEC or DISCARD): the queue emptied, the
 * watches forgotten. */
static void
tx_end(struct resp_tx *t)
{
    t->multi = t->dirty = t->full = false;
    t->nq = 0;
    buf_reset(&t->q);
    buf_shrink(&t->q, TX_KEEP_BYTES);
    unwatch(t);
}

void
resp_tx_reset(struct resp_conn *c)
{
    struct resp_tx *t = c->tx;
    if (t == NULL) {
        return;
    }
    tx_end(t);
    buf_fini(&t->q);
    buf_fini(&t->wkeys);
    free(t->w);
    free(t->argv);
    free(t->keys);
    memset(t, 0, sizeof(*t));
    buf_init(&t->q);
    buf_init(&t->wkeys);
}

static struct resp_tx *
tx_of(struct resp_exec *x)
{
    if (x->c->tx == NULL) {
        struct resp_tx *t = calloc(1, sizeof(*t));
        if (t == NULL) {
            return NULL;
        }
        buf_init(&t->q);
        buf_init(&t->wkeys);
        x->c->tx = t;
    }
    return x->c->tx;
}

void
resp_tx_refused(struct resp_exec *x)
{
    if (resp_tx_queueing(x->c)) {
        x->c->tx->dirty = true;
    }
}

void
resp_tx_exec_refused(struct resp_exec *x, const char *why)
{
    if (x->c->tx != NULL) {
        tx_end(x->c->tx);
    }
    resp_reply_errf(x, "EXECABORT Transaction discarded because of: %s", why);
}

static void
reply_full(struct resp_exec *x)
{
    resp_reply_errf(x,
                    "ERR MULTI queue over stashd's limit of %zu commands or %zu bytes: "
                    "the transaction is discarded at EXEC",
                    TX_MAX_CMDS, max_bytes(x));
}

void
resp_tx_queue(struct resp_exec *x)
{
    struct resp_tx *t = x->c->tx;
    const struct resp_cmd *row = x->row != NULL ? x->row : x->cmd;
    size_t bytes = 0;
    for (size_t i = 0; i < x->argc; i++) {
        bytes += x->argv[i].len;
    }
    size_t rec = sizeof(struct tx_rec) + x->argc * sizeof(uint32_t) + bytes;
    if (t->full || t->nq >= TX_MAX_CMDS || buf_readable(&t->q) + rec > max_bytes(x)) {
        /* Drop what was queued: EXEC aborts whatever follows. */
        t->full = t->dirty = true;
        t->nq = 0;
        buf_fini(&t->q);
        buf_init(&t->q);
        reply_full(x);
        return;
    }
    int rc = buf_reserve(&t->q, rec, 0);
    if (rc != 0) {
        t->dirty = true;
        resp_reply_err(x, "ERR out of memory queueing the command");
        return;
    }
    struct tx_rec r = {
        .argc = (uint32_t)x->argc,
        .flags = x->cmd->flags | row->flags,
        .first = row->first_key,
        .last = row->last_key,
        .step = row->key_step,
        .bytes = (uint32_t)bytes,
    };
    char *p = t->q.data + t->q.wpos;
    memcpy(p, &r, sizeof(r));
    p += sizeof(r);
    for (size_t i = 0; i < x->argc; i++) {
        uint32_t len = (uint32_t)x->argv[i].len;
        memcpy(p, &len, sizeof(len));
        p += sizeof(len);
    }
    for (size_t i = 0; i < x->argc; i++) {
        if (x->argv[i].len != 0) {
            memcpy(p, x->argv[i].data, x->argv[i].len);
            p += x->argv[i].len;
        }
    }
    t->q.wpos += rec;
    t->nq++;
    resp_reply_raw(x, "+QUEUED\r\n", 9);
}

/* --- MULTI, DISCARD, WATCH, UNWATCH -------------------------------------------------- */

void
resp_cmd_multi(struct resp_exec *x)
{
    struct resp_tx *t = tx_of(x);
    if (t == NULL) {
        resp_reply_err(x, "ERR out of memory");
    } else if (t->multi) {
        resp_reply_err(x, "ERR MULTI calls can not be nested");
    } else {
        t->multi = true;
        resp_reply_ok(x);
    }
}

void
resp_cmd_discard(struct resp_exec *x)
{
    if (!resp_tx_queueing(x->c)) {
        resp_reply_err(x, "ERR DISCARD without MULTI");
        return;
    }
    tx_end(x->c->tx);
    resp_reply_ok(x);
}

void
resp_cmd_watch(struct resp_exec *x)
{
    if (resp_tx_queueing(x->c)) {
        resp_reply_err(x, "ERR WATCH inside MULTI is not allowed");
        return;
    }
    struct resp_tx *t = tx_of(x);
    size_t n = x->argc - 1;
    size_t bytes = 0;
    for (size_t i = 1; i < x->argc; i++) {
        bytes += x->argv[i].len + sizeof(struct tx_watch);
    }
    if (t == NULL || t->nw + n > TX_MAX_CMDS ||
        buf_readable(&t->wkeys) + t->nw * sizeof(struct tx_watch) + bytes > max_bytes(x)) {
        resp_reply_errf(x, "ERR too many watched keys (stashd's limit is %zu keys or %zu bytes)",
                        TX_MAX_CMDS, max_bytes(x));
        return;
    }
    if (t->nw + n > t->wcap) {
        size_t cap = t->wcap ? t->wcap : 8;
        while (cap < t->nw + n) {
            cap *= 2;
        }
        struct tx_watch *w = realloc(t->w, cap * sizeof(*w));
        if (w == NULL) {
            resp_reply_err(x, "ERR out of memory");
            return;
        }
        t->w = w;
        t->wcap = cap;
    }
    for (size_t i = 1; i < x->argc; i++) {
        struct bstr a = x->argv[i];
        struct tx_watch *w = &t->w[t->nw];
        w->db = x->c->db;
        w->off = buf_readable(&t->wkeys);
        w->len = (uint32_t)a.len;
        if (buf_append(&t->wkeys, a.data, a.len) != 0) {
            resp_reply_err(x, "ERR out of memory");
            return;
        }
        struct store_key k;
        resp_key(x, &k, a);
        store_key_version(x->store, &k, &w->v);
        t->nw++;
    }
    resp_reply_ok(x);
}

void
resp_cmd_unwatch(struct resp_exec *x)
{
    if (x->c->tx != NULL) {
        unwatch(x->c->tx);
    }
    resp_reply_ok(x);
}

/* --- EXEC ------------------------------------------------------------------------------ */

/* Record *pp's command into t->argv; *pp moves past it. false when no
 * memory for the views. */
static bool
rec_read(struct resp_tx *t, const char **pp, struct tx_rec *r)
{
    const char *p = *pp;
    memcpy(r, p, sizeof(*r));
    p += sizeof(*r);
    if (r->argc > t->argv_cap) {
        struct bstr *a = realloc(t->argv, r->argc * sizeof(*a));
        if (a == NULL) {
            return false;
        }
        t->argv = a;
        t->argv_cap = r->argc;
    }
    const char *data = p + r->argc * sizeof(uint32_t);
    for (uint32_t i = 0; i < r->argc; i++) {
        uint32_t len;
        memcpy(&len, p + i * sizeof(uint32_t), sizeof(len));
        t->argv[i] = (struct bstr){.data = data, .len = len};
        data += len;
    }
    *pp = data;
    return true;
}

/* Add a key to lock to t->keys[*n] (its database plays no part in
 * which shard it is). */
static bool
key_push(struct resp_tx *t, const char *data, size_t len, size_t *n)
{
    if (*n == t->keys_cap) {
        size_t cap = t->keys_cap ? 2 * t->keys_cap : 16;
        struct store_key *k = realloc(t->keys, cap * sizeof(*k));
        if (k == NULL) {
            return false;
        }
        t->keys = k;
        t->keys_cap = cap;
    }
    store_key_init(&t->keys[(*n)++], data, len);
    return true;
}

/* Add the keys of record r (its views in t->argv) to t->keys. */
static bool
rec_keys(struct resp_tx *t, const struct tx_rec *r, size_t *n)
{
    if (r->first <= 0 || r->step <= 0) {
        return true;
    }
    int64_t last = r->last < 0 ? (int64_t)r->argc + r->last : r->last;
    for (int64_t i = r->first; i <= last && i < (int64_t)r->argc; i += r->step) {
        if (!key_push(t, t->argv[i].data, t->argv[i].len, n)) {
            return false;
        }
    }
    return true;
}

struct exec_run {
    struct resp_exec *x;
    struct resp_tx *t;
    bool aborted;  /* a watched key changed */
    size_t nafter; /* TX_AFTER commands met (run later) */
    size_t *pos;   /* where each one's reply goes: bytes into x->out */
};

/* The first queued record; NULL for an empty queue, whose buffer has no
 * memory (NULL + 0 is undefined behaviour, and UBSan says so). */
static const char *
queue_start(const struct resp_tx *t)
{
    return t->nq != 0 ? t->q.data + t->q.rpos : NULL;
}

static void
exec_run(void *ctx)
{
    struct exec_run *e = ctx;
    struct resp_exec *x = e->x;
    struct resp_tx *t = e->t;
    for (size_t i = 0; i < t->nw; i++) {
        const struct tx_watch *w = &t->w[i];
        struct store_key k;
        store_key_init_db(&k, t->wkeys.data + t->wkeys.rpos + w->off, w->len,
                          store_db_phys(x->store, w->db));
        struct store_version v;
        store_key_version(x->store, &k, &v);
        if (!store_version_equal(&v, &w->v)) {
            e->aborted = true;
            return;
        }
    }
    resp_reply_array(x, t->nq);
    const char *p = queue_start(t);
    for (size_t i = 0; i < t->nq; i++) {
        struct tx_rec r;
        if (!rec_read(t, &p, &r)) {
            break; /* cannot happen: EXEC's first pass grew argv for every record */
        }
        if (r.flags & RESP_CMD_TX_AFTER) {
            e->pos[e->nafter++] = buf_readable(x->out);
            continue;
        }
        x->argv = t->argv;
        x->argc = r.argc;
        x->cmd = NULL;
        x->row = NULL;
        resp_execute(x);
    }
}

/* Insert n bytes at pos bytes into b's readable part. */
static int
buf_insert(struct buf *b, size_t pos, const char *p, size_t n)
{
    int rc = buf_reserve(b, n, 0);
    if (rc != 0) {
        return rc;
    }
    char *at = b->data + b->rpos + pos;
    memmove(at + n, at, buf_readable(b) - pos);
    memcpy(at, p, n);
    b->wpos += n;
    return 0;
}

/* Run the TX_AFTER commands (none holds a lock now), each reply put in
 * its place. */
static void
exec_after(struct resp_exec *x, struct resp_tx *t, const size_t *pos, size_t nafter)
{
    struct buf tmp;
    buf_init(&tmp);
    struct buf *out = x->out;
    size_t shift = 0, k = 0;
    const char *p = queue_start(t);
    for (size_t i = 0; i < t->nq && k < nafter; i++) {
        struct tx_rec r;
        if (!rec_read(t, &p, &r) || !(r.flags & RESP_CMD_TX_AFTER)) {
            continue;
        }
        buf_reset(&tmp);
        x->out = &tmp;
        x->argv = t->argv;
        x->argc = r.argc;
        x->cmd = NULL;
        x->row = NULL;
        resp_execute(x);
        x->out = out;
        resp_reply_fail(x,
                        buf_insert(out, pos[k] + shift, tmp.data + tmp.rpos, buf_readable(&tmp)));
        shift += buf_readable(&tmp);
        k++;
    }
    buf_fini(&tmp);
}

void
resp_cmd_exec(struct resp_exec *x)
{
    struct resp_tx *t = x->c->tx;
    if (!resp_tx_queueing(x->c)) {
        resp_reply_err(x, "ERR EXEC without MULTI");
        return;
    }
    if (t->dirty) {
        tx_end(t);
        resp_reply_err(x, "EXECABORT Transaction discarded because of previous errors.");
        return;
    }
    t->multi = false; /* the queued commands now run */
    /* The keys to lock, the room to make, the commands to run after. */
    struct store_tx_req req = {.all = false};
    size_t nkeys = 0, nafter = 0;
    bool ok = true;
    const char *p = queue_start(t);
    for (size_t i = 0; i < t->nq && ok; i++) {
        struct tx_rec r;
        ok = rec_read(t, &p, &r);
        if (!ok) {
            break;
        }
        req.all |= (r.flags & RESP_CMD_TX_ALL) != 0;
        nafter += (r.flags & RESP_CMD_TX_AFTER) != 0;
        if (r.flags & RESP_CMD_WRITE) {
            req.reserve += r.bytes + (uint64_t)r.argc * TX_ITEM_OVERHEAD;
        }
        ok = req.all || rec_keys(t, &r, &nkeys);
    }
    for (size_t i = 0; i < t->nw && ok && !req.all; i++) {
        ok = key_push(t, t->wkeys.data + t->wkeys.rpos + t->w[i].off, t->w[i].len, &nkeys);
    }
    size_t *pos = nafter != 0 ? malloc(nafter * sizeof(*pos)) : NULL;
    if (!ok || (nafter != 0 && pos == NULL)) {
        free(pos);
        tx_end(t);
        resp_reply_err(x, "ERR out of memory");
        return;
    }
    req.keys = t->keys;
    req.nkeys = nkeys;
    struct exec_run e = {.x = x, .t = t, .pos = pos};
    /* The queued commands' dispatch changes these: EXEC's come back after. */
    const struct bstr *argv = x->argv;
    size_t argc = x->argc;
    const struct resp_cmd *cmd = x->cmd, *row = x->row;
    x->in_exec = true;
    enum store_rc rc = store_tx(x->store, &req, exec_run, &e);
    if (rc == STORE_OK && !e.aborted && e.nafter != 0) {
        exec_after(x, t, pos, e.nafter);
    }
    x->in_exec = false;
    x->argv = argv;
    x->argc = argc;
    x->cmd = cmd;
    x->row = row;
    if (rc != STORE_OK) {
        resp_reply_err(x, "ERR out of memory");
    } else if (e.aborted) {
        resp_reply_fail(x, resp_null_array(x->out, x->c->resp3));
    }
    free(pos);
    tx_end(t);
}
