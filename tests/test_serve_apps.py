"""``wasmloom serve`` with two real componentize-py apps (tests/serve_apps.py), one per
wasi:http world: ``/echo`` byte for byte, ``/hash-all``'s concurrent outgoing requests
to a loopback file server, and SIGINT under load.

Each app is served as a subprocess on an ephemeral port. The load is 20
keep-alive connections: with wrk installed (Debian package ``wrk``; not on a
fresh CI machine) wrk drives 16 of them and 4 client threads the rest, else 20
client threads; each thread checks every response it completes (wrk cannot).
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cpy_build import componentize_py
from serve_apps import proxy_p2, service_p3
from test_serve import Server
from test_serve_shutdown import real_stdio as real_stdio  # a fixture

pytestmark = componentize_py

#: the loopback file server's files: path -> content
FILES = {"/big.bin": os.urandom(300 * 1024), "/small.txt": b"a small file\n" * 10}


class _Files(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        data = FILES.get(self.path)
        self.send_response(200 if data is not None else 404)
        self.send_header("content-length", str(len(data or b"")))
        self.end_headers()
        self.wfile.write(data or b"")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def files() -> Iterator[str]:
    """The base URL of a loopback HTTP server of :data:`FILES`."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module", params=["p2", "p3"])
def app(request: pytest.FixtureRequest) -> Path:
    return proxy_p2() if request.param == "p2" else service_p3()


def _clean(srv: Server) -> None:
    text = "".join(srv.lines)
    assert "Traceback" not in text, text
    assert "panicked" not in text, text


@pytest.fixture(scope="module")
def served(app: Path) -> Iterator[Server]:
    srv = Server(app)
    yield srv
    assert srv.stop() == 0
    _clean(srv)


def _request(
    srv: Server,
    method: str,
    path: str,
    body: bytes | None = None,
    fields: tuple[tuple[str, str], ...] = (),
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    try:
        conn.putrequest(method, path)
        for k, v in fields:
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("content-length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize("size", [0, 1, 5000, 300 * 1024])
def test_echo_returns_the_body_byte_for_byte(served: Server, size: int) -> None:
    body = os.urandom(size)
    status, fields, got = _request(
        served, "POST", "/echo", body, (("content-type", "application/x-test"),)
    )
    assert status == 200
    assert fields["content-type"] == "application/x-test"
    assert got == body


def test_hash_all_fetches_the_urls_concurrently_and_hashes_them(served: Server, files: str) -> None:
    urls = [f"{files}/big.bin", f"{files}/small.txt", f"{files}/missing"]
    status, fields, got = _request(
        served, "GET", "/hash-all", None, tuple(("url", u) for u in urls)
    )
    assert status == 200 and fields["content-type"] == "text/plain"
    lines = sorted(got.decode().splitlines())
    want = [f"{files}{p}: {hashlib.sha256(data).hexdigest()}" for p, data in FILES.items()]
    want = sorted([*want, f"{files}/missing: error status 404"])
    assert lines == want


def test_an_unknown_route_is_a_404(served: Server) -> None:
    status, _, got = _request(served, "GET", "/nowhere")
    assert (status, got) == (404, b"")


# -- SIGINT under load


def _client(srv: Server, stop: threading.Event, done: list[int], bad: list[str]) -> None:
    """``POST /echo`` on one keep-alive connection until ``stop`` or the server closes it;
    every response that completes must be a 200 with the body sent."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    i = 0
    try:
        while not stop.is_set():
            body = os.urandom(1000 + (i * 7919) % 30000)
            i += 1
            try:
                conn.request("POST", "/echo", body, {"content-type": "application/x-test"})
                resp = conn.getresponse()
            except (ConnectionError, http.client.RemoteDisconnected):
                return  # closed or refused between requests: the server stopped
            try:
                got = resp.read()
            except (ConnectionError, http.client.IncompleteRead) as e:
                bad.append(f"response cut short: {e!r}")
                return
            if resp.status != 200 or got != body:
                bad.append(f"status {resp.status}, {len(got)} bytes for {len(body)}")
                return
            done.append(len(body))
            if resp.will_close:
                return
    except OSError as e:
        bad.append(repr(e))
    finally:
        conn.close()


_WRK_SCRIPT = 'wrk.method = "POST"\nwrk.body = string.rep("load ", 2000)\n'


def interrupt(
    srv: Server, stop: threading.Event, clients: list[threading.Thread]
) -> tuple[int, float]:
    """SIGINT to the server: its exit code and the seconds it took to exit; then the
    clients are told to stop and joined."""
    srv.proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    code = srv.proc.wait(timeout=30)
    took = time.monotonic() - t0
    srv.reader.join(10)
    stop.set()
    for c in clients:
        c.join(30)
    return code, took


def _wrk(srv: Server, conns: int, tmp: Path) -> subprocess.Popen[bytes]:
    script = tmp / "post.lua"
    script.write_text(_WRK_SCRIPT)
    return subprocess.Popen(
        [
            "wrk",
            "-t1",
            f"-c{conns}",
            "-d60s",
            "-s",
            str(script),
            f"http://127.0.0.1:{srv.port}/echo",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_sigint_under_load_stops_within_5s_with_every_response_whole(
    app: Path, tmp_path: Path
) -> None:
    srv = Server(app)
    wrk = _wrk(srv, 16, tmp_path) if shutil.which("wrk") else None
    try:
        stop = threading.Event()
        done: list[int] = []
        bad: list[str] = []
        clients = [
            threading.Thread(target=_client, args=(srv, stop, done, bad), daemon=True)
            for _ in range(20 if wrk is None else 4)
        ]
        for c in clients:
            c.start()
        deadline = time.monotonic() + 30
        while len(done) < 20 and not bad and time.monotonic() < deadline:
            time.sleep(0.05)  # warm: the instances the load needs are made
        time.sleep(0.5)
        assert not bad, bad
        before = len(done)
        code, took = interrupt(srv, stop, clients)
        assert code == 0, srv.lines
        assert took < 5, (took, srv.lines)
        assert before >= 20, (before, srv.lines)  # the load was served
        assert not bad, (bad, srv.lines)
        _clean(srv)
    finally:
        if wrk is not None:
            wrk.kill()
            wrk.wait()
        if srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait()


@pytest.mark.usefixtures("real_stdio")
def test_a_connection_accepted_just_before_the_signal_does_not_break_the_shutdown(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A connection is counted when accepted, its transport comes a loop turn later: a
    signal in between used to crash ``close`` (the server died with a traceback, cutting
    every request in flight)."""
    from wasmloom.asgi import App
    from wasmloom.wasi.serve.http1 import HttpServer

    service = App(str(service_p3())).service

    async def stop_right_after_an_accept() -> None:
        srv = HttpServer(service)
        with socket.socket() as lsock, socket.socket() as client:
            lsock.bind(("127.0.0.1", 0))
            lsock.listen()
            srv.listen(lsock)
            client.connect(lsock.getsockname())
            srv.listeners[0]._accept()  # accepted, connection_made not run yet
            assert any(c.transport is None for c in srv.conns)
            await asyncio.wait_for(srv.close(1.0), 10)

    asyncio.run(stop_right_after_an_accept())
    assert "Traceback" not in capfd.readouterr().err
