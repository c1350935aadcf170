/*
 * session: picks a connection's protocol on its first byte and hands every
 * later call to that protocol, whose entry runs the one request loop every
 * protocol shares (session_run in step.h) with its own step.
 *
 *   first byte   -B auto            -B ascii   -B binary
 *   0x80         memcached binary   text       binary
 *   '*'          RESP               text       binary
 *   other        memcached text     text       binary
 *
 * Under -B binary a connection whose first byte is not 0x80 is closed by
 * the binary step (bad magic), as memcached does. A RESP connection takes
 * inline commands too, as Redis does.
 */
#include "stashd/cmd/session.h"

#include <stdlib.h>
#include <string.h>

#include "cmd/mc_bin_cmd.h"
#include "cmd/mc_text_cmd.h"
#include "cmd/mc_tools.h"
#include "cmd/stats_state.h"
#include "cmd/step.h"
#include "cmd/watch.h"
#include "cmd/resp_cmd.h"
#include "stashd/cmd/auth.h"
#include "stashd/proto/mc_text.h"
#include "stashd/util/buf.h"
#include "stashd/util/metrics.h"
#include "stashd/util/options.h"

enum session_proto {
    SESSION_PROTO_NONE = 0, /* no byte seen yet */
    SESSION_PROTO_TEXT,     /* memcached text (and meta) */
    SESSION_PROTO_BINARY,   /* memcached binary */
    SESSION_PROTO_RESP,     /* Redis RESP2/3 */
    SESSION_PROTO_COUNT
};

/* A protocol's entry: builds its context, then runs session_run(). */
typedef enum session_rc (*session_process_fn)(struct session *s, const char *data, size_t len,
                                              size_t *consumed, size_t *need);

struct session_proto_ops {
    const char *name;
    session_process_fn process;
    void (*fini)(struct session *s); /* frees proto_state; NULL if none */
};

static const struct session_proto_ops protos[SESSION_PROTO_COUNT] = {
    [SESSION_PROTO_TEXT] = {.name = "text", .process = mc_text_cmd_process},
    [SESSION_PROTO_BINARY] = {.name = "binary",
                              .process = mc_bin_cmd_process,
                              .fini = mc_bin_cmd_fini},
    [SESSION_PROTO_RESP] = {.name = "resp", .process = resp_cmd_process, .fini = resp_session_fini},
};

static enum session_proto
sniff(const struct options *o, unsigned char first)
{
    if (o->protocol != NULL && strcmp(o->protocol, "ascii") == 0) {
        return SESSION_PROTO_TEXT;
    }
    if (o->protocol != NULL && strcmp(o->protocol, "binary") == 0) {
        return SESSION_PROTO_BINARY;
    }
    if (first == 0x80) {
        return SESSION_PROTO_BINARY;
    }
    if (first == '*') {
        return SESSION_PROTO_RESP;
    }
    return SESSION_PROTO_TEXT;
}

/* step_key_hash's slow way: a key the step asked for out of turn. */
uint64_t
step_key_hash_search(struct session_call *c, const char *key, size_t len)
{
    for (unsigned i = c->hi; i < c->hn; i++) {
        if (c->h->key[i] == key && c->h->len[i] == len) {
            c->hi = (uint8_t)(i + 1);
            return c->h->hash[i];
        }
    }
    return hash_bytes(key, len);
}

void
session_init(struct session *s, const struct cmd_env *env, struct metrics *m, struct buf *out)
{
    memset(s, 0, sizeof(*s));
    s->env = env;
    s->metrics = m;
    s->out = out;
    s->authed = !auth_required(env->auth);
    s->sink_min = SESSION_SINK_MIN;
}

/* --- values stored in place (step.h) ----------------------------------- */

/* What one worker may keep from eviction for values still arriving: a
 * quarter of the limit, shared among the workers. Counted in whole
 * segments (store_reserve_cost), since a reserved item keeps its whole
 * segment: however many clients start a value and stall, at least three
 * quarters of the store stay evictable. */
static uint64_t
sink_share(const struct session *s)
{
    unsigned n = s->env->threads > 0 ? s->env->threads : 1;
    return store_memory_limit(s->env->store) / 4 / n;
}

struct session_sink *
session_sink_start(struct session *s, const struct store_key *k, const struct store_set_req *r,
                   int cmd, bool noreply, unsigned tail_want)
{
    uint64_t held = store_reserve_cost(s->env->store, k->len, r->nbytes);
    if (k->len > sizeof(s->sink->keybuf) ||
        s->metrics->in_place_held_bytes + held > sink_share(s)) {
        return NULL;
    }
    struct session_sink *sk = malloc(sizeof(*sk));
    if (sk == NULL) {
        return NULL;
    }
    if (store_reserve(s->env->store, k, r, &sk->p) != STORE_OK) {
        free(sk);
        return NULL;
    }
    memcpy(sk->keybuf, k->data, k->len);
    sk->key = *k;
    sk->key.data = sk->keybuf;
    sk->req = *r;
    sk->req.value = NULL;
    sk->cmd = cmd;
    sk->noreply = noreply;
    sk->ntail = 0;
    sk->tail_want = (uint8_t)tail_want;
    sk->opcode = 0;
    sk->opaque = 0;
    sk->left = r->nbytes;
    sk->held = held;
    s->sink = sk;
    METRIC_ADD(s->metrics, in_place_pending_bytes, r->nbytes);
    METRIC_ADD(s->metrics, in_place_held_bytes, held);
    return sk;
}

size_t
session_sink_feed(struct session *s, const char *data, size_t len)
{
    struct session_sink *sk = s->sink;
    size_t pos = 0;
    if (sk->left > 0) {
        size_t n = len < sk->left ? len : (size_t)sk->left;
        memcpy(sk->p.value + (sk->req.nbytes - sk->left), data, n);
        sk->left -= n;
        pos = n;
        METRIC_ADD(s->metrics, bytes_read_in_place, n);
    }
    while (sk->left == 0 && sk->ntail < sk->tail_want && pos < len) {
        sk->tail[sk->ntail++] = data[pos++];
    }
    return pos;
}

size_t
session_sink_room(struct session *s, char **dst)
{
    struct session_sink *sk = s->sink;
    if (sk == NULL || sk->left == 0) {
        return 0;
    }
    *dst = sk->p.value + (sk->req.nbytes - sk->left);
    return (size_t)sk->left;
}

void
session_sink_wrote(struct session *s, size_t n)
{
    struct session_sink *sk = s->sink;
    sk->left -= n;
    METRIC_ADD(s->metrics, bytes_read_in_place, n);
}

void
session_sink_end(struct session *s)
{
    struct session_sink *sk = s->sink;
    if (sk == NULL) {
        return;
    }
    if (sk->p.ref != 0) {
        store_abandon(s->env->store, &sk->p);
    }
    METRIC_ADD(s->metrics, in_place_pending_bytes, (uint64_t)0 - sk->req.nbytes);
    METRIC_ADD(s->metrics, in_place_held_bytes, (uint64_t)0 - sk->held);
    free(sk);
    s->sink = NULL;
}

int
session_out_value(struct session *s, size_t *unsent, const char *v, size_t n)
{
    struct buf *o = s->out;
    if (s->write_now != NULL) { /* the caller asked session_direct */
        size_t pend = buf_readable(o);
        size_t w = s->write_now(s->write_ctx, o->data + o->rpos, pend, v, n);
        size_t from_out = w < pend ? w : pend;
        o->rpos += from_out;
        *unsent = *unsent > from_out ? *unsent - from_out : 0;
        if (buf_readable(o) == 0) {
            o->rpos = o->wpos = 0;
        }
        size_t direct = w - from_out; /* of the value */
        s->direct_full = w < pend + n;
        METRIC_ADD(s->metrics, bytes_written_direct, direct);
        v += direct;
        n -= direct;
    }
    return n > 0 ? buf_append(o, v, n) : 0;
}

void
session_fini(struct session *s)
{
    session_sink_end(s);
    mc_tools_dump_end(s);
    if (s->watcher != NULL) {
        watch_remove(s->env->stats->watch, &s->watcher);
    }
    if (s->proto > SESSION_PROTO_NONE && s->proto < SESSION_PROTO_COUNT &&
        protos[s->proto].fini != NULL) {
        protos[s->proto].fini(s);
    }
    s->proto_state = NULL;
    s->proto = SESSION_PROTO_NONE;
}

enum session_rc
session_process(struct session *s, const char *data, size_t len, size_t *consumed, size_t *need)
{
    *consumed = 0;
    *need = 0;
    s->direct_full = false;
    if (__builtin_expect(s->watcher != NULL, 0)) {
        *consumed = len; /* a watcher sends no more requests */
        return SESSION_OK;
    }
    /* Read once per call, not per request: a watcher that starts now
     * sees this connection's requests from its next read on. */
    s->want = stats_wanted(s->env->stats);
    if (s->proto == SESSION_PROTO_NONE) {
        if (len == 0) {
            return SESSION_OK;
        }
        s->proto = sniff(s->env->opts, (unsigned char)data[0]);
    }
    return protos[s->proto].process(s, data, len, consumed, need);
}

const struct resp_conn *
resp_session_state(const struct session *s)
{
    return s->proto == SESSION_PROTO_RESP ? s->proto_state : NULL;
}

void
session_set_resp_only(struct session *s)
{
    s->proto = SESSION_PROTO_RESP;
}

size_t
session_max_request(const struct session *s)
{
    if (s->proto == SESSION_PROTO_RESP) {
        return resp_max_request(s);
    }
    /* A storage line (a few KiB at most, unless it came whole) plus its
     * value, or a multi-get line: the sum bounds both. Larger values are
     * swallowed as they arrive, never buffered. */
    return (size_t)s->env->opts->max_item_size + MC_TEXT_KEYS_LINE_MAX + 2;
}

size_t
session_held_bytes(const struct session *s)
{
    return s->proto == SESSION_PROTO_RESP ? resp_session_held(s) : 0;
}

bool
session_streaming(const struct session *s)
{
    return s->watcher != NULL;
}

enum session_rc
session_stream(struct session *s)
{
    size_t have = buf_readable(s->out);
    if (s->watcher == NULL || have >= SESSION_OUT_HIGH) {
        return SESSION_OK;
    }
    if (watch_drain(s->env->stats->watch, s->watcher, s->out, SESSION_OUT_HIGH - have) != 0) {
        return SESSION_CLOSE;
    }
    return SESSION_OK;
}
