/*
 * Wire protocols of the load generator: request encoders and an incremental
 * reply parser for memcached text, memcached meta, memcached binary and RESP
 * (plain, hashes, and transactions).
 *
 * The parser is a state machine over one connection's read buffer. The
 * caller keeps a FIFO of the requests it has sent (pipelining); the parser
 * is handed the head request and consumes whatever part of its reply is
 * buffered, keeping its progress in struct proto_parser between calls:
 *
 *   buffer:  [ reply to head ........ ][ reply to next ...
 *            ^ proto_parse() consumes whole units (a line, a value block,
 *              a binary packet) and returns PROTO_MORE at a partial unit,
 *              PROTO_DONE at the end of the head's reply.
 *
 * Every reply is checked: a line that cannot answer the head request, a key
 * the request did not ask for, a binary packet with the wrong opcode or
 * opaque, or a value block not followed by CRLF is a desync (PROTO_DESYNC:
 * the stream can no longer be trusted). A well-formed error reply, or a
 * value that fails value_check(), is an error counted in the result, and
 * parsing goes on.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keyspace.h"
#include "value.h"

enum proto_id {
    PROTO_MC_TEXT,
    PROTO_MC_META,
    PROTO_MC_BINARY,
    PROTO_RESP,
    PROTO_RESP_HASH, /* RESP hashes: HSET key f value, HGET key f (one per key) */
    /* RESP transactions: a request of n keys is MULTI, n commands, EXEC:
     * a get is GET k1..GET kn, a set is SET k1 v, GET k2..GET kn. A set
     * of one key (the preload, --set-on-miss) is a plain SET. */
    PROTO_RESP_MULTI,
    PROTO_COUNT,
};

enum proto_op {
    PROTO_OP_SET,
    PROTO_OP_GET,
};

/* The request at the head of a connection's FIFO, as the parser sees it. */
struct proto_req {
    enum proto_op op;
    unsigned nkeys;       /* get: keys asked for; set: 1 (resp-multi: see proto_set_keys) */
    uint32_t opaque;      /* binary: packet i of this request carries opaque + i */
    const uint64_t *keys; /* nkeys key indices; borrowed for the call */
};

struct proto_result {
    uint32_t hits;
    uint32_t misses;
    uint32_t errors;
    /* Sets the server declined for want of memory (memcached's "SERVER_ERROR
     * out of memory storing object", binary status 0x82, RESP -OOM): a
     * cache may refuse a store under memory pressure, so these are counted
     * apart, not as errors. */
    uint32_t refused;
};

/* Parser state for one connection. proto, ks and vg are set by
 * proto_parser_init() and read-only; the rest is private progress. */
struct proto_parser {
    enum proto_id proto;
    const struct keyspace *ks;
    const struct value_gen *vg;
    int phase;
    bool fresh;        /* nothing of the head's reply consumed yet */
    unsigned next;     /* get: keys answered so far; resp-multi: commands */
    bool tx_aborted;   /* resp-multi: a command was refused while queued */
    size_t data_len;   /* value block expected, without its CRLF */
    uint64_t data_key; /* key index the value block belongs to */
    struct proto_result res;
    char err[160]; /* what the last error or desync was, for the report */
};

enum proto_rc {
    PROTO_MORE,   /* the reply is not all here; *need says how much must be */
    PROTO_DONE,   /* the head's reply is complete; *res has its outcome */
    PROTO_DESYNC, /* the reply cannot belong to the head request */
};

/* PROTO_COUNT when the name is unknown. */
enum proto_id proto_by_name(const char *name);
const char *proto_name(enum proto_id id);

/* Keys a set of the SET:GET cycle carries when gets carry multiget: 1, but
 * a resp-multi set transaction has as many commands as a get's. */
unsigned proto_set_keys(enum proto_id id, unsigned multiget);

/* Upper bounds of an encoded request, for sizing output buffers. */
size_t proto_set_size(enum proto_id id, size_t klen, size_t vlen, unsigned nkeys);
size_t proto_get_size(enum proto_id id, size_t klen, unsigned nkeys);

/* Encode at dst (with room for the bound above); return the length. A set
 * stores keys[0]'s value; only resp-multi reads the other keys (its GETs). */
size_t proto_encode_set(enum proto_id id, char *dst, const struct keyspace *ks,
                        const struct value_gen *vg, const uint64_t *keys, unsigned nkeys,
                        size_t vlen, uint32_t opaque);
size_t proto_encode_get(enum proto_id id, char *dst, const struct keyspace *ks,
                        const uint64_t *keys, unsigned nkeys, uint32_t opaque);

void proto_parser_init(struct proto_parser *p, enum proto_id id, const struct keyspace *ks,
                       const struct value_gen *vg);

/* Consumes from buf[0..len) what it can of the reply to req; *used says how
 * much. On PROTO_MORE, *need is the number of unconsumed bytes the buffer
 * must hold before calling again makes progress (grow it if smaller). On
 * PROTO_DONE, *res is the reply's outcome and the parser is ready for the
 * next request. On PROTO_DESYNC, p->err says why. */
enum proto_rc proto_parse(struct proto_parser *p, const struct proto_req *req, const char *buf,
                          size_t len, size_t *used, size_t *need, struct proto_result *res);
