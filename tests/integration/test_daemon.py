"""-d: run as a daemon (memcached's flag), with -P writing the pid file.

The parent exits 0 once the child is detached; the child is in its own
session, serves on the port, and (with jemalloc) runs the allocator's
background purge threads, which a fork stops and stashd restarts. Every
process is stopped by the PID it wrote."""

import os
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import conftest  # noqa: E402


def threads_named(pid):
    names = []
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/comm") as f:
                names.append(f.read().strip())
        except OSError:
            pass
    return names


def maps_have(pid, lib):
    with open(f"/proc/{pid}/maps") as f:
        return lib in f.read()


@pytest.mark.time_limit(30)
def test_daemon_detaches_serves_and_keeps_purge_threads(tmp_path):
    pidfile = tmp_path / "stashd.pid"
    port = conftest.free_port()
    r = subprocess.run([conftest.BIN, "-u", "root", "-U", "0", "-l", conftest.HOST,
                        "-p", str(port), "-t", "2", "-d", "-P", str(pidfile)],
                       capture_output=True, timeout=10)
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 10
    while not (pidfile.exists() and pidfile.read_text().strip()):
        assert time.monotonic() < deadline, "no pid file"
        time.sleep(0.02)
    pid = int(pidfile.read_text())
    try:
        while not conftest._pid_listens(pid, port):
            assert time.monotonic() < deadline, "the daemon does not listen"
            time.sleep(0.02)
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        assert int(fields[3]) == pid, "not a session leader (setsid)"
        assert os.readlink(f"/proc/{pid}/fd/0") == "/dev/null"
        c = conftest.Conn(port)
        c.expect(b"set k 0 0 1\r\nv\r\n", b"STORED\r\n")
        c.expect(b"get k\r\n", b"VALUE k 0 1\r\nv\r\nEND\r\n")
        c.close()
        if maps_have(pid, "libjemalloc"):
            deadline = time.monotonic() + 5
            while "jemalloc_bg_thd" not in threads_named(pid):
                assert time.monotonic() < deadline, threads_named(pid)
                time.sleep(0.05)
    finally:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{pid}"):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.02)
