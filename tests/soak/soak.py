#!/usr/bin/python3
"""Soak under faults: mixed load on a real stashd while clients misbehave.

    /usr/bin/python3 tests/soak/soak.py --bin build/stashd --duration 60    # CI
    /usr/bin/python3 tests/soak/soak.py --bin build/stashd --duration 1800  # documented

Loopback only; stdlib only.  Every loop is bounded in count and in time, and
every process it starts (the server, load and stopped-client children) is
killed by PID on the way out.

What runs for --duration seconds:

  load         --load-procs child processes, each one well-behaved client
               doing get / set / multi-get / delete / incr on its own keys
               with checksummed values; each measures its request latency.
  verifier     a thread owning a small key set that always fits in memory:
               it rewrites and reads back every key, checking each value and
               that no acknowledged write was lost.
  client faults (threads, all the time):
    disconnect   connects, sends half a value, closes (half of them by RST)
    slowloris    connections that send one byte a second
    non-reader   --nonreaders (24) connections at a time that pipeline
                 gets of 100 kB values (200 MB asked) and never read,
                 replaced every 4 s: more than the connection-buffer
                 budget, so some are closed (conns_closed_output)
    sigstop      a child process reading big multi-gets, SIGSTOPped for a
                 few seconds, then SIGCONTed or SIGKILLed
    conn burst   -c + 50 connections at once: the excess must be refused
                 with "ERROR Too many open connections", the rest served
  lossy events (one thread, in turn every --event-interval seconds):
    flush_all, cache_memlimit -m/2 for 2 s then back, an eviction burst
    (1.5 x -m of junk).

Checks (any failure -> SOAK FAIL, exit 1):

  * no corrupted value, ever, on any connection (values carry key, length
    and a digest of both; the body is derived from them);
  * no lost acknowledged write: a verifier key that was written, acked and
    not overwritten must read back unless a lossy event (above) or an
    eviction (stats "evictions" moved) happened in between; such excused
    misses are counted, and at least half of the reads must be strict;
  * no store refused ("SERVER_ERROR out of memory storing object") outside
    a lossy event and the OOM_GRACE_S after it: evictions are on;
  * the server never crashes and exits 0 on SIGTERM; every connection it
    held is released once the clients are gone;
  * peak RSS (from /proc, sampled every 50 ms) <= -m + -m/8 + 48 MiB + the
    64 MiB connection-buffer budget (README "Memory");
  * well-behaved clients stay served: latency p99 <= --max-p99-ms and max
    <= --max-latency-ms, and they are never disconnected.

It prints one line, `SOAK PASS ...` or `SOAK FAIL ...` with the numbers.
"""

import argparse
import hashlib
import json
import math
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

HOST = "127.0.0.1"
MB = 1 << 20
TOO_MANY = b"ERROR Too many open connections\r\n"
OOM = b"SERVER_ERROR out of memory storing object\r\n"
# After a lossy event the store may refuse stores for a moment while it
# evicts and moves pages; refusals this long after one are still excused.
OOM_GRACE_S = 2.0


# --------------------------------------------------------------------------
# values

def make_value(key, seed, n):
    """key|seed|n| then n bytes derived from all three."""
    head = b"%s|%d|%d|" % (key, seed, n)
    digest = hashlib.sha1(head).hexdigest().encode()
    return head + (digest * (n // len(digest) + 1))[:n]


def check_value(key, value):
    """None when value is a whole value written for key, else why not."""
    parts = value.split(b"|", 3)
    if len(parts) != 4 or parts[0] != key:
        return f"foreign or garbled value for {key!r}: {value[:60]!r}"
    try:
        seed, n = int(parts[1]), int(parts[2])
    except ValueError:
        return f"garbled header for {key!r}: {value[:60]!r}"
    if make_value(key, seed, n) != value:
        return f"corrupt value for {key!r} ({len(value)} bytes, header says {n})"
    return None


def log_uniform(rng, lo, hi):
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


# --------------------------------------------------------------------------
# a small blocking client

class Closed(Exception):
    pass


class Client:
    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.timeout = timeout

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise Closed(str(e)) from None

    def _fill(self):
        try:
            d = self.sock.recv(1 << 20)
        except socket.timeout:
            raise Closed("timeout") from None
        except OSError as e:
            raise Closed(str(e)) from None
        if not d:
            raise Closed("EOF")
        self.buf += d

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out = bytes(self.buf[:i + 2])
                del self.buf[:i + 2]
                return out
            self._fill()

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def values(self):
        """Read VALUE blocks up to END: [(key, data)]."""
        out = []
        while True:
            ln = self.line()
            if ln == b"END\r\n":
                return out
            if ln == TOO_MANY:
                # Connected during a burst past -c: refused, not corrupt.
                raise Closed("refused: too many open connections")
            parts = ln.split()
            if len(parts) < 4 or parts[0] != b"VALUE":
                raise AssertionError(f"unexpected reply line {ln[:80]!r}")
            data = self.exact(int(parts[3]) + 2)
            if data[-2:] != b"\r\n":
                raise AssertionError(f"value of {parts[1]!r} not followed by CRLF")
            out.append((parts[1], data[:-2]))

    def set(self, key, value):
        self.send(b"set %s 0 0 %d\r\n%s\r\n" % (key, len(value), value))
        return self.line()

    def stats(self):
        self.send(b"stats\r\n")
        st = {}
        while True:
            ln = self.line()
            if ln == b"END\r\n":
                return st
            _, k, v = ln.decode().rstrip().split(" ", 2)
            st[k] = v


# --------------------------------------------------------------------------
# child roles

def role_load(a):
    """One well-behaved client; prints a JSON report at the end."""
    rng = random.Random(a.seed)
    deadline = time.monotonic() + a.duration
    keys = [b"%s:%d" % (a.prefix.encode(), i) for i in range(a.keys)]
    counters = [b"%s:ctr:%d" % (a.prefix.encode(), i) for i in range(4)]
    rep = {"ops": 0, "corrupt": 0, "errors": 0, "lost_conn": 0, "samples": [], "lat": [],
           "oom_at": []}
    try:
        c = Client(a.port, timeout=30)
    except OSError as e:
        rep["lost_conn"] = 1
        rep["samples"].append(f"connect: {e}")
        print(json.dumps(rep), flush=True)
        return
    lat = []
    try:
        while time.monotonic() < deadline and rep["ops"] < 10_000_000:
            op = rng.random()
            t0 = time.monotonic()
            if op < 0.30:
                k = rng.choice(keys)
                v = make_value(k, rng.randrange(1 << 30), log_uniform(rng, 10, a.max_value))
                r = c.set(k, v)
                if r == OOM:
                    if len(rep["oom_at"]) < 10000:
                        rep["oom_at"].append(time.monotonic())
                elif r != b"STORED\r\n":
                    rep["errors"] += 1
                    rep["samples"].append(f"set: {r!r}")
            elif op < 0.70:
                k = rng.choice(keys)
                c.send(b"get %s\r\n" % k)
                for key, val in c.values():
                    why = check_value(key, val)
                    if why:
                        rep["corrupt"] += 1
                        rep["samples"].append(why)
            elif op < 0.82:
                ks = rng.sample(keys, 20)
                c.send(b"get " + b" ".join(ks) + b"\r\n")
                for key, val in c.values():
                    why = check_value(key, val) if key in ks else f"unasked key {key!r}"
                    if why:
                        rep["corrupt"] += 1
                        rep["samples"].append(why)
            elif op < 0.90:
                c.send(b"delete %s\r\n" % rng.choice(keys))
                r = c.line()
                if r not in (b"DELETED\r\n", b"NOT_FOUND\r\n"):
                    rep["errors"] += 1
                    rep["samples"].append(f"delete: {r!r}")
            else:
                k = rng.choice(counters)
                c.send(b"incr %s 1\r\n" % k)
                r = c.line()
                if r == b"NOT_FOUND\r\n":
                    c.send(b"add %s 0 0 1\r\n0\r\n" % k)
                    r = c.line()
                    if r == OOM:
                        if len(rep["oom_at"]) < 10000:
                            rep["oom_at"].append(time.monotonic())
                    elif r not in (b"STORED\r\n", b"NOT_STORED\r\n"):
                        rep["errors"] += 1
                        rep["samples"].append(f"add: {r!r}")
                elif not r.rstrip().isdigit():
                    rep["errors"] += 1
                    rep["samples"].append(f"incr: {r!r}")
            lat.append(time.monotonic() - t0)
            rep["ops"] += 1
    except Closed as e:
        rep["lost_conn"] += 1
        rep["samples"].append(f"server closed a well-behaved client: {e}")
    except AssertionError as e:
        rep["corrupt"] += 1
        rep["samples"].append(str(e))
    c.close()
    rep["lat"] = sorted(lat)[-2000:] if lat else []
    rep["p99"] = percentile(sorted(lat), 0.99)
    rep["p50"] = percentile(sorted(lat), 0.50)
    rep["max"] = max(lat) if lat else 0.0
    rep["samples"] = rep["samples"][:5]
    del rep["lat"]
    print(json.dumps(rep), flush=True)


def role_stopped(a):
    """Reads big multi-gets until told to stop (or stopped by signals)."""
    deadline = time.monotonic() + a.duration
    rep = {"values": 0, "corrupt": 0, "closed": 0, "samples": []}
    try:
        c = Client(a.port, timeout=30)
        keys = [b"big:%d" % i for i in range(10)]
        while time.monotonic() < deadline:
            # several multi-gets in flight: ~4 MB of replies outstanding
            c.send((b"get " + b" ".join(keys) + b"\r\n") * 4)
            for _ in range(4):
                for k, v in c.values():
                    why = check_value(k, v)
                    if why:
                        rep["corrupt"] += 1
                        rep["samples"].append(why)
                    rep["values"] += 1
    except Closed:
        rep["closed"] = 1  # shed, idle-closed or refused: all allowed
    except OSError:
        rep["closed"] = 1
    except AssertionError as e:
        rep["corrupt"] += 1
        rep["samples"].append(str(e))
    print(json.dumps(rep), flush=True)


def percentile(sorted_vals, q):
    if not sorted_vals:
        return 0.0
    return sorted_vals[min(len(sorted_vals) - 1, int(q * len(sorted_vals)))]


# --------------------------------------------------------------------------
# the conductor

class Soak:
    def __init__(self, a):
        self.a = a
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.epoch = 0  # bumped before and after every lossy event
        self.counts = {k: 0 for k in (
            "disconnects", "slowloris", "nonreaders", "sigstops", "sigkills", "bursts",
            "rejected", "flushes", "memlimits", "evict_bursts", "verify_reads",
            "verify_writes", "excused_misses")}
        self.failures = []
        self.children = []  # every Popen started, killed by PID at the end
        self.rss_peak_kb = 0
        self.windows = []  # (start, end, kind) of lossy events, time.monotonic()
        self.oom_at = []  # verifier's refused stores
        self.server = None
        self.port = None

    # -- bookkeeping
    def fail(self, why):
        with self.lock:
            if len(self.failures) < 20:
                self.failures.append(why)

    def count(self, name, n=1):
        with self.lock:
            self.counts[name] += n

    def lossy(self, fn, name):
        """Run a lossy event inside two epoch bumps, recording its window."""
        with self.lock:
            self.epoch += 1
        t0 = time.monotonic()
        try:
            fn()
        finally:
            with self.lock:
                self.epoch += 1
            self.windows.append((t0, time.monotonic(), name))

    def oom_outside_windows(self, times):
        """Store refusals not explained by a lossy event (with grace)."""
        return [t for t in times
                if not any(a <= t <= b + OOM_GRACE_S for a, b, _ in self.windows)]

    def oom_by_event(self, times):
        """Refusals per kind of the lossy event whose window they fell in."""
        by = {}
        for t in times:
            for a, b, name in self.windows:
                if a <= t <= b + OOM_GRACE_S:
                    by[name] = by.get(name, 0) + 1
                    break
        return ",".join(f"{k}:{v}" for k, v in sorted(by.items())) or "none"

    def alive(self):
        return self.server.poll() is None

    def running(self):
        return not self.stop.is_set() and self.alive()

    # -- server
    def start_server(self):
        a = self.a
        for _ in range(5):
            with socket.socket() as s:
                s.bind((HOST, 0))
                port = s.getsockname()[1]
            argv = [a.bin] + (["-u", "root"] if os.geteuid() == 0 else []) + [
                "-U", "0", "-l", HOST, "-p", str(port), "-m", str(a.memory),
                "-t", str(a.threads), "-c", str(a.conns), "-o", "idle_timeout=10"]
            self.log = open(os.path.join(a.workdir, "stashd-soak.log"), "wb")
            self.server = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                           stderr=subprocess.STDOUT, start_new_session=True)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.server.poll() is None:
                try:
                    socket.create_connection((HOST, port), timeout=1).close()
                    self.port = port
                    return
                except OSError:
                    time.sleep(0.02)
            self.kill_server()
        raise SystemExit("SOAK FAIL could not start the server")

    def kill_server(self):
        if self.server is not None and self.server.poll() is None:
            self.server.kill()
            self.server.wait()

    def sample_rss(self):
        while not self.stop.is_set():
            try:
                with open(f"/proc/{self.server.pid}/status") as f:
                    for ln in f:
                        if ln.startswith("VmRSS:"):
                            self.rss_peak_kb = max(self.rss_peak_kb, int(ln.split()[1]))
            except OSError:
                pass
            self.stop.wait(0.05)

    def spawn(self, role, *extra):
        p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--role", role,
                              "--port", str(self.port)] + [str(x) for x in extra],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, start_new_session=True)
        with self.lock:
            self.children.append(p)
        return p

    def put_big_values(self, c):
        for i in range(10):
            k = b"big:%d" % i
            r = c.set(k, make_value(k, i, 100 * 1000))
            if r not in (b"STORED\r\n", b"SERVER_ERROR out of memory storing object\r\n"):
                self.fail(f"set {k!r}: {r!r}")

    # -- verifier: lost writes and corruption on a key set that fits
    def verifier(self):
        rng = random.Random(self.a.seed + 1)
        keys = [b"verify:%d" % i for i in range(self.a.verify_keys)]
        acked = {}  # key -> (value, epoch at write, evictions before write)
        try:
            c = Client(self.port, timeout=30)
        except OSError as e:
            self.fail(f"verifier could not connect: {e}")
            return
        rounds = 0
        try:
            while self.running() and rounds < 1_000_000:
                rounds += 1
                self.stop.wait(0.002)  # leave the CPU to the load and the faults
                ev_before = int(c.stats()["evictions"])
                with self.lock:
                    ep = self.epoch
                # write a batch, pipelined
                batch = rng.sample(keys, 20)
                vals = {k: make_value(k, rng.randrange(1 << 30), rng.randrange(10, 2000))
                        for k in batch}
                c.send(b"".join(b"set %s 0 0 %d\r\n%s\r\n" % (k, len(v), v)
                                for k, v in vals.items()))
                for k in batch:
                    r = c.line()
                    if r == b"STORED\r\n":
                        acked[k] = (vals[k], ep, ev_before)
                        self.count("verify_writes")
                    elif r == OOM:
                        acked.pop(k, None)  # the old value may be gone too
                        self.oom_at.append(time.monotonic())
                    else:
                        self.fail(f"verifier set {k!r}: {r!r}")
                # read a batch back (including keys written long ago)
                ask = rng.sample(keys, 40)
                c.send(b"get " + b" ".join(ask) + b"\r\n")
                got = dict(c.values())
                with self.lock:
                    ep_now = self.epoch
                ev_now = None
                for k in ask:
                    self.count("verify_reads")
                    if k in got:
                        why = check_value(k, got[k])
                        if why:
                            self.fail(why)
                        elif k in acked and got[k] != acked[k][0]:
                            self.fail(f"stale value for {k!r}: not the last acknowledged write")
                        continue
                    if k not in acked:
                        continue
                    _, wep, wev = acked[k]
                    if ev_now is None:
                        ev_now = int(c.stats()["evictions"])
                    if wep != ep_now or ev_now != wev or wep % 2 == 1:
                        self.count("excused_misses")  # a lossy window: allowed
                        del acked[k]
                    else:
                        self.fail(f"lost acknowledged write of {k!r} "
                                  f"(no flush, memlimit change or eviction since)")
                        del acked[k]
        except Closed as e:
            if self.running():
                self.fail(f"server closed the verifier: {e}")
        except AssertionError as e:
            self.fail(f"verifier: {e}")
        finally:
            c.close()

    # -- client faults
    def fault_disconnects(self):
        rng = random.Random(self.a.seed + 2)
        for i in range(1_000_000):
            if not self.running():
                return
            try:
                s = socket.create_connection((HOST, self.port), timeout=5)
                n = rng.choice((100, 5000, 200000))
                s.sendall(b"set half:%d 0 0 %d\r\n" % (i % 50, n) + b"x" * rng.randrange(n))
                if i % 2:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
                self.count("disconnects")
            except OSError:
                pass
            self.stop.wait(0.05)

    def fault_slowloris(self):
        conns = []
        payload = b"set slow 0 0 10\r\n0123456789\r\n"
        for tick in range(1_000_000):
            if not self.running():
                break
            while len(conns) < 20:
                try:
                    conns.append([socket.create_connection((HOST, self.port), timeout=5), 0])
                    self.count("slowloris")
                except OSError:
                    break
            for entry in list(conns):
                s, pos = entry
                try:
                    s.sendall(payload[pos % len(payload):pos % len(payload) + 1])
                    entry[1] = pos + 1
                except OSError:
                    s.close()  # idle-closed (partial requests do not count as activity)
                    conns.remove(entry)
            self.stop.wait(1.0)
        for s, _ in conns:
            s.close()

    def fault_nonreaders(self):
        rounds = 0
        while self.running() and rounds < 100_000:
            rounds += 1
            socks = []
            for _ in range(self.a.nonreaders):
                try:
                    s = socket.socket()
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
                    s.settimeout(5)
                    s.connect((HOST, self.port))
                    s.setblocking(False)
                    req = b"get big:0 big:1 big:2 big:3 big:4\r\n" * 400
                    try:
                        s.send(req)
                    except OSError:
                        pass
                    socks.append(s)
                    self.count("nonreaders")
                except OSError:
                    pass
            self.stop.wait(4.0)
            for s in socks:
                s.close()

    def fault_sigstop(self):
        rng = random.Random(self.a.seed + 3)
        rounds = 0
        while self.running() and rounds < 100_000:
            rounds += 1
            p = self.spawn("stopped", "--duration", 30)
            self.stop.wait(1.0)
            try:
                os.kill(p.pid, signal.SIGSTOP)
                self.count("sigstops")
                self.stop.wait(rng.uniform(2, 5))
                if rng.random() < 0.5:
                    os.kill(p.pid, signal.SIGKILL)
                    self.count("sigkills")
                else:
                    os.kill(p.pid, signal.SIGCONT)
                    self.stop.wait(1.0)
                    os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
            out = p.stdout.read().decode(errors="replace").strip()
            p.stdout.close()
            if out:
                try:
                    rep = json.loads(out.splitlines()[-1])
                    if rep.get("corrupt"):
                        self.fail(f"stopped client saw corruption: {rep['samples'][:2]}")
                except ValueError:
                    pass  # killed mid-print

    def fault_bursts(self):
        rounds = 0
        while self.running() and rounds < 10_000:
            rounds += 1
            self.stop.wait(7.0)
            if not self.running():
                return
            socks = []
            deadline = time.monotonic() + 10
            for _ in range(self.a.conns + 50):
                if time.monotonic() > deadline:
                    break
                try:
                    socks.append(socket.create_connection((HOST, self.port), timeout=5))
                except OSError:
                    pass  # backlog overflow: a refusal is fine
            rejected = 0
            for s in socks:
                s.settimeout(0.5)
                try:
                    s.sendall(b"version\r\n")
                    d = b""
                    while not d.endswith(b"\r\n"):
                        chunk = s.recv(100)
                        if not chunk:
                            break
                        d += chunk
                    if d == TOO_MANY:
                        rejected += 1
                    elif not d.startswith(b"VERSION "):
                        self.fail(f"burst connection got {d[:60]!r}")
                except OSError:
                    pass
            for s in socks:
                s.close()
            self.count("bursts")
            self.count("rejected", rejected)
            if socks and rejected == 0:
                self.fail(f"a burst of {len(socks)} connections past -c {self.a.conns} "
                          "was not refused")

    # -- lossy events
    def events(self):
        try:
            c = Client(self.port, timeout=30)
        except OSError as e:
            self.fail(f"events could not connect: {e}")
            return
        m = self.a.memory
        i = 0
        try:
            while self.running() and i < 100_000:
                self.stop.wait(self.a.event_interval)
                if not self.running():
                    break
                kind = i % 3
                i += 1
                if kind == 0:
                    def flush():
                        c.send(b"flush_all\r\n")
                        r = c.line()
                        if r != b"OK\r\n":
                            self.fail(f"flush_all: {r!r}")
                    self.lossy(flush, "flush")
                    self.count("flushes")
                elif kind == 1:
                    def memlimit():
                        for mb, pause in ((max(8, m // 2), 2.0), (m, 0.5)):
                            c.send(b"cache_memlimit %d\r\n" % mb)
                            r = c.line()
                            if r != b"OK\r\n":
                                self.fail(f"cache_memlimit {mb}: {r!r}")
                            self.stop.wait(pause)
                    self.lossy(memlimit, "memlimit")
                    self.count("memlimits")
                else:
                    def burst():
                        v = b"j" * 100_000
                        n = m * MB * 3 // 2 // len(v)
                        for j in range(0, n, 16):
                            c.send(b"".join(b"set junk:%d 0 0 %d\r\n%s\r\n" % (k, len(v), v)
                                            for k in range(j, min(n, j + 16))))
                            for _ in range(j, min(n, j + 16)):
                                r = c.line()
                                if r not in (b"STORED\r\n",
                                             b"SERVER_ERROR out of memory storing object\r\n"):
                                    self.fail(f"eviction burst set: {r!r}")
                    self.lossy(burst, "burst")
                    self.count("evict_bursts")
                self.put_big_values(c)
        except Closed as e:
            if self.running():
                self.fail(f"server closed the event client: {e}")
        finally:
            c.close()

    # -- run
    def run(self):
        a = self.a
        started = time.monotonic()
        self.start_server()
        threads = []
        loads = []
        try:
            threading.Thread(target=self.sample_rss, daemon=True).start()
            setup = Client(self.port, timeout=30)
            self.put_big_values(setup)
            setup.close()  # idle for the whole run: the idle timeout would close it
            for i in range(a.load_procs):
                loads.append(self.spawn("load", "--duration", a.duration, "--seed", a.seed + 10 + i,
                                        "--prefix", f"load{i}", "--keys", a.load_keys,
                                        "--max-value", a.max_value))
            for fn in (self.verifier, self.fault_disconnects, self.fault_slowloris,
                       self.fault_nonreaders, self.fault_sigstop, self.fault_bursts, self.events):
                t = threading.Thread(target=fn, daemon=True)
                t.start()
                threads.append(t)
            end = started + a.duration
            while time.monotonic() < end and self.alive():
                time.sleep(0.2)
            self.stop.set()
            for t in threads:
                t.join(30)
                if t.is_alive():
                    self.fail(f"a soak thread ({t.name}) did not stop")
            reports = []
            for p in loads:
                try:
                    out, _ = p.communicate(timeout=60)
                    reports.append(json.loads(out.decode().strip().splitlines()[-1]))
                except (subprocess.TimeoutExpired, ValueError, IndexError) as e:
                    self.fail(f"load process {p.pid} gave no report: {e}")
            if not self.alive():
                self.fail(f"server died: exit {self.server.returncode}")
            else:
                # every faulty client is gone: the server must let go of them
                final = Client(self.port, timeout=30)
                deadline = time.monotonic() + 15
                while True:
                    cur = int(final.stats()["curr_connections"])
                    if cur <= 1:  # this one
                        break
                    if time.monotonic() > deadline:
                        self.fail(f"{cur - 1} connections still open after the clients left")
                        break
                    time.sleep(0.2)
                st = final.stats()
                final.close()
            return self.summary(reports, st if self.alive() else {}, time.monotonic() - started)
        finally:
            self.stop.set()
            with self.lock:
                kids = list(self.children)
            for p in kids:
                if p.poll() is None:
                    try:
                        p.kill()
                    except ProcessLookupError:
                        pass
                    p.wait()
                if p.stdout and not p.stdout.closed:
                    p.stdout.close()
            if self.server.poll() is None:
                self.server.send_signal(signal.SIGTERM)
                try:
                    rc = self.server.wait(timeout=15)
                    if rc != 0:
                        self.fail(f"server exit status {rc} after SIGTERM")
                except subprocess.TimeoutExpired:
                    self.fail("server did not exit within 15 s of SIGTERM")
                    self.kill_server()
            self.log.close()

    def summary(self, reports, st, elapsed):
        a = self.a
        ops = sum(r["ops"] for r in reports)
        corrupt = sum(r["corrupt"] for r in reports)
        errors = sum(r["errors"] for r in reports)
        lost_conn = sum(r["lost_conn"] for r in reports)
        p99 = max((r["p99"] for r in reports), default=0.0) * 1000
        worst = max((r["max"] for r in reports), default=0.0) * 1000
        for r in reports:
            for s in r["samples"]:
                self.fail(f"load: {s}")
        lost = sum(1 for f in self.failures if f.startswith("lost acknowledged"))
        oom_times = self.oom_at + [t for r in reports for t in r["oom_at"]]
        unexplained = self.oom_outside_windows(oom_times)
        if unexplained:
            self.fail(f"{len(unexplained)} stores refused (out of memory) outside any "
                      f"flush/memlimit/eviction-burst window; evictions are on")
        cap_kb = (a.memory + a.memory // 8 + 48 + 64) * 1024
        if corrupt:
            self.fail(f"{corrupt} corrupted values seen by load clients")
        if lost_conn:
            self.fail(f"{lost_conn} well-behaved clients disconnected")
        if errors:
            self.fail(f"{errors} unexpected replies to load clients")
        if self.rss_peak_kb > cap_kb:
            self.fail(f"peak RSS {self.rss_peak_kb // 1024} MiB over the cap {cap_kb // 1024} MiB")
        if p99 > a.max_p99_ms:
            self.fail(f"load p99 {p99:.1f} ms over {a.max_p99_ms} ms")
        if worst > a.max_latency_ms:
            self.fail(f"load max latency {worst:.0f} ms over {a.max_latency_ms} ms")
        c = self.counts
        if ops < 100 or c["verify_reads"] < 100:
            self.fail(f"too little work done (ops {ops}, verifier reads {c['verify_reads']})")
        strict = c["verify_reads"] - c["excused_misses"]
        if strict < c["verify_reads"] / 2:
            self.fail(f"only {strict} of {c['verify_reads']} verifier reads were strict: "
                      "lossy events too frequent to check for lost writes")
        words = [
            f"duration={elapsed:.0f}s", f"m={a.memory}MiB", f"t={a.threads}", f"c={a.conns}",
            f"ops={ops}", f"corrupt={corrupt + sum(1 for f in self.failures if 'corrupt' in f)}",
            f"lost_writes={lost}", f"verify_reads={c['verify_reads']}",
            f"verify_strict={strict}", f"excused={c['excused_misses']}",
            f"rss_peak={self.rss_peak_kb / 1024:.1f}MiB", f"rss_cap={cap_kb // 1024}MiB",
            f"p50={max((r['p50'] for r in reports), default=0) * 1000:.2f}ms",
            f"p99={p99:.2f}ms", f"max={worst:.1f}ms",
            f"evictions={st.get('evictions', '?')}",
            f"conns_closed_output={st.get('conns_closed_output', '?')}",
            f"conns_idle_closed={st.get('conns_idle_closed', '?')}",
            f"rejected_connections={st.get('rejected_connections', '?')}",
            f"oom_refusals={len(oom_times)}", f"oom_unexplained={len(unexplained)}",
            f"oom_after={self.oom_by_event(oom_times)}",
        ] + [f"{k}={v}" for k, v in c.items() if k not in ("verify_reads", "excused_misses")]
        ok = not self.failures
        print(("SOAK PASS " if ok else "SOAK FAIL ") + " ".join(words), flush=True)
        for f in self.failures[:20]:
            print(f"  failure: {f}", file=sys.stderr)
        return 0 if ok else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                 "build", "stashd"))
    p.add_argument("--duration", type=float, default=60)
    p.add_argument("-m", "--memory", type=int, default=64, help="-m for the server (MiB)")
    p.add_argument("-t", "--threads", type=int, default=4)
    p.add_argument("-c", "--conns", type=int, default=200)
    p.add_argument("--load-procs", type=int, default=2)
    p.add_argument("--load-keys", type=int, default=1000)
    p.add_argument("--max-value", type=int, default=100 * 1000)
    p.add_argument("--verify-keys", type=int, default=300)
    p.add_argument("--nonreaders", type=int, default=24,
                   help="clients that never read, at a time (~4 MB each: past the budget)")
    p.add_argument("--event-interval", type=float, default=8.0)
    p.add_argument("--max-p99-ms", type=float, default=250.0)
    p.add_argument("--max-latency-ms", type=float, default=3000.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workdir", default="/tmp")
    # child roles (internal)
    p.add_argument("--role", choices=("main", "load", "stopped"), default="main")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--prefix", default="load")
    p.add_argument("--keys", type=int, default=1000)
    a = p.parse_args()
    if a.role == "load":
        a.max_value = max(10, a.max_value)
        return role_load(a)
    if a.role == "stopped":
        return role_stopped(a)
    a.bin = os.path.abspath(a.bin)
    if not os.access(a.bin, os.X_OK):
        print(f"SOAK FAIL {a.bin} is not an executable", flush=True)
        return 1
    return Soak(a).run()


if __name__ == "__main__":
    sys.exit(main() or 0)
