// layer: proto
/*
 * Fuzz target for proto/mc_meta (on top of mc_text's tokenizer): parse the
 * input as a stream of requests, and for each meta command check the
 * parser's promises: views stay inside the input or the scratch buffer, a
 * decoded key is 1..187 bytes, flags are the line's tokens in order and
 * each letter at most once, the data block is inside what was given,
 * consumption and swallow counts add up, every error has its reply line,
 * and a request's outcome depends on its own bytes only.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stashd/proto/mc_meta.h"
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

static bool
inside(struct bstr v, const char *lo, size_t n)
{
    return v.data >= lo && v.data + v.len <= lo + n;
}

/* Check one meta request mc_text_parse read within p[0..len). */
static enum mc_meta_rc
check_meta(const struct mc_text_req *line, const char *p, size_t len)
{
    const struct mc_meta_req *r = &line->meta;
    const char *scratch = line->meta_scratch;
    enum mc_meta_rc rc = line->meta_rc;
    switch (rc) {
    case MC_META_OK:
        if (r->cmd != MC_META_MN) {
            CHECK(r->key.len > 0);
            if (r->key_binary) {
                CHECK(inside(r->key, scratch, MC_META_SCRATCH) && r->key.len <= 187);
                /* what memcached would send back decodes to the key */
                char enc[MC_META_B64_MAX], dec[MC_META_SCRATCH];
                size_t e = mc_meta_base64_encode(r->key.data, r->key.len, enc);
                CHECK(e <= MC_META_B64_MAX);
                CHECK(mc_meta_base64_decode(enc, e, dec, sizeof(dec)) == r->key.len);
                CHECK(memcmp(dec, r->key.data, r->key.len) == 0);
            } else {
                CHECK(inside(r->key, p, len) && r->key.len <= MC_META_KEY_MAX);
            }
        }
        CHECK(r->nflags + 2 <= MC_TEXT_MAX_TOKENS);
        for (unsigned i = 0; i < r->nflags; i++) {
            CHECK(inside(r->flags[i], p, len) && r->flags[i].len > 0);
            CHECK(mc_meta_has(r, (unsigned char)r->flags[i].data[0]));
            for (unsigned j = 0; j < i; j++) {
                CHECK(r->flags[j].data[0] != r->flags[i].data[0]);
            }
        }
        if (r->cmd == MC_META_MS) {
            CHECK(r->extra == (size_t)r->nbytes + 2 && r->data.len == r->nbytes);
            CHECK(inside(r->data, p + line->consumed, len - line->consumed));
            CHECK(fits(NULL, r->key.len, r->nbytes));
        } else {
            CHECK(r->extra == 0);
        }
        break;
    case MC_META_NEED_MORE: /* returned as MC_TEXT_NEED_MORE: see below */
        CHECK(false);
        break;
    case MC_META_ERROR:
        CHECK(r->error.len > 2 && memcmp(r->error.data + r->error.len - 2, "\r\n", 2) == 0);
        CHECK(r->error.data == mc_meta_error_text(r->error_id).data);
        CHECK(r->extra <= len - line->consumed);
        CHECK(r->swallow == 0 || r->swallow == (uint64_t)r->nbytes + 2);
        break;
    case MC_META_TOO_LARGE:
        CHECK(r->swallow == (uint64_t)r->nbytes + 2 && !fits(NULL, r->key.len, r->nbytes));
        break;
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size > 0 ? size : 1); /* exact size: ASan sees overreads */
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
        static struct mc_text_req line, line2; /* large: not on the stack */
        enum mc_text_rc trc = mc_text_parse(p, len, &lim, &line);
        bool meta = line.cmd >= MC_TEXT_MG && line.cmd <= MC_TEXT_ME;
        if (trc == MC_TEXT_NEED_MORE) {
            if (meta) {
                CHECK(line.meta_rc == MC_META_NEED_MORE && line.meta.cmd == MC_META_MS);
                CHECK(line.need > len && line.consumed == 0);
            }
            break;
        }
        if (trc == MC_TEXT_CLOSE) {
            break;
        }
        size_t used = line.consumed;
        if (trc == MC_TEXT_TOO_LARGE) {
            swallow = line.swallow;
        }
        if (trc == MC_TEXT_OK && meta) {
            enum mc_meta_rc rc = check_meta(&line, p, len);
            used = line.consumed + line.meta.extra;
            swallow = line.meta.swallow;
            /* the same bytes alone give the same answer */
            char *exact = malloc(used);
            if (exact != NULL) {
                memcpy(exact, p, used);
                CHECK(mc_text_parse(exact, used, &lim, &line2) == MC_TEXT_OK);
                CHECK(check_meta(&line2, exact, used) == rc);
                const struct mc_meta_req *r = &line.meta, *r2 = &line2.meta;
                CHECK(r2->error_id == r->error_id && r2->extra == r->extra &&
                      r2->swallow == r->swallow && r2->nflags == r->nflags &&
                      r2->key.len == r->key.len);
                free(exact);
            }
        }
        CHECK(used > 0 && used <= len);
        pos += used;
    }
    free(buf);
    return 0;
}
