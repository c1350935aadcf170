/*
 * resp_bitmap: Redis's bit commands over string values: SETBIT, GETBIT,
 * BITCOUNT, BITPOS, BITOP, BITFIELD and BITFIELD_RO, with Redis 7.0's
 * arguments, replies and errors (bitops.c), checked against redis-server
 * 7.0.15 started with proto-max-bulk-len equal to stashd's -I.
 *
 * Bits are numbered as Redis numbers them: bit 0 is the most significant
 * bit of byte 0. Offsets are bounded as Redis bounds them by
 * proto-max-bulk-len, here by the item size limit (-I): an offset whose
 * byte is at or past -I is "ERR bit offset is not an integer or out of
 * range". A value must also fit an item with its key and header, so
 * SETBIT refuses with the same error an offset whose byte cannot be
 * stored, and a BITFIELD write that would grow the value past what fits
 * gets the store's "string exceeds maximum allowed size" error (Redis
 * lets BITFIELD grow a string up to 8 bytes past proto-max-bulk-len).
 *
 * Writes (SETBIT, BITFIELD) are one read-modify-write under the shard
 * lock (store_update): the new value is built in place of the old one,
 * keeping its memcached flags and expiry, so no concurrent update of the
 * key from any protocol is lost. Reads (GETBIT, BITCOUNT, BITPOS,
 * BITFIELD_RO) work on the item inside the store's read callback, which
 * only reads the value (popcount and scans are as cheap as copying it).
 */
#include <stdlib.h>
#include <string.h>

#include "cmd/resp_arg.h"
#include "cmd/resp_internal.h"
#include "cmd/resp_reply.h"
#include "stashd/store/store.h"
#include "stashd/util/options.h"

#define ERR_OFFSET "ERR bit offset is not an integer or out of range"
#define ERR_BIT "ERR bit is not an integer or out of range"

/* --- bit access ------------------------------------------------------------------------ */

static inline unsigned
bit_at(const unsigned char *p, size_t len, uint64_t bit)
{
    uint64_t byte = bit >> 3;
    return byte < len ? (p[byte] >> (7 - (bit & 7))) & 1u : 0;
}

static inline void
bit_put(unsigned char *p, uint64_t bit, unsigned v)
{
    unsigned char mask = (unsigned char)(1u << (7 - (bit & 7)));
    if (v) {
        p[bit >> 3] |= mask;
    } else {
        p[bit >> 3] &= (unsigned char)~mask;
    }
}

/* Set bits in [sb, eb] (inclusive; eb < 8 * len). */
static uint64_t
count_range(const unsigned char *p, uint64_t sb, uint64_t eb)
{
    uint64_t n = 0;
    while (sb <= eb && (sb & 7) != 0) {
        n += bit_at(p, SIZE_MAX, sb++);
    }
    while (sb + 64 <= eb + 1) {
        uint64_t w;
        memcpy(&w, p + (sb >> 3), 8);
        n += (uint64_t)__builtin_popcountll(w);
        sb += 64;
    }
    while (sb + 8 <= eb + 1) {
        n += (uint64_t)__builtin_popcount(p[sb >> 3]);
        sb += 8;
    }
    while (sb <= eb) {
        n += bit_at(p, SIZE_MAX, sb++);
    }
    return n;
}

/* The first bit equal to want in [sb, eb], or -1. */
static int64_t
find_bit(const unsigned char *p, uint64_t sb, uint64_t eb, unsigned want)
{
    unsigned char skip = want ? 0x00 : 0xff;
    uint64_t skip64 = want ? 0 : UINT64_MAX;
    while (sb <= eb && (sb & 7) != 0) {
        if (bit_at(p, SIZE_MAX, sb) == want) {
            return (int64_t)sb;
        }
        sb++;
    }
    while (sb + 64 <= eb + 1) {
        uint64_t w;
        memcpy(&w, p + (sb >> 3), 8);
        if (w != skip64) {
            break;
        }
        sb += 64;
    }
    while (sb + 8 <= eb + 1 && p[sb >> 3] == skip) {
        sb += 8;
    }
    for (; sb <= eb; sb++) {
        if (bit_at(p, SIZE_MAX, sb) == want) {
            return (int64_t)sb;
        }
    }
    return -1;
}

/*
 * Redis's getBitOffsetFromArgument: a non-negative integer whose byte is
 * within the item size limit; with hash (BITFIELD), "#N" means N * bits.
 * Replies and returns false when it is not. (Redis multiplies "#N"
 * without an overflow check; stashd refuses an overflowing one.)
 */
static bool
bit_offset(struct resp_exec *x, struct bstr a, bool hash, unsigned bits, uint64_t *out)
{
    bool usehash = hash && bits > 0 && a.len > 0 && a.data[0] == '#';
    int64_t v;
    struct bstr num = usehash ? (struct bstr){.data = a.data + 1, .len = a.len - 1} : a;
    if (!resp_arg_i64(num, &v) || (usehash && __builtin_mul_overflow(v, (int64_t)bits, &v)) ||
        v < 0 || (uint64_t)(v >> 3) >= (uint64_t)x->s->env->opts->max_item_size) {
        resp_reply_err(x, ERR_OFFSET);
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

/* A key argument the store may hold (1..STORE_KEY_MAX bytes). */
static bool
key_ok(struct bstr k)
{
    return k.len > 0 && k.len <= STORE_KEY_MAX;
}

/* --- SETBIT, GETBIT -------------------------------------------------------------------- */

struct setbit {
    uint64_t bit;
    unsigned on;
    unsigned old;   /* the bit before: the reply */
    bool wrongtype; /* the key holds another type */
};

static void
setbit_decide(void *ctx, const struct store_item_view *old, struct store_update *u)
{
    struct setbit *sb = ctx;
    sb->wrongtype = old != NULL && old->type != STORE_TYPE_STRING;
    if (sb->wrongtype) {
        return;
    }
    uint64_t len = old != NULL ? old->nbytes : 0;
    uint64_t need = (sb->bit >> 3) + 1;
    sb->old = old != NULL ? bit_at((const unsigned char *)old->value, len, sb->bit) : 0;
    if (old != NULL && need <= len && sb->old == sb->on) {
        return; /* nothing changes */
    }
    u->op = STORE_UPDATE_WRITE;
    u->nbytes = (uint32_t)(need > len ? need : len);
    if (old != NULL) {
        u->flags = old->flags;
        u->keep_expiry = true;
    }
}

/* commit of a write that rebuilds the old value in dst, zero-padded to
 * the new length n (dst may be the old value itself, rewritten in place). */
static void
rebuild(const struct store_item_view *old, char *dst, size_t n)
{
    size_t len = old != NULL ? old->nbytes : 0;
    if (old != NULL && dst != old->value && len != 0) {
        memcpy(dst, old->value, len);
    }
    if (n > len) {
        memset(dst + len, 0, n - len);
    }
}

static void
setbit_commit(void *ctx, const struct store_item_view *old, char *dst)
{
    struct setbit *sb = ctx;
    if (dst == NULL) {
        return;
    }
    size_t len = old != NULL ? old->nbytes : 0;
    size_t need = (size_t)(sb->bit >> 3) + 1;
    rebuild(old, dst, need > len ? need : len);
    bit_put((unsigned char *)dst, sb->bit, sb->on);
}

void
resp_cmd_setbit(struct resp_exec *x)
{
    struct setbit sb = {0};
    if (!bit_offset(x, x->argv[2], false, 0, &sb.bit)) {
        return;
    }
    int64_t on;
    if (!resp_arg_i64(x->argv[3], &on) || (on & ~(int64_t)1) != 0) {
        resp_reply_err(x, ERR_BIT);
        return;
    }
    sb.on = (unsigned)on;
    /* An offset whose byte no item can hold is out of range here. */
    if (key_ok(x->argv[1]) && !store_fits(x->store, x->argv[1].len, (sb.bit >> 3) + 1)) {
        resp_reply_err(x, ERR_OFFSET);
        return;
    }
    struct store_key k;
    resp_key(x, &k, x->argv[1]);
    enum store_rc rc = store_update(x->store, &k, setbit_decide, setbit_commit, &sb);
    if (rc != STORE_OK) {
        resp_reply_err_store(x, rc, x->argv[1].len);
    } else if (sb.wrongtype) {
        resp_reply_err(x, RESP_ERR_WRONGTYPE);
    } else {
        resp_reply_int(x, sb.old);
    }
}

struct getbit {
    uint64_t bit;
    unsigned v;
};

static void
on_getbit(void *ctx, const struct store_item_view *v)
{
    struct getbit *g = ctx;
    g->v = bit_at((const unsigned char *)v->value, v->nbytes, g->bit);
}

void
resp_cmd_getbit(struct resp_exec *x)
{
    struct getbit g = {0};
    if (!bit_offset(x, x->argv[2], false, 0, &g.bit)) {
        return;
    }
    struct store_key k;
    resp_key(x, &k, x->argv[1]);
    if (resp_read_string(x, &k, on_getbit, &g)) {
        resp_reply_int(x, g.v);
    }
}

/* --- BITCOUNT, BITPOS ---------------------------------------------------------------- */

/* What a range argument list asks, parsed before the key is read; Redis
 * reports these errors only when the key exists. */
enum range_rc { RANGE_OK, RANGE_ZERO, RANGE_NOT_INT, RANGE_SYNTAX };

struct range_req {
    enum range_rc rc;
    bool whole;     /* no range given */
    bool bits;      /* BIT rather than BYTE */
    bool end_given; /* BITPOS: an end was given */
    int64_t start, end;
    unsigned want; /* BITPOS: the bit looked for */
    bool found;
    int64_t result;
};

/* Redis's index rules: negative from the end, clamped; [sb, eb] in bits,
 * false when the range is empty. */
static bool
range_bits(struct range_req *r, uint64_t len, uint64_t *sb, uint64_t *eb)
{
    int64_t tot = (int64_t)len;
    int64_t start = r->start, end = r->end;
    if (r->whole) {
        start = 0;
        end = tot - 1;
    } else {
        if (r->bits) {
            tot <<= 3;
        }
        if (start < 0) {
            start = tot + start;
        }
        if (end < 0) {
            end = tot + end;
        }
        if (start < 0) {
            start = 0;
        }
        if (end < 0) {
            end = 0;
        }
        if (end >= tot) {
            end = tot - 1;
        }
    }
    if (start > end) {
        return false;
    }
    if (r->bits) {
        *sb = (uint64_t)start;
        *eb = (uint64_t)end;
    } else {
        *sb = (uint64_t)start << 3;
        *eb = ((uint64_t)end << 3) + 7;
    }
    return true;
}

/* "BIT" or "BYTE" (any case), else false. */
static bool
range_unit(struct bstr a, bool *bits)
{
    if (resp_arg_is(a, "bit")) {
        *bits = true;
    } else if (resp_arg_is(a, "byte")) {
        *bits = false;
    } else {
        return false;
    }
    return true;
}

static void
on_bitcount(void *ctx, const struct store_item_view *v)
{
    struct range_req *r = ctx;
    r->found = true;
    uint64_t sb, eb;
    if (r->rc == RANGE_OK && range_bits(r, v->nbytes, &sb, &eb)) {
        r->result = (int64_t)count_range((const unsigned char *)v->value, sb, eb);
    }
}

static void
range_err(struct resp_exec *x, enum range_rc rc)
{
    resp_reply_err(x, rc == RANGE_NOT_INT ? RESP_ERR_NOT_INT : RESP_ERR_SYNTAX);
}

/* BITCOUNT key [start end [BIT|BYTE]] */
void
resp_cmd_bitcount(struct resp_exec *x)
{
    struct range_req r = {.whole = x->argc == 2};
    if (x->argc == 4 || x->argc == 5) {
        if (!resp_arg_i64(x->argv[2], &r.start) || !resp_arg_i64(x->argv[3], &r.end)) {
            r.rc = RANGE_NOT_INT;
        } else if (r.start < 0 && r.end < 0 && r.start > r.end) {
            r.rc = RANGE_ZERO; /* before the unit is looked at, as Redis */
        } else if (x->argc == 5 && !range_unit(x->argv[4], &r.bits)) {
            r.rc = RANGE_SYNTAX;
        }
    } else if (x->argc != 2) {
        r.rc = RANGE_SYNTAX;
    }
    struct store_key k;
    resp_key(x, &k, x->argv[1]);
    if (!resp_read_string(x, &k, on_bitcount, &r)) {
        return;
    }
    if (r.found && (r.rc == RANGE_NOT_INT || r.rc == RANGE_SYNTAX)) {
        range_err(x, r.rc);
    } else {
        resp_reply_int(x, r.result);
    }
}

static void
on_bitpos(void *ctx, const struct store_item_view *v)
{
    struct range_req *r = ctx;
    r->found = true;
    uint64_t sb, eb;
    r->result = -1;
    if (r->rc != RANGE_OK || !range_bits(r, v->nbytes, &sb, &eb)) {
        return;
    }
    r->result = find_bit((const unsigned char *)v->value, sb, eb, r->want);
    if (r->result < 0 && r->want == 0 && !r->end_given) {
        /* No end given: the string reads as padded with zeros. */
        r->result = (int64_t)eb + 1;
    }
}

/* BITPOS key bit [start [end [BIT|BYTE]]] */
void
resp_cmd_bitpos(struct resp_exec *x)
{
    int64_t bit;
    if (!resp_arg_i64(x->argv[2], &bit)) {
        resp_reply_err(x, RESP_ERR_NOT_INT);
        return;
    }
    if (bit != 0 && bit != 1) {
        resp_reply_err(x, "ERR The bit argument must be 1 or 0.");
        return;
    }
    struct range_req r = {.want = (unsigned)bit, .whole = x->argc == 3, .end = -1};
    if (x->argc >= 4 && x->argc <= 6) {
        if (!resp_arg_i64(x->argv[3], &r.start)) {
            r.rc = RANGE_NOT_INT;
        } else if (x->argc == 6 && !range_unit(x->argv[5], &r.bits)) {
            r.rc = RANGE_SYNTAX;
        } else if (x->argc >= 5) {
            r.end_given = true;
            if (!resp_arg_i64(x->argv[4], &r.end)) {
                r.rc = RANGE_NOT_INT;
            }
        }
    } else if (x->argc != 3) {
        r.rc = RANGE_SYNTAX;
    }
    struct store_key k;
    resp_key(x, &k, x->argv[1]);
    if (!resp_read_string(x, &k, on_bitpos, &r)) {
        return;
    }
    if (!r.found) {
        /* A missing key is an endless run of zeros. */
        resp_reply_int(x, bit ? -1 : 0);
    } else if (r.rc == RANGE_NOT_INT || r.rc == RANGE_SYNTAX) {
        range_err(x, r.rc);
    } else {
        resp_reply_int(x, r.result);
    }
}

/* --- BITOP ----------------------------------------------------------------------------- */

enum bitop { BITOP_AND, BITOP_OR, BITOP_XOR, BITOP_NOT };

/* Source keys looked up from a stack array; more take one allocation. */
#define BITOP_STACK_KEYS 16

struct bitop_ctx {
    enum bitop op;
    bool wrongtype;     /* a source holds another type */
    unsigned char *res; /* cap bytes */
    size_t cap;
    size_t maxlen; /* the longest source seen */
    bool compute;  /* second pass: combine into res */
};

/* store_get_many callback: source i, in order, under the locks. */
static void
on_bitop(void *ctx, size_t i, const struct store_item_view *v, enum store_miss miss)
{
    struct bitop_ctx *b = ctx;
    if (miss == STORE_MISS_WRONGTYPE) {
        b->wrongtype = true;
    }
    size_t len = v != NULL ? v->nbytes : 0;
    const unsigned char *src = v != NULL ? (const unsigned char *)v->value : NULL;
    if (len > b->maxlen) {
        b->maxlen = len;
    }
    if (!b->compute || b->maxlen > b->cap) {
        return; /* first pass, or a source grew since: the caller retries */
    }
    unsigned char *res = b->res;
    if (i == 0) {
        for (size_t j = 0; j < len; j++) {
            res[j] = b->op == BITOP_NOT ? (unsigned char)~src[j] : src[j];
        }
        memset(res + len, 0, b->cap - len);
        return;
    }
    switch (b->op) {
    case BITOP_AND:
        for (size_t j = 0; j < len; j++) {
            res[j] &= src[j];
        }
        memset(res + len, 0, b->cap - len);
        break;
    case BITOP_OR:
        for (size_t j = 0; j < len; j++) {
            res[j] |= src[j];
        }
        break;
    case BITOP_XOR:
        for (size_t j = 0; j < len; j++) {
            res[j] ^= src[j];
        }
        break;
    case BITOP_NOT:
        break;
    }
}

/*
 * BITOP op destkey key [key ...]: the sources are read as one step
 * (store_get_many, as MGET reads: their shards locked together, so no
 * write lands between two of them), and the result is then stored in
 * destkey as SET stores (no expiry; an empty result deletes destkey).
 * Unlike Redis, reading the sources and storing the result are two steps:
 * a write to a source or to destkey between them is not seen by this
 * BITOP, and its result may replace it (as if the BITOP had run just
 * before that write and its store just after). A later change adds
 * multi-key transactions.
 *
 * A first pass reads only the lengths, so that the result buffer (at most
 * the item size limit) is allocated outside the locks; a source that grew
 * in between makes the second pass start over with the larger size.
 */
void
resp_cmd_bitop(struct resp_exec *x)
{
    struct bstr opname = x->argv[1];
    struct bitop_ctx b = {0};
    if (resp_arg_is(opname, "and")) {
        b.op = BITOP_AND;
    } else if (resp_arg_is(opname, "or")) {
        b.op = BITOP_OR;
    } else if (resp_arg_is(opname, "xor")) {
        b.op = BITOP_XOR;
    } else if (resp_arg_is(opname, "not")) {
        b.op = BITOP_NOT;
    } else {
        resp_reply_err(x, RESP_ERR_SYNTAX);
        return;
    }
    if (b.op == BITOP_NOT && x->argc != 4) {
        resp_reply_err(x, "ERR BITOP NOT must be called with a single source key.");
        return;
    }
    size_t n = x->argc - 3;
    struct store_key stack_keys[BITOP_STACK_KEYS] = {{0}};
    struct store_key *keys = stack_keys;
    if (n > BITOP_STACK_KEYS && (keys = malloc(n * sizeof(*keys))) == NULL) {
        resp_reply_err(x, RESP_ERR_OOM);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        resp_key(x, &keys[i], x->argv[3 + i]);
    }
    store_get_many(x->store, keys, n, on_bitop, &b);
    bool oom = false;
    while (b.maxlen > 0 && !b.wrongtype) {
        unsigned char *res = realloc(b.res, b.maxlen);
        if (res == NULL) {
            oom = true;
            break;
        }
        b.res = res;
        b.cap = b.maxlen;
        b.maxlen = 0;
        b.compute = true;
        store_get_many(x->store, keys, n, on_bitop, &b);
        if (b.maxlen <= b.cap) {
            break;
        }
    }
    if (keys != stack_keys) {
        free(keys);
    }
    if (oom || b.wrongtype) {
        free(b.res);
        resp_reply_err(x, oom ? RESP_ERR_OOM : RESP_ERR_WRONGTYPE);
        return;
    }
    struct store_key dk;
    resp_key(x, &dk, x->argv[2]);
    if (b.maxlen == 0) {
        (void)store_delete(x->store, &dk, 0);
        resp_reply_int(x, 0);
        free(b.res);
        return;
    }
    struct store_set_req r = {
        .mode = STORE_MODE_SET,
        .value = (const char *)b.res,
        .nbytes = (uint32_t)b.maxlen,
    };
    enum store_rc rc = store_set(x->store, &dk, &r, NULL);
    free(b.res);
    if (rc != STORE_OK) {
        resp_reply_err_store(x, rc, x->argv[2].len);
        return;
    }
    resp_reply_int(x, (int64_t)b.maxlen);
}

/* --- BITFIELD, BITFIELD_RO -------------------------------------------------------------- */

enum bf_op { BF_GET, BF_SET, BF_INCRBY };
enum bf_overflow { BF_WRAP, BF_SAT, BF_FAIL };

struct bf_step {
    uint64_t offset;
    int64_t arg; /* SET's value, INCRBY's increment */
    enum bf_op op;
    enum bf_overflow ow;
    unsigned bits;
    bool sign;
    /* the reply, filled as the step runs */
    int64_t result;
    bool null; /* FAIL on overflow: nothing written */
};

/* The integer of bits bits at offset (bits past len read as 0). */
static uint64_t
bf_get_u(const unsigned char *p, size_t len, uint64_t offset, unsigned bits)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bits; i++) {
        v = (v << 1) | bit_at(p, len, offset + i);
    }
    return v;
}

static int64_t
bf_get_i(const unsigned char *p, size_t len, uint64_t offset, unsigned bits)
{
    uint64_t v = bf_get_u(p, len, offset, bits);
    if (bits < 64 && (v >> (bits - 1)) & 1) {
        v |= UINT64_MAX << bits; /* sign-extend */
    }
    return (int64_t)v;
}

static void
bf_put(unsigned char *p, uint64_t offset, unsigned bits, uint64_t v)
{
    for (unsigned i = 0; i < bits; i++) {
        bit_put(p, offset + i, (unsigned)(v >> (bits - 1 - i)) & 1u);
    }
}

/*
 * One SET or INCRBY on p (at least len bytes, the step's bits inside):
 * Redis's overflow rules. The exact sum is taken in 128 bits; past the
 * type's range WRAP keeps the low bits (sign-extended when signed), SAT
 * the nearest bound, FAIL writes nothing and answers null.
 */
static void
bf_write(unsigned char *p, size_t len, struct bf_step *s)
{
    unsigned bits = s->bits;
    __int128 lo, hi, sum;
    uint64_t wrapped;
    int64_t old;
    if (s->sign) {
        old = bf_get_i(p, len, s->offset, bits);
        hi = bits == 64 ? INT64_MAX : ((__int128)1 << (bits - 1)) - 1;
        lo = -hi - 1;
        sum = s->op == BF_INCRBY ? (__int128)old + s->arg : (__int128)s->arg;
        wrapped = s->op == BF_INCRBY ? (uint64_t)old + (uint64_t)s->arg : (uint64_t)s->arg;
        if (bits < 64 && (wrapped >> (bits - 1)) & 1) {
            wrapped |= UINT64_MAX << bits;
        } else if (bits < 64) {
            wrapped &= ~(UINT64_MAX << bits);
        }
    } else {
        uint64_t uold = bf_get_u(p, len, s->offset, bits);
        old = (int64_t)uold;
        hi = ((__int128)1 << bits) - 1;
        lo = 0;
        sum = s->op == BF_INCRBY ? (__int128)uold + s->arg : (__int128)(uint64_t)s->arg;
        wrapped = (s->op == BF_INCRBY ? uold + (uint64_t)s->arg : (uint64_t)s->arg) &
                  ~(UINT64_MAX << bits);
    }
    uint64_t val;
    if (sum > hi || sum < lo) {
        if (s->ow == BF_FAIL) {
            s->null = true;
            return;
        }
        val = s->ow == BF_WRAP ? wrapped : (uint64_t)(int64_t)(sum > hi ? hi : lo);
    } else {
        val = (uint64_t)(int64_t)sum;
    }
    bf_put(p, s->offset, bits, val);
    s->result = s->op == BF_INCRBY ? (int64_t)val : old;
}

static void
bf_read(const unsigned char *p, size_t len, struct bf_step *s)
{
    s->result = s->sign ? bf_get_i(p, len, s->offset, s->bits)
                        : (int64_t)bf_get_u(p, len, s->offset, s->bits);
}

struct bf_ctx {
    struct bf_step *steps;
    size_t n;
    uint64_t need;  /* bytes the writes reach */
    bool wrongtype; /* the key holds another type */
};

static void
on_bf_read(void *ctx, const struct store_item_view *v)
{
    struct bf_ctx *b = ctx;
    for (size_t i = 0; i < b->n; i++) {
        bf_read((const unsigned char *)v->value, v->nbytes, &b->steps[i]);
    }
}

static void
bf_decide(void *ctx, const struct store_item_view *old, struct store_update *u)
{
    struct bf_ctx *b = ctx;
    b->wrongtype = old != NULL && old->type != STORE_TYPE_STRING;
    if (b->wrongtype) {
        return;
    }
    uint64_t len = old != NULL ? old->nbytes : 0;
    u->op = STORE_UPDATE_WRITE;
    u->nbytes = (uint32_t)(b->need > len ? b->need : len);
    if (old != NULL) {
        u->flags = old->flags;
        u->keep_expiry = true;
    }
}

/* Run every step, in order, on the new value (as Redis, the string is
 * grown first, so a GET after a write sees it). */
static void
bf_commit(void *ctx, const struct store_item_view *old, char *dst)
{
    struct bf_ctx *b = ctx;
    if (dst == NULL) {
        return;
    }
    size_t len = old != NULL ? old->nbytes : 0;
    size_t n = b->need > len ? (size_t)b->need : len;
    rebuild(old, dst, n);
    for (size_t i = 0; i < b->n; i++) {
        struct bf_step *s = &b->steps[i];
        if (s->op == BF_GET) {
            bf_read((unsigned char *)dst, n, s);
        } else {
            bf_write((unsigned char *)dst, n, s);
        }
    }
}

/* Redis's getBitfieldTypeFromArgument: i1..i64 or u1..u63 (the type is
 * read as a C string, and the sign letter is lower case only). */
static bool
bf_type(struct resp_exec *x, struct bstr a, struct bf_step *s)
{
    int64_t bits = 0;
    size_t n = (size_t)resp_arg_print_len(a, a.len);
    bool ok = n > 1 && (a.data[0] == 'i' || a.data[0] == 'u') &&
              resp_arg_i64((struct bstr){.data = a.data + 1, .len = n - 1}, &bits) && bits >= 1;
    s->sign = ok && a.data[0] == 'i';
    if (!ok || bits > (s->sign ? 64 : 63)) {
        resp_reply_err(x, "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is "
                          "not supported but i64 is.");
        return false;
    }
    s->bits = (unsigned)bits;
    return true;
}

/* Steps parsed from a stack array; more take one allocation. */
#define BF_STACK_STEPS 16

/* Parse the subcommands into b->steps (argc / 3 of room); replies and
 * returns false on an error. *writes: some step writes. */
static bool
bf_parse(struct resp_exec *x, struct bf_ctx *b, bool *writes)
{
    enum bf_overflow ow = BF_WRAP;
    for (size_t j = 2; j < x->argc; j++) {
        size_t more = x->argc - j - 1;
        struct bstr sub = x->argv[j];
        struct bf_step s = {.ow = ow};
        if (resp_arg_is(sub, "get") && more >= 2) {
            s.op = BF_GET;
        } else if (resp_arg_is(sub, "set") && more >= 3) {
            s.op = BF_SET;
        } else if (resp_arg_is(sub, "incrby") && more >= 3) {
            s.op = BF_INCRBY;
        } else if (resp_arg_is(sub, "overflow") && more >= 1) {
            struct bstr t = x->argv[++j];
            if (resp_arg_is(t, "wrap")) {
                ow = BF_WRAP;
            } else if (resp_arg_is(t, "sat")) {
                ow = BF_SAT;
            } else if (resp_arg_is(t, "fail")) {
                ow = BF_FAIL;
            } else {
                resp_reply_err(x, "ERR Invalid OVERFLOW type specified");
                return false;
            }
            continue;
        } else {
            resp_reply_err(x, RESP_ERR_SYNTAX);
            return false;
        }
        if (!bf_type(x, x->argv[j + 1], &s) ||
            !bit_offset(x, x->argv[j + 2], true, s.bits, &s.offset)) {
            return false;
        }
        if (s.op != BF_GET) {
            *writes = true;
            uint64_t end = ((s.offset + s.bits - 1) >> 3) + 1;
            if (end > b->need) {
                b->need = end;
            }
            if (!resp_arg_i64(x->argv[j + 3], &s.arg)) {
                resp_reply_err(x, RESP_ERR_NOT_INT);
                return false;
            }
        }
        b->steps[b->n++] = s;
        j += s.op == BF_GET ? 2 : 3;
    }
    return true;
}

static void
bitfield_generic(struct resp_exec *x, bool ro)
{
    struct bf_step stack_steps[BF_STACK_STEPS];
    struct bf_ctx b = {.steps = stack_steps};
    size_t cap = (x->argc - 2) / 3 + 1;
    if (cap > BF_STACK_STEPS && (b.steps = malloc(cap * sizeof(*b.steps))) == NULL) {
        resp_reply_err(x, RESP_ERR_OOM);
        return;
    }
    bool writes = false;
    if (!bf_parse(x, &b, &writes)) {
        goto done;
    }
    struct store_key k;
    resp_key(x, &k, x->argv[1]);
    if (!writes) {
        if (!resp_read_string(x, &k, on_bf_read, &b)) {
            goto done;
        }
    } else if (ro) {
        resp_reply_err(x, "ERR BITFIELD_RO only supports the GET subcommand");
        goto done;
    } else {
        enum store_rc rc = store_update(x->store, &k, bf_decide, bf_commit, &b);
        if (rc != STORE_OK) {
            resp_reply_err_store(x, rc, x->argv[1].len);
            goto done;
        }
        if (b.wrongtype) {
            resp_reply_err(x, RESP_ERR_WRONGTYPE);
            goto done;
        }
    }
    resp_reply_array(x, b.n);
    for (size_t i = 0; i < b.n; i++) {
        if (b.steps[i].null) {
            resp_reply_null(x);
        } else {
            resp_reply_int(x, b.steps[i].result);
        }
    }
done:
    if (b.steps != stack_steps) {
        free(b.steps);
    }
}

void
resp_cmd_bitfield(struct resp_exec *x)
{
    bitfield_generic(x, false);
}

void
resp_cmd_bitfield_ro(struct resp_exec *x)
{
    bitfield_generic(x, true);
}
