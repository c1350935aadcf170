"""Real client libraries against the server: pymemcache and pylibmc (text mode).

Both are run through the same operations (set/get/get_many/set_many/add/
replace/append/prepend/cas/gets/incr/decr/touch/delete/flush_all/stats/
version), once against one server and once with the client's key-based
distribution across two servers (pymemcache's HashClient, pylibmc with
ketama), checking that keys really spread over both.  One stashd-only test
talks RESP (redis-py) to the main port.
"""

import pylibmc
import pytest
from pymemcache.client.base import Client as PymClient
from pymemcache.client.hash import HashClient


def pym(server_obj):
    return PymClient(("127.0.0.1", server_obj.port), connect_timeout=5, timeout=5,
                     default_noreply=False)


def libmc(*servers):
    return pylibmc.Client(["127.0.0.1:%d" % s.port for s in servers], binary=False,
                          behaviors={"cas": True, "ketama": len(servers) > 1,
                                     "connect_timeout": 5000, "receive_timeout": 5_000_000,
                                     "send_timeout": 5_000_000})


# --------------------------------------------------------------------------
# pymemcache

def test_pymemcache_basic_ops(mc):
    c = pym(mc)
    try:
        assert c.get("missing") is None
        assert c.set("k", b"v1") is True
        assert c.get("k") == b"v1"
        assert c.set_many({"a": b"1", "b": b"2", "c": b"3"}) == []
        assert c.get_many(["a", "b", "nope", "c"]) == {"a": b"1", "b": b"2", "c": b"3"}
        assert c.add("k", b"x") is False
        assert c.add("new", b"x") is True
        assert c.replace("nope", b"x") is False
        assert c.replace("new", b"y") is True
        assert c.append("new", b"z") is True
        assert c.prepend("new", b"w") is True
        assert c.get("new") == b"wyz"
        assert c.append("nope", b"z") is False
        value, unique = c.gets("k")
        assert value == b"v1" and int(unique) > 0
        assert c.cas("k", b"v2", int(unique) + 1) is False
        assert c.cas("k", b"v2", unique) is True
        assert c.cas("k", b"v3", unique) is False
        assert c.cas("nope", b"v", unique) is None
        assert c.get("k") == b"v2"
        assert c.set("n", b"10") is True
        assert c.incr("n", 5) == 15
        assert c.decr("n", 20) == 0
        assert c.incr("nope", 1) is None
        assert c.decr("nope", 1) is None
        assert c.touch("k", 100) is True
        assert c.touch("nope", 100) is False
        assert c.delete("k") is True
        assert c.delete("k") is False
        assert c.get("k") is None
        stats = c.stats()
        assert stats[b"cmd_get"] > 0 and stats[b"curr_items"] > 0
        assert int(stats[b"pid"]) == mc.pid
        assert c.version()
        assert c.flush_all() is True
        assert c.get_many(["a", "b", "c", "new", "n"]) == {}
    finally:
        c.close()


def test_pymemcache_values(mc):
    c = pym(mc)
    try:
        blob = bytes(range(256)) * 100
        assert c.set("blob", blob, expire=100)
        assert c.get("blob") == blob
        assert c.set("empty", b"")
        assert c.get("empty") == b""
        assert c.set("exp", b"x", expire=-1)
        assert c.get("exp") is None
        big = b"b" * 500_000
        assert c.set("big", big)
        assert c.get("big") == big
        keys = {f"many:{i}": b"%d" % i for i in range(500)}
        assert c.set_many(keys) == []
        assert c.get_many(list(keys)) == keys
        assert c.delete_many(list(keys)) is True
        assert c.get_many(list(keys)) == {}
    finally:
        c.close()


def test_pymemcache_noreply_default(mc):
    c = PymClient(("127.0.0.1", mc.port), connect_timeout=5, timeout=5)  # noreply on
    try:
        for i in range(200):
            c.set(f"k{i}", b"v%d" % i)
        assert c.get_many([f"k{i}" for i in range(200)]) == {
            f"k{i}": b"v%d" % i for i in range(200)}
    finally:
        c.close()


def test_pymemcache_hash_client_two_servers(server):
    s1, s2 = server(), server()
    c = HashClient([("127.0.0.1", s1.port), ("127.0.0.1", s2.port)],
                   connect_timeout=5, timeout=5, default_noreply=False)
    try:
        data = {f"key{i}": b"value%d" % i for i in range(200)}
        assert c.set_many(data) == []
        assert c.get_many(list(data)) == data
        for k in list(data)[:20]:
            assert c.get(k) == data[k]
        assert c.add("key0", b"x") is False
        assert c.replace("key1", b"r") is True
        assert c.append("key1", b"+") is True
        assert c.prepend("key1", b"-") is True
        assert c.get("key1") == b"-r+"
        assert c.set("ctr", b"1") is True
        assert c.incr("ctr", 41) == 42
        assert c.decr("ctr", 2) == 40
        value, unique = c.gets("key2")
        assert c.cas("key2", b"new", unique) is True
        assert c.get("key2") == b"new"
        assert c.touch("key3", 100) is True
        assert c.delete("key3") is True
        assert c.get("key3") is None
        st1, st2 = s1.stats(), s2.stats()
        n1, n2 = int(st1["curr_items"]), int(st2["curr_items"])
        assert n1 + n2 == 200  # 200 keys + ctr - key3
        assert n1 > 30 and n2 > 30, (n1, n2)
        c.flush_all()
        assert c.get_many(list(data)) == {}
    finally:
        c.close()


# --------------------------------------------------------------------------
# pylibmc (libmemcached) in text mode

def test_pylibmc_basic_ops(mc):
    c = libmc(mc)
    try:
        assert c.get("missing") is None
        assert c.set("k", b"v1") is True
        assert c.get("k") == b"v1"
        assert c.set_multi({"a": b"1", "b": b"2", "c": b"3"}) == []
        assert c.get_multi(["a", "b", "nope", "c"]) == {"a": b"1", "b": b"2", "c": b"3"}
        assert c.add("k", b"x") is False
        assert c.add("new", b"x") is True
        assert c.replace("nope", b"x") is False
        assert c.replace("new", b"y") is True
        assert c.append("new", b"z") is True
        assert c.prepend("new", b"w") is True
        assert c.get("new") == b"wyz"
        value, unique = c.gets("k")
        assert value == b"v1" and unique > 0
        assert c.cas("k", b"v2", unique + 1) is False
        assert c.cas("k", b"v2", unique) is True
        assert c.cas("k", b"v3", unique) is False
        assert c.get("k") == b"v2"
        assert c.set("n", 10) is True  # ints are stored as text
        assert c.incr("n", 5) == 15
        assert c.decr("n", 20) == 0
        assert c.get("n") == 0
        with pytest.raises(pylibmc.NotFound):
            c.incr("nope", 1)
        assert c.touch("k", 100) is True
        assert c.touch("nope", 100) is False
        assert c.delete("k") is True
        assert c.delete("k") is False
        assert c.get("k") is None
        (name, stats), = c.get_stats()
        assert int(stats["pid"]) == mc.pid
        assert int(stats["cmd_get"]) > 0
        assert stats["version"]
        assert c.flush_all() is True
        assert c.get_multi(["a", "b", "c", "new", "n"]) == {}
    finally:
        c.disconnect_all()


def test_pylibmc_values_and_serialization(mc):
    c = libmc(mc)
    try:
        blob = bytes(range(256)) * 100
        assert c.set("blob", blob)
        assert c.get("blob") == blob
        assert c.set("str", "h\u00e9llo")
        assert c.get("str") == "h\u00e9llo"
        assert c.set("obj", {"a": [1, 2, 3]})  # pickled, flags say so
        assert c.get("obj") == {"a": [1, 2, 3]}
        assert c.set("exp", b"x", time=1) is True
        assert c.set("empty", b"") is True
        assert c.get("empty") == b""
        keys = {f"many:{i}": i for i in range(300)}
        assert c.set_multi(keys) == []
        assert c.get_multi(list(keys)) == keys
        assert c.delete_multi(list(keys)) is True
    finally:
        c.disconnect_all()


def test_pylibmc_two_servers_ketama(server):
    s1, s2 = server(), server()
    c = libmc(s1, s2)
    try:
        data = {f"key{i}": b"value%d" % i for i in range(200)}
        assert c.set_multi(data) == []
        assert c.get_multi(list(data)) == data
        assert c.add("key0", b"x") is False
        assert c.append("key1", b"+") is True
        assert c.get("key1") == b"value1+"
        assert c.set("ctr", 1)
        assert c.incr("ctr", 41) == 42
        value, unique = c.gets("key2")
        assert c.cas("key2", b"new", unique) is True
        assert c.delete("key3") is True
        n1 = int(s1.stats()["curr_items"])
        n2 = int(s2.stats()["curr_items"])
        assert n1 + n2 == 200
        assert n1 > 30 and n2 > 30, (n1, n2)
        stats = c.get_stats()
        assert len(stats) == 2
        assert c.flush_all() is True
        assert c.get_multi(list(data)) == {}
    finally:
        c.disconnect_all()


# --------------------------------------------------------------------------
# stashd only: RESP on the main port (ARCHITECTURE.md: the first byte `*`
# selects RESP, and RESP string commands share the memcached keyspace).

@pytest.mark.stashd_only
def test_resp_client_on_main_port_shares_keyspace(mc):
    import redis
    r = redis.Redis(host="127.0.0.1", port=mc.port, socket_timeout=5,
                    socket_connect_timeout=5)
    try:
        assert r.ping() is True
        assert r.set("from_resp", b"resp-value") is True
        c = mc.connect()
        assert c.get_value(b"from_resp")[1] == b"resp-value"
        c.expect(b"set from_text 0 0 4\r\ntext\r\n", b"STORED\r\n")
        assert r.get("from_text") == b"text"
        assert r.get("missing") is None
    finally:
        r.close()
