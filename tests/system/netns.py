"""Two hosts for the system tests: network namespaces the test creates,
joined by a veth pair, so that a node sees a client from another address
than loopback. Tests touch only loopback and namespaces they made, never
this machine's own interfaces: nothing here changes the namespace the
tests run in (the veth pair is made inside the new namespaces).

    with netns.HostPair() as hosts:
        argv = hosts.server.command(["curl", ...])   # run on the server host

Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN); without it, or where
`ip netns add` is not permitted, the test skips. Both namespaces are
deleted when the block ends, however it ends."""

import itertools
import os
import shutil
import subprocess
import time

import pytest

IP_TIMEOUT = 10.0  # seconds for one `ip` command
LINK_UP_TIMEOUT = 5.0  # seconds for both ends of the veth pair to come up

_pairs = itertools.count()


class Namespace:
    """One host: a network namespace with lo up and one end of the veth pair."""

    def __init__(self, name, interface, address):
        self.name = name
        self.interface = interface
        self.address = address  # this host's IPv4 address on the link

    def command(self, argv):
        """argv run in this namespace (`ip netns exec` execs it: the pid is argv's)."""
        return ["ip", "netns", "exec", self.name] + list(argv)

    def ip(self, *args):
        """`ip -n NAME args`; its stdout (RuntimeError with ip's message on failure)."""
        return run_ip("-n", self.name, *args)

    def link_up(self):
        """True once the interface is up and has a carrier (its peer is up)."""
        return "state UP" in self.ip("-o", "link", "show", "dev", self.interface)


def run_ip(*args):
    proc = subprocess.run(["ip"] + list(args), capture_output=True, text=True,
                          timeout=IP_TIMEOUT)
    if proc.returncode != 0:
        raise RuntimeError("ip %s: exit %d: %s" % (" ".join(args), proc.returncode,
                                                   proc.stderr.strip()))
    return proc.stdout


def not_permitted(message):
    return "Permission denied" in message or "Operation not permitted" in message


class HostPair:
    """Two namespaces, ndns-PID-N-srv and ndns-PID-N-cli, linked by a veth
    pair on 10.254.X.0/30: the server host is .1, the client host .2, X
    from N (each pair of a run has its own subnet, which keeps the logs of
    one test apart from another's; the addresses never leave the
    namespaces, so another run using the same X does not matter)."""

    def __init__(self):
        n = next(_pairs)
        prefix = "ndns-%d-%d" % (os.getpid(), n)
        subnet = "10.254.%d" % (n % 254 + 1)
        self.server = Namespace(prefix + "-srv", "veth-srv", subnet + ".1")
        self.client = Namespace(prefix + "-cli", "veth-cli", subnet + ".2")
        self.prefix_length = 30
        self._created = []

    def __enter__(self):
        if os.geteuid() != 0:
            pytest.skip("network namespaces for \"another host\" need root (CI runs as root)")
        if shutil.which("ip") is None:
            pytest.skip("`ip` (iproute2) is not installed: no network namespaces")
        try:
            self._create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind, value, traceback):
        problems = self.close()
        if problems and kind is None:
            raise RuntimeError("; ".join(problems))
        return False

    def _create(self):
        for host in (self.server, self.client):
            try:
                run_ip("netns", "add", host.name)
            except RuntimeError as e:
                if not_permitted(str(e)):
                    pytest.skip("cannot create a network namespace here: %s" % e)
                raise
            self._created.append(host.name)
        # Made inside the server namespace with its peer end placed straight
        # into the client's: no interface ever appears in ours.
        self.server.ip("link", "add", self.server.interface, "type", "veth",
                       "peer", "name", self.client.interface, "netns", self.client.name)
        for host in (self.server, self.client):
            host.ip("addr", "add", "%s/%d" % (host.address, self.prefix_length),
                    "dev", host.interface)
            host.ip("link", "set", "lo", "up")
            host.ip("link", "set", host.interface, "up")
        # IPv4 has no duplicate address detection: the link is usable once
        # both ends report a carrier (the kernel says so a moment after).
        deadline = time.monotonic() + LINK_UP_TIMEOUT
        while not (self.server.link_up() and self.client.link_up()):
            if time.monotonic() > deadline:
                raise RuntimeError("the veth pair between %s and %s is not up after %ss"
                                   % (self.server.name, self.client.name, LINK_UP_TIMEOUT))
            time.sleep(0.02)  # polling `ip link`: there is no event to wait on here

    def close(self):
        """Delete the namespaces made (the veth pair goes with them); the
        problems met, as a list of messages."""
        problems = []
        while self._created:
            name = self._created.pop()
            try:
                run_ip("netns", "del", name)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                problems.append(str(e))
        return problems
