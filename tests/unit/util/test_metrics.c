/*
 * Unit tests for util/metrics: the table of figures (STASHD_STATS) keeps
 * the rules its outputs rely on, and struct metrics sums.
 *
 *  - the rows with a memcached name come first and are exactly memcached
 *    1.6.18's `stats` fields, in its order (idle_kicks where memcached
 *    prints it when -o idle_timeout is set, the ssl_ rows where -Z prints
 *    them), then stashd's own;
 *  - every memcached, INFO (per section) and Prometheus name is on one row
 *    only, except the rows of a Prometheus family, which share a name and
 *    a type, differ in labels and have a family help;
 *  - a constant that is a counter is 0 (a figure stashd cannot measure);
 *    a per-worker field is not a clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "stashd/util/metrics.h"

struct trow {
    const char *src, *kind, *when, *mc, *sec, *info, *prom, *labels, *help, *text;
};

#define TEXT_W(id) #id
#define TEXT_V(id) #id
#define TEXT_S(id) #id
#define TEXT_F(id) #id
#define TEXT_K(id) id
#define TROW(src_, id_, kind_, when_, mc_, sec_, info_, prom_, labels_, help_)                     \
    {#src_, #kind_, #when_, mc_, #sec_, info_, prom_, labels_, help_, TEXT_##src_(id_)},

static const struct trow rows[] = {STASHD_STATS(TROW)};
#define NROWS (sizeof(rows) / sizeof(rows[0]))

#define TFAM(name_, help_) name_,
static const char *const families[] = {STASHD_STATS_FAMILIES(TFAM)};

/* memcached 1.6.18's `stats`, default settings plus -o idle_timeout and
 * -Z with ssl_session_cache, in its order (Debian's memcached 1.6.18, read
 * off the wire). */
static const char *const memcached_fields[] = {
    "pid",
    "uptime",
    "time",
    "version",
    "libevent",
    "pointer_size",
    "rusage_user",
    "rusage_system",
    "max_connections",
    "curr_connections",
    "total_connections",
    "rejected_connections",
    "connection_structures",
    "response_obj_oom",
    "response_obj_count",
    "response_obj_bytes",
    "read_buf_count",
    "read_buf_bytes",
    "read_buf_bytes_free",
    "read_buf_oom",
    "reserved_fds",
    "cmd_get",
    "cmd_set",
    "cmd_flush",
    "cmd_touch",
    "cmd_meta",
    "get_hits",
    "get_misses",
    "get_expired",
    "get_flushed",
    "delete_misses",
    "delete_hits",
    "incr_misses",
    "incr_hits",
    "decr_misses",
    "decr_hits",
    "cas_misses",
    "cas_hits",
    "cas_badval",
    "touch_hits",
    "touch_misses",
    "store_too_large",
    "store_no_memory",
    "auth_cmds",
    "auth_errors",
    "idle_kicks",
    "bytes_read",
    "bytes_written",
    "limit_maxbytes",
    "accepting_conns",
    "listen_disabled_num",
    "time_in_listen_disabled_us",
    "threads",
    "conn_yields",
    "hash_power_level",
    "hash_bytes",
    "hash_is_expanding",
    "slab_reassign_rescues",
    "slab_reassign_chunk_rescues",
    "slab_reassign_evictions_nomem",
    "slab_reassign_inline_reclaim",
    "slab_reassign_busy_items",
    "slab_reassign_busy_deletes",
    "slab_reassign_running",
    "slabs_moved",
    "lru_crawler_running",
    "lru_crawler_starts",
    "lru_maintainer_juggles",
    "malloc_fails",
    "log_worker_dropped",
    "log_worker_written",
    "log_watcher_skipped",
    "log_watcher_sent",
    "log_watchers",
    "ssl_new_sessions",
    "ssl_handshake_errors",
    "time_since_server_cert_refresh",
    "unexpected_napi_ids",
    "round_robin_fallback",
    "bytes",
    "curr_items",
    "total_items",
    "slab_global_page_pool",
    "expired_unfetched",
    "evicted_unfetched",
    "evicted_active",
    "evictions",
    "reclaimed",
    "crawler_reclaimed",
    "crawler_items_checked",
    "lrutail_reflocked",
    "moves_to_cold",
    "moves_to_warm",
    "moves_within_lru",
    "direct_reclaims",
    "lru_bumps_dropped",
};
#define NMEMCACHED (sizeof(memcached_fields) / sizeof(memcached_fields[0]))

static bool
same(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static void
test_memcached_order(void **state)
{
    (void)state;
    size_t i = 0;
    for (; i < NMEMCACHED; i++) {
        assert_true(i < NROWS);
        if (!same(rows[i].mc, memcached_fields[i])) {
            fail_msg("row %zu is %s, memcached has %s", i, rows[i].mc ? rows[i].mc : "(none)",
                     memcached_fields[i]);
        }
        /* what memcached prints only with an option, stashd shows with the same */
        if (same(rows[i].mc, "idle_kicks")) {
            assert_string_equal(rows[i].when, "IDLE");
        } else if (same(rows[i].mc, "ssl_new_sessions")) {
            assert_string_equal(rows[i].when, "TLS_CACHE");
        } else if (strncmp(rows[i].mc, "ssl_", 4) == 0 ||
                   same(rows[i].mc, "time_since_server_cert_refresh")) {
            assert_string_equal(rows[i].when, "TLS");
        } else {
            assert_string_equal(rows[i].when, "ALWAYS");
        }
    }
    /* stashd's own next, then rows no `stats` shows */
    while (i < NROWS && rows[i].mc != NULL) {
        i++;
    }
    for (; i < NROWS; i++) {
        if (rows[i].mc != NULL) {
            fail_msg("%s: a `stats` row after the rows without one", rows[i].mc);
        }
    }
}

static bool
is_family(const char *name)
{
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        if (strcmp(families[i], name) == 0) {
            return true;
        }
    }
    return false;
}

static void
test_names_unique(void **state)
{
    (void)state;
    for (size_t i = 0; i < NROWS; i++) {
        for (size_t j = i + 1; j < NROWS; j++) {
            if (same(rows[i].mc, rows[j].mc)) {
                fail_msg("stats name %s twice", rows[i].mc);
            }
            if (same(rows[i].info, rows[j].info) && strcmp(rows[i].sec, rows[j].sec) == 0) {
                fail_msg("INFO name %s twice", rows[i].info);
            }
            if (same(rows[i].prom, rows[j].prom)) {
                if (!is_family(rows[i].prom)) {
                    fail_msg("%s on two rows but not a family", rows[i].prom);
                }
                bool counter_i = strcmp(rows[i].kind, "GAUGE") != 0;
                bool counter_j = strcmp(rows[j].kind, "GAUGE") != 0;
                assert_true(counter_i == counter_j);
                assert_string_not_equal(rows[i].labels, rows[j].labels);
            }
        }
        assert_true((rows[i].info == NULL) == (strcmp(rows[i].sec, "NONE") == 0));
        assert_true(rows[i].prom != NULL || rows[i].labels[0] == '\0');
        assert_true(rows[i].help[0] != '\0');
    }
}

static void
test_kinds(void **state)
{
    (void)state;
    for (size_t i = 0; i < NROWS; i++) {
        const struct trow *r = &rows[i];
        if (strcmp(r->src, "K") == 0 && strcmp(r->kind, "COUNTER") == 0) {
            assert_string_equal(r->text, "0");
        }
        if (strcmp(r->src, "W") == 0 || strcmp(r->src, "V") == 0) {
            assert_string_not_equal(r->kind, "CLOCK");
        }
    }
}

static void
test_accumulate(void **state)
{
    (void)state;
    struct metrics a, b, sum;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    memset(&sum, 0, sizeof(sum));
    METRIC_ADD(&a, cmd_get, 3);
    METRIC_INC(&b, cmd_get);
    METRIC_INC(&b, conn_buffer_bytes);
    METRIC_DEC(&b, conn_buffer_bytes);
    METRIC_INC(&b, conns_idle_closed);
    metrics_accumulate(&sum, &a);
    metrics_accumulate(&sum, &b);
    assert_int_equal(sum.cmd_get, 4);
    assert_int_equal(sum.conn_buffer_bytes, 0);
    assert_int_equal(sum.conns_idle_closed, 1);
    assert_true(STATS_NROWS == NROWS);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memcached_order),
        cmocka_unit_test(test_names_unique),
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_accumulate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
