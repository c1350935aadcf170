// layer: proto
/*
 * Fuzz target for proto/mc_bin: parse the input as a stream of binary
 * requests, consuming each as the command layer does (header, extras and
 * key; the value when the opcode takes one; bodylen more after an unknown
 * opcode), and check the parser's promises: it never reads past what it
 * was given, waits for exactly header + extras + key, its views are inside
 * the packet, the shape checks agree with the lengths they judge, a quiet
 * opcode maps onto a base opcode that maps to itself, and a response
 * header echoes what it should.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stashd/proto/mc_bin.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Does this (base) opcode carry a value the command layer reads? */
static bool
takes_value(uint8_t base)
{
    return base == MC_BIN_SET || base == MC_BIN_ADD || base == MC_BIN_REPLACE ||
           base == MC_BIN_APPEND || base == MC_BIN_PREPEND || base == MC_BIN_SASL_AUTH ||
           base == MC_BIN_SASL_STEP;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
        struct mc_bin_req r;
        enum mc_bin_rc rc = mc_bin_parse(p, len, &r);
        if (rc == MC_BIN_NEED_MORE) {
            CHECK(r.need > len && (r.need == MC_BIN_HEADER_LEN || len >= MC_BIN_HEADER_LEN));
            break;
        }
        if (rc == MC_BIN_BAD_MAGIC) {
            CHECK(len >= MC_BIN_HEADER_LEN && (unsigned char)p[0] != MC_BIN_REQ_MAGIC);
            break;
        }
        CHECK(r.consumed == MC_BIN_HEADER_LEN + (size_t)r.extlen + r.keylen && r.consumed <= len);
        CHECK(r.key.data == p + MC_BIN_HEADER_LEN + r.extlen && r.key.len == r.keylen);
        CHECK((const char *)r.extras == p + MC_BIN_HEADER_LEN);
        bool quiet;
        uint8_t base = mc_bin_base_opcode(r.opcode, &quiet);
        bool again;
        CHECK(mc_bin_base_opcode(base, &again) == base && !again);
        enum mc_bin_check body = mc_bin_check_body(&r);
        CHECK((body == MC_BIN_CHECK_OK) == ((uint32_t)r.keylen + r.extlen <= r.bodylen));
        if (body != MC_BIN_CHECK_OK) {
            break; /* the connection closes */
        }
        CHECK(mc_bin_value_len(&r) == r.bodylen - r.extlen - r.keylen);
        enum mc_bin_check args = mc_bin_check_args(&r);
        if (args == MC_BIN_CHECK_ARGS) {
            break;
        }
        size_t used = r.consumed;
        if (args == MC_BIN_CHECK_UNKNOWN) {
            CHECK(r.keylen <= MC_BIN_KEY_MAX);
            swallow = r.bodylen;
        } else {
            CHECK(args == MC_BIN_CHECK_OK && r.keylen <= MC_BIN_KEY_MAX);
            if (takes_value(base)) {
                uint64_t total = (uint64_t)r.consumed + mc_bin_value_len(&r);
                if (total > len) {
                    break; /* the command layer waits (or swallows a large value) */
                }
                used = (size_t)total;
            }
            struct bstr t = mc_bin_status_text(MC_BIN_STATUS_EINVAL);
            CHECK(t.len > 0);
        }
        unsigned char hdr[MC_BIN_HEADER_LEN];
        mc_bin_write_header(hdr, r.opcode, r.keylen, r.extlen, 0, r.bodylen, r.opaque, r.cas);
        CHECK(hdr[0] == MC_BIN_RES_MAGIC && memcmp(hdr + 1, p + 1, 4) == 0 &&
              memcmp(hdr + 8, p + 8, 16) == 0);
        pos += used;
    }
    free(buf);
    return 0;
}
