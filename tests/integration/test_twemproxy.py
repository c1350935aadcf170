"""Scale-out behind twemproxy (Debian's nutcracker): three servers in a
ketama pool with `hash: murmur`; keys spread over all three, and when one
server dies the pool ejects it and keeps serving every key.

Runs against memcached too (the same test checks the harness), and over
RESP once the server under test speaks it (`redis: true` pools).
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
from pymemcache.client.base import Client

from conftest import HOST, IS_MEMCACHED, free_port

NUTCRACKER = shutil.which("nutcracker") or "/usr/sbin/nutcracker"

pytestmark = pytest.mark.skipif(not os.path.exists(NUTCRACKER), reason="nutcracker not installed")


def start_proxy(backends, redis=False):
    port, stats_port = free_port(), free_port()
    d = tempfile.mkdtemp(prefix="stashd-twem-")
    conf = os.path.join(d, "nutcracker.yml")
    with open(conf, "w") as f:
        f.write(f"""pool:
  listen: {HOST}:{port}
  hash: murmur
  distribution: ketama
  redis: {"true" if redis else "false"}
  auto_eject_hosts: true
  server_retry_timeout: 30000
  server_failure_limit: 1
  timeout: 1000
  servers:
""")
        for i, b in enumerate(backends):
            f.write(f"    - {HOST}:{b}:1 s{i}\n")
    proc = subprocess.Popen([NUTCRACKER, "-c", conf, "-s", str(stats_port), "-a", HOST,
                             "-o", os.path.join(d, "log"), "-p", os.path.join(d, "pid")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return proc, port
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError("nutcracker did not start")
            time.sleep(0.05)


@pytest.fixture
def proxy_factory():
    procs = []

    def start(backends, redis=False):
        proc, port = start_proxy(backends, redis)
        procs.append(proc)
        return port

    yield start
    for p in procs:
        p.terminate()
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def stop(srv):
    """Take a backend away (SIGTERM without a drain, so it is gone now)."""
    srv.proc.send_signal(signal.SIGTERM)
    srv.wait_exit(timeout=10)


def items(srv):
    return int(srv.stats()["curr_items"])


@pytest.mark.time_limit(60)
def test_memcached_protocol_pool_spreads_and_ejects(server, proxy_factory):
    servers = [server() for _ in range(3)]
    port = proxy_factory([s.port for s in servers])
    c = Client((HOST, port), connect_timeout=2, timeout=2, default_noreply=False)
    n = 300
    for i in range(n):
        assert c.set(f"key:{i}", f"value:{i}".encode()) is True
    counts = [items(s) for s in servers]
    assert sum(counts) == n
    assert all(k > n // 10 for k in counts), f"keys not spread over all three: {counts}"
    for i in range(n):
        assert c.get(f"key:{i}") == f"value:{i}".encode()

    # Kill one: after its first failure the pool ejects it and rehashes
    # its keys onto the other two (a miss for those, then a set works).
    dead = servers[1]
    stop(dead)
    failures = 0
    for i in range(n):
        try:
            c.set(f"key:{i}", f"again:{i}".encode())
        except Exception:
            failures += 1
            c.close()
    assert failures <= 3, f"{failures} failures: the dead server was not ejected"
    for i in range(n):
        assert c.get(f"key:{i}") == f"again:{i}".encode()
    assert items(servers[0]) + items(servers[2]) >= n


@pytest.mark.skipif(IS_MEMCACHED, reason="memcached does not speak RESP")
@pytest.mark.time_limit(60)
def test_resp_pool_spreads_and_ejects(server, proxy_factory):
    redis = pytest.importorskip("redis")
    servers = [server() for _ in range(3)]
    port = proxy_factory([s.port for s in servers], redis=True)
    r = redis.Redis(host=HOST, port=port, socket_timeout=2)
    n = 300
    for i in range(n):
        assert r.set(f"key:{i}", f"value:{i}") is True
    counts = [items(s) for s in servers]
    assert sum(counts) == n and all(k > n // 10 for k in counts), counts
    assert [r.get(f"key:{i}") for i in range(n)] == [f"value:{i}".encode() for i in range(n)]
    dead = servers[0]
    stop(dead)
    failures = 0
    for i in range(n):
        try:
            r.set(f"key:{i}", f"again:{i}")
        except redis.RedisError:
            failures += 1
    assert failures <= 3, failures
    assert [r.get(f"key:{i}") for i in range(n)] == [f"again:{i}".encode() for i in range(n)]
