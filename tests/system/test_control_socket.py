"""The node's control socket, STATE_DIR/control.sock (issue 12, finding 6):
the local channel on which `nanoctl` (or curl --unix-socket) changes a node
without a signature, as knotc uses knot.sock. Only the node's own user and
root may connect (mode 0600); over TCP, even from loopback, an unsigned
change is refused, since any local user and any web page can reach a
loopback port.

Written as an attacker on the same host would probe it: another user, a
file planted where the socket goes, a forged local client header, a client
that connects and never finishes its request."""

import json
import os
import shutil
import socket
import stat
import subprocess
import time

import pytest

import harness
from api_client import NodeKey, curl, make_config, write_file
from test_api import Api, control, control_socket

NANOCTL = os.path.join(harness.BUILD_DIR, "nanoctl")
RUN_TIMEOUT = 20  # seconds for one nanoctl run, far above its own --timeout
OK, NODE_FAILURE, UNREACHABLE = 0, 1, 3  # nanoctl exit statuses
NOBODY = 65534
SUN_PATH_MAX = 108  # sizeof(sockaddr_un.sun_path) on Linux


def nanoctl(*args, env=None, cwd=None):
    """Run nanoctl to completion; CompletedProcess with text output.
    NANOCTL_SOCKET names nothing unless env sets it, so a node on this
    machine is never asked."""
    proc = subprocess.run(
        [NANOCTL] + [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        cwd=cwd,
        env={**os.environ, "NANOCTL_SOCKET": "/nonexistent/nanoctl-tests/control.sock",
             **(env or {})},
    )
    report = harness.sanitizer_report(proc.stderr)
    assert not report, "nanoctl %s:\n%s" % (" ".join(map(str, args)), report)
    return proc


class Nodes:
    """Nodes in folders of root (0755 all the way down: a data plane that
    runs as nobody must reach its state directory). Every node started must
    stop cleanly: exit 0 after SIGTERM, no sanitizer report."""

    def __init__(self, root):
        self.root = root
        self.servers = []

    def make(self, folder=None, mgmt_port=None, files=None, **config_kwargs):
        """A harness.Server not started yet, with its folder and state
        directory made (for a test to plant things in); server.api is its
        TCP API (None with mgmt_port 0)."""
        directory = self.root / (folder or "node%d" % len(self.servers))
        directory.mkdir(mode=0o755, parents=True)
        for name, data in (files or {}).items():
            fd = os.open(str(directory / name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        port = harness.free_port() if mgmt_port is None else mgmt_port
        server = harness.Server(directory, make_config(port, **config_kwargs))
        server.api = Api(port) if port else None
        self.servers.append(server)
        return server

    def start(self, **kwargs):
        return self.make(**kwargs).start()

    def again(self, server):
        """A new run on server's folder and state directory (its config as
        the file holds it now), started."""
        with open(server.config_path) as f:
            config = json.load(f)
        again = harness.Server(server.tmpdir, config)
        again.api = server.api
        self.servers.append(again)
        return again.start()

    def start_keyed(self):
        """A node with a sync key and itself in peers: (server, key)."""
        key = NodeKey()
        port = harness.free_port()
        peers = [{"address": "127.0.0.1:%d" % port, "public_key": key.public_text}]
        server = self.start(mgmt_port=port, files={"node.key": key.file_bytes()}, peers=peers,
                            sync_key="node.key")
        return server, key

    def close(self):
        return harness.stop_servers(self.servers)


@pytest.fixture
def nodes(public_tmp):
    group = Nodes(public_tmp)
    yield group
    problems = group.close()
    assert not problems, "\n".join(problems)


def edit(server):
    """A real change waiting in the node's file: a reload that is taken
    publishes version 2."""
    with open(server.config_path) as f:
        config = json.load(f)
    config["records"] = [{"name": "edited.x.test", "type": "A", "value": "10.0.9.9"}]
    write_file(server, config)


def line_with(text, label):
    """The output line that starts with label ("" when none)."""
    return next((line for line in text.splitlines() if line.startswith(label)), "")


def served_version(server):
    """The version the node serves, asked on its control socket (TCP may be off)."""
    status, body = control(server).get("/health")
    assert status == 200, body
    return body["version"]


# -- the socket file ---------------------------------------------------------------


def test_the_socket_is_there_after_start_with_mode_0600_and_the_nodes_owner(nodes):
    server = nodes.start()
    st = os.lstat(control_socket(server))
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert (st.st_uid, st.st_gid) == (os.geteuid(), os.getegid())
    assert served_version(server) == 1


def test_a_clean_stop_removes_the_socket(nodes):
    server = nodes.start()
    assert os.path.lexists(control_socket(server))
    assert server.stop() == 0, server.stderr_text()
    assert not os.path.lexists(control_socket(server))


def test_a_stale_socket_is_replaced_at_start(nodes):
    # What a node killed without a clean stop leaves: a socket file nobody
    # listens on (made 0666 here, so that keeping it would show).
    server = nodes.make()
    path = control_socket(server)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale:
        stale.bind(path)
    os.chmod(path, 0o666)
    server.start()
    st = os.lstat(path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert served_version(server) == 1


def test_a_node_killed_leaves_a_socket_the_next_start_replaces(nodes):
    server = nodes.start()
    server.kill()  # SIGKILL: no clean stop, the socket file stays
    assert os.path.lexists(control_socket(server))
    again = nodes.again(server)
    proc = nanoctl("-S", control_socket(again), "status")
    assert proc.returncode == OK, proc.stderr


def plant(kind, path, root):
    """Put something that is not a socket at path; a function telling
    whether it is still there untouched."""
    if kind == "regular file":
        with open(path, "w") as f:
            f.write("an operator's notes\n")
        return lambda: open(path).read() == "an operator's notes\n"
    if kind == "directory":
        os.mkdir(path)
        with open(os.path.join(path, "inside"), "w") as f:
            f.write("x")
        return lambda: os.path.isfile(os.path.join(path, "inside"))
    # A symbolic link to a socket elsewhere: not followed, not replaced.
    target = str(root / "elsewhere.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as other:
        other.bind(target)
    os.symlink(target, path)
    return lambda: os.readlink(path) == target and stat.S_ISSOCK(os.lstat(target).st_mode)


@pytest.mark.parametrize("kind", ["regular file", "directory", "symbolic link"])
def test_something_else_at_the_socket_path_fails_the_start_and_is_left_alone(nodes, kind):
    server = nodes.make()
    path = control_socket(server)
    untouched = plant(kind, path, nodes.root)
    server.start(wait_ready=False)
    rc = server.wait_exit(harness.READY_TIMEOUT)
    assert rc == 1, "exit %r; stderr:\n%s" % (rc, server.stderr_text())
    assert path in server.stderr_text()
    assert untouched(), "%s at %s was changed" % (kind, path)


def test_a_second_node_on_the_same_state_directory_leaves_the_socket_alone(nodes):
    # It may replace a socket only while it holds the state directory's
    # lock: the running node's socket is not stale.
    server = nodes.start()
    path = control_socket(server)
    before = os.lstat(path)
    with open(server.config_path) as f:
        config = json.load(f)
    config["server"]["mgmt_port"] = harness.free_port()  # its TCP API would bind
    (nodes.root / "second").mkdir(mode=0o755)
    second = harness.Server(nodes.root / "second", config)
    second.args[second.args.index("--state-dir") + 1] = server.state_dir
    nodes.servers.append(second)
    second.start(wait_ready=False)
    rc = second.wait_exit(harness.READY_TIMEOUT)
    assert rc not in (0, None), second.stderr_text()
    assert "in use by another nanodns" in second.stderr_text()
    after = os.lstat(path)
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)
    assert served_version(server) == 1


def test_a_state_directory_longer_than_sun_path_works(nodes):
    server = nodes.make(folder="n" * 60 + "/" + "d" * 60)
    path = control_socket(server)
    assert len(os.fsencode(path)) > SUN_PATH_MAX
    server.start()
    st = os.lstat(path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    proc = nanoctl("-S", path, "status")
    assert proc.returncode == OK, proc.stderr
    assert line_with(proc.stdout, "node:").split()[1:] == [path], proc.stdout
    assert server.stop() == 0, server.stderr_text()
    assert not os.path.lexists(path)


# -- who may use it ------------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user needs root")
def test_another_local_user_cannot_use_the_socket(nodes):
    server = nodes.start()
    path = control_socket(server)
    edit(server)
    # nanoctl where nobody may run it; and nobody reaches the socket file
    # itself (every folder on the way is 0755): only its mode refuses.
    client = str(nodes.root / "nanoctl")
    shutil.copy(NANOCTL, client)
    seen = subprocess.run(["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY,
                           "--clear-groups", "--", "test", "-S", path], timeout=RUN_TIMEOUT)
    assert seen.returncode == 0, "nobody cannot even see %s: the test proves nothing" % path

    for command in ("reload", "status"):
        proc = subprocess.run(
            ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups", "--",
             client, "-S", path, command],
            capture_output=True, text=True, timeout=RUN_TIMEOUT,
        )
        assert not harness.sanitizer_report(proc.stderr), proc.stderr
        assert proc.returncode == UNREACHABLE, (command, proc.returncode, proc.stderr)
        assert "Permission denied" in proc.stderr, proc.stderr
    assert served_version(server) == 1


def test_an_unsigned_reload_on_the_socket_is_taken(nodes):
    server = nodes.start()
    edit(server)
    proc = subprocess.run(
        ["curl", "-sS", "--max-time", "10", "-X", "POST", "--unix-socket", control_socket(server),
         "-w", "\n%{http_code}", "http://localhost/reload"],
        capture_output=True, text=True, timeout=RUN_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr
    body, _, code = proc.stdout.rpartition("\n")
    assert (int(code), json.loads(body)["status"]) == (200, "reloaded"), proc.stdout
    assert served_version(server) == 2


@pytest.mark.parametrize(
    "headers",
    [[], ["X-Requested-By: nanoctl"], ["User-Agent: nanoctl/1.0", "Accept: application/json"],
     ["Content-Type: application/x-www-form-urlencoded"], ["Host: localhost"]],
    ids=["bare", "X-Requested-By", "nanoctl headers", "an HTML form", "Host localhost"],
)
def test_an_unsigned_reload_over_tcp_from_loopback_is_403(nodes, headers):
    server = nodes.start()
    edit(server)
    status, body = curl(server.api, "POST", "/reload", headers)
    assert status == 403, body
    answer = json.loads(body)
    assert answer["status"] == "forbidden"
    assert "control socket" in answer["reason"] and control_socket(server) in answer["reason"]
    assert served_version(server) == 1


def test_nanoctl_reload_over_tcp_without_a_key_exits_1_with_the_reason(nodes):
    server = nodes.start()
    edit(server)
    proc = nanoctl("-v", "-s", "127.0.0.1:%d" % server.api.port, "reload")
    assert proc.returncode == NODE_FAILURE, proc.stderr
    assert "403" in proc.stderr
    assert "control socket" in proc.stderr and control_socket(server) in proc.stderr
    assert "reload is unsigned" in proc.stderr  # -v said so before sending it
    assert served_version(server) == 1


def test_nanoctl_reload_over_tcp_signed_with_the_nodes_key_is_taken(nodes):
    server, _ = nodes.start_keyed()
    key_file = os.path.join(server.tmpdir, "node.key")
    edit(server)
    proc = nanoctl("-v", "-s", "127.0.0.1:%d" % server.api.port, "--key", key_file, "reload")
    assert proc.returncode == OK, proc.stderr
    assert proc.stdout.startswith("reloaded: version 2,"), proc.stdout
    assert "reload is signed with %s (--key)" % key_file in proc.stderr

    # -c: the address and server.sync_key from the config, as the node reads it.
    with open(server.config_path) as f:
        config = json.load(f)
    config["records"].append({"name": "again.x.test", "type": "A", "value": "10.0.9.10"})
    write_file(server, config)
    proc = nanoctl("-c", server.config_path, "reload")
    assert proc.returncode == OK, proc.stderr
    assert proc.stdout.startswith("reloaded: version 3,"), proc.stdout


def test_a_reload_signed_by_a_key_the_node_does_not_list_is_refused(nodes, tmp_path):
    server, _ = nodes.start_keyed()
    stranger = tmp_path / "stranger.key"
    stranger.write_bytes(NodeKey().file_bytes())
    os.chmod(stranger, 0o600)
    edit(server)
    proc = nanoctl("-s", "127.0.0.1:%d" % server.api.port, "--key", stranger, "reload")
    assert proc.returncode == NODE_FAILURE, proc.stderr
    assert "401" in proc.stderr
    assert served_version(server) == 1


# -- how nanoctl finds it ----------------------------------------------------------------


def test_nanoctl_finds_the_node_through_nanoctl_socket_and_reloads_unsigned(nodes, tmp_path):
    server = nodes.start()
    edit(server)
    env = {"NANOCTL_SOCKET": control_socket(server),
           "NANOCTL_SYSTEM_CONFIG": str(tmp_path / "absent.json")}
    proc = nanoctl("-v", "reload", env=env, cwd=tmp_path)
    assert proc.returncode == OK, proc.stderr
    assert proc.stdout.startswith("reloaded: version 2,"), proc.stdout
    assert proc.stderr.splitlines() == [
        "nanoctl: using %s (the control socket, from NANOCTL_SOCKET)" % control_socket(server),
        "nanoctl: reload goes over the control socket, unsigned",
    ]
    assert served_version(server) == 2


def test_the_socket_works_with_the_tcp_api_off(nodes):
    server = nodes.start(mgmt_port=0)
    assert not any("management API on" in line for line in server.lines), server.stderr_text()
    proc = nanoctl("-S", control_socket(server), "status")
    assert proc.returncode == OK, proc.stderr
    assert line_with(proc.stdout, "version:").split()[1] == "1", proc.stdout
    edit(server)
    proc = nanoctl("-S", control_socket(server), "reload")
    assert proc.returncode == OK, proc.stderr
    assert served_version(server) == 2


# -- slow and greedy local clients --------------------------------------------------------

HALF_REQUEST = b"GET /health HTTP/1.1\r\nHost: localhost\r\n"  # and never the blank line


def connect_local(path, timeout=5.0):
    """A client connected to path. A UNIX socket's connect fails at once
    (EAGAIN) while the listen backlog is full: retried until the node has
    accepted enough (no event tells when), up to timeout."""
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(path)
            s.settimeout(10)
            return s
        except BlockingIOError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def test_half_requests_on_the_socket_do_not_hold_up_nanoctl_or_tcp(nodes):
    # More than the API's 64 connections, each one stuck in its headers.
    server = nodes.start()
    path = control_socket(server)
    stuck = []
    try:
        for _ in range(80):
            s = connect_local(path)
            s.sendall(HALF_REQUEST)
            stuck.append(s)
        started = time.monotonic()
        proc = nanoctl("-S", path, "--timeout", "2", "status")
        took = time.monotonic() - started
        assert proc.returncode == OK, proc.stderr
        assert took < 1.0, "nanoctl status took %.2f s" % took
        started = time.monotonic()
        status, body = server.api.get("/health", timeout=1.0)
        took = time.monotonic() - started
        assert status == 200 and took < 1.0, (status, took)
    finally:
        for s in stuck:
            s.close()


def test_a_half_request_on_the_socket_is_closed_at_the_deadline(nodes):
    # The 5 s whole-request deadline holds on the control socket as on TCP.
    server = nodes.start()
    with connect_local(control_socket(server)) as s:
        s.sendall(HALF_REQUEST)
        started = time.monotonic()
        assert s.recv(4096) == b""
        assert 4 <= time.monotonic() - started <= 8
    assert served_version(server) == 1


def never_accepting(path):
    """A listener at path that never accepts, its backlog full: a node whose
    control plane hangs (stopped, blocked). (listener, the clients)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    clients = []
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(path)
        except BlockingIOError:
            s.close()
            return listener, clients
        clients.append(s)


@pytest.mark.parametrize("how", ["-S", "NANOCTL_SOCKET"])
def test_a_hung_node_does_not_hang_nanoctl_past_its_timeout(tmp_path, how):
    path = str(tmp_path / "control.sock")
    listener, clients = never_accepting(path)
    args = ["-S", path] if how == "-S" else []
    # Where the search goes on: a port nobody listens on, refused at once.
    harness.write_config(tmp_path, {"server": {"mgmt_host": "127.0.0.1",
                                               "mgmt_port": harness.free_port()}})
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [NANOCTL] + args + ["--timeout", "1", "status"], capture_output=True, text=True,
            timeout=5, cwd=tmp_path,
            env={**os.environ, "NANOCTL_SOCKET": path,
                 "NANOCTL_SYSTEM_CONFIG": str(tmp_path / "absent.json")},
        )
    finally:
        for s in clients + [listener]:
            s.close()
    assert time.monotonic() - started < 3
    # Either way nothing answers: -S names that node, and the search takes
    # a socket whose backlog is full for a node that is there (busy or
    # hung); nanoctl asks it again until --timeout, then exits 3.
    assert proc.returncode == UNREACHABLE, proc.stderr


# -- the data plane ----------------------------------------------------------------------


def listening_inode(path):
    """The inode of the socket listening at path, from /proc/net/unix."""
    with open("/proc/net/unix") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if len(fields) >= 8 and fields[7] == path:
                return fields[6]
    raise AssertionError("nothing listens at %s in /proc/net/unix" % path)


def test_the_data_plane_does_not_hold_the_control_socket(nodes):
    # The data plane runs as nobody; the control socket must not leak into
    # it (close-on-exec), or it could take nanoctl's requests.
    server = nodes.start()
    inode = listening_inode(control_socket(server))
    assert server.dataplane_pids
    for pid in server.dataplane_pids:
        fd_dir = "/proc/%d/fd" % pid
        links = {os.readlink(os.path.join(fd_dir, fd)) for fd in os.listdir(fd_dir)}
        assert "socket:[%s]" % inode not in links, (pid, sorted(links))
