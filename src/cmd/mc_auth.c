/*
 * mc_auth: SASL PLAIN and memcached's ASCII authentication (see
 * mc_auth.h).
 *
 * The ASCII form follows memcached 1.6.18's try_read_command_asciiauth():
 * the request line is split on spaces with the "\r" left on its last token
 * (memcached's number parser skips it), the data must end in "\r\n", and
 * the replies are memcached's. memcached offers it with -Y only (and
 * refuses text connections under -S); stashd asks it of every text
 * connection whenever any credential is configured.
 */
#include "cmd/mc_auth.h"

#include <string.h>

#include "stashd/cmd/auth.h"
#include "stashd/cmd/session.h"
#include "stashd/proto/mc_text.h"
#include "stashd/util/buf.h"
#include "stashd/util/metrics.h"

bool
mc_auth_plain(struct auth *a, const char *data, size_t len)
{
    const char *nul1 = memchr(data, '\0', len);
    if (nul1 == NULL) {
        return false;
    }
    const char *authcid = nul1 + 1;
    const char *end = data + len;
    const char *nul2 = memchr(authcid, '\0', (size_t)(end - authcid));
    if (nul2 == NULL) {
        return false;
    }
    size_t zlen = (size_t)(nul1 - data), clen = (size_t)(nul2 - authcid);
    if (clen == 0) {
        return false;
    }
    if (zlen != 0 && (zlen != clen || memcmp(data, authcid, clen) != 0)) {
        return false; /* acting as another user: not authorised */
    }
    const char *pass = nul2 + 1;
    return auth_check(a, authcid, clen, pass, (size_t)(end - pass));
}

/* --- ASCII authentication ------------------------------------------------ */

#define TEXT_AUTH_LINE_MAX 2048 /* memcached: no newline in 2048 bytes closes */

/* Split s[0..len) on ' ' (stopping at a NUL, as memcached's strlen does)
 * into at most max tokens; returns the count. */
static unsigned
split(const char *s, size_t len, struct bstr *tok, unsigned max)
{
    const char *nul = memchr(s, '\0', len);
    const char *p = s, *end = nul != NULL ? nul : s + len;
    unsigned n = 0;
    while (n < max) {
        while (p < end && *p == ' ') {
            p++;
        }
        if (p == end) {
            break;
        }
        const char *e = memchr(p, ' ', (size_t)(end - p));
        if (e == NULL) {
            e = end;
        }
        tok[n].data = p;
        tok[n].len = (size_t)(e - p);
        n++;
        p = e;
    }
    return n;
}

static void
reply(struct session *s, const char *msg, size_t n, int *err)
{
    int rc = buf_append(s->out, msg, n);
    if (rc != 0 && *err == 0) {
        *err = rc;
    }
}

#define REPLY(s, lit, err) reply((s), lit "\r\n", sizeof(lit "\r\n") - 1, (err))

enum mc_auth_text_rc
mc_auth_text(struct session *s, const char *data, size_t len, size_t *consumed, size_t *need,
             int *err)
{
    *consumed = 0;
    *need = 0;
    if (len < 2) {
        return MC_AUTH_TEXT_NEED_MORE;
    }
    size_t scan = len < TEXT_AUTH_LINE_MAX + 1 ? len : TEXT_AUTH_LINE_MAX + 1;
    const char *nl = memchr(data, '\n', scan);
    if (nl == NULL) {
        return len > TEXT_AUTH_LINE_MAX ? MC_AUTH_TEXT_CLOSE : MC_AUTH_TEXT_NEED_MORE;
    }
    size_t line_len = (size_t)(nl - data) + 1;
    struct bstr tok[5];
    unsigned n = split(data, line_len - 1, tok, 5);
    uint32_t size;
    if (n < 5 || !bstr_eq(tok[0], BSTR_LIT("set")) || !mc_text_u32(tok[4], &size)) {
        *consumed = line_len;
        REPLY(s, "CLIENT_ERROR unauthenticated", err);
        return MC_AUTH_TEXT_REFUSED;
    }
    if (size > MC_AUTH_TEXT_MAX) {
        METRIC_INC(s->metrics, protocol_errors);
        return MC_AUTH_TEXT_CLOSE;
    }
    size_t total = line_len + size + 2;
    if (len < total) {
        *need = total;
        return MC_AUTH_TEXT_NEED_MORE;
    }
    *consumed = total;
    const char *payload = data + line_len;
    if (payload[size] != '\r' || payload[size + 1] != '\n') {
        REPLY(s, "CLIENT_ERROR bad command line termination", err);
        return MC_AUTH_TEXT_REFUSED;
    }
    struct bstr cred[2];
    if (split(payload, size, cred, 2) < 2) {
        REPLY(s, "CLIENT_ERROR bad authentication token format", err);
        return MC_AUTH_TEXT_REFUSED;
    }
    METRIC_INC(s->metrics, auth_cmds);
    if (auth_check(s->env->auth, cred[0].data, cred[0].len, cred[1].data, cred[1].len)) {
        REPLY(s, "STORED", err);
        return MC_AUTH_TEXT_AUTHED;
    }
    METRIC_INC(s->metrics, auth_errors);
    REPLY(s, "CLIENT_ERROR authentication failure", err);
    return MC_AUTH_TEXT_REFUSED;
}
