// layer: proto
/*
 * Fuzz target for proto/mc_text: parse the input as a stream of requests,
 * advancing by what each parse consumes (and swallows), and check the
 * parser's promises: it never reads or points past the bytes it was given,
 * consumes at most what it was given and at least one byte per answer, the
 * key iterator yields only keys of 1..250 bytes inside the line, and a
 * request's outcome depends on its own bytes only (parsing exactly those
 * bytes gives the same answer).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stashd/proto/mc_text.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool
fits(void *ctx, size_t nkey, size_t nbytes)
{
    (void)ctx;
    return nkey + nbytes <= 4096;
}

static const struct mc_text_limits lim = {.fits = fits, .ctx = NULL};

static void
check_view(struct bstr v, const char *lo, const char *hi)
{
    if (v.data != NULL) {
        CHECK(v.data >= lo && v.data + v.len <= hi);
    }
}

static void
check_req(const struct mc_text_req *r, const char *p, size_t len)
{
    const char *hi = p + len;
    check_view(r->key, p, hi);
    check_view(r->keys, p, hi);
    check_view(r->data, p, hi);
    CHECK(r->ntok <= MC_TEXT_MAX_TOKENS);
    for (unsigned i = 0; i < r->ntok; i++) {
        check_view(r->tok[i], p, hi);
        CHECK(r->tok[i].len > 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy so that ASan sees any read past the end. */
    char *buf = malloc(size > 0 ? size : 1);
    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, data, size);
    size_t pos = 0;
    uint64_t swallow = 0;
    while (pos < size) {
        if (swallow > 0) {
            size_t n = size - pos < swallow ? size - pos : (size_t)swallow;
            pos += n;
            swallow -= n;
            continue;
        }
        const char *p = buf + pos;
        size_t len = size - pos;
        struct mc_text_req r;
        enum mc_text_rc rc = mc_text_parse(p, len, &lim, &r);
        check_req(&r, p, len);
        if (rc == MC_TEXT_NEED_MORE) {
            CHECK(r.consumed == 0);
            CHECK(r.need == 0 || r.need > len);
            break;
        }
        if (rc == MC_TEXT_CLOSE) {
            break;
        }
        CHECK(r.consumed > 0 && r.consumed <= len);
        if (rc == MC_TEXT_ERROR) {
            CHECK(r.error.len >= 7 && memcmp(r.error.data + r.error.len - 2, "\r\n", 2) == 0);
        } else if (rc == MC_TEXT_TOO_LARGE) {
            CHECK(r.swallow >= 2 && r.key.len > 0 && r.key.len <= MC_TEXT_KEY_MAX);
            swallow = r.swallow;
        } else if (r.keys.data != NULL) {
            struct mc_text_keys it, plain;
            struct bstr k, pk;
            mc_text_req_keys(&it, &r);
            mc_text_keys_init(&plain, r.keys); /* reads nothing before the list */
            while (mc_text_keys_next(&it, &k)) {
                CHECK(k.len > 0 && k.len <= MC_TEXT_KEY_MAX);
                CHECK(k.data >= r.keys.data && k.data + k.len <= r.keys.data + r.keys.len);
                CHECK(memchr(k.data, ' ', k.len) == NULL);
                size_t off = mc_text_keys_offset(&it);
                CHECK(off <= r.keys.len);
                CHECK(mc_text_keys_next(&plain, &pk) && pk.data == k.data && pk.len == k.len);
            }
            CHECK(!mc_text_keys_next(&plain, &pk));
        } else if (r.data.data != NULL) {
            CHECK(r.data.len == r.nbytes);
        }
        /* A meta request's bytes: its line, then what mc_meta used after
         * it (an ms data block), then what it swallows. */
        size_t used = r.consumed;
        if (rc == MC_TEXT_OK && r.cmd >= MC_TEXT_MG && r.cmd <= MC_TEXT_ME) {
            CHECK(r.meta_rc != MC_META_NEED_MORE);
            CHECK(r.meta.extra <= len - r.consumed);
            used += r.meta.extra;
            swallow = r.meta.swallow;
        }
        /* The same bytes alone give the same answer. */
        struct mc_text_req again;
        char *exact = malloc(used);
        if (exact != NULL) {
            memcpy(exact, p, used);
            CHECK(mc_text_parse(exact, used, &lim, &again) == rc);
            CHECK(again.consumed == r.consumed && again.cmd == r.cmd);
            free(exact);
        }
        pos += used;
    }
    free(buf);
    return 0;
}
