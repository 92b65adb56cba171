"""Wildcards, both meanings side by side (issue 10), from the real server
over UDP and TCP, asked with dnspython and kdig:

- an owner whose first label is "*" is an RFC 4592 wildcard: "*.w.x.test"
  answers names any depth below w.x.test that do not exist, unless a name
  (an empty non-terminal included) stands between them;
- "wildcard": true on app.x.test keeps the original NanoDNS meaning: one
  label below app.x.test only.

And `nanodns check` lists the "*" owners as wildcards."""

import re

import dns.flags
import dns.rcode
import dns.rdatatype
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

RECORDS = [
    {"name": "ns1.x.test", "type": "A", "value": "10.0.0.53"},
    {"name": "*.w.x.test", "type": "A", "value": "10.0.4.1"},
    {"name": "*.w.x.test", "type": "TXT", "value": "from the wildcard"},
    {"name": "sub.w.x.test", "type": "A", "value": "10.0.4.2"},
    {"name": "a.ent.w.x.test", "type": "A", "value": "10.0.4.3"},
    {"name": "*.cn.x.test", "type": "CNAME", "value": "target.x.test"},
    {"name": "target.x.test", "type": "A", "value": "10.0.4.4"},
    {"name": "app.x.test", "type": "A", "value": "10.0.0.9", "wildcard": True},
    # outside every zone: answered here, never forwarded
    {"name": "*.dev.lan", "type": "A", "value": "10.0.5.1"},
    {"name": "host.b.dev.lan", "type": "A", "value": "10.0.5.2"},
]


def config(upstreams=()):
    return {
        "server": harness.base_server(upstream=[u.address for u in upstreams],
                                      cache_enabled=False),
        "zones": {"x.test": {"soa": SOA, "ns": ["ns1.x.test"]}},
        "records": RECORDS,
    }


@pytest.fixture(scope="module")
def server(start_server):
    return start_server(config())


@pytest.fixture(params=["udp", "tcp"])
def proto(request):
    return request.param


@pytest.fixture
def ask(server, proto):
    """ask(name, type) with dnspython over the parametrised transport."""

    def run(name, rdtype="A"):
        return server.ask(name, rdtype, proto=proto)

    return run


@pytest.fixture
def kdig(server, proto):
    """kdig(name, type) over the parametrised transport -> (status,
    [(owner, type, rdata)] of the answer section)."""

    def run(name, rdtype):
        args = ["@" + server.host, "-p", str(server.port), "+timeout=2", "+retry=0",
                "+noall", "+answer", "+header",
                "+tcp" if proto == "tcp" else "+notcp", name, rdtype]
        rc, out, err = harness.kdig(*args)
        assert rc == 0, err
        status = re.search(r"status: (\w+)", out)
        assert status, out
        answer = []
        for line in out.splitlines():
            fields = line.split()
            if len(fields) >= 5 and not line.startswith(";") and fields[2] == "IN":
                answer.append((fields[0], fields[3], " ".join(fields[4:])))
        return status.group(1), answer

    return run


def assert_nodata(r):
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.AA
    assert r.answer == []
    assert rrset(r.authority, "x.test", "SOA") is not None


# "*.w.x.test": RFC 4592 ------------------------------------------------------------


def test_star_answers_one_label_below_with_the_query_name(ask):
    r = ask("foo.w.x.test")
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    assert [rs.name.to_text() for rs in r.answer] == ["foo.w.x.test."]
    assert texts(r.answer[0]) == ["10.0.4.1"]


def test_star_answers_several_labels_below(kdig):
    assert kdig("a.b.c.w.x.test", "A") == ("NOERROR", [("a.b.c.w.x.test.", "A", "10.0.4.1")])


def test_star_does_not_answer_its_parent(ask):
    assert_nodata(ask("w.x.test"))


def test_star_is_blocked_below_an_existing_name(ask, kdig):
    r = ask("foo.sub.w.x.test")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert r.answer == []
    assert rrset(r.authority, "x.test", "SOA") is not None
    assert kdig("foo.sub.w.x.test", "A") == ("NXDOMAIN", [])


def test_star_is_blocked_below_an_empty_non_terminal(ask, kdig):
    assert ask("foo.ent.w.x.test").rcode() == dns.rcode.NXDOMAIN
    assert kdig("foo.ent.w.x.test", "A") == ("NXDOMAIN", [])
    assert_nodata(ask("ent.w.x.test"))


def test_star_without_the_type_is_nodata_with_soa(ask, kdig):
    assert_nodata(ask("foo.w.x.test", "AAAA"))
    assert kdig("foo.w.x.test", "AAAA") == ("NOERROR", [])


def test_star_answers_every_type_it_holds(kdig):
    assert kdig("foo.w.x.test", "TXT") == (
        "NOERROR", [("foo.w.x.test.", "TXT", '"from the wildcard"')])


def test_star_owner_keeps_the_query_case(ask):
    r = ask("FoO.W.x.TeSt")
    assert r.answer[0].name.to_text() == "FoO.W.x.TeSt."
    assert texts(r.answer[0]) == ["10.0.4.1"]


def test_star_cname_is_followed(ask, kdig):
    r = ask("foo.cn.x.test")
    assert [(rs.name.to_text(), rs.rdtype) for rs in r.answer] == [
        ("foo.cn.x.test.", dns.rdatatype.CNAME),
        ("target.x.test.", dns.rdatatype.A),
    ]
    assert kdig("foo.cn.x.test", "A") == ("NOERROR", [
        ("foo.cn.x.test.", "CNAME", "target.x.test."),
        ("target.x.test.", "A", "10.0.4.4"),
    ])


def test_star_outside_every_zone_is_answered(ask):
    r = ask("laptop.dev.lan")
    assert r.rcode() == dns.rcode.NOERROR
    assert r.answer[0].name.to_text() == "laptop.dev.lan."
    assert texts(r.answer[0]) == ["10.0.5.1"]


# "wildcard": true on app.x.test: the original's meaning, unchanged -------------------


def test_original_wildcard_still_answers_one_level_only(ask):
    r = ask("foo.app.x.test")
    assert r.answer[0].name.to_text() == "foo.app.x.test."
    assert texts(r.answer[0]) == ["10.0.0.9"]
    assert ask("a.b.app.x.test").rcode() == dns.rcode.NXDOMAIN


# forwarding: names the "*" does not cover still go upstream ---------------------------


def test_a_star_outside_zones_keeps_its_names_from_upstream(start_server):
    with FakeUpstream() as fake:
        for name in ("laptop.dev.lan", "a.b.dev.lan"):
            fake.add(name, "A", "192.0.2.7")
        forwarder = start_server(config([fake]))
        r = forwarder.ask("laptop.dev.lan", "A")
        assert texts(r.answer[0]) == ["10.0.5.1"]
        # b.dev.lan exists (host.b.dev.lan): a.b.dev.lan is not the
        # wildcard's, and it is not ours either: forwarded
        r = forwarder.ask("a.b.dev.lan", "A")
        assert texts(r.answer[0]) == ["192.0.2.7"]
        assert fake.count("a.b.dev.lan") == 1
        assert fake.count("laptop.dev.lan") == 0


# nanodns check -------------------------------------------------------------------------


def test_check_lists_star_owners_as_wildcards(tmp_path):
    path = harness.write_config(tmp_path, config())
    proc = harness.run_nanodns("check", path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line.strip() for line in proc.stdout.splitlines() if "Wildcard" in line]
    # each "*" owner once, in the order of the config
    assert lines == ["Wildcard: *.w.x.test", "Wildcard: *.cn.x.test", "Wildcard: *.dev.lan"]
