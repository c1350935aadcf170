/*
 * resp_db: Redis's numbered databases: SELECT, DBSIZE, FLUSHALL,
 * FLUSHDB, SWAPDB, MOVE, COPY, RENAME, RENAMENX and INFO's Keyspace
 * section.
 *
 * A connection names databases as clients do (c->db, 0 .. databases-1);
 * the store numbers them its own way after SWAPDB (store_db_phys), and
 * each command reads that number once as it starts (x->db). Keys carry
 * it, so a key's database is part of its identity in the store: MOVE and
 * COPY ... DB copy one item within one shard, RENAME and COPY lock the
 * two keys' shards together (store_copy), nothing is copied twice.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd/resp_arg.h"
#include "cmd/resp_internal.h"
#include "cmd/resp_reply.h"
#include "stashd/store/store.h"
#include "stashd/util/buf.h"
#include "stashd/util/metrics.h"
#include "stashd/util/options.h"

#define ERR_DB_RANGE "ERR DB index is out of range"
#define ERR_SAME "ERR source and destination objects are the same"

/* A database index as Redis reads one (getIntFromObjectOrReply: msg, if
 * not NULL, for either error); false after the error reply. The range of
 * databases is checked apart. */
static bool
db_int(struct resp_exec *x, struct bstr a, const char *msg, int64_t *db)
{
    if (!resp_arg_i64(a, db)) {
        resp_reply_err(x, msg != NULL ? msg : RESP_ERR_NOT_INT);
        return false;
    }
    if (*db < INT32_MIN || *db > INT32_MAX) {
        resp_reply_err(x, msg != NULL ? msg
                                      : "ERR value is out of range, value must between "
                                        "-2147483648 and 2147483647");
        return false;
    }
    return true;
}

static bool
db_in_range(struct resp_exec *x, int64_t db)
{
    if (db < 0 || db >= (int64_t)store_databases(x->store)) {
        resp_reply_err(x, ERR_DB_RANGE);
        return false;
    }
    return true;
}

/* A database index argument: -1 after an error reply, else the index. */
static int
db_arg(struct resp_exec *x, struct bstr a)
{
    int64_t db;
    if (!db_int(x, a, NULL, &db) || !db_in_range(x, db)) {
        return -1;
    }
    return (int)db;
}

void
resp_cmd_select(struct resp_exec *x)
{
    int db = db_arg(x, x->argv[1]);
    if (db >= 0) {
        x->c->db = (uint8_t)db;
        x->db = store_db_phys(x->store, (unsigned)db); /* for what follows in an EXEC */
        resp_reply_ok(x);
    }
}

void
resp_cmd_dbsize(struct resp_exec *x)
{
    resp_reply_int(x, (int64_t)store_db_keys(x->store, x->db));
}

/* FLUSHALL and FLUSHDB [SYNC|ASYNC]: both take effect at once whichever
 * is asked (FLUSHALL invalidates every item in O(shards); FLUSHDB walks
 * the shards that hold the database's items). false after an error
 * reply. */
static bool
flush_ok(struct resp_exec *x, const char *name)
{
    if (x->argc > 2 ||
        (x->argc == 2 && !resp_arg_is(x->argv[1], "sync") && !resp_arg_is(x->argv[1], "async"))) {
        resp_reply_err(x, RESP_ERR_SYNTAX);
        return false;
    }
    METRIC_INC(x->m, cmd_flush);
    if (!x->s->env->opts->flush_enabled) {
        resp_reply_errf(x, "ERR %s is disabled on this server (-F)", name);
        return false;
    }
    return true;
}

void
resp_cmd_flushall(struct resp_exec *x)
{
    if (flush_ok(x, "FLUSHALL")) {
        store_flush(x->store, 0);
        resp_reply_ok(x);
    }
}

void
resp_cmd_flushdb(struct resp_exec *x)
{
    if (!flush_ok(x, "FLUSHDB")) {
        return;
    }
    if (store_databases(x->store) == 1) {
        store_flush(x->store, 0); /* one database: the O(1) flush */
    } else {
        store_flush_db(x->store, x->db);
    }
    resp_reply_ok(x);
}

void
resp_cmd_swapdb(struct resp_exec *x)
{
    int64_t a, b;
    if (!db_int(x, x->argv[1], "ERR invalid first DB index", &a) ||
        !db_int(x, x->argv[2], "ERR invalid second DB index", &b) || !db_in_range(x, a) ||
        !db_in_range(x, b)) {
        return;
    }
    store_swap_db(x->store, (unsigned)a, (unsigned)b);
    x->db = store_db_phys(x->store, x->c->db);
    resp_reply_ok(x);
}

/* The reply to a store_copy that did not copy, when it is an error. */
static void
copy_failed(struct resp_exec *x, enum store_rc rc, size_t keylen)
{
    resp_reply_err_store(x, (int)rc, keylen);
}

void
resp_cmd_move(struct resp_exec *x)
{
    int db = db_arg(x, x->argv[2]);
    if (db < 0) {
        return;
    }
    uint8_t to = store_db_phys(x->store, (unsigned)db);
    if (to == x->db) {
        resp_reply_err(x, ERR_SAME);
        return;
    }
    struct store_key src, dst;
    resp_key(x, &src, x->argv[1]);
    store_key_init_db(&dst, src.data, src.len, to);
    enum store_rc rc = store_copy(x->store, &src, &dst, false, true);
    if (rc == STORE_OK || rc == STORE_NOT_FOUND || rc == STORE_NOT_STORED) {
        resp_reply_int(x, rc == STORE_OK);
    } else {
        copy_failed(x, rc, src.len);
    }
}

/* COPY source destination [DB destination-db] [REPLACE] */
void
resp_cmd_copy(struct resp_exec *x)
{
    int64_t db = x->c->db;
    bool replace = false;
    for (size_t i = 3; i < x->argc; i++) {
        if (resp_arg_is(x->argv[i], "replace")) {
            replace = true;
        } else if (resp_arg_is(x->argv[i], "db") && i + 1 < x->argc) {
            if (!db_int(x, x->argv[++i], NULL, &db) || !db_in_range(x, db)) {
                return;
            }
        } else {
            resp_reply_err(x, RESP_ERR_SYNTAX);
            return;
        }
    }
    uint8_t to = store_db_phys(x->store, (unsigned)db);
    struct store_key src, dst;
    resp_key(x, &src, x->argv[1]);
    store_key_init_db(&dst, x->argv[2].data, x->argv[2].len, to);
    if (to == x->db && bstr_eq(x->argv[1], x->argv[2])) {
        resp_reply_err(x, ERR_SAME);
        return;
    }
    enum store_rc rc = store_copy(x->store, &src, &dst, replace, false);
    if (rc == STORE_OK || rc == STORE_NOT_FOUND || rc == STORE_NOT_STORED) {
        resp_reply_int(x, rc == STORE_OK);
    } else {
        copy_failed(x, rc, dst.len);
    }
}

static void
on_exists(void *ctx, const struct store_item_view *v)
{
    (void)v;
    *(bool *)ctx = true;
}

/* RENAME and RENAMENX: the item moves to the new key with its value,
 * flags and expiry, as one step. */
static void
rename_generic(struct resp_exec *x, bool nx)
{
    struct store_key src, dst;
    resp_key(x, &src, x->argv[1]);
    resp_key(x, &dst, x->argv[2]);
    if (bstr_eq(x->argv[1], x->argv[2])) {
        /* Redis: the same key is renamed to itself if it exists. */
        bool found = false;
        (void)store_get(x->store, &src, NULL, on_exists, &found, NULL);
        if (!found) {
            resp_reply_err(x, "ERR no such key");
        } else if (nx) {
            resp_reply_int(x, 0);
        } else {
            resp_reply_ok(x);
        }
        return;
    }
    enum store_rc rc = store_copy(x->store, &src, &dst, !nx, true);
    if (rc == STORE_NOT_FOUND) {
        resp_reply_err(x, "ERR no such key");
    } else if (rc == STORE_OK && !nx) {
        resp_reply_ok(x);
    } else if (rc == STORE_OK || rc == STORE_NOT_STORED) {
        resp_reply_int(x, rc == STORE_OK);
    } else {
        copy_failed(x, rc, dst.len);
    }
}

void
resp_cmd_rename(struct resp_exec *x)
{
    rename_generic(x, false);
}

void
resp_cmd_renamenx(struct resp_exec *x)
{
    rename_generic(x, true);
}

int
resp_info_keyspace(struct resp_exec *x, struct buf *b)
{
    unsigned n = store_databases(x->store);
    struct store_db_info *info = calloc(n, sizeof(*info));
    if (info == NULL) {
        return -ENOMEM;
    }
    store_db_info(x->store, info);
    int rc = BUF_APPEND_LIT(b, "# Keyspace\r\n");
    for (unsigned l = 0; l < n && rc == 0; l++) {
        const struct store_db_info *d = &info[store_db_phys(x->store, l)];
        if (d->keys != 0) {
            rc = buf_appendf(b, "db%u:keys=%llu,expires=%llu,avg_ttl=%llu\r\n", l,
                             (unsigned long long)d->keys, (unsigned long long)d->expires,
                             (unsigned long long)d->avg_ttl_ms);
        }
    }
    free(info);
    return rc;
}
