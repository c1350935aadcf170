/*
 * step: the one request loop every protocol runs, and the contract
 * between it and each protocol's step (private to cmd/).
 *
 * A protocol's entry (mc_text_cmd_process, mc_bin_cmd_process,
 * resp_cmd_process) builds its execution context once per call, with a
 * struct session_call as its first member, and hands it to
 * session_run(), which runs the loop: discard the bytes of a refused value
 * (s->swallow) and send the reply they owed, stop after
 * opts->reqs_per_event requests (SESSION_YIELD) or while the replies are
 * over SESSION_OUT_HIGH (SESSION_PAUSE), close on a failed append. For
 * each request it calls the protocol's step, which serves the one request
 * at the front of the input:
 *
 *   STEP_DONE       served: *used bytes were the request's
 *   STEP_NEED_MORE  incomplete: nothing used; *need is the total the
 *                   request needs from its start when known, else 0
 *   STEP_PAUSE      the replies reached the bound in the middle of the
 *                   request (a long multi-get): nothing used, the request
 *                   stays at the front and the step resumes it next call
 *   STEP_YIELD      a long request (a dump) made progress and gives the
 *                   worker back to other connections: nothing used, the
 *                   request stays at the front (SESSION_YIELD)
 *   STEP_CLOSE      *used bytes consumed; send what is in s->out, close
 *
 * Why the loop is a static inline here rather than a function in
 * session.c: each protocol's entry instantiates it with its own step, so
 * the compiler inlines the step into the loop, as when every protocol had
 * its own copy. Measured with callgrind (4 connections x 20k pipelined
 * text gets, 16 deep): the loop as a function in session.c calling the
 * step through a pointer cost 45 more instructions per request (+3.4%
 * over the whole server) than the copies it replaced; inlined, it costs
 * none. The context is built once per call for the same reason.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stashd/cmd/session.h"
#include "stashd/store/store.h"
#include "stashd/util/buf.h"
#include "stashd/util/hash.h"
#include "stashd/util/log.h"
#include "stashd/util/options.h"

/* The most requests one look-ahead covers (step_prefetch_fn below). */
#define STEP_PREFETCH 16

/* What the loop and a step share; the first member of every protocol's
 * execution context. */
struct session_call {
    struct session *s;
    /*
     * Reply bytes in s->out that the protocol counts as written: net/
     * writes everything between calls, and memcached also writes at some
     * points within a read (after a text get, after a binary NOOP or an
     * error). A few of memcached's errors discard the replies written
     * since (text: a bad get key; binary: a bad magic); the steps keep
     * this mark up to date.
     */
    size_t unsent;
    /* A protocol's own mark within this call (text: where the last
     * ASCII-auth reply starts, SIZE_MAX for none). */
    size_t mark;
    int err; /* the first failed append: the loop closes the connection */
    /* The keys the last look-ahead hashed, in input order (step_key_hash):
     * hn of them in *h, hi the next one a step is expected to ask for. */
    uint8_t hn, hi;
    struct step_hashes *h;
};

/* Views into this call's input, which nothing rewrites before their
 * requests run, with their hashes. Left uninitialised on the protocol
 * entry's stack (a zeroed copy cost ~50 instructions a call, which at
 * pipeline 1 is a request). */
struct step_hashes {
    size_t len[STEP_PREFETCH];
    const char *key[STEP_PREFETCH];
    uint64_t hash[STEP_PREFETCH];
};

enum step_rc {
    STEP_DONE,
    STEP_NEED_MORE,
    STEP_PAUSE,
    STEP_YIELD,
    STEP_CLOSE,
};

/* Serve the request at data[0..len) (len > 0). data is writable: RESP
 * unescapes inline arguments in place. */
typedef enum step_rc (*step_fn)(struct session_call *c, char *data, size_t len, size_t *used,
                                size_t *need);

/* s->swallow just reached 0: append the reply the refused value owes. */
typedef void (*step_swallowed_fn)(struct session_call *c);

/*
 * A value being stored in place (SESSION_SINK_MIN in session.h): the
 * request's line has been served up to its value, whose bytes go into
 * the reserved item as they arrive, then the bytes that must end it
 * (text's and RESP's "\r\n"; none for binary).
 * The protocol's sunk hook then finishes the request from what it kept
 * here, and frees it with session_sink_end.
 */
struct session_sink {
    struct store_pending p;
    uint64_t held;     /* store_reserve_cost: counted in in_place_held_bytes */
    uint64_t left;     /* value bytes still to come */
    uint8_t tail_want; /* bytes that end the value: 2 for text ("\r\n"), 0 binary */
    uint8_t ntail;     /* of those, the ones seen */
    char tail[2];      /* ... ("\r\n" unless the client got its length wrong) */
    int cmd;           /* the protocol's own: what the request was */
    bool noreply;      /* text noreply, binary quiet */
    uint8_t opcode;    /* binary: the request's opcode and opaque, for the reply */
    uint32_t opaque;
    struct store_key key; /* key.data points at keybuf */
    struct store_set_req req;
    char keybuf[256];
};

/* Start storing a value in place (s->sink, returned): the reservation is
 * made, the request kept (the caller adds what else its reply needs);
 * session_sink_feed then takes the value's bytes and then tail_want more.
 * NULL when the worker holds its share already or the store made no
 * room: the caller buffers the value instead. */
struct session_sink *session_sink_start(struct session *s, const struct store_key *k,
                                        const struct store_set_req *r, int cmd, bool noreply,
                                        unsigned tail_want);
/* Feed it: the bytes used of data[0..len). */
size_t session_sink_feed(struct session *s, const char *data, size_t len);
/* Has the whole value and the bytes that close it arrived? */
static inline bool
session_sink_full(const struct session_sink *k)
{
    return k->left == 0 && k->ntail == k->tail_want;
}
/* The request is answered (or the connection goes): free the sink,
 * abandoning the reservation unless it was committed (p.ref 0). */
void session_sink_end(struct session *s);

/* s->sink is full: commit (or refuse) it and append the reply;
 * STEP_DONE, or STEP_CLOSE to close after the replies. */
typedef enum step_rc (*step_sunk_fn)(struct session_call *c);

/* A protocol's two hooks. */
/*
 * Look ahead over the complete requests at the front of the input (at
 * most STEP_PREFETCH of them) and have the store prefetch what they will
 * look up (store_prefetch_many); the bytes looked over, 0 when fewer than
 * two keys were found (one key has nothing to overlap with).
 */
typedef size_t (*step_prefetch_fn)(struct session_call *c, const char *data, size_t len);

/* The keys a look-ahead found: views into the input, hashed only when
 * there are two or more (a lone request, pipeline 1, pays no hash). */
struct step_keys {
    const char *key[STEP_PREFETCH];
    size_t len[STEP_PREFETCH];
    size_t n;
};

static inline void
step_keys_add(struct step_keys *k, const char *key, size_t len)
{
    k->key[k->n] = key;
    k->len[k->n] = len;
    k->n++;
}

/* A guess at a get's reply to 100-byte values with its header, for
 * step_prefetch_replies; a wrong guess costs a prefetch, nothing else. */
#define STEP_REPLY_GUESS 160

/* Own the reply buffer's lines the look-ahead's n replies will be written
 * to before they are: a connection's buffer was last written many
 * connections ago, and each reply's stores would otherwise wait for their
 * lines, and the next request's shard lock for those stores. Paired CPU a
 * request, cell b under memtier: 0.1-2% lower (bench/README, stop 39). */
static inline void
step_prefetch_replies(const struct buf *out, size_t n)
{
    size_t room = buf_writable(out);
    size_t want = n * STEP_REPLY_GUESS < room ? n * STEP_REPLY_GUESS : room;
    if (want == 0) {
        return; /* no buffer yet (data NULL), or a full one */
    }
    const char *p = out->data + out->wpos;
    for (size_t i = 0; i < want; i += 64) {
        __builtin_prefetch(p + i, 1);
    }
}

/* Have the store prefetch the keys: looked (the bytes the look-ahead
 * covered) when it did, 0 when there were fewer than two. */
static inline size_t
step_keys_prefetch(struct session_call *c, struct store *store, const struct step_keys *k,
                   size_t looked)
{
    c->hn = 0;
    c->hi = 0;
    if (k->n < 2) {
        return 0;
    }
    struct step_hashes *h = c->h;
    for (size_t i = 0; i < k->n; i++) {
        h->key[i] = k->key[i];
        h->len[i] = k->len[i];
        h->hash[i] = hash_bytes(k->key[i], k->len[i]);
    }
    c->hn = (uint8_t)k->n;
    store_prefetch_many(store, h->hash, k->n);
    step_prefetch_replies(c->s->out, k->n);
    return looked;
}

/* hash_bytes(key, len), from the look-ahead when it hashed this very key
 * (the same bytes of the input): each pipelined key is hashed once. Steps
 * ask for their keys in input order; one a step skipped (a refused
 * request) costs a search of the rest. */
uint64_t step_key_hash_search(struct session_call *c, const char *key, size_t len);

static inline uint64_t
step_key_hash(struct session_call *c, const char *key, size_t len)
{
    unsigned i = c->hi;
    if (i >= c->hn) {
        return hash_bytes(key, len); /* no look-ahead, or past it */
    }
    if (__builtin_expect(c->h->key[i] == key && c->h->len[i] == len, 1)) {
        c->hi = (uint8_t)(i + 1);
        return c->h->hash[i];
    }
    return step_key_hash_search(c, key, len);
}

struct session_steps {
    step_fn step;
    step_swallowed_fn swallowed; /* NULL: the protocol never swallows */
    step_prefetch_fn prefetch;   /* NULL: none */
    step_sunk_fn sunk;           /* NULL: the protocol stores nothing in place */
};

/* Record a failed append (the first one wins). */
static inline void
step_fail(struct session_call *c, int rc)
{
    if (rc != 0 && c->err == 0) {
        c->err = rc;
    }
}

/* Initialise the shared part of a call's context. */
static inline void
session_call_init(struct session_call *c, struct session *s, struct step_hashes *h)
{
    c->h = h;
    c->s = s;
    c->unsent = buf_readable(s->out);
    c->mark = SIZE_MAX;
    c->err = 0;
    c->hn = 0;
    c->hi = 0;
}

/* The loop: session_process's contract (session.h) for one protocol.
 * Call it with constant steps (see above). */
static inline __attribute__((always_inline)) enum session_rc
session_run(struct session_call *c, const struct session_steps *steps, const char *data, size_t len,
            size_t *consumed, size_t *need)
{
    struct session *s = c->s;
    int64_t rpe = s->env->opts->reqs_per_event;
    uint64_t limit = rpe > 0 ? (uint64_t)rpe : 1;
    uint64_t served = 0;
    size_t pos = 0, looked = 0; /* the look-ahead reached data + looked */
    enum session_rc rc = SESSION_OK;
    *need = 0;
    /* A value stored in place: only ever at the start of a call (the step
     * that starts one takes all the input there is), so the loop below
     * pays nothing for it. */
    if (__builtin_expect(s->sink != NULL, 0)) {
        pos = session_sink_feed(s, data, len);
        if (!session_sink_full(s->sink)) {
            *consumed = pos;
            return SESSION_OK;
        }
        served++;
        if (steps->sunk(c) == STEP_CLOSE) {
            *consumed = pos;
            return SESSION_CLOSE;
        }
    }
    for (;;) {
        if (s->swallow > 0) {
            size_t n = len - pos < s->swallow ? len - pos : (size_t)s->swallow;
            pos += n;
            s->swallow -= n;
            if (s->swallow > 0) {
                break;
            }
            if (steps->swallowed != NULL) {
                steps->swallowed(c);
            }
        }
        if (pos == len) {
            break;
        }
        if (served >= limit) {
            rc = SESSION_YIELD;
            break;
        }
        if (buf_readable(s->out) > SESSION_OUT_HIGH) {
            rc = SESSION_PAUSE;
            break;
        }
        /* Not before authentication: an unauthenticated client's keys do
         * not touch the store, not even its cache lines. */
        if (steps->prefetch != NULL && s->authed && pos >= looked && s->swallow == 0) {
            size_t n = steps->prefetch(c, data + pos, len - pos);
            looked = n != 0 ? pos + n : len; /* none: not again in this call */
        }
        size_t used = 0;
        /* net/'s read buffer is writable (see session_process in session.h) */
        enum step_rc st = steps->step(c, (char *)data + pos, len - pos, &used, need);
        if (st == STEP_NEED_MORE) {
            break; /* *need: from the request's start, at data + *consumed */
        }
        if (st == STEP_PAUSE) {
            rc = SESSION_PAUSE;
            break;
        }
        if (st == STEP_YIELD) {
            rc = SESSION_YIELD;
            break;
        }
        served++;
        pos += used;
        if (st == STEP_CLOSE) {
            rc = SESSION_CLOSE;
            break;
        }
        if (c->err != 0) {
            break;
        }
    }
    if (c->err != 0) {
        log_warn("closing a connection: no memory for its replies");
        rc = SESSION_CLOSE;
    }
    *consumed = pos;
    return rc;
}
