"""A fake upstream DNS server for the forwarding tests: the test starts it,
tells it how to behave per name, and reads back every query it received.

It serves UDP and TCP on one loopback address and port, in threads of the
test process (dnspython builds the answers). Names it holds records for are
answered from a small zone dict; other names get NXDOMAIN with an SOA.
A CNAME answers for every type, as an authoritative server answers (its
target is not followed). Per-name behaviours (Behaviour): answer late, never answer, truncate over UDP,
send a spoofed answer (wrong ID, wrong question, wrong source port) before
or instead of the right one, or answer with a given rcode.

Nothing here talks to anything but the sockets it binds and the peers that
query it; every wait is bounded."""

import socket
import struct
import threading
import time

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

WAIT_TIMEOUT = 5.0  # seconds, for wait_queries()


class Query:
    """One query as the fake received it."""

    def __init__(self, message, transport, peer, wire):
        question = message.question[0] if message.question else None
        self.qname = question.name.to_text() if question is not None else ""  # case as sent
        self.qtype = dns.rdatatype.to_text(question.rdtype) if question is not None else ""
        self.transport = transport  # "udp" or "tcp"
        self.id = message.id
        self.source = peer  # (address, port)
        self.port = peer[1]
        self.flags = message.flags
        self.edns = message.edns  # -1 without OPT
        self.payload = message.payload if message.edns >= 0 else None
        self.time = time.monotonic()
        self.wire = wire

    def __repr__(self):
        return "<%s %s %s id=%d from %s:%d>" % (
            self.transport, self.qname, self.qtype, self.id, self.source[0], self.port)


class Behaviour:
    """How the fake treats queries for one name (or, with a "*." key, every
    name below it).

    delay_ms        answer this late (each query on its own timer)
    drop            never answer
    truncate        over UDP: TC=1 and no records; over TCP: the full answer
    wrong_id        first send the answer with another ID
    wrong_question  first send an answer (this ID) for another name
    wrong_port      first send the answer from another source port
    then_right      after a spoofed answer, also send the right one (default)
    rcode           answer with this rcode ("SERVFAIL", "NXDOMAIN", "REFUSED")
                    and no records (NXDOMAIN: an SOA in authority)
    soa_minimum     the SOA minimum (and SOA TTL) of negative answers
    """

    def __init__(self, delay_ms=0, drop=False, truncate=False, wrong_id=False,
                 wrong_question=False, wrong_port=False, then_right=True, rcode=None,
                 soa_minimum=60):
        self.delay_ms = delay_ms
        self.drop = drop
        self.truncate = truncate
        self.wrong_id = wrong_id
        self.wrong_question = wrong_question
        self.wrong_port = wrong_port
        self.then_right = then_right
        self.rcode = dns.rcode.from_text(rcode) if isinstance(rcode, str) else rcode
        self.soa_minimum = soa_minimum


SPOOF_ADDRESS = "6.6.6.6"  # what every spoofed answer says
SPOOF_NAME = "spoofed.invalid."


def _key(name):
    return dns.name.from_text(name).to_text().lower()


class FakeUpstream:
    """One fake server. Use as a context manager, or start() / stop()."""

    def __init__(self, host="127.0.0.1", port=0):
        self.host = host
        self.family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._requested_port = port
        self.port = None
        self.queries = []
        self._zone = {}  # (name lowercase, type) -> (ttl, [rdata text])
        self._names = set()  # names that exist (any type)
        self._behaviours = {}
        self.default = Behaviour()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._threads = []
        self._timers = []

    # -- setup --------------------------------------------------------------

    @property
    def address(self):
        """As NanoDNS's "upstream" wants it: "IP:port" or "[IPv6]:port"."""
        if self.family == socket.AF_INET6:
            return "[%s]:%d" % (self.host, self.port)
        return "%s:%d" % (self.host, self.port)

    def add(self, name, rdtype, values, ttl=300):
        """Records name/rdtype with these rdata texts and TTL."""
        key = _key(name)
        if isinstance(values, str):
            values = [values]
        with self._cond:
            self._zone[(key, rdtype.upper())] = (ttl, list(values))
            self._names.add(key)
        return self

    def behave(self, name, **kwargs):
        """Set the Behaviour for name ("*.suffix" for every name below suffix)."""
        if name.startswith("*."):
            key = "*." + _key(name[2:])
        else:
            key = _key(name)
        with self._cond:
            self._behaviours[key] = Behaviour(**kwargs)
        return self

    def _behaviour(self, qname):
        key = qname.to_text().lower()
        with self._cond:
            if key in self._behaviours:
                return self._behaviours[key]
            name = qname
            while len(name) > 1:
                name = name.parent()
                wild = "*." + name.to_text().lower()
                if wild in self._behaviours:
                    return self._behaviours[wild]
            return self.default

    # -- lifecycle ----------------------------------------------------------

    def start(self):
        for _ in range(50):
            udp = socket.socket(self.family, socket.SOCK_DGRAM)
            udp.bind((self.host, self._requested_port))
            port = udp.getsockname()[1]
            tcp = socket.socket(self.family, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind((self.host, port))
            except OSError:
                udp.close()
                tcp.close()
                if self._requested_port:
                    raise
                continue
            break
        else:
            raise RuntimeError("no free UDP+TCP port on " + self.host)
        tcp.listen(64)
        self.port = port
        self._udp = udp
        self._tcp = tcp
        # Spoofed answers "from another port" leave from this socket.
        self._other = socket.socket(self.family, socket.SOCK_DGRAM)
        self._other.bind((self.host, 0))
        self._send_lock = threading.Lock()
        for target in (self._serve_udp, self._serve_tcp):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self):
        self._stop.set()
        with self._cond:
            timers = list(self._timers)
        for t in timers:
            t.cancel()
        for t in self._threads:
            t.join(timeout=2)
        for s in (self._udp, self._tcp, self._other):
            s.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- what it received ---------------------------------------------------

    def received(self, name=None, qtype=None, transport=None):
        """The queries received so far (for name, case-insensitively)."""
        want = _key(name) if name is not None else None
        with self._cond:
            return [
                q for q in self.queries
                if (want is None or q.qname.lower() == want)
                and (qtype is None or q.qtype == qtype)
                and (transport is None or q.transport == transport)
            ]

    def count(self, name=None, qtype=None, transport=None):
        return len(self.received(name, qtype, transport))

    def wait_queries(self, name=None, count=1, timeout=WAIT_TIMEOUT, qtype=None, transport=None):
        """Wait until count queries (for name) were received; the list of them
        (possibly shorter at timeout)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = self.received(name, qtype, transport)  # the lock is re-entrant
                if len(got) >= count:
                    return got
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return got
                self._cond.wait(remaining)

    def clear(self):
        with self._cond:
            self.queries.clear()

    def _record(self, query):
        with self._cond:
            self.queries.append(query)
            self._cond.notify_all()

    # -- answering ----------------------------------------------------------

    def _answer(self, query):
        """The right answer to a parsed query, per the zone and behaviour."""
        response = dns.message.make_response(query, recursion_available=True)
        response.flags |= dns.flags.AA
        question = query.question[0]
        behaviour = self._behaviour(question.name)
        key = question.name.to_text().lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        if behaviour.rcode is not None:
            response.set_rcode(behaviour.rcode)
            if behaviour.rcode == dns.rcode.NXDOMAIN:
                response.authority.append(self._soa(question.name, behaviour.soa_minimum))
            return response
        with self._cond:
            found = self._zone.get((key, rdtype))
            exists = key in self._names
            if found is None and rdtype != "CNAME":
                # RFC 1034 §4.3.2: the alias is the answer for every type
                # (an authoritative server's, not followed further)
                cname = self._zone.get((key, "CNAME"))
                if cname is not None:
                    found, rdtype = cname, "CNAME"
        if found is not None:
            ttl, values = found
            rrset = dns.rrset.from_text_list(question.name, ttl, "IN", rdtype, values)
            response.answer.append(rrset)
        elif exists:
            response.authority.append(self._soa(question.name, behaviour.soa_minimum))
        else:
            response.set_rcode(dns.rcode.NXDOMAIN)
            response.authority.append(self._soa(question.name, behaviour.soa_minimum))
        return response

    @staticmethod
    def _soa(qname, minimum):
        owner = qname.parent() if len(qname) > 2 else qname
        text = "ns.%s hostmaster.%s 1 3600 900 604800 %d" % (
            owner.to_text(), owner.to_text(), minimum)
        return dns.rrset.from_text(owner, minimum, "IN", "SOA", text)

    @staticmethod
    def _spoof_rrset(name):
        return dns.rrset.from_text(name, 300, "IN", "A", SPOOF_ADDRESS)

    def _messages(self, query, transport):
        """(wire, from_other_port) to send for query over transport, in order."""
        behaviour = self._behaviour(query.question[0].name)
        if behaviour.drop:
            return behaviour, []
        right = self._answer(query)
        out = []
        if transport == "udp" and behaviour.truncate:
            right = dns.message.make_response(query, recursion_available=True)
            right.flags |= dns.flags.AA | dns.flags.TC
        if behaviour.wrong_id or behaviour.wrong_question or behaviour.wrong_port:
            if behaviour.wrong_id:
                spoof = dns.message.make_response(query, recursion_available=True)
                spoof.id = (query.id + 0x5A5A) & 0xFFFF or 1
                spoof.answer.append(self._spoof_rrset(query.question[0].name))
                out.append((spoof.to_wire(), False))
            if behaviour.wrong_question:
                other = dns.message.make_query(SPOOF_NAME, query.question[0].rdtype)
                other.id = query.id
                spoof = dns.message.make_response(other, recursion_available=True)
                spoof.answer.append(self._spoof_rrset(SPOOF_NAME))
                out.append((spoof.to_wire(), False))
            if behaviour.wrong_port and transport == "udp":
                spoof = dns.message.make_response(query, recursion_available=True)
                spoof.answer.append(self._spoof_rrset(query.question[0].name))
                out.append((spoof.to_wire(), True))
            if not behaviour.then_right:
                return behaviour, out
        out.append((self._wire(right, query, transport), False))
        return behaviour, out

    @staticmethod
    def _wire(response, query, transport):
        """response in wire form; over UDP, cut to TC=1 and the question when
        it exceeds what the query offered (512 without EDNS), as a server does."""
        if transport == "tcp":
            return response.to_wire(max_size=65535)
        try:
            return response.to_wire()
        except dns.exception.TooBig:
            cut = dns.message.make_response(query, recursion_available=True)
            cut.flags |= dns.flags.AA | dns.flags.TC
            return cut.to_wire()

    def _later(self, delay_ms, fn):
        if delay_ms <= 0:
            fn()
            return
        timer = threading.Timer(delay_ms / 1000.0, fn)
        timer.daemon = True
        with self._cond:
            self._timers.append(timer)
        timer.start()

    # -- UDP ----------------------------------------------------------------

    def _serve_udp(self):
        self._udp.settimeout(0.1)
        while not self._stop.is_set():
            try:
                wire, peer = self._udp.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                query = dns.message.from_wire(wire)
            except Exception:
                continue  # not a DNS message: nothing to record or answer
            self._record(Query(query, "udp", peer, wire))
            if not query.question:
                continue
            behaviour, messages = self._messages(query, "udp")

            def send(messages=messages, peer=peer):
                for data, other in messages:
                    sock = self._other if other else self._udp
                    try:
                        with self._send_lock:
                            sock.sendto(data, peer)
                    except OSError:
                        pass

            self._later(behaviour.delay_ms, send)

    # -- TCP ----------------------------------------------------------------

    def _serve_tcp(self):
        self._tcp.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, peer = self._tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._serve_connection, args=(conn, peer), daemon=True)
            t.start()

    def _serve_connection(self, conn, peer):
        conn.settimeout(0.1)
        lock = threading.Lock()
        buf = b""
        with conn:
            while not self._stop.is_set():
                try:
                    chunk = conn.recv(65535)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                while len(buf) >= 2:
                    (length,) = struct.unpack("!H", buf[:2])
                    if len(buf) < 2 + length:
                        break
                    wire, buf = buf[2 : 2 + length], buf[2 + length :]
                    try:
                        query = dns.message.from_wire(wire)
                    except Exception:
                        continue
                    self._record(Query(query, "tcp", peer, wire))
                    if not query.question:
                        continue
                    behaviour, messages = self._messages(query, "tcp")

                    def send(messages=messages):
                        for data, other in messages:
                            if other:
                                continue
                            try:
                                with lock:
                                    conn.sendall(struct.pack("!H", len(data)) + data)
                            except OSError:
                                pass

                    self._later(behaviour.delay_ms, send)
