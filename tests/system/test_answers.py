"""Authoritative answers (RFC 1034 §4.3.2, RFC 2308, RFC 6604) from the real
server, asked over UDP and TCP on 127.0.0.1, and a subset over ::1."""

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

import harness
from harness import Header, rrset, texts

LONG_TXT = "".join(chr(ord("a") + i % 26) for i in range(600))


def chain(prefix, length, last_target):
    """prefix1 -> prefix2 -> ... -> prefixN -> last_target, as CNAME records."""
    records = []
    for i in range(1, length + 1):
        target = "%s%d.x.test" % (prefix, i + 1) if i < length else last_target
        records.append({"name": "%s%d.x.test" % (prefix, i), "type": "CNAME", "value": target})
    return records


CONFIG = {
    "server": harness.base_server(),
    "zones": {
        "x.test": {
            "soa": {
                "mname": "ns1.x.test",
                "rname": "hostmaster.x.test",
                "serial": 2024010101,
                "refresh": 3600,
                "retry": 900,
                "expire": 604800,
                "minimum": 300,
            },
            "ns": ["ns1.x.test"],
        },
        "neg.test": {
            "soa": {
                "mname": "ns1.neg.test",
                "rname": "hostmaster.neg.test",
                "serial": 7,
                "refresh": 3600,
                "retry": 900,
                "expire": 604800,
                "minimum": 7200,
            },
            "ns": ["ns1.neg.test"],
        },
        "10.in-addr.arpa": {
            "soa": {
                "mname": "ns1.x.test",
                "rname": "hostmaster.x.test",
                "serial": 1,
                "refresh": 3600,
                "retry": 900,
                "expire": 604800,
                "minimum": 300,
            },
            "ns": ["ns1.x.test"],
        },
    },
    "records": [
        {"name": "ns1.x.test", "type": "A", "value": "10.0.0.53", "ttl": 3600},
        {"name": "www.x.test", "type": "A", "value": "10.0.0.80", "ttl": 300},
        {"name": "multi.x.test", "type": "A", "value": "10.0.0.1", "ttl": 120},
        {"name": "multi.x.test", "type": "A", "value": "10.0.0.2", "ttl": 120},
        {"name": "multi.x.test", "type": "A", "value": "10.0.0.3", "ttl": 120},
        {"name": "v6.x.test", "type": "AAAA", "value": "fd00::1", "ttl": 600},
        {"name": "alias.x.test", "type": "CNAME", "value": "www.x.test", "ttl": 60},
        {"name": "x.test", "type": "MX", "value": "mail.x.test", "priority": 10, "ttl": 3600},
        {"name": "mail.x.test", "type": "A", "value": "10.0.0.25", "ttl": 300},
        {"name": "mail.x.test", "type": "AAAA", "value": "fd00::25", "ttl": 300},
        {"name": "txt.x.test", "type": "TXT", "value": "hello world", "ttl": 300},
        {"name": "long.x.test", "type": "TXT", "value": LONG_TXT, "ttl": 300},
        {"name": "80.0.0.10.in-addr.arpa", "type": "PTR", "value": "www.x.test", "ttl": 300},
        {
            "name": "_sip._tcp.x.test",
            "type": "SRV",
            "value": "sip.x.test",
            "priority": 10,
            "weight": 20,
            "port": 5060,
            "ttl": 300,
        },
        {"name": "sip.x.test", "type": "A", "value": "10.0.0.60", "ttl": 300},
        {
            "name": "x.test",
            "type": "CAA",
            "value": "letsencrypt.org",
            "flags": 0,
            "tag": "issue",
            "ttl": 300,
        },
        {"name": "a.b.x.test", "type": "A", "value": "10.0.0.2", "ttl": 300},
        {"name": "loopa.x.test", "type": "CNAME", "value": "loopb.x.test"},
        {"name": "loopb.x.test", "type": "CNAME", "value": "loopa.x.test"},
        {"name": "ext.x.test", "type": "CNAME", "value": "www.example.org"},
        {"name": "dangling.x.test", "type": "CNAME", "value": "nothere.x.test"},
        {"name": "app.x.test", "type": "A", "value": "10.0.0.9", "wildcard": True},
        {"name": "real.app.x.test", "type": "A", "value": "10.0.0.10"},
        {"name": "bad.x.test", "type": "A", "value": "10.0.0.66"},
        {"name": "ads.x.test", "type": "A", "value": "10.0.0.70"},
        {"name": "host.neg.test", "type": "A", "value": "10.1.0.1"},
        {"name": "standalone.other", "type": "A", "value": "10.9.9.9", "ttl": 300},
    ]
    + chain("chain", 3, "www.x.test")
    + chain("hop", 12, "www.x.test"),
    "rewrites": [
        {"match": "bad.x.test", "action": "nxdomain"},
        {"match": "*.ads.x.test", "action": "nxdomain"},
        {"match": "blocked.example.com", "action": "nxdomain"},
    ],
}


@pytest.fixture(scope="module")
def server(start_server):
    return start_server(CONFIG)


@pytest.fixture(scope="module")
def server6(start_server):
    return start_server(CONFIG, host="::1")


@pytest.fixture(params=["udp", "tcp"])
def ask(request, server):
    """ask(name, type, **make_query_kwargs) over the parametrised transport."""

    def run(name, rdtype="A", **kwargs):
        return server.ask(name, rdtype, proto=request.param, **kwargs)

    return run


def assert_soa_authority(response, zone, ttl):
    soa = rrset(response.authority, zone, "SOA")
    assert soa is not None, "no %s SOA in authority:\n%s" % (zone, response)
    assert soa.ttl == ttl
    return soa


# 1. Existing name and type -------------------------------------------------


def test_whole_rrset_is_answered_authoritatively(ask):
    r = ask("multi.x.test", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.AA
    rs = rrset(r.answer, "multi.x.test", "A")
    assert texts(rs) == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert rs.ttl == 120


def test_a_record(ask):
    r = ask("www.x.test", "A")
    rs = rrset(r.answer, "www.x.test", "A")
    assert texts(rs) == ["10.0.0.80"] and rs.ttl == 300
    assert r.flags & dns.flags.AA


def test_aaaa_record(ask):
    rs = rrset(ask("v6.x.test", "AAAA").answer, "v6.x.test", "AAAA")
    assert texts(rs) == ["fd00::1"] and rs.ttl == 600


def test_cname_query_returns_only_the_cname(ask):
    r = ask("alias.x.test", "CNAME")
    assert r.rcode() == dns.rcode.NOERROR
    assert len(r.answer) == 1
    rs = rrset(r.answer, "alias.x.test", "CNAME")
    assert texts(rs) == ["www.x.test."] and rs.ttl == 60


def test_mx_record(ask):
    rs = rrset(ask("x.test", "MX").answer, "x.test", "MX")
    assert texts(rs) == ["10 mail.x.test."] and rs.ttl == 3600


def test_txt_record(ask):
    rs = rrset(ask("txt.x.test", "TXT").answer, "txt.x.test", "TXT")
    assert [rd.strings for rd in rs] == [(b"hello world",)]


def test_long_txt_is_split_into_255_octet_strings(ask):
    # about 650 octets: over 512, so ask with EDNS to get it over UDP
    rs = rrset(ask("long.x.test", "TXT", use_edns=0).answer, "long.x.test", "TXT")
    (rd,) = list(rs)
    assert [len(s) for s in rd.strings] == [255, 255, 90]
    assert b"".join(rd.strings) == LONG_TXT.encode()


def test_ptr_record(ask):
    rs = rrset(ask("80.0.0.10.in-addr.arpa", "PTR").answer, "80.0.0.10.in-addr.arpa", "PTR")
    assert texts(rs) == ["www.x.test."]


def test_ns_at_apex(ask):
    r = ask("x.test", "NS")
    assert r.flags & dns.flags.AA
    assert texts(rrset(r.answer, "x.test", "NS")) == ["ns1.x.test."]


def test_srv_record(ask):
    rs = rrset(ask("_sip._tcp.x.test", "SRV").answer, "_sip._tcp.x.test", "SRV")
    (rd,) = list(rs)
    assert (rd.priority, rd.weight, rd.port, rd.target.to_text()) == (10, 20, 5060, "sip.x.test.")


def test_caa_record(ask):
    rs = rrset(ask("x.test", "CAA").answer, "x.test", "CAA")
    (rd,) = list(rs)
    assert (rd.flags, rd.tag, rd.value) == (0, b"issue", b"letsencrypt.org")


def test_soa_at_apex_serves_serial_plus_config_version(ask):
    r = ask("x.test", "SOA")
    assert r.flags & dns.flags.AA
    rs = rrset(r.answer, "x.test", "SOA")
    (rd,) = list(rs)
    assert rs.ttl == 3600
    assert rd.mname.to_text() == "ns1.x.test."
    assert rd.rname.to_text() == "hostmaster.x.test."
    assert rd.serial == 2024010102  # 2024010101 + config_version 1
    assert (rd.refresh, rd.retry, rd.expire, rd.minimum) == (3600, 900, 604800, 300)


# 2. NODATA ------------------------------------------------------------------


def test_nodata_has_soa_in_authority(ask):
    r = ask("www.x.test", "AAAA")
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.AA
    assert r.answer == []
    assert_soa_authority(r, "x.test", 300)


def test_empty_non_terminal_is_nodata(ask):
    r = ask("b.x.test", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert r.answer == []
    assert_soa_authority(r, "x.test", 300)


def test_negative_ttl_is_soa_ttl_when_minimum_is_larger(ask):
    r = ask("host.neg.test", "TXT")
    assert r.rcode() == dns.rcode.NOERROR and r.answer == []
    soa = assert_soa_authority(r, "neg.test", 3600)  # min(3600, 7200)
    assert list(soa)[0].serial == 8


# 3. NXDOMAIN ----------------------------------------------------------------


def test_nxdomain_has_soa_in_authority(ask):
    r = ask("nothere.x.test", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert r.flags & dns.flags.AA
    assert r.answer == []
    soa = assert_soa_authority(r, "x.test", 300)
    assert list(soa)[0].serial == 2024010102


def test_nxdomain_in_zone_with_large_minimum(ask):
    r = ask("nothere.neg.test", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert_soa_authority(r, "neg.test", 3600)


# 4. CNAME -------------------------------------------------------------------


def test_cname_is_followed_inside_our_data(ask):
    r = ask("alias.x.test", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.AA
    assert [(rs.name.to_text(), rs.rdtype) for rs in r.answer] == [
        ("alias.x.test.", dns.rdatatype.CNAME),
        ("www.x.test.", dns.rdatatype.A),
    ]
    assert texts(r.answer[1]) == ["10.0.0.80"]


def test_cname_is_returned_for_any_type_asked(ask):
    r = ask("alias.x.test", "TXT")
    assert r.rcode() == dns.rcode.NOERROR
    assert r.answer[0].rdtype == dns.rdatatype.CNAME
    assert r.answer[0].name.to_text() == "alias.x.test."
    # www.x.test has no TXT: nothing else in the answer
    assert rrset(r.answer, "www.x.test", "TXT") is None


def test_cname_chain_of_three_is_followed(ask):
    r = ask("chain1.x.test", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert [(rs.name.to_text(), rs.rdtype) for rs in r.answer] == [
        ("chain1.x.test.", dns.rdatatype.CNAME),
        ("chain2.x.test.", dns.rdatatype.CNAME),
        ("chain3.x.test.", dns.rdatatype.CNAME),
        ("www.x.test.", dns.rdatatype.A),
    ]


def test_cname_loop_terminates_with_the_cnames(server, ask):
    r = ask("loopa.x.test", "A")
    assert r.rcode() == dns.rcode.NOERROR
    owners = {rs.name.to_text() for rs in r.answer if rs.rdtype == dns.rdatatype.CNAME}
    assert owners == {"loopa.x.test.", "loopb.x.test."}
    assert all(rs.rdtype == dns.rdatatype.CNAME for rs in r.answer)
    raw = server.udp_raw(dns.message.make_query("loopa.x.test", "A").to_wire())
    assert Header(raw).ancount <= 9


def test_long_cname_chain_stops_after_eight_links(server, ask):
    r = ask("hop1.x.test", "A")
    assert r.answer[0].name.to_text() == "hop1.x.test."
    assert all(rs.rdtype == dns.rdatatype.CNAME for rs in r.answer)
    raw = server.udp_raw(dns.message.make_query("hop1.x.test", "A").to_wire())
    assert 1 <= Header(raw).ancount <= 9


def test_cname_to_outside_name_is_not_followed(ask):
    r = ask("ext.x.test", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert len(r.answer) == 1
    assert texts(rrset(r.answer, "ext.x.test", "CNAME")) == ["www.example.org."]


def test_cname_to_missing_name_in_zone_is_nxdomain(ask):
    # RFC 6604 §3: the rcode is that of the last name in the chain
    r = ask("dangling.x.test", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert len(r.answer) == 1
    assert texts(rrset(r.answer, "dangling.x.test", "CNAME")) == ["nothere.x.test."]
    assert_soa_authority(r, "x.test", 300)


# 5. Additional section ----------------------------------------------------


def test_mx_target_addresses_in_additional(ask):
    r = ask("x.test", "MX")
    assert texts(rrset(r.additional, "mail.x.test", "A")) == ["10.0.0.25"]
    assert texts(rrset(r.additional, "mail.x.test", "AAAA")) == ["fd00::25"]


def test_ns_target_address_in_additional(ask):
    r = ask("x.test", "NS")
    assert texts(rrset(r.additional, "ns1.x.test", "A")) == ["10.0.0.53"]


def test_srv_target_address_in_additional(ask):
    r = ask("_sip._tcp.x.test", "SRV")
    assert texts(rrset(r.additional, "sip.x.test", "A")) == ["10.0.0.60"]


# 6. Wildcards (original NanoDNS meaning: one level below the name) --------


def test_wildcard_record_answers_its_own_name(ask):
    r = ask("app.x.test", "A")
    assert texts(rrset(r.answer, "app.x.test", "A")) == ["10.0.0.9"]


def test_wildcard_answers_one_level_below_with_query_name_as_owner(ask):
    r = ask("foo.app.x.test", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.AA
    assert len(r.answer) == 1
    assert r.answer[0].name.to_text() == "foo.app.x.test."
    assert texts(r.answer[0]) == ["10.0.0.9"]


def test_wildcard_does_not_answer_two_levels_below(ask):
    r = ask("a.b.app.x.test", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert r.answer == []


def test_name_with_own_data_below_wildcard_answers_its_own_data(ask):
    r = ask("real.app.x.test", "A")
    assert texts(rrset(r.answer, "real.app.x.test", "A")) == ["10.0.0.10"]


def test_name_with_own_data_below_wildcard_is_nodata_for_other_types(ask):
    r = ask("real.app.x.test", "AAAA")
    assert r.rcode() == dns.rcode.NOERROR
    assert r.answer == []
    assert_soa_authority(r, "x.test", 300)


# 7. Rewrites ------------------------------------------------------------------


def test_rewrite_exact_match_is_nxdomain_even_with_records(ask):
    r = ask("bad.x.test", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert r.answer == []
    assert_soa_authority(r, "x.test", 300)


def test_rewrite_star_blocks_names_below(ask):
    r = ask("foo.ads.x.test", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert r.answer == []
    assert_soa_authority(r, "x.test", 300)


def test_rewrite_star_blocks_names_at_any_depth_below(ask):
    assert ask("a.b.ads.x.test", "A").rcode() == dns.rcode.NXDOMAIN


def test_rewrite_star_does_not_block_the_name_itself(ask):
    r = ask("ads.x.test", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert texts(rrset(r.answer, "ads.x.test", "A")) == ["10.0.0.70"]


def test_rewrite_outside_every_zone_is_nxdomain_without_soa(ask):
    r = ask("blocked.example.com", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert r.answer == []
    assert not any(rs.rdtype == dns.rdatatype.SOA for rs in r.authority)


# 8. Outside every zone ------------------------------------------------------


def test_name_outside_every_zone_is_refused(ask):
    r = ask("nowhere.example.org", "A")
    assert r.rcode() == dns.rcode.REFUSED
    assert r.answer == []


def test_record_outside_every_zone_is_answered(ask):
    r = ask("standalone.other", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert texts(rrset(r.answer, "standalone.other", "A")) == ["10.9.9.9"]


# 9. Case ------------------------------------------------------------------


def test_question_and_owner_keep_the_query_case(ask):
    r = ask("WwW.X.TeSt", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert r.question[0].name.to_text() == "WwW.X.TeSt."
    assert r.answer[0].name.to_text() == "WwW.X.TeSt."
    assert texts(r.answer[0]) == ["10.0.0.80"]


def test_wildcard_owner_keeps_the_query_case(ask):
    r = ask("FoO.aPp.x.test", "A")
    assert r.answer[0].name.to_text() == "FoO.aPp.x.test."


def test_rewrites_match_case_insensitively(ask):
    assert ask("BAD.x.TEST", "A").rcode() == dns.rcode.NXDOMAIN
    assert ask("Foo.ADS.x.test", "A").rcode() == dns.rcode.NXDOMAIN


# IPv6 (::1): a subset --------------------------------------------------------


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_ipv6_a_record(server6, proto):
    r = server6.ask("multi.x.test", "A", proto=proto)
    assert r.flags & dns.flags.AA
    assert texts(rrset(r.answer, "multi.x.test", "A")) == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_ipv6_cname_followed(server6, proto):
    r = server6.ask("alias.x.test", "AAAA", proto=proto)
    assert r.answer[0].rdtype == dns.rdatatype.CNAME


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_ipv6_nxdomain(server6, proto):
    r = server6.ask("nothere.x.test", "AAAA", proto=proto)
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert_soa_authority(r, "x.test", 300)


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_ipv6_refused_outside_zones(server6, proto):
    assert server6.ask("nowhere.example.org", "A", proto=proto).rcode() == dns.rcode.REFUSED
