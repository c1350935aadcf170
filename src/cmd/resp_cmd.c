/*
 * resp_cmd: the RESP request loop, the command table and its dispatch,
 * authentication and the connection commands (PING, ECHO, QUIT, RESET,
 * HELLO, AUTH, SELECT, CLIENT). See resp_internal.h for how the layer is
 * split into files.
 *
 * session.c's request loop calls resp_cmd_step once per request (see
 * step.h); a malformed request is answered, then the connection closes,
 * as Redis does. Requests are parsed
 * in place by proto/resp into the connection's argv array, which grows
 * (up to RESP_MAX_ARGS) only for a request with more arguments than it
 * has, and shrinks back after it; nothing else is allocated per request.
 *
 * Dispatch, as Redis's processCommand: look the name up (binary search
 * over the sorted table, case-insensitive), check the arity, then
 * authentication, then run the handler. So an unknown command or a wrong
 * arity is reported even before AUTH, exactly as Redis does.
 */
#include "cmd/resp_cmd.h"

#include <endian.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cmd/resp_internal.h"
#include "cmd/resp_arg.h"
#include "cmd/resp_cmdstats.h"
#include "cmd/resp_reply.h"
#include "cmd/step.h"
#include "stashd/cmd/auth.h"
#include "stashd/proto/resp.h"
#include "stashd/store/store.h"
#include "stashd/util/buf.h"
#include "stashd/util/clock.h"
#include "stashd/util/log.h"
#include "stashd/util/metrics.h"
#include "stashd/util/num.h"
#include "stashd/util/options.h"

/* argv arrays above this many views are freed after their request, so a
 * connection keeps a large array only while it uses one. */
#define ARGV_KEEP 1024
/* Room for requests made of several values of the item size limit. */
#define MAX_REQUEST_MIN ((size_t)16 << 20)

/* CLIENT ID of a session net/ gave no id (unit tests): unique per
 * process, as Redis's server.next_client_id. Relaxed atomic; the only
 * shared state here. */
static _Atomic uint64_t next_client_id = 1;

/* --- the command table -------------------------------------------------------------- */

#define W RESP_CMD_WRITE
#define R RESP_CMD_READONLY
#define M RESP_CMD_DENYOOM
#define F RESP_CMD_FAST
#define A RESP_CMD_ADMIN
#define B RESP_CMD_ALLOW_BUSY
#define C RESP_CMD_CONTAINER
#define LS (RESP_CMD_LOADING | RESP_CMD_STALE)
#define LNS (RESP_CMD_NOSCRIPT | RESP_CMD_LOADING | RESP_CMD_STALE)
#define NOW RESP_CMD_TX_NOW
#define ALL RESP_CMD_TX_ALL
#define AFT RESP_CMD_TX_AFTER

/* Sorted by name (a unit test checks). Arity, flags, key positions and
 * ACL categories are Redis 7.0's (a differential test compares them with
 * redis-server's COMMAND INFO). */
const struct resp_cmd resp_cmds[] = {
    {"append", 3, W | M | F, 1, 1, 1, "@write @string @fast", "string", resp_cmd_append, NULL},
    {"auth", -2, LNS | F | B | RESP_CMD_NOAUTH, 0, 0, 0, "@fast @connection", "connection",
     resp_cmd_auth, NULL},
    {"bitcount", -2, R, 1, 1, 1, "@read @bitmap @slow", "bitmap", resp_cmd_bitcount, NULL},
    {"bitfield", -2, W | M, 1, 1, 1, "@write @bitmap @slow", "bitmap", resp_cmd_bitfield, NULL},
    {"bitfield_ro", -2, R | F, 1, 1, 1, "@read @bitmap @fast", "bitmap", resp_cmd_bitfield_ro,
     NULL},
    {"bitop", -4, W | M, 2, -1, 1, "@write @bitmap @slow", "bitmap", resp_cmd_bitop, NULL},
    {"bitpos", -3, R, 1, 1, 1, "@read @bitmap @slow", "bitmap", resp_cmd_bitpos, NULL},
    {"client", -2, C | AFT, 0, 0, 0, "@slow", "connection", resp_cmd_client, NULL},
    {"command", -1, C | LS, 0, 0, 0, "@slow @connection", "server", resp_cmd_command, NULL},
    {"config", -2, C | AFT, 0, 0, 0, "@slow", "server", resp_cmd_config, NULL},
    {"copy", -3, W | M, 1, 2, 1, "@keyspace @write @slow", "generic", resp_cmd_copy, NULL},
    {"dbsize", 1, R | F | ALL, 0, 0, 0, "@keyspace @read @fast", "server", resp_cmd_dbsize, NULL},
    {"decr", 2, W | M | F, 1, 1, 1, "@write @string @fast", "string", resp_cmd_decr, NULL},
    {"decrby", 3, W | M | F, 1, 1, 1, "@write @string @fast", "string", resp_cmd_decrby, NULL},
    {"del", -2, W, 1, -1, 1, "@keyspace @write @slow", "generic", resp_cmd_del, NULL},
    {"discard", 1, LNS | F | B | NOW, 0, 0, 0, "@fast @transaction", "transactions",
     resp_cmd_discard, NULL},
    {"echo", 2, F | LS, 0, 0, 0, "@fast @connection", "connection", resp_cmd_echo, NULL},
    {"exec", 1, LNS | RESP_CMD_SKIP_SLOWLOG | NOW, 0, 0, 0, "@slow @transaction", "transactions",
     resp_cmd_exec, NULL},
    {"exists", -2, R | F, 1, -1, 1, "@keyspace @read @fast", "generic", resp_cmd_exists, NULL},
    {"expire", -3, W | F, 1, 1, 1, "@keyspace @write @fast", "generic", resp_cmd_expire, NULL},
    {"expireat", -3, W | F, 1, 1, 1, "@keyspace @write @fast", "generic", resp_cmd_expireat, NULL},
    {"expiretime", 2, R | F, 1, 1, 1, "@keyspace @read @fast", "generic", resp_cmd_expiretime,
     NULL},
    {"flushall", -1, W | ALL, 0, 0, 0, "@keyspace @write @slow @dangerous", "server",
     resp_cmd_flushall, NULL},
    {"flushdb", -1, W | ALL, 0, 0, 0, "@keyspace @write @slow @dangerous", "server",
     resp_cmd_flushdb, NULL},
    {"get", 2, R | F, 1, 1, 1, "@read @string @fast", "string", resp_cmd_get, NULL},
    {"getbit", 3, R | F, 1, 1, 1, "@read @bitmap @fast", "bitmap", resp_cmd_getbit, NULL},
    {"getdel", 2, W | F, 1, 1, 1, "@write @string @fast", "string", resp_cmd_getdel, NULL},
    {"getex", -2, W | F, 1, 1, 1, "@write @string @fast", "string", resp_cmd_getex, NULL},
    {"getrange", 4, R, 1, 1, 1, "@read @string @slow", "string", resp_cmd_getrange, NULL},
    {"getset", 3, W | M | F, 1, 1, 1, "@write @string @fast", "string", resp_cmd_getset, NULL},
    {"hdel", -3, W | F, 1, 1, 1, "@write @hash @fast", "hash", resp_cmd_hdel, NULL},
    {"hello", -1, LNS | F | B | RESP_CMD_NOAUTH, 0, 0, 0, "@fast @connection", "connection",
     resp_cmd_hello, NULL},
    {"hexists", 3, R | F, 1, 1, 1, "@read @hash @fast", "hash", resp_cmd_hexists, NULL},
    {"hget", 3, R | F, 1, 1, 1, "@read @hash @fast", "hash", resp_cmd_hget, NULL},
    {"hgetall", 2, R, 1, 1, 1, "@read @hash @slow", "hash", resp_cmd_hgetall, NULL},
    {"hincrby", 4, W | M | F, 1, 1, 1, "@write @hash @fast", "hash", resp_cmd_hincrby, NULL},
    {"hincrbyfloat", 4, W | M | F, 1, 1, 1, "@write @hash @fast", "hash", resp_cmd_hincrbyfloat,
     NULL},
    {"hkeys", 2, R, 1, 1, 1, "@read @hash @slow", "hash", resp_cmd_hkeys, NULL},
    {"hlen", 2, R | F, 1, 1, 1, "@read @hash @fast", "hash", resp_cmd_hlen, NULL},
    {"hmget", -3, R | F, 1, 1, 1, "@read @hash @fast", "hash", resp_cmd_hmget, NULL},
    {"hmset", -4, W | M | F, 1, 1, 1, "@write @hash @fast", "hash", resp_cmd_hmset, NULL},
    {"hotkeys", -1, R | AFT, 0, 0, 0, "@read @slow", "server", resp_cmd_hotkeys, NULL},
    {"hrandfield", -2, R, 1, 1, 1, "@read @hash @slow", "hash", resp_cmd_hrandfield, NULL},
    {"hscan", -3, R, 1, 1, 1, "@read @hash @slow", "hash", resp_cmd_hscan, NULL},
    {"hset", -4, W | M | F, 1, 1, 1, "@write @hash @fast", "hash", resp_cmd_hset, NULL},
    {"hsetnx", 4, W | M | F, 1, 1, 1, "@write @hash @fast", "hash", resp_cmd_hsetnx, NULL},
    {"hstrlen", 3, R | F, 1, 1, 1, "@read @hash @fast", "hash", resp_cmd_hstrlen, NULL},
    {"hvals", 2, R, 1, 1, 1, "@read @hash @slow", "hash", resp_cmd_hvals, NULL},
    {"incr", 2, W | M | F, 1, 1, 1, "@write @string @fast", "string", resp_cmd_incr, NULL},
    {"incrby", 3, W | M | F, 1, 1, 1, "@write @string @fast", "string", resp_cmd_incrby, NULL},
    {"incrbyfloat", 3, W | M | F, 1, 1, 1, "@write @string @fast", "string", resp_cmd_incrbyfloat,
     NULL},
    {"info", -1, LS | AFT, 0, 0, 0, "@slow @dangerous", "server", resp_cmd_info, NULL},
    {"keys", 2, R | ALL, 0, 0, 0, "@keyspace @read @slow @dangerous", "generic", resp_cmd_keys,
     NULL},
    {"lcs", -3, R, 1, 2, 1, "@read @string @slow", "string", resp_cmd_lcs, NULL},
    {"memory", -2, C, 0, 0, 0, "@slow", "server", NULL, NULL},
    {"mget", -2, R | F, 1, -1, 1, "@read @string @fast", "string", resp_cmd_mget, NULL},
    {"move", 3, W | F, 1, 1, 1, "@keyspace @write @fast", "generic", resp_cmd_move, NULL},
    {"mset", -3, W | M, 1, -1, 2, "@write @string @slow", "string", resp_cmd_mset, NULL},
    {"msetnx", -3, W | M, 1, -1, 2, "@write @string @slow", "string", resp_cmd_msetnx, NULL},
    {"multi", 1, LNS | F | B | NOW, 0, 0, 0, "@fast @transaction", "transactions", resp_cmd_multi,
     NULL},
    {"object", -2, C, 0, 0, 0, "@slow", "generic", NULL, NULL},
    {"persist", 2, W | F, 1, 1, 1, "@keyspace @write @fast", "generic", resp_cmd_persist, NULL},
    {"pexpire", -3, W | F, 1, 1, 1, "@keyspace @write @fast", "generic", resp_cmd_pexpire, NULL},
    {"pexpireat", -3, W | F, 1, 1, 1, "@keyspace @write @fast", "generic", resp_cmd_pexpireat,
     NULL},
    {"pexpiretime", 2, R | F, 1, 1, 1, "@keyspace @read @fast", "generic", resp_cmd_pexpiretime,
     NULL},
    {"ping", -1, F, 0, 0, 0, "@fast @connection", "connection", resp_cmd_ping, NULL},
    {"psetex", 4, W | M, 1, 1, 1, "@write @string @slow", "string", resp_cmd_psetex, NULL},
    {"pttl", 2, R | F, 1, 1, 1, "@keyspace @read @fast", "generic", resp_cmd_pttl, NULL},
    {"quit", -1, LNS | F | B | RESP_CMD_NOAUTH | NOW, 0, 0, 0, "@fast @connection", "connection",
     resp_cmd_quit, NULL},
    {"randomkey", 1, R | ALL, 0, 0, 0, "@keyspace @read @slow", "generic", resp_cmd_randomkey,
     NULL},
    {"rename", 3, W, 1, 2, 1, "@keyspace @write @slow", "generic", resp_cmd_rename, NULL},
    {"renamenx", 3, W | F, 1, 2, 1, "@keyspace @write @fast", "generic", resp_cmd_renamenx, NULL},
    {"reset", 1, LNS | F | B | RESP_CMD_NOAUTH | NOW, 0, 0, 0, "@fast @connection", "connection",
     resp_cmd_reset, NULL},
    {"scan", -2, R | ALL, 0, 0, 0, "@keyspace @read @slow", "generic", resp_cmd_scan, NULL},
    {"select", 2, LS | F, 0, 0, 0, "@fast @connection", "connection", resp_cmd_select, NULL},
    {"set", -3, W | M, 1, 1, 1, "@write @string @slow", "string", resp_cmd_set, NULL},
    {"setbit", 4, W | M, 1, 1, 1, "@write @bitmap @slow", "bitmap", resp_cmd_setbit, NULL},
    {"setex", 4, W | M, 1, 1, 1, "@write @string @slow", "string", resp_cmd_setex, NULL},
    {"setnx", 3, W | M | F, 1, 1, 1, "@write @string @fast", "string", resp_cmd_setnx, NULL},
    {"setrange", 4, W | M, 1, 1, 1, "@write @string @slow", "string", resp_cmd_setrange, NULL},
    {"strlen", 2, R | F, 1, 1, 1, "@read @string @fast", "string", resp_cmd_strlen, NULL},
    {"swapdb", 3, W | F | ALL, 0, 0, 0, "@keyspace @write @fast @dangerous", "server",
     resp_cmd_swapdb, NULL},
    {"time", 1, LS | F, 0, 0, 0, "@fast", "server", resp_cmd_time, NULL},
    {"touch", -2, R | F, 1, -1, 1, "@keyspace @read @fast", "generic", resp_cmd_touch, NULL},
    {"ttl", 2, R | F, 1, 1, 1, "@keyspace @read @fast", "generic", resp_cmd_ttl, NULL},
    {"type", 2, R | F, 1, 1, 1, "@keyspace @read @fast", "generic", resp_cmd_type, NULL},
    {"unlink", -2, W | F, 1, -1, 1, "@keyspace @write @fast", "generic", resp_cmd_del, NULL},
    {"unwatch", 1, LNS | F | B, 0, 0, 0, "@fast @transaction", "transactions", resp_cmd_unwatch,
     NULL},
    {"watch", -2, LNS | F | B | NOW, 1, -1, 1, "@fast @transaction", "transactions", resp_cmd_watch,
     NULL},
};
const size_t resp_ncmds = sizeof(resp_cmds) / sizeof(resp_cmds[0]);

#define CA "@admin @slow @dangerous @connection"

/* Sorted by (parent, name) (a unit test checks). CLIENT, CONFIG and
 * COMMAND's rows name the container's own handler, which switches on
 * argv[1] itself. CLIENT NO-TOUCH and SETINFO are Redis 7.2's, accepted
 * for clients that send them. */
const struct resp_cmd resp_subcmds[] = {
    {"getname", 2, LNS, 0, 0, 0, "@slow @connection", "connection", resp_cmd_client, "client"},
    {"help", 2, LS, 0, 0, 0, "@slow @connection", "connection", resp_cmd_client, "client"},
    {"id", 2, LNS, 0, 0, 0, "@slow @connection", "connection", resp_cmd_client, "client"},
    {"info", 2, LNS, 0, 0, 0, "@slow @connection", "connection", resp_cmd_client, "client"},
    {"kill", -3, A | LNS, 0, 0, 0, CA, "connection", resp_cmd_client, "client"},
    {"list", -2, A | LNS, 0, 0, 0, CA, "connection", resp_cmd_client, "client"},
    {"no-evict", 3, A | LNS, 0, 0, 0, CA, "connection", resp_cmd_client, "client"},
    {"no-touch", 3, LNS, 0, 0, 0, "@slow @connection", "connection", resp_cmd_client, "client"},
    {"setinfo", 4, LNS, 0, 0, 0, "@slow @connection", "connection", resp_cmd_client, "client"},
    {"setname", 3, LNS, 0, 0, 0, "@slow @connection", "connection", resp_cmd_client, "client"},
    {"count", 2, LS, 0, 0, 0, "@slow @connection", "server", resp_cmd_command, "command"},
    {"docs", -2, LS, 0, 0, 0, "@slow @connection", "server", resp_cmd_command, "command"},
    {"getkeys", -4, LS, 0, 0, 0, "@slow @connection", "server", resp_cmd_command, "command"},
    {"help", 2, LS, 0, 0, 0, "@slow @connection", "server", resp_cmd_command, "command"},
    {"info", -2, LS, 0, 0, 0, "@slow @connection", "server", resp_cmd_command, "command"},
    {"list", -2, LS, 0, 0, 0, "@slow @connection", "server", resp_cmd_command, "command"},
    {"get", -3, A | LNS, 0, 0, 0, "@admin @slow @dangerous", "server", resp_cmd_config, "config"},
    {"help", 2, LS, 0, 0, 0, "@slow", "server", resp_cmd_config, "config"},
    {"resetstat", 2, A | LNS, 0, 0, 0, "@admin @slow @dangerous", "server", resp_cmd_config,
     "config"},
    {"rewrite", 2, A | LNS, 0, 0, 0, "@admin @slow @dangerous", "server", resp_cmd_config,
     "config"},
    {"set", -4, A | LNS, 0, 0, 0, "@admin @slow @dangerous", "server", resp_cmd_config, "config"},
    {"help", 2, LS, 0, 0, 0, "@slow", "server", resp_cmd_memory_help, "memory"},
    {"usage", -3, R, 2, 2, 1, "@read @slow", "server", resp_cmd_memory_usage, "memory"},
    {"encoding", 3, R, 2, 2, 1, "@keyspace @read @slow", "generic", resp_cmd_object_encoding,
     "object"},
    {"freq", 3, R, 2, 2, 1, "@keyspace @read @slow", "generic", resp_cmd_object_freq, "object"},
    {"help", 2, LS, 0, 0, 0, "@keyspace @slow", "generic", resp_cmd_object_help, "object"},
    {"idletime", 3, R, 2, 2, 1, "@keyspace @read @slow", "generic", resp_cmd_object_idletime,
     "object"},
    {"refcount", 3, R, 2, 2, 1, "@keyspace @read @slow", "generic", resp_cmd_object_refcount,
     "object"},
};
const size_t resp_nsubcmds = sizeof(resp_subcmds) / sizeof(resp_subcmds[0]);

#undef W
#undef R
#undef M
#undef F
#undef A
#undef B
#undef C
#undef LS
#undef LNS
#undef NOW
#undef ALL
#undef AFT
#undef CA

/* Lower-case name into low (at least RESP_NAME_MAX bytes); false when it
 * is empty or too long to be in a table. */
static bool
lower_name(struct bstr name, char *low)
{
    if (name.len == 0 || name.len >= RESP_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < name.len; i++) {
        char ch = name.data[i];
        low[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    return true;
}

/*
 * The lookup: an open-addressing index over an FNV-1a hash of the
 * lower-case name, built once from the table. A lookup lowers and hashes
 * the name in one pass and compares one row (callgrind: the binary search
 * it replaces cost ~220 instructions a request, six case-folding compares).
 */
#define LOOKUP_SLOTS 4096 /* a power of two, 16 times the table's rows: few probes */

_Static_assert(sizeof(resp_cmds) / sizeof(resp_cmds[0]) * 2 <= LOOKUP_SLOTS,
               "the lookup index needs more slots");

static uint16_t lookup_index[LOOKUP_SLOTS]; /* row + 1; 0 = empty; const after lookup_once */
static uint8_t lookup_len[LOOKUP_SLOTS];    /* the row's name length */

/*
 * Names of up to 8 bytes (GET, SET, MGET, INCR, ...: what pipelines
 * repeat) have a second index keyed by the name as one little-endian
 * word, lowered eight bytes at a time: a multiply picks the slot and one
 * compare checks it (callgrind: ~100 -> ~30 instructions for GET).
 */
#define SHORT_SLOTS 1024                  /* a power of two, 4 times the rows */
static uint64_t short_word[SHORT_SLOTS];  /* the lowered name; 0 = empty */
static uint16_t short_index[SHORT_SLOTS]; /* row + 1 */
static uint8_t short_len[SHORT_SLOTS];    /* "get" and "get\0" have one word */

/* n (1..8) bytes of p as a little-endian word, zero above n, in fixed-
 * size loads (memcpy of a variable n is a libc call: ~17 instructions):
 * two 4-byte loads that overlap for 4..8, three bytes for 1..3. */
static inline uint64_t
load_upto8(const char *p, size_t n)
{
    const unsigned char *b = (const unsigned char *)p;
    if (n >= 4) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + n - 4, 4);
        uint64_t w = (uint64_t)le32toh(lo) | (uint64_t)le32toh(hi) << (8 * (n - 4));
        return n == 8 ? w : w & ((1ull << (8 * n)) - 1);
    }
    return (uint64_t)b[0] | (uint64_t)b[n / 2] << (8 * (n / 2)) |
           (uint64_t)b[n - 1] << (8 * (n - 1));
}

/* n (1..8) bytes of p as a word, A-Z lowered, zero above n. */
static inline uint64_t
short_name_word(const char *p, size_t n)
{
    uint64_t w = load_upto8(p, n);
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t low7 = w & ~high;
    uint64_t ge_a = low7 + ones * (0x80 - 'A');     /* high bit: byte >= 'A' */
    uint64_t gt_z = low7 + ones * (0x80 - 'Z' - 1); /* high bit: byte > 'Z' */
    uint64_t upper = ge_a & ~gt_z & ~w & high;      /* ASCII A-Z only */
    return w | (upper >> 2);                        /* + 0x20 */
}

static inline size_t
short_slot(uint64_t w)
{
    return (size_t)((w * 0x9e3779b97f4a7c15ull) >> 54); /* 10 bits */
}

_Static_assert(SHORT_SLOTS == 1u << 10, "short_slot takes 10 bits");
static pthread_once_t lookup_once = PTHREAD_ONCE_INIT;
static _Atomic bool lookup_ready; /* lookup_build has run: no pthread_once call per request */

static inline uint32_t
name_hash_step(uint32_t h, unsigned char c)
{
    return (h ^ c) * 16777619u;
}

static void
lookup_build(void)
{
    for (size_t i = 0; i < resp_ncmds; i++) {
        uint32_t h = 2166136261u;
        for (const char *p = resp_cmds[i].name; *p != '\0'; p++) {
            h = name_hash_step(h, (unsigned char)*p);
        }
        size_t slot = h & (LOOKUP_SLOTS - 1);
        while (lookup_index[slot] != 0) {
            slot = (slot + 1) & (LOOKUP_SLOTS - 1);
        }
        lookup_index[slot] = (uint16_t)(i + 1);
        lookup_len[slot] = (uint8_t)strlen(resp_cmds[i].name);
        if (lookup_len[slot] <= 8) {
            uint64_t w = short_name_word(resp_cmds[i].name, lookup_len[slot]);
            size_t k = short_slot(w);
            while (short_index[k] != 0) {
                k = (k + 1) & (SHORT_SLOTS - 1);
            }
            short_word[k] = w;
            short_index[k] = (uint16_t)(i + 1);
            short_len[k] = lookup_len[slot];
        }
    }
    atomic_store_explicit(&lookup_ready, true, memory_order_release);
}

const struct resp_cmd *
resp_cmd_lookup(struct bstr name)
{
    if (name.len - 1 < 8) { /* 1..8 */
        if (!atomic_load_explicit(&lookup_ready, memory_order_acquire)) {
            pthread_once(&lookup_once, lookup_build);
        }
        uint64_t w = short_name_word(name.data, name.len);
        for (size_t k = short_slot(w); short_index[k] != 0; k = (k + 1) & (SHORT_SLOTS - 1)) {
            if (short_word[k] == w && short_len[k] == name.len) {
                return &resp_cmds[short_index[k] - 1];
            }
        }
        return NULL;
    }
    char low[RESP_NAME_MAX];
    if (name.len == 0 || name.len >= sizeof(low)) {
        return NULL;
    }
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < name.len; i++) {
        char ch = name.data[i];
        low[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
        h = name_hash_step(h, (unsigned char)low[i]);
    }
    if (!atomic_load_explicit(&lookup_ready, memory_order_acquire)) {
        pthread_once(&lookup_once, lookup_build);
    }
    for (size_t slot = h & (LOOKUP_SLOTS - 1); lookup_index[slot] != 0;
         slot = (slot + 1) & (LOOKUP_SLOTS - 1)) {
        const struct resp_cmd *c = &resp_cmds[lookup_index[slot] - 1];
        if (lookup_len[slot] != name.len) {
            continue;
        }
        size_t i = 0; /* names are short: no memcmp call */
        while (i < name.len && c->name[i] == low[i]) {
            i++;
        }
        if (i == name.len) {
            return c;
        }
    }
    return NULL;
}

/* The first subcommand row of parent (binary search), and the count. */
const struct resp_cmd *
resp_subcmds_of(const struct resp_cmd *container, size_t *n)
{
    size_t lo = 0, hi = resp_nsubcmds;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(resp_subcmds[mid].parent, container->name) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    size_t end = lo;
    while (end < resp_nsubcmds && strcmp(resp_subcmds[end].parent, container->name) == 0) {
        end++;
    }
    *n = end - lo;
    return &resp_subcmds[lo];
}

const struct resp_cmd *
resp_subcmd_lookup(const struct resp_cmd *container, struct bstr name)
{
    char low[RESP_NAME_MAX];
    if (!lower_name(name, low)) {
        return NULL;
    }
    size_t n;
    const struct resp_cmd *subs = resp_subcmds_of(container, &n);
    for (size_t i = 0; i < n; i++) {
        if (strlen(subs[i].name) == name.len && memcmp(subs[i].name, low, name.len) == 0) {
            return &subs[i];
        }
    }
    return NULL;
}

void
resp_cmd_fullname(const struct resp_cmd *c, char *out, size_t cap)
{
    if (c->parent != NULL) {
        snprintf(out, cap, "%s|%s", c->parent, c->name);
    } else {
        snprintf(out, cap, "%s", c->name);
    }
}

/* Redis's unknown-command error: the name and the start of the arguments,
 * each cut at 128 bytes (and at a NUL, as C strings), quoted. */
static void
unknown_command(struct resp_exec *x)
{
    char args[512];
    size_t n = 0;
    for (size_t i = 1; i < x->argc && n < 128; i++) {
        int len = resp_arg_print_len(x->argv[i], 128 - n);
        int w = snprintf(args + n, sizeof(args) - n, "'%.*s' ", len, x->argv[i].data);
        if (w < 0) {
            break;
        }
        n += (size_t)w;
    }
    args[n] = '\0';
    resp_reply_errf(x, "ERR unknown command '%.*s', with args beginning with: %s",
                    resp_arg_print_len(x->argv[0], 128), x->argv[0].data, args);
}

/* Dispatch, as Redis's processCommand: the name, a container's
 * subcommand, the arity, authentication, then the handler (or, between
 * MULTI and EXEC, the transaction's queue: a refusal there makes EXEC
 * abort). Every executed command is counted in the worker's statistics,
 * one in about CMDSTATS_SAMPLE timed (resp_cmdstats.h), and every refusal
 * after the lookup as a rejected call of its row. */
static inline __attribute__((always_inline)) void
execute(struct resp_exec *x, const struct resp_cmd *cmd)
{
    if (cmd == NULL) {
        unknown_command(x);
        resp_tx_refused(x);
        return;
    }
    x->cmd = cmd;
    const struct resp_cmd *row = cmd;
    if ((cmd->flags & RESP_CMD_CONTAINER) && x->argc >= 2) {
        row = resp_subcmd_lookup(cmd, x->argv[1]);
        if (row == NULL) {
            resp_reply_err_subcommand(x);
            resp_tx_refused(x);
            return;
        }
    }
    struct cmdstats *st = x->s->cmdstats;
    if ((row->arity > 0 && x->argc != (size_t)row->arity) ||
        (row->arity < 0 && x->argc < (size_t)-row->arity)) {
        char full[2 * RESP_NAME_MAX + 2];
        resp_cmd_fullname(row, full, sizeof(full));
        if (row->handler == resp_cmd_exec) {
            resp_tx_exec_refused(x, "wrong number of arguments for 'exec' command");
        } else {
            resp_reply_err_arity(x, full);
        }
        if (st != NULL) {
            cmdstats_reject(st, resp_cmd_slot(row));
        }
        resp_tx_refused(x);
        return;
    }
    if (!x->s->authed && !(row->flags & RESP_CMD_NOAUTH)) {
        if (row->handler == resp_cmd_exec) {
            resp_tx_exec_refused(x, "NOAUTH Authentication required.");
        } else {
            resp_reply_err(x, "NOAUTH Authentication required.");
        }
        if (st != NULL) {
            cmdstats_reject(st, resp_cmd_slot(row));
        }
        resp_tx_refused(x);
        return;
    }
    if (__builtin_expect(x->c->tx != NULL, 0) && resp_tx_queueing(x->c) &&
        !(cmd->flags & RESP_CMD_TX_NOW)) {
        resp_tx_queue(x);
        return;
    }
    resp_handler_fn fn = row->handler;
    x->row = row;
    x->db = store_db_phys(x->store, x->c->db);
    if (st == NULL) {
        fn(x);
        return;
    }
    /* resp_cmd_slot(row), knowing which table row is in */
    size_t slot =
        row == cmd ? (size_t)(cmd - resp_cmds) : resp_ncmds + (size_t)(row - resp_subcmds);
    if (cmdstats_sample(st)) {
        cmdstats_timed(st, slot, fn, x);
    } else {
        fn(x);
    }
    cmdstats_call(st, slot);
}

/* EXEC's calls; the step inlines execute(). */
void
resp_execute(struct resp_exec *x)
{
    execute(x, resp_cmd_lookup(x->argv[0]));
}

/* --- per-connection state ------------------------------------------------------------- */

static struct resp_conn *
conn_of(struct session *s)
{
    struct resp_conn *c = s->proto_state;
    if (c != NULL) {
        return c;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->argv = c->argv_small;
    c->argv_cap = sizeof(c->argv_small) / sizeof(c->argv_small[0]);
    c->id =
        s->id != 0 ? s->id : atomic_fetch_add_explicit(&next_client_id, 1, memory_order_relaxed);
    c->created = clock_unix_now();
    c->rng = (c->id * 0x9e3779b97f4a7c15ull) ^ clock_mono_ns();
    if (c->rng == 0) {
        c->rng = 1;
    }
    buf_init(&c->scratch);
    s->proto_state = c;
    return c;
}

void
resp_session_fini(struct session *s)
{
    struct resp_conn *c = s->proto_state;
    if (c == NULL) {
        return;
    }
    if (c->argv != c->argv_small) {
        free(c->argv);
    }
    free(c->name);
    free(c->user);
    buf_fini(&c->scratch);
    resp_tx_reset(c);
    free(c->tx);
    free(c);
    s->proto_state = NULL;
}

size_t
resp_session_held(const struct session *s)
{
    /* Only the MULTI queue and the watched keys: the rest (argument views,
     * scratch) is bounded by the request the read buffer already counts. */
    const struct resp_conn *c = s->proto_state;
    return c != NULL && c->tx != NULL ? resp_tx_held(c) : 0;
}

/* Make room for n views (n <= RESP_MAX_ARGS, the parser's bound). */
static bool
argv_grow(struct resp_conn *c, size_t n)
{
    size_t cap = c->argv_cap;
    while (cap < n) {
        cap *= 2;
    }
    struct bstr *a = malloc(cap * sizeof(*a));
    if (a == NULL) {
        return false;
    }
    if (c->argv != c->argv_small) {
        free(c->argv);
    }
    c->argv = a;
    c->argv_cap = cap;
    return true;
}

static void
argv_shrink(struct resp_conn *c)
{
    if (c->argv != c->argv_small && c->argv_cap > ARGV_KEEP) {
        free(c->argv);
        c->argv = c->argv_small;
        c->argv_cap = sizeof(c->argv_small) / sizeof(c->argv_small[0]);
    }
}

size_t
resp_max_request(const struct session *s)
{
    size_t item = (size_t)s->env->opts->max_item_size;
    size_t two = 2 * item + RESP_MAX_INLINE;
    return two > MAX_REQUEST_MIN ? two : MAX_REQUEST_MIN;
}

/* --- the step ------------------------------------------------------------------------------ */

/* Reply to a malformed request as Redis does, before closing. */
static void
protocol_error(struct resp_exec *x, const struct resp_req *req)
{
    METRIC_INC(x->m, protocol_errors);
    char msg[128];
    snprintf(msg, sizeof(msg), "ERR %s", req->err);
    if (strstr(req->err, "%c") != NULL) {
        snprintf(msg, sizeof(msg), "ERR Protocol error: expected '$', got '%c'", req->got);
    }
    resp_reply_errf(x, "%s", msg);
}

/* --- SET's large value stored in place (cmd/step.h) --------------------- */

/* A bulk length "$<digits>\r\n" at *p, all before end: its value, *p past
 * it; false if it is not (all) there. */
static bool
sink_bulk_len(const char **p, const char *end, uint64_t *n)
{
    const char *q = *p;
    if (q >= end || *q != '$') {
        return false;
    }
    q++;
    uint64_t v = 0;
    unsigned digits = 0;
    while (q < end && *q >= '0' && *q <= '9' && digits < 12) {
        v = v * 10 + (uint64_t)(*q - '0');
        q++;
        digits++;
    }
    if (digits == 0 || end - q < 2 || q[0] != '\r' || q[1] != '\n') {
        return false;
    }
    *p = q + 2;
    *n = v;
    return true;
}

/*
 * A plain SET (three arguments, no options) whose large value has not all
 * arrived, at data[0..len): store it in place, what follows the value's
 * length being its first bytes. Not inside MULTI (queued there) nor before
 * AUTH (refused); anything else is parsed whole as before.
 */
static bool
sink_start(struct resp_exec *x, const char *data, size_t len)
{
    if (!x->s->authed || (x->c->tx != NULL && resp_tx_queueing(x->c))) {
        return false;
    }
    const char *p = data, *end = data + len;
    uint64_t n, klen, vlen;
    if (len < 4 || memcmp(p, "*3\r\n", 4) != 0) {
        return false;
    }
    p += 4;
    if (!sink_bulk_len(&p, end, &n) || n != 3 || end - p < 5 || strncasecmp(p, "set", 3) != 0 ||
        p[3] != '\r' || p[4] != '\n') {
        return false;
    }
    p += 5;
    if (!sink_bulk_len(&p, end, &klen) || klen > 250 || (uint64_t)(end - p) < klen + 2 ||
        p[klen] != '\r' || p[klen + 1] != '\n') {
        return false;
    }
    struct bstr key = {.data = p, .len = (size_t)klen};
    p += klen + 2;
    if (!sink_bulk_len(&p, end, &vlen) || vlen < x->s->sink_min || vlen > UINT32_MAX ||
        (uint64_t)(end - p) >= vlen + 2) {
        return false;
    }
    x->db = store_db_phys(x->store, x->c->db);
    struct store_key k;
    resp_key(x, &k, key);
    struct store_set_req sr = {.mode = STORE_MODE_SET, .nbytes = (uint32_t)vlen};
    if (session_sink_start(x->s, &k, &sr, 0, false, 2) == NULL) {
        return false;
    }
    (void)session_sink_feed(x->s, p, (size_t)(end - p));
    return true;
}

/* The value is all in: SET as resp_cmd_set would (replies, counts,
 * command statistics); a value not followed by "\r\n" is the parser's
 * protocol error, which closes the connection. */
static enum step_rc
resp_sunk(struct session_call *call)
{
    struct resp_exec *x = (struct resp_exec *)call;
    struct session_sink *sk = x->s->sink;
    if (sk->tail[0] != '\r' || sk->tail[1] != '\n') {
        session_sink_end(x->s);
        METRIC_INC(x->m, protocol_errors);
        resp_reply_err(x, "ERR Protocol error: invalid bulk length");
        return STEP_CLOSE;
    }
    METRIC_INC(x->m, cmd_set);
    enum store_rc rc = store_commit(x->store, &sk->key, &sk->req, &sk->p, NULL);
    if (rc == STORE_OK) {
        resp_reply_ok(x);
    } else {
        resp_reply_err_store(x, rc, sk->key.len);
    }
    struct cmdstats *st = x->s->cmdstats;
    const struct resp_cmd *row = resp_cmd_lookup((struct bstr){.data = "set", .len = 3});
    if (st != NULL && row != NULL) {
        cmdstats_call(st, (size_t)(row - resp_cmds));
    }
    session_sink_end(x->s);
    return STEP_DONE;
}

/*
 * A request the look-ahead parsed whole: what resp_parse would have made
 * of it, and its row. Only an array of at most RESP_MEMO_ARGS arguments
 * whose counts are 1 to 9 digits, each argument no longer than the bulk
 * limit and followed by "\r\n": resp_parse accepts exactly such a request,
 * with the same views. Anything else ends the memo (the step parses it,
 * errors included).
 */
#define RESP_MEMO_ARGS 4
struct resp_memo {
    const char *at; /* the request's first byte in this call's input */
    size_t size;    /* its bytes */
    const struct resp_cmd *cmd;
    size_t argc;
    struct bstr argv[RESP_MEMO_ARGS];
};

/* The step: one request (see step.h). */
static inline __attribute__((always_inline)) enum step_rc
resp_step(struct session_call *call, char *data, size_t len, size_t *used, size_t *need)
{
    struct resp_exec *x = (struct resp_exec *)call;
    if (x->memo_i < x->memo_n && x->memo[x->memo_i].at == data) {
        const struct resp_memo *m = &x->memo[x->memo_i++];
        x->argv = m->argv;
        x->argc = m->argc;
        x->cmd = NULL;
        x->row = NULL;
        execute(x, m->cmd);
        *used = m->size;
        return x->close ? STEP_CLOSE : STEP_DONE;
    }
    struct resp_conn *c = x->c;
    size_t max_bulk = (size_t)x->s->env->opts->max_item_size;
    struct resp_req req;
    /* Inline commands are taken on any RESP connection, as Redis does. */
    enum resp_parse_rc prc = resp_parse(data, len, c->argv, c->argv_cap, max_bulk, true, &req);
    if (prc == RESP_PARSE_MORE_ARGS) {
        if (!argv_grow(c, req.argc)) {
            log_warn("closing a connection: no memory for %zu arguments", req.argc);
            return STEP_CLOSE;
        }
        prc = resp_parse(data, len, c->argv, c->argv_cap, max_bulk, true, &req);
    }
    if (prc == RESP_PARSE_AGAIN) {
        if (__builtin_expect(req.need >= x->s->sink_min, 0) && sink_start(x, data, len)) {
            *used = len;
            return STEP_DONE;
        }
        *need = req.need;
        return STEP_NEED_MORE;
    }
    if (prc == RESP_PARSE_ERROR) {
        protocol_error(x, &req);
        return STEP_CLOSE;
    }
    if (prc == RESP_PARSE_OK) {
        x->argv = c->argv;
        x->argc = req.argc;
        x->cmd = NULL;
        x->row = NULL;
        execute(x, resp_cmd_lookup(x->argv[0]));
        argv_shrink(c);
    }
    *used = req.consumed;
    return x->close ? STEP_CLOSE : STEP_DONE;
}

/* "<lead><digits>\r\n" at *p (up to 9 digits): the number, *p past it. */
static inline __attribute__((always_inline)) bool
peek_count(const char **p, const char *end, char lead, size_t *v)
{
    const char *q = *p;
    /* One or two digits (a GET's or SET's counts, keys under 100 bytes)
     * without the loop. */
    if (end - q >= 5 && q[0] == lead) {
        unsigned d0 = (unsigned)(unsigned char)q[1] - '0';
        unsigned d1 = (unsigned)(unsigned char)q[2] - '0';
        if (d0 <= 9 && q[2] == '\r' && q[3] == '\n') {
            *v = d0;
            *p = q + 4;
            return true;
        }
        if (d0 <= 9 && d1 <= 9 && q[3] == '\r' && q[4] == '\n') {
            *v = d0 * 10 + d1;
            *p = q + 5;
            return true;
        }
    }
    if (q >= end || *q != lead) {
        return false;
    }
    q++;
    const char *d = q;
    size_t x = 0;
    while (q < end && *q >= '0' && *q <= '9' && q - d < 9) {
        x = x * 10 + (size_t)(*q++ - '0');
    }
    if (q == d || end - q < 2 || q[0] != '\r' || q[1] != '\n') {
        return false;
    }
    *v = x;
    *p = q + 2;
    return true;
}

/* The look-ahead (step.h): the keys of each whole array request at the
 * front of the input, where the command table says its keys are (COMMAND
 * INFO's first, last and step: MGET's all, MSET's every other), and each
 * short request's parse and row for the step (struct resp_memo). An
 * inline command or a request that is not whole ends it. */
static size_t
resp_prefetch(struct session_call *call, const char *data, size_t len)
{
    struct resp_exec *x = (struct resp_exec *)call;
    struct step_keys keys;
    keys.n = 0; /* not = {0}: zeroing the arrays cost ~40 instructions a call */
    size_t max_bulk = (size_t)x->s->env->opts->max_item_size;
    const char *p = data, *end = data + len;
    bool memo = true;
    uint64_t last_word = 0;
    size_t last_len = 0; /* none yet */
    const struct resp_cmd *last_cmd = NULL;
    const struct resp_cmd *get_row = NULL;
    x->memo_n = 0;
    x->memo_i = 0;
    while (keys.n < STEP_PREFETCH) {
        const char *q = p;
        size_t argc, blen;
        /* "*2\r\n$3\r\nGET\r\n" and its key, the common request, memo'd
         * without the walk below (the same views and row it would make;
         * anything else, an empty key included, goes that way) */
        if (memo && x->memo_n < STEP_PREFETCH && end - p >= 16 &&
            memcmp(p, "*2\r\n$3\r\n", 8) == 0 && (p[8] | 0x20) == 'g' && (p[9] | 0x20) == 'e' &&
            (p[10] | 0x20) == 't' && p[11] == '\r' && p[12] == '\n') {
            q = p + 13;
            if (peek_count(&q, end, '$', &blen) && blen > 0 && blen <= max_bulk &&
                (size_t)(end - q) >= blen + 2 && q[blen] == '\r' && q[blen + 1] == '\n') {
                if (get_row == NULL) {
                    get_row = resp_cmd_lookup((struct bstr){p + 8, 3});
                }
                struct resp_memo *m = &x->memo[x->memo_n++];
                m->at = p;
                m->size = (size_t)(q + blen + 2 - p);
                m->cmd = get_row;
                m->argc = 2;
                m->argv[0] = (struct bstr){p + 8, 3};
                m->argv[1] = (struct bstr){q, blen};
                step_keys_add(&keys, q, blen);
                p = q + blen + 2;
                continue;
            }
            q = p;
        }
        if (!peek_count(&q, end, '*', &argc) || argc == 0) {
            break;
        }
        struct resp_memo *m = memo && argc <= RESP_MEMO_ARGS && x->memo_n < STEP_PREFETCH
                                  ? &x->memo[x->memo_n]
                                  : NULL;
        const struct resp_cmd *cmd = NULL;
        size_t first = 0, last = 0, step = 1;
        size_t i = 0;
        for (; i < argc; i++) {
            if (!peek_count(&q, end, '$', &blen) || (size_t)(end - q) < blen + 2) {
                break;
            }
            if (m != NULL) {
                if (blen > max_bulk || q[blen] != '\r' || q[blen + 1] != '\n') {
                    m = NULL;
                } else {
                    m->argv[i] = (struct bstr){q, blen};
                }
            }
            if (i == 0) {
                /* A pipeline repeats its names: the last one's row, by its
                 * bytes as sent, costs a compare instead of a lookup. */
                if (blen == 0 || blen > 8) {
                    cmd = resp_cmd_lookup((struct bstr){q, blen});
                } else {
                    uint64_t w = load_upto8(q, blen);
                    if (w != last_word || blen != last_len) {
                        last_cmd = resp_cmd_lookup((struct bstr){q, blen});
                        last_word = w;
                        last_len = blen;
                    }
                    cmd = last_cmd;
                }
                if (cmd != NULL && cmd->first_key > 0 && cmd->key_step > 0) {
                    first = (size_t)cmd->first_key;
                    last = cmd->last_key >= 0               ? (size_t)cmd->last_key
                           : (size_t)-cmd->last_key <= argc ? argc - (size_t)-cmd->last_key
                                                            : 0;
                    step = (size_t)cmd->key_step;
                }
            } else if (first != 0 && i >= first && i <= last && (i - first) % step == 0 &&
                       keys.n < STEP_PREFETCH) {
                step_keys_add(&keys, q, blen);
            }
            q += blen + 2;
        }
        if (i < argc) {
            break;
        }
        if (m != NULL) {
            m->at = p;
            m->size = (size_t)(q - p);
            m->cmd = cmd;
            m->argc = argc;
            x->memo_n++;
        } else {
            memo = false; /* the step serves the memo in order, from the front */
        }
        p = q;
    }
    return step_keys_prefetch(&x->call, x->store, &keys, (size_t)(p - data));
}

static const struct session_steps resp_steps = {
    .step = resp_step, .prefetch = resp_prefetch, .sunk = resp_sunk};

enum session_rc
resp_cmd_process(struct session *s, const char *data, size_t len, size_t *consumed, size_t *need)
{
    struct resp_conn *c = conn_of(s);
    if (c == NULL) {
        log_warn("closing a connection: no memory for its RESP state");
        *consumed = 0;
        *need = 0;
        return SESSION_CLOSE;
    }
    struct step_hashes hashes;            /* written by the look-ahead before it is read */
    struct resp_memo memo[STEP_PREFETCH]; /* written by the look-ahead before it is read */
    struct resp_exec x = {
        .s = s,
        .c = c,
        .store = s->env->store,
        .m = s->metrics,
        .out = s->out,
        .memo = memo,
    };
    session_call_init(&x.call, s, &hashes);
    return session_run(&x.call, &resp_steps, data, len, consumed, need);
}
