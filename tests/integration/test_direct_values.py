"""Large values written from item memory (cmd/session.h, session_out_value).

A value of SESSION_DIRECT_MIN (32 KiB) or more, read by text get/gets,
meta mg, binary get/getk or RESP GET and MGET, goes to the socket together with the replies
before it, when no write is in flight; only what the kernel does not take
is copied into the reply buffer. These tests check the bytes clients get,
pipelined among small replies, for a client that reads at once (the
values then leave without a copy: stats bytes_written_direct) and for one
that reads late through a small receive window (partial writes, then
copies), on TCP and on a unix socket.

Values under 32 KiB go the same way once the replies before them would
pass SESSION_OUT_FLUSH (64 KiB): the reply buffer is written through
instead of grown (test_small_values_write_through).
"""

import random
import struct
import time

import pytest

from conftest import IS_MEMCACHED
from sock_util import connect, read_exact, stat

pytestmark = pytest.mark.skipif(IS_MEMCACHED, reason="stashd's bytes_written_direct")

DIRECT_MIN = 32 * 1024
SIZES = [DIRECT_MIN - 1, DIRECT_MIN, DIRECT_MIN + 1, 100_000, 700_000, 5, 0]


def values():
    return {b"dv:%d" % i: random.Random(i).randbytes(n) for i, n in enumerate(SIZES)}


def text_expected(vals, keys):
    out = bytearray()
    for k in keys:
        v = vals[k]
        out += b"VALUE %s 7 %d\r\n%s\r\n" % (k, len(v), v)
    return bytes(out)


def load_text(s, vals):
    for k, v in vals.items():
        s.sendall(b"set %s 7 0 %d\r\n%s\r\n" % (k, len(v), v))
        assert read_exact(s, 8) == b"STORED\r\n"


def exchange(s, req, want, late):
    """Send req whole; the same bytes back whatever the timing (late: the
    server meets a full window first, so partial writes, then copies)."""
    s.sendall(req)
    if late:
        time.sleep(0.5)
    assert read_exact(s, len(want)) == bytes(want)


def text_round(s, vals, late=False):
    """Pipelined: each key's get, a small set between, one multi-get of
    all; then the same bytes are expected back, whatever the timing."""
    keys = list(vals)
    req = bytearray()
    want = bytearray()
    for k in keys:
        req += b"get %s\r\n" % k
        want += text_expected(vals, [k]) + b"END\r\n"
        req += b"set small 0 0 2\r\nhi\r\n"
        want += b"STORED\r\n"
    req += b"get " + b" ".join(keys) + b"\r\n"
    want += text_expected(vals, keys) + b"END\r\n"
    exchange(s, req, want, late)


def meta_round(s, vals, late=False):
    """Pipelined meta gets of every value: with flags before and after the
    value, with N (vivify: copied, its item room holds a segment head),
    without v (no value), a quiet miss, each followed by a small ms; then
    mn. The same bytes whatever the timing."""
    req = bytearray()
    want = bytearray()
    for i, (k, v) in enumerate(vals.items()):
        req += b"mg %s s v f t O%d k\r\n" % (k, i)
        want += b"VA %d s%d f7 t-1 O%d k%s\r\n%s\r\n" % (len(v), len(v), i, k, v)
        req += b"mg %s v N30\r\n" % k
        want += b"VA %d\r\n%s\r\n" % (len(v), v)
        req += b"mg %s s\r\nmg nosuch%d v q\r\n" % (k, i)
        want += b"HD s%d\r\n" % len(v)
        req += b"ms small 2\r\nhi\r\n"
        want += b"HD\r\n"
    req += b"mn\r\n"
    want += b"MN\r\n"
    exchange(s, req, want, late)


ROUNDS = {"text": text_round, "meta": meta_round}


@pytest.mark.time_limit(60)
@pytest.mark.parametrize("unix", [False, True])
@pytest.mark.parametrize("proto", ["text", "meta"])
def test_text_and_meta_values_direct_and_copied(server, proto, unix):
    srv = server(["-m", "64", "-I", "1m"], unix=unix)
    vals = values()
    s = connect(srv, unix=unix)
    load_text(s, vals)
    before = stat(srv, "bytes_written_direct")
    ROUNDS[proto](s, vals)
    big = sum(len(v) for v in vals.values() if len(v) >= DIRECT_MIN)
    direct = stat(srv, "bytes_written_direct") - before
    # a client that reads at once: the large values left from item memory,
    # all but what met a full socket buffer (a unix socket's is ~200 kB;
    # loopback TCP's grows to megabytes). A text round reads each value
    # twice (its get, then the multi-get); a meta round once plainly, and
    # its mg with N is copied.
    assert direct >= (DIRECT_MIN if unix else big), (direct, big)
    assert direct <= big * (2 if proto == "text" else 1), (direct, big)
    if proto == "text":
        # gets: the cas rides along, the value is the same bytes
        s.sendall(b"gets dv:3\r\n")
        line = b""
        while not line.endswith(b"\r\n"):
            line += s.recv(1)
        assert line.startswith(b"VALUE dv:3 7 100000 ")
        assert read_exact(s, 100_000 + 7) == vals[b"dv:3"] + b"\r\nEND\r\n"
    s.close()
    # a client behind on reading: partial writes, the rest copied
    late = connect(srv, rcvbuf=4096, unix=unix)
    for _ in range(3):
        ROUNDS[proto](late, vals, late=True)
    late.close()


@pytest.mark.time_limit(60)
def test_binary_values_direct_and_copied(server):
    srv = server(["-m", "64", "-I", "1m"])
    vals = values()

    def pkt(op, key=b"", extras=b"", value=b"", opaque=0):
        body = extras + key + value
        return struct.pack(">BBHBBHIIQ", 0x80, op, len(key), len(extras), 0, 0, len(body),
                           opaque, 0) + body

    def read_pkt(s):
        h = read_exact(s, 24)
        _, op, klen, elen, _, status, blen, opaque, _ = struct.unpack(">BBHBBHIIQ", h)
        body = read_exact(s, blen)
        return op, status, opaque, body[elen:elen + klen], body[elen + klen:], body[:elen]

    for rcvbuf, late in ((None, False), (4096, True)):
        s = connect(srv, rcvbuf=rcvbuf)
        for k, v in vals.items():
            s.sendall(pkt(0x01, k, struct.pack(">II", 7, 0), v))
            assert read_pkt(s)[1] == 0
        before = stat(srv, "bytes_written_direct")
        req = bytearray()
        for i, k in enumerate(vals):
            req += pkt(0x00, k, opaque=i)          # GET
            req += pkt(0x0C, k, opaque=100 + i)    # GETK
            req += pkt(0x0A, opaque=200 + i)       # NOOP
        s.sendall(req)
        if late:
            time.sleep(0.5)
        for i, k in enumerate(vals):
            op, status, opaque, key, value, extras = read_pkt(s)
            assert (op, status, opaque, key, extras) == (0x00, 0, i, b"", struct.pack(">I", 7))
            assert value == vals[k]
            op, status, opaque, key, value, extras = read_pkt(s)
            assert (op, status, opaque, key) == (0x0C, 0, 100 + i, k) and value == vals[k]
            assert read_pkt(s)[:3] == (0x0A, 0, 200 + i)
        if not late:
            big = sum(len(v) for v in vals.values() if len(v) >= DIRECT_MIN)
            assert stat(srv, "bytes_written_direct") - before >= 2 * big
        s.close()


@pytest.mark.time_limit(60)
def test_resp_get_direct_and_copied_and_exec(server):
    srv = server(["-m", "64", "-I", "1m"])
    vals = values()

    def cmd(*args):
        return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)

    def bulk(v):
        return b"$%d\r\n%s\r\n" % (len(v), v)

    for rcvbuf, late in ((None, False), (4096, True)):
        s = connect(srv, rcvbuf=rcvbuf)
        for k, v in vals.items():
            s.sendall(cmd(b"SET", k, v))
            assert read_exact(s, 5) == b"+OK\r\n"
        before = stat(srv, "bytes_written_direct")
        req, want = bytearray(), bytearray()
        for k, v in vals.items():
            req += cmd(b"GET", k) + cmd(b"PING")
            want += bulk(v) + b"+PONG\r\n"
        # EXEC places its replies by offset: its GETs are copied, in order
        keys = list(vals)
        req += cmd(b"MULTI") + b"".join(cmd(b"GET", k) for k in keys) + cmd(b"EXEC")
        want += b"+OK\r\n" + b"+QUEUED\r\n" * len(keys)
        want += b"*%d\r\n" % len(keys) + b"".join(bulk(vals[k]) for k in keys)
        req += cmd(b"MGET", *keys)
        want += b"*%d\r\n" % len(keys) + b"".join(bulk(vals[k]) for k in keys)
        s.sendall(req)
        if late:
            time.sleep(0.5)
        assert read_exact(s, len(want)) == bytes(want)
        if not late:
            # each GET's and MGET's (not EXEC's): twice the large values
            big = sum(len(v) for v in vals.values() if len(v) >= DIRECT_MIN)
            assert stat(srv, "bytes_written_direct") - before >= 2 * big
        s.close()


OUT_FLUSH = 64 * 1024


@pytest.mark.time_limit(60)
@pytest.mark.parametrize("proto", ["text", "meta", "binary", "resp"])
def test_small_values_write_through(server, proto):
    """A multi-get of 60 values of 3-5 kB (each under DIRECT_MIN, 240 kB
    in all): each value that would take the replies past 64 KiB leaves
    from item memory with the buffer before it, so bytes_written_direct
    moves by a few values; a reply of under 64 KiB moves it not at all; and the bytes
    are the same for a client that reads at once and one that reads
    late through a small window (partial writes, then copies)."""
    srv = server(["-m", "64"])
    rng = random.Random(7)
    vals = {b"wt:%d" % i: rng.randbytes(rng.randrange(3000, 5000)) for i in range(60)}
    keys = list(vals)
    total = sum(len(v) for v in vals.values())

    def resp_cmd(*args):
        return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)

    def bin_pkt(op, key=b"", extras=b"", value=b"", opaque=0):
        body = extras + key + value
        return struct.pack(">BBHBBHIIQ", 0x80, op, len(key), len(extras), 0, 0, len(body),
                           opaque, 0) + body

    if proto == "text":
        def load(s):
            s.sendall(b"".join(b"set %s 3 0 %d\r\n%s\r\n" % (k, len(v), v)
                               for k, v in vals.items()))
            assert read_exact(s, 8 * len(vals)) == b"STORED\r\n" * len(vals)

        def multiget(ks):
            want = b"".join(b"VALUE %s 3 %d\r\n%s\r\n" % (k, len(vals[k]), vals[k]) for k in ks)
            return b"get " + b" ".join(ks) + b"\r\n", want + b"END\r\n"
    elif proto == "meta":
        def load(s):
            s.sendall(b"".join(b"ms %s %d F3\r\n%s\r\n" % (k, len(v), v)
                               for k, v in vals.items()))
            assert read_exact(s, 4 * len(vals)) == b"HD\r\n" * len(vals)

        def multiget(ks):
            req = b"".join(b"mg %s v f k Oq%d\r\n" % (k, i) for i, k in enumerate(ks))
            want = b"".join(b"VA %d f3 k%s Oq%d\r\n%s\r\n" % (len(vals[k]), k, i, vals[k])
                            for i, k in enumerate(ks))
            return req + b"mn\r\n", want + b"MN\r\n"
    elif proto == "resp":
        def load(s):
            s.sendall(b"".join(resp_cmd(b"SET", k, v) for k, v in vals.items()))
            assert read_exact(s, 5 * len(vals)) == b"+OK\r\n" * len(vals)

        def multiget(ks):
            want = b"*%d\r\n" % len(ks) + b"".join(b"$%d\r\n%s\r\n" % (len(vals[k]), vals[k])
                                                   for k in ks)
            return resp_cmd(b"MGET", *ks), want
    else:
        def load(s):
            s.sendall(b"".join(bin_pkt(0x11, k, struct.pack(">II", 3, 0), v)  # SETQ
                               for k, v in vals.items()) + bin_pkt(0x0A, opaque=9))
            assert read_exact(s, 24)[1] == 0x0A  # only the NOOP answers

        def multiget(ks):
            req = b"".join(bin_pkt(0x0D, k, opaque=i) for i, k in enumerate(ks))  # GETKQ
            want = bytearray()
            for i, k in enumerate(ks):
                body = struct.pack(">I", 3) + k + vals[k]
                want += struct.pack(">BBHBBHIIQ", 0x81, 0x0D, len(k), 4, 0, 0, len(body), i, 0)
                want += body
            # the cas field of each reply is the item's: compare all but it
            return req + bin_pkt(0x0A, opaque=999), bytes(want)

    def strip_cas(b):
        if proto != "binary":
            return b
        out, i = bytearray(), 0
        while i < len(b):
            blen = struct.unpack(">I", b[i + 8:i + 12])[0]
            out += b[i:i + 16] + b[i + 24:i + 24 + blen]
            i += 24 + blen
        return bytes(out)

    s = connect(srv)
    load(s)
    # one short reply: copied
    before = stat(srv, "bytes_written_direct")
    req, want = multiget(keys[:5])
    s.sendall(req)
    n = len(want) + (24 if proto == "binary" else 0)
    got = read_exact(s, n)
    assert strip_cas(got[:len(want)]) == strip_cas(want)
    assert stat(srv, "bytes_written_direct") == before
    # the long one: written through
    req, want = multiget(keys)
    s.sendall(req)
    n = len(want) + (24 if proto == "binary" else 0)
    got = read_exact(s, n)
    assert strip_cas(got[:len(want)]) == strip_cas(want)
    direct = stat(srv, "bytes_written_direct") - before
    # each time the buffer would pass 64 KiB, it and the next value leave
    # in one write: 3 times in 240 kB, so 2 to 4 values went direct
    assert 2 * 3000 <= direct <= 4 * 5000, (direct, total)
    s.close()
    late = connect(srv, rcvbuf=4096)
    for _ in range(2):
        late.sendall(req)
        time.sleep(0.3)
        got = read_exact(late, n)
        assert strip_cas(got[:len(want)]) == strip_cas(want)
    late.close()


@pytest.mark.time_limit(60)
def test_direct_values_under_churn(server):
    """Sets that evict, gets of large values from several clients, some
    reading late: every value read is whole and is one that was set."""
    import threading
    srv = server(["-m", "16", "-t", "2", "-I", "1m"])
    errors = []

    def val(k, n, gen):
        return (b"%s:%d:" % (k, gen)).ljust(n, b"x")

    def client(seed):
        rnd = random.Random(seed)
        try:
            s = connect(srv, rcvbuf=rnd.choice([None, 8192]))
            for r in range(60):
                k = b"c%d" % rnd.randrange(40)
                n = rnd.choice([40_000, 200_000, 500_000])
                v = val(k, n, r)
                s.sendall(b"set %s 0 0 %d\r\n%s\r\n" % (k, n, v))
                assert read_exact(s, 8) == b"STORED\r\n"
                keys = [b"c%d" % rnd.randrange(40) for _ in range(5)]
                s.sendall(b"get " + b" ".join(keys) + b"\r\n")
                if rnd.random() < 0.3:
                    time.sleep(0.05)
                while True:
                    line = b""
                    while not line.endswith(b"\r\n"):
                        line += read_exact(s, 1)
                    if line == b"END\r\n":
                        break
                    _, key, _, size = line.split()
                    data = read_exact(s, int(size) + 2)
                    assert data.endswith(b"\r\n")
                    body = data[:-2]
                    head = body.split(b":", 2)
                    assert head[0] == key and body.rstrip(b"x") == b"%s:%s:" % (key, head[1]), \
                        (key, body[:40])
            s.close()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(50)
    assert not errors, errors
    assert stat(srv, "bytes_written_direct") > 0


@pytest.mark.time_limit(60)
def test_large_replies_share_pooled_buffers(server):
    """24 clients ask for 60 kB multi-gets at the same moment (-t 1): each
    reply fills a buffer from the worker's pool (over 16 KiB), and a
    connection writes it as soon as its read is served, so the buffer is
    back in the pool for the next connection of the same loop turn. The
    pool then holds a few buffers, not one per connection of the turn
    (which it did while every connection waited for the turn's end)."""
    srv = server(["-m", "64", "-t", "1"])
    rng = random.Random(11)
    vals = {b"ps:%d" % i: rng.randbytes(3000) for i in range(20)}
    body = b"".join(b"VALUE %s 0 %d\r\n%s\r\n" % (k, len(v), v) for k, v in vals.items())
    want = body + b"END\r\n"
    s = connect(srv)
    s.sendall(b"".join(b"set %s 0 0 %d\r\n%s\r\n" % (k, len(v), v) for k, v in vals.items()))
    assert read_exact(s, 8 * len(vals)) == b"STORED\r\n" * len(vals)
    clients = [connect(srv) for _ in range(24)]
    req = b"get " + b" ".join(vals) + b"\r\n"
    pooled = []
    for _ in range(5):
        # the worker is kept busy while the 24 requests arrive, so that
        # most of them are served in one loop turn
        s.sendall(b"get " + b" ".join(list(vals) * 40) + b"\r\n")
        for c in clients:
            c.sendall(req)
        assert read_exact(s, len(body) * 40 + 5) == body * 40 + b"END\r\n"
        for c in clients:
            assert read_exact(c, len(want)) == want
        pooled.append(stat(srv, "conn_buffer_bytes"))
    # 25 connections with nothing in flight: their own buffers are small
    # (16 KiB at most: rbuf storage is pooled too); the rest is the pool
    assert min(pooled) < 8 * 64 * 1024, pooled
    for c in clients:
        c.close()
    s.close()
