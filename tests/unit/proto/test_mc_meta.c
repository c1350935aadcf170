/*
 * Tests for proto/mc_meta: the meta command syntax on top of mc_text's
 * tokenizer, memcached 1.6.18's order of checks (each error expectation
 * below was checked against the real server), the ms data block and its
 * swallow counts, and memcached's base64.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stashd/proto/mc_meta.h"
#include "stashd/proto/mc_text.h"

static size_t fit_max = 1024 * 1024;

static bool
fits(void *ctx, size_t nkey, size_t nbytes)
{
    (void)ctx;
    return nkey + nbytes <= fit_max;
}

static const struct mc_text_limits lim = {.fits = fits, .ctx = NULL};

/* The parse of one request; the copy lives until the next call. */
static char *copy;
static struct mc_text_req line;

/* mc_text_parse hands a meta line to mc_meta_parse in the same call: the
 * meta request (and mc_meta's own NEED_MORE) come back in line. */
static enum mc_meta_rc
parse_n(const char *s, size_t n, struct mc_meta_req *req)
{
    free(copy);
    copy = malloc(n > 0 ? n : 1); /* exact size: ASan sees any overread */
    assert_non_null(copy);
    memcpy(copy, s, n);
    enum mc_text_rc trc = mc_text_parse(copy, n, &lim, &line);
    assert_true(trc == MC_TEXT_OK || trc == MC_TEXT_NEED_MORE);
    assert_true(line.cmd >= MC_TEXT_MG && line.cmd <= MC_TEXT_ME);
    *req = line.meta;
    if (trc == MC_TEXT_NEED_MORE) {
        assert_int_equal(line.meta_rc, MC_META_NEED_MORE);
        return MC_META_NEED_MORE;
    }
    if (req->data.data != NULL) {
        assert_true(req->data.data >= copy && req->data.data + req->data.len <= copy + n);
    }
    return line.meta_rc;
}

static enum mc_meta_rc
parse(const char *s, struct mc_meta_req *req)
{
    return parse_n(s, strlen(s), req);
}

/* Parse s and require error text e (without "\r\n") and swallow count. */
static void
expect_error(const char *s, const char *e, uint64_t swallow)
{
    struct mc_meta_req r;
    enum mc_meta_rc rc = parse(s, &r);
    if (rc != MC_META_ERROR) {
        print_error("%s: rc %d\n", s, rc);
        fail();
    }
    char want[128];
    snprintf(want, sizeof(want), "%s\r\n", e);
    if (r.error.len != strlen(want) || memcmp(r.error.data, want, r.error.len) != 0) {
        print_error("%s: got %.*s", s, (int)r.error.len, r.error.data);
        fail();
    }
    assert_int_equal(r.swallow, swallow);
    assert_true(bstr_eq(mc_meta_error_text(r.error_id), r.error));
}

static void
expect_ok(const char *s, struct mc_meta_req *r)
{
    if (parse(s, r) != MC_META_OK) {
        print_error("%s: %.*s", s, (int)r->error.len, r->error.data);
        fail();
    }
}

static bool
key_is(const struct mc_meta_req *r, const char *k)
{
    return r->key.len == strlen(k) && memcmp(r->key.data, k, r->key.len) == 0;
}

/* --- commands ------------------------------------------------------------ */

static void
test_mg(void **state)
{
    (void)state;
    struct mc_meta_req r;
    expect_ok("mg foo v t O123 k\r\n", &r);
    assert_int_equal(r.cmd, MC_META_MG);
    assert_true(key_is(&r, "foo"));
    assert_int_equal(r.nflags, 4);
    assert_true(r.value && !r.noreply && !r.key_binary);
    assert_true(mc_meta_has(&r, 'v') && mc_meta_has(&r, 'O') && !mc_meta_has(&r, 's'));
    assert_int_equal(r.flags[2].len, 4);
    assert_memory_equal(r.flags[2].data, "O123", 4);
    assert_int_equal(r.extra, 0);

    expect_ok("mg foo T30 N-1 R5 q u\r\n", &r);
    assert_true(r.has_ttl && r.vivify && r.recache && r.noreply && r.no_update);
    assert_int_equal(r.ttl, 30);
    assert_int_equal(r.vivify_ttl, -1);
    assert_int_equal(r.recache_ttl, 5);

    /* flags memcached accepts and ignores, and letters with junk after */
    expect_ok("mg foo P L I vxyz h l\r\n", &r);
    assert_true(r.stale && r.value);

    expect_ok("mg foo\r\n", &r);
    assert_int_equal(r.nflags, 0);
    /* 17 flags: 20 tokens counted as memcached counts */
    expect_ok("mg k v s t c f h l k q u O1 P L I T1 N1 R1\r\n", &r);
    assert_int_equal(r.nflags, 17);
}

static void
test_mg_errors(void **state)
{
    (void)state;
    char big[400];
    expect_error("mg\r\n", "ERROR", 0);
    memset(big, 'k', sizeof(big));
    memcpy(big, "mg ", 3);
    memcpy(big + 3 + 251, "\r\n", 3);
    expect_error(big, "CLIENT_ERROR bad command line format", 0);
    expect_error("mg k x\r\n", "CLIENT_ERROR invalid flag", 0);
    expect_error("mg k E5\r\n", "CLIENT_ERROR invalid flag", 0); /* not in 1.6.18 */
    expect_error("mg k v v\r\n", "CLIENT_ERROR duplicate flag", 0);
    expect_error("mg k \xc3\xa9\r\n", "CLIENT_ERROR duplicate flag", 0);
    expect_error("mg k Tx\r\n", "CLIENT_ERROR bad token in command line format", 0);
    expect_error("mg k N\r\n", "CLIENT_ERROR bad token in command line format", 0);
    expect_error("mg k Cx\r\n", "CLIENT_ERROR bad token in command line format", 0);
    /* F records a fault without a message: the default one, or an earlier */
    expect_error("mg k Fx\r\n", "CLIENT_ERROR bad command line format", 0);
    expect_error("mg k Fx Tx\r\n", "CLIENT_ERROR bad token in command line format", 0);
    expect_error("mg k Tx Fx\r\n", "CLIENT_ERROR bad token in command line format", 0);
    expect_error("mg k MXY\r\n", "CLIENT_ERROR incorrect length for M token", 0);
    expect_error("mg k Jx\r\n", "CLIENT_ERROR invalid numeric initial value", 0);
    expect_error("mg k Dx\r\n", "CLIENT_ERROR invalid numeric delta value", 0);
    expect_error("mg k b\r\n", "CLIENT_ERROR error decoding key", 0);
    /* a bad number goes on, a duplicate stops at once */
    expect_error("mg k Tx v v\r\n", "CLIENT_ERROR duplicate flag", 0);
    expect_error("mg k Tx x\r\n", "CLIENT_ERROR invalid flag", 0);
    expect_error("mg k v s t c f h l k q u O1 P L I T1 N1 R1 b\r\n",
                 "CLIENT_ERROR options flags are too long", 0);
    expect_error("md k v s t c f h l k q u O1 P L I T1 N1 R1 b\r\n",
                 "CLIENT_ERROR options flags too long", 0);
    expect_error("ma k v s t c f h l k q u O1 P L I T1 N1 R1 b\r\n",
                 "CLIENT_ERROR options flags too long", 0);
}

static void
test_opaque(void **state)
{
    (void)state;
    struct mc_meta_req r;
    expect_ok("mg k O1234567890123456789012345678901\r\n", &r); /* 32 with the O */
    assert_false(r.long_opaque);
    /* mg and ma: memcached notices while replying (the command layer) */
    expect_ok("mg k O12345678901234567890123456789012\r\n", &r);
    assert_true(r.long_opaque);
    expect_ok("ma k O12345678901234567890123456789012\r\n", &r);
    assert_true(r.long_opaque);
    /* md before it looks anything up */
    expect_error("md k O12345678901234567890123456789012\r\n", "CLIENT_ERROR opaque token too long",
                 0);
    /* ma: the mode is checked first */
    expect_error("ma k MX O12345678901234567890123456789012\r\n",
                 "CLIENT_ERROR invalid mode for ma M token", 0);
}

static void
test_md_ma_messages(void **state)
{
    (void)state;
    struct mc_meta_req r;
    expect_error("md\r\n", "ERROR", 0);
    expect_error("md k x\r\n", "CLIENT_ERROR invalid or duplicate flag", 0);
    expect_error("md k Tx\r\n", "CLIENT_ERROR invalid or duplicate flag", 0);
    expect_error("ma k k k\r\n", "CLIENT_ERROR invalid or duplicate flag", 0);
    expect_error("ma k Dx\r\n", "CLIENT_ERROR invalid or duplicate flag", 0);
    expect_error("ma k MX\r\n", "CLIENT_ERROR invalid mode for ma M token", 0);
    expect_ok("md k I T30 C5 q\r\n", &r);
    assert_true(r.stale && r.has_ttl && r.has_cas && r.noreply);
    assert_int_equal(r.cas, 5);
    expect_ok("ma k\r\n", &r);
    assert_int_equal(r.delta, 1);
    assert_int_equal(r.initial, 0);
    assert_int_equal(r.mode, MC_META_MODE_NONE);
    expect_ok("ma k N0 J18446744073709551615 D7 M- v\r\n", &r);
    assert_true(r.vivify && r.value);
    assert_int_equal(r.initial, UINT64_MAX);
    assert_int_equal(r.delta, 7);
    assert_int_equal(r.mode, '-');
    for (const char *m = "I+D-"; *m != '\0'; m++) {
        char req[32];
        snprintf(req, sizeof(req), "ma k M%c\r\n", *m);
        expect_ok(req, &r);
        assert_int_equal(r.mode, *m);
    }
}

static void
test_mn_me(void **state)
{
    (void)state;
    struct mc_meta_req r;
    expect_ok("mn\r\n", &r);
    assert_int_equal(r.cmd, MC_META_MN);
    expect_ok("mn with anything x x x\r\n", &r);
    expect_error("me\r\n", "CLIENT_ERROR bad command line format", 0);
    expect_ok("me foo\r\n", &r);
    assert_int_equal(r.cmd, MC_META_ME);
    assert_true(key_is(&r, "foo") && !r.key_binary);
    expect_ok("me Zm9v b\r\n", &r);
    assert_true(key_is(&r, "foo") && r.key_binary);
    expect_ok("me Zm9v bb x\r\n", &r); /* only a lone "b" means base64 */
    assert_true(key_is(&r, "Zm9v"));
    expect_error("me foo b\r\n", "CLIENT_ERROR bad command line format", 0);
}

static void
test_ms(void **state)
{
    (void)state;
    struct mc_meta_req r;
    const char *s = "ms foo 5 T30 F7 MS c\r\nhello\r\nnext";
    assert_int_equal(parse(s, &r), MC_META_OK);
    assert_int_equal(r.cmd, MC_META_MS);
    assert_true(key_is(&r, "foo"));
    assert_int_equal(r.nbytes, 5);
    assert_int_equal(r.data.len, 5);
    assert_memory_equal(r.data.data, "hello", 5);
    assert_int_equal(r.extra, 7);
    assert_int_equal(r.client_flags, 7);
    assert_int_equal(r.ttl, 30);
    assert_int_equal(r.mode, 'S');
    assert_int_equal(r.nflags, 4);

    /* the data block, a byte short at every split */
    const char *full = "ms k 3 q\r\nabc\r\n";
    for (size_t cut = strlen("ms k 3 q\r\n"); cut < strlen(full); cut++) {
        assert_int_equal(parse_n(full, cut, &r), MC_META_NEED_MORE);
        assert_int_equal(r.need, 5);
    }
    expect_ok("ms k 0\r\n\r\n", &r);
    assert_int_equal(r.data.len, 0);
    for (const char *m = "EAPRS"; *m != '\0'; m++) {
        char req[32];
        snprintf(req, sizeof(req), "ms k 1 M%c\r\nx\r\n", *m);
        expect_ok(req, &r);
        assert_int_equal(r.mode, *m);
    }
    expect_ok("ms k 1 I C99 v s t h l u P L N5 R5 J1 D1\r\nx\r\n", &r);
    assert_true(r.stale && r.has_cas);
}

static void
test_ms_errors(void **state)
{
    (void)state;
    struct mc_meta_req r;
    /* before the length: nothing swallowed */
    expect_error("ms\r\n", "ERROR", 0);
    expect_error("ms k\r\n", "CLIENT_ERROR bad command line format", 0);
    expect_error("ms k abc\r\n", "CLIENT_ERROR bad command line format", 0);
    expect_error("ms k -1\r\n", "CLIENT_ERROR bad command line format", 0);
    expect_error("ms k 2147483646\r\n", "CLIENT_ERROR bad command line format", 0);
    expect_error("ms k q q q q q q q q q q q q q q q q q q\r\n",
                 "CLIENT_ERROR options flags too long", 0);
    expect_error("ms k 2 v s t c f h l k q u O1 P L I T1 N1 R1\r\n",
                 "CLIENT_ERROR options flags too long", 0);
    /* after it: the data (and its "\r\n") swallowed */
    expect_error("ms k 2 Fx\r\nxx\r\n", "CLIENT_ERROR bad command line format", 4);
    expect_error("ms k 2 x\r\nxx\r\n", "CLIENT_ERROR invalid flag", 4);
    expect_error("ms k 2 O1 O2\r\nxx\r\n", "CLIENT_ERROR duplicate flag", 4);
    expect_error("ms k 2 MX\r\nxx\r\n", "CLIENT_ERROR invalid mode for ms M token", 4);
    expect_error("ms k 2 MXX\r\nxx\r\n", "CLIENT_ERROR incorrect length for M token", 4);
    expect_error("ms k 2 O123456789012345678901234567890123\r\nxx\r\n",
                 "CLIENT_ERROR opaque token too long", 4);
    /* the mode beats a long opaque; a flag error beats both */
    expect_error("ms k 2 O123456789012345678901234567890123 MX\r\nxx\r\n",
                 "CLIENT_ERROR invalid mode for ms M token", 4);
    expect_error("ms k 2 O123456789012345678901234567890123 x\r\nxx\r\n",
                 "CLIENT_ERROR invalid flag", 4);
    expect_error("ms k 2 Tx MX\r\nxx\r\n", "CLIENT_ERROR bad token in command line format", 4);
    /* a bad chunk costs exactly bytes + 2 */
    assert_int_equal(parse("ms k 2\r\nabc\r\n", &r), MC_META_ERROR);
    assert_int_equal(r.extra, 4);
    assert_int_equal(r.swallow, 0);
    assert_true(bstr_eq(r.error, BSTR_LIT("CLIENT_ERROR bad data chunk\r\n")));
    /* too large: swallowed, answered by the caller */
    fit_max = 100;
    assert_int_equal(parse("ms k 200 T5\r\n", &r), MC_META_TOO_LARGE);
    assert_int_equal(r.swallow, 202);
    assert_int_equal(r.error_id, MC_META_ERR_TOO_LARGE);
    /* a flag error still wins over the size */
    expect_error("ms k 200 x\r\n", "CLIENT_ERROR invalid flag", 202);
    fit_max = 1024 * 1024;
}

/* --- base64 ---------------------------------------------------------------- */

static void
test_base64_keys(void **state)
{
    (void)state;
    struct mc_meta_req r;
    expect_ok("mg Zm9v b k\r\n", &r);
    assert_true(key_is(&r, "foo") && r.key_binary);
    assert_ptr_equal(r.key.data, line.meta_scratch);
    expect_ok("mg Zm9vYg== b\r\n", &r);
    assert_true(key_is(&r, "foob"));
    expect_ok("mg AAEC/w== b\r\n", &r);
    assert_int_equal(r.key.len, 4);
    assert_memory_equal(r.key.data, "\x00\x01\x02\xff", 4);
    expect_ok("ms Zm9v 2 b\r\nhi\r\n", &r);
    assert_true(key_is(&r, "foo"));
    expect_error("mg Zm9 b\r\n", "CLIENT_ERROR error decoding key", 0);
    expect_error("mg Zm9vYg b\r\n", "CLIENT_ERROR error decoding key", 0);
    expect_error("mg ==== b\r\n", "CLIENT_ERROR error decoding key", 0);
    expect_error("ms Zm9 2 b\r\nhi\r\n", "CLIENT_ERROR error decoding key", 4);
    /* the key limit is on the token as sent */
    char big[400];
    memset(big, 'Q', sizeof(big));
    memcpy(big, "mg ", 3);
    memcpy(big + 3 + 248, " b\r\n", 5);
    expect_ok(big, &r);
    assert_int_equal(r.key.len, 186);
}

static void
test_base64_codec(void **state)
{
    (void)state;
    char out[64];
    struct {
        const char *in;
        const char *out; /* NULL: fails */
        size_t n;
    } cases[] = {
        {"Zm9v", "foo", 3},
        {"Zm9vYg==", "foob", 4},
        {"Zm9vYmE=", "fooba", 5},
        {"Zm9v!Ym Fy", "foobar", 6}, /* bytes outside the alphabet are skipped */
        {"Zm8=YmFy", "fo", 2},       /* decoding stops after a padded block */
        {"AA==", "\0", 1},
        {"Z===", NULL, 0},
        {"====", NULL, 0},
        {"Zm9", NULL, 0},
        {"", NULL, 0},
        {"!!!!", NULL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = mc_meta_base64_decode(cases[i].in, strlen(cases[i].in), out, sizeof(out));
        if (cases[i].out == NULL) {
            assert_int_equal(n, 0);
        } else {
            assert_int_equal(n, cases[i].n);
            assert_memory_equal(out, cases[i].out, n);
        }
    }
    /* too small an output */
    assert_int_equal(mc_meta_base64_decode("Zm9vYmFy", 8, out, 5), 0);
    /* encode round trips every length */
    char bytes[200], enc[MC_META_B64_MAX], dec[200];
    for (size_t i = 0; i < sizeof(bytes); i++) {
        bytes[i] = (char)(i * 37 + 11);
    }
    for (size_t len = 1; len <= 187; len++) {
        size_t e = mc_meta_base64_encode(bytes, len, enc);
        assert_int_equal(e, (len + 2) / 3 * 4);
        assert_int_equal(mc_meta_base64_decode(enc, e, dec, sizeof(dec)), len);
        assert_memory_equal(dec, bytes, len);
    }
    assert_int_equal(mc_meta_base64_encode("foob", 4, enc), 8);
    assert_memory_equal(enc, "Zm9vYg==", 8);
}

static void
test_error_table(void **state)
{
    (void)state;
    for (int id = MC_META_ERR_ERROR; id < MC_META_ERR_COUNT; id++) {
        struct bstr t = mc_meta_error_text((enum mc_meta_err)id);
        assert_true(t.len > 2 && memcmp(t.data + t.len - 2, "\r\n", 2) == 0);
    }
    assert_int_equal(mc_meta_error_text(MC_META_ERR_NONE).len, 0);
    assert_int_equal(mc_meta_error_text(MC_META_ERR_COUNT).len, 0);
}

static int
teardown(void **state)
{
    (void)state;
    free(copy);
    copy = NULL;
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mg),           cmocka_unit_test(test_mg_errors),
        cmocka_unit_test(test_opaque),       cmocka_unit_test(test_md_ma_messages),
        cmocka_unit_test(test_mn_me),        cmocka_unit_test(test_ms),
        cmocka_unit_test(test_ms_errors),    cmocka_unit_test(test_base64_keys),
        cmocka_unit_test(test_base64_codec), cmocka_unit_test(test_error_table),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
