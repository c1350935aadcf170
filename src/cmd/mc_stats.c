/*
 * mc_stats: the figures behind memcached's `stats` command. The general
 * group is one declarative table in memcached 1.6.18's order (omitting
 * what stashd has no counterpart for: libevent, the response-object and
 * read-buffer pools, the LRU maintainer and crawler, extstore, the log
 * watcher); stashd's own counters follow it, and any worker metric the
 * table does not name is appended automatically, so a new metric shows up
 * without editing this file. Not on the hot path: printf is fine here.
 *
 * `stats reset` cannot zero the counters themselves (each worker's have a
 * single writer, the store's are the store's), so it records a baseline
 * that every later read subtracts from the counters (never the gauges).
 */
#include "cmd/mc_stats.h"
#include "cmd/mc_settings.h"
#include "cmd/mem_report.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "stashd/cmd/hotkeys.h"
#include "stashd/cmd/session.h"
#include "stashd/store/store.h"
#include "stashd/util/clock.h"
#include "stashd/util/metrics.h"
#include "stashd/util/num.h"
#include "stashd/util/options.h"

struct emitter {
    mc_stats_emit_fn emit;
    void *ctx;
};

static void
put(const struct emitter *e, const char *name, size_t nlen, const char *val, size_t vlen)
{
    e->emit(e->ctx, (struct bstr){.data = name, .len = nlen},
            (struct bstr){.data = val, .len = vlen});
}

static void
put_str(const struct emitter *e, const char *name, const char *val)
{
    put(e, name, strlen(name), val, strlen(val));
}

static void
put_u64(const struct emitter *e, const char *name, uint64_t v)
{
    char tmp[24];
    size_t n = num_u64_to_dec(v, tmp);
    put(e, name, strlen(name), tmp, n);
}

/* --- the stats reset baseline -------------------------------------------- */

/* Class ids past this keep counting from their start after a reset. */
#define BASE_CLASSES 256

/* The counters of a class that a reset zeroes. */
struct class_base {
    uint64_t evicted, evicted_nonzero, evicted_unfetched, expired_unfetched, reclaimed, outofmemory;
};

/*
 * One baseline, for the store it was taken on (a process has one store;
 * tests make many, one after another). lock guards every field; it is held
 * only to copy them in or out.
 */
static struct {
    pthread_mutex_t lock;
    const struct store *store; /* NULL: no reset yet */
    struct metrics m;
    struct store_stats st;
    struct class_base cls[BASE_CLASSES];
} mc_stats_state = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* now - base, or now when the base is stale (taken on an earlier store
 * that happened to live at the same address). */
static uint64_t
since(uint64_t now, uint64_t base)
{
    return now >= base ? now - base : now;
}

/* Subtract the baseline from the counters of m, with the kinds from the
 * metrics table. */
#define COUNTER_SINCE(now, base) since((now), (base))
#define GAUGE_SINCE(now, base) (now)
#define METRIC_SINCE(name, kind, help) m->name = kind##_SINCE(m->name, base->name);

static void
metrics_since(struct metrics *m, const struct metrics *base)
{
    STASHD_WORKER_METRICS(METRIC_SINCE)
}

static void
store_since(struct store_stats *st, const struct store_stats *base)
{
    st->total_items = since(st->total_items, base->total_items);
    st->evictions = since(st->evictions, base->evictions);
    st->evicted_nonzero = since(st->evicted_nonzero, base->evicted_nonzero);
    st->evicted_unfetched = since(st->evicted_unfetched, base->evicted_unfetched);
    st->expired_unfetched = since(st->expired_unfetched, base->expired_unfetched);
    st->reclaimed = since(st->reclaimed, base->reclaimed);
    st->outofmemory = since(st->outofmemory, base->outofmemory);
    st->slabs_moved = since(st->slabs_moved, base->slabs_moved);
}

static void
class_since(struct store_class_stats *cs, const struct class_base *b)
{
    cs->evicted = since(cs->evicted, b->evicted);
    cs->evicted_nonzero = since(cs->evicted_nonzero, b->evicted_nonzero);
    cs->evicted_unfetched = since(cs->evicted_unfetched, b->evicted_unfetched);
    cs->expired_unfetched = since(cs->expired_unfetched, b->expired_unfetched);
    cs->reclaimed = since(cs->reclaimed, b->reclaimed);
    cs->outofmemory = since(cs->outofmemory, b->outofmemory);
}

/* The current sums, as a reset or a read takes them. */
static void
sum_metrics(const struct session *s, struct metrics *m)
{
    memset(m, 0, sizeof(*m));
    if (s->env->sum_metrics != NULL) {
        s->env->sum_metrics(s->env->ctx, m);
    } else if (s->metrics != NULL) {
        metrics_accumulate(m, s->metrics);
    }
}

static void
base_class(void *ctx, const struct store_class_stats *cs)
{
    struct class_base *cls = ctx;
    if (cs->id < BASE_CLASSES) {
        cls[cs->id] = (struct class_base){
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
mc_stats_reset(const struct session *s)
{
    struct class_base cls[BASE_CLASSES]; /* 12 KiB: workers have MiB stacks */
    struct metrics m;
    struct store_stats st;
    memset(&st, 0, sizeof(st));
    memset(cls, 0, sizeof(cls));
    sum_metrics(s, &m);
    store_get_stats(s->env->store, &st);
    store_each_class(s->env->store, base_class, cls);
    pthread_mutex_lock(&mc_stats_state.lock);
    mc_stats_state.store = s->env->store;
    mc_stats_state.m = m;
    mc_stats_state.st = st;
    memcpy(mc_stats_state.cls, cls, sizeof(cls));
    pthread_mutex_unlock(&mc_stats_state.lock);
}

/* Copy the baseline for this session's store; false when there is none. */
static bool
baseline(const struct session *s, struct metrics *m, struct store_stats *st)
{
    pthread_mutex_lock(&mc_stats_state.lock);
    bool have = mc_stats_state.store == s->env->store;
    if (have) {
        *m = mc_stats_state.m;
        *st = mc_stats_state.st;
    }
    pthread_mutex_unlock(&mc_stats_state.lock);
    return have;
}

static bool
class_baseline(const struct store *store, unsigned id, struct class_base *b)
{
    if (id >= BASE_CLASSES) {
        return false;
    }
    pthread_mutex_lock(&mc_stats_state.lock);
    bool have = mc_stats_state.store == store;
    if (have) {
        *b = mc_stats_state.cls[id];
    }
    pthread_mutex_unlock(&mc_stats_state.lock);
    return have;
}

/* --- general ------------------------------------------------------------ */

enum row_src { SRC_METRIC, SRC_STORE, SRC_SPECIAL };

enum special {
    SP_PID,
    SP_UPTIME,
    SP_TIME,
    SP_VERSION,
    SP_POINTER_SIZE,
    SP_RUSAGE_USER,
    SP_RUSAGE_SYSTEM,
    SP_MAX_CONNECTIONS,
    SP_CONNECTION_STRUCTURES,
    SP_ACCEPTING_CONNS,
    SP_LISTEN_DISABLED,
    SP_THREADS,
    SP_MEMORY_TOTAL,
    SP_MEMORY_RESIDENT,
    SP_MEMORY_OTHER,
    SP_SSL_NEW_SESSIONS,
    SP_SSL_HANDSHAKE_ERRORS,
    SP_CERT_AGE,
};

struct row {
    const char *name;
    uint8_t src;  /* enum row_src */
    uint16_t arg; /* offset into struct metrics / store_stats, or enum special */
};

// clang-format off
#define MROW(f) { .name = #f, .src = SRC_METRIC, .arg = offsetof(struct metrics, f) }
#define SROW(f) { .name = #f, .src = SRC_STORE, .arg = offsetof(struct store_stats, f) }
#define XROW(n, id) { .name = (n), .src = SRC_SPECIAL, .arg = (id) }
// clang-format on

static const struct row general_rows[] = {
    XROW("pid", SP_PID),
    XROW("uptime", SP_UPTIME),
    XROW("time", SP_TIME),
    XROW("version", SP_VERSION),
    XROW("pointer_size", SP_POINTER_SIZE),
    XROW("rusage_user", SP_RUSAGE_USER),
    XROW("rusage_system", SP_RUSAGE_SYSTEM),
    XROW("max_connections", SP_MAX_CONNECTIONS),
    MROW(curr_connections),
    MROW(total_connections),
    MROW(rejected_connections),
    XROW("connection_structures", SP_CONNECTION_STRUCTURES),
    MROW(cmd_get),
    MROW(cmd_set),
    MROW(cmd_flush),
    MROW(cmd_touch),
    MROW(cmd_meta),
    MROW(get_hits),
    MROW(get_misses),
    MROW(get_expired),
    MROW(get_flushed),
    MROW(delete_misses),
    MROW(delete_hits),
    MROW(incr_misses),
    MROW(incr_hits),
    MROW(decr_misses),
    MROW(decr_hits),
    MROW(cas_misses),
    MROW(cas_hits),
    MROW(cas_badval),
    MROW(touch_hits),
    MROW(touch_misses),
    MROW(store_too_large),
    MROW(store_no_memory),
    MROW(auth_cmds),
    MROW(auth_errors),
    MROW(bytes_read),
    MROW(bytes_written),
    SROW(limit_maxbytes),
    XROW("accepting_conns", SP_ACCEPTING_CONNS),
    XROW("listen_disabled_num", SP_LISTEN_DISABLED),
    XROW("threads", SP_THREADS),
    MROW(conn_yields),
    SROW(hash_bytes),
    SROW(hash_is_expanding),
    SROW(slabs_moved),
    /* memcached -Z's, shown only while TLS is on (see put_special) */
    XROW("ssl_new_sessions", SP_SSL_NEW_SESSIONS),
    XROW("ssl_handshake_errors", SP_SSL_HANDSHAKE_ERRORS),
    XROW("time_since_server_cert_refresh", SP_CERT_AGE),
    SROW(bytes),
    SROW(curr_items),
    SROW(total_items),
    SROW(expired_unfetched),
    SROW(evicted_unfetched),
    SROW(evictions),
    SROW(reclaimed),
    /* stashd's own, after memcached's */
    SROW(evicted_nonzero),
    SROW(outofmemory),
    SROW(total_malloced),
    SROW(hash_buckets),
    SROW(shards),
    /* memory and its parts: total_malloced (items) + hash_bytes +
     * conn_buffer_bytes = memory_total; the resident set less that total
     * is memory_other (code, stacks, allocator) */
    MROW(conn_buffer_bytes),
    XROW("memory_total", SP_MEMORY_TOTAL),
    XROW("memory_resident", SP_MEMORY_RESIDENT),
    XROW("memory_other", SP_MEMORY_OTHER),
};

#define NROWS (sizeof(general_rows) / sizeof(general_rows[0]))

struct general {
    const struct session *s;
    const struct emitter *e;
    struct metrics m;
    struct store_stats st;
    struct mem_report mem; /* gauges: never relative to a stats reset */
};

static void
put_rusage(const struct emitter *e, const char *name, struct timeval tv)
{
    char tmp[48];
    int n = snprintf(tmp, sizeof(tmp), "%ld.%06ld", (long)tv.tv_sec, (long)tv.tv_usec);
    put(e, name, strlen(name), tmp, (size_t)n);
}

static void
put_special(const struct general *g, const struct row *r)
{
    const struct cmd_env *env = g->s->env;
    struct rusage ru;
    switch ((enum special)r->arg) {
    case SP_PID:
        put_u64(g->e, r->name, (uint64_t)getpid());
        break;
    case SP_UPTIME:
        put_u64(g->e, r->name, clock_now() - 2); /* the clock starts at 2 */
        break;
    case SP_TIME:
        put_u64(g->e, r->name, (uint64_t)clock_unix_now());
        break;
    case SP_VERSION:
        put_str(g->e, r->name, MC_STATS_VERSION);
        break;
    case SP_POINTER_SIZE:
        put_u64(g->e, r->name, 8 * sizeof(void *));
        break;
    case SP_RUSAGE_USER:
    case SP_RUSAGE_SYSTEM:
        if (getrusage(RUSAGE_SELF, &ru) != 0) {
            memset(&ru, 0, sizeof(ru));
        }
        put_rusage(g->e, r->name, r->arg == SP_RUSAGE_USER ? ru.ru_utime : ru.ru_stime);
        break;
    case SP_MAX_CONNECTIONS:
        put_u64(g->e, r->name, (uint64_t)env->opts->conn_limit);
        break;
    case SP_CONNECTION_STRUCTURES:
        /* One per open connection: stashd keeps no idle spares. */
        put_u64(g->e, r->name, g->m.curr_connections);
        break;
    case SP_ACCEPTING_CONNS:
        put_u64(g->e, r->name, 1);
        break;
    case SP_LISTEN_DISABLED:
        put_u64(g->e, r->name, 0); /* over the limit stashd refuses, never stops listening */
        break;
    case SP_THREADS:
        put_u64(g->e, r->name, env->threads);
        break;
    case SP_MEMORY_TOTAL:
        put_u64(g->e, r->name, g->mem.total);
        break;
    case SP_MEMORY_RESIDENT:
        put_u64(g->e, r->name, g->mem.resident);
        break;
    case SP_MEMORY_OTHER:
        put_u64(g->e, r->name, g->mem.other);
        break;
    case SP_SSL_NEW_SESSIONS: /* memcached: only with ssl_session_cache */
        if (env->tls_cert_age != NULL && env->opts->ssl_session_cache) {
            put_u64(g->e, r->name, g->m.ssl_new_sessions);
        }
        break;
    case SP_SSL_HANDSHAKE_ERRORS:
        if (env->tls_cert_age != NULL) {
            put_u64(g->e, r->name, g->m.ssl_handshake_errors);
        }
        break;
    case SP_CERT_AGE:
        if (env->tls_cert_age != NULL) {
            put_u64(g->e, r->name, env->tls_cert_age(env->ctx));
        }
        break;
    }
}

/* Rows of any source count: a metric shown by a special row (the TLS
 * counters) is not appended again. */
static bool
named_in_table(const char *name)
{
    for (size_t i = 0; i < NROWS; i++) {
        if (strcmp(general_rows[i].name, name) == 0) {
            return true;
        }
    }
    return false;
}

static void
put_extra_metric(void *ctx, const char *name, const char *kind, const char *help, uint64_t value)
{
    (void)kind;
    (void)help;
    const struct emitter *e = ctx;
    if (!named_in_table(name)) {
        put_u64(e, name, value);
    }
}

static void
render_general(const struct session *s, const struct emitter *e)
{
    struct general g = {.s = s, .e = e};
    struct metrics base_m;
    struct store_stats base_st;
    memset(&g.st, 0, sizeof(g.st));
    sum_metrics(s, &g.m);
    store_get_stats(s->env->store, &g.st);
    mem_report_fill(&g.mem, &g.m, &g.st);
    if (baseline(s, &base_m, &base_st)) {
        metrics_since(&g.m, &base_m);
        store_since(&g.st, &base_st);
    }
    for (size_t i = 0; i < NROWS; i++) {
        const struct row *r = &general_rows[i];
        uint64_t v;
        switch ((enum row_src)r->src) {
        case SRC_METRIC:
            memcpy(&v, (const char *)&g.m + r->arg, sizeof(v));
            put_u64(e, r->name, v);
            break;
        case SRC_STORE:
            memcpy(&v, (const char *)&g.st + r->arg, sizeof(v));
            put_u64(e, r->name, v);
            break;
        case SRC_SPECIAL:
            put_special(&g, r);
            break;
        }
    }
    metrics_each(&g.m, put_extra_metric, (void *)e);
}

/* --- settings ----------------------------------------------------------- */

static void
put_setting(void *ctx, const char *name, const char *value)
{
    put_str(ctx, name, value);
}

static void
render_settings(const struct session *s, const struct emitter *e)
{
    mc_settings_render(s->env->opts, put_setting, (void *)e);
}

/* --- items and slabs ---------------------------------------------------- */

/* "<prefix><id>:<field>" into buf (>= 64 bytes); returns the length. */
static size_t
class_name(char *buf, const char *prefix, unsigned id, const char *field)
{
    size_t n = strlen(prefix);
    memcpy(buf, prefix, n);
    n += num_u64_to_dec(id, buf + n);
    buf[n++] = ':';
    size_t f = strlen(field);
    memcpy(buf + n, field, f);
    return n + f;
}

static void
put_class(const struct emitter *e, const char *prefix, unsigned id, const char *field, uint64_t v)
{
    char name[96], val[24];
    size_t nn = class_name(name, prefix, id, field);
    size_t vn = num_u64_to_dec(v, val);
    put(e, name, nn, val, vn);
}

struct items_ctx {
    const struct emitter *e;
    const struct store *store;
};

/*
 * memcached's per-class item fields, in its order, for the figures the
 * store keeps. "age" is sampled at the CLOCK hands (see store_class_stats;
 * memcached reads its LRU tail); "evicted_time" is the idle time of the
 * class's latest evicted item, as memcached's. The segmented-LRU and
 * crawler fields have no counterpart.
 */
static void
item_class(void *ctx, const struct store_class_stats *cs_in)
{
    const struct items_ctx *ic = ctx;
    const struct emitter *e = ic->e;
    if (cs_in->number == 0) {
        return; /* memcached lists classes that hold items */
    }
    struct store_class_stats cs = *cs_in;
    struct class_base b;
    if (class_baseline(ic->store, cs.id, &b)) {
        class_since(&cs, &b);
    }
    put_class(e, "items:", cs.id, "number", cs.number);
    put_class(e, "items:", cs.id, "age", cs.age);
    put_class(e, "items:", cs.id, "mem_requested", cs.mem_requested);
    put_class(e, "items:", cs.id, "evicted", cs.evicted);
    put_class(e, "items:", cs.id, "evicted_nonzero", cs.evicted_nonzero);
    put_class(e, "items:", cs.id, "evicted_time", cs.evicted_time);
    put_class(e, "items:", cs.id, "outofmemory", cs.outofmemory);
    put_class(e, "items:", cs.id, "reclaimed", cs.reclaimed);
    put_class(e, "items:", cs.id, "expired_unfetched", cs.expired_unfetched);
    put_class(e, "items:", cs.id, "evicted_unfetched", cs.evicted_unfetched);
}

static void
render_items(const struct session *s, const struct emitter *e)
{
    struct items_ctx ic = {.e = e, .store = s->env->store};
    store_each_class(s->env->store, item_class, &ic);
}

struct slabs_ctx {
    const struct emitter *e;
    uint64_t active;
};

static void
slab_class(void *ctx, const struct store_class_stats *cs)
{
    struct slabs_ctx *sc = ctx;
    const struct emitter *e = sc->e;
    sc->active++;
    put_class(e, "", cs->id, "chunk_size", cs->chunk_size);
    put_class(e, "", cs->id, "chunks_per_page", cs->chunks_per_page);
    put_class(e, "", cs->id, "total_pages", cs->total_pages);
    put_class(e, "", cs->id, "total_chunks", cs->total_chunks);
    put_class(e, "", cs->id, "used_chunks", cs->used_chunks);
    put_class(e, "", cs->id, "free_chunks", cs->free_chunks);
    put_class(e, "", cs->id, "free_chunks_end", 0);
    /* memcached's per-class command counters: stashd counts commands per
     * worker, not per class, so these read 0 (the totals are in `stats`). */
    static const char *const per_class_cmds[] = {
        "get_hits",  "cmd_set",  "delete_hits", "incr_hits",
        "decr_hits", "cas_hits", "cas_badval",  "touch_hits",
    };
    for (size_t i = 0; i < sizeof(per_class_cmds) / sizeof(per_class_cmds[0]); i++) {
        put_class(e, "", cs->id, per_class_cmds[i], 0);
    }
}

static void
render_slabs(const struct session *s, const struct emitter *e)
{
    struct slabs_ctx sc = {.e = e, .active = 0};
    store_each_class(s->env->store, slab_class, &sc);
    struct store_stats st;
    memset(&st, 0, sizeof(st));
    store_get_stats(s->env->store, &st);
    put_u64(e, "active_slabs", sc.active);
    put_u64(e, "total_malloced", st.total_malloced);
}

static void
render_sizes(const struct session *s, const struct emitter *e)
{
    (void)s;
    put_str(e, "sizes_status", "disabled"); /* memcached without -o track_sizes */
}

/* --- conns -------------------------------------------------------------- */

static void
conn_row(void *ctx, const struct cmd_conn_info *ci)
{
    const struct emitter *e = ctx;
    char name[64];
    size_t n;
    n = class_name(name, "", ci->id, "addr");
    put(e, name, n, ci->addr, strlen(ci->addr));
    if (ci->listen_addr != NULL) {
        n = class_name(name, "", ci->id, "listen_addr");
        put(e, name, n, ci->listen_addr, strlen(ci->listen_addr));
    }
    n = class_name(name, "", ci->id, "state");
    put(e, name, n, ci->state, strlen(ci->state));
    char val[24];
    size_t vn = num_u64_to_dec(ci->idle_secs, val);
    n = class_name(name, "", ci->id, "secs_since_last_cmd");
    put(e, name, n, val, vn);
}

static void
render_conns(const struct session *s, const struct emitter *e)
{
    if (s->env->each_conn != NULL) {
        s->env->each_conn(s->env->ctx, conn_row, (void *)e);
    }
}

/* Groups by name; "reset", "detail" and "cachedump" are commands rather
 * than groups and live with the text protocol. */
/* stashd's own group: "STAT hotkey:<rank>:<key> <estimated reads>", the
 * most read keys first (see cmd/hotkeys.h). */
static void
render_hotkeys(const struct session *s, const struct emitter *e)
{
    enum { TOP = 20 };
    static __thread struct hotkeys_entry top[TOP];
    size_t k =
        s->env->hotkeys != NULL ? hotkeys_top(s->env->hotkeys, s->env->nhotkeys, top, TOP) : 0;
    for (size_t i = 0; i < k; i++) {
        char name[300];
        int n = snprintf(name, sizeof(name), "hotkey:%zu:%.*s", i + 1, (int)top[i].len, top[i].key);
        char val[24];
        size_t vn = num_u64_to_dec(top[i].count, val);
        put(e, name, (size_t)n, val, vn);
    }
}

typedef void (*render_fn)(const struct session *s, const struct emitter *e);

static const struct {
    const char *name;
    render_fn render;
} groups[] = {
    {"", render_general},        {"settings", render_settings}, {"items", render_items},
    {"slabs", render_slabs},     {"sizes", render_sizes},       {"conns", render_conns},
    {"hotkeys", render_hotkeys},
};

bool
mc_stats_render(const struct session *s, struct bstr group, mc_stats_emit_fn emit, void *ctx)
{
    const struct emitter e = {.emit = emit, .ctx = ctx};
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
        if (bstr_eq_cstr(group, groups[i].name)) {
            groups[i].render(s, &e);
            return true;
        }
    }
    return false;
}
