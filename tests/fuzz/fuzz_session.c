// layer: cmd
/*
 * Fuzz target for cmd/session over the memcached text protocol, against a
 * real small store made once. The first input byte picks where the rest is
 * cut in two, as two reads would deliver it; the driver plays net/ (keeps
 * unconsumed bytes, drains replies, calls again after a yield or a pause)
 * and checks the session's promises: it consumes at most what it is given,
 * reports a need only beyond what it has, always makes progress, and
 * holds no item for a value stored in place once it is finished.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stashd/cmd/session.h"
#include "stashd/cmd/stats.h"
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

static struct {
    struct store *store;
    struct options opts;
    struct cmd_env env;
    struct stats *stats; /* watch, stats detail, reset: made once, never freed */
    struct metrics m;
    struct buf out;
    struct buf sent; /* what fz_write_now took, ahead of out */
} fz;

static void
fz_shutdown(void *ctx, bool graceful)
{
    (void)ctx;
    (void)graceful;
}

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
        .memory_limit = 8u << 20,
        .max_item_size = 4096,
        .growth_factor = 1.25,
        .slab_min_size = 48,
        .shards = 2,
        .threads = 1,
        .evictions = true,
        .cas_enabled = true,
    };
    if (stats_create(&fz.stats) != 0) {
        abort();
    }
    cfg.on_evict = stats_log_evict;
    cfg.evict_ctx = fz.stats;
    if (store_create(&fz.store, &cfg) != 0) {
        abort();
    }
    options_init(&fz.opts); /* made once, like the store: never freed */
    fz.opts.reqs_per_event = 4;
    fz.opts.flush_enabled = true;
    fz.opts.shutdown_enabled = true;
    fz.opts.max_item_size = 4096;
    fz.opts.conn_limit = 16;
    fz.env = (struct cmd_env){
        .store = fz.store,
        .opts = &fz.opts,
        .shutdown = fz_shutdown,
        .threads = 1,
        .stats = fz.stats,
    };
    buf_init(&fz.out);
    buf_init(&fz.sent);
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

/* Values stored in place (step.h) for about half the inputs, from values
 * of 1-64 bytes, so that one cut in two reads starts one and the second
 * read feeds it. */
static void
fz_sink(struct session *s, size_t size)
{
    if ((size & 2) != 0) {
        s->sink_min = 1 + (size >> 2) % 64;
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
        CHECK(fz.out.rpos <= fz.out.wpos && fz.out.wpos <= fz.out.cap);
        buf_reset(&fz.out);
        buf_reset(&fz.sent);
        if (rc == SESSION_CLOSE) {
            return false;
        }
        if (rc == SESSION_OK) {
            CHECK(need == 0 || need > *len);
            CHECK(need <= session_max_request(s));
            return true;
        }
        if (rc == SESSION_PAUSE) {
            continue; /* replies drained: go on */
        }
        /* a yield means requests were served, or a dump made progress */
        CHECK(consumed > 0 || s->dump != NULL);
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
    size_t n = size - 1;
    size_t cut = (size_t)data[0] * n / 256;
    char *in = malloc(n > 0 ? n : 1);
    if (in == NULL) {
        return 0;
    }
    struct session s;
    session_init(&s, &fz.env, &fz.m, &fz.out);
    fz_direct(&s, data, size);
    fz_sink(&s, size);
    size_t len = 0;
    memcpy(in, data + 1, cut);
    len = cut;
    if (serve(&s, in, &len)) {
        memcpy(in + len, data + 1 + cut, n - cut);
        len += n - cut;
        serve(&s, in, &len);
    }
    session_fini(&s);
    /* a value left halfway gave its reservation back */
    CHECK(fz.m.in_place_pending_bytes == 0);
    free(in);
    return 0;
}
