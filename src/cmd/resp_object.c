/*
 * resp_object: OBJECT (ENCODING, FREQ, IDLETIME, REFCOUNT, HELP) and
 * MEMORY (USAGE, HELP): what the store knows of one item, read without
 * counting as an access (store_meta with no_bump), as Redis's OBJECT
 * looks keys up without touching them.
 *
 * Redis's answers describe its own representation; stashd answers as
 * Redis would for the same value stored by SET:
 *
 *   ENCODING  a hash: "listpack" while it has at most 512 fields and
 *             no field or value over 64 bytes, else "hashtable" (Redis
 *             converts one way only: a hash that shrinks back stays
 *             "hashtable" there). A string: "int" for a decimal integer that fits 64 bits in at
 * most 20 characters with no sign or zero Redis would not print, "embstr" up to 44 bytes, else
 * "raw" (Redis says "raw" also for a short value APPEND, SETRANGE or SETBIT rewrote: stashd does
 * not know how a value was written); REFCOUNT  1, or Redis's shared-integer count (INT_MAX) for
 * 0..9999 when no LRU policy is set (-M: noeviction), as Redis shares those objects then; FREQ
 * Redis's error under an LRU policy, which is what stashd's CLOCK eviction reports
 * (maxmemory-policy allkeys-lru); IDLETIME  seconds since the item was last read or written; USAGE
 * the bytes the item really holds: its chunk (header, key, value and the rounding of its slab
 * class), or the whole allocation of a large item.
 */
#include <limits.h>
#include <string.h>

#include "cmd/hashval.h"
#include "cmd/resp_arg.h"
#include "cmd/resp_internal.h"
#include "cmd/resp_reply.h"
#include "stashd/store/store.h"
#include "stashd/util/clock.h"
#include "stashd/util/options.h"

/* Redis's OBJ_ENCODING_EMBSTR_SIZE_LIMIT and OBJ_SHARED_INTEGERS. */
#define EMBSTR_MAX 44
#define SHARED_INTEGERS 10000

/* What OBJECT and MEMORY need of an item, copied under its lock. */
struct facts {
    bool found;
    uint32_t nbytes;
    char head[21]; /* the first bytes: enough to tell an integer */
    uint32_t atime;
    unsigned cls;
    uint32_t size;
    uint8_t type;  /* enum store_type */
    bool listpack; /* a hash Redis would keep as a listpack */
};

static void
on_facts(void *ctx, struct store_meta *m)
{
    struct facts *f = ctx;
    const struct store_item_view *v = store_meta_view(m);
    f->found = true;
    f->nbytes = v->nbytes;
    memcpy(f->head, v->value, v->nbytes < sizeof(f->head) ? v->nbytes : sizeof(f->head));
    f->atime = v->atime;
    f->cls = store_meta_class(m);
    f->size = store_meta_size(m);
    f->type = v->type;
    f->listpack = v->type == STORE_TYPE_HASH && hashval_is_listpack(v->value, v->nbytes);
}

/* The item of key argv[2]; replies null (and returns false) when there is none. */
static bool
facts_of(struct resp_exec *x, struct facts *f)
{
    memset(f, 0, sizeof(*f));
    struct store_key k;
    resp_key(x, &k, x->argv[2]);
    const struct store_meta_opts o = {.no_bump = true, .any_type = true};
    if (store_meta(x->store, &k, &o, on_facts, f, NULL) != STORE_OK || !f->found) {
        resp_reply_null(x);
        return false;
    }
    return true;
}

/* The value as Redis's tryObjectEncoding reads it: an integer in at most
 * 20 characters, in the form string2l accepts. */
static bool
is_int(const struct facts *f, int64_t *v)
{
    return f->nbytes <= 20 && resp_arg_i64((struct bstr){.data = f->head, .len = f->nbytes}, v);
}

void
resp_cmd_object_encoding(struct resp_exec *x)
{
    struct facts f;
    if (!facts_of(x, &f)) {
        return;
    }
    int64_t v;
    const char *enc = f.type == STORE_TYPE_HASH ? (f.listpack ? "listpack" : "hashtable")
                      : is_int(&f, &v)          ? "int"
                      : f.nbytes <= EMBSTR_MAX  ? "embstr"
                                                : "raw";
    resp_reply_bulk_str(x, enc);
}

void
resp_cmd_object_freq(struct resp_exec *x)
{
    struct facts f;
    if (!facts_of(x, &f)) {
        return;
    }
    resp_reply_err(x, "ERR An LFU maxmemory policy is not selected, access frequency not tracked. "
                      "Please note that when switching between policies at runtime LRU and LFU "
                      "data will take some time to adjust.");
}

void
resp_cmd_object_idletime(struct resp_exec *x)
{
    struct facts f;
    if (!facts_of(x, &f)) {
        return;
    }
    uint32_t now = clock_now();
    resp_reply_int(x, now > f.atime ? (int64_t)(now - f.atime) : 0);
}

void
resp_cmd_object_refcount(struct resp_exec *x)
{
    struct facts f;
    if (!facts_of(x, &f)) {
        return;
    }
    int64_t v;
    bool shared = !x->s->env->opts->evictions && f.type == STORE_TYPE_STRING && is_int(&f, &v) &&
                  v >= 0 && v < SHARED_INTEGERS;
    resp_reply_int(x, shared ? INT_MAX : 1);
}

void
resp_cmd_object_help(struct resp_exec *x)
{
    static const char *const help[] = {
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    };
    resp_reply_help(x, help, sizeof(help) / sizeof(help[0]));
}

/* --- MEMORY --------------------------------------------------------------------------- */

struct chunk_of {
    unsigned id;
    uint32_t chunk_size; /* 0: not found, or the large-item class */
};

static void
on_class(void *ctx, const struct store_class_stats *cs)
{
    struct chunk_of *c = ctx;
    if (cs->id == c->id) {
        c->chunk_size = cs->chunk_size;
    }
}

/* MEMORY USAGE key [SAMPLES count]: SAMPLES is checked as Redis checks it
 * (a string holds nothing to sample). */
void
resp_cmd_memory_usage(struct resp_exec *x)
{
    for (size_t j = 3; j < x->argc; j++) {
        int64_t samples;
        if (resp_arg_is(x->argv[j], "samples") && j + 1 < x->argc) {
            if (!resp_arg_i64(x->argv[j + 1], &samples)) {
                resp_reply_err(x, RESP_ERR_NOT_INT);
                return;
            }
            if (samples < 0) {
                resp_reply_err(x, RESP_ERR_SYNTAX);
                return;
            }
            j++;
        } else {
            resp_reply_err(x, RESP_ERR_SYNTAX);
            return;
        }
    }
    struct facts f;
    if (!facts_of(x, &f)) {
        return;
    }
    struct chunk_of c = {.id = f.cls};
    store_each_class(x->store, on_class, &c);
    resp_reply_int(x, c.chunk_size >= f.size ? c.chunk_size : f.size);
}

void
resp_cmd_memory_help(struct resp_exec *x)
{
    static const char *const help[] = {
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all).",
        "HELP",
        "    Prints this help.",
    };
    resp_reply_help(x, help, sizeof(help) / sizeof(help[0]));
}
