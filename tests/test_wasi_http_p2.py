"""WASI 0.2 wasi:http (``wasi:http/proxy``): ``wasmloom serve`` with a real 0.2 guest, and the host.

The guest (below) is Python compiled by componentize-py against the project's
own WIT (a world including ``wasi:http/proxy@0.2.9``), built once per checkout
(tests/cpy_build.py). It implements ``incoming-handler.handle`` with blocking
0.2 calls. ``wasmloom serve`` runs it as a subprocess on 127.0.0.1 with an
ephemeral port; requests go through :mod:`http.client`. Its ``/fetch/...``
route makes an outgoing request (``outgoing-handler.handle``) to a Python
:mod:`http.server` on localhost, checked on both ends.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cpy_build import build, componentize_py
from test_wasi_http import (
    Served,
    _dechunk,
    _sigterm_stops_within,
    _spin_concurrently,
    _start,
    _stop,
    _two_looping_requests_get_5xx,
    _Upstream,
)
from test_wasi_http import upstream as upstream  # the recording upstream server (a fixture)

from wasmloom import Linker
from wasmloom.values import Err, Ok
from wasmloom.wasi.p2 import http as p2http
from wasmloom.wasi.p2.bindings import wasi_http_types as H2
from wasmloom.wasi.p2.bindings import wasi_io_streams as streams

ROOT = Path(__file__).resolve().parents[1]
WIT02 = ROOT / "src" / "wasmloom" / "wasi" / "wit" / "0.2"
TIMEOUT = 60.0

_APP_WIT = """package local:app;

world app {
  include wasi:http/proxy@0.2.9;
}
"""

_APP_PY = """from wit_world import exports
from wit_world.imports import outgoing_handler, streams
from wit_world.imports.types import (
    ErrorCode_InternalError,
    Fields,
    IncomingBody,
    IncomingRequest,
    Method_Post,
    OutgoingBody,
    OutgoingRequest,
    OutgoingResponse,
    ResponseOutparam,
    Scheme_Http,
)
from componentize_py_types import Err, Ok


def read_body(msg):
    body = msg.consume()
    chunks = []
    with body.stream() as s:
        while True:
            try:
                chunks.append(s.blocking_read(1 << 20))
            except Err as e:
                if isinstance(e.value, streams.StreamError_Closed):
                    break
                raise
    with IncomingBody.finish(body) as future:
        with future.subscribe() as p:
            p.block()
        trailers = unwrap(future.get())
    return b"".join(chunks), trailers


def respond(out, status, headers, data, trailers=None):
    resp = OutgoingResponse(Fields.from_list(headers))
    resp.set_status_code(status)
    body = resp.body()
    ResponseOutparam.set(out, Ok(resp))
    with body.write() as s:
        view = memoryview(data)
        while view:
            n = min(s.check_write(), len(view))
            if n == 0:
                s.subscribe().block()
                continue
            s.write(bytes(view[:n]))
            view = view[n:]
        s.blocking_flush()
    OutgoingBody.finish(body, Fields.from_list(trailers) if trailers else None)


def unwrap(x):
    while isinstance(x, Ok):
        x = x.value
    return x


def fetch(port, rest):
    req = OutgoingRequest(Fields.from_list([("x-from-guest", b"p2")]))
    req.set_method(Method_Post())
    req.set_scheme(Scheme_Http())
    req.set_authority("127.0.0.1:" + port)
    req.set_path_with_query("/" + rest)
    body = req.body()
    with body.write() as s:
        s.blocking_write_and_flush(b"ping from a p2 guest")
    OutgoingBody.finish(body, Fields.from_list([("x-req-trailer", b"t1")]))
    fut = outgoing_handler.handle(req, None)
    with fut.subscribe() as p:
        p.block()
    got = fut.get()
    if got is None:
        return 500, [], b"not ready"
    resp = unwrap(got)
    if isinstance(resp, Err):
        return 502, [("x-error", type(resp.value).__name__.encode())], b""
    status = resp.status()
    marker = b",".join(resp.headers().get("x-upstream"))
    data, trailers = read_body(resp)
    got = b",".join(trailers.get("x-up-trailer")) if trailers is not None else b"-"
    out = [("x-upstream-status", str(status).encode()), ("x-upstream-marker", marker)]
    return 200, out + [("x-upstream-trailer", got)], data


COUNT = 0
NL = bytes([10])


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        global COUNT
        path = request.path_with_query() or "/"
        if path == "/count":
            COUNT += 1
            respond(response_out, 200, [], str(COUNT).encode())
            return
        if path == "/trailers":
            respond(response_out, 200, [], b"with trailers", [("x-trailer", b"done")])
            return
        if path == "/length":
            data = b"exactly 21 bytes here"
            respond(response_out, 200, [("content-length", str(len(data)).encode())], data)
            return
        if path == "/nobody":
            resp = OutgoingResponse(Fields.from_list([("x-empty", b"yes")]))
            resp.set_status_code(202)
            ResponseOutparam.set(response_out, Ok(resp))
            return
        if path == "/trap":
            raise ValueError("the guest fails")
        if path == "/spin":
            while True:
                COUNT += 1
        method = type(request.method()).__name__.split("_", 1)[1].upper()
        if path == "/":
            respond(response_out, 200, [("content-type", b"text/plain")], b"hello from a p2 guest" + NL)
        elif path == "/headers":
            h = request.headers()
            out = [("x-method", method.encode()), ("x-authority", (request.authority() or "").encode())]
            out += [("x-echoed", v) for v in h.get("x-echo")]
            respond(response_out, 201, out, b"")
        elif path == "/echo":
            data, trailers = read_body(request)
            echoed = trailers.entries() if trailers is not None else None
            respond(response_out, 200, [("content-type", b"application/octet-stream")], data, echoed)
        elif path.startswith("/fetch/"):
            _, _, port, rest = path.split("/", 3)
            status, headers, data = fetch(port, rest)
            respond(response_out, status, headers, data)
        elif path == "/error":
            ResponseOutparam.set(response_out, Err(ErrorCode_InternalError("guest says no")))
        else:
            respond(response_out, 404, [], b"not found" + NL)
"""

# A 0.2 command (wasi:cli/run) making an outgoing request: `wasmloom run` links wasi:http 0.2.
_CMD_WIT = """package local:cmd;

world cmd {
  include wasi:cli/imports@0.2.9;
  import wasi:http/outgoing-handler@0.2.9;
  export wasi:cli/run@0.2.9;
}
"""

_CMD_PY = """import os
import sys

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import outgoing_handler, streams
from wit_world.imports.wasi_http_types import (
    Fields,
    IncomingBody,
    Method_Post,
    OutgoingBody,
    OutgoingRequest,
)


def unwrap(x):
    while isinstance(x, Ok):
        x = x.value
    return x


class Run(exports.Run):
    def run(self) -> None:
        req = OutgoingRequest(Fields())
        req.set_method(Method_Post())
        req.set_authority("127.0.0.1:" + os.environ["UPSTREAM"])
        req.set_path_with_query("/from-run")
        body = req.body()
        fut = outgoing_handler.handle(req, None)
        with body.write() as s:
            s.blocking_write_and_flush(b"from run")
        OutgoingBody.finish(body, None)
        with fut.subscribe() as p:
            p.block()
        resp = unwrap(fut.get())
        if isinstance(resp, Err):
            print("error", resp.value)
            raise Err(None)
        incoming = resp.consume()
        data = b""
        with incoming.stream() as s:
            while True:
                try:
                    data += s.blocking_read(65536)
                except Err as e:
                    if isinstance(e.value, streams.StreamError_Closed):
                        break
                    raise
        IncomingBody.finish(incoming).__exit__(None, None, None)
        print(resp.status(), data.decode())
        sys.stdout.flush()
"""


def _guest_files() -> dict[str, str]:
    files = {"wit/app.wit": _APP_WIT, "app.py": _APP_PY}
    files["wit/deps/cli/cli.wit"] = (WIT02 / "cli.wit").read_text()
    for f in sorted((WIT02 / "deps").rglob("*.wit")):
        files[f"wit/deps/{f.relative_to(WIT02 / 'deps')}"] = f.read_text()
    return files


@pytest.fixture(scope="module")
def guest() -> Path:
    return build("http-proxy-p2", _guest_files(), wit="wit", world="app")


@pytest.fixture(scope="module")
def served(guest: Path) -> Iterator[Served]:
    s = _start(guest)
    yield s
    _stop(s)


def _free_port() -> int:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@componentize_py
def test_status_headers_and_body(served: Served) -> None:
    r, body = served.request("GET", "/")
    assert r.status == 200 and body == b"hello from a p2 guest\n"
    assert r.getheader("content-type") == "text/plain"


@componentize_py
def test_request_method_and_headers_reach_the_guest(served: Served) -> None:
    r, body = served.request("PUT", "/headers", body=b"", headers={"x-echo": "hi there"})
    assert r.status == 201 and body == b""
    assert r.getheader("x-method") == "PUT"
    assert r.getheader("x-authority") == f"127.0.0.1:{served.port}"
    assert r.getheader("x-echoed") == "hi there"


@componentize_py
def test_unknown_path_is_404(served: Served) -> None:
    r, body = served.request("GET", "/nowhere")
    assert r.status == 404 and body == b"not found\n"


@componentize_py
@pytest.mark.parametrize("size", [0, 1, 70_000, 3 * 1024 * 1024 + 17])
def test_echo_body_byte_for_byte(served: Served, size: int) -> None:
    data = os.urandom(size)
    r, body = served.request("POST", "/echo", body=data)
    assert r.status == 200
    assert r.getheader("content-type") == "application/octet-stream"
    assert len(body) == size and body == data


@componentize_py
def test_echo_a_chunked_request_body(served: Served) -> None:
    parts = [os.urandom(n) for n in (1, 4096, 100_000, 3)]
    c = served.conn()
    try:
        c.request("POST", "/echo", body=iter(parts), encode_chunked=True)
        r = c.getresponse()
        assert r.status == 200 and r.read() == b"".join(parts)
    finally:
        c.close()


def _raw(served: Served, request: bytes) -> tuple[bytes, bytes]:
    """Send ``request`` on a fresh connection; the response head and the rest."""
    with socket.create_connection((served.host, served.port), timeout=TIMEOUT) as s:
        s.sendall(request)
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
    head, _, rest = raw.partition(b"\r\n\r\n")
    return head, rest


@componentize_py
def test_request_trailers_reach_the_guest(served: Served) -> None:
    head, rest = _raw(
        served,
        b"POST /echo HTTP/1.1\r\nhost: x\r\nconnection: close\r\n"
        b"transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nx-req-trailer: t1\r\n\r\n",
    )
    assert head.startswith(b"HTTP/1.1 200 ")
    assert _dechunk(rest) == (b"hello", {"x-req-trailer": "t1"})


@componentize_py
def test_response_trailers_and_content_length_on_the_wire(served: Served) -> None:
    head, rest = _raw(served, b"GET /trailers HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert rest == b"d\r\nwith trailers\r\n0\r\nx-trailer: done\r\n\r\n"
    r, body = served.request("GET", "/length")
    assert r.getheader("content-length") == "21" and r.getheader("transfer-encoding") is None
    assert body == b"exactly 21 bytes here"


@componentize_py
def test_head_and_a_response_without_a_body(served: Served) -> None:
    c = served.conn()
    try:
        c.request("HEAD", "/")  # the guest writes a body: it is not sent
        r = c.getresponse()
        assert r.status == 200 and r.read() == b""
        c.request("GET", "/nobody")  # the guest never asks for the body: it is empty
        r = c.getresponse()
        assert r.status == 202 and r.getheader("x-empty") == "yes" and r.read() == b""
    finally:
        c.close()


@componentize_py
def test_keep_alive_serves_several_requests_on_one_connection(served: Served) -> None:
    c = served.conn()
    try:
        for i in range(3):
            c.request("POST", "/echo", body=b"x" * i)
            r = c.getresponse()
            assert r.status == 200 and r.read() == b"x" * i
    finally:
        c.close()


@componentize_py
def test_error_and_trap_are_500(served: Served) -> None:
    r, body = served.request("GET", "/error")
    assert r.status == 500 and b"internal-error(guest says no)" in body
    r, _ = served.request("GET", "/trap")
    assert r.status == 500
    r, body = served.request("GET", "/")  # a trapped instance is replaced
    assert r.status == 200 and body == b"hello from a p2 guest\n"


_DO_POST_03 = _Upstream.do_POST


def _do_post_any_framing(self: _Upstream) -> None:
    """The 0.3 tests' recording upstream (207, ``x-upstream: here``, chunked with a
    trailer), also for request bodies framed by ``content-length``; the framing is
    noted in an ``x-framing`` header of the record."""
    n = self.headers.get("content-length")
    if n is not None:
        data = self.rfile.read(int(n))
        self.rfile = io.BytesIO(
            b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data) if data else b"0\r\n\r\n"
        )
        self.headers["transfer-encoding"] = "chunked"
    self.headers["x-framing"] = "chunked" if n is None else f"length {n}"
    _DO_POST_03(self)


@pytest.fixture(autouse=True)
def _any_framing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_Upstream, "do_POST", _do_post_any_framing)


@componentize_py
def test_guest_sends_a_request(served: Served, upstream: tuple[int, list[Any]]) -> None:
    port, seen = upstream
    r, body = served.request("GET", f"/fetch/{port}/up/path?q=1")
    assert r.status == 200, body
    # the guest's view of the upstream response (its trailers included)
    assert body == b"pong:ping from a p2 guest"
    assert r.getheader("x-upstream-status") == "207"
    assert r.getheader("x-upstream-marker") == "here"
    assert r.getheader("x-upstream-trailer") == "t2"
    # what reached the upstream server
    (req,) = seen
    assert req["path"] == "/up/path?q=1"
    headers = {k.lower(): v for k, v in req["headers"].items()}
    assert headers["x-from-guest"] == "p2" and headers["host"] == f"127.0.0.1:{port}"
    assert req["body"] == b"ping from a p2 guest" and req["headers"]["x-framing"] == "chunked"
    assert req["trailers"] == {"x-req-trailer": "t1"}


@componentize_py
def test_guest_request_refused_is_an_error_code(served: Served) -> None:
    r, _ = served.request("GET", f"/fetch/{_free_port()}/x")
    assert r.status == 502 and r.getheader("x-error") == "ErrorCode_ConnectionRefused"


@componentize_py
def test_instances_reused_and_sigint_exits_0(guest: Path) -> None:
    """A 0.2 instance serves one request at a time: the next one waits for the guest's
    call to return (a short pause here), or goes to a new instance."""
    s = _start(guest, "--max-instance-reuse-count", "1")
    try:
        assert [s.request("GET", "/count")[1] for _ in range(3)] == [b"1"] * 3
    finally:
        assert _stop(s) == 0
    s = _start(guest)
    try:
        counts = []
        for _ in range(3):
            counts.append(s.request("GET", "/count")[1])
            time.sleep(0.2)
        assert counts == [b"1", b"2", b"3"]
    finally:
        t0 = time.monotonic()
        assert _stop(s) == 0
        assert time.monotonic() - t0 < 10


@componentize_py
def test_run_links_wasi_http_0_2_for_a_command(upstream: tuple[int, list[Any]]) -> None:
    files = _guest_files()
    files["wit/app.wit"], files["app.py"] = _CMD_WIT, _CMD_PY
    app = build("http-client-p2", files, wit="wit", world="cmd")
    port, seen = upstream
    r = subprocess.run(
        [sys.executable, "-m", "wasmloom", "run", "--env", f"UPSTREAM={port}", str(app)],
        capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout == "207 pong:from run\n"
    (req,) = seen
    assert req["path"] == "/from-run" and req["body"] == b"from run"


# --- the host side, without a guest --------------------------------------------------------


def test_serve_links_the_proxy_world() -> None:
    from wasmloom.wasi.serve import _link

    lean, full = Linker(), Linker()
    assert _link(lean, cli=False, p2=True) is True
    _link(full, cli=True, p2=True)
    for name in (
        "wasi:http/types@0.2.9",
        "wasi:http/outgoing-handler@0.2.9",
        "wasi:cli/stdout@0.2.9",
        "wasi:io/poll@0.2.9",
    ):
        assert lean.root().lookup(name) is not None, name
        assert full.root().lookup(name) is not None, name
    assert lean.root().lookup("wasi:filesystem/types@0.2.9") is None
    assert full.root().lookup("wasi:filesystem/types@0.2.9") is not None


def test_fields_rules_and_immutable_message_headers() -> None:
    h = p2http.WasiHttpP2()
    bad = h.fields_from_list([("bad name", b"v")])
    assert isinstance(bad, Err) and bad.value.tag == "invalid-syntax"
    f = h.fields_from_list([("A", b"1"), ("b", b"2"), ("a", b"3")]).value
    assert f.entries() == [("a", b"1"), ("b", b"2"), ("a", b"3")]
    assert f.get("A") == [b"1", b"3"] and f.has("b")
    assert f.set("connection", [b"close"]).value.tag == "forbidden"
    c = f.clone()
    assert c.delete("a") == Ok(None) and f.get("a") == [b"1", b"3"]
    resp = h.outgoing_response_new(f)
    assert resp.headers().append("x", b"y").value.tag == "immutable"
    assert resp.set_status_code(99) == Err(None) and resp.status_code() == 200
    assert isinstance(resp.body(), Ok) and resp.body() == Err(None)


def test_host_client_from_a_plain_thread(upstream: tuple[int, list[Any]]) -> None:
    """No loop of the caller's: the client runs on the host's private loop thread."""
    port, seen = upstream
    h = p2http.WasiHttpP2()
    req = h.outgoing_request_new(h.fields_new())
    assert req.set_method(H2.MethodPost()) == Ok(None)
    assert req.set_authority(f"127.0.0.1:{port}") == Ok(None)
    assert req.set_path_with_query("/p?x") == Ok(None)
    body = req.body().value
    out = body.write().value
    assert out.write(b"abc") == Ok(None) and out.write(b"def") == Ok(None)  # kept until sent
    assert h.outgoing_body_finish(body, None) == Ok(None)
    fut = h.handle(req, None).value
    fut.subscribe().block()
    resp = fut.get().value.value
    assert fut.get() == Err(None)
    assert resp.status() == 207 and resp.headers().get("x-upstream") == [b"here"]
    inc = resp.consume().value
    assert resp.consume() == Err(None)
    stream = inc.stream().value
    data = b""
    while True:
        r = stream.blocking_read(4)
        if isinstance(r, Err):
            assert isinstance(r.value, streams.StreamErrorClosed)
            break
        data += r.value
    assert data == b"pong:abcdef"
    trailers = h.incoming_body_finish(inc)
    trailers.subscribe().block()
    got = trailers.get().value.value
    assert got.entries() == [("x-up-trailer", b"t2")]
    assert got.append("x", b"y").value.tag == "immutable"
    # a body complete before the request went out is sent with its length
    assert seen[0]["body"] == b"abcdef" and seen[0]["headers"]["x-framing"] == "length 6"
    assert seen[0]["path"] == "/p?x"


def test_host_client_request_without_a_body(upstream: tuple[int, list[Any]]) -> None:
    port, seen = upstream
    h = p2http.WasiHttpP2()
    req = h.outgoing_request_new(h.fields_new())
    req.set_method(H2.MethodPost())
    req.set_authority(f"127.0.0.1:{port}")
    fut = h.handle(req, None).value  # body() never called: the body is empty
    fut.subscribe().block()
    assert fut.get().value.value.status() == 207
    assert seen[0]["body"] == b"" and seen[0]["headers"]["x-framing"] == "length 0"


def test_host_client_connection_refused() -> None:
    h = p2http.WasiHttpP2()
    req = h.outgoing_request_new(h.fields_new())
    req.set_authority(f"127.0.0.1:{_free_port()}")
    assert _error_of(h, req).tag == "connection-refused"
    bad = h.outgoing_request_new(h.fields_new())
    assert h.handle(bad, None) == Err(H2.ErrorCodeHTTPRequestURIInvalid())


def _raw_server(reply: bytes) -> socket.socket:
    """A TCP server on localhost that sends ``reply`` to each connection (or, for
    ``b""``, holds it silent for a second)."""
    srv = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            with c:
                if reply:
                    c.sendall(reply)
                else:
                    time.sleep(1)

    threading.Thread(target=serve, daemon=True).start()
    return srv


def _error_of(h: p2http.WasiHttpP2, req: Any, options: Any = None) -> Any:
    fut = h.handle(req, options).value
    fut.subscribe().block()
    got = fut.get()
    assert isinstance(got, Ok) and isinstance(got.value, Err), got
    return got.value.value


def test_host_client_tls_and_timeout_errors() -> None:
    h = p2http.WasiHttpP2()
    with _raw_server(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n") as plain:
        req = h.outgoing_request_new(h.fields_new())
        req.set_scheme(H2.SchemeHTTPS())
        req.set_authority(f"127.0.0.1:{plain.getsockname()[1]}")
        assert _error_of(h, req).tag == "TLS-protocol-error"
    with _raw_server(b"") as silent:
        req = h.outgoing_request_new(h.fields_new())
        req.set_authority(f"127.0.0.1:{silent.getsockname()[1]}")
        opts = h.request_options_new()
        assert opts.set_first_byte_timeout(200_000_000) == Ok(None)
        assert opts.first_byte_timeout() == 200_000_000
        t0 = time.monotonic()
        assert _error_of(h, req, opts).tag == "connection-read-timeout"
        assert time.monotonic() - t0 < 5


@componentize_py
def test_serve_timeout_ends_a_looping_p2_handler_with_5xx(guest: Path) -> None:
    """A 0.2 handler runs on a worker thread: past -W timeout its request gets a 5xx,
    the guest traps at its next epoch tick, and the server still stops on SIGTERM."""
    s = _start(guest, "-W", "timeout=1s")
    try:
        _two_looping_requests_get_5xx(s)
        r, body = s.request("GET", "/")
        assert r.status == 200 and body.startswith(b"hello from a p2 guest")
        _sigterm_stops_within(s, 3)
    finally:
        _stop(s)


@componentize_py
def test_sigterm_stops_serve_while_a_p2_handler_loops(guest: Path) -> None:
    s = _start(guest, "--shutdown-grace", "1")
    try:
        spinner = threading.Thread(target=lambda: _spin_concurrently(s, 1), daemon=True)
        spinner.start()
        time.sleep(1)  # the guest is looping on a worker thread now
        _sigterm_stops_within(s, 3)
    finally:
        _stop(s)
