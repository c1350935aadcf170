/*
 * Unit tests for the store's Redis-facing operations: millisecond (Unix
 * ms) deadlines next to memcached's relative seconds, SET's keep_ttl and
 * past deadlines, and store_update (read-modify-write under the shard
 * lock).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "store_helpers.h"

static struct got g;

static void
sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static struct store *
fresh(void)
{
    struct store_config cfg = test_config(8 << 20, 4);
    struct store *s = test_store(&cfg);
    clock_update();
    return s;
}

static enum store_rc
set_ms(struct store *s, const char *key, const char *value, int64_t expire_ms, bool keep_ttl)
{
    struct store_key k;
    store_key_init(&k, key, strlen(key));
    struct store_set_req r = {
        .mode = STORE_MODE_SET,
        .value = value,
        .nbytes = (uint32_t)strlen(value),
        .expire_ms = expire_ms,
        .keep_ttl = keep_ttl,
    };
    return store_set(s, &k, &r, NULL);
}

/* --- a small store_update driver ---------------------------------------- */

struct upd {
    struct store_update want; /* what decide answers */
    const char *fill;         /* commit writes this into dst when given one */
    int decides, commits;
    bool saw_old;
    char old_value[64];
    uint32_t old_nbytes;
    int64_t old_expire_ms;
    bool dst_was_old; /* in place */
};

static void
upd_decide(void *ctx, const struct store_item_view *old, struct store_update *u)
{
    struct upd *x = ctx;
    x->decides++;
    *u = x->want;
    (void)old;
}

static void
upd_commit(void *ctx, const struct store_item_view *old, char *dst)
{
    struct upd *x = ctx;
    x->commits++;
    x->saw_old = old != NULL;
    if (old != NULL) {
        x->old_nbytes = old->nbytes;
        memcpy(x->old_value, old->value, old->nbytes < 63 ? old->nbytes : 63);
        x->old_value[old->nbytes < 63 ? old->nbytes : 63] = '\0';
        x->old_expire_ms = old->expire_ms;
        x->dst_was_old = dst != NULL && dst == old->value;
    }
    if (dst != NULL && x->fill != NULL && !x->dst_was_old) {
        memcpy(dst, x->fill, strlen(x->fill));
    }
}

static enum store_rc
run_update(struct store *s, const char *key, struct upd *x)
{
    struct store_key k;
    store_key_init(&k, key, strlen(key));
    return store_update(s, &k, upd_decide, upd_commit, x);
}

/* --- millisecond deadlines ---------------------------------------------- */

static void
test_ms_deadline_round_trip(void **state)
{
    (void)state;
    struct store *s = fresh();
    int64_t at = store_now_ms() + 12345678; /* an arbitrary millisecond */
    assert_int_equal(set_ms(s, "k", "v", at, false), STORE_OK);
    assert_int_equal(kv_get(s, "k", &g, NULL), STORE_OK);
    struct store_key k;
    store_key_init(&k, "k", 1);
    struct upd x = {0};
    assert_int_equal(store_update(s, &k, upd_decide, upd_commit, &x), STORE_OK);
    assert_int_equal(x.old_expire_ms, at);
    /* Client flags read as 0 although the word holds milliseconds. */
    assert_int_equal(g.flags, 0);
    /* The relative second is the deadline's, for memcached's readers. */
    assert_true(g.exptime > clock_now() + 12000 && g.exptime < clock_now() + 12400);
    assert_int_equal(kv_stats(s).expiring, 1);
    store_destroy(&s);
}

static void
test_ms_deadline_expires(void **state)
{
    (void)state;
    struct store *s = fresh();
    assert_int_equal(set_ms(s, "short", "v", store_now_ms() + 120, false), STORE_OK);
    assert_int_equal(set_ms(s, "long", "v", store_now_ms() + 60000, false), STORE_OK);
    assert_true(kv_exists(s, "short"));
    sleep_ms(200);
    clock_update();
    enum store_miss miss;
    assert_int_equal(kv_get(s, "short", &g, &miss), STORE_NOT_FOUND);
    assert_int_equal(miss, STORE_MISS_EXPIRED);
    assert_true(kv_exists(s, "long"));
    assert_int_equal(kv_stats(s).expired, 1);
    store_destroy(&s);
}

static void
test_set_past_deadline_removes(void **state)
{
    (void)state;
    struct store *s = fresh();
    assert_int_equal(kv_set(s, "k", "old"), STORE_OK);
    assert_int_equal(set_ms(s, "k", "new", 1000, false), STORE_OK); /* 1970 */
    assert_false(kv_exists(s, "k"));
    assert_int_equal(kv_stats(s).curr_items, 0);
    /* ADD on a present key still refuses before looking at the deadline. */
    assert_int_equal(kv_set(s, "k", "old"), STORE_OK);
    struct store_key k;
    store_key_init(&k, "k", 1);
    struct store_set_req r = {.mode = STORE_MODE_ADD, .value = "x", .nbytes = 1, .expire_ms = 1000};
    assert_int_equal(store_set(s, &k, &r, NULL), STORE_NOT_STORED);
    assert_string_equal(kv_str(s, "k", &g), "old");
    store_destroy(&s);
}

static void
test_keep_ttl(void **state)
{
    (void)state;
    struct store *s = fresh();
    int64_t at = store_now_ms() + 50000;
    assert_int_equal(set_ms(s, "k", "v1", at, false), STORE_OK);
    assert_int_equal(set_ms(s, "k", "v2", 0, true), STORE_OK);
    struct upd x = {0};
    assert_int_equal(run_update(s, "k", &x), STORE_OK);
    assert_string_equal(x.old_value, "v2");
    assert_int_equal(x.old_expire_ms, at);
    /* A plain set clears it. */
    assert_int_equal(set_ms(s, "k", "v3", 0, false), STORE_OK);
    memset(&x, 0, sizeof(x));
    assert_int_equal(run_update(s, "k", &x), STORE_OK);
    assert_int_equal(x.old_expire_ms, 0);
    assert_int_equal(kv_stats(s).expiring, 0);
    /* keep_ttl on an absent key: no expiry. */
    assert_int_equal(set_ms(s, "n", "v", 0, true), STORE_OK);
    memset(&x, 0, sizeof(x));
    assert_int_equal(run_update(s, "n", &x), STORE_OK);
    assert_int_equal(x.old_expire_ms, 0);
    store_destroy(&s);
}

static void
test_client_flags_keep_ms_deadline(void **state)
{
    (void)state;
    struct store *s = fresh();
    /* memcached stores flags 7; RESP gives it a millisecond deadline,
     * which it keeps to the millisecond (the header has a field for each). */
    assert_int_equal(kv_set_mode(s, STORE_MODE_SET, "k", "v", 1, 7, 0, 0, NULL), STORE_OK);
    int64_t at = store_now_ms() + 5500;
    struct upd x = {.want = {.op = STORE_UPDATE_EXPIRE, .expire_ms = at}};
    assert_int_equal(run_update(s, "k", &x), STORE_OK);
    assert_int_equal(kv_get(s, "k", &g, NULL), STORE_OK);
    assert_int_equal(g.flags, 7); /* kept */
    memset(&x, 0, sizeof(x));
    assert_int_equal(run_update(s, "k", &x), STORE_OK);
    assert_int_equal(x.old_expire_ms, at);
    store_destroy(&s);
}

static void
test_memcached_touch_and_append_on_ms_item(void **state)
{
    (void)state;
    struct store *s = fresh();
    int64_t at = store_now_ms() + 30000;
    assert_int_equal(set_ms(s, "k", "ab", at, false), STORE_OK);
    /* append keeps the deadline, to the millisecond. */
    assert_int_equal(kv_set_mode(s, STORE_MODE_APPEND, "k", "cd", 2, 99, 0, 0, NULL), STORE_OK);
    struct upd x = {0};
    assert_int_equal(run_update(s, "k", &x), STORE_OK);
    assert_string_equal(x.old_value, "abcd");
    assert_int_equal(x.old_expire_ms, at);
    assert_int_equal(kv_get(s, "k", &g, NULL), STORE_OK);
    assert_int_equal(g.flags, 0);
    /* incr keeps it too (through a new, longer item). */
    assert_int_equal(set_ms(s, "n", "9", at, false), STORE_OK);
    struct store_key k;
    store_key_init(&k, "n", 1);
    struct store_arith_req ar = {.incr = true, .delta = 1};
    uint64_t v;
    assert_int_equal(store_arith(s, &k, &ar, &v, NULL), STORE_OK);
    assert_int_equal(v, 10);
    memset(&x, 0, sizeof(x));
    assert_int_equal(run_update(s, "n", &x), STORE_OK);
    assert_int_equal(x.old_expire_ms, at);
    /* A memcached touch turns it into a relative second, flags 0. */
    assert_int_equal(store_touch(s, &k, clock_now() + 100), STORE_OK);
    assert_int_equal(kv_get(s, "n", &g, NULL), STORE_OK);
    assert_int_equal(g.exptime, clock_now() + 100);
    assert_int_equal(g.flags, 0);
    assert_int_equal(kv_stats(s).expiring, 2);
    assert_int_equal(store_touch(s, &k, 0), STORE_OK);
    assert_int_equal(kv_stats(s).expiring, 1);
    store_destroy(&s);
}

/* --- store_update -------------------------------------------------------- */

static void
test_update_write_create_and_replace(void **state)
{
    (void)state;
    struct store *s = fresh();
    struct upd x = {.want = {.op = STORE_UPDATE_WRITE, .value = "hello", .nbytes = 5}};
    assert_int_equal(run_update(s, "k", &x), STORE_OK);
    assert_int_equal(x.decides, 1);
    assert_int_equal(x.commits, 1);
    assert_false(x.saw_old);
    assert_string_equal(kv_str(s, "k", &g), "hello");
    uint64_t cas1 = g.cas;
    /* Same length: rewritten in place, with a new cas. */
    memset(&x, 0, sizeof(x));
    x.want =
        (struct store_update){.op = STORE_UPDATE_WRITE, .value = "world", .nbytes = 5, .flags = 3};
    assert_int_equal(run_update(s, "k", &x), STORE_OK);
    assert_true(x.saw_old);
    assert_string_equal(x.old_value, "hello");
    assert_string_equal(kv_str(s, "k", &g), "world");
    assert_int_equal(g.flags, 3);
    assert_true(g.cas != cas1);
    /* Longer, filled by commit. */
    memset(&x, 0, sizeof(x));
    x.want = (struct store_update){.op = STORE_UPDATE_WRITE, .nbytes = 11};
    x.fill = "hello world";
    assert_int_equal(run_update(s, "k", &x), STORE_OK);
    assert_string_equal(x.old_value, "world");
    assert_string_equal(kv_str(s, "k", &g), "hello world");
    assert_int_equal(kv_stats(s).curr_items, 1);
    store_destroy(&s);
}

static void
test_update_in_place_dst(void **state)
{
    (void)state;
    struct store *s = fresh();
    assert_int_equal(kv_set(s, "k", "abcdef"), STORE_OK);
    struct upd x = {.want = {.op = STORE_UPDATE_WRITE, .nbytes = 6}};
    assert_int_equal(run_update(s, "k", &x), STORE_OK);
    assert_true(x.dst_was_old); /* commit got old's value to edit */
    assert_string_equal(kv_str(s, "k", &g), "abcdef");
    store_destroy(&s);
}

static void
test_update_expire_delete_none(void **state)
{
    (void)state;
    struct store *s = fresh();
    assert_int_equal(kv_set(s, "k", "v"), STORE_OK);
    int64_t at = store_now_ms() + 90000;
    struct upd x = {.want = {.op = STORE_UPDATE_EXPIRE, .expire_ms = at}};
    assert_int_equal(run_update(s, "k", &x), STORE_OK);
    assert_int_equal(x.old_expire_ms, 0);
    memset(&x, 0, sizeof(x));
    assert_int_equal(run_update(s, "k", &x), STORE_OK); /* NONE: a read */
    assert_int_equal(x.old_expire_ms, at);
    assert_int_equal(kv_stats(s).expiring, 1);
    /* Persist. */
    memset(&x, 0, sizeof(x));
    x.want = (struct store_update){.op = STORE_UPDATE_EXPIRE, .expire_ms = 0};
    assert_int_equal(run_update(s, "k", &x), STORE_OK);
    assert_int_equal(kv_stats(s).expiring, 0);
    assert_true(kv_exists(s, "k"));
    /* A past deadline deletes, and commit still saw the value. */
    memset(&x, 0, sizeof(x));
    x.want = (struct store_update){.op = STORE_UPDATE_EXPIRE, .expire_ms = 1};
    assert_int_equal(run_update(s, "k", &x), STORE_OK);
    assert_string_equal(x.old_value, "v");
    assert_false(kv_exists(s, "k"));
    /* Delete, and expire on an absent key (commit with old NULL). */
    assert_int_equal(kv_set(s, "k", "v"), STORE_OK);
    memset(&x, 0, sizeof(x));
    x.want = (struct store_update){.op = STORE_UPDATE_DELETE};
    assert_int_equal(run_update(s, "k", &x), STORE_OK);
    assert_true(x.saw_old);
    assert_false(kv_exists(s, "k"));
    memset(&x, 0, sizeof(x));
    x.want = (struct store_update){.op = STORE_UPDATE_EXPIRE, .expire_ms = at};
    assert_int_equal(run_update(s, "k", &x), STORE_OK);
    assert_int_equal(x.commits, 1);
    assert_false(x.saw_old);
    assert_false(kv_exists(s, "k"));
    store_destroy(&s);
}

static void
test_update_write_with_deadline(void **state)
{
    (void)state;
    struct store *s = fresh();
    assert_int_equal(kv_set_mode(s, STORE_MODE_SET, "k", "v", 1, 0, clock_now() + 100, 0, NULL),
                     STORE_OK);
    /* keep_expiry keeps memcached's relative second. */
    struct upd x = {
        .want = {.op = STORE_UPDATE_WRITE, .value = "vv", .nbytes = 2, .keep_expiry = true}};
    assert_int_equal(run_update(s, "k", &x), STORE_OK);
    assert_int_equal(kv_get(s, "k", &g, NULL), STORE_OK);
    assert_int_equal(g.exptime, clock_now() + 100);
    /* A past deadline: nothing stored, old gone, commit saw old. */
    memset(&x, 0, sizeof(x));
    x.want =
        (struct store_update){.op = STORE_UPDATE_WRITE, .value = "w", .nbytes = 1, .expire_ms = 5};
    assert_int_equal(run_update(s, "k", &x), STORE_OK);
    assert_string_equal(x.old_value, "vv");
    assert_false(kv_exists(s, "k"));
    /* A future one is exact. */
    int64_t at = store_now_ms() + 777;
    memset(&x, 0, sizeof(x));
    x.want =
        (struct store_update){.op = STORE_UPDATE_WRITE, .value = "w", .nbytes = 1, .expire_ms = at};
    assert_int_equal(run_update(s, "k", &x), STORE_OK);
    memset(&x, 0, sizeof(x));
    assert_int_equal(run_update(s, "k", &x), STORE_OK);
    assert_int_equal(x.old_expire_ms, at);
    store_destroy(&s);
}

static void
test_update_limits(void **state)
{
    (void)state;
    struct store *s = fresh();
    static char big[2 * 1024 * 1024];
    struct upd x = {.want = {.op = STORE_UPDATE_WRITE, .value = big, .nbytes = sizeof(big)}};
    assert_int_equal(run_update(s, "k", &x), STORE_TOO_LARGE);
    assert_int_equal(x.commits, 0);
    assert_false(kv_exists(s, "k"));
    /* Keys of invalid length read as absent; writes to them are too large. */
    char key[STORE_KEY_MAX + 2];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    memset(&x, 0, sizeof(x));
    assert_int_equal(run_update(s, key, &x), STORE_OK);
    assert_int_equal(x.commits, 1);
    assert_false(x.saw_old);
    x.want = (struct store_update){.op = STORE_UPDATE_WRITE, .value = "v", .nbytes = 1};
    assert_int_equal(run_update(s, key, &x), STORE_TOO_LARGE);
    store_destroy(&s);
}

/* An update under memory pressure: every outcome is OK or NO_MEMORY, and
 * the store stays consistent (decide may be called again). */
static void
test_update_under_pressure(void **state)
{
    (void)state;
    struct store_config cfg = test_config(2 << 20, 1);
    cfg.evictions = true;
    struct store *s = test_store(&cfg);
    static char v[3000];
    memset(v, 'x', sizeof(v));
    for (int i = 0; i < 3000; i++) {
        char key[32];
        snprintf(key, sizeof(key), "key:%d", i);
        struct upd x = {.want = {.op = STORE_UPDATE_WRITE,
                                 .value = v,
                                 .nbytes = (uint32_t)(100 + (i * 37) % 2900)}};
        enum store_rc rc = run_update(s, key, &x);
        assert_true(rc == STORE_OK || rc == STORE_NO_MEMORY);
        assert_true(x.commits <= 1);
        assert_true(x.decides >= 1);
    }
    assert_true(kv_stats(s).evictions > 0);
    store_destroy(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ms_deadline_round_trip),
        cmocka_unit_test(test_ms_deadline_expires),
        cmocka_unit_test(test_set_past_deadline_removes),
        cmocka_unit_test(test_keep_ttl),
        cmocka_unit_test(test_client_flags_keep_ms_deadline),
        cmocka_unit_test(test_memcached_touch_and_append_on_ms_item),
        cmocka_unit_test(test_update_write_create_and_replace),
        cmocka_unit_test(test_update_in_place_dst),
        cmocka_unit_test(test_update_expire_delete_none),
        cmocka_unit_test(test_update_write_with_deadline),
        cmocka_unit_test(test_update_limits),
        cmocka_unit_test(test_update_under_pressure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
