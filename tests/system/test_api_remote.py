"""The management API asked from another host: two network namespaces the
test creates (netns.py), joined by a veth pair; the node runs on one with
its API on that host's address, curl runs on the other, so the node sees a
client address outside loopback. Such a client gets /config/raw and makes
changes only with a request signed by a listed key, each signature once;
a node pulls its peer's config that way. (Asked from loopback: test_api.py.)
Needs root; skips without it."""

import json
import os

import pytest

import harness
import netns
from api_client import (
    NodeKey,
    curl,
    keyed_config_of,
    make_config,
    signed_headers,
    wait_for,
    write_file,
)

# Every port is free in a namespace the test has just made.
MGMT_PORT = 9053
DNS_PORT = 5353


class Node:
    """A `nanodns start` running on one host, its API on that host's address."""

    def __init__(self, server, namespace, key):
        self.server = server
        self.namespace = namespace
        self.key = key  # its api_client.NodeKey; None: no sync key
        self.host = namespace.address
        self.port = MGMT_PORT


class Hosts:
    """The two hosts of a netns.HostPair, .server and .client, and the nodes
    started on them (in a 0755 directory of public_tmp each, so that a data
    plane running as nobody reads the images a reload publishes)."""

    def __init__(self, pair, directory):
        self.server = pair.server
        self.client = pair.client
        self.directory = directory
        self.servers = []

    def start(self, host, key=None, peers=None, **config_kwargs):
        """A node on host (a netns.Namespace). With key, the node has it as
        its sync key, and peers defaults to the node itself with that key."""
        directory = self.directory / ("node%d" % len(self.servers))
        directory.mkdir(mode=0o755)
        if key is not None:
            fd = os.open(str(directory / "node.key"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(key.file_bytes())
            config_kwargs["sync_key"] = "node.key"
            if peers is None:
                peers = [{"address": "%s:%d" % (host.address, MGMT_PORT),
                          "public_key": key.public_text}]
        config = make_config(MGMT_PORT, peers=peers or (), mgmt_host=host.address,
                             **config_kwargs)
        server = harness.Server(directory, config, port=DNS_PORT)
        server.args = host.command(server.args)
        self.servers.append(server)
        server.start()
        return Node(server, host, key)

    def ask(self, node, method, path, headers=()):
        """(status, body) of a request curl makes from the client host."""
        return curl(node, method, path, headers, namespace=self.client)

    def version(self, node):
        """The config version node's /health reports (asked on its own host)."""
        status, body = curl(node, "GET", "/health", namespace=node.namespace)
        assert status in (200, 503), body
        return json.loads(body)["version"]

    def stop(self):
        """Stop every node; what went wrong (exit status other than 0 after
        SIGTERM, sanitizer reports), as a list of messages."""
        return harness.stop_servers(self.servers)


@pytest.fixture
def hosts(public_tmp):
    """Two hosts; the nodes stop before their namespaces are deleted."""
    with netns.HostPair() as pair:
        started = Hosts(pair, public_tmp)
        try:
            yield started
        finally:
            problems = started.stop()
    assert not problems, "\n".join(problems)


# -- /config/raw from another host ---------------------------------------------


def test_config_raw_from_another_host_unsigned_is_403(hosts):
    node = hosts.start(hosts.server)
    status, body = hosts.ask(node, "GET", "/config/raw")
    assert status == 403, body
    assert b"nanodns" not in body and b"x.test" not in body, "the config leaked"
    assert node.server.wait_for_line("GET /config/raw from %s refused" % hosts.client.address,
                                     2.0)


def test_config_raw_from_another_host_signed_by_a_listed_key_is_the_config(hosts):
    node = hosts.start(hosts.server, key=NodeKey())
    status, body = hosts.ask(node, "GET", "/config/raw",
                             signed_headers(node.key.sign_request("GET", "/config/raw", node.key)))
    assert status == 200, body
    with open(node.server.config_path, "rb") as f:
        assert body == f.read()
    assert hosts.ask(node, "GET", "/config/raw")[0] == 403


def test_config_raw_signed_by_an_unlisted_key_is_401(hosts):
    node = hosts.start(hosts.server, key=NodeKey())
    stranger = NodeKey()
    status, body = hosts.ask(node, "GET", "/config/raw",
                             signed_headers(stranger.sign_request("GET", "/config/raw", node.key)))
    assert status == 401, body
    assert b"x.test" not in body


# -- signed requests from another host are good once ---------------------------


def test_a_replayed_signed_reload_from_another_host_is_refused_and_the_version_stays(hosts):
    node = hosts.start(hosts.server, key=NodeKey())
    server, key = node.server, node.key
    config = keyed_config_of(server, node)
    headers = signed_headers(key.sign_request("POST", "/reload", key))

    config["records"] = []
    write_file(server, config)
    status, body = hosts.ask(node, "POST", "/reload", headers)
    assert status == 200 and json.loads(body)["status"] == "reloaded", body
    version = json.loads(body)["version"]

    # The same headers again, with a change waiting in the file: refused.
    config["records"] = [{"name": "new.x.test", "type": "A", "value": "10.0.2.1", "ttl": 300}]
    write_file(server, config)
    for _ in range(2):
        status, body = hosts.ask(node, "POST", "/reload", headers)
        assert status == 409, body
        assert json.loads(body)["status"] == "replayed"
    assert hosts.version(node) == version
    assert server.wait_for_line("POST /reload from %s refused: a replay" % hosts.client.address,
                                2.0)

    # A new signature goes through.
    status, body = hosts.ask(node, "POST", "/reload",
                             signed_headers(key.sign_request("POST", "/reload", key)))
    assert status == 200 and json.loads(body)["version"] == version + 1, body


def test_a_replayed_signed_config_raw_is_refused(hosts):
    node = hosts.start(hosts.server, key=NodeKey())
    headers = signed_headers(node.key.sign_request("GET", "/config/raw", node.key))
    assert hosts.ask(node, "GET", "/config/raw", headers)[0] == 200
    status, body = hosts.ask(node, "GET", "/config/raw", headers)
    assert status == 409 and b"x.test" not in body


# -- a node pulls from a peer on another host ---------------------------------------


def test_a_node_pulls_config_raw_from_a_peer_on_another_host_with_a_signed_request(hosts):
    # A (server host) answers B (client host) on /config/raw only because B
    # signs the pull (for A's key).
    key_a, key_b = NodeKey(), NodeKey()
    peers = [
        {"address": "%s:%d" % (hosts.server.address, MGMT_PORT), "public_key": key_a.public_text},
        {"address": "%s:%d" % (hosts.client.address, MGMT_PORT), "public_key": key_b.public_text},
    ]
    node_a = hosts.start(hosts.server, key=key_a, peers=peers, version=5, records=[])
    node_b = hosts.start(hosts.client, key=key_b, peers=peers)
    assert hosts.version(node_b) == 1
    # The catch-up pull runs 10 s after start.
    assert wait_for(lambda: hosts.version(node_b) == 5, timeout=20.0), (
        node_b.server.stderr_text()[-3000:], node_a.server.stderr_text()[-3000:])
    assert not node_a.server.wait_for_line("GET /config/raw from", 0.1)
