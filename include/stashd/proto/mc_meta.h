/*
 * mc_meta: memcached's meta commands (mg, ms, md, ma, mn, me), pure syntax
 * (proto and util only).
 *
 * A meta request is a text line, so mc_text_parse() finds and tokenizes it
 * (its command is MC_TEXT_MG .. MC_TEXT_ME); mc_meta_parse() reads those
 * tokens: the key (base64-decoded into a caller's scratch buffer under the
 * `b` flag), the flags, each a single letter with an optional token, and
 * for ms the data block that follows the line.
 *
 *   "mg foo v t O123 k\r\n"       "ms foo 5 T30 F7 MS\r\nhello\r\n"
 *    |cmd|key|----flags---|         |cmd|key|len|--flags--||-data-|
 *
 * The rules are memcached 1.6.18's, including the order of its checks
 * (which decides the error a malformed request gets) and its limits: at
 * most MC_META_MAX_TOKENS tokens counted as memcached counts them, an
 * opaque token of at most MC_META_OPAQUE_MAX bytes, each flag letter at
 * most once, numbers read as its safe_strto* do. Flags are validated and
 * their numbers converted here; which flags matter to which command, and
 * what they return, is the command layer's business (cmd/mc_meta_cmd.c),
 * which walks req->flags in request order because memcached's replies
 * list return flags in the order they were asked for.
 *
 * One check is left to the command layer: memcached looks at the opaque
 * length of mg and ma only while it builds the reply, after the item was
 * read or changed (and only flags before the long O take effect), so for
 * those mc_meta_parse() returns OK with long_opaque set, and the caller
 * answers MC_META_ERR_OPAQUE at the point memcached would.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stashd/util/bstr.h"

/* memcached's KEY_MAX_LENGTH, checked on the key token as sent. */
#define MC_META_KEY_MAX 250
/* memcached's MFLAG_MAX_OPT_LENGTH: tokens of the line, command and key
 * included, plus memcached's terminal token. */
#define MC_META_MAX_TOKENS 20
/* memcached's MFLAG_MAX_OPAQUE_LENGTH: an O token, its 'O' included. */
#define MC_META_OPAQUE_MAX 32
/* Room for a base64-decoded key: the scratch buffer mc_meta_parse needs. */
#define MC_META_SCRATCH MC_META_KEY_MAX
/* Room for the base64 form of any key (memcached's encoder needs
 * len * 4 / 3 + 4 bytes and a NUL). */
#define MC_META_B64_MAX 344

enum mc_meta_cmd {
    MC_META_MG, /* get */
    MC_META_MS, /* set */
    MC_META_MD, /* delete */
    MC_META_MA, /* arithmetic */
    MC_META_MN, /* no-op */
    MC_META_ME, /* debug: item metadata */
};

enum mc_meta_rc {
    MC_META_OK,        /* a request: req filled; ms also has its data */
    MC_META_NEED_MORE, /* ms: the data block is incomplete; req->need bytes after
                        * the line are needed */
    MC_META_ERROR,     /* refused: reply req->error (quiet mode never hides it),
                        * then discard req->swallow bytes after the line */
    MC_META_TOO_LARGE, /* ms: the value is over the size limit: reply "SERVER_ERROR
                        * object too large for cache" and discard req->swallow */
};

/* Every error reply, by id (so that a reply due later fits in a few bits). */
enum mc_meta_err {
    MC_META_ERR_NONE = 0,
    MC_META_ERR_ERROR,       /* "ERROR" */
    MC_META_ERR_FORMAT,      /* "CLIENT_ERROR bad command line format" */
    MC_META_ERR_TOO_LONG_MG, /* "CLIENT_ERROR options flags are too long" (mg) */
    MC_META_ERR_TOO_LONG,    /* "CLIENT_ERROR options flags too long" */
    MC_META_ERR_DUP,         /* "CLIENT_ERROR duplicate flag" */
    MC_META_ERR_INVALID,     /* "CLIENT_ERROR invalid flag" */
    MC_META_ERR_BAD_TOKEN,   /* "CLIENT_ERROR bad token in command line format" */
    MC_META_ERR_DECODE,      /* "CLIENT_ERROR error decoding key" */
    MC_META_ERR_M_LEN,       /* "CLIENT_ERROR incorrect length for M token" */
    MC_META_ERR_INITIAL,     /* "CLIENT_ERROR invalid numeric initial value" */
    MC_META_ERR_DELTA,       /* "CLIENT_ERROR invalid numeric delta value" */
    MC_META_ERR_INV_OR_DUP,  /* "CLIENT_ERROR invalid or duplicate flag" (md, ma) */
    MC_META_ERR_OPAQUE,      /* "CLIENT_ERROR opaque token too long" */
    MC_META_ERR_MS_MODE,     /* "CLIENT_ERROR invalid mode for ms M token" */
    MC_META_ERR_MA_MODE,     /* "CLIENT_ERROR invalid mode for ma M token" */
    MC_META_ERR_CHUNK,       /* "CLIENT_ERROR bad data chunk" */
    MC_META_ERR_TOO_LARGE,   /* "SERVER_ERROR object too large for cache" */
    MC_META_ERR_COUNT
};

/* The reply line of an error id, "\r\n" included ("" for NONE). */
struct bstr mc_meta_error_text(enum mc_meta_err id);

/* ms size check: would nbytes of value under a key of nkey bytes fit? */
typedef bool (*mc_meta_fits_fn)(void *ctx, size_t nkey, size_t nbytes);

struct mc_meta_limits {
    mc_meta_fits_fn fits; /* NULL: every size fits */
    void *ctx;
};

/* Mode letters of ms (M token); 0 when absent. */
#define MC_META_MODE_NONE 0

/*
 * A parsed meta request. Views point into the tokens (so into the buffer
 * given to mc_text_parse) or, for a base64 key, into the scratch buffer;
 * they are valid while both are. Numbers are as memcached reads them;
 * expiry times stay raw (an int32 in memcached's exptime convention).
 */
struct mc_meta_req {
    enum mc_meta_cmd cmd;
    struct bstr key;          /* decoded when key_binary */
    bool key_binary;          /* b */
    const struct bstr *flags; /* the flag tokens in request order (first byte = letter) */
    unsigned nflags;
    uint64_t seen[2]; /* bit c for each flag letter c (< 128) present */

    bool noreply;          /* q */
    bool value;            /* v */
    bool no_update;        /* u: no LRU bump, fetched left as it was */
    bool stale;            /* I: mg/md invalidate, ms with C: allow a stale set */
    bool has_ttl;          /* T */
    bool vivify;           /* N */
    bool recache;          /* R */
    bool has_cas;          /* C */
    bool has_flags;        /* F */
    int32_t ttl;           /* T */
    int32_t vivify_ttl;    /* N */
    int32_t recache_ttl;   /* R */
    uint32_t client_flags; /* F */
    uint64_t cas;          /* C */
    uint64_t delta;        /* D (ma; 1 when absent) */
    uint64_t initial;      /* J (ma; 0 when absent) */
    char mode;             /* M: the mode letter, MC_META_MODE_NONE when absent */
    bool long_opaque;      /* mg, ma: an O token over MC_META_OPAQUE_MAX (see above) */

    /* ms: */
    uint32_t nbytes;  /* value length */
    struct bstr data; /* the value, without its "\r\n" */

    size_t extra;              /* OK: bytes used after the line (ms: data block + 2) */
    size_t need;               /* NEED_MORE: bytes needed after the line */
    uint64_t swallow;          /* ERROR / TOO_LARGE: bytes to discard after the line */
    enum mc_meta_err error_id; /* ERROR / TOO_LARGE */
    struct bstr error;         /* its reply line, "\r\n" included */
};

static inline bool
mc_meta_has(const struct mc_meta_req *r, unsigned char c)
{
    return c < 128 && (r->seen[c >> 6] >> (c & 63) & 1u) != 0;
}

/*
 * Parse the meta request whose line mc_text_parse() tokenized: tok[0] is
 * the command ("mg" .. "me"), ntok the tokens it counted (at most
 * MC_TEXT_MAX_TOKENS). rest[0..rest_len) are the bytes after the line,
 * where ms finds its data block. scratch holds MC_META_SCRATCH bytes for a
 * base64-decoded key. Never reads past rest_len.
 */
enum mc_meta_rc mc_meta_parse(const struct bstr *tok, unsigned ntok, const char *rest,
                              size_t rest_len, const struct mc_meta_limits *lim, char *scratch,
                              struct mc_meta_req *req);

/*
 * memcached's base64 (RFC 1341 alphabet, '=' padding). Decode skips bytes
 * outside the alphabet, stops after the first padded block and fails (0)
 * when the count of alphabet bytes is not a positive multiple of 4 or a
 * block has more than two pads, or out_len is too small. Encode writes
 * at most MC_META_B64_MAX bytes for a key (no NUL) and returns the length.
 */
size_t mc_meta_base64_decode(const char *src, size_t len, char *out, size_t out_len);
size_t mc_meta_base64_encode(const char *src, size_t len, char *out);
