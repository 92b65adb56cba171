"""Forwarding (issue 4): names outside our data go to fake upstreams that
the tests start on loopback (fakeupstream.py) and that record every query.

Covered: order and failover, SERVFAIL within the timeout budget when every
upstream fails, retry over TCP on truncation, spoofed answers ignored
(RFC 5452), coalescing of identical questions, faithful passing of the
upstream's answer, blocked names and our own names never sent upstream,
conditional forwarding, max_inflight, the upstream address forms, and
REFUSED with no upstream. The cache is off here (test_cache.py has it), so
every ask that is forwarded reaches a fake.

Tests that look at which upstream got a query use a fresh server: a
forwarder remembers failing upstreams, so earlier tests must not steer it."""

import time

import dns.flags
import dns.message
import dns.rcode
import pytest

import harness
from fakeupstream import SPOOF_ADDRESS, FakeUpstream
from harness import Header, rrset, texts

TIMEOUT = 0.3  # upstream_timeout, seconds per server
MARGIN = 0.7  # scheduling slack on a loaded test machine
CLIENT_TIMEOUT = 3.0

SOA = {
    "mname": "ns1.x.test",
    "rname": "hostmaster.x.test",
    "serial": 2024010101,
    "refresh": 3600,
    "retry": 900,
    "expire": 604800,
    "minimum": 300,
}


def config(upstreams, **server):
    """Our zone x.test, a record outside every zone, two block rules; the
    upstreams given (FakeUpstream objects or address strings)."""
    settings = dict(
        upstream=[u if isinstance(u, str) else u.address for u in upstreams],
        upstream_timeout=TIMEOUT,
        cache_enabled=False,
    )
    settings.update(server)
    return {
        "server": harness.base_server(**settings),
        "zones": {"x.test": {"soa": dict(SOA), "ns": ["ns1.x.test"]}},
        "records": [
            {"name": "ns1.x.test", "type": "A", "value": "10.0.0.53", "ttl": 3600},
            {"name": "www.x.test", "type": "A", "value": "10.0.0.80", "ttl": 300},
            {"name": "printer.lan", "type": "A", "value": "10.0.0.9", "ttl": 300},
        ],
        "rewrites": [
            {"match": "blocked.example.com", "action": "nxdomain"},
            {"match": "*.ads.example", "action": "nxdomain"},
        ],
    }


@pytest.fixture(scope="module")
def fakes():
    """Two upstreams, in the order the config lists them."""
    with FakeUpstream() as one, FakeUpstream() as two:
        yield one, two


@pytest.fixture(scope="module")
def forwarder(start_server, fakes):
    """The server the tests that do not care which upstream answers share."""
    return start_server(config(fakes))


@pytest.fixture
def fresh(start_server, fakes):
    """fresh(**server_settings): a new server forwarding to the two fakes."""
    return lambda **server: start_server(config(fakes, **server))


def add_everywhere(fakes, name, rdtype, values, ttl=300):
    for fake in fakes:
        fake.add(name, rdtype, values, ttl)


def behave_everywhere(fakes, name, **behaviour):
    for fake in fakes:
        fake.behave(name, **behaviour)


def total(fakes, name):
    return sum(fake.count(name) for fake in fakes)


def addresses(response, name, rdtype="A"):
    return texts(rrset(response.answer, name, rdtype))


def timed_ask(server, name, rdtype="A", **kwargs):
    t0 = time.monotonic()
    r = server.ask(name, rdtype, timeout=CLIENT_TIMEOUT, **kwargs)
    return r, time.monotonic() - t0


def assert_not_forwarded(server, fakes, names):
    """None of names reached a fake: checked after a forwarded sentinel
    question came through, so anything sent before it would be recorded."""
    sentinel = "sentinel-%d.fwd.example" % time.monotonic_ns()
    add_everywhere(fakes, sentinel, "A", ["192.0.2.99"])
    assert server.ask(sentinel, "A").rcode() == dns.rcode.NOERROR
    assert any(fake.wait_queries(sentinel, 1, timeout=0) for fake in fakes)
    for name in names:
        assert total(fakes, name) == 0, "%s was sent upstream: %r" % (
            name, [fake.received(name) for fake in fakes])


# -- order and failover -------------------------------------------------------------


def test_the_first_upstream_is_asked_first(fresh, fakes):
    server = fresh()
    one, two = fakes
    one.add("order.fwd.example", "A", "192.0.2.1")
    two.add("order.fwd.example", "A", "192.0.2.2")
    r = server.ask("order.fwd.example", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert addresses(r, "order.fwd.example") == ["192.0.2.1"]
    assert one.count("order.fwd.example") == 1
    assert two.count("order.fwd.example") == 0


def test_when_the_first_upstream_drops_the_second_answers(fresh, fakes):
    server = fresh()
    one, two = fakes
    one.behave("failover.fwd.example", drop=True)
    two.add("failover.fwd.example", "A", "192.0.2.2")
    r, took = timed_ask(server, "failover.fwd.example")
    assert r.rcode() == dns.rcode.NOERROR
    assert addresses(r, "failover.fwd.example") == ["192.0.2.2"]
    (first,) = one.received("failover.fwd.example")
    (second,) = two.received("failover.fwd.example")
    assert first.time < second.time, "the second upstream was asked before the first"
    # The second is asked after the first's timeout, not at once.
    assert second.time - first.time >= TIMEOUT * 0.8, second.time - first.time
    assert took < TIMEOUT + MARGIN


def test_when_every_upstream_drops_the_client_gets_servfail_within_the_budget(fresh, fakes):
    server = fresh()
    behave_everywhere(fakes, "silent.fwd.example", drop=True)
    r, took = timed_ask(server, "silent.fwd.example")
    assert r.rcode() == dns.rcode.SERVFAIL
    one, two = fakes
    assert one.count("silent.fwd.example") >= 1 and two.count("silent.fwd.example") >= 1
    assert one.received("silent.fwd.example")[0].time < two.received("silent.fwd.example")[0].time
    assert took >= TIMEOUT * 0.9, "SERVFAIL after %.3f s, before any timeout ran out" % took
    assert took <= 2 * TIMEOUT + MARGIN, "SERVFAIL after %.3f s, past the budget" % took


def test_a_failing_first_upstream_is_tried_less_often(fresh, fakes):
    server = fresh()
    one, two = fakes
    one.behave("*.sick.fwd.example", drop=True)
    names = ["n%d.sick.fwd.example" % i for i in range(10)]
    for name in names:
        two.add(name, "A", "192.0.2.2")
    t0 = time.monotonic()
    for name in names:
        r = server.ask(name, "A", timeout=CLIENT_TIMEOUT)
        assert r.rcode() == dns.rcode.NOERROR, name
    took = time.monotonic() - t0
    asked_first = sum(one.count(name) for name in names)
    assert asked_first < len(names), "the dropping upstream got all %d queries" % len(names)
    assert took < len(names) * TIMEOUT, "%.2f s: every query waited for the timeout" % took


def test_upstreams_that_all_failed_are_still_tried(fresh, fakes):
    server = fresh()
    behave_everywhere(fakes, "*.outage.fwd.example", drop=True)
    for i in range(4):
        r = server.ask("n%d.outage.fwd.example" % i, "A", timeout=CLIENT_TIMEOUT)
        assert r.rcode() == dns.rcode.SERVFAIL
    # They are back: the next question is forwarded and answered.
    add_everywhere(fakes, "recovered.fwd.example", "A", ["192.0.2.7"])
    r = server.ask("recovered.fwd.example", "A", timeout=CLIENT_TIMEOUT)
    assert r.rcode() == dns.rcode.NOERROR
    assert addresses(r, "recovered.fwd.example") == ["192.0.2.7"]


# -- truncation -----------------------------------------------------------------------

# About 850 octets: more than 512, less than the server's EDNS size (1232).
BIG = ["\"%02d-%s\"" % (i, "t" * 40) for i in range(15)]


@pytest.fixture(scope="module")
def truncating(fakes):
    """big.fwd.example TXT: the BIG records, TC=1 over UDP from both fakes."""
    add_everywhere(fakes, "big.fwd.example", "TXT", BIG)
    behave_everywhere(fakes, "big.fwd.example", truncate=True)
    return "big.fwd.example"


def test_a_truncated_upstream_answer_is_retried_over_tcp(fresh, fakes, truncating):
    server = fresh()
    one, two = fakes
    r = server.ask(truncating, "TXT", proto="tcp", timeout=CLIENT_TIMEOUT)
    assert r.rcode() == dns.rcode.NOERROR
    assert not r.flags & dns.flags.TC
    assert len(rrset(r.answer, truncating, "TXT")) == len(BIG)
    got = one.received(truncating)
    assert [q.transport for q in got] == ["udp", "tcp"], got
    assert two.count(truncating) == 0, "the TCP retry went to another server"


def test_a_truncated_upstream_answer_is_tc_for_a_small_udp_client(forwarder, truncating):
    for kwargs in ({}, {"use_edns": 0, "payload": 512}):
        data = forwarder.udp_raw(dns.message.make_query(truncating, "TXT", **kwargs).to_wire(),
                                 timeout=CLIENT_TIMEOUT)
        h = Header(data)
        assert h.rcode == dns.rcode.NOERROR
        assert h.has(dns.flags.TC), "no TC=1 for a %r client" % (kwargs or "no EDNS")
        assert len(data) <= 512


def test_a_truncated_upstream_answer_fits_a_large_udp_client(forwarder, truncating):
    r = forwarder.ask(truncating, "TXT", use_edns=0, payload=4096, timeout=CLIENT_TIMEOUT)
    assert not r.flags & dns.flags.TC
    assert len(rrset(r.answer, truncating, "TXT")) == len(BIG)


# -- spoofed answers (RFC 5452) ---------------------------------------------------------


@pytest.mark.parametrize("spoof", ["wrong_id", "wrong_question", "wrong_port"])
def test_a_spoofed_answer_is_ignored_and_the_right_one_taken(forwarder, fakes, spoof):
    name = "%s.spoof.fwd.example" % spoof.replace("_", "-")
    add_everywhere(fakes, name, "A", ["192.0.2.33"])
    behave_everywhere(fakes, name, **{spoof: True})
    r = forwarder.ask(name, "A", timeout=CLIENT_TIMEOUT)
    assert r.rcode() == dns.rcode.NOERROR
    assert addresses(r, name) == ["192.0.2.33"], "took the spoofed answer (%s)" % SPOOF_ADDRESS


def test_only_spoofed_answers_give_servfail_after_the_timeout(fresh, fakes):
    server = fresh()
    name = "only.spoof.fwd.example"
    add_everywhere(fakes, name, "A", ["192.0.2.33"])
    behave_everywhere(fakes, name, wrong_id=True, wrong_question=True, then_right=False)
    r, took = timed_ask(server, name)
    assert r.rcode() == dns.rcode.SERVFAIL
    assert SPOOF_ADDRESS not in str(r)
    assert took >= TIMEOUT * 0.9, "SERVFAIL after %.3f s: did not wait for the right answer" % took
    assert took <= 2 * TIMEOUT + MARGIN


def test_upstream_query_ids_and_source_ports_vary(forwarder, fakes):
    names = ["r%d.random.fwd.example" % i for i in range(20)]
    for name in names:
        add_everywhere(fakes, name, "A", ["192.0.2.44"])
        assert forwarder.ask(name, "A").rcode() == dns.rcode.NOERROR
    got = [q for fake in fakes for name in names for q in fake.received(name)]
    ids = [q.id for q in got]
    ports = [q.port for q in got]
    assert len(set(ids)) >= 19, "query IDs repeat: %r" % ids
    steps = {(b - a) & 0xFFFF for a, b in zip(ids, ids[1:])}
    assert len(steps) > 2, "query IDs follow a sequence: %r" % ids
    assert len(set(ports)) >= 10, "source ports are not randomised: %r" % ports


def test_upstream_queries_ask_for_recursion(forwarder, fakes):
    add_everywhere(fakes, "rd.fwd.example", "A", ["192.0.2.45"])
    forwarder.ask("rd.fwd.example", "A")
    (q,) = [q for fake in fakes for q in fake.received("rd.fwd.example")]
    assert q.flags & dns.flags.RD


# -- coalescing -------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_identical_questions_in_flight_are_sent_upstream_once_per_worker(fresh, fakes, workers):
    # The upstream takes 300 ms: well within this server's timeout. Each
    # worker forwards on its own (README, Workers): the burst's clients,
    # each on a port of its own, may reach every worker.
    forwarder = fresh(upstream_timeout=1.0, workers=workers)
    name = "herd%d.fwd.example" % workers
    add_everywhere(fakes, name, "A", ["192.0.2.50"])
    behave_everywhere(fakes, name, delay_ms=300)
    queries = []
    for i in range(50):
        q = dns.message.make_query(name, "A")
        q.id = 1000 + i
        queries.append(q)
    answers = forwarder.udp_burst([q.to_wire() for q in queries], timeout=CLIENT_TIMEOUT)
    for q, (data, _) in zip(queries, answers):
        assert data is not None, "client %d got no answer" % q.id
        r = dns.message.from_wire(data)
        assert r.id == q.id
        assert r.rcode() == dns.rcode.NOERROR
        assert addresses(r, name) == ["192.0.2.50"]
    assert 1 <= total(fakes, name) <= workers, [fake.received(name) for fake in fakes]


# -- the upstream's answer, passed on faithfully ---------------------------------------


@pytest.mark.parametrize("rcode", ["SERVFAIL", "NXDOMAIN", "REFUSED"])
def test_the_upstream_rcode_is_passed_on(forwarder, fakes, rcode):
    name = "%s.rcode.fwd.example" % rcode.lower()
    behave_everywhere(fakes, name, rcode=rcode)
    r = forwarder.ask(name, "A", timeout=CLIENT_TIMEOUT)
    assert r.rcode() == dns.rcode.from_text(rcode)


def test_an_upstream_nxdomain_keeps_its_soa(forwarder, fakes):
    behave_everywhere(fakes, "gone.nx.fwd.example", rcode="NXDOMAIN", soa_minimum=42)
    r = forwarder.ask("gone.nx.fwd.example", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN
    soa = rrset(r.authority, "nx.fwd.example", "SOA")
    assert soa is not None, r
    assert list(soa)[0].minimum == 42


def test_an_upstream_nodata_keeps_its_soa(forwarder, fakes):
    add_everywhere(fakes, "v4only.fwd.example", "A", ["192.0.2.46"])
    r = forwarder.ask("v4only.fwd.example", "AAAA")
    assert r.rcode() == dns.rcode.NOERROR
    assert r.answer == []
    assert rrset(r.authority, "fwd.example", "SOA") is not None


def test_the_answer_keeps_the_client_id_and_question_case(forwarder, fakes):
    add_everywhere(fakes, "mixed.fwd.example", "A", ["192.0.2.47"])
    q = dns.message.make_query("MiXeD.FwD.ExAmPlE", "A")
    q.id = 0xBEEF
    data = forwarder.udp_raw(q.to_wire())
    r = dns.message.from_wire(data)
    assert r.id == 0xBEEF
    assert r.question[0].name.to_text() == "MiXeD.FwD.ExAmPlE."
    assert texts(r.answer[0]) == ["192.0.2.47"]


def test_forwarded_answers_have_ra_and_echo_rd(forwarder, fakes):
    add_everywhere(fakes, "ra.fwd.example", "A", ["192.0.2.48"])
    r = forwarder.ask("ra.fwd.example", "A")
    assert r.flags & dns.flags.RA
    assert r.flags & dns.flags.RD
    assert r.flags & dns.flags.QR


def test_no_opt_in_the_answer_when_the_client_sent_none(forwarder, fakes):
    add_everywhere(fakes, "noedns.fwd.example", "A", ["192.0.2.49"])
    data = forwarder.udp_raw(dns.message.make_query("noedns.fwd.example", "A").to_wire())
    r = dns.message.from_wire(data)
    assert r.rcode() == dns.rcode.NOERROR
    assert r.edns == -1, "an OPT record in the answer to a query without one"
    assert Header(data).arcount == 0


def test_opt_in_the_answer_when_the_client_sent_one(forwarder, fakes):
    add_everywhere(fakes, "edns.fwd.example", "A", ["192.0.2.51"])
    r = forwarder.ask("edns.fwd.example", "A", use_edns=0, payload=1232)
    assert r.edns == 0
    assert addresses(r, "edns.fwd.example") == ["192.0.2.51"]


@pytest.mark.parametrize("proto", ["udp", "tcp"])
@pytest.mark.parametrize("dnssec_ok", [True, False])
def test_the_clients_do_bit_is_copied_into_the_forwarded_answer(forwarder, fakes, proto,
                                                               dnssec_ok):
    # RFC 3225 §3. The fake answers with DO clear whatever it was asked
    # (dnspython's make_response), so DO=1 back comes from the client's query.
    name = "do-%s-%d.fwd.example" % (proto, dnssec_ok)
    add_everywhere(fakes, name, "A", ["192.0.2.53"])
    r = forwarder.ask(name, "A", proto=proto, use_edns=0, want_dnssec=dnssec_ok)
    assert addresses(r, name) == ["192.0.2.53"]
    assert r.edns == 0
    assert bool(r.ednsflags & dns.flags.DO) == dnssec_ok
    upstream = [q for fake in fakes for q in fake.received(name)]
    assert upstream and all(bool(dns.message.from_wire(q.wire).ednsflags & dns.flags.DO)
                            == dnssec_ok for q in upstream)


@pytest.mark.parametrize("dnssec_ok", [True, False])
def test_kdig_dnssec_gets_do_back_on_a_forwarded_nxdomain(forwarder, fakes, dnssec_ok):
    name = "nx-do-%d.fwd.example" % dnssec_ok
    for proto in ("udp", "tcp"):
        rc, out, err = harness.kdig(
            "@" + forwarder.host, "-p", str(forwarder.port),
            "+tcp" if proto == "tcp" else "+notcp", "+dnssec" if dnssec_ok else "+edns",
            "+timeout=2", "+retry=0", name, "A",
        )
        assert rc == 0, err
        assert "status: NXDOMAIN" in out, out
        assert "(%s)" % proto.upper() in out, out
        assert (";; Version: 0; flags: do;" in out) == dnssec_ok, out


def test_a_tcp_client_gets_the_forwarded_answer(forwarder, fakes):
    add_everywhere(fakes, "tcp.fwd.example", "A", ["192.0.2.52"])
    r = forwarder.ask("tcp.fwd.example", "A", proto="tcp")
    assert addresses(r, "tcp.fwd.example") == ["192.0.2.52"]


# -- what is never forwarded ---------------------------------------------------------------


def test_blocked_names_are_never_sent_upstream(forwarder, fakes):
    for name in ("blocked.example.com", "tracker.ads.example"):
        add_everywhere(fakes, name, "A", ["192.0.2.66"])
        r = forwarder.ask(name, "A")
        assert r.rcode() == dns.rcode.NXDOMAIN, name
        assert r.answer == []
    assert_not_forwarded(forwarder, fakes, ["blocked.example.com", "tracker.ads.example"])


def test_names_in_our_zones_are_never_forwarded(forwarder, fakes):
    add_everywhere(fakes, "nothere.x.test", "A", ["192.0.2.67"])
    r = forwarder.ask("nothere.x.test", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert r.flags & dns.flags.AA
    assert rrset(r.authority, "x.test", "SOA") is not None
    r = forwarder.ask("www.x.test", "AAAA")  # NODATA: the name is ours
    assert r.rcode() == dns.rcode.NOERROR and r.answer == []
    assert rrset(r.authority, "x.test", "SOA") is not None
    assert_not_forwarded(forwarder, fakes, ["nothere.x.test", "www.x.test"])


def test_local_records_are_answered_without_forwarding(forwarder, fakes):
    add_everywhere(fakes, "printer.lan", "A", ["192.0.2.68"])
    r = forwarder.ask("printer.lan", "A")
    assert addresses(r, "printer.lan") == ["10.0.0.9"]
    r = forwarder.ask("www.x.test", "A")
    assert addresses(r, "www.x.test") == ["10.0.0.80"]
    assert_not_forwarded(forwarder, fakes, ["printer.lan", "www.x.test"])


# -- conditional forwarding ------------------------------------------------------------------


@pytest.fixture(scope="module")
def corp(start_server, fakes):
    """corp.example → its own upstream, lab.corp.example → another one;
    everything else → the two default fakes. (server, corp fake, lab fake)"""
    with FakeUpstream() as corp_fake, FakeUpstream() as lab_fake:
        server = start_server(config(fakes, forward_zones={
            "corp.example": [corp_fake.address],
            "lab.corp.example": [lab_fake.address],
        }))
        yield server, corp_fake, lab_fake


def test_names_under_a_forward_zone_go_to_its_servers_only(corp, fakes):
    server, corp_fake, lab_fake = corp
    corp_fake.add("host.corp.example", "A", "10.3.0.1")
    add_everywhere(fakes, "host.corp.example", "A", ["192.0.2.3"])
    r = server.ask("host.corp.example", "A")
    assert addresses(r, "host.corp.example") == ["10.3.0.1"]
    assert corp_fake.count("host.corp.example") == 1
    assert total(fakes, "host.corp.example") == 0
    assert lab_fake.count("host.corp.example") == 0


def test_the_forward_zone_name_itself_goes_to_its_servers(corp, fakes):
    server, corp_fake, _ = corp
    corp_fake.add("corp.example", "A", "10.3.0.2")
    r = server.ask("corp.example", "A")
    assert addresses(r, "corp.example") == ["10.3.0.2"]
    assert total(fakes, "corp.example") == 0


def test_the_longest_forward_zone_wins(corp, fakes):
    server, corp_fake, lab_fake = corp
    lab_fake.add("a.lab.corp.example", "A", "10.4.0.1")
    corp_fake.add("a.lab.corp.example", "A", "10.3.0.9")
    r = server.ask("a.lab.corp.example", "A")
    assert addresses(r, "a.lab.corp.example") == ["10.4.0.1"]
    assert corp_fake.count("a.lab.corp.example") == 0


def test_other_names_go_to_the_default_upstreams(corp, fakes):
    server, corp_fake, lab_fake = corp
    add_everywhere(fakes, "www.elsewhere.example", "A", ["192.0.2.4"])
    r = server.ask("www.elsewhere.example", "A")
    assert addresses(r, "www.elsewhere.example") == ["192.0.2.4"]
    assert corp_fake.count("www.elsewhere.example") == 0
    assert lab_fake.count("www.elsewhere.example") == 0


def test_a_name_that_only_ends_like_a_forward_zone_is_not_in_it(corp, fakes):
    server, corp_fake, _ = corp
    add_everywhere(fakes, "notcorp.example", "A", ["192.0.2.5"])
    corp_fake.add("notcorp.example", "A", "10.3.0.5")
    r = server.ask("notcorp.example", "A")
    assert addresses(r, "notcorp.example") == ["192.0.2.5"]
    assert corp_fake.count("notcorp.example") == 0


# -- max_inflight -------------------------------------------------------------------------------

SLOW_MS = 400


@pytest.fixture(scope="module")
def capped(start_server):
    """max_inflight 2 and an upstream that takes SLOW_MS for *.slow names;
    (server, fake, management port)."""
    with FakeUpstream() as slow:
        slow.behave("*.slow.fwd.example", delay_ms=SLOW_MS)
        mgmt = harness.free_port()
        server = start_server(
            config([slow], max_inflight=2, upstream_timeout=2.0, mgmt_port=mgmt)
        )
        yield server, slow, mgmt


def burst_of_distinct_names(server, fake, prefix, count):
    names = ["%s%d.slow.fwd.example" % (prefix, i) for i in range(count)]
    for name in names:
        fake.add(name, "A", "192.0.2.60")
    wires = [dns.message.make_query(name, "A").to_wire() for name in names]
    return names, server.udp_burst(wires, timeout=CLIENT_TIMEOUT)


def test_past_max_inflight_clients_get_servfail_at_once(capped):
    server, slow, _ = capped
    names, answers = burst_of_distinct_names(server, slow, "burst", 10)
    rcodes = []
    for name, (data, took) in zip(names, answers):
        assert data is not None, "no answer for %s" % name
        r = dns.message.from_wire(data)
        rcodes.append(r.rcode())
        if r.rcode() == dns.rcode.SERVFAIL:
            assert took < SLOW_MS / 1000.0, "SERVFAIL after %.3f s, not at once" % took
    answered = rcodes.count(dns.rcode.NOERROR)
    assert 1 <= answered <= 2, "answered %d of 10 with max_inflight 2" % answered
    assert rcodes.count(dns.rcode.SERVFAIL) == 10 - answered
    assert sum(slow.count(name) for name in names) <= 2


def test_after_a_burst_capacity_comes_back(capped):
    server, slow, _ = capped
    burst_of_distinct_names(server, slow, "before", 6)
    slow.add("after.fast.fwd.example", "A", "192.0.2.61")
    r = server.ask("after.fast.fwd.example", "A", timeout=CLIENT_TIMEOUT)
    assert r.rcode() == dns.rcode.NOERROR


def numeric_leaves(document, path=()):
    if isinstance(document, dict):
        for key, value in document.items():
            yield from numeric_leaves(value, path + (str(key),))
    elif isinstance(document, (int, float)) and not isinstance(document, bool):
        yield "/".join(path), document


def test_max_inflight_overflows_are_counted_in_metrics(capped):
    server, slow, mgmt = capped
    burst_of_distinct_names(server, slow, "counted", 8)
    status, metrics = harness.http_get_json(mgmt)
    assert status == 200
    counters = {p: v for p, v in numeric_leaves(metrics)
                if "inflight" in p.lower() or "overflow" in p.lower()}
    if not counters:
        pytest.skip("/metrics shows no inflight/overflow counter")
    assert any(v > 0 for v in counters.values()), counters


# -- no upstream, and the forms of an upstream address ------------------------------------------


def test_with_no_upstream_names_outside_our_data_are_refused(start_server):
    server = start_server(config([]))
    r = server.ask("www.example.org", "A")
    assert r.rcode() == dns.rcode.REFUSED
    assert addresses(server.ask("www.x.test", "A"), "www.x.test") == ["10.0.0.80"]


def test_an_ipv6_upstream_with_a_port(start_server):
    with FakeUpstream("::1") as six:
        six.add("six.fwd.example", "A", "192.0.2.6")
        server = start_server(config([six]))
        assert six.address.startswith("[::1]:")
        r = server.ask("six.fwd.example", "A")
        assert addresses(r, "six.fwd.example") == ["192.0.2.6"]
        assert six.count("six.fwd.example") == 1


def test_an_upstream_without_a_port_uses_upstream_port(start_server):
    with FakeUpstream() as fake:
        fake.add("port.fwd.example", "A", "192.0.2.7")
        server = start_server(config(["127.0.0.1"], upstream_port=fake.port))
        r = server.ask("port.fwd.example", "A")
        assert addresses(r, "port.fwd.example") == ["192.0.2.7"]
