"""Serving stale (RFC 8767, server.serve_stale): an answer cached with a
short TTL is answered from the cache with TTL 30 once it has expired and
the upstream (fakeupstream.py) stops answering, counted in /metrics; when
the upstream answers again, the next query gets its fresh answer. With
serve_stale 0 the client gets SERVFAIL as before, and past the window the
entry is gone.

Every name is used by one test only. The waits for TTLs to run out are
bounded polls of measured time, the only way to see a clock-driven
behaviour."""

import http.client
import time

import dns.rcode
import pytest

import harness
from fakeupstream import FakeUpstream
from harness import rrset, texts

TIMEOUT = 0.3  # upstream_timeout, seconds: a silent upstream fails fast
POLL = 0.1  # seconds between asks


def config(upstream, **server):
    settings = dict(upstream_timeout=TIMEOUT, cache_ttl=3600, cache_size=1000)
    settings.update(server)
    return harness.forwarding_config(upstream, **settings)


@pytest.fixture(scope="module")
def up():
    with FakeUpstream() as fake:
        yield fake


@pytest.fixture(scope="module")
def mgmt_port():
    return harness.free_port()


@pytest.fixture(scope="module")
def stale(start_server, up, mgmt_port):
    return start_server(config(up, mgmt_port=mgmt_port))  # serve_stale: the default


@pytest.fixture(scope="module")
def fresh_only(start_server, up):
    return start_server(config(up, serve_stale=0))


@pytest.fixture(scope="module")
def short_window(start_server, up):
    return start_server(config(up, serve_stale=2))


def wait_for(ask, predicate, timeout):
    """Ask (bounded) every POLL until predicate holds for the answer; the
    answer then, or the last one at timeout."""
    deadline = time.monotonic() + timeout
    while True:
        r = ask()
        if r is not None and predicate(r):
            return r
        if time.monotonic() >= deadline:
            return r
        time.sleep(POLL)


def stale_answers(port):
    status, metrics = harness.http_get_json(port)
    assert status == 200
    return metrics["cache"]["stale_answers"]


def prometheus_sample(port, name):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=harness.QUERY_TIMEOUT)
    try:
        conn.request("GET", "/metrics", headers={"Accept": "text/plain"})
        body = conn.getresponse().read().decode()
    finally:
        conn.close()
    for line in body.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    raise AssertionError("no %s in %r" % (name, body[:200]))


def a_ttl(r, name):
    rs = rrset(r.answer, name, "A")
    return rs.ttl if rs is not None else None


def test_a_name_is_served_stale_while_the_upstream_is_silent_then_fresh(stale, up, mgmt_port):
    name = "app.stale.example"
    up.add(name, "A", "192.0.2.1", ttl=1)
    first = stale.ask(name, "A")
    assert texts(first.answer[0]) == ["192.0.2.1"] and a_ttl(first, name) == 1
    before = stale_answers(mgmt_port)
    before_prometheus = prometheus_sample(mgmt_port, "nanodns_stale_answers_total")
    asked_before = up.count(name)

    up.behave(name, drop=True)  # the upstream stops answering
    r = wait_for(lambda: stale.ask(name, "A"), lambda r: a_ttl(r, name) == 30, 5.0)
    assert r.rcode() == dns.rcode.NOERROR, r
    assert texts(rrset(r.answer, name, "A")) == ["192.0.2.1"]
    assert a_ttl(r, name) == 30, r
    # an expired entry still goes upstream first
    assert up.count(name) > asked_before
    assert stale_answers(mgmt_port) >= before + 1
    assert prometheus_sample(mgmt_port, "nanodns_stale_answers_total") >= before_prometheus + 1

    up.add(name, "A", "192.0.2.2", ttl=300)  # back, with a new address
    up.behave(name)
    r = stale.ask(name, "A")
    assert texts(rrset(r.answer, name, "A")) == ["192.0.2.2"], r
    assert 290 <= a_ttl(r, name) <= 300
    again = stale.ask(name, "A")  # and kept: the fresh answer replaced the stale one
    assert texts(rrset(again.answer, name, "A")) == ["192.0.2.2"]


def test_a_negative_answer_is_served_stale_too(stale, up):
    name = "gone.stale.example"
    up.behave(name, soa_minimum=1)  # NXDOMAIN, kept 1 s (RFC 2308 §5)
    first = stale.ask(name, "A")
    assert first.rcode() == dns.rcode.NXDOMAIN

    up.behave(name, drop=True, soa_minimum=1)
    r = wait_for(lambda: stale.ask(name, "A"),
                 lambda r: r.authority and r.authority[0].ttl == 30, 5.0)
    assert r.rcode() == dns.rcode.NXDOMAIN, r
    assert r.authority[0].ttl == 30, r


def test_with_serve_stale_0_a_silent_upstream_gives_servfail(fresh_only, up):
    name = "off.stale.example"
    up.add(name, "A", "192.0.2.3", ttl=1)
    assert texts(fresh_only.ask(name, "A").answer[0]) == ["192.0.2.3"]
    up.behave(name, drop=True)
    r = wait_for(lambda: fresh_only.ask(name, "A"),
                 lambda r: r.rcode() == dns.rcode.SERVFAIL or a_ttl(r, name) == 30, 5.0)
    assert r.rcode() == dns.rcode.SERVFAIL, r


def test_past_the_window_the_stale_answer_is_gone(short_window, up):
    name = "window.stale.example"
    up.add(name, "A", "192.0.2.4", ttl=1)
    assert texts(short_window.ask(name, "A").answer[0]) == ["192.0.2.4"]
    up.behave(name, drop=True)
    r = wait_for(lambda: short_window.ask(name, "A"), lambda r: a_ttl(r, name) == 30, 5.0)
    assert a_ttl(r, name) == 30, r  # within serve_stale (2 s) of its expiry
    r = wait_for(lambda: short_window.ask(name, "A"),
                 lambda r: r.rcode() == dns.rcode.SERVFAIL, 6.0)
    assert r.rcode() == dns.rcode.SERVFAIL, r
