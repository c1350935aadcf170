/*
 * stats: one server's reporting state, created once at start-up (server/)
 * and reached through cmd_env.stats by every request, net/'s connection
 * events and the store's eviction hook:
 *
 *   - the baseline of `stats reset` (and of Redis's CONFIG RESETSTAT, the
 *     same counters under INFO's names): one per server, so two servers
 *     in one process (tests) never see each other's;
 *   - the watch log: memcached's `watch` streams fetches, mutations,
 *     evictions and connection events to the connections that asked;
 *   - `stats detail`: per-key-prefix counts of gets, hits, sets, deletes;
 *   - the LRU crawler's settings and counts (`lru_crawler`).
 *
 * The request path pays for none of it unless someone asked: it reads one
 * word, stats_wanted(), with one relaxed load, and calls the cold functions
 * below only when a bit it cares about is set. Everything else is guarded
 * inside (see src/cmd/stats_state.h for which lock guards what).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;
struct stats;
struct store_evict_info;

/* Bits of stats_wanted(): memcached's watch event classes, and detail. */
enum {
    STATS_WANT_RAWCMDS = 1u << 0, /* accepted; memcached 1.6.18 logs none */
    STATS_WANT_EVICTIONS = 1u << 1,
    STATS_WANT_FETCHERS = 1u << 2,
    STATS_WANT_MUTATIONS = 1u << 3,
    STATS_WANT_SYSEVENTS = 1u << 4, /* accepted; stashd logs none */
    STATS_WANT_CONNEVENTS = 1u << 5,
    STATS_WANT_PROXY = 1u << 6, /* proxyreqs, proxyevents, proxyuser: none */
    STATS_WANT_WATCH = (1u << 7) - 1,
    STATS_WANT_DETAIL = 1u << 8, /* `stats detail on` */
};

/* The first member of struct stats: readable by anyone, written by the
 * stats module only (relaxed atomics). */
struct stats_head {
    uint32_t wanted; /* STATS_WANT_* */
};

/* 0 or -ENOMEM. */
int stats_create(struct stats **sp);
/* After every thread that might log has stopped. */
void stats_destroy(struct stats **sp);

/* What is being asked for right now; 0 when st is NULL (tests that set
 * up no stats object). One relaxed load: the request path's only cost. */
static inline unsigned
stats_wanted(const struct stats *st)
{
    return st != NULL ? __atomic_load_n(&((const struct stats_head *)(const void *)st)->wanted,
                                        __ATOMIC_RELAXED)
                      : 0;
}

/* memcached's close reasons, as `watch connevents` names them. */
enum stats_close_reason {
    STATS_CLOSE_ERROR,
    STATS_CLOSE_NORMAL,
    STATS_CLOSE_IDLE_TIMEOUT,
    STATS_CLOSE_SHUTDOWN,
};

/*
 * A connection opened or closed (net/, on the connection's worker; call
 * only when stats_wanted() has STATS_WANT_CONNEVENTS). peer is the
 * client's address (NULL for a unix socket); id is the connection's
 * number, shown as cfd (memcached shows its socket descriptor).
 */
void stats_log_conn(struct stats *st, bool open, const struct sockaddr *peer, unsigned id,
                    enum stats_close_reason why);

/* The store's eviction hook (store_config.on_evict, ctx = the stats
 * object): logs the eviction when someone watches evictions. Called
 * with a shard lock held: it copies a few fields and returns. */
void stats_log_evict(void *st, const struct store_evict_info *e);
