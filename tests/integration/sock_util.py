"""Plain-socket helpers the byte-level tests share (test_direct_values,
test_inplace): connect with a chosen receive window, read exactly n bytes
or one line, read one stat."""

import socket

from conftest import HOST


def connect(srv, rcvbuf=None, unix=False):
    """A blocking socket to srv (its unix socket with unix=True), with a
    20 s timeout; rcvbuf set before connecting, when the window is agreed."""
    if unix:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(20)
    s.connect(srv.unix_path if unix else (HOST, srv.port))
    return s


def read_exact(s, n):
    out = bytearray()
    while len(out) < n:
        chunk = s.recv(min(1 << 20, n - len(out)))
        assert chunk, "closed early"
        out += chunk
    return bytes(out)


def read_line(s):
    out = bytearray()
    while not out.endswith(b"\r\n"):
        chunk = s.recv(1)
        assert chunk, "closed early"
        out += chunk
    return bytes(out)


def stat(srv, name):
    return int(srv.stats()[name])
