"""nanoctl's HTTP client against answers shaped to hit its buffer edges,
run under valgrind (issue 12, finding 11: an answer that fills the first
8,192-octet read buffer exactly was scanned past its end)."""

import os
import shutil
import socket
import subprocess
import threading

import pytest

import harness

NANOCTL = os.path.join(harness.BUILD_DIR, "nanoctl")
VALGRIND = shutil.which("valgrind")
VALGRIND_ERROR = 99
FIRST_READ = 8192  # http_client.c's READ_CHUNK


class CannedServer:
    """Answers every connection on a loopback port with the same octets,
    then closes it."""

    def __init__(self, answer):
        self.answer = answer
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.sock.getsockname()[1]

    def serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            with conn:
                conn.settimeout(5)
                try:
                    conn.recv(4096)  # the request; its content does not matter
                    conn.sendall(self.answer)
                except OSError:
                    pass

    def close(self):
        self.stopping = True
        self.thread.join(timeout=5)
        self.sock.close()


def exact_answer(total):
    """An HTTP answer of exactly total octets, none of them NUL."""
    head_template = "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    length = total - len(head_template % 0)
    while len(head_template % length) + length != total:
        length -= 1
    body = b'{"status":"ok"}'
    body += b" " * (length - len(body))
    answer = (head_template % length).encode() + body
    assert len(answer) == total and b"\0" not in answer
    return answer


@pytest.mark.skipif(VALGRIND is None, reason="valgrind is not installed")
@pytest.mark.skipif(not os.access(NANOCTL, os.X_OK) or b"__asan_init" in open(NANOCTL, "rb").read(),
                    reason="valgrind cannot run a sanitizer build (its own checks cover this)")
@pytest.mark.parametrize("total", [FIRST_READ, 2 * FIRST_READ])
def test_answer_filling_the_read_buffer_exactly_is_not_read_past(total):
    server = CannedServer(exact_answer(total))
    try:
        proc = subprocess.run(
            [VALGRIND, "-q", "--error-exitcode=%d" % VALGRIND_ERROR, NANOCTL,
             "-s", server.address, "--timeout", "5", "status", "--json"],
            capture_output=True, text=True, timeout=60,
            env=dict(os.environ, NANOCTL_SOCKET="/nonexistent/nanoctl-tests/control.sock"))
    finally:
        server.close()
    assert proc.returncode != VALGRIND_ERROR, proc.stderr
    assert "Invalid read" not in proc.stderr, proc.stderr
