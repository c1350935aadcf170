/*
 * stashd-bench: a closed-loop load generator for memcached- and
 * Redis-compatible servers, in the spirit of memtier_benchmark, that
 * verifies every reply.
 *
 *   main thread: options, connect, start workers, sample the server's CPU
 *                time around the measured phase, merge and report
 *   worker (-t): one epoll loop over its connections (-c each)
 *   connection:  up to --pipeline requests in flight; a FIFO of what was
 *                sent; replies parsed incrementally (proto.c) and matched
 *                to the FIFO head; every value checked (value.c)
 *
 * Phases, all bounded in time:
 *
 *   [preload: every key set once] | warm-up | measured | drain
 *         barrier (all workers) --^   ^-- t_mstart ^-- t_mend
 *
 * A request counts in the statistics when it was sent in the measured
 * window; errors count in every phase. Any error (an error reply, a wrong
 * value, a desync, a lost connection, a reply that never came) makes the
 * exit status 1, so a CI smoke run fails on a single wrong reply.
 *
 * --max-time bounds the whole run (t_deadline): past it nothing is sent,
 * replies still outstanding are errors, the measured window ends there if
 * it had not already, and a run it stops before it is done counts one
 * error more, so that it cannot pass for a complete one.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hist.h"
#include "keyspace.h"
#include "proto.h"
#include "value.h"

#define NS_PER_S 1000000000ull
#define RBUF_MIN (64u << 10)
#define READ_ROOM 4096 /* grow or compact the read buffer below this much room */
#define MAX_EVENTS 256
#define CHECK_NS (10ull * 1000 * 1000) /* watchdog and end check period */
#define ERRORS_SHOWN 5                 /* per worker, on stderr */

/* ---- options ---- */

/* One row per option: id, long name, short letter (0: none), argument
 * name (NULL: a flag), help. --help and the getopt table come from here. */
#define BENCH_OPTIONS(X)                                                                           \
    X(OPT_SERVER, "server", 's', "HOST", "server address (default 127.0.0.1)")                     \
    X(OPT_PORT, "port", 'p', "PORT", "server port (default 11211)")                                \
    X(OPT_PROTOCOL, "protocol", 'P', "NAME", "mc-text | mc-meta | mc-binary | resp")               \
    X(OPT_THREADS, "threads", 't', "N", "worker threads (default 1)")                              \
    X(OPT_CONNS, "conns", 'c', "N", "connections per thread (default 50)")                         \
    X(OPT_PIPELINE, "pipeline", 0, "N", "requests in flight per connection (default 1)")           \
    X(OPT_TIME, "time", 0, "SECS", "measured seconds (default 10; 0 with --preload: load only)")   \
    X(OPT_REQUESTS, "requests", 'n', "N", "measured requests per connection instead of --time")    \
    X(OPT_WARMUP, "warmup", 0, "SECS", "seconds of load before measuring (default 0)")             \
    X(OPT_PRELOAD, "preload", 0, NULL, "set every key once before the warm-up")                    \
    X(OPT_PRELOAD_PIPELINE, "preload-pipeline", 0, "N", "pipeline depth of the preload (32)")      \
    X(OPT_RATIO, "ratio", 0, "SET:GET", "request mix (default 1:10)")                              \
    X(OPT_MULTIGET, "multiget", 0, "N", "keys per get (default 1)")                                \
    X(OPT_SET_ON_MISS, "set-on-miss", 0, NULL, "after a get misses, set that key")                 \
    X(OPT_KEYS, "keys", 'k', "N", "key space size (default 100000)")                               \
    X(OPT_KEY_MIN, "key-min", 0, "N", "smallest key index (default 0)")                            \
    X(OPT_KEY_PREFIX, "key-prefix", 0, "STR", "key prefix (default \"key:\")")                     \
    X(OPT_KEY_SIZE, "key-size", 0, "B|MIN-MAX",                                                    \
      "zero-pad keys to B bytes, or to a length in [MIN, MAX] fixed per key (default: no pad)")    \
    X(OPT_DIST, "dist", 0, "NAME", "uniform | sequential | zipf (default uniform)")                \
    X(OPT_ZIPF_S, "zipf-s", 0, "S", "Zipf exponent (default 0.99)")                                \
    X(OPT_VALUE_SIZE, "value-size", 'd', "BYTES", "value size (default 100)")                      \
    X(OPT_VALUE_RANGE, "value-range", 0, "MIN-MAX", "value sizes, uniform in [MIN, MAX]")          \
    X(OPT_JSON, "json", 0, "FILE", "also write the results as JSON (- for stdout)")                \
    X(OPT_SERVER_PID, "server-pid", 0, "PID", "report this process's CPU time and RSS")            \
    X(OPT_CPU_PIN, "cpu-pin", 0, "LIST", "pin worker i to the i-th CPU of LIST (e.g. 1,3-5)")      \
    X(OPT_REPLY_TIMEOUT, "reply-timeout", 0, "SECS", "error if no reply comes for this long (5)")  \
    X(OPT_MAX_TIME, "max-time", 0, "SECS", "hard limit on the whole run (default 300)")            \
    X(OPT_SEED, "seed", 0, "N", "random seed (default 1)")                                         \
    X(OPT_QUIET, "quiet", 'q', NULL, "no text report")                                             \
    X(OPT_HELP, "help", 'h', NULL, "this help")

enum opt_id {
    OPT_BASE = 256,
#define X(id, name, sh, arg, help) id,
    BENCH_OPTIONS(X)
#undef X
};

struct opt_row {
    enum opt_id id;
    const char *name;
    int sh;
    const char *arg;
    const char *help;
};

static const struct opt_row opt_rows[] = {
#define X(i, n, s, a, h) {.id = i, .name = n, .sh = s, .arg = a, .help = h},
    BENCH_OPTIONS(X)
#undef X
};

#define NOPTS (sizeof(opt_rows) / sizeof(opt_rows[0]))

/* The run's configuration; const after parse_options(). */
struct config {
    const char *host;
    const char *port;
    enum proto_id proto;
    unsigned threads;
    unsigned conns;
    unsigned pipeline;
    unsigned preload_pipeline;
    double time_s;
    bool time_given;
    uint64_t requests;
    double warmup_s;
    bool preload;
    unsigned ratio_set;
    unsigned ratio_get;
    unsigned multiget;
    bool set_on_miss;
    uint64_t keys;
    uint64_t key_min;
    const char *key_prefix;
    size_t key_size;     /* 0: no padding */
    size_t key_size_max; /* > key_size: a range of key lengths */
    enum keyspace_dist dist;
    double zipf_s;
    size_t vmin;
    size_t vmax;
    const char *json;
    long server_pid;
    int cpus[CPU_SETSIZE];
    unsigned ncpus;
    double reply_timeout_s;
    double max_time_s;
    uint64_t seed;
    bool quiet;
};

/* ---- run state ---- */

enum phase {
    PHASE_PRELOAD,
    PHASE_RUN,
};

/* What a worker counts; merged by the main thread after the join. */
struct stats {
    uint64_t ops[2]; /* by enum proto_op, measured */
    uint64_t hits;
    uint64_t misses;
    uint64_t errors; /* every phase */
    uint64_t desyncs;
    uint64_t timeouts;
    uint64_t closed;
    uint64_t preload_ops;
    uint64_t last_done_ns; /* when the last measured reply came */
    bool cut;              /* the --max-time deadline stopped work left to do */
    struct hist lat[2];    /* by enum proto_op, ns */
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
    uint64_t *miss_q; /* ring of keys to set after a miss (--set-on-miss) */
    unsigned miss_cap, miss_head, miss_count;
    uint32_t opaque;
    uint64_t last_rx_ns; /* last reply bytes, or the send that ended idleness */
};

struct run;

struct worker {
    struct run *run;
    unsigned id;
    pthread_t tid;
    int ep;
    struct conn *conns;
    unsigned nconns;
    enum phase phase;
    uint64_t now; /* the clock, read once per receive */
    unsigned errors_shown;
    struct stats st;
};

/* Shared by all threads. The times are written by the main thread before
 * the workers start (t_deadline) or between the two barriers (the rest),
 * and are read-only to workers after the barrier they follow. */
struct run {
    const struct config *cfg;
    struct keyspace ks;
    struct value_gen vg;
    struct addrinfo *addr;
    size_t max_key;
    size_t max_req;
    pthread_barrier_t barrier;
    uint64_t t0;
    uint64_t t_deadline;
    uint64_t t_start;
    uint64_t t_mstart;
    uint64_t t_mend;               /* UINT64_MAX in --requests mode */
    atomic_uint_least64_t stop_ns; /* set on SIGINT/SIGTERM; 0 otherwise */
    struct worker *workers;
};

static struct run *the_run; /* for the signal handler only */

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static uint64_t
secs_ns(double s)
{
    return (uint64_t)(s * 1e9);
}

static void *
xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL) {
        fprintf(stderr, "stashd-bench: out of memory\n");
        exit(2);
    }
    return p;
}

static void *
xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (p == NULL) {
        fprintf(stderr, "stashd-bench: out of memory\n");
        exit(2);
    }
    return p;
}

/* ---- errors ---- */

static void
worker_error(struct worker *w, struct conn *c, const char *fmt, const char *detail)
{
    if (w->errors_shown >= ERRORS_SHOWN) {
        return;
    }
    w->errors_shown++;
    fprintf(stderr, "stashd-bench: worker %u conn %u: %s%s%s\n", w->id, c->gid, fmt,
            detail ? ": " : "", detail ? detail : "");
    if (w->errors_shown == ERRORS_SHOWN) {
        fprintf(stderr, "stashd-bench: worker %u: further errors not shown\n", w->id);
    }
}

/* Closes c; the requests still in flight are lost and count as errors. */
static void
conn_fail(struct conn *c, const char *why, const char *detail)
{
    struct worker *w = c->w;
    if (!c->open) {
        return;
    }
    worker_error(w, c, why, detail);
    w->st.errors += c->count ? c->count : 1;
    w->st.closed++;
    epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->open = false;
    c->count = 0;
}

/* ---- sending ---- */

/* true when c has requests of this phase left to send, a signal and the
 * --max-time deadline aside. */
static bool
conn_has_more(const struct conn *c, uint64_t now)
{
    const struct run *r = c->w->run;
    if (!c->open) {
        return false;
    }
    if (c->w->phase == PHASE_PRELOAD) {
        return c->preload_next < c->preload_end;
    }
    if (r->cfg->requests != 0) {
        return now < r->t_mstart || c->sent_measured < r->cfg->requests;
    }
    return now < r->t_mend;
}

static bool
conn_can_send(const struct conn *c, uint64_t now)
{
    const struct run *r = c->w->run;
    return atomic_load_explicit(&r->stop_ns, memory_order_relaxed) == 0 && now < r->t_deadline &&
           conn_has_more(c, now);
}

static size_t
pick_vlen(struct conn *c)
{
    const struct config *cfg = c->w->run->cfg;
    if (cfg->vmin == cfg->vmax) {
        return cfg->vmin;
    }
    return cfg->vmin + (size_t)rng_below(&c->rng, cfg->vmax - cfg->vmin + 1);
}

/* Queues one request; the caller has checked conn_can_send() and room in
 * the FIFO. */
static void
conn_queue_one(struct conn *c, uint64_t now)
{
    struct worker *w = c->w;
    struct run *r = w->run;
    const struct config *cfg = r->cfg;
    unsigned slot = (c->head + c->count) % c->fifo_cap;
    struct pending *pd = &c->fifo[slot];
    uint64_t *keys = &c->fifo_keys[(size_t)slot * cfg->multiget];
    enum proto_op op;

    if (w->phase == PHASE_PRELOAD) {
        op = PROTO_OP_SET;
        keys[0] = c->preload_next++;
    } else if (c->miss_count > 0) {
        op = PROTO_OP_SET;
        keys[0] = c->miss_q[c->miss_head];
        c->miss_head = (c->miss_head + 1) % c->miss_cap;
        c->miss_count--;
    } else {
        uint64_t pos = c->cycle++ % (cfg->ratio_set + cfg->ratio_get);
        op = pos < cfg->ratio_set ? PROTO_OP_SET : PROTO_OP_GET;
        unsigned n = op == PROTO_OP_SET ? 1 : cfg->multiget;
        for (unsigned i = 0; i < n; i++) {
            keys[i] = keyspace_next(&r->ks, &c->rng, &c->seq);
        }
    }
    if (c->wcap - c->wlen < r->max_req) {
        c->wcap = c->wlen + r->max_req * 2;
        c->wbuf = xrealloc(c->wbuf, c->wcap);
    }
    char *dst = c->wbuf + c->wlen;
    if (op == PROTO_OP_SET) {
        c->wlen +=
            proto_encode_set(cfg->proto, dst, &r->ks, &r->vg, keys[0], pick_vlen(c), c->opaque);
        pd->nkeys = 1;
    } else {
        c->wlen += proto_encode_get(cfg->proto, dst, &r->ks, keys, cfg->multiget, c->opaque);
        pd->nkeys = (uint16_t)cfg->multiget;
    }
    pd->op = (uint8_t)op;
    pd->opaque = c->opaque;
    c->opaque += pd->nkeys;
    pd->sent_ns = now;
    pd->measured = w->phase == PHASE_RUN && now >= r->t_mstart && now < r->t_mend;
    if (pd->measured) {
        c->sent_measured++;
    }
    if (c->count == 0) {
        c->last_rx_ns = now; /* the reply timeout runs from here */
    }
    c->count++;
}

static void
conn_fill(struct conn *c, uint64_t now)
{
    const struct config *cfg = c->w->run->cfg;
    unsigned depth = c->w->phase == PHASE_PRELOAD ? cfg->preload_pipeline : cfg->pipeline;
    while (c->count < depth && conn_can_send(c, now)) {
        conn_queue_one(c, now);
    }
}

static void
conn_set_out(struct conn *c, bool on)
{
    if (c->want_out == on) {
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(c->w->ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = on;
}

static void
conn_flush(struct conn *c)
{
    while (c->open && c->wpos < c->wlen) {
        ssize_t n = send(c->fd, c->wbuf + c->wpos, c->wlen - c->wpos, MSG_NOSIGNAL);
        if (n > 0) {
            c->wpos += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            conn_set_out(c, true);
            return;
        }
        conn_fail(c, "send failed", strerror(errno));
        return;
    }
    if (c->open) {
        c->wpos = c->wlen = 0;
        conn_set_out(c, false);
    }
}

/* ---- receiving ---- */

static void
conn_complete(struct conn *c, const struct pending *pd, const struct proto_result *res)
{
    struct worker *w = c->w;
    const struct config *cfg = w->run->cfg;
    if (res->errors != 0) {
        w->st.errors += res->errors;
        worker_error(w, c, c->parser.err, NULL);
    }
    if (w->phase == PHASE_PRELOAD) {
        w->st.preload_ops++;
        return;
    }
    if (pd->measured) {
        w->st.ops[pd->op]++;
        w->st.hits += res->hits;
        w->st.misses += res->misses;
        hist_record(&w->st.lat[pd->op], w->now - pd->sent_ns);
        w->st.last_done_ns = w->now;
    }
    if (cfg->set_on_miss && pd->op == PROTO_OP_GET && res->misses != 0 &&
        c->miss_count < c->miss_cap) {
        /* --set-on-miss implies --multiget 1: the one key missed. */
        unsigned slot = (unsigned)(pd - c->fifo);
        unsigned tail = (c->miss_head + c->miss_count) % c->miss_cap;
        c->miss_q[tail] = c->fifo_keys[(size_t)slot * cfg->multiget];
        c->miss_count++;
    }
}

/* Makes room to receive: compacts, and grows to what the parser needs. */
static void
conn_read_room(struct conn *c)
{
    size_t want = c->rneed + READ_ROOM;
    if (c->rpos > 0 && (c->rcap - c->rlen < READ_ROOM || c->rcap - c->rpos < want)) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
    }
    if (c->rcap < want || c->rcap - c->rlen < READ_ROOM) {
        size_t cap = c->rcap * 2;
        c->rcap = cap > want ? cap : want;
        c->rbuf = xrealloc(c->rbuf, c->rcap);
    }
}

static void
conn_parse(struct conn *c)
{
    const struct config *cfg = c->w->run->cfg;
    while (c->count > 0 && c->rpos < c->rlen) {
        struct pending *pd = &c->fifo[c->head];
        struct proto_req req = {
            .op = (enum proto_op)pd->op,
            .nkeys = pd->nkeys,
            .opaque = pd->opaque,
            .keys = &c->fifo_keys[(size_t)c->head * cfg->multiget],
        };
        size_t used = 0, need = 0;
        struct proto_result res;
        enum proto_rc rc =
            proto_parse(&c->parser, &req, c->rbuf + c->rpos, c->rlen - c->rpos, &used, &need, &res);
        c->rpos += used;
        if (rc == PROTO_MORE) {
            c->rneed = need;
            break;
        }
        if (rc == PROTO_DESYNC) {
            c->w->st.desyncs++;
            conn_fail(c, "protocol desync", c->parser.err);
            return;
        }
        c->rneed = 0;
        conn_complete(c, pd, &res);
        c->head = (c->head + 1) % c->fifo_cap;
        c->count--;
    }
    if (c->count == 0 && c->rpos < c->rlen) {
        c->w->st.desyncs++;
        conn_fail(c, "reply bytes with no request in flight", NULL);
        return;
    }
    if (c->rpos == c->rlen) {
        c->rpos = c->rlen = 0;
    }
}

static void
conn_on_readable(struct conn *c)
{
    conn_read_room(c);
    ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
    if (n == 0) {
        conn_fail(c, "server closed the connection", NULL);
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            conn_fail(c, "recv failed", strerror(errno));
        }
        return;
    }
    c->w->now = now_ns();
    c->last_rx_ns = c->w->now;
    c->rlen += (size_t)n;
    conn_parse(c);
}

/* ---- the worker loop ---- */

/* true when no connection has anything left to send or receive. */
static bool
worker_idle(struct worker *w, uint64_t now)
{
    for (unsigned i = 0; i < w->nconns; i++) {
        struct conn *c = &w->conns[i];
        if (c->open && (c->count > 0 || conn_can_send(c, now))) {
            return false;
        }
    }
    return true;
}

/* Fails connections whose replies are overdue, or all of them past the
 * run's hard deadline; notes when that deadline cut work short (a request
 * not sent or a reply not received, a signal's stop aside). */
static void
worker_watchdog(struct worker *w, uint64_t now)
{
    const struct run *r = w->run;
    uint64_t limit = secs_ns(r->cfg->reply_timeout_s);
    bool stopped = atomic_load_explicit(&r->stop_ns, memory_order_relaxed) != 0;
    for (unsigned i = 0; i < w->nconns; i++) {
        struct conn *c = &w->conns[i];
        if (now >= r->t_deadline && (c->count > 0 || (!stopped && conn_has_more(c, now)))) {
            w->st.cut = true;
        }
        if (!c->open || c->count == 0) {
            continue;
        }
        if (now >= r->t_deadline) {
            w->st.timeouts += c->count;
            conn_fail(c, "replies outstanding at the --max-time deadline", NULL);
        } else if (now - c->last_rx_ns > limit) {
            w->st.timeouts += c->count;
            conn_fail(c, "no reply within --reply-timeout", NULL);
        }
    }
}

static void
worker_loop(struct worker *w)
{
    struct epoll_event evs[MAX_EVENTS];
    uint64_t last_check = now_ns();
    w->now = last_check;
    for (unsigned i = 0; i < w->nconns; i++) {
        conn_fill(&w->conns[i], w->now);
        conn_flush(&w->conns[i]);
    }
    for (;;) {
        int n = epoll_wait(w->ep, evs, MAX_EVENTS, 10);
        if (n < 0 && errno != EINTR) {
            perror("stashd-bench: epoll_wait");
            exit(2);
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->open && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
                conn_on_readable(c);
            }
            if (c->open && (evs[i].events & EPOLLOUT)) {
                conn_flush(c);
            }
            if (c->open) {
                conn_fill(c, w->now);
                conn_flush(c);
            }
        }
        uint64_t now = now_ns();
        if (now - last_check >= CHECK_NS || n <= 0) {
            last_check = now;
            w->now = now;
            worker_watchdog(w, now);
            if (worker_idle(w, now)) {
                return;
            }
        }
    }
}

static void
pin_self(const struct config *cfg, unsigned i)
{
    if (cfg->ncpus == 0) {
        return;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cfg->cpus[i % cfg->ncpus], &set);
    int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    if (rc != 0) {
        fprintf(stderr, "stashd-bench: cannot pin worker %u to cpu %d: %s\n", i,
                cfg->cpus[i % cfg->ncpus], strerror(rc));
    }
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    const struct config *cfg = w->run->cfg;
    pin_self(cfg, w->id);
    if (cfg->preload) {
        w->phase = PHASE_PRELOAD;
        worker_loop(w);
    }
    pthread_barrier_wait(&w->run->barrier); /* preload done everywhere */
    pthread_barrier_wait(&w->run->barrier); /* phase times set */
    w->phase = PHASE_RUN;
    worker_loop(w);
    return NULL;
}

/* ---- set-up ---- */

static int
connect_one(const struct run *r)
{
    for (const struct addrinfo *ai = r->addr; ai != NULL; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
            return fd;
        }
        close(fd);
    }
    return -errno;
}

static int
conn_init(struct conn *c, struct worker *w, unsigned gid, unsigned total)
{
    const struct run *r = w->run;
    const struct config *cfg = r->cfg;
    memset(c, 0, sizeof(*c));
    c->w = w;
    c->gid = gid;
    int fd = connect_one(r);
    if (fd < 0) {
        fprintf(stderr, "stashd-bench: cannot connect to %s:%s: %s\n", cfg->host, cfg->port,
                strerror(-fd));
        return fd;
    }
    c->fd = fd;
    c->open = true;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        return -errno;
    }
    c->fifo_cap = cfg->pipeline > cfg->preload_pipeline ? cfg->pipeline : cfg->preload_pipeline;
    c->fifo = xmalloc(sizeof(*c->fifo) * c->fifo_cap);
    c->fifo_keys = xmalloc(sizeof(uint64_t) * c->fifo_cap * cfg->multiget);
    c->rcap = RBUF_MIN;
    c->rbuf = xmalloc(c->rcap);
    c->wcap = r->max_req * c->fifo_cap + 4096;
    c->wbuf = xmalloc(c->wcap);
    if (cfg->set_on_miss) {
        c->miss_cap = c->fifo_cap;
        c->miss_q = xmalloc(sizeof(uint64_t) * c->miss_cap);
    }
    proto_parser_init(&c->parser, cfg->proto, &r->ks, &r->vg);
    c->rng.s = cfg->seed * 0x9e3779b97f4a7c15ull + gid + 1;
    rng_next(&c->rng);
    /* Each connection starts its sequential walk, and preloads, its own
     * slice of the key space. */
    uint64_t lo = r->ks.count * gid / total, hi = r->ks.count * ((uint64_t)gid + 1) / total;
    c->seq = lo;
    c->preload_next = r->ks.key_min + lo;
    c->preload_end = r->ks.key_min + hi;
    return 0;
}

static void
conn_fini(struct conn *c)
{
    if (c->open) {
        close(c->fd);
    }
    free(c->fifo);
    free(c->fifo_keys);
    free(c->rbuf);
    free(c->wbuf);
    free(c->miss_q);
}

/* ---- option parsing ---- */

static void
usage(FILE *f)
{
    fprintf(f, "usage: stashd-bench [options]\n\n");
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt_row *o = &opt_rows[i];
        char left[64];
        if (o->sh) {
            snprintf(left, sizeof(left), "-%c, --%s%s%s", o->sh, o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
        } else {
            snprintf(left, sizeof(left), "    --%s%s%s", o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
        }
        fprintf(f, "  %-34s %s\n", left, o->help);
    }
    fprintf(f, "\nExit status: 0 when every reply was right, 1 on any error, 2 on a usage or\n"
               "set-up failure.\n");
}

static void
bad_option(const char *name, const char *val)
{
    fprintf(stderr, "stashd-bench: bad value for --%s: '%s'\n", name, val);
    exit(2);
}

static uint64_t
opt_u64(const char *name, const char *val, uint64_t lo, uint64_t hi)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(val, &end, 10);
    if (errno != 0 || end == val || *end != '\0' || val[0] == '-' || v < lo || v > hi) {
        bad_option(name, val);
    }
    return v;
}

static double
opt_double(const char *name, const char *val, double lo, double hi)
{
    char *end;
    double v = strtod(val, &end);
    if (end == val || *end != '\0' || !(v >= lo && v <= hi)) {
        bad_option(name, val);
    }
    return v;
}

static void
opt_cpus(struct config *cfg, const char *val)
{
    const char *s = val;
    cfg->ncpus = 0;
    while (*s) {
        char *end;
        long a = strtol(s, &end, 10), b = a;
        if (end == s || a < 0 || a >= CPU_SETSIZE) {
            bad_option("cpu-pin", val);
        }
        s = end;
        if (*s == '-') {
            b = strtol(s + 1, &end, 10);
            if (end == s + 1 || b < a || b >= CPU_SETSIZE) {
                bad_option("cpu-pin", val);
            }
            s = end;
        }
        for (long i = a; i <= b && cfg->ncpus < CPU_SETSIZE; i++) {
            cfg->cpus[cfg->ncpus++] = (int)i;
        }
        if (*s == ',') {
            s++;
        } else if (*s != '\0') {
            bad_option("cpu-pin", val);
        }
    }
}

static const char *
opt_name(enum opt_id id)
{
    for (size_t i = 0; i < NOPTS; i++) {
        if (opt_rows[i].id == id) {
            return opt_rows[i].name;
        }
    }
    return "?";
}

static void
apply_option(struct config *cfg, enum opt_id id, const char *v)
{
    const char *name = opt_name(id);
    switch (id) {
    case OPT_SERVER:
        cfg->host = v;
        break;
    case OPT_PORT:
        opt_u64(name, v, 1, 65535);
        cfg->port = v;
        break;
    case OPT_PROTOCOL:
        cfg->proto = proto_by_name(v);
        if (cfg->proto == PROTO_COUNT) {
            bad_option(name, v);
        }
        break;
    case OPT_THREADS:
        cfg->threads = (unsigned)opt_u64(name, v, 1, 1024);
        break;
    case OPT_CONNS:
        cfg->conns = (unsigned)opt_u64(name, v, 1, 65536);
        break;
    case OPT_PIPELINE:
        cfg->pipeline = (unsigned)opt_u64(name, v, 1, 65536);
        break;
    case OPT_TIME:
        cfg->time_s = opt_double(name, v, 0, 86400);
        cfg->time_given = true;
        break;
    case OPT_REQUESTS:
        cfg->requests = opt_u64(name, v, 1, UINT64_MAX);
        break;
    case OPT_WARMUP:
        cfg->warmup_s = opt_double(name, v, 0, 86400);
        break;
    case OPT_PRELOAD:
        cfg->preload = true;
        break;
    case OPT_PRELOAD_PIPELINE:
        cfg->preload_pipeline = (unsigned)opt_u64(name, v, 1, 65536);
        break;
    case OPT_RATIO: {
        unsigned a, b;
        char tail;
        if (sscanf(v, "%u:%u%c", &a, &b, &tail) != 2 || a + b == 0 || a > 1000000 || b > 1000000) {
            bad_option(name, v);
        }
        cfg->ratio_set = a;
        cfg->ratio_get = b;
        break;
    }
    case OPT_MULTIGET:
        cfg->multiget = (unsigned)opt_u64(name, v, 1, 1000);
        break;
    case OPT_SET_ON_MISS:
        cfg->set_on_miss = true;
        break;
    case OPT_KEYS:
        cfg->keys = opt_u64(name, v, 1, UINT64_MAX / 2);
        break;
    case OPT_KEY_MIN:
        cfg->key_min = opt_u64(name, v, 0, UINT64_MAX / 2);
        break;
    case OPT_KEY_PREFIX:
        cfg->key_prefix = v;
        break;
    case OPT_KEY_SIZE: {
        unsigned long a, b;
        char tail;
        int n = sscanf(v, "%lu-%lu%c", &a, &b, &tail);
        if (n == 1 && strchr(v, '-') == NULL) {
            cfg->key_size = cfg->key_size_max = (size_t)opt_u64(name, v, 1, KEYSPACE_MAX_KEY);
        } else if (n == 2 && a >= 1 && b >= a && b <= KEYSPACE_MAX_KEY) {
            cfg->key_size = a;
            cfg->key_size_max = b;
        } else {
            bad_option(name, v);
        }
        break;
    }
    case OPT_DIST:
        if (strcmp(v, "uniform") == 0) {
            cfg->dist = KEYSPACE_UNIFORM;
        } else if (strcmp(v, "sequential") == 0) {
            cfg->dist = KEYSPACE_SEQUENTIAL;
        } else if (strcmp(v, "zipf") == 0) {
            cfg->dist = KEYSPACE_ZIPF;
        } else {
            bad_option(name, v);
        }
        break;
    case OPT_ZIPF_S:
        cfg->zipf_s = opt_double(name, v, 1e-6, 100);
        break;
    case OPT_VALUE_SIZE:
        cfg->vmin = cfg->vmax = (size_t)opt_u64(name, v, 1, VALUE_MAX_LEN);
        break;
    case OPT_VALUE_RANGE: {
        unsigned long a, b;
        char tail;
        if (sscanf(v, "%lu-%lu%c", &a, &b, &tail) != 2 || a < 1 || b < a || b > VALUE_MAX_LEN) {
            bad_option(name, v);
        }
        cfg->vmin = a;
        cfg->vmax = b;
        break;
    }
    case OPT_JSON:
        cfg->json = v;
        break;
    case OPT_SERVER_PID:
        cfg->server_pid = (long)opt_u64(name, v, 1, 1u << 30);
        break;
    case OPT_CPU_PIN:
        opt_cpus(cfg, v);
        break;
    case OPT_REPLY_TIMEOUT:
        cfg->reply_timeout_s = opt_double(name, v, 0.001, 3600);
        break;
    case OPT_MAX_TIME:
        cfg->max_time_s = opt_double(name, v, 0.001, 86400);
        break;
    case OPT_SEED:
        cfg->seed = opt_u64(name, v, 0, UINT64_MAX);
        break;
    case OPT_QUIET:
        cfg->quiet = true;
        break;
    case OPT_HELP:
    case OPT_BASE:
        usage(stdout);
        exit(0);
    }
}

static void
parse_options(struct config *cfg, int argc, char **argv)
{
    struct option longs[NOPTS + 1];
    char shorts[3 * NOPTS + 1];
    size_t ns = 0;
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt_row *o = &opt_rows[i];
        longs[i] = (struct option){
            .name = o->name,
            .has_arg = o->arg ? required_argument : no_argument,
            .flag = NULL,
            .val = (int)o->id,
        };
        if (o->sh) {
            shorts[ns++] = (char)o->sh;
            if (o->arg) {
                shorts[ns++] = ':';
            }
        }
    }
    longs[NOPTS] = (struct option){0};
    shorts[ns] = '\0';
    int ch;
    while ((ch = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        if (ch == '?' || ch == ':') {
            usage(stderr);
            exit(2);
        }
        enum opt_id id = (enum opt_id)ch;
        if (ch < OPT_BASE) {
            for (size_t i = 0; i < NOPTS; i++) {
                if (opt_rows[i].sh == ch) {
                    id = opt_rows[i].id;
                }
            }
        }
        apply_option(cfg, id, optarg);
    }
    if (optind < argc) {
        fprintf(stderr, "stashd-bench: unexpected argument '%s'\n", argv[optind]);
        exit(2);
    }
    if (cfg->requests != 0 && cfg->time_given) {
        fprintf(stderr, "stashd-bench: give --time or --requests, not both\n");
        exit(2);
    }
    if (cfg->set_on_miss && cfg->multiget != 1) {
        fprintf(stderr, "stashd-bench: --set-on-miss needs --multiget 1\n");
        exit(2);
    }
    if (cfg->multiget > 1 && cfg->proto == PROTO_MC_BINARY && cfg->multiget > 65535) {
        bad_option("multiget", "too many");
    }
    if (cfg->requests == 0 && cfg->time_s == 0 && !cfg->preload) {
        fprintf(stderr, "stashd-bench: --time 0 makes sense only with --preload\n");
        exit(2);
    }
}

/* ---- server process sampling ---- */

/* utime + stime of pid in seconds, or -1. */
static double
proc_cpu_s(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL) {
        return -1;
    }
    /* Fields after the command: state(3) ... utime(14) stime(15). */
    unsigned long long ut, st;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) {
        return -1;
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* VmRSS of pid in KiB, or -1. */
static long
proc_rss_kb(long pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    long kb = -1;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) {
            break;
        }
    }
    fclose(f);
    return kb;
}

/* Sleeps until t, a signal or the --max-time deadline, whichever comes
 * first. */
static void
sleep_until(const struct run *r, uint64_t t)
{
    if (t > r->t_deadline) {
        t = r->t_deadline;
    }
    for (;;) {
        uint64_t now = now_ns();
        if (now >= t || atomic_load(&r->stop_ns) != 0) {
            return;
        }
        uint64_t d = t - now;
        struct timespec ts = {.tv_sec = (time_t)(d / NS_PER_S), .tv_nsec = (long)(d % NS_PER_S)};
        nanosleep(&ts, NULL);
    }
}

static void
on_signal(int sig)
{
    uint64_t zero = 0;
    atomic_compare_exchange_strong(&the_run->stop_ns, &zero, now_ns());
}

/* ---- report ---- */

struct report {
    double duration_s;
    double preload_s;
    struct stats st;
    struct hist all;
    double cpu_s; /* -1: not measured */
    long rss_kb;
};

static double
us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

static void
print_lat_row(FILE *f, const char *name, double ops_s, const char *hits, const char *misses,
              const struct hist *h)
{
    fprintf(f, "%-8s %12.2f %12s %12s %9.1f %9.1f %9.1f %9.1f %9.1f\n", name, ops_s, hits, misses,
            us(hist_percentile(h, 50)), us(hist_percentile(h, 90)), us(hist_percentile(h, 99)),
            us(hist_percentile(h, 99.9)), us(h->max));
}

static void
print_text(FILE *f, const struct config *cfg, const struct report *rp)
{
    const struct stats *st = &rp->st;
    uint64_t total = st->ops[0] + st->ops[1];
    double d = rp->duration_s > 0 ? rp->duration_s : 1;
    fprintf(f, "stashd-bench %s:%s %s: %u thread%s x %u conns, pipeline %u, set:get %u:%u",
            cfg->host, cfg->port, proto_name(cfg->proto), cfg->threads,
            cfg->threads == 1 ? "" : "s", cfg->conns, cfg->pipeline, cfg->ratio_set,
            cfg->ratio_get);
    if (cfg->multiget > 1) {
        fprintf(f, ", multiget %u", cfg->multiget);
    }
    fprintf(f, ", %llu keys %s", (unsigned long long)cfg->keys,
            cfg->dist == KEYSPACE_ZIPF         ? "zipf"
            : cfg->dist == KEYSPACE_SEQUENTIAL ? "sequential"
                                               : "uniform");
    if (cfg->dist == KEYSPACE_ZIPF) {
        fprintf(f, " %.2f", cfg->zipf_s);
    }
    if (cfg->vmin == cfg->vmax) {
        fprintf(f, ", values %zu B\n", cfg->vmin);
    } else {
        fprintf(f, ", values %zu-%zu B\n", cfg->vmin, cfg->vmax);
    }
    if (cfg->preload) {
        fprintf(f, "preload: %llu sets in %.2f s (%.0f/s)\n", (unsigned long long)st->preload_ops,
                rp->preload_s, rp->preload_s > 0 ? (double)st->preload_ops / rp->preload_s : 0.0);
    }
    fprintf(f, "measured %.2f s after %.2f s of warm-up\n\n", rp->duration_s, cfg->warmup_s);
    fprintf(f, "%-8s %12s %12s %12s %9s %9s %9s %9s %9s\n", "Type", "Ops/sec", "Hits/sec",
            "Misses/sec", "p50 us", "p90 us", "p99 us", "p99.9 us", "max us");
    char hits[32], misses[32];
    print_lat_row(f, "Sets", (double)st->ops[PROTO_OP_SET] / d, "---", "---",
                  &st->lat[PROTO_OP_SET]);
    snprintf(hits, sizeof(hits), "%.2f", (double)st->hits / d);
    snprintf(misses, sizeof(misses), "%.2f", (double)st->misses / d);
    print_lat_row(f, "Gets", (double)st->ops[PROTO_OP_GET] / d, hits, misses,
                  &st->lat[PROTO_OP_GET]);
    print_lat_row(f, "Totals", (double)total / d, hits, misses, &rp->all);
    uint64_t lookups = st->hits + st->misses;
    fprintf(f, "\nrequests %llu, hits %llu, misses %llu (hit ratio %.2f%%), errors %llu",
            (unsigned long long)total, (unsigned long long)st->hits, (unsigned long long)st->misses,
            lookups ? 100.0 * (double)st->hits / (double)lookups : 0.0,
            (unsigned long long)st->errors);
    if (st->errors) {
        fprintf(f, " (desyncs %llu, timeouts %llu, connections lost %llu%s)",
                (unsigned long long)st->desyncs, (unsigned long long)st->timeouts,
                (unsigned long long)st->closed, st->cut ? ", cut short by --max-time" : "");
    }
    fprintf(f, "\n");
    if (cfg->server_pid) {
        fprintf(f, "server pid %ld: ", cfg->server_pid);
        if (rp->cpu_s >= 0) {
            fprintf(f, "cpu %.3f s, %.3f us/request", rp->cpu_s,
                    total ? rp->cpu_s * 1e6 / (double)total : 0.0);
        } else {
            fprintf(f, "cpu unknown");
        }
        fprintf(f, ", rss %ld KiB\n", rp->rss_kb);
    }
}

static void
json_lat(FILE *f, const char *name, const struct hist *h, bool last)
{
    fprintf(f,
            "    \"%s\": {\"count\": %llu, \"mean\": %.3f, \"p50\": %.3f, \"p90\": %.3f, "
            "\"p99\": %.3f, \"p99.9\": %.3f, \"max\": %.3f}%s\n",
            name, (unsigned long long)h->count, hist_mean(h) / 1000.0, us(hist_percentile(h, 50)),
            us(hist_percentile(h, 90)), us(hist_percentile(h, 99)), us(hist_percentile(h, 99.9)),
            us(h->max), last ? "" : ",");
}

static void
json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            fputc('\\', f);
        }
        if ((unsigned char)*s < 0x20) {
            fprintf(f, "\\u%04x", (unsigned char)*s);
            continue;
        }
        fputc(*s, f);
    }
    fputc('"', f);
}

static void
print_json(FILE *f, const struct config *cfg, const struct report *rp)
{
    const struct stats *st = &rp->st;
    uint64_t total = st->ops[0] + st->ops[1];
    uint64_t lookups = st->hits + st->misses;
    double d = rp->duration_s > 0 ? rp->duration_s : 1;
    static const char *dists[] = {"uniform", "sequential", "zipf"};
    fprintf(f, "{\n  \"server\": ");
    json_str(f, cfg->host);
    fprintf(f, ",\n  \"port\": %s,\n  \"protocol\": \"%s\",\n", cfg->port, proto_name(cfg->proto));
    fprintf(f,
            "  \"threads\": %u,\n  \"conns_per_thread\": %u,\n  \"pipeline\": %u,\n"
            "  \"ratio\": \"%u:%u\",\n  \"multiget\": %u,\n  \"set_on_miss\": %s,\n"
            "  \"keys\": %llu,\n  \"key_size\": %zu,\n  \"key_size_max\": %zu,\n  \"dist\": "
            "\"%s\",\n  \"zipf_s\": %g,\n"
            "  \"value_min\": %zu,\n  \"value_max\": %zu,\n  \"warmup_s\": %g,\n",
            cfg->threads, cfg->conns, cfg->pipeline, cfg->ratio_set, cfg->ratio_get, cfg->multiget,
            cfg->set_on_miss ? "true" : "false", (unsigned long long)cfg->keys, cfg->key_size,
            cfg->key_size_max, dists[cfg->dist], cfg->zipf_s, cfg->vmin, cfg->vmax, cfg->warmup_s);
    fprintf(f, "  \"preload\": {\"ops\": %llu, \"seconds\": %.3f},\n",
            (unsigned long long)st->preload_ops, rp->preload_s);
    fprintf(f,
            "  \"duration_s\": %.3f,\n  \"ops\": %llu,\n  \"ops_per_sec\": %.2f,\n"
            "  \"sets\": %llu,\n  \"sets_per_sec\": %.2f,\n  \"gets\": %llu,\n"
            "  \"gets_per_sec\": %.2f,\n  \"hits\": %llu,\n  \"misses\": %llu,\n"
            "  \"hit_ratio\": %.6f,\n  \"errors\": %llu,\n  \"desyncs\": %llu,\n"
            "  \"timeouts\": %llu,\n  \"connections_lost\": %llu,\n  \"max_time_cut\": %s,\n",
            rp->duration_s, (unsigned long long)total, (double)total / d,
            (unsigned long long)st->ops[PROTO_OP_SET], (double)st->ops[PROTO_OP_SET] / d,
            (unsigned long long)st->ops[PROTO_OP_GET], (double)st->ops[PROTO_OP_GET] / d,
            (unsigned long long)st->hits, (unsigned long long)st->misses,
            lookups ? (double)st->hits / (double)lookups : 0.0, (unsigned long long)st->errors,
            (unsigned long long)st->desyncs, (unsigned long long)st->timeouts,
            (unsigned long long)st->closed, st->cut ? "true" : "false");
    fprintf(f, "  \"latency_us\": {\n");
    json_lat(f, "all", &rp->all, false);
    json_lat(f, "set", &st->lat[PROTO_OP_SET], false);
    json_lat(f, "get", &st->lat[PROTO_OP_GET], true);
    fprintf(f, "  },\n");
    if (cfg->server_pid && rp->cpu_s >= 0) {
        fprintf(f, "  \"server_pid\": %ld,\n  \"server_cpu_s\": %.3f,\n", cfg->server_pid,
                rp->cpu_s);
        if (total) {
            fprintf(f, "  \"server_cpu_us_per_op\": %.4f,\n", rp->cpu_s * 1e6 / (double)total);
        } else {
            fprintf(f, "  \"server_cpu_us_per_op\": null,\n");
        }
    } else {
        fprintf(f,
                "  \"server_pid\": %ld,\n  \"server_cpu_s\": null,\n"
                "  \"server_cpu_us_per_op\": null,\n",
                cfg->server_pid);
    }
    if (cfg->server_pid && rp->rss_kb >= 0) {
        fprintf(f, "  \"server_rss_kb\": %ld\n}\n", rp->rss_kb);
    } else {
        fprintf(f, "  \"server_rss_kb\": null\n}\n");
    }
}

/* ---- main ---- */

static void
merge(struct report *rp, const struct run *r)
{
    struct stats *t = &rp->st;
    memset(t, 0, sizeof(*t));
    hist_init(&t->lat[0]);
    hist_init(&t->lat[1]);
    for (unsigned i = 0; i < r->cfg->threads; i++) {
        const struct stats *s = &r->workers[i].st;
        t->ops[0] += s->ops[0];
        t->ops[1] += s->ops[1];
        t->hits += s->hits;
        t->misses += s->misses;
        t->errors += s->errors;
        t->desyncs += s->desyncs;
        t->timeouts += s->timeouts;
        t->closed += s->closed;
        t->preload_ops += s->preload_ops;
        if (s->last_done_ns > t->last_done_ns) {
            t->last_done_ns = s->last_done_ns;
        }
        t->cut |= s->cut;
        hist_merge(&t->lat[0], &s->lat[0]);
        hist_merge(&t->lat[1], &s->lat[1]);
    }
    hist_init(&rp->all);
    hist_merge(&rp->all, &t->lat[0]);
    hist_merge(&rp->all, &t->lat[1]);
}

static void
setup_run(struct run *r, const struct config *cfg)
{
    memset(r, 0, sizeof(*r));
    r->cfg = cfg;
    atomic_init(&r->stop_ns, 0);
    if (keyspace_init(&r->ks, cfg->key_min, cfg->keys, cfg->dist, cfg->zipf_s, cfg->key_prefix,
                      cfg->key_size, cfg->key_size_max) != 0) {
        fprintf(stderr,
                "stashd-bench: bad key space (keys longer than %d bytes, or longer "
                "than --key-size?)\n",
                KEYSPACE_MAX_KEY);
        exit(2);
    }
    if (value_gen_init(&r->vg, cfg->vmax) != 0) {
        fprintf(stderr, "stashd-bench: cannot allocate values\n");
        exit(2);
    }
    /* A value of a length this run never writes is wrong: an emptied or
     * cut value must not pass as a hit (parse_options() checked the sizes). */
    if (value_gen_expect(&r->vg, cfg->vmin, cfg->vmax) != 0) {
        fprintf(stderr, "stashd-bench: bad value sizes %zu-%zu\n", cfg->vmin, cfg->vmax);
        exit(2);
    }
    char kbuf[KEYSPACE_MAX_KEY + 1];
    r->max_key = keyspace_format(&r->ks, cfg->key_min + cfg->keys - 1, kbuf);
    if (r->max_key < cfg->key_size_max) {
        r->max_key = cfg->key_size_max;
    }
    size_t s = proto_set_size(cfg->proto, r->max_key, cfg->vmax);
    size_t g = proto_get_size(cfg->proto, r->max_key, cfg->multiget);
    r->max_req = s > g ? s : g;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int rc = getaddrinfo(cfg->host, cfg->port, &hints, &r->addr);
    if (rc != 0) {
        fprintf(stderr, "stashd-bench: %s: %s\n", cfg->host, gai_strerror(rc));
        exit(2);
    }
}

static void
start_workers(struct run *r)
{
    const struct config *cfg = r->cfg;
    unsigned total = cfg->threads * cfg->conns;
    r->workers = calloc(cfg->threads, sizeof(*r->workers));
    if (r->workers == NULL) {
        exit(2);
    }
    for (unsigned i = 0; i < cfg->threads; i++) {
        struct worker *w = &r->workers[i];
        w->run = r;
        w->id = i;
        w->nconns = cfg->conns;
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        w->conns = xmalloc(sizeof(*w->conns) * cfg->conns);
        hist_init(&w->st.lat[0]);
        hist_init(&w->st.lat[1]);
        if (w->ep < 0) {
            perror("stashd-bench: epoll_create1");
            exit(2);
        }
        for (unsigned j = 0; j < cfg->conns; j++) {
            if (conn_init(&w->conns[j], w, i * cfg->conns + j, total) != 0) {
                exit(2);
            }
        }
    }
    r->t0 = now_ns();
    r->t_deadline = r->t0 + secs_ns(cfg->max_time_s);
    r->t_mstart = r->t_mend = UINT64_MAX; /* not yet: nothing is measured in preload */
    pthread_barrier_init(&r->barrier, NULL, cfg->threads + 1);
    /* Workers leave signals to the main thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (unsigned i = 0; i < cfg->threads; i++) {
        int rc = pthread_create(&r->workers[i].tid, NULL, worker_main, &r->workers[i]);
        if (rc != 0) {
            fprintf(stderr, "stashd-bench: pthread_create: %s\n", strerror(rc));
            exit(2);
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

int
main(int argc, char **argv)
{
    static struct config cfg = {
        .host = "127.0.0.1",
        .port = "11211",
        .proto = PROTO_MC_TEXT,
        .threads = 1,
        .conns = 50,
        .pipeline = 1,
        .preload_pipeline = 32,
        .time_s = 10,
        .ratio_set = 1,
        .ratio_get = 10,
        .multiget = 1,
        .keys = 100000,
        .key_prefix = "key:",
        .dist = KEYSPACE_UNIFORM,
        .zipf_s = 0.99,
        .vmin = 100,
        .vmax = 100,
        .reply_timeout_s = 5,
        .max_time_s = 300,
        .seed = 1,
    };
    parse_options(&cfg, argc, argv);

    static struct run run;
    struct report rp = {.cpu_s = -1, .rss_kb = -1};
    setup_run(&run, &cfg);
    the_run = &run;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    start_workers(&run);
    pthread_barrier_wait(&run.barrier); /* preload done */
    uint64_t t = now_ns();
    rp.preload_s = cfg.preload ? (double)(t - run.t0) / 1e9 : 0;
    run.t_start = t;
    run.t_mstart = t + secs_ns(cfg.warmup_s);
    run.t_mend = cfg.requests ? UINT64_MAX : run.t_mstart + secs_ns(cfg.time_s);
    pthread_barrier_wait(&run.barrier); /* workers may read the phase times */

    double cpu0 = -1, cpu1 = -1;
    if (cfg.server_pid) {
        sleep_until(&run, run.t_mstart);
        cpu0 = proc_cpu_s(cfg.server_pid);
        if (!cfg.requests) {
            sleep_until(&run, run.t_mend);
            cpu1 = proc_cpu_s(cfg.server_pid);
        }
    }
    for (unsigned i = 0; i < cfg.threads; i++) {
        pthread_join(run.workers[i].tid, NULL);
    }
    if (cfg.server_pid) {
        if (cfg.requests) {
            cpu1 = proc_cpu_s(cfg.server_pid);
        }
        if (cpu0 >= 0 && cpu1 >= 0) {
            rp.cpu_s = cpu1 - cpu0;
        }
        rp.rss_kb = proc_rss_kb(cfg.server_pid);
    }

    merge(&rp, &run);
    uint64_t stop = atomic_load(&run.stop_ns);
    if (cfg.requests) {
        uint64_t end = rp.st.last_done_ns > run.t_mstart ? rp.st.last_done_ns : run.t_mstart;
        rp.duration_s = (double)(end - run.t_mstart) / 1e9;
    } else {
        /* Nothing is sent after a signal or the --max-time deadline: the
         * measured window closes at whichever of them comes first. */
        uint64_t end = run.t_deadline < run.t_mend ? run.t_deadline : run.t_mend;
        end = stop && stop < end ? stop : end;
        rp.duration_s = end > run.t_mstart ? (double)(end - run.t_mstart) / 1e9 : 0;
    }
    if (stop) {
        fprintf(stderr, "stashd-bench: interrupted; reporting what was measured\n");
    }
    if (rp.st.cut) {
        /* The run did not do what it was asked (fewer requests, a shorter
         * window, keys not preloaded): one error, so that the exit status
         * and the JSON's error count both say so. */
        rp.st.errors++;
        fprintf(stderr,
                "stashd-bench: the --max-time deadline (%g s) stopped the run before it was "
                "done; reporting what was measured\n",
                cfg.max_time_s);
    }

    bool json_stdout = cfg.json && strcmp(cfg.json, "-") == 0;
    if (!cfg.quiet) {
        print_text(json_stdout ? stderr : stdout, &cfg, &rp);
    }
    if (cfg.json) {
        FILE *f = json_stdout ? stdout : fopen(cfg.json, "w");
        if (f == NULL) {
            fprintf(stderr, "stashd-bench: %s: %s\n", cfg.json, strerror(errno));
            return 2;
        }
        print_json(f, &cfg, &rp);
        if (!json_stdout) {
            fclose(f);
        }
    }

    for (unsigned i = 0; i < cfg.threads; i++) {
        for (unsigned j = 0; j < run.workers[i].nconns; j++) {
            conn_fini(&run.workers[i].conns[j]);
        }
        free(run.workers[i].conns);
        close(run.workers[i].ep);
    }
    free(run.workers);
    value_gen_fini(&run.vg);
    freeaddrinfo(run.addr);
    return rp.st.errors ? 1 : 0;
}
