"""Fixtures shared by the system tests. Each test module describes its own
config (so the data a test relies on is visible beside it) and starts
servers through start_server; they are stopped at the end of the module, and
a stop that is not clean (SIGTERM → exit 0, data plane gone), a data plane
that died meanwhile, or a sanitizer report on stderr fails there."""

import os
import pathlib
import shutil

import pytest

import harness


@pytest.fixture(scope="session", autouse=True)
def binaries_built():
    for path in (harness.NANODNS, harness.DATAPLANE):
        if not os.access(path, os.X_OK):
            pytest.fail("%s is not built (set NANODNS_BUILD_DIR)" % path, pytrace=False)


@pytest.fixture(scope="module")
def start_server():
    """start_server(config, host="127.0.0.1", **kw) -> a running harness.Server.
    Its files live in a 0755 directory, so a data plane that dropped root
    (CI runs as root) can still read the images a reload publishes."""
    servers = []
    roots = []

    def start(config, host="127.0.0.1", **kwargs):
        # free_port() releases the port before nanodns binds it; if another
        # process took it meanwhile, try again on another port.
        for attempt in range(3):
            roots.append(harness.public_tmpdir())
            server = harness.Server(pathlib.Path(roots[-1]), config, host=host, **kwargs)
            servers.append(server)
            try:
                return server.start()
            except RuntimeError:
                in_use = "address already in use" in server.stderr_text().lower()
                if not in_use or "port" in kwargs or attempt == 2:
                    raise

    yield start

    problems = []
    for server in servers:
        if server.proc is None or server.proc.returncode is not None:
            continue  # never started, or a test already stopped it and checked it
        for pid in server.dataplane_pids:
            if harness.process_gone(pid):
                problems.append("data plane pid %d died while the tests ran" % pid)
        now = harness.child_pids(server.proc.pid)
        if now - server.dataplane_pids:
            problems.append(
                "data plane restarted while the tests ran: pids %s, then %s"
                % (sorted(server.dataplane_pids), sorted(now))
            )
        rc = server.stop()
        if rc != 0:
            problems.append(
                "server on %s port %d: exit %r after SIGTERM (want 0); stderr:\n%s"
                % (server.host, server.port, rc, server.stderr_text())
            )
        for pid in server.dataplane_pids:
            if not harness.wait_gone(pid):
                problems.append("data plane pid %d still running after the stop" % pid)
        server.kill()
        report = harness.sanitizer_report(server.stderr_text())
        if report:
            problems.append("sanitizer report from server on port %d:\n%s" % (server.port, report))
    for root in roots:
        shutil.rmtree(root, ignore_errors=True)
    assert not problems, "\n".join(problems)


@pytest.fixture
def servers():
    """servers(directory, config, **kw) -> a running harness.Server; each is
    stopped at the end, and must stop cleanly with no sanitizer report."""
    started = []

    def start(directory, cfg, wait_ready=True, **kwargs):
        server = harness.Server(directory, cfg, **kwargs)
        started.append(server)
        return server.start(wait_ready=wait_ready)

    yield start
    problems = harness.stop_servers(started)
    assert not problems, "\n".join(problems)


@pytest.fixture
def public_tmp():
    """A fresh directory in /tmp that an unprivileged user can traverse
    (0755, unlike pytest's tmp_path): for state directories and notify
    sockets that a data plane running as nobody must reach."""
    path = harness.public_tmpdir()
    yield pathlib.Path(path)
    shutil.rmtree(path, ignore_errors=True)


class Services:
    """The two planes as separate services on one state directory, as
    systemd runs them: control planes (nanodns.service's command lines) and
    data planes (nanodns-dataplane.service's, sockets through LISTEN_FDS),
    all reporting to one NOTIFY_SOCKET, as systemd's. Everything still running
    at the end is stopped and must stop cleanly."""

    def __init__(self, root):
        self.root = root
        self.state_dir = root / "state"
        self.state_dir.mkdir(mode=0o755)
        self.notify = harness.NotifySocket(root)
        self.started = []

    def control(self, config, wait_ready=True):
        plane = harness.ControlPlane(self.root, config, self.state_dir, self.notify)
        self.started.append(plane)
        return plane.start(wait_ready)

    def data(self, wait_ready=True, args=None, **popen_options):
        plane = harness.DataPlane(self.state_dir, self.notify, args=args)
        plane.popen_options = popen_options
        self.started.append(plane)
        return plane.start(wait_ready)

    def close(self):
        problems = []
        for plane in self.started:
            name = " ".join(plane.args[:2])
            if plane.alive():
                rc = plane.stop()
                if rc != 0:
                    problems.append("%s: exit %r after SIGTERM (want 0); stderr:\n%s"
                                    % (name, rc, plane.stderr_text()))
            if isinstance(plane, harness.DataPlane):
                plane.close()
            else:
                plane.kill()
            report = harness.sanitizer_report(plane.stderr_text())
            if report:
                problems.append("sanitizer report from %s:\n%s" % (name, report))
        self.notify.close()
        return problems


@pytest.fixture
def services(public_tmp):
    started = Services(public_tmp)
    yield started
    problems = started.close()
    assert not problems, "\n".join(problems)
