"""Blocklist files (issue 13): "blocklists" in the domains, hosts and adblock
formats, the "allowlist", server.block_response, bad lines reported by
`nanodns check`, a missing list refused by check and start, and a reload
after a list file is edited."""

import os
import signal
import subprocess
import time

import dns.rcode

import harness
from harness import run_nanodns

NANOCTL = os.path.join(harness.BUILD_DIR, "nanoctl")


def config(blocklists, allowlist=None, **server):
    cfg = {
        "server": harness.base_server(**server),
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
