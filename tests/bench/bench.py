#!/usr/bin/python3
"""NanoDNS vs NSD and Knot DNS: authoritative answering cost on one core.

Run by hand (not part of CI) through tests/bench/run.sh; see README.md.
For each zone size it generates the same zone for every server, checks that
a sample of queries gets the same answers from all of them, then drives each
server with dnsperf (server pinned to one CPU, dnsperf to the other) and
reports QPS, server CPU time per answered query, peak RSS, and NanoDNS's
ratios to NSD, to Knot and to the faster of the two.

With --startup it measures instead how each server starts on the same data:
time to the first correct answer, peak memory of all its processes, and the
time a one-record reload takes to be answered; with --startup-blocklist N,
NanoDNS's start on a list of N blocked names. With --blocklist N, the dnsperf
runs also run NanoDNS with a blocklist of N names loaded, as NanoDNS+list.

Uses the Python standard library and the dnsperf, nsd, knotd, knotc, dig and
taskset commands (dnspython too, if installed, for --startup's probes; dig
otherwise); every process it starts is stopped on exit. A server whose
binaries are missing is skipped with a message.
"""

import argparse
import ipaddress
import json
import os
import random
import re
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

try:  # optional: --startup's probes send their queries with it, else with dig
    import dns.flags
    import dns.message
    import dns.rcode
    import dns.rdatatype
    import dns.version
except ImportError:
    dns = None

ZONE = "bench.test"
SOA = {
    "mname": "ns1.bench.test",
    "rname": "hostmaster.bench.test",
    "serial": 2024010101,
    "refresh": 3600,
    "retry": 900,
    "expire": 604800,
    "minimum": 300,
}
# NanoDNS serves the configured serial plus the config version, which is 1
# after a first start; NSD is given that serial so SOA answers compare equal.
SERIAL_OFFSET = 1
# The JSON format has no TTL for a zone's own SOA and NS; NanoDNS uses 3600.
ZONE_RECORD_TTL = 3600
NS_NAME = "ns1.bench.test"
NS_ADDR = "10.255.255.1"
WILD_PARENT = "wild.bench.test"  # "*.wild.bench.test" in NSD terms
WILD_A = "10.254.0.1"
WILD_AAAA = "fd00:254::1"
TTL = 300
MX_PRIORITY = 10
# One record per generated name; the kind of name i is KINDS[i % 5].
KINDS = ("a", "aaaa", "mx", "txt", "cname")

CLK_TCK = os.sysconf("SC_CLK_TCK")
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
# --startup: how long a server may take to answer the loaded data (or a
# reload), and how often it is asked meanwhile.
STARTUP_TIMEOUT_S = 120.0
POLL_S = 0.01
# --startup: the address the last A record gets for the reload, and the one
# of the allowlisted name of --startup-blocklist. In neither generated data.
RELOAD_ADDR = "192.0.2.1"
ALLOW_ADDR = "192.0.2.2"

# Every process we start, so the exit handler can stop them.
started = []


# --------------------------------------------------------------------------
# Zone generation


def name_of(i):
    return f"{KINDS[i % 5]}{i}.{ZONE}"


def target_of(i):
    """An A-record name in the same block of five, for MX and CNAME targets."""
    return name_of((i // 5) * 5)


def ipv4_of(i):
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


def ipv6_of(i):
    return f"fd00::{i >> 16:x}:{i & 0xFFFF:x}"


def record_of(i):
    """(name, type, value, priority) of generated name i."""
    kind = KINDS[i % 5]
    name = name_of(i)
    if kind == "a":
        return name, "A", ipv4_of(i), None
    if kind == "aaaa":
        return name, "AAAA", ipv6_of(i), None
    if kind == "mx":
        return name, "MX", target_of(i), MX_PRIORITY
    if kind == "txt":
        # No spaces or quotes: the same single character-string in both.
        return name, "TXT", f"v=bench;id={i}", None
    return name, "CNAME", target_of(i), None


def records_of(size, override=None):
    """(name, type, value, priority) for every generated name; override maps
    a name's index to another value (--startup's one-record change)."""
    for i in range(size):
        name, rtype, value, prio = record_of(i)
        if override and i in override:
            value = override[i]
        yield name, rtype, value, prio


def zone_rdata(rtype, value, prio):
    """A record's rdata as a zone file (and dig) writes it."""
    if rtype == "MX":
        return f"{prio} {value}."
    if rtype == "CNAME":
        return f"{value}."
    if rtype == "TXT":
        return f'"{value}"'
    return value


def nanodns_server(workers=1):
    """The config's "server" object: no forwarding, no API port, no query log."""
    server = {"upstream": [], "mgmt_port": 0, "hot_reload": False, "log_queries": False}
    if workers > 1:
        server["workers"] = workers
    return server


def write_nanodns_config(path, size, workers=1, override=None, blocklist=None):
    """blocklist: the path of a domains list the config also loads (--blocklist)."""
    records = [{"name": NS_NAME, "type": "A", "value": NS_ADDR, "ttl": TTL}]
    for name, rtype, value, prio in records_of(size, override):
        rec = {"name": name, "type": rtype, "value": value, "ttl": TTL}
        if prio is not None:
            rec["priority"] = prio
        records.append(rec)
    records.append(
        {"name": WILD_PARENT, "type": "A", "value": WILD_A, "ttl": TTL, "wildcard": True}
    )
    records.append(
        {"name": WILD_PARENT, "type": "AAAA", "value": WILD_AAAA, "ttl": TTL, "wildcard": True}
    )
    config = {
        "server": nanodns_server(workers),
        "zones": {ZONE: {"soa": dict(SOA), "ns": [NS_NAME]}},
        "records": records,
        "rewrites": [],
    }
    if blocklist:
        config["blocklists"] = [{"path": blocklist, "format": "domains"}]
    with open(path, "w") as f:
        json.dump(config, f, indent=1)


def write_nsd_zone(path, size, serial_bump=0, override=None):
    """The zone file NSD and Knot load; serial_bump and override make the
    changed version --startup reloads."""
    s = SOA
    serial = s["serial"] + SERIAL_OFFSET + serial_bump
    with open(path, "w") as f:
        f.write(f"$ORIGIN {ZONE}.\n$TTL {TTL}\n")
        f.write(
            f"@ {ZONE_RECORD_TTL} IN SOA {s['mname']}. {s['rname']}. ( {serial} {s['refresh']} "
            f"{s['retry']} {s['expire']} {s['minimum']} )\n"
        )
        f.write(f"@ {ZONE_RECORD_TTL} IN NS {NS_NAME}.\n")
        f.write(f"{NS_NAME}. {TTL} IN A {NS_ADDR}\n")
        for name, rtype, value, prio in records_of(size, override):
            f.write(f"{name}. {TTL} IN {rtype} {zone_rdata(rtype, value, prio)}\n")
        f.write(f"*.{WILD_PARENT}. {TTL} IN A {WILD_A}\n")
        f.write(f"*.{WILD_PARENT}. {TTL} IN AAAA {WILD_AAAA}\n")


def write_nsd_conf(path, workdir, zonefile, port, minimal, workers=1):
    # Rate limiting off, one server process, nothing outside workdir, no
    # privilege drop, no chroot, no control channel: NSD as a plain process.
    # zonefiles-check yes (the default): SIGHUP reads a zone file whose mtime
    # moved (--startup's reload); it costs a stat at start.
    with open(path, "w") as f:
        f.write(
            f"""server:
    ip-address: 127.0.0.1@{port}
    do-ip6: no
    server-count: {workers}
    reuseport: {"yes" if workers > 1 else "no"}
    username: ""
    chroot: ""
    zonesdir: "{workdir}"
    database: ""
    zonelistfile: "{workdir}/zone.list"
    xfrdfile: "{workdir}/xfrd.state"
    xfrdir: "{workdir}"
    pidfile: "{workdir}/nsd.pid"
    logfile: "{workdir}/nsd.log"
    cookie-secret-file: "{workdir}/nsd_cookiesecrets.txt"
    verbosity: 0
    hide-version: yes
    round-robin: no
    minimal-responses: {"yes" if minimal else "no"}
    refuse-any: no
    zonefiles-check: yes
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
    rrl-slip: 0
remote-control:
    control-enable: no
zone:
    name: "{ZONE}"
    zonefile: "{zonefile}"
"""
        )


def write_knot_conf(path, workdir, zonefile, port, workers=1):
    """knotd as a plain foreground process, everything inside workdir.

    One UDP, one TCP and one background worker (NSD runs one server process;
    all of them share one CPU anyway). No user: (it stays the invoking user,
    as NSD with username ""). The zone is loaded whole from the zone file
    written for NSD, never written back (zonefile-sync -1) and never stored in
    the journal (journal-content none); the timer database is the only thing
    Knot writes, in workdir/db. No modules, so no response rate limiting.
    """
    with open(path, "w") as f:
        f.write(
            f"""server:
    listen: 127.0.0.1@{port}
    rundir: "{workdir}/run"
    pidfile: "{workdir}/run/knot.pid"
    udp-workers: {workers}
    tcp-workers: 1
    background-workers: 1
    identity: ""
    version: ""
    nsid: ""
control:
    listen: "{workdir}/run/knot.sock"
database:
    storage: "{workdir}/db"
log:
  - target: stderr
    any: info
zone:
  - domain: {ZONE}
    storage: "{workdir}"
    file: "{zonefile}"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: off
"""
        )


def write_queries(path, size, count, seed, blocked=0.0, listed=0):
    """count query lines: 10% NXDOMAIN, 10% wildcard hits, 80% generated names.

    A and CNAME names are asked for type A (a CNAME answer then carries the
    chased A record, as a stub resolver would ask), the others for their own
    type. blocked (--blocked-share, 0 to 1): that share of the lines, drawn
    apart, is replaced by an A query for a name one label below one of the
    listed names blocked_name(0 .. listed - 1); the other lines stay those of
    the file without it.
    """
    rng = random.Random(seed)
    pick = random.Random(seed + 2)
    qtype = {"a": "A", "aaaa": "AAAA", "mx": "MX", "txt": "TXT", "cname": "A"}
    with open(path, "w") as f:
        for _ in range(count):
            r = rng.random()
            if r < 0.10:
                line = f"nx{rng.randrange(10**9)}.{ZONE} A\n"
            elif r < 0.20:
                t = "AAAA" if rng.random() < 0.25 else "A"
                line = f"w{rng.randrange(10**9)}.{WILD_PARENT} {t}\n"
            else:
                i = rng.randrange(size)
                line = f"{name_of(i)} {qtype[KINDS[i % 5]]}\n"
            if blocked and pick.random() < blocked:
                line = f"x{pick.randrange(10**9)}.{blocked_name(pick.randrange(listed))} A\n"
            f.write(line)


# --------------------------------------------------------------------------
# Processes


def free_port():
    """A loopback port free for both UDP and TCP (checked, then released)."""
    for _ in range(100):
        port = random.randrange(20000, 60000)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, socket.socket(
                socket.AF_INET, socket.SOCK_STREAM
            ) as t:
                u.bind(("127.0.0.1", port))
                t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free loopback port found")


def spawn(argv, log_path, cgroup=None):
    """argv in a process group of its own, output to log_path; given a cgroup
    v2 directory, the child joins it before exec, so its whole process tree is
    in it. proc.spawned_at is the monotonic time just before the fork."""
    log = open(log_path, "wb")
    join = None
    if cgroup:
        def join():
            with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
    t0 = time.monotonic()
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=join,
    )
    proc.spawned_at = t0
    log.close()
    started.append(proc)
    return proc


def stop(proc):
    """SIGTERM the process group we created for proc, SIGKILL if it lingers."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass
    # Children (NSD's server and xfrd, the data plane) may outlive the leader.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pass
    if proc in started:
        started.remove(proc)


def stop_all(*_):
    for proc in list(started):
        stop(proc)


def children_of(pid):
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            out.append(int(entry))
    return out


def tree_of(pid):
    pids = [pid]
    i = 0
    while i < len(pids):
        pids.extend(children_of(pids[i]))
        i += 1
    return pids


def comm_of(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def cpu_ticks(pid):
    """utime + stime of pid in clock ticks (proc(5) fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def tasks_of(pid):
    """Thread ids of pid (its /proc/PID/task entries)."""
    try:
        return [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []


def cpu_set(text):
    """The CPUs of a taskset -c list ("1", "1-4", "0,2")."""
    cpus = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise argparse.ArgumentTypeError(f"not a CPU list: {text!r}")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def pin_threads(pids, cpus):
    """Keep every thread of pids on the CPU list cpus (taskset -c text);
    returns the threads that were not on it.

    taskset pins a process before exec and its threads inherit that, but a
    server may move its own threads afterwards (Knot pins UDP worker n to CPU
    n modulo the online CPUs, whatever the inherited mask).
    """
    allowed = cpu_set(cpus)
    moved = []
    for pid in pids:
        for tid in tasks_of(pid):
            try:
                if not os.sched_getaffinity(tid) <= allowed:
                    moved.append(tid)
                    os.sched_setaffinity(tid, allowed)
            except OSError:
                pass
    return moved


def off_cpu_threads(pids, cpus):
    """Threads of pids allowed to run on a CPU outside the list cpus."""
    allowed = cpu_set(cpus)
    off = []
    for pid in pids:
        for tid in tasks_of(pid):
            try:
                if not os.sched_getaffinity(tid) <= allowed:
                    off.append(tid)
            except OSError:
                pass
    return off


def vm_hwm_kib(pid, field="VmHWM"):
    """Peak RSS (or another /proc/PID/status size, such as VmRSS) in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def udp_receive_drops():
    """The kernel's count of UDP datagrams dropped for a full receive buffer.

    System-wide (/proc/net/snmp): on an otherwise idle machine, a rise during
    a run is a drop at the server's or at dnsperf's sockets.
    """
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    return int(dict(zip(rows[0][1:], rows[1][1:]))["RcvbufErrors"])


def busy_seconds():
    """CPU time all CPUs spent in processes (user, nice, system), in seconds."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    return sum(int(x) for x in fields[1:4]) / CLK_TCK


def busy_elsewhere(min_share=0.1, sample_s=1.0):
    """Processes using more than min_share of a core right now (not ours)."""
    def snapshot():
        ticks = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    ticks[int(entry)] = cpu_ticks(int(entry))
                except (OSError, ValueError):
                    pass
        return ticks

    t0 = snapshot()
    time.sleep(sample_s)
    t1 = snapshot()
    busy = []
    for pid, ticks in t1.items():
        share = (ticks - t0.get(pid, ticks)) / CLK_TCK / sample_s
        if share >= min_share and pid != os.getpid():
            busy.append(f"{comm_of(pid)} (pid {pid}, {100 * share:.0f}%)")
    return busy


def dig(port, qname, qtype, extra=()):
    argv = ["dig", "@127.0.0.1", "-p", str(port), "+time=1", "+tries=1", "+norec"]
    argv += list(extra) + [qname, qtype]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    return res.stdout


def wait_ready(port, proc, what):
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode} before answering")
        out = dig(port, ZONE, "SOA")
        if "status: NOERROR" in out and "ANSWER: 1" in out:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer within {READY_TIMEOUT_S:.0f} s")


# --------------------------------------------------------------------------
# Correctness


def parse_dig(out):
    """(rcode, answer lines, authority lines, additional lines), normalised."""
    m = re.search(r"status: (\w+)", out)
    rcode = m.group(1) if m else "NO-ANSWER"
    sections = {"ANSWER": [], "AUTHORITY": [], "ADDITIONAL": []}
    current = None
    for line in out.splitlines():
        m = re.match(r";; (ANSWER|AUTHORITY|ADDITIONAL) SECTION:", line)
        if m:
            current = m.group(1)
            continue
        if not line.strip() or line.startswith(";"):
            current = None if not line.strip() else current
            continue
        if current:
            sections[current].append(" ".join(line.lower().split()))
    return (
        rcode,
        sorted(sections["ANSWER"]),
        sorted(sections["AUTHORITY"]),
        sorted(sections["ADDITIONAL"]),
    )


def sample_queries(size, seed):
    rng = random.Random(seed + 1)
    qs = [(ZONE, "SOA"), (ZONE, "NS"), (NS_NAME, "A")]
    qtype = {"a": "A", "aaaa": "AAAA", "mx": "MX", "txt": "TXT", "cname": "A"}
    for k in range(5):
        i = k + 5 * rng.randrange(size // 5)
        qs.append((name_of(i), qtype[KINDS[k]]))
    qs.append((name_of(4), "CNAME"))  # the CNAME itself, no chase
    qs.append((name_of(0), "MX"))  # NODATA
    qs.append((f"host1.{WILD_PARENT}", "A"))
    qs.append((f"host2.{WILD_PARENT}", "AAAA"))
    qs.append((f"nx12345.{ZONE}", "A"))  # NXDOMAIN
    qs.append((name_of(0).upper(), "A"))  # case-insensitive match
    for _ in range(10):
        i = rng.randrange(size)
        qs.append((name_of(i), qtype[KINDS[i % 5]]))
    return qs


def collect_answers(port, queries):
    return [parse_dig(dig(port, q, t)) for q, t in queries]


def compare_answers(queries, ref, got, ref_name="NSD", got_name="NanoDNS"):
    """(errors, notes, extra): errors are rcode or answer-section differences.

    extra counts answers where the reference alone adds the zone's NS RRset
    and its address (NSD's default minimal-responses: no); notes list any
    other authority or additional difference.
    """
    apex_extra = {f"{ZONE}. {ZONE_RECORD_TTL} in ns {NS_NAME}.", f"{NS_NAME}. {TTL} in a {NS_ADDR}"}
    errors, notes, extra = [], [], 0
    for (q, t), a, b in zip(queries, ref, got):
        if a[0] != b[0] or a[1] != b[1]:
            pad = " " * (len(q) + len(t) + 3)
            w = max(len(ref_name), len(got_name))
            errors.append(f"  {q} {t}: {ref_name:{w}} {a[0]} {a[1]}\n"
                          f"{pad}{got_name:{w}} {b[0]} {b[1]}")
            continue
        found_extra = False
        for label, ours, theirs in (("authority", a[2], b[2]), ("additional", a[3], b[3])):
            only_nsd = [r for r in ours if r in apex_extra and r not in theirs]
            found_extra = found_extra or bool(only_nsd)
            ours = [r for r in ours if r not in only_nsd]
            if ours != theirs:
                notes.append(f"  {q} {t}: {label} differs: {ref_name} {ours} / "
                             f"{got_name} {theirs}")
        extra += found_extra
    return errors, notes, extra


# --------------------------------------------------------------------------
# Measurement


class Server:
    """A running server under test and the processes whose cost we count."""

    def __init__(self, name, port, proc, workdir):
        self.name = name
        self.port = port
        self.proc = proc
        self.workdir = workdir
        self.cpu_pids = []  # CPU counted per query
        self.answering = None  # pid reported as "peak RSS answering"
        self.others = []  # every other process of the server
        self.notes = []
        self.runs = []
        self.cpu = None  # if set, every thread must stay pinned to this CPU
        self.data_file = None  # the zone file or config it serves (--startup rewrites it)
        self.reload_cmd = None  # argv that makes it reload data_file; None: SIGHUP


def parse_dnsperf(out):
    def num(pattern, cast, default):
        m = re.search(pattern, out)
        return cast(m.group(1)) if m else default

    rcodes = {}
    m = re.search(r"Response codes:\s+(.*)", out)
    if m:
        for code, count in re.findall(r"(\w+) (\d+) \(", m.group(1)):
            rcodes[code] = int(count)
    return {
        "sent": num(r"Queries sent:\s+(\d+)", int, 0),
        "completed": num(r"Queries completed:\s+(\d+)", int, 0),
        "lost": num(r"Queries lost:\s+(\d+)", int, 0),
        "qps": num(r"Queries per second:\s+([\d.]+)", float, 0.0),
        # Sending time: without the -t wait for lost queries at the end.
        "run_s": num(r"Run time \(s\):\s+([\d.]+)", float, 0.0),
        "latency_ms": 1000 * num(r"Average Latency \(s\):\s+([\d.]+)", float, 0.0),
        "response_bytes": num(r"Average packet size:.*response (\d+)", int, 0),
        "rcodes": rcodes,
    }


def run_dnsperf(args, port, queryfile, log_path):
    argv = ["taskset", "-c", str(args.client_cpu), "dnsperf", "-s", "127.0.0.1"]
    argv += ["-p", str(port), "-d", queryfile, "-l", str(args.seconds)]
    argv += ["-c", str(args.clients), "-q", str(args.outstanding), "-t", "5"]
    if args.workers > 1:
        # One dnsperf thread per server worker, at most one per client CPU.
        argv += ["-T", str(min(args.workers, len(cpu_set(args.client_cpu)), args.clients))]
    if args.edns:
        argv.append("-e")
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    res = subprocess.run(argv, capture_output=True, text=True, timeout=args.seconds + 60)
    wall = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(log_path, "w") as f:
        f.write(" ".join(argv) + "\n" + res.stdout + res.stderr)
    if res.returncode != 0:
        raise RuntimeError(f"dnsperf failed ({res.returncode}): {res.stderr.strip()}")
    perf = parse_dnsperf(res.stdout)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    perf["client_cpu_s"] = cpu
    # Over the wall time: dnsperf keeps polling while it waits out -t for
    # lost queries after the run.
    perf["client_util"] = cpu / wall if wall > 0 else 0.0
    return perf


# --kernel: what the server asks of the kernel per answered query, counted by
# perf stat over the dnsperf run on the processes whose CPU is counted (every
# thread: perf follows a process's threads). Tracepoint counts, not samples:
# the same whatever else loads the machine, and the server runs as fast as
# without them (no strace-style stop per syscall).
KERNEL_EVENTS = ("raw_syscalls:sys_enter", "context-switches")


def kernel_count_start(server, n):
    out = os.path.join(server.workdir, f"perf-stat.{n}.csv")
    argv = ["perf", "stat", "-x", ",", "-o", out, "-e", ",".join(KERNEL_EVENTS),
            "-p", ",".join(str(p) for p in server.cpu_pids)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return proc, out


def kernel_count_stop(counting):
    proc, out = counting
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    counts = {}
    with open(out) as f:
        for line in f:
            fields = line.strip().split(",")
            if len(fields) >= 3 and fields[2] in KERNEL_EVENTS:
                if not fields[0].isdigit():
                    raise RuntimeError(f"perf stat cannot count {fields[2]} here ({fields[0]}): "
                                       f"run without --kernel")
                counts[fields[2]] = int(fields[0])
    missing = [e for e in KERNEL_EVENTS if e not in counts]
    if missing:
        raise RuntimeError(f"perf stat gave no count for {missing}: {err.strip()}")
    return counts


def measure(args, server, queryfile):
    """One dnsperf run against server; CPU of its counted processes over the run."""
    n = len(server.runs) + 1
    watched = server.cpu_pids + server.others
    if server.cpu is not None:
        off = off_cpu_threads(watched, server.cpu)
        if off:
            raise RuntimeError(f"{server.name} threads {off} are no longer pinned to "
                               f"CPU {server.cpu} (before run {n})")
    before = {p: cpu_ticks(p) for p in watched}
    drops = udp_receive_drops()
    busy0 = busy_seconds()
    t0 = time.monotonic()
    log = os.path.join(server.workdir, f"dnsperf.{n}.log")
    counting = kernel_count_start(server, n) if args.kernel else None
    perf = run_dnsperf(args, server.port, queryfile, log)
    wall = time.monotonic() - t0
    if counting is not None:
        counts = kernel_count_stop(counting)
        answered = perf["completed"] or 1
        perf["syscalls_per_query"] = counts["raw_syscalls:sys_enter"] / answered
        perf["switches_per_query"] = counts["context-switches"] / answered
    perf["udp_drops"] = udp_receive_drops() - drops
    busy = busy_seconds() - busy0
    after = {}
    for p in watched:
        try:
            after[p] = cpu_ticks(p)
        except OSError:
            raise RuntimeError(f"{server.name} process {p} died during run {n}")
    delta = {p: (after[p] - before[p]) / CLK_TCK for p in watched}
    cpu_s = sum(delta[p] for p in server.cpu_pids)
    perf["ticks_by_pid"] = delta
    perf["cpu_s"] = cpu_s
    perf["other_cpu_s"] = sum(delta[p] for p in server.others)
    # The server's share of a core over dnsperf's run time: after it, while
    # dnsperf waits out -t for a few lost queries (Knot, see README.md), the
    # server is idle and the wall time would dilute it.
    busy_s = perf.get("run_s") or wall
    perf["cpu_util"] = cpu_s / busy_s if busy_s > 0 else 0.0
    perf["us_per_query"] = 1e6 * cpu_s / perf["completed"] if perf["completed"] else float("nan")
    # Whatever else ran meanwhile (in cores): ~0 on an idle machine. Other
    # load steals the server's or dnsperf's core and skews every figure.
    foreign = busy - cpu_s - perf["other_cpu_s"] - perf["client_cpu_s"]
    perf["foreign_load"] = max(0.0, foreign / wall) if wall > 0 else 0.0
    server.runs.append(perf)
    print(
        f"  {server.name:12} run {n}: {perf['qps']:>9,.0f} qps  {perf['us_per_query']:5.2f} us/query  "
        f"server {100 * perf['cpu_util']:3.0f}% cpu  dnsperf {100 * perf['client_util']:3.0f}% cpu  "
        f"lost {perf['lost']}  udp drops {perf['udp_drops']}  "
        f"other load {100 * perf['foreign_load']:.0f}%",
        flush=True,
    )
    return perf


def start_nsd(args, workdir, zonefile, wait=None, cgroup=None):
    """NSD on zonefile, in workdir/nsd; wait(port, proc, what) returns once it
    answers (default wait_ready), cgroup is spawn's."""
    d = os.path.join(workdir, "nsd")
    os.makedirs(d)
    conf = os.path.join(d, "nsd.conf")
    port = free_port()
    write_nsd_conf(conf, d, zonefile, port, args.nsd_minimal_responses, args.workers)
    chk = subprocess.run(["nsd-checkconf", conf], capture_output=True, text=True)
    if chk.returncode != 0:
        raise RuntimeError(f"nsd-checkconf: {chk.stdout}{chk.stderr}")
    argv = ["taskset", "-c", str(args.server_cpu), "nsd", "-d", "-c", conf]
    proc = spawn(argv, os.path.join(d, "stdout"), cgroup)
    server = Server("NSD", port, proc, d)
    (wait or wait_ready)(port, proc, "nsd")
    server.notes.append(f"ready {time.monotonic() - proc.spawned_at:.2f} s after start")
    # No control channel (control-enable: no): SIGHUP makes NSD read the zone
    # files whose mtime changed.
    server.data_file = zonefile
    with open(os.path.join(d, "nsd.log"), errors="replace") as f:
        errors = [line for line in f if "error" in line]
    if errors:
        raise RuntimeError(f"nsd reported {len(errors)} errors, first: {errors[0].strip()}")
    # NSD forks a main process, xfrd and one server process (server-count 1).
    # All of them are counted for CPU (only the server one works); the one
    # that answers is found after the first run as the one that used the CPU.
    server.cpu_pids = tree_of(proc.pid)
    server.cpu = args.server_cpu
    server.notes.append(
        f"{len(server.cpu_pids)} processes: {', '.join(comm_of(p) for p in server.cpu_pids)}"
    )
    return server


def start_knot(args, workdir, zonefile, wait=None, cgroup=None):
    """knotd on zonefile, in workdir/knot; wait and cgroup as for start_nsd."""
    d = os.path.join(workdir, "knot")
    for sub in ("run", "db"):
        os.makedirs(os.path.join(d, sub))
    conf = os.path.join(d, "knot.conf")
    port = free_port()
    write_knot_conf(conf, d, zonefile, port, args.workers)
    chk = subprocess.run(["knotc", "-c", conf, "conf-check"], capture_output=True, text=True)
    if chk.returncode != 0:
        raise RuntimeError(f"knotc conf-check: {chk.stdout}{chk.stderr}")
    log = os.path.join(d, "knotd.log")
    # Foreground is knotd's default; -c because it would read
    # /etc/knot/knot.conf otherwise.
    argv = ["taskset", "-c", str(args.server_cpu), "knotd", "-c", conf]
    proc = spawn(argv, log, cgroup)
    server = Server("Knot", port, proc, d)
    (wait or wait_ready)(port, proc, "knotd")
    server.notes.append(f"ready {time.monotonic() - proc.spawned_at:.2f} s after start")
    server.data_file = zonefile
    server.reload_cmd = ["knotc", "-s", os.path.join(d, "run", "knot.sock"), "zone-reload", ZONE]
    with open(log, errors="replace") as f:
        lines = f.readlines()
    errors = [line for line in lines if re.search(r"\b(error|critical):", line)]
    if errors:
        raise RuntimeError(f"knotd reported {len(errors)} errors, first: {errors[0].strip()}")
    if not any("loaded, serial" in line for line in lines):
        server.notes.append("WARNING: no 'loaded, serial' line in its log")
    # One process, threads only: /proc/PID/stat of the process counts the
    # CPU of all its threads. Its UDP worker pins itself to CPU 0 (worker id
    # modulo online CPUs), the dnsperf CPU: move every thread back.
    server.cpu_pids = tree_of(proc.pid)
    server.answering = proc.pid
    server.cpu = args.server_cpu
    moved = pin_threads(server.cpu_pids, args.server_cpu)
    threads = sum(len(tasks_of(p)) for p in server.cpu_pids)
    server.notes.append(
        f"{len(server.cpu_pids)} process{'es' if len(server.cpu_pids) > 1 else ''}, "
        f"{threads} threads; {len(moved)} re-pinned to CPU {args.server_cpu}"
    )
    return server


def find_dataplane(nanodns_pid):
    for p in tree_of(nanodns_pid)[1:]:
        if comm_of(p).startswith("nanodns-datapl"):
            return p
    return None


def start_nanodns(args, workdir, config, build_dir=None, name="NanoDNS", wait=None, cgroup=None):
    """NanoDNS from args.build_dir, or (--baseline) another build under
    another name, in a folder of its own, on a copy of the config file
    config; wait and cgroup as for start_nsd."""
    build_dir = build_dir or args.build_dir
    d = os.path.join(workdir, name.lower())
    os.makedirs(os.path.join(d, "state"))
    cfg = os.path.join(d, "nanodns.json")
    shutil.copyfile(config, cfg)
    port = free_port()
    log = os.path.join(d, "nanodns.log")
    argv = ["taskset", "-c", str(args.server_cpu), os.path.join(build_dir, "nanodns")]
    argv += ["start", "--config", cfg, "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--state-dir", os.path.join(d, "state")]
    proc = spawn(argv, log, cgroup)
    server = Server(name, port, proc, d)
    (wait or wait_ready)(port, proc, name)
    server.notes.append(f"ready {time.monotonic() - proc.spawned_at:.2f} s after start")
    server.data_file = cfg
    server.reload_cmd = [os.path.join(build_dir, "nanoctl"), "-S",
                         os.path.join(d, "state", "control.sock"), "reload"]
    dp = None
    deadline = time.monotonic() + 5
    while dp is None and time.monotonic() < deadline:
        dp = find_dataplane(proc.pid)
        if dp is None:
            time.sleep(0.1)
    if dp is None:
        raise RuntimeError("nanodns answers, but no nanodns-dataplane child process was found")
    with open(log, errors="replace") as f:
        if "serving " not in f.read():
            server.notes.append("WARNING: no 'serving ' line in its log")
    # The data plane answers: its CPU is the cost per query. The control
    # plane's CPU over the run is shown separately (it should be ~0).
    server.cpu_pids = [dp]
    server.answering = dp
    server.cpu = args.server_cpu
    server.others = [p for p in tree_of(proc.pid) if p != dp]
    server.notes.append(
        f"{len(server.others) + 1} processes: "
        f"{', '.join(comm_of(p) for p in tree_of(proc.pid))}; "
        f"{len(tasks_of(dp))} data-plane thread(s)"
    )
    return server


def finish(server):
    """Peak RSS of the server's processes; must run before it is stopped."""
    if server.answering is None:
        first = server.runs[0]["ticks_by_pid"]
        server.answering = max(server.cpu_pids, key=lambda p: first[p])
    alive = [p for p in server.cpu_pids + server.others if os.path.exists(f"/proc/{p}")]
    if server.answering not in alive:
        raise RuntimeError(f"{server.name} answering process is gone")
    if server.name.startswith("NanoDNS") and find_dataplane(server.proc.pid) != server.answering:
        raise RuntimeError(f"the {server.name} data plane was restarted during the runs")
    answering = vm_hwm_kib(server.answering)
    other = sum(vm_hwm_kib(p) for p in alive if p != server.answering)
    server.rss = {"answering": answering, "other": other, "total": answering + other}
    server.rss["now"] = sum(vm_hwm_kib(p, "VmRSS") for p in alive)


# --------------------------------------------------------------------------
# Start-up, memory and reload (--startup, --startup-blocklist)


def norm_rdata(rtype, text):
    """rdata text as compared: addresses in canonical form, the rest lower-cased."""
    if rtype in ("A", "AAAA"):
        return ipaddress.ip_address(text).compressed
    return " ".join(text.lower().split())


def expect(qname, qtype, rcode="NOERROR", rdata=()):
    """A question and the answer that shows the data it asks for is served:
    the rcode, and the rdata of the qname/qtype RRset in the answer section."""
    return qname.lower(), qtype, rcode, frozenset(norm_rdata(qtype, r) for r in rdata)


def answer_is(check, rcode, rrs):
    """Whether rcode and rrs, (owner, type, rdata text) of the answer
    section, are check's expected answer."""
    qname, qtype, want_rcode, want = check
    got = frozenset(norm_rdata(qtype, r) for owner, rtype, r in rrs
                    if owner.lower() == qname + "." and rtype.upper() == qtype)
    return rcode == want_rcode and got == want


def probe_method():
    if dns is None:
        return (f"dig, one query per check every {1000 * POLL_S:.0f} ms at most (dnspython not "
                f"found: a dig run takes a few ms and waits 1 s for a socket nobody reads yet)")
    return (f"dnspython {dns.version.version}, UDP queries every {1000 * POLL_S:.0f} ms on a "
            f"connected socket, answers read as they arrive")


def poll_answers(port, checks, alive, what):
    """The monotonic time by which every check had got its expected answer.

    Every POLL_S each check still waiting is asked again; answers are read as
    they come, so the answer to a query that waited in the socket until the
    server read it counts when it arrives. alive() raises if a process we
    depend on has died. Bounded by STARTUP_TIMEOUT_S.
    """
    if dns is None:
        return poll_answers_dig(port, checks, alive, what)
    waiting = {(c[0], c[1]): c for c in checks}
    last = {}  # the last wrong answer per check, for the error message
    done_at = None
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        # Connected: while nobody has the port, a query fails at once
        # (ECONNREFUSED) instead of waiting for a timeout.
        sock.connect(("127.0.0.1", port))
        sock.setblocking(False)
        while waiting:
            now = time.monotonic()
            if now > deadline:
                asked = ", ".join(" ".join(k) for k in waiting)
                raise RuntimeError(f"{what}: no right answer to {asked} within "
                                   f"{STARTUP_TIMEOUT_S:.0f} s (last: {last or 'none'})")
            alive()
            for qname, qtype in waiting:
                query = dns.message.make_query(qname, qtype)
                query.flags &= ~dns.flags.RD
                try:
                    sock.send(query.to_wire())
                except OSError:  # an earlier query's ECONNREFUSED
                    pass
            next_poll = now + POLL_S
            while waiting:
                left = next_poll - time.monotonic()
                if left <= 0 or not select.select([sock], [], [], left)[0]:
                    break
                try:
                    wire = sock.recv(65535)
                    at = time.monotonic()
                    msg = dns.message.from_wire(wire)
                except Exception:  # ECONNREFUSED (nobody listens yet), a bad message
                    continue
                if len(msg.question) != 1:
                    continue
                q = msg.question[0]
                key = (q.name.to_text().lower().rstrip("."), dns.rdatatype.to_text(q.rdtype))
                if key not in waiting:
                    continue
                rcode = dns.rcode.to_text(msg.rcode())
                rrs = [(rrset.name.to_text(), dns.rdatatype.to_text(rrset.rdtype), rd.to_text())
                       for rrset in msg.answer for rd in rrset]
                if answer_is(waiting[key], rcode, rrs):
                    del waiting[key]
                    done_at = at
                else:
                    last[" ".join(key)] = f"{rcode} {[r[2] for r in rrs]}"
            left = next_poll - time.monotonic()
            if waiting and left > 0:
                time.sleep(left)
    return done_at


def poll_answers_dig(port, checks, alive, what):
    """poll_answers with dig, one run per check and poll."""
    waiting = list(checks)
    done_at = None
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while waiting:
        now = time.monotonic()
        if now > deadline:
            raise RuntimeError(f"{what}: no right answer to {', '.join(c[0] for c in waiting)} "
                               f"within {STARTUP_TIMEOUT_S:.0f} s")
        alive()
        for check in list(waiting):
            rcode, answer, _, _ = parse_dig(dig(port, check[0], check[1]))
            rrs = [(f[0], f[3], f[4]) for f in (line.split(None, 4) for line in answer) if len(f) == 5]
            if answer_is(check, rcode, rrs):
                waiting.remove(check)
                done_at = time.monotonic()
        left = now + POLL_S - time.monotonic()
        if waiting and left > 0:
            time.sleep(left)
    return done_at


def check_running(proc, what):
    if proc.poll() is not None:
        raise RuntimeError(f"{what} exited with status {proc.returncode}")


def tree_memory(pid):
    """(VmHWM summed over pid's process tree, the largest one, processes), KiB."""
    hwm = []
    for p in tree_of(pid):
        try:
            hwm.append(vm_hwm_kib(p))
        except OSError:  # gone meanwhile
            pass
    return sum(hwm), max(hwm, default=0), len(hwm)


def memory_of(proc, cgroup):
    """Peak memory of proc's server so far, KiB: "total", all its processes
    (the cgroup's memory.peak if it has one, else the sum of their VmHWM);
    "largest", the largest VmHWM; "procs", how many processes."""
    total, largest, procs = tree_memory(proc.pid)
    if cgroup:
        with open(os.path.join(cgroup, "memory.peak")) as f:
            total = int(f.read()) // 1024
    return {"total": total, "largest": largest, "procs": procs}


class MemoryCgroups:
    """A cgroup v2 per server start, beside the one this script runs in, so
    that memory.peak covers every process the server ever had (forked and
    gone included). Where the machine does not allow it (no cgroup v2 memory
    controller, not writable, no memory.peak before Linux 5.19), base is None
    and memory is the VmHWM sum over the process tree; method says which."""

    def __init__(self):
        self.base, why = self.find_base()
        self.made = []
        if self.base:
            self.method = f"cgroup v2 memory.peak, one cgroup per start in {self.base}"
        else:
            self.method = f"VmHWM summed over the process tree (no cgroup v2 memory.peak: {why})"

    @staticmethod
    def find_base():
        """(the directory to make cgroups in, None) or (None, why not)."""
        mount = own = None
        with open("/proc/self/mounts") as f:
            for line in f:
                fields = line.split()
                if fields[2] == "cgroup2":
                    mount = fields[1]
        with open("/proc/self/cgroup") as f:
            own = next((line.strip()[3:] for line in f if line.startswith("0::")), None)
        if mount is None or own is None:
            return None, "no cgroup v2 hierarchy"
        own = os.path.normpath(mount + own)
        try:
            with open(os.path.join(own, "cgroup.controllers")) as f:
                if "memory" not in f.read().split():
                    return None, f"no memory controller in {own} (cgroup v1 or hybrid?)"
            if own == os.path.normpath(mount):
                # The root cgroup may hold processes and enable controllers.
                base = own
                with open(os.path.join(base, "cgroup.subtree_control")) as f:
                    enabled = "memory" in f.read().split()
                if not enabled:
                    with open(os.path.join(base, "cgroup.subtree_control"), "w") as f:
                        f.write("+memory")
            else:
                # A cgroup holding processes (this one) cannot enable
                # controllers for children: make siblings, which have the
                # memory controller as this one has.
                base = os.path.dirname(own)
            test = os.path.join(base, f"nanodns-bench-{os.getpid()}-test")
            os.mkdir(test)
            try:
                if not os.path.exists(os.path.join(test, "memory.peak")):
                    return None, "no memory.peak (Linux before 5.19)"
                # A process must be able to move into it (spawn does so).
                subprocess.run(["true"], check=True, preexec_fn=lambda: MemoryCgroups.join(test))
            finally:
                os.rmdir(test)
        except (OSError, subprocess.SubprocessError) as e:
            return None, str(e)
        return base, None

    @staticmethod
    def join(cgroup):
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))

    def new(self, label):
        """A new empty cgroup for one start, or None (VmHWM method)."""
        if not self.base:
            return None
        path = os.path.join(self.base, f"nanodns-bench-{os.getpid()}-{label}")
        os.mkdir(path)
        self.made.append(path)
        return path

    def remove(self, path):
        """Remove path once its processes are gone (stopped and reaped)."""
        for _ in range(50):
            try:
                os.rmdir(path)
                self.made.remove(path)
                return
            except FileNotFoundError:
                self.made.remove(path)
                return
            except OSError:
                time.sleep(0.1)
        print(f"WARNING: cannot remove cgroup {path}")

    def remove_all(self):
        for path in list(self.made):
            self.remove(path)


def start_timed(args, name, rundir, source, checks, cgroups):
    """Server name (NSD, Knot, a NanoDNS) started in rundir on source, a zone
    file (copied for it) or a NanoDNS config, in a cgroup of its own when
    there is one. Returns (server, figures, cgroup): figures["start_s"] is the
    time from spawning it to the moment every check had its right answer,
    figures["mem_first"] its memory then."""
    fig = {}
    cgroup = cgroups.new(f"{name.lower()}-{os.path.basename(rundir)}")

    def wait(port, proc, what):
        done = poll_answers(port, checks, lambda: check_running(proc, what), what)
        fig["start_s"] = done - proc.spawned_at
        fig["mem_first"] = memory_of(proc, cgroup)

    os.makedirs(rundir, exist_ok=True)
    if name in ("NSD", "Knot"):
        zonefile = os.path.join(rundir, f"{name.lower()}.{ZONE}.zone")
        shutil.copyfile(source, zonefile)
        start = start_nsd if name == "NSD" else start_knot
        server = start(args, rundir, zonefile, wait, cgroup)
    else:
        build_dir = args.baseline if name == BASELINE else args.build_dir
        server = start_nanodns(args, rundir, source, build_dir, name, wait, cgroup)
    return server, fig, cgroup


def stop_timed(server, fig, cgroup, cgroups):
    """figures["mem"]: the larger of the memory at the first answer and now;
    then stop server."""
    try:
        now = memory_of(server.proc, cgroup)
        fig["mem"] = {k: max(now[k], fig["mem_first"][k]) for k in now}
    finally:
        stop(server.proc)
        if cgroup:
            cgroups.remove(cgroup)


def time_reload(server, changed, checks):
    """Seconds from asking server to reload until checks are answered right.

    changed (the zone file or config with the one change) is put in place of
    the server's file first, atomically and not timed; then the clock starts
    and server.reload_cmd runs (its own start-up counted), or NSD, which has
    no control channel here, gets SIGHUP.
    """
    tmp = server.data_file + ".new"
    shutil.copyfile(changed, tmp)
    old = os.stat(server.data_file).st_mtime_ns
    os.replace(tmp, server.data_file)
    if os.stat(server.data_file).st_mtime_ns <= old:
        # NSD reads a zone file again only if its mtime moved.
        os.utime(server.data_file, ns=(old + 10**9, old + 10**9))
    t0 = time.monotonic()
    cmd = None
    if server.reload_cmd:
        cmd = subprocess.Popen(server.reload_cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    else:
        os.kill(server.proc.pid, signal.SIGHUP)

    def alive():
        check_running(server.proc, server.name)
        if cmd and cmd.poll() not in (None, 0):
            raise RuntimeError(f"{' '.join(cmd.args)} failed ({cmd.returncode}): "
                               f"{cmd.stdout.read().strip()}")

    try:
        done = poll_answers(server.port, checks, alive, f"{server.name} reload")
    finally:
        out = cmd.communicate(timeout=30)[0].strip() if cmd else ""
    if cmd and cmd.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd.args)} failed ({cmd.returncode}): {out}")
    return done - t0


def startup_data(sd, size, run, workers):
    """The size's data for --startup, written once: the zone file (NSD, Knot)
    and the NanoDNS config, each also in a changed version where the last A
    record has RELOAD_ADDR (and the zone file's serial is one higher); the
    checks that show each version is served: the last generated record (it
    is near the end of both files) with its rdata, and the moved address."""
    name, rtype, value, prio = record_of(size - 1)
    moved = (size - 1) // 5 * 5  # the last A record
    data = {
        "ready": [expect(name, rtype, rdata=[zone_rdata(rtype, value, prio)])],
        "reload": [expect(name_of(moved), "A", rdata=[RELOAD_ADDR])],
    }
    if "nsd" in run or "knot" in run:
        data["zone"] = os.path.join(sd, f"{ZONE}.zone")
        data["zone_changed"] = data["zone"] + ".changed"
        write_nsd_zone(data["zone"], size)
        write_nsd_zone(data["zone_changed"], size, 1, {moved: RELOAD_ADDR})
    if "nanodns" in run:
        data["config"] = os.path.join(sd, "nanodns.json")
        data["config_changed"] = data["config"] + ".changed"
        write_nanodns_config(data["config"], size, workers)
        write_nanodns_config(data["config_changed"], size, workers, {moved: RELOAD_ADDR})
    return data


def measure_startup(args, name, data, rundir, cgroups):
    """One start of server name on the size's data and a one-record reload."""
    zone = name in ("NSD", "Knot")
    server, fig, cgroup = start_timed(args, name, rundir, data["zone" if zone else "config"],
                                      data["ready"], cgroups)
    try:
        fig["reload_s"] = time_reload(server, data["zone_changed" if zone else "config_changed"],
                                      data["reload"])
    finally:
        stop_timed(server, fig, cgroup, cgroups)
    print_startup_run(name, rundir, fig)
    return fig


def print_startup_run(name, rundir, fig):
    mem = fig["mem"]
    line = (f"  {name:8} {os.path.basename(rundir)}: first answer {fig['start_s']:.3f} s  "
            f"memory {mem['total'] / 1024:.1f} MiB in {mem['procs']} process(es), largest "
            f"{mem['largest'] / 1024:.1f} MiB")
    if "reload_s" in fig:
        line += f"  reload {fig['reload_s']:.3f} s"
    print(line, flush=True)


def blocked_name(i):
    """Listed name i of --startup-blocklist and --blocklist, 22 to 30
    characters as in real lists, under 97,873 different parents; none is
    bench.test or above or below a name of it."""
    return f"ad{i}.srv{i % 1009}.block{i % 97}.test"


def write_blocklist(path, count, fmt="domains"):
    """blocked_name(0 .. count - 1) as a domains or a hosts list."""
    with open(path, "w") as f:
        for i in range(count):
            f.write(f"0.0.0.0 {blocked_name(i)}\n" if fmt == "hosts" else f"{blocked_name(i)}\n")


def blocklist_data(bd, count, workers):
    """The list of count names in each format, a config for each, and the
    checks of --startup-blocklist.

    A name below the last listed one is outside every zone: NXDOMAIN if the
    list is loaded to its end, REFUSED if not (no upstream). A listed name
    near the middle is in the allowlist and has an A record, in a zone of its
    parent (the last name is not in it): its address, not NXDOMAIN, shows
    the allowlist applied.
    """
    last = blocked_name(count - 1)
    allowed = count // 2

    def parent(name):
        return name.split(".", 1)[1]

    while parent(blocked_name(allowed)) == parent(last):
        allowed = (allowed + 1) % (count - 1)
    allowed = blocked_name(allowed)
    zone = parent(allowed)
    ns = f"ns1.{zone}"
    data = {"checks": [expect(f"x.{last}", "A", "NXDOMAIN"),
                       expect(allowed, "A", rdata=[ALLOW_ADDR])]}
    for fmt in ("domains", "hosts"):
        listfile = os.path.join(bd, f"list.{fmt}")
        write_blocklist(listfile, count, fmt)
        config = {
            "server": nanodns_server(workers),
            "zones": {zone: {"soa": dict(SOA, mname=ns, rname=f"hostmaster.{zone}"), "ns": [ns]}},
            "records": [{"name": ns, "type": "A", "value": NS_ADDR, "ttl": TTL},
                        {"name": allowed, "type": "A", "value": ALLOW_ADDR, "ttl": TTL}],
            "rewrites": [],
            "blocklists": [{"path": listfile, "format": fmt}],
            "allowlist": [allowed],
        }
        data[fmt] = os.path.join(bd, f"nanodns-{fmt}.json")
        with open(data[fmt], "w") as f:
            json.dump(config, f, indent=1)
    return data


def interleaved(items, runs):
    """(run, item) for every run and item, the order rotating from run to run
    (A, B, C; then B, C, A; ...) so that drift in the machine's speed (it is a
    VM) hits all of them alike."""
    for r in range(runs):
        k = r % len(items)
        for item in items[k:] + items[:k]:
            yield r, item


def startup_summary(figs):
    """Medians of one server's start-up figures (processes: the most seen)."""
    if not figs:
        return None
    s = {"start_s": median([f["start_s"] for f in figs]),
         "start_range": (min(f["start_s"] for f in figs), max(f["start_s"] for f in figs)),
         "first": median([f["mem_first"]["total"] for f in figs]),
         "procs": max(f["mem"]["procs"] for f in figs)}
    for k in ("total", "largest"):
        s[k] = median([f["mem"][k] for f in figs])
    if all("reload_s" in f for f in figs):
        s["reload_s"] = median([f["reload_s"] for f in figs])
    return s


def print_startup_table(title, figs, names, notes):
    """One column per name (n/a for a name without figures), NanoDNS's ratios."""
    sums = {n: startup_summary(figs.get(n)) for n in names}
    runs = max(len(f) for f in figs.values())
    print()
    print(f"=== start-up, {title} (median of {runs} run{'s' if runs > 1 else ''}) ===")
    rows = [
        ("start to first right answer (s)", lambda p: f"{p['start_s']:.3f}", lambda p: p["start_s"]),
        ("  (min..max over runs)",
         lambda p: f"{p['start_range'][0]:.3f}..{p['start_range'][1]:.3f}", None),
        ("peak memory at first answer (MiB)", lambda p: f"{p['first'] / 1024:.1f}",
         lambda p: p["first"]),
        ("peak memory, all processes (MiB)", lambda p: f"{p['total'] / 1024:.1f}",
         lambda p: p["total"]),
        ("peak RSS, largest process (MiB)", lambda p: f"{p['largest'] / 1024:.1f}",
         lambda p: p["largest"]),
        ("reload one record (s)", lambda p: f"{p['reload_s']:.3f}" if "reload_s" in p else "",
         lambda p: p.get("reload_s")),
        ("processes", lambda p: f"{p['procs']}", None),
    ]
    if not any(p and "reload_s" in p for p in sums.values()):
        rows = [r for r in rows if not r[0].startswith("reload")]
    print_columns(rows, sums, names, ratio_columns(sums))
    for line in notes:
        print(line)


def run_startup(args, run, workdir, cgroups):
    """--startup: for each size, every server started --runs times,
    interleaved; a table per size."""
    names = [n for key, n in (("nsd", "NSD"), ("knot", "Knot"), ("nanodns", "NanoDNS")) if key in run]
    if "NanoDNS" in names and args.baseline:
        names.insert(names.index("NanoDNS"), BASELINE)
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"\n--- start-up, {size:,} names", flush=True)
        sd = os.path.join(workdir, f"size{size}")
        os.makedirs(sd)
        data = startup_data(sd, size, run, args.workers)
        figs = {n: [] for n in names}
        for r, name in interleaved(names, args.runs):
            figs[name].append(measure_startup(args, name, data, os.path.join(sd, f"run{r + 1}"),
                                              cgroups))
        last = record_of(size - 1)
        print_startup_table(f"{size:,} names", figs, names, [
            f"first right answer: {last[0]} {last[1]}, the last generated record; reload: "
            f"{name_of((size - 1) // 5 * 5)} A moved to {RELOAD_ADDR} (NSD: SIGHUP, no control "
            f"channel; Knot: knotc zone-reload; NanoDNS: nanoctl reload; zone serial +1)",
            f"memory: {cgroups.method}",
            f"probe: {probe_method()}",
        ])


def run_startup_blocklist(args, workdir, cgroups):
    """--startup-blocklist N: NanoDNS on a list of N names, as a domains and
    as a hosts file, each started --runs times, interleaved; one table."""
    count = args.startup_blocklist
    print(f"\n--- start-up, blocklist of {count:,} names", flush=True)
    bd = os.path.join(workdir, f"blocklist{count}")
    os.makedirs(bd)
    data = blocklist_data(bd, count, args.workers)
    figs = {}
    for r, fmt in interleaved(["domains", "hosts"], args.runs):
        name = f"NanoDNS-{fmt}"
        rundir = os.path.join(bd, f"run{r + 1}")
        server, fig, cgroup = start_timed(args, name, rundir, data[fmt], data["checks"], cgroups)
        stop_timed(server, fig, cgroup, cgroups)
        print_startup_run(name, rundir, fig)
        figs.setdefault(name, []).append(fig)
    names = ["NanoDNS-domains", "NanoDNS-hosts", "NSD", "Knot"]
    print_startup_table(f"blocklist of {count:,} names", figs, names, [
        "NSD, Knot: n/a, they have no blocklists",
        f"first right answer: x.{blocked_name(count - 1)} A NXDOMAIN (below the last listed "
        f"name) and {data['checks'][1][0]} A {ALLOW_ADDR} (listed, allowlisted, in a zone)",
        f"memory: {cgroups.method}",
        f"probe: {probe_method()}",
    ])


# --------------------------------------------------------------------------
# Report


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def summary(server):
    if server is None:
        return None
    runs = server.runs
    s = {k: median([r[k] for r in runs]) for k in
         ("qps", "us_per_query", "cpu_util", "client_util", "latency_ms", "other_cpu_s",
          "response_bytes", "foreign_load")}
    for k in ("syscalls_per_query", "switches_per_query"):
        if all(k in r for r in runs):
            s[k] = median([r[k] for r in runs])
    for k in ("sent", "completed", "lost", "udp_drops"):
        s[k] = sum(r[k] for r in runs)
    rcodes = {}
    for r in runs:
        for code, count in r["rcodes"].items():
            rcodes[code] = rcodes.get(code, 0) + count
    total = sum(rcodes.values()) or 1
    s["rcodes"] = ", ".join(f"{c} {n} ({100 * n / total:.2f}%)" for c, n in sorted(rcodes.items()))
    s["us_range"] = (min(r["us_per_query"] for r in runs), max(r["us_per_query"] for r in runs))
    s["rss"] = server.rss
    return s


def best_reference(sums):
    """The name of the faster (lower CPU us/query) of NSD and Knot that ran."""
    refs = [n for n in ("NSD", "Knot") if sums.get(n)]
    return min(refs, key=lambda n: sums[n]["us_per_query"]) if refs else None


def ratio_columns(sums, best=None):
    """(header, name, reference name) of the ratios: NanoDNS's to NSD, to
    Knot, to the best of the two (if given and both ran), to the baseline;
    NanoDNS+list's to NanoDNS (--blocklist)."""
    if not sums.get("NanoDNS"):
        return []
    ratios = [(f"NanoDNS/{n}", "NanoDNS", n) for n in ("NSD", "Knot") if sums.get(n)]
    if best and len(ratios) == 2:
        ratios.append(("NanoDNS/best", "NanoDNS", best))
    if sums.get(BASELINE):
        ratios.append(("NanoDNS/base", "NanoDNS", BASELINE))
    if sums.get(LISTED):
        ratios.append((f"{LISTED}/NanoDNS", LISTED, "NanoDNS"))
    return ratios


def print_columns(rows, sums, names, ratios):
    """rows of (label, format, value or None): a column per name (n/a where
    sums has None), then each ratio's server's value divided by its
    reference's."""
    w0 = max(len(r[0]) for r in rows)
    widths = [max(12, len(n)) for n in names]
    rwidths = [max(12, len(h)) for h, _, _ in ratios]
    print(f"{'':{w0}}" + "".join(f"  {n:>{w}}" for n, w in zip(names, widths))
          + "".join(f"  {h:>{w}}" for (h, _, _), w in zip(ratios, rwidths)))
    for label, fmt, val in rows:
        line = f"{label:{w0}}" + "".join(
            f"  {fmt(sums[n]) if sums[n] is not None else 'n/a':>{w}}" for n, w in zip(names, widths))
        for (_, num, ref), w in zip(ratios, rwidths):
            r = ""
            if val and val(sums[ref]) and val(sums[num]) is not None:
                r = f"{val(sums[num]) / val(sums[ref]):.2f}"
            line += f"  {r:>{w}}"
        print(line.rstrip())


def print_table(size, servers, answers_line, list_note=None):
    """One column per server that ran, then NanoDNS's ratios to the others
    (and NanoDNS+list's to NanoDNS); list_note says what --blocklist loaded."""
    sums = {srv.name: summary(srv) for srv in servers}
    names = [n for n in ("NSD", "Knot", BASELINE, "NanoDNS", LISTED) if n in sums]
    nano = sums.get("NanoDNS")
    best = best_reference(sums)
    ratios = ratio_columns(sums, best)
    runs = len(servers[0].runs)
    print()
    print(f"=== {size:,} names (median of {runs} runs; counts summed) ===")
    rows = [
        ("QPS", lambda p: f"{p['qps']:,.0f}", lambda p: p["qps"]),
        ("queries answered", lambda p: f"{p['completed']:,}", None),
        ("server CPU us/query", lambda p: f"{p['us_per_query']:.2f}", lambda p: p["us_per_query"]),
        ("  (min..max over runs)", lambda p: f"{p['us_range'][0]:.2f}..{p['us_range'][1]:.2f}", None),
        ("server CPU use (1 core=100%)", lambda p: f"{100 * p['cpu_util']:.0f}%", None),
        ("syscalls per query (--kernel)", lambda p: f"{p['syscalls_per_query']:.3f}",
         lambda p: p["syscalls_per_query"]),
        ("context switches per query", lambda p: f"{p['switches_per_query']:.4f}",
         lambda p: p["switches_per_query"]),
        ("dnsperf CPU use (1 core=100%)", lambda p: f"{100 * p['client_util']:.0f}%", None),
        ("other load on the machine", lambda p: f"{100 * p['foreign_load']:.0f}%", None),
        ("peak RSS answering (MiB)", lambda p: f"{p['rss']['answering'] / 1024:.1f}",
         lambda p: p["rss"]["answering"]),
        ("peak RSS other procs (MiB)", lambda p: f"{p['rss']['other'] / 1024:.1f}",
         lambda p: p["rss"]["other"]),
        ("peak RSS total (MiB)", lambda p: f"{p['rss']['total'] / 1024:.1f}",
         lambda p: p["rss"]["total"]),
        ("RSS total at the end (MiB)", lambda p: f"{p['rss']['now'] / 1024:.1f}",
         lambda p: p["rss"]["now"]),
        ("avg latency (ms)", lambda p: f"{p['latency_ms']:.3f}", lambda p: p["latency_ms"]),
        ("avg response size (bytes)", lambda p: f"{p['response_bytes']}",
         lambda p: p["response_bytes"]),
        ("queries sent", lambda p: f"{p['sent']:,}", None),
        ("queries lost", lambda p: f"{p['lost']:,}", None),
        ("kernel UDP rcvbuf drops", lambda p: f"{p['udp_drops']:,}", None),
    ]
    if not all("syscalls_per_query" in p for p in sums.values()):
        rows = [r for r in rows if "per query (--kernel)" not in r[0]
                and r[0] != "context switches per query"]
    print_columns(rows, sums, names, ratios)
    for srv in servers:
        p = sums[srv.name]
        print(f"{srv.name}: rcodes {p['rcodes']}")
        print(f"{srv.name}: {'; '.join(srv.notes)}")
        if p["lost"] > 0.001 * max(p["sent"], 1):
            print(f"WARNING: {srv.name} lost {p['lost']} of {p['sent']} queries")
    worst = max(p["foreign_load"] for p in sums.values())
    if worst > 0.05:
        print(f"WARNING: other processes used {100 * worst:.0f}% of a core during the runs: "
              f"the figures are skewed (QPS most, CPU per query less)")
    if nano:
        print(f"NanoDNS control plane CPU during a run (median): {nano['other_cpu_s']:.2f} s")
    if answers_line:
        print(answers_line)
    if best:
        others = [n for n in ("NSD", "Knot") if n in sums]
        bar = sums[best]["us_per_query"]
        if len(others) == 2:
            line = f"bar (faster of NSD and Knot by CPU per query): {best}, {bar:.2f} us/query"
        else:
            missing = "Knot" if best == "NSD" else "NSD"
            line = f"bar: {best} ({missing} not run), {bar:.2f} us/query"
        if nano and bar:
            r = nano["us_per_query"] / bar
            more = "more" if r > 1 else "less"
            line += (f"; NanoDNS/best = {r:.2f} (NanoDNS uses {100 * abs(r - 1):.0f}% {more} "
                     f"server CPU per answered query)")
        print(line)
    if list_note:
        print(list_note)
    listed = sums.get(LISTED)
    if nano and listed and nano["us_per_query"]:
        r = listed["us_per_query"] / nano["us_per_query"]
        more = "more" if r > 1 else "less"
        print(f"{LISTED}/NanoDNS = {r:.2f} (with the list loaded, NanoDNS uses "
              f"{100 * abs(r - 1):.0f}% {more} server CPU per answered query)")


SERVERS = ("nsd", "knot", "nanodns")
# --baseline: another NanoDNS build in the same run, say main before a change.
BASELINE = "NanoDNS-base"
# --blocklist N: NanoDNS (this build) again, with a blocklist of N names.
LISTED = "NanoDNS+list"


def server_list(text):
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in SERVERS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown server {', '.join(bad)} "
                                         f"(choose from {', '.join(SERVERS)})")
    return names


def compare_servers(queries, servers):
    """(status, text): NanoDNS against each reference, else Knot against NSD;
    NanoDNS+list against NanoDNS."""
    by = {srv.name: srv for srv in servers}
    if "NanoDNS" in by:
        pairs = [(by[n], by["NanoDNS"]) for n in ("NSD", "Knot") if n in by]
        if LISTED in by:
            pairs.append((by["NanoDNS"], by[LISTED]))
    elif "NSD" in by and "Knot" in by:
        pairs = [(by["NSD"], by["Knot"])]
    else:
        return 0, None
    answers = {}
    for srv in {s for pair in pairs for s in pair}:
        answers[srv.name] = collect_answers(srv.port, queries)
    status, lines = 0, []
    for ref, other in pairs:
        errors, notes, extra = compare_answers(queries, answers[ref.name], answers[other.name],
                                               ref.name, other.name)
        vs = f"{other.name} vs {ref.name}"
        if errors:
            status = 1
            lines.append(f"ANSWERS DIFFER ({vs}) for {len(errors)} of {len(queries)} sample "
                         f"queries (rcode or answer section):\n" + "\n".join(errors))
        else:
            lines.append(f"answers ({vs}): rcode and answer section identical for all "
                         f"{len(queries)} sample queries")
        if extra:
            lines.append(f"{ref.name} alone adds the zone's NS RRset and its address to {extra} "
                         f"of them (its minimal-responses: no)")
        if notes:
            lines.append("other sections (informational):\n" + "\n".join(notes))
    return status, "\n".join(lines)


def check_blocked(servers, count):
    """(status, text): each of servers (the NanoDNS with --blocklist's list)
    answers NXDOMAIN for the first listed name and for a name below the last
    one: the list is loaded, to its end (outside every zone, with nothing to
    forward to, those names get REFUSED otherwise)."""
    qs = [(blocked_name(0), "A"), (f"x.{blocked_name(count - 1)}", "A")]
    status, lines = 0, []
    for srv in servers:
        got = [parse_dig(dig(srv.port, q, t))[0] for q, t in qs]
        if got != ["NXDOMAIN"] * len(qs):
            status = 1
            lines.append(f"BLOCKLIST NOT APPLIED ({srv.name}): " + ", ".join(
                f"{q} {t} {rcode}" for (q, t), rcode in zip(qs, got)) + " (NXDOMAIN expected)")
        else:
            lines.append(f"blocklist ({srv.name}): NXDOMAIN for "
                         + " and ".join(f"{q} {t}" for q, t in qs))
    return status, "\n".join(lines)


def bench_sizes(args, run, workdir):
    """The dnsperf benchmark: for each size, start every server, compare
    their answers, run dnsperf against them, print the table. Returns the
    exit status (1 if answers differ).

    --blocklist N: the list is written once; NanoDNS+list (or, with
    --baseline, both NanoDNS builds) loads it, and with --blocked-share gets a
    query file of its own, the others' with that share of lines replaced."""
    status = 0
    listed, list_note = [], None
    if args.blocklist and "nanodns" in run:
        listed = [BASELINE, "NanoDNS"] if args.baseline else [LISTED]
        blockfile = os.path.join(workdir, "blocklist.domains")
        write_blocklist(blockfile, args.blocklist)
        list_note = (f"{' and '.join(listed)}: a domains blocklist of {args.blocklist:,} names "
                     f"(ad<i>.srv<i mod 1009>.block<i mod 97>.test; none in {ZONE})")
        if args.blocked_share:
            list_note += (f"; {args.blocked_share:g}% of their query lines replaced by "
                          f"x<n>.<listed name> A (NXDOMAIN, blocked)")
        else:
            list_note += "; the same query file (no query is blocked)"
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"\n--- {size:,} names", flush=True)
        sd = os.path.join(workdir, f"size{size}")
        os.makedirs(sd)
        queryfile = os.path.join(sd, "queries.txt")
        write_queries(queryfile, size, args.queries, args.seed)
        queryfiles = {}
        if listed and args.blocked_share:
            blockedfile = os.path.join(sd, "queries-blocked.txt")
            write_queries(blockedfile, size, args.queries, args.seed, args.blocked_share / 100,
                          args.blocklist)
            queryfiles = {n: blockedfile for n in listed}
        queries = sample_queries(size, args.seed)
        # One zone file, served as is by NSD and by Knot.
        zonefile = os.path.join(sd, f"{ZONE}.zone")
        if "nsd" in run or "knot" in run:
            write_nsd_zone(zonefile, size)
        config = os.path.join(sd, "nanodns.json")
        configs = {}
        if "nanodns" in run:
            write_nanodns_config(config, size, args.workers)
            configs = {n: config for n in (BASELINE, "NanoDNS")}
        if listed:
            configs.update({n: os.path.join(sd, "nanodns-list.json") for n in listed})
            write_nanodns_config(configs[listed[0]], size, args.workers, blocklist=blockfile)
        servers = []
        answers_line = None
        try:
            if "nsd" in run:
                servers.append(start_nsd(args, sd, zonefile))
            if "knot" in run:
                servers.append(start_knot(args, sd, zonefile))
            if "nanodns" in run and args.baseline:
                servers.append(start_nanodns(args, sd, configs[BASELINE], args.baseline, BASELINE))
            if "nanodns" in run:
                servers.append(start_nanodns(args, sd, configs["NanoDNS"]))
            if LISTED in listed:
                servers.append(start_nanodns(args, sd, configs[LISTED], name=LISTED))
            differ, answers_line = compare_servers(queries, servers)
            status = max(status, differ)
            if listed:
                differ, blocked_line = check_blocked([s for s in servers if s.name in listed],
                                                     args.blocklist)
                status = max(status, differ)
                answers_line = "\n".join(filter(None, (answers_line, blocked_line)))
            if answers_line:
                print(answers_line, flush=True)
            for _, srv in interleaved(servers, args.runs):
                measure(args, srv, queryfiles.get(srv.name, queryfile))
            for srv in servers:
                finish(srv)
        finally:
            for srv in servers:
                stop(srv.proc)
        print_table(size, servers, answers_line, list_note)
    return status


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_build = os.path.normpath(os.path.join(here, "..", "..", "build"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build_dir", nargs="?", default=default_build,
                    help="build directory with nanodns and nanodns-dataplane (default: %(default)s)")
    ap.add_argument("--sizes", default="1000,100000", help="zone sizes in names (default: %(default)s)")
    ap.add_argument("--seconds", type=int, default=10, help="dnsperf -l per run (default: %(default)s)")
    ap.add_argument("--runs", type=int, default=3,
                    help="dnsperf runs per server and size, interleaved (default: %(default)s)")
    ap.add_argument("--clients", type=int, default=4, help="dnsperf -c (default: %(default)s)")
    ap.add_argument("--outstanding", type=int, default=200, help="dnsperf -q (default: %(default)s)")
    ap.add_argument("--queries", type=int, default=200000,
                    help="lines in the query file (default: %(default)s)")
    ap.add_argument("--edns", action="store_true", help="send queries with EDNS0 (dnsperf -e)")
    ap.add_argument("--nsd-minimal-responses", action="store_true",
                    help="NSD minimal-responses: yes (no NS RRset in positive answers)")
    ap.add_argument("--server-cpu", default="1",
                    help="CPUs for the servers, a taskset -c list (default: %(default)s)")
    ap.add_argument("--client-cpu", default="0",
                    help="CPUs for dnsperf, a taskset -c list (default: %(default)s)")
    ap.add_argument("--workers", type=int, default=1,
                    help="answering threads of each server: NSD server-count, Knot udp-workers, "
                         "NanoDNS workers, and as many dnsperf threads (-T); for machines with "
                         "the cores, with --server-cpu and --client-cpu lists (default: %(default)s)")
    ap.add_argument("--only", type=server_list, metavar="LIST",
                    help="benchmark only these servers, comma-separated: nsd,knot,nanodns")
    ap.add_argument("--skip", type=server_list, metavar="LIST", default=[],
                    help="leave these servers out, comma-separated: nsd,knot,nanodns")
    ap.add_argument("--kernel", action="store_true",
                    help="count the servers' syscalls and context switches per query (perf stat "
                         "tracepoints)")
    ap.add_argument("--baseline", metavar="BUILD_DIR",
                    help="also run the NanoDNS of another build (main before a change, say) in "
                         "the same run, as NanoDNS-base, with a NanoDNS/base ratio")
    ap.add_argument("--blocklist", type=int, metavar="N",
                    help="also run NanoDNS with a domains blocklist of N generated names (none in "
                         "the zone) loaded, as NanoDNS+list, with a NanoDNS+list/NanoDNS ratio; "
                         "with --baseline, both NanoDNS builds load it instead")
    ap.add_argument("--blocked-share", type=float, default=0, metavar="P",
                    help="with --blocklist: P%% of the query lines sent to the NanoDNS with the "
                         "list are names below listed names (blocked: NXDOMAIN); the other "
                         "servers get the file without them (default: %(default)g)")
    ap.add_argument("--startup", action="store_true",
                    help="instead of dnsperf runs: time from start to the first right answer for "
                         "the last generated record, peak memory of all the server's processes, "
                         "and time to answer a one-record change after a reload, --runs times per "
                         "server and size")
    ap.add_argument("--startup-blocklist", type=int, metavar="N",
                    help="NanoDNS only: time to the first right answer and peak memory with a "
                         "blocklist of N names, as a domains and as a hosts file (alone, or after "
                         "--startup's tables)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--seed", type=int, default=1, help="random seed for the query file")
    args = ap.parse_args()

    for option in ("server_cpu", "client_cpu"):
        try:
            cpu_set(getattr(args, option))
        except argparse.ArgumentTypeError as e:
            sys.exit(f"--{option.replace('_', '-')}: {e}")
    if args.workers < 1:
        sys.exit("--workers: at least 1")
    if args.workers > len(cpu_set(args.server_cpu)):
        print(f"WARNING: {args.workers} workers on {len(cpu_set(args.server_cpu))} server CPU(s) "
              f"({args.server_cpu}): they share cores")
    startup = args.startup or args.startup_blocklist is not None
    if args.startup_blocklist is not None and args.startup_blocklist < 2:
        sys.exit("--startup-blocklist: at least 2 names")
    if args.blocklist is not None and (startup or args.blocklist < 1):
        sys.exit("--blocklist: at least 1 name, and for the dnsperf runs only (not with "
                 "--startup or --startup-blocklist)")
    if not 0 <= args.blocked_share <= 100 or (args.blocked_share and not args.blocklist):
        sys.exit("--blocked-share: a percentage from 0 to 100, with --blocklist")
    for tool in ("dig", "taskset") if startup else ("dnsperf", "dig", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"missing {tool}: apt-get install -y dnsperf bind9-dnsutils util-linux")
    wanted = [n for n in (args.only or SERVERS) if n not in args.skip]
    if startup and not args.startup:  # --startup-blocklist alone: NanoDNS only
        wanted = [n for n in wanted if n == "nanodns"]
    run = []
    for name in SERVERS:
        if name not in wanted:
            continue
        if name == "nanodns":
            # --startup reloads with nanoctl.
            exes = ("nanodns", "nanodns-dataplane") + (("nanoctl",) if startup else ())
            missing = [f"{args.build_dir}/{exe}" for exe in exes
                       if not os.access(os.path.join(args.build_dir, exe), os.X_OK)]
            hint = "build first"
        else:
            tools = ("nsd", "nsd-checkconf") if name == "nsd" else ("knotd", "knotc")
            missing = [t for t in tools if not shutil.which(t)]
            hint = f"apt-get install -y {name}"
        if missing:
            print(f"skipping {name}: {', '.join(missing)} not found ({hint}, or --skip {name})")
        else:
            run.append(name)
    if not run:
        sys.exit("no server left to benchmark")
    if args.startup_blocklist is not None and "nanodns" not in run:
        sys.exit("--startup-blocklist runs NanoDNS only, which is not run")
    if args.blocklist and "nanodns" not in run:
        sys.exit("--blocklist is for NanoDNS, which is not run")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(1))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(1))
    busy = busy_elsewhere()
    if busy:
        print("WARNING: the machine is not idle, figures will be skewed: " + ", ".join(busy))
    workdir = tempfile.mkdtemp(prefix="nanodns-bench-")
    # Started as root, the NanoDNS data plane runs as nobody and must reach
    # the state directory to read the images a reload publishes.
    os.chmod(workdir, 0o755)
    status = 0
    cgroups = None
    try:
        if startup:
            # The probes (and knotc, nanoctl) on the client CPU, as dnsperf.
            os.sched_setaffinity(0, cpu_set(args.client_cpu))
            cgroups = MemoryCgroups()
            print(f"start-up: servers: {', '.join(run if args.startup else ['nanodns'])}; "
                  f"on cpu {args.server_cpu}, the probes on cpu {args.client_cpu}; {args.runs} "
                  f"runs each; memory: {cgroups.method}; work dir {workdir}", flush=True)
            if args.startup:
                run_startup(args, run, workdir, cgroups)
            if args.startup_blocklist is not None:
                run_startup_blocklist(args, workdir, cgroups)
        else:
            print(f"servers: {', '.join(run)}; dnsperf -l {args.seconds} -c {args.clients} "
                  f"-q {args.outstanding}{' -e' if args.edns else ''} on cpu {args.client_cpu}; "
                  f"servers on cpu {args.server_cpu}, {args.workers} worker(s) each; {args.runs} "
                  f"runs each; work dir {workdir}",
                  flush=True)
            status = bench_sizes(args, run, workdir)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"error: {e}", file=sys.stderr)
        args.keep = True
        status = 2
    finally:
        stop_all()
        if cgroups:
            cgroups.remove_all()
        if args.keep:
            print(f"work dir kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
