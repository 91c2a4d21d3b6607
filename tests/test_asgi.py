"""``wasmloom.asgi.App``: a wasi:http component under uvicorn and hypercorn, and the
ASGI messages it exchanges (driven directly, for what the servers do not offer
over HTTP/1.1, such as response trailers).

The component is the componentize-py service of tests/serve_guest.py; where
wasi-testsuite's ``http-service-echo`` (a Rust guest) is on this machine, the
uvicorn test runs it too.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cpy_build import componentize_py
from serve_guest import asgi_call as _call
from serve_guest import guest

from wasmloom.asgi import App, create_app

pytestmark = componentize_py
uvicorn = pytest.importorskip("uvicorn")
WTS_ECHO = Path("/tmp/wts/ts/tests/rust/testsuite/wasm32-wasip3/http-service-echo.wasm")


@pytest.fixture(scope="module", autouse=True)
def real_stdio() -> Iterator[None]:
    """Guests inherit the process' stdio by file descriptor; pytest's capture objects
    have none, so the tests give the real ones back for this module."""
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = sys.__stdin__, sys.__stdout__, sys.__stderr__
    yield
    sys.stdin, sys.stdout, sys.stderr = saved


@pytest.fixture(scope="module")
def app() -> App:
    return App(guest())


def _listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture(scope="module")
def uvicorn_port(app: App) -> Iterator[int]:
    sock = _listening()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    t = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    t.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and t.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    yield sock.getsockname()[1]
    server.should_exit = True
    t.join(30)
    sock.close()


def _post(port: int, path: str, body: Any, **headers: str) -> tuple[int, dict[str, str], bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        chunked = "transfer-encoding" in headers
        c.request("POST", path, body=body, headers=headers, encode_chunked=chunked)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


@pytest.mark.parametrize("size", [0, 1, 65536, 5 << 20 | 7])
def test_uvicorn_echoes_a_post_body_byte_for_byte(uvicorn_port: int, size: int) -> None:
    data = os.urandom(size)
    status, _, got = _post(uvicorn_port, "/echo", data)
    assert status == 200 and got == data


def test_uvicorn_streams_a_chunked_request_body(uvicorn_port: int) -> None:
    status, _, got = _post(
        uvicorn_port, "/read", iter([b"abc", b"defg"]), **{"transfer-encoding": "chunked"}
    )
    assert status == 200 and got == b"ok 7"


def test_uvicorn_host_is_the_authority(uvicorn_port: int) -> None:
    c = http.client.HTTPConnection("127.0.0.1", uvicorn_port, timeout=60)
    c.request("GET", "/fields", headers={"Host": "example.com:81", "X-A": "1"})
    r = c.getresponse()
    r.read()
    c.close()
    assert r.getheader("x-authority") == "example.com:81"
    assert "host" not in (r.getheader("x-names") or "").split(",")


@pytest.mark.skipif(not WTS_ECHO.is_file(), reason="wasi-testsuite is not on this machine")
def test_uvicorn_serves_wasi_testsuites_echo_service() -> None:
    app = App(WTS_ECHO)
    sock = _listening()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    t = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    t.start()
    try:
        while not server.started:
            assert t.is_alive()
            time.sleep(0.02)
        data = os.urandom(1 << 20)
        status, headers, got = _post(sock.getsockname()[1], "/echo", data)
        assert status == 200 and got == data
        assert headers["content-type"] == "application/octet-stream"
    finally:
        server.should_exit = True
        t.join(30)
        sock.close()


def test_hypercorn_echoes_a_post_body(app: App) -> None:
    hypercorn = pytest.importorskip("hypercorn")
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    sock = _listening()
    sock.listen(16)
    port = sock.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]  # hypercorn owns the socket from here
    config.loglevel = "WARNING"
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def run() -> None:
        loop.run_until_complete(serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        data = os.urandom(300_000)
        for _ in range(100):  # until it listens
            try:
                status, _, got = _post(port, "/echo", data)
                break
            except ConnectionError:
                time.sleep(0.1)
        assert status == 200 and got == data
    finally:
        loop.call_soon_threadsafe(stop.set)
        t.join(30)
    assert hypercorn is not None


# --- the ASGI messages, driven directly -------------------------------------------------


def test_response_trailers_go_out_when_the_server_offers_them(app: App) -> None:
    sent = asyncio.run(_call(app, "/trailers", trailers=True))
    assert sent[0]["type"] == "http.response.start" and sent[0]["trailers"] is True
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert body == b"hello"
    assert sent[-2] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert sent[-1] == {
        "type": "http.response.trailers",
        "headers": [(b"x-t", b"1")],
        "more_trailers": False,
    }
    plain = asyncio.run(_call(app, "/trailers"))
    assert "trailers" not in plain[0] and plain[-1]["type"] == "http.response.body"


def test_a_body_in_many_messages_and_a_trap_after_the_response(app: App) -> None:
    data = os.urandom(10_500)
    sent = asyncio.run(_call(app, "/echo", data))
    assert b"".join(m.get("body", b"") for m in sent[1:]) == data
    assert sent[-1]["more_body"] is False
    partial = asyncio.run(_call(app, "/partial-trap"))
    # the bytes written are delivered; the response never completes (the server closes)
    assert partial[0]["status"] == 200
    assert [m.get("more_body") for m in partial[1:]] == [True]
    assert partial[1]["body"] == b"partial body"


def test_create_app_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMLOOM_APP", str(guest()))
    monkeypatch.setenv("WASMLOOM_MAX_INSTANCE_REUSE", "3")
    monkeypatch.setenv("WASMLOOM_TIMEOUT", "2.5")
    app = create_app()
    assert app.service.max_reuse == 3 and app.service.run_opts.wasm.timeout == 2.5
    assert asyncio.run(_call(app, "/"))[0]["status"] == 200
    monkeypatch.delenv("WASMLOOM_APP")
    with pytest.raises(Exception, match="WASMLOOM_APP"):
        create_app()


def test_a_wasi_http_0_2_component_under_uvicorn() -> None:
    from cpy_build import build
    from test_wasi_http_p2 import _guest_files

    app = App(build("http-proxy-p2", _guest_files(), wit="wit", world="app"))
    sock = _listening()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    t = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    t.start()
    try:
        while not server.started:
            assert t.is_alive()
            time.sleep(0.02)
        port = sock.getsockname()[1]
        data = os.urandom(200_000)
        status, _, got = _post(port, "/echo", data)
        assert status == 200 and got == data
        status, headers, got = _post(port, "/length", b"")
        assert status == 200 and got == b"exactly 21 bytes here"
        assert headers["content-length"] == "21"
    finally:
        server.should_exit = True
        t.join(30)
        sock.close()
