"""The systemd units of systemd/: `systemd-analyze verify` accepts them
(offline: no running systemd is needed), they say what DESIGN.md's
"Processes" part says, and the sysusers.d and tmpfiles.d snippets create the
user and the state directory they rely on (in a temporary root, never on this
machine). The system tests in test_services.py run the units' ExecStart
lines themselves."""

import os
import shutil
import subprocess

import pytest

import harness
from harness import unit_values

UNITS = ("nanodns.socket", "nanodns-dataplane.service", "nanodns.service")


@pytest.fixture(scope="module")
def systemd_analyze():
    # CI installs systemd (.ci/install-deps): missing is a failure, not a skip.
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.fail("systemd-analyze is not installed (Debian package: systemd)", pytrace=False)
    return path


def copy_units(directory, units=UNITS):
    """The units copied into directory with their binaries in the build tree
    (verify checks that every Exec*= binary exists and is executable)."""
    paths = []
    for name in units:
        with open(os.path.join(harness.SYSTEMD_DIR, name)) as f:
            text = f.read()
        path = os.path.join(str(directory), name)
        with open(path, "w") as f:
            f.write(text.replace(harness.UNIT_BINDIR, os.path.abspath(harness.BUILD_DIR) + "/"))
        paths.append(path)
    return paths


def verify(systemd_analyze, paths):
    """(exit code, output) of `systemd-analyze verify`. --man=no: the man
    pages named in Documentation= are not installed here."""
    proc = subprocess.run(
        [systemd_analyze, "verify", "--man=no"] + list(paths),
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def test_systemd_analyze_verify_accepts_the_units_without_a_warning(systemd_analyze, tmp_path):
    rc, output = verify(systemd_analyze, copy_units(tmp_path))
    # Unknown keys and bad values are only warnings (exit 0): any output fails.
    assert rc == 0 and output == "", "systemd-analyze verify: exit %d\n%s" % (rc, output)


def test_systemd_analyze_verify_reports_a_unit_error_here(systemd_analyze, tmp_path):
    """The check above means something on this machine: a misspelt key and a
    missing binary are reported."""
    (path,) = copy_units(tmp_path, ["nanodns-dataplane.service"])
    with open(path) as f:
        text = f.read()
    text = text.replace("NoNewPrivileges=", "NoNewPrivilege=").replace(
        "ExecStart=" + os.path.abspath(harness.BUILD_DIR), "ExecStart=/nonexistent"
    )
    with open(path, "w") as f:
        f.write(text)
    rc, output = verify(systemd_analyze, [path])
    assert rc != 0
    assert "NoNewPrivilege" in output
    assert "/nonexistent" in output


def test_socket_unit_listens_on_udp_and_tcp_53_for_the_data_plane():
    assert unit_values("nanodns.socket", "Socket", "ListenDatagram") == ["53"]
    assert unit_values("nanodns.socket", "Socket", "ListenStream") == ["53"]
    assert unit_values("nanodns.socket", "Socket", "Service") == ["nanodns-dataplane.service"]


def test_socket_unit_names_its_descriptors():
    assert unit_values("nanodns.socket", "Socket", "FileDescriptorName") == ["dns"]


def test_socket_unit_hands_the_datagram_socket_over_first():
    """The harness passes UDP as descriptor 3 and TCP as 4, the order in
    which systemd passes them: the order of the Listen lines."""
    keys = [k for k, _ in harness.unit_file("nanodns.socket")["Socket"]]
    assert keys.index("ListenDatagram") < keys.index("ListenStream")


def test_data_plane_unit_is_a_notify_service():
    assert unit_values("nanodns-dataplane.service", "Service", "Type") == ["notify"]
    assert unit_values("nanodns-dataplane.service", "Service", "NotifyAccess") == ["main"]
    assert unit_values("nanodns-dataplane.service", "Service", "Restart") == ["on-failure"]
    assert unit_values("nanodns-dataplane.service", "Service", "ExecReload") == [
        "/bin/kill -HUP $MAINPID"
    ]


def test_data_plane_unit_runs_unprivileged_without_capabilities():
    service = dict(
        (k, v)
        for k, v in harness.unit_file("nanodns-dataplane.service")["Service"]
        if k in ("User", "Group", "NoNewPrivileges", "CapabilityBoundingSet", "AmbientCapabilities")
    )
    assert service == {
        "User": "nanodns",
        "Group": "nanodns",
        "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "",
        "AmbientCapabilities": "",
    }


def test_data_plane_unit_may_write_only_its_stats_file():
    assert unit_values("nanodns-dataplane.service", "Service", "ProtectSystem") == ["strict"]
    assert unit_values("nanodns-dataplane.service", "Service", "ReadOnlyPaths") == [
        "/var/lib/nanodns"
    ]
    assert unit_values("nanodns-dataplane.service", "Service", "ReadWritePaths") == [
        "/var/lib/nanodns/stats"
    ]
    # A StateDirectory= would hand the whole directory to User=.
    assert unit_values("nanodns-dataplane.service", "Service", "StateDirectory") == []


def test_data_plane_unit_confines_the_process():
    for key, want in (
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("MemoryDenyWriteExecute", "yes"),
        ("SystemCallArchitectures", "native"),
    ):
        assert unit_values("nanodns-dataplane.service", "Service", key) == [want], key


def test_data_plane_unit_has_an_exposure_of_2_or_less(systemd_analyze, tmp_path):
    """`systemd-analyze security` (offline) rates the sandbox from 0.0 (the
    tightest) to 10.0 (none); --threshold counts in tenths."""
    copy_units(tmp_path)
    proc = subprocess.run(
        [systemd_analyze, "security", "--offline=yes", "--no-pager", "--threshold=20"]
        + [os.path.join(str(tmp_path), "nanodns-dataplane.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_control_plane_unit_checks_the_config_before_starting():
    assert unit_values("nanodns.service", "Service", "ExecStartPre") == [
        "/usr/local/bin/nanodns check /etc/nanodns/nanodns.json"
    ]


def test_control_plane_unit_leaves_sockets_and_data_plane_to_systemd():
    (exec_start,) = unit_values("nanodns.service", "Service", "ExecStart")
    assert exec_start.split()[:2] == ["/usr/local/bin/nanodns", "start"]
    assert "--external-dataplane" in exec_start.split()
    assert unit_values("nanodns.service", "Service", "Type") == ["notify"]
    wants = " ".join(unit_values("nanodns.service", "Unit", "Wants")).split()
    assert "nanodns.socket" in wants


def test_control_plane_unit_may_write_the_state_directory_and_the_config():
    assert unit_values("nanodns.service", "Service", "StateDirectory") == ["nanodns"]
    assert unit_values("nanodns.service", "Service", "ReadWritePaths") == ["/etc/nanodns"]
    assert unit_values("nanodns.service", "Service", "User") == []  # root: it owns the image


def test_units_run_the_same_state_directory():
    (dataplane,) = unit_values("nanodns-dataplane.service", "Service", "ExecStart")
    (control,) = unit_values("nanodns.service", "Service", "ExecStart")
    assert "--state-dir /var/lib/nanodns" in dataplane
    assert "--state-dir /var/lib/nanodns" in control


def run_tool(*argv):
    tool = shutil.which(argv[0])
    if tool is None:
        pytest.fail("%s is not installed (Debian package: systemd)" % argv[0], pytrace=False)
    return subprocess.run([tool] + list(argv[1:]), capture_output=True, text=True, timeout=60)


def sysusers_root(root):
    """Run the sysusers.d snippet in an empty root; returns nanodns's
    passwd fields there."""
    os.makedirs(os.path.join(str(root), "etc"))
    snippet = os.path.join(harness.SYSTEMD_DIR, "nanodns.sysusers")
    proc = run_tool("systemd-sysusers", "--root=%s" % root, snippet)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(os.path.join(str(root), "etc", "passwd")) as f:
        entries = [line.rstrip("\n").split(":") for line in f]
    found = [e for e in entries if e[0] == "nanodns"]
    assert len(found) == 1, entries
    return found[0]


def test_sysusers_creates_a_system_user_that_cannot_log_in(tmp_path):
    name, _, uid, gid, gecos, home, shell = sysusers_root(tmp_path)
    assert 0 < int(uid) < 1000 and 0 < int(gid) < 1000
    assert gecos == "NanoDNS data plane"
    assert home == "/var/lib/nanodns"
    assert shell.endswith("nologin")


def test_tmpfiles_creates_the_state_directory_for_root_and_the_stats_file_for_nanodns(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("systemd-tmpfiles needs root to give the stats file to nanodns (CI is root)")
    _, _, uid, gid, _, _, _ = sysusers_root(tmp_path)
    snippet = os.path.join(harness.SYSTEMD_DIR, "nanodns.tmpfiles")
    proc = run_tool("systemd-tmpfiles", "--root=%s" % tmp_path, "--create", snippet)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    state = os.stat(os.path.join(str(tmp_path), "var/lib/nanodns"))
    assert (state.st_uid, state.st_gid, oct(state.st_mode & 0o7777)) == (0, 0, "0o755")
    stats = os.stat(os.path.join(str(tmp_path), "var/lib/nanodns/stats"))
    assert (stats.st_uid, stats.st_gid) == (int(uid), int(gid))
    assert oct(stats.st_mode & 0o7777) == "0o644"
    config_dir = os.stat(os.path.join(str(tmp_path), "etc/nanodns"))
    assert (config_dir.st_uid, oct(config_dir.st_mode & 0o7777)) == (0, "0o755")

