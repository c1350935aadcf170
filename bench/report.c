/*
 * The report of a run, as text and as JSON. Latencies are held in ns by the
 * histograms and printed in µs; rates are per second of the measured window
 * (a window of 0 s, as in a preload-only run, divides by 1 so that the
 * rates are 0, not NaN). The JSON is written by hand, in a fixed key order,
 * with the one user-given string (the host) escaped.
 */
#include "report.h"

#include <errno.h>
#include <string.h>

static double
us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

static uint64_t
total_ops(const struct report *rp)
{
    return rp->st.ops[PROTO_OP_SET] + rp->st.ops[PROTO_OP_GET];
}

/* Seconds to divide counts by. */
static double
rate_base(const struct report *rp)
{
    return rp->duration_s > 0 ? rp->duration_s : 1;
}

static double
hit_ratio(const struct engine_stats *st)
{
    uint64_t lookups = st->hits + st->misses;
    return lookups ? (double)st->hits / (double)lookups : 0.0;
}

void
report_init(struct report *rp, const struct engine_stats *st)
{
    memset(rp, 0, sizeof(*rp));
    rp->st = *st;
    hist_init(&rp->all);
    hist_merge(&rp->all, &st->lat[PROTO_OP_SET]);
    hist_merge(&rp->all, &st->lat[PROTO_OP_GET]);
    rp->cpu_s = rp->cpu_user_s = rp->cpu_sys_s = -1;
    rp->switches = -1;
    rp->rss_kb = -1;
}

/* ---- text ---- */

static void
text_lat_row(FILE *f, const char *name, double ops_s, const char *hits, const char *misses,
             const struct hist *h)
{
    fprintf(f, "%-8s %12.2f %12s %12s %9.1f %9.1f %9.1f %9.1f %9.1f\n", name, ops_s, hits, misses,
            us(hist_percentile(h, 50)), us(hist_percentile(h, 90)), us(hist_percentile(h, 99)),
            us(hist_percentile(h, 99.9)), us(h->max));
}

/* The lines that say what was run. */
static void
text_header(FILE *f, const struct options *o, const struct report *rp)
{
    fprintf(f, "stashd-bench %s:%s %s%s: %u thread%s x %u conns, pipeline %u, set:get %u:%u",
            o->host, o->port, proto_name(o->proto), o->tls ? " over TLS" : "", o->threads,
            o->threads == 1 ? "" : "s", o->conns, o->pipeline, o->ratio_set, o->ratio_get);
    if (o->proto == PROTO_RESP_MULTI) {
        fprintf(f, ", MULTI/EXEC of %u commands (1 op = 1 transaction)", o->multiget);
    } else if (o->multiget > 1) {
        fprintf(f, ", multiget %u", o->multiget);
    }
    if (o->rate > 0) {
        fprintf(f, ", at most %.0f requests/s", o->rate);
    }
    fprintf(f, ", %llu keys %s", (unsigned long long)o->keys, options_dist_name(o->dist));
    if (o->dist == KEYSPACE_ZIPF) {
        fprintf(f, " %.2f", o->zipf_s);
    }
    if (o->vmin == o->vmax) {
        fprintf(f, ", values %zu B\n", o->vmin);
    } else {
        fprintf(f, ", values %zu-%zu B%s\n", o->vmin, o->vmax, o->vlog ? " log-uniform" : "");
    }
    if (o->preload) {
        fprintf(f, "preload: %llu sets in %.2f s (%.0f/s)\n",
                (unsigned long long)rp->st.preload_ops, rp->preload_s,
                rp->preload_s > 0 ? (double)rp->st.preload_ops / rp->preload_s : 0.0);
    }
    fprintf(f, "measured %.2f s after %.2f s of warm-up\n\n", rp->duration_s, o->warmup_s);
}

static void
text_table(FILE *f, const struct report *rp)
{
    const struct engine_stats *st = &rp->st;
    double d = rate_base(rp);
    char hits[32], misses[32];
    fprintf(f, "%-8s %12s %12s %12s %9s %9s %9s %9s %9s\n", "Type", "Ops/sec", "Hits/sec",
            "Misses/sec", "p50 us", "p90 us", "p99 us", "p99.9 us", "max us");
    text_lat_row(f, "Sets", (double)st->ops[PROTO_OP_SET] / d, "---", "---",
                 &st->lat[PROTO_OP_SET]);
    snprintf(hits, sizeof(hits), "%.2f", (double)st->hits / d);
    snprintf(misses, sizeof(misses), "%.2f", (double)st->misses / d);
    text_lat_row(f, "Gets", (double)st->ops[PROTO_OP_GET] / d, hits, misses,
                 &st->lat[PROTO_OP_GET]);
    text_lat_row(f, "Totals", (double)total_ops(rp) / d, hits, misses, &rp->all);
}

/* Requests per wake-up. A server kept busy for the whole window never
 * sleeps and switches 0 times: that window counts as one wake-up, so the
 * figure is then a lower bound (the text report marks it ">="). */
static double
ops_per_wake(uint64_t total, long long switches)
{
    return (double)total / (double)(switches > 0 ? switches : 1);
}

static void
text_server(FILE *f, const struct options *o, const struct report *rp)
{
    uint64_t total = total_ops(rp);
    fprintf(f, "server pid %ld: ", o->server_pid);
    if (rp->cpu_s >= 0) {
        double per = total ? 1e6 / (double)total : 0.0;
        fprintf(f, "cpu %.3f s, %.3f us/request (user %.3f, sys %.3f)", rp->cpu_s, rp->cpu_s * per,
                rp->cpu_user_s * per, rp->cpu_sys_s * per);
        if (rp->switches >= 0 && total) {
            fprintf(f, ", %s%.1f requests/wake-up", rp->switches == 0 ? ">= " : "",
                    ops_per_wake(total, rp->switches));
        }
    } else {
        fprintf(f, "cpu unknown");
    }
    fprintf(f, ", rss %ld KiB\n", rp->rss_kb);
}

void
report_text(FILE *f, const struct options *o, const struct report *rp)
{
    const struct engine_stats *st = &rp->st;
    text_header(f, o, rp);
    text_table(f, rp);
    fprintf(f, "\nrequests %llu, hits %llu, misses %llu (hit ratio %.2f%%), errors %llu",
            (unsigned long long)total_ops(rp), (unsigned long long)st->hits,
            (unsigned long long)st->misses, 100.0 * hit_ratio(st), (unsigned long long)st->errors);
    if (st->errors) {
        fprintf(f, " (desyncs %llu, timeouts %llu, connections lost %llu%s)",
                (unsigned long long)st->desyncs, (unsigned long long)st->timeouts,
                (unsigned long long)st->closed, st->cut ? ", cut short by --max-time" : "");
    }
    if (st->refused) {
        fprintf(f, ", sets refused for memory %llu", (unsigned long long)st->refused);
    }
    fprintf(f, "\n");
    if (o->server_pid) {
        text_server(f, o, rp);
    }
}

/* ---- JSON ---- */

static void
json_lat(FILE *f, const char *name, const struct hist *h, bool last)
{
    fprintf(f,
            "    \"%s\": {\"count\": %llu, \"mean\": %.3f, \"p50\": %.3f, \"p90\": %.3f, "
            "\"p99\": %.3f, \"p99.9\": %.3f, \"max\": %.3f}%s\n",
            name, (unsigned long long)h->count, hist_mean(h) / 1000.0, us(hist_percentile(h, 50)),
            us(hist_percentile(h, 90)), us(hist_percentile(h, 99)), us(hist_percentile(h, 99.9)),
            us(h->max), last ? "" : ",");
}

static void
json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            fputc('\\', f);
        }
        if ((unsigned char)*s < 0x20) {
            fprintf(f, "\\u%04x", (unsigned char)*s);
            continue;
        }
        fputc(*s, f);
    }
    fputc('"', f);
}

/* The run's configuration. */
static void
json_config(FILE *f, const struct options *o)
{
    fprintf(f, "{\n  \"server\": ");
    json_str(f, o->host);
    fprintf(f, ",\n  \"port\": %s,\n  \"protocol\": \"%s\",\n  \"tls\": %s,\n", o->port,
            proto_name(o->proto), o->tls ? "true" : "false");
    fprintf(f,
            "  \"threads\": %u,\n  \"conns_per_thread\": %u,\n  \"pipeline\": %u,\n"
            "  \"ratio\": \"%u:%u\",\n  \"multiget\": %u,\n  \"set_on_miss\": %s,\n"
            "  \"keys\": %llu,\n  \"key_size\": %zu,\n  \"key_size_max\": %zu,\n  \"dist\": "
            "\"%s\",\n  \"zipf_s\": %g,\n"
            "  \"value_min\": %zu,\n  \"value_max\": %zu,\n  \"value_dist\": \"%s\",\n"
            "  \"warmup_s\": %g,\n"
            "  \"rate\": %g,\n",
            o->threads, o->conns, o->pipeline, o->ratio_set, o->ratio_get, o->multiget,
            o->set_on_miss ? "true" : "false", (unsigned long long)o->keys, o->key_size,
            o->key_size_max, options_dist_name(o->dist), o->zipf_s, o->vmin, o->vmax,
            o->vlog ? "log" : "uniform", o->warmup_s, o->rate);
}

/* Counts and rates of the measured window. */
static void
json_counts(FILE *f, const struct report *rp)
{
    const struct engine_stats *st = &rp->st;
    uint64_t total = total_ops(rp);
    double d = rate_base(rp);
    fprintf(f, "  \"preload\": {\"ops\": %llu, \"seconds\": %.3f},\n",
            (unsigned long long)st->preload_ops, rp->preload_s);
    fprintf(f,
            "  \"duration_s\": %.3f,\n  \"ops\": %llu,\n  \"ops_per_sec\": %.2f,\n"
            "  \"sets\": %llu,\n  \"sets_per_sec\": %.2f,\n  \"gets\": %llu,\n"
            "  \"gets_per_sec\": %.2f,\n  \"hits\": %llu,\n  \"misses\": %llu,\n"
            "  \"hit_ratio\": %.6f,\n  \"errors\": %llu,\n  \"refused\": %llu,\n"
            "  \"desyncs\": %llu,\n"
            "  \"timeouts\": %llu,\n  \"connections_lost\": %llu,\n  \"max_time_cut\": %s,\n",
            rp->duration_s, (unsigned long long)total, (double)total / d,
            (unsigned long long)st->ops[PROTO_OP_SET], (double)st->ops[PROTO_OP_SET] / d,
            (unsigned long long)st->ops[PROTO_OP_GET], (double)st->ops[PROTO_OP_GET] / d,
            (unsigned long long)st->hits, (unsigned long long)st->misses, hit_ratio(st),
            (unsigned long long)st->errors, (unsigned long long)st->refused,
            (unsigned long long)st->desyncs, (unsigned long long)st->timeouts,
            (unsigned long long)st->closed, st->cut ? "true" : "false");
    fprintf(f, "  \"latency_us\": {\n");
    json_lat(f, "all", &rp->all, false);
    json_lat(f, "set", &st->lat[PROTO_OP_SET], false);
    json_lat(f, "get", &st->lat[PROTO_OP_GET], true);
    fprintf(f, "  },\n");
}

static void
json_server(FILE *f, const struct options *o, const struct report *rp)
{
    uint64_t total = total_ops(rp);
    if (o->server_pid && rp->cpu_s >= 0) {
        fprintf(f,
                "  \"server_pid\": %ld,\n  \"server_cpu_s\": %.3f,\n"
                "  \"server_cpu_user_s\": %.3f,\n  \"server_cpu_sys_s\": %.3f,\n",
                o->server_pid, rp->cpu_s, rp->cpu_user_s, rp->cpu_sys_s);
        if (total) {
            double per = 1e6 / (double)total;
            fprintf(f,
                    "  \"server_cpu_us_per_op\": %.4f,\n"
                    "  \"server_cpu_user_us_per_op\": %.4f,\n"
                    "  \"server_cpu_sys_us_per_op\": %.4f,\n",
                    rp->cpu_s * per, rp->cpu_user_s * per, rp->cpu_sys_s * per);
            if (rp->switches >= 0) {
                fprintf(f, "  \"server_ops_per_switch\": %.2f,\n",
                        ops_per_wake(total, rp->switches));
            } else {
                fprintf(f, "  \"server_ops_per_switch\": null,\n");
            }
        } else {
            fprintf(f, "  \"server_cpu_us_per_op\": null,\n"
                       "  \"server_cpu_user_us_per_op\": null,\n"
                       "  \"server_cpu_sys_us_per_op\": null,\n"
                       "  \"server_ops_per_switch\": null,\n");
        }
    } else {
        fprintf(f,
                "  \"server_pid\": %ld,\n  \"server_cpu_s\": null,\n"
                "  \"server_cpu_user_s\": null,\n  \"server_cpu_sys_s\": null,\n"
                "  \"server_cpu_us_per_op\": null,\n"
                "  \"server_cpu_user_us_per_op\": null,\n"
                "  \"server_cpu_sys_us_per_op\": null,\n"
                "  \"server_ops_per_switch\": null,\n",
                o->server_pid);
    }
    if (o->server_pid && rp->rss_kb >= 0) {
        fprintf(f, "  \"server_rss_kb\": %ld\n}\n", rp->rss_kb);
    } else {
        fprintf(f, "  \"server_rss_kb\": null\n}\n");
    }
}

void
report_json(FILE *f, const struct options *o, const struct report *rp)
{
    json_config(f, o);
    json_counts(f, rp);
    json_server(f, o, rp);
}

int
report_write(const struct options *o, const struct report *rp)
{
    bool json_stdout = o->json && strcmp(o->json, "-") == 0;
    if (!o->quiet) {
        report_text(json_stdout ? stderr : stdout, o, rp);
    }
    if (o->json == NULL) {
        return 0;
    }
    FILE *f = json_stdout ? stdout : fopen(o->json, "w");
    if (f == NULL) {
        fprintf(stderr, "stashd-bench: %s: %s\n", o->json, strerror(errno));
        return -1;
    }
    report_json(f, o, rp);
    if (!json_stdout) {
        fclose(f);
    }
    return 0;
}
