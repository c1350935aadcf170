/*
 * Tests for proto/mc_text: every command, every split point of a request,
 * memcached 1.6.18's number and token quirks (each expectation below was
 * checked against the real memcached 1.6.18), swallow counts and the key
 * iterator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stashd/proto/mc_text.h"

/* Values up to this many bytes fit (a stand-in for store_fits). */
static size_t fit_max = 1024 * 1024;

static bool
fits(void *ctx, size_t nkey, size_t nbytes)
{
    (void)ctx;
    return nkey + nbytes <= fit_max;
}

static const struct mc_text_limits lim = {.fits = fits, .ctx = NULL};

static enum mc_text_rc
parse_n(const char *s, size_t n, struct mc_text_req *req)
{
    /* Copy into an exact-size heap block so that ASan catches reads past n. */
    char *copy = malloc(n > 0 ? n : 1);
    assert_non_null(copy);
    memcpy(copy, s, n);
    enum mc_text_rc rc = mc_text_parse(copy, n, &lim, req);
    /* Views must point into the buffer: rebase them onto s for the caller. */
    if (req->key.data != NULL) {
        assert_true(req->key.data >= copy && req->key.data + req->key.len <= copy + n);
        req->key.data = s + (req->key.data - copy);
    }
    if (req->keys.data != NULL) {
        assert_true(req->keys.data >= copy && req->keys.data + req->keys.len <= copy + n);
        req->keys.data = s + (req->keys.data - copy);
    }
    if (req->data.data != NULL) {
        assert_true(req->data.data >= copy && req->data.data + req->data.len <= copy + n);
        req->data.data = s + (req->data.data - copy);
    }
    for (unsigned i = 0; i < req->ntok; i++) {
        assert_true(req->tok[i].data >= copy && req->tok[i].data + req->tok[i].len <= copy + n);
        req->tok[i].data = s + (req->tok[i].data - copy);
    }
    if (rc != MC_TEXT_NEED_MORE && rc != MC_TEXT_CLOSE) {
        assert_true(req->consumed > 0 && req->consumed <= n);
    }
    free(copy);
    return rc;
}

static enum mc_text_rc
parse(const char *s, struct mc_text_req *req)
{
    return parse_n(s, strlen(s), req);
}

#define assert_bstr(b, lit)                                                                        \
    do {                                                                                           \
        assert_int_equal((b).len, strlen(lit));                                                    \
        assert_memory_equal((b).data, (lit), strlen(lit));                                         \
    } while (0)

/* Parse s (n bytes) whole, then every prefix: each must be NEED_MORE (or
 * the same outcome, for prefixes that already hold the whole request). */
static enum mc_text_rc
parse_split(const char *s, size_t n, struct mc_text_req *req)
{
    enum mc_text_rc rc = parse_n(s, n, req);
    size_t consumed = req->consumed;
    for (size_t k = 0; k < n; k++) {
        struct mc_text_req r;
        enum mc_text_rc rk = parse_n(s, k, &r);
        if (rc == MC_TEXT_NEED_MORE || k < consumed) {
            assert_int_equal(rk, MC_TEXT_NEED_MORE);
            assert_int_equal(r.consumed, 0);
        } else {
            assert_int_equal(rk, rc);
            assert_int_equal(r.consumed, consumed);
        }
    }
    return rc;
}

static void
test_get(void **state)
{
    (void)state;
    struct mc_text_req r;
    assert_int_equal(parse("get foo\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.cmd, MC_TEXT_GET);
    assert_int_equal(r.consumed, 9);
    assert_bstr(r.keys, "foo");
    assert_false(r.noreply);

    assert_int_equal(parse("gets a b  c\n", &r), MC_TEXT_OK);
    assert_int_equal(r.cmd, MC_TEXT_GETS);
    assert_bstr(r.keys, "a b  c");

    assert_int_equal(parse("gat 100 a b\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.cmd, MC_TEXT_GAT);
    assert_int_equal(r.exptime, 100);
    assert_bstr(r.keys, "a b");

    assert_int_equal(parse("gats -1 a\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.cmd, MC_TEXT_GATS);
    assert_int_equal(r.exptime, -1);

    /* "gat 0" has no keys: memcached answers END. */
    assert_int_equal(parse("gat 0\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.keys.len, 0);

    assert_int_equal(parse("bget a\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.cmd, MC_TEXT_GET);

    /* "noreply" is a key for get. */
    assert_int_equal(parse("get a noreply\r\n", &r), MC_TEXT_OK);
    assert_false(r.noreply);
    assert_bstr(r.keys, "a noreply");

    /* Leading and trailing spaces. */
    assert_int_equal(parse("  get   a  \r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.cmd, MC_TEXT_GET);
}

static void
test_get_errors(void **state)
{
    (void)state;
    struct mc_text_req r;
    assert_int_equal(parse("get\r\n", &r), MC_TEXT_ERROR);
    assert_bstr(r.error, "ERROR\r\n");
    assert_int_equal(parse("get \r\n", &r), MC_TEXT_ERROR);
    assert_bstr(r.error, "ERROR\r\n");
    assert_int_equal(parse("gets\r\n", &r), MC_TEXT_ERROR);
    assert_int_equal(parse("gat\r\n", &r), MC_TEXT_ERROR);
    assert_bstr(r.error, "ERROR\r\n");
    assert_int_equal(parse("gat x a\r\n", &r), MC_TEXT_ERROR);
    assert_bstr(r.error, "CLIENT_ERROR invalid exptime argument\r\n");
    /* Tabs do not separate tokens. */
    assert_int_equal(parse("get\ta\r\n", &r), MC_TEXT_ERROR);
    assert_bstr(r.error, "ERROR\r\n");
    /* Upper case is unknown, and "GET / HTTP/1.1" closes. */
    assert_int_equal(parse("GET a\r\n", &r), MC_TEXT_ERROR);
    assert_int_equal(parse("GET / HTTP/1.1\r\n", &r), MC_TEXT_CLOSE);
    assert_int_equal(parse("foo HTTP/1.0\r\n", &r), MC_TEXT_CLOSE);
    /* ...but not for commands on memcached's first-letter fast paths. */
    assert_int_equal(parse("get HTTP/1.0\r\n", &r), MC_TEXT_OK);
    assert_int_equal(parse("gxx HTTP/1.0\r\n", &r), MC_TEXT_ERROR);
    assert_int_equal(parse("mx HTTP/1.0\r\n", &r), MC_TEXT_ERROR);
    assert_int_equal(parse("G HTTP/1.0\r\n", &r), MC_TEXT_ERROR);
}

static void
test_key_length(void **state)
{
    (void)state;
    char k250[251], k251[252], line[700];
    memset(k250, 'k', 250);
    k250[250] = '\0';
    memset(k251, 'k', 251);
    k251[251] = '\0';
    struct mc_text_req r;

    snprintf(line, sizeof(line), "get %s\r\n", k250);
    assert_int_equal(parse(line, &r), MC_TEXT_OK);
    snprintf(line, sizeof(line), "get a %s a\r\n", k251);
    assert_int_equal(parse(line, &r), MC_TEXT_ERROR);
    assert_bstr(r.error, "CLIENT_ERROR bad command line format\r\n");
    snprintf(line, sizeof(line), "gat 0 a %s\r\n", k251);
    assert_int_equal(parse(line, &r), MC_TEXT_ERROR);
    assert_bstr(r.error, "CLIENT_ERROR bad command line format\r\n");

    snprintf(line, sizeof(line), "set %s 0 0 1\r\nx\r\n", k250);
    assert_int_equal(parse(line, &r), MC_TEXT_OK);
    assert_int_equal(r.key.len, 250);
    snprintf(line, sizeof(line), "set %s 0 0 1\r\nx\r\n", k251);
    assert_int_equal(parse(line, &r), MC_TEXT_ERROR);
    assert_bstr(r.error, "CLIENT_ERROR bad command line format\r\n");
    /* The data line is not consumed: memcached then reads "x" as a command. */
    assert_int_equal(r.consumed, strlen(line) - 3);

    const char *fmts[] = {"incr %s 1\r\n", "decr %s 1\r\n", "touch %s 1\r\n", "delete %s\r\n"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(line, sizeof(line), fmts[i], k250);
        assert_int_equal(parse(line, &r), MC_TEXT_OK);
        snprintf(line, sizeof(line), fmts[i], k251);
        assert_int_equal(parse(line, &r), MC_TEXT_ERROR);
        assert_bstr(r.error, "CLIENT_ERROR bad command line format\r\n");
    }
}

static void
test_storage(void **state)
{
    (void)state;
    struct mc_text_req r;
    assert_int_equal(parse("set k 5 100 3\r\nabc\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.cmd, MC_TEXT_SET);
    assert_bstr(r.key, "k");
    assert_int_equal(r.flags, 5);
    assert_int_equal(r.exptime, 100);
    assert_int_equal(r.nbytes, 3);
    assert_bstr(r.data, "abc");
    assert_int_equal(r.consumed, 20);
    assert_false(r.noreply);

    static const struct {
        const char *s;
        enum mc_text_cmd cmd;
    } cmds[] = {
        {"add k 0 0 1 noreply\r\nx\r\n", MC_TEXT_ADD},
        {"replace k 0 0 1 noreply\r\nx\r\n", MC_TEXT_REPLACE},
        {"append k 0 0 1 noreply\r\nx\r\n", MC_TEXT_APPEND},
        {"prepend k 0 0 1 noreply\r\nx\r\n", MC_TEXT_PREPEND},
        {"cas k 0 0 1 77 noreply\r\nx\r\n", MC_TEXT_CAS},
        {"set k 0 0 1 noreply\nx\r\n", MC_TEXT_SET},
    };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        assert_int_equal(parse(cmds[i].s, &r), MC_TEXT_OK);
        assert_int_equal(r.cmd, cmds[i].cmd);
        assert_true(r.noreply);
        assert_bstr(r.data, "x");
        assert_int_equal(r.consumed, strlen(cmds[i].s));
    }
    assert_int_equal(parse("cas k 0 0 1 18446744073709551615\r\nx\r\n", &r), MC_TEXT_OK);
    assert_true(r.cas == UINT64_MAX);

    /* Empty value. */
    assert_int_equal(parse("set k 0 0 0\r\n\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.data.len, 0);
    /* A value holding CR, LF and NUL bytes. */
    assert_int_equal(parse_n("set k 0 0 4\r\n\r\n\0\n\r\n", 19, &r), MC_TEXT_OK);
    assert_int_equal(r.data.len, 4);
    /* An extra token that is not "noreply" is ignored. */
    assert_int_equal(parse("set k 0 0 1 foo\r\nx\r\n", &r), MC_TEXT_OK);
    assert_false(r.noreply);
}

static void
test_storage_errors(void **state)
{
    (void)state;
    struct mc_text_req r;
    /* Token counts. */
    const char *bad_count[] = {"set k 0 0\r\n",      "set k 0 0 1 noreply junk\r\n",
                               "cas k 0 0 1\r\n",    "set k 0 0 1 2 3 4\r\n",
                               "incr k\r\n",         "touch k\r\n",
                               "delete\r\n",         "delete a b c d\r\n",
                               "verbosity\r\n",      "cache_memlimit\r\n",
                               "flush_all 1 2 3\r\n"};
    for (size_t i = 0; i < sizeof(bad_count) / sizeof(bad_count[0]); i++) {
        assert_int_equal(parse(bad_count[i], &r), MC_TEXT_ERROR);
        assert_bstr(r.error, "ERROR\r\n");
        assert_false(r.noreply);
        assert_int_equal(r.consumed, strlen(bad_count[i]));
    }
    /* Bad numbers: the line alone is consumed. */
    const char *bad_num[] = {
        "set k -1 0 1\r\n",  "set k 0 0 -1\r\n",         "set k 0x5 0 1\r\n",
        "set k 0 x 1\r\n",   "set k 0 0 2147483646\r\n", "set k 0 0 99999999999999999999\r\n",
        "cas k 0 0 1 x\r\n", "cas k 0 0 1 -1\r\n",       "set k 0 0 4294967295\r\n"};
    for (size_t i = 0; i < sizeof(bad_num) / sizeof(bad_num[0]); i++) {
        assert_int_equal(parse(bad_num[i], &r), MC_TEXT_ERROR);
        assert_bstr(r.error, "CLIENT_ERROR bad command line format\r\n");
        assert_int_equal(r.consumed, strlen(bad_num[i]));
    }
    /* noreply is known before the error, so the error is suppressed too. */
    assert_int_equal(parse("set k 0 0 x noreply\r\n", &r), MC_TEXT_ERROR);
    assert_true(r.noreply);
    /* "set k 0 0 noreply": the last token is noreply, and the length bad. */
    assert_int_equal(parse("set k 0 0 noreply\r\n", &r), MC_TEXT_ERROR);
    assert_true(r.noreply);

    /* Bad data chunk: exactly bytes + 2 are consumed. */
    assert_int_equal(parse("set a 0 0 3\r\nabcde\r\n", &r), MC_TEXT_ERROR);
    assert_bstr(r.error, "CLIENT_ERROR bad data chunk\r\n");
    assert_int_equal(r.consumed, 18);
    assert_int_equal(parse("set a 0 0 1\r\nxyget a\r\n", &r), MC_TEXT_ERROR);
    assert_int_equal(r.consumed, 16);
    assert_int_equal(parse("set a 0 0 3 noreply\r\nabcdefgh\r\n", &r), MC_TEXT_ERROR);
    assert_true(r.noreply);
    assert_int_equal(parse("set a 0 0 1\r\nx\n\r\n", &r), MC_TEXT_ERROR);
    assert_int_equal(r.consumed, 16);
}

static void
test_numbers(void **state)
{
    (void)state;
    struct mc_text_req r;
    /* flags: 2^32 truncates to 0; "-0" is 0; -(2^64-1) wraps to 1. */
    assert_int_equal(parse("set a 4294967296 0 1\r\nx\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.flags, 0);
    assert_int_equal(parse("set a -0 0 1\r\nx\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.flags, 0);
    assert_int_equal(parse("set a -18446744073709551615 0 1\r\nx\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.flags, 1);
    assert_int_equal(parse("set a 4294967295 0 1\r\nx\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.flags, UINT32_MAX);
    /* Leading white space and a sign; a white-space byte may end a number. */
    assert_int_equal(parse("set a \t7 +5 1\t\r\nx\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.flags, 7);
    assert_int_equal(r.exptime, 5);
    assert_int_equal(r.nbytes, 1);
    /* exptime: 2^32 truncates to 0 (never), 2^31 to INT32_MIN (expired). */
    assert_int_equal(parse("set a 0 4294967296 1\r\nx\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.exptime, 0);
    assert_int_equal(parse("set a 0 2147483648 1\r\nx\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.exptime, INT32_MIN);
    /* length 2^32 + 1 is 1. */
    assert_int_equal(parse("set a 0 0 4294967297\r\nx\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.nbytes, 1);
    /* delta */
    assert_int_equal(parse("incr a 18446744073709551615\r\n", &r), MC_TEXT_OK);
    assert_true(r.delta == UINT64_MAX);
    assert_int_equal(parse("incr a 18446744073709551616\r\n", &r), MC_TEXT_ERROR);
    assert_bstr(r.error, "CLIENT_ERROR invalid numeric delta argument\r\n");
    assert_int_equal(parse("decr a -1\r\n", &r), MC_TEXT_ERROR);
    assert_bstr(r.error, "CLIENT_ERROR invalid numeric delta argument\r\n");
    assert_int_equal(parse("incr a x\r\n", &r), MC_TEXT_ERROR);
    assert_int_equal(parse("incr a 1 2\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.delta, 1);

    uint64_t u;
    uint32_t u32;
    int32_t i32;
    int64_t i64;
    assert_true(mc_text_u64(BSTR_LIT("0"), &u) && u == 0);
    assert_false(mc_text_u64(BSTR_LIT(""), &u));
    assert_false(mc_text_u64(BSTR_LIT("-"), &u));
    assert_false(mc_text_u64(BSTR_LIT(" "), &u));
    assert_false(mc_text_u64(BSTR_LIT("1x"), &u));
    assert_true(mc_text_u64(BSTR_LIT("1\rx"), &u) && u == 1);
    assert_false(mc_text_u64(BSTR_LIT("9223372036854775808-"), &u));
    assert_true(mc_text_u64(BSTR_LIT("9223372036854775807-"), &u) == false);
    assert_true(mc_text_u64(BSTR_LIT("9223372036854775808"), &u) && u == 9223372036854775808ULL);
    assert_true(mc_text_u32(BSTR_LIT("4294967297"), &u32) && u32 == 1);
    assert_true(mc_text_i32(BSTR_LIT("-2147483648"), &i32) && i32 == INT32_MIN);
    assert_true(mc_text_i32(BSTR_LIT("4294967295"), &i32) && i32 == -1);
    assert_false(mc_text_i32(BSTR_LIT("9223372036854775808"), &i32));
    assert_true(mc_text_i64(BSTR_LIT("-9223372036854775808"), &i64) && i64 == INT64_MIN);
    assert_false(mc_text_i64(BSTR_LIT("-9223372036854775809"), &i64));
    assert_true(mc_text_i64(BSTR_LIT("9223372036854775807"), &i64) && i64 == INT64_MAX);
    assert_false(mc_text_i64(BSTR_LIT("+"), &i64));
}

static void
test_swallow(void **state)
{
    (void)state;
    struct mc_text_req r;
    fit_max = 100;
    /* Refused on the line alone, whatever follows. */
    assert_int_equal(parse("set k 0 0 2000000\r\n", &r), MC_TEXT_TOO_LARGE);
    assert_int_equal(r.consumed, 19);
    assert_true(r.swallow == 2000002);
    assert_bstr(r.key, "k");
    assert_false(r.noreply);
    assert_int_equal(parse("set k 0 0 2147483645 noreply\r\nxx", &r), MC_TEXT_TOO_LARGE);
    assert_true(r.swallow == 2147483647ULL);
    assert_true(r.noreply);
    /* The limit counts the key (our stand-in: key + value <= 100). */
    assert_int_equal(parse("set k 0 0 99\r\n", &r), MC_TEXT_NEED_MORE);
    assert_int_equal(r.need, 14 + 99 + 2);
    assert_int_equal(parse("set kk 0 0 99\r\n", &r), MC_TEXT_TOO_LARGE);
    assert_true(r.swallow == 101);
    fit_max = 1024 * 1024;
}

static void
test_admin(void **state)
{
    (void)state;
    struct mc_text_req r;
    assert_int_equal(parse("version\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.cmd, MC_TEXT_VERSION);
    assert_int_equal(parse("version x y\r\n", &r), MC_TEXT_OK);
    assert_int_equal(parse("quit\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.cmd, MC_TEXT_QUIT);
    assert_int_equal(parse("stats\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.cmd, MC_TEXT_STATS);
    assert_int_equal(r.ntok, 1);
    assert_int_equal(parse("stats items\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.ntok, 2);
    assert_bstr(r.tok[1], "items");
    assert_int_equal(parse("flush_all\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.cmd, MC_TEXT_FLUSH_ALL);
    assert_int_equal(parse("flush_all 10 noreply\r\n", &r), MC_TEXT_OK);
    assert_true(r.noreply);
    assert_int_equal(r.ntok, 3);
    assert_int_equal(parse("verbosity 1\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.cmd, MC_TEXT_VERBOSITY);
    assert_int_equal(parse("verbosity noreply\r\n", &r), MC_TEXT_OK);
    assert_true(r.noreply);
    assert_int_equal(parse("cache_memlimit 100 noreply\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.cmd, MC_TEXT_CACHE_MEMLIMIT);
    assert_true(r.noreply);
    assert_int_equal(parse("shutdown graceful\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.cmd, MC_TEXT_SHUTDOWN);
    /* version, quit, stats and shutdown take no noreply. */
    assert_int_equal(parse("version noreply\r\n", &r), MC_TEXT_OK);
    assert_false(r.noreply);
    /* Meta commands are recognised, for mc_meta to parse. */
    assert_int_equal(parse("mn\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.cmd, MC_TEXT_MN);
    assert_int_equal(parse("mg foo v\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.cmd, MC_TEXT_MG);
    assert_int_equal(r.ntok, 3);
    assert_string_equal(mc_text_cmd_name(MC_TEXT_CACHE_MEMLIMIT), "cache_memlimit");
}

static void
test_arith_touch_delete(void **state)
{
    (void)state;
    struct mc_text_req r;
    assert_int_equal(parse("incr k 5\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.cmd, MC_TEXT_INCR);
    assert_bstr(r.key, "k");
    assert_int_equal(r.delta, 5);
    assert_int_equal(parse("decr k 5 noreply\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.cmd, MC_TEXT_DECR);
    assert_true(r.noreply);
    assert_int_equal(parse("incr k noreply\r\n", &r), MC_TEXT_ERROR);
    assert_true(r.noreply);

    assert_int_equal(parse("touch k 10\r\n", &r), MC_TEXT_OK);
    assert_int_equal(r.cmd, MC_TEXT_TOUCH);
    assert_int_equal(r.exptime, 10);
    assert_int_equal(parse("touch k 10 20\r\n", &r), MC_TEXT_OK);
    assert_false(r.noreply);
    assert_int_equal(parse("touch k x\r\n", &r), MC_TEXT_ERROR);
    assert_bstr(r.error, "CLIENT_ERROR invalid exptime argument\r\n");

    static const struct {
        const char *s;
        enum mc_text_rc rc;
        bool noreply;
    } del[] = {
        {"delete k\r\n", MC_TEXT_OK, false},
        {"delete k 0\r\n", MC_TEXT_OK, false},
        {"delete k noreply\r\n", MC_TEXT_OK, true},
        {"delete k 0 noreply\r\n", MC_TEXT_OK, true},
        {"delete k 5\r\n", MC_TEXT_ERROR, false},
        {"delete k 0 0\r\n", MC_TEXT_ERROR, false},
        {"delete k 1 noreply\r\n", MC_TEXT_ERROR, true},
        {"delete k noreply noreply\r\n", MC_TEXT_ERROR, true},
    };
    for (size_t i = 0; i < sizeof(del) / sizeof(del[0]); i++) {
        assert_int_equal(parse(del[i].s, &r), del[i].rc);
        assert_int_equal(r.noreply, del[i].noreply);
        if (del[i].rc == MC_TEXT_ERROR) {
            assert_bstr(r.error,
                        "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n");
        } else {
            assert_int_equal(r.cmd, MC_TEXT_DELETE);
            assert_bstr(r.key, "k");
        }
    }
}

static void
test_lines(void **state)
{
    (void)state;
    struct mc_text_req r;
    /* Empty lines and a lone CR. */
    assert_int_equal(parse("\r\n", &r), MC_TEXT_ERROR);
    assert_bstr(r.error, "ERROR\r\n");
    assert_int_equal(parse("\n", &r), MC_TEXT_ERROR);
    assert_int_equal(parse("a\r\n", &r), MC_TEXT_ERROR);
    assert_int_equal(r.consumed, 3);
    /* Only one CR is dropped. */
    assert_int_equal(parse("version\r\r\n", &r), MC_TEXT_ERROR);
    assert_int_equal(parse("get c\r\r\n", &r), MC_TEXT_OK);
    assert_bstr(r.keys, "c\r");
    /* A NUL ends the line. */
    assert_int_equal(parse_n("get a\0b\r\n", 9, &r), MC_TEXT_OK);
    assert_bstr(r.keys, "a");
    assert_int_equal(r.consumed, 9);
    assert_int_equal(parse_n("get\0 a\r\n", 8, &r), MC_TEXT_ERROR);
    assert_int_equal(parse_n("version\0foo\r\n", 13, &r), MC_TEXT_OK);
    assert_int_equal(parse_n("\0\r\n", 3, &r), MC_TEXT_ERROR);
    /* Too many tokens: memcached counts 23 and stops. */
    assert_int_equal(parse("set a 0 0 1 z z z z z z z z z z z z z z z z z z z z z z z z\r\n", &r),
                     MC_TEXT_ERROR);
    assert_bstr(r.error, "ERROR\r\n");
    assert_int_equal(parse("stats a b c d e f g h i j k l m n o p q r s t u v w x y z\r\n", &r),
                     MC_TEXT_OK);
    assert_int_equal(r.ntok, MC_TEXT_MAX_TOKENS);
    /* Nothing yet. */
    assert_int_equal(parse("", &r), MC_TEXT_NEED_MORE);
    assert_int_equal(r.need, 0);
    assert_int_equal(parse("get a", &r), MC_TEXT_NEED_MORE);
}

static void
test_long_lines(void **state)
{
    (void)state;
    struct mc_text_req r;
    size_t big = MC_TEXT_KEYS_LINE_MAX + 16;
    char *b = malloc(big);
    assert_non_null(b);

    /* 2048 bytes without a newline wait; 2049 close. */
    memset(b, 'y', big);
    assert_int_equal(mc_text_parse(b, 2048, &lim, &r), MC_TEXT_NEED_MORE);
    assert_int_equal(mc_text_parse(b, 2049, &lim, &r), MC_TEXT_CLOSE);
    /* A set line that long closes too... */
    memcpy(b, "set a 0 0 1 ", 12);
    assert_int_equal(mc_text_parse(b, 3000, &lim, &r), MC_TEXT_CLOSE);
    /* ...unless its newline is already there (memcached parses it). */
    memcpy(b + 3000, "\r\nx\r\n", 5);
    assert_int_equal(mc_text_parse(b, 3005, &lim, &r), MC_TEXT_OK);
    assert_int_equal(r.consumed, 3005);

    /* get and gets may go on, after up to 100 spaces. */
    memset(b, ' ', big);
    memcpy(b, "get ", 4);
    assert_int_equal(mc_text_parse(b, 100000, &lim, &r), MC_TEXT_NEED_MORE);
    memcpy(b, "gets ", 5);
    assert_int_equal(mc_text_parse(b, 100000, &lim, &r), MC_TEXT_NEED_MORE);
    memcpy(b, "gat 0 ", 6);
    assert_int_equal(mc_text_parse(b, 3000, &lim, &r), MC_TEXT_CLOSE);
    memset(b, ' ', 200);
    memcpy(b + 100, "get ", 4);
    assert_int_equal(mc_text_parse(b, 3000, &lim, &r), MC_TEXT_NEED_MORE);
    memset(b, ' ', 200);
    memcpy(b + 101, "get ", 4);
    assert_int_equal(mc_text_parse(b, 3000, &lim, &r), MC_TEXT_CLOSE);

    /* stashd's bound on get lines. */
    memset(b, 'k', big);
    memcpy(b, "get ", 4);
    for (size_t i = 10; i < big; i += 11) {
        b[i] = ' ';
    }
    assert_int_equal(mc_text_parse(b, MC_TEXT_KEYS_LINE_MAX, &lim, &r), MC_TEXT_NEED_MORE);
    assert_int_equal(mc_text_parse(b, MC_TEXT_KEYS_LINE_MAX + 1, &lim, &r), MC_TEXT_CLOSE);
    b[MC_TEXT_KEYS_LINE_MAX] = '\n';
    assert_int_equal(mc_text_parse(b, MC_TEXT_KEYS_LINE_MAX + 1, &lim, &r), MC_TEXT_OK);
    b[MC_TEXT_KEYS_LINE_MAX] = 'k';
    b[MC_TEXT_KEYS_LINE_MAX + 1] = '\n';
    assert_int_equal(mc_text_parse(b, MC_TEXT_KEYS_LINE_MAX + 2, &lim, &r), MC_TEXT_CLOSE);
    free(b);
}

static void
test_splits(void **state)
{
    (void)state;
    static const char *const reqs[] = {
        "get foo\r\n",
        "gets a b c\n",
        "gat 10 a b\r\n",
        "set k 5 100 3\r\nabc\r\n",
        "cas k 0 0 1 77 noreply\r\nx\r\n",
        "set a 0 0 3\r\nabcde\r\n",
        "set k 0 0 -1\r\n",
        "set k 0 0 2000000\r\n",
        "incr k 5\r\n",
        "delete k 5\r\n",
        "flush_all 10 noreply\r\n",
        "GET / HTTP/1.1\r\n",
        "\r\n",
    };
    struct mc_text_req r;
    fit_max = 100;
    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        enum mc_text_rc rc = parse_split(reqs[i], strlen(reqs[i]), &r);
        assert_int_not_equal(rc, MC_TEXT_NEED_MORE);
    }
    /* A storage request cut inside its data reports the total it needs. */
    assert_int_equal(parse("set k 0 0 10\r\n01234", &r), MC_TEXT_NEED_MORE);
    assert_int_equal(r.need, 14 + 12);
    fit_max = 1024 * 1024;
}

static void
test_pipeline(void **state)
{
    (void)state;
    const char *s = "set a 0 0 1\r\nx\r\nget a b\r\nincr n 1 noreply\r\ndelete a\r\nmn\r\n";
    static const enum mc_text_cmd want[] = {MC_TEXT_SET, MC_TEXT_GET, MC_TEXT_INCR, MC_TEXT_DELETE,
                                            MC_TEXT_MN};
    size_t off = 0, n = strlen(s);
    for (size_t i = 0; i < 5; i++) {
        struct mc_text_req r;
        assert_int_equal(mc_text_parse(s + off, n - off, &lim, &r), MC_TEXT_OK);
        assert_int_equal(r.cmd, want[i]);
        off += r.consumed;
    }
    assert_int_equal(off, n);
}

/* Short lists: the scan may look at the command before them, never
 * past their end, and finds the same keys as a plain walk. */
static void
test_short_key_lists(void **state)
{
    (void)state;
    static const char *const lines[] = {
        "get a\r\n",
        "get key:1 k2\r\n",
        "gets  x   yy \r\n",
        "  get abcdefghijkl\r\n",
        "get k1 k2 k3 k4 k5\r\n",
        "gat 10 tk\r\n",
    };
    static const char *const want[][6] = {
        {"a"},  {"key:1", "k2"}, {"x", "yy"}, {"abcdefghijkl"}, {"k1", "k2", "k3", "k4", "k5"},
        {"tk"},
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        /* the line alone in an exact-size heap block: ASan sees any
         * read outside it */
        size_t n = strlen(lines[i]);
        char *line = malloc(n);
        assert_non_null(line);
        memcpy(line, lines[i], n);
        struct mc_text_req r;
        assert_int_equal(mc_text_parse(line, n, &lim, &r), MC_TEXT_OK);
        struct mc_text_keys it;
        struct bstr k;
        mc_text_req_keys(&it, &r);
        size_t j = 0;
        while (mc_text_keys_next(&it, &k)) {
            assert_non_null(want[i][j]);
            assert_bstr(k, want[i][j]);
            j++;
        }
        assert_true(j == 6 || want[i][j] == NULL);
        free(line);
        /* The same line followed by more input (pipelined): a key's scan
         * may load past the line's end, and must not take what follows,
         * spaces included, as part of the key. */
        static const char tail[] = " x y z  w v u t s r q p o\r\n";
        size_t m = n + sizeof(tail) - 1;
        char *two = malloc(m);
        assert_non_null(two);
        memcpy(two, lines[i], n);
        memcpy(two + n, tail, sizeof(tail) - 1);
        assert_int_equal(mc_text_parse(two, m, &lim, &r), MC_TEXT_OK);
        assert_int_equal(r.consumed, n);
        mc_text_req_keys(&it, &r);
        for (j = 0; mc_text_keys_next(&it, &k); j++) {
            assert_non_null(want[i][j]);
            assert_bstr(k, want[i][j]);
        }
        assert_true(j == 6 || want[i][j] == NULL);
        free(two);
    }
}

static void
test_keys(void **state)
{
    (void)state;
    /* 3000 keys: more than memcached's 24 tokens per pass. */
    size_t cap = 3000 * 8 + 16, n = 0;
    char *line = malloc(cap);
    assert_non_null(line);
    n += (size_t)sprintf(line, "get");
    for (int i = 0; i < 3000; i++) {
        n += (size_t)sprintf(line + n, " k%d", i);
    }
    n += (size_t)sprintf(line + n, "  \r\n");
    struct mc_text_req r;
    assert_int_equal(mc_text_parse(line, n, &lim, &r), MC_TEXT_OK);
    struct mc_text_keys it;
    struct bstr k;
    char want[16];
    int i = 0;
    size_t resume_at = 0;
    mc_text_keys_init(&it, r.keys);
    while (mc_text_keys_next(&it, &k)) {
        snprintf(want, sizeof(want), "k%d", i);
        assert_bstr(k, want);
        if (i == 1234) {
            resume_at = mc_text_keys_offset(&it);
        }
        i++;
    }
    assert_int_equal(i, 3000);
    /* Resume after key 1234. */
    mc_text_keys_init(&it, r.keys);
    mc_text_keys_seek(&it, resume_at);
    assert_true(mc_text_keys_next(&it, &k));
    assert_bstr(k, "k1235");
    mc_text_keys_seek(&it, 1u << 30);
    assert_false(mc_text_keys_next(&it, &k));
    free(line);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get),        cmocka_unit_test(test_short_key_lists),
        cmocka_unit_test(test_get_errors), cmocka_unit_test(test_key_length),
        cmocka_unit_test(test_storage),    cmocka_unit_test(test_storage_errors),
        cmocka_unit_test(test_numbers),    cmocka_unit_test(test_swallow),
        cmocka_unit_test(test_admin),      cmocka_unit_test(test_arith_touch_delete),
        cmocka_unit_test(test_lines),      cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_splits),     cmocka_unit_test(test_pipeline),
        cmocka_unit_test(test_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
