/*
 * Tests for cmd/session with the memcached text protocol: request bytes in,
 * exact reply bytes out, against a real store, driven by cmd_fixture.h as
 * net/ drives a session. Expected replies were checked against memcached
 * 1.6.18.
 */
#include "cmd/mc_stats.h"
#include "cmd_fixture.h"

#define MAX_ITEM FX_MAX_ITEM

/* Add n input bytes and serve them (cmd_fixture.h's driver). Returns the
 * last rc (SESSION_OK or SESSION_CLOSE); *need_out gets the last need. */
static enum session_rc
feed_n(struct fixture *f, const char *p, size_t n, size_t *need_out)
{
    enum session_rc rc = fx_feed(f, p, n);
    if (need_out != NULL) {
        *need_out = f->last_need;
    }
    return rc;
}

static enum session_rc
feed(struct fixture *f, const char *s)
{
    return feed_n(f, s, strlen(s), NULL);
}

/* Feed s and check the replies it produced. */
static void
expect(struct fixture *f, const char *req, const char *want)
{
    f->reply_len = 0;
    if (f->reply != NULL) {
        f->reply[0] = '\0';
    }
    assert_int_equal(feed(f, req), SESSION_OK);
    assert_string_equal(f->reply ? f->reply : "", want);
}

static void
test_storage_and_get(void **state)
{
    struct fixture *f = *state;
    expect(f, "set a 5 0 3\r\nabc\r\n", "STORED\r\n");
    expect(f, "get a\r\n", "VALUE a 5 3\r\nabc\r\nEND\r\n");
    expect(f, "get a b a\r\n", "VALUE a 5 3\r\nabc\r\nVALUE a 5 3\r\nabc\r\nEND\r\n");
    expect(f, "get nope\r\n", "END\r\n");
    expect(f, "add a 0 0 1\r\nx\r\n", "NOT_STORED\r\n");
    expect(f, "add q 0 0 1\r\nx\r\n", "STORED\r\n");
    expect(f, "replace zzz 0 0 1\r\nx\r\n", "NOT_STORED\r\n");
    expect(f, "append zzz 0 0 1\r\nx\r\n", "NOT_STORED\r\n");
    expect(f, "prepend q 5 0 2\r\nyy\r\nappend q 6 0 2\r\nzz\r\n", "STORED\r\nSTORED\r\n");
    /* append and prepend keep the item's flags */
    expect(f, "get q\r\n", "VALUE q 0 5\r\nyyxzz\r\nEND\r\n");
    expect(f, "set e 0 0 0\r\n\r\nget e\r\n", "STORED\r\nVALUE e 0 0\r\n\r\nEND\r\n");
    /* flags wrap to 32 bits as memcached parses them */
    expect(f, "set w 4294967296 0 1\r\nx\r\nget w\r\n", "STORED\r\nVALUE w 0 1\r\nx\r\nEND\r\n");
    /* negative exptime: stored, already expired */
    expect(f, "set x 0 -1 1\r\nx\r\nget x\r\n", "STORED\r\nEND\r\n");
    assert_int_equal(f->m.get_expired, 1);
}

static void
test_gets_cas(void **state)
{
    struct fixture *f = *state;
    expect(f, "set c 0 0 1\r\nx\r\n", "STORED\r\n");
    f->reply_len = 0;
    assert_int_equal(feed(f, "gets c\r\n"), SESSION_OK);
    unsigned long long cas = 0;
    assert_int_equal(sscanf(f->reply, "VALUE c 0 1 %llu\r\n", &cas), 1);
    assert_true(cas != 0);
    char req[128], want[128];
    snprintf(req, sizeof(req), "cas c 0 0 1 %llu\r\ny\r\n", cas + 1000);
    expect(f, req, "EXISTS\r\n");
    snprintf(req, sizeof(req), "cas c 0 0 1 %llu\r\ny\r\n", cas);
    expect(f, req, "STORED\r\n");
    expect(f, "cas nope 0 0 1 1\r\nx\r\n", "NOT_FOUND\r\n");
    expect(f, "cas c 0 0 1\r\nx\r\n", "ERROR\r\nERROR\r\n");
    expect(f, "cas c 0 0 1 x\r\nx\r\n", "CLIENT_ERROR bad command line format\r\nERROR\r\n");
    assert_int_equal(f->m.cas_hits, 1);
    assert_int_equal(f->m.cas_badval, 1);
    assert_int_equal(f->m.cas_misses, 1);
    f->reply_len = 0;
    assert_int_equal(feed(f, "gats 100 c\r\n"), SESSION_OK);
    unsigned long long cas2 = 0;
    assert_int_equal(sscanf(f->reply, "VALUE c 0 1 %llu\r\n", &cas2), 1);
    snprintf(want, sizeof(want), "VALUE c 0 1 %llu\r\ny\r\nEND\r\n", cas2);
    assert_string_equal(f->reply, want);
}

static void
test_arith_touch_delete(void **state)
{
    struct fixture *f = *state;
    expect(f, "set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\n", "STORED\r\n15\r\n0\r\n");
    expect(f, "incr n 18446744073709551615\r\nincr n 2\r\n", "18446744073709551615\r\n1\r\n");
    expect(f, "incr n -1\r\n", "CLIENT_ERROR invalid numeric delta argument\r\n");
    expect(f, "incr nope 1\r\ndecr nope 1\r\n", "NOT_FOUND\r\nNOT_FOUND\r\n");
    expect(f, "set t 0 0 1\r\nx\r\nincr t 1\r\n",
           "STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
    expect(f, "incr n\r\n", "ERROR\r\n");
    expect(f, "touch t 10\r\ntouch nope 10\r\n", "TOUCHED\r\nNOT_FOUND\r\n");
    expect(f, "touch t x\r\n", "CLIENT_ERROR invalid exptime argument\r\n");
    expect(f, "gat 0 t nope\r\n", "VALUE t 0 1\r\nx\r\nEND\r\n");
    expect(f, "touch t -1\r\nget t\r\n", "TOUCHED\r\nEND\r\n");
    expect(f, "set d 0 0 1\r\nx\r\ndelete d 0\r\ndelete d\r\n",
           "STORED\r\nDELETED\r\nNOT_FOUND\r\n");
    expect(f, "delete d 5\r\n",
           "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n");
    assert_int_equal(f->m.incr_hits, 3);
    assert_int_equal(f->m.decr_hits, 1);
    assert_int_equal(f->m.incr_misses, 1);
    assert_int_equal(f->m.decr_misses, 1);
    assert_int_equal(f->m.touch_hits, 3);
    assert_int_equal(f->m.touch_misses, 2);
    assert_int_equal(f->m.cmd_touch, 5);
    assert_int_equal(f->m.delete_hits, 1);
    assert_int_equal(f->m.delete_misses, 1);
}

static void
test_noreply(void **state)
{
    struct fixture *f = *state;
    expect(f, "set a 0 0 1 noreply\r\nx\r\nget a\r\n", "VALUE a 0 1\r\nx\r\nEND\r\n");
    expect(f, "add a 0 0 1 noreply\r\nx\r\nincr a 1 noreply\r\ntouch a 1 noreply\r\n", "");
    expect(f, "delete a noreply\r\ndelete a 0 noreply\r\ndelete a 1 noreply\r\nversion\r\n",
           "VERSION " MC_STATS_VERSION "\r\n");
    /* errors are silenced too, but not a token-count ERROR */
    expect(f, "set a 0 0 x noreply\r\n", "");
    expect(f, "set a 0 0 3 noreply\r\nabcdefgh\r\n", "ERROR\r\n");
    expect(f, "set a 0 0 1 noreply junk\r\n", "ERROR\r\n");
    expect(f, "flush_all noreply\r\nflush_all 0 noreply\r\nverbosity 1 noreply\r\n", "");
    expect(f, "verbosity noreply\r\ncache_memlimit 4 noreply\r\n", "");
}

static void
test_errors(void **state)
{
    struct fixture *f = *state;
    expect(f, "\r\n\nfoo\r\nGET a\r\nget\r\nget \r\n",
           "ERROR\r\nERROR\r\nERROR\r\nERROR\r\nERROR\r\nERROR\r\n");
    expect(f, "set a 0 0 3\r\nabcde\r\nversion\r\n",
           "CLIENT_ERROR bad data chunk\r\nERROR\r\nVERSION " MC_STATS_VERSION "\r\n");
    expect(f, "set a 0 0 1\r\nxyz\r\n", "CLIENT_ERROR bad data chunk\r\nERROR\r\n");
    expect(f, "set a -1 0 1\r\nx\r\n", "CLIENT_ERROR bad command line format\r\nERROR\r\n");
    expect(f, "set a 0 0 -1\r\n", "CLIENT_ERROR bad command line format\r\n");
    char line[600];
    memset(line, 'k', sizeof(line));
    memcpy(line, "get a ", 6);
    memcpy(line + 6 + 251, "\r\n", 3);
    expect(f, "set a 0 0 1\r\nx\r\n", "STORED\r\n");
    /* a long key refuses the whole get, earlier hits included */
    expect(f, line, "CLIENT_ERROR bad command line format\r\n");
    /* meta commands are served (tests/unit/cmd/test_meta_cmd.c has the rest) */
    expect(f, "mn\r\nmg a v\r\n", "MN\r\nVA 1\r\nx\r\n");
    /* memcached discards the replies it has not written yet: those since
     * the read began or the last get completed */
    char k251[252], cull[700];
    memset(k251, 'k', 251);
    k251[251] = '\0';
    snprintf(cull, sizeof(cull), "set a 0 0 1\r\nx\r\nversion\r\nget a %s\r\nversion\r\n", k251);
    expect(f, cull, "CLIENT_ERROR bad command line format\r\nVERSION " MC_STATS_VERSION "\r\n");
    snprintf(cull, sizeof(cull), "version\r\nget a\r\nversion\r\ngat 0 b %s\r\n", k251);
    expect(f, cull,
           "VERSION " MC_STATS_VERSION "\r\nVALUE a 0 1\r\nx\r\nEND\r\n"
           "CLIENT_ERROR bad command line format\r\n");
    assert_true(f->m.protocol_errors >= 8);
}

static void
test_admin(void **state)
{
    struct fixture *f = *state;
    expect(f, "version\r\nversion x\r\n",
           "VERSION " MC_STATS_VERSION "\r\nVERSION " MC_STATS_VERSION "\r\n");
    expect(f, "verbosity 1\r\nverbosity x\r\nverbosity\r\nverbosity 5 6\r\n",
           "OK\r\nCLIENT_ERROR bad command line format\r\nERROR\r\nOK\r\n");
    expect(
        f,
        "cache_memlimit\r\ncache_memlimit 4\r\ncache_memlimit x\r\ncache_memlimit 2000000000\r\n",
        "ERROR\r\nMEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\nERROR\r\n"
        "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n");
    expect(f, "cache_memlimit 100\r\n", "OK\r\n");
    expect(f, "shutdown\r\nshutdown graceful\r\n",
           "ERROR: shutdown not enabled\r\nERROR: shutdown not enabled\r\n");
    expect(f, "set f 0 0 1\r\nx\r\nflush_all\r\nget f\r\n", "STORED\r\nOK\r\nEND\r\n");
    expect(f, "flush_all x\r\nflush_all -1\r\nflush_all 1 2\r\n",
           "CLIENT_ERROR invalid exptime argument\r\nOK\r\nOK\r\n");
    f->opts.flush_enabled = false;
    expect(f, "flush_all\r\nflush_all x\r\n",
           "CLIENT_ERROR flush_all not allowed\r\nCLIENT_ERROR flush_all not allowed\r\n");
    assert_int_equal(f->m.cmd_flush, 6);

    f->opts.shutdown_enabled = true;
    expect(f, "shutdown foo\r\nshutdown graceful x\r\n",
           "CLIENT_ERROR invalid shutdown mode\r\nCLIENT_ERROR invalid shutdown mode\r\n");
    f->reply_len = 0;
    assert_int_equal(feed(f, "version\r\nshutdown graceful\r\nversion\r\n"), SESSION_CLOSE);
    assert_string_equal(f->reply, "VERSION " MC_STATS_VERSION "\r\n");
    assert_int_equal(f->shutdowns, 1);
    assert_true(f->graceful);
}

static void
test_quit(void **state)
{
    struct fixture *f = *state;
    f->reply_len = 0;
    assert_int_equal(feed(f, "version\r\nquit\r\nversion\r\n"), SESSION_CLOSE);
    assert_string_equal(f->reply, "VERSION " MC_STATS_VERSION "\r\n");
    /* the quit line was consumed, what follows was not */
    assert_int_equal(f->in_len, 9);
}

static void
test_stats(void **state)
{
    struct fixture *f = *state;
    expect(f, "set a 0 0 1\r\nx\r\nget a b\r\n", "STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\n");
    f->reply_len = 0;
    assert_int_equal(feed(f, "stats\r\n"), SESSION_OK);
    assert_memory_equal(f->reply, "STAT pid ", 9);
    assert_non_null(strstr(f->reply, "\r\nSTAT version " MC_STATS_VERSION "\r\n"));
    assert_non_null(strstr(f->reply, "\r\nSTAT cmd_get 2\r\n"));
    assert_non_null(strstr(f->reply, "\r\nSTAT get_hits 1\r\n"));
    assert_non_null(strstr(f->reply, "\r\nSTAT get_misses 1\r\n"));
    assert_non_null(strstr(f->reply, "\r\nSTAT cmd_set 1\r\n"));
    assert_non_null(strstr(f->reply, "\r\nSTAT curr_items 1\r\n"));
    assert_non_null(strstr(f->reply, "\r\nSTAT threads 1\r\n"));
    assert_non_null(strstr(f->reply, "\r\nSTAT protocol_errors 0\r\n"));
    /* memcached's order */
    assert_true(strstr(f->reply, "STAT uptime") < strstr(f->reply, "STAT cmd_get"));
    assert_true(strstr(f->reply, "STAT cmd_get") < strstr(f->reply, "STAT limit_maxbytes"));
    assert_true(strstr(f->reply, "STAT bytes_written") < strstr(f->reply, "STAT curr_items"));
    size_t n = strlen(f->reply);
    assert_string_equal(f->reply + n - 5, "END\r\n");

    f->reply_len = 0;
    assert_int_equal(feed(f, "stats items\r\n"), SESSION_OK);
    assert_memory_equal(f->reply, "STAT items:", 11);
    assert_non_null(strstr(f->reply, ":number 1\r\n"));
    f->reply_len = 0;
    assert_int_equal(feed(f, "stats slabs\r\n"), SESSION_OK);
    assert_non_null(strstr(f->reply, ":chunk_size "));
    assert_non_null(strstr(f->reply, "STAT active_slabs "));
    assert_non_null(strstr(f->reply, "STAT total_malloced "));
    assert_non_null(strstr(f->reply, ":get_hits 0\r\n"));
    assert_string_equal(f->reply + strlen(f->reply) - 5, "END\r\n");
    expect(f, "stats sizes\r\n", "STAT sizes_status disabled\r\nEND\r\n");

    /* reset zeroes counters, not state */
    expect(f, "stats reset\r\n", "RESET\r\n");
    f->reply_len = 0;
    assert_int_equal(feed(f, "stats\r\n"), SESSION_OK);
    assert_non_null(strstr(f->reply, "\r\nSTAT cmd_get 0\r\n"));
    assert_non_null(strstr(f->reply, "\r\nSTAT cmd_set 0\r\n"));
    assert_non_null(strstr(f->reply, "\r\nSTAT get_hits 0\r\n"));
    assert_non_null(strstr(f->reply, "\r\nSTAT total_items 0\r\n"));
    assert_non_null(strstr(f->reply, "\r\nSTAT curr_items 1\r\n"));
    expect(f, "get a\r\n", "VALUE a 0 1\r\nx\r\nEND\r\n");
    f->reply_len = 0;
    assert_int_equal(feed(f, "stats\r\n"), SESSION_OK);
    assert_non_null(strstr(f->reply, "\r\nSTAT cmd_get 1\r\n"));
    assert_non_null(strstr(f->reply, "\r\nSTAT get_hits 1\r\n"));
    expect(f, "stats conns\r\n", "END\r\n");
    expect(f, "stats foo\r\n", "ERROR\r\n");
    expect(f,
           "stats cachedump 1 1\r\nstats cachedump\r\nstats cachedump x 1\r\n"
           "stats cachedump 64 1\r\n",
           "ITEM a [1 b; 0 s]\r\nEND\r\nCLIENT_ERROR bad command line\r\n"
           "CLIENT_ERROR bad command line format\r\n"
           "CLIENT_ERROR Illegal slab id\r\n");
    expect(f, "stats detail\r\nstats detail on\r\nstats detail dump\r\nstats detail foo\r\n",
           "CLIENT_ERROR usage: stats detail on|off|dump\r\nOK\r\nEND\r\n"
           "CLIENT_ERROR usage: stats detail on|off|dump\r\n");
}

/* The reset baseline belongs to one server: a reset on one leaves
 * another's counters (on another store in the same process) alone, and
 * counts start again from the reset. */
static void
test_reset_per_server(void **state)
{
    struct fixture *f = *state;
    void *other_state = NULL;
    assert_int_equal(fx_setup(&other_state), 0);
    struct fixture *g = other_state;
    expect(f, "get a\r\nget b\r\n", "END\r\nEND\r\n");
    expect(g, "get a\r\n", "END\r\n");
    expect(f, "stats reset\r\n", "RESET\r\n");
    f->reply_len = 0;
    assert_int_equal(feed(f, "stats\r\n"), SESSION_OK);
    assert_non_null(strstr(f->reply, "\r\nSTAT cmd_get 0\r\n"));
    g->reply_len = 0;
    assert_int_equal(feed(g, "stats\r\n"), SESSION_OK);
    assert_non_null(strstr(g->reply, "\r\nSTAT cmd_get 1\r\n"));
    expect(f, "get c\r\n", "END\r\n");
    f->reply_len = 0;
    assert_int_equal(feed(f, "stats\r\n"), SESSION_OK);
    assert_non_null(strstr(f->reply, "\r\nSTAT cmd_get 1\r\n"));
    assert_non_null(strstr(f->reply, "\r\nSTAT get_misses 1\r\n"));
    fx_teardown(&other_state);
}

static void
test_pipeline_and_splits(void **state)
{
    struct fixture *f = *state;
    static const char script[] =
        "set a 0 0 5\r\nhello\r\nget a\r\nset b 1 0 3 noreply\r\nxyz\r\n"
        "gets nope\r\nincr a 1\r\ndelete b\r\nset c 0 0 3\r\nabcde\r\nbogus\r\n"
        "touch a 0\r\ngat 0 a\r\n";
    static const char want[] =
        "STORED\r\nVALUE a 0 5\r\nhello\r\nEND\r\nEND\r\n"
        "CLIENT_ERROR cannot increment or decrement non-numeric value\r\nDELETED\r\n"
        "CLIENT_ERROR bad data chunk\r\nERROR\r\nERROR\r\nTOUCHED\r\nVALUE a 0 "
        "5\r\nhello\r\nEND\r\n";
    expect(f, script, want);
    /* One byte at a time. */
    f->reply_len = 0;
    for (size_t i = 0; i < sizeof(script) - 1; i++) {
        assert_int_equal(feed_n(f, script + i, 1, NULL), SESSION_OK);
    }
    assert_string_equal(f->reply, want);
    /* Split once at every point. */
    for (size_t cut = 1; cut < sizeof(script) - 1; cut++) {
        f->reply_len = 0;
        assert_int_equal(feed_n(f, script, cut, NULL), SESSION_OK);
        assert_int_equal(feed_n(f, script + cut, sizeof(script) - 1 - cut, NULL), SESSION_OK);
        assert_string_equal(f->reply, want);
        assert_int_equal(f->in_len, 0);
    }
}

/* Lines the look-ahead keeps for the step (struct text_memo in
 * mc_text_cmd.c: "get <key>" and "gets <key>") among lines it leaves to
 * the parser, served whole (the look-ahead sees them all), a byte at a
 * time (it sees none: each line is alone when it is whole) and split at
 * every point: the same replies each time. */
static void
test_pipelined_gets_memo(void **state)
{
    struct fixture *f = *state;
    char longkey[300];
    memset(longkey, 'x', sizeof(longkey));
    expect(f, "set g 7 0 2\r\ngg\r\n", "STORED\r\n");
    f->reply_len = 0;
    assert_int_equal(feed(f, "gets g\r\n"), SESSION_OK);
    char gets_g[128]; /* its cas stays: g is not written again */
    snprintf(gets_g, sizeof(gets_g), "%s", f->reply);
    char script[1024], want[1024];
    snprintf(script, sizeof(script),
             "set a 0 0 5\r\nhello\r\n"
             "get a\r\n"
             "get a\n"
             "gets g\r\n"
             "get  a\r\n"   /* two spaces: the parser's */
             "get a \r\n"   /* a trailing space */
             "get nope\r\n" /* a miss */
             "get a g\r\n"  /* two keys */
             "get a\r\r\n"  /* the key is "a\r" */
             "get %.251s\r\n"
             "GET a\r\n"
             "set k 0 0 9\r\nget a\r\nXY\r\n" /* a value that reads as a get */
             "get k\r\n",
             longkey);
    snprintf(want, sizeof(want),
             "STORED\r\n"
             "VALUE a 0 5\r\nhello\r\nEND\r\n"
             "VALUE a 0 5\r\nhello\r\nEND\r\n"
             "%s"
             "VALUE a 0 5\r\nhello\r\nEND\r\n"
             "VALUE a 0 5\r\nhello\r\nEND\r\n"
             "END\r\n"
             "VALUE a 0 5\r\nhello\r\nVALUE g 7 2\r\ngg\r\nEND\r\n"
             "END\r\n"
             "CLIENT_ERROR bad command line format\r\n"
             "ERROR\r\n"
             "STORED\r\n"
             "VALUE k 0 9\r\nget a\r\nXY\r\nEND\r\n",
             gets_g);
    expect(f, script, want);
    size_t n = strlen(script);
    f->reply_len = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(feed_n(f, script + i, 1, NULL), SESSION_OK);
    }
    assert_string_equal(f->reply, want);
    for (size_t cut = 1; cut < n; cut += 3) {
        f->reply_len = 0;
        assert_int_equal(feed_n(f, script, cut, NULL), SESSION_OK);
        assert_int_equal(feed_n(f, script + cut, n - cut, NULL), SESSION_OK);
        assert_string_equal(f->reply, want);
        assert_int_equal(f->in_len, 0);
    }
}

static void
test_need(void **state)
{
    struct fixture *f = *state;
    size_t need = 0;
    assert_int_equal(feed_n(f, "set k 0 0 1000\r\n0123", 20, &need), SESSION_OK);
    assert_int_equal(need, 16 + 1000 + 2);
    assert_int_equal(f->in_len, 20);
    char *v = malloc(1000);
    memset(v, 'v', 1000);
    f->reply_len = 0;
    assert_int_equal(feed_n(f, v + 4, 996, &need), SESSION_OK);
    assert_int_equal(need, 16 + 1000 + 2);
    assert_int_equal(feed_n(f, "\r\nget", 5, &need), SESSION_OK);
    assert_int_equal(need, 0);
    assert_string_equal(f->reply, "STORED\r\n");
    free(v);
    assert_true(session_max_request(&f->s) >= MAX_ITEM + 2048);
}

static void
test_swallow(void **state)
{
    struct fixture *f = *state;
    size_t big = 3 * MAX_ITEM;
    char *v = malloc(big + 2);
    memset(v, 'z', big);
    memcpy(v + big, "\r\n", 2);
    char line[64];
    int n = snprintf(line, sizeof(line), "set s 0 0 %zu\r\n", big);
    expect(f, "set s 0 0 1\r\nx\r\n", "STORED\r\n");

    /* The value arrives in pieces after the refusal: never buffered. */
    f->reply_len = 0;
    size_t need = 1;
    assert_int_equal(feed_n(f, line, (size_t)n, &need), SESSION_OK);
    assert_int_equal(need, 0);
    for (size_t off = 0; off < big + 2; off += 4096) {
        /* memcached answers only once the value is gone */
        assert_int_equal(f->reply_len, 0);
        size_t k = big + 2 - off < 4096 ? big + 2 - off : 4096;
        assert_int_equal(feed_n(f, v + off, k, &need), SESSION_OK);
        assert_int_equal(f->in_len, 0);
    }
    assert_string_equal(f->reply, "SERVER_ERROR object too large for cache\r\n");
    /* the failed set dropped the old value, as memcached does */
    expect(f, "get s\r\n", "END\r\n");
    assert_int_equal(f->m.store_too_large, 1);

    /* Whole in one buffer with a request after it, and noreply. */
    f->reply_len = 0;
    n = snprintf(line, sizeof(line), "set s 0 0 %zu noreply\r\n", big);
    assert_int_equal(feed_n(f, line, (size_t)n, NULL), SESSION_OK);
    assert_int_equal(feed_n(f, v, big + 2, NULL), SESSION_OK);
    assert_int_equal(feed(f, "get s\r\n"), SESSION_OK);
    assert_string_equal(f->reply, "END\r\n");
    free(v);
}

static void
test_yield(void **state)
{
    struct fixture *f = *state;
    f->opts.reqs_per_event = 3;
    char in[10 * 9 + 1] = "";
    for (int i = 0; i < 10; i++) {
        strcat(in, "version\r\n");
    }
    size_t consumed = 0, need = 0;
    assert_int_equal(session_process(&f->s, in, strlen(in), &consumed, &need), SESSION_YIELD);
    assert_int_equal(consumed, 27);
    buf_reset(&f->out);
    /* Exactly the limit with nothing after it: OK, not a yield. */
    assert_int_equal(session_process(&f->s, in, 27, &consumed, &need), SESSION_OK);
    assert_int_equal(consumed, 27);
    buf_reset(&f->out);
    f->yields = 0;
    f->reply_len = 0;
    assert_int_equal(feed(f, in), SESSION_OK);
    assert_int_equal(f->yields, 3);
    assert_int_equal(f->reply_len, 10 * (10 + strlen(MC_STATS_VERSION)));
}

static void
test_pause_resume(void **state)
{
    struct fixture *f = *state;
    /* 60 KiB value, asked for 100 times: 6 MB of replies. */
    size_t vlen = 60 * 1024;
    char *v = malloc(vlen + 64);
    int n = sprintf(v, "set big 7 0 %zu\r\n", vlen);
    memset(v + n, 'b', vlen);
    memcpy(v + n + vlen, "\r\n", 2);
    f->reply_len = 0;
    assert_int_equal(feed_n(f, v, (size_t)n + vlen + 2, NULL), SESSION_OK);
    assert_string_equal(f->reply, "STORED\r\n");

    char get[8 + 100 * 4 + 16] = "get";
    for (int i = 0; i < 100; i++) {
        strcat(get, " big");
    }
    strcat(get, " nope\r\nversion\r\n");
    f->reply_len = 0;
    f->pauses = 0;
    f->max_out = 0;
    assert_int_equal(feed(f, get), SESSION_OK);
    assert_true(f->pauses >= 5);
    /* bounded: at most one value past the mark */
    assert_true(f->max_out <= SESSION_OUT_HIGH + vlen + 64);
    char hdr[64];
    int hn = snprintf(hdr, sizeof(hdr), "VALUE big 7 %zu\r\n", vlen);
    size_t one = (size_t)hn + vlen + 2;
    assert_int_equal(f->reply_len, 100 * one + 5 + 10 + strlen(MC_STATS_VERSION));
    for (int i = 0; i < 100; i++) {
        assert_memory_equal(f->reply + i * one, hdr, (size_t)hn);
    }
    assert_string_equal(f->reply + 100 * one, "END\r\nVERSION " MC_STATS_VERSION "\r\n");
    assert_int_equal(f->m.cmd_get, 101);
    assert_int_equal(f->m.get_hits, 100);
    assert_int_equal(f->s.resume, 0);

    /* A pause leaves the get line unconsumed. */
    size_t consumed = 1, need = 0;
    buf_reset(&f->out);
    assert_int_equal(session_process(&f->s, get, strlen(get), &consumed, &need), SESSION_PAUSE);
    assert_int_equal(consumed, 0);
    assert_true(f->s.resume > 0);
    free(v);
}

static void
test_protocol_sniff(void **state)
{
    struct fixture *f = *state;
    size_t consumed, need;
    assert_int_equal(session_process(&f->s, "", 0, &consumed, &need), SESSION_OK);
    /* 0x80: the binary protocol, waiting for the rest of its header
     * (tests/unit/cmd/test_bin_cmd.c has the rest) */
    static const char bin[] = "\x80\x01\x00\x00";
    assert_int_equal(session_process(&f->s, bin, 4, &consumed, &need), SESSION_OK);
    assert_int_equal(consumed, 0);
    assert_int_equal(need, 24);
    /* '*': RESP on the same port */
    struct session s2;
    session_init(&s2, &f->env, &f->m, &f->out);
    buf_reset(&f->out);
    char ping[] = "*1\r\n$4\r\nPING\r\n";
    assert_int_equal(session_process(&s2, ping, 14, &consumed, &need), SESSION_OK);
    assert_int_equal(consumed, 14);
    assert_int_equal(buf_readable(&f->out), 7);
    assert_memory_equal(f->out.data + f->out.rpos, "+PONG\r\n", 7);
    session_fini(&s2);
    /* The RESP-only port takes inline commands from the first byte. */
    session_init(&s2, &f->env, &f->m, &f->out);
    session_set_resp_only(&s2);
    buf_reset(&f->out);
    char inl[] = "PING\r\n";
    assert_int_equal(session_process(&s2, inl, 6, &consumed, &need), SESSION_OK);
    assert_memory_equal(f->out.data + f->out.rpos, "+PONG\r\n", 7);
    session_fini(&s2);
    /* -B ascii: '*' is a text command */
    char ascii[] = "ascii";
    char *saved = f->opts.protocol;
    f->opts.protocol = ascii;
    session_init(&s2, &f->env, &f->m, &f->out);
    buf_reset(&f->out);
    assert_int_equal(session_process(&s2, "*1\r\n", 4, &consumed, &need), SESSION_OK);
    assert_int_equal(consumed, 4);
    assert_int_equal(buf_readable(&f->out), 7);
    assert_memory_equal(f->out.data + f->out.rpos, "ERROR\r\n", 7);
    session_fini(&s2);
    f->opts.protocol = saved;
}

static void
test_long_lines(void **state)
{
    struct fixture *f = *state;
    char *junk = malloc(3000);
    memset(junk, 'y', 3000);
    f->reply_len = 0;
    assert_int_equal(feed_n(f, junk, 2048, NULL), SESSION_OK);
    assert_int_equal(feed_n(f, junk, 1, NULL), SESSION_CLOSE);
    assert_int_equal(f->reply_len, 0);
    free(junk);
}

static void
test_http_close(void **state)
{
    struct fixture *f = *state;
    f->reply_len = 0;
    assert_int_equal(feed(f, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"), SESSION_CLOSE);
    assert_int_equal(f->reply_len, 0);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_storage_and_get),
        T(test_gets_cas),
        T(test_arith_touch_delete),
        T(test_noreply),
        T(test_errors),
        T(test_admin),
        T(test_quit),
        T(test_stats),
        T(test_reset_per_server),
        T(test_pipeline_and_splits),
        T(test_pipelined_gets_memo),
        T(test_need),
        T(test_swallow),
        T(test_yield),
        T(test_pause_resume),
        T(test_protocol_sniff),
        T(test_long_lines),
        T(test_http_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
