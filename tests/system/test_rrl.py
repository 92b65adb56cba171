"""Response rate limiting (issue 12, finding 12; NSD's rrl-ratelimit and
rrl-slip): UDP answers to a client prefix outside allow_recursion past
rrl_ratelimit a second are dropped, every rrl_slip-th sent truncated (TC=1);
TCP and other prefixes are answered. Raw UDP sockets and dnspython."""

import socket
import time

import dns.flags
import dns.message
import pytest

import harness
from harness import rrset, texts

RATE = 5
BURST = 40

SOA = {
    "mname": "ns1.x.test",
    "rname": "hostmaster.x.test",
    "serial": 1,
    "refresh": 3600,
    "retry": 900,
    "expire": 604800,
    "minimum": 300,
}


@pytest.fixture(scope="module")
def server(start_server):
    """(server, API port): loopback is outside allow_recursion here."""
    mgmt = harness.free_port()
    config = {
        "server": harness.base_server(
            rrl_ratelimit=RATE,
            rrl_slip=2,
            allow_recursion=["10.0.0.0/8"],
            mgmt_host="127.0.0.1",
            mgmt_port=mgmt,
        ),
        "zones": {"x.test": {"soa": dict(SOA), "ns": ["ns1.x.test"]}},
        "records": [
            {"name": "ns1.x.test", "type": "A", "value": "10.0.0.53"},
            {"name": "www.x.test", "type": "A", "value": "10.0.0.80"},
        ],
    }
    return start_server(config), mgmt


def burst(server, source, count):
    """count queries for www.x.test from source over UDP at once; the
    answers that came (within 1 s of the last), by ID."""
    answers = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.connect((server.host, server.port))
        for i in range(count):
            q = dns.message.make_query("www.x.test", "A")
            q.id = 0x7000 + i
            s.send(q.to_wire())
        s.settimeout(1.0)
        while True:
            try:
                r = dns.message.from_wire(s.recv(65535))
            except socket.timeout:
                break
            answers[r.id] = r
    return answers


def test_past_the_rate_answers_are_dropped_or_truncated(server):
    server, mgmt = server
    answers = burst(server, "127.0.0.2", BURST)
    full = [r for r in answers.values() if not r.flags & dns.flags.TC]
    truncated = [r for r in answers.values() if r.flags & dns.flags.TC]
    # The burst may straddle two one-second windows.
    assert RATE <= len(full) <= 2 * RATE, "%d full answers at rrl_ratelimit %d" % (len(full), RATE)
    assert all(texts(rrset(r.answer, "www.x.test.", "A")) == ["10.0.0.80"] for r in full)
    assert truncated, "no truncated answer past the rate (rrl_slip 2)"
    assert all(not r.answer and r.question for r in truncated)
    assert len(answers) < BURST, "every query was answered past the rate"
    status, body = harness.http_get_json(mgmt)
    assert status == 200
    assert body["rrl"]["dropped"] >= 1 and body["rrl"]["slipped"] >= 1


def test_a_limited_client_is_answered_over_tcp(server):
    server, _ = server
    burst(server, "127.0.0.3", BURST)
    r = server.ask("www.x.test", "A", proto="tcp", source="127.0.0.3")
    assert texts(rrset(r.answer, "www.x.test.", "A")) == ["10.0.0.80"]
    assert not r.flags & dns.flags.TC


def test_another_prefix_is_not_limited_by_the_first(server):
    server, _ = server
    burst(server, "127.0.0.4", BURST)
    r = server.ask("www.x.test", "A", source="127.0.1.4")
    assert texts(rrset(r.answer, "www.x.test.", "A")) == ["10.0.0.80"]
    assert not r.flags & dns.flags.TC
