"""Bad input sent raw: the server answers FORMERR / NOTIMP / REFUSED where
RFC 1035 and RFC 8906 say so, stays silent only for what is not a query,
and never stops serving."""

import random
import socket
import struct

import dns.flags
import dns.message
import dns.rcode
import pytest

import harness
from harness import Header, build_header, build_query, encode_name, tcp_frame, tcp_read_message

CONFIG = {
    "server": harness.base_server(),
    "zones": {
        "x.test": {
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
        }
    },
    "records": [{"name": "www.x.test", "type": "A", "value": "10.0.0.80", "ttl": 300}],
    "rewrites": [],
}

SILENCE = 0.5  # seconds we wait to be sure no answer comes
QID = 0x4242
A_IN = struct.pack("!HH", 1, 1)


@pytest.fixture(scope="module")
def server(start_server):
    return start_server(CONFIG)


def assert_serves(server):
    """The server still answers a normal query correctly."""
    r = server.ask("www.x.test", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert [rd.to_text() for rd in r.answer[0]] == ["10.0.0.80"]


def assert_rcode(raw, rcode):
    h = Header(raw)
    assert h.id == QID
    assert h.has(dns.flags.QR)
    assert h.rcode == rcode, "rcode %d, want %d" % (h.rcode, rcode)
    assert h.ancount == 0


# Not a query: silence ------------------------------------------------------


@pytest.mark.parametrize("length", [0, 1, 5, 11])
def test_packet_shorter_than_a_header_gets_no_answer(server, length):
    packet = build_query("www.x.test", qid=QID)[:length]
    assert server.udp_raw(packet, timeout=SILENCE) is None
    assert_serves(server)


def test_response_packet_is_dropped(server):
    packet = build_query("www.x.test", qid=QID, flags=0x8100)  # QR=1
    assert server.udp_raw(packet, timeout=SILENCE) is None
    assert_serves(server)


# FORMERR ------------------------------------------------------------------------


def test_qdcount_zero_is_formerr(server):
    assert_rcode(server.udp_raw(build_header(QID, qd=0)), dns.rcode.FORMERR)


def test_qdcount_two_is_formerr(server):
    packet = build_header(QID, qd=2) + (encode_name("www.x.test") + A_IN) * 2
    assert_rcode(server.udp_raw(packet), dns.rcode.FORMERR)


def test_qdcount_one_without_question_is_formerr(server):
    assert_rcode(server.udp_raw(build_header(QID, qd=1)), dns.rcode.FORMERR)


def test_question_cut_short_is_formerr(server):
    packet = build_header(QID) + encode_name("www.x.test") + b"\x00"  # half a QTYPE
    assert_rcode(server.udp_raw(packet), dns.rcode.FORMERR)


def test_compression_loop_in_qname_is_formerr(server):
    packet = build_header(QID) + b"\xc0\x0c" + A_IN  # points at itself
    assert_rcode(server.udp_raw(packet), dns.rcode.FORMERR)


def test_forward_compression_pointer_is_formerr(server):
    # The pointer targets offset 14, the QTYPE's first octet (0x00 = root):
    # only the forward pointer itself is wrong with this packet.
    packet = build_header(QID) + b"\xc0\x0e" + A_IN
    assert_rcode(server.udp_raw(packet), dns.rcode.FORMERR)


def test_pointer_outside_the_packet_is_formerr(server):
    packet = build_header(QID) + b"\xc0\xff" + A_IN
    assert_rcode(server.udp_raw(packet), dns.rcode.FORMERR)


@pytest.mark.parametrize("first_octet", [0x40, 0x41, 0x80, 0xBF])
def test_reserved_label_type_is_formerr(server, first_octet):
    packet = build_header(QID) + bytes([first_octet]) + b"a" * 70 + b"\x00" + A_IN
    assert_rcode(server.udp_raw(packet), dns.rcode.FORMERR)


def test_name_longer_than_255_octets_is_formerr(server):
    name = (b"\x3f" + b"a" * 63) * 4 + b"\x00"  # 257 octets
    assert_rcode(server.udp_raw(build_header(QID) + name + A_IN), dns.rcode.FORMERR)


def test_trailing_garbage_after_question_is_formerr(server):
    packet = build_query("www.x.test", qid=QID) + b"\x00\x00junk"
    assert_rcode(server.udp_raw(packet), dns.rcode.FORMERR)


def test_two_opt_records_are_formerr(server):
    opt = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)
    packet = build_header(QID, ar=2) + encode_name("www.x.test") + A_IN + opt + opt
    assert_rcode(server.udp_raw(packet), dns.rcode.FORMERR)


def test_formerr_over_tcp_keeps_the_server_serving(server):
    with server.tcp_connect() as s:
        s.sendall(tcp_frame(build_header(QID, qd=0)))
        raw = tcp_read_message(s)
    assert_rcode(raw, dns.rcode.FORMERR)
    assert_serves(server)


def test_tcp_frame_shorter_than_a_header_does_not_hurt(server):
    with server.tcp_connect() as s:
        s.sendall(tcp_frame(b"\x12\x34\x01"))
        s.settimeout(SILENCE)
        try:
            s.recv(512)  # closed or silent: either is fine, nothing to answer
        except (OSError, TimeoutError):
            pass
    assert_serves(server)


# NOTIMP, REFUSED --------------------------------------------------------------


@pytest.mark.parametrize("opcode", [1, 2, 4, 5, 15])
def test_unknown_opcode_is_notimp(server, opcode):
    packet = build_query("www.x.test", qid=QID, flags=(opcode << 11) | 0x0100)
    raw = server.udp_raw(packet)
    assert_rcode(raw, dns.rcode.NOTIMP)


def test_chaos_class_is_refused(server):
    packet = build_query("version.bind", qtype=16, qclass=3, qid=QID)
    assert_rcode(server.udp_raw(packet), dns.rcode.REFUSED)


def test_chaos_class_in_our_zone_is_refused(server):
    packet = build_query("www.x.test", qtype=1, qclass=3, qid=QID)
    assert_rcode(server.udp_raw(packet), dns.rcode.REFUSED)


# Survival ---------------------------------------------------------------------


def test_random_packets_do_not_stop_the_server(server):
    rng = random.Random(20240101)
    valid = build_query("www.x.test", qid=QID)
    with socket.socket(server.family, socket.SOCK_DGRAM) as s:
        s.connect((server.host, server.port))
        for _ in range(500):
            kind = rng.randrange(3)
            if kind == 0:  # random bytes
                packet = bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
            else:  # a valid query with a few octets flipped, or cut short
                packet = bytearray(valid)
                for _ in range(rng.randrange(1, 4)):
                    packet[rng.randrange(2, len(packet))] = rng.randrange(256)
                if kind == 2:
                    packet = packet[: rng.randrange(len(packet) + 1)]
                packet = bytes(packet)
            s.send(packet)
    assert server.alive()
    assert_serves(server)


def test_server_is_alive_after_all_malformed_packets(server):
    assert server.alive(), server.stderr_text()
    # the same data plane as at the start: it never crashed and was not restarted
    assert server.dataplane_pids
    assert harness.child_pids(server.proc.pid) == server.dataplane_pids, server.stderr_text()
    assert_serves(server)
    r = server.ask("www.x.test", "A", proto="tcp")
    assert r.rcode() == dns.rcode.NOERROR
