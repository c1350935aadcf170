/*
 * mc_bin: binary protocol framing (see the header). The shape rules are
 * memcached 1.6.18's dispatch_bin_command(), checked against the real
 * server: which opcode needs which extras, key and body lengths, and what
 * happens to a request that breaks them.
 */
#include "stashd/proto/mc_bin.h"

#include <string.h>

enum mc_bin_rc
mc_bin_parse(const char *data, size_t len, struct mc_bin_req *req)
{
    memset(req, 0, sizeof(*req));
    /* memcached looks at the magic once the whole header is in. */
    if (len < MC_BIN_HEADER_LEN) {
        req->need = MC_BIN_HEADER_LEN;
        return MC_BIN_NEED_MORE;
    }
    const unsigned char *p = (const unsigned char *)data;
    if (p[0] != MC_BIN_REQ_MAGIC) {
        return MC_BIN_BAD_MAGIC;
    }
    req->opcode = p[1];
    req->keylen = (uint16_t)(p[2] << 8 | p[3]);
    req->extlen = p[4];
    req->datatype = p[5];
    req->vbucket = (uint16_t)(p[6] << 8 | p[7]);
    req->bodylen = mc_bin_be32(p + 8);
    req->opaque = mc_bin_be32(p + 12);
    req->cas = mc_bin_be64(p + 16);
    size_t total = MC_BIN_HEADER_LEN + (size_t)req->extlen + req->keylen;
    if (len < total) {
        req->need = total;
        return MC_BIN_NEED_MORE;
    }
    req->extras = p + MC_BIN_HEADER_LEN;
    req->key.data = data + MC_BIN_HEADER_LEN + req->extlen;
    req->key.len = req->keylen;
    req->consumed = total;
    return MC_BIN_OK;
}

enum mc_bin_check
mc_bin_check_body(const struct mc_bin_req *req)
{
    if (req->keylen > req->bodylen || (uint32_t)req->keylen + req->extlen > req->bodylen) {
        return MC_BIN_CHECK_BODY;
    }
    return MC_BIN_CHECK_OK;
}

uint8_t
mc_bin_base_opcode(uint8_t opcode, bool *quiet)
{
    uint8_t base;
    switch (opcode) {
    case MC_BIN_SETQ:
        base = MC_BIN_SET;
        break;
    case MC_BIN_ADDQ:
        base = MC_BIN_ADD;
        break;
    case MC_BIN_REPLACEQ:
        base = MC_BIN_REPLACE;
        break;
    case MC_BIN_DELETEQ:
        base = MC_BIN_DELETE;
        break;
    case MC_BIN_INCREMENTQ:
        base = MC_BIN_INCREMENT;
        break;
    case MC_BIN_DECREMENTQ:
        base = MC_BIN_DECREMENT;
        break;
    case MC_BIN_QUITQ:
        base = MC_BIN_QUIT;
        break;
    case MC_BIN_FLUSHQ:
        base = MC_BIN_FLUSH;
        break;
    case MC_BIN_APPENDQ:
        base = MC_BIN_APPEND;
        break;
    case MC_BIN_PREPENDQ:
        base = MC_BIN_PREPEND;
        break;
    case MC_BIN_GETQ:
        base = MC_BIN_GET;
        break;
    case MC_BIN_GETKQ:
        base = MC_BIN_GETK;
        break;
    case MC_BIN_GATQ:
        base = MC_BIN_GAT;
        break;
    case MC_BIN_GATKQ:
        base = MC_BIN_GATK;
        break;
    default:
        *quiet = false;
        return opcode;
    }
    *quiet = true;
    return base;
}

enum mc_bin_check
mc_bin_check_args(const struct mc_bin_req *req)
{
    if (req->keylen > MC_BIN_KEY_MAX) {
        return MC_BIN_CHECK_ARGS;
    }
    uint32_t ext = req->extlen, key = req->keylen, body = req->bodylen;
    bool quiet;
    bool ok;
    switch (mc_bin_base_opcode(req->opcode, &quiet)) {
    case MC_BIN_VERSION:
    case MC_BIN_NOOP:
    case MC_BIN_QUIT:
    case MC_BIN_SASL_LIST_MECHS:
        ok = ext == 0 && key == 0 && body == 0;
        break;
    case MC_BIN_FLUSH:
        ok = key == 0 && body == ext && (ext == 0 || ext == 4);
        break;
    case MC_BIN_SET:
    case MC_BIN_ADD:
    case MC_BIN_REPLACE:
        ok = ext == 8 && key != 0 && body >= key + 8;
        break;
    case MC_BIN_GET:
    case MC_BIN_GETK:
    case MC_BIN_DELETE:
        ok = ext == 0 && key > 0 && body == key;
        break;
    case MC_BIN_INCREMENT:
    case MC_BIN_DECREMENT:
        ok = key > 0 && ext == 20 && body == key + ext;
        break;
    case MC_BIN_APPEND:
    case MC_BIN_PREPEND:
        ok = key > 0 && ext == 0;
        break;
    case MC_BIN_STAT:
        ok = ext == 0;
        break;
    case MC_BIN_SASL_AUTH:
    case MC_BIN_SASL_STEP:
        ok = ext == 0 && key != 0;
        break;
    case MC_BIN_TOUCH:
    case MC_BIN_GAT:
    case MC_BIN_GATK:
        ok = ext == 4 && key != 0;
        break;
    default:
        return MC_BIN_CHECK_UNKNOWN;
    }
    return ok ? MC_BIN_CHECK_OK : MC_BIN_CHECK_ARGS;
}

struct bstr
mc_bin_status_text(uint16_t status)
{
    switch (status) {
    case MC_BIN_STATUS_ENOMEM:
        return BSTR_LIT("Out of memory");
    case MC_BIN_STATUS_UNKNOWN_COMMAND:
        return BSTR_LIT("Unknown command");
    case MC_BIN_STATUS_KEY_ENOENT:
        return BSTR_LIT("Not found");
    case MC_BIN_STATUS_EINVAL:
        return BSTR_LIT("Invalid arguments");
    case MC_BIN_STATUS_KEY_EEXISTS:
        return BSTR_LIT("Data exists for key.");
    case MC_BIN_STATUS_E2BIG:
        return BSTR_LIT("Too large.");
    case MC_BIN_STATUS_DELTA_BADVAL:
        return BSTR_LIT("Non-numeric server-side value for incr or decr");
    case MC_BIN_STATUS_NOT_STORED:
        return BSTR_LIT("Not stored.");
    case MC_BIN_STATUS_AUTH_ERROR:
        return BSTR_LIT("Auth failure.");
    default:
        return BSTR_LIT("");
    }
}
