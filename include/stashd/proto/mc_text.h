/*
 * mc_text: memcached's classic text protocol, pure syntax (util only).
 *
 * mc_text_parse() reads one request at the front of a buffer in place: the
 * request it fills holds views into that buffer (no copy, no allocation)
 * and the numbers already converted. Storage commands are returned only
 * with their data block; a value the size check refuses is reported with
 * the count of bytes to swallow, which may exceed what the buffer holds.
 *
 *   "set k 0 0 5\r\nhello\r\n"        "get a b c\r\n"
 *    |--- line ---||-data-|             |-cmd-||keys-|
 *
 * The rules are memcached 1.6.18's, byte for byte, including its quirks:
 *  - a line ends at "\n"; one "\r" before it is dropped (unless the line is
 *    just "\r"); a NUL byte ends the line early (memcached uses strlen);
 *  - tokens are split on ' ' only; at most MC_TEXT_MAX_TOKENS are counted,
 *    the rest of the line is one opaque remainder (retrieval commands walk
 *    their key list with mc_text_keys_next instead);
 *  - numbers parse as memcached's safe_strto* do: strtoul/strtol syntax
 *    (leading white space, a sign), any white-space byte ends the number,
 *    32-bit results are truncated from 64 bits, "-1" is refused where the
 *    value is unsigned but "-0" is not;
 *  - a line over MC_TEXT_LINE_MAX bytes without its newline closes the
 *    connection unless it starts with "get " or "gets " (multi-gets may be
 *    long); stashd bounds those at MC_TEXT_KEYS_LINE_MAX.
 * Every outcome that depends on the server (flush disabled, shutdown not
 * enabled, the memory limit) is left to the caller; helpers below parse the
 * arguments of the rarer commands in memcached's order.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "stashd/proto/mc_meta.h"
#include "stashd/util/bstr.h"

/* memcached's KEY_MAX_LENGTH. */
#define MC_TEXT_KEY_MAX 250
/* memcached's MAX_TOKENS (24) less the terminal token it counts. */
#define MC_TEXT_MAX_TOKENS 23
/* A line longer than this without a newline closes the connection... */
#define MC_TEXT_LINE_MAX 2048
/* ...unless it is a get/gets, which may grow to this (memcached: no bound;
 * 1 MiB is ~50,000 keys of 20 bytes and keeps one connection's read buffer
 * within max item size + this). */
#define MC_TEXT_KEYS_LINE_MAX (1024 * 1024)

/*
 * Commands. Groups stay contiguous so that callers can index tables by
 * command; a meta command's line is split here and handed, in the same
 * call, to proto/mc_meta, which parses its flags and data block.
 */
enum mc_text_cmd {
    MC_TEXT_UNKNOWN = 0,
    /* retrieval: a key list */
    MC_TEXT_GET,
    MC_TEXT_GETS,
    MC_TEXT_GAT, /* exptime first, then keys */
    MC_TEXT_GATS,
    /* storage: key flags exptime bytes [cas] [noreply] + data block */
    MC_TEXT_SET,
    MC_TEXT_ADD,
    MC_TEXT_REPLACE,
    MC_TEXT_APPEND,
    MC_TEXT_PREPEND,
    MC_TEXT_CAS,
    /* one key */
    MC_TEXT_INCR,
    MC_TEXT_DECR,
    MC_TEXT_TOUCH,
    MC_TEXT_DELETE,
    /* administration: arguments left as tokens */
    MC_TEXT_FLUSH_ALL,
    MC_TEXT_VERSION,
    MC_TEXT_VERBOSITY,
    MC_TEXT_QUIT,
    MC_TEXT_CACHE_MEMLIMIT,
    MC_TEXT_SHUTDOWN,
    MC_TEXT_STATS,
    MC_TEXT_LRU_CRAWLER,
    MC_TEXT_WATCH,
    MC_TEXT_REFRESH_CERTS, /* TLS certificate reload; any arguments */
    /* meta: parsed whole by proto/mc_meta into req->meta */
    MC_TEXT_MG,
    MC_TEXT_MS,
    MC_TEXT_MD,
    MC_TEXT_MA,
    MC_TEXT_MN,
    MC_TEXT_ME,
    MC_TEXT_CMD_COUNT
};

enum mc_text_rc {
    MC_TEXT_OK,        /* a request: req filled, req->consumed bytes */
    MC_TEXT_NEED_MORE, /* incomplete: req->need = total bytes needed, 0 unknown */
    MC_TEXT_ERROR,     /* a refused request: reply req->error unless req->noreply */
    MC_TEXT_TOO_LARGE, /* storage value over the limit: reply "SERVER_ERROR object
                        * too large for cache" unless noreply, then discard
                        * req->swallow bytes after req->consumed */
    MC_TEXT_CLOSE,     /* close without a reply (line too long, HTTP request) */
};

/* Size check for storage commands: would nbytes of value under a key of
 * nkey bytes fit? */
typedef bool (*mc_text_fits_fn)(void *ctx, size_t nkey, size_t nbytes);

struct mc_text_limits {
    mc_text_fits_fn fits; /* NULL: every size fits */
    void *ctx;
};

/* Every view points into the buffer given to mc_text_parse and is valid
 * while those bytes are. Fields not used by a command are zero. */
struct mc_text_req {
    enum mc_text_cmd cmd;
    bool noreply;     /* suppress this request's reply (errors included) */
    struct bstr key;  /* storage, incr/decr, touch, delete */
    struct bstr keys; /* retrieval: the key list, for mc_text_keys_init */
    struct bstr data; /* storage: the value, without its "\r\n"; also set
                       * with ERROR when the block was read but did not end
                       * in "\r\n" (memcached counts that as a set) */
    uint32_t flags;   /* storage */
    int64_t exptime;  /* storage, gat/gats, touch: as memcached reads it
                       * (an int32; negative = already expired) */
    uint32_t nbytes;  /* storage: value length */
    uint64_t cas;     /* cas: the unique to compare */
    uint64_t delta;   /* incr/decr */
    /* Tokens of the line, command first; at most MC_TEXT_MAX_TOKENS counted
     * (retrieval commands stop before the keys). */
    struct bstr tok[MC_TEXT_MAX_TOKENS];
    unsigned ntok;
    size_t consumed; /* bytes of this request: line (+ data block) */
    /* The end of the input it was parsed from (data + len): key scans may
     * read up to it while that input is still there. */
    const char *input_end;
    size_t need;       /* NEED_MORE: total bytes needed from the start, 0 unknown */
    uint64_t swallow;  /* TOO_LARGE: bytes to discard after consumed */
    struct bstr error; /* ERROR: the whole reply line, "\r\n" included */
    /*
     * Meta commands (MC_TEXT_MG .. MC_TEXT_ME), returned as MC_TEXT_OK:
     * meta_rc is mc_meta_parse's outcome (OK, ERROR or TOO_LARGE; never
     * NEED_MORE, which mc_text_parse returns as its own), meta the request
     * (its flags point into tok[], a decoded base64 key into
     * meta_scratch), and consumed covers the line only: meta.extra more
     * bytes (an ms data block) follow it. Untouched for other commands.
     */
    enum mc_meta_rc meta_rc;
    struct mc_meta_req meta;
    char meta_scratch[MC_META_SCRATCH];
};

/*
 * Parse the request at data[0..len). Never reads past len. On OK, ERROR
 * and TOO_LARGE, req->consumed bytes are this request's; on NEED_MORE
 * nothing is consumed; on CLOSE nothing more may be parsed.
 */
enum mc_text_rc mc_text_parse(const char *data, size_t len, const struct mc_text_limits *lim,
                              struct mc_text_req *req);

/* The command's name as the client wrote it ("get"), for logs. */
const char *mc_text_cmd_name(enum mc_text_cmd cmd);

/* A walk over a retrieval command's key list; no array of keys needed.
 * mc_text_parse has already refused lists with a key over MC_TEXT_KEY_MAX. */
struct mc_text_keys {
    const char *p;   /* next byte to look at */
    const char *end; /* end of the list */
    const char *start;
    const char *lo; /* readable from here: the line's start, or start */
    const char *hi; /* ... up to here: the input's end, or end */
};

void mc_text_keys_init(struct mc_text_keys *it, struct bstr keys);
/* The same over a parsed retrieval request's list; the scan may read the
 * line before the list (its command), which saves a byte loop for a list
 * shorter than 16 bytes. */
static inline void
mc_text_req_keys(struct mc_text_keys *it, const struct mc_text_req *req)
{
    it->start = it->p = req->keys.data;
    it->end = req->keys.data + req->keys.len;
    /* the command name (tok[0]) starts the same line */
    it->lo = req->ntok > 0 && req->tok[0].data < it->start ? req->tok[0].data : it->start;
    it->hi = req->input_end != NULL && req->input_end > it->end ? req->input_end : it->end;
}
/* Skip the first `offset` bytes of the list (resuming a multi-get). */
void mc_text_keys_seek(struct mc_text_keys *it, size_t offset);
/*
 * The first ' ' in [s, end), or end; [lo, hi) must be readable (lo <= s,
 * end <= hi). Tokens are short (a command, a key, numbers): 16 bytes are
 * compared at once while 16 are left, and a shorter tail in one load of
 * 16 bytes, from s when the input goes on that far past it (the bytes
 * past end masked off: a pipelined request is followed by the next), else
 * ending at `end` when the line is that long; only a line under 16 bytes
 * at the very end of the input goes byte by byte.
 */
static inline const char *
mc_text_space_or_end(const char *s, const char *end, const char *lo, const char *hi)
{
#ifdef __SSE2__
    const __m128i sp = _mm_set1_epi8(' ');
    while (end - s >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, sp));
        if (m != 0) {
            return s + __builtin_ctz(m);
        }
        s += 16;
    }
    if (s < end && (hi - s >= 16 || end - lo >= 16)) {
        const char *b = hi - s >= 16 ? s : end - 16;
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)b);
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, sp));
        m >>= (unsigned)(s - b);              /* only the bytes from s on */
        m &= (1u << (unsigned)(end - s)) - 1; /* ... and before end (< 16 of them) */
        return m != 0 ? s + __builtin_ctz(m) : end;
    }
#else
    (void)lo;
    (void)hi;
#endif
    while (s < end && *s != ' ') {
        s++;
    }
    return s;
}

/* Next key (a view into the list), or false at the end. Inline: every
 * get walks its keys twice (checked by the parser, served by cmd/). */
static inline bool
mc_text_keys_next(struct mc_text_keys *it, struct bstr *key)
{
    const char *p = it->p, *end = it->end;
    while (p < end && *p == ' ') {
        p++;
    }
    if (p == end) {
        it->p = p;
        return false;
    }
    const char *q = mc_text_space_or_end(p, end, it->lo, it->hi);
    key->data = p;
    key->len = (size_t)(q - p);
    it->p = q;
    return true;
}
/* Bytes of the list walked so far: the offset to resume from. */
static inline size_t
mc_text_keys_offset(const struct mc_text_keys *it)
{
    return (size_t)(it->p - it->start);
}

/*
 * memcached's number rules for a token (safe_strtoul, safe_strtoull,
 * safe_strtol, safe_strtoll): strtoul/strtol syntax, a white-space byte may
 * follow the digits, 64-bit overflow fails. The 32-bit forms truncate a
 * 64-bit result as memcached does.
 */
bool mc_text_u32(struct bstr t, uint32_t *out);
bool mc_text_u64(struct bstr t, uint64_t *out);
bool mc_text_i32(struct bstr t, int32_t *out);
bool mc_text_i64(struct bstr t, int64_t *out);
