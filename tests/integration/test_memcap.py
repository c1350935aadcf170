"""Memory cap a pod can trust: with -m N, resident memory stays within N plus
a bounded overhead under churn (value sizes from 10 B to 500 kB, many
connections, large multi-gets), as README "Memory" documents:

    RSS <= N + N / 8 + 48 MiB + connection-buffer budget (64 MiB)

The budget is only reached with clients that are behind on reading (see
test_limits.py); this churn reads everything, so it is held to
N + N / 8 + 48 MiB.  --memory-limit auto derives N from the cgroup limit
by the same formula.  The table in README was made with

    /usr/bin/python3 tests/integration/test_memcap.py BIN [seconds]

which runs the same churn for several -m and -t and prints peak RSS, with
memcached's peak under the same churn beside it (when /usr/bin/memcached is
installed). The pytest form prints memcached's peak beside stashd's too.
"""

import math
import os
import random
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conftest  # noqa: E402 - also run as a script, see main()

MB = 1 << 20
MIN_SIZE, MAX_SIZE = 10, 500 * 1000
FIXED_OVERHEAD = 48 * MB  # documented: process, allocator, freed-not-yet-returned


def sanitizer(pid):
    """The sanitizer runtime a server process runs under, or None: their
    allocators and shadow memory make RSS bounds meaningless."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            maps = f.read()
    except OSError:
        return None
    for name in ("libasan", "libtsan", "libubsan"):
        if name in maps:
            return name
    return None


def allowed_rss(m_bytes):
    """What README promises for -m N without abusive clients."""
    return m_bytes + FIXED_OVERHEAD + m_bytes // 8


class RssSampler(threading.Thread):
    """Peak VmRSS of a pid, sampled every 20 ms until stopped."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kb = 0
        self.halt = threading.Event()

    def rss_kb(self):
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def run(self):
        while not self.halt.is_set():
            self.peak_kb = max(self.peak_kb, self.rss_kb())
            self.halt.wait(0.02)
        self.peak_kb = max(self.peak_kb, self.rss_kb())

    def stop(self):
        self.halt.set()
        self.join(5)
        return self.peak_kb


def log_uniform(rng, lo, hi):
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


FILL = bytes(range(256)) * (MAX_SIZE // 256 + 2)


def churn_client(conn, seed, stop_at, max_bytes, nkeys, counts):
    """Sets of random sizes over nkeys keys, with a multi-get of 50 keys
    every few sets; every value read is checked for length and content."""
    rng = random.Random(seed)
    written = 0
    while time.monotonic() < stop_at and written < max_bytes:
        batch = []
        for _ in range(4):
            k = b"mc:%d" % rng.randrange(nkeys)
            n = log_uniform(rng, MIN_SIZE, MAX_SIZE)
            off = n % 251
            batch.append(b"set %s %d 0 %d\r\n%s\r\n" % (k, off, n, FILL[off:off + n]))
            written += n
        conn.send(b"".join(batch))
        for _ in batch:
            line = conn.read_until(timeout=30)
            assert line in (b"STORED\r\n",
                            b"SERVER_ERROR out of memory storing object\r\n"), line
            counts["sets"] += 1
        keys = [b"mc:%d" % rng.randrange(nkeys) for _ in range(50)]
        conn.send(b"get " + b" ".join(keys) + b"\r\n")
        while True:
            line = conn.read_until(timeout=30)
            if line == b"END\r\n":
                break
            _, _, flags, n = line.split()
            off, n = int(flags), int(n)
            data = conn.read_exact(n + 2, timeout=30)
            assert data[:-2] == FILL[off:off + n], "corrupt value"
            counts["hits"] += 1
    return written


def run_churn(s, m_mb, seconds, nconns=24, nthreads=4):
    """Churn until `seconds` pass or 3x -m is written; peak RSS in bytes."""
    conns = [s.connect(timeout=30) for _ in range(nconns)]
    per_client = 3 * m_mb * MB // nconns + 1
    stop_at = time.monotonic() + seconds
    counts = {"sets": 0, "hits": 0}
    sampler = RssSampler(s.pid)
    sampler.start()
    errors = []

    def worker(idx):
        try:
            for j in range(idx, nconns, nthreads):
                churn_client(conns[j], 1000 * idx + j, stop_at, per_client,
                             max(400, m_mb * 40), counts)
        except BaseException as e:  # noqa: BLE001 - re-raised below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    # a moment for freed memory to settle, still sampling
    time.sleep(0.3)
    peak = sampler.stop() * 1024
    if errors:
        raise errors[0]
    st = conns[0].stats()
    for c in conns:
        c.close()
    return peak, counts, st


def memcached_peak(m_mb, threads, seconds):
    """memcached's peak RSS (bytes) and hits under the same churn, or
    (None, None) when it is not installed."""
    if not os.access(conftest.MEMCACHED, os.X_OK):
        return None, None
    mc = conftest.Server(conftest.MEMCACHED, ["-m", str(m_mb), "-t", str(threads)],
                         "memcached beside").start()
    try:
        peak, counts, _ = run_churn(mc, m_mb, seconds)
    finally:
        mc.close_clients()
        mc.proc.kill()
        mc.proc.wait()
    return peak, counts["hits"]


@pytest.mark.time_limit(90)
@pytest.mark.parametrize("m_mb,threads", [(16, 2), (64, 4)])
def test_rss_within_cap_under_churn(server, m_mb, threads):
    s = server(["-m", str(m_mb), "-t", str(threads)])
    if sanitizer(s.pid):
        pytest.skip(f"RSS bounds do not hold under {sanitizer(s.pid)}")
    peak, counts, st = run_churn(s, m_mb, seconds=8)
    assert counts["sets"] > 100 and counts["hits"] > 10, counts
    assert int(st["bytes"]) <= m_mb * MB
    cap = allowed_rss(m_mb * MB)
    mc_peak, mc_hits = (None, None) if conftest.IS_MEMCACHED else memcached_peak(m_mb, threads, 8)
    beside = (f"; memcached {mc_peak / MB:.1f} MiB, {mc_hits} hits" if mc_peak is not None
              else "")
    print(f"-m {m_mb} -t {threads}: peak RSS {peak / MB:.1f} MiB, cap {cap / MB:.1f} MiB, "
          f"{counts['sets']} sets, {counts['hits']} hits{beside}")
    assert peak <= cap, f"peak RSS {peak / MB:.1f} MiB over {cap / MB:.1f} MiB (-m {m_mb})"


@pytest.mark.stashd_only
@pytest.mark.time_limit(30)
def test_memory_auto_from_cgroup(server, tmp_path):
    """--memory-limit auto takes the cgroup limit less the overhead;
    $STASHD_CGROUP_ROOT points at a fake hierarchy."""
    BIN, HOST = conftest.BIN, conftest.HOST
    (tmp_path / "memory.max").write_text("%d\n" % (512 * MB))
    proc_file = tmp_path / "self_cgroup"
    proc_file.write_text("0::/\n")
    env = dict(os.environ, STASHD_CGROUP_ROOT=str(tmp_path), STASHD_CGROUP_PROC=str(proc_file))
    port = conftest.free_port()
    p = subprocess.Popen([BIN, "-u", "root", "-U", "0", "-l", HOST, "-p", str(port),
                          "-t", "1", "--memory-limit", "auto"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not conftest._pid_listens(p.pid, port):
            assert p.poll() is None, p.stdout.read()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        st = conftest.Conn(port).stats()
        # (512 MiB - 48 MiB - 64 MiB of connection buffers) * 8/9 = 355.6
        assert st["limit_maxbytes"] == str(355 * MB)
    finally:
        p.terminate()
        p.wait(5)
        p.stdout.close()
    # no limit: a clear refusal
    (tmp_path / "memory.max").write_text("max\n")
    r = subprocess.run([BIN, "-u", "root", "-U", "0", "-l", HOST, "-p", str(conftest.free_port()),
                        "-m", "auto"], env=env, capture_output=True, timeout=10)
    assert r.returncode == 64
    assert b"-m/--memory-limit auto: no cgroup memory limit is set" in r.stderr, r.stderr


def vm_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


@pytest.mark.stashd_only
@pytest.mark.time_limit(30)
def test_stats_and_info_report_memory_parts(server):
    """stats and INFO give the total memory and its parts: items, hash
    tables, connection buffers, and the resident rest."""
    import redis
    s = server(["-m", "64", "-t", "2"])
    c = s.connect()
    before = c.stats()
    value = b"v" * (100 * 1024)
    for i in range(200):
        c.store(b"mp%d" % i, value)
    # a client that asks for 100 MiB of values and never reads them holds
    # reply buffers (up to the per-connection limit)
    hog = s.connect()
    hog.send(b"get " + b" ".join(b"mp%d" % i for i in range(200)) + b"\r\n")
    hog.send(b"get " + b" ".join(b"mp%d" % i for i in range(200)) + b"\r\n")
    deadline = time.monotonic() + 10
    while True:
        st = c.stats()
        if int(st["conn_buffer_bytes"]) > MB // 4 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    parts = int(st["total_malloced"]) + int(st["hash_bytes"]) + int(st["conn_buffer_bytes"])
    assert int(st["conn_buffer_bytes"]) > MB // 4, st["conn_buffer_bytes"]
    assert int(st["total_malloced"]) >= 200 * len(value) > int(before["total_malloced"])
    assert int(st["memory_total"]) == parts
    resident = int(st["memory_resident"])
    assert abs(resident - vm_rss(s.pid)) < 8 * MB
    assert int(st["memory_other"]) == max(0, resident - parts)

    r = redis.Redis(host=conftest.HOST, port=s.port, socket_timeout=5)
    info = r.info("memory")
    items, hashes = info["stashd_memory_items"], info["stashd_memory_hash_tables"]
    conns = info["stashd_memory_conn_buffers"]
    assert info["used_memory"] == items + hashes + conns
    assert info["used_memory_dataset"] == items >= 200 * len(value)
    assert info["used_memory_overhead"] == hashes + conns
    assert info["mem_clients_normal"] == conns > MB // 4
    assert abs(info["used_memory_rss"] - vm_rss(s.pid)) < 8 * MB
    assert info["stashd_memory_other"] == max(0, info["used_memory_rss"] - info["used_memory"])
    assert info["maxmemory"] == 64 * MB
    r.close()
    hog.close()
    c.close()


def main():
    """Print the RSS-versus-cap table (README "Memory")."""
    binary = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 20
    print("| -m | -t | store used | peak RSS | peak RSS - m | cap (m + m/8 + 48) | sets "
          "| hits | memcached peak RSS | memcached hits |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for m_mb, threads in ((16, 2), (64, 2), (64, 4), (256, 4), (1024, 4)):
        s = conftest.Server(binary, ["-m", str(m_mb), "-t", str(threads)], "table").start()
        try:
            peak, counts, st = run_churn(s, m_mb, seconds)
        finally:
            s.close_clients()
            s.proc.kill()
            s.proc.wait()
        mc_peak, mc_hits = memcached_peak(m_mb, threads, seconds)
        cap = allowed_rss(m_mb * MB)
        used = int(st.get("total_malloced", st.get("bytes", 0)))
        mc = f"{mc_peak / MB:.1f} MiB | {mc_hits}" if mc_peak is not None else "— | —"
        print(f"| {m_mb} | {threads} | {used / MB:.1f} MiB | {peak / MB:.1f} MiB "
              f"| {(peak - m_mb * MB) / MB:.1f} MiB | {cap / MB:.0f} MiB | {counts['sets']} "
              f"| {counts['hits']} | {mc} |", flush=True)


if __name__ == "__main__":
    main()
