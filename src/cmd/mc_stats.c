/*
 * mc_stats: memcached's `stats` groups. The general group is generated from
 * the table of figures (cmd/stats_render.c); settings from the option
 * table (cmd/mc_settings.c); items, slabs and conns from the store's and
 * net/'s figures here. Not on the hot path: printf is fine here.
 *
 * `stats reset` takes the server's baseline (cmd/stats_render.h says what
 * it does to each output); `stats items` reads its per-class counters
 * since then.
 */
#include "cmd/mc_stats.h"
#include "cmd/mc_settings.h"
#include "cmd/mc_tools.h"
#include "cmd/stats_render.h"
#include "cmd/stats_state.h"

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

/* --- general ------------------------------------------------------------ */

static void
render_general(const struct session *s, const struct emitter *e)
{
    stats_render_mc(s, e->emit, e->ctx);
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
    const struct cmd_env *env;
};

/* now - base, or now when below it (a counter that wrapped). */
static uint64_t
since(uint64_t now, uint64_t base)
{
    return now >= base ? now - base : now;
}

static void
class_since(struct store_class_stats *cs, const struct stats_class_base *b)
{
    cs->evicted = since(cs->evicted, b->evicted);
    cs->evicted_nonzero = since(cs->evicted_nonzero, b->evicted_nonzero);
    cs->evicted_unfetched = since(cs->evicted_unfetched, b->evicted_unfetched);
    cs->expired_unfetched = since(cs->expired_unfetched, b->expired_unfetched);
    cs->reclaimed = since(cs->reclaimed, b->reclaimed);
    cs->outofmemory = since(cs->outofmemory, b->outofmemory);
}

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
    struct stats_class_base b;
    if (stats_class_base(ic->env, cs.id, &b)) {
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
    struct items_ctx ic = {.e = e, .env = s->env};
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

/* Binary's `stats sizes` (the text protocol streams it: cmd/mc_tools.c). */
static void
render_sizes(const struct session *s, const struct emitter *e)
{
    mc_tools_sizes_now((struct session *)s, e->emit, e->ctx);
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
