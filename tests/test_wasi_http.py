"""WASI 0.3.0 wasi:http: the types' rules, and ``wasmloom serve`` with a real guest service.

The guest (below) is Python compiled by componentize-py against the project's
own WIT (world ``wasi:http/service``), built once per checkout
(tests/cpy_build.py). ``wasmloom serve`` runs it as a subprocess on
127.0.0.1 with an ephemeral port; requests go through :mod:`http.client`.
Its ``/fetch/...`` route makes an outgoing request (``wasi:http/client.send``)
to a Python :mod:`http.server` on localhost, checked on both ends.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cpy_build import build, componentize_py

from wasmloom.values import Err, Ok
from wasmloom.wasi.p3 import http as wh
from wasmloom.wasi.p3.bindings import wasi_http_types as H

ROOT = Path(__file__).resolve().parents[1]
WIT03 = ROOT / "src" / "wasmloom" / "wasi" / "wit" / "0.3.0"
TIMEOUT = 60.0

# --- the types, host side ------------------------------------------------------------------


def test_fields_names_values_and_order() -> None:
    f = wh.Fields()
    assert f.append("Foo", b"1") == Ok(None)
    assert f.append("foo", b"2") == Ok(None)
    assert f.get("FOO") == [b"1", b"2"] and f.has("fOo")
    assert f.copy_all() == [("foo", b"1"), ("foo", b"2")]
    assert f.set("bar", [b"x", b" \t y \t"]) == Ok(None)
    assert f.get_and_delete("foo") == Ok([b"1", b"2"]) and not f.has("foo")
    assert f.delete("absent") == Ok(None)
    c = f.clone()
    assert c.append("baz", b"") == Ok(None) and not f.has("baz")


@pytest.mark.parametrize("name", ["", "a b", "(x)", "voilà", "x:y", "a\n"])
def test_fields_invalid_names(name: str) -> None:
    f = wh.Fields()
    assert not f.has(name) and f.get(name) == []
    for r in (f.append(name, b"v"), f.set(name, [b"v"]), f.delete(name)):
        assert isinstance(r, Err) and isinstance(r.value, H.HeaderErrorInvalidSyntax)
    assert isinstance(wh.Fields.checked([(name, b"v")]), Err)


@pytest.mark.parametrize("value", [b"\n", b"\r", b"\x00", b"a\x7fb", b"\x1f"])
def test_fields_invalid_values(value: bytes) -> None:
    r = wh.Fields().append("x", value)
    assert isinstance(r, Err) and isinstance(r.value, H.HeaderErrorInvalidSyntax)


@pytest.mark.parametrize("name", ["connection", "Transfer-Encoding", "HOST", "upgrade"])
def test_fields_forbidden_names(name: str) -> None:
    f = wh.Fields()
    for r in (f.append(name, b"x"), f.set(name, [b"x"])):
        assert isinstance(r, Err) and isinstance(r.value, H.HeaderErrorForbidden)
    r2 = wh.Fields.checked([(name, b"x")])
    assert isinstance(r2, Err) and isinstance(r2.value, H.HeaderErrorForbidden)


def test_message_headers_are_immutable() -> None:
    h = wh.Fields()
    h.append("a", b"1")
    req = wh.Request(h, wh.Body(None, None))
    got = req.get_headers()
    r = got.append("b", b"2")
    assert isinstance(r, Err) and isinstance(r.value, H.HeaderErrorImmutable)
    assert got.copy_all() == [("a", b"1")]
    assert req.get_headers().clone().append("b", b"2") == Ok(None)  # clones are mutable


def test_request_fields_validation() -> None:
    req = wh.Request(wh.Fields(), wh.Body(None, None))
    assert isinstance(req.get_method(), H.MethodGet) and req.get_path_with_query() is None
    assert req.set_method(H.MethodOther("PATCH")) == Ok(None)
    assert isinstance(req.get_method(), H.MethodPatch)
    assert req.set_method(H.MethodOther("")) == Err(None)
    assert req.set_method(H.MethodOther("a b")) == Err(None)
    assert req.set_scheme(H.SchemeOther("https")) == Ok(None)
    assert isinstance(req.get_scheme(), H.SchemeHTTPS)
    assert req.set_scheme(H.SchemeOther("1x")) == Err(None)
    assert req.set_path_with_query("") == Ok(None) and req.get_path_with_query() == "/"
    assert req.set_path_with_query("/a?b=c&d") == Ok(None)
    assert req.set_path_with_query("/a b") == Err(None)
    for good in ("example.com", "u:p@localhost:80", "[::1]:8080", "1.2.3.4"):
        assert req.set_authority(good) == Ok(None), good
    for bad in ("", "::", "@@", "localhost:what", "a b", "[::1"):
        assert req.set_authority(bad) == Err(None), bad
    resp = wh.Response(wh.Fields(), wh.Body(None, None))
    assert resp.get_status_code() == 200
    assert resp.set_status_code(404) == Ok(None) and resp.set_status_code(600) == Err(None)


def test_request_options_freeze() -> None:
    o = wh.RequestOptions()
    assert o.set_connect_timeout(5) == Ok(None)
    req = wh.Request(wh.Fields(), wh.Body(None, None), o)
    got = req.get_options()
    assert got is not None and got.get_connect_timeout() == 5
    r = got.set_first_byte_timeout(1)
    assert isinstance(r, Err) and isinstance(r.value, H.RequestOptionsErrorImmutable)


# --- a real guest service ---------------------------------------------------------------------

_APP_WIT = "package local:svc;\n\nworld app {\n  include wasi:http/service@0.3.0;\n}\n"

_APP_PY = """import asyncio

import componentize_py_async_support as cas
import wit_world
from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import client
from wit_world.imports import wasi_http_types as t


def _trailers():
    return wit_world.result_option_wasi_http_types_fields_wasi_http_types_error_code_future(
        lambda: Ok(None)
    )


def _res():
    return wit_world.result_unit_wasi_http_types_error_code_future(lambda: Ok(None))


def respond(status, headers, data=None, trailers=None):
    tr_tx, tr_rx = _trailers()
    body = None
    if data is None:
        cas.spawn(tr_tx.write(Ok(None)))
    else:
        tx, body = wit_world.byte_stream()

        async def write():
            with tx:
                await tx.write_all(data)
            await tr_tx.write(Ok(t.Fields.from_list(trailers) if trailers else None))

        cas.spawn(write())
    resp, _sent = t.Response.new(t.Fields.from_list(headers), body, tr_rx)
    resp.set_status_code(status)
    return resp


async def read_all(stream):
    data = bytearray()
    with stream:
        while not stream.writer_dropped:
            data += await stream.read(65536)
    return bytes(data)


async def fetch(path):
    _, _, port, rest = path.split("/", 3)
    tx, body_rx = wit_world.byte_stream()
    tr_tx, tr_rx = _trailers()
    headers = t.Fields.from_list([("x-from-guest", b"yes")])
    req, sent = t.Request.new(headers, body_rx, tr_rx, None)
    req.set_method(t.Method_Post())
    req.set_scheme(t.Scheme_Http())
    req.set_authority("127.0.0.1:" + port)
    req.set_path_with_query("/" + rest)

    async def send_body():
        with tx:
            await tx.write_all(b"ping from the guest")
        await tr_tx.write(Ok(t.Fields.from_list([("x-req-trailer", b"t1")])))

    cas.spawn(send_body())
    try:
        resp = await client.send(req)
    except Err as e:
        with sent:
            pass
        return respond(502, [("x-error", type(e.value).__name__.encode())], b"")
    sent_result = await sent.read()
    status = resp.get_status_code()
    marker = b",".join(resp.get_headers().get("x-upstream"))
    res_tx, res_rx = _res()
    body, trailers = t.Response.consume_body(resp, res_rx)
    data = await read_all(body)
    tr = await trailers.read()
    with res_tx:
        pass
    tr_value = b"-"
    if isinstance(tr, Ok) and tr.value is not None:
        tr_value = b",".join(tr.value.get("x-up-trailer"))
    out = [
        ("x-upstream-status", str(status).encode()),
        ("x-upstream-marker", marker),
        ("x-upstream-trailer", tr_value),
        ("x-sent", b"ok" if isinstance(sent_result, Ok) else b"err"),
    ]
    return respond(200, out, data)


async def fetch_bad(path):
    # /bad/{scheme|path}/{port}: a request with an unsupported scheme, or with no
    # path-with-query, and a body the guest writes meanwhile
    _, _, kind, port = path.split("/", 3)
    tx, body_rx = wit_world.byte_stream()
    tr_tx, tr_rx = _trailers()
    req, sent = t.Request.new(t.Fields(), body_rx, tr_rx, None)
    req.set_method(t.Method_Post())
    req.set_authority("127.0.0.1:" + port)
    if kind == "scheme":
        req.set_scheme(t.Scheme_Other("ftp"))
        req.set_path_with_query("/x")
    else:
        req.set_scheme(t.Scheme_Http())

    async def send_body():
        # runs first: its write waits for a reader when the send starts
        with tx:
            n = await tx.write_all(b"never sent")
        return [n, await tr_tx.write(Ok(None))]

    async def send():
        try:
            await client.send(req)
            return b"none"
        except Err as e:
            return type(e.value).__name__.encode()

    written, error = await asyncio.gather(send_body(), send())
    sent_result = await sent.read()
    sent_error = type(sent_result.value).__name__ if isinstance(sent_result, Err) else "ok"
    return respond(
        200,
        [("x-error", error), ("x-sent", sent_error.encode()), ("x-written", repr(written).encode())],
        b"",
    )


COUNT = 0


class Handler(exports.Handler):
    async def handle(self, request):
        global COUNT
        path = request.get_path_with_query() or "/"
        if path == "/count":
            COUNT += 1
            return respond(200, [], str(COUNT).encode())
        if path == "/trap":
            raise ValueError("the guest fails")
        if path == "/spin":
            while True:
                COUNT += 1
        method = type(request.get_method()).__name__.split("_", 1)[1].upper()
        if path == "/":
            return respond(200, [("content-type", b"text/plain")], b"hello from the guest\\n")
        if path == "/headers":
            h = request.get_headers()
            out = [("x-method", method.encode())]
            out += [("x-authority", (request.get_authority() or "").encode())]
            out += [("x-echoed", v) for v in h.get("x-echo")]
            return respond(201, out, b"")
        if path == "/echo":
            res_tx, res_rx = _res()
            body, trailers = t.Request.consume_body(request, res_rx)
            with res_tx:
                pass
            headers = t.Fields.from_list([("content-type", b"application/octet-stream")])
            resp, _sent = t.Response.new(headers, body, trailers)
            return resp
        if path == "/copy":
            res_tx, res_rx = _res()
            body, trailers = t.Request.consume_body(request, res_rx)
            with trailers:
                pass
            tx, out = wit_world.byte_stream()
            tr_tx, tr_rx = _trailers()

            async def pump():
                n = 0
                with body, tx:
                    while not body.writer_dropped:
                        chunk = await body.read(65536)
                        if chunk:
                            n += await tx.write_all(chunk)
                await tr_tx.write(Ok(t.Fields.from_list([("x-copied", str(n).encode())])))
                await res_tx.write(Ok(None))

            cas.spawn(pump())
            resp, _sent = t.Response.new(t.Fields(), out, tr_rx)
            return resp
        if path.startswith("/fetch/"):
            return await fetch(path)
        if path.startswith("/bad/"):
            return await fetch_bad(path)
        if path.startswith("/proxy/"):
            # forward the request's own body and trailers; answer with the upstream response
            _, _, port, rest = path.split("/", 3)
            res_tx, res_rx = _res()
            body, trailers = t.Request.consume_body(request, res_rx)
            with res_tx:
                pass
            headers = t.Fields.from_list([("x-from-guest", b"proxy")])
            req, sent = t.Request.new(headers, body, trailers, None)
            with sent:
                pass
            req.set_method(t.Method_Post())
            req.set_scheme(t.Scheme_Http())
            req.set_authority("127.0.0.1:" + port)
            req.set_path_with_query("/" + rest)
            return await client.send(req)
        return respond(404, [], b"not found\\n")
"""


def _guest_files() -> dict[str, str]:
    files = {"wit/app.wit": _APP_WIT, "app.py": _APP_PY, "wit/deps/cli/cli.wit": ""}
    files["wit/deps/cli/cli.wit"] = (WIT03 / "cli.wit").read_text()
    for f in sorted((WIT03 / "deps").rglob("*.wit")):
        files[f"wit/deps/{f.relative_to(WIT03 / 'deps')}"] = f.read_text()
    return files


@pytest.fixture(scope="module")
def guest() -> Path:
    return build("http-service", _guest_files(), wit="wit", world="app")


class Served:
    def __init__(self, proc: subprocess.Popen[bytes], host: str, port: int) -> None:
        self.proc, self.host, self.port = proc, host, port
        # keep draining stderr so a chatty server never blocks on a full pipe
        assert proc.stderr is not None
        self.drain = threading.Thread(target=proc.stderr.read, daemon=True)
        self.drain.start()

    def conn(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[http.client.HTTPResponse, bytes]:
        c = self.conn()
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r, r.read()
        finally:
            c.close()


def _start(app: Path, *flags: str) -> Served:
    proc = subprocess.Popen(
        [sys.executable, "-m", "wasmloom", "serve", "--addr", "127.0.0.1:0", *flags, str(app)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    first = proc.stderr.readline().decode()
    assert first.startswith("Serving HTTP on http://127.0.0.1:"), first
    hostport = first.split("http://", 1)[1].strip().rstrip("/")
    host, port = hostport.rsplit(":", 1)
    return Served(proc, host, int(port))


def _stop(s: Served) -> int:
    if s.proc.poll() is None:
        s.proc.send_signal(signal.SIGINT)
    code = s.proc.wait(timeout=TIMEOUT)
    s.drain.join(TIMEOUT)
    assert s.proc.stderr is not None
    s.proc.stderr.close()
    return code


@pytest.fixture(scope="module")
def served(guest: Path) -> Iterator[Served]:
    s = _start(guest)
    yield s
    _stop(s)


@componentize_py
def test_status_headers_and_body(served: Served) -> None:
    r, body = served.request("GET", "/")
    assert r.status == 200 and body == b"hello from the guest\n"
    assert r.getheader("content-type") == "text/plain"


@componentize_py
def test_request_method_and_headers_reach_the_guest(served: Served) -> None:
    r, body = served.request("PUT", "/headers", body=b"", headers={"X-Echo": "ping"})
    assert r.status == 201 and body == b""
    assert r.getheader("x-method") == "PUT"
    assert r.getheader("x-echoed") == "ping"
    assert r.getheader("x-authority") == f"{served.host}:{served.port}"


@componentize_py
def test_unknown_path_is_404(served: Served) -> None:
    r, body = served.request("GET", "/nowhere")
    assert r.status == 404 and body == b"not found\n"


@componentize_py
@pytest.mark.parametrize("data", [b"", b"hello, echo", bytes(range(256)) * 40])
def test_echo_body(served: Served, data: bytes) -> None:
    r, body = served.request("POST", "/echo", body=data)
    assert r.status == 200 and body == data
    assert r.getheader("content-type") == "application/octet-stream"


@componentize_py
def test_large_body_streams_through_the_guest(served: Served) -> None:
    """4 MiB sent chunked, copied chunk by chunk by the guest, returned with a trailer."""
    data = os.urandom(4 << 20)

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(data), 256 << 10):
            yield data[i : i + (256 << 10)]

    c = served.conn()
    try:
        c.request("POST", "/copy", body=chunks(), encode_chunked=True)
        r = c.getresponse()
        assert r.status == 200 and r.getheader("transfer-encoding") == "chunked"
        got = r.read()
    finally:
        c.close()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


def _dechunk(raw: bytes) -> tuple[bytes, dict[str, str]]:
    """A whole chunked body -> (data, trailers)."""
    data = b""
    while True:
        line, _, raw = raw.partition(b"\r\n")
        size = int(line.split(b";")[0], 16)
        if size == 0:
            break
        data, raw = data + raw[:size], raw[size + 2 :]
    trailers = {}
    for line in raw.split(b"\r\n"):
        if line:
            k, _, v = line.decode().partition(":")
            trailers[k.strip()] = v.strip()
    return data, trailers


@componentize_py
def test_response_trailers_on_the_wire(served: Served) -> None:
    with socket.create_connection((served.host, served.port), timeout=TIMEOUT) as s:
        s.sendall(b"POST /copy HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nabcde")
        raw = b""
        while not raw.endswith(b"\r\n\r\n") or b"\r\n0\r\n" not in raw:
            more = s.recv(65536)
            if not more:
                break
            raw += more
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert _dechunk(rest) == (b"abcde", {"x-copied": "5"})


@componentize_py
def test_keep_alive_and_concurrent_requests(served: Served) -> None:
    c = served.conn()
    try:
        for _ in range(3):
            c.request("GET", "/")
            r = c.getresponse()
            assert r.read() == b"hello from the guest\n"
    finally:
        c.close()
    results: list[bytes] = []

    def one(i: int) -> None:
        results.append(served.request("POST", "/echo", body=b"n%d" % i)[1])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert sorted(results) == sorted(b"n%d" % i for i in range(6))


class _Upstream(BaseHTTPRequestHandler):
    """Records each request (chunked body and trailers included) and answers chunked."""

    seen: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = b""
        trailers: dict[str, str] = {}
        if "chunked" in (self.headers.get("transfer-encoding") or ""):
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    break
                body += self.rfile.read(size)
                self.rfile.read(2)
            while (line := self.rfile.readline()) not in (b"\r\n", b""):
                k, _, v = line.decode().partition(":")
                trailers[k.strip().lower()] = v.strip()
        self.seen.append(
            {"path": self.path, "headers": dict(self.headers), "body": body, "trailers": trailers}
        )
        self.send_response(207)
        self.send_header("x-upstream", "here")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("trailer", "x-up-trailer")
        self.end_headers()
        for part in (b"pong:", body):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        self.wfile.write(b"0\r\nx-up-trailer: t2\r\n\r\n")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    _Upstream.seen = []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield srv.server_address[1], _Upstream.seen
    finally:
        srv.shutdown()
        srv.server_close()


@componentize_py
def test_guest_sends_a_request(served: Served, upstream: tuple[int, list[Any]]) -> None:
    port, seen = upstream
    r, body = served.request("GET", f"/fetch/{port}/up/path?q=1")
    assert r.status == 200, body
    # the guest's view of the upstream response
    assert body == b"pong:ping from the guest"
    assert r.getheader("x-upstream-status") == "207"
    assert r.getheader("x-upstream-marker") == "here"
    assert r.getheader("x-upstream-trailer") == "t2"
    assert r.getheader("x-sent") == "ok"
    # what reached the upstream server
    (req,) = seen
    assert req["path"] == "/up/path?q=1"
    headers = {k.lower(): v for k, v in req["headers"].items()}
    assert headers["x-from-guest"] == "yes" and headers["host"] == f"127.0.0.1:{port}"
    assert req["body"] == b"ping from the guest"
    assert req["trailers"] == {"x-req-trailer": "t1"}


@componentize_py
def test_guest_proxies_a_request(served: Served, upstream: tuple[int, list[Any]]) -> None:
    """The incoming body goes upstream and the upstream response (body and trailers) comes
    back, host stream to host stream through the guest's hands."""
    port, seen = upstream
    with socket.create_connection((served.host, served.port), timeout=TIMEOUT) as s:
        s.sendall(
            b"POST /proxy/%d/up HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n0\r\nx-in-trailer: t0\r\n\r\n" % port
        )
        raw = b""
        while b"\r\n0\r\n" not in raw or not raw.endswith(b"\r\n\r\n"):
            more = s.recv(65536)
            if not more:
                break
            raw += more
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 207 ") and b"x-upstream: here" in head
    assert _dechunk(rest) == (b"pong:abc", {"x-up-trailer": "t2"})
    (req,) = seen
    assert req["path"] == "/up" and req["body"] == b"abc"
    assert req["trailers"] == {"x-in-trailer": "t0"}
    assert req["headers"]["x-from-guest"] == "proxy"


@componentize_py
def test_guest_send_error_code(served: Served) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    r, _ = served.request("GET", f"/fetch/{closed}/x")
    assert r.status == 502 and r.getheader("x-error") == "ErrorCode_ConnectionRefused"


@componentize_py
@pytest.mark.parametrize(
    ("kind", "error"),
    [("scheme", "ErrorCode_HttpProtocolError")],
)
def test_guest_send_of_a_request_that_makes_no_uri(
    served: Served, upstream: tuple[int, list[Any]], kind: str, error: str
) -> None:
    """As in Wasmtime: an unsupported scheme is a protocol error. The send fails before
    anything reaches the network, the body the guest was writing is dropped (nothing of
    it written), and the guest goes on."""
    port, seen = upstream
    r, _ = served.request("GET", f"/bad/{kind}/{port}")
    assert r.status == 200
    assert r.getheader("x-error") == error
    assert r.getheader("x-sent") == error
    assert r.getheader("x-written") == "[0, False]"
    assert seen == []
    # the instance is fine: a good request through it still works
    r, body = served.request("GET", f"/fetch/{port}/after")
    assert r.status == 200 and body == b"pong:ping from the guest"


@componentize_py
def test_instances_are_reused_and_a_trap_retires_one(served: Served) -> None:
    """By default (Wasmtime's p3 defaults) one instance serves request after request:
    the guest's global counts them; a trap fails its request only (500) and the next
    request gets a new instance."""
    counts = [int(served.request("GET", "/count")[1]) for _ in range(3)]
    assert counts[1] == counts[0] + 1 and counts[2] == counts[0] + 2
    r, _ = served.request("GET", "/trap")
    assert r.status == 500
    assert served.request("GET", "/count")[1] == b"1"  # a fresh instance
    assert served.request("GET", "/")[0].status == 200


@componentize_py
def test_a_fresh_instance_per_request_and_sigint_exits_0(guest: Path) -> None:
    s = _start(guest, "--max-instance-reuse-count", "1")
    try:
        assert [s.request("GET", "/count")[1] for _ in range(3)] == [b"1"] * 3
        r, _ = s.request("GET", "/")
        assert r.status == 200
    finally:
        assert _stop(s) == 0


# --- a guest future over an aliased resource type (`type trailers = fields`) -------------------

_EQ_ALIAS_WAT = """
(component
  (type $ti (instance
    (export "fields" (type (sub resource)))
    (export "trailers" (type (eq 0)))
    (type (own 1))
    (type (future 2))
    (type (func (param "f" 3)))
    (export "take" (func (type 4)))
  ))
  (import "test:x/types" (instance $types (type $ti)))
  (alias export $types "trailers" (type $trailers))
  (type $own (own $trailers))
  (type $fut (future $own))
  (alias export $types "take" (func $take))
  (core func $fnew (canon future.new $fut))
  (core func $take_lowered (canon lower (func $take)))
  (core module $m
    (import "" "fnew" (func $fnew (result i64)))
    (import "" "take" (func $take (param i32)))
    (func (export "run") (call $take (i32.wrap_i64 (call $fnew)))))
  (core instance $i (instantiate $m (with "" (instance
    (export "fnew" (func $fnew))
    (export "take" (func $take_lowered))))))
  (func (export "run") (canon lift (core func $i "run")))
)
"""


def test_guest_future_of_an_eq_bound_resource_type() -> None:
    """The http types' ``trailers`` is ``(eq fields)``: a future the guest builds over it
    carries the linker's ``fields`` type, so handing it to the host type-checks."""
    import wasmtime

    from wasmloom import Component, Linker, Store
    from wasmloom import types as T
    from wasmloom.host.streams import FutureReader

    linker = Linker()
    inst = linker.instance("test:x/types")
    rt = inst.resource("fields")
    got: list[Any] = []

    def take(f: FutureReader[Any]) -> None:
        got.append(f)
        f.close()

    ft = T.FuncType((("f", T.FutureType(T.OwnType(rt))),), None, False)
    inst.func_wrap("take", take, type=ft)
    store: Store[None] = Store()
    comp = Component.from_bytes(wasmtime.wat2wasm(_EQ_ALIAS_WAT))
    linker.instantiate(store, comp).get_func("run")(store)
    assert len(got) == 1 and isinstance(got[0], FutureReader)


def test_parse_field_line() -> None:
    assert wh.parse_field_line(b"Content-Type:  text/plain \t") == ("content-type", b"text/plain")
    assert wh.parse_field_line(b"x-empty:") == ("x-empty", b"")
    for bad in (b"no colon", b"bad name: v", b"x: a\rb", b"x: \x00", b": v"):
        assert wh.parse_field_line(bad) is None, bad


@componentize_py
def test_malformed_request_is_400(served: Served) -> None:
    with socket.create_connection((served.host, served.port), timeout=TIMEOUT) as s:
        s.sendall(b"GET / HTTP/1.1\r\nx-bad: a\rb\r\n\r\n")
        got = s.recv(65536)
    assert got.startswith(b"HTTP/1.1 400 ")


# --- the client from the host, without a guest -------------------------------------------------


def _host_http() -> tuple[Any, wh.WasiHttp]:
    from wasmloom import Store
    from wasmloom.wasi.ctx import WasiCtxBuilder
    from wasmloom.wasi.p3 import WasiP3

    store: Store[None] = Store()
    return store, wh.WasiHttp(WasiP3(WasiCtxBuilder().build(), store))


def _host_request(store: Any, authority: str, body: bytes | None, **kw: Any) -> wh.Request:
    from wasmloom.host.streams import (
        BytesProducer,
        FutureReader,
        StreamReader,
        ValueFutureProducer,
    )

    contents = None if body is None else StreamReader.new(store, BytesProducer(body))
    trailers = FutureReader.new(store, ValueFutureProducer(Ok(None)))
    return wh.Request(
        wh.Fields([("x-a", b"1")]),
        wh.Body(contents, trailers),
        authority=authority,
        path_with_query="/p?x",
        **kw,
    )


def test_host_client_chunked_response_and_trailers(
    upstream: tuple[int, list[dict[str, Any]]],
) -> None:
    import asyncio

    port, seen = upstream

    async def main() -> tuple[int, bytes, Any]:
        store, http = _host_http()
        req = _host_request(store, f"127.0.0.1:{port}", b"host body", method=H.MethodPost())
        r = await http.send(None, req)  # type: ignore[arg-type]
        assert isinstance(r, Ok), r
        resp = r.value
        data = bytearray()
        async for chunk in resp.body.contents:
            data += bytes(chunk)
        trailers = await resp.body.trailers
        return resp.status, bytes(data), trailers

    status, data, trailers = asyncio.run(main())
    assert status == 207 and data == b"pong:host body"
    assert isinstance(trailers, Ok) and trailers.value.get("x-up-trailer") == [b"t2"]
    (req,) = seen
    assert req["path"] == "/p?x" and req["body"] == b"host body"


@pytest.mark.parametrize(
    ("kw", "error"),
    [
        ({"scheme": H.SchemeOther("ftp"), "path_with_query": "/x"}, H.ErrorCodeHTTPProtocolError),
        ({"path_with_query": "/x", "authority": None}, H.ErrorCodeHTTPRequestURIInvalid),
    ],
)
def test_host_client_request_that_makes_no_uri(kw: dict[str, Any], error: type) -> None:
    """As in Wasmtime: the send fails at once, before connecting, and the body is
    closed without a byte of it read."""
    import asyncio

    from wasmloom.host.streams import (
        BytesProducer,
        FutureReader,
        StreamReader,
        ValueFutureProducer,
    )

    class Spy(BytesProducer):
        polls = 0

        def poll_produce(self, store: Any, dst: Any, finish: bool) -> Any:
            Spy.polls += 1
            return super().poll_produce(store, dst, finish)

    async def main() -> tuple[Any, int, float]:
        conns = 0

        async def count(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            nonlocal conns
            conns += 1
            w.close()

        srv = await asyncio.start_server(count, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        store, http = _host_http()
        body = wh.Body(
            StreamReader.new(store, Spy(b"body")),
            FutureReader.new(store, ValueFutureProducer(Ok(None))),
        )
        req = wh.Request(wh.Fields(), body, **{"authority": f"127.0.0.1:{port}", **kw})
        loop = asyncio.get_running_loop()
        t = loop.time()
        result = await http.send(None, req)  # type: ignore[arg-type]
        elapsed = loop.time() - t
        await asyncio.sleep(0.05)  # a connection, had one been made, is counted by now
        srv.close()
        return result, conns, elapsed

    result, conns, elapsed = asyncio.run(main())
    assert isinstance(result, Err) and isinstance(result.value, error), result
    assert conns == 0 and elapsed < 0.5
    assert Spy.polls == 0


def test_host_client_sends_no_path_with_query_as_root(
    upstream: tuple[int, list[dict[str, Any]]],
) -> None:
    """A request without a path-with-query goes out with the target ``/`` (WASI issue 949, as
    wasi-testsuite's http-client-path-none expects), not as an error."""
    import asyncio

    from wasmloom.host.streams import FutureReader, ValueFutureProducer

    port, seen = upstream

    async def main() -> tuple[int, bytes]:
        store, http = _host_http()
        trailers = FutureReader.new(store, ValueFutureProducer(Ok(None)))
        req = wh.Request(
            wh.Fields(),
            wh.Body(None, trailers),
            authority=f"127.0.0.1:{port}",
            path_with_query=None,
            method=H.MethodPost(),
        )
        r = await http.send(None, req)  # type: ignore[arg-type]
        assert isinstance(r, Ok), r
        data = bytearray()
        async for chunk in r.value.body.contents:
            data += bytes(chunk)
        return r.value.status, bytes(data)

    assert asyncio.run(main()) == (207, b"pong:")
    assert [s["path"] for s in seen] == ["/"]


def test_host_client_tls_and_timeout_errors() -> None:
    """https to a plain-text server fails the handshake (TLS-protocol-error); a server that
    accepts and never answers runs into the first-byte timeout (connection-read-timeout)."""
    import asyncio

    async def main() -> tuple[Any, Any]:
        async def silent(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                await r.read()  # until the client gives up and closes
            finally:
                w.close()

        async def plain(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await r.read(100)
            w.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            w.close()

        srv1 = await asyncio.start_server(silent, "127.0.0.1", 0)
        srv2 = await asyncio.start_server(plain, "127.0.0.1", 0)
        p1 = srv1.sockets[0].getsockname()[1]
        p2 = srv2.sockets[0].getsockname()[1]
        store, http = _host_http()
        opts = wh.RequestOptions()
        opts.set_first_byte_timeout(200_000_000)
        slow = _host_request(store, f"127.0.0.1:{p1}", None, options=opts)
        tls = _host_request(store, f"127.0.0.1:{p2}", None, scheme=H.SchemeHTTPS())
        r1 = await http.send(None, slow)  # type: ignore[arg-type]
        r2 = await http.send(None, tls)  # type: ignore[arg-type]
        srv1.close()
        srv2.close()
        return r1, r2

    r1, r2 = asyncio.run(main())
    assert isinstance(r1, Err) and isinstance(r1.value, H.ErrorCodeConnectionReadTimeout)
    assert isinstance(r2, Err) and isinstance(
        r2.value, H.ErrorCodeTLSProtocolError | H.ErrorCodeTLSCertificateError
    ), r2


def test_serve_links_the_service_world_without_cli() -> None:
    from wasmloom import Linker
    from wasmloom.wasi.serve import _link

    lean, full = Linker(), Linker()
    assert _link(lean, cli=False) is False
    _link(full, cli=True)
    for name in ("wasi:http/types@0.3.0", "wasi:http/client@0.3.0", "wasi:cli/stdout@0.3.0"):
        assert lean.root().lookup(name) is not None, name
    for name in ("wasi:cli/environment@0.3.0", "wasi:filesystem/types@0.3.0", "wasi:io/poll@0.2.9"):
        assert lean.root().lookup(name) is None, name
        assert full.root().lookup(name) is not None, name


# --- containment: a handler that never returns ------------------------------------------


def _spin_concurrently(s: Served, n: int) -> list[tuple[int, float]]:
    """``n`` concurrent GET /spin: each one's status and seconds taken."""
    out: list[tuple[int, float]] = []

    def one() -> None:
        t0 = time.monotonic()
        try:
            r, _ = s.request("GET", "/spin")
        except OSError:  # the server stopped before answering
            return
        out.append((r.status, time.monotonic() - t0))

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    return out


def _sigterm_stops_within(s: Served, seconds: float) -> None:
    t0 = time.monotonic()
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(timeout=TIMEOUT) == 0
    assert time.monotonic() - t0 < seconds


def _two_looping_requests_get_5xx(s: Served) -> None:
    """Under ``-W timeout=1s``: two concurrent requests to a looping handler both get a
    5xx within 5 s."""
    results = _spin_concurrently(s, 2)
    assert len(results) == 2
    for status, took in results:
        assert 500 <= status < 600
        assert took < 5


@componentize_py
def test_serve_timeout_answers_looping_requests_with_5xx(guest: Path) -> None:
    s = _start(guest, "-W", "timeout=1s")
    try:
        _two_looping_requests_get_5xx(s)
        r, body = s.request("GET", "/")  # a fresh instance serves the next request
        assert (r.status, body) == (200, b"hello from the guest\n")
        _sigterm_stops_within(s, 3)
    finally:
        _stop(s)


@componentize_py
def test_serve_answers_others_while_a_handler_loops_and_stops_on_sigterm(guest: Path) -> None:
    # one instance per concurrent request: the looping one keeps its instance busy
    s = _start(guest, "--max-instance-concurrent-reuse-count", "1", "--shutdown-grace", "1")
    try:

        def spin() -> None:
            try:
                _spin_concurrently(s, 1)
            except OSError:  # the server stops before answering
                pass

        spinner = threading.Thread(target=spin, daemon=True)
        spinner.start()
        time.sleep(0.5)  # the guest is looping now
        t0 = time.monotonic()
        r, body = s.request("GET", "/")
        assert (r.status, body) == (200, b"hello from the guest\n")
        assert time.monotonic() - t0 < 5
        _sigterm_stops_within(s, 3)
    finally:
        _stop(s)
