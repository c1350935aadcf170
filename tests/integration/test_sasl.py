"""Authentication under -S: SASL PLAIN over the binary protocol, memcached's
ASCII authentication over text, and pylibmc with a username and password.

Differential where memcached can be set up the same way:

* binary SASL against Debian's memcached -S, which authenticates through
  Cyrus SASL: its users live in a sasldb made with saslpasswd2 (package
  sasl2-bin) and a memcached.conf in $SASL_CONF_PATH selecting PLAIN. Where
  saslpasswd2 is missing those tests check stashd alone (skipping only the
  memcached side);
* ASCII authentication against memcached -Y <file>, which takes the same
  "user:password" file that stashd reads under -S (memcached refuses the
  text protocol under -S itself; stashd serves it with the ASCII form).
"""

import os
import shutil
import subprocess

import pylibmc
import pytest

from conftest import IS_MEMCACHED, MEMCACHED
from mc_util import (AUTH_ERROR, GET, NOOP, SASL_AUTH, SASL_LIST, SASL_STEP, SET, STAT,
                     VERSION, Masker, breq, normalize_packets, plain, read_packet,
                     read_until_mark, set_extras, MARK_OPAQUE)

pytestmark = pytest.mark.skipif(IS_MEMCACHED, reason="tests stashd's -S (memcached needs "
                                "a SASL setup, used below where available)")

USERS = {b"alice": b"s3cret", b"bob": b"hunter2"}
SASLPASSWD2 = shutil.which("saslpasswd2") or "/usr/sbin/saslpasswd2"


@pytest.fixture
def pwdb(tmp_path):
    path = tmp_path / "pwdb"
    path.write_bytes(b"".join(u + b":" + p + b"\n" for u, p in USERS.items()))
    return path


@pytest.fixture
def memcached_sasl(server, tmp_path, monkeypatch):
    """memcached -S with a sasldb holding USERS, or None without saslpasswd2."""
    if not os.access(SASLPASSWD2, os.X_OK):
        return None
    db = tmp_path / "sasldb2"
    for user, password in USERS.items():
        subprocess.run([SASLPASSWD2, "-a", "memcached", "-c", "-p", "-f", str(db),
                        user.decode()], input=password, check=True, capture_output=True)
    conf = tmp_path / "memcached.conf"
    conf.write_text(f"mech_list: plain\nsasldb_path: {db}\n")
    monkeypatch.setenv("SASL_CONF_PATH", str(tmp_path))
    return server(args=["-S"], binary=MEMCACHED)


def exchange(conn, request):
    """Packets answering `request` (then a NOOP mark), and whether it closed."""
    conn.send(request + breq(NOOP, opaque=MARK_OPAQUE))
    return read_until_mark(conn, timeout=3)


def auth(user, password, opaque=0, mech=b"PLAIN", authzid=b""):
    return breq(SASL_AUTH, mech, value=plain(user, password, authzid), opaque=opaque)


BINARY_STEPS = [
    # (request, closes)
    (breq(VERSION, opaque=1), False),
    (breq(SASL_LIST, opaque=2), False),
    (breq(GET, b"k", opaque=3), True),
    (auth(b"alice", b"wrong", opaque=4), False),
    (auth(b"alice", b"wrong") + breq(SET, b"k", set_extras(), b"v"), True),
    (auth(b"nobody", b"s3cret"), False),
    (auth(b"alice", b"s3cret", mech=b"CRAM-MD5"), False),
    (auth(b"alice", b"s3cret", mech=b"plain"), False),
    (auth(b"alice", b"s3cret", authzid=b"bob"), False),
    (auth(b"alice", b"s3cre"), False),
    (auth(b"alice", b"s3cret\0"), False),
    (breq(SASL_AUTH, b"PLAIN", value=b"alice\0s3cret"), False),
    (breq(SASL_STEP, b"PLAIN", value=plain(b"alice", b"s3cret")), False),
    (breq(SASL_AUTH, b"P" * 33, value=b"x"), False),
    (auth(b"alice", b"s3cret", opaque=5) + breq(SET, b"k", set_extras(7), b"v") +
     breq(GET, b"k"), False),
    (auth(b"alice", b"s3cret", authzid=b"alice") + breq(GET, b"k"), False),
    (auth(b"bob", b"hunter2") + breq(SASL_STEP, b"PLAIN", value=b"") + breq(GET, b"k"), True),
    (auth(b"bob", b"hunter2") + breq(SASL_LIST) + breq(GET, b"k"), True),
    (auth(b"bob", b"hunter2") + auth(b"bob", b"nope") + breq(GET, b"k"), True),
    (auth(b"bob", b"hunter2") + breq(STAT, b"settings"), False),
    # PLAIN without its response: "continue", then the response in a STEP
    (breq(SASL_AUTH, b"PLAIN", opaque=6) + breq(SASL_STEP, b"PLAIN", value=plain(b"alice", b"s3cret"),
                                                opaque=7) + breq(GET, b"k"), False),
    (breq(SASL_AUTH, b"PLAIN") + auth(b"alice", b"s3cret") + breq(GET, b"k"), False),
    (breq(SASL_AUTH, b"PLAIN") + breq(SASL_STEP, b"PLAIN", value=plain(b"alice", b"x")) +
     breq(GET, b"k"), True),
    (auth(b"alice", b"s3cret") + breq(SASL_STEP, b"PLAIN", value=plain(b"alice", b"s3cret")) +
     breq(GET, b"k"), True),
    (breq(SASL_AUTH, b"PLAIN") + breq(SASL_STEP, b"PLAIN", value=plain(b"alice", b"s3cret")) +
     breq(SASL_STEP, b"PLAIN", value=plain(b"alice", b"s3cret")), False),
    (auth(b"alice", b"s3cret\0x") + auth(b"", b"s3cret") +
     breq(SASL_AUTH, b"PLAIN", value=b"\0alice"), False),
]


def run_binary(srv):
    out = []
    masker = Masker()
    for request, _ in BINARY_STEPS:
        c = srv.connect()
        packets, closed = exchange(c, request)
        keep = {b"auth_enabled_sasl", b""}
        out.append((normalize_packets(packets, masker, stats_keep=keep), closed))
        c.close()
    return out


def test_binary_sasl(server, pwdb, memcached_sasl):
    sd = server(args=["-S", "--sasl-pwdb", str(pwdb)])
    got = run_binary(sd)
    for (request, closes), (packets, closed) in zip(BINARY_STEPS, got):
        assert closed == closes, (request, packets)
    # spot checks that hold with or without memcached to compare with
    assert got[1][0][0][6] == b"PLAIN"
    assert got[2][0][0][1] == hex(AUTH_ERROR) and got[2][0][0][6] == b"Auth failure."
    assert [p[6] for p in got[14][0]] == [b"Authenticated", b"", b"v"]
    if memcached_sasl is None:
        pytest.skip("saslpasswd2 (sasl2-bin) missing: memcached side not compared")
    want = run_binary(memcached_sasl)
    for i, (w, g) in enumerate(zip(want, got)):
        assert g == w, f"step {i}: {BINARY_STEPS[i][0][:60]!r}"
    names = ["auth_cmds", "auth_errors"]
    for srv in (memcached_sasl, sd):  # memcached -S serves no text: stats by binary
        c = srv.connect()
        packets, _ = exchange(c, auth(b"alice", b"s3cret") + breq(STAT))
        stats = {p.key: p.value for p in packets if p.opcode == STAT}
        srv.auth_stats = {n: stats[n.encode()] for n in names}
    assert sd.auth_stats == memcached_sasl.auth_stats


def test_env_pwdb_and_no_file(server, pwdb, monkeypatch):
    monkeypatch.setenv("MEMCACHED_SASL_PWDB", str(pwdb))
    sd = server(args=["-S"])
    c = sd.connect()
    packets, closed = exchange(c, auth(b"bob", b"hunter2") + breq(GET, b"k"))
    assert [p.status for p in packets] == [0, 1] and not closed
    monkeypatch.delenv("MEMCACHED_SASL_PWDB")
    sd2 = server(args=["-S"])
    c = sd2.connect()
    packets, closed = exchange(c, auth(b"bob", b"hunter2"))
    assert [p.status for p in packets] == [AUTH_ERROR] and not closed


def test_password_file_rules(server, tmp_path):
    """memcached's pwdb rules: the first line naming a user decides, the
    password ends at ':' or the line end (CRLF files work)."""
    path = tmp_path / "pw"
    path.write_bytes(b"carol:first:extra\r\ncarol:second\ndave:\nerin:with space\n")
    sd = server(args=["-S", "--sasl-pwdb", str(path)])
    for user, password, ok in [(b"carol", b"first", True), (b"carol", b"second", False),
                               (b"carol", b"first:extra", False), (b"dave", b"", True),
                               (b"erin", b"with space", True), (b"erin", b"with", False),
                               (b"car", b"first", False)]:
        c = sd.connect()
        packets, _ = exchange(c, auth(user, password))
        assert (packets[0].status == 0) == ok, (user, password)


ASCII_STEPS = [
    b"get foo\r\n",
    b"version\r\n",
    b"set foo 0 0\r\n",
    b"set foo 0 0 x\r\n",
    b"add foo 0 0 12\r\nalice s3cret\r\n",
    b"set foo 0 0 12\r\nalice wrongg\r\n",
    b"set foo 0 0 5\r\nalice\r\n",
    b"set foo 0 0 12\r\nalice s3cretXX",
    b"set a b c 13 extra\r\nbob  hunter2\r\n",
    b"set foo 0 0 12\r\nalice s3cret\r\nset k 0 0 1\r\nv\r\nget k\r\n",
    b"set foo 0 0 16\r\nalice s3cret bob\r\nget k\r\n",
    # memcached answers the requests of one read in one response object
    # until authenticated: only the last reply of the read is sent
    b"get foo\r\nget bar\r\n",
    b"get foo\r\nset foo 0 0 12\r\nalice s3cret\r\nget foo\r\n",
    b"set foo 0 0 12\r\nalice wrongg\r\nget foo\r\n",
    b"set foo 0 0 12\r\nalice wrongg\r\nset foo 0 0 12\r\nalice s3cret\r\n",
]


def run_ascii(srv):
    out = []
    for step in ASCII_STEPS:
        c = srv.connect()
        c.send(step)
        out.append(c.read_available(0.3))
        c.close()
    return out


@pytest.mark.parametrize("flags", [["-S", "--sasl-pwdb"], ["-Y"]])
def test_ascii_auth(server, pwdb, flags):
    """stashd -Y FILE (and -S with the same file) against memcached -Y FILE."""
    sd = server(args=flags + [str(pwdb)])
    got = run_ascii(sd)
    assert got[0] == b"CLIENT_ERROR unauthenticated\r\n"
    assert got[9] == b"STORED\r\nSTORED\r\nVALUE k 0 1\r\nv\r\nEND\r\n"
    mc = server(args=["-Y", str(pwdb)], binary=MEMCACHED)
    want = run_ascii(mc)
    for i, (w, g) in enumerate(zip(want, got)):
        assert g == w, f"step {i}: {ASCII_STEPS[i]!r}"
    names = ["auth_cmds", "auth_errors"]
    c = mc.connect()
    c.send(b"set x 0 0 12\r\nalice s3cret\r\n")
    assert c.line() == b"STORED\r\n"
    mst = c.stats()
    c = sd.connect()
    c.send(b"set x 0 0 12\r\nalice s3cret\r\n")
    assert c.line() == b"STORED\r\n"
    sst = c.stats()
    assert {n: sst[n] for n in names} == {n: mst[n] for n in names}


def test_ascii_auth_long_credentials_close(server, pwdb):
    sd = server(args=["-S", "--sasl-pwdb", str(pwdb)])
    c = sd.connect()
    c.send(b"set foo 0 0 100000\r\n")
    assert c.is_closed(2.0)
    c = sd.connect()
    c.send(b"x" * 3000)
    assert c.is_closed(2.0)


def test_passwords_never_logged_or_shown(server, pwdb):
    sd = server(args=["-S", "--sasl-pwdb", str(pwdb), "-vvv"])
    for step in (auth(b"alice", b"s3cret"), auth(b"alice", b"Wr0ngPassw0rd"),
                 auth(b"bob", b"hunter2") + breq(STAT) + breq(STAT, b"settings")):
        c = sd.connect()
        packets, _ = exchange(c, step)
        for p in packets:
            assert b"s3cret" not in p.raw and b"hunter2" not in p.raw
    c = sd.connect()
    c.send(b"set a 0 0 15\r\nalice wrongpass1\r\n")
    c.read_available(0.2)
    c = sd.connect()
    c.send(b"set a 0 0 12\r\nalice s3cret\r\nstats settings\r\n")
    text = c.read_until(b"END\r\n")
    assert b"STAT auth_enabled_sasl yes\r\n" in text
    assert str(pwdb).encode() not in text
    log = sd.output()
    for secret in (b"s3cret", b"hunter2", b"Wr0ngPassw0rd", b"wrongpass1"):
        assert secret not in log


def test_pylibmc_with_credentials(server, pwdb, memcached_sasl):
    targets = [server(args=["-S", "--sasl-pwdb", str(pwdb)])]
    if memcached_sasl is not None:
        targets.append(memcached_sasl)
    for srv in targets:
        c = pylibmc.Client(["127.0.0.1:%d" % srv.port], binary=True, username="alice",
                           password="s3cret",
                           behaviors={"connect_timeout": 5000, "receive_timeout": 5_000_000})
        assert c.set("k", b"v") is True
        assert c.get("k") == b"v"
        assert c.incr("n", 1) if c.set("n", b"1") else False
        assert c.delete("k") is True
        bad = pylibmc.Client(["127.0.0.1:%d" % srv.port], binary=True, username="alice",
                             password="nope",
                             behaviors={"connect_timeout": 5000, "receive_timeout": 5_000_000})
        with pytest.raises(pylibmc.Error):
            bad.set("k", b"v")


def test_sasl_list_ends_authentication(server, pwdb):
    """memcached restarts the SASL exchange on LIST MECHS (and AUTH, STEP):
    the connection is no longer authenticated until the next success."""
    sd = server(args=["-S", "--sasl-pwdb", str(pwdb)])
    c = sd.connect()
    c.send(auth(b"alice", b"s3cret") + breq(SASL_LIST) + breq(GET, b"k"))
    assert read_packet(c).status == 0
    assert read_packet(c).value == b"PLAIN"
    p = read_packet(c)
    assert p.status == AUTH_ERROR
    assert c.is_closed(2.0)
