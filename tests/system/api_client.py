"""What the tests of the management API share: the config they give a node,
Ed25519 keys and signed requests as a peer makes them (python3-cryptography,
independent of NanoDNS's own code), curl as the HTTP client (run in a
network namespace for "another host", see netns.py), and bounded polling."""

import base64
import json
import os
import struct
import subprocess
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import harness

SOA = {
    "mname": "ns1.x.test",
    "rname": "hostmaster.x.test",
    "serial": 2024010100,
    "refresh": 3600,
    "retry": 900,
    "expire": 604800,
    "minimum": 300,
}


def make_config(mgmt_port, peers=(), records=None, version=None, mgmt_host="127.0.0.1",
                sync_key=None):
    server = harness.base_server(mgmt_host=mgmt_host, mgmt_port=mgmt_port, peers=list(peers))
    if sync_key is not None:
        server["sync_key"] = sync_key
    if version is not None:
        server["config_version"] = version
    return {
        "server": server,
        "zones": {
            "x.test": {"soa": dict(SOA), "ns": ["ns1.x.test"]},
            "y.test": {"soa": dict(SOA, serial=7), "ns": ["ns1.y.test"]},
        },
        "records": records
        if records is not None
        else [
            {"name": "www.x.test", "type": "A", "value": "10.0.0.80", "ttl": 300},
            {"name": "mail.x.test", "type": "A", "value": "10.0.0.25", "ttl": 300},
            {"name": "www.y.test", "type": "AAAA", "value": "fd00::80", "ttl": 300},
        ],
        "rewrites": [{"match": "ads.x.test", "action": "nxdomain"}],
    }


def write_file(server, config):
    harness.write_config(os.path.dirname(server.config_path), config)


def keyed_config_of(server, api):
    with open(server.config_path) as f:
        return json.load(f)


def wait_for(predicate, timeout=3.0):
    """Poll predicate() until it is truthy (the stats file is read as the
    data plane writes it: there is no event to wait on); its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


class NodeKey:
    """An Ed25519 key as python3-cryptography makes it, in NanoDNS's key file format."""

    def __init__(self):
        self.private = Ed25519PrivateKey.generate()
        self.public = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public_text = base64.b64encode(self.public).decode()

    def file_bytes(self):
        seed = self.private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return b"nanodns-ed25519-secret-key " + base64.b64encode(seed + self.public) + b"\n"

    def sign_request(self, method, path, target, when=None, nonce=None):
        """The headers of a request signed for the node whose public key is
        target (envelope.h: "nanodns-request-v2" NUL | time | nonce | signer
        | target | method NUL | path)."""
        when = int(time.time()) if when is None else when
        nonce = os.urandom(16) if nonce is None else nonce
        message = (
            b"nanodns-request-v2\0" + struct.pack(">Q", when) + nonce + self.public
            + target.public + method.encode() + b"\0" + path.encode()
        )
        return {
            "X-NanoDNS-Signer": self.public_text,
            "X-NanoDNS-Time": str(when),
            "X-NanoDNS-Nonce": base64.b64encode(nonce).decode(),
            "X-NanoDNS-Target": target.public_text,
            "X-NanoDNS-Signature": base64.b64encode(self.private.sign(message)).decode(),
        }


def curl(api, method, path, headers=(), host=None, namespace=None):
    """(status, body bytes) of a request made with curl to api.host:api.port
    (or host:api.port); run in namespace (a netns.Namespace) when given."""
    argv = ["curl", "-sS", "--max-time", "10", "-X", method, "-o", "-", "-w", "\n%{http_code}"]
    for header in headers:
        argv += ["-H", header]
    argv.append("http://%s:%d%s" % (host or api.host, api.port, path))
    if namespace is not None:
        argv = namespace.command(argv)
    proc = subprocess.run(argv, capture_output=True, timeout=20)
    assert proc.returncode == 0, proc.stderr
    body, _, code = proc.stdout.rpartition(b"\n")
    return int(code), body


def signed_headers(headers):
    return ["%s: %s" % item for item in headers.items()]
