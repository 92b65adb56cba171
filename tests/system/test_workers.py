"""server.workers: one event loop per worker, each on a thread of its own
with its own SO_REUSEPORT UDP socket; worker 0 serves TCP. Each worker
counts into its own slot of the stats file and /metrics shows each one's
queries; every worker answers when clients come from many source ports, the
counters add up to the queries sent, and no query is lost while 20 reloads
switch every worker to a new image. workers: 1 is the single loop of
before; a count above the stats file's 16 slots is a config error."""

import ctypes
import os
import signal
import socket
import struct
import subprocess
import time

import dns.message
import dns.query
import pytest

import harness
import loadgen
from fakeupstream import FakeUpstream
from harness import rrset, texts

STATS_WORKERS_MAX = 16
# common/stats.h: the header (magic, layout, worker count, 7 counters,
# 8 reserved) is 136 octets, the workers' slots start 64-aligned, 1024
# octets each (layout 2), queries[udp], queries[tcp] first.
STATS_WORKER_COUNT_OFFSET = 12
STATS_WORKERS_OFFSET = 192
STATS_WORKER_SIZE = 1024

ZONE = {
    "soa": {
        "mname": "ns1.w.test",
        "rname": "hostmaster.w.test",
        "serial": 1,
        "refresh": 3600,
        "retry": 900,
        "expire": 604800,
        "minimum": 300,
    },
    "ns": ["ns1.w.test"],
}


def a(name, value):
    return {"name": name, "type": "A", "value": value, "ttl": 60}


def config(workers=None, records=(), **server):
    section = harness.base_server(**server)
    if workers is not None:
        section["workers"] = workers
    return {
        "server": section,
        "zones": {"w.test": ZONE},
        "records": [a("ns1.w.test", "10.0.0.53"), a("www.w.test", "10.0.0.80")] + list(records),
    }


def stats_file(server):
    """(worker_count, [queries of worker 0, 1, ...]) read from the stats file."""
    with open(os.path.join(server.state_dir, "stats"), "rb") as f:
        data = f.read()
    count = struct.unpack_from("<I", data, STATS_WORKER_COUNT_OFFSET)[0]
    queries = []
    for i in range(count):
        udp, tcp = struct.unpack_from("<QQ", data, STATS_WORKERS_OFFSET + i * STATS_WORKER_SIZE)
        queries.append(udp + tcp)
    return count, queries


def metrics(port):
    status, body = harness.http_get_json(port, "/metrics")
    assert status == 200, body
    return body


def prometheus_worker_queries(port):
    out = subprocess.run(
        ["curl", "-s", "-H", "Accept: text/plain", "http://127.0.0.1:%d/metrics" % port],
        capture_output=True, text=True, timeout=10,
    ).stdout
    found = {}
    for line in out.splitlines():
        if line.startswith("nanodns_worker_queries_total{"):
            label, value = line.split("} ")
            found[int(label.split('"')[1])] = int(value)
    return [found[i] for i in sorted(found)]


def dataplane_pid(server):
    (pid,) = harness.child_pids(server.proc.pid)
    return pid


def threads(pid):
    return len(os.listdir("/proc/%d/task" % pid))


def ask_from_many_ports(server, name, count):
    """count queries, each from a socket of its own (a new source port);
    how many were answered NOERROR with name's address."""
    answered = 0
    wire = dns.message.make_query(name, "A")
    for i in range(count):
        wire.id = i & 0xFFFF
        data = server.udp_raw(wire.to_wire())
        if data is not None:
            r = dns.message.from_wire(data)
            if r.rcode() == 0 and texts(rrset(r.answer, name, "A")) == ["10.0.0.80"]:
                answered += 1
    return answered


def deltas(before, after):
    return [b - a for a, b in zip(before, after)]


# -- two workers ------------------------------------------------------------------


@pytest.fixture(scope="module")
def two(start_server):
    """workers: 2; (server, management port)."""
    port = harness.free_port()
    return start_server(config(workers=2, mgmt_port=port)), port


def test_two_workers_run_two_threads_on_two_udp_sockets(two):
    server, _ = two
    pid = dataplane_pid(server)
    assert threads(pid) == 2
    sockets = harness.inet_sockets(pid)
    assert len([s for s in sockets if s[0] == "udp"]) == 2, sockets
    assert len([s for s in sockets if s[0] == "tcp" and s[2] == "0A"]) == 1, sockets
    assert "with 2 workers" in server.stderr_text()


def test_each_worker_answers_and_the_counters_add_up_to_the_queries_sent(two):
    server, port = two
    count, before = stats_file(server)
    assert count == 2
    before_metrics = metrics(port)["worker_queries"]
    assert len(before_metrics) == 2

    assert ask_from_many_ports(server, "www.w.test", 200) == 200

    _, after = stats_file(server)
    got = deltas(before, after)
    assert all(n > 0 for n in got), "a worker answered nothing: %r" % got
    assert sum(got) == 200, got
    m = metrics(port)
    got_metrics = deltas(before_metrics, m["worker_queries"])
    assert got_metrics == got
    assert sum(m["worker_queries"]) == m["queries"]["total"]
    assert prometheus_worker_queries(port) == m["worker_queries"]


def test_under_load_from_many_ports_both_workers_count_every_query(two):
    server, port = two
    _, before = stats_file(server)
    load = loadgen.Load(server.host, server.port, [("www.w.test", "A"), ("w.test", "SOA")],
                        server.tmpdir, qps=2000, seconds=3.0, clients=16)
    try:
        assert load.wait_sending(), "the load generator did not start:\n" + "".join(load._lines)
        result = load.result()
    finally:
        load.kill()
    _, after = stats_file(server)
    got = deltas(before, after)
    summary = "%s: %r; per worker %r" % (result["tool"], result, got)
    assert result["lost"] == 0, summary
    assert all(n > 0 for n in got), summary
    assert sum(got) == result["sent"], summary
    assert deltas(before, metrics(port)["worker_queries"]) == got


def test_tcp_is_answered_with_two_workers(two):
    server, _ = two
    for _ in range(3):
        r = server.ask("www.w.test", "A", proto="tcp")
        assert texts(rrset(r.answer, "www.w.test", "A")) == ["10.0.0.80"]
    answers = harness.ask_pipelined(server, "www.w.test", "A", (1, 2, 3))
    assert sorted(r.id for r in answers) == [1, 2, 3]


def test_a_reload_reaches_every_worker(two, public_tmp):
    server, port = two
    harness.write_config(server.tmpdir, config(workers=2, mgmt_port=port,
                                               records=[a("new.w.test", "10.0.0.81")]))
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while metrics(port)["dataplane"]["image_version"] < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    # Once the data plane says it serves the new version, every worker does:
    # queries from many ports all see it.
    wire = dns.message.make_query("new.w.test", "A")
    for i in range(100):
        data = server.udp_raw(wire.to_wire())
        r = dns.message.from_wire(data)
        assert texts(rrset(r.answer, "new.w.test", "A")) == ["10.0.0.81"], "query %d: %s" % (i, r)


def test_no_query_is_lost_across_20_reloads_under_load_with_two_workers(public_tmp, start_server):
    server = start_server(config(workers=2))
    _, before = stats_file(server)
    queries = [("ns1.w.test", "A"), ("www.w.test", "A"), ("w.test", "SOA"), ("w.test", "NS")]
    # Long enough for 20 reloads with room to spare on a loaded machine under
    # ASan (6 s was outlasted once there): every reload must fall inside it.
    load = loadgen.Load(server.host, server.port, queries, public_tmp, qps=2000, seconds=12.0,
                        clients=16)
    try:
        assert load.wait_sending(), "the load generator did not start:\n" + "".join(load._lines)
        started = time.monotonic()
        for i in range(1, 21):
            name, value = "gen%d.w.test" % i, "10.9.0.%d" % i
            harness.write_config(server.tmpdir, config(workers=2, records=[a(name, value)]))
            server.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                data = server.udp_raw(dns.message.make_query(name, "A").to_wire(), timeout=0.5)
                if data and texts(rrset(dns.message.from_wire(data).answer, name, "A")) == [value]:
                    break
                time.sleep(0.01)
            else:
                pytest.fail("reload %d: %s never answered; stderr:\n%s"
                            % (i, name, server.stderr_text()))
        assert time.monotonic() - started < load.seconds - 0.5, "the reloads outlasted the load"
        result = load.result()
    finally:
        load.kill()
    _, after = stats_file(server)
    got = deltas(before, after)
    summary = "%s: %s; per worker %r" % (
        result["tool"], {k: result[k] for k in ("sent", "lost", "mismatched", "rcodes")}, got)
    assert server.stderr_text().count("reloaded:") >= 20, summary
    assert result["sent"] >= 2000 * load.seconds * 0.8, summary
    assert result["lost"] == 0, summary
    assert result["mismatched"] == 0, summary
    assert result["rcodes"] == {"NOERROR": result["sent"]}, summary
    assert all(n > 0 for n in got), summary


def test_the_workers_share_one_forwarding_cache(start_server):
    with FakeUpstream() as up:
        port = harness.free_port()
        server = start_server(config(workers=2, mgmt_port=port, upstream=[up.address],
                                     upstream_timeout=1.0, cache_size=1000))
        _, before = stats_file(server)
        up.add("cached.example", "A", "192.0.2.7")
        wire = dns.message.make_query("cached.example", "A")
        for _ in range(40):  # a new source port each: both workers get some
            r = dns.message.from_wire(server.udp_raw(wire.to_wire()))
            assert texts(rrset(r.answer, "cached.example", "A")) == ["192.0.2.7"]
        _, after = stats_file(server)
        assert all(n > 0 for n in deltas(before, after)), deltas(before, after)
        assert up.count("cached.example") == 1
        cache = metrics(port)["cache"]
        assert cache["size"] == 1 and cache["hits"] == 39 and cache["misses"] == 1, cache


PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
WALL = 0x40000000  # waitpid's __WALL: a thread of another process, traced by us


def stop_one_thread(tid):
    """Stop thread tid alone (PTRACE_SEIZE + PTRACE_INTERRUPT: no group
    stop, the process's other threads run on). Needs CAP_SYS_PTRACE or a
    permissive ptrace_scope; skips the test otherwise."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    if libc.ptrace(PTRACE_SEIZE, tid, None, None) != 0:
        pytest.skip("cannot trace the data plane: %s" % os.strerror(ctypes.get_errno()))
    assert libc.ptrace(PTRACE_INTERRUPT, tid, None, None) == 0, os.strerror(ctypes.get_errno())
    os.waitpid(tid, WALL)  # it is stopped now
    return libc


def test_a_hung_worker_stops_the_heartbeat_and_the_data_plane_is_replaced(start_server):
    port = harness.free_port()
    server = start_server(config(workers=2, mgmt_port=port))
    old = dataplane_pid(server)
    server.dataplane_pids.add(old)
    main_thread = old
    (worker,) = [int(t) for t in os.listdir("/proc/%d/task" % old) if int(t) != main_thread]
    libc = stop_one_thread(worker)
    stopped = time.monotonic()
    # Worker 0 (the main thread) still answers and runs its timers, but the
    # heartbeat must stop: the control plane kills the data plane 3 s later.
    killed = server.wait_for_line("(pid %d) is hung" % old, 6.0)
    took = time.monotonic() - stopped
    if not killed:
        libc.ptrace(PTRACE_DETACH, worker, None, None)  # it runs on
        pytest.fail("the hung worker was not noticed:\n" + server.stderr_text())
    # The stopped thread's end is reported to us, its tracer: reap it, so
    # that the killed process can be reaped by its parent.
    os.waitpid(worker, WALL)
    assert took <= 5.5, "killed after %.2f s" % took
    assert harness.wait_gone(old), "the hung data plane still runs"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not harness.child_pids(server.proc.pid) - {old}:
        time.sleep(0.05)
    assert server.wait_for_line("worker 1 has not run", 1.0), server.stderr_text()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and server.ask("www.w.test", "A", timeout=0.5) is None:
        time.sleep(0.05)
    assert ask_from_many_ports(server, "www.w.test", 20) == 20
    server.dataplane_pids = harness.child_pids(server.proc.pid)


# -- one worker, the default, the cap --------------------------------------------


def test_one_worker_is_one_thread_on_one_plain_udp_socket(start_server):
    port = harness.free_port()
    server = start_server(config(workers=1, mgmt_port=port))
    pid = dataplane_pid(server)
    assert threads(pid) == 1
    assert len([s for s in harness.inet_sockets(pid) if s[0] == "udp"]) == 1
    assert ask_from_many_ports(server, "www.w.test", 50) == 50
    count, queries = stats_file(server)
    assert count == 1 and queries == [50]
    assert metrics(port)["worker_queries"] == [50]
    # Not in an SO_REUSEPORT group: nobody else can bind the port.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        with pytest.raises(OSError):
            s.bind((server.host, server.port))


def test_the_default_is_one_worker_per_cpu_the_process_may_use(start_server):
    server = start_server(config())
    expected = min(len(os.sched_getaffinity(0)), STATS_WORKERS_MAX)
    assert threads(dataplane_pid(server)) == expected
    assert stats_file(server)[0] == expected
    assert ("with %d worker%s" % (expected, "" if expected == 1 else "s")) in server.stderr_text()


def test_a_second_server_on_the_port_is_refused_with_workers(start_server, public_tmp):
    first = start_server(config(workers=2))
    second = harness.Server(public_tmp, config(workers=2), port=first.port)
    with pytest.raises(RuntimeError):
        second.start()
    second.kill()
    assert "address already in use" in second.stderr_text().lower()
    assert first.ask("www.w.test", "A") is not None


@pytest.mark.parametrize("workers", [0, STATS_WORKERS_MAX + 1, 64])
def test_a_worker_count_outside_1_to_16_is_a_config_error_naming_the_key(public_tmp, workers):
    path = harness.write_config(public_tmp, config(workers=workers))
    proc = harness.run_nanodns("check", path)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 1, text
    assert "server.workers" in text
    assert "16" in text


def test_check_shows_the_worker_count_when_set(public_tmp):
    path = harness.write_config(public_tmp, config(workers=3))
    proc = harness.run_nanodns("check", path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "  Workers : 3\n" in proc.stdout
    path = harness.write_config(public_tmp, config())
    proc = harness.run_nanodns("check", path)
    assert proc.returncode == 0 and "Workers" not in proc.stdout


# -- systemd: one inherited socket per protocol ---------------------------------


def test_under_socket_activation_two_workers_share_the_inherited_sockets(services):
    services.control(config(workers=2))
    plane = services.data()
    pid = plane.proc.pid
    assert threads(pid) == 2
    # One UDP socket (polled by both workers), one TCP listener.
    sockets = harness.inet_sockets(pid)
    assert len([s for s in sockets if s[0] == "udp"]) == 1, sockets
    assert ask_from_many_ports(plane, "www.w.test", 50) == 50
    r = plane.ask("www.w.test", "A", proto="tcp")
    assert texts(rrset(r.answer, "www.w.test", "A")) == ["10.0.0.80"]
    count, queries = stats_file(plane)
    assert count == 2 and sum(queries) == 51
