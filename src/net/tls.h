/*
 * tls: TLS for client connections, on OpenSSL 3, driven without sockets.
 *
 * The TLS engine never touches a socket. A connection feeds it the
 * ciphertext libuv read (tls_conn_input), which it decrypts straight into
 * the connection's read buffer, the buffer the session parses in place;
 * replies gathered in a read batch are encrypted in one call
 * (tls_conn_output) onto the buffer the connection then writes with
 * conn_send / uv_write. Handshake messages, alerts and session tickets
 * land in that same output buffer.
 *
 *   socket --uv read--> scratch --tls_conn_input--> rbuf --session--> pout
 *   socket <--uv write-- out[active] <--tls_conn_output-- pout
 *
 * Between the two sits a small BIO of our own (not a memory BIO): its read
 * side hands OpenSSL the caller's ciphertext in place and its write side
 * appends to the caller's buffer, so no ciphertext is copied into a BIO
 * buffer and none is held between calls. Without OpenSSL (STASHD_TLS off)
 * every function here exists and tls_server_create fails with -ENOTSUP.
 *
 * Threads: a tls_server is shared by every worker (tls_conn_create and
 * tls_server_reload may run on any thread at once); a tls_conn belongs to
 * the worker of its connection.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct metrics;
struct options;
struct tls_server;
struct tls_conn;

/* Whether this build has TLS at all. */
bool tls_available(void);

/*
 * Load the certificate chain, key and client CA named by the ssl_* options
 * (o must outlive the server) and build the server context. 0, or a
 * negative errno with the reason in err.
 */
int tls_server_create(struct tls_server **tp, const struct options *o, char *err, size_t errlen);
void tls_server_destroy(struct tls_server **tp);

/*
 * refresh_certs / SIGHUP: read the certificate, key and CA files again into
 * a new context that new connections use; connections already open keep
 * the context they started with. On failure the old context stays and err
 * holds memcached's message for refresh_certs (no "\r\n"). 0 or -EINVAL.
 */
int tls_server_reload(struct tls_server *t, char *err, size_t errlen);

/* clock_now() of the last successful load (time_since_server_cert_refresh). */
uint32_t tls_server_loaded_at(const struct tls_server *t);

/*
 * A connection's TLS state (an SSL object in server mode), allocated at
 * accept. Handshake errors and new sessions are counted in *m (the
 * worker's metrics; single writer). 0 or -ENOMEM.
 */
int tls_conn_create(struct tls_conn **cp, struct tls_server *t, struct metrics *m);
void tls_conn_destroy(struct tls_conn **cp);

enum tls_rc {
    TLS_OK,    /* all input consumed; more wanted */
    TLS_EOF,   /* the peer sent close_notify: it sends nothing more */
    TLS_FAIL,  /* handshake or record failure: send what *tx holds, close */
    TLS_LIMIT, /* the plaintext does not fit in max bytes of rbuf: close */
};

/*
 * Feed in[0..n) (ciphertext; read only during the call) through the TLS
 * state machine: the handshake advances, application data is decrypted
 * onto *rbuf (grown up to max bytes of capacity) and whatever TLS has to
 * send back is appended to *tx. Every input byte is consumed before it
 * returns TLS_OK, so the caller keeps no ciphertext. *plain gets the
 * bytes added to rbuf. A failure before the handshake completes counts
 * in ssl_handshake_errors.
 */
enum tls_rc tls_conn_input(struct tls_conn *c, const char *in, size_t n, struct buf *rbuf,
                           size_t max, struct buf *tx, size_t *plain);

/* Encrypt everything readable in *pt onto *tx (as few records as TLS
 * allows) and empty *pt. 0, or -EIO / -ENOMEM: close the connection. */
int tls_conn_output(struct tls_conn *c, struct buf *pt, struct buf *tx);

/* Append a close_notify alert to *tx, once, if the handshake completed and
 * nothing failed; a no-op otherwise. */
void tls_conn_shutdown(struct tls_conn *c, struct buf *tx);

/* The handshake has completed (application data may flow). */
bool tls_conn_established(const struct tls_conn *c);

/* A handshake cut short from outside (timeout): count it as an error. */
void tls_conn_count_handshake_error(struct tls_conn *c);

/* Handshakes that have not completed within this many seconds of the
 * accept are closed and counted in ssl_handshake_errors. */
#define TLS_HANDSHAKE_TIMEOUT 10
