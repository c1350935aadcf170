"""memcached's tooling against the binary under test, and against memcached.

* `stats` prints memcached 1.6.18's fields in memcached's order (read off a
  running Debian memcached started with the same flags), then stashd's own.
* Debian's memcached-tool: display, stats, settings, sizes, keys and dump
  work as against memcached, and a dump loads back into a fresh server.
* lru_crawler metadump streams a cache of any size without buffering it:
  a client that does not read holds the server's buffers to a bound, and
  the worker keeps serving other clients meanwhile.
* watch streams memcached's lines (fetches, mutations, evictions,
  connection events); a watcher that does not read is told what it
  skipped, and the clients it watches are not slowed.
"""

import os
import re
import socket
import subprocess
import time

import pytest

from conftest import BIN, HOST, IS_MEMCACHED, MEMCACHED
from test_memcap import sanitizer

TOOL = "/usr/share/memcached/scripts/memcached-tool"

LINE_GET = re.compile(r"ts=\d+\.\d+ gid=\d+ type=item_get key=(\S+) status=(\w+) clsid=\d+ "
                      r"cfd=\d+ size=\d+")
LINE_STORE = re.compile(r"ts=\d+\.\d+ gid=\d+ type=item_store key=(\S+) status=(\w+) cmd=(\w+) "
                        r"ttl=\d+ clsid=\d+ cfd=\d+ size=(\d+)")
LINE_EVICT = re.compile(r"ts=\d+\.\d+ gid=\d+ type=eviction key=(\S+) fetch=(yes|no) ttl=-?\d+ "
                        r"la=\d+ clsid=\d+ size=\d+")
LINE_CONN = re.compile(r"ts=\d+\.\d+ gid=\d+ type=conn_(new|close) rip=127\.0\.0\.1 rport=(\d+) "
                       r"transport=tcp (?:reason=(\w+) )?cfd=\d+")


def need_memcached():
    if not os.access(MEMCACHED, os.X_OK):
        pytest.skip(f"{MEMCACHED} not installed")


def stat_names(conn, sub=b""):
    conn.send(b"stats" + (b" " + sub if sub else b"") + b"\r\n")
    body = conn.read_until(b"END\r\n")
    return re.findall(rb"STAT (\S+) ", body)


@pytest.mark.parametrize("args", [[], ["-o", "idle_timeout=30"], ["-M", "-C", "-m", "8"]],
                         ids=["default", "idle_timeout", "M_C_m8"])
def test_stats_fields_in_memcached_order(server, args):
    need_memcached()
    want = stat_names(server(args, binary=MEMCACHED).connect())
    got = stat_names(server(args, binary=BIN).connect())
    assert got[:len(want)] == want, "stats fields differ from memcached's"
    own = got[len(want):]
    assert not set(own) & set(want)


def tool_raw(port, *mode):
    """memcached-tool HOST:PORT mode...: (stdout bytes, stderr text)."""
    if not os.path.exists(TOOL):
        pytest.skip(f"{TOOL} not installed")
    r = subprocess.run(["/usr/bin/perl", TOOL, f"{HOST}:{port}", *mode], capture_output=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout, r.stderr.decode(errors="replace")


def tool(port, *mode):
    out, err = tool_raw(port, *mode)
    return out.decode(errors="replace"), err


def fill(conn):
    conn.expect(b"set a 0 0 1\r\nx\r\n", b"STORED\r\n")
    conn.expect(b"set b:c 5 100 3000\r\n" + b"y" * 3000 + b"\r\n", b"STORED\r\n")
    conn.expect(b"set sp%20ace 7 0 2\r\nzz\r\n", b"STORED\r\n")
    conn.expect(b"set bin 9 0 4\r\n\x00\x01\r\n\r\n", b"STORED\r\n")


@pytest.mark.time_limit(60)
def test_memcached_tool_display_stats_settings_sizes(server):
    ref = server(binary=MEMCACHED) if os.access(MEMCACHED, os.X_OK) else None
    for srv in ([server()] + ([ref] if ref else [])):
        fill(srv.connect())
        out, _ = tool(srv.port, "display")
        lines = out.splitlines()
        assert lines[0].split() == ["#", "Item_Size", "Max_age", "Pages", "Count", "Full?",
                                    "Evicted", "Evict_Time", "OOM"]
        rows = [ln.split() for ln in lines[1:]]
        assert sum(int(r[4]) for r in rows) == 4, out
        out, _ = tool(srv.port, "stats")
        fields = {ln.split()[0] for ln in out.splitlines()[1:]}
        for name in ("curr_items", "lrutail_reflocked", "time_in_listen_disabled_us", "libevent",
                     "log_watchers", "get_hits"):
            assert name in fields, name
        assert re.search(r"^\s+curr_items\s+4\r?$", out, re.M), out
        out, _ = tool(srv.port, "settings")
        assert re.search(r"^\s+maxbytes\s+67108864\r?$", out, re.M), out
        out, _ = tool(srv.port, "sizes")
        assert re.search(r"^\s+sizes_status\s+disabled\r?$", out, re.M), out


@pytest.mark.time_limit(60)
def test_memcached_tool_keys_and_dump_round_trip(server):
    src = server()
    fill(src.connect())
    out, err = tool(src.port, "keys")
    assert "Dumping memcache keys" in err
    keys = sorted(re.findall(r"^key=(\S+) exp=", out, re.M))
    assert keys == sorted(["a", "b%3Ac", "sp%2520ace", "bin"]), out
    dump, err = tool_raw(src.port, "dump")
    assert "Dumping memcache contents" in err
    assert b"add b:c 5 " in dump and b"add a 0 0 1\r\nx\r\n" in dump
    # what `memcached-tool dump | nc` does: load it into an empty server
    dst = server()
    c = dst.connect()
    c.send(dump)
    for _ in range(4):
        assert c.read_until() == b"STORED\r\n"
    assert c.get_value(b"a") == (0, b"x")
    assert c.get_value(b"b:c") == (5, b"y" * 3000)
    assert c.get_value(b"sp%20ace") == (7, b"zz")
    assert c.get_value(b"bin") == (9, b"\x00\x01\r\n")
    out, _ = tool(src.port, "dump", "2")
    assert out.count("add ") == 2


@pytest.mark.stashd_only
def test_dump_lists_what_memcached_get_finds(server):
    """A hash, and a string of another database, are not memcached items:
    metadump and cachedump leave them out; SWAPDB moves the view."""
    from resp_util import RespConn
    src = server()
    c = src.connect()
    assert c.store(b"plain", b"v") == b"STORED\r\n"
    r = RespConn(src.port)
    assert r.call_raw("HSET", "h", "f", "v") == b":1\r\n"
    assert r.call_raw("SELECT", "2") == b"+OK\r\n"
    assert r.call_raw("SET", "other", "v") == b"+OK\r\n"
    out, _ = tool(src.port, "keys")
    assert sorted(re.findall(r"^key=(\S+) exp=", out, re.M)) == ["plain"], out
    c.send(b"stats cachedump 1 0\r\n")
    dump = c.read_until(b"END\r\n")
    assert b"ITEM plain " in dump and b"ITEM h " not in dump and b"ITEM other " not in dump
    assert r.call_raw("SWAPDB", "0", "2") == b"+OK\r\n"
    out, _ = tool(src.port, "keys")
    assert sorted(re.findall(r"^key=(\S+) exp=", out, re.M)) == ["other"], out
    r.close()


def raw_conn(port):
    s = socket.create_connection((HOST, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


@pytest.mark.stashd_only
@pytest.mark.time_limit(90)
def test_metadump_of_a_big_cache_streams(server):
    """A dump far larger than the reply bound: a client that stops reading
    holds it to the bound, another client on the same (only) worker is
    served meanwhile, and the dump completes, every key once."""
    srv = server(["-t", "1", "-m", "256"])
    c = srv.connect()
    n = 200_000
    batch = b"".join(b"set key:%07d 0 0 10 noreply\r\n0123456789\r\n" % i for i in range(n))
    c.send(batch)
    c.expect(b"mn\r\n", b"MN\r\n", timeout=60)
    d = raw_conn(srv.port)
    d.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
    d.sendall(b"lru_crawler metadump all\r\n")
    time.sleep(1.0)  # the dump fills the socket and the server's bound, then waits
    t0 = time.monotonic()
    st = c.stats()
    assert time.monotonic() - t0 < 2, "the worker was blocked by the dump"
    assert st["lru_crawler_running"] == "1"
    # a 200k-item dump is ~16 MB: the connection holds two reply buffers
    # of about SESSION_OUT_HIGH (256 KiB) each, not the dump
    assert int(st["conn_buffer_bytes"]) < 8 << 20, st["conn_buffer_bytes"]
    d.settimeout(30)
    data = bytearray()
    while not data.endswith(b"END\r\n"):
        chunk = d.recv(1 << 20)
        assert chunk, "connection closed mid-dump"
        data += chunk
    d.close()
    keys = re.findall(rb"^key=key%3A(\d{7}) exp=-1 la=\d+ cas=\d+ fetch=no cls=\d+ size=\d+$",
                      bytes(data), re.M)
    assert len(keys) == n and len(set(keys)) == n
    assert c.stats()["lru_crawler_running"] == "0"


def read_lines(sock, want, timeout=10):
    """Watch lines until want(lines) or timeout. Lines are split as they
    come (a slow watcher's backlog is megabytes, read 4 KiB at a time);
    the last element is the line still incomplete, as str.split gives."""
    sock.settimeout(0.2)
    done, rest = [], b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            *whole, rest = (rest + chunk).split(b"\n")
            done += [ln.decode(errors="replace") for ln in whole]
        except socket.timeout:
            pass
        lines = done + [rest.decode(errors="replace")]
        if want(lines):
            return lines
    return done + [rest.decode(errors="replace")]


@pytest.mark.time_limit(60)
def test_watch_lines(server):
    srv = server(["-m", "2"])
    w = raw_conn(srv.port)
    w.sendall(b"watch fetchers mutations evictions connevents\r\n")
    w.settimeout(5)
    assert w.recv(4) == b"OK\r\n"
    c = srv.connect()
    c.expect(b"set foo 0 0 3\r\nbar\r\nget foo nope\r\n", b"STORED\r\nVALUE foo 0 3\r\nbar\r\nEND\r\n")
    c.expect(b"add foo 0 0 1\r\nx\r\n", b"NOT_STORED\r\n")
    port = c.sock.getsockname()[1]
    c.close()
    lines = read_lines(w, lambda ls: any("conn_close" in ln for ln in ls))
    gets = [LINE_GET.match(ln).groups() for ln in lines if LINE_GET.match(ln)]
    stores = [LINE_STORE.match(ln).groups() for ln in lines if LINE_STORE.match(ln)]
    conns = [LINE_CONN.match(ln).groups() for ln in lines if LINE_CONN.match(ln)]
    assert ("foo", "found") in gets and ("nope", "not_found") in gets
    assert ("foo", "stored", "set", "3") in stores and ("foo", "not_stored", "add", "1") in stores
    assert ("new", str(port), None) in conns
    assert any(k == "close" and p == str(port) for k, p, _ in conns)
    # evictions: fill the 2 MB cache (watching evictions alone, so that the
    # stores' lines do not fill the log first)
    w.close()
    w = raw_conn(srv.port)
    w.sendall(b"watch evictions\r\n")
    w.settimeout(5)
    assert w.recv(4) == b"OK\r\n"
    c = srv.connect()
    c.send(b"".join(b"set big%d 0 0 1000 noreply\r\n%s\r\n" % (i, b"x" * 1000)
                    for i in range(4000)))
    c.expect(b"mn\r\n", b"MN\r\n", timeout=20)
    lines = read_lines(w, lambda ls: any(LINE_EVICT.match(ln) for ln in ls))
    assert any(LINE_EVICT.match(ln) for ln in lines), lines[:5]
    # commands after watch are not read
    w.sendall(b"stats\r\n")
    time.sleep(0.3)
    w.settimeout(0.3)
    try:
        rest = w.recv(1 << 20)
    except socket.timeout:
        rest = b""
    assert b"STAT " not in rest and b"END\r\n" not in rest
    w.close()


@pytest.mark.time_limit(60)
def test_watch_replies(server):
    srv = server()
    c = srv.connect()
    c.expect(b"watch bogus\r\n", b"ERROR\r\n")
    c.expect(b"watch fetchers bogus\r\n", b"ERROR\r\n")
    c.expect(b"watch FETCHERS\r\n", b"ERROR\r\n")
    c.expect(b"watch rawcmds sysevents proxyreqs\r\n", b"OK\r\n")


@pytest.mark.stashd_only
@pytest.mark.time_limit(90)
def test_slow_watcher_is_told_and_slows_nobody(server):
    srv = server(["-t", "2"])
    slow = raw_conn(srv.port)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.sendall(b"watch fetchers\r\n")
    c = srv.connect()
    key = b"k" * 200  # long lines fill the watcher's bound sooner
    req = b"".join(b"get %s%d\r\n" % (key, i) for i in range(500))
    t0 = time.monotonic()
    rounds = 0
    lost = 0
    # until the watcher's bounds are full and lines are lost (the socket,
    # the connection's reply buffers, then the log's queue: a few MB)
    while lost == 0 and time.monotonic() - t0 < 60:
        for _ in range(10):
            c.send(req)
            c.read_exact(len(b"END\r\n") * 500, timeout=10)
            rounds += 1
        st = c.stats()
        lost = int(st["log_watcher_skipped"]) + int(st["log_worker_dropped"])
    elapsed = time.monotonic() - t0
    assert lost > 0, "no line was lost"
    assert rounds * 500 / elapsed > 2000, "gets were slowed"  # a loaded CI host: generous
    assert int(st["log_watchers"]) == 1
    assert int(st["conn_buffer_bytes"]) < 16 << 20
    slow.settimeout(5)
    lines = read_lines(slow, lambda ls: any(ln.startswith("skipped=") for ln in ls), 20)
    told = any(re.fullmatch(r"skipped=\d+", ln) for ln in lines)
    if not told and sanitizer(srv.pid):
        # Logging slowed by a sanitizer can let the watcher's socket fill
        # before the log's ring does: the notice then comes after
        # megabytes of lines, which the 4 KiB window drains at ~40 kB/s.
        # It is due, not yet read: the watcher is charged the log's drops
        # at its next collection, which waits for its socket to drain.
        st = c.stats()
        told = int(st["log_watcher_skipped"]) + int(st["log_worker_dropped"]) > 0
    assert told, lines[:5]
    slow.close()
    deadline = time.monotonic() + 3
    while c.stats()["log_watchers"] != "0":
        assert time.monotonic() < deadline, "the watcher did not go away with its connection"
        time.sleep(0.05)
