"""Transactions and numbered databases on the real server, with real
clients (issue 15).

redis-py drives MULTI/EXEC through ``pipeline()`` (a transaction by
default) and the WATCH retry loop (``r.transaction(fn, *keys)``); WATCH
must see every change to a watched key, from any protocol: a RESP write
from another connection, a memcached set, delete, touch or incr, a
flush, an expiry, an eviction. Under writers on several threads of both
protocols a counter ends exact, and a transaction is one step to readers
of both protocols. The MULTI queue is bounded. Databases: SELECT,
``Redis(db=1)`` and ``redis://.../1`` URLs, MOVE, COPY, SWAPDB, FLUSHDB;
memcached's protocols see database 0. The keyspace counts are exact:
DBSIZE is 0 right after a flush, and expired keys leave DBSIZE and
curr_items within about two seconds with no client touching them.
"""

import socket
import threading
import time

import pytest
import redis
from pymemcache.client.base import Client as MemcacheClient

from conftest import HOST, IS_MEMCACHED
from resp_util import Null, RespConn, encode

pytestmark = pytest.mark.skipif(IS_MEMCACHED, reason="memcached does not speak RESP")


@pytest.fixture
def srv(server):
    return server(["-t", "4"])


def rclient(srv, db=0):
    return redis.Redis(host=HOST, port=srv.port, db=db, socket_timeout=10)


def mclient(srv):
    # default_noreply=False: each change has happened when the call returns.
    return MemcacheClient((HOST, srv.port), timeout=10, connect_timeout=5,
                          default_noreply=False)


def mc_text(srv, line, end=b"\r\n"):
    """One memcached text command on its own connection (pymemcache 3.5
    has no gat and no meta commands); the reply up to end."""
    with socket.create_connection((HOST, srv.port), timeout=10) as s:
        s.sendall(line)
        got = b""
        while not got.endswith(end):
            chunk = s.recv(4096)
            assert chunk, got
            got += chunk
        return got


# --------------------------------------------------------------------------
# MULTI/EXEC through redis-py

def test_pipeline_is_a_transaction(srv):
    r = rclient(srv)
    p = r.pipeline()  # transaction=True: MULTI ... EXEC
    p.set("a", 1).incr("a").get("a").mget("a", "nokey").delete("a").exists("a")
    assert p.execute() == [True, 2, b"2", [b"2", None], 1, 0]
    # Runtime errors stay with their command; the others ran.
    p = r.pipeline()
    p.set("s", "x").incr("s").get("s")
    res = p.execute(raise_on_error=False)
    assert res[0] is True and res[2] == b"x"
    assert isinstance(res[1], redis.ResponseError)
    with pytest.raises(redis.ResponseError, match="not an integer"):
        r.pipeline().set("s", "x").incr("s").execute()
    # A queueing error aborts the whole transaction.
    p = r.pipeline()
    p.set("q", "1")
    p.execute_command("NOSUCH", "x")
    with pytest.raises(redis.ResponseError):
        p.execute()
    assert r.get("q") is None
    # Without a transaction, nothing is queued.
    assert r.pipeline(transaction=False).set("n", "1").get("n").execute() == [True, b"1"]
    r.close()


def test_raw_transaction_errors(srv):
    c = RespConn(srv.port)
    assert c.call_raw("EXEC") == b"-ERR EXEC without MULTI\r\n"
    assert c.call_raw("DISCARD") == b"-ERR DISCARD without MULTI\r\n"
    assert c.call_raw("MULTI") == b"+OK\r\n"
    assert c.call_raw("MULTI") == b"-ERR MULTI calls can not be nested\r\n"
    assert c.call_raw("WATCH", "k") == b"-ERR WATCH inside MULTI is not allowed\r\n"
    assert c.call_raw("SET", "k", "v") == b"+QUEUED\r\n"
    assert c.call_raw("GET") == b"-ERR wrong number of arguments for 'get' command\r\n"
    assert c.call_raw("EXEC") == (
        b"-EXECABORT Transaction discarded because of previous errors.\r\n")
    assert c.call_raw("GET", "k") == b"$-1\r\n"
    assert c.call_raw("MULTI") == b"+OK\r\n"
    assert c.call_raw("SET", "k", "v") == b"+QUEUED\r\n"
    assert c.call_raw("DISCARD") == b"+OK\r\n"
    assert c.call_raw("GET", "k") == b"$-1\r\n"
    c.close()


def test_resp3_transactions(srv):
    c = RespConn(srv.port)
    c.call("HELLO", "3")
    assert c.call_raw("MULTI") == b"+OK\r\n"
    for cmd in (("SET", "a", "1"), ("GET", "nokey"), ("INCRBYFLOAT", "a", "0.5"),
                ("CONFIG", "GET", "databases"), ("EXISTS", "a")):
        assert c.call_raw(*cmd) == b"+QUEUED\r\n"
    assert c.call_raw("EXEC") == (b"*5\r\n+OK\r\n_\r\n$3\r\n1.5\r\n%1\r\n$9\r\ndatabases\r\n"
                                  b"$2\r\n16\r\n:1\r\n")
    assert c.call_raw("WATCH", "a") == b"+OK\r\n"
    assert c.call_raw("SET", "a", "2") == b"+OK\r\n"
    c.call("MULTI")
    c.call("GET", "a")
    assert c.call_raw("EXEC") == b"_\r\n"  # RESP3's null for an aborted EXEC
    c.call("HELLO", "2")
    c.call("WATCH", "a")
    c.call("SET", "a", "3")
    c.call("MULTI")
    assert c.call_raw("EXEC") == b"*-1\r\n"
    c.close()


def test_info_config_client_keep_their_place(srv):
    """INFO, CONFIG and CLIENT run after the transaction's locks are
    dropped; their replies still come in order."""
    r = rclient(srv)
    p = r.pipeline()
    p.set("a", "1", ex=100)
    p.info("keyspace")
    p.client_id()
    p.config_get("databases")
    p.incr("n")
    p.info("keyspace")
    res = p.execute()
    assert res[0] is True and res[4] == 1
    assert res[1]["db0"]["keys"] >= 1 and res[5]["db0"]["keys"] == 2
    assert isinstance(res[2], int) and res[3] == {"databases": "16"}
    r.close()


# --------------------------------------------------------------------------
# WATCH: every change, from any protocol

def watched_exec(r, key, change):
    """WATCH key, let change() happen, then MULTI/EXEC: True if EXEC ran."""
    with r.pipeline() as p:
        p.watch(key)
        change()
        p.multi()
        p.set("tx_ran", "1")
        try:
            p.execute()
            return True
        except redis.WatchError:
            return False


def test_watch_sees_changes_from_every_protocol(srv):
    r, other, mc = rclient(srv), rclient(srv), mclient(srv)
    mc.set("k", "10")
    assert watched_exec(r, "k", lambda: None)  # nothing changed
    assert watched_exec(r, "k", lambda: r.get("k"))  # a read changes nothing
    assert watched_exec(r, "k", lambda: mc.get("k"))
    changes = {
        "RESP SET": lambda: other.set("k", "10"),
        "RESP EXPIRE": lambda: other.expire("k", 100),
        "RESP PERSIST": lambda: other.persist("k"),
        "RESP INCR": lambda: other.incr("k"),
        "memcached set": lambda: mc.set("k", "10"),
        "memcached incr": lambda: mc.incr("k", 1),
        "memcached touch": lambda: mc.touch("k", 100),
        "memcached gat": lambda: mc_text(srv, b"gat 200 k\r\n", b"END\r\n"),
        "memcached meta set": lambda: mc_text(srv, b"ms k 2 T0\r\n10\r\n"),
        "memcached append": lambda: mc.append("k", "0"),
        "memcached delete": lambda: mc.delete("k"),
        "memcached add": lambda: mc.add("k", "10"),
        "flush_all": lambda: mc.flush_all(),
        "RESP set again": lambda: other.set("k", "10"),
        "FLUSHDB": lambda: other.flushdb(),
    }
    for name, change in changes.items():
        assert not watched_exec(r, "k", change), name
    # A key absent when watched: created and deleted again counts too.
    assert not watched_exec(r, "gone", lambda: (other.set("gone", "1"), other.delete("gone")))
    # Expiry, with no client touching the key. The deadline leaves room for
    # a slow WATCH on a loaded machine: a key already gone when watched
    # would rightly let EXEC run.
    other.set("k", "v", px=500)
    assert not watched_exec(r, "k", lambda: time.sleep(1.0))
    # MOVE and SWAPDB.
    other.set("k", "v")
    assert not watched_exec(r, "k", lambda: other.move("k", 1))
    other.set("k", "v")
    assert not watched_exec(r, "k", lambda: other.swapdb(0, 1))
    other.swapdb(0, 1)
    # UNWATCH forgets.
    with r.pipeline() as p:
        p.watch("k")
        other.set("k", "changed")
        p.unwatch()
        p.multi()
        p.get("k")
        assert p.execute() == [b"changed"]
    for c in (r, other):
        c.close()
    mc.close()


@pytest.mark.time_limit(120)
def test_watch_sees_eviction(server):
    """EXEC is aborted exactly when the watched key was evicted meanwhile.
    Eviction may spare a key (one read since it was written gives it a
    second chance), so each round asks only that the two agree, and
    some round must see the key go."""
    srv = server(["-m", "8"])
    r, mc = rclient(srv), mclient(srv)
    value = b"x" * 2000

    def fill():
        for i in range(20000):  # 40 MB through an 8 MB cache
            mc.set("fill%d" % i, value, noreply=True)
        mc.get("fill0")  # wait for the noreply sets

    evicted_rounds = 0
    for i in range(30):
        # A new key, never read, written by the filling connection: so it
        # sits in the segments the fill pushes out (a worker's open
        # segment is not evicted, and the RESP connection may be on
        # another worker).
        key = "watched%d" % i
        mc.set(key, "v")
        ran = watched_exec(r, key, fill)
        gone = r.get(key) is None
        assert ran != gone, (ran, gone)
        evicted_rounds += gone
        if evicted_rounds >= 1 and i >= 2:
            break
    assert evicted_rounds >= 1
    assert int(r.info("stats")["evicted_keys"]) > 0
    r.close()
    mc.close()


def test_watch_with_cas_disabled(server):
    """-C hides the cas from memcached clients; WATCH still sees changes."""
    srv = server(["-C"])
    r, mc = rclient(srv), mclient(srv)
    mc.set("k", "1")
    assert watched_exec(r, "k", lambda: None)
    assert not watched_exec(r, "k", lambda: mc.set("k", "1"))
    assert not watched_exec(r, "k", lambda: mc.touch("k", 50))
    r.close()
    mc.close()


@pytest.mark.time_limit(120)
def test_watch_retry_loop_under_concurrent_writers(srv):
    """r.transaction's WATCH loop on 4 threads, memcached incr on 2 more:
    every increment lands exactly once."""
    rclient(srv).set("ctr", "0")
    per_resp, per_mc = 150, 300
    errors = []

    def resp_worker():
        r = rclient(srv)
        try:
            def bump(pipe):
                v = int(pipe.get("ctr"))
                pipe.multi()
                pipe.set("ctr", v + 1)
            for _ in range(per_resp):
                r.transaction(bump, "ctr")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            r.close()

    def mc_worker():
        mc = mclient(srv)
        try:
            for _ in range(per_mc):
                assert mc.incr("ctr", 1) is not None
        except Exception as e:  # noqa: BLE001
            errors.append(e)
        finally:
            mc.close()

    threads = [threading.Thread(target=resp_worker) for _ in range(4)]
    threads += [threading.Thread(target=mc_worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert int(rclient(srv).get("ctr")) == 4 * per_resp + 2 * per_mc


@pytest.mark.time_limit(60)
def test_exec_is_one_step_to_every_protocol(srv):
    """Each EXEC writes b then a with one number; a writer's numbers grow.
    memcached readers, reading b then a, must never see a behind b; MGET
    must see each pair equal. Two writers, each on its own pair, so the
    numbers of a pair only grow."""
    stop = threading.Event()
    bad = []
    writes = []

    def writer(ka, kb):
        r = rclient(srv)
        i = 0
        while not stop.is_set():
            i += 1
            r.pipeline().set(kb, i).set(ka, i).execute()
        writes.append(i)
        r.close()

    def mc_reader(ka, kb):
        mc = mclient(srv)
        while not stop.is_set():
            b = mc.get(kb)
            a = mc.get(ka)
            if b is not None and (a is None or int(a) < int(b)):
                bad.append(("memcached", ka, a, b))
        mc.close()

    def resp_reader():
        r = rclient(srv)
        while not stop.is_set():
            a, b, c, d = r.mget("a", "b", "c", "d")
            if a != b or c != d:
                bad.append(("MGET", a, b, c, d))
        r.close()

    threads = [threading.Thread(target=writer, args=("a", "b")),
               threading.Thread(target=writer, args=("c", "d")),
               threading.Thread(target=mc_reader, args=("a", "b")),
               threading.Thread(target=mc_reader, args=("c", "d")),
               threading.Thread(target=resp_reader)]
    for t in threads:
        t.start()
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join()
    assert min(writes) > 50
    assert not bad, bad[:5]


@pytest.mark.time_limit(90)
def test_multi_queue_is_bounded(srv):
    c = RespConn(srv.port, timeout=30)
    assert c.call_raw("MULTI") == b"+OK\r\n"
    big = b"v" * (1 << 20)
    replies = []
    for i in range(6):  # 6 MiB: past the 4 MiB bound (2 x -I when that is larger)
        c.send("SET", "k%d" % i, big)
        replies.append(c.read_raw())
    assert replies[0] == b"+QUEUED\r\n"
    limited = [x for x in replies if x.startswith(b"-ERR MULTI queue over stashd's limit")]
    assert limited and replies[-1] == limited[0]
    assert c.call_raw("EXEC") == (
        b"-EXECABORT Transaction discarded because of previous errors.\r\n")
    assert c.call_raw("EXISTS", "k0") == b":0\r\n"
    # 131,072 commands is the other bound.
    assert c.call_raw("MULTI") == b"+OK\r\n"
    ping = encode("PING")
    n = (1 << 17) + 2
    sender = threading.Thread(target=lambda: c.send_raw(ping * n))
    sender.start()
    # Read the socket itself: a million replies through read_raw is slow.
    assert not c.buf
    queued = b"+QUEUED\r\n" * (1 << 17)
    got = bytearray()
    while len(got) < len(queued) or got.count(b"\r\n") < (1 << 17) + 2:
        chunk = c.sock.recv(1 << 20)
        assert chunk
        got += chunk
    assert got[:len(queued)] == queued
    rest = bytes(got[len(queued):]).split(b"\r\n")
    assert len(rest) == 3 and rest[2] == b"", rest
    assert all(x.startswith(b"-ERR MULTI queue over") for x in rest[:2]), rest
    sender.join()
    assert c.call_raw("EXEC").startswith(b"-EXECABORT")
    assert c.call_raw("PING") == b"+PONG\r\n"
    c.close()


@pytest.mark.time_limit(90)
def test_multi_queues_count_in_the_connection_budget(server):
    """Queues are bounded together too: they count in the worker's
    connection-buffer budget (64 MiB with -t 1), so 24 connections each
    queueing 3 MiB (72 MiB, each under its own limit) get the largest
    closed rather than growing without bound."""
    srv = server(["-t", "1"])
    big = b"v" * 1000000
    conns = []
    for i in range(24):
        c = RespConn(srv.port, timeout=30)
        assert c.call_raw("MULTI") == b"+OK\r\n"
        conns.append(c)
    for c in conns:
        for j in range(3):
            try:
                c.send("SET", "q%d" % j, big)
            except OSError:
                break
    # A closed connection's replies end early; the others run EXEC.
    closed = ran = 0
    for c in conns:
        try:
            replies = [c.read_raw() for _ in range(3)] + [c.call_raw("EXEC")]
        except (ConnectionError, OSError, EOFError, AssertionError):
            closed += 1
            continue
        assert replies[:3] == [b"+QUEUED\r\n"] * 3
        assert replies[3] == b"*3\r\n+OK\r\n+OK\r\n+OK\r\n"
        ran += 1
    assert closed >= 1 and ran >= 1, (closed, ran)
    st = mclient(srv).stats()
    assert int(st[b"conns_closed_output"]) >= closed
    for c in conns:
        c.close()
    r = rclient(srv)
    assert r.ping()


def test_exec_write_past_its_reserve_is_oom(server):
    """EXEC cannot evict under its locks: in a full cache, writes past the
    room it made first fail with Redis's OOM error; the rest run."""
    srv = server(["-m", "8"])
    mc = mclient(srv)
    for i in range(8000):
        mc.set("fill%d" % i, b"x" * 2000, noreply=True)
    mc.get("fill0")
    r = rclient(srv)
    p = r.pipeline()
    for i in range(4):
        p.set("big%d" % i, b"y" * 400000)
    p.get("nokey")
    res = p.execute(raise_on_error=False)
    assert res[0] is True and res[-1] is None
    oom = [x for x in res[:4] if isinstance(x, redis.ResponseError)]
    assert oom and all("OOM command not allowed" in str(x) for x in oom)
    # Outside a transaction, the same write makes room.
    assert r.set("big9", b"y" * 400000) is True
    r.close()
    mc.close()


# --------------------------------------------------------------------------
# Databases

def test_select_url_and_memcached_database(srv):
    r0, r1 = rclient(srv), rclient(srv, db=1)
    url = redis.from_url("redis://%s:%d/1" % (HOST, srv.port))
    mc = mclient(srv)
    r1.set("k", "one")
    assert url.get("k") == b"one"
    assert r0.get("k") is None and mc.get("k") is None
    mc.set("k", "zero")
    assert r0.get("k") == b"zero" and r1.get("k") == b"one"
    assert r0.dbsize() == 1 and r1.dbsize() == 1
    assert r0.info("keyspace") == {"db0": {"keys": 1, "expires": 0, "avg_ttl": 0},
                                   "db1": {"keys": 1, "expires": 0, "avg_ttl": 0}}
    assert r1.move("k", 2) is True
    assert rclient(srv, db=2).get("k") == b"one" and r1.get("k") is None
    assert r0.copy("k", "k", destination_db=3) is True
    assert rclient(srv, db=3).get("k") == b"zero"
    r0.set("t", "v", ex=100)
    assert r0.rename("t", "t2") is True and 98 <= r0.ttl("t2") <= 100
    assert r0.renamenx("t2", "k") is False
    assert r0.swapdb(0, 3) is True
    assert r0.get("t2") is None and r0.get("k") == b"zero"
    assert mc.get("t2") is None  # memcached reads physical database 0 through the map
    r0.swapdb(0, 3)
    assert mc.get("t2") == b"v"
    r1.set("x", "1")
    r1.flushdb()
    assert r1.dbsize() == 0 and r0.dbsize() == 2
    with pytest.raises(redis.ResponseError, match="DB index is out of range"):
        rclient(srv, db=16).ping()
    for c in (r0, r1, url):
        c.close()
    mc.close()


def test_databases_option(server):
    srv = server(["--databases", "2"])
    r = rclient(srv)
    assert r.config_get("databases") == {"databases": "2"}
    assert rclient(srv, db=1).ping() is True
    with pytest.raises(redis.ResponseError, match="DB index is out of range"):
        r.execute_command("SELECT", 2)
    r.close()


# --------------------------------------------------------------------------
# An exact keyspace

def mc_curr_items(mc):
    return int(mc.stats()[b"curr_items"])


def test_counts_are_exact_after_flushes(srv):
    r, r1, mc = rclient(srv), rclient(srv, db=1), mclient(srv)
    for i in range(100):
        r.set("a%d" % i, "v")
        r1.set("b%d" % i, "v", ex=100)
    assert r.dbsize() == 100 and r1.dbsize() == 100 and mc_curr_items(mc) == 200
    r.flushdb()
    assert r.dbsize() == 0 and r1.dbsize() == 100 and mc_curr_items(mc) == 100
    r.flushall()
    assert r1.dbsize() == 0 and mc_curr_items(mc) == 0 and r.info("keyspace") == {}
    for i in range(10):
        mc.set("m%d" % i, "v")
        r1.set("n%d" % i, "v")
    mc.flush_all()
    # memcached's flush_all empties every database, as FLUSHALL does
    assert r.dbsize() == 0 and r1.dbsize() == 0 and mc_curr_items(mc) == 0
    # A delayed flush_all takes effect at its time.
    for i in range(10):
        mc.set("m%d" % i, "v")
    mc.flush_all(delay=2)
    assert r.dbsize() == 10
    deadline = time.time() + 5
    while r.dbsize() != 0 and time.time() < deadline:
        time.sleep(0.1)
    assert r.dbsize() == 0 and mc_curr_items(mc) == 0
    for c in (r, r1):
        c.close()
    mc.close()


@pytest.mark.time_limit(60)
def test_expired_keys_leave_the_counts_untouched(srv):
    """Expired keys are reclaimed by the store itself: DBSIZE, INFO
    keyspace and curr_items drop within about two seconds of the TTL,
    with no client reading them."""
    r, r1, mc = rclient(srv), rclient(srv, db=1), mclient(srv)
    p = r.pipeline(transaction=False)
    for i in range(5000):
        p.set("e%d" % i, "v", px=1000)
    p.execute()
    p = r1.pipeline(transaction=False)
    for i in range(5000):
        p.set("f%d" % i, "v", px=1000)
    p.execute()
    mc.set_many({"m%d" % i: "v" for i in range(1000)}, expire=1)
    r.set("stays", "v")
    assert r.dbsize() == 6001 and r1.dbsize() == 5000
    expired_at = time.time() + 1.0
    while time.time() < expired_at + 4 and (r.dbsize() > 1 or r1.dbsize() > 0):
        time.sleep(0.1)
    waited = time.time() - expired_at
    assert r.dbsize() == 1 and r1.dbsize() == 0, waited
    assert waited < 2.5, waited
    assert mc_curr_items(mc) == 1
    assert r.info("keyspace") == {"db0": {"keys": 1, "expires": 0, "avg_ttl": 0}}
    assert int(mc.stats()[b"expired_unfetched"]) >= 11000
    for c in (r, r1):
        c.close()
    mc.close()
