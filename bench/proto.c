/*
 * Request encoders and the incremental reply parser; see proto.h.
 *
 * Units: text protocols (mc-text, mc-meta, RESP) alternate between a line
 * ending in CRLF and, after a line announcing one, a value block of a known
 * length plus CRLF. Binary replies are one packet: a 24-byte header and its
 * body. A unit is consumed only when it is wholly buffered, so the parser
 * never copies; the caller grows its buffer to *need for big values.
 */
#include "proto.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define MAX_LINE 4096         /* no reply line we accept is longer */
#define MAX_BODY (256u << 20) /* a binary body beyond this is garbage */
#define BIN_HEADER 24
#define BIN_REQ_MAGIC 0x80
#define BIN_RES_MAGIC 0x81
#define BIN_OP_SET 0x01
#define BIN_OP_GETK 0x0c
#define BIN_STATUS_OK 0x0000
#define BIN_STATUS_ENOENT 0x0001
#define BIN_STATUS_ENOMEM 0x0082

enum phase {
    PH_LINE,  /* expecting a line */
    PH_DATA,  /* expecting data_len bytes of value and CRLF */
    PH_ARRAY, /* RESP MGET: expecting the "*n" header */
    /* resp-multi, before EXEC's elements (which are PH_LINE/PH_DATA): */
    PH_TX_MULTI,  /* MULTI's +OK */
    PH_TX_QUEUED, /* +QUEUED per command, next counting them */
    PH_TX_EXEC,   /* EXEC's "*n" header, or its error */
};

struct proto_ops {
    const char *name;
    size_t (*encode_set)(char *dst, const struct keyspace *ks, const struct value_gen *vg,
                         const uint64_t *keys, unsigned nkeys, size_t vlen, uint32_t opaque);
    size_t (*encode_get)(char *dst, const struct keyspace *ks, const uint64_t *keys, unsigned nkeys,
                         uint32_t opaque);
    enum proto_rc (*parse)(struct proto_parser *p, const struct proto_req *req, const char *buf,
                           size_t len, size_t *used, size_t *need);
};

/* ---- small helpers ---- */

static char *
put_str(char *dst, const char *s, size_t n)
{
    memcpy(dst, s, n);
    return dst + n;
}

#define PUT_LIT(dst, lit) put_str((dst), (lit), sizeof(lit) - 1)

static char *
put_u64(char *dst, uint64_t v)
{
    return dst + keyspace_u64(dst, v);
}

static void
put_be16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static void
put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t
get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t
get_be16(const unsigned char *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Strict decimal; false on empty, non-digit or overflow. */
static bool
parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 19) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

static bool
line_is(const char *line, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n == l && memcmp(line, lit, l) == 0;
}

static bool
line_starts(const char *line, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n >= l && memcmp(line, lit, l) == 0;
}

/* memcached's generic error replies, valid in answer to any request. */
static bool
mc_error_line(const char *line, size_t n)
{
    return line_is(line, n, "ERROR") || line_starts(line, n, "ERROR ") ||
           line_starts(line, n, "CLIENT_ERROR") || line_starts(line, n, "SERVER_ERROR");
}

/* memcached's refusal of a store for memory (text and meta). */
static bool
mc_oom_line(const char *line, size_t n)
{
    return line_starts(line, n, "SERVER_ERROR out of memory");
}

/* Records what went wrong, for the run's report. */
static void
note(struct proto_parser *p, const char *what, const char *line, size_t n)
{
    char shown[64];
    size_t k = 0;
    for (size_t i = 0; i < n && k < sizeof(shown) - 4; i++) {
        unsigned char c = (unsigned char)line[i];
        shown[k++] = (c >= 0x20 && c < 0x7f) ? (char)c : '.';
    }
    shown[k] = '\0';
    snprintf(p->err, sizeof(p->err), "%s: '%s'%s", what, shown, n > k ? "..." : "");
}

enum line_rc { LINE_OK, LINE_MORE, LINE_BAD };

/* Finds the CRLF-terminated line at buf; *n is its length without CRLF. */
static enum line_rc
find_line(struct proto_parser *p, const char *buf, size_t len, size_t *n)
{
    size_t scan = len < MAX_LINE ? len : MAX_LINE;
    const char *nl = memchr(buf, '\n', scan);
    if (nl == NULL) {
        if (len >= MAX_LINE) {
            note(p, "reply line too long", buf, 40);
            return LINE_BAD;
        }
        return LINE_MORE;
    }
    size_t at = (size_t)(nl - buf);
    if (at == 0 || buf[at - 1] != '\r') {
        note(p, "reply line not ended by CRLF", buf, at);
        return LINE_BAD;
    }
    *n = at - 1;
    return LINE_OK;
}

/* Checks the value block at buf (data_len bytes + CRLF, all buffered). */
static bool
take_value(struct proto_parser *p, const char *buf)
{
    if (buf[p->data_len] != '\r' || buf[p->data_len + 1] != '\n') {
        note(p, "value block not followed by CRLF", buf + p->data_len, 2);
        return false;
    }
    if (value_check(p->vg, p->data_key, buf, p->data_len)) {
        p->res.hits++;
    } else {
        char key[KEYSPACE_MAX_KEY + 1];
        size_t kl = keyspace_format(p->ks, p->data_key, key);
        note(p, "wrong value for key", key, kl);
        p->res.errors++;
    }
    return true;
}

/* Common value-block step for the text protocols. */
static enum proto_rc
data_step(struct proto_parser *p, const char *buf, size_t len, size_t *pos, size_t *need)
{
    size_t want = p->data_len + 2;
    if (len - *pos < want) {
        *need = want;
        return PROTO_MORE;
    }
    if (!take_value(p, buf + *pos)) {
        return PROTO_DESYNC;
    }
    *pos += want;
    p->phase = PH_LINE;
    return PROTO_DONE; /* the block, not necessarily the reply */
}

/* Takes the next unit of a text reply at buf[*pos..len): the value block
 * announced (p->phase PH_DATA: checked; *line is NULL), else a CRLF line
 * (*line, *n without CRLF). PROTO_DONE when one was taken, *pos past it;
 * else PROTO_MORE (*need set) or PROTO_DESYNC. */
static enum proto_rc
take_unit(struct proto_parser *p, const char *buf, size_t len, size_t *pos, size_t *need,
          const char **line, size_t *n)
{
    if (p->phase == PH_DATA) {
        *line = NULL;
        return data_step(p, buf, len, pos, need);
    }
    enum line_rc lr = find_line(p, buf + *pos, len - *pos, n);
    if (lr == LINE_MORE) {
        *need = len - *pos + 1;
        return PROTO_MORE;
    }
    if (lr == LINE_BAD) {
        return PROTO_DESYNC;
    }
    *line = buf + *pos;
    *pos += *n + 2;
    return PROTO_DONE;
}

/* ---- memcached text ---- */

static size_t
mc_text_set(char *dst, const struct keyspace *ks, const struct value_gen *vg, const uint64_t *keys,
            unsigned nkeys, size_t vlen, uint32_t opaque)
{
    uint64_t key = keys[0];
    char *d = PUT_LIT(dst, "set ");
    d += keyspace_format(ks, key, d);
    d = PUT_LIT(d, " 0 0 ");
    d = put_u64(d, vlen);
    d = PUT_LIT(d, "\r\n");
    value_fill(vg, key, d, vlen);
    d += vlen;
    d = PUT_LIT(d, "\r\n");
    return (size_t)(d - dst);
}

static size_t
mc_text_get(char *dst, const struct keyspace *ks, const uint64_t *keys, unsigned nkeys,
            uint32_t opaque)
{
    char *d = PUT_LIT(dst, "get");
    for (unsigned i = 0; i < nkeys; i++) {
        *d++ = ' ';
        d += keyspace_format(ks, keys[i], d);
    }
    d = PUT_LIT(d, "\r\n");
    return (size_t)(d - dst);
}

/* "VALUE <key> <flags> <bytes>[ <cas>]": matches the key against the keys
 * not yet answered (memcached answers in request order, skipping misses). */
static bool
mc_text_value_line(struct proto_parser *p, const struct proto_req *req, const char *line, size_t n)
{
    const char *s = line + 6, *end = line + n;
    const char *sp = memchr(s, ' ', (size_t)(end - s));
    if (sp == NULL) {
        return false;
    }
    size_t klen = (size_t)(sp - s);
    const char *f = sp + 1;
    const char *sp2 = memchr(f, ' ', (size_t)(end - f));
    if (sp2 == NULL) {
        return false;
    }
    const char *b = sp2 + 1;
    const char *sp3 = memchr(b, ' ', (size_t)(end - b));
    size_t blen = sp3 ? (size_t)(sp3 - b) : (size_t)(end - b);
    uint64_t bytes, flags;
    if (!parse_u64(f, (size_t)(sp2 - f), &flags) || !parse_u64(b, blen, &bytes) ||
        bytes > MAX_BODY) {
        return false;
    }
    char key[KEYSPACE_MAX_KEY + 1];
    for (unsigned i = p->next; i < req->nkeys; i++) {
        size_t kl = keyspace_format(p->ks, req->keys[i], key);
        if (kl == klen && memcmp(key, s, kl) == 0) {
            p->res.misses += i - p->next;
            p->next = i + 1;
            p->data_key = req->keys[i];
            p->data_len = (size_t)bytes;
            p->phase = PH_DATA;
            return true;
        }
    }
    return false;
}

static enum proto_rc
mc_text_parse(struct proto_parser *p, const struct proto_req *req, const char *buf, size_t len,
              size_t *used, size_t *need)
{
    size_t pos = 0;
    for (;;) {
        *used = pos;
        const char *line;
        size_t n;
        enum proto_rc rc = take_unit(p, buf, len, &pos, need, &line, &n);
        if (rc != PROTO_DONE) {
            return rc;
        }
        *used = pos;
        if (line == NULL) {
            continue; /* a value block; VALUE lines name their keys */
        }
        if (req->op == PROTO_OP_SET) {
            if (line_is(line, n, "STORED")) {
                return PROTO_DONE;
            }
            if (mc_oom_line(line, n)) {
                p->res.refused++;
                return PROTO_DONE;
            }
            if (mc_error_line(line, n) || line_is(line, n, "NOT_STORED") ||
                line_is(line, n, "EXISTS") || line_is(line, n, "NOT_FOUND")) {
                note(p, "error reply to set", line, n);
                p->res.errors++;
                return PROTO_DONE;
            }
            note(p, "unexpected reply to set", line, n);
            return PROTO_DESYNC;
        }
        if (line_starts(line, n, "VALUE ")) {
            if (!mc_text_value_line(p, req, line, n)) {
                note(p, "VALUE line not matching the get", line, n);
                return PROTO_DESYNC;
            }
            continue;
        }
        if (line_is(line, n, "END")) {
            p->res.misses += req->nkeys - p->next;
            return PROTO_DONE;
        }
        if (mc_error_line(line, n)) {
            note(p, "error reply to get", line, n);
            p->res.errors++;
            return PROTO_DONE;
        }
        note(p, "unexpected reply to get", line, n);
        return PROTO_DESYNC;
    }
}

/* ---- memcached meta ---- */

static size_t
mc_meta_set(char *dst, const struct keyspace *ks, const struct value_gen *vg, const uint64_t *keys,
            unsigned nkeys, size_t vlen, uint32_t opaque)
{
    uint64_t key = keys[0];
    char *d = PUT_LIT(dst, "ms ");
    d += keyspace_format(ks, key, d);
    *d++ = ' ';
    d = put_u64(d, vlen);
    d = PUT_LIT(d, "\r\n");
    value_fill(vg, key, d, vlen);
    d += vlen;
    d = PUT_LIT(d, "\r\n");
    return (size_t)(d - dst);
}

/* A multi-get is one "mg <key> v" per key, answered one by one. */
static size_t
mc_meta_get(char *dst, const struct keyspace *ks, const uint64_t *keys, unsigned nkeys,
            uint32_t opaque)
{
    char *d = dst;
    for (unsigned i = 0; i < nkeys; i++) {
        d = PUT_LIT(d, "mg ");
        d += keyspace_format(ks, keys[i], d);
        d = PUT_LIT(d, " v\r\n");
    }
    return (size_t)(d - dst);
}

static enum proto_rc
mc_meta_parse(struct proto_parser *p, const struct proto_req *req, const char *buf, size_t len,
              size_t *used, size_t *need)
{
    size_t pos = 0;
    for (;;) {
        *used = pos;
        if (req->op == PROTO_OP_GET && p->next == req->nkeys) {
            return PROTO_DONE;
        }
        const char *line;
        size_t n;
        enum proto_rc rc = take_unit(p, buf, len, &pos, need, &line, &n);
        if (rc != PROTO_DONE) {
            return rc;
        }
        *used = pos;
        if (line == NULL) { /* a value block: that key is answered */
            p->next++;
            continue;
        }
        if (req->op == PROTO_OP_SET) {
            if (line_is(line, n, "HD") || line_starts(line, n, "HD ")) {
                return PROTO_DONE;
            }
            if (mc_oom_line(line, n)) {
                p->res.refused++;
                return PROTO_DONE;
            }
            if (mc_error_line(line, n) || line_starts(line, n, "NS") ||
                line_starts(line, n, "EX") || line_starts(line, n, "NF")) {
                note(p, "error reply to ms", line, n);
                p->res.errors++;
                return PROTO_DONE;
            }
            note(p, "unexpected reply to ms", line, n);
            return PROTO_DESYNC;
        }
        if (line_starts(line, n, "VA ")) {
            const char *s = line + 3, *end = line + n;
            const char *sp = memchr(s, ' ', (size_t)(end - s));
            uint64_t bytes;
            if (!parse_u64(s, sp ? (size_t)(sp - s) : (size_t)(end - s), &bytes) ||
                bytes > MAX_BODY) {
                note(p, "bad VA line", line, n);
                return PROTO_DESYNC;
            }
            p->data_len = (size_t)bytes;
            p->data_key = req->keys[p->next];
            p->phase = PH_DATA;
            continue;
        }
        if (line_is(line, n, "EN")) {
            p->res.misses++;
        } else if (mc_error_line(line, n) || line_is(line, n, "HD") ||
                   line_starts(line, n, "HD ")) {
            note(p, "error reply to mg", line, n);
            p->res.errors++;
        } else {
            note(p, "unexpected reply to mg", line, n);
            return PROTO_DESYNC;
        }
        p->next++;
    }
}

/* ---- memcached binary ---- */

static void
bin_header(unsigned char *h, uint8_t opcode, size_t klen, uint8_t extlen, size_t bodylen,
           uint32_t opaque)
{
    memset(h, 0, BIN_HEADER);
    h[0] = BIN_REQ_MAGIC;
    h[1] = opcode;
    put_be16(h + 2, (uint16_t)klen);
    h[4] = extlen;
    put_be32(h + 8, (uint32_t)bodylen);
    put_be32(h + 12, opaque);
}

static size_t
mc_bin_set(char *dst, const struct keyspace *ks, const struct value_gen *vg, const uint64_t *keys,
           unsigned nkeys, size_t vlen, uint32_t opaque)
{
    uint64_t key = keys[0];
    unsigned char *h = (unsigned char *)dst;
    char *k = dst + BIN_HEADER + 8;
    size_t klen = keyspace_format(ks, key, k);
    bin_header(h, BIN_OP_SET, klen, 8, 8 + klen + vlen, opaque);
    memset(h + BIN_HEADER, 0, 8); /* flags 0, exptime 0 */
    value_fill(vg, key, k + klen, vlen);
    return BIN_HEADER + 8 + klen + vlen;
}

/* A multi-get is one GETK per key; packet i carries opaque + i. */
static size_t
mc_bin_get(char *dst, const struct keyspace *ks, const uint64_t *keys, unsigned nkeys,
           uint32_t opaque)
{
    char *d = dst;
    for (unsigned i = 0; i < nkeys; i++) {
        size_t klen = keyspace_format(ks, keys[i], d + BIN_HEADER);
        bin_header((unsigned char *)d, BIN_OP_GETK, klen, 0, klen, opaque + i);
        d += BIN_HEADER + klen;
    }
    return (size_t)(d - dst);
}

static enum proto_rc
mc_bin_parse(struct proto_parser *p, const struct proto_req *req, const char *buf, size_t len,
             size_t *used, size_t *need)
{
    size_t pos = 0;
    for (;;) {
        *used = pos;
        if (req->op == PROTO_OP_GET && p->next == req->nkeys) {
            return PROTO_DONE;
        }
        if (len - pos < BIN_HEADER) {
            *need = BIN_HEADER;
            return PROTO_MORE;
        }
        const unsigned char *h = (const unsigned char *)buf + pos;
        uint32_t bodylen = get_be32(h + 8);
        if (h[0] != BIN_RES_MAGIC || bodylen > MAX_BODY) {
            note(p, "bad binary response header", (const char *)h, BIN_HEADER);
            return PROTO_DESYNC;
        }
        if (len - pos < BIN_HEADER + (size_t)bodylen) {
            *need = BIN_HEADER + (size_t)bodylen;
            return PROTO_MORE;
        }
        uint8_t opcode = h[1];
        uint16_t klen = get_be16(h + 2);
        uint8_t extlen = h[4];
        uint16_t status = get_be16(h + 6);
        uint32_t opaque = get_be32(h + 12);
        const char *body = (const char *)h + BIN_HEADER;
        pos += BIN_HEADER + bodylen;
        *used = pos;
        char what[96];
        if (req->op == PROTO_OP_SET) {
            if (opcode != BIN_OP_SET || opaque != req->opaque) {
                snprintf(what, sizeof(what), "binary reply op 0x%02x opaque %u to SET opaque %u",
                         opcode, opaque, req->opaque);
                note(p, what, "", 0);
                return PROTO_DESYNC;
            }
            if (status == BIN_STATUS_ENOMEM) {
                p->res.refused++;
            } else if (status != BIN_STATUS_OK) {
                snprintf(what, sizeof(what), "SET status 0x%04x", status);
                note(p, what, body, bodylen);
                p->res.errors++;
            }
            return PROTO_DONE;
        }
        if (opcode != BIN_OP_GETK || opaque != req->opaque + p->next) {
            snprintf(what, sizeof(what), "binary reply op 0x%02x opaque %u to GETK opaque %u",
                     opcode, opaque, req->opaque + p->next);
            note(p, what, "", 0);
            return PROTO_DESYNC;
        }
        uint64_t key = req->keys[p->next++];
        if (status == BIN_STATUS_ENOENT) {
            p->res.misses++;
            continue;
        }
        if (status != BIN_STATUS_OK) {
            snprintf(what, sizeof(what), "GETK status 0x%04x", status);
            note(p, what, body, bodylen);
            p->res.errors++;
            continue;
        }
        char kbuf[KEYSPACE_MAX_KEY + 1];
        size_t kl = keyspace_format(p->ks, key, kbuf);
        if ((size_t)extlen + klen > bodylen || kl != klen || memcmp(kbuf, body + extlen, kl)) {
            note(p, "GETK reply for another key", body + extlen,
                 (size_t)extlen + klen > bodylen ? 0 : klen);
            return PROTO_DESYNC;
        }
        const char *val = body + extlen + klen;
        size_t vlen = bodylen - extlen - klen;
        if (value_check(p->vg, key, val, vlen)) {
            p->res.hits++;
        } else {
            note(p, "wrong value for key", kbuf, kl);
            p->res.errors++;
        }
    }
}

/* ---- RESP ---- */

static char *
resp_bulk(char *d, const char *s, size_t n)
{
    *d++ = '$';
    d = put_u64(d, n);
    d = PUT_LIT(d, "\r\n");
    d = put_str(d, s, n);
    return PUT_LIT(d, "\r\n");
}

/* SET key value, or (hash) HSET key f value: the value after the key. */
static size_t
resp_set_cmd(char *dst, const char *head, size_t head_len, const struct keyspace *ks,
             const struct value_gen *vg, uint64_t key, size_t vlen, bool hash)
{
    char kbuf[KEYSPACE_MAX_KEY + 1];
    size_t kl = keyspace_format(ks, key, kbuf);
    char *d = put_str(dst, head, head_len);
    d = resp_bulk(d, kbuf, kl);
    if (hash) {
        d = PUT_LIT(d, "$1\r\nf\r\n");
    }
    *d++ = '$';
    d = put_u64(d, vlen);
    d = PUT_LIT(d, "\r\n");
    value_fill(vg, key, d, vlen);
    d += vlen;
    d = PUT_LIT(d, "\r\n");
    return (size_t)(d - dst);
}

#define RESP_SET_HEAD "*3\r\n$3\r\nSET\r\n"
#define RESP_HSET_HEAD "*4\r\n$4\r\nHSET\r\n"
#define RESP_HGET_HEAD "*3\r\n$4\r\nHGET\r\n"

static size_t
resp_set(char *dst, const struct keyspace *ks, const struct value_gen *vg, const uint64_t *keys,
         unsigned nkeys, size_t vlen, uint32_t opaque)
{
    (void)opaque;
    return resp_set_cmd(dst, RESP_SET_HEAD, sizeof(RESP_SET_HEAD) - 1, ks, vg, keys[0], vlen,
                        false);
}

/* Each key's value is field "f" of a hash of its own (HSET/HGET 1:N). */
static size_t
resp_hash_set(char *dst, const struct keyspace *ks, const struct value_gen *vg,
              const uint64_t *keys, unsigned nkeys, size_t vlen, uint32_t opaque)
{
    (void)opaque;
    return resp_set_cmd(dst, RESP_HSET_HEAD, sizeof(RESP_HSET_HEAD) - 1, ks, vg, keys[0], vlen,
                        true);
}

/* One HGET per key, pipelined in one write: their replies come in key
 * order, as an MGET's elements would. */
static size_t
resp_hash_get(char *dst, const struct keyspace *ks, const uint64_t *keys, unsigned nkeys,
              uint32_t opaque)
{
    (void)opaque;
    char *d = dst;
    char kbuf[KEYSPACE_MAX_KEY + 1];
    for (unsigned i = 0; i < nkeys; i++) {
        d = PUT_LIT(d, RESP_HGET_HEAD);
        d = resp_bulk(d, kbuf, keyspace_format(ks, keys[i], kbuf));
        d = PUT_LIT(d, "$1\r\nf\r\n");
    }
    return (size_t)(d - dst);
}

/* One key: GET; more: MGET. */
static size_t
resp_get(char *dst, const struct keyspace *ks, const uint64_t *keys, unsigned nkeys,
         uint32_t opaque)
{
    char *d = dst;
    char kbuf[KEYSPACE_MAX_KEY + 1];
    if (nkeys == 1) {
        d = PUT_LIT(d, "*2\r\n$3\r\nGET\r\n");
    } else {
        *d++ = '*';
        d = put_u64(d, (uint64_t)nkeys + 1);
        d = PUT_LIT(d, "\r\n$4\r\nMGET\r\n");
    }
    for (unsigned i = 0; i < nkeys; i++) {
        size_t kl = keyspace_format(ks, keys[i], kbuf);
        d = resp_bulk(d, kbuf, kl);
    }
    return (size_t)(d - dst);
}

/* A GET's reply for key p->next: a nil (a miss, counted) or the header of
 * its value block (PH_DATA next). false for anything else. */
static bool
resp_get_reply(struct proto_parser *p, const struct proto_req *req, const char *line, size_t n)
{
    uint64_t v;
    if (line_is(line, n, "$-1") || line_is(line, n, "_")) {
        p->res.misses++;
        p->next++;
        return true;
    }
    if (n >= 2 && line[0] == '$' && parse_u64(line + 1, n - 1, &v) && v <= MAX_BODY) {
        p->data_len = (size_t)v;
        p->data_key = req->keys[p->next];
        p->phase = PH_DATA;
        return true;
    }
    return false;
}

static enum proto_rc
resp_parse(struct proto_parser *p, const struct proto_req *req, const char *buf, size_t len,
           size_t *used, size_t *need)
{
    size_t pos = 0;
    bool hash = p->proto == PROTO_RESP_HASH;
    if (p->fresh) {
        p->fresh = false;
        if (req->op == PROTO_OP_GET && req->nkeys > 1 && !hash) {
            p->phase = PH_ARRAY; /* an MGET reply starts with its array header */
        }
    }
    for (;;) {
        *used = pos;
        if (req->op == PROTO_OP_GET && p->next == req->nkeys) {
            return PROTO_DONE;
        }
        const char *line;
        size_t n;
        enum proto_rc rc = take_unit(p, buf, len, &pos, need, &line, &n);
        if (rc != PROTO_DONE) {
            return rc;
        }
        *used = pos;
        if (line == NULL) { /* a value block: that key is answered */
            p->next++;
            continue;
        }
        if (req->op == PROTO_OP_SET && line_starts(line, n, "-OOM")) {
            p->res.refused++; /* maxmemory: the store was declined */
            return PROTO_DONE;
        }
        if (n > 0 && line[0] == '-') {
            note(p, "error reply", line, n);
            p->res.errors++;
            if (hash && req->op == PROTO_OP_GET) {
                p->next++; /* one HGET's reply: the next key's follows */
                continue;
            }
            return PROTO_DONE; /* an error replaces the whole reply */
        }
        if (req->op == PROTO_OP_SET) {
            /* HSET answers how many fields it added: 1, or 0 over one */
            if (hash ? line_is(line, n, ":1") || line_is(line, n, ":0") : line_is(line, n, "+OK")) {
                return PROTO_DONE;
            }
            note(p, "unexpected reply to SET", line, n);
            return PROTO_DESYNC;
        }
        uint64_t v;
        if (p->phase == PH_ARRAY) {
            if (n < 2 || line[0] != '*' || !parse_u64(line + 1, n - 1, &v) || v != req->nkeys) {
                note(p, "unexpected reply to MGET", line, n);
                return PROTO_DESYNC;
            }
            p->phase = PH_LINE;
            continue;
        }
        if (resp_get_reply(p, req, line, n)) {
            continue;
        }
        note(p, "unexpected reply to GET", line, n);
        return PROTO_DESYNC;
    }
}

/* ---- RESP transactions (resp-multi) ---- */

#define RESP_MULTI "*1\r\n$5\r\nMULTI\r\n"
#define RESP_EXEC "*1\r\n$4\r\nEXEC\r\n"

/* MULTI, SET keys[0], GET keys[1..n), EXEC; one key: a plain SET (the
 * preload, --set-on-miss), which resp_multi_parse() hands to resp_parse(). */
static size_t
resp_multi_set(char *dst, const struct keyspace *ks, const struct value_gen *vg,
               const uint64_t *keys, unsigned nkeys, size_t vlen, uint32_t opaque)
{
    if (nkeys == 1) {
        return resp_set(dst, ks, vg, keys, 1, vlen, opaque);
    }
    char *d = PUT_LIT(dst, RESP_MULTI);
    d += resp_set(d, ks, vg, keys, 1, vlen, opaque);
    for (unsigned i = 1; i < nkeys; i++) {
        d += resp_get(d, ks, &keys[i], 1, opaque);
    }
    d = PUT_LIT(d, RESP_EXEC);
    return (size_t)(d - dst);
}

/* MULTI, GET keys[0..n), EXEC. */
static size_t
resp_multi_get(char *dst, const struct keyspace *ks, const uint64_t *keys, unsigned nkeys,
               uint32_t opaque)
{
    char *d = PUT_LIT(dst, RESP_MULTI);
    for (unsigned i = 0; i < nkeys; i++) {
        d += resp_get(d, ks, &keys[i], 1, opaque);
    }
    d = PUT_LIT(d, RESP_EXEC);
    return (size_t)(d - dst);
}

/* EXEC's element p->next: the SET's +OK (a set's first command), or a
 * GET's nil or value header; an error answers that command only. Returns
 * false on a line that cannot answer it. */
static bool
resp_multi_element(struct proto_parser *p, const struct proto_req *req, const char *line, size_t n)
{
    if (n > 0 && line[0] == '-') {
        note(p, "error reply in EXEC", line, n);
        p->res.errors++;
        p->next++;
        return true;
    }
    if (req->op == PROTO_OP_SET && p->next == 0) {
        if (!line_is(line, n, "+OK")) {
            note(p, "unexpected reply to SET in EXEC", line, n);
            return false;
        }
        p->next++;
        return true;
    }
    if (resp_get_reply(p, req, line, n)) {
        return true;
    }
    note(p, "unexpected reply to GET in EXEC", line, n);
    return false;
}

/* +OK (MULTI), +QUEUED per command, then EXEC's array of one reply per
 * command. A command refused while queued (an error in place of +QUEUED)
 * is an error, and EXEC must then refuse the transaction (-EXECABORT): an
 * error too. An error in place of EXEC's array (EXECABORT, or any other)
 * ends the reply. Anything else out of place, a MULTI refused included
 * (what follows would not be a transaction's replies), is a desync. */
static enum proto_rc
resp_multi_parse(struct proto_parser *p, const struct proto_req *req, const char *buf, size_t len,
                 size_t *used, size_t *need)
{
    if (req->op == PROTO_OP_SET && req->nkeys == 1) {
        return resp_parse(p, req, buf, len, used, need); /* a plain SET */
    }
    size_t pos = 0;
    if (p->fresh) {
        p->fresh = false;
        p->phase = PH_TX_MULTI;
    }
    for (;;) {
        *used = pos;
        if (p->phase == PH_LINE && p->next == req->nkeys) {
            return PROTO_DONE;
        }
        const char *line;
        size_t n;
        enum proto_rc rc = take_unit(p, buf, len, &pos, need, &line, &n);
        if (rc != PROTO_DONE) {
            return rc;
        }
        *used = pos;
        if (line == NULL) { /* a value block: that key is answered */
            p->next++;
            continue;
        }
        bool err = n > 0 && line[0] == '-';
        uint64_t v;
        switch (p->phase) {
        case PH_TX_MULTI:
            if (!line_is(line, n, "+OK")) {
                note(p, "unexpected reply to MULTI", line, n);
                return PROTO_DESYNC;
            }
            p->phase = PH_TX_QUEUED;
            break;
        case PH_TX_QUEUED:
            if (err) {
                note(p, "command refused in MULTI", line, n);
                p->res.errors++;
                p->tx_aborted = true;
            } else if (!line_is(line, n, "+QUEUED")) {
                note(p, "unexpected reply to a command in MULTI", line, n);
                return PROTO_DESYNC;
            }
            if (++p->next == req->nkeys) {
                p->next = 0;
                p->phase = PH_TX_EXEC;
            }
            break;
        case PH_TX_EXEC:
            if (err) {
                note(p, "error reply to EXEC", line, n);
                p->res.errors++;
                return PROTO_DONE;
            }
            if (p->tx_aborted) {
                note(p, "EXEC ran a transaction with a refused command", line, n);
                return PROTO_DESYNC;
            }
            if (n < 2 || line[0] != '*' || !parse_u64(line + 1, n - 1, &v) || v != req->nkeys) {
                note(p, "unexpected reply to EXEC", line, n);
                return PROTO_DESYNC;
            }
            p->phase = PH_LINE;
            break;
        default:
            if (!resp_multi_element(p, req, line, n)) {
                return PROTO_DESYNC;
            }
            break;
        }
    }
}

/* ---- the table ---- */

static const struct proto_ops protos[PROTO_COUNT] = {
    [PROTO_MC_TEXT] = {.name = "mc-text",
                       .encode_set = mc_text_set,
                       .encode_get = mc_text_get,
                       .parse = mc_text_parse},
    [PROTO_MC_META] = {.name = "mc-meta",
                       .encode_set = mc_meta_set,
                       .encode_get = mc_meta_get,
                       .parse = mc_meta_parse},
    [PROTO_MC_BINARY] = {.name = "mc-binary",
                         .encode_set = mc_bin_set,
                         .encode_get = mc_bin_get,
                         .parse = mc_bin_parse},
    [PROTO_RESP] = {.name = "resp",
                    .encode_set = resp_set,
                    .encode_get = resp_get,
                    .parse = resp_parse},
    [PROTO_RESP_HASH] = {.name = "resp-hash",
                         .encode_set = resp_hash_set,
                         .encode_get = resp_hash_get,
                         .parse = resp_parse},
    [PROTO_RESP_MULTI] = {.name = "resp-multi",
                          .encode_set = resp_multi_set,
                          .encode_get = resp_multi_get,
                          .parse = resp_multi_parse},
};

enum proto_id
proto_by_name(const char *name)
{
    for (int i = 0; i < PROTO_COUNT; i++) {
        if (strcmp(protos[i].name, name) == 0) {
            return (enum proto_id)i;
        }
    }
    return PROTO_COUNT;
}

const char *
proto_name(enum proto_id id)
{
    return protos[id].name;
}

unsigned
proto_set_keys(enum proto_id id, unsigned multiget)
{
    return id == PROTO_RESP_MULTI ? multiget : 1;
}

size_t
proto_set_size(enum proto_id id, size_t klen, size_t vlen, unsigned nkeys)
{
    /* The longest framing (RESP) is under 64 bytes plus key and value; a
     * resp-multi set adds MULTI, EXEC and nkeys - 1 GETs. */
    size_t s = 64 + klen + vlen;
    return id == PROTO_RESP_MULTI ? s + proto_get_size(id, klen, nkeys) : s;
}

size_t
proto_get_size(enum proto_id id, size_t klen, unsigned nkeys)
{
    return 32 + (size_t)nkeys * (BIN_HEADER + 16 + klen);
}

size_t
proto_encode_set(enum proto_id id, char *dst, const struct keyspace *ks, const struct value_gen *vg,
                 const uint64_t *keys, unsigned nkeys, size_t vlen, uint32_t opaque)
{
    return protos[id].encode_set(dst, ks, vg, keys, nkeys, vlen, opaque);
}

size_t
proto_encode_get(enum proto_id id, char *dst, const struct keyspace *ks, const uint64_t *keys,
                 unsigned nkeys, uint32_t opaque)
{
    return protos[id].encode_get(dst, ks, keys, nkeys, opaque);
}

void
proto_parser_init(struct proto_parser *p, enum proto_id id, const struct keyspace *ks,
                  const struct value_gen *vg)
{
    memset(p, 0, sizeof(*p));
    p->proto = id;
    p->ks = ks;
    p->vg = vg;
    p->phase = PH_LINE;
    p->fresh = true;
}

enum proto_rc
proto_parse(struct proto_parser *p, const struct proto_req *req, const char *buf, size_t len,
            size_t *used, size_t *need, struct proto_result *res)
{
    *need = 0;
    enum proto_rc rc = protos[p->proto].parse(p, req, buf, len, used, need);
    if (rc == PROTO_DONE) {
        *res = p->res;
        memset(&p->res, 0, sizeof(p->res));
        p->next = 0;
        p->phase = PH_LINE;
        p->fresh = true;
        p->tx_aborted = false;
    }
    return rc;
}
