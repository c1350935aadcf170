// layer: proto
/*
 * Fuzz target for proto/resp: parse a request stream the way a session
 * does (inline allowed when the first input byte is odd), checking that
 * every view lies inside the buffer and consumption always advances.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stashd/proto/resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    bool inl = data[0] & 1;
    char *buf = malloc(size);
    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, data + 1, size - 1);
    size_t len = size - 1, pos = 0;
    struct bstr argv[8];
    while (pos < len) {
        struct resp_req r;
        enum resp_parse_rc rc = resp_parse(buf + pos, len - pos, argv, 8, 1 << 20, inl, &r);
        if (rc == RESP_PARSE_AGAIN || rc == RESP_PARSE_ERROR) {
            break;
        }
        if (r.consumed == 0 || r.consumed > len - pos) {
            abort();
        }
        if (rc == RESP_PARSE_OK) {
            for (size_t i = 0; i < r.argc; i++) {
                if (argv[i].data < buf + pos ||
                    argv[i].data + argv[i].len > buf + pos + r.consumed) {
                    abort();
                }
            }
        }
        pos += r.consumed;
    }
    free(buf);
    return 0;
}
