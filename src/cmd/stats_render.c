/*
 * stats_render: the three reports, generated from STASHD_STATS (see
 * cmd/stats_render.h). A report takes one snapshot of everything the
 * rows read (the workers' sums, the store's, the memory report, rusage,
 * the watch log's counts), then walks the table: a row's value is its
 * source read from the snapshot, formatted for the output.
 */
#include "cmd/stats_render.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cmd/mem_report.h"
#include "cmd/stats_detail.h"
#include "cmd/stats_state.h"
#include "cmd/watch.h"
#include "stashd/cmd/session.h"
#include "stashd/cmd/stats.h"
#include "stashd/store/store.h"
#include "stashd/util/buf.h"
#include "stashd/util/clock.h"
#include "stashd/util/hash.h"
#include "stashd/util/metrics.h"
#include "stashd/util/num.h"
#include "stashd/util/options.h"

/* --- the table, as data ---------------------------------------------------- */

enum src { SRC_W, SRC_V, SRC_S, SRC_F, SRC_K };
enum kind { KIND_COUNTER, KIND_GAUGE, KIND_CLOCK };
enum when { WHEN_ALWAYS, WHEN_IDLE, WHEN_TLS, WHEN_TLS_CACHE };
enum sec {
    SEC_SERVER = STATS_INFO_SERVER,
    SEC_CLIENTS = STATS_INFO_CLIENTS,
    SEC_MEMORY = STATS_INFO_MEMORY,
    SEC_PERSISTENCE = STATS_INFO_PERSISTENCE,
    SEC_STATS = STATS_INFO_STATS,
    SEC_REPLICATION = STATS_INFO_REPLICATION,
    SEC_CPU = STATS_INFO_CPU,
    SEC_CLUSTER = STATS_INFO_CLUSTER,
    SEC_KEYSPACE = STATS_INFO_KEYSPACE,
    SEC_NONE = STATS_INFO_SECTIONS,
};

/* The figures SRC_F rows name. */
enum fig {
    FIG_pid,
    FIG_uptime,
    FIG_time,
    FIG_version,
    FIG_libevent,
    FIG_pointer_bits,
    FIG_rusage_user,
    FIG_rusage_system,
    FIG_max_connections,
    FIG_connection_structures,
    FIG_accepting_conns,
    FIG_threads,
    FIG_hash_power_level,
    FIG_lru_crawler_running,
    FIG_lru_crawler_starts,
    FIG_log_worker_dropped,
    FIG_log_worker_written,
    FIG_log_watcher_skipped,
    FIG_log_watcher_sent,
    FIG_log_watchers,
    FIG_cert_age,
    FIG_memory_total,
    FIG_memory_resident,
    FIG_memory_other,
    FIG_ready,
    FIG_redis_version,
    FIG_os,
    FIG_gcc_version,
    FIG_run_id,
    FIG_tcp_port,
    FIG_server_time_usec,
    FIG_uptime_days,
    FIG_lru_clock,
    FIG_config_file,
    FIG_memory_total_human,
    FIG_memory_resident_human,
    FIG_memory_overhead,
    FIG_maxmemory_human,
    FIG_maxmemory_policy,
    FIG_fragmentation,
    FIG_started,
    FIG_commands_processed,
    FIG_keyspace,
};

struct row {
    uint8_t src, kind, when, sec;
    size_t arg;       /* W, V: offset in struct metrics; S: in store_stats; F: enum fig */
    const char *text; /* K: the constant */
    const char *mc, *info, *prom, *labels, *help;
};

#define ROW_ARG_W(id) .arg = offsetof(struct metrics, id)
#define ROW_ARG_V(id) .arg = offsetof(struct metrics, id)
#define ROW_ARG_S(id) .arg = offsetof(struct store_stats, id)
#define ROW_ARG_F(id) .arg = FIG_##id
#define ROW_ARG_K(id) .text = id
#define ROW(src_, id_, kind_, when_, mc_, sec_, info_, prom_, labels_, help_)                      \
    {.src = SRC_##src_,                                                                            \
     .kind = KIND_##kind_,                                                                         \
     .when = WHEN_##when_,                                                                         \
     .sec = SEC_##sec_,                                                                            \
     ROW_ARG_##src_(id_),                                                                          \
     .mc = mc_,                                                                                    \
     .info = info_,                                                                                \
     .prom = prom_,                                                                                \
     .labels = labels_,                                                                            \
     .help = help_},

static const struct row rows[STATS_NROWS] = {STASHD_STATS(ROW)};

#define FAMILY(name_, help_) {.name = name_, .help = help_},
static const struct {
    const char *name, *help;
} families[] = {STASHD_STATS_FAMILIES(FAMILY)};

/* --- one report's snapshot ------------------------------------------------- */

struct snap {
    const struct cmd_env *env;
    struct metrics m;
    struct store_stats st;
    struct mem_report mem;
    struct rusage ru;
    struct watch_counts wc;
    uint64_t crawler_starts;
    uint32_t dumps_running;
    bool ready;
    const char *redis_version;
};

static void
take_snap(struct snap *sn, const struct cmd_env *env, const struct metrics *own)
{
    memset(sn, 0, sizeof(*sn));
    sn->env = env;
    if (env->sum_metrics != NULL) {
        env->sum_metrics(env->ctx, &sn->m);
    } else if (own != NULL) {
        metrics_accumulate(&sn->m, own);
    }
    store_get_stats(env->store, &sn->st);
    mem_report_fill(&sn->mem, &sn->m, &sn->st);
    if (getrusage(RUSAGE_SELF, &sn->ru) != 0) {
        memset(&sn->ru, 0, sizeof(sn->ru));
    }
    struct stats *st = env->stats;
    if (st != NULL) {
        watch_counts(st->watch, &sn->wc);
        sn->crawler_starts = __atomic_load_n(&st->crawler_starts, __ATOMIC_RELAXED);
        sn->dumps_running = __atomic_load_n(&st->dumps_running, __ATOMIC_RELAXED);
    }
}

/* A value as a row yields it. */
enum vtype { V_U64, V_TIME, V_STR, V_RATIO, V_ABSENT };
struct val {
    enum vtype t;
    uint64_t u;
    struct timeval tv;
    double d;
    const char *s; /* V_STR: a constant or buf */
    char buf[128];
};

static void
set_u64(struct val *v, uint64_t u)
{
    v->t = V_U64;
    v->u = u;
}

static void
set_str(struct val *v, const char *s)
{
    v->t = V_STR;
    v->s = s;
}

/* Redis's bytesToHuman: B, then K, M, G, T with two decimals. */
static void
set_human(struct val *v, uint64_t n)
{
    static const char units[] = "KMGTPE";
    if (n < 1024) {
        snprintf(v->buf, sizeof(v->buf), "%lluB", (unsigned long long)n);
    } else {
        double d = (double)n / 1024;
        size_t u = 0;
        while (d >= 1024 && u + 1 < sizeof(units) - 1) {
            d /= 1024;
            u++;
        }
        snprintf(v->buf, sizeof(v->buf), "%.2f%c", d, units[u]);
    }
    set_str(v, v->buf);
}

/* The run id: 40 hex digits, stable for the life of the process. */
static void
set_run_id(struct val *v)
{
    uint64_t seed[2] = {(uint64_t)getpid(), (uint64_t)clock_process_started()};
    for (int i = 0; i < 5; i++) {
        seed[1] += (uint64_t)i * 0x9e3779b97f4a7c15ull;
        uint64_t h = hash_bytes(seed, sizeof(seed));
        snprintf(v->buf + 8 * i, 9, "%08x", (unsigned)(h & 0xffffffffu));
    }
    set_str(v, v->buf);
}

static uint64_t
uptime(void)
{
    return clock_now() >= 2 ? clock_now() - 2 : 0; /* the clock starts at 2 */
}

static uint64_t
commands_processed(const struct metrics *m)
{
    /* Commands as the workers count them: every read, store, delete,
     * arithmetic, touch, flush, meta and auth command. */
    return m->cmd_get + m->cmd_set + m->cmd_touch + m->cmd_flush + m->cmd_meta + m->delete_hits +
           m->delete_misses + m->incr_hits + m->incr_misses + m->decr_hits + m->decr_misses +
           m->auth_cmds;
}

/* The figures of SRC_F rows. */
static void
figure(const struct snap *sn, enum fig f, struct val *v)
{
    const struct options *o = sn->env->opts;
    switch (f) {
    case FIG_pid:
        set_u64(v, (uint64_t)getpid());
        break;
    case FIG_uptime:
        set_u64(v, uptime());
        break;
    case FIG_uptime_days:
        set_u64(v, uptime() / 86400);
        break;
    case FIG_time:
        set_u64(v, (uint64_t)clock_unix_now());
        break;
    case FIG_version:
        set_str(v, MC_STATS_VERSION);
        break;
    case FIG_libevent:
        set_str(v, sn->env->event_lib != NULL ? sn->env->event_lib : "none");
        break;
    case FIG_pointer_bits:
        set_u64(v, 8 * sizeof(void *));
        break;
    case FIG_rusage_user:
        v->t = V_TIME;
        v->tv = sn->ru.ru_utime;
        break;
    case FIG_rusage_system:
        v->t = V_TIME;
        v->tv = sn->ru.ru_stime;
        break;
    case FIG_max_connections:
        set_u64(v, (uint64_t)o->conn_limit);
        break;
    case FIG_connection_structures:
        set_u64(v, sn->m.curr_connections); /* one per open connection: no idle spares */
        break;
    case FIG_accepting_conns:
        set_u64(v, 1);
        break;
    case FIG_threads:
        set_u64(v, sn->env->threads);
        break;
    case FIG_hash_power_level: {
        unsigned p = 0;
        while (p < 63 && (2ull << p) <= sn->st.hash_buckets) {
            p++;
        }
        set_u64(v, sn->st.hash_buckets != 0 ? p : 0);
        break;
    }
    case FIG_lru_crawler_running:
        set_u64(v, sn->dumps_running != 0);
        break;
    case FIG_lru_crawler_starts:
        set_u64(v, sn->crawler_starts);
        break;
    case FIG_log_worker_dropped:
        set_u64(v, sn->wc.worker_dropped);
        break;
    case FIG_log_worker_written:
        set_u64(v, sn->wc.worker_written);
        break;
    case FIG_log_watcher_skipped:
        set_u64(v, sn->wc.watcher_skipped);
        break;
    case FIG_log_watcher_sent:
        set_u64(v, sn->wc.watcher_sent);
        break;
    case FIG_log_watchers:
        set_u64(v, sn->wc.watchers);
        break;
    case FIG_cert_age:
        set_u64(v, sn->env->tls_cert_age != NULL ? sn->env->tls_cert_age(sn->env->ctx) : 0);
        break;
    case FIG_memory_total:
        set_u64(v, sn->mem.total);
        break;
    case FIG_memory_resident:
        set_u64(v, sn->mem.resident);
        break;
    case FIG_memory_other:
        set_u64(v, sn->mem.other);
        break;
    case FIG_memory_total_human:
        set_human(v, sn->mem.total);
        break;
    case FIG_memory_resident_human:
        set_human(v, sn->mem.resident);
        break;
    case FIG_memory_overhead:
        set_u64(v, sn->mem.hash + sn->mem.conn_buffers);
        break;
    case FIG_maxmemory_human:
        set_human(v, sn->st.limit_maxbytes);
        break;
    case FIG_maxmemory_policy:
        set_str(v, o->evictions ? "allkeys-lru" : "noeviction");
        break;
    case FIG_fragmentation:
        v->t = V_RATIO;
        v->d = sn->mem.total != 0 ? (double)sn->mem.resident / (double)sn->mem.total : 0.0;
        break;
    case FIG_ready:
        set_u64(v, sn->ready);
        break;
    case FIG_redis_version:
        set_str(v, sn->redis_version != NULL ? sn->redis_version : "");
        break;
    case FIG_os: {
        struct utsname u;
        if (uname(&u) != 0) {
            memset(&u, 0, sizeof(u));
        }
        snprintf(v->buf, sizeof(v->buf), "%.40s %.40s %.40s", u.sysname, u.release, u.machine);
        set_str(v, v->buf);
        break;
    }
    case FIG_gcc_version:
#ifdef __GNUC__
        snprintf(v->buf, sizeof(v->buf), "%d.%d.%d", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#else
        snprintf(v->buf, sizeof(v->buf), "0.0.0");
#endif
        set_str(v, v->buf);
        break;
    case FIG_run_id:
        set_run_id(v);
        break;
    case FIG_tcp_port:
        set_u64(v, (uint64_t)o->port);
        break;
    case FIG_server_time_usec: {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        set_u64(v, (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec);
        break;
    }
    case FIG_lru_clock:
        set_u64(v, clock_now() & 0xffffff);
        break;
    case FIG_config_file:
        set_str(v, o->config_file != NULL ? o->config_file : "");
        break;
    case FIG_started:
        set_u64(v, (uint64_t)clock_process_started() + 2);
        break;
    case FIG_commands_processed:
        set_u64(v, commands_processed(&sn->m));
        break;
    case FIG_keyspace:
        if (sn->st.curr_items == 0) {
            v->t = V_ABSENT;
        } else {
            snprintf(v->buf, sizeof(v->buf), "keys=%llu,expires=%llu,avg_ttl=0",
                     (unsigned long long)sn->st.curr_items, (unsigned long long)sn->st.expiring);
            set_str(v, v->buf);
        }
        break;
    }
}

/* Row i's value, raw (never rebased). */
static void
raw_value(const struct snap *sn, size_t i, struct val *v)
{
    const struct row *r = &rows[i];
    uint64_t u;
    switch ((enum src)r->src) {
    case SRC_W:
    case SRC_V:
        memcpy(&u, (const char *)&sn->m + r->arg, sizeof(u));
        set_u64(v, u);
        break;
    case SRC_S:
        memcpy(&u, (const char *)&sn->st + r->arg, sizeof(u));
        set_u64(v, u);
        break;
    case SRC_F:
        figure(sn, (enum fig)r->arg, v);
        break;
    case SRC_K:
        set_str(v, r->text);
        break;
    }
}

static bool
shown(const struct snap *sn, const struct row *r)
{
    switch ((enum when)r->when) {
    case WHEN_ALWAYS:
        return true;
    case WHEN_IDLE:
        return sn->env->opts->idle_timeout > 0;
    case WHEN_TLS: /* TLS is served: memcached -Z */
        return sn->env->tls_cert_age != NULL;
    case WHEN_TLS_CACHE:
        return sn->env->tls_cert_age != NULL && sn->env->opts->ssl_session_cache;
    }
    return false;
}

/* --- the reset baseline ---------------------------------------------------- */

/* The snapshot and baseline of one report or reset: a few KiB, kept off
 * the stack and per thread (each runs on one thread, start to end). */
static __thread struct snap report_snap;
static __thread uint64_t report_base[STATS_NROWS];
static __thread struct stats_class_base report_cls[STATS_BASE_CLASSES];

/* A counter row whose value can be rebased. */
static bool
rebased(const struct row *r)
{
    return r->kind == KIND_COUNTER && r->src != SRC_K;
}

/* The baseline, copied out; false when there is none. */
static bool
get_base(const struct cmd_env *env, uint64_t base[STATS_NROWS])
{
    struct stats *st = env->stats;
    if (st == NULL) {
        return false;
    }
    pthread_mutex_lock(&st->base_lock);
    bool have = st->have_base;
    if (have) {
        memcpy(base, st->base, sizeof(st->base));
    }
    pthread_mutex_unlock(&st->base_lock);
    return have;
}

static void
base_class(void *ctx, const struct store_class_stats *cs)
{
    struct stats_class_base *cls = ctx;
    if (cs->id < STATS_BASE_CLASSES) {
        cls[cs->id] = (struct stats_class_base){
            .evicted = cs->evicted,
            .evicted_nonzero = cs->evicted_nonzero,
            .evicted_unfetched = cs->evicted_unfetched,
            .expired_unfetched = cs->expired_unfetched,
            .reclaimed = cs->reclaimed,
            .outofmemory = cs->outofmemory,
        };
    }
}

void
stats_reset(const struct session *s)
{
    const struct cmd_env *env = s->env;
    struct stats *st = env->stats;
    if (st == NULL) {
        return;
    }
    uint64_t *base = report_base;
    struct stats_class_base *cls = report_cls;
    take_snap(&report_snap, env, s->metrics);
    for (size_t i = 0; i < STATS_NROWS; i++) {
        struct val v;
        base[i] = 0;
        if (rebased(&rows[i])) {
            raw_value(&report_snap, i, &v);
            base[i] = v.t == V_U64 ? v.u : 0;
        }
    }
    memset(cls, 0, sizeof(report_cls));
    store_each_class(env->store, base_class, cls);
    pthread_mutex_lock(&st->base_lock);
    memcpy(st->base, base, sizeof(st->base));
    memcpy(st->base_cls, cls, sizeof(st->base_cls));
    st->have_base = true;
    pthread_mutex_unlock(&st->base_lock);
    stats_detail_clear(st->detail); /* as memcached's reset clears its prefixes */
}

bool
stats_class_base(const struct cmd_env *env, unsigned id, struct stats_class_base *b)
{
    struct stats *st = env->stats;
    if (st == NULL || id >= STATS_BASE_CLASSES) {
        return false;
    }
    pthread_mutex_lock(&st->base_lock);
    bool have = st->have_base;
    if (have) {
        *b = st->base_cls[id];
    }
    pthread_mutex_unlock(&st->base_lock);
    return have;
}

/* Row i's value as `stats` and INFO show it: counters since the reset. */
static void
value_since(const struct snap *sn, const uint64_t *base, size_t i, struct val *v)
{
    raw_value(sn, i, v);
    if (base != NULL && rebased(&rows[i]) && v->t == V_U64) {
        /* a counter below its base was taken on another store at the same
         * address, or has wrapped: show it whole */
        v->u = v->u >= base[i] ? v->u - base[i] : v->u;
    }
}

/* The value as text, in buf (>= 64 bytes) or a view; its length in *n. */
static const char *
text_of(const struct val *v, char *buf, size_t *n)
{
    int k = 0;
    switch (v->t) {
    case V_U64:
        *n = num_u64_to_dec(v->u, buf);
        return buf;
    case V_TIME:
        k = snprintf(buf, 64, "%ld.%06ld", (long)v->tv.tv_sec, (long)v->tv.tv_usec);
        break;
    case V_RATIO:
        k = snprintf(buf, 64, "%.2f", v->d);
        break;
    case V_STR:
        *n = strlen(v->s);
        return v->s;
    case V_ABSENT:
        break;
    }
    *n = k > 0 ? (size_t)k : 0;
    return buf;
}

/* --- memcached's `stats` and Redis's INFO ------------------------------------- */

/* A row's name in the report being written, or NULL when it has none. */
typedef const char *(*row_name_fn)(const struct row *r, unsigned sec);
/* Write one field; 0 or -ENOMEM. */
typedef int (*field_fn)(void *ctx, const char *name, const char *text, size_t n);

/* Every row the report names, with its value as `stats` and INFO show it
 * (counters since the reset). */
static int
each_field(const struct session *s, const char *redis_version, row_name_fn name_of, unsigned sec,
           field_fn field, void *ctx)
{
    struct snap *sn = &report_snap;
    take_snap(sn, s->env, s->metrics);
    sn->redis_version = redis_version;
    const uint64_t *base = get_base(s->env, report_base) ? report_base : NULL;
    int rc = 0;
    for (size_t i = 0; i < STATS_NROWS && rc == 0; i++) {
        const char *name = name_of(&rows[i], sec);
        if (name == NULL || !shown(sn, &rows[i])) {
            continue;
        }
        struct val v;
        char buf[64];
        size_t n;
        value_since(sn, base, i, &v);
        const char *t = text_of(&v, buf, &n);
        if (v.t != V_ABSENT) {
            rc = field(ctx, name, t, n);
        }
    }
    return rc;
}

static const char *
mc_name(const struct row *r, unsigned sec)
{
    (void)sec;
    return r->mc;
}

struct mc_out {
    mc_stats_emit_fn emit;
    void *ctx;
};

static int
mc_field(void *ctx, const char *name, const char *text, size_t n)
{
    const struct mc_out *o = ctx;
    o->emit(o->ctx, (struct bstr){.data = name, .len = strlen(name)},
            (struct bstr){.data = text, .len = n});
    return 0;
}

void
stats_render_mc(const struct session *s, mc_stats_emit_fn emit, void *ctx)
{
    struct mc_out o = {.emit = emit, .ctx = ctx};
    (void)each_field(s, NULL, mc_name, 0, mc_field, &o);
}

static const char *const section_titles[STATS_INFO_SECTIONS] = {
    [STATS_INFO_SERVER] = "Server",   [STATS_INFO_CLIENTS] = "Clients",
    [STATS_INFO_MEMORY] = "Memory",   [STATS_INFO_PERSISTENCE] = "Persistence",
    [STATS_INFO_STATS] = "Stats",     [STATS_INFO_REPLICATION] = "Replication",
    [STATS_INFO_CPU] = "CPU",         [STATS_INFO_MODULES] = "Modules",
    [STATS_INFO_CLUSTER] = "Cluster", [STATS_INFO_KEYSPACE] = "Keyspace",
};

static const char *
info_name(const struct row *r, unsigned sec)
{
    return r->sec == sec ? r->info : NULL;
}

static int
info_field(void *ctx, const char *name, const char *text, size_t n)
{
    return buf_appendf(ctx, "%s:%.*s\r\n", name, (int)n, text);
}

int
stats_render_info(const struct session *s, enum stats_info_section sec, const char *redis_version,
                  struct buf *b)
{
    if (sec >= STATS_INFO_SECTIONS) {
        return 0;
    }
    int rc = buf_appendf(b, "# %s\r\n", section_titles[sec]);
    return rc ? rc : each_field(s, redis_version, info_name, sec, info_field, b);
}

/* --- Prometheus ------------------------------------------------------------- */

static const char *
family_help(const struct row *r)
{
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        if (strcmp(families[i].name, r->prom) == 0) {
            return families[i].help;
        }
    }
    return r->help;
}

static int
prom_sample(struct buf *b, const struct snap *sn, size_t i)
{
    const struct row *r = &rows[i];
    struct val v;
    raw_value(sn, i, &v);
    switch (v.t) {
    case V_U64:
        if (r->labels[0] != '\0') {
            return buf_appendf(b, "%s{%s} %llu\n", r->prom, r->labels, (unsigned long long)v.u);
        }
        return buf_appendf(b, "%s %llu\n", r->prom, (unsigned long long)v.u);
    case V_TIME:
        return buf_appendf(b, "%s %.6f\n", r->prom,
                           (double)v.tv.tv_sec + (double)v.tv.tv_usec / 1e6);
    case V_RATIO:
        return buf_appendf(b, "%s %g\n", r->prom, v.d);
    case V_STR:
        /* a text value is a label (labels names it), the sample 1; a
         * constant without labels is the sample itself */
        if (r->labels[0] == '\0') {
            return buf_appendf(b, "%s %s\n", r->prom, v.s);
        }
        return buf_appendf(b, "%s{%s=\"%s\"} 1\n", r->prom, r->labels, v.s);
    case V_ABSENT:
        break;
    }
    return 0;
}

int
stats_render_prom(const struct cmd_env *env, bool ready, struct buf *b)
{
    struct snap *sn = &report_snap;
    take_snap(sn, env, NULL);
    sn->ready = ready;
    int rc = 0;
    for (size_t i = 0; i < STATS_NROWS && rc == 0; i++) {
        const struct row *r = &rows[i];
        if (r->prom == NULL || !shown(sn, r)) {
            continue;
        }
        bool first = true; /* of its family: HELP and TYPE once, every sample under them */
        for (size_t j = 0; j < i && first; j++) {
            first = rows[j].prom == NULL || strcmp(rows[j].prom, r->prom) != 0;
        }
        if (!first) {
            continue;
        }
        rc = buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", r->prom, family_help(r), r->prom,
                         r->kind == KIND_GAUGE ? "gauge" : "counter");
        for (size_t j = i; j < STATS_NROWS && rc == 0; j++) {
            if (rows[j].prom != NULL && strcmp(rows[j].prom, r->prom) == 0 && shown(sn, &rows[j])) {
                rc = prom_sample(b, sn, j);
            }
        }
    }
    return rc;
}
