/*
 * metrics: per-worker counters, declared once in STASHD_WORKER_METRICS.
 * Each worker owns one struct metrics and is its only writer, so
 * increments are plain (relaxed atomic stores, no read-modify-write, no
 * lock); readers (stats, /metrics) sum all workers with relaxed loads.
 * Names are memcached's `stats` names where memcached has the counter.
 */
#pragma once

#include <stdint.h>

/* X(name, kind, help); kind is COUNTER or GAUGE. */
#define STASHD_WORKER_METRICS(X)                                                                   \
    X(curr_connections, GAUGE, "open client connections")                                          \
    X(total_connections, COUNTER, "connections accepted")                                          \
    X(rejected_connections, COUNTER, "connections refused over the limit")                         \
    X(cmd_get, COUNTER, "keys requested by retrieval commands")                                    \
    X(cmd_set, COUNTER, "storage commands")                                                        \
    X(cmd_flush, COUNTER, "flush_all commands")                                                    \
    X(cmd_touch, COUNTER, "touch and gat commands")                                                \
    X(cmd_meta, COUNTER, "meta commands")                                                          \
    X(get_hits, COUNTER, "keys found")                                                             \
    X(get_misses, COUNTER, "keys not found")                                                       \
    X(get_expired, COUNTER, "keys found expired")                                                  \
    X(get_flushed, COUNTER, "keys found invalidated by flush_all")                                 \
    X(delete_misses, COUNTER, "deletes of missing keys")                                           \
    X(delete_hits, COUNTER, "deletes of present keys")                                             \
    X(incr_misses, COUNTER, "incr of missing keys")                                                \
    X(incr_hits, COUNTER, "incr of present keys")                                                  \
    X(decr_misses, COUNTER, "decr of missing keys")                                                \
    X(decr_hits, COUNTER, "decr of present keys")                                                  \
    X(cas_misses, COUNTER, "cas of missing keys")                                                  \
    X(cas_hits, COUNTER, "successful cas")                                                         \
    X(cas_badval, COUNTER, "cas with a stale unique id")                                           \
    X(touch_hits, COUNTER, "touches of present keys")                                              \
    X(touch_misses, COUNTER, "touches of missing keys")                                            \
    X(store_too_large, COUNTER, "stores refused: item too large")                                  \
    X(store_no_memory, COUNTER, "stores refused: out of memory")                                   \
    X(auth_cmds, COUNTER, "authentication attempts")                                               \
    X(auth_errors, COUNTER, "failed authentications")                                              \
    X(bytes_read, COUNTER, "bytes read from clients")                                              \
    X(bytes_written, COUNTER, "bytes written to clients")                                          \
    X(conn_yields, COUNTER, "times a connection yielded to others (-R)")                           \
    X(protocol_errors, COUNTER, "malformed requests answered with an error")                       \
    X(conns_closed_output, COUNTER, "connections closed for unread output")                        \
    X(conns_idle_closed, COUNTER, "connections closed by idle timeout")                            \
    X(ssl_handshake_errors, COUNTER, "TLS handshakes failed or timed out")                         \
    X(ssl_new_sessions, COUNTER, "TLS sessions added to the server-side session cache")            \
    X(conn_buffer_bytes, GAUGE, "read and reply buffer memory held by connections")

#define METRICS_FIELD(name, kind, help) uint64_t name;
struct metrics {
    STASHD_WORKER_METRICS(METRICS_FIELD)
};
#undef METRICS_FIELD

/* Single-writer update: the owning worker only. */
#define METRIC_ADD(m, f, n)                                                                        \
    __atomic_store_n(&(m)->f, __atomic_load_n(&(m)->f, __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)
#define METRIC_INC(m, f) METRIC_ADD(m, f, 1)
#define METRIC_DEC(m, f) METRIC_ADD(m, f, (uint64_t)-1)

/* sum += m, field by field, with relaxed loads (any thread). */
void metrics_accumulate(struct metrics *sum, const struct metrics *m);

/* Iterate the table: name, kind ("counter"/"gauge"), help, value. */
typedef void (*metrics_emit_fn)(void *ctx, const char *name, const char *kind, const char *help,
                                uint64_t value);
void metrics_each(const struct metrics *m, metrics_emit_fn emit, void *ctx);
