"""Meta commands (mg ms md ma mn me), differential against memcached 1.6.18.

Each script runs on a fresh pair of servers (Debian's memcached and the
binary under test, same arguments); every step is sent to both, followed by
"mn" as an end marker, and the replies must be the same bytes after masking
CAS values (renamed in order of first appearance), TTLs, access times and
me's cls/size (see mc_util.normalize_meta). Steps that need a CAS the server
handed out are functions of the server's last raw reply.

The scripts cover every flag memcached 1.6.18 knows, each command's errors
in memcached's order, quiet mode, base64 keys, the ms modes, ma's modes and
vivify, and the stale-while-revalidate flow (I, X, W, Z, R, N).
"""

import re

import pytest

from mc_util import Masker, Pair, normalize_meta

K250 = b"k" * 250
K251 = b"k" * 251


def cas_of(raw, which=-1):
    """The n-th " c<cas>" in a raw reply."""
    found = re.findall(rb" c(\d+)", raw)
    return found[which]


def run(server, steps, args=()):
    pair = Pair(server, args)
    for i, step in enumerate(steps):
        want, got = pair.meta(step)
        assert got == want, f"step {i}: {step!r}\nmemcached: {want!r}\nstashd:    {got!r}"
    return pair


# --------------------------------------------------------------------------

MG_BASICS = [
    b"mn\r\n",
    b"mg missing\r\n",
    b"mg missing v\r\n",
    b"mg missing v k O123 s t\r\n",
    b"mg missing v k O123 q\r\n",
    b"mg missing q\r\nmg missing2 k q\r\n",
    b"ms k1 5 F42 T100\r\nhello\r\n",
    b"mg k1\r\n",
    b"mg k1 v\r\n",
    b"mg k1 s v\r\n",
    b"mg k1 v s f t c k O99 h l\r\n",
    b"mg k1 k v O1 c f\r\n",
    b"mg k1 q\r\n",
    b"mg k1 v q k\r\n",
    b"mg k1 u h\r\n",
    b"mg k1 P L h\r\n",
    b"mg k1 I v\r\n",
    b"mg k1 vxyz sabc\r\n",
    b"mg " + K250 + b" v\r\n",
    b"mg k1 O12345678901234567890123456789012\r\n",
    b"mg k1 O" + b"9" * 31 + b" k\r\n",
    b"mg k1 t T30 t\r\n",
    b"mg k1 t T30\r\n",
    b"mg k1 T40 t\r\n",
    b"mg k1 T0 t\r\n",
    b"mg k1 T-1 v\r\n",
    b"mg k1 v\r\n",
]

MG_ERRORS = [
    b"mg\r\n",
    b"mg " + K251 + b"\r\n",
    b"mg " + K251 + b" x x\r\n",
    b"mg k x\r\n",
    b"mg k E5\r\n",
    b"mg k W\r\n",
    b"mg k v v\r\n",
    b"mg k v s v\r\n",
    b"mg k Tx\r\n",
    b"mg k T\r\n",
    b"mg k N\r\n",
    b"mg k Rx\r\n",
    b"mg k Fx\r\n",
    b"mg k Fx Tx\r\n",
    b"mg k Tx Fx\r\n",
    b"mg k Cx\r\n",
    b"mg k MXY\r\n",
    b"mg k Jx\r\n",
    b"mg k Dx\r\n",
    b"mg k \xc3\xa9\r\n",
    b"mg k Tx x\r\n",
    b"mg k Tx v v\r\n",
    b"mg k b\r\n",
    b"mg k O123456789012345678901234567890123\r\n",
    b"mg k " + b" ".join(bytes([c]) for c in b"vstcfhlkqu") + b" O1 P L I Z\r\n",
    b"mg k v s t c f h l k q u O1 P L I T1 N1 R1\r\n",
    b"mg k v s t c f h l k q u O1 P L I T1 N1 R1 b\r\n",
    b"mg k " + b"v " * 30 + b"\r\n",
    b"mg k v\x00 junk\r\n",
    b"mx k\r\n",
    b"mgg k\r\n",
]

MS_SCRIPT = [
    b"ms first 1\r\nx\r\n",
    b"ms k 2\r\nhi\r\n",
    b"ms k 2 c k O5\r\nhi\r\n",
    b"ms k 0\r\n\r\n",
    b"mg k v s\r\n",
    b"ms k 4\r\na\r\nb\r\n",
    b"mg k v\r\n",
    b"ms k 3 F7 T60\r\nabc\r\n",
    b"mg k v f t\r\n",
    b"ms k 2 q\r\nzz\r\n",
    b"ms k 2 q k\r\nzz\r\n",
    b"ms k 2 ME\r\nxx\r\n",
    b"ms k 2 ME q\r\nxx\r\n",
    b"ms new 2 ME c\r\nxx\r\n",
    b"ms k 1 MA\r\n1\r\n",
    b"ms k 1 MP\r\n0\r\n",
    b"mg k v f t\r\n",
    b"ms nope 1 MA\r\n1\r\n",
    b"ms nope 1 MP c\r\n1\r\n",
    b"ms nope 1 MR\r\n1\r\n",
    b"ms k 1 MR\r\nR\r\n",
    b"ms k 1 MS\r\nS\r\n",
    b"mg k v\r\n",
    b"ms k 1 C1\r\nC\r\n",
    b"ms nope 1 C1\r\nC\r\n",
    b"ms k 1 MR C1\r\nC\r\n",
    b"ms k 1 MA C1\r\nC\r\n",
    b"ms nope 1 ME C1\r\nE\r\n",
    b"ms k 1 ME C1\r\nE\r\n",
    b"mg k c v\r\n",
    lambda name, raw: b"ms k 3 C" + cas_of(raw) + b" c\r\nnew\r\n",
    b"mg k c v\r\n",
    lambda name, raw: b"ms k 1 MA C" + cas_of(raw) + b"\r\n!\r\n",
    b"mg k v\r\n",
    b"ms k 2 O1 O2\r\nxx\r\n",
    b"ms k 2 Fx\r\nxx\r\n",
    b"ms k 2 Tx\r\nxx\r\n",
    b"ms k 2 MX\r\nxx\r\n",
    b"ms k 2 MXX\r\nxx\r\n",
    b"ms k 2 O123456789012345678901234567890123\r\nxx\r\n",
    b"ms k 2 O123456789012345678901234567890123 MX\r\nxx\r\n",
    b"ms k 2 O123456789012345678901234567890123 MS\r\nxx\r\n",
    b"ms k 2 O123456789012345678901234567890123 x\r\nxx\r\n",
    b"ms k 2 x\r\nxx\r\n",
    b"ms k 2 v s t h l u P L N5 R5 J1 D1\r\nxx\r\n",
    b"mg k v t\r\n",
    b"ms\r\n",
    b"ms k\r\n",
    b"ms k abc\r\n",
    b"ms k -1\r\n",
    b"ms k 2147483646\r\n",
    b"ms " + K251 + b" 2\r\nxx\r\n",
    b"ms k " + b"q " * 20 + b"\r\n",
    b"ms k 2\r\nabc\r\n",
    b"ms k 2 T-1\r\nxx\r\n",
    b"mg k v\r\n",
]

MS_TOO_LARGE = [
    b"ms big 2\r\nxx\r\n",
    b"ms big 2000000\r\n" + b"x" * 2000000 + b"\r\n",
    b"mg big v\r\n",
    b"ms big 2000000 q\r\n" + b"x" * 2000000 + b"\r\n",
    b"ms big 2000000 x\r\n" + b"x" * 2000000 + b"\r\n",
    b"ms big 2 MS\r\nxx\r\n",
    b"ms big 2000000 MA\r\n" + b"x" * 2000000 + b"\r\n",
    b"mg big v\r\n",
]

MD_SCRIPT = [
    b"ms first 1\r\nx\r\n",
    b"md nope\r\n",
    b"md nope q\r\n",
    b"md nope k O7\r\n",
    b"ms k 2\r\nhi\r\n",
    b"md k q\r\n",
    b"mg k\r\n",
    b"ms k 2\r\nhi\r\n",
    b"md k k O9 c\r\n",
    b"ms k 2\r\nhi\r\n",
    b"md k C1\r\n",
    b"md k C1 q\r\n",
    b"mg k c\r\n",
    lambda name, raw: b"md k C" + cas_of(raw) + b"\r\n",
    b"mg k\r\n",
    b"md\r\n",
    b"md " + K251 + b"\r\n",
    b"md k x\r\n",
    b"md k Tx\r\n",
    b"md k k k\r\n",
    b"md k O123456789012345678901234567890123\r\n",
    b"md k " + b"q " * 20 + b"\r\n",
]

MA_SCRIPT = [
    b"ms first 1\r\nx\r\n",
    b"ma cnt\r\n",
    b"ma cnt q\r\n",
    b"ma cnt q O5 k\r\n",
    b"ma cnt N0 J10\r\n",
    b"ma cnt v\r\n",
    b"ma cnt v MD D3 c t k O9\r\n",
    b"ma cnt M- D100 v\r\n",
    b"ma cnt MI D5 q\r\n",
    b"ma cnt q v\r\n",
    b"ma cnt M+ v\r\n",
    b"ma cnt2 N0 J5 t v\r\n",
    b"ma cnt2 T100 t v\r\n",
    b"ma cnt2 t v N50\r\n",
    b"ma cnt2 t T0 t v\r\n",
    b"ma cnt2 t T0 v\r\n",
    b"ma cnt2 T0 t v\r\n",
    b"ma cnt3 N30 J7 q v\r\n",
    b"ma cnt3 v t\r\n",
    b"ma cnt4 t N30 T60 v t\r\n",
    b"ms nn 2\r\nab\r\n",
    b"ma nn\r\n",
    b"ma nn C1\r\n",
    b"ma zz C1\r\n",
    b"ma cnt C1 v\r\n",
    b"mg cnt c\r\n",
    lambda name, raw: b"ma cnt C" + cas_of(raw) + b" v c\r\n",
    b"ma nn MX\r\n",
    b"ma nn Dx\r\n",
    b"ma nn Jx\r\n",
    b"ma nn Nx\r\n",
    b"ma nn T10 Tx\r\n",
    b"ma nn x\r\n",
    b"ma\r\n",
    b"ma " + K251 + b"\r\n",
    b"ma cnt O123456789012345678901234567890123\r\n",
    b"ma cnt MX O123456789012345678901234567890123\r\n",
    b"ma nn N0 J5 T20 v t\r\n",
    b"ms big 20\r\n18446744073709551615\r\n",
    b"ma big v\r\n",
    b"ma big v MD D18446744073709551615\r\n",
    b"ms sp 3\r\n 12\r\n",
    b"ma sp v\r\n",
    b"ms neg 2\r\n-1\r\n",
    b"ma neg v\r\n",
    b"ma cnt D18446744073709551615 v\r\n",
]

ME_SCRIPT = [
    b"ms first 1\r\nx\r\n",
    b"me\r\n",
    b"me nope\r\n",
    b"ms k 5 T100\r\nhello\r\n",
    b"me k\r\n",
    b"mg k v\r\n",
    b"me k\r\n",
    b"me k extra tokens here\r\n",
    b"me " + K251 + b"\r\n",
    b"ms nottl 2\r\nhi\r\n",
    b"me nottl\r\n",
    b"me bm90dGts b\r\n",
    b"me bm90dGts\r\n",
    b"me bad! b\r\n",
    b"me bm90dGts bb\r\n",
]

BASE64_SCRIPT = [
    b"ms first 1\r\nx\r\n",
    b"ms Zm9v b 2\r\nhi\r\n",
    b"ms Zm9v 2 b\r\nhi\r\n",
    b"mg foo k v\r\n",
    b"mg Zm9v b k v\r\n",
    b"mg Zm9v b k v q\r\n",
    b"me Zm9v b\r\n",
    b"me foo\r\n",
    b"set foo 0 0 3\r\nabc\r\n",
    b"mg foo k v\r\n",
    b"mg Zm9v b k v\r\n",
    b"mg bar b k\r\n",
    b"mg Zm9 b k\r\n",
    b"mg Zm9vYg== b k\r\n",
    b"mg Zm9vYg b k\r\n",
    b"mg Zm9v!YmFy b k\r\n",
    b"mg Zm9v YmFy b k\r\n",
    b"mg Zm8=YmFy b k\r\n",
    b"mg Z=== b k\r\n",
    b"mg ==== b k\r\n",
    b"mg AA== b k v\r\n",
    b"ms AA== 1 b k c\r\nz\r\n",
    b"mg AA== b k v\r\n",
    b"md AA== b k\r\n",
    b"ms AAEC/w== 3 b\r\nbin\r\n",
    b"mg AAEC/w== b k s v\r\n",
    b"ma Y250 b N0 J3 k v\r\n",
    b"ma Y250 b k v\r\n",
    b"ms Zm9v 2 b MA k\r\nzz\r\n",
    b"mg foo k v\r\n",
    b"ms Zm9v 2 b k Tx\r\nzz\r\n",
    b"ms " + b"QUFB" * 62 + b" 1 b k\r\nz\r\n",
    b"mg " + b"QUFB" * 62 + b" b k v\r\n",
]

STALE_SCRIPT = [
    b"ms first 1\r\nx\r\n",
    b"ms st 2 T100\r\nab\r\n",
    b"md st I T30\r\n",
    b"mg st v c t\r\n",
    b"mg st v\r\n",
    b"mg st\r\n",
    b"mg st k O1 q\r\n",
    b"ms st 3 I C1\r\nxyz\r\n",
    b"mg st v t\r\n",
    b"mg st c\r\n",
    lambda name, raw: b"ms st 3 I C" + cas_of(raw) + b"\r\nnew\r\n",
    b"mg st v c\r\n",
    b"md st I q\r\n",
    b"mg st v\r\n",
    b"md st I\r\n",
    b"mg st v\r\n",
    b"ms st 3\r\nabc\r\n",
    b"mg st v\r\n",
    b"md nope I\r\n",
    b"md st I T-1\r\n",
    b"mg st v\r\n",
    # recache: W for the first to see less than R seconds left
    b"ms r1 2 T10\r\nab\r\n",
    b"mg r1 R30 v\r\n",
    b"mg r1 R30 v\r\n",
    b"mg r1 R5 v\r\n",
    b"ms r1 2 T10\r\nab\r\n",
    b"mg r1 R5 v\r\n",
    b"ms r2 2\r\nab\r\n",
    b"mg r2 R30 v\r\n",
    # vivify: W for the creator, Z until a set
    b"mg viv N30 v c t s f k h\r\n",
    b"mg viv N30 v t h\r\n",
    b"mg viv v\r\n",
    b"mg viv N30 R60\r\n",
    b"ms viv 3 T100\r\nnew\r\n",
    b"mg viv v t\r\n",
    b"mg viv2 t N30\r\n",
    b"mg viv2 t\r\n",
    b"mg viv3 N30 q\r\n",
    b"mg viv3 q\r\n",
    b"mg viv4 N0 s v\r\n",
    b"md viv4 I\r\n",
    b"mg viv4 N30 v\r\n",
    b"mg viv4 N30 v\r\n",
]

TEXT_MIX = [
    b"set a 0 0 1\r\n1\r\nmg a v\r\nget a\r\nms a 1\r\n2\r\ngets a\r\n",
    b"mg a v\r\nincr a 5\r\nma a v\r\ndecr a 100\r\nma a MD v\r\n",
    b"touch a 100\r\nmg a t\r\ndelete a\r\nmg a\r\nmd a\r\n",
    b"ms a 1 T100\r\n1\r\ngat 0 a\r\nmg a t\r\n",
    b"ms f 1 F123\r\n1\r\nget f\r\nmg f f\r\nappend f 0 0 1\r\n2\r\nmg f v f\r\n",
]


def test_mg_basics(server):
    run(server, MG_BASICS)


def test_mg_errors(server):
    run(server, MG_ERRORS)


def test_ms(server):
    run(server, MS_SCRIPT)


@pytest.mark.time_limit(60)
def test_ms_too_large(server):
    run(server, MS_TOO_LARGE)


def test_md(server):
    run(server, MD_SCRIPT)


def test_ma(server):
    run(server, MA_SCRIPT)


def test_me(server):
    run(server, ME_SCRIPT)


def test_base64_keys(server):
    run(server, BASE64_SCRIPT)


def test_stale_win_flags(server):
    run(server, STALE_SCRIPT)


def test_meta_and_text_share_items(server):
    run(server, TEXT_MIX)


def test_no_cas(server):
    run(server, [b"ms k 2 c\r\nhi\r\n", b"mg k c v\r\n", b"ma n N0 J1 c\r\n", b"me k\r\n",
                 b"ms k 2 C0\r\nhi\r\n", b"ms k 2 C5\r\nhi\r\n"], args=["-C"])


def test_stats_count_meta(server):
    pair = run(server, [
        b"ms a 1\r\n1\r\nmg a v\r\nmg b v\r\nmg a T10\r\nmg b T10\r\nma a\r\nma c\r\n",
        b"md a\r\nmd a\r\nme a\r\nmg x N10\r\nms x 1 C1\r\n1\r\nmd x C1\r\nma x C1\r\n",
        b"mg x2 Tx\r\nms toolong 2 MX\r\nxx\r\nms k 2\r\nabc\r\n",
    ])
    names = ["cmd_get", "cmd_set", "cmd_touch", "cmd_meta", "get_hits", "get_misses",
             "delete_misses", "delete_hits", "incr_misses", "incr_hits", "decr_misses",
             "decr_hits", "cas_misses", "cas_hits", "cas_badval", "touch_hits", "touch_misses"]
    want = pair.mc.stats()
    got = pair.sd.stats()
    assert {n: got[n] for n in names} == {n: want[n] for n in names}


def test_split_reads(server):
    """Meta requests delivered a few bytes at a time give the same replies."""
    pair = Pair(server)
    script = (b"ms k 5 T100 F3 c\r\nhello\r\nmg k v s f t c k\r\nma n N0 J3 v\r\n"
              b"md k I\r\nmg k v\r\nms k2 3 MA\r\nabc\r\nme n\r\n")
    out = {}
    for name, c in pair.conns.items():
        c.send_slowly(script + b"mn\r\n", chunk=3)
        out[name] = normalize_meta(c.read_until(b"MN\r\n"), pair.maskers[name])
    assert out["stashd"] == out["memcached"]


@pytest.mark.time_limit(60)
def test_refused_ms_answers_after_its_data(server):
    """A refused ms (too large, bad flag) is answered once its data has been
    swallowed, as memcached does: nothing comes back before."""
    pair = Pair(server)
    for req in (b"ms big 2000000\r\n", b"ms k 5 x\r\n"):
        n = int(req.split()[2])
        for name, c in pair.conns.items():
            c.send(req + b"x" * (n // 2))
            assert c.read_available(0.3) == b"", name
        for name, c in pair.conns.items():
            c.send(b"x" * (n - n // 2) + b"\r\nmn\r\n")
        want, got = (normalize_meta(c.read_until(b"MN\r\n"), Masker())
                     for c in pair.conns.values())
        assert got == want


@pytest.mark.time_limit(60)
def test_pipelined_meta_quiet_batch(server):
    """The meta protocol's intended batching: many quiet gets, then mn."""
    pair = Pair(server)
    batch = b"".join(b"ms k%d 3 q T0\r\nv%02d\r\n" % (i, i % 100) for i in range(300))
    want, got = pair.meta(batch)
    assert want == got == b""
    batch = b"".join(b"mg k%d v q k\r\n" % i for i in range(0, 600, 2))
    want, got = pair.meta(batch)
    assert got == want
    assert got.count(b"VA 3") == 150


def test_long_meta_line_closes(server):
    """A line over 2048 bytes without a newline closes, as any non-get line."""
    pair = Pair(server)
    for c in pair.conns.values():
        c.send(b"mg " + b"x" * 3000)
        assert c.is_closed(2.0)
