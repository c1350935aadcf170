/*
 * Tests for cmd/mc_tools and cmd/watch, driven as net/ drives a session
 * (cmd_fixture.h): lru_crawler metadump streamed a slice at a time,
 * lru_crawler's other subcommands, stats cachedump, sizes and detail, and
 * watch (lines, bounds, the skipped notice). Expected replies were checked
 * against memcached 1.6.18.
 */
#include "cmd_fixture.h"

#include "cmd/stats_state.h"
#include "cmd/watch.h"

/* Feed req; return the replies (valid until the next call). */
static const char *
run(struct fixture *f, const char *req)
{
    f->reply_len = 0;
    if (f->reply != NULL) {
        f->reply[0] = '\0';
    }
    assert_int_equal(fx_feed_str(f, req), SESSION_OK);
    return f->reply != NULL ? f->reply : "";
}

static void
expect(struct fixture *f, const char *req, const char *want)
{
    assert_string_equal(run(f, req), want);
}

static void
set_keys(struct fixture *f, unsigned n, unsigned vlen)
{
    static char value[4096];
    memset(value, 'v', sizeof(value));
    char line[128];
    for (unsigned i = 0; i < n; i++) {
        int k = snprintf(line, sizeof(line), "set k:%u 0 0 %u noreply\r\n", i, vlen);
        assert_int_equal(fx_feed(f, line, (size_t)k), SESSION_OK);
        assert_int_equal(fx_feed(f, value, vlen), SESSION_OK);
        assert_int_equal(fx_feed(f, "\r\n", 2), SESSION_OK);
    }
}

/* The value of a stats field, from a `stats` reply. */
static unsigned long long
stat_of(struct fixture *f, const char *name)
{
    char want[96];
    snprintf(want, sizeof(want), "STAT %s ", name);
    const char *p = strstr(run(f, "stats\r\n"), want);
    assert_non_null(p);
    return strtoull(p + strlen(want), NULL, 10);
}

static void
test_metadump_streams_every_key_once(void **state)
{
    struct fixture *f = *state;
    enum { N = 6000 };
    set_keys(f, N, 100);
    expect(f, "get k:7\r\n",
           "VALUE k:7 0 100\r\n"
           "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
           "vvvvvvvvv"
           "vvvv\r\nEND\r\n");
    f->yields = 0;
    /* pipelined: the dump, then the get's reply after it */
    const char *out = run(f, "lru_crawler metadump all\r\nget nope\r\n");
    static unsigned char seen[N];
    memset(seen, 0, sizeof(seen));
    unsigned lines = 0;
    const char *p = out;
    while (strncmp(p, "key=", 4) == 0) {
        unsigned i;
        char fetch[4];
        unsigned cls, size;
        long long exp;
        assert_int_equal(sscanf(p, "key=k%%3A%u exp=%lld la=%*u cas=%*u fetch=%3s cls=%u size=%u",
                                &i, &exp, fetch, &cls, &size),
                         5);
        assert_true(i < N);
        assert_int_equal(seen[i]++, 0);
        assert_int_equal(exp, -1);
        assert_string_equal(fetch, i == 7 ? "yes" : "no");
        assert_true(cls >= 1 && size > 100);
        lines++;
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    assert_int_equal(lines, N);
    assert_string_equal(p, "END\r\nEND\r\n");
    assert_true(f->yields >= 2); /* it went a slice at a time */
    assert_int_equal(stat_of(f, "lru_crawler_starts"), 1);
    assert_int_equal(stat_of(f, "lru_crawler_running"), 0);
}

static void
test_metadump_classes(void **state)
{
    struct fixture *f = *state;
    expect(f, "set a 0 0 1\r\nx\r\nset b 0 0 3000\r\n", "STORED\r\n");
    static char big[3000];
    memset(big, 'y', sizeof(big));
    assert_int_equal(fx_feed(f, big, sizeof(big)), SESSION_OK);
    expect(f, "\r\n", "STORED\r\n");
    const char *out = run(f, "lru_crawler metadump 1\r\n");
    assert_memory_equal(out, "key=a exp=-1 la=", 16);
    assert_non_null(strstr(out, " fetch=no cls=1 size="));
    assert_null(strstr(out, "key=b "));
    out = run(f, "lru_crawler metadump 1,99\r\n");
    assert_string_equal(out, "BADCLASS invalid class id\r\n");
    expect(f, "lru_crawler metadump 0\r\n", "BADCLASS invalid class id\r\n");
    expect(f, "lru_crawler metadump x\r\n", "BADCLASS invalid class id\r\n");
    expect(f, "lru_crawler metadump 64\r\n", "BADCLASS invalid class id\r\n");
    expect(f, "lru_crawler metadump 63\r\n", "END\r\n");
    expect(f, "lru_crawler metadump\r\n", "ERROR\r\n");
    expect(f, "lru_crawler metadump all extra\r\n", "ERROR\r\n");
    out = run(f, "lru_crawler metadump hash\r\n");
    assert_non_null(strstr(out, "key=a "));
    assert_non_null(strstr(out, "key=b "));
    /* keys are URI-encoded */
    expect(f, "set sp%20x 0 0 1\r\nq\r\n", "STORED\r\n");
    assert_non_null(strstr(run(f, "lru_crawler metadump all\r\n"), "key=sp%2520x exp=-1 "));
}

static void
test_crawler_subcommands(void **state)
{
    struct fixture *f = *state;
    expect(f, "lru_crawler crawl all\r\nlru_crawler crawl 1,2\r\nlru_crawler crawl 99\r\n",
           "OK\r\nOK\r\nBADCLASS invalid class id\r\n");
    expect(f, "lru_crawler tocrawl 10\r\nlru_crawler tocrawl x\r\nlru_crawler tocrawl -1\r\n",
           "OK\r\nCLIENT_ERROR bad command line format\r\n"
           "CLIENT_ERROR bad command line format\r\n");
    expect(f, "lru_crawler sleep 100\r\nlru_crawler sleep 2000000\r\n",
           "OK\r\nCLIENT_ERROR sleep must be one second or less\r\n");
    expect(f, "lru_crawler disable\r\nlru_crawler disable\r\n", "OK\r\nOK\r\n");
    expect(f, "lru_crawler metadump all\r\nlru_crawler crawl all\r\n",
           "CLIENT_ERROR lru crawler disabled\r\nCLIENT_ERROR lru crawler disabled\r\n");
    expect(f, "lru_crawler enable\r\nlru_crawler enable\r\n",
           "OK\r\nERROR failed to start lru crawler thread\r\n");
    expect(f, "lru_crawler\r\nlru_crawler bogus\r\nlru_crawler bogus x y\r\n",
           "ERROR\r\nERROR\r\nERROR\r\n");
    assert_int_equal(stat_of(f, "lru_crawler_starts"), 2);
}

static void
test_cachedump(void **state)
{
    struct fixture *f = *state;
    expect(f, "set a 0 0 1\r\nx\r\nset b 0 100 2\r\nyy\r\n", "STORED\r\nSTORED\r\n");
    const char *out = run(f, "stats cachedump 1 0\r\n");
    assert_non_null(strstr(out, "ITEM a [1 b; 0 s]\r\n"));
    assert_non_null(strstr(out, "ITEM b [2 b; "));
    assert_null(strstr(out, "ITEM b [2 b; 0 s]"));
    assert_string_equal(out + strlen(out) - 5, "END\r\n");
    out = run(f, "stats cachedump 1 1\r\n");
    assert_memory_equal(out, "ITEM ", 5);
    assert_string_equal(strchr(out, '\n') + 1, "END\r\n");
    expect(f, "stats cachedump 2 0\r\nstats cachedump 1 -1\r\nstats cachedump 99 1\r\n",
           "END\r\nCLIENT_ERROR bad command line format\r\nCLIENT_ERROR Illegal slab id\r\n");
    /* a big class: capped at 2 MiB of reply, as memcached's */
    set_keys(f, 70000, 1);
    out = run(f, "stats cachedump 1 0\r\n");
    assert_true(strlen(out) <= 2 * 1024 * 1024 + 5);
    assert_true(strlen(out) > 1024 * 1024);
    assert_string_equal(out + strlen(out) - 5, "END\r\n");
}

static void
test_sizes(void **state)
{
    struct fixture *f = *state;
    expect(f, "set a 0 0 1\r\nx\r\n", "STORED\r\n");
    expect(f, "stats sizes\r\n", "STAT sizes_status disabled\r\nEND\r\n");
    expect(f, "stats sizes_enable\r\n", "STAT sizes_status enabled\r\n");
    set_keys(f, 10, 100);
    const char *out = run(f, "stats sizes\r\n");
    unsigned size, count, total = 0;
    for (const char *p = out; sscanf(p, "STAT %u %u\r\n", &size, &count) == 2;
         p = strchr(p, '\n') + 1) {
        assert_int_equal(size % 32, 0);
        total += count;
    }
    assert_int_equal(total, 11);
    assert_string_equal(out + strlen(out) - 5, "END\r\n");
    expect(f, "stats sizes_disable\r\nstats sizes\r\n",
           "STAT sizes_status disabled\r\nSTAT sizes_status disabled\r\nEND\r\n");
}

static void
test_detail(void **state)
{
    struct fixture *f = *state;
    expect(f, "stats detail dump\r\n", "END\r\n");
    expect(f, "get a:1\r\nstats detail on\r\n", "END\r\nOK\r\n");
    expect(f,
           "set a:1 0 0 1\r\nx\r\nget a:1 a:2\r\ndelete a:3\r\nmg a:1 v\r\nget plain\r\n"
           "set b:x 0 0 1\r\ny\r\n",
           "STORED\r\nVALUE a:1 0 1\r\nx\r\nEND\r\nNOT_FOUND\r\nVA 1\r\nx\r\nEND\r\nSTORED\r\n");
    const char *out = run(f, "stats detail dump\r\n");
    assert_non_null(strstr(out, "PREFIX a get 3 hit 2 set 1 del 1\r\n"));
    assert_non_null(strstr(out, "PREFIX b get 0 hit 0 set 1 del 0\r\n"));
    assert_null(strstr(out, "plain"));
    expect(f, "stats detail off\r\nget a:1\r\n", "OK\r\nVALUE a:1 0 1\r\nx\r\nEND\r\n");
    assert_non_null(strstr(run(f, "stats detail dump\r\n"), "PREFIX a get 3 hit 2 "));
    /* a reset forgets every prefix, as memcached's */
    expect(f, "stats reset\r\nstats detail dump\r\n", "RESET\r\nEND\r\n");
    expect(f, "stats detail\r\nstats detail on extra\r\nstats detail off\r\n",
           "CLIENT_ERROR usage: stats detail on|off|dump\r\nOK\r\nOK\r\n");
}

/* A second connection on the fixture's server. */
struct peer {
    struct session s;
    struct buf out;
    struct metrics m;
};

static void
peer_init(struct fixture *f, struct peer *p)
{
    memset(p, 0, sizeof(*p));
    buf_init(&p->out);
    session_init(&p->s, &f->env, &p->m, &p->out);
    p->s.id = 42;
}

static void
peer_fini(struct peer *p)
{
    session_fini(&p->s);
    buf_fini(&p->out);
}

static void
peer_send(struct peer *p, const char *req)
{
    size_t consumed, need;
    assert_int_equal(session_process(&p->s, req, strlen(req), &consumed, &need), SESSION_OK);
    assert_int_equal(consumed, strlen(req));
}

/* What the stream has for the peer now (NUL-terminated, reset after). */
static const char *
peer_stream(struct peer *p)
{
    assert_int_equal(session_stream(&p->s), SESSION_OK);
    static char text[1 << 21];
    size_t n = buf_readable(&p->out) < sizeof(text) - 1 ? buf_readable(&p->out) : sizeof(text) - 1;
    memcpy(text, p->out.data + p->out.rpos, n);
    text[n] = '\0';
    buf_reset(&p->out);
    return text;
}

static void
test_watch_lines(void **state)
{
    struct fixture *f = *state;
    struct peer w;
    peer_init(f, &w);
    peer_send(&w, "watch bogus\r\n");
    assert_string_equal(peer_stream(&w), "ERROR\r\n");
    assert_false(session_streaming(&w.s));
    peer_send(&w, "watch mutations fetchers\r\nget ignored\r\n");
    assert_true(session_streaming(&w.s));
    assert_string_equal(peer_stream(&w), "OK\r\n");
    assert_int_equal(stat_of(f, "log_watchers"), 1);
    expect(f, "set k 0 0 1\r\nx\r\nget k nope\r\nadd k 0 100 2\r\nyy\r\n",
           "STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\nNOT_STORED\r\n");
    const char *out = peer_stream(&w);
    const char *want[] = {
        " type=item_store key=k status=stored cmd=set ttl=0 clsid=1 cfd=0 size=1\n",
        " type=item_get key=k status=found clsid=1 cfd=0 size=1\n",
        " type=item_get key=nope status=not_found clsid=0 cfd=0 size=0\n",
        " type=item_store key=k status=not_stored cmd=add ttl=100 clsid=1 cfd=0 size=2\n",
    };
    const char *p = out;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_memory_equal(p, "ts=", 3);
        p = strstr(p, " gid=");
        assert_non_null(p);
        p = strchr(p + 1, ' ');
        assert_memory_equal(p, want[i], strlen(want[i]));
        p += strlen(want[i]);
    }
    assert_string_equal(p, "");
    /* another watcher's input is discarded, and it may not watch twice */
    peer_send(&w, "watch\r\n");
    assert_string_equal(peer_stream(&w), "");
    peer_fini(&w);
    assert_int_equal(stat_of(f, "log_watchers"), 0);
    assert_int_equal(stat_of(f, "log_watcher_sent"), 4);
}

static void
test_watch_limit(void **state)
{
    struct fixture *f = *state;
    static struct peer w[WATCH_MAX_WATCHERS + 1];
    for (unsigned i = 0; i <= WATCH_MAX_WATCHERS; i++) {
        peer_init(f, &w[i]);
        peer_send(&w[i], "watch\r\n");
        assert_string_equal(
            peer_stream(&w[i]),
            i < WATCH_MAX_WATCHERS ? "OK\r\n" : "WATCHER_TOO_MANY log watcher limit reached\r\n");
    }
    for (unsigned i = 0; i <= WATCH_MAX_WATCHERS; i++) {
        peer_fini(&w[i]);
    }
    assert_int_equal(stats_wanted(f->stats) & STATS_WANT_WATCH, 0);
}

/* A watcher that does not read loses lines, is told how many, and never
 * holds more than its bounded queue; the thread that logs never waits. */
static void
test_watch_slow_watcher(void **state)
{
    struct fixture *f = *state;
    struct peer fast, slow;
    peer_init(f, &fast);
    peer_init(f, &slow);
    peer_send(&fast, "watch fetchers\r\n");
    peer_send(&slow, "watch fetchers\r\n");
    assert_string_equal(peer_stream(&fast), "OK\r\n");
    assert_string_equal(peer_stream(&slow), "OK\r\n");
    /* the fast one reads often; the slow one never */
    for (unsigned round = 0; round < 40; round++) {
        for (unsigned i = 0; i < 200; i++) {
            assert_int_equal(fx_feed_str(f, "get a-rather-long-key-to-fill-the-log-with\r\n"),
                             SESSION_OK);
        }
        fx_drain(f);
        (void)peer_stream(&fast);
    }
    const char *out = peer_stream(&slow);
    size_t n = strlen(out);
    assert_true(n <= WATCH_QUEUE_SIZE);
    assert_true(n > WATCH_QUEUE_SIZE / 2);
    unsigned long long skipped = 0;
    /* the notice comes with the next line that fits, or at the end of
     * this read when the queue had room left for it */
    const char *first = strstr(out, "skipped=");
    if (first != NULL) {
        skipped = strtoull(first + 8, NULL, 10);
    }
    for (unsigned round = 0; round < 2 && skipped == 0; round++) {
        assert_int_equal(fx_feed_str(f, "get k\r\n"), SESSION_OK);
        out = peer_stream(&slow);
        const char *p = strstr(out, "skipped=");
        if (p != NULL) {
            skipped = strtoull(p + 8, NULL, 10);
        }
    }
    assert_true(skipped > 0);
    assert_true(stat_of(f, "log_watcher_skipped") >= skipped);
    peer_fini(&fast);
    peer_fini(&slow);
}

/* A thread's log buffer that fills between two collections drops what
 * does not fit (log_worker_dropped) and the watchers are told. */
static void
test_watch_worker_drops(void **state)
{
    struct fixture *f = *state;
    struct peer w;
    peer_init(f, &w);
    peer_send(&w, "watch fetchers\r\n");
    assert_string_equal(peer_stream(&w), "OK\r\n");
    for (unsigned i = 0; i < 5000; i++) {
        assert_int_equal(fx_feed_str(f, "get some-key-that-misses\r\n"), SESSION_OK);
    }
    fx_drain(f);
    const char *out = peer_stream(&w);
    const char *p = strstr(out, "skipped=");
    assert_non_null(p);
    unsigned long long lost = strtoull(p + 8, NULL, 10);
    assert_true(lost > 0 && lost < 5000);
    assert_int_equal(stat_of(f, "log_worker_dropped"), lost);
    assert_int_equal(stat_of(f, "log_worker_written") + lost, 5000);
    peer_fini(&w);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_metadump_streams_every_key_once),
        T(test_metadump_classes),
        T(test_crawler_subcommands),
        T(test_cachedump),
        T(test_sizes),
        T(test_detail),
        T(test_watch_lines),
        T(test_watch_limit),
        T(test_watch_slow_watcher),
        T(test_watch_worker_drops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
