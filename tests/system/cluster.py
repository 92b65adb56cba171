"""A three-node NanoDNS cluster on this machine, for the system tests: real
`nanodns start` processes on 127.0.0.11, 127.0.0.12 and 127.0.0.13, each
with its own key, its own copy of one config and its own state directory.

The nodes are set up by compose/nanodns-cluster-init, the script that sets
up the compose cluster, so this is the executable form of
compose/docker-compose.yml: the same key generation, the same config with
every member's address and public key, one copy per node.

Also here: the signed envelope of a push (POST /sync), built in Python with
the `cryptography` package's Ed25519, independently of the C code."""

import base64
import hashlib
import http.client
import json
import os
import re
import socket
import struct
import subprocess
import threading
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

import harness

CLUSTER_INIT = os.path.join(harness.REPO_DIR, "compose", "nanodns-cluster-init")
NANOCTL = os.path.join(harness.BUILD_DIR, "nanoctl")
HOSTS = ("127.0.0.11", "127.0.0.12", "127.0.0.13")
HTTP_TIMEOUT = 10.0  # a /reload answer waits up to 2 s for the pushes
POLL_INTERVAL = 0.02  # DNS and /health are polled: a sync raises no event here
PULL_FIRST = 10.0  # a node's first pull, seconds after its start
PULL_EVERY = 30.0  # and the pulls after it

# -- the envelope (common/envelope.h) ----------------------------------------

SYNC_CONTEXT = b"nanodns-sync-v1\x00"
KEY_FILE_PREFIX = "nanodns-ed25519-secret-key "


def b64(data):
    return base64.b64encode(data).decode("ascii")


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


class Key:
    """An Ed25519 key pair: a node's (read from its key file) or a new one."""

    def __init__(self, private):
        self.private = private
        self.public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @classmethod
    def generate(cls):
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def read(cls, path):
        """A `nanodns keygen` file: the prefix and the base64 of libsodium's
        64-octet secret key (the 32-octet seed, then the public key)."""
        with open(path) as f:
            text = f.read().strip()
        assert text.startswith(KEY_FILE_PREFIX), "%s: not a nanodns key file" % path
        secret = base64.b64decode(text[len(KEY_FILE_PREFIX) :], validate=True)
        assert len(secret) == 64, "%s: secret key of %d octets" % (path, len(secret))
        key = cls(Ed25519PrivateKey.from_private_bytes(secret[:32]))
        assert key.public == secret[32:], "%s: public half does not match the seed" % path
        return key

    @property
    def public_text(self):
        return b64(self.public)

    def sign_config(self, version, config):
        return self.private.sign(config_message(version, config, self.public))


def config_message(version, config, signer):
    """What a config signature covers: context, version (u64 big-endian),
    SHA-256 of the bytes, signer's public key, the bytes."""
    return SYNC_CONTEXT + struct.pack(">Q", version) + hashlib.sha256(config).digest() + signer + config


def verify_config(signer, version, config, signature):
    try:
        Ed25519PublicKey.from_public_bytes(signer).verify(
            signature, config_message(version, config, signer)
        )
        return True
    except Exception:  # cryptography raises InvalidSignature (or ValueError on junk)
        return False


def push_body(version, config, signer, signature, hash_hex=None):
    """The JSON body of POST /sync (bytes)."""
    return json.dumps(
        {
            "version": version,
            "hash": hash_hex if hash_hex is not None else sha256_hex(config),
            "signer": b64(signer),
            "signature": b64(signature),
            "config": b64(config),
        }
    ).encode()


def signed_push(key, version, config):
    return push_body(version, config, key.public, key.sign_config(version, config))


# -- ports ----------------------------------------------------------------------


def port_free(host, port, udp=True):
    """Whether TCP (and UDP) port is free on host right now."""
    kinds = [socket.SOCK_STREAM] + ([socket.SOCK_DGRAM] if udp else [])
    for kind in kinds:
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind((host, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_port_on_all(hosts, udp=True, avoid=()):
    """A port free on every host in hosts (UDP too when udp)."""
    for _ in range(100):
        port = harness.free_port(hosts[0])
        if port not in avoid and all(port_free(h, port, udp) for h in hosts):
            return port
    raise RuntimeError("no port free on all of %s" % (hosts,))


# -- nodes -----------------------------------------------------------------------


class Node(harness.Server):
    """One member: `nanodns start` on its own address, with the config file,
    key and state directory that the init script wrote in its directory.
    Unlike harness.Server it never writes the config, and it can be
    stopped and started again (each start is a new process)."""

    def __init__(self, name, directory, host, dns_port, mgmt_port, public_key):
        self.name = name
        self.tmpdir = str(directory)
        self.host = host
        self.port = dns_port
        self.mgmt_port = mgmt_port
        self.public_key = public_key
        self.config_path = os.path.join(self.tmpdir, "nanodns.json")
        self.key_path = os.path.join(self.tmpdir, "node.key")
        self.state_dir = os.path.join(self.tmpdir, "state")
        self.args = [
            harness.NANODNS,
            "start",
            "--config",
            self.config_path,
            "--host",
            host,
            "--port",
            str(dns_port),
            "--mgmt-host",
            host,
            "--mgmt-port",
            str(mgmt_port),
            "--state-dir",
            self.state_dir,
        ]
        self.env = None
        self.popen_options = {}
        self.proc = None
        self.lines = []
        self._cond = threading.Condition()
        self._eof = False
        self.dataplane_pids = set()
        self.earlier_runs = []  # stderr of the processes before this one
        self.exit_codes = []  # of every stop()
        self.started_at = None  # time.monotonic() of the last start

    @property
    def address(self):
        """Its management address as the peers list names it."""
        return "%s:%d" % (self.host, self.mgmt_port)

    def start(self, wait_ready=True):
        if self.proc is not None:
            self.earlier_runs.append(self.stderr_text())
            with self._cond:
                self.lines = []
                self._eof = False
        self.started_at = time.monotonic()
        harness.Server.start(self, wait_ready=False)
        # Ready is the "serving N records" line: harness.Server waits for
        # "serving ", which the log line of a start on an invalid file
        # ("CONFIG FILE IS INVALID: serving the last good config") also holds,
        # before the node serves anything.
        if wait_ready and not self.wait_for_line(
            "info: serving ", harness.READY_TIMEOUT, harness.CONTROL_PLANE_LINE
        ):
            rc = self.proc.poll()
            self.kill()
            raise RuntimeError(
                "%s did not report 'serving' within %ss (exit %s); stderr:\n%s"
                % (self.name, harness.READY_TIMEOUT, rc, self.stderr_text())
            )
        self.dataplane_pids = harness.child_pids(self.proc.pid)
        return self

    def pull_due(self, start, end, margin=2.0):
        """Whether one of its pulls (10 s after its start, then every 30 s)
        may fall between the times start and end (time.monotonic())."""
        first = self.started_at + PULL_FIRST
        k = max(0, int((start - margin - first) // PULL_EVERY))
        while True:
            due = first + k * PULL_EVERY
            if due - margin > end:
                return False
            if due + margin >= start:
                return True
            k += 1

    def stop(self):
        rc = harness.Server.stop(self)
        self.exit_codes.append(rc)
        return rc

    def all_stderr(self):
        return "".join(self.earlier_runs) + self.stderr_text()

    def key(self):
        return Key.read(self.key_path)

    # -- the management API --

    @property
    def control_socket(self):
        return os.path.join(self.state_dir, "control.sock")

    def request(self, method, path, body=None, headers=None, source=None, timeout=HTTP_TIMEOUT,
                local=False):
        """(status, headers with lower-case names, body bytes), over TCP or,
        when local, on the node's control socket; a node that does not
        answer fails the test with the end of its stderr."""
        if local:
            conn = harness.UnixHTTPConnection(self.control_socket, timeout)
        else:
            conn = http.client.HTTPConnection(
                self.host,
                self.mgmt_port,
                timeout=timeout,
                source_address=(source, 0) if source is not None else None,
            )
        try:
            conn.request(method, path, body=body, headers=headers or {})
            res = conn.getresponse()
            data = res.read()
            return res.status, {k.lower(): v for k, v in res.getheaders()}, data
        except OSError as e:
            raise AssertionError(
                "%s %s on %s (%s, %s): %s; its stderr ends:\n%s"
                % (
                    method,
                    path,
                    self.name,
                    self.control_socket if local else self.address,
                    "running" if self.alive() else "exited %r" % self.proc.returncode,
                    e,
                    self.stderr_text()[-3000:],
                )
            ) from e
        finally:
            conn.close()

    def json(self, method, path, **kwargs):
        """(status, parsed JSON body)."""
        status, headers, data = self.request(method, path, **kwargs)
        try:
            return status, json.loads(data)
        except ValueError:
            raise AssertionError("%s %s on %s: %d, not JSON: %r" % (method, path, self.name, status, data))

    def health(self):
        status, body = self.json("GET", "/health")
        assert status == 200, "%s /health: %d %r" % (self.name, status, body)
        return body

    def served(self):
        """(version, hash) of the config the node serves."""
        body = self.health()
        return body["version"], body["hash"]

    def reload(self, timeout=HTTP_TIMEOUT):
        """POST /reload as a local operator makes it, unsigned on the
        control socket: (status, JSON answer)."""
        return self.json("POST", "/reload", body=b"", timeout=timeout, local=True)

    def push(self, body, source=None):
        """POST /sync: (status, JSON answer)."""
        return self.json(
            "POST", "/sync", body=body, headers={"Content-Type": "application/json"}, source=source
        )

    def config_raw(self):
        """(bytes, headers) of GET /config/raw."""
        status, headers, data = self.request("GET", "/config/raw")
        assert status == 200, "%s /config/raw: %d" % (self.name, status)
        return data, headers

    # -- the config file --

    def file_bytes(self):
        with open(self.config_path, "rb") as f:
            return f.read()

    def write_file(self, data):
        """Replace the config file as an editor that saves safely does."""
        tmp = self.config_path + ".edit"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, self.config_path)

    def set_address(self, name, value):
        """Edit the file: the A record of name gets value; nothing else moves."""
        self.write_file(with_address(self.file_bytes(), name, value))

    # -- DNS --

    def addresses(self, name):
        """The A records the node answers for name (sorted texts)."""
        answer = self.ask(name, "A")
        return harness.texts(harness.rrset(answer.answer, name, "A"))

    def wait_addresses(self, name, want, timeout, since=None):
        """Seconds from since (default: now) until the node answers name with
        [want]; None if it did not within timeout of since."""
        since = time.monotonic() if since is None else since
        while True:
            if self.addresses(name) == [want]:
                return time.monotonic() - since
            if time.monotonic() - since > timeout:
                return None
            time.sleep(POLL_INTERVAL)


def with_address(config, name, value):
    """config bytes with the value of the A record of name replaced."""
    pattern = re.compile(
        rb'(\{"name": "' + re.escape(name.encode()) + rb'", "type": "A", "value": ")[^"]*(")'
    )
    edited, count = pattern.subn(rb"\g<1>" + value.encode() + rb"\g<2>", config)
    assert count == 1, "record %s not found once in the config" % name
    return edited


# -- the cluster -------------------------------------------------------------------


class Cluster:
    """Three nodes set up by the compose init script from template (the
    config text with "@PEERS@" where the members go, and @MGMT_PORT@)."""

    def __init__(self, root, template):
        self.root = str(root)
        self.dns_port = free_port_on_all(HOSTS)
        self.mgmt_port = free_port_on_all(HOSTS, udp=False, avoid=(self.dns_port,))
        template_path = os.path.join(self.root, "nanodns.json.in")
        with open(template_path, "w") as f:
            f.write(template.replace("@MGMT_PORT@", str(self.mgmt_port)))
        names = ["node%d" % (i + 1) for i in range(len(HOSTS))]
        members = ["%s=%s:%d" % (n, h, self.mgmt_port) for n, h in zip(names, HOSTS)]
        proc = subprocess.run(
            ["/bin/sh", CLUSTER_INIT, template_path, self.root] + members,
            capture_output=True,
            text=True,
            timeout=30,
            env=dict(os.environ, NANODNS=harness.NANODNS),
        )
        assert proc.returncode == 0, "nanodns-cluster-init: exit %d\n%s%s" % (
            proc.returncode,
            proc.stdout,
            proc.stderr,
        )
        keys = {}
        for line in proc.stdout.splitlines():
            name, address, key = line.split()
            keys[name] = key
        self.nodes = []
        for name, host in zip(names, HOSTS):
            directory = os.path.join(self.root, name)
            # A data plane that dropped root (CI runs as root) must reach
            # its state directory: the tree must be traversable.
            os.chmod(directory, 0o755)
            self.nodes.append(Node(name, directory, host, self.dns_port, self.mgmt_port, keys[name]))

    def start(self):
        for node in self.nodes:
            node.start()
        return self

    def served(self):
        """[(version, hash)] of every running node."""
        return [node.served() for node in self.nodes if node.alive()]

    def wait_converged(self, timeout):
        """(version, hash) once every node serves the same config; None if
        they still differ after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            served = self.served()
            if len(set(served)) == 1:
                return served[0]
            if time.monotonic() > deadline:
                return None
            time.sleep(0.1)

    def wait_no_pull_due(self, length):
        """Wait (if needed) until no node pulls in the next length seconds:
        for a test that something did NOT reach a node."""
        while True:
            now = time.monotonic()
            if not any(n.alive() and n.pull_due(now, now + length) for n in self.nodes):
                return
            time.sleep(0.5)

    def close(self):
        """Stop every node; the problems found (unclean exits, sanitizer
        reports), as text lines."""
        problems = []
        for node in self.nodes:
            if node.alive():
                node.stop()
            node.kill()
            for rc in node.exit_codes:
                if rc != 0:
                    problems.append(
                        "%s: exit %r after SIGTERM (want 0); stderr:\n%s"
                        % (node.name, rc, node.all_stderr()[-4000:])
                    )
            report = harness.sanitizer_report(node.all_stderr())
            if report:
                problems.append("sanitizer report from %s:\n%s" % (node.name, report))
        return problems
