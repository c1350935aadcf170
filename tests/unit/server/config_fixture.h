/*
 * Helpers shared by the server/config tests (header-only: each test is
 * one executable): parse a command line over fresh defaults, expect a
 * failure with a given message, and write files into a temporary
 * directory that the group teardown removes.
 */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/config.h"
#include "stashd/util/options.h"

static char tmpdir[64];
static char err[512];

/* Parse "stashd" followed by the NULL-terminated arguments. */
static inline int
parse_v(struct options *o, enum config_action *act, va_list ap)
{
    char *argv[40] = {"stashd"};
    int argc = 1;
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        assert_true(argc < 39);
        argv[argc++] = (char *)a;
    }
    err[0] = '\0';
    return config_parse_args(o, argc, argv, act, err, sizeof(err));
}

static inline int
parse(struct options *o, ...)
{
    enum config_action act;
    va_list ap;
    va_start(ap, o);
    int rc = parse_v(o, &act, ap);
    va_end(ap);
    if (rc == 0) {
        assert_int_equal(act, CONFIG_RUN);
    }
    return rc;
}

/* Fresh defaults, then the arguments; the caller finis. */
static inline int
fresh(struct options *o, ...)
{
    enum config_action act;
    va_list ap;
    options_init(o);
    va_start(ap, o);
    int rc = parse_v(o, &act, ap);
    va_end(ap);
    return rc;
}

/* Expect the arguments to fail with a message containing want. */
static inline void
expect_bad(const char *want, ...)
{
    struct options o;
    enum config_action act;
    va_list ap;
    options_init(&o);
    va_start(ap, want);
    int rc = parse_v(&o, &act, ap);
    va_end(ap);
    if (rc != -EINVAL || strstr(err, want) == NULL) {
        print_error("rc %d, err \"%s\", wanted \"%s\"\n", rc, err, want);
        fail();
    }
    options_fini(&o);
}

/* A file in tmpdir; returns its path (static: valid until the next call). */
static inline const char *
write_file(const char *name, const char *text)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static inline void
assert_list(const struct options_list *l, size_t n, ...)
{
    va_list ap;
    assert_int_equal(l->n, n);
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(l->v[i], va_arg(ap, const char *));
    }
    va_end(ap);
}

static inline int
setup_tmp(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/stashd-test-config-XXXXXX");
    return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

/* Remove every file write_file() left, then the directory. */
static inline int
teardown_tmp(void **state)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char path[sizeof(tmpdir) + 256 + 2];
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
            unlink(path);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    return rmdir(tmpdir);
}
