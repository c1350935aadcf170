/*
 * prom: Prometheus text rendering (see cmd/prom.h). One declarative table
 * maps each exported series to its source (a worker metric or a store
 * figure), so a new series is one row. Scrapes are rare: printf is fine.
 */
#include "stashd/cmd/prom.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cmd/mc_stats.h"
#include "cmd/mem_report.h"
#include "stashd/cmd/hotkeys.h"
#include "stashd/cmd/session.h"
#include "stashd/store/store.h"
#include "stashd/util/buf.h"
#include "stashd/util/clock.h"
#include "stashd/util/metrics.h"
#include "stashd/util/options.h"

enum prom_src { FROM_METRIC, FROM_STORE };

struct prom_row {
    const char *name; /* series name */
    const char *type; /* counter | gauge */
    const char *help;
    const char *labels; /* "" or e.g. command="get",status="hit" */
    enum prom_src src;
    size_t off; /* offset of a uint64_t in struct metrics / store_stats */
};

#define M(f) FROM_METRIC, offsetof(struct metrics, f)
#define S(f) FROM_STORE, offsetof(struct store_stats, f)
#define CMD "memcached_commands_total"
#define CMD_HELP "Commands processed, by command and outcome."

/* Rows of one name must be adjacent (HELP/TYPE are written once per name). */
static const struct prom_row rows[] = {
    {"memcached_current_connections", "gauge", "Open client connections.", "", M(curr_connections)},
    {"memcached_connections_total", "counter", "Connections accepted.", "", M(total_connections)},
    {"memcached_connections_rejected_total", "counter",
     "Connections refused over the connection limit.", "", M(rejected_connections)},
    {"memcached_read_bytes_total", "counter", "Bytes read from clients.", "", M(bytes_read)},
    {"memcached_written_bytes_total", "counter", "Bytes written to clients.", "", M(bytes_written)},
    {CMD, "counter", CMD_HELP, "command=\"get\",status=\"hit\"", M(get_hits)},
    {CMD, "counter", CMD_HELP, "command=\"get\",status=\"miss\"", M(get_misses)},
    {CMD, "counter", CMD_HELP, "command=\"get\",status=\"expired\"", M(get_expired)},
    {CMD, "counter", CMD_HELP, "command=\"get\",status=\"flushed\"", M(get_flushed)},
    {CMD, "counter", CMD_HELP, "command=\"set\",status=\"hit\"", M(cmd_set)},
    {CMD, "counter", CMD_HELP, "command=\"delete\",status=\"hit\"", M(delete_hits)},
    {CMD, "counter", CMD_HELP, "command=\"delete\",status=\"miss\"", M(delete_misses)},
    {CMD, "counter", CMD_HELP, "command=\"incr\",status=\"hit\"", M(incr_hits)},
    {CMD, "counter", CMD_HELP, "command=\"incr\",status=\"miss\"", M(incr_misses)},
    {CMD, "counter", CMD_HELP, "command=\"decr\",status=\"hit\"", M(decr_hits)},
    {CMD, "counter", CMD_HELP, "command=\"decr\",status=\"miss\"", M(decr_misses)},
    {CMD, "counter", CMD_HELP, "command=\"cas\",status=\"hit\"", M(cas_hits)},
    {CMD, "counter", CMD_HELP, "command=\"cas\",status=\"miss\"", M(cas_misses)},
    {CMD, "counter", CMD_HELP, "command=\"cas\",status=\"badval\"", M(cas_badval)},
    {CMD, "counter", CMD_HELP, "command=\"touch\",status=\"hit\"", M(touch_hits)},
    {CMD, "counter", CMD_HELP, "command=\"touch\",status=\"miss\"", M(touch_misses)},
    {CMD, "counter", CMD_HELP, "command=\"flush\",status=\"hit\"", M(cmd_flush)},
    {"memcached_current_bytes", "gauge", "Bytes held by live items.", "", S(bytes)},
    {"memcached_limit_bytes", "gauge", "Item memory limit (-m).", "", S(limit_maxbytes)},
    {"memcached_current_items", "gauge", "Live items.", "", S(curr_items)},
    {"memcached_items_total", "counter", "Items ever stored.", "", S(total_items)},
    {"memcached_items_evicted_total", "counter", "Items evicted to make room.", "", S(evictions)},
    {"memcached_items_reclaimed_total", "counter", "Expired items whose memory was reused.", "",
     S(reclaimed)},
    {"memcached_item_expired_unfetched_total", "counter", "Items expired without being read.", "",
     S(expired_unfetched)},
    {"memcached_item_evicted_unfetched_total", "counter", "Items evicted without being read.", "",
     S(evicted_unfetched)},
    {"memcached_slab_moves_total", "counter", "Pages moved between slab classes.", "",
     S(slabs_moved)},
    {"stashd_store_too_large_total", "counter", "Stores refused: item too large.", "",
     M(store_too_large)},
    {"stashd_store_no_memory_total", "counter", "Stores refused: out of memory.", "",
     M(store_no_memory)},
    {"stashd_protocol_errors_total", "counter", "Malformed requests answered with an error.", "",
     M(protocol_errors)},
    {"stashd_conn_yields_total", "counter", "Times a connection yielded to others (-R).", "",
     M(conn_yields)},
    {"stashd_item_memory_bytes", "gauge", "Bytes of slab pages and large items held.", "",
     S(total_malloced)},
    {"stashd_hash_table_bytes", "gauge", "Hash table memory, outside the item limit.", "",
     S(hash_bytes)},
};

static int
header(struct buf *b, const char *name, const char *type, const char *help)
{
    return buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int
series(struct buf *b, const char *name, const char *labels, uint64_t v)
{
    if (labels[0] != '\0') {
        return buf_appendf(b, "%s{%s} %llu\n", name, labels, (unsigned long long)v);
    }
    return buf_appendf(b, "%s %llu\n", name, (unsigned long long)v);
}

static double
tv_seconds(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static int
render_process(const struct cmd_env *env, struct buf *b)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    int64_t now = clock_unix_now();
    int rc = header(b, "memcached_up", "gauge", "Whether the server answers (always 1 here).");
    rc = rc ? rc : buf_appendf(b, "memcached_up 1\n");
    rc = rc ? rc : header(b, "memcached_version", "gauge", "The server version, as a label.");
    rc = rc ? rc : buf_appendf(b, "memcached_version{version=\"%s\"} 1\n", MC_STATS_VERSION);
    rc = rc ? rc : header(b, "memcached_uptime_seconds", "counter", "Seconds since start.");
    rc = rc ? rc
            : buf_appendf(b, "memcached_uptime_seconds %lld\n",
                          (long long)(now - clock_process_started() - 2));
    rc = rc ? rc : header(b, "memcached_time_seconds", "gauge", "The server's Unix time.");
    rc = rc ? rc : buf_appendf(b, "memcached_time_seconds %lld\n", (long long)now);
    rc = rc ? rc
            : header(b, "memcached_process_user_cpu_seconds_total", "counter",
                     "User CPU time used.");
    rc = rc ? rc
            : buf_appendf(b, "memcached_process_user_cpu_seconds_total %.6f\n",
                          tv_seconds(ru.ru_utime));
    rc = rc ? rc
            : header(b, "memcached_process_system_cpu_seconds_total", "counter",
                     "System CPU time used.");
    rc = rc ? rc
            : buf_appendf(b, "memcached_process_system_cpu_seconds_total %.6f\n",
                          tv_seconds(ru.ru_stime));
    rc = rc ? rc : header(b, "memcached_max_connections", "gauge", "Connection limit (-c).");
    rc = rc ? rc
            : buf_appendf(b, "memcached_max_connections %lld\n", (long long)env->opts->conn_limit);
    rc = rc ? rc : header(b, "stashd_threads", "gauge", "Worker threads.");
    rc = rc ? rc : buf_appendf(b, "stashd_threads %u\n", env->threads);
    rc = rc ? rc : header(b, "stashd_resident_bytes", "gauge", "Resident memory of the process.");
    rc = rc ? rc
            : buf_appendf(b, "stashd_resident_bytes %llu\n",
                          (unsigned long long)mem_resident_bytes());
    return rc;
}

/* stashd_hot_key_requests{key}: the ten most read keys (label escaped as
 * the exposition format requires; other bytes pass through). */
static int
render_hotkeys(const struct cmd_env *env, struct buf *b)
{
    struct hotkeys_entry top[10];
    size_t k = env->hotkeys != NULL ? hotkeys_top(env->hotkeys, env->nhotkeys, top, 10) : 0;
    int rc = header(b, "stashd_hot_key_requests", "gauge",
                    "Estimated reads of the most read keys (sampled Space-Saving).");
    for (size_t i = 0; i < k && rc == 0; i++) {
        rc = BUF_APPEND_LIT(b, "stashd_hot_key_requests{key=\"");
        for (size_t j = 0; j < top[i].len && rc == 0; j++) {
            char ch = top[i].key[j];
            rc = ch == '\\'   ? buf_append(b, "\\\\", 2)
                 : ch == '"'  ? buf_append(b, "\\\"", 2)
                 : ch == '\n' ? buf_append(b, "\\n", 2)
                              : buf_append(b, &ch, 1);
        }
        rc = rc ? rc : buf_appendf(b, "\"} %llu\n", (unsigned long long)top[i].count);
    }
    return rc;
}

int
prom_render(const struct cmd_env *env, const struct prom_net_figures *nf, struct buf *out)
{
    struct metrics m;
    struct store_stats st;
    memset(&m, 0, sizeof(m));
    memset(&st, 0, sizeof(st));
    env->sum_metrics(env->ctx, &m);
    store_get_stats(env->store, &st);

    int rc = render_process(env, out);
    const char *last = NULL;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]) && rc == 0; i++) {
        const struct prom_row *r = &rows[i];
        if (last == NULL || strcmp(last, r->name) != 0) {
            rc = header(out, r->name, r->type, r->help);
            last = r->name;
        }
        uint64_t v;
        memcpy(&v, (r->src == FROM_METRIC ? (const char *)&m : (const char *)&st) + r->off,
               sizeof(v));
        rc = rc ? rc : series(out, r->name, r->labels, v);
    }
    if (nf != NULL) {
        rc = rc ? rc
                : header(out, "stashd_conn_buffer_bytes", "gauge",
                         "Read and reply buffer memory held by connections.");
        rc = rc ? rc : buf_appendf(out, "stashd_conn_buffer_bytes %llu\n", nf->conn_buffer_bytes);
        rc = rc ? rc : header(out, "stashd_ready", "gauge", "1 when ready to serve.");
        rc = rc ? rc : buf_appendf(out, "stashd_ready %llu\n", nf->ready);
    }
    /* Key names are often user or session ids: only on the operator's
     * word (--metrics-hotkeys). */
    if (env->opts->metrics_hotkeys) {
        rc = rc ? rc : render_hotkeys(env, out);
    }
    return rc;
}
