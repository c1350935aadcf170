// layer: net
/*
 * Fuzz target for net/tls: bytes a client might send to a TLS port, fed
 * to a fresh server connection (tls_conn_input) in pieces whose sizes the
 * first input byte picks, as reads would deliver them. The server context
 * (a throwaway self-signed P-256 certificate) is made once. Checked: no
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

#include <stdio.h>
#include <unistd.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A throwaway self-signed P-256 certificate and its key (made once with
 * openssl req -x509; a test fixture, no secret), in one PEM file as
 * ssl_chain_cert allows. */
static const char fuzz_pem[] = "-----BEGIN CERTIFICATE-----\n"
                               "MIIBgzCCASmgAwIBAgIUQAoCcDUwqQluwTkXk7BLEsMtPn8wCgYIKoZIzj0EAwIw\n"
                               "FjEUMBIGA1UEAwwLc3Rhc2hkLWZ1enowIBcNMjYxMjAzMTA0MjE4WhgPMjEyNjEx\n"
                               "MDkxMDQyMThaMBYxFDASBgNVBAMMC3N0YXNoZC1mdXp6MFkwEwYHKoZIzj0CAQYI\n"
                               "KoZIzj0DAQcDQgAE0JBYjxSskmjRrD/2cGdqrPmefEhoqZ26PjD1eJsdDpFY19/L\n"
                               "wJHPXBq5rCGV6yhC5IFmllc+GpRao3uAPQaegKNTMFEwHQYDVR0OBBYEFGCJ/mxo\n"
                               "0JBz3oRjCb1EzRrJrBmVMB8GA1UdIwQYMBaAFGCJ/mxo0JBz3oRjCb1EzRrJrBmV\n"
                               "MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgAP+jqkAbta4Joqkt\n"
                               "UODOIb5KtmGMZxrbrWoZxX9l8SACIQDoIIlomgfzoCeO+5C4MO0k7XELpuxLToWn\n"
                               "1CTgNRiV1g==\n"
                               "-----END CERTIFICATE-----\n"
                               "-----BEGIN PRIVATE KEY-----\n"
                               "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgh8/nGxtyuvdLYr8V\n"
                               "pXOXeSW5hwzb9BtzTenshe/aZ0yhRANCAATQkFiPFKySaNGsP/ZwZ2qs+Z58SGip\n"
                               "nbo+MPV4mx0OkVjX38vAkc9cGrmsIZXrKELkgWaWVz4alFqje4A9Bp6A\n"
                               "-----END PRIVATE KEY-----\n";

static struct tls_server *server;
static struct options opts;
static struct metrics metrics;

/* The certificate into a temporary file, read by the server, removed. */
static void
setup(void)
{
    char dir[] = "/tmp/stashd-fuzz-tls-XXXXXX", path[64], err[512];
    clock_setup();
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/cert.pem", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL && fputs(fuzz_pem, f) >= 0 && fclose(f) == 0);
    options_init(&opts);
    free(opts.ssl_chain_cert);
    opts.ssl_chain_cert = strdup(path);
    opts.ssl_session_cache = true;
    CHECK(tls_server_create(&server, &opts, err, sizeof(err)) == 0);
    unlink(path);
    rmdir(dir);
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
