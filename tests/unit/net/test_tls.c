/*
 * net/tls without sockets: a real OpenSSL client on memory BIOs talks to
 * the server side through tls_conn_input / tls_conn_output. Handshakes
 * (whole, and a byte at a time), data both ways, close_notify, hostile
 * input (garbage, plain text, an endless handshake message, a refused
 * renegotiation), the read-buffer bound, mutual TLS in each verify mode,
 * certificate reload, and the session counter.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net/tls.h"
#include "stashd/util/buf.h"
#include "stashd/util/clock.h"
#include "stashd/util/log.h"
#include "stashd/util/metrics.h"
#include "stashd/util/options.h"

#ifdef STASHD_TLS

#include "tls_fixture.h"

static char dir[64];
static struct tls_fx_id ca, srv, srv2, cli, other_ca, other_cli;

static void
set_str(char **field, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    free(*field);
    *field = strdup(text);
    assert_non_null(*field);
}

/* Options naming srv's files (and ca for verify modes above 0). */
static void
opts_init(struct options *o, int verify_mode)
{
    options_init(o);
    o->ssl_enabled = true;
    set_str(&o->ssl_chain_cert, "%s/srv.crt", dir);
    set_str(&o->ssl_key, "%s/srv.key", dir);
    if (verify_mode != 0) {
        set_str(&o->ssl_ca_cert, "%s/ca.crt", dir);
        o->ssl_verify_mode = verify_mode;
    }
}

/* One server connection and one client, joined by pump(). */
struct pair {
    struct tls_conn *s;
    struct tls_fx_client c;
    struct buf rbuf, tx, pt;
    size_t max;
    enum tls_rc last; /* the server's last result */
};

static void
pair_init(struct pair *p, struct tls_server *t, struct metrics *m, int max_version,
          const struct tls_fx_id *client_id)
{
    memset(p, 0, sizeof(*p));
    buf_init(&p->rbuf);
    buf_init(&p->tx);
    buf_init(&p->pt);
    p->max = 1 << 20;
    assert_int_equal(tls_conn_create(&p->s, t, m), 0);
    assert_true(tls_fx_client_init(&p->c, max_version, client_id));
}

static void
pair_fini(struct pair *p)
{
    tls_conn_destroy(&p->s);
    assert_null(p->s);
    tls_fx_client_fini(&p->c);
    buf_fini(&p->rbuf);
    buf_fini(&p->tx);
    buf_fini(&p->pt);
}

/* Move client output to the server (in pieces of at most chunk bytes) and
 * server output to the client; the server's result. */
static enum tls_rc
pump_chunked(struct pair *p, size_t chunk)
{
    char tmp[1 << 16];
    int n;
    p->last = TLS_OK;
    while (p->last == TLS_OK && (n = BIO_read(p->c.out, tmp, sizeof(tmp))) > 0) {
        for (size_t off = 0; off < (size_t)n && p->last == TLS_OK; off += chunk) {
            size_t len = (size_t)n - off < chunk ? (size_t)n - off : chunk;
            size_t plain = 0;
            size_t before = buf_readable(&p->rbuf);
            p->last = tls_conn_input(p->s, tmp + off, len, &p->rbuf, p->max, &p->tx, &plain);
            assert_int_equal(buf_readable(&p->rbuf) - before, plain);
        }
    }
    if (buf_readable(&p->tx) > 0) {
        BIO_write(p->c.in, p->tx.data + p->tx.rpos, (int)buf_readable(&p->tx));
        buf_reset(&p->tx);
    }
    return p->last;
}

static enum tls_rc
pump(struct pair *p)
{
    return pump_chunked(p, SIZE_MAX);
}

/* Run the handshake to the end on both sides; the server's result. */
static enum tls_rc
handshake_chunked(struct pair *p, size_t chunk)
{
    for (int i = 0; i < 20; i++) {
        int r = SSL_do_handshake(p->c.ssl);
        /* before pump(), whose BIO calls clear the client's retry flags */
        int e = SSL_get_error(p->c.ssl, r);
        enum tls_rc rc = pump_chunked(p, chunk);
        if (rc != TLS_OK) {
            return rc;
        }
        if (r == 1 && tls_conn_established(p->s)) {
            return TLS_OK;
        }
        if (r != 1 && e != SSL_ERROR_WANT_READ) {
            return TLS_FAIL; /* the client gave up */
        }
    }
    return TLS_FAIL;
}

static enum tls_rc
handshake(struct pair *p)
{
    return handshake_chunked(p, SIZE_MAX);
}

/* Client sends text; the server must decrypt exactly it. */
static void
client_sends(struct pair *p, const char *text)
{
    size_t n = strlen(text);
    assert_int_equal(SSL_write(p->c.ssl, text, (int)n), (int)n);
    assert_int_equal(pump(p), TLS_OK);
    assert_int_equal(buf_readable(&p->rbuf), n);
    assert_memory_equal(p->rbuf.data + p->rbuf.rpos, text, n);
    buf_reset(&p->rbuf);
}

/* Server sends n bytes of pattern; the client must read them back. */
static void
server_sends(struct pair *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char ch = (char)('a' + i % 26);
        assert_int_equal(buf_append(&p->pt, &ch, 1), 0);
    }
    assert_int_equal(tls_conn_output(p->s, &p->pt, &p->tx), 0);
    assert_int_equal(buf_readable(&p->pt), 0);
    assert_true(buf_readable(&p->tx) > n); /* ciphertext: data plus record overhead */
    pump(p);
    char *got = malloc(n + 1);
    assert_non_null(got);
    size_t have = 0;
    int r;
    while (have < n && (r = SSL_read(p->c.ssl, got + have, (int)(n - have))) > 0) {
        have += (size_t)r;
    }
    assert_int_equal(have, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(got[i], (char)('a' + i % 26));
    }
    free(got);
}

static struct tls_server *
server_new(struct options *o)
{
    struct tls_server *t = NULL;
    char err[512] = "";
    int rc = tls_server_create(&t, o, err, sizeof(err));
    if (rc != 0) {
        print_error("tls_server_create: %s\n", err);
    }
    assert_int_equal(rc, 0);
    return t;
}

/* opts_init + server_new; server_down undoes both. */
static struct tls_server *
server_up(struct options *o, int verify_mode)
{
    opts_init(o, verify_mode);
    return server_new(o);
}

static void
server_down(struct tls_server **t, struct options *o)
{
    tls_server_destroy(t);
    assert_null(*t);
    options_fini(o);
}

/* A server connection fed by hand (no client): its buffers. */
struct raw {
    struct tls_conn *c;
    struct buf rbuf, tx;
};

static void
raw_init(struct raw *r, struct tls_server *t, struct metrics *m)
{
    buf_init(&r->rbuf);
    buf_init(&r->tx);
    assert_int_equal(tls_conn_create(&r->c, t, m), 0);
}

static void
raw_fini(struct raw *r)
{
    tls_conn_destroy(&r->c);
    buf_fini(&r->rbuf);
    buf_fini(&r->tx);
}

/* --- tests ----------------------------------------------------------- */

static void
test_roundtrip(void **state)
{
    struct options o;
    struct metrics m = {0};
    struct tls_server *t = server_up(&o, 0);
    struct pair p;
    pair_init(&p, t, &m, 0, NULL);
    assert_false(tls_conn_established(p.s));
    assert_int_equal(handshake(&p), TLS_OK);
    assert_int_equal(SSL_version(p.c.ssl), TLS1_3_VERSION);
    client_sends(&p, "get a\r\n");
    client_sends(&p, "*1\r\n$4\r\nPING\r\n");
    server_sends(&p, 10);
    server_sends(&p, 200000); /* many records from one call */
    /* Nothing to send is not an error, and sends nothing. */
    assert_int_equal(tls_conn_output(p.s, &p.pt, &p.tx), 0);
    assert_int_equal(buf_readable(&p.tx), 0);
    assert_int_equal(m.ssl_handshake_errors, 0);
    assert_int_equal(m.ssl_new_sessions, 0); /* no session cache */
    pair_fini(&p);
    tls_server_destroy(&t);
    assert_null(t);
    options_fini(&o);
}

/* The client's handshake and data fed a byte at a time, and TLS 1.2. */
static void
test_byte_at_a_time(void **state)
{
    struct options o;
    struct metrics m = {0};
    struct tls_server *t = server_up(&o, 0);
    for (int v = 0; v < 2; v++) {
        struct pair p;
        pair_init(&p, t, &m, v == 0 ? 0 : TLS1_2_VERSION, NULL);
        assert_int_equal(handshake_chunked(&p, 1), TLS_OK);
        assert_int_equal(SSL_version(p.c.ssl), v == 0 ? TLS1_3_VERSION : TLS1_2_VERSION);
        assert_int_equal(SSL_write(p.c.ssl, "version\r\n", 9), 9);
        assert_int_equal(pump_chunked(&p, 1), TLS_OK);
        assert_int_equal(buf_readable(&p.rbuf), 9);
        pair_fini(&p);
    }
    server_down(&t, &o);
}

static void
test_close_notify(void **state)
{
    struct options o;
    struct metrics m = {0};
    struct tls_server *t = server_up(&o, 0);
    struct pair p;
    pair_init(&p, t, &m, 0, NULL);
    assert_int_equal(handshake(&p), TLS_OK);
    /* Data and close_notify in one read: the data is decrypted too. */
    assert_int_equal(SSL_write(p.c.ssl, "quit\r\n", 6), 6);
    SSL_shutdown(p.c.ssl);
    assert_int_equal(pump(&p), TLS_EOF);
    assert_int_equal(buf_readable(&p.rbuf), 6);
    /* The server may still answer (half close), then says close_notify once. */
    server_sends(&p, 5);
    tls_conn_shutdown(p.s, &p.tx);
    size_t n = buf_readable(&p.tx);
    assert_true(n > 0);
    tls_conn_shutdown(p.s, &p.tx);
    assert_int_equal(buf_readable(&p.tx), n);
    pump(&p);
    char x;
    assert_int_equal(SSL_read(p.c.ssl, &x, 1), 0);
    assert_int_equal(SSL_get_error(p.c.ssl, 0), SSL_ERROR_ZERO_RETURN);
    pair_fini(&p);
    server_down(&t, &o);
}

/* xorshift: the same garbage every run. */
static uint64_t
rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static enum tls_rc
feed(struct tls_conn *c, const void *in, size_t n, struct buf *rbuf, struct buf *tx)
{
    size_t plain = 0;
    enum tls_rc rc = tls_conn_input(c, in, n, rbuf, 1 << 20, tx, &plain);
    assert_int_equal(plain, 0); /* nothing decrypts before a handshake */
    return rc;
}

/* Garbage, plain text and HTTP fail the handshake (counted); nothing is
 * decrypted, little is sent back, and a failed connection stays failed. */
static void
test_hostile_handshakes(void **state)
{
    struct options o;
    struct metrics m = {0};
    struct tls_server *t = server_up(&o, 0);
#define T(s)                                                                                       \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }
    static const struct {
        const char *p;
        size_t n;
    } texts[] = {
        T("get foo\r\n"),
        T("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        T("*1\r\n$4\r\nPING\r\n"),
        T("\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
        T("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00"), /* a ClientHello of one byte */
        T("\x15\x03\x03\x00\x02\x02\x28"),             /* a fatal alert first */
        T("\x17\x03\x03\x00\x05hello"),                /* application data first */
    };
#undef T
    uint64_t fails = 0;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct raw r;
        raw_init(&r, t, &m);
        assert_int_equal(feed(r.c, texts[i].p, texts[i].n, &r.rbuf, &r.tx), TLS_FAIL);
        fails++;
        assert_true(buf_readable(&r.tx) <= 64); /* at most an alert */
        assert_int_equal(feed(r.c, "x", 1, &r.rbuf, &r.tx), TLS_FAIL);
        assert_int_equal(tls_conn_output(r.c, &r.rbuf, &r.tx), 0); /* nothing to send */
        assert_int_equal(m.ssl_handshake_errors, fails);
        assert_false(tls_conn_established(r.c));
        raw_fini(&r);
    }
    /* Random bytes in random pieces: each connection fails or waits. */
    uint64_t seed = 88172645463325252ull;
    char junk[4096];
    for (int round = 0; round < 500; round++) {
        struct raw r;
        raw_init(&r, t, &m);
        size_t n = 1 + rnd(&seed) % sizeof(junk);
        for (size_t i = 0; i < n; i++) {
            junk[i] = (char)rnd(&seed);
        }
        if (round % 2 == 0) {
            /* a plausible record header, so the record layer goes deeper */
            memcpy(junk, "\x16\x03\x01", 3);
            junk[3] = (char)(((n - 5) >> 8) & 0x3f);
            junk[4] = (char)(n - 5);
        }
        enum tls_rc rc = TLS_OK;
        for (size_t off = 0; off < n && rc == TLS_OK;) {
            size_t piece = 1 + rnd(&seed) % 700;
            piece = piece > n - off ? n - off : piece;
            rc = feed(r.c, junk + off, piece, &r.rbuf, &r.tx);
            off += piece;
        }
        assert_true(rc == TLS_OK || rc == TLS_FAIL);
        assert_true(buf_readable(&r.tx) <= 64);
        raw_fini(&r);
    }
    server_down(&t, &o);
}

/* A ClientHello that claims to be huge is refused at its header, not
 * buffered; endless records of handshake data fail early too. */
static void
test_endless_handshake(void **state)
{
    struct options o;
    struct metrics m = {0};
    struct tls_server *t = server_up(&o, 0);
    struct raw r;
    raw_init(&r, t, &m);
    /* handshake record, ClientHello of 16 MiB - 1, then filler records */
    static char rec[5 + 16384];
    memcpy(rec, "\x16\x03\x01\x40\x00\x01\xff\xff\xff", 9);
    size_t sent = 0;
    enum tls_rc rc = TLS_OK;
    while (rc == TLS_OK && sent < ((size_t)64 << 20)) {
        rc = feed(r.c, rec, sizeof(rec), &r.rbuf, &r.tx);
        sent += sizeof(rec);
        memcpy(rec + 5, "\0\0\0\0", 4);
    }
    assert_int_equal(rc, TLS_FAIL);
    assert_true(sent <= 256 * 1024);
    assert_int_equal(m.ssl_handshake_errors, 1);
    raw_fini(&r);
    server_down(&t, &o);
}

/* TLS 1.2 renegotiation is refused; the server keeps no second handshake. */
static void
test_no_renegotiation(void **state)
{
    struct options o;
    struct metrics m = {0};
    struct tls_server *t = server_up(&o, 0);
    struct pair p;
    pair_init(&p, t, &m, TLS1_2_VERSION, NULL);
    assert_int_equal(handshake(&p), TLS_OK);
    assert_int_equal(SSL_renegotiate(p.c.ssl), 1);
    SSL_do_handshake(p.c.ssl);
    /* The server answers a no_renegotiation alert; OpenSSL's client then
     * gives up with a fatal one, which ends the session. */
    enum tls_rc rc = pump(&p);
    for (int i = 0; i < 5 && rc == TLS_OK; i++) {
        SSL_do_handshake(p.c.ssl);
        rc = pump(&p);
    }
    assert_int_equal(rc, TLS_FAIL);
    assert_int_equal(SSL_renegotiate_pending(p.c.ssl), 1);
    assert_int_equal(m.ssl_handshake_errors, 0); /* not a handshake failure */
    pair_fini(&p);
    server_down(&t, &o);
}

/* Plaintext past the read buffer's bound is refused. */
static void
test_read_limit(void **state)
{
    struct options o;
    struct metrics m = {0};
    struct tls_server *t = server_up(&o, 0);
    struct pair p;
    pair_init(&p, t, &m, 0, NULL);
    assert_int_equal(handshake(&p), TLS_OK);
    p.max = 8192;
    static char big[20000];
    memset(big, 'x', sizeof(big));
    assert_int_equal(SSL_write(p.c.ssl, big, sizeof(big)), (int)sizeof(big));
    assert_int_equal(pump(&p), TLS_LIMIT);
    assert_true(p.rbuf.cap <= 8192);
    pair_fini(&p);
    server_down(&t, &o);
}

static void client_drain(struct pair *p);

/* The CN of the certificate the client saw. */
static void
peer_cn(struct pair *p, char *out, size_t len)
{
    X509 *x = SSL_get1_peer_certificate(p->c.ssl);
    assert_non_null(x);
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)len);
    X509_free(x);
}

static void
copy_file(const char *from, const char *to)
{
    char a[512], b[512], data[8192];
    snprintf(a, sizeof(a), "%s/%s", dir, from);
    snprintf(b, sizeof(b), "%s/%s", dir, to);
    FILE *f = fopen(a, "r"), *g = fopen(b, "w");
    assert_non_null(f);
    assert_non_null(g);
    size_t n = fread(data, 1, sizeof(data), f);
    assert_int_equal(fwrite(data, 1, n, g), n);
    fclose(f);
    fclose(g);
}

/* refresh_certs: new connections see the new certificate, open ones keep
 * working; a bad file keeps the old one and says why, memcached's way. */
static void
test_reload(void **state)
{
    struct options o;
    struct metrics m = {0};
    char cn[64], err[512];
    options_init(&o);
    copy_file("srv.crt", "live.crt");
    copy_file("srv.key", "live.key");
    set_str(&o.ssl_chain_cert, "%s/live.crt", dir);
    set_str(&o.ssl_key, "%s/live.key", dir);
    struct tls_server *t = server_new(&o);
    struct pair old;
    pair_init(&old, t, &m, 0, NULL);
    assert_int_equal(handshake(&old), TLS_OK);
    peer_cn(&old, cn, sizeof(cn));
    assert_string_equal(cn, "server-one");

    copy_file("srv2.crt", "live.crt");
    copy_file("srv2.key", "live.key");
    assert_int_equal(tls_server_reload(t, err, sizeof(err)), 0);
    struct pair fresh;
    pair_init(&fresh, t, &m, 0, NULL);
    assert_int_equal(handshake(&fresh), TLS_OK);
    peer_cn(&fresh, cn, sizeof(cn));
    assert_string_equal(cn, "server-two");
    client_sends(&old, "still here\r\n");
    server_sends(&old, 100);
    client_sends(&fresh, "new\r\n");
    /* A ticket issued before the reload resumes after it. */
    client_drain(&old);
    SSL_SESSION *sess = SSL_get1_session(old.c.ssl);
    struct pair again;
    pair_init(&again, t, &m, 0, NULL);
    SSL_set_session(again.c.ssl, sess);
    assert_int_equal(handshake(&again), TLS_OK);
    assert_int_equal(SSL_session_reused(again.c.ssl), 1);
    SSL_SESSION_free(sess);
    pair_fini(&again);

    /* Broken files: refused with the reason; the current context stays. */
    char path[512];
    snprintf(path, sizeof(path), "%s/live.crt", dir);
    unlink(path);
    assert_int_equal(tls_server_reload(t, err, sizeof(err)), -EINVAL);
    char want[600];
    snprintf(want, sizeof(want), "Error loading the certificate chain: %s : error:", path);
    assert_memory_equal(err, want, strlen(want));
    copy_file("srv.crt", "live.crt"); /* does not match live.key (srv2's) */
    assert_int_equal(tls_server_reload(t, err, sizeof(err)), -EINVAL);
    snprintf(path, sizeof(path), "%s/live.key", dir);
    snprintf(want, sizeof(want), "Error loading the key: %s : error:", path);
    assert_memory_equal(err, want, strlen(want));
    struct pair after;
    pair_init(&after, t, &m, 0, NULL);
    assert_int_equal(handshake(&after), TLS_OK);
    peer_cn(&after, cn, sizeof(cn));
    assert_string_equal(cn, "server-two");

    pair_fini(&old);
    pair_fini(&fresh);
    pair_fini(&after);
    server_down(&t, &o);
}

/* Mutual TLS in memcached's verify modes. */
static void
test_client_certificates(void **state)
{
    struct {
        int mode;
        const struct tls_fx_id *id;
        bool ok;
    } cases[] = {
        {0, NULL, true},        {0, &cli, true},  {1, NULL, true}, {1, &cli, true},
        {1, &other_cli, false}, {2, NULL, false}, {2, &cli, true}, {2, &other_cli, false},
        {3, NULL, false},       {3, &cli, true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct options o;
        struct metrics m = {0};
        struct tls_server *t = server_up(&o, cases[i].mode);
        struct pair p;
        pair_init(&p, t, &m, 0, cases[i].id);
        enum tls_rc rc = handshake(&p);
        if (cases[i].ok) {
            assert_int_equal(rc, TLS_OK);
            client_sends(&p, "get k\r\n");
        } else {
            /* TLS 1.3: the client may think it is done; the server is not. */
            assert_int_equal(rc, TLS_FAIL);
            assert_false(tls_conn_established(p.s));
            assert_int_equal(m.ssl_handshake_errors, 1);
        }
        pair_fini(&p);
        server_down(&t, &o);
    }
}

static void
test_bad_setup(void **state)
{
    struct options o;
    struct tls_server *t = (void *)&o; /* must come back NULL */
    char err[512];
    options_init(&o);
    assert_int_equal(tls_server_create(&t, &o, err, sizeof(err)), -EINVAL);
    assert_null(t);
    assert_non_null(strstr(err, "ssl_chain_cert"));
    options_fini(&o);
    opts_init(&o, 0);
    o.ssl_verify_mode = 2; /* no CA to check client certificates against */
    assert_int_equal(tls_server_create(&t, &o, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "ssl_ca_cert"));
    o.ssl_verify_mode = 0;
    set_str(&o.ssl_ciphers, "NO-SUCH-CIPHER");
    assert_int_equal(tls_server_create(&t, &o, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "cipher"));
    set_str(&o.ssl_ciphers, "%s", "");
    set_str(&o.ssl_key, "%s/cli.key", dir); /* not srv.crt's key */
    assert_int_equal(tls_server_create(&t, &o, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "Error loading the key"));
    options_fini(&o);
}

/* Let the client read what came after the handshake (TLS 1.3 tickets). */
static void
client_drain(struct pair *p)
{
    char x;
    assert_true(SSL_read(p->c.ssl, &x, 1) <= 0);
    assert_int_equal(SSL_get_error(p->c.ssl, -1), SSL_ERROR_WANT_READ);
}

/* A second connection resumes the first one's session. */
static void
resume(struct tls_server *t, struct metrics *m, int version, bool no_ticket)
{
    struct pair p, q;
    pair_init(&p, t, m, version, NULL);
    if (no_ticket) {
        SSL_set_options(p.c.ssl, SSL_OP_NO_TICKET);
    }
    assert_int_equal(handshake(&p), TLS_OK);
    client_drain(&p);
    SSL_SESSION *sess = SSL_get1_session(p.c.ssl);
    assert_non_null(sess);
    assert_int_equal(SSL_SESSION_is_resumable(sess), 1);
    pair_init(&q, t, m, version, NULL);
    if (no_ticket) {
        SSL_set_options(q.c.ssl, SSL_OP_NO_TICKET);
    }
    SSL_set_session(q.c.ssl, sess);
    assert_int_equal(handshake(&q), TLS_OK);
    assert_int_equal(SSL_session_reused(q.c.ssl), 1);
    client_sends(&q, "get resumed\r\n");
    SSL_SESSION_free(sess);
    pair_fini(&p);
    pair_fini(&q);
}

/* ssl_session_cache: sessions are cached (session ids, TLS 1.2) and
 * counted in ssl_new_sessions; tickets resume with or without it. */
static void
test_sessions(void **state)
{
    for (int cache = 0; cache < 2; cache++) {
        struct options o;
        struct metrics m = {0};
        opts_init(&o, 0);
        o.ssl_session_cache = cache == 1;
        struct tls_server *t = server_new(&o);
        resume(t, &m, 0, false);
        resume(t, &m, TLS1_2_VERSION, false);
        if (cache == 1) {
            resume(t, &m, TLS1_2_VERSION, true); /* by session id: the cache */
            assert_true(m.ssl_new_sessions >= 3);
        } else {
            assert_int_equal(m.ssl_new_sessions, 0);
        }
        server_down(&t, &o);
    }
}

static int
setup(void **state)
{
    clock_setup();
    if (getenv("TLS_DEBUG")) {
        log_set_verbosity(3);
    }
    snprintf(dir, sizeof(dir), "/tmp/stashd-test-tls-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        return -1;
    }
    ca = tls_fx_make("test-ca", NULL, 1);
    srv = tls_fx_make("server-one", &ca, 2);
    srv2 = tls_fx_make("server-two", &ca, 3);
    cli = tls_fx_make("client", &ca, 4);
    other_ca = tls_fx_make("other-ca", NULL, 5);
    other_cli = tls_fx_make("stranger", &other_ca, 6);
    bool ok = ca.cert != NULL && srv.cert != NULL && srv2.cert != NULL && cli.cert != NULL &&
              other_cli.cert != NULL && tls_fx_write(dir, "ca", &ca) &&
              tls_fx_write(dir, "srv", &srv) && tls_fx_write(dir, "srv2", &srv2) &&
              tls_fx_write(dir, "cli", &cli);
    return ok ? 0 : -1;
}

static int
teardown(void **state)
{
    static const char *const names[] = {"ca", "srv", "srv2", "cli", "live"};
    char path[512];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s.crt", dir, names[i]);
        unlink(path);
        snprintf(path, sizeof(path), "%s/%s.key", dir, names[i]);
        unlink(path);
    }
    struct tls_fx_id *ids[] = {&ca, &srv, &srv2, &cli, &other_ca, &other_cli};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        tls_fx_free(ids[i]);
    }
    return rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_byte_at_a_time),
        cmocka_unit_test(test_close_notify),
        cmocka_unit_test(test_hostile_handshakes),
        cmocka_unit_test(test_endless_handshake),
        cmocka_unit_test(test_no_renegotiation),
        cmocka_unit_test(test_read_limit),
        cmocka_unit_test(test_reload),
        cmocka_unit_test(test_client_certificates),
        cmocka_unit_test(test_bad_setup),
        cmocka_unit_test(test_sessions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

#else /* !STASHD_TLS */

/* A build without TLS: -Z must refuse, saying why. */
static void
test_tls_refused(void **state)
{
    struct options o;
    struct tls_server *t = NULL;
    char err[512];
    options_init(&o);
    assert_false(tls_available());
    assert_int_equal(tls_server_create(&t, &o, err, sizeof(err)), -ENOTSUP);
    assert_null(t);
    assert_non_null(strstr(err, "built without"));
    options_fini(&o);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
