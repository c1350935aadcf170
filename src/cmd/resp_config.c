/*
 * resp_config: CONFIG GET and CONFIG SET for the Redis parameters that map
 * onto stashd's options and store (maxmemory, maxmemory-policy, port,
 * requirepass, ...), with Redis's glob over parameter names and its
 * memory units. Parameters stashd has no use for read back as Redis's
 * defaults, so clients that probe them at connect work unchanged. CONFIG
 * RESETSTAT takes the same baseline as memcached's `stats reset`
 * (cmd/stats_render.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/resp_arg.h"
#include "cmd/resp_cmdstats.h"
#include "cmd/resp_internal.h"
#include "cmd/resp_reply.h"
#include "cmd/stats_render.h"
#include "stashd/store/store.h"
#include "stashd/util/glob.h"
#include "stashd/util/options.h"

/* --- CONFIG ---------------------------------------------------------------------- */

enum cfg_param {
    CFG_APPENDONLY,
    CFG_BIND,
    CFG_DATABASES,
    CFG_MAXCLIENTS,
    CFG_MAXMEMORY,
    CFG_MAXMEMORY_POLICY,
    CFG_PORT,
    CFG_PROTO_MAX_BULK_LEN,
    CFG_REQUIREPASS,
    CFG_SAVE,
    CFG_TCP_BACKLOG,
    CFG_TIMEOUT,
    CFG_COUNT
};

static const char *const cfg_names[CFG_COUNT] = {
    [CFG_APPENDONLY] = "appendonly",
    [CFG_BIND] = "bind",
    [CFG_DATABASES] = "databases",
    [CFG_MAXCLIENTS] = "maxclients",
    [CFG_MAXMEMORY] = "maxmemory",
    [CFG_MAXMEMORY_POLICY] = "maxmemory-policy",
    [CFG_PORT] = "port",
    [CFG_PROTO_MAX_BULK_LEN] = "proto-max-bulk-len",
    [CFG_REQUIREPASS] = "requirepass",
    [CFG_SAVE] = "save",
    [CFG_TCP_BACKLOG] = "tcp-backlog",
    [CFG_TIMEOUT] = "timeout",
};

static void
cfg_value(struct resp_exec *x, enum cfg_param p, char *out, size_t cap)
{
    const struct options *o = x->s->env->opts;
    out[0] = '\0';
    switch (p) {
    case CFG_APPENDONLY:
        snprintf(out, cap, "no");
        break;
    case CFG_BIND: {
        size_t n = 0;
        for (size_t i = 0; i < o->listen.n && n + 1 < cap; i++) {
            int w = snprintf(out + n, cap - n, "%s%s", i ? " " : "", o->listen.v[i]);
            if (w < 0) {
                break;
            }
            n += (size_t)w;
        }
        break;
    }
    case CFG_DATABASES:
        snprintf(out, cap, "%lld", (long long)o->databases);
        break;
    case CFG_MAXCLIENTS:
        snprintf(out, cap, "%lld", (long long)o->conn_limit);
        break;
    case CFG_MAXMEMORY:
        snprintf(out, cap, "%llu", (unsigned long long)store_memory_limit(x->store));
        break;
    case CFG_MAXMEMORY_POLICY:
        snprintf(out, cap, "%s", o->evictions ? "allkeys-lru" : "noeviction");
        break;
    case CFG_PORT:
        snprintf(out, cap, "%lld", (long long)o->port);
        break;
    case CFG_PROTO_MAX_BULK_LEN:
        snprintf(out, cap, "%llu", (unsigned long long)o->max_item_size);
        break;
    case CFG_REQUIREPASS:
        snprintf(out, cap, "%s", o->requirepass);
        break;
    case CFG_SAVE:
        break;
    case CFG_TCP_BACKLOG:
        snprintf(out, cap, "%lld", (long long)o->backlog);
        break;
    case CFG_TIMEOUT:
        snprintf(out, cap, "%lld", (long long)o->idle_timeout);
        break;
    case CFG_COUNT:
        break;
    }
}

static int
cfg_find(struct bstr name)
{
    for (int i = 0; i < CFG_COUNT; i++) {
        if (resp_arg_is(name, cfg_names[i])) {
            return i;
        }
    }
    return -1;
}

static void
config_get(struct resp_exec *x)
{
    bool hit[CFG_COUNT] = {false};
    size_t n = 0;
    for (int i = 0; i < CFG_COUNT; i++) {
        for (size_t j = 2; j < x->argc && !hit[i]; j++) {
            if (glob_match(x->argv[j].data, x->argv[j].len, cfg_names[i], strlen(cfg_names[i]),
                           true)) {
                hit[i] = true;
                n++;
            }
        }
    }
    resp_reply_map(x, n);
    for (int i = 0; i < CFG_COUNT; i++) {
        if (hit[i]) {
            char v[512];
            cfg_value(x, (enum cfg_param)i, v, sizeof(v));
            resp_reply_bulk_str(x, cfg_names[i]);
            resp_reply_bulk_str(x, v);
        }
    }
}

/* Redis's memtoull: digits with an optional unit (b, k, kb, m, mb, g,
 * gb; k = 1000, kb = 1024), case-insensitive. */
static bool
parse_memory(struct bstr a, uint64_t *out)
{
    size_t i = 0;
    uint64_t v = 0;
    for (; i < a.len && a.data[i] >= '0' && a.data[i] <= '9'; i++) {
        unsigned d = (unsigned)(a.data[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    if (i == 0) {
        return false;
    }
    struct bstr unit = {.data = a.data + i, .len = a.len - i};
    static const struct {
        const char *name;
        uint64_t mul;
    } units[] = {
        {"", 1},           {"b", 1},
        {"k", 1000},       {"kb", 1024},
        {"m", 1000000},    {"mb", 1024 * 1024},
        {"g", 1000000000}, {"gb", 1024ull * 1024 * 1024},
    };
    for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
        if (resp_arg_is(unit, units[u].name)) {
            if (v > UINT64_MAX / units[u].mul) {
                return false;
            }
            *out = v * units[u].mul;
            return true;
        }
    }
    return false;
}

static const char *const policies[] = {
    "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
    "allkeys-lru",  "allkeys-lfu",  "allkeys-random",  "noeviction",
};

/* Check one CONFIG SET pair; on failure reply and return false. */
static bool
config_check(struct resp_exec *x, int p, struct bstr name, struct bstr value, uint64_t *mem)
{
    const char *fail = NULL;
    switch (p) {
    case CFG_MAXMEMORY:
        if (!parse_memory(value, mem)) {
            fail = "argument must be a memory value";
        } else if (*mem == 0) {
            fail = "stashd always has a memory limit (0 is not accepted)";
        }
        break;
    case CFG_MAXMEMORY_POLICY: {
        bool known = false;
        for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++) {
            known = known || resp_arg_is(value, policies[i]);
        }
        if (!known) {
            fail = "argument(s) must be one of the following: volatile-lru, volatile-lfu, "
                   "volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, "
                   "noeviction";
        } else if (!resp_arg_is(value, x->s->env->opts->evictions ? "allkeys-lru" : "noeviction")) {
            fail = "stashd's eviction policy is set at start-up (-M for noeviction)";
        }
        break;
    }
    case CFG_APPENDONLY:
        if (!resp_arg_is(value, "yes") && !resp_arg_is(value, "no")) {
            fail = "argument must be 'yes' or 'no'";
        } else if (resp_arg_is(value, "yes")) {
            fail = "stashd does not persist data";
        }
        break;
    case CFG_SAVE:
        break; /* nothing is saved, whatever the schedule */
    default:
        fail = "can't set immutable config";
        break;
    }
    if (fail != NULL) {
        const char *nul = memchr(name.data, '\0', name.len);
        int n = (int)(nul != NULL ? (size_t)(nul - name.data) : name.len);
        resp_reply_errf(x, "ERR CONFIG SET failed (possibly related to argument '%.*s') - %s",
                        n > 128 ? 128 : n, name.data, fail);
        return false;
    }
    return true;
}

static void
config_set(struct resp_exec *x)
{
    if (x->argc % 2 != 0) {
        resp_reply_err_arity(x, "config|set");
        return;
    }
    uint64_t mem = 0;
    bool set_mem = false;
    /* Check every pair before applying any, as Redis does. */
    for (size_t j = 2; j < x->argc; j += 2) {
        int p = cfg_find(x->argv[j]);
        if (p < 0) {
            const char *nul = memchr(x->argv[j].data, '\0', x->argv[j].len);
            int n = (int)(nul != NULL ? (size_t)(nul - x->argv[j].data) : x->argv[j].len);
            resp_reply_errf(x, "ERR Unknown option or number of arguments for CONFIG SET - '%.*s'",
                            n > 128 ? 128 : n, x->argv[j].data);
            return;
        }
        if (!config_check(x, p, x->argv[j], x->argv[j + 1], &mem)) {
            return;
        }
        set_mem = set_mem || p == CFG_MAXMEMORY;
    }
    if (set_mem && store_set_memory_limit(x->store, mem) != 0) {
        resp_reply_err(x, "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - "
                          "argument must be at least 64kb");
        return;
    }
    resp_reply_ok(x);
}

void
resp_cmd_config(struct resp_exec *x)
{
    struct bstr sub = x->argv[1];
    if (resp_arg_is(sub, "get")) {
        if (x->argc < 3) {
            resp_reply_err_arity(x, "config|get");
        } else {
            config_get(x);
        }
    } else if (resp_arg_is(sub, "set")) {
        if (x->argc < 4) {
            resp_reply_err_arity(x, "config|set");
        } else {
            config_set(x);
        }
    } else if (resp_arg_is(sub, "resetstat")) {
        if (x->argc != 2) {
            resp_reply_err_arity(x, "config|resetstat");
        } else {
            stats_reset(x->s);      /* the same baseline as memcached's `stats reset` */
            resp_cmdstats_reset(x); /* and INFO commandstats, errorstats */
            resp_reply_ok(x);
        }
    } else if (resp_arg_is(sub, "rewrite")) {
        if (x->argc != 2) {
            resp_reply_err_arity(x, "config|rewrite");
        } else {
            resp_reply_err(x, "ERR The server is running without a config file");
        }
    } else if (resp_arg_is(sub, "help") && x->argc == 2) {
        static const char *const help[] = {
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by INFO (commandstats and errorstats too) and",
            "    memcached's stats.",
            "HELP",
            "    Print this help.",
        };
        resp_reply_help(x, help, sizeof(help) / sizeof(help[0]));
    } else {
        resp_reply_err_subcommand(x);
    }
}
