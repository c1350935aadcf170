/*
 * Unit tests for cmd/mc_settings: `stats settings` in memcached's names
 * and value formats, one pair per table row with a stats name, and the
 * values memcached prints in its own words.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cmd/mc_settings.h"
#include "stashd/util/optdesc.h"
#include "stashd/util/options.h"

struct stats_buf {
    char text[8192];
    size_t len;
    int count;
};

static void
collect(void *ctx, const char *name, const char *value)
{
    struct stats_buf *b = ctx;
    b->len +=
        (size_t)snprintf(b->text + b->len, sizeof(b->text) - b->len, "STAT %s %s\n", name, value);
    b->count++;
}

static void
assert_stats(const struct options *o, ...)
{
    struct stats_buf b = {.len = 0};
    mc_settings_render(o, collect, &b);
    va_list ap;
    va_start(ap, o);
    const char *line;
    while ((line = va_arg(ap, const char *)) != NULL) {
        char want[1300];
        snprintf(want, sizeof(want), "STAT %s\n", line);
        if (strstr(b.text, want) == NULL) {
            print_error("missing \"%s\" in:\n%s", line, b.text);
            fail();
        }
    }
    va_end(ap);
}

/* name=text pairs, NULL-terminated, as the command line would set them. */
static void
set_all(struct options *o, ...)
{
    va_list ap;
    const char *name;
    char why[256];
    va_start(ap, o);
    while ((name = va_arg(ap, const char *)) != NULL) {
        const char *text = va_arg(ap, const char *);
        const struct optdesc *d = optdesc_find(name);
        assert_non_null(d);
        if (optdesc_set(o, d, text, d->type == OPT_LIST, why, sizeof(why)) != 0) {
            print_error("%s=%s: %s\n", name, text, why);
            fail();
        }
    }
    va_end(ap);
}

static void
test_defaults(void **state)
{
    struct options o;
    options_init(&o);
    assert_stats(&o, "maxbytes 67108864", "maxconns 1024", "tcpport 11211", "udpport 0",
                 "inter 127.0.0.1", "verbosity 0", "evictions on", "domain_socket NULL",
                 "umask 700", "shutdown_command no", "growth_factor 1.25", "chunk_size 48",
                 "num_threads 0", "reqs_per_event 20", "cas_enabled yes", "tcp_backlog 1024",
                 "binding_protocol auto-negotiate", "item_size_max 1048576", "flush_enabled yes",
                 "idle_timeout 0", "auth_enabled_sasl no", "auth_enabled_ascii no", NULL);
    struct stats_buf b = {.len = 0};
    mc_settings_render(&o, collect, &b);
    int rows = 0;
#define COUNT_STATS(fd, ty, sf, lf, df, mn, mx, fv, sn, help) rows += (sn) != NULL;
    STASHD_OPTIONS(COUNT_STATS)
#undef COUNT_STATS
    assert_int_equal(b.count, rows);
    assert_null(strstr(b.text, "STAT user"));
    options_fini(&o);
}

static void
test_values(void **state)
{
    struct options o;
    options_init(&o);
    set_all(&o, "evictions", "false", "cas_enabled", "false", "flush_enabled", "false",
            "shutdown_enabled", "true", "protocol", "binary", "listen", "10.0.0.1", "listen",
            "10.0.0.2:11311", "unix_mask", "644", "unix_socket", "/tmp/x.sock", "growth_factor",
            "1.5", "memory_limit", "1g", "verbosity", "2", "threads", "4", "auth_file", "/etc/auth",
            NULL);
    assert_stats(&o, "evictions off", "cas_enabled no", "flush_enabled no", "shutdown_command yes",
                 "binding_protocol binary", "inter 127.0.0.1,10.0.0.1,10.0.0.2:11311", "umask 644",
                 "domain_socket /tmp/x.sock", "growth_factor 1.50", "maxbytes 1073741824",
                 "verbosity 2", "num_threads 4", "auth_enabled_ascii /etc/auth", NULL);
    set_all(&o, "protocol", "ascii", "growth_factor", "1.08", "memory_limit", "1536k", NULL);
    assert_stats(&o, "binding_protocol ascii", "growth_factor 1.08", "maxbytes 1572864", NULL);
    options_fini(&o);
}

/* A list longer than the renderer's buffer is printed whole; an empty
 * one as memcached prints an unset value. */
static void
test_long_and_empty_list(void **state)
{
    struct options o;
    char item[32], want[1200] = "inter 127.0.0.1";
    options_init(&o);
    for (int i = 0; i < 40; i++) {
        snprintf(item, sizeof(item), "10.0.%d.%d:11211", i, i);
        set_all(&o, "listen", item, NULL);
        strcat(want, ",");
        strcat(want, item);
    }
    assert_stats(&o, want, NULL);
    optdesc_release(&o, optdesc_find("listen"));
    assert_stats(&o, "inter NULL", NULL);
    options_fini(&o);
}

/* memcached prints every ssl_* setting, TLS on or not, in its own units. */
static void
test_tls(void **state)
{
    struct options o;
    options_init(&o);
    assert_stats(&o, "ssl_enabled no", "ssl_chain_cert NULL", "ssl_key NULL", "ssl_verify_mode 0",
                 "ssl_keyformat 1", "ssl_ciphers NULL", "ssl_ca_cert NULL", "ssl_wbuf_size 16384",
                 "ssl_session_cache no", "ssl_kernel_tls no", "ssl_min_version tlsv1.2",
                 "tls_port 0", NULL);
    set_all(&o, "ssl_enabled", "true", "ssl_chain_cert", "/c.pem", "ssl_verify_mode", "2",
            "ssl_session_cache", "yes", "ssl_min_version", "3", "ssl_wbuf_size", "32",
            "ssl_ciphers", "HIGH", "tls_port", "6380", NULL);
    assert_stats(&o, "ssl_enabled yes", "ssl_chain_cert /c.pem", "ssl_verify_mode 2",
                 "ssl_session_cache yes", "ssl_min_version tlsv1.3", "ssl_wbuf_size 32768",
                 "ssl_ciphers HIGH", "tls_port 6380", NULL);
    set_all(&o, "ssl_min_version", "0", NULL);
    assert_stats(&o, "ssl_min_version tlsv1.0", NULL);
    options_fini(&o);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_long_and_empty_list),
        cmocka_unit_test(test_tls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
