/*
 * mc_text_cmd: the memcached text protocol's semantics. Requests are parsed
 * in place by proto/mc_text, executed against the store in order, and
 * their replies appended to the session's output buffer; nothing is
 * allocated per request except what the output buffer grows by.
 *
 * session.c's request loop calls mc_text_cmd_step once per request (see
 * step.h). Two kinds of state survive between calls:
 *
 *   s->swallow  bytes of a refused value still to discard (they may arrive
 *               over many reads; they are never buffered);
 *   s->resume   how far into the key list of the multi-get at the front of
 *               the input the replies have got. The get line stays
 *               unconsumed until its last key is answered, so a call after
 *               a pause parses it again and carries on from there: one huge
 *               multi-get never builds more than about SESSION_OUT_HIGH of
 *               reply.
 *
 * Replies follow memcached 1.6.18 (checked against the real server), with
 * its quirks: "noreply" silences error replies too; a too-large "set" also
 * deletes the key's old value, and its SERVER_ERROR is sent only once the
 * value has been swallowed; a bad data chunk costs exactly bytes + 2 input
 * bytes; a get with a key over 250 bytes discards the replies not yet
 * written (see cull_unsent).
 */
#include "cmd/mc_text_cmd.h"

#include <stdint.h>
#include <string.h>

#include "cmd/mc_auth.h"
#include "cmd/mc_core.h"
#include "cmd/mc_meta_cmd.h"
#include "cmd/mc_stats.h"
#include "cmd/mc_tools.h"
#include "cmd/stats_render.h"
#include "cmd/step.h"
#include "stashd/proto/mc_text.h"
#include "stashd/store/store.h"
#include "stashd/util/buf.h"
#include "stashd/util/clock.h"
#include "stashd/util/log.h"
#include "stashd/util/metrics.h"
#include "stashd/util/num.h"
#include "stashd/util/options.h"

/* What a command handler tells the loop. */
enum cmd_rc {
    CMD_DONE,   /* request answered: consume it */
    CMD_PAUSE,  /* multi-get or dump paused on its replies (s->resume or s->dump set): keep it */
    CMD_YIELD,  /* a dump gave the worker back (s->dump set): keep it */
    CMD_CLOSE,  /* consume it, then close the connection */
    CMD_STREAM, /* the connection streams from now on (watch): consume all input */
};

/* One call's execution context. call.unsent is memcached's last flush
 * point: the start of this call (net/ writes between calls) or the end of
 * the last get, after which memcached writes at once (see cull_unsent()). */
/*
 * A request the look-ahead read whole, that mc_text_parse would make
 * exactly this of, wherever it starts, so the step serves it from here:
 *  - "get <key>" or "gets <key>": one key of 1 to 250 bytes, none of them
 *    a space or a control byte, after one space, then CRLF or LF (get_one);
 *  - "set <key> <flags> <exptime> <bytes>", the same key, three numbers
 *    of digits only up to INT32_MAX, nothing after them, a value that fits
 *    the store and ends in CRLF (set_one).
 */
struct text_memo {
    const char *at; /* the request's first byte in this call's input */
    const char *key;
    const char *value; /* set */
    uint32_t size;     /* the request's bytes: line, LF, value and its CRLF */
    uint32_t nbytes;   /* set */
    uint32_t flags;    /* set */
    uint32_t exptime;  /* set: as sent */
    uint8_t klen;
    bool cas; /* gets */
    bool set;
};

struct text_exec {
    struct session_call call; /* first: the loop's view */
    struct session *s;
    struct store *store;
    struct metrics *m;
    struct buf *out;
    uint8_t memo_n, memo_i; /* the look-ahead's lines; the next the step is at */
    struct text_memo *memo;
};

typedef enum cmd_rc (*text_handler_fn)(struct text_exec *x, const struct mc_text_req *r);

#define LIT(s) BSTR_LIT(s "\r\n")

static void
out_append(struct text_exec *x, const void *p, size_t n)
{
    int rc = buf_append(x->out, p, n);
    if (rc != 0 && x->call.err == 0) {
        x->call.err = rc;
    }
}

/* A whole reply line, unless the request said noreply. */
static void
reply(struct text_exec *x, const struct mc_text_req *r, struct bstr line)
{
    if (!r->noreply) {
        out_append(x, line.data, line.len);
    }
}

static void
reply_u64(struct text_exec *x, const struct mc_text_req *r, uint64_t v)
{
    if (!r->noreply) {
        char tmp[24];
        size_t n = num_u64_to_dec_fast(v, tmp);
        tmp[n++] = '\r';
        tmp[n++] = '\n';
        out_append(x, tmp, n);
    }
}

/* memcached's protocols use database 0 as RESP's clients name it: after
 * SWAPDB 0 N, the items RESP's database 0 sees. */
static inline __attribute__((always_inline)) void
key_init(struct text_exec *x, struct store_key *k, struct bstr key)
{
    store_key_init_hashed(k, key.data, key.len, step_key_hash(&x->call, key.data, key.len),
                          store_db_phys(x->store, 0));
}

/* --- retrieval --------------------------------------------------------- */

struct value_ctx {
    struct text_exec *x;
    bool cas;
    bool direct; /* a large value may go straight to the socket (not gat: no head held) */
};

/*
 * Called under the shard lock: one reservation, then plain copies.
 * "VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n"; a large value
 * goes from item memory to the socket when it can (session_out_value).
 */
static void
on_value(void *ctx, const struct store_item_view *v)
{
    struct value_ctx *vc = ctx;
    struct text_exec *x = vc->x;
    bool direct = vc->direct && session_direct(x->s, v->nbytes);
    /* the line at its longest: "VALUE " key, three numbers, spaces, CRLF */
    size_t most = 6 + v->nkey + 3 * 21 + 5 + (direct ? 0 : v->nbytes + 2);
    int rc = buf_reserve(x->out, most, SIZE_MAX);
    if (rc != 0) {
        if (x->call.err == 0) {
            x->call.err = rc;
        }
        return;
    }
    char *start = x->out->data + x->out->wpos;
    char *p = start;
    memcpy(p, "VALUE ", 6);
    p += 6;
    buf_copy_short(p, v->key, v->nkey);
    p += v->nkey;
    *p++ = ' ';
    p += num_u64_to_dec_fast(v->flags, p);
    *p++ = ' ';
    p += num_u64_to_dec_fast(v->nbytes, p);
    if (vc->cas) {
        *p++ = ' ';
        p += num_u64_to_dec(v->cas, p);
    }
    *p++ = '\r';
    *p++ = '\n';
    if (direct) { /* the value from item memory, when the socket takes it */
        x->out->wpos += (size_t)(p - start);
        rc = session_out_value(x->s, &x->call.unsent, v->value, v->nbytes);
        rc = rc != 0 ? rc : buf_append(x->out, "\r\n", 2);
        if (rc != 0 && x->call.err == 0) {
            x->call.err = rc;
        }
        return;
    }
    memcpy(p, v->value, v->nbytes);
    p += v->nbytes;
    memcpy(p, "\r\n", 2);
    p += 2;
    x->out->wpos += (size_t)(p - start);
}

static enum cmd_rc
cmd_get(struct text_exec *x, const struct mc_text_req *r)
{
    bool touch = r->cmd == MC_TEXT_GAT || r->cmd == MC_TEXT_GATS;
    struct value_ctx vc = {
        .x = x, .cas = r->cmd == MC_TEXT_GETS || r->cmd == MC_TEXT_GATS, .direct = !touch};
    /* on_value reads no expiry or access time, and the cas for gets/gats */
    struct store_get_opts opts = {
        .touch = touch,
        .skip = STORE_VIEW_SKIP_META | (vc.cas ? 0 : STORE_VIEW_SKIP_CAS),
    };
    if (touch) {
        opts.exptime = clock_exptime_to_rel(r->exptime);
    }
    struct mc_text_keys it;
    mc_text_req_keys(&it, r);
    size_t served = 0;
    if (x->s->resume > 0) {
        mc_text_keys_seek(&it, x->s->resume);
    }
    struct bstr key;
    while (mc_text_keys_next(&it, &key)) {
        /* Pause only between keys and after at least one, so that every
         * call makes progress. */
        if (served > 0 && buf_readable(x->out) > SESSION_OUT_HIGH) {
            x->s->resume = (size_t)(key.data - r->keys.data);
            return CMD_PAUSE;
        }
        served++;
        struct store_key k;
        key_init(x, &k, key);
        (void)mc_core_read(x->s, &k, &opts, on_value, &vc);
    }
    x->s->resume = 0;
    out_append(x, "END\r\n", 5);
    x->call.unsent = buf_readable(x->out); /* memcached writes after every get */
    return CMD_DONE;
}

/* A memo'd one-key get or gets (struct text_memo): what cmd_get does with
 * that request, without its parse. */
static void
get_one(struct text_exec *x, const struct text_memo *m)
{
    static const struct store_get_opts get = {.skip = STORE_VIEW_SKIP_META | STORE_VIEW_SKIP_CAS},
                                       gets = {.skip = STORE_VIEW_SKIP_META};
    struct value_ctx vc = {.x = x, .cas = m->cas, .direct = true};
    struct store_key k;
    key_init(x, &k, (struct bstr){m->key, m->klen});
    (void)mc_core_read(x->s, &k, m->cas ? &gets : &get, on_value, &vc);
    struct buf *out = x->out;
    if (__builtin_expect(buf_writable(out) >= 5, 1)) {
        memcpy(out->data + out->wpos, "END\r\n", 5); /* two stores, not a call */
        out->wpos += 5;
    } else {
        out_append(x, "END\r\n", 5);
    }
    x->call.unsent = buf_readable(x->out); /* memcached writes after every get */
}

/* --- storage ----------------------------------------------------------- */

static const enum store_mode store_modes[MC_TEXT_CMD_COUNT] = {
    [MC_TEXT_SET] = STORE_MODE_SET,         [MC_TEXT_ADD] = STORE_MODE_ADD,
    [MC_TEXT_REPLACE] = STORE_MODE_REPLACE, [MC_TEXT_APPEND] = STORE_MODE_APPEND,
    [MC_TEXT_PREPEND] = STORE_MODE_PREPEND, [MC_TEXT_CAS] = STORE_MODE_CAS,
};

static const struct bstr reply_too_large = LIT("SERVER_ERROR object too large for cache");

static const struct bstr store_replies[] = {
    [STORE_OK] = LIT("STORED"),
    [STORE_NOT_FOUND] = LIT("NOT_FOUND"),
    [STORE_EXISTS] = LIT("EXISTS"),
    [STORE_NOT_STORED] = LIT("NOT_STORED"),
    [STORE_TOO_LARGE] = LIT("SERVER_ERROR object too large for cache"),
    [STORE_NO_MEMORY] = LIT("SERVER_ERROR out of memory storing object"),
    [STORE_NON_NUMERIC] = LIT("SERVER_ERROR Unhandled storage type."),
};

static enum cmd_rc
cmd_store(struct text_exec *x, const struct mc_text_req *r)
{
    struct store_key k;
    key_init(x, &k, r->key);
    struct store_set_req sr = {
        .mode = store_modes[r->cmd],
        .value = r->data.data,
        .nbytes = r->nbytes,
        .flags = r->flags,
        .exptime = clock_exptime_to_rel(r->exptime),
        .cas = r->cmd == MC_TEXT_CAS ? r->cas : 0,
    };
    /* memcached drops the old value only when a set fails */
    enum store_rc rc = mc_core_store(x->s, &k, &sr, r->cmd == MC_TEXT_SET, NULL);
    reply(x, r, store_replies[rc]);
    return CMD_DONE;
}

/* A memo'd set (struct text_memo): what cmd_store does with it, without
 * its parse. */
static void
set_one(struct text_exec *x, const struct text_memo *m)
{
    struct store_key k;
    key_init(x, &k, (struct bstr){m->key, m->klen});
    struct store_set_req sr = {
        .mode = STORE_MODE_SET,
        .value = m->value,
        .nbytes = m->nbytes,
        .flags = m->flags,
        .exptime = clock_exptime_to_rel(m->exptime),
    };
    enum store_rc rc = mc_core_store(x->s, &k, &sr, true, NULL);
    out_append(x, store_replies[rc].data, store_replies[rc].len);
}

/* --- one-key commands -------------------------------------------------- */

static enum cmd_rc
cmd_arith(struct text_exec *x, const struct mc_text_req *r)
{
    bool incr = r->cmd == MC_TEXT_INCR;
    struct store_key k;
    key_init(x, &k, r->key);
    struct store_arith_req ar = {.incr = incr, .delta = r->delta};
    uint64_t value = 0;
    enum store_rc rc = mc_core_arith(x->s, &k, &ar, &value, NULL);
    switch (rc) {
    case STORE_OK:
        reply_u64(x, r, value);
        break;
    case STORE_NOT_FOUND:
        reply(x, r, LIT("NOT_FOUND"));
        break;
    case STORE_NON_NUMERIC:
        reply(x, r, LIT("CLIENT_ERROR cannot increment or decrement non-numeric value"));
        break;
    default:
        reply(x, r, LIT("SERVER_ERROR out of memory"));
        break;
    }
    return CMD_DONE;
}

static void
on_touched(void *ctx, const struct store_item_view *v)
{
    (void)ctx;
    (void)v;
}

static enum cmd_rc
cmd_touch(struct text_exec *x, const struct mc_text_req *r)
{
    /* A touching read rather than store_touch: it also says why a miss
     * missed, which memcached counts (get_expired, get_flushed). */
    struct store_key k;
    key_init(x, &k, r->key);
    struct store_get_opts opts = {.touch = true, .exptime = clock_exptime_to_rel(r->exptime)};
    if (mc_core_read_as(x->s, &k, &opts, on_touched, NULL, false) == STORE_OK) {
        reply(x, r, LIT("TOUCHED"));
    } else {
        reply(x, r, LIT("NOT_FOUND"));
    }
    return CMD_DONE;
}

static enum cmd_rc
cmd_delete(struct text_exec *x, const struct mc_text_req *r)
{
    struct store_key k;
    key_init(x, &k, r->key);
    if (mc_core_delete(x->s, &k, 0) == STORE_OK) {
        reply(x, r, LIT("DELETED"));
    } else {
        reply(x, r, LIT("NOT_FOUND"));
    }
    return CMD_DONE;
}

/* --- administration ---------------------------------------------------- */

static enum cmd_rc
cmd_flush_all(struct text_exec *x, const struct mc_text_req *r)
{
    METRIC_INC(x->m, cmd_flush); /* counted even when refused, as memcached */
    if (!x->s->env->opts->flush_enabled) {
        reply(x, r, LIT("CLIENT_ERROR flush_all not allowed"));
        return CMD_DONE;
    }
    /* memcached reads a delay unless the line is just "flush_all" or
     * "flush_all noreply"; "flush_all 1 2" flushes in 1 s. */
    int32_t delay = 0;
    if (r->ntok != (r->noreply ? 2u : 1u) && !mc_text_i32(r->tok[1], &delay)) {
        reply(x, r, LIT("CLIENT_ERROR invalid exptime argument"));
        return CMD_DONE;
    }
    mc_core_flush(x->s, delay);
    reply(x, r, LIT("OK"));
    return CMD_DONE;
}

static enum cmd_rc
cmd_version(struct text_exec *x, const struct mc_text_req *r)
{
    reply(x, r, LIT("VERSION " MC_STATS_VERSION));
    return CMD_DONE;
}

static enum cmd_rc
cmd_verbosity(struct text_exec *x, const struct mc_text_req *r)
{
    uint32_t level;
    if (!mc_text_u32(r->tok[1], &level)) {
        reply(x, r, LIT("CLIENT_ERROR bad command line format"));
        return CMD_DONE;
    }
    log_set_verbosity(level > 3 ? 3 : (int)level);
    reply(x, r, LIT("OK"));
    return CMD_DONE;
}

static enum cmd_rc
cmd_quit(struct text_exec *x, const struct mc_text_req *r)
{
    (void)x;
    (void)r;
    return CMD_CLOSE;
}

static enum cmd_rc
cmd_cache_memlimit(struct text_exec *x, const struct mc_text_req *r)
{
    uint32_t mb;
    if (!mc_text_u32(r->tok[1], &mb)) {
        reply(x, r, LIT("ERROR"));
    } else if (mb < 8) {
        reply(x, r, LIT("MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m"));
    } else if (mb > 1000000000) {
        reply(x, r, LIT("MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes"));
    } else if (store_set_memory_limit(x->store, (uint64_t)mb * 1024 * 1024) == 0) {
        log_verbose("maxbytes adjusted to %um", (unsigned)mb);
        reply(x, r, LIT("OK"));
    } else {
        reply(x, r, LIT("MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust"));
    }
    return CMD_DONE;
}

static enum cmd_rc
cmd_shutdown(struct text_exec *x, const struct mc_text_req *r)
{
    const struct cmd_env *env = x->s->env;
    if (!env->opts->shutdown_enabled) {
        reply(x, r, LIT("ERROR: shutdown not enabled"));
        return CMD_DONE;
    }
    bool graceful;
    if (r->ntok == 1) {
        graceful = false;
    } else if (r->ntok == 2 && bstr_eq(r->tok[1], BSTR_LIT("graceful"))) {
        graceful = true;
    } else {
        reply(x, r, LIT("CLIENT_ERROR invalid shutdown mode"));
        return CMD_DONE;
    }
    if (env->shutdown != NULL) {
        env->shutdown(env->ctx, graceful);
    }
    return CMD_CLOSE; /* memcached closes the connection without a reply */
}

/* memcached -Z's certificate reload. Its error replies are sent even
 * with noreply, as memcached sends them. */
static enum cmd_rc
cmd_refresh_certs(struct text_exec *x, const struct mc_text_req *r)
{
    static const char not_enabled[] = "Error TLS not enabled\r\n";
    const struct cmd_env *env = x->s->env;
    char err[512];
    if (env->refresh_certs == NULL) {
        out_append(x, not_enabled, sizeof(not_enabled) - 1);
    } else if (env->refresh_certs(env->ctx, err, sizeof(err)) == 0) {
        reply(x, r, LIT("OK"));
    } else {
        out_append(x, err, strlen(err));
        out_append(x, "\r\n", 2);
    }
    return CMD_DONE;
}

static void
emit_stat(void *ctx, struct bstr name, struct bstr value)
{
    struct text_exec *x = ctx;
    out_append(x, "STAT ", 5);
    out_append(x, name.data, name.len);
    out_append(x, " ", 1);
    out_append(x, value.data, value.len);
    out_append(x, "\r\n", 2);
}

static enum cmd_rc
tool_rc(enum mc_tool_rc rc)
{
    return rc == MC_TOOL_PAUSE ? CMD_PAUSE : rc == MC_TOOL_YIELD ? CMD_YIELD : CMD_DONE;
}

/* lru_crawler metadump|crawl|... (cmd/mc_tools.c) */
static enum cmd_rc
cmd_lru_crawler(struct text_exec *x, const struct mc_text_req *r)
{
    return tool_rc(mc_tools_lru_crawler(x->s, r, &x->call.err));
}

/* watch [classes]: from now on the connection streams the log */
static enum cmd_rc
cmd_watch(struct text_exec *x, const struct mc_text_req *r)
{
    mc_tools_watch(x->s, r, &x->call.err);
    return session_streaming(x->s) ? CMD_STREAM : CMD_DONE;
}

static enum cmd_rc
cmd_stats(struct text_exec *x, const struct mc_text_req *r)
{
    struct bstr group = r->ntok > 1 ? r->tok[1] : (struct bstr){.data = "", .len = 0};
    enum mc_tool_rc trc;
    if (mc_tools_stats(x->s, r, &trc, &x->call.err)) {
        return tool_rc(trc); /* detail, cachedump, sizes */
    }
    if (bstr_eq(group, BSTR_LIT("reset"))) {
        stats_reset(x->s);
        reply(x, r, LIT("RESET"));
        return CMD_DONE;
    }
    if (!mc_stats_render(x->s, group, emit_stat, x)) {
        reply(x, r, LIT("ERROR")); /* as memcached, for groups it does not know */
        return CMD_DONE;
    }
    out_append(x, "END\r\n", 5);
    return CMD_DONE;
}

/* The parser returns no command without a handler above (unknown ones
 * are its own ERROR); this answers as memcached would if one ever did,
 * rather than call through a NULL. */
static enum cmd_rc
cmd_unknown(struct text_exec *x, const struct mc_text_req *r)
{
    reply(x, r, LIT("ERROR"));
    return CMD_DONE;
}

/* Dispatch: one handler per command; meta commands (MC_TEXT_MG .. ME) go
 * to mc_meta_cmd, which also reads an ms data block (see the loop). */
static const text_handler_fn handlers[MC_TEXT_CMD_COUNT] = {
    [MC_TEXT_GET] = cmd_get,
    [MC_TEXT_GETS] = cmd_get,
    [MC_TEXT_GAT] = cmd_get,
    [MC_TEXT_GATS] = cmd_get,
    [MC_TEXT_SET] = cmd_store,
    [MC_TEXT_ADD] = cmd_store,
    [MC_TEXT_REPLACE] = cmd_store,
    [MC_TEXT_APPEND] = cmd_store,
    [MC_TEXT_PREPEND] = cmd_store,
    [MC_TEXT_CAS] = cmd_store,
    [MC_TEXT_INCR] = cmd_arith,
    [MC_TEXT_DECR] = cmd_arith,
    [MC_TEXT_TOUCH] = cmd_touch,
    [MC_TEXT_DELETE] = cmd_delete,
    [MC_TEXT_FLUSH_ALL] = cmd_flush_all,
    [MC_TEXT_VERSION] = cmd_version,
    [MC_TEXT_VERBOSITY] = cmd_verbosity,
    [MC_TEXT_QUIT] = cmd_quit,
    [MC_TEXT_CACHE_MEMLIMIT] = cmd_cache_memlimit,
    [MC_TEXT_SHUTDOWN] = cmd_shutdown,
    [MC_TEXT_STATS] = cmd_stats,
    [MC_TEXT_LRU_CRAWLER] = cmd_lru_crawler,
    [MC_TEXT_WATCH] = cmd_watch,
    [MC_TEXT_REFRESH_CERTS] = cmd_refresh_certs,
};

/* --- values stored in place (cmd/step.h) ------------------------------- */

static const struct bstr reply_bad_chunk = LIT("CLIENT_ERROR bad data chunk");

/*
 * A set, add, replace or cas whose line is here and whose large value is
 * not all here yet: store it in place, its first bytes being those after
 * the line in data[0..len). false: buffer it whole (append and prepend
 * need the old value; the worker's share is held; no room was made).
 */
static bool
sink_start(struct text_exec *x, const struct mc_text_req *r, const char *data, size_t len)
{
    if (r->cmd != MC_TEXT_SET && r->cmd != MC_TEXT_ADD && r->cmd != MC_TEXT_REPLACE &&
        r->cmd != MC_TEXT_CAS) {
        return false;
    }
    size_t line = r->need - r->nbytes - 2;
    struct store_key k;
    key_init(x, &k, r->key);
    struct store_set_req sr = {
        .mode = store_modes[r->cmd],
        .nbytes = r->nbytes,
        .flags = r->flags,
        .exptime = clock_exptime_to_rel(r->exptime),
        .cas = r->cmd == MC_TEXT_CAS ? r->cas : 0,
    };
    if (session_sink_start(x->s, &k, &sr, (int)r->cmd, r->noreply, 2) == NULL) {
        return false;
    }
    (void)session_sink_feed(x->s, data + line, len - line);
    return true;
}

/* The value and its closing bytes are in: store it and answer, as
 * cmd_store would have (a bad data chunk as the parser answers it). */
static enum step_rc
text_sunk(struct session_call *c)
{
    struct text_exec *x = (struct text_exec *)c;
    struct session_sink *sk = x->s->sink;
    if (sk->tail[0] != '\r' || sk->tail[1] != '\n') {
        METRIC_INC(x->m, protocol_errors);
        METRIC_INC(x->m, cmd_set); /* as memcached counts it */
        if (!sk->noreply) {
            out_append(x, reply_bad_chunk.data, reply_bad_chunk.len);
        }
        session_sink_end(x->s);
        return STEP_DONE;
    }
    enum store_rc rc = store_commit(x->store, &sk->key, &sk->req, &sk->p, NULL);
    rc = mc_core_stored(x->s, &sk->key, &sk->req, sk->cmd == MC_TEXT_SET, rc);
    if (!sk->noreply) {
        out_append(x, store_replies[rc].data, store_replies[rc].len);
    }
    session_sink_end(x->s);
    return STEP_DONE;
}

/* --- the step ---------------------------------------------------------- */

static bool
text_fits(void *ctx, size_t nkey, size_t nbytes)
{
    return store_fits(ctx, nkey, nbytes);
}

/* s->flags: the SERVER_ERROR of a refused value is due once it has been
 * swallowed (memcached sends nothing while it swallows); for a refused ms
 * the due reply is a meta error id in TEXT_META_DUE_MASK. */
#define TEXT_TOO_LARGE_DUE 0x1u
#define TEXT_META_DUE_SHIFT 8
#define TEXT_META_DUE_MASK (0xffu << TEXT_META_DUE_SHIFT)

/* A request the parser refused before its value: memcached skips the value
 * without storing it (the bytes may arrive much later). */
static void
too_large(struct text_exec *x, const struct mc_text_req *r)
{
    struct store_key k;
    key_init(x, &k, r->key);
    mc_core_too_large(x->s, &k, r->cmd == MC_TEXT_SET, true);
    x->s->swallow = r->swallow;
    if (!r->noreply) {
        x->s->flags |= TEXT_TOO_LARGE_DUE;
    }
}

/*
 * memcached's answer to a retrieval key over 250 bytes also discards every
 * reply it has not written yet (conn_release_items): those of the requests
 * since the start of the read or since the last completed get. Clients
 * that pipeline past a bad key lose replies with memcached too.
 */
static void
cull_unsent(struct text_exec *x, const struct mc_text_req *r)
{
    static const struct bstr bad_key = LIT("CLIENT_ERROR bad command line format");
    bool retrieval = r->cmd == MC_TEXT_GET || r->cmd == MC_TEXT_GETS || r->cmd == MC_TEXT_GAT ||
                     r->cmd == MC_TEXT_GATS;
    if (retrieval && bstr_eq(r->error, bad_key) && buf_readable(x->out) > x->call.unsent) {
        x->out->wpos = x->out->rpos + x->call.unsent;
    }
}

/*
 * memcached's ASCII authentication (-Y) answers every request of one read
 * into the same response, so only the last reply of a read survives
 * ("get a\r\nset a 0 0 9\r\nuser pass\r\n" gets "STORED" alone). The reply
 * just made, at out[before..], replaces the previous one of this call (at
 * prev, SIZE_MAX if none); returns where the survivor starts.
 */
static size_t
keep_last_auth_reply(struct buf *out, size_t prev, size_t before)
{
    if (prev == SIZE_MAX) {
        return before;
    }
    size_t n = buf_readable(out) - before;
    memmove(out->data + out->rpos + prev, out->data + out->rpos + before, n);
    out->wpos = out->rpos + prev + n;
    return prev;
}

/* A connection that has not authenticated: its request must be memcached's
 * ASCII authentication. */
static enum step_rc
auth_step(struct text_exec *x, const char *data, size_t len, size_t *used, size_t *need)
{
    size_t before = buf_readable(x->out);
    enum mc_auth_text_rc arc = mc_auth_text(x->s, data, len, used, need, &x->call.err);
    switch (arc) {
    case MC_AUTH_TEXT_NEED_MORE:
        return STEP_NEED_MORE;
    case MC_AUTH_TEXT_CLOSE:
        return STEP_CLOSE;
    case MC_AUTH_TEXT_AUTHED:
        x->s->authed = true;
        break;
    case MC_AUTH_TEXT_REFUSED:
        break;
    }
    x->call.mark = keep_last_auth_reply(x->out, x->call.mark, before);
    return STEP_DONE;
}

/* A meta command, which the parser read whole: mc_meta_cmd serves it. */
static enum step_rc
meta_step(struct text_exec *x, const struct mc_text_req *r, size_t *used)
{
    struct session *s = x->s;
    struct mc_meta_outcome mo;
    mc_meta_cmd_serve(s, r, &mo, &x->call.err, &x->call.unsent);
    if (mo.error) {
        METRIC_INC(x->m, protocol_errors);
    }
    *used = mo.consumed;
    if (mo.swallow > 0) {
        s->swallow = mo.swallow;
        s->flags |= (uint32_t)mo.due << TEXT_META_DUE_SHIFT;
    }
    return STEP_DONE;
}

/* The step: one text or meta request (see step.h). */
static inline __attribute__((always_inline)) enum step_rc
text_step(struct session_call *c, char *data, size_t len, size_t *used, size_t *need)
{
    struct text_exec *x = (struct text_exec *)c;
    if (!x->s->authed) {
        return auth_step(x, data, len, used, need);
    }
    if (x->memo_i < x->memo_n) {
        while (x->memo_i < x->memo_n && x->memo[x->memo_i].at < data) {
            x->memo_i++; /* lines the step read otherwise (a value's bytes) */
        }
        if (x->memo_i < x->memo_n && x->memo[x->memo_i].at == data && x->s->resume == 0) {
            const struct text_memo *m = &x->memo[x->memo_i++];
            if (m->set) {
                set_one(x, m);
            } else {
                get_one(x, m);
            }
            *used = m->size;
            return STEP_DONE;
        }
    }
    const struct mc_text_limits lim = {.fits = text_fits, .ctx = x->store};
    struct mc_text_req r;
    switch (mc_text_parse(data, len, &lim, &r)) {
    case MC_TEXT_NEED_MORE:
        if (__builtin_expect(r.need > 0 && r.nbytes >= x->s->sink_min, 0) &&
            sink_start(x, &r, data, len)) {
            *used = len;
            return STEP_DONE;
        }
        *need = r.need;
        return STEP_NEED_MORE;
    case MC_TEXT_CLOSE:
        METRIC_INC(x->m, protocol_errors);
        return STEP_CLOSE;
    case MC_TEXT_ERROR:
        METRIC_INC(x->m, protocol_errors);
        if (r.data.data != NULL) {
            METRIC_INC(x->m, cmd_set); /* bad data chunk: memcached counts the set */
        }
        cull_unsent(x, &r);
        reply(x, &r, r.error);
        *used = r.consumed;
        return STEP_DONE;
    case MC_TEXT_TOO_LARGE:
        too_large(x, &r);
        *used = r.consumed;
        return STEP_DONE;
    case MC_TEXT_OK:
        break;
    }
    if (r.cmd >= MC_TEXT_MG && r.cmd <= MC_TEXT_ME) {
        return meta_step(x, &r, used);
    }
    text_handler_fn h = handlers[r.cmd] != NULL ? handlers[r.cmd] : cmd_unknown;
    enum cmd_rc cr = h(x, &r);
    *used = r.consumed;
    if (__builtin_expect(cr != CMD_DONE, 0)) {
        switch (cr) {
        case CMD_PAUSE:
            return STEP_PAUSE;
        case CMD_YIELD:
            return STEP_YIELD;
        case CMD_CLOSE:
            return STEP_CLOSE;
        case CMD_STREAM:
            *used = len; /* memcached reads no more requests from a watcher */
            return STEP_DONE;
        case CMD_DONE:
            break;
        }
    }
    return STEP_DONE;
}

/* A refused value was swallowed: the error memcached sends then. */
static void
text_swallowed(struct session_call *c)
{
    struct text_exec *x = (struct text_exec *)c;
    struct session *s = x->s;
    if (s->flags & TEXT_TOO_LARGE_DUE) {
        s->flags &= ~TEXT_TOO_LARGE_DUE;
        out_append(x, reply_too_large.data, reply_too_large.len);
    }
    if (s->flags & TEXT_META_DUE_MASK) {
        struct bstr due = mc_meta_error_text(
            (enum mc_meta_err)((s->flags & TEXT_META_DUE_MASK) >> TEXT_META_DUE_SHIFT));
        s->flags &= ~TEXT_META_DUE_MASK;
        out_append(x, due.data, due.len);
    }
}

/* A line the look-ahead reads: [lo, end), its CR (if any) and LF left
 * out, in an input that ends at hi. */
struct peek_line {
    const char *lo, *end, *hi;
};

/* Skip spaces, then the token at *p: its length (*p past it). A token
 * ends at a space or the line's end, found 16 bytes at a time. */
static size_t
peek_token(const char **p, const struct peek_line *l, const char **tok)
{
    const char *q = *p;
    while (q < l->end && *q == ' ') {
        q++;
    }
    *tok = q;
    q = mc_text_space_or_end(q, l->end, l->lo, l->hi);
    *p = q;
    return (size_t)(q - *tok);
}

/* The number at *p after spaces (digits only, bounded), or -1. */
static int64_t
peek_number(const char **p, const struct peek_line *l)
{
    const char *t;
    size_t n = peek_token(p, l, &t);
    if (n == 0 || n > 10) {
        return -1;
    }
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i] < '0' || t[i] > '9') {
            return -1;
        }
        v = v * 10 + (t[i] - '0');
    }
    return v;
}

enum peek_kind { PEEK_NONE, PEEK_KEYS, PEEK_STORE, PEEK_META, PEEK_META_SET };

/* A line shorter than this holds a few keys at most: alone in the input
 * (a request without a value, nothing after it), it is not looked over. */
#define PEEK_LONE_LINE 48

static enum peek_kind
peek_command(const char **p, const struct peek_line *l)
{
    const char *t;
    size_t n = peek_token(p, l, &t);
    if (n == 3 && memcmp(t, "get", 3) == 0) {
        return PEEK_KEYS;
    }
    if (n == 4 && memcmp(t, "gets", 4) == 0) {
        return PEEK_KEYS;
    }
    if (n == 3 &&
        (memcmp(t, "set", 3) == 0 || memcmp(t, "add", 3) == 0 || memcmp(t, "cas", 3) == 0)) {
        return PEEK_STORE;
    }
    if (n == 2 && t[0] == 'm' && (t[1] == 'g' || t[1] == 'd' || t[1] == 'a')) {
        return PEEK_META;
    }
    if (n == 2 && t[0] == 'm' && t[1] == 's') {
        return PEEK_META_SET;
    }
    return PEEK_NONE;
}

/* Is b[0..n) free of spaces, control bytes and DEL? 16 bytes at a time;
 * a key shorter than 16 in one load that stays within [lo, hi). */
static inline bool
key_bytes_plain(const char *b, size_t n, const char *lo, const char *hi)
{
    size_t i = 0;
#ifdef __SSE2__
    const __m128i sp = _mm_set1_epi8(0x21), del = _mm_set1_epi8(0x7f);
    /* signed compare: bytes >= 0x80 are negative, below 0x21, so they
     * fail too (the parser takes them; only the memo is refused) */
#define KEY_BAD(p)                                                                                 \
    ((unsigned)_mm_movemask_epi8(                                                                  \
        _mm_or_si128(_mm_cmplt_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p)), sp),      \
                     _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p)), del))))
    if (n < 16) {
        if (hi - b >= 16) {
            return (KEY_BAD(b) & ((1u << n) - 1)) == 0;
        }
        if (b + n - lo >= 16) {
            return (KEY_BAD(b + n - 16) >> (16 - n)) == 0;
        }
    } else {
        for (; i + 16 <= n; i += 16) {
            if (KEY_BAD(b + i) != 0) {
                return false;
            }
        }
        /* the last bytes: a load that overlaps the one before */
        return i == n || KEY_BAD(b + n - 16) == 0;
    }
#undef KEY_BAD
#else
    (void)lo;
    (void)hi;
#endif
    for (; i < n; i++) {
        unsigned char ch = (unsigned char)b[i];
        if (ch <= 0x20 || ch >= 0x7f) {
            return false;
        }
    }
    return true;
}

static inline void
text_memo_add(struct text_exec *x, const char *lo, const char *end, const char *key, size_t klen,
              bool cas)
{
    /* the LF after end, or the CR and the LF */
    size_t size = (size_t)(end - lo) + (end[0] == '\r' ? 2 : 1);
    x->memo[x->memo_n++] = (struct text_memo){.at = lo,
                                              .key = key,
                                              .size = (uint32_t)size,
                                              .klen = (uint8_t)klen,
                                              .cas = cas,
                                              .set = false};
}

/* Keep the line for the step when it is one of struct text_memo's. */
static void
text_memo_line(struct text_exec *x, const struct peek_line *l, const char *key, size_t klen)
{
    const char *lo = l->lo;
    bool cas = key == lo + 5;
    if ((key != lo + 4 || memcmp(lo, "get ", 4) != 0) && (!cas || memcmp(lo, "gets ", 5) != 0)) {
        return;
    }
    if (key + klen != l->end || klen > MC_TEXT_KEY_MAX || !key_bytes_plain(key, klen, lo, l->hi)) {
        return;
    }
    text_memo_add(x, lo, l->end, key, klen, cas);
}

/*
 * The look-ahead (step.h): the keys of whole get, gets, set, add, cas,
 * mg, ms, md and ma requests at the front of the input (a value must be
 * there too). Anything else ends it. It only finds keys, the parser
 * still parses: a line it misreads costs a wasted prefetch, nothing more.
 */
static size_t
text_prefetch(struct session_call *c, const char *data, size_t len)
{
    struct text_exec *x = (struct text_exec *)c;
    struct step_keys keys;
    keys.n = 0; /* not = {0}: zeroing the arrays cost ~40 instructions a call */
    size_t pos = 0;
    x->memo_n = 0;
    x->memo_i = 0;
    while (keys.n < STEP_PREFETCH && pos < len) {
        const char *p = data + pos;
        size_t room = len - pos < MC_TEXT_LINE_MAX ? len - pos : MC_TEXT_LINE_MAX;
        const char *end = memchr(p, '\n', room);
        if (end == NULL) {
            break;
        }
        size_t next = (size_t)(end - data) + 1;
        if (next == len && keys.n == 0 && end - p < PEEK_LONE_LINE) {
            break; /* a lone short line (pipeline 1): no keys to overlap */
        }
        const struct peek_line line = {
            .lo = p, .end = end > p && end[-1] == '\r' ? end - 1 : end, .hi = data + len};
        if (line.end - p > 4 && memcmp(p, "get", 3) == 0 && x->memo_n < STEP_PREFETCH) {
            /* "get <key>" or "gets <key>", one plain key: the common
             * line, memo'd without the token walk below (the same test
             * text_memo_line makes; any other line goes that way) */
            bool cas = p[3] == 's';
            const char *k = p + 4 + cas;
            size_t klen = (size_t)(line.end - k);
            if (p[3 + cas] == ' ' && line.end > k && klen <= MC_TEXT_KEY_MAX &&
                key_bytes_plain(k, klen, data, line.hi)) {
                step_keys_add(&keys, k, klen);
                text_memo_add(x, p, line.end, k, klen, cas);
                pos = next;
                continue;
            }
        }
        enum peek_kind kind = peek_command(&p, &line);
        const char *k;
        size_t klen;
        if (kind == PEEK_NONE || (klen = peek_token(&p, &line, &k)) == 0 ||
            klen > MC_TEXT_KEY_MAX) {
            break;
        }
        step_keys_add(&keys, k, klen);
        if (kind == PEEK_KEYS && x->memo_n < STEP_PREFETCH) {
            text_memo_line(x, &line, k, klen);
        }
        if (kind == PEEK_KEYS) {
            while (keys.n < STEP_PREFETCH && (klen = peek_token(&p, &line, &k)) != 0 &&
                   klen <= MC_TEXT_KEY_MAX) {
                step_keys_add(&keys, k, klen);
            }
        } else if (kind == PEEK_STORE || kind == PEEK_META_SET) {
            int64_t flags = -1, exptime = -1;
            int64_t bytes = peek_number(&p, &line); /* ms <key> <datalen> */
            if (kind == PEEK_STORE) {               /* set <key> <flags> <exptime> <bytes> */
                flags = bytes;
                exptime = peek_number(&p, &line);
                bytes = exptime >= 0 ? peek_number(&p, &line) : -1;
            }
            if (bytes < 0) {
                break;
            }
            next += (size_t)bytes + 2;
            if (kind == PEEK_STORE && next <= len && flags >= 0 && flags <= INT32_MAX &&
                exptime <= INT32_MAX && bytes <= INT32_MAX && p == line.end &&
                x->memo_n < STEP_PREFETCH && k == line.lo + 4 && memcmp(line.lo, "set ", 4) == 0 &&
                key_bytes_plain(k, klen, data, line.hi) && data[next - 2] == '\r' &&
                data[next - 1] == '\n' && store_fits(x->store, klen, (size_t)bytes)) {
                x->memo[x->memo_n++] = (struct text_memo){
                    .at = line.lo,
                    .key = k,
                    .value = data + next - 2 - bytes,
                    .size = (uint32_t)(next - pos),
                    .nbytes = (uint32_t)bytes,
                    .flags = (uint32_t)flags,
                    .exptime = (uint32_t)exptime,
                    .klen = (uint8_t)klen,
                    .set = true,
                };
            }
        }
        if (next > len) {
            break;
        }
        pos = next;
    }
    return step_keys_prefetch(&x->call, x->store, &keys, pos);
}

static const struct session_steps text_steps = {
    .step = text_step, .swallowed = text_swallowed, .prefetch = text_prefetch, .sunk = text_sunk};

enum session_rc
mc_text_cmd_process(struct session *s, const char *data, size_t len, size_t *consumed, size_t *need)
{
    struct step_hashes hashes;            /* written by the look-ahead before it is read */
    struct text_memo memo[STEP_PREFETCH]; /* ... and so are these */
    struct text_exec x = {
        .s = s,
        .store = s->env->store,
        .m = s->metrics,
        .out = s->out,
        .memo = memo,
    };
    session_call_init(&x.call, s, &hashes);
    return session_run(&x.call, &text_steps, data, len, consumed, need);
}
