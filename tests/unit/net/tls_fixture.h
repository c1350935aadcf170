/*
 * Throwaway TLS material for the net/tls unit tests: a CA, certificates it
 * signs (P-256 keys, made in process), written as PEM files into a
 * temporary directory, and a client SSL object on memory BIOs. Only for
 * builds with STASHD_TLS. Functions are static and marked unused, since
 * each includer uses some of them.
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* A key and its certificate. */
struct tls_fx_id {
    EVP_PKEY *key;
    X509 *cert;
};

__attribute__((unused)) static void
tls_fx_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (ext != NULL) {
        X509_add_ext(cert, ext, -1);
        X509_EXTENSION_free(ext);
    }
}

/* A certificate for cn signed by ca (self-signed when ca is NULL, then a
 * CA). NULL key and cert on failure. */
__attribute__((unused)) static struct tls_fx_id
tls_fx_make(const char *cn, const struct tls_fx_id *ca, long serial)
{
    struct tls_fx_id id = {.key = EVP_EC_gen("P-256"), .cert = X509_new()};
    if (id.key == NULL || id.cert == NULL) {
        goto fail;
    }
    X509_set_version(id.cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(id.cert), serial);
    X509_gmtime_adj(X509_getm_notBefore(id.cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(id.cert), 86400);
    X509_set_pubkey(id.cert, id.key);
    X509_NAME *name = X509_get_subject_name(id.cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509 *issuer = ca != NULL ? ca->cert : id.cert;
    X509_set_issuer_name(id.cert, X509_get_subject_name(issuer));
    tls_fx_ext(id.cert, issuer, NID_basic_constraints,
               ca == NULL ? "critical,CA:TRUE" : "CA:FALSE");
    if (X509_sign(id.cert, ca != NULL ? ca->key : id.key, EVP_sha256()) == 0) {
        goto fail;
    }
    return id;
fail:
    EVP_PKEY_free(id.key);
    X509_free(id.cert);
    return (struct tls_fx_id){0};
}

__attribute__((unused)) static void
tls_fx_free(struct tls_fx_id *id)
{
    EVP_PKEY_free(id->key);
    X509_free(id->cert);
    *id = (struct tls_fx_id){0};
}

/* Write dir/name.crt (the certificate) and dir/name.key; false on error. */
__attribute__((unused)) static bool
tls_fx_write(const char *dir, const char *name, const struct tls_fx_id *id)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.crt", dir, name);
    FILE *f = fopen(path, "w");
    bool ok = f != NULL && PEM_write_X509(f, id->cert) == 1;
    if (f != NULL) {
        fclose(f);
    }
    snprintf(path, sizeof(path), "%s/%s.key", dir, name);
    f = ok ? fopen(path, "w") : NULL;
    ok = f != NULL && PEM_write_PrivateKey(f, id->key, NULL, NULL, 0, NULL, NULL) == 1;
    if (f != NULL) {
        fclose(f);
    }
    return ok;
}

/* A client end on memory BIOs: `in` holds what the server sent, `out`
 * what the client sends. */
struct tls_fx_client {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *in, *out;
};

/* max_version 0: any. id: a client certificate, or NULL. */
__attribute__((unused)) static bool
tls_fx_client_init(struct tls_fx_client *c, int max_version, const struct tls_fx_id *id)
{
    memset(c, 0, sizeof(*c));
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (c->ctx == NULL) {
        return false;
    }
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
    if (max_version != 0) {
        SSL_CTX_set_max_proto_version(c->ctx, max_version);
    }
    if (id != NULL && (SSL_CTX_use_certificate(c->ctx, id->cert) != 1 ||
                       SSL_CTX_use_PrivateKey(c->ctx, id->key) != 1)) {
        return false;
    }
    c->ssl = SSL_new(c->ctx);
    c->in = BIO_new(BIO_s_mem());
    c->out = BIO_new(BIO_s_mem());
    if (c->ssl == NULL || c->in == NULL || c->out == NULL) {
        return false;
    }
    SSL_set_bio(c->ssl, c->in, c->out);
    SSL_set_connect_state(c->ssl);
    return true;
}

__attribute__((unused)) static void
tls_fx_client_fini(struct tls_fx_client *c)
{
    SSL_free(c->ssl); /* frees the BIOs */
    SSL_CTX_free(c->ctx);
    memset(c, 0, sizeof(*c));
}
