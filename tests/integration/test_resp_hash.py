"""Redis hashes on the real server (issue 15), with redis-py (RESP2) and
raw sockets for RESP3; expected replies are Redis 7.0.15's
(test_resp_diff_hash.py compares bytes with redis-server).

Beyond what a differential test shows: a hash is bounded by -I as one
item (Redis's proto-max-bulk-len error, the hash unchanged); it expires
and is evicted as one key, never a field at a time; concurrent HINCRBY
from several connections lose no update; and the memcached protocols
(text, meta, binary) see a hash key as not a string: reads miss, delete
deletes, set/ms overwrite it with a string (as Redis's SET does), add
finds the key taken, append/prepend/touch find nothing to change.
"""

import signal
import struct
import threading
import time

import pytest
import redis
from pymemcache.client.base import Client as MemcacheClient

import mc_util
from conftest import HOST, IS_MEMCACHED, Conn
from resp_util import Map, RespConn

pytestmark = pytest.mark.skipif(IS_MEMCACHED, reason="memcached does not speak RESP")

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


@pytest.fixture
def srv(server):
    return server(["-t", "4", "-I", "64k"])


@pytest.fixture
def r(srv):
    c = redis.Redis(host=HOST, port=srv.port, socket_timeout=5)
    yield c
    c.close()


@pytest.fixture
def mcc(srv):
    c = MemcacheClient((HOST, srv.port), connect_timeout=5, timeout=5)
    yield c
    c.close()


# --------------------------------------------------------------------------
# Every command through redis-py (RESP2)


def test_hset_hget_hmget_hgetall(r):
    assert r.hset("h", "a", "1") == 1
    assert r.hset("h", mapping={"a": "2", "b": "3", "c": "4"}) == 2
    assert r.hget("h", "a") == b"2" and r.hget("h", "zz") is None and r.hget("no", "a") is None
    assert r.hmget("h", ["c", "zz", "a"]) == [b"4", None, b"2"]
    assert r.hmget("no", ["a"]) == [None]
    assert r.hgetall("h") == {b"a": b"2", b"b": b"3", b"c": b"4"}
    assert r.hgetall("no") == {}
    assert r.hmset("h", {"d": "5", "a": "6"}) is True
    assert r.hkeys("h") == [b"a", b"b", b"c", b"d"]  # insertion order, as a listpack
    assert r.hvals("h") == [b"6", b"3", b"4", b"5"]
    assert r.hkeys("no") == [] and r.hvals("no") == []
    assert r.hset("bin", b"\x00\r\n", b"\xff\x00") == 1
    assert r.hget("bin", b"\x00\r\n") == b"\xff\x00"


def test_hsetnx_hdel_hexists_hlen_hstrlen(r):
    assert r.hsetnx("h", "a", "1") == 1 and r.hsetnx("h", "a", "2") == 0
    assert r.hget("h", "a") == b"1"
    r.hset("h", mapping={"b": "22", "c": "333"})
    assert r.hlen("h") == 3 and r.hlen("no") == 0
    assert r.hexists("h", "b") is True and r.hexists("h", "z") is False
    assert r.hexists("no", "b") is False
    assert r.hstrlen("h", "c") == 3 and r.hstrlen("h", "z") == 0 and r.hstrlen("no", "z") == 0
    assert r.hdel("h", "a", "z", "a") == 1
    assert r.hdel("no", "a") == 0
    assert r.hdel("h", "b", "c") == 2
    assert r.exists("h") == 0 and r.type("h") == b"none"  # the last field takes the key


def test_hincrby_hincrbyfloat(r):
    assert r.hincrby("h", "n", 5) == 5 and r.hincrby("h", "n", -7) == -2
    assert r.hincrbyfloat("h", "f", 1.5) == 1.5
    assert r.hincrbyfloat("h", "f", 0.1) == pytest.approx(1.6)
    assert r.hget("h", "f") == b"1.6"
    r.hset("h", "s", "abc")
    with pytest.raises(redis.ResponseError, match="hash value is not an integer"):
        r.hincrby("h", "s", 1)
    with pytest.raises(redis.ResponseError, match="hash value is not a float"):
        r.hincrbyfloat("h", "s", 1)
    r.hset("h", "max", str(2**63 - 1))
    with pytest.raises(redis.ResponseError, match="increment or decrement would overflow"):
        r.hincrby("h", "max", 1)
    with pytest.raises(redis.ResponseError, match="value is not an integer"):
        r.execute_command("HINCRBY", "h", "n", "1.5")
    with pytest.raises(redis.ResponseError, match="value is not a valid float"):
        r.execute_command("HINCRBYFLOAT", "h", "f", "x")
    with pytest.raises(redis.ResponseError, match="NaN or Infinity"):
        r.execute_command("HINCRBYFLOAT", "h", "f", "inf")


def test_hrandfield(r):
    assert r.hrandfield("no") is None and r.hrandfield("no", 3) == []
    fields = {b"f%d" % i: b"v%d" % i for i in range(20)}
    r.hset("h", mapping=fields)
    assert r.hrandfield("h") in fields
    got = r.hrandfield("h", 5)
    assert len(got) == 5 and len(set(got)) == 5 and set(got) <= fields.keys()
    assert sorted(r.hrandfield("h", 50)) == sorted(fields)
    got = r.hrandfield("h", -30)
    assert len(got) == 30 and set(got) <= fields.keys()
    got = r.hrandfield("h", 4, withvalues=True)
    assert len(got) == 8 and all(fields[f] == v for f, v in zip(got[::2], got[1::2]))
    got = r.hrandfield("h", -25, withvalues=True)
    assert len(got) == 50 and all(fields[f] == v for f, v in zip(got[::2], got[1::2]))
    assert r.hrandfield("h", 0) == []


def test_hscan(r):
    assert r.hscan("no") == (0, {})
    small = {"a%d" % i: str(i) for i in range(10)}
    r.hset("s", mapping=small)
    assert r.hscan("s", match="a1*") == (0, {b"a1": b"1"})
    big = {"k%d" % i: "v%d" % i for i in range(2000)}
    r.hset("b", mapping=big)
    seen = dict(r.hscan_iter("b", count=50))
    assert seen == {k.encode(): v.encode() for k, v in big.items()}
    # COUNT is a hint: stashd answers the whole hash (at most -I bytes) in
    # one reply with cursor 0, as Redis does for a listpack.
    assert r.hscan("b", 0, count=10) == (0, {k.encode(): v.encode() for k, v in big.items()})
    assert dict(r.hscan_iter("b", match="k19*", count=100)) == {
        k.encode(): v.encode() for k, v in big.items() if k.startswith("k19")}
    with pytest.raises(redis.ResponseError, match="invalid cursor"):
        r.execute_command("HSCAN", "b", "x")


def test_type_encoding_and_keyspace(r):
    r.hset("h", "f", "v")
    r.set("s", "x")
    assert r.type("h") == b"hash" and r.type("s") == b"string"
    assert r.object("encoding", "h") == b"listpack"
    r.hset("h", "g", "x" * 65)
    assert r.object("encoding", "h") == b"hashtable"
    assert sorted(r.scan_iter(_type="hash")) == [b"h"]
    assert sorted(r.keys("*")) == [b"h", b"s"] and r.dbsize() == 2
    assert r.memory_usage("h") > 65


# --------------------------------------------------------------------------
# RESP3 reply types (raw HELLO 3)


def test_resp3_reply_types(srv):
    c = RespConn(srv.port)
    c.call("HELLO", "3")
    assert c.call("HSET", "h", "a", "1", "b", "2") == 2
    m = c.call("HGETALL", "h")
    assert isinstance(m, Map) and list(m) == [(b"a", b"1"), (b"b", b"2")]
    assert isinstance(c.call("HGETALL", "no"), Map) and c.call("HGETALL", "no") == []
    assert c.call_raw("HGET", "h", "zz") == b"_\r\n"
    assert c.call_raw("HMGET", "h", "a", "zz") == b"*2\r\n$1\r\n1\r\n_\r\n"
    assert c.call_raw("HEXISTS", "h", "a") == b":1\r\n"
    assert c.call_raw("HINCRBYFLOAT", "h", "a", "0.5") == b"$3\r\n1.5\r\n"  # bulk, as Redis
    assert c.call_raw("HRANDFIELD", "no") == b"_\r\n"
    assert c.call_raw("HRANDFIELD", "no", "2", "WITHVALUES") == b"*0\r\n"
    got = c.call("HRANDFIELD", "h", "-3", "WITHVALUES")  # an array of [field, value] pairs
    assert len(got) == 3 and all(isinstance(p, list) and len(p) == 2 for p in got)
    assert c.call("HSCAN", "h", "0") == [b"0", [b"a", b"1.5", b"b", b"2"]]
    assert c.call_raw("TYPE", "h") == b"+hash\r\n"
    c.call("SET", "s", "x")
    assert c.call_raw("HGET", "s", "a") == b"-%s\r\n" % WRONGTYPE.encode()
    assert isinstance(c.call("HGETALL", "h"), Map)
    c.close()


# --------------------------------------------------------------------------
# WRONGTYPE both ways


@pytest.mark.parametrize("cmd", [
    ("HSET", "s", "f", "v"), ("HSETNX", "s", "f", "v"), ("HMSET", "s", "f", "v"),
    ("HGET", "s", "f"), ("HMGET", "s", "f"), ("HGETALL", "s"), ("HDEL", "s", "f"),
    ("HEXISTS", "s", "f"), ("HLEN", "s"), ("HKEYS", "s"), ("HVALS", "s"), ("HSTRLEN", "s", "f"),
    ("HINCRBY", "s", "f", "1"), ("HINCRBYFLOAT", "s", "f", "1"), ("HRANDFIELD", "s"),
    ("HSCAN", "s", "0"),
    ("GET", "h"), ("GETSET", "h", "x"), ("GETDEL", "h"), ("GETEX", "h"), ("STRLEN", "h"),
    ("APPEND", "h", "x"), ("SETRANGE", "h", "0", "x"), ("GETRANGE", "h", "0", "1"),
    ("INCR", "h"), ("DECRBY", "h", "2"), ("INCRBYFLOAT", "h", "1"), ("SETBIT", "h", "1", "1"),
    ("GETBIT", "h", "1"), ("BITCOUNT", "h"), ("BITFIELD", "h", "GET", "u8", "0"),
    ("SET", "h", "x", "GET"),
])
def test_wrongtype(r, cmd):
    r.set("s", "str")
    r.hset("h", "f", "v")
    with pytest.raises(redis.ResponseError, match=WRONGTYPE):
        r.execute_command(*cmd)
    assert r.get("s") == b"str" and r.hgetall("h") == {b"f": b"v"}  # both unchanged


def test_lcs_on_a_hash(r):
    r.set("s", "str")
    r.hset("h", "f", "v")
    with pytest.raises(redis.ResponseError, match="The specified keys must contain string values"):
        r.lcs("h", "s")


def test_set_and_mset_replace_a_hash(r):
    r.hset("h", "f", "v")
    assert r.mget("h", "no") == [None, None]  # MGET: not a string, so nil
    assert r.set("h", "nx", nx=True) is None
    assert r.set("h", "str") is True and r.type("h") == b"string"
    r.hset("h2", "f", "v")
    r.mset({"h2": "x"})
    assert r.get("h2") == b"x"


# --------------------------------------------------------------------------
# -I, expiry, eviction, concurrency


def test_item_size_bound(srv, r):
    """A hash is one item: a change that would take it past -I (64k here)
    is refused with Redis's proto-max-bulk-len error and leaves it whole."""
    r.hset("h", mapping={"f%d" % i: "x" * 1000 for i in range(60)})
    assert r.hlen("h") == 60
    with pytest.raises(redis.ResponseError, match="proto-max-bulk-len"):
        r.hset("h", mapping={"g%d" % i: "y" * 1000 for i in range(10)})
    with pytest.raises(redis.ResponseError, match="proto-max-bulk-len"):
        r.hset("h", "f0", "z" * 8000)  # a longer value: the same
    assert r.hlen("h") == 60 and r.hget("h", "f59") == b"x" * 1000


def test_expiry_takes_the_whole_hash(r):
    r.hset("h", mapping={"a": "1", "b": "2"})
    assert r.pexpire("h", 300) is True
    r.hset("h", "c", "3")  # a field change keeps the key's TTL
    assert 0 < r.pttl("h") <= 300
    time.sleep(0.6)
    assert r.exists("h") == 0 and r.hlen("h") == 0 and r.hgetall("h") == {}
    assert r.hset("h", "z", "9") == 1 and r.hgetall("h") == {b"z": b"9"} and r.ttl("h") == -1


def test_eviction_takes_whole_hashes(server):
    s = server(["-t", "2", "-m", "8"])
    r = redis.Redis(host=HOST, port=s.port, socket_timeout=10)
    fields = {"f%02d" % i: "v" * 200 for i in range(20)}
    p = r.pipeline(transaction=False)
    for k in range(4000):  # ~17 MB of hashes in 8 MB
        p.hset("h%d" % k, mapping=fields)
        if k % 200 == 199:
            p.execute()
    p.execute()
    present = 0
    p = r.pipeline(transaction=False)
    for k in range(4000):
        p.hlen("h%d" % k)
    lens = p.execute()
    assert set(lens) <= {0, 20}, sorted(set(lens))
    present = lens.count(20)
    assert 0 < present < 4000
    assert int(r.info("stats")["evicted_keys"]) > 0
    some = "h%d" % lens.index(20, len(lens) // 2)
    assert r.hgetall(some) == {k.encode(): v.encode() for k, v in fields.items()}
    r.close()


def test_concurrent_hincrby_loses_nothing(srv):
    def work():
        c = redis.Redis(host=HOST, port=srv.port, socket_timeout=10)
        for _ in range(500):
            c.hincrby("ctr", "n", 1)
            c.hset("ctr", "other%d" % threading.get_ident(), "x")
        c.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    r = redis.Redis(host=HOST, port=srv.port, socket_timeout=5)
    assert r.hget("ctr", "n") == b"2000" and r.hlen("ctr") == 5
    r.close()


# --------------------------------------------------------------------------
# The memcached protocols see a hash key as not a string


def test_memcached_text_sees_no_string(r, mcc):
    r.hset("h", "f", "v")
    assert mcc.get("h") is None and mcc.gets("h") == (None, None)
    assert mcc.get_many(["h"]) == {}
    assert mcc.add("h", "x", noreply=False) is False  # the key is taken
    assert mcc.append("h", "x", noreply=False) is False
    assert mcc.prepend("h", "x", noreply=False) is False
    assert mcc.replace("h", "x", noreply=False) is True  # replace finds the key: as set
    assert r.type("h") == b"string" and r.get("h") == b"x"
    r.delete("h")
    r.hset("h", "f", "v")
    assert mcc.touch("h", 100, noreply=False) is False
    with pytest.raises(Exception, match="non-numeric"):
        mcc.incr("h", 1)
    assert r.hgetall("h") == {b"f": b"v"} and r.ttl("h") == -1  # untouched
    assert mcc.set("h", "str", noreply=False) is True  # as Redis's SET: overwrites
    assert r.type("h") == b"string" and mcc.get("h") == b"str"
    r.delete("h")
    r.hset("h", "f", "v")
    assert mcc.delete("h", noreply=False) is True
    assert r.exists("h") == 0
    # And the other way: a memcached string is WRONGTYPE to hash commands.
    assert mcc.set("m", "plain", noreply=False)
    with pytest.raises(redis.ResponseError, match=WRONGTYPE):
        r.hget("m", "f")


def test_memcached_meta_sees_no_string(srv, r):
    r.hset("h", "f", "v")
    c = Conn(srv.port)
    assert c.line(b"mg h v\r\n") == b"EN\r\n"
    assert c.line(b"mg h v N30\r\n").startswith(b"EN")  # no vivify over a hash
    assert r.type("h") == b"hash"
    assert c.line(b"ma h\r\n").startswith(b"CLIENT_ERROR")
    assert c.line(b"md h I\r\n") == b"HD\r\n"  # even an invalidating delete takes it
    assert r.exists("h") == 0
    r.hset("h", "f", "v")
    assert c.line(b"ms h 3\r\nstr\r\n") == b"HD\r\n"
    assert r.get("h") == b"str"


def test_memcached_gat_cas_stats_flush_on_a_hash(srv, r):
    r.hset("h", "f", "v")
    c = Conn(srv.port)
    assert c.line(b"gat 100 h\r\n") == b"END\r\n"
    assert c.line(b"gats 100 h\r\n") == b"END\r\n"
    assert r.ttl("h") == -1  # gat did not touch it
    assert c.line(b"cas h 0 0 1 1\r\nx\r\n") == b"NOT_FOUND\r\n"
    assert c.line(b"ms h 1 ME\r\nx\r\n") == b"NS\r\n"
    assert c.line(b"decr h 1\r\n").startswith(b"CLIENT_ERROR")
    assert r.hgetall("h") == {b"f": b"v"}
    c.send(b"stats\r\n")
    stats = c.read_until(b"END\r\n")
    assert b"STAT curr_items 1\r\n" in stats
    assert c.line(b"flush_all\r\n") == b"OK\r\n"
    assert r.exists("h") == 0


def test_memcached_binary_sees_no_string(srv, r):
    r.hset("h", "f", "v")
    c = Conn(srv.port)
    c.send(mc_util.breq(mc_util.GET, b"h"))
    assert mc_util.read_packet(c).status == mc_util.ENOENT
    c.send(mc_util.breq(mc_util.ADD, b"h", mc_util.set_extras(), b"x"))
    assert mc_util.read_packet(c).status == mc_util.EEXISTS
    c.send(mc_util.breq(mc_util.APPEND, b"h", b"", b"x"))
    assert mc_util.read_packet(c).status == mc_util.NOT_STORED
    c.send(mc_util.breq(mc_util.INCR, b"h", mc_util.arith_extras(1)))
    assert mc_util.read_packet(c).status == mc_util.DELTA_BADVAL
    assert r.hgetall("h") == {b"f": b"v"}
    c.send(mc_util.breq(mc_util.DELETE, b"h"))
    assert mc_util.read_packet(c).status == mc_util.OK
    assert r.exists("h") == 0
    r.hset("h", "f", "v")
    c.send(mc_util.breq(mc_util.SET, b"h", mc_util.set_extras(flags=7), b"bin"))
    assert mc_util.read_packet(c).status == mc_util.OK
    assert r.get("h") == b"bin" and r.type("h") == b"string"
    c.send(mc_util.breq(mc_util.GET, b"h"))
    p = mc_util.read_packet(c)
    assert p.status == mc_util.OK and p.value == b"bin" and struct.unpack(">I", p.extras)[0] == 7


# --------------------------------------------------------------------------
# Warm restart (-e): a hash comes back a hash


@pytest.mark.stashd_only
def test_hash_survives_a_warm_restart(server, tmp_path):
    path = str(tmp_path / "items")
    s = server(["-e", path, "-v"])
    r = redis.Redis(host=HOST, port=s.port, socket_timeout=5)
    fields = {b"f%d" % i: b"v" * i for i in range(600)}  # past listpack too
    r.hset("h", mapping=fields)
    r.hset("small", mapping={"a": "1"})
    r.expire("small", 5000)
    r.set("s", "str")
    r.close()
    s.close_clients()
    s.proc.send_signal(signal.SIGTERM)
    assert s.wait_exit(timeout=30) == 0
    s = server(["-e", path, "-v"])
    r = redis.Redis(host=HOST, port=s.port, socket_timeout=5)
    assert r.type("h") == b"hash" and r.hgetall("h") == fields
    assert r.hgetall("small") == {b"a": b"1"} and 4900 < r.ttl("small") <= 5000
    assert r.type("s") == b"string"
    with pytest.raises(redis.ResponseError, match=WRONGTYPE):
        r.get("h")
    assert MemcacheClient((HOST, s.port), timeout=5).get("h") is None
    r.close()


# --------------------------------------------------------------------------
# Databases and transactions


def test_hashes_per_database_rename_copy_move(srv):
    r0 = redis.Redis(host=HOST, port=srv.port, socket_timeout=5, db=0)
    r1 = redis.Redis(host=HOST, port=srv.port, socket_timeout=5, db=1)
    r0.hset("h", mapping={"a": "0"})
    r1.hset("h", mapping={"a": "1", "b": "1"})
    assert r0.hgetall("h") == {b"a": b"0"} and r1.hlen("h") == 2
    assert list(r1.scan_iter(_type="hash")) == [b"h"]
    assert r0.rename("h", "h2") is True and r0.type("h2") == b"hash"
    assert r0.copy("h2", "h3") is True and r0.hgetall("h3") == {b"a": b"0"}
    assert r0.copy("h2", "h", destination_db=1, replace=True) is True
    assert r1.hgetall("h") == {b"a": b"0"}
    assert r0.move("h3", 2) is True
    r2 = redis.Redis(host=HOST, port=srv.port, socket_timeout=5, db=2)
    assert r2.type("h3") == b"hash" and r2.hget("h3", "a") == b"0"
    for c in (r0, r1, r2):
        c.close()


def test_hashes_in_transactions(r, srv):
    p = r.pipeline()  # MULTI/EXEC
    p.hset("h", mapping={"a": "1", "b": "2"}).hincrby("h", "a", 5).hgetall("h").hlen("h")
    p.get("h")
    res = p.execute(raise_on_error=False)
    assert res[:4] == [2, 6, {b"a": b"6", b"b": b"2"}, 2]
    assert isinstance(res[4], redis.ResponseError) and WRONGTYPE in str(res[4])
    # WATCH on a hash: a field change by another client aborts EXEC.
    other = redis.Redis(host=HOST, port=srv.port, socket_timeout=5)
    with r.pipeline() as p:
        p.watch("h")
        p.multi()
        p.hset("h", "c", "3")
        other.hset("h", "a", "7")
        with pytest.raises(redis.WatchError):
            p.execute()
    assert r.hgetall("h") == {b"a": b"7", b"b": b"2"}
    # ...and so does a memcached delete of it.
    with r.pipeline() as p:
        p.watch("h")
        p.multi()
        p.hset("h", "c", "3")
        assert MemcacheClient((HOST, srv.port), timeout=5).delete("h", noreply=False)
        with pytest.raises(redis.WatchError):
            p.execute()
    assert r.exists("h") == 0
    other.close()
