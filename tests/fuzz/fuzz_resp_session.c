// layer: cmd
/*
 * Fuzz target for cmd/resp_cmd: RESP requests (arrays of bulk strings, or
 * inline lines) served through session_process against a real small store
 * made once. The first input byte picks a connection of the RESP-only port
 * (its low bit; else the protocol is sniffed, RESP when the input starts
 * with '*') and where the rest is cut in two, as two reads would deliver
 * it; the driver plays net/ (keeps unconsumed bytes, drains replies, calls
 * again after a yield or a pause) and checks the session's promises: it consumes at most what it is
 * given, reports a need only beyond what it has and within resp_max_request, and always makes
 * progress. Replies are checked to be well-formed RESP.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/resp_cmd.h"
#include "stashd/cmd/cmdstats.h"
#include "stashd/cmd/session.h"
#include "stashd/store/store.h"
#include "stashd/util/buf.h"
#include "stashd/util/clock.h"
#include "stashd/util/hash.h"
#include "stashd/util/log.h"
#include "stashd/util/metrics.h"
#include "stashd/util/options.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Small: KEYS walks every bucket (the table is sized from the limit),
 * which at 8 MiB took 80% of the time under coverage instrumentation. */
#define MEMORY_LIMIT (2u << 20)

static struct {
    struct store *store;
    struct options opts;
    struct cmd_env env;
    struct metrics m;
    struct cmdstats *cs; /* the "worker's" command statistics, as net/ gives them */
    struct buf out;
    struct buf sent; /* what fz_write_now took, ahead of out */
} fz;

static void
fz_setup(void)
{
    if (fz.store != NULL) {
        return;
    }
    clock_setup();
    hash_setup(7);
    log_set_verbosity(0);
    struct store_config cfg = {
        .memory_limit = MEMORY_LIMIT,
        .max_item_size = 4096,
        .growth_factor = 1.25,
        .slab_min_size = 48,
        .shards = 2,
        .threads = 1,
        .evictions = true,
        .cas_enabled = true,
        .databases = 4, /* SELECT, MOVE, SWAPDB, COPY ... DB reach past the range checks */
    };
    if (store_create(&fz.store, &cfg) != 0) {
        abort();
    }
    options_init(&fz.opts); /* made once, like the store: never freed */
    fz.opts.reqs_per_event = 4;
    fz.opts.flush_enabled = true;
    fz.opts.max_item_size = 4096;
    fz.opts.conn_limit = 16;
    fz.opts.databases = 4;
    if (cmdstats_create(&fz.cs) != 0) {
        abort();
    }
    fz.env = (struct cmd_env){
        .store = fz.store, .opts = &fz.opts, .threads = 1, .cmdstats = &fz.cs, .ncmdstats = 1};
    buf_init(&fz.out);
    buf_init(&fz.sent);
}

/* Skip one RESP reply at p[0..n); the bytes it took, or 0 if malformed. */
static size_t
skip_reply(const char *p, size_t n, int depth)
{
    CHECK(depth < 64);
    const char *nl = memchr(p, '\n', n);
    CHECK(n >= 3 && nl != NULL && nl > p && nl[-1] == '\r');
    size_t line = (size_t)(nl - p) + 1;
    long long v = strtoll(p + 1, NULL, 10);
    switch (p[0]) {
    case '+':
    case '-':
    case ':':
    case ',':
    case '#':
    case '_':
        return line;
    case '$':
    case '=':
        if (v < 0) {
            return line;
        }
        CHECK(line + (size_t)v + 2 <= n);
        CHECK(p[line + v] == '\r' && p[line + v + 1] == '\n');
        return line + (size_t)v + 2;
    case '*':
    case '~':
    case '%': {
        size_t pos = line;
        long long items = p[0] == '%' ? 2 * v : v;
        for (long long i = 0; i < items; i++) {
            pos += skip_reply(p + pos, n - pos, depth + 1);
        }
        return pos;
    }
    default:
        CHECK(0);
        return 0;
    }
}

/* The replies of one call, what fz_write_now took first: whole ones. */
static void
check_replies(void)
{
    CHECK(fz.out.rpos <= fz.out.wpos && fz.out.wpos <= fz.out.cap);
    if (buf_readable(&fz.out) > 0) {
        CHECK(buf_append(&fz.sent, fz.out.data + fz.out.rpos, buf_readable(&fz.out)) == 0);
    }
    buf_reset(&fz.out);
    size_t n = buf_readable(&fz.sent);
    if (n == 0) {
        return;
    }
    const char *p = fz.sent.data + fz.sent.rpos;
    size_t pos = 0;
    while (pos < n) {
        pos += skip_reply(p + pos, n - pos, 0);
    }
    CHECK(pos == n);
    buf_reset(&fz.sent);
}

/*
 * net/'s write_now, played (session.h): it must be handed all of the
 * queued replies, then the value; it takes a varying share (none, all,
 * or a cut anywhere, in the replies or the value), as a socket with a
 * varying window would, and keeps what it took in fz.sent, in order.
 */
static uint32_t fz_lcg;

static size_t
fz_write_now(void *ctx, const char *a, size_t alen, const char *b, size_t blen)
{
    (void)ctx;
    CHECK(alen == buf_readable(&fz.out) && (alen == 0 || a == fz.out.data + fz.out.rpos));
    CHECK(blen > 0 && b != NULL);
    fz_lcg = fz_lcg * 1103515245u + 12345u;
    size_t total = alen + blen;
    size_t take = (fz_lcg >> 16) % 4 == 0   ? 0
                  : (fz_lcg >> 16) % 4 == 1 ? total
                                            : (size_t)(fz_lcg >> 8) % (total + 1);
    size_t from_a = take < alen ? take : alen;
    CHECK(buf_append(&fz.sent, a, from_a) == 0);
    CHECK(buf_append(&fz.sent, b, take - from_a) == 0);
    return take;
}

/* Direct writes for about half the inputs, from values of 1-64 bytes. */
static void
fz_direct(struct session *s, const uint8_t *data, size_t size)
{
    if ((size & 1) != 0) {
        s->write_now = fz_write_now;
        s->direct_min = 1 + size % 64;
        fz_lcg = (uint32_t)size * 2654435761u + data[size - 1];
    }
}

/* Serve what `in` holds; false once the session asked to close. */
static bool
serve(struct session *s, char *in, size_t *len)
{
    for (int turns = 0;; turns++) {
        CHECK(turns < 100000);
        size_t consumed = 0, need = 0;
        enum session_rc rc = session_process(s, in, *len, &consumed, &need);
        CHECK(consumed <= *len);
        memmove(in, in + consumed, *len - consumed);
        *len -= consumed;
        check_replies();
        if (rc == SESSION_CLOSE) {
            return false;
        }
        if (rc == SESSION_OK) {
            CHECK(need == 0 || need > *len);
            CHECK(need <= resp_max_request(s));
            return true;
        }
        if (rc == SESSION_PAUSE) {
            continue; /* replies drained: go on */
        }
        CHECK(consumed > 0); /* a yield means requests were served */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_setup();
    if (size == 0) {
        return 0;
    }
    bool resp_port = (data[0] & 1) != 0; /* else sniffed: RESP when it starts with '*' */
    if (!resp_port && (size < 2 || data[1] != '*')) {
        return 0; /* memcached text would be sniffed: not RESP's replies (fuzz_session's) */
    }
    size_t n = size - 1;
    size_t cut = (size_t)(data[0] >> 1) * n / 128;
    char *in = malloc(n > 0 ? n : 1);
    if (in == NULL) {
        return 0;
    }
    struct session s;
    session_init(&s, &fz.env, &fz.m, &fz.out);
    s.cmdstats = fz.cs;
    fz_direct(&s, data, size);
    if ((size & 2) != 0) {
        s.sink_min = 1 + (size >> 2) % 64; /* SETs stored in place (step.h) */
    }
    if (resp_port) {
        session_set_resp_only(&s);
    }
    size_t len = 0;
    memcpy(in, data + 1, cut);
    len = cut;
    if (serve(&s, in, &len)) {
        memcpy(in + len, data + 1 + cut, n - cut);
        len += n - cut;
        serve(&s, in, &len);
    }
    session_fini(&s);
    CHECK(fz.m.in_place_pending_bytes == 0); /* a value left halfway gave its item back */
    free(in);
    /* CONFIG SET maxmemory may have moved the limit: keep the store small. */
    store_set_memory_limit(fz.store, MEMORY_LIMIT);
    return 0;
}
