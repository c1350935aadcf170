/*
 * TLS for stashd-bench (--tls), over OpenSSL 3: one SSL_CTX per run, one
 * SSL per connection, on the connection's own non-blocking socket.
 *
 * The handshake is part of setting a connection up (tls_connect() waits
 * for it, bounded by --reply-timeout), so that the measured phases see
 * only application data; after it, tls_send() and tls_recv() never block
 * and say what the socket must become ready for when they cannot go on.
 *
 * OpenSSL's types stay behind this interface: callers hold a
 * struct ssl_st * (OpenSSL's SSL) and pass it back.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "options.h"

struct ssl_st;
struct tls_ctx;

/* What tls_send() and tls_recv() return when they move no data. */
enum tls_rc {
    TLS_CLOSED = 0,      /* tls_recv(): the server closed the connection */
    TLS_WANT_READ = -1,  /* retry when the socket is readable */
    TLS_WANT_WRITE = -2, /* retry when the socket is writable */
    TLS_FAILED = -3,     /* the connection is broken; tls_last_error() says why */
};

/* Builds the context of --tls-ca, --tls-cert/--tls-key and --tls-insecure:
 * TLS 1.2 or later, the server's certificate verified against --tls-ca (or
 * the system's CAs) and the host name or address given with -s. 0, or -1
 * after a message on stderr. */
int tls_ctx_create(struct tls_ctx **out, const struct options *o);
void tls_ctx_destroy(struct tls_ctx **t);

/* Runs the client handshake on fd (connected, non-blocking) for host,
 * waiting at most timeout_s. 0 and *out set, or -1 after a message. */
int tls_connect(struct tls_ctx *t, int fd, const char *host, double timeout_s, struct ssl_st **out);

/* Writes len > 0 bytes of buf as few records as it takes; the count
 * written (all of len), or an enum tls_rc. After TLS_WANT_*, the next call
 * must pass the same bytes and at least the same length (the buffer may
 * have moved). */
ssize_t tls_send(struct ssl_st *s, const void *buf, size_t len);

/* Reads up to len bytes: the count read, or an enum tls_rc. */
ssize_t tls_recv(struct ssl_st *s, void *buf, size_t len);

/* Bytes already decrypted and waiting in s: the socket will not signal
 * them, so a reader must drain them before it waits again. */
size_t tls_pending(const struct ssl_st *s);

/* Why the last call on this thread failed; valid until the next one. */
const char *tls_last_error(void);

/* Frees *s and NULLs it; with notify, first sends close_notify if the
 * socket takes it at once (never after TLS_FAILED). */
void tls_close(struct ssl_st **s, bool notify);
