"""A client that reads its replies slowly gets every byte, in order.

The kernel takes part of a batch's replies and the rest waits in the
server until the socket has room again (net/conn.c: the write in flight,
sent as the socket's poll says it is writable), while the session fills
the other reply buffer and, past its high-water mark, stops reading the
client. These tests make that happen on every protocol, over TCP and a
unix socket: a pipeline of gets for values of 10 B to 300 kB (large ones
may also go straight from item memory), asked by a client with a small
receive window that waits before it reads and then reads in sips. The
byte stream must be exactly the replies asked for, and another client is
served meanwhile.
"""

import random
import socket
import struct
import time

import pytest

from conftest import IS_MEMCACHED
from sock_util import connect

SIZES = [10, 100, 1000, 5000, 20_000, 100_000, 300_000]


def values(seed):
    rnd = random.Random(seed)
    out = {}
    for i, n in enumerate(SIZES * 3):
        out[b"sr%d" % i] = bytes(rnd.getrandbits(8) for _ in range(64)) * (n // 64) + b"x" * (n % 64)
    return out


def text_set(k, v):
    return b"set %s 7 0 %d\r\n%s\r\n" % (k, len(v), v)


def resp_cmd(*parts):
    out = b"*%d\r\n" % len(parts)
    for p in parts:
        out += b"$%d\r\n%s\r\n" % (len(p), p)
    return out


def bin_req(opcode, key=b"", extras=b"", value=b"", opaque=0):
    body = len(extras) + len(key) + len(value)
    return struct.pack(">BBHBBHIIQ", 0x80, opcode, len(key), len(extras), 0, 0, body,
                       opaque, 0) + extras + key + value


def load(srv, vals, proto, unix):
    s = connect(srv, unix=unix)
    try:
        for k, v in vals.items():
            if proto == "resp":
                s.sendall(resp_cmd(b"SET", k, v))
                want = b"+OK\r\n"
            elif proto == "binary":
                s.sendall(bin_req(0x01, k, struct.pack(">II", 7, 0), v))
                want = None
            else:
                s.sendall(text_set(k, v))
                want = b"STORED\r\n"
            if want is None:
                hdr = recv_exact(s, 24)
                assert hdr[0] == 0x81 and struct.unpack(">H", hdr[6:8])[0] == 0, hdr
                recv_exact(s, struct.unpack(">I", hdr[8:12])[0])
            else:
                assert recv_exact(s, len(want)) == want
    finally:
        s.close()


def recv_exact(s, n):
    out = bytearray()
    while len(out) < n:
        d = s.recv(min(1 << 20, n - len(out)))
        assert d, f"closed after {len(out)} of {n} bytes"
        out += d
    return bytes(out)


def pipeline(vals, proto, rounds, rnd):
    """The requests, and the replies they must get (binary: None, checked
    by parsing, since a reply carries the item's cas)."""
    keys = list(vals)
    req = bytearray()
    want = bytearray()
    order = []
    for i in range(rounds):
        k = rnd.choice(keys)
        order.append(k)
        v = vals[k]
        if proto == "resp":
            req += resp_cmd(b"GET", k)
            want += b"$%d\r\n%s\r\n" % (len(v), v)
        elif proto == "binary":
            req += bin_req(0x00, k, opaque=i)
        else:
            req += b"get %s\r\n" % k
            want += b"VALUE %s 7 %d\r\n%s\r\nEND\r\n" % (k, len(v), v)
    return bytes(req), bytes(want), order


def read_slowly(s, n_bytes=None, deadline=30.0, parse=None):
    """Sleep so that the server's send stalls, then read in sips of
    64 KiB with short pauses, until n_bytes have come (or parse says the
    stream is complete)."""
    time.sleep(0.4)
    out = bytearray()
    end = time.monotonic() + deadline
    sips = 0
    while (n_bytes is not None and len(out) < n_bytes) or (parse is not None and not parse(out)):
        assert time.monotonic() < end, f"only {len(out)} bytes after {deadline} s"
        d = s.recv(64 * 1024)
        assert d, f"closed after {len(out)} bytes"
        out += d
        sips += 1
        if sips % 16 == 0:
            time.sleep(0.01)
    return bytes(out)


def bin_complete(n):
    def done(buf):
        off = 0
        count = 0
        while off + 24 <= len(buf):
            body = struct.unpack(">I", buf[off + 8:off + 12])[0]
            if off + 24 + body > len(buf):
                return False
            off += 24 + body
            count += 1
        return count >= n
    return done


def check_binary(buf, vals, order):
    off = 0
    for i, k in enumerate(order):
        magic, op, klen, elen, _, status, body, opaque, _ = struct.unpack(
            ">BBHBBHIIQ", buf[off:off + 24])
        assert (magic, op, status, opaque) == (0x81, 0x00, 0, i), (i, magic, op, status, opaque)
        assert elen == 4 and klen == 0
        flags = struct.unpack(">I", buf[off + 24:off + 28])[0]
        assert flags == 7
        v = buf[off + 28:off + 24 + body]
        assert v == vals[k], f"reply {i} ({k!r}): {len(v)} bytes, not the {len(vals[k])} stored"
        off += 24 + body
    assert off == len(buf), f"{len(buf) - off} bytes after the last reply"


@pytest.mark.time_limit(60)
@pytest.mark.parametrize("unix", [False, True], ids=["tcp", "unix"])
@pytest.mark.parametrize("proto", ["text", "binary", "resp"])
def test_slow_reader_gets_every_byte(server, proto, unix):
    if IS_MEMCACHED and proto == "resp":
        pytest.skip("memcached speaks no RESP")
    srv = server(["-m", "64", "-t", "2"], unix=unix)
    vals = values(11)
    load(srv, vals, proto, unix)
    rnd = random.Random(5)
    req, want, order = pipeline(vals, proto, 400, rnd)
    s = connect(srv, rcvbuf=32 * 1024, unix=unix)
    other = connect(srv, unix=unix)
    try:
        s.sendall(req)
        # the server is stalled on s: another client is served at once
        for i in range(20):
            t0 = time.monotonic()
            if proto == "resp":
                other.sendall(resp_cmd(b"GET", b"sr0"))
                v = b"$%d\r\n%s\r\n" % (len(vals[b"sr0"]), vals[b"sr0"])
                assert recv_exact(other, len(v)) == v
            elif proto == "binary":
                other.sendall(bin_req(0x0a))  # noop
                assert recv_exact(other, 24)[:2] == b"\x81\x0a"
            else:
                other.sendall(b"version\r\n")
                assert recv_exact(other, 8) == b"VERSION "
                while not other.recv(1) == b"\n":
                    pass
            assert time.monotonic() - t0 < 2.0, "another client waited behind a slow reader"
        if proto == "binary":
            got = read_slowly(s, parse=bin_complete(len(order)))
            check_binary(got, vals, order)
        else:
            got = read_slowly(s, n_bytes=len(want))
            if got != want:
                at = next(i for i in range(min(len(got), len(want))) if got[i] != want[i])
                pytest.fail(f"{len(got)} bytes, {len(want)} expected; first difference at {at}")
        # nothing more comes, and the connection still works
        s.settimeout(0.2)
        with pytest.raises(socket.timeout):
            extra = s.recv(1)
            pytest.fail(f"unexpected byte after the replies: {extra!r}")
        s.settimeout(10)
        if proto == "resp":
            s.sendall(resp_cmd(b"PING"))
            assert recv_exact(s, 7) == b"+PONG\r\n"
        elif proto == "binary":
            s.sendall(bin_req(0x0a))
            assert recv_exact(s, 24)[:2] == b"\x81\x0a"
        else:
            s.sendall(b"get sr0\r\n")
            v = vals[b"sr0"]
            assert recv_exact(s, len(v) + 23) == b"VALUE sr0 7 %d\r\n%s\r\nEND\r\n" % (len(v), v)
    finally:
        s.close()
        other.close()
