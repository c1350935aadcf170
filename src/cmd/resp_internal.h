/*
 * resp_internal: what the files of the RESP command layer share (private
 * to src/cmd/resp_*.c).
 *
 *   resp_cmd.c     the step, the command table, its lookup and dispatch
 *                  (arity, then authentication), per-connection state
 *   resp_reply.c   the reply helpers (resp_reply.h)
 *   resp_arg.h     reading arguments (keywords, integers)
 *   resp_conn.c    connection commands (PING, AUTH, HELLO, RESET, CLIENT)
 *   resp_string.c  string commands (GET, SET, INCR, APPEND, ...)
 *   resp_incr.c    INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT
 *   resp_hash.c    hashes (HSET, HGET, ... HSCAN) over hashval.h's tables
 *   resp_keys.c    keyspace commands (DEL, EXPIRE, TTL, KEYS, SCAN, TOUCH, ...)
 *   resp_db.c      databases: SELECT, DBSIZE, FLUSHDB, SWAPDB, MOVE, COPY,
 *                  RENAME, RENAMENX, INFO keyspace
 *   resp_multi.c   transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH
 *   resp_object.c  OBJECT and MEMORY: what the store knows of one item
 *   resp_bitmap.c  SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD(_RO)
 *   resp_lcs.c     LCS
 *   resp_info.c    INFO (its sections)
 *   resp_cmdstats.c INFO commandstats and errorstats: per-worker counters
 *   resp_config.c  CONFIG
 *   resp_command.c COMMAND, TIME
 *
 * A handler gets one request in x (argv views into the connection's read
 * buffer, valid for the call) and appends exactly one reply to x->out
 * with the resp_reply_* helpers; arity and authentication were checked
 * before.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmd/step.h"
#include "stashd/cmd/session.h"
#include "stashd/proto/resp.h"
#include "stashd/store/store.h"
#include "stashd/util/bstr.h"
#include "stashd/util/buf.h"

struct metrics;
struct store;

/* The Redis version stashd answers as (HELLO, INFO): clients pick
 * features by it, and Redis 7.0's replies are what stashd reproduces. */
#define RESP_COMPAT_VERSION "7.0.15"

/* The longest command name the table holds (longer ones are unknown). */
#define RESP_NAME_MAX 32

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
    RESP_CMD_ALLOW_BUSY = 1u << 9,
    /* A container (CLIENT, CONFIG, OBJECT, ...): argv[1] names one of its
     * rows in resp_subcmds, which dispatch resolves first. */
    RESP_CMD_CONTAINER = 1u << 10,
    RESP_CMD_SKIP_SLOWLOG = 1u << 11,
    /* stashd's own, for transactions (resp_multi.c; COMMAND shows none):
     * TX_NOW runs at once between MULTI and EXEC (is not queued); TX_ALL
     * reads or writes the whole keyspace, so EXEC locks every shard;
     * TX_AFTER does not touch keys but waits on other threads or reads
     * store-wide statistics, so EXEC runs it once the locks are dropped
     * (its reply keeps its place). */
    RESP_CMD_TX_NOW = 1u << 12,
    RESP_CMD_TX_ALL = 1u << 13,
    RESP_CMD_TX_AFTER = 1u << 14,
};

struct resp_exec;
typedef void (*resp_handler_fn)(struct resp_exec *x);

/* One row of the command table, or of the subcommand table. */
struct resp_cmd {
    const char *name;                  /* lower case, as Redis names it in errors */
    int arity;                         /* > 0 exactly, < 0 at least -arity (name included) */
    unsigned flags;                    /* RESP_CMD_* */
    int first_key, last_key, key_step; /* COMMAND INFO's key positions */
    const char *acl;                   /* ACL categories, space-separated ("@read @string") */
    const char *group;                 /* COMMAND DOCS group */
    /* NULL for a container whose every subcommand has its own */
    resp_handler_fn handler;
    const char *parent; /* a subcommand row: its container's name; else NULL */
};

/* Per-connection state (s->proto_state). */
struct resp_conn {
    struct bstr *argv; /* argv_small or heap, argv_cap views */
    size_t argv_cap;
    struct bstr argv_small[16];
    bool resp3;      /* after HELLO 3 */
    uint64_t id;     /* CLIENT ID: the connection's id (s->id), as CLIENT LIST */
    int64_t created; /* Unix seconds */
    uint64_t rng;    /* xorshift state for RANDOMKEY */
    char *name;      /* CLIENT SETNAME, or NULL */
    size_t name_len;
    struct buf scratch; /* KEYS/SCAN: keys gathered before the reply */
    char *user;         /* the user AUTH named (CLIENT KILL USER); NULL: default */
    size_t user_len;
    uint8_t db;         /* SELECTed database, as clients number them (logical) */
    struct resp_tx *tx; /* MULTI and WATCH state (resp_multi.c); NULL until used */
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
    const struct resp_cmd *cmd; /* the table's row (a container's, for a subcommand) */
    /* The row whose handler is running (NULL before: an error then is a
     * refusal, not a failed call; see resp_cmdstats.h). */
    const struct resp_cmd *row;
    bool close;   /* QUIT: close after this reply */
    bool in_exec; /* EXEC's commands run: their replies are placed by offset */
    uint8_t db;   /* the store's number of c->db, read as the command starts */
    /* The requests the last look-ahead parsed whole (resp_cmd.c): the
     * step serves memo[memo_i] without parsing it again. */
    uint8_t memo_n, memo_i;
    struct resp_memo *memo;
};

/* A key argument as the store takes it: hashed once (by the look-ahead,
 * when it saw the key: step_key_hash), in the connection's database. */
static inline void
resp_key(struct resp_exec *x, struct store_key *k, struct bstr a)
{
    store_key_init_hashed(k, a.data, a.len, step_key_hash(&x->call, a.data, a.len), x->db);
}

/* The command table, sorted by name (resp_cmd.c). */
extern const struct resp_cmd resp_cmds[];
extern const size_t resp_ncmds;
/* The subcommands of every container, sorted by (parent, name). */
extern const struct resp_cmd resp_subcmds[];
extern const size_t resp_nsubcmds;

/* The table's row for a command name (any case), or NULL: the one lookup,
 * for dispatch and for COMMAND INFO/DOCS (resp_cmd.c). */
const struct resp_cmd *resp_cmd_lookup(struct bstr name);
/* A container's row for subcommand name (any case), or NULL. */
const struct resp_cmd *resp_subcmd_lookup(const struct resp_cmd *container, struct bstr name);
/* The first of container's subcommand rows (they are consecutive) and
 * how many there are. */
const struct resp_cmd *resp_subcmds_of(const struct resp_cmd *container, size_t *n);
/* A row's name as Redis prints it ("get", "client|kill"). */
void resp_cmd_fullname(const struct resp_cmd *c, char *out, size_t cap);
/* Every row (commands, then subcommands) has a slot in the command
 * statistics: 0 .. RESP_CMD_SLOTS-1. */
#define RESP_CMD_SLOTS (resp_ncmds + resp_nsubcmds)
static inline size_t
resp_cmd_slot(const struct resp_cmd *c)
{
    return c >= resp_cmds && c < resp_cmds + resp_ncmds ? (size_t)(c - resp_cmds)
                                                        : resp_ncmds + (size_t)(c - resp_subcmds);
}

/* Dispatch one request (x->argv, x->argc): lookup, arity, authentication,
 * then the handler, or, between MULTI and EXEC, the queue (resp_cmd.c). */
void resp_execute(struct resp_exec *x);

/* resp_multi.c: between MULTI and EXEC? */
bool resp_tx_queueing(const struct resp_conn *c);
/* Bytes the connection's MULTI queue and watched keys hold. */
size_t resp_tx_held(const struct resp_conn *c);
/* Queue x's request (answered QUEUED), or refuse it if the queue is full. */
void resp_tx_queue(struct resp_exec *x);
/* A request refused between MULTI and EXEC: EXEC will abort. */
void resp_tx_refused(struct resp_exec *x);
/* EXEC itself refused (arity, authentication): Redis's EXECABORT with
 * why, and the transaction, if any, discarded. */
void resp_tx_exec_refused(struct resp_exec *x, const char *why);
/* RESET and the connection's end: forget the transaction and watches. */
void resp_tx_reset(struct resp_conn *c);

/* --- handlers --------------------------------------------------------------- */

/* resp_conn.c */
void resp_cmd_ping(struct resp_exec *x);
void resp_cmd_echo(struct resp_exec *x);
void resp_cmd_quit(struct resp_exec *x);
void resp_cmd_select(struct resp_exec *x);
void resp_cmd_auth(struct resp_exec *x);
void resp_cmd_hello(struct resp_exec *x);
void resp_cmd_reset(struct resp_exec *x);
void resp_cmd_client(struct resp_exec *x);

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

/* Redis's MAX_LONG_DOUBLE_CHARS: bounds a float's text, in and out. */
#define RESP_LD_CHARS (5 * 1024)
/* Redis's string2ld: strtold over the whole string, no leading space, no
 * NaN, no overflow (nor underflow to zero). */
bool resp_parse_ld(const char *p, size_t n, long double *out);
/* Redis's ld2string in LD_STR_HUMAN mode: %.17Lf, then no trailing zeros
 * after the point, no lone point, and "-0" as "0"; the length (0 if cap
 * is too small). */
size_t resp_format_ld(long double v, char *buf, size_t cap);

/* resp_hash.c */
void resp_cmd_hdel(struct resp_exec *x);
void resp_cmd_hexists(struct resp_exec *x);
void resp_cmd_hget(struct resp_exec *x);
void resp_cmd_hgetall(struct resp_exec *x);
void resp_cmd_hincrby(struct resp_exec *x);
void resp_cmd_hincrbyfloat(struct resp_exec *x);
void resp_cmd_hkeys(struct resp_exec *x);
void resp_cmd_hlen(struct resp_exec *x);
void resp_cmd_hmget(struct resp_exec *x);
void resp_cmd_hmset(struct resp_exec *x);
void resp_cmd_hrandfield(struct resp_exec *x);
void resp_cmd_hscan(struct resp_exec *x);
void resp_cmd_hset(struct resp_exec *x);
void resp_cmd_hsetnx(struct resp_exec *x);
void resp_cmd_hstrlen(struct resp_exec *x);
void resp_cmd_hvals(struct resp_exec *x);

/* A connection's next random number (xorshift64 over c->rng: no shared
 * state). */
static inline uint64_t
resp_conn_rand(struct resp_conn *c)
{
    uint64_t r = c->rng;
    r ^= r << 13;
    r ^= r >> 7;
    r ^= r << 17;
    c->rng = r;
    return r;
}

/* resp_string.c: read the string at k (fn under its shard lock, as
 * store_get); false when the key holds another type, answered WRONGTYPE
 * (the caller sends nothing more). A missing key is true, fn not called. */
bool resp_read_string(struct resp_exec *x, const struct store_key *k, store_read_fn fn, void *ctx);

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
void resp_cmd_hotkeys(struct resp_exec *x);
void resp_cmd_flushall(struct resp_exec *x);
void resp_cmd_touch(struct resp_exec *x);

/* resp_db.c */
void resp_cmd_dbsize(struct resp_exec *x);
void resp_cmd_flushdb(struct resp_exec *x);
void resp_cmd_swapdb(struct resp_exec *x);
void resp_cmd_move(struct resp_exec *x);
void resp_cmd_copy(struct resp_exec *x);
void resp_cmd_rename(struct resp_exec *x);
void resp_cmd_renamenx(struct resp_exec *x);
/* INFO's Keyspace section body into b: 0 or -ENOMEM. */
int resp_info_keyspace(struct resp_exec *x, struct buf *b);

/* resp_multi.c */
void resp_cmd_multi(struct resp_exec *x);
void resp_cmd_exec(struct resp_exec *x);
void resp_cmd_discard(struct resp_exec *x);
void resp_cmd_watch(struct resp_exec *x);
void resp_cmd_unwatch(struct resp_exec *x);

/* resp_object.c */
void resp_cmd_object_encoding(struct resp_exec *x);
void resp_cmd_object_freq(struct resp_exec *x);
void resp_cmd_object_idletime(struct resp_exec *x);
void resp_cmd_object_refcount(struct resp_exec *x);
void resp_cmd_object_help(struct resp_exec *x);
void resp_cmd_memory_usage(struct resp_exec *x);
void resp_cmd_memory_help(struct resp_exec *x);

/* resp_bitmap.c */
void resp_cmd_setbit(struct resp_exec *x);
void resp_cmd_getbit(struct resp_exec *x);
void resp_cmd_bitcount(struct resp_exec *x);
void resp_cmd_bitpos(struct resp_exec *x);
void resp_cmd_bitop(struct resp_exec *x);
void resp_cmd_bitfield(struct resp_exec *x);
void resp_cmd_bitfield_ro(struct resp_exec *x);

/* resp_lcs.c */
void resp_cmd_lcs(struct resp_exec *x);

/* resp_info.c */
void resp_cmd_info(struct resp_exec *x);
/* resp_config.c */
void resp_cmd_config(struct resp_exec *x);
/* resp_command.c */
void resp_cmd_command(struct resp_exec *x);
void resp_cmd_time(struct resp_exec *x);
