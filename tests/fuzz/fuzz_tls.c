// layer: net
/*
 * Fuzz target for net/tls: bytes a client might send to a TLS port, fed
 * to a fresh server connection (tls_conn_input) in pieces whose sizes the
 * first input byte picks, as reads would deliver them. The server context
 * (a throwaway CA-signed P-256 certificate) is made once. Checked: no
 * crash or leak (sanitizers), no plaintext before a handshake the fuzzer
 * cannot finish, what TLS sends back stays small, and a connection that
 * failed stays failed. Seeds: real ClientHellos (TLS 1.3 and 1.2), plain
 * text and HTTP.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/tls.h"
#include "stashd/util/buf.h"
#include "stashd/util/clock.h"
#include "stashd/util/metrics.h"
#include "stashd/util/options.h"

#ifdef STASHD_TLS

#include "../unit/net/tls_fixture.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static struct tls_server *server;
static struct options opts;
static struct metrics metrics;

/* Certificates into a temporary directory, read by the server, removed. */
static void
setup(void)
{
    char dir[] = "/tmp/stashd-fuzz-tls-XXXXXX", path[64];
    char err[512];
    clock_setup();
    CHECK(mkdtemp(dir) != NULL);
    struct tls_fx_id ca = tls_fx_make("fuzz-ca", NULL, 1);
    struct tls_fx_id srv = tls_fx_make("fuzz-server", &ca, 2);
    CHECK(srv.cert != NULL && tls_fx_write(dir, "srv", &srv));
    options_init(&opts);
    free(opts.ssl_chain_cert);
    free(opts.ssl_key);
    snprintf(path, sizeof(path), "%s/srv.crt", dir);
    opts.ssl_chain_cert = strdup(path);
    snprintf(path, sizeof(path), "%s/srv.key", dir);
    opts.ssl_key = strdup(path);
    opts.ssl_session_cache = true;
    CHECK(tls_server_create(&server, &opts, err, sizeof(err)) == 0);
    unlink(opts.ssl_chain_cert);
    unlink(opts.ssl_key);
    rmdir(dir);
    tls_fx_free(&ca);
    tls_fx_free(&srv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (server == NULL) {
        setup();
    }
    if (size == 0) {
        return 0;
    }
    /* 0: all at once; else pieces of 1..255 bytes */
    size_t piece = data[0] == 0 ? size : data[0];
    data++;
    size--;
    struct tls_conn *c;
    struct buf rbuf, tx;
    buf_init(&rbuf);
    buf_init(&tx);
    CHECK(tls_conn_create(&c, server, &metrics) == 0);
    enum tls_rc rc = TLS_OK;
    for (size_t off = 0; off < size;) {
        size_t n = size - off < piece ? size - off : piece;
        size_t plain = 1;
        enum tls_rc r = tls_conn_input(c, (const char *)data + off, n, &rbuf, 1 << 20, &tx, &plain);
        CHECK(plain == 0 && buf_readable(&rbuf) == 0);
        CHECK(rc == TLS_OK || r == TLS_FAIL); /* failed stays failed */
        CHECK(buf_readable(&tx) < 64 * 1024);
        rc = r;
        off += n;
    }
    CHECK(!tls_conn_established(c) || rc != TLS_FAIL);
    tls_conn_shutdown(c, &tx);
    tls_conn_destroy(&c);
    buf_fini(&rbuf);
    buf_fini(&tx);
    return 0;
}

#else

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)data;
    (void)size;
    return 0;
}

#endif
