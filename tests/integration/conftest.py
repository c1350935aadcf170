"""Harness for the stashd integration tests.

The suite drives a real server binary over loopback sockets.  Which binary is
chosen by the environment variable STASHD_BIN (default: <repo>/build/stashd);
pointing it at Debian's memcached checks that the tests themselves encode
memcached 1.6's real behaviour:

    STASHD_BIN=/usr/bin/memcached /usr/bin/python3 -m pytest -q tests/integration

Pieces provided here:

* ``server`` -- a fixture factory.  ``server(args=["-m", "8"])`` starts the
  binary as ``BIN -u root -U 0 -l 127.0.0.1 -p PORT <args>`` on a free port
  (retrying on a port collision), waits until *that* process listens, and
  returns a :class:`Server`.  ``unix=True`` adds ``-s <temp path>`` and
  waits for (and connects through) the unix socket instead.  At teardown
  every client connection it handed out is closed, then the process gets
  SIGTERM.  A process that died during the test (any signal, any exit)
  fails the test.  The exit after SIGTERM is checked asynchronously:
  memcached needs ~1 s to notice SIGTERM (it polls a flag on its one-second
  clock tick), and waiting for that in every test would cost minutes, so
  stopped servers are reaped later (at the next teardown if already gone,
  else by a session-wide finaliser that SIGKILLs any that outlive
  STOP_TIMEOUT); crashes, sanitizer reports and non-zero exits are reported
  as an error naming the test that started the server.
* ``mc`` / ``conn`` -- a default server and one raw connection to it.
* :class:`Conn` -- a raw socket client: send bytes, read until a terminator
  or an exact length, all with timeouts, and ``expect()`` for exact replies.
* Markers: ``stashd_only`` (skipped against memcached: documented stashd
  differences) and ``time_limit(seconds)`` (per-test wall clock bound,
  default DEFAULT_TIME_LIMIT, enforced with SIGALRM as a backstop to the
  socket timeouts).
"""

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
MEMCACHED = "/usr/bin/memcached"
_ENV_BIN = os.environ.get("STASHD_BIN")
BIN = _ENV_BIN or str(REPO / "build" / "stashd")
IS_MEMCACHED = os.path.basename(os.path.realpath(BIN)).startswith("memcached")

HOST = "127.0.0.1"
SOCK_TIMEOUT = 5.0  # default timeout of every client socket operation
START_TIMEOUT = 10.0  # from exec to listening
STOP_TIMEOUT = 5.0  # from SIGTERM to exit
DEFAULT_TIME_LIMIT = 30.0  # per test, see the time_limit marker

CRASH_SIGNALS = {
    signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGILL,
    signal.SIGFPE, signal.SIGSYS, signal.SIGTRAP,
}
SANITIZER_MARKS = (b"AddressSanitizer", b"LeakSanitizer", b"ThreadSanitizer",
                   b"runtime error:", b"UndefinedBehaviorSanitizer")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "stashd_only: documents a deliberate stashd difference; "
        "skipped when STASHD_BIN is memcached")
    config.addinivalue_line(
        "markers", "time_limit(seconds): wall-clock bound for one test")


def pytest_report_header(config):
    kind = "memcached" if IS_MEMCACHED else "stashd"
    return f"integration binary: {BIN} ({kind})"


def pytest_collection_modifyitems(config, items):
    skip_mc = pytest.mark.skip(reason="stashd-only behaviour (differs from memcached)")
    for item in items:
        if IS_MEMCACHED and item.get_closest_marker("stashd_only"):
            item.add_marker(skip_mc)


# --------------------------------------------------------------------------
# Per-test time limit (pytest-timeout is not installed on Debian by default).

class TestTimeLimitExceeded(Exception):
    pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    marker = item.get_closest_marker("time_limit")
    limit = marker.args[0] if marker else DEFAULT_TIME_LIMIT

    def on_alarm(signum, frame):
        raise TestTimeLimitExceeded(f"test exceeded its time limit of {limit} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# --------------------------------------------------------------------------
# Raw socket client.

class Conn:
    """A blocking client socket with a read buffer and bounded waits."""

    def __init__(self, port, timeout=SOCK_TIMEOUT, host=HOST, family=None,
                 path=None):
        if path is not None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(path)
        else:
            self.sock = socket.create_connection((host, port), timeout=timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = bytearray()
        self.eof = False

    # -- sending
    def send(self, data):
        self.sock.sendall(data)

    def send_slowly(self, data, chunk=1, pause=0.0):
        """Send data in tiny pieces (one segment each, thanks to TCP_NODELAY)."""
        for i in range(0, len(data), chunk):
            self.sock.sendall(data[i:i + chunk])
            if pause:
                time.sleep(pause)

    # -- receiving
    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(1 << 20)
        finally:
            self.sock.settimeout(self.timeout)
        if not data:
            self.eof = True
            raise EOFError
        self.buf += data

    def read_until(self, term=b"\r\n", timeout=None):
        """Bytes up to and including the first `term`."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            i = self.buf.find(term)
            if i >= 0:
                out = bytes(self.buf[:i + len(term)])
                del self.buf[:i + len(term)]
                return out
            try:
                self._fill(deadline)
            except (socket.timeout, EOFError) as e:
                raise AssertionError(
                    f"no {term!r} before {'EOF' if isinstance(e, EOFError) else 'timeout'}; "
                    f"got {bytes(self.buf[:300])!r}") from None

    def read_exact(self, n, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buf) < n:
            try:
                self._fill(deadline)
            except (socket.timeout, EOFError) as e:
                raise AssertionError(
                    f"wanted {n} bytes, got {len(self.buf)} before "
                    f"{'EOF' if isinstance(e, EOFError) else 'timeout'}: "
                    f"{bytes(self.buf[:300])!r}") from None
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_available(self, wait=0.1):
        """Whatever arrives within `wait` seconds (b"" if nothing)."""
        deadline = time.monotonic() + wait
        try:
            while True:
                self._fill(deadline)
        except (socket.timeout, EOFError):
            pass
        except ConnectionResetError:
            self.eof = True
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def line(self, data=None):
        if data is not None:
            self.send(data)
        return self.read_until(b"\r\n")

    def expect(self, data, expected, timeout=None):
        """Send `data`, then require exactly the bytes `expected` to come back."""
        if data:
            self.send(data)
        got = self.read_exact_lenient(len(expected), timeout)
        assert got == expected, f"reply mismatch for {data[:200]!r}"
        return got

    def read_exact_lenient(self, n, timeout=None):
        """Like read_exact, but return a short read (for a readable diff)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            while len(self.buf) < n:
                self._fill(deadline)
        except (socket.timeout, EOFError, ConnectionResetError):
            pass
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def get_value(self, key, cmd=b"get"):
        """(flags, value[, cas]) of one key, or None."""
        self.send(cmd + b" " + key + b"\r\n")
        hdr = self.read_until()
        if hdr == b"END\r\n":
            return None
        parts = hdr.split()
        assert parts[0] == b"VALUE" and parts[1] == key, hdr
        n = int(parts[3])
        data = self.read_exact(n + 2)
        assert data[-2:] == b"\r\n", data[-10:]
        assert self.read_until() == b"END\r\n"
        if len(parts) == 5:
            return int(parts[2]), data[:-2], int(parts[4])
        return int(parts[2]), data[:-2]

    def store(self, key, value, flags=0, exptime=0, cmd=b"set"):
        self.send(b"%s %s %d %d %d\r\n%s\r\n" % (cmd, key, flags, exptime,
                                                len(value), value))
        return self.read_until()

    def stats(self, sub=b""):
        """`stats [sub]` as an ordered dict name -> value (both str)."""
        self.send(b"stats" + (b" " + sub if sub else b"") + b"\r\n")
        out = {}
        while True:
            line = self.read_until()
            if line == b"END\r\n":
                return out
            assert line.startswith(b"STAT ") and line.endswith(b"\r\n"), line
            _, name, value = line[:-2].decode().split(" ", 2)
            out[name] = value

    def is_closed(self, wait=1.0):
        """True when the server closes the connection within `wait` seconds."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                self._fill(deadline)
            except EOFError:
                return True
            except ConnectionResetError:
                return True
            except socket.timeout:
                return False
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------
# Server processes.

_handed_out = set()


def free_port():
    """A free port, never one handed out before in this run: a server's -p
    and its --resp-port or --tls-port, taken back to back, must differ
    (the kernel may offer a port again as soon as it is closed)."""
    for _ in range(1000):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port left that was not handed out before")


def _listening_inodes(port):
    """Socket inodes listening on 127.0.0.1:port or a wildcard address."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    addr, hexport = cols[1].rsplit(":", 1)
                    if cols[3] == "0A" and int(hexport, 16) == port:
                        inodes.add(cols[9])
        except OSError:
            pass
    return inodes


def _pid_listens(pid, port):
    """True when `pid` listens on `port` and nobody else does.

    The second half matters for SO_REUSEPORT servers: two of them (say, from
    two test sessions racing for the same free port) can both bind the port,
    and the kernel would then spread our connections over both.
    Returns None when the other listener is not ours (a collision).
    """
    if not os.path.exists("/proc/net/tcp"):  # not Linux: trust a connect
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return True
        except OSError:
            return False
    inodes = _listening_inodes(port)
    if not inodes:
        return False
    mine = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                mine.add(link[8:-1])
    except OSError:
        return False
    if not mine:
        return False
    return True if mine == inodes else None


def _describe_rc(rc):
    if rc is None:
        return "still running"
    if rc < 0:
        try:
            return f"killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exit status {rc}"


class ServerStartError(Exception):
    pass


class Server:
    """One server process on a loopback port."""

    def __init__(self, binary, args, owner, unix=False):
        self.unix = unix  # -s <unix_path>: memcached then drops TCP
        self.unix_path = None
        self.binary = binary
        self.args = [str(a) for a in args]
        self.owner = owner  # test node id, for error messages
        self.proc = None
        self.port = None
        self.log = None
        self.conns = []
        self.stopped_at = None
        self.expected_exit = False
        self.killed = False  # SIGKILLed on purpose: see kill()

    @property
    def pid(self):
        return self.proc.pid

    @property
    def is_memcached(self):
        return os.path.basename(os.path.realpath(self.binary)).startswith("memcached")

    def start(self):
        last = ""
        for _attempt in range(5):
            port = free_port()
            argv = [self.binary, "-u", "root", "-U", "0", "-l", HOST,
                    "-p", str(port)] + self.args
            if self.unix:
                self.unix_path = os.path.join(tempfile.mkdtemp(prefix="stashd-it-"),
                                              "sock")
                argv += ["-s", self.unix_path]
            log = tempfile.TemporaryFile()
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT,
                                    start_new_session=True)
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                rc = proc.poll()
                if rc is not None:
                    log.seek(0)
                    last = log.read().decode(errors="replace")
                    log.close()
                    if "in use" in last.lower():
                        break  # port collision: retry on another port
                    raise ServerStartError(
                        f"{' '.join(argv)} exited at start-up ({_describe_rc(rc)}):\n{last}")
                ready = self._ready(proc, port)
                if ready is None:  # shares the port with a foreign listener
                    proc.kill()
                    proc.wait()
                    log.close()
                    last = f"port {port} shared with another process"
                    break
                if ready:
                    self.proc, self.port, self.log, self.argv = proc, port, log, argv
                    return self
                if time.monotonic() > deadline:
                    proc.kill()
                    proc.wait()
                    raise ServerStartError(f"{' '.join(argv)} did not listen on "
                                           f"{HOST}:{port} within {START_TIMEOUT} s")
                time.sleep(0.003)
        raise ServerStartError(f"no free port after 5 attempts; last log:\n{last}")

    def _ready(self, proc, port):
        if not self.unix:
            return _pid_listens(proc.pid, port)
        try:
            Conn(None, timeout=1, path=self.unix_path).close()
            return True
        except OSError:
            return False

    def connect(self, timeout=SOCK_TIMEOUT):
        """A raw connection: over the unix socket when started with unix=True."""
        if self.unix:
            c = Conn(None, timeout=timeout, path=self.unix_path)
        else:
            c = Conn(self.port, timeout=timeout)
        self.conns.append(c)
        return c

    def stats(self, sub=b""):
        c = self.connect()
        try:
            return c.stats(sub)
        finally:
            c.close()

    def alive(self):
        return self.proc.poll() is None

    def wait_exit(self, timeout=STOP_TIMEOUT):
        """Wait for an exit the test caused on purpose (e.g. `shutdown`)."""
        self.expected_exit = True
        return self.proc.wait(timeout=timeout)

    def kill(self, timeout=STOP_TIMEOUT):
        """SIGKILL on purpose (the crash or OOM kill a test simulates): the
        exit status is not held against it (sanitizer reports still are)."""
        self.killed = self.expected_exit = True
        self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(timeout=timeout)

    def rss_kb(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def output(self):
        if self.log is None or self.log.closed:
            return b""
        self.log.seek(0)
        return self.log.read()

    def close_clients(self):
        for c in self.conns:
            c.close()
        self.conns.clear()

    def check_alive(self):
        """Fail when the server died during the test."""
        rc = self.proc.poll()
        if rc is not None:
            raise AssertionError(
                f"server {' '.join(self.argv)} died during the test "
                f"({_describe_rc(rc)}); output:\n"
                f"{self.output()[-3000:].decode(errors='replace')}")

    def terminate(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.stopped_at = time.monotonic()

    def reap_problem(self):
        """Wait for the exit that SIGTERM asked for; a string on any problem."""
        problem = None
        try:
            left = max(0.0, self.stopped_at + STOP_TIMEOUT - time.monotonic())
            rc = self.proc.wait(timeout=left)
        except subprocess.TimeoutExpired:
            stacks = _thread_stacks(self.proc.pid)
            self.proc.kill()
            self.proc.wait()
            problem = f"did not exit within {STOP_TIMEOUT} s of SIGTERM (SIGKILLed)"
            if stacks:
                problem += f"; its threads then:\n{stacks}"
            rc = None
        out = self.output()
        if problem is None:
            if self.killed:
                pass
            elif rc < 0 and -rc in CRASH_SIGNALS:
                problem = f"crashed: {_describe_rc(rc)}"
            elif rc not in (0, -signal.SIGTERM):
                problem = f"bad exit after SIGTERM: {_describe_rc(rc)}"
            if any(m in out for m in SANITIZER_MARKS):
                problem = "sanitizer report in output"
        if self.log is not None:
            self.log.close()
        if self.unix_path:
            shutil.rmtree(os.path.dirname(self.unix_path), ignore_errors=True)
        if problem:
            return (f"{self.owner}: server {' '.join(self.argv)} {problem}; output:\n"
                    f"{out[-3000:].decode(errors='replace')}")
        return None


def _thread_stacks(pid):
    """Every thread's backtrace of a live process (gdb, where installed),
    so that a server that hangs on stop says where; "" when it cannot."""
    gdb = shutil.which("gdb")
    if gdb is None:
        return ""
    try:
        p = subprocess.run([gdb, "-p", str(pid), "-batch", "-nx", "-ex", "thread apply all bt"],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    lines = [l for l in p.stdout.decode(errors="replace").splitlines()
             if l.startswith(("Thread ", "#"))]
    return _signal_state(pid) + "\n".join(lines)[-6000:]


def _signal_state(pid):
    """Each thread's pending, blocked and caught signals (/proc), as hex
    masks: says whether a signal that was never handled is still pending,
    and where it is blocked."""
    out = []
    try:
        for tid in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                st = dict(l.split(":", 1) for l in f if ":" in l)
            out.append(f"task {tid} {st['Name'].strip()}: " + " ".join(
                f"{k}={st[k].strip()}" for k in ("SigPnd", "ShdPnd", "SigBlk", "SigCgt")))
    except OSError:
        return ""
    return "\n".join(out) + "\n"


_stopping = []  # servers sent SIGTERM whose exit is not yet checked


@pytest.fixture(scope="session", autouse=True)
def _reap_servers():
    if not IS_MEMCACHED and not os.access(BIN, os.X_OK):
        if _ENV_BIN:
            pytest.exit(f"STASHD_BIN={BIN} is not an executable", returncode=2)
        pytest.skip(f"{BIN} not built (cmake -S . -B build && cmake --build build)")
    yield
    problems = [p for p in (s.reap_problem() for s in _stopping) if p]
    _stopping.clear()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


def _reap_finished():
    """Check servers that already exited; keep the rest for later."""
    problems = []
    for s in list(_stopping):
        if s.proc.poll() is not None:
            _stopping.remove(s)
            p = s.reap_problem()
            if p:
                problems.append(p)
    return problems


@pytest.fixture
def server(request):
    """Factory: server(args=(), binary=None, unix=False) -> a started Server."""
    started = []

    def start(args=(), binary=None, unix=False):
        s = Server(binary or BIN, list(args), request.node.nodeid, unix=unix)
        s.start()
        started.append(s)
        return s

    yield start
    crashed = []
    for s in started:
        s.close_clients()
        if s.proc.poll() is not None and not s.expected_exit:
            crashed.append(s)
    for s in started:
        if s not in crashed:
            s.terminate()  # a no-op for one that exited on purpose
            _stopping.append(s)
    # A server that exits promptly on SIGTERM (stashd should) is checked here,
    # attributing any problem to this test; slow ones at session end.
    deadline = time.monotonic() + 0.02
    while time.monotonic() < deadline and any(s.proc.poll() is None for s in started):
        time.sleep(0.005)
    problems = _reap_finished()
    for s in crashed:
        try:
            s.check_alive()
        except AssertionError as e:
            problems.append(str(e))
        if s.log is not None:
            s.log.close()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def mc(server):
    """A server with default arguments."""
    return server()


@pytest.fixture
def conn(mc):
    """A raw connection to `mc`."""
    return mc.connect()
