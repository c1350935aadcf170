/* Unit tests for proto/resp: request framing, inline splitting, errors,
 * and reply encodings in RESP2 and RESP3. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "stashd/proto/resp.h"
#include "stashd/util/buf.h"

#define MAXB (512u * 1024 * 1024)

static enum resp_parse_rc
parse(const char *in, size_t len, struct bstr *argv, size_t cap, bool inl, struct resp_req *r,
      char *scratch)
{
    memcpy(scratch, in, len);
    return resp_parse(scratch, len, argv, cap, MAXB, inl, r);
}

static void
test_multibulk_and_every_split(void **state)
{
    const char *in = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhe\r\no\r\n";
    size_t len = strlen(in);
    char scratch[128];
    struct bstr argv[4];
    struct resp_req r;
    for (size_t cut = 0; cut < len; cut++) {
        assert_int_equal(parse(in, cut, argv, 4, false, &r, scratch), RESP_PARSE_AGAIN);
        assert_true(r.need == 0 || r.need <= len);
    }
    assert_int_equal(parse(in, len, argv, 4, false, &r, scratch), RESP_PARSE_OK);
    assert_int_equal(r.argc, 3);
    assert_int_equal(r.consumed, len);
    assert_int_equal(argv[2].len, 5);
    assert_memory_equal(argv[2].data, "he\r\no", 5);
    /* Too few argv slots: told how many, nothing lost. */
    assert_int_equal(parse(in, len, argv, 2, false, &r, scratch), RESP_PARSE_MORE_ARGS);
    assert_int_equal(r.argc, 3);
}

static void
test_need_for_large_bulk(void **state)
{
    char in[64];
    int n = snprintf(in, sizeof(in), "*2\r\n$3\r\nGET\r\n$100000\r\nabc");
    char scratch[64];
    struct bstr argv[2];
    struct resp_req r;
    assert_int_equal(parse(in, (size_t)n, argv, 2, false, &r, scratch), RESP_PARSE_AGAIN);
    assert_int_equal(r.need, strlen("*2\r\n$3\r\nGET\r\n$100000\r\n") + 100000 + 2);
}

static void
test_errors(void **state)
{
    char scratch[256];
    struct bstr argv[4];
    struct resp_req r;
    const char *bad[][2] = {
        {"*x\r\n", "Protocol error: invalid multibulk length"},
        {"*2\r\n+3\r\n", "Protocol error: expected '$', got '%c'"},
        {"*1\r\n$-1\r\n", "Protocol error: invalid bulk length"},
        {"*1\r\n$2\r\nabc\r\n", "Protocol error: invalid bulk length"},
        {"*9999999999\r\n", "Protocol error: invalid multibulk length"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(bad[i][0], strlen(bad[i][0]), argv, 4, false, &r, scratch),
                         RESP_PARSE_ERROR);
        assert_string_equal(r.err, bad[i][1]);
    }
    assert_int_equal(r.got, 0);
    parse("*2\r\n+3\r\n", 8, argv, 4, false, &r, scratch);
    assert_int_equal(r.got, '+');
    /* Inline is refused where not allowed. */
    assert_int_equal(parse("PING\r\n", 6, argv, 4, false, &r, scratch), RESP_PARSE_ERROR);
    /* Bulk over the caller's limit. */
    memcpy(scratch, "*1\r\n$11\r\n", 9);
    assert_int_equal(resp_parse(scratch, 9, argv, 4, 10, false, &r), RESP_PARSE_ERROR);
    /* Empty requests are skipped. */
    assert_int_equal(parse("*0\r\n", 4, argv, 4, false, &r, scratch), RESP_PARSE_EMPTY);
    assert_int_equal(r.consumed, 4);
    assert_int_equal(parse("\r\n", 2, argv, 4, true, &r, scratch), RESP_PARSE_EMPTY);
}

static void
test_inline(void **state)
{
    char scratch[256];
    struct bstr argv[8];
    struct resp_req r;
    const char *in = "SET  \"a\\x41\\n\" 'it\\'s' plain\r\n";
    assert_int_equal(parse(in, strlen(in), argv, 8, true, &r, scratch), RESP_PARSE_OK);
    assert_int_equal(r.argc, 4);
    assert_int_equal(r.consumed, strlen(in));
    assert_true(bstr_eq_cstr(argv[0], "SET"));
    assert_true(bstr_eq_cstr(argv[1], "aA\n"));
    assert_true(bstr_eq_cstr(argv[2], "it's"));
    assert_true(bstr_eq_cstr(argv[3], "plain"));
    const char *unbal = "GET \"abc\r\n";
    assert_int_equal(parse(unbal, strlen(unbal), argv, 8, true, &r, scratch), RESP_PARSE_ERROR);
    assert_string_equal(r.err, "Protocol error: unbalanced quotes in request");
    const char *glued = "GET \"a\"b\r\n";
    assert_int_equal(parse(glued, strlen(glued), argv, 8, true, &r, scratch), RESP_PARSE_ERROR);
    /* Bare \n ends a line too. */
    assert_int_equal(parse("PING\n", 5, argv, 8, true, &r, scratch), RESP_PARSE_OK);
    assert_int_equal(r.argc, 1);
    assert_int_equal(parse("PING", 4, argv, 8, true, &r, scratch), RESP_PARSE_AGAIN);
}

static void
test_encoders(void **state)
{
    struct buf b;
    buf_init(&b);
    RESP_SIMPLE_LIT(&b, "OK");
    RESP_ERROR_LIT(&b, "ERR x");
    resp_integer(&b, -5);
    resp_bulk(&b, "ab", 2);
    resp_null(&b, false);
    resp_null(&b, true);
    resp_array(&b, 2);
    resp_map(&b, 2, false);
    resp_map(&b, 2, true);
    resp_double(&b, 1.5, false);
    resp_double(&b, 1.5, true);
    resp_bool(&b, true, true);
    resp_bool(&b, false, false);
    resp_verbatim(&b, "hi", 2, true);
    const char *want = "+OK\r\n-ERR x\r\n:-5\r\n$2\r\nab\r\n$-1\r\n_\r\n*2\r\n*4\r\n%2\r\n"
                       "$3\r\n1.5\r\n,1.5\r\n#t\r\n:0\r\n=6\r\ntxt:hi\r\n";
    assert_int_equal(buf_readable(&b), strlen(want));
    assert_memory_equal(b.data, want, strlen(want));
    buf_fini(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multibulk_and_every_split),
        cmocka_unit_test(test_need_for_large_bulk),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_inline),
        cmocka_unit_test(test_encoders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
