/*
 * resp_info: the server-facing commands: INFO (Redis's sections and field
 * names, so that redis_exporter and the like can scrape stashd), CONFIG
 * GET/SET/RESETSTAT for what maps onto stashd's options and store, COMMAND
 * (enough for redis-cli's hints and for clients that list commands) and
 * TIME.
 *
 * INFO's section bodies are generated from the table of figures
 * (cmd/stats_render.c); CONFIG RESETSTAT takes the same baseline as
 * memcached's `stats reset` (cmd/stats_render.h). Nothing here is on a
 * hot path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cmd/resp_internal.h"
#include "cmd/stats_render.h"
#include "stashd/store/store.h"
#include "stashd/util/options.h"

/* --- INFO ---------------------------------------------------------------------- */

enum {
    SEC_SERVER = 1u << 0,
    SEC_CLIENTS = 1u << 1,
    SEC_MEMORY = 1u << 2,
    SEC_PERSISTENCE = 1u << 3,
    SEC_STATS = 1u << 4,
    SEC_REPLICATION = 1u << 5,
    SEC_CPU = 1u << 6,
    SEC_MODULES = 1u << 7,
    SEC_CLUSTER = 1u << 8,
    SEC_KEYSPACE = 1u << 9,
    SEC_ALL = (1u << 10) - 1,
};

/* INFO's sections; each body is generated from the table of figures
 * (cmd/stats_render.c). */
static const struct {
    const char *name;
    unsigned bit;
    enum stats_info_section sec;
} sections[] = {
    {"server", SEC_SERVER, STATS_INFO_SERVER},
    {"clients", SEC_CLIENTS, STATS_INFO_CLIENTS},
    {"memory", SEC_MEMORY, STATS_INFO_MEMORY},
    {"persistence", SEC_PERSISTENCE, STATS_INFO_PERSISTENCE},
    {"stats", SEC_STATS, STATS_INFO_STATS},
    {"replication", SEC_REPLICATION, STATS_INFO_REPLICATION},
    {"cpu", SEC_CPU, STATS_INFO_CPU},
    {"modules", SEC_MODULES, STATS_INFO_MODULES},
    {"cluster", SEC_CLUSTER, STATS_INFO_CLUSTER},
    {"keyspace", SEC_KEYSPACE, STATS_INFO_KEYSPACE},
};

void
resp_cmd_info(struct resp_exec *x)
{
    unsigned want = 0;
    if (x->argc == 1) {
        want = SEC_ALL;
    }
    for (size_t i = 1; i < x->argc; i++) {
        struct bstr a = x->argv[i];
        if (arg_is(a, "all") || arg_is(a, "everything") || arg_is(a, "default")) {
            want = SEC_ALL;
        }
        for (size_t j = 0; j < sizeof(sections) / sizeof(sections[0]); j++) {
            if (arg_is(a, sections[j].name)) {
                want |= sections[j].bit;
            }
        }
    }
    struct buf *b = &x->c->scratch;
    buf_reset(b);
    int rc = 0;
    unsigned done = 0;
    for (size_t j = 0; j < sizeof(sections) / sizeof(sections[0]) && rc == 0; j++) {
        if (!(want & sections[j].bit)) {
            continue;
        }
        if (done++ > 0) {
            rc = buf_append(b, "\r\n", 2);
        }
        rc = rc ? rc : stats_render_info(x->s, sections[j].sec, RESP_COMPAT_VERSION, b);
    }
    rep_fail(x, rc);
    rep_verbatim(x, b->data != NULL ? b->data + b->rpos : "", buf_readable(b));
    buf_reset(b);
}

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
        snprintf(out, cap, "1");
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
        if (arg_is(name, cfg_names[i])) {
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
            if (resp_glob(x->argv[j].data, x->argv[j].len, cfg_names[i], strlen(cfg_names[i]),
                          true)) {
                hit[i] = true;
                n++;
            }
        }
    }
    rep_map(x, n);
    for (int i = 0; i < CFG_COUNT; i++) {
        if (hit[i]) {
            char v[512];
            cfg_value(x, (enum cfg_param)i, v, sizeof(v));
            rep_bulk_str(x, cfg_names[i]);
            rep_bulk_str(x, v);
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
        if (arg_is(unit, units[u].name)) {
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
            known = known || arg_is(value, policies[i]);
        }
        if (!known) {
            fail = "argument(s) must be one of the following: volatile-lru, volatile-lfu, "
                   "volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, "
                   "noeviction";
        } else if (!arg_is(value, x->s->env->opts->evictions ? "allkeys-lru" : "noeviction")) {
            fail = "stashd's eviction policy is set at start-up (-M for noeviction)";
        }
        break;
    }
    case CFG_APPENDONLY:
        if (!arg_is(value, "yes") && !arg_is(value, "no")) {
            fail = "argument must be 'yes' or 'no'";
        } else if (arg_is(value, "yes")) {
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
        rep_errf(x, "ERR CONFIG SET failed (possibly related to argument '%.*s') - %s",
                 n > 128 ? 128 : n, name.data, fail);
        return false;
    }
    return true;
}

static void
config_set(struct resp_exec *x)
{
    if (x->argc % 2 != 0) {
        rep_err_arity(x, "config|set");
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
            rep_errf(x, "ERR Unknown option or number of arguments for CONFIG SET - '%.*s'",
                     n > 128 ? 128 : n, x->argv[j].data);
            return;
        }
        if (!config_check(x, p, x->argv[j], x->argv[j + 1], &mem)) {
            return;
        }
        set_mem = set_mem || p == CFG_MAXMEMORY;
    }
    if (set_mem && store_set_memory_limit(x->store, mem) != 0) {
        rep_err(x, "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - "
                   "argument must be at least 64kb");
        return;
    }
    rep_ok(x);
}

static void
help_reply(struct resp_exec *x, const char *const *lines, size_t n)
{
    rep_array(x, n);
    for (size_t i = 0; i < n; i++) {
        rep_simple(x, lines[i]);
    }
}

void
resp_cmd_config(struct resp_exec *x)
{
    struct bstr sub = x->argv[1];
    if (arg_is(sub, "get")) {
        if (x->argc < 3) {
            rep_err_arity(x, "config|get");
        } else {
            config_get(x);
        }
    } else if (arg_is(sub, "set")) {
        if (x->argc < 4) {
            rep_err_arity(x, "config|set");
        } else {
            config_set(x);
        }
    } else if (arg_is(sub, "resetstat")) {
        if (x->argc != 2) {
            rep_err_arity(x, "config|resetstat");
        } else {
            stats_reset(x->s); /* the same baseline as memcached's `stats reset` */
            rep_ok(x);
        }
    } else if (arg_is(sub, "rewrite")) {
        if (x->argc != 2) {
            rep_err_arity(x, "config|rewrite");
        } else {
            rep_err(x, "ERR The server is running without a config file");
        }
    } else if (arg_is(sub, "help") && x->argc == 2) {
        static const char *const help[] = {
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command (and memcached's stats).",
            "HELP",
            "    Print this help.",
        };
        help_reply(x, help, sizeof(help) / sizeof(help[0]));
    } else {
        rep_err_subcommand(x);
    }
}

/* --- COMMAND --------------------------------------------------------------------- */

static void
words_set(struct resp_exec *x, const char *words)
{
    size_t n = 0;
    for (const char *p = words; *p != '\0';) {
        while (*p == ' ') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        n++;
        while (*p != '\0' && *p != ' ') {
            p++;
        }
    }
    rep_set(x, n);
    for (const char *p = words; *p != '\0';) {
        while (*p == ' ') {
            p++;
        }
        const char *start = p;
        while (*p != '\0' && *p != ' ') {
            p++;
        }
        if (p > start) {
            rep_fail(x, resp_simple(x->out, start, (size_t)(p - start)));
        }
    }
}

static void
command_entry(struct resp_exec *x, const struct resp_cmd *c)
{
    static const struct {
        unsigned bit;
        const char *name;
    } flag_names[] = {
        {RESP_CMD_WRITE, "write"}, {RESP_CMD_READONLY, "readonly"}, {RESP_CMD_DENYOOM, "denyoom"},
        {RESP_CMD_ADMIN, "admin"}, {RESP_CMD_NOSCRIPT, "noscript"}, {RESP_CMD_LOADING, "loading"},
        {RESP_CMD_STALE, "stale"}, {RESP_CMD_FAST, "fast"},         {RESP_CMD_NOAUTH, "no_auth"},
    };
    rep_array(x, 10);
    rep_bulk_str(x, c->name);
    rep_int(x, c->arity);
    size_t nf = 0;
    for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++) {
        nf += (c->flags & flag_names[i].bit) != 0;
    }
    rep_set(x, nf);
    for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++) {
        if (c->flags & flag_names[i].bit) {
            rep_simple(x, flag_names[i].name);
        }
    }
    rep_int(x, c->first_key);
    rep_int(x, c->last_key);
    rep_int(x, c->key_step);
    words_set(x, c->acl);
    rep_set(x, 0);   /* tips */
    rep_set(x, 0);   /* key specs: first/last/step above describe the keys */
    rep_array(x, 0); /* subcommands */
}

static const struct resp_cmd *
find_cmd(struct bstr name)
{
    for (size_t i = 0; i < resp_ncmds; i++) {
        if (arg_is(name, resp_cmds[i].name)) {
            return &resp_cmds[i];
        }
    }
    return NULL;
}

static void
command_doc(struct resp_exec *x, const struct resp_cmd *c)
{
    rep_bulk_str(x, c->name);
    rep_map(x, 2);
    rep_bulk_str(x, "summary");
    rep_bulk_str(x, "");
    rep_bulk_str(x, "group");
    rep_bulk_str(x, c->group);
}

static void
command_getkeys(struct resp_exec *x)
{
    const struct resp_cmd *c = find_cmd(x->argv[2]);
    if (c == NULL) {
        rep_err(x, "ERR Invalid command specified");
        return;
    }
    size_t argc = x->argc - 2;
    if ((c->arity > 0 && argc != (size_t)c->arity) || (c->arity < 0 && argc < (size_t)-c->arity)) {
        rep_err(x, "ERR Invalid number of arguments specified for command");
        return;
    }
    if (c->first_key == 0) {
        rep_err(x, "ERR The command has no key arguments");
        return;
    }
    size_t last = c->last_key < 0 ? argc + (size_t)c->last_key : (size_t)c->last_key;
    size_t n = 0;
    for (size_t i = (size_t)c->first_key; i <= last && i < argc; i += (size_t)c->key_step) {
        n++;
    }
    rep_array(x, n);
    for (size_t i = (size_t)c->first_key; i <= last && i < argc; i += (size_t)c->key_step) {
        rep_bulk(x, x->argv[2 + i].data, x->argv[2 + i].len);
    }
}

void
resp_cmd_command(struct resp_exec *x)
{
    if (x->argc == 1) {
        rep_array(x, resp_ncmds);
        for (size_t i = 0; i < resp_ncmds; i++) {
            command_entry(x, &resp_cmds[i]);
        }
        return;
    }
    struct bstr sub = x->argv[1];
    if (arg_is(sub, "count") && x->argc == 2) {
        rep_int(x, (int64_t)resp_ncmds);
    } else if (arg_is(sub, "info")) {
        if (x->argc == 2) {
            rep_array(x, resp_ncmds);
            for (size_t i = 0; i < resp_ncmds; i++) {
                command_entry(x, &resp_cmds[i]);
            }
            return;
        }
        rep_array(x, x->argc - 2);
        for (size_t j = 2; j < x->argc; j++) {
            const struct resp_cmd *c = find_cmd(x->argv[j]);
            if (c != NULL) {
                command_entry(x, c);
            } else {
                rep_null(x);
            }
        }
    } else if (arg_is(sub, "docs")) {
        size_t n = 0;
        for (size_t j = 2; j < x->argc; j++) {
            n += find_cmd(x->argv[j]) != NULL;
        }
        rep_map(x, x->argc == 2 ? resp_ncmds : n);
        for (size_t i = 0; x->argc == 2 && i < resp_ncmds; i++) {
            command_doc(x, &resp_cmds[i]);
        }
        for (size_t j = 2; j < x->argc; j++) {
            const struct resp_cmd *c = find_cmd(x->argv[j]);
            if (c != NULL) {
                command_doc(x, c);
            }
        }
    } else if (arg_is(sub, "list")) {
        rep_array(x, resp_ncmds);
        for (size_t i = 0; i < resp_ncmds; i++) {
            rep_bulk_str(x, resp_cmds[i].name);
        }
    } else if (arg_is(sub, "getkeys") && x->argc >= 4) {
        command_getkeys(x);
    } else if (arg_is(sub, "help") && x->argc == 2) {
        static const char *const help[] = {
            "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "(no subcommand)",
            "    Return details about all commands.",
            "COUNT",
            "    Return the total number of commands.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about commands.",
            "GETKEYS <full-command>",
            "    Return the keys from a full command.",
            "INFO [<command-name> ...]",
            "    Return details about commands.",
            "LIST",
            "    Return a list of all commands.",
            "HELP",
            "    Print this help.",
        };
        help_reply(x, help, sizeof(help) / sizeof(help[0]));
    } else {
        static const struct {
            const char *name;
            int arity;
        } subs[] = {{"count", 2}, {"getkeys", -4}, {"help", 2}};
        for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
            if (arg_is(sub, subs[i].name)) {
                char full[48];
                snprintf(full, sizeof(full), "command|%s", subs[i].name);
                rep_err_arity(x, full);
                return;
            }
        }
        rep_err_subcommand(x);
    }
}

/* --- TIME ----------------------------------------------------------------------- */

void
resp_cmd_time(struct resp_exec *x)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    char a[24], b[24];
    int na = snprintf(a, sizeof(a), "%lld", (long long)tv.tv_sec);
    int nb = snprintf(b, sizeof(b), "%ld", (long)tv.tv_usec);
    rep_array(x, 2);
    rep_bulk(x, a, (size_t)na);
    rep_bulk(x, b, (size_t)nb);
}
