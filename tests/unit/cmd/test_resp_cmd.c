/*
 * Tests for cmd/resp_cmd: request bytes in, exact reply bytes out, against
 * a real store (cmd_fixture.h). The driver here plays net/ for
 * session_process: it keeps unconsumed input, drains replies, and calls again
 * after a yield or a pause. Expected replies were checked against Debian's
 * redis-server 7.0.15.
 */
#include <time.h>

#include "cmd/resp_cmd.h"
#include "cmd/resp_internal.h"
#include "cmd/resp_arg.h"
#include "cmd/resp_reply.h"
#include "cmd_fixture.h"
#include "stashd/cmd/cmdstats.h"

#define MAX_ITEM FX_MAX_ITEM

static struct fixture *F;

/* cmd_fixture.h's store and session, served as RESP from the start (so
 * fx_teardown's session_fini finishes the RESP state). */
static int
setup(void **state)
{
    fx_setup(state);
    F = *state;
    session_set_resp_only(&F->s);
    return 0;
}

/* fx_grow, but an empty append still leaves *p a (empty) string. */
static void
grow_append(char **p, size_t *len, size_t *cap, const char *src, size_t n)
{
    if (n == 0 && *p != NULL) {
        return;
    }
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < *len + n + 1) {
            c *= 2;
        }
        *p = realloc(*p, c);
        assert_non_null(*p);
        *cap = c;
    }
    if (n != 0) {
        memcpy(*p + *len, src, n);
    }
    *len += n;
    (*p)[*len] = '\0';
}

static void
drain(struct fixture *f)
{
    size_t n = buf_readable(&f->out);
    /* (out.data is NULL until the first reply: no pointer arithmetic on it) */
    grow_append(&f->reply, &f->reply_len, &f->reply_cap, n ? f->out.data + f->out.rpos : "", n);
    buf_reset(&f->out);
}

/* Serve what the read buffer holds, as net/ would. */
static void
serve(struct fixture *f)
{
    for (int turns = 0; turns < 1000000; turns++) {
        size_t consumed = 0, need = 0;
        enum session_rc rc = session_process(&f->s, f->in, f->in_len, &consumed, &need);
        assert_true(consumed <= f->in_len);
        memmove(f->in, f->in + consumed, f->in_len - consumed);
        f->in_len -= consumed;
        drain(f);
        if (rc == SESSION_CLOSE) {
            f->closed = true;
            return;
        }
        if (rc == SESSION_OK) {
            assert_true(need == 0 || need > f->in_len);
            return;
        }
        if (rc == SESSION_YIELD) {
            f->yields++;
            assert_true(consumed > 0);
        } else {
            f->pauses++;
        }
    }
    fail_msg("no progress");
}

/* Send raw bytes; the replies they produce are in F->reply. */
static const char *
raw_n(const char *data, size_t n)
{
    F->reply_len = 0;
    if (F->reply != NULL) {
        F->reply[0] = '\0';
    }
    grow_append(&F->in, &F->in_len, &F->in_cap, data, n);
    serve(F);
    return F->reply != NULL ? F->reply : "";
}

static const char *
raw(const char *data)
{
    return raw_n(data, strlen(data));
}

/* One command from NUL-terminated arguments (NULL ends them). */
static const char *
cmdv(const char *first, va_list ap)
{
    char *req = NULL;
    size_t len = 0, cap = 0;
    const char *args[256];
    size_t argc = 0;
    for (const char *a = first; a != NULL; a = va_arg(ap, const char *)) {
        args[argc++] = a;
    }
    char hdr[32];
    int n = snprintf(hdr, sizeof(hdr), "*%zu\r\n", argc);
    grow_append(&req, &len, &cap, hdr, (size_t)n);
    for (size_t i = 0; i < argc; i++) {
        n = snprintf(hdr, sizeof(hdr), "$%zu\r\n", strlen(args[i]));
        grow_append(&req, &len, &cap, hdr, (size_t)n);
        grow_append(&req, &len, &cap, args[i], strlen(args[i]));
        grow_append(&req, &len, &cap, "\r\n", 2);
    }
    const char *r = raw_n(req, len);
    free(req);
    return r;
}

static const char *
cmd(const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    const char *r = cmdv(first, ap);
    va_end(ap);
    return r;
}

#define EXPECT(want, ...) assert_string_equal(cmd(__VA_ARGS__, NULL), want)

/* An integer reply as a number. */
static long long
cmd_int(const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    const char *r = cmdv(first, ap);
    va_end(ap);
    assert_true(r[0] == ':');
    return strtoll(r + 1, NULL, 10);
}

/* --- dispatch and connection commands ------------------------------------------------ */

static void
test_table_sorted(void **state)
{
    (void)state;
    for (size_t i = 1; i < resp_ncmds; i++) {
        assert_true(strcmp(resp_cmds[i - 1].name, resp_cmds[i].name) < 0);
    }
}

static void
test_ping_echo_unknown(void **state)
{
    (void)state;
    EXPECT("+PONG\r\n", "PING");
    EXPECT("+PONG\r\n", "ping");
    EXPECT("$5\r\nhello\r\n", "PiNg", "hello");
    EXPECT("-ERR wrong number of arguments for 'ping' command\r\n", "ping", "a", "b");
    EXPECT("$2\r\nhi\r\n", "echo", "hi");
    EXPECT("-ERR wrong number of arguments for 'echo' command\r\n", "echo");
    EXPECT("-ERR wrong number of arguments for 'get' command\r\n", "GET");
    EXPECT("-ERR unknown command 'foo', with args beginning with: 'bar' 'baz' \r\n", "foo", "bar",
           "baz");
    EXPECT("-ERR unknown command 'FOO', with args beginning with: \r\n", "FOO");
    /* CR LF in an argument become spaces; a NUL ends it (C string). */
    assert_string_equal(raw("*2\r\n$3\r\nfoo\r\n$4\r\na\r\nb\r\n"),
                        "-ERR unknown command 'foo', with args beginning with: 'a  b' \r\n");
    assert_string_equal(raw_n("*2\r\n$3\r\nfoo\r\n$4\r\na\0bc\r\n", 23),
                        "-ERR unknown command 'foo', with args beginning with: 'a' \r\n");
    /* Long arguments are cut at 128 bytes in all. */
    char big[300];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    const char *r = cmd("nosuchcommand", big, "y", NULL);
    assert_true(strlen(r) < 300);
    assert_false(F->closed);
    EXPECT("+PONG\r\n", "ping"); /* connection kept */
}

static void
test_select_quit(void **state)
{
    (void)state;
    EXPECT("+OK\r\n", "select", "0");
    EXPECT("-ERR DB index is out of range\r\n", "select", "1");
    EXPECT("-ERR value is not an integer or out of range\r\n", "select", "abc");
    EXPECT("+OK\r\n", "quit");
    assert_true(F->closed);
}

static void
test_hello_resp3(void **state)
{
    (void)state;
    const char *r = cmd("hello", NULL);
    const char *hello2 = "*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n"
                         "7.0.15\r\n$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:";
    assert_true(strncmp(r, hello2, strlen(hello2)) == 0);
    assert_non_null(strstr(r, "$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
                              "$7\r\nmodules\r\n*0\r\n"));
    EXPECT("-NOPROTO unsupported protocol version\r\n", "hello", "4");
    EXPECT("-ERR Protocol version is not an integer or out of range\r\n", "hello", "abc");
    EXPECT("-ERR Syntax error in HELLO option 'foo'\r\n", "hello", "3", "foo");
    EXPECT("-ERR Client names cannot contain spaces, newlines or special characters.\r\n", "hello",
           "3", "setname", "a b");
    r = cmd("hello", "3", "setname", "me", NULL);
    assert_true(strncmp(r, "%7\r\n$6\r\nserver\r\n", 16) == 0);
    assert_non_null(strstr(r, "$5\r\nproto\r\n:3\r\n"));
    /* RESP3 encodings. */
    EXPECT("_\r\n", "get", "nokey");
    EXPECT("*2\r\n_\r\n_\r\n", "mget", "a", "b");
    EXPECT("$2\r\nme\r\n", "client", "getname");
    r = cmd("config", "get", "maxmemory", NULL);
    assert_true(strncmp(r, "%1\r\n$9\r\nmaxmemory\r\n", 19) == 0);
    r = cmd("info", "keyspace", NULL);
    assert_string_equal(r, "=16\r\ntxt:# Keyspace\r\n\r\n");
    /* RESET goes back to RESP2, no name. */
    EXPECT("+RESET\r\n", "reset");
    EXPECT("$-1\r\n", "get", "nokey");
    EXPECT("$-1\r\n", "client", "getname");
}

static void
test_client(void **state)
{
    (void)state;
    EXPECT("$-1\r\n", "client", "getname");
    EXPECT("+OK\r\n", "client", "setname", "conn1");
    EXPECT("$5\r\nconn1\r\n", "client", "getname");
    EXPECT("-ERR Client names cannot contain spaces, newlines or special characters.\r\n", "client",
           "setname", "a b");
    EXPECT("+OK\r\n", "client", "setname", "");
    EXPECT("$-1\r\n", "client", "getname");
    long long id = cmd_int("client", "id", NULL);
    assert_true(id > 0);
    const char *r = cmd("client", "info", NULL);
    char want[64];
    snprintf(want, sizeof(want), "id=%lld ", id);
    assert_non_null(strstr(r, want));
    assert_non_null(strstr(r, "cmd=client|info user=default redir=-1 resp=2\n\r\n"));
    r = cmd("client", "list", NULL);
    assert_non_null(strstr(r, want));
    EXPECT("-ERR No such client\r\n", "client", "kill", "1.2.3.4:5");
    EXPECT(":0\r\n", "client", "kill", "id", "99999");
    EXPECT(":0\r\n", "client", "kill", "addr", "1.2.3.4:5");
    EXPECT("+OK\r\n", "client", "no-evict", "on");
    EXPECT("-ERR syntax error\r\n", "client", "no-evict", "foo");
    EXPECT("+OK\r\n", "client", "no-touch", "off");
    EXPECT("-ERR unknown subcommand 'foo'. Try CLIENT HELP.\r\n", "client", "foo");
    EXPECT("-ERR wrong number of arguments for 'client' command\r\n", "client");
    EXPECT("-ERR wrong number of arguments for 'client|setname' command\r\n", "client", "setname");
}

static void
test_auth_without_password(void **state)
{
    (void)state;
    EXPECT("-ERR AUTH <password> called without any password configured for the default user. "
           "Are you sure your configuration is correct?\r\n",
           "auth", "x");
    EXPECT("+OK\r\n", "auth", "default", "anything");
    EXPECT("-WRONGPASS invalid username-password pair or user is disabled.\r\n", "auth", "a", "b");
    EXPECT("-ERR syntax error\r\n", "auth", "a", "b", "c");
}

static void
test_auth_with_password(void **state)
{
    (void)state;
    fx_set_str(F, &F->opts.requirepass, "secret");
    fx_auth(F);
    EXPECT("-NOAUTH Authentication required.\r\n", "get", "k");
    EXPECT("-ERR unknown command 'foo', with args beginning with: \r\n", "foo");
    EXPECT("-ERR wrong number of arguments for 'get' command\r\n", "get");
    EXPECT("-NOAUTH Authentication required.\r\n", "ping");
    EXPECT("-NOAUTH HELLO must be called with the client already authenticated, otherwise the "
           "HELLO AUTH <user> <pass> option can be used to authenticate the client and "
           "select the RESP protocol version at the same time\r\n",
           "hello", "3");
    EXPECT("-WRONGPASS invalid username-password pair or user is disabled.\r\n", "hello", "3",
           "auth", "default", "wrong");
    const char *r = cmd("hello", "3", "auth", "default", "secret", NULL);
    assert_true(strncmp(r, "%7\r\n", 4) == 0);
    EXPECT("+RESET\r\n", "reset");
    EXPECT("-NOAUTH Authentication required.\r\n", "get", "k");
    EXPECT("-WRONGPASS invalid username-password pair or user is disabled.\r\n", "auth", "wrong");
    EXPECT("+OK\r\n", "auth", "secret");
    EXPECT("$-1\r\n", "get", "k");
    EXPECT("+RESET\r\n", "reset");
    EXPECT("-WRONGPASS invalid username-password pair or user is disabled.\r\n", "auth", "DEFAULT",
           "secret");
    EXPECT("+OK\r\n", "auth", "default", "secret");
    /* A failed AUTH does not undo an earlier one. */
    EXPECT("-WRONGPASS invalid username-password pair or user is disabled.\r\n", "auth", "default",
           "wrong");
    EXPECT("$-1\r\n", "get", "k");
    EXPECT("+OK\r\n", "quit");
}

/* --- strings ------------------------------------------------------------------------- */

static void
test_set_get(void **state)
{
    (void)state;
    EXPECT("+OK\r\n", "set", "k", "v");
    EXPECT("$1\r\nv\r\n", "get", "k");
    EXPECT("$-1\r\n", "get", "nokey");
    EXPECT("-ERR invalid expire time in 'set' command\r\n", "set", "k", "v", "ex", "0");
    EXPECT("-ERR invalid expire time in 'set' command\r\n", "set", "k", "v", "ex", "-1");
    EXPECT("-ERR value is not an integer or out of range\r\n", "set", "k", "v", "ex", "abc");
    EXPECT("-ERR syntax error\r\n", "set", "k", "v", "px", "10", "ex", "10");
    EXPECT("-ERR syntax error\r\n", "set", "k", "v", "nx", "xx");
    EXPECT("-ERR syntax error\r\n", "set", "k", "v", "keepttl", "ex", "10");
    EXPECT("-ERR syntax error\r\n", "set", "k", "v", "foo");
    EXPECT("-ERR syntax error\r\n", "set", "k", "v", "ex");
    EXPECT("-ERR invalid expire time in 'set' command\r\n", "set", "k", "v", "px",
           "9223372036854775807");
    EXPECT("+OK\r\n", "set", "k", "v", "EX", "10", "ex", "20"); /* repeats allowed */
    EXPECT("+OK\r\n", "set", "k", "v", "exat", "1");
    EXPECT("$-1\r\n", "get", "k");
    EXPECT("$-1\r\n", "set", "k", "v", "get");
    EXPECT("$1\r\nv\r\n", "set", "k", "v2", "get");
    EXPECT("$-1\r\n", "set", "k2", "v", "xx");
    EXPECT("$-1\r\n", "get", "k2");
    EXPECT("$-1\r\n", "set", "k", "v3", "nx");
    EXPECT("$2\r\nv2\r\n", "set", "k", "v3", "nx", "get"); /* not set: old value */
    EXPECT("$2\r\nv2\r\n", "get", "k");
    EXPECT("+OK\r\n", "set", "k", "v4", "xx");
    EXPECT("$2\r\nv4\r\n", "get", "k");
    /* Binary values and empty ones. */
    assert_string_equal(raw_n("*3\r\n$3\r\nset\r\n$1\r\nb\r\n$3\r\na\0b\r\n", 29), "+OK\r\n");
    assert_int_equal(cmd("get", "b", NULL)[0], '$');
    assert_int_equal(memcmp(F->reply, "$3\r\na\0b\r\n", 9), 0);
    EXPECT("+OK\r\n", "set", "e", "");
    EXPECT("$0\r\n\r\n", "get", "e");
}

static void
test_set_expiry_options(void **state)
{
    (void)state;
    EXPECT("+OK\r\n", "set", "k", "v", "ex", "100");
    EXPECT(":100\r\n", "ttl", "k");
    long long pttl = cmd_int("pttl", "k", NULL);
    assert_true(pttl > 99000 && pttl <= 100000);
    EXPECT("+OK\r\n", "set", "k", "v2", "keepttl");
    EXPECT(":100\r\n", "ttl", "k");
    EXPECT("+OK\r\n", "set", "k", "v3");
    EXPECT(":-1\r\n", "ttl", "k");
    EXPECT("+OK\r\n", "set", "k", "v", "pxat", "4102444800123"); /* 2100-01-01 */
    EXPECT(":4102444800123\r\n", "pexpiretime", "k");
    EXPECT(":4102444800\r\n", "expiretime", "k");
    EXPECT("+OK\r\n", "set", "k", "v", "px", "100");
    pttl = cmd_int("pttl", "k", NULL);
    assert_true(pttl > 0 && pttl <= 100);
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 150 * 1000000L};
    nanosleep(&ts, NULL);
    clock_update();
    EXPECT("$-1\r\n", "get", "k");
    EXPECT(":-2\r\n", "pttl", "k");
    EXPECT("+OK\r\n", "setex", "k", "10", "v");
    EXPECT(":10\r\n", "ttl", "k");
    EXPECT("-ERR invalid expire time in 'setex' command\r\n", "setex", "k", "0", "v");
    EXPECT("-ERR invalid expire time in 'psetex' command\r\n", "psetex", "k", "-5", "v");
    EXPECT("+OK\r\n", "psetex", "k", "5000", "v");
    pttl = cmd_int("pttl", "k", NULL);
    assert_true(pttl > 4900 && pttl <= 5000);
}

static void
test_setnx_getset_getdel_getex(void **state)
{
    (void)state;
    EXPECT(":1\r\n", "setnx", "k", "v");
    EXPECT(":0\r\n", "setnx", "k", "w");
    EXPECT("$1\r\nv\r\n", "getset", "k", "w");
    EXPECT("$-1\r\n", "getset", "new", "x");
    EXPECT("$1\r\nx\r\n", "get", "new");
    EXPECT("$1\r\nw\r\n", "getdel", "k");
    EXPECT("$-1\r\n", "getdel", "k");
    EXPECT(":0\r\n", "exists", "k");
    EXPECT("+OK\r\n", "set", "k", "v2");
    EXPECT("$2\r\nv2\r\n", "getex", "k", "ex", "10");
    EXPECT(":10\r\n", "ttl", "k");
    EXPECT("$2\r\nv2\r\n", "getex", "k", "persist");
    EXPECT(":-1\r\n", "ttl", "k");
    EXPECT("$2\r\nv2\r\n", "getex", "k");
    EXPECT("-ERR syntax error\r\n", "getex", "k", "px", "10", "ex", "10");
    EXPECT("-ERR syntax error\r\n", "getex", "k", "foo");
    EXPECT("-ERR syntax error\r\n", "getex", "k", "nx");
    EXPECT("$-1\r\n", "getex", "nokey", "ex", "10");
    EXPECT("$-1\r\n", "getex", "nokey", "ex", "abc"); /* no key: no number check */
    EXPECT("-ERR value is not an integer or out of range\r\n", "getex", "k", "ex", "abc");
    EXPECT("-ERR invalid expire time in 'getex' command\r\n", "getex", "k", "ex", "0");
    EXPECT("$2\r\nv2\r\n", "getex", "k", "exat", "1");
    EXPECT(":0\r\n", "exists", "k");
}

static void
test_mget_mset(void **state)
{
    (void)state;
    EXPECT("*2\r\n$-1\r\n$-1\r\n", "mget", "a", "b");
    EXPECT("-ERR wrong number of arguments for 'mset' command\r\n", "mset", "a", "1", "b");
    EXPECT("+OK\r\n", "mset", "a", "1", "b", "2");
    EXPECT("*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n", "mget", "a", "nokey", "b");
    EXPECT(":0\r\n", "msetnx", "a", "1", "c", "2");
    EXPECT(":0\r\n", "exists", "c");
    EXPECT(":1\r\n", "msetnx", "c", "1", "d", "2");
    EXPECT(":2\r\n", "exists", "c", "d");
    EXPECT("-ERR wrong number of arguments for 'msetnx' command\r\n", "msetnx", "a", "1", "b");
}

static void
test_incr_family(void **state)
{
    (void)state;
    EXPECT("+OK\r\n", "set", "n", "10");
    EXPECT(":11\r\n", "incr", "n");
    EXPECT(":10\r\n", "decr", "n");
    EXPECT(":15\r\n", "incrby", "n", "5");
    EXPECT(":5\r\n", "decrby", "n", "10");
    EXPECT(":1\r\n", "incr", "fresh");
    EXPECT(":-1\r\n", "decr", "fresh2");
    EXPECT("-ERR value is not an integer or out of range\r\n", "incrby", "n", "abc");
    EXPECT("-ERR increment or decrement would overflow\r\n", "incrby", "n", "9223372036854775807");
    EXPECT("-ERR decrement would overflow\r\n", "decrby", "n", "-9223372036854775808");
    EXPECT(":-9223372036854775802\r\n", "decrby", "n", "9223372036854775807");
    EXPECT("-ERR increment or decrement would overflow\r\n", "decrby", "n", "9223372036854775807");
    static const char *bad[] = {"abc", " 1", "01", "-0", "+1", "1 ", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        EXPECT("+OK\r\n", "set", "s", bad[i]);
        EXPECT("-ERR value is not an integer or out of range\r\n", "incr", "s");
    }
    /* INCR keeps the expiry. */
    EXPECT("+OK\r\n", "set", "t", "5", "ex", "100");
    EXPECT(":6\r\n", "incr", "t");
    EXPECT(":100\r\n", "ttl", "t");
    EXPECT("$1\r\n6\r\n", "get", "t");
}

static void
test_incrbyfloat(void **state)
{
    (void)state;
    EXPECT("+OK\r\n", "set", "f", "10.5");
    EXPECT("$4\r\n10.6\r\n", "incrbyfloat", "f", "0.1");
    EXPECT("-ERR value is not a valid float\r\n", "incrbyfloat", "f", "abc");
    EXPECT("-ERR increment would produce NaN or Infinity\r\n", "incrbyfloat", "f", "inf");
    EXPECT("+OK\r\n", "set", "f", "3.0e3");
    EXPECT("$4\r\n3200\r\n", "incrbyfloat", "f", "200");
    EXPECT("$4\r\n5000\r\n", "incrbyfloat", "newf", "5.0e3");
    EXPECT("+OK\r\n", "set", "f", "5");
    EXPECT("$1\r\n0\r\n", "incrbyfloat", "f", "-5");
    EXPECT("-ERR value is not a valid float\r\n", "incrbyfloat", "f", " 1");
    EXPECT("-ERR value is not a valid float\r\n", "incrbyfloat", "f", "1 ");
    EXPECT("$2\r\n16\r\n", "incrbyfloat", "f", "0x10");
    EXPECT("+OK\r\n", "set", "s", "+1");
    EXPECT("$1\r\n2\r\n", "incrbyfloat", "s", "1");
    EXPECT("+OK\r\n", "set", "f", "1e308");
    const char *r = cmd("incrbyfloat", "f", "1e308", NULL);
    assert_true(strncmp(r,
                        "$309\r\n19999999999999999999337175931169129132112019969483113441559"
                        "4095989843469737676123744200253843777078640893494450108026446304269"
                        "4991879211671948416288603928375359182000392063815573262192090142133"
                        "3587830679157787782912108712612253672980323726043417317850688976324"
                        "7582601711514636284849020905456510092687857156096\r\n",
                        315) == 0);
}

static void
test_append_range(void **state)
{
    (void)state;
    EXPECT(":5\r\n", "append", "a", "hello");
    EXPECT(":11\r\n", "append", "a", " world");
    EXPECT("$11\r\nhello world\r\n", "get", "a");
    EXPECT(":11\r\n", "strlen", "a");
    EXPECT(":0\r\n", "strlen", "nokey");
    EXPECT("$5\r\nhello\r\n", "getrange", "a", "0", "4");
    EXPECT("$5\r\nworld\r\n", "getrange", "a", "-5", "-1");
    EXPECT("$0\r\n\r\n", "getrange", "a", "-1", "-5");
    EXPECT("$0\r\n\r\n", "getrange", "a", "5", "1");
    EXPECT("$11\r\nhello world\r\n", "getrange", "a", "0", "100");
    EXPECT("$0\r\n\r\n", "getrange", "nokey", "0", "1");
    EXPECT("-ERR value is not an integer or out of range\r\n", "getrange", "a", "x", "1");
    EXPECT(":11\r\n", "setrange", "a", "6", "Redis");
    EXPECT("$11\r\nhello Redis\r\n", "get", "a");
    EXPECT("-ERR offset is out of range\r\n", "setrange", "a", "-1", "x");
    EXPECT(":0\r\n", "setrange", "nokey2", "0", "");
    EXPECT(":0\r\n", "exists", "nokey2");
    EXPECT(":6\r\n", "setrange", "nokey2", "5", "x");
    assert_int_equal(memcmp(cmd("get", "nokey2", NULL), "$6\r\n\0\0\0\0\0x\r\n", 12), 0);
    EXPECT(":11\r\n", "setrange", "a", "0", "");
    EXPECT(":13\r\n", "setrange", "a", "11", "!!");
    EXPECT("$13\r\nhello Redis!!\r\n", "get", "a");
    EXPECT("-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n", "setrange", "a",
           "536870912", "x");
    EXPECT("-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n", "setrange", "a",
           "65536", "x");
    /* APPEND keeps the expiry. */
    EXPECT("+OK\r\n", "set", "t", "a", "ex", "50");
    EXPECT(":2\r\n", "append", "t", "b");
    EXPECT(":50\r\n", "ttl", "t");
}

/* --- keyspace ------------------------------------------------------------------------- */

static void
test_del_exists_type(void **state)
{
    (void)state;
    EXPECT("+OK\r\n", "mset", "a", "1", "b", "2");
    EXPECT(":3\r\n", "exists", "a", "b", "a", "nokey");
    EXPECT("+string\r\n", "type", "a");
    EXPECT("+none\r\n", "type", "nokey");
    EXPECT(":2\r\n", "del", "a", "b", "a");
    EXPECT(":0\r\n", "unlink", "a", "b");
    EXPECT(":0\r\n", "dbsize");
    EXPECT("-ERR wrong number of arguments for 'dbsize' command\r\n", "dbsize", "x");
}

static void
test_expire_family(void **state)
{
    (void)state;
    EXPECT("+OK\r\n", "set", "k", "v");
    EXPECT(":1\r\n", "expire", "k", "100");
    EXPECT(":100\r\n", "ttl", "k");
    EXPECT(":0\r\n", "expire", "k", "100", "nx");
    EXPECT(":1\r\n", "expire", "k", "200", "xx");
    EXPECT(":0\r\n", "expire", "k", "100", "gt");
    EXPECT(":1\r\n", "expire", "k", "300", "gt");
    EXPECT(":0\r\n", "expire", "k", "400", "lt");
    EXPECT(":1\r\n", "expire", "k", "100", "LT");
    EXPECT("-ERR NX and XX, GT or LT options at the same time are not compatible\r\n", "expire",
           "k", "100", "nx", "xx");
    EXPECT("-ERR GT and LT options at the same time are not compatible\r\n", "expire", "k", "100",
           "gt", "lt");
    EXPECT("-ERR Unsupported option foo\r\n", "expire", "k", "100", "foo");
    EXPECT("-ERR value is not an integer or out of range\r\n", "expire", "k", "abc");
    EXPECT("-ERR invalid expire time in 'expire' command\r\n", "expire", "k",
           "9223372036854775807");
    EXPECT("-ERR invalid expire time in 'expire' command\r\n", "expire", "k",
           "-9223372036854775808");
    EXPECT("-ERR invalid expire time in 'pexpire' command\r\n", "pexpire", "k",
           "9223372036854775807");
    EXPECT(":1\r\n", "persist", "k");
    EXPECT(":0\r\n", "persist", "k");
    EXPECT(":-1\r\n", "ttl", "k");
    EXPECT(":-1\r\n", "expiretime", "k");
    EXPECT(":-2\r\n", "ttl", "nokey");
    EXPECT(":-2\r\n", "pttl", "nokey");
    EXPECT(":-2\r\n", "expiretime", "nokey");
    EXPECT(":0\r\n", "expire", "nokey", "10");
    EXPECT(":0\r\n", "persist", "nokey");
    /* GT on a key without expiry fails; LT succeeds. */
    EXPECT(":0\r\n", "expire", "k", "100", "gt");
    EXPECT(":1\r\n", "expire", "k", "100", "lt");
    /* Deadlines in the past delete. */
    EXPECT(":1\r\n", "expire", "k", "0");
    EXPECT(":0\r\n", "exists", "k");
    EXPECT("+OK\r\n", "set", "k", "v");
    EXPECT(":1\r\n", "expire", "k", "-1");
    EXPECT(":0\r\n", "exists", "k");
    EXPECT("+OK\r\n", "set", "k", "v");
    EXPECT(":1\r\n", "expireat", "k", "1");
    EXPECT(":0\r\n", "exists", "k");
    EXPECT("+OK\r\n", "set", "k", "v");
    EXPECT(":1\r\n", "pexpireat", "k", "0");
    EXPECT(":0\r\n", "exists", "k");
    /* Exact millisecond deadlines. */
    EXPECT("+OK\r\n", "set", "k", "v");
    EXPECT(":1\r\n", "pexpireat", "k", "4102444800999");
    EXPECT(":4102444800999\r\n", "pexpiretime", "k");
    EXPECT(":4102444801\r\n", "expiretime", "k");
    EXPECT(":1\r\n", "expireat", "k", "4102444800");
    EXPECT(":4102444800000\r\n", "pexpiretime", "k");
    EXPECT(":1\r\n", "pexpire", "k", "1500");
    long long p = cmd_int("pttl", "k", NULL);
    assert_true(p > 1400 && p <= 1500);
    p = cmd_int("ttl", "k", NULL); /* rounded to the nearest second */
    assert_true(p == 1 || p == 2);
}

static void
test_keys_scan(void **state)
{
    (void)state;
    EXPECT("+OK\r\n", "mset", "foo", "1", "foobar", "2", "bar", "3", "hello", "4", "hallo", "5",
           "hxllo", "6", "a*b", "7", "a?c", "8");
    const char *r = cmd("keys", "h?llo", NULL);
    assert_true(strncmp(r, "*3\r\n", 4) == 0);
    assert_non_null(strstr(r, "$5\r\nhello\r\n"));
    assert_non_null(strstr(r, "$5\r\nhallo\r\n"));
    assert_non_null(strstr(r, "$5\r\nhxllo\r\n"));
    assert_true(strncmp(cmd("keys", "h[ae]llo", NULL), "*2\r\n", 4) == 0);
    assert_true(strncmp(cmd("keys", "h[^e]llo", NULL), "*2\r\n", 4) == 0);
    EXPECT("*1\r\n$5\r\nhallo\r\n", "keys", "h[a-b]llo");
    EXPECT("*1\r\n$3\r\na*b\r\n", "keys", "a\\*b");
    EXPECT("*0\r\n", "keys", "nomatch");
    assert_true(strncmp(cmd("keys", "*", NULL), "*8\r\n", 4) == 0);
    r = cmd("scan", "0", "count", "100", "match", "h*", NULL);
    assert_true(strncmp(r, "*2\r\n$1\r\n0\r\n*3\r\n", 15) == 0);
    r = cmd("scan", "0", "count", "100", "type", "String", NULL);
    assert_true(strncmp(r, "*2\r\n$1\r\n0\r\n*8\r\n", 15) == 0);
    EXPECT("*2\r\n$1\r\n0\r\n*0\r\n", "scan", "0", "count", "100", "type", "list");
    EXPECT("-ERR syntax error\r\n", "scan", "0", "count", "0");
    EXPECT("-ERR value is not an integer or out of range\r\n", "scan", "0", "count", "abc");
    EXPECT("-ERR invalid cursor\r\n", "scan", "abc");
    EXPECT("-ERR invalid cursor\r\n", "scan", " 1");
    EXPECT("-ERR syntax error\r\n", "scan", "0", "foo");
    EXPECT("-ERR syntax error\r\n", "scan", "0", "match");
    /* A full walk with small counts sees every key once. */
    for (int i = 0; i < 300; i++) {
        char k[16];
        snprintf(k, sizeof(k), "many:%d", i);
        EXPECT("+OK\r\n", "set", k, "v");
    }
    char cursor[32] = "0";
    int seen = 0, calls = 0;
    do {
        r = cmd("scan", cursor, "match", "many:*", "count", "5", NULL);
        assert_true(strncmp(r, "*2\r\n$", 5) == 0);
        const char *p = strchr(r + 5, '\n') + 1;
        size_t n = strcspn(p, "\r");
        memcpy(cursor, p, n);
        cursor[n] = '\0';
        p = strchr(p, '\n') + 1;
        assert_int_equal(*p, '*');
        seen += atoi(p + 1);
        calls++;
    } while (strcmp(cursor, "0") != 0);
    assert_int_equal(seen, 300);
    assert_true(calls > 5);
    EXPECT(":308\r\n", "dbsize");
    r = cmd("randomkey", NULL);
    assert_int_equal(r[0], '$');
    EXPECT("+OK\r\n", "flushall");
    EXPECT("$-1\r\n", "randomkey");
    EXPECT(":0\r\n", "dbsize");
    EXPECT("+OK\r\n", "flushall", "sync");
    EXPECT("+OK\r\n", "flushdb", "ASYNC");
    EXPECT("-ERR syntax error\r\n", "flushall", "foo");
    EXPECT("-ERR syntax error\r\n", "flushall", "sync", "x");
}

/* --- server commands ------------------------------------------------------------------------ */

static void
test_info_config_command_time(void **state)
{
    (void)state;
    EXPECT("$12\r\n# Keyspace\r\n\r\n", "info", "keyspace");
    EXPECT("$0\r\n\r\n", "info", "foo");
    EXPECT("+OK\r\n", "set", "x", "1", "ex", "100");
    EXPECT("+OK\r\n", "set", "y", "1");
    /* avg_ttl: the mean time left of a sample, in ms (Redis's estimate) */
    const char *ks =
        strstr(cmd("info", "keyspace", NULL), "# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=");
    assert_non_null(ks);
    long long avg = strtoll(strstr(ks, "avg_ttl=") + 8, NULL, 10);
    assert_true(avg > 98000 && avg <= 100000);
    const char *r = cmd("info", NULL);
    static const char *fields[] = {
        "# Server\r\nredis_version:7.0.15\r\n",
        "\r\nuptime_in_seconds:",
        "\r\n\r\n# Clients\r\nconnected_clients:",
        "\r\nused_memory:",
        "\r\nmaxmemory:67108864\r\n",
        "\r\nmaxmemory_policy:allkeys-lru\r\n",
        "\r\ntotal_commands_processed:",
        "\r\nkeyspace_hits:",
        "\r\nkeyspace_misses:",
        "\r\nevicted_keys:0\r\n",
        "\r\nexpired_keys:0\r\n",
        "\r\nrole:master\r\n",
        "\r\nloading:0\r\n",
        "\r\n# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=",
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (strstr(r, fields[i]) == NULL) {
            fail_msg("INFO lacks %s", fields[i]);
        }
    }
    /* CONFIG */
    EXPECT("*2\r\n$9\r\nmaxmemory\r\n$8\r\n67108864\r\n", "config", "get", "maxmemory");
    EXPECT("*2\r\n$16\r\nmaxmemory-policy\r\n$11\r\nallkeys-lru\r\n", "config", "get",
           "maxmemory-policy");
    EXPECT("*2\r\n$4\r\nsave\r\n$0\r\n\r\n", "config", "get", "save");
    EXPECT("*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n", "config", "get", "appendonly");
    EXPECT("*0\r\n", "config", "get", "nosuch");
    EXPECT("*4\r\n$10\r\nappendonly\r\n$2\r\nno\r\n$4\r\nsave\r\n$0\r\n\r\n", "config", "get",
           "save", "appendonly");
    EXPECT("+OK\r\n", "config", "set", "maxmemory", "100mb");
    EXPECT("*2\r\n$9\r\nmaxmemory\r\n$9\r\n104857600\r\n", "config", "get", "maxmemory");
    EXPECT("-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must "
           "be a memory value\r\n",
           "config", "set", "maxmemory", "abc");
    EXPECT("-ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'\r\n", "config",
           "set", "nosuch", "1");
    EXPECT("-ERR wrong number of arguments for 'config|set' command\r\n", "config", "set",
           "maxmemory");
    EXPECT("+OK\r\n", "config", "set", "maxmemory-policy", "allkeys-lru");
    EXPECT("-ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - "
           "argument(s) must be one of the following: volatile-lru, volatile-lfu, "
           "volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, "
           "noeviction\r\n",
           "config", "set", "maxmemory-policy", "foo");
    EXPECT("+OK\r\n", "config", "set", "save", "");
    EXPECT("+OK\r\n", "config", "set", "appendonly", "no");
    EXPECT("+OK\r\n", "config", "resetstat");
    EXPECT("-ERR unknown subcommand 'foo'. Try CONFIG HELP.\r\n", "config", "foo");
    EXPECT("-ERR wrong number of arguments for 'config' command\r\n", "config");
    EXPECT("-ERR wrong number of arguments for 'config|get' command\r\n", "config", "get");
    /* COMMAND */
    char want[32];
    snprintf(want, sizeof(want), ":%zu\r\n", resp_ncmds);
    EXPECT(want, "command", "count");
    EXPECT("*1\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*3\r\n"
           "+@read\r\n+@string\r\n+@fast\r\n*0\r\n*0\r\n*0\r\n",
           "command", "info", "get");
    EXPECT("*1\r\n$-1\r\n", "command", "info", "nosuch");
    EXPECT("*1\r\n$1\r\nk\r\n", "command", "getkeys", "get", "k");
    EXPECT("*2\r\n$1\r\na\r\n$1\r\nb\r\n", "command", "getkeys", "mset", "a", "1", "b", "2");
    EXPECT("-ERR unknown subcommand 'foo'. Try COMMAND HELP.\r\n", "command", "foo");
    r = cmd("command", "docs", "get", NULL);
    assert_true(strncmp(r, "*2\r\n$3\r\nget\r\n", 13) == 0);
    r = cmd("command", NULL);
    snprintf(want, sizeof(want), "*%zu\r\n", resp_ncmds);
    assert_true(strncmp(r, want, strlen(want)) == 0);
    /* TIME */
    r = cmd("time", NULL);
    assert_true(strncmp(r, "*2\r\n$10\r\n", 9) == 0);
    EXPECT("-ERR wrong number of arguments for 'time' command\r\n", "time", "x");
}

/* --- the loop --------------------------------------------------------------------------------- */

static void
test_pipeline_split_everywhere(void **state)
{
    (void)state;
    const char *req = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"
                      "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"
                      "*1\r\n$4\r\nPING\r\n"
                      "*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n";
    const char *want = "+OK\r\n$5\r\nvalue\r\n+PONG\r\n:";
    size_t n = strlen(req);
    for (size_t cut = 0; cut <= n; cut++) {
        F->reply_len = 0;
        char *acc = NULL;
        size_t alen = 0, acap = 0;
        raw_n(req, cut);
        grow_append(&acc, &alen, &acap, F->reply, F->reply_len);
        raw_n(req + cut, n - cut);
        grow_append(&acc, &alen, &acap, F->reply, F->reply_len);
        assert_true(strncmp(acc, want, strlen(want)) == 0);
        assert_int_equal(F->in_len, 0);
        free(acc);
    }
}

static void
test_pipeline_yields_and_pauses(void **state)
{
    (void)state;
    F->opts.reqs_per_event = 7;
    char *req = NULL;
    size_t len = 0, cap = 0;
    for (int i = 0; i < 1000; i++) {
        grow_append(&req, &len, &cap, "*1\r\n$4\r\nPING\r\n", 14);
    }
    raw_n(req, len);
    assert_int_equal(F->reply_len, 1000 * 7);
    assert_true(F->yields >= 1000 / 7);
    free(req);
    /* Big replies pause processing. */
    F->opts.reqs_per_event = 1000;
    static char v[60000];
    memset(v, 'v', sizeof(v) - 1);
    EXPECT("+OK\r\n", "set", "big", v);
    req = NULL;
    len = cap = 0;
    for (int i = 0; i < 40; i++) {
        grow_append(&req, &len, &cap, "*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n", 22);
    }
    raw_n(req, len);
    assert_int_equal(F->reply_len, 40 * (8 + sizeof(v) - 1 + 2));
    assert_true(F->pauses >= 1);
    free(req);
}

static void
test_inline(void **state)
{
    (void)state;
    assert_string_equal(raw("PING\r\n"), "+PONG\r\n");
    assert_string_equal(raw("set k \"a b\"\n"), "+OK\r\n");
    assert_string_equal(raw("get k\r\n"), "$3\r\na b\r\n");
    assert_string_equal(raw("\r\n"), "");
    assert_string_equal(raw("echo \"x\\ny\"\r\n"), "$3\r\nx\ny\r\n");
    assert_string_equal(raw("set k \"unbalanced\r\n"),
                        "-ERR Protocol error: unbalanced quotes in request\r\n");
    assert_true(F->closed);
}

/* A pipeline mixing requests the look-ahead parses for the step (struct
 * resp_memo in resp_cmd.c: arrays of up to 4 arguments) with ones it
 * leaves to the step's parser (more arguments, inline, an argument not
 * followed by CRLF), ending in a protocol error. */
static const char memo_pipeline[] =
    "*3\r\n$3\r\nset\r\n$1\r\na\r\n$1\r\n1\r\n"
    "*2\r\n$3\r\nGET\r\n$1\r\na\r\n"
    "*2\r\n$03\r\nget\r\n$001\r\na\r\n" /* leading zeros, as resp_parse takes them */
    "*2\r\n$3\r\ndel\r\n$1\r\nz\r\n"
    "*2\r\n$3\r\nget\r\n$1\r\nz\r\n"
    "*1\r\n$0\r\n\r\n"                /* empty name */
    "*2\r\n$4\r\nnope\r\n$1\r\na\r\n" /* unknown */
    "*1\r\n$3\r\nget\r\n"             /* arity */
    "*4\r\n$3\r\nset\r\n$1\r\nb\r\n$1\r\n2\r\n$2\r\nnx\r\n"
    "*5\r\n$4\r\nmset\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n" /* 5: the step's */
    "*3\r\n$4\r\nmget\r\n$1\r\nb\r\n$1\r\nc\r\n"
    "PING\r\n"
    "*2\r\n$3\r\nget\r\n$1\r\nd\r\n"
    "*2\r\n$4\r\nincr\r\n$1\r\na\r\n"
    "*2\r\n$3\r\nget\r\n$1\r\naX\r\n" /* no CRLF after the key */
    "*2\r\n$3\r\nget\r\n$1\r\na\r\n";

static const char memo_replies[] =
    "+OK\r\n$1\r\n1\r\n$1\r\n1\r\n:0\r\n$-1\r\n"
    "-ERR unknown command '', with args beginning with: \r\n"
    "-ERR unknown command 'nope', with args beginning with: 'a' \r\n"
    "-ERR wrong number of arguments for 'get' command\r\n"
    "+OK\r\n+OK\r\n*2\r\n$1\r\n2\r\n$1\r\n3\r\n+PONG\r\n$1\r\n4\r\n:2\r\n"
    "-ERR Protocol error: invalid bulk length\r\n";

/* Serve memo_pipeline in pieces of chunk bytes on a new connection to an
 * empty store; every reply, in order. */
static char *
serve_in_chunks(size_t chunk)
{
    fx_reconnect(F);
    EXPECT("+OK\r\n", "flushall");
    char *all = NULL;
    size_t len = 0, cap = 0;
    grow_append(&all, &len, &cap, "", 0);
    size_t n = sizeof(memo_pipeline) - 1;
    for (size_t at = 0; at < n && !F->closed; at += chunk) {
        const char *r = raw_n(memo_pipeline + at, n - at < chunk ? n - at : chunk);
        grow_append(&all, &len, &cap, r, F->reply_len);
    }
    assert_true(F->closed);
    return all;
}

/* The memo answers as the step's own parse does: the pipeline in one
 * read (the look-ahead sees it whole), in pieces that split requests,
 * and a byte at a time (no request is whole before the step runs). */
static void
test_pipeline_parsed_once(void **state)
{
    (void)state;
    size_t chunks[] = {sizeof(memo_pipeline), 7, 1};
    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        char *r = serve_in_chunks(chunks[i]);
        assert_string_equal(r, memo_replies);
        free(r);
    }
}

/* A connection that began with '*' takes inline commands later, as
 * Redis does. */
static void
test_inline_after_array(void **state)
{
    (void)state;
    fx_reconnect(F); /* sniffed, not the RESP-only port */
    assert_string_equal(raw("*1\r\n$4\r\nPING\r\n"), "+PONG\r\n");
    assert_string_equal(raw("PING\r\n"), "+PONG\r\n");
    assert_false(F->closed);
}

static void
test_protocol_error_bulk(void **state)
{
    (void)state;
    assert_string_equal(raw("*1\r\n+PING\r\n"), "-ERR Protocol error: expected '$', got '+'\r\n");
    assert_true(F->closed);
}

static void
test_protocol_error_too_big(void **state)
{
    (void)state;
    /* A bulk over the item size limit: Redis's proto-max-bulk-len error. */
    assert_string_equal(raw("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$70000\r\n"),
                        "-ERR Protocol error: invalid bulk length\r\n");
    assert_true(F->closed);
    assert_int_equal(F->m.protocol_errors, 1);
}

static void
test_multibulk_errors(void **state)
{
    (void)state;
    assert_string_equal(raw("*abc\r\n"), "-ERR Protocol error: invalid multibulk length\r\n");
    assert_true(F->closed);
}

static void
test_value_limits(void **state)
{
    (void)state;
    static char v[MAX_ITEM];
    memset(v, 'v', sizeof(v) - 1);
    /* Fits the bulk limit, not the item limit (header + key). */
    EXPECT("-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n", "set", "k", v);
    v[MAX_ITEM - 100] = '\0';
    EXPECT("+OK\r\n", "set", "k", v);
    EXPECT("-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n", "append", "k",
           "0123456789012345678901234567890123456789012345678901234567890123456789012345678901"
           "234567890123456789");
    char key[300];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    EXPECT("-ERR invalid key length (stashd keys are 1 to 250 bytes)\r\n", "set", key, "v");
    EXPECT("$-1\r\n", "get", key);
    EXPECT(":0\r\n", "del", key);
    EXPECT("-ERR invalid key length (stashd keys are 1 to 250 bytes)\r\n", "set", "", "v");
    EXPECT("-ERR invalid key length (stashd keys are 1 to 250 bytes)\r\n", "mset", "a", "1", key,
           "2");
    EXPECT(":0\r\n", "exists", "a");
}

static void
test_many_arguments(void **state)
{
    (void)state;
    char *req = NULL;
    size_t len = 0, cap = 0;
    char hdr[64];
    int n = snprintf(hdr, sizeof(hdr), "*%d\r\n$4\r\nMSET\r\n", 1 + 2 * 3000);
    grow_append(&req, &len, &cap, hdr, (size_t)n);
    for (int i = 0; i < 3000; i++) {
        char kv[64];
        int kl = snprintf(kv, sizeof(kv), "key%d", i);
        n = snprintf(hdr, sizeof(hdr), "$%d\r\n%s\r\n$1\r\nv\r\n", kl, kv);
        grow_append(&req, &len, &cap, hdr, (size_t)n);
    }
    assert_string_equal(raw_n(req, len), "+OK\r\n");
    free(req);
    EXPECT(":3000\r\n", "dbsize");
    struct resp_conn *c = F->s.proto_state;
    assert_true(c->argv_cap <= 1024); /* shrunk back */
    EXPECT("$1\r\nv\r\n", "get", "key2999");
}

/* Values cross protocols: memcached text in, RESP out, and back. */
static void
test_cross_protocol(void **state)
{
    (void)state;
    struct session mc;
    struct buf mout;
    buf_init(&mout);
    session_init(&mc, &F->env, &F->m, &mout);
    const char *set = "set mk 42 0 5\r\nhello\r\n";
    size_t consumed, need;
    assert_int_equal(session_process(&mc, set, strlen(set), &consumed, &need), SESSION_OK);
    assert_int_equal(consumed, strlen(set));
    EXPECT("$5\r\nhello\r\n", "get", "mk"); /* flags ignored */
    EXPECT(":6\r\n", "append", "mk", "!");
    EXPECT("+OK\r\n", "set", "rk", "world", "ex", "100");
    buf_reset(&mout);
    const char *get = "get rk mk\r\n";
    assert_int_equal(session_process(&mc, get, strlen(get), &consumed, &need), SESSION_OK);
    char *got = strndup(mout.data + mout.rpos, buf_readable(&mout));
    assert_string_equal(got, "VALUE rk 0 5\r\nworld\r\nVALUE mk 42 6\r\nhello!\r\nEND\r\n");
    free(got);
    /* A memcached counter works with INCR and the reverse. */
    buf_reset(&mout);
    const char *seti = "set ctr 0 0 2\r\n10\r\nincr ctr 5\r\n";
    assert_int_equal(session_process(&mc, seti, strlen(seti), &consumed, &need), SESSION_OK);
    EXPECT(":16\r\n", "incr", "ctr");
    session_fini(&mc);
    buf_fini(&mout);
}

static void
test_metrics(void **state)
{
    (void)state;
    EXPECT("+OK\r\n", "set", "k", "v");
    EXPECT("$1\r\nv\r\n", "get", "k");
    EXPECT("$-1\r\n", "get", "nokey");
    EXPECT(":1\r\n", "del", "k");
    assert_int_equal(F->m.cmd_set, 1);
    assert_int_equal(F->m.cmd_get, 2);
    assert_int_equal(F->m.get_hits, 1);
    assert_int_equal(F->m.get_misses, 1);
    assert_int_equal(F->m.delete_hits, 1);
}

/* --- subcommands, bitmaps, LCS, keyspace inspection, statistics (issue 15) ----------- */

/* Every command is found by its name in any case; a name with a byte
 * more, a byte less, a NUL or a non-letter folded like a letter is not. */
static void
test_command_lookup(void **state)
{
    (void)state;
    for (size_t i = 0; i < resp_ncmds; i++) {
        const char *name = resp_cmds[i].name;
        size_t n = strlen(name);
        char v[RESP_NAME_MAX + 2];
        for (int form = 0; form < 3; form++) {
            for (size_t j = 0; j < n; j++) {
                char ch = name[j];
                bool up = form == 1 || (form == 2 && j % 2 == 0);
                v[j] = (char)(up && ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
            }
            assert_ptr_equal(resp_cmd_lookup((struct bstr){v, n}), &resp_cmds[i]);
        }
        memcpy(v, name, n);
        v[n] = '\0';
        const struct resp_cmd *c = resp_cmd_lookup((struct bstr){v, n + 1});
        assert_true(c == NULL); /* "get\0" is not GET */
        v[n] = 'q';
        c = resp_cmd_lookup((struct bstr){v, n + 1});
        assert_true(c == NULL || strcmp(c->name, name) != 0);
        if (n > 1) {
            c = resp_cmd_lookup((struct bstr){v, n - 1});
            assert_true(c == NULL || strcmp(c->name, name) != 0);
        }
    }
    /* '@' and '`', '[' and '{' differ by the case bit but are not letters */
    assert_null(resp_cmd_lookup((struct bstr){"G@T", 3}));
    assert_null(resp_cmd_lookup((struct bstr){"ge\x74\x80", 4}));
    assert_null(resp_cmd_lookup((struct bstr){"", 0}));
    assert_non_null(resp_cmd_lookup((struct bstr){"gEt", 3}));
    assert_non_null(resp_cmd_lookup((struct bstr){"CLIENT", 6}));
    assert_non_null(resp_cmd_lookup((struct bstr){"getrange", 8}));
    assert_non_null(resp_cmd_lookup((struct bstr){"HRANDFIELD", 10}));
}

static void
test_subcommand_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < resp_nsubcmds; i++) {
        const struct resp_cmd *sc = &resp_subcmds[i];
        assert_non_null(sc->parent);
        if (i > 0) {
            int d = strcmp(resp_subcmds[i - 1].parent, sc->parent);
            assert_true(d < 0 || (d == 0 && strcmp(resp_subcmds[i - 1].name, sc->name) < 0));
        }
        const struct resp_cmd *c = resp_cmd_lookup((struct bstr){sc->parent, strlen(sc->parent)});
        assert_non_null(c);
        assert_true(c->flags & RESP_CMD_CONTAINER);
        assert_ptr_equal(resp_subcmd_lookup(c, (struct bstr){sc->name, strlen(sc->name)}), sc);
        assert_true(resp_cmd_slot(sc) >= resp_ncmds && resp_cmd_slot(sc) < RESP_CMD_SLOTS);
    }
    for (size_t i = 0; i < resp_ncmds; i++) {
        const struct resp_cmd *c = &resp_cmds[i];
        size_t n = 0;
        (void)resp_subcmds_of(c, &n);
        assert_true((n > 0) == ((c->flags & RESP_CMD_CONTAINER) != 0));
        assert_true(c->handler != NULL || n > 0);
        assert_int_equal(resp_cmd_slot(c), i);
    }
    EXPECT("-ERR unknown subcommand 'foo'. Try OBJECT HELP.\r\n", "object", "foo");
    EXPECT("-ERR wrong number of arguments for 'object' command\r\n", "OBJECT");
    EXPECT("-ERR wrong number of arguments for 'object|encoding' command\r\n", "object",
           "ENCODING");
    EXPECT("-ERR wrong number of arguments for 'memory|usage' command\r\n", "memory", "usage");
    EXPECT("-ERR wrong number of arguments for 'client|kill' command\r\n", "client", "kill");
    EXPECT("*1\r\n$1\r\nk\r\n", "command", "getkeys", "object", "encoding", "k");
    const char *r = cmd("command", "info", "object", NULL);
    assert_non_null(strstr(r, "$15\r\nobject|encoding\r\n:3\r\n"));
}

static void
test_setbit_getbit(void **state)
{
    (void)state;
    EXPECT(":0\r\n", "setbit", "b", "7", "1");
    EXPECT(":1\r\n", "setbit", "b", "7", "1");
    EXPECT("$1\r\n\x01\r\n", "get", "b");
    EXPECT(":0\r\n", "setbit", "b", "17", "1");
    EXPECT("$3\r\n\x01\x00\x40\r\n", "get", "b");
    EXPECT(":1\r\n", "getbit", "b", "17");
    EXPECT(":0\r\n", "getbit", "b", "16");
    EXPECT(":0\r\n", "getbit", "b", "1000");
    EXPECT(":0\r\n", "getbit", "nokey", "0");
    EXPECT(":1\r\n", "setbit", "b", "17", "0");
    EXPECT("$3\r\n\x01\x00\x00\r\n", "get", "b");
    EXPECT("-ERR bit offset is not an integer or out of range\r\n", "setbit", "b", "-1", "1");
    EXPECT("-ERR bit offset is not an integer or out of range\r\n", "setbit", "b", "x", "1");
    EXPECT("-ERR bit is not an integer or out of range\r\n", "setbit", "b", "1", "2");
    EXPECT("-ERR bit is not an integer or out of range\r\n", "setbit", "b", "1", "x");
    /* Offsets are bounded by -I (64 KiB here): byte 65535 is out of an
     * item's reach with its header, byte 65536 out of range as Redis's. */
    EXPECT("-ERR bit offset is not an integer or out of range\r\n", "setbit", "b", "524288", "1");
    EXPECT("-ERR bit offset is not an integer or out of range\r\n", "getbit", "b", "524288");
    EXPECT(":0\r\n", "getbit", "b", "524287");
    EXPECT("-ERR bit offset is not an integer or out of range\r\n", "setbit", "b", "524287", "1");
    EXPECT(":0\r\n", "setbit", "b", "400000", "1");
    EXPECT(":50001\r\n", "strlen", "b");
    EXPECT("-ERR invalid key length (stashd keys are 1 to 250 bytes)\r\n", "setbit", "", "1", "1");
}

static void
test_bitcount_bitpos(void **state)
{
    (void)state;
    EXPECT("+OK\r\n", "set", "k", "foobar");
    EXPECT(":26\r\n", "bitcount", "k");
    EXPECT(":4\r\n", "bitcount", "k", "0", "0");
    EXPECT(":6\r\n", "bitcount", "k", "1", "1");
    EXPECT(":17\r\n", "bitcount", "k", "5", "30", "bit");
    EXPECT(":0\r\n", "bitcount", "k", "-1", "-2", "nonsense");
    EXPECT("-ERR syntax error\r\n", "bitcount", "k", "0");
    EXPECT("-ERR syntax error\r\n", "bitcount", "k", "0", "1", "x");
    EXPECT("-ERR value is not an integer or out of range\r\n", "bitcount", "k", "a", "1");
    EXPECT(":0\r\n", "bitcount", "nokey", "a", "b");
    EXPECT("+OK\r\n", "set", "p", "\xff\xf0");
    EXPECT(":12\r\n", "bitpos", "p", "0");
    EXPECT(":0\r\n", "bitpos", "p", "1");
    EXPECT(":-1\r\n", "bitpos", "p", "0", "0", "11", "bit");
    EXPECT(":12\r\n", "bitpos", "p", "0", "0", "12", "bit");
    EXPECT(":-1\r\n", "bitpos", "p", "1", "2");
    EXPECT(":-1\r\n", "bitpos", "p", "0", "2");
    EXPECT(":0\r\n", "bitpos", "nokey", "0");
    EXPECT(":-1\r\n", "bitpos", "nokey", "1");
    EXPECT("-ERR The bit argument must be 1 or 0.\r\n", "bitpos", "p", "2");
    EXPECT("-ERR syntax error\r\n", "bitpos", "p", "1", "0", "a", "foo");
    EXPECT("-ERR value is not an integer or out of range\r\n", "bitpos", "p", "1", "0", "a");
    /* Longer than a word: the 8-byte paths. */
    char v[41];
    memset(v, 0xff, 40);
    v[40] = '\0';
    v[33] = (char)0xfe;
    EXPECT("+OK\r\n", "set", "w", v);
    EXPECT(":319\r\n", "bitcount", "w");
    EXPECT(":271\r\n", "bitpos", "w", "0");
    EXPECT(":-1\r\n", "bitpos", "w", "0", "34", "-1");
    EXPECT(":320\r\n", "bitpos", "w", "0", "34");
}

static void
test_bitop(void **state)
{
    (void)state;
    EXPECT("+OK\r\n", "mset", "a", "\xff\x0f", "b", "\x0f");
    EXPECT(":2\r\n", "bitop", "and", "d", "a", "b");
    assert_int_equal(memcmp(cmd("get", "d", NULL), "$2\r\n\x0f\x00\r\n", 8), 0);
    EXPECT(":2\r\n", "bitop", "OR", "d", "a", "b");
    EXPECT("$2\r\n\xff\x0f\r\n", "get", "d");
    EXPECT(":2\r\n", "bitop", "xor", "d", "a", "b");
    EXPECT("$2\r\n\xf0\x0f\r\n", "get", "d");
    EXPECT(":1\r\n", "bitop", "not", "d", "b");
    EXPECT("$1\r\n\xf0\r\n", "get", "d");
    EXPECT("-ERR BITOP NOT must be called with a single source key.\r\n", "bitop", "not", "d", "a",
           "b");
    EXPECT("-ERR syntax error\r\n", "bitop", "nand", "d", "a");
    EXPECT("+OK\r\n", "set", "d", "x", "ex", "100");
    EXPECT(":2\r\n", "bitop", "or", "d", "a");
    EXPECT(":-1\r\n", "ttl", "d");
    EXPECT(":0\r\n", "bitop", "or", "d", "nokey", "nokey2");
    EXPECT(":0\r\n", "exists", "d");
}

static void
test_bitfield(void **state)
{
    (void)state;
    EXPECT("*3\r\n:0\r\n:100\r\n:-56\r\n", "bitfield", "f", "set", "i8", "0", "100", "get", "i8",
           "0", "incrby", "i8", "0", "100");
    EXPECT("*1\r\n:-128\r\n", "bitfield", "f", "overflow", "sat", "incrby", "i8", "0", "-300");
    EXPECT("*1\r\n$-1\r\n", "bitfield", "f", "overflow", "fail", "incrby", "i8", "0", "-1");
    EXPECT("*1\r\n:-128\r\n", "bitfield_ro", "f", "get", "i8", "0");
    EXPECT("*2\r\n:0\r\n:33023\r\n", "bitfield", "f", "set", "u8", "#1", "255", "get", "u16", "#0");
    EXPECT("*1\r\n:0\r\n", "bitfield", "g", "set", "i64", "0", "-1");
    EXPECT("*2\r\n:-1\r\n:9223372036854775807\r\n", "bitfield", "g", "get", "i64", "0", "get",
           "u63", "0");
    EXPECT("*1\r\n:-1\r\n", "bitfield", "g", "overflow", "sat", "set", "i64", "0",
           "9223372036854775807");
    EXPECT("*1\r\n:-9223372036854775808\r\n", "bitfield", "g", "incrby", "i64", "0", "1");
    EXPECT("*1\r\n:0\r\n", "bitfield", "h", "overflow", "sat", "set", "u8", "0", "-1");
    EXPECT("*2\r\n:255\r\n:3\r\n", "bitfield", "h", "overflow", "wrap", "incrby", "u8", "0", "0",
           "incrby", "u2", "0", "4");
    EXPECT("-ERR BITFIELD_RO only supports the GET subcommand\r\n", "bitfield_ro", "f", "set", "i8",
           "0", "1");
    EXPECT("-ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported "
           "but i64 is.\r\n",
           "bitfield", "f", "get", "u64", "0");
    EXPECT("-ERR Invalid OVERFLOW type specified\r\n", "bitfield", "f", "overflow", "x");
    EXPECT("-ERR syntax error\r\n", "bitfield", "f", "get", "i8");
    EXPECT("-ERR value is not an integer or out of range\r\n", "bitfield", "f", "set", "i8", "0",
           "x");
    EXPECT("-ERR bit offset is not an integer or out of range\r\n", "bitfield", "f", "get", "i8",
           "#-1");
    EXPECT("*0\r\n", "bitfield", "f");
    /* A write that would grow the value past what an item holds. */
    EXPECT("-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n", "bitfield", "big",
           "set", "i64", "524280", "1");
    EXPECT(":0\r\n", "exists", "big");
}

static void
test_lcs(void **state)
{
    (void)state;
    EXPECT("+OK\r\n", "mset", "k1", "ohmytext", "k2", "mynewtext");
    EXPECT("$6\r\nmytext\r\n", "lcs", "k1", "k2");
    EXPECT(":6\r\n", "lcs", "k1", "k2", "len");
    EXPECT("*4\r\n$7\r\nmatches\r\n*2\r\n*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n*2\r\n*2\r\n"
           ":2\r\n:3\r\n*2\r\n:0\r\n:1\r\n$3\r\nlen\r\n:6\r\n",
           "lcs", "k1", "k2", "idx");
    EXPECT("*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\n"
           "len\r\n:6\r\n",
           "lcs", "k1", "k2", "idx", "minmatchlen", "4", "withmatchlen");
    EXPECT("$0\r\n\r\n", "lcs", "nokey", "k2");
    EXPECT("-ERR If you want both the length and indexes, please just use IDX.\r\n", "lcs", "k1",
           "k2", "len", "idx");
    EXPECT("-ERR syntax error\r\n", "lcs", "k1", "k2", "minmatchlen");
    /* The table (4 * 128 * 128 = 64 KiB) is bounded by -I (64 KiB here). */
    char a[129], b[129];
    memset(a, 'a', 128);
    memset(b, 'a', 128);
    a[127] = b[127] = '\0';
    EXPECT("+OK\r\n", "mset", "a", a, "b", b);
    EXPECT(":127\r\n", "lcs", "a", "b", "len");
    a[127] = 'a';
    a[128] = '\0';
    EXPECT("+OK\r\n", "set", "a", a);
    EXPECT("-ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len\r\n",
           "lcs", "a", "b");
}

static void
test_touch_object_memory(void **state)
{
    (void)state;
    EXPECT("+OK\r\n", "mset", "i", "123", "s", "hello", "r",
           "0123456789012345678901234567890123456789012345");
    EXPECT(":3\r\n", "touch", "i", "s", "nokey", "i");
    EXPECT("$3\r\nint\r\n", "object", "encoding", "i");
    EXPECT("$6\r\nembstr\r\n", "object", "ENCODING", "s");
    EXPECT("$3\r\nraw\r\n", "object", "encoding", "r");
    EXPECT("$-1\r\n", "object", "encoding", "nokey");
    EXPECT(":1\r\n", "object", "refcount", "i");
    EXPECT(":0\r\n", "object", "idletime", "s");
    EXPECT("$-1\r\n", "object", "freq", "nokey");
    const char *r = cmd("object", "freq", "i", NULL);
    assert_true(strncmp(r, "-ERR An LFU maxmemory policy is not selected", 44) == 0);
    r = cmd("object", "help", NULL);
    assert_true(strncmp(r, "*15\r\n+OBJECT <subcommand>", 25) == 0);
    long long usage = cmd_int("memory", "usage", "s", NULL);
    assert_true(usage >= 6 && usage < 200);
    EXPECT("$-1\r\n", "memory", "usage", "nokey");
    EXPECT("-ERR syntax error\r\n", "memory", "usage", "s", "samples", "-1");
    EXPECT("-ERR syntax error\r\n", "memory", "usage", "s", "foo");
    EXPECT("-ERR value is not an integer or out of range\r\n", "memory", "usage", "s", "samples",
           "x");
    F->opts.evictions = false; /* -M: Redis shares small integers */
    EXPECT(":2147483647\r\n", "object", "refcount", "i");
    F->opts.evictions = true;
    assert_int_equal(F->m.get_hits, 3);
    assert_int_equal(F->m.get_misses, 1);
}

static void
test_commandstats(void **state)
{
    (void)state;
    struct cmdstats *st = NULL;
    assert_int_equal(cmdstats_create(&st), 0);
    F->s.cmdstats = st;
    EXPECT("+OK\r\n", "set", "k", "v");
    EXPECT("$1\r\nv\r\n", "get", "k");
    EXPECT("-ERR wrong number of arguments for 'get' command\r\n", "get");
    EXPECT("-ERR bit offset is not an integer or out of range\r\n", "setbit", "k", "-1", "0");
    EXPECT("-ERR unknown command 'nosuch', with args beginning with: \r\n", "nosuch");
    EXPECT("-ERR unknown subcommand 'x'. Try OBJECT HELP.\r\n", "object", "x");
    EXPECT("$6\r\nembstr\r\n", "object", "encoding", "k");
    EXPECT("-NOPROTO unsupported protocol version\r\n", "hello", "9");
    const char *r = cmd("info", "commandstats", NULL);
    assert_true(strncmp(r, "$", 1) == 0);
    static const char *lines[] = {
        "# Commandstats\r\n",
        "\r\ncmdstat_get:calls=1,usec=",
        ",rejected_calls=1,failed_calls=0\r\n",
        "\r\ncmdstat_setbit:calls=1,",
        "\r\ncmdstat_object|encoding:calls=1,",
        "\r\ncmdstat_hello:calls=1,",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (strstr(r, lines[i]) == NULL) {
            fail_msg("commandstats lacks %s: %s", lines[i], r);
        }
    }
    assert_null(strstr(r, "cmdstat_nosuch"));
    assert_null(strstr(r, "cmdstat_object:"));
    EXPECT("$64\r\n# Errorstats\r\nerrorstat_ERR:count=4\r\nerrorstat_NOPROTO:count=1\r\n\r\n",
           "info", "errorstats");
    r = cmd("info", "stats", NULL);
    assert_non_null(strstr(r, "\r\ntotal_error_replies:5\r\n"));
    r = cmd("info", NULL);
    assert_non_null(strstr(r, "# Errorstats\r\n"));
    assert_null(strstr(r, "# Commandstats\r\n"));
    r = cmd("info", "all", NULL);
    assert_non_null(strstr(r, "# Commandstats\r\n"));
    assert_non_null(strstr(r, "\r\n\r\n# Errorstats\r\n"));
    EXPECT("+OK\r\n", "config", "resetstat");
    EXPECT("$14\r\n# Errorstats\r\n\r\n", "info", "errorstats");
    r = cmd("info", "commandstats", NULL);
    assert_null(strstr(r, "cmdstat_get"));
    assert_non_null(strstr(r, "cmdstat_info:calls=1,"));
    F->s.cmdstats = NULL;
    cmdstats_destroy(&st);
}

static void
test_client_kill_self(void **state)
{
    (void)state;
    long long id = cmd_int("client", "id", NULL);
    char ids[32];
    snprintf(ids, sizeof(ids), "%lld", id);
    EXPECT(":0\r\n", "client", "kill", "id", ids);
    EXPECT(":0\r\n", "client", "kill", "id", "99999", "skipme", "no");
    EXPECT("-ERR client-id should be greater than 0\r\n", "client", "kill", "id", "0");
    EXPECT("-ERR Unknown client type 'x'\r\n", "client", "kill", "type", "x");
    EXPECT("-ERR No such user 'bob'\r\n", "client", "kill", "user", "bob");
    EXPECT("-ERR syntax error\r\n", "client", "kill", "skipme", "maybe");
    EXPECT("-ERR syntax error\r\n", "client", "kill", "id", "1", "skipme");
    EXPECT("-ERR No such client\r\n", "client", "kill", "id"); /* the old form */
    EXPECT("-ERR No such client\r\n", "client", "kill", "1.2.3.4:5");
    EXPECT(":1\r\n", "client", "kill", "id", ids, "skipme", "no");
    assert_true(F->closed);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, fx_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_table_sorted),
        T(test_ping_echo_unknown),
        T(test_select_quit),
        T(test_hello_resp3),
        T(test_client),
        T(test_auth_without_password),
        T(test_auth_with_password),
        T(test_set_get),
        T(test_pipeline_parsed_once),
        T(test_set_expiry_options),
        T(test_setnx_getset_getdel_getex),
        T(test_mget_mset),
        T(test_incr_family),
        T(test_incrbyfloat),
        T(test_append_range),
        T(test_del_exists_type),
        T(test_expire_family),
        T(test_keys_scan),
        T(test_info_config_command_time),
        T(test_pipeline_split_everywhere),
        T(test_pipeline_yields_and_pauses),
        T(test_inline),
        T(test_inline_after_array),
        T(test_protocol_error_bulk),
        T(test_protocol_error_too_big),
        T(test_multibulk_errors),
        T(test_value_limits),
        T(test_many_arguments),
        T(test_cross_protocol),
        T(test_metrics),
        T(test_command_lookup),
        T(test_subcommand_table),
        T(test_setbit_getbit),
        T(test_bitcount_bitpos),
        T(test_bitop),
        T(test_bitfield),
        T(test_lcs),
        T(test_touch_object_memory),
        T(test_commandstats),
        T(test_client_kill_self),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
