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

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/resp_internal.h"
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
/* The longest command name the table holds (longer ones are unknown). */
#define NAME_MAX_LEN 32
/* Room for requests made of several values of the item size limit. */
#define MAX_REQUEST_MIN ((size_t)16 << 20)

/* CLIENT ID: unique per process, as Redis's server.next_client_id.
 * Relaxed atomic; the only shared state here. */
static _Atomic uint64_t next_client_id = 1;

/* --- replies ------------------------------------------------------------------- */

void
rep_fail(struct resp_exec *x, int rc)
{
    if (rc != 0 && x->call.err == 0) {
        x->call.err = rc;
    }
}

void
rep_raw(struct resp_exec *x, const void *p, size_t n)
{
    rep_fail(x, buf_append(x->out, p, n));
}

void
rep_ok(struct resp_exec *x)
{
    rep_raw(x, "+OK\r\n", 5);
}

void
rep_simple(struct resp_exec *x, const char *s)
{
    rep_fail(x, resp_simple(x->out, s, strlen(s)));
}

void
rep_err(struct resp_exec *x, const char *msg)
{
    rep_fail(x, resp_error(x->out, msg, strlen(msg)));
}

void
rep_errf(struct resp_exec *x, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n >= sizeof(msg) ? sizeof(msg) - 1 : (size_t)n;
    /* An error is one line: Redis turns CR and LF into spaces. */
    for (size_t i = 0; i < len; i++) {
        if (msg[i] == '\r' || msg[i] == '\n') {
            msg[i] = ' ';
        }
    }
    rep_fail(x, resp_error(x->out, msg, len));
}

void
rep_int(struct resp_exec *x, int64_t v)
{
    rep_fail(x, resp_integer(x->out, v));
}

void
rep_bulk(struct resp_exec *x, const void *p, size_t n)
{
    rep_fail(x, resp_bulk(x->out, p, n));
}

void
rep_bulk_str(struct resp_exec *x, const char *s)
{
    rep_bulk(x, s, strlen(s));
}

void
rep_null(struct resp_exec *x)
{
    rep_fail(x, resp_null(x->out, x->c->resp3));
}

void
rep_array(struct resp_exec *x, size_t n)
{
    rep_fail(x, resp_array(x->out, n));
}

void
rep_map(struct resp_exec *x, size_t n)
{
    rep_fail(x, resp_map(x->out, n, x->c->resp3));
}

void
rep_set(struct resp_exec *x, size_t n)
{
    rep_fail(x, resp_set(x->out, n, x->c->resp3));
}

void
rep_verbatim(struct resp_exec *x, const char *p, size_t n)
{
    rep_fail(x, resp_verbatim(x->out, p, n, x->c->resp3));
}

void
rep_err_arity(struct resp_exec *x, const char *fullname)
{
    rep_errf(x, "ERR wrong number of arguments for '%s' command", fullname);
}

/* printf's "%.*s" of an argument as Redis prints it: a C string, so it
 * ends at the first NUL byte, and at most max bytes. */
static int
cstr_len(struct bstr a, size_t max)
{
    const char *nul = memchr(a.data, '\0', a.len);
    size_t n = nul != NULL ? (size_t)(nul - a.data) : a.len;
    return (int)(n < max ? n : max);
}

void
rep_err_subcommand(struct resp_exec *x)
{
    char upper[NAME_MAX_LEN + 1];
    size_t n = strlen(x->cmd->name);
    for (size_t i = 0; i <= n; i++) {
        char ch = x->cmd->name[i];
        upper[i] = (char)(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
    }
    rep_errf(x, "ERR unknown subcommand '%.*s'. Try %s HELP.", cstr_len(x->argv[1], 128),
             x->argv[1].data, upper);
}

void
rep_err_store(struct resp_exec *x, int store_rc, size_t keylen)
{
    if (store_rc == STORE_TOO_LARGE && (keylen == 0 || keylen > STORE_KEY_MAX)) {
        rep_err(x, "ERR invalid key length (stashd keys are 1 to 250 bytes)");
    } else if (store_rc == STORE_TOO_LARGE) {
        METRIC_INC(x->m, store_too_large);
        rep_err(x, REP_ERR_TOO_BIG);
    } else {
        METRIC_INC(x->m, store_no_memory);
        rep_err(x, REP_ERR_OOM);
    }
}

/* --- argument helpers ------------------------------------------------------------- */

bool
arg_is(struct bstr a, const char *lower)
{
    size_t n = strlen(lower);
    if (a.len != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = a.data[i];
        if (ch >= 'A' && ch <= 'Z') {
            ch = (char)(ch + 32);
        }
        if (ch != lower[i]) {
            return false;
        }
    }
    return true;
}

bool
arg_ll(struct bstr a, int64_t *out)
{
    const char *p = a.data;
    size_t n = a.len;
    if (n == 0 || n > 20) {
        return false;
    }
    if (n == 1 && p[0] == '0') {
        *out = 0;
        return true;
    }
    bool neg = p[0] == '-';
    size_t i = neg ? 1 : 0;
    if (i >= n || p[i] < '1' || p[i] > '9') {
        return false;
    }
    uint64_t v = 0;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return false;
        }
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1) {
            return false;
        }
        *out = (int64_t)(0 - v);
    } else {
        if (v > (uint64_t)INT64_MAX) {
            return false;
        }
        *out = (int64_t)v;
    }
    return true;
}

static inline int
lower(int c, bool nocase)
{
    return nocase && c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Redis patterns nest no deeper than this many stars (a pathological
 * pattern then simply does not match). */
#define GLOB_NESTING_MAX 1000

/*
 * A character class, after its '[': does it hold c? Leaves *pp on the
 * closing ']' or, when there is none, on the pattern's last byte (Redis
 * then takes the rest of the pattern as the class).
 */
static bool
glob_class(const unsigned char **pp, size_t *plenp, int c, bool nocase)
{
    const unsigned char *p = *pp;
    size_t plen = *plenp;
    bool not = plen > 0 && p[0] == '^';
    if (not ) {
        p++;
        plen--;
    }
    bool match = false;
    for (;;) {
        if (plen >= 2 && p[0] == '\\') {
            p++;
            plen--;
            match = match || p[0] == c;
        } else if (plen == 0) {
            p--;
            plen++;
            break;
        } else if (p[0] == ']') {
            break;
        } else if (plen >= 3 && p[1] == '-') {
            int lo = lower(p[0], nocase), hi = lower(p[2], nocase);
            if (lo > hi) {
                int t = lo;
                lo = hi;
                hi = t;
            }
            int lc = lower(c, nocase);
            match = match || (lc >= lo && lc <= hi);
            p += 2;
            plen -= 2;
        } else {
            match = match || lower(p[0], nocase) == lower(c, nocase);
        }
        p++;
        plen--;
    }
    *pp = p;
    *plenp = plen;
    return not ? !match : match;
}

/*
 * Redis 7.0's stringmatchlen, quirks included ('[' without ']' takes the
 * rest of the pattern as its class; "[a-]" is the range a..']'; "\\"
 * escapes), with every read bounded by the lengths: arguments are views,
 * not NUL-terminated. *skip is Redis's skipLongerMatches: once the rest
 * of the pattern after a star matches nowhere, longer matches of earlier
 * stars cannot help, which keeps the match polynomial.
 */
static bool
glob_impl(const unsigned char *p, size_t plen, const unsigned char *s, size_t slen, bool nocase,
          bool *skip, int nesting)
{
    if (nesting > GLOB_NESTING_MAX) {
        return false;
    }
    while (plen > 0 && slen > 0) {
        if (p[0] == '*') {
            while (plen > 1 && p[1] == '*') {
                p++;
                plen--;
            }
            if (plen == 1) {
                return true;
            }
            for (; slen > 0; s++, slen--) {
                if (glob_impl(p + 1, plen - 1, s, slen, nocase, skip, nesting + 1)) {
                    return true;
                }
                if (*skip) {
                    return false;
                }
            }
            *skip = true;
            return false;
        }
        if (p[0] == '[') {
            p++;
            plen--;
            if (!glob_class(&p, &plen, s[0], nocase)) {
                return false;
            }
        } else if (p[0] != '?') {
            if (p[0] == '\\' && plen >= 2) {
                p++;
                plen--;
            }
            if (lower(p[0], nocase) != lower(s[0], nocase)) {
                return false;
            }
        }
        s++;
        slen--;
        p++;
        plen--;
        if (slen == 0) {
            while (plen > 0 && p[0] == '*') {
                p++;
                plen--;
            }
        }
    }
    return plen == 0 && slen == 0;
}

bool
resp_glob(const char *pat, size_t plen, const char *str, size_t slen, bool nocase)
{
    bool skip = false;
    return glob_impl((const unsigned char *)pat, plen, (const unsigned char *)str, slen, nocase,
                     &skip, 0);
}

/* --- connection commands -------------------------------------------------------- */

static void
cmd_ping(struct resp_exec *x)
{
    if (x->argc > 2) {
        rep_err_arity(x, "ping");
    } else if (x->argc == 2) {
        rep_bulk(x, x->argv[1].data, x->argv[1].len);
    } else {
        rep_raw(x, "+PONG\r\n", 7);
    }
}

static void
cmd_echo(struct resp_exec *x)
{
    rep_bulk(x, x->argv[1].data, x->argv[1].len);
}

static void
cmd_quit(struct resp_exec *x)
{
    rep_ok(x);
    x->close = true;
}

static void
cmd_select(struct resp_exec *x)
{
    int64_t db;
    if (!arg_ll(x->argv[1], &db)) {
        rep_err(x, REP_ERR_NOT_INT);
    } else if (db != 0) {
        /* One keyspace: as a Redis configured with "databases 1". */
        rep_err(x, "ERR DB index is out of range");
    } else {
        rep_ok(x);
    }
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

static void
cmd_auth(struct resp_exec *x)
{
    if (x->argc > 3) {
        rep_err(x, REP_ERR_SYNTAX);
        return;
    }
    struct bstr user = BSTR_LIT(AUTH_DEFAULT_USER);
    struct bstr pass = x->argv[1];
    if (x->argc == 2) {
        if (!auth_required(x->s->env->auth)) {
            rep_err(x, "ERR AUTH <password> called without any password configured for the "
                       "default user. Are you sure your configuration is correct?");
            return;
        }
    } else {
        user = x->argv[1];
        pass = x->argv[2];
    }
    if (password_ok(x, user, pass)) {
        x->s->authed = true;
        rep_ok(x);
    } else {
        rep_err(x, ERR_WRONGPASS);
    }
}

static void
hello_reply(struct resp_exec *x)
{
    rep_map(x, 7);
    rep_bulk_str(x, "server");
    rep_bulk_str(x, "redis");
    rep_bulk_str(x, "version");
    rep_bulk_str(x, RESP_COMPAT_VERSION);
    rep_bulk_str(x, "proto");
    rep_int(x, x->c->resp3 ? 3 : 2);
    rep_bulk_str(x, "id");
    rep_int(x, (int64_t)x->c->id);
    rep_bulk_str(x, "mode");
    rep_bulk_str(x, "standalone");
    rep_bulk_str(x, "role");
    rep_bulk_str(x, "master");
    rep_bulk_str(x, "modules");
    rep_array(x, 0);
}

static void
cmd_hello(struct resp_exec *x)
{
    int64_t ver = 0;
    size_t j = 1;
    if (x->argc >= 2) {
        if (!arg_ll(x->argv[j++], &ver)) {
            rep_err(x, "ERR Protocol version is not an integer or out of range");
            return;
        }
        if (ver < 2 || ver > 3) {
            rep_err(x, "NOPROTO unsupported protocol version");
            return;
        }
    }
    const struct bstr *user = NULL, *pass = NULL, *name = NULL;
    for (; j < x->argc; j++) {
        size_t more = x->argc - 1 - j;
        if (arg_is(x->argv[j], "auth") && more >= 2) {
            user = &x->argv[j + 1];
            pass = &x->argv[j + 2];
            j += 2;
        } else if (arg_is(x->argv[j], "setname") && more >= 1) {
            name = &x->argv[j + 1];
            if (!name_ok(*name)) {
                rep_err(x, ERR_BAD_NAME);
                return;
            }
            j++;
        } else {
            rep_errf(x, "ERR Syntax error in HELLO option '%.*s'", cstr_len(x->argv[j], 128),
                     x->argv[j].data);
            return;
        }
    }
    if (user != NULL) {
        if (!password_ok(x, *user, *pass)) {
            rep_err(x, ERR_WRONGPASS);
            return;
        }
        x->s->authed = true;
    }
    if (!x->s->authed) {
        rep_err(x, "NOAUTH HELLO must be called with the client already authenticated, "
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

static void
cmd_reset(struct resp_exec *x)
{
    struct resp_conn *c = x->c;
    c->resp3 = false;
    x->s->authed = !auth_required(x->s->env->auth);
    set_name(c, (struct bstr){.data = "", .len = 0});
    rep_raw(x, "+RESET\r\n", 8);
}

/* --- CLIENT ------------------------------------------------------------------------- */

/* One CLIENT LIST/INFO line in Redis's field order. Fields stashd does not
 * track are reported as a fresh idle connection's. */
static void
client_line(struct buf *b, uint64_t id, const char *addr, const char *name, size_t name_len,
            int64_t age, uint32_t idle, const char *cmd, int resp)
{
    int rc = buf_appendf(b, "id=%llu addr=%s laddr= fd=-1 name=", (unsigned long long)id, addr);
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
    const char *addr = ci->addr != NULL ? ci->addr : "";
    if (strncmp(addr, "tcp:", 4) == 0) {
        addr += 4;
    }
    client_line(l->b, ci->id, addr, "", 0, 0, ci->idle_secs, "NULL", 2);
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
        client_line(b, c->id, "", c->name != NULL ? c->name : "", c->name_len, now - c->created, 0,
                    list ? "client|list" : "client|info", c->resp3 ? 3 : 2);
    }
    rep_verbatim(x, b->data != NULL ? b->data : "", buf_readable(b));
    buf_reset(b);
}

static bool
on_off(struct resp_exec *x, struct bstr a)
{
    if (arg_is(a, "on") || arg_is(a, "off")) {
        return true;
    }
    rep_err(x, REP_ERR_SYNTAX);
    return false;
}

static void
client_kill(struct resp_exec *x)
{
    if (x->argc == 3) {
        /* The old form, CLIENT KILL addr:port. stashd cannot close other
         * connections: none is found. */
        rep_err(x, "ERR No such client");
        return;
    }
    if ((x->argc - 2) % 2 != 0) {
        rep_err(x, REP_ERR_SYNTAX);
        return;
    }
    for (size_t j = 2; j < x->argc; j += 2) {
        struct bstr f = x->argv[j];
        int64_t v;
        if (arg_is(f, "id")) {
            if (!arg_ll(x->argv[j + 1], &v) || v <= 0) {
                rep_err(x, "ERR client-id should be greater than 0");
                return;
            }
        } else if (arg_is(f, "skipme")) {
            if (!arg_is(x->argv[j + 1], "yes") && !arg_is(x->argv[j + 1], "no")) {
                rep_err(x, REP_ERR_SYNTAX);
                return;
            }
        } else if (!arg_is(f, "addr") && !arg_is(f, "laddr") && !arg_is(f, "user") &&
                   !arg_is(f, "type") && !arg_is(f, "maxage")) {
            rep_err(x, REP_ERR_SYNTAX);
            return;
        }
    }
    rep_int(x, 0);
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
        if (!arg_is(x->argv[1], t[i].name)) {
            continue;
        }
        bool ok = t[i].arity > 0 ? x->argc == (size_t)t[i].arity : x->argc >= (size_t)-t[i].arity;
        if (!ok) {
            char full[2 * NAME_MAX_LEN + 2];
            snprintf(full, sizeof(full), "%s|%s", x->cmd->name, t[i].name);
            rep_err_arity(x, full);
            return NULL;
        }
        return &t[i];
    }
    rep_err_subcommand(x);
    return NULL;
}

static const struct subcmd client_subs[] = {
    {"getname", 2}, {"help", 2},     {"id", 2},       {"info", 2},    {"kill", -3},
    {"list", -2},   {"no-evict", 3}, {"no-touch", 3}, {"setinfo", 4}, {"setname", 3},
};

static void
cmd_client(struct resp_exec *x)
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
            rep_bulk(x, c->name, c->name_len);
        } else {
            rep_null(x);
        }
    } else if (strcmp(n, "setname") == 0) {
        if (!name_ok(x->argv[2])) {
            rep_err(x, ERR_BAD_NAME);
            return;
        }
        set_name(c, x->argv[2]);
        rep_ok(x);
    } else if (strcmp(n, "id") == 0) {
        rep_int(x, (int64_t)c->id);
    } else if (strcmp(n, "info") == 0) {
        client_info(x, false);
    } else if (strcmp(n, "list") == 0) {
        client_info(x, true);
    } else if (strcmp(n, "kill") == 0) {
        client_kill(x);
    } else if (strcmp(n, "no-evict") == 0 || strcmp(n, "no-touch") == 0) {
        /* Accepted: stashd evicts by memory class, not per client. */
        if (on_off(x, x->argv[2])) {
            rep_ok(x);
        }
    } else if (strcmp(n, "setinfo") == 0) {
        rep_ok(x); /* lib-name / lib-ver (Redis 7.2 clients send them) */
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
        rep_array(x, sizeof(help) / sizeof(help[0]));
        for (size_t i = 0; i < sizeof(help) / sizeof(help[0]); i++) {
            rep_simple(x, help[i]);
        }
    }
}

/* --- the command table -------------------------------------------------------------- */

#define W RESP_CMD_WRITE
#define R RESP_CMD_READONLY
#define M RESP_CMD_DENYOOM
#define F RESP_CMD_FAST
#define A RESP_CMD_ADMIN
#define CONN (RESP_CMD_NOSCRIPT | RESP_CMD_LOADING | RESP_CMD_STALE)

/* Sorted by name (a unit test checks). Arity, flags, key positions and
 * ACL categories are Redis 7.0's. */
const struct resp_cmd resp_cmds[] = {
    {"append", 3, W | M, 1, 1, 1, "@write @string @fast", "string", resp_cmd_append},
    {"auth", -2, CONN | F | RESP_CMD_NOAUTH, 0, 0, 0, "@fast @connection", "connection", cmd_auth},
    {"client", -2, 0, 0, 0, 0, "@slow", "connection", cmd_client},
    {"command", -1, RESP_CMD_LOADING | RESP_CMD_STALE, 0, 0, 0, "@slow @connection", "server",
     resp_cmd_command},
    {"config", -2, 0, 0, 0, 0, "@slow", "server", resp_cmd_config},
    {"dbsize", 1, R | F, 0, 0, 0, "@keyspace @read @fast", "server", resp_cmd_dbsize},
    {"decr", 2, W | M | F, 1, 1, 1, "@write @string @fast", "string", resp_cmd_decr},
    {"decrby", 3, W | M | F, 1, 1, 1, "@write @string @fast", "string", resp_cmd_decrby},
    {"del", -2, W, 1, -1, 1, "@keyspace @write @slow", "generic", resp_cmd_del},
    {"echo", 2, F, 0, 0, 0, "@fast @connection", "connection", cmd_echo},
    {"exists", -2, R | F, 1, -1, 1, "@keyspace @read @fast", "generic", resp_cmd_exists},
    {"expire", -3, W | F, 1, 1, 1, "@keyspace @write @fast", "generic", resp_cmd_expire},
    {"expireat", -3, W | F, 1, 1, 1, "@keyspace @write @fast", "generic", resp_cmd_expireat},
    {"expiretime", 2, R | F, 1, 1, 1, "@keyspace @read @fast", "generic", resp_cmd_expiretime},
    {"flushall", -1, W, 0, 0, 0, "@keyspace @write @slow @dangerous", "server", resp_cmd_flushall},
    {"flushdb", -1, W, 0, 0, 0, "@keyspace @write @slow @dangerous", "server", resp_cmd_flushall},
    {"get", 2, R | F, 1, 1, 1, "@read @string @fast", "string", resp_cmd_get},
    {"getdel", 2, W | F, 1, 1, 1, "@write @string @fast", "string", resp_cmd_getdel},
    {"getex", -2, W | F, 1, 1, 1, "@write @string @fast", "string", resp_cmd_getex},
    {"getrange", 4, R, 1, 1, 1, "@read @string @slow", "string", resp_cmd_getrange},
    {"getset", 3, W | M | F, 1, 1, 1, "@write @string @fast", "string", resp_cmd_getset},
    {"hello", -1, CONN | F | RESP_CMD_NOAUTH, 0, 0, 0, "@fast @connection", "connection",
     cmd_hello},
    {"hotkeys", -1, R, 0, 0, 0, "@read @slow", "server", resp_cmd_hotkeys},
    {"incr", 2, W | M | F, 1, 1, 1, "@write @string @fast", "string", resp_cmd_incr},
    {"incrby", 3, W | M | F, 1, 1, 1, "@write @string @fast", "string", resp_cmd_incrby},
    {"incrbyfloat", 3, W | M | F, 1, 1, 1, "@write @string @fast", "string", resp_cmd_incrbyfloat},
    {"info", -1, RESP_CMD_LOADING | RESP_CMD_STALE, 0, 0, 0, "@slow @dangerous", "server",
     resp_cmd_info},
    {"keys", 2, R, 0, 0, 0, "@keyspace @read @slow @dangerous", "generic", resp_cmd_keys},
    {"mget", -2, R | F, 1, -1, 1, "@read @string @fast", "string", resp_cmd_mget},
    {"mset", -3, W | M, 1, -1, 2, "@write @string @slow", "string", resp_cmd_mset},
    {"msetnx", -3, W | M, 1, -1, 2, "@write @string @slow", "string", resp_cmd_msetnx},
    {"persist", 2, W | F, 1, 1, 1, "@keyspace @write @fast", "generic", resp_cmd_persist},
    {"pexpire", -3, W | F, 1, 1, 1, "@keyspace @write @fast", "generic", resp_cmd_pexpire},
    {"pexpireat", -3, W | F, 1, 1, 1, "@keyspace @write @fast", "generic", resp_cmd_pexpireat},
    {"pexpiretime", 2, R | F, 1, 1, 1, "@keyspace @read @fast", "generic", resp_cmd_pexpiretime},
    {"ping", -1, F, 0, 0, 0, "@fast @connection", "connection", cmd_ping},
    {"psetex", 4, W | M, 1, 1, 1, "@write @string @slow", "string", resp_cmd_psetex},
    {"pttl", 2, R | F, 1, 1, 1, "@keyspace @read @fast", "generic", resp_cmd_pttl},
    {"quit", -1, CONN | F | RESP_CMD_NOAUTH, 0, 0, 0, "@fast @connection", "connection", cmd_quit},
    {"randomkey", 1, R, 0, 0, 0, "@keyspace @read @slow", "generic", resp_cmd_randomkey},
    {"reset", 1, CONN | F | RESP_CMD_NOAUTH, 0, 0, 0, "@fast @connection", "connection", cmd_reset},
    {"scan", -2, R, 0, 0, 0, "@keyspace @read @slow", "generic", resp_cmd_scan},
    {"select", 2, RESP_CMD_LOADING | RESP_CMD_STALE | F, 0, 0, 0, "@fast @connection", "connection",
     cmd_select},
    {"set", -3, W | M, 1, 1, 1, "@write @string @slow", "string", resp_cmd_set},
    {"setex", 4, W | M, 1, 1, 1, "@write @string @slow", "string", resp_cmd_setex},
    {"setnx", 3, W | M | F, 1, 1, 1, "@write @string @fast", "string", resp_cmd_setnx},
    {"setrange", 4, W | M, 1, 1, 1, "@write @string @slow", "string", resp_cmd_setrange},
    {"strlen", 2, R | F, 1, 1, 1, "@read @string @fast", "string", resp_cmd_strlen},
    {"time", 1, RESP_CMD_LOADING | RESP_CMD_STALE | F, 0, 0, 0, "@fast", "server", resp_cmd_time},
    {"ttl", 2, R | F, 1, 1, 1, "@keyspace @read @fast", "generic", resp_cmd_ttl},
    {"type", 2, R | F, 1, 1, 1, "@keyspace @read @fast", "generic", resp_cmd_type},
    {"unlink", -2, W | F, 1, -1, 1, "@keyspace @write @fast", "generic", resp_cmd_del},
};
const size_t resp_ncmds = sizeof(resp_cmds) / sizeof(resp_cmds[0]);

#undef W
#undef R
#undef M
#undef F
#undef A
#undef CONN

/* strcmp of low[0..len) (not NUL-terminated) with a table name. */
static int
name_cmp(const char *low, size_t len, const char *name)
{
    size_t i = 0;
    for (; i < len && name[i] != '\0'; i++) {
        if (low[i] != name[i]) {
            return (unsigned char)low[i] - (unsigned char)name[i];
        }
    }
    if (i < len) {
        return 1; /* the name is a prefix of the argument */
    }
    return name[i] == '\0' ? 0 : -1;
}

/* The row named by argv[0] (any case), or NULL: a binary search over the
 * sorted table, about six short compares. */
static const struct resp_cmd *
lookup(struct bstr name)
{
    char low[NAME_MAX_LEN];
    if (name.len == 0 || name.len >= sizeof(low)) {
        return NULL;
    }
    for (size_t i = 0; i < name.len; i++) {
        char ch = name.data[i];
        low[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    size_t lo = 0, hi = resp_ncmds;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int d = name_cmp(low, name.len, resp_cmds[mid].name);
        if (d == 0) {
            return &resp_cmds[mid];
        }
        if (d < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return NULL;
}

/* Redis's unknown-command error: the name and the start of the arguments,
 * each cut at 128 bytes (and at a NUL, as C strings), quoted. */
static void
unknown_command(struct resp_exec *x)
{
    char args[512];
    size_t n = 0;
    for (size_t i = 1; i < x->argc && n < 128; i++) {
        int len = cstr_len(x->argv[i], 128 - n);
        int w = snprintf(args + n, sizeof(args) - n, "'%.*s' ", len, x->argv[i].data);
        if (w < 0) {
            break;
        }
        n += (size_t)w;
    }
    args[n] = '\0';
    rep_errf(x, "ERR unknown command '%.*s', with args beginning with: %s",
             cstr_len(x->argv[0], 128), x->argv[0].data, args);
}

static void
execute(struct resp_exec *x)
{
    const struct resp_cmd *cmd = lookup(x->argv[0]);
    if (cmd == NULL) {
        unknown_command(x);
        return;
    }
    x->cmd = cmd;
    if ((cmd->arity > 0 && x->argc != (size_t)cmd->arity) ||
        (cmd->arity < 0 && x->argc < (size_t)-cmd->arity)) {
        rep_err_arity(x, cmd->name);
        return;
    }
    if (!x->s->authed && !(cmd->flags & RESP_CMD_NOAUTH)) {
        rep_raw(x, "-NOAUTH Authentication required.\r\n", 34);
        return;
    }
    cmd->handler(x);
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
    c->id = atomic_fetch_add_explicit(&next_client_id, 1, memory_order_relaxed);
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
    buf_fini(&c->scratch);
    free(c);
    s->proto_state = NULL;
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
    rep_errf(x, "%s", msg);
}

/* The step: one request (see step.h). */
static enum step_rc
resp_step(struct session_call *call, char *data, size_t len, size_t *used, size_t *need)
{
    struct resp_exec *x = (struct resp_exec *)call;
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
        execute(x);
        argv_shrink(c);
    }
    *used = req.consumed;
    return x->close ? STEP_CLOSE : STEP_DONE;
}

static const struct session_steps resp_steps = {.step = resp_step};

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
    struct resp_exec x = {
        .s = s,
        .c = c,
        .store = s->env->store,
        .m = s->metrics,
        .out = s->out,
    };
    session_call_init(&x.call, s);
    return session_run(&x.call, &resp_steps, data, len, consumed, need);
}
