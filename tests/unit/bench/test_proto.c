/* Unit tests for bench/proto: the load generator's reply parser and request
 * encoders, for mc-text, mc-meta, mc-binary, RESP, RESP hashes (HSET/HGET) and
 * RESP transactions (MULTI/EXEC).
 *
 * Each test writes a stream of server replies for a FIFO of requests and
 * feeds it to the parser the way stashd-bench's conn_parse() does (head of
 * the FIFO first, bytes left over once the FIFO is empty are "reply bytes
 * with no request in flight"). Every stream is fed whole, split at every
 * byte boundary, and one byte at a time, each call seeing a buffer of
 * exactly the unconsumed bytes (so ASan catches a read past them); all must
 * give the same outcome, and PROTO_MORE's *need must be honest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define MAXREQ 16
#define MAXKEYS 8

static struct keyspace ks_plain; /* "key:" + decimal */
static struct keyspace ks_range; /* padded to 8..40 bytes per key */
static const struct keyspace *ks = &ks_plain;
static struct value_gen vg;

static const enum proto_id all_protos[] = {PROTO_MC_TEXT, PROTO_MC_META,   PROTO_MC_BINARY,
                                           PROTO_RESP,    PROTO_RESP_HASH, PROTO_RESP_MULTI};
#define NPROTOS (sizeof(all_protos) / sizeof(all_protos[0]))

/* ---- building reply streams ---- */

struct wire {
    char *b;
    size_t len, cap;
};

static void
w_put(struct wire *w, const void *p, size_t n)
{
    if (w->len + n > w->cap) {
        w->cap = (w->len + n) * 2 + 64;
        w->b = realloc(w->b, w->cap);
        assert_non_null(w->b);
    }
    memcpy(w->b + w->len, p, n);
    w->len += n;
}

static void
w_str(struct wire *w, const char *s)
{
    w_put(w, s, strlen(s));
}

static void
w_fmt(struct wire *w, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof(tmp));
    w_put(w, tmp, (size_t)n);
}

static void
w_key(struct wire *w, uint64_t key)
{
    char k[KEYSPACE_MAX_KEY + 1];
    w_put(w, k, keyspace_format(ks, key, k));
}

/* The value of key at len; 'b' flips its last byte, 'o' writes the value of
 * another key (the one after). */
static void
w_value(struct wire *w, uint64_t key, size_t len, char how)
{
    char *v = malloc(len + 1);
    assert_non_null(v);
    value_fill(&vg, how == 'o' ? key + 1 : key, v, len);
    if (how == 'b' && len > 0) {
        v[len - 1] ^= 0x20;
    }
    w_put(w, v, len);
    free(v);
}

static void
w_bin(struct wire *w, uint8_t magic, uint8_t op, uint16_t status, uint32_t opaque, uint8_t extlen,
      size_t klen, size_t vlen)
{
    unsigned char h[24] = {0};
    uint32_t body = (uint32_t)(extlen + klen + vlen);
    h[0] = magic;
    h[1] = op;
    h[2] = (unsigned char)(klen >> 8);
    h[3] = (unsigned char)klen;
    h[4] = extlen;
    h[6] = (unsigned char)(status >> 8);
    h[7] = (unsigned char)status;
    for (int i = 0; i < 4; i++) {
        h[8 + i] = (unsigned char)(body >> (24 - 8 * i));
        h[12 + i] = (unsigned char)(opaque >> (24 - 8 * i));
    }
    h[23] = 0x2a; /* a CAS, ignored */
    w_put(w, h, sizeof(h));
}

/* resp-multi: MULTI's +OK, +QUEUED per command, EXEC's array header. */
static void
w_tx_head(struct wire *w, unsigned ncmds)
{
    w_str(w, "+OK\r\n");
    for (unsigned i = 0; i < ncmds; i++) {
        w_str(w, "+QUEUED\r\n");
    }
    w_fmt(w, "*%u\r\n", ncmds);
}

/* ---- the FIFO and its expected outcome ---- */

struct req {
    enum proto_op op;
    unsigned nkeys;
    uint32_t opaque;
    uint64_t keys[MAXKEYS];
};

struct script {
    enum proto_id id;
    struct req reqs[MAXREQ];
    unsigned n;
    uint32_t opaque;
    struct wire w;
    struct proto_result want[MAXREQ];
};

static void
s_init(struct script *s, enum proto_id id)
{
    memset(s, 0, sizeof(*s));
    s->id = id;
    s->opaque = 1000;
}

static void
s_fini(struct script *s)
{
    free(s->w.b);
    s->w.b = NULL;
}

static struct req *
s_push(struct script *s, enum proto_op op, unsigned nkeys, const uint64_t *keys)
{
    assert_true(s->n < MAXREQ && nkeys <= MAXKEYS);
    struct req *r = &s->reqs[s->n++];
    r->op = op;
    r->nkeys = nkeys;
    r->opaque = s->opaque;
    s->opaque += nkeys; /* as stashd-bench: packet i carries opaque + i */
    memcpy(r->keys, keys, nkeys * sizeof(keys[0]));
    return r;
}

/* A set and its reply: how 's' stored, 'e' a well-formed error, 'o' a
 * refusal for memory (counted in refused, not errors). */
static void
s_set(struct script *s, uint64_t key, char how)
{
    struct req *r = s_push(s, PROTO_OP_SET, 1, &key);
    struct wire *w = &s->w;
    bool err = how == 'e', oom = how == 'o';
    switch (s->id) {
    case PROTO_MC_TEXT:
        w_str(w, oom   ? "SERVER_ERROR out of memory storing object\r\n"
                 : err ? "NOT_STORED\r\n"
                       : "STORED\r\n");
        break;
    case PROTO_MC_META:
        w_str(w, oom ? "SERVER_ERROR out of memory storing object\r\n" : err ? "NS\r\n" : "HD\r\n");
        break;
    case PROTO_MC_BINARY:
        w_bin(w, 0x81, 0x01,
              oom   ? 0x0082
              : err ? 0x0005
                    : 0,
              r->opaque, 0, 0,
              oom   ? 13
              : err ? 15
                    : 0);
        if (oom) {
            w_str(w, "Out of memory");
        } else if (err) {
            w_str(w, "Item not stored");
        }
        break;
    case PROTO_RESP_HASH: /* HSET: fields added, 0 when the field was there */
        w_str(w, oom   ? "-OOM command not allowed when used memory > 'maxmemory'\r\n"
                 : err ? "-ERR wrong number of arguments\r\n"
                       : (key % 2 ? ":1\r\n" : ":0\r\n"));
        break;
    default:
        w_str(w, oom   ? "-OOM command not allowed when used memory > 'maxmemory'\r\n"
                 : err ? "-ERR syntax error\r\n"
                       : "+OK\r\n");
        break;
    }
    s->want[s->n - 1].errors = err;
    s->want[s->n - 1].refused = oom;
}

/* A get of nkeys keys and its reply. modes[i] says how key i is answered:
 * 'h' hit, 'm' miss, 'b' a corrupted value, 'o' another key's value; the
 * values are vlen bytes. */
static void
s_get(struct script *s, unsigned nkeys, const uint64_t *keys, const char *modes, size_t vlen)
{
    struct req *r = s_push(s, PROTO_OP_GET, nkeys, keys);
    struct wire *w = &s->w;
    struct proto_result *want = &s->want[s->n - 1];
    char k[KEYSPACE_MAX_KEY + 1];
    if (s->id == PROTO_RESP && nkeys > 1) {
        w_fmt(w, "*%u\r\n", nkeys);
    }
    if (s->id == PROTO_RESP_MULTI) {
        w_tx_head(w, nkeys);
    }
    for (unsigned i = 0; i < nkeys; i++) {
        char m = modes[i];
        if (m == 'm') {
            want->misses++;
        } else if (m == 'h') {
            want->hits++;
        } else {
            want->errors++;
        }
        switch (s->id) {
        case PROTO_MC_TEXT:
            if (m != 'm') {
                w_str(w, "VALUE ");
                w_key(w, keys[i]);
                w_fmt(w, " %u %zu\r\n", i * 7, vlen);
                w_value(w, keys[i], vlen, m);
                w_str(w, "\r\n");
            }
            break;
        case PROTO_MC_META:
            if (m == 'm') {
                w_str(w, "EN\r\n");
            } else {
                w_fmt(w, i % 2 ? "VA %zu f%u\r\n" : "VA %zu\r\n", vlen, i);
                w_value(w, keys[i], vlen, m);
                w_str(w, "\r\n");
            }
            break;
        case PROTO_MC_BINARY: {
            size_t kl = keyspace_format(ks, keys[i], k);
            if (m == 'm') {
                w_bin(w, 0x81, 0x0c, 0x0001, r->opaque + i, 0, kl, 9);
                w_put(w, k, kl);
                w_str(w, "Not found");
            } else {
                w_bin(w, 0x81, 0x0c, 0, r->opaque + i, 4, kl, vlen);
                w_put(w, "\0\0\0\x07", 4); /* flags */
                w_put(w, k, kl);
                w_value(w, keys[i], vlen, m);
            }
            break;
        }
        default:
            if (m == 'm') {
                w_str(w, i % 2 ? "_\r\n" : "$-1\r\n"); /* RESP3 and RESP2 nulls */
            } else {
                w_fmt(w, "$%zu\r\n", vlen);
                w_value(w, keys[i], vlen, m);
                w_str(w, "\r\n");
            }
            break;
        }
    }
    if (s->id == PROTO_MC_TEXT) {
        w_str(w, "END\r\n");
    }
}

/* A get answered by a well-formed error. */
static void
s_get_error(struct script *s, unsigned nkeys, const uint64_t *keys)
{
    struct req *r = s_push(s, PROTO_OP_GET, nkeys, keys);
    struct wire *w = &s->w;
    switch (s->id) {
    case PROTO_MC_TEXT:
        w_str(w, "SERVER_ERROR temporary failure\r\n");
        s->want[s->n - 1].errors = 1;
        break;
    case PROTO_MC_META:
        for (unsigned i = 0; i < nkeys; i++) { /* one reply per mg */
            w_str(w, i % 2 ? "CLIENT_ERROR bad command line format\r\n"
                           : "SERVER_ERROR out of memory\r\n");
        }
        s->want[s->n - 1].errors = nkeys;
        break;
    case PROTO_MC_BINARY:
        for (unsigned i = 0; i < nkeys; i++) { /* one reply per GETK */
            w_bin(w, 0x81, 0x0c, 0x0084, r->opaque + i, 0, 0, 8);
            w_str(w, "Internal");
        }
        s->want[s->n - 1].errors = nkeys;
        break;
    case PROTO_RESP_HASH:
    case PROTO_RESP_MULTI:
        if (s->id == PROTO_RESP_MULTI) { /* queued fine, each GET fails in EXEC */
            w_tx_head(w, nkeys);
        }
        for (unsigned i = 0; i < nkeys; i++) { /* one reply per HGET */
            w_str(w, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
        }
        s->want[s->n - 1].errors = nkeys;
        break;
    default:
        w_str(w, "-ERR wrong number of arguments for 'mget' command\r\n");
        s->want[s->n - 1].errors = 1;
        break;
    }
}

/* ---- feeding the parser ---- */

struct outcome {
    unsigned done;   /* requests completed */
    bool desync;     /* PROTO_DESYNC on request done */
    size_t leftover; /* bytes unconsumed when the FIFO ran out */
    struct proto_result res[MAXREQ];
    char err[160];
};

/* Feeds wire[0..len) arriving in pieces that end at cuts[0..ncuts) and
 * then len, walking the FIFO as conn_parse() does. */
static void
feed(enum proto_id id, const struct req *reqs, unsigned n, const char *wire, size_t len,
     const size_t *cuts, size_t ncuts, struct outcome *o)
{
    struct proto_parser p;
    proto_parser_init(&p, id, ks, &vg);
    assert_int_equal(p.proto, id);
    memset(o, 0, sizeof(*o));
    size_t rpos = 0, avail = 0;
    size_t want_more = 0; /* *need of the last PROTO_MORE, relative to rpos */
    for (size_t c = 0; c <= ncuts; c++) {
        avail = c < ncuts ? cuts[c] : len;
        while (o->done < n && rpos < avail) {
            const struct req *r = &reqs[o->done];
            struct proto_req pr = {
                .op = r->op, .nkeys = r->nkeys, .opaque = r->opaque, .keys = r->keys};
            size_t have = avail - rpos;
            char *buf = malloc(have);
            assert_non_null(buf);
            memcpy(buf, wire + rpos, have);
            size_t used = SIZE_MAX, need = SIZE_MAX;
            struct proto_result res;
            enum proto_rc rc = proto_parse(&p, &pr, buf, have, &used, &need, &res);
            free(buf);
            assert_true(used <= have);
            if (have < want_more) {
                /* Fewer bytes than *need asked for: no progress. */
                assert_int_equal(rc, PROTO_MORE);
                assert_int_equal(used, 0);
            }
            rpos += used;
            want_more = 0;
            if (rc == PROTO_MORE) {
                assert_true(need > have - used); /* the buffer must grow */
                want_more = need;
                break;
            }
            if (rc == PROTO_DESYNC) {
                o->desync = true;
                assert_true(p.err[0] != '\0');
                memcpy(o->err, p.err, sizeof(o->err));
                return;
            }
            assert_int_equal(rc, PROTO_DONE);
            assert_true(used > 0); /* a reply is never empty */
            o->res[o->done++] = res;
        }
    }
    o->leftover = len - rpos;
}

static void
same_outcome(const struct outcome *a, const struct outcome *b, size_t cut)
{
    if (a->done != b->done || a->desync != b->desync || a->leftover != b->leftover ||
        memcmp(a->res, b->res, sizeof(a->res)) != 0 || (a->desync && strcmp(a->err, b->err) != 0)) {
        fail_msg("split at %zu: done %u/%u desync %d/%d leftover %zu/%zu err '%s'/'%s'", cut,
                 a->done, b->done, a->desync, b->desync, a->leftover, b->leftover, a->err, b->err);
    }
}

/* Runs the stream whole, split at every boundary and byte by byte; all must
 * agree. Returns the whole run's outcome. */
static void
play(enum proto_id id, const struct req *reqs, unsigned n, const char *wire, size_t len,
     struct outcome *whole)
{
    struct outcome o;
    feed(id, reqs, n, wire, len, NULL, 0, whole);
    for (size_t k = 1; k < len; k++) {
        feed(id, reqs, n, wire, len, &k, 1, &o);
        same_outcome(whole, &o, k);
    }
    if (len > 1) {
        size_t *cuts = malloc((len - 1) * sizeof(size_t));
        assert_non_null(cuts);
        for (size_t k = 1; k < len; k++) {
            cuts[k - 1] = k;
        }
        feed(id, reqs, n, wire, len, cuts, len - 1, &o);
        same_outcome(whole, &o, 0);
        free(cuts);
    }
}

/* Plays a script that must parse cleanly to its expected results. */
static void
play_ok(struct script *s)
{
    struct outcome o;
    play(s->id, s->reqs, s->n, s->w.b, s->w.len, &o);
    if (o.desync) {
        fail_msg("%s: desync at request %u: %s", proto_name(s->id), o.done, o.err);
    }
    assert_int_equal(o.done, s->n);
    assert_int_equal(o.leftover, 0);
    for (unsigned i = 0; i < s->n; i++) {
        if (memcmp(&o.res[i], &s->want[i], sizeof(o.res[i])) != 0) {
            fail_msg("%s request %u: hits %u misses %u errors %u refused %u, want %u %u %u %u",
                     proto_name(s->id), i, o.res[i].hits, o.res[i].misses, o.res[i].errors,
                     o.res[i].refused, s->want[i].hits, s->want[i].misses, s->want[i].errors,
                     s->want[i].refused);
        }
    }
}

/* Plays a script whose request `at` must desync, with err containing what. */
static void
play_desync(struct script *s, unsigned at, const char *what)
{
    struct outcome o;
    play(s->id, s->reqs, s->n, s->w.b, s->w.len, &o);
    if (!o.desync || o.done != at) {
        fail_msg("%s: want a desync at request %u, got done %u desync %d leftover %zu",
                 proto_name(s->id), at, o.done, o.desync, o.leftover);
    }
    if (strstr(o.err, what) == NULL) {
        fail_msg("%s: err '%s' does not say '%s'", proto_name(s->id), o.err, what);
    }
    for (unsigned i = 0; i < at; i++) {
        assert_memory_equal(&o.res[i], &s->want[i], sizeof(o.res[i]));
    }
}

/* ---- tests ---- */

static const uint64_t K6[6] = {11, 22, 33, 44, 55, 66};

/* set, get hit, get miss, multi-get, a zero-length and a big value. */
static void
script_good(struct script *s, enum proto_id id)
{
    s_init(s, id);
    s_set(s, 1, 's');
    s_get(s, 1, K6, "h", 100);
    s_get(s, 1, K6 + 1, "m", 0);
    s_get(s, 6, K6, "hmhmmh", 37);
    s_get(s, 4, K6, "mmmm", 10);
    s_get(s, 3, K6 + 2, "hhh", 0);
    s_set(s, 2, 's');
    s_get(s, 1, K6 + 5, "h", 5000);
    s_get(s, 2, K6, "hh", 15); /* shorter than the value header */
}

static void
test_good_replies(void **state)
{
    for (size_t i = 0; i < NPROTOS; i++) {
        struct script s;
        script_good(&s, all_protos[i]);
        play_ok(&s);
        s_fini(&s);
    }
    /* Keys padded to a length per key: VALUE and GETK keys must match the
     * padded spelling. */
    ks = &ks_range;
    for (size_t i = 0; i < NPROTOS; i++) {
        struct script s;
        script_good(&s, all_protos[i]);
        play_ok(&s);
        s_fini(&s);
    }
    ks = &ks_plain;
}

/* The same key twice in one multi-get (Zipf draws do that). */
static void
test_duplicate_keys(void **state)
{
    const uint64_t keys[4] = {7, 7, 8, 7};
    for (size_t i = 0; i < NPROTOS; i++) {
        struct script s;
        s_init(&s, all_protos[i]);
        s_get(&s, 4, keys, "hhmh", 50);
        s_get(&s, 4, keys, "mhhm", 50);
        play_ok(&s);
        s_fini(&s);
    }
}

/* A wrong value is an error counted in the result; parsing goes on. */
static void
test_wrong_value(void **state)
{
    for (size_t i = 0; i < NPROTOS; i++) {
        struct script s;
        s_init(&s, all_protos[i]);
        s_get(&s, 1, K6, "b", 100);
        s_get(&s, 1, K6, "o", 100);
        s_get(&s, 4, K6, "hbom", 64);
        s_get(&s, 1, K6, "b", 5); /* short: the flip is in the header */
        s_set(&s, 3, 's');
        s_get(&s, 1, K6, "h", 64);
        play_ok(&s);
        s_fini(&s);
    }

    /* The value of the same key but another length, announced at its own
     * length: the length field gives it away. */
    for (size_t i = 0; i < NPROTOS; i++) {
        struct script s;
        s_init(&s, all_protos[i]);
        s_get(&s, 1, K6, "h", 100);
        /* Rewrite the 100-byte value's length field as 99 (0x63). */
        char *v = memmem(s.w.b, s.w.len, "0000064|", 8);
        assert_non_null(v);
        v[6] = '6';
        v[7] = '3';
        s.want[0].hits = 0;
        s.want[0].errors = 1;
        play_ok(&s);
        s_fini(&s);
    }
}

/* mc-text: a VALUE line for a key not asked, or not in request order. */
static void
test_value_for_unasked_key(void **state)
{
    struct script s;
    s_init(&s, PROTO_MC_TEXT);
    s_get(&s, 1, K6, "h", 10);
    s_get(&s, 2, K6, "hh", 10);
    s.w.len = 0;
    w_str(&s.w, "VALUE key:11 0 10\r\n");
    w_value(&s.w, 11, 10, 'h');
    w_str(&s.w, "\r\nEND\r\nVALUE key:99 0 10\r\n");
    w_value(&s.w, 99, 10, 'h');
    w_str(&s.w, "\r\nEND\r\n");
    play_desync(&s, 1, "VALUE line not matching the get");
    s_fini(&s);

    /* Key 22 answered before 11: 11 was skipped as a miss, so its VALUE
     * afterwards cannot belong to this get. */
    s_init(&s, PROTO_MC_TEXT);
    s_get(&s, 2, K6, "hh", 10);
    s.w.len = 0;
    w_str(&s.w, "VALUE key:22 0 10\r\n");
    w_value(&s.w, 22, 10, 'h');
    w_str(&s.w, "\r\nVALUE key:11 0 10\r\n");
    w_value(&s.w, 11, 10, 'h');
    w_str(&s.w, "\r\nEND\r\n");
    play_desync(&s, 0, "VALUE line not matching the get");
    s_fini(&s);

    /* A key that is a prefix of the asked one, and one extending it. */
    const char *bad[] = {"VALUE key:1 0 10\r\n", "VALUE key:111 0 10\r\n", "VALUE key:11  0 10\r\n",
                         "VALUE key:11 0\r\n",   "VALUE key:11 x 10\r\n",  "VALUE key:11 0 -1\r\n",
                         "VALUE  0 10\r\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        s_init(&s, PROTO_MC_TEXT);
        s_get(&s, 1, K6, "h", 10);
        s.w.len = 0;
        w_str(&s.w, bad[i]);
        w_value(&s.w, 11, 10, 'h');
        w_str(&s.w, "\r\nEND\r\n");
        play_desync(&s, 0, "VALUE line not matching the get");
        s_fini(&s);
    }
}

/* mc-binary: a GETK for another key, or with the wrong opaque or opcode. */
static void
test_binary_mismatch(void **state)
{
    struct script s;
    char k[KEYSPACE_MAX_KEY + 1];
    size_t kl;

    s_init(&s, PROTO_MC_BINARY);
    s_get(&s, 2, K6, "hh", 20);
    s.w.len = 0;
    kl = keyspace_format(ks, 99, k);
    w_bin(&s.w, 0x81, 0x0c, 0, s.reqs[0].opaque, 4, kl, 20);
    w_put(&s.w, "\0\0\0\0", 4);
    w_put(&s.w, k, kl);
    w_value(&s.w, 99, 20, 'h');
    play_desync(&s, 0, "GETK reply for another key");
    s_fini(&s);

    /* Opaque of the second packet on the first. */
    s_init(&s, PROTO_MC_BINARY);
    s_get(&s, 2, K6, "hh", 20);
    s.w.b[15] ^= 1;
    play_desync(&s, 0, "opaque");
    s_fini(&s);

    /* A SET reply with the GET's opaque, and a GETK reply to a set. */
    s_init(&s, PROTO_MC_BINARY);
    s_get(&s, 1, K6, "m", 0);
    s.w.b[1] = 0x01;
    play_desync(&s, 0, "op 0x01");
    s_fini(&s);
    s_init(&s, PROTO_MC_BINARY);
    s_set(&s, 5, 's');
    s.w.b[1] = 0x0c;
    play_desync(&s, 0, "to SET");
    s_fini(&s);
    s_init(&s, PROTO_MC_BINARY);
    s_set(&s, 5, 's');
    s.w.b[15] ^= 4;
    play_desync(&s, 0, "to SET");
    s_fini(&s);

    /* Key and extras longer than the body. */
    s_init(&s, PROTO_MC_BINARY);
    s_get(&s, 1, K6, "h", 0);
    s.w.b[4] = (char)200;
    play_desync(&s, 0, "GETK reply for another key");
    s_fini(&s);

    /* A request magic, and a body length past the parser's limit. */
    s_init(&s, PROTO_MC_BINARY);
    s_set(&s, 5, 's');
    s.w.b[0] = (char)0x80;
    play_desync(&s, 0, "bad binary response header");
    s_fini(&s);
    s_init(&s, PROTO_MC_BINARY);
    s_set(&s, 5, 's');
    s.w.b[8] = 0x7f;
    play_desync(&s, 0, "bad binary response header");
    s_fini(&s);
}

/* Bytes once the FIFO is empty are left unconsumed (stashd-bench calls them
 * "reply bytes with no request in flight"); a reply that answers another
 * kind of request than the head is a desync. */
static void
test_no_request_in_flight(void **state)
{
    for (size_t i = 0; i < NPROTOS; i++) {
        enum proto_id id = all_protos[i];
        struct script s, extra;
        struct outcome o;

        /* Nothing in flight at all. */
        s_init(&extra, id);
        s_set(&extra, 1, 's');
        play(id, NULL, 0, extra.w.b, extra.w.len, &o);
        assert_int_equal(o.done, 0);
        assert_false(o.desync);
        assert_int_equal(o.leftover, extra.w.len);

        /* One reply too many after a get, a multi-get and a set. */
        for (int shape = 0; shape < 3; shape++) {
            s_init(&s, id);
            if (shape == 0) {
                s_get(&s, 1, K6, "h", 30);
            } else if (shape == 1) {
                s_get(&s, 3, K6, "hmh", 30);
            } else {
                s_set(&s, 9, 's');
            }
            size_t base = s.w.len;
            s_get(&s, 1, K6, "m", 0); /* its reply stays; the request goes */
            s.n--;
            size_t spare = s.w.len - base;
            w_put(&s.w, extra.w.b, extra.w.len);
            play(id, s.reqs, s.n, s.w.b, s.w.len, &o);
            assert_false(o.desync);
            assert_int_equal(o.done, 1);
            assert_memory_equal(&o.res[0], &s.want[0], sizeof(o.res[0]));
            assert_int_equal(o.leftover, spare + extra.w.len);
            s_fini(&s);
        }

        /* The reply to a set where a get is at the head: a desync, except
         * that mc-meta's HD is a valid (error) answer to an mg. */
        s_init(&s, id);
        s_push(&s, PROTO_OP_GET, 1, K6);
        w_put(&s.w, extra.w.b, extra.w.len);
        if (id == PROTO_RESP_MULTI) {
            /* +OK answers MULTI: the second cannot answer the GET queued */
            w_put(&s.w, extra.w.b, extra.w.len);
        }
        if (id == PROTO_MC_META) {
            s.want[0].errors = 1;
            play_ok(&s);
        } else {
            play_desync(&s, 0, id == PROTO_MC_BINARY ? "to GETK" : "unexpected reply to");
        }
        s_fini(&s);

        /* The reply to a get where a set is at the head. */
        struct script t;
        /* resp-multi: a transaction of GETs where one of a SET is at the
         * head (a set of one key is a plain SET, which a GET transaction's
         * first +OK would answer) */
        unsigned nk = id == PROTO_RESP_MULTI ? 3 : 1;
        s_init(&s, id);
        s_get(&s, nk, K6, "hhh", 30);
        s_init(&t, id);
        s_push(&t, PROTO_OP_SET, nk, K6);
        w_put(&t.w, s.w.b, s.w.len);
        play_desync(&t, 0, id == PROTO_MC_BINARY ? "to SET" : "unexpected reply to");
        s_fini(&t);
        s_fini(&s);
        s_fini(&extra);
    }
}

/* Well-formed error replies are errors, not desyncs; the next request's
 * reply parses normally. */
static void
test_error_replies(void **state)
{
    for (size_t i = 0; i < NPROTOS; i++) {
        struct script s;
        s_init(&s, all_protos[i]);
        s_set(&s, 1, 'e');
        s_get(&s, 1, K6, "h", 20);
        s_get_error(&s, 1, K6);
        s_set(&s, 3, 'o'); /* declined for memory: refused, not an error */
        s_get(&s, 2, K6, "mh", 20);
        s_get_error(&s, 3, K6);
        s_set(&s, 2, 's');
        play_ok(&s);
        s_fini(&s);
    }

    /* Each protocol's other error spellings, to a set and to a get. */
    static const struct {
        enum proto_id id;
        enum proto_op op;
        const char *reply;
    } errs[] = {
        {PROTO_MC_TEXT, PROTO_OP_SET, "ERROR\r\n"},
        {PROTO_MC_TEXT, PROTO_OP_SET, "ERROR unknown command\r\n"},
        {PROTO_MC_TEXT, PROTO_OP_SET, "CLIENT_ERROR bad data chunk\r\n"},
        {PROTO_MC_TEXT, PROTO_OP_SET, "NOT_STORED\r\n"},
        {PROTO_MC_TEXT, PROTO_OP_SET, "EXISTS\r\n"},
        {PROTO_MC_TEXT, PROTO_OP_SET, "NOT_FOUND\r\n"},
        {PROTO_MC_TEXT, PROTO_OP_GET, "ERROR\r\n"},
        {PROTO_MC_TEXT, PROTO_OP_GET, "CLIENT_ERROR line too long\r\n"},
        {PROTO_MC_META, PROTO_OP_SET, "SERVER_ERROR temporary failure\r\n"},
        {PROTO_MC_META, PROTO_OP_SET, "EX\r\n"},
        {PROTO_MC_META, PROTO_OP_SET, "NF\r\n"},
        {PROTO_MC_META, PROTO_OP_SET, "ERROR\r\n"},
        {PROTO_MC_META, PROTO_OP_GET, "HD\r\n"}, /* no value though v was asked */
        {PROTO_MC_META, PROTO_OP_GET, "ERROR\r\n"},
        {PROTO_RESP, PROTO_OP_SET, "-ERR syntax error\r\n"},
        {PROTO_RESP, PROTO_OP_GET, "-WRONGTYPE Operation against a key\r\n"},
        {PROTO_RESP, PROTO_OP_GET, "-\r\n"},
        {PROTO_RESP_HASH, PROTO_OP_SET, "-WRONGTYPE Operation against a key\r\n"},
        {PROTO_RESP_HASH, PROTO_OP_GET, "-WRONGTYPE Operation against a key\r\n"},
    };
    for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
        struct script s;
        s_init(&s, errs[i].id);
        s_push(&s, errs[i].op, 1, K6);
        w_str(&s.w, errs[i].reply);
        s.want[0].errors = 1;
        s_set(&s, 4, 's');
        play_ok(&s);
        s_fini(&s);
    }
}

/* Replies that break framing are desyncs, whatever the split. */
static void
test_malformed(void **state)
{
    static const struct {
        enum proto_id id;
        enum proto_op op;
        unsigned nkeys;
        const char *reply;
        const char *what;
    } bad[] = {
        {PROTO_MC_TEXT, PROTO_OP_SET, 1, "STORED\n", "not ended by CRLF"},
        {PROTO_MC_TEXT, PROTO_OP_SET, 1, "\n", "not ended by CRLF"},
        {PROTO_MC_TEXT, PROTO_OP_SET, 1, "STORED \r\n", "unexpected reply to set"},
        {PROTO_MC_TEXT, PROTO_OP_SET, 1, "VALUE key:11 0 1\r\n", "unexpected reply to set"},
        {PROTO_MC_TEXT, PROTO_OP_GET, 1, "STORED\r\n", "unexpected reply to get"},
        {PROTO_MC_TEXT, PROTO_OP_GET, 1, "end\r\n", "unexpected reply to get"},
        {PROTO_MC_TEXT, PROTO_OP_GET, 1, "VALUE key:11 0 3\r\nabcde\r\nEND\r\n",
         "not followed by CRLF"},
        {PROTO_MC_TEXT, PROTO_OP_GET, 1, "VALUE key:11 0 99999999999999999999\r\n",
         "VALUE line not matching"},
        {PROTO_MC_TEXT, PROTO_OP_GET, 1, "VALUE key:11 0 268435457\r\n", "VALUE line not matching"},
        {PROTO_MC_META, PROTO_OP_SET, 1, "VA 1\r\n", "unexpected reply to ms"},
        {PROTO_MC_META, PROTO_OP_GET, 1, "VA\r\n", "unexpected reply to mg"},
        {PROTO_MC_META, PROTO_OP_GET, 1, "VA x\r\n", "bad VA line"},
        {PROTO_MC_META, PROTO_OP_GET, 1, "VA 268435457\r\n", "bad VA line"},
        {PROTO_MC_META, PROTO_OP_GET, 2, "EN\r\nVA 2\r\nxyz\r\n", "not followed by CRLF"},
        {PROTO_MC_META, PROTO_OP_GET, 1, "END\r\n", "unexpected reply to mg"},
        {PROTO_MC_META, PROTO_OP_GET, 1, "EN\rX\n", "not ended by CRLF"},
        {PROTO_RESP, PROTO_OP_SET, 1, "+OK\n", "not ended by CRLF"},
        {PROTO_RESP, PROTO_OP_SET, 1, "$2\r\nOK\r\n", "unexpected reply to SET"},
        {PROTO_RESP, PROTO_OP_GET, 1, "+OK\r\n", "unexpected reply to GET"},
        {PROTO_RESP, PROTO_OP_GET, 1, "$\r\n", "unexpected reply to GET"},
        {PROTO_RESP, PROTO_OP_GET, 1, "$-2\r\n", "unexpected reply to GET"},
        {PROTO_RESP, PROTO_OP_GET, 1, "$268435457\r\n", "unexpected reply to GET"},
        {PROTO_RESP, PROTO_OP_GET, 1, "*1\r\n$-1\r\n", "unexpected reply to GET"},
        {PROTO_RESP, PROTO_OP_GET, 2, "*3\r\n$-1\r\n$-1\r\n$-1\r\n", "unexpected reply to MGET"},
        {PROTO_RESP, PROTO_OP_GET, 2, "$-1\r\n$-1\r\n", "unexpected reply to MGET"},
        {PROTO_RESP, PROTO_OP_GET, 2, "*2\r\n$1\r\nab\r\n", "not followed by CRLF"},
        {PROTO_RESP_HASH, PROTO_OP_SET, 1, "+OK\r\n", "unexpected reply to SET"},
        {PROTO_RESP_HASH, PROTO_OP_SET, 1, ":2\r\n", "unexpected reply to SET"},
        {PROTO_RESP_HASH, PROTO_OP_GET, 2, "*2\r\n$-1\r\n$-1\r\n", "unexpected reply to GET"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct script s;
        s_init(&s, bad[i].id);
        s_push(&s, bad[i].op, bad[i].nkeys, K6);
        w_str(&s.w, bad[i].reply);
        play_desync(&s, 0, bad[i].what);
        s_fini(&s);
    }

    /* A line of 4 KiB with no end. */
    for (size_t i = 0; i < NPROTOS; i++) {
        if (all_protos[i] == PROTO_MC_BINARY) {
            continue;
        }
        struct script s;
        s_init(&s, all_protos[i]);
        s_push(&s, PROTO_OP_GET, 1, K6);
        char *junk = malloc(5000);
        assert_non_null(junk);
        memset(junk, 'A', 5000);
        w_put(&s.w, junk, 5000);
        free(junk);
        play_desync(&s, 0, "reply line too long");
        s_fini(&s);
    }
}

/* resp-multi: a set transaction (SET keys[0], GET the rest) answered
 * without error: +OK for the SET, modes[i] for GET keys[i] as s_get's. */
static void
s_tx_set(struct script *s, unsigned nkeys, const uint64_t *keys, const char *modes, size_t vlen)
{
    s_push(s, PROTO_OP_SET, nkeys, keys);
    struct wire *w = &s->w;
    struct proto_result *want = &s->want[s->n - 1];
    w_tx_head(w, nkeys);
    w_str(w, "+OK\r\n");
    for (unsigned i = 1; i < nkeys; i++) {
        if (modes[i] == 'm') {
            w_str(w, "$-1\r\n");
            want->misses++;
            continue;
        }
        w_fmt(w, "$%zu\r\n", vlen);
        w_value(w, keys[i], vlen, modes[i]);
        w_str(w, "\r\n");
        if (modes[i] == 'h') {
            want->hits++;
        } else {
            want->errors++;
        }
    }
}

/* resp-multi: every reply of a transaction is checked; hits and misses
 * count its GETs, and a set transaction is one op whatever it holds. */
static void
test_multi(void **state)
{
    struct script s;
    /* Set and get transactions, a plain SET (the preload's), values
     * checked inside EXEC's array. */
    s_init(&s, PROTO_RESP_MULTI);
    s_set(&s, 5, 's');
    s_tx_set(&s, 3, K6, "shm", 100);
    s_get(&s, 3, K6 + 1, "hmh", 100);
    s_tx_set(&s, 3, K6 + 3, "sbo", 20);
    s_tx_set(&s, 2, K6, "sh", 0);
    s_get(&s, 3, K6, "hhh", 0);
    play_ok(&s);
    s_fini(&s);

    /* A command refused while queued: an error, and EXEC's EXECABORT
     * another; the next transaction parses. A SET failing inside EXEC
     * answers that command only. EXEC refused outright: one error. */
    s_init(&s, PROTO_RESP_MULTI);
    s_push(&s, PROTO_OP_GET, 3, K6);
    w_str(&s.w, "+OK\r\n+QUEUED\r\n-OOM command not allowed\r\n+QUEUED\r\n"
                "-EXECABORT Transaction discarded because of previous errors.\r\n");
    s.want[0].errors = 2;
    s_push(&s, PROTO_OP_SET, 3, K6);
    w_tx_head(&s.w, 3);
    w_str(&s.w, "-OOM command not allowed when used memory > 'maxmemory'\r\n$-1\r\n_\r\n");
    s.want[1].errors = 1;
    s.want[1].misses = 2;
    s_push(&s, PROTO_OP_GET, 3, K6);
    w_str(&s.w, "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n-ERR EXEC without MULTI\r\n");
    s.want[2].errors = 1;
    s_get(&s, 3, K6, "hmh", 10);
    play_ok(&s);
    s_fini(&s);

    /* Malformed, short or out-of-place replies: desyncs, never a crash
     * or a hit. */
    static const struct {
        enum proto_op op;
        const char *reply;
        const char *what;
    } bad[] = {
        {PROTO_OP_GET, "-ERR MULTI calls can not be nested\r\n", "unexpected reply to MULTI"},
        {PROTO_OP_GET, "+QUEUED\r\n", "unexpected reply to MULTI"},
        {PROTO_OP_GET, "+OK\r\n+OK\r\n", "unexpected reply to a command in MULTI"},
        {PROTO_OP_GET, "+OK\r\n+QUEUED\r\n$-1\r\n", "unexpected reply to a command in MULTI"},
        {PROTO_OP_GET, "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n$-1\r\n$-1\r\n",
         "unexpected reply to EXEC"},
        {PROTO_OP_GET, "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*4\r\n",
         "unexpected reply to EXEC"},
        {PROTO_OP_GET, "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*-1\r\n",
         "unexpected reply to EXEC"},
        {PROTO_OP_GET, "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+OK\r\n",
         "unexpected reply to EXEC"},
        {PROTO_OP_GET, "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*\r\n", "unexpected reply to EXEC"},
        {PROTO_OP_GET, "+OK\r\n+QUEUED\r\n-ERR x\r\n+QUEUED\r\n*3\r\n",
         "EXEC ran a transaction with a refused command"},
        {PROTO_OP_GET, "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n+OK\r\n",
         "unexpected reply to GET in EXEC"},
        {PROTO_OP_GET, "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n$-1\r\n$3\r\nabcde\r\n",
         "not followed by CRLF"},
        {PROTO_OP_GET, "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n$-1\r\n$268435457\r\n",
         "unexpected reply to GET in EXEC"},
        /* EXEC's array cut short: the next transaction's +OK where the
         * third GET's reply should be */
        {PROTO_OP_GET, "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n$-1\r\n$-1\r\n+OK\r\n",
         "unexpected reply to GET in EXEC"},
        {PROTO_OP_SET, "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n$-1\r\n",
         "unexpected reply to SET in EXEC"},
        {PROTO_OP_SET, "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n+QUEUED\r\n",
         "unexpected reply to SET in EXEC"},
        {PROTO_OP_SET, "+OK\r\n+QUEUED\n", "not ended by CRLF"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        s_init(&s, PROTO_RESP_MULTI);
        s_push(&s, bad[i].op, 3, K6);
        w_str(&s.w, bad[i].reply);
        play_desync(&s, 0, bad[i].what);
        s_fini(&s);
    }

    /* A reply that stops inside EXEC's array: more is needed, nothing is
     * counted yet, whatever the split. */
    s_init(&s, PROTO_RESP_MULTI);
    s_push(&s, PROTO_OP_GET, 3, K6);
    w_str(&s.w, "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n$-1\r\n$-1\r\n");
    struct outcome o;
    play(s.id, s.reqs, s.n, s.w.b, s.w.len, &o);
    assert_false(o.desync);
    assert_int_equal(o.done, 0);
    assert_int_equal(o.leftover, 0);
    s_fini(&s);
}

/* What the parser says it needs for a big value: the whole block. */
static void
test_need(void **state)
{
    for (size_t i = 0; i < NPROTOS; i++) {
        struct script s;
        s_init(&s, all_protos[i]);
        s_get(&s, 1, K6, "h", 100000);
        struct proto_parser p;
        proto_parser_init(&p, s.id, ks, &vg);
        struct proto_req pr = {
            .op = PROTO_OP_GET, .nkeys = 1, .keys = K6, .opaque = s.reqs[0].opaque};
        size_t used, need;
        struct proto_result res;
        size_t head = s.id == PROTO_MC_BINARY ? 24 : 64; /* past the header */
        assert_int_equal(proto_parse(&p, &pr, s.w.b, head, &used, &need, &res), PROTO_MORE);
        size_t block = s.id == PROTO_MC_BINARY ? 24 + 4 + 6 + 100000 : 100002;
        assert_int_equal(need, block);
        assert_int_equal(proto_parse(&p, &pr, s.w.b + used, s.w.len - used, &used, &need, &res),
                         PROTO_DONE);
        assert_int_equal(res.hits, 1);
        s_fini(&s);
    }
}

#define ASSERT_WIRE(buf, n, lit)                                                                   \
    do {                                                                                           \
        assert_int_equal((n), strlen(lit));                                                        \
        assert_memory_equal((buf), (lit), (n));                                                    \
    } while (0)

/* Encoders: exact bytes for a small case, and within the size bounds. */
static void
test_encoders(void **state)
{
    char buf[4096];
    size_t n;
    const uint64_t keys[3] = {1, 22, 333};
    char val[10];
    value_fill(&vg, 22, val, 10);

    n = proto_encode_set(PROTO_MC_TEXT, buf, ks, &vg, keys + 1, 1, 10, 0);
    assert_int_equal(n, 19 + 10 + 2);
    assert_memory_equal(buf, "set key:22 0 0 10\r\n", 19);
    assert_memory_equal(buf + 19, val, 10);
    assert_memory_equal(buf + 29, "\r\n", 2);
    n = proto_encode_get(PROTO_MC_TEXT, buf, ks, keys, 3, 0);
    ASSERT_WIRE(buf, n, "get key:1 key:22 key:333\r\n");

    n = proto_encode_set(PROTO_MC_META, buf, ks, &vg, keys + 1, 1, 10, 0);
    assert_int_equal(n, 14 + 10 + 2);
    assert_memory_equal(buf, "ms key:22 10\r\n", 14);
    assert_memory_equal(buf + 14, val, 10);
    n = proto_encode_get(PROTO_MC_META, buf, ks, keys, 2, 0);
    ASSERT_WIRE(buf, n, "mg key:1 v\r\nmg key:22 v\r\n");

    n = proto_encode_set(PROTO_RESP, buf, ks, &vg, keys + 1, 1, 10, 0);
    assert_int_equal(n, 30 + 10 + 2);
    assert_memory_equal(buf, "*3\r\n$3\r\nSET\r\n$6\r\nkey:22\r\n$10\r\n", 30);
    assert_memory_equal(buf + 30, val, 10);
    n = proto_encode_get(PROTO_RESP, buf, ks, keys, 1, 0);
    ASSERT_WIRE(buf, n, "*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n");
    n = proto_encode_get(PROTO_RESP, buf, ks, keys, 2, 0);
    ASSERT_WIRE(buf, n, "*3\r\n$4\r\nMGET\r\n$5\r\nkey:1\r\n$6\r\nkey:22\r\n");

    n = proto_encode_set(PROTO_RESP_HASH, buf, ks, &vg, keys + 1, 1, 10, 0);
    assert_int_equal(n, 38 + 10 + 2);
    assert_memory_equal(buf, "*4\r\n$4\r\nHSET\r\n$6\r\nkey:22\r\n$1\r\nf\r\n$10\r\n", 38);
    assert_memory_equal(buf + 38, val, 10);
    n = proto_encode_get(PROTO_RESP_HASH, buf, ks, keys, 2, 0);
    ASSERT_WIRE(buf, n,
                "*3\r\n$4\r\nHGET\r\n$5\r\nkey:1\r\n$1\r\nf\r\n"
                "*3\r\n$4\r\nHGET\r\n$6\r\nkey:22\r\n$1\r\nf\r\n");

    /* resp-multi: MULTI, the commands, EXEC; a set of one key is a
     * plain SET (the preload's). */
    n = proto_encode_get(PROTO_RESP_MULTI, buf, ks, keys, 3, 0);
    ASSERT_WIRE(buf, n,
                "*1\r\n$5\r\nMULTI\r\n"
                "*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n"
                "*2\r\n$3\r\nGET\r\n$6\r\nkey:22\r\n"
                "*2\r\n$3\r\nGET\r\n$7\r\nkey:333\r\n"
                "*1\r\n$4\r\nEXEC\r\n");
    const uint64_t skeys[3] = {22, 1, 333};
    n = proto_encode_set(PROTO_RESP_MULTI, buf, ks, &vg, skeys, 3, 10, 0);
    const char *tx_head = "*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$6\r\nkey:22\r\n$10\r\n";
    const char *tx_tail = "\r\n*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n"
                          "*2\r\n$3\r\nGET\r\n$7\r\nkey:333\r\n*1\r\n$4\r\nEXEC\r\n";
    assert_int_equal(n, strlen(tx_head) + 10 + strlen(tx_tail));
    assert_memory_equal(buf, tx_head, strlen(tx_head));
    assert_memory_equal(buf + strlen(tx_head), val, 10);
    assert_memory_equal(buf + strlen(tx_head) + 10, tx_tail, strlen(tx_tail));
    n = proto_encode_set(PROTO_RESP_MULTI, buf, ks, &vg, skeys, 1, 10, 0);
    assert_int_equal(n, 30 + 10 + 2);
    assert_memory_equal(buf, "*3\r\n$3\r\nSET\r\n$6\r\nkey:22\r\n$10\r\n", 30);
    assert_int_equal(proto_set_keys(PROTO_RESP_MULTI, 3), 3);
    assert_int_equal(proto_set_keys(PROTO_RESP, 3), 1);

    n = proto_encode_set(PROTO_MC_BINARY, buf, ks, &vg, keys + 1, 1, 10, 0x01020304);
    const unsigned char *h = (const unsigned char *)buf;
    assert_int_equal(n, 24 + 8 + 6 + 10);
    assert_int_equal(h[0], 0x80);
    assert_int_equal(h[1], 0x01);
    assert_int_equal(h[2] << 8 | h[3], 6);
    assert_int_equal(h[4], 8);
    assert_int_equal(h[11], 8 + 6 + 10);
    assert_memory_equal(h + 12, "\x01\x02\x03\x04", 4);
    assert_memory_equal(buf + 32, "key:22", 6);
    assert_memory_equal(buf + 38, val, 10);
    n = proto_encode_get(PROTO_MC_BINARY, buf, ks, keys, 3, 7);
    assert_int_equal(n, 3 * 24 + 5 + 6 + 7);
    assert_int_equal(h[1], 0x0c);
    assert_int_equal(h[15], 7);
    assert_int_equal(h[24 + 5 + 1], 0x0c);
    assert_int_equal(h[24 + 5 + 15], 8); /* packet i carries opaque + i */
    assert_int_equal(h[2 * 24 + 5 + 6 + 15], 9);

    /* Every encoding fits its bound, for the longest keys. */
    struct keyspace big;
    assert_int_equal(keyspace_init(&big, 0, 1000, KEYSPACE_UNIFORM, 1, "k", 250, 250), 0);
    const uint64_t many[8] = {0, 1, 2, 3, 4, 5, 6, 999};
    for (size_t i = 0; i < NPROTOS; i++) {
        enum proto_id id = all_protos[i];
        for (unsigned nk = 1; nk <= 8; nk++) {
            assert_true(proto_encode_set(id, buf, &big, &vg, many + 8 - nk, nk, 1000, 0) <=
                        proto_set_size(id, 250, 1000, nk));
            assert_true(proto_encode_get(id, buf, &big, many, nk, 0) <=
                        proto_get_size(id, 250, nk));
        }
    }
}

static void
test_names(void **state)
{
    for (int i = 0; i < PROTO_COUNT; i++) {
        assert_int_equal(proto_by_name(proto_name((enum proto_id)i)), i);
    }
    assert_string_equal(proto_name(PROTO_MC_TEXT), "mc-text");
    assert_string_equal(proto_name(PROTO_MC_META), "mc-meta");
    assert_string_equal(proto_name(PROTO_MC_BINARY), "mc-binary");
    assert_string_equal(proto_name(PROTO_RESP), "resp");
    assert_string_equal(proto_name(PROTO_RESP_HASH), "resp-hash");
    assert_string_equal(proto_name(PROTO_RESP_MULTI), "resp-multi");
    assert_int_equal(proto_by_name("memcache"), PROTO_COUNT);
    assert_int_equal(proto_by_name(""), PROTO_COUNT);
}

static int
setup(void **state)
{
    if (keyspace_init(&ks_plain, 0, 1000000, KEYSPACE_UNIFORM, 0.99, "key:", 0, 0) != 0 ||
        keyspace_init(&ks_range, 0, 1000000, KEYSPACE_UNIFORM, 0.99, "key:", 8, 40) != 0) {
        return -1;
    }
    return value_gen_init(&vg, 100000);
}

static int
teardown(void **state)
{
    value_gen_fini(&vg);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_replies),    cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_wrong_value),     cmocka_unit_test(test_value_for_unasked_key),
        cmocka_unit_test(test_binary_mismatch), cmocka_unit_test(test_no_request_in_flight),
        cmocka_unit_test(test_error_replies),   cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_multi),           cmocka_unit_test(test_need),
        cmocka_unit_test(test_encoders),        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
