/*
 * auth: the credential sources and the check every protocol calls (see
 * stashd/cmd/auth.h).
 *
 * The -Y file follows memcached 1.6.18's authfile.c: each line is
 * "user:password", the user ends at the first ':', the password at '\r',
 * '\n' or the end of the file, and a line without ':' makes the file
 * malformed (memcached then refuses to start; a reload keeps the old
 * users). Two differences, both supersets: memcached keeps only the first
 * 8 users, silently, and reads at most 255 bytes a line; stashd keeps up
 * to AUTH_FILE_MAX_USERS users of up to AUTH_FILE_MAX_LINE bytes and
 * refuses a file beyond either. Blank lines are skipped (memcached calls
 * them malformed).
 */
#include "stashd/cmd/auth.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stashd/util/bstr.h"
#include "stashd/util/log.h"
#include "stashd/util/options.h"

#define AUTH_FILE_MAX_USERS 4096
#define AUTH_FILE_MAX_LINE 4096

struct auth_user {
    char *user; /* into the owning blob, not NUL-terminated */
    size_t ulen;
    char *pass;
    size_t plen;
};

/* One loaded -Y file: the users point into blob. */
struct auth_table {
    char *blob;
    struct auth_user *users;
    size_t n;
};

struct auth {
    const struct options *opts; /* const after start */
    bool required;              /* const after start */
    /* lock guards table: a SIGHUP reload swaps it while workers check. */
    pthread_mutex_t lock;
    struct auth_table table;
    atomic_bool warned_no_pwdb; /* -S without a password file: warned once */
};

static void
table_free(struct auth_table *t)
{
    if (t->blob != NULL) {
        explicit_bzero(t->blob, strlen(t->blob));
    }
    free(t->blob);
    free(t->users);
    memset(t, 0, sizeof(*t));
}

static bool
same_secret(const char *a, size_t alen, const char *b, size_t blen)
{
    return bstr_eq_secret((struct bstr){.data = a, .len = alen},
                          (struct bstr){.data = b, .len = blen});
}

/* Read the whole file (at most max bytes) as a NUL-terminated string. */
static int
slurp(const char *path, size_t max, char **out)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -errno;
    }
    size_t cap = 4096, len = 0;
    char *b = malloc(cap);
    int rc = 0;
    while (b != NULL) {
        if (len + 1 == cap) {
            if (cap > max) {
                rc = -EFBIG;
                break;
            }
            char *nb = realloc(b, cap * 2);
            if (nb == NULL) {
                break;
            }
            b = nb;
            cap *= 2;
        }
        size_t n = fread(b + len, 1, cap - 1 - len, f);
        len += n;
        if (n == 0) {
            rc = ferror(f) ? -EIO : 0;
            b[len] = '\0';
            fclose(f);
            if (rc != 0) {
                free(b);
                return rc;
            }
            *out = b;
            return 0;
        }
    }
    fclose(f);
    if (b != NULL) {
        explicit_bzero(b, len);
    }
    free(b);
    return rc != 0 ? rc : -ENOMEM;
}

/* Parse a -Y file's text (taken over by t). 0, or -EINVAL when malformed. */
static int
table_parse(struct auth_table *t, char *blob)
{
    t->blob = blob;
    t->users = NULL;
    t->n = 0;
    size_t cap = 0;
    char *p = blob;
    while (*p != '\0') {
        char *eol = strchr(p, '\n');
        char *end = eol != NULL ? eol : p + strlen(p);
        char *next = eol != NULL ? eol + 1 : end;
        if (end == p || (end == p + 1 && *p == '\r')) {
            p = next; /* a blank line */
            continue;
        }
        char *colon = memchr(p, ':', (size_t)(end - p));
        if (colon == NULL || (size_t)(end - p) > AUTH_FILE_MAX_LINE ||
            t->n == AUTH_FILE_MAX_USERS) {
            return -EINVAL;
        }
        char *pe = colon + 1;
        while (pe < end && *pe != '\r') {
            pe++;
        }
        if (t->n == cap) {
            size_t ncap = cap == 0 ? 8 : cap * 2;
            struct auth_user *nu = realloc(t->users, ncap * sizeof(*nu));
            if (nu == NULL) {
                return -ENOMEM;
            }
            t->users = nu;
            cap = ncap;
        }
        t->users[t->n++] = (struct auth_user){
            .user = p,
            .ulen = (size_t)(colon - p),
            .pass = colon + 1,
            .plen = (size_t)(pe - colon - 1),
        };
        p = next;
    }
    return 0;
}

/* Load opts->auth_file into *t; memcached's messages on failure. */
static int
table_load(const char *path, struct auth_table *t, char *err, size_t errlen)
{
    char *blob = NULL;
    int rc = slurp(path, (size_t)AUTH_FILE_MAX_USERS * AUTH_FILE_MAX_LINE, &blob);
    if (rc != 0) {
        const char *why = rc == -EFBIG ? "File too large" : strerror(-rc);
        snprintf(err, errlen, "Could not open authfile [%s] for reading, error %s: %s", path, why,
                 why);
        return rc;
    }
    rc = table_parse(t, blob);
    if (rc != 0) {
        table_free(t);
        if (rc == -EINVAL) {
            snprintf(err, errlen, "Authfile [%s] has a malformed entry. Should be 'user:password'",
                     path);
        } else {
            snprintf(err, errlen, "Authfile [%s]: out of memory", path);
        }
    }
    return rc;
}

int
auth_create(struct auth **ap, const struct options *o, char *err, size_t errlen)
{
    struct auth *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    a->opts = o;
    a->required = o->sasl || o->auth_file[0] != '\0' || o->requirepass[0] != '\0';
    pthread_mutex_init(&a->lock, NULL);
    if (o->auth_file[0] != '\0') {
        int rc = table_load(o->auth_file, &a->table, err, errlen);
        if (rc != 0) {
            auth_destroy(&a);
            return rc;
        }
    }
    *ap = a;
    return 0;
}

void
auth_destroy(struct auth **ap)
{
    struct auth *a = *ap;
    if (a == NULL) {
        return;
    }
    table_free(&a->table);
    pthread_mutex_destroy(&a->lock);
    free(a);
    *ap = NULL;
}

int
auth_reload(struct auth *a, char *err, size_t errlen)
{
    if (a == NULL || a->opts->auth_file[0] == '\0') {
        return 0;
    }
    struct auth_table t = {0};
    int rc = table_load(a->opts->auth_file, &t, err, errlen);
    if (rc != 0) {
        return rc;
    }
    pthread_mutex_lock(&a->lock);
    struct auth_table old = a->table;
    a->table = t;
    pthread_mutex_unlock(&a->lock);
    table_free(&old);
    return 0;
}

bool
auth_required(const struct auth *a)
{
    return a != NULL && a->required;
}

/* In the -Y users? Every entry is compared, whatever matched earlier. */
static bool
check_table(struct auth *a, const char *user, size_t ulen, const char *pass, size_t plen)
{
    bool ok = false;
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < a->table.n; i++) {
        const struct auth_user *e = &a->table.users[i];
        bool u = same_secret(e->user, e->ulen, user, ulen);
        bool p = same_secret(e->pass, e->plen, pass, plen);
        ok |= u & p;
    }
    pthread_mutex_unlock(&a->lock);
    return ok;
}

static const char *
pwdb_path(const struct options *o)
{
    if (o->sasl_pwdb[0] != '\0') {
        return o->sasl_pwdb;
    }
    return getenv("MEMCACHED_SASL_PWDB");
}

/* In the -S password file? The first line naming the user decides; its
 * password ends at ':', '\r', '\n' or the end of the line. */
static bool
check_pwdb(struct auth *a, const char *user, size_t ulen, const char *pass, size_t plen)
{
    const char *path = pwdb_path(a->opts);
    if (path == NULL || path[0] == '\0') {
        if (!atomic_exchange(&a->warned_no_pwdb, true)) {
            log_warn("-S without a password file (--sasl-pwdb or MEMCACHED_SASL_PWDB): "
                     "no SASL user can authenticate");
        }
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
        break;
    }
    if (line != NULL) {
        explicit_bzero(line, cap);
        free(line);
    }
    fclose(f);
    return ok;
}

bool
auth_check(struct auth *a, const char *user, size_t ulen, const char *pass, size_t plen)
{
    if (!auth_required(a) || ulen == 0) {
        return false;
    }
    const char *rp = a->opts->requirepass;
    if (rp[0] != '\0' && same_secret(user, ulen, AUTH_DEFAULT_USER, strlen(AUTH_DEFAULT_USER)) &&
        same_secret(pass, plen, rp, strlen(rp))) {
        return true;
    }
    if (a->opts->auth_file[0] != '\0' && check_table(a, user, ulen, pass, plen)) {
        return true;
    }
    return a->opts->sasl && check_pwdb(a, user, ulen, pass, plen);
}
