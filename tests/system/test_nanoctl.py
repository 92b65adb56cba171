"""nanoctl: how it finds the node, what it prints, and its exit status
(0 ok, 1 the node reported a failure, 2 usage error, 3 node unreachable).

Two kinds of node: a fake management API in this process (canned answers,
so a 422, a 503 or a dead data plane are deterministic), and a real
`nanodns start` with its API on a free loopback port."""

import base64
import http.server
import json
import os
import re
import shutil
import socket
import socketserver
import struct
import subprocess
import tempfile
import threading
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

import harness

NANOCTL = os.path.join(harness.BUILD_DIR, "nanoctl")
RUN_TIMEOUT = 20  # seconds for one nanoctl run, far above its own --timeout

OK, NODE_FAILURE, USAGE, UNREACHABLE = 0, 1, 2, 3


# Where nanoctl looks for a control socket first (NANOCTL_SOCKET) unless a
# test names one: nothing is there, so a node running on this machine (its
# socket in /var/lib/nanodns) is never asked.
NO_SOCKET = "/nonexistent/nanoctl-tests/control.sock"


def nanoctl(*args, cwd=None, env=None):
    """Run nanoctl to completion (in cwd, with env added to this process's
    environment, NANOCTL_SOCKET NO_SOCKET unless env sets it);
    CompletedProcess with text output."""
    proc = subprocess.run(
        [NANOCTL] + [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        cwd=cwd,
        env={**os.environ, "NANOCTL_SOCKET": NO_SOCKET, **(env or {})},
    )
    report = harness.sanitizer_report(proc.stderr)
    assert not report, "nanoctl %s:\n%s" % (" ".join(map(str, args)), report)
    return proc


@pytest.fixture(scope="session", autouse=True)
def nanoctl_built():
    if not os.access(NANOCTL, os.X_OK):
        pytest.fail("%s is not built (set NANODNS_BUILD_DIR)" % NANOCTL, pytrace=False)


# -- a fake node ------------------------------------------------------------


class FakeNode:
    """A stand-in management API: answers (method, path) with a canned
    (status, body) and records every request it gets; on host:port, or on a
    UNIX socket at socket_path (a node's control socket)."""

    def __init__(self, host="127.0.0.1", port=0, socket_path=None):
        self.routes = {}
        self.requests = []
        node = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self):
                node.requests.append((self.command, self.path, dict(self.headers)))
                status, body, delay = node.routes.get(
                    (self.command, self.path), (404, {"error": "no such endpoint"}, 0)
                )
                time.sleep(delay)  # a node busy with a large config
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = answer

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
            daemon_threads = True

        class LocalServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        if socket_path is not None:
            self.server = LocalServer(str(socket_path), Handler)
            self.host, self.port = str(socket_path), None
        else:
            self.server = Server((host, port), Handler)
            self.host = host
            self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def address(self):
        if self.port is None:
            return self.host  # the socket's path
        return ("[%s]:%d" if ":" in self.host else "%s:%d") % (self.host, self.port)

    def route(self, method, path, status, body, delay=0):
        self.routes[(method, path)] = (status, body, delay)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    node = FakeNode()
    yield node
    node.close()


# What GET /metrics answers on a healthy node: up 2h 3m 5s, 14770 queries.
METRICS = {
    "uptime_s": 7385,
    "version": 7,
    "checksum": "0123456789abcdef",
    "serial": {"x.test": 2024010108},
    "records": 12,
    "zones": 2,
    "rewrites": 1,
    "config_valid": True,
    "last_error": None,
    "cache": {"size": 50, "hits": 900, "misses": 100, "hit_rate": 0.9},
    "queries": {"total": 14770, "udp": 14000, "tcp": 770},
    "rcodes": {"NOERROR": 14000, "NXDOMAIN": 770},
    "answers": {"authoritative": 14770},
    "qtypes": {"A": 14770},
    "truncated": 0,
    "dropped": 0,
    "reloads": 3,
    "reload_failures": 1,
    "dataplane": {"alive": True, "pid": 4242, "image_version": 7},
}

CONFIG_ERRORS = [
    "nanodns.json:12:35: records[1].value: \"192.168.1.300\" is not an IPv4 address",
    "nanodns.json:13:44: records[2].tll: unknown key (did you mean \"ttl\"?)",
]


def metrics(**changes):
    answer = json.loads(json.dumps(METRICS))
    answer.update(changes)
    return answer


def line_with(text, label):
    """The output line that starts with label ("" when none)."""
    for line in text.splitlines():
        if line.startswith(label):
            return line
    return ""


# -- status against a fake node ---------------------------------------------


def test_status_asks_for_metrics_in_json(fake):
    fake.route("GET", "/metrics", 200, METRICS)
    nanoctl("-s", fake.address, "status")
    method, path, headers = fake.requests[0]
    assert (method, path) == ("GET", "/metrics")
    assert headers.get("Accept") == "application/json"


def test_status_of_a_healthy_node_exits_0(fake):
    fake.route("GET", "/metrics", 200, METRICS)
    proc = nanoctl("-s", fake.address, "status")
    assert proc.returncode == OK, proc.stderr
    assert proc.stderr == ""


def test_status_shows_version_records_and_zones(fake):
    fake.route("GET", "/metrics", 200, METRICS)
    out = nanoctl("-s", fake.address, "status").stdout
    assert "7" in line_with(out, "version:")
    assert "0123456789abcdef" in line_with(out, "version:")
    assert "12" in line_with(out, "records:") and "2 zones" in line_with(out, "records:")


def test_status_shows_the_served_serial_of_each_zone(fake):
    fake.route("GET", "/metrics", 200, METRICS)
    out = nanoctl("-s", fake.address, "status").stdout
    assert "x.test 2024010108" in line_with(out, "serial:")


def test_status_shows_uptime_in_hours_and_minutes(fake):
    fake.route("GET", "/metrics", 200, METRICS)
    out = nanoctl("-s", fake.address, "status").stdout
    assert line_with(out, "uptime:").split(None, 1)[1] == "2h 3m"


@pytest.mark.parametrize(
    "seconds, shown", [(0, "0s"), (59, "59s"), (61, "1m 1s"), (3600, "1h 0m"), (90061, "1d 1h")]
)
def test_status_uptime_uses_the_two_largest_units(fake, seconds, shown):
    fake.route("GET", "/metrics", 200, metrics(uptime_s=seconds))
    out = nanoctl("-s", fake.address, "status").stdout
    assert line_with(out, "uptime:").split(None, 1)[1] == shown


def test_status_shows_the_average_query_rate_since_start(fake):
    fake.route("GET", "/metrics", 200, METRICS)
    queries = line_with(nanoctl("-s", fake.address, "status").stdout, "queries:")
    assert "2.00/s avg" in queries  # 14770 queries in 7385 s
    assert "14770 total" in queries and "udp 14000" in queries and "tcp 770" in queries


def test_status_gives_no_rate_in_the_first_second(fake):
    fake.route("GET", "/metrics", 200, metrics(uptime_s=0.4, queries={"total": 30}))
    queries = line_with(nanoctl("-s", fake.address, "status").stdout, "queries:")
    assert queries.split(None, 1)[1] == "(30 total)"


def test_status_shows_the_cache_hit_rate(fake):
    fake.route("GET", "/metrics", 200, METRICS)
    cache = line_with(nanoctl("-s", fake.address, "status").stdout, "cache:")
    assert "90.0% hit rate" in cache


def test_status_shows_a_cache_without_lookups(fake):
    fake.route("GET", "/metrics", 200, metrics(cache={"size": 0, "hits": 0, "misses": 0}))
    proc = nanoctl("-s", fake.address, "status")
    assert proc.returncode == OK
    assert "no lookups yet" in line_with(proc.stdout, "cache:")


def test_status_shows_the_data_plane_answering(fake):
    fake.route("GET", "/metrics", 200, METRICS)
    out = nanoctl("-s", fake.address, "status").stdout
    assert line_with(out, "data plane:").split(None, 2)[2].startswith("answering (pid 4242")


def test_status_shows_a_valid_config(fake):
    fake.route("GET", "/metrics", 200, METRICS)
    out = nanoctl("-s", fake.address, "status").stdout
    assert line_with(out, "config:").split() == ["config:", "valid"]


def test_status_exits_1_when_the_data_plane_is_not_answering(fake):
    fake.route(
        "GET", "/metrics", 200, metrics(dataplane={"alive": False, "pid": 0, "image_version": 0})
    )
    proc = nanoctl("-s", fake.address, "status")
    assert proc.returncode == NODE_FAILURE
    assert "NOT ANSWERING" in line_with(proc.stdout, "data plane:")


def test_status_exits_1_and_shows_the_error_when_the_config_is_invalid(fake):
    last_error = "\n".join(CONFIG_ERRORS)
    fake.route("GET", "/metrics", 200, metrics(config_valid=False, last_error=last_error))
    proc = nanoctl("-s", fake.address, "status")
    assert proc.returncode == NODE_FAILURE
    assert "INVALID: serving the last good config" in line_with(proc.stdout, "config:")
    for error in CONFIG_ERRORS:
        assert error in proc.stdout


def test_status_exits_1_when_the_node_answers_503(fake):
    fake.route("GET", "/metrics", 503, {"status": "unavailable", "error": "data plane down"})
    proc = nanoctl("-s", fake.address, "status")
    assert proc.returncode == NODE_FAILURE
    assert "503" in proc.stderr and "data plane down" in proc.stderr


def test_status_exits_1_when_the_answer_is_not_json(fake):
    fake.route("GET", "/metrics", 200, b"<html>hello</html>")
    proc = nanoctl("-s", fake.address, "status")
    assert proc.returncode == NODE_FAILURE
    assert "not a JSON object" in proc.stderr


def test_status_prints_what_is_there_when_fields_are_missing(fake):
    fake.route("GET", "/metrics", 200, {"version": 3})
    proc = nanoctl("-s", fake.address, "status")
    assert proc.returncode == OK
    assert "3" in line_with(proc.stdout, "version:")


# -- --json -----------------------------------------------------------------


def test_json_prints_the_api_answer_with_schema_version(fake):
    fake.route("GET", "/metrics", 200, METRICS)
    proc = nanoctl("-s", fake.address, "--json", "status")
    assert proc.returncode == OK
    printed = json.loads(proc.stdout)
    assert printed.pop("schema_version") == 1
    assert printed == METRICS


def test_json_puts_schema_version_first(fake):
    fake.route("GET", "/metrics", 200, METRICS)
    printed = json.loads(nanoctl("-s", fake.address, "--json", "status").stdout)
    assert list(printed)[0] == "schema_version"


def test_json_is_pretty_printed(fake):
    fake.route("GET", "/metrics", 200, METRICS)
    out = nanoctl("-s", fake.address, "status", "--json").stdout
    assert len(out.splitlines()) > len(METRICS)


def test_json_status_keeps_the_exit_status_of_a_failure(fake):
    fake.route("GET", "/metrics", 200, metrics(config_valid=False, last_error="x"))
    proc = nanoctl("-s", fake.address, "--json", "status")
    assert proc.returncode == NODE_FAILURE
    assert json.loads(proc.stdout)["config_valid"] is False


# -- reload -----------------------------------------------------------------

RELOADED = {"status": "reloaded", "version": 8, "records": 13, "peers": {}}


def test_reload_posts_to_reload(fake):
    fake.route("POST", "/reload", 200, RELOADED)
    nanoctl("-s", fake.address, "reload")
    assert [(m, p) for m, p, _ in fake.requests] == [("POST", "/reload")]


def test_reload_prints_the_new_version_and_records(fake):
    fake.route("POST", "/reload", 200, RELOADED)
    proc = nanoctl("-s", fake.address, "reload")
    assert proc.returncode == OK
    assert proc.stdout == "reloaded: version 8, 13 records\n"


def test_reload_of_nothing_new_says_unchanged_and_exits_0(fake):
    fake.route("POST", "/reload", 200, {"status": "unchanged", "version": 8, "records": 13})
    proc = nanoctl("-s", fake.address, "reload")
    assert proc.returncode == OK, proc.stderr
    assert proc.stdout == "unchanged: version 8, 13 records (the file holds nothing new)\n"


def test_reload_refused_prints_every_error_and_exits_1(fake):
    fake.route("POST", "/reload", 422, {"status": "invalid", "errors": CONFIG_ERRORS})
    proc = nanoctl("-s", fake.address, "reload")
    assert proc.returncode == NODE_FAILURE
    lines = proc.stderr.splitlines()
    for error in CONFIG_ERRORS:
        assert error in lines  # one per line, as the node wrote it


def test_reload_refused_with_json_prints_the_errors_as_json(fake):
    fake.route("POST", "/reload", 422, {"status": "invalid", "errors": CONFIG_ERRORS})
    proc = nanoctl("-s", fake.address, "--json", "reload")
    assert proc.returncode == NODE_FAILURE
    printed = json.loads(proc.stdout)
    assert printed["schema_version"] == 1 and printed["errors"] == CONFIG_ERRORS


def test_reload_forbidden_exits_1_with_the_reason(fake):
    fake.route("POST", "/reload", 403, {"error": "changes are accepted from loopback only"})
    proc = nanoctl("-s", fake.address, "reload")
    assert proc.returncode == NODE_FAILURE
    assert "403" in proc.stderr and "loopback only" in proc.stderr


def test_reload_forbidden_prints_the_reason_the_node_gives(fake):
    reason = "an unsigned POST /reload is taken only on the control socket (nanoctl reload)"
    fake.route("POST", "/reload", 403, {"status": "forbidden", "reason": reason})
    proc = nanoctl("-s", fake.address, "reload")
    assert proc.returncode == NODE_FAILURE
    assert "403" in proc.stderr and reason in proc.stderr


# -- cluster ----------------------------------------------------------------

HASH = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
OTHER_HASH = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
COLUMNS = [
    "NODE", "REACHABLE", "STATUS", "VERSION", "HASH", "TRUSTED", "LAST SYNC", "AGREES",
    "BLOCKLISTS", "LISTS AGREE",
]

CLUSTER = {
    "self": {
        "address": "10.0.0.1:9053",
        "status": "ok",
        "version": 7,
        "hash": HASH,
        "records": 12,
    },
    "peers": {
        "10.0.0.2:9053": {
            "reachable": True,
            "version": 7,
            "hash": HASH,
            "status": "ok",
            "trusted": True,
            "last_sync": None,
            "agrees": True,
        },
        "10.0.0.3:9053": {
            "reachable": True,
            "version": 7,
            "hash": HASH,
            "status": "ok",
            "trusted": True,
            "last_sync": None,
            "agrees": True,
        },
    },
}


def cluster(**peer_changes):
    """CLUSTER with the named peers' fields changed: cluster(p={"agrees": False})
    changes peer 10.0.0.<p>:9053 ("p2", "p3")."""
    answer = json.loads(json.dumps(CLUSTER))
    for name, changes in peer_changes.items():
        answer["peers"]["10.0.0.%s:9053" % name[1:]].update(changes)
    return answer


def cluster_table(out):
    """The cluster table as a list of {heading: cell}: the columns are
    left-aligned under their headings, and some cells have spaces. The
    summary line under the table is not a row."""
    lines = out.splitlines()
    starts = [lines[0].index(heading) for heading in COLUMNS]
    bounds = starts + [None]
    rows = []
    for line in lines[1:]:
        if re.match(r"(blocklists: )?\d+ of \d+ peers? agrees? with this node", line):
            break
        cells = [line[bounds[i] : bounds[i + 1]].strip() for i in range(len(COLUMNS))]
        rows.append(dict(zip(COLUMNS, cells)))
    return rows


def peer_row(out, address):
    for row in cluster_table(out):
        if row["NODE"] == address:
            return row
    raise AssertionError("no row for %s in:\n%s" % (address, out))


def test_cluster_table_has_a_column_for_each_fact_about_a_member(fake):
    fake.route("GET", "/cluster", 200, CLUSTER)
    header = nanoctl("-s", fake.address, "cluster").stdout.splitlines()[0]
    assert re.split(r" {2,}", header) == COLUMNS


def test_cluster_lists_this_node_first_and_then_every_peer(fake):
    fake.route("GET", "/cluster", 200, CLUSTER)
    proc = nanoctl("-s", fake.address, "cluster")
    assert proc.returncode == OK, proc.stderr
    nodes = [row["NODE"] for row in cluster_table(proc.stdout)]
    assert nodes == ["10.0.0.1:9053 (this node)", "10.0.0.2:9053", "10.0.0.3:9053"]


def test_cluster_shows_a_peer_in_agreement(fake):
    fake.route("GET", "/cluster", 200, CLUSTER)
    row = peer_row(nanoctl("-s", fake.address, "cluster").stdout, "10.0.0.2:9053")
    assert row == {
        "NODE": "10.0.0.2:9053",
        "REACHABLE": "yes",
        "STATUS": "ok",
        "VERSION": "7",
        "HASH": HASH[:16],
        "TRUSTED": "yes",
        "LAST SYNC": "never",
        "AGREES": "yes",
        "BLOCKLISTS": "-",
        "LISTS AGREE": "-",
    }


def test_cluster_shows_this_node_without_trust_sync_or_agreement(fake):
    fake.route("GET", "/cluster", 200, CLUSTER)
    row = cluster_table(nanoctl("-s", fake.address, "cluster").stdout)[0]
    assert row == {
        "NODE": "10.0.0.1:9053 (this node)",
        "REACHABLE": "yes",
        "STATUS": "ok",
        "VERSION": "7",
        "HASH": HASH[:16],
        "TRUSTED": "-",
        "LAST SYNC": "-",
        "AGREES": "-",
        "BLOCKLISTS": "-",
        "LISTS AGREE": "-",
    }


def test_cluster_names_this_node_by_the_address_asked_when_the_api_gives_none(fake):
    answer = cluster()
    del answer["self"]["address"]
    fake.route("GET", "/cluster", 200, answer)
    row = cluster_table(nanoctl("-s", fake.address, "cluster").stdout)[0]
    assert row["NODE"] == fake.address + " (this node)"


def test_cluster_shows_the_first_16_hex_digits_of_each_hash(fake):
    fake.route("GET", "/cluster", 200, cluster(p3={"hash": OTHER_HASH}))
    out = nanoctl("-s", fake.address, "cluster").stdout
    assert cluster_table(out)[0]["HASH"] == "0123456789abcdef"
    assert peer_row(out, "10.0.0.3:9053")["HASH"] == "fedcba9876543210"


# A second may pass between the fake's answer and nanoctl reading its clock.
@pytest.mark.parametrize(
    "ago, shown",
    [
        (0, ("0s ago", "1s ago")),
        (42, ("42s ago", "43s ago")),
        (7230, ("2h 0m ago",)),
        (90061, ("1d 1h ago",)),
    ],
)
def test_cluster_shows_the_last_sync_as_time_ago(fake, ago, shown):
    fake.route("GET", "/cluster", 200, cluster(p2={"last_sync": int(time.time()) - ago}))
    row = peer_row(nanoctl("-s", fake.address, "cluster").stdout, "10.0.0.2:9053")
    assert row["LAST SYNC"] in shown


def test_cluster_shows_never_for_a_peer_never_synced_with(fake):
    fake.route("GET", "/cluster", 200, cluster(p2={"last_sync": None}))
    row = peer_row(nanoctl("-s", fake.address, "cluster").stdout, "10.0.0.2:9053")
    assert row["LAST SYNC"] == "never"


def test_cluster_shows_a_peer_without_a_key_as_not_trusted(fake):
    fake.route("GET", "/cluster", 200, cluster(p3={"trusted": False}))
    proc = nanoctl("-s", fake.address, "cluster")
    assert peer_row(proc.stdout, "10.0.0.3:9053")["TRUSTED"] == "no"


def test_cluster_with_an_untrusted_peer_that_agrees_exits_0(fake):
    fake.route("GET", "/cluster", 200, cluster(p3={"trusted": False}))
    assert nanoctl("-s", fake.address, "cluster").returncode == OK


def test_cluster_of_peers_that_all_agree_exits_0(fake):
    fake.route("GET", "/cluster", 200, CLUSTER)
    proc = nanoctl("-s", fake.address, "cluster")
    assert proc.returncode == OK
    assert proc.stderr == ""
    assert proc.stdout.splitlines()[-1] == "2 of 2 peers agree with this node"


LISTS = "ab93ca717d093d413a24752df981ce83e9f1c6ef031abcce98a95b2acd130388"
OTHER_LISTS = "44b7bdfcf418e312b45fa84a949ccacab7087661d8c2c5ab586c9ed4f9ca0137"


def cluster_with_lists(**peer_changes):
    """CLUSTER as a node with blocklist digests answers it: every member's
    digest LISTS and agreeing, but for the changes."""
    answer = cluster()
    answer["self"]["blocklist_digest"] = LISTS
    for peer in answer["peers"].values():
        peer.update({"blocklist_digest": LISTS, "blocklists_agree": True})
    for name, changes in peer_changes.items():
        answer["peers"]["10.0.0.%s:9053" % name[1:]].update(changes)
    return answer


def test_cluster_shows_each_members_blocklist_digest_and_whether_it_agrees(fake):
    fake.route("GET", "/cluster", 200, cluster_with_lists())
    proc = nanoctl("-s", fake.address, "cluster")
    table = cluster_table(proc.stdout)
    assert table[0]["BLOCKLISTS"] == LISTS[:16] and table[0]["LISTS AGREE"] == "-"
    row = peer_row(proc.stdout, "10.0.0.2:9053")
    assert (row["BLOCKLISTS"], row["LISTS AGREE"]) == (LISTS[:16], "yes")
    assert proc.stdout.splitlines()[-2:] == [
        "2 of 2 peers agree with this node",
        "blocklists: 2 of 2 peers agree with this node",
    ]


def test_cluster_shows_lists_that_differ_and_still_exits_0(fake):
    answer = cluster_with_lists(p3={"blocklist_digest": OTHER_LISTS, "blocklists_agree": False})
    fake.route("GET", "/cluster", 200, answer)
    proc = nanoctl("-s", fake.address, "cluster")
    assert proc.returncode == OK, proc.stdout + proc.stderr
    row = peer_row(proc.stdout, "10.0.0.3:9053")
    assert (row["BLOCKLISTS"], row["LISTS AGREE"], row["AGREES"]) == (OTHER_LISTS[:16], "NO", "yes")
    assert proc.stdout.splitlines()[-1] == "blocklists: 1 of 2 peers agree with this node (1 differs)"


def test_cluster_shows_a_peer_that_sent_no_blocklist_digest_as_unknown(fake):
    answer = cluster_with_lists(p2={"blocklist_digest": None, "blocklists_agree": None})
    fake.route("GET", "/cluster", 200, answer)
    proc = nanoctl("-s", fake.address, "cluster")
    assert proc.returncode == OK, proc.stdout + proc.stderr
    row = peer_row(proc.stdout, "10.0.0.2:9053")
    assert (row["BLOCKLISTS"], row["LISTS AGREE"]) == ("-", "unknown")
    assert proc.stdout.splitlines()[-1] == "blocklists: 1 of 2 peers agree with this node (1 unknown)"


def test_cluster_exits_1_when_a_peer_does_not_agree(fake):
    fake.route(
        "GET", "/cluster", 200, cluster(p3={"version": 8, "hash": OTHER_HASH, "agrees": False})
    )
    proc = nanoctl("-s", fake.address, "cluster")
    assert proc.returncode == NODE_FAILURE
    row = peer_row(proc.stdout, "10.0.0.3:9053")
    assert (row["VERSION"], row["HASH"], row["AGREES"]) == ("8", OTHER_HASH[:16], "NO")
    assert proc.stdout.splitlines()[-1] == "1 of 2 peers agree with this node (1 differs)"


def test_cluster_exits_1_when_a_peer_is_unreachable(fake):
    unreachable = {
        "reachable": False,
        "version": None,
        "hash": None,
        "status": "unreachable",
        "agrees": False,
    }
    fake.route("GET", "/cluster", 200, cluster(p3=unreachable))
    proc = nanoctl("-s", fake.address, "cluster")
    assert proc.returncode == NODE_FAILURE
    row = peer_row(proc.stdout, "10.0.0.3:9053")
    assert (row["REACHABLE"], row["VERSION"], row["HASH"]) == ("NO", "-", "-")
    assert proc.stdout.splitlines()[-1] == "1 of 2 peers agree with this node (1 unreachable)"


def test_cluster_exits_1_when_a_peer_says_it_is_unwell(fake):
    fake.route("GET", "/cluster", 200, cluster(p2={"status": "unavailable"}))
    proc = nanoctl("-s", fake.address, "cluster")
    assert proc.returncode == NODE_FAILURE
    assert peer_row(proc.stdout, "10.0.0.2:9053")["STATUS"] == "unavailable"


def test_cluster_exits_1_when_this_node_is_not_ok(fake):
    answer = cluster()
    answer["self"]["status"] = "unavailable"
    fake.route("GET", "/cluster", 200, answer)
    assert nanoctl("-s", fake.address, "cluster").returncode == NODE_FAILURE


def test_cluster_shows_a_dash_for_what_an_older_node_does_not_say(fake):
    older = {
        "self": {"status": "ok", "version": 7, "records": 12},
        "peers": {"10.0.0.2:9053": {"reachable": True, "version": 7, "status": "ok"}},
    }
    fake.route("GET", "/cluster", 200, older)
    proc = nanoctl("-s", fake.address, "cluster")
    row = peer_row(proc.stdout, "10.0.0.2:9053")
    assert (row["REACHABLE"], row["STATUS"], row["VERSION"]) == ("yes", "ok", "7")
    assert (row["HASH"], row["TRUSTED"], row["LAST SYNC"], row["AGREES"]) == ("-",) * 4
    assert cluster_table(proc.stdout)[0]["HASH"] == "-"


def test_cluster_does_not_fail_a_peer_that_does_not_say_whether_it_agrees(fake):
    older = {
        "self": {"status": "ok", "version": 7},
        "peers": {"10.0.0.2:9053": {"reachable": True, "version": 7, "status": "ok"}},
    }
    fake.route("GET", "/cluster", 200, older)
    proc = nanoctl("-s", fake.address, "cluster")
    assert proc.returncode == OK
    assert proc.stdout.splitlines()[-1] == "0 of 1 peer agrees with this node (1 unknown)"


def test_cluster_without_peers_is_this_node_alone(fake):
    fake.route("GET", "/cluster", 200, {"self": CLUSTER["self"], "peers": {}})
    proc = nanoctl("-s", fake.address, "cluster")
    assert proc.returncode == OK
    assert len(proc.stdout.splitlines()) == 2


def test_cluster_json_is_the_api_answer_with_schema_version(fake):
    fake.route("GET", "/cluster", 200, cluster(p3={"agrees": False}))
    proc = nanoctl("-s", fake.address, "--json", "cluster")
    assert proc.returncode == NODE_FAILURE  # the same verdict as the table
    printed = json.loads(proc.stdout)
    assert printed.pop("schema_version") == 1
    assert printed == cluster(p3={"agrees": False})


# -- signing reload with --key ---------------------------------------------

KEY_PREFIX = "nanodns-ed25519-secret-key "


def write_key(path, mode=0o600):
    """A key file as `nanodns keygen` writes it (envelope.h), made here with
    the cryptography package; returns the raw public key."""
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    # libsodium's secret key is the seed and then the public key
    path.write_text(KEY_PREFIX + base64.b64encode(seed + public).decode() + "\n")
    os.chmod(path, mode)
    return public


def request_message(signer, when, method, path, nonce, target):
    """envelope.h: "nanodns-request-v2" NUL | time (u64 BE) | nonce (16) |
    signer | target | method NUL | path."""
    return (
        b"nanodns-request-v2\0"
        + struct.pack(">Q", when)
        + nonce
        + signer
        + target
        + method.encode()
        + b"\0"
        + path.encode()
    )


def assert_signed_by(headers, public, before, after, target=None):
    """The request's signature headers verify for POST /reload by public,
    for the node whose key is target (default: public's own)."""
    assert base64.b64decode(headers["X-NanoDNS-Signer"], validate=True) == public
    when = int(headers["X-NanoDNS-Time"])
    assert before <= when <= after
    nonce = base64.b64decode(headers["X-NanoDNS-Nonce"], validate=True)
    assert len(nonce) == 16
    assert base64.b64decode(headers["X-NanoDNS-Target"], validate=True) == (target or public)
    signature = base64.b64decode(headers["X-NanoDNS-Signature"], validate=True)
    # raises InvalidSignature when it does not verify
    Ed25519PublicKey.from_public_bytes(public).verify(
        signature, request_message(public, when, "POST", "/reload", nonce, target or public)
    )


def test_key_signs_reload_sent_with_server(fake, tmp_path):
    fake.route("POST", "/reload", 200, RELOADED)
    public = write_key(tmp_path / "admin.key")
    before = int(time.time())
    proc = nanoctl("-s", fake.address, "--key", tmp_path / "admin.key", "reload")
    after = int(time.time())
    assert proc.returncode == OK, proc.stderr
    method, path, headers = fake.requests[0]
    assert (method, path) == ("POST", "/reload")
    assert_signed_by(headers, public, before, after)


def test_key_is_used_instead_of_the_configs_sync_key(fake, tmp_path):
    fake.route("POST", "/reload", 200, RELOADED)
    write_key(tmp_path / "node.key")
    public = write_key(tmp_path / "admin.key")
    config = write_json(
        tmp_path,
        {"server": {"mgmt_host": "127.0.0.1", "mgmt_port": fake.port, "sync_key": "node.key"}},
    )
    before = int(time.time())
    proc = nanoctl("-c", config, "-k", tmp_path / "admin.key", "reload")
    after = int(time.time())
    assert proc.returncode == OK, proc.stderr
    assert_signed_by(fake.requests[0][2], public, before, after)


def test_target_key_names_the_node_the_signed_reload_is_for(fake, tmp_path):
    fake.route("POST", "/reload", 200, RELOADED)
    public = write_key(tmp_path / "admin.key")
    node = write_key(tmp_path / "node.key")
    before = int(time.time())
    proc = nanoctl("-s", fake.address, "--key", tmp_path / "admin.key",
                   "--target-key", base64.b64encode(node).decode(), "reload")
    after = int(time.time())
    assert proc.returncode == OK, proc.stderr
    assert_signed_by(fake.requests[0][2], public, before, after, target=node)


def test_target_key_that_is_not_a_key_is_a_usage_error(fake, tmp_path):
    fake.route("POST", "/reload", 200, RELOADED)
    write_key(tmp_path / "admin.key")
    proc = nanoctl("-s", fake.address, "--key", tmp_path / "admin.key",
                   "--target-key", "not-a-key", "reload")
    assert proc.returncode == USAGE
    assert "--target-key" in proc.stderr
    assert fake.requests == []


def test_each_signed_reload_has_a_new_nonce(fake, tmp_path):
    fake.route("POST", "/reload", 200, RELOADED)
    write_key(tmp_path / "admin.key")
    for _ in range(2):
        proc = nanoctl("-s", fake.address, "--key", tmp_path / "admin.key", "reload")
        assert proc.returncode == OK, proc.stderr
    nonces = [headers["X-NanoDNS-Nonce"] for _, _, headers in fake.requests]
    assert len(nonces) == 2 and nonces[0] != nonces[1]


def test_key_that_cannot_be_read_exits_2_and_sends_nothing(fake, tmp_path):
    fake.route("POST", "/reload", 200, RELOADED)
    proc = nanoctl("-s", fake.address, "--key", tmp_path / "missing.key", "reload")
    assert proc.returncode == USAGE
    assert str(tmp_path / "missing.key") in proc.stderr
    assert fake.requests == []


def test_key_that_others_can_read_exits_2_and_sends_nothing(fake, tmp_path):
    fake.route("POST", "/reload", 200, RELOADED)
    write_key(tmp_path / "admin.key", mode=0o644)
    proc = nanoctl("-s", fake.address, "--key", tmp_path / "admin.key", "reload")
    assert proc.returncode == USAGE
    assert fake.requests == []


def test_key_signs_only_reload(fake, tmp_path):
    fake.route("GET", "/metrics", 200, METRICS)
    write_key(tmp_path / "admin.key")
    proc = nanoctl("-s", fake.address, "--key", tmp_path / "admin.key", "status")
    assert proc.returncode == OK, proc.stderr
    assert not any(h.lower().startswith("x-nanodns-") for h in fake.requests[0][2])


def test_reload_with_server_and_no_key_is_unsigned(fake):
    fake.route("POST", "/reload", 200, RELOADED)
    proc = nanoctl("-s", fake.address, "reload")
    assert proc.returncode == OK, proc.stderr
    assert not any(h.lower().startswith("x-nanodns-") for h in fake.requests[0][2])


def test_reload_sends_no_requested_by_header(fake):
    # The node no longer takes that header as a proof of a local client.
    fake.route("POST", "/reload", 200, RELOADED)
    assert nanoctl("-s", fake.address, "reload").returncode == OK
    assert "x-requested-by" not in {h.lower() for h in fake.requests[0][2]}


# -- the control socket -------------------------------------------------------


@pytest.fixture
def local_fake(tmp_path):
    """A fake node on a UNIX socket, as on a node's control socket."""
    node = FakeNode(socket_path=tmp_path / "control.sock")
    yield node
    node.close()


def test_socket_option_sends_the_request_over_the_socket(local_fake):
    local_fake.route("GET", "/metrics", 200, METRICS)
    proc = nanoctl("-S", local_fake.address, "status")
    assert proc.returncode == OK, proc.stderr
    method, path, headers = local_fake.requests[0]
    assert (method, path) == ("GET", "/metrics")
    assert headers.get("Host") == "localhost"
    assert local_fake.address in line_with(proc.stdout, "node:")


def test_reload_over_the_socket_is_unsigned(local_fake):
    local_fake.route("POST", "/reload", 200, RELOADED)
    proc = nanoctl("-v", "-S", local_fake.address, "reload")
    assert proc.returncode == OK, proc.stderr
    assert proc.stdout == "reloaded: version 8, 13 records\n"
    headers = local_fake.requests[0][2]
    assert not any(h.lower().startswith(("x-nanodns-", "x-requested-by")) for h in headers)
    assert "reload goes over the control socket, unsigned" in proc.stderr


def test_reload_waits_past_the_five_seconds_other_commands_wait(local_fake):
    # A reload is answered once the config is validated, compiled and
    # published: seconds for a large one. status gives up at 5 s.
    local_fake.route("POST", "/reload", 200, RELOADED, delay=5.5)
    local_fake.route("GET", "/metrics", 200, METRICS, delay=5.5)
    proc = nanoctl("-S", local_fake.address, "reload")
    assert proc.returncode == OK, proc.stderr
    assert proc.stdout == "reloaded: version 8, 13 records\n"
    start = time.monotonic()
    proc = nanoctl("-S", local_fake.address, "status")
    assert proc.returncode == UNREACHABLE
    assert "timed out" in proc.stderr
    assert time.monotonic() - start < 5.5


@pytest.mark.parametrize("option", ["--key", "--target-key"])
def test_a_key_with_the_socket_is_a_usage_error(local_fake, tmp_path, option):
    # A key that would not be used must not look as if it were.
    write_key(tmp_path / "admin.key")
    value = (str(tmp_path / "admin.key") if option == "--key"
             else "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    proc = nanoctl("-S", local_fake.address, option, value, "reload")
    assert proc.returncode == USAGE, proc.stderr
    assert "-S sends reload unsigned" in proc.stderr
    assert local_fake.requests == []


def test_socket_option_with_nothing_there_exits_3_and_looks_no_further(fake, places):
    # -S names one node: a config in the current directory is not a fallback.
    fake.route("GET", "/metrics", 200, METRICS)
    cwd, env = places
    write_json(cwd, {"server": {"mgmt_host": "127.0.0.1", "mgmt_port": fake.port}})
    proc = nanoctl("-S", cwd / "absent.sock", "status", cwd=cwd, env=env)
    assert proc.returncode == UNREACHABLE
    assert "absent.sock" in proc.stderr and "No such file" in proc.stderr
    assert fake.requests == []


# -- finding the node --------------------------------------------------------


def write_json(tmp_path, config, name="nanodns.json"):
    path = tmp_path / name
    path.write_text(config if isinstance(config, str) else json.dumps(config))
    return path


def test_config_gives_the_address(fake, tmp_path):
    fake.route("GET", "/metrics", 200, METRICS)
    config = write_json(tmp_path, {"server": {"mgmt_host": "127.0.0.1", "mgmt_port": fake.port}})
    proc = nanoctl("-c", config, "status")
    assert proc.returncode == OK, proc.stderr
    assert len(fake.requests) == 1


def test_config_wildcard_mgmt_host_connects_over_loopback(fake, tmp_path):
    fake.route("GET", "/metrics", 200, METRICS)
    config = write_json(tmp_path, {"server": {"mgmt_host": "0.0.0.0", "mgmt_port": fake.port}})
    proc = nanoctl("--config", config, "status")
    assert proc.returncode == OK, proc.stderr
    assert "127.0.0.1:%d" % fake.port in line_with(proc.stdout, "node:")


def test_config_without_mgmt_host_uses_the_default_wildcard(fake, tmp_path):
    fake.route("GET", "/metrics", 200, METRICS)
    config = write_json(tmp_path, {"server": {"mgmt_port": fake.port}})
    assert nanoctl("-c", config, "status").returncode == OK


def test_config_that_the_node_would_refuse_still_gives_the_address(fake, tmp_path):
    fake.route("POST", "/reload", 422, {"status": "invalid", "errors": CONFIG_ERRORS})
    config = write_json(
        tmp_path,
        {"server": {"mgmt_port": fake.port, "tll": 3}, "records": [{"name": "x", "type": "A"}]},
    )
    assert nanoctl("-c", config, "reload").returncode == NODE_FAILURE


def test_config_with_the_api_off_is_a_usage_error(tmp_path):
    config = write_json(tmp_path, {"server": {"mgmt_port": 0}})
    proc = nanoctl("-c", config, "status")
    assert proc.returncode == USAGE
    assert "the management API is off (mgmt_port is 0) in %s" % config in proc.stderr


def test_config_without_mgmt_port_has_the_api_off(tmp_path):
    config = write_json(tmp_path, {"server": {"port": 53}})
    proc = nanoctl("-c", config, "status")
    assert proc.returncode == USAGE
    assert "management API is off" in proc.stderr


def test_missing_config_is_a_usage_error(tmp_path):
    proc = nanoctl("-c", tmp_path / "absent.json", "status")
    assert proc.returncode == USAGE
    assert "absent.json" in proc.stderr and "No such file" in proc.stderr


def test_config_that_is_not_json_is_a_usage_error_with_line_and_column(tmp_path):
    config = write_json(tmp_path, '{\n  "server": {\n    "mgmt_port" 9053\n  }\n}\n')
    proc = nanoctl("-c", config, "status")
    assert proc.returncode == USAGE
    assert "%s:3:" % config in proc.stderr


def test_config_with_a_bad_mgmt_port_is_a_usage_error(tmp_path):
    config = write_json(tmp_path, {"server": {"mgmt_port": "9053"}})
    assert nanoctl("-c", config, "status").returncode == USAGE


# -- finding the node without -c, -s or -S -------------------------------------
#
# The control socket of the default state directory (NANOCTL_SOCKET stands in
# for it here) when a node answers there, then ./nanodns.json, then the
# system config (NANOCTL_SYSTEM_CONFIG stands in for /etc/nanodns/nanodns.json
# here), then 127.0.0.1:9053.

DEFAULT_SERVER = ("127.0.0.1", 9053)


@pytest.fixture
def places(tmp_path):
    """(cwd, env): an empty directory to run nanoctl in, and the environment
    naming a control socket and a system config that are not there yet
    (tmp_path/state/control.sock, tmp_path/etc.json)."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (tmp_path / "state").mkdir()
    return cwd, {
        "NANOCTL_SOCKET": str(tmp_path / "state" / "control.sock"),
        "NANOCTL_SYSTEM_CONFIG": str(tmp_path / "etc.json"),
    }


def test_the_control_socket_is_tried_before_any_config(fake, places):
    fake.route("POST", "/reload", 200, RELOADED)
    cwd, env = places
    write_json(cwd, {"server": {"mgmt_host": "127.0.0.1", "mgmt_port": fake.port}})
    local = FakeNode(socket_path=env["NANOCTL_SOCKET"])
    try:
        local.route("POST", "/reload", 200, RELOADED)
        proc = nanoctl("-v", "reload", cwd=cwd, env=env)
        assert proc.returncode == OK, proc.stderr
        assert [(m, p) for m, p, _ in local.requests] == [("POST", "/reload")]
        assert fake.requests == []
        assert proc.stderr.splitlines() == [
            "nanoctl: using %s (the control socket, from NANOCTL_SOCKET)" % env["NANOCTL_SOCKET"],
            "nanoctl: reload goes over the control socket, unsigned",
        ]
    finally:
        local.close()


def test_a_socket_nobody_listens_on_is_skipped(fake, places):
    # What a node killed without a clean stop leaves behind.
    fake.route("GET", "/metrics", 200, METRICS)
    cwd, env = places
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale:
        stale.bind(env["NANOCTL_SOCKET"])
    write_json(cwd, {"server": {"mgmt_host": "127.0.0.1", "mgmt_port": fake.port}})
    proc = nanoctl("-v", "status", cwd=cwd, env=env)
    assert proc.returncode == OK, proc.stderr
    assert len(fake.requests) == 1
    assert proc.stderr.splitlines()[0] == (
        "nanoctl: %s: Connection refused, skipped" % env["NANOCTL_SOCKET"]
    )


def test_a_file_that_is_not_a_socket_is_skipped(fake, places):
    fake.route("GET", "/metrics", 200, METRICS)
    cwd, env = places
    with open(env["NANOCTL_SOCKET"], "w") as f:
        f.write("not a socket\n")
    write_json(cwd, {"server": {"mgmt_host": "127.0.0.1", "mgmt_port": fake.port}})
    proc = nanoctl("status", cwd=cwd, env=env)
    assert proc.returncode == OK, proc.stderr
    assert len(fake.requests) == 1


def test_config_in_the_current_directory_is_used(fake, places):
    fake.route("GET", "/metrics", 200, METRICS)
    cwd, env = places
    write_json(cwd, {"server": {"mgmt_host": "127.0.0.1", "mgmt_port": fake.port}})
    proc = nanoctl("status", cwd=cwd, env=env)
    assert proc.returncode == OK, proc.stderr
    assert [(m, p) for m, p, _ in fake.requests] == [("GET", "/metrics")]
    assert proc.stderr == "", "without --verbose nanoctl says nothing of how it found the node"


def test_config_in_the_current_directory_wins_over_the_system_config(fake, places):
    fake.route("GET", "/metrics", 200, METRICS)
    other = FakeNode()
    try:
        other.route("GET", "/metrics", 200, METRICS)
        cwd, env = places
        write_json(cwd, {"server": {"mgmt_host": "127.0.0.1", "mgmt_port": fake.port}})
        with open(env["NANOCTL_SYSTEM_CONFIG"], "w") as f:
            json.dump({"server": {"mgmt_host": "127.0.0.1", "mgmt_port": other.port}}, f)
        proc = nanoctl("status", cwd=cwd, env=env)
        assert proc.returncode == OK, proc.stderr
        assert len(fake.requests) == 1 and other.requests == []
    finally:
        other.close()


def test_config_in_the_current_directory_signs_reload_with_its_sync_key(fake, places):
    fake.route("POST", "/reload", 200, RELOADED)
    cwd, env = places
    public = write_key(cwd / "node.key")
    write_json(cwd, {"server": {"mgmt_host": "127.0.0.1", "mgmt_port": fake.port,
                                "sync_key": "node.key"}})
    before = int(time.time())
    proc = nanoctl("reload", cwd=cwd, env=env)
    after = int(time.time())
    assert proc.returncode == OK, proc.stderr
    assert_signed_by(fake.requests[0][2], public, before, after)


def test_system_config_is_used_when_the_current_directory_has_none(fake, places):
    fake.route("GET", "/metrics", 200, METRICS)
    cwd, env = places
    with open(env["NANOCTL_SYSTEM_CONFIG"], "w") as f:
        json.dump({"server": {"mgmt_host": "127.0.0.1", "mgmt_port": fake.port}}, f)
    proc = nanoctl("--verbose", "status", cwd=cwd, env=env)
    assert proc.returncode == OK, proc.stderr
    assert len(fake.requests) == 1
    assert proc.stderr.splitlines() == [
        "nanoctl: %s: not found, skipped" % env["NANOCTL_SOCKET"],
        "nanoctl: ./nanodns.json: not found, skipped",
        "nanoctl: using %s (the system config, from NANOCTL_SYSTEM_CONFIG): node at 127.0.0.1:%d"
        % (env["NANOCTL_SYSTEM_CONFIG"], fake.port),
    ]


def test_without_any_config_the_default_address_is_used(places):
    cwd, env = places
    try:
        node = FakeNode(*DEFAULT_SERVER)
    except OSError:
        pytest.skip("127.0.0.1:9053 is in use on this host")
    try:
        node.route("GET", "/metrics", 200, METRICS)
        proc = nanoctl("status", cwd=cwd, env=env)
        assert proc.returncode == OK, proc.stderr
        assert [(m, p) for m, p, _ in node.requests] == [("GET", "/metrics")]
        assert "127.0.0.1:9053" in line_with(proc.stdout, "node:")
    finally:
        node.close()


def test_verbose_says_why_each_place_was_skipped_before_the_default(places):
    cwd, env = places
    proc = nanoctl("-v", "--timeout", "0.5", "status", cwd=cwd, env=env)
    assert proc.stderr.splitlines()[:4] == [
        "nanoctl: %s: not found, skipped" % env["NANOCTL_SOCKET"],
        "nanoctl: ./nanodns.json: not found, skipped",
        "nanoctl: %s: not found, skipped" % env["NANOCTL_SYSTEM_CONFIG"],
        "nanoctl: using the default address 127.0.0.1:9053 (no config file found)",
    ], proc.stderr


def test_verbose_names_the_config_the_loopback_it_reaches_and_the_key(fake, places):
    fake.route("POST", "/reload", 200, RELOADED)
    cwd, env = places
    write_key(cwd / "node.key")
    write_json(cwd, {"server": {"mgmt_host": "0.0.0.0", "mgmt_port": fake.port,
                                "sync_key": "node.key"}})
    proc = nanoctl("--verbose", "reload", cwd=cwd, env=env)
    assert proc.returncode == OK, proc.stderr
    assert proc.stderr.splitlines() == [
        "nanoctl: %s: not found, skipped" % env["NANOCTL_SOCKET"],
        "nanoctl: using ./nanodns.json (found in the current directory): node at 127.0.0.1:%d "
        "(server.mgmt_host 0.0.0.0 is reached over loopback)" % fake.port,
        "nanoctl: reload is signed with ./node.key (server.sync_key)",
    ]


def test_verbose_with_server_and_config_says_so(fake, tmp_path):
    fake.route("GET", "/metrics", 200, METRICS)
    proc = nanoctl("-v", "-s", fake.address, "status")
    assert proc.stderr == "nanoctl: using %s (-s)\n" % fake.address
    config = write_json(tmp_path, {"server": {"mgmt_host": "127.0.0.1", "mgmt_port": fake.port}})
    proc = nanoctl("-v", "-c", config, "status")
    assert proc.stderr == "nanoctl: using %s (-c): node at %s\n" % (config, fake.address)


def test_broken_config_in_the_current_directory_is_an_error_not_a_fallback(fake, places):
    """The operator meant that node: another place may name another one."""
    fake.route("GET", "/metrics", 200, METRICS)
    cwd, env = places
    with open(env["NANOCTL_SYSTEM_CONFIG"], "w") as f:
        json.dump({"server": {"mgmt_host": "127.0.0.1", "mgmt_port": fake.port}}, f)
    write_json(cwd, '{\n  "server": {\n    "mgmt_port" 9053\n  }\n}\n')
    proc = nanoctl("status", cwd=cwd, env=env)
    assert proc.returncode == USAGE
    assert "./nanodns.json:3:" in proc.stderr
    assert "looks no further" in proc.stderr
    assert fake.requests == []


@pytest.mark.parametrize(
    "content",
    [{"server": {"mgmt_port": 0}}, {"server": {"mgmt_port": "9053"}}, "directory"],
    ids=["api off", "bad mgmt_port", "not a readable file"],
)
def test_unusable_config_in_the_current_directory_exits_2(fake, places, content):
    fake.route("GET", "/metrics", 200, METRICS)
    cwd, env = places
    with open(env["NANOCTL_SYSTEM_CONFIG"], "w") as f:
        json.dump({"server": {"mgmt_host": "127.0.0.1", "mgmt_port": fake.port}}, f)
    if content == "directory":
        (cwd / "nanodns.json").mkdir()  # there, and unreadable even by root
    else:
        write_json(cwd, content)
    proc = nanoctl("status", cwd=cwd, env=env)
    assert proc.returncode == USAGE, proc.stderr
    assert "./nanodns.json" in proc.stderr
    assert fake.requests == []


def test_broken_system_config_is_an_error_not_a_fallback(places):
    cwd, env = places
    with open(env["NANOCTL_SYSTEM_CONFIG"], "w") as f:
        f.write("{")
    proc = nanoctl("status", cwd=cwd, env=env)
    assert proc.returncode == USAGE
    assert env["NANOCTL_SYSTEM_CONFIG"] + ":" in proc.stderr
    assert "127.0.0.1:9053" not in proc.stderr


def ipv6_loopback_available():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback_available(), reason="no ::1 on this host")
def test_server_option_takes_a_bracketed_ipv6_address():
    node = FakeNode("::1")
    try:
        node.route("GET", "/metrics", 200, METRICS)
        proc = nanoctl("-s", "[::1]:%d" % node.port, "status")
        assert proc.returncode == OK, proc.stderr
    finally:
        node.close()


@pytest.mark.skipif(not ipv6_loopback_available(), reason="no ::1 on this host")
def test_config_wildcard_ipv6_mgmt_host_connects_to_ipv6_loopback(tmp_path):
    node = FakeNode("::1")
    try:
        node.route("GET", "/metrics", 200, METRICS)
        config = write_json(tmp_path, {"server": {"mgmt_host": "::", "mgmt_port": node.port}})
        proc = nanoctl("-c", config, "status")
        assert proc.returncode == OK, proc.stderr
        assert "[::1]:%d" % node.port in line_with(proc.stdout, "node:")
    finally:
        node.close()


# -- an unreachable node ------------------------------------------------------


def test_refused_connection_exits_3():
    port = harness.free_port()
    proc = nanoctl("-s", "127.0.0.1:%d" % port, "status")
    assert proc.returncode == UNREACHABLE
    assert "Connection refused" in proc.stderr


def test_node_that_never_answers_exits_3_after_the_timeout():
    # A listening socket nobody accepts from: the handshake completes in the
    # kernel, the request is sent, no answer ever comes.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        start = time.monotonic()
        address = "127.0.0.1:%d" % listener.getsockname()[1]
        proc = nanoctl("-s", address, "--timeout", "0.5", "status")
        elapsed = time.monotonic() - start
    assert proc.returncode == UNREACHABLE
    assert "timed out" in proc.stderr
    assert elapsed < 3


def serve_once(reply):
    """A listener that answers one connection with reply bytes and closes."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def run():
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(4096)
            except OSError:
                pass
            conn.sendall(reply)
        listener.close()

    threading.Thread(target=run, daemon=True).start()
    return listener.getsockname()[1]


def test_something_that_is_not_http_exits_3():
    port = serve_once(b"SSH-2.0-OpenSSH_9.2\r\n")
    proc = nanoctl("-s", "127.0.0.1:%d" % port, "status")
    assert proc.returncode == UNREACHABLE
    assert "not HTTP" in proc.stderr


def test_connection_closed_without_an_answer_exits_3():
    port = serve_once(b"")
    proc = nanoctl("-s", "127.0.0.1:%d" % port, "status")
    assert proc.returncode == UNREACHABLE


def test_answer_cut_short_exits_3():
    port = serve_once(b"HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\n{\"version\": 1")
    proc = nanoctl("-s", "127.0.0.1:%d" % port, "status")
    assert proc.returncode == UNREACHABLE
    assert "middle of the answer" in proc.stderr


def test_answer_delimited_by_close_is_read_whole():
    head = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n"
    port = serve_once(head + json.dumps(METRICS).encode())
    proc = nanoctl("-s", "127.0.0.1:%d" % port, "--json", "status")
    assert proc.returncode == OK, proc.stderr
    assert json.loads(proc.stdout)["version"] == 7


# -- usage ------------------------------------------------------------------


def test_help_prints_the_usage_and_exits_0():
    proc = nanoctl("--help")
    assert proc.returncode == OK
    assert proc.stdout.startswith("usage: nanoctl")
    for command in ("status", "reload", "cluster"):
        assert command in proc.stdout


def test_version_prints_the_version():
    proc = nanoctl("--version")
    assert proc.returncode == OK
    assert proc.stdout.startswith("nanoctl ")


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["frobnicate"],
        ["status", "extra"],
        ["--bogus", "status"],
        ["-x", "status"],
        ["status", "--timeout"],
        ["--timeout", "0", "status"],
        ["--timeout", "soon", "status"],
        ["-s", "127.0.0.1:1", "-c", "/dev/null", "status"],
        ["-S", "/nonexistent/control.sock", "-s", "127.0.0.1:1", "status"],
        ["-S", "/nonexistent/control.sock", "-c", "/dev/null", "status"],
        ["-S", "", "status"],
    ],
    ids=lambda args: " ".join(args) or "no arguments",
)
def test_bad_usage_exits_2(args):
    proc = nanoctl(*args)
    assert proc.returncode == USAGE
    assert proc.stdout == ""
    assert proc.stderr.startswith("nanoctl: ")


@pytest.mark.parametrize(
    "server",
    ["127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:x", ":9053",
     "::1:9053", "[::1]", "[::1]9053", "[not-v6]:9053"],
)
def test_bad_server_address_exits_2(server):
    proc = nanoctl("-s", server, "status")
    assert proc.returncode == USAGE
    assert "HOST:PORT" in proc.stderr


# -- a real node --------------------------------------------------------------

ZONE = {
    "soa": {
        "mname": "ns1.ctl.test",
        "rname": "hostmaster.ctl.test",
        "serial": 100,
        "refresh": 3600,
        "retry": 900,
        "expire": 604800,
        "minimum": 300,
    },
    "ns": ["ns1.ctl.test"],
}


def node_config(mgmt_port, records=None):
    return {
        "server": harness.base_server(mgmt_host="127.0.0.1", mgmt_port=mgmt_port),
        "zones": {"ctl.test": ZONE},
        "records": records
        if records is not None
        else [
            {"name": "ns1.ctl.test", "type": "A", "value": "10.0.0.1"},
            {"name": "www.ctl.test", "type": "A", "value": "10.0.0.80"},
        ],
        "rewrites": [],
    }


def start_node():
    """A real nanodns with its management API on a free loopback port, in a
    directory of its own under /tmp that any user may traverse: started as
    root, the data plane runs as an unprivileged user and must still read the
    images that reloads publish (pytest's directories are 0700)."""
    for attempt in range(3):
        directory = tempfile.mkdtemp(prefix="nanoctl-test-", dir="/tmp")
        os.chmod(directory, 0o755)
        port = harness.free_port()
        server = harness.Server(directory, node_config(port))
        server.mgmt = "127.0.0.1:%d" % port
        try:
            return server.start()
        except RuntimeError:
            shutil.rmtree(directory, ignore_errors=True)
            # free_port() released the ports before nanodns bound them.
            if "address already in use" not in server.stderr_text().lower() or attempt == 2:
                raise


def control_socket(server):
    """The node's control socket: STATE_DIR/control.sock."""
    return os.path.join(server.state_dir, "control.sock")


def stop_node(server):
    """Stop the node: it must exit 0, with no sanitizer report."""
    rc = server.stop()
    server.kill()
    shutil.rmtree(server.tmpdir, ignore_errors=True)
    assert rc == 0, "nanodns: exit %r after SIGTERM; stderr:\n%s" % (rc, server.stderr_text())
    report = harness.sanitizer_report(server.stderr_text())
    assert not report, report


@pytest.fixture
def node():
    server = start_node()
    yield server
    stop_node(server)


def edit_config(server, change):
    """Apply change(config dict) to the node's config file, as an operator would."""
    with open(server.config_path) as f:
        config = json.load(f)
    change(config)
    harness.write_config(os.path.dirname(server.config_path), config)


def answers_within(server, name, want, timeout):
    """True once name/A answers exactly want, polled until timeout."""
    deadline = time.monotonic() + timeout
    while True:
        answer = server.ask(name, "A")
        if harness.texts(harness.rrset(answer.answer, name, "A")) == want:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)  # the switch has no event a client can wait on


def test_real_node_status_exits_0_and_shows_version_and_records(node):
    proc = nanoctl("-s", node.mgmt, "status")
    assert proc.returncode == OK, proc.stdout + proc.stderr
    assert line_with(proc.stdout, "version:").split()[1] == "1"
    assert line_with(proc.stdout, "records:").split()[1] == "2"
    assert "answering" in line_with(proc.stdout, "data plane:")
    assert line_with(proc.stdout, "config:").split() == ["config:", "valid"]


def test_real_node_status_shows_the_served_serial(node):
    out = nanoctl("-s", node.mgmt, "status").stdout
    assert "ctl.test 101" in line_with(out, "serial:")  # serial 100 + config_version 1


def test_real_node_json_status_parses_and_has_schema_version(node):
    proc = nanoctl("-s", node.mgmt, "--json", "status")
    assert proc.returncode == OK, proc.stderr
    printed = json.loads(proc.stdout)
    assert printed["schema_version"] == 1
    assert printed["version"] == 1 and printed["records"] == 2


def test_real_node_found_through_its_config(node):
    proc = nanoctl("-c", node.config_path, "status")
    assert proc.returncode == OK, proc.stderr
    assert node.mgmt in line_with(proc.stdout, "node:")


def test_real_node_reload_after_an_edit_publishes_the_next_version(node):
    edit_config(
        node,
        lambda c: c["records"].append({"name": "new.ctl.test", "type": "A", "value": "10.0.0.99"}),
    )
    proc = nanoctl("-S", control_socket(node), "reload")
    assert proc.returncode == OK, proc.stderr
    assert proc.stdout == "reloaded: version 2, 3 records\n"
    # The data plane switches to the new image on its own loop: within 1 s.
    assert answers_within(node, "new.ctl.test", ["10.0.0.99"], 1.0)
    assert line_with(nanoctl("-s", node.mgmt, "status").stdout, "version:").split()[1] == "2"


def test_real_node_refuses_an_invalid_config_and_exits_1_with_the_errors(node):
    bad = {"name": "bad.ctl.test", "type": "A", "value": "10.0.0.300"}
    edit_config(node, lambda c: c["records"].append(bad))
    proc = nanoctl("-S", control_socket(node), "reload")
    assert proc.returncode == NODE_FAILURE
    errors = [line for line in proc.stderr.splitlines() if "10.0.0.300" in line]
    assert errors, proc.stderr
    assert errors[0].startswith(os.path.basename(node.config_path)) or errors[0].startswith(
        node.config_path
    )
    assert "records[2].value" in errors[0]
    # Nothing changed: the old data still answers, and status says why it is stale.
    answer = node.ask("www.ctl.test", "A")
    assert harness.texts(harness.rrset(answer.answer, "www.ctl.test", "A")) == ["10.0.0.80"]
    status = nanoctl("-s", node.mgmt, "status")
    assert status.returncode == NODE_FAILURE
    assert "INVALID" in line_with(status.stdout, "config:")


def test_real_node_cluster_without_peers_lists_this_node(node):
    proc = nanoctl("-s", node.mgmt, "cluster")
    assert proc.returncode == OK, proc.stderr
    rows = cluster_table(proc.stdout)
    assert len(rows) == 1
    # named by self.address, or by the address asked on a node that gives none
    assert rows[0]["NODE"].endswith(" (this node)")
    assert (rows[0]["STATUS"], rows[0]["VERSION"]) == ("ok", "1")


def test_real_node_json_cluster_has_self_and_peers(node):
    printed = json.loads(nanoctl("-s", node.mgmt, "--json", "cluster").stdout)
    assert printed["schema_version"] == 1
    assert printed["self"]["version"] == 1 and printed["peers"] == {}


def test_real_node_stopped_is_unreachable():
    server = start_node()
    stop_node(server)
    proc = nanoctl("-s", server.mgmt, "status")
    assert proc.returncode == UNREACHABLE


def test_real_node_reload_without_an_edit_is_unchanged(node):
    before = harness.kdig_serial(node.host, node.port, "ctl.test")
    proc = nanoctl("-S", control_socket(node), "reload")
    assert proc.returncode == OK, proc.stderr
    assert proc.stdout == "unchanged: version 1, 2 records (the file holds nothing new)\n"
    assert harness.kdig_serial(node.host, node.port, "ctl.test") == before == 101
    assert line_with(nanoctl("-s", node.mgmt, "status").stdout, "version:").split()[1] == "1"


def test_quickstart_folder_nanoctl_finds_the_node_by_its_nanodns_json():
    """The README's quickstart: `nanodns init nanodns.json`, `nanodns start
    --config nanodns.json`, then `nanoctl status` from the same folder, with
    no -c or -s. Only the API's port is moved to a free one (and its address
    kept on loopback), and the state directory is the test's: NANOCTL_SOCKET
    names its control socket, which nanoctl finds in the default state
    directory on a real host."""
    directory = harness.public_tmpdir("nanoctl-quickstart-")
    server = None
    try:
        proc = harness.run_nanodns("init", "nanodns.json", cwd=directory)
        assert proc.returncode == 0, proc.stderr
        with open(os.path.join(directory, "nanodns.json")) as f:
            text = f.read()
        port = harness.free_port()
        text, moved = re.subn(r'"mgmt_port": \d+', '"mgmt_port": %d' % port, text)
        assert moved == 1, text
        text = re.sub(r'"mgmt_host": "[^"]*"', '"mgmt_host": "127.0.0.1"', text)
        server = harness.Server(directory, text).start()
        env = {"NANOCTL_SYSTEM_CONFIG": os.path.join(directory, "absent.json")}

        # Without a control socket to find: ./nanodns.json gives the address.
        proc = nanoctl("-v", "status", cwd=directory, env=env)
        assert proc.returncode == OK, proc.stdout + proc.stderr
        assert "127.0.0.1:%d" % port in line_with(proc.stdout, "node:")
        assert line_with(proc.stdout, "version:").split()[1] == "1"
        assert "using ./nanodns.json (found in the current directory)" in proc.stderr

        # The node's control socket is found first, and takes an unsigned reload.
        env["NANOCTL_SOCKET"] = control_socket(server)
        proc = nanoctl("-v", "reload", cwd=directory, env=env)
        assert proc.returncode == OK, proc.stderr
        assert proc.stdout.startswith("unchanged: version 1, "), proc.stdout
        assert "using %s (the control socket" % control_socket(server) in proc.stderr
    finally:
        if server is not None:
            stop_node(server)
        shutil.rmtree(directory, ignore_errors=True)
