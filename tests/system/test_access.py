"""Access control (issue 4): server.allow_recursion decides who may have
names outside our data forwarded (others get REFUSED and RA=0, our own data
still answered); server.allow_query decides who gets answers at all.

The server listens on 127.0.0.1; clients send from 127.0.0.2 (the allowed
one) and 127.0.0.3 (the other), which the loopback interface carries like
any other address. A fake upstream (fakeupstream.py) records what is
forwarded."""

import time

import dns.flags
import dns.rcode
import pytest

import harness
from fakeupstream import FakeUpstream
from harness import rrset, texts

ALLOWED = "127.0.0.2"
OTHER = "127.0.0.3"

SOA = {
    "mname": "ns1.x.test",
    "rname": "hostmaster.x.test",
    "serial": 2024010101,
    "refresh": 3600,
    "retry": 900,
    "expire": 604800,
    "minimum": 300,
}


def config(upstream, **server):
    settings = dict(upstream=[upstream.address], upstream_timeout=1.0, cache_enabled=True)
    settings.update(server)
    return {
        "server": harness.base_server(**settings),
        "zones": {"x.test": {"soa": dict(SOA), "ns": ["ns1.x.test"]}},
        "records": [
            {"name": "ns1.x.test", "type": "A", "value": "10.0.0.53", "ttl": 3600},
            {"name": "www.x.test", "type": "A", "value": "10.0.0.80", "ttl": 300},
        ],
        "rewrites": [{"match": "blocked.example.com", "action": "nxdomain"}],
    }


@pytest.fixture(scope="module")
def up():
    with FakeUpstream() as fake:
        fake.add("www.example.org", "A", "192.0.2.1")
        yield fake


@pytest.fixture(scope="module")
def recursion_for_one(start_server, up):
    return start_server(config(up, allow_recursion=[ALLOWED + "/32"]))


@pytest.fixture(scope="module")
def query_for_one(start_server, up):
    return start_server(config(up, allow_query=[ALLOWED + "/32"]))


def assert_not_forwarded(server, fake, name):
    """name never reached the fake: checked once a later question from the
    allowed client came through (anything sent before it is recorded)."""
    sentinel = "sentinel-%d.example.org" % time.monotonic_ns()
    fake.add(sentinel, "A", "192.0.2.99")
    assert server.ask(sentinel, "A", source=ALLOWED).rcode() == dns.rcode.NOERROR
    assert fake.wait_queries(sentinel, 1, timeout=0)
    assert fake.count(name) == 0, "forwarded: %r" % fake.received(name)


# -- allow_recursion ------------------------------------------------------------------


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_an_allowed_client_gets_the_forwarded_answer_with_ra(recursion_for_one, up, proto):
    r = recursion_for_one.ask("www.example.org", "A", proto=proto, source=ALLOWED)
    assert r.rcode() == dns.rcode.NOERROR
    assert texts(rrset(r.answer, "www.example.org", "A")) == ["192.0.2.1"]
    assert r.flags & dns.flags.RA


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_another_client_is_refused_outside_our_data_with_ra_clear(recursion_for_one, up, proto):
    name = "%s.other.example.org" % proto
    up.add(name, "A", "192.0.2.2")
    r = recursion_for_one.ask(name, "A", proto=proto, source=OTHER)
    assert r.rcode() == dns.rcode.REFUSED
    assert not r.flags & dns.flags.RA
    assert r.answer == []
    assert_not_forwarded(recursion_for_one, up, name)


def test_another_client_still_gets_our_own_data(recursion_for_one):
    r = recursion_for_one.ask("www.x.test", "A", source=OTHER)
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.AA
    assert not r.flags & dns.flags.RA
    assert texts(rrset(r.answer, "www.x.test", "A")) == ["10.0.0.80"]
    r = recursion_for_one.ask("nothere.x.test", "A", source=OTHER)
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert rrset(r.authority, "x.test", "SOA") is not None


def test_another_client_gets_no_answer_from_the_cache(recursion_for_one, up):
    up.add("cached.example.org", "A", "192.0.2.3")
    r = recursion_for_one.ask("cached.example.org", "A", source=ALLOWED)
    assert texts(r.answer[0]) == ["192.0.2.3"]
    r = recursion_for_one.ask("cached.example.org", "A", source=OTHER)
    assert r.rcode() == dns.rcode.REFUSED
    assert r.answer == []


def test_by_default_every_loopback_client_may_recurse(start_server, up):
    server = start_server(config(up))
    r = server.ask("www.example.org", "A", source=OTHER)
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.RA


def test_an_ipv6_client_is_matched_against_ipv6_prefixes(start_server, up):
    only_v4 = start_server(config(up, allow_recursion=["127.0.0.0/8"]), host="::1")
    assert only_v4.ask("www.example.org", "A").rcode() == dns.rcode.REFUSED
    with_v6 = start_server(config(up, allow_recursion=["::1/128"]), host="::1")
    assert with_v6.ask("www.example.org", "A").rcode() == dns.rcode.NOERROR


# -- allow_query ------------------------------------------------------------------------


@pytest.mark.parametrize("proto", ["udp", "tcp"])
@pytest.mark.parametrize("name", ["www.x.test", "nothere.x.test", "www.example.org",
                                  "blocked.example.com"])
def test_a_client_outside_allow_query_is_refused_for_everything(query_for_one, proto, name):
    r = query_for_one.ask(name, "A", proto=proto, source=OTHER)
    assert r.rcode() == dns.rcode.REFUSED
    assert r.answer == [] and r.authority == []


def test_a_client_outside_allow_query_is_never_forwarded(query_for_one, up):
    up.add("q.other.example.org", "A", "192.0.2.4")
    query_for_one.ask("q.other.example.org", "A", source=OTHER)
    assert_not_forwarded(query_for_one, up, "q.other.example.org")


def test_a_client_in_allow_query_gets_answers(query_for_one):
    r = query_for_one.ask("www.x.test", "A", source=ALLOWED)
    assert texts(rrset(r.answer, "www.x.test", "A")) == ["10.0.0.80"]
    r = query_for_one.ask("www.example.org", "A", source=ALLOWED)
    assert texts(rrset(r.answer, "www.example.org", "A")) == ["192.0.2.1"]
    assert r.flags & dns.flags.RA
