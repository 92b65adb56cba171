"""Helpers for the system tests: start the real nanodns binaries on loopback
and talk to them with independent clients (raw sockets, dnspython, kdig).

Every wait is bounded; nothing sleeps to synchronise. A Server owns the
process it starts and stops it (SIGTERM, then SIGKILL if it does not exit)."""

import http.client
import json
import os
import selectors
import shlex
import signal
import socket
import struct
import subprocess
import tempfile
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


def zone(apex, serial=1, **soa):
    """A "zones" entry for apex: ns1.<apex> its name server, hostmaster.<apex>
    its contact, the usual timers (soa overrides any of them)."""
    fields = {"mname": "ns1." + apex, "rname": "hostmaster." + apex, "serial": serial,
              "refresh": 3600, "retry": 900, "expire": 604800, "minimum": 300}
    fields.update(soa)
    return {"soa": fields, "ns": ["ns1." + apex]}


def forwarding_config(upstream, **server):
    """A config with no data of its own that forwards to upstream (a
    FakeUpstream), its cache on; server overrides any setting."""
    settings = dict(upstream=[upstream.address], cache_enabled=True)
    settings.update(server)
    return {"server": base_server(**settings), "zones": {}, "records": [], "rewrites": []}


def base_server(**overrides):
    """The "server" section the tests use: no forwarding, no API, no reload."""
    server = {
        "upstream": [],
        "mgmt_port": 0,
        # free_port finds a port free on 127.0.0.1; on 0.0.0.0 the same port
        # may be held by another test's client socket on 127.0.0.x
        "mgmt_host": "127.0.0.1",
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


def stop_servers(servers):
    """SIGTERM each server still running, then make sure none is left; what
    went wrong (an exit status other than 0, a sanitizer report), as a list
    of messages for the test's teardown to assert on."""
    problems = []
    for server in servers:
        if server.proc is not None and server.proc.returncode is None:
            rc = server.stop()
            if rc != 0:
                problems.append("exit %r after SIGTERM:\n%s" % (rc, server.stderr_text()))
        server.kill()
        report = sanitizer_report(server.stderr_text())
        if report:
            problems.append(report)
    return problems


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


def READY_LINE(line):
    """The control plane's "info: serving N records ..." line; a control
    plane on a broken file also logs "... serving the last good config" at
    start, before anything answers."""
    return CONTROL_PLANE_LINE(line) and "info: serving " in line


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
        self.env = None  # None: this process's environment
        self.popen_options = {}  # more subprocess.Popen arguments (extra_groups=...)
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
            env=self.env,
            **self.popen_options,
        )
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        if wait_ready:
            if not self.wait_for_line("serving ", READY_TIMEOUT, READY_LINE):
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

    def udp_raw(self, wire, timeout=QUERY_TIMEOUT, source=None):
        """Send one datagram (from the address source, if given); the
        answer's bytes, or None if none came."""
        with socket.socket(self.family, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            if source is not None:
                s.bind((source, 0))
            s.connect((self.host, self.port))
            s.send(wire)
            try:
                return s.recv(65535)
            except socket.timeout:
                return None

    def tcp_connect(self, timeout=QUERY_TIMEOUT, source=None):
        s = socket.create_connection(
            (self.host, self.port),
            timeout=timeout,
            source_address=(source, 0) if source is not None else None,
        )
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def tcp_raw(self, wire, timeout=QUERY_TIMEOUT, source=None):
        """One query on a new connection; the answer's bytes, or None."""
        with self.tcp_connect(timeout, source) as s:
            s.sendall(struct.pack("!H", len(wire)) + wire)
            try:
                return tcp_read_message(s)
            except socket.timeout:
                return None

    def query(self, q, proto="udp", timeout=QUERY_TIMEOUT, source=None):
        """Send a dnspython query (from the address source, if given); the
        parsed answer (AssertionError if none)."""
        wire = q.to_wire()
        if proto == "udp":
            data = self.udp_raw(wire, timeout, source)
        elif proto == "tcp":
            data = self.tcp_raw(wire, timeout, source)
        else:
            raise ValueError(proto)
        assert data is not None, "no answer over %s to %s" % (proto, q.question)
        return dns.message.from_wire(data)

    def ask(self, name, rdtype="A", proto="udp", source=None, timeout=QUERY_TIMEOUT, **kwargs):
        """Query name/rdtype with a fresh query (RD=1 as most stubs send)."""
        q = dns.message.make_query(name, rdtype, **kwargs)
        return self.query(q, proto, timeout, source)

    def udp_burst(self, wires, timeout=QUERY_TIMEOUT):
        """Send every datagram in wires at once, each from its own socket, then
        collect the answers: a list (in the order of wires) of (bytes or None,
        seconds from the first send to that answer)."""
        sockets = []
        try:
            for wire in wires:
                s = socket.socket(self.family, socket.SOCK_DGRAM)
                sockets.append(s)
                s.setblocking(False)
                s.connect((self.host, self.port))
            t0 = time.monotonic()
            for s, wire in zip(sockets, wires):
                s.send(wire)
            answers = [(None, None)] * len(sockets)
            pending = {s.fileno(): i for i, s in enumerate(sockets)}
            with selectors.DefaultSelector() as sel:
                for s in sockets:
                    sel.register(s, selectors.EVENT_READ)
                deadline = t0 + timeout
                while pending:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    for key, _ in sel.select(remaining):
                        i = pending.pop(key.fd, None)
                        if i is None:
                            continue
                        try:
                            answers[i] = (key.fileobj.recv(65535), time.monotonic() - t0)
                        except OSError:
                            pass
                        sel.unregister(key.fileobj)
            return answers
        finally:
            for s in sockets:
                s.close()


def http_get_json(port, path="/metrics", host="127.0.0.1", timeout=QUERY_TIMEOUT):
    """GET path from a node's management API; (status, parsed JSON body)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Accept": "application/json"})
        res = conn.getresponse()
        return res.status, json.loads(res.read())
    finally:
        conn.close()


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a UNIX stream socket (a node's control socket), with Host:
    localhost as curl --unix-socket sends. A path longer than sun_path (108
    octets) is reached through /proc/self/fd/N/NAME, as nanoctl does."""

    def __init__(self, socket_path, timeout=QUERY_TIMEOUT):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self):
        folder, name = os.path.split(self.socket_path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        dir_fd = os.open(folder or ".", os.O_PATH | os.O_DIRECTORY)
        try:
            sock.settimeout(self.timeout)
            address = self.socket_path
            if len(os.fsencode(address)) >= 108:
                address = "/proc/self/fd/%d/%s" % (dir_fd, name)
            sock.connect(address)
        except OSError:
            sock.close()
            raise
        finally:
            os.close(dir_fd)
        self.sock = sock


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


def ask_pipelined(server, qname, qtype, ids):
    """Queries for qname/qtype with these IDs sent together on one TCP
    connection (RFC 7766 §6.2.1.1), then as many answers read, parsed."""
    with server.tcp_connect() as s:
        for qid in ids:
            q = dns.message.make_query(qname, qtype)
            q.id = qid
            s.sendall(tcp_frame(q.to_wire()))
        return [dns.message.from_wire(tcp_read_message(s)) for _ in ids]


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


def kdig_serial(host, port, zone):
    """The SOA serial of zone as kdig gets it from host:port (an independent
    client: what caches and secondaries see)."""
    rc, out, err = kdig("@" + host, "-p", str(port), "+timeout=2", "+retry=0", "+short", zone, "SOA")
    fields = out.split()
    assert rc == 0 and len(fields) == 7, "kdig %s SOA: exit %d\n%s%s" % (zone, rc, out, err)
    return int(fields[2])


def run_nanodns(*args, timeout=20, cwd=None):
    """Run the nanodns CLI to completion; CompletedProcess with text output.
    A sanitizer report on its stderr fails the calling test."""
    proc = subprocess.run(
        [NANODNS] + list(args), capture_output=True, text=True, timeout=timeout, cwd=cwd
    )
    report = sanitizer_report(proc.stderr)
    assert not report, "nanodns %s:\n%s" % (" ".join(args), report)
    return proc


# -- the two planes as separate services, as systemd runs them ---------------
#
# systemd/ holds the units; these helpers start the binaries the way the units
# say (ExecStart read from the unit files, installed paths swapped for the
# build tree and a test's directories), so a test of "the services" tests the
# units' command lines too.

REPO_DIR = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SYSTEMD_DIR = os.path.join(REPO_DIR, "systemd")

# Installed paths the units name, replaced by unit_command().
UNIT_BINDIR = "/usr/local/bin/"
UNIT_STATE_DIR = "/var/lib/nanodns"
UNIT_CONFIG = "/etc/nanodns/nanodns.json"

# What nanodns.socket hands over: one FileDescriptorName for both sockets,
# UDP first (ListenDatagram= comes before ListenStream= in the unit).
LISTEN_FDNAMES = "dns:dns"


def public_tmpdir(prefix="nanodns-test-"):
    """A new directory in /tmp that any user may traverse (0755). pytest's
    directories are 0700: a data plane that dropped root could reach neither
    a state directory nor a notify socket inside them. The caller removes it
    (the public_tmp fixture does)."""
    path = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(path, 0o755)
    return path


def unit_file(name):
    """systemd/NAME as {section: [(key, value), ...]}, keys in file order
    (a key may repeat, as ListenStream= can)."""
    sections = {}
    current = None
    pending = ""
    with open(os.path.join(SYSTEMD_DIR, name)) as f:
        for raw in f:
            line = pending + raw.strip()
            pending = ""
            if line.endswith("\\"):  # continuation, systemd.syntax(7)
                pending = line[:-1] + " "
                continue
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                current = sections.setdefault(line[1:-1], [])
                continue
            assert current is not None, "%s: %r outside a section" % (name, line)
            key, _, value = line.partition("=")
            current.append((key.strip(), value.strip()))
    return sections


def unit_values(name, section, key):
    """Every value of key in that section of systemd/NAME, in order."""
    return [v for k, v in unit_file(name).get(section, []) if k == key]


def unit_command(name, key, state_dir, config_path=None):
    """The argv of the unit's ExecStart= (or another Exec*= key), pointed at
    the build tree, state_dir and config_path instead of the installed paths."""
    values = unit_values(name, "Service", key)
    assert len(values) == 1, "%s: want one %s=, found %r" % (name, key, values)
    argv = []
    for arg in shlex.split(values[0].lstrip("-@:+!")):
        if arg.startswith(UNIT_BINDIR):
            arg = os.path.join(BUILD_DIR, arg[len(UNIT_BINDIR) :])
        if config_path is not None:
            arg = arg.replace(UNIT_CONFIG, str(config_path))
        arg = arg.replace(UNIT_STATE_DIR, str(state_dir))
        argv.append(arg)
    return argv


def process_status(pid):
    """/proc/PID/status as {field: value text}."""
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def inet_sockets(pid):
    """The IPv4/IPv6 sockets pid holds: [(proto, local address, TCP state)],
    proto "udp", "udp6", "tcp" or "tcp6", state "0A" for a listening TCP."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = []
    for proto in ("udp", "udp6", "tcp", "tcp6"):
        with open("/proc/net/" + proto) as f:
            next(f)  # the column titles
            for line in f:
                cols = line.split()
                if cols[9] in inodes:
                    found.append((proto, cols[1], cols[3]))
    return found


class NotifySocket:
    """A NOTIFY_SOCKET the test owns, as systemd's: an AF_UNIX datagram
    socket; each datagram is VAR=VALUE lines (sd_notify(3)). The sender's pid
    comes from SCM_CREDENTIALS, which is how systemd applies NotifyAccess=main.
    Every message received is kept in self.messages as (pid, [lines])."""

    def __init__(self, directory):
        self.path = os.path.join(str(directory), "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        # A data plane that dropped root must still be able to send here.
        os.chmod(self.path, 0o777)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.messages = []

    def _receive(self, timeout):
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data, ancdata, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return False
        pid = None
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[:12])[0]
        lines = [line for line in data.decode("utf-8", "replace").split("\n") if line]
        self.messages.append((pid, lines))
        return True

    def wait_for(self, state, timeout, since=0, pid=None):
        """Index in self.messages of the first message at or after since (from
        pid, if given) with the line state ("READY=1"); None at timeout."""
        deadline = time.monotonic() + timeout
        i = since
        while True:
            while i < len(self.messages):
                sender, lines = self.messages[i]
                if (pid is None or sender == pid) and state in lines:
                    return i
                i += 1
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._receive(remaining)

    def drain(self, timeout=0.2):
        """Collect what arrives within timeout (a quiet period, for "nothing
        more was sent" checks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._receive(deadline - time.monotonic())

    def states(self, since=0, pid=None):
        """The lines of the messages from since on (from pid, if given)."""
        return [
            line
            for sender, lines in self.messages[since:]
            if pid is None or sender == pid
            for line in lines
        ]

    def close(self):
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


# Runs between fork and the data plane: puts the inherited sockets at 3 and 4
# and sets LISTEN_PID to its own pid, which execv keeps (sd_listen_fds(3)
# ignores descriptors meant for another pid). argv: UDP fd, TCP fd, command.
LISTEN_FDS_LAUNCHER = """
import fcntl, os, sys
udp, tcp = int(sys.argv[1]), int(sys.argv[2])
# Copies above 4 first, so that neither dup2 overwrites the other socket.
udp_copy = fcntl.fcntl(udp, fcntl.F_DUPFD, 10)
tcp_copy = fcntl.fcntl(tcp, fcntl.F_DUPFD, 10)
os.dup2(udp_copy, 3)
os.dup2(tcp_copy, 4)
for fd in {udp, tcp, udp_copy, tcp_copy} - {3, 4}:
    os.close(fd)
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[3], sys.argv[3:])
"""


class DataPlane(Server):
    """nanodns-dataplane started as systemd starts it from nanodns.socket:
    the test binds UDP and TCP on host:port and keeps them open (as the socket
    unit does, across restarts of the service), a launcher passes them as
    descriptors 3 and 4 (LISTEN_FDS=2, LISTEN_PID, LISTEN_FDNAMES), and
    NOTIFY_SOCKET is the test's. Ready when it sends READY=1. The command is
    nanodns-dataplane.service's ExecStart unless args is given."""

    def __init__(self, state_dir, notify, args=None, host="127.0.0.1"):
        self.tmpdir = self.state_dir = str(state_dir)
        self.host = host
        self.notify = notify
        self.args = (
            list(args)
            if args is not None
            else unit_command("nanodns-dataplane.service", "ExecStart", self.state_dir)
        )
        self.env = dict(
            os.environ, LISTEN_FDS="2", LISTEN_FDNAMES=LISTEN_FDNAMES, NOTIFY_SOCKET=notify.path
        )
        self.popen_options = {}
        self.proc = None
        self.lines = []
        self._cond = threading.Condition()
        self._eof = False
        self.dataplane_pids = set()
        self.udp, self.tcp = self._bind()
        self.port = self.udp.getsockname()[1]

    def _bind(self):
        """UDP and TCP on one free port, non-blocking as systemd makes them."""
        for _ in range(50):
            tcp = socket.socket(self.family, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((self.host, 0))
            udp = socket.socket(self.family, socket.SOCK_DGRAM)
            try:
                udp.bind((self.host, tcp.getsockname()[1]))
            except OSError:
                udp.close()
                tcp.close()
                continue
            tcp.listen(128)
            udp.setblocking(False)
            tcp.setblocking(False)
            return udp, tcp
        raise RuntimeError("no free port on " + self.host)

    def start(self, wait_ready=True):
        since = len(self.notify.messages)
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", "-I", "-c", LISTEN_FDS_LAUNCHER]
            + [str(self.udp.fileno()), str(self.tcp.fileno())]
            + self.args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=self.env,
            pass_fds=(self.udp.fileno(), self.tcp.fileno()),
            **self.popen_options,
        )
        self._eof = False
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        if wait_ready and self.notify.wait_for(
            "READY=1", READY_TIMEOUT, since=since, pid=self.proc.pid
        ) is None:
            rc = self.proc.poll()
            self.kill()
            raise RuntimeError(
                "nanodns-dataplane sent no READY=1 within %ss (exit %s); notifications %r; "
                "stderr:\n%s"
                % (READY_TIMEOUT, rc, self.notify.states(since), self.stderr_text())
            )
        return self

    def close(self):
        """Stop for good: kill if still running, and close the sockets."""
        self.kill()
        self.udp.close()
        self.tcp.close()


class ControlPlane(Server):
    """`nanodns start` as nanodns.service runs it (ExecStartPre and ExecStart
    of the unit): --external-dataplane, so it opens no DNS socket and starts
    no data plane; it publishes into state_dir and signals the data plane
    that runs there. Ready when it sends READY=1 (Type=notify). The config
    file is tmpdir/nanodns.json, rewritten by each new ControlPlane."""

    def __init__(self, tmpdir, config, state_dir, notify):
        super().__init__(tmpdir, config)
        self.state_dir = str(state_dir)
        self.notify = notify
        self.check_args = unit_command(
            "nanodns.service", "ExecStartPre", self.state_dir, self.config_path
        )
        self.args = unit_command("nanodns.service", "ExecStart", self.state_dir, self.config_path)
        self.env = dict(os.environ, NOTIFY_SOCKET=notify.path)

    def start(self, wait_ready=True):
        check = subprocess.run(self.check_args, capture_output=True, text=True, timeout=20)
        if check.returncode != 0:
            raise RuntimeError(
                "ExecStartPre %s: exit %d\n%s%s"
                % (" ".join(self.check_args), check.returncode, check.stdout, check.stderr)
            )
        since = len(self.notify.messages)
        Server.start(self, wait_ready=False)
        if wait_ready and self.notify.wait_for(
            "READY=1", READY_TIMEOUT, since=since, pid=self.proc.pid
        ) is None:
            rc = self.proc.poll()
            self.kill()
            raise RuntimeError(
                "nanodns start --external-dataplane sent no READY=1 within %ss (exit %s); "
                "stderr:\n%s" % (READY_TIMEOUT, rc, self.stderr_text())
            )
        return self
