"""The management API under slow and greedy clients (issue 12, finding 5):
a whole request (headers and body) must arrive within its deadline (5 s),
one source address holds at most 16 connections, and when all 64 slots are
taken the oldest idle connection makes room, so /health and /sync stay
answerable within a second. Slow clients are raw sockets bound to loopback
aliases (127.0.0.2 and up: all of 127.0.0.0/8 is loopback on Linux)."""

import json
import socket
import subprocess
import threading
import time

import pytest

import cluster
import harness
from test_api import make_config, start_node

DEADLINE_S = 5
PER_CLIENT = 16
SLOTS = 64
ANSWER_WITHIN_S = 1.0


@pytest.fixture(scope="module")
def node(start_server):
    return start_node(start_server)


def slow_socket(port, source):
    """A connection from source that has sent the start of a request."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.settimeout(2)
    s.connect(("127.0.0.1", port))
    s.sendall(b"G")
    return s


def closed_by_peer(s, timeout):
    """Whether the server closes s within timeout (reads what it sends)."""
    s.settimeout(timeout)
    try:
        while True:
            data = s.recv(4096)
            if data == b"":
                return True
    except (socket.timeout, TimeoutError):
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


class SlowLoris:
    """count connections from 127.0.0.2, 127.0.0.3, ...: each sends one
    header byte every interval and reconnects when the server closes it,
    until stopped."""

    def __init__(self, port, count, interval=0.5):
        self.port = port
        self.sources = ["127.0.0.%d" % (2 + i) for i in range(count)]
        self.interval = interval
        self.sockets = [slow_socket(port, source) for source in self.sources]
        self.reconnects = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        for _ in range(int(60 / self.interval)):  # bounded, far above any test
            if self.stopping.wait(self.interval):
                return
            for i, s in enumerate(self.sockets):
                try:
                    s.sendall(b"E")
                except OSError:
                    s.close()
                    try:
                        self.sockets[i] = slow_socket(self.port, self.sources[i])
                        self.reconnects += 1
                    except OSError:
                        pass

    def close(self):
        self.stopping.set()
        self.thread.join(timeout=5)
        for s in self.sockets:
            s.close()


def curl_path(port, path, *args):
    """(HTTP status, seconds it took) of one curl from 127.0.0.1."""
    started = time.monotonic()
    proc = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
         "--interface", "127.0.0.1"] + list(args) + ["http://127.0.0.1:%d%s" % (port, path)],
        capture_output=True, text=True, timeout=10)
    return proc.stdout, time.monotonic() - started


def trickle_until_cut(s, octet, started):
    """Send octet every half second (while the API has not closed s) until
    DEADLINE_S + 4 after started; whether the API cut the connection."""
    while time.monotonic() - started < DEADLINE_S + 4:
        try:
            s.sendall(octet)
        except OSError:
            return True
        if closed_by_peer(s, 0.5):
            return True
    return False


def test_64_slow_clients_never_keep_health_from_being_answered(node):
    server, api = node
    loris = SlowLoris(api.port, SLOTS)
    try:
        for _ in range(5):
            status, took = curl_path(api.port, "/health")
            assert status == "200" and took < ANSWER_WITHIN_S, (status, took)
    finally:
        loris.close()


def test_64_slow_clients_never_keep_a_signed_sync_from_being_answered(node, tmp_path):
    """A push signed (with python3-cryptography) by a key this node does
    not list: its 401 within the second shows the API is there for a
    peer's push; whether a push is applied is the sync tests' business."""
    server, api = node
    key = cluster.Key.generate()
    config = json.dumps(make_config(api.port, version=9)).encode()
    body = tmp_path / "push.json"
    body.write_bytes(cluster.signed_push(key, 9, config))
    loris = SlowLoris(api.port, SLOTS)
    try:
        for _ in range(3):
            status, took = curl_path(api.port, "/sync", "-X", "POST",
                                     "-H", "Content-Type: application/json",
                                     "--data-binary", "@%s" % body)
            assert status == "401" and took < ANSWER_WITHIN_S, (status, took)
    finally:
        loris.close()


def test_a_slow_client_is_cut_at_the_request_deadline(node):
    """A byte every half second never lets evhttp's timeout between bytes
    fire; the whole-request deadline does."""
    server, api = node
    s = slow_socket(api.port, "127.0.0.2")
    started = time.monotonic()
    try:
        cut = trickle_until_cut(s, b"E", started)
        took = time.monotonic() - started
        assert cut, "still connected after %.1f s" % took
        assert DEADLINE_S - 0.5 <= took <= DEADLINE_S + 2, took
    finally:
        s.close()
    assert api.request("GET", "/health", timeout=2.0)[0] == 200


def test_a_slow_body_is_cut_at_the_request_deadline(node):
    server, api = node
    s = socket.create_connection(("127.0.0.1", api.port), timeout=2)
    started = time.monotonic()
    try:
        s.sendall(b"POST /sync HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        cut = trickle_until_cut(s, b"{", started)
        took = time.monotonic() - started
        assert cut, "still connected after %.1f s" % took
        assert took <= DEADLINE_S + 2, took
    finally:
        s.close()


def test_one_address_holds_at_most_16_connections(node):
    """The 17th connection from one address closes that address's oldest
    idle one; another address's connections are left alone."""
    server, api = node
    other = slow_socket(api.port, "127.0.0.3")
    mine = [slow_socket(api.port, "127.0.0.4") for _ in range(PER_CLIENT)]
    try:
        assert not closed_by_peer(mine[0], 0.3)
        newest = slow_socket(api.port, "127.0.0.4")
        mine.append(newest)
        assert closed_by_peer(mine[0], 2.0)
        assert not closed_by_peer(mine[1], 0.2)
        assert not closed_by_peer(newest, 0.2)
        assert not closed_by_peer(other, 0.2)
    finally:
        other.close()
        for s in mine:
            s.close()


def test_when_every_slot_is_taken_the_oldest_idle_connection_makes_room(node):
    server, api = node
    idle = [slow_socket(api.port, "127.0.0.%d" % (10 + i // PER_CLIENT))
            for i in range(SLOTS)]
    try:
        assert not closed_by_peer(idle[0], 0.3)
        status, took = curl_path(api.port, "/health")
        assert status == "200" and took < ANSWER_WITHIN_S, (status, took)
        assert closed_by_peer(idle[0], 2.0)
        assert not closed_by_peer(idle[-1], 0.2)
    finally:
        for s in idle:
            s.close()
