/*
 * Tests for cmd/mc_meta_cmd (and the text loop's meta hook and ASCII
 * authentication): meta requests in, exact reply bytes out, against a real
 * store. Expected replies were checked against memcached 1.6.18 (the
 * integration suite compares whole scripts byte for byte).
 */
#include "cmd_fixture.h"

/* The number after " c" in s (a cas a reply handed out). */
static uint64_t
cas_in(const char *s)
{
    const char *p = strstr(s, " c");
    assert_non_null(p);
    return strtoull(p + 2, NULL, 10);
}

static void
test_mn_mg_ms(void **state)
{
    struct fixture *f = *state;
    fx_expect(f, "mn\r\n", "MN\r\n");
    fx_expect(f, "mg foo v\r\n", "EN\r\n");
    fx_expect(f, "mg foo v k O123 s\r\n", "EN kfoo O123\r\n");
    fx_expect(f, "mg foo v q\r\nmg bar q\r\nmn\r\n", "MN\r\n");
    fx_expect(f, "ms foo 5 F42 T100\r\nhello\r\n", "HD\r\n");
    fx_expect(f, "mg foo\r\n", "HD\r\n");
    fx_expect(f, "mg foo v\r\n", "VA 5\r\nhello\r\n");
    fx_expect(f, "mg foo s v f t k O9 h\r\n", "VA 5 s5 f42 t100 kfoo O9 h1\r\nhello\r\n");
    fx_expect(f, "mg foo q\r\n", "HD\r\n");          /* q hides misses only */
    fx_expect(f, "mg foo t T30\r\n", "HD t100\r\n"); /* T takes effect where it stands */
    fx_expect(f, "mg foo T40 t\r\n", "HD t40\r\n");
    fx_expect(f, "mg foo T0 t\r\n", "HD t-1\r\n");
    fx_expect(f, "ms foo 2 q\r\nhi\r\nms foo 2 ME q\r\nxx\r\n", "NS\r\n");
    fx_expect(f, "ms foo 2 MR k O1\r\nab\r\n", "HD kfoo O1\r\n");
    fx_expect(f, "ms foo 1 MA\r\nc\r\nms foo 1 MP\r\nz\r\nmg foo v\r\n",
              "HD\r\nHD\r\nVA 4\r\nzabc\r\n");
    fx_expect(f, "ms nope 1 MA\r\nc\r\nms nope 1 MR\r\nc\r\n", "NS\r\nNS\r\n");
    fx_expect(f, "ms foo 0\r\n\r\nmg foo v s\r\n", "HD\r\nVA 0 s0\r\n\r\n");
    fx_expect(f, "ms bin 4\r\na\r\nb\r\nmg bin v\r\n", "HD\r\nVA 4\r\na\r\nb\r\n");
    /* text and meta share items */
    fx_expect(f, "get bin\r\n", "VALUE bin 0 4\r\na\r\nb\r\nEND\r\n");
    fx_expect(f, "set t 7 0 1\r\nx\r\nmg t f v\r\n", "STORED\r\nVA 1 f7\r\nx\r\n");
}

static void
test_cas(void **state)
{
    struct fixture *f = *state;
    char *got, req[128];
    fx_feed_str(f, "ms k 2 c\r\nhi\r\n");
    fx_take(f, &got);
    uint64_t cas = cas_in(got);
    assert_true(cas > 0);
    snprintf(req, sizeof(req), "mg k c\r\n");
    fx_feed_str(f, req);
    fx_take(f, &got);
    assert_int_equal(cas_in(got), cas);
    snprintf(req, sizeof(req), "ms k 2 C%llu c\r\nzz\r\n", (unsigned long long)cas + 1);
    fx_expect(f, req, "EX c0\r\n");
    fx_expect(f, "ms none 2 C5\r\nzz\r\n", "NF\r\n");
    fx_expect(f, "ms none 2 ME C5\r\nzz\r\n", "HD\r\n"); /* add ignores a cas */
    snprintf(req, sizeof(req), "ms k 2 C%llu c\r\nzz\r\n", (unsigned long long)cas);
    fx_feed_str(f, req);
    fx_take(f, &got);
    uint64_t cas2 = cas_in(got);
    assert_true(cas2 != cas && strncmp(got, "HD c", 4) == 0);
    snprintf(req, sizeof(req), "md k C%llu\r\n", (unsigned long long)cas);
    fx_expect(f, req, "EX\r\n");
    snprintf(req, sizeof(req), "ma k C%llu\r\n", (unsigned long long)cas);
    fx_expect(f, req, "EX\r\n"); /* the cas is checked before the number */
    snprintf(req, sizeof(req), "md k C%llu q\r\nmg k\r\n", (unsigned long long)cas2);
    fx_expect(f, req, "EN\r\n");
    assert_int_equal(f->m.cas_badval, 1);
    assert_int_equal(f->m.cas_misses, 1);
    assert_int_equal(f->m.cas_hits, 1);
}

static void
test_md(void **state)
{
    struct fixture *f = *state;
    fx_expect(f, "md nope\r\nmd nope q\r\nmd nope k O7\r\n", "NF\r\nNF\r\nNF knope O7\r\n");
    fx_expect(f, "ms k 1\r\nx\r\nmd k q\r\nmg k\r\n", "HD\r\nEN\r\n");
    fx_expect(f, "ms k 1\r\nx\r\nmd k k O9 c\r\n", "HD\r\nHD kk O9\r\n");
    assert_int_equal(f->m.delete_hits, 2);
    assert_int_equal(f->m.delete_misses, 3);
    fx_expect(f, "md k x\r\nmd k Tx\r\nmd\r\n",
              "CLIENT_ERROR invalid or duplicate flag\r\n"
              "CLIENT_ERROR invalid or duplicate flag\r\nERROR\r\n");
}

static void
test_ma(void **state)
{
    struct fixture *f = *state;
    fx_expect(f, "ma cnt\r\nma cnt q\r\nma cnt q O5 k\r\n", "NF\r\nNF\r\nNF O5 kcnt\r\n");
    fx_expect(f, "ma cnt N0 J10\r\nma cnt v\r\n", "HD\r\nVA 2\r\n11\r\n");
    fx_expect(f, "ma cnt v MD D3 t k O9\r\n", "VA 1 t-1 kcnt O9\r\n8\r\n");
    fx_expect(f, "ma cnt M- D100 v\r\nma cnt MI D5 q\r\nma cnt q v\r\nma cnt M+ v\r\n",
              "VA 1\r\n0\r\nVA 1\r\n7\r\n");
    /* T and N where they stand; a creation is answered even under q */
    fx_expect(f, "ma c2 N0 J5 t v\r\nma c2 T100 t v\r\nma c2 t v N50\r\n",
              "VA 1 t-1\r\n5\r\nVA 1 t100\r\n6\r\nVA 1 t100\r\n7\r\n");
    fx_expect(f, "ma c3 N30 J7 q v\r\n", "VA 1\r\n7\r\n");
    fx_expect(f, "ma c4 N30 T60 v t\r\nma c5 t N30 v\r\nma c5 v t\r\n",
              "VA 1 t60\r\n0\r\nVA 1 t-1\r\n0\r\nVA 1 t30\r\n1\r\n");
    fx_expect(f, "ms big 20\r\n18446744073709551615\r\nma big v\r\n", "HD\r\nVA 1\r\n0\r\n");
    fx_expect(f, "ms nn 2\r\nab\r\nma nn\r\n",
              "HD\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
    fx_expect(f, "ma nn MX\r\n", "CLIENT_ERROR invalid mode for ma M token\r\n");
    /* a long opaque: memcached does the arithmetic, then refuses */
    fx_expect(f, "ma cnt O12345678901234567890123456789012 v\r\nma cnt v\r\n",
              "CLIENT_ERROR opaque token too long\r\nVA 1\r\n9\r\n");
    assert_int_equal(f->m.incr_misses, 3);
}

static void
test_me(void **state)
{
    struct fixture *f = *state;
    char *got;
    fx_expect(f, "me nope\r\nme\r\n", "EN\r\nCLIENT_ERROR bad command line format\r\n");
    fx_expect(f, "ms k 5 T100\r\nhello\r\n", "HD\r\n");
    fx_feed_str(f, "me k\r\n");
    fx_take(f, &got);
    assert_true(strncmp(got, "ME k exp=-100 la=0 cas=", 23) == 0);
    assert_non_null(strstr(got, " fetch=no cls="));
    /* 12-byte header, 4-byte expiry, key, value */
    assert_non_null(strstr(got, " size=22\r\n"));
    fx_expect(f, "mg k\r\n", "HD\r\n");
    fx_feed_str(f, "me k\r\nms Yg== 1 b\r\nx\r\nme b b\r\nme Yg== b\r\nme b\r\n");
    fx_take(f, &got);
    assert_non_null(strstr(got, " fetch=yes "));
    /* a base64 key is shown encoded, however it was asked for */
    const char *tail = strstr(got, "HD\r\nCLIENT_ERROR bad command line format\r\nME Yg== exp=-1 ");
    assert_non_null(tail);
    assert_non_null(strstr(tail + 10, "\r\nME Yg== exp=-1 "));
    assert_int_equal(f->m.cmd_meta, 5); /* parse errors are not counted */
}

static void
test_base64(void **state)
{
    struct fixture *f = *state;
    fx_expect(f, "ms Zm9v 2 b\r\nhi\r\n", "HD\r\n");
    fx_expect(f, "mg foo k v\r\n", "VA 2 kZm9v b\r\nhi\r\n");
    fx_expect(f, "mg Zm9v b k v\r\n", "VA 2 kZm9v b\r\nhi\r\n");
    fx_expect(f, "set foo 0 0 3\r\nabc\r\nmg Zm9v b k s\r\n", "STORED\r\nHD kfoo s3\r\n");
    fx_expect(f, "mg Zm9vYg== b k\r\n", "EN kZm9vYg== b\r\n");
    fx_expect(f, "mg Zm9 b k\r\n", "CLIENT_ERROR error decoding key\r\n");
    fx_expect(f, "ms AAEC/w== 3 b k\r\nbin\r\nmg AAEC/w== b v\r\n",
              "HD kAAEC/w== b\r\nVA 3\r\nbin\r\n");
    fx_expect(f, "md AAEC/w== b q\r\nmg AAEC/w== b\r\n", "EN\r\n");
    fx_expect(f, "ms Zm9v 1 b MA k\r\n!\r\nmg foo k v\r\n", "HD kZm9v b\r\nVA 4 kfoo\r\nabc!\r\n");
}

static void
test_stale_and_win(void **state)
{
    struct fixture *f = *state;
    char *got, req[128];
    fx_expect(f, "ms st 2 T100\r\nab\r\nmd st I T30\r\n", "HD\r\nHD\r\n");
    fx_expect(f, "mg st v t\r\n", "VA 2 t30 X W\r\nab\r\n");
    fx_expect(f, "mg st v\r\nmg st\r\n", "VA 2 Z X\r\nab\r\nHD Z X\r\n");
    /* a late writer with an older cas stores, but the value stays stale */
    fx_expect(f, "ms st 3 I C1\r\nold\r\nmg st v t\r\n", "HD\r\nVA 3 t30 Z X\r\nold\r\n");
    fx_feed_str(f, "mg st c\r\n");
    fx_take(f, &got);
    snprintf(req, sizeof(req), "ms st 3 I C%llu\r\nnew\r\nmg st v\r\n",
             (unsigned long long)cas_in(got));
    fx_expect(f, req, "HD\r\nVA 3\r\nnew\r\n"); /* the current cas: a normal set */
    fx_expect(f, "md st I q\r\nmg st\r\nmg st\r\n", "HD X W\r\nHD Z X\r\n");
    fx_expect(f, "md st I\r\nmg st\r\n", "HD\r\nHD X W\r\n"); /* invalidating again re-arms */
    fx_expect(f, "ms st 1\r\nx\r\nmg st\r\n", "HD\r\nHD\r\n");
    /* recache */
    fx_expect(f, "ms r 2 T10\r\nab\r\nmg r R30 v\r\nmg r R30 v\r\nmg r R5\r\n",
              "HD\r\nVA 2 W\r\nab\r\nVA 2 Z\r\nab\r\nHD Z\r\n");
    fx_expect(f, "ms r2 2\r\nab\r\nmg r2 R30\r\n", "HD\r\nHD\r\n"); /* no TTL: no recache */
    /* vivify */
    fx_expect(f, "mg v N30 v t s f k h\r\n", "VA 0 t30 s0 f0 kv h0 W\r\n\r\n");
    fx_expect(f, "mg v N30 v h\r\nmg v t N30\r\n", "VA 0 h1 Z\r\n\r\nHD t30 Z\r\n");
    fx_expect(f, "ms v 3 T100\r\nnew\r\nmg v N30 v\r\n", "HD\r\nVA 3\r\nnew\r\n");
    fx_expect(f, "mg v2 t N30\r\n", "HD t-1 W\r\n");
    fx_expect(f, "mg v3 N30 q\r\nmg v3 q\r\nmn\r\n", "HD W\r\nHD Z\r\nMN\r\n");
    /* a long opaque: the item is made, the win is not handed out */
    fx_expect(f, "mg v4 N30 O12345678901234567890123456789012\r\nmg v4\r\n",
              "CLIENT_ERROR opaque token too long\r\nHD\r\n");
    assert_int_equal(f->m.get_misses, 0);
}

static void
test_errors_and_swallow(void **state)
{
    struct fixture *f = *state;
    fx_expect(f, "mg\r\nmg k x\r\nmg k v v\r\nmx k\r\n",
              "ERROR\r\nCLIENT_ERROR invalid flag\r\nCLIENT_ERROR duplicate flag\r\nERROR\r\n");
    fx_expect(f, "ms k\r\nms k abc\r\n",
              "CLIENT_ERROR bad command line format\r\nCLIENT_ERROR bad command line format\r\n");
    /* errors ignore q; after the length the data is swallowed */
    fx_expect(f, "ms k 2 x q\r\nxx\r\nmn\r\n", "CLIENT_ERROR invalid flag\r\nMN\r\n");
    fx_expect(f, "ms k 2\r\nabc\r\n", "CLIENT_ERROR bad data chunk\r\nERROR\r\n");
    assert_true(f->m.protocol_errors >= 8);
    /* a too-large value: swallowed as it comes, answered after it */
    fx_expect(f, "ms k 1\r\nx\r\n", "HD\r\n");
    char head[64];
    snprintf(head, sizeof(head), "ms k %d T5\r\n", 2 * FX_MAX_ITEM);
    fx_expect(f, head, "");
    char *chunk = malloc(FX_MAX_ITEM);
    assert_non_null(chunk);
    memset(chunk, 'x', FX_MAX_ITEM);
    fx_feed(f, chunk, FX_MAX_ITEM);
    assert_int_equal(f->in_len, 0); /* never buffered */
    fx_expect(f, "", "");
    fx_feed(f, chunk, FX_MAX_ITEM);
    fx_expect(f, "\r\nmg k\r\n", "SERVER_ERROR object too large for cache\r\nEN\r\n");
    free(chunk);
    assert_int_equal(f->m.store_too_large, 1);
    /* an ms data block arriving a byte at a time */
    const char *req = "ms s 10 T9 c\r\n0123456789\r\n";
    for (const char *p = req; *p != '\0'; p++) {
        fx_feed(f, p, 1);
    }
    char *got;
    fx_take(f, &got);
    assert_true(strncmp(got, "HD c", 4) == 0);
    fx_expect(f, "mg s v t\r\n", "VA 10 t9\r\n0123456789\r\n");
}

static void
test_stats_counts(void **state)
{
    struct fixture *f = *state;
    fx_expect(f, "ms a 1\r\n1\r\nmg a v\r\nmg b v\r\nmg a T10\r\nmg b T10\r\n",
              "HD\r\nVA 1\r\n1\r\nEN\r\nHD\r\nEN\r\n");
    assert_int_equal(f->m.cmd_get, 3);
    assert_int_equal(f->m.get_hits, 1);
    assert_int_equal(f->m.get_misses, 2);
    assert_int_equal(f->m.cmd_touch, 1);
    assert_int_equal(f->m.touch_hits, 1);
    assert_int_equal(f->m.cmd_set, 1);
}

static void
test_ascii_auth(void **state)
{
    struct fixture *f = *state;
    fx_pwdb(f, "alice:s3cret\nbob:hunter2\n");
    fx_reconnect(f);
    fx_expect(f, "get foo\r\n", "CLIENT_ERROR unauthenticated\r\n");
    /* one read, one reply: memcached keeps only the last */
    fx_expect(f, "get foo\r\nversion\r\n", "CLIENT_ERROR unauthenticated\r\n");
    fx_expect(f, "set a 0 0 12\r\nalice wrongg\r\n", "CLIENT_ERROR authentication failure\r\n");
    fx_expect(f, "set a 0 0 5\r\nalice\r\n", "CLIENT_ERROR bad authentication token format\r\n");
    fx_expect(f, "set a 0 0 12\r\nalice s3cretXX", "CLIENT_ERROR bad command line termination\r\n");
    /* the data may come later */
    fx_expect(f, "set a 0 0 12\r\n", "");
    fx_expect(f, "alice s3cret\r\nset k 0 0 1\r\nv\r\nget k\r\n",
              "STORED\r\nSTORED\r\nVALUE k 0 1\r\nv\r\nEND\r\n");
    assert_int_equal(f->m.auth_cmds, 2);
    assert_int_equal(f->m.auth_errors, 1);
    /* a fresh connection starts over; meta is gated the same */
    fx_reconnect(f);
    fx_expect(f, "mg k v\r\n", "CLIENT_ERROR unauthenticated\r\n");
    fx_expect(f, "set a b c 12 x\r\nbob  hunter2\r\nmg k v\r\n", "STORED\r\nVA 1\r\nv\r\n");
    /* over-long credentials close */
    fx_reconnect(f);
    fx_feed_str(f, "set a 0 0 100000\r\n");
    assert_true(f->closed);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mn_mg_ms, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cas, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_md, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ma, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_me, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_base64, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stale_and_win, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_errors_and_swallow, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stats_counts, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ascii_auth, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
