"""Helpers for the meta, binary, SASL and stampede tests.

* Binary protocol packets: :func:`breq` builds a request, :func:`read_packet`
  reads one response from a conftest ``Conn``, :func:`parse_packets` splits
  bytes into packets.
* Differential runs: :class:`Pair` starts Debian's memcached and the binary
  under test with the same arguments and sends both the same bytes;
  :meth:`Pair.meta` and :meth:`Pair.binary` return both replies, normalised
  so that only what may legitimately differ is masked: CAS values (renamed
  in order of first appearance, so equal/different structure is still
  compared), times (TTLs, last access, ``me``'s exp/la), the version string,
  and ``me``'s ``cls``/``size`` (slab class and item size are each server's
  own memory layout).
"""

import re
import struct

from conftest import MEMCACHED

HEADER = struct.Struct(">BBHBBHIIQ")  # magic opcode keylen extlen datatype status/vb bodylen opaque cas

# Opcodes
GET, SET, ADD, REPLACE, DELETE, INCR, DECR, QUIT, FLUSH, GETQ, NOOP, VERSION = range(0x0c)
GETK, GETKQ, APPEND, PREPEND, STAT = 0x0c, 0x0d, 0x0e, 0x0f, 0x10
SETQ, ADDQ, REPLACEQ, DELETEQ, INCRQ, DECRQ, QUITQ, FLUSHQ, APPENDQ, PREPENDQ = range(0x11, 0x1b)
VERBOSITY, TOUCH, GAT, GATQ = 0x1b, 0x1c, 0x1d, 0x1e
SASL_LIST, SASL_AUTH, SASL_STEP, GATK, GATKQ = 0x20, 0x21, 0x22, 0x23, 0x24

# Status codes
OK, ENOENT, EEXISTS, E2BIG, EINVAL, NOT_STORED, DELTA_BADVAL = range(7)
AUTH_ERROR, UNKNOWN = 0x20, 0x81

MARK_OPAQUE = 0x5EED5EED  # opaque of the NOOP that ends each binary step


def breq(op, key=b"", extras=b"", value=b"", opaque=0, cas=0, magic=0x80, bodylen=None,
         datatype=0, vbucket=0):
    """A binary request packet (bodylen defaults to what the parts add up to)."""
    body = len(extras) + len(key) + len(value) if bodylen is None else bodylen
    return HEADER.pack(magic, op, len(key), len(extras), datatype, vbucket, body, opaque,
                       cas) + extras + key + value


def set_extras(flags=0, exptime=0):
    return struct.pack(">II", flags, exptime)


def arith_extras(delta, initial=0, exptime=0):
    return struct.pack(">QQI", delta, initial, exptime)


def touch_extras(exptime):
    return struct.pack(">I", exptime)


class Packet:
    """One response packet."""

    def __init__(self, header, body):
        (self.magic, self.opcode, self.keylen, self.extlen, self.datatype, self.status,
         self.bodylen, self.opaque, self.cas) = HEADER.unpack(header)
        self.raw = header + body
        self.extras = body[:self.extlen]
        self.key = body[self.extlen:self.extlen + self.keylen]
        self.value = body[self.extlen + self.keylen:]

    def __repr__(self):
        return (f"Packet(op=0x{self.opcode:02x} status=0x{self.status:x} opaque={self.opaque} "
                f"cas={self.cas} extras={self.extras!r} key={self.key!r} "
                f"value={self.value[:60]!r})")


def parse_packets(data):
    out = []
    while len(data) >= 24:
        bodylen = HEADER.unpack(data[:24])[6]
        if len(data) < 24 + bodylen:
            break
        out.append(Packet(data[:24], data[24:24 + bodylen]))
        data = data[24 + bodylen:]
    return out, data


def read_packet(conn, timeout=None):
    header = conn.read_exact(24, timeout)
    bodylen = HEADER.unpack(header)[6]
    return Packet(header, conn.read_exact(bodylen, timeout) if bodylen else b"")


def read_until_mark(conn, timeout=None):
    """Packets up to (not including) the NOOP reply with MARK_OPAQUE; and
    whether the connection closed first (the closing packets included)."""
    out = []
    while True:
        try:
            p = read_packet(conn, timeout)
        except AssertionError:
            if conn.eof:
                return out, True
            raise
        if p.opcode == NOOP and p.opaque == MARK_OPAQUE:
            return out, False
        out.append(p)


def plain(user, password, authzid=b""):
    """A SASL PLAIN payload."""
    return authzid + b"\0" + user + b"\0" + password


# --------------------------------------------------------------------------
# Normalisation

class Masker:
    """Renames CAS values in order of first appearance, per server."""

    def __init__(self):
        self.names = {}

    def cas(self, value):
        if value == 0:
            return "0"
        return self.names.setdefault(value, f"<cas{len(self.names) + 1}>")


META_CAS = re.compile(rb"(?<= c)(\d+)(?=[ \r])")
META_TTL = re.compile(rb"(?<= t)(\d+)(?=[ \r])")
META_LA = re.compile(rb"(?<= l)(\d+)(?=[ \r])")
ME_LINE = re.compile(rb"ME (\S+) exp=(-?\d+) la=(\d+) cas=(\d+) fetch=(yes|no) "
                     rb"cls=(\d+) size=(\d+)\r\n")
VALUE_HDR = re.compile(rb"VA (\d+)")
TEXT_VALUE = re.compile(rb"VALUE (\S+) (\d+) (\d+)( \d+)?\r\n")


def normalize_meta(reply, masker):
    """Mask CAS values, TTLs, access times and me's layout figures in a meta
    reply stream (values are skipped over, never rewritten)."""
    out = []
    pos = 0
    while pos < len(reply):
        eol = reply.find(b"\r\n", pos)
        if eol < 0:
            out.append(reply[pos:])
            break
        line = reply[pos:eol + 2]
        pos = eol + 2
        m = ME_LINE.fullmatch(line)
        if m:
            exp = m.group(2) if m.group(2) == b"-1" else b"<exp>"
            line = b"ME %s exp=%s la=<la> cas=%s fetch=%s cls=<cls> size=<size>\r\n" % (
                m.group(1), exp, masker.cas(int(m.group(4))).encode(), m.group(5))
            out.append(line)
            continue
        m = TEXT_VALUE.fullmatch(line)
        if m:
            if m.group(4):
                line = b"VALUE %s %s %s %s\r\n" % (m.group(1), m.group(2), m.group(3),
                                                   masker.cas(int(m.group(4))).encode())
            out.append(line)
            n = int(m.group(3))
            out.append(reply[pos:pos + n + 2])
            pos += n + 2
            continue
        head = line.split(b" ", 1)[0]
        if head in (b"VA", b"HD", b"EN", b"NF", b"NS", b"EX"):
            line = META_CAS.sub(lambda mm: masker.cas(int(mm.group(1))).encode(), line)
            line = META_TTL.sub(b"<ttl>", line)
            line = META_LA.sub(b"<la>", line)
        out.append(line)
        if head == b"VA":
            n = int(VALUE_HDR.match(line).group(1))
            out.append(reply[pos:pos + n + 2])
            pos += n + 2
    return b"".join(out)


VOLATILE_STATS = {b"pid", b"uptime", b"time", b"version", b"rusage_user", b"rusage_system",
                  b"bytes_read", b"bytes_written", b"total_connections", b"curr_connections",
                  b"connection_structures", b"tcpport"}


def normalize_packets(packets, masker, stats_keep=None):
    """Packets as comparable tuples: CAS renamed, the version masked; stat
    packets kept only for names in stats_keep (all when None), volatile
    values masked."""
    out = []
    for p in packets:
        value = p.value
        if p.opcode == VERSION and p.status == OK:
            value = b"<version>"
        if p.opcode == STAT and p.status == OK and p.key:
            if stats_keep is not None and p.key not in stats_keep:
                continue
            if p.key in VOLATILE_STATS:
                value = b"<volatile>"
        out.append((hex(p.opcode), hex(p.status), p.opaque, masker.cas(p.cas), p.extras, p.key,
                    value))
    return out


# --------------------------------------------------------------------------
# Differential runs

class Pair:
    """memcached and the binary under test, started with the same arguments,
    each with one raw connection."""

    def __init__(self, server, args=(), env=None):
        self.mc = server(args=args, binary=MEMCACHED)
        self.sd = server(args=args)
        self.conns = {"memcached": self.mc.connect(), "stashd": self.sd.connect()}
        self.maskers = {"memcached": Masker(), "stashd": Masker()}
        self.last_raw = {}

    def reconnect(self):
        self.conns = {"memcached": self.mc.connect(), "stashd": self.sd.connect()}

    def meta(self, request, mark=True):
        """Send a meta/text request to both (bytes, or a function of the
        server's name and its last raw reply, for steps that need a CAS the
        server gave); return both normalised replies up to the "MN" of an
        mn sent after it (or whatever came within 0.3 s, mark=False)."""
        out = {}
        for name, c in self.conns.items():
            req = request(name, self.last_raw.get(name, b"")) if callable(request) else request
            c.send(req + (b"mn\r\n" if mark else b""))
            if mark:
                data = c.read_until(b"MN\r\n")[:-4]
            else:
                data = c.read_available(0.3)
            self.last_raw[name] = data
            out[name] = normalize_meta(data, self.maskers[name])
        return out["memcached"], out["stashd"]

    def binary(self, request, stats_keep=None):
        """Send binary packets to both, then a NOOP mark; return both lists
        of normalised packets before the mark (and whether each closed)."""
        out = {}
        for name, c in self.conns.items():
            c.send(request + breq(NOOP, opaque=MARK_OPAQUE))
            packets, closed = read_until_mark(c, timeout=3)
            out[name] = (normalize_packets(packets, self.maskers[name], stats_keep), closed)
        return out["memcached"], out["stashd"]
