"""``wasmloom serve`` stops gracefully: SIGINT or SIGTERM stops accepting, lets the
requests in flight finish within ``--shutdown-grace``, cancels what is left with one
log line each, and a second signal quits at once; never a traceback, never a guest panic.

Both the 0.3 service of tests/serve_guest.py and the 0.2 proxy of
tests/test_wasi_http_p2.py are served as subprocesses; a "slow" request is a
``POST /echo`` whose body the client holds back, so the guest waits on it.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cpy_build import build, componentize_py
from serve_guest import guest as p3_guest
from test_serve import Server, read_all

from wasmloom.asgi import App

pytestmark = componentize_py


@pytest.fixture(scope="module", params=["p3", "p2"])
def app(request: pytest.FixtureRequest) -> Path:
    if request.param == "p3":
        return p3_guest()
    from test_wasi_http_p2 import _guest_files

    return build("http-proxy-p2", _guest_files(), wit="wit", world="app")


def _kill(srv: Server) -> None:
    if srv.proc.poll() is None:
        srv.proc.kill()
    srv.proc.wait(10)


def _clean(srv: Server) -> None:
    text = "".join(srv.lines)
    assert "Traceback" not in text, text
    assert "panicked" not in text, text
    assert "never awaited" not in text, text


_GUEST_FILES = re.compile(r'File "/(0|world|bundled)/')


def _server_clean(srv: Server) -> None:
    """No traceback of the server's own (a guest's panic message may quote the guest's)."""
    text = "".join(srv.lines)
    assert "never retrieved" not in text and "never awaited" not in text, text
    assert "Exception in callback" not in text, text
    host = [ln for ln in srv.lines if 'File "' in ln and not _GUEST_FILES.search(ln)]
    assert not host, text


def _body(data: bytes) -> bytes:
    """The body of a complete HTTP/1.1 response (content-length or chunked)."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    assert sep, data
    fields = {
        k.strip().lower(): v.strip()
        for k, _, v in (ln.partition(b":") for ln in head.split(b"\r\n")[1:])
    }
    if b"content-length" in fields:
        n = int(fields[b"content-length"])
        assert len(rest) == n, data
        return rest
    assert fields.get(b"transfer-encoding") == b"chunked", data
    out = b""
    while True:
        size, _, rest = rest.partition(b"\r\n")
        n = int(size.split(b";")[0], 16)
        if n == 0:
            assert rest.endswith(b"\r\n"), data
            return out
        out += rest[:n]
        assert rest[n : n + 2] == b"\r\n", data
        rest = rest[n + 2 :]


def _slow(srv: Server, payload: bytes) -> socket.socket:
    """A ``POST /echo`` whose head and first half of the body are sent; the rest is not."""
    s = srv.connect()
    s.sendall(
        b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n" % len(payload)
        + payload[: len(payload) // 2]
    )
    return s


def _load(srv: Server, stop: threading.Event, results: list[tuple[bytes, bytes]]) -> None:
    """``POST /echo`` in a loop, one request per connection, until ``stop`` or a refusal."""
    i = 0
    while not stop.is_set():
        payload = b"%d-%s" % (i, os.urandom(8).hex().encode()) * 50
        i += 1
        try:
            with srv.connect() as s:
                s.sendall(
                    b"POST /echo HTTP/1.1\r\nhost: x\r\nconnection: close\r\n"
                    b"content-length: %d\r\n\r\n" % len(payload) + payload
                )
                got = read_all(s)
        except OSError:
            return  # refused or reset: the server has stopped accepting
        if got:
            results.append((payload, got))


def _stopped_within(srv: Server, seconds: float) -> float:
    t0 = time.monotonic()
    code = srv.proc.wait(timeout=seconds + 30)
    took = time.monotonic() - t0
    srv.reader.join(10)
    assert code == 0, (code, srv.lines)
    assert took < seconds, (took, srv.lines)
    return took


def test_sigint_under_load_finishes_requests_in_flight(app: Path) -> None:
    srv = Server(app, "--shutdown-grace", "5")
    try:
        stop = threading.Event()
        results: list[tuple[bytes, bytes]] = []
        clients = [
            threading.Thread(target=_load, args=(srv, stop, results), daemon=True) for _ in range(8)
        ]
        for c in clients:
            c.start()
        payload = os.urandom(4000).hex().encode()
        slow = [_slow(srv, payload) for _ in range(3)]
        time.sleep(1.0)
        srv.proc.send_signal(signal.SIGINT)
        time.sleep(0.5)  # the server drains: the slow requests are still served
        for s in slow:
            s.sendall(payload[len(payload) // 2 :])
        for s in slow:
            with s:
                got = read_all(s)
            assert _body(got) == payload  # then the server closed the connection
        _stopped_within(srv, 5)
        stop.set()
        for c in clients:
            c.join(10)
        assert len(results) > 5
        for sent, got in results:
            assert got.startswith(b"HTTP/1.1 200 "), got[:200]
            assert _body(got) == sent
        _clean(srv)
    finally:
        _kill(srv)


def test_requests_left_at_the_deadline_are_cancelled_with_one_line_each(app: Path) -> None:
    srv = Server(app, "--shutdown-grace", "1")
    try:
        slow = [_slow(srv, b"x" * 1000) for _ in range(2)]
        time.sleep(0.5)
        srv.proc.send_signal(signal.SIGINT)
        _stopped_within(srv, 4)
        for s in slow:
            with s:
                got = read_all(s)
            # a 503, or (the head was out) a response cut short: never one that looks whole
            assert got.startswith(b"HTTP/1.1 503 ") or not got.endswith(b"0\r\n\r\n"), got
        cancelled = [ln for ln in srv.lines if "cancelled" in ln]
        assert len(cancelled) == 2, srv.lines
        assert all("POST /echo" in ln for ln in cancelled), cancelled
        _clean(srv)
    finally:
        _kill(srv)


def test_a_second_signal_quits_at_once(app: Path) -> None:
    srv = Server(app, "--shutdown-grace", "60")
    try:
        slow = _slow(srv, b"y" * 1000)
        time.sleep(0.5)
        srv.proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert srv.proc.poll() is None  # waiting for the slow request
        srv.proc.send_signal(signal.SIGINT)
        _stopped_within(srv, 3)
        slow.close()
        _clean(srv)
    finally:
        _kill(srv)


def test_workers_drain_then_stop(app: Path) -> None:
    srv = Server(app, "--workers", "2", "--shutdown-grace", "5")
    try:
        payload = b"z" * 2000
        slow = [_slow(srv, payload) for _ in range(4)]
        time.sleep(0.5)
        srv.proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        for s in slow:
            s.sendall(payload[1000:])
        for s in slow:
            with s:
                assert _body(read_all(s)) == payload
        _stopped_within(srv, 5)
        _clean(srv)
    finally:
        _kill(srv)


# --- the ASGI app's lifespan ---------------------------------------------------------------


async def _asgi_shutdown(app: Path, grace: float, finish: bool) -> tuple[list[Any], str, float]:
    """An ``App`` serving ``POST /echo`` whose body's second half comes only if ``finish``
    (0.3 s after ``lifespan.shutdown``); the response messages, the log, and how long the
    shutdown took."""
    err = io.StringIO()
    asgi = App(app, err=err, shutdown_grace=grace)
    life: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    life_out: list[dict[str, Any]] = []
    sent: list[Any] = []

    async def life_send(msg: Any) -> None:
        life_out.append(msg)

    async def send(msg: Any) -> None:
        sent.append(msg)

    lifespan = asyncio.ensure_future(asgi({"type": "lifespan"}, life.get, life_send))
    await life.put({"type": "lifespan.startup"})
    body: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await body.put({"type": "http.request", "body": b"abc", "more_body": True})
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/echo",
        "raw_path": b"/echo",
        "query_string": b"",
        "headers": [(b"host", b"x"), (b"content-length", b"6")],
        "server": ("127.0.0.1", 80),
    }
    request = asyncio.ensure_future(asgi(scope, body.get, send))
    await asyncio.sleep(1.0)
    t0 = time.monotonic()
    await life.put({"type": "lifespan.shutdown"})
    if finish:
        await asyncio.sleep(0.3)
        await body.put({"type": "http.request", "body": b"def", "more_body": False})
    await asyncio.wait_for(lifespan, grace + 5)
    took = time.monotonic() - t0
    await asyncio.wait_for(request, 5)  # ends without an exception
    assert life_out[-1] == {"type": "lifespan.shutdown.complete"}
    return sent, err.getvalue(), took


def _response(sent: list[Any]) -> tuple[int, bytes, bool]:
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    parts = [m for m in sent if m["type"] == "http.response.body"]
    whole = bool(parts) and not parts[-1].get("more_body", False)
    return status, b"".join(m.get("body", b"") for m in parts), whole


@pytest.fixture
def real_stdio() -> Iterator[None]:
    """Guests inherit the process' stdio by file descriptor (pytest's capture objects have
    none): the real ones, whose descriptors ``capfd`` reads."""
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = sys.__stdin__, sys.__stdout__, sys.__stderr__
    yield
    sys.stdin, sys.stdout, sys.stderr = saved


def _no_traceback(log: str, capfd: pytest.CaptureFixture[str]) -> None:
    out = log + "".join(capfd.readouterr())
    assert "Traceback" not in out and "panicked" not in out, out


@pytest.mark.usefixtures("real_stdio")
def test_asgi_shutdown_lets_a_request_in_flight_finish(
    app: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    sent, log, took = asyncio.run(_asgi_shutdown(app, 5, finish=True))
    assert _response(sent) == (200, b"abcdef", True)
    assert took < 5
    assert "cancelled" not in log, log
    _no_traceback(log, capfd)


@pytest.mark.usefixtures("real_stdio")
def test_asgi_shutdown_cancels_a_request_at_the_deadline(
    app: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    sent, log, took = asyncio.run(_asgi_shutdown(app, 1, finish=False))
    assert took < 3
    status, _, whole = _response(sent)
    assert status == 503 or not whole, sent  # a 503, or (the head was out) cut short
    lines = log.splitlines()
    assert lines == ["shutdown: cancelled POST /echo (still running after 1s)"], log
    _no_traceback(log, capfd)


def test_client_disconnects_and_traps_leave_one_line_each_and_no_traceback(app: Path) -> None:
    srv = Server(app)
    try:
        for _ in range(5):
            _slow(srv, b"q" * 1000).close()  # the client goes away mid-body
            with srv.connect() as s:  # ... or before the response
                s.sendall(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\n\r\nabcd")
            with srv.connect() as s:  # resets the connection
                s.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                s.sendall(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 9\r\n\r\nab")
            srv.exchange(b"GET /partial-trap HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        got = srv.exchange(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        assert got.startswith(b"HTTP/1.1 "), got
        time.sleep(0.5)
        srv.proc.send_signal(signal.SIGINT)
        _stopped_within(srv, 5)
        _server_clean(srv)  # the guests' own panics (they trap on purpose) aside
    finally:
        _kill(srv)


def test_a_p2_handler_blocked_in_the_host_does_not_outlive_the_grace() -> None:
    """The 0.2 guest's outgoing request goes to a server that never answers: its worker
    thread waits in the host, not in wasm; the process still exits at the deadline."""
    from test_wasi_http_p2 import _guest_files

    app = build("http-proxy-p2", _guest_files(), wit="wit", world="app")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    srv = Server(app, "--shutdown-grace", "1")
    try:
        s = srv.connect()
        port = silent.getsockname()[1]
        s.sendall(b"GET /fetch/%d/x HTTP/1.1\r\nhost: x\r\n\r\n" % port)
        time.sleep(1.0)
        srv.proc.send_signal(signal.SIGINT)
        _stopped_within(srv, 4)
        s.close()
        assert [ln for ln in srv.lines if "cancelled" in ln] == [
            f"shutdown: cancelled GET /fetch/{port}/x (still running after 1s)\n"
        ], srv.lines
        _server_clean(srv)
    finally:
        _kill(srv)
        silent.close()
