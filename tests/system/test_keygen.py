"""nanodns keygen: a private key file and its public key; `check` on the
peers forms; and nanoctl signing POST /reload with the node's key.

Signatures are checked here with the `cryptography` package, independently
of common/envelope.c, against the message layout envelope.h documents."""

import base64
import http.server
import json
import os
import stat
import struct
import subprocess
import threading
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

import harness
from harness import run_nanodns

NANOCTL = os.path.join(harness.BUILD_DIR, "nanoctl")
KEY_PREFIX = "nanodns-ed25519-secret-key "


def keygen(*args, cwd=None):
    return run_nanodns("keygen", *args, cwd=cwd)


def _raw_public(private):
    from cryptography.hazmat.primitives import serialization

    return private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def read_secret(path):
    with open(path) as f:
        text = f.read()
    assert text.startswith(KEY_PREFIX) and text.endswith("\n")
    assert text.count("\n") == 1
    return base64.b64decode(text[len(KEY_PREFIX) :].strip(), validate=True)


# -- keygen ---------------------------------------------------------------


def test_keygen_writes_a_private_key_file_and_prints_its_public_key(tmp_path):
    out = tmp_path / "node1.key"
    proc = keygen("--out", str(out))
    assert proc.returncode == 0, proc.stderr
    printed = proc.stdout.strip()
    assert len(printed) == 44
    assert proc.stdout == printed + "\n"  # the key alone on stdout, for scripts
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    secret = read_secret(out)
    assert len(secret) == 64
    # libsodium's secret key is seed | public key; both halves agree
    assert secret[32:] == base64.b64decode(printed)
    assert _raw_public(Ed25519PrivateKey.from_private_bytes(secret[:32])) == secret[32:]


def test_keygen_writes_nanodns_key_in_the_current_folder_by_default(tmp_path):
    proc = keygen(cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "nanodns.key").exists()


def test_keygen_gives_a_new_key_each_time(tmp_path):
    first = keygen("--out", str(tmp_path / "a.key")).stdout
    second = keygen("--out", str(tmp_path / "b.key")).stdout
    assert first != second


def test_keygen_public_prints_the_same_public_key(tmp_path):
    out = tmp_path / "node1.key"
    made = keygen("--out", str(out))
    proc = keygen("--public", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == made.stdout


def test_keygen_refuses_to_overwrite_without_force(tmp_path):
    out = tmp_path / "node1.key"
    keygen("--out", str(out))
    before = out.read_bytes()
    proc = keygen("--out", str(out))
    assert proc.returncode == 1
    assert "exists" in proc.stderr and "--force" in proc.stderr
    assert proc.stdout == ""
    assert out.read_bytes() == before


def test_keygen_force_replaces_the_key(tmp_path):
    out = tmp_path / "node1.key"
    old = keygen("--out", str(out)).stdout
    proc = keygen("--out", str(out), "--force")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout != old
    assert keygen("--public", str(out)).stdout == proc.stdout
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600


def test_keygen_public_refuses_a_key_file_others_can_read(tmp_path):
    out = tmp_path / "node1.key"
    keygen("--out", str(out))
    os.chmod(out, 0o644)
    proc = keygen("--public", str(out))
    assert proc.returncode == 1
    assert "chmod 600" in proc.stderr
    assert proc.stdout == ""


def test_keygen_public_refuses_a_file_that_is_not_a_key(tmp_path):
    out = tmp_path / "nanodns.json"
    out.write_text("{}\n")
    os.chmod(out, 0o600)
    proc = keygen("--public", str(out))
    assert proc.returncode == 1
    assert "not a NanoDNS key file" in proc.stderr


def test_keygen_public_with_out_is_a_usage_error(tmp_path):
    proc = keygen("--public", str(tmp_path / "a.key"), "--out", str(tmp_path / "b.key"))
    assert proc.returncode == 2


# -- check --------------------------------------------------------------------


def check(tmp_path, server):
    path = harness.write_config(tmp_path, {"server": harness.base_server(**server)})
    return run_nanodns("check", path)


def test_check_warns_for_each_plain_string_peer(tmp_path):
    key = keygen("--out", str(tmp_path / "node.key")).stdout.strip()
    proc = check(
        tmp_path,
        {
            "sync_key": "node.key",
            "peers": [
                {"address": "127.0.0.11:9053", "public_key": key},
                "127.0.0.12:9053",
                "127.0.0.13:9053",
            ],
        },
    )
    assert proc.returncode == 0, proc.stderr
    assert "OK Config is valid." in proc.stdout
    for i in (1, 2):
        assert (
            "warning: server.peers[%d]: sync needs keys: a peer without a public_key is shown "
            "in /cluster but never trusted" % i
        ) in proc.stderr
    assert "peers[0]" not in proc.stderr


def test_check_warns_when_peers_have_keys_but_no_sync_key(tmp_path):
    key = keygen("--out", str(tmp_path / "node.key")).stdout.strip()
    proc = check(tmp_path, {"peers": [{"address": "127.0.0.11:9053", "public_key": key}]})
    assert proc.returncode == 0, proc.stderr
    assert "server.sync_key is absent" in proc.stderr


def test_check_refuses_a_public_key_that_is_not_one(tmp_path):
    proc = check(tmp_path, {"peers": [{"address": "127.0.0.11:9053", "public_key": "abc"}]})
    assert proc.returncode == 1
    assert "server.peers[0].public_key" in proc.stderr


def test_check_of_a_keyed_cluster_config_is_clean(tmp_path):
    keys = [keygen("--out", str(tmp_path / ("n%d.key" % i))).stdout.strip() for i in (1, 2, 3)]
    proc = check(
        tmp_path,
        {
            "sync_key": "n1.key",
            "peers": [
                {"address": "127.0.0.1%d:9053" % i, "public_key": k}
                for i, k in zip((1, 2, 3), keys)
            ],
        },
    )
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr


# -- nanoctl signs reload -----------------------------------------------------


class Recorder(http.server.BaseHTTPRequestHandler):
    """A stand-in management API that records each request's headers."""

    requests = []
    status = 200

    def do_POST(self):
        Recorder.requests.append((self.command, self.path, dict(self.headers)))
        if Recorder.status == 200:
            answer = {"status": "reloaded", "version": 2, "records": 1}
        else:
            answer = {"status": "forbidden", "reason": "unsigned"}
        body = json.dumps(answer).encode()
        self.send_response(Recorder.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_node():
    Recorder.requests = []
    Recorder.status = 200
    server = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def nanoctl(*args):
    # NANOCTL_SOCKET names nothing: a node on this machine is never asked.
    return subprocess.run(
        [NANOCTL] + [str(a) for a in args], capture_output=True, text=True, timeout=20,
        env=dict(os.environ, NANOCTL_SOCKET="/nonexistent/nanoctl-tests/control.sock"),
    )


def request_message(signer, when, method, path, nonce, target):
    """envelope.h: "nanodns-request-v2" NUL | time (u64 BE) | nonce (16) |
    signer | target | method NUL | path."""
    return (
        b"nanodns-request-v2\0"
        + struct.pack(">Q", when)
        + nonce
        + signer
        + target
        + method.encode()
        + b"\0"
        + path.encode()
    )


def test_nanoctl_signs_reload_with_the_configs_sync_key(tmp_path, fake_node):
    conf_dir = tmp_path / "node1"
    conf_dir.mkdir()
    public = keygen("--out", str(conf_dir / "node1.key")).stdout.strip()
    # sync_key is relative to the config's folder, not to nanoctl's cwd
    config = harness.write_config(
        conf_dir,
        {
            "server": harness.base_server(
                mgmt_host="127.0.0.1", mgmt_port=fake_node, sync_key="node1.key"
            )
        },
    )
    before = int(time.time())
    proc = nanoctl("-c", config, "reload")
    after = int(time.time())
    assert proc.returncode == 0, proc.stderr
    assert len(Recorder.requests) == 1
    method, path, headers = Recorder.requests[0]
    assert (method, path) == ("POST", "/reload")
    assert headers["X-NanoDNS-Signer"] == public
    when = int(headers["X-NanoDNS-Time"])
    assert before <= when <= after
    signer = base64.b64decode(public)
    signature = base64.b64decode(headers["X-NanoDNS-Signature"], validate=True)
    nonce = base64.b64decode(headers["X-NanoDNS-Nonce"], validate=True)
    assert len(nonce) == 16
    # signed with the node's own key: for that node
    assert headers["X-NanoDNS-Target"] == public
    # raises InvalidSignature when it does not verify
    Ed25519PublicKey.from_public_bytes(signer).verify(
        signature, request_message(signer, when, "POST", "/reload", nonce, signer)
    )


def test_nanoctl_sends_reload_unsigned_without_a_sync_key(tmp_path, fake_node):
    config = harness.write_config(
        tmp_path, {"server": harness.base_server(mgmt_host="127.0.0.1", mgmt_port=fake_node)}
    )
    proc = nanoctl("-c", config, "reload")
    assert proc.returncode == 0, proc.stderr
    headers = Recorder.requests[0][2]
    assert not any(h.lower().startswith("x-nanodns-") for h in headers)


def test_nanoctl_sends_reload_unsigned_when_the_key_is_unreadable(tmp_path, fake_node):
    config = harness.write_config(
        tmp_path,
        {
            "server": harness.base_server(
                mgmt_host="127.0.0.1", mgmt_port=fake_node, sync_key="missing.key"
            )
        },
    )
    proc = nanoctl("-c", config, "reload")
    # over loopback the node takes it unsigned: no complaint
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    headers = Recorder.requests[0][2]
    assert "X-NanoDNS-Signature" not in headers


def test_nanoctl_says_why_it_did_not_sign_when_the_node_refuses(tmp_path, fake_node):
    Recorder.status = 403
    config = harness.write_config(
        tmp_path,
        {
            "server": harness.base_server(
                mgmt_host="127.0.0.1", mgmt_port=fake_node, sync_key="missing.key"
            )
        },
    )
    proc = nanoctl("-c", config, "reload")
    assert proc.returncode == 1
    assert "not signed" in proc.stderr
    assert str(tmp_path / "missing.key") in proc.stderr
