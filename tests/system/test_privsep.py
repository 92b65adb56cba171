"""Privilege separation, as root (CI runs the system tests as root).
`nanodns start` keeps root and runs the data plane as an unprivileged user:
server.user, by default nanodns when that user exists, else nobody; with no
supplementary groups, no capabilities and no_new_privs. The state
directory, the image and the config are root's and read-only to that user:
the data plane reads its image but can change neither it nor the config.
A data plane started as root on its own (as with LISTEN_FDS from another
process) drops privileges the same way."""

import http.client
import json
import os
import pwd
import shutil
import signal
import subprocess
import time

import pytest

import harness
from harness import rrset, texts

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="the data plane drops privileges only when started as root; "
    "CI runs the system tests as root",
)


def config(address="10.0.0.1", **server):
    return {
        "server": harness.base_server(**server),
        "zones": {
            "x.test": {
                "soa": {
                    "mname": "ns1.x.test",
                    "rname": "hostmaster.x.test",
                    "serial": 1,
                    "refresh": 3600,
                    "retry": 900,
                    "expire": 604800,
                    "minimum": 300,
                },
                "ns": ["ns1.x.test"],
            }
        },
        "records": [{"name": "www.x.test", "type": "A", "value": address, "ttl": 300}],
        "rewrites": [],
    }


# Given to `nanodns start`: groups the data plane must not keep (daemon, adm).
EXTRA_GROUPS = [1, 4]


def default_user():
    """What the data plane runs as when server.user is not set."""
    for name in ("nanodns", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
    pytest.fail("neither a nanodns nor a nobody user on this machine", pytrace=False)


def user_or_skip(name):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pytest.skip("no user %s on this machine" % name)


@pytest.fixture
def start(public_tmp):
    """start(config) -> a running `nanodns start` whose state directory and
    config are in a directory the data plane's user can traverse."""
    servers = []

    def start(config, prefix=(), owner=None):
        """prefix: a command `nanodns start` runs under (setpriv ...);
        owner: a pwd entry that then owns the directory and its files."""
        directory = public_tmp / ("server%d" % len(servers))
        directory.mkdir(mode=0o755)
        server = harness.Server(directory, config)
        if owner is not None:
            for path in (str(directory), server.state_dir, server.config_path):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        if prefix:
            # The build tree may be where that user cannot go (a checkout in
            # /root is 0700): run copies from the public directory, as from an
            # installed bindir (nanodns finds the data plane beside itself).
            bindir = public_tmp / "bin"
            if not bindir.exists():
                bindir.mkdir(mode=0o755)
                for binary in (harness.NANODNS, harness.DATAPLANE):
                    shutil.copy2(binary, str(bindir))
            assert server.args[0] == harness.NANODNS, server.args
            server.args[0] = str(bindir / "nanodns")
        server.args = list(prefix) + server.args
        # Supplementary groups the drop must clear (root's own may be none).
        server.popen_options = {"extra_groups": EXTRA_GROUPS}
        servers.append(server)
        return server.start()

    yield start

    problems = []
    for server in servers:
        if server.proc is None or server.proc.returncode is not None:
            continue
        server.dataplane_pids |= harness.child_pids(server.proc.pid)
        rc = server.stop()
        gone = all(harness.wait_gone(pid) for pid in server.dataplane_pids)
        server.kill()
        if rc != 0 or not gone:
            problems.append(
                "stop: exit %r, data plane gone: %s; stderr:\n%s" % (rc, gone, server.stderr_text())
            )
        report = harness.sanitizer_report(server.stderr_text())
        if report:
            problems.append(report)
    assert not problems, "\n".join(problems)


def data_plane(server):
    children = harness.child_pids(server.proc.pid)
    assert len(children) == 1, "data plane processes: %r" % sorted(children)
    return next(iter(children))


def ids(status, field):
    """Real, effective, saved and filesystem ids from a Uid: or Gid: line."""
    return [int(x) for x in status[field].split()]


def addresses(plane, proto="udp"):
    return texts(rrset(plane.ask("www.x.test", "A", proto).answer, "www.x.test", "A"))


def try_writes_as(uid, gid, paths, directory):
    """From a process with the data plane's uid and gid and no supplementary
    groups: for each path, whether it could be opened for writing, and
    whether a file could be created in directory."""
    probe = r"""
import json, os, sys
paths, directory = json.loads(sys.argv[1]), sys.argv[2]
result = {}
for path in paths:
    try:
        os.close(os.open(path, os.O_WRONLY))
        result[path] = "writable"
    except PermissionError:
        result[path] = "denied"
try:
    fd = os.open(os.path.join(directory, "intruder"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.close(fd)
    result[directory] = "writable"
except PermissionError:
    result[directory] = "denied"
print(json.dumps(result))
"""
    proc = subprocess.run(
        ["/usr/bin/python3", "-I", "-c", probe, json.dumps(paths), directory],
        user=uid,
        group=gid,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


# -- nanodns start as root ---------------------------------------------------


def test_data_plane_does_not_run_as_root(start):
    status = harness.process_status(data_plane(start(config())))
    assert 0 not in ids(status, "Uid"), status["Uid"]
    assert 0 not in ids(status, "Gid"), status["Gid"]


def test_data_plane_runs_as_nanodns_or_else_nobody_by_default(start):
    user = default_user()
    status = harness.process_status(data_plane(start(config())))
    assert ids(status, "Uid") == [user.pw_uid] * 4
    assert ids(status, "Gid") == [user.pw_gid] * 4


def test_data_plane_has_no_supplementary_groups(start):
    status = harness.process_status(data_plane(start(config())))
    assert status["Groups"] == ""


def test_data_plane_has_no_new_privs_and_no_capabilities(start):
    status = harness.process_status(data_plane(start(config())))
    assert status["NoNewPrivs"] == "1"
    for field in ("CapEff", "CapPrm", "CapAmb"):
        assert int(status[field], 16) == 0, "%s: %s" % (field, status[field])


def test_data_plane_answers_after_dropping_root(start):
    server = start(config())
    assert addresses(server, "udp") == ["10.0.0.1"]
    assert addresses(server, "tcp") == ["10.0.0.1"]


def test_control_plane_keeps_root(start):
    status = harness.process_status(start(config()).proc.pid)
    assert ids(status, "Uid") == [0, 0, 0, 0]


def mode(path):
    return os.stat(path).st_mode & 0o7777


def test_image_belongs_to_root_and_is_read_only_to_others(start):
    server = start(config())
    path = os.path.join(server.state_dir, "zone.img")
    assert os.stat(path).st_uid == 0
    assert mode(path) & 0o022 == 0, "zone.img mode %o" % mode(path)
    assert mode(path) & 0o004, "zone.img mode %o: the data plane cannot read it" % mode(path)


def test_published_config_belongs_to_root_and_only_root_may_write_it(start):
    """STATE/config.json is for the control plane only (the data plane never
    reads JSON): readable or not by others, never writable."""
    server = start(config())
    path = os.path.join(server.state_dir, "config.json")
    assert os.stat(path).st_uid == 0
    assert mode(path) & 0o022 == 0, "config.json mode %o" % mode(path)


def test_state_directory_belongs_to_root_and_only_root_may_write_it(start):
    server = start(config())
    assert os.stat(server.state_dir).st_uid == 0
    assert mode(server.state_dir) & 0o022 == 0, "mode %o" % mode(server.state_dir)


def test_data_plane_user_can_write_neither_the_image_nor_the_config(start):
    server = start(config())
    status = harness.process_status(data_plane(server))
    uid, gid = ids(status, "Uid")[1], ids(status, "Gid")[1]
    paths = [
        os.path.join(server.state_dir, "zone.img"),
        os.path.join(server.state_dir, "config.json"),
        server.config_path,
    ]
    result = try_writes_as(uid, gid, paths, server.state_dir)
    assert result == dict.fromkeys(paths + [server.state_dir], "denied")


@pytest.mark.parametrize("name", ["nobody", "daemon"])
def test_server_user_names_the_data_plane_user(start, name):
    user = user_or_skip(name)
    status = harness.process_status(data_plane(start(config(user=name))))
    assert ids(status, "Uid") == [user.pw_uid] * 4
    assert ids(status, "Gid") == [user.pw_gid] * 4
    assert status["Groups"] == ""


def test_a_sighup_reload_is_served_after_the_drop(start):
    server = start(config("10.0.0.1"))
    pid = data_plane(server)
    harness.write_config(server.tmpdir, config("10.0.0.2"))
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline and addresses(server) != ["10.0.0.2"]:
        time.sleep(0.05)  # polling DNS: the switch has no event to wait on
    assert addresses(server) == ["10.0.0.2"], server.stderr_text()
    assert data_plane(server) == pid  # switched, not restarted after a failure


# -- the data plane started as root by another process -----------------------


def test_a_data_plane_given_sockets_as_root_drops_to_the_default_user(services):
    services.control(config())
    data = services.data(extra_groups=EXTRA_GROUPS)
    user = default_user()
    status = harness.process_status(data.proc.pid)
    assert ids(status, "Uid") == [user.pw_uid] * 4
    assert status["Groups"] == "" and status["NoNewPrivs"] == "1"
    assert addresses(data) == ["10.0.0.1"]


def test_a_data_plane_given_sockets_as_root_drops_to_the_user_option(services):
    user = user_or_skip("daemon")
    services.control(config())
    args = harness.unit_command(
        "nanodns-dataplane.service", "ExecStart", str(services.state_dir)
    ) + ["--user", "daemon"]
    data = services.data(args=args, extra_groups=EXTRA_GROUPS)
    status = harness.process_status(data.proc.pid)
    assert ids(status, "Uid") == [user.pw_uid] * 4
    assert status["Groups"] == "" and status["NoNewPrivs"] == "1"
    assert addresses(data) == ["10.0.0.1"]


def test_data_plane_run_as_its_unit_user_serves_with_only_its_stats_file_writable(services):
    """The layout systemd sets up: the state directory is root's (0755) and
    tmpfiles.d has created the stats file for the data plane's user, which
    starts the data plane as that user (User=), never as root."""
    user = default_user()
    stats = os.path.join(str(services.state_dir), "stats")
    os.close(os.open(stats, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    os.chown(stats, user.pw_uid, user.pw_gid)
    control = services.control(config("10.0.0.1"))

    # The build tree may be where that user cannot go (a checkout in /root is
    # 0700): run a copy from the public directory, as from an installed bindir.
    command = harness.unit_command("nanodns-dataplane.service", "ExecStart", services.state_dir)
    assert command[0] == harness.DATAPLANE, command
    command[0] = os.path.join(str(services.root), "nanodns-dataplane")
    shutil.copy2(harness.DATAPLANE, command[0])
    data = services.data(args=command, user=user.pw_uid, group=user.pw_gid, extra_groups=[])
    assert addresses(data) == ["10.0.0.1"]
    st = os.stat(stats)
    assert st.st_size > 0, "the data plane did not set up its stats file"
    assert (st.st_uid, st.st_gid) == (user.pw_uid, user.pw_gid)

    harness.write_config(services.root, config("10.0.0.2"))
    control.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline and addresses(data) != ["10.0.0.2"]:
        time.sleep(0.05)  # polling DNS: the switch has no event to wait on
    assert addresses(data) == ["10.0.0.2"], data.stderr_text()


# -- whether the planes are separated: the log and /metrics (issue 12, finding 10)

NO_SEPARATION = "NO PRIVILEGE SEPARATION"
GAUGE = "nanodns_dataplane_privilege_separated"


def managed_config():
    return config(mgmt_host="127.0.0.1", mgmt_port=harness.free_port())


def metrics_text(server_config):
    """GET /metrics as Prometheus text."""
    conn = http.client.HTTPConnection("127.0.0.1", server_config["server"]["mgmt_port"], timeout=5)
    try:
        conn.request("GET", "/metrics", headers={"Accept": "text/plain"})
        res = conn.getresponse()
        assert res.status == 200
        return res.read().decode()
    finally:
        conn.close()


def separation_reported(server_config):
    """(the JSON field, the Prometheus gauge's sample line)."""
    status, doc = harness.http_get_json(server_config["server"]["mgmt_port"], "/metrics")
    assert status == 200
    lines = [line for line in metrics_text(server_config).splitlines() if line.startswith(GAUGE)]
    return doc["dataplane_privilege_separated"], lines


def test_started_as_root_the_metrics_say_the_planes_are_separated(start):
    cfg = managed_config()
    server = start(cfg)
    dataplane_uid = ids(harness.process_status(data_plane(server)), "Uid")[1]
    control_uid = ids(harness.process_status(server.proc.pid), "Uid")[1]
    assert dataplane_uid != control_uid and dataplane_uid != 0
    assert separation_reported(cfg) == (True, [GAUGE + " 1"])
    assert NO_SEPARATION not in server.stderr_text()


# Without root: `nanodns start` as nobody, as a container or a user's shell
# would start it (setpriv execs, so the pid is nanodns's own).
AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]


def test_started_without_root_nanodns_start_warns_loudly(start):
    nobody = user_or_skip("nobody")
    server = start(managed_config(), prefix=AS_NOBODY, owner=nobody)
    assert ids(harness.process_status(server.proc.pid), "Uid")[1] == nobody.pw_uid
    warning = [line for line in server.stderr_text().splitlines() if NO_SEPARATION in line]
    assert warning, server.stderr_text()
    assert "warning" in warning[0] and "node's key" in warning[0], warning[0]


def test_started_without_root_the_metrics_say_the_planes_share_a_user(start):
    nobody = user_or_skip("nobody")
    cfg = managed_config()
    server = start(cfg, prefix=AS_NOBODY, owner=nobody)
    status = harness.process_status(data_plane(server))
    assert ids(status, "Uid")[1] == nobody.pw_uid
    assert separation_reported(cfg) == (False, [GAUGE + " 0"])


# The container (compose/docker-compose.yml) starts as root with only these
# capabilities: enough to serve, drop the data plane to its own user, reload
# and restart it, with no other capability.
COMPOSE_CAPS = "+chown,+dac_override,+fowner,+kill,+net_bind_service,+setgid,+setuid"
AS_CONTAINER_ROOT = [
    "setpriv",
    "--bounding-set=-all," + COMPOSE_CAPS,
    "--inh-caps=-all",
    "--",
]


def test_the_container_capabilities_are_enough_for_root_with_a_separate_data_plane(start):
    cfg = managed_config()
    cfg["server"]["user"] = "nobody"
    user = user_or_skip("nobody")
    server = start(cfg, prefix=AS_CONTAINER_ROOT)
    old = data_plane(server)
    assert ids(harness.process_status(old), "Uid") == [user.pw_uid] * 4
    assert addresses(server) == ["10.0.0.1"]
    assert separation_reported(cfg) == (True, [GAUGE + " 1"])
    # SIGKILL of another user's process needs CAP_KILL: the restart proves it.
    server.dataplane_pids.add(old)
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        children = harness.child_pids(server.proc.pid)
        if children and old not in children:
            break
        time.sleep(0.05)  # polling /proc: a fork has no event to wait on
    assert data_plane(server) != old, server.stderr_text()
    assert server.wait_for_line("serving again", 5.0), server.stderr_text()
    assert addresses(server) == ["10.0.0.1"]
