"""Concurrency: many clients on several workers (-t 4) hammering the same
keys, and eviction under contention with a small -m.

Each test is bounded in operations *and* time, so it finishes in a few
seconds on a release build and still within its limit on a ThreadSanitizer
build (tests/run --tsan runs this file against build-tsan/stashd with
halt_on_error, so a data race kills the server and the fixture fails the
test).  What is checked is consistency, not speed:

* every value read back is one some client wrote, whole (values carry
  their key, a seed and a length, and the body is derived from them);
* incr and cas are atomic across workers: the final counters equal the
  number of increments the clients saw acknowledged;
* stats, stats conns, flush_all and cache_memlimit from other connections
  at the same time do not disturb either.
"""

import hashlib
import random
import threading
import time

import pytest

DEADLINE_S = 6.0  # each client thread stops by then, done or not


def make_value(key, seed, n):
    """key|seed|n| then n bytes derived from them."""
    head = b"%s|%d|%d|" % (key, seed, n)
    digest = hashlib.sha1(head).hexdigest().encode()
    body = (digest * (n // len(digest) + 1))[:n]
    return head + body


def check_value(key, value):
    """None if `value` is a whole value written for `key`, else why not."""
    parts = value.split(b"|", 3)
    if len(parts) != 4 or parts[0] != key:
        return f"foreign or garbled value for {key!r}: {value[:60]!r}"
    try:
        seed, n = int(parts[1]), int(parts[2])
    except ValueError:
        return f"garbled header for {key!r}: {value[:60]!r}"
    if make_value(key, seed, n) != value:
        return f"corrupt value for {key!r} (seed {seed}, {n} bytes, got {len(value)})"
    return None


class Client:
    """Pipelined requests on one raw connection, replies parsed in order."""

    def __init__(self, conn):
        self.c = conn

    def get_many(self, keys):
        """{key: value} for the keys found."""
        self.c.send(b"get " + b" ".join(keys) + b"\r\n")
        out = {}
        while True:
            line = self.c.read_until(timeout=30)
            if line == b"END\r\n":
                return out
            parts = line.split()
            assert parts[0] == b"VALUE", line
            data = self.c.read_exact(int(parts[3]) + 2, timeout=30)
            out[parts[1]] = data[:-2]

    def run_batch(self, reqs):
        """reqs: [(bytes, kind)]; replies as a list of lines."""
        self.c.send(b"".join(r for r, _ in reqs))
        replies = []
        for _, kind in reqs:
            if kind == "get":
                replies.append(self._read_get())
            else:
                replies.append(self.c.read_until(timeout=30))
        return replies

    def _read_get(self):
        line = self.c.read_until(timeout=30)
        if line == b"END\r\n":
            return None
        parts = line.split()
        assert parts[0] == b"VALUE", line
        data = self.c.read_exact(int(parts[3]) + 2, timeout=30)
        assert self.c.read_until(timeout=30) == b"END\r\n"
        return parts[1], data[:-2]


def run_threads(targets):
    """Run callables in threads; re-raise the first failure."""
    errors = []

    def wrap(fn):
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=wrap, args=(t,), daemon=True) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE_S + 40)
        assert not t.is_alive(), "a client thread hung"
    if errors:
        raise errors[0]


@pytest.mark.time_limit(60)
def test_shared_keys_across_workers(server):
    s = server(["-t", "4", "-m", "64"])
    keys = [b"shared:%d" % i for i in range(24)]
    counters = [b"ctr:%d" % i for i in range(4)]
    cas_key = b"cas:counter"
    setup = s.connect()
    for k in counters:
        setup.expect(b"set %s 0 0 1\r\n0\r\n" % k, b"STORED\r\n")
    setup.expect(b"set %s 0 0 1\r\n0\r\n" % cas_key, b"STORED\r\n")
    nclients = 8
    # several connections per thread, so that the threads' requests land
    # on different workers (SO_REUSEPORT spreads connections by hash)
    conns = [[s.connect(timeout=30) for _ in range(3)] for _ in range(nclients)]
    incr_done = [0] * nclients
    cas_done = [0] * nclients
    stop_at = time.monotonic() + DEADLINE_S
    problems = []

    def mixer(idx):
        rng = random.Random(idx)
        cl = [Client(c) for c in conns[idx]]
        for rnd in range(300):
            if time.monotonic() > stop_at:
                break
            c = cl[rnd % len(cl)]
            reqs, kinds = [], []
            for _ in range(12):
                k = rng.choice(keys)
                op = rng.random()
                if op < 0.35:
                    v = make_value(k, rng.randrange(1 << 30), rng.choice((10, 100, 1000, 5000)))
                    reqs.append((b"set %s 0 0 %d\r\n%s\r\n" % (k, len(v), v), "set"))
                elif op < 0.75:
                    reqs.append((b"get %s\r\n" % k, "get"))
                elif op < 0.85:
                    reqs.append((b"delete %s\r\n" % k, "delete"))
                else:
                    reqs.append((b"incr %s 1\r\n" % rng.choice(counters), "incr"))
                kinds.append(reqs[-1][1])
            for (req, kind), rep in zip(reqs, c.run_batch(reqs)):
                if kind == "set":
                    assert rep == b"STORED\r\n", rep
                elif kind == "get":
                    if rep is not None:
                        why = check_value(rep[0], rep[1])
                        if why:
                            problems.append(why)
                elif kind == "delete":
                    assert rep in (b"DELETED\r\n", b"NOT_FOUND\r\n"), rep
                else:
                    assert rep.rstrip().isdigit(), rep
                    incr_done[idx] += 1
            # one cas increment per round: gets, then cas until it sticks
            for _ in range(50):
                c.c.send(b"gets %s\r\n" % cas_key)
                hdr = c.c.read_until(timeout=30).split()
                val = c.c.read_exact(int(hdr[3]) + 2, timeout=30)[:-2]
                assert c.c.read_until(timeout=30) == b"END\r\n"
                new = b"%d" % (int(val) + 1)
                c.c.send(b"cas %s 0 0 %d %s\r\n%s\r\n" % (cas_key, len(new), hdr[4], new))
                rep = c.c.read_until(timeout=30)
                if rep == b"STORED\r\n":
                    cas_done[idx] += 1
                    break
                assert rep == b"EXISTS\r\n", rep

    def observer():
        c = s.connect(timeout=30)
        for _ in range(100):
            if time.monotonic() > stop_at:
                break
            c.stats()
            c.stats(b"conns")
            c.stats(b"slabs")
            c.stats(b"items")
            time.sleep(0.01)

    run_threads([lambda i=i: mixer(i) for i in range(nclients)] + [observer])
    assert not problems, problems[:5]
    got = Client(setup).get_many(counters + [cas_key])
    assert sum(int(got[k]) for k in counters) == sum(incr_done)
    assert int(got[cas_key]) == sum(cas_done)
    assert sum(incr_done) > 50 and sum(cas_done) > 10, (incr_done, cas_done)
    st = setup.stats()
    assert st["threads"] == "4"


@pytest.mark.time_limit(60)
def test_eviction_under_contention(server):
    """-m 8 and 40+ MB of writes from several threads over shared keys,
    while another client flips cache_memlimit and flushes."""
    s = server(["-t", "4", "-m", "8"])
    keys = [b"ev:%d" % i for i in range(400)]
    nclients = 6
    conns = [s.connect(timeout=30) for _ in range(nclients)]
    stop_at = time.monotonic() + DEADLINE_S
    problems = []
    written = [0] * nclients

    def writer(idx):
        rng = random.Random(100 + idx)
        c = Client(conns[idx])
        for _ in range(200):
            if time.monotonic() > stop_at:
                break
            reqs = []
            for _ in range(8):
                k = rng.choice(keys)
                if rng.random() < 0.6:
                    n = rng.choice((50, 700, 3000, 20000, 90000, 200000))
                    v = make_value(k, rng.randrange(1 << 30), n)
                    reqs.append((b"set %s 0 0 %d\r\n%s\r\n" % (k, len(v), v), "set"))
                else:
                    reqs.append((b"get %s\r\n" % k, "get"))
            for (req, kind), rep in zip(reqs, c.run_batch(reqs)):
                if kind == "set":
                    # the store may refuse under pressure, never corrupt
                    assert rep in (b"STORED\r\n",
                                   b"SERVER_ERROR out of memory storing object\r\n"), rep
                    written[idx] += len(req)
                elif rep is not None:
                    why = check_value(rep[0], rep[1])
                    if why:
                        problems.append(why)
            # a multi-get over many keys, values checked
            for k, v in c.get_many(rng.sample(keys, 40)).items():
                why = check_value(k, v)
                if why:
                    problems.append(why)

    def admin():
        c = s.connect(timeout=30)
        for i in range(40):
            if time.monotonic() > stop_at:
                break
            c.expect(b"cache_memlimit %d\r\n" % (8 if i % 2 else 16), b"OK\r\n", timeout=30)
            if i % 10 == 9:
                c.expect(b"flush_all\r\n", b"OK\r\n", timeout=30)
            c.stats(b"slabs")
            time.sleep(0.05)
        c.expect(b"cache_memlimit 8\r\n", b"OK\r\n", timeout=30)

    run_threads([lambda i=i: writer(i) for i in range(nclients)] + [admin])
    assert not problems, problems[:5]
    st = conns[0].stats()
    assert int(st["bytes"]) <= 16 << 20
    assert sum(written) > 4 << 20, written  # enough to churn an 8 MB cache


@pytest.mark.stashd_only
@pytest.mark.time_limit(60)
def test_msetnx_and_mget_are_atomic_across_workers(server):
    """Redis clients on several workers: two race MSETNX over overlapping
    keys each round (exactly one wins, the loser stores nothing), while a
    writer MSETs two keys to the same counter and a reader's MGET must
    always see them equal (an MSET is seen whole or not at all)."""
    import redis

    s = server(["-t", "4"])
    rounds = 300
    barrier = threading.Barrier(2, timeout=10)
    results = {"a": [], "b": []}
    deadline = time.monotonic() + DEADLINE_S

    def racer(name, first):
        c = redis.Redis(host="127.0.0.1", port=s.port, socket_timeout=5)
        try:
            for rnd in range(rounds):
                barrier.wait()
                pairs = {f"race:{rnd}:{i}": name for i in range(first, first + 10)}
                results[name].append(c.msetnx(pairs))
        finally:
            c.close()

    run_threads([lambda: racer("a", 0), lambda: racer("b", 5)])
    c = redis.Redis(host="127.0.0.1", port=s.port, socket_timeout=5)
    try:
        for rnd in range(rounds):
            a_won, b_won = results["a"][rnd], results["b"][rnd]
            assert a_won != b_won, (rnd, a_won, b_won)
            got = c.mget([f"race:{rnd}:{i}" for i in range(15)])
            want = [b"a" if (a_won and i < 10) or (b_won and i >= 5) else None
                    for i in range(15)]
            want = [(b"a" if a_won else b"b") if w is not None else None for w in want]
            assert got == want, (rnd, got)
    finally:
        c.close()

    stop = threading.Event()
    seen = {"reads": 0, "both": 0}

    def writer():
        w = redis.Redis(host="127.0.0.1", port=s.port, socket_timeout=5)
        try:
            for i in range(1, 3001):
                if time.monotonic() > deadline + 10:
                    break
                w.mset({"pair:x": i, "pair:y": i})
        finally:
            stop.set()
            w.close()

    def reader():
        rd = redis.Redis(host="127.0.0.1", port=s.port, socket_timeout=5)
        try:
            while not stop.is_set():
                x, y = rd.mget("pair:x", "pair:y")
                assert x == y, (x, y)
                seen["reads"] += 1
                seen["both"] += x is not None
        finally:
            rd.close()

    run_threads([writer, reader, reader])
    # However the threads were scheduled, the last MSET is there whole.
    c = redis.Redis(host="127.0.0.1", port=s.port, socket_timeout=5)
    try:
        x, y = c.mget("pair:x", "pair:y")
        assert x is not None and x == y, (x, y, seen)
    finally:
        c.close()
