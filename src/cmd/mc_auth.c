/*
 * mc_auth: the password file, SASL PLAIN and memcached's ASCII
 * authentication (see mc_auth.h).
 *
 * The ASCII form follows memcached 1.6.18's try_read_command_asciiauth():
 * the request line is split on spaces with the "\r" left on its last token
 * (memcached's number parser skips it), the data must end in "\r\n", and
 * the replies are memcached's. memcached offers it with -Y and refuses
 * -S on text connections; stashd uses it for text clients under -S, with
 * the same password file as SASL.
 */
#include "cmd/mc_auth.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stashd/cmd/session.h"
#include "stashd/proto/mc_text.h"
#include "stashd/util/buf.h"
#include "stashd/util/log.h"
#include "stashd/util/metrics.h"
#include "stashd/util/options.h"

/* Warn once that -S has no password file (every authentication fails). */
static atomic_bool warned_no_file;

static const char *
pwdb_path(const struct options *o)
{
    if (o->sasl_pwdb != NULL && o->sasl_pwdb[0] != '\0') {
        return o->sasl_pwdb;
    }
    return getenv("MEMCACHED_SASL_PWDB");
}

/* Equal, without an early exit on the first differing byte. */
static bool
same_secret(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen) {
        return false;
    }
    unsigned char diff = 0;
    for (size_t i = 0; i < alen; i++) {
        diff |= (unsigned char)(a[i] ^ b[i]);
    }
    return diff == 0;
}

bool
mc_auth_check(const struct options *o, const char *user, size_t ulen, const char *pass, size_t plen)
{
    const char *path = pwdb_path(o);
    if (path == NULL || path[0] == '\0') {
        if (!atomic_exchange(&warned_no_file, true)) {
            log_warn("-S without a password file (--sasl-pwdb or MEMCACHED_SASL_PWDB): "
                     "every authentication fails");
        }
        return false;
    }
    if (ulen == 0) {
        return false;
    }
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        log_warn("cannot open the SASL password file %s", path);
        return false;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    bool ok = false;
    while ((n = getline(&line, &cap, f)) >= 0) {
        size_t len = (size_t)n;
        if (len <= ulen || memcmp(line, user, ulen) != 0 || line[ulen] != ':') {
            continue;
        }
        const char *p = line + ulen + 1;
        size_t pl = 0;
        while (ulen + 1 + pl < len && p[pl] != ':' && p[pl] != '\r' && p[pl] != '\n' &&
               p[pl] != '\0') {
            pl++;
        }
        ok = same_secret(p, pl, pass, plen);
        break; /* the first line naming the user decides */
    }
    if (line != NULL) {
        explicit_bzero(line, cap);
        free(line);
    }
    fclose(f);
    return ok;
}

bool
mc_auth_plain(const struct options *o, const char *data, size_t len)
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
    return mc_auth_check(o, authcid, clen, pass, (size_t)(end - pass));
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
    if (mc_auth_check(s->env->opts, cred[0].data, cred[0].len, cred[1].data, cred[1].len)) {
        REPLY(s, "STORED", err);
        return MC_AUTH_TEXT_AUTHED;
    }
    METRIC_INC(s->metrics, auth_errors);
    REPLY(s, "CLIENT_ERROR authentication failure", err);
    return MC_AUTH_TEXT_REFUSED;
}
