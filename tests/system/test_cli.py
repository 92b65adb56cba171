"""The nanodns command line: --version, init, check (errors with
file:line:col and JSON path), and start's failures and clean stop."""

import json
import re
import signal

import dns.rcode

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


def test_check_accepts_the_example(tmp_path):
    out = tmp_path / "nanodns.json"
    assert run_nanodns("init", str(out)).returncode == 0
    proc = run_nanodns("check", str(out))
    assert proc.returncode == 0, output(proc)
    assert "OK Config is valid." in proc.stdout
    assert re.search(r"Records\s*:\s*8\b", proc.stdout), proc.stdout


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
