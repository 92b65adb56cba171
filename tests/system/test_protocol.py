"""Protocol behaviour of the real server: header bits, EDNS0 (RFC 6891),
truncation and the UDP size limits, TCP (RFC 7766: pipelining, split
writes, idle timeout, connection limit) and minimal ANY (RFC 8482)."""

import re
import socket
import time

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

import harness
from harness import Header, rrset, tcp_frame, tcp_read_message, texts

SOA = {
    "mname": "ns1.x.test",
    "rname": "hostmaster.x.test",
    "serial": 2024010101,
    "refresh": 3600,
    "retry": 900,
    "expire": 604800,
    "minimum": 300,
}


def a_records(name, count):
    return [
        {"name": name, "type": "A", "value": "10.0.%d.%d" % (i // 250, i % 250 + 1), "ttl": 300}
        for i in range(count)
    ]


def txt_records(name, count, size):
    return [
        {"name": name, "type": "TXT", "value": ("%04d" % i) + "x" * (size - 4), "ttl": 300}
        for i in range(count)
    ]


RECORDS = (
    [
        {"name": "www.x.test", "type": "A", "value": "10.0.0.80", "ttl": 300},
        {"name": "mail.x.test", "type": "A", "value": "10.0.0.25", "ttl": 300},
        {"name": "mail.x.test", "type": "AAAA", "value": "fd00::25", "ttl": 300},
    ]
    # 60 A records: about 1000 octets, too big for 512, fits 1232
    + a_records("big60.x.test", 60)
    # 80 A records: about 1320 octets, between 1232 and 1400
    + a_records("big80.x.test", 80)
    # 40 TXT records of 100 characters: about 4.5 KB
    + txt_records("bigtxt.x.test", 40, 100)
    # 300 TXT records of 200 characters: about 63.9 KB, still one TCP message
    + txt_records("huge.x.test", 300, 200)
)


def config(**server):
    return {
        "server": harness.base_server(**server),
        "zones": {"x.test": {"soa": SOA, "ns": ["ns1.x.test"]}},
        "records": RECORDS,
        "rewrites": [],
    }


@pytest.fixture(scope="module")
def server(start_server):
    return start_server(config())


@pytest.fixture(scope="module")
def server6(start_server):
    return start_server(config(), host="::1")


@pytest.fixture(scope="module")
def idle_server(start_server):
    return start_server(config(tcp_idle_timeout=1))


@pytest.fixture(scope="module")
def limited_server(start_server):
    return start_server(config(tcp_max_connections=3, edns_payload=1400, config_version=5))


def query(name, rdtype="A", **kwargs):
    return dns.message.make_query(name, rdtype, **kwargs)


# Header ------------------------------------------------------------------


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_id_is_copied(server, proto):
    q = query("www.x.test")
    q.id = 0xBEEF
    r = server.query(q, proto)
    assert r.id == 0xBEEF
    assert r.flags & dns.flags.QR


@pytest.mark.parametrize("proto", ["udp", "tcp"])
@pytest.mark.parametrize("rd", [0, 1])
def test_rd_is_copied_and_ra_is_clear(server, proto, rd):
    q = query("www.x.test")
    if rd:
        q.flags |= dns.flags.RD
    else:
        q.flags &= ~dns.flags.RD
    r = server.query(q, proto)
    assert bool(r.flags & dns.flags.RD) == bool(rd)
    assert not r.flags & dns.flags.RA
    assert r.rcode() == dns.rcode.NOERROR


# EDNS0 (RFC 6891) -----------------------------------------------------------


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_edns_query_gets_opt_with_our_payload(server, proto):
    r = server.query(query("www.x.test", use_edns=0, payload=4096), proto)
    assert r.edns == 0
    assert r.payload == 1232


@pytest.mark.parametrize(
    "name,rcode",
    [
        ("www.x.test", dns.rcode.NOERROR),
        ("nothere.x.test", dns.rcode.NXDOMAIN),
        ("nowhere.example.org", dns.rcode.REFUSED),
    ],
)
def test_every_edns_answer_carries_opt(server, name, rcode):
    r = server.query(query(name, use_edns=0, payload=4096))
    assert r.rcode() == rcode
    assert r.edns == 0
    assert r.payload == 1232


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_query_without_edns_gets_no_opt(server, proto):
    wire = query("www.x.test", use_edns=False).to_wire()
    raw = server.udp_raw(wire) if proto == "udp" else server.tcp_raw(wire)
    assert Header(raw).arcount == 0
    assert dns.message.from_wire(raw).edns == -1


DO_CASES = [
    ("www.x.test", "A", dns.rcode.NOERROR, 1),  # positive
    ("nothere.x.test", "A", dns.rcode.NXDOMAIN, 0),
    ("www.x.test", "AAAA", dns.rcode.NOERROR, 0),  # NODATA
]


@pytest.mark.parametrize("proto", ["udp", "tcp"])
@pytest.mark.parametrize("name,rdtype,rcode,answers", DO_CASES)
@pytest.mark.parametrize("dnssec_ok", [True, False])
def test_do_bit_of_the_query_is_copied_into_the_answer(
    server, proto, name, rdtype, rcode, answers, dnssec_ok
):
    # RFC 3225 §3
    r = server.query(query(name, rdtype, use_edns=0, want_dnssec=dnssec_ok), proto)
    assert r.rcode() == rcode
    assert len(r.answer) == answers
    assert r.edns == 0
    assert bool(r.ednsflags & dns.flags.DO) == dnssec_ok


def kdig_edns_flags(server, proto, *args):
    """kdig's answer to args over proto: (status text, the EDNS flags it shows)."""
    rc, out, err = harness.kdig(
        "@" + server.host, "-p", str(server.port), "+tcp" if proto == "tcp" else "+notcp",
        "+timeout=2", "+retry=0", *args
    )
    assert rc == 0, err
    assert "(%s)" % proto.upper() in out, out  # ";; From 127.0.0.1@PORT(UDP)"
    status = re.search(r"status: (\w+)", out)
    flags = re.search(r";; Version: 0; flags: ?([a-z ]*); UDP size", out)
    assert status and flags, out
    return status.group(1), flags.group(1).split()


@pytest.mark.parametrize("proto", ["udp", "tcp"])
@pytest.mark.parametrize("name,rdtype,rcode,answers", DO_CASES)
def test_kdig_dnssec_query_gets_do_back(server, proto, name, rdtype, rcode, answers):
    status, flags = kdig_edns_flags(server, proto, "+dnssec", name, rdtype)
    assert (status, flags) == (dns.rcode.to_text(rcode), ["do"])
    status, flags = kdig_edns_flags(server, proto, "+edns", name, rdtype)
    assert (status, flags) == (dns.rcode.to_text(rcode), [])


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_edns_version_1_gets_badvers_with_opt(server, proto):
    q = query("www.x.test")
    q.use_edns(1)  # make_query(use_edns=1) would mean "EDNS on", version 0
    r = server.query(q, proto)
    assert r.rcode() == dns.rcode.BADVERS
    assert r.edns == 0  # the highest version we implement (RFC 6891 §6.1.3)
    assert r.payload == 1232  # the OPT still advertises our UDP payload size
    assert r.answer == []


def test_configured_edns_payload_is_advertised(limited_server):
    r = limited_server.query(query("www.x.test", use_edns=0, payload=4096))
    assert r.payload == 1400


# Truncation ---------------------------------------------------------------


def test_udp_answer_over_512_without_edns_is_truncated(server):
    raw = server.udp_raw(query("big60.x.test").to_wire())
    assert len(raw) <= 512
    assert Header(raw).has(dns.flags.TC)


def test_tcp_answer_is_whole_without_edns(server):
    r = server.query(query("big60.x.test"), "tcp")
    assert not r.flags & dns.flags.TC
    assert len(rrset(r.answer, "big60.x.test", "A")) == 60


def test_udp_answer_within_edns_payload_is_not_truncated(server):
    raw = server.udp_raw(query("big60.x.test", use_edns=0, payload=4096).to_wire())
    assert 512 < len(raw) <= 1232
    r = dns.message.from_wire(raw)
    assert not r.flags & dns.flags.TC
    assert len(rrset(r.answer, "big60.x.test", "A")) == 60


def test_udp_answer_honours_a_smaller_client_payload(server):
    raw = server.udp_raw(query("big60.x.test", use_edns=0, payload=512).to_wire())
    assert len(raw) <= 512
    assert Header(raw).has(dns.flags.TC)


def test_udp_answer_is_capped_by_our_payload(server):
    raw = server.udp_raw(query("bigtxt.x.test", "TXT", use_edns=0, payload=4096).to_wire())
    assert len(raw) <= 1232
    assert Header(raw).has(dns.flags.TC)
    # RFC 6891 §7: the OPT stays in a truncated answer
    r = dns.message.from_wire(raw)
    assert r.edns == 0 and r.payload == 1232


def test_truncated_answer_retried_over_tcp_gets_everything(server):
    q = query("bigtxt.x.test", "TXT", use_edns=0, payload=4096)
    r = dns.query.tcp(q, server.host, port=server.port, timeout=harness.QUERY_TIMEOUT)
    assert not r.flags & dns.flags.TC
    assert len(rrset(r.answer, "bigtxt.x.test", "TXT")) == 40


def test_kdig_retries_truncated_answer_over_tcp(server):
    rc, out, err = harness.kdig(
        "@" + server.host,
        "-p",
        str(server.port),
        "+bufsize=4096",
        "+timeout=2",
        "+retry=0",
        "+short",
        "bigtxt.x.test",
        "TXT",
    )
    assert rc == 0, err
    lines = [line for line in out.splitlines() if line.startswith('"')]
    assert len(lines) == 40


def test_tcp_answers_up_to_64k_are_not_truncated(server):
    raw = server.tcp_raw(query("huge.x.test", "TXT").to_wire(), timeout=5)
    assert len(raw) > 60000
    r = dns.message.from_wire(raw)
    assert not r.flags & dns.flags.TC
    rs = rrset(r.answer, "huge.x.test", "TXT")
    assert len(rs) == 300
    assert all(len(rd.strings[0]) == 200 for rd in rs)


def test_configured_edns_payload_caps_udp_answers(limited_server):
    # about 1320 octets: over the default 1232, under the configured 1400
    raw = limited_server.udp_raw(query("big80.x.test", use_edns=0, payload=4096).to_wire())
    assert 1232 < len(raw) <= 1400
    assert not Header(raw).has(dns.flags.TC)
    raw = limited_server.udp_raw(
        query("bigtxt.x.test", "TXT", use_edns=0, payload=4096).to_wire()
    )
    assert len(raw) <= 1400
    assert Header(raw).has(dns.flags.TC)


def test_soa_serial_adds_config_version(limited_server):
    r = limited_server.query(query("x.test", "SOA"))
    assert list(rrset(r.answer, "x.test", "SOA"))[0].serial == 2024010106


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_ipv6_truncation_and_tcp(server6, proto):
    wire = query("big60.x.test").to_wire()
    if proto == "udp":
        raw = server6.udp_raw(wire)
        assert len(raw) <= 512 and Header(raw).has(dns.flags.TC)
    else:
        r = dns.message.from_wire(server6.tcp_raw(wire))
        assert not r.flags & dns.flags.TC
        assert len(rrset(r.answer, "big60.x.test", "A")) == 60


def test_ipv6_edns(server6):
    r = server6.query(query("www.x.test", use_edns=0, payload=4096))
    assert r.edns == 0 and r.payload == 1232
    assert texts(rrset(r.answer, "www.x.test", "A")) == ["10.0.0.80"]


# TCP (RFC 7766) -----------------------------------------------------------


def test_tcp_pipelined_queries_all_answered(server):
    names = [
        ("www.x.test", "A"),
        ("mail.x.test", "A"),
        ("mail.x.test", "AAAA"),
        ("nothere.x.test", "A"),
        ("big60.x.test", "A"),
    ]
    queries = {}
    for i, (name, rdtype) in enumerate(names):
        q = query(name, rdtype)
        q.id = 0x1000 + i
        queries[q.id] = q
    with server.tcp_connect() as s:
        s.sendall(b"".join(tcp_frame(q.to_wire()) for q in queries.values()))
        answers = {}
        for _ in queries:
            raw = tcp_read_message(s)
            assert raw is not None, "connection closed after %d answers" % len(answers)
            r = dns.message.from_wire(raw)
            answers[r.id] = r
    assert sorted(answers) == sorted(queries)
    for qid, r in answers.items():
        assert r.question[0].name == queries[qid].question[0].name
        assert r.question[0].rdtype == queries[qid].question[0].rdtype
    assert answers[0x1003].rcode() == dns.rcode.NXDOMAIN
    assert len(answers[0x1004].answer[0]) == 60


def split_send(server, first_len):
    """Send one framed query in two writes split at first_len octets."""
    framed = tcp_frame(query("www.x.test").to_wire())
    with server.tcp_connect() as s:
        s.sendall(framed[:first_len])
        # Separate segments: the server must wait for the rest, not choke.
        time.sleep(0.1)
        s.sendall(framed[first_len:])
        raw = tcp_read_message(s)
    assert raw is not None
    return dns.message.from_wire(raw)


def test_tcp_query_split_inside_the_message(server):
    r = split_send(server, 9)
    assert texts(rrset(r.answer, "www.x.test", "A")) == ["10.0.0.80"]


def test_tcp_query_split_inside_the_length_prefix(server):
    r = split_send(server, 1)
    assert texts(rrset(r.answer, "www.x.test", "A")) == ["10.0.0.80"]


def test_tcp_connection_serves_several_queries_in_turn(server):
    with server.tcp_connect() as s:
        for i in range(3):
            q = query("www.x.test")
            q.id = 0x2000 + i
            s.sendall(tcp_frame(q.to_wire()))
            r = dns.message.from_wire(tcp_read_message(s))
            assert r.id == q.id


def wait_for_close(sock, timeout):
    """Seconds until the server closed sock (EOF or reset); None if it did not."""
    sock.settimeout(timeout)
    start = time.monotonic()
    try:
        data = sock.recv(1)
    except socket.timeout:
        return None
    except ConnectionResetError:
        data = b""
    assert data == b"", "unexpected data on an idle connection"
    return time.monotonic() - start


def test_tcp_idle_connection_is_closed(idle_server):
    with idle_server.tcp_connect() as s:
        elapsed = wait_for_close(s, 5.0)
    assert elapsed is not None, "idle connection still open after 5 s (tcp_idle_timeout 1)"
    assert 0.5 <= elapsed <= 3.0


def test_tcp_connection_idle_after_an_answer_is_closed(idle_server):
    with idle_server.tcp_connect() as s:
        s.sendall(tcp_frame(query("www.x.test").to_wire()))
        assert tcp_read_message(s) is not None
        elapsed = wait_for_close(s, 5.0)
    assert elapsed is not None, "idle connection still open after 5 s (tcp_idle_timeout 1)"
    assert elapsed <= 3.0


def tcp_ask(sock, qid):
    q = query("www.x.test")
    q.id = qid
    sock.sendall(tcp_frame(q.to_wire()))
    raw = tcp_read_message(sock)
    return dns.message.from_wire(raw) if raw is not None else None


def test_tcp_connection_limit(limited_server):
    kept = []
    try:
        for i in range(3):
            s = limited_server.tcp_connect()
            kept.append(s)
            r = tcp_ask(s, 0x3000 + i)
            assert r is not None and r.id == 0x3000 + i
        # The fourth is over tcp_max_connections 3: closed or left unanswered.
        try:
            fourth = limited_server.tcp_connect(timeout=1.0)
        except (ConnectionRefusedError, ConnectionResetError, socket.timeout):
            fourth = None
        if fourth is not None:
            kept.append(fourth)
            try:
                answer = tcp_ask(fourth, 0x3100)
            except (socket.timeout, ConnectionResetError, BrokenPipeError):
                answer = None
            assert answer is None, "a 4th connection was answered with tcp_max_connections 3"
        for i, s in enumerate(kept[:3]):
            r = tcp_ask(s, 0x3200 + i)
            assert r is not None and r.id == 0x3200 + i
    finally:
        for s in kept:
            s.close()


def test_tcp_slot_is_reused_after_connections_close(limited_server):
    # After the limit test closed its connections, new ones are served again.
    deadline = time.monotonic() + 5.0
    while True:
        try:
            with limited_server.tcp_connect(timeout=1.0) as s:
                r = tcp_ask(s, 0x3300)
                if r is not None:
                    break
        except (socket.timeout, ConnectionResetError, BrokenPipeError):
            pass
        assert time.monotonic() < deadline, "no TCP connection served after the limit freed"
    assert r.id == 0x3300


# ANY (RFC 8482) -------------------------------------------------------------


def test_any_over_udp_returns_one_rrset(server):
    r = server.query(query("mail.x.test", "ANY"))
    assert r.rcode() == dns.rcode.NOERROR
    assert len(r.answer) == 1
    assert r.answer[0].name.to_text() == "mail.x.test."


def test_any_over_tcp_returns_every_rrset(server):
    r = server.query(query("mail.x.test", "ANY"), "tcp")
    assert r.rcode() == dns.rcode.NOERROR
    assert texts(rrset(r.answer, "mail.x.test", "A")) == ["10.0.0.25"]
    assert texts(rrset(r.answer, "mail.x.test", "AAAA")) == ["fd00::25"]
