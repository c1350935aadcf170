/*
 * Tests for cmd/mc_bin_cmd (through session_process, on a real store):
 * binary packets in, exact packets out. Behaviour was checked against
 * memcached 1.6.18 (the integration suite compares bytes and runs
 * memccapable -b).
 */
#include "cmd_fixture.h"

#include "stashd/proto/mc_bin.h"

/* --- building requests ------------------------------------------------------ */

struct pkt {
    unsigned char b[1 << 18];
    size_t n;
};

static void
add(struct pkt *p, uint8_t op, const char *key, const void *extras, uint8_t extlen,
    const void *value, size_t vlen, uint32_t opaque, uint64_t cas)
{
    size_t klen = key != NULL ? strlen(key) : 0;
    unsigned char *h = p->b + p->n;
    h[0] = 0x80;
    h[1] = op;
    h[2] = (unsigned char)(klen >> 8);
    h[3] = (unsigned char)klen;
    h[4] = extlen;
    h[5] = h[6] = h[7] = 0;
    mc_bin_put_be32(h + 8, (uint32_t)(extlen + klen + vlen));
    mc_bin_put_be32(h + 12, opaque);
    mc_bin_put_be64(h + 16, cas);
    p->n += 24;
    if (extlen != 0) {
        memcpy(p->b + p->n, extras, extlen);
    }
    p->n += extlen;
    if (klen != 0) {
        memcpy(p->b + p->n, key, klen);
    }
    p->n += klen;
    if (vlen != 0) {
        memcpy(p->b + p->n, value, vlen);
    }
    p->n += vlen;
}

static void
add_set(struct pkt *p, uint8_t op, const char *key, const char *value, uint32_t flags,
        uint32_t exptime, uint32_t opaque, uint64_t cas)
{
    unsigned char ext[8];
    mc_bin_put_be32(ext, flags);
    mc_bin_put_be32(ext + 4, exptime);
    add(p, op, key, ext, 8, value, strlen(value), opaque, cas);
}

static void
add_arith(struct pkt *p, uint8_t op, const char *key, uint64_t delta, uint64_t initial,
          uint32_t exptime)
{
    unsigned char ext[20];
    mc_bin_put_be64(ext, delta);
    mc_bin_put_be64(ext + 8, initial);
    mc_bin_put_be32(ext + 16, exptime);
    add(p, op, key, ext, 20, NULL, 0, 0, 0);
}

/* --- reading replies --------------------------------------------------------- */

struct resp {
    uint8_t opcode;
    uint16_t status;
    uint32_t opaque;
    uint64_t cas;
    const unsigned char *extras;
    uint8_t extlen;
    const char *key;
    uint16_t keylen;
    const char *value;
    uint32_t vlen;
};

/* Split the replies so far into packets; returns how many. */
static size_t
replies(struct fixture *f, struct resp *out, size_t max)
{
    char *got;
    size_t n = fx_take(f, &got), pos = 0, count = 0;
    while (pos < n) {
        assert_true(n - pos >= 24);
        const unsigned char *h = (const unsigned char *)got + pos;
        assert_int_equal(h[0], 0x81);
        assert_true(count < max);
        struct resp *r = &out[count++];
        r->opcode = h[1];
        r->keylen = (uint16_t)(h[2] << 8 | h[3]);
        r->extlen = h[4];
        r->status = (uint16_t)(h[6] << 8 | h[7]);
        uint32_t body = mc_bin_be32(h + 8);
        r->opaque = mc_bin_be32(h + 12);
        r->cas = mc_bin_be64(h + 16);
        assert_true(n - pos - 24 >= body);
        r->extras = h + 24;
        r->key = (const char *)h + 24 + r->extlen;
        r->value = r->key + r->keylen;
        r->vlen = body - r->extlen - r->keylen;
        pos += 24 + body;
    }
    return count;
}

static bool
value_is(const struct resp *r, const char *s)
{
    return r->vlen == strlen(s) && memcmp(r->value, s, r->vlen) == 0;
}

static void
send_pkt(struct fixture *f, struct pkt *p)
{
    fx_feed(f, p->b, p->n);
    p->n = 0;
}

/* --- tests ---------------------------------------------------------------- */

static struct pkt P;
static struct resp R[512];

static void
test_get_set(void **state)
{
    struct fixture *f = *state;
    add(&P, MC_BIN_GET, "nope", NULL, 0, NULL, 0, 1, 0);
    add(&P, MC_BIN_GETK, "nope", NULL, 0, NULL, 0, 2, 0);
    add(&P, MC_BIN_GETQ, "nope", NULL, 0, NULL, 0, 3, 0);
    add_set(&P, MC_BIN_SET, "k1", "value", 5, 0, 9, 0);
    add(&P, MC_BIN_GET, "k1", NULL, 0, NULL, 0, 10, 0);
    add(&P, MC_BIN_GETKQ, "k1", NULL, 0, NULL, 0, 11, 0);
    add(&P, MC_BIN_NOOP, NULL, NULL, 0, NULL, 0, 12, 0);
    send_pkt(f, &P);
    size_t n = replies(f, R, 16);
    assert_int_equal(n, 6);
    assert_int_equal(R[0].status, MC_BIN_STATUS_KEY_ENOENT);
    assert_true(value_is(&R[0], "Not found") && R[0].opaque == 1 && R[0].keylen == 0);
    assert_int_equal(R[1].status, MC_BIN_STATUS_KEY_ENOENT); /* GETK: the key, no text */
    assert_true(R[1].keylen == 4 && memcmp(R[1].key, "nope", 4) == 0 && R[1].vlen == 0);
    assert_true(R[2].opcode == MC_BIN_SET && R[2].status == 0 && R[2].opaque == 9);
    uint64_t cas = R[2].cas;
    assert_true(cas != 0);
    assert_true(R[3].opcode == MC_BIN_GET && R[3].extlen == 4 && R[3].cas == cas);
    assert_int_equal(mc_bin_be32(R[3].extras), 5);
    assert_true(value_is(&R[3], "value") && R[3].keylen == 0);
    assert_true(R[4].opcode == MC_BIN_GETKQ && R[4].keylen == 2 && value_is(&R[4], "value"));
    assert_true(R[5].opcode == MC_BIN_NOOP && R[5].opaque == 12);
    assert_int_equal(f->m.get_hits, 2);
    assert_int_equal(f->m.get_misses, 3);

    /* cas: a mismatch, a miss, then a match */
    add_set(&P, MC_BIN_SET, "k1", "x", 0, 0, 0, cas + 1);
    add_set(&P, MC_BIN_SET, "zz", "x", 0, 0, 0, 1);
    add_set(&P, MC_BIN_ADD, "zz", "x", 0, 0, 0, 1);
    add_set(&P, MC_BIN_SETQ, "k1", "new", 0, 0, 0, cas);
    add(&P, MC_BIN_GET, "k1", NULL, 0, NULL, 0, 0, 0);
    send_pkt(f, &P);
    n = replies(f, R, 16);
    assert_int_equal(n, 4);
    assert_true(R[0].status == MC_BIN_STATUS_KEY_EEXISTS &&
                value_is(&R[0], "Data exists for key."));
    assert_true(R[1].status == MC_BIN_STATUS_KEY_ENOENT);
    assert_true(R[2].status == MC_BIN_STATUS_KEY_ENOENT);
    assert_true(value_is(&R[3], "new") && R[3].cas != cas);
    assert_int_equal(f->m.cas_badval, 1);
    assert_int_equal(f->m.cas_misses, 2);
    assert_int_equal(f->m.cas_hits, 1);
}

static void
test_modes(void **state)
{
    struct fixture *f = *state;
    add_set(&P, MC_BIN_ADD, "k", "a", 0, 0, 0, 0);
    add_set(&P, MC_BIN_ADD, "k", "b", 0, 0, 0, 0);
    add_set(&P, MC_BIN_REPLACE, "zz", "b", 0, 0, 0, 0);
    add(&P, MC_BIN_APPEND, "zz", NULL, 0, "x", 1, 0, 0);
    add(&P, MC_BIN_APPENDQ, "k", NULL, 0, "z", 1, 0, 0);
    add(&P, MC_BIN_PREPEND, "k", NULL, 0, "<", 1, 0, 0);
    add(&P, MC_BIN_GET, "k", NULL, 0, NULL, 0, 0, 0);
    add(&P, MC_BIN_DELETE, "k", NULL, 0, NULL, 0, 0, 1);
    add(&P, MC_BIN_DELETEQ, "k", NULL, 0, NULL, 0, 0, 0);
    add(&P, MC_BIN_DELETE, "k", NULL, 0, NULL, 0, 0, 0);
    send_pkt(f, &P);
    size_t n = replies(f, R, 16);
    assert_int_equal(n, 8);
    assert_int_equal(R[0].status, 0);
    assert_int_equal(R[1].status, MC_BIN_STATUS_KEY_EEXISTS);
    assert_int_equal(R[2].status, MC_BIN_STATUS_KEY_ENOENT);
    assert_true(R[3].status == MC_BIN_STATUS_NOT_STORED && value_is(&R[3], "Not stored."));
    assert_true(R[4].opcode == MC_BIN_PREPEND && R[4].status == 0);
    assert_true(value_is(&R[5], "<az"));
    assert_int_equal(R[6].status, MC_BIN_STATUS_KEY_EEXISTS);
    assert_int_equal(R[7].status, MC_BIN_STATUS_KEY_ENOENT);
}

static void
test_arith_touch(void **state)
{
    struct fixture *f = *state;
    add_arith(&P, MC_BIN_INCREMENT, "n", 5, 10, 0);
    add_arith(&P, MC_BIN_INCREMENT, "n", 5, 10, 0);
    add_arith(&P, MC_BIN_DECREMENT, "n", 100, 0, 0);
    add_arith(&P, MC_BIN_INCREMENT, "m", 1, 1, 0xffffffffu);
    add_arith(&P, MC_BIN_INCREMENTQ, "n", 1, 0, 0);
    add_arith(&P, MC_BIN_DECREMENTQ, "m", 1, 0, 0xffffffffu);
    add_set(&P, MC_BIN_SET, "s", "abc", 0, 0, 0, 0);
    add_arith(&P, MC_BIN_INCREMENT, "s", 1, 0, 0);
    send_pkt(f, &P);
    size_t n = replies(f, R, 16);
    assert_int_equal(n, 7);
    assert_true(R[0].vlen == 8 && mc_bin_be64((const unsigned char *)R[0].value) == 10);
    assert_int_equal(mc_bin_be64((const unsigned char *)R[1].value), 15);
    assert_int_equal(mc_bin_be64((const unsigned char *)R[2].value), 0);
    assert_true(R[2].cas != 0);
    assert_int_equal(R[3].status, MC_BIN_STATUS_KEY_ENOENT);
    assert_int_equal(R[4].status, MC_BIN_STATUS_KEY_ENOENT); /* quiet: errors still sent */
    assert_int_equal(R[4].opcode, MC_BIN_DECREMENTQ);
    assert_true(R[6].status == MC_BIN_STATUS_DELTA_BADVAL &&
                value_is(&R[6], "Non-numeric server-side value for incr or decr"));
    assert_int_equal(f->m.incr_hits, 2); /* the creation is not a hit */
    assert_int_equal(f->m.incr_misses, 1);

    unsigned char ext[4];
    mc_bin_put_be32(ext, 100);
    add_set(&P, MC_BIN_SET, "t", "tv", 7, 0, 0, 0);
    add(&P, MC_BIN_TOUCH, "t", ext, 4, NULL, 0, 1, 0);
    add(&P, MC_BIN_TOUCH, "nope", ext, 4, NULL, 0, 2, 0);
    add(&P, MC_BIN_GAT, "t", ext, 4, NULL, 0, 3, 0);
    add(&P, MC_BIN_GATK, "t", ext, 4, NULL, 0, 4, 0);
    add(&P, MC_BIN_GATQ, "nope", ext, 4, NULL, 0, 5, 0);
    add(&P, MC_BIN_GATKQ, "t", ext, 4, NULL, 0, 6, 0);
    send_pkt(f, &P);
    n = replies(f, R, 16);
    assert_int_equal(n, 6);
    assert_true(R[1].extlen == 4 && R[1].vlen == 0 && mc_bin_be32(R[1].extras) == 7);
    assert_int_equal(R[2].status, MC_BIN_STATUS_KEY_ENOENT);
    assert_true(value_is(&R[3], "tv") && R[3].keylen == 0);
    assert_true(value_is(&R[4], "tv") && R[4].keylen == 1);
    assert_true(R[5].opaque == 6 && value_is(&R[5], "tv"));
    assert_int_equal(f->m.touch_hits, 4);
    assert_int_equal(f->m.touch_misses, 2);
}

static void
test_admin_and_stats(void **state)
{
    struct fixture *f = *state;
    add(&P, MC_BIN_VERSION, NULL, NULL, 0, NULL, 0, 77, 0);
    add(&P, MC_BIN_NOOP, NULL, NULL, 0, NULL, 0, 42, 0);
    add_set(&P, MC_BIN_SET, "k", "v", 0, 0, 0, 0);
    add(&P, MC_BIN_FLUSHQ, NULL, NULL, 0, NULL, 0, 0, 0);
    add(&P, MC_BIN_GET, "k", NULL, 0, NULL, 0, 0, 0);
    add(&P, MC_BIN_STAT, "settings", NULL, 0, NULL, 0, 5, 0);
    add(&P, MC_BIN_STAT, "bogus", NULL, 0, NULL, 0, 6, 0);
    add(&P, MC_BIN_STAT, "conns", NULL, 0, NULL, 0, 7, 0);
    add(&P, MC_BIN_STAT, "detail dump", NULL, 0, NULL, 0, 8, 0);
    add(&P, MC_BIN_STAT, "reset", NULL, 0, NULL, 0, 9, 0);
    send_pkt(f, &P);
    size_t n = replies(f, R, 128);
    assert_true(R[0].opaque == 77 && value_is(&R[0], "1.6.18-stashd-" STASHD_VERSION));
    assert_true(R[1].opcode == MC_BIN_NOOP && R[1].opaque == 42);
    assert_int_equal(R[2].status, 0);
    assert_int_equal(R[3].status, MC_BIN_STATUS_KEY_ENOENT); /* flushed */
    size_t i = 4;
    bool saw_sasl = false;
    for (; R[i].keylen != 0; i++) {
        assert_true(R[i].opcode == MC_BIN_STAT && R[i].opaque == 5 && R[i].status == 0);
        if (R[i].keylen == 17 && memcmp(R[i].key, "auth_enabled_sasl", 17) == 0) {
            saw_sasl = value_is(&R[i], "no");
        }
    }
    assert_true(saw_sasl && i > 10);
    assert_true(R[i].opaque == 5 && R[i].vlen == 0); /* the terminator */
    assert_true(R[i + 1].status == MC_BIN_STATUS_KEY_ENOENT && R[i + 1].opaque == 6);
    assert_true(R[i + 2].status == MC_BIN_STATUS_KEY_ENOENT && R[i + 2].opaque == 7);
    assert_true(R[i + 3].keylen == 8 && value_is(&R[i + 3], "END\r\n"));
    assert_true(R[i + 4].opaque == 8 && R[i + 4].keylen == 0);
    assert_true(R[i + 5].opaque == 9 && R[i + 5].keylen == 0);
    assert_int_equal(n, i + 6);
    assert_int_equal(f->m.cmd_flush, 1);

    /* flush disabled: memcached answers "Auth failure." */
    f->opts.flush_enabled = false;
    add(&P, MC_BIN_FLUSH, NULL, NULL, 0, NULL, 0, 0, 0);
    send_pkt(f, &P);
    assert_int_equal(replies(f, R, 4), 1);
    assert_true(R[0].status == MC_BIN_STATUS_AUTH_ERROR && value_is(&R[0], "Auth failure."));

    /* quit */
    add(&P, MC_BIN_QUIT, NULL, NULL, 0, NULL, 0, 3, 0);
    add(&P, MC_BIN_NOOP, NULL, NULL, 0, NULL, 0, 4, 0);
    send_pkt(f, &P);
    assert_true(f->closed);
    assert_int_equal(replies(f, R, 4), 1);
    assert_int_equal(R[0].opcode, MC_BIN_QUIT);
}

static void
test_unknown_and_errors(void **state)
{
    struct fixture *f = *state;
    /* unknown: answered, then bodylen bytes after the key discarded */
    unsigned char ext[4] = {0, 0, 0, 1};
    add(&P, MC_BIN_VERBOSITY, NULL, ext, 4, NULL, 0, 1, 0);
    memset(P.b + P.n, 0, 4); /* the 4 bytes it eats */
    P.n += 4;
    add(&P, MC_BIN_NOOP, NULL, NULL, 0, NULL, 0, 2, 0);
    add(&P, 0xee, NULL, NULL, 0, NULL, 0, 3, 0);
    send_pkt(f, &P);
    assert_int_equal(replies(f, R, 8), 3);
    assert_true(R[0].status == MC_BIN_STATUS_UNKNOWN_COMMAND && R[0].opcode == MC_BIN_VERBOSITY &&
                value_is(&R[0], "Unknown command"));
    assert_int_equal(R[1].opaque, 2);
    assert_true(R[2].status == MC_BIN_STATUS_UNKNOWN_COMMAND && R[2].opaque == 3);
    assert_false(f->closed);
    /* SASL without -S: unknown */
    add(&P, MC_BIN_SASL_LIST_MECHS, NULL, NULL, 0, NULL, 0, 0, 0);
    send_pkt(f, &P);
    assert_int_equal(replies(f, R, 8), 1);
    assert_int_equal(R[0].status, MC_BIN_STATUS_UNKNOWN_COMMAND);

    /* wrong shapes close after "Invalid arguments" */
    add(&P, MC_BIN_GET, "k", ext, 4, NULL, 0, 0, 0);
    send_pkt(f, &P);
    assert_true(f->closed);
    assert_int_equal(replies(f, R, 8), 1);
    assert_true(R[0].status == MC_BIN_STATUS_EINVAL && value_is(&R[0], "Invalid arguments"));
    /* key longer than the body: "Unknown command", close */
    fx_reconnect(f);
    add(&P, MC_BIN_GET, "abc", NULL, 0, NULL, 0, 0, 0);
    mc_bin_put_be32(P.b + 8, 2);
    send_pkt(f, &P);
    assert_true(f->closed);
    assert_int_equal(replies(f, R, 8), 1);
    assert_int_equal(R[0].status, MC_BIN_STATUS_UNKNOWN_COMMAND);
    /* a bad magic closes and drops what was not written yet */
    fx_reconnect(f);
    add(&P, MC_BIN_VERSION, NULL, NULL, 0, NULL, 0, 0, 0);
    add(&P, MC_BIN_NOOP, NULL, NULL, 0, NULL, 0, 0, 0);
    add(&P, MC_BIN_VERSION, NULL, NULL, 0, NULL, 0, 0, 0);
    add(&P, MC_BIN_NOOP, NULL, NULL, 0, NULL, 0, 0, 0);
    P.b[P.n - 24] = 0x81;
    send_pkt(f, &P);
    assert_true(f->closed);
    assert_int_equal(replies(f, R, 8), 2); /* up to the first NOOP, which memcached writes */
    assert_int_equal(R[1].opcode, MC_BIN_NOOP);
}

static void
test_too_large_and_split(void **state)
{
    struct fixture *f = *state;
    add_set(&P, MC_BIN_SET, "big", "small", 0, 0, 0, 0);
    send_pkt(f, &P);
    replies(f, R, 4);
    /* a value over the limit: never buffered, answered once swallowed */
    static char value[2 * FX_MAX_ITEM];
    memset(value, 'x', sizeof(value));
    unsigned char ext[8] = {0};
    add(&P, MC_BIN_SET, "big", ext, 8, value, sizeof(value), 7, 0);
    fx_feed(f, P.b, 24 + 8 + 3 + FX_MAX_ITEM);
    assert_int_equal(f->in_len, 0);
    assert_int_equal(replies(f, R, 4), 0);
    fx_feed(f, P.b + 24 + 8 + 3 + FX_MAX_ITEM, P.n - (24 + 8 + 3 + FX_MAX_ITEM));
    P.n = 0;
    add(&P, MC_BIN_GET, "big", NULL, 0, NULL, 0, 8, 0);
    send_pkt(f, &P);
    assert_int_equal(replies(f, R, 4), 2);
    assert_true(R[0].status == MC_BIN_STATUS_E2BIG && R[0].opaque == 7 &&
                value_is(&R[0], "Too large."));
    assert_int_equal(R[1].status, MC_BIN_STATUS_KEY_ENOENT); /* the old value is gone */
    /* packets a byte at a time */
    add_set(&P, MC_BIN_SET, "s", "hello", 3, 0, 1, 0);
    add(&P, MC_BIN_GETK, "s", NULL, 0, NULL, 0, 2, 0);
    for (size_t i = 0; i < P.n; i++) {
        fx_feed(f, P.b + i, 1);
    }
    P.n = 0;
    assert_int_equal(replies(f, R, 4), 2);
    assert_true(value_is(&R[1], "hello") && R[1].opaque == 2);
}

static void
test_quiet_pipeline(void **state)
{
    struct fixture *f = *state;
    char key[16], val[16];
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(val, sizeof(val), "v%d", i);
        add_set(&P, MC_BIN_SETQ, key, val, 0, 0, (uint32_t)i, 0);
    }
    for (int i = 0; i < 600; i += 2) {
        snprintf(key, sizeof(key), "k%d", i);
        add(&P, MC_BIN_GETKQ, key, NULL, 0, NULL, 0, (uint32_t)i, 0);
    }
    add(&P, MC_BIN_NOOP, NULL, NULL, 0, NULL, 0, 9999, 0);
    send_pkt(f, &P);
    size_t n = replies(f, R, 512);
    assert_int_equal(n, 151);
    assert_true(R[0].opaque == 0 && value_is(&R[0], "v0"));
    assert_true(R[149].opaque == 298 && value_is(&R[149], "v298"));
    assert_int_equal(R[150].opaque, 9999);
}

static void
test_sasl(void **state)
{
    struct fixture *f = *state;
    fx_pwdb(f, "alice:s3cret\nbob:hunter2:extra\n");
    fx_reconnect(f);
    add(&P, MC_BIN_VERSION, NULL, NULL, 0, NULL, 0, 1, 0);
    add(&P, MC_BIN_SASL_LIST_MECHS, NULL, NULL, 0, NULL, 0, 2, 0);
    add(&P, MC_BIN_SASL_AUTH, "PLAIN", NULL, 0, "\0alice\0wrong", 12, 3, 0);
    add(&P, MC_BIN_SASL_STEP, "PLAIN", NULL, 0, "", 0, 4, 0);
    add(&P, MC_BIN_SASL_AUTH, "PLAIN", NULL, 0, "\0bob\0hunter2", 12, 5, 0);
    add_set(&P, MC_BIN_SET, "k", "v", 0, 0, 6, 0);
    add(&P, MC_BIN_SASL_AUTH, "PLAIN", NULL, 0, "x\0bob\0hunter2", 13, 7, 0);
    add(&P, MC_BIN_GET, "k", NULL, 0, NULL, 0, 8, 0);
    send_pkt(f, &P);
    size_t n = replies(f, R, 16);
    assert_int_equal(n, 8);
    assert_int_equal(R[0].status, 0);
    assert_true(value_is(&R[1], "PLAIN"));
    assert_true(R[2].status == MC_BIN_STATUS_AUTH_ERROR && value_is(&R[2], "Auth failure."));
    assert_int_equal(R[3].status, MC_BIN_STATUS_AUTH_ERROR);
    assert_true(R[4].status == 0 && value_is(&R[4], "Authenticated"));
    assert_int_equal(R[5].status, 0);
    assert_int_equal(R[6].status, MC_BIN_STATUS_AUTH_ERROR); /* authzid != authcid */
    assert_int_equal(R[7].status, MC_BIN_STATUS_AUTH_ERROR); /* ...and it signed us out */
    assert_true(f->closed);
    assert_int_equal(f->m.auth_cmds, 4);
    assert_int_equal(f->m.auth_errors, 3);
    /* PLAIN without its response: "continue", then the response in a STEP */
    fx_reconnect(f);
    add(&P, MC_BIN_SASL_AUTH, "plain", NULL, 0, NULL, 0, 1, 0);
    add(&P, MC_BIN_SASL_STEP, "PLAIN", NULL, 0, "\0alice\0s3cret", 13, 2, 0);
    add(&P, MC_BIN_SASL_STEP, "PLAIN", NULL, 0, "\0alice\0s3cret", 13, 3, 0);
    add(&P, MC_BIN_VERSION, NULL, NULL, 0, NULL, 0, 4, 0);
    send_pkt(f, &P);
    assert_int_equal(replies(f, R, 8), 4);
    assert_true(R[0].status == MC_BIN_STATUS_AUTH_CONTINUE && R[0].vlen == 0);
    assert_true(R[1].status == 0 && value_is(&R[1], "Authenticated"));
    assert_int_equal(R[2].status, MC_BIN_STATUS_AUTH_ERROR); /* one step only */
    assert_false(f->closed);
    /* before authenticating, anything but SASL and VERSION closes */
    fx_reconnect(f);
    add_set(&P, MC_BIN_SET, "k", "v", 0, 0, 6, 0);
    add(&P, MC_BIN_NOOP, NULL, NULL, 0, NULL, 0, 0, 0);
    send_pkt(f, &P);
    assert_true(f->closed);
    assert_int_equal(replies(f, R, 4), 1);
    /* a mechanism name over 32 bytes: "Invalid arguments", its data swallowed */
    fx_reconnect(f);
    add(&P, MC_BIN_SASL_AUTH, "PLAINPLAINPLAINPLAINPLAINPLAINPLAIN", NULL, 0, "abc", 3, 1, 0);
    add(&P, MC_BIN_VERSION, NULL, NULL, 0, NULL, 0, 2, 0);
    send_pkt(f, &P);
    assert_int_equal(replies(f, R, 4), 2);
    assert_int_equal(R[0].status, MC_BIN_STATUS_EINVAL);
    assert_int_equal(R[1].opaque, 2);
    assert_false(f->closed);
}

static void
test_binary_only(void **state)
{
    struct fixture *f = *state;
    char binary[] = "binary";
    char *saved = f->opts.protocol;
    f->opts.protocol = binary;
    fx_reconnect(f);
    fx_feed_str(f, "version\r\nversion\r\nversion\r\n");
    assert_true(f->closed);
    char *got;
    assert_int_equal(fx_take(f, &got), 0);
    f->opts.protocol = saved;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_set, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_modes, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_arith_touch, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_admin_and_stats, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_and_errors, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_too_large_and_split, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_quiet_pipeline, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_sasl, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_binary_only, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
