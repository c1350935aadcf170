/*
 * The engine of stashd-bench: a closed-loop load generator in the spirit of
 * memtier_benchmark that verifies every reply.
 *
 *   worker (-t): one thread, one epoll loop over its connections (-c each)
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
#include "engine_int.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "tls.h"

#define NS_PER_S 1000000000ull
#define MAX_EVENTS 256
#define CHECK_NS (10ull * 1000 * 1000) /* watchdog and end check period */
/* How often a worker stores its counters for the progress line: ten times
 * per line, so that a line is at most ~100 ms stale. */
#define PUBLISH_NS (100ull * 1000 * 1000)

uint64_t
engine_now_ns(void)
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
    const struct engine *e = w->e;
    uint64_t limit = secs_ns(e->o->reply_timeout_s);
    bool stopped = atomic_load_explicit(&e->stop_ns, memory_order_relaxed) != 0;
    for (unsigned i = 0; i < w->nconns; i++) {
        struct conn *c = &w->conns[i];
        if (now >= e->t_deadline && (c->count > 0 || (!stopped && conn_has_more(c, now)))) {
            w->st.cut = true;
        }
        if (!c->open || c->count == 0) {
            continue;
        }
        if (now >= e->t_deadline) {
            w->st.timeouts += c->count;
            conn_fail(c, "replies outstanding at the --max-time deadline", NULL);
        } else if (now - c->last_rx_ns > limit) {
            w->st.timeouts += c->count;
            conn_fail(c, "no reply within --reply-timeout", NULL);
        }
    }
}

/* Stores w's counters where engine_progress() reads them. Requests done
 * in the run phase are those sent less those still in flight, so that the
 * warm-up, which the statistics do not count, shows too. */
static void
worker_publish(struct worker *w, uint64_t now)
{
    w->next_pub = now + PUBLISH_NS;
    uint64_t done = w->st.preload_ops;
    for (unsigned i = 0; i < w->nconns; i++) {
        done += w->conns[i].sent_run - w->conns[i].count;
    }
    atomic_store_explicit(&w->pub.done, done, memory_order_relaxed);
    atomic_store_explicit(&w->pub.hits, w->st.hits, memory_order_relaxed);
    atomic_store_explicit(&w->pub.misses, w->st.misses, memory_order_relaxed);
    atomic_store_explicit(&w->pub.errors, w->st.errors, memory_order_relaxed);
}

static void
worker_on_event(struct worker *w, const struct epoll_event *ev)
{
    struct conn *c = ev->data.ptr;
    bool in = ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP);
    if (c->open && (in || (c->read_wants_out && (ev->events & EPOLLOUT)))) {
        conn_on_readable(c);
    }
    if (c->open && (ev->events & EPOLLOUT)) {
        conn_flush(c);
    }
    if (c->open) {
        conn_fill(c, w->now);
        conn_flush(c);
    }
}

/* Sends what every connection may send now: at the start, and with --rate
 * after each wake-up, since a request that waited for its time has no
 * socket event to bring it. */
static void
worker_fill_all(struct worker *w, uint64_t now)
{
    for (unsigned i = 0; i < w->nconns; i++) {
        struct conn *c = &w->conns[i];
        if (c->open) {
            conn_fill(c, now);
            conn_flush(c);
        }
    }
}

static void
worker_loop(struct worker *w)
{
    struct epoll_event evs[MAX_EVENTS];
    bool paced = w->e->pace_ns > 0 && w->phase == PHASE_RUN;
    uint64_t last_check = engine_now_ns();
    w->now = last_check;
    worker_fill_all(w, w->now);
    for (;;) {
        int n = epoll_wait(w->ep, evs, MAX_EVENTS, paced ? 1 : 10);
        if (n < 0 && errno != EINTR) {
            perror("stashd-bench: epoll_wait");
            exit(2);
        }
        for (int i = 0; i < n; i++) {
            worker_on_event(w, &evs[i]);
        }
        uint64_t now = engine_now_ns();
        if (paced) {
            worker_fill_all(w, now);
        }
        if (now - last_check >= CHECK_NS || n <= 0) {
            last_check = now;
            w->now = now;
            worker_watchdog(w, now);
            bool idle = worker_idle(w, now);
            if (w->e->progress && (now >= w->next_pub || idle)) {
                worker_publish(w, now);
            }
            if (idle) {
                return;
            }
        }
    }
}

static void
pin_self(const struct options *o, unsigned i)
{
    if (o->ncpus == 0) {
        return;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(o->cpus[i % o->ncpus], &set);
    int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    if (rc != 0) {
        fprintf(stderr, "stashd-bench: cannot pin worker %u to cpu %d: %s\n", i,
                o->cpus[i % o->ncpus], strerror(rc));
    }
}

/* Counts w in *n, for engine_wait_preloaded() and engine_wait_finished(). */
static void
worker_arrive(struct worker *w, unsigned *n)
{
    struct engine *e = w->e;
    pthread_mutex_lock(&e->lock);
    (*n)++;
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->lock);
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    const struct options *o = w->e->o;
    pin_self(o, w->id);
    if (o->preload) {
        w->phase = PHASE_PRELOAD;
        worker_loop(w);
    }
    worker_arrive(w, &w->e->npreloaded);
    pthread_barrier_wait(&w->e->barrier); /* preload done everywhere */
    pthread_barrier_wait(&w->e->barrier); /* phase times set */
    w->phase = PHASE_RUN;
    worker_loop(w);
    worker_arrive(w, &w->e->nfinished);
    return NULL;
}

/* ---- set-up ---- */

/* The largest request of the run, for sizing write buffers. */
static void
size_requests(struct engine *e)
{
    const struct options *o = e->o;
    char kbuf[KEYSPACE_MAX_KEY + 1];
    e->max_key = keyspace_format(&e->ks, o->key_min + o->keys - 1, kbuf);
    if (e->max_key < o->key_size_max) {
        e->max_key = o->key_size_max;
    }
    size_t s = proto_set_size(o->proto, e->max_key, o->vmax, proto_set_keys(o->proto, o->multiget));
    size_t g = proto_get_size(o->proto, e->max_key, o->multiget);
    e->max_req = s > g ? s : g;
}

int
engine_create(struct engine **ep, const struct options *o)
{
    struct engine *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        fprintf(stderr, "stashd-bench: out of memory\n");
        return -1;
    }
    *ep = e;
    e->o = o;
    atomic_init(&e->stop_ns, 0);
    /* The waits time out on CLOCK_MONOTONIC, the engine's clock. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&e->lock, NULL);
    if (keyspace_init(&e->ks, o->key_min, o->keys, o->dist, o->zipf_s, o->key_prefix, o->key_size,
                      o->key_size_max) != 0) {
        fprintf(stderr,
                "stashd-bench: bad key space (keys longer than %d bytes, or longer "
                "than --key-size?)\n",
                KEYSPACE_MAX_KEY);
        return -1;
    }
    if (value_gen_init(&e->vg, o->vmax) != 0) {
        fprintf(stderr, "stashd-bench: cannot allocate values\n");
        return -1;
    }
    /* A value of a length this run never writes is wrong: an emptied or
     * cut value must not pass as a hit (options_parse() checked the sizes). */
    if (value_gen_expect(&e->vg, o->vmin, o->vmax) != 0) {
        fprintf(stderr, "stashd-bench: bad value sizes %zu-%zu\n", o->vmin, o->vmax);
        return -1;
    }
    size_requests(e);
    if (o->rate > 0) {
        e->pace_ns = 1e9 * (double)o->threads * (double)o->conns / o->rate;
    }
    if (o->tls && tls_ctx_create(&e->tls, o) != 0) {
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int rc = getaddrinfo(o->host, o->port, &hints, &e->addr);
    if (rc != 0) {
        fprintf(stderr, "stashd-bench: %s: %s\n", o->host, gai_strerror(rc));
        return -1;
    }
    return 0;
}

static int
worker_init(struct worker *w, struct engine *e, unsigned id)
{
    const struct options *o = e->o;
    w->e = e;
    w->id = id;
    w->nconns = o->conns;
    atomic_init(&w->pub.done, 0);
    atomic_init(&w->pub.hits, 0);
    atomic_init(&w->pub.misses, 0);
    atomic_init(&w->pub.errors, 0);
    hist_init(&w->st.lat[0]);
    hist_init(&w->st.lat[1]);
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    if (w->ep < 0) {
        perror("stashd-bench: epoll_create1");
        return -1;
    }
    w->conns = calloc(o->conns, sizeof(*w->conns));
    if (w->conns == NULL) {
        fprintf(stderr, "stashd-bench: out of memory\n");
        return -1;
    }
    for (unsigned j = 0; j < o->conns; j++) {
        w->nconns = j + 1; /* engine_destroy() frees what was set up */
        if (conn_init(&w->conns[j], w, id * o->conns + j, o->threads * o->conns) != 0) {
            return -1;
        }
    }
    return 0;
}

int
engine_start(struct engine *e)
{
    const struct options *o = e->o;
    e->workers = calloc(o->threads, sizeof(*e->workers));
    if (e->workers == NULL) {
        return -1;
    }
    for (unsigned i = 0; i < o->threads; i++) {
        e->workers[i].ep = -1;
    }
    for (unsigned i = 0; i < o->threads; i++) {
        if (worker_init(&e->workers[i], e, i) != 0) {
            return -1;
        }
    }
    e->t0 = engine_now_ns();
    e->t_deadline = e->t0 + secs_ns(o->max_time_s);
    e->t_mstart = e->t_mend = UINT64_MAX; /* not yet: nothing is measured in preload */
    pthread_barrier_init(&e->barrier, NULL, o->threads + 1);
    /* Workers leave signals to the calling thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (unsigned i = 0; i < o->threads; i++) {
        int rc = pthread_create(&e->workers[i].tid, NULL, worker_main, &e->workers[i]);
        if (rc != 0) {
            fprintf(stderr, "stashd-bench: pthread_create: %s\n", strerror(rc));
            exit(2); /* the threads already started wait at a barrier forever */
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    e->started = true;
    return 0;
}

double
engine_begin_run(struct engine *e)
{
    const struct options *o = e->o;
    pthread_barrier_wait(&e->barrier); /* preload done */
    uint64_t t = engine_now_ns();
    e->t_start = t;
    e->t_mstart = t + secs_ns(o->warmup_s);
    e->t_mend = o->requests ? UINT64_MAX : e->t_mstart + secs_ns(o->time_s);
    pthread_barrier_wait(&e->barrier); /* workers may read the phase times */
    return o->preload ? (double)(t - e->t0) / 1e9 : 0;
}

uint64_t
engine_window_start(const struct engine *e)
{
    return e->t_mstart;
}

uint64_t
engine_window_end(const struct engine *e)
{
    return e->t_mend;
}

bool
engine_sleep_until(const struct engine *e, uint64_t t)
{
    uint64_t until = t < e->t_deadline ? t : e->t_deadline;
    for (;;) {
        uint64_t now = engine_now_ns();
        if (atomic_load(&e->stop_ns) != 0) {
            return false;
        }
        if (now >= until) {
            return now >= t;
        }
        uint64_t d = until - now;
        struct timespec ts = {.tv_sec = (time_t)(d / NS_PER_S), .tv_nsec = (long)(d % NS_PER_S)};
        nanosleep(&ts, NULL);
    }
}

void
engine_set_progress(struct engine *e, bool on)
{
    e->progress = on;
}

void
engine_progress(const struct engine *e, struct engine_progress *p)
{
    *p = (struct engine_progress){0};
    for (unsigned i = 0; e->workers != NULL && i < e->o->threads; i++) {
        const struct worker *w = &e->workers[i];
        p->done += atomic_load_explicit(&w->pub.done, memory_order_relaxed);
        p->hits += atomic_load_explicit(&w->pub.hits, memory_order_relaxed);
        p->misses += atomic_load_explicit(&w->pub.misses, memory_order_relaxed);
        p->errors += atomic_load_explicit(&w->pub.errors, memory_order_relaxed);
    }
}

const char *
engine_phase_name(const struct engine *e, uint64_t now)
{
    if (e->t_mstart == UINT64_MAX) {
        return "preload";
    }
    return now < e->t_mstart ? "warm-up" : now < e->t_mend ? "run" : "drain";
}

/* Waits until *n counts every worker or until (see engine_wait_preloaded). */
static bool
wait_workers(struct engine *e, const unsigned *n, uint64_t until)
{
    struct timespec ts = {.tv_sec = (time_t)(until / NS_PER_S),
                          .tv_nsec = (long)(until % NS_PER_S)};
    bool all;
    pthread_mutex_lock(&e->lock);
    while (!(all = *n == e->o->threads)) {
        if (until == UINT64_MAX) {
            pthread_cond_wait(&e->cond, &e->lock);
        } else if (pthread_cond_timedwait(&e->cond, &e->lock, &ts) == ETIMEDOUT) {
            all = *n == e->o->threads;
            break;
        }
    }
    pthread_mutex_unlock(&e->lock);
    return all;
}

bool
engine_wait_preloaded(struct engine *e, uint64_t until)
{
    return wait_workers(e, &e->npreloaded, until);
}

bool
engine_wait_finished(struct engine *e, uint64_t until)
{
    return wait_workers(e, &e->nfinished, until);
}

void
engine_join(struct engine *e)
{
    for (unsigned i = 0; i < e->o->threads; i++) {
        pthread_join(e->workers[i].tid, NULL);
    }
}

void
engine_stop(struct engine *e)
{
    uint64_t zero = 0;
    atomic_compare_exchange_strong(&e->stop_ns, &zero, engine_now_ns());
}

bool
engine_stopped(const struct engine *e)
{
    return atomic_load(&e->stop_ns) != 0;
}

static void
stats_add(struct engine_stats *t, const struct engine_stats *s)
{
    t->ops[0] += s->ops[0];
    t->ops[1] += s->ops[1];
    t->hits += s->hits;
    t->misses += s->misses;
    t->errors += s->errors;
    t->refused += s->refused;
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

void
engine_collect(const struct engine *e, struct engine_stats *st)
{
    memset(st, 0, sizeof(*st));
    hist_init(&st->lat[0]);
    hist_init(&st->lat[1]);
    for (unsigned i = 0; i < e->o->threads; i++) {
        stats_add(st, &e->workers[i].st);
    }
}

double
engine_measured_s(const struct engine *e, const struct engine_stats *st)
{
    if (e->o->requests) {
        uint64_t end = st->last_done_ns > e->t_mstart ? st->last_done_ns : e->t_mstart;
        return (double)(end - e->t_mstart) / 1e9;
    }
    /* Nothing is sent after a stop or the --max-time deadline: the measured
     * window closes at whichever of them comes first. */
    uint64_t stop = atomic_load(&e->stop_ns);
    uint64_t end = e->t_deadline < e->t_mend ? e->t_deadline : e->t_mend;
    end = stop && stop < end ? stop : end;
    return end > e->t_mstart ? (double)(end - e->t_mstart) / 1e9 : 0;
}

void
engine_destroy(struct engine **ep)
{
    struct engine *e = *ep;
    if (e == NULL) {
        return;
    }
    for (unsigned i = 0; e->workers != NULL && i < e->o->threads; i++) {
        struct worker *w = &e->workers[i];
        for (unsigned j = 0; w->conns != NULL && j < w->nconns; j++) {
            conn_fini(&w->conns[j]);
        }
        free(w->conns);
        if (w->ep >= 0) {
            close(w->ep);
        }
    }
    free(e->workers);
    if (e->started) {
        pthread_barrier_destroy(&e->barrier);
    }
    pthread_cond_destroy(&e->cond);
    pthread_mutex_destroy(&e->lock);
    value_gen_fini(&e->vg);
    tls_ctx_destroy(&e->tls);
    if (e->addr != NULL) {
        freeaddrinfo(e->addr);
    }
    free(e);
    *ep = NULL;
}
