"""File descriptors (issue 12, finding 8): the data plane raises its soft
RLIMIT_NOFILE to the hard limit, sizes forwarding and the TCP connection cap
under it and keeps a reserve, so a flood of forwarded names to a silent
upstream never keeps our own data from being answered, over UDP or TCP.

The server runs under a low limit set for `nanodns start` (inherited by the
data plane); queries come from dnspython and raw sockets."""

import resource
import shutil
import socket

import dns.message
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
FLOOD = 300  # unique forwarded names: several times what the limit holds


def config(fake):
    return {
        "server": harness.base_server(
            upstream=[fake.address], upstream_timeout=5.0, cache_enabled=False
        ),
        "zones": {"x.test": {"soa": dict(SOA), "ns": ["ns1.x.test"]}},
        "records": [
            {"name": "ns1.x.test", "type": "A", "value": "10.0.0.53"},
            {"name": "www.x.test", "type": "A", "value": "10.0.0.80"},
        ],
    }


def limited_server(config, soft, hard):
    """A started harness.Server whose processes run with RLIMIT_NOFILE
    (soft, hard); (server, its directory)."""
    root = harness.public_tmpdir()

    def lower_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    server = harness.Server(root, config)
    server.popen_options = {"preexec_fn": lower_limit}
    try:
        server.start()
    except Exception:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return server, root


def stop(server, root):
    rc = server.stop()
    server.kill()
    shutil.rmtree(root, ignore_errors=True)
    return rc


@pytest.fixture
def silent():
    with FakeUpstream() as fake:
        fake.behave("*.flood.example", drop=True)
        yield fake


def open_files_limit(pid):
    """(soft, hard) "Max open files" of a process."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                fields = line.split()
                return int(fields[3]), int(fields[4])
    raise AssertionError("no Max open files line for pid %d" % pid)


def flood(server, count):
    """count unique names, sent over UDP at once; the answers are left unread."""
    s = socket.socket(server.family, socket.SOCK_DGRAM)
    s.connect((server.host, server.port))
    for i in range(count):
        s.send(dns.message.make_query("n%d.flood.example" % i, "A").to_wire())
    return s


def assert_our_data_answered(server):
    over_tcp = server.ask("www.x.test", "A", proto="tcp", timeout=2.0)
    assert texts(rrset(over_tcp.answer, "www.x.test.", "A")) == ["10.0.0.80"]
    over_udp = server.ask("www.x.test", "A", timeout=2.0)
    assert texts(rrset(over_udp.answer, "www.x.test.", "A")) == ["10.0.0.80"]


def test_the_soft_limit_is_raised_to_the_hard_one(silent):
    server, root = limited_server(config(silent), 48, 200)
    try:
        (pid,) = server.dataplane_pids
        assert open_files_limit(pid) == (200, 200)
        assert "descriptor limit raised from 48 to 200" in server.stderr_text()
    finally:
        assert stop(server, root) == 0


def test_a_flood_to_a_silent_upstream_leaves_our_data_answered(silent):
    server, root = limited_server(config(silent), 64, 64)
    try:
        sock = flood(server, FLOOD)
        try:
            # The first forwards got through before the flood ended.
            assert silent.wait_queries(None, 5, timeout=5.0)
            assert_our_data_answered(server)
            # Past the budget the rest got SERVFAIL at once, not silence.
            sock.settimeout(2.0)
            first = dns.message.from_wire(sock.recv(65535))
            assert first.rcode() == dns.rcode.SERVFAIL
        finally:
            sock.close()
        assert silent.count() < 64, "more upstream queries in flight than descriptors"
        assert "Too many open files" not in server.stderr_text()
    finally:
        assert stop(server, root) == 0


def test_a_tcp_client_is_answered_while_forwards_hold_every_upstream_socket(silent):
    server, root = limited_server(config(silent), 64, 64)
    try:
        socks = [flood(server, FLOOD) for _ in range(2)]
        try:
            for attempt in range(5):
                q = dns.message.make_query("www.x.test", "A")
                data = server.tcp_raw(q.to_wire(), timeout=2.0)
                assert data is not None, "TCP query %d unanswered" % attempt
                r = dns.message.from_wire(data)
                assert texts(rrset(r.answer, "www.x.test.", "A")) == ["10.0.0.80"]
        finally:
            for s in socks:
                s.close()
    finally:
        assert stop(server, root) == 0
