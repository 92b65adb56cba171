"""The two planes as separate services, as systemd runs them: the data plane
with its sockets handed over through LISTEN_FDS by another process (as by
nanodns.socket), the control plane started on its own (`nanodns start
--external-dataplane`) on the same state directory. Each is started with its
unit's command line. DNS does not depend on the control plane running: the
data plane serves the last published image, and a control plane started
again publishes and is served."""

import signal
import socket
import time

import harness
from harness import rrset, texts

SWITCH_TIMEOUT = 3.0  # publish → served; the data plane also polls every second


def config(address="10.0.0.1", extra_records=()):
    return {
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
        "records": [{"name": "www.x.test", "type": "A", "value": address, "ttl": 300}]
        + list(extra_records),
        "rewrites": [],
    }


NEW_RECORD = {"name": "new.x.test", "type": "A", "value": "10.0.0.99", "ttl": 300}


def addresses(plane, name="www.x.test", proto="udp"):
    answer = plane.ask(name, "A", proto)
    return texts(rrset(answer.answer, name, "A"))


def wait_for_answer(plane, name, want, timeout=SWITCH_TIMEOUT):
    """Seconds until name's A records are want (over UDP), or None."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if addresses(plane, name) == want:
            return time.monotonic() - start
        time.sleep(0.05)  # polling DNS: a switch has no event the test can wait on
    return None


def test_data_plane_answers_on_the_sockets_it_was_handed(services):
    services.control(config())
    data = services.data()
    assert addresses(data, proto="udp") == ["10.0.0.1"]
    assert addresses(data, proto="tcp") == ["10.0.0.1"]


def test_control_plane_with_external_dataplane_starts_no_process(services):
    control = services.control(config())
    assert harness.child_pids(control.proc.pid) == set()


def test_control_plane_with_external_dataplane_opens_no_dns_socket(services):
    control = services.control(config())  # mgmt_port 0: no API socket either
    sockets = harness.inet_sockets(control.proc.pid)
    udp = [s for s in sockets if s[0].startswith("udp")]
    listening = [s for s in sockets if s[0].startswith("tcp") and s[2] == "0A"]
    assert udp == [] and listening == [], sockets


def test_dns_keeps_answering_from_the_last_image_when_the_control_plane_stops(services):
    control = services.control(config())
    data = services.data()
    assert control.stop() == 0, control.stderr_text()

    # Past the data plane's one-second look at zone.img: nothing changes.
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        assert addresses(data, proto="udp") == ["10.0.0.1"]
        assert addresses(data, proto="tcp") == ["10.0.0.1"]
        time.sleep(0.1)
    assert data.alive()


def test_a_restarted_control_plane_publishes_and_the_data_plane_serves_it(services):
    first = services.control(config("10.0.0.1"))
    data = services.data()
    assert first.stop() == 0, first.stderr_text()

    services.control(config("10.0.0.2", [NEW_RECORD]))
    took = wait_for_answer(data, "new.x.test", ["10.0.0.99"])
    assert took is not None, "new.x.test not served within %ss; data plane:\n%s" % (
        SWITCH_TIMEOUT,
        data.stderr_text(),
    )
    assert addresses(data, "www.x.test", "tcp") == ["10.0.0.2"]
    assert data.alive()  # switched, not restarted


def test_a_control_plane_reload_reaches_the_data_plane(services):
    """`systemctl reload nanodns`: SIGHUP to the control plane, which
    publishes and tells the data plane in the other service."""
    control = services.control(config("10.0.0.1"))
    data = services.data()
    harness.write_config(services.root, config("10.0.0.1", [NEW_RECORD]))
    control.proc.send_signal(signal.SIGHUP)
    took = wait_for_answer(data, "new.x.test", ["10.0.0.99"])
    assert took is not None, data.stderr_text()
    assert data.alive()


def test_a_data_plane_restarted_on_the_same_sockets_serves_the_last_image(services):
    """As systemd restarts the data plane (Restart=on-failure): the socket
    unit keeps the sockets; the new process gets the same ones."""
    control = services.control(config())
    data = services.data()
    assert control.stop() == 0, control.stderr_text()
    data.proc.kill()
    data.wait_exit(harness.STOP_TIMEOUT)
    data.start()
    assert addresses(data, proto="udp") == ["10.0.0.1"]
    assert addresses(data, proto="tcp") == ["10.0.0.1"]


def test_a_query_sent_while_the_data_plane_is_down_is_answered_by_the_next_one(services):
    """The socket stays open while no data plane runs, so a query waits in
    its queue instead of being refused."""
    services.control(config())
    data = services.data()
    data.proc.kill()
    data.wait_exit(harness.STOP_TIMEOUT)

    query = harness.build_query("www.x.test", qid=0x5151)
    with socket.socket(data.family, socket.SOCK_DGRAM) as client:
        client.settimeout(harness.READY_TIMEOUT)
        client.connect((data.host, data.port))
        client.send(query)
        data.start()
        answer = client.recv(65535)
    header = harness.Header(answer)
    assert header.id == 0x5151 and header.rcode == 0 and header.ancount == 1
