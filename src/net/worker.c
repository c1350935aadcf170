/*
 * worker: one thread running one libuv loop. Its handles:
 *   listeners     accept connections into this worker
 *   flush_check   after each poll, flush every connection with replies
 *   ready_idle    runs while connections that yielded (-R) have work left
 *   tick          once a second: the idle sweep, and conn_sweep (the TLS
 *                 handshake timeout, reply buffers of idle connections)
 *   stream_tick   every SESSION_STREAM_MS while a connection streams
 *                 (memcached's watch): hands it what the log has for it
 *   stop_async    net_stop(): close listeners and connections, then the
 *                 loop ends by itself when no handle is left
 *   drain_async   net_drain(): close listeners; connections close as soon
 *                 as they hold no partial request and no unsent reply
 *   kill_async    CLIENT KILL on another worker: close the matching
 *                 connections of this one (conn_kill_serve)
 */
#include <stdlib.h>

#include "net/net_internal.h"
#include "stashd/cmd/cmdstats.h"
#include "stashd/cmd/hotkeys.h"
#include "stashd/util/alloc.h"
#include "stashd/util/clock.h"
#include "stashd/util/log.h"
#include "stashd/util/options.h"

static void
on_flush_check(uv_check_t *h)
{
    conn_flush_dirty(h->data);
}

static void
on_tick(uv_timer_t *h)
{
    struct worker *w = h->data;
    const struct options *o = net_opts(w->net);
    if (o->idle_timeout > 0) {
        conn_sweep_idle(w, clock_now(), (uint32_t)o->idle_timeout);
    }
    conn_sweep(w, clock_now());
}

static void
on_stop(uv_async_t *h)
{
    struct worker *w = h->data;
    w->stopping = true;
    listener_close_all(w);
    conn_flush_dirty(w);
    conn_close_all(w);
    uv_close((uv_handle_t *)&w->flush_check, NULL);
    uv_close((uv_handle_t *)&w->ready_idle, NULL);
    uv_close((uv_handle_t *)&w->tick, NULL);
    uv_close((uv_handle_t *)&w->stream_tick, NULL);
    uv_close((uv_handle_t *)&w->stop_async, NULL);
    uv_close((uv_handle_t *)&w->drain_async, NULL);
    /* No request is queued after this; those already queued are served
     * now (their connections are closing anyway). */
    pthread_mutex_lock(&w->kill_lock);
    w->kill_off = true;
    pthread_mutex_unlock(&w->kill_lock);
    conn_kill_serve(w);
    uv_close((uv_handle_t *)&w->kill_async, NULL);
}

static void
on_kill(uv_async_t *h)
{
    conn_kill_serve(h->data);
}

static void
on_drain(uv_async_t *h)
{
    struct worker *w = h->data;
    if (w->stopping || w->draining) {
        return;
    }
    w->draining = true;
    listener_close_all(w);
    conn_drain_all(w);
}

int
worker_init(struct worker *w, struct net *n, unsigned index)
{
    w->net = n;
    w->index = index;
    int rc = uv_loop_init(&w->loop);
    if (rc != 0) {
        return rc;
    }
    pthread_mutex_init(&w->conns_lock, NULL);
    pthread_mutex_init(&w->kill_lock, NULL);
    pthread_cond_init(&w->kill_cond, NULL);
    const struct options *o = net_opts(n);
    uint64_t share = NET_CONN_BUDGET / (uint64_t)(o->threads > 0 ? o->threads : 1);
    uint64_t worst = NET_CONN_WORST(o->max_item_size);
    w->conn_budget = share > worst ? share : worst;
    w->rpool_cap = NET_RPOOL_MAX;
    w->rpool = calloc(w->rpool_cap, sizeof(char *));
    if (w->rpool == NULL || hotkeys_create(&w->hot) != 0 || cmdstats_create(&w->cstats) != 0) {
        return UV_ENOMEM;
    }
    uv_check_init(&w->loop, &w->flush_check);
    w->flush_check.data = w;
    uv_check_start(&w->flush_check, on_flush_check);
    uv_idle_init(&w->loop, &w->ready_idle);
    w->ready_idle.data = w;
    uv_timer_init(&w->loop, &w->tick);
    w->tick.data = w;
    uv_timer_start(&w->tick, on_tick, 1000, 1000);
    uv_timer_init(&w->loop, &w->stream_tick); /* started by the first stream */
    w->stream_tick.data = w;
    uv_async_init(&w->loop, &w->stop_async, on_stop);
    w->stop_async.data = w;
    uv_async_init(&w->loop, &w->drain_async, on_drain);
    w->drain_async.data = w;
    uv_async_init(&w->loop, &w->kill_async, on_kill);
    w->kill_async.data = w;
    return 0;
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    int arc = alloc_thread_group(w->index / NET_WORKERS_PER_ARENA);
    if (arc != 0) {
        log_warn("worker %u: no allocator arena of its own (%d); it shares the first", w->index,
                 arc);
    }
    if (listener_start(w) != 0) {
        log_error("worker %u could not listen", w->index);
    }
    uv_run(&w->loop, UV_RUN_DEFAULT);
    return NULL;
}

int
worker_start(struct worker *w)
{
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    return rc == 0 ? 0 : -rc;
}

void
worker_stop(struct worker *w)
{
    uv_async_send(&w->stop_async);
}

void
worker_drain(struct worker *w)
{
    uv_async_send(&w->drain_async);
}

void
worker_join(struct worker *w)
{
    pthread_join(w->thread, NULL);
}

void
worker_fini(struct worker *w)
{
    uv_loop_close(&w->loop);
    for (unsigned i = 0; i < w->rpool_n; i++) {
        free(w->rpool[i]);
        METRIC_ADD(&w->metrics, conn_buffer_bytes, (uint64_t)0 - NET_RBUF_SIZE);
    }
    free(w->rpool);
    while (w->opool_n > 0) {
        struct net_obuf *ob = &w->opool[--w->opool_n];
        free(ob->data);
        METRIC_ADD(&w->metrics, conn_buffer_bytes, (uint64_t)0 - ob->cap);
    }
    free(w->tls_scratch);
    hotkeys_destroy(&w->hot);
    cmdstats_destroy(&w->cstats);
    pthread_cond_destroy(&w->kill_cond);
    pthread_mutex_destroy(&w->kill_lock);
    pthread_mutex_destroy(&w->conns_lock);
}
