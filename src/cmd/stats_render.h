/*
 * stats_render: memcached's `stats`, Redis's INFO and the Prometheus page,
 * each generated from the one table of figures (STASHD_STATS in
 * util/metrics.h), and the `stats reset` baseline they share (private to
 * cmd/).
 *
 * What a reset does, output by output:
 *   `stats`     counters read as if zeroed at the reset (memcached's
 *               `stats reset`); gauges (curr_items, curr_connections) and
 *               clocks (uptime, rusage_*) are state and stay;
 *   INFO        the same counters under Redis's names read the same way,
 *               and CONFIG RESETSTAT takes the same baseline as `stats
 *               reset`: one server, one set of counters, one reset;
 *   /metrics    never: Prometheus counters must only go up (rate() and
 *               increase() treat a drop as a process restart), so the page
 *               shows the counters from the start of the process.
 * `stats items` rebases the per-class counters the same way; `stats
 * detail` forgets every prefix, as memcached's reset does.
 *
 * Nothing here is on the request path: printf and getrusage are fine.
 */
#pragma once

#include <stdbool.h>

#include "cmd/mc_stats.h"

struct buf;
struct cmd_env;
struct session;
struct stats_class_base;

/* INFO's sections, in Redis's order. */
enum stats_info_section {
    STATS_INFO_SERVER,
    STATS_INFO_CLIENTS,
    STATS_INFO_MEMORY,
    STATS_INFO_PERSISTENCE,
    STATS_INFO_STATS,
    STATS_INFO_REPLICATION,
    STATS_INFO_CPU,
    STATS_INFO_MODULES,
    STATS_INFO_CLUSTER,
    STATS_INFO_KEYSPACE,
    STATS_INFO_SECTIONS
};

/* memcached's general `stats` group, as pairs, in memcached's order. */
void stats_render_mc(const struct session *s, mc_stats_emit_fn emit, void *ctx);

/* One INFO section, "# Server\r\n" and its "name:value\r\n" lines;
 * redis_version is the version INFO names. 0 or -ENOMEM. */
int stats_render_info(const struct session *s, enum stats_info_section sec,
                      const char *redis_version, struct buf *b);

/* The table's Prometheus series (text format 0.0.4), raw counters;
 * ready is /readyz's answer. 0 or -ENOMEM. */
int stats_render_prom(const struct cmd_env *env, bool ready, struct buf *b);

/* `stats reset` and CONFIG RESETSTAT: take the baseline now. */
void stats_reset(const struct session *s);

/* The baseline of slab class id (numbered as `stats items`); false when
 * there is none (no reset yet, no stats object, or id out of range). */
bool stats_class_base(const struct cmd_env *env, unsigned id, struct stats_class_base *b);
