"""stashd-bench end to end: it must never trust a reply it did not check.

bench/README.md ("stashd-bench") promises: exit 0 when every reply was
right, 1 on any error (an error reply, a wrong value, a desync, a lost
connection, a reply that never came; in every phase), 2 on a usage or
set-up error; counts in JSON that add up. Three groups of tests hold it to
that over real loopback sockets:

1. The real server (STASHD_BIN; RESP needs stashd): every protocol, preloaded
   key space, gets only and mixed, multi-gets, key and value size ranges.
   The JSON must add up, agree with the server's own `stats`, and what the
   bench stored must be what value.h and keyspace.h document (checked here
   by an independent Python model, not by the bench's own reader).
   --server-pid must report the server's CPU and RSS.
2. A lying server (fake_server.FakeServer): honest, it must give exit 0;
   with one injected fault (a flipped byte, a wrong length, another key's
   value or name, an extra reply, an error reply, a closed connection, no
   reply at all) exit 1 and the fault in the JSON counters.
3. Usage errors and nothing listening: exit 2, before any connection.
4. TLS (--tls): Debian's memcached -Z and redis-server's TLS port (with
   throwaway certificates made by the openssl command), mutual TLS,
   certificate and name verification, a handshake that never comes, and
   the lying server over TLS (trickled replies: records of 1-16 bytes).
5. bench/scale and bench/collect-bins: thread counts that do not fit the
   cores are refused, and a run from a folder of carried binaries works.
6. What a person watches: the progress line under a pseudo-terminal (and
   none with --quiet or when stderr is a file), and bench/compare's chart,
   a well-formed SVG that names every server and protocol that ran.
7. bench/instructions: callgrind's count of a server's instructions over a
   known number of requests, for stashd and the floor, and a load that
   fails is reported as failed.

Two bugs these tests found, now fixed: a value cut to a few bytes (or
emptied) passed as a hit, and a run cut short by --max-time reported the
full --time as its duration, with exit 0.

Every bench run carries --max-time and a subprocess timeout; fake servers
are stopped at teardown, real ones by the conftest fixture.
"""

import contextlib
import importlib.machinery
import importlib.util
import json
import os
import pathlib
import re
import select
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

import xml.etree.ElementTree as ET

from conftest import BIN, HOST, IS_MEMCACHED as IS_MEMCACHED_BIN, REPO, free_port
from fake_server import FakeServer

BUILD = pathlib.Path(os.environ.get("STASHD_BUILD") or REPO / "build")
BENCH = BUILD / "bench" / "stashd-bench"
NULL_SERVER = BUILD / "bench" / "stashd-null"

PROTOCOLS = ["mc-text", "mc-meta", "mc-binary", "resp"]
MAX_TIME = 10.0  # --max-time of every run
RUN_TIMEOUT = 20.0  # subprocess bound, above --max-time

pytestmark = pytest.mark.skipif(not os.access(BENCH, os.X_OK),
                                reason=f"{BENCH} not built (cmake --build build)")


def proto_param(proto):
    """RESP runs only against stashd (memcached does not speak it)."""
    marks = [pytest.mark.stashd_only] if proto == "resp" else []
    return pytest.param(proto, marks=marks, id=proto)


REAL_PROTOCOLS = [proto_param(p) for p in PROTOCOLS]


# --------------------------------------------------------------------------
# Running the bench.

class Run:
    def __init__(self, argv, proc, wall):
        self.argv = argv
        self.rc = proc.returncode
        self.stdout = proc.stdout.decode(errors="replace")
        self.stderr = proc.stderr.decode(errors="replace")
        self.wall = wall
        self.j = None
        if self.stdout.strip():
            self.j = json.loads(self.stdout)

    def __getitem__(self, name):
        return self.j[name]

    def __repr__(self):
        return (f"stashd-bench exit {self.rc} after {self.wall:.2f} s\n"
                f"argv: {' '.join(self.argv)}\nstderr:\n{self.stderr[-3000:]}")


def bench(port, *args, max_time=MAX_TIME, json_out=True):
    """Runs stashd-bench against 127.0.0.1:port; JSON on stdout."""
    argv = [str(BENCH), "-s", HOST, "-p", str(port), "--max-time", str(max_time)]
    if json_out:
        argv += ["--json", "-"]
    argv += [str(a) for a in args]
    t0 = time.monotonic()
    # On timeout subprocess.run kills the bench (by its PID) and raises.
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=RUN_TIMEOUT)
    return Run(argv, proc, time.monotonic() - t0)


def check_consistent(r):
    """The JSON's figures must add up, whatever the run saw."""
    j = r.j
    assert j is not None, r
    lat = j["latency_us"]
    assert j["ops"] == j["sets"] + j["gets"], r
    assert lat["all"]["count"] == j["ops"], r
    assert lat["set"]["count"] == j["sets"], r
    assert lat["get"]["count"] == j["gets"], r
    for name in ("all", "set", "get"):
        h = lat[name]
        if h["count"]:
            assert 0 < h["p50"] <= h["p90"] <= h["p99"] <= h["p99.9"], (name, h)
            assert 0 < h["mean"] <= h["max"], (name, h)
    lookups = j["hits"] + j["misses"]
    # Hits and misses count keys: at most multiget per get (resp-multi:
    # a set transaction's GETs too, multiget - 1 of them).
    most = j["gets"] * j["multiget"]
    if j["protocol"] == "resp-multi":
        most += j["sets"] * (j["multiget"] - 1)
    assert lookups <= most, r
    if lookups:
        assert j["hit_ratio"] == pytest.approx(j["hits"] / lookups, abs=1e-6), r
    else:
        assert j["hit_ratio"] == 0, r
    if j["duration_s"] > 0:
        # duration_s is printed to the millisecond, the rates come from
        # the unrounded duration: within half a millisecond of it.
        d = j["duration_s"]
        for count, rate in (("ops", "ops_per_sec"), ("sets", "sets_per_sec"),
                            ("gets", "gets_per_sec")):
            lo = j[count] / (d + 0.0005)
            hi = j[count] / (d - 0.0005) if d > 0.0005 else float("inf")
            assert lo - 0.01 <= j[rate] <= hi + 0.01, (rate, r)
    # Desyncs and timeouts are errors, and each closes its connection.
    assert j["errors"] >= j["desyncs"] + j["timeouts"], r
    assert j["connections_lost"] >= j["desyncs"], r
    assert (r.rc == 1) == (j["errors"] > 0), r


def check_clean(r):
    """Exit 0 and not a single error of any kind."""
    check_consistent(r)
    assert r.rc == 0, r
    for name in ("errors", "desyncs", "timeouts", "connections_lost"):
        assert r[name] == 0, (name, r)
    assert r["max_time_cut"] is False, r


# --------------------------------------------------------------------------
# An independent model of what the bench writes (keyspace.h, value.h).

M64 = (1 << 64) - 1
ALPHABET = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"


def splitmix_below(seed, n):
    """rng_below() of a struct rng {seed} drawn once."""
    z = (seed + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    z ^= z >> 31
    return (z * n) >> 64


def model_key(idx, prefix=b"key:", size=0, size_max=None):
    """Key index idx spelled as keyspace.h says."""
    size_max = size if size_max is None else size_max
    if size and size_max > size:
        size += splitmix_below(idx, size_max - size + 1)
    digits = b"%d" % idx
    pad = max(0, size - len(prefix) - len(digits))
    return prefix + b"0" * pad + digits


def model_value(idx, length):
    """The length-byte value of key index idx, as value.h lays it out."""
    k = idx
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & M64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & M64
    k ^= k >> 33
    h = k & 0xFFFFFFFF
    if length < 16:
        # A length letter, the hash, the body pattern from offset 9.
        short = (bytes([ord("A") + length - 1]) + b"%08x" % h
                 + bytes(ALPHABET[(h + i) & 63] for i in range(9, 15)))
        return short[:length]
    header = b"%08x%07x|" % (h, length)
    return header + bytes(ALPHABET[(h + i) & 63] for i in range(16, length))


def test_model_matches_value_h_example():
    # value.h: 8 hex digits of the hash, 7 of the length, '|', then the
    # periodic body; a short value is a length letter, then the hash.
    v = model_value(42, 100)
    assert len(v) == 100 and v[15:16] == b"|" and v[8:15] == b"0000064"
    assert model_value(42, 5) == b"E" + v[:4]
    assert model_value(42, 15) == b"O" + v[:8] + v[73:79]
    assert model_value(42, 0) == b""
    assert model_key(42, size=32) == b"key:" + b"0" * 26 + b"42"
    assert model_key(7) == b"key:7"


# --------------------------------------------------------------------------
# 1. The real server.

@pytest.fixture
def real(server):
    return server()


def stats_delta(before, after, *names):
    return {n: int(after[n]) - int(before[n]) for n in names}


@pytest.mark.parametrize("proto", REAL_PROTOCOLS)
@pytest.mark.time_limit(30)
def test_real_gets_after_preload(real, proto):
    """Gets only after a preload: every key of every multi-get is a hit."""
    keys = 300
    before = real.stats()
    r = bench(real.port, "-P", proto, "-t", 2, "-c", 2, "-k", keys, "--preload",
              "--ratio", "0:1", "--multiget", 4, "--key-size", "8-64",
              "--value-range", "1-2000", "--time", 0.3)
    check_clean(r)
    j = r.j
    assert j["protocol"] == proto and j["multiget"] == 4
    assert (j["key_size"], j["key_size_max"]) == (8, 64)
    assert (j["value_min"], j["value_max"]) == (1, 2000)
    assert j["preload"]["ops"] == keys
    assert j["duration_s"] == pytest.approx(0.3, abs=0.002)
    assert j["ops"] > 0 and j["sets"] == 0 and j["gets"] == j["ops"]
    assert j["hits"] == 4 * j["gets"] and j["misses"] == 0
    assert j["hit_ratio"] == 1.0
    # The server saw the preload: one set per key, and holds every key.
    after = real.stats()
    d = stats_delta(before, after, "cmd_set", "curr_items")
    assert d == {"cmd_set": keys, "curr_items": keys}


@pytest.mark.parametrize("proto", REAL_PROTOCOLS)
def test_real_mixed_requests_agree_with_server_stats(real, proto):
    """--requests: exact counts, and the server's stats count the same."""
    keys, conns, requests = 100, 3, 120
    before = real.stats()
    r = bench(real.port, "-P", proto, "-c", conns, "-k", keys, "--preload",
              "--ratio", "1:3", "--multiget", 2, "--pipeline", 4,
              "--key-size", 24, "--value-size", 500, "--requests", requests)
    check_clean(r)
    j = r.j
    assert j["ops"] == conns * requests
    # The SET:GET cycle is deterministic per connection: 1 set in 4.
    assert j["sets"] == conns * requests // 4
    assert j["hits"] == 2 * j["gets"] and j["hit_ratio"] == 1.0
    after = real.stats()
    d = stats_delta(before, after, "cmd_set", "get_hits", "get_misses")
    assert d == {"cmd_set": keys + j["sets"], "get_hits": j["hits"], "get_misses": 0}


@pytest.mark.stashd_only
def test_real_multi_exec_transactions(real):
    """resp-multi: one op is one MULTI/EXEC of 3 commands, and the server's
    stats see every SET and GET inside them."""
    keys, conns, requests = 100, 3, 110
    before = real.stats()
    r = bench(real.port, "-P", "resp-multi", "-c", conns, "-k", keys, "--preload",
              "--ratio", "1:10", "--pipeline", 4, "--requests", requests)
    check_clean(r)
    j = r.j
    assert j["protocol"] == "resp-multi" and j["multiget"] == 3
    assert j["ops"] == conns * requests
    assert j["sets"] == conns * requests // 11  # SET k1; GET k2; GET k3
    # Preloaded: every GET hits, 3 per get transaction, 2 per set one.
    assert j["hits"] == 3 * j["gets"] + 2 * j["sets"] and j["misses"] == 0
    after = real.stats()
    d = stats_delta(before, after, "cmd_set", "get_hits", "get_misses")
    assert d == {"cmd_set": keys + j["sets"], "get_hits": j["hits"], "get_misses": 0}


@pytest.mark.parametrize("proto", REAL_PROTOCOLS)
def test_real_store_matches_documented_layout(real, proto):
    """What the bench stores is what value.h and keyspace.h say, read back
    with a plain client, not with the bench's own checker."""
    keys = 60
    r = bench(real.port, "-P", proto, "-c", 4, "-k", keys, "--key-min", 1000,
              "--key-prefix", f"{proto}:", "--key-size", "12-40",
              "--value-size", 300, "--preload", "--time", 0)
    check_clean(r)
    assert r["preload"]["ops"] == keys and r["ops"] == 0
    c = real.connect()
    lengths = set()
    for idx in range(1000, 1000 + keys):
        key = model_key(idx, f"{proto}:".encode(), 12, 40)
        assert 12 <= len(key) <= 40
        lengths.add(len(key))
        got = c.get_value(key)
        assert got is not None, f"{key!r} not stored"
        assert got == (0, model_value(idx, 300)), key
    assert len(lengths) > 5, "key lengths do not vary over the range"


@pytest.mark.parametrize("proto", ["mc-text", "mc-binary"])
def test_real_large_values(real, proto):
    """Values far above the bench's 64 KiB read buffer."""
    r = bench(real.port, "-P", proto, "-c", 2, "-k", 12, "--preload",
              "--ratio", "1:2", "--value-range", "100000-400000", "--requests", 12)
    check_clean(r)
    assert r["hits"] > 0 and r["hit_ratio"] == 1.0 and r["ops"] == 24


def read_cpu(pid):
    """(user, sys) seconds of pid."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    hz = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / hz, int(fields[12]) / hz


def read_switches(pid):
    """Context switches of all of pid's threads."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches:",
                                        "nonvoluntary_ctxt_switches:")):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def read_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_real_server_pid_reports_cpu_and_rss(real):
    user_before, sys_before = read_cpu(real.pid)
    cpu_before = user_before + sys_before
    sw_before = read_switches(real.pid)
    r = bench(real.port, "-c", 8, "-k", 500, "--preload", "--time", 0.5,
              "--server-pid", real.pid)
    sw_after = read_switches(real.pid)
    user_after, sys_after = read_cpu(real.pid)
    cpu_after = user_after + sys_after
    check_clean(r)
    j = r.j
    assert j["server_pid"] == real.pid
    cpu = j["server_cpu_s"]
    # 0.5 s of load from 8 connections keeps the server busy for well over
    # one clock tick; the bench's window lies inside this test's window.
    assert cpu is not None and cpu > 0, r
    assert cpu <= cpu_after - cpu_before + 0.011, (cpu, cpu_after - cpu_before)
    assert cpu <= (j["duration_s"] + 0.1) * os.cpu_count()
    assert j["server_cpu_us_per_op"] == pytest.approx(cpu * 1e6 / j["ops"], abs=1e-3)
    # The split: user and sys each inside this test's window of them, and
    # adding up to the total (either may be 0 ticks in a short run; the
    # unit test tests/unit/bench/test_procstat.c checks each moves).
    user, sys_ = j["server_cpu_user_s"], j["server_cpu_sys_s"]
    assert user is not None and sys_ is not None
    assert 0 <= user <= user_after - user_before + 0.011, (user, user_after - user_before)
    assert 0 <= sys_ <= sys_after - sys_before + 0.011, (sys_, sys_after - sys_before)
    assert user + sys_ == pytest.approx(cpu, abs=2e-3)
    assert user + sys_ > 0
    assert j["server_cpu_user_us_per_op"] == pytest.approx(user * 1e6 / j["ops"], abs=1e-3)
    assert j["server_cpu_sys_us_per_op"] == pytest.approx(sys_ * 1e6 / j["ops"], abs=1e-3)
    assert (j["server_cpu_user_us_per_op"] + j["server_cpu_sys_us_per_op"]
            == pytest.approx(j["server_cpu_us_per_op"], abs=2e-3))
    assert "us/request (user " in r.stderr and ", sys " in r.stderr, r.stderr
    # Requests per wake-up: the server's threads' context switches over the
    # window, which lies inside this test's (8 connections at pipeline 1
    # let the server sleep between requests, so it switches many times).
    per = j["server_ops_per_switch"]
    assert per is not None and per > 0, j
    assert sw_after > sw_before
    assert per >= j["ops"] / (sw_after - sw_before) * 0.999, (per, j["ops"], sw_after - sw_before)
    assert "requests/wake-up" in r.stderr, r.stderr
    rss = read_rss_kb(real.pid)
    assert j["server_rss_kb"] is not None and rss / 2 <= j["server_rss_kb"] <= rss * 2


def test_server_that_never_wakes_counts_one_wake_up(real):
    """A process that switches 0 times over the window (here one asleep for
    the whole run, watched in the server's place) served every request in
    one wake-up at most: the figure is the request count, marked as a lower
    bound in the text report, never null. A saturated server on a short run
    is the real case (compare --smoke met it in CI)."""
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        time.sleep(0.1)
        r = bench(real.port, "-c", 2, "-k", 50, "--requests", 200,
                  "--server-pid", sleeper.pid)
        check_clean(r)
        j = r.j
        assert j["server_ops_per_switch"] == pytest.approx(j["ops"], abs=0.01), j
        assert f">= {j['ops']:.1f} requests/wake-up" in r.stderr, r.stderr
    finally:
        sleeper.kill()
        sleeper.wait()


def test_real_without_server_pid_reports_no_cpu(real):
    r = bench(real.port, "-c", 2, "-k", 50, "--requests", 20)
    check_clean(r)
    assert r["server_pid"] == 0
    assert r["server_cpu_s"] is None and r["server_cpu_us_per_op"] is None
    assert r["server_cpu_user_s"] is None and r["server_cpu_sys_s"] is None
    assert r["server_cpu_user_us_per_op"] is None and r["server_cpu_sys_us_per_op"] is None
    assert r["server_ops_per_switch"] is None
    assert r["server_rss_kb"] is None


def test_real_text_report_on_stderr_json_on_stdout(real):
    r = bench(real.port, "-c", 2, "-k", 50, "--preload", "--requests", 20)
    check_clean(r)  # stdout parsed as one JSON document
    assert "requests 40, hits" in r.stderr and "errors 0" in r.stderr, r


def test_real_json_to_file(real, tmp_path):
    out = tmp_path / "run.json"
    r = bench(real.port, "-q", "-c", 2, "-k", 50, "--requests", 10,
              "--json", out, json_out=False)
    assert r.rc == 0 and r.stdout == "" and r.stderr == "", r
    j = json.loads(out.read_text())
    assert j["ops"] == 20 and j["errors"] == 0


@contextlib.contextmanager
def null_server(*args):
    """A started stashd-null with args (stopped by its PID at the end); its
    port."""
    if not os.access(NULL_SERVER, os.X_OK):
        pytest.skip(f"{NULL_SERVER} not built")
    port = free_port()
    proc = subprocess.Popen([str(NULL_SERVER), "-p", str(port), "-t", "1", *map(str, args)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, "stashd-null exited"
                assert time.monotonic() < deadline, "stashd-null never listened"
                time.sleep(0.01)
        yield port
    finally:
        proc.kill()
        proc.wait(timeout=5)


@pytest.fixture
def null_port():
    with null_server() as port:
        yield port


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_null_server_misses_are_not_errors(null_port, proto):
    """stashd-null answers every get with a miss: misses count keys, and
    are not errors."""
    r = bench(null_port, "-P", proto, "-c", 2, "-k", 100, "--preload",
              "--ratio", "1:3", "--multiget", 3, "--requests", 40)
    check_clean(r)
    assert r["hits"] == 0 and r["misses"] == 3 * r["gets"] and r["hit_ratio"] == 0


@pytest.mark.parametrize("proto", PROTOCOLS)
@pytest.mark.parametrize("table", [False, True], ids=["pattern", "table"])
def test_null_server_hits_carry_each_keys_value(proto, table):
    """--hit-value: every get hits with the value stashd-bench checks for
    its key. --hit-keys: key indexes up to N are copied from the table
    (after a pipeline's worth of prefetches, 40 requests here against 32
    pending copies), the rest from the pattern; either way every value is
    the key's own, or stashd-bench counts an error."""
    args = ["--hit-value", 100] + (["--hit-keys", 150] if table else [])
    with null_server(*args) as port:
        r = bench(port, "-P", proto, "-c", 2, "-k", 300, "--value-size", 100,
                  "--ratio", "1:3", "--multiget", 3, "--pipeline", 40, "--requests", 400)
    check_clean(r)
    assert r["gets"] > 0 and r["misses"] == 0 and r["hits"] == 3 * r["gets"], r


def test_null_server_hit_keys_usage():
    """--hit-keys needs --hit-value, and a count from 1."""
    for args in (["--hit-keys", "10"], ["--hit-value", "100", "--hit-keys", "0"],
                 ["--hit-value", "100", "--hit-keys", "x"]):
        if not os.access(NULL_SERVER, os.X_OK):
            pytest.skip(f"{NULL_SERVER} not built")
        p = subprocess.run([str(NULL_SERVER), "-p", str(free_port()), *args],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
        assert p.returncode == 2 and b"--hit-" in p.stderr, (args, p)


@pytest.mark.time_limit(30)
def test_real_rate_paces_requests(real):
    """--rate spreads that many requests per second over the connections
    (a pipelined run unpaced does far more here)."""
    r = bench(real.port, "-c", 6, "--pipeline", 4, "-k", 200, "--preload", "--rate", 3000,
              "--warmup", 0.2, "--time", 1)
    check_clean(r)
    assert r["rate"] == 3000
    assert 2700 <= r["ops_per_sec"] <= 3100, r
    free = bench(real.port, "-c", 6, "--pipeline", 4, "-k", 200, "--time", 0.3)
    check_clean(free)
    assert free["rate"] == 0 and free["ops_per_sec"] > 2 * 3000, free


# --------------------------------------------------------------------------
# 2. A lying server.

@pytest.fixture
def fake():
    """Factory: fake(fault=None, at=5, trickle=False, tls=None) -> a started
    FakeServer."""
    started = []

    def start(fault=None, at=5, trickle=False, tls=None):
        s = FakeServer(fault, at=at, trickle=trickle, tls=tls)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


FAKE_CONNS, FAKE_KEYS, FAKE_REQUESTS, FAKE_MULTIGET = 2, 50, 100, 2
# The SET:GET cycle is 1:3 on every connection: a stream that slipped by one
# reply meets a set (which no get reply can answer) within 4 requests.
FAKE_ARGS = ["-c", FAKE_CONNS, "-k", FAKE_KEYS, "--preload", "--ratio", "1:3",
             "--multiget", FAKE_MULTIGET, "--requests", FAKE_REQUESTS,
             "--reply-timeout", 0.3]
FAKE_OPS = FAKE_CONNS * FAKE_REQUESTS
WIRE = {"mc-text": "text", "mc-meta": "text", "mc-binary": "binary", "resp": "resp"}


@pytest.mark.parametrize("pipeline", [1, 8])
@pytest.mark.parametrize("proto", PROTOCOLS)
def test_fake_honest(fake, proto, pipeline):
    """Without a fault the fake server passes: what the fault tests catch
    is the fault, not the fake."""
    s = fake()
    r = bench(s.port, "-P", proto, "--pipeline", pipeline, *FAKE_ARGS)
    check_clean(r)
    assert s.protocols == {WIRE[proto]} and s.accepted == FAKE_CONNS
    assert r["ops"] == FAKE_OPS and r["preload"]["ops"] == FAKE_KEYS
    assert r["hits"] == FAKE_MULTIGET * r["gets"] and r["hit_ratio"] == 1.0


@pytest.mark.parametrize("proto", PROTOCOLS)
@pytest.mark.time_limit(30)
def test_fake_honest_trickled(fake, proto):
    """Replies cut into 1-16 byte segments, at every offset, CRLF included:
    the incremental parser must not see an error where there is none."""
    s = fake(trickle=True)
    r = bench(s.port, "-P", proto, "-c", 2, "-k", 20, "--preload", "--ratio", "1:2",
              "--multiget", 3, "--requests", 30, "--value-range", "1-300")
    check_clean(r)
    assert r["hits"] == 3 * r["gets"]


# What one fault must do to the run:
#   "value": errors 1; parsing goes on (no desync, no lost connection),
#            every request completes; the one bad key is not a hit
#   "error": an error reply: errors 1, no desync, every request completes
#   "desync": the stream cannot be trusted: desyncs 1, that connection closed
#   "closed": the server closed a connection: lost 1, errors >= 1
#   "timeout": no reply within --reply-timeout: timeouts 1, lost 1
VALUE_FAULTS = ["flip_first", "flip_mid", "flip_last", "truncate1", "extend1",
                "other_value"]
CASES = (
    [(p, f, "value") for p in PROTOCOLS for f in VALUE_FAULTS]
    + [(p, f, "error") for p in PROTOCOLS for f in ("error_set", "error_get")]
    + [(p, "close", "closed") for p in PROTOCOLS]
    + [(p, "hang", "timeout") for p in PROTOCOLS]
    + [("mc-text", f, "desync") for f in ("length_lie", "other_key", "extra_reply",
                                          "late_extra_reply")]
    + [("mc-meta", f, "desync") for f in ("length_lie", "extra_reply",
                                          "late_extra_reply")]
    + [("mc-binary", f, "desync") for f in ("other_key", "extra_reply",
                                            "late_extra_reply", "bad_opaque",
                                            "bad_opcode")]
    + [("resp", f, "desync") for f in ("length_lie", "extra_reply", "late_extra_reply",
                                       "bad_count")]
)


def fault_at(kind):
    # Connection faults strike in the measured phase (after the preload's
    # FAKE_KEYS sets); the others at the 5th request of their kind.
    return FAKE_KEYS + 20 if kind in ("closed", "timeout") else 5


def check_fault(r, s, kind):
    assert s.fired == 1, f"the fault was not injected; {r}"
    check_consistent(r)
    assert r.rc == 1, r
    j = r.j
    assert j["errors"] >= 1, r
    if kind in ("value", "error"):
        assert j["errors"] == 1 and j["desyncs"] == 0, r
        assert j["connections_lost"] == 0 and j["timeouts"] == 0, r
        assert j["ops"] == FAKE_OPS, "the run did not go on after the error"
        if kind == "value":
            assert j["misses"] == 0, r
            assert j["hits"] == FAKE_MULTIGET * j["gets"] - 1, r
    elif kind == "desync":
        assert j["desyncs"] == 1 and j["connections_lost"] == 1, r
        assert j["timeouts"] == 0, r
        assert j["ops"] < FAKE_OPS, r
    elif kind == "closed":
        assert j["connections_lost"] == 1, r
        assert j["desyncs"] == 0 and j["timeouts"] == 0, r
        assert "server closed the connection" in r.stderr, r
    elif kind == "timeout":
        assert j["timeouts"] == 1 and j["connections_lost"] == 1, r
        assert j["errors"] == 1 and j["desyncs"] == 0, r
        assert "--reply-timeout" in r.stderr, r
        # --reply-timeout (0.3 s) ended it, not --max-time.
        assert r.wall < MAX_TIME / 2, r
    else:
        raise AssertionError(kind)


@pytest.mark.parametrize("proto,fault,kind",
                         [pytest.param(*c, id=f"{c[0]}-{c[1]}") for c in CASES])
def test_fake_fault_detected(fake, proto, fault, kind):
    s = fake(fault, at=fault_at(kind))
    r = bench(s.port, "-P", proto, *FAKE_ARGS)
    check_fault(r, s, kind)


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_fake_extra_reply_after_last_request(fake, proto):
    """An extra reply glued behind the answer to the connection's last
    request: no later request can absorb it, so only the check for bytes
    with no request in flight can see it."""
    s = fake("extra_reply", at=20)
    r = bench(s.port, "-P", proto, "-c", 1, "-k", 10, "--preload", "--ratio", "0:1",
              "--requests", 20)
    assert s.fired == 1
    check_consistent(r)
    assert r.rc == 1 and r["desyncs"] == 1 and r["errors"] == 1, r
    assert r["ops"] == 20 and r["hits"] == 20, r
    assert "no request in flight" in r.stderr, r


@pytest.mark.parametrize("proto,fault,kind", [
    ("mc-text", "flip_mid", "value"),
    ("mc-binary", "flip_mid", "value"),
    ("mc-text", "other_key", "desync"),
    ("mc-binary", "bad_opaque", "desync"),
    ("resp", "extra_reply", "desync"),
    ("mc-meta", "length_lie", "desync"),
    ("mc-text", "close", "closed"),
    ("resp", "hang", "timeout"),
])
def test_fake_fault_detected_pipelined(fake, proto, fault, kind):
    """With 8 requests in flight per connection."""
    s = fake(fault, at=fault_at(kind))
    r = bench(s.port, "-P", proto, "--pipeline", 8, *FAKE_ARGS)
    assert s.fired == 1, r
    check_consistent(r)
    assert r.rc == 1 and r["errors"] >= 1, r
    if kind == "value":
        assert r["errors"] == 1 and r["desyncs"] == 0 and r["ops"] == FAKE_OPS, r
    elif kind == "desync":
        assert r["desyncs"] == 1 and r["connections_lost"] == 1, r
    elif kind == "closed":
        assert r["connections_lost"] == 1 and r["desyncs"] == 0, r
    else:
        assert r["timeouts"] >= 1 and r["connections_lost"] == 1, r
        # Every request lost with the connection is an error.
        assert r["errors"] == r["timeouts"], r


@pytest.mark.parametrize("fault", ["truncate8", "empty"])
@pytest.mark.parametrize("proto", PROTOCOLS)
def test_fake_short_value_detected(fake, proto, fault):
    """A 100-byte value cut to 8 bytes or emptied: not a hit. (Once passed:
    a value under 16 bytes was checked as a bare prefix of the header.)"""
    s = fake(fault, at=5)
    r = bench(s.port, "-P", proto, *FAKE_ARGS)
    check_fault(r, s, "value")


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_fake_oom_set_is_refused_not_an_error(fake, proto):
    """A set the server declines for memory (memcached's SERVER_ERROR out
    of memory, binary 0x82, RESP -OOM) is counted in refused, and the run
    passes: a cache may refuse a store under memory pressure."""
    s = fake("oom_set", at=3)
    r = bench(s.port, "-P", proto, *FAKE_ARGS)
    assert s.fired == 1
    check_consistent(r)
    assert r.rc == 0 and r["errors"] == 0 and r["refused"] == 1 and r["desyncs"] == 0, r


def test_fake_error_in_preload_counts(fake):
    """An error in the preload fails the run though the measured phase
    (gets only) is clean."""
    s = fake("error_set", at=3)
    r = bench(s.port, "-c", 2, "-k", 20, "--preload", "--ratio", "0:1", "--requests", 20)
    assert s.fired == 1
    check_consistent(r)
    assert r.rc == 1 and r["errors"] == 1 and r["desyncs"] == 0, r
    assert r["ops"] == 40 and r["sets"] == 0 and r["connections_lost"] == 0, r


def test_fake_error_in_preload_only_run(fake):
    s = fake("error_set", at=3)
    r = bench(s.port, "-c", 2, "-k", 20, "--preload", "--time", 0)
    assert s.fired == 1
    check_consistent(r)
    assert r.rc == 1 and r["errors"] == 1 and r["ops"] == 0, r


def test_fake_error_in_warmup_counts(fake):
    """An error reply in the warm-up (not measured) still fails the run."""
    s = fake("error_get", at=2)
    r = bench(s.port, "-c", 2, "-k", 20, "--preload", "--ratio", "0:1",
              "--warmup", 0.3, "--time", 0.05)
    assert s.fired == 1
    check_consistent(r)
    assert r.rc == 1 and r["errors"] == 1 and r["desyncs"] == 0, r


def test_fake_no_reply_in_preload(fake):
    """No reply to the very first preload set: --reply-timeout ends the
    run (the only connection is lost), exit 1."""
    s = fake("hang", at=1)
    r = bench(s.port, "-c", 1, "-k", 20, "--preload", "--time", 5, "--reply-timeout", 0.2)
    assert s.fired == 1
    check_consistent(r)
    # The whole preload (20 sets, under --preload-pipeline 32) was in flight.
    assert r.rc == 1 and r["preload"]["ops"] == 0 and r["ops"] == 0, r
    assert r["timeouts"] == r["errors"] == 20 and r["connections_lost"] == 1, r
    assert r.wall < 3, r


def test_max_time_bounds_a_run_that_gets_no_reply(fake):
    """--max-time ends a run whose server never answers, before the (long)
    --reply-timeout would."""
    s = fake("hang", at=FAKE_KEYS + 5)
    r = bench(s.port, "-c", 2, "-k", FAKE_KEYS, "--preload", "--time", 5,
              "--reply-timeout", 60, max_time=0.5)
    assert s.fired == 1
    check_consistent(r)
    assert r.rc == 1 and r["timeouts"] >= 1, r
    assert "--max-time deadline" in r.stderr, r
    assert r.wall < 3, r


def test_max_time_cut_reports_real_duration(fake):
    """--max-time ending a --time run early: the measured window ends at
    the deadline (it once read --time, so a 0.5 s run reported 3 s at a
    sixth of its rate, with exit 0)."""
    s = fake()
    r = bench(s.port, "-c", 2, "-k", FAKE_KEYS, "--time", 3, max_time=0.5)
    check_consistent(r)
    assert r.wall < 2.5, r
    # The bench cannot have measured for longer than it ran.
    assert r["duration_s"] <= r.wall, r
    assert 0.3 < r["duration_s"] <= 0.5, r
    # A run the deadline stopped before it was done is no clean run: one
    # error, exit 1 (bench/README.md, "Exit status").
    assert r.rc == 1 and r["max_time_cut"] is True, r
    assert "stopped the run before it was done" in r.stderr, r


# --------------------------------------------------------------------------
# 3. Usage and set-up errors: exit 2.

USAGE_ERRORS = [
    ["--key-size", "0"],
    ["--key-size", "300"],
    ["--key-size", "251"],
    ["--key-size", "10-5"],
    ["--key-size", "0-10"],
    ["--key-size", "8-251"],
    ["--key-size", "8-"],
    ["--key-size", "x"],
    ["--key-size", "3"],  # "key:19" does not fit in 3 bytes
    ["--value-range", "5-1"],
    ["--value-range", "0-5"],
    ["--value-range", "1-268435456"],  # above the 7 hex digits of the header
    ["--value-range", "5"],
    ["--value-size", "0"],
    ["-P", "bogus"],
    ["--protocol", "memcache"],
    ["--multiget", "0"],
    ["--ratio", "0:0"],
    ["--ratio", "1-10"],
    ["--requests", "0"],
    ["--threads", "0"],
    ["--conns", "0"],
    ["--pipeline", "0"],
    ["--reply-timeout", "0"],
    ["--port", "0"],
    ["--port", "65536"],
    ["--dist", "normal"],
    ["--time", "1"],  # with --requests (from the base arguments)
    ["--set-on-miss", "--multiget", "2"],
    ["--no-such-option"],
    ["stray-argument"],
]
USAGE_BASE = ["-c", 1, "-k", 20, "--requests", 1]


@pytest.fixture
def honest(fake):
    return fake()


def test_usage_base_runs(honest):
    """The base of every usage test runs fine: exit 2 below is the option."""
    r = bench(honest.port, *USAGE_BASE)
    check_clean(r)
    assert honest.accepted == 1


@pytest.mark.parametrize("bad", USAGE_ERRORS, ids=lambda b: " ".join(b))
def test_usage_error_exits_2(honest, bad):
    r = bench(honest.port, *USAGE_BASE, *bad)
    assert r.rc == 2, r
    assert r.stdout == "", "no report after a usage error"
    assert r.stderr.strip(), "a usage error says what is wrong"
    # Rejected before a single connection was made.
    assert honest.accepted == 0


def test_time_zero_without_preload_exits_2(honest):
    r = bench(honest.port, "-c", 1, "-k", 20, "--time", 0)
    assert r.rc == 2 and honest.accepted == 0, r


def test_nothing_listening_exits_2():
    port = free_port()  # bound and closed again: nothing listens there
    r = bench(port, "-c", 2, "-k", 20, "--preload", "--requests", 10)
    assert r.rc == 2, r
    assert "cannot connect" in r.stderr, r
    assert r.stdout == "", r


# --------------------------------------------------------------------------
# 4. TLS (--tls): against Debian's memcached -Z and redis-server's TLS
#    port, stashd when it speaks TLS, and the lying server over TLS.

OPENSSL = shutil.which("openssl")
REDIS = "/usr/bin/redis-server"


def openssl(*args, cwd):
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, timeout=30,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def make_cert(d, name, ca, sans):
    """d/name.crt and d/name.key, signed by ca (a name in d), with these
    subjectAltNames (None: a client certificate, no SAN)."""
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    ext = d / f"{name}.ext"
    ext.write_text(f"subjectAltName={sans}\n" if sans else "basicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", ext.name,
            cwd=d)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """Throwaway PKI: a CA, a server certificate for 127.0.0.1 / localhost,
    a client certificate, a server certificate for another name only, and
    a second CA that signed none of them."""
    if OPENSSL is None:
        pytest.skip("no openssl command (Debian: openssl)")
    d = tmp_path_factory.mktemp("tls")
    for ca in ("ca", "rogue"):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.crt", "-days", "2",
                "-subj", f"/CN={ca}-ca", cwd=d)
    make_cert(d, "server", "ca", "IP:127.0.0.1,DNS:localhost")
    make_cert(d, "client", "ca", None)
    make_cert(d, "elsewhere", "ca", "DNS:elsewhere.example")
    return d


def memcached_has_tls():
    p = subprocess.run([MEMCACHED_BIN, "-h"], capture_output=True, timeout=10)
    return b"--enable-ssl" in p.stdout


MEMCACHED_BIN = "/usr/bin/memcached"


@pytest.fixture
def peer():
    """Factory: peer(argv_of_port, refused=None) starts a server process on
    a free port, waits until it accepts TCP connections, and returns (port,
    Popen); when it exits at start-up saying `refused`, the test is skipped.
    Every process is killed by its PID at teardown."""
    started = []

    def start(argv_of_port, refused=None):
        port = free_port()
        argv = [str(a) for a in argv_of_port(port)]
        log = tempfile.TemporaryFile()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        started.append((proc, log))
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                return port, proc
            except OSError:
                if proc.poll() is not None:
                    log.seek(0)
                    out = log.read().decode(errors="replace")
                    if refused and refused in out:
                        pytest.skip(f"{argv[0]}: {out.strip()}")
                    pytest.fail(f"{' '.join(argv)} exited ({proc.returncode}):\n{out[-2000:]}")
                assert time.monotonic() < deadline, f"{argv[0]} never listened"
                time.sleep(0.02)

    yield start
    for proc, log in started:
        proc.kill()
        proc.wait(timeout=5)
        log.close()


def memcached_tls(certs, *extra):
    if not memcached_has_tls():
        pytest.skip("this memcached was built without TLS")
    opts = f"ssl_chain_cert={certs / 'server.crt'},ssl_key={certs / 'server.key'}"
    return lambda port: [MEMCACHED_BIN, "-u", "root", "-U", "0", "-l", HOST, "-p", port,
                         "-t", 1, "-Z", "-o", opts + "".join(extra)]


def redis_tls(certs, auth_clients="no", cert="server"):
    if not os.access(REDIS, os.X_OK):
        pytest.skip(f"{REDIS} not installed")
    return lambda port: [REDIS, "--port", 0, "--tls-port", port, "--bind", HOST,
                         "--tls-cert-file", certs / f"{cert}.crt",
                         "--tls-key-file", certs / f"{cert}.key",
                         "--tls-ca-cert-file", certs / "ca.crt",
                         "--tls-auth-clients", auth_clients,
                         "--save", "", "--appendonly", "no"]


def tls_args(certs):
    return ["--tls", "--tls-ca", certs / "ca.crt"]


@pytest.mark.parametrize("proto", ["mc-text", "mc-meta", "mc-binary"])
@pytest.mark.time_limit(30)
def test_tls_memcached(certs, peer, proto):
    """memcached -Z: pipelined, multi-gets, values across TLS records
    (16 KiB) and read buffers; every reply verified."""
    port, _ = peer(memcached_tls(certs))
    r = bench(port, "-P", proto, *tls_args(certs), "-c", 3, "-k", 200, "--preload",
              "--ratio", "1:3", "--multiget", 2, "--pipeline", 8,
              "--value-range", "1-70000", "--requests", 60)
    check_clean(r)
    assert r["tls"] is True and r["protocol"] == proto
    assert r["ops"] == 180 and r["preload"]["ops"] == 200
    assert r["hits"] == 2 * r["gets"] and r["hit_ratio"] == 1.0
    assert "over TLS" in r.stderr


@pytest.mark.time_limit(30)
def test_tls_plain_client_fails_on_a_tls_port(certs, peer):
    """Without --tls the same run fails: the runs above did speak TLS."""
    port, _ = peer(memcached_tls(certs))
    r = bench(port, "-c", 1, "-k", 10, "--preload", "--requests", 5,
              "--reply-timeout", 0.5)
    assert r.rc in (1, 2), r
    if r.j is not None:
        assert r["errors"] >= 1 and r["tls"] is False, r


@pytest.mark.parametrize("pipeline", [1, 16])
@pytest.mark.time_limit(30)
def test_tls_redis(certs, peer, pipeline):
    port, _ = peer(redis_tls(certs))
    r = bench(port, "-P", "resp", *tls_args(certs), "-c", 4, "-k", 300, "--preload",
              "--ratio", "1:2", "--multiget", 3, "--pipeline", pipeline,
              "--value-range", "1-100000", "--requests", 90)
    check_clean(r)
    assert r["ops"] == 360 and r["hits"] == 3 * r["gets"]


@pytest.mark.time_limit(30)
def test_tls_mutual(certs, peer):
    """redis with --tls-auth-clients yes: refused without a client
    certificate, served with --tls-cert/--tls-key."""
    port, _ = peer(redis_tls(certs, auth_clients="yes"))
    args = ["-P", "resp", "-c", 2, "-k", 50, "--preload", "--requests", 20,
            "--reply-timeout", 1]
    r = bench(port, *tls_args(certs), *args)
    assert r.rc in (1, 2), r
    r = bench(port, *tls_args(certs), "--tls-cert", certs / "client.crt",
              "--tls-key", certs / "client.key", *args)
    check_clean(r)
    assert r["ops"] == 40


@pytest.mark.time_limit(30)
def test_tls_verification(certs, peer):
    """The server's certificate must chain to --tls-ca and name the
    address given with -s; --tls-insecure skips both."""
    port, _ = peer(redis_tls(certs))
    args = ["-P", "resp", "-c", 1, "-k", 10, "--requests", 5]
    r = bench(port, "--tls", "--tls-ca", certs / "rogue.crt", *args)
    assert r.rc == 2 and "certificate verify failed" in r.stderr, r
    r = bench(port, "--tls", "--tls-insecure", "--tls-ca", certs / "rogue.crt", *args)
    check_clean(r)
    other, _ = peer(redis_tls(certs, cert="elsewhere"))
    r = bench(other, *tls_args(certs), *args)
    assert r.rc == 2 and "certificate verify failed" in r.stderr, r
    r = bench(other, "--tls", "--tls-insecure", *args)
    check_clean(r)


def test_tls_handshake_bounded_by_reply_timeout():
    """A server that accepts and never speaks TLS: set-up fails (exit 2)
    after --reply-timeout, not at --max-time."""
    with socket.socket() as lsn:
        lsn.bind((HOST, 0))
        lsn.listen(8)
        r = bench(lsn.getsockname()[1], "--tls", "--tls-insecure", "-c", 1,
                  "--requests", 1, "--reply-timeout", 0.3, max_time=8)
    assert r.rc == 2 and "TLS handshake" in r.stderr, r
    assert r.wall < 3, r


@pytest.mark.parametrize("args,msg", [
    (["--tls-ca", "x"], "need --tls"),
    (["--tls-insecure"], "need --tls"),
    (["--tls", "--tls-key", "x"], "--tls-key needs --tls-cert"),
])
def test_tls_usage_errors(args, msg):
    r = bench(free_port(), *args, json_out=False)
    assert r.rc == 2 and msg in r.stderr, r


@pytest.mark.stashd_only
@pytest.mark.time_limit(30)
def test_tls_stashd(certs, peer):
    """stashd with -Z (once it speaks TLS; skipped while it refuses -Z)."""
    opts = f"ssl_chain_cert={certs / 'server.crt'},ssl_key={certs / 'server.key'}"
    port, _ = peer(lambda port: [BIN, "-u", "root", "-U", "0", "-l", HOST, "-p", port,
                                 "-t", 1, "-Z", "-o", opts], refused="-Z")
    for proto in PROTOCOLS:
        r = bench(port, "-P", proto, *tls_args(certs), "-c", 2, "-k", 100,
                  "--key-prefix", f"{proto}:", "--preload", "--ratio", "1:3",
                  "--pipeline", 8, "--value-range", "1-40000", "--requests", 40)
        check_clean(r)


@pytest.fixture(scope="module")
def tls_server_ctx(certs):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs / "server.crt", certs / "server.key")
    return ctx


@pytest.mark.parametrize("trickle", [False, True], ids=["whole", "trickled"])
@pytest.mark.parametrize("proto", PROTOCOLS)
@pytest.mark.time_limit(30)
def test_tls_fake_honest(certs, tls_server_ctx, fake, proto, trickle):
    """Trickled, every reply comes in TLS records of 1-16 bytes."""
    s = fake(trickle=trickle, tls=tls_server_ctx)
    # Trickled replies take their time on a busy host: FAKE_ARGS's 0.3 s
    # reply timeout is for the fault tests.
    r = bench(s.port, "-P", proto, *tls_args(certs), "--pipeline", 4, *FAKE_ARGS,
              "--reply-timeout", 5)
    check_clean(r)
    assert s.protocols == {WIRE[proto]} and r["ops"] == FAKE_OPS


@pytest.mark.parametrize("proto,fault,kind", [
    ("mc-text", "flip_mid", "value"),
    ("mc-binary", "other_value", "value"),
    ("resp", "error_get", "error"),
    ("mc-text", "other_key", "desync"),
    ("resp", "extra_reply", "desync"),
    ("mc-meta", "close", "closed"),
    ("mc-binary", "hang", "timeout"),
])
def test_tls_fake_fault_detected(certs, tls_server_ctx, fake, proto, fault, kind):
    """The faults of section 2 are caught through TLS too."""
    s = fake(fault, at=fault_at(kind), tls=tls_server_ctx)
    r = bench(s.port, "-P", proto, *tls_args(certs), *FAKE_ARGS)
    check_fault(r, s, kind)


# --------------------------------------------------------------------------
# 5. bench/scale and bench/collect-bins: thread counts are checked against
#    the cores, and a run works from a folder of carried binaries alone.

SCALE = REPO / "bench" / "scale"
COLLECT = REPO / "bench" / "collect-bins"


def run_script(*argv, timeout=120):
    return subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=timeout)


def test_scale_refuses_thread_counts_that_do_not_fit():
    ncpu = len(os.sched_getaffinity(0))
    p = run_script("/usr/bin/python3", SCALE, f"1,{ncpu}", "--smoke")
    assert p.returncode == 2, p
    assert b"refusing" in p.stderr and str(ncpu).encode() in p.stderr, p.stderr
    p = run_script("/usr/bin/python3", SCALE, "0", "--smoke")
    assert p.returncode == 2 and b"refusing 0" in p.stderr, p.stderr


@pytest.mark.time_limit(120)
def test_scale_runs_from_collected_binaries(tmp_path):
    """collect-bins gathers the binaries and their libraries; scale runs
    from that folder (the way a bare many-core machine would) and every
    reply is right."""
    if not os.access(BIN, os.X_OK) or IS_MEMCACHED_BIN:
        pytest.skip("needs the stashd build")
    d = tmp_path / "bins"
    p = run_script("bash", COLLECT, d, "--build", BUILD)
    assert p.returncode == 0, p.stderr
    for name in ("stashd", "stashd-bench", "stashd-null"):
        assert os.access(d / name, os.X_OK) and (d / "bin" / name).is_file()
    libs = {f.name for f in (d / "lib").iterdir()}
    assert any(l.startswith("libuv") for l in libs), libs  # stashd's
    assert not any(l.startswith(("libc.so", "ld-linux")) for l in libs), libs
    out = tmp_path / "scale.md"
    p = run_script("/usr/bin/python3", SCALE, "1", "--smoke", "--bin-dir", d,
                   "--servers", "stashd,null", "--cells", "p16", "--protocol", "mc-text,resp",
                   "--out", out, "--json-out", tmp_path / "scale.json")
    assert p.returncode == 0, p.stderr.decode()[-3000:]
    text = out.read_text()
    assert "| stashd | " in text and "| null | " in text and str(d) in text, text
    runs = json.loads((tmp_path / "scale.json").read_text())
    assert len(runs) == 4 and all(r["rc"] == 0 and r["errors"] == 0 for r in runs), runs
    assert all(r["ops"] > 0 and r["cpu"] is not None for r in runs), runs


MEMTIER = pathlib.Path.home() / ".cache" / "stashd-peers" / "memtier_benchmark" / "memtier_benchmark"


@pytest.mark.time_limit(90)
def test_compare_memtier_driver(tmp_path):
    """bench/compare --driver memtier: memtier drives the load cell, the
    server's CPU per request is read around it; mc-meta, which memtier
    does not speak, is skipped with a note."""
    if not os.access(MEMTIER, os.X_OK):
        pytest.skip("memtier_benchmark not built (bash ../shared/peers/build.sh)")
    out = tmp_path / "c.md"
    js = tmp_path / "c.json"
    p = run_script("/usr/bin/python3", REPO / "bench" / "compare", "--driver", "memtier",
                   "--memtier", MEMTIER, "--smoke", "--cells", "b", "--servers", "null",
                   "--bench", BENCH, "--null", NULL_SERVER,
                   "--protocol", "mc-text,mc-meta,resp", "--out", out, "--json-out", js)
    assert p.returncode == 0, p.stderr.decode()[-3000:]
    text = out.read_text()
    assert text.count("driven by memtier_benchmark") == 2, text
    assert "memtier_benchmark does not speak mc-meta" in text, text
    runs = json.loads(js.read_text())
    assert [r["protocol"] for r in runs] == ["mc-text", "resp"], runs
    assert all(r["rc"] == 0 and r["ops"] > 0 and r["cpu"] > 0 for r in runs), runs
    # The server's CPU split into user and kernel time, as stashd-bench's.
    assert all(r["cpu_user"] >= 0 and r["cpu_sys"] >= 0 for r in runs), runs
    assert all(r["cpu_user"] + r["cpu_sys"] == pytest.approx(r["cpu"]) for r in runs), runs
    assert "| user µs/op | sys µs/op | req/wake-up |" in text, text
    # and how many requests it served a wake-up, from its threads' switches
    assert all(r.get("wake") and r["wake"] > 0 for r in runs), runs


# --------------------------------------------------------------------------
# 6. The progress line and compare's chart.

def bench_on_pty(port, *args):
    """Runs stashd-bench with its stderr on a pseudo-terminal (os.openpty,
    what the pty module opens too; stdout a pipe); returns (exit status,
    what the terminal got, stdout)."""
    master, slave = os.openpty()
    argv = [str(BENCH), "-s", HOST, "-p", str(port), "--max-time", str(MAX_TIME)]
    argv += [str(a) for a in args]
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=slave)
    finally:
        os.close(slave)
    tty = b""
    deadline = time.monotonic() + RUN_TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: every writer has closed the terminal
                break
            if not chunk:
                break
            tty += chunk
        out, _ = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return proc.returncode, tty.decode(errors="replace"), out.decode(errors="replace")


PROGRESS_LINE = re.compile(r"stashd-bench +(\d+\.\d) s  (preload|warm-up|run|drain) +"
                           r"([\d,]+) ops/s  hits +(-|\d+\.\d%)  errors (\d+) *")


@pytest.mark.time_limit(30)
def test_progress_line_on_a_terminal(null_port):
    """On a terminal: a line about once a second, each over the last with
    '\r', ops/s over the last second, then wiped before the report."""
    rc, tty, out = bench_on_pty(null_port, "-c", 4, "-k", 1000, "--preload", "--warmup", 1,
                                "--time", 2)
    assert rc == 0, (tty, out)
    assert "Totals" in out, out  # the text report, on stdout
    assert tty.startswith("\r") and tty.endswith("\r"), repr(tty)
    frames = tty.split("\r")[1:-1]
    lines = [PROGRESS_LINE.fullmatch(f) for f in frames if f.strip()]
    assert len(lines) >= 2 and all(lines), repr(tty)
    elapsed = [float(m.group(1)) for m in lines]
    assert elapsed == sorted(elapsed) and elapsed[-1] - elapsed[0] >= 0.8, repr(tty)
    assert {m.group(2) for m in lines} <= {"warm-up", "run", "drain"}, repr(tty)
    assert all(int(m.group(3).replace(",", "")) > 0 for m in lines), repr(tty)
    assert any(m.group(2) == "run" and m.group(4) == "0.0%" for m in lines), repr(tty)
    assert all(m.group(5) == "0" for m in lines), repr(tty)
    # The last frame is blank: the line is wiped, not left under the report.
    assert frames[-1].strip() == "" and len(frames[-1]) >= len(frames[-2]), repr(tty)


@pytest.mark.time_limit(30)
def test_progress_line_off_with_quiet(null_port):
    rc, tty, out = bench_on_pty(null_port, "-q", "-c", 4, "-k", 1000, "--time", 1.5)
    assert rc == 0 and tty == "" and out == "", (tty, out)


@pytest.mark.time_limit(30)
def test_progress_line_off_when_stderr_is_a_file(null_port, tmp_path):
    err = tmp_path / "stderr"
    argv = [str(BENCH), "-s", HOST, "-p", str(null_port), "-c", 4, "-k", 1000, "--time", 1.5,
            "--max-time", MAX_TIME]
    with open(err, "wb") as f:
        p = subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=f, timeout=RUN_TIMEOUT)
    assert p.returncode == 0 and b"Totals" in p.stdout, p
    assert err.read_bytes() == b""


SVG = "{http://www.w3.org/2000/svg}"
COMPARE = REPO / "bench" / "compare"


def svg_bars(path):
    """(the parsed chart, the tooltips of its bars) of a compare chart."""
    root = ET.parse(path).getroot()
    assert root.tag == SVG + "svg", root.tag
    tips = [r.find(SVG + "title").text for r in root.iter(SVG + "rect")
            if r.find(SVG + "title") is not None]
    return root, tips


@pytest.mark.time_limit(120)
def test_compare_smoke_draws_a_chart(tmp_path):
    """--out results.md puts results.svg beside it: a well-formed SVG with
    a bar in each panel for every server and protocol that ran, and each
    name in its text."""
    out = tmp_path / "results.md"
    js = tmp_path / "runs.json"
    argv = ["/usr/bin/python3", COMPARE, "--smoke", "--cells", "a", "--protocol",
            "mc-text,resp", "--bench", BENCH, "--null", NULL_SERVER,
            "--out", out, "--json-out", js]
    if os.access(BIN, os.X_OK) and not IS_MEMCACHED_BIN:
        argv += ["--stashd", BIN]
    else:
        argv += ["--servers", "memcached,redis,null"]
    p = run_script(*argv)
    assert p.returncode == 0, p.stderr.decode()[-3000:]
    chart = tmp_path / "results.svg"
    root, tips = svg_bars(chart)
    text = " ".join(t for t in root.itertext())
    runs = json.loads(js.read_text())
    ran = {(r["server"], r["protocol"]) for r in runs}
    assert len(ran) >= 4, runs
    for server, proto in ran:
        assert server in text and proto in text, (server, proto, text)
        mine = [t for t in tips if t.startswith(f"{server}, (a) p1 {proto}: ")]
        assert len(mine) == 2, (server, proto, tips)  # ops/s and CPU
        assert any(t.endswith(" ops/s") for t in mine) and \
            any(t.endswith(" µs/request") for t in mine), mine
    assert len(tips) == 2 * len(ran), tips
    assert "null server: the floor" in text and "SMOKE RUN" in text, text
    # The load table splits each server's CPU into user and kernel time,
    # and they add up to the total (to the rounding of the JSON).
    md = out.read_text()
    assert "| user µs/op | sys µs/op | req/wake-up |" in md and "stashd/peer user CPU/op" in md, md
    for r in runs:
        assert r["cpu_user"] is not None and r["cpu_sys"] is not None, r
        assert r["wake"] is not None and r["wake"] > 0, r
        assert r["cpu_user"] + r["cpu_sys"] == pytest.approx(r["cpu"], abs=2e-3), r


@pytest.mark.time_limit(120)
def test_compare_hit_ratio_with_value_sizes(tmp_path):
    """--hit-values MIN-MAX: cell f draws its value sizes from the range
    (keys: twice what fits at the mean size), says so over the table and
    gives each server's RSS beside its hit ratio."""
    out = tmp_path / "f.md"
    js = tmp_path / "runs.json"
    argv = ["/usr/bin/python3", COMPARE, "--smoke", "--cells", "f", "--hit-mem", "16",
            "--hit-values", "1000-200000", "--bench", BENCH, "--out", out, "--json-out", js]
    if os.access(BIN, os.X_OK) and not IS_MEMCACHED_BIN:
        argv += ["--stashd", BIN, "--servers", "stashd,memcached"]
    else:
        argv += ["--servers", "memcached"]
    p = run_script(*argv)
    assert p.returncode == 0, p.stderr.decode()[-3000:]
    md = out.read_text()
    # 2 x 16 MiB / (32-B key + 100,500-B mean value)
    assert "333 keys, values of 1000-200000 B, uniform, -m 16 MiB" in md, md
    assert "| RSS MiB |" in md, md
    runs = json.loads(js.read_text())
    assert runs and all(r["hit"] > 0 and r["rss"] > 1024 and r["rc"] == 0 for r in runs), runs
    bad = run_script("/usr/bin/python3", COMPARE, "--smoke", "--cells", "f",
                     "--hit-values", "500-10", "--bench", BENCH)
    assert bad.returncode == 2 and b"--hit-values" in bad.stderr, bad


@pytest.mark.time_limit(120)
def test_compare_churn_cell(tmp_path):
    """Cell m: the churn at each --churn-mem, one table each, every
    server's peak RSS (VmHWM) above its idle RSS and at least its RSS at
    the end, with no wrong answer."""
    out = tmp_path / "m.md"
    js = tmp_path / "runs.json"
    argv = ["/usr/bin/python3", COMPARE, "--smoke", "--cells", "m", "--churn-mem", "8,16",
            "--bench", BENCH, "--out", out, "--json-out", js]
    if os.access(BIN, os.X_OK) and not IS_MEMCACHED_BIN:
        argv += ["--stashd", BIN, "--servers", "stashd,memcached"]
    else:
        argv += ["--servers", "memcached"]
    p = run_script(*argv)
    assert p.returncode == 0, p.stderr.decode()[-3000:]
    md = out.read_text()
    for m in (8, 16):
        assert f"-m {m} MiB for every server" in md and f"{40 * m:,} keys" in md, md
    assert "| peak RSS MiB |" in md, md
    runs = json.loads(js.read_text())
    assert {r["mem"] for r in runs} == {8, 16}, runs
    for r in runs:
        assert r["rc"] == 0 and r["errors"] == 0 and r["hit"] > 0, r
        assert r["peak"] >= r["end"] and r["peak"] > r["idle"], r
    bad = run_script("/usr/bin/python3", COMPARE, "--smoke", "--cells", "m",
                     "--churn-mem", "8,x", "--bench", BENCH)
    assert bad.returncode == 2 and b"--churn-mem" in bad.stderr, bad


def test_compare_chart_option_without_out(tmp_path):
    """--chart FILE without --out: the chart alone."""
    chart = tmp_path / "c.svg"
    p = run_script("/usr/bin/python3", COMPARE, "--smoke", "--cells", "b", "--servers", "null",
                   "--bench", BENCH, "--null", NULL_SERVER, "--chart", chart)
    assert p.returncode == 0, p.stderr.decode()[-3000:]
    _, tips = svg_bars(chart)
    assert sorted(t.rsplit(": ", 1)[0] for t in tips) == ["null, (b) p16 mc-text"] * 2, tips
    assert sorted(os.listdir(tmp_path)) == ["c.svg"]


def test_chart_marks_errors_skips_and_an_empty_run():
    """chart.render(): a server whose runs failed is marked ERR, one that
    was skipped says so instead of a bar, and a run with no table to draw
    still gives a valid SVG that says why."""
    import sys
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import chart
    finally:
        sys.path.pop(0)
    groups = [dict(cell="g", label=("(g) TLS p1", "resp"), bars=[
        dict(server="stashd", ops=None, cpu=None, errors=False, skipped="it refused TLS (-Z)"),
        dict(server="redis", ops=1000.0, cpu=9.5, errors=True, skipped=None),
        dict(server="x<&>", ops=2e6, cpu=0.3, errors=False, skipped=None)])]
    root = ET.fromstring(chart.render(groups, "t & <t>", ["facts"], ["a note"]))
    text = " ".join(root.itertext())
    assert "stashd skipped" in text and "ERR 1.0k" in text and "ERR 9.50" in text, text
    assert "x<&>" in text and "t & <t>" in text, text
    assert "(log scale)" in text, text  # 2e6 / 1000: more than 50x apart
    empty = ET.fromstring(chart.render([], "t", ["facts"]))
    assert "no table with ops/s to draw" in " ".join(empty.itertext())


@pytest.mark.time_limit(120)
def interleaved_smoke(tmp_path, *extra):
    """compare --smoke of cell b (text) in 3 interleaved slices, stashd
    (memcached when BIN is memcached) against the null server: (the JSON's
    path, the markdown's, the finished process)."""
    js = tmp_path / "runs.json"
    out = tmp_path / "c.md"
    mine = "stashd" if os.access(BIN, os.X_OK) and not IS_MEMCACHED_BIN else "memcached"
    argv = ["/usr/bin/python3", COMPARE, "--smoke", "--cells", "b", "--protocol", "mc-text",
            "--interleave", "3", *extra, "--bench", BENCH, "--null", NULL_SERVER,
            "--servers", f"{mine},null", "--out", out, "--json-out", js]
    if mine == "stashd":
        argv += ["--stashd", BIN]
    return js, out, run_script(*argv)


def test_compare_interleave_starts_servers_once_and_takes_turns(tmp_path):
    """--interleave N: the servers of a load table are started once per
    repeat and measured in N slices taken in turn, the order reversed every
    other round; every slice is a run of its own in the JSON (its round,
    the server's pid, its figures), so the paired ratios pair slices."""
    js, out, p = interleaved_smoke(tmp_path, "--repeats", "2")
    assert p.returncode == 0, p.stderr.decode()[-3000:]
    runs = json.loads(js.read_text())
    names = sorted({r["server"] for r in runs})
    assert len(names) == 2, runs
    assert len(runs) == 2 * 3 * 2, runs  # repeats x rounds x servers
    for rep in (0, 1):
        mine = [r for r in runs if r["repeat"] == rep]
        # in turn: each round has one slice of each server, the order
        # reversed from one round to the next
        order = [r["server"] for r in mine]
        assert order[0:2] == order[2:4][::-1] and order[0:2] == order[4:6], order
        assert [r["round"] for r in mine] == [0, 0, 1, 1, 2, 2], mine
        for name in names:
            pids = {r["pid"] for r in mine if r["server"] == name}
            assert len(pids) == 1 and None not in pids, mine  # started once
        assert all(r["rc"] == 0 and r["ops"] > 0 and r["cpu"] > 0 for r in mine), mine
    # a fresh start for each repeat
    assert {r["pid"] for r in runs if r["repeat"] == 0}.isdisjoint(
        {r["pid"] for r in runs if r["repeat"] == 1}), runs
    text = out.read_text()
    assert "interleaved" in text and "3 slices" in text, text
    # 6 slices a server: the spread of the paired ratios is over slices
    assert "stashd/peer CPU/op over the interleaved slices, quartiles" in text or \
        "memcached" in names, text


def test_compare_concurrent_measures_each_slice_at_once(tmp_path):
    """--concurrent: the servers' slices of a round run at the same time
    (each its own load generator), so their measured windows overlap; the
    rounds, pids and paired ratios are as for --interleave alone."""
    js, out, p = interleaved_smoke(tmp_path, "--concurrent")
    assert p.returncode == 0, p.stderr.decode()[-3000:]
    runs = json.loads(js.read_text())
    assert len(runs) == 3 * 2, runs  # rounds x servers
    for rnd in range(3):
        a, b = [r for r in runs if r["round"] == rnd]
        assert a["server"] != b["server"], runs
        assert a["rc"] == 0 and b["rc"] == 0 and a["ops"] > 0 and b["ops"] > 0, runs
        # at the same time: each window starts before the other ends
        assert a["t0"] < b["t1"] and b["t0"] < a["t1"], (a, b)
        for r in (a, b):
            assert r["t1"] - r["t0"] >= 0.1, r  # a slice of 0.15 s each
    text = out.read_text()
    assert "measured concurrently" in text, text


def test_compare_concurrent_needs_interleave():
    p = run_script("/usr/bin/python3", COMPARE, "--cells", "b", "--concurrent")
    assert p.returncode == 2 and b"--interleave" in p.stderr, p


def test_compare_interleave_refuses_slices_under_100_ms():
    p = run_script("/usr/bin/python3", COMPARE, "--cells", "b", "--interleave", "100",
                   "--time", "5")
    assert p.returncode == 2 and b"--interleave" in p.stderr, p


def test_compare_table_prints_the_paired_ratios_spread():
    """A load table with 4 or more repeats says how far the per-repeat
    stashd/peer CPU ratios spread (quartiles, extremes) under it; with
    fewer, it does not."""
    loader = importlib.machinery.SourceFileLoader("compare_mod", str(COMPARE))
    spec = importlib.util.spec_from_loader("compare_mod", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)

    def runs(cpus):
        return [dict(ops=1000, cpu=c, cpu_user=c / 3, cpu_sys=2 * c / 3, rc=0, p50=1,
                     p99=2, p999=3) for c in cpus]

    st = runs([1.2, 1.3, 1.4, 1.5, 1.6])
    null = runs([1.0] * 5)
    md = mod.table("b", dict(mod.CELLS["b"]), "mc-text",
                   [("stashd", "mc-text", st), ("null", "mc-text", null)])
    line = [ln for ln in md.splitlines() if ln.startswith("stashd/peer CPU/op over the repeats")]
    assert line == ["stashd/peer CPU/op over the repeats, quartiles (extremes): "
                    "null 1.25-1.55 (1.20-1.60)"], md
    md3 = mod.table("b", dict(mod.CELLS["b"]), "mc-text",
                    [("stashd", "mc-text", st[:3]), ("null", "mc-text", null[:3])])
    assert "over the repeats" not in md3, md3


POGOCACHE = pathlib.Path.home() / ".cache" / "stashd-peers" / "pogocache" / "pogocache"


@pytest.mark.time_limit(120)
def test_compare_runs_pogocache_with_the_cells_memory_limit(tmp_path):
    """bench/compare runs Pogocache as a peer of its own (--pogocache), in
    the protocols it speaks, and gives it the cell's -m where a cell bounds
    memory (hit ratio, churn), as every other server gets it: its default
    limit is 80% of the machine. A wrapper records each start's argv."""
    if not os.access(POGOCACHE, os.X_OK):
        pytest.skip("pogocache not built (bash ../shared/peers/build.sh)")
    log = tmp_path / "argv.log"
    wrap = tmp_path / "pogocache"
    wrap.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {POGOCACHE} "$@"\n')
    wrap.chmod(0o755)
    js = tmp_path / "runs.json"
    p = run_script("/usr/bin/python3", COMPARE, "--smoke", "--cells", "b,f,m",
                   "--servers", "pogocache", "--pogocache", wrap, "--hit-mem", "16",
                   "--churn-mem", "24", "--protocol", "mc-text,mc-binary,resp",
                   "--bench", BENCH, "--null", NULL_SERVER, "--json-out", js)
    assert p.returncode == 0, p.stderr.decode()[-3000:]
    runs = json.loads(js.read_text())
    ran = sorted((r["cell"], r["protocol"]) for r in runs if r["server"] == "pogocache")
    # binary is not Pogocache's: skipped, not failed
    assert ran == [("b", "mc-text"), ("b", "resp"), ("f", "mc-text"), ("f", "resp"),
                   ("m", "mc-text"), ("m", "resp")], runs
    assert all(r["rc"] == 0 and not r.get("errors") for r in runs), runs
    starts = log.read_text().splitlines()
    assert len(starts) == 6, starts
    bounded = [a for a in starts if "--maxmemory" in a]
    assert sorted(a.split("--maxmemory ")[1].split()[0] for a in bounded) == \
        ["16mb", "16mb", "24mb", "24mb"], starts


# --------------------------------------------------------------------------
# 7. bench/instructions: user-space instructions per request, counted by
#    callgrind over a known number of requests.

INSTRUCTIONS = REPO / "bench" / "instructions"


def sanitized_build():
    cache = BUILD / "CMakeCache.txt"
    text = cache.read_text() if cache.is_file() else ""
    return "STASHD_SANITIZE:BOOL=ON" in text or "STASHD_TSAN:BOOL=ON" in text


def instructions_usable():
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        pytest.skip("valgrind is not installed (.ci/deps installs it)")
    if not os.access(BIN, os.X_OK) or IS_MEMCACHED_BIN:
        pytest.skip("needs the stashd build")
    if sanitized_build():
        pytest.skip("a sanitizer's runtime does not run under valgrind")


@pytest.mark.time_limit(240)
def test_instructions_counts_stashd_and_the_floor(tmp_path):
    """Each server's count covers exactly the requests sent after the
    preload (callgrind's counters zeroed between), every reply was right
    (stashd-bench checks each one, and each get hit), and stashd does more
    than the floor, which only frames requests."""
    instructions_usable()
    js, md = tmp_path / "ins.json", tmp_path / "ins.md"
    p = run_script("/usr/bin/python3", INSTRUCTIONS, "--servers", "stashd,null",
                   "--protocol", "mc-text,resp", "--requests", "300", "--conns", "4",
                   "--stashd", BIN, "--bench", BENCH, "--null", NULL_SERVER,
                   "--json-out", js, "--out", md, timeout=230)
    assert p.returncode == 0, p.stderr.decode()[-3000:]
    res = json.loads(js.read_text())["results"]
    for proto in ("mc-text", "resp"):
        st, null = res[proto]["stashd"], res[proto]["null"]
        assert st["requests"] == null["requests"] == 4 * 300, res
        # The preload (100k sets) is not in the count: it alone would be
        # hundreds of instructions for each of these 1,200 requests.
        assert null["per_request"] < st["per_request"] < 4000, res
        assert st["instructions"] == round(st["per_request"] * st["requests"]), res
    text = md.read_text()
    assert "| mc-text | " in text and "x null)" in text, text


@pytest.mark.time_limit(120)
def test_instructions_reports_a_failed_load(tmp_path):
    """A load generator that fails makes the run fail (exit 1, the cell
    marked failed), not a count over requests that were never answered;
    unknown names are usage errors (exit 2)."""
    instructions_usable()
    bad = tmp_path / "stashd-bench"
    # preloads as the real one would, then fails the measured load
    bad.write_text(f'#!/bin/sh\ncase "$*" in *--preload*) exec {BENCH} "$@";; esac\nexit 1\n')
    bad.chmod(0o755)
    p = run_script("/usr/bin/python3", INSTRUCTIONS, "--servers", "stashd",
                   "--protocol", "mc-text", "--requests", "10", "--stashd", BIN,
                   "--bench", bad, "--out", tmp_path / "ins.md", timeout=110)
    assert p.returncode == 1, p
    assert b"!! stashd mc-text: exit 1" in p.stderr, p.stderr
    assert "| mc-text | failed |" in (tmp_path / "ins.md").read_text()
    p = run_script("/usr/bin/python3", INSTRUCTIONS, "--servers", "stashd,mystery")
    assert p.returncode == 2 and b"mystery" in p.stderr, p
