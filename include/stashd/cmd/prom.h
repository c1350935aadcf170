/*
 * prom: stashd's figures in the Prometheus text exposition format (0.0.4),
 * for the admin listener's /metrics. Names follow memcached_exporter where
 * it has the metric (memcached_commands_total{command,status},
 * memcached_current_bytes, ...), so existing dashboards and alerts work;
 * what no exporter has is named stashd_*. The series are declared with
 * every other figure in STASHD_STATS (util/metrics.h).
 *
 * Counters are read raw: `stats reset` and CONFIG RESETSTAT, which rebase
 * `stats` and INFO, leave this page alone, so its counters only ever go
 * up (a drop would read to rate() as a restart).
 */
#pragma once

struct buf;
struct cmd_env;

/* What only net/ knows, measured when the scrape happens. */
struct prom_net_figures {
    unsigned long long ready; /* 1 when serving, 0 while starting or draining */
};

/* Append the whole exposition to out; 0 or -ENOMEM. Any thread. */
int prom_render(const struct cmd_env *env, const struct prom_net_figures *nf, struct buf *out);
