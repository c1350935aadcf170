/*
 * prom: stashd's figures in the Prometheus text exposition format (0.0.4),
 * for the admin listener's /metrics. Names follow memcached_exporter where
 * it has the metric (memcached_commands_total{command,status},
 * memcached_current_bytes, ...), so existing dashboards and alerts work;
 * what no exporter has is named stashd_*. Counters are read raw (never
 * adjusted by `stats reset`), so they only ever go up.
 */
#pragma once

struct buf;
struct cmd_env;

/* Extra gauges only net/ knows, measured when the scrape happens. */
struct prom_net_figures {
    unsigned long long conn_buffer_bytes; /* read and reply buffers held by connections */
    unsigned long long ready;             /* 1 when serving, 0 while starting or draining */
};

/* Append the whole exposition to out; 0 or -ENOMEM. Any thread. */
int prom_render(const struct cmd_env *env, const struct prom_net_figures *nf, struct buf *out);
