"""Fixtures shared by the system tests. Each test module describes its own
config (so the data a test relies on is visible beside it) and starts
servers through start_server; they are stopped at the end of the module, and
a stop that is not clean (SIGTERM → exit 0, data plane gone), a data plane
that died meanwhile, or a sanitizer report on stderr fails there."""

import os

import pytest

import harness


@pytest.fixture(scope="session", autouse=True)
def binaries_built():
    for path in (harness.NANODNS, harness.DATAPLANE):
        if not os.access(path, os.X_OK):
            pytest.fail("%s is not built (set NANODNS_BUILD_DIR)" % path, pytrace=False)


@pytest.fixture(scope="module")
def start_server(tmp_path_factory):
    """start_server(config, host="127.0.0.1", **kw) -> a running harness.Server."""
    servers = []

    def start(config, host="127.0.0.1", **kwargs):
        # free_port() releases the port before nanodns binds it; if another
        # process took it meanwhile, try again on another port.
        for attempt in range(3):
            server = harness.Server(tmp_path_factory.mktemp("nanodns"), config, host=host, **kwargs)
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
    assert not problems, "\n".join(problems)
