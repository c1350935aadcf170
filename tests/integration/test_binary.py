"""The binary protocol, differential against memcached 1.6.18, plus real
clients: `memccapable -b` and pylibmc in binary mode.

Differential steps send the same packets to Debian's memcached and to the
binary under test, then a NOOP with a marker opaque; the packets before the
marker's reply must be equal after renaming CAS values in order of first
appearance and masking the version (mc_util.normalize_packets). A step that
closes the connection is compared up to the close. Stat replies are
compared on the names both servers have (stashd adds its own).
"""

import re
import shutil
import struct
import subprocess

import pylibmc
import pytest

from mc_util import (ADD, ADDQ, APPEND, APPENDQ, DECR, DECRQ, DELETE, DELETEQ, ENOENT, FLUSH,
                     FLUSHQ, GAT, GATK, GATKQ, GATQ, GET, GETK, GETKQ, GETQ, INCR, INCRQ,
                     MARK_OPAQUE, NOOP, OK, PREPEND, PREPENDQ, QUIT, QUITQ, REPLACE, REPLACEQ, SASL_AUTH,
                     SASL_LIST, SASL_STEP, SET, SETQ, STAT, TOUCH, VERBOSITY, VERSION, Masker,
                     Pair, arith_extras, breq, normalize_packets, parse_packets, plain,
                     read_packet, read_until_mark, set_extras, touch_extras)

MEMCCAPABLE = shutil.which("memccapable") or "/usr/bin/memccapable"


def stat_order(reply):
    """Stat packets sorted by name (stashd lists `stats settings` in its own
    option order), the terminator last."""
    packets, closed = reply
    return sorted(packets, key=lambda p: (p[0] == "0x10" and p[5] == b"", p[5])), closed


def run(server, steps, args=(), stats_keep=None):
    pair = Pair(server, args)
    for i, step in enumerate(steps):
        want, got = pair.binary(step, stats_keep)
        if stats_keep is not None:
            want, got = stat_order(want), stat_order(got)
        assert got == want, (f"step {i}: {step[:80]!r}\nmemcached: {want[0]}\n"
                             f"stashd:    {got[0]}\nclosed: {want[1]} / {got[1]}")
        if want[1]:
            pair.reconnect()
    return pair


def s(key, value, flags=0, exptime=0, op=SET, cas=0, opaque=0):
    return breq(op, key, set_extras(flags, exptime), value, cas=cas, opaque=opaque)


GETS_SCRIPT = [
    breq(GET, b"nope", opaque=1),
    breq(GETK, b"nope", opaque=2),
    breq(GETQ, b"nope", opaque=3) + breq(GETKQ, b"nope", opaque=4),
    s(b"k1", b"value", flags=5, opaque=9),
    breq(GET, b"k1", opaque=10) + breq(GETK, b"k1") + breq(GETQ, b"k1") + breq(GETKQ, b"k1"),
    s(b"k2", b"", flags=0xffffffff),
    breq(GETK, b"k2") + breq(GET, b"k2"),
    # a quiet multi-get: hits only
    breq(GETKQ, b"k1") + breq(GETKQ, b"zz") + breq(GETKQ, b"k2") + breq(GETQ, b"zz"),
    breq(TOUCH, b"k1", touch_extras(100), opaque=7),
    breq(TOUCH, b"nope", touch_extras(100)),
    breq(GAT, b"k1", touch_extras(100)) + breq(GATK, b"k1", touch_extras(0)),
    breq(GATQ, b"k1", touch_extras(100)) + breq(GATKQ, b"k1", touch_extras(100)),
    breq(GAT, b"nope", touch_extras(1)) + breq(GATK, b"nope", touch_extras(1)),
    breq(GATQ, b"nope", touch_extras(1)) + breq(GATKQ, b"nope", touch_extras(1)),
    s(b"exp", b"v", exptime=0xffffffff) + breq(GET, b"exp"),
    breq(TOUCH, b"k1", touch_extras(0xffffffff)) + breq(GET, b"k1"),
    s(b"bin", bytes(range(256))) + breq(GET, b"bin"),
    breq(GET, b"k" * 250),
]

STORE_SCRIPT = [
    s(b"k1", b"x", op=ADD, opaque=1),
    s(b"k1", b"y", op=ADD, opaque=2),
    s(b"k1", b"y", op=ADDQ) + s(b"new", b"y", op=ADDQ),
    s(b"zz", b"x", op=REPLACE) + s(b"zz", b"x", op=REPLACEQ),
    s(b"k1", b"r", op=REPLACE) + s(b"k1", b"rq", op=REPLACEQ) + breq(GET, b"k1"),
    breq(APPEND, b"zz", value=b"x") + breq(PREPEND, b"zz", value=b"x"),
    breq(APPEND, b"k1", value=b"A") + breq(PREPEND, b"k1", value=b"P") + breq(GET, b"k1"),
    breq(APPENDQ, b"k1", value=b"A") + breq(PREPENDQ, b"zz", value=b"x") + breq(GET, b"k1"),
    breq(APPEND, b"k1", value=b""),
    s(b"k1", b"x", cas=1),
    s(b"zz", b"x", cas=1),
    s(b"zz2", b"x", op=ADD, cas=1),
    s(b"k1", b"x", op=REPLACE, cas=1),
    s(b"k1", b"x", op=SETQ, cas=1),
    breq(APPEND, b"k1", value=b"c", cas=1),
    s(b"q", b"1", op=SETQ) + s(b"q", b"2", op=SETQ) + breq(GET, b"q"),
    s(b"e", b"", op=SET) + breq(GET, b"e"),
    breq(DELETE, b"k1", cas=1),
    breq(DELETE, b"k1") + breq(DELETE, b"k1"),
    breq(DELETEQ, b"q") + breq(DELETEQ, b"q") + breq(GET, b"q"),
    s(b"big", b"x" * 2000000),
    s(b"big", b"x" * 2000000, op=SETQ),
    breq(APPEND, b"big", value=b"x" * 2000000),
    s(b"big", b"small") + s(b"big", b"x" * 2000000) + breq(GET, b"big"),
]

ARITH_SCRIPT = [
    breq(INCR, b"n1", arith_extras(5, 10, 0), opaque=1),
    breq(INCR, b"n1", arith_extras(5, 10, 0)),
    breq(DECR, b"n1", arith_extras(100, 10, 0)),
    breq(INCR, b"n2", arith_extras(1, 1, 0xffffffff)),
    breq(INCRQ, b"n1", arith_extras(1, 0, 0)) + breq(GET, b"n1"),
    breq(DECRQ, b"n3", arith_extras(1, 0, 0xffffffff)),
    breq(DECRQ, b"n4", arith_extras(1, 42, 100)) + breq(GET, b"n4"),
    s(b"nn", b"abc") + breq(INCR, b"nn", arith_extras(1, 0, 0)),
    breq(INCR, b"n1", arith_extras(1, 0, 0), cas=12345),
    breq(INCR, b"missing", arith_extras(1, 7, 0), cas=12345),
    s(b"max", b"18446744073709551615") + breq(INCR, b"max", arith_extras(1, 0, 0)),
    breq(DECR, b"max", arith_extras(2 ** 64 - 1, 0, 0)),
    s(b"sp", b" 12") + breq(INCR, b"sp", arith_extras(1, 0, 0)) + breq(GET, b"sp"),
    s(b"neg", b"-1") + breq(INCR, b"neg", arith_extras(1, 0, 0)),
]

ADMIN_SCRIPT = [
    breq(NOOP, opaque=42),
    breq(VERSION, opaque=77),
    s(b"k", b"v") + breq(FLUSH) + breq(GET, b"k"),
    s(b"k", b"v") + breq(FLUSHQ) + breq(GET, b"k"),
    s(b"k", b"v") + breq(FLUSH, extras=struct.pack(">I", 0)) + breq(GET, b"k"),
    s(b"k", b"v") + breq(FLUSH, extras=struct.pack(">I", 100)) + breq(GET, b"k"),
    breq(0x50, opaque=1),
    breq(0xff),
    breq(SASL_LIST),
    breq(QUITQ),
    breq(QUIT, opaque=5),
]

ERRORS_SCRIPT = [
    breq(GET, b"x" * 251),
    breq(GET, b"abc", bodylen=2),
    breq(GET, b"abc", extras=b"1234"),
    breq(NOOP, b"x"),
    breq(VERSION, value=b"x"),
    breq(SET, b"k", b"1234", b"v"),
    breq(SET, b"", set_extras(), b"v"),
    breq(INCR, b"k", b"1" * 19),
    breq(DELETE, b"k", value=b"x"),
    breq(APPEND, b"k", b"1234", b"x"),
    breq(TOUCH, b"k", b"12345678"),
    breq(TOUCH, b"", touch_extras(1)),
    breq(FLUSH, extras=b"123"),
    breq(FLUSH, b"k"),
    breq(STAT, b"", b"1234"),
    breq(QUIT, b"k"),
    breq(SASL_AUTH, b"", value=b"x"),
    breq(SASL_LIST, b"k"),
    breq(0x60, b"x" * 300),
    breq(GET, b"abc", extras=b"\x00" * 255, bodylen=10),
    # the shapes the step serves from the header alone (GET and SET
    # families) next to those it must leave to the full checks
    breq(GETK, b"x" * 251),
    breq(GETKQ, b"abc", bodylen=4),
    breq(SET, b"x" * 251, set_extras(), b"v"),
    breq(SETQ, b"k" * 251, set_extras(), b"v"),
    breq(SET, b"abc", set_extras(), b"v", bodylen=10),
    breq(SETQ, b"k", b"1234", b"v"),
    breq(SET, b"k", set_extras(), b"v", datatype=1, vbucket=7) + breq(GET, b"k", datatype=1),
    s(b"k", b"v") + breq(GET, b"k", vbucket=3) + s(b"k", b"w", op=SETQ, opaque=9) +
    breq(GETKQ, b"k", opaque=11) + breq(NOOP),
]

STATS_KEEP = {x.encode() for x in """cmd_get cmd_set cmd_flush cmd_touch get_hits get_misses
get_expired get_flushed delete_misses delete_hits incr_misses incr_hits decr_misses decr_hits
cas_misses cas_hits cas_badval touch_hits touch_misses auth_cmds auth_errors limit_maxbytes
threads curr_items maxbytes maxconns tcpport udpport verbosity evictions growth_factor
chunk_size num_threads reqs_per_event cas_enabled tcp_backlog auth_enabled_sasl item_size_max
flush_enabled detailed""".split()}

STATS_SCRIPT = [
    s(b"a", b"1") + breq(GET, b"a") + breq(GET, b"b") + breq(GAT, b"a", touch_extras(0)) +
    breq(DELETE, b"b") + breq(INCR, b"a", arith_extras(1, 0, 0)) +
    breq(DECR, b"b", arith_extras(1, 0, 0xffffffff)) + s(b"a", b"2", cas=1),
    breq(STAT, opaque=5),
    breq(STAT, b"settings", opaque=6),
    breq(STAT, b"bogus"),
    breq(STAT, b"conns"),
    breq(STAT, b"detail on") + breq(STAT, b"detail dump", opaque=6) + breq(STAT, b"detail off") +
    breq(STAT, b"detail x") + breq(STAT, b"detailed"),
    breq(STAT, b"reset") + breq(STAT, b"resetxyz"),
    breq(STAT, opaque=8),
]


def test_get_touch_gat(server):
    run(server, GETS_SCRIPT)


@pytest.mark.time_limit(60)
def test_store_commands(server):
    run(server, STORE_SCRIPT)


def test_arith(server):
    run(server, ARITH_SCRIPT)


def test_admin(server):
    run(server, ADMIN_SCRIPT)


def test_protocol_errors_close(server):
    run(server, ERRORS_SCRIPT)


def test_stats(server):
    run(server, STATS_SCRIPT, args=["-t", "2"], stats_keep=STATS_KEEP)


def test_flush_disabled(server):
    run(server, [s(b"k", b"v") + breq(FLUSH) + breq(FLUSHQ) + breq(GET, b"k")], args=["-F"])


def test_no_cas(server):
    run(server, [s(b"k", b"v") + breq(GET, b"k") + s(b"k", b"v", cas=5)], args=["-C"])


def test_sasl_commands_without_sasl(server):
    run(server, [breq(SASL_LIST, opaque=1),
                 breq(SASL_AUTH, b"PLAIN", value=plain(b"a", b"b"), opaque=2),
                 breq(SASL_STEP, b"PLAIN", value=b"", opaque=3)])


@pytest.mark.parametrize("request_", [
    # the key counts twice: 3 bytes of the first NOOP go, the rest of it
    # reads as a bad magic, which closes without sending the replies
    breq(0x50, b"abc", opaque=1) + breq(NOOP, opaque=2) + breq(NOOP, opaque=3),
    # 24 bytes: the first NOOP goes whole, the second is answered
    breq(0x50, b"abc", extras=b"x" * 21, opaque=1) + breq(NOOP, opaque=2) +
    breq(NOOP, opaque=3),
    # memcached 1.6.18 does not serve VERBOSITY
    breq(VERBOSITY, extras=struct.pack(">I", 1), opaque=3) + b"\0" * 4 + breq(NOOP, opaque=4),
    breq(0x50, value=b"0123456789", opaque=1) + breq(NOOP, opaque=2),
], ids=["key", "extras+key", "verbosity", "value"])
def test_unknown_opcode_eats_following_bytes(server, request_):
    """memcached answers an unknown opcode "Unknown command", then discards
    bodylen bytes after its key: extras and key count twice and eat into
    the next packet."""
    pair = Pair(server)
    out = {}
    for name, c in pair.conns.items():
        c.send(request_)
        data = c.read_available(0.5)
        packets, rest = parse_packets(data)
        out[name] = (normalize_packets(packets, Masker()), rest, c.eof)
    assert out["stashd"] == out["memcached"]


def test_bad_magic_closes(server):
    """A bad magic closes without a reply, and (as memcached writes only
    when it runs out of input) the replies to the packets read with it are
    lost too."""
    pair = Pair(server)
    for name, c in pair.conns.items():
        c.send(breq(NOOP))
        p = read_packet(c)
        assert p.opcode == NOOP and p.status == 0
        c.send(breq(NOOP, magic=0x81))
        assert c.is_closed(2.0), name
        assert c.buf == b"", name
    # A NOOP or an error makes memcached write at once: replies up to the
    # last of them survive.
    for req in (breq(NOOP) + breq(VERSION), breq(VERSION) + breq(NOOP) + breq(VERSION),
                breq(GET, b"nope") + breq(VERSION), breq(GETK, b"nope") + breq(VERSION),
                s(b"k", b"v") + breq(DELETE, b"k") + breq(GETQ, b"k")):
        pair.reconnect()
        out = {}
        for name, c in pair.conns.items():
            c.send(req + breq(NOOP, magic=0x00))
            assert c.is_closed(2.0), name
            packets, rest = parse_packets(bytes(c.buf))
            out[name] = (normalize_packets(packets, Masker()), rest)
        assert out["stashd"] == out["memcached"], req


def test_split_packets(server):
    """Packets delivered a few bytes at a time give the same replies."""
    pair = Pair(server)
    script = (s(b"k", b"hello", flags=3, opaque=1) + breq(GETK, b"k", opaque=2) +
              breq(INCR, b"n", arith_extras(2, 5, 0)) + breq(APPEND, b"k", value=b"!") +
              breq(GET, b"k") + breq(STAT, b"items") + breq(NOOP, opaque=MARK_OPAQUE))
    out = {}
    for name, c in pair.conns.items():
        c.send_slowly(script, chunk=5)
        packets = []
        while True:
            p = read_packet(c)
            if p.opaque == MARK_OPAQUE:
                break
            packets.append(p)
        out[name] = normalize_packets(packets, Masker(), stats_keep=set())
    assert out["stashd"] == out["memcached"]


def test_too_large_answers_after_swallow(server):
    """E2BIG comes only once the oversized value has been read, as memcached."""
    pair = Pair(server)
    for name, c in pair.conns.items():
        c.send(s(b"big", b"x" * 2000000)[:24 + 8 + 3 + 1000000])
        assert c.read_available(0.3) == b"", name
    for name, c in pair.conns.items():
        c.send(b"x" * 1000000 + breq(NOOP, opaque=9))
        p = read_packet(c)
        assert (p.opcode, p.status, p.value) == (SET, 3, b"Too large."), name
        assert read_packet(c).opaque == 9
    # the counters memcached moves (binary: not store_too_large, unlike text)
    counters = ("cmd_set", "store_too_large", "store_no_memory")
    seen = {}
    for name, srv in (("memcached", pair.mc), ("stashd", pair.sd)):
        st = srv.connect().stats()
        seen[name] = {k: st[k] for k in counters}
    assert seen["stashd"] == seen["memcached"]


def test_pipeline_of_quiet_sets_and_gets(server):
    pair = Pair(server)
    req = b"".join(s(b"k%d" % i, b"v%d" % i, op=SETQ, opaque=i) for i in range(500))
    req += b"".join(breq(GETKQ, b"k%d" % i, opaque=i) for i in range(0, 1000, 3))
    want, got = pair.binary(req)
    assert got == want
    assert len(got[0]) == 167


@pytest.mark.time_limit(60)
def test_memccapable_binary(mc):
    if not shutil.which(MEMCCAPABLE):
        pytest.skip("memccapable not installed (libmemcached-tools)")
    proc = subprocess.run([MEMCCAPABLE, "-h", "127.0.0.1", "-p", str(mc.port), "-b", "-t", "5",
                           "-v"], capture_output=True, timeout=50)
    out = proc.stdout.decode(errors="replace")
    results = {}
    for chunk in re.split(r"(?=binary )", out):
        if not chunk.startswith("binary "):
            continue
        name = chunk[len("binary "):40].strip()
        status = re.search(r"\[(pass|skip|FAIL)\]", chunk[40:])
        results[name] = status.group(1) if status else "FAIL"
    failed = sorted(k for k, v in results.items() if v != "pass")
    assert not failed, f"memccapable -b failures: {failed}\n{out}\n{proc.stderr.decode()}"
    assert len(results) == 27, out
    assert "All tests passed" in out and proc.returncode == 0, out


def libmc(*servers, **kw):
    return pylibmc.Client(["127.0.0.1:%d" % s.port for s in servers], binary=True,
                          behaviors={"cas": True, "ketama": len(servers) > 1,
                                     "connect_timeout": 5000, "receive_timeout": 5_000_000,
                                     "send_timeout": 5_000_000}, **kw)


def test_pylibmc_binary_every_operation(mc):
    c = libmc(mc)
    assert c.get("missing") is None
    assert c.set("k", b"v1") is True
    assert c.get("k") == b"v1"
    assert c.set("n", 5) is True and c.get("n") == 5
    assert c.set("s", "text") is True and c.get("s") == "text"
    assert c.set("obj", {"a": [1, 2]}) is True and c.get("obj") == {"a": [1, 2]}
    assert c.set_multi({"a": b"1", "b": b"2", "c": b"3"}) == []
    assert c.get_multi(["a", "b", "nope", "c"]) == {"a": b"1", "b": b"2", "c": b"3"}
    assert c.add("k", b"x") is False
    assert c.add("new", b"x") is True
    with pytest.raises(pylibmc.NotFound):  # binary mode: ENOENT is an exception
        c.replace("nope", b"x")
    assert c.replace("new", b"y") is True
    assert c.append("new", b"z") is True
    assert c.prepend("new", b"w") is True
    assert c.get("new") == b"wyz"
    assert c.append("nope", b"z") is False
    value, cas = c.gets("k")
    assert value == b"v1" and cas > 0
    assert c.cas("k", b"v2", cas + 1) is False
    assert c.cas("k", b"v2", cas) is True
    assert c.cas("k", b"v3", cas) is False
    assert c.get("k") == b"v2"
    assert c.set("ctr", b"10") is True
    assert c.incr("ctr", 5) == 15
    assert c.decr("ctr", 20) == 0
    with pytest.raises(pylibmc.NotFound):
        c.incr("nope", 1)
    assert c.touch("k", 100) is True
    assert c.touch("nope", 100) is False
    assert c.delete("k") is True
    assert c.delete("k") is False
    assert c.delete_multi(["a", "b", "nope"]) is False
    assert c.get_multi(["a", "b", "c"]) == {"c": b"3"}
    big = b"x" * (512 * 1024)
    assert c.set("big", big) is True and c.get("big") == big
    with pytest.raises(pylibmc.TooBig):
        c.set("huge", b"x" * (2 * 1024 * 1024))
    stats = c.get_stats()
    assert len(stats) == 1 and int(stats[0][1]["cmd_set"]) > 10
    assert len(c.get_stats("settings")) == 1  # pylibmc maps it onto general names
    assert c.flush_all() is True
    assert c.get("c") is None
    c.disconnect_all()


def test_pylibmc_binary_two_servers(server):
    a, b = server(), server()
    c = libmc(a, b)
    keys = {"key%d" % i: b"v%d" % i for i in range(200)}
    assert c.set_multi(keys) == []
    assert c.get_multi(list(keys)) == keys
    assert int(a.stats()["curr_items"]) > 20 and int(b.stats()["curr_items"]) > 20
    assert c.delete_multi(list(keys)) is True
    assert c.get_multi(list(keys)) == {}


def test_binary_only_protocol(server):
    """-B binary: a text client is refused (closed), a binary one served."""
    sd = server(args=["-B", "binary"])
    t = sd.connect()
    t.send(b"version\r\n" + b"x" * 30)
    assert t.is_closed(2.0)
    b = sd.connect()
    b.send(breq(VERSION))
    assert read_packet(b).status == 0


def test_ascii_only_protocol(server):
    """-B ascii: a binary packet is read as text."""
    pair = Pair(server, ["-B", "ascii"])
    out = {}
    for name, c in pair.conns.items():
        c.send(breq(NOOP) + b"\r\nversion\r\n")
        out[name] = c.read_until(b"VERSION")
    assert out["stashd"] == out["memcached"]


def _value(i, n):
    """A value of n bytes that names its key and round (a mix-up shows)."""
    head = b"<%d>" % i
    return (head * (n // len(head) + 1))[:n]


@pytest.mark.parametrize("mode", ["evict", "no-evict"])
def test_pipelined_sets_on_a_full_store(server, mode):
    """Whole SET/SETQ packets pipelined with GETs into a full store (-m 8):
    the header-to-store shortcut (bin_fast) must evict, or answer ENOMEM
    under -M, like the general path, and never hand back a wrong value."""
    args = ["-m", "8"] + (["-M"] if mode == "no-evict" else [])
    srv = server(args=args)
    c = srv.connect()
    stored = {}  # key index -> (value, cas) of its last successful SET
    nomem = 0
    for batch in range(300):  # 300 x 16 sets of ~3 kB: about 14 MB into 8 MB
        req, kinds = b"", []
        for j in range(16):
            i = batch * 16 + j
            v = _value(i, 2000 + (i * 37) % 2000)
            op = SETQ if j % 4 == 3 else SET
            req += s(b"fk:%d" % i, v, flags=i, op=op, opaque=i)
            kinds.append(("set", i, v, op))
            # read back a key of this batch and one of an early batch
            for k in (i, i // 7):
                req += breq(GETK, b"fk:%d" % k, opaque=1000000 + k)
                kinds.append(("get", k, None, GETK))
        req += breq(NOOP, opaque=MARK_OPAQUE)
        c.send(req)
        got = read_until_mark(c, timeout=10)
        assert not got[1], "closed"
        replies = iter(got[0])
        pending = {}  # a quiet SET is known good only once nothing failed for it
        for kind, i, v, op in kinds:
            if kind == "set":
                if op == SETQ:
                    pending[i] = v
                    continue
                p = next(replies)
                assert p.opaque == i and p.opcode == SET
                if p.status == OK:
                    assert p.cas != 0
                    stored[i] = (v, p.cas)
                else:
                    assert mode == "no-evict" and p.status == 0x82, p
                    nomem += 1
                    stored.pop(i, None)
                continue
            # A failed SETQ answers (quiet only hides success): its reply
            # comes before the GETs after it.
            p = next(replies)
            while p.opcode == SETQ:
                assert mode == "no-evict" and p.status == 0x82, p
                nomem += 1
                pending.pop(p.opaque, None)
                stored.pop(p.opaque, None)
                p = next(replies)
            for q, qv in pending.items():
                stored[q] = (qv, None)
            pending.clear()
            assert p.opcode == GETK and p.opaque == 1000000 + i, p
            if p.status == OK:
                want = stored.get(i)
                assert want is not None, f"fk:{i} read back without a stored value"
                assert p.value == want[0], f"fk:{i}: wrong value"
                assert struct.unpack(">I", p.extras)[0] == i
                if want[1] is not None:
                    assert p.cas == want[1]
            else:
                assert p.status == ENOENT, p
        assert next(replies, None) is None
    st = srv.connect().stats()
    if mode == "evict":
        assert int(st["evictions"]) > 0 and nomem == 0
    else:
        assert nomem > 0 and int(st["evictions"]) == 0
    assert int(st["bytes"]) <= 8 * 1024 * 1024
