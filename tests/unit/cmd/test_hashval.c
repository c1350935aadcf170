/*
 * Unit tests for cmd/hashval: the field table of a Redis hash. Tables are
 * built by the same plan/apply steps HSET and HDEL use, then read back;
 * the byte layout is checked once against the format hashval.h gives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd/hashval.h"
#include "stashd/util/hash.h"

#define B(s) ((struct bstr){.data = (s), .len = strlen(s)})

static char table[1 << 16];
static size_t table_len;

/* Set (del false) or delete the NULL-terminated names (with values after
 * each name when setting) in the table; returns the plan. */
static struct hashval_plan
change(bool del, const char *const *args)
{
    size_t n = 0;
    while (args[n] != NULL) {
        n++;
    }
    size_t k = del ? n : n / 2;
    struct hashval_set set;
    assert_int_equal(hashval_set_init(&set, k), 0);
    for (size_t i = 0; i < n; i += del ? 1 : 2) {
        hashval_set_add(&set, B(args[i]), del ? B("") : B(args[i + 1]));
    }
    struct hashval_plan p;
    hashval_plan(&set, table_len ? table : NULL, table_len, del, &p);
    static char out[sizeof(table)];
    assert_true(p.size <= sizeof(out));
    if (p.in_place) {
        static char copy[sizeof(table)];
        memcpy(copy, table, table_len);
        hashval_apply_in_place(&set, table, copy);
        hashval_apply(&set, table, table_len, del, &p, out);
        assert_memory_equal(copy, out, table_len);
    } else {
        hashval_apply(&set, table_len ? table : NULL, table_len, del, &p, out);
    }
    memcpy(table, out, (size_t)p.size);
    table_len = (size_t)p.size;
    hashval_set_fini(&set);
    return p;
}

/* The table as "f=v f=v ...". */
static const char *
dump(void)
{
    static char s[1 << 16];
    size_t n = 0;
    struct hashval_iter it;
    uint64_t count;
    hashval_open(&it, table, table_len, &count);
    struct bstr f, v;
    uint64_t seen = 0;
    while (hashval_next(&it, &f, &v)) {
        n += (size_t)snprintf(s + n, sizeof(s) - n, "%s%.*s=%.*s", seen ? " " : "", (int)f.len,
                              f.data, (int)v.len, v.data);
        seen++;
    }
    assert_int_equal(seen, count);
    assert_ptr_equal(it.p, (const unsigned char *)table + table_len);
    s[n] = '\0';
    return s;
}

static void
reset(void)
{
    table_len = 0;
}

static void
test_layout(void **state)
{
    (void)state;
    reset();
    struct hashval_plan p = change(false, (const char *const[]){"ab", "xyz", NULL});
    assert_int_equal(p.added, 1);
    assert_int_equal(p.count, 1);
    /* count, flen, field, vlen, value */
    assert_int_equal(table_len, 1 + 1 + 2 + 1 + 3);
    assert_memory_equal(table,
                        "\x01\x02"
                        "ab"
                        "\x03"
                        "xyz",
                        table_len);
    assert_int_equal(hashval_varint_len(127), 1);
    assert_int_equal(hashval_varint_len(128), 2);
    assert_int_equal(hashval_varint_len(16383), 2);
    assert_int_equal(hashval_varint_len(16384), 3);
    char buf[8];
    assert_int_equal(hashval_put_varint(buf, 300), 2);
    assert_memory_equal(buf, "\xac\x02", 2);
}

static void
test_insertion_order_update_delete(void **state)
{
    (void)state;
    reset();
    struct hashval_plan p =
        change(false, (const char *const[]){"a", "1", "b", "2", "c", "3", NULL});
    assert_int_equal(p.added, 3);
    assert_string_equal(dump(), "a=1 b=2 c=3");
    /* An update keeps its place; a new field goes last. */
    p = change(false, (const char *const[]){"b", "22", "d", "4", NULL});
    assert_int_equal(p.added, 1);
    assert_false(p.in_place);
    assert_string_equal(dump(), "a=1 b=22 c=3 d=4");
    /* Same lengths only: in place. */
    p = change(false, (const char *const[]){"a", "9", "c", "8", NULL});
    assert_true(p.in_place);
    assert_int_equal(p.added, 0);
    assert_string_equal(dump(), "a=9 b=22 c=8 d=4");
    /* Deletes close the gap; unknown fields count nothing. */
    p = change(true, (const char *const[]){"b", "x", "a", NULL});
    assert_int_equal(p.removed, 2);
    assert_int_equal(p.count, 2);
    assert_string_equal(dump(), "c=8 d=4");
    p = change(true, (const char *const[]){"c", "d", NULL});
    assert_int_equal(p.count, 0);
    assert_int_equal(table_len, 1); /* only the count: the caller deletes the key */
}

static void
test_repeated_fields(void **state)
{
    (void)state;
    reset();
    /* HSET h f 1 f 2: one new field, the last value. */
    struct hashval_plan p =
        change(false, (const char *const[]){"f", "1", "g", "x", "f", "2", NULL});
    assert_int_equal(p.added, 2);
    assert_string_equal(dump(), "f=2 g=x");
    /* HDEL h f f: one removed. */
    p = change(true, (const char *const[]){"f", "f", NULL});
    assert_int_equal(p.removed, 1);
    assert_string_equal(dump(), "g=x");
}

static void
test_indexed_sets_and_lookups(void **state)
{
    (void)state;
    reset();
    /* 40 fields at once: the set is indexed. */
    static char names[40][8], vals[40][8];
    const char *args[81];
    for (int i = 0; i < 40; i++) {
        snprintf(names[i], sizeof(names[i]), "f%d", i);
        snprintf(vals[i], sizeof(vals[i]), "v%d", i);
        args[2 * i] = names[i];
        args[2 * i + 1] = vals[i];
    }
    args[80] = NULL;
    struct hashval_plan p = change(false, args);
    assert_int_equal(p.added, 40);
    assert_int_equal(hashval_count(table, table_len), 40);
    for (int i = 0; i < 40; i++) {
        struct bstr v;
        assert_true(hashval_get(table, table_len, B(names[i]), &v));
        assert_int_equal(v.len, strlen(vals[i]));
        assert_memory_equal(v.data, vals[i], v.len);
    }
    struct bstr v;
    assert_false(hashval_get(table, table_len, B("nope"), &v));
    /* Again, every other one: all found, none added. */
    for (int i = 0; i < 40; i++) {
        args[2 * i + 1] = "w";
    }
    p = change(false, args);
    assert_int_equal(p.added, 0);
    assert_int_equal(p.count, 40);
    assert_true(hashval_get(table, table_len, B("f39"), &v) && v.len == 1 && v.data[0] == 'w');
    /* The set's own lookup finds every field, and no other. */
    struct hashval_set set;
    assert_int_equal(hashval_set_init(&set, 40), 0);
    for (int i = 0; i < 40; i++) {
        hashval_set_add(&set, B(names[i]), B(""));
    }
    assert_int_equal(set.n, 40);
    assert_non_null(hashval_set_find(&set, B("f17")));
    assert_null(hashval_set_find(&set, B("f40")));
    hashval_set_fini(&set);
}

static void
test_long_values_and_counts(void **state)
{
    (void)state;
    reset();
    static char big[300];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    change(false, (const char *const[]){big, big, NULL});
    struct bstr v;
    assert_true(hashval_get(table, table_len, B(big), &v));
    assert_int_equal(v.len, 299);
    assert_int_equal(table_len, 1 + 2 + 299 + 2 + 299);
    /* 130 fields: the count takes two bytes. */
    reset();
    static char names[130][8];
    const char *args[261];
    for (int i = 0; i < 130; i++) {
        snprintf(names[i], sizeof(names[i]), "%d", i);
        args[2 * i] = names[i];
        args[2 * i + 1] = "v";
    }
    args[260] = NULL;
    change(false, args);
    assert_int_equal(hashval_count(table, table_len), 130);
    assert_int_equal((unsigned char)table[0], 0x82);
    dump();
    /* Deleting down to 127 shortens the count. */
    change(true, (const char *const[]){"0", "1", "2", NULL});
    assert_int_equal(hashval_count(table, table_len), 127);
    assert_int_equal((unsigned char)table[0], 127);
    dump();
}

static void
test_listpack_thresholds(void **state)
{
    (void)state;
    reset();
    static char v64[65], v65[66];
    memset(v64, 'a', 64);
    memset(v65, 'a', 65);
    change(false, (const char *const[]){"f", v64, NULL});
    assert_true(hashval_is_listpack(table, table_len));
    change(false, (const char *const[]){"g", v65, NULL});
    assert_false(hashval_is_listpack(table, table_len));
    change(true, (const char *const[]){"g", NULL});
    assert_true(hashval_is_listpack(table, table_len));
    enum { N = HASHVAL_LISTPACK_ENTRIES };
    static char names[N][8];
    static const char *args[2 * N + 1];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "n%d", i);
        args[2 * i] = names[i];
        args[2 * i + 1] = "1";
    }
    args[2 * (N - 1)] = NULL; /* N - 1 of them, and f: N */
    change(false, args);
    assert_int_equal(hashval_count(table, table_len), N);
    assert_true(hashval_is_listpack(table, table_len));
    change(false, (const char *const[]){"last", "1", NULL});
    assert_false(hashval_is_listpack(table, table_len));
}

static void
test_malformed_tables_read_as_cut(void **state)
{
    (void)state;
    /* count 2, one whole pair, then a length past the end */
    const char t[] = "\x02\x01"
                     "a"
                     "\x01"
                     "b"
                     "\x05"
                     "c";
    struct hashval_iter it;
    uint64_t count;
    hashval_open(&it, t, sizeof(t) - 1, &count);
    assert_int_equal(count, 2);
    struct bstr f, v;
    assert_true(hashval_next(&it, &f, &v));
    assert_false(hashval_next(&it, &f, &v));
    /* an overlong varint does not parse */
    const char o[] = "\x81\x00";
    hashval_open(&it, o, 2, &count);
    assert_int_equal(count, 0);
    /* NULL, 0 is an empty table */
    hashval_open(&it, NULL, 0, &count);
    assert_int_equal(count, 0);
    assert_false(hashval_next(&it, &f, &v));
    assert_false(hashval_get(NULL, 0, B("a"), &v));
}

int
main(void)
{
    hash_setup(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_insertion_order_update_delete),
        cmocka_unit_test(test_repeated_fields),
        cmocka_unit_test(test_indexed_sets_and_lookups),
        cmocka_unit_test(test_long_values_and_counts),
        cmocka_unit_test(test_listpack_thresholds),
        cmocka_unit_test(test_malformed_tables_read_as_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
