/*
 * resp_internal: what the files of the RESP command layer share (private
 * to src/cmd/resp_*.c).
 *
 *   resp_cmd.c     the request loop, the command table and dispatch,
 *                  authentication, connection commands (PING, HELLO,
 *                  CLIENT, ...)
 *   resp_string.c  string commands (GET, SET, INCR, APPEND, ...)
 *   resp_keys.c    keyspace commands (DEL, EXPIRE, TTL, KEYS, SCAN, ...)
 *   resp_info.c    INFO, CONFIG, COMMAND, TIME
 *
 * A handler gets one request in x (argv views into the connection's read
 * buffer, valid for the call) and appends exactly one reply to x->out
 * with the rep_* helpers; arity and authentication were checked before.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmd/step.h"
#include "stashd/cmd/session.h"
#include "stashd/proto/resp.h"
#include "stashd/util/bstr.h"
#include "stashd/util/buf.h"

struct metrics;
struct store;

/* The Redis version stashd answers as (HELLO, INFO): clients pick
 * features by it, and Redis 7.0's replies are what stashd reproduces. */
#define RESP_COMPAT_VERSION "7.0.15"

/* Command flags (COMMAND INFO shows them; dispatch reads NOAUTH). */
enum {
    RESP_CMD_WRITE = 1u << 0,
    RESP_CMD_READONLY = 1u << 1,
    RESP_CMD_DENYOOM = 1u << 2,
    RESP_CMD_FAST = 1u << 3,
    RESP_CMD_ADMIN = 1u << 4,
    RESP_CMD_NOAUTH = 1u << 5, /* allowed before AUTH */
    RESP_CMD_LOADING = 1u << 6,
    RESP_CMD_STALE = 1u << 7,
    RESP_CMD_NOSCRIPT = 1u << 8,
};

struct resp_exec;
typedef void (*resp_handler_fn)(struct resp_exec *x);

/* One row of the command table. */
struct resp_cmd {
    const char *name;                  /* lower case, as Redis names it in errors */
    int arity;                         /* > 0 exactly, < 0 at least -arity (name included) */
    unsigned flags;                    /* RESP_CMD_* */
    int first_key, last_key, key_step; /* COMMAND INFO's key positions */
    const char *acl;                   /* ACL categories, space-separated ("@read @string") */
    const char *group;                 /* COMMAND DOCS group */
    resp_handler_fn handler;
};

/* Per-connection state (s->proto_state). */
struct resp_conn {
    struct bstr *argv; /* argv_small or heap, argv_cap views */
    size_t argv_cap;
    struct bstr argv_small[16];
    bool resp3;      /* after HELLO 3 */
    uint64_t id;     /* CLIENT ID */
    int64_t created; /* Unix seconds */
    uint64_t rng;    /* xorshift state for RANDOMKEY */
    char *name;      /* CLIENT SETNAME, or NULL */
    size_t name_len;
    struct buf scratch; /* KEYS/SCAN: keys gathered before the reply */
};

/* One call's execution context (the per-request fields are reset for
 * each request). */
struct resp_exec {
    struct session_call call; /* first: the loop's view; call.err is the first
                               * failed append: the connection is closed */
    struct session *s;
    struct resp_conn *c;
    struct store *store;
    struct metrics *m;
    struct buf *out;
    const struct bstr *argv;
    size_t argc;
    const struct resp_cmd *cmd;
    bool close; /* QUIT: close after this reply */
};

/* --- replies (resp_cmd.c) ------------------------------------------------ */

void rep_raw(struct resp_exec *x, const void *p, size_t n);
void rep_ok(struct resp_exec *x);
void rep_simple(struct resp_exec *x, const char *s);
/* An error line; msg without the leading '-' ("ERR syntax error"). */
void rep_err(struct resp_exec *x, const char *msg);
/* A formatted error; \r and \n in the result become spaces, as Redis. */
void rep_errf(struct resp_exec *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rep_int(struct resp_exec *x, int64_t v);
void rep_bulk(struct resp_exec *x, const void *p, size_t n);
void rep_bulk_str(struct resp_exec *x, const char *s);
void rep_null(struct resp_exec *x);
void rep_array(struct resp_exec *x, size_t n);
void rep_map(struct resp_exec *x, size_t n);
void rep_set(struct resp_exec *x, size_t n);
void rep_verbatim(struct resp_exec *x, const char *p, size_t n);
/* Note a failed append (e.g. from a direct buf write). */
void rep_fail(struct resp_exec *x, int rc);

#define REP_ERR_SYNTAX "ERR syntax error"
#define REP_ERR_NOT_INT "ERR value is not an integer or out of range"
#define REP_ERR_NOT_FLOAT "ERR value is not a valid float"
#define REP_ERR_OOM "OOM command not allowed when used memory > 'maxmemory'."
#define REP_ERR_TOO_BIG "ERR string exceeds maximum allowed size (proto-max-bulk-len)"

/* "-ERR wrong number of arguments for 'name' command" */
void rep_err_arity(struct resp_exec *x, const char *fullname);
/* "-ERR unknown subcommand 'sub'. Try NAME HELP." */
void rep_err_subcommand(struct resp_exec *x);
/* A store failure as Redis words it (key length, size, memory). */
void rep_err_store(struct resp_exec *x, int store_rc, size_t keylen);

/* --- argument helpers (resp_cmd.c) --------------------------------------- */

/* Case-insensitive compare of an argument with a lower-case literal. */
bool arg_is(struct bstr a, const char *lower);
/* Redis's string2ll: optional '-', digits, no leading zero, no spaces,
 * no '+', fits in int64. */
bool arg_ll(struct bstr a, int64_t *out);
/* Redis's glob (stringmatchlen) over a pattern and a string. */
bool resp_glob(const char *pat, size_t plen, const char *str, size_t slen, bool nocase);

/* The command table, sorted by name (resp_cmd.c). */
extern const struct resp_cmd resp_cmds[];
extern const size_t resp_ncmds;

/* --- handlers --------------------------------------------------------------- */

/* resp_string.c */
void resp_cmd_get(struct resp_exec *x);
void resp_cmd_set(struct resp_exec *x);
void resp_cmd_setnx(struct resp_exec *x);
void resp_cmd_setex(struct resp_exec *x);
void resp_cmd_psetex(struct resp_exec *x);
void resp_cmd_getset(struct resp_exec *x);
void resp_cmd_getdel(struct resp_exec *x);
void resp_cmd_getex(struct resp_exec *x);
void resp_cmd_mget(struct resp_exec *x);
void resp_cmd_mset(struct resp_exec *x);
void resp_cmd_msetnx(struct resp_exec *x);
void resp_cmd_append(struct resp_exec *x);
void resp_cmd_strlen(struct resp_exec *x);
void resp_cmd_getrange(struct resp_exec *x);
void resp_cmd_setrange(struct resp_exec *x);
void resp_cmd_incr(struct resp_exec *x);
void resp_cmd_decr(struct resp_exec *x);
void resp_cmd_incrby(struct resp_exec *x);
void resp_cmd_decrby(struct resp_exec *x);
void resp_cmd_incrbyfloat(struct resp_exec *x);

/* resp_keys.c */
void resp_cmd_del(struct resp_exec *x);
void resp_cmd_exists(struct resp_exec *x);
void resp_cmd_type(struct resp_exec *x);
void resp_cmd_expire(struct resp_exec *x);
void resp_cmd_pexpire(struct resp_exec *x);
void resp_cmd_expireat(struct resp_exec *x);
void resp_cmd_pexpireat(struct resp_exec *x);
void resp_cmd_ttl(struct resp_exec *x);
void resp_cmd_pttl(struct resp_exec *x);
void resp_cmd_expiretime(struct resp_exec *x);
void resp_cmd_pexpiretime(struct resp_exec *x);
void resp_cmd_persist(struct resp_exec *x);
void resp_cmd_keys(struct resp_exec *x);
void resp_cmd_scan(struct resp_exec *x);
void resp_cmd_randomkey(struct resp_exec *x);
void resp_cmd_dbsize(struct resp_exec *x);
void resp_cmd_hotkeys(struct resp_exec *x);
void resp_cmd_flushall(struct resp_exec *x);

/* resp_info.c */
void resp_cmd_info(struct resp_exec *x);
void resp_cmd_config(struct resp_exec *x);
void resp_cmd_command(struct resp_exec *x);
void resp_cmd_time(struct resp_exec *x);
