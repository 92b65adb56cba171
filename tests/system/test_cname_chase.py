"""CNAME chasing across forwarding: a CNAME of ours whose target is outside
our data is followed through the same path a client's query for the
target takes (rewrites, our data, the cache, the upstreams), for clients
that may recurse and ask with RD=1. The answer is our CNAME and the
target's answer, with the target's rcode (RFC 6604) and, for NXDOMAIN and
NODATA, its SOA; AA=0. A chain that leaves and comes back into our data is
followed there; a loop ends.

The fake upstream (fakeupstream.py) answers a CNAME for every type without
following it, as an authoritative server would, and logs every query."""

import time

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

import harness
from fakeupstream import FakeUpstream
from harness import rrset, texts

ALLOWED = "127.0.0.1"
NOT_ALLOWED = "127.0.0.2"
CLIENT_TIMEOUT = 4.0



def cname(name, target):
    return {"name": name, "type": "CNAME", "value": target, "ttl": 60}


def config(fake):
    return {
        "server": harness.base_server(
            upstream=[fake.address],
            upstream_timeout=1.0,
            cache_enabled=True,
            allow_recursion=[ALLOWED + "/32"],
        ),
        "zones": {"internal.lan": harness.zone("internal.lan")},
        "records": [
            {"name": "ns1.internal.lan", "type": "A", "value": "10.0.0.53"},
            {"name": "home.internal.lan", "type": "A", "value": "10.0.0.7", "ttl": 120},
            cname("alias.internal.lan", "www.corp.example"),
            cname("gone.internal.lan", "missing.corp.example"),
            cname("v4only.internal.lan", "v4.corp.example"),
            cname("back.internal.lan", "out.corp.example"),
            cname("loop.internal.lan", "ext.corp.example"),
            cname("cached.internal.lan", "cached.corp.example"),
            cname("blocked.internal.lan", "ads.corp.example"),
            cname("fails.internal.lan", "broken.corp.example"),
            cname("big.internal.lan", "big.corp.example"),
            cname("norec.internal.lan", "norec.corp.example"),
            cname("nord.internal.lan", "nord.corp.example"),
            # two links of ours before the chain leaves our data
            cname("first.internal.lan", "second.internal.lan"),
            cname("second.internal.lan", "www.corp.example"),
        ],
        "rewrites": [{"match": "ads.corp.example", "action": "nxdomain"}],
    }


@pytest.fixture(scope="module")
def fake():
    with FakeUpstream() as upstream:
        upstream.add("www.corp.example", "A", "192.0.2.10")
        upstream.add("v4.corp.example", "A", "192.0.2.11")
        upstream.add("out.corp.example", "CNAME", "home.internal.lan.")
        upstream.add("ext.corp.example", "CNAME", "loop.internal.lan.")
        upstream.add("cached.corp.example", "A", "192.0.2.12")
        upstream.add("norec.corp.example", "A", "192.0.2.13")
        upstream.add("nord.corp.example", "A", "192.0.2.14")
        upstream.add("big.corp.example", "A", ["192.0.2.%d" % i for i in range(1, 61)])
        upstream.behave("broken.corp.example", rcode="SERVFAIL")
        yield upstream


@pytest.fixture(scope="module")
def server(start_server, fake):
    return start_server(config(fake))


def ask(server, name, rdtype="A", **kwargs):
    kwargs.setdefault("timeout", CLIENT_TIMEOUT)
    kwargs.setdefault("source", ALLOWED)
    return server.ask(name, rdtype, **kwargs)


def cname_target(response, name):
    return texts(rrset(response.answer, name, "CNAME"))


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_a_cname_out_of_our_data_is_answered_with_the_targets_records(server, proto):
    r = ask(server, "alias.internal.lan", proto=proto)
    assert r.rcode() == dns.rcode.NOERROR
    assert cname_target(r, "alias.internal.lan") == ["www.corp.example."]
    assert texts(rrset(r.answer, "www.corp.example", "A")) == ["192.0.2.10"]
    assert [rs.rdtype for rs in r.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]
    assert not r.flags & dns.flags.AA  # not all of it is ours
    assert r.flags & dns.flags.RA


def test_our_chain_then_the_upstreams_answer(server):
    r = ask(server, "first.internal.lan")
    assert r.rcode() == dns.rcode.NOERROR
    assert cname_target(r, "first.internal.lan") == ["second.internal.lan."]
    assert cname_target(r, "second.internal.lan") == ["www.corp.example."]
    assert texts(rrset(r.answer, "www.corp.example", "A")) == ["192.0.2.10"]


def test_a_target_nxdomain_upstream_is_nxdomain_with_the_upstreams_soa(server):
    r = ask(server, "gone.internal.lan")
    assert r.rcode() == dns.rcode.NXDOMAIN  # RFC 6604: the last name's
    assert cname_target(r, "gone.internal.lan") == ["missing.corp.example."]
    assert rrset(r.authority, "corp.example", "SOA") is not None, r
    assert rrset(r.authority, "internal.lan", "SOA") is None


def test_a_target_nodata_upstream_is_noerror_with_the_upstreams_soa(server):
    r = ask(server, "v4only.internal.lan", "AAAA")
    assert r.rcode() == dns.rcode.NOERROR
    assert cname_target(r, "v4only.internal.lan") == ["v4.corp.example."]
    assert rrset(r.answer, "v4.corp.example", "AAAA") is None
    assert rrset(r.authority, "corp.example", "SOA") is not None, r


def test_a_chain_that_comes_back_into_our_data_is_followed_there(server):
    r = ask(server, "back.internal.lan")
    assert r.rcode() == dns.rcode.NOERROR
    assert cname_target(r, "back.internal.lan") == ["out.corp.example."]
    assert cname_target(r, "out.corp.example") == ["home.internal.lan."]
    assert texts(rrset(r.answer, "home.internal.lan", "A")) == ["10.0.0.7"]


def test_a_loop_through_the_upstream_ends_without_hanging(server, fake):
    t0 = time.monotonic()
    r = ask(server, "loop.internal.lan")
    assert time.monotonic() - t0 < CLIENT_TIMEOUT
    assert cname_target(r, "loop.internal.lan") == ["ext.corp.example."]
    assert cname_target(r, "ext.corp.example") == ["loop.internal.lan."]
    cnames = [rs for rs in r.answer if rs.rdtype == dns.rdatatype.CNAME]
    assert sum(len(rs) for rs in cnames) <= 8
    assert fake.count("ext.corp.example") == 1


def test_the_second_identical_query_is_answered_from_the_cache(server, fake):
    first = ask(server, "cached.internal.lan")
    second = ask(server, "cached.internal.lan")
    for r in (first, second):
        assert texts(rrset(r.answer, "cached.corp.example", "A")) == ["192.0.2.12"]
        assert cname_target(r, "cached.internal.lan") == ["cached.corp.example."]
    assert fake.count("cached.corp.example") == 1, fake.received("cached.corp.example")


def test_a_blocked_target_gets_the_block_response_and_is_not_forwarded(server, fake):
    r = ask(server, "blocked.internal.lan")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert cname_target(r, "blocked.internal.lan") == ["ads.corp.example."]
    # the sentinel: anything sent before it would be logged by now
    assert ask(server, "alias.internal.lan").rcode() == dns.rcode.NOERROR
    assert fake.count("ads.corp.example") == 0


def test_a_failing_target_is_servfail_after_our_cname(server):
    r = ask(server, "fails.internal.lan")
    assert r.rcode() == dns.rcode.SERVFAIL
    assert cname_target(r, "fails.internal.lan") == ["broken.corp.example."]


def test_an_answer_too_large_for_udp_is_truncated_and_whole_over_tcp(server):
    q = dns.message.make_query("big.internal.lan", "A")  # no EDNS: 512 octets
    r = server.query(q, "udp", timeout=CLIENT_TIMEOUT, source=ALLOWED)
    assert r.flags & dns.flags.TC
    assert r.answer == []
    r = server.query(q, "tcp", timeout=CLIENT_TIMEOUT, source=ALLOWED)
    assert not r.flags & dns.flags.TC
    assert cname_target(r, "big.internal.lan") == ["big.corp.example."]
    assert len(rrset(r.answer, "big.corp.example", "A")) == 60


def test_a_client_not_allowed_recursion_gets_the_cname_alone(server, fake):
    r = ask(server, "norec.internal.lan", source=NOT_ALLOWED)
    assert r.rcode() == dns.rcode.NOERROR
    assert cname_target(r, "norec.internal.lan") == ["norec.corp.example."]
    assert len(r.answer) == 1
    assert r.flags & dns.flags.AA  # ours alone, as today
    assert ask(server, "alias.internal.lan").rcode() == dns.rcode.NOERROR
    assert fake.count("norec.corp.example") == 0


def test_rd0_gets_the_cname_alone(server, fake):
    q = dns.message.make_query("nord.internal.lan", "A")
    q.flags &= ~dns.flags.RD
    r = server.query(q, "udp", timeout=CLIENT_TIMEOUT, source=ALLOWED)
    assert r.rcode() == dns.rcode.NOERROR
    assert cname_target(r, "nord.internal.lan") == ["nord.corp.example."]
    assert len(r.answer) == 1
    assert r.flags & dns.flags.AA
    assert ask(server, "alias.internal.lan").rcode() == dns.rcode.NOERROR
    assert fake.count("nord.corp.example") == 0
