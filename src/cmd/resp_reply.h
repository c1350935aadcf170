/*
 * resp_reply: building a RESP reply (private to cmd/). Each call appends
 * one part of the reply to x->out in the connection's protocol version
 * (RESP2, or RESP3 after HELLO 3: maps, sets, nulls and verbatim strings
 * are sent in their RESP3 form only there). A failed append is kept in
 * x's call context and closes the connection after the request.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct resp_exec;

void resp_reply_raw(struct resp_exec *x, const void *p, size_t n);
void resp_reply_ok(struct resp_exec *x);
void resp_reply_simple(struct resp_exec *x, const char *s);
/* An error line; msg without the leading '-' ("ERR syntax error"). */
void resp_reply_err(struct resp_exec *x, const char *msg);
/* A formatted error; \r and \n in the result become spaces, as Redis. */
void resp_reply_errf(struct resp_exec *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void resp_reply_int(struct resp_exec *x, int64_t v);
void resp_reply_bulk(struct resp_exec *x, const void *p, size_t n);
void resp_reply_bulk_str(struct resp_exec *x, const char *s);
void resp_reply_null(struct resp_exec *x);
void resp_reply_array(struct resp_exec *x, size_t n);
void resp_reply_map(struct resp_exec *x, size_t n);
void resp_reply_set(struct resp_exec *x, size_t n);
void resp_reply_verbatim(struct resp_exec *x, const char *p, size_t n);
/* Note a failed append (e.g. from a direct buf write). */
void resp_reply_fail(struct resp_exec *x, int rc);

#define RESP_ERR_SYNTAX "ERR syntax error"
#define RESP_ERR_NOT_INT "ERR value is not an integer or out of range"
#define RESP_ERR_NOT_FLOAT "ERR value is not a valid float"
#define RESP_ERR_OOM "OOM command not allowed when used memory > 'maxmemory'."
#define RESP_ERR_TOO_BIG "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
#define RESP_ERR_WRONGTYPE "WRONGTYPE Operation against a key holding the wrong kind of value"

/* "-ERR wrong number of arguments for 'name' command" */
void resp_reply_err_arity(struct resp_exec *x, const char *fullname);
/* "-ERR unknown subcommand 'sub'. Try NAME HELP." */
void resp_reply_err_subcommand(struct resp_exec *x);
/* A store failure as Redis words it (key length, size, memory). */
void resp_reply_err_store(struct resp_exec *x, int store_rc, size_t keylen);
/* A HELP subcommand's reply: the lines as an array of simple strings. */
void resp_reply_help(struct resp_exec *x, const char *const *lines, size_t n);
