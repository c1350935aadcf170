/*
 * resp_command: COMMAND (COUNT, LIST, INFO, DOCS, GETKEYS, HELP) from the
 * one command table, for redis-cli's hints and clients that list
 * commands, and TIME.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "cmd/resp_arg.h"
#include "cmd/resp_internal.h"
#include "cmd/resp_reply.h"
#include "stashd/util/clock.h"
#include "stashd/util/glob.h"

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
    resp_reply_set(x, n);
    for (const char *p = words; *p != '\0';) {
        while (*p == ' ') {
            p++;
        }
        const char *start = p;
        while (*p != '\0' && *p != ' ') {
            p++;
        }
        if (p > start) {
            resp_reply_fail(x, resp_simple(x->out, start, (size_t)(p - start)));
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
        {RESP_CMD_WRITE, "write"},
        {RESP_CMD_READONLY, "readonly"},
        {RESP_CMD_DENYOOM, "denyoom"},
        {RESP_CMD_ADMIN, "admin"},
        {RESP_CMD_NOSCRIPT, "noscript"},
        {RESP_CMD_LOADING, "loading"},
        {RESP_CMD_STALE, "stale"},
        {RESP_CMD_SKIP_SLOWLOG, "skip_slowlog"},
        {RESP_CMD_FAST, "fast"},
        {RESP_CMD_NOAUTH, "no_auth"},
        {RESP_CMD_ALLOW_BUSY, "allow_busy"},
    };
    char name[2 * RESP_NAME_MAX + 2];
    resp_cmd_fullname(c, name, sizeof(name));
    resp_reply_array(x, 10);
    resp_reply_bulk_str(x, name);
    resp_reply_int(x, c->arity);
    size_t nf = 0;
    for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++) {
        nf += (c->flags & flag_names[i].bit) != 0;
    }
    resp_reply_set(x, nf);
    for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++) {
        if (c->flags & flag_names[i].bit) {
            resp_reply_simple(x, flag_names[i].name);
        }
    }
    resp_reply_int(x, c->first_key);
    resp_reply_int(x, c->last_key);
    resp_reply_int(x, c->key_step);
    words_set(x, c->acl);
    resp_reply_set(x, 0); /* tips */
    resp_reply_set(x, 0); /* key specs: first/last/step above describe the keys */
    size_t nsubs = 0;
    const struct resp_cmd *subs =
        (c->flags & RESP_CMD_CONTAINER) ? resp_subcmds_of(c, &nsubs) : NULL;
    resp_reply_array(x, nsubs);
    for (size_t i = 0; i < nsubs; i++) {
        command_entry(x, &subs[i]);
    }
}

static void
command_doc(struct resp_exec *x, const struct resp_cmd *c)
{
    resp_reply_bulk_str(x, c->name);
    resp_reply_map(x, 2);
    resp_reply_bulk_str(x, "summary");
    resp_reply_bulk_str(x, "");
    resp_reply_bulk_str(x, "group");
    resp_reply_bulk_str(x, c->group);
}

static void
command_getkeys(struct resp_exec *x)
{
    const struct resp_cmd *c = resp_cmd_lookup(x->argv[2]);
    size_t argc = x->argc - 2;
    if (c != NULL && (c->flags & RESP_CMD_CONTAINER) && argc >= 2) {
        c = resp_subcmd_lookup(c, x->argv[3]);
    }
    if (c == NULL) {
        resp_reply_err(x, "ERR Invalid command specified");
        return;
    }
    if ((c->arity > 0 && argc != (size_t)c->arity) || (c->arity < 0 && argc < (size_t)-c->arity)) {
        resp_reply_err(x, "ERR Invalid number of arguments specified for command");
        return;
    }
    if (c->first_key == 0) {
        resp_reply_err(x, "ERR The command has no key arguments");
        return;
    }
    size_t last = c->last_key < 0 ? argc + (size_t)c->last_key : (size_t)c->last_key;
    size_t n = 0;
    for (size_t i = (size_t)c->first_key; i <= last && i < argc; i += (size_t)c->key_step) {
        n++;
    }
    resp_reply_array(x, n);
    for (size_t i = (size_t)c->first_key; i <= last && i < argc; i += (size_t)c->key_step) {
        resp_reply_bulk(x, x->argv[2 + i].data, x->argv[2 + i].len);
    }
}

void
resp_cmd_command(struct resp_exec *x)
{
    if (x->argc == 1) {
        resp_reply_array(x, resp_ncmds);
        for (size_t i = 0; i < resp_ncmds; i++) {
            command_entry(x, &resp_cmds[i]);
        }
        return;
    }
    struct bstr sub = x->argv[1];
    if (resp_arg_is(sub, "count") && x->argc == 2) {
        resp_reply_int(x, (int64_t)resp_ncmds);
    } else if (resp_arg_is(sub, "info")) {
        if (x->argc == 2) {
            resp_reply_array(x, resp_ncmds);
            for (size_t i = 0; i < resp_ncmds; i++) {
                command_entry(x, &resp_cmds[i]);
            }
            return;
        }
        resp_reply_array(x, x->argc - 2);
        for (size_t j = 2; j < x->argc; j++) {
            const struct resp_cmd *c = resp_cmd_lookup(x->argv[j]);
            if (c != NULL) {
                command_entry(x, c);
            } else {
                resp_reply_null(x);
            }
        }
    } else if (resp_arg_is(sub, "docs")) {
        size_t n = 0;
        for (size_t j = 2; j < x->argc; j++) {
            n += resp_cmd_lookup(x->argv[j]) != NULL;
        }
        resp_reply_map(x, x->argc == 2 ? resp_ncmds : n);
        for (size_t i = 0; x->argc == 2 && i < resp_ncmds; i++) {
            command_doc(x, &resp_cmds[i]);
        }
        for (size_t j = 2; j < x->argc; j++) {
            const struct resp_cmd *c = resp_cmd_lookup(x->argv[j]);
            if (c != NULL) {
                command_doc(x, c);
            }
        }
    } else if (resp_arg_is(sub, "list")) {
        resp_reply_array(x, resp_ncmds);
        for (size_t i = 0; i < resp_ncmds; i++) {
            resp_reply_bulk_str(x, resp_cmds[i].name);
        }
    } else if (resp_arg_is(sub, "getkeys") && x->argc >= 4) {
        command_getkeys(x);
    } else if (resp_arg_is(sub, "help") && x->argc == 2) {
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
        resp_reply_help(x, help, sizeof(help) / sizeof(help[0]));
    } else {
        static const struct {
            const char *name;
            int arity;
        } subs[] = {{"count", 2}, {"getkeys", -4}, {"help", 2}};
        for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
            if (resp_arg_is(sub, subs[i].name)) {
                char full[48];
                snprintf(full, sizeof(full), "command|%s", subs[i].name);
                resp_reply_err_arity(x, full);
                return;
            }
        }
        resp_reply_err_subcommand(x);
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
    resp_reply_array(x, 2);
    resp_reply_bulk(x, a, (size_t)na);
    resp_reply_bulk(x, b, (size_t)nb);
}
