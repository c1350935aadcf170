"""Warm restart through the memory file (-e / --memory-file).

A server started with -e FILE on tmpfs and stopped cleanly (SIGTERM,
SIGUSR1, `shutdown graceful`) serves, after a start with the same file
and settings, every item it held: 100k items written over the text,
meta, binary and RESP protocols are read back over all four, byte for
byte, with their flags, cas, remaining TTL and meta state (stale and
win bits). Everything else starts empty and says why in one log line:
no metadata (a crash, or SIGKILL at any point of a stop), a damaged or
truncated file or metadata, changed settings (-m, -C). Fuzzed files
never make the server serve a wrong value: it serves them all exactly
or none.

STASHD_RESTART_ITEMS overrides the 100k items of the big round trip.
"""

import os
import random
import shutil
import signal
import struct
import tempfile
import time

import pytest

from mc_util import GETK, HEADER, SET, breq, set_extras
from resp_util import RespConn, encode

pytestmark = pytest.mark.stashd_only

N = int(os.environ.get("STASHD_RESTART_ITEMS", "100000"))
BATCH = 500
TTL_LONG = 50_000  # seconds; large enough to survive the test, small enough to be relative


@pytest.fixture
def memdir():
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    d = tempfile.mkdtemp(prefix="stashd-restart-", dir=base)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def stop(s, sig=signal.SIGTERM, timeout=30):
    """Stop s with sig and wait for its exit status (0 expected)."""
    s.close_clients()
    s.proc.send_signal(sig)
    return s.wait_exit(timeout=timeout)


def log_of(s):
    return s.output().decode(errors="replace")


def start(server, path, *args):
    return server(["-e", path, "-v", *args])


# --- the model ------------------------------------------------------------------


class Item:
    __slots__ = ("key", "value", "flags", "ttl", "proto", "cas", "stale")

    def __init__(self, key, value, flags, ttl, proto):
        self.key, self.value, self.flags, self.ttl, self.proto = key, value, flags, ttl, proto
        self.cas = None
        self.stale = False


def make_items(n, seed=1):
    rnd = random.Random(seed)
    items = []
    for i in range(n):
        proto = ("text", "meta", "binary", "resp")[i % 4]
        key = b"rk:%07d" % i
        size = rnd.choice((0, 1, 10, 100, 300, 1000)) if i % 97 else rnd.randrange(5000, 40000)
        value = rnd.randbytes(size)
        flags = rnd.getrandbits(32) if proto != "resp" and i % 3 else 0
        ttl = TTL_LONG + rnd.randrange(1000) if i % 5 == 0 else 0
        items.append(Item(key, value, flags, ttl, proto))
    return items


def batches(seq, n=BATCH):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


# --- writing over each protocol --------------------------------------------------


def write_text(c, items):
    for b in batches(items):
        c.send(b"".join(b"set %s %d %d %d\r\n%s\r\n" % (it.key, it.flags, it.ttl, len(it.value),
                                                       it.value) for it in b))
        for _ in b:
            assert c.read_until() == b"STORED\r\n"


def write_meta(c, items):
    for b in batches(items):
        c.send(b"".join(b"ms %s %d F%d T%d\r\n%s\r\n" % (it.key, len(it.value), it.flags, it.ttl,
                                                        it.value) for it in b))
        for _ in b:
            assert c.read_until() == b"HD\r\n"


def read_bin(c):
    hdr = c.read_exact(24)
    f = HEADER.unpack(hdr)
    body = c.read_exact(f[6]) if f[6] else b""
    return f, body


def write_binary(c, items):
    for b in batches(items):
        c.send(b"".join(breq(SET, it.key, set_extras(it.flags, it.ttl), it.value) for it in b))
        for _ in b:
            f, _ = read_bin(c)
            assert f[1] == SET and f[5] == 0, f


def write_resp(r, items):
    for b in batches(items):
        r.send_raw(b"".join(encode(b"SET", it.key, it.value, *((b"EX", b"%d" % it.ttl)
                                                               if it.ttl else ()))
                            for it in b))
        for _ in b:
            assert r.read_raw() == b"+OK\r\n"


def write_all(s, items):
    """Each protocol on a connection of its own (sniffed on its first byte)."""
    write_text(s.connect(), [it for it in items if it.proto == "text"])
    write_meta(s.connect(), [it for it in items if it.proto == "meta"])
    write_binary(s.connect(), [it for it in items if it.proto == "binary"])
    with RespConn(s.port) as r:
        write_resp(r, [it for it in items if it.proto == "resp"])


def mark_stale(s, items):
    """md I on a few meta items, then one mg that takes the win: the items
    are stale with the win sent (mg answers X and Z from then on)."""
    c = s.connect()
    for it in items:
        c.send(b"md %s I T%d\r\n" % (it.key, TTL_LONG))
        assert c.read_until() == b"HD\r\n"
        c.send(b"mg %s c\r\n" % it.key)
        line = c.read_until()
        assert line.split()[0] == b"HD" and b"W" in line.split() and b"X" in line.split(), line
        it.stale = True
        it.ttl = TTL_LONG
    c.close()


# --- reading over each protocol ----------------------------------------------------


def read_gets(s, items):
    """{key: (flags, value, cas)} over text gets."""
    c = s.connect()
    out = {}
    for b in batches(items, 100):
        c.send(b"gets " + b" ".join(it.key for it in b) + b"\r\n")
        while True:
            line = c.read_until()
            if line == b"END\r\n":
                break
            _, key, flags, n, cas = line.split()
            data = c.read_exact(int(n) + 2)
            out[key] = (int(flags), data[:-2], int(cas))
    c.close()
    return out


def check_text(s, items):
    got = read_gets(s, items)
    assert len(got) == len(items), f"{len(items) - len(got)} items missing over text"
    for it in items:
        flags, value, cas = got[it.key]
        assert (flags, value, cas) == (it.flags, it.value, it.cas), it.key


def check_meta(s, items, t_written):
    c = s.connect()
    for b in batches(items):
        c.send(b"".join(b"mg %s v f c t\r\n" % it.key for it in b))
        for it in b:
            hdr = c.read_until().split()
            assert hdr[0] == b"VA", (it.key, hdr)
            value = c.read_exact(int(hdr[1]) + 2)[:-2]
            fl = {w[:1]: w[1:] for w in hdr[2:]}
            assert value == it.value and int(fl[b"f"]) == it.flags and int(fl[b"c"]) == it.cas, \
                it.key
            ttl = int(fl[b"t"])
            elapsed = time.monotonic() - t_written + 1  # TTLs count from the writes
            if it.ttl == 0:
                assert ttl == -1, (it.key, ttl)
            else:
                assert it.ttl - elapsed - 2 <= ttl <= it.ttl, (it.key, ttl, it.ttl)
            if it.stale:  # stale, and the win was given before the restart
                assert b"X" in hdr and b"Z" in hdr and b"W" not in hdr, (it.key, hdr)
            else:
                assert b"X" not in hdr and b"W" not in hdr, (it.key, hdr)
    c.close()


def check_binary(s, items):
    c = s.connect()
    for b in batches(items):
        c.send(b"".join(breq(GETK, it.key, opaque=i) for i, it in enumerate(b)))
        for i, it in enumerate(b):
            f, body = read_bin(c)
            assert f[5] == 0 and f[7] == i, (it.key, f)
            extlen, keylen = f[3], f[2]
            flags = struct.unpack(">I", body[:4])[0]
            assert body[extlen:extlen + keylen] == it.key
            assert (flags, body[extlen + keylen:], f[8]) == (it.flags, it.value, it.cas), it.key
    c.close()


def check_resp(s, items, t_written):
    r = RespConn(s.port)
    for b in batches(items):
        r.send_raw(b"".join(encode(b"GET", it.key) + encode(b"PTTL", it.key) for it in b))
        for it in b:
            raw = r.read_raw()
            assert raw == b"$%d\r\n%s\r\n" % (len(it.value), it.value), it.key
            pttl = int(r.read_raw()[1:-2])
            elapsed = time.monotonic() - t_written + 1
            if it.ttl == 0:
                assert pttl == -1, (it.key, pttl)
            else:
                assert (it.ttl - elapsed - 2) * 1000 <= pttl <= it.ttl * 1000, (it.key, pttl)
    r.close()


def record_cas(s, items):
    got = read_gets(s, items)
    for it in items:
        it.cas = got[it.key][2]


# --- tests ---------------------------------------------------------------------------


@pytest.mark.time_limit(300)
def test_every_item_survives_over_every_protocol(server, memdir):
    path = os.path.join(memdir, "items")
    items = make_items(N)
    s = start(server, path, "-m", "128", "-t", "2")
    assert "new, starting empty" in log_of(s)
    t_written = time.monotonic()
    write_all(s, items)
    mark_stale(s, [it for it in items if it.proto == "meta" and it.value][:50])
    record_cas(s, items)
    before = s.stats()
    assert int(before["curr_items"]) == N
    assert stop(s) == 0
    assert f"saved {N} items" in log_of(s)
    assert os.path.exists(path + ".meta")

    s2 = start(server, path, "-m", "128", "-t", "2")
    assert not os.path.exists(path + ".meta"), "the metadata must be consumed at start"
    assert f"restored {N} items" in log_of(s2)
    st = s2.stats()
    assert int(st["curr_items"]) == N
    assert (st["restart_warm"], st["restart_items"]) == ("1", str(N))
    assert s2.stats(b"settings")["memory_file"] == path
    check_text(s2, items)
    check_meta(s2, items, t_written)
    check_binary(s2, items)
    check_resp(s2, items, t_written)
    # INFO says the same as Redis 7 does after loading
    r = RespConn(s2.port)
    info = r.call(b"INFO", b"persistence").decode()
    r.close()
    assert f"rdb_last_load_keys_loaded:{N}" in info

    # The cas sequence goes on above the restored ones: every new store of
    # a key gets a cas larger than the one it replaces.
    sample = items[:2000]
    c = s2.connect()
    for b in batches(sample):
        c.send(b"".join(b"ms %s 1 c\r\nx\r\n" % it.key for it in b))
        for it in b:
            line = c.read_until().split()
            assert line[0] == b"HD"
            assert int(line[1][1:]) > it.cas, it.key
    # A cas from before the restart is still the item's.
    it = items[3000]
    c.send(b"cas %s 0 0 1 %d\r\ny\r\n" % (it.key, it.cas))
    assert c.read_until() == b"STORED\r\n"
    c.close()


def test_sigusr1_and_shutdown_graceful_save(server, memdir):
    path = os.path.join(memdir, "items")
    s = start(server, path, "-A")
    c = s.connect()
    assert c.store(b"a", b"1") == b"STORED\r\n"
    assert stop(s, signal.SIGUSR1) == 0
    s = start(server, path, "-A")
    c = s.connect()
    assert c.get_value(b"a") == (0, b"1")
    assert c.store(b"b", b"2") == b"STORED\r\n"
    c.send(b"shutdown graceful\r\n")
    assert s.wait_exit(10) == 0
    s = start(server, path, "-A")
    c = s.connect()
    assert c.get_value(b"a") == (0, b"1") and c.get_value(b"b") == (0, b"2")
    # `shutdown` (not graceful) is memcached's stop without a save
    c.send(b"shutdown\r\n")
    assert s.wait_exit(10) == 0
    s = start(server, path, "-A")
    assert "not clean" in log_of(s)
    assert s.connect().get_value(b"a") is None


def fill_simple(s, n, seed=3):
    rnd = random.Random(seed)
    want = {}
    c = s.connect()
    keys = [b"fz:%06d" % i for i in range(n)]
    for b in batches(keys):
        vals = [rnd.randbytes(rnd.randrange(1, 400)) for _ in b]
        c.send(b"".join(b"set %s 7 0 %d\r\n%s\r\n" % (k, len(v), v) for k, v in zip(b, vals)))
        for k, v in zip(b, vals):
            assert c.read_until() == b"STORED\r\n"
            want[k] = v
    c.close()
    return want


def served(s, want):
    """{key: value} of what s serves of want's keys (flags checked)."""
    c = s.connect()
    out = {}
    keys = list(want)
    for b in batches(keys, 100):
        c.send(b"get " + b" ".join(b) + b"\r\n")
        while True:
            line = c.read_until()
            if line == b"END\r\n":
                break
            _, key, flags, n = line.split()
            assert flags == b"7"
            out[key] = c.read_exact(int(n) + 2)[:-2]
    c.close()
    return out


def all_or_nothing(s, want):
    got = served(s, want)
    wrong = [k for k, v in got.items() if want[k] != v]
    assert not wrong, f"wrong values served for {wrong[:5]}"
    assert len(got) in (0, len(want)), f"{len(got)} of {len(want)} items served"
    # and it serves new writes
    c = s.connect()
    assert c.store(b"after", b"ok") == b"STORED\r\n"
    assert c.get_value(b"after") == (0, b"ok")
    c.close()
    return len(got) == len(want)


def data_ranges(path):
    """(start, end) of the file's allocated data (SEEK_DATA/SEEK_HOLE)."""
    out = []
    with open(path, "rb") as f:
        fd = f.fileno()
        end = os.fstat(fd).st_size
        pos = 0
        while pos < end:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            stop_ = os.lseek(fd, start, os.SEEK_HOLE)
            out.append((start, stop_))
            pos = stop_
    return out


def flip(path, offsets):
    with open(path, "r+b") as f:
        for off in offsets:
            f.seek(off)
            b = f.read(1)
            f.seek(off)
            f.write(bytes([b[0] ^ (1 << random.randrange(8))]))


@pytest.mark.time_limit(180)
def test_fuzzed_files_never_serve_a_wrong_value(server, memdir):
    path = os.path.join(memdir, "items")
    rnd = random.Random(11)
    s = start(server, path, "-m", "32")
    want = fill_simple(s, 20000)
    refused = 0
    for round_ in range(24):
        assert stop(s) == 0
        kind = round_ % 4
        if kind == 0:  # a byte flipped in item memory
            ranges = data_ranges(path)
            lo, hi = rnd.choice(ranges)
            flip(path, [rnd.randrange(lo, min(hi, lo + 2 << 20))])
        elif kind == 1:  # bytes flipped in the metadata
            size = os.path.getsize(path + ".meta")
            flip(path + ".meta", [rnd.randrange(size) for _ in range(rnd.randrange(1, 4))])
        elif kind == 2:  # the metadata cut short
            size = os.path.getsize(path + ".meta")
            os.truncate(path + ".meta", rnd.randrange(size))
        else:  # the file cut short
            os.truncate(path, rnd.randrange(os.path.getsize(path)))
        s = start(server, path, "-m", "32")
        restored = all_or_nothing(s, want)
        log = log_of(s)
        if not restored:
            refused += 1
            assert "starting empty" in log, log
            s.close_clients()
            assert stop(s) == 0
            s = start(server, path, "-m", "32")  # refill a clean file
            want = fill_simple(s, 20000, seed=round_)
    # a flip in an unused corner of the file is harmless; nothing else is
    assert refused >= 18, refused


@pytest.mark.time_limit(240)
def test_sigkill_during_stop_never_serves_wrong_values(server, memdir):
    path = os.path.join(memdir, "items")
    rnd = random.Random(5)
    outcomes = {True: 0, False: 0}
    s = start(server, path, "-m", "64")
    want = fill_simple(s, 40000)
    # How long a whole stop takes here (drain, save, exit): kills land
    # anywhere in it, and a little after.
    t0 = time.monotonic()
    assert stop(s) == 0
    whole = time.monotonic() - t0
    s = start(server, path, "-m", "64")
    for round_ in range(16):
        # Some rounds change what is held before the stop.
        if round_ % 2:
            c = s.connect()
            k = rnd.choice(list(want))
            want[k] = b"changed %d" % round_
            assert c.store(k, want[k], flags=7) == b"STORED\r\n"
            c.close()
        s.close_clients()
        s.proc.send_signal(signal.SIGTERM)
        time.sleep(rnd.uniform(0, whole * 1.2))
        s.kill()  # wherever the stop has got to (or after it ended)
        s = start(server, path, "-m", "64")
        restored = all_or_nothing(s, want)
        outcomes[restored] += 1
        if not restored:
            s.close_clients()
            assert stop(s) == 0
            s = start(server, path, "-m", "64")
            want = fill_simple(s, 40000, seed=round_)
    # Both outcomes happen (the kill lands before and after the save).
    print("restored / empty after SIGKILL during stop:", outcomes, "stop: %.3f s" % whole)
    assert outcomes[False] > 0 and outcomes[True] > 0


def test_crash_after_a_warm_start_starts_empty(server, memdir):
    path = os.path.join(memdir, "items")
    s = start(server, path)
    want = fill_simple(s, 1000)
    assert stop(s) == 0
    s = start(server, path)
    assert len(served(s, want)) == len(want)
    s.close_clients()
    s.kill()  # a crash, an OOM kill
    s = start(server, path)
    assert "the last stop was not clean" in log_of(s)
    assert served(s, want) == {}
    assert s.stats()["restart_warm"] == "0"


@pytest.mark.parametrize("after, why", [
    (["-m", "48"], "the memory limit changed (-m 32 MiB then, 48 MiB now)"),
    (["-m", "32", "-C"], "-C changed (cas on then, off now)"),
    (["-m", "32", "--shards", "8192"], "the shard count changed (4096 then, 8192 now)"),
])
def test_changed_settings_start_empty(server, memdir, after, why):
    path = os.path.join(memdir, "items")
    s = start(server, path, "-m", "32")
    want = fill_simple(s, 2000)
    assert stop(s) == 0
    s = start(server, path, *after)
    assert f"starting empty: {why}" in log_of(s)
    assert served(s, want) == {}
    # the same settings again: the file was emptied, nothing comes back
    assert stop(s) == 0
    s = start(server, path, "-m", "32")
    assert served(s, want) == {}


def test_second_server_on_the_same_file_is_refused(server, memdir):
    path = os.path.join(memdir, "items")
    s = start(server, path)
    with pytest.raises(Exception) as e:
        start(server, path)
    assert "in use by another process" in str(e.value)
    assert s.alive()


def test_file_and_memory_accounting(server, memdir):
    """The file is sparse: as long as the arena's range, at most -m of it
    allocated; stats show the file and the items."""
    path = os.path.join(memdir, "items")
    s = start(server, path, "-m", "16")
    fill_simple(s, 150000)  # more than fits: evictions
    st = s.stats()
    assert int(st["evictions"]) > 0
    allocated = os.stat(path).st_blocks * 512
    assert allocated <= 16 << 20, allocated
    assert os.path.getsize(path) == 4 * (16 << 20)
    assert st["restart_warm"] == "0"
    settings = s.stats(b"settings")
    assert settings["memory_file"] == path
    assert stop(s) == 0
    # Lower limit at run time: the file gives blocks back.
    s = start(server, path, "-m", "16")
    c = s.connect()
    c.send(b"cache_memlimit 8\r\n")
    assert c.read_until() == b"OK\r\n"
    deadline = time.monotonic() + 5
    while os.stat(path).st_blocks * 512 > 8 << 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.stat(path).st_blocks * 512 <= 8 << 20


def test_no_file_shows_null(server):
    s = server()
    assert s.stats(b"settings")["memory_file"] == "(null)"
