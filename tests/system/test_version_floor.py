"""The version floor (issue 12, "Versions"): the highest config version a node
accepted, and the SHA-256 of that config, are kept in STATE/version and
enforced after a restart whatever the config file says, even when
STATE/config.json (the last config in force) is gone.

One node with a key, listing a second member whose key the test holds and
signs pushes with (python3-cryptography, cluster.py). It starts at version
6; then STATE/config.json is removed and the file put back at version 1
(a fresh volume under an old read-only ConfigMap, say) and the node
restarted: it must say version 6, refuse signed pushes of versions 5 and 6
(another config of 6), give the next edit version 7, and take a push of 8.
A floor file that is damaged stops the start, naming the file."""

import hashlib
import http.client
import json
import os
import re
import signal
import time

import pytest

import harness
from api_client import NodeKey, make_config
from cluster import Key, signed_push

HTTP_TIMEOUT = 10.0
FLOOR_LINE = re.compile(r"^nanodns-version 1 (\d+) ([0-9a-f]{64})\n$")
FORGED = "10.66.6.6"


def request(port, method, path, body=None, headers=None):
    """(status, parsed JSON answer) from the node's API on 127.0.0.1."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        res = conn.getresponse()
        return res.status, json.loads(res.read())
    finally:
        conn.close()


def health_version(node):
    status, body = request(node.mgmt_port, "GET", "/health")
    assert status == 200, body
    return body["version"]


def floor_file(node):
    """(version, hash hex) from STATE/version."""
    with open(os.path.join(node.server.state_dir, "version")) as f:
        text = f.read()
    match = FLOOR_LINE.match(text)
    assert match, "STATE/version is not one good line: %r" % text
    return int(match.group(1)), match.group(2)


class Node:
    """A keyed node in its own 0755 directory; the test's key is a listed member."""

    def __init__(self, root):
        self.root = root
        self.mgmt_port = harness.free_port()
        self.node_key = NodeKey()
        self.peer = Key.generate()  # the member whose pushes the test makes
        key_path = os.path.join(str(root), "node.key")
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(self.node_key.file_bytes())
        self.peers = [
            {"address": "127.0.0.1:%d" % self.mgmt_port, "public_key": self.node_key.public_text},
            # Nothing listens there: this node's pulls fail, which is all right.
            {"address": "127.0.0.1:%d" % harness.free_port(), "public_key": self.peer.public_text},
        ]
        self.server = harness.Server(root, self.config(6, "10.0.0.86"))

    def config(self, version, address):
        return make_config(
            self.mgmt_port,
            peers=self.peers,
            version=version,
            sync_key="node.key",
            records=[{"name": "www.x.test", "type": "A", "value": address, "ttl": 300}],
        )

    def config_bytes(self, version, address):
        return json.dumps(self.config(version, address), indent=2).encode()

    def write_file(self, version, address):
        harness.write_config(self.root, self.config(version, address))

    def file_bytes(self):
        with open(self.server.config_path, "rb") as f:
            return f.read()

    def start(self, wait_ready=True):
        # The same Server again: its log starts over with this run.
        self.server.lines = []
        self.server._eof = False
        self.server.start(wait_ready=wait_ready)

    def stop(self):
        assert self.server.stop() == 0, self.server.stderr_text()

    def push(self, version, config):
        return request(self.mgmt_port, "POST", "/sync", body=signed_push(self.peer, version, config))

    def address(self):
        answer = self.server.ask("www.x.test")
        return sorted(rr.address for rrset in answer.answer for rr in rrset)


@pytest.fixture
def node(public_tmp):
    n = Node(public_tmp)
    yield n
    if n.server.proc is not None and n.server.proc.returncode is None:
        rc = n.server.stop()
        assert rc == 0, n.server.stderr_text()
    n.server.kill()
    report = harness.sanitizer_report(n.server.stderr_text())
    assert not report, report


def restart_below_the_floor(node):
    """Started at version 6, then restarted on a file at version 1 with
    STATE/config.json gone: the floor file is all that remembers 6."""
    node.start()
    assert health_version(node) == 6
    node.written_at_6 = node.file_bytes()
    node.stop()
    os.unlink(os.path.join(node.server.state_dir, "config.json"))
    node.write_file(1, "10.0.0.81")
    node.start()


def test_a_restart_below_the_floor_without_the_saved_config_keeps_the_version(node):
    restart_below_the_floor(node)
    assert health_version(node) == 6, node.server.stderr_text()
    # Kept in STATE/version: the version and the hash of the config accepted at it.
    assert floor_file(node) == (6, hashlib.sha256(node.written_at_6).hexdigest())
    # The file is the only config at hand: served, and said loudly.
    assert node.address() == ["10.0.0.81"]
    log = node.server.stderr_text()
    assert re.search(r"nanodns\.json is at version 1, below version 6 last accepted", log), log


def test_a_push_below_the_floor_is_refused_after_the_restart(node):
    restart_below_the_floor(node)
    status, body = node.push(5, node.config_bytes(5, FORGED))
    assert status == 409 and body["status"] == "rejected_stale", (status, body)
    assert body["version"] == 6
    assert node.address() == ["10.0.0.81"]
    assert health_version(node) == 6


def test_another_config_of_the_floors_version_is_refused_as_a_fork(node):
    restart_below_the_floor(node)
    status, body = node.push(6, node.config_bytes(6, FORGED))
    assert status == 409 and body["status"] == "rejected_conflict", (status, body)
    assert node.address() == ["10.0.0.81"]
    assert health_version(node) == 6


def test_the_next_edit_below_the_floor_goes_past_it_and_a_newer_push_is_taken(node):
    restart_below_the_floor(node)
    node.write_file(1, "10.0.0.82")
    node.server.proc.send_signal(signal.SIGHUP)  # a reload, as POST /reload makes it
    assert node.server.wait_for_line("reloaded: version", 10), node.server.stderr_text()
    assert health_version(node) == 7
    assert b'"config_version": 7' in node.file_bytes()
    assert floor_file(node)[0] == 7
    # The floor is recorded before a push is answered.
    status, body = node.push(8, node.config_bytes(8, "10.0.0.88"))
    assert status == 200 and body["status"] == "applied", (status, body)
    assert floor_file(node)[0] == 8
    deadline = time.monotonic() + 2.0
    while node.address() != ["10.0.0.88"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert node.address() == ["10.0.0.88"]


def test_a_damaged_floor_file_stops_the_start_and_names_the_file(node):
    node.start()
    node.stop()
    path = os.path.join(node.server.state_dir, "version")
    with open(path, "w") as f:
        f.write("nanodns-version 1 six\n")
    node.start(wait_ready=False)
    assert node.server.wait_exit(20) == 1, node.server.stderr_text()
    log = node.server.stderr_text()
    assert path in log and "not starting without it" in log, log
    # Removed by the operator, it is written again at the next start.
    os.unlink(path)
    node.start()
    assert health_version(node) == 6
    assert floor_file(node)[0] == 6
