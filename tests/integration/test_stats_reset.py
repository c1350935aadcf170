"""What `stats reset` and CONFIG RESETSTAT do to each report.

One server has one set of counters and one baseline:

* memcached's `stats` and Redis's INFO read the counters since the last
  `stats reset` or CONFIG RESETSTAT (either one takes the baseline for
  both, as they are the same counters under two sets of names); gauges
  (curr_items, curr_connections) and clocks (uptime, CPU) are not reset;
* /metrics never resets: Prometheus counters must only go up (rate() reads
  a drop as a restart), so the page keeps counting from the start.
"""

import re

import pytest

from resp_util import RespConn
from test_ops import http_get, parse_prom, start_admin

pytestmark = pytest.mark.stashd_only

GET_HIT = ("memcached_commands_total", 'command="get",status="hit"')
GET_MISS = ("memcached_commands_total", 'command="get",status="miss"')


def info(port, section):
    r = RespConn(port)
    try:
        raw = r.call_raw("INFO", section)
    finally:
        r.close()
    text = raw.split(b"\r\n", 1)[1].decode()
    return dict(re.findall(r"^([a-z0-9_]+):(.*?)\r?$", text, re.M))


def metrics(srv):
    status, _, body = http_get(srv.admin_port, "/metrics")
    assert status == 200
    return parse_prom(body)


def traffic(c, hits, misses):
    c.expect(b"set k 0 0 1\r\nx\r\n", b"STORED\r\n")
    for _ in range(hits):
        c.expect(b"get k\r\n", b"VALUE k 0 1\r\nx\r\nEND\r\n")
    for _ in range(misses):
        c.expect(b"get nope\r\n", b"END\r\n")


@pytest.mark.time_limit(30)
def test_stats_reset_rebases_stats_and_info_not_metrics(server):
    srv = start_admin(server)
    c = srv.connect()
    traffic(c, hits=3, misses=2)
    before = metrics(srv)
    assert before[GET_HIT] == 3 and before[GET_MISS] == 2
    st = info(srv.port, "stats")
    assert st["keyspace_hits"] == "3" and st["keyspace_misses"] == "2"

    c.expect(b"stats reset\r\n", b"RESET\r\n")
    st = c.stats()
    assert (st["get_hits"], st["get_misses"], st["cmd_set"], st["total_items"]) == \
        ("0", "0", "0", "0")
    assert st["curr_items"] == "1" and st["curr_connections"] != "0"
    i = info(srv.port, "stats")
    assert (i["keyspace_hits"], i["keyspace_misses"], i["total_connections_received"]) == \
        ("0", "0", "1")  # the INFO connection itself
    assert int(i["total_commands_processed"]) == 0
    assert info(srv.port, "keyspace")["db0"].startswith("keys=1,")
    after = metrics(srv)
    assert after[GET_HIT] == 3 and after[GET_MISS] == 2, "/metrics must not reset"
    assert after[("memcached_current_items", "")] == 1
    for key, value in before.items():
        name = key[0]
        if name.endswith("_total") and key in after:
            assert after[key] >= value, f"{key} went down on /metrics"

    # counting starts again from the reset, everywhere but /metrics
    traffic(c, hits=2, misses=1)
    st = c.stats()
    assert (st["get_hits"], st["get_misses"], st["cmd_set"]) == ("2", "1", "1")
    i = info(srv.port, "stats")
    assert (i["keyspace_hits"], i["keyspace_misses"]) == ("2", "1")
    after = metrics(srv)
    assert after[GET_HIT] == 5 and after[GET_MISS] == 3


@pytest.mark.time_limit(30)
def test_config_resetstat_is_the_same_reset(server):
    srv = start_admin(server)
    c = srv.connect()
    traffic(c, hits=4, misses=1)
    r = RespConn(srv.port)
    try:
        assert r.call("CONFIG", "RESETSTAT") == b"OK"
    finally:
        r.close()
    st = c.stats()
    assert (st["get_hits"], st["get_misses"], st["cmd_set"]) == ("0", "0", "0")
    assert info(srv.port, "stats")["keyspace_hits"] == "0"
    assert metrics(srv)[GET_HIT] == 4
    # `stats items` counters are rebased too; its gauges are not
    items = c.stats(b"items")
    assert sum(int(v) for k, v in items.items() if k.endswith(":number")) == 1
