"""The HTTP management API of `nanodns start`, asked with Python's
http.client (an independent client): /health, /ready, /metrics in JSON and
in the Prometheus text format, /config/raw, POST /reload (unsigned
only on the control socket, else signed; from another host:
test_api_remote.py; the socket itself: test_control_socket.py),
POST /sync (never without a signature), /cluster with live and dead peers,
and the limits: 404, 405 with Allow, 413 for a large body, a cap on
simultaneous connections, a timeout for slow clients, and no crash when a
client or the node goes away while a /cluster request waits for its peers."""

import base64
import hashlib
import http.client
import json
import os
import re
import socket
import subprocess
import threading
import time

import dns.rcode
import pytest

import harness
from api_client import (
    SOA,
    NodeKey,
    curl,
    keyed_config_of,
    make_config,
    signed_headers,
    wait_for,
    write_file,
)

HTTP_TIMEOUT = 5.0


def control_socket(server):
    """A node's control socket: STATE_DIR/control.sock."""
    return os.path.join(server.state_dir, "control.sock")


class Api:
    """A node's management API at host:port, or on its control socket at
    socket_path (control(server) makes one)."""

    def __init__(self, port, host="127.0.0.1", socket_path=None):
        self.host = host
        self.port = port
        self.socket_path = socket_path

    def request(self, method, path, body=None, headers=None, source=None, timeout=HTTP_TIMEOUT):
        """(status, headers as a dict with lower-case names, body bytes)."""
        if self.socket_path is not None:
            conn = harness.UnixHTTPConnection(self.socket_path, timeout=timeout)
        else:
            conn = http.client.HTTPConnection(
                self.host, self.port, timeout=timeout, source_address=source
            )
        try:
            conn.request(method, path, body=body, headers=headers or {})
            res = conn.getresponse()
            data = res.read()
            return res.status, {k.lower(): v for k, v in res.getheaders()}, data
        finally:
            conn.close()

    def json(self, method, path, **kwargs):
        """(status, parsed JSON); the answer must say application/json."""
        status, headers, data = self.request(method, path, **kwargs)
        assert headers.get("content-type") == "application/json", (status, headers, data)
        return status, json.loads(data)

    def get(self, path, **kwargs):
        return self.json("GET", path, **kwargs)

    def metrics_text(self, accept="text/plain"):
        status, headers, data = self.request("GET", "/metrics", headers={"Accept": accept})
        assert status == 200
        return headers, data.decode()


def control(server):
    """The API of server on its control socket: a local operator's channel,
    where an unsigned POST /reload is taken."""
    return Api(None, socket_path=control_socket(server))


def start_node(start_server, **config_kwargs):
    """A `nanodns start` with its API on a free loopback port; (server, api)."""
    port = harness.free_port()
    server = start_server(make_config(port, **config_kwargs))
    return server, Api(port)


@pytest.fixture
def start_public(public_tmp):
    """start_public(**config_kwargs) -> (server, api), like start_node, with
    the state directory where a data plane running as nobody can read new
    images (pytest's own directories are 0700): for tests that reload.
    Every node must stop cleanly (exit 0, no sanitizer report)."""
    servers = []

    def start(port=None, files=None, **config_kwargs):
        port = port or harness.free_port(config_kwargs.get("mgmt_host", "127.0.0.1"))
        directory = public_tmp / ("node%d" % len(servers))
        directory.mkdir(mode=0o755)
        for name, data in (files or {}).items():
            fd = os.open(str(directory / name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        server = harness.Server(directory, make_config(port, **config_kwargs))
        servers.append(server)
        server.start()
        return server, Api(port, config_kwargs.get("mgmt_host", "127.0.0.1"))

    yield start
    problems = harness.stop_servers(servers)
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def node(start_server):
    """The node the read-only tests share (nothing here changes it)."""
    return start_node(start_server)


def dataplane_pid(server):
    pids = harness.child_pids(server.proc.pid)
    assert len(pids) == 1, pids
    return next(iter(pids))


# -- /health and /ready -----------------------------------------------------


def test_health_is_ok_with_version_and_uptime(node):
    server, api = node
    status, body = api.get("/health")
    assert status == 200
    assert body["status"] == "ok"
    assert body["version"] == 1
    assert isinstance(body["uptime_s"], float) and body["uptime_s"] >= 0
    assert set(body) == {"status", "version", "hash", "uptime_s", "blocklist_digest"}
    assert re.fullmatch(r"[0-9a-f]{64}", body["blocklist_digest"])


def test_health_hash_is_the_sha256_of_the_config_served(node):
    server, api = node
    status, body = api.get("/health")
    with open(server.config_path, "rb") as f:
        assert body["hash"] == hashlib.sha256(f.read()).hexdigest()


def test_health_uptime_has_one_decimal(node):
    server, api = node
    status, headers, data = api.request("GET", "/health")
    assert re.search(rb'"uptime_s":\d+\.\d[,}]', data), data


def test_ready_is_200_with_the_served_version(node):
    server, api = node
    status, body = api.get("/ready")
    assert status == 200
    assert body == {"status": "ready", "version": 1}


def test_head_health_has_headers_and_no_body(node):
    """HEAD for load balancers; a body after it would be read as the next
    answer on the same connection."""
    server, api = node
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=HTTP_TIMEOUT)
    try:
        conn.request("HEAD", "/health")
        res = conn.getresponse()
        assert res.status == 200
        assert res.read() == b""
        assert res.getheader("Content-Type") == "application/json"
        conn.request("GET", "/ready")
        res = conn.getresponse()
        assert res.status == 200
        assert json.loads(res.read())["status"] == "ready"
    finally:
        conn.close()


@pytest.fixture(scope="module")
def node_without_dataplane(start_server):
    """A control plane that waits for a data plane run by someone else
    (--external-dataplane, as under systemd) when there is none: nothing is
    served."""
    port = harness.free_port()
    server = start_server(make_config(port), extra_args=["--external-dataplane"])
    return server, Api(port)


def test_health_is_503_with_a_reason_without_a_data_plane(node_without_dataplane):
    server, api = node_without_dataplane
    status, body = api.get("/health")
    assert status == 503
    assert body["status"] == "unavailable"
    assert body["version"] == 1
    assert isinstance(body["uptime_s"], float)
    assert "data plane" in body["reason"]


def test_ready_is_503_until_an_image_is_served(node_without_dataplane):
    server, api = node_without_dataplane
    status, body = api.get("/ready")
    assert status == 503
    assert body == {"status": "not_ready"}


def test_metrics_show_the_data_plane_down(node_without_dataplane):
    server, api = node_without_dataplane
    status, body = api.get("/metrics")
    assert status == 200
    assert body["dataplane"] == {"alive": False, "pid": 0, "image_version": 0}
    text = api.metrics_text()[1]
    assert "nanodns_dataplane_up 0\n" in text


# -- /metrics as JSON ---------------------------------------------------------


def test_metrics_json_has_the_original_shape(node):
    server, api = node
    status, body = api.get("/metrics")
    assert status == 200
    for key in ("uptime_s", "version", "checksum", "records", "zones", "cache"):
        assert key in body
    assert set(body["cache"]) >= {"size", "hits", "misses", "hit_rate"}
    for key in ("serial", "rewrites", "config_valid", "last_error", "queries", "rcodes",
                "answers", "qtypes", "truncated", "dropped", "reloads", "reload_failures",
                "dataplane"):
        assert key in body
    assert set(body["queries"]) == {"total", "udp", "tcp"}
    assert set(body["answers"]) == {"local", "blocked", "refused", "error", "cache", "upstream"}
    assert {"NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED", "FORMERR"} <= set(body["rcodes"])
    assert {"A", "AAAA", "MX", "TXT", "OTHER"} <= set(body["qtypes"])


def test_metrics_json_describes_the_config_in_force(node):
    server, api = node
    status, body = api.get("/metrics")
    assert body["version"] == 1
    assert re.fullmatch(r"[0-9a-f]{16}", body["checksum"])
    assert body["records"] == 3
    assert body["zones"] == 2
    assert body["rewrites"] == 1
    assert body["config_valid"] is True
    assert body["last_error"] is None
    assert body["reloads"] == 0
    assert body["reload_failures"] == 0


def test_metrics_serial_is_the_configured_serial_plus_the_version(node):
    server, api = node
    status, body = api.get("/metrics")
    assert body["serial"] == {"x.test": SOA["serial"] + 1, "y.test": 7 + 1}
    # ... and it is the serial DNS serves.
    answer = server.ask("x.test", "SOA")
    assert answer.answer[0][0].serial == SOA["serial"] + 1


def test_metrics_hit_rate_is_zero_without_cache_lookups(node):
    server, api = node
    status, body = api.get("/metrics")
    assert body["cache"]["hits"] == 0 and body["cache"]["misses"] == 0
    assert body["cache"]["hit_rate"] == 0


def test_metrics_dataplane_names_the_running_data_plane(node):
    server, api = node
    status, body = api.get("/metrics")
    assert body["dataplane"] == {
        "alive": True,
        "pid": dataplane_pid(server),
        "image_version": 1,
    }


def test_metrics_query_counts_rise_with_queries(node):
    server, api = node
    before = api.get("/metrics")[1]
    for _ in range(3):
        assert server.ask("www.x.test", "A", proto="udp").rcode() == dns.rcode.NOERROR
    for _ in range(2):
        assert server.ask("www.x.test", "A", proto="tcp").rcode() == dns.rcode.NOERROR
    assert server.ask("nowhere.x.test", "A").rcode() == dns.rcode.NXDOMAIN
    assert server.ask("www.y.test", "AAAA").rcode() == dns.rcode.NOERROR

    def risen():
        after = api.get("/metrics")[1]
        return after if after["queries"]["total"] >= before["queries"]["total"] + 7 else None

    after = wait_for(risen)
    assert after, "query counts did not rise"

    def delta(*path):
        return _dig(after, path) - _dig(before, path)

    assert delta("queries", "udp") == 5
    assert delta("queries", "tcp") == 2
    assert delta("queries", "total") == 7
    assert delta("rcodes", "NOERROR") == 6
    assert delta("rcodes", "NXDOMAIN") == 1
    assert delta("qtypes", "A") == 6
    assert delta("qtypes", "AAAA") == 1
    assert delta("answers", "local") == 7


def _dig(document, path):
    for key in path:
        document = document[key]
    return document


def test_metrics_default_to_json_for_any_accept(node):
    server, api = node
    for accept in (None, "*/*", "application/json", "text/html,*/*;q=0.8"):
        headers = {"Accept": accept} if accept else {}
        status, answer_headers, data = api.request("GET", "/metrics", headers=headers)
        assert status == 200
        assert answer_headers["content-type"] == "application/json", accept
        json.loads(data)


# -- /metrics in the Prometheus text format -----------------------------------

SAMPLE = re.compile(
    r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)'
    r'(?:\{(?P<labels>[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"'
    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*)\})?'
    r' (?P<value>-?[0-9.eE+-]+|NaN|[+-]Inf)$'
)
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

# The labels the API may use: small fixed sets, and the operator's zones.
LABEL_VALUES = {
    "transport": {"udp", "tcp"},
    "source": {"local", "blocked", "refused", "error", "cache", "upstream"},
    "qtype": None,  # a fixed list of names (checked for size below)
    "rcode": None,
    "zone": {"x.test", "y.test"},
    "worker": {str(i) for i in range(16)},  # server.workers is at most 16
    # the latency histograms' bounds: 16 us doubling to 2^20 us, in seconds
    "le": {"%d.%06d" % divmod(16 << i, 1000000) for i in range(17)} | {"+Inf"},
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def parse_prometheus(text):
    """{name: {"help": str, "type": str, "samples": [(labels dict, float)]}}.
    Fails on any line that is not HELP, TYPE or a sample. A histogram's
    name_bucket, name_sum and name_count samples count as its family's."""
    families = {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[len("# HELP "):].partition(" ")
            assert help_text, line
            families.setdefault(name, {"samples": []})["help"] = help_text
        elif line.startswith("# TYPE "):
            name, _, kind = line[len("# TYPE "):].partition(" ")
            assert kind in ("counter", "gauge", "histogram"), line
            families.setdefault(name, {"samples": []})["type"] = kind
        else:
            match = SAMPLE.match(line)
            assert match, "not a sample line: %r" % line
            name = family = match.group("name")
            for suffix in HISTOGRAM_SUFFIXES:
                base = name[: -len(suffix)]
                if name.endswith(suffix) and families.get(base, {}).get("type") == "histogram":
                    family = base
            known = families.get(family, {})
            assert "type" in known and "help" in known, (
                "sample before its HELP and TYPE: %r" % line
            )
            labels = dict(LABEL.findall(match.group("labels") or ""))
            known["samples"].append((labels, float(match.group("value"))))
    return families


def test_prometheus_answer_has_the_text_format_content_type(node):
    server, api = node
    headers, text = api.metrics_text("text/plain")
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"


def test_prometheus_is_chosen_for_openmetrics_and_scrapers(node):
    server, api = node
    for accept in (
        "application/openmetrics-text; version=1.0.0",
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
        "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    ):
        headers, text = api.metrics_text(accept)
        assert headers["content-type"].startswith("text/plain; version=0.0.4"), accept
        assert text.startswith("# HELP nanodns_")


def test_prometheus_every_line_is_help_type_or_a_sample(node):
    server, api = node
    families = parse_prometheus(api.metrics_text()[1])
    assert all(name.startswith("nanodns_") for name in families)
    assert all("help" in f and "type" in f for f in families.values())


def test_prometheus_counters_end_in_total(node):
    server, api = node
    families = parse_prometheus(api.metrics_text()[1])
    for name, family in families.items():
        assert (family["type"] == "counter") == name.endswith("_total"), name


def test_prometheus_names_the_promised_metrics(node):
    server, api = node
    families = parse_prometheus(api.metrics_text()[1])
    counters = [
        "nanodns_queries_total", "nanodns_responses_total", "nanodns_answers_total",
        "nanodns_queries_by_type_total", "nanodns_truncated_total", "nanodns_dropped_total",
        "nanodns_cache_hits_total", "nanodns_cache_misses_total",
        "nanodns_cache_evictions_total", "nanodns_reloads_total",
        "nanodns_reload_failures_total",
    ]
    gauges = [
        "nanodns_cache_entries", "nanodns_config_version", "nanodns_records", "nanodns_zones",
        "nanodns_uptime_seconds", "nanodns_config_valid", "nanodns_dataplane_up",
        "nanodns_zone_serial",
    ]
    histograms = [
        "nanodns_answer_duration_seconds", "nanodns_upstream_duration_seconds",
        "nanodns_worker_answer_duration_seconds", "nanodns_worker_upstream_duration_seconds",
    ]
    for name in counters:
        assert families[name]["type"] == "counter", name
    for name in gauges:
        assert families[name]["type"] == "gauge", name
    for name in histograms:
        assert families[name]["type"] == "histogram", name


def test_prometheus_labels_come_from_small_fixed_sets(node):
    server, api = node
    families = parse_prometheus(api.metrics_text()[1])
    for name, family in families.items():
        for labels, value in family["samples"]:
            for label, value_text in labels.items():
                assert label in LABEL_VALUES, (name, label)
                allowed = LABEL_VALUES[label]
                if allowed is not None:
                    assert value_text in allowed, (name, label, value_text)
    assert len(families["nanodns_responses_total"]["samples"]) <= 17
    assert len(families["nanodns_queries_by_type_total"]["samples"]) <= 16
    assert 1 <= len(families["nanodns_worker_queries_total"]["samples"]) <= 16


def sample(families, name, **labels):
    for got, value in families[name]["samples"]:
        if got == labels:
            return value
    raise AssertionError("no sample %s%r" % (name, labels))


def test_prometheus_figures_match_the_json(node):
    server, api = node
    body = api.get("/metrics")[1]
    families = parse_prometheus(api.metrics_text()[1])
    assert sample(families, "nanodns_config_version") == body["version"]
    assert sample(families, "nanodns_records") == 3
    assert sample(families, "nanodns_zones") == 2
    assert sample(families, "nanodns_config_valid") == 1
    assert sample(families, "nanodns_dataplane_up") == 1
    assert sample(families, "nanodns_zone_serial", zone="x.test") == SOA["serial"] + 1
    assert sample(families, "nanodns_zone_serial", zone="y.test") == 8
    assert sample(families, "nanodns_uptime_seconds") > 0


def test_prometheus_query_counts_rise_with_queries(node):
    server, api = node
    before = parse_prometheus(api.metrics_text()[1])
    for _ in range(4):
        server.ask("www.x.test", "A", proto="udp")
    server.ask("mail.x.test", "A", proto="tcp")

    tcp_before = sample(before, "nanodns_queries_total", transport="tcp")

    def risen():
        after = parse_prometheus(api.metrics_text()[1])
        tcp = sample(after, "nanodns_queries_total", transport="tcp")
        return after if tcp >= tcp_before + 1 else None

    after = wait_for(risen)
    assert after

    def diff(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert diff("nanodns_queries_total", transport="udp") == 4
    assert diff("nanodns_queries_total", transport="tcp") == 1
    assert diff("nanodns_responses_total", rcode="NOERROR") == 5
    assert diff("nanodns_queries_by_type_total", qtype="A") == 5
    assert diff("nanodns_answers_total", source="local") == 5


# -- /config/raw ----------------------------------------------------------------


def test_config_raw_is_the_bytes_of_the_file(node):
    server, api = node
    status, headers, data = api.request("GET", "/config/raw")
    assert status == 200
    assert headers["content-type"] == "application/json"
    with open(server.config_path, "rb") as f:
        assert data == f.read()


def test_config_raw_of_a_node_without_a_key_is_not_signed(node):
    server, api = node
    status, headers, data = api.request("GET", "/config/raw")
    assert headers["x-nanodns-version"] == "1"
    assert "x-nanodns-signature" not in headers and "x-nanodns-signer" not in headers


# -- 404, 405, limits -------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/nope", "/health/", "/metrics/extra", "/HEALTH"])
def test_unknown_path_is_404(node, path):
    server, api = node
    status, body = api.get(path)
    assert status == 404
    assert body == {"status": "not_found"}


@pytest.mark.parametrize(
    "method, path, allow",
    [
        ("DELETE", "/health", "GET, HEAD"),
        ("POST", "/metrics", "GET, HEAD"),
        ("PUT", "/config/raw", "GET, HEAD"),
        ("POST", "/cluster", "GET, HEAD"),
        ("GET", "/sync", "POST"),
        ("GET", "/reload", "POST"),
        ("PATCH", "/ready", "GET, HEAD"),
    ],
)
def test_wrong_method_is_405_with_allow(node, method, path, allow):
    server, api = node
    status, headers, data = api.request(method, path)
    assert status == 405
    assert headers["allow"] == allow
    assert headers["content-type"] == "application/json"
    assert json.loads(data) == {"status": "method_not_allowed"}


def raw_exchange(port, data, timeout=HTTP_TIMEOUT):
    """Send data on a new connection; everything the node sends back until
    it closes (or timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        answer = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        return answer


def test_body_over_one_mebibyte_is_413_and_changes_nothing(node):
    """Refused from its Content-Length, before the body is read (a client
    that waits for 100 Continue never sends it)."""
    server, api = node
    version = api.get("/health")[1]["version"]
    answer = raw_exchange(
        api.port,
        b"POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
        b"Expect: 100-continue\r\n\r\n" % (2 * 1024 * 1024),
    )
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert api.get("/health")[1]["version"] == version


def test_chunked_body_over_one_mebibyte_is_413(node):
    server, api = node
    chunk = b"x" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20)) + b"0\r\n\r\n"
    try:
        answer = raw_exchange(
            api.port,
            b"POST /reload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body,
        )
    except (BrokenPipeError, ConnectionResetError):
        answer = b""  # closed while we were still sending: refused as well
    assert answer == b"" or answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert api.get("/health")[0] == 200


def test_oversized_headers_are_refused(node):
    server, api = node
    try:
        status, headers, data = api.request("GET", "/health", headers={"X-Big": "a" * 65536})
    except (ConnectionError, http.client.HTTPException):
        status = None  # closed without an answer: refused too
    assert status != 200
    assert api.get("/health")[0] == 200


# The connection limits and the request deadline under load: test_api_load.py.


def test_silent_clients_are_disconnected_at_the_request_deadline(node):
    """A client that stops half-way through its request is dropped at the
    API's request deadline (5 s); 64 of them (from four addresses: one
    address holds at most 16) fill every slot, and once they are dropped
    the API serves again."""
    server, api = node
    silent = []
    for i in range(64):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.%d" % (20 + i // 16), 0))
        s.settimeout(15)
        s.connect(("127.0.0.1", api.port))
        silent.append(s)
    try:
        started = time.monotonic()
        for s in silent:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        for s in silent:
            assert s.recv(4096) == b""
        assert 4 <= time.monotonic() - started <= 8
    finally:
        for s in silent:
            s.close()
    assert api.request("GET", "/health", timeout=2.0)[0] == 200


def test_api_port_in_use_fails_the_start(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        server = harness.Server(tmp_path, make_config(port))
        server.start(wait_ready=False)
        rc = server.wait_exit(10)
        server.kill()
        assert rc not in (0, None)
        assert "127.0.0.1:%d" % port in server.stderr_text()
        assert "in use" in server.stderr_text()
    finally:
        taken.close()


# -- POST /reload ---------------------------------------------------------------


def test_reload_on_the_control_socket_publishes_the_file(start_public):
    server, api = start_public()
    config = make_config(api.port)
    config["records"].append({"name": "new.x.test", "type": "A", "value": "10.0.0.99"})
    write_file(server, config)

    status, body = control(server).json("POST", "/reload")
    assert status == 200
    assert body == {"status": "reloaded", "version": 2, "records": 4, "peers": {}}

    def answered():
        answer = server.ask("new.x.test", "A")
        return harness.texts(harness.rrset(answer.answer, "new.x.test", "A")) == ["10.0.0.99"]

    assert wait_for(answered, timeout=1.0), "the new record is not served within 1 s"
    assert api.get("/health")[1]["version"] == 2
    metrics = api.get("/metrics")[1]
    assert metrics["reloads"] == 1
    assert metrics["serial"]["x.test"] == SOA["serial"] + 2
    # The version is written back to the file, and /config/raw serves it.
    with open(server.config_path, "rb") as f:
        on_disk = f.read()
    assert json.loads(on_disk)["server"]["config_version"] == 2
    assert api.request("GET", "/config/raw")[2] == on_disk


def test_an_unsigned_reload_from_another_loopback_address_is_403_too(start_public):
    """127.0.0.2 is loopback too (127.0.0.0/8), and no more trusted than
    127.0.0.1: any local user can connect from it."""
    server, api = start_public()
    write_file(server, make_config(api.port, records=[]))
    status, body = api.json("POST", "/reload", source=("127.0.0.2", 0))
    assert status == 403, body
    assert control_socket(server) in body["reason"]
    assert api.get("/health")[1]["version"] == 1


def test_config_raw_over_ipv6_loopback_is_the_config(start_public):
    server, api = start_public(mgmt_host="::1")
    status, headers, data = api.request("GET", "/config/raw")
    assert status == 200
    with open(server.config_path, "rb") as f:
        assert data == f.read()


def test_config_raw_over_ipv4_on_a_dual_stack_socket_is_the_config(start_public):
    """An IPv4 client of a socket bound to "::" shows as ::ffff:127.0.0.1,
    which is loopback."""
    server, api = start_public(mgmt_host="::")
    status, headers, data = Api(api.port, "127.0.0.1").request("GET", "/config/raw")
    assert status == 200
    with open(server.config_path, "rb") as f:
        assert data == f.read()


def test_reload_of_an_invalid_file_is_422_with_every_error(start_public):
    server, api = start_public()
    bad = make_config(api.port)
    bad["records"].append({"name": "bad.x.test", "type": "A", "value": "10.0.0.300"})
    bad["records"].append({"name": "worse.x.test", "type": "MX", "value": ""})
    write_file(server, bad)

    status, body = control(server).json("POST", "/reload")
    assert status == 422
    assert body["status"] == "invalid"
    assert len(body["errors"]) >= 2
    for error in body["errors"]:
        assert re.match(r"^\S*nanodns\.json:\d+:\d+: records\[\d\]", error), error
    # Nothing changed: same version, old data served, the failure is visible.
    assert api.get("/health")[1]["version"] == 1
    assert server.ask("www.x.test", "A").rcode() == dns.rcode.NOERROR
    metrics = api.get("/metrics")[1]
    assert metrics["config_valid"] is False
    assert metrics["reload_failures"] == 1
    assert "10.0.0.300" in metrics["last_error"]

    # Fixed back to the config in force: nothing to publish, and the
    # failure is over.
    write_file(server, make_config(api.port))
    status, body = control(server).json("POST", "/reload")
    assert (status, body) == (200, {"status": "unchanged", "version": 1, "records": 3})
    metrics = api.get("/metrics")[1]
    assert metrics["config_valid"] is True
    assert metrics["last_error"] is None
    assert metrics["reloads"] == 0


def curl_reload(server):
    """POST /reload with curl (another independent client) on the node's
    control socket: (status, JSON)."""
    proc = subprocess.run(
        ["curl", "-sS", "--max-time", "10", "-X", "POST", "--unix-socket",
         control_socket(server), "-w", "\n%{http_code}", "http://localhost/reload"],
        capture_output=True, text=True, timeout=20,
    )
    assert proc.returncode == 0, proc.stderr
    body, _, code = proc.stdout.rpartition("\n")
    return int(code), json.loads(body)


def file_state(path):
    st = os.stat(path)
    with open(path, "rb") as f:
        return f.read(), st.st_ino, st.st_mtime_ns


def test_a_reload_of_a_file_that_holds_nothing_new_is_unchanged(start_public):
    server, api = start_public()
    config = make_config(api.port)
    config["records"].append({"name": "new.x.test", "type": "A", "value": "10.0.0.99"})
    write_file(server, config)
    assert curl_reload(server) == (200, {"status": "reloaded", "version": 2, "records": 4, "peers": {}})
    serial = lambda: harness.kdig_serial(server.host, server.port, "x.test")
    assert wait_for(lambda: serial() == SOA["serial"] + 2, timeout=1.0)
    before = file_state(server.config_path)

    # Again, with nothing edited: the file holds version 2, written back.
    assert curl_reload(server) == (200, {"status": "unchanged", "version": 2, "records": 4})
    assert serial() == SOA["serial"] + 2
    assert file_state(server.config_path) == before, "the file was written again"
    assert api.get("/health")[1]["version"] == 2
    assert api.get("/metrics")[1]["reloads"] == 1

    # A real edit is the next version.
    config["records"].append({"name": "newer.x.test", "type": "A", "value": "10.0.0.98"})
    write_file(server, config)
    assert curl_reload(server) == (200, {"status": "reloaded", "version": 3, "records": 5, "peers": {}})
    assert wait_for(lambda: serial() == SOA["serial"] + 3, timeout=1.0)


def test_a_reload_of_the_same_config_laid_out_anew_is_unchanged(start_public):
    server, api = start_public()
    config = make_config(api.port)
    # Members in another order, another indentation: the same config.
    with open(server.config_path, "w") as f:
        json.dump(config, f, indent=7, sort_keys=True)
    before = file_state(server.config_path)

    assert curl_reload(server) == (200, {"status": "unchanged", "version": 1, "records": 3})
    assert harness.kdig_serial(server.host, server.port, "x.test") == SOA["serial"] + 1
    assert file_state(server.config_path) == before, "the operator's layout was rewritten"


def test_reload_with_a_signature_that_does_not_verify_is_401_even_from_loopback(start_public):
    server, api = start_public()
    headers = {
        "X-NanoDNS-Signer": base64.b64encode(os.urandom(32)).decode(),
        "X-NanoDNS-Time": str(int(time.time())),
        "X-NanoDNS-Signature": base64.b64encode(os.urandom(64)).decode(),
    }
    status, body = api.json("POST", "/reload", headers=headers)
    assert status == 401
    assert body["status"] == "unauthorized" and body["reason"]
    assert api.get("/health")[1]["version"] == 1


# -- POST /sync -------------------------------------------------------------------


def envelope(config, version=2, signer=None, signature=None):
    """A well-formed push of config: signed by a key nobody lists."""
    return json.dumps(
        {
            "version": version,
            "hash": hashlib.sha256(config).hexdigest(),
            "signer": base64.b64encode(signer or os.urandom(32)).decode(),
            "signature": base64.b64encode(signature or os.urandom(64)).decode(),
            "config": base64.b64encode(config).decode(),
        }
    ).encode()


def test_sync_push_from_an_unlisted_signer_is_401_and_changes_nothing(node):
    server, api = node
    config = json.dumps(make_config(api.port, version=9)).encode()
    status, body = api.json("POST", "/sync", body=envelope(config, version=9))
    assert status == 401
    assert body["status"] == "unauthorized" and body["reason"]
    assert api.get("/health")[1]["version"] == 1
    assert server.wait_for_line("sync: push from 127.0.0.1 refused", 2.0)


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[]", b'{"version": 2}', b'{"version": "2", "hash": "", "signer": "",'
     b' "signature": "", "config": ""}'],
)
def test_sync_body_that_is_not_an_envelope_is_400(node, body):
    server, api = node
    status, answer = api.json("POST", "/sync", body=body)
    assert status == 400
    assert answer["status"] == "bad_request" and answer["reason"]
    assert api.get("/health")[1]["version"] == 1


# -- /cluster -------------------------------------------------------------------


def unused_port():
    return harness.free_port()


class SilentPeer:
    """A TCP listener that accepts and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.clients = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            self.clients.append(client)

    def close(self):
        self.sock.close()
        for c in self.clients:
            c.close()


@pytest.fixture
def silent_peer():
    peer = SilentPeer()
    yield peer
    peer.close()


def self_entry(api):
    """What /cluster should say of the node behind api."""
    health = api.get("/health")[1]
    return {
        "address": "127.0.0.1:%d" % api.port,
        "status": "ok",
        "version": 1,
        "hash": health["hash"],
        "records": 3,
        "blocklist_digest": health["blocklist_digest"],
    }


def test_cluster_without_peers_reports_self_only(node):
    server, api = node
    status, body = api.get("/cluster")
    assert status == 200
    assert body == {"self": self_entry(api), "peers": {}}


def test_cluster_reports_a_live_peer_and_a_dead_one(start_server):
    peer_server, peer_api = start_node(start_server, version=5)
    live = "127.0.0.1:%d" % peer_api.port
    dead = "127.0.0.1:%d" % unused_port()
    server, api = start_node(start_server, peers=[live, dead])

    started = time.monotonic()
    status, body = api.get("/cluster")
    assert time.monotonic() - started < 3
    assert status == 200
    assert body["self"] == self_entry(api)
    assert set(body["peers"]) == {live, dead}
    assert body["peers"][live]["reachable"] is True
    assert body["peers"][live]["status"] == "ok"
    assert body["peers"][live]["version"] == 5
    assert body["peers"][live]["hash"] == peer_api.get("/health")[1]["hash"]
    # Neither has a list: the same (empty) blocking, the same digest.
    assert body["peers"][live]["blocklist_digest"] == peer_api.get("/health")[1]["blocklist_digest"]
    assert body["peers"][live]["blocklists_agree"] is True
    assert body["peers"][dead]["reachable"] is False
    assert body["peers"][dead]["status"] != "ok"
    assert body["peers"][dead]["blocklist_digest"] is None
    assert body["peers"][dead]["blocklists_agree"] is None
    for entry in body["peers"].values():
        # Plain "host:port" peers: shown, never trusted, never synced with.
        assert entry["trusted"] is False
        assert entry["last_sync"] is None
        assert entry["agrees"] is False


def test_cluster_gives_up_on_a_silent_peer_after_its_timeout(start_server, silent_peer):
    silent = "127.0.0.1:%d" % silent_peer.port
    server, api = start_node(start_server, peers=[silent])
    started = time.monotonic()
    status, body = api.get("/cluster")
    elapsed = time.monotonic() - started
    assert status == 200
    assert body["peers"][silent]["reachable"] is False
    assert 1.5 <= elapsed <= 3.5, elapsed


def test_cluster_client_that_goes_away_does_not_hurt_the_node(start_server, silent_peer):
    silent = "127.0.0.1:%d" % silent_peer.port
    server, api = start_node(start_server, peers=[silent])
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", api.port))
        s.sendall(b"GET /cluster HTTP/1.1\r\nHost: x\r\n\r\n")
        s.close()
    time.sleep(3)  # past the peer timeout: the pending answers go nowhere
    assert api.get("/health")[0] == 200
    assert server.alive()


def test_node_stop_with_a_cluster_request_pending_is_clean(start_server, silent_peer):
    silent = "127.0.0.1:%d" % silent_peer.port
    server, api = start_node(start_server, peers=[silent])
    result = {}

    def ask():
        try:
            result["answer"] = api.request("GET", "/cluster", timeout=10)
        except (ConnectionError, http.client.HTTPException, OSError) as e:
            result["error"] = e

    client = threading.Thread(target=ask)
    client.start()
    time.sleep(0.5)  # the request is waiting for the silent peer
    rc = server.stop()
    client.join(10)
    assert rc == 0, server.stderr_text()
    assert not harness.sanitizer_report(server.stderr_text())
    if "answer" in result:
        assert result["answer"][0] == 503


# -- who may ask: loopback, signatures, web pages (issue 12, finding 6) -----------

def start_keyed(start_public, mgmt_host="127.0.0.1", others=()):
    """A node with its own key listed in peers (and others' keys): (server, api, key)."""
    key = NodeKey()
    port = harness.free_port(mgmt_host)
    peers = [{"address": "%s:%d" % (mgmt_host, port), "public_key": key.public_text}]
    for other in others:
        peers.append({"address": "127.0.0.1:%d" % harness.free_port(), "public_key": other.public_text})
    server, api = start_public(port=port, files={"node.key": key.file_bytes()},
                               mgmt_host=mgmt_host, peers=peers, sync_key="node.key")
    return server, api, key


def test_config_raw_from_any_loopback_address_is_the_config(start_public):
    server, api = start_public()
    status, headers, data = api.request("GET", "/config/raw", source=("127.0.0.2", 0))
    assert status == 200
    with open(server.config_path, "rb") as f:
        assert data == f.read()


@pytest.mark.parametrize("method,path", [("GET", "/config/raw"), ("GET", "/health"),
                                         ("POST", "/reload")])
def test_a_host_header_naming_another_host_is_403(start_public, method, path):
    # DNS rebinding: a page of evil.example whose name now resolves to
    # 127.0.0.1 sends Host: evil.example. The request is otherwise one the
    # node takes (signed by its own key), so only the Host check refuses it.
    server, api, key = start_keyed(start_public)
    config = keyed_config_of(server, api)
    config["records"] = []
    write_file(server, config)
    status, body = curl(api, method, path, ["Host: evil.example:%d" % api.port]
                        + signed_headers(key.sign_request(method, path, key)))
    assert status == 403, body
    assert json.loads(body)["status"] == "forbidden"
    assert "Host" in json.loads(body)["reason"]
    assert b"x.test" not in body
    assert api.get("/health")[1]["version"] == 1
    # The same request naming this node is taken.
    status, body = curl(api, method, path, signed_headers(key.sign_request(method, path, key)))
    assert status == 200, body


@pytest.mark.parametrize("host", ["localhost", "localhost:%(port)d", "127.0.0.1:%(port)d",
                                  "127.0.0.1", "[::1]:%(port)d", "ns1.internal:%(port)d",
                                  "NS1.Internal"])
def test_a_host_header_naming_this_node_is_accepted(start_public, host):
    server, api = start_public(peers=["ns1.internal:9053"])
    status, body = curl(api, "GET", "/config/raw", ["Host: " + host % {"port": api.port}])
    assert status == 200, body


@pytest.mark.parametrize("header", ["Origin: http://evil.example", "Origin: null",
                                    "Origin: http://127.0.0.1",
                                    "Sec-Fetch-Site: cross-site", "Sec-Fetch-Site: same-site"])
def test_a_reload_sent_by_a_web_page_is_403(start_public, header):
    # Otherwise acceptable (signed by the node's own key): only the
    # browser's header refuses it.
    server, api, key = start_keyed(start_public)
    config = keyed_config_of(server, api)
    config["records"] = []
    write_file(server, config)
    status, body = curl(api, "POST", "/reload",
                        [header] + signed_headers(key.sign_request("POST", "/reload", key)))
    assert status == 403, body
    assert json.loads(body) == {"status": "forbidden",
                                "reason": "requests from web pages are refused"}
    assert api.get("/health")[1]["version"] == 1
    status, body = curl(api, "POST", "/reload",
                        signed_headers(key.sign_request("POST", "/reload", key)))
    assert status == 200 and json.loads(body)["status"] == "reloaded", body


def test_config_raw_asked_by_a_web_page_is_403(start_public):
    server, api = start_public()
    status, body = curl(api, "GET", "/config/raw", ["Origin: http://evil.example"])
    assert status == 403 and b"x.test" not in body


def test_an_unsigned_reload_over_tcp_is_403_even_from_loopback(start_public):
    # Any local user, and any web page (an HTML form, a no-cors fetch), can
    # reach the loopback TCP port: a custom header proves nothing.
    server, api = start_public()
    write_file(server, make_config(api.port, records=[]))
    for headers in (["Content-Type: application/x-www-form-urlencoded"],
                    ["X-Requested-By: curl"]):
        status, body = curl(api, "POST", "/reload", headers)
        assert status == 403, body
        reason = json.loads(body)["reason"]
        assert "control socket" in reason and control_socket(server) in reason, reason
    assert api.get("/health")[1]["version"] == 1
    # The same request on the control socket is taken.
    status, body = control(server).json("POST", "/reload")
    assert status == 200 and body["status"] == "reloaded", body


# -- signed requests are good once, on one node (issue 12, finding 3) --------------


def edit(server, api, n):
    """A real change to the node's file: n records."""
    write_file(server, make_config(api.port, records=[
        {"name": "h%d.x.test" % i, "type": "A", "value": "10.0.1.%d" % (i + 1), "ttl": 300}
        for i in range(n)
    ]))


def test_a_replayed_signed_reload_is_refused_and_the_version_stays(start_public):
    # From another host: test_api_remote.py.
    server, api, key = start_keyed(start_public)
    config = keyed_config_of(server, api)
    headers = signed_headers(key.sign_request("POST", "/reload", key))

    config["records"] = []
    write_file(server, config)
    status, body = curl(api, "POST", "/reload", headers)
    assert status == 200 and json.loads(body)["status"] == "reloaded", body
    version = json.loads(body)["version"]

    # The same headers again, with a change waiting in the file: refused.
    config["records"] = [{"name": "new.x.test", "type": "A", "value": "10.0.2.1", "ttl": 300}]
    write_file(server, config)
    for _ in range(2):
        status, body = curl(api, "POST", "/reload", headers)
        assert status == 409, body
        assert json.loads(body)["status"] == "replayed"
    assert api.get("/health")[1]["version"] == version
    assert server.wait_for_line("a replay", 2.0)

    # A new signature goes through.
    status, body = curl(api, "POST", "/reload",
                        signed_headers(key.sign_request("POST", "/reload", key)))
    assert status == 200 and json.loads(body)["version"] == version + 1, body


def test_a_request_signed_for_another_node_is_refused(start_public):
    # Node B's key is listed on A; a reload B's key signed for B is sent to A.
    other = NodeKey()
    server, api, key = start_keyed(start_public, others=[other])
    config = keyed_config_of(server, api)
    config["records"] = []
    write_file(server, config)
    status, body = curl(api, "POST", "/reload",
                        signed_headers(other.sign_request("POST", "/reload", other)))
    assert status == 401, body
    assert "not this one" in json.loads(body)["reason"]
    assert api.get("/health")[1]["version"] == 1
    # The same key, signing for this node, is taken.
    status, body = curl(api, "POST", "/reload",
                        signed_headers(other.sign_request("POST", "/reload", key)))
    assert status == 200 and json.loads(body)["version"] == 2, body


def test_a_request_whose_nonce_was_changed_is_401(start_public):
    server, api, key = start_keyed(start_public)
    headers = key.sign_request("POST", "/reload", key)
    status, body = curl(api, "POST", "/reload", signed_headers(headers))
    assert status == 200
    headers["X-NanoDNS-Nonce"] = base64.b64encode(os.urandom(16)).decode()
    status, body = curl(api, "POST", "/reload", signed_headers(headers))
    assert status == 401, body
    assert json.loads(body)["reason"] == "the signature does not verify"


def test_a_request_without_nonce_or_target_is_401(start_public):
    server, api, key = start_keyed(start_public)
    for missing in ("X-NanoDNS-Nonce", "X-NanoDNS-Target"):
        headers = key.sign_request("POST", "/reload", key)
        del headers[missing]
        status, body = curl(api, "POST", "/reload", signed_headers(headers))
        assert status == 401, body
        assert missing in json.loads(body)["reason"]
    assert api.get("/health")[1]["version"] == 1


def api_listening(api):
    try:
        socket.create_connection((api.host, api.port), timeout=1.0).close()
        return True
    except OSError:
        return False


def test_a_signed_reload_replayed_after_a_restart_is_refused(start_public):
    # The replay cache starts empty with each run: what was signed before
    # the node started is refused, so a restart does not reopen the window.
    server, api, key = start_keyed(start_public)
    config = keyed_config_of(server, api)
    headers = signed_headers(key.sign_request("POST", "/reload", key))
    config["records"] = []
    write_file(server, config)
    status, body = curl(api, "POST", "/reload", headers)
    assert status == 200 and json.loads(body)["status"] == "reloaded", body
    version = json.loads(body)["version"]

    assert server.stop() == 0
    time.sleep(1.1)  # the next run starts in a later second than the request's
    server.start()
    assert wait_for(lambda: api_listening(api), timeout=10.0), "the API did not come back"
    config = keyed_config_of(server, api)
    config["records"] = [{"name": "new.x.test", "type": "A", "value": "10.0.2.1", "ttl": 300}]
    write_file(server, config)
    status, body = curl(api, "POST", "/reload", headers)
    assert status == 401, body
    assert "before this node started" in json.loads(body)["reason"]
    assert api.get("/health")[1]["version"] == version
    status, body = curl(api, "POST", "/reload",
                        signed_headers(key.sign_request("POST", "/reload", key)))
    assert status == 200, body
