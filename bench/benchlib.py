"""What bench/compare and bench/scale share: starting servers on free
loopback ports (plain or TLS), driving them with stashd-bench or
memtier_benchmark, reading the server's CPU time from /proc, and pinning.

A server is a Server (how to start it, which protocols it speaks, whether
it speaks TLS); one start of it is a Running, given a Launch (port,
threads, memory, TLS files, protocol). Every process is started in its own
session, stopped by its PID (SIGTERM, then SIGKILL after 3 s), and never
outlives the run.

Only the Python standard library is used (Debian's /usr/bin/python3).
"""

import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
# resp-hash: RESP hashes, HSET key f value / HGET key f (stashd, redis).
# resp-multi: RESP transactions, MULTI, 3 commands, EXEC (stashd, redis).
PROTOCOLS = ("mc-text", "mc-meta", "mc-binary", "resp", "resp-hash", "resp-multi")
RESP_PROTOCOLS = ("resp", "resp-hash", "resp-multi")
MC_PROTOCOLS = ("mc-text", "mc-meta", "mc-binary")
PEERS_CACHE = os.path.expanduser("~/.cache/stashd-peers")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


_handed_out = set()


def free_port():
    """A free port, never one handed out before in this run (stashd's RESP
    TLS cells take two back to back, and they must differ)."""
    for _ in range(1000):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port left that was not handed out before")


def wait_listening(proc, port, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_split(pid):
    """(utime, stime) of pid (all its threads) in seconds, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    hz = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / hz, int(fields[12]) / hz


def switches(pid):
    """The context switches of all of pid's threads (voluntary and not), or
    None: a server sleeps in epoll_wait when idle and wakes for the next
    request, so requests per switch say how saturated a run kept it, and
    CPU per request depends on that (stashd-bench reports the same figure
    as server_ops_per_switch)."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches:",
                                        "nonvoluntary_ctxt_switches:")):
                        total += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total


def median_of(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def fmt(v, spec):
    return "—" if v is None else format(v, spec)


# --------------------------------------------------------------------------
# Servers.

class Launch:
    """What one start of a server is given. port is where clients connect;
    tls is None or a Certs."""

    def __init__(self, port, threads, mem, evict=False, tls=None, proto=None):
        self.port, self.threads, self.mem, self.evict = port, threads, mem, evict
        self.tls, self.proto = tls, proto


class ServerRefused(RuntimeError):
    """A server that may lack a feature exited at start-up when asked for it."""


class Server:
    """One peer: how to start it (argv_fn(Launch) -> argv), which protocols
    it speaks, and its TLS: False (none), True, or "maybe" (it may refuse;
    then its TLS cells are skipped with a note, not failed)."""

    def __init__(self, name, argv_fn, protocols, fixed_protocol=None, stores=True, tls=False):
        self.name = name
        self.argv_fn = argv_fn
        self.protocols = protocols
        self.fixed_protocol = fixed_protocol  # redis: always RESP
        self.stores = stores  # the null server stores nothing
        self.tls = tls

    def protocol_for(self, proto):
        if self.fixed_protocol:  # redis: its own protocols, else RESP
            return proto if proto in self.protocols else self.fixed_protocol
        return proto if proto in self.protocols else None


class Running:
    """One started server, on cpus (a list; empty: wherever)."""

    def __init__(self, server, launch, cpus):
        self.server = server
        self.port = launch.port
        argv = server.argv_fn(launch)
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=pinned(cpus))
        self.pid = self.proc.pid  # wrappers and "sh -c exec" exec the server itself
        if not wait_listening(self.proc, self.port):
            tail = self.log_tail()
            exited = self.proc.poll() is not None
            self.stop()
            msg = f"{server.name} did not start: {' '.join(argv)}\n{tail}"
            if exited and launch.tls and server.tls == "maybe":
                raise ServerRefused(msg)
            raise RuntimeError(msg)

    def log_tail(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-2000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def root_user():
    return ["-u", "root"] if os.geteuid() == 0 else []


def memcached_like_argv(binary, l):
    """stashd and memcached take the same options (-Z -o ssl_... for TLS)."""
    argv = [binary] + root_user() + ["-U", "0", "-l", "127.0.0.1", "-p", str(l.port),
                                     "-t", str(l.threads), "-m", str(l.mem)]
    if l.tls:
        argv += ["-Z", "-o", f"ssl_chain_cert={l.tls.cert},ssl_key={l.tls.key}"]
    return argv


def stashd_server(binary):
    def argv(l):
        if l.tls and l.proto in RESP_PROTOCOLS:
            # RESP over TLS on its own port, as redis-server's --tls-port;
            # the memcached port stays plain.
            plain = Launch(free_port(), l.threads, l.mem)
            return memcached_like_argv(binary, plain) + [
                "-Z", "-o", f"ssl_chain_cert={l.tls.cert},ssl_key={l.tls.key}",
                "--tls-port", str(l.port)]
        return memcached_like_argv(binary, l)

    return Server("stashd", argv, PROTOCOLS, tls="maybe")


def memcached_server(binary):
    return Server("memcached", lambda l: memcached_like_argv(binary, l), MC_PROTOCOLS, tls=True)


def redis_server(binary):
    def argv(l):
        a = [binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        if l.tls:
            a += ["--port", "0", "--tls-port", str(l.port), "--tls-cert-file", l.tls.cert,
                  "--tls-key-file", l.tls.key, "--tls-ca-cert-file", l.tls.ca,
                  "--tls-auth-clients", "no"]
        else:
            a += ["--port", str(l.port)]
        if l.evict:
            a += ["--maxmemory", f"{l.mem}mb", "--maxmemory-policy", "allkeys-lru"]
        return a

    return Server("redis", argv, RESP_PROTOCOLS, fixed_protocol="resp", tls=True)


def null_server(binary):
    # It answers SET and GET only: no hash or transaction cells.
    return Server("null", lambda l: [binary, "-p", str(l.port), "-t", str(l.threads)],
                  tuple(p for p in PROTOCOLS if p not in ("resp-hash", "resp-multi")),
                  stores=False)


def pogocache_server(binary):
    # Text and RESP on one port; --maxconns above the load's 50-400. Where
    # the cell bounds memory (hit ratio, churn) it gets the same limit as
    # every other server: its own default is 80% of the machine's memory.
    def argv(l):
        a = [binary, "-h", "127.0.0.1", "-p", str(l.port), "--threads", str(l.threads),
             "--maxconns", "4096"]
        if l.evict:
            a += ["--maxmemory", f"{l.mem}mb"]
        return a

    return Server("pogocache", argv, ("mc-text", "resp"))


def find_pogocache(given):
    """--pogocache PATH, else what bash ../shared/peers/build.sh built."""
    return find_exe(given, [os.path.join(PEERS_CACHE, "pogocache", "pogocache")],
                    "--pogocache", base="/")


def extra_server(spec):
    """--extra 'name[@proto,...]=command with {port} [{threads} {mem}]'."""
    name, _, cmd = spec.partition("=")
    name, _, plist = name.partition("@")
    speaks = tuple(plist.split(",")) if plist else PROTOCOLS
    if not name or not cmd or any(p not in PROTOCOLS for p in speaks):
        sys.exit(f"--extra wants name[@proto,...]=command, got {spec!r}")
    # stashd-null (with --hit-value, say) stores nothing: not in the
    # memory, hit-ratio and churn cells.
    return Server(name, lambda l: ["sh", "-c", "exec " + cmd.format(
        port=l.port, threads=l.threads, mem=l.mem)], speaks,
        stores="stashd-null" not in cmd.split(None, 1)[0])


# --------------------------------------------------------------------------
# TLS: throwaway certificates.

class Certs:
    def __init__(self, d):
        self.dir = d
        self.ca = os.path.join(d, "ca.crt")
        self.cert = os.path.join(d, "server.crt")
        self.key = os.path.join(d, "server.key")


def make_certs(d):
    """A CA and a server certificate for 127.0.0.1 in directory d (with the
    openssl command), or None when there is no openssl."""
    exe = shutil.which("openssl")
    if exe is None:
        return None

    def run(*a):
        subprocess.run([exe, *a], cwd=d, check=True, timeout=30, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=stashd-bench-ca")
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.ext")
    return Certs(d)


# --------------------------------------------------------------------------
# Load generators.

def run_bench(args, port, proto, pid, extra, label):
    """Runs stashd-bench (args: bench, bench_cpus, bench_threads, conns, time,
    warmup); returns (json dict or None, rc, stderr)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as jf:
        jpath = jf.name
    threads = args.bench_threads
    conns = max(1, -(-args.conns // threads))
    cmd = [args.bench, "-s", "127.0.0.1", "-p", str(port), "-P", proto, "-t", str(threads),
           "-c", str(conns), "--server-pid", str(pid), "--json", jpath, "-q"] + extra
    limit = 120 + (args.time + args.warmup) * 2
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=limit,
                           preexec_fn=pinned(args.bench_cpus))
        rc, err = p.returncode, p.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired:
        rc, err = 124, "stashd-bench timed out"
    data = None
    try:
        with open(jpath) as f:
            data = json.load(f)
    except (OSError, ValueError):
        pass
    os.unlink(jpath)
    if rc != 0:
        log(f"  !! {label}: stashd-bench exit {rc}\n     " + " ".join(cmd) + "\n" +
            "\n".join("     " + l for l in err.strip().splitlines()[-8:]))
    return data, rc, err


def load_result(data, rc):
    """The figures a load cell reports, from stashd-bench's JSON."""
    res = {"rc": rc}
    if data:
        lat = data["latency_us"]["all"]
        res.update(ops=data["ops_per_sec"], p50=lat["p50"], p99=lat["p99"],
                   p999=lat["p99.9"], cpu=data["server_cpu_us_per_op"],
                   cpu_user=data.get("server_cpu_user_us_per_op"),
                   cpu_sys=data.get("server_cpu_sys_us_per_op"),
                   wake=data.get("server_ops_per_switch"),
                   hit=data["hit_ratio"], errors=data["errors"])
    return res


# memtier_benchmark, for a second opinion on stashd-bench's figures.

MEMTIER_PROTOCOLS = {"mc-text": "memcache_text", "mc-binary": "memcache_binary",
                     "resp": "redis"}


def find_memtier(given):
    """--memtier PATH, else what bash ../shared/peers/build.sh built, else PATH."""
    return find_exe(given, [os.path.join(PEERS_CACHE, "memtier_benchmark",
                                         "memtier_benchmark")], "--memtier", base="/") \
        or shutil.which("memtier_benchmark")


def memtier_argv(args, port, proto, cell, seconds):
    """memtier_benchmark's command for a load cell: the same threads,
    connections, mix, value size, key space (memtier-1 .. memtier-<keys>,
    uniform, each connection its own random sequence) and pipeline as
    stashd-bench's."""
    threads = args.bench_threads
    conns = max(1, -(-args.conns // threads))
    pattern = "Z:Z" if cell.get("dist") == "zipf" else "R:R"
    argv = [args.memtier, "-s", "127.0.0.1", "-p", str(port),
            f"--protocol={MEMTIER_PROTOCOLS[proto]}", "-t", str(threads), "-c", str(conns),
            f"--pipeline={cell['pipeline']}", f"--ratio={cell['ratio']}",
            f"--data-size={cell['value']}", "--key-prefix=memtier-", "--key-minimum=1",
            f"--key-maximum={cell['keys']}", f"--key-pattern={pattern}",
            "--distinct-client-seed", f"--test-time={max(1, round(seconds))}",
            "--hide-histogram"]
    if pattern == "Z:Z":
        argv.append("--key-zipf-exp=0.99")
    if cell.get("tls"):
        argv += ["--tls", f"--cacert={args.certs.ca}"]
    return argv


def run_memtier(args, port, proto, pid, cell, label, seconds=None, warmup=None, preload=True):
    """Preloads memtier's key names with stashd-bench (values of the cell's
    size; not with preload=False), warms up, then runs memtier_benchmark
    for seconds (default args.time; warm-up args.warmup) with the server's
    CPU time read around it. Returns load_result()'s dict (latencies in
    µs, as stashd-bench's)."""
    seconds = args.time if seconds is None else seconds
    warmup = args.warmup if warmup is None else warmup
    pre = ["--key-prefix", "memtier-", "--key-min", "1", "--keys", str(cell["keys"]),
           "--value-size",
           str(cell["value"]), "--preload", "--time", "0", "--pipeline", "32"]
    if cell.get("tls"):
        pre += ["--tls", "--tls-ca", args.certs.ca]
    if preload:
        _, rc, _ = run_bench(args, port, proto, pid, pre, label + " preload")
        if rc != 0:
            return {"rc": rc}
    runs = ([("warm-up", warmup)] if warmup > 0 else []) + [("run", seconds)]
    for what, seconds in runs:
        with tempfile.NamedTemporaryFile(suffix=".json") as jf:
            argv = memtier_argv(args, port, proto, cell, seconds) + [f"--json-out-file={jf.name}"]
            cpu0, sw0 = cpu_split(pid), switches(pid)
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=120 + seconds * 2,
                               preexec_fn=pinned(args.bench_cpus))
            cpu1, sw1 = cpu_split(pid), switches(pid)
            try:
                data = json.load(jf)["ALL STATS"]["Totals"]
            except (ValueError, KeyError):
                data = None
        if p.returncode != 0 or data is None:
            log(f"  !! {label}: memtier_benchmark {what} exit {p.returncode}\n     "
                + " ".join(argv) + "\n" + p.stderr.decode(errors="replace")[-1500:])
            return {"rc": p.returncode or 1}
    pct = data["Percentile Latencies"]
    res = {"rc": 0, "ops": data["Ops/sec"], "p50": pct["p50.00"] * 1000,
           "p99": pct["p99.00"] * 1000, "p999": pct["p99.90"] * 1000,
           "errors": data.get("Connection Errors", 0)}
    if cpu0 is not None and cpu1 is not None and data["Count"]:
        per = 1e6 / data["Count"]
        res["cpu_user"] = (cpu1[0] - cpu0[0]) * per
        res["cpu_sys"] = (cpu1[1] - cpu0[1]) * per
        res["cpu"] = res["cpu_user"] + res["cpu_sys"]
    if sw0 is not None and sw1 is not None and sw1 >= sw0 and data["Count"]:
        # A server kept busy for the whole run never sleeps: 0 switches
        # count as one wake-up, a lower bound, as stashd-bench reports it.
        res["wake"] = data["Count"] / max(sw1 - sw0, 1)
    lookups = data.get("Hits/sec", 0) + data.get("Misses/sec", 0)
    res["hit"] = data["Hits/sec"] / lookups if lookups else None
    return res


# --------------------------------------------------------------------------
# The machine.

def pinned(cpus):
    """A preexec_fn that confines the child (and the threads it will start)
    to cpus, as taskset would, without needing taskset; None for no pin.
    Called in a thread other than the main one (compare --concurrent runs
    load generators from a thread each), it pins that calling thread
    instead and returns None: the child inherits its mask, and no Python
    code runs between fork and exec, which is not safe with threads."""
    if not cpus:
        return None
    if threading.current_thread() is not threading.main_thread():
        os.sched_setaffinity(0, cpus)
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def cpu_list(cpus):
    """'0-3,8' for [0, 1, 2, 3, 8]; 'any' for none."""
    if not cpus:
        return "any"
    out, start = [], cpus[0]
    for a, b in zip(cpus, cpus[1:] + [None]):
        if b != a + 1:
            out.append(str(start) if start == a else f"{start}-{a}")
            start = b
    return ",".join(out)


def cpu_plan(no_pin):
    """Disjoint cores for server and load generator, when there are enough:
    (server cpus, load cpus, all cpus); empty lists when not pinning."""
    cpus = sorted(os.sched_getaffinity(0))
    if no_pin or len(cpus) < 2:
        return [], [], cpus
    half = len(cpus) // 2
    return cpus[:half], cpus[half:], cpus


def find_exe(given, candidates, what, base=REPO):
    """given (must be an executable file), else the first executable of
    candidates (relative to base), else None."""
    if given:
        if not (os.path.isfile(given) and os.access(given, os.X_OK)):
            sys.exit(f"{what} {given} is not an executable file")
        return os.path.abspath(given)
    for c in candidates:
        p = os.path.join(base, c)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def version_of(argv):
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=5)
        return p.stdout.decode(errors="replace").strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "?"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return re.sub(r"\s+", " ", line.split(":", 1)[1].strip())
    except OSError:
        pass
    return "unknown CPU"
