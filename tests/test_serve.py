"""``wasmloom serve`` as a production server: strict framing, the guest's view of a
request, timeouts, the connection cap at the open-file limit, workers.

The server runs as a subprocess (``python -m wasmloom serve``) on 127.0.0.1,
port 0, serving the componentize-py service of tests/serve_guest.py; the
tests speak raw HTTP/1.1 over sockets, so that malformed input reaches it
exactly as written.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cpy_build import componentize_py
from serve_guest import guest

pytestmark = componentize_py
TIMEOUT = 60.0


class Server:
    """A ``wasmloom serve`` subprocess; its stderr lines are collected as they come."""

    def __init__(self, app: Path, *flags: str, preexec: Callable[[], None] | None = None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wasmloom", "serve", "--addr", "127.0.0.1:0", *flags, str(app)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=preexec,
        )
        assert self.proc.stderr is not None
        first = self.proc.stderr.readline().decode()
        assert first.startswith("Serving HTTP on http://127.0.0.1:"), first
        self.port = int(first.rsplit(":", 1)[1].strip().rstrip("/"))
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.decode("utf-8", "replace"))

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)

    def exchange(self, data: bytes, half_close: bool = False) -> bytes:
        """Send ``data``; everything the server sends until it closes the connection."""
        with self.connect() as s:
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
            return read_all(s)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=TIMEOUT)
        self.reader.join(TIMEOUT)
        return code


def read_all(s: socket.socket) -> bytes:
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    return out


@pytest.fixture(scope="module")
def app() -> Path:
    return guest()


@pytest.fixture(scope="module")
def server(app: Path) -> Iterator[Server]:
    s = Server(app, "--header-timeout", "1", "--keep-alive-timeout", "2")
    yield s
    assert s.stop() == 0


def test_an_invalid_chunk_size_is_400(server: Server) -> None:
    out = server.exchange(
        b"POST /read HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nZZZ\r\nabc\r\n0\r\n\r\n"
    )
    assert out.startswith(b"HTTP/1.1 400 "), out


@pytest.mark.parametrize("size", [1 << 20, 16 << 20])
def test_oversized_headers_are_431(server: Server, size: int) -> None:
    with server.connect() as s:
        s.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nx-big: ")
        try:
            s.sendall(b"a" * size + b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before reading it all
        out = read_all(s)
    assert out.startswith(b"HTTP/1.1 431 "), out[:100]


def test_a_header_field_that_never_ends_is_431_once_past_the_limit(server: Server) -> None:
    """The head is refused by the bytes received, not when its field is complete (the
    parser builds a field by concatenation: waiting for its end costs quadratic time)."""
    with server.connect() as s:
        s.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nx-big: ")
        try:
            for _ in range(64):  # 4 MiB in all, the field never ended
                s.sendall(b"a" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before reading it all
        out = read_all(s)
    assert out.startswith(b"HTTP/1.1 431 "), out[:100]


@pytest.mark.parametrize(
    "request_",
    [
        b"POST /read HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nabc",
        b"POST /read HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n10\r\nabc",
    ],
    ids=["content-length", "chunked"],
)
def test_a_truncated_body_ends_the_guests_stream_with_an_error(
    server: Server, request_: bytes
) -> None:
    out = server.exchange(request_, half_close=True)
    assert out.startswith(b"HTTP/1.1 200 "), out
    assert b"error ConnectionTerminated" in out, out


def test_a_complete_body_and_its_trailers_reach_the_guest(server: Server) -> None:
    out = server.exchange(
        b"POST /read HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\nx-t: 1\r\n\r\n"
    )
    assert out.startswith(b"HTTP/1.1 200 ") and b"ok 5" in out, out


def test_host_is_the_authority_and_hop_by_hop_fields_stay_out(server: Server) -> None:
    out = server.exchange(
        b"GET /fields HTTP/1.1\r\nHost: example.com:81\r\nConnection: close\r\n"
        b"Keep-Alive: timeout=5\r\nProxy-Connection: x\r\nX-A: 1\r\n\r\n"
    )
    head = out.split(b"\r\n\r\n", 1)[0].lower()
    assert b"\r\nx-authority: example.com:81\r\n" in head, head
    assert b"\r\nx-names: x-a\r\n" in head, head


def test_trailers_and_pipelined_requests(server: Server) -> None:
    out = server.exchange(
        b"GET /trailers HTTP/1.1\r\nhost: x\r\n\r\nGET /echo HTTP/1.1\r\nhost: x\r\n"
        b"content-length: 4\r\nconnection: close\r\n\r\nping"
    )
    first, _, second = out.partition(b"0\r\nx-t: 1\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200 ") and b"5\r\nhello\r\n" in first, out
    assert second.startswith(b"HTTP/1.1 200 ") and second.endswith(b"ping\r\n0\r\n\r\n"), out


def test_a_service_that_waits_for_its_body_then_a_pipelined_request(server: Server) -> None:
    """The first request's service starts as its head arrives and waits for the body (it
    is carried on past its first step); the request pipelined behind the body is served
    after it, on the same connection."""
    with server.connect() as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\n\r\n")
        time.sleep(0.3)
        s.sendall(b"pingGET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        out = read_all(s)
    first, _, second = out.partition(b"ping\r\n0\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200 ") and first.endswith(b"4\r\n"), out
    assert second.startswith(b"HTTP/1.1 200 ") and second.endswith(b"5\r\nhello\r\n0\r\n\r\n"), out


def test_a_trap_after_the_response_delivers_what_was_sent_then_closes(server: Server) -> None:
    before = len(server.lines)
    out = server.exchange(b"GET /partial-trap HTTP/1.1\r\nhost: x\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 ") and out.endswith(b"c\r\npartial body\r\n"), out
    time.sleep(0.5)
    ours = [ln for ln in server.lines[before:] if ln.startswith("error:")]
    assert len(ours) == 1 and "trap" in ours[0], server.lines[before:]
    assert not any("Task exception" in ln for ln in server.lines), server.lines
    assert server.exchange(b"GET / HTTP/1.1\r\nconnection: close\r\n\r\n").endswith(
        b"5\r\nhello\r\n0\r\n\r\n"
    )


def test_slow_and_idle_connections_are_closed_by_the_timeouts(server: Server) -> None:
    """--header-timeout 1: a head trickling in a byte at a time, and a connection that
    sends nothing, are closed; --keep-alive-timeout 2 closes an idle kept-alive one."""
    slow, silent, kept = server.connect(), server.connect(), server.connect()
    t0 = time.monotonic()
    kept.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
    closed_slow = None
    for byte in b"GET / HTTP/1.1\r\nhost: x\r\nx-slow: " + b"a" * 40:
        try:
            slow.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            closed_slow = time.monotonic() - t0
            break
        time.sleep(0.1)
    slow.settimeout(5)
    assert read_all(slow) == b"" or closed_slow is not None
    closed_slow = closed_slow or time.monotonic() - t0
    silent.settimeout(5)
    assert silent.recv(10) == b""
    kept.settimeout(10)
    got = read_all(kept)
    closed_kept = time.monotonic() - t0
    assert got.startswith(b"HTTP/1.1 200 ") and got.endswith(b"5\r\nhello\r\n0\r\n\r\n"), got
    assert closed_slow < 4, closed_slow
    assert 1.5 < closed_kept < 8, closed_kept
    for s in (slow, silent, kept):
        s.close()


def _limit_fds(n: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))

    return apply


def test_1000_concurrent_connections_lose_no_request(app: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2200:
        pytest.skip(f"the open-file limit ({hard}) is too low for this test's client")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2200), hard))
    srv = Server(app)
    try:
        socks = [srv.connect() for _ in range(1000)]
        for i, s in enumerate(socks):
            s.sendall(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 6\r\n"
                      b"connection: close\r\n\r\nn%05d" % i)  # fmt: skip
        for i, s in enumerate(socks):
            out = read_all(s)
            assert out.startswith(b"HTTP/1.1 200 ") and out.endswith(
                b"6\r\nn%05d\r\n0\r\n\r\n" % i
            ), (i, out)
            s.close()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        assert srv.stop() == 0


def test_at_the_open_file_limit_accepting_pauses_without_a_log_flood(app: Path) -> None:
    """With 256 descriptors, 400 idle connections: the server keeps its cap below the
    limit, logs nothing, and serves the waiting connections once others close."""
    srv = Server(app, "--header-timeout", "0", preexec=_limit_fds(256))
    try:
        idle = [srv.connect() for _ in range(400)]
        time.sleep(1)
        late = srv.connect()
        late.sendall(b"GET / HTTP/1.1\r\nconnection: close\r\n\r\n")
        for s in idle:
            s.close()
        late.settimeout(TIMEOUT)
        assert read_all(late).endswith(b"5\r\nhello\r\n0\r\n\r\n")
        late.close()
        assert len([ln for ln in srv.lines if ln.strip()]) <= 2, srv.lines[:5]
    finally:
        assert srv.stop() == 0


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
                if b"spawn_main" in cmd:
                    out.append(int(entry))
    return out


def test_workers_share_the_port_and_stop_on_sigint(app: Path) -> None:
    srv = Server(app, "--workers", "2")
    try:
        workers = _children(srv.proc.pid)
        assert len(workers) == 2, workers
        outs = [
            srv.exchange(b"POST /echo HTTP/1.1\r\ncontent-length: 3\r\nconnection: close\r\n\r\n%03d" % i)
            for i in range(20)
        ]  # fmt: skip
        assert all(o.endswith(b"3\r\n%03d\r\n0\r\n\r\n" % i) for i, o in enumerate(outs)), outs
    finally:
        assert srv.stop() == 0
    assert not any(Path(f"/proc/{w}").exists() for w in workers)


def test_a_head_response_has_no_body_and_no_framing_fields(server: Server) -> None:
    out = server.exchange(
        b"HEAD / HTTP/1.1\r\nhost: x\r\n\r\nGET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    head, _, rest = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), out
    assert b"content-length" not in head.lower() and b"transfer-encoding" not in head.lower()
    assert rest.startswith(b"HTTP/1.1 200 ") and rest.endswith(b"5\r\nhello\r\n0\r\n\r\n"), out
