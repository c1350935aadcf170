/*
 * resp_info: the server-facing commands: INFO (Redis's sections and field
 * names, so that redis_exporter and the like can scrape stashd), CONFIG
 * GET/SET for what maps onto stashd's options and store, COMMAND (enough
 * for redis-cli's hints and for clients that list commands) and TIME.
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
#include "cmd/resp_internal.h"
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
    SEC_ALL = (1u << 10) - 1,
};

static const struct {
    const char *name;
    unsigned bit;
} sections[] = {
    {"server", SEC_SERVER},   {"clients", SEC_CLIENTS},
    {"memory", SEC_MEMORY},   {"persistence", SEC_PERSISTENCE},
    {"stats", SEC_STATS},     {"replication", SEC_REPLICATION},
    {"cpu", SEC_CPU},         {"modules", SEC_MODULES},
    {"cluster", SEC_CLUSTER}, {"keyspace", SEC_KEYSPACE},
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
info_stats(struct buf *b, const struct info_data *d)
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
    ADD("total_error_replies:%llu\r\n", (unsigned long long)m->protocol_errors);
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
        want = SEC_ALL;
    }
    for (size_t i = 1; i < x->argc; i++) {
        struct bstr a = x->argv[i];
        if (arg_is(a, "all") || arg_is(a, "everything") || arg_is(a, "default")) {
            want = SEC_ALL;
        }
        for (size_t j = 0; j < sizeof(sections) / sizeof(sections[0]); j++) {
            if (arg_is(a, sections[j].name)) {
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
            rc = rc ? rc : info_stats(b, &d);
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
        case SEC_CLUSTER:
            rc = rc ? rc : buf_append(b, "# Cluster\r\ncluster_enabled:0\r\n", 30);
            break;
        case SEC_KEYSPACE:
            rc = rc ? rc : info_keyspace(b, &d);
            break;
        }
    }
    rep_fail(x, rc);
    rep_verbatim(x, b->data != NULL ? b->data + b->rpos : "", buf_readable(b));
    buf_reset(b);
}

/* --- CONFIG ---------------------------------------------------------------------- */

enum cfg_param {
    CFG_APPENDONLY,
    CFG_BIND,
    CFG_DATABASES,
    CFG_MAXCLIENTS,
    CFG_MAXMEMORY,
    CFG_MAXMEMORY_POLICY,
    CFG_PORT,
    CFG_PROTO_MAX_BULK_LEN,
    CFG_REQUIREPASS,
    CFG_SAVE,
    CFG_TCP_BACKLOG,
    CFG_TIMEOUT,
    CFG_COUNT
};

static const char *const cfg_names[CFG_COUNT] = {
    [CFG_APPENDONLY] = "appendonly",
    [CFG_BIND] = "bind",
    [CFG_DATABASES] = "databases",
    [CFG_MAXCLIENTS] = "maxclients",
    [CFG_MAXMEMORY] = "maxmemory",
    [CFG_MAXMEMORY_POLICY] = "maxmemory-policy",
    [CFG_PORT] = "port",
    [CFG_PROTO_MAX_BULK_LEN] = "proto-max-bulk-len",
    [CFG_REQUIREPASS] = "requirepass",
    [CFG_SAVE] = "save",
    [CFG_TCP_BACKLOG] = "tcp-backlog",
    [CFG_TIMEOUT] = "timeout",
};

static void
cfg_value(struct resp_exec *x, enum cfg_param p, char *out, size_t cap)
{
    const struct options *o = x->s->env->opts;
    out[0] = '\0';
    switch (p) {
    case CFG_APPENDONLY:
        snprintf(out, cap, "no");
        break;
    case CFG_BIND: {
        size_t n = 0;
        for (size_t i = 0; i < o->listen.n && n + 1 < cap; i++) {
            int w = snprintf(out + n, cap - n, "%s%s", i ? " " : "", o->listen.v[i]);
            if (w < 0) {
                break;
            }
            n += (size_t)w;
        }
        break;
    }
    case CFG_DATABASES:
        snprintf(out, cap, "1");
        break;
    case CFG_MAXCLIENTS:
        snprintf(out, cap, "%lld", (long long)o->conn_limit);
        break;
    case CFG_MAXMEMORY:
        snprintf(out, cap, "%llu", (unsigned long long)store_memory_limit(x->store));
        break;
    case CFG_MAXMEMORY_POLICY:
        snprintf(out, cap, "%s", o->evictions ? "allkeys-lru" : "noeviction");
        break;
    case CFG_PORT:
        snprintf(out, cap, "%lld", (long long)o->port);
        break;
    case CFG_PROTO_MAX_BULK_LEN:
        snprintf(out, cap, "%llu", (unsigned long long)o->max_item_size);
        break;
    case CFG_REQUIREPASS:
        snprintf(out, cap, "%s", o->requirepass);
        break;
    case CFG_SAVE:
        break;
    case CFG_TCP_BACKLOG:
        snprintf(out, cap, "%lld", (long long)o->backlog);
        break;
    case CFG_TIMEOUT:
        snprintf(out, cap, "%lld", (long long)o->idle_timeout);
        break;
    case CFG_COUNT:
        break;
    }
}

static int
cfg_find(struct bstr name)
{
    for (int i = 0; i < CFG_COUNT; i++) {
        if (arg_is(name, cfg_names[i])) {
            return i;
        }
    }
    return -1;
}

static void
config_get(struct resp_exec *x)
{
    bool hit[CFG_COUNT] = {false};
    size_t n = 0;
    for (int i = 0; i < CFG_COUNT; i++) {
        for (size_t j = 2; j < x->argc && !hit[i]; j++) {
            if (resp_glob(x->argv[j].data, x->argv[j].len, cfg_names[i], strlen(cfg_names[i]),
                          true)) {
                hit[i] = true;
                n++;
            }
        }
    }
    rep_map(x, n);
    for (int i = 0; i < CFG_COUNT; i++) {
        if (hit[i]) {
            char v[512];
            cfg_value(x, (enum cfg_param)i, v, sizeof(v));
            rep_bulk_str(x, cfg_names[i]);
            rep_bulk_str(x, v);
        }
    }
}

/* Redis's memtoull: digits with an optional unit (b, k, kb, m, mb, g,
 * gb; k = 1000, kb = 1024), case-insensitive. */
static bool
parse_memory(struct bstr a, uint64_t *out)
{
    size_t i = 0;
    uint64_t v = 0;
    for (; i < a.len && a.data[i] >= '0' && a.data[i] <= '9'; i++) {
        unsigned d = (unsigned)(a.data[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    if (i == 0) {
        return false;
    }
    struct bstr unit = {.data = a.data + i, .len = a.len - i};
    static const struct {
        const char *name;
        uint64_t mul;
    } units[] = {
        {"", 1},           {"b", 1},
        {"k", 1000},       {"kb", 1024},
        {"m", 1000000},    {"mb", 1024 * 1024},
        {"g", 1000000000}, {"gb", 1024ull * 1024 * 1024},
    };
    for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
        if (arg_is(unit, units[u].name)) {
            if (v > UINT64_MAX / units[u].mul) {
                return false;
            }
            *out = v * units[u].mul;
            return true;
        }
    }
    return false;
}

static const char *const policies[] = {
    "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
    "allkeys-lru",  "allkeys-lfu",  "allkeys-random",  "noeviction",
};

/* Check one CONFIG SET pair; on failure reply and return false. */
static bool
config_check(struct resp_exec *x, int p, struct bstr name, struct bstr value, uint64_t *mem)
{
    const char *fail = NULL;
    switch (p) {
    case CFG_MAXMEMORY:
        if (!parse_memory(value, mem)) {
            fail = "argument must be a memory value";
        } else if (*mem == 0) {
            fail = "stashd always has a memory limit (0 is not accepted)";
        }
        break;
    case CFG_MAXMEMORY_POLICY: {
        bool known = false;
        for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++) {
            known = known || arg_is(value, policies[i]);
        }
        if (!known) {
            fail = "argument(s) must be one of the following: volatile-lru, volatile-lfu, "
                   "volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, "
                   "noeviction";
        } else if (!arg_is(value, x->s->env->opts->evictions ? "allkeys-lru" : "noeviction")) {
            fail = "stashd's eviction policy is set at start-up (-M for noeviction)";
        }
        break;
    }
    case CFG_APPENDONLY:
        if (!arg_is(value, "yes") && !arg_is(value, "no")) {
            fail = "argument must be 'yes' or 'no'";
        } else if (arg_is(value, "yes")) {
            fail = "stashd does not persist data";
        }
        break;
    case CFG_SAVE:
        break; /* nothing is saved, whatever the schedule */
    default:
        fail = "can't set immutable config";
        break;
    }
    if (fail != NULL) {
        const char *nul = memchr(name.data, '\0', name.len);
        int n = (int)(nul != NULL ? (size_t)(nul - name.data) : name.len);
        rep_errf(x, "ERR CONFIG SET failed (possibly related to argument '%.*s') - %s",
                 n > 128 ? 128 : n, name.data, fail);
        return false;
    }
    return true;
}

static void
config_set(struct resp_exec *x)
{
    if (x->argc % 2 != 0) {
        rep_err_arity(x, "config|set");
        return;
    }
    uint64_t mem = 0;
    bool set_mem = false;
    /* Check every pair before applying any, as Redis does. */
    for (size_t j = 2; j < x->argc; j += 2) {
        int p = cfg_find(x->argv[j]);
        if (p < 0) {
            const char *nul = memchr(x->argv[j].data, '\0', x->argv[j].len);
            int n = (int)(nul != NULL ? (size_t)(nul - x->argv[j].data) : x->argv[j].len);
            rep_errf(x, "ERR Unknown option or number of arguments for CONFIG SET - '%.*s'",
                     n > 128 ? 128 : n, x->argv[j].data);
            return;
        }
        if (!config_check(x, p, x->argv[j], x->argv[j + 1], &mem)) {
            return;
        }
        set_mem = set_mem || p == CFG_MAXMEMORY;
    }
    if (set_mem && store_set_memory_limit(x->store, mem) != 0) {
        rep_err(x, "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - "
                   "argument must be at least 64kb");
        return;
    }
    rep_ok(x);
}

static void
help_reply(struct resp_exec *x, const char *const *lines, size_t n)
{
    rep_array(x, n);
    for (size_t i = 0; i < n; i++) {
        rep_simple(x, lines[i]);
    }
}

void
resp_cmd_config(struct resp_exec *x)
{
    struct bstr sub = x->argv[1];
    if (arg_is(sub, "get")) {
        if (x->argc < 3) {
            rep_err_arity(x, "config|get");
        } else {
            config_get(x);
        }
    } else if (arg_is(sub, "set")) {
        if (x->argc < 4) {
            rep_err_arity(x, "config|set");
        } else {
            config_set(x);
        }
    } else if (arg_is(sub, "resetstat")) {
        if (x->argc != 2) {
            rep_err_arity(x, "config|resetstat");
        } else {
            rep_ok(x); /* the workers' counters are never reset */
        }
    } else if (arg_is(sub, "rewrite")) {
        if (x->argc != 2) {
            rep_err_arity(x, "config|rewrite");
        } else {
            rep_err(x, "ERR The server is running without a config file");
        }
    } else if (arg_is(sub, "help") && x->argc == 2) {
        static const char *const help[] = {
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Accepted; stashd's counters are not reset.",
            "HELP",
            "    Print this help.",
        };
        help_reply(x, help, sizeof(help) / sizeof(help[0]));
    } else {
        rep_err_subcommand(x);
    }
}

/* --- COMMAND --------------------------------------------------------------------- */

static void
words_set(struct resp_exec *x, const char *words)
{
    size_t n = 0;
    for (const char *p = words; *p != '\0';) {
        while (*p == ' ') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        n++;
        while (*p != '\0' && *p != ' ') {
            p++;
        }
    }
    rep_set(x, n);
    for (const char *p = words; *p != '\0';) {
        while (*p == ' ') {
            p++;
        }
        const char *start = p;
        while (*p != '\0' && *p != ' ') {
            p++;
        }
        if (p > start) {
            rep_fail(x, resp_simple(x->out, start, (size_t)(p - start)));
        }
    }
}

static void
command_entry(struct resp_exec *x, const struct resp_cmd *c)
{
    static const struct {
        unsigned bit;
        const char *name;
    } flag_names[] = {
        {RESP_CMD_WRITE, "write"}, {RESP_CMD_READONLY, "readonly"}, {RESP_CMD_DENYOOM, "denyoom"},
        {RESP_CMD_ADMIN, "admin"}, {RESP_CMD_NOSCRIPT, "noscript"}, {RESP_CMD_LOADING, "loading"},
        {RESP_CMD_STALE, "stale"}, {RESP_CMD_FAST, "fast"},         {RESP_CMD_NOAUTH, "no_auth"},
    };
    rep_array(x, 10);
    rep_bulk_str(x, c->name);
    rep_int(x, c->arity);
    size_t nf = 0;
    for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++) {
        nf += (c->flags & flag_names[i].bit) != 0;
    }
    rep_set(x, nf);
    for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++) {
        if (c->flags & flag_names[i].bit) {
            rep_simple(x, flag_names[i].name);
        }
    }
    rep_int(x, c->first_key);
    rep_int(x, c->last_key);
    rep_int(x, c->key_step);
    words_set(x, c->acl);
    rep_set(x, 0);   /* tips */
    rep_set(x, 0);   /* key specs: first/last/step above describe the keys */
    rep_array(x, 0); /* subcommands */
}

static const struct resp_cmd *
find_cmd(struct bstr name)
{
    for (size_t i = 0; i < resp_ncmds; i++) {
        if (arg_is(name, resp_cmds[i].name)) {
            return &resp_cmds[i];
        }
    }
    return NULL;
}

static void
command_doc(struct resp_exec *x, const struct resp_cmd *c)
{
    rep_bulk_str(x, c->name);
    rep_map(x, 2);
    rep_bulk_str(x, "summary");
    rep_bulk_str(x, "");
    rep_bulk_str(x, "group");
    rep_bulk_str(x, c->group);
}

static void
command_getkeys(struct resp_exec *x)
{
    const struct resp_cmd *c = find_cmd(x->argv[2]);
    if (c == NULL) {
        rep_err(x, "ERR Invalid command specified");
        return;
    }
    size_t argc = x->argc - 2;
    if ((c->arity > 0 && argc != (size_t)c->arity) || (c->arity < 0 && argc < (size_t)-c->arity)) {
        rep_err(x, "ERR Invalid number of arguments specified for command");
        return;
    }
    if (c->first_key == 0) {
        rep_err(x, "ERR The command has no key arguments");
        return;
    }
    size_t last = c->last_key < 0 ? argc + (size_t)c->last_key : (size_t)c->last_key;
    size_t n = 0;
    for (size_t i = (size_t)c->first_key; i <= last && i < argc; i += (size_t)c->key_step) {
        n++;
    }
    rep_array(x, n);
    for (size_t i = (size_t)c->first_key; i <= last && i < argc; i += (size_t)c->key_step) {
        rep_bulk(x, x->argv[2 + i].data, x->argv[2 + i].len);
    }
}

void
resp_cmd_command(struct resp_exec *x)
{
    if (x->argc == 1) {
        rep_array(x, resp_ncmds);
        for (size_t i = 0; i < resp_ncmds; i++) {
            command_entry(x, &resp_cmds[i]);
        }
        return;
    }
    struct bstr sub = x->argv[1];
    if (arg_is(sub, "count") && x->argc == 2) {
        rep_int(x, (int64_t)resp_ncmds);
    } else if (arg_is(sub, "info")) {
        if (x->argc == 2) {
            rep_array(x, resp_ncmds);
            for (size_t i = 0; i < resp_ncmds; i++) {
                command_entry(x, &resp_cmds[i]);
            }
            return;
        }
        rep_array(x, x->argc - 2);
        for (size_t j = 2; j < x->argc; j++) {
            const struct resp_cmd *c = find_cmd(x->argv[j]);
            if (c != NULL) {
                command_entry(x, c);
            } else {
                rep_null(x);
            }
        }
    } else if (arg_is(sub, "docs")) {
        size_t n = 0;
        for (size_t j = 2; j < x->argc; j++) {
            n += find_cmd(x->argv[j]) != NULL;
        }
        rep_map(x, x->argc == 2 ? resp_ncmds : n);
        for (size_t i = 0; x->argc == 2 && i < resp_ncmds; i++) {
            command_doc(x, &resp_cmds[i]);
        }
        for (size_t j = 2; j < x->argc; j++) {
            const struct resp_cmd *c = find_cmd(x->argv[j]);
            if (c != NULL) {
                command_doc(x, c);
            }
        }
    } else if (arg_is(sub, "list")) {
        rep_array(x, resp_ncmds);
        for (size_t i = 0; i < resp_ncmds; i++) {
            rep_bulk_str(x, resp_cmds[i].name);
        }
    } else if (arg_is(sub, "getkeys") && x->argc >= 4) {
        command_getkeys(x);
    } else if (arg_is(sub, "help") && x->argc == 2) {
        static const char *const help[] = {
            "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "(no subcommand)",
            "    Return details about all commands.",
            "COUNT",
            "    Return the total number of commands.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about commands.",
            "GETKEYS <full-command>",
            "    Return the keys from a full command.",
            "INFO [<command-name> ...]",
            "    Return details about commands.",
            "LIST",
            "    Return a list of all commands.",
            "HELP",
            "    Print this help.",
        };
        help_reply(x, help, sizeof(help) / sizeof(help[0]));
    } else {
        static const struct {
            const char *name;
            int arity;
        } subs[] = {{"count", 2}, {"getkeys", -4}, {"help", 2}};
        for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
            if (arg_is(sub, subs[i].name)) {
                char full[48];
                snprintf(full, sizeof(full), "command|%s", subs[i].name);
                rep_err_arity(x, full);
                return;
            }
        }
        rep_err_subcommand(x);
    }
}

/* --- TIME ----------------------------------------------------------------------- */

void
resp_cmd_time(struct resp_exec *x)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    char a[24], b[24];
    int na = snprintf(a, sizeof(a), "%lld", (long long)tv.tv_sec);
    int nb = snprintf(b, sizeof(b), "%ld", (long)tv.tv_usec);
    rep_array(x, 2);
    rep_bulk(x, a, (size_t)na);
    rep_bulk(x, b, (size_t)nb);
}
