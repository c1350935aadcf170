// layer: bench
/*
 * Fuzz target for bench/proto: arbitrary bytes as a server's replies to the
 * load generator, parsed against a FIFO of requests the way stashd-bench's
 * conn_parse() does.
 *
 *   input:  [ shape (4 bytes) ][ reply bytes ... ]
 *   shape:  0: protocol (bits 0-1, and 3: 4 + bits 0-1, modulo the count),
 *              padded keys of 8..24 bytes (bit 2)
 *           1: requests in flight - 1 (bits 0-2), keys per get - 1 (3-4);
 *              resp-multi: commands per transaction, sets included
 *           2: which requests are sets (bit i: request i)
 *           3: seed of the chunk sizes the replies arrive in (0: one piece)
 *
 * The replies are parsed twice, whole and in chunks, each parse call seeing
 * a buffer of exactly the unconsumed bytes, and the two runs must agree.
 * Checked on every call: consumption stays inside the buffer, PROTO_MORE
 * asks for more than is buffered, PROTO_DONE consumed something, a reply's
 * counts fit its request, and a desync leaves a terminated message.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define MAX_REQS 8
#define MAX_KEYS 4

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
    unsigned done;
    bool desync;
    size_t consumed;
    struct proto_result res[MAX_REQS];
    char err[160];
};

struct fifo {
    enum proto_id id;
    const struct keyspace *ks;
    unsigned n;
    struct proto_req reqs[MAX_REQS];
    uint64_t keys[MAX_REQS][MAX_KEYS];
};

static struct keyspace ks_plain, ks_range;
static struct value_gen vg;

static void
setup_once(void)
{
    static bool ready;
    if (ready) {
        return;
    }
    CHECK(keyspace_init(&ks_plain, 0, 1000, KEYSPACE_UNIFORM, 0.99, "key:", 0, 0) == 0);
    CHECK(keyspace_init(&ks_range, 0, 1000, KEYSPACE_UNIFORM, 0.99, "key:", 8, 24) == 0);
    CHECK(value_gen_init(&vg, 4096) == 0);
    ready = true;
}

/* Feeds wire[0..len) in pieces of 1..64 bytes drawn from seed (seed 0: one
 * piece), walking the FIFO until it is empty or the stream desyncs. */
static void
feed(const struct fifo *f, const char *wire, size_t len, uint64_t seed, struct run *o)
{
    struct proto_parser p;
    proto_parser_init(&p, f->id, f->ks, &vg);
    memset(o, 0, sizeof(*o));
    struct rng r = {seed};
    size_t rpos = 0, avail = 0;
    while (avail < len && o->done < f->n && !o->desync) {
        size_t piece = seed == 0 ? len : 1 + (size_t)rng_below(&r, 64);
        avail = len - avail < piece ? len : avail + piece;
        while (o->done < f->n && rpos < avail) {
            const struct proto_req *req = &f->reqs[o->done];
            size_t have = avail - rpos;
            char *buf = malloc(have);
            if (buf == NULL) {
                return;
            }
            memcpy(buf, wire + rpos, have);
            size_t used = SIZE_MAX, need = SIZE_MAX;
            struct proto_result res;
            enum proto_rc rc = proto_parse(&p, req, buf, have, &used, &need, &res);
            free(buf);
            CHECK(used <= have);
            rpos += used;
            if (rc == PROTO_MORE) {
                CHECK(need > have - used);
                break;
            }
            if (rc == PROTO_DESYNC) {
                CHECK(memchr(p.err, '\0', sizeof(p.err)) != NULL && p.err[0] != '\0');
                memcpy(o->err, p.err, sizeof(o->err));
                o->desync = true;
                break;
            }
            CHECK(rc == PROTO_DONE);
            CHECK(used > 0);
            uint64_t total = (uint64_t)res.hits + res.misses + res.errors;
            if (req->op == PROTO_OP_SET && req->nkeys == 1) {
                CHECK(res.hits == 0 && res.misses == 0 && res.errors <= 1);
            } else if (f->id == PROTO_MC_META || f->id == PROTO_MC_BINARY) {
                CHECK(total == req->nkeys); /* one reply per key */
            } else {
                /* RESP: an error per key at most, or one for the whole
                 * reply; resp-multi: one per refused command and EXEC's */
                CHECK(res.hits + res.misses <= req->nkeys && total <= req->nkeys + 1);
                CHECK(req->op == PROTO_OP_GET || res.hits + res.misses < req->nkeys);
            }
            o->res[o->done++] = res;
        }
    }
    o->consumed = rpos;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) {
        return 0;
    }
    setup_once();
    struct fifo f;
    memset(&f, 0, sizeof(f));
    f.id = (enum proto_id)(((data[0] & 3) | (data[0] >> 1 & 4)) % PROTO_COUNT);
    f.ks = data[0] & 4 ? &ks_range : &ks_plain;
    f.n = 1 + (data[1] & 7);
    unsigned nkeys = 1 + ((data[1] >> 3) & 3);
    /* resp-multi sets name as many keys as its gets (a SET, then GETs) */
    unsigned set_keys = proto_set_keys(f.id, nkeys);
    uint32_t opaque = 0;
    for (unsigned i = 0; i < f.n; i++) {
        bool set = data[2] >> i & 1;
        struct proto_req *q = &f.reqs[i];
        q->op = set ? PROTO_OP_SET : PROTO_OP_GET;
        q->nkeys = set ? set_keys : nkeys;
        q->opaque = opaque;
        opaque += q->nkeys; /* as stashd-bench: packet k carries opaque + k */
        for (unsigned k = 0; k < q->nkeys; k++) {
            f.keys[i][k] = 1 + (i * MAX_KEYS + k) % 8; /* repeats, as Zipf draws do */
        }
        q->keys = f.keys[i];
    }
    const char *wire = (const char *)data + 4;
    size_t len = size - 4;

    struct run whole, chunked;
    feed(&f, wire, len, 0, &whole);
    feed(&f, wire, len, (uint64_t)data[3] + 1, &chunked);
    CHECK(whole.done == chunked.done && whole.desync == chunked.desync);
    CHECK(memcmp(whole.res, chunked.res, sizeof(whole.res)) == 0);
    if (whole.desync) {
        CHECK(strcmp(whole.err, chunked.err) == 0);
    } else {
        CHECK(whole.consumed == chunked.consumed);
    }
    return 0;
}
