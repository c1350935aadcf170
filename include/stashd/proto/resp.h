/*
 * resp: Redis protocol syntax, RESP2 and RESP3 (pure syntax, util only).
 *
 * Requests: an array of bulk strings ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"), or
 * an inline command ("GET k\r\n", split on spaces, with Redis's quoting
 * rules), which cmd/ accepts on every RESP connection, as Redis does. Arguments are views into the
 * caller's buffer; an inline argument with escapes is unescaped in place
 * (never longer than its source), which is why the buffer is not const.
 *
 * Replies: resp_* append helpers write RESP2 or RESP3 encodings to a buf.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stashd/util/bstr.h"

struct buf;

/* Redis's limits: inline and count lines up to 64 KiB, bulk strings up to
 * proto-max-bulk-len (512 MiB; callers pass a smaller one), multibulk
 * counts up to 1024*1024 per request here. */
#define RESP_MAX_INLINE (64 * 1024)
#define RESP_MAX_ARGS (1024 * 1024)

enum resp_parse_rc {
    RESP_PARSE_OK,        /* a request: argc args in argv, consumed bytes */
    RESP_PARSE_AGAIN,     /* incomplete; need = total bytes needed if known */
    RESP_PARSE_MORE_ARGS, /* argv too small: grow to argc entries and retry */
    RESP_PARSE_EMPTY,     /* nothing to run ("*0", empty inline line): skip consumed */
    RESP_PARSE_ERROR,     /* protocol error: reply err, then close */
};

struct resp_req {
    size_t argc;
    size_t consumed; /* bytes of this request */
    size_t need;     /* with AGAIN: bytes needed from the start, 0 unknown */
    const char *err; /* with ERROR: Redis's message, e.g. "Protocol error: invalid bulk length";
                      * a printf format with one %c (req->got) for the expected-'$' error */
    char got;
};

/*
 * Parse one request at buf[0..len). argv has room for cap views; they point
 * into buf and are valid until the caller discards those bytes.
 * max_bulk bounds one argument's length. inline_ok allows inline commands
 * (the first byte is not '*').
 */
enum resp_parse_rc resp_parse(char *buf, size_t len, struct bstr *argv, size_t cap, size_t max_bulk,
                              bool inline_ok, struct resp_req *req);

/* Reply encoders. proto3 selects RESP3 encodings where they differ. */
int resp_simple(struct buf *b, const char *s, size_t n); /* +OK */
int resp_error(struct buf *b, const char *s, size_t n);  /* -ERR ... (s without '-') */
int resp_integer(struct buf *b, int64_t v);              /* :1 */
int resp_bulk(struct buf *b, const void *p, size_t n);   /* $n\r\n...\r\n */
int resp_null(struct buf *b, bool proto3);               /* $-1 / _ */
int resp_null_array(struct buf *b, bool proto3);         /* *-1 / _ */
int resp_array(struct buf *b, size_t n);                 /* *n */
int resp_map(struct buf *b, size_t n, bool proto3);      /* %n, or *2n in RESP2 */
int resp_set(struct buf *b, size_t n, bool proto3);      /* ~n, or *n */
int resp_double(struct buf *b, double v, bool proto3);   /* ,v or bulk "v" */
int resp_bool(struct buf *b, bool v, bool proto3);       /* #t/#f, or :1/:0 */
int resp_verbatim(struct buf *b, const char *p, size_t n, bool proto3); /* =n\r\ntxt:..., or bulk */

#define RESP_SIMPLE_LIT(b, s) resp_simple((b), (s), sizeof(s) - 1)
#define RESP_ERROR_LIT(b, s) resp_error((b), (s), sizeof(s) - 1)
