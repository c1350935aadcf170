/*
 * Private to net/: the worker, listener and connection structures shared by
 * worker.c, listener.c and conn.c.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "stashd/cmd/session.h"
#include "stashd/net/net.h" /* NET_CONN_BUDGET */
#include "stashd/util/buf.h"
#include "stashd/util/metrics.h"

struct net;
struct tls_conn;
struct tls_server;
struct worker;

/*
 * Server-side request latency, per worker, by command family: from the
 * read that brought a batch of requests to the write that sent its last
 * reply (the time a request spends inside the server, queueing behind the
 * rest of its batch included). Families are told apart by which worker
 * counters the batch moved, so no protocol code is involved and the cost
 * is two clock reads per batch. Written by the worker only (relaxed
 * stores), read by the admin thread.
 */
enum lat_family { LAT_GET, LAT_SET, LAT_DELETE, LAT_ARITH, LAT_TOUCH, LAT_FAMILIES };
#define LAT_BUCKETS 16 /* the last is +Inf */
struct net_latency {
    uint64_t bucket[LAT_FAMILIES][LAT_BUCKETS]; /* not cumulative */
    uint64_t sum_ns[LAT_FAMILIES];
};
extern const char *const lat_family_names[LAT_FAMILIES];
extern const uint64_t lat_bounds_ns[LAT_BUCKETS - 1];

/* A listening socket on one worker (listener.c accepts from it). */
struct listener {
    uv_poll_t io;     /* readable: connections wait to be accepted */
    uv_timer_t retry; /* accepting resumes after running out of descriptors */
    int fd;
    uint8_t handles; /* of io and retry, those not yet closed */
    bool starved;    /* out of descriptors at the last accept (logged once) */
    struct worker *w;
    bool is_unix;
    bool resp_only;   /* --resp-port: every connection speaks RESP */
    bool tls;         /* -Z (not a notls: address) or --tls-port */
    const char *addr; /* "tcp:127.0.0.1:11211"; owned by net, outlives the listener */
    unsigned id;
    struct listener *next; /* w->listeners; changed under w->conns_lock */
};

/*
 * One client connection. Replies go to out[active]; while out[!active] is
 * being sent (the kernel took part of it) the session keeps appending to
 * out[active], so a write never waits for a copy and a buffer is never
 * both written and filled.
 *
 * Over TLS the session appends to pout instead; each flush encrypts pout
 * onto out[active] (where the handshake's own messages also go) and
 * writes that exactly as above, so out[] only ever holds ciphertext:
 *
 *   rbuf (plaintext, decrypted in place) -> session -> pout -> TLS -> out[]
 */
/* An IPv4 or IPv6 address, 28 bytes where sockaddr_storage takes 128: a
 * connection keeps its addresses, not their text (conn_format_addr). */
union conn_sockaddr {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
};

struct conn {
    /* The socket's readiness (conn.c, "the socket"): reads and writes are
     * recv(2) and send(2) on fd when it says so. */
    uv_poll_t io;
    struct worker *w;
    struct session sess;
    struct buf rbuf;   /* unparsed input; storage borrowed from the worker pool */
    struct buf out[2]; /* reply buffers, see above */
    size_t need;       /* bytes the next request needs (0 unknown) */
    bool writing;      /* out[!active] is being sent as the socket takes it */
    bool reading;      /* io polls for input */
    uint8_t io_events; /* what io polls for: UV_READABLE | UV_WRITABLE */
    bool paused;       /* processing waits for output to drain */
    bool closing;      /* close once replies are flushed */
    bool closed;       /* uv_close called, fd closed */
    bool dirty;        /* on the worker's dirty list */
    bool ready;        /* on the worker's ready list (yielded with input left) */
    bool is_unix;
    bool streaming;       /* on the worker's stream list (session_streaming) */
    uint8_t close_reason; /* enum stats_close_reason, for `watch connevents` */
    bool peer_eof;        /* TLS close_notify received: the next read is an EOF */
    bool into_sink;       /* the read in progress lands in the value stored in place */
    uint8_t active;       /* index of the out buffer the session fills */
    struct tls_conn *tls; /* NULL for a plain connection */
    struct buf pout;      /* TLS: replies not yet encrypted (sess.out) */
    struct conn *next_dirty;
    struct conn *next_ready;
    struct conn *next_stream;
    union conn_sockaddr peer;  /* the client's address (TCP); AF_UNSPEC if unknown */
    union conn_sockaddr local; /* this end, for a wildcard listener (else AF_UNSPEC) */
    struct conn *prev, *next;  /* worker's list of connections, under w->conns_lock */
    /* Read by `stats conns` from other threads: relaxed atomics. */
    uint32_t last_active; /* clock_now() of the last request */
    unsigned id;
    const char *state;
    const char *listen_addr;            /* the listener's address; owned by net */
    size_t accounted;                   /* buffer bytes counted in the worker's conn_buffer_bytes */
    size_t held;                        /* of which the session's (session_held_bytes) */
    uint64_t batch_ns;                  /* when the oldest unanswered batch was read; 0 none */
    uint32_t lat_pending[LAT_FAMILIES]; /* requests per family awaiting that answer */
    int fd;                             /* the socket */
};

/*
 * CLIENT KILL's request to one worker (net.c, env_kill_conns): close the
 * connections match accepts. Lives on the requester's stack until done;
 * the target worker serves it on its own thread and signals kill_cond.
 */
struct kill_req {
    cmd_conn_match_fn match;
    void *fnctx;
    const struct session *self; /* counted, never closed here */
    unsigned long killed;
    bool self_matched;
    bool done;
    struct kill_req *next;
};

#define NET_OPOOL_MAX 32 /* drained large reply buffers a worker keeps */
/* Workers that share one jemalloc arena (util/alloc.h): they allocate
 * only off the request path, so a group of 4 rarely meets on its locks,
 * and each arena fewer is ~90 KiB less resident when idle and more under
 * churn. */
#define NET_WORKERS_PER_ARENA 4

struct worker {
    struct net *net;
    unsigned index;
    pthread_t thread;
    uv_loop_t loop;
    uv_async_t stop_async;  /* net_stop -> close everything */
    uv_async_t drain_async; /* net_drain -> stop accepting, close when idle */
    uv_async_t kill_async;  /* a kill_req was queued for this worker */
    /* kill_lock guards kill_q and kill_off; kill_cond is broadcast when a
     * request is done. Never held with another worker's kill_lock. */
    pthread_mutex_t kill_lock;
    pthread_cond_t kill_cond;
    struct kill_req *kill_q;
    bool kill_off;          /* the loop is ending: requests are no longer queued */
    uv_check_t flush_check; /* flush dirty connections once per loop turn */
    uv_idle_t ready_idle;   /* keeps the loop turning while yielded work waits */
    uv_timer_t tick;        /* idle-timeout sweep */
    uv_timer_t stream_tick; /* serves streaming sessions; runs while there are any */
    struct listener *listeners;
    struct conn *dirty;   /* connections with replies to flush this turn */
    struct conn *ready;   /* connections that yielded with requests left */
    struct conn *streams; /* streaming connections (memcached's watch) */
    /* Connection list: written by this worker on accept/close, read by
     * stats conns on any worker. Never taken on the request path. */
    pthread_mutex_t conns_lock;
    struct conn *conns;
    /* Free read-buffer storage of the standard size, so idle connections
     * hold no buffer and busy ones do not malloc per read. rpool_low is
     * the fewest the pool held since the last sweep: that many were not
     * needed for a second, and conn_sweep frees them. */
    char **rpool;
    unsigned rpool_n, rpool_cap, rpool_low;
    /* Drained reply buffers larger than a connection keeps (conn.c,
     * out_drained), for whichever connection writes next: a client that
     * asks for large replies now and then does not hold its largest one
     * while idle, and a busy one does not regrow it per batch. opool_low
     * is the fewest held since the last sweep, as for rpool. */
    struct net_obuf {
        char *data;
        size_t cap;
    } opool[NET_OPOOL_MAX];
    unsigned opool_n, opool_low;
    /* Ciphertext as read from TLS sockets, decrypted before the next read
     * (so one buffer serves every connection); NULL until a TLS accept. */
    char *tls_scratch;
    struct metrics metrics;  /* this worker is the only writer */
    struct net_latency lat;  /* likewise */
    struct hotkeys *hot;     /* this worker's hot-key sketch (cmd/hotkeys.h) */
    struct cmdstats *cstats; /* this worker's command statistics (cmd/cmdstats.h) */
    /* Connection buffer bytes (metrics.conn_buffer_bytes) past which the
     * connections whose clients are behind on reading are closed, largest
     * first (conn.c, shed_output). Set once in worker_init. */
    uint64_t conn_budget;
    bool stopping;
    bool draining; /* connections close once they have nothing in flight */
};

/* Standard read-buffer size (also the pooled size). */
#define NET_RBUF_SIZE (16 * 1024)
/* One TLS socket read: four full records. */
#define NET_TLS_SCRATCH (64 * 1024)
#define NET_RPOOL_MAX 64

/* net.c */
const struct cmd_env *net_env(const struct net *n);
const struct options *net_opts(const struct net *n);
/* Connection admission: -c limit across all workers. */
bool net_conn_admit(struct net *n);
void net_conn_release(struct net *n);
unsigned net_next_conn_id(struct net *n);
/* The TLS context, or NULL when no listener uses TLS. */
struct tls_server *net_tls(const struct net *n);
/* Keep a copy of a listening address for the life of net; NULL on ENOMEM. */
const char *net_keep_addr(struct net *n, const char *addr);

/* worker.c */
int worker_init(struct worker *w, struct net *n, unsigned index);
int worker_start(struct worker *w);
void worker_stop(struct worker *w);
void worker_drain(struct worker *w);
void worker_join(struct worker *w);
void worker_fini(struct worker *w);

/* net.c: readiness for /readyz (set once serving, cleared on drain/stop). */
bool net_ready(struct net *n);
/* Merge every worker's latency histograms into *out (zeroed by caller). */
void net_sum_latency(struct net *n, struct net_latency *out);

/* admin.c: the admin HTTP listener (its own thread and loop). */
struct admin;
int admin_create(struct admin **ap, struct net *n, const char *addr, int port);
void admin_destroy(struct admin **ap);

/* listener.c */
int listener_bind_all(struct net *n, struct worker *workers, unsigned nworkers);
/* Format a socket address as stats conns shows it: tcp:1.2.3.4:5, tcp6:[::1]:5. */
void listener_format_addr(const struct sockaddr *sa, char *out, size_t cap);
/* listen() on every bound socket, from the main thread before any worker
 * runs (and after -u's drop): an error here fails the start. */
int listener_listen_all(struct worker *workers, unsigned nworkers);
int listener_start(struct worker *w);
void listener_close_all(struct worker *w);

/* conn.c */
void conn_accept(struct listener *l, int fd);
void conn_flush_dirty(struct worker *w);
void conn_run_ready(struct worker *w);
void conn_close_all(struct worker *w);
void conn_drain_all(struct worker *w);
void conn_sweep_idle(struct worker *w, uint32_t now, uint32_t idle_timeout);
/* Serve every kill_req queued for w (on w's thread). */
void conn_kill_serve(struct worker *w);
/* Close w's connections that r matches (on w's thread); r->killed counts them. */
void conn_kill(struct worker *w, struct kill_req *r);
/* Once a second: close TLS connections whose handshake is older than
 * TLS_HANDSHAKE_TIMEOUT; idle connections give back their reply buffers,
 * and the read-buffer pool what it did not lend since the last sweep. */
void conn_sweep(struct worker *w, uint32_t now);
/* Text for c's client ("tcp:127.0.0.1:5000", "unix:PATH") and for this end
 * of it (CLIENT LIST laddr, CLIENT KILL LADDR: the listener's address, or
 * for a wildcard listener the address the client reached), into out
 * (CONN_ADDR_MAX bytes). The addresses never change after accept, so any
 * thread holding w->conns_lock may ask. Returns out. */
#define CONN_ADDR_MAX 128
const char *conn_format_addr(const struct conn *c, char *out);
const char *conn_format_local(const struct conn *c, char *out);
