"""Blocklist files (issue 13): "blocklists" in the domains, hosts and adblock
formats, the "allowlist", server.block_response, bad lines reported by
`nanodns check`, a missing list refused by check and start, and a reload
after a list file is edited. Watching them: with hot_reload a name appended
to a list is blocked without a touch of the config, and a list made
unreadable is reported once while the lists loaded keep serving. /metrics
and its Prometheus text show each list's entries and skipped lines; /health,
/cluster and `nanoctl cluster` show each node's blocklist digest, which
agrees between nodes with the same lists and differs otherwise."""

import hashlib
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time

import dns.rcode
import pytest

import api_client
import harness
from cluster import Cluster
from harness import run_nanodns

NANOCTL = os.path.join(harness.BUILD_DIR, "nanoctl")
HOT_RELOAD_WAIT = 11.0  # two 5 s polls and a margin: an edit may just miss one


def config(blocklists, allowlist=None, **server):
    cfg = {
        "server": harness.base_server(**server),
        "zones": {"x.test": harness.zone("x.test")},
        "records": [
            {"name": "ns1.x.test", "type": "A", "value": "10.0.0.53"},
            {"name": "www.x.test", "type": "A", "value": "10.0.0.80"},
            {"name": "ads.x.test", "type": "A", "value": "10.0.0.66"},
            {"name": "cdn.ads.x.test", "type": "A", "value": "10.0.0.67"},
            {"name": "good.ads.x.test", "type": "A", "value": "10.0.0.68"},
        ],
        "blocklists": blocklists,
    }
    if allowlist is not None:
        cfg["allowlist"] = allowlist
    return cfg


def write_list(directory, name, text):
    os.makedirs(os.path.join(str(directory), "lists"), exist_ok=True)
    with open(os.path.join(str(directory), "lists", name), "w") as f:
        f.write(text)
    return "lists/" + name


def rcode(server, name, rdtype="A"):
    return server.ask(name, rdtype).rcode()


def addresses(server, name, rdtype="A"):
    response = server.ask(name, rdtype)
    return sorted(rr.to_text() for rrset in response.answer for rr in rrset)


def test_listed_name_and_its_subdomain_are_nxdomain_by_default(tmp_path, servers):
    path = write_list(tmp_path, "ads.txt", "# ads\nads.x.test\nblocked.example # far away\n")
    server = servers(tmp_path, config([{"path": path, "format": "domains"}]))
    assert rcode(server, "ads.x.test") == dns.rcode.NXDOMAIN
    assert rcode(server, "cdn.ads.x.test") == dns.rcode.NXDOMAIN
    assert rcode(server, "deep.sub.blocked.example") == dns.rcode.NXDOMAIN
    assert addresses(server, "www.x.test") == ["10.0.0.80"]


def test_block_response_null_answers_unspecified_addresses(tmp_path, servers):
    path = write_list(tmp_path, "ads.txt", "ads.x.test\n")
    server = servers(
        tmp_path, config([{"path": path, "format": "domains"}], block_response="null")
    )
    response = server.ask("cdn.ads.x.test", "A")
    assert response.rcode() == dns.rcode.NOERROR
    assert [rr.to_text() for rrset in response.answer for rr in rrset] == ["0.0.0.0"]
    assert addresses(server, "ads.x.test", "AAAA") == ["::"]
    response = server.ask("ads.x.test", "MX")
    assert response.rcode() == dns.rcode.NOERROR and response.answer == []


def test_block_response_refused(tmp_path, servers):
    path = write_list(tmp_path, "ads.txt", "ads.x.test\n")
    server = servers(
        tmp_path, config([{"path": path, "format": "domains"}], block_response="refused")
    )
    assert rcode(server, "cdn.ads.x.test") == dns.rcode.REFUSED
    assert addresses(server, "www.x.test") == ["10.0.0.80"]


def test_allowlisted_name_is_not_blocked(tmp_path, servers):
    path = write_list(tmp_path, "ads.txt", "ads.x.test\n")
    server = servers(
        tmp_path, config([{"path": path, "format": "domains"}], allowlist=["good.ads.x.test"])
    )
    assert addresses(server, "good.ads.x.test") == ["10.0.0.68"]
    assert rcode(server, "cdn.ads.x.test") == dns.rcode.NXDOMAIN


def test_hosts_format_blocks_every_name_on_a_line(tmp_path, servers):
    path = write_list(
        tmp_path,
        "hosts",
        "127.0.0.1 localhost\n0.0.0.0 cdn.ads.x.test www.x.test\n:: good.ads.x.test\n",
    )
    server = servers(tmp_path, config([{"path": path, "format": "hosts"}]))
    assert rcode(server, "cdn.ads.x.test") == dns.rcode.NXDOMAIN
    assert rcode(server, "www.x.test") == dns.rcode.NXDOMAIN
    assert rcode(server, "good.ads.x.test") == dns.rcode.NXDOMAIN
    assert addresses(server, "ads.x.test") == ["10.0.0.66"]


def test_adblock_format_with_an_exception(tmp_path, servers):
    path = write_list(
        tmp_path,
        "filter.txt",
        "[Adblock Plus 2.0]\n! Title: test\n||ads.x.test^\n@@||good.ads.x.test^\n"
        "example.org##.banner\n",
    )
    server = servers(tmp_path, config([{"path": path, "format": "adblock"}]))
    assert rcode(server, "cdn.ads.x.test") == dns.rcode.NXDOMAIN
    assert addresses(server, "good.ads.x.test") == ["10.0.0.68"]


def test_check_reports_a_bad_line_and_still_accepts(tmp_path):
    path = write_list(tmp_path, "ads.txt", "ads.x.test\nnot a name\nbad..name\nok.example\n")
    cfg_path = harness.write_config(tmp_path, config([{"path": path, "format": "domains"}]))
    proc = run_nanodns("check", cfg_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK Config is valid." in proc.stdout
    assert "warning: blocklists[0].path" in proc.stderr, proc.stderr
    assert "2 lines skipped" in proc.stderr and "lines 2, 3" in proc.stderr, proc.stderr


def test_check_refuses_a_missing_list_file(tmp_path):
    cfg_path = harness.write_config(
        tmp_path, config([{"path": "lists/absent.txt", "format": "domains"}])
    )
    proc = run_nanodns("check", cfg_path)
    assert proc.returncode != 0
    assert "blocklists[0].path" in proc.stderr, proc.stderr
    assert "absent.txt" in proc.stderr and "No such file" in proc.stderr, proc.stderr


def test_start_refuses_a_missing_list_file(tmp_path):
    server = harness.Server(tmp_path, config([{"path": "lists/absent.txt", "format": "domains"}]))
    server.start(wait_ready=False)
    try:
        rc = server.wait_exit(10)
        assert rc is not None and rc != 0, "start kept running without its list file"
        assert "blocklists[0].path" in server.stderr_text()
        assert "serving " not in server.stderr_text()
        assert not harness.sanitizer_report(server.stderr_text())
    finally:
        server.kill()


def wait_rcode(server, name, wanted, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if rcode(server, name) == wanted:
            return True
        time.sleep(0.05)
    return False


def test_sighup_after_a_list_edit_applies_it(public_tmp, servers):
    path = write_list(public_tmp, "ads.txt", "ads.x.test\n")
    server = servers(public_tmp, config([{"path": path, "format": "domains"}]))
    assert rcode(server, "www.x.test") == dns.rcode.NOERROR
    write_list(public_tmp, "ads.txt", "ads.x.test\nwww.x.test\n")
    server.proc.send_signal(signal.SIGHUP)
    assert wait_rcode(server, "www.x.test", dns.rcode.NXDOMAIN), server.stderr_text()
    assert rcode(server, "cdn.ads.x.test") == dns.rcode.NXDOMAIN


def test_nanoctl_reload_after_a_list_edit_applies_it(public_tmp, servers):
    path = write_list(public_tmp, "ads.txt", "ads.x.test\n")
    server = servers(public_tmp, config([{"path": path, "format": "domains"}]))
    assert rcode(server, "cdn.ads.x.test") == dns.rcode.NXDOMAIN
    write_list(public_tmp, "ads.txt", "# emptied\n")
    sock = os.path.join(server.state_dir, "control.sock")
    proc = subprocess.run(
        [NANOCTL, "-S", sock, "reload"], capture_output=True, text=True, timeout=20
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert wait_rcode(server, "cdn.ads.x.test", dns.rcode.NOERROR), server.stderr_text()


# -- watched with hot_reload ----------------------------------------------------------


def dig_status(server, name, rdtype="A"):
    """The rcode dig gets for name ("NOERROR", "NXDOMAIN", ...): a client
    independent of the test's own."""
    proc = subprocess.run(
        ["dig", "@" + server.host, "-p", str(server.port), "+tries=3", "+time=2", "+noall",
         "+comments", name, rdtype],
        capture_output=True, text=True, timeout=10,
    )
    m = re.search(r"status: ([A-Z]+)", proc.stdout)
    assert m, "dig %s: exit %d\n%s%s" % (name, proc.returncode, proc.stdout, proc.stderr)
    return m.group(1)


def control_lines(server, needle, after=None):
    """Control-plane lines of server's log that contain needle (only those
    after the first line holding `after`, when given)."""
    lines = [line for line in server.stderr_text().splitlines() if harness.CONTROL_PLANE_LINE(line)]
    if after is not None:
        starts = [i for i, line in enumerate(lines) if after in line]
        lines = lines[starts[0] + 1 :] if starts else []
    return [line for line in lines if needle in line]


def test_hot_reload_blocks_a_name_appended_to_a_list(public_tmp, servers):
    path = write_list(public_tmp, "ads.txt", "ads.x.test\n")
    server = servers(public_tmp, config([{"path": path}], hot_reload=True))
    with open(server.config_path) as f:
        config_before = json.load(f)
    assert dig_status(server, "www.x.test") == "NOERROR"
    with open(os.path.join(str(public_tmp), path), "a") as f:
        f.write("www.x.test\n")
    assert api_client.wait_for(
        lambda: dig_status(server, "www.x.test") == "NXDOMAIN", HOT_RELOAD_WAIT
    ), server.stderr_text()
    assert dig_status(server, "ads.x.test") == "NXDOMAIN"
    assert control_lines(server, "a list file of %s changed: reloading" % server.config_path)
    # Nothing but config_version moved in the operator's file (the node's write-back).
    with open(server.config_path) as f:
        now = json.load(f)
    assert now["server"].pop("config_version") == 2
    assert now == config_before


def test_hot_reload_keeps_serving_a_list_made_unreadable_and_says_so_once(public_tmp, servers):
    path = write_list(public_tmp, "ads.txt", "ads.x.test\n")
    full = os.path.join(str(public_tmp), path)
    server = servers(
        public_tmp,
        config([{"path": path}], hot_reload=True),
        extra_args=["--log-level", "DEBUG"],
    )
    assert dig_status(server, "cdn.ads.x.test") == "NXDOMAIN"
    # Gone (as root, a mode of 000 would not stop the control plane reading it).
    os.rename(full, full + ".away")
    warning = "hot reload: cannot open the list file"
    assert api_client.wait_for(lambda: control_lines(server, warning), HOT_RELOAD_WAIT), (
        server.stderr_text()
    )
    assert "still serving version" in control_lines(server, warning)[0]
    assert dig_status(server, "cdn.ads.x.test") == "NXDOMAIN", server.stderr_text()
    assert dig_status(server, "www.x.test") == "NOERROR", server.stderr_text()

    # The next poll finds it still gone: not reported again, nothing
    # reloaded. (Each poll ends with "unchanged", the one that warned too.)
    assert api_client.wait_for(
        lambda: len(control_lines(server, "unchanged", after=warning)) >= 2, HOT_RELOAD_WAIT
    ), server.stderr_text()
    assert len(control_lines(server, warning)) == 1, server.stderr_text()
    assert not control_lines(server, "reload refused")
    assert dig_status(server, "cdn.ads.x.test") == "NXDOMAIN"

    # Back, with a name more: the lists are read again.
    with open(full + ".away", "a") as f:
        f.write("www.x.test\n")
    os.rename(full + ".away", full)
    assert api_client.wait_for(
        lambda: dig_status(server, "www.x.test") == "NXDOMAIN", HOT_RELOAD_WAIT
    ), server.stderr_text()


# -- /metrics ---------------------------------------------------------------------------


def blake2b_hex(path):
    """BLAKE2b-256 of a file's bytes (libsodium's crypto_generichash)."""
    with open(path, "rb") as f:
        return hashlib.blake2b(f.read(), digest_size=32).hexdigest()


def prometheus_text(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=harness.QUERY_TIMEOUT)
    try:
        conn.request("GET", "/metrics", headers={"Accept": "text/plain"})
        res = conn.getresponse()
        assert res.status == 200
        return res.read().decode()
    finally:
        conn.close()


def test_metrics_show_entries_skipped_lines_and_digest_per_list(public_tmp, servers):
    ads = write_list(public_tmp, "ads.txt", "ads.x.test\nnot a name\nb.example\nbad..name\n")
    hosts = write_list(public_tmp, "hosts", "0.0.0.0 t1.example t2.example\n")
    port = harness.free_port()
    server = servers(
        public_tmp,
        config([{"path": ads}, {"path": hosts, "format": "hosts"}], mgmt_port=port),
    )
    status, metrics = harness.http_get_json(port)
    assert status == 200
    lists = metrics["blocklists"]
    ads_path = os.path.join(str(public_tmp), ads)
    hosts_path = os.path.join(str(public_tmp), hosts)
    assert lists == [
        {
            "path": ads_path,
            "format": "domains",
            "entries": 2,
            "skipped": 2,
            "skipped_lines": [2, 4],
            "digest": blake2b_hex(ads_path),
        },
        {
            "path": hosts_path,
            "format": "hosts",
            "entries": 2,
            "skipped": 0,
            "skipped_lines": [],
            "digest": blake2b_hex(hosts_path),
        },
    ]
    status, health = harness.http_get_json(port, "/health")
    assert re.fullmatch(r"[0-9a-f]{64}", metrics["blocklist_digest"])
    assert health["blocklist_digest"] == metrics["blocklist_digest"]
    # The log says which lines were skipped, as check does.
    assert '"%s": 2 lines skipped, not a name (lines 2, 4)' % ads in server.stderr_text()

    assert dig_status(server, "ads.x.test") == "NXDOMAIN"
    text = prometheus_text(port)
    assert 'nanodns_blocklist_entries{list="%s"} 2' % ads_path in text.splitlines()
    assert 'nanodns_blocklist_skipped_lines{list="%s"} 2' % ads_path in text.splitlines()
    assert 'nanodns_blocklist_skipped_lines{list="%s"} 0' % hosts_path in text.splitlines()
    assert "# TYPE nanodns_blocklist_entries gauge" in text
    assert "# TYPE nanodns_answers_total counter" in text
    assert api_client.wait_for(
        lambda: re.search(r'^nanodns_answers_total\{source="blocked"\} [1-9]', prometheus_text(port),
                          re.M)
    ), prometheus_text(port)


# -- /cluster and nanoctl cluster --------------------------------------------------------


class OlderPeer:
    """A peer's /health as a node from before blocklist digests answers it."""

    def __init__(self, version):
        body = json.dumps({"status": "ok", "version": version, "uptime_s": 1.0}).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200 if self.path == "/health" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = "127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_peer_that_sends_no_digest_is_unknown_not_different(public_tmp, servers):
    path = write_list(public_tmp, "ads.txt", "ads.x.test\n")
    older = OlderPeer(1)
    try:
        port = harness.free_port()
        servers(public_tmp, config([{"path": path}], mgmt_port=port, peers=[older.address]))
        status, body = harness.http_get_json(port, "/cluster", timeout=10)
        assert status == 200
        peer = body["peers"][older.address]
        assert peer["reachable"] is True
        assert peer["blocklist_digest"] is None
        assert peer["blocklists_agree"] is None
        assert body["self"]["blocklist_digest"] == harness.http_get_json(port, "/health")[1][
            "blocklist_digest"
        ]
        proc = subprocess.run(
            [NANOCTL, "-s", "127.0.0.1:%d" % port, "cluster"],
            capture_output=True, text=True, timeout=20,
            env=dict(os.environ, NANOCTL_SOCKET="/nonexistent/nanoctl-tests/control.sock"),
        )
        row = table_row(proc.stdout, older.address)
        assert row["LISTS AGREE"] == "unknown", proc.stdout
        assert "blocklists: 0 of 1 peer agrees with this node (1 unknown)" in proc.stdout
    finally:
        older.close()


CLUSTER_TEMPLATE = """{
  "server": {
    "upstream": [],
    "hot_reload": false,
    "log_queries": false,
    "mgmt_host": "127.0.0.1",
    "mgmt_port": @MGMT_PORT@,
    "sync_key": "node.key",
    "peers": "@PEERS@"
  },
  "zones": {"c.test": {"soa": {"mname": "ns1.c.test", "rname": "hostmaster.c.test"}}},
  "records": [{"name": "www.c.test", "type": "A", "value": "10.0.0.80"}],
  "blocklists": [{"path": "lists/ads.txt", "format": "domains"}]
}
"""


@pytest.fixture
def list_cluster():
    root = harness.public_tmpdir("nanodns-lists-")
    nodes = None
    try:
        nodes = Cluster(root, CLUSTER_TEMPLATE)
        yield nodes
    finally:
        problems = nodes.close() if nodes is not None else []
        shutil.rmtree(root, ignore_errors=True)
    assert not problems, "\n".join(problems)


def node_list(node, text):
    os.makedirs(os.path.join(node.tmpdir, "lists"), exist_ok=True)
    with open(os.path.join(node.tmpdir, "lists", "ads.txt"), "w") as f:
        f.write(text)


def table_row(out, node):
    """The row of `nanoctl cluster`'s table for node, as {heading: cell}:
    columns are left-aligned under their headings."""
    lines = out.splitlines()
    headings = re.split(r" {2,}", lines[0])
    starts = [lines[0].index(h) for h in headings] + [None]
    for line in lines[1:]:
        cells = [line[starts[i] : starts[i + 1]].strip() for i in range(len(headings))]
        if cells[0].startswith(node):
            return dict(zip(headings, cells))
    raise AssertionError("no row for %s in:\n%s" % (node, out))


def nanoctl_cluster(node):
    return subprocess.run(
        [NANOCTL, "-s", node.address, "cluster"],
        capture_output=True, text=True, timeout=20,
        env=dict(os.environ, NANOCTL_SOCKET="/nonexistent/nanoctl-tests/control.sock"),
    )


def test_cluster_shows_where_the_lists_differ_and_where_they_agree(list_cluster):
    node1, node2, node3 = list_cluster.nodes
    node_list(node1, "ads.c.test\n")
    node_list(node2, "ads.c.test\n")
    node_list(node3, "ads.c.test\ntracker.c.test\n")
    list_cluster.start()
    digests = {node.name: node.health()["blocklist_digest"] for node in list_cluster.nodes}
    assert digests["node1"] == digests["node2"] != digests["node3"]

    status, body = node1.json("GET", "/cluster")
    assert status == 200, body
    assert body["self"]["blocklist_digest"] == digests["node1"]
    peers = body["peers"]
    assert peers[node2.address]["blocklist_digest"] == digests["node2"]
    assert peers[node2.address]["blocklists_agree"] is True
    assert peers[node3.address]["blocklist_digest"] == digests["node3"]
    assert peers[node3.address]["blocklists_agree"] is False
    # The config is the same everywhere: only the node-local lists differ.
    assert peers[node3.address]["agrees"] is True

    proc = nanoctl_cluster(node1)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)  # lists are node-local: no failure
    assert table_row(proc.stdout, node1.address)["BLOCKLISTS"] == digests["node1"][:16]
    assert table_row(proc.stdout, node2.address)["LISTS AGREE"] == "yes"
    row3 = table_row(proc.stdout, node3.address)
    assert (row3["BLOCKLISTS"], row3["LISTS AGREE"]) == (digests["node3"][:16], "NO")
    assert "blocklists: 1 of 2 peers agree with this node (1 differs)" in proc.stdout

    # node3 gets the same list and reloads: its new version reaches the
    # others, which read their own lists again, and all agree.
    node_list(node3, "ads.c.test\n")
    status, answer = node3.reload()
    assert status == 200 and answer["status"] == "reloaded", answer
    assert list_cluster.wait_converged(10.0) is not None, list_cluster.served()
    assert node3.health()["blocklist_digest"] == digests["node1"]
    status, body = node1.json("GET", "/cluster")
    assert all(peer["blocklists_agree"] is True for peer in body["peers"].values()), body
    proc = nanoctl_cluster(node1)
    assert "blocklists: 2 of 2 peers agree with this node" in proc.stdout.splitlines()
