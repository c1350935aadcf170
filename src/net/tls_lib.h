/*
 * tls_lib: OpenSSL, loaded when TLS is first configured (private to net/).
 *
 * stashd is not linked against libssl and libcrypto: their load and
 * relocation alone cost 1.7 MiB resident (libcrypto 1.45 MiB, libssl
 * 0.24 MiB, mostly relocated data and symbol tables), paid by every
 * server, TLS or not. tls_lib_load() opens libssl.so.<major> (which brings
 * libcrypto) with dlopen and fills tls_lib with the functions tls.c
 * calls; after this header, each such name is a macro for its pointer, so
 * tls.c reads as plain OpenSSL (OpenSSL's own macros, SSL_CTX_set_mode and
 * the like, expand to these names and are redirected too).
 *
 * The list is checked at build time both ways: a function tls.c calls that
 * is missing here leaves an undefined symbol (net/ is not linked to
 * OpenSSL, so the link fails), and a name here that OpenSSL lacks does not
 * compile (__typeof__). The pointers' types are OpenSSL's prototypes.
 */
#pragma once

#include <stddef.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

/* Every OpenSSL function tls.c calls, directly or through an OpenSSL
 * macro. */
#define TLS_LIB_FUNCS(X)                                                                           \
    X(BIO_clear_flags)                                                                             \
    X(BIO_get_data)                                                                                \
    X(BIO_get_new_index)                                                                           \
    X(BIO_meth_free)                                                                               \
    X(BIO_meth_new)                                                                                \
    X(BIO_meth_set_create)                                                                         \
    X(BIO_meth_set_ctrl)                                                                           \
    X(BIO_meth_set_destroy)                                                                        \
    X(BIO_meth_set_read)                                                                           \
    X(BIO_meth_set_write)                                                                          \
    X(BIO_new)                                                                                     \
    X(BIO_set_data)                                                                                \
    X(BIO_set_flags)                                                                               \
    X(BIO_set_init)                                                                                \
    X(ERR_clear_error)                                                                             \
    X(ERR_error_string_n)                                                                          \
    X(ERR_get_error)                                                                               \
    X(ERR_peek_error)                                                                              \
    X(ERR_reason_error_string)                                                                     \
    X(OPENSSL_cleanse)                                                                             \
    X(OPENSSL_sk_pop_free)                                                                         \
    X(SSL_CTX_check_private_key)                                                                   \
    X(SSL_CTX_ctrl)                                                                                \
    X(SSL_CTX_free)                                                                                \
    X(SSL_CTX_load_verify_locations)                                                               \
    X(SSL_CTX_new)                                                                                 \
    X(SSL_CTX_sess_set_new_cb)                                                                     \
    X(SSL_CTX_set_cipher_list)                                                                     \
    X(SSL_CTX_set_client_CA_list)                                                                  \
    X(SSL_CTX_set_options)                                                                         \
    X(SSL_CTX_set_session_id_context)                                                              \
    X(SSL_CTX_set_verify)                                                                          \
    X(SSL_CTX_up_ref)                                                                              \
    X(SSL_CTX_use_PrivateKey_file)                                                                 \
    X(SSL_CTX_use_certificate_chain_file)                                                          \
    X(SSL_free)                                                                                    \
    X(SSL_get_error)                                                                               \
    X(SSL_get_ex_data)                                                                             \
    X(SSL_is_init_finished)                                                                        \
    X(SSL_load_client_CA_file)                                                                     \
    X(SSL_new)                                                                                     \
    X(SSL_pending)                                                                                 \
    X(SSL_read)                                                                                    \
    X(SSL_set_accept_state)                                                                        \
    X(SSL_set_bio)                                                                                 \
    X(SSL_set_ex_data)                                                                             \
    X(SSL_shutdown)                                                                                \
    X(SSL_write)                                                                                   \
    X(TLS_server_method)                                                                           \
    X(X509_NAME_free)

struct tls_lib {
#define TLS_LIB_FIELD(f) __typeof__(f) *f;
    TLS_LIB_FUNCS(TLS_LIB_FIELD)
#undef TLS_LIB_FIELD
};

/* Filled by tls_lib_load(); read only after it returned 0. */
extern struct tls_lib tls_lib;

/* The library tls_lib_load() opens: OpenSSL's soname for the major
 * version stashd was built against ("libssl.so.3"). */
extern const char tls_lib_soname[];

/*
 * Load OpenSSL, once per process (later calls return the first result;
 * any thread). 0, or -ENOTSUP with the reason in err (the library or one
 * of its functions is missing).
 */
int tls_lib_load(char *err, size_t errlen);

#ifndef TLS_LIB_IMPL
#define BIO_clear_flags (tls_lib.BIO_clear_flags)
#define BIO_get_data (tls_lib.BIO_get_data)
#define BIO_get_new_index (tls_lib.BIO_get_new_index)
#define BIO_meth_free (tls_lib.BIO_meth_free)
#define BIO_meth_new (tls_lib.BIO_meth_new)
#define BIO_meth_set_create (tls_lib.BIO_meth_set_create)
#define BIO_meth_set_ctrl (tls_lib.BIO_meth_set_ctrl)
#define BIO_meth_set_destroy (tls_lib.BIO_meth_set_destroy)
#define BIO_meth_set_read (tls_lib.BIO_meth_set_read)
#define BIO_meth_set_write (tls_lib.BIO_meth_set_write)
#define BIO_new (tls_lib.BIO_new)
#define BIO_set_data (tls_lib.BIO_set_data)
#define BIO_set_flags (tls_lib.BIO_set_flags)
#define BIO_set_init (tls_lib.BIO_set_init)
#define ERR_clear_error (tls_lib.ERR_clear_error)
#define ERR_error_string_n (tls_lib.ERR_error_string_n)
#define ERR_get_error (tls_lib.ERR_get_error)
#define ERR_peek_error (tls_lib.ERR_peek_error)
#define ERR_reason_error_string (tls_lib.ERR_reason_error_string)
#define OPENSSL_cleanse (tls_lib.OPENSSL_cleanse)
#define OPENSSL_sk_pop_free (tls_lib.OPENSSL_sk_pop_free)
#define SSL_CTX_check_private_key (tls_lib.SSL_CTX_check_private_key)
#define SSL_CTX_ctrl (tls_lib.SSL_CTX_ctrl)
#define SSL_CTX_free (tls_lib.SSL_CTX_free)
#define SSL_CTX_load_verify_locations (tls_lib.SSL_CTX_load_verify_locations)
#define SSL_CTX_new (tls_lib.SSL_CTX_new)
#define SSL_CTX_sess_set_new_cb (tls_lib.SSL_CTX_sess_set_new_cb)
#define SSL_CTX_set_cipher_list (tls_lib.SSL_CTX_set_cipher_list)
#define SSL_CTX_set_client_CA_list (tls_lib.SSL_CTX_set_client_CA_list)
#define SSL_CTX_set_options (tls_lib.SSL_CTX_set_options)
#define SSL_CTX_set_session_id_context (tls_lib.SSL_CTX_set_session_id_context)
#define SSL_CTX_set_verify (tls_lib.SSL_CTX_set_verify)
#define SSL_CTX_up_ref (tls_lib.SSL_CTX_up_ref)
#define SSL_CTX_use_PrivateKey_file (tls_lib.SSL_CTX_use_PrivateKey_file)
#define SSL_CTX_use_certificate_chain_file (tls_lib.SSL_CTX_use_certificate_chain_file)
#define SSL_free (tls_lib.SSL_free)
#define SSL_get_error (tls_lib.SSL_get_error)
#define SSL_get_ex_data (tls_lib.SSL_get_ex_data)
#define SSL_is_init_finished (tls_lib.SSL_is_init_finished)
#define SSL_load_client_CA_file (tls_lib.SSL_load_client_CA_file)
#define SSL_new (tls_lib.SSL_new)
#define SSL_pending (tls_lib.SSL_pending)
#define SSL_read (tls_lib.SSL_read)
#define SSL_set_accept_state (tls_lib.SSL_set_accept_state)
#define SSL_set_bio (tls_lib.SSL_set_bio)
#define SSL_set_ex_data (tls_lib.SSL_set_ex_data)
#define SSL_shutdown (tls_lib.SSL_shutdown)
#define SSL_write (tls_lib.SSL_write)
#define TLS_server_method (tls_lib.TLS_server_method)
#define X509_NAME_free (tls_lib.X509_NAME_free)
#endif
