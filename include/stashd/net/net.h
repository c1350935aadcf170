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

struct auth;
struct net;
struct options;
struct store;

struct net_config {
    const struct options *opts;
    struct store *store;
    struct auth *auth; /* credentials every listener requires (may be NULL) */
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
/* Open client connections across all workers. */
unsigned long net_active_conns(struct net *n);
/* Wait for the worker threads to exit, then free everything. */
void net_destroy(struct net **np);
