"""TLS with real clients (memcached's -Z and -o ssl_* keys, Redis's --tls-port).

A module fixture makes a throwaway CA, two server certificates and client
certificates (one from a foreign CA) with the ``openssl`` command. Clients:
Python's ssl over raw sockets (byte-exact replies), pymemcache with
``tls_context``, redis-py ``ssl=True``, ``redis-cli --tls`` and
``openssl s_client``; pylibmc only if its libmemcached speaks TLS (Debian's
does not). Covered: every protocol sniffed on the first decrypted byte,
``-l notls:`` beside a TLS listener, the RESP-only TLS port, mutual TLS in
each verify mode, ``refresh_certs`` and SIGHUP (also under load), stats and
settings fields and a text session compared byte for byte with Debian's
``memcached -Z``, and hostile clients: plain text to a TLS port, handshakes
that never finish, half-closed sessions, and readers that never read.
"""

import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import BIN, HOST, IS_MEMCACHED, MEMCACHED, Conn, free_port
from test_memcap import sanitizer
from tls_util import OPENSSL, make_certs, stashd_has_tls, tls_conn

REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"

pytestmark = pytest.mark.skipif(not os.path.exists(OPENSSL), reason="no openssl command")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    if not stashd_has_tls():
        pytest.skip("stashd built without TLS")
    d = str(tmp_path_factory.mktemp("tls"))
    c = make_certs(d)
    yield c
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def live(certs):
    """The live certificate back to srv for each test."""
    certs.use("srv")
    return certs


# --------------------------------------------------------------------------
# Clients


def peer_cn(c):
    """The CN of the certificate the server showed on connection c."""
    subject = dict(x[0] for x in c.sock.getpeercert()["subject"])
    return subject["commonName"]


def wait_port(port, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def tls_server(server, certs, args=(), binary=None):
    return server(certs.server_args() + list(args), binary=binary)


class MemTls:
    """TLS over a raw socket through ssl.MemoryBIO, so a test can send a
    close_notify or a TCP FIN and still read what the server answers."""

    def __init__(self, port, ctx):
        self.sock = socket.create_connection((HOST, port), timeout=5)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname="localhost")
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                data = self.sock.recv(65536)
                if not data:
                    raise EOFError("closed during the handshake")
                self.inc.write(data)
        self._flush()

    def _flush(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def write(self, data):
        self.obj.write(data)
        self._flush()

    def read_all(self, timeout=5.0):
        """Plaintext until the server closes; (data, saw close_notify)."""
        deadline = time.monotonic() + timeout
        got, notify = b"", False
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                data = b""
            if not data:
                self.inc.write_eof()
            else:
                self.inc.write(data)
            while True:
                try:
                    piece = self.obj.read(65536)
                except ssl.SSLWantReadError:
                    break
                except ssl.SSLZeroReturnError:
                    notify = True
                    break
                except ssl.SSLEOFError:
                    break
                if not piece:
                    notify = True
                    break
                got += piece
            if not data:
                return got, notify
        raise AssertionError(f"no close within {timeout} s; got {got[:200]!r}")

    def close(self):
        self.sock.close()


# --------------------------------------------------------------------------
# OpenSSL is loaded only for TLS (net/tls_lib.h)


def mapped_libs(pid):
    with open(f"/proc/{pid}/maps") as f:
        return {os.path.basename(ln.split()[-1]) for ln in f if "/" in ln}


@pytest.mark.stashd_only
def test_openssl_loaded_only_for_tls(server, live):
    """A server without TLS maps neither libssl nor libcrypto (1.7 MiB
    resident that every server paid when it was linked); one with -Z opens
    them at start and serves."""
    plain = server(["-m", "64"])
    libs = mapped_libs(plain.pid)
    assert not any(n.startswith(("libssl.so", "libcrypto.so")) for n in libs), libs
    Conn(plain.port).expect(b"set k 0 0 1\r\nx\r\n", b"STORED\r\n")
    with_tls = tls_server(server, live)
    libs = mapped_libs(with_tls.pid)
    assert any(n.startswith("libssl.so") for n in libs), libs
    assert any(n.startswith("libcrypto.so") for n in libs), libs
    tls_conn(with_tls.port, live.client_ctx()).expect(b"set k 0 0 1\r\nx\r\n", b"STORED\r\n")


def libssl_path():
    """The libssl.so.3 this test process maps (Python's ssl loads it)."""
    with open("/proc/self/maps") as f:
        for ln in f:
            path = ln.split()[-1]
            if os.path.basename(path).startswith("libssl.so.3"):
                return path
    return None


@pytest.mark.stashd_only
def test_tls_without_libssl_is_refused(live):
    """With libssl.so.3 unreadable (a private mount namespace binds
    /dev/null over it), -Z is refused at start with the loader's reason;
    the same server without -Z starts."""
    lib = libssl_path()
    unshare = shutil.which("unshare")
    if lib is None or unshare is None:
        pytest.skip("no libssl.so.3 mapped here, or no unshare")
    port = free_port()
    base = [BIN, "-u", "root", "-U", "0", "-l", HOST, "-p", str(port)]
    script = 'mount --bind /dev/null "$0" || exit 99; exec "$@"'
    r = subprocess.run([unshare, "--mount", "sh", "-c", script, lib] + base + live.server_args(),
                       capture_output=True, timeout=20)
    if r.returncode == 99 or b"unshare failed" in r.stderr:
        pytest.skip("no private mount namespace here: " + r.stderr.decode(errors="replace"))
    assert r.returncode != 0
    assert b"TLS needs OpenSSL 3 (libssl.so.3)" in r.stderr + r.stdout, r.stderr
    # without TLS it serves: `version` over the same namespace trick
    script = ('mount --bind /dev/null "$0" || exit 99; "$@" & pid=$!; sleep 0.5; '
              'kill -0 $pid || exit 98; kill $pid; wait $pid; exit 0')
    r = subprocess.run([unshare, "--mount", "sh", "-c", script, lib] + base,
                       capture_output=True, timeout=20)
    assert r.returncode == 0, r.stderr


# --------------------------------------------------------------------------
# Every protocol over TLS


BIN_GET_MISS = (b"\x80\x00\x00\x01" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x01"
                + b"\x00\x00\x00\x00" + b"\x00" * 8 + b"q")


@pytest.mark.stashd_only
def test_every_protocol_over_tls(server, live):
    s = tls_server(server, live)
    ctx = live.client_ctx()
    c = tls_conn(s.port, ctx)
    assert peer_cn(c) == "server-one"
    c.expect(b"set k 5 0 3\r\nabc\r\n", b"STORED\r\n")
    c.expect(b"get k\r\n", b"VALUE k 5 3\r\nabc\r\nEND\r\n")
    c.expect(b"mg k v f\r\n", b"VA 3 f5\r\nabc\r\n")
    c.expect(b"ms m 2\r\nhi\r\nmn\r\n", b"HD\r\nMN\r\n")
    b = tls_conn(s.port, ctx)
    b.send(BIN_GET_MISS)
    hdr = b.read_exact(24)
    assert hdr[0] == 0x81 and hdr[6:8] == b"\x00\x01"  # response, key not found
    b.read_exact(int.from_bytes(hdr[8:12], "big"))
    r = tls_conn(s.port, ctx)
    r.expect(b"*2\r\n$3\r\nGET\r\n$1\r\nm\r\n", b"$2\r\nhi\r\n")
    r.expect(b"*1\r\n$4\r\nPING\r\n", b"+PONG\r\n")
    # Pipelined: many requests in one TLS record, replies in order.
    c.send(b"".join(b"incr n %d\r\n" % i for i in range(1, 200)) + b"set n 0 0 1\r\n0\r\n")
    assert c.read_exact(len(b"NOT_FOUND\r\n") * 199 + 8) == b"NOT_FOUND\r\n" * 199 + b"STORED\r\n"
    c.send(b"".join(b"incr n 1\r\n" for _ in range(300)))
    want = b"".join(b"%d\r\n" % i for i in range(1, 301))
    assert c.read_exact(len(want)) == want
    # A value of several records each way.
    big = os.urandom(300000).hex().encode()[:500000]
    c.expect(b"set big 0 0 %d\r\n%s\r\n" % (len(big), big), b"STORED\r\n")
    assert c.get_value(b"big") == (0, big)
    st = c.stats()
    assert st["ssl_handshake_errors"] == "0"
    assert int(st["time_since_server_cert_refresh"]) <= 5


@pytest.mark.stashd_only
def test_notls_listener_and_plain_text_to_tls(server, live):
    plain_port = free_port()
    s = tls_server(server, live, ["-l", f"notls:{HOST}:{plain_port}"])
    p = Conn(plain_port)
    p.expect(b"set k 0 0 1\r\nx\r\n", b"STORED\r\n")
    t = tls_conn(s.port, live.client_ctx())
    t.expect(b"get k\r\n", b"VALUE k 0 1\r\nx\r\nEND\r\n")
    # Plain text on the TLS port fails the handshake and is closed.
    for req in (b"get k\r\n", b"GET / HTTP/1.1\r\n\r\n", b"*1\r\n$4\r\nPING\r\n"):
        bad = Conn(s.port)
        bad.send(req)
        assert bad.is_closed(wait=3.0)
        bad.close()
    assert p.stats()["ssl_handshake_errors"] == "3"
    assert p.stats(b"settings")["inter"] == f"{HOST},notls:{HOST}:{plain_port}"


# --------------------------------------------------------------------------
# Real clients


def test_openssl_s_client(server, live):
    s = tls_server(server, live)
    out = subprocess.run(
        [OPENSSL, "s_client", "-quiet", "-CAfile", live.path("ca.crt"),
         "-connect", f"{HOST}:{s.port}", "-servername", "localhost"],
        input=b"set k 0 0 2\r\nhi\r\nget k\r\nquit\r\n", capture_output=True, timeout=20)
    assert out.stdout == b"STORED\r\nVALUE k 0 2\r\nhi\r\nEND\r\n", out.stderr[-500:]


def test_pymemcache_tls(server, live):
    pymemcache = pytest.importorskip("pymemcache.client.base")
    s = tls_server(server, live)
    c = pymemcache.Client((HOST, s.port), tls_context=live.client_ctx(), timeout=5,
                          connect_timeout=5)
    assert c.set("k", b"v" * 1000) is True
    assert c.get("k") == b"v" * 1000
    assert c.get_many(["k", "nope"]) == {"k": b"v" * 1000}
    assert c.incr("n", 1) is None
    assert c.add("n", b"5") is True and c.incr("n", 2) == 7
    assert c.delete("k") is True and c.get("k") is None
    c.close()


def test_pylibmc_tls(server, live):
    pylibmc = pytest.importorskip("pylibmc")
    if not any("ssl" in b.lower() or "tls" in b.lower() for b in pylibmc.all_behaviors):
        pytest.skip("Debian's libmemcached has no TLS (pylibmc cannot connect with it)")


@pytest.mark.stashd_only
def test_tls_port_redis_clients(server, live):
    redis = pytest.importorskip("redis")
    port = free_port()
    # --tls-port alone: the memcached port stays plain.
    s = server(["--tls-port", str(port), "-o",
                f"ssl_chain_cert={live.path('live.crt')},ssl_key={live.path('live.key')}"])
    wait_port(port)
    r = redis.Redis(host=HOST, port=port, ssl=True, ssl_ca_certs=live.path("ca.crt"),
                    ssl_cert_reqs="required", socket_timeout=5)
    assert r.ping() is True
    assert r.set("k", "v") is True and r.get("k") == b"v"
    assert r.mset({"a": "1", "b": "2"}) is True and r.mget("a", "b", "c") == [b"1", b"2", None]
    p = r.pipeline(transaction=False)
    for i in range(500):
        p.incr("ctr")
    assert p.execute()[-1] == 500
    out = subprocess.run([REDIS_CLI, "--tls", "--cacert", live.path("ca.crt"), "-h", HOST,
                          "-p", str(port), "GET", "k"], capture_output=True, timeout=20)
    assert out.stdout == b"v\n", out.stderr
    # Inline commands on the RESP-only TLS port, as on --resp-port.
    t = tls_conn(port, live.client_ctx())
    t.expect(b"PING\r\nget k\r\n", b"+PONG\r\n$1\r\nv\r\n")
    # The memcached port is plain: same keyspace.
    Conn(s.port).expect(b"get k\r\n", b"VALUE k 0 1\r\nv\r\nEND\r\n")
    st = Conn(s.port).stats()
    assert "ssl_handshake_errors" in st  # TLS is on (a port), so its stats show
    assert Conn(s.port).stats(b"settings")["tls_port"] == str(port)


@pytest.mark.stashd_only
def test_requirepass_over_tls(server, live):
    redis = pytest.importorskip("redis")
    port = free_port()
    s = tls_server(server, live, ["--tls-port", str(port), "--requirepass", "s3cret"])
    for p in (port, s.port):  # the RESP TLS port, and RESP sniffed on the -Z port
        t = tls_conn(p, live.client_ctx())
        t.expect(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", b"-NOAUTH Authentication required.\r\n")
        t.expect(b"*2\r\n$4\r\nAUTH\r\n$6\r\ns3cret\r\n", b"+OK\r\n")
        t.expect(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", b"$-1\r\n")
    anon = redis.Redis(host=HOST, port=port, ssl=True, ssl_ca_certs=live.path("ca.crt"),
                       socket_timeout=5)
    with pytest.raises(redis.exceptions.AuthenticationError):
        anon.get("k")
    good = redis.Redis(host=HOST, port=port, ssl=True, ssl_ca_certs=live.path("ca.crt"),
                       password="s3cret", socket_timeout=5)
    assert good.set("k", "v") is True and good.get("k") == b"v"


# --------------------------------------------------------------------------
# Mutual TLS


def _handshake_ok(port, ctx):
    """True when a request over a new connection is answered."""
    try:
        c = tls_conn(port, ctx, timeout=3)
        c.send(b"mn\r\n")
        ok = c.read_until(b"\r\n") == b"MN\r\n"
        c.close()
        return ok
    except (ssl.SSLError, OSError, AssertionError, EOFError):
        return False


@pytest.mark.parametrize("mode,cert,ok", [
    (1, None, True), (1, "client", True), (1, "stranger", False),
    (2, None, False), (2, "client", True), (2, "stranger", False),
    (3, "client", True), (3, None, False),
])
def test_mutual_tls(server, live, mode, cert, ok):
    s = server(live.server_args(f"ssl_ca_cert={live.path('ca.crt')},ssl_verify_mode={mode}"))
    assert _handshake_ok(s.port, live.client_ctx(cert)) is ok
    if not ok and not IS_MEMCACHED:  # memcached counts only some of these
        st = tls_conn(s.port, live.client_ctx("client")).stats()
        assert st["ssl_handshake_errors"] == "1"


@pytest.mark.stashd_only
def test_mutual_tls_redis_py(server, live):
    redis = pytest.importorskip("redis")
    port = free_port()
    server(["--tls-port", str(port), "-o",
            f"ssl_chain_cert={live.path('live.crt')},ssl_key={live.path('live.key')},"
            f"ssl_ca_cert={live.path('ca.crt')},ssl_verify_mode=2"])
    wait_port(port)
    r = redis.Redis(host=HOST, port=port, ssl=True, ssl_ca_certs=live.path("ca.crt"),
                    ssl_certfile=live.path("client.crt"), ssl_keyfile=live.path("client.key"),
                    socket_timeout=5)
    assert r.ping() is True
    anon = redis.Redis(host=HOST, port=port, ssl=True, ssl_ca_certs=live.path("ca.crt"),
                       socket_timeout=5)
    with pytest.raises((redis.exceptions.ConnectionError, ssl.SSLError, OSError)):
        anon.ping()


# --------------------------------------------------------------------------
# Certificate refresh


def test_refresh_certs(server, live):
    s = tls_server(server, live)
    ctx = live.client_ctx()
    old = tls_conn(s.port, ctx)
    assert peer_cn(old) == "server-one"
    live.use("srv2")
    old.expect(b"refresh_certs\r\n", b"OK\r\n")
    new = tls_conn(s.port, ctx)
    assert peer_cn(new) == "server-two"
    old.expect(b"set k 0 0 1\r\na\r\n", b"STORED\r\n")  # the old session goes on
    new.expect(b"get k\r\n", b"VALUE k 0 1\r\na\r\nEND\r\n")
    old.expect(b"refresh_certs noreply\r\nmn\r\n", b"MN\r\n")
    # A missing or unreadable file: memcached's message; the old one stays.
    os.remove(live.path("live.crt"))
    line = old.line(b"refresh_certs\r\n")
    assert line.startswith(b"Error loading the certificate chain: " +
                           live.path("live.crt").encode() + b" : error:"), line
    shutil.copy(live.path("srv.crt"), live.path("live.crt"))  # srv2's key stays
    line = old.line(b"refresh_certs noreply\r\n")  # errors ignore noreply
    assert line.startswith(b"Error loading the key: " + live.path("live.key").encode()), line
    if not IS_MEMCACHED:
        # memcached reloads into its live context, which a failure leaves
        # with one file's certificate and the other's key: every handshake
        # then fails. stashd builds a new context and keeps the old one.
        assert peer_cn(tls_conn(s.port, ctx)) == "server-two"


def test_refresh_certs_without_tls(server):
    s = server()
    Conn(s.port).expect(b"refresh_certs\r\nrefresh_certs noreply\r\nREFRESH_CERTS\r\n",
                        b"Error TLS not enabled\r\nError TLS not enabled\r\nERROR\r\n")


@pytest.mark.stashd_only
def test_sighup_reloads(server, live):
    s = tls_server(server, live)
    ctx = live.client_ctx()
    old = tls_conn(s.port, ctx)
    live.use("srv2")
    os.kill(s.pid, signal.SIGHUP)
    deadline = time.monotonic() + 5
    while peer_cn(tls_conn(s.port, ctx)) != "server-two":
        assert time.monotonic() < deadline, "SIGHUP did not reload the certificate"
        time.sleep(0.05)
    old.expect(b"mn\r\n", b"MN\r\n")
    # A bad file on SIGHUP: logged, the server keeps serving.
    os.remove(live.path("live.key"))
    os.kill(s.pid, signal.SIGHUP)
    time.sleep(0.3)
    assert s.alive()
    assert peer_cn(tls_conn(s.port, ctx)) == "server-two"
    assert b"not reloaded" in s.output()
    # Without TLS, SIGHUP is ignored (as memcached ignores it).
    p = server()
    os.kill(p.pid, signal.SIGHUP)
    time.sleep(0.2)
    assert p.alive()


@pytest.mark.time_limit(60)
def test_refresh_under_load(server, live):
    """Clients busy over TLS (reconnecting now and then, so new handshakes
    meet each swap) while the certificate changes and is reloaded by
    refresh_certs and SIGHUP: no client sees an error or a wrong value."""
    s = tls_server(server, live, ["-t", "2"])
    ctx = live.client_ctx()
    stop = threading.Event()
    errors, done = [], [0] * 6

    def client(n):
        try:
            while not stop.is_set():
                c = tls_conn(s.port, ctx)
                for i in range(50):
                    key = b"k%d_%d" % (n, i)
                    val = b"%d" % (i * 7919 + n) * 20
                    c.send(b"set %s 0 0 %d\r\n%s\r\nget %s\r\n" % (key, len(val), val, key))
                    want = b"STORED\r\nVALUE %s 0 %d\r\n%s\r\nEND\r\n" % (key, len(val), val)
                    got = c.read_exact(len(want))
                    if got != want:
                        errors.append((n, got[:80]))
                        return
                    done[n] += 1
                c.close()
        except Exception as e:  # noqa: BLE001 - every failure is the test's
            errors.append((n, repr(e)))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(len(done))]
    for t in threads:
        t.start()
    admin = tls_conn(s.port, ctx)
    deadline = time.monotonic() + 4
    i = 0
    seen = set()
    while time.monotonic() < deadline and not errors:
        live.use("srv2" if i % 2 == 0 else "srv")
        if i % 3 == 2 and not IS_MEMCACHED:
            os.kill(s.pid, signal.SIGHUP)
        else:
            admin.expect(b"refresh_certs\r\n", b"OK\r\n")
        seen.add(peer_cn(tls_conn(s.port, ctx)))
        i += 1
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(timeout=10)
    assert not errors, errors[:5]
    assert all(d > 0 for d in done), done
    assert seen == {"server-one", "server-two"} or IS_MEMCACHED
    assert admin.stats()["ssl_handshake_errors"] == "0"


# --------------------------------------------------------------------------
# memcached -Z, byte for byte


SESSION = [
    b"set a 1 0 3\r\nabc\r\n", b"get a b\r\n", b"add a 0 0 1\r\nx\r\n",
    b"append a 0 0 2\r\nde\r\n", b"prepend a 0 0 1\r\nz\r\n", b"get a\r\n",
    b"replace nope 0 0 1\r\nx\r\n", b"incr a 1\r\n", b"set n 0 0 2\r\n10\r\n",
    b"incr n 5\r\n", b"decr n 100\r\n", b"touch n 100\r\n", b"gat 0 n\r\n",
    b"delete a\r\n", b"delete a\r\n", b"get a\r\n", b"ms m 2 T0 F3\r\nhi\r\n",
    b"mg m v f t\r\n", b"ma n MI D3\r\n", b"md m q\r\n", b"mg m\r\n",
    b"bogus\r\n", b"get " + b"x" * 251 + b"\r\n", b"set k 0 0 z\r\n",
    b"refresh_certs\r\n", b"refresh_certs noreply\r\n", b"refresh_certs a b\r\n",
    b"verbosity 1\r\n", b"flush_all\r\n", b"get n\r\n", b"cache_memlimit 100\r\n",
    b"stats nosuch\r\n",
]


def _session_replies(port, ctx):
    c = tls_conn(port, ctx)
    out = []
    for req in SESSION:
        c.send(req + b"mn\r\n")
        out.append(c.read_until(b"MN\r\n"))
    assert c.read_available(0.05) == b""  # one reply per request: still in step
    c.close()
    return out


def _tls_rows(st):
    return [k for k in st if k.startswith("ssl_") or k == "time_since_server_cert_refresh"]


@pytest.mark.stashd_only
@pytest.mark.parametrize("cache", [False, True])
def test_against_memcached_tls(server, live, cache):
    if not os.path.exists(MEMCACHED):
        pytest.skip("no memcached")
    extra = "ssl_session_cache" if cache else ""
    ours = server(live.server_args(extra))
    theirs = server(live.server_args(extra), binary=MEMCACHED)
    ctx = live.client_ctx()
    a, b = _session_replies(ours.port, ctx), _session_replies(theirs.port, ctx)
    for req, x, y in zip(SESSION, a, b):
        assert x == y, f"{req!r}: stashd {x!r} memcached {y!r}"
    sa = tls_conn(ours.port, ctx).stats()
    sb = tls_conn(theirs.port, ctx).stats()
    assert _tls_rows(sa) == _tls_rows(sb)
    # Where they sit: between the same neighbours memcached has too.
    names = list(sa)
    assert names.index("slabs_moved") < names.index(_tls_rows(sa)[0])
    assert names.index("time_since_server_cert_refresh") < names.index("bytes")
    ga = tls_conn(ours.port, ctx).stats(b"settings")
    gb = tls_conn(theirs.port, ctx).stats(b"settings")
    ssl_a = [(k, v) for k, v in ga.items() if k.startswith("ssl_")]
    ssl_b = [(k, v) for k, v in gb.items() if k.startswith("ssl_")]
    assert ssl_a == ssl_b
    # Without -Z neither shows TLS rows in stats; both list ssl_* settings.
    p = server()
    m = server(binary=MEMCACHED)
    assert _tls_rows(Conn(p.port).stats()) == _tls_rows(Conn(m.port).stats()) == []
    pa = [k for k in Conn(p.port).stats(b"settings") if k.startswith("ssl_")]
    pb = [k for k in Conn(m.port).stats(b"settings") if k.startswith("ssl_")]
    assert pa == pb


# --------------------------------------------------------------------------
# Hostile and awkward clients


@pytest.mark.time_limit(40)
@pytest.mark.stashd_only
def test_handshake_timeout(server, live):
    """A handshake that never finishes is closed after 10 s and counted;
    meanwhile other clients are served."""
    s = tls_server(server, live)
    silent = Conn(s.port)  # says nothing
    partial = Conn(s.port)  # the start of a ClientHello
    t0 = time.monotonic()
    ok = tls_conn(s.port, live.client_ctx())
    ok.expect(b"mn\r\n", b"MN\r\n")
    partial.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    assert silent.is_closed(wait=14.0)
    assert partial.is_closed(wait=2.0)
    assert 8.0 < time.monotonic() - t0 < 15.0
    ok.expect(b"mn\r\n", b"MN\r\n")
    assert ok.stats()["ssl_handshake_errors"] == "2"


def test_close_notify_answered_first(server, live):
    """A client that sends close_notify after its requests gets their
    replies, then the close."""
    s = tls_server(server, live)
    ctx = live.client_ctx()
    tls_conn(s.port, ctx).expect(b"set k 0 0 3\r\nabc\r\n", b"STORED\r\n")
    m = MemTls(s.port, ctx)
    m.write(b"get k\r\nget k\r\n")
    try:
        m.obj.unwrap()  # queue our close_notify
    except ssl.SSLWantReadError:
        pass
    m._flush()
    got, notify = m.read_all()
    assert got == b"VALUE k 0 3\r\nabc\r\nEND\r\n" * 2
    assert notify  # the server's close_notify ends it
    m.close()


@pytest.mark.stashd_only  # memcached answers this with a decode_error alert
def test_fin_answered_first(server, live):
    """A TLS client that half-closes TCP after its requests (no
    close_notify) gets their replies, then the close, as a plain one."""
    s = tls_server(server, live)
    ctx = live.client_ctx()
    tls_conn(s.port, ctx).expect(b"set k 0 0 3\r\nabc\r\n", b"STORED\r\n")
    m = MemTls(s.port, ctx)
    m.write(b"get k\r\n" * 100)
    m.sock.shutdown(socket.SHUT_WR)
    got, _ = m.read_all()
    assert got == b"VALUE k 0 3\r\nabc\r\nEND\r\n" * 100
    m.close()


@pytest.mark.stashd_only
@pytest.mark.time_limit(60)
def test_reader_that_never_reads(server, live):
    """TLS clients that pipeline gets of a large value and never read are
    held to the same output bound as plain ones; others are served."""
    plain_port = free_port()
    s = tls_server(server, live, ["-l", f"notls:{HOST}:{plain_port}", "-t", "1"])
    ctx = live.client_ctx()
    c = tls_conn(s.port, ctx)
    val = b"v" * 500000
    c.expect(b"set big 0 0 %d\r\n%s\r\n" % (len(val), val), b"STORED\r\n")
    hogs = []
    for _ in range(4):
        h = MemTls(s.port, ctx)
        h.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        h.sock.setblocking(False)
        req = b"get big\r\n" * 200
        h.obj.write(req)
        data = h.out.read()
        sent = 0
        deadline = time.monotonic() + 3
        while sent < len(data) and time.monotonic() < deadline:
            try:
                sent += h.sock.send(data[sent:])
            except BlockingIOError:
                time.sleep(0.01)
        hogs.append(h)
    time.sleep(0.5)
    p = Conn(plain_port)
    st = p.stats()
    # Each hog: a read batch of gets answered up to the output bound (1 MiB
    # + one item), two buffers; far below 200 x 500 kB each.
    assert int(st["conn_buffer_bytes"]) < 4 * 8 * (1 << 20), st["conn_buffer_bytes"]
    ok = tls_conn(s.port, ctx)
    ok.expect(b"mn\r\n", b"MN\r\n", timeout=2)
    for h in hogs:
        h.close()


@pytest.mark.stashd_only
def test_idle_tls_connection_memory(server, live):
    """Idle TLS connections after their handshake hold little: OpenSSL's
    record buffers (SSL_MODE_RELEASE_BUFFERS) and the reply buffers (after
    2 s idle) are given back."""
    s = tls_server(server, live, ["-t", "1"])
    if sanitizer(s.pid):
        pytest.skip("a sanitizer's allocator says nothing about memory per connection")
    ctx = live.client_ctx()
    warm = [tls_conn(s.port, ctx) for _ in range(20)]
    for c in warm:
        c.expect(b"mn\r\n", b"MN\r\n")
    before = s.rss_kb()
    conns = [tls_conn(s.port, ctx) for _ in range(300)]
    for c in conns:
        c.expect(b"mn\r\n", b"MN\r\n")
    time.sleep(2.5)  # idle TLS connections give back their reply buffers
    per_conn = (s.rss_kb() - before) * 1024 / len(conns)
    print(f"idle TLS connection: {per_conn:.0f} bytes of RSS")
    assert per_conn < 24 * 1024, per_conn
    for c in conns + warm:
        c.close()


@pytest.mark.stashd_only
def test_start_errors(live):
    def start(*args):
        return subprocess.run([BIN, "-u", "root", "-p", str(free_port()), "-l", HOST, *args],
                              capture_output=True, timeout=20)
    out = start("-Z")
    assert out.returncode != 0 and b"ssl_chain_cert" in out.stderr, out.stderr
    out = start("-Z", "-o", "ssl_chain_cert=/nonexistent.pem")
    assert out.returncode != 0
    assert b"Error loading the certificate chain: /nonexistent.pem" in out.stderr, out.stderr
    out = start("-Z", "-o", f"ssl_chain_cert={live.path('srv.crt')},ssl_key={live.path('srv.key')},"
                "ssl_verify_mode=2")
    assert out.returncode != 0 and b"ssl_ca_cert" in out.stderr, out.stderr


@pytest.mark.stashd_only
def test_z_refused_without_certificate_or_tls():
    """-Z never starts in clear text: a TLS build wants a certificate, a
    build without TLS (cmake -DSTASHD_TLS=OFF) says it has none."""
    out = subprocess.run([BIN, "-u", "root", "-p", "0", "-Z"], capture_output=True, timeout=10)
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert b"ssl_chain_cert" in text or b"built without" in text, text
