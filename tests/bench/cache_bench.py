#!/usr/bin/python3
"""NanoDNS vs unbound: answering forwarded names from the cache, on one core.

Run by hand (not part of CI) through `tests/bench/run.sh --cache`; see
README.md. A local NSD serves a generated zone as the upstream; NanoDNS and
unbound both forward to it. After a warm-up pass that asks every question
once, dnsperf asks the same fixed set of questions again and again, so what
is measured is the cache-hit path: QPS and forwarder CPU time per answered
query (the upstream should see nothing during the runs; its CPU is shown).

Uses the Python standard library, the helpers of bench.py and the dnsperf,
nsd, unbound, dig and taskset commands; every process it starts is stopped
on exit.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import bench as b

ZONE = "cache.bench"  # the forwarded names (no special-use TLD: unbound blocks some)
LOCAL_ZONE = "local.bench"  # NanoDNS's own zone, for its readiness check
TTL = 86400  # long: nothing expires during a run
SOA_MINIMUM = 86400  # negative answers cached as long
NX_NAMES = 1000  # fixed set of names that do not exist
SOA = {
    "mname": f"ns1.{ZONE}",
    "rname": f"hostmaster.{ZONE}",
    "serial": 1,
    "refresh": 3600,
    "retry": 900,
    "expire": 604800,
    "minimum": SOA_MINIMUM,
}


def host_of(i):
    return f"h{i}.{ZONE}"


def questions(names):
    """The distinct questions, each with its share of the query mix: 80% A
    of existing names, 10% AAAA of existing names (NODATA), 10% names that
    do not exist (NXDOMAIN)."""
    return (
        [(host_of(i), "A") for i in range(names)],
        [(host_of(i), "AAAA") for i in range(names)],
        [(f"nx{i}.{ZONE}", "A") for i in range(NX_NAMES)],
    )


def write_query_files(workdir, names, count, seed):
    """warmup.txt asks every distinct question once; queries.txt has count
    lines drawn from them with a fixed seed."""
    a, aaaa, nx = questions(names)
    warm = os.path.join(workdir, "warmup.txt")
    with open(warm, "w") as f:
        for q, t in a + aaaa + nx:
            f.write(f"{q} {t}\n")
    rng = random.Random(seed)
    path = os.path.join(workdir, "queries.txt")
    with open(path, "w") as f:
        for _ in range(count):
            r = rng.random()
            pool = a if r < 0.8 else aaaa if r < 0.9 else nx
            q, t = pool[rng.randrange(len(pool))]
            f.write(f"{q} {t}\n")
    return warm, path, len(a) + len(aaaa) + len(nx)


# --------------------------------------------------------------------------
# The upstream: NSD with the generated zone


def start_upstream(args, workdir):
    d = os.path.join(workdir, "nsd")
    os.makedirs(d)
    zonefile = os.path.join(d, f"{ZONE}.zone")
    s = SOA
    with open(zonefile, "w") as f:
        f.write(f"$ORIGIN {ZONE}.\n$TTL {TTL}\n")
        f.write(f"@ IN SOA {s['mname']}. {s['rname']}. ( {s['serial']} {s['refresh']} "
                f"{s['retry']} {s['expire']} {s['minimum']} )\n")
        f.write(f"@ IN NS ns1.{ZONE}.\nns1 IN A 10.255.255.1\n")
        for i in range(args.names):
            f.write(f"{host_of(i)}. IN A {b.ipv4_of(i)}\n")
    port = b.free_port()
    conf = os.path.join(d, "nsd.conf")
    # As bench.py's NSD, but minimal responses: the forwarders pass answers
    # on (NanoDNS as they are, unbound rebuilt minimal), so both send the
    # same records and the comparison is not about response size.
    with open(conf, "w") as f:
        f.write(f"""server:
    ip-address: 127.0.0.1@{port}
    do-ip6: no
    server-count: 1
    reuseport: no
    username: ""
    chroot: ""
    zonesdir: "{d}"
    database: ""
    zonelistfile: "{d}/zone.list"
    xfrdfile: "{d}/xfrd.state"
    xfrdir: "{d}"
    pidfile: "{d}/nsd.pid"
    logfile: "{d}/nsd.log"
    cookie-secret-file: "{d}/nsd_cookiesecrets.txt"
    verbosity: 0
    hide-version: yes
    minimal-responses: yes
    refuse-any: no
    zonefiles-check: no
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
    rrl-slip: 0
remote-control:
    control-enable: no
zone:
    name: "{ZONE}"
    zonefile: "{zonefile}"
""")
    chk = subprocess.run(["nsd-checkconf", conf], capture_output=True, text=True)
    if chk.returncode != 0:
        raise RuntimeError(f"nsd-checkconf: {chk.stdout}{chk.stderr}")
    # On the client's CPU: it works only during the warm-up.
    proc = b.spawn(["taskset", "-c", str(args.client_cpu), "nsd", "-d", "-c", conf],
                   os.path.join(d, "stdout"))
    wait_answer(port, proc, "nsd", host_of(0), "+norec")
    server = b.Server("NSD", port, proc, d)
    server.cpu_pids = b.tree_of(proc.pid)
    return server


# --------------------------------------------------------------------------
# The forwarders


def dig_rec(port, qname, qtype, *extra):
    argv = ["dig", "@127.0.0.1", "-p", str(port), "+time=1", "+tries=1"]
    argv += list(extra) + [qname, qtype]
    return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout


def wait_answer(port, proc, what, qname, *extra):
    deadline = time.monotonic() + b.READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode} before answering")
        if "status: NOERROR" in dig_rec(port, qname, "A", *extra):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer {qname} within {b.READY_TIMEOUT_S:.0f} s")


def start_nanodns(args, workdir, upstream_port, distinct):
    d = os.path.join(workdir, "nanodns")
    os.makedirs(os.path.join(d, "state"))
    cfg = os.path.join(d, "nanodns.json")
    mgmt = b.free_port()
    config = {
        "server": {
            "upstream": [f"127.0.0.1:{upstream_port}"],
            "upstream_timeout": 2,
            "cache_enabled": True,
            "cache_ttl": TTL,
            "cache_size": 2 * distinct,
            "mgmt_port": mgmt,
            "hot_reload": False,
            "log_queries": False,
        },
        "zones": {LOCAL_ZONE: {"soa": dict(SOA, mname=f"ns1.{LOCAL_ZONE}",
                                           rname=f"hostmaster.{LOCAL_ZONE}"),
                               "ns": [f"ns1.{LOCAL_ZONE}"]}},
        "records": [{"name": f"ns1.{LOCAL_ZONE}", "type": "A", "value": "10.255.255.2"}],
        "rewrites": [],
    }
    with open(cfg, "w") as f:
        json.dump(config, f, indent=1)
    port = b.free_port()
    argv = ["taskset", "-c", str(args.server_cpu), os.path.join(args.build_dir, "nanodns")]
    argv += ["start", "--config", cfg, "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--state-dir", os.path.join(d, "state")]
    proc = b.spawn(argv, os.path.join(d, "nanodns.log"))
    wait_answer(port, proc, "nanodns", f"ns1.{LOCAL_ZONE}")
    server = b.Server("NanoDNS", port, proc, d)
    server.mgmt_port = mgmt
    dp = None
    deadline = time.monotonic() + 5
    while dp is None and time.monotonic() < deadline:
        dp = b.find_dataplane(proc.pid)
        if dp is None:
            time.sleep(0.1)
    if dp is None:
        raise RuntimeError("nanodns answers, but no nanodns-dataplane child process was found")
    server.cpu_pids = [dp]
    server.answering = dp
    server.others = [p for p in b.tree_of(proc.pid) if p != dp]
    return server


def start_unbound(args, workdir, upstream_port):
    d = os.path.join(workdir, "unbound")
    os.makedirs(d)
    conf = os.path.join(d, "unbound.conf")
    port = b.free_port()
    # One thread, no DNSSEC validation (module-config: iterator), everything
    # in the work directory, no rate limits, a cache far larger than the
    # question set, TTLs kept as long as NanoDNS keeps them.
    with open(conf, "w") as f:
        f.write(f"""server:
    interface: 127.0.0.1@{port}
    port: {port}
    do-ip6: no
    do-tcp: yes
    num-threads: 1
    so-reuseport: no
    username: ""
    chroot: ""
    directory: "{d}"
    pidfile: "{d}/unbound.pid"
    logfile: ""
    use-syslog: no
    verbosity: 0
    module-config: "iterator"
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    msg-cache-size: 128m
    rrset-cache-size: 256m
    key-cache-size: 1m
    neg-cache-size: 1m
    cache-max-ttl: {TTL}
    cache-max-negative-ttl: {TTL}
    prefetch: no
    serve-expired: no
    qname-minimisation: no
    use-caps-for-id: no
    minimal-responses: yes
    rrset-roundrobin: no
    ratelimit: 0
    ip-ratelimit: 0
    unwanted-reply-threshold: 0
    hide-identity: yes
    hide-version: yes
remote-control:
    control-enable: no
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@{upstream_port}
""")
    chk = subprocess.run(["unbound-checkconf", conf], capture_output=True, text=True)
    if chk.returncode != 0:
        raise RuntimeError(f"unbound-checkconf: {chk.stdout}{chk.stderr}")
    argv = ["taskset", "-c", str(args.server_cpu), "unbound", "-d", "-c", conf]
    proc = b.spawn(argv, os.path.join(d, "stdout"))
    wait_answer(port, proc, "unbound", host_of(1))
    server = b.Server("unbound", port, proc, d)
    server.cpu_pids = b.tree_of(proc.pid)
    server.answering = proc.pid
    return server


# --------------------------------------------------------------------------
# Checks and measurement


def sample(names, seed):
    rng = random.Random(seed + 1)
    qs = [(host_of(0), "A"), (host_of(names - 1), "A"), (host_of(1), "AAAA"),
          (f"nx0.{ZONE}", "A"), (host_of(2).upper(), "A")]
    qs += [(host_of(rng.randrange(names)), "A") for _ in range(10)]
    return qs


def without_ttl(parsed):
    """parse_dig's answer section with the TTL column dropped."""
    rcode, answer = parsed[0], parsed[1]
    return rcode, sorted(" ".join(f for k, f in enumerate(line.split()) if k != 1)
                         for line in answer)


def compare(upstream, forwarders, queries):
    errors = []
    for q, t in queries:
        ref = without_ttl(b.parse_dig(dig_rec(upstream.port, q, t, "+norec")))
        for srv in forwarders:
            got = without_ttl(b.parse_dig(dig_rec(srv.port, q, t)))
            if got != ref:
                errors.append(f"  {q} {t}: upstream {ref}, {srv.name} {got}")
    return errors


def warm(args, server, warmfile, distinct):
    """Ask every distinct question once (twice over: the second pass shows
    whether the first filled the cache)."""
    for n in (1, 2):
        argv = ["taskset", "-c", str(args.client_cpu), "dnsperf", "-s", "127.0.0.1",
                "-p", str(server.port), "-d", warmfile, "-n", "1", "-c", "1", "-q", "50",
                "-t", "5"]
        res = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        perf = b.parse_dnsperf(res.stdout)
        if res.returncode != 0 or perf["completed"] < distinct:
            raise RuntimeError(f"{server.name} warm-up pass {n}: {perf['completed']} of "
                               f"{distinct} answered\n{res.stdout}{res.stderr}")
    server.notes.append(f"warmed with {distinct:,} distinct questions, twice")


def nanodns_cache_counters(server):
    with urllib.request.urlopen(f"http://127.0.0.1:{server.mgmt_port}/metrics", timeout=5) as r:
        return json.load(r).get("cache", {})


def print_table(nano_server, unbound_server, upstream_cpu_s, hit_line, answers_line):
    nano, unb = b.summary(nano_server), b.summary(unbound_server)
    runs = len((nano_server or unbound_server).runs)
    print()
    print(f"=== cache hits: forwarded names answered from the cache "
          f"(median of {runs} runs; counts summed) ===")
    rows = [
        ("QPS", lambda p: f"{p['qps']:,.0f}", lambda p: p["qps"]),
        ("forwarder CPU us/query", lambda p: f"{p['us_per_query']:.2f}",
         lambda p: p["us_per_query"]),
        ("  (min..max over runs)", lambda p: f"{p['us_range'][0]:.2f}..{p['us_range'][1]:.2f}",
         None),
        ("forwarder CPU use (1 core=100%)", lambda p: f"{100 * p['cpu_util']:.0f}%", None),
        ("dnsperf CPU use (1 core=100%)", lambda p: f"{100 * p['client_util']:.0f}%", None),
        ("other load on the machine", lambda p: f"{100 * p['foreign_load']:.0f}%", None),
        ("peak RSS answering (MiB)", lambda p: f"{p['rss']['answering'] / 1024:.1f}",
         lambda p: p["rss"]["answering"]),
        ("avg latency (ms)", lambda p: f"{p['latency_ms']:.3f}", lambda p: p["latency_ms"]),
        ("avg response size (bytes)", lambda p: f"{p['response_bytes']}",
         lambda p: p["response_bytes"]),
        ("queries sent", lambda p: f"{p['sent']:,}", None),
        ("queries lost", lambda p: f"{p['lost']:,}", None),
        ("kernel UDP rcvbuf drops", lambda p: f"{p['udp_drops']:,}", None),
    ]
    w0 = max(len(r[0]) for r in rows)
    print(f"{'':{w0}}  {'unbound':>13}  {'NanoDNS':>13}  {'NanoDNS/unbound':>15}")
    for label, fmt, val in rows:
        a = fmt(unb) if unb else "-"
        c = fmt(nano) if nano else "-"
        r = f"{val(nano) / val(unb):.2f}" if (unb and nano and val and val(unb)) else ""
        print(f"{label:{w0}}  {a:>13}  {c:>13}  {r:>15}")
    for srv, p in ((unbound_server, unb), (nano_server, nano)):
        if srv:
            print(f"{srv.name}: rcodes {p['rcodes']}")
            print(f"{srv.name}: {'; '.join(srv.notes)}")
            if p["lost"] > 0.001 * max(p["sent"], 1):
                print(f"WARNING: {srv.name} lost {p['lost']} of {p['sent']} queries")
    worst = max(p["foreign_load"] for p in (nano, unb) if p)
    if worst > 0.05:
        print(f"WARNING: other processes used {100 * worst:.0f}% of a core during the runs: "
              f"the figures are skewed (QPS most, CPU per query less)")
    print(f"upstream (NSD) CPU during all runs: {upstream_cpu_s:.2f} s "
          f"(~0: the runs were answered from the caches)")
    if nano:
        print(f"NanoDNS control plane CPU during a run (median): {nano['other_cpu_s']:.2f} s")
    if hit_line:
        print(hit_line)
    if answers_line:
        print(answers_line)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_build = os.path.normpath(os.path.join(here, "..", "..", "build"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build_dir", nargs="?", default=default_build,
                    help="build directory with nanodns and nanodns-dataplane (default: %(default)s)")
    ap.add_argument("--names", type=int, default=10000,
                    help="names in the upstream zone (default: %(default)s)")
    ap.add_argument("--seconds", type=int, default=15, help="dnsperf -l per run (default: %(default)s)")
    ap.add_argument("--runs", type=int, default=3,
                    help="dnsperf runs per forwarder, interleaved (default: %(default)s)")
    ap.add_argument("--clients", type=int, default=4, help="dnsperf -c (default: %(default)s)")
    ap.add_argument("--outstanding", type=int, default=200, help="dnsperf -q (default: %(default)s)")
    ap.add_argument("--queries", type=int, default=200000,
                    help="lines in the query file (default: %(default)s)")
    ap.add_argument("--edns", action="store_true", help="send queries with EDNS0 (dnsperf -e)")
    ap.add_argument("--server-cpu", type=int, default=1,
                    help="CPU for the forwarders (default: %(default)s)")
    ap.add_argument("--client-cpu", type=int, default=0,
                    help="CPU for dnsperf and the upstream (default: %(default)s)")
    ap.add_argument("--only", choices=("nanodns", "unbound"), help="benchmark one forwarder only")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--seed", type=int, default=1, help="random seed for the query file")
    # bench.measure and run_dnsperf read these options of bench.py's: one
    # dnsperf thread, no kernel counts.
    ap.set_defaults(kernel=False, workers=1)
    args = ap.parse_args()

    for tool in ("dnsperf", "nsd", "nsd-checkconf", "unbound", "unbound-checkconf", "dig",
                 "taskset"):
        if not shutil.which(tool):
            sys.exit(f"missing {tool}: apt-get install -y dnsperf nsd unbound bind9-dnsutils "
                     f"util-linux")
    run_nano = args.only != "unbound"
    run_unbound = args.only != "nanodns"
    if run_nano:
        for exe in ("nanodns", "nanodns-dataplane"):
            if not os.access(os.path.join(args.build_dir, exe), os.X_OK):
                sys.exit(f"{args.build_dir}/{exe} not found (build first, or use --only unbound)")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(1))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(1))
    busy = b.busy_elsewhere()
    if busy:
        print("WARNING: the machine is not idle, figures will be skewed: " + ", ".join(busy))
    workdir = tempfile.mkdtemp(prefix="nanodns-cachebench-")
    status = 0
    print(f"cache-hit benchmark: {args.names:,} names; dnsperf -l {args.seconds} -c {args.clients} "
          f"-q {args.outstanding}{' -e' if args.edns else ''} on cpu {args.client_cpu}; "
          f"forwarders on cpu {args.server_cpu}; {args.runs} runs each; work dir {workdir}",
          flush=True)
    servers = []
    try:
        warmfile, queryfile, distinct = write_query_files(workdir, args.names, args.queries,
                                                          args.seed)
        upstream = start_upstream(args, workdir)
        nano = unb = None
        if run_nano:
            nano = start_nanodns(args, workdir, upstream.port, distinct)
            servers.append(nano)
        if run_unbound:
            unb = start_unbound(args, workdir, upstream.port)
            servers.append(unb)
        errors = compare(upstream, servers, sample(args.names, args.seed))
        if errors:
            status = 1
            answers_line = "ANSWERS DIFFER from the upstream's (rcode or answer section):\n" + \
                "\n".join(errors)
        else:
            answers_line = ("answers: rcode and answer section (TTLs aside) identical to the "
                            "upstream's for all sample queries, from every forwarder")
        print(answers_line, flush=True)
        for srv in servers:
            warm(args, srv, warmfile, distinct)
        upstream_ticks = sum(b.cpu_ticks(p) for p in upstream.cpu_pids)
        counters0 = nanodns_cache_counters(nano) if nano else None
        # Interleaved, order alternating, as bench.py: drift hits both alike.
        for r in range(args.runs):
            for srv in servers if r % 2 == 0 else reversed(servers):
                b.measure(args, srv, queryfile)
        upstream_cpu_s = (sum(b.cpu_ticks(p) for p in upstream.cpu_pids) - upstream_ticks) \
            / b.CLK_TCK
        hit_line = None
        if nano:
            c1 = nanodns_cache_counters(nano)
            hits = c1.get("hits", 0) - counters0.get("hits", 0)
            misses = c1.get("misses", 0) - counters0.get("misses", 0)
            hit_line = (f"NanoDNS cache during the runs (/metrics): {hits:,} hits, {misses:,} "
                        f"misses, {c1.get('size', 0):,} entries, "
                        f"{c1.get('evictions', 0):,} evictions")
        for srv in servers:
            b.finish(srv)
        print_table(nano, unb, upstream_cpu_s, hit_line, answers_line)
    except (RuntimeError, subprocess.TimeoutExpired, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        args.keep = True
        status = 2
    finally:
        b.stop_all()
        if args.keep:
            print(f"work dir kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
