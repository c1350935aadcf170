/*
 * net: owns the workers and the cmd_env every session sees; implements the
 * env's upward callbacks that need to see all workers (summing metrics,
 * listing connections).
 */
#include "stashd/net/net.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include "net/net_internal.h"
#include "net/tls.h"
#include "stashd/util/clock.h"
#include "stashd/util/log.h"
#include "stashd/util/options.h"

struct net {
    struct net_config cfg;
    struct cmd_env env;
    struct worker *workers;
    unsigned nworkers;
    unsigned started;
    uint64_t conns;   /* open connections, all workers (atomic) */
    unsigned next_id; /* connection ids (atomic) */
    char **addrs;     /* listening addresses (net_keep_addr); set before start */
    unsigned naddrs;
    struct admin *admin;      /* NULL unless --admin-port */
    struct hotkeys **hot;     /* each worker's sketch, for env.hotkeys */
    struct cmdstats **cstats; /* each worker's command statistics, for env.cmdstats */
    struct tls_server *tls;   /* NULL unless -Z or --tls-port */
    bool ready;               /* serving: set by net_start, cleared by drain/stop (atomic) */
};

bool
net_ready(struct net *n)
{
    return __atomic_load_n(&n->ready, __ATOMIC_RELAXED);
}

const struct cmd_env *
net_env(const struct net *n)
{
    return &n->env;
}

const struct options *
net_opts(const struct net *n)
{
    return n->cfg.opts;
}

struct tls_server *
net_tls(const struct net *n)
{
    return n->tls;
}

int
net_refresh_certs(struct net *n, char *err, size_t errlen)
{
    if (n->tls == NULL) {
        snprintf(err, errlen, "Error TLS not enabled");
        return -ENOTSUP;
    }
    return tls_server_reload(n->tls, err, errlen);
}

static int
env_refresh_certs(void *ctx, char *err, size_t errlen)
{
    return net_refresh_certs(ctx, err, errlen);
}

static uint32_t
env_tls_cert_age(void *ctx)
{
    struct net *n = ctx;
    uint32_t now = clock_now(), at = tls_server_loaded_at(n->tls);
    return now > at ? now - at : 0;
}

/* -Z or --tls-port: load the certificates now, so that a bad file stops
 * the start with its reason. */
static int
tls_setup(struct net *n)
{
    const struct options *o = n->cfg.opts;
    char err[512];
    if (!o->ssl_enabled && o->tls_port == 0) {
        return 0;
    }
    int rc = tls_server_create(&n->tls, o, err, sizeof(err));
    if (rc != 0) {
        log_error("%s", err);
        return rc;
    }
    n->env.refresh_certs = env_refresh_certs;
    n->env.tls_cert_age = env_tls_cert_age;
    return 0;
}

bool
net_conn_admit(struct net *n)
{
    uint64_t prev = __atomic_fetch_add(&n->conns, 1, __ATOMIC_RELAXED);
    if (prev >= (uint64_t)n->cfg.opts->conn_limit) {
        __atomic_fetch_sub(&n->conns, 1, __ATOMIC_RELAXED);
        return false;
    }
    return true;
}

void
net_conn_release(struct net *n)
{
    __atomic_fetch_sub(&n->conns, 1, __ATOMIC_RELAXED);
}

unsigned
net_next_conn_id(struct net *n)
{
    return __atomic_add_fetch(&n->next_id, 1, __ATOMIC_RELAXED);
}

const char *
net_keep_addr(struct net *n, const char *addr)
{
    for (unsigned i = 0; i < n->naddrs; i++) {
        if (strcmp(n->addrs[i], addr) == 0) {
            return n->addrs[i];
        }
    }
    char **v = realloc(n->addrs, (n->naddrs + 1) * sizeof(*v));
    if (v == NULL) {
        return NULL;
    }
    n->addrs = v;
    if ((v[n->naddrs] = strdup(addr)) == NULL) {
        return NULL;
    }
    return v[n->naddrs++];
}

void
net_sum_latency(struct net *n, struct net_latency *out)
{
    for (unsigned i = 0; i < n->nworkers; i++) {
        const struct net_latency *l = &n->workers[i].lat;
        for (unsigned f = 0; f < LAT_FAMILIES; f++) {
            for (unsigned b = 0; b < LAT_BUCKETS; b++) {
                out->bucket[f][b] += __atomic_load_n(&l->bucket[f][b], __ATOMIC_RELAXED);
            }
            out->sum_ns[f] += __atomic_load_n(&l->sum_ns[f], __ATOMIC_RELAXED);
        }
    }
}

static void
env_sum_metrics(void *ctx, struct metrics *out)
{
    struct net *n = ctx;
    for (unsigned i = 0; i < n->nworkers; i++) {
        metrics_accumulate(out, &n->workers[i].metrics);
    }
}

static void
env_each_conn(void *ctx, cmd_conn_fn fn, void *fnctx)
{
    struct net *n = ctx;
    for (unsigned i = 0; i < n->nworkers; i++) {
        struct worker *w = &n->workers[i];
        pthread_mutex_lock(&w->conns_lock);
        /* Every worker listens on the same addresses: list worker 0's. */
        for (struct listener *l = i == 0 ? w->listeners : NULL; l != NULL; l = l->next) {
            struct cmd_conn_info li = {.addr = l->addr, .state = "conn_listening", .id = l->id};
            fn(fnctx, &li);
        }
        for (struct conn *c = w->conns; c != NULL; c = c->next) {
            char a[CONN_ADDR_MAX], la[CONN_ADDR_MAX];
            struct cmd_conn_info ci = {
                .addr = conn_format_addr(c, a),
                .state = __atomic_load_n(&c->state, __ATOMIC_RELAXED),
                .idle_secs = 0,
                .id = c->id,
                .listen_addr = c->listen_addr,
                .local_addr = conn_format_local(c, la),
            };
            uint32_t last = __atomic_load_n(&c->last_active, __ATOMIC_RELAXED);
            uint32_t now = clock_now();
            ci.idle_secs = now > last ? now - last : 0;
            fn(fnctx, &ci);
        }
        pthread_mutex_unlock(&w->conns_lock);
    }
}

/* Wait (on w0's thread) until r, queued on w, is served, serving w0's
 * own queue meanwhile: two workers killing at once each serve the other. */
static void
kill_wait(struct worker *w0, struct worker *w, struct kill_req *r)
{
    pthread_mutex_lock(&w->kill_lock);
    while (!r->done) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&w->kill_cond, &w->kill_lock, &ts);
        if (!r->done) {
            pthread_mutex_unlock(&w->kill_lock);
            conn_kill_serve(w0);
            pthread_mutex_lock(&w->kill_lock);
        }
    }
    pthread_mutex_unlock(&w->kill_lock);
}

/*
 * CLIENT KILL (cmd_env.kill_conns), on the worker of the caller's
 * connection: each other worker gets a request on its queue and an async
 * wake-up and closes its own matching connections on its own thread; this
 * worker does its own directly, then waits for every answer. Connections
 * close as conn_close always does (uv_close, freed in on_close), so a
 * worker never touches another's connections.
 */
static unsigned long
env_kill_conns(void *ctx, cmd_conn_match_fn match, void *fnctx, const struct session *self,
               bool *self_matched)
{
    struct net *n = ctx;
    const struct conn *me = (const struct conn *)((const char *)self - offsetof(struct conn, sess));
    struct worker *w0 = me->w;
    struct kill_req own = {.match = match, .fnctx = fnctx, .self = self};
    struct kill_req *reqs = calloc(n->nworkers, sizeof(*reqs));
    bool *queued = calloc(n->nworkers, sizeof(*queued));
    for (unsigned i = 0; reqs != NULL && queued != NULL && i < n->nworkers; i++) {
        struct worker *w = &n->workers[i];
        if (w == w0) {
            continue;
        }
        reqs[i] = own;
        pthread_mutex_lock(&w->kill_lock);
        if (!w->kill_off) {
            reqs[i].next = w->kill_q;
            w->kill_q = &reqs[i];
            queued[i] = true;
        }
        pthread_mutex_unlock(&w->kill_lock);
        if (queued[i]) {
            uv_async_send(&w->kill_async);
        }
    }
    conn_kill(w0, &own);
    unsigned long killed = own.killed;
    for (unsigned i = 0; reqs != NULL && queued != NULL && i < n->nworkers; i++) {
        if (queued[i]) {
            kill_wait(w0, &n->workers[i], &reqs[i]);
            killed += reqs[i].killed;
        }
    }
    free(reqs);
    free(queued);
    *self_matched = own.self_matched;
    return killed;
}

static void
env_shutdown(void *ctx, bool graceful)
{
    struct net *n = ctx;
    if (n->cfg.shutdown != NULL) {
        n->cfg.shutdown(n->cfg.shutdown_ctx, graceful);
    }
}

/* What `stats` shows as memcached's "libevent": libuv and its version. */
static const char *
event_lib(void)
{
    static char name[48];
    if (name[0] == '\0') {
        snprintf(name, sizeof(name), "libuv-%s", uv_version_string());
    }
    return name;
}

int
net_create(struct net **np, const struct net_config *cfg)
{
    struct net *n = calloc(1, sizeof(*n));
    if (n == NULL) {
        return -ENOMEM;
    }
    n->cfg = *cfg;
    n->nworkers = (unsigned)cfg->opts->threads;
    n->env = (struct cmd_env){
        .store = cfg->store,
        .opts = cfg->opts,
        .auth = cfg->auth,
        .ctx = n,
        .sum_metrics = env_sum_metrics,
        .each_conn = env_each_conn,
        .kill_conns = env_kill_conns,
        .shutdown = env_shutdown,
        .threads = n->nworkers,
        .stats = cfg->stats,
        .event_lib = event_lib(),
    };
    int rc = tls_setup(n);
    if (rc != 0) {
        free(n);
        return rc;
    }
    n->workers = calloc(n->nworkers, sizeof(*n->workers));
    if (n->workers == NULL) {
        tls_server_destroy(&n->tls);
        free(n);
        return -ENOMEM;
    }
    unsigned inited = 0;
    for (; inited < n->nworkers; inited++) {
        rc = worker_init(&n->workers[inited], n, inited);
        if (rc != 0) {
            goto fail_workers;
        }
    }
    n->hot = calloc(n->nworkers, sizeof(*n->hot));
    if (n->hot == NULL) {
        rc = -ENOMEM;
        goto fail_workers;
    }
    for (unsigned i = 0; i < n->nworkers; i++) {
        n->hot[i] = n->workers[i].hot;
    }
    n->env.hotkeys = n->hot;
    n->env.nhotkeys = n->nworkers;
    n->cstats = calloc(n->nworkers, sizeof(*n->cstats));
    if (n->cstats == NULL) {
        rc = -ENOMEM;
        goto fail_workers;
    }
    for (unsigned i = 0; i < n->nworkers; i++) {
        n->cstats[i] = n->workers[i].cstats;
    }
    n->env.cmdstats = n->cstats;
    n->env.ncmdstats = n->nworkers;
    rc = listener_bind_all(n, n->workers, n->nworkers);
    if (rc != 0) {
        goto fail_workers;
    }
    if (cfg->opts->admin_port > 0) {
        rc = admin_create(&n->admin, n, cfg->opts->admin_listen, (int)cfg->opts->admin_port);
        if (rc != 0) {
            goto fail_workers;
        }
    }
    *np = n;
    return 0;

fail_workers:
    /* Handles were opened on loops that never ran: close and drain them. */
    for (unsigned i = 0; i < inited; i++) {
        struct worker *w = &n->workers[i];
        uv_async_send(&w->stop_async);
        uv_run(&w->loop, UV_RUN_DEFAULT);
        worker_fini(w);
    }
    free(n->hot);
    free(n->cstats);
    free(n->workers);
    tls_server_destroy(&n->tls);
    free(n);
    return rc < 0 ? rc : -rc;
}

int
net_start(struct net *n)
{
    if (n->started == 0 && n->nworkers > 0) {
        int rc = listener_listen_all(n->workers, n->nworkers);
        if (rc != 0) {
            return rc;
        }
    }
    for (; n->started < n->nworkers; n->started++) {
        int rc = worker_start(&n->workers[n->started]);
        if (rc != 0) {
            log_error("cannot start worker thread: %s", strerror(-rc));
            return rc;
        }
    }
    __atomic_store_n(&n->ready, true, __ATOMIC_RELAXED);
    return 0;
}

void
net_stop(struct net *n)
{
    __atomic_store_n(&n->ready, false, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < n->nworkers; i++) {
        worker_stop(&n->workers[i]);
    }
}

void
net_drain(struct net *n)
{
    __atomic_store_n(&n->ready, false, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < n->nworkers; i++) {
        worker_drain(&n->workers[i]);
    }
}

unsigned long
net_active_conns(struct net *n)
{
    return (unsigned long)__atomic_load_n(&n->conns, __ATOMIC_RELAXED);
}

void
net_destroy(struct net **np)
{
    struct net *n = *np;
    if (n == NULL) {
        return;
    }
    for (unsigned i = 0; i < n->started; i++) {
        worker_join(&n->workers[i]);
    }
    admin_destroy(&n->admin);
    for (unsigned i = n->started; i < n->nworkers; i++) {
        /* Never started: run the loop once to close its handles. */
        worker_stop(&n->workers[i]);
        uv_run(&n->workers[i].loop, UV_RUN_DEFAULT);
    }
    for (unsigned i = 0; i < n->nworkers; i++) {
        worker_fini(&n->workers[i]);
    }
    for (unsigned i = 0; i < n->naddrs; i++) {
        free(n->addrs[i]);
    }
    free(n->addrs);
    free(n->hot);
    free(n->cstats);
    free(n->workers);
    tls_server_destroy(&n->tls); /* after every connection's SSL is freed */
    free(n);
    *np = NULL;
}
