"""Differential tests for the hash commands (HSET HSETNX HGET HMGET HMSET
HGETALL HDEL HEXISTS HLEN HKEYS HVALS HSTRLEN HINCRBY HINCRBYFLOAT
HRANDFIELD HSCAN), their errors, WRONGTYPE both ways, TYPE and OBJECT
ENCODING: the same bytes to Debian's redis-server 7.0.15 and to the binary
under test, replies compared as test_resp_diff.py compares them (its
``run``), each script also sent pipelined.

Small hashes keep insertion order in both servers (Redis's listpack, and
stashd's field table always): their HGETALL/HKEYS/HVALS are compared byte
for byte. Past 512 fields (hash-max-listpack-entries) or a 64-byte value Redis converts to a hash
table whose order is its own: those replies are compared sorted.
HRANDFIELD's picks are random: compared by count, shape and membership.
"""

import pytest

from conftest import IS_MEMCACHED
from resp_util import RespConn, decode
from test_resp_diff import (SIZED_OURS_ARGS, SIZED_REDIS_ARGS, Scan, Sorted, Step, pair_fixture,
                            run)

pytestmark = pytest.mark.skipif(IS_MEMCACHED, reason="memcached does not speak RESP")



pair = pair_fixture(SIZED_REDIS_ARGS, SIZED_OURS_ARGS)


class Pairs(Step):
    """HGETALL of a hash past listpack: the same (field, value) pairs."""

    def compare(self, a, b):
        da, db = decode(a), decode(b)
        assert isinstance(da, list) and isinstance(db, list), (a, b)
        assert sorted(zip(da[::2], da[1::2])) == sorted(zip(db[::2], db[1::2]))


class Len(Step):
    """An array (HRANDFIELD): the same length and element type."""

    def compare(self, a, b):
        da, db = decode(a), decode(b)
        if not isinstance(da, list):
            assert a == b
            return
        assert isinstance(db, list) and len(da) == len(db), (a, b)


def test_diff_hset_hget_basics(pair):
    run(pair, [
        ("HSET", "h", "f1", "v1"), ("HSET", "h", "f1", "v1b", "f2", "v2"), ("HGET", "h", "f1"),
        ("HGET", "h", "f2"), ("HGET", "h", "nofield"), ("HGET", "nokey", "f"),
        ("HSET", "h", "f3", "v3", "f3", "v3b"), ("HGET", "h", "f3"), ("HLEN", "h"),
        ("HLEN", "nokey"), ("HGETALL", "h"), ("HKEYS", "h"), ("HVALS", "h"),
        ("HGETALL", "nokey"), ("HKEYS", "nokey"), ("HVALS", "nokey"),
        ("HEXISTS", "h", "f1"), ("HEXISTS", "h", "zz"), ("HEXISTS", "nokey", "f1"),
        ("HSTRLEN", "h", "f1"), ("HSTRLEN", "h", "zz"), ("HSTRLEN", "nokey", "zz"),
        ("HMGET", "h", "f1", "zz", "f2", "f1"), ("HMGET", "nokey", "a", "b"),
        ("HMSET", "h", "f4", "v4", "f1", "x"), ("HGETALL", "h"),
        ("HSETNX", "h", "f1", "no"), ("HSETNX", "h", "f5", "yes"), ("HSETNX", "new", "f", "v"),
        ("HGETALL", "h"), ("HGETALL", "new"), ("TYPE", "h"), ("TYPE", "new"),
        ("OBJECT", "ENCODING", "h"), ("EXISTS", "h"),
        ("HSET", "h", "", ""), ("HGET", "h", ""), ("HSTRLEN", "h", ""),
        ("HSET", "bin", b"\x00\xff\r\n", b"\r\n\x00"), ("HGETALL", "bin"),
    ])


def test_diff_hdel(pair):
    run(pair, [
        ("HSET", "h", "a", "1", "b", "2", "c", "3", "d", "4"), ("HDEL", "h", "b"),
        ("HGETALL", "h"), ("HDEL", "h", "b"), ("HDEL", "h", "a", "zz", "a", "d"),
        ("HGETALL", "h"), ("HSET", "h", "b", "again"), ("HKEYS", "h"),
        ("HDEL", "h", "c", "b"), ("EXISTS", "h"), ("TYPE", "h"), ("HLEN", "h"),
        ("HDEL", "nokey", "a"), ("HSET", "t", "a", "1"), ("EXPIRE", "t", "100"),
        ("HDEL", "t", "a"), ("TTL", "t"), ("EXISTS", "t"),
    ])


def test_diff_arity_and_syntax_errors(pair):
    run(pair, [
        ("HSET",), ("HSET", "h"), ("HSET", "h", "f"), ("HSET", "h", "f", "v", "g"),
        ("HMSET", "h", "f"), ("HMSET", "h", "f", "v", "g"), ("HSETNX", "h", "f"),
        ("HSETNX", "h", "f", "v", "x"), ("HGET", "h"), ("HGET", "h", "f", "g"), ("HMGET", "h"),
        ("HGETALL",), ("HGETALL", "h", "x"), ("HDEL", "h"), ("HEXISTS", "h"), ("HLEN",),
        ("HKEYS",), ("HVALS",), ("HSTRLEN", "h"), ("HINCRBY", "h", "f"),
        ("HINCRBYFLOAT", "h", "f"), ("HRANDFIELD",), ("HSCAN", "h"), ("EXISTS", "h"),
        ("HSET", "h", "f", "v"), ("HRANDFIELD", "h", "x"), ("HRANDFIELD", "h", "1", "FOO"),
        ("HRANDFIELD", "h", "1", "WITHVALUES", "x"), ("HSCAN", "h", "x"),
        ("HSCAN", "h", "-1"), ("HSCAN", "h", "0", "COUNT"), ("HSCAN", "h", "0", "COUNT", "0"),
        ("HSCAN", "h", "0", "COUNT", "x"), ("HSCAN", "h", "0", "MATCH"),
        ("HSCAN", "h", "0", "FOO", "x"), ("HSCAN", "h", "0", "COUNT", "-1"),
        ("HSCAN", "h", "99999999999999999999"), ("HGETALL", "h"),
    ])


def test_diff_wrongtype_both_ways(pair):
    run(pair, [
        ("SET", "s", "str"), ("HSET", "h", "f", "v"),
        ("HSET", "s", "f", "v"), ("HSETNX", "s", "f", "v"), ("HMSET", "s", "f", "v"),
        ("HGET", "s", "f"), ("HMGET", "s", "f"), ("HGETALL", "s"), ("HDEL", "s", "f"),
        ("HEXISTS", "s", "f"), ("HLEN", "s"), ("HKEYS", "s"), ("HVALS", "s"),
        ("HSTRLEN", "s", "f"), ("HINCRBY", "s", "f", "1"), ("HINCRBYFLOAT", "s", "f", "1"),
        ("HRANDFIELD", "s"), ("HRANDFIELD", "s", "2"), ("HSCAN", "s", "0"), ("GET", "s"),
        ("GET", "h"), ("GETSET", "h", "x"), ("GETDEL", "h"), ("GETEX", "h"), ("GETRANGE", "h", "0", "1"),
        ("STRLEN", "h"), ("APPEND", "h", "x"), ("SETRANGE", "h", "0", "x"),
        ("INCR", "h"), ("DECR", "h"), ("INCRBY", "h", "2"), ("DECRBY", "h", "2"),
        ("INCRBYFLOAT", "h", "1.5"), ("SETBIT", "h", "1", "1"), ("GETBIT", "h", "1"),
        ("BITCOUNT", "h"), ("BITPOS", "h", "1"), ("BITFIELD", "h", "GET", "u8", "0"),
        ("BITOP", "AND", "d", "h"), ("BITOP", "AND", "h", "s"), ("LCS", "h", "s"),
        ("MGET", "s", "h", "nokey"), ("SETNX", "h", "x"), ("MSETNX", "h", "x", "n", "y"),
        ("EXISTS", "n"), ("SET", "h", "x", "GET"), ("SET", "h", "x", "NX"),
        ("HGETALL", "h"), ("TYPE", "h"), ("TYPE", "s"), ("TYPE", "nokey"),
        ("SET", "h", "now a string"), ("TYPE", "h"), ("GET", "h"), ("HGET", "h", "f"),
        ("HSET", "h2", "f", "v"), ("MSET", "h2", "str2"), ("TYPE", "h2"), ("GET", "h2"),
        ("HSET", "h3", "f", "v"), ("DEL", "h3"), ("EXISTS", "h3"), ("HSET", "h3", "f", "v"),
        ("UNLINK", "h3"), ("TYPE", "h3"),
    ])


def test_diff_hincrby(pair):
    run(pair, [
        ("HINCRBY", "h", "n", "5"), ("HINCRBY", "h", "n", "-7"), ("HGET", "h", "n"),
        ("HINCRBY", "h", "n", "x"), ("HINCRBY", "h", "n", "1.5"), ("HINCRBY", "h", "n", ""),
        ("HINCRBY", "h", "n", "9223372036854775807"), ("HINCRBY", "h", "n", "99999999999999999999"),
        ("HSET", "h", "big", "9223372036854775807"), ("HINCRBY", "h", "big", "1"),
        ("HSET", "h", "small", "-9223372036854775808"), ("HINCRBY", "h", "small", "-1"),
        ("HINCRBY", "h", "small", "0"), ("HSET", "h", "s", "abc"), ("HINCRBY", "h", "s", "1"),
        ("HSET", "h", "sp", " 1"), ("HINCRBY", "h", "sp", "1"), ("HSET", "h", "z", "01"),
        ("HINCRBY", "h", "z", "1"), ("HSET", "h", "e", ""), ("HINCRBY", "h", "e", "1"),
        ("HINCRBYFLOAT", "h", "f", "1.5"), ("HINCRBYFLOAT", "h", "f", "0.1"),
        ("HINCRBYFLOAT", "h", "f", "-3"), ("HGET", "h", "f"), ("HINCRBYFLOAT", "h", "f", "x"),
        ("HINCRBYFLOAT", "h", "f", "inf"), ("HINCRBYFLOAT", "h", "f", "nan"),
        ("HINCRBYFLOAT", "h", "f", "1e400"), ("HINCRBYFLOAT", "h", "f", "5.0e3"),
        ("HINCRBYFLOAT", "h", "n", "1"), ("HINCRBYFLOAT", "h", "s", "1"),
        ("HINCRBYFLOAT", "h", "big", "1"), ("HGET", "h", "big"),
        ("HINCRBYFLOAT", "h", "g", "10.50"), ("HINCRBYFLOAT", "h", "g", "1e-5"),
        ("HSET", "h", "fl", "1.5e2"), ("HINCRBYFLOAT", "h", "fl", "1"),
        ("HINCRBYFLOAT", "h", "sp", " 1"), Pairs("HGETALL", "h"),
    ])


def test_diff_hrandfield(pair):
    run(pair, [
        ("HRANDFIELD", "nokey"), ("HRANDFIELD", "nokey", "3"),
        ("HRANDFIELD", "nokey", "3", "WITHVALUES"), ("HRANDFIELD", "nokey", "-3"),
        ("HSET", "one", "f", "v"), ("HRANDFIELD", "one"), ("HRANDFIELD", "one", "1"),
        ("HRANDFIELD", "one", "1", "WITHVALUES"), ("HRANDFIELD", "one", "-3"),
        ("HRANDFIELD", "one", "-3", "withvalues"), ("HRANDFIELD", "one", "0"),
        ("HRANDFIELD", "one", "0", "WITHVALUES"),
        ("HSET", "h", "a", "1", "b", "2", "c", "3"), Len("HRANDFIELD", "h", "2"),
        Len("HRANDFIELD", "h", "2", "WITHVALUES"), Len("HRANDFIELD", "h", "-5"),
        Len("HRANDFIELD", "h", "-5", "WITHVALUES"), Sorted("HRANDFIELD", "h", "3"),
        Sorted("HRANDFIELD", "h", "10"), Pairs("HRANDFIELD", "h", "10", "WITHVALUES"),
        ("HRANDFIELD", "h", "-9223372036854775808"),
        ("HRANDFIELD", "h", "-9223372036854775807", "WITHVALUES"),
    ])


def test_diff_hrandfield_picks(pair):
    """Members of the hash, distinct for a positive count, repeated allowed
    for a negative one; WITHVALUES pairs each field with its value."""
    _, ours = pair
    c = RespConn(ours.port)
    fields = {b"f%d" % i: b"v%d" % i for i in range(40)}
    c.call("HSET", "h", *[x for kv in fields.items() for x in kv])
    for n in (1, 5, 39, 40, 100):
        got = c.call("HRANDFIELD", "h", str(n))
        assert len(got) == min(n, 40) and len(set(got)) == len(got) and set(got) <= fields.keys()
    got = c.call("HRANDFIELD", "h", "-200", "WITHVALUES")
    assert len(got) == 400
    for f, v in zip(got[::2], got[1::2]):
        assert fields[f] == v
    seen = {c.call("HRANDFIELD", "h") for _ in range(200)}
    assert len(seen) > 10  # not always the same field
    c.close()


def test_diff_hscan(pair):
    run(pair, [
        ("HSCAN", "nokey", "0"), ("HSET", "h", "a1", "1", "b1", "2", "a2", "3"),
        ("HSCAN", "h", "0"), ("HSCAN", "h", "0", "MATCH", "a*"), ("HSCAN", "h", "0", "match", "z*"),
        ("HSCAN", "h", "0", "COUNT", "1"), ("HSCAN", "h", "0", "COUNT", "100", "MATCH", "*2"),
        ("HSCAN", "h", "0", "MATCH", "a*", "MATCH", "b*"),
    ])


def test_diff_large_hash(pair):
    """Past hash-max-listpack-entries and -value: encodings switch as in
    Redis; pairs compared sorted, HSCAN walked to its end on both."""
    big = [x for i in range(600) for x in ("field:%d" % i, "value:%d" % i)]
    run(pair, [
        ("HSET", "h", *big[:1024]), ("OBJECT", "ENCODING", "h"), ("HGETALL", "h"),
        ("HSET", "h", *big[1024:1026]), ("OBJECT", "ENCODING", "h"), ("HSET", "h", *big),
        ("HLEN", "h"),
        Pairs("HGETALL", "h"), Sorted("HKEYS", "h"), Sorted("HVALS", "h"),
        ("HGET", "h", "field:599"), ("HMGET", "h", "field:0", "field:150", "nope"),
        ("HDEL", "h", *big[0:200:2]), ("HLEN", "h"),
        ("HSET", "v", "f", "x" * 64), ("OBJECT", "ENCODING", "v"),
        ("HSET", "v", "g", "x" * 65), ("OBJECT", "ENCODING", "v"), Pairs("HGETALL", "v"),
        ("HSET", "w", "x" * 65, "1"), ("OBJECT", "ENCODING", "w"),
        ("HINCRBY", "h", "field:599", "1"),
    ])
    redis_srv, ours = pair
    walked = []
    for conn in (redis_srv.connect(), RespConn(ours.port)):
        seen = []
        cursor = b"0"
        for _ in range(1000):
            cursor, items = conn.call("HSCAN", "h", cursor, "COUNT", "7", "MATCH", "field:1*")
            seen += list(zip(items[::2], items[1::2]))
            if cursor == b"0":
                break
        assert cursor == b"0"
        walked.append(sorted(set(seen)))
        conn.close()
    assert walked[0] == walked[1] and len(walked[0]) == 100


def test_diff_resp3_replies(pair):
    """HGETALL is a map in RESP3, HRANDFIELD WITHVALUES an array of pairs,
    HINCRBYFLOAT a bulk string, a missing field null."""
    redis_srv, ours = pair
    out = []
    for port in (redis_srv.port, ours.port):
        c = RespConn(port)
        c.call_raw("HELLO", "3")
        replies = []
        for cmd in [("FLUSHALL",), ("HSET", "h", "a", "1", "b", "2"), ("HGETALL", "h"),
                    ("HGETALL", "nokey"), ("HGET", "h", "zz"), ("HMGET", "h", "a", "zz"),
                    ("HKEYS", "h"), ("HVALS", "h"), ("HINCRBYFLOAT", "h", "a", "1.5"),
                    ("HINCRBY", "h", "b", "1"), ("HEXISTS", "h", "a"), ("HSCAN", "h", "0"),
                    ("HRANDFIELD", "nokey"), ("HRANDFIELD", "nokey", "2"),
                    ("HRANDFIELD", "nokey", "2", "WITHVALUES"), ("HDEL", "h", "b"),
                    ("HRANDFIELD", "h"), ("HRANDFIELD", "h", "1", "WITHVALUES"),
                    ("HRANDFIELD", "h", "-2", "WITHVALUES"), ("TYPE", "h"),
                    ("HSET", "s", "f", "v"), ("SET", "str", "x"), ("HGET", "str", "f")]:
            replies.append(c.call_raw(*cmd))
        c.close()
        out.append(replies)
    assert out[0] == out[1]


def test_diff_scan_type_and_keyspace(pair):
    run(pair, [
        ("HSET", "h1", "f", "v"), ("HSET", "h2", "f", "v"), ("SET", "s", "x"),
        Scan("SCAN", "0", "TYPE", "hash"), Scan("SCAN", "0", "TYPE", "string"),
        Sorted("KEYS", "*"), ("DBSIZE",), ("EXPIRE", "h1", "100"), ("TTL", "h1"),
        ("HSET", "h1", "g", "w"), ("TTL", "h1"), ("PERSIST", "h1"), ("TTL", "h1"),
        ("PEXPIRE", "h2", "0"), ("SET", "s", "y"), ("EXISTS", "h2"), ("HGET", "h2", "f"),
    ])
