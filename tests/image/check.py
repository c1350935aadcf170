#!/usr/bin/python3
"""The container image's checks (tests/image/run builds the image first).

What is checked, in order; the first failure stops the run (exit 1):

* static, on the exported rootfs (the tarball: owners and modes as the
  image holds them, even where podman runs rootless) and the image config;
  reports the size of stashd and its libraries. Runs as
  11211:11211; every file is owned by root or a Debian system account
  (apt's _apt owns its download directory), none by 11211, and none is
  writable by uid 11211 (the image declares no volume; Debian's sticky
  /tmp, /var/tmp and /run/lock are, but a read-only root makes them moot);
  no setuid/setgid program; no build tools; the declared ports and
  healthcheck.
* the entrypoint: a flag runs stashd with the image's settings first
  (/etc/stashd/stashd.yaml), a command runs as given.
* the image's default command: the process runs as uid/gid 11211 with no
  capabilities and no supplementary group; it listens on 0.0.0.0:11211 and
  the RESP port 6379; the image's HEALTHCHECK command passes; PING and a
  set/get over memcached text, meta, binary and RESP on 11211, and RESP
  (array and inline) on 6379, each reading what another protocol wrote;
  SIGTERM with one idle client and one halfway through a request: the
  request completes, the idle client is closed, stashd exits 0 within the
  drain timeout; the healthcheck then fails (it can fail).
* flags under a cgroup memory limit (`-m auto -t 2 -p 11400` with 512 MiB):
  the flags override the image's port, the image's RESP port stays on, and
  the item memory is what the limit leaves: (512 - 48 - 64) * 8/9 MiB,
  rounded down to whole MiB (src/util/options.c, -m auto).
* nothing was written outside volumes: the root is read-only throughout
  (and with podman, `podman diff` lists only what podman itself mounts).

Two ways of running the image, chosen by tests/image/run:

* podman: containers (`podman run --read-only --memory 512m ...`), ports
  published on 127.0.0.1.
* chroot (where crun cannot start containers, as in the build sandbox):
  this script re-executes itself in private mount and network namespaces
  (so 11211 and 6379 are free whatever runs on the host, and every mount
  goes away with it), bind-mounts the rootfs read-only with /proc, /sys
  and /dev, and runs the image's entrypoint and command with its
  environment under `chroot --userspec=11211:11211`. The memory limit is a
  real cgroup where the host lets root make one (a v2 child of the root
  cgroup, or a v1 child of this process's memory cgroup), which stashd
  finds through /proc/self/cgroup and /sys/fs/cgroup as in a pod;
  otherwise a fake hierarchy on a tmpfs inside the rootfs, named by
  $STASHD_CGROUP_ROOT and $STASHD_CGROUP_PROC. The output says which.
"""

import argparse
import collections
import fcntl
import json
import os
import shlex
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tarfile
import time

UID = 11211
MEMORY_MIB = 512
DRAIN_DEFAULT = 10  # --drain-timeout's default, which the image keeps
CONFIG = "/etc/stashd/stashd.yaml"
# Debian's sticky world-writable directories (1777); a read-only root
# makes them moot.
STICKY_TMP = ("/tmp", "/var/tmp", "/run/lock")


# A command's exit status, standard output and standard error.
Result = collections.namedtuple("Result", "rc out err")


class CheckFailed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise CheckFailed(what)


def say(msg):
    print(f"image: {msg}", flush=True)


# ---- a small client: each protocol's ping and set/get ----------------------


class Client:
    def __init__(self, addr, timeout=5.0):
        self.sock = socket.create_connection(addr, timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise CheckFailed(f"connection closed; had {self.buf!r}")
        self.buf += chunk

    def until(self, end):
        while end not in self.buf:
            self._fill()
        i = self.buf.index(end) + len(end)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def exactly(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def closed_by_peer(self, timeout):
        """True when the server closes this connection within timeout."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    # memcached text
    def text(self, line, data=None, end=b"\r\n"):
        self.send(line + b"\r\n" + (data + b"\r\n" if data is not None else b""))
        return self.until(end)

    # memcached binary: header magic, opcode, keylen, extlen, datatype,
    # vbucket/status, bodylen, opaque, cas
    HDR = struct.Struct(">BBHBBHIIQ")

    def binary(self, opcode, key=b"", extras=b"", value=b""):
        body = len(extras) + len(key) + len(value)
        self.send(self.HDR.pack(0x80, opcode, len(key), len(extras), 0, 0, body, 0xAB, 0)
                  + extras + key + value)
        magic, op, klen, elen, _, status, blen, opaque, _ = self.HDR.unpack(self.exactly(24))
        body = self.exactly(blen)
        check(magic == 0x81 and op == opcode and opaque == 0xAB,
              f"binary reply header {magic:#x} {op:#x} {opaque:#x}")
        return status, body[elen + klen:]

    # RESP
    def resp(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.send(out)
        return self.resp_reply()

    def resp_reply(self):
        line = self.until(b"\r\n")
        if line[:1] == b"$" and line != b"$-1\r\n":
            return line + self.exactly(int(line[1:-2]) + 2)
        return line


def protocols(main, resp_port, tag):
    """PING and set/get over each protocol; each reads another's write."""
    c = Client(main)
    v = c.text(b"version")
    check(v.startswith(b"VERSION ") and b"stashd" in v, f"text version: {v!r}")
    r = c.text(b"set %s:text 0 0 5" % tag, b"hello")
    check(r == b"STORED\r\n", f"text set: {r!r}")
    r = c.text(b"get %s:text" % tag, end=b"END\r\n")
    check(r == b"VALUE %s:text 0 5\r\nhello\r\nEND\r\n" % tag, f"text get: {r!r}")
    # meta: mn is its no-op ping
    r = c.text(b"mn")
    check(r == b"MN\r\n", f"meta mn: {r!r}")
    r = c.text(b"ms %s:meta 5 T0" % tag, b"metav")
    check(r == b"HD\r\n", f"meta ms: {r!r}")
    r = c.text(b"mg %s:text v" % tag, end=b"hello\r\n")
    check(r == b"VA 5\r\nhello\r\n", f"meta mg of the text key: {r!r}")
    c.close()

    b = Client(main)  # the protocol is chosen per connection
    status, _ = b.binary(0x0A)  # NOOP
    check(status == 0, f"binary noop status {status}")
    status, _ = b.binary(0x01, b"%s:bin" % tag, struct.pack(">II", 0, 0), b"binv")
    check(status == 0, f"binary set status {status}")
    status, val = b.binary(0x00, b"%s:meta" % tag)
    check((status, val) == (0, b"metav"), f"binary get of the meta key: {status} {val!r}")
    b.close()

    for port_name, addr in (("main port", main), ("RESP port", resp_port)):
        r = Client(addr)
        check(r.resp(b"PING") == b"+PONG\r\n", f"RESP PING on the {port_name}")
        check(r.resp(b"SET", b"%s:resp" % tag, b"respv") == b"+OK\r\n",
              f"RESP SET on the {port_name}")
        got = r.resp(b"GET", b"%s:bin" % tag)
        check(got == b"$4\r\nbinv\r\n", f"RESP GET of the binary key on the {port_name}: {got!r}")
        r.close()
    r = Client(resp_port)  # the RESP-only port takes inline commands
    r.send(b"PING\r\n")
    check(r.resp_reply() == b"+PONG\r\n", "inline PING on the RESP port")
    r.close()
    c = Client(main)
    r = c.text(b"get %s:resp" % tag, end=b"END\r\n")
    check(r == b"VALUE %s:resp 0 5\r\nrespv\r\nEND\r\n" % tag, f"text get of the RESP key: {r!r}")
    c.close()


def stats(addr, sub=b""):
    c = Client(addr)
    raw = c.text(b"stats" + (b" " + sub if sub else b""), end=b"END\r\n")
    c.close()
    out = {}
    for line in raw.decode().splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0] == "STAT":
            out[parts[1]] = parts[2]
    return out


def wait_port(addr, box, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(addr, timeout=1).close()
            return
        except OSError:
            if box.exited():
                raise CheckFailed(f"stashd exited before listening:\n{box.logs()}")
            time.sleep(0.1)
    raise CheckFailed(f"nothing listens on {addr} after {timeout}s:\n{box.logs()}")


def listening(tcp_table):
    """(address, port) pairs in LISTEN state in /proc/net/tcp text."""
    out = set()
    for line in tcp_table.splitlines()[1:]:
        f = line.split()
        if len(f) > 3 and f[3] == "0A":
            ip, port = f[1].split(":")
            addr = socket.inet_ntoa(struct.pack("<I", int(ip, 16)))
            out.add((addr, int(port, 16)))
    return out


def proc_status(text):
    return {k: v.split() for k, _, v in (l.partition(":") for l in text.splitlines())}


# ---- running the image ---------------------------------------------------------


class Image:
    def __init__(self, inspect_path):
        doc = json.load(open(inspect_path))[0]  # podman image inspect
        cfg = doc["Config"]
        self.entrypoint = cfg.get("Entrypoint") or []
        self.cmd = cfg.get("Cmd") or []
        self.env = dict(e.split("=", 1) for e in cfg.get("Env") or [])
        self.user = cfg.get("User", "")
        self.ports = sorted(cfg.get("ExposedPorts") or {})
        self.health = (doc.get("Healthcheck") or cfg.get("Healthcheck") or {}).get("Test") or []
        self.workdir = cfg.get("WorkingDir") or "/"

    def argv(self, args):
        return self.entrypoint + (self.cmd if args is None else list(args))

    def health_argv(self):
        check(self.health[:1] == ["CMD"], f"healthcheck {self.health}")
        return self.health[1:]


class ChrootBox:
    """stashd started from the read-only rootfs under chroot."""

    def __init__(self, runner, args, memory_mib):
        self.runner = runner
        self.cgroup = None
        env = dict(runner.image.env)
        if memory_mib:
            env.update(runner.limit_memory(memory_mib))
            self.cgroup = runner.cgroup_dir
        self.log = open(os.path.join(runner.work, "box.log"), "w+b")
        self.proc = subprocess.Popen(runner.chroot(args), env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     preexec_fn=self._enter_cgroup if self.cgroup else None)

    def _enter_cgroup(self):
        with open(os.path.join(self.cgroup, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))

    def addr(self, port):
        return ("127.0.0.1", port)

    def exited(self):
        return self.proc.poll() is not None

    def logs(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def status(self):
        return proc_status(open(f"/proc/{self.proc.pid}/status").read())

    def cmdline(self):
        return open(f"/proc/{self.proc.pid}/cmdline").read().rstrip("\0").split("\0")

    def exec(self, argv):
        return self.runner.run(argv, raw=True)

    def healthcheck(self):
        return self.exec(self.runner.image.health_argv()).rc

    def sigterm(self):
        self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def written(self):
        return []  # the root is mounted read-only: nothing can be

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        if self.cgroup:
            self.runner.drop_cgroup()


class ChrootRunner:
    def __init__(self, image, rootfs, work):
        self.image = image
        self.work = work
        self.mnt = os.path.join(work, "mnt")
        self.cgroup_dir = None
        self.fake_cgroup = False
        self._lo_up()
        os.makedirs(self.mnt, exist_ok=True)
        self._mount("--bind", rootfs, self.mnt)
        self._mount("-o", "remount,bind,ro", self.mnt)
        self._mount("-t", "proc", "proc", f"{self.mnt}/proc")
        self._mount("--rbind", "/sys", f"{self.mnt}/sys")
        self._mount("-o", "remount,bind,ro", f"{self.mnt}/sys")
        self._mount("--bind", "/dev", f"{self.mnt}/dev")
        self._mount("-o", "remount,bind,ro", f"{self.mnt}/dev")
        # The protection the "nothing written" check relies on.
        try:
            open(os.path.join(self.mnt, "stashd-write-probe"), "w").close()
            raise CheckFailed("the rootfs mount is writable")
        except OSError:
            pass

    @staticmethod
    def _mount(*args):
        subprocess.run(["mount", *args], check=True)

    @staticmethod
    def _lo_up():
        """A new network namespace starts with loopback down."""
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        ifr = fcntl.ioctl(s, 0x8913, struct.pack("16sH14x", b"lo", 0))  # SIOCGIFFLAGS
        flags = struct.unpack("16sH14x", ifr)[1]
        fcntl.ioctl(s, 0x8914, struct.pack("16sH14x", b"lo", flags | 1))  # SIOCSIFFLAGS, IFF_UP
        s.close()

    def chroot(self, args, raw=False):
        argv = list(args) if raw else self.image.argv(args)
        user = self.image.user or "0:0"
        # the image's WorkingDir is / (checked in static): chroot's own cd
        return [shutil.which("chroot") or "/usr/sbin/chroot", f"--userspec={user}", self.mnt, *argv]

    def run(self, args, raw=False, timeout=30):
        p = subprocess.run(self.chroot(args, raw), env=self.image.env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout)
        return Result(p.returncode, p.stdout, p.stderr)

    def start(self, args=None, ports=(), memory_mib=None):
        return ChrootBox(self, args, memory_mib)

    def tcp_table(self, box):
        return open("/proc/net/tcp").read()  # this network namespace is the box's

    # A memory limit stashd can read: a real cgroup, else a fake hierarchy.
    def limit_memory(self, mib):
        limit = str(mib << 20)
        try:
            if os.environ.get("STASHD_IMAGE_CGROUP") == "fake":
                raise OSError("STASHD_IMAGE_CGROUP=fake")
            self.cgroup_dir = self._real_cgroup(limit)
            say(f"memory limit: a real cgroup, {self.cgroup_dir}")
            return {}
        except OSError as e:
            why = e
        fake = f"{self.mnt}/run"
        if not self.fake_cgroup:
            self._mount("-t", "tmpfs", "-o", "size=1m,mode=0755", "stashd-cgroup", fake)
            self.fake_cgroup = True
        with open(f"{fake}/memory.max", "w") as f:
            f.write(limit + "\n")
        with open(f"{fake}/self-cgroup", "w") as f:
            f.write("0::/\n")
        say(f"memory limit: a fake cgroup v2 hierarchy in the rootfs' /run "
            f"(no real cgroup could be made: {why})")
        return {"STASHD_CGROUP_ROOT": "/run", "STASHD_CGROUP_PROC": "/run/self-cgroup"}

    def _real_cgroup(self, limit):
        name = f"stashd-image-test-{os.getpid()}"
        root = "/sys/fs/cgroup"
        controllers = f"{root}/cgroup.controllers"
        if os.path.exists(controllers) and "memory" in open(controllers).read().split():
            # v2: a child of the root cgroup (the one cgroup that may hold
            # processes and still delegate the memory controller)
            with open(f"{root}/cgroup.subtree_control") as f:
                if "memory" not in f.read().split():
                    with open(f"{root}/cgroup.subtree_control", "w") as w:
                        w.write("+memory")
            path, file = f"{root}/{name}", "memory.max"
        else:
            own = next((l.split(":", 2)[2].strip() for l in open("/proc/self/cgroup")
                        if "memory" in l.split(":")[1].split(",")), None)
            if own is None or not os.path.exists(f"{root}/memory/memory.limit_in_bytes"):
                raise OSError("no cgroup v1 or v2 memory controller")
            path, file = f"{root}/memory{own.rstrip('/')}/{name}", "memory.limit_in_bytes"
        os.mkdir(path)
        try:
            with open(f"{path}/{file}", "w") as f:
                f.write(limit)
        except OSError:
            os.rmdir(path)
            raise
        return path

    def drop_cgroup(self):
        for _ in range(50):
            try:
                os.rmdir(self.cgroup_dir)
                return
            except OSError:
                time.sleep(0.1)


class PodmanBox:
    def __init__(self, runner, args, ports, memory_mib):
        self.runner = runner
        runner.count += 1
        self.name = f"stashd-image-test-{os.getpid()}-{runner.count}"
        # Ports reach the container through slirp4netns's user-mode
        # forwarder on 127.0.0.1: no bridge, no private-range addresses and
        # no NAT rules on the host (podman's default bridge adds all three).
        cmd = ["run", "-d", "--name", self.name, "--read-only", "--read-only-tmpfs=false",
               "--network", "slirp4netns:port_handler=slirp4netns"]
        for p in ports:
            cmd += ["-p", f"127.0.0.1::{p}"]
        if memory_mib:
            cmd += ["--memory", f"{memory_mib}m"]
            say(f"memory limit: podman run --memory {memory_mib}m (the container's cgroup)")
        r = runner.podman(*cmd, runner.tag, *(args or []))
        check(r.rc == 0, f"podman run: {r}")

    def addr(self, port):
        r = self.runner.podman("port", self.name, f"{port}/tcp")
        check(r.rc == 0, f"podman port {port}: {r}")
        host, _, p = r.out.strip().splitlines()[0].rpartition(":")
        return (host, int(p))

    def exited(self):
        r = self.runner.podman("inspect", "--format", "{{.State.Running}}", self.name)
        return r.out.strip() != "true"

    def logs(self):
        r = self.runner.podman("logs", self.name)
        return r.out + r.err

    def exec(self, argv):
        return self.runner.podman("exec", self.name, *argv)

    def status(self):
        r = self.exec(["cat", "/proc/1/status"])
        check(r.rc == 0, f"podman exec: {r}")
        return proc_status(r.out)

    def cmdline(self):
        return self.exec(["cat", "/proc/1/cmdline"]).out.rstrip("\0").split("\0")

    def healthcheck(self):
        return self.runner.podman("healthcheck", "run", self.name).rc

    def sigterm(self):
        r = self.runner.podman("kill", "--signal", "TERM", self.name)
        check(r.rc == 0, f"podman kill: {r}")

    def wait(self, timeout):
        try:
            r = self.runner.podman("wait", self.name, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return int(r.out.strip().splitlines()[-1]) if r.rc == 0 else None

    def written(self):
        r = self.runner.podman("diff", self.name)
        check(r.rc == 0, f"podman diff: {r}")
        # what podman itself mounts or creates for every container
        own = {"/etc", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/run",
               "/run/.containerenv", "/run/secrets", "/dev", "/proc", "/sys"}
        return [l for l in r.out.splitlines() if l.split(None, 1)[-1] not in own]

    def close(self):
        self.runner.podman("rm", "-f", "-t", "0", self.name)


class PodmanRunner:
    def __init__(self, image, tag):
        self.image = image
        self.tag = tag
        self.cmd = shlex.split(os.environ.get("STASHD_PODMAN", "podman"))
        self.count = 0

    def podman(self, *args, timeout=60):
        p = subprocess.run(self.cmd + list(args), capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        return Result(p.returncode, p.stdout, p.stderr)

    def run(self, args, raw=False, timeout=60):
        pre = ["--entrypoint", args[0]] if raw else []
        rest = args[1:] if raw else list(args or [])
        return self.podman("run", "--rm", "--network", "none", "--read-only",
                           "--no-healthcheck", *pre, self.tag,
                           *rest, timeout=timeout)

    def start(self, args=None, ports=(), memory_mib=None):
        return PodmanBox(self, args, ports, memory_mib)

    def tcp_table(self, box):
        r = box.exec(["cat", "/proc/net/tcp"])
        check(r.rc == 0, f"podman exec cat /proc/net/tcp: {r}")
        return r.out


# ---- the checks -------------------------------------------------------------------


def tar_member(tar, path, hops=8):
    """The member at path (absolute, in the image), symbolic links followed."""
    m = tar.getmember("." + path) if "." + path in tar.getnames() else tar.getmember(path[1:])
    if m.issym() and hops > 0:
        target = m.linkname if m.linkname.startswith("/") else \
            os.path.normpath(os.path.join(os.path.dirname(path), m.linkname))
        return tar_member(tar, target, hops - 1)
    return m


def static_checks(image, rootfs_tar):
    check(image.user == f"{UID}:{UID}", f"image user {image.user!r}")
    check(image.entrypoint == ["docker-entrypoint.sh"], f"entrypoint {image.entrypoint}")
    for p in ("11211/tcp", "6379/tcp", "9150/tcp"):
        check(p in image.ports, f"{p} not exposed: {image.ports}")
    check("--healthcheck" in image.health, f"healthcheck {image.health}")
    check(image.workdir == "/", f"WorkingDir {image.workdir}")
    bad, setid, paths = [], [], set()
    tar = tarfile.open(rootfs_tar)
    for m in tar.getmembers():
        rel = "/" + os.path.normpath(m.name).lstrip("./")
        paths.add(rel)
        if m.issym() or m.islnk() or m.ischr() or m.isblk():
            continue  # a link's target is checked itself; devices: /dev's nodes
        if m.isreg() and m.mode & (stat.S_ISUID | stat.S_ISGID):
            setid.append(rel)
        sticky_tmp = rel in STICKY_TMP and m.mode & stat.S_ISVTX
        if m.uid == UID or m.uid >= 1000 or (m.mode & stat.S_IWOTH and not sticky_tmp) or \
                (m.gid == UID and m.mode & stat.S_IWGRP):
            kind = "d" if m.isdir() else "-"
            bad.append(f"{rel} ({m.uid}:{m.gid} {kind}{stat.filemode(m.mode)[1:]})")
    check(not bad, f"owned by uid {UID} or a user account, or writable by uid {UID}: {bad[:20]}")
    check(not setid, f"setuid/setgid programs: {setid}")
    tools = [t for t in ("/usr/bin/gcc", "/usr/bin/cc", "/usr/bin/make", "/usr/bin/cmake",
                         "/usr/bin/ld", "/usr/include/stdio.h") if t in paths]
    check(not tools, f"build tools in the image: {tools}")
    passwd = tar.extractfile(tar_member(tar, "/etc/passwd")).read().decode()
    check(f"stashd:x:{UID}:{UID}:" in passwd, "no stashd user in /etc/passwd")
    sizes = [(p, tar_member(tar, p).size) for p in (
        "/usr/local/bin/stashd", "/usr/lib/x86_64-linux-gnu/libuv.so.1",
        "/usr/lib/x86_64-linux-gnu/libyaml-0.so.2")]
    say("stashd and its libraries: " + ", ".join(f"{os.path.basename(p)} {n // 1000} kB"
                                                 for p, n in sizes)
        + f"; {sum(n for _, n in sizes) // 1000} kB in all")
    say("static: runs as 11211:11211, no file owned or writable by 11211, "
        "no setuid programs, no build tools")


def entrypoint_checks(runner):
    r = runner.run(["--version"])
    check(r.rc == 0 and r.out.startswith("stashd "), f"entrypoint with a flag: {r}")
    r = runner.run(["echo", "entrypoint ran a command"])
    check(r.rc == 0 and r.out == "entrypoint ran a command\n", f"entrypoint with a command: {r}")
    r = runner.run(["stashd", "--version"])
    check(r.rc == 0 and r.out.startswith("stashd "), f"entrypoint with stashd: {r}")
    say("entrypoint: flags run stashd, a command runs as given")


def process_checks(box, expect_cmdline):
    st = box.status()
    for key in ("Uid", "Gid"):
        check(st[key] == [str(UID)] * 4, f"{key}: {st[key]}")
    check(st.get("Groups", []) in ([], [str(UID)]), f"supplementary groups {st.get('Groups')}")
    check(int(st["CapEff"][0], 16) == 0 and int(st["CapPrm"][0], 16) == 0,
          f"capabilities {st['CapEff']} {st['CapPrm']}")
    cmd = box.cmdline()
    check(cmd == expect_cmdline, f"command line {cmd}, expected {expect_cmdline}")


def default_run(runner):
    box = runner.start(None, ports=(11211, 6379))
    try:
        main, resp = box.addr(11211), box.addr(6379)
        wait_port(main, box)
        wait_port(resp, box)
        process_checks(box, ["stashd", "--config", CONFIG])
        ls = listening(runner.tcp_table(box))
        check(("0.0.0.0", 11211) in ls and ("0.0.0.0", 6379) in ls,
              f"expected 0.0.0.0:11211 and 0.0.0.0:6379 listening, have {sorted(ls)}")
        say("default command: uid/gid 11211, no capabilities, 0.0.0.0:11211 and :6379")
        rc = box.healthcheck()
        check(rc == 0, f"the healthcheck failed on a running server: {rc}")
        protocols(main, resp, b"img")
        say("protocols: text, meta, binary, RESP on 11211; RESP and inline on 6379")

        idle = Client(main)
        check(idle.text(b"version").startswith(b"VERSION"), "idle client")
        busy = Client(main)
        busy.send(b"set drain 0 0 10\r\nhello")  # half a request
        time.sleep(0.2)
        t0 = time.monotonic()
        box.sigterm()
        time.sleep(0.5)
        busy.send(b"world\r\n")
        r = busy.until(b"\r\n")
        check(r == b"STORED\r\n", f"the request sent before SIGTERM: {r!r}")
        check(idle.closed_by_peer(DRAIN_DEFAULT), "the idle client was not closed by the drain")
        rc = box.wait(DRAIN_DEFAULT + 5)
        took = time.monotonic() - t0
        check(rc == 0, f"exit status {rc} after SIGTERM (logs:\n{box.logs()})")
        check(took < DRAIN_DEFAULT, f"the drain took {took:.1f}s (drain timeout {DRAIN_DEFAULT}s)")
        idle.close()
        busy.close()
        say(f"SIGTERM: the in-flight set completed, idle client closed, exit 0 in {took:.1f}s")
        r = runner.run(runner.image.health_argv(), raw=True)
        check(r.rc != 0, f"the healthcheck passed with no server: {r}")
        written = box.written()
        check(not written, f"written outside volumes: {written}")
    finally:
        box.close()


def flags_run(runner):
    args = ["-m", "auto", "-t", "2", "-p", "11400"]
    box = runner.start(args, ports=(11400, 6379), memory_mib=MEMORY_MIB)
    try:
        main, resp = box.addr(11400), box.addr(6379)
        wait_port(main, box)
        wait_port(resp, box)
        process_checks(box, ["stashd", "--config", CONFIG, *args])
        ls = listening(runner.tcp_table(box))
        check(("0.0.0.0", 11211) not in ls, f"-p 11400 did not replace 11211: {sorted(ls)}")
        # (limit - 48 MiB fixed - 64 MiB connection budget) * 8/9, whole MiB
        want = ((MEMORY_MIB - 48 - 64) << 20) // 9 * 8 >> 20 << 20
        got = int(stats(main)["limit_maxbytes"])
        check(got == want, f"-m auto under {MEMORY_MIB} MiB: limit_maxbytes {got}, want {want}")
        protocols(main, resp, b"flags")
        say(f"flags: -p 11400 overrides the image's port, RESP stays on 6379, -m auto "
            f"under {MEMORY_MIB} MiB gives {got >> 20} MiB of items")
        box.sigterm()
        rc = box.wait(DRAIN_DEFAULT + 5)
        check(rc == 0, f"exit status {rc} after SIGTERM")
        written = box.written()
        check(not written, f"written outside volumes: {written}")
    finally:
        box.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runner", choices=("podman", "chroot"), required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--rootfs", required=True, help="the rootfs extracted (chroot runner)")
    ap.add_argument("--rootfs-tar", required=True, help="the rootfs as podman export writes it")
    ap.add_argument("--inspect", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    if a.runner == "chroot" and os.geteuid() != 0:
        print("image: FAIL: podman run does not work here, and the chroot runner needs root",
              file=sys.stderr)
        return 1
    if a.runner == "chroot" and os.environ.get("STASHD_IMAGE_NS") != "1":
        # Private mount and network namespaces: the mounts vanish with this
        # process, and the image's fixed ports cannot collide with the host's.
        env = dict(os.environ, STASHD_IMAGE_NS="1")
        os.execvpe("unshare", ["unshare", "--mount", "--net", "--propagation", "private", "--",
                               sys.executable, *sys.argv], env)
    image = Image(a.inspect)
    try:
        static_checks(image, a.rootfs_tar)
        if a.runner == "chroot":
            runner = ChrootRunner(image, a.rootfs, a.work)
        else:
            runner = PodmanRunner(image, a.image)
        entrypoint_checks(runner)
        default_run(runner)
        flags_run(runner)
    except CheckFailed as e:
        print(f"image: FAIL: {e}", file=sys.stderr)
        return 1
    say("read-only root: nothing written outside volumes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
