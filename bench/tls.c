/*
 * stashd-bench's TLS, on OpenSSL 3.
 *
 * Writes: a connection hands tls_send() every request it has queued (a
 * whole pipeline), and SSL_write turns it into as few records as fit
 * (16 KiB each) and one or more send()s; SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
 * lets the connection grow (realloc) its write buffer while a write waits
 * for the socket, since the bytes and their order do not change.
 *
 * Reads: SSL_read returns at most one record's data per call; what is left
 * of a record stays decrypted inside the SSL (tls_pending()), where epoll
 * cannot see it, so the reader drains it before waiting.
 *
 * Errors are formatted per thread (tls_last_error()): the worker threads
 * share the SSL_CTX, never an SSL.
 */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct tls_ctx {
    SSL_CTX *ctx;
};

static _Thread_local char last_error[256];

/* Keeps the first error of OpenSSL's queue (or what else went wrong) as
 * this thread's last error, and empties the queue. */
static void
note_error(const char *what)
{
    unsigned long e = ERR_get_error();
    if (e != 0) {
        char buf[200];
        ERR_error_string_n(e, buf, sizeof(buf));
        snprintf(last_error, sizeof(last_error), "%s: %s", what, buf);
    } else {
        snprintf(last_error, sizeof(last_error), "%s%s%s", what, errno ? ": " : "",
                 errno ? strerror(errno) : "");
    }
    ERR_clear_error();
}

const char *
tls_last_error(void)
{
    return last_error;
}

static int
ctx_fail(struct tls_ctx *t, const char *what, const char *file)
{
    note_error(what);
    fprintf(stderr, "stashd-bench: %s%s%s\n", file ? file : "", file ? ": " : "", last_error);
    SSL_CTX_free(t->ctx);
    free(t);
    return -1;
}

int
tls_ctx_create(struct tls_ctx **out, const struct options *o)
{
    struct tls_ctx *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        fprintf(stderr, "stashd-bench: out of memory\n");
        return -1;
    }
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (t->ctx == NULL) {
        return ctx_fail(t, "SSL_CTX_new", NULL);
    }
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(t->ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* A server that closes without close_notify has closed, no more. */
    SSL_CTX_set_options(t->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (o->tls_insecure) {
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
        int ok = o->tls_ca ? SSL_CTX_load_verify_locations(t->ctx, o->tls_ca, NULL)
                           : SSL_CTX_set_default_verify_paths(t->ctx);
        if (ok != 1) {
            return ctx_fail(t, "cannot load CA certificates", o->tls_ca);
        }
    }
    if (o->tls_cert) {
        const char *key = o->tls_key ? o->tls_key : o->tls_cert;
        if (SSL_CTX_use_certificate_chain_file(t->ctx, o->tls_cert) != 1) {
            return ctx_fail(t, "cannot load the client certificate", o->tls_cert);
        }
        if (SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(t->ctx) != 1) {
            return ctx_fail(t, "cannot load the client key", key);
        }
    }
    *out = t;
    return 0;
}

void
tls_ctx_destroy(struct tls_ctx **t)
{
    if (*t != NULL) {
        SSL_CTX_free((*t)->ctx);
        free(*t);
        *t = NULL;
    }
}

/* The name the server must prove: an address literal, or a host name
 * (also sent as SNI). */
static int
expect_peer(SSL *s, const char *host)
{
    unsigned char addr[16];
    if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1) {
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s), host) == 1 ? 0 : -1;
    }
    if (SSL_set_tlsext_host_name(s, host) != 1 || SSL_set1_host(s, host) != 1) {
        return -1;
    }
    return 0;
}

static double
mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* SSL_connect until done, waiting for the socket in between. */
static int
handshake(SSL *s, int fd, double timeout_s)
{
    double end = mono_s() + timeout_s;
    for (;;) {
        int rc = SSL_connect(s);
        if (rc == 1) {
            return 0;
        }
        int err = SSL_get_error(s, rc);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
            long v = SSL_get_verify_result(s);
            note_error(v != X509_V_OK ? X509_verify_cert_error_string(v) : "TLS handshake");
            return -1;
        }
        double left = end - mono_s();
        struct pollfd p = {.fd = fd, .events = err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT};
        if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) == 0) {
            errno = ETIMEDOUT;
            note_error("TLS handshake");
            return -1;
        }
    }
}

int
tls_connect(struct tls_ctx *t, int fd, const char *host, double timeout_s, struct ssl_st **out)
{
    SSL *s = SSL_new(t->ctx);
    if (s == NULL || SSL_set_fd(s, fd) != 1 || expect_peer(s, host) != 0) {
        note_error("cannot set up TLS");
        goto fail;
    }
    if (handshake(s, fd, timeout_s) != 0) {
        goto fail;
    }
    *out = s;
    return 0;
fail:
    fprintf(stderr, "stashd-bench: %s: %s\n", host, last_error);
    SSL_free(s);
    return -1;
}

/* What an SSL_read or SSL_write that moved nothing means. */
static ssize_t
io_outcome(SSL *s, int rc, const char *what)
{
    switch (SSL_get_error(s, rc)) {
    case SSL_ERROR_WANT_READ:
        return TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        return TLS_CLOSED;
    default:
        note_error(what);
        return TLS_FAILED;
    }
}

ssize_t
tls_send(struct ssl_st *s, const void *buf, size_t len)
{
    errno = 0;
    size_t n = 0;
    int rc = SSL_write_ex(s, buf, len, &n);
    if (rc == 1) {
        return (ssize_t)n;
    }
    ssize_t out = io_outcome(s, rc, "TLS write");
    return out == TLS_CLOSED ? TLS_FAILED : out;
}

ssize_t
tls_recv(struct ssl_st *s, void *buf, size_t len)
{
    errno = 0;
    size_t n = 0;
    int rc = SSL_read_ex(s, buf, len, &n);
    if (rc == 1) {
        return (ssize_t)n;
    }
    return io_outcome(s, rc, "TLS read");
}

size_t
tls_pending(const struct ssl_st *s)
{
    return (size_t)SSL_pending(s);
}

void
tls_close(struct ssl_st **s, bool notify)
{
    if (*s != NULL) {
        if (notify) {
            SSL_shutdown(*s); /* one try: the socket is non-blocking */
        }
        SSL_free(*s);
        ERR_clear_error();
        *s = NULL;
    }
}
