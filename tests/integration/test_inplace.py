"""Large values stored in place as they arrive (cmd/step.h, store_reserve).

A memcached text set, add, replace or cas (or binary set, add, replace and
their quiet forms, or a RESP SET without options) whose value is SESSION_SINK_MIN
(32 KiB) or more and has not all arrived gets its item at once; the value
is written into it as it is read, so the connection's read buffer stays
small and the value's memory is within -m from the start (as memcached's
item is). These tests send such values in pieces with pauses, with every
mode and its refusals, noreply, a bad data chunk, a flush in the middle, a
client that leaves halfway, a full store churning meanwhile, and check
what clients read back and the stats that show the path was taken
(bytes_read_in_place, in_place_pending_bytes).
"""

import random
import threading
import time

import pytest

from conftest import HOST, IS_MEMCACHED
from sock_util import connect, read_exact, read_line, stat

pytestmark = pytest.mark.skipif(IS_MEMCACHED, reason="stashd's bytes_read_in_place")

SINK_MIN = 32 * 1024






def send_slowly(s, data, pieces=8, pause=0.02):
    """The request in pieces, each after a pause: the server reads the
    value over several event-loop turns."""
    step = max(1, len(data) // pieces)
    for i in range(0, len(data), step):
        s.sendall(data[i : i + step])
        time.sleep(pause)


def get(s, key):
    s.sendall(b"gets %s\r\n" % key)
    line = read_line(s)
    if line == b"END\r\n":
        return None, None
    parts = line.split()
    n = int(parts[3])
    value = read_exact(s, n + 2)[:-2]
    assert read_line(s) == b"END\r\n"
    return value, (int(parts[2]), int(parts[4]))


@pytest.mark.time_limit(60)
def test_modes_in_pieces(server):
    srv = server(["-m", "64", "-I", "2m"])
    s = connect(srv)
    rnd = random.Random(1)
    before = stat(srv, "bytes_read_in_place")
    v1 = rnd.randbytes(300_000)
    send_slowly(s, b"set k 5 0 %d\r\n%s\r\n" % (len(v1), v1))
    assert read_line(s) == b"STORED\r\n"
    got, (flags, cas) = get(s, b"k")
    assert got == v1 and flags == 5
    assert stat(srv, "bytes_read_in_place") - before >= len(v1) - 16 * 1024
    assert stat(srv, "in_place_pending_bytes") == 0
    # add over it: refused, the old value stays
    v2 = rnd.randbytes(100_000)
    send_slowly(s, b"add k 0 0 %d\r\n%s\r\n" % (len(v2), v2))
    assert read_line(s) == b"NOT_STORED\r\n"
    assert get(s, b"k")[0] == v1
    # replace of a missing key: refused
    send_slowly(s, b"replace nope 0 0 %d\r\n%s\r\n" % (len(v2), v2))
    assert read_line(s) == b"NOT_STORED\r\n"
    assert get(s, b"nope")[0] is None
    # cas: stale, then current
    send_slowly(s, b"cas k 0 0 %d %d\r\n%s\r\n" % (len(v2), cas + 1000, v2))
    assert read_line(s) == b"EXISTS\r\n"
    send_slowly(s, b"cas k 9 0 %d %d\r\n%s\r\n" % (len(v2), cas, v2))
    assert read_line(s) == b"STORED\r\n"
    got, (flags, cas2) = get(s, b"k")
    assert got == v2 and flags == 9 and cas2 != cas
    # cas of a missing key
    send_slowly(s, b"cas nope 0 0 %d 1\r\n%s\r\n" % (len(v2), v2))
    assert read_line(s) == b"NOT_FOUND\r\n"
    # noreply: nothing comes back, the next request is answered
    v3 = rnd.randbytes(SINK_MIN)
    send_slowly(s, b"set q 0 0 %d noreply\r\n%s\r\n" % (len(v3), v3))
    assert get(s, b"q")[0] == v3
    assert stat(srv, "in_place_pending_bytes") == 0
    s.close()


@pytest.mark.time_limit(60)
def test_pipelined_around_a_slow_value(server):
    """Requests before, after and in the same writes as a value sent in
    pieces; the crlf after it split over two writes."""
    srv = server(["-m", "64"])
    s = connect(srv)
    v = random.Random(2).randbytes(200_000)
    req = b"set a 0 0 1\r\nA\r\nset big 0 0 %d\r\n%s\r\nget a\r\nset b 0 0 1\r\nB\r\n" % (len(v), v)
    cut = req.index(v) + len(v) + 1  # between the \r and the \n
    send_slowly(s, req[:cut], pieces=5)
    time.sleep(0.05)
    s.sendall(req[cut:])
    want = b"STORED\r\nSTORED\r\nVALUE a 0 1\r\nA\r\nEND\r\nSTORED\r\n"
    assert read_exact(s, len(want)) == want
    assert get(s, b"big")[0] == v
    assert get(s, b"b")[0] == b"B"


@pytest.mark.time_limit(60)
def test_bad_chunk_and_flush(server):
    srv = server(["-m", "64"])
    s = connect(srv)
    v = random.Random(3).randbytes(100_000)
    s.sendall(b"set old 0 0 3\r\nold\r\n")
    assert read_line(s) == b"STORED\r\n"
    # the two bytes after the value are not \r\n: memcached's answer, and
    # the old value stays (as memcached's)
    send_slowly(s, b"set old 0 0 %d\r\n%sXY" % (len(v), v))
    assert read_line(s) == b"CLIENT_ERROR bad data chunk\r\n"
    assert get(s, b"old")[0] == b"old"
    assert stat(srv, "in_place_pending_bytes") == 0
    # a flush while the value arrives: the value was stored after it
    req = b"set f 0 0 %d\r\n%s\r\n" % (len(v), v)
    s.sendall(req[: len(req) // 2])
    time.sleep(0.1)
    other = connect(srv)
    other.sendall(b"flush_all\r\n")
    assert read_line(other) == b"OK\r\n"
    s.sendall(req[len(req) // 2 :])
    assert read_line(s) == b"STORED\r\n"
    assert get(s, b"f")[0] == v
    assert get(s, b"old")[0] is None


@pytest.mark.time_limit(90)
def test_leavers_and_churn_on_a_full_store(server):
    """Clients that leave halfway through a value, and clients that send
    values slowly while others churn a full store: no value is lost or
    corrupted, the reservations all end, memory stays within -m."""
    srv = server(["-m", "16", "-t", "2"])
    # leavers: half a value, then close
    for i in range(20):
        c = connect(srv)
        v = random.Random(i).randbytes(200_000)
        c.sendall(b"set leave%d 0 0 %d\r\n%s" % (i, len(v), v[:100_000]))
        time.sleep(0.01)
        c.close()
    deadline = time.time() + 5
    while stat(srv, "in_place_pending_bytes") != 0 and time.time() < deadline:
        time.sleep(0.05)
    assert stat(srv, "in_place_pending_bytes") == 0
    stop = time.time() + 4
    errors = []

    def churner(seed):
        try:
            c = connect(srv)
            rnd = random.Random(seed)
            n = 0
            while time.time() < stop:
                v = rnd.randbytes(rnd.randint(1000, 60_000))
                c.sendall(b"set churn%d_%d 0 0 %d\r\n%s\r\n" % (seed, n % 500, len(v), v))
                assert read_line(c) == b"STORED\r\n"
                n += 1
            c.close()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def slow_writer(seed):
        try:
            c = connect(srv)
            rnd = random.Random(seed)
            n = 0
            while time.time() < stop:
                v = rnd.randbytes(rnd.randint(SINK_MIN, 400_000))
                key = b"slow%d_%d" % (seed, n)
                send_slowly(c, b"set %s 0 0 %d\r\n%s\r\n" % (key, len(v), v), pieces=4, pause=0.01)
                assert read_line(c) == b"STORED\r\n"
                got, _ = get(c, key)
                # evicted already is the cache's right; wrong bytes never are
                assert got is None or got == v
                n += 1
            c.close()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=churner, args=(i,)) for i in range(3)]
    threads += [threading.Thread(target=slow_writer, args=(100 + i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    st = srv.stats()
    assert int(st["in_place_pending_bytes"]) == 0
    assert int(st["bytes_read_in_place"]) > 0
    assert int(st["total_malloced"]) <= 16 << 20
    assert int(st["evictions"]) > 0
    s = connect(srv)
    s.sendall(b"set after 0 0 2\r\nok\r\n")
    assert read_line(s) == b"STORED\r\n"


def bin_packet(opcode, key, value=b"", extras=b"", cas=0, opaque=0):
    import struct

    body = extras + key + value
    return (
        struct.pack(">BBHBBHIIQ", 0x80, opcode, len(key), len(extras), 0, 0, len(body), opaque, cas)
        + body
    )


def bin_reply(s):
    import struct

    hdr = read_exact(s, 24)
    magic, opcode, keylen, extlen, _, status, body, opaque, cas = struct.unpack(">BBHBBHIIQ", hdr)
    assert magic == 0x81
    rest = read_exact(s, body)
    return opcode, status, opaque, cas, rest[extlen + keylen :]


@pytest.mark.time_limit(60)
def test_binary_in_pieces(server):
    """Binary set, setq, add and cas with large values sent in pieces: the
    same replies (opcode, opaque, status, cas) as when buffered."""
    import struct

    SET, GET, ADD, SETQ, NOOP = 0x01, 0x00, 0x02, 0x11, 0x0A
    srv = server(["-m", "64", "-I", "2m"])
    s = connect(srv)
    rnd = random.Random(5)
    before = stat(srv, "bytes_read_in_place")
    v1 = rnd.randbytes(250_000)
    extras = struct.pack(">II", 3, 0)
    send_slowly(s, bin_packet(SET, b"bk", v1, extras, opaque=77))
    op, status, opaque, cas, _ = bin_reply(s)
    assert (op, status, opaque) == (SET, 0, 77) and cas != 0
    s.sendall(bin_packet(GET, b"bk", opaque=78))
    op, status, opaque, _, body = bin_reply(s)
    assert (op, status, opaque) == (GET, 0, 78) and body == v1
    assert stat(srv, "bytes_read_in_place") - before >= len(v1) - 16 * 1024
    # add over it: exists; the value stays
    send_slowly(s, bin_packet(ADD, b"bk", rnd.randbytes(60_000), extras, opaque=79))
    op, status, opaque, _, _ = bin_reply(s)
    assert (op, status, opaque) == (ADD, 0x0002, 79)
    # a stale cas: exists; the right one stores
    send_slowly(s, bin_packet(SET, b"bk", rnd.randbytes(60_000), extras, cas=cas + 5, opaque=80))
    assert bin_reply(s)[:3] == (SET, 0x0002, 80)
    v2 = rnd.randbytes(90_000)
    send_slowly(s, bin_packet(SET, b"bk", v2, extras, cas=cas, opaque=81))
    assert bin_reply(s)[:3] == (SET, 0, 81)
    # setq: no reply on success; the noop after it answers
    v3 = rnd.randbytes(SINK_MIN + 1)
    send_slowly(s, bin_packet(SETQ, b"bq", v3, extras, opaque=82) + bin_packet(NOOP, b"", opaque=83))
    assert bin_reply(s)[:3] == (NOOP, 0, 83)
    s.sendall(bin_packet(GET, b"bq", opaque=84))
    assert bin_reply(s)[4] == v3
    s.sendall(bin_packet(GET, b"bk", opaque=85))
    assert bin_reply(s)[4] == v2
    assert stat(srv, "in_place_pending_bytes") == 0
    # a client that leaves halfway
    c = connect(srv)
    c.sendall(bin_packet(SET, b"gone", rnd.randbytes(200_000), extras)[:100_000])
    time.sleep(0.1)
    c.close()
    deadline = time.time() + 5
    while stat(srv, "in_place_pending_bytes") != 0 and time.time() < deadline:
        time.sleep(0.05)
    assert stat(srv, "in_place_pending_bytes") == 0
    s.sendall(bin_packet(GET, b"gone", opaque=86))
    assert bin_reply(s)[1] == 0x0001


def resp_cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


@pytest.mark.time_limit(60)
def test_resp_set_in_pieces(server):
    """RESP SET of a large value sent in pieces: stored in place, read back
    by GET, counted in INFO commandstats; SET with options, MULTI and a
    bad bulk end behave as Redis does."""
    import redis

    srv = server(["-m", "64", "-I", "2m"])
    s = connect(srv)
    rnd = random.Random(7)
    before = stat(srv, "bytes_read_in_place")
    v = rnd.randbytes(300_000)
    send_slowly(s, resp_cmd(b"SET", b"rk", v) + resp_cmd(b"GET", b"small"))
    assert read_exact(s, 5 + 5) == b"+OK\r\n$-1\r\n"
    assert stat(srv, "bytes_read_in_place") - before >= len(v) - 16 * 1024
    r = redis.Redis(host=HOST, port=srv.port, socket_timeout=10)
    assert r.get("rk") == v
    calls = r.info("commandstats")["cmdstat_set"]["calls"]
    assert calls == 1
    # another database: the value lands in the one selected
    s.sendall(resp_cmd(b"SELECT", b"3"))
    assert read_exact(s, 5) == b"+OK\r\n"
    send_slowly(s, resp_cmd(b"set", b"rk", v[:100_000]))
    assert read_exact(s, 5) == b"+OK\r\n"
    assert r.get("rk") == v
    assert redis.Redis(host=HOST, port=srv.port, db=3).get("rk") == v[:100_000]
    # options after the value: parsed whole, as before
    send_slowly(s, resp_cmd(b"SET", b"nx", v[:50_000], b"NX"))
    assert read_exact(s, 5) == b"+OK\r\n"
    # inside MULTI: queued, not stored in place
    s.sendall(resp_cmd(b"MULTI"))
    assert read_exact(s, 5) == b"+OK\r\n"
    send_slowly(s, resp_cmd(b"SET", b"tx", v[:60_000]))
    assert read_exact(s, 9) == b"+QUEUED\r\n"
    assert redis.Redis(host=HOST, port=srv.port, db=3).get("tx") is None
    s.sendall(resp_cmd(b"EXEC"))
    assert read_exact(s, 9) == b"*1\r\n+OK\r\n"
    assert stat(srv, "in_place_pending_bytes") == 0
    # a value not closed by \r\n: Redis's protocol error, and the connection
    # is closed; nothing is stored
    c = connect(srv)
    req = resp_cmd(b"SET", b"bad", v[:80_000])
    send_slowly(c, req[:-2] + b"XY")
    assert read_line(c) == b"-ERR Protocol error: invalid bulk length\r\n"
    assert c.recv(1) == b""
    assert r.get("bad") is None
    assert stat(srv, "in_place_pending_bytes") == 0


@pytest.mark.time_limit(90)
def test_stalled_clients_cannot_pin_the_store(server):
    """Clients that start a large value and stall, each after enough other
    sets that its item lands in another segment: a reserved item keeps its
    whole segment from eviction, so the server counts whole segments and
    lets at most a quarter of -m be kept so (the other stalled values are
    buffered as before). Sets from everyone else keep being stored, and
    every stalled value, once finished, is stored whole."""
    srv = server(["-m", "16", "-t", "2"])
    churn = connect(srv)

    def fill(n, tag):
        v = b"z" * 100_000
        for i in range(n):
            churn.sendall(b"set %s%d 0 0 %d\r\n%s\r\n" % (tag, i, len(v), v))
            assert read_line(churn) == b"STORED\r\n"

    stalled = []
    for i in range(24):
        c = connect(srv)
        v = random.Random(100 + i).randbytes(40_000)
        c.sendall(b"set stall%d 0 0 %d\r\n%s" % (i, len(v), v[:1000]))
        stalled.append((c, v))
        time.sleep(0.02)
        fill(12, b"f%d_" % i)  # 1.2 MB: the next one lands in another segment
    assert 0 < stat(srv, "in_place_held_bytes") <= (16 << 20) // 4
    assert stat(srv, "in_place_pending_bytes") > 0
    fill(200, b"after")  # 20 MB more through a 16 MiB store
    for c, v in stalled:
        c.sendall(v[1000:] + b"\r\n")
        assert read_line(c) == b"STORED\r\n"
    for i, (c, v) in enumerate(stalled):
        assert get(c, b"stall%d" % i)[0] == v
        c.close()
    assert stat(srv, "in_place_pending_bytes") == 0
    assert stat(srv, "in_place_held_bytes") == 0
