/*
 * A session on a real store, driven as net/ drives it: input accumulates
 * in a read buffer, session_process consumes what it can, replies are
 * drained after every call, and a yield or a pause is followed by another
 * call. Shared by the text, meta and binary command tests (header-only:
 * each test is one executable).
 */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "stashd/cmd/auth.h"
#include "stashd/cmd/session.h"
#include "stashd/cmd/stats.h"
#include "stashd/store/store.h"
#include "stashd/util/buf.h"
#include "stashd/util/clock.h"
#include "stashd/util/hash.h"
#include "stashd/util/metrics.h"
#include "stashd/util/options.h"

#define FX_MAX_ITEM (64 * 1024)

struct fixture {
    struct store *store;
    struct options opts;
    struct auth *auth;   /* made by fx_auth, from opts */
    struct stats *stats; /* reset baseline, watch log, stats detail */
    struct cmd_env env;
    struct metrics m;
    struct buf out;
    struct session s;
    char *in; /* the driver's read buffer */
    size_t in_len, in_cap;
    char *reply; /* every reply byte since the last fx_take */
    size_t reply_len, reply_cap;
    bool closed;
    size_t last_need;
    char pwdb[64]; /* a password file, when made */
    /* what the driver saw */
    unsigned yields, pauses;
    size_t max_out; /* largest output pending at a pause */
    int shutdowns, graceful;
};

/* cmd_env.shutdown: `shutdown` asks the server to stop; count it. */
static inline void
fx_on_shutdown(void *ctx, bool graceful)
{
    struct fixture *f = ctx;
    f->shutdowns++;
    f->graceful = graceful;
}

static inline void
fx_grow(char **p, size_t *len, size_t *cap, const void *src, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < *len + n + 1) {
            c *= 2;
        }
        *p = realloc(*p, c);
        assert_non_null(*p);
        *cap = c;
    }
    memcpy(*p + *len, src, n);
    *len += n;
    (*p)[*len] = '\0';
}

static inline int
fx_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    clock_setup();
    hash_setup(42);
    struct store_config cfg = {
        .memory_limit = 64u << 20,
        .max_item_size = FX_MAX_ITEM,
        .growth_factor = 1.25,
        .slab_min_size = 48,
        .shards = 4,
        .threads = 1,
        .evictions = true,
        .cas_enabled = true,
    };
    assert_int_equal(stats_create(&f->stats), 0);
    cfg.on_evict = stats_log_evict;
    cfg.evict_ctx = f->stats;
    assert_int_equal(store_create(&f->store, &cfg), 0);
    options_init(&f->opts);
    f->opts.reqs_per_event = 1000;
    f->opts.flush_enabled = true;
    f->opts.max_item_size = FX_MAX_ITEM;
    f->opts.conn_limit = 1024;
    f->env = (struct cmd_env){
        .store = f->store,
        .opts = &f->opts,
        .ctx = f,
        .shutdown = fx_on_shutdown,
        .threads = 1,
        .stats = f->stats,
    };
    buf_init(&f->out);
    session_init(&f->s, &f->env, &f->m, &f->out);
    *state = f;
    return 0;
}

static inline int
fx_teardown(void **state)
{
    struct fixture *f = *state;
    session_fini(&f->s);
    buf_fini(&f->out);
    store_destroy(&f->store);
    stats_destroy(&f->stats);
    auth_destroy(&f->auth);
    options_fini(&f->opts);
    if (f->pwdb[0] != '\0') {
        unlink(f->pwdb);
    }
    free(f->in);
    free(f->reply);
    free(f);
    return 0;
}

/* A new connection (session) on the same store. */
static inline void
fx_reconnect(struct fixture *f)
{
    session_fini(&f->s);
    session_init(&f->s, &f->env, &f->m, &f->out);
    f->in_len = 0;
    f->closed = false;
    buf_reset(&f->out);
}

/* Load the credentials f->opts names (as the server does at start), then
 * start a new connection, which must authenticate if any is set. */
static inline void
fx_auth(struct fixture *f)
{
    char err[256];
    auth_destroy(&f->auth);
    assert_int_equal(auth_create(&f->auth, &f->opts, err, sizeof(err)), 0);
    f->env.auth = f->auth;
    fx_reconnect(f);
}

/* Set an option of type OPT_STR by its field name (tests that cannot
 * name the field because it may not exist yet use this too). */
static inline void
fx_set_str(struct fixture *f, char **field, const char *value)
{
    (void)f;
    free(*field);
    *field = strdup(value);
    assert_non_null(*field);
}

static inline void
fx_drain(struct fixture *f)
{
    if (buf_readable(&f->out) > 0) {
        fx_grow(&f->reply, &f->reply_len, &f->reply_cap, f->out.data + f->out.rpos,
                buf_readable(&f->out));
        buf_reset(&f->out);
    }
}

/* Add n input bytes and serve them as net/ would: call again after a
 * yield or a pause (draining the replies first, as a client that reads).
 * Returns SESSION_OK or SESSION_CLOSE; f->last_need is the last need. */
static inline enum session_rc
fx_feed(struct fixture *f, const void *p, size_t n)
{
    assert_false(f->closed);
    fx_grow(&f->in, &f->in_len, &f->in_cap, p, n);
    for (;;) {
        size_t consumed = 99999999, need = 99999999;
        enum session_rc rc = session_process(&f->s, f->in, f->in_len, &consumed, &need);
        assert_true(consumed <= f->in_len);
        memmove(f->in, f->in + consumed, f->in_len - consumed);
        f->in_len -= consumed;
        if (rc == SESSION_PAUSE) {
            f->pauses++;
            if (buf_readable(&f->out) > f->max_out) {
                f->max_out = buf_readable(&f->out);
            }
        }
        fx_drain(f);
        f->last_need = need;
        if (rc == SESSION_YIELD) {
            f->yields++;
        }
        if (rc == SESSION_CLOSE) {
            f->closed = true;
            return rc;
        }
        if (rc == SESSION_OK) {
            assert_true(need == 0 || need > f->in_len);
            return rc;
        }
    }
}

static inline enum session_rc
fx_feed_str(struct fixture *f, const char *s)
{
    return fx_feed(f, s, strlen(s));
}

/* The replies so far (NUL-terminated), then forget them. */
static inline size_t
fx_take(struct fixture *f, char **out)
{
    static char *last;
    free(last);
    last = f->reply != NULL ? f->reply : calloc(1, 1);
    *out = last;
    size_t n = f->reply_len;
    f->reply = NULL;
    f->reply_len = f->reply_cap = 0;
    return n;
}

/* Feed a text request and require exactly this reply. */
static inline void
fx_expect(struct fixture *f, const char *req, const char *want)
{
    fx_feed_str(f, req);
    char *got;
    size_t n = fx_take(f, &got);
    if (n != strlen(want) || memcmp(got, want, n) != 0) {
        print_error("request: %s\nwant: %s\ngot:  %.*s\n", req, want, (int)n, got);
        fail();
    }
}

/* Write a password file of "user:password" lines and point -S at it. */
static inline void
fx_pwdb(struct fixture *f, const char *lines)
{
    snprintf(f->pwdb, sizeof(f->pwdb), "/tmp/stashd-pwdb-XXXXXX");
    int fd = mkstemp(f->pwdb);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, lines, strlen(lines)), (ssize_t)strlen(lines));
    close(fd);
    fx_set_str(f, &f->opts.sasl_pwdb, f->pwdb);
    f->opts.sasl = true;
    fx_auth(f);
}
