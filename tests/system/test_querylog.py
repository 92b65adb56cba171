"""The query log (issue 4): with log_queries true the data plane writes one
line per query with the time, client address, qname, qtype, rcode, how it
was answered (local, cache, upstream, blocked, refused) and the latency, as
text or, with log_format "json", as JSON Lines. The lines are buffered, so
the tests wait (bounded) for them to appear on the server's stderr.

Each server is asked the same five kinds of question once, in a module
fixture: a local record, a blocked name, a forwarded name (twice: upstream,
then cache), and a forwarded name from a client that may not recurse."""

import json
import re
import time

import dns.rcode
import pytest

import harness
from fakeupstream import FakeUpstream

ALLOWED = "127.0.0.2"
OTHER = "127.0.0.3"
LOG_WAIT = 5.0  # seconds for buffered lines to reach stderr

SOA = {
    "mname": "ns1.x.test",
    "rname": "hostmaster.x.test",
    "serial": 2024010101,
    "refresh": 3600,
    "retry": 900,
    "expire": 604800,
    "minimum": 300,
}

SOURCES = ("local", "cache", "upstream", "blocked", "refused")


def config(upstream, **server):
    settings = dict(
        upstream=[upstream.address],
        upstream_timeout=1.0,
        cache_enabled=True,
        allow_recursion=[ALLOWED + "/32"],
        log_queries=True,
    )
    settings.update(server)
    return {
        "server": harness.base_server(**settings),
        "zones": {"x.test": {"soa": dict(SOA), "ns": ["ns1.x.test"]}},
        "records": [
            {"name": "ns1.x.test", "type": "A", "value": "10.0.0.53", "ttl": 3600},
            {"name": "local-text.x.test", "type": "A", "value": "10.0.0.1", "ttl": 300},
            {"name": "local-json.x.test", "type": "A", "value": "10.0.0.1", "ttl": 300},
        ],
        "rewrites": [
            {"match": "blocked-text.example.com", "action": "nxdomain"},
            {"match": "blocked-json.example.com", "action": "nxdomain"},
        ],
    }


@pytest.fixture(scope="module")
def up():
    with FakeUpstream() as fake:
        yield fake


class Logged:
    """A server that was asked one question of each kind; names[kind] is
    the qname used for it, expected[kind] = (client, rcode text, source)."""

    def __init__(self, server, tag):
        self.server = server
        self.names = {
            "local": "local-%s.x.test" % tag,
            "blocked": "blocked-%s.example.com" % tag,
            "forwarded": "fwd-%s.example.org" % tag,
            "refused": "refused-%s.example.org" % tag,
        }

    def ask_all(self, up):
        n = self.names
        up.add(n["forwarded"], "A", "192.0.2.1")
        up.add(n["refused"], "A", "192.0.2.2")
        s = self.server
        assert s.ask(n["local"], "A", source=ALLOWED).rcode() == dns.rcode.NOERROR
        assert s.ask(n["blocked"], "A", source=ALLOWED).rcode() == dns.rcode.NXDOMAIN
        assert s.ask(n["forwarded"], "A", source=ALLOWED).rcode() == dns.rcode.NOERROR
        assert s.ask(n["forwarded"], "A", source=ALLOWED).rcode() == dns.rcode.NOERROR
        assert up.count(n["forwarded"]) == 1, "the second ask was not a cache hit"
        assert s.ask(n["refused"], "A", source=OTHER).rcode() == dns.rcode.REFUSED
        return self

    def lines_for(self, name):
        """stderr lines that mention name (as qname: any case, dot or not)."""
        pattern = re.compile(r"(?<![\w.-])%s\.?(?![\w-])" % re.escape(name), re.IGNORECASE)
        return [line.rstrip("\n") for line in self.server.stderr_text().splitlines()
                if pattern.search(line)]

    def wait_lines(self, name, count):
        deadline = time.monotonic() + LOG_WAIT
        while True:
            lines = self.lines_for(name)
            if len(lines) >= count or time.monotonic() >= deadline:
                return lines
            time.sleep(0.05)  # polling a pipe reader's buffer: no event to wait on


@pytest.fixture(scope="module")
def text_log(start_server, up):
    return Logged(start_server(config(up)), "text").ask_all(up)


@pytest.fixture(scope="module")
def json_log(start_server, up):
    return Logged(start_server(config(up, log_format="json")), "json").ask_all(up)


# kind -> [(client, rcode, source) for each expected line; in order for
# one worker, in any order across workers (see matched)]
EXPECTED = {
    "local": [(ALLOWED, "NOERROR", "local")],
    "blocked": [(ALLOWED, "NXDOMAIN", "blocked")],
    "forwarded": [(ALLOWED, "NOERROR", "upstream"), (ALLOWED, "NOERROR", "cache")],
    "refused": [(OTHER, "REFUSED", "refused")],
}

def matched(lines, want):
    """lines in want's order, by the source each names. Each worker buffers
    its own log lines (README, Workers): two queries answered by two
    workers, the second from the cache the first filled, may be written in
    either order."""
    rest, ordered = list(lines), []
    for _, _, source in want:
        pattern = re.compile(r"\b%s\b" % source, re.IGNORECASE)
        found = next((line for line in rest if pattern.search(line)), None)
        if found is None:
            return list(lines)  # the assertions below say what is missing
        rest.remove(found)
        ordered.append(found)
    return ordered


TIME_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}|\b\d{10}(\.\d+)?\b")
LATENCY_TEXT = re.compile(r"\d+(\.\d+)?\s*(us|µs|ms|s)\b|latency", re.IGNORECASE)


# -- text -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_text_log_has_one_line_per_query_with_every_field(text_log, kind):
    name = text_log.names[kind]
    want = EXPECTED[kind]
    lines = text_log.wait_lines(name, len(want))
    assert len(lines) == len(want), "want %d line(s) for %s, got:\n%s" % (
        len(want), name, "\n".join(lines) or text_log.server.stderr_text())
    for line, (client, rcode, source) in zip(matched(lines, want), want):
        assert re.search(r"(?<![\d.])%s(?![\d])" % re.escape(client), line), (client, line)
        assert re.search(r"\bA\b", line), ("qtype", line)
        assert re.search(r"\b%s\b" % rcode, line), (rcode, line)
        assert re.search(r"\b%s\b" % source, line, re.IGNORECASE), (source, line)
        assert TIME_TEXT.search(line), ("time", line)
        assert LATENCY_TEXT.search(line), ("latency", line)


# -- JSON Lines -------------------------------------------------------------------------


def field(entry, *keys):
    for key in keys:
        if key in entry:
            return entry[key]
    raise AssertionError("none of %r in %r" % (keys, entry))


def latency_of(entry):
    values = [v for k, v in entry.items() if k.lower().startswith("latency")]
    assert values, "no latency key in %r" % entry
    return values[0]


def same_client(value, client):
    value = str(value)
    return value == client or value.startswith(client + ":") or value.startswith(client + "#")


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_json_log_lines_parse_with_every_field(json_log, kind):
    name = json_log.names[kind]
    want = EXPECTED[kind]
    lines = json_log.wait_lines(name, len(want))
    assert len(lines) == len(want), "want %d line(s) for %s, got:\n%s" % (
        len(want), name, "\n".join(lines) or json_log.server.stderr_text())
    for line, (client, rcode, source) in zip(matched(lines, want), want):
        try:
            entry = json.loads(line)
        except ValueError:
            pytest.fail("not a JSON line: %r" % line)
        assert isinstance(entry, dict), line
        assert same_client(field(entry, "client"), client), entry
        assert str(field(entry, "qname")).rstrip(".").lower() == name, entry
        assert field(entry, "qtype") in ("A", 1), entry
        assert field(entry, "rcode") in (rcode, dns.rcode.from_text(rcode)), entry
        assert str(field(entry, "source")).lower() == source, entry
        field(entry, "time", "ts", "timestamp")
        latency = latency_of(entry)
        assert isinstance(latency, (int, float)) and latency >= 0, entry


def test_upstream_latency_is_longer_than_a_cache_hit_would_need(json_log, up):
    """The latency is measured, not a constant: a 200 ms upstream shows."""
    name = "slow-json.example.org"
    up.add(name, "A", "192.0.2.3")
    up.behave(name, delay_ms=200)
    json_log.server.ask(name, "A", source=ALLOWED)
    (line,) = json_log.wait_lines(name, 1)
    entry = json.loads(line)
    key = [k for k in entry if k.lower().startswith("latency")][0]
    scale = {"latency_us": 1e-6, "latency_ms": 1e-3, "latency_s": 1.0, "latency": None}.get(key)
    seconds = entry[key] * scale if scale else None
    if seconds is None:
        pytest.skip("latency unit unknown for key %r" % key)
    assert 0.15 <= seconds < 2.0, entry


# -- off --------------------------------------------------------------------------------


def test_no_query_lines_without_log_queries(start_server, up):
    server = start_server(config(up, log_queries=False))
    up.add("quiet.example.org", "A", "192.0.2.4")
    server.ask("quiet.example.org", "A", source=ALLOWED)
    server.ask("local-text.x.test", "A", source=ALLOWED)
    assert server.stop() == 0  # a buffered log would be flushed by now
    assert not harness.sanitizer_report(server.stderr_text())
    lines = [line for line in server.stderr_text().splitlines()
             if "quiet.example.org" in line.lower() or "local-text.x.test" in line.lower()]
    assert lines == []
