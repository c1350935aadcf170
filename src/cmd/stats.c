/*
 * stats: the per-server reporting object (see stashd/cmd/stats.h and
 * cmd/stats_state.h): creation, and the wanted word.
 */
#include "stashd/cmd/stats.h"

#include <errno.h>
#include <stdlib.h>

#include "cmd/stats_detail.h"
#include "cmd/stats_state.h"
#include "cmd/watch.h"
#include "stashd/store/store.h"
#include "stashd/util/clock.h"

int
stats_create(struct stats **sp)
{
    struct stats *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        return -ENOMEM;
    }
    pthread_mutex_init(&st->base_lock, NULL);
    st->crawler_enabled = true; /* memcached starts its crawler */
    st->crawler_tocrawl = 0;
    st->crawler_sleep = 100; /* memcached's default, in microseconds */
    int rc = watch_create(&st->watch, st);
    if (rc == 0) {
        rc = stats_detail_create(&st->detail);
    }
    if (rc != 0) {
        stats_destroy(&st);
        return rc;
    }
    *sp = st;
    return 0;
}

void
stats_destroy(struct stats **sp)
{
    struct stats *st = *sp;
    if (st == NULL) {
        return;
    }
    watch_destroy(&st->watch);
    stats_detail_destroy(&st->detail);
    pthread_mutex_destroy(&st->base_lock);
    free(st);
    *sp = NULL;
}

void
stats_want(struct stats *st, unsigned set, unsigned clear)
{
    uint32_t old = __atomic_load_n(&st->head.wanted, __ATOMIC_RELAXED);
    uint32_t next;
    do {
        next = (old & ~clear) | set;
    } while (!__atomic_compare_exchange_n(&st->head.wanted, &old, next, true, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
}

size_t
stats_uri_encode(const char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '.' || c == '~' || c == '_' || c == '-') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    return o;
}

void
stats_log_conn(struct stats *st, bool open, const struct sockaddr *peer, unsigned id,
               enum stats_close_reason why)
{
    if (st != NULL && (stats_wanted(st) & STATS_WANT_CONNEVENTS)) {
        watch_log_conn(st->watch, open, peer, id, (int)why);
    }
}

void
stats_log_evict(void *ctx, const struct store_evict_info *e)
{
    struct stats *st = ctx;
    if (!(stats_wanted(st) & STATS_WANT_EVICTIONS)) {
        return;
    }
    uint32_t now = clock_now();
    int64_t ttl = e->exptime == 0 ? -1 : (int64_t)e->exptime - (int64_t)now;
    uint32_t idle = now > e->atime ? now - e->atime : 0;
    watch_log_evict(st->watch, e->key, e->nkey, e->fetched, ttl, idle, e->cls, e->nbytes);
}
