"""Queries at a fixed rate from a separate process, for tests that must see
every query answered while something changes (reloads, restarts).

Load.start() runs dnsperf when it is installed, else this file as a small
client with the same contract: send QPS queries a second over UDP for
SECONDS, wait for each answer (2 s at most), then report how many were sent,
how many lost and the answers' rcodes. Both run in their own process, so a
stall in the test process cannot slow the load down or hide a loss.

Run as a program: loadgen.py HOST PORT QPS SECONDS QUERYFILE [CLIENTS];
QUERYFILE has dnsperf's format ("name TYPE" per line); CLIENTS sockets
(source ports) take turns sending, as dnsperf's -c. It prints "sending" once it starts
and one JSON line with the results at the end."""

import json
import os
import re
import select
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

ANSWER_TIMEOUT = 2.0  # seconds after which a query counts as lost
DNSPERF = shutil.which("dnsperf")
STDBUF = shutil.which("stdbuf")


# -- the client ------------------------------------------------------------------


def _query_wire(name, rdtype):
    qtype = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28}[rdtype]
    wire = b""
    for label in name.rstrip(".").split("."):
        wire += bytes([len(label)]) + label.encode()
    # ID (filled in per query), RD=1, one question
    return struct.pack("!HHHHHH", 0, 0x0100, 1, 0, 0, 0) + wire + b"\x00" + struct.pack(
        "!HH", qtype, 1
    )


RCODE_NAMES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def client(host, port, qps, seconds, queryfile, clients=1):
    with open(queryfile) as f:
        templates = [_query_wire(*line.split()) for line in f if line.strip()]
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    socks = []
    for _ in range(max(1, clients)):
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.connect((host, port))
        sock.setblocking(False)
        socks.append(sock)

    outstanding = {}  # query ID -> (time sent, template index)
    rcodes = {}
    sent = lost = mismatched = 0
    interval = 1.0 / qps
    qid = 0
    print("sending", flush=True)
    start = time.monotonic()
    end = start + seconds
    next_send = start
    while True:
        now = time.monotonic()
        if now < end:
            while next_send <= now:
                qid = (qid + 1) & 0xFFFF
                if qid in outstanding:  # only after 65536 queries in 2 s: far beyond qps
                    break
                index = sent % len(templates)
                try:
                    socks[sent % len(socks)].send(struct.pack("!H", qid) + templates[index][2:])
                except BlockingIOError:
                    break  # the send buffer is full: try again on the next turn
                except ConnectionRefusedError:
                    pass  # an earlier query met a closed port: this one is sent, and lost
                outstanding[qid] = (now, index)
                sent += 1
                next_send += interval
        elif not outstanding:
            break
        # Queries past their time are lost, as dnsperf counts them.
        for key in [k for k, (t, _) in outstanding.items() if now - t > ANSWER_TIMEOUT]:
            del outstanding[key]
            lost += 1
        if now >= end and not outstanding:
            break
        wait = max(0.0, min(next_send - now, 0.01)) if now < end else 0.05
        readable, _, _ = select.select(socks, [], [], wait)
        if not readable:
            continue
        for data in _received(readable):
            if len(data) < 12:
                continue
            rid, flags = struct.unpack("!HH", data[:4])
            entry = outstanding.pop(rid, None)
            if entry is None:
                continue  # an answer after its query was counted lost
            # The question must be the one asked (a mixed-up answer is no answer).
            question = templates[entry[1]][12:]
            if data[12 : 12 + len(question)].lower() != question.lower():
                mismatched += 1
            name = RCODE_NAMES.get(flags & 0xF, str(flags & 0xF))
            rcodes[name] = rcodes.get(name, 0) + 1
    print(
        json.dumps(
            {"sent": sent, "lost": lost, "mismatched": mismatched, "rcodes": rcodes,
             "seconds": time.monotonic() - start}
        ),
        flush=True,
    )


def _received(socks):
    for sock in socks:
        while True:
            try:
                yield sock.recv(65535)
            except BlockingIOError:
                break
            except ConnectionRefusedError:
                continue  # ICMP port unreachable: nobody answers, the query stays lost


# -- the test side -----------------------------------------------------------------


def _parse_dnsperf(text):
    def number(label):
        m = re.search(r"^\s*%s:\s+(\d+)" % re.escape(label), text, re.M)
        assert m, "no %r in dnsperf's output:\n%s" % (label, text)
        return int(m.group(1))

    rcodes = {}
    m = re.search(r"^\s*Response codes:\s+(.*)$", text, re.M)
    if m:
        for name, count in re.findall(r"([A-Z0-9]+) (\d+) \(", m.group(1)):
            rcodes[name] = int(count)
    return {
        "sent": number("Queries sent"),
        "lost": number("Queries lost"),
        "mismatched": 0,  # dnsperf matches answers to questions itself
        "rcodes": rcodes,
    }


class Load:
    """One load generator process. start() returns once it is sending;
    result() waits for its end and returns {"sent", "lost", "mismatched",
    "rcodes": {"NOERROR": n, ...}, "tool"}."""

    def __init__(self, host, port, queries, directory, qps=2000, seconds=6.0, tool=None,
                 clients=1):
        self.queryfile = os.path.join(str(directory), "queries.txt")
        with open(self.queryfile, "w") as f:
            for name, rdtype in queries:
                f.write("%s %s\n" % (name, rdtype))
        if tool is None:
            tool = "dnsperf" if DNSPERF and not os.environ.get("NANODNS_TEST_NO_DNSPERF") else "python"
        self.tool = tool
        self.seconds = seconds
        if tool == "dnsperf":
            args = [DNSPERF, "-s", host, "-p", str(port), "-d", self.queryfile,
                    "-l", str(seconds), "-Q", str(qps), "-t", str(ANSWER_TIMEOUT),
                    "-c", str(clients)]
            # Its status lines as they come, not all at the end: "Sending
            # queries" is how we know the load is on.
            if STDBUF:
                args = [STDBUF, "-oL"] + args
            ready = "Sending queries" if STDBUF else None  # None: on as soon as it runs
        else:
            args = ["/usr/bin/python3", os.path.abspath(__file__), host, str(port), str(qps),
                    str(seconds), self.queryfile, str(clients)]
            ready = "sending"
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True,
        )
        self._ready_text = ready
        self._lines = []
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if ready is None:
            self._ready.set()

    def _read(self):
        for line in self.proc.stdout:
            self._lines.append(line)
            if self._ready_text is not None and self._ready_text in line:
                self._ready.set()
        self._ready.set()

    def wait_sending(self, timeout=10.0):
        """True once the generator is sending (False if it failed to start)."""
        return self._ready.wait(timeout) and self.proc.poll() is None

    def result(self):
        try:
            self.proc.wait(timeout=self.seconds + ANSWER_TIMEOUT + 10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)
        text = "".join(self._lines)
        assert self.proc.returncode == 0, "%s exited %s:\n%s" % (self.tool, self.proc.returncode, text)
        if self.tool == "dnsperf":
            out = _parse_dnsperf(text)
        else:
            out = json.loads(text.strip().splitlines()[-1])
        out["tool"] = self.tool
        out["output"] = text
        return out

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


if __name__ == "__main__":
    client(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5],
           int(sys.argv[6]) if len(sys.argv) > 6 else 1)
