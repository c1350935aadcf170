/*
 * session: one client's protocol state, embedded in a net/ connection. net/
 * hands it the bytes it has read; the session parses requests in place,
 * executes them against the store and appends replies to *out. net/ knows
 * nothing about protocols: the session picks the protocol on the first byte
 * of the connection (0x80 memcached binary, '*' RESP, else memcached
 * text/meta) and dispatches through a table.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stashd/util/buf.h"

struct auth;
struct cmdstats;
struct hotkeys;
struct session;
struct metrics;
struct options;
struct stats;
struct store;

/* Per-connection facts that `stats conns` shows, supplied by net/. */
struct cmd_conn_info {
    const char *addr;   /* "tcp:127.0.0.1:5000", "unix:/path" */
    const char *state;  /* "conn_parse_cmd", "conn_waiting", ... */
    uint32_t idle_secs; /* since the last request */
    unsigned id;
    /* The listener a client came through ("tcp:127.0.0.1:11211"); NULL
     * for a listener's own row (state "conn_listening"). */
    const char *listen_addr;
    /* The connection's own end ("tcp:127.0.0.1:11211"): the listener's
     * address, or for a wildcard listener the address the client reached. */
    const char *local_addr;
    /* The connection's session: set only where it may be read, on the
     * worker that owns the connection (kill_conns' match); else NULL. */
    const struct session *sess;
};
typedef void (*cmd_conn_fn)(void *fnctx, const struct cmd_conn_info *ci);
/* Does a connection match (CLIENT KILL's filters)? Called on the worker
 * that owns the connection, with ci->sess set. */
typedef bool (*cmd_conn_match_fn)(void *fnctx, const struct cmd_conn_info *ci);

/*
 * What commands need from the layers above, handed down once at set-up.
 * const after start; callbacks may be called from any worker thread.
 */
struct cmd_env {
    struct store *store;
    const struct options *opts;
    /* Credentials (stashd/cmd/auth.h); NULL or none configured: every
     * connection starts authenticated. */
    struct auth *auth;
    void *ctx; /* passed to every callback */
    /* Sum every worker's metrics into *out (zeroed by the caller). */
    void (*sum_metrics)(void *ctx, struct metrics *out);
    /* Call fn for each open connection (stats conns). */
    void (*each_conn)(void *ctx, cmd_conn_fn fn, void *fnctx);
    /*
     * CLIENT KILL: close every client connection, on every worker, that
     * match accepts, and return how many matched. Each worker closes its
     * own connections (match runs there); the call returns once every
     * worker has answered. self, the caller's session (called on its
     * worker's thread), is never closed here: when it matches,
     * *self_matched is set (and it is counted) so that the caller closes
     * it after its reply.
     */
    unsigned long (*kill_conns)(void *ctx, cmd_conn_match_fn match, void *fnctx,
                                const struct session *self, bool *self_matched);
    /* The shutdown command (only when opts->shutdown_enabled); graceful
     * drains, else exits at once. */
    void (*shutdown)(void *ctx, bool graceful);
    /* Threads actually running (stats "threads"). */
    unsigned threads;
    /* Every worker's hot-key sketch (cmd/hotkeys.h), for reporting. */
    struct hotkeys *const *hotkeys;
    unsigned nhotkeys;
    /* The server's reporting state (stashd/cmd/stats.h): reset baseline,
     * watch log, stats detail. NULL (tests): none of those. */
    struct stats *stats;
    /* The event library, as `stats` shows it under memcached's "libevent"
     * (net/: libuv's name and version); NULL: "none". */
    const char *event_lib;
    /* Every worker's command statistics (cmd/cmdstats.h), for INFO. */
    struct cmdstats *const *cmdstats;
    unsigned ncmdstats;
    /* TLS, NULL when the server serves none. refresh_certs (the command):
     * reload the certificate, key and CA files for new connections; 0, or
     * -errno with memcached's reply in err (no "\r\n"). Blocks on the
     * files. tls_cert_age: seconds since they were last loaded. */
    int (*refresh_certs)(void *ctx, char *err, size_t errlen);
    uint32_t (*tls_cert_age)(void *ctx);
};

enum session_rc {
    SESSION_OK,    /* consumed every complete request; wants more input */
    SESSION_PAUSE, /* replies over the output bound: flush, then call again */
    SESSION_YIELD, /* served reqs_per_event requests: let others run, call again */
    SESSION_CLOSE, /* flush the replies already in *out, then close */
};

/* Replies buffered beyond this pause request processing (bounded memory
 * for clients that pipeline without reading). */
#define SESSION_OUT_HIGH (256u << 10)

/*
 * Values of at least this many bytes go to the socket from item memory
 * when net/ can write at once (session.write_now): the replies before it
 * and the value in one writev, under the value's shard lock, and only what
 * the kernel did not take is copied into *out. A large multi-get then
 * holds a value's worth of reply buffer only for a client that is behind.
 */
#define SESSION_DIRECT_MIN (32u << 10)

/*
 * A value of any size goes that way too when the replies buffered before
 * it would otherwise pass this many bytes (what a worker's pool keeps of a
 * reply buffer): the buffer is written through with the value, as a
 * buffered writer flushes when full, instead of growing. Multi-gets of 50
 * values of 10 B-500 kB (those under SESSION_DIRECT_MIN copied) grew reply
 * buffers to several hundred KiB, and 24 such connections left a worker's
 * pool holding 1.5 MiB of them: writing through took the churn peak at
 * -m 64 -t 1 from 73.0 to 71.6 MiB at the same CPU per request
 * (stashd-bench, bench/README.md). Replies under 64 KiB are unchanged:
 * flushing at 16 KiB saved 2.6 MiB, but a multi-get of 20 values of 3 kB
 * then took 4 writes instead of 1 (+25% CPU per request).
 */
#define SESSION_OUT_FLUSH (64u << 10)

/*
 * A set, add, replace or cas (memcached text; binary set, add, replace; a
 * RESP SET without options) whose value is at least this large and has
 * not all arrived is stored in place: its item is taken from
 * the store at once and the value written into it as it is read
 * (store_reserve), so the connection's read buffer stays at its pooled
 * size instead of growing to hold the value. A worker holds at most a
 * quarter of the memory limit, shared among the workers, in such items;
 * past that, values are buffered whole as before.
 */
#define SESSION_SINK_MIN (32u << 10)

/* net/'s "write now": write a then b (alen may be 0), without blocking,
 * after everything written before; the bytes the kernel took, 0 when it
 * took none or cannot be written to now (a write in flight, TLS). */
typedef size_t (*session_write_fn)(void *ctx, const char *a, size_t alen, const char *b,
                                   size_t blen);

struct session {
    /* Set by net/ (public): */
    const struct cmd_env *env;
    struct metrics *metrics;   /* the worker's; single writer */
    struct buf *out;           /* where replies go; net/ may change it between calls */
    struct hotkeys *hot;       /* the worker's hot-key sketch, or NULL */
    struct cmdstats *cmdstats; /* the worker's command statistics, or NULL */
    uint64_t id; /* the connection's id (stats conns, watch's cfd, CLIENT ID); 0: none */
    /* Values of direct_min bytes or more, and any that would take *out
     * past SESSION_OUT_FLUSH, go to write_now (net/ sets it, with
     * SESSION_DIRECT_MIN; a fuzz target lowers it). NULL: every reply is
     * copied into *out. */
    session_write_fn write_now;
    void *write_ctx;
    size_t direct_min;
    /* Values of sink_min bytes or more are stored in place (session_init
     * sets SESSION_SINK_MIN; a fuzz target lowers it). */
    size_t sink_min;
    /* Private to cmd/: */
    struct session_sink *sink; /* the value being stored in place, or NULL */
    int proto;                 /* 0 until the first byte is seen */
    unsigned want;             /* stats_wanted() as session_process last read it (once a
                                * call: what the request path tests to log or count) */
    uint64_t swallow;          /* bytes of a refused value still to discard */
    size_t resume;             /* multi-get: bytes of the key list already answered */
    uint32_t flags;            /* per-protocol state bits */
    bool authed;               /* may run commands: authenticated, or no credential is set */
    /* write_now took less than it was given since session_process began:
     * the socket is full, so values are copied until the next call rather
     * than each offered to it in a syscall that fails. */
    bool direct_full;
    void *proto_state; /* per-protocol state (NULL for text) */
    /* memcached's tooling (cmd/mc_tools.h): the dump at the front of the
     * input, and the watch subscription this connection streams. */
    struct mc_dump *dump;
    struct watcher *watcher;
};

void session_init(struct session *s, const struct cmd_env *env, struct metrics *m, struct buf *out);

/*
 * Append the value v[0..n) to the replies, as net/ will write them: copied
 * into *out, or (n >= direct_min, write_now set) written to the
 * socket now with what *out holds before it, copying only what the kernel
 * did not take. *unsent (the protocol's mark of bytes in *out counted as
 * written, see cmd/step.h) shrinks by what left *out. The value must stay
 * as it is for the call (its shard lock held). 0, or -ENOMEM.
 */
int session_out_value(struct session *s, size_t *unsent, const char *v, size_t n);

/* Should a value of n bytes go through session_out_value rather than be
 * copied: direct_min bytes or more, or the replies before it and it over
 * SESSION_OUT_FLUSH? */
static inline bool
session_direct(const struct session *s, size_t n)
{
    return (n >= s->direct_min || buf_readable(s->out) + n > SESSION_OUT_FLUSH) &&
           s->write_now != NULL && !s->direct_full;
}
void session_fini(struct session *s);

/* A value being stored in place (SESSION_SINK_MIN): where net/ may read
 * its next bytes straight into the item, and how many the value still
 * wants; 0 when there is none (read into the read buffer as usual). Only
 * while the read buffer holds nothing unparsed. */
size_t session_sink_room(struct session *s, char **dst);
/* n of those bytes were read to *dst. */
void session_sink_wrote(struct session *s, size_t n);
/* Is a request half served: a value being stored in place (a drain waits
 * for it, as for a request half in the read buffer)? */
static inline bool
session_sink_active(const struct session *s)
{
    return s->sink != NULL;
}

/* The connection came in on the RESP-only port (--resp-port): RESP from
 * the first byte, inline commands included. Call before the first
 * session_process. */
void session_set_resp_only(struct session *s);

/*
 * Serve the complete requests at the front of data[0..len). The bytes must
 * be writable (RESP unescapes inline arguments in place) even though the
 * pointer is const for the protocols that only read. *consumed gets
 * the bytes used (they may be discarded); *need gets the total number of
 * bytes the next request needs at data + *consumed when known (e.g. a
 * storage command waiting for its value), else 0. Never reads past len.
 */
enum session_rc session_process(struct session *s, const char *data, size_t len, size_t *consumed,
                                size_t *need);

/* The largest read buffer a request may need: net/ closes a connection
 * that wants more (it never should: values over the limit are swallowed). */
size_t session_max_request(const struct session *s);

/* Bytes the session holds between requests beyond the connection's own
 * buffers (a RESP MULTI queue, watched keys): net/ counts them in the
 * worker's connection-buffer budget, so that many connections each
 * queueing a large transaction are bounded together. */
size_t session_held_bytes(const struct session *s);

/*
 * Streaming (memcached's `watch`): once a request made the session a
 * stream, session_streaming() is true for the rest of the connection's
 * life; session_process() then discards its input (memcached reads no
 * more requests from a watcher) and net/ calls session_stream() every
 * SESSION_STREAM_MS while the connection's earlier output has been
 * written, which appends what the stream has for it (at most
 * SESSION_OUT_HIGH). SESSION_OK, or SESSION_CLOSE to end it.
 */
#define SESSION_STREAM_MS 10
bool session_streaming(const struct session *s);
enum session_rc session_stream(struct session *s);
