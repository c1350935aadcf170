"""One door, one lock: with any credential configured, every protocol on
every listener must authenticate before it can read or write anything.

The matrix: credential source (--requirepass, -Y, -S) x protocol (memcached
text, meta, binary; RESP; RESP inline on the RESP ports) x listener (main
TCP port, --resp-port, unix socket, the -Z TLS port, --tls-port) x {no
credential, a wrong one, the right one}. For each cell a client first tries to read a secret that an
authenticated client stored, and to write, delete and flush; every try
must be refused with the protocol's own refusal, and an authenticated
observer then checks that nothing changed. With the right credential the
same client must read and write.

Also here: a user of any source passes every protocol (a -Y user over
RESP and SASL, Redis's "default" user over memcached's ASCII auth);
RESP's pre-auth answers compared byte for byte with Debian's redis-server
--requirepass; -Y's file rules, SIGHUP reload and start-up errors compared
with Debian's memcached -Y; the admin port's token; and memcached's
refusals of bad values (-t 0 ...).
"""

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import BIN, HOST, MEMCACHED, Conn, free_port
from mc_util import (AUTH_ERROR, DELETE, FLUSH, GET, INCR, NOOP, SASL_AUTH, SET, STAT, TOUCH,
                     arith_extras, breq, plain, read_packet, set_extras, touch_extras)
from resp_util import RespConn, RedisServer
from tls_util import make_certs, stashd_has_tls, tls_conn

pytestmark = pytest.mark.stashd_only

SECRET_KEY = b"secret"
SECRET = b"TOPSECRET-4711"
CRED = {
    # source: (user, password) that the source defines
    "requirepass": (b"default", b"s3cret"),
    "auth_file": (b"alice", b"wonder1and"),
    "sasl": (b"bob", b"bu1lder"),
}
WRONG = b"not-the-password"


def cred_args(source, tmp_path):
    if source == "requirepass":
        return ["--requirepass", CRED[source][1].decode()]
    user, password = CRED[source]
    path = tmp_path / f"{source}.users"
    path.write_bytes(user + b":" + password + b"\n")
    if source == "auth_file":
        return ["-Y", str(path)]
    return ["-S", "--sasl-pwdb", str(path)]


# --------------------------------------------------------------------------
# Listeners: how a client reaches each door.

CERTS = {}


def certs():
    """Throwaway certificates, made once (None: no TLS in this build)."""
    if "c" not in CERTS:
        CERTS["c"] = None
        if stashd_has_tls():
            d = tempfile.mkdtemp(prefix="stashd-auth-tls-")
            atexit.register(shutil.rmtree, d, True)
            CERTS["c"] = make_certs(d)
    return CERTS["c"]


def open_conn(srv, where):
    if where == "unix":
        return Conn(None, path=srv.unix_path)
    if where in ("tls", "tls_port"):
        return tls_conn(srv.port if where == "tls" else srv.tls_port, certs().client_ctx())
    return Conn(srv.resp_port if where == "resp_port" else srv.port)


def open_resp(srv, where):
    c = open_conn(srv, where)
    r = RespConn.__new__(RespConn)
    r.sock, r.timeout, r.buf = c.sock, c.timeout, bytearray()
    return r


# --------------------------------------------------------------------------
# One client per protocol: authenticate, try to read and write.

def text_auth_request(user, password):
    data = user + b" " + password
    return b"set auth 0 0 %d\r\n%s\r\n" % (len(data), data)


class TextClient:
    """memcached text (meta=False) or meta commands."""

    def __init__(self, meta=False):
        self.meta = meta

    def open(self, srv, where):
        return open_conn(srv, where)

    def auth(self, c, user, password):
        c.send(text_auth_request(user, password))
        reply = c.read_until(b"\r\n")
        return reply == b"STORED\r\n"

    def attempts(self):
        """(request, what it would do) pairs an intruder tries."""
        if self.meta:
            return [b"mg secret v f c t\r\n", b"ms victim 2 T0\r\nhi\r\n", b"md secret\r\n",
                    b"ma counter N0 J5\r\n", b"me secret\r\n", b"mn\r\n",
                    b"mg secret v\r\nmn\r\n"]
        return [b"get secret\r\n", b"gets secret\r\n", b"gat 0 secret\r\n",
                b"set victim 0 0 2\r\nhi\r\n", b"add victim 0 0 2\r\nhi\r\n",
                b"append secret 0 0 2\r\nhi\r\n", b"delete secret\r\n", b"incr counter 1\r\n",
                b"touch secret 1\r\n", b"flush_all\r\n", b"stats\r\n", b"stats items\r\n",
                b"stats cachedump 1 0\r\n", b"cache_memlimit 1\r\n", b"verbosity 1\r\n",
                b"version\r\n", b"shutdown\r\n"]

    def refused(self, c, request):
        c.send(request)
        # one refusal per request; a data block may be refused on its own
        # line when it arrives in a read of its own
        got = c.read_until(b"\r\n") + c.read_available(0.02)
        assert SECRET not in got, (request, got)
        lines = [ln for ln in got.split(b"\r\n") if ln]
        assert lines, f"no reply to {request!r}"
        assert all(ln.startswith(b"CLIENT_ERROR") for ln in lines), (request, got)

    def write_and_read(self, c):
        if self.meta:
            c.send(b"ms mine 3 T0\r\nabc\r\nmg mine v\r\nmg secret v\r\n")
            assert c.read_until(b"HD\r\n") == b"HD\r\n"
            assert c.read_until(b"abc\r\n") == b"VA 3\r\nabc\r\n"
            assert c.read_until(SECRET + b"\r\n").endswith(SECRET + b"\r\n")
        else:
            assert c.store(b"mine", b"abc") == b"STORED\r\n"
            assert c.get_value(b"mine") == (0, b"abc")
            assert c.get_value(SECRET_KEY) == (0, SECRET)


class BinaryClient:
    """memcached binary with SASL PLAIN. A refused packet closes the
    connection (memcached -S), so each attempt opens its own."""

    fresh_per_attempt = True

    def open(self, srv, where):
        return open_conn(srv, where)

    def auth(self, c, user, password):
        c.send(breq(SASL_AUTH, b"PLAIN", value=plain(user, password)))
        p = read_packet(c)
        return p.status == 0

    def attempts(self):
        return [breq(GET, SECRET_KEY), breq(SET, b"victim", set_extras(), b"hi"),
                breq(DELETE, SECRET_KEY), breq(FLUSH), breq(STAT), breq(STAT, b"settings"),
                breq(INCR, b"counter", arith_extras(1)), breq(TOUCH, SECRET_KEY, touch_extras(1)),
                breq(NOOP)]

    def refused(self, c, request):
        c.send(request)
        p = read_packet(c)
        assert p.status == AUTH_ERROR and SECRET not in p.raw, p
        assert c.is_closed(2.0)

    def write_and_read(self, c):
        c.send(breq(SET, b"mine", set_extras(), b"abc"))
        assert read_packet(c).status == 0
        c.send(breq(GET, b"mine"))
        assert read_packet(c).value == b"abc"
        c.send(breq(GET, SECRET_KEY))
        assert read_packet(c).value == SECRET


class RespClient:
    """RESP arrays (inline=False) or inline commands (the RESP port)."""

    def __init__(self, inline=False):
        self.inline = inline

    def open(self, srv, where):
        return open_resp(srv, where)

    def req(self, c, *args):
        if self.inline:
            c.send_raw(b" ".join(a if isinstance(a, bytes) else str(a).encode()
                                 for a in args) + b"\r\n")
        else:
            c.send(*args)
        return c.read_raw()

    def auth(self, c, user, password):
        if user == b"default":
            reply = self.req(c, b"AUTH", password)
        else:
            reply = self.req(c, b"AUTH", user, password)
        return reply == b"+OK\r\n"

    def attempts(self):
        return [(b"GET", SECRET_KEY), (b"SET", b"victim", b"hi"), (b"DEL", SECRET_KEY),
                (b"FLUSHALL",), (b"FLUSHDB",), (b"KEYS", b"*"), (b"SCAN", b"0"), (b"DBSIZE",),
                (b"MGET", SECRET_KEY), (b"INCR", b"counter"), (b"INFO",),
                (b"CONFIG", b"GET", b"*"), (b"CLIENT", b"LIST"), (b"PING",), (b"ECHO", b"x"),
                (b"COMMAND",), (b"HOTKEYS",), (b"RANDOMKEY",), (b"SELECT", b"0"),
                (b"HELLO", b"3")]

    def refused(self, c, request):
        reply = self.req(c, *request)
        assert reply.startswith(b"-NOAUTH"), (request, reply)
        assert SECRET not in reply

    def write_and_read(self, c):
        assert self.req(c, b"SET", b"mine", b"abc") == b"+OK\r\n"
        assert self.req(c, b"GET", b"mine") == b"$3\r\nabc\r\n"
        assert self.req(c, b"GET", SECRET_KEY) == b"$%d\r\n%s\r\n" % (len(SECRET), SECRET)


PROTOCOLS = {
    "text": TextClient(),
    "meta": TextClient(meta=True),
    "binary": BinaryClient(),
    "resp": RespClient(),
    "resp_inline": RespClient(inline=True),
}
# (listener, protocol) pairs that exist: the RESP port speaks only RESP.
DOORS = [("tcp", "text"), ("tcp", "meta"), ("tcp", "binary"), ("tcp", "resp"),
         ("resp_port", "resp"), ("resp_port", "resp_inline"),
         ("unix", "text"), ("unix", "meta"), ("unix", "binary"), ("unix", "resp"),
         ("tls", "text"), ("tls", "meta"), ("tls", "binary"), ("tls", "resp"),
         ("tls_port", "resp"), ("tls_port", "resp_inline")]


def wait_listening(port):
    deadline = time.monotonic() + 5
    while True:
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def start(server, source, tmp_path, where):
    args = cred_args(source, tmp_path)
    srv_where = where
    if where == "unix":
        srv = server(args=args, unix=True)
    elif where in ("tls", "tls_port"):
        if certs() is None:
            pytest.skip("stashd built without TLS")
        port = free_port()
        srv = server(args=args + certs().server_args() + ["--tls-port", str(port)])
        srv.tls_port = port
        wait_listening(port)
        srv_where = "tls"
    else:
        port = free_port()
        srv = server(args=args + ["--resp-port", str(port)])
        srv.resp_port = port
        wait_listening(port)
    srv.observer_door = "unix" if where == "unix" else srv_where if srv_where == "tls" else "tcp"
    return srv


def observer(srv, source):
    """An authenticated text connection (the unix socket where TCP is off,
    TLS where the main port speaks TLS)."""
    c = open_conn(srv, srv.observer_door)
    user, password = CRED[source]
    c.send(text_auth_request(user, password))
    assert c.read_until(b"\r\n") == b"STORED\r\n"
    return c


def assert_untouched(srv, source):
    o = observer(srv, source)
    assert o.get_value(SECRET_KEY) == (0, SECRET)
    assert o.get_value(b"victim") is None
    assert o.get_value(b"counter") == (0, b"10")
    st = o.stats()
    assert st["curr_items"] == "2", st
    o.close()


@pytest.mark.parametrize("source", sorted(CRED))
@pytest.mark.parametrize("where,proto", DOORS)
@pytest.mark.time_limit(60)
def test_every_door_is_locked(server, tmp_path, source, where, proto):
    srv = start(server, source, tmp_path, where)
    o = observer(srv, source)
    assert o.store(SECRET_KEY, SECRET) == b"STORED\r\n"
    assert o.store(b"counter", b"10") == b"STORED\r\n"
    o.close()
    client = PROTOCOLS[proto]
    user, password = CRED[source]
    fresh = getattr(client, "fresh_per_attempt", False)

    # 1. no credential at all
    c = client.open(srv, where)
    for request in client.attempts():
        if fresh:
            c = client.open(srv, where)
        client.refused(c, request)
    assert_untouched(srv, source)

    # 2. a wrong password, then a wrong user with the right password
    c = client.open(srv, where)
    assert not client.auth(c, user, WRONG)
    assert not client.auth(c, b"mallory", password)
    for request in client.attempts():
        if fresh:
            c = client.open(srv, where)
            assert not client.auth(c, user, WRONG)
        client.refused(c, request)
    assert_untouched(srv, source)

    # 3. the right credential opens this door
    c = client.open(srv, where)
    assert client.auth(c, user, password)
    client.write_and_read(c)


@pytest.mark.parametrize("source", sorted(CRED))
def test_one_user_passes_every_protocol(server, tmp_path, source):
    """A user defined by any source authenticates over every protocol:
    Redis's requirepass is user "default" for memcached clients, and -Y
    and -S users log in to RESP by name."""
    srv = start(server, source, tmp_path, "tcp")
    user, password = CRED[source]
    for proto, where in (("text", "tcp"), ("meta", "tcp"), ("binary", "tcp"), ("resp", "tcp"),
                         ("resp", "resp_port"), ("resp_inline", "resp_port")):
        client = PROTOCOLS[proto]
        c = client.open(srv, where)
        assert client.auth(c, user, password), (proto, where)
    r = RespConn(srv.port)
    hello = r.call_raw(b"HELLO", b"3", b"AUTH", user, password)
    assert hello.startswith(b"%7\r\n"), hello
    assert r.call_raw(b"SET", b"k", b"v") == b"+OK\r\n"


def test_no_credential_means_no_lock(server):
    """Without any credential every protocol serves at once, and SASL and
    AUTH behave as memcached without -S and Redis without requirepass."""
    srv = server()
    c = Conn(srv.port)
    assert c.store(b"k", b"v") == b"STORED\r\n"
    r = RespConn(srv.port)
    assert r.call_raw(b"GET", b"k") == b"$1\r\nv\r\n"
    assert r.call_raw(b"AUTH", b"x").startswith(b"-ERR AUTH <password> called without")
    b = Conn(srv.port)
    b.send(breq(SASL_AUTH, b"PLAIN", value=plain(b"a", b"b")))
    assert read_packet(b).status == 0x81  # unknown command, as memcached without -S


def test_reset_signs_out(server, tmp_path):
    srv = start(server, "auth_file", tmp_path, "tcp")
    r = RespConn(srv.port)
    assert r.call_raw(b"AUTH", b"alice", b"wonder1and") == b"+OK\r\n"
    assert r.call_raw(b"RESET") == b"+RESET\r\n"
    assert r.call_raw(b"GET", b"k").startswith(b"-NOAUTH")


def test_redis_requirepass_differential(server):
    """Before AUTH, stashd answers what Redis 7 answers, byte for byte."""
    redis = RedisServer(["--requirepass", "s3cret"]).start()
    try:
        srv = server(args=["--requirepass", "s3cret"])
        steps = [(b"PING",), (b"GET", b"k"), (b"GET",), (b"NOSUCHCMD", b"a"), (b"ECHO", b"x"),
                 (b"INFO",), (b"CLIENT", b"ID"), (b"COMMAND", b"COUNT"), (b"SELECT", b"0"),
                 (b"HELLO", b"3"), (b"HELLO", b"4"), (b"HELLO", b"3", b"AUTH", b"default", b"no"),
                 (b"AUTH", b"no"), (b"AUTH", b"default", b"no"), (b"AUTH", b"a", b"b", b"c"),
                 (b"SET", b"k", b"v"), (b"RESET",), (b"GET", b"k"), (b"AUTH", b"s3cret"),
                 (b"SET", b"k", b"v"), (b"GET", b"k"), (b"RESET",), (b"GET", b"k"),
                 (b"AUTH", b"default", b"s3cret"), (b"GET", b"k"), (b"QUIT",)]
        want, got = [], []
        for target, out in ((redis.port, want), (srv.port, got)):
            c = RespConn(target)
            for step in steps:
                out.append(c.call_raw(*step))
            c.close()
        for step, w, g in zip(steps, want, got):
            assert g == w, step
    finally:
        redis.stop()


# --------------------------------------------------------------------------
# memcached -Y: the file, reloads, start-up errors.

def test_auth_file_several_users_and_reload(server, tmp_path):
    path = tmp_path / "users"
    path.write_bytes(b"u1:p1\nu2:p2\r\nu3:pass:with:colons\n" +
                     b"".join(b"many%d:pw%d\n" % (i, i) for i in range(20)))
    srv = server(args=["-Y", str(path)])
    for user, password, ok in [(b"u1", b"p1", True), (b"u2", b"p2", True),
                               (b"u3", b"pass:with:colons", True), (b"u1", b"p2", False),
                               (b"many19", b"pw19", True), (b"u", b"p1", False)]:
        c = srv.connect()
        c.send(text_auth_request(user, password))
        assert (c.read_until(b"\r\n") == b"STORED\r\n") == ok, (user, password)
    # SIGHUP reloads the file: u1 goes, u4 comes, on every protocol
    path.write_bytes(b"u4:p4\n")
    os.kill(srv.pid, signal.SIGHUP)
    deadline = time.monotonic() + 5
    while True:
        c = srv.connect()
        c.send(text_auth_request(b"u4", b"p4"))
        if c.read_until(b"\r\n") == b"STORED\r\n":
            break
        assert time.monotonic() < deadline, "SIGHUP did not reload the auth file"
        time.sleep(0.05)
    c = srv.connect()
    c.send(text_auth_request(b"u1", b"p1"))
    assert c.read_until(b"\r\n") == b"CLIENT_ERROR authentication failure\r\n"
    r = RespConn(srv.port)
    assert r.call_raw(b"AUTH", b"u4", b"p4") == b"+OK\r\n"
    # a reload of a malformed file keeps the users loaded before
    path.write_bytes(b"no colon here\n")
    os.kill(srv.pid, signal.SIGHUP)
    time.sleep(0.3)
    c = srv.connect()
    c.send(text_auth_request(b"u4", b"p4"))
    assert c.read_until(b"\r\n") == b"STORED\r\n"
    assert b"malformed" in srv.output()


@pytest.mark.parametrize("content", [None, b"no colon here\n"])
def test_auth_file_refused_at_start_as_memcached(tmp_path, content):
    path = tmp_path / "users"
    if content is not None:
        path.write_bytes(content)
    outs = []
    for binary in (BIN, MEMCACHED):
        p = subprocess.run([binary, "-u", "root", "-U", "0", "-l", HOST, "-p", str(free_port()),
                            "-Y", str(path)], capture_output=True, timeout=10)
        assert p.returncode != 0
        outs.append(p.stderr.decode())
    want = outs[1].strip().splitlines()[0]
    assert want in outs[0], outs


def test_auth_file_stats_settings(server, tmp_path):
    path = tmp_path / "users"
    path.write_bytes(b"u1:p1\n")
    want = {}
    for binary in (None, MEMCACHED):
        srv = server(args=["-Y", str(path)], binary=binary)
        c = srv.connect()
        c.send(text_auth_request(b"u1", b"p1"))
        assert c.read_until(b"\r\n") == b"STORED\r\n"
        st = c.stats(b"settings")
        want.setdefault("got" if binary is None else "want", st)
    for name in ("auth_enabled_sasl", "auth_enabled_ascii"):
        assert want["got"][name] == want["want"][name], name
    plain_srv = server()
    st = plain_srv.connect().stats(b"settings")
    assert st["auth_enabled_ascii"] == "no"


@pytest.mark.parametrize("args", [["-t", "0"], ["-t", "-2"], ["-t", "x"], ["-c", "0"],
                                  ["-R", "0"], ["-f", "1.0"], ["-n", "0"], ["-I", "100"]])
def test_refusals_in_memcacheds_words(args):
    outs = []
    for binary in (BIN, MEMCACHED):
        p = subprocess.run([binary, "-u", "root", "-U", "0", "-l", HOST, "-p", str(free_port()),
                            *args], capture_output=True, timeout=10)
        assert p.returncode != 0, (binary, args)
        outs.append(p.stderr.decode())
    assert outs[1].strip().splitlines()[0] in outs[0], outs


# --------------------------------------------------------------------------
# The admin port: a door of its own.

def http_get(port, path, headers=None):
    import http.client
    c = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode()
    finally:
        c.close()


def test_admin_token(server, tmp_path):
    token = tmp_path / "token"
    token.write_text("t0ken-abc\n")
    port = free_port()
    srv = server(args=["--admin-port", str(port), "--admin-token-file", str(token),
                       "--requirepass", "pw"])
    deadline = time.monotonic() + 5
    while True:
        try:
            http_get(port, "/healthz")
            break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    # probes stay open
    assert http_get(port, "/healthz")[0] == 200
    assert http_get(port, "/readyz")[0] == 200
    status, headers, body = http_get(port, "/metrics")
    assert status == 401 and "memcached_" not in body
    assert headers.get("WWW-Authenticate", "").startswith("Bearer")
    for bad in ("Bearer wrong", "Bearer t0ken-ab", "Bearer t0ken-abcd", "Basic t0ken-abc",
                "t0ken-abc"):
        assert http_get(port, "/metrics", {"Authorization": bad})[0] == 401, bad
    status, _, body = http_get(port, "/metrics", {"Authorization": "Bearer t0ken-abc"})
    assert status == 200 and "memcached_" in body
    # a rotated token takes effect at the next scrape
    token.write_text("n3w\n")
    assert http_get(port, "/metrics", {"Authorization": "Bearer t0ken-abc"})[0] == 401
    assert http_get(port, "/metrics", {"authorization": "bearer n3w"})[0] == 200
    assert b"n3w" not in srv.output() and b"t0ken" not in srv.output()


def test_admin_token_file_missing_stops_start(tmp_path):
    p = subprocess.run([BIN, "-u", "root", "-U", "0", "-l", HOST, "-p", str(free_port()),
                        "--admin-port", str(free_port()), "--admin-token-file",
                        str(tmp_path / "nope")], capture_output=True, timeout=10)
    assert p.returncode != 0
    assert b"admin-token-file" in p.stderr
