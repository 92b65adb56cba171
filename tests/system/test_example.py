"""The config `nanodns init` writes (the original NanoDNS example), served
and asked with kdig over UDP and TCP, as a user would after installing."""

import json
import re

import pytest

import harness


@pytest.fixture(scope="module")
def server(tmp_path_factory, start_server):
    out = tmp_path_factory.mktemp("init") / "nanodns.json"
    proc = harness.run_nanodns("init", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    config = json.loads(out.read_text())
    # Keep the test on loopback and its own port: no forwarding to public
    # resolvers, no management API on a fixed port, no reload timer.
    config["server"].update({"upstream": [], "mgmt_port": 0, "hot_reload": False})
    return start_server(config)


@pytest.fixture(params=["udp", "tcp"])
def dig(request, server):
    """dig(name, type, *options) -> kdig's stdout (+short unless told)."""

    def run(name, rdtype, *options):
        args = ["@" + server.host, "-p", str(server.port), "+timeout=2", "+retry=0"]
        if request.param == "tcp":
            args.append("+tcp")
        args += list(options) or ["+short"]
        rc, out, err = harness.kdig(*(args + [name, rdtype]))
        assert rc == 0, err
        return out

    return run


def status(out):
    m = re.search(r"status: (\w+)", out)
    assert m, out
    return m.group(1)


def test_a_record(dig):
    assert dig("web.internal.lan", "A").split() == ["192.168.1.100"]


def test_name_server_address(dig):
    assert dig("ns1.internal.lan", "A").split() == ["192.168.1.10"]


def test_cname_followed(dig):
    assert dig("api.internal.lan", "A").split() == ["web.internal.lan.", "192.168.1.100"]


def test_mx(dig):
    assert dig("internal.lan", "MX").split() == ["10", "mail.internal.lan."]


def test_mx_target_has_an_address(dig):
    assert dig("mail.internal.lan", "A").split() == ["192.168.1.25"]


def test_mx_answer_carries_the_targets_address(dig):
    out = dig("internal.lan", "MX", "+noall", "+additional")
    assert re.search(r"^mail\.internal\.lan\.\s+\d+\s+IN\s+A\s+192\.168\.1\.25$", out, re.M), out


def test_txt(dig):
    assert dig("internal.lan", "TXT").strip() == '"v=spf1 ip4:192.168.1.0/24 ~all"'


def test_aaaa(dig):
    assert dig("ipv6host.internal.lan", "AAAA").split() == ["fd00::1"]


def test_wildcard(dig):
    assert dig("anything.wildcard.internal.lan", "A").split() == ["192.168.1.200"]


def test_soa_serial(dig):
    fields = dig("internal.lan", "SOA").split()
    assert fields[:3] == ["ns1.internal.lan.", "admin.internal.lan.", "2024010102"]


def test_nxdomain_in_zone(dig):
    out = dig("nothere.internal.lan", "A", "+noall", "+header", "+authority")
    assert status(out) == "NXDOMAIN"
    assert "SOA" in out


def test_blocked_name(dig):
    assert status(dig("blocked.example.com", "A", "+noall", "+header")) == "NXDOMAIN"


def test_blocked_subdomain(dig):
    assert status(dig("tracker.ads.example.com", "A", "+noall", "+header")) == "NXDOMAIN"


def test_authoritative_flag(dig):
    out = dig("db.internal.lan", "A", "+noall", "+header")
    m = re.search(r";; Flags: ([^;]*);", out)
    assert m, out
    assert "aa" in m.group(1).split()
