/*
 * resp_reply: a RESP reply's parts appended to the connection's output
 * (see resp_reply.h). A failed append is remembered in the call's context
 * (the loop then closes the connection); later appends still run, so a
 * handler never has to check each one.
 */
#include "cmd/resp_reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cmd/resp_arg.h"
#include "cmd/resp_cmdstats.h"
#include "cmd/resp_internal.h"
#include "stashd/proto/resp.h"
#include "stashd/store/store.h"
#include "stashd/util/buf.h"
#include "stashd/util/metrics.h"

void
resp_reply_fail(struct resp_exec *x, int rc)
{
    if (rc != 0 && x->call.err == 0) {
        x->call.err = rc;
    }
}

void
resp_reply_raw(struct resp_exec *x, const void *p, size_t n)
{
    resp_reply_fail(x, buf_append(x->out, p, n));
}

void
resp_reply_ok(struct resp_exec *x)
{
    resp_reply_raw(x, "+OK\r\n", 5);
}

void
resp_reply_simple(struct resp_exec *x, const char *s)
{
    resp_reply_fail(x, resp_simple(x->out, s, strlen(s)));
}

/* Every error reply: the worker counts it by its prefix (INFO
 * errorstats), and as a failed call of the command whose handler sent it
 * (a handler sends one reply: one error at most). */
static void
error_reply(struct resp_exec *x, const char *msg, size_t len)
{
    struct cmdstats *st = x->s->cmdstats;
    if (st != NULL) {
        cmdstats_error(st, msg, len);
        if (x->row != NULL) {
            cmdstats_fail(st, resp_cmd_slot(x->row));
        }
    }
    resp_reply_fail(x, resp_error(x->out, msg, len));
}

void
resp_reply_err(struct resp_exec *x, const char *msg)
{
    error_reply(x, msg, strlen(msg));
}

void
resp_reply_errf(struct resp_exec *x, const char *fmt, ...)
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
    error_reply(x, msg, len);
}

void
resp_reply_int(struct resp_exec *x, int64_t v)
{
    resp_reply_fail(x, resp_integer(x->out, v));
}

void
resp_reply_bulk(struct resp_exec *x, const void *p, size_t n)
{
    resp_reply_fail(x, resp_bulk(x->out, p, n));
}

void
resp_reply_bulk_str(struct resp_exec *x, const char *s)
{
    resp_reply_bulk(x, s, strlen(s));
}

void
resp_reply_null(struct resp_exec *x)
{
    resp_reply_fail(x, resp_null(x->out, x->c->resp3));
}

void
resp_reply_array(struct resp_exec *x, size_t n)
{
    resp_reply_fail(x, resp_array(x->out, n));
}

void
resp_reply_map(struct resp_exec *x, size_t n)
{
    resp_reply_fail(x, resp_map(x->out, n, x->c->resp3));
}

void
resp_reply_set(struct resp_exec *x, size_t n)
{
    resp_reply_fail(x, resp_set(x->out, n, x->c->resp3));
}

void
resp_reply_verbatim(struct resp_exec *x, const char *p, size_t n)
{
    resp_reply_fail(x, resp_verbatim(x->out, p, n, x->c->resp3));
}

void
resp_reply_err_arity(struct resp_exec *x, const char *fullname)
{
    resp_reply_errf(x, "ERR wrong number of arguments for '%s' command", fullname);
}

void
resp_reply_err_subcommand(struct resp_exec *x)
{
    char upper[RESP_NAME_MAX + 1];
    size_t n = strlen(x->cmd->name);
    for (size_t i = 0; i <= n; i++) {
        char ch = x->cmd->name[i];
        upper[i] = (char)(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
    }
    resp_reply_errf(x, "ERR unknown subcommand '%.*s'. Try %s HELP.",
                    resp_arg_print_len(x->argv[1], 128), x->argv[1].data, upper);
}

void
resp_reply_err_store(struct resp_exec *x, int store_rc, size_t keylen)
{
    if (store_rc == STORE_TOO_LARGE && (keylen == 0 || keylen > STORE_KEY_MAX)) {
        resp_reply_err(x, "ERR invalid key length (stashd keys are 1 to 250 bytes)");
    } else if (store_rc == STORE_TOO_LARGE) {
        METRIC_INC(x->m, store_too_large);
        resp_reply_err(x, RESP_ERR_TOO_BIG);
    } else {
        METRIC_INC(x->m, store_no_memory);
        resp_reply_err(x, RESP_ERR_OOM);
    }
}

void
resp_reply_help(struct resp_exec *x, const char *const *lines, size_t n)
{
    resp_reply_array(x, n);
    for (size_t i = 0; i < n; i++) {
        resp_reply_simple(x, lines[i]);
    }
}
