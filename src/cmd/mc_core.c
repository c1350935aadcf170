/*
 * mc_core: memcached's shared semantics (see mc_core.h).
 */
#include "cmd/mc_core.h"

#include "cmd/stats_detail.h"
#include "cmd/stats_state.h"
#include "cmd/watch.h"
#include "stashd/util/clock.h"
#include "stashd/util/metrics.h"

void
mc_core_too_large(struct session *s, const struct store_key *k, bool drop_old, bool count)
{
    if (count) {
        METRIC_INC(s->metrics, store_too_large);
    }
    if (drop_old) {
        (void)store_delete(s->env->store, k, 0);
    }
}

void
mc_core_store_failed(struct session *s, const struct store_key *k, enum store_rc rc, bool drop_old)
{
    if (rc == STORE_TOO_LARGE) {
        mc_core_too_large(s, k, drop_old, true);
        return;
    }
    METRIC_INC(s->metrics, store_no_memory);
    if (drop_old) {
        (void)store_delete(s->env->store, k, 0);
    }
}

enum store_rc
mc_core_arith(struct session *s, const struct store_key *k, struct store_arith_req *r,
              uint64_t *value, uint64_t *cas)
{
    struct metrics *m = s->metrics;
    bool created = false;
    bool *created_out = r->created_out;
    if (created_out == NULL) {
        r->created_out = &created;
    }
    enum store_rc rc = store_arith(s->env->store, k, r, value, cas);
    created = *r->created_out;
    r->created_out = created_out;
    if (rc == STORE_OK && !created) {
        if (r->incr) {
            METRIC_INC(m, incr_hits);
        } else {
            METRIC_INC(m, decr_hits);
        }
    } else if (rc == STORE_NOT_FOUND) {
        if (r->incr) {
            METRIC_INC(m, incr_misses);
        } else {
            METRIC_INC(m, decr_misses);
        }
    }
    return rc;
}

enum store_rc
mc_core_delete(struct session *s, const struct store_key *k, uint64_t cas)
{
    enum store_rc rc = store_delete(s->env->store, k, cas);
    if (__builtin_expect(s->want & STATS_WANT_DETAIL, 0)) {
        mc_core_note_delete(s, k);
    }
    if (rc == STORE_OK) {
        METRIC_INC(s->metrics, delete_hits);
    } else if (rc == STORE_NOT_FOUND) {
        METRIC_INC(s->metrics, delete_misses);
    }
    return rc;
}

void
mc_core_flush(struct session *s, int64_t delay)
{
    uint32_t at = 0;
    if (delay > 0) {
        at = clock_exptime_to_rel(delay);
        if (at <= clock_now()) {
            at = 0;
        }
    }
    store_flush(s->env->store, at);
}

/* --- watch and stats detail (cold: only while someone asked) ----------- */

/* What a watched read saw of the item, under its lock. */
struct noted_read {
    store_read_fn fn;
    void *ctx;
    uint32_t nbytes;
};

static void
noted_value(void *ctx, const struct store_item_view *v)
{
    struct noted_read *nr = ctx;
    nr->nbytes = v->nbytes;
    nr->fn(nr->ctx, v);
}

void
mc_core_note_get(struct session *s, const struct store_key *k, enum store_miss miss, bool found,
                 uint32_t nbytes, bool is_get)
{
    struct stats *st = s->env->stats;
    unsigned want = stats_wanted(st);
    if ((want & STATS_WANT_DETAIL) && is_get) {
        stats_detail_record(st->detail, k->data, k->len, STATS_DETAIL_GET, found);
    }
    if (want & STATS_WANT_FETCHERS) {
        enum watch_get_status status = found                        ? WATCH_GET_FOUND
                                       : miss == STORE_MISS_EXPIRED ? WATCH_GET_EXPIRED
                                       : miss == STORE_MISS_FLUSHED ? WATCH_GET_FLUSHED
                                                                    : WATCH_GET_NOT_FOUND;
        unsigned cls = found ? store_class_for(s->env->store, k->len, nbytes, NULL) : 0;
        watch_log_get(st->watch, k->data, k->len, status, cls, s->id, found ? nbytes : 0);
    }
}

enum store_rc
mc_core_read_noted(struct session *s, const struct store_key *k, const struct store_get_opts *o,
                   store_read_fn fn, void *ctx, bool is_get)
{
    struct noted_read nr = {.fn = fn, .ctx = ctx};
    enum store_miss miss = STORE_MISS_NONE;
    enum store_rc rc = store_get(s->env->store, k, o, noted_value, &nr, &miss);
    mc_core_count_read(s, k, o, rc, miss);
    mc_core_note_get(s, k, miss, rc == STORE_OK, nr.nbytes, is_get);
    return rc;
}

void
mc_core_note_store(struct session *s, const struct store_key *k, const struct store_set_req *r,
                   enum store_rc rc)
{
    static const enum watch_store_status status[] = {
        [STORE_OK] = WATCH_STORE_STORED,
        [STORE_NOT_FOUND] = WATCH_STORE_NOT_FOUND,
        [STORE_EXISTS] = WATCH_STORE_EXISTS,
        [STORE_NOT_STORED] = WATCH_STORE_NOT_STORED,
        [STORE_TOO_LARGE] = WATCH_STORE_TOO_LARGE,
        [STORE_NO_MEMORY] = WATCH_STORE_NO_MEMORY,
        [STORE_NON_NUMERIC] = WATCH_STORE_NOT_STORED,
    };
    static const enum watch_store_cmd cmds[] = {
        [STORE_MODE_SET] = WATCH_CMD_SET,         [STORE_MODE_ADD] = WATCH_CMD_ADD,
        [STORE_MODE_REPLACE] = WATCH_CMD_REPLACE, [STORE_MODE_APPEND] = WATCH_CMD_APPEND,
        [STORE_MODE_PREPEND] = WATCH_CMD_PREPEND, [STORE_MODE_CAS] = WATCH_CMD_CAS,
    };
    struct stats *st = s->env->stats;
    unsigned want = stats_wanted(st);
    if (want & STATS_WANT_DETAIL) {
        stats_detail_record(st->detail, k->data, k->len, STATS_DETAIL_SET, false);
    }
    if (want & STATS_WANT_MUTATIONS) {
        /* memcached: the seconds the item had to live when stored, 0 for none */
        uint32_t ttl = 0;
        if (r->expire_ms != 0) {
            int64_t left = (r->expire_ms - store_now_ms()) / 1000;
            ttl = left > 0 ? (uint32_t)left : 0;
        } else if (r->exptime != 0) {
            ttl = r->exptime > clock_now() ? r->exptime - clock_now() : 0;
        }
        bool sized = rc != STORE_TOO_LARGE;
        unsigned cls = sized ? store_class_for(s->env->store, k->len, r->nbytes, NULL) : 0;
        watch_log_store(st->watch, k->data, k->len, status[rc], cmds[r->mode], ttl, cls, s->id,
                        r->nbytes);
    }
}

void
mc_core_note_delete(struct session *s, const struct store_key *k)
{
    struct stats *st = s->env->stats;
    if (stats_wanted(st) & STATS_WANT_DETAIL) {
        stats_detail_record(st->detail, k->data, k->len, STATS_DETAIL_DEL, false);
    }
}
