/*
 * tls: the TLS engine of net/ (see tls.h for the data flow).
 *
 * Server context. One SSL_CTX built from the ssl_* options: certificate
 * chain and key, optional client CA and verify mode (memcached's 0-3),
 * minimum version, TLS 1.2 cipher list, session cache. Renegotiation is
 * refused (OpenSSL 3 refuses a client's by default; SSL_OP_NO_RENEGOTIATION
 * says so explicitly and keeps the server from ever asking for one; TLS
 * 1.3 has none). A reload builds a whole new context and swaps the pointer
 * under `lock`; an SSL object holds a reference to the context it was made
 * from, so connections already open finish on the old one and it is freed
 * with the last of them. The session-ticket keys are carried over, so
 * tickets issued before a reload still resume after it.
 *
 * Connection. An SSL object in server mode whose only BIO is conn_bio: a
 * read side that serves the ciphertext of the current tls_conn_input call
 * from the caller's buffer (and "retry" once it is used up) and a write
 * side that appends to the caller's output buffer. Every call runs the
 * SSL object until it wants more input, so no ciphertext is left over
 * between calls and the caller's scratch read buffer can be shared by all
 * connections of a worker.
 *
 * Memory: SSL_MODE_RELEASE_BUFFERS frees OpenSSL's record buffers whenever
 * they are empty, so an idle TLS connection holds only its SSL object (RSS
 * per idle connection 29.4 -> 19.7 KiB); a busy one gets them back from
 * the allocator's thread cache on each batch (~0.2 us of CPU per batch
 * each way, measured in process). Hostile input is bounded by OpenSSL's own limits
 * (handshake message sizes, warning-alert and empty-record counts), by
 * consuming every byte at once, and by the handshake timeout in conn.c.
 */
#include "net/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stashd/util/buf.h"
#include "stashd/util/log.h"
#include "stashd/util/metrics.h"

#ifdef STASHD_TLS

#include <limits.h>
#include <pthread.h>

#include "net/tls_lib.h" /* OpenSSL, through pointers dlopen filled */
#include "stashd/util/clock.h"
#include "stashd/util/options.h"

/* Plaintext room asked of the read buffer before each SSL_read: a small
 * multiple of a typical batch; a full record (16 KiB) that does not fit is
 * returned over several SSL_read calls. */
#define TLS_READ_ROOM 4096

struct tls_server {
    const struct options *o;
    pthread_mutex_t lock;        /* guards ctx: held for SSL_new and for the swap */
    SSL_CTX *ctx;                /* the context new connections get */
    pthread_mutex_t reload_lock; /* one reload at a time; taken before lock */
    uint32_t loaded_at;          /* clock_now() of the last load (atomic) */
};

struct tls_conn {
    SSL *ssl;
    struct metrics *m; /* the worker's */
    /* Valid only during a tls_conn_input / output / shutdown call: */
    const char *in; /* ciphertext not yet given to OpenSSL */
    size_t in_len;
    struct buf *tx; /* where ciphertext goes */
    int tx_err;     /* an append to tx failed */
    bool established;
    bool failed;        /* a fatal error: nothing more may be read or written */
    bool shutdown_sent; /* close_notify queued */
};

/* --- the connection BIO -------------------------------------------------- */

static BIO_METHOD *conn_bio_method;
static pthread_once_t conn_bio_once = PTHREAD_ONCE_INIT;

static int
conn_bio_write(BIO *b, const char *p, int len)
{
    struct tls_conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (len <= 0) {
        return 0;
    }
    if (c == NULL || c->tx == NULL || buf_append(c->tx, p, (size_t)len) != 0) {
        if (c != NULL) {
            c->tx_err = -ENOMEM;
        }
        return -1;
    }
    return len;
}

static int
conn_bio_read(BIO *b, char *out, int len)
{
    struct tls_conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (c == NULL || c->in_len == 0) {
        BIO_set_retry_read(b);
        return -1;
    }
    size_t n = len > 0 && (size_t)len < c->in_len ? (size_t)len : c->in_len;
    memcpy(out, c->in, n);
    c->in += n;
    c->in_len -= n;
    return (int)n;
}

static long
conn_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int
conn_bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static int
conn_bio_destroy(BIO *b)
{
    BIO_set_data(b, NULL);
    return 1;
}

static void
conn_bio_setup(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "stashd conn");
    if (m != NULL && BIO_meth_set_write(m, conn_bio_write) && BIO_meth_set_read(m, conn_bio_read) &&
        BIO_meth_set_ctrl(m, conn_bio_ctrl) && BIO_meth_set_create(m, conn_bio_create) &&
        BIO_meth_set_destroy(m, conn_bio_destroy)) {
        conn_bio_method = m;
    } else {
        BIO_meth_free(m);
    }
}

/* --- the server context -------------------------------------------------- */

bool
tls_available(void)
{
    return true;
}

/* "<what><path> : <OpenSSL's first error>", memcached's refresh_certs
 * wording; clears the thread's error queue. */
static void
ssl_error(char *err, size_t errlen, const char *what, const char *path)
{
    char reason[256] = "unknown error";
    unsigned long e = ERR_get_error();
    if (e != 0) {
        ERR_error_string_n(e, reason, sizeof(reason));
    }
    ERR_clear_error();
    snprintf(err, errlen, "%s%s : %s", what, path, reason);
}

static int
on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    (void)sess;
    struct tls_conn *c = SSL_get_app_data(ssl);
    if (c != NULL) {
        METRIC_INC(c->m, ssl_new_sessions);
    }
    return 0; /* the cache keeps its own reference; we keep none */
}

/* The ticket keys (name, HMAC and AES keys) of a context, which OpenSSL
 * 3.0 reads and sets as one 80-byte block. */
#define TICKET_KEYS_LEN 80

static void
carry_ticket_keys(SSL_CTX *from, SSL_CTX *to)
{
    unsigned char keys[TICKET_KEYS_LEN];
    if (from != NULL && SSL_CTX_get_tlsext_ticket_keys(from, keys, sizeof(keys)) == 1) {
        SSL_CTX_set_tlsext_ticket_keys(to, keys, sizeof(keys));
    }
    OPENSSL_cleanse(keys, sizeof(keys));
}

/* The certificate, key and client CA list: the part a reload repeats. */
static int
load_certs(SSL_CTX *ctx, const struct options *o, char *err, size_t errlen)
{
    const char *key = o->ssl_key[0] != '\0' ? o->ssl_key : o->ssl_chain_cert;
    int keyformat = o->ssl_keyformat == 2 ? SSL_FILETYPE_ASN1 : SSL_FILETYPE_PEM;
    if (SSL_CTX_use_certificate_chain_file(ctx, o->ssl_chain_cert) != 1) {
        ssl_error(err, errlen, "Error loading the certificate chain: ", o->ssl_chain_cert);
        return -EINVAL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, keyformat) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        ssl_error(err, errlen, "Error loading the key: ", key);
        return -EINVAL;
    }
    if (o->ssl_ca_cert[0] != '\0') {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->ssl_ca_cert);
        if (names == NULL || SSL_CTX_load_verify_locations(ctx, o->ssl_ca_cert, NULL) != 1) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            ssl_error(err, errlen, "Error loading the CA certs from ", o->ssl_ca_cert);
            return -EINVAL;
        }
        SSL_CTX_set_client_CA_list(ctx, names); /* takes names */
    }
    return 0;
}

static SSL_CTX *
build_ctx(const struct options *o, SSL_CTX *prev, char *err, size_t errlen)
{
    static const int versions[] = {TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION, TLS1_3_VERSION};
    static const int verify[] = {
        SSL_VERIFY_NONE,
        SSL_VERIFY_PEER,
        SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
        SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT | SSL_VERIFY_CLIENT_ONCE,
    };
    static const unsigned char sid_ctx[] = "stashd";
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        ssl_error(err, errlen, "Error creating the TLS context", "");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, versions[o->ssl_min_version & 3]);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (o->ssl_ciphers[0] != '\0' && SSL_CTX_set_cipher_list(ctx, o->ssl_ciphers) != 1) {
        ssl_error(err, errlen, "Error setting the cipher list: ", o->ssl_ciphers);
        goto fail;
    }
    if (load_certs(ctx, o, err, errlen) != 0) {
        goto fail;
    }
    SSL_CTX_set_verify(ctx, verify[o->ssl_verify_mode & 3], NULL);
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    if (o->ssl_session_cache) {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
        SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    }
    carry_ticket_keys(prev, ctx);
    return ctx;

fail:
    SSL_CTX_free(ctx);
    return NULL;
}

int
tls_server_create(struct tls_server **tp, const struct options *o, char *err, size_t errlen)
{
    *tp = NULL;
    if (o->ssl_chain_cert[0] == '\0') {
        snprintf(err, errlen, "TLS (-Z or --tls-port) needs a certificate: -o ssl_chain_cert=FILE");
        return -EINVAL;
    }
    if (o->ssl_verify_mode != 0 && o->ssl_ca_cert[0] == '\0') {
        snprintf(err, errlen,
                 "ssl_verify_mode %ld checks client certificates: give their CA with "
                 "-o ssl_ca_cert=FILE",
                 (long)o->ssl_verify_mode);
        return -EINVAL;
    }
    if (tls_lib_load(err, errlen) != 0) {
        return -ENOTSUP;
    }
    if (o->ssl_kernel_tls) {
        log_warn("ssl_kernel_tls: kernel TLS offload is not used; stashd encrypts in user space");
    }
    pthread_once(&conn_bio_once, conn_bio_setup);
    if (conn_bio_method == NULL) {
        snprintf(err, errlen, "cannot create the TLS connection BIO");
        return -ENOMEM;
    }
    struct tls_server *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    t->o = o;
    t->ctx = build_ctx(o, NULL, err, errlen);
    if (t->ctx == NULL) {
        free(t);
        return -EINVAL;
    }
    pthread_mutex_init(&t->lock, NULL);
    pthread_mutex_init(&t->reload_lock, NULL);
    t->loaded_at = clock_now();
    *tp = t;
    return 0;
}

void
tls_server_destroy(struct tls_server **tp)
{
    struct tls_server *t = *tp;
    if (t == NULL) {
        return;
    }
    SSL_CTX_free(t->ctx);
    pthread_mutex_destroy(&t->lock);
    pthread_mutex_destroy(&t->reload_lock);
    free(t);
    *tp = NULL;
}

int
tls_server_reload(struct tls_server *t, char *err, size_t errlen)
{
    pthread_mutex_lock(&t->reload_lock);
    pthread_mutex_lock(&t->lock);
    SSL_CTX *prev = t->ctx;
    SSL_CTX_up_ref(prev);
    pthread_mutex_unlock(&t->lock);
    /* Files are read outside `lock`, so accepts never wait for the disk. */
    SSL_CTX *ctx = build_ctx(t->o, prev, err, errlen);
    SSL_CTX_free(prev);
    if (ctx == NULL) {
        pthread_mutex_unlock(&t->reload_lock);
        return -EINVAL;
    }
    pthread_mutex_lock(&t->lock);
    prev = t->ctx;
    t->ctx = ctx;
    pthread_mutex_unlock(&t->lock);
    SSL_CTX_free(prev); /* freed once its last connection is */
    __atomic_store_n(&t->loaded_at, clock_now(), __ATOMIC_RELAXED);
    pthread_mutex_unlock(&t->reload_lock);
    return 0;
}

uint32_t
tls_server_loaded_at(const struct tls_server *t)
{
    return __atomic_load_n(&t->loaded_at, __ATOMIC_RELAXED);
}

/* --- connections --------------------------------------------------------- */

int
tls_conn_create(struct tls_conn **cp, struct tls_server *t, struct metrics *m)
{
    *cp = NULL;
    struct tls_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return -ENOMEM;
    }
    c->m = m;
    pthread_mutex_lock(&t->lock);
    c->ssl = SSL_new(t->ctx);
    pthread_mutex_unlock(&t->lock);
    BIO *bio = c->ssl != NULL ? BIO_new(conn_bio_method) : NULL;
    if (bio == NULL) {
        SSL_free(c->ssl);
        free(c);
        ERR_clear_error();
        return -ENOMEM;
    }
    BIO_set_data(bio, c);
    SSL_set_bio(c->ssl, bio, bio); /* the SSL owns the BIO */
    SSL_set_app_data(c->ssl, c);
    SSL_set_accept_state(c->ssl);
    *cp = c;
    return 0;
}

void
tls_conn_destroy(struct tls_conn **cp)
{
    struct tls_conn *c = *cp;
    if (c == NULL) {
        return;
    }
    SSL_free(c->ssl);
    free(c);
    *cp = NULL;
}

/* A fatal error: log OpenSSL's reason, count a failed handshake, and
 * refuse every later call. */
static enum tls_rc
conn_fail(struct tls_conn *c, int ssl_err)
{
    unsigned long e = ERR_peek_error();
    if (!c->established) {
        METRIC_INC(c->m, ssl_handshake_errors);
    }
    log_verbose("TLS %s failed: %s", c->established ? "session" : "handshake",
                e != 0                     ? ERR_reason_error_string(e)
                : c->tx_err != 0           ? "no memory for output"
                : ssl_err == SSL_ERROR_SSL ? "protocol error"
                                           : "unexpected state");
    ERR_clear_error();
    c->failed = true;
    return TLS_FAIL;
}

/* Room for SSL_read in rbuf: false when rbuf is full at max. */
static bool
read_room(struct buf *rbuf, size_t max)
{
    if (buf_writable(rbuf) >= TLS_READ_ROOM) {
        return true;
    }
    return buf_reserve(rbuf, TLS_READ_ROOM, max) == 0 || buf_writable(rbuf) > 0;
}

enum tls_rc
tls_conn_input(struct tls_conn *c, const char *in, size_t n, struct buf *rbuf, size_t max,
               struct buf *tx, size_t *plain)
{
    *plain = 0;
    if (c->failed) {
        return TLS_FAIL;
    }
    c->in = in;
    c->in_len = n;
    c->tx = tx;
    c->tx_err = 0;
    enum tls_rc rc = TLS_OK;
    for (;;) {
        if (!read_room(rbuf, max)) {
            rc = TLS_LIMIT;
            break;
        }
        size_t room = buf_writable(rbuf);
        int r = SSL_read(c->ssl, rbuf->data + rbuf->wpos, room > INT_MAX ? INT_MAX : (int)room);
        if (r > 0 && c->tx_err == 0) {
            rbuf->wpos += (size_t)r;
            *plain += (size_t)r;
            if (c->in_len == 0 && c->established && SSL_pending(c->ssl) == 0) {
                break; /* all consumed: spare the SSL_read that would say so */
            }
            continue;
        }
        int e = SSL_get_error(c->ssl, r);
        if (c->tx_err == 0 && e == SSL_ERROR_WANT_READ && c->in_len == 0) {
            break; /* everything consumed */
        }
        if (c->tx_err == 0 && e == SSL_ERROR_ZERO_RETURN) {
            rc = TLS_EOF;
            break;
        }
        rc = conn_fail(c, e);
        break;
    }
    if (!c->established && !c->failed && SSL_is_init_finished(c->ssl)) {
        c->established = true;
    }
    c->in = NULL;
    c->in_len = 0;
    c->tx = NULL;
    return rc;
}

int
tls_conn_output(struct tls_conn *c, struct buf *pt, struct buf *tx)
{
    size_t n = buf_readable(pt);
    if (n == 0) {
        return 0;
    }
    if (c->failed || !c->established) {
        return -EIO; /* replies before the handshake: cannot happen, refuse */
    }
    c->tx = tx;
    c->tx_err = 0;
    const char *p = pt->data + pt->rpos;
    while (n > 0) {
        int chunk = n > (size_t)(INT_MAX / 2) ? INT_MAX / 2 : (int)n;
        int r = SSL_write(c->ssl, p, chunk);
        if (r <= 0 || c->tx_err != 0) {
            int rc = c->tx_err != 0 ? -ENOMEM : -EIO;
            conn_fail(c, SSL_get_error(c->ssl, r));
            c->tx = NULL;
            return rc;
        }
        p += r;
        n -= (size_t)r;
    }
    buf_reset(pt);
    c->tx = NULL;
    return 0;
}

void
tls_conn_shutdown(struct tls_conn *c, struct buf *tx)
{
    if (!c->established || c->failed || c->shutdown_sent) {
        return;
    }
    c->shutdown_sent = true;
    c->tx = tx;
    (void)SSL_shutdown(c->ssl);
    ERR_clear_error();
    c->tx = NULL;
}

bool
tls_conn_established(const struct tls_conn *c)
{
    return c->established;
}

void
tls_conn_count_handshake_error(struct tls_conn *c)
{
    METRIC_INC(c->m, ssl_handshake_errors);
}

#else /* !STASHD_TLS: every entry point exists; none can be reached */

bool
tls_available(void)
{
    return false;
}

int
tls_server_create(struct tls_server **tp, const struct options *o, char *err, size_t errlen)
{
    (void)o;
    *tp = NULL;
    snprintf(err, errlen,
             "TLS (-Z, --tls-port) is not available: stashd was built without it "
             "(cmake -DSTASHD_TLS=ON with OpenSSL 3's libssl-dev)");
    return -ENOTSUP;
}

void
tls_server_destroy(struct tls_server **tp)
{
    *tp = NULL;
}

int
tls_server_reload(struct tls_server *t, char *err, size_t errlen)
{
    (void)t;
    snprintf(err, errlen, "Error TLS not enabled");
    return -ENOTSUP;
}

uint32_t
tls_server_loaded_at(const struct tls_server *t)
{
    (void)t;
    return 0;
}

int
tls_conn_create(struct tls_conn **cp, struct tls_server *t, struct metrics *m)
{
    (void)t;
    (void)m;
    *cp = NULL;
    return -ENOTSUP;
}

void
tls_conn_destroy(struct tls_conn **cp)
{
    *cp = NULL;
}

enum tls_rc
tls_conn_input(struct tls_conn *c, const char *in, size_t n, struct buf *rbuf, size_t max,
               struct buf *tx, size_t *plain)
{
    (void)c, (void)in, (void)n, (void)rbuf, (void)max, (void)tx;
    *plain = 0;
    return TLS_FAIL;
}

int
tls_conn_output(struct tls_conn *c, struct buf *pt, struct buf *tx)
{
    (void)c, (void)pt, (void)tx;
    return -EIO;
}

void
tls_conn_shutdown(struct tls_conn *c, struct buf *tx)
{
    (void)c, (void)tx;
}

bool
tls_conn_established(const struct tls_conn *c)
{
    (void)c;
    return false;
}

void
tls_conn_count_handshake_error(struct tls_conn *c)
{
    (void)c;
}

#endif /* STASHD_TLS */
