"""Privileges and exposure: what a server started with no care at all
exposes, and what it does with root.

* With no -l, stashd listens on 127.0.0.1 only (memcached's binary default
  is every interface; Debian's packaged config adds -l 127.0.0.1).
* As root without -u it refuses to start, with memcached's words.
* -u USER drops to that user (uid, gid and supplementary groups) after
  binding, so it can bind a privileged port and still run unprivileged.

The tests that need root are skipped when the suite is not run as root.
"""

import os
import pwd
import signal
import socket
import subprocess
import time

import pytest

from conftest import BIN, HOST, _pid_listens, free_port

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


class Proc:
    """A server started by hand (the fixture always passes -l and -u),
    killed by PID at the end."""

    def __init__(self, argv):
        self.argv = [str(a) for a in argv]
        self.p = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  start_new_session=True)

    def wait_listening(self, port, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.p.poll() is None, self.output()
            if _pid_listens(self.p.pid, port):
                return
            time.sleep(0.01)
        raise AssertionError(f"{self.argv} did not listen on {port}")

    def output(self):
        if self.p.poll() is None:
            return ""
        return self.p.stdout.read().decode(errors="replace")

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.p.stdout.close()
        return self.p.returncode


def listening_addrs(pid, port):
    """(family, hex address) of every socket `pid` listens on at `port`."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    out = []
    for table in ("tcp", "tcp6"):
        with open(f"/proc/net/{table}") as f:
            next(f)
            for line in f:
                cols = line.split()
                addr, hexport = cols[1].rsplit(":", 1)
                if cols[3] == "0A" and int(hexport, 16) == port and cols[9] in inodes:
                    out.append((table, addr))
    return out


def status_ids(pid):
    ids = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                ids[key] = value.split()
    return ids


@pytest.mark.stashd_only
@needs_root
def test_default_bind_is_loopback_only():
    port = free_port()
    p = Proc([BIN, "-u", "nobody", "-U", "0", "-p", port, "-t", "1"])
    try:
        p.wait_listening(port)
        addrs = listening_addrs(p.p.pid, port)
        assert addrs == [("tcp", "0100007F")], addrs  # 127.0.0.1, nothing else
        # reachable on loopback...
        with socket.create_connection((HOST, port), timeout=5) as c:
            c.sendall(b"version\r\n")
            assert c.recv(100).startswith(b"VERSION ")
        # ...and `stats settings` says so
        with socket.create_connection((HOST, port), timeout=5) as c:
            c.sendall(b"stats settings\r\n")
            data = b""
            while not data.endswith(b"END\r\n"):
                data += c.recv(65536)
            assert b"STAT inter 127.0.0.1\r\n" in data
    finally:
        assert p.stop() == 0


@needs_root
def test_root_without_u_refuses():
    port = free_port()
    p = Proc([BIN, "-U", "0", "-l", HOST, "-p", port])
    try:
        rc = p.p.wait(timeout=10)
        out = p.output()
        assert "can't run as root without the -u switch" in out, out
        assert rc != 0
        assert rc == 64  # EX_USAGE, as memcached
    finally:
        p.stop()


@needs_root
def test_unknown_user_refuses():
    p = Proc([BIN, "-u", "no-such-user-stashd", "-U", "0", "-l", HOST, "-p", free_port()])
    try:
        rc = p.p.wait(timeout=10)
        out = p.output()
        assert rc != 0
        assert "can't find the user no-such-user-stashd to switch to" in out, out
    finally:
        p.stop()


@needs_root
def test_u_drops_root(server):
    nobody = pwd.getpwnam("nobody")
    s = server(["-u", "nobody", "-t", "2"])
    ids = status_ids(s.pid)
    # real, effective, saved and filesystem ids: all nobody, no way back
    assert ids["Uid"] == [str(nobody.pw_uid)] * 4, ids
    assert ids["Gid"] == [str(nobody.pw_gid)] * 4, ids
    assert ids.get("Groups", []) == [], ids  # no supplementary groups left
    c = s.connect()
    c.expect(b"set k 0 0 1\r\nv\r\nget k\r\n", b"STORED\r\nVALUE k 0 1\r\nv\r\nEND\r\n")


@pytest.mark.stashd_only
@needs_root
def test_u_binds_privileged_port_then_drops():
    """Binding happens before the drop: a port under 1024 works with -u."""
    port = None
    for cand in range(900, 1000):
        with socket.socket() as t:
            try:
                t.bind((HOST, cand))
            except OSError:
                continue
        port = cand
        break
    if port is None:
        pytest.skip("no free port under 1024")
    p = Proc([BIN, "-u", "nobody", "-U", "0", "-l", HOST, "-p", port, "-t", "1"])
    try:
        p.wait_listening(port)
        assert status_ids(p.p.pid)["Uid"][1] == str(pwd.getpwnam("nobody").pw_uid)
        with socket.create_connection((HOST, port), timeout=5) as c:
            c.sendall(b"version\r\n")
            assert c.recv(100).startswith(b"VERSION ")
    finally:
        assert p.stop() == 0
