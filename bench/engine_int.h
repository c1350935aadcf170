/*
 * Inside the engine: the structures engine.c (threads, the event loop, the
 * run's phases) and conn.c (one connection: requests out, replies in,
 * verification) share. Nothing outside those two files includes this.
 *
 *   struct engine  one per run; read-only to workers once their phase
 *     |            has started (see the comment on the struct)
 *     +-- struct worker  one per thread: its epoll set, clock, counters
 *           +-- struct conn  one per connection, touched by its worker only
 */
#pragma once

#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "keyspace.h"
#include "options.h"
#include "proto.h"
#include "value.h"

enum phase {
    PHASE_PRELOAD,
    PHASE_RUN,
};

/* A request in flight. Its keys are in conn.fifo_keys[slot * multiget]. */
struct pending {
    uint64_t sent_ns;
    uint32_t opaque;
    uint16_t nkeys;
    uint8_t op;       /* enum proto_op */
    uint8_t measured; /* sent inside the measured window */
};

struct worker;
struct ssl_st;
struct tls_ctx;

struct conn {
    struct worker *w;
    int fd;
    unsigned gid; /* index among all connections of the run */
    bool open;
    bool want_out; /* EPOLLOUT registered */
    char *rbuf;    /* unparsed replies are rbuf[rpos..rlen) */
    size_t rcap, rpos, rlen;
    size_t rneed; /* the parser needs this many unconsumed bytes to progress */
    char *wbuf;   /* unsent requests are wbuf[wpos..wlen) */
    size_t wcap, wpos, wlen;
    struct pending *fifo; /* ring of fifo_cap; head is the oldest */
    uint64_t *fifo_keys;
    unsigned fifo_cap, head, count;
    struct proto_parser parser;
    struct rng rng;
    uint64_t seq;   /* sequential-distribution cursor */
    uint64_t cycle; /* position in the SET:GET cycle */
    uint64_t preload_next, preload_end;
    uint64_t sent_measured;
    uint64_t sent_run; /* requests sent after the preload (--rate's count) */
    uint64_t *miss_q;  /* ring of keys to set after a miss (--set-on-miss) */
    unsigned miss_cap, miss_head, miss_count;
    uint32_t opaque;
    uint64_t last_rx_ns; /* last reply bytes, or the send that ended idleness */
    struct ssl_st *ssl;  /* --tls: this connection's TLS; NULL: plain TCP */
    size_t tls_wlen;     /* length of a TLS write that must be repeated; 0: none */
    bool read_wants_out; /* a TLS read waits for the socket to be writable */
};

struct worker {
    struct engine *e;
    unsigned id;
    pthread_t tid;
    int ep;
    struct conn *conns;
    unsigned nconns;
    enum phase phase;
    uint64_t now; /* the clock, read once per receive */
    unsigned errors_shown;
    struct engine_stats st;
    /* The progress line's view of st (engine_progress()): stored by the
     * worker at its watchdog check, every CHECK_NS, when e->progress;
     * loaded by the main thread once a second. Relaxed: each is a count
     * on its own, and a line a few ms stale is still right. */
    struct {
        atomic_uint_least64_t done; /* requests answered or failed, every phase */
        atomic_uint_least64_t hits, misses, errors;
    } pub;
    uint64_t next_pub; /* the worker's clock at its next store to pub */
};

/* Shared by all threads. The times are written by the creating thread
 * before the workers start (t_deadline) or between the two barriers (the
 * rest), and are read-only to workers after the barrier they follow. */
struct engine {
    const struct options *o;
    struct keyspace ks;
    struct value_gen vg;
    struct addrinfo *addr;
    struct tls_ctx *tls; /* --tls; NULL otherwise */
    double pace_ns;      /* --rate: ns between two requests of a connection; 0: none */
    size_t max_key;
    size_t max_req;
    pthread_barrier_t barrier;
    bool started;  /* threads and barrier exist */
    bool progress; /* workers fill worker.pub (engine_set_progress()) */
    /* Workers count themselves in here as they finish their preload and
     * their run; the main thread waits on cond, with a timeout when it has
     * a progress line to show meanwhile. Guarded by lock. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned npreloaded;
    unsigned nfinished;
    uint64_t t0;
    uint64_t t_deadline;
    uint64_t t_start;
    uint64_t t_mstart;
    uint64_t t_mend;               /* UINT64_MAX in --requests mode */
    atomic_uint_least64_t stop_ns; /* set by engine_stop(); 0 otherwise */
    struct worker *workers;
};

/* ---- conn.c ---- */

/* Sets c up for connection gid of total (buffers, parser, its slice of the
 * key space) and connects it. 0, or -errno after a message on stderr; in
 * both cases conn_fini() frees what was set up. */
int conn_init(struct conn *c, struct worker *w, unsigned gid, unsigned total);
void conn_fini(struct conn *c);

/* true when c has requests of this phase left to send, a stop and the
 * --max-time deadline aside; conn_can_send() minds those too. */
bool conn_has_more(const struct conn *c, uint64_t now);
bool conn_can_send(const struct conn *c, uint64_t now);

/* conn_fill() queues requests up to the pipeline depth; conn_flush() sends
 * what is queued, in one send() when the socket takes it all (else the rest
 * when it is writable again). */
void conn_fill(struct conn *c, uint64_t now);
/* With --rate, whether c may send one more request at now. */
bool conn_paced(const struct conn *c, uint64_t now);
void conn_flush(struct conn *c);

/* Reads what the socket has and parses every complete reply. */
void conn_on_readable(struct conn *c);

/* Closes c; the requests still in flight are lost and count as errors. */
void conn_fail(struct conn *c, const char *why, const char *detail);
