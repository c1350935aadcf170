"""Memory limit behaviour: eviction under -m, -M out-of-memory errors, page
rebalancing between size classes, and the cache_memlimit command.

Writes go in small pipelined batches (20 requests), so tens of megabytes take
well under a second.  The rebalancing test is the one place where stashd is
deliberately better than a default memcached: memcached's slab_automove=1
only moves a page after a 30 s window of evictions ("slab calcification");
against memcached the test adds `-o slab_automove=2` (move on every eviction)
so that the test logic itself is still checked against a real server.
"""

import os
import time

import pytest

from conftest import HOST, IS_MEMCACHED

MB = 1 << 20


def set_many(conn, keys, value, batch=20):
    """Pipelined sets; returns {reply line: count}.

    Batches stay small so that these tests measure memory behaviour, not
    deep pipelining (test_text_protocol covers that).
    """
    replies = {}
    for start in range(0, len(keys), batch):
        chunk = keys[start:start + batch]
        conn.send(b"".join(b"set %s 0 0 %d\r\n%s\r\n" % (k, len(value), value)
                           for k in chunk))
        for _ in chunk:
            line = conn.read_until(b"\r\n", timeout=10)
            replies[line] = replies.get(line, 0) + 1
    return replies


def readable(conn, keys, size):
    """How many of `keys` are readable with a value of `size` bytes."""
    hits = 0
    for start in range(0, len(keys), 20):
        conn.send(b"get " + b" ".join(keys[start:start + 20]) + b"\r\n")
        while True:
            line = conn.read_until()
            if line == b"END\r\n":
                break
            assert line.startswith(b"VALUE ") and int(line.split()[3]) == size, line
            conn.read_exact(size + 2)
            hits += 1
    return hits


@pytest.mark.time_limit(30)
def test_eviction_keeps_storing_within_limit(server):
    s = server(["-m", "8"])
    c = s.connect()
    rss_before = s.rss_kb()
    keys = [b"evict:%06d" % i for i in range(40000)]  # ~40 MB into an 8 MB cache
    replies = set_many(c, keys, b"e" * 1000)
    assert replies == {b"STORED\r\n": len(keys)}
    st = c.stats()
    assert int(st["evictions"]) > 0
    assert int(st["bytes"]) <= 8 * MB
    assert 0 < int(st["curr_items"]) * 1000 <= 8 * MB
    assert int(st["curr_items"]) + int(st["evictions"]) == len(keys)
    # the most recent writes survive, the oldest were evicted
    assert readable(c, keys[-200:], 1000) == 200
    assert readable(c, keys[:200], 1000) == 0
    rss_after = s.rss_kb()
    # memcached 1.6.18 grows by about 9 MB here
    assert rss_after - rss_before < (8 + 24) * 1024, \
        f"RSS {rss_before} kB -> {rss_after} kB under -m 8"


@pytest.mark.time_limit(30)
def test_no_evictions_with_M(server):
    s = server(["-m", "8", "-M"])
    c = s.connect()
    keys = [b"oom:%06d" % i for i in range(20000)]
    replies = set_many(c, keys, b"o" * 1000)
    oom = b"SERVER_ERROR out of memory storing object\r\n"
    assert set(replies) == {b"STORED\r\n", oom}, replies
    assert replies[oom] > 0 and replies[b"STORED\r\n"] > 1000
    st = c.stats()
    assert st["evictions"] == "0"
    assert int(st["curr_items"]) == replies[b"STORED\r\n"]
    # nothing was evicted: the first keys are all still there
    assert readable(c, keys[:200], 1000) == 200
    # the stream stays in sync after the error
    c.expect(b"set %s 0 0 1000\r\n%s\r\nget nope\r\n" % (keys[-1], b"o" * 1000),
             oom + b"END\r\n")
    # freeing items makes room again
    for k in keys[:50]:
        c.expect(b"delete %s\r\n" % k, b"DELETED\r\n")
    c.expect(b"set again 0 0 1000\r\n%s\r\n" % (b"o" * 1000), b"STORED\r\n")


@pytest.mark.time_limit(30)
def test_size_class_shift_keeps_storing(server):
    """Fill with 100-B values, then write 10-KB values: these must get memory."""
    s = server(["-m", "8"] + (["-o", "slab_automove=2"] if IS_MEMCACHED else []))
    c = s.connect()
    small = [b"small:%06d" % i for i in range(100000)]  # ~15 MB of small items
    assert set_many(c, small, b"s" * 100) == {b"STORED\r\n": len(small)}
    big = [b"big:%05d" % i for i in range(2000)]  # ~20 MB of 10 KB items
    value = b"B" * 10000
    assert set_many(c, big, value) == {b"STORED\r\n": len(big)}
    last = big[-200:]
    deadline = time.monotonic() + 5
    while True:
        hits = readable(c, last, len(value))
        if hits >= 150:
            break
        # give a rebalancer a bounded time, while the workload keeps going
        assert time.monotonic() < deadline, \
            f"only {hits} of the last 200 10-KB items readable (slab calcification)"
        assert set_many(c, big, value) == {b"STORED\r\n": len(big)}
        time.sleep(0.2)


@pytest.mark.time_limit(60)
def test_overwrites_keep_resident_memory_near_the_data(server):
    """Keys set again and again, far below -m: resident memory follows the
    live data, as memcached's does (a replaced item's chunk is reused at
    once), instead of growing with every overwrite until -m. stashd reuses
    a segment once half of it is dead; before, it took fresh memory until a
    segment was all dead: 85 MB for 10 MB of items here."""
    import random
    from pymemcache.client.base import Client
    s = server(["-m", "512"])
    c = Client((HOST, s.port), timeout=10)
    keys = [b"ow:%05d" % i for i in range(20000)]
    version = {}

    def write(batch, v):
        vals = {k: (b"%s:%d:" % (k, v)).ljust(500, b"o") for k in batch}
        assert c.set_many(vals, noreply=False) == []
        version.update((k, v) for k in batch)

    rss_before = s.rss_kb()
    write(keys, 0)                           # ~11 MB of items
    rng = random.Random(7)
    # keys drawn at random, as memtier's R:R does (a shuffled round would
    # leave every segment of the round before all dead): 10 sets a key
    for v in range(1, 401):
        write([rng.choice(keys) for _ in range(500)], v)
    grown = s.rss_kb() - rss_before
    live_kb = int(c.stats()[b"bytes"]) // 1024
    assert int(c.stats()[b"curr_items"]) == len(keys)
    # stashd grows by ~1.75x the live bytes here, memcached 1.6.18 by
    # ~1.2x; fresh segments until all dead: ~8.4x
    assert grown < 2.5 * live_kb + 8 * 1024, f"RSS grew {grown} kB for {live_kb} kB of items"
    if not s.is_memcached:
        # the live items the reuse moved: memcached's page mover's stat,
        # and Redis's defragmenter's in INFO on the same port
        import redis
        moved = int(c.stats()[b"slab_reassign_rescues"])
        assert 0 < moved < 200000
        r = redis.Redis(host=HOST, port=s.port)
        assert r.info("stats")["active_defrag_hits"] == moved
        r.close()
    for start in range(0, len(keys), 500):
        got = c.get_many(keys[start:start + 500])
        assert len(got) == 500
        for k, val in got.items():
            assert val.startswith(b"%s:%d:" % (k, version[k])), (k, val[:20])
    c.close()


@pytest.mark.time_limit(60)
def test_flush_all_then_refill_keeps_resident_memory_level(server):
    """flush_all, then the cache refilled, again and again: what the flush
    killed gives its memory back to the next fill, as memcached's does.
    stashd's sweep of flushed items walked the whole reserved range (4 x
    -m of segments), 12.8 s at -m 1024 whatever the store held, so each
    refill took fresh memory: 20 MB more a round here."""
    from pymemcache.client.base import Client
    s = server(["-m", "1024"])
    c = Client((HOST, s.port), timeout=10)
    value = b"f" * 1000
    level = None
    for rnd in range(6):
        keys = [b"fl%d:%05d" % (rnd, i) for i in range(20000)]   # ~20 MB
        for start in range(0, len(keys), 500):
            assert c.set_many({k: value for k in keys[start:start + 500]},
                              noreply=False) == []
        assert c.get_many(keys[:100]) == {k: value for k in keys[:100]}
        if rnd == 1:
            level = s.rss_kb()
        assert c.flush_all(noreply=False)
        assert c.get(keys[0]) is None
        time.sleep(0.6)   # stashd sweeps 32 used segments a 100 ms
    grown = s.rss_kb() - level
    assert grown < 8 * 1024, f"RSS grew {grown} kB over 4 flush-and-refill rounds"
    c.close()


def test_size_class_shift_memcached_default_calcifies(server):
    """Documents why the test above needs slab_automove=2 on memcached."""
    s = server(["-m", "8"])
    if not s.is_memcached:
        pytest.skip("documents memcached's default behaviour")
    c = s.connect()
    small = [b"small:%06d" % i for i in range(100000)]
    set_many(c, small, b"s" * 100)
    big = [b"big:%05d" % i for i in range(2000)]
    assert set_many(c, big, b"B" * 10000) == {b"STORED\r\n": len(big)}
    assert readable(c, big[-200:], 10000) < 150


def test_cache_memlimit(server):
    s = server(["-m", "64"])
    c = s.connect()
    c.expect(b"cache_memlimit 16\r\n", b"OK\r\n")
    assert c.stats()["limit_maxbytes"] == str(16 * MB)
    c.expect(b"cache_memlimit 128 noreply\r\nget x\r\n", b"END\r\n")
    assert c.stats()["limit_maxbytes"] == str(128 * MB)
    too_small = b"MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n"
    c.expect(b"cache_memlimit 1\r\n", too_small)
    c.expect(b"cache_memlimit 0\r\n", too_small)
    for bad in (b"cache_memlimit\r\n", b"cache_memlimit abc\r\n",
                b"cache_memlimit -5\r\n", b"cache_memlimit 64 1 2\r\n"):
        c.expect(bad, b"ERROR\r\n")
    assert c.stats()["limit_maxbytes"] == str(128 * MB)
    c.expect(b"cache_memlimit 8\r\n", b"OK\r\n")
    assert c.stats()["limit_maxbytes"] == str(8 * MB)


def thp_mode():
    """The kernel's transparent_hugepage setting: always, madvise or never."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            return f.read().split("[", 1)[1].split("]", 1)[0]
    except (OSError, IndexError):
        return "never"


def huge_kb(pid):
    """AnonHugePages of the whole process, in KiB."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("AnonHugePages:"):
                return int(line.split()[1])
    return 0


@pytest.mark.skipif(IS_MEMCACHED, reason="stashd's --large-pages (memcached's -L preallocates)")
@pytest.mark.time_limit(60)
@pytest.mark.parametrize("args,on", [
    (["-m", "4096", "-t", "8"], True),                 # auto: on from 4 GiB, any threads
    (["-m", "4096", "--large-pages=off"], False),
    # auto below 4 GiB: on when the segments being written, 2 MiB for each
    # thread and one more, are at most 1/256 of -m
    (["-m", "1024"], True),                            # -t 1: 4 MiB
    (["-m", "1024", "-t", "2"], False),                # 6 MiB
    (["-m", "512"], False),                            # -t 1: 4 MiB, over 2
    (["-m", "64", "-L"], True),                        # memcached's flag: on
    (["-m", "64", "-o", "large_pages=on"], True),
])
def test_large_pages(server, args, on):
    """--large-pages: the item memory is on transparent huge pages when on
    (and the kernel allows), on none when off; values read back whole
    either way, through a real client."""
    from pymemcache.client.base import Client
    s = server(args + ([] if "-t" in args else ["-t", "1"]))
    c = Client((HOST, s.port), timeout=10)
    vals = {b"lp:%06d" % i: (b"%06d" % i) * 20 for i in range(30000)}  # ~5 MB of items
    keys = list(vals)
    for start in range(0, len(keys), 500):
        assert c.set_many({k: vals[k] for k in keys[start:start + 500]}, noreply=False) == []
    for start in range(0, len(keys), 500):
        got = c.get_many(keys[start:start + 500])
        assert got == {k: vals[k] for k in keys[start:start + 500]}
    mode = thp_mode()
    kb = huge_kb(s.pid)
    c.close()
    if on and mode != "never":
        assert kb >= 2048, (mode, kb)
    elif mode == "madvise":
        assert kb == 0, kb  # nothing else in stashd asks for huge pages


@pytest.mark.skipif(IS_MEMCACHED, reason="stashd's --large-pages")
def test_large_pages_refuses_other_words(server):
    import subprocess
    from conftest import BIN
    p = subprocess.run([BIN, "-u", "root", "-p", "0", "--large-pages=maybe"],
                       capture_output=True, timeout=10)
    assert p.returncode != 0
    assert b"'maybe' is not auto, on or off" in p.stderr, p.stderr


@pytest.mark.skipif(IS_MEMCACHED, reason="stashd's allocator arenas")
@pytest.mark.time_limit(30)
def test_workers_share_allocator_arenas():
    """Eight workers allocate from two jemalloc arenas (one per 4 workers,
    the first shared with the other threads), not one each: jemalloc's
    exit statistics list every arena that was made. Every worker serves a
    connection first, so each has allocated."""
    import re
    import signal
    import socket
    import subprocess
    from conftest import BIN, free_port
    port = free_port()
    env = dict(os.environ, MALLOC_CONF="stats_print:true,stats_print_opts:mgblxe")
    proc = subprocess.Popen([BIN, "-u", "root", "-l", HOST, "-p", str(port), "-t", "8"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        conns = []
        while len(conns) < 32:
            try:
                conns.append(socket.create_connection((HOST, port), timeout=5))
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "stashd did not listen"
                time.sleep(0.02)
        for i, c in enumerate(conns):
            c.sendall(b"set ar%d 0 0 5000\r\n%s\r\nget ar%d\r\n" % (i, b"x" * 5000, i))
        for c in conns:
            got = b""
            while not got.endswith(b"END\r\n"):
                chunk = c.recv(65536)
                assert chunk, got
                got += chunk
            assert got.startswith(b"STORED\r\nVALUE "), got[:40]
            c.close()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = out.decode(errors="replace")
    if "jemalloc statistics" not in text:
        pytest.skip("not linked with jemalloc (a sanitizer build)")
    arenas = sorted(set(int(n) for n in re.findall(r"^arenas\[(\d+)\]:", text, re.M)))
    assert 1 <= len(arenas) <= 3, arenas
