/*
 * mc_bin_cmd: the binary protocol's semantics (see mc_bin_cmd.h), after
 * memcached 1.6.18's proto_bin.c and checked against the real server
 * (tests/integration/test_binary.py compares bytes; memccapable -b).
 *
 * session.c's request loop calls mc_bin_cmd_step once per packet (see
 * step.h). A packet is consumed as memcached consumes it: header, extras and key at once; the value
 * only by the commands that carry one (set, add, replace, append, prepend, SASL auth), once all of
 * it is in. Values over the item limit are never buffered: they are swallowed as they arrive
 * (s->swallow), and the error reply that memcached sends once the swallow ends is kept in the
 * connection's state until then.
 *
 * memcached's quirks kept on purpose (a drop-in client sees the same
 * bytes):
 *  - quiet commands (SETQ, GETQ, ...) send nothing on success, but every
 *    error, except a get miss;
 *  - a packet memcached refuses closes the connection after the error
 *    (bad lengths, key over 250 bytes, wrong extras), and a bad magic
 *    closes it without a reply;
 *  - an unknown opcode (VERBOSITY included) is answered "Unknown command"
 *    and then bodylen bytes after its key are discarded, so that extras or
 *    a key count twice and eat into the next packet;
 *  - a command that takes no value does not consume one: extra body bytes
 *    after a stat or touch key are read as the next packet;
 *  - flush_all disabled (-F) answers "Auth failure.".
 */
#include "cmd/mc_bin_cmd.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd/mc_auth.h"
#include "cmd/mc_core.h"
#include "cmd/mc_stats.h"
#include "cmd/mc_tools.h"
#include "cmd/stats_render.h"
#include "cmd/step.h"
#include "stashd/cmd/auth.h"
#include "stashd/proto/mc_bin.h"
#include "stashd/store/store.h"
#include "stashd/util/buf.h"
#include "stashd/util/clock.h"
#include "stashd/util/log.h"
#include "stashd/util/metrics.h"
#include "stashd/util/options.h"

/* Per-connection state, allocated once when the connection turns binary. */
struct bin_state {
    /* PLAIN sent without its response: the next STEP carries it (Cyrus
     * SASL, which memcached uses, answers such an AUTH "continue"). */
    bool plain_pending;
    /* An error reply due once s->swallow bytes are discarded. */
    bool due;
    uint8_t due_opcode;
    uint16_t due_status;
    uint32_t due_opaque;
};

/* What a command handler tells the loop. */
enum bin_rc {
    BIN_DONE,      /* consume the packet (x->used bytes) */
    BIN_NEED_MORE, /* the value is not all in: x->need bytes from the packet start */
    BIN_CLOSE,     /* consume, flush the replies, close */
};

struct bin_exec {
    struct session_call call; /* first: the loop's view */
    struct session *s;
    struct bin_state *st;
    struct store *store;
    struct metrics *m;
    struct buf *out;
    const struct mc_bin_req *r;
    uint8_t cmd;      /* the opcode with quiet variants mapped to the base */
    bool quiet;       /* a quiet variant */
    const char *data; /* the packet and what follows it in the input */
    size_t len;
    size_t used; /* bytes of the packet consumed */
    size_t need;
};
/* call.unsent: reply bytes in *out at memcached's last write: the start
 * of the call (net/ writes between calls), or the last NOOP or error
 * without a swallow, after which memcached writes at once. A bad magic
 * drops the replies after it, as memcached's close does. */

typedef enum bin_rc (*bin_handler_fn)(struct bin_exec *x);

/* --- replies ------------------------------------------------------------- */

/* Reserve room for one whole reply; NULL (and x->call.err) when out of memory. */
static unsigned char *
reserve(struct bin_exec *x, size_t n)
{
    int rc = buf_reserve(x->out, n, SIZE_MAX);
    if (rc != 0) {
        if (x->call.err == 0) {
            x->call.err = rc;
        }
        return NULL;
    }
    unsigned char *p = (unsigned char *)x->out->data + x->out->wpos;
    x->out->wpos += n;
    return p;
}

/* A response packet without extras (a get hit has its own: on_value):
 * header, key, value. */
static void
respond(struct bin_exec *x, uint8_t opcode, uint32_t opaque, uint16_t status, const void *key,
        uint16_t keylen, const void *value, uint32_t vlen, uint64_t cas)
{
    size_t body = (size_t)keylen + vlen;
    unsigned char *p = reserve(x, MC_BIN_HEADER_LEN + body);
    if (p == NULL) {
        return;
    }
    mc_bin_write_header(p, opcode, keylen, 0, status, (uint32_t)body, opaque, cas);
    p += MC_BIN_HEADER_LEN;
    if (keylen != 0) {
        buf_copy_short((char *)p, key, keylen);
        p += keylen;
    }
    if (vlen != 0) {
        memcpy(p, value, vlen);
    }
}

/* Success without a body, unless quiet. */
static void
ok(struct bin_exec *x, uint64_t cas)
{
    if (!x->quiet) {
        respond(x, x->r->opcode, x->r->opaque, MC_BIN_STATUS_OK, NULL, 0, NULL, 0, cas);
    }
}

static void
error_msg(struct bin_exec *x, uint16_t status, struct bstr msg)
{
    respond(x, x->r->opcode, x->r->opaque, status, NULL, 0, msg.data, (uint32_t)msg.len, 0);
}

/* memcached writes its replies at once here (conn_mwrite). */
static void
written(struct bin_exec *x)
{
    x->call.unsent = buf_readable(x->out);
}

/* An error with memcached's default text; errors ignore quiet, and are
 * written at once. */
static void
error(struct bin_exec *x, uint16_t status)
{
    error_msg(x, status, mc_bin_status_text(status));
    written(x);
}

/* An error sent once `swallow` bytes after the packet are discarded. */
static void
error_after_swallow(struct bin_exec *x, uint16_t status, uint64_t swallow)
{
    if (swallow == 0) {
        error(x, status);
        return;
    }
    x->s->swallow = swallow;
    x->st->due = true;
    x->st->due_opcode = x->r->opcode;
    x->st->due_status = status;
    x->st->due_opaque = x->r->opaque;
}

static void
send_due(struct bin_exec *x)
{
    struct bin_state *st = x->st;
    struct bstr msg = mc_bin_status_text(st->due_status);
    respond(x, st->due_opcode, st->due_opaque, st->due_status, NULL, 0, msg.data, (uint32_t)msg.len,
            0);
    st->due = false;
}

/* Database 0 as RESP's clients name it (see mc_text_cmd.c). */
static inline __attribute__((always_inline)) void
key_init(struct bin_exec *x, struct store_key *k, const struct mc_bin_req *r)
{
    store_key_init_hashed(k, r->key.data, r->key.len,
                          step_key_hash(&x->call, r->key.data, r->key.len),
                          store_db_phys(x->store, 0));
}

/* memcached reads a binary expiration as an unsigned 32-bit time_t: it is
 * never negative (0xffffffff is an absolute time far ahead). */
static uint32_t
rel_exptime(uint32_t exptime)
{
    return clock_exptime_to_rel((int64_t)exptime);
}

/* Is the packet's value all in? Sets x->need or x->used. */
static bool
have_value(struct bin_exec *x)
{
    size_t total = x->r->consumed + mc_bin_value_len(x->r);
    if (x->len < total) {
        x->need = total;
        return false;
    }
    x->used = total;
    return true;
}

static const char *
value_of(const struct bin_exec *x)
{
    return x->data + x->r->consumed;
}

/* --- get, getk, gat, gatk, touch (and their quiet forms) ------------------ */

struct get_ctx {
    struct bin_exec *x;
    bool with_key;
    bool with_value;
    bool direct; /* a large value may go straight to the socket (not gat: no head held) */
};

/*
 * Under the shard lock: the hit's packet, with flags, maybe the key, maybe
 * the value. Written here rather than by respond(): a hit is most of what
 * a pipelined binary load sends, and going through respond() cost ~50 of
 * a request's ~975 instructions (bench/instructions).
 * A large value goes from item memory when the socket takes it
 * (session_out_value), after the packet up to it. What left that way is
 * sent: a bad magic later in the same read, on which memcached drops the
 * replies it has not written (bin_step), no longer takes them back.
 */
static void
on_value(void *ctx, const struct store_item_view *v)
{
    struct get_ctx *c = ctx;
    struct bin_exec *x = c->x;
    uint16_t keylen = c->with_key ? (uint16_t)v->nkey : 0;
    uint32_t vlen = c->with_value ? v->nbytes : 0;
    bool direct = c->direct && session_direct(x->s, vlen);
    size_t head = MC_BIN_HEADER_LEN + 4 + keylen;
    unsigned char *p = reserve(x, head + (direct ? 0 : vlen));
    if (p == NULL) {
        return;
    }
    mc_bin_write_header(p, x->r->opcode, keylen, 4, MC_BIN_STATUS_OK, 4u + keylen + vlen,
                        x->r->opaque, v->cas);
    mc_bin_put_be32(p + MC_BIN_HEADER_LEN, v->flags);
    if (keylen != 0) {
        buf_copy_short((char *)p + MC_BIN_HEADER_LEN + 4, v->key, keylen);
    }
    if (direct) {
        int rc = session_out_value(x->s, &x->call.unsent, v->value, vlen);
        if (rc != 0 && x->call.err == 0) {
            x->call.err = rc;
        }
        return;
    }
    memcpy(p + head, v->value, vlen);
}

static enum bin_rc
cmd_get(struct bin_exec *x)
{
    const struct mc_bin_req *r = x->r;
    bool touch = x->cmd == MC_BIN_TOUCH || x->cmd == MC_BIN_GAT || x->cmd == MC_BIN_GATK;
    struct get_ctx c = {
        .x = x,
        .with_key = x->cmd == MC_BIN_GETK || x->cmd == MC_BIN_GATK,
        .with_value = x->cmd != MC_BIN_TOUCH,
        .direct = !touch,
    };
    /* on_value reads the cas, not the expiry or access time */
    struct store_get_opts opts = {.touch = touch, .skip = STORE_VIEW_SKIP_META};
    if (touch) {
        opts.exptime = rel_exptime(mc_bin_be32(r->extras));
    }
    struct store_key k;
    key_init(x, &k, r);
    /* memcached counts prefix gets for get and gat, not touch */
    bool is_get = x->cmd != MC_BIN_TOUCH;
    if (mc_core_read_as(x->s, &k, &opts, on_value, &c, is_get) == STORE_OK) {
        return BIN_DONE;
    }
    if (x->quiet) {
        return BIN_DONE; /* a quiet get says nothing on a miss */
    }
    if (c.with_key) {
        /* the key, and no message */
        respond(x, r->opcode, r->opaque, MC_BIN_STATUS_KEY_ENOENT, r->key.data, r->keylen, NULL, 0,
                0);
    } else {
        error(x, MC_BIN_STATUS_KEY_ENOENT);
    }
    return BIN_DONE;
}

/* --- storage ------------------------------------------------------------- */

/* The cas a store compares: memcached keeps none on items under -C, so
 * a store's cas is then ignored (delete and incr still compare, and fail). */
static uint64_t
request_cas(const struct bin_exec *x)
{
    return x->s->env->opts->cas_enabled ? x->r->cas : 0;
}

static bool
fits(struct bin_exec *x)
{
    return store_fits(x->store, x->r->keylen, mc_bin_value_len(x->r));
}

/* A value over the limit: E2BIG once it is swallowed; a set also drops the
 * old value, so that no stale one survives a failed set. */
static enum bin_rc
too_large(struct bin_exec *x)
{
    struct store_key k;
    key_init(x, &k, x->r);
    mc_core_too_large(x->s, &k, x->cmd == MC_BIN_SET, false);
    x->used = x->r->consumed;
    error_after_swallow(x, MC_BIN_STATUS_E2BIG, mc_bin_value_len(x->r));
    return BIN_DONE;
}

static void
store_reply(struct bin_exec *x, enum store_rc rc, uint64_t cas)
{
    switch (rc) {
    case STORE_OK:
        ok(x, cas);
        return;
    case STORE_EXISTS:
        error(x, MC_BIN_STATUS_KEY_EEXISTS);
        return;
    case STORE_NOT_FOUND:
        error(x, MC_BIN_STATUS_KEY_ENOENT);
        return;
    case STORE_NO_MEMORY: /* counted, and a set's old value dropped, by mc_core */
        error_msg(x, MC_BIN_STATUS_ENOMEM, BSTR_LIT("Out of memory allocating item"));
        return;
    default:
        if (x->cmd == MC_BIN_ADD) {
            error(x, MC_BIN_STATUS_KEY_EEXISTS);
        } else if (x->cmd == MC_BIN_REPLACE) {
            error(x, MC_BIN_STATUS_KEY_ENOENT);
        } else {
            error(x, MC_BIN_STATUS_NOT_STORED);
        }
        return;
    }
}

/* The store request of a set, add or replace (its value not set). */
static struct store_set_req
update_req(struct bin_exec *x)
{
    const struct mc_bin_req *r = x->r;
    enum store_mode mode = x->cmd == MC_BIN_ADD       ? STORE_MODE_ADD
                           : x->cmd == MC_BIN_REPLACE ? STORE_MODE_REPLACE
                                                      : STORE_MODE_SET;
    uint64_t want_cas = request_cas(x);
    if (want_cas != 0) {
        mode = STORE_MODE_CAS; /* memcached: any cas makes it a cas */
    }
    return (struct store_set_req){
        .mode = mode,
        .nbytes = mc_bin_value_len(r),
        .flags = mc_bin_be32(r->extras),
        .exptime = rel_exptime(mc_bin_be32(r->extras + 4)),
        .cas = want_cas,
    };
}

/* A large value not all here: store it in place as it arrives (cmd/step.h),
 * the rest of the input being its first bytes; false: buffer it whole. */
static bool
sink_start(struct bin_exec *x)
{
    const struct mc_bin_req *r = x->r;
    if (mc_bin_value_len(r) < x->s->sink_min) {
        return false;
    }
    struct store_set_req sr = update_req(x);
    struct store_key k;
    key_init(x, &k, r);
    struct session_sink *sk = session_sink_start(x->s, &k, &sr, x->cmd, x->quiet, 0);
    if (sk == NULL) {
        return false;
    }
    sk->opcode = r->opcode;
    sk->opaque = r->opaque;
    (void)session_sink_feed(x->s, x->data + r->consumed, x->len - r->consumed);
    x->used = x->len;
    return true;
}

static enum bin_rc
cmd_update(struct bin_exec *x)
{
    const struct mc_bin_req *r = x->r;
    if (!fits(x)) {
        return too_large(x);
    }
    if (!have_value(x)) {
        return sink_start(x) ? BIN_DONE : BIN_NEED_MORE;
    }
    struct store_set_req sr = update_req(x);
    sr.value = value_of(x);
    struct store_key k;
    key_init(x, &k, r);
    uint64_t cas = 0;
    enum store_rc rc = mc_core_store(x->s, &k, &sr, x->cmd == MC_BIN_SET, &cas);
    store_reply(x, rc, cas);
    return BIN_DONE;
}

/* The value stored in place is all in: store it and answer as
 * cmd_update would have. */
static enum step_rc
bin_sunk(struct session_call *c)
{
    struct bin_exec *x = (struct bin_exec *)c;
    struct session_sink *sk = x->s->sink;
    struct mc_bin_req r = {.opcode = sk->opcode, .opaque = sk->opaque};
    x->r = &r;
    x->cmd = (uint8_t)sk->cmd;
    x->quiet = sk->noreply;
    uint64_t cas = 0;
    enum store_rc rc = store_commit(x->store, &sk->key, &sk->req, &sk->p, &cas);
    rc = mc_core_stored(x->s, &sk->key, &sk->req, x->cmd == MC_BIN_SET, rc);
    store_reply(x, rc, cas);
    x->r = NULL;
    session_sink_end(x->s);
    return STEP_DONE;
}

static enum bin_rc
cmd_append(struct bin_exec *x)
{
    const struct mc_bin_req *r = x->r;
    if (!fits(x)) {
        return too_large(x);
    }
    if (!have_value(x)) {
        return BIN_NEED_MORE;
    }
    enum store_mode mode = x->cmd == MC_BIN_APPEND ? STORE_MODE_APPEND : STORE_MODE_PREPEND;
    struct store_set_req sr = {
        .mode = mode,
        .value = value_of(x),
        .nbytes = mc_bin_value_len(r),
        .cas = request_cas(x),
    };
    struct store_key k;
    key_init(x, &k, r);
    uint64_t cas = 0;
    enum store_rc rc = mc_core_store(x->s, &k, &sr, false, &cas);
    store_reply(x, rc, cas);
    return BIN_DONE;
}

static enum bin_rc
cmd_delete(struct bin_exec *x)
{
    struct store_key k;
    key_init(x, &k, x->r);
    switch (mc_core_delete(x->s, &k, x->r->cas)) {
    case STORE_OK:
        ok(x, 0);
        break;
    case STORE_EXISTS:
        error(x, MC_BIN_STATUS_KEY_EEXISTS);
        break;
    default:
        error(x, MC_BIN_STATUS_KEY_ENOENT);
        break;
    }
    return BIN_DONE;
}

/* Extras: delta (8), initial (8), expiration (4); an expiration of
 * 0xffffffff means "do not create". */
static enum bin_rc
cmd_arith(struct bin_exec *x)
{
    const struct mc_bin_req *r = x->r;
    bool incr = x->cmd == MC_BIN_INCREMENT;
    uint32_t expiration = mc_bin_be32(r->extras + 16);
    struct store_arith_req ar = {
        .incr = incr,
        .delta = mc_bin_be64(r->extras),
        .create = expiration != 0xffffffffu,
        .initial = mc_bin_be64(r->extras + 8),
        .exptime = rel_exptime(expiration),
        .cas = r->cas,
    };
    bool created = false;
    ar.created_out = &created;
    struct store_key k;
    key_init(x, &k, r);
    uint64_t value = 0, cas = 0;
    switch (mc_core_arith(x->s, &k, &ar, &value, &cas)) {
    case STORE_OK:
        if (!x->quiet) {
            unsigned char v[8];
            mc_bin_put_be64(v, value);
            respond(x, r->opcode, r->opaque, MC_BIN_STATUS_OK, NULL, 0, v, 8, cas);
        }
        break;
    case STORE_NOT_FOUND:
        error(x, MC_BIN_STATUS_KEY_ENOENT);
        break;
    case STORE_EXISTS:
        error(x, MC_BIN_STATUS_KEY_EEXISTS);
        break;
    case STORE_NON_NUMERIC:
        error(x, MC_BIN_STATUS_DELTA_BADVAL);
        break;
    default:
        error_msg(x, MC_BIN_STATUS_ENOMEM,
                  created ? BSTR_LIT("Out of memory allocating new item")
                          : BSTR_LIT("Out of memory incrementing value"));
        written(x);
        break;
    }
    return BIN_DONE;
}

/* --- administration ------------------------------------------------------ */

static enum bin_rc
cmd_quit(struct bin_exec *x)
{
    ok(x, 0);
    return BIN_CLOSE;
}

static enum bin_rc
cmd_flush(struct bin_exec *x)
{
    if (!x->s->env->opts->flush_enabled) {
        error(x, MC_BIN_STATUS_AUTH_ERROR); /* sic: memcached's answer */
        return BIN_DONE;
    }
    /* an unsigned 32-bit time, as memcached reads a binary exptime */
    uint32_t delay = x->r->extlen == 4 ? mc_bin_be32(x->r->extras) : 0;
    mc_core_flush(x->s, (int64_t)delay);
    METRIC_INC(x->m, cmd_flush);
    ok(x, 0);
    return BIN_DONE;
}

static enum bin_rc
cmd_noop(struct bin_exec *x)
{
    ok(x, 0);
    written(x); /* memcached: "NOOP forces pipeline flush" */
    return BIN_DONE;
}

static enum bin_rc
cmd_version(struct bin_exec *x)
{
    static const char version[] = MC_STATS_VERSION;
    respond(x, x->r->opcode, x->r->opaque, MC_BIN_STATUS_OK, NULL, 0, version, sizeof(version) - 1,
            0);
    return BIN_DONE;
}

static void
emit_stat(void *ctx, struct bstr name, struct bstr value)
{
    struct bin_exec *x = ctx;
    respond(x, x->r->opcode, x->r->opaque, MC_BIN_STATUS_OK, name.data, (uint16_t)name.len,
            value.data, (uint32_t)value.len, 0);
}

static bool
key_starts(struct bstr key, const char *prefix)
{
    size_t n = strlen(prefix);
    return key.len >= n && memcmp(key.data, prefix, n) == 0;
}

/* Stats: one packet per pair (key = name, value = value), then an empty
 * one. memcached matches reset, settings and detail by prefix and serves
 * the rest (items, slabs, sizes) by exact name; conns only over text. */
static enum bin_rc
cmd_stat(struct bin_exec *x)
{
    struct bstr key = x->r->key;
    if (key.len == 0) {
        (void)mc_stats_render(x->s, BSTR_LIT(""), emit_stat, x);
    } else if (key_starts(key, "reset")) {
        stats_reset(x->s);
    } else if (key_starts(key, "settings")) {
        (void)mc_stats_render(x->s, BSTR_LIT("settings"), emit_stat, x);
    } else if (key_starts(key, "detail")) {
        struct bstr sub = {.data = key.data + 6, .len = key.len - 6};
        if (key_starts(sub, " dump")) {
            /* memcached sends the text dump as one value */
            struct buf dump;
            buf_init(&dump);
            int rc = mc_tools_detail_dump(x->s, &dump);
            rc = rc ? rc : BUF_APPEND_LIT(&dump, "END\r\n");
            if (rc == 0) {
                emit_stat(x, BSTR_LIT("detailed"),
                          (struct bstr){.data = dump.data, .len = buf_readable(&dump)});
            }
            buf_fini(&dump);
        } else if (key_starts(sub, " on") || key_starts(sub, " off")) {
            mc_tools_detail_set(x->s, key_starts(sub, " on"));
        } else {
            error(x, MC_BIN_STATUS_KEY_ENOENT);
            return BIN_DONE;
        }
    } else if (bstr_eq(key, BSTR_LIT("items")) || bstr_eq(key, BSTR_LIT("slabs")) ||
               bstr_eq(key, BSTR_LIT("sizes"))) {
        (void)mc_stats_render(x->s, key, emit_stat, x);
    } else {
        error(x, MC_BIN_STATUS_KEY_ENOENT);
        return BIN_DONE;
    }
    respond(x, x->r->opcode, x->r->opaque, MC_BIN_STATUS_OK, NULL, 0, NULL, 0, 0);
    return BIN_DONE;
}

/* --- SASL -------------------------------------------------------------------- */

static enum bin_rc
cmd_sasl_list(struct bin_exec *x)
{
    if (!auth_required(x->s->env->auth)) {
        error(x, MC_BIN_STATUS_UNKNOWN_COMMAND);
        return BIN_DONE;
    }
    x->s->authed = false; /* memcached starts a new SASL exchange here */
    respond(x, x->r->opcode, x->r->opaque, MC_BIN_STATUS_OK, NULL, 0, MC_AUTH_MECHS,
            sizeof(MC_AUTH_MECHS) - 1, 0);
    return BIN_DONE;
}

static enum bin_rc
cmd_sasl_auth(struct bin_exec *x)
{
    const struct mc_bin_req *r = x->r;
    uint32_t vlen = mc_bin_value_len(r);
    if (!auth_required(x->s->env->auth)) {
        x->used = r->consumed;
        error_after_swallow(x, MC_BIN_STATUS_UNKNOWN_COMMAND, r->bodylen - r->keylen);
        return BIN_DONE;
    }
    if (r->keylen > MC_BIN_SASL_MECH_MAX) {
        x->used = r->consumed;
        error_after_swallow(x, MC_BIN_STATUS_EINVAL, vlen);
        return BIN_DONE;
    }
    if (!fits(x)) {
        x->used = r->consumed;
        error_after_swallow(x, MC_BIN_STATUS_ENOMEM, vlen);
        return BIN_DONE;
    }
    if (!have_value(x)) {
        return BIN_NEED_MORE;
    }
    /* Every SASL exchange starts signed out, as memcached's does. */
    struct bin_state *st = x->st;
    x->s->authed = false;
    bool good = false;
    if (x->cmd == MC_BIN_SASL_AUTH) {
        bool plain = r->keylen == 5 && strncasecmp(r->key.data, "PLAIN", 5) == 0;
        st->plain_pending = false;
        if (plain && vlen == 0) {
            st->plain_pending = true;
            respond(x, r->opcode, r->opaque, MC_BIN_STATUS_AUTH_CONTINUE, NULL, 0, NULL, 0, 0);
            written(x);
            return BIN_DONE;
        }
        good = plain && mc_auth_plain(x->s->env->auth, value_of(x), vlen);
    } else if (st->plain_pending) {
        /* STEP: the PLAIN response an empty AUTH left for later; any other
         * STEP fails (PLAIN has one step) */
        st->plain_pending = false;
        good = mc_auth_plain(x->s->env->auth, value_of(x), vlen);
    }
    METRIC_INC(x->m, auth_cmds);
    if (good) {
        x->s->authed = true;
        respond(x, r->opcode, r->opaque, MC_BIN_STATUS_OK, NULL, 0, "Authenticated", 13, 0);
    } else {
        METRIC_INC(x->m, auth_errors);
        error(x, MC_BIN_STATUS_AUTH_ERROR);
    }
    return BIN_DONE;
}

/* Handlers by base opcode; NULL: unknown (VERBOSITY included). */
static const bin_handler_fn handlers[256] = {
    [MC_BIN_GET] = cmd_get,
    [MC_BIN_GETK] = cmd_get,
    [MC_BIN_TOUCH] = cmd_get,
    [MC_BIN_GAT] = cmd_get,
    [MC_BIN_GATK] = cmd_get,
    [MC_BIN_SET] = cmd_update,
    [MC_BIN_ADD] = cmd_update,
    [MC_BIN_REPLACE] = cmd_update,
    [MC_BIN_APPEND] = cmd_append,
    [MC_BIN_PREPEND] = cmd_append,
    [MC_BIN_DELETE] = cmd_delete,
    [MC_BIN_INCREMENT] = cmd_arith,
    [MC_BIN_DECREMENT] = cmd_arith,
    [MC_BIN_QUIT] = cmd_quit,
    [MC_BIN_FLUSH] = cmd_flush,
    [MC_BIN_NOOP] = cmd_noop,
    [MC_BIN_VERSION] = cmd_version,
    [MC_BIN_STAT] = cmd_stat,
    [MC_BIN_SASL_LIST_MECHS] = cmd_sasl_list,
    [MC_BIN_SASL_AUTH] = cmd_sasl_auth,
    [MC_BIN_SASL_STEP] = cmd_sasl_auth,
};

/* --- the step -------------------------------------------------------------- */

/* Commands a client may send before authenticating (memcached -S's
 * authenticated()). */
static bool
allowed_before_auth(uint8_t opcode)
{
    return opcode == MC_BIN_SASL_LIST_MECHS || opcode == MC_BIN_SASL_AUTH ||
           opcode == MC_BIN_SASL_STEP || opcode == MC_BIN_VERSION;
}

/* One packet whose header, extras and key are in. */
static enum bin_rc
serve(struct bin_exec *x)
{
    const struct mc_bin_req *r = x->r;
    x->used = r->consumed;
    if (mc_bin_check_body(r) != MC_BIN_CHECK_OK) {
        METRIC_INC(x->m, protocol_errors);
        error(x, MC_BIN_STATUS_UNKNOWN_COMMAND);
        return BIN_CLOSE;
    }
    if (!x->s->authed && !allowed_before_auth(r->opcode)) {
        error(x, MC_BIN_STATUS_AUTH_ERROR);
        return BIN_CLOSE;
    }
    switch (mc_bin_check_args(r)) {
    case MC_BIN_CHECK_OK:
        break;
    case MC_BIN_CHECK_UNKNOWN:
        METRIC_INC(x->m, protocol_errors);
        error_after_swallow(x, MC_BIN_STATUS_UNKNOWN_COMMAND, r->bodylen);
        return BIN_DONE;
    default:
        METRIC_INC(x->m, protocol_errors);
        error(x, MC_BIN_STATUS_EINVAL);
        return BIN_CLOSE;
    }
    x->cmd = mc_bin_base_opcode(r->opcode, &x->quiet);
    bin_handler_fn h = handlers[x->cmd];
    if (h == NULL) { /* unreachable: mc_bin_check_args knows the same opcodes */
        error_after_swallow(x, MC_BIN_STATUS_UNKNOWN_COMMAND, r->bodylen);
        return BIN_DONE;
    }
    return h(x);
}

static struct bin_state *
state_of(struct session *s)
{
    if (s->proto_state == NULL) {
        s->proto_state = calloc(1, sizeof(struct bin_state)); /* once per connection */
    }
    return s->proto_state;
}

/*
 * The common packets, served from their headers without mc_bin_parse and
 * serve()'s checks, which they pass (body, authentication, arguments):
 * a whole GET, GETQ, GETK or GETKQ (to cmd_get), and a SET or SETQ whose
 * value is all in (to cmd_update). true when it served the packet.
 */
static inline __attribute__((always_inline)) bool
bin_fast(struct bin_exec *x, const unsigned char *p, size_t len, size_t *used)
{
    uint8_t op = p[1];
    bool get = op == MC_BIN_GET || op == MC_BIN_GETK || op == MC_BIN_GETQ || op == MC_BIN_GETKQ;
    if (!get && op != MC_BIN_SET && op != MC_BIN_SETQ) {
        return false;
    }
    size_t keylen = (size_t)p[2] << 8 | p[3], extlen = p[4];
    size_t body = mc_bin_be32(p + 8);
    if (keylen == 0 || keylen > MC_BIN_KEY_MAX || !x->s->authed) {
        return false;
    }
    if (get ? extlen != 0 || body != keylen : extlen != 8 || body < keylen + 8) {
        return false;
    }
    if (len - MC_BIN_HEADER_LEN < body) { /* not all in: the general way */
        return false;
    }
    struct mc_bin_req r = {
        .opcode = op,
        .extlen = (uint8_t)extlen,
        .keylen = (uint16_t)keylen,
        .bodylen = (uint32_t)body,
        .opaque = mc_bin_be32(p + 12),
        .cas = get ? 0 : mc_bin_be64(p + 16),
        .extras = p + MC_BIN_HEADER_LEN,
        .key = {(const char *)p + MC_BIN_HEADER_LEN + extlen, keylen},
        .consumed = MC_BIN_HEADER_LEN + extlen + keylen,
    };
    x->r = &r;
    if (get) {
        x->quiet = op == MC_BIN_GETQ || op == MC_BIN_GETKQ;
        x->cmd = op == MC_BIN_GETK || op == MC_BIN_GETKQ ? MC_BIN_GETK : MC_BIN_GET;
        (void)cmd_get(x);
        *used = r.consumed;
    } else {
        x->quiet = op == MC_BIN_SETQ;
        x->cmd = MC_BIN_SET;
        x->data = (const char *)p;
        x->len = len;
        x->used = r.consumed;
        x->need = 0;
        (void)cmd_update(x); /* BIN_DONE: the value is all in */
        *used = x->used;
    }
    x->r = NULL;
    return true;
}

/* The step: one packet (see step.h). */
static inline __attribute__((always_inline)) enum step_rc
bin_step(struct session_call *c, char *data, size_t len, size_t *used, size_t *need)
{
    struct bin_exec *x = (struct bin_exec *)c;
    if (len >= MC_BIN_HEADER_LEN && (unsigned char)data[0] == MC_BIN_REQ_MAGIC &&
        bin_fast(x, (const unsigned char *)data, len, used)) {
        return STEP_DONE;
    }
    struct mc_bin_req r;
    enum mc_bin_rc prc = mc_bin_parse(data, len, &r);
    if (prc == MC_BIN_NEED_MORE) {
        *need = r.need;
        return STEP_NEED_MORE;
    }
    if (prc == MC_BIN_BAD_MAGIC) {
        METRIC_INC(x->m, protocol_errors);
        x->out->wpos = x->out->rpos + x->call.unsent; /* as memcached's close drops them */
        return STEP_CLOSE;
    }
    x->r = &r;
    x->data = data;
    x->len = len;
    x->used = 0;
    x->need = 0;
    enum bin_rc br = serve(x);
    x->r = NULL;
    if (br == BIN_NEED_MORE) {
        *need = x->need;
        return STEP_NEED_MORE;
    }
    *used = x->used;
    return br == BIN_CLOSE ? STEP_CLOSE : STEP_DONE;
}

/* A refused value was swallowed: send the error it owes. */
static void
bin_swallowed(struct session_call *c)
{
    struct bin_exec *x = (struct bin_exec *)c;
    if (x->st->due) {
        send_due(x);
    }
}

/* The look-ahead (step.h): the key of each whole packet at the front of
 * the input; a packet that is not whole, or not a request, ends it. */
static size_t
bin_prefetch(struct session_call *c, const char *data, size_t len)
{
    struct bin_exec *x = (struct bin_exec *)c;
    struct step_keys keys;
    keys.n = 0; /* not = {0}: zeroing the arrays cost ~40 instructions a call */
    size_t pos = 0, reqs = 0;
    while (reqs < STEP_PREFETCH && len - pos >= MC_BIN_HEADER_LEN) {
        const unsigned char *p = (const unsigned char *)data + pos;
        if (p[0] != MC_BIN_REQ_MAGIC) {
            break;
        }
        size_t keylen = (size_t)p[2] << 8 | p[3], extlen = p[4];
        size_t body = mc_bin_be32(p + 8);
        if (keylen + extlen > body || body > len - pos - MC_BIN_HEADER_LEN) {
            break;
        }
        if (keylen > 0) {
            step_keys_add(&keys, (const char *)p + MC_BIN_HEADER_LEN + extlen, keylen);
        }
        pos += MC_BIN_HEADER_LEN + body;
        reqs++;
    }
    return step_keys_prefetch(&x->call, x->store, &keys, pos);
}

static const struct session_steps bin_steps = {
    .step = bin_step, .swallowed = bin_swallowed, .prefetch = bin_prefetch, .sunk = bin_sunk};

enum session_rc
mc_bin_cmd_process(struct session *s, const char *data, size_t len, size_t *consumed, size_t *need)
{
    struct bin_state *st = state_of(s);
    if (st == NULL) {
        log_warn("closing a connection: no memory for its state");
        *consumed = 0;
        *need = 0;
        return SESSION_CLOSE;
    }
    struct step_hashes hashes; /* written by the look-ahead before it is read */
    struct bin_exec x = {
        .s = s,
        .st = st,
        .store = s->env->store,
        .m = s->metrics,
        .out = s->out,
    };
    session_call_init(&x.call, s, &hashes);
    return session_run(&x.call, &bin_steps, data, len, consumed, need);
}

void
mc_bin_cmd_fini(struct session *s)
{
    free(s->proto_state);
    s->proto_state = NULL;
}
