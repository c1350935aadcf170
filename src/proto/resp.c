/*
 * resp: Redis protocol request parser and reply encoders (see
 * proto/resp.h). The parser is restartable from the start of a request: it
 * keeps no state between calls, so a request split over many reads is
 * simply parsed again when more bytes arrive; for large bulk arguments
 * `need` tells the caller how far to read before trying again.
 */
#include "stashd/proto/resp.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "stashd/util/buf.h"
#include "stashd/util/num.h"

/* Find "\r\n" in p[0..len): offset of '\r', or -1. */
static long
find_crlf(const char *p, size_t len)
{
    const char *q = p;
    const char *end = p + len;
    while (q < end) {
        const char *r = memchr(q, '\r', (size_t)(end - q));
        if (r == NULL || r + 1 >= end) {
            return -1;
        }
        if (r[1] == '\n') {
            return (long)(r - p);
        }
        q = r + 1;
    }
    return -1;
}

/* Parse a count line after its type byte: "[-]digits\r\n". */
static bool
parse_count(const char *p, size_t n, int64_t *out)
{
    return num_parse_i64(p, n, out);
}

/*
 * The common count line, 1 to 9 plain digits then "\r\n", read in one
 * pass: *out the count, *eol the offset of its '\r'. false for anything
 * else (signs, other bytes, an incomplete line), which the general path
 * (find_crlf, parse_count) then reads with the same result as before.
 * Every request has two or three of these lines (callgrind: memchr plus
 * the general parse cost ~60 instructions a line).
 */
static inline bool
fast_count(const char *p, size_t avail, int64_t *out, long *eol)
{
    /* a single digit (a GET's and SET's argument counts, names and short
     * keys) without the loop */
    if (avail >= 3 && p[1] == '\r' && p[2] == '\n') {
        unsigned d = (unsigned)(unsigned char)p[0] - '0';
        if (d <= 9) {
            *out = d;
            *eol = 1;
            return true;
        }
    }
    int64_t v = 0;
    size_t i = 0;
    for (; i < avail && i < 9; i++) {
        unsigned d = (unsigned)(unsigned char)p[i] - '0';
        if (d > 9) {
            break;
        }
        v = v * 10 + d;
    }
    if (i == 0 || i + 1 >= avail || p[i] != '\r' || p[i + 1] != '\n') {
        return false;
    }
    *out = v;
    *eol = (long)i;
    return true;
}

static enum resp_parse_rc
fail(struct resp_req *req, const char *msg)
{
    req->err = msg;
    return RESP_PARSE_ERROR;
}

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int
hex_val(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/*
 * Split an inline line as Redis's sdssplitargs does: whitespace separates,
 * "double quotes" take \n \r \t \b \a \\ \" and \xHH escapes, 'single
 * quotes' take only \', and a closing quote must be followed by a space or
 * the end. Unescapes in place. Returns argc, or -1 on unbalanced quotes;
 * views beyond cap are counted, not stored.
 */
static long
split_inline(char *p, char *end, struct bstr *argv, size_t cap)
{
    size_t argc = 0;
    for (;;) {
        while (p < end && is_space(*p)) {
            p++;
        }
        if (p >= end) {
            return (long)argc;
        }
        char *out = p;
        char *start = p;
        bool inq = false, insq = false, done = false;
        while (!done) {
            if (inq) {
                if (p >= end) {
                    return -1;
                }
                if (*p == '\\' && p + 3 < end && p[1] == 'x' && hex_val(p[2]) >= 0 &&
                    hex_val(p[3]) >= 0) {
                    *out++ = (char)(hex_val(p[2]) * 16 + hex_val(p[3]));
                    p += 4;
                } else if (*p == '\\' && p + 1 < end) {
                    char c = p[1];
                    *out++ = c == 'n'   ? '\n'
                             : c == 'r' ? '\r'
                             : c == 't' ? '\t'
                             : c == 'b' ? '\b'
                             : c == 'a' ? '\a'
                                        : c;
                    p += 2;
                } else if (*p == '"') {
                    if (p + 1 < end && !is_space(p[1])) {
                        return -1;
                    }
                    done = true;
                    p++;
                } else {
                    *out++ = *p++;
                }
            } else if (insq) {
                if (p >= end) {
                    return -1;
                }
                if (*p == '\\' && p + 1 < end && p[1] == '\'') {
                    *out++ = '\'';
                    p += 2;
                } else if (*p == '\'') {
                    if (p + 1 < end && !is_space(p[1])) {
                        return -1;
                    }
                    done = true;
                    p++;
                } else {
                    *out++ = *p++;
                }
            } else if (p >= end || is_space(*p)) {
                done = true;
            } else if (*p == '"') {
                inq = true;
                p++;
            } else if (*p == '\'') {
                insq = true;
                p++;
            } else {
                *out++ = *p++;
            }
        }
        if (argc < cap) {
            argv[argc] = (struct bstr){.data = start, .len = (size_t)(out - start)};
        }
        argc++;
    }
}

static enum resp_parse_rc
parse_inline(char *buf, size_t len, struct bstr *argv, size_t cap, struct resp_req *req)
{
    char *nl = memchr(buf, '\n', len);
    if (nl == NULL) {
        if (len > RESP_MAX_INLINE) {
            return fail(req, "Protocol error: too big inline request");
        }
        return RESP_PARSE_AGAIN;
    }
    char *end = nl;
    if (end > buf && end[-1] == '\r') {
        end--;
    }
    req->consumed = (size_t)(nl - buf) + 1;
    long argc = split_inline(buf, end, argv, cap);
    if (argc < 0) {
        return fail(req, "Protocol error: unbalanced quotes in request");
    }
    req->argc = (size_t)argc;
    if (argc == 0) {
        return RESP_PARSE_EMPTY;
    }
    return (size_t)argc > cap ? RESP_PARSE_MORE_ARGS : RESP_PARSE_OK;
}

enum resp_parse_rc
resp_parse(char *buf, size_t len, struct bstr *argv, size_t cap, size_t max_bulk, bool inline_ok,
           struct resp_req *req)
{
    req->argc = 0;
    req->consumed = 0;
    req->need = 0;
    req->err = NULL;
    req->got = 0;
    if (len == 0) {
        return RESP_PARSE_AGAIN;
    }
    if (buf[0] != '*') {
        if (!inline_ok) {
            return fail(req, "Protocol error: expected '*'");
        }
        return parse_inline(buf, len, argv, cap, req);
    }
    long eol;
    int64_t n;
    if (!fast_count(buf + 1, len - 1, &n, &eol)) {
        eol = find_crlf(buf + 1, len - 1);
        if (eol < 0) {
            if (len > RESP_MAX_INLINE) {
                return fail(req, "Protocol error: too big mbulk count string");
            }
            return RESP_PARSE_AGAIN;
        }
        if (!parse_count(buf + 1, (size_t)eol, &n)) {
            return fail(req, "Protocol error: invalid multibulk length");
        }
    }
    if (n > RESP_MAX_ARGS) {
        return fail(req, "Protocol error: invalid multibulk length");
    }
    size_t pos = 1 + (size_t)eol + 2;
    if (n <= 0) {
        req->consumed = pos;
        return RESP_PARSE_EMPTY;
    }
    for (int64_t i = 0; i < n; i++) {
        if (pos >= len) {
            return RESP_PARSE_AGAIN;
        }
        if (buf[pos] != '$') {
            /* Redis: "Protocol error: expected '$', got 'X'"; the caller
             * formats it with req->got. */
            req->got = buf[pos];
            return fail(req, "Protocol error: expected '$', got '%c'");
        }
        int64_t blen;
        if (!fast_count(buf + pos + 1, len - pos - 1, &blen, &eol)) {
            eol = find_crlf(buf + pos + 1, len - pos - 1);
            if (eol < 0) {
                if (len - pos > RESP_MAX_INLINE) {
                    return fail(req, "Protocol error: too big bulk count string");
                }
                return RESP_PARSE_AGAIN;
            }
            if (!parse_count(buf + pos + 1, (size_t)eol, &blen) || blen < 0) {
                return fail(req, "Protocol error: invalid bulk length");
            }
        }
        if ((uint64_t)blen > max_bulk) {
            return fail(req, "Protocol error: invalid bulk length");
        }
        pos += 1 + (size_t)eol + 2;
        if ((uint64_t)blen + 2 > len - pos) {
            /* The rest of this argument plus one byte is the least needed. */
            req->need = pos + (size_t)blen + 2;
            return RESP_PARSE_AGAIN;
        }
        if (buf[pos + (size_t)blen] != '\r' || buf[pos + (size_t)blen + 1] != '\n') {
            return fail(req, "Protocol error: invalid bulk length");
        }
        if ((size_t)i < cap) {
            argv[i] = (struct bstr){.data = buf + pos, .len = (size_t)blen};
        }
        pos += (size_t)blen + 2;
    }
    req->argc = (size_t)n;
    req->consumed = pos;
    return (size_t)n > cap ? RESP_PARSE_MORE_ARGS : RESP_PARSE_OK;
}

/* --- reply encoders -------------------------------------------------- */

static int
prefix_num(struct buf *b, char type, int64_t v)
{
    char tmp[32];
    tmp[0] = type;
    size_t n = 1;
    uint64_t u = (uint64_t)v;
    if (v < 0) {
        tmp[n++] = '-';
        u = (uint64_t)0 - u;
    }
    n += num_u64_to_dec_fast(u, tmp + n);
    tmp[n++] = '\r';
    tmp[n++] = '\n';
    return buf_append(b, tmp, n);
}

int
resp_simple(struct buf *b, const char *s, size_t n)
{
    int rc = buf_append(b, "+", 1);
    rc = rc ? rc : buf_append(b, s, n);
    return rc ? rc : buf_append(b, "\r\n", 2);
}

int
resp_error(struct buf *b, const char *s, size_t n)
{
    int rc = buf_append(b, "-", 1);
    rc = rc ? rc : buf_append(b, s, n);
    return rc ? rc : buf_append(b, "\r\n", 2);
}

int
resp_integer(struct buf *b, int64_t v)
{
    return prefix_num(b, ':', v);
}

int
resp_bulk(struct buf *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n + 32, 0);
    rc = rc ? rc : prefix_num(b, '$', (int64_t)n);
    rc = rc ? rc : buf_append(b, p, n);
    return rc ? rc : buf_append(b, "\r\n", 2);
}

int
resp_null(struct buf *b, bool proto3)
{
    return proto3 ? BUF_APPEND_LIT(b, "_\r\n") : BUF_APPEND_LIT(b, "$-1\r\n");
}

int
resp_null_array(struct buf *b, bool proto3)
{
    return proto3 ? BUF_APPEND_LIT(b, "_\r\n") : BUF_APPEND_LIT(b, "*-1\r\n");
}

int
resp_array(struct buf *b, size_t n)
{
    return prefix_num(b, '*', (int64_t)n);
}

int
resp_map(struct buf *b, size_t n, bool proto3)
{
    return proto3 ? prefix_num(b, '%', (int64_t)n) : prefix_num(b, '*', (int64_t)(2 * n));
}

int
resp_set(struct buf *b, size_t n, bool proto3)
{
    return prefix_num(b, proto3 ? '~' : '*', (int64_t)n);
}

int
resp_double(struct buf *b, double v, bool proto3)
{
    char tmp[64];
    int n;
    if (isinf(v)) {
        n = snprintf(tmp, sizeof(tmp), "%s", v > 0 ? "inf" : "-inf");
    } else {
        /* Redis prints doubles with %.17g. */
        n = snprintf(tmp, sizeof(tmp), "%.17g", v);
    }
    if (proto3) {
        int rc = buf_append(b, ",", 1);
        rc = rc ? rc : buf_append(b, tmp, (size_t)n);
        return rc ? rc : buf_append(b, "\r\n", 2);
    }
    return resp_bulk(b, tmp, (size_t)n);
}

int
resp_bool(struct buf *b, bool v, bool proto3)
{
    if (proto3) {
        return v ? BUF_APPEND_LIT(b, "#t\r\n") : BUF_APPEND_LIT(b, "#f\r\n");
    }
    return resp_integer(b, v ? 1 : 0);
}

int
resp_verbatim(struct buf *b, const char *p, size_t n, bool proto3)
{
    if (!proto3) {
        return resp_bulk(b, p, n);
    }
    int rc = prefix_num(b, '=', (int64_t)n + 4);
    rc = rc ? rc : BUF_APPEND_LIT(b, "txt:");
    rc = rc ? rc : buf_append(b, p, n);
    return rc ? rc : buf_append(b, "\r\n", 2);
}
