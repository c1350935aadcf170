/*
 * mc_text: memcached text protocol syntax. See the header for the rules;
 * this file keeps memcached 1.6.18's order of checks, because the order
 * decides which error a malformed request gets (verified against the real
 * server, see tests/unit/proto/test_mc_text.c).
 *
 * One request costs: a memchr for the newline, a memchr for a NUL, one
 * pass splitting tokens, a short table scan for the command, and for a
 * retrieval command one pass over its keys to check their lengths (so a
 * bad key refuses the whole command before any reply is built, as
 * memcached's reply does).
 */
#include "stashd/proto/mc_text.h"

#include <limits.h>
#include <string.h>

enum cmd_kind {
    KIND_RETRIEVAL,
    KIND_STORAGE,
    KIND_ARITH,
    KIND_TOUCH,
    KIND_DELETE,
    KIND_ADMIN,
    KIND_META,
};

/* Token counts are memcached's less its terminal token: the command plus
 * its arguments, at most MC_TEXT_MAX_TOKENS. */
struct cmd_def {
    const char *name;
    uint8_t len;
    uint8_t kind; /* enum cmd_kind */
    uint8_t min_tok;
    uint8_t max_tok;
    bool noreply; /* takes a trailing "noreply" */
    enum mc_text_cmd cmd;
};

#define ANY MC_TEXT_MAX_TOKENS
// clang-format off
#define CMD(n, k, mn, mx, nr, c) \
    { .name = (n), .len = sizeof(n) - 1, .kind = (k), .min_tok = (mn), .max_tok = (mx), \
      .noreply = (nr), .cmd = (c) }
// clang-format on

/* The commonest first: the lookup is a scan. */
static const struct cmd_def cmd_table[] = {
    CMD("get", KIND_RETRIEVAL, 2, ANY, false, MC_TEXT_GET),
    CMD("set", KIND_STORAGE, 5, 6, true, MC_TEXT_SET),
    CMD("gets", KIND_RETRIEVAL, 2, ANY, false, MC_TEXT_GETS),
    CMD("delete", KIND_DELETE, 2, 4, true, MC_TEXT_DELETE),
    CMD("incr", KIND_ARITH, 3, 4, true, MC_TEXT_INCR),
    CMD("decr", KIND_ARITH, 3, 4, true, MC_TEXT_DECR),
    CMD("add", KIND_STORAGE, 5, 6, true, MC_TEXT_ADD),
    CMD("cas", KIND_STORAGE, 6, 7, true, MC_TEXT_CAS),
    CMD("replace", KIND_STORAGE, 5, 6, true, MC_TEXT_REPLACE),
    CMD("append", KIND_STORAGE, 5, 6, true, MC_TEXT_APPEND),
    CMD("prepend", KIND_STORAGE, 5, 6, true, MC_TEXT_PREPEND),
    CMD("touch", KIND_TOUCH, 3, 4, true, MC_TEXT_TOUCH),
    CMD("gat", KIND_RETRIEVAL, 2, ANY, false, MC_TEXT_GAT),
    CMD("gats", KIND_RETRIEVAL, 2, ANY, false, MC_TEXT_GATS),
    CMD("mg", KIND_META, 1, ANY, false, MC_TEXT_MG),
    CMD("ms", KIND_META, 1, ANY, false, MC_TEXT_MS),
    CMD("md", KIND_META, 1, ANY, false, MC_TEXT_MD),
    CMD("ma", KIND_META, 1, ANY, false, MC_TEXT_MA),
    CMD("mn", KIND_META, 1, ANY, false, MC_TEXT_MN),
    CMD("me", KIND_META, 1, ANY, false, MC_TEXT_ME),
    CMD("version", KIND_ADMIN, 1, ANY, false, MC_TEXT_VERSION),
    CMD("stats", KIND_ADMIN, 1, ANY, false, MC_TEXT_STATS),
    CMD("flush_all", KIND_ADMIN, 1, 3, true, MC_TEXT_FLUSH_ALL),
    CMD("verbosity", KIND_ADMIN, 2, 3, true, MC_TEXT_VERBOSITY),
    CMD("quit", KIND_ADMIN, 1, ANY, false, MC_TEXT_QUIT),
    CMD("cache_memlimit", KIND_ADMIN, 2, 3, true, MC_TEXT_CACHE_MEMLIMIT),
    CMD("shutdown", KIND_ADMIN, 1, ANY, false, MC_TEXT_SHUTDOWN),
    CMD("lru_crawler", KIND_ADMIN, 1, ANY, false, MC_TEXT_LRU_CRAWLER),
    CMD("watch", KIND_ADMIN, 1, ANY, false, MC_TEXT_WATCH),
    CMD("refresh_certs", KIND_ADMIN, 1, ANY, true, MC_TEXT_REFRESH_CERTS),
    /* memcached's undocumented old alias of get */
    CMD("bget", KIND_RETRIEVAL, 2, ANY, false, MC_TEXT_GET),
};

#define ERR(s) BSTR_LIT(s "\r\n")

static const struct bstr err_error = ERR("ERROR");
static const struct bstr err_format = ERR("CLIENT_ERROR bad command line format");
static const struct bstr err_chunk = ERR("CLIENT_ERROR bad data chunk");
static const struct bstr err_exptime = ERR("CLIENT_ERROR invalid exptime argument");
static const struct bstr err_delta = ERR("CLIENT_ERROR invalid numeric delta argument");
static const struct bstr err_delete =
    ERR("CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]");

static const struct cmd_def *
cmd_lookup(struct bstr t)
{
    for (size_t i = 0; i < sizeof(cmd_table) / sizeof(cmd_table[0]); i++) {
        const struct cmd_def *d = &cmd_table[i];
        if (d->len != t.len || d->name[0] != t.data[0]) {
            continue;
        }
        size_t j = 1; /* names are short: no memcmp call */
        while (j < t.len && d->name[j] == t.data[j]) {
            j++;
        }
        if (j == t.len) {
            return d;
        }
    }
    return NULL;
}

const char *
mc_text_cmd_name(enum mc_text_cmd cmd)
{
    for (size_t i = 0; i < sizeof(cmd_table) / sizeof(cmd_table[0]); i++) {
        if (cmd_table[i].cmd == cmd) {
            return cmd_table[i].name;
        }
    }
    return "unknown";
}

/* --- numbers, as memcached's safe_strto* read them ------------------- */

static bool
c_isspace(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/*
 * strtoull/strtoll syntax over a token: white space, an optional sign,
 * decimal digits. *mag gets the magnitude, *over whether it passed 2^64 - 1.
 * Returns false when there are no digits (strto* leave endptr == str).
 * Then the safe_* rule: the digits must end the token or be followed by a
 * white-space byte.
 */
static bool
scan_number(struct bstr t, uint64_t *mag, bool *neg, bool *over)
{
    /* The common token, 1 to 19 plain digits, cannot overflow. */
    if (t.len - 1 < 19) {
        uint64_t v = 0;
        size_t i = 0;
        for (; i < t.len; i++) {
            unsigned d = (unsigned)(unsigned char)t.data[i] - '0';
            if (d > 9) {
                break;
            }
            v = v * 10 + d;
        }
        if (i == t.len) {
            *mag = v;
            *neg = false;
            *over = false;
            return true;
        }
    }
    const char *p = t.data, *end = t.data + t.len;
    while (p < end && c_isspace(*p)) {
        p++;
    }
    *neg = false;
    if (p < end && (*p == '+' || *p == '-')) {
        *neg = *p == '-';
        p++;
    }
    const char *digits = p;
    uint64_t v = 0;
    *over = false;
    /* v * 10 + d overflows iff v > MAX / 10, or v == MAX / 10 and
     * d > MAX % 10 (no division per digit) */
    const uint64_t max_div = UINT64_MAX / 10;
    const unsigned max_mod = (unsigned)(UINT64_MAX % 10);
    while (p < end && *p >= '0' && *p <= '9') {
        unsigned d = (unsigned)(*p - '0');
        if (v >= max_div && (v > max_div || d > max_mod)) {
            *over = true;
        }
        v = v * 10 + d;
        p++;
    }
    if (p == digits) {
        return false;
    }
    *mag = v;
    return p == end || c_isspace(*p);
}

bool
mc_text_u64(struct bstr t, uint64_t *out)
{
    uint64_t mag;
    bool neg, over;
    *out = 0;
    if (!scan_number(t, &mag, &neg, &over) || over) {
        return false;
    }
    uint64_t v = neg ? (uint64_t)0 - mag : mag;
    /* memcached refuses a '-' anywhere in the token only when the result
     * looks negative as a signed number: "-0" and "-18446744073709551615"
     * pass. */
    if ((int64_t)v < 0 && memchr(t.data, '-', t.len) != NULL) {
        return false;
    }
    *out = v;
    return true;
}

bool
mc_text_u32(struct bstr t, uint32_t *out)
{
    uint64_t v;
    *out = 0;
    if (!mc_text_u64(t, &v)) {
        return false;
    }
    *out = (uint32_t)v; /* memcached stores an unsigned long in a uint32_t */
    return true;
}

bool
mc_text_i64(struct bstr t, int64_t *out)
{
    uint64_t mag;
    bool neg, over;
    *out = 0;
    if (!scan_number(t, &mag, &neg, &over) || over) {
        return false;
    }
    if (neg ? mag > (uint64_t)INT64_MAX + 1 : mag > (uint64_t)INT64_MAX) {
        return false; /* ERANGE */
    }
    *out = neg ? (int64_t)((uint64_t)0 - mag) : (int64_t)mag;
    return true;
}

bool
mc_text_i32(struct bstr t, int32_t *out)
{
    int64_t v;
    *out = 0;
    if (!mc_text_i64(t, &v)) {
        return false;
    }
    *out = (int32_t)(uint32_t)(uint64_t)v; /* memcached stores a long in an int32_t */
    return true;
}

/* --- keys ------------------------------------------------------------ */

void
mc_text_keys_init(struct mc_text_keys *it, struct bstr keys)
{
    it->start = keys.data;
    it->lo = keys.data;
    it->p = keys.data;
    it->end = keys.data + keys.len;
    it->hi = it->end;
}

void
mc_text_keys_seek(struct mc_text_keys *it, size_t offset)
{
    size_t n = (size_t)(it->end - it->start);
    it->p = it->start + (offset < n ? offset : n);
}

/* --- lines and tokens ------------------------------------------------ */

/* Next token of [*p, end) split on ' ', or false at the end; [lo, end)
 * is the line. */
static bool
next_token(const char **p, const char *end, const char *lo, const char *hi, struct bstr *t)
{
    const char *s = *p;
    while (s < end && *s == ' ') {
        s++;
    }
    if (s == end) {
        *p = s;
        return false;
    }
    const char *e = mc_text_space_or_end(s, end, lo, hi);
    t->data = s;
    t->len = (size_t)(e - s);
    *p = e;
    return true;
}

/*
 * memcached closes a connection whose first 2048 bytes hold no newline
 * unless, after at most 100 spaces, they start a get or gets.
 */
static bool
long_line_allowed(const char *data, size_t len)
{
    size_t i = 0;
    while (i < len && data[i] == ' ') {
        i++;
    }
    if (i > 100) {
        return false;
    }
    return (len - i >= 4 && memcmp(data + i, "get ", 4) == 0) ||
           (len - i >= 5 && memcmp(data + i, "gets ", 5) == 0);
}

static bool
tok_is(struct bstr t, const char *lit, size_t n)
{
    return t.len == n && memcmp(t.data, lit, n) == 0;
}

static enum mc_text_rc
fail(struct mc_text_req *req, struct bstr error)
{
    req->error = error;
    return MC_TEXT_ERROR;
}

/* A command memcached does not know: "ERROR", or a silent close when the
 * line looks like HTTP (memcached only checks this for commands whose
 * first letter matched none of its fast paths). */
static enum mc_text_rc
unknown_command(struct mc_text_req *req)
{
    struct bstr c = req->tok[0];
    if (c.len < 2 || memchr("gsacidt", c.data[0], 7) != NULL || (c.data[0] == 'm' && c.len == 2)) {
        return fail(req, err_error);
    }
    struct bstr last = req->tok[req->ntok - 1];
    if (last.len >= 5 && memcmp(last.data, "HTTP/", 5) == 0) {
        return MC_TEXT_CLOSE;
    }
    return fail(req, err_error);
}

static enum mc_text_rc
parse_retrieval(struct mc_text_req *req, const char *p, const char *end)
{
    if (req->cmd == MC_TEXT_GAT || req->cmd == MC_TEXT_GATS) {
        struct bstr t;
        if (!next_token(&p, end, req->tok[0].data, req->input_end, &t)) {
            return fail(req, err_error);
        }
        req->tok[req->ntok++] = t;
        int32_t e;
        if (!mc_text_i32(t, &e)) {
            return fail(req, err_exptime);
        }
        req->exptime = e;
    }
    while (p < end && *p == ' ') {
        p++;
    }
    req->keys.data = p;
    req->keys.len = (size_t)(end - p);
    if (req->keys.len <= MC_TEXT_KEY_MAX) {
        /* no key can be too long; p is past the spaces, so a key exists
         * unless the list is empty */
        if (req->keys.len == 0 && req->ntok == 1) {
            return fail(req, err_error); /* "get" alone: too few tokens */
        }
        return MC_TEXT_OK;
    }
    struct mc_text_keys it;
    struct bstr k;
    size_t n = 0;
    mc_text_req_keys(&it, req);
    while (mc_text_keys_next(&it, &k)) {
        if (k.len > MC_TEXT_KEY_MAX) {
            return fail(req, err_format);
        }
        n++;
    }
    if (n == 0 && req->ntok == 1) {
        return fail(req, err_error); /* "get" alone: too few tokens */
    }
    return MC_TEXT_OK;
}

static enum mc_text_rc
parse_storage(struct mc_text_req *req, const char *data, size_t len,
              const struct mc_text_limits *lim)
{
    req->key = req->tok[1];
    if (req->key.len > MC_TEXT_KEY_MAX) {
        return fail(req, err_format);
    }
    int32_t exptime, vlen;
    if (!mc_text_u32(req->tok[2], &req->flags) || !mc_text_i32(req->tok[3], &exptime) ||
        !mc_text_i32(req->tok[4], &vlen)) {
        return fail(req, err_format);
    }
    req->exptime = exptime;
    if (req->cmd == MC_TEXT_CAS && !mc_text_u64(req->tok[5], &req->cas)) {
        return fail(req, err_format);
    }
    if (vlen < 0 || vlen > INT_MAX - 2) {
        return fail(req, err_format);
    }
    req->nbytes = (uint32_t)vlen;
    if (lim != NULL && lim->fits != NULL && !lim->fits(lim->ctx, req->key.len, req->nbytes)) {
        req->swallow = (uint64_t)req->nbytes + 2;
        return MC_TEXT_TOO_LARGE;
    }
    size_t total = req->consumed + req->nbytes + 2;
    if (len < total) {
        req->need = total;
        req->consumed = 0;
        return MC_TEXT_NEED_MORE;
    }
    const char *d = data + req->consumed;
    req->consumed = total;
    req->data.data = d;
    req->data.len = req->nbytes;
    if (d[req->nbytes] != '\r' || d[req->nbytes + 1] != '\n') {
        /* memcached reads exactly bytes + 2 and carries on parsing after
         * them, whatever they were. */
        return fail(req, err_chunk);
    }
    return MC_TEXT_OK;
}

/* A meta command: its flags and data block, in the same pass (see
 * mc_text_req.meta). */
static enum mc_text_rc
parse_meta(struct mc_text_req *req, const char *data, size_t len, const struct mc_text_limits *lim)
{
    const struct mc_meta_limits mlim = {
        .fits = lim != NULL ? lim->fits : NULL,
        .ctx = lim != NULL ? lim->ctx : NULL,
    };
    size_t line = req->consumed;
    req->meta_rc = mc_meta_parse(req->tok, req->ntok, data + line, len - line, &mlim,
                                 req->meta_scratch, &req->meta);
    if (req->meta_rc == MC_META_NEED_MORE) {
        req->need = line + req->meta.need;
        req->consumed = 0;
        return MC_TEXT_NEED_MORE;
    }
    return MC_TEXT_OK;
}

static enum mc_text_rc
parse_args(const struct cmd_def *d, struct mc_text_req *req)
{
    switch (d->kind) {
    case KIND_ARITH:
        req->key = req->tok[1];
        if (req->key.len > MC_TEXT_KEY_MAX) {
            return fail(req, err_format);
        }
        if (!mc_text_u64(req->tok[2], &req->delta)) {
            return fail(req, err_delta);
        }
        return MC_TEXT_OK;
    case KIND_TOUCH: {
        req->key = req->tok[1];
        if (req->key.len > MC_TEXT_KEY_MAX) {
            return fail(req, err_format);
        }
        int32_t e;
        if (!mc_text_i32(req->tok[2], &e)) {
            return fail(req, err_exptime);
        }
        req->exptime = e;
        return MC_TEXT_OK;
    }
    case KIND_DELETE:
        /* "delete k 0", "delete k noreply" and "delete k 0 noreply" only:
         * the 0 is the hold time memcached 1.4 dropped. */
        if (req->ntok > 2) {
            bool zero = tok_is(req->tok[2], "0", 1);
            bool valid = (req->ntok == 3 && (zero || req->noreply)) ||
                         (req->ntok == 4 && zero && req->noreply);
            if (!valid) {
                return fail(req, err_delete);
            }
        }
        req->key = req->tok[1];
        if (req->key.len > MC_TEXT_KEY_MAX) {
            return fail(req, err_format);
        }
        return MC_TEXT_OK;
    default:
        return MC_TEXT_OK;
    }
}

static void
req_reset(struct mc_text_req *req)
{
    req->cmd = MC_TEXT_UNKNOWN;
    req->noreply = false;
    req->key = (struct bstr){0};
    req->keys = (struct bstr){0};
    req->data = (struct bstr){0};
    req->flags = 0;
    req->exptime = 0;
    req->nbytes = 0;
    req->cas = 0;
    req->delta = 0;
    req->ntok = 0;
    req->consumed = 0;
    req->input_end = NULL;
    req->need = 0;
    req->swallow = 0;
    req->error = (struct bstr){0};
}

/*
 * The first '\n' in s[0..n), or NULL; *nul gets the first NUL before it
 * (memcached's strlen ends the line there), or NULL. One pass, 16 bytes
 * at a time, instead of a memchr for each (callgrind: ~20 instructions
 * a request saved).
 */
static const char *
line_end(const char *s, size_t n, const char **nul)
{
    *nul = NULL;
    size_t i = 0;
#ifdef __SSE2__
    const __m128i lf = _mm_set1_epi8('\n'), zero = _mm_setzero_si128();
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        unsigned mlf = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, lf));
        unsigned mz = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, zero));
        if (mz != 0 && *nul == NULL) {
            unsigned z = (unsigned)__builtin_ctz(mz);
            if (mlf == 0 || z < (unsigned)__builtin_ctz(mlf)) {
                *nul = s + i + z;
            }
        }
        if (mlf != 0) {
            return s + i + __builtin_ctz(mlf);
        }
    }
#endif
    for (; i < n; i++) {
        if (s[i] == '\n') {
            return s + i;
        }
        if (s[i] == '\0' && *nul == NULL) {
            *nul = s + i;
        }
    }
    return NULL;
}

enum mc_text_rc
mc_text_parse(const char *data, size_t len, const struct mc_text_limits *lim,
              struct mc_text_req *req)
{
    req_reset(req);
    req->input_end = data + len;
    size_t scan = len < MC_TEXT_KEYS_LINE_MAX + 1 ? len : MC_TEXT_KEYS_LINE_MAX + 1;
    const char *nul;
    const char *nl = line_end(data, scan, &nul);
    if (nl == NULL) {
        if (len > MC_TEXT_KEYS_LINE_MAX ||
            (len > MC_TEXT_LINE_MAX && !long_line_allowed(data, len))) {
            return MC_TEXT_CLOSE;
        }
        return MC_TEXT_NEED_MORE;
    }
    req->consumed = (size_t)(nl - data) + 1;
    const char *end = nl;
    if (end - data > 1 && end[-1] == '\r') {
        end--;
    }
    if (nul != NULL && nul < end) {
        end = nul;
    }

    const char *p = data;
    while (p < end && *p == ' ') {
        p++;
    }
    if (p == end) {
        return fail(req, err_error); /* empty line */
    }
    struct bstr t = {.data = p};
    p = mc_text_space_or_end(p, end, data, data + len);
    t.len = (size_t)(p - t.data);
    req->tok[req->ntok++] = t;
    const struct cmd_def *d = t.len >= 2 ? cmd_lookup(t) : NULL;
    if (d != NULL) {
        req->cmd = d->cmd;
        if (d->kind == KIND_RETRIEVAL) {
            return parse_retrieval(req, p, end);
        }
    }
    while (req->ntok < MC_TEXT_MAX_TOKENS && next_token(&p, end, data, data + len, &t)) {
        req->tok[req->ntok++] = t;
    }
    if (d == NULL) {
        return unknown_command(req);
    }
    if (req->ntok < d->min_tok || req->ntok > d->max_tok) {
        req->cmd = MC_TEXT_UNKNOWN;
        return fail(req, err_error);
    }
    if (d->noreply && req->ntok > 1 && tok_is(req->tok[req->ntok - 1], "noreply", 7)) {
        req->noreply = true;
    }
    if (d->kind == KIND_STORAGE) {
        return parse_storage(req, data, len, lim);
    }
    if (d->kind == KIND_META) {
        return parse_meta(req, data, len, lim);
    }
    return parse_args(d, req);
}
