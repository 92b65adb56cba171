"""RD=0 queries (issue 12, finding 12): a query that does not ask for
recursion is answered from our data and the cache only, never forwarded.
A cache miss for a name outside our data is REFUSED (what NSD answers for a
name outside its zones; a forwarder has no delegation to refer to).

dig +norecurse is the client; the fake upstream (fakeupstream.py) records
every query it gets, so "never forwarded" is checked where it matters."""

import subprocess

import dns.flags
import dns.rcode
import pytest

import harness
from fakeupstream import FakeUpstream
from harness import rrset, texts

SOA = {
    "mname": "ns1.x.test",
    "rname": "hostmaster.x.test",
    "serial": 1,
    "refresh": 3600,
    "retry": 900,
    "expire": 604800,
    "minimum": 300,
}


def config(fake):
    return {
        "server": harness.base_server(
            upstream=[fake.address], upstream_timeout=1.0, cache_enabled=True
        ),
        "zones": {"x.test": {"soa": dict(SOA), "ns": ["ns1.x.test"]}},
        "records": [
            {"name": "ns1.x.test", "type": "A", "value": "10.0.0.53"},
            {"name": "www.x.test", "type": "A", "value": "10.0.0.80"},
        ],
    }


@pytest.fixture(scope="module")
def fake():
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def server(start_server, fake):
    return start_server(config(fake))


def dig(server, name, *options):
    """dig's answer as (status, flags, answer lines)."""
    proc = subprocess.run(
        ["dig", "@" + server.host, "-p", str(server.port), "+time=2", "+tries=1", *options,
         name, "A"],
        capture_output=True, text=True, timeout=10,
    )
    assert proc.returncode == 0, "dig exit %d\n%s%s" % (proc.returncode, proc.stdout, proc.stderr)
    status = flags = None
    for line in proc.stdout.splitlines():
        if "status:" in line:
            status = line.split("status:")[1].split(",")[0].strip()
        if line.startswith(";; flags:"):
            flags = line.split(";; flags:")[1].split(";")[0].split()
    answers = [line for line in proc.stdout.splitlines()
               if line and not line.startswith(";") and "\tA\t" in line]
    return status, flags, answers


def test_a_norecurse_query_for_a_name_not_ours_is_refused_and_not_forwarded(server, fake):
    fake.add("nocache.example.org", "A", ["192.0.2.7"])
    status, flags, answers = dig(server, "nocache.example.org", "+norecurse")
    assert status == "REFUSED"
    assert "rd" not in flags
    assert answers == []
    # Proof that the fake would have seen it: an RD=1 query after it is
    # forwarded, and it is the only query the fake got for the name.
    status, _, answers = dig(server, "nocache.example.org")
    assert status == "NOERROR" and "192.0.2.7" in answers[0]
    assert fake.count("nocache.example.org") == 1, fake.received("nocache.example.org")
    assert fake.received("nocache.example.org")[0].flags & dns.flags.RD


def test_a_norecurse_query_is_answered_from_the_cache(server, fake):
    fake.add("cached.example.org", "A", ["192.0.2.8"])
    r = server.ask("cached.example.org", "A")
    assert texts(rrset(r.answer, "cached.example.org.", "A")) == ["192.0.2.8"]
    assert fake.count("cached.example.org") == 1
    status, flags, answers = dig(server, "cached.example.org", "+norecurse")
    assert status == "NOERROR"
    assert "rd" not in flags and "ra" in flags
    assert len(answers) == 1 and "192.0.2.8" in answers[0]
    assert fake.count("cached.example.org") == 1


def test_a_norecurse_query_for_our_data_is_answered(server, fake):
    status, flags, answers = dig(server, "www.x.test", "+norecurse")
    assert status == "NOERROR"
    assert "aa" in flags
    assert len(answers) == 1 and "10.0.0.80" in answers[0]
    assert fake.count("www.x.test") == 0


def test_many_norecurse_misses_reach_no_upstream(server, fake):
    names = ["miss%d.example.org" % i for i in range(20)]
    for name in names:
        fake.add(name, "A", ["192.0.2.9"])
        status, _, _ = dig(server, name, "+norecurse")
        assert status == "REFUSED"
    # A forwarded sentinel after them: anything sent earlier is recorded by now.
    fake.add("sentinel.example.org", "A", ["192.0.2.10"])
    assert server.ask("sentinel.example.org", "A").rcode() == dns.rcode.NOERROR
    assert fake.wait_queries("sentinel.example.org", 1)
    assert sum(fake.count(name) for name in names) == 0
