"""A small, deliberately untrustworthy cache server for test_bench.py.

FakeServer speaks just enough of memcached text and meta (set/get, ms/mg),
memcached binary (SET/GETK) and RESP (SET/GET/MGET) to answer stashd-bench,
storing values in a dict like a real cache. Given a fault it lies exactly
once, at the `at`-th request of the fault's kind (counted over every
connection), so a test can prove that stashd-bench notices that one lie;
without a fault it is honest, so a test can prove that the fake server
itself is not what the bench complains about.

The protocol of a connection is picked from its first byte, as stashd does:
0x80 binary, '*' RESP, anything else text/meta.

Given an ssl.SSLContext (tls=...), every connection speaks TLS: the
handshake runs in the connection's thread, and what the fake sends goes out
through the TLS layer (trickled replies become records of 1-16 bytes).

Threads: one acceptor, one thread per connection. stop() shuts every socket
down (which wakes a blocked recv) and joins the threads with a bound.
"""

import random
import socket
import struct
import threading
import time

HOST = "127.0.0.1"

# Fault name -> the kind of request it is injected into:
#   "hit": one key of a get that is stored (value faults)
#   "get": a whole get request   "set": a set request   "any": any request
FAULTS = {
    # value faults: the reply stays well framed, the value is wrong
    "flip_first": "hit",      # first byte of the value, in its header
    "flip_mid": "hit",        # a byte in the middle of the body
    "flip_last": "hit",       # the last byte
    "truncate1": "hit",       # one byte short (framing says so too)
    "extend1": "hit",         # one byte too long (framing says so too)
    "truncate8": "hit",       # cut to its first 8 bytes (framing says so)
    "empty": "hit",           # a zero-length value
    "other_value": "hit",     # right key, another key's value
    # framing faults: the reply cannot belong to the request
    "length_lie": "hit",      # declares n bytes, sends n + 1
    "other_key": "hit",       # a value for a key that was not asked for
    "extra_reply": "get",     # one more reply glued behind the real one
    "late_extra_reply": "get",  # one more reply, 20 ms after the real one
    "bad_opaque": "get",      # binary: wrong opaque
    "bad_opcode": "get",      # binary: GET (0x00) instead of GETK (0x0c)
    "bad_count": "get",       # RESP MGET: array of n + 1 elements
    # error replies
    "error_set": "set",       # SERVER_ERROR too large / -ERR / binary status 0x03
    "oom_set": "set",         # a refusal for memory: SERVER_ERROR out of memory / -OOM / 0x82
    "error_get": "get",
    # connection faults
    "close": "any",           # close the connection instead of replying
    "hang": "any",            # stop replying on this connection
}

BIN_SET, BIN_GET, BIN_NOOP, BIN_GETK = 0x01, 0x00, 0x0A, 0x0C


class _Reader:
    """Buffered reads from a socket; EOFError at end of stream."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def peek1(self):
        while not self.buf:
            self._fill()
        return self.buf[0]

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return out
            self._fill()

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


class FakeServer:
    def __init__(self, fault=None, at=5, trickle=False, tls=None):
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault}")
        self.fault = fault
        self.at = at
        self.trickle = trickle  # send replies in random pieces of 1-16 bytes
        self.tls = tls  # an ssl.SSLContext (server side), or None
        self.store = {}
        self.lock = threading.Lock()  # guards store, seen, fired, accepted, socks
        self.seen = {"hit": 0, "get": 0, "set": 0, "any": 0}
        self.fired = 0  # how many times the fault was injected (0 or 1)
        self.accepted = 0  # connections accepted
        self.protocols = set()  # protocols the clients used
        self.stopping = False
        self.socks = []
        self.threads = []
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((HOST, 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        t = threading.Thread(target=self._accept, name="fake-accept", daemon=True)
        self.threads.append(t)
        t.start()

    # -- life cycle

    def _accept(self):
        while not self.stopping:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                if self.stopping:
                    sock.close()
                    return
                self.socks.append(sock)
                self.accepted += 1
                t = threading.Thread(target=self._serve, args=(sock,),
                                     name="fake-conn", daemon=True)
                self.threads.append(t)
            t.start()

    def stop(self):
        with self.lock:
            self.stopping = True
            socks = list(self.socks)
        for s in [self.listener] + socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        for t in list(self.threads):
            t.join(timeout=2)
        alive = [t for t in self.threads if t.is_alive()]
        assert not alive, f"fake server threads still running: {alive}"

    # -- fault injection

    def _now(self, kind):
        """Counts one request (or hit) of `kind`; True when the fault fires."""
        with self.lock:
            self.seen[kind] += 1
            if (self.fault is not None and FAULTS[self.fault] == kind
                    and self.fired == 0 and self.seen[kind] >= self.at):
                self.fired += 1
                return True
        return False

    def _other_key(self, not_these):
        with self.lock:
            for k, v in self.store.items():
                if k not in not_these:
                    return k, v
        raise AssertionError("the fake server holds no other key")

    # -- serving

    def _wrap(self, sock):
        """The TLS socket over sock, in sock's place in self.socks (stop()
        must shut down the object that owns the descriptor now)."""
        tsock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self.lock:
            self.socks = [tsock if s is sock else s for s in self.socks]
        tsock.do_handshake()
        return tsock

    def _serve(self, sock):
        try:
            if self.tls is not None:
                sock = self._wrap(sock)
        except OSError:  # ssl.SSLError is one
            return
        r = _Reader(sock)
        try:
            first = r.peek1()
            if first == 0x80:
                proto = "binary"
                handler = self._binary
            elif first == ord("*"):
                proto = "resp"
                handler = self._resp
            else:
                proto = "text"
                handler = self._text
            with self.lock:
                self.protocols.add(proto)
            while True:
                out = handler(r)
                if out == "close":
                    return
                if out == "hang":
                    while True:  # read on, answer nothing, until EOF
                        r.exact(len(r.buf) + 1)
                self._send(sock, out[0])
                if len(out) > 1:  # a late extra reply
                    time.sleep(0.02)
                    sock.sendall(out[1])
        except (EOFError, OSError):
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def _send(self, sock, data):
        if not self.trickle:
            sock.sendall(data)
            return
        # Each piece is its own segment (TCP_NODELAY) and the pause lets
        # the client read it alone: replies get split at every offset,
        # CR and LF of one line included.
        rng = random.Random(len(data))
        pos = 0
        while pos < len(data):
            n = rng.randint(1, 16)
            sock.sendall(data[pos:pos + n])
            pos += n
            time.sleep(0.0002)

    def _conn_fault(self):
        """"close"/"hang" when a connection fault fires on this request."""
        if self._now("any"):
            return self.fault if self.fault in ("close", "hang") else None
        return None

    def _value(self, key, val, not_these):
        """(key, declared length, bytes sent) for one hit, maybe a lie."""
        if not self._now("hit"):
            return key, len(val), val
        f = self.fault
        if f.startswith("flip_"):
            i = {"flip_first": 0, "flip_mid": len(val) // 2,
                 "flip_last": len(val) - 1}[f]
            b = bytearray(val)
            b[i] ^= 0x01
            return key, len(val), bytes(b)
        if f == "truncate1":
            return key, len(val) - 1, val[:-1]
        if f == "extend1":
            return key, len(val) + 1, val + b"x"
        if f == "truncate8":
            return key, min(8, len(val)), val[:8]
        if f == "empty":
            return key, 0, b""
        if f == "other_value":
            other = self._other_key(not_these)[1]
            return key, len(other), other
        if f == "length_lie":
            return key, len(val), val + b"x"
        if f == "other_key":
            k, v = self._other_key(not_these)
            return k, len(v), v
        raise AssertionError(f)

    # memcached text and meta

    def _text(self, r):
        line = r.line()
        parts = line.split()
        if not parts:
            return (b"ERROR\r\n",)
        cmd = parts[0]
        conn_fault = self._conn_fault()
        if cmd in (b"set", b"ms"):
            n = int(parts[4] if cmd == b"set" else parts[2])
            data = r.exact(n + 2)[:-2]
            if conn_fault:
                return conn_fault
            if self._now("set"):
                if self.fault == "oom_set":
                    return (b"SERVER_ERROR out of memory storing object\r\n",)
                return (b"SERVER_ERROR object too large for cache\r\n",)
            with self.lock:
                self.store[parts[1]] = data
            return (b"STORED\r\n" if cmd == b"set" else b"HD\r\n",)
        if cmd in (b"get", b"mg"):
            if conn_fault:
                return conn_fault
            keys = parts[1:] if cmd == b"get" else parts[1:2]
            fault = self._now("get") and self.fault
            if fault == "error_get":
                return (b"SERVER_ERROR out of memory\r\n",)
            out = []
            for k in keys:
                with self.lock:
                    v = self.store.get(k)
                if v is None:
                    if cmd == b"mg":
                        out.append(b"EN\r\n")
                    continue
                k2, n, data = self._value(k, v, keys)
                if cmd == b"get":
                    out.append(b"VALUE %s 0 %d\r\n%s\r\n" % (k2, n, data))
                else:
                    out.append(b"VA %d\r\n%s\r\n" % (n, data))
            if cmd == b"get":
                out.append(b"END\r\n")
            extra = b"END\r\n" if cmd == b"get" else b"EN\r\n"
            if fault == "extra_reply":
                out.append(extra)
            reply = b"".join(out)
            if fault == "late_extra_reply":
                return (reply, extra)
            return (reply,)
        return (b"ERROR\r\n",)

    # memcached binary

    @staticmethod
    def _bin(opcode, opaque, status=0, key=b"", extras=b"", value=b""):
        body = extras + key + value
        return struct.pack(">BBHBBHIIQ", 0x81, opcode, len(key), len(extras), 0,
                           status, len(body), opaque, 1 if status == 0 else 0) + body

    def _binary(self, r):
        hdr = r.exact(24)
        magic, opcode, klen, extlen, _, _, bodylen, opaque, _ = struct.unpack(
            ">BBHBBHIIQ", hdr)
        body = r.exact(bodylen)
        key = body[extlen:extlen + klen]
        conn_fault = self._conn_fault()
        if conn_fault:
            return conn_fault
        if opcode == BIN_SET:
            if self._now("set"):
                if self.fault == "oom_set":
                    return (self._bin(BIN_SET, opaque, status=0x82,
                                      value=b"Out of memory"),)
                return (self._bin(BIN_SET, opaque, status=0x03, value=b"Too large."),)
            with self.lock:
                self.store[key] = body[extlen + klen:]
            return (self._bin(BIN_SET, opaque),)
        if opcode == BIN_GETK:
            fault = self._now("get") and self.fault
            if fault == "error_get":
                return (self._bin(BIN_GETK, opaque, status=0x82,
                                  value=b"Out of memory"),)
            with self.lock:
                v = self.store.get(key)
            if v is None:
                reply = self._bin(BIN_GETK, opaque, status=0x01, value=b"Not found")
            else:
                k2, n, data = self._value(key, v, [key])
                assert n == len(data), "no length lie in a binary packet"
                op = BIN_GET if fault == "bad_opcode" else BIN_GETK
                op_opaque = opaque + 1 if fault == "bad_opaque" else opaque
                reply = self._bin(op, op_opaque, key=k2 if op == BIN_GETK else b"",
                                  extras=b"\0\0\0\0", value=data)
            extra = self._bin(BIN_NOOP, 0)
            if fault == "extra_reply":
                return (reply + extra,)
            if fault == "late_extra_reply":
                return (reply, extra)
            return (reply,)
        return (self._bin(opcode, opaque, status=0x81, value=b"Unknown command"),)

    # RESP

    def _resp(self, r):
        line = r.line()
        if not line.startswith(b"*"):
            return (b"-ERR protocol error\r\n",)
        args = []
        for _ in range(int(line[1:])):
            n = int(r.line()[1:])
            args.append(r.exact(n + 2)[:-2])
        cmd = args[0].upper()
        conn_fault = self._conn_fault()
        if conn_fault:
            return conn_fault
        if cmd == b"SET":
            if self._now("set"):
                if self.fault == "oom_set":
                    return (b"-OOM command not allowed when used memory > 'maxmemory'.\r\n",)
                return (b"-ERR syntax error\r\n",)
            with self.lock:
                self.store[args[1]] = args[2]
            return (b"+OK\r\n",)
        if cmd in (b"GET", b"MGET"):
            keys = args[1:]
            fault = self._now("get") and self.fault
            if fault == "error_get":
                return (b"-ERR out of memory\r\n",)
            out = []
            if cmd == b"MGET":
                out.append(b"*%d\r\n" % (len(keys) + (fault == "bad_count")))
            for k in keys:
                with self.lock:
                    v = self.store.get(k)
                if v is None:
                    out.append(b"$-1\r\n")
                    continue
                _, n, data = self._value(k, v, keys)
                out.append(b"$%d\r\n%s\r\n" % (n, data))
            if fault == "bad_count":
                out.append(b"$-1\r\n")
            reply = b"".join(out)
            if fault == "extra_reply":
                return (reply + b"+OK\r\n",)
            if fault == "late_extra_reply":
                return (reply, b"+OK\r\n")
            return (reply,)
        return (b"-ERR unknown command\r\n",)
