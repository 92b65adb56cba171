"""sd_notify(3) as systemd sees it, on a NOTIFY_SOCKET the test owns. The
data plane, started as nanodns-dataplane.service runs it (Type=notify,
sockets through LISTEN_FDS), says READY=1 once its first image is mapped,
RELOADING=1 (with MONOTONIC_USEC) then READY=1 around each switch to a new
image, and STOPPING=1 on SIGTERM. The control plane, as nanodns.service runs
it (Type=notify, --external-dataplane), says READY=1 once it has published,
RELOADING=1 and READY=1 around a SIGHUP reload, STOPPING=1 on SIGTERM.
Messages count only from the service's main process (NotifyAccess=main)."""

import os
import signal
import time

import harness
from harness import rrset, texts

RELOAD_TIMEOUT = 5.0  # the data plane also polls zone.img every second


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


def www(plane, proto="udp"):
    answer = plane.ask("www.x.test", "A", proto)
    return texts(rrset(answer.answer, "www.x.test", "A"))


def reload_control_plane(services, control, address):
    """Rewrite the config with www.x.test at address and SIGHUP the control
    plane (`systemctl reload nanodns`). Returns the notify index before it."""
    since = len(services.notify.messages)
    harness.write_config(services.root, config(address))
    control.proc.send_signal(signal.SIGHUP)
    return since


# -- the data plane ----------------------------------------------------------


def test_data_plane_sends_ready_once_its_image_is_mapped(services):
    services.control(config())
    data = services.data(wait_ready=False)
    ready = services.notify.wait_for("READY=1", harness.READY_TIMEOUT, pid=data.proc.pid)
    assert ready is not None, data.stderr_text()
    # The image is read into private memory (copy-on-open, common/image.h),
    # so it is no file mapping: its log line says it is loaded.
    assert data.wait_for_line("serving image version", 1.0), data.stderr_text()


def test_data_plane_answers_udp_and_tcp_as_soon_as_it_is_ready(services):
    services.control(config())
    data = services.data()  # returns on READY=1
    assert www(data, "udp") == ["10.0.0.1"]
    assert www(data, "tcp") == ["10.0.0.1"]


def test_data_plane_without_an_image_never_sends_ready(services):
    data = services.data(wait_ready=False)
    # Either it gives up (exit != 0, and systemd's Restart= retries) or it
    # waits for an image; it must not claim to be ready.
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and data.alive():
        services.notify.drain(0.1)
    services.notify.drain(0.1)
    assert "READY=1" not in services.notify.states(pid=data.proc.pid)
    if not data.alive():
        assert data.proc.returncode != 0


def test_data_plane_sends_reloading_then_ready_around_a_new_image(services):
    control = services.control(config("10.0.0.1"))
    data = services.data()
    since = reload_control_plane(services, control, "10.0.0.2")

    reloading = services.notify.wait_for("RELOADING=1", RELOAD_TIMEOUT, since, pid=data.proc.pid)
    assert reloading is not None, services.notify.states(since)
    ready = services.notify.wait_for("READY=1", RELOAD_TIMEOUT, reloading, pid=data.proc.pid)
    assert ready is not None, services.notify.states(since)
    assert ready > reloading
    # READY=1 means the new image is the one answering.
    assert www(data, "udp") == ["10.0.0.2"]
    assert www(data, "tcp") == ["10.0.0.2"]


def test_data_plane_reloading_carries_the_monotonic_time_it_began(services):
    control = services.control(config("10.0.0.1"))
    data = services.data()
    before_us = int(time.monotonic() * 1_000_000)  # CLOCK_MONOTONIC, as systemd reads it
    since = reload_control_plane(services, control, "10.0.0.2")
    index = services.notify.wait_for("RELOADING=1", RELOAD_TIMEOUT, since, pid=data.proc.pid)
    after_us = int(time.monotonic() * 1_000_000)
    assert index is not None, services.notify.states(since)

    _, lines = services.notify.messages[index]
    stamps = [line for line in lines if line.startswith("MONOTONIC_USEC=")]
    assert len(stamps) == 1, "RELOADING=1 came without MONOTONIC_USEC in its message: %r" % lines
    usec = int(stamps[0].split("=", 1)[1])
    assert before_us <= usec <= after_us


def test_data_plane_sends_stopping_on_sigterm_and_exits_0(services):
    services.control(config())
    data = services.data()
    since = len(services.notify.messages)
    assert data.stop() == 0, data.stderr_text()
    assert services.notify.wait_for("STOPPING=1", 1.0, since, pid=data.proc.pid) is not None, (
        services.notify.states(since)
    )


# -- the control plane -------------------------------------------------------


def test_control_plane_sends_ready_once_it_has_published(services):
    control = services.control(config(), wait_ready=False)
    index = services.notify.wait_for("READY=1", harness.READY_TIMEOUT, pid=control.proc.pid)
    assert index is not None, control.stderr_text()
    for name in ("zone.img", "config.json"):
        assert os.path.exists(os.path.join(str(services.state_dir), name)), name


def test_control_plane_sends_reloading_then_ready_around_a_sighup_reload(services):
    control = services.control(config("10.0.0.1"))
    since = reload_control_plane(services, control, "10.0.0.2")
    pid = control.proc.pid
    reloading = services.notify.wait_for("RELOADING=1", RELOAD_TIMEOUT, since, pid=pid)
    assert reloading is not None, services.notify.states(since)
    ready = services.notify.wait_for("READY=1", RELOAD_TIMEOUT, reloading, pid=pid)
    assert ready is not None and ready > reloading, services.notify.states(since)


def test_control_plane_sends_stopping_on_sigterm_and_exits_0(services):
    control = services.control(config())
    since = len(services.notify.messages)
    assert control.stop() == 0, control.stderr_text()
    assert services.notify.wait_for("STOPPING=1", 1.0, since, pid=control.proc.pid) is not None
