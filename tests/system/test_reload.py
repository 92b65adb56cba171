"""Reloads (issue 3): SIGHUP and the hot-reload poll publish a changed file
with config_version bumped and written back, a file that does not validate is
refused while the old data keeps serving, a start with a broken file serves
the last good config from the state directory, and no query is lost while the
server reloads 20 times under load. A file that says nothing new (issue 10:
the same config but for white space, member order or config_version)
changes nothing: no version, no serial, no write-back, no image.

The servers run in directories any user can traverse: started as root, the
data plane drops to an unprivileged user and must still read each new image."""

import json
import os
import re
import signal
import subprocess
import time

import dns.message
import dns.rcode
import dns.rdatatype

import harness
import loadgen
from harness import rrset, texts

SERIAL = 1000
HOT_RELOAD_WAIT = 7.0  # one 5 s poll, with room for a slow (sanitizer) build
RELOAD_ANSWER_LIMIT = 1.0  # a reloaded record must be answered this soon

ZONE = {
    "soa": {
        "mname": "ns1.r.test",
        "rname": "hostmaster.r.test",
        "serial": SERIAL,
        "refresh": 3600,
        "retry": 900,
        "expire": 604800,
        "minimum": 300,
    },
    "ns": ["ns1.r.test"],
}


def config(records, version=None, hot_reload=False):
    server = harness.base_server(hot_reload=hot_reload)
    if version is not None:
        server["config_version"] = version
    return {
        "server": server,
        "zones": {"r.test": ZONE},
        "records": [
            {"name": "ns1.r.test", "type": "A", "value": "10.0.0.53"},
            {"name": "stable.r.test", "type": "A", "value": "10.0.0.1"},
        ]
        + records,
    }


def a(name, value):
    return {"name": name, "type": "A", "value": value, "ttl": 60}


# A file as an operator writes it, line by line: the reload must change
# nothing in it but the version's digits. records[3].value (line 20) is
# what the invalid edits break.
HAND_WRITTEN = """{
  "server": {
    "upstream": [],
    "mgmt_port": 0,
    "hot_reload": %(hot_reload)s,
    "log_queries": false,
    "config_version": %(version)d
  },
  "zones": {
    "r.test": {
      "soa": {"mname": "ns1.r.test", "rname": "hostmaster.r.test", "serial": 1000},
      "ns": ["ns1.r.test"]
    }
  },

  "records": [
    {"name": "ns1.r.test",    "type": "A", "value": "10.0.0.53"},
    {"name": "stable.r.test", "type": "A", "value": "10.0.0.1"},
    {"name": "www.r.test",    "type": "A", "value": "%(www)s"},
    {"name": "new.r.test",    "type": "A", "value": "%(new)s"}
  ]
}
"""
INVALID_LINE, INVALID_COLUMN = 20, 53  # the value of new.r.test


def hand_written(version, www="10.0.0.80", new="10.0.0.81", hot_reload=False):
    return HAND_WRITTEN % {
        "version": version,
        "www": www,
        "new": new,
        "hot_reload": "true" if hot_reload else "false",
    }


# -- observing the server ---------------------------------------------------------


def ask_quick(server, name, rdtype="A"):
    """One UDP query with a short timeout; the parsed answer or None."""
    q = dns.message.make_query(name, rdtype)
    try:
        data = server.udp_raw(q.to_wire(), timeout=0.25)
    except ConnectionRefusedError:  # nothing bound yet (a data plane starting)
        return None
    return dns.message.from_wire(data) if data is not None else None


def addresses(server, name):
    r = ask_quick(server, name)
    if r is None or r.rcode() != dns.rcode.NOERROR:
        return []
    return texts(rrset(r.answer, name, "A"))


def serial(server):
    r = server.ask("r.test", "SOA")
    assert r.rcode() == dns.rcode.NOERROR
    return rrset(r.answer, "r.test", "SOA")[0].serial


def wait_until(predicate, timeout, step=0.01):
    """Poll predicate until it is true; the seconds it took, or None at
    timeout. A bounded poll, not a sleep: it returns as soon as it holds."""
    start = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            return None
        time.sleep(step)


def wait_answer(server, name, value, timeout):
    return wait_until(lambda: addresses(server, name) == [value], timeout)


def wait_serial(server, want, timeout):
    return wait_until(lambda: serial(server) == want, timeout)


def file_version(server):
    with open(server.config_path) as f:
        m = re.search(r'"config_version": (\d+)', f.read())
    return int(m.group(1)) if m else None


def read(path):
    with open(path) as f:
        return f.read()


def write(path, text):
    """Replace the file as an editor saving it would (new content, same name)."""
    with open(path, "w") as f:
        f.write(text)


def count_lines(server, needle, after=None):
    """Control-plane lines containing needle (after the first line holding
    `after`, when given)."""
    lines = [l for l in server.stderr_text().splitlines() if harness.CONTROL_PLANE_LINE(l)]
    if after is not None:
        starts = [i for i, l in enumerate(lines) if after in l]
        lines = lines[starts[0] + 1 :] if starts else []
    return sum(needle in l for l in lines)


def wait_line(server, needle, timeout, after=None):
    return wait_until(lambda: count_lines(server, needle, after) > 0, timeout, step=0.05)


# -- SIGHUP ------------------------------------------------------------------------


def test_sighup_reload_is_answered_within_one_second(public_tmp, servers):
    server = servers(public_tmp, config([a("www.r.test", "10.0.0.80")]))
    assert addresses(server, "new.r.test") == []
    harness.write_config(public_tmp, config([a("www.r.test", "10.0.0.80"), a("new.r.test", "10.0.0.81")]))
    server.proc.send_signal(signal.SIGHUP)
    took = wait_answer(server, "new.r.test", "10.0.0.81", 5.0)
    assert took is not None, "the new record was never answered; stderr:\n" + server.stderr_text()
    assert took < RELOAD_ANSWER_LIMIT, "answered %.3f s after SIGHUP" % took
    assert addresses(server, "www.r.test") == ["10.0.0.80"]


def test_reload_writes_back_max_of_disk_and_memory_plus_one(public_tmp, servers):
    server = servers(public_tmp, hand_written(3))
    os.chmod(server.config_path, 0o640)
    # Start serves the file as it is: the serial is the configured one plus its version.
    assert serial(server) == SERIAL + 3
    assert read(server.config_path) == hand_written(3)

    # An edit: max(3 on disk, 3 in memory) + 1.
    write(server.config_path, hand_written(3, www="10.0.0.85"))
    server.proc.send_signal(signal.SIGHUP)
    assert wait_serial(server, SERIAL + 4, 5.0) is not None
    assert read(server.config_path) == hand_written(4, www="10.0.0.85"), (
        "the write-back changed more than the version")
    assert os.stat(server.config_path).st_mode & 0o777 == 0o640, "the write-back lost the file's mode"

    # The operator's own bump counts: max(10, 4) + 1.
    write(server.config_path, hand_written(10, www="10.0.0.90"))
    server.proc.send_signal(signal.SIGHUP)
    assert wait_serial(server, SERIAL + 11, 5.0) is not None
    assert read(server.config_path) == hand_written(11, www="10.0.0.90")
    assert addresses(server, "www.r.test") == ["10.0.0.90"]

    # A version going back on disk does not take the served one back: max(2, 11) + 1.
    write(server.config_path, hand_written(2, www="10.0.0.91"))
    server.proc.send_signal(signal.SIGHUP)
    assert wait_serial(server, SERIAL + 12, 5.0) is not None
    assert read(server.config_path) == hand_written(12, www="10.0.0.91")
    assert count_lines(server, "reloaded: version 12,") == 1


# -- a file that says nothing new ----------------------------------------------------

NOTHING_NEW = "holds nothing new"  # the control plane's line for such a reload


def published(server):
    """What a publish replaces: the image's and the saved config's inode and
    mtime (a publish renames new files over them)."""
    out = []
    for name in ("zone.img", "config.json"):
        st = os.stat(os.path.join(server.state_dir, name))
        out.append((st.st_ino, st.st_mtime_ns))
    return out


def file_state(path):
    st = os.stat(path)
    return read(path), st.st_ino, st.st_mtime_ns


def reformatted(text):
    """The same JSON value, written another way: members in reverse order,
    four-space indentation."""
    def reverse(value):
        if isinstance(value, dict):
            return {k: reverse(value[k]) for k in reversed(list(value))}
        if isinstance(value, list):
            return [reverse(v) for v in value]
        return value

    out = json.dumps(reverse(json.loads(text)), indent=4) + "\n"
    assert out != text and json.loads(out) == json.loads(text)
    return out


def test_sighup_of_a_file_that_is_unchanged_changes_nothing(public_tmp, servers):
    server = servers(public_tmp, hand_written(3))
    before = (file_state(server.config_path), published(server))
    assert harness.kdig_serial(server.host, server.port, "r.test") == SERIAL + 3

    server.proc.send_signal(signal.SIGHUP)
    assert wait_line(server, NOTHING_NEW, 5.0) is not None, server.stderr_text()
    assert harness.kdig_serial(server.host, server.port, "r.test") == SERIAL + 3
    assert (file_state(server.config_path), published(server)) == before, (
        "the file was written back or an image published")
    assert count_lines(server, "reloaded:") == 0

    # A real edit after it gets the next version.
    write(server.config_path, hand_written(3, www="10.0.0.85"))
    server.proc.send_signal(signal.SIGHUP)
    assert wait_serial(server, SERIAL + 4, 5.0) is not None
    assert harness.kdig_serial(server.host, server.port, "r.test") == SERIAL + 4
    assert read(server.config_path) == hand_written(4, www="10.0.0.85")


def test_sighup_after_its_own_write_back_changes_nothing(public_tmp, servers):
    server = servers(public_tmp, hand_written(3))
    write(server.config_path, hand_written(3, www="10.0.0.85"))
    server.proc.send_signal(signal.SIGHUP)
    assert wait_serial(server, SERIAL + 4, 5.0) is not None
    before = (file_state(server.config_path), published(server))

    # The file now holds version 4, written back by the node: the same config.
    server.proc.send_signal(signal.SIGHUP)
    assert wait_line(server, NOTHING_NEW, 5.0) is not None, server.stderr_text()
    assert harness.kdig_serial(server.host, server.port, "r.test") == SERIAL + 4
    assert (file_state(server.config_path), published(server)) == before
    assert count_lines(server, "reloaded:") == 1


def test_white_space_and_member_order_are_no_change(public_tmp, servers):
    server = servers(public_tmp, hand_written(3))
    before = published(server)
    text = reformatted(hand_written(3))
    write(server.config_path, text)
    state = file_state(server.config_path)

    server.proc.send_signal(signal.SIGHUP)
    assert wait_line(server, NOTHING_NEW, 5.0) is not None, server.stderr_text()
    assert harness.kdig_serial(server.host, server.port, "r.test") == SERIAL + 3
    assert file_state(server.config_path) == state, "the operator's layout was rewritten"
    assert published(server) == before


def test_a_version_bumped_by_hand_alone_is_no_change_but_counts_at_the_next_edit(public_tmp, servers):
    server = servers(public_tmp, hand_written(3))
    write(server.config_path, hand_written(10))
    server.proc.send_signal(signal.SIGHUP)
    assert wait_line(server, NOTHING_NEW, 5.0) is not None, server.stderr_text()
    assert harness.kdig_serial(server.host, server.port, "r.test") == SERIAL + 3
    assert read(server.config_path) == hand_written(10)

    # max(10 on disk, 3 in memory) + 1
    write(server.config_path, hand_written(10, www="10.0.0.86"))
    server.proc.send_signal(signal.SIGHUP)
    assert wait_serial(server, SERIAL + 11, 5.0) is not None
    assert read(server.config_path) == hand_written(11, www="10.0.0.86")


def test_hot_reload_of_a_reformatted_file_changes_nothing(public_tmp, servers):
    server = servers(public_tmp, hand_written(1, hot_reload=True), extra_args=["--log-level", "DEBUG"])
    before = published(server)
    write(server.config_path, reformatted(hand_written(1, hot_reload=True)))
    state = file_state(server.config_path)

    assert wait_line(server, NOTHING_NEW, HOT_RELOAD_WAIT) is not None, server.stderr_text()
    assert harness.kdig_serial(server.host, server.port, "r.test") == SERIAL + 1
    assert file_state(server.config_path) == state
    assert published(server) == before
    # The next poll reads the same file: it is not taken up again.
    assert wait_line(server, "unchanged", HOT_RELOAD_WAIT, after=NOTHING_NEW) is not None, server.stderr_text()
    assert count_lines(server, NOTHING_NEW) == 1
    assert count_lines(server, "reloaded:") == 0


def test_invalid_edit_is_refused_and_the_old_data_keeps_serving(public_tmp, servers):
    server = servers(public_tmp, hand_written(5))
    broken = hand_written(5, new="10.0.0.300")
    write(server.config_path, broken)
    server.proc.send_signal(signal.SIGHUP)
    assert wait_line(server, "reload refused", 5.0) is not None, server.stderr_text()

    text = server.stderr_text()
    where = "%s:%d:%d: records[3].value" % (server.config_path, INVALID_LINE, INVALID_COLUMN)
    assert where in text, "no %r in:\n%s" % (where, text)
    assert read(server.config_path) == broken, "a refused file was rewritten"
    assert addresses(server, "new.r.test") == ["10.0.0.81"]
    assert addresses(server, "stable.r.test") == ["10.0.0.1"]
    assert serial(server) == SERIAL + 5

    # Fixed, it reloads, past the version it was at.
    write(server.config_path, hand_written(5, new="10.0.0.82"))
    server.proc.send_signal(signal.SIGHUP)
    assert wait_answer(server, "new.r.test", "10.0.0.82", 5.0) is not None
    assert serial(server) == SERIAL + 6


# -- hot reload --------------------------------------------------------------------


def test_hot_reload_applies_an_edit_and_not_its_own_write_back(public_tmp, servers):
    server = servers(public_tmp, hand_written(1, hot_reload=True), extra_args=["--log-level", "DEBUG"])
    write(server.config_path, hand_written(1, new="10.0.0.99", hot_reload=True))
    took = wait_answer(server, "new.r.test", "10.0.0.99", HOT_RELOAD_WAIT)
    assert took is not None, "the edit was not picked up; stderr:\n" + server.stderr_text()
    assert serial(server) == SERIAL + 2
    assert file_version(server) == 2

    # The next poll reads our own write-back: no change, no reload.
    assert wait_line(server, "unchanged", HOT_RELOAD_WAIT, after="reloaded: version 2") is not None, server.stderr_text()
    assert serial(server) == SERIAL + 2
    assert count_lines(server, "reloaded:") == 1
    assert file_version(server) == 2


def test_hot_reload_refuses_an_invalid_edit_once(public_tmp, servers):
    server = servers(public_tmp, hand_written(1, hot_reload=True), extra_args=["--log-level", "DEBUG"])
    broken = hand_written(1, new="10.0.0.300", hot_reload=True)
    write(server.config_path, broken)
    assert wait_line(server, "reload refused", HOT_RELOAD_WAIT) is not None, server.stderr_text()
    assert addresses(server, "new.r.test") == ["10.0.0.81"]
    assert read(server.config_path) == broken

    # The same broken content on the next poll is not reported again.
    assert wait_line(server, "unchanged", HOT_RELOAD_WAIT, after="reload refused") is not None
    assert count_lines(server, "reload refused") == 1
    assert count_lines(server, "records[3].value") == 1
    assert serial(server) == SERIAL + 1


# -- start with a broken file ---------------------------------------------------------


def test_start_with_an_invalid_file_serves_the_last_good_config(public_tmp, servers):
    first = servers(public_tmp, hand_written(5))
    assert first.stop() == 0

    broken = hand_written(5, www="10.0.0.300")
    second = servers(public_tmp, broken)  # same file, same state directory
    assert addresses(second, "www.r.test") == ["10.0.0.80"]
    assert serial(second) == SERIAL + 5
    text = second.stderr_text()
    assert (
        "CONFIG FILE IS INVALID: serving the last good config (version 5) from %s/config.json"
        % second.state_dir
    ) in text, text
    assert "%s:19:53: records[2].value" % second.config_path in text, text
    assert read(second.config_path) == broken, "start rewrote the file"

    # Once fixed, a reload goes past the version served.
    write(second.config_path, hand_written(5, www="10.0.0.70"))
    second.proc.send_signal(signal.SIGHUP)
    assert wait_answer(second, "www.r.test", "10.0.0.70", 5.0) is not None
    assert serial(second) == SERIAL + 6


def test_start_with_an_invalid_file_and_no_state_exits_with_the_errors(public_tmp, servers):
    server = servers(public_tmp, hand_written(5, www="10.0.0.300"), wait_ready=False)
    rc = server.wait_exit(10)
    assert rc is not None and rc != 0, "started with an invalid file and nothing to fall back on"
    text = server.stderr_text()
    assert "%s:19:53: records[2].value" % server.config_path in text, text
    assert "serving " not in text


# -- a data plane run separately (as systemd runs it) ------------------------------


def test_external_dataplane_is_signalled_at_the_pid_in_its_stats_file(public_tmp, servers):
    """--external-dataplane opens no socket and starts no data plane; a
    reload reaches the data plane that runs on the same state directory
    through the pid its stats file gives (SIGHUP, not its 1 s backstop)."""
    control = servers(public_tmp, config([a("www.r.test", "10.0.0.80")]),
                      extra_args=["--external-dataplane"])
    assert harness.child_pids(control.proc.pid) == set()
    port = harness.free_port()
    dataplane = subprocess.Popen(
        [harness.DATAPLANE, "--state-dir", control.state_dir, "--listen", "127.0.0.1:%d" % port],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        control.port = port  # ask the data plane through control's helpers
        assert wait_answer(control, "www.r.test", "10.0.0.80", 5.0) is not None
        harness.write_config(public_tmp, config([a("www.r.test", "10.0.0.80"), a("new.r.test", "10.0.0.81")]))
        control.proc.send_signal(signal.SIGHUP)
        assert wait_answer(control, "new.r.test", "10.0.0.81", 5.0) is not None
    finally:
        dataplane.send_signal(signal.SIGTERM)
        try:
            _, err = dataplane.communicate(timeout=harness.STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            dataplane.kill()
            _, err = dataplane.communicate()
    assert "SIGHUP: checking" in err, err
    assert not harness.sanitizer_report(err), err


# -- zero loss -------------------------------------------------------------------------


def test_no_query_is_lost_across_20_reloads_under_load(public_tmp, servers):
    server = servers(public_tmp, config([a("www.r.test", "10.0.0.80")]))
    queries = [("stable.r.test", "A"), ("www.r.test", "A"), ("r.test", "SOA"), ("r.test", "NS")]
    load = loadgen.Load(server.host, server.port, queries, public_tmp, qps=2000, seconds=6.0)
    try:
        assert load.wait_sending(), "the load generator did not start:\n" + "".join(load._lines)
        started = time.monotonic()
        slowest = 0.0
        for i in range(1, 21):
            name, value = "gen%d.r.test" % i, "10.9.0.%d" % i
            harness.write_config(public_tmp, config([a("www.r.test", "10.0.0.80"), a(name, value)]))
            server.proc.send_signal(signal.SIGHUP)
            took = wait_answer(server, name, value, 5.0)
            assert took is not None, "reload %d: %s never answered; stderr:\n%s" % (
                i, name, server.stderr_text())
            assert took < RELOAD_ANSWER_LIMIT, "reload %d answered after %.3f s" % (i, took)
            slowest = max(slowest, took)
        # Every reload happened while the load was running.
        assert time.monotonic() - started < load.seconds - 0.5, "the reloads outlasted the load"
        result = load.result()
    finally:
        load.kill()

    assert count_lines(server, "reloaded:") == 20
    summary = "%s: %s (slowest reload answered after %.3f s)" % (
        result["tool"], {k: result[k] for k in ("sent", "lost", "mismatched", "rcodes")}, slowest)
    assert result["sent"] >= 2000 * load.seconds * 0.8, summary
    assert result["lost"] == 0, summary
    assert result["mismatched"] == 0, summary
    assert result["rcodes"].get("SERVFAIL", 0) == 0, summary
    assert result["rcodes"] == {"NOERROR": result["sent"]}, summary
