"""TLS helpers shared by the integration tests: throwaway certificates made
with the ``openssl`` command, and a conftest.Conn over TLS.

``make_certs(dir)`` makes two CAs ("ca" and a foreign "otherca"), two
server certificates ("srv", "srv2"), a client certificate ("client") and
one from the foreign CA ("stranger"), and makes srv the live one.
"""

import os
import shutil
import socket
import ssl
import subprocess

from conftest import BIN, HOST, IS_MEMCACHED, Conn

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


def stashd_has_tls():
    if IS_MEMCACHED:
        return True
    # -Z without a certificate: refused either way, saying which.
    try:
        out = subprocess.run([BIN, "-u", "root", "-p", "0", "-Z"], capture_output=True,
                             timeout=10)
    except OSError:
        return False
    return b"ssl_chain_cert" in out.stdout + out.stderr


# --------------------------------------------------------------------------
# Certificates


def _run(*args, cwd):
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _issue(d, name, cn, ca, serial):
    """name.key + name.crt for cn, signed by ca (prefix of ca.crt/ca.key)."""
    _run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", cwd=d)
    _run("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
         "-set_serial", str(serial), "-days", "2", "-copy_extensions", "copy",
         "-out", f"{name}.crt", cwd=d)


class Certs:
    def __init__(self, d):
        self.dir = d

    def path(self, name):
        return os.path.join(self.dir, name)

    def server_args(self, extra=""):
        """-Z with the live certificate (live.crt / live.key)."""
        opts = f"ssl_chain_cert={self.path('live.crt')},ssl_key={self.path('live.key')}"
        return ["-Z", "-o", opts + ("," + extra if extra else "")]

    def use(self, name):
        """Make name.crt/.key the live certificate (what refresh reloads)."""
        for ext in ("crt", "key"):
            tmp = self.path(f"live.{ext}.tmp")
            shutil.copy(self.path(f"{name}.{ext}"), tmp)
            os.replace(tmp, self.path(f"live.{ext}"))

    def client_ctx(self, cert=None):
        ctx = ssl.create_default_context(cafile=self.path("ca.crt"))
        if cert:
            ctx.load_cert_chain(self.path(f"{cert}.crt"), self.path(f"{cert}.key"))
        return ctx


def make_certs(d):
    for ca in ("ca", "otherca"):
        _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.crt", "-days", "2",
             "-subj", f"/CN=stashd test {ca}", cwd=d)
    _issue(d, "srv", "server-one", "ca", 2)
    _issue(d, "srv2", "server-two", "ca", 3)
    _issue(d, "client", "client", "ca", 4)
    _issue(d, "stranger", "stranger", "otherca", 5)
    c = Certs(d)
    c.use("srv")
    return c


def tls_conn(port, ctx, timeout=5.0):
    """A conftest.Conn whose socket is TLS (handshake done)."""
    c = Conn.__new__(Conn)
    raw = socket.create_connection((HOST, port), timeout=timeout)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.sock = ctx.wrap_socket(raw, server_hostname="localhost")
    c.timeout = timeout
    c.buf = bytearray()
    c.eof = False
    return c
