"""The Redis protocol on the real server (issue 4).

redis-py (RESP2) drives every command; raw sockets check RESP3 replies,
inline commands and malformed input byte for byte; redis-cli and
redis-benchmark must run without an error; values cross between the
memcached and Redis protocols. Expected replies are Redis 7.0.15's (see
test_resp_diff.py for the same commands sent to both servers).

A RESP client on the main port is recognised by its first byte ('*').
Inline commands need the RESP-only port (--resp-port) and the password
tests --requirepass: those tests are skipped when the binary lacks the
option.
"""

import os
import socket
import subprocess
import time

import pytest
import redis

from conftest import HOST, IS_MEMCACHED, free_port
from resp_util import (REDIS_BENCHMARK, REDIS_CLI, Err, Map, Null, RespConn, Verbatim, encode,
                       stashd_has_option)

pytestmark = pytest.mark.skipif(IS_MEMCACHED, reason="memcached does not speak RESP")

ITEM_MAX = 1024 * 1024  # -I default


@pytest.fixture
def srv(server):
    return server()


@pytest.fixture
def r(srv):
    c = redis.Redis(host=HOST, port=srv.port, socket_timeout=5)
    yield c
    c.close()


@pytest.fixture
def raw(srv):
    c = RespConn(srv.port)
    yield c
    c.close()


def err_text(excinfo):
    return str(excinfo.value)


# --------------------------------------------------------------------------
# Connection commands

def test_ping_echo_select_time(r):
    assert r.ping() is True
    assert r.echo(b"hello") == b"hello"
    assert r.execute_command("SELECT", 0) is True
    with pytest.raises(redis.ResponseError, match="DB index is out of range"):
        r.execute_command("SELECT", 16)
    sec, usec = r.time()
    assert abs(sec - time.time()) < 5 and 0 <= usec < 1000000


def test_unknown_command_keeps_connection(raw):
    assert raw.call_raw("NOSUCH", "a", "b") == (
        b"-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' \r\n")
    assert raw.call_raw("GET") == b"-ERR wrong number of arguments for 'get' command\r\n"
    assert raw.call_raw("PING") == b"+PONG\r\n"


def test_quit_closes(raw):
    assert raw.call_raw("QUIT") == b"+OK\r\n"
    assert raw.is_closed()


def test_hello_and_resp3(raw):
    h = raw.call("HELLO", "3", "SETNAME", "it")
    assert isinstance(h, Map)
    d = dict(h)
    assert d[b"server"] == b"redis" and d[b"proto"] == 3 and d[b"mode"] == b"standalone"
    assert isinstance(d[b"id"], int) and d[b"modules"] == []
    # RESP3 encodings: null, map, verbatim, set.
    assert raw.call_raw("GET", "nokey") == b"_\r\n"
    assert raw.call_raw("MGET", "a", "b") == b"*2\r\n_\r\n_\r\n"
    assert raw.call_raw("CLIENT", "GETNAME") == b"$2\r\nit\r\n"
    cfg = raw.call("CONFIG", "GET", "maxmemory")
    assert isinstance(cfg, Map) and cfg[0][0] == b"maxmemory"
    info = raw.call("INFO", "server")
    assert isinstance(info, Verbatim) and info.startswith(b"# Server\r\nredis_version:")
    ci = raw.call("COMMAND", "INFO", "get")
    assert ci[0][2] == [b"readonly", b"fast"]
    assert raw.call_raw("HELLO", "4") == b"-NOPROTO unsupported protocol version\r\n"
    # RESET: back to RESP2.
    assert raw.call_raw("RESET") == b"+RESET\r\n"
    assert raw.call_raw("GET", "nokey") == b"$-1\r\n"


def test_client_commands(r):
    assert r.client_getname() is None
    assert r.client_setname("worker-1") is True
    assert r.client_getname() == "worker-1"
    cid = r.client_id()
    assert isinstance(cid, int) and cid > 0
    info = r.client_info()
    assert info["id"] == cid and info["name"] == "worker-1"
    assert isinstance(r.client_list(), list) and len(r.client_list()) >= 1
    assert r.execute_command("CLIENT", "NO-EVICT", "on") == b"OK"
    assert r.execute_command("CLIENT", "NO-TOUCH", "off") == b"OK"
    assert r.execute_command("CLIENT", "KILL", "ID", 999999) == 0
    with pytest.raises(redis.ResponseError, match="No such client"):
        r.execute_command("CLIENT", "KILL", "1.2.3.4:5")
    with pytest.raises(redis.ResponseError, match="unknown subcommand 'foo'"):
        r.execute_command("CLIENT", "foo")
    with pytest.raises(redis.ResponseError, match="Client names cannot contain spaces"):
        r.client_setname("a b")


def test_auth_without_password(r):
    with pytest.raises(redis.ResponseError, match="without any password configured"):
        r.execute_command("AUTH", "x")
    assert r.execute_command("AUTH", "default", "whatever") is True


@pytest.mark.skipif(not stashd_has_option("requirepass"), reason="no --requirepass yet")
def test_requirepass(server):
    s = server(["--requirepass", "s3cret"])
    c = RespConn(s.port)
    assert c.call_raw("GET", "k") == b"-NOAUTH Authentication required.\r\n"
    assert c.call_raw("PING") == b"-NOAUTH Authentication required.\r\n"
    assert c.call_raw("NOSUCH").startswith(b"-ERR unknown command")
    assert c.call_raw("HELLO", "3").startswith(b"-NOAUTH HELLO must be called")
    assert c.call_raw("AUTH", "wrong") == (
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n")
    assert c.call_raw("AUTH", "s3cret") == b"+OK\r\n"
    assert c.call_raw("GET", "k") == b"$-1\r\n"
    assert c.call_raw("RESET") == b"+RESET\r\n"
    assert c.call_raw("GET", "k") == b"-NOAUTH Authentication required.\r\n"
    assert c.call_raw("AUTH", "default", "s3cret") == b"+OK\r\n"
    c.close()
    c = RespConn(s.port)
    assert c.call("HELLO", "3", "AUTH", "default", "s3cret")[0] == (b"server", b"redis")
    assert c.call_raw("QUIT") == b"+OK\r\n"
    c.close()
    good = redis.Redis(host=HOST, port=s.port, password="s3cret", socket_timeout=5)
    assert good.set("k", "v") is True and good.get("k") == b"v"
    bad = redis.Redis(host=HOST, port=s.port, password="nope", socket_timeout=5)
    with pytest.raises((redis.AuthenticationError, redis.ResponseError), match="WRONGPASS"):
        bad.get("k")


# --------------------------------------------------------------------------
# Strings

def test_set_get_options(r):
    assert r.set("k", "v") is True
    assert r.get("k") == b"v"
    assert r.get("nokey") is None
    assert r.set("k", "v2", nx=True) is None
    assert r.set("k2", "v", xx=True) is None
    assert r.set("k", "v3", xx=True) is True
    assert r.set("k", "v4", get=True) == b"v3"
    assert r.set("new", "x", get=True) is None
    assert r.set("k", "v5", ex=100) is True
    assert r.ttl("k") == 100
    assert r.set("k", "v6", keepttl=True) is True
    assert r.ttl("k") == 100
    assert r.set("k", "v7", px=5000) is True
    assert 4000 < r.pttl("k") <= 5000
    assert r.set("k", "v8", exat=int(time.time()) + 50) is True
    assert 48 <= r.ttl("k") <= 50
    assert r.set("k", "v9", pxat=4102444800123) is True
    assert r.execute_command("PEXPIRETIME", "k") == 4102444800123
    assert r.set("k", "gone", exat=1) is True
    assert r.get("k") is None
    for bad, msg in (((
            "SET", "k", "v", "EX", 0), "invalid expire time in 'set' command"),
            (("SET", "k", "v", "EX", "abc"), "value is not an integer or out of range"),
            (("SET", "k", "v", "NX", "XX"), "syntax error"),
            (("SET", "k", "v", "KEEPTTL", "EX", 1), "syntax error")):
        with pytest.raises(redis.ResponseError, match=msg):
            r.execute_command(*bad)


def test_binary_and_large_values(r):
    blob = bytes(range(256)) * 100
    assert r.set(b"bin\x00key", blob)
    assert r.get(b"bin\x00key") == blob
    big = b"x" * (ITEM_MAX - 1000)
    assert r.set("big", big)
    assert r.get("big") == big
    assert r.strlen("big") == len(big)
    with pytest.raises(redis.ResponseError, match="string exceeds maximum allowed size"):
        r.set("big", b"y" * (ITEM_MAX - 10))


def test_empty_and_long_keys(r):
    with pytest.raises(redis.ResponseError, match="invalid key length"):
        r.set("", "v")
    with pytest.raises(redis.ResponseError, match="invalid key length"):
        r.set("k" * 251, "v")
    assert r.set("k" * 250, "v") is True
    assert r.get("k" * 251) is None


def test_pipelined_gets_every_name_case_and_key_length(raw):
    """The look-ahead memos a GET without walking it: any case of the
    name, keys of 1 to 3-digit lengths, beside requests it must hand to
    the parser (an empty key, a wrong arity, a GET in another shape) and
    a count that lies, which stays a protocol error."""
    keys = [b"k%d" % n + b"x" * n for n in range(0, 260, 3)]
    keys = [k[:250] for k in keys]
    for k in keys:
        assert raw.call("SET", k, k[::-1]) == b"OK"
    req, want = bytearray(), []
    for i, k in enumerate(keys):
        name = (b"GET", b"get", b"gEt")[i % 3]
        req += encode(name, k)
        want.append(k[::-1])
        req += encode(b"GET", b"")
        want.append(Null("$-1"))
        req += encode(b"GET", k, k)
        want.append(Err)
        req += b"*2\r\n$03\r\nGET\r\n$%d\r\n%s\r\n" % (len(k), k)
        want.append(k[::-1])
    raw.send_raw(bytes(req))
    for w in want:
        got = raw.read()
        if w is Err:
            assert isinstance(got, Err) and "wrong number of arguments" in str(got)
        else:
            assert got == w
    raw.send_raw(b"*2\r\n$3\r\nGET\r\n$5\r\nabc\r\nPING\r\n")
    got = raw.read()
    assert isinstance(got, Err) and "Protocol error" in str(got)
    assert raw.is_closed()


def test_setnx_setex_getset_getdel_getex(r):
    assert r.setnx("k", "v") is True
    assert r.setnx("k", "w") is False
    assert r.setex("e", 10, "v") is True and r.ttl("e") == 10
    assert r.psetex("p", 2000, "v") is True and 1000 < r.pttl("p") <= 2000
    assert r.getset("k", "w") == b"v"
    assert r.getdel("k") == b"w"
    assert r.getdel("k") is None
    r.set("g", "v")
    assert r.getex("g", ex=30) == b"v" and r.ttl("g") == 30
    assert r.getex("g", persist=True) == b"v" and r.ttl("g") == -1
    assert r.getex("g", px=4000) == b"v" and 3000 < r.pttl("g") <= 4000
    assert r.getex("nokey", ex=10) is None
    with pytest.raises(redis.ResponseError, match="invalid expire time in 'setex'"):
        r.execute_command("SETEX", "k", 0, "v")


def test_mget_mset_msetnx(r):
    assert r.mset({"a": "1", "b": "2"}) is True
    assert r.mget("a", "nokey", "b") == [b"1", None, b"2"]
    assert r.msetnx({"a": "x", "c": "3"}) is False
    assert r.exists("c") == 0
    assert r.msetnx({"c": "3", "d": "4"}) is True
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'mset'"):
        r.execute_command("MSET", "a", "1", "b")


def test_counters(r):
    assert r.incr("n") == 1
    assert r.incrby("n", 41) == 42
    assert r.decr("n") == 41
    assert r.decrby("n", 50) == -9
    r.set("n", str(2**63 - 1))
    with pytest.raises(redis.ResponseError, match="increment or decrement would overflow"):
        r.incr("n")
    r.set("s", "abc")
    with pytest.raises(redis.ResponseError, match="value is not an integer or out of range"):
        r.incr("s")
    with pytest.raises(redis.ResponseError, match="decrement would overflow"):
        r.execute_command("DECRBY", "n", str(-2**63))
    r.set("f", "10.5")
    assert r.incrbyfloat("f", 0.1) == pytest.approx(10.6)
    assert r.get("f") == b"10.6"
    r.set("f", "3.0e3")
    assert r.incrbyfloat("f", 200) == 3200.0
    assert r.get("f") == b"3200"
    with pytest.raises(redis.ResponseError, match="value is not a valid float"):
        r.incrbyfloat("s", 1)
    with pytest.raises(redis.ResponseError, match="would produce NaN or Infinity"):
        r.execute_command("INCRBYFLOAT", "f", "inf")
    r.set("t", "5", ex=100)
    assert r.incr("t") == 6 and r.ttl("t") == 100


def test_append_ranges(r):
    assert r.append("a", "hello") == 5
    assert r.append("a", " world") == 11
    assert r.strlen("a") == 11 and r.strlen("nokey") == 0
    assert r.getrange("a", 0, 4) == b"hello"
    assert r.getrange("a", -5, -1) == b"world"
    assert r.getrange("a", 5, 1) == b""
    assert r.getrange("nokey", 0, 10) == b""
    assert r.setrange("a", 6, "Redis") == 11 and r.get("a") == b"hello Redis"
    assert r.setrange("z", 3, "x") == 4 and r.get("z") == b"\x00\x00\x00x"
    assert r.setrange("nokey2", 0, "") == 0 and r.exists("nokey2") == 0
    with pytest.raises(redis.ResponseError, match="offset is out of range"):
        r.setrange("a", -1, "x")
    with pytest.raises(redis.ResponseError, match="string exceeds maximum allowed size"):
        r.setrange("a", 536870912, "x")


# --------------------------------------------------------------------------
# Keyspace

def test_del_exists_type_dbsize(r):
    r.mset({"a": 1, "b": 2, "c": 3})
    assert r.exists("a", "b", "a", "nokey") == 3
    assert r.type("a") == b"string" and r.type("nokey") == b"none"
    assert r.delete("a", "nokey") == 1
    assert r.unlink("b", "c") == 2
    assert r.dbsize() == 0


def test_expire_family(r):
    r.set("k", "v")
    assert r.expire("k", 100) is True and r.ttl("k") == 100
    assert r.expire("k", 50, nx=True) is False
    assert r.expire("k", 200, xx=True) is True
    assert r.expire("k", 100, gt=True) is False
    assert r.expire("k", 300, gt=True) is True
    assert r.expire("k", 100, lt=True) is True and r.ttl("k") == 100
    assert r.pexpire("k", 5000) is True and 4000 < r.pttl("k") <= 5000
    assert r.expireat("k", 4102444800) is True
    assert r.expiretime("k") == 4102444800
    assert r.pexpireat("k", 4102444800123) is True
    assert r.execute_command("PEXPIRETIME", "k") == 4102444800123
    assert r.persist("k") is True and r.persist("k") is False
    assert r.ttl("k") == -1 and r.pttl("k") == -1 and r.expiretime("k") == -1
    assert r.ttl("nokey") == -2 and r.expire("nokey", 10) is False
    assert r.expire("k", 0) is True and r.exists("k") == 0
    r.set("k", "v")
    assert r.pexpire("k", 150) is True
    time.sleep(0.3)
    assert r.get("k") is None and r.ttl("k") == -2
    with pytest.raises(redis.ResponseError, match="NX and XX, GT or LT options"):
        r.execute_command("EXPIRE", "k", 10, "NX", "GT")
    with pytest.raises(redis.ResponseError, match="Unsupported option foo"):
        r.execute_command("EXPIRE", "k", 10, "foo")


def test_whole_second_deadline_passes_on_time(srv, r):
    # A deadline on a whole second keeps no millisecond field and is checked
    # on the coarse clock: that clock's second must turn with the wall
    # clock's, or the key outlives its deadline by up to a second.
    # (How late the old clock was depends on when in its second the server
    # started, so one deadline tells.) The same holds for memcached's
    # absolute exptime, text and meta, on the same keyspace.
    at = int(time.time()) + 2
    r.set("k", "v", exat=at)
    r.set("p", "v", pxat=at * 1000)
    with socket.create_connection((HOST, srv.port), timeout=5) as mc:

        def ask(req):
            mc.sendall(req + b"mn\r\n")
            got = b""
            while not got.endswith(b"MN\r\n"):
                chunk = mc.recv(4096)
                assert chunk, got
                got += chunk
            return got

        assert ask(b"set t 0 %d 1\r\nx\r\nms m 1 T%d\r\ny\r\n" % (at, at)) == \
            b"STORED\r\nHD\r\nMN\r\n"
        assert r.get("t") == b"x" and r.get("m") == b"y"
        time.sleep(max(0.0, at + 0.3 - time.time()))
        assert ask(b"get t\r\nmg m v\r\n") == b"END\r\nEN\r\nMN\r\n"
    assert r.get("k") is None and r.get("p") is None and r.get("t") is None
    assert r.ttl("k") == -2 and r.pttl("p") == -2


def test_keys_scan_randomkey(r):
    names = [f"user:{i}" for i in range(500)] + ["other", "h?llo"]
    r.mset({n: "v" for n in names})
    assert sorted(r.keys("user:1?")) == sorted(f"user:1{i}".encode() for i in range(10))
    assert sorted(r.keys("*")) == sorted(n.encode() for n in names)
    assert r.keys("h\\?llo") == [b"h?llo"]
    seen = list(r.scan_iter(match="user:*", count=7))
    assert sorted(seen) == sorted(f"user:{i}".encode() for i in range(500))
    assert len(seen) == 500  # no duplicates while nothing changes
    assert list(r.scan_iter(_type="list")) == []
    assert len(list(r.scan_iter(_type="string"))) == 502
    assert r.randomkey() in {n.encode() for n in names}
    with pytest.raises(redis.ResponseError, match="invalid cursor"):
        r.execute_command("SCAN", "abc")
    r.flushall()
    assert r.randomkey() is None and r.dbsize() == 0


def test_scan_survives_growth(r):
    r.mset({f"old:{i}": "v" for i in range(2000)})
    seen = set()
    cursor, n = 0, 0
    while True:
        cursor, keys = r.scan(cursor, count=20)
        seen.update(keys)
        if n < 200:
            r.mset({f"new:{n}:{j}": "v" for j in range(50)})  # tables grow meanwhile
            n += 1
        if cursor == 0:
            break
    assert {f"old:{i}".encode() for i in range(2000)} <= seen


def test_flush_variants(r):
    for cmd in (("FLUSHALL",), ("FLUSHALL", "SYNC"), ("FLUSHALL", "ASYNC"), ("FLUSHDB",),
                ("FLUSHDB", "ASYNC")):
        r.set("k", "v")
        assert r.execute_command(*cmd) is True
        assert r.exists("k") == 0
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("FLUSHALL", "foo")


# --------------------------------------------------------------------------
# Server commands

def test_info_for_exporters(r):
    r.set("x", "1", ex=100)
    r.set("y", "1")
    r.get("x")
    r.get("nokey")
    info = r.info()
    for field in ("redis_version", "uptime_in_seconds", "connected_clients", "used_memory",
                  "maxmemory", "maxmemory_policy", "total_commands_processed", "keyspace_hits",
                  "keyspace_misses", "evicted_keys", "expired_keys", "role"):
        assert field in info, field
    db0 = info["db0"]
    assert db0["keys"] == 2 and db0["expires"] == 1
    assert 0 <= db0["avg_ttl"] <= 100000  # ms left, sampled (Redis's estimate)
    assert info["keyspace_hits"] >= 1 and info["keyspace_misses"] >= 1
    assert info["maxmemory"] == 64 * 1024 * 1024
    assert info["maxmemory_policy"] == "allkeys-lru"
    ks = r.info("keyspace")
    assert list(ks) == ["db0"] and ks["db0"]["keys"] == 2 and ks["db0"]["expires"] == 1
    assert r.info("nosuchsection") == {}


def test_config(r, server):
    assert r.config_get("maxmemory") == {"maxmemory": str(64 * 1024 * 1024)}
    assert r.config_get("save") == {"save": ""}
    assert r.config_get("appendonly") == {"appendonly": "no"}
    assert r.config_set("maxmemory", "128mb") is True
    assert r.config_get("maxmemory") == {"maxmemory": str(128 * 1024 * 1024)}
    assert r.config_set("save", "") is True
    assert r.config_set("appendonly", "no") is True
    with pytest.raises(redis.ResponseError, match="Unknown option"):
        r.config_set("nosuch", "1")
    with pytest.raises(redis.ResponseError, match="argument must be a memory value"):
        r.config_set("maxmemory", "lots")
    assert r.config_get("max*")["maxmemory-policy"] == "allkeys-lru"
    m = server(["-M"])
    rm = redis.Redis(host=HOST, port=m.port, socket_timeout=5)
    assert rm.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    assert rm.info("memory")["maxmemory_policy"] == "noeviction"


def test_command(r, raw):
    n = r.command_count()
    assert n >= 50
    info = raw.call("COMMAND", "INFO", "get", "set", "nosuch")
    assert info[0][0] == b"get" and info[0][1] == 2
    assert info[1][0] == b"set" and info[1][1] == -3
    assert info[2] == Null("$-1")
    assert len(raw.call("COMMAND")) == n
    assert raw.call("COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2") == [b"a", b"b"]
    docs = raw.call("COMMAND", "DOCS", "get")
    assert docs[0] == b"get"
    assert "get" in r.command()


def test_no_memory_errors(server):
    s = server(["-M", "-m", "2"])
    r = redis.Redis(host=HOST, port=s.port, socket_timeout=5)
    with pytest.raises(redis.ResponseError, match="OOM command not allowed"):
        for i in range(100000):
            r.set(f"k{i}", b"v" * 1000)
    assert r.ping() is True


# --------------------------------------------------------------------------
# Protocol

def test_pipeline_thousands(r):
    p = r.pipeline(transaction=False)
    for i in range(5000):
        p.set(f"p{i}", i)
    for i in range(5000):
        p.get(f"p{i}")
    out = p.execute()
    assert out[:5000] == [True] * 5000
    assert out[5000:] == [str(i).encode() for i in range(5000)]


def test_raw_pipeline_one_write(raw):
    n = 3000
    raw.send_raw(b"".join(b"*3\r\n$3\r\nSET\r\n$%d\r\nk%d\r\n$1\r\nv\r\n" % (len(str(i)) + 1, i)
                          for i in range(n)) + b"*1\r\n$6\r\nDBSIZE\r\n")
    for _ in range(n):
        assert raw.read_raw() == b"+OK\r\n"
    assert raw.read_raw() == b":%d\r\n" % n


def test_requests_split_byte_by_byte(raw):
    req = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"
    for i in range(len(req)):
        raw.send_raw(req[i:i + 1])
    assert raw.read_raw() == b"+OK\r\n"
    assert raw.read_raw() == b"$5\r\nvalue\r\n"


@pytest.mark.parametrize("data,reply", [
    (b"*abc\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
    (b"*1\r\n+PING\r\n", b"-ERR Protocol error: expected '$', got '+'\r\n"),
    (b"*1\r\n$x\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b"*1\r\n$4\r\nPINGxx\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n" % (ITEM_MAX + 1),
     b"-ERR Protocol error: invalid bulk length\r\n"),
])
def test_malformed_input_closes(srv, data, reply):
    c = RespConn(srv.port)
    c.send(b"PING")
    assert c.read_raw() == b"+PONG\r\n"
    c.send_raw(data)
    assert c.read_raw() == reply
    assert c.is_closed()
    c.close()
    with RespConn(srv.port) as again:  # the server lives on
        assert again.call_raw("PING") == b"+PONG\r\n"


def test_garbage_fuzz_does_not_kill(srv):
    import random
    rnd = random.Random(4)
    for _ in range(50):
        c = RespConn(srv.port, timeout=2)
        body = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 300)))
        try:
            c.send_raw(b"*" + body)
            c.is_closed(wait=0.05)
        except OSError:
            pass
        c.close()
    with RespConn(srv.port) as c:
        assert c.call_raw("PING") == b"+PONG\r\n"


@pytest.mark.skipif(not stashd_has_option("resp-port"), reason="no --resp-port yet")
def test_inline_on_resp_port(server):
    port = free_port()
    s = server(["--resp-port", str(port)])
    deadline = time.monotonic() + 5
    while True:
        try:
            sock = socket.create_connection((HOST, port), timeout=5)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    sock.sendall(b"PING\r\nset k \"a b\"\r\nget k\r\nECHO 'x y'\r\n")
    want = b"+PONG\r\n+OK\r\n$3\r\na b\r\n$3\r\nx y\r\n"
    got = b""
    while len(got) < len(want):
        got += sock.recv(4096)
    assert got == want
    sock.sendall(b"set k \"unbalanced\r\n")
    assert sock.recv(4096) == b"-ERR Protocol error: unbalanced quotes in request\r\n"
    sock.close()
    r = redis.Redis(host=HOST, port=port, socket_timeout=5)
    assert r.get("k") == b"a b"
    # The main port still serves both protocols.
    c = s.connect()
    assert c.get_value(b"k") == (0, b"a b")


def test_unix_socket(server):
    s = server(unix=True)
    r = redis.Redis(unix_socket_path=s.unix_path, socket_timeout=5)
    assert r.set("k", "v") is True and r.get("k") == b"v"


# --------------------------------------------------------------------------
# One keyspace for both protocols

def test_memcached_and_redis_share_values(srv, r):
    mc = srv.connect()
    assert mc.store(b"mk", b"hello", flags=42) == b"STORED\r\n"
    assert r.get("mk") == b"hello"  # flags ignored
    assert r.append("mk", "!") == 6
    assert mc.get_value(b"mk") == (42, b"hello!")  # APPEND kept the flags
    r.set("rk", "world")
    assert mc.get_value(b"rk") == (0, b"world")
    r.set("ctr", "10")
    mc.send(b"incr ctr 5\r\n")
    assert mc.read_until() == b"15\r\n"
    assert r.incr("ctr") == 16
    mc.send(b"delete rk\r\n")
    assert mc.read_until() == b"DELETED\r\n"
    assert r.exists("rk") == 0
    r.set("ttl", "v", ex=100)
    assert mc.get_value(b"ttl") == (0, b"v")
    mc.send(b"touch ttl 0\r\n")
    assert mc.read_until() == b"TOUCHED\r\n"
    assert r.ttl("ttl") == -1
    assert mc.store(b"e", b"v", exptime=100) == b"STORED\r\n"
    assert 98 <= r.ttl("e") <= 100


# --------------------------------------------------------------------------
# Real tools

def test_redis_cli(srv):
    def cli(*args):
        out = subprocess.run([REDIS_CLI, "-h", HOST, "-p", str(srv.port)] + list(args),
                             capture_output=True, timeout=20)
        assert out.returncode == 0, out.stderr
        return out.stdout.decode()

    assert cli("PING") == "PONG\n"
    assert cli("SET", "foo", "bar") == "OK\n"
    assert cli("GET", "foo") == "bar\n"
    assert cli("INCR", "n") == "1\n"
    assert cli("--scan", "--pattern", "f*") == "foo\n"
    assert "redis_version:" in cli("INFO")
    assert cli("DBSIZE") == "2\n"
    assert cli("-3", "HELLO", "3").startswith("server redis\nversion ")
    # The interactive mode asks COMMAND DOCS first; feed it commands.
    out = subprocess.run([REDIS_CLI, "-h", HOST, "-p", str(srv.port)], input=b"GET foo\nQUIT\n",
                         capture_output=True, timeout=20)
    assert b"bar" in out.stdout and b"ERR" not in out.stdout + out.stderr


@pytest.mark.time_limit(120)
def test_redis_benchmark(srv):
    tests = "set,get,incr,mset,ping_mbulk"
    out = subprocess.run([REDIS_BENCHMARK, "-h", HOST, "-p", str(srv.port), "-t", tests,
                          "-P", "16", "-n", "20000", "-c", "20", "-q"],
                         capture_output=True, timeout=110)
    text = (out.stdout + out.stderr).decode(errors="replace").replace("\r", "\n")
    assert out.returncode == 0, text
    assert "rror" not in text, text
    for name in ("SET", "GET", "INCR", "MSET", "PING_MBULK"):
        assert any(line.startswith(name) and "requests per second" in line
                   for line in text.splitlines()), text


@pytest.mark.time_limit(120)
@pytest.mark.skipif(not stashd_has_option("resp-port"), reason="no --resp-port yet")
def test_redis_benchmark_with_inline_ping(server):
    port = free_port()
    server(["--resp-port", str(port)])
    time.sleep(0.2)
    out = subprocess.run([REDIS_BENCHMARK, "-h", HOST, "-p", str(port), "-t",
                          "ping,set,get,incr,mset", "-P", "16", "-n", "20000", "-q"],
                         capture_output=True, timeout=110)
    text = (out.stdout + out.stderr).decode(errors="replace").replace("\r", "\n")
    assert out.returncode == 0 and "rror" not in text, text
    assert "PING_INLINE" in text
