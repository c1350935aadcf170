"""Helpers for the RESP integration tests (test_resp.py, test_resp_diff.py).

* :func:`encode` -- a command as a RESP array of bulk strings.
* :class:`RespConn` -- a raw RESP client over a socket: send commands, read
  exactly one reply's bytes (``read_raw``) or its decoded value
  (``read``), so that tests can compare bytes with Redis's.
* :func:`decode` -- RESP2/RESP3 bytes to Python values (``Err`` for errors,
  ``Verbatim``, ``Push`` ... kept apart from plain strings).
* :class:`RedisServer` -- Debian's redis-server on a free loopback port,
  for the differential tests; killed by PID at the end.
* :func:`stashd_has_option` -- whether the binary under test knows a long
  option (``--resp-port``, ``--requirepass``), read from its ``--help``.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from conftest import BIN, HOST, free_port, _pid_listens

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
REDIS_BENCHMARK = shutil.which("redis-benchmark") or "/usr/bin/redis-benchmark"


def encode(*args):
    """A command as a RESP array of bulk strings (str, bytes or int)."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, int):
            a = str(a).encode()
        elif isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Err(str):
    """An error reply (its text without the leading '-')."""


class Verbatim(bytes):
    """A RESP3 verbatim string (the text, its 'txt:' prefix removed)."""


class Map(list):
    """A RESP3 map, as a list of (key, value) pairs (order kept)."""


class Set(list):
    """A RESP3 set."""


class Double(float):
    """A RESP3 double."""


class Null:
    """A null reply: RESP2's $-1/*-1 and RESP3's _ (kind says which)."""

    def __init__(self, kind):
        self.kind = kind

    def __eq__(self, other):
        return isinstance(other, Null)

    def __hash__(self):
        return 0

    def __repr__(self):
        return "Null(%r)" % self.kind


class RespConn:
    """A blocking RESP client with a read buffer and bounded waits."""

    def __init__(self, port=None, path=None, timeout=5.0, host=HOST):
        if path is not None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(path)
        else:
            self.sock = socket.create_connection((host, port), timeout=timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = bytearray()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- sending
    def send(self, *args):
        self.sock.sendall(encode(*args))

    def send_raw(self, data):
        self.sock.sendall(data)

    # -- receiving
    def _fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _raw(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        out = [line, b"\r\n"]
        if t in (b"$", b"=", b"!"):
            n = int(rest)
            if n >= 0:
                out.append(self._exact(n + 2))
        elif t in (b"*", b"~", b">", b"%", b"|"):
            n = int(rest)
            if t in (b"%", b"|"):
                n *= 2
            for _ in range(max(n, 0)):
                out.append(self._raw())
        elif t not in (b"+", b"-", b":", b",", b"#", b"_", b"("):
            raise AssertionError("bad reply type in %r" % line[:100])
        return b"".join(out)

    def read_raw(self):
        """The bytes of exactly one reply."""
        return self._raw()

    def read(self):
        """One reply, decoded."""
        return decode(self._raw())

    def call(self, *args):
        self.send(*args)
        return self.read()

    def call_raw(self, *args):
        self.send(*args)
        return self.read_raw()

    def is_closed(self, wait=1.0):
        """True when the server closes the connection within `wait` s."""
        deadline = time.monotonic() + wait
        self.sock.settimeout(0.05)
        try:
            while time.monotonic() < deadline:
                try:
                    data = self.sock.recv(1 << 16)
                except socket.timeout:
                    continue
                except (ConnectionResetError, BrokenPipeError):
                    return True
                if not data:
                    return True
                self.buf += data
            return False
        finally:
            self.sock.settimeout(self.timeout)


def decode(raw):
    """RESP bytes (one whole reply) to a Python value."""
    value, pos = _decode(raw, 0)
    assert pos == len(raw), "trailing bytes after reply: %r" % raw[pos:pos + 50]
    return value


def _decode(raw, pos):
    eol = raw.index(b"\r\n", pos)
    t, rest = raw[pos:pos + 1], raw[pos + 1:eol]
    pos = eol + 2
    if t == b"+":
        return rest, pos
    if t == b"-":
        return Err(rest.decode(errors="replace")), pos
    if t == b":":
        return int(rest), pos
    if t == b"_":
        return Null("_"), pos
    if t == b"#":
        return rest == b"t", pos
    if t == b",":
        return Double(float(rest.decode())), pos
    if t == b"(":
        return int(rest), pos
    if t in (b"$", b"="):
        n = int(rest)
        if n < 0:
            return Null("$-1"), pos
        data = raw[pos:pos + n]
        assert raw[pos + n:pos + n + 2] == b"\r\n"
        if t == b"=":
            return Verbatim(data[4:]), pos + n + 2
        return data, pos + n + 2
    if t in (b"*", b"~", b">"):
        n = int(rest)
        if n < 0:
            return Null("*-1"), pos
        items = []
        for _ in range(n):
            v, pos = _decode(raw, pos)
            items.append(v)
        return (Set(items) if t == b"~" else items), pos
    if t == b"%":
        n = int(rest)
        pairs = Map()
        for _ in range(n):
            k, pos = _decode(raw, pos)
            v, pos = _decode(raw, pos)
            pairs.append((k, v))
        return pairs, pos
    raise AssertionError("bad reply type %r" % t)


class RedisServer:
    """Debian's redis-server on a free loopback port (no persistence)."""

    def __init__(self, extra=()):
        self.extra = list(extra)
        self.proc = None
        self.port = None
        self.dir = None

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="stashd-redis-")
        for _ in range(5):
            port = free_port()
            argv = [REDIS_SERVER, "--port", str(port), "--bind", HOST, "--save", "",
                    "--appendonly", "no", "--dir", self.dir] + self.extra
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    break
                if _pid_listens(proc.pid, port):
                    self.proc, self.port = proc, port
                    return self
                time.sleep(0.01)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def connect(self, timeout=5.0):
        return RespConn(self.port, timeout=timeout)


_HELP = None


def stashd_has_option(name):
    """Whether the binary under test lists --<name> in its --help."""
    global _HELP
    if _HELP is None:
        try:
            out = subprocess.run([BIN, "--help"], capture_output=True, timeout=10)
            _HELP = (out.stdout + out.stderr).decode(errors="replace")
        except (OSError, subprocess.SubprocessError):
            _HELP = ""
    return ("--" + name) in _HELP
