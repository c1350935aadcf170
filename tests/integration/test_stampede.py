"""Stampede protection with the meta protocol: when a hot key is missing
(mg N), stale (md I) or about to expire (mg R), many clients asking at once
get exactly one win flag (W) between them; the others are told someone else
is recaching (Z) and keep serving what there is, until the winner stores a
new value.

Clients are threads, each on its own connection, released together by a
barrier, against a server with several worker threads (so the requests
really race on the shard lock). Runs against memcached too.
"""

import threading

import pytest

CLIENTS = 48
ROUNDS = 15


def race(srv, request):
    """Send `request` from CLIENTS connections at once; their reply lines."""
    conns = [srv.connect() for _ in range(CLIENTS)]
    barrier = threading.Barrier(CLIENTS)
    replies = [None] * CLIENTS
    errors = []

    def client(i):
        try:
            barrier.wait(timeout=10)
            conns[i].send(request)
            replies[i] = conns[i].read_until(b"\r\n")
            if replies[i].startswith(b"VA "):
                n = int(replies[i].split()[1])
                conns[i].read_exact(n + 2)
        except Exception as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    for c in conns:
        c.close()
    assert not errors, errors
    return replies


def flags_of(line):
    return set(line.split()[2 if line.startswith(b"VA") else 1:])


def one_winner(replies):
    wins = [r for r in replies if b"W" in flags_of(r)]
    assert len(wins) == 1, replies
    others = [r for r in replies if r not in wins]
    assert all(b"Z" in flags_of(r) and b"W" not in flags_of(r) for r in others), replies
    return wins[0]


@pytest.mark.time_limit(120)
def test_missing_key_vivify(server):
    srv = server(args=["-t", "4"])
    c = srv.connect()
    for rnd in range(ROUNDS):
        key = b"hot%d" % rnd
        replies = race(srv, b"mg " + key + b" N30 v c t\r\n")
        win = one_winner(replies)
        assert win.startswith(b"VA 0 ")
        # the winner recaches; from then on nobody wins or waits
        assert c.line(b"ms " + key + b" 5 T60\r\nvalue\r\n") == b"HD\r\n"
        after = race(srv, b"mg " + key + b" N30 v\r\n")
        assert all(r == b"VA 5\r\n" for r in after), after


@pytest.mark.time_limit(120)
def test_stale_key_invalidated(server):
    srv = server(args=["-t", "4"])
    c = srv.connect()
    for rnd in range(ROUNDS):
        key = b"stale%d" % rnd
        assert c.line(b"ms " + key + b" 3 T100\r\nold\r\n") == b"HD\r\n"
        assert c.line(b"md " + key + b" I T30\r\n") == b"HD\r\n"
        replies = race(srv, b"mg " + key + b" v c\r\n")
        win = one_winner(replies)
        assert all(b"X" in flags_of(r) for r in replies), replies  # all served stale
        assert win.startswith(b"VA 3 ")
        cas = [t for t in win.split() if t.startswith(b"c")][0]
        # a late writer with an older cas cannot clear the stale mark
        assert c.line(b"ms " + key + b" 3 I C1\r\nlte\r\n") == b"HD\r\n"
        assert b"X" in flags_of(c.line(b"mg " + key + b"\r\n"))
        # the winner's set (its cas is now older: still stale) then a plain set
        c.line(b"ms " + key + b" 3 I C" + cas[1:] + b"\r\nnew\r\n")
        assert c.line(b"ms " + key + b" 3 T100\r\nnew\r\n") == b"HD\r\n"
        assert c.line(b"mg " + key + b"\r\n") == b"HD\r\n"


@pytest.mark.time_limit(120)
def test_recache_before_expiry(server):
    srv = server(args=["-t", "4"])
    c = srv.connect()
    for rnd in range(ROUNDS):
        key = b"ttl%d" % rnd
        assert c.line(b"ms " + key + b" 2 T20\r\nab\r\n") == b"HD\r\n"
        # more than 30 s left for nobody: R60 hands out one win
        replies = race(srv, b"mg " + key + b" R60 v t\r\n")
        one_winner(replies)
        # a fresh value (TTL above R) gives no win at all
        assert c.line(b"ms " + key + b" 2 T3600\r\nab\r\n") == b"HD\r\n"
        after = race(srv, b"mg " + key + b" R60 v\r\n")
        assert all(r == b"VA 2\r\n" for r in after), after


@pytest.mark.time_limit(120)
def test_mixed_flags_one_winner(server):
    """N and R together on a missing key: still one winner."""
    srv = server(args=["-t", "4"])
    for rnd in range(ROUNDS):
        replies = race(srv, b"mg mix%d N30 R30 s\r\n" % rnd)
        one_winner(replies)
