"""Rebinding protection (server.rebind_protection, dnsmasq's stop-dns-rebind):
with it on, an upstream answer (fakeupstream.py) that points a name at a
private address is neither relayed nor cached: the client gets NOERROR
with no records, as from dnsmasq, and /metrics counts it (JSON and
Prometheus). A public answer is relayed; a forward_zones entry lets its
names through, private addresses and all. With it off (the default) the
private address is relayed as before.

The addresses are data only: nothing here contacts them."""

import http.client
import time

import dns.rcode
import pytest

import harness
from fakeupstream import FakeUpstream
from harness import rrset, texts

TIMEOUT = 0.3  # upstream_timeout, seconds
POLL = 0.05  # seconds between metrics reads
METRICS_WAIT = 3.0  # seconds, at most, for a counter to move


def config(upstream, **server):
    return harness.forwarding_config(upstream, upstream_timeout=TIMEOUT, **server)


@pytest.fixture(scope="module")
def up():
    with FakeUpstream() as fake:
        fake.add("evil.example", "A", "192.168.1.10")
        fake.add("good.example", "A", "93.184.216.34")
        fake.add("evil6.example", "AAAA", "fd00::1")
        fake.add("mapped.example", "AAAA", "::ffff:127.0.0.1")
        fake.add("corp.example", "A", "10.0.0.5")
        yield fake


@pytest.fixture(scope="module")
def mgmt_port():
    return harness.free_port()


@pytest.fixture(scope="module")
def guarded(start_server, up, mgmt_port):
    """rebind_protection on; corp.example is a forward zone (the same fake)."""
    return start_server(config(up, rebind_protection=True, mgmt_port=mgmt_port,
                               forward_zones={"corp.example": [up.address]}))


@pytest.fixture(scope="module")
def unguarded(start_server, up):
    return start_server(config(up))  # rebind_protection: the default


def json_blocked(port):
    status, metrics = harness.http_get_json(port)
    assert status == 200
    return metrics["upstream"]["rebind_blocked"]


def prometheus_blocked(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=harness.QUERY_TIMEOUT)
    try:
        conn.request("GET", "/metrics", headers={"Accept": "text/plain"})
        body = conn.getresponse().read().decode()
    finally:
        conn.close()
    for line in body.splitlines():
        if line.startswith("nanodns_rebind_blocked_total "):
            return int(float(line.split()[1]))
    raise AssertionError("no nanodns_rebind_blocked_total in %r" % body[:200])


def wait_at_least(read, want):
    """read() once it reaches want, or its last value after METRICS_WAIT."""
    deadline = time.monotonic() + METRICS_WAIT
    value = read()
    while value < want and time.monotonic() < deadline:
        time.sleep(POLL)
        value = read()
    return value


def addresses(r, name, rdtype="A"):
    return texts(rrset(r.answer, name, rdtype))


def assert_nodata(r):
    assert r.rcode() == dns.rcode.NOERROR
    assert r.answer == []
    assert r.authority == []


def test_a_private_answer_is_withheld_and_counted(guarded, up, mgmt_port):
    before_json = json_blocked(mgmt_port)
    before_prometheus = prometheus_blocked(mgmt_port)
    assert_nodata(guarded.ask("evil.example", "A"))
    assert up.count("evil.example") >= 1  # it was asked: the answer is what is withheld
    assert wait_at_least(lambda: json_blocked(mgmt_port), before_json + 1) >= before_json + 1
    assert (wait_at_least(lambda: prometheus_blocked(mgmt_port), before_prometheus + 1)
            >= before_prometheus + 1)


def test_a_withheld_answer_is_not_cached(guarded, up):
    asked = up.count("evil.example")
    assert_nodata(guarded.ask("evil.example", "A"))
    assert_nodata(guarded.ask("evil.example", "A"))
    assert up.count("evil.example") == asked + 2


def test_private_ipv6_and_mapped_ipv4_answers_are_withheld(guarded):
    assert_nodata(guarded.ask("evil6.example", "AAAA"))
    assert_nodata(guarded.ask("mapped.example", "AAAA"))


def test_a_public_answer_is_relayed(guarded):
    r = guarded.ask("good.example", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert addresses(r, "good.example") == ["93.184.216.34"]


def test_a_forward_zone_may_answer_a_private_address(guarded, mgmt_port):
    before = json_blocked(mgmt_port)
    r = guarded.ask("corp.example", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert addresses(r, "corp.example") == ["10.0.0.5"]
    assert json_blocked(mgmt_port) == before


def test_without_rebind_protection_the_private_answer_is_relayed(unguarded):
    r = unguarded.ask("evil.example", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert addresses(r, "evil.example") == ["192.168.1.10"]
