"""The system calls a pipelined load costs (stashd's net/conn.c).

A connection's socket is read with recv(2) and written with send(2) on a
libuv poll handle. A pipeline deeper than -R makes the connection yield
on every read (served again in the next loop turn); the yield must not
re-register the socket with epoll each time (two epoll_ctl calls a
yield when the poll handle's events change). Counted with strace, which
adds no timing assumption: the counts are what they are however slow the
traced server runs.
"""

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import HOST

pytestmark = [
    pytest.mark.stashd_only,
    pytest.mark.skipif(shutil.which("strace") is None, reason="no strace (.ci/deps installs it)"),
]


def strace_counts(text):
    """{syscall: calls} from strace -c's table."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        # % time, seconds, usecs/call, calls, [errors], syscall
        if len(parts) >= 5 and parts[0].replace(".", "").isdigit() and parts[-1].isidentifier():
            try:
                out[parts[-1]] = int(parts[3])
            except ValueError:
                pass
    return out


def pipelined_gets(port, conns, depth, rounds):
    """conns connections, each sending `rounds` batches of `depth` gets
    and reading every reply before the next batch."""
    socks = [socket.create_connection((HOST, port), timeout=10) for _ in range(conns)]
    batch = b"get pk\r\n" * depth
    want = len(b"VALUE pk 0 5\r\nvalue\r\nEND\r\n") * depth
    for _ in range(rounds):
        for s in socks:
            s.sendall(batch)
        for s in socks:
            got = 0
            while got < want:
                d = s.recv(1 << 16)
                assert d, "closed"
                got += len(d)
    for s in socks:
        s.close()


@pytest.mark.time_limit(60)
def test_deep_pipeline_does_not_reregister_the_socket(server):
    s = server(["-t", "1", "-R", "20"])
    c = s.connect()
    c.expect(b"set pk 0 0 5\r\nvalue\r\n", b"STORED\r\n")
    yields0 = int(c.stats()["conn_yields"])
    tracer = subprocess.Popen(["strace", "-f", "-c", "-e", "trace=epoll_ctl,recvfrom,read",
                               "-p", str(s.pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)  # attached to every thread
        pipelined_gets(s.port, conns=8, depth=100, rounds=50)
    finally:
        tracer.send_signal(signal.SIGINT)
        _, err = tracer.communicate(timeout=20)
    counts = strace_counts(err.decode(errors="replace"))
    yields = int(c.stats()["conn_yields"]) - yields0
    # 8 x 50 reads of 100 gets, -R 20: four yields a read
    assert yields >= 1000, (yields, counts)
    assert counts.get("recvfrom", 0) >= 400, counts
    # connection setup registers each socket once; a yield registers nothing
    assert counts.get("epoll_ctl", 0) < 100, (counts, yields)
    assert os.path.exists(f"/proc/{s.pid}")
