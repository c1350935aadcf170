// layer: cmd
/*
 * Fuzz target for the authentication state machines: memcached's ASCII
 * auth (text and meta), SASL PLAIN (binary) and RESP's AUTH/HELLO, all
 * through cmd/session with every credential source configured
 * (--requirepass, -Y, -S).
 *
 * The oracle: the store holds one secret item. Unless the input contains
 * one of the passwords, whatever the bytes, the session must stay
 * unauthenticated, never send the secret's value (unless the input itself
 * holds those bytes, which an error reply may echo), and leave the store as
 * it was (the secret intact, nothing added, nothing flushed). When an
 * input does contain a password the checks are skipped and the store is
 * put back for the next input.
 *
 * Input: byte 0 picks where the rest is cut in two (two reads) and, in its
 * top bit, a connection on the RESP-only port (inline commands).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stashd/cmd/auth.h"
#include "stashd/cmd/session.h"
#include "stashd/store/store.h"
#include "stashd/util/buf.h"
#include "stashd/util/clock.h"
#include "stashd/util/hash.h"
#include "stashd/util/log.h"
#include "stashd/util/metrics.h"
#include "stashd/util/options.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define SECRET_KEY "secret"
#define SECRET "TOPSECRET-4711"
static const char *const passwords[] = {"pw1r", "pw2y", "pw3s"};

static struct {
    struct store *store;
    struct options opts;
    struct auth *auth;
    struct cmd_env env;
    struct metrics m;
    struct buf out;
    bool leaked; /* the secret's value appeared in a reply */
    /* store_count after the store was last put back: a flush leaves items
     * counted until they are reclaimed, so the count is compared with
     * this rather than with 1 */
    uint64_t count;
} fz;

static void
fz_shutdown(void *ctx, bool graceful)
{
    (void)ctx;
    (void)graceful;
}

static char *
temp_file(const char *text)
{
    char path[] = "/tmp/stashd-fuzz-auth-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    return strdup(path);
}

static void
put_secret(void)
{
    struct store_key k;
    store_key_init(&k, SECRET_KEY, sizeof(SECRET_KEY) - 1);
    struct store_set_req r = {
        .mode = STORE_MODE_SET, .value = SECRET, .nbytes = sizeof(SECRET) - 1};
    CHECK(store_set(fz.store, &k, &r, NULL) == STORE_OK);
    fz.count = store_count(fz.store);
}

static void
fz_setup(void)
{
    if (fz.store != NULL) {
        return;
    }
    clock_setup();
    hash_setup(7);
    log_set_verbosity(-1);
    struct store_config cfg = {
        .memory_limit = 8u << 20,
        .max_item_size = 4096,
        .growth_factor = 1.25,
        .slab_min_size = 48,
        .shards = 2,
        .threads = 1,
        .evictions = true,
        .cas_enabled = true,
    };
    CHECK(store_create(&fz.store, &cfg) == 0);
    options_init(&fz.opts); /* made once, like the store: never freed */
    fz.opts.reqs_per_event = 4;
    fz.opts.flush_enabled = true;
    fz.opts.shutdown_enabled = true;
    fz.opts.max_item_size = 4096;
    fz.opts.conn_limit = 16;
    free(fz.opts.requirepass);
    fz.opts.requirepass = strdup(passwords[0]);
    free(fz.opts.auth_file);
    fz.opts.auth_file = temp_file("alice:pw2y\n");
    free(fz.opts.sasl_pwdb);
    fz.opts.sasl_pwdb = temp_file("bob:pw3s\n");
    fz.opts.sasl = true;
    char err[256];
    CHECK(auth_create(&fz.auth, &fz.opts, err, sizeof(err)) == 0);
    /* The files are read (the -S one at each attempt): keep them, but
     * remove them at exit. */
    fz.env = (struct cmd_env){
        .store = fz.store,
        .opts = &fz.opts,
        .auth = fz.auth,
        .shutdown = fz_shutdown,
        .threads = 1,
    };
    buf_init(&fz.out);
    put_secret();
}

static void
take_replies(void)
{
    size_t n = buf_readable(&fz.out);
    if (n > 0 && memmem(fz.out.data + fz.out.rpos, n, SECRET, sizeof(SECRET) - 1) != NULL) {
        fz.leaked = true;
    }
    buf_reset(&fz.out);
}

/* Serve what `in` holds; false once the session asked to close. */
static bool
serve(struct session *s, char *in, size_t *len)
{
    for (int turns = 0;; turns++) {
        CHECK(turns < 100000);
        size_t consumed = 0, need = 0;
        enum session_rc rc = session_process(s, in, *len, &consumed, &need);
        CHECK(consumed <= *len);
        memmove(in, in + consumed, *len - consumed);
        *len -= consumed;
        take_replies();
        if (rc == SESSION_CLOSE) {
            return false;
        }
        if (rc == SESSION_OK) {
            return true;
        }
        if (rc == SESSION_YIELD) {
            CHECK(consumed > 0);
        }
    }
}

static void
read_secret(void *ctx, const struct store_item_view *v)
{
    *(bool *)ctx = v->nbytes == sizeof(SECRET) - 1 && memcmp(v->value, SECRET, v->nbytes) == 0;
}

static bool
store_as_before(void)
{
    bool same = false;
    struct store_key k;
    store_key_init(&k, SECRET_KEY, sizeof(SECRET_KEY) - 1);
    if (store_get(fz.store, &k, NULL, read_secret, &same, NULL) != STORE_OK) {
        return false;
    }
    return same && store_count(fz.store) == fz.count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_setup();
    if (size == 0) {
        return 0;
    }
    bool knows = false;
    for (size_t i = 0; i < sizeof(passwords) / sizeof(passwords[0]); i++) {
        knows |= memmem(data, size, passwords[i], strlen(passwords[i])) != NULL;
    }
    size_t n = size - 1;
    size_t cut = (size_t)(data[0] & 0x7f) * n / 128;
    char *in = malloc(n > 0 ? n : 1);
    if (in == NULL) {
        return 0;
    }
    struct session s;
    session_init(&s, &fz.env, &fz.m, &fz.out);
    CHECK(!s.authed);
    if (data[0] & 0x80) {
        session_set_resp_only(&s);
    }
    fz.leaked = false;
    size_t len = cut;
    memcpy(in, data + 1, cut);
    if (serve(&s, in, &len)) {
        memcpy(in + len, data + 1 + cut, n - cut);
        len += n - cut;
        serve(&s, in, &len);
    }
    if (!knows) {
        CHECK(!s.authed);
        /* an input that holds the secret's bytes may see them echoed */
        CHECK(!fz.leaked || memmem(data, size, SECRET, sizeof(SECRET) - 1) != NULL);
        CHECK(store_as_before());
    } else if (!store_as_before()) {
        store_flush(fz.store, 0);
        put_secret();
    }
    session_fini(&s);
    free(in);
    return 0;
}
