/*
 * net: the worker threads, their libuv loops, listeners and connections.
 *
 * Each worker is one thread with its own uv_loop_t, its own SO_REUSEPORT
 * listening socket per TCP address (and its own handle on the shared UNIX
 * socket), its own connections and its own metrics. A connection lives and
 * dies on the worker that accepted it. net/ hands bytes to cmd/session and
 * writes back what the session appended; it never looks inside a protocol.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stashd/cmd/session.h"

struct auth;
struct net;
struct options;
struct stats;
struct store;

/*
 * Connection buffer budget, all workers together; each worker gets its
 * share, but at least what one client reading maximal values slowly may
 * hold: two reply buffers, each up to SESSION_OUT_HIGH plus one item,
 * doubled by buffer growth (NET_CONN_WORST). server/'s -m auto leaves this
 * much of the cgroup limit to connections; README "Memory" documents it.
 */
#define NET_CONN_BUDGET ((uint64_t)64 << 20)
#define NET_CONN_WORST(max_item_size) (4 * ((uint64_t)(max_item_size) + SESSION_OUT_HIGH))

struct net_config {
    const struct options *opts;
    struct store *store;
    struct auth *auth;   /* credentials every listener requires (may be NULL) */
    struct stats *stats; /* reporting state (stashd/cmd/stats.h; may be NULL) */
    /* The shutdown command (memcached -A): called on a worker thread. */
    void (*shutdown)(void *ctx, bool graceful);
    void *shutdown_ctx;
};

/* Create the workers and bind every listener (so bind errors surface before
 * privileges are dropped). 0 or -errno with a message logged. */
int net_create(struct net **np, const struct net_config *cfg);
/* Start the worker threads. */
int net_start(struct net *n);
/* Stop accepting and close every connection; the worker threads exit.
 * Safe from any thread; returns at once. */
void net_stop(struct net *n);
/* Drain: stop accepting; each connection is closed once it has no partial
 * request left and its replies are written. Safe from any thread. */
void net_drain(struct net *n);
/* Reload the TLS certificate, key and CA files (SIGHUP; refresh_certs):
 * new connections get them, open ones keep theirs. 0, -ENOTSUP without
 * TLS, or -EINVAL with the reason in err. Safe from any thread. */
int net_refresh_certs(struct net *n, char *err, size_t errlen);
/* Open client connections across all workers. */
unsigned long net_active_conns(struct net *n);
/* Wait for the worker threads to exit, then free everything. */
void net_destroy(struct net **np);
