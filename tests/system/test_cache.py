"""The forwarding cache (issue 4): answers from a fake upstream
(fakeupstream.py, which counts what reaches it) are kept, served with their
TTLs counted down, capped by cache_ttl, negative answers kept for the SOA
minimum (RFC 2308 §5), least recently used entries evicted at cache_size,
everything flushed on reload, nothing kept with cache_enabled false or
--no-cache, and the counters shown by /metrics.

Every name is used by one test only, so tests sharing a server do not see
each other's entries. The waits for TTLs to run down are measured elapsed
time (bounded polls), the only way to see a clock-driven behaviour."""

import math
import signal
import time

import dns.flags
import dns.message
import dns.rcode
import pytest

import harness
from fakeupstream import FakeUpstream
from harness import Header, rrset, texts

SOA = {
    "mname": "ns1.x.test",
    "rname": "hostmaster.x.test",
    "serial": 2024010101,
    "refresh": 3600,
    "retry": 900,
    "expire": 604800,
    "minimum": 300,
}
CAP = 2  # cache_ttl of the capped server, seconds
POLL = 0.1  # seconds between asks while waiting for an entry to expire


def config(upstream, records=(), **server):
    settings = dict(
        upstream=[upstream.address],
        upstream_timeout=1.0,
        cache_enabled=True,
        cache_ttl=3600,
        cache_size=1000,
    )
    settings.update(server)
    return {
        "server": harness.base_server(**settings),
        "zones": {"x.test": {"soa": dict(SOA), "ns": ["ns1.x.test"]}},
        "records": [{"name": "ns1.x.test", "type": "A", "value": "10.0.0.53", "ttl": 3600}]
        + list(records),
        "rewrites": [],
    }


@pytest.fixture(scope="module")
def up():
    with FakeUpstream() as fake:
        yield fake


@pytest.fixture(scope="module")
def mgmt_port():
    return harness.free_port()


@pytest.fixture(scope="module")
def cached(start_server, up, mgmt_port):
    return start_server(config(up, mgmt_port=mgmt_port))


@pytest.fixture(scope="module")
def capped(start_server, up):
    return start_server(config(up, cache_ttl=CAP))


def ttl_of(response, name, rdtype="A"):
    rs = rrset(response.answer, name, rdtype)
    assert rs is not None, response
    return rs.ttl


def wait_until(predicate, timeout, step=POLL):
    """Poll predicate (bounded); True once it holds, False at timeout."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


def ask_until_upstream_sees(server, fake, name, count, timeout, rdtype="A"):
    """Ask name every POLL until the fake has seen count queries for it; the
    seconds that took (None at timeout)."""
    t0 = time.monotonic()
    seen = wait_until(lambda: server.ask(name, rdtype) is not None and fake.count(name) >= count,
                      timeout)
    return time.monotonic() - t0 if seen else None


# -- hits ---------------------------------------------------------------------------


def test_a_second_ask_is_answered_from_the_cache(cached, up):
    up.add("hit.cache.example", "A", "192.0.2.1")
    first = cached.ask("hit.cache.example", "A")
    second = cached.ask("hit.cache.example", "A")
    assert texts(first.answer[0]) == texts(second.answer[0]) == ["192.0.2.1"]
    assert up.count("hit.cache.example") == 1


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_a_cache_hit_carries_the_clients_do_bit(cached, up, proto):
    # RFC 3225 §3; the fake answers with DO clear whatever it was asked
    name = "do-%s.cache.example" % proto
    up.add(name, "A", "192.0.2.9")
    for _ in range(2):
        r = cached.ask(name, "A", proto=proto, use_edns=0, want_dnssec=True)
        assert texts(r.answer[0]) == ["192.0.2.9"]
        assert r.ednsflags & dns.flags.DO
    assert up.count(name) == 1  # the second answer came from the cache


def test_a_cache_hit_keeps_the_client_id_and_question_case(cached, up):
    up.add("case.cache.example", "A", "192.0.2.2")
    cached.ask("case.cache.example", "A")
    q = dns.message.make_query("CaSe.CaChE.eXaMpLe", "A")
    q.id = 0xCAFE
    r = dns.message.from_wire(cached.udp_raw(q.to_wire()))
    assert r.id == 0xCAFE
    assert r.question[0].name.to_text() == "CaSe.CaChE.eXaMpLe."
    assert r.flags & dns.flags.RA and r.flags & dns.flags.QR
    assert texts(r.answer[0]) == ["192.0.2.2"]
    assert up.count("case.cache.example") == 1


def test_a_cache_hit_has_no_opt_for_a_client_that_sent_none(cached, up):
    up.add("opt.cache.example", "A", "192.0.2.3")
    assert cached.ask("opt.cache.example", "A", use_edns=0).edns == 0
    data = cached.udp_raw(dns.message.make_query("opt.cache.example", "A").to_wire())
    r = dns.message.from_wire(data)
    assert r.edns == -1 and Header(data).arcount == 0
    assert texts(r.answer[0]) == ["192.0.2.3"]
    assert up.count("opt.cache.example") == 1


def test_the_cache_is_shared_by_every_client(cached, up):
    up.add("shared.cache.example", "A", "192.0.2.4")
    cached.ask("shared.cache.example", "A", source="127.0.0.2")
    r = cached.ask("shared.cache.example", "A", proto="tcp", source="127.0.0.3")
    assert texts(r.answer[0]) == ["192.0.2.4"]
    assert up.count("shared.cache.example") == 1


def test_a_cached_answer_too_big_for_the_client_is_truncated(cached, up):
    big = ["\"%02d-%s\"" % (i, "c" * 40) for i in range(30)]
    up.add("big.cache.example", "TXT", big)
    r = cached.ask("big.cache.example", "TXT", proto="tcp")
    assert len(rrset(r.answer, "big.cache.example", "TXT")) == 30
    fetched = up.count("big.cache.example")  # over UDP (truncated), then TCP
    data = cached.udp_raw(dns.message.make_query("big.cache.example", "TXT").to_wire())
    assert Header(data).has(dns.flags.TC) and len(data) <= 512
    assert up.count("big.cache.example") == fetched, "not answered from the cache"


def test_servfail_is_not_cached(cached, up):
    up.behave("broken.cache.example", rcode="SERVFAIL")
    for n in (1, 2):
        assert cached.ask("broken.cache.example", "A").rcode() == dns.rcode.SERVFAIL
        assert up.count("broken.cache.example") >= n


# -- TTLs ---------------------------------------------------------------------------


def test_ttl_counts_down_in_cached_answers(cached, up):
    up.add("ttl.cache.example", "A", "192.0.2.5", ttl=300)
    first = ttl_of(cached.ask("ttl.cache.example", "A"), "ttl.cache.example")
    t0 = time.monotonic()
    time.sleep(2.0)  # the behaviour under test is the clock itself
    later = ttl_of(cached.ask("ttl.cache.example", "A"), "ttl.cache.example")
    elapsed = time.monotonic() - t0
    assert first <= 300
    assert later <= first - 1, "TTL %d, then %d after %.2f s" % (first, later, elapsed)
    assert later >= first - math.ceil(elapsed) - 1, "TTL %d, then %d after %.2f s" % (
        first, later, elapsed)
    assert up.count("ttl.cache.example") == 1


def test_cached_answers_say_no_more_than_cache_ttl(capped, up):
    up.add("capsay.cache.example", "A", "192.0.2.6", ttl=3600)
    capped.ask("capsay.cache.example", "A")
    r = capped.ask("capsay.cache.example", "A")
    assert ttl_of(r, "capsay.cache.example") <= CAP
    assert up.count("capsay.cache.example") == 1


def test_an_entry_expires_after_cache_ttl(capped, up):
    up.add("cap.cache.example", "A", "192.0.2.7", ttl=3600)
    capped.ask("cap.cache.example", "A")
    took = ask_until_upstream_sees(capped, up, "cap.cache.example", 2, timeout=CAP + 3)
    assert took is not None, "still cached %d s after a cache_ttl of %d" % (CAP + 3, CAP)
    assert took >= CAP - 1, "expired after %.2f s, before cache_ttl %d" % (took, CAP)


# -- negative answers (RFC 2308) ------------------------------------------------------


def test_nxdomain_is_cached(cached, up):
    up.behave("gone.neg.cache.example", rcode="NXDOMAIN", soa_minimum=3600)
    for _ in range(3):
        r = cached.ask("gone.neg.cache.example", "A")
        assert r.rcode() == dns.rcode.NXDOMAIN
        assert rrset(r.authority, "neg.cache.example", "SOA") is not None, r
    assert up.count("gone.neg.cache.example") == 1


def test_nodata_is_cached(cached, up):
    up.add("v4.neg.cache.example", "A", "192.0.2.8")
    up.behave("v4.neg.cache.example", soa_minimum=3600)
    for _ in range(3):
        r = cached.ask("v4.neg.cache.example", "AAAA")
        assert r.rcode() == dns.rcode.NOERROR and r.answer == []
        assert rrset(r.authority, "neg.cache.example", "SOA") is not None, r
    assert up.count("v4.neg.cache.example") == 1


def test_nxdomain_is_cached_for_the_soa_minimum(cached, up):
    up.behave("brief.neg.cache.example", rcode="NXDOMAIN", soa_minimum=1)
    cached.ask("brief.neg.cache.example", "A")
    cached.ask("brief.neg.cache.example", "A")
    assert up.count("brief.neg.cache.example") == 1, "not cached at all"
    took = ask_until_upstream_sees(cached, up, "brief.neg.cache.example", 2, timeout=4)
    assert took is not None, "an NXDOMAIN with SOA minimum 1 s still cached after 4 s"


def test_negative_answers_are_capped_at_cache_ttl(capped, up):
    up.behave("long.neg.cache.example", rcode="NXDOMAIN", soa_minimum=3600)
    capped.ask("long.neg.cache.example", "A")
    took = ask_until_upstream_sees(capped, up, "long.neg.cache.example", 2, timeout=CAP + 3)
    assert took is not None, "NXDOMAIN still cached %d s after a cache_ttl of %d" % (CAP + 3, CAP)
    assert took >= CAP - 1


# -- capacity ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small(start_server, up):
    """cache_size 2; (server, management port)."""
    port = harness.free_port()
    return start_server(config(up, cache_size=2, mgmt_port=port)), port


def test_the_least_recently_used_entry_is_evicted(small, up):
    small, _ = small
    for label in ("a", "b", "c"):
        up.add("%s.lru.cache.example" % label, "A", "192.0.2.9")
    small.ask("a.lru.cache.example", "A")
    small.ask("b.lru.cache.example", "A")
    small.ask("a.lru.cache.example", "A")  # a is now the most recently used
    small.ask("c.lru.cache.example", "A")  # full: b goes
    small.ask("a.lru.cache.example", "A")
    assert up.count("a.lru.cache.example") == 1, "a was evicted, not b"
    assert up.count("c.lru.cache.example") == 1
    small.ask("b.lru.cache.example", "A")
    assert up.count("b.lru.cache.example") == 2, "b was kept past cache_size 2"


# -- flush, off switches -------------------------------------------------------------------


def test_a_reload_flushes_the_cache(start_server, up):
    server = start_server(config(up))
    up.add("flush.cache.example", "A", "192.0.2.10")
    server.ask("flush.cache.example", "A")
    server.ask("flush.cache.example", "A")
    assert up.count("flush.cache.example") == 1
    new_record = {"name": "new.x.test", "type": "A", "value": "10.0.0.11", "ttl": 60}
    harness.write_config(server.tmpdir, config(up, records=[new_record]))
    server.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: server.ask("new.x.test", "A").answer != [], 5.0), (
        "the reloaded config is not served:\n" + server.stderr_text())
    server.ask("flush.cache.example", "A")
    assert up.count("flush.cache.example") == 2, "answered from the cache after a reload"


def test_with_cache_disabled_every_ask_is_forwarded(start_server, up):
    server = start_server(config(up, cache_enabled=False))
    up.add("off.cache.example", "A", "192.0.2.11")
    for _ in range(3):
        assert texts(server.ask("off.cache.example", "A").answer[0]) == ["192.0.2.11"]
    assert up.count("off.cache.example") == 3


def test_no_cache_option_forwards_every_ask(start_server, up):
    server = start_server(config(up, cache_enabled=True), extra_args=["--no-cache"])
    up.add("nocache.cache.example", "A", "192.0.2.12")
    for _ in range(3):
        server.ask("nocache.cache.example", "A")
    assert up.count("nocache.cache.example") == 3


# -- counters --------------------------------------------------------------------------------


def cache_metrics(port):
    status, metrics = harness.http_get_json(port)
    assert status == 200
    return metrics["cache"]


def test_cache_counters_are_in_metrics(cached, up, mgmt_port):
    before = cache_metrics(mgmt_port)
    for key in ("hits", "misses", "size", "evictions"):
        assert key in before, before
    up.add("counted.cache.example", "A", "192.0.2.13")
    cached.ask("counted.cache.example", "A")  # a miss
    cached.ask("counted.cache.example", "A")  # a hit
    cached.ask("counted.cache.example", "A")  # a hit
    now = {}

    def risen():
        now.update(cache_metrics(mgmt_port))
        return (now["hits"] >= before["hits"] + 2 and now["misses"] >= before["misses"] + 1
                and now["size"] >= 1)

    assert wait_until(risen, 3.0), (before, now)


def test_evictions_are_counted_and_size_stays_within_cache_size(small, up):
    server, port = small
    before = cache_metrics(port)
    for i in range(4):
        name = "e%d.evict.cache.example" % i
        up.add(name, "A", "192.0.2.14")
        server.ask(name, "A")
    now = {}

    def risen():
        now.update(cache_metrics(port))
        return now["evictions"] >= before["evictions"] + 2

    assert wait_until(risen, 3.0), (before, now)
    assert now["size"] <= 2
