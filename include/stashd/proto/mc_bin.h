/*
 * mc_bin: memcached's binary protocol framing, pure syntax (util only).
 *
 * Every packet is a 24-byte header followed by a body of extras, key and
 * value, in that order; numbers are big-endian.
 *
 *   0      1        2-3      4       5         6-7      8-11     12-15   16-23
 *   magic  opcode   keylen   extlen  datatype  vbucket/ bodylen  opaque  cas
 *                                              status
 *   | header (24) | extras (extlen) | key (keylen) | value (bodylen - extlen - keylen) |
 *
 * Requests carry magic 0x80, responses 0x81. mc_bin_parse() reads a
 * request's header, extras and key in place (as memcached does, it waits
 * for those but not for the value, which only the storage commands read);
 * mc_bin_check_body() and mc_bin_check_args() apply memcached 1.6.18's
 * shape rules in its order (body lengths, then, after any authentication
 * check, key length and each opcode's extras/key/body rules). The value
 * length is bounded by the caller against the item size limit before any
 * of it is buffered.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stashd/util/bstr.h"

#define MC_BIN_HEADER_LEN 24
#define MC_BIN_REQ_MAGIC 0x80
#define MC_BIN_RES_MAGIC 0x81
/* memcached's KEY_MAX_LENGTH (the header allows 65535). */
#define MC_BIN_KEY_MAX 250
/* memcached's MAX_SASL_MECH_LEN. */
#define MC_BIN_SASL_MECH_MAX 32

enum mc_bin_opcode {
    MC_BIN_GET = 0x00,
    MC_BIN_SET = 0x01,
    MC_BIN_ADD = 0x02,
    MC_BIN_REPLACE = 0x03,
    MC_BIN_DELETE = 0x04,
    MC_BIN_INCREMENT = 0x05,
    MC_BIN_DECREMENT = 0x06,
    MC_BIN_QUIT = 0x07,
    MC_BIN_FLUSH = 0x08,
    MC_BIN_GETQ = 0x09,
    MC_BIN_NOOP = 0x0a,
    MC_BIN_VERSION = 0x0b,
    MC_BIN_GETK = 0x0c,
    MC_BIN_GETKQ = 0x0d,
    MC_BIN_APPEND = 0x0e,
    MC_BIN_PREPEND = 0x0f,
    MC_BIN_STAT = 0x10,
    MC_BIN_SETQ = 0x11,
    MC_BIN_ADDQ = 0x12,
    MC_BIN_REPLACEQ = 0x13,
    MC_BIN_DELETEQ = 0x14,
    MC_BIN_INCREMENTQ = 0x15,
    MC_BIN_DECREMENTQ = 0x16,
    MC_BIN_QUITQ = 0x17,
    MC_BIN_FLUSHQ = 0x18,
    MC_BIN_APPENDQ = 0x19,
    MC_BIN_PREPENDQ = 0x1a,
    MC_BIN_VERBOSITY = 0x1b, /* memcached 1.6.18 answers it "Unknown command" */
    MC_BIN_TOUCH = 0x1c,
    MC_BIN_GAT = 0x1d,
    MC_BIN_GATQ = 0x1e,
    MC_BIN_SASL_LIST_MECHS = 0x20,
    MC_BIN_SASL_AUTH = 0x21,
    MC_BIN_SASL_STEP = 0x22,
    MC_BIN_GATK = 0x23,
    MC_BIN_GATKQ = 0x24,
};

enum mc_bin_status {
    MC_BIN_STATUS_OK = 0x00,
    MC_BIN_STATUS_KEY_ENOENT = 0x01,
    MC_BIN_STATUS_KEY_EEXISTS = 0x02,
    MC_BIN_STATUS_E2BIG = 0x03,
    MC_BIN_STATUS_EINVAL = 0x04,
    MC_BIN_STATUS_NOT_STORED = 0x05,
    MC_BIN_STATUS_DELTA_BADVAL = 0x06,
    MC_BIN_STATUS_AUTH_ERROR = 0x20,
    MC_BIN_STATUS_AUTH_CONTINUE = 0x21,
    MC_BIN_STATUS_UNKNOWN_COMMAND = 0x81,
    MC_BIN_STATUS_ENOMEM = 0x82,
};

enum mc_bin_rc {
    MC_BIN_OK,        /* header, extras and key are in; req filled */
    MC_BIN_NEED_MORE, /* req->need: bytes needed from the start of the packet */
    MC_BIN_BAD_MAGIC, /* not a request: memcached closes without a reply */
};

/* What memcached does with a request its shape rules refuse. */
enum mc_bin_check {
    MC_BIN_CHECK_OK,
    MC_BIN_CHECK_BODY,    /* key/extras longer than the body: "Unknown command", close */
    MC_BIN_CHECK_ARGS,    /* key over 250 or wrong extras/key/body for the opcode:
                           * "Invalid arguments", close */
    MC_BIN_CHECK_UNKNOWN, /* an opcode memcached does not serve: "Unknown command",
                           * then discard bodylen bytes after the key (sic: memcached
                           * has consumed extras and key already) */
};

/* A request header and views of its extras and key, in host order. The
 * views point into the buffer given to mc_bin_parse. */
struct mc_bin_req {
    uint8_t opcode;
    uint8_t extlen;
    uint16_t keylen;
    uint8_t datatype;
    uint16_t vbucket;
    uint32_t bodylen;
    uint32_t opaque; /* echoed as received (memcached copies the raw bytes) */
    uint64_t cas;
    const unsigned char *extras; /* extlen bytes */
    struct bstr key;
    size_t consumed; /* header + extras + key */
    size_t need;     /* NEED_MORE */
};

/* Parse the request at data[0..len). Never reads past len. */
enum mc_bin_rc mc_bin_parse(const char *data, size_t len, struct mc_bin_req *req);

/* memcached's first check: key and extras must fit in the body. */
enum mc_bin_check mc_bin_check_body(const struct mc_bin_req *req);
/* Then (after authentication) the key length and the opcode's rules. */
enum mc_bin_check mc_bin_check_args(const struct mc_bin_req *req);

/* Bytes of value after the key (0 when the body holds none). */
static inline uint32_t
mc_bin_value_len(const struct mc_bin_req *req)
{
    uint32_t used = (uint32_t)req->extlen + req->keylen;
    return req->bodylen > used ? req->bodylen - used : 0;
}

/* The opcode a quiet variant maps to (SETQ -> SET), and whether it is
 * quiet; others map to themselves. */
uint8_t mc_bin_base_opcode(uint8_t opcode, bool *quiet);

/* memcached's default message for an error status ("Not found"). */
struct bstr mc_bin_status_text(uint16_t status);

/* Big-endian helpers for extras. */
static inline uint32_t
mc_bin_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t
mc_bin_be64(const unsigned char *p)
{
    return (uint64_t)mc_bin_be32(p) << 32 | mc_bin_be32(p + 4);
}

static inline void
mc_bin_put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static inline void
mc_bin_put_be64(unsigned char *p, uint64_t v)
{
    mc_bin_put_be32(p, (uint32_t)(v >> 32));
    mc_bin_put_be32(p + 4, (uint32_t)v);
}

/* Write a response header (magic 0x81, datatype 0) into out[0..24).
 * Inline: every reply writes one (callgrind: ~13 instructions a call). */
static inline void
mc_bin_write_header(unsigned char *out, uint8_t opcode, uint16_t keylen, uint8_t extlen,
                    uint16_t status, uint32_t bodylen, uint32_t opaque, uint64_t cas)
{
    out[0] = MC_BIN_RES_MAGIC;
    out[1] = opcode;
    out[2] = (unsigned char)(keylen >> 8);
    out[3] = (unsigned char)keylen;
    out[4] = extlen;
    out[5] = 0; /* raw bytes */
    out[6] = (unsigned char)(status >> 8);
    out[7] = (unsigned char)status;
    mc_bin_put_be32(out + 8, bodylen);
    mc_bin_put_be32(out + 12, opaque);
    mc_bin_put_be64(out + 16, cas);
}
