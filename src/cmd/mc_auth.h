/*
 * mc_auth: memcached's two ways to authenticate (private to cmd/): SASL
 * PLAIN for the binary protocol and memcached's ASCII authentication for
 * text and meta. Both check their credentials with auth_check() (see
 * stashd/cmd/auth.h), so a user of any source (-Y, -S, --requirepass)
 * passes either.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct auth;
struct session;

/* SASL PLAIN: "[authzid] NUL authcid NUL password", with authzid empty or
 * equal to authcid (no proxy authorization). */
bool mc_auth_plain(struct auth *a, const char *data, size_t len);

/* The mechanisms SASL LIST MECHS names. */
#define MC_AUTH_MECHS "PLAIN"

/* A credentials line longer than this closes the connection (memcached
 * would buffer a value of up to 4 GB for it). */
#define MC_AUTH_TEXT_MAX 4096

enum mc_auth_text_rc {
    MC_AUTH_TEXT_NEED_MORE, /* *need bytes (0 = unknown) from data */
    MC_AUTH_TEXT_REFUSED,   /* replied (an error): *consumed bytes used */
    MC_AUTH_TEXT_AUTHED,    /* replied STORED: *consumed bytes used, the client is in */
    MC_AUTH_TEXT_CLOSE,     /* close without a reply */
};

/*
 * memcached's ASCII authentication (memcached -Y), for a text connection
 * not yet authenticated: the first request must be "set <key> <flags> <exptime>
 * <bytes>\r\n" whose data is "<user> <password>\r\n" (key, flags and
 * exptime are ignored). Anything else is answered "CLIENT_ERROR
 * unauthenticated". Replies go to s->out (*err: a failed append); counts
 * auth_cmds and auth_errors.
 */
enum mc_auth_text_rc mc_auth_text(struct session *s, const char *data, size_t len, size_t *consumed,
                                  size_t *need, int *err);
