"""Latency histograms in /metrics: every answer sent is timed from its
query's arrival (nanodns_answer_duration_seconds, "latency.answer" in JSON)
and every upstream round trip of a forwarded query
(nanodns_upstream_duration_seconds, "latency.upstream"), in power-of-two
microsecond buckets, per worker and summed.

Covered, with server.workers: 2 and queries from dnspython: N answers (one
at a time, in a burst that the data plane takes in batches, over TCP) make
the count grow by exactly N, summed over the workers as the per-worker
figures and the Prometheus text say; buckets are cumulative and +Inf is the
count; N forwarded queries to a fake upstream that waits 50 ms all land at
or above 50 ms in both histograms. The Prometheus text is checked by a
parser here and by promtool when it is installed."""

import http.client
import re
import shutil
import subprocess
import time

import dns.message
import dns.rcode
import pytest

import harness
from fakeupstream import FakeUpstream
from harness import rrset, texts

UPSTREAM_DELAY_MS = 50
SETTLE_TIMEOUT = 3.0  # seconds for a count to catch up with answers already received

ZONE = {
    "soa": {
        "mname": "ns1.lat.test",
        "rname": "hostmaster.lat.test",
        "serial": 1,
        "refresh": 3600,
        "retry": 900,
        "expire": 604800,
        "minimum": 300,
    },
    "ns": ["ns1.lat.test"],
}

# 16 us doubling up to 2^20 us, as common/stats.h has them.
BOUNDS_US = [16 << i for i in range(17)]


@pytest.fixture(scope="module")
def upstream():
    with FakeUpstream() as fake:
        fake.behave("*.slow.example", delay_ms=UPSTREAM_DELAY_MS)
        yield fake


@pytest.fixture(scope="module")
def node(start_server, upstream):
    """Two workers, forwarding without a cache (every forwarded query goes
    upstream); (server, management port)."""
    port = harness.free_port()
    config = {
        "server": harness.base_server(
            workers=2, mgmt_port=port, upstream=[upstream.address], upstream_timeout=2,
            cache_enabled=False,
        ),
        "zones": {"lat.test": ZONE},
        "records": [
            {"name": "ns1.lat.test", "type": "A", "value": "10.0.0.53", "ttl": 60},
            {"name": "www.lat.test", "type": "A", "value": "10.0.0.80", "ttl": 60},
        ],
    }
    return start_server(config), port


# -- reading /metrics ------------------------------------------------------------


def metrics_json(port):
    status, body = harness.http_get_json(port, "/metrics")
    assert status == 200, body
    return body


def metrics_text(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=harness.QUERY_TIMEOUT)
    try:
        conn.request("GET", "/metrics", headers={"Accept": "text/plain"})
        res = conn.getresponse()
        body = res.read().decode()
        assert res.status == 200, body
        assert res.getheader("Content-Type").startswith("text/plain; version=0.0.4")
        return body
    finally:
        conn.close()


SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"(,|$)')


def parse_labels(text, line):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        assert m is not None, "bad labels: " + line
        assert m.group(1) not in labels, "a label twice: " + line
        labels[m.group(1)] = m.group(2)
        pos = m.end()
    return labels


def parse_exposition(text):
    """The Prometheus text format (0.0.4), checked as a scraper reads it:
    every sample after its family's # HELP and # TYPE, names and label sets
    well formed, values numbers, a histogram's samples named _bucket, _sum
    and _count. {family: {"type": t, "samples": [(name, {label: value},
    float)]}}."""
    families = {}
    current = None
    helped = set()
    assert text.endswith("\n")
    for line in text.splitlines():
        assert line, "an empty line in the exposition"
        if line.startswith("# HELP "):
            helped.add(line.split(" ")[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name not in families, "a second # TYPE for " + name
            assert name in helped, "# TYPE before # HELP for " + name
            assert kind in ("counter", "gauge", "histogram"), line
            current = families[name] = {"type": kind, "samples": []}
            family = name
            continue
        assert not line.startswith("#"), line
        m = SAMPLE.match(line)
        assert m is not None, "not a sample line: " + line
        name, label_text, value_text = m.groups()
        labels = parse_labels(label_text or "", line)
        value = float(value_text)
        assert current is not None, "a sample before any # TYPE: " + line
        if current["type"] == "histogram":
            assert name in (family + "_bucket", family + "_sum", family + "_count"), line
            assert ("le" in labels) == name.endswith("_bucket"), line
        else:
            assert name == family, line
        current["samples"].append((name, labels, value))
    return families


def histograms(families, family, label="worker"):
    """family's histograms by the value of label (None when unlabelled):
    {key: {"le": [(bound, cumulative)], "sum": s, "count": n}}, after
    checking each is a valid histogram: bounds rising to +Inf, counts
    cumulative, +Inf equal to _count."""
    assert families[family]["type"] == "histogram"
    out = {}
    for name, labels, value in families[family]["samples"]:
        h = out.setdefault(labels.get(label), {"le": [], "sum": None, "count": None})
        if name.endswith("_bucket"):
            h["le"].append((float(labels["le"]), value))
        elif name.endswith("_sum"):
            h["sum"] = value
        else:
            h["count"] = value
    for key, h in out.items():
        bounds = [b for b, _ in h["le"]]
        counts = [c for _, c in h["le"]]
        assert bounds == [us / 1e6 for us in BOUNDS_US] + [float("inf")], (key, bounds)
        assert counts == sorted(counts), "not cumulative: %r" % counts
        assert counts[-1] == h["count"], "+Inf %r, _count %r" % (counts[-1], h["count"])
        assert h["sum"] is not None and h["sum"] >= 0
    return out


def json_histogram_checked(h):
    """A JSON histogram's cumulative counts, after checking its shape."""
    keys = list(h["le_us"])
    assert keys == [str(b) for b in BOUNDS_US] + ["+Inf"], keys
    counts = [h["le_us"][k] for k in keys]
    assert counts == sorted(counts), counts
    assert counts[-1] == h["count"]
    return counts


def latency(port, kind="answer"):
    """(summed JSON histogram, [each worker's]), checked."""
    body = metrics_json(port)["latency"]
    summed = body[kind]
    workers = [w[kind] for w in body["workers"]]
    json_histogram_checked(summed)
    for w in workers:
        json_histogram_checked(w)
    return summed, workers


def wait_count(port, kind, want):
    """The summed histogram once its count reaches want (the answers are
    timed just after they leave: a client may read one a moment before it
    is counted), or as it is after SETTLE_TIMEOUT."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        summed, workers = latency(port, kind)
        if summed["count"] >= want or time.monotonic() > deadline:
            return summed, workers
        time.sleep(0.02)


def delta(before, after):
    return [b - a for a, b in zip(json_histogram_checked(before), json_histogram_checked(after))]


def ask_from_many_ports(server, name, count):
    """count queries, each from a socket of its own (a new source port, so
    both workers get some); how many got name's address."""
    answered = 0
    for i in range(count):
        q = dns.message.make_query(name, "A")
        q.id = i
        r = server.query(q)
        if r.rcode() == dns.rcode.NOERROR and texts(rrset(r.answer, name, "A")) == ["10.0.0.80"]:
            answered += 1
    return answered


# -- the tests -------------------------------------------------------------------


def test_n_answers_grow_the_answer_count_by_n_summed_over_both_workers(node):
    server, port = node
    before, before_workers = latency(port)
    assert len(before_workers) == 2
    queries_before = metrics_json(port)["worker_queries"]

    assert ask_from_many_ports(server, "www.lat.test", 200) == 200

    after, after_workers = wait_count(port, "answer", before["count"] + 200)
    assert after["count"] - before["count"] == 200
    per_worker = [a["count"] - b["count"] for a, b in zip(after_workers, before_workers)]
    assert sum(per_worker) == 200, per_worker
    assert all(n > 0 for n in per_worker), "a worker timed nothing: %r" % per_worker
    # Each worker timed what it answered.
    queries_after = metrics_json(port)["worker_queries"]
    assert per_worker == [a - b for a, b in zip(queries_after, queries_before)]
    assert after["sum_us"] >= before["sum_us"]
    # Answers from our own data, on loopback: well under a second each.
    assert delta(before, after)[BOUNDS_US.index(1048576)] == 200


def test_a_burst_taken_in_batches_counts_every_answer(node):
    server, port = node
    before, _ = latency(port)
    wires = []
    for i in range(64):
        q = dns.message.make_query("www.lat.test", "A")
        q.id = i
        wires.append(q.to_wire())
    answers = server.udp_burst(wires)
    got = [dns.message.from_wire(data) for data, _ in answers if data is not None]
    assert len(got) == 64
    after, _ = wait_count(port, "answer", before["count"] + 64)
    assert after["count"] - before["count"] == 64


def test_answers_over_tcp_are_timed_too(node):
    server, port = node
    before, _ = latency(port)
    for _ in range(5):
        r = server.ask("www.lat.test", "A", proto="tcp")
        assert texts(rrset(r.answer, "www.lat.test", "A")) == ["10.0.0.80"]
    # Pipelined on one connection: three answers from one read.
    harness.ask_pipelined(server, "www.lat.test", "A", (1, 2, 3))
    after, _ = wait_count(port, "answer", before["count"] + 8)
    assert after["count"] - before["count"] == 8


def test_forwarded_queries_land_at_or_above_the_upstream_delay(node, upstream):
    server, port = node
    n = 10
    answer_before, _ = latency(port, "answer")
    upstream_before, _ = latency(port, "upstream")
    for i in range(n):
        name = "q%d-%d.slow.example" % (i, time.monotonic_ns())
        upstream.add(name, "A", "192.0.2.%d" % (i + 1))
        r = server.ask(name, "A", timeout=3)
        assert texts(rrset(r.answer, name, "A")) == ["192.0.2.%d" % (i + 1)]
    upstream_after, _ = wait_count(port, "upstream", upstream_before["count"] + n)
    answer_after, _ = wait_count(port, "answer", answer_before["count"] + n)

    # Every round trip took at least 50 ms: none in a bucket below it (the
    # last bound under 50 ms is 32768 us), all of them counted.
    below = BOUNDS_US.index(32768)
    up = delta(upstream_before, upstream_after)
    assert up[-1] == n, up
    assert up[below] == 0, up
    assert upstream_after["sum_us"] - upstream_before["sum_us"] >= n * UPSTREAM_DELAY_MS * 1000
    # The clients waited for them: their answers are as slow or slower.
    ans = delta(answer_before, answer_after)
    assert ans[-1] == n, ans
    assert ans[below] == 0, ans
    assert (answer_after["sum_us"] - answer_before["sum_us"]
            >= upstream_after["sum_us"] - upstream_before["sum_us"])


def test_prometheus_histograms_are_valid_and_match_the_json(node):
    server, port = node
    for _ in range(3):
        server.ask("www.lat.test", "A")
    text = metrics_text(port)
    body = metrics_json(port)["latency"]
    families = parse_exposition(text)
    for kind in ("answer", "upstream"):
        summed = histograms(families, "nanodns_%s_duration_seconds" % kind)
        assert list(summed) == [None]
        workers = histograms(families, "nanodns_worker_%s_duration_seconds" % kind)
        assert sorted(workers) == ["0", "1"]
        # Summed over the workers, bucket by bucket; no query came in
        # between the two reads of the text, which are one snapshot.
        for i in range(len(BOUNDS_US) + 1):
            assert summed[None]["le"][i][1] == sum(w["le"][i][1] for w in workers.values())
        assert summed[None]["count"] == sum(w["count"] for w in workers.values())
        # The JSON, read after, has at least as many.
        assert body[kind]["count"] >= summed[None]["count"]
    assert histograms(families, "nanodns_answer_duration_seconds")[None]["count"] > 0


def test_promtool_accepts_the_exposition(node):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    _, port = node
    proc = subprocess.run([promtool, "check", "metrics"], input=metrics_text(port),
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
