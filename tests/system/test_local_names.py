"""Locally served names: the RFC 6303 zones, localhost, invalid, test and
home.arpa (server.local_zones), names of one label (server.domain_needed,
server.search_domain) and automatic PTRs (server.auto_ptr), against the
real binaries with dnspython and dig. The fake upstream (fakeupstream.py)
records every query it gets, so "never forwarded" is checked where it
matters: at the upstream."""

import subprocess

import dns.flags
import dns.rcode
import dns.rdatatype
import dns.reversename
import pytest

import harness
from fakeupstream import FakeUpstream
from harness import rrset, texts


# One name per family of locally served zone, and the zone it falls in.
LOCAL_NAMES = [
    ("5.4.3.10.in-addr.arpa.", "10.in-addr.arpa."),
    ("1.0.20.172.in-addr.arpa.", "20.172.in-addr.arpa."),
    ("1.1.168.192.in-addr.arpa.", "168.192.in-addr.arpa."),
    ("9.9.100.100.in-addr.arpa.", "100.100.in-addr.arpa."),
    ("1.1.254.169.in-addr.arpa.", "254.169.in-addr.arpa."),
    ("2.0.0.127.in-addr.arpa.", "127.in-addr.arpa."),
    ("1.0.0.0.in-addr.arpa.", "0.in-addr.arpa."),
    ("1.2.0.192.in-addr.arpa.", "2.0.192.in-addr.arpa."),
    ("1.100.51.198.in-addr.arpa.", "100.51.198.in-addr.arpa."),
    ("1.113.0.203.in-addr.arpa.", "113.0.203.in-addr.arpa."),
    ("x.255.255.255.255.in-addr.arpa.", "255.255.255.255.in-addr.arpa."),
    ("x." + "0." * 32 + "ip6.arpa.", "0." * 32 + "ip6.arpa."),
    ("x.1." + "0." * 31 + "ip6.arpa.", "1." + "0." * 31 + "ip6.arpa."),
    ("1.2.d.f.ip6.arpa.", "d.f.ip6.arpa."),
    ("0.8.e.f.ip6.arpa.", "8.e.f.ip6.arpa."),
    ("0.b.e.f.ip6.arpa.", "b.e.f.ip6.arpa."),
    ("1.8.b.d.0.1.0.0.2.ip6.arpa.", "8.b.d.0.1.0.0.2.ip6.arpa."),
    ("router.home.arpa.", "home.arpa."),
    ("anything.invalid.", "invalid."),
    ("some.name.test.", "test."),
]


def config(fake, **server):
    return {
        "server": harness.base_server(
            upstream=[fake.address],
            upstream_timeout=1.0,
            cache_enabled=False,
            forward_zones={"1.10.in-addr.arpa": [fake.address]},
            search_domain="internal.lan",
            **server,
        ),
        "zones": {"internal.lan": harness.zone("internal.lan")},
        "records": [
            {"name": "ns1.internal.lan", "type": "A", "value": "10.0.0.53"},
            {"name": "printer.internal.lan", "type": "A", "value": "10.0.0.9"},
            {"name": "alias.internal.lan", "type": "CNAME", "value": "printer.internal.lan"},
            {"name": "web.internal.lan", "type": "A", "value": "10.0.0.80"},
            {"name": "www2.internal.lan", "type": "A", "value": "10.0.0.80"},
            {"name": "v6.internal.lan", "type": "AAAA", "value": "fd00::1"},
            {"name": "explicit.internal.lan", "type": "A", "value": "10.0.0.7"},
            {"name": "7.0.0.10.in-addr.arpa", "type": "PTR", "value": "other.internal.lan"},
            {"name": "files.home.arpa", "type": "A", "value": "10.0.0.60"},
        ],
    }


@pytest.fixture(scope="module")
def fake():
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def server(start_server, fake):
    return start_server(config(fake))


def dig(server, *args):
    """dig's answer as (status, flags, answer lines as [owner, ttl, class, type, data])."""
    proc = subprocess.run(
        ["dig", "@" + server.host, "-p", str(server.port), "+time=2", "+tries=1", *args],
        capture_output=True, text=True, timeout=10,
    )
    assert proc.returncode == 0, "dig exit %d\n%s%s" % (proc.returncode, proc.stdout, proc.stderr)
    status = flags = None
    section = None
    answers = []
    for line in proc.stdout.splitlines():
        if "status:" in line:
            status = line.split("status:")[1].split(",")[0].strip()
        if line.startswith(";; flags:"):
            flags = line.split(";; flags:")[1].split(";")[0].split()
        if line.startswith(";; "):
            section = line
        elif line and not line.startswith(";") and section and "ANSWER SECTION" in section:
            answers.append(line.split(None, 4))
    return status, flags, answers


def soa_of(response):
    assert len(response.authority) == 1, response
    soa = response.authority[0]
    assert soa.rdtype == dns.rdatatype.SOA
    return soa


@pytest.mark.parametrize("name,zone", LOCAL_NAMES)
def test_each_local_zone_family_is_answered_here_and_never_forwarded(server, fake, name, zone):
    fake.add(name, "PTR", ["leaked.example."])
    r = server.ask(name, "PTR")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert r.flags & dns.flags.AA
    assert r.answer == []
    soa = soa_of(r)
    assert soa.name.to_text() == zone
    assert soa[0].mname.to_text() == zone  # RFC 6303 §3: MNAME is the zone
    assert soa[0].rname.to_text() == "nobody.invalid."
    assert (soa[0].serial, soa[0].refresh, soa[0].retry, soa[0].expire, soa[0].minimum) == (
        1, 3600, 1200, 604800, 10800)
    assert fake.count(name) == 0, fake.received(name)


def test_a_forward_zone_below_a_local_zone_gets_its_names(server, fake):
    fake.add("5.9.1.10.in-addr.arpa", "PTR", ["internal-host.corp.example."])
    r = server.ask("5.9.1.10.in-addr.arpa", "PTR")
    assert r.rcode() == dns.rcode.NOERROR
    assert texts(rrset(r.answer, "5.9.1.10.in-addr.arpa.", "PTR")) == [
        "internal-host.corp.example."]
    assert fake.count("5.9.1.10.in-addr.arpa") == 1
    # beside it, the rest of 10.in-addr.arpa stays here
    fake.add("5.9.2.10.in-addr.arpa", "PTR", ["leaked.example."])
    r = server.ask("5.9.2.10.in-addr.arpa", "PTR")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert fake.count("5.9.2.10.in-addr.arpa") == 0


def test_our_records_in_a_local_zone_win(server, fake):
    r = server.ask("files.home.arpa", "A")
    assert r.flags & dns.flags.AA
    assert texts(rrset(r.answer, "files.home.arpa.", "A")) == ["10.0.0.60"]
    assert fake.count("files.home.arpa") == 0


def test_localhost_is_the_loopback_addresses(server, fake):
    status, flags, answers = dig(server, "localhost.", "A")
    assert status == "NOERROR" and "aa" in flags
    assert [(a[0], a[3], a[4]) for a in answers] == [("localhost.", "A", "127.0.0.1")]
    status, _, answers = dig(server, "localhost.", "AAAA")
    assert [(a[3], a[4]) for a in answers] == [("AAAA", "::1")]
    status, _, answers = dig(server, "app.localhost.", "A")
    assert [(a[0], a[4]) for a in answers] == [("app.localhost.", "127.0.0.1")]
    status, _, answers = dig(server, "localhost.", "MX")
    assert status == "NOERROR" and answers == []
    assert fake.count("localhost") == 0 and fake.count("app.localhost") == 0


def test_single_label_names_are_not_forwarded(server, fake):
    fake.add("printer2", "A", ["192.0.2.99"])
    status, flags, answers = dig(server, "printer2", "A")
    assert status == "NXDOMAIN"
    assert "aa" not in flags
    assert answers == []
    assert fake.count("printer2") == 0, fake.received("printer2")


def test_search_domain_answers_a_bare_name_as_asked(server, fake):
    r = server.ask("printer.", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert r.question[0].name.to_text() == "printer."
    assert texts(rrset(r.answer, "printer.", "A")) == ["10.0.0.9"]
    status, _, answers = dig(server, "alias", "A")
    assert status == "NOERROR"
    assert [(a[0], a[3], a[4]) for a in answers] == [
        ("alias.", "CNAME", "printer.internal.lan."),
        ("printer.internal.lan.", "A", "10.0.0.9"),
    ]
    assert fake.count("printer") == 0 and fake.count("alias") == 0


def test_auto_ptr_for_ipv4_with_dig_x(server, fake):
    status, flags, answers = dig(server, "-x", "10.0.0.9")
    assert status == "NOERROR" and "aa" in flags
    assert [(a[0], a[3], a[4]) for a in answers] == [
        ("9.0.0.10.in-addr.arpa.", "PTR", "printer.internal.lan.")]
    # two names share 10.0.0.80: the first in the config names it
    _, _, answers = dig(server, "-x", "10.0.0.80")
    assert [a[4] for a in answers] == ["web.internal.lan."]
    assert fake.count("9.0.0.10.in-addr.arpa") == 0


def test_auto_ptr_for_ipv6_with_dig_x(server, fake):
    status, flags, answers = dig(server, "-x", "fd00::1")
    assert status == "NOERROR" and "aa" in flags
    assert [(a[3], a[4]) for a in answers] == [("PTR", "v6.internal.lan.")]
    assert answers[0][0] == dns.reversename.from_address("fd00::1").to_text()


def test_explicit_ptr_wins_over_auto_ptr(server, fake):
    status, _, answers = dig(server, "-x", "10.0.0.7")
    assert status == "NOERROR"
    assert [a[4] for a in answers] == ["other.internal.lan."]


def test_with_local_zones_off_their_names_are_forwarded(start_server, fake):
    other = start_server(config(fake, local_zones=False, domain_needed=False, auto_ptr=False))
    fake.add("upstream-only.test", "A", ["192.0.2.44"])
    r = other.ask("upstream-only.test", "A")
    assert texts(rrset(r.answer, "upstream-only.test.", "A")) == ["192.0.2.44"]
    assert fake.count("upstream-only.test") == 1
    fake.add("bare", "A", ["192.0.2.45"])
    r = other.ask("bare.", "A")
    assert texts(rrset(r.answer, "bare.", "A")) == ["192.0.2.45"]
    assert fake.count("bare") == 1
