/*
 * auth: one credential model for every protocol on every listener.
 *
 * Users and passwords come from three places, any of which may be set:
 *
 *   --requirepass PW     Redis's "default" user with password PW
 *   -Y/--auth-file FILE  memcached's ASCII-auth file of "user:password"
 *                        lines, loaded at start and again on SIGHUP (as
 *                        memcached 1.6 does); a reload that fails keeps
 *                        the users already loaded
 *   -S [--sasl-pwdb F]   memcached's SASL password file ("user:password"
 *                        lines; F, else $MEMCACHED_SASL_PWDB), read at each
 *                        authentication so it can change without a restart
 *
 * As soon as any of them is configured, every connection must
 * authenticate before any command that reads or writes data or server
 * state, whatever protocol it speaks and whichever listener it came
 * through: memcached text and meta with memcached's ASCII authentication,
 * memcached binary with SASL PLAIN, RESP with AUTH or HELLO ... AUTH. A
 * user of any source is accepted by every protocol (a memcached client
 * names Redis's password as user "default").
 *
 * Authentication happens once per connection, never per request, so this
 * module is off the hot path: a mutex guards the loaded users against a
 * reload. Passwords are compared in constant time and never logged.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct auth;
struct options;

/*
 * Load the credentials o names (o must outlive the auth). A -Y file that
 * cannot be opened or holds a malformed line fails with memcached's
 * message in err. 0 or -errno.
 */
int auth_create(struct auth **ap, const struct options *o, char *err, size_t errlen);
void auth_destroy(struct auth **ap);

/* SIGHUP: load the -Y file again. On failure (message in err) the users
 * loaded before stay. 0 (also when there is no -Y file) or -errno. */
int auth_reload(struct auth *a, char *err, size_t errlen);

/* Is any credential configured? false for a NULL auth. */
bool auth_required(const struct auth *a);

/* Is (user, pass) a known pair in any source? Safe from any thread. */
bool auth_check(struct auth *a, const char *user, size_t ulen, const char *pass, size_t plen);

/* The user name of Redis's requirepass password. */
#define AUTH_DEFAULT_USER "default"
