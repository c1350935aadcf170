/*
 * tls_lib: OpenSSL opened with dlopen on first use (see tls_lib.h).
 */
#ifdef STASHD_TLS

#define TLS_LIB_IMPL
#include "net/tls_lib.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define TLS_LIB_STR2(x) #x
#define TLS_LIB_STR(x) TLS_LIB_STR2(x)

struct tls_lib tls_lib;
const char tls_lib_soname[] = "libssl.so." TLS_LIB_STR(OPENSSL_VERSION_MAJOR);

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_rc;
static char load_err[256];

static void
load(void)
{
    /* NODELETE: OpenSSL keeps thread-local state and an exit handler. */
    void *h = dlopen(tls_lib_soname, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (h == NULL) {
        const char *why = dlerror();
        snprintf(load_err, sizeof(load_err), "TLS needs OpenSSL %d (%s): %s", OPENSSL_VERSION_MAJOR,
                 tls_lib_soname, why != NULL ? why : "not found");
        load_rc = -ENOTSUP;
        return;
    }
    void *p;
#define TLS_LIB_LOAD(f)                                                                            \
    p = dlsym(h, #f);                                                                              \
    if (p == NULL) {                                                                               \
        snprintf(load_err, sizeof(load_err), "TLS: %s has no %s", tls_lib_soname, #f);             \
        load_rc = -ENOTSUP;                                                                        \
        return;                                                                                    \
    }                                                                                              \
    memcpy(&tls_lib.f, &p, sizeof(p));
    TLS_LIB_FUNCS(TLS_LIB_LOAD)
#undef TLS_LIB_LOAD
    load_rc = 0;
}

int
tls_lib_load(char *err, size_t errlen)
{
    pthread_once(&load_once, load);
    if (load_rc != 0 && errlen > 0) {
        snprintf(err, errlen, "%s", load_err);
    }
    return load_rc;
}

#else
typedef int stashd_tls_lib_unused; /* without OpenSSL there is nothing to load */
#endif /* STASHD_TLS */
