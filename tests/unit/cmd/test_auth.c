/*
 * Unit tests for cmd/auth: the three credential sources, memcached's -Y
 * file rules, reloads, and that nothing is required without a credential.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "stashd/cmd/auth.h"
#include "stashd/util/log.h"
#include "stashd/util/options.h"

static char paths[4][64];

static const char *
file_with(int i, const char *text)
{
    if (paths[i][0] == '\0') {
        snprintf(paths[i], sizeof(paths[i]), "/tmp/stashd-test-auth-XXXXXX");
        int fd = mkstemp(paths[i]);
        assert_true(fd >= 0);
        close(fd);
    }
    FILE *f = fopen(paths[i], "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return paths[i];
}

static void
set_str(char **field, const char *v)
{
    free(*field);
    *field = strdup(v);
    assert_non_null(*field);
}

static bool
check(struct auth *a, const char *user, const char *pass)
{
    return auth_check(a, user, strlen(user), pass, strlen(pass));
}

static void
test_nothing_configured(void **state)
{
    (void)state;
    struct options o;
    options_init(&o);
    struct auth *a = NULL;
    char err[256];
    assert_int_equal(auth_create(&a, &o, err, sizeof(err)), 0);
    assert_false(auth_required(a));
    assert_false(auth_required(NULL));
    /* nobody logs in where there is nothing to log in to */
    assert_false(check(a, "default", ""));
    assert_int_equal(auth_reload(a, err, sizeof(err)), 0);
    auth_destroy(&a);
    assert_null(a);
    options_fini(&o);
}

static void
test_requirepass_is_user_default(void **state)
{
    (void)state;
    struct options o;
    options_init(&o);
    set_str(&o.requirepass, "s3cret");
    struct auth *a = NULL;
    char err[256];
    assert_int_equal(auth_create(&a, &o, err, sizeof(err)), 0);
    assert_true(auth_required(a));
    assert_true(check(a, "default", "s3cret"));
    assert_false(check(a, "default", "s3cre"));
    assert_false(check(a, "default", "s3cretX"));
    assert_false(check(a, "Default", "s3cret"));
    assert_false(check(a, "", "s3cret"));
    assert_false(check(a, "alice", "s3cret"));
    auth_destroy(&a);
    options_fini(&o);
}

static void
test_auth_file_rules(void **state)
{
    (void)state;
    struct options o;
    options_init(&o);
    set_str(&o.auth_file, file_with(0, "u1:p1\nu2:p2\r\n\nu3:with:colons\nempty:\nlast:nolf"));
    struct auth *a = NULL;
    char err[256];
    assert_int_equal(auth_create(&a, &o, err, sizeof(err)), 0);
    assert_true(auth_required(a));
    assert_true(check(a, "u1", "p1"));
    assert_true(check(a, "u2", "p2")); /* the CR is not the password's */
    assert_false(check(a, "u2", "p2\r"));
    assert_true(check(a, "u3", "with:colons"));
    assert_true(check(a, "empty", ""));
    assert_true(check(a, "last", "nolf"));
    assert_false(check(a, "u1", "p2"));
    assert_false(check(a, "u", "1:p1"));
    assert_false(check(a, "default", "p1"));
    /* more than memcached's 8 users */
    char big[4096] = "";
    for (int i = 0; i < 100; i++) {
        char line[32];
        snprintf(line, sizeof(line), "user%d:pw%d\n", i, i);
        strcat(big, line);
    }
    file_with(0, big);
    assert_int_equal(auth_reload(a, err, sizeof(err)), 0);
    assert_true(check(a, "user99", "pw99"));
    assert_false(check(a, "u1", "p1"));
    /* a malformed reload keeps the users loaded before */
    file_with(0, "user0:pw0\nno colon\n");
    assert_int_equal(auth_reload(a, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "has a malformed entry. Should be 'user:password'"));
    assert_true(check(a, "user99", "pw99"));
    unlink(paths[0]);
    assert_true(auth_reload(a, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "Could not open authfile"));
    assert_true(check(a, "user99", "pw99"));
    auth_destroy(&a);
    paths[0][0] = '\0';
    options_fini(&o);
}

static void
test_auth_file_refused_at_start(void **state)
{
    (void)state;
    struct options o;
    options_init(&o);
    set_str(&o.auth_file, file_with(1, "fine:yes\nbroken\n"));
    struct auth *a = NULL;
    char err[256];
    assert_int_equal(auth_create(&a, &o, err, sizeof(err)), -EINVAL);
    assert_null(a);
    set_str(&o.auth_file, "/nonexistent/stashd-auth");
    assert_int_equal(auth_create(&a, &o, err, sizeof(err)), -ENOENT);
    assert_string_equal(err, "Could not open authfile [/nonexistent/stashd-auth] for reading, "
                             "error No such file or directory: No such file or directory");
    options_fini(&o);
    unlink(paths[1]);
    paths[1][0] = '\0';
}

static void
test_all_sources_at_once(void **state)
{
    (void)state;
    struct options o;
    options_init(&o);
    set_str(&o.requirepass, "rp");
    set_str(&o.auth_file, file_with(2, "alice:ya\n"));
    set_str(&o.sasl_pwdb, file_with(3, "bob:sa:ignored\nbob:second\n"));
    o.sasl = true;
    struct auth *a = NULL;
    char err[256];
    assert_int_equal(auth_create(&a, &o, err, sizeof(err)), 0);
    assert_true(check(a, "default", "rp"));
    assert_true(check(a, "alice", "ya"));
    assert_true(check(a, "bob", "sa")); /* the first line naming bob decides */
    assert_false(check(a, "bob", "second"));
    assert_false(check(a, "alice", "rp"));
    assert_false(check(a, "bob", "ya"));
    /* the -S file is read at each check: a change applies at once */
    file_with(3, "bob:changed\n");
    assert_true(check(a, "bob", "changed"));
    auth_destroy(&a);
    /* -S alone, without a file: required, but nobody gets in */
    o.sasl = true;
    set_str(&o.requirepass, "");
    set_str(&o.auth_file, "");
    set_str(&o.sasl_pwdb, "");
    unsetenv("MEMCACHED_SASL_PWDB");
    assert_int_equal(auth_create(&a, &o, err, sizeof(err)), 0);
    assert_true(auth_required(a));
    assert_false(check(a, "bob", "changed"));
    auth_destroy(&a);
    options_fini(&o);
    unlink(paths[2]);
    unlink(paths[3]);
}

int
main(void)
{
    log_set_verbosity(-1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_configured),
        cmocka_unit_test(test_requirepass_is_user_default),
        cmocka_unit_test(test_auth_file_rules),
        cmocka_unit_test(test_auth_file_refused_at_start),
        cmocka_unit_test(test_all_sources_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
