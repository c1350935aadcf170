/*
 * mc_tools: lru_crawler, stats cachedump/sizes/detail and watch (see
 * cmd/mc_tools.h). Replies are memcached 1.6.18's, checked against the
 * real server; where stashd does better than a limitation of memcached's
 * the README says so (a metadump may be pipelined; concurrent dumps are
 * not BUSY).
 *
 * Dumps. The request line stays at the front of the input while its dump
 * runs; s->dump keeps the dump's place (the store_scan cursor, counts) and
 * is freed when the dump ends or the connection closes. A slice is at
 * most DUMP_SCANS store_scan calls or DUMP_SLICE bytes of replies.
 */
#include "cmd/mc_tools.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/stats_detail.h"
#include "cmd/stats_state.h"
#include "cmd/watch.h"
#include "stashd/cmd/session.h"
#include "stashd/cmd/stats.h"
#include "stashd/proto/mc_text.h"
#include "stashd/store/store.h"
#include "stashd/util/buf.h"
#include "stashd/util/clock.h"
#include "stashd/util/options.h"

/* memcached's MAX_NUMBER_OF_SLAB_CLASSES: class ids run below it. */
#define MC_CLASS_LIMIT 64
/* Class ids a dump can name (stashd may have more classes than memcached). */
#define DUMP_CLASS_IDS 256
/* One slice of a dump: store_scan calls of DUMP_SCAN_COUNT items, and
 * bytes of replies, before the connection is given back. */
#define DUMP_SCANS 32
#define DUMP_SCAN_COUNT 64
#define DUMP_SLICE (256 * 1024)
/* memcached caps a cachedump's reply at 2 MiB. */
#define CACHEDUMP_MAX (2 * 1024 * 1024)
/* `stats sizes` buckets are 32 bytes wide; items past the last bucket
 * are counted in it. */
#define SIZES_BUCKET 32
#define SIZES_BUCKETS_MAX (1u << 20)

#define LIT(s) BSTR_LIT(s "\r\n")

enum dump_kind { DUMP_META, DUMP_CACHEDUMP, DUMP_SIZES };

struct mc_dump {
    enum dump_kind kind;
    uint64_t cursor; /* store_scan's: 0 before the first slice */
    bool started;
    uint8_t classes[DUMP_CLASS_IDS / 8]; /* metadump: the classes asked for */
    unsigned cls;                        /* cachedump: the class */
    uint32_t limit;                      /* cachedump: items, 0 = all */
    uint64_t items, bytes;               /* cachedump: sent so far */
    uint32_t *hist;                      /* sizes: counts by bucket */
    size_t nhist;
};

static void
out_append(struct session *s, const void *p, size_t n, int *err)
{
    int rc = buf_append(s->out, p, n);
    if (rc != 0 && *err == 0) {
        *err = rc;
    }
}

static void
out_line(struct session *s, struct bstr line, int *err)
{
    out_append(s, line.data, line.len, err);
}

/* The last class id (the large class): store_class_for numbers it last. */
static unsigned
last_class(const struct session *s)
{
    return store_class_for(s->env->store, 1, UINT32_MAX, NULL);
}

/* memcached's class list: "all" (and for a metadump "hash"), or ids
 * separated by commas, each a number in [1, limit). false: BADCLASS. */
static bool
parse_classes(const struct session *s, struct bstr t, bool hash_ok, uint8_t *set)
{
    memset(set, 0, DUMP_CLASS_IDS / 8);
    if (bstr_eq(t, BSTR_LIT("all")) || (hash_ok && bstr_eq(t, BSTR_LIT("hash")))) {
        memset(set, 0xff, DUMP_CLASS_IDS / 8);
        return true;
    }
    unsigned last = last_class(s);
    unsigned limit = last >= MC_CLASS_LIMIT ? last + 1 : MC_CLASS_LIMIT;
    size_t i = 0;
    while (i < t.len) {
        size_t j = i;
        while (j < t.len && t.data[j] != ',') {
            j++;
        }
        if (j > i) { /* strtok skips empty pieces */
            uint32_t id;
            struct bstr piece = {.data = t.data + i, .len = j - i};
            if (!mc_text_u32(piece, &id) || id < 1 || id >= limit || id >= DUMP_CLASS_IDS) {
                return false;
            }
            set[id / 8] |= (uint8_t)(1u << (id % 8));
        }
        i = j + 1;
    }
    return true;
}

static bool
class_in(const uint8_t *set, unsigned id)
{
    return id < DUMP_CLASS_IDS && (set[id / 8] & (1u << (id % 8))) != 0;
}

/* --- the dumps -------------------------------------------------------------- */

struct walk {
    struct session *s;
    struct mc_dump *d;
    int *err;
    bool full; /* cachedump: its limit or cap was reached */
};

/* The key, URI-encoded as memcached's metadump prints it. */
static void
put_uri(struct session *s, const char *in, size_t n, int *err)
{
    char out[3 * STORE_KEY_MAX];
    out_append(s, out, stats_uri_encode(in, n < STORE_KEY_MAX ? n : STORE_KEY_MAX, out), err);
}

/* An item's expiry as a Unix time, 0 for none. */
static int64_t
unix_expiry(const struct store_item_view *v)
{
    if (v->exptime == 0) {
        return 0;
    }
    return v->expire_ms != 0 ? v->expire_ms / 1000 : clock_rel_to_unix(v->exptime);
}

/* Under the item's shard lock: format and copy only. */
static void
meta_item(void *ctx, const struct store_item_view *v)
{
    struct walk *w = ctx;
    uint32_t size;
    unsigned cls = store_class_for(w->s->env->store, v->nkey, v->nbytes, &size);
    if (v->type != STORE_TYPE_STRING || !class_in(w->d->classes, cls)) {
        return;
    }
    int64_t exp = unix_expiry(v);
    char tail[160];
    int n = snprintf(tail, sizeof(tail), " exp=%lld la=%lld cas=%llu fetch=%s cls=%u size=%u\n",
                     exp == 0 ? -1LL : (long long)exp, (long long)clock_rel_to_unix(v->atime),
                     (unsigned long long)v->cas, v->fetched ? "yes" : "no", cls, size);
    out_append(w->s, "key=", 4, w->err);
    put_uri(w->s, v->key, v->nkey, w->err);
    out_append(w->s, tail, (size_t)n, w->err);
}

static void
cachedump_item(void *ctx, const struct store_item_view *v)
{
    struct walk *w = ctx;
    struct mc_dump *d = w->d;
    if (w->full || v->type != STORE_TYPE_STRING ||
        store_class_for(w->s->env->store, v->nkey, v->nbytes, NULL) != d->cls) {
        return;
    }
    char line[STORE_KEY_MAX + 64];
    int n = snprintf(line, sizeof(line), "ITEM %.*s [%u b; %lld s]\r\n", (int)v->nkey, v->key,
                     v->nbytes, (long long)unix_expiry(v));
    if ((d->limit != 0 && d->items >= d->limit) || d->bytes + (size_t)n > CACHEDUMP_MAX) {
        w->full = true;
        return;
    }
    d->items++;
    d->bytes += (size_t)n;
    out_append(w->s, line, (size_t)n, w->err);
}

static void
sizes_item(void *ctx, const struct store_item_view *v)
{
    struct walk *w = ctx;
    uint32_t size;
    (void)store_class_for(w->s->env->store, v->nkey, v->nbytes, &size);
    size_t b = (size + SIZES_BUCKET - 1) / SIZES_BUCKET;
    w->d->hist[b < w->d->nhist ? b : w->d->nhist - 1]++;
}

static const store_read_fn dump_fns[] = {
    [DUMP_META] = meta_item,
    [DUMP_CACHEDUMP] = cachedump_item,
    [DUMP_SIZES] = sizes_item,
};

static void
dump_free(struct session *s)
{
    struct mc_dump *d = s->dump;
    if (d == NULL) {
        return;
    }
    struct stats *st = s->env->stats;
    if (d->kind == DUMP_META && st != NULL) {
        __atomic_fetch_sub(&st->dumps_running, 1, __ATOMIC_RELAXED);
    }
    free(d->hist);
    free(d);
    s->dump = NULL;
}

void
mc_tools_dump_end(struct session *s)
{
    dump_free(s);
}

static struct mc_dump *
dump_new(struct session *s, enum dump_kind kind)
{
    struct mc_dump *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        return NULL;
    }
    d->kind = kind;
    if (kind == DUMP_SIZES) {
        uint64_t n = s->env->opts->max_item_size / SIZES_BUCKET + 2;
        d->nhist = n < SIZES_BUCKETS_MAX ? (size_t)n : SIZES_BUCKETS_MAX;
        d->hist = calloc(d->nhist, sizeof(*d->hist));
        if (d->hist == NULL) {
            free(d);
            return NULL;
        }
    }
    struct stats *st = s->env->stats;
    if (kind == DUMP_META && st != NULL) {
        __atomic_fetch_add(&st->dumps_running, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&st->crawler_starts, 1, __ATOMIC_RELAXED);
    }
    s->dump = d;
    return d;
}

static void
sizes_finish(struct session *s, const struct mc_dump *d, int *err)
{
    for (size_t i = 0; i < d->nhist; i++) {
        if (d->hist[i] != 0) {
            char line[64];
            int n = snprintf(line, sizeof(line), "STAT %zu %u\r\n", i * SIZES_BUCKET, d->hist[i]);
            out_append(s, line, (size_t)n, err);
        }
    }
}

/* One slice of the dump in s->dump; ends it after its last slice. */
static enum mc_tool_rc
dump_slice(struct session *s, int *err)
{
    struct mc_dump *d = s->dump;
    struct walk w = {.s = s, .d = d, .err = err};
    size_t start = buf_readable(s->out);
    for (unsigned i = 0; i < DUMP_SCANS && *err == 0; i++) {
        /* what memcached's get finds: strings of RESP's database 0 */
        d->cursor = store_scan(s->env->store, store_db_phys(s->env->store, 0), d->cursor,
                               DUMP_SCAN_COUNT, dump_fns[d->kind], &w);
        d->started = true;
        if (d->cursor == 0 || w.full || buf_readable(s->out) - start >= DUMP_SLICE) {
            break;
        }
    }
    if (d->cursor != 0 && !w.full) {
        return buf_readable(s->out) > SESSION_OUT_HIGH ? MC_TOOL_PAUSE : MC_TOOL_YIELD;
    }
    if (d->kind == DUMP_SIZES) {
        sizes_finish(s, d, err);
    }
    out_line(s, LIT("END"), err);
    dump_free(s);
    return MC_TOOL_DONE;
}

/* Start (or go on with) a dump of this kind. */
static enum mc_tool_rc
dump_run(struct session *s, enum dump_kind kind, int *err)
{
    if (s->dump == NULL && dump_new(s, kind) == NULL) {
        out_line(s, LIT("SERVER_ERROR out of memory"), err);
        return MC_TOOL_DONE;
    }
    return dump_slice(s, err);
}

/* --- lru_crawler -------------------------------------------------------- */

static bool
crawler_enabled(const struct session *s)
{
    const struct stats *st = s->env->stats;
    return st == NULL || __atomic_load_n(&st->crawler_enabled, __ATOMIC_RELAXED);
}

enum mc_tool_rc
mc_tools_lru_crawler(struct session *s, const struct mc_text_req *r, int *err)
{
    struct stats *st = s->env->stats;
    struct bstr sub = r->ntok > 1 ? r->tok[1] : (struct bstr){.data = "", .len = 0};
    if (s->dump != NULL) {
        return dump_slice(s, err); /* a metadump going on */
    }
    if (r->ntok == 3 && (bstr_eq(sub, BSTR_LIT("crawl")) || bstr_eq(sub, BSTR_LIT("metadump")))) {
        bool meta = bstr_eq(sub, BSTR_LIT("metadump"));
        uint8_t classes[DUMP_CLASS_IDS / 8];
        if (!crawler_enabled(s)) {
            out_line(s, LIT("CLIENT_ERROR lru crawler disabled"), err);
        } else if (!parse_classes(s, r->tok[2], meta, classes)) {
            out_line(s, LIT("BADCLASS invalid class id"), err);
        } else if (meta) {
            struct mc_dump *d = dump_new(s, DUMP_META);
            if (d == NULL) {
                out_line(s, LIT("SERVER_ERROR out of memory"), err);
                return MC_TOOL_DONE;
            }
            memcpy(d->classes, classes, sizeof(classes));
            return dump_slice(s, err);
        } else {
            /* The background reclaimer frees expired items all the time;
             * a crawl asks for nothing more. */
            if (st != NULL) {
                __atomic_fetch_add(&st->crawler_starts, 1, __ATOMIC_RELAXED);
            }
            out_line(s, LIT("OK"), err);
        }
        return MC_TOOL_DONE;
    }
    if (r->ntok == 3 && (bstr_eq(sub, BSTR_LIT("tocrawl")) || bstr_eq(sub, BSTR_LIT("sleep")))) {
        uint32_t v;
        bool sleep = bstr_eq(sub, BSTR_LIT("sleep"));
        if (!mc_text_u32(r->tok[2], &v)) {
            out_line(s, LIT("CLIENT_ERROR bad command line format"), err);
        } else if (sleep && v > 1000000) {
            out_line(s, LIT("CLIENT_ERROR sleep must be one second or less"), err);
        } else {
            if (st != NULL) {
                __atomic_store_n(sleep ? &st->crawler_sleep : &st->crawler_tocrawl, v,
                                 __ATOMIC_RELAXED);
            }
            out_line(s, LIT("OK"), err);
        }
        return MC_TOOL_DONE;
    }
    if (r->ntok == 2 && bstr_eq(sub, BSTR_LIT("enable"))) {
        /* memcached refuses to start a crawler thread that runs already */
        bool was = st != NULL && __atomic_exchange_n(&st->crawler_enabled, true, __ATOMIC_RELAXED);
        out_line(s, was || st == NULL ? LIT("ERROR failed to start lru crawler thread") : LIT("OK"),
                 err);
        return MC_TOOL_DONE;
    }
    if (r->ntok == 2 && bstr_eq(sub, BSTR_LIT("disable"))) {
        if (st != NULL) {
            __atomic_store_n(&st->crawler_enabled, false, __ATOMIC_RELAXED);
        }
        out_line(s, LIT("OK"), err);
        return MC_TOOL_DONE;
    }
    out_line(s, LIT("ERROR"), err);
    return MC_TOOL_DONE;
}

/* --- stats groups ------------------------------------------------------- */

void
mc_tools_detail_set(struct session *s, bool on)
{
    struct stats *st = s->env->stats;
    if (st != NULL) {
        stats_want(st, on ? STATS_WANT_DETAIL : 0, on ? 0 : STATS_WANT_DETAIL);
    }
}

int
mc_tools_detail_dump(struct session *s, struct buf *out)
{
    struct stats *st = s->env->stats;
    return st != NULL ? stats_detail_dump(st->detail, out) : 0;
}

/* "stats detail on|off|dump" */
static void
stats_detail(struct session *s, const struct mc_text_req *r, int *err)
{
    struct bstr arg = r->ntok > 2 ? r->tok[2] : (struct bstr){.data = "", .len = 0};
    if (bstr_eq(arg, BSTR_LIT("on")) || bstr_eq(arg, BSTR_LIT("off"))) {
        mc_tools_detail_set(s, bstr_eq(arg, BSTR_LIT("on")));
        out_line(s, LIT("OK"), err);
    } else if (bstr_eq(arg, BSTR_LIT("dump"))) {
        int rc = mc_tools_detail_dump(s, s->out);
        if (rc != 0 && *err == 0) {
            *err = rc;
        }
        out_line(s, LIT("END"), err);
    } else {
        out_line(s, LIT("CLIENT_ERROR usage: stats detail on|off|dump"), err);
    }
}

/* "stats cachedump <class> <limit>": memcached's checks, then the keys of
 * the class (memcached walks the class's LRU from its head; stashd walks
 * the keyspace: the same keys, in another order). */
static enum mc_tool_rc
stats_cachedump(struct session *s, const struct mc_text_req *r, int *err)
{
    if (s->dump != NULL) {
        return dump_slice(s, err);
    }
    uint32_t id, limit;
    if (r->ntok < 4) {
        out_line(s, LIT("CLIENT_ERROR bad command line"), err);
    } else if (!mc_text_u32(r->tok[2], &id) || !mc_text_u32(r->tok[3], &limit)) {
        out_line(s, LIT("CLIENT_ERROR bad command line format"), err);
    } else if (id >= MC_CLASS_LIMIT) {
        out_line(s, LIT("CLIENT_ERROR Illegal slab id"), err);
    } else {
        struct mc_dump *d = dump_new(s, DUMP_CACHEDUMP);
        if (d == NULL) {
            out_line(s, LIT("SERVER_ERROR out of memory"), err);
            return MC_TOOL_DONE;
        }
        d->cls = id;
        d->limit = limit;
        return dump_slice(s, err);
    }
    return MC_TOOL_DONE;
}

static bool
sizes_on(const struct session *s)
{
    const struct stats *st = s->env->stats;
    return st != NULL && __atomic_load_n(&st->sizes_enabled, __ATOMIC_RELAXED);
}

bool
mc_tools_stats(struct session *s, const struct mc_text_req *r, enum mc_tool_rc *rc, int *err)
{
    struct bstr group = r->ntok > 1 ? r->tok[1] : (struct bstr){.data = "", .len = 0};
    struct stats *st = s->env->stats;
    *rc = MC_TOOL_DONE;
    if (bstr_eq(group, BSTR_LIT("detail"))) {
        stats_detail(s, r, err);
    } else if (bstr_eq(group, BSTR_LIT("cachedump"))) {
        *rc = stats_cachedump(s, r, err);
    } else if (bstr_eq(group, BSTR_LIT("sizes"))) {
        if (s->dump != NULL || sizes_on(s)) {
            *rc = dump_run(s, DUMP_SIZES, err);
        } else {
            out_line(s, LIT("STAT sizes_status disabled"), err);
            out_line(s, LIT("END"), err);
        }
    } else if (bstr_eq(group, BSTR_LIT("sizes_enable")) ||
               bstr_eq(group, BSTR_LIT("sizes_disable"))) {
        bool on = bstr_eq(group, BSTR_LIT("sizes_enable")) && st != NULL;
        if (st != NULL) {
            __atomic_store_n(&st->sizes_enabled, on, __ATOMIC_RELAXED);
        }
        /* memcached sends no END after these two */
        out_line(s, on ? LIT("STAT sizes_status enabled") : LIT("STAT sizes_status disabled"), err);
    } else {
        return false;
    }
    return true;
}

void
mc_tools_sizes_now(struct session *s, mc_stats_emit_fn emit, void *ctx)
{
    if (!sizes_on(s)) {
        emit(ctx, BSTR_LIT("sizes_status"), BSTR_LIT("disabled"));
        return;
    }
    struct mc_dump *d = s->dump != NULL ? NULL : dump_new(s, DUMP_SIZES);
    if (d == NULL) {
        return; /* no memory, or a text dump running on this very session */
    }
    int err = 0;
    struct walk w = {.s = s, .d = d, .err = &err};
    do { /* the whole store, a slice under each shard lock at a time */
        d->cursor =
            store_scan(s->env->store, STORE_DB_ANY, d->cursor, DUMP_SCAN_COUNT, sizes_item, &w);
    } while (d->cursor != 0);
    for (size_t i = 0; i < d->nhist; i++) {
        if (d->hist[i] != 0) {
            char name[24], val[24];
            int nn = snprintf(name, sizeof(name), "%zu", i * SIZES_BUCKET);
            int nv = snprintf(val, sizeof(val), "%u", d->hist[i]);
            emit(ctx, (struct bstr){.data = name, .len = (size_t)nn},
                 (struct bstr){.data = val, .len = (size_t)nv});
        }
    }
    dump_free(s);
}

/* --- watch -------------------------------------------------------------- */

static const struct {
    const char *name;
    unsigned bits;
} watch_classes[] = {
    {"rawcmds", STATS_WANT_RAWCMDS},     {"evictions", STATS_WANT_EVICTIONS},
    {"fetchers", STATS_WANT_FETCHERS},   {"mutations", STATS_WANT_MUTATIONS},
    {"sysevents", STATS_WANT_SYSEVENTS}, {"connevents", STATS_WANT_CONNEVENTS},
    {"proxyreqs", STATS_WANT_PROXY},     {"proxyevents", STATS_WANT_PROXY},
    {"proxyuser", STATS_WANT_PROXY},
};

void
mc_tools_watch(struct session *s, const struct mc_text_req *r, int *err)
{
    unsigned flags = r->ntok > 1 ? 0 : STATS_WANT_FETCHERS;
    for (unsigned i = 1; i < r->ntok; i++) {
        unsigned bits = 0;
        for (size_t j = 0; j < sizeof(watch_classes) / sizeof(watch_classes[0]) && !bits; j++) {
            if (bstr_eq_cstr(r->tok[i], watch_classes[j].name)) {
                bits = watch_classes[j].bits;
            }
        }
        if (bits == 0) {
            out_line(s, LIT("ERROR"), err);
            return;
        }
        flags |= bits;
    }
    struct stats *st = s->env->stats;
    enum watch_add_rc rc = st != NULL ? watch_add(st->watch, flags, &s->watcher) : WATCH_FAILED;
    switch (rc) {
    case WATCH_ADDED:
        out_line(s, LIT("OK"), err);
        break;
    case WATCH_TOO_MANY:
        out_line(s, LIT("WATCHER_TOO_MANY log watcher limit reached"), err);
        break;
    case WATCH_FAILED:
        out_line(s, LIT("WATCHER_FAILED failed to add log watcher"), err);
        break;
    }
}
