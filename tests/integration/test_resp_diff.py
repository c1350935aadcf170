"""Differential tests: the same RESP commands sent to Debian's redis-server
7.0.15 and to the binary under test, replies compared.

Each script runs on a fresh pair of servers (stashd started by conftest's
``server`` fixture, redis-server by resp_util.RedisServer). A step is a
command (a tuple of arguments); its replies must be equal byte for byte,
unless the step is wrapped in a normaliser:

* ``Sorted(cmd)``   -- an array (KEYS) compared as a sorted list;
* ``Scan(cmd)``     -- a SCAN reply: both cursors 0, keys compared sorted;
* ``Near(cmd, d)``  -- an integer within d (TTL and PTTL of live keys);
* ``Shape(cmd)``    -- only the reply's type (ids, times, addresses);
* ``Hello(cmd)``    -- HELLO's map with the connection id masked;
* ``Keyspace()``    -- INFO keyspace with avg_ttl masked.

Every script is also sent a second time as one pipelined write, so that
pipelining cannot change a reply. Known, deliberate differences are not
scripted: keys are limited to 250 bytes and values to the item size limit
(-I) rather than 512 MB; SELECT takes only 0; expiry deadlines past ~2150
are clamped; INFO, CONFIG GET maxmemory and COMMAND COUNT describe stashd;
COMMAND INFO has no key specs; a bulk string not followed by CRLF is a
protocol error (Redis skips the two bytes unread).
"""

import re
import time

import pytest

from conftest import IS_MEMCACHED
from resp_util import Err, Map, Null, RedisServer, RespConn, decode, encode, stashd_has_option

pytestmark = pytest.mark.skipif(IS_MEMCACHED, reason="memcached does not speak RESP")

FAR_S = 4102444800  # 2100-01-01, within stashd's deadline range
FAR_MS = FAR_S * 1000 + 123


class Step:
    def __init__(self, *cmd):
        self.cmd = cmd

    def compare(self, a, b):
        assert a == b


class Sorted(Step):
    def compare(self, a, b):
        da, db = decode(a), decode(b)
        assert isinstance(da, list) and isinstance(db, list), (a, b)
        assert sorted(da) == sorted(db)


class Scan(Step):
    def compare(self, a, b):
        da, db = decode(a), decode(b)
        assert da[0] == db[0] == b"0", (da[0], db[0])
        assert sorted(da[1]) == sorted(db[1])


class Near(Step):
    def __init__(self, *cmd, d=2):
        super().__init__(*cmd)
        self.d = d

    def compare(self, a, b):
        da, db = decode(a), decode(b)
        assert isinstance(da, int) and isinstance(db, int), (a, b)
        assert abs(da - db) <= self.d, (da, db)


class Shape(Step):
    def compare(self, a, b):
        assert a[:1] == b[:1], (a, b)


class Hello(Step):
    @staticmethod
    def mask(raw):
        return re.sub(rb"\$2\r\nid\r\n:\d+\r\n", b"$2\r\nid\r\n:0\r\n", raw)

    def compare(self, a, b):
        assert self.mask(a) == self.mask(b)


class Keyspace(Step):
    def __init__(self):
        super().__init__("INFO", "keyspace")

    @staticmethod
    def mask(raw):
        return re.sub(rb"avg_ttl=\d+", b"avg_ttl=0", raw)

    def compare(self, a, b):
        # The bulk length moves with avg_ttl's digits: compare the text.
        da, db = decode(a), decode(b)
        assert self.mask(da) == self.mask(db)


def as_step(s):
    return s if isinstance(s, Step) else Step(*s)


def pair_fixture(redis_args=(), ours_args=()):
    """The `pair` fixture: redis-server and stashd started side by side
    (each differential module makes its own, with its servers' flags)."""
    @pytest.fixture(name="pair")
    def fixture(server):
        redis_srv = RedisServer(list(redis_args)).start()
        ours = server(list(ours_args))
        yield redis_srv, ours
        redis_srv.stop()
    return fixture


# -I and proto-max-bulk-len alike, and the eviction policy stashd reports.
SIZED_REDIS_ARGS = ["--proto-max-bulk-len", "1mb", "--maxmemory", "64mb",
                    "--maxmemory-policy", "allkeys-lru"]
SIZED_OURS_ARGS = ["-I", "1m"]

pair = pair_fixture()


def run(pair, script, pipelined=True):
    redis_srv, ours = pair
    steps = [as_step(s) for s in script]
    for mode in ("one by one", "pipelined") if pipelined else ("one by one",):
        a = redis_srv.connect()
        b = RespConn(ours.port)
        for c in (a, b):
            assert c.call_raw("FLUSHALL") == b"+OK\r\n"
        if mode == "pipelined":
            data = b"".join(encode(*s.cmd) for s in steps)
            a.send_raw(data)
            b.send_raw(data)
        for s in steps:
            if mode == "one by one":
                a.send(*s.cmd)
                b.send(*s.cmd)
            ra, rb = a.read_raw(), b.read_raw()
            try:
                s.compare(ra, rb)
            except AssertionError as e:
                raise AssertionError(f"{mode}: {s.cmd!r}: redis {ra[:300]!r} != stashd "
                                     f"{rb[:300]!r} ({e})") from None
        a.close()
        b.close()


def test_diff_set_get(pair):
    run(pair, [
        ("SET", "k", "v"), ("GET", "k"), ("GET", "nokey"), ("GET",), ("SET", "k"),
        ("SET", "k", "v", "EX", "0"), ("SET", "k", "v", "EX", "-1"), ("SET", "k", "v", "EX", "abc"),
        ("SET", "k", "v", "PX", "10", "EX", "10"), ("SET", "k", "v", "NX", "XX"),
        ("SET", "k", "v", "KEEPTTL", "EX", "10"), ("SET", "k", "v", "EX", "10", "KEEPTTL"),
        ("SET", "k", "v", "foo"), ("SET", "k", "v", "EX"),
        ("SET", "k", "v", "PX", "9223372036854775807"), ("SET", "k", "v", "EX", "10", "EX", "20"),
        Near("TTL", "k"), ("SET", "k", "v", "EXAT", "1"), ("GET", "k"), ("SET", "k", "v", "GET"),
        ("SET", "k", "v2", "GET"), ("SET", "k", "v3", "NX", "GET"), ("SET", "k2", "v", "XX"),
        ("SET", "k2", "v", "XX", "GET"), ("GET", "k2"), ("SET", "k", "v4", "xx", "keepttl"),
        ("set", "k", "v", "pxat", str(FAR_MS)), ("PEXPIRETIME", "k"), ("EXPIRETIME", "k"),
        ("SET", "k", "v", "exat", str(FAR_S)), ("PEXPIRETIME", "k"), ("SET", "k", "v", "KEEPTTL"),
        ("PEXPIRETIME", "k"), ("SET", "k", "v"), ("PEXPIRETIME", "k"),
        ("SET", "e", ""), ("GET", "e"), ("SET", "b", b"\x00\x01\xff\r\n"), ("GET", "b"),
        ("SETNX", "k", "x"), ("SETNX", "n1", "x"), ("SETEX", "s", "10", "v"), Near("TTL", "s"),
        ("SETEX", "s", "0", "v"), ("SETEX", "s", "abc", "v"), ("PSETEX", "s", "-5", "v"),
        ("PSETEX", "s", "100000", "v"), Near("PTTL", "s", d=100), ("GETSET", "k", "g"),
        ("GETSET", "new", "x"), ("GETDEL", "k"), ("GETDEL", "k"), ("GETEX", "new"),
        ("GETEX", "new", "EX", "10"), Near("TTL", "new"), ("GETEX", "new", "PERSIST"),
        ("TTL", "new"), ("GETEX", "new", "PX", "10", "EX", "10"), ("GETEX", "new", "foo"),
        ("GETEX", "new", "NX"), ("GETEX", "nokey", "EX", "10"), ("GETEX", "nokey", "EX", "abc"),
        ("GETEX", "new", "EX", "abc"), ("GETEX", "new", "EX", "0"),
        ("GETEX", "new", "EXAT", "1"), ("EXISTS", "new"),
    ])


def test_diff_multi(pair):
    run(pair, [
        ("MGET", "a", "b"), ("MSET", "a", "1", "b"), ("MSET", "a", "1", "b", "2"),
        ("MGET", "a", "nokey", "b"), ("MSETNX", "a", "1", "c", "2"), ("EXISTS", "c"),
        ("MSETNX", "c", "1", "d", "2"), ("EXISTS", "c", "d", "c"), ("MSETNX", "x"),
        ("DEL", "a", "b", "a", "zz"), ("UNLINK", "c", "d"), ("DBSIZE",), ("DBSIZE", "x"),
        ("TYPE", "a"), ("SET", "a", "1"), ("TYPE", "a"), ("RANDOMKEY",),
    ])


def test_diff_counters(pair):
    run(pair, [
        ("SET", "n", "10"), ("INCR", "n"), ("DECR", "n"), ("INCRBY", "n", "5"),
        ("DECRBY", "n", "10"), ("INCR", "fresh"), ("DECR", "fresh2"), ("INCRBY", "n", "abc"),
        ("INCRBY", "n", "9223372036854775807"), ("DECRBY", "n", "-9223372036854775808"),
        ("DECRBY", "n", "9223372036854775807"), ("DECRBY", "n", "9223372036854775807"),
        ("INCRBY", "n", "99999999999999999999"), ("INCR", "n", "x"),
        ("SET", "s", "abc"), ("INCR", "s"), ("SET", "s", " 1"), ("INCR", "s"), ("SET", "s", "01"),
        ("INCR", "s"), ("SET", "s", "-0"), ("INCR", "s"), ("SET", "s", "+1"), ("INCR", "s"),
        ("SET", "s", "1 "), ("INCR", "s"), ("SET", "s", ""), ("INCR", "s"),
        ("SET", "s", "9223372036854775808"), ("INCR", "s"), ("SET", "s", "-9223372036854775808"),
        ("DECR", "s"), ("INCR", "s"), ("GET", "s"),
        ("SET", "f", "10.5"), ("INCRBYFLOAT", "f", "0.1"), ("INCRBYFLOAT", "f", "abc"),
        ("INCRBYFLOAT", "f", "inf"), ("INCRBYFLOAT", "f", "1e308"), ("SET", "f", "1e308"),
        ("INCRBYFLOAT", "f", "1e308"), ("SET", "f", "3.0e3"), ("INCRBYFLOAT", "f", "200"),
        ("INCRBYFLOAT", "newf", "5.0e3"), ("SET", "f", "5"), ("INCRBYFLOAT", "f", "-5"),
        ("INCRBYFLOAT", "f", " 1"), ("INCRBYFLOAT", "f", "1 "), ("INCRBYFLOAT", "f", "0x10"),
        ("INCRBYFLOAT", "f", "1.5e-3"), ("INCRBYFLOAT", "f", "-0.0015"), ("GET", "f"),
        ("INCRBYFLOAT", "f", "0.1"), ("INCRBYFLOAT", "f", "0.2"), ("INCRBYFLOAT", "f", "1e-20"),
        ("INCRBYFLOAT", "f", "-1e20"), ("INCRBYFLOAT", "f", "nan"), ("INCRBYFLOAT", "f", ""),
        ("SET", "s", "+1"), ("INCRBYFLOAT", "s", "1"), ("SET", "s", "1e5000"),
        ("INCRBYFLOAT", "s", "1"), ("SET", "s", "abc"), ("INCRBYFLOAT", "s", "1"),
        ("SET", "t", "5", "EX", "100"), ("INCR", "t"), Near("TTL", "t"),
        ("INCRBYFLOAT", "t", "1.5"), Near("TTL", "t"), ("GET", "t"),
    ])


def test_diff_strings(pair):
    run(pair, [
        ("APPEND", "a", "hello"), ("APPEND", "a", " world"), ("GET", "a"), ("STRLEN", "a"),
        ("STRLEN", "nokey"), ("APPEND", "e", ""), ("EXISTS", "e"), ("GET", "e"),
        ("GETRANGE", "a", "0", "4"), ("GETRANGE", "a", "-5", "-1"), ("GETRANGE", "a", "-1", "-5"),
        ("GETRANGE", "a", "5", "1"), ("GETRANGE", "a", "0", "100"), ("GETRANGE", "a", "-100", "2"),
        ("GETRANGE", "a", "-100", "-99"), ("GETRANGE", "a", "11", "11"), ("GETRANGE", "e", "0", "0"),
        ("GETRANGE", "nokey", "0", "1"), ("GETRANGE", "a", "x", "1"), ("GETRANGE", "a", "0"),
        ("SETRANGE", "a", "6", "Redis"), ("GET", "a"), ("SETRANGE", "a", "-1", "x"),
        ("SETRANGE", "a", "x", "x"), ("SETRANGE", "nokey2", "0", ""), ("EXISTS", "nokey2"),
        ("SETRANGE", "nokey2", "5", "x"), ("GET", "nokey2"), ("SETRANGE", "a", "0", ""),
        ("SETRANGE", "a", "11", "!!"), ("GET", "a"), ("SETRANGE", "a", "536870912", "x"),
        ("SET", "t", "a", "EX", "50"), ("APPEND", "t", "b"), Near("TTL", "t"),
        ("SETRANGE", "t", "0", "z"), Near("TTL", "t"), ("GET", "t"),
    ])


def test_diff_expire(pair):
    run(pair, [
        ("SET", "k", "v"), ("EXPIRE", "k", "100"), Near("TTL", "k"), Near("PTTL", "k", d=200),
        ("EXPIRE", "k", "100", "NX"), ("EXPIRE", "k", "200", "XX"), ("EXPIRE", "k", "100", "GT"),
        ("EXPIRE", "k", "300", "gt"), ("EXPIRE", "k", "400", "LT"), ("EXPIRE", "k", "100", "lt"),
        ("EXPIRE", "k", "100", "NX", "XX"), ("EXPIRE", "k", "100", "GT", "LT"),
        ("EXPIRE", "k", "100", "NX", "GT"), ("EXPIRE", "k", "200", "XX", "GT"),
        ("EXPIRE", "k", "100", "foo"), ("EXPIRE", "k", "abc"), ("EXPIRE", "k"),
        ("EXPIRE", "k", "9223372036854775807"), ("EXPIRE", "k", "-9223372036854775808"),
        ("PEXPIRE", "k", "9223372036854775807"), ("EXPIREAT", "k", "9223372036854775807"),
        ("PERSIST", "k"), ("PERSIST", "k"), ("TTL", "k"), ("PTTL", "k"), ("EXPIRETIME", "k"),
        ("PEXPIRETIME", "k"), ("TTL", "nokey"), ("PTTL", "nokey"), ("EXPIRETIME", "nokey"),
        ("PEXPIRETIME", "nokey"), ("EXPIRE", "nokey", "10"), ("PERSIST", "nokey"),
        ("EXPIRE", "k", "100", "GT"), ("EXPIRE", "k", "100", "LT"), Near("TTL", "k"),
        ("EXPIRE", "k", "100", "XX"), ("PERSIST", "k"), ("EXPIRE", "k", "100", "XX"),
        ("PEXPIREAT", "k", str(FAR_MS)), ("PEXPIRETIME", "k"), ("EXPIRETIME", "k"),
        ("EXPIREAT", "k", str(FAR_S)), ("PEXPIRETIME", "k"), ("PEXPIREAT", "k", str(FAR_MS + 1),
                                                              "GT"),
        ("PEXPIRETIME", "k"), ("PEXPIREAT", "k", str(FAR_MS), "GT"),
        ("EXPIRE", "k", "0"), ("EXISTS", "k"), ("SET", "k", "v"), ("EXPIRE", "k", "-1"),
        ("EXISTS", "k"), ("SET", "k", "v"), ("EXPIREAT", "k", "1"), ("EXISTS", "k"),
        ("SET", "k", "v"), ("PEXPIREAT", "k", "0"), ("EXISTS", "k"),
        ("SET", "k", "v"), ("PEXPIRE", "k", "-1", "GT"), ("EXISTS", "k"),
    ])


def test_diff_keys_scan(pair):
    run(pair, [
        ("MSET", "foo", "1", "foobar", "2", "bar", "3", "hello", "4", "hallo", "5", "hxllo", "6",
         "a*b", "7", "a?c", "8", "h]llo", "9", "Hello", "10"),
        Sorted("KEYS", "h?llo"), Sorted("KEYS", "h[ae]llo"), Sorted("KEYS", "h[^e]llo"),
        Sorted("KEYS", "h[a-b]llo"), Sorted("KEYS", "h[b-a]llo"), Sorted("KEYS", "a\\*b"),
        Sorted("KEYS", "a\\?c"), Sorted("KEYS", "*"), Sorted("KEYS", "nomatch"),
        Sorted("KEYS", "h[a-]llo"), Sorted("KEYS", "["), Sorted("KEYS", "*[]"),
        Sorted("KEYS", "*o*"), Sorted("KEYS", "f*r"), Sorted("KEYS", "**"), Sorted("KEYS", "?"),
        Sorted("KEYS", "h\\"), Sorted("KEYS", "[\\]]llo"), Sorted("KEYS", "[h]*"),
        ("KEYS",), Scan("SCAN", "0", "COUNT", "1000"), Scan("SCAN", "0", "MATCH", "h*",
                                                             "COUNT", "1000"),
        Scan("SCAN", "0", "COUNT", "1000", "TYPE", "string"),
        Scan("SCAN", "0", "COUNT", "1000", "TYPE", "STRING"),
        Scan("SCAN", "0", "COUNT", "1000", "TYPE", "list"),
        ("SCAN", "0", "COUNT", "0"), ("SCAN", "0", "COUNT", "abc"), ("SCAN", "abc"),
        ("SCAN", " 1"), ("SCAN", "0", "foo"), ("SCAN", "0", "MATCH"), ("SCAN",),
        ("SCAN", "0", "COUNT", "-1"),
        ("FLUSHALL",), ("RANDOMKEY",), ("DBSIZE",), ("SCAN", "0"), ("KEYS", "*"),
        ("FLUSHALL", "SYNC"), ("FLUSHALL", "ASYNC"), ("FLUSHALL", "foo"), ("FLUSHDB",),
        ("FLUSHDB", "sync"), ("FLUSHALL", "sync", "x"),
    ])


def test_diff_connection(pair):
    run(pair, [
        ("PING",), ("PING", "hello"), ("PING", "a", "b"), ("ping",), ("ECHO", "hi"), ("ECHO",),
        ("SELECT", "0"), ("SELECT", "abc"), ("SELECT", "16"), ("SELECT", "-1"),
        ("TIME", "x"), Shape("TIME"), ("NOSUCH", "bar", "baz"), ("FOO",),
        ("foo", "a\r\nb"), ("x" * 200, "y" * 200, "z"), ("foo", "", ""),
        Hello("HELLO",), Hello("HELLO", "2"), ("HELLO", "4"), ("HELLO", "abc"),
        ("HELLO", "2", "foo"), ("HELLO", "2", "SETNAME", "a b"), ("HELLO", "2", "AUTH", "default"),
        Hello("HELLO", "2", "AUTH", "default", "x"), ("HELLO", "2", "AUTH", "bob", "x"),
        Hello("HELLO", "2", "SETNAME", "me"), ("CLIENT", "GETNAME"),
        ("CLIENT", "SETNAME", "a b"), ("CLIENT", "SETNAME", ""), ("CLIENT", "GETNAME"),
        Shape("CLIENT", "ID"), Shape("CLIENT", "INFO"), Shape("CLIENT", "LIST"),
        ("CLIENT", "KILL", "1.2.3.4:5"), ("CLIENT", "KILL", "ID", "99999"),
        ("CLIENT", "KILL", "ADDR", "1.2.3.4:5"), ("CLIENT", "KILL", "ID"),
        ("CLIENT", "NO-EVICT", "on"), ("CLIENT", "NO-EVICT", "OFF"),
        ("CLIENT", "NO-EVICT", "foo"), ("CLIENT", "foo"), ("CLIENT",), ("CLIENT", "SETNAME"),
        ("CLIENT", "GETNAME", "x"), ("AUTH", "x"), ("AUTH", "a", "b"), ("AUTH", "a", "b", "c"),
        ("AUTH", "default", "anything"), ("AUTH",), ("RESET",), ("RESET", "x"),
        ("CONFIG", "GET", "save"), ("CONFIG", "GET", "appendonly"), ("CONFIG", "GET", "nosuch"),
        ("CONFIG", "SET", "nosuch", "1"), ("CONFIG", "SET", "maxmemory"),
        ("CONFIG", "SET", "maxmemory", "abc"), ("CONFIG", "SET", "maxmemory-policy", "foo"),
        ("CONFIG", "SET", "save", ""), ("CONFIG", "SET", "appendonly", "no"),
        ("CONFIG", "SET", "appendonly", "maybe"), ("CONFIG", "RESETSTAT"), ("CONFIG", "foo"),
        ("CONFIG",), ("CONFIG", "GET"), ("COMMAND", "foo"), ("COMMAND", "INFO", "nosuch"),
        ("COMMAND", "GETKEYS", "get", "k"), ("COMMAND", "GETKEYS", "mset", "a", "1", "b", "2"),
        ("COMMAND", "COUNT", "x"),
    ], pipelined=False)


def test_diff_arity_errors(pair, server):
    """Every command in the table, sent with too few arguments."""
    ours = pair[1]
    with RespConn(ours.port) as c:
        names = [n.decode() for n in c.call("COMMAND", "LIST")]
        info = c.call("COMMAND", "INFO", *names)
    steps = []
    for entry in info:
        name, arity = entry[0].decode(), entry[1]
        need = arity if arity > 0 else -arity
        if need > 1 and name not in ("quit",):
            steps.append((name,))
            steps.append((name.upper(),) + ("x",) * (need - 2))
    run(pair, steps)


def test_diff_resp3(pair):
    run(pair, [
        Hello("HELLO", "3"), ("GET", "nokey"), ("MGET", "a", "b"), ("SET", "k", "v"),
        ("SET", "k", "v2", "GET"), ("SET", "n", "v", "NX", "GET"), ("GETDEL", "nokey"),
        ("CONFIG", "GET", "save"), ("CONFIG", "GET", "nosuch"), ("INCRBYFLOAT", "f", "1.5"),
        ("CLIENT", "GETNAME"), ("EXISTS", "k"), ("TTL", "k"), Shape("RANDOMKEY"), ("DEL", "k"),
        ("KEYS", "k*"), ("COMMAND", "INFO", "nosuch"), ("SET", "k", "v", "XX"),
        Keyspace(), ("INFO", "nosuchsection"), ("RESET",), ("GET", "nokey"),
    ], pipelined=False)


def test_diff_info_keyspace(pair):
    run(pair, [
        Keyspace(), ("SET", "x", "1", "EX", "100"), ("SET", "y", "1"), Keyspace(),
        ("PERSIST", "x"), Keyspace(), ("DEL", "x", "y"), Keyspace(), ("INFO", "nosuch"),
    ])


def test_diff_binary_and_sizes(pair):
    blob = bytes(range(256))
    key = blob[:200]  # stashd keys are at most 250 bytes
    run(pair, [
        ("SET", key, blob), ("GET", key), ("APPEND", key, blob), ("STRLEN", key),
        ("GETRANGE", key, "250", "260"), ("SET", "big", b"x" * 500000), ("STRLEN", "big"),
        ("GETRANGE", "big", "-3", "-1"), ("SETRANGE", "big", "499999", "yz"),
        ("GETRANGE", "big", "-3", "-1"), ("APPEND", "big", "w"), ("STRLEN", "big"),
        Sorted("KEYS", b"\x00*"), ("EXISTS", key, "big"), ("DEL", key, "big"),
    ])


@pytest.mark.parametrize("data", [
    b"*abc\r\n", b"*1\r\n+PING\r\n", b"*1\r\n$x\r\n",
    b"*2\r\n$3\r\nGET\r\n:1\r\n", b"*1\r\n$-1\r\n", b"*-1\r\n*1\r\n$4\r\nPING\r\n",
    b"*0\r\n*1\r\n$4\r\nPING\r\n", b"*1\r\n$0\r\n\r\n", b"*1\r\n$3\r\nfoo\r\n",
    b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2147483648\r\n",
])
def test_diff_malformed(pair, data):
    redis_srv, ours = pair
    out = []
    for port in (redis_srv.port, ours.port):
        c = RespConn(port, timeout=2)
        c.send_raw(data)
        replies = []
        try:
            while True:
                replies.append(c.read_raw())
        except (EOFError, OSError):
            pass
        out.append(replies)
        c.close()
    assert out[0] == out[1], (data, out)


@pytest.mark.skipif(not stashd_has_option("resp-port"), reason="no --resp-port yet")
def test_diff_inline(server):
    from conftest import free_port
    import socket
    redis_srv = RedisServer().start()
    port = free_port()
    server(["--resp-port", str(port)])
    time.sleep(0.2)
    req = (b"PING\r\nset k \"a\\x41\\n\"\r\nget k\r\necho 'it''s'\r\n\r\n  \r\n"
           b"echo \"a\"b\r\n")
    out = []
    for p in (redis_srv.port, port):
        s = socket.create_connection(("127.0.0.1", p), timeout=2)
        s.sendall(req)
        got = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                got += d
        except OSError:
            pass
        s.close()
        out.append(got)
    redis_srv.stop()
    assert out[0] == out[1]
