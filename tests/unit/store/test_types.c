/*
 * Unit tests for the item's type tag (store.h: enum store_type): a value
 * written typed by store_update keeps its type through expiry copies and
 * eviction's moves; the string operations see only strings (a hash is a
 * miss, STORE_MISS_WRONGTYPE, to get, get_many, touch and meta, absent to
 * append/prepend/cas, non-numeric to incr), stores that replace the whole
 * value and deletes act on it, and any_type reads see it with its type.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store_helpers.h"

static struct got g;

static struct store *
fresh(void)
{
    struct store_config cfg = test_config(8 << 20, 4);
    struct store *s = test_store(&cfg);
    clock_update();
    return s;
}

/* store_update's decide/commit for a typed write of a fixed value. */
struct typed {
    const char *value;
    uint8_t type;
    bool new_item;
    bool keep_expiry;
    int old_type; /* what decide saw: -1 none */
    bool dst_was_old;
};

static void
typed_decide(void *ctx, const struct store_item_view *old, struct store_update *u)
{
    struct typed *t = ctx;
    t->old_type = old != NULL ? old->type : -1;
    u->op = STORE_UPDATE_WRITE;
    u->value = NULL;
    u->nbytes = (uint32_t)strlen(t->value);
    u->type = t->type;
    u->new_item = t->new_item;
    u->keep_expiry = t->keep_expiry;
}

static void
typed_commit(void *ctx, const struct store_item_view *old, char *dst)
{
    struct typed *t = ctx;
    t->dst_was_old = old != NULL && dst == old->value;
    if (dst != NULL) {
        memcpy(dst, t->value, strlen(t->value));
    }
}

static enum store_rc
put_typed(struct store *s, const char *key, struct typed *t)
{
    struct store_key k;
    store_key_init(&k, key, strlen(key));
    return store_update(s, &k, typed_decide, typed_commit, t);
}

static enum store_rc
put_hash(struct store *s, const char *key, const char *value)
{
    struct typed t = {.value = value, .type = STORE_TYPE_HASH};
    return put_typed(s, key, &t);
}

struct seen {
    int type;
    char value[64];
    uint32_t nbytes;
    int64_t expire_ms;
};

static void
on_seen(void *ctx, const struct store_item_view *v)
{
    struct seen *x = ctx;
    x->type = v->type;
    x->nbytes = v->nbytes;
    x->expire_ms = v->expire_ms;
    memcpy(x->value, v->value, v->nbytes < 63 ? v->nbytes : 63);
    x->value[v->nbytes < 63 ? v->nbytes : 63] = '\0';
}

/* Any-type read: the type, or -1 when absent. */
static int
type_of(struct store *s, const char *key, struct seen *x)
{
    struct store_key k;
    store_key_init(&k, key, strlen(key));
    const struct store_get_opts o = {.any_type = true};
    x->type = -1;
    (void)store_get(s, &k, &o, on_seen, x, NULL);
    return x->type;
}

struct many_seen {
    int hits;
    enum store_miss miss[2];
};

static void
on_many(void *ctx, size_t i, const struct store_item_view *v, enum store_miss m)
{
    struct many_seen *many = ctx;
    many->hits += v != NULL;
    many->miss[i] = m;
}

static void
test_typed_write_and_reads(void **state)
{
    (void)state;
    struct store *s = fresh();
    assert_int_equal(put_hash(s, "h", "table"), STORE_OK);
    struct seen x;
    assert_int_equal(type_of(s, "h", &x), STORE_TYPE_HASH);
    assert_string_equal(x.value, "table");
    /* A plain read misses it, and says why. */
    enum store_miss miss = STORE_MISS_NONE;
    assert_int_equal(kv_get(s, "h", &g, &miss), STORE_NOT_FOUND);
    assert_int_equal(miss, STORE_MISS_WRONGTYPE);
    /* A string reads as before, typed string. */
    assert_int_equal(kv_set(s, "s", "v"), STORE_OK);
    assert_int_equal(type_of(s, "s", &x), STORE_TYPE_STRING);
    assert_string_equal(kv_str(s, "s", &g), "v");
    /* MGET-style reads: the hash is a miss. */
    struct store_key keys[2];
    store_key_init(&keys[0], "h", 1);
    store_key_init(&keys[1], "s", 1);
    struct many_seen many = {0};
    store_get_many(s, keys, 2, on_many, &many);
    assert_int_equal(many.hits, 1);
    assert_int_equal(many.miss[0], STORE_MISS_WRONGTYPE);
    assert_int_equal(many.miss[1], STORE_MISS_NONE);
    store_destroy(&s);
}

static void
test_memcached_ops_on_a_hash(void **state)
{
    (void)state;
    struct store *s = fresh();
    assert_int_equal(put_hash(s, "h", "table"), STORE_OK);
    struct store_key k;
    store_key_init(&k, "h", 1);
    /* touch, incr, append, prepend, cas, add: the hash is no string */
    assert_int_equal(store_touch(s, &k, 100), STORE_NOT_FOUND);
    struct store_arith_req ar = {.incr = true, .delta = 1, .create = true, .initial = 5};
    assert_int_equal(store_arith(s, &k, &ar, NULL, NULL), STORE_NON_NUMERIC);
    assert_int_equal(kv_set_mode(s, STORE_MODE_APPEND, "h", "x", 1, 0, 0, 0, NULL),
                     STORE_NOT_STORED);
    assert_int_equal(kv_set_mode(s, STORE_MODE_PREPEND, "h", "x", 1, 0, 0, 0, NULL),
                     STORE_NOT_STORED);
    assert_int_equal(kv_set_mode(s, STORE_MODE_CAS, "h", "x", 1, 0, 0, 1, NULL), STORE_NOT_FOUND);
    assert_int_equal(kv_set_mode(s, STORE_MODE_SET, "h", "x", 1, 0, 0, 12345, NULL),
                     STORE_NOT_FOUND);
    assert_int_equal(kv_set_mode(s, STORE_MODE_ADD, "h", "x", 1, 0, 0, 0, NULL), STORE_NOT_STORED);
    struct seen x;
    assert_int_equal(type_of(s, "h", &x), STORE_TYPE_HASH);
    assert_string_equal(x.value, "table");
    /* replace and set overwrite it as a string */
    assert_int_equal(kv_set_mode(s, STORE_MODE_REPLACE, "h", "r", 1, 0, 0, 0, NULL), STORE_OK);
    assert_int_equal(type_of(s, "h", &x), STORE_TYPE_STRING);
    assert_int_equal(put_hash(s, "h", "table"), STORE_OK);
    assert_int_equal(kv_set(s, "h", "str"), STORE_OK);
    assert_string_equal(kv_str(s, "h", &g), "str");
    /* delete removes a hash */
    assert_int_equal(put_hash(s, "h", "table"), STORE_OK);
    assert_int_equal(kv_delete(s, "h", 0), STORE_OK);
    assert_int_equal(type_of(s, "h", &x), -1);
    store_destroy(&s);
}

struct meta_seen {
    int calls;
    int type;
    bool created;
};

static void
on_meta(void *ctx, struct store_meta *m)
{
    struct meta_seen *ms = ctx;
    ms->calls++;
    ms->type = store_meta_view(m)->type;
    ms->created = store_meta_created(m);
}

static void
test_meta_on_a_hash(void **state)
{
    (void)state;
    struct store *s = fresh();
    assert_int_equal(put_hash(s, "h", "table"), STORE_OK);
    struct store_key k;
    store_key_init(&k, "h", 1);
    struct meta_seen ms = {0};
    enum store_miss miss = STORE_MISS_NONE;
    /* mg N: a miss, and the hash is not vivified over */
    struct store_meta_opts viv = {.vivify = true};
    assert_int_equal(store_meta(s, &k, &viv, on_meta, &ms, &miss), STORE_NOT_FOUND);
    assert_int_equal(miss, STORE_MISS_WRONGTYPE);
    assert_int_equal(ms.calls, 0);
    struct seen x;
    assert_int_equal(type_of(s, "h", &x), STORE_TYPE_HASH);
    assert_string_equal(x.value, "table");
    /* any_type sees it */
    struct store_meta_opts any = {.any_type = true, .no_bump = true};
    assert_int_equal(store_meta(s, &k, &any, on_meta, &ms, &miss), STORE_OK);
    assert_int_equal(ms.calls, 1);
    assert_int_equal(ms.type, STORE_TYPE_HASH);
    store_destroy(&s);
}

static void
test_update_sees_type_and_rewrites_it(void **state)
{
    (void)state;
    struct store *s = fresh();
    struct typed t = {.value = "abcd", .type = STORE_TYPE_HASH};
    assert_int_equal(put_typed(s, "k", &t), STORE_OK);
    assert_int_equal(t.old_type, -1);
    /* Same length, same type: in place. */
    t.value = "wxyz";
    assert_int_equal(put_typed(s, "k", &t), STORE_OK);
    assert_int_equal(t.old_type, STORE_TYPE_HASH);
    assert_true(t.dst_was_old);
    /* new_item: never over the old bytes. */
    t.value = "1234";
    t.new_item = true;
    assert_int_equal(put_typed(s, "k", &t), STORE_OK);
    assert_false(t.dst_was_old);
    struct seen x;
    assert_int_equal(type_of(s, "k", &x), STORE_TYPE_HASH);
    assert_string_equal(x.value, "1234");
    /* Same length, another type: a new item, typed string. */
    struct typed str = {.value = "5678", .type = STORE_TYPE_STRING};
    assert_int_equal(put_typed(s, "k", &str), STORE_OK);
    assert_int_equal(str.old_type, STORE_TYPE_HASH);
    assert_false(str.dst_was_old);
    assert_int_equal(type_of(s, "k", &x), STORE_TYPE_STRING);
    assert_string_equal(kv_str(s, "k", &g), "5678");
    store_destroy(&s);
}

struct expire_ctx {
    int64_t when;
};

static void
expire_decide(void *ctx, const struct store_item_view *old, struct store_update *u)
{
    struct expire_ctx *e = ctx;
    if (old != NULL) {
        u->op = STORE_UPDATE_EXPIRE;
        u->expire_ms = e->when;
    }
}

static void
test_expiry_copy_keeps_type(void **state)
{
    (void)state;
    struct store *s = fresh();
    assert_int_equal(put_hash(s, "h", "table"), STORE_OK);
    /* The item has no expiry field: setting one copies it. */
    struct expire_ctx e = {.when = store_now_ms() + 100000 + 123};
    struct store_key k;
    store_key_init(&k, "h", 1);
    assert_int_equal(store_update(s, &k, expire_decide, NULL, &e), STORE_OK);
    struct seen x;
    assert_int_equal(type_of(s, "h", &x), STORE_TYPE_HASH);
    assert_string_equal(x.value, "table");
    assert_true(x.expire_ms >= e.when - 1000 && x.expire_ms <= e.when);
    /* A typed write that keeps the expiry keeps both. */
    struct typed t = {.value = "other", .type = STORE_TYPE_HASH, .keep_expiry = true};
    assert_int_equal(put_typed(s, "h", &t), STORE_OK);
    assert_int_equal(type_of(s, "h", &x), STORE_TYPE_HASH);
    assert_true(x.expire_ms != 0);
    store_destroy(&s);
}

struct scan_seen {
    int hashes, strings;
};

static void
on_scan(void *ctx, const struct store_item_view *v)
{
    struct scan_seen *ss = ctx;
    if (v->type == STORE_TYPE_HASH) {
        ss->hashes++;
    } else {
        ss->strings++;
    }
}

static void
test_scan_and_eviction_keep_types(void **state)
{
    (void)state;
    struct store_config cfg = test_config(4 << 20, 4);
    struct store *s = test_store(&cfg);
    clock_update();
    char key[32], value[600];
    memset(value, 'v', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    /* Far more than fits: eviction compacts segments, moving kept items. */
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        if (i % 2 == 0) {
            assert_int_equal(put_hash(s, key, value), STORE_OK);
        } else {
            assert_int_equal(kv_set(s, key, value), STORE_OK);
        }
        if (i % 7 == 0) {
            struct seen x;
            (void)type_of(s, "k0", &x); /* keep reading one */
        }
    }
    assert_true(kv_stats(s).evictions > 0);
    struct scan_seen ss = {0};
    uint64_t cursor = 0;
    do {
        cursor = store_scan(s, 0, cursor, 100, on_scan, &ss);
    } while (cursor != 0);
    assert_true(ss.hashes > 0 && ss.strings > 0);
    /* Every live key still has the type it was written with. */
    int checked = 0;
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        struct seen x;
        int t = type_of(s, key, &x);
        if (t >= 0) {
            assert_int_equal(t, i % 2 == 0 ? STORE_TYPE_HASH : STORE_TYPE_STRING);
            assert_int_equal(x.nbytes, sizeof(value) - 1);
            checked++;
        }
    }
    assert_int_equal(checked, ss.hashes + ss.strings);
    store_destroy(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typed_write_and_reads),
        cmocka_unit_test(test_memcached_ops_on_a_hash),
        cmocka_unit_test(test_meta_on_a_hash),
        cmocka_unit_test(test_update_sees_type_and_rewrites_it),
        cmocka_unit_test(test_expiry_copy_keeps_type),
        cmocka_unit_test(test_scan_and_eviction_keep_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
