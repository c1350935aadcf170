/*
 * mc_meta: meta command syntax (see the header). The checks run in
 * memcached 1.6.18's order (proto_text.c: process_mget_command and its
 * siblings, then _meta_flag_preparse), because the order decides which
 * error a request with several faults gets; each error text below was
 * checked against the real server (tests/unit/proto/test_mc_meta.c).
 *
 * In memcached the flag pre-parse stops at the first duplicate or unknown
 * flag, while a bad number only records its error and carries on, so a
 * later bad number replaces an earlier one's message (and 'F' records an
 * error without a message of its own). md and ma answer every flag error
 * with one message of their own.
 */
#include "stashd/proto/mc_meta.h"

#include <limits.h>
#include <string.h>

#include "stashd/proto/mc_text.h"

#define ERR(s) BSTR_LIT(s "\r\n")

static const struct bstr errors[MC_META_ERR_COUNT] = {
    [MC_META_ERR_NONE] = {.data = "", .len = 0},
    [MC_META_ERR_ERROR] = ERR("ERROR"),
    [MC_META_ERR_FORMAT] = ERR("CLIENT_ERROR bad command line format"),
    [MC_META_ERR_TOO_LONG_MG] = ERR("CLIENT_ERROR options flags are too long"),
    [MC_META_ERR_TOO_LONG] = ERR("CLIENT_ERROR options flags too long"),
    [MC_META_ERR_DUP] = ERR("CLIENT_ERROR duplicate flag"),
    [MC_META_ERR_INVALID] = ERR("CLIENT_ERROR invalid flag"),
    [MC_META_ERR_BAD_TOKEN] = ERR("CLIENT_ERROR bad token in command line format"),
    [MC_META_ERR_DECODE] = ERR("CLIENT_ERROR error decoding key"),
    [MC_META_ERR_M_LEN] = ERR("CLIENT_ERROR incorrect length for M token"),
    [MC_META_ERR_INITIAL] = ERR("CLIENT_ERROR invalid numeric initial value"),
    [MC_META_ERR_DELTA] = ERR("CLIENT_ERROR invalid numeric delta value"),
    [MC_META_ERR_INV_OR_DUP] = ERR("CLIENT_ERROR invalid or duplicate flag"),
    [MC_META_ERR_OPAQUE] = ERR("CLIENT_ERROR opaque token too long"),
    [MC_META_ERR_MS_MODE] = ERR("CLIENT_ERROR invalid mode for ms M token"),
    [MC_META_ERR_MA_MODE] = ERR("CLIENT_ERROR invalid mode for ma M token"),
    [MC_META_ERR_CHUNK] = ERR("CLIENT_ERROR bad data chunk"),
    [MC_META_ERR_TOO_LARGE] = ERR("SERVER_ERROR object too large for cache"),
};

struct bstr
mc_meta_error_text(enum mc_meta_err id)
{
    return (unsigned)id < MC_META_ERR_COUNT ? errors[id] : errors[MC_META_ERR_NONE];
}

/* --- base64 ------------------------------------------------------------ */

static const char b64_alphabet[65] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* 0..63, 0 for '=', 0x80 for a byte outside the alphabet (memcached's
 * table: '=' decodes as 0 and is counted as a pad). */
static unsigned char
b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return (unsigned char)(c - 'A');
    }
    if (c >= 'a' && c <= 'z') {
        return (unsigned char)(c - 'a' + 26);
    }
    if (c >= '0' && c <= '9') {
        return (unsigned char)(c - '0' + 52);
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    if (c == '=') {
        return 0;
    }
    return 0x80;
}

size_t
mc_meta_base64_decode(const char *src, size_t len, char *out, size_t out_len)
{
    size_t count = 0;
    for (size_t i = 0; i < len; i++) {
        if (b64_value((unsigned char)src[i]) != 0x80) {
            count++;
        }
    }
    if (count == 0 || count % 4 != 0 || count / 4 * 3 > out_len) {
        return 0;
    }
    unsigned char block[4];
    size_t n = 0, pos = 0;
    int pad = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char v = b64_value((unsigned char)src[i]);
        if (v == 0x80) {
            continue;
        }
        if (src[i] == '=') {
            pad++;
        }
        block[n++] = v;
        if (n < 4) {
            continue;
        }
        out[pos++] = (char)(block[0] << 2 | block[1] >> 4);
        out[pos++] = (char)(block[1] << 4 | block[2] >> 2);
        out[pos++] = (char)(block[2] << 6 | block[3]);
        n = 0;
        if (pad > 0) {
            if (pad > 2) {
                return 0; /* invalid padding */
            }
            pos -= (size_t)pad;
            break;
        }
    }
    return pos;
}

size_t
mc_meta_base64_encode(const char *src, size_t len, char *out)
{
    const unsigned char *in = (const unsigned char *)src;
    size_t pos = 0, i = 0;
    for (; len - i >= 3; i += 3) {
        out[pos++] = b64_alphabet[in[i] >> 2];
        out[pos++] = b64_alphabet[(in[i] & 0x03) << 4 | in[i + 1] >> 4];
        out[pos++] = b64_alphabet[(in[i + 1] & 0x0f) << 2 | in[i + 2] >> 6];
        out[pos++] = b64_alphabet[in[i + 2] & 0x3f];
    }
    if (i < len) {
        out[pos++] = b64_alphabet[in[i] >> 2];
        if (len - i == 1) {
            out[pos++] = b64_alphabet[(in[i] & 0x03) << 4];
            out[pos++] = '=';
        } else {
            out[pos++] = b64_alphabet[(in[i] & 0x03) << 4 | in[i + 1] >> 4];
            out[pos++] = b64_alphabet[(in[i + 1] & 0x0f) << 2];
        }
        out[pos++] = '=';
    }
    return pos;
}

/* --- flags --------------------------------------------------------------- */

static enum mc_meta_rc
fail(struct mc_meta_req *req, enum mc_meta_err id)
{
    req->error_id = id;
    req->error = errors[id];
    return MC_META_ERROR;
}

/* The number after a flag letter ("T30" -> "30"). */
static struct bstr
flag_arg(struct bstr t)
{
    return (struct bstr){.data = t.data + 1, .len = t.len - 1};
}

/*
 * memcached's _meta_flag_preparse over req->flags: returns false with
 * *err set on any fault. Duplicate and unknown flags stop at once; a bad
 * number sets *err (or, for F, keeps the message so far) and goes on.
 */
static bool
preparse(struct mc_meta_req *req, char *scratch, enum mc_meta_err *err)
{
    bool bad = false;
    for (unsigned i = 0; i < req->nflags; i++) {
        struct bstr t = req->flags[i];
        unsigned char c = (unsigned char)t.data[0];
        if (c >= 127 || mc_meta_has(req, c)) {
            *err = MC_META_ERR_DUP;
            return false;
        }
        req->seen[c >> 6] |= (uint64_t)1 << (c & 63);
        switch (c) {
        case 'b': {
            /* Decoded into scratch (memcached decodes in place, into a
             * buffer as long as the key token). */
            size_t n = mc_meta_base64_decode(req->key.data, req->key.len, scratch,
                                             req->key.len < MC_META_SCRATCH ? req->key.len
                                                                            : MC_META_SCRATCH);
            if (n == 0) {
                *err = MC_META_ERR_DECODE;
                bad = true;
            }
            req->key.data = scratch;
            req->key.len = n;
            req->key_binary = true;
            break;
        }
        case 'N':
            req->vivify = true;
            if (!mc_text_i32(flag_arg(t), &req->vivify_ttl)) {
                *err = MC_META_ERR_BAD_TOKEN;
                bad = true;
            }
            break;
        case 'T':
            if (!mc_text_i32(flag_arg(t), &req->ttl)) {
                *err = MC_META_ERR_BAD_TOKEN;
                bad = true;
            } else {
                req->has_ttl = true;
            }
            break;
        case 'R':
            req->recache = true;
            if (!mc_text_i32(flag_arg(t), &req->recache_ttl)) {
                *err = MC_META_ERR_BAD_TOKEN;
                bad = true;
            }
            break;
        case 'F':
            if (!mc_text_u32(flag_arg(t), &req->client_flags)) {
                bad = true; /* memcached sets no message of its own */
            } else {
                req->has_flags = true;
            }
            break;
        case 'C':
            if (!mc_text_u64(flag_arg(t), &req->cas)) {
                *err = MC_META_ERR_BAD_TOKEN;
                bad = true;
            } else {
                req->has_cas = true;
            }
            break;
        case 'M':
            if (t.len != 2) {
                *err = MC_META_ERR_M_LEN;
                bad = true;
            } else {
                req->mode = t.data[1];
            }
            break;
        case 'J':
            if (!mc_text_u64(flag_arg(t), &req->initial)) {
                *err = MC_META_ERR_INITIAL;
                bad = true;
            }
            break;
        case 'D':
            if (!mc_text_u64(flag_arg(t), &req->delta)) {
                *err = MC_META_ERR_DELTA;
                bad = true;
            }
            break;
        case 'v':
            req->value = true;
            break;
        case 'u':
            req->no_update = true;
            break;
        case 'q':
            req->noreply = true;
            break;
        case 'I':
            req->stale = true;
            break;
        case 'l': /* last access */
        case 'h': /* hit before */
        case 'O': /* opaque (length checked by the caller) */
        case 'P': /* proxy hints, accepted and ignored */
        case 'L':
        case 'k': /* return flags */
        case 's':
        case 't':
        case 'c':
        case 'f':
            break;
        default:
            *err = MC_META_ERR_INVALID;
            return false;
        }
    }
    return !bad;
}

/* Is any O token longer than memcached allows? */
static bool
opaque_too_long(const struct mc_meta_req *req)
{
    for (unsigned i = 0; i < req->nflags; i++) {
        if (req->flags[i].data[0] == 'O' && req->flags[i].len > MC_META_OPAQUE_MAX) {
            return true;
        }
    }
    return false;
}

/* --- commands ------------------------------------------------------------ */

static void
req_reset(struct mc_meta_req *req)
{
    memset(req, 0, sizeof(*req));
    req->delta = 1;
}

/* me <key> [b]: no flags, only a literal "b" as the second token. */
static enum mc_meta_rc
parse_me(const struct bstr *tok, unsigned ntok, char *scratch, struct mc_meta_req *req)
{
    if (ntok < 2 || tok[1].len > MC_META_KEY_MAX) {
        return fail(req, MC_META_ERR_FORMAT);
    }
    req->key = tok[1];
    if (ntok >= 3 && tok[2].len == 1 && tok[2].data[0] == 'b') {
        size_t n = mc_meta_base64_decode(tok[1].data, tok[1].len, scratch, tok[1].len);
        if (n == 0) {
            return fail(req, MC_META_ERR_FORMAT);
        }
        req->key.data = scratch;
        req->key.len = n;
        req->key_binary = true;
    }
    return MC_META_OK;
}

/* ms: the checks before the flags (no data swallowed on these), then the
 * flags, the mode and the size (data swallowed), then the data block. */
static enum mc_meta_rc
parse_ms(const struct bstr *tok, unsigned ntok, const char *rest, size_t rest_len,
         const struct mc_meta_limits *lim, char *scratch, struct mc_meta_req *req)
{
    if (ntok == 2) {
        return fail(req, MC_META_ERR_FORMAT);
    }
    if (ntok > MC_META_MAX_TOKENS - 1) {
        return fail(req, MC_META_ERR_TOO_LONG);
    }
    int32_t vlen;
    if (!mc_text_i32(tok[2], &vlen) || vlen < 0 || vlen > INT_MAX - 2) {
        return fail(req, MC_META_ERR_FORMAT);
    }
    req->nbytes = (uint32_t)vlen;
    req->flags = tok + 3;
    req->nflags = ntok - 3;
    enum mc_meta_err err = MC_META_ERR_FORMAT;
    bool parsed = preparse(req, scratch, &err);
    bool ok = parsed;
    if (parsed && opaque_too_long(req)) {
        err = MC_META_ERR_OPAQUE;
        ok = false;
    }
    /* memcached checks the mode after the opaque, and lets it win. */
    if (parsed) {
        switch (req->mode) {
        case MC_META_MODE_NONE:
        case 'E': /* add */
        case 'A': /* append */
        case 'P': /* prepend */
        case 'R': /* replace */
        case 'S': /* set */
            break;
        default:
            err = MC_META_ERR_MS_MODE;
            ok = false;
            break;
        }
    }
    if (!ok) {
        req->swallow = (uint64_t)req->nbytes + 2;
        return fail(req, err);
    }
    if (lim != NULL && lim->fits != NULL && !lim->fits(lim->ctx, req->key.len, req->nbytes)) {
        req->swallow = (uint64_t)req->nbytes + 2;
        req->error_id = MC_META_ERR_TOO_LARGE;
        req->error = errors[MC_META_ERR_TOO_LARGE];
        return MC_META_TOO_LARGE;
    }
    size_t total = (size_t)req->nbytes + 2;
    if (rest_len < total) {
        req->need = total;
        return MC_META_NEED_MORE;
    }
    req->data.data = rest;
    req->data.len = req->nbytes;
    req->extra = total;
    if (rest[req->nbytes] != '\r' || rest[req->nbytes + 1] != '\n') {
        return fail(req, MC_META_ERR_CHUNK); /* memcached reads exactly bytes + 2 */
    }
    return MC_META_OK;
}

enum mc_meta_rc
mc_meta_parse(const struct bstr *tok, unsigned ntok, const char *rest, size_t rest_len,
              const struct mc_meta_limits *lim, char *scratch, struct mc_meta_req *req)
{
    req_reset(req);
    switch (ntok >= 1 && tok[0].len == 2 ? tok[0].data[1] : 0) {
    case 'g':
        req->cmd = MC_META_MG;
        break;
    case 's':
        req->cmd = MC_META_MS;
        break;
    case 'd':
        req->cmd = MC_META_MD;
        break;
    case 'a':
        req->cmd = MC_META_MA;
        break;
    case 'n':
        req->cmd = MC_META_MN;
        return MC_META_OK; /* memcached looks at nothing else */
    case 'e':
        req->cmd = MC_META_ME;
        return parse_me(tok, ntok, scratch, req);
    default:
        return fail(req, MC_META_ERR_ERROR);
    }
    if (ntok < 2) {
        return fail(req, MC_META_ERR_ERROR);
    }
    req->key = tok[1];
    if (req->key.len > MC_META_KEY_MAX) {
        return fail(req, MC_META_ERR_FORMAT);
    }
    if (req->cmd == MC_META_MS) {
        return parse_ms(tok, ntok, rest, rest_len, lim, scratch, req);
    }
    if (ntok > MC_META_MAX_TOKENS - 1) {
        return fail(req, req->cmd == MC_META_MG ? MC_META_ERR_TOO_LONG_MG : MC_META_ERR_TOO_LONG);
    }
    req->flags = tok + 2;
    req->nflags = ntok - 2;
    enum mc_meta_err err = MC_META_ERR_FORMAT;
    if (!preparse(req, scratch, &err)) {
        return fail(req, req->cmd == MC_META_MG ? err : MC_META_ERR_INV_OR_DUP);
    }
    if (req->cmd == MC_META_MA) {
        switch (req->mode) {
        case MC_META_MODE_NONE:
        case 'I':
        case '+':
        case 'D':
        case '-':
            break;
        default:
            return fail(req, MC_META_ERR_MA_MODE);
        }
    }
    if (opaque_too_long(req)) {
        if (req->cmd == MC_META_MD) {
            return fail(req, MC_META_ERR_OPAQUE);
        }
        /* mg and ma: memcached notices while it replies (see the header) */
        req->long_opaque = true;
    }
    return MC_META_OK;
}
