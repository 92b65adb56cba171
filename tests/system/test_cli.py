"""The nanodns command line: --version, init, check (errors with
file:line:col and JSON path), and start's failures and clean stop."""

import json
import pathlib
import re
import signal
import subprocess

import dns.rcode
import pytest

import harness
from harness import run_nanodns

GOOD_CONFIG = {
    "server": harness.base_server(),
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
    "records": [{"name": "www.x.test", "type": "A", "value": "10.0.0.80", "ttl": 300}],
    "rewrites": [],
}

# Line 12, the value of records[1] is a bad IPv4 address.
BAD_IPV4 = """{
  "server": {"upstream": [], "mgmt_port": 0, "hot_reload": false},
  "zones": {
    "x.test": {
      "soa": {"mname": "ns1.x.test", "rname": "hostmaster.x.test", "serial": 1,
              "refresh": 3600, "retry": 900, "expire": 604800, "minimum": 300},
      "ns": ["ns1.x.test"]
    }
  },
  "records": [
    {"name": "www.x.test", "type": "A", "value": "10.0.0.80"},
    {"name": "db.x.test", "type": "A", "value": "192.168.1.300"}
  ]
}
"""

# One finding per line for each warning about where the data is; the other
# targets have data (ns1 a record, www.app the original's wildcard) or leave
# our zones.
WARNINGS = """{
  "server": {"upstream": [], "cache_ttl": 60, "mgmt_port": 0, "hot_reload": false},
  "zones": {"x.test": {"ns": ["ns1.x.test", "ns2.x.test"]}},
  "records": [
    {"name": "ns1.x.test", "type": "A", "value": "10.0.0.53"},
    {"name": "www.other", "type": "A", "value": "10.0.0.80"},
    {"name": "x.test", "type": "MX", "value": "mail.x.test", "priority": 10},
    {"name": "app.x.test", "type": "A", "value": "10.0.0.81", "wildcard": true},
    {"name": "a.x.test", "type": "CNAME", "value": "www.app.x.test"},
    {"name": "b.x.test", "type": "CNAME", "value": "www.example.com"}
  ]
}
"""

# What the original's `nanodns init` wrote.
ORIGINAL_EXAMPLE = pathlib.Path(__file__).parents[1] / "data" / "config" / "original_example.json"

# Line 5: "tll" for "ttl".
UNKNOWN_KEY = """{
  "server": {"upstream": [], "mgmt_port": 0, "hot_reload": false},
  "zones": {},
  "records": [
    {"name": "www.other", "type": "A", "value": "10.0.0.80", "tll": 300}
  ]
}
"""

# Line 5: a trailing comma after the last record (not valid JSON).
TRAILING_COMMA = """{
  "server": {"upstream": [], "mgmt_port": 0, "hot_reload": false},
  "zones": {},
  "records": [
    {"name": "www.other", "type": "A", "value": "10.0.0.80"},
  ]
}
"""


def column_of(text, line_no, needle):
    """1-based column of needle on 1-based line line_no."""
    line = text.splitlines()[line_no - 1]
    assert needle in line
    return line.index(needle) + 1


def output(proc):
    return proc.stdout + proc.stderr


# --version --------------------------------------------------------------------


def test_version_prints_a_version():
    proc = run_nanodns("--version")
    assert proc.returncode == 0, output(proc)
    assert re.search(r"\d+\.\d+", output(proc))


# init ----------------------------------------------------------------------------


def test_init_writes_a_config_that_check_accepts(tmp_path):
    out = tmp_path / "nanodns.json"
    proc = run_nanodns("init", str(out))
    assert proc.returncode == 0, output(proc)
    json.loads(out.read_text())  # plain JSON
    check = run_nanodns("check", str(out))
    assert check.returncode == 0, output(check)


def test_init_refuses_to_overwrite_without_force(tmp_path):
    out = tmp_path / "nanodns.json"
    out.write_text('{"mine": true}\n')
    proc = run_nanodns("init", str(out))
    assert proc.returncode != 0
    assert out.read_text() == '{"mine": true}\n'


def test_init_force_overwrites(tmp_path):
    out = tmp_path / "nanodns.json"
    assert run_nanodns("init", str(out)).returncode == 0
    example = out.read_text()
    out.write_text('{"mine": true}\n')
    proc = run_nanodns("init", "--force", str(out))
    assert proc.returncode == 0, output(proc)
    assert out.read_text() == example


# check ---------------------------------------------------------------------------


def test_check_accepts_the_example_without_a_warning(tmp_path):
    out = tmp_path / "nanodns.json"
    assert run_nanodns("init", str(out)).returncode == 0
    proc = run_nanodns("check", str(out))
    assert proc.returncode == 0, output(proc)
    assert "OK Config is valid." in proc.stdout
    # the original's 8 records and an address for the MX target
    assert re.search(r"Records\s*:\s*9\b", proc.stdout), proc.stdout
    assert proc.stderr == ""


def test_init_puts_the_management_api_on_loopback(tmp_path):
    out = tmp_path / "nanodns.json"
    assert run_nanodns("init", str(out)).returncode == 0
    server = json.loads(out.read_text())["server"]
    assert server["mgmt_host"] == "127.0.0.1"
    assert server["mgmt_port"] == 9053


def test_check_accepts_the_originals_example_with_two_warnings():
    """What the original's `nanodns init` wrote: its API on 0.0.0.0 without
    keys, and an MX target with no address."""
    path = str(ORIGINAL_EXAMPLE)
    text = ORIGINAL_EXAMPLE.read_text()
    proc = run_nanodns("check", path)
    assert proc.returncode == 0, output(proc)
    assert "OK Config is valid." in proc.stdout
    warnings = proc.stderr.splitlines()
    assert len(warnings) == 2, proc.stderr
    api = "%s:17:%d: warning: server.mgmt_host: the API listens beyond loopback" % (
        path,
        column_of(text, 17, '"0.0.0.0"'),
    )
    mail = '%s:67:%d: warning: records[4].value: MX target "mail.internal.lan" is inside' % (
        path,
        column_of(text, 67, '"mail.internal.lan"'),
    )
    assert warnings[0].startswith(api), warnings[0]
    assert "none can read the config, reload or sync" in warnings[0]
    assert warnings[1].startswith(mail), warnings[1]


def warning_lines(proc, path, json_path):
    """(line, column) of each warning check printed about json_path."""
    pattern = re.escape(path) + r":(\d+):(\d+): warning: " + re.escape(json_path) + ": "
    return [
        (int(m.group(1)), int(m.group(2)))
        for m in (re.match(pattern, l) for l in proc.stderr.splitlines())
        if m
    ]


def test_check_warns_about_forwarding_settings_with_nothing_to_forward(tmp_path):
    path = harness.write_config(tmp_path, WARNINGS)
    proc = run_nanodns("check", path)
    assert proc.returncode == 0, output(proc)
    assert warning_lines(proc, path, "server.upstream") == [(2, column_of(WARNINGS, 2, "[]"))]
    assert "so cache_ttl has no effect" in proc.stderr


def test_check_warns_about_a_record_outside_every_zone(tmp_path):
    path = harness.write_config(tmp_path, WARNINGS)
    proc = run_nanodns("check", path)
    assert proc.returncode == 0, output(proc)
    assert warning_lines(proc, path, "records[1].name") == [
        (6, column_of(WARNINGS, 6, '"www.other"'))
    ]
    assert '"www.other" is outside every zone: it is answered anyway' in proc.stderr


def test_check_warns_about_a_target_in_our_zone_without_data(tmp_path):
    path = harness.write_config(tmp_path, WARNINGS)
    proc = run_nanodns("check", path)
    assert proc.returncode == 0, output(proc)
    assert warning_lines(proc, path, "records[2].value") == [
        (7, column_of(WARNINGS, 7, '"mail.x.test"'))
    ]
    assert warning_lines(proc, path, "zones.x.test.ns[1]") == [
        (3, column_of(WARNINGS, 3, '"ns2.x.test"'))
    ]
    # ns1 has its address, the wildcard covers www.app, the CNAME leaves our zones
    assert len(proc.stderr.splitlines()) == 4, proc.stderr


def test_check_reports_bad_ipv4_with_file_line_column_and_path(tmp_path):
    path = harness.write_config(tmp_path, BAD_IPV4)
    proc = run_nanodns("check", path)
    assert proc.returncode == 1, output(proc)
    col = column_of(BAD_IPV4, 12, '"192.168.1.300"')
    prefix = "%s:12:%d: records[1].value:" % (path, col)
    assert any(line.startswith(prefix) for line in output(proc).splitlines()), (
        "no line starting with %r in:\n%s" % (prefix, output(proc))
    )
    assert "192.168.1.300" in output(proc)


def test_check_suggests_the_key_meant(tmp_path):
    path = harness.write_config(tmp_path, UNKNOWN_KEY)
    proc = run_nanodns("check", path)
    assert proc.returncode == 1, output(proc)
    lines = [l for l in output(proc).splitlines() if l.startswith(path + ":5:")]
    assert lines, output(proc)
    assert any("tll" in l and "did you mean" in l and "ttl" in l for l in lines), lines


def test_check_reports_trailing_comma_with_line_and_column(tmp_path):
    path = harness.write_config(tmp_path, TRAILING_COMMA)
    proc = run_nanodns("check", path)
    assert proc.returncode == 1, output(proc)
    m = re.search(re.escape(path) + r":(\d+):(\d+): ", output(proc))
    assert m, output(proc)
    # json-c notices the error at the comma or at the "]" after it
    assert int(m.group(1)) in (5, 6)
    assert int(m.group(2)) >= 1


def test_check_reports_a_missing_file(tmp_path):
    proc = run_nanodns("check", str(tmp_path / "absent.json"))
    assert proc.returncode == 1
    assert "absent.json" in output(proc)


# start ---------------------------------------------------------------------------


def test_start_refuses_a_config_with_an_error(tmp_path):
    server = harness.Server(tmp_path, BAD_IPV4)
    server.start(wait_ready=False)
    try:
        rc = server.wait_exit(10)
        assert rc is not None, "start kept running with an invalid config"
        assert rc != 0
        assert "records[1].value" in server.stderr_text()
        assert "serving " not in server.stderr_text()
        assert not harness.sanitizer_report(server.stderr_text())
    finally:
        server.kill()


def test_start_fails_when_the_port_is_in_use(tmp_path, start_server):
    first = start_server(GOOD_CONFIG)
    second = harness.Server(tmp_path, GOOD_CONFIG, port=first.port)
    second.start(wait_ready=False)
    try:
        rc = second.wait_exit(10)
        assert rc is not None, "a second server on a used port kept running"
        assert rc != 0
        assert "address already in use" in second.stderr_text().lower()
        assert not harness.sanitizer_report(second.stderr_text())
    finally:
        second.kill()
    # the first one is not disturbed
    assert first.ask("www.x.test", "A").rcode() == dns.rcode.NOERROR


def test_start_logs_the_warning_about_the_api_beyond_loopback(public_tmp):
    """The API on 0.0.0.0 inside a network namespace of our own, which has
    nothing but loopback: the warning is in start's log, nothing listens
    beyond loopback."""
    if subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot make a network namespace (unshare --net needs root)")
    config = dict(GOOD_CONFIG, server=harness.base_server(mgmt_host="0.0.0.0", mgmt_port=9053))
    server = harness.Server(public_tmp, config)
    server.args = [
        "unshare",
        "--net",
        "--",
        "sh",
        "-c",
        'ip link set lo up && exec "$0" "$@"',
    ] + server.args
    try:
        server.start()
        expected = "%s:%d:%d: warning: server.mgmt_host: the API listens beyond loopback" % (
            server.config_path,
            *position_in_file(server.config_path, '"0.0.0.0"'),
        )
        assert any(l.startswith(expected) for l in server.stderr_text().splitlines()), (
            server.stderr_text()
        )
        assert server.stop() == 0, server.stderr_text()
        assert not harness.sanitizer_report(server.stderr_text())
    finally:
        server.kill()


def position_in_file(path, needle):
    """1-based (line, column) of the first needle in the file at path."""
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if needle in line:
                return number, line.index(needle) + 1
    raise AssertionError("%s not in %s" % (needle, path))


def test_sigterm_stops_control_and_data_plane(tmp_path):
    server = harness.Server(tmp_path, GOOD_CONFIG).start()
    try:
        children = harness.child_pids(server.proc.pid)
        dataplanes = [pid for pid in children if "nanodns-datapl" in comm(pid)]
        assert dataplanes, "no nanodns-dataplane child of nanodns (children %s)" % children
        assert server.ask("www.x.test", "A").rcode() == dns.rcode.NOERROR
        server.proc.send_signal(signal.SIGTERM)
        rc = server.wait_exit(harness.STOP_TIMEOUT)
        assert rc == 0, "exit %r after SIGTERM; stderr:\n%s" % (rc, server.stderr_text())
        for pid in dataplanes:
            assert harness.wait_gone(pid), "nanodns-dataplane %d outlived nanodns" % pid
        assert not harness.sanitizer_report(server.stderr_text())
    finally:
        server.kill()


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""
