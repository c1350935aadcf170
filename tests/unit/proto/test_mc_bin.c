/*
 * Tests for proto/mc_bin: header parsing at every split point, the magic
 * checked only once a whole header is in, memcached 1.6.18's shape rules
 * per opcode (checked against the real server), quiet opcodes, status
 * texts and the response header layout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stashd/proto/mc_bin.h"

/* A request: header, extras, key, value. Returns its length. */
static size_t
build(unsigned char *out, uint8_t magic, uint8_t op, const char *key, const void *extras,
      uint8_t extlen, const char *value, uint32_t opaque, uint64_t cas)
{
    size_t klen = key != NULL ? strlen(key) : 0, vlen = value != NULL ? strlen(value) : 0;
    out[0] = magic;
    out[1] = op;
    out[2] = (unsigned char)(klen >> 8);
    out[3] = (unsigned char)klen;
    out[4] = extlen;
    out[5] = 0;
    out[6] = 0;
    out[7] = 0;
    mc_bin_put_be32(out + 8, (uint32_t)(extlen + klen + vlen));
    mc_bin_put_be32(out + 12, opaque);
    mc_bin_put_be64(out + 16, cas);
    size_t n = 24;
    if (extlen != 0) {
        memcpy(out + n, extras, extlen);
    }
    n += extlen;
    if (klen != 0) {
        memcpy(out + n, key, klen);
    }
    n += klen;
    if (vlen != 0) {
        memcpy(out + n, value, vlen);
    }
    return n + vlen;
}

static enum mc_bin_rc
parse_n(const unsigned char *p, size_t n, struct mc_bin_req *req)
{
    char *copy = malloc(n > 0 ? n : 1);
    assert_non_null(copy);
    memcpy(copy, p, n);
    enum mc_bin_rc rc = mc_bin_parse(copy, n, req);
    if (rc == MC_BIN_OK) {
        assert_true(req->key.data >= copy && req->key.data + req->key.len <= copy + n);
        assert_true((const char *)req->extras >= copy &&
                    (const char *)req->extras + req->extlen <= copy + n);
        /* rebase the views onto p for the caller */
        req->key.data = (const char *)p + (req->key.data - copy);
        req->extras = p + ((const char *)req->extras - copy);
    }
    free(copy);
    return rc;
}

static void
test_parse(void **state)
{
    (void)state;
    unsigned char buf[256];
    unsigned char ext[8] = {0, 0, 0, 5, 0, 0, 0, 100};
    size_t n = build(buf, 0x80, MC_BIN_SET, "key", ext, 8, "value", 0xdeadbeef, 42);
    struct mc_bin_req r;
    assert_int_equal(parse_n(buf, n, &r), MC_BIN_OK);
    assert_int_equal(r.opcode, MC_BIN_SET);
    assert_int_equal(r.keylen, 3);
    assert_int_equal(r.extlen, 8);
    assert_int_equal(r.bodylen, 16);
    assert_int_equal(r.opaque, 0xdeadbeef);
    assert_int_equal(r.cas, 42);
    assert_int_equal(r.consumed, 24 + 8 + 3);
    assert_memory_equal(r.key.data, "key", 3);
    assert_int_equal(mc_bin_be32(r.extras), 5);
    assert_int_equal(mc_bin_be32(r.extras + 4), 100);
    assert_int_equal(mc_bin_value_len(&r), 5);
    assert_int_equal(mc_bin_check_body(&r), MC_BIN_CHECK_OK);
    assert_int_equal(mc_bin_check_args(&r), MC_BIN_CHECK_OK);
    /* every split before extras and key are in asks for more; the value
     * is never waited for here */
    for (size_t cut = 0; cut < 35; cut++) {
        assert_int_equal(parse_n(buf, cut, &r), MC_BIN_NEED_MORE);
        assert_int_equal(r.need, cut < 24 ? 24 : 35);
    }
    assert_int_equal(parse_n(buf, 35, &r), MC_BIN_OK);
}

static void
test_magic(void **state)
{
    (void)state;
    unsigned char buf[64];
    struct mc_bin_req r;
    size_t n = build(buf, 0x81, MC_BIN_NOOP, NULL, NULL, 0, NULL, 0, 0);
    /* memcached looks at the magic once the header is whole */
    assert_int_equal(parse_n(buf, 10, &r), MC_BIN_NEED_MORE);
    assert_int_equal(parse_n(buf, n, &r), MC_BIN_BAD_MAGIC);
    buf[0] = 0x00;
    assert_int_equal(parse_n(buf, n, &r), MC_BIN_BAD_MAGIC);
}

/* Shape check of a request with these lengths (bodylen may exceed parts). */
static enum mc_bin_check
shape(uint8_t op, uint16_t keylen, uint8_t extlen, uint32_t bodylen)
{
    struct mc_bin_req r = {.opcode = op, .keylen = keylen, .extlen = extlen, .bodylen = bodylen};
    enum mc_bin_check c = mc_bin_check_body(&r);
    return c != MC_BIN_CHECK_OK ? c : mc_bin_check_args(&r);
}

static void
test_shapes(void **state)
{
    (void)state;
    const enum mc_bin_check OK = MC_BIN_CHECK_OK, ARGS = MC_BIN_CHECK_ARGS,
                            BODY = MC_BIN_CHECK_BODY, UNKNOWN = MC_BIN_CHECK_UNKNOWN;
    /* key and extras must fit the body */
    assert_int_equal(shape(MC_BIN_GET, 3, 0, 2), BODY);
    assert_int_equal(shape(MC_BIN_GET, 3, 4, 5), BODY);
    /* the key limit, whatever the opcode */
    assert_int_equal(shape(MC_BIN_GET, 251, 0, 251), ARGS);
    assert_int_equal(shape(0x60, 300, 0, 300), ARGS);
    assert_int_equal(shape(MC_BIN_GET, 250, 0, 250), OK);
    /* gets */
    for (uint8_t op = 0; op < 0x30; op++) {
        bool q;
        uint8_t base = mc_bin_base_opcode(op, &q);
        if (base == MC_BIN_GET || base == MC_BIN_GETK) {
            assert_int_equal(shape(op, 1, 0, 1), OK);
            assert_int_equal(shape(op, 0, 0, 0), ARGS);
            assert_int_equal(shape(op, 1, 4, 5), ARGS);
            assert_int_equal(shape(op, 1, 0, 2), ARGS);
        }
    }
    assert_int_equal(shape(MC_BIN_SET, 1, 8, 9), OK);
    assert_int_equal(shape(MC_BIN_SETQ, 1, 8, 100), OK);
    assert_int_equal(shape(MC_BIN_ADD, 0, 8, 9), ARGS);
    assert_int_equal(shape(MC_BIN_REPLACE, 1, 4, 9), ARGS);
    assert_int_equal(shape(MC_BIN_DELETE, 1, 0, 1), OK);
    assert_int_equal(shape(MC_BIN_DELETEQ, 1, 0, 2), ARGS);
    assert_int_equal(shape(MC_BIN_INCREMENT, 1, 20, 21), OK);
    assert_int_equal(shape(MC_BIN_DECREMENTQ, 1, 20, 22), ARGS);
    assert_int_equal(shape(MC_BIN_INCREMENT, 1, 19, 20), ARGS);
    assert_int_equal(shape(MC_BIN_APPEND, 1, 0, 100), OK);
    assert_int_equal(shape(MC_BIN_PREPENDQ, 1, 4, 100), ARGS);
    assert_int_equal(shape(MC_BIN_APPEND, 0, 0, 100), ARGS);
    assert_int_equal(shape(MC_BIN_FLUSH, 0, 0, 0), OK);
    assert_int_equal(shape(MC_BIN_FLUSHQ, 0, 4, 4), OK);
    assert_int_equal(shape(MC_BIN_FLUSH, 0, 3, 3), ARGS);
    assert_int_equal(shape(MC_BIN_FLUSH, 0, 4, 5), ARGS);
    assert_int_equal(shape(MC_BIN_FLUSH, 1, 0, 1), ARGS);
    for (uint8_t op = 0; op < 0x30; op++) {
        if (op == MC_BIN_NOOP || op == MC_BIN_VERSION || op == MC_BIN_QUIT || op == MC_BIN_QUITQ ||
            op == MC_BIN_SASL_LIST_MECHS) {
            assert_int_equal(shape(op, 0, 0, 0), OK);
            assert_int_equal(shape(op, 0, 0, 1), ARGS);
            assert_int_equal(shape(op, 1, 0, 1), ARGS);
        }
    }
    assert_int_equal(shape(MC_BIN_STAT, 0, 0, 0), OK);
    assert_int_equal(shape(MC_BIN_STAT, 5, 0, 50), OK); /* extra body: left unread */
    assert_int_equal(shape(MC_BIN_STAT, 0, 4, 4), ARGS);
    assert_int_equal(shape(MC_BIN_SASL_AUTH, 5, 0, 20), OK);
    assert_int_equal(shape(MC_BIN_SASL_STEP, 0, 0, 20), ARGS);
    assert_int_equal(shape(MC_BIN_TOUCH, 1, 4, 5), OK);
    assert_int_equal(shape(MC_BIN_GATKQ, 1, 4, 9), OK);
    assert_int_equal(shape(MC_BIN_GAT, 1, 0, 1), ARGS);
    assert_int_equal(shape(MC_BIN_GATQ, 0, 4, 4), ARGS);
    /* unknown: VERBOSITY (memcached 1.6.18), gaps, everything high */
    assert_int_equal(shape(MC_BIN_VERBOSITY, 0, 4, 4), UNKNOWN);
    assert_int_equal(shape(0x1f, 0, 0, 0), UNKNOWN);
    assert_int_equal(shape(0x25, 0, 0, 0), UNKNOWN);
    assert_int_equal(shape(0xff, 0, 0, 10), UNKNOWN);
}

static void
test_quiet(void **state)
{
    (void)state;
    const uint8_t pairs[][2] = {
        {MC_BIN_GETQ, MC_BIN_GET},
        {MC_BIN_GETKQ, MC_BIN_GETK},
        {MC_BIN_SETQ, MC_BIN_SET},
        {MC_BIN_ADDQ, MC_BIN_ADD},
        {MC_BIN_REPLACEQ, MC_BIN_REPLACE},
        {MC_BIN_DELETEQ, MC_BIN_DELETE},
        {MC_BIN_INCREMENTQ, MC_BIN_INCREMENT},
        {MC_BIN_DECREMENTQ, MC_BIN_DECREMENT},
        {MC_BIN_QUITQ, MC_BIN_QUIT},
        {MC_BIN_FLUSHQ, MC_BIN_FLUSH},
        {MC_BIN_APPENDQ, MC_BIN_APPEND},
        {MC_BIN_PREPENDQ, MC_BIN_PREPEND},
        {MC_BIN_GATQ, MC_BIN_GAT},
        {MC_BIN_GATKQ, MC_BIN_GATK},
    };
    unsigned quiet_count = 0;
    for (unsigned op = 0; op < 256; op++) {
        bool q;
        uint8_t base = mc_bin_base_opcode((uint8_t)op, &q);
        if (q) {
            quiet_count++;
        } else {
            assert_int_equal(base, op);
        }
    }
    assert_int_equal(quiet_count, sizeof(pairs) / sizeof(pairs[0]));
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        bool q = false;
        assert_int_equal(mc_bin_base_opcode(pairs[i][0], &q), pairs[i][1]);
        assert_true(q);
    }
}

static void
test_status_and_header(void **state)
{
    (void)state;
    assert_true(bstr_eq(mc_bin_status_text(MC_BIN_STATUS_KEY_ENOENT), BSTR_LIT("Not found")));
    assert_true(
        bstr_eq(mc_bin_status_text(MC_BIN_STATUS_KEY_EEXISTS), BSTR_LIT("Data exists for key.")));
    assert_true(bstr_eq(mc_bin_status_text(MC_BIN_STATUS_E2BIG), BSTR_LIT("Too large.")));
    assert_true(bstr_eq(mc_bin_status_text(MC_BIN_STATUS_EINVAL), BSTR_LIT("Invalid arguments")));
    assert_true(bstr_eq(mc_bin_status_text(MC_BIN_STATUS_NOT_STORED), BSTR_LIT("Not stored.")));
    assert_true(bstr_eq(mc_bin_status_text(MC_BIN_STATUS_DELTA_BADVAL),
                        BSTR_LIT("Non-numeric server-side value for incr or decr")));
    assert_true(bstr_eq(mc_bin_status_text(MC_BIN_STATUS_AUTH_ERROR), BSTR_LIT("Auth failure.")));
    assert_true(
        bstr_eq(mc_bin_status_text(MC_BIN_STATUS_UNKNOWN_COMMAND), BSTR_LIT("Unknown command")));
    assert_true(bstr_eq(mc_bin_status_text(MC_BIN_STATUS_ENOMEM), BSTR_LIT("Out of memory")));
    assert_int_equal(mc_bin_status_text(MC_BIN_STATUS_OK).len, 0);

    unsigned char h[24];
    mc_bin_write_header(h, 0x0c, 0x0102, 4, 0x0081, 0x01020304, 0xa1b2c3d4, 0x1122334455667788ull);
    const unsigned char want[24] = {0x81, 0x0c, 0x01, 0x02, 0x04, 0x00, 0x00, 0x81,
                                    0x01, 0x02, 0x03, 0x04, 0xa1, 0xb2, 0xc3, 0xd4,
                                    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
    assert_memory_equal(h, want, 24);
    assert_int_equal(mc_bin_be64(h + 16), 0x1122334455667788ull);
}

static void
test_value_len(void **state)
{
    (void)state;
    struct mc_bin_req r = {.keylen = 10, .extlen = 8, .bodylen = 10};
    assert_int_equal(mc_bin_value_len(&r), 0); /* shape checks refuse it first */
    r.bodylen = 0xffffffffu;
    assert_int_equal(mc_bin_value_len(&r), 0xffffffffu - 18);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_magic),
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_quiet),
        cmocka_unit_test(test_status_and_header),
        cmocka_unit_test(test_value_len),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
