/*
 * resp_conn: the connection commands (PING, ECHO, QUIT, AUTH,
 * HELLO, RESET, CLIENT): what a RESP connection says about itself.
 * AUTH, HELLO ... AUTH and RESET sign in and out through the one
 * credential check every protocol uses (stashd/cmd/auth.h).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/resp_arg.h"
#include "cmd/resp_cmd.h"
#include "cmd/resp_internal.h"
#include "cmd/resp_reply.h"
#include "stashd/cmd/auth.h"
#include "stashd/util/buf.h"
#include "stashd/util/clock.h"
#include "stashd/util/metrics.h"

void
resp_cmd_ping(struct resp_exec *x)
{
    if (x->argc > 2) {
        resp_reply_err_arity(x, "ping");
    } else if (x->argc == 2) {
        resp_reply_bulk(x, x->argv[1].data, x->argv[1].len);
    } else {
        resp_reply_raw(x, "+PONG\r\n", 7);
    }
}

void
resp_cmd_echo(struct resp_exec *x)
{
    resp_reply_bulk(x, x->argv[1].data, x->argv[1].len);
}

void
resp_cmd_quit(struct resp_exec *x)
{
    resp_reply_ok(x);
    x->close = true;
}

static void
set_name(struct resp_conn *c, struct bstr name)
{
    free(c->name);
    c->name = NULL;
    c->name_len = 0;
    if (name.len == 0) {
        return;
    }
    c->name = malloc(name.len);
    if (c->name != NULL) {
        memcpy(c->name, name.data, name.len);
        c->name_len = name.len;
    }
}

/* Redis's validateClientName: printable ASCII without spaces. */
static bool
name_ok(struct bstr name)
{
    for (size_t i = 0; i < name.len; i++) {
        unsigned char ch = (unsigned char)name.data[i];
        if (ch < '!' || ch > '~') {
            return false;
        }
    }
    return true;
}

/* The user a successful AUTH named ("default" is kept as NULL). */
static void
set_user(struct resp_conn *c, struct bstr user)
{
    free(c->user);
    c->user = NULL;
    c->user_len = 0;
    if (user.len == strlen(AUTH_DEFAULT_USER) &&
        memcmp(user.data, AUTH_DEFAULT_USER, user.len) == 0) {
        return;
    }
    c->user = malloc(user.len);
    if (c->user != NULL) {
        memcpy(c->user, user.data, user.len);
        c->user_len = user.len;
    }
}

#define ERR_BAD_NAME "ERR Client names cannot contain spaces, newlines or special characters."

/*
 * A user and password from AUTH or HELLO, counted as memcached counts SASL
 * attempts. With no credential configured every client is Redis's
 * "default" user without a password (nopass): any password is accepted
 * for it, and no other user exists. Otherwise the pair must be known to
 * auth_check(): --requirepass is the "default" user's password, and the
 * users of -Y and -S log in by name.
 */
static bool
password_ok(struct resp_exec *x, struct bstr user, struct bstr pass)
{
    METRIC_INC(x->m, auth_cmds);
    struct auth *a = x->s->env->auth;
    bool ok;
    if (!auth_required(a)) {
        ok = user.len == strlen(AUTH_DEFAULT_USER) &&
             memcmp(user.data, AUTH_DEFAULT_USER, user.len) == 0;
    } else {
        ok = auth_check(a, user.data, user.len, pass.data, pass.len);
    }
    if (!ok) {
        METRIC_INC(x->m, auth_errors);
    }
    return ok;
}

#define ERR_WRONGPASS "WRONGPASS invalid username-password pair or user is disabled."

void
resp_cmd_auth(struct resp_exec *x)
{
    if (x->argc > 3) {
        resp_reply_err(x, RESP_ERR_SYNTAX);
        return;
    }
    struct bstr user = BSTR_LIT(AUTH_DEFAULT_USER);
    struct bstr pass = x->argv[1];
    if (x->argc == 2) {
        if (!auth_required(x->s->env->auth)) {
            resp_reply_err(x, "ERR AUTH <password> called without any password configured for the "
                              "default user. Are you sure your configuration is correct?");
            return;
        }
    } else {
        user = x->argv[1];
        pass = x->argv[2];
    }
    if (password_ok(x, user, pass)) {
        x->s->authed = true;
        set_user(x->c, user);
        resp_reply_ok(x);
    } else {
        resp_reply_err(x, ERR_WRONGPASS);
    }
}

static void
hello_reply(struct resp_exec *x)
{
    resp_reply_map(x, 7);
    resp_reply_bulk_str(x, "server");
    resp_reply_bulk_str(x, "redis");
    resp_reply_bulk_str(x, "version");
    resp_reply_bulk_str(x, RESP_COMPAT_VERSION);
    resp_reply_bulk_str(x, "proto");
    resp_reply_int(x, x->c->resp3 ? 3 : 2);
    resp_reply_bulk_str(x, "id");
    resp_reply_int(x, (int64_t)x->c->id);
    resp_reply_bulk_str(x, "mode");
    resp_reply_bulk_str(x, "standalone");
    resp_reply_bulk_str(x, "role");
    resp_reply_bulk_str(x, "master");
    resp_reply_bulk_str(x, "modules");
    resp_reply_array(x, 0);
}

void
resp_cmd_hello(struct resp_exec *x)
{
    int64_t ver = 0;
    size_t j = 1;
    if (x->argc >= 2) {
        if (!resp_arg_i64(x->argv[j++], &ver)) {
            resp_reply_err(x, "ERR Protocol version is not an integer or out of range");
            return;
        }
        if (ver < 2 || ver > 3) {
            resp_reply_err(x, "NOPROTO unsupported protocol version");
            return;
        }
    }
    const struct bstr *user = NULL, *pass = NULL, *name = NULL;
    for (; j < x->argc; j++) {
        size_t more = x->argc - 1 - j;
        if (resp_arg_is(x->argv[j], "auth") && more >= 2) {
            user = &x->argv[j + 1];
            pass = &x->argv[j + 2];
            j += 2;
        } else if (resp_arg_is(x->argv[j], "setname") && more >= 1) {
            name = &x->argv[j + 1];
            if (!name_ok(*name)) {
                resp_reply_err(x, ERR_BAD_NAME);
                return;
            }
            j++;
        } else {
            resp_reply_errf(x, "ERR Syntax error in HELLO option '%.*s'",
                            resp_arg_print_len(x->argv[j], 128), x->argv[j].data);
            return;
        }
    }
    if (user != NULL) {
        if (!password_ok(x, *user, *pass)) {
            resp_reply_err(x, ERR_WRONGPASS);
            return;
        }
        x->s->authed = true;
        set_user(x->c, *user);
    }
    if (!x->s->authed) {
        resp_reply_err(x,
                       "NOAUTH HELLO must be called with the client already authenticated, "
                       "otherwise the HELLO AUTH <user> <pass> option can be used to "
                       "authenticate the client and select the RESP protocol version at the same "
                       "time");
        return;
    }
    if (name != NULL) {
        set_name(x->c, *name);
    }
    if (ver != 0) {
        x->c->resp3 = ver == 3;
    }
    hello_reply(x);
}

void
resp_cmd_reset(struct resp_exec *x)
{
    struct resp_conn *c = x->c;
    c->resp3 = false;
    c->db = 0;
    resp_tx_reset(c);
    x->s->authed = !auth_required(x->s->env->auth);
    set_name(c, (struct bstr){.data = "", .len = 0});
    set_user(c, BSTR_LIT(AUTH_DEFAULT_USER));
    resp_reply_raw(x, "+RESET\r\n", 8);
}

/* --- CLIENT ------------------------------------------------------------------------- */

/* A connection's address as Redis prints it (CLIENT LIST's addr and
 * laddr, CLIENT KILL's ADDR and LADDR): "1.2.3.4:5", "[::1]:5", and a
 * unix socket as "/path:0". */
static void
peer_id(const char *addr, char *out, size_t cap)
{
    if (addr == NULL) {
        addr = "";
    }
    if (strncmp(addr, "tcp:", 4) == 0) {
        snprintf(out, cap, "%s", addr + 4);
    } else if (strncmp(addr, "tcp6:", 5) == 0) {
        snprintf(out, cap, "%s", addr + 5);
    } else if (strncmp(addr, "unix:", 5) == 0) {
        snprintf(out, cap, "%s:0", addr + 5);
    } else {
        snprintf(out, cap, "%s", addr);
    }
}

/* One CLIENT LIST/INFO line in Redis's field order. Fields stashd does not
 * track are reported as a fresh idle connection's. */
static void
client_line(struct buf *b, uint64_t id, const char *addr, const char *laddr, const char *name,
            size_t name_len, int64_t age, uint32_t idle, const char *cmd, int resp)
{
    int rc =
        buf_appendf(b, "id=%llu addr=%s laddr=%s fd=-1 name=", (unsigned long long)id, addr, laddr);
    rc = rc ? rc : buf_append(b, name, name_len);
    rc = rc ? rc
            : buf_appendf(b,
                          " age=%lld idle=%u flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 "
                          "qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 "
                          "tot-mem=0 events=r cmd=%s user=default redir=-1 resp=%d\n",
                          (long long)age, (unsigned)idle, cmd, resp);
    (void)rc;
}

struct list_ctx {
    struct buf *b;
    int64_t now;
};

static void
list_one(void *fnctx, const struct cmd_conn_info *ci)
{
    struct list_ctx *l = fnctx;
    if (ci->listen_addr == NULL) {
        return; /* a listener's own row (stats conns shows those) */
    }
    char addr[160], laddr[160];
    peer_id(ci->addr, addr, sizeof(addr));
    peer_id(ci->local_addr != NULL ? ci->local_addr : ci->listen_addr, laddr, sizeof(laddr));
    client_line(l->b, ci->id, addr, laddr, "", 0, 0, ci->idle_secs, "NULL", 2);
}

static void
client_info(struct resp_exec *x, bool list)
{
    struct resp_conn *c = x->c;
    struct buf *b = &c->scratch;
    buf_reset(b);
    int64_t now = clock_unix_now();
    const struct cmd_env *env = x->s->env;
    if (list && env->each_conn != NULL) {
        struct list_ctx l = {.b = b, .now = now};
        env->each_conn(env->ctx, list_one, &l);
    } else {
        client_line(b, c->id, "", "", c->name != NULL ? c->name : "", c->name_len, now - c->created,
                    0, list ? "client|list" : "client|info", c->resp3 ? 3 : 2);
    }
    resp_reply_verbatim(x, b->data != NULL ? b->data : "", buf_readable(b));
    buf_reset(b);
}

static bool
on_off(struct resp_exec *x, struct bstr a)
{
    if (resp_arg_is(a, "on") || resp_arg_is(a, "off")) {
        return true;
    }
    resp_reply_err(x, RESP_ERR_SYNTAX);
    return false;
}

/* --- CLIENT KILL ----------------------------------------------------------------------- */

/* CLIENT KILL's filters, as Redis's clientKillCommand parses them. */
struct kill_filter {
    uint64_t id;             /* 0: any */
    const struct bstr *addr; /* NULL: any */
    const struct bstr *laddr;
    const struct bstr *user;
    bool no_type; /* TYPE master, replica or pubsub: stashd has none */
    bool skipme;
    const struct session *self;
};

/* A filter argument as Redis compares it: a C string (up to a NUL). */
static bool
arg_equals(const struct bstr *a, const char *s)
{
    size_t n = (size_t)resp_arg_print_len(*a, a->len);
    return strlen(s) == n && memcmp(a->data, s, n) == 0;
}

/* Runs on the worker that owns ci's connection (kill_conns). */
static bool
kill_match(void *fnctx, const struct cmd_conn_info *ci)
{
    const struct kill_filter *f = fnctx;
    char buf[160];
    if (f->no_type) {
        return false;
    }
    const struct resp_conn *rc = ci->sess != NULL ? resp_session_state(ci->sess) : NULL;
    if (f->id != 0) {
        uint64_t id = rc != NULL ? rc->id : ci->sess != NULL ? ci->sess->id : ci->id;
        if (id != f->id) {
            return false;
        }
    }
    if (f->addr != NULL) {
        peer_id(ci->addr, buf, sizeof(buf));
        if (!arg_equals(f->addr, buf)) {
            return false;
        }
    }
    if (f->laddr != NULL) {
        peer_id(ci->local_addr, buf, sizeof(buf));
        if (!arg_equals(f->laddr, buf)) {
            return false;
        }
    }
    if (f->user != NULL) {
        /* A connection that named no user (and every memcached one) is
         * Redis's "default". */
        const char *user = AUTH_DEFAULT_USER;
        size_t ulen = strlen(user);
        if (rc != NULL && rc->user != NULL) {
            user = rc->user;
            ulen = rc->user_len;
        }
        if (ulen != f->user->len || memcmp(user, f->user->data, ulen) != 0) {
            return false;
        }
    }
    if (f->skipme && ci->sess == f->self) {
        return false;
    }
    return true;
}

/* Parse CLIENT KILL's filters into f; replies (false) on an error. */
static bool
kill_parse(struct resp_exec *x, struct kill_filter *f)
{
    if (x->argc == 3) {
        /* The old form, CLIENT KILL addr:port: it may kill its caller. */
        f->addr = &x->argv[2];
        f->skipme = false;
        return true;
    }
    for (size_t i = 2; i < x->argc; i += 2) {
        struct bstr opt = x->argv[i];
        bool more = x->argc > i + 1;
        const struct bstr *v = more ? &x->argv[i + 1] : NULL;
        int64_t id;
        if (resp_arg_is(opt, "id") && more) {
            if (!resp_arg_i64(*v, &id) || id < 1) {
                resp_reply_err(x, "ERR client-id should be greater than 0");
                return false;
            }
            f->id = (uint64_t)id;
        } else if (resp_arg_is(opt, "type") && more) {
            if (resp_arg_is(*v, "normal")) {
                f->no_type = false;
            } else if (resp_arg_is(*v, "master") || resp_arg_is(*v, "slave") ||
                       resp_arg_is(*v, "replica") || resp_arg_is(*v, "pubsub")) {
                f->no_type = true;
            } else {
                resp_reply_errf(x, "ERR Unknown client type '%.*s'", resp_arg_print_len(*v, 128),
                                v->data);
                return false;
            }
        } else if (resp_arg_is(opt, "addr") && more) {
            f->addr = v;
        } else if (resp_arg_is(opt, "laddr") && more) {
            f->laddr = v;
        } else if (resp_arg_is(opt, "user") && more) {
            /* Without credentials the only user is "default"; with them,
             * stashd cannot list its users (the -S file is read at each
             * login), so an unknown name matches nobody. */
            if (!auth_required(x->s->env->auth) &&
                !(v->len == strlen(AUTH_DEFAULT_USER) &&
                  memcmp(v->data, AUTH_DEFAULT_USER, v->len) == 0)) {
                resp_reply_errf(x, "ERR No such user '%.*s'", resp_arg_print_len(*v, 128), v->data);
                return false;
            }
            f->user = v;
        } else if (resp_arg_is(opt, "skipme") && more) {
            if (resp_arg_is(*v, "yes")) {
                f->skipme = true;
            } else if (resp_arg_is(*v, "no")) {
                f->skipme = false;
            } else {
                resp_reply_err(x, RESP_ERR_SYNTAX);
                return false;
            }
        } else {
            resp_reply_err(x, RESP_ERR_SYNTAX);
            return false;
        }
    }
    return true;
}

/*
 * CLIENT KILL: close the matching connections, whatever protocol they
 * speak and whichever worker serves them (env->kill_conns asks each worker
 * to close its own and waits for their counts). The caller itself is
 * closed after its reply, as Redis does.
 */
static void
client_kill(struct resp_exec *x)
{
    struct kill_filter f = {.skipme = true, .self = x->s};
    if (!kill_parse(x, &f)) {
        return;
    }
    const struct cmd_env *env = x->s->env;
    bool self = false;
    unsigned long killed;
    if (env->kill_conns != NULL) {
        killed = env->kill_conns(env->ctx, kill_match, &f, x->s, &self);
    } else {
        /* No net/ (unit tests): this connection is the only one. */
        struct cmd_conn_info ci = {.addr = "", .local_addr = "", .sess = x->s};
        self = kill_match(&f, &ci);
        killed = self ? 1 : 0;
    }
    if (x->argc == 3) {
        if (killed == 0) {
            resp_reply_err(x, "ERR No such client");
        } else {
            resp_reply_ok(x);
        }
    } else {
        resp_reply_int(x, (int64_t)killed);
    }
    if (self) {
        x->close = true;
    }
}

struct subcmd {
    const char *name;
    int arity;
};

/* Find argv[1] in a subcommand table; replies (and returns NULL) when it
 * is unknown or has the wrong arity. */
static const struct subcmd *
subcommand(struct resp_exec *x, const struct subcmd *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!resp_arg_is(x->argv[1], t[i].name)) {
            continue;
        }
        bool ok = t[i].arity > 0 ? x->argc == (size_t)t[i].arity : x->argc >= (size_t)-t[i].arity;
        if (!ok) {
            char full[2 * RESP_NAME_MAX + 2];
            snprintf(full, sizeof(full), "%s|%s", x->cmd->name, t[i].name);
            resp_reply_err_arity(x, full);
            return NULL;
        }
        return &t[i];
    }
    resp_reply_err_subcommand(x);
    return NULL;
}

static const struct subcmd client_subs[] = {
    {"getname", 2}, {"help", 2},     {"id", 2},       {"info", 2},    {"kill", -3},
    {"list", -2},   {"no-evict", 3}, {"no-touch", 3}, {"setinfo", 4}, {"setname", 3},
};

void
resp_cmd_client(struct resp_exec *x)
{
    const struct subcmd *sc =
        subcommand(x, client_subs, sizeof(client_subs) / sizeof(client_subs[0]));
    if (sc == NULL) {
        return;
    }
    struct resp_conn *c = x->c;
    const char *n = sc->name;
    if (strcmp(n, "getname") == 0) {
        if (c->name != NULL) {
            resp_reply_bulk(x, c->name, c->name_len);
        } else {
            resp_reply_null(x);
        }
    } else if (strcmp(n, "setname") == 0) {
        if (!name_ok(x->argv[2])) {
            resp_reply_err(x, ERR_BAD_NAME);
            return;
        }
        set_name(c, x->argv[2]);
        resp_reply_ok(x);
    } else if (strcmp(n, "id") == 0) {
        resp_reply_int(x, (int64_t)c->id);
    } else if (strcmp(n, "info") == 0) {
        client_info(x, false);
    } else if (strcmp(n, "list") == 0) {
        client_info(x, true);
    } else if (strcmp(n, "kill") == 0) {
        client_kill(x);
    } else if (strcmp(n, "no-evict") == 0 || strcmp(n, "no-touch") == 0) {
        /* Accepted: stashd evicts by memory class, not per client. */
        if (on_off(x, x->argv[2])) {
            resp_reply_ok(x);
        }
    } else if (strcmp(n, "setinfo") == 0) {
        resp_reply_ok(x); /* lib-name / lib-ver (Redis 7.2 clients send them) */
    } else {
        static const char *help[] = {
            "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections.",
            "LIST",
            "    Return information about client connections.",
            "NO-EVICT (ON|OFF)",
            "    Accepted for compatibility.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "HELP",
            "    Print this help.",
        };
        resp_reply_help(x, help, sizeof(help) / sizeof(help[0]));
    }
}
