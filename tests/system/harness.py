"""Helpers for the system tests: start the real nanodns binaries on loopback
and talk to them with independent clients (raw sockets, dnspython, kdig).

Every wait is bounded; nothing sleeps to synchronise. A Server owns the
process it starts and stops it (SIGTERM, then SIGKILL if it does not exit)."""

import json
import os
import signal
import socket
import struct
import subprocess
import threading
import time

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

BUILD_DIR = os.environ.get(
    "NANODNS_BUILD_DIR",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build"),
)
NANODNS = os.path.join(BUILD_DIR, "nanodns")
DATAPLANE = os.path.join(BUILD_DIR, "nanodns-dataplane")
KDIG = "/usr/bin/kdig"

READY_TIMEOUT = 10.0  # seconds until the control plane says "serving "
STOP_TIMEOUT = 5.0  # seconds for a clean exit after SIGTERM
QUERY_TIMEOUT = 2.0  # seconds for any answer


def free_port(host="127.0.0.1"):
    """A port free for both UDP and TCP on host (bound, then released)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(50):
        tcp = socket.socket(family, socket.SOCK_STREAM)
        try:
            tcp.bind((host, 0))
            port = tcp.getsockname()[1]
            udp = socket.socket(family, socket.SOCK_DGRAM)
            try:
                udp.bind((host, port))
            except OSError:
                continue
            finally:
                udp.close()
            return port
        finally:
            tcp.close()
    raise RuntimeError("no free port on " + host)


def base_server(**overrides):
    """The "server" section the tests use: no forwarding, no API, no reload."""
    server = {
        "upstream": [],
        "mgmt_port": 0,
        "hot_reload": False,
        "log_queries": False,
    }
    server.update(overrides)
    return server


def write_config(directory, config, name="nanodns.json"):
    path = os.path.join(str(directory), name)
    with open(path, "w") as f:
        if isinstance(config, str):
            f.write(config)
        else:
            json.dump(config, f, indent=2)
    return path


def child_pids(pid):
    """Direct children of pid, from /proc (all threads' children files)."""
    pids = set()
    task_dir = "/proc/%d/task" % pid
    try:
        tasks = os.listdir(task_dir)
    except OSError:
        return pids
    for tid in tasks:
        try:
            with open(os.path.join(task_dir, tid, "children")) as f:
                pids.update(int(p) for p in f.read().split())
        except OSError:
            pass
    return pids


def process_gone(pid):
    """True when pid no longer runs (absent, or a zombie nobody reaped yet)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return True
    state = stat[stat.rindex(")") + 2]
    return state in ("Z", "X")


def wait_gone(pid, timeout=STOP_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process_gone(pid):
            return True
        time.sleep(0.02)  # polling /proc: there is no event to wait on
    return process_gone(pid)


SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error:")


def sanitizer_report(text):
    """The lines of text that come from ASan/UBSan ("" when there are none)."""
    lines = text.splitlines()
    hits = [i for i, line in enumerate(lines) if any(m in line for m in SANITIZER_MARKERS)]
    if not hits:
        return ""
    return "\n".join(lines[hits[0] : hits[0] + 40])


def CONTROL_PLANE_LINE(line):
    """The data plane logs "serving image ..." on the same stderr; readiness
    is the control plane's line, written once the data plane answers."""
    return "nanodns-dataplane" not in line


class Server:
    """One `nanodns start` process. Use start() then stop(); stderr is
    collected by a reader thread (so the pipe never fills)."""

    def __init__(self, tmpdir, config, host="127.0.0.1", port=None, extra_args=()):
        self.tmpdir = str(tmpdir)
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.config_path = write_config(self.tmpdir, config)
        self.state_dir = os.path.join(self.tmpdir, "state")
        os.makedirs(self.state_dir, exist_ok=True)
        self.args = [
            NANODNS,
            "start",
            "--config",
            self.config_path,
            "--host",
            host,
            "--port",
            str(self.port),
            "--state-dir",
            self.state_dir,
        ] + list(extra_args)
        self.proc = None
        self.lines = []
        self._cond = threading.Condition()
        self._eof = False
        self.dataplane_pids = set()

    # -- lifecycle ---------------------------------------------------------

    def start(self, wait_ready=True):
        self.proc = subprocess.Popen(
            self.args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        if wait_ready:
            if not self.wait_for_line("serving ", READY_TIMEOUT, CONTROL_PLANE_LINE):
                rc = self.proc.poll()
                self.kill()
                raise RuntimeError(
                    "nanodns did not report 'serving ' within %ss (exit %s); stderr:\n%s"
                    % (READY_TIMEOUT, rc, self.stderr_text())
                )
            self.dataplane_pids = child_pids(self.proc.pid)
        return self

    def _read_stderr(self):
        for raw in iter(self.proc.stderr.readline, b""):
            with self._cond:
                self.lines.append(raw.decode("utf-8", "replace"))
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def wait_for_line(self, needle, timeout, accept=lambda line: True):
        """Wait until a stderr line contains needle (and passes accept);
        False at timeout or exit."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if any(needle in line and accept(line) for line in self.lines):
                    return True
                remaining = deadline - time.monotonic()
                if self._eof or remaining <= 0:
                    return False
                self._cond.wait(remaining)

    def wait_exit(self, timeout):
        """Exit code, or None if still running after timeout."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self._reader.join(timeout=2)
        return rc

    def stderr_text(self):
        with self._cond:
            return "".join(self.lines)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM, wait; returns the exit code (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.wait_exit(STOP_TIMEOUT)
        if rc is None:
            self.kill()
        return rc

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        # A data plane we started (through nanodns) must not outlive a test run.
        for pid in self.dataplane_pids:
            if not process_gone(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    # -- queries -----------------------------------------------------------

    @property
    def family(self):
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    def udp_raw(self, wire, timeout=QUERY_TIMEOUT):
        """Send one datagram; the answer's bytes, or None if none came."""
        with socket.socket(self.family, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.connect((self.host, self.port))
            s.send(wire)
            try:
                return s.recv(65535)
            except socket.timeout:
                return None

    def tcp_connect(self, timeout=QUERY_TIMEOUT):
        s = socket.create_connection((self.host, self.port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def tcp_raw(self, wire, timeout=QUERY_TIMEOUT):
        """One query on a new connection; the answer's bytes, or None."""
        with self.tcp_connect(timeout) as s:
            s.sendall(struct.pack("!H", len(wire)) + wire)
            try:
                return tcp_read_message(s)
            except socket.timeout:
                return None

    def query(self, q, proto="udp", timeout=QUERY_TIMEOUT):
        """Send a dnspython query; the parsed answer (AssertionError if none)."""
        wire = q.to_wire()
        if proto == "udp":
            data = self.udp_raw(wire, timeout)
        elif proto == "tcp":
            data = self.tcp_raw(wire, timeout)
        else:
            raise ValueError(proto)
        assert data is not None, "no answer over %s to %s" % (proto, q.question)
        return dns.message.from_wire(data)

    def ask(self, name, rdtype="A", proto="udp", **kwargs):
        """Query name/rdtype with a fresh query (RD=1 as most stubs send)."""
        q = dns.message.make_query(name, rdtype, **kwargs)
        return self.query(q, proto)


def recv_exact(sock, n):
    """n octets from sock, or fewer if the peer closed first."""
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def tcp_read_message(sock):
    """One length-prefixed DNS message; None when the peer closed first."""
    head = recv_exact(sock, 2)
    if len(head) < 2:
        return None
    (length,) = struct.unpack("!H", head)
    body = recv_exact(sock, length)
    if len(body) < length:
        return None
    return body


def tcp_frame(wire):
    return struct.pack("!H", len(wire)) + wire


# -- raw header access (independent of any parser) ---------------------------


class Header:
    def __init__(self, data):
        assert data is not None and len(data) >= 12, "answer shorter than a header"
        (self.id, self.flags, self.qdcount, self.ancount, self.nscount, self.arcount) = (
            struct.unpack("!HHHHHH", data[:12])
        )

    @property
    def rcode(self):
        return self.flags & 0xF

    @property
    def opcode(self):
        return (self.flags >> 11) & 0xF

    def has(self, bit):
        return bool(self.flags & bit)


def build_header(qid=0x1234, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def encode_name(text):
    out = b""
    for label in text.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def build_query(name, qtype=1, qclass=1, qid=0x1234, flags=0x0100, qd=1):
    return build_header(qid, flags, qd) + encode_name(name) + struct.pack("!HH", qtype, qclass)


# -- dnspython conveniences -------------------------------------------------


def rrset(msg_section, name, rdtype):
    """The RRset of that name and type in a section, or None."""
    want_name = dns.name.from_text(name)
    want_type = dns.rdatatype.from_text(rdtype) if isinstance(rdtype, str) else rdtype
    for rs in msg_section:
        if rs.name == want_name and rs.rdtype == want_type:
            return rs
    return None


def texts(rs):
    return sorted(rd.to_text() for rd in rs) if rs is not None else []


def kdig(*args, timeout=10):
    """Run kdig with the given arguments; (returncode, stdout, stderr)."""
    proc = subprocess.run(
        [KDIG] + list(args), capture_output=True, text=True, timeout=timeout
    )
    return proc.returncode, proc.stdout, proc.stderr


def run_nanodns(*args, timeout=20, cwd=None):
    """Run the nanodns CLI to completion; CompletedProcess with text output.
    A sanitizer report on its stderr fails the calling test."""
    proc = subprocess.run(
        [NANODNS] + list(args), capture_output=True, text=True, timeout=timeout, cwd=cwd
    )
    report = sanitizer_report(proc.stderr)
    assert not report, "nanodns %s:\n%s" % (" ".join(args), report)
    return proc

