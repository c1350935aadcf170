#!/usr/bin/python3
"""Usage: bench/expiry_cost.py build/stashd
CPU cost of active expiry with 1M keys carrying TTLs (stashd, release build).
Phases: (a) 1M keys with a 1 h TTL, idle 5 s; (b) 1M keys with TTLs spread
over 5..35 s, a 40 s window while they expire; (c) 1M keys expiring 8 s after
the load began:
time from TTL to DBSIZE 0, CPU used meanwhile. CPU from /proc/<pid>/stat."""
import os, socket, subprocess, sys, time, random
BIN = sys.argv[1]
HZ = os.sysconf("SC_CLK_TCK")
def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
def cpu(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / HZ
def enc(*a):
    out = [b"*%d\r\n" % len(a)]
    for x in a:
        x = x if isinstance(x, bytes) else str(x).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(x), x))
    return b"".join(out)
class C:
    def __init__(s, port):
        s.s = socket.create_connection(("127.0.0.1", port)); s.buf = b""
    def call(s, *a):
        s.s.sendall(enc(*a))
        while b"\r\n" not in s.buf: s.buf += s.s.recv(65536)
        line, s.buf = s.buf.split(b"\r\n", 1)
        if line[:1] == b"$" and int(line[1:]) >= 0:
            n = int(line[1:])
            while len(s.buf) < n + 2: s.buf += s.s.recv(65536)
            v, s.buf = s.buf[:n], s.buf[n + 2:]; return v
        return line
    def load(s, n, ttl_fn, prefix):
        B = 10000
        for base in range(0, n, B):
            s.s.sendall(b"".join(enc("SET", "%s%d" % (prefix, i), "v" * 32, "PX", ttl_fn(i)) for i in range(base, min(n, base + B))))
            want = min(n, base + B) - base; got = 0
            while got < want:
                s.buf += s.s.recv(1 << 20); got += s.buf.count(b"\r\n"); s.buf = b""
def info_mem(c):
    t = c.call("INFO", "memory").decode()
    for l in t.split("\r\n"):
        if l.startswith("used_memory:"): return int(l.split(":")[1])
port = free_port()
p = subprocess.Popen([BIN, "-u", "root", "-U", "0", "-l", "127.0.0.1", "-p", str(port), "-t", "2", "-m", "1024"])
try:
    time.sleep(0.5)
    c = C(port)
    N = 1000000
    # (a)
    c.load(N, lambda i: 3600000, "a"); time.sleep(1)
    t0, c0 = time.time(), cpu(p.pid); time.sleep(5); a = (cpu(p.pid) - c0) / (time.time() - t0)
    print("a) 1M keys, 1 h TTL, idle: server CPU %.2f%% of a core" % (100 * a))
    c.call("FLUSHALL"); time.sleep(1)
    # (c)
    t0, c0 = time.time(), cpu(p.pid); time.sleep(3); idle = (cpu(p.pid) - c0) / (time.time() - t0)
    print("   empty, idle: server CPU %.2f%% of a core" % (100 * idle))
    ttl = 8000
    start = time.time(); c.load(N, lambda i: int((start + ttl / 1000 - time.time()) * 1000), "c")
    loaded = time.time(); deadline = start + ttl / 1000
    print("c) loaded 1M keys in %.1f s; all expire at +%.1f s; dbsize %s; used_memory %d" % (loaded - start, deadline - loaded, c.call("DBSIZE"), info_mem(c)))
    while time.time() < deadline: time.sleep(0.01)
    c0 = cpu(p.pid)
    while int(c.call("DBSIZE")[1:]) > 0 and time.time() < deadline + 20: time.sleep(0.05)
    done = time.time() - deadline; used = cpu(p.pid) - c0
    print("   DBSIZE 0 after %.2f s past the TTL; CPU used meanwhile %.2f s; used_memory %d" % (done, used, info_mem(c)))
    # (b)
    rnd = random.Random(1)
    c.load(N, lambda i: rnd.randint(5000, 35000), "b"); t0 = time.time(); c0 = cpu(p.pid)
    time.sleep(40); b = (cpu(p.pid) - c0) / (time.time() - t0)
    print("b) 1M keys, TTLs spread over 5..35 s, 40 s window: server CPU %.2f%% of a core; dbsize after %s" % (100 * b, c.call("DBSIZE")))
finally:
    p.terminate(); p.wait(10)
