"""Bitmaps, LCS, keyspace inspection, CLIENT KILL and command statistics
on the real server (issue 15), with redis-py (RESP2) and raw sockets for
RESP3. Expected replies are Redis 7.0.15's; test_resp_diff_bits.py sends
the same commands to redis-server and compares bytes.

Beyond what a differential test can show: concurrent SETBIT/BITFIELD
from several connections lose no update (read-modify-write under the
shard lock); CLIENT KILL closes connections on every worker thread, of
any protocol, with every filter; LCS refuses a table over its bounds
with a clear error; the counters of INFO commandstats sum every worker.
"""

import re
import socket
import threading
import time

import pytest
import redis

from conftest import HOST, IS_MEMCACHED, Conn
from resp_util import Map, Null, RespConn, Verbatim

pytestmark = pytest.mark.skipif(IS_MEMCACHED, reason="memcached does not speak RESP")


@pytest.fixture
def srv(server):
    return server(["-t", "4"])


@pytest.fixture
def r(srv):
    c = redis.Redis(host=HOST, port=srv.port, socket_timeout=5)
    yield c
    c.close()


# --------------------------------------------------------------------------
# Bitmaps


def test_setbit_getbit(r):
    assert r.setbit("b", 7, 1) == 0
    assert r.setbit("b", 7, 1) == 1
    assert r.get("b") == b"\x01"
    assert r.getbit("b", 7) == 1 and r.getbit("b", 0) == 0 and r.getbit("b", 10**6) == 0
    assert r.setbit("b", 23, 1) == 0
    assert r.get("b") == b"\x01\x00\x01"
    assert r.getbit("nokey", 3) == 0
    with pytest.raises(redis.ResponseError, match="bit offset is not an integer or out of range"):
        r.setbit("b", -1, 1)
    with pytest.raises(redis.ResponseError, match="bit offset is not an integer or out of range"):
        r.setbit("b", 8 * 1024 * 1024, 1)
    with pytest.raises(redis.ResponseError, match="bit is not an integer or out of range"):
        r.execute_command("SETBIT", "b", "1", "2")


def test_setbit_keeps_flags_and_ttl(srv, r):
    mc = Conn(srv.port)
    assert mc.store(b"m", b"A", flags=42, exptime=100) == b"STORED\r\n"
    assert r.setbit("m", 6, 1) == 0  # 'A' = 0x41 -> 0x43
    assert mc.get_value(b"m") == (42, b"C")
    assert 90 <= r.ttl("m") <= 100
    assert r.bitfield("m").set("u8", 8, 66).execute() == [0]
    assert mc.get_value(b"m") == (42, b"CB")
    assert 90 <= r.ttl("m") <= 100


def test_bitcount_bitpos(r):
    r.set("k", "foobar")
    assert r.bitcount("k") == 26
    assert r.bitcount("k", 0, 0) == 4
    assert r.bitcount("k", 1, 1) == 6
    assert r.bitcount("k", 5, 30, "BIT") == 17
    assert r.bitcount("nokey") == 0
    r.set("p", b"\xff\xf0\x00")
    assert r.bitpos("p", 0) == 12
    assert r.bitpos("p", 1, 2) == -1
    assert r.bitpos("p", 0, 0, 11, "BIT") == -1
    assert r.bitpos("p", 0, 0, 12, "BIT") == 12
    assert r.bitpos("nokey", 0) == 0 and r.bitpos("nokey", 1) == -1
    r.set("ones", b"\xff\xff")
    assert r.bitpos("ones", 0) == 16  # no end: padded with zeros
    assert r.bitpos("ones", 0, 0, -1) == -1
    with pytest.raises(redis.ResponseError, match="The bit argument must be 1 or 0"):
        r.execute_command("BITPOS", "p", "2")


def test_bitop(r):
    r.set("a", b"\xff\x0f")
    r.set("b", b"\x0f")
    assert r.bitop("AND", "d", "a", "b") == 2
    assert r.get("d") == b"\x0f\x00"
    assert r.bitop("OR", "d", "a", "b") == 2 and r.get("d") == b"\xff\x0f"
    assert r.bitop("XOR", "d", "a", "b") == 2 and r.get("d") == b"\xf0\x0f"
    assert r.bitop("NOT", "d", "a") == 2 and r.get("d") == b"\x00\xf0"
    r.set("d", "x", ex=100)
    assert r.bitop("OR", "d", "a") == 2 and r.ttl("d") == -1  # stored as SET stores
    assert r.bitop("AND", "d", "nokey") == 0 and r.exists("d") == 0
    with pytest.raises(redis.ResponseError, match="BITOP NOT must be called with a single"):
        r.bitop("NOT", "d", "a", "b")
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.bitop("NAND", "d", "a")


def test_bitop_many_sources(r):
    keys = []
    for i in range(100):
        r.setbit("src%d" % i, i, 1)
        keys.append("src%d" % i)
    assert r.bitop("OR", "all", *keys) == 13
    assert r.bitcount("all") == 100
    assert r.bitop("AND", "none", *keys) == 13 and r.bitcount("none") == 0


def test_bitfield(r):
    bf = r.bitfield("f")
    assert bf.set("i8", 0, 100).get("i8", 0).incrby("i8", 0, 100).execute() == [0, 100, -56]
    assert r.bitfield("f", default_overflow="SAT").incrby("i8", 0, -300).execute() == [-128]
    assert r.bitfield("f", default_overflow="FAIL").incrby("i8", 0, -1).execute() == [None]
    assert r.bitfield("f").get("i8", 0).execute() == [-128]
    assert r.bitfield("f").set("u8", "#1", 255).get("u16", "#0").execute() == [0, 33023]
    r.bitfield("f").set("i64", 0, -1).execute()
    assert r.bitfield("f").get("i64", 0).get("u63", 0).execute() == [-1, 2**63 - 1]
    raw = RespConn(r.connection_pool.connection_kwargs["port"])
    assert raw.call_raw("BITFIELD_RO", "f", "GET", "i8", "0") == b"*1\r\n:-1\r\n"
    assert raw.call_raw("BITFIELD_RO", "f", "SET", "i8", "0", "1") == \
        b"-ERR BITFIELD_RO only supports the GET subcommand\r\n"
    assert raw.call_raw("BITFIELD", "f", "GET", "u64", "0").startswith(
        b"-ERR Invalid bitfield type")
    raw.close()
    with pytest.raises(redis.ResponseError, match="Invalid OVERFLOW type"):
        r.execute_command("BITFIELD", "f", "OVERFLOW", "MAYBE", "GET", "i8", "0")


def test_bitfield_grows_past_limit_refused(server):
    s = server(["-I", "1m"])
    r = redis.Redis(host=HOST, port=s.port, socket_timeout=5)
    top = 8 * 1024 * 1024 - 8
    with pytest.raises(redis.ResponseError, match="string exceeds maximum allowed size"):
        r.bitfield("g").set("i64", top, 1).execute()
    assert r.exists("g") == 0  # the whole BITFIELD refused, nothing written
    with pytest.raises(redis.ResponseError, match="bit offset is not an integer or out of range"):
        r.setbit("g", top, 1)  # its byte cannot be held with a header and a key
    assert r.setbit("g", 8 * 1000 * 1000, 1) == 0
    assert r.strlen("g") == 1000 * 1000 + 1
    r.close()


def _hammer(port, n, fn):
    errors = []

    def run(i):
        try:
            c = redis.Redis(host=HOST, port=port, socket_timeout=10)
            for j in range(n):
                fn(c, i, j)
            c.close()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors


@pytest.mark.time_limit(60)
def test_concurrent_bit_writes_lose_nothing(srv, r):
    # Eight connections spread over four workers, each setting its own bits
    # of one shared key and incrementing one shared counter field.
    _hammer(srv.port, 300, lambda c, i, j: c.setbit("shared", i * 1000 + j, 1))
    assert r.bitcount("shared") == 8 * 300
    _hammer(srv.port, 300, lambda c, i, j: c.bitfield("ctr").incrby("u32", 0, 1).execute())
    assert r.bitfield("ctr").get("u32", 0).execute() == [8 * 300]


# --------------------------------------------------------------------------
# LCS


def test_lcs(r):
    r.mset({"k1": "ohmytext", "k2": "mynewtext"})
    assert r.lcs("k1", "k2") == b"mytext"
    assert r.lcs("k1", "k2", len=True) == 6
    got = r.lcs("k1", "k2", idx=True, minmatchlen=4, withmatchlen=True)
    assert got == [b"matches", [[[4, 7], [5, 8], 4]], b"len", 6]
    assert r.lcs("nokey", "k2") == b""
    with pytest.raises(redis.ResponseError, match="please just use IDX"):
        r.execute_command("LCS", "k1", "k2", "LEN", "IDX")


def test_lcs_bounded_by_item_limit(server):
    """The table takes 4*(n+1)*(m+1) bytes: past -I (as Redis past
    proto-max-bulk-len) and past 16 MiB whatever -I, it is refused."""
    s = server(["-I", "1m"])
    r = redis.Redis(host=HOST, port=s.port, socket_timeout=5)
    r.mset({"a": "x" * 511, "b": "y" * 511})  # 4 * 512 * 512 = 1 MiB: fits
    assert r.lcs("a", "b") == b""
    r.set("b", "x" * 512)  # 4 * 512 * 513 > 1 MiB
    with pytest.raises(redis.ResponseError,
                       match="transient memory for LCS exceeds proto-max-bulk-len"):
        r.lcs("a", "b", len=True)
    r.close()
    s = server(["-I", "1g", "-m", "2048"])
    r = redis.Redis(host=HOST, port=s.port, socket_timeout=5)
    r.mset({"a": "ab" * 1000, "b": "ba" * 1000})  # 4 * 2001 * 2001 < 16 MiB
    assert r.lcs("a", "b", len=True) == 1999
    r.set("b", "ba" * 1100)  # 4 * 2001 * 2201 > 16 MiB
    with pytest.raises(redis.ResponseError, match="exceeds stashd's 16 MiB limit"):
        r.lcs("a", "b")
    big = "z" * (4 << 20)
    r.mset({"a": big, "b": big})  # would be 64 TiB in Redis without its check
    t = time.monotonic()
    with pytest.raises(redis.ResponseError, match="transient memory for LCS"):
        r.lcs("a", "b")
    assert time.monotonic() - t < 2
    assert r.ping()
    r.close()


# --------------------------------------------------------------------------
# TOUCH, OBJECT, MEMORY


def test_touch_object_memory(srv, r):
    r.mset({"a": "1", "b": "hello", "long": "x" * 100})
    assert r.touch("a", "b", "nokey", "a") == 3
    assert r.object("encoding", "a") == b"int"
    assert r.object("encoding", "b") == b"embstr"
    assert r.object("encoding", "long") == b"raw"
    assert r.object("encoding", "nokey") is None
    assert r.object("refcount", "a") == 1
    assert r.object("idletime", "b") in (0, 1)
    with pytest.raises(redis.ResponseError, match="An LFU maxmemory policy is not selected"):
        r.object("freq", "a")
    usage = r.memory_usage("long")
    # header + key + value, rounded up to the slab class
    assert 4 + 100 < usage < 4 + 100 + 100
    assert r.memory_usage("a") < usage
    assert r.memory_usage("nokey") is None
    big = "y" * 600000
    r.set("big", big)
    assert len(big) < r.memory_usage("big", samples=0) < len(big) + 4096


def test_object_idletime_not_an_access(srv, r):
    r.set("k", "v")
    time.sleep(2.2)
    assert r.object("idletime", "k") >= 2
    assert r.object("idletime", "k") >= 2  # OBJECT does not touch
    assert r.touch("k") == 1
    assert r.object("idletime", "k") == 0


def test_refcount_without_eviction(server):
    s = server(["-M"])
    r = redis.Redis(host=HOST, port=s.port, socket_timeout=5)
    r.mset({"small": "42", "large": "10000"})
    assert r.object("refcount", "small") == 2147483647  # Redis's shared integers
    assert r.object("refcount", "large") == 1
    r.close()


def test_resp3_replies(srv):
    c = RespConn(srv.port)
    c.call("HELLO", "3")
    assert c.call("OBJECT", "ENCODING", "nokey") == Null("_")
    assert c.call("MEMORY", "USAGE", "nokey") == Null("_")
    c.call("MSET", "k1", "ohmytext", "k2", "mynewtext")
    got = c.call("LCS", "k1", "k2", "IDX", "MINMATCHLEN", "4")
    assert isinstance(got, Map) and got == [(b"matches", [[[4, 7], [5, 8]]]), (b"len", 6)]
    assert c.call("BITFIELD", "f", "OVERFLOW", "FAIL", "INCRBY", "u2", "0", "5") == [Null("_")]
    info = c.call("INFO", "commandstats")
    assert isinstance(info, Verbatim) and b"cmdstat_lcs:calls=1," in info
    c.close()


# --------------------------------------------------------------------------
# INFO commandstats and errorstats


def _section(r, name):
    return r.info(name)


def test_commandstats_sum_workers(srv):
    # Connections land on different workers; the sums cover them all.
    conns = [redis.Redis(host=HOST, port=srv.port, socket_timeout=5) for _ in range(8)]
    for c in conns:
        c.set("k", "v")
        c.get("k")
        c.get("k")
        with pytest.raises(redis.ResponseError):
            c.execute_command("GET")
        with pytest.raises(redis.ResponseError):
            c.execute_command("SETBIT", "k", "-1", "1")
    st = conns[0].info("commandstats")
    assert st["cmdstat_set"]["calls"] == 8
    assert st["cmdstat_get"]["calls"] == 16 and st["cmdstat_get"]["rejected_calls"] == 8
    assert st["cmdstat_setbit"]["failed_calls"] == 8
    assert st["cmdstat_get"]["usec"] >= 0 and "usec_per_call" in st["cmdstat_get"]
    es = conns[0].info("errorstats")
    assert es["errorstat_ERR"] == "count=16"  # redis-py 4.3 leaves one pair as text
    assert conns[0].info("stats")["total_error_replies"] == 16
    conns[0].config_resetstat()
    st = conns[0].info("commandstats")
    assert "cmdstat_set" not in st and "cmdstat_get" not in st
    assert conns[0].info("errorstats") == {}
    for c in conns:
        c.close()


def test_errorstats_prefixes(server):
    s = server(["--requirepass", "pw"])
    c = RespConn(s.port)
    assert c.call_raw("GET", "k").startswith(b"-NOAUTH")
    assert c.call_raw("AUTH", "bad").startswith(b"-WRONGPASS")
    assert c.call_raw("AUTH", "pw") == b"+OK\r\n"
    assert c.call_raw("HELLO", "9").startswith(b"-NOPROTO")
    text = c.call("INFO", "errorstats").decode()
    assert "errorstat_NOAUTH:count=1\r\n" in text
    assert "errorstat_WRONGPASS:count=1\r\n" in text
    assert "errorstat_NOPROTO:count=1\r\n" in text
    cs = c.call("INFO", "commandstats").decode()
    assert "cmdstat_get:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0" in cs
    assert re.search(r"cmdstat_auth:calls=2,.*failed_calls=1", cs)
    c.close()


def test_info_sections_combined(srv, r):
    assert set(r.info("server", "clients")) >= {"redis_version", "connected_clients"}
    c = RespConn(srv.port)
    text = c.call("INFO", "default").decode()
    assert "# Errorstats" in text and "# Commandstats" not in text
    text = c.call("INFO", "everything").decode()
    assert "# Commandstats" in text and "# Keyspace" in text
    c.close()


# --------------------------------------------------------------------------
# CLIENT KILL


def _ids(conns):
    return [c.call("CLIENT", "ID") for c in conns]


def test_client_kill_by_id_any_worker(srv):
    me = RespConn(srv.port)
    others = [RespConn(srv.port) for _ in range(8)]  # spread over the 4 workers
    ids = _ids(others)
    listed = me.call("CLIENT", "LIST").decode()
    for i in ids:
        assert "id=%d " % i in listed
    for c, i in zip(others, ids):
        assert me.call("CLIENT", "KILL", "ID", str(i)) == 1
        assert c.is_closed(2)
    assert me.call("CLIENT", "KILL", "ID", str(ids[0])) == 0
    assert me.call("PING") == b"PONG"
    me.close()


def test_client_kill_filters(srv):
    me = RespConn(srv.port)
    a, b = RespConn(srv.port), RespConn(srv.port)
    mc = Conn(srv.port)  # a memcached client is a client too
    assert mc.store(b"x", b"1") == b"STORED\r\n"
    for conn in (a, b):  # taken in by their workers (see below)
        assert conn.call("PING") == b"PONG"
    a_addr = "%s:%d" % a.sock.getsockname()
    # the old form: OK, or an error when nothing matched
    assert me.call("CLIENT", "KILL", a_addr) == b"OK"
    assert a.is_closed(2)
    assert str(me.call("CLIENT", "KILL", a_addr)) == "ERR No such client"
    laddr = "%s:%d" % me.sock.getpeername()
    assert me.call("CLIENT", "KILL", "LADDR", "1.2.3.4:5") == 0
    # LADDR matches everyone here; SKIPME yes (the default) spares the caller
    assert me.call("CLIENT", "KILL", "LADDR", laddr) == 2
    assert b.is_closed(2) and mc.is_closed(2)
    assert me.call("PING") == b"PONG"
    c = RespConn(srv.port)
    # a round trip first: a connect() returns once the kernel queued it,
    # before the worker has taken the connection in (seen under TSan)
    assert c.call("PING") == b"PONG"
    assert me.call("CLIENT", "KILL", "USER", "default", "SKIPME", "yes") == 1
    assert c.is_closed(2)
    assert me.call("CLIENT", "KILL", "TYPE", "pubsub") == 0
    # SKIPME no: the caller gets its reply, then its connection closes
    me.send("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no")
    assert me.read() == 1
    assert me.is_closed(2)


def test_client_kill_user(server):
    s = server(["--requirepass", "pw"])
    u = RespConn(s.port)
    assert u.call("AUTH", "default", "pw") == b"OK"
    me = RespConn(s.port)
    assert me.call("AUTH", "pw") == b"OK"
    assert me.call("CLIENT", "KILL", "USER", "alice") == 0
    assert me.call("CLIENT", "KILL", "USER", "default") == 1
    assert u.is_closed(2)
    me.close()


@pytest.mark.time_limit(60)
def test_client_kill_concurrent_no_deadlock(srv):
    """Every worker killing at once: each serves the others' requests
    while it waits for its own."""
    victims = [RespConn(srv.port) for _ in range(16)]
    killers = [RespConn(srv.port) for _ in range(8)]
    ids = _ids(victims)
    for k in killers:
        k.send("CLIENT", "KILL", "TYPE", "replica")
    for k in killers:
        assert k.read() == 0
    for rounds in range(20):
        for k in killers:
            k.send("CLIENT", "KILL", "ID", "999999")
        for k in killers:
            assert k.read() == 0
    for k, i in zip(killers, ids):
        k.send("CLIENT", "KILL", "ID", str(i))
    assert sum(k.read() for k in killers) == 8
    for k in killers:
        assert k.call("PING") == b"PONG"
        k.close()
    for v in victims:
        v.close()
