/*
 * resp_info: INFO, with Redis's sections and field names, so that
 * redis_exporter and the like can scrape stashd (CONFIG is in
 * resp_config.c, COMMAND and TIME in resp_command.c).
 *
 * Counters come from the workers' struct metrics (summed through
 * env->sum_metrics) and from store_get_stats; nothing here is on a hot
 * path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cmd/mem_report.h"
#include "cmd/resp_cmdstats.h"
#include "cmd/resp_internal.h"
#include "stashd/util/glob.h"
#include "cmd/resp_arg.h"
#include "cmd/resp_reply.h"
#include "stashd/store/store.h"
#include "stashd/util/clock.h"
#include "stashd/util/hash.h"
#include "stashd/util/metrics.h"
#include "stashd/util/options.h"

/* --- INFO ---------------------------------------------------------------------- */

enum {
    SEC_SERVER = 1u << 0,
    SEC_CLIENTS = 1u << 1,
    SEC_MEMORY = 1u << 2,
    SEC_PERSISTENCE = 1u << 3,
    SEC_STATS = 1u << 4,
    SEC_REPLICATION = 1u << 5,
    SEC_CPU = 1u << 6,
    SEC_MODULES = 1u << 7,
    SEC_CLUSTER = 1u << 8,
    SEC_KEYSPACE = 1u << 9,
    SEC_COMMANDSTATS = 1u << 10,
    SEC_ERRORSTATS = 1u << 11,
    /* INFO, INFO default: every section but commandstats; INFO all and
     * everything add it (Redis 7.0's latencystats is not kept). */
    SEC_ALL = (1u << 12) - 1,
    SEC_DEFAULT = SEC_ALL & ~SEC_COMMANDSTATS,
};

static const struct {
    const char *name;
    unsigned bit;
} sections[] = {
    {"server", SEC_SERVER},
    {"clients", SEC_CLIENTS},
    {"memory", SEC_MEMORY},
    {"persistence", SEC_PERSISTENCE},
    {"stats", SEC_STATS},
    {"replication", SEC_REPLICATION},
    {"cpu", SEC_CPU},
    {"modules", SEC_MODULES},
    {"commandstats", SEC_COMMANDSTATS},
    {"errorstats", SEC_ERRORSTATS},
    {"cluster", SEC_CLUSTER},
    {"keyspace", SEC_KEYSPACE},
};

/* What INFO shows, gathered once per call. */
struct info_data {
    struct metrics m;
    struct store_stats st;
    uint64_t limit;
    struct mem_report mem;
};

static void
gather(struct resp_exec *x, struct info_data *d)
{
    memset(d, 0, sizeof(*d));
    const struct cmd_env *env = x->s->env;
    if (env->sum_metrics != NULL) {
        env->sum_metrics(env->ctx, &d->m);
    } else {
        metrics_accumulate(&d->m, x->m);
    }
    store_get_stats(x->store, &d->st);
    d->limit = store_memory_limit(x->store);
    mem_report_fill(&d->mem, &d->m, &d->st);
}

/* Redis's bytesToHuman: B, K, M, G, T with two decimals. */
static void
human(char *out, size_t cap, uint64_t n)
{
    static const char units[] = "KMGTPE";
    if (n < 1024) {
        snprintf(out, cap, "%lluB", (unsigned long long)n);
        return;
    }
    double d = (double)n / 1024;
    size_t u = 0;
    while (d >= 1024 && u + 1 < sizeof(units) - 1) {
        d /= 1024;
        u++;
    }
    snprintf(out, cap, "%.2f%c", d, units[u]);
}

/* The run id: 40 hex digits, stable for the life of the process. */
static void
run_id(char out[41])
{
    uint64_t seed[2] = {(uint64_t)getpid(), (uint64_t)clock_process_started()};
    for (int i = 0; i < 5; i++) {
        seed[1] += (uint64_t)i * 0x9e3779b97f4a7c15ull;
        uint64_t h = hash_bytes(seed, sizeof(seed));
        snprintf(out + 8 * i, 9, "%08x", (unsigned)(h & 0xffffffffu));
    }
    out[40] = '\0';
}

#define ADD(...) rc = rc ? rc : buf_appendf(b, __VA_ARGS__)

static int
info_server(struct resp_exec *x, struct buf *b)
{
    const struct options *o = x->s->env->opts;
    struct utsname u;
    if (uname(&u) != 0) {
        memset(&u, 0, sizeof(u));
    }
    char rid[41];
    run_id(rid);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    uint64_t up = clock_now() >= 2 ? clock_now() - 2 : 0;
    int rc = 0;
    ADD("# Server\r\n");
    ADD("redis_version:%s\r\n", RESP_COMPAT_VERSION);
    ADD("stashd_version:%s\r\n", STASHD_VERSION);
    ADD("redis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\n");
    ADD("redis_mode:standalone\r\n");
    ADD("os:%s %s %s\r\n", u.sysname, u.release, u.machine);
    ADD("arch_bits:%d\r\n", (int)(sizeof(void *) * 8));
    ADD("multiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\n");
#ifdef __GNUC__
    ADD("gcc_version:%d.%d.%d\r\n", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#else
    ADD("gcc_version:0.0.0\r\n");
#endif
    ADD("process_id:%ld\r\n", (long)getpid());
    ADD("process_supervised:no\r\n");
    ADD("run_id:%s\r\n", rid);
    ADD("tcp_port:%lld\r\n", (long long)o->port);
    ADD("server_time_usec:%lld\r\n", (long long)tv.tv_sec * 1000000 + tv.tv_usec);
    ADD("uptime_in_seconds:%llu\r\n", (unsigned long long)up);
    ADD("uptime_in_days:%llu\r\n", (unsigned long long)(up / 86400));
    ADD("hz:10\r\nconfigured_hz:10\r\nlru_clock:%u\r\n", (unsigned)(clock_now() & 0xffffff));
    ADD("executable:\r\nconfig_file:%s\r\n", o->config_file != NULL ? o->config_file : "");
    ADD("io_threads_active:0\r\n");
    ADD("threads:%u\r\n", x->s->env->threads);
    return rc;
}

static int
info_clients(struct resp_exec *x, struct buf *b, const struct info_data *d)
{
    int rc = 0;
    ADD("# Clients\r\n");
    ADD("connected_clients:%llu\r\n", (unsigned long long)d->m.curr_connections);
    ADD("cluster_connections:0\r\n");
    ADD("maxclients:%lld\r\n", (long long)x->s->env->opts->conn_limit);
    ADD("client_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\n");
    ADD("blocked_clients:0\r\ntracking_clients:0\r\nclients_in_timeout_table:0\r\n");
    return rc;
}

static int
info_memory(struct resp_exec *x, struct buf *b, const struct info_data *d)
{
    const struct mem_report *mem = &d->mem;
    char h1[32], h2[32], h3[32];
    human(h1, sizeof(h1), mem->total);
    human(h2, sizeof(h2), mem->resident);
    human(h3, sizeof(h3), d->limit);
    double frag = mem->total != 0 ? (double)mem->resident / (double)mem->total : 0.0;
    int rc = 0;
    /* used_memory is what stashd accounts: items + hash tables + connection
     * buffers (Redis: dataset + overhead); the stashd_ fields split it. */
    ADD("# Memory\r\n");
    ADD("used_memory:%llu\r\nused_memory_human:%s\r\n", (unsigned long long)mem->total, h1);
    ADD("used_memory_rss:%llu\r\nused_memory_rss_human:%s\r\n", (unsigned long long)mem->resident,
        h2);
    ADD("used_memory_peak:%llu\r\nused_memory_peak_human:%s\r\n", (unsigned long long)mem->total,
        h1);
    ADD("used_memory_overhead:%llu\r\n", (unsigned long long)(mem->hash + mem->conn_buffers));
    ADD("used_memory_dataset:%llu\r\n", (unsigned long long)mem->items);
    ADD("mem_clients_normal:%llu\r\n", (unsigned long long)mem->conn_buffers);
    ADD("stashd_memory_items:%llu\r\n", (unsigned long long)mem->items);
    ADD("stashd_memory_hash_tables:%llu\r\n", (unsigned long long)mem->hash);
    ADD("stashd_memory_conn_buffers:%llu\r\n", (unsigned long long)mem->conn_buffers);
    ADD("stashd_memory_other:%llu\r\n", (unsigned long long)mem->other);
    ADD("stashd_item_bytes:%llu\r\n", (unsigned long long)d->st.bytes);
    ADD("maxmemory:%llu\r\nmaxmemory_human:%s\r\n", (unsigned long long)d->limit, h3);
    ADD("maxmemory_policy:%s\r\n", x->s->env->opts->evictions ? "allkeys-lru" : "noeviction");
    ADD("mem_fragmentation_ratio:%.2f\r\n", frag);
    ADD("mem_allocator:jemalloc\r\n");
    ADD("lazyfree_pending_objects:0\r\n");
    return rc;
}

static int
info_persistence(struct buf *b)
{
    int rc = 0;
    ADD("# Persistence\r\n");
    ADD("loading:0\r\nasync_loading:0\r\n");
    ADD("rdb_changes_since_last_save:0\r\nrdb_bgsave_in_progress:0\r\n");
    ADD("rdb_last_save_time:%lld\r\n", (long long)clock_process_started() + 2);
    ADD("rdb_last_bgsave_status:ok\r\nrdb_last_bgsave_time_sec:-1\r\n");
    ADD("aof_enabled:0\r\naof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0\r\n");
    ADD("aof_last_write_status:ok\r\n");
    return rc;
}

static int
info_stats(struct resp_exec *x, struct buf *b, const struct info_data *d)
{
    const struct metrics *m = &d->m;
    /* Commands as the workers count them: every read, store, delete,
     * arithmetic, touch, flush and auth. */
    uint64_t cmds = m->cmd_get + m->cmd_set + m->cmd_touch + m->cmd_flush + m->cmd_meta +
                    m->delete_hits + m->delete_misses + m->incr_hits + m->incr_misses +
                    m->decr_hits + m->decr_misses + m->auth_cmds;
    int rc = 0;
    ADD("# Stats\r\n");
    ADD("total_connections_received:%llu\r\n", (unsigned long long)m->total_connections);
    ADD("total_commands_processed:%llu\r\n", (unsigned long long)cmds);
    ADD("instantaneous_ops_per_sec:0\r\n");
    ADD("total_net_input_bytes:%llu\r\n", (unsigned long long)m->bytes_read);
    ADD("total_net_output_bytes:%llu\r\n", (unsigned long long)m->bytes_written);
    ADD("rejected_connections:%llu\r\n", (unsigned long long)m->rejected_connections);
    ADD("expired_keys:%llu\r\n", (unsigned long long)d->st.expired);
    ADD("evicted_keys:%llu\r\n", (unsigned long long)d->st.evictions);
    ADD("keyspace_hits:%llu\r\n", (unsigned long long)m->get_hits);
    ADD("keyspace_misses:%llu\r\n", (unsigned long long)m->get_misses);
    ADD("pubsub_channels:0\r\npubsub_patterns:0\r\n");
    ADD("total_error_replies:%llu\r\n", (unsigned long long)resp_cmdstats_total_errors(x));
    return rc;
}

static int
info_replication(struct buf *b)
{
    char rid[41];
    run_id(rid);
    int rc = 0;
    ADD("# Replication\r\n");
    ADD("role:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\n");
    ADD("master_replid:%s\r\n", rid);
    ADD("master_repl_offset:0\r\nrepl_backlog_active:0\r\n");
    return rc;
}

static int
info_cpu(struct buf *b)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        memset(&ru, 0, sizeof(ru));
    }
    int rc = 0;
    ADD("# CPU\r\n");
    ADD("used_cpu_sys:%ld.%06ld\r\n", (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec);
    ADD("used_cpu_user:%ld.%06ld\r\n", (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec);
    ADD("used_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\n");
    return rc;
}

static int
info_keyspace(struct buf *b, const struct info_data *d)
{
    int rc = 0;
    ADD("# Keyspace\r\n");
    if (d->st.curr_items != 0) {
        ADD("db0:keys=%llu,expires=%llu,avg_ttl=0\r\n", (unsigned long long)d->st.curr_items,
            (unsigned long long)d->st.expiring);
    }
    return rc;
}

#undef ADD

void
resp_cmd_info(struct resp_exec *x)
{
    unsigned want = 0;
    if (x->argc == 1) {
        want = SEC_DEFAULT;
    }
    for (size_t i = 1; i < x->argc; i++) {
        struct bstr a = x->argv[i];
        if (resp_arg_is(a, "all") || resp_arg_is(a, "everything")) {
            want |= SEC_ALL;
        } else if (resp_arg_is(a, "default")) {
            want |= SEC_DEFAULT;
        }
        for (size_t j = 0; j < sizeof(sections) / sizeof(sections[0]); j++) {
            if (resp_arg_is(a, sections[j].name)) {
                want |= sections[j].bit;
            }
        }
    }
    struct info_data d;
    gather(x, &d);
    struct buf *b = &x->c->scratch;
    buf_reset(b);
    int rc = 0;
    unsigned done = 0;
    for (size_t j = 0; j < sizeof(sections) / sizeof(sections[0]) && rc == 0; j++) {
        unsigned bit = sections[j].bit;
        if (!(want & bit)) {
            continue;
        }
        if (done++ > 0) {
            rc = buf_append(b, "\r\n", 2);
        }
        switch (bit) {
        case SEC_SERVER:
            rc = rc ? rc : info_server(x, b);
            break;
        case SEC_CLIENTS:
            rc = rc ? rc : info_clients(x, b, &d);
            break;
        case SEC_MEMORY:
            rc = rc ? rc : info_memory(x, b, &d);
            break;
        case SEC_PERSISTENCE:
            rc = rc ? rc : info_persistence(b);
            break;
        case SEC_STATS:
            rc = rc ? rc : info_stats(x, b, &d);
            break;
        case SEC_REPLICATION:
            rc = rc ? rc : info_replication(b);
            break;
        case SEC_CPU:
            rc = rc ? rc : info_cpu(b);
            break;
        case SEC_MODULES:
            rc = rc ? rc : buf_append(b, "# Modules\r\n", 11);
            break;
        case SEC_COMMANDSTATS:
            rc = rc ? rc : resp_cmdstats_info_commands(x, b);
            break;
        case SEC_ERRORSTATS:
            rc = rc ? rc : resp_cmdstats_info_errors(x, b);
            break;
        case SEC_CLUSTER:
            rc = rc ? rc : buf_append(b, "# Cluster\r\ncluster_enabled:0\r\n", 30);
            break;
        case SEC_KEYSPACE:
            rc = rc ? rc : info_keyspace(b, &d);
            break;
        }
    }
    resp_reply_fail(x, rc);
    resp_reply_verbatim(x, b->data != NULL ? b->data + b->rpos : "", buf_readable(b));
    buf_reset(b);
}
