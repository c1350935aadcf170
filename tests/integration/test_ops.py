"""Operations features: the admin HTTP listener (/metrics, /healthz,
/readyz), draining on SIGTERM, and the --healthcheck client mode.

All stashd-only: memcached has no admin port, exits at once on SIGTERM and
has no health-check mode.
"""

import http.client
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import BIN, HOST, Conn, free_port

pytestmark = pytest.mark.stashd_only


def http_get(port, path, timeout=5):
    c = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.getheader("Content-Type"), r.read().decode()
    finally:
        c.close()


def parse_prom(text):
    """{(name, labels): value} from Prometheus text; checks HELP/TYPE."""
    out, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        name, _, labels = series.partition("{")
        base = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[: -len(suffix)] in typed:
                base = name[: -len(suffix)]
        assert base in typed, f"{name} has no TYPE line"
        out[(name, labels.rstrip("}"))] = float(value)
    return out


def start_admin(server, extra=()):
    """A server with the admin port on (and extra args); waits for it."""
    port = free_port()
    srv = server(args=["--admin-port", str(port), "-t", "2", *extra])
    srv.admin_port = port
    deadline = time.monotonic() + 5
    while True:
        try:
            http_get(port, "/healthz")
            return srv
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@pytest.fixture
def admin(server):
    return start_admin(server)


def test_health_and_ready(admin):
    assert http_get(admin.admin_port, "/healthz")[0] == 200
    status, _, body = http_get(admin.admin_port, "/readyz")
    assert (status, body) == (200, "ready\n")
    assert http_get(admin.admin_port, "/nope")[0] == 404


def test_metrics_follow_commands(admin):
    c = admin.connect()
    c.expect(b"set k 0 0 1\r\nx\r\n", b"STORED\r\n")
    c.expect(b"get k\r\n", b"VALUE k 0 1\r\nx\r\nEND\r\n")
    c.expect(b"get nope\r\n", b"END\r\n")
    c.expect(b"delete nope\r\n", b"NOT_FOUND\r\n")
    status, ctype, body = http_get(admin.admin_port, "/metrics")
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    m = parse_prom(body)
    cmd = "memcached_commands_total"
    assert m[(cmd, 'command="get",status="hit"')] == 1
    assert m[(cmd, 'command="get",status="miss"')] == 1
    assert m[(cmd, 'command="set",status="hit"')] == 1
    assert m[(cmd, 'command="delete",status="miss"')] == 1
    assert m[("memcached_current_items", "")] == 1
    assert m[("memcached_current_connections", "")] == 1
    assert m[("memcached_limit_bytes", "")] == 64 * 1024 * 1024
    assert m[("memcached_up", "")] == 1
    assert m[("stashd_ready", "")] == 1
    assert m[("stashd_hash_table_bytes", "")] > 0
    assert m[("stashd_resident_bytes", "")] > 0
    # A connection holding a read buffer shows in the buffer gauge (an
    # append's value is buffered whole) ...
    c.send(b"append k 0 0 100000\r\n" + b"x" * 50000)
    time.sleep(0.2)
    m = parse_prom(http_get(admin.admin_port, "/metrics")[2])
    assert m[("stashd_conn_buffer_bytes", "")] >= 100000
    # ... and a set's large value, written into its item as it arrives,
    # in the in-place gauge, until it is stored.
    c2 = admin.connect()
    c2.send(b"set big 0 0 100000\r\n" + b"x" * 50000)
    time.sleep(0.2)
    m = parse_prom(http_get(admin.admin_port, "/metrics")[2])
    assert m[("stashd_in_place_pending_bytes", "")] == 100000
    c2.expect(b"x" * 50000 + b"\r\n", b"STORED\r\n")
    m = parse_prom(http_get(admin.admin_port, "/metrics")[2])
    assert m[("stashd_in_place_pending_bytes", "")] == 0
    assert m[("stashd_read_in_place_bytes_total", "")] >= 100000 - 16384


def test_bad_http_is_answered(admin):
    s = socket.create_connection((HOST, admin.admin_port), timeout=5)
    s.sendall(b"POST /metrics HTTP/1.1\r\n\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 405")
    s.close()
    s = socket.create_connection((HOST, admin.admin_port), timeout=5)
    s.sendall(b"GET /" + b"a" * 9000)
    try:
        # 431, or a reset: the server closes with the excess unread.
        reply = s.recv(100)
        assert reply == b"" or reply.startswith(b"HTTP/1.1 431")
    except ConnectionResetError:
        pass
    s.close()
    # The listener is still fine afterwards.
    assert http_get(admin.admin_port, "/healthz")[0] == 200


def test_drain_finishes_requests_in_flight(admin):
    """SIGTERM: readiness flips, no new connections, a request half-sent
    before the signal still completes, idle clients are closed, exit 0."""
    busy = admin.connect()
    idle = admin.connect()
    idle.send(b"version\r\n")
    assert idle.read_until().startswith(b"VERSION ")
    busy.send(b"set k 0 0 10\r\n01234")  # value half sent
    big = admin.connect()  # ... and a large one, stored in place as it comes
    big.send(b"set big 0 0 100000\r\n" + b"y" * 50000)
    time.sleep(0.1)
    admin.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    assert admin.alive(), "exited with a request in flight"
    assert http_get(admin.admin_port, "/readyz")[0] == 503
    with pytest.raises(OSError):
        socket.create_connection((HOST, admin.port), timeout=1).recv(1)
    assert idle.is_closed(), "idle client not closed on drain"
    busy.send(b"56789\r\nget k\r\n")
    assert busy.read_until(b"STORED\r\n") == b"STORED\r\n"
    assert busy.read_until(b"END\r\n") == b"VALUE k 0 10\r\n0123456789\r\nEND\r\n"
    big.send(b"y" * 50000 + b"\r\n")
    assert big.read_until(b"STORED\r\n") == b"STORED\r\n"
    assert admin.wait_exit(timeout=5) == 0


def test_drain_timeout_and_second_signal(server):
    srv = server(args=["--drain-timeout", "1"])
    c = srv.connect()
    c.send(b"set k 0 0 10\r\n01")  # never finished
    time.sleep(0.1)
    t = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.wait_exit(timeout=5) == 0
    assert 0.8 < time.monotonic() - t < 3
    srv2 = server(args=["--drain-timeout", "30"])
    c2 = srv2.connect()
    c2.send(b"set k 0 0 10\r\n01")
    time.sleep(0.1)
    srv2.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    t = time.monotonic()
    srv2.proc.send_signal(signal.SIGTERM)
    assert srv2.wait_exit(timeout=5) == 0
    assert time.monotonic() - t < 2



def test_signals_are_read_not_caught(server):
    """SIGTERM, SIGINT, SIGHUP and SIGUSR1 are blocked in every thread and
    read from a signalfd by the main loop: no handler runs anywhere, so no
    thread can take one and lose it (a -t 4 server under ThreadSanitizer
    now and then ignored its SIGTERM with libuv's signal handles). Then a
    SIGHUP and a SIGTERM still work."""
    srv = server(args=["-t", "4"])
    want = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1}
    pid = srv.proc.pid
    threads = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        blocked = int(status["SigBlk"].strip(), 16)
        caught = int(status["SigCgt"].strip(), 16)
        name = status["Name"].strip()
        threads += 1
        assert {s for s in want if blocked & (1 << (s - 1))} == want, f"thread {tid} ({name})"
        assert {s for s in want if caught & (1 << (s - 1))} == set(), f"thread {tid} ({name})"
    assert threads >= 6  # main, 4 workers, maintenance
    srv.proc.send_signal(signal.SIGHUP)  # handled: the server goes on
    c = srv.connect()
    c.send(b"version\r\n")
    assert c.read_until(b"\r\n").startswith(b"VERSION ")
    c.close()
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.wait_exit(timeout=5) == 0


def test_healthcheck_mode(mc):
    ok = subprocess.run([BIN, "--healthcheck", f"{HOST}:{mc.port}"], timeout=10)
    assert ok.returncode == 0
    bad = subprocess.run([BIN, "--healthcheck", f"{HOST}:{free_port()}"], timeout=10,
                         stderr=subprocess.PIPE)
    assert bad.returncode == 1 and b"unhealthy" in bad.stderr


def test_healthcheck_unix(server):
    srv = server(unix=True)
    assert subprocess.run([BIN, "--healthcheck", srv.unix_path], timeout=10).returncode == 0


def test_latency_histograms(admin):
    c = admin.connect()
    for i in range(20):
        c.expect(b"set k%d 0 0 1\r\nx\r\n" % i, b"STORED\r\n")
    c.send(b"".join(b"get k%d\r\n" % i for i in range(30)))
    got = b""
    while got.count(b"END\r\n") < 30:
        got += c.read_available(0.2)
    c.expect(b"delete k1\r\n", b"DELETED\r\n")
    c.send(b"set q 0 0 1 noreply\r\nx\r\n")
    c.expect(b"incr nope 1\r\n", b"NOT_FOUND\r\n")
    m = parse_prom(http_get(admin.admin_port, "/metrics")[2])
    h = "stashd_request_duration_seconds"
    assert m[(h + "_count", 'command="set"')] == 21
    assert m[(h + "_count", 'command="get"')] == 30
    assert m[(h + "_count", 'command="delete"')] == 1
    assert m[(h + "_count", 'command="incr_decr"')] == 1
    assert m[(h + "_bucket", 'command="get",le="+Inf"')] == 30
    # Buckets are cumulative and the sum is plausible (under a second each).
    assert m[(h + "_bucket", 'command="get",le="0.001"')] <= 30
    assert 0 < m[(h + "_sum", 'command="get"')] < 30


def test_hot_keys(server):
    """The most read key is reported by stats hotkeys, RESP HOTKEYS and
    /metrics (with --metrics-hotkeys), with an estimate near its true
    count."""
    admin = start_admin(server, ["--metrics-hotkeys"])
    c = admin.connect()
    c.expect(b"set hot 0 0 1\r\nx\r\n", b"STORED\r\n")
    c.expect(b"set warm 0 0 1\r\nx\r\n", b"STORED\r\n")
    # one read in 32 is sampled: 6400 reads of "hot" give ~200 samples, so
    # the estimate is within +-25% (3.5 sigma)
    reads = [b"hot"] * 6400 + [b"warm"] * 1600 + [b"cold%d" % i for i in range(1600)]
    c.send(b"".join(b"get " + k + b"\r\n" for k in reads))
    got = b""
    while got.count(b"END\r\n") < len(reads):
        got += c.read_available(0.2)
    st = c.stats(b"hotkeys")
    assert "hotkey:1:hot" in st, st
    assert 4800 <= int(st["hotkey:1:hot"]) <= 8000
    assert "hotkey:2:warm" in st
    r = socket.create_connection((HOST, admin.port), timeout=5)
    r.sendall(b"*2\r\n$7\r\nHOTKEYS\r\n$1\r\n2\r\n")
    reply = b""
    while reply.count(b"\r\n") < 7:
        reply += r.recv(4096)
    assert reply.startswith(b"*4\r\n$3\r\nhot\r\n:"), reply
    r.close()
    m = parse_prom(http_get(admin.admin_port, "/metrics")[2])
    assert 4800 <= m[("stashd_hot_key_requests", 'key="hot"')] <= 8000


def test_hot_key_names_stay_off_metrics_by_default(admin):
    """Keys are often user or session ids: without --metrics-hotkeys no
    key name reaches /metrics, though the server counts them."""
    c = admin.connect()
    c.expect(b"set user:4711 0 0 1\r\nx\r\n", b"STORED\r\n")
    c.send(b"get user:4711\r\n" * 3000)
    got = b""
    while got.count(b"END\r\n") < 3000:
        got += c.read_available(0.2)
    assert "hotkey:1:user:4711" in c.stats(b"hotkeys")
    body = http_get(admin.admin_port, "/metrics")[2]
    assert "user:4711" not in body
    assert "stashd_hot_key_requests" not in body


def test_json_log_lines(server):
    """--log-format json: one JSON object per line on stderr, with -v
    levels (info appears with -v, not without)."""
    import json
    quiet = server(args=["--log-format", "json"])
    srv = server(args=["--log-format", "json", "-v"])
    deadline = time.monotonic() + 5
    while b"listening" not in srv.output() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [l for l in srv.output().decode().splitlines() if l.strip()]
    assert lines, "no log output with -v"
    for line in lines:
        rec = json.loads(line)
        assert set(rec) == {"ts", "level", "msg"}
        assert rec["level"] in ("error", "warn", "info", "verbose", "debug")
    assert any("listening on 127.0.0.1" in json.loads(l)["msg"] for l in lines)
    assert b"listening" not in quiet.output()


@pytest.mark.stashd_only
def test_listeners_need_ports_of_their_own(tmp_path):
    """Every listener binds with SO_REUSEPORT, so two listeners of
    different kinds sharing a port number (a memcached port, TLS or
    notls:, the RESP-only --resp-port, the RESP-only TLS --tls-port) would
    each get a random share of the connections (a memcached client
    answered -NOAUTH now and then). stashd refuses to start."""
    from tls_util import make_certs, stashd_has_tls

    def start(*args):
        return subprocess.run([BIN, "-u", "root", "-U", "0", *args], capture_output=True,
                              timeout=20)

    p = free_port()
    out = start("-l", HOST, "-p", str(p), "--resp-port", str(p))
    assert out.returncode != 0, out.stderr
    assert b"--resp-port %d is also the memcached port" % p in out.stderr, out.stderr
    q = free_port()  # -l with its own port
    out = start("-l", f"{HOST}:{q}", "-p", str(p), "--resp-port", str(q))
    assert out.returncode != 0 and b"each needs a port of its own" in out.stderr, out.stderr
    if stashd_has_tls():
        certs = make_certs(str(tmp_path))
        out = start("-l", HOST, "-p", str(p), "--tls-port", str(p), *certs.server_args())
        assert out.returncode != 0, out.stderr
        assert b"--tls-port %d is also the memcached port" % p in out.stderr, out.stderr
        out = start("-l", HOST, "-p", str(p), "--resp-port", str(q), "--tls-port", str(q),
                    *certs.server_args())
        assert out.returncode != 0, out.stderr
        assert b"--resp-port and --tls-port are both %d" % q in out.stderr, out.stderr
        # -Z with a notls: address on the same port
        out = start("-l", HOST, "-l", f"notls:{HOST}", "-p", str(p), *certs.server_args())
        assert out.returncode != 0, out.stderr
        assert b"one with TLS and one without" in out.stderr, out.stderr
    # ports of their own start, and each speaks what it should
    r = free_port()
    srv = subprocess.Popen([BIN, "-u", "root", "-U", "0", "-l", HOST, "-p", str(p),
                            "--resp-port", str(r)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                c = Conn(p)
                break
            except OSError:
                assert time.monotonic() < deadline, "stashd did not start"
                time.sleep(0.05)
        c.send(b"set k 0 0 1\r\nv\r\n")
        assert c.read_until(b"\r\n") == b"STORED\r\n"
        c.close()
        c = Conn(r)
        c.send(b"GET k\r\n")
        assert c.read_until(b"\r\nv\r\n") == b"$1\r\nv\r\n"
        c.close()
    finally:
        srv.kill()
        srv.wait()
