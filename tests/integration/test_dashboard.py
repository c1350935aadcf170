"""The Grafana dashboard (docker/grafana/stashd.json) queries only what
stashd exports.

Every PromQL expression of the dashboard (panel targets, and the metric of
the `label_values(...)` variable) is reduced to the metric names it reads:
strings, Grafana variables, label matchers, range selectors and
by/without/on/ignoring clauses are dropped, then identifiers called as
functions (rate, sum, histogram_quantile, ...) and PromQL keywords. The
names left are sample names, as /metrics writes them: a histogram's
`X_bucket`, `X_sum` and `X_count` are looked up as such, and a `_bucket`
name must belong to a family whose TYPE is histogram (histogram_quantile
over anything else is wrong), grouped by `le`.

A live server (with --metrics-hotkeys where the binary has it: key names
are opt-in) gets traffic over every command the panels plot, evictions and
hot reads, and each name must have at least one sample in its /metrics.
test_a_misspelt_metric_fails checks the check catches a wrong name.
"""

import copy
import json
import re
import time

import pytest

from conftest import REPO, free_port
from resp_util import stashd_has_option
from test_ops import http_get, parse_prom

pytestmark = pytest.mark.stashd_only

DASHBOARD = REPO / "docker" / "grafana" / "stashd.json"
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
            "and", "or", "unless", "inf", "nan"}


def metric_names(expr):
    """The metric names a PromQL expression reads."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings (label values)
    e = re.sub(r"\$\{?\w+\}?", " ", e)  # Grafana variables ($__rate_interval)
    e = re.sub(r"\{[^}]*\}", " ", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)  # range selectors
    e = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w.:])([A-Za-z_:][\w:]*)(\s*\()?", e):
        if m.group(2) is None and m.group(1).lower() not in KEYWORDS:
            names.add(m.group(1))
    return names


def panels(items):
    for p in items:
        yield p
        yield from panels(p.get("panels", []))  # a collapsed row holds its panels


def expressions(dash):
    """(where, PromQL) for every query of the dashboard."""
    for p in panels(dash["panels"]):
        for t in p.get("targets", []):
            yield f"panel {p['title']!r} {t['refId']}", t["expr"]
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"label_values\((.*),\s*\w+\)", q.strip())
            yield f"variable {v['name']}", m.group(1) if m else q


def problems(dash, exposition):
    """What the dashboard queries that the exposition does not carry."""
    samples = {name for name, _ in parse_prom(exposition)}
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", exposition, re.M))
    out = []
    for where, expr in expressions(dash):
        names = metric_names(expr)
        if not names:
            out.append(f"{where}: no metric in {expr!r}")
        for name in sorted(names):
            if name not in samples:
                out.append(f"{where}: {name} is not on /metrics")
            if name.endswith("_bucket") and types.get(name[: -len("_bucket")]) != "histogram":
                out.append(f"{where}: {name} is not a histogram's buckets")
        if "histogram_quantile" in expr and not re.search(r"by\s*\([^)]*\ble\b", expr):
            out.append(f"{where}: histogram_quantile without grouping by le")
    return out


def test_metric_names():
    assert metric_names('histogram_quantile(0.99, sum by (command, le) '
                        '(rate(x_seconds_bucket{instance=~"$instance"}[$__rate_interval])))'
                        ) == {"x_seconds_bucket"}
    assert metric_names('sum(rate(a_total{command="get",s="rate(b)"}[5m])) / sum(c)'
                        ) == {"a_total", "c"}
    assert metric_names('topk(10, sum by (key) (hot{i=~"${instance}"}))') == {"hot"}
    assert metric_names("a + on(instance) group_left(version) b offset 5m > bool 1e3"
                        ) == {"a", "b"}
    assert metric_names("max(a:recorded:rate5m) and ignoring(x) up") == {"a:recorded:rate5m", "up"}


def test_dashboard_shape():
    dash = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["instance"]["type"] == "query"
    ids = [p["id"] for p in panels(dash["panels"])]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for p in panels(dash["panels"]):
        if p["type"] == "row":
            continue
        assert p["datasource"]["uid"] == "${DS_PROMETHEUS}", p["title"]
        assert p.get("description"), f"panel {p['title']!r} says nothing of what it shows"
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${DS_PROMETHEUS}", p["title"]
            assert 'instance=~"$instance"' in t["expr"], f"{p['title']}: {t['expr']}"
    titles = {p["title"] for p in panels(dash["panels"])}
    for want in ("Hit ratio", "Requests by command", "Latency percentiles", "Memory by part",
                 "Evictions and expiry", "Connections", "Hot keys"):
        assert want in titles


def live_exposition(server):
    """/metrics of a server after traffic that makes every plotted series move."""
    port = free_port()
    args = ["--admin-port", str(port), "-t", "2", "-m", "4"]
    if stashd_has_option("metrics-hotkeys"):
        args.append("--metrics-hotkeys")
    srv = server(args=args)
    c = srv.connect()
    c.expect(b"set k 0 0 1\r\n1\r\n", b"STORED\r\n")
    c.expect(b"get k nokey\r\n", b"VALUE k 0 1\r\n1\r\nEND\r\n")
    c.expect(b"incr k 1\r\n", b"2\r\n")
    c.expect(b"decr nokey 1\r\n", b"NOT_FOUND\r\n")
    c.expect(b"touch k 100\r\n", b"TOUCHED\r\n")
    c.expect(b"cas k 0 0 1 1\r\nx\r\n", b"EXISTS\r\n")
    c.expect(b"delete k\r\n", b"DELETED\r\n")
    c.expect(b"bogus\r\n", b"ERROR\r\n")
    # 640 reads of one key: about 20 land in the one-in-32 hot-key sample
    c.expect(b"set hot 0 0 1\r\nx\r\n", b"STORED\r\n")
    c.send(b"get hot\r\n" * 640)
    got = b""
    while got.count(b"END\r\n") < 640:
        got += c.read_available(0.2)
    # 8 MiB of 100 KiB values into -m 4: evictions
    value = b"v" * 100_000
    c.send(b"".join(b"set big%d 0 0 %d noreply\r\n%s\r\n" % (i, len(value), value)
                    for i in range(80)))
    assert c.line(b"version\r\n").startswith(b"VERSION ")  # the sets are done
    deadline = time.monotonic() + 5
    while True:
        try:
            text = http_get(port, "/metrics")[2]
        except OSError:  # the admin port not up yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
            continue
        if re.search(r"^memcached_items_evicted_total [1-9]", text, re.M) or \
                time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def test_dashboard_queries_exported_series(server):
    dash = json.loads(DASHBOARD.read_text())
    found = problems(dash, live_exposition(server))
    if found:
        pytest.fail("the dashboard queries what stashd does not export:\n" + "\n".join(found),
                    pytrace=False)


def test_a_misspelt_metric_fails(server):
    """The check catches a wrong name, a _bucket of a non-histogram, and a
    quantile not grouped by le."""
    text = live_exposition(server)
    dash = json.loads(DASHBOARD.read_text())
    assert not problems(dash, text)
    for wrong, want in (
            (("memcached_items_evicted_total", "memcached_items_evictd_total"),
             "memcached_items_evictd_total is not on /metrics"),
            (("stashd_request_duration_seconds_bucket", "memcached_commands_total_bucket"),
             "memcached_commands_total_bucket is not a histogram's buckets"),
            (("sum by (le)", "sum"), "histogram_quantile without grouping by le")):
        bad = copy.deepcopy(dash)
        for p in panels(bad["panels"]):
            for t in p.get("targets", []):
                t["expr"] = t["expr"].replace(*wrong)
        found = problems(bad, text)
        assert any(want in f for f in found), (wrong, found)
