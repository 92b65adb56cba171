"""Signed cluster sync (issue 5) on three real nodes: 127.0.0.11, .12 and
.13, each a `nanodns start` with its own key, its own copy of one config
(every member listed with its public key) and its own state directory, set
up by compose/nanodns-cluster-init as the compose cluster is.

- A reload on one node is answered by the other two within a second; each
  node lists the other two in /cluster, and signs its /config/raw.
- A push signed by a member is applied (and not pushed on); one with a bad
  signature, an unknown signer, a tampered body, or an older version is
  refused with the right status and changes nothing.
- A node that was down catches up by itself within 40 s of its start.
- A node whose file is corrupt at start serves its last good config and
  catches up from the peers listed in it.
- Concurrent reloads of different content on two nodes converge on one
  config everywhere.

The tests share one cluster (a start and the 10 s initial pull are the
costly part) and run in this order; each starts by waiting until the three
nodes agree, and every node is running again after each test."""

import base64
import json
import os
import re
import shutil
import subprocess
import threading
import time

import pytest

import harness
from cluster import (
    NANOCTL,
    Cluster,
    Key,
    push_body,
    sha256_hex,
    signed_push,
    verify_config,
    with_address,
)

PUSH_LIMIT = 1.0  # a reload on one node is answered by the others this soon
SWITCH_LIMIT = 1.0  # an applied config is answered this soon (the data plane's switch)
CATCH_UP_LIMIT = 40.0  # a node that was away serves the latest config this soon
CATCH_UP_WAIT = 45.0  # how long the tests look before they give up

TEMPLATE = """{
  "server": {
    "upstream": [],
    "hot_reload": false,
    "log_queries": false,
    "mgmt_host": "127.0.0.1",
    "mgmt_port": @MGMT_PORT@,
    "sync_key": "node.key",
    "peers": "@PEERS@",
    "config_version": 1
  },
  "zones": {
    "c.test": {
      "soa": {"mname": "ns1.c.test", "rname": "hostmaster.c.test", "serial": 1000},
      "ns": ["ns1.c.test"]
    }
  },
  "records": [
    {"name": "ns1.c.test", "type": "A", "value": "10.0.0.53"},
    {"name": "propagated.c.test", "type": "A", "value": "10.1.0.1"},
    {"name": "guarded.c.test", "type": "A", "value": "10.2.0.1"},
    {"name": "missed.c.test", "type": "A", "value": "10.3.0.1"},
    {"name": "contested.c.test", "type": "A", "value": "10.4.0.1"},
    {"name": "recovered.c.test", "type": "A", "value": "10.5.0.1"}
  ]
}
"""

SERIAL = 1000  # c.test's SOA serial in TEMPLATE
FORGED = "10.66.6.6"  # what a refused push would have made guarded.c.test


@pytest.fixture(scope="module")
def cluster():
    root = harness.public_tmpdir("nanodns-cluster-")
    nodes = None
    try:
        nodes = Cluster(root, TEMPLATE)
        yield nodes.start()
    finally:
        problems = nodes.close() if nodes is not None else []
        shutil.rmtree(root, ignore_errors=True)
    assert not problems, "\n".join(problems)


@pytest.fixture(autouse=True)
def every_node_running_after(cluster):
    """A test that stops a node and fails leaves the others a full cluster."""
    yield
    for node in cluster.nodes:
        if not node.alive():
            node.start()


def dns_version(node):
    """The config version the data plane answers from: the zone's SOA serial
    is the configured serial plus config_version."""
    answer = node.ask("c.test", "SOA")
    soa = harness.rrset(answer.answer, "c.test", "SOA")
    assert soa is not None, "%s: no SOA for c.test" % node.name
    return soa[0].serial - SERIAL


def converged(cluster, timeout=CATCH_UP_WAIT):
    """(version, hash) the three nodes agree on (they must, before a test),
    once every data plane answers from that version."""
    state = cluster.wait_converged(timeout)
    assert state is not None, "the nodes do not agree: %r" % cluster.served()
    for node in cluster.nodes:
        deadline = time.monotonic() + SWITCH_LIMIT
        while dns_version(node) != state[0] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert dns_version(node) == state[0], "%s: data plane at version %d, control plane %d" % (
            node.name,
            dns_version(node),
            state[0],
        )
    return state


def reload_pushed(origin, applied_by, unreachable=()):
    """POST /reload on origin; the answer must say it pushed to every other
    member: applied by the nodes in applied_by, unreachable for the others.
    Returns the new version."""
    status, body = origin.reload()
    assert status == 200 and body["status"] == "reloaded", (status, body)
    peers = body["peers"]
    expected = {node.address for node in applied_by} | {node.address for node in unreachable}
    assert set(peers) == expected, "pushed to %s, want every member but itself" % sorted(peers)
    for node in applied_by:
        assert peers[node.address]["status"] == "applied", (node.name, body)
        assert peers[node.address]["version"] == body["version"], (node.name, body)
    for node in unreachable:
        assert peers[node.address]["status"] == "unreachable", (node.name, body)
    return body["version"]


def wait_serving(node, state, name, value, timeout, since):
    """Seconds from since until node serves the config state ((version,
    hash)) and answers name with value; None if not within timeout."""
    while True:
        if node.served() == state and node.addresses(name) == [value]:
            return time.monotonic() - since
        if time.monotonic() - since > timeout:
            return None
        time.sleep(0.1)


# -- a reload reaches every member --------------------------------------------------


def test_a_reload_on_one_node_is_answered_by_the_others_within_a_second(cluster):
    node1, node2, node3 = cluster.nodes
    version, _ = converged(cluster)
    node1.set_address("propagated.c.test", "10.1.0.2")

    t0 = time.monotonic()
    assert reload_pushed(node1, applied_by=(node2, node3)) == version + 1
    for peer in (node2, node3):
        elapsed = peer.wait_addresses("propagated.c.test", "10.1.0.2", PUSH_LIMIT, since=t0)
        assert elapsed is not None, "%s still answers %s %.1f s after the reload on node1" % (
            peer.name,
            peer.addresses("propagated.c.test"),
            time.monotonic() - t0,
        )
    assert len(set(cluster.served())) == 1, cluster.served()


def since(node, mark, text):
    """stderr lines of node after line number mark that contain text."""
    with node._cond:
        return [line for line in node.lines[mark:] if text in line]


def test_a_reload_that_finds_nothing_new_pushes_nothing(cluster):
    node1, node2, node3 = cluster.nodes
    # node2 logs every API request it gets (debug), /sync included.
    node2.stop()
    node2.args += ["--log-level", "DEBUG"]
    try:
        node2.start()
        version, digest = converged(cluster)
        serials = [harness.kdig_serial(n.host, n.port, "c.test") for n in cluster.nodes]
        file_before = node1.file_bytes()
        marks = [len(n.lines) for n in cluster.nodes]

        status, body = node1.reload()
        assert (status, body) == (200, {"status": "unchanged", "version": version, "records": 6})
        assert cluster.served() == [(version, digest)] * 3
        assert [harness.kdig_serial(n.host, n.port, "c.test") for n in cluster.nodes] == serials
        assert node1.file_bytes() == file_before

        # A real edit after it: pushed, and the only push node2 ever got.
        node1.set_address("propagated.c.test", "10.1.0.3")
        assert reload_pushed(node1, applied_by=(node2, node3)) == version + 1
        assert len(since(node1, marks[0], "sync: pushing version")) == 1, node1.stderr_text()
        assert len(since(node2, marks[1], "api: POST /sync")) == 1, node2.stderr_text()
        for node in (node2, node3):
            assert node.wait_addresses("propagated.c.test", "10.1.0.3", SWITCH_LIMIT) is not None
            assert harness.kdig_serial(node.host, node.port, "c.test") == SERIAL + version + 1
    finally:
        node2.stop()
        node2.args = node2.args[:-2]
        node2.start()


def test_every_node_shows_the_others_as_trusted_reachable_and_agreeing(cluster):
    converged(cluster)
    for node in cluster.nodes:
        status, body = node.json("GET", "/cluster")
        assert status == 200, body
        assert body["self"]["address"] == node.address, body["self"]
        others = {other.address for other in cluster.nodes if other is not node}
        assert set(body["peers"]) == others, "its own entry is self, not a peer: %r" % body
        for address in others:
            peer = body["peers"][address]
            assert peer["reachable"] is True, (node.name, address, peer)
            assert peer["trusted"] is True, (node.name, address, peer)
            assert peer["agrees"] is True, (node.name, address, peer)
    proc = subprocess.run(
        [NANOCTL, "-s", cluster.nodes[0].address, "cluster"],
        capture_output=True,
        text=True,
        timeout=20,
        env=dict(os.environ, NANOCTL_SOCKET="/nonexistent/nanoctl-tests/control.sock"),
    )
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)


def test_config_raw_is_signed_by_the_node_that_serves_it(cluster):
    converged(cluster)
    for node in cluster.nodes:
        config, headers = node.config_raw()
        version = int(headers["x-nanodns-version"])
        assert headers["x-nanodns-signer"] == node.public_key
        assert headers["x-nanodns-hash"] == sha256_hex(config)
        assert (version, headers["x-nanodns-hash"]) == node.served()
        signature = base64.b64decode(headers["x-nanodns-signature"])
        assert verify_config(base64.b64decode(node.public_key), version, config, signature), (
            "%s: /config/raw signature does not verify" % node.name
        )


# -- what a node accepts by POST /sync ------------------------------------------------


def next_config(node, name, value):
    """(version, bytes): node's config with the A record of name set to value
    and config_version one ahead, as a member's reload would push it."""
    config, headers = node.config_raw()
    version = int(headers["x-nanodns-version"]) + 1
    config = with_address(config, name, value)
    edited, count = re.subn(rb'"config_version": \d+', b'"config_version": %d' % version, config)
    assert count == 1, "no config_version in the config"
    return version, edited


def snapshot(node):
    """What a refused push must leave alone: the config served, the DNS
    answer that the forged configs change, and the file."""
    return node.served(), node.addresses("guarded.c.test"), node.file_bytes()


def logged_from(node, source, mark, timeout=2.0):
    """Whether a stderr line after line number mark names source."""
    deadline = time.monotonic() + timeout
    while True:
        with node._cond:
            if any(source in line for line in node.lines[mark:]):
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def test_a_push_signed_by_a_member_is_applied(cluster):
    node1, node2, node3 = cluster.nodes
    converged(cluster)
    version, config = next_config(node1, "guarded.c.test", "10.2.0.2")
    # Each node gets the same config, signed by another member.
    for target, signer in ((node2, node1), (node3, node1), (node1, node2)):
        status, body = target.push(signed_push(signer.key(), version, config))
        assert status == 200, (target.name, status, body)
        assert body["status"] == "applied" and body["version"] == version, (target.name, body)
        assert target.served() == (version, sha256_hex(config)), target.name
        assert target.file_bytes() == config, "%s did not write the config it applied" % target.name
        # The data plane switches to the new image on its own events.
        assert target.wait_addresses("guarded.c.test", "10.2.0.2", SWITCH_LIMIT) is not None, (
            "%s answers %r" % (target.name, target.addresses("guarded.c.test"))
        )


def test_a_pushed_config_is_not_pushed_on(cluster):
    node1, node2, node3 = cluster.nodes
    before, _ = converged(cluster)
    version, config = next_config(node1, "guarded.c.test", "10.2.0.3")
    cluster.wait_no_pull_due(PUSH_LIMIT + 1.0)  # a pull would bring it legitimately
    status, body = node2.push(signed_push(node1.key(), version, config))
    assert (status, body["status"]) == (200, "applied"), body
    time.sleep(PUSH_LIMIT)  # a push on would have landed by now
    assert node1.served()[0] == before and node3.served()[0] == before, (
        "node2 passed a received config on: %r" % cluster.served()
    )
    # Leave the cluster agreeing, without waiting for a pull.
    for target in (node1, node3):
        status, body = target.push(signed_push(node2.key(), version, config))
        assert (status, body["status"]) == (200, "applied"), (target.name, body)


def test_a_push_with_a_bad_signature_is_refused_and_changes_nothing(cluster):
    node1, node2, _ = cluster.nodes
    converged(cluster)
    version, config = next_config(node1, "guarded.c.test", FORGED)
    key = node1.key()
    signature = bytearray(key.sign_config(version, config))
    signature[10] ^= 0x01
    before = snapshot(node2)
    mark = len(node2.lines)

    status, body = node2.push(
        push_body(version, config, key.public, bytes(signature)), source="127.0.0.91"
    )
    assert status == 401 and body["status"] == "unauthorized", (status, body)
    assert snapshot(node2) == before
    assert logged_from(node2, "127.0.0.91", mark), "the refusal was not logged with the client"


def test_a_push_signed_by_an_unknown_key_is_refused_and_changes_nothing(cluster):
    node1, node2, _ = cluster.nodes
    converged(cluster)
    version, config = next_config(node1, "guarded.c.test", FORGED)
    before = snapshot(node2)
    mark = len(node2.lines)

    status, body = node2.push(signed_push(Key.generate(), version, config), source="127.0.0.92")
    assert status == 401 and body["status"] == "unauthorized", (status, body)
    assert snapshot(node2) == before
    assert logged_from(node2, "127.0.0.92", mark), "the refusal was not logged with the client"


@pytest.mark.parametrize(
    "tampering", ["config changed, hash recomputed", "config changed, hash as signed", "version changed"]
)
def test_a_push_tampered_with_after_signing_is_refused_and_changes_nothing(cluster, tampering):
    node1, node2, _ = cluster.nodes
    converged(cluster)
    version, config = next_config(node1, "guarded.c.test", "10.2.0.9")
    key = node1.key()
    signature = key.sign_config(version, config)
    tampered = with_address(config, "guarded.c.test", FORGED)
    if tampering == "config changed, hash recomputed":
        body = push_body(version, tampered, key.public, signature)
    elif tampering == "config changed, hash as signed":
        body = push_body(version, tampered, key.public, signature, hash_hex=sha256_hex(config))
    else:
        body = push_body(version + 1, config, key.public, signature)
    before = snapshot(node2)

    status, answer = node2.push(body)
    assert status == 401 and answer["status"] == "unauthorized", (status, answer)
    assert snapshot(node2) == before


def test_a_push_replayed_at_an_older_version_is_refused_as_stale(cluster):
    node1, node2, node3 = cluster.nodes
    converged(cluster)
    # A genuine envelope: what node1 signed for the config it serves now.
    old_config, headers = node1.config_raw()
    old = push_body(
        int(headers["x-nanodns-version"]),
        old_config,
        base64.b64decode(headers["x-nanodns-signer"]),
        base64.b64decode(headers["x-nanodns-signature"]),
    )
    node1.set_address("guarded.c.test", "10.2.0.4")
    version = reload_pushed(node1, applied_by=(node2, node3))
    assert node2.wait_addresses("guarded.c.test", "10.2.0.4", SWITCH_LIMIT) is not None
    before = snapshot(node2)

    status, body = node2.push(old)
    assert status == 409, (status, body)
    assert body == {"status": "rejected_stale", "version": version}
    assert snapshot(node2) == before
    assert before[1] == ["10.2.0.4"], "node2 does not answer what it applied before the replay"


def test_a_push_of_the_config_in_force_is_already_current(cluster):
    node1, node2, _ = cluster.nodes
    version, _ = converged(cluster)
    config, headers = node1.config_raw()
    body = push_body(
        version,
        config,
        base64.b64decode(headers["x-nanodns-signer"]),
        base64.b64decode(headers["x-nanodns-signature"]),
    )
    before = snapshot(node2)

    status, answer = node2.push(body)
    assert (status, answer) == (200, {"status": "already_current", "version": version})
    assert snapshot(node2) == before


# -- trust stays local (README "Cluster sync") -------------------------------------

NODE_LOCAL = ("peers", "sync_key", "user", "host", "port", "mgmt_host", "mgmt_port",
              "allow_recursion", "allow_query", "log_level", "log_queries", "log_format",
              "hot_reload")


def server_settings(node):
    return json.loads(node.file_bytes())["server"]


def node_local(settings):
    return {key: settings.get(key) for key in NODE_LOCAL}


def health_within(node, limit):
    """Whether node's /health answers within limit seconds."""
    t0 = time.monotonic()
    status, _, _ = node.request("GET", "/health", timeout=limit)
    return status == 200 and time.monotonic() - t0 <= limit


def test_a_members_push_changes_what_names_answer_never_who_is_trusted(cluster, tmp_path):
    node1, node2, node3 = cluster.nodes
    converged(cluster)
    before = {node.name: node_local(server_settings(node)) for node in cluster.nodes}
    fifo = str(tmp_path / "fifo.key")
    os.mkfifo(fifo, 0o600)
    version, config = next_config(node1, "guarded.c.test", "10.2.0.7")
    doc = json.loads(config)
    server = doc["server"]
    # What peer node2's key took in finding 1: node1's key out of peers,
    # its own key file somewhere that hangs, an open resolver, another API.
    server["peers"] = [{"address": node2.address, "public_key": node2.public_key}]
    server["sync_key"] = fifo
    server["allow_recursion"] = ["0.0.0.0/0"]
    server["allow_query"] = ["0.0.0.0/0"]
    server["mgmt_port"] = 1
    server["log_level"] = "debug"
    server["user"] = "root"
    server["upstream"] = ["192.0.2.53"]
    forged = json.dumps(doc).encode()
    for target in cluster.nodes:
        status, body = target.push(signed_push(node2.key(), version, forged))
        assert status == 200 and body["status"] == "applied", (target.name, status, body)
        assert target.wait_addresses("guarded.c.test", "10.2.0.7", SWITCH_LIMIT) is not None
        assert health_within(target, 1.0), "%s: /health slow after the push" % target.name
        settings = server_settings(target)
        assert node_local(settings) == before[target.name], target.name
        assert settings["upstream"] == ["192.0.2.53"], "what names answer comes from the push"
        raw, _ = target.config_raw()
        assert node_local(json.loads(raw)["server"]) == before[target.name], target.name
    assert len({node.served() for node in cluster.nodes}) == 1, cluster.served()
    # /cluster shows where the config node2 signed runs a node otherwise.
    status, body = node1.json("GET", "/cluster")
    assert status == 200, body
    differs = body["peers"][node2.address]["node_local_differs"]
    for key in ("peers", "sync_key", "allow_recursion", "allow_query", "mgmt_port", "user"):
        assert key in differs, (key, differs)

    # node1's own key is still a member's key everywhere, its own API too.
    version, config = next_config(node1, "guarded.c.test", "10.2.0.8")
    doc = json.loads(config)
    doc["server"]["upstream"] = []
    config = json.dumps(doc).encode()
    for target in cluster.nodes:
        status, body = target.push(signed_push(node1.key(), version, config))
        assert status == 200 and body["status"] == "applied", (target.name, status, body)
    converged(cluster)
    status, body = node2.json("GET", "/cluster")
    assert body["peers"][node1.address]["node_local_differs"] == [], body


def test_a_sync_key_naming_a_fifo_is_refused_and_the_api_keeps_answering(cluster, tmp_path):
    node1, node2, node3 = cluster.nodes
    converged(cluster)
    original = node1.file_bytes()
    fifo = str(tmp_path / "fifo.key")
    os.mkfifo(fifo, 0o600)
    edited, count = re.subn(rb'"sync_key": "[^"]*"', b'"sync_key": "%s"' % fifo.encode(), original)
    assert count == 1
    mark = len(node1.lines)
    node1.write_file(edited)
    try:
        status, body = node1.reload(timeout=3.0)
        assert status == 200, (status, body)
        assert health_within(node1, 1.0), "/health slow after a reload naming a FIFO"
        assert logged_from(node1, "not a regular file", mark)
    finally:
        node1.write_file(original)
        status, body = node1.reload(timeout=3.0)
    assert status == 200 and body["status"] == "reloaded", (status, body)
    converged(cluster)


def test_a_member_with_its_own_log_level_still_agrees_with_the_others(cluster):
    node1, node2, node3 = cluster.nodes
    converged(cluster)
    original = node3.file_bytes()
    edited, count = re.subn(rb'"log_queries": false', b'"log_queries": true', original)
    assert count == 1
    node3.write_file(with_address(edited, "guarded.c.test", "10.2.0.33"))
    try:
        version = reload_pushed(node3, applied_by=(node1, node2))
        for node in (node1, node2):
            assert node.wait_addresses("guarded.c.test", "10.2.0.33", SWITCH_LIMIT) is not None
            assert node.served()[0] == version
            assert server_settings(node)["log_queries"] is False, node.name
            status, body = node.json("GET", "/cluster")
            peer = body["peers"][node3.address]
            assert peer["agrees"] is True, (node.name, peer)
            assert peer["node_local_differs"] == ["log_queries"], (node.name, peer)
            # Its copy of the same version is current, not a conflict.
            config, headers = node3.config_raw()
            status, answer = node.push(
                push_body(
                    version,
                    config,
                    base64.b64decode(headers["x-nanodns-signer"]),
                    base64.b64decode(headers["x-nanodns-signature"]),
                )
            )
            assert (status, answer["status"]) == (200, "already_current"), (node.name, answer)
    finally:
        node3.write_file(with_address(original, "guarded.c.test", "10.2.0.34"))
        status, body = node3.reload()
    assert status == 200 and body["status"] == "reloaded", (status, body)
    converged(cluster)


# -- versions --------------------------------------------------------------------------


def test_a_push_of_a_version_near_2_to_the_63_is_refused_as_too_far(cluster):
    node1, node2, _ = cluster.nodes
    converged(cluster)
    config, _ = node1.config_raw()
    far = 2**63 - 2
    config = with_address(config, "guarded.c.test", FORGED)
    config, count = re.subn(rb'"config_version": \d+', b'"config_version": %d' % far, config)
    assert count == 1
    before = snapshot(node1)
    mark = len(node1.lines)
    status, body = node1.push(signed_push(node2.key(), far, config))
    assert status == 409, (status, body)
    assert body == {"status": "rejected_too_far", "version": before[0][0]}
    assert snapshot(node1) == before
    assert logged_from(node1, "2^20", mark)


def test_a_restart_on_an_older_file_keeps_the_version_last_in_force(cluster):
    node1, node2, node3 = cluster.nodes
    version, _ = converged(cluster)
    while version < 3:  # room for an envelope between the file's and ours
        version, config = next_config(node1, "guarded.c.test", "10.2.0.%d" % (version + 20))
        for target in cluster.nodes:
            status, body = target.push(signed_push(node1.key(), version, config))
            assert status == 200, (target.name, status, body)
        version, _ = converged(cluster)
    current = node1.file_bytes()
    served_before = node1.served()
    # The state directory at `version`, the file back at 1 (a read-only
    # ConfigMap, a failed write-back).
    old, count = re.subn(rb'"config_version": \d+', b'"config_version": 1', current)
    assert count == 1
    node1.stop()
    node1.write_file(old)
    try:
        node1.start()
        assert node1.served() == served_before, "a restart went back to the file's version"
        replayed = with_address(current, "guarded.c.test", FORGED)
        replayed, _ = re.subn(rb'"config_version": \d+', b'"config_version": 2', replayed)
        status, body = node1.push(signed_push(node2.key(), 2, replayed))
        assert status == 409 and body["status"] == "rejected_stale", (status, body)
        assert node1.addresses("guarded.c.test") != [FORGED]
    finally:
        node1.write_file(current)
    converged(cluster)


# -- catching up ---------------------------------------------------------------------


def test_a_node_that_was_down_serves_the_latest_version_within_40_s_of_its_start(cluster):
    node1, node2, node3 = cluster.nodes
    version, _ = converged(cluster)
    assert node3.stop() == 0
    for value in ("10.3.0.2", "10.3.0.3"):
        node1.set_address("missed.c.test", value)
        reload_pushed(node1, applied_by=(node2,), unreachable=(node3,))
    latest = node1.served()
    assert latest[0] == version + 2

    t0 = time.monotonic()
    node3.start()
    elapsed = wait_serving(node3, latest, "missed.c.test", "10.3.0.3", CATCH_UP_WAIT, since=t0)
    assert elapsed is not None and elapsed <= CATCH_UP_LIMIT, (
        "node3 serves %r and answers %r %.0f s after its start, want %r"
        % (node3.served(), node3.addresses("missed.c.test"), time.monotonic() - t0, latest)
    )


def test_a_node_with_a_corrupt_file_serves_its_last_good_config_then_catches_up(cluster):
    node1, node2, node3 = cluster.nodes
    version, digest = converged(cluster)
    last_good = node3.file_bytes()  # the config node3 published and serves
    assert sha256_hex(last_good) == digest
    assert node3.stop() == 0
    node1.set_address("recovered.c.test", "10.5.0.2")
    reload_pushed(node1, applied_by=(node2,), unreachable=(node3,))
    latest = node1.served()
    latest_bytes, _ = node1.config_raw()
    # A half-written edit.
    node3.write_file(last_good[: len(last_good) // 2])

    t0 = time.monotonic()
    node3.start()
    assert node3.wait_for_line("CONFIG FILE IS INVALID", 2.0), node3.stderr_text()
    assert node3.config_path in node3.stderr_text(), "the refusal does not name the file"
    assert node3.served() == (version, digest), "not the last good config"
    assert node3.addresses("recovered.c.test") == ["10.5.0.1"]

    elapsed = wait_serving(node3, latest, "recovered.c.test", "10.5.0.2", CATCH_UP_WAIT, since=t0)
    assert elapsed is not None and elapsed <= CATCH_UP_LIMIT, (
        "node3 serves %r and answers %r %.0f s after its start, want %r"
        % (node3.served(), node3.addresses("recovered.c.test"), time.monotonic() - t0, latest)
    )
    assert node3.file_bytes() == latest_bytes, "the corrupt file was not replaced by the config"


# -- concurrent edits ----------------------------------------------------------------


def test_concurrent_reloads_of_different_content_converge_on_one_config_within_40_s(cluster):
    node1, node2, node3 = cluster.nodes
    version, _ = converged(cluster)
    edits = {node1: "10.4.0.2", node2: "10.4.0.3"}
    for node, value in edits.items():
        node.set_address("contested.c.test", value)
    barrier = threading.Barrier(len(edits))
    answers = {}

    def reload(node):
        barrier.wait()
        try:
            answers[node.name] = node.reload()
        except Exception as e:  # reported below, in the test's thread
            answers[node.name] = (None, repr(e))

    threads = [threading.Thread(target=reload, args=(node,)) for node in edits]
    t0 = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for node in edits:
        status, body = answers.get(node.name, (None, "no answer within 30 s"))
        assert status == 200 and body["status"] == "reloaded", (node.name, status, body)

    def agreed():
        served = cluster.served()
        answered = [tuple(node.addresses("contested.c.test")) for node in cluster.nodes]
        if len(set(served)) == 1 and len(set(answered)) == 1:
            return served[0], answered[0]
        return None

    while True:
        state = agreed()
        if state is not None or time.monotonic() - t0 > CATCH_UP_WAIT:
            break
        time.sleep(0.1)
    elapsed = time.monotonic() - t0
    assert state is not None and elapsed <= CATCH_UP_LIMIT, (
        "after %.0f s: served %r, answers %r"
        % (
            elapsed,
            cluster.served(),
            [node.addresses("contested.c.test") for node in cluster.nodes],
        )
    )
    (agreed_version, _), answer = state
    assert agreed_version > version
    assert list(answer) in (["10.4.0.2"], ["10.4.0.3"]), "converged on neither edit: %r" % (answer,)
    configs = {node.config_raw()[0] for node in cluster.nodes}
    assert len(configs) == 1, "the nodes agree on version and hash but serve different bytes"
