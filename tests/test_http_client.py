"""The outgoing HTTP/1.1 client (wasmloom.wasi.http_client) of wasi:http 0.3 and 0.2.

Real guests (the componentize-py services of tests/test_wasi_http.py and
tests/test_wasi_http_p2.py, the 0.3 one with one more route) run under
``wasmloom serve`` and send requests to a recording HTTP/1.1 server on
localhost (:mod:`http.server` in a thread), which notes the connection each
request came on: sequential requests share one connection, and a response
that says ``connection: close`` or whose body was not read to its end is not
reused. Broken responses (an invalid chunk size, a body cut short, a head too
large) reach the guest as errors. The host-side tests drive
:class:`~wasmloom.wasi.p3.http.WasiHttp` directly against the same server.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import test_wasi_http as h3
import test_wasi_http_p2 as h2
from cpy_build import build, componentize_py

from wasmloom.values import Err, Ok
from wasmloom.wasi import http_client as hc
from wasmloom.wasi.p3 import http as wh
from wasmloom.wasi.p3.bindings import wasi_http_types as H

TIMEOUT = 60.0

# --- the recording upstream server -------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive. Records (connection, method, path, body, trailers) of each
    request and the connections that ended; answers by path:

    - ``/close...``: ``connection: close`` and a length-framed body (the connection
      closes half a second later);
    - ``/half``: 100 bytes, 50 of them half a second later;
    - ``/badchunk``: a chunked body whose second chunk size is ``ZZZ``;
    - ``/truncated``: 100 bytes declared, 10 sent, then the connection closes;
    - ``/bighead``: a head of 200 KiB;
    - ``/big``: 64 MiB declared, sent until the client goes away;
    - ``HEAD``: 200 declaring 1000 bytes (and sending none);
    - ``/empty``: 204, no body;
    - else: 200, chunked ``pong:<body>`` with the trailer ``x-up-trailer: t2``.
    """

    protocol_version = "HTTP/1.1"
    seen: list[dict[str, Any]] = []
    ended: list[int] = []
    lock = threading.Lock()

    def handle(self) -> None:
        try:
            super().handle()
        except OSError:
            pass
        finally:
            with self.lock:
                self.ended.append(self.client_address[1])

    def _read_body(self) -> tuple[bytes, dict[str, str]]:
        body, trailers = b"", {}
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
        elif (n := self.headers.get("content-length")) is not None:
            body = self.rfile.read(int(n))
        return body, trailers

    def _answer(self) -> None:
        body, trailers = self._read_body()
        with self.lock:
            self.seen.append(
                {"conn": self.client_address[1], "method": self.command, "path": self.path}
                | {"body": body, "trailers": trailers}
            )
        w = self.wfile
        path = self.path
        if path.startswith("/close"):
            w.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 5\r\n\r\nbye!\n")
            w.flush()
            time.sleep(0.5)  # and closes later: a client that reuses it meanwhile fails
            self.close_connection = True
        elif path == "/half":
            w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n" + b"h" * 50)
            w.flush()
            time.sleep(0.5)
            w.write(b"h" * 50)
        elif path == "/badchunk":
            w.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\nZZZ\r\n")
            self.close_connection = True
        elif path == "/truncated":
            w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
            self.close_connection = True
        elif path == "/bighead":
            w.write(b"HTTP/1.1 200 OK\r\nx-big: %s\r\ncontent-length: 0\r\n\r\n" % (b"a" * 200_000))
        elif path == "/big":
            w.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % (64 << 20))
            self.close_connection = True
            for _ in range(1024):
                w.write(b"x" * 65536)
        elif self.command == "HEAD":
            w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
        elif path == "/empty":
            w.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
        else:
            data = b"pong:" + body
            w.write(b"HTTP/1.1 200 OK\r\nx-upstream: here\r\ntransfer-encoding: chunked\r\n\r\n")
            w.write(b"%x\r\n%s\r\n0\r\nx-up-trailer: t2\r\n\r\n" % (len(data), data))
        w.flush()

    do_GET = do_POST = do_HEAD = _answer

    def log_message(self, *args: Any) -> None:
        pass


class Upstream:
    def __init__(self, port: int, seen: list[dict[str, Any]], ended: list[int]) -> None:
        self.port, self.seen, self.ended = port, seen, ended

    def conns(self) -> list[int]:
        return [s["conn"] for s in self.seen]

    def wait_ended(self, conn: int) -> None:
        deadline = time.monotonic() + 10
        while conn not in self.ended:
            assert time.monotonic() < deadline, f"connection {conn} is still open"
            time.sleep(0.01)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    srv.daemon_threads = True
    _Recorder.seen, _Recorder.ended = [], []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield Upstream(srv.server_address[1], _Recorder.seen, _Recorder.ended)
    finally:
        srv.shutdown()
        srv.server_close()


# --- the 0.3 guest, with one more route ---------------------------------------------------------

_REPORT = """

async def report(path):
    # /report/{port}/{limit}/{rest}: GET /{rest} upstream, read at most {limit} bytes of
    # the body (then drop it) and answer with what came: status, bytes, trailers or error
    _, _, port, limit, rest = path.split("/", 4)
    tr_tx, tr_rx = _trailers()
    cas.spawn(tr_tx.write(Ok(None)))
    req, sent = t.Request.new(t.Fields(), None, tr_rx, None)
    with sent:
        pass
    req.set_scheme(t.Scheme_Http())
    req.set_authority("127.0.0.1:" + port)
    req.set_path_with_query("/" + rest)
    try:
        resp = await client.send(req)
    except Err as e:
        return respond(502, [("x-error", type(e.value).__name__.encode())], b"")
    status = str(resp.get_status_code()).encode()
    res_tx, res_rx = _res()
    body, trailers = t.Response.consume_body(resp, res_rx)
    with res_tx:
        pass
    data = bytearray()
    with body:
        while not body.writer_dropped and len(data) < int(limit):
            data += await body.read(65536)
    end = "dropped"
    if body.writer_dropped:
        tr = await trailers.read()
        if isinstance(tr, Err):
            end = "error:" + type(tr.value).__name__
        else:
            end = "ok"
    else:
        trailers.__exit__(None, None, None)
    out = [("x-status", status), ("x-end", end.encode())]
    return respond(200, out + [("x-read", str(len(data)).encode())], b"")


COUNT = 0
"""


def _guest_files() -> dict[str, str]:
    files = h3._guest_files()
    app = files["app.py"]
    assert app.count("\nCOUNT = 0\n") == 1 and app.count('if path.startswith("/fetch/"):') == 1
    app = app.replace("\nCOUNT = 0\n", _REPORT, 1)
    files["app.py"] = app.replace(
        'if path.startswith("/fetch/"):',
        'if path.startswith("/report/"):\n            return await report(path)\n'
        '        if path.startswith("/fetch/"):',
        1,
    )
    return files


@pytest.fixture(scope="module")
def served() -> Iterator[h3.Served]:
    s = h3._start(build("http-client-reuse", _guest_files(), wit="wit", world="app"))
    yield s
    h3._stop(s)


@pytest.fixture(scope="module")
def served_p2() -> Iterator[h3.Served]:
    s = h3._start(build("http-service-p2", h2._guest_files(), wit="wit", world="app"))
    yield s
    h3._stop(s)


def _report(served: h3.Served, up: Upstream, rest: str, limit: int = 1 << 30) -> dict[str, str]:
    r, body = served.request("GET", f"/report/{up.port}/{limit}/{rest}")
    assert r.status == 200, (r.status, r.getheader("x-error"), body)
    return {k: r.getheader(f"x-{k}") or "" for k in ("status", "end", "read")}


@componentize_py
def test_p3_sequential_requests_share_one_connection(served: h3.Served, upstream: Upstream) -> None:
    for i in range(5):
        r, body = served.request("GET", f"/fetch/{upstream.port}/n{i}")
        assert r.status == 200 and body == b"pong:ping from the guest", body
        assert r.getheader("x-upstream-trailer") == "t2" and r.getheader("x-sent") == "ok"
    assert [s["path"] for s in upstream.seen] == [f"/n{i}" for i in range(5)]
    assert len(set(upstream.conns())) == 1, upstream.conns()
    assert all(s["trailers"] == {"x-req-trailer": "t1"} for s in upstream.seen)
    assert all(s["body"] == b"ping from the guest" for s in upstream.seen)


@componentize_py
def test_p2_sequential_requests_share_one_connection(
    served_p2: h3.Served, upstream: Upstream
) -> None:
    for i in range(4):
        r, body = served_p2.request("GET", f"/fetch/{upstream.port}/m{i}")
        assert r.status == 200 and body == b"pong:ping from a p2 guest", body
        assert r.getheader("x-upstream-trailer") == "t2"
    assert len(set(upstream.conns())) == 1, upstream.conns()
    assert all(s["trailers"] == {"x-req-trailer": "t1"} for s in upstream.seen)


@componentize_py
def test_connection_close_is_not_reused(served: h3.Served, upstream: Upstream) -> None:
    assert _report(served, upstream, "close") == {"status": "200", "end": "ok", "read": "5"}
    assert _report(served, upstream, "after") == {"status": "200", "end": "ok", "read": "5"}
    first, second = upstream.conns()
    assert first != second


@componentize_py
def test_a_body_not_read_to_its_end_is_not_reused(served: h3.Served, upstream: Upstream) -> None:
    got = _report(served, upstream, "half", limit=10)
    assert got == {"status": "200", "end": "dropped", "read": "50"}
    assert _report(served, upstream, "after") == {"status": "200", "end": "ok", "read": "5"}
    got = _report(served, upstream, "big", limit=100_000)
    assert got["status"] == "200" and got["end"] == "dropped"
    upstream.wait_ended(upstream.conns()[2])  # the client closed it
    assert _report(served, upstream, "after")["end"] == "ok"
    half, after, big, last = upstream.conns()
    assert half != after == big != last  # a complete response is kept, the rest are not


@componentize_py
def test_broken_responses_reach_the_guest_as_errors(served: h3.Served, upstream: Upstream) -> None:
    bad = _report(served, upstream, "badchunk")
    assert bad == {"status": "200", "end": "error:ErrorCode_HttpProtocolError", "read": "3"}
    cut = _report(served, upstream, "truncated")
    assert cut == {"status": "200", "end": "error:ErrorCode_HttpResponseIncomplete", "read": "10"}
    r, _ = served.request("GET", f"/report/{upstream.port}/9/bighead")
    assert r.status == 502
    assert r.getheader("x-error") == "ErrorCode_HttpResponseHeaderSectionSize"
    # none of these connections is kept: the next request opens a new one
    assert _report(served, upstream, "after")["end"] == "ok"
    assert len(set(upstream.conns())) == 4


# --- the host side ----------------------------------------------------------------------------


def _request(authority: str, path: str, method: Any = None, body: bytes | None = None) -> Any:
    store, http = h3._host_http()
    req = h3._host_request(store, authority, body, method=method or H.MethodGet())
    req.path_with_query = path
    return http, req


async def _send(
    up: Upstream, path: str, *, method: Any = None, limit: int | None = None
) -> tuple[Any, bytes, Any]:
    """One request from the host: (status or error, the body read, trailers or None)."""
    http, req = _request(f"127.0.0.1:{up.port}", path, method)
    r = await http.send(None, req)
    if isinstance(r, Err):
        return r.value, b"", None
    resp = r.value
    data = bytearray()
    contents = resp.body.contents
    if contents is not None:
        async for chunk in contents:
            data += bytes(chunk)
            if limit is not None and len(data) >= limit:
                contents.close()
                resp.body.trailers.close()
                return resp.status, bytes(data), None
    trailers = await resp.body.trailers if resp.body.trailers is not None else None
    return resp.status, bytes(data), trailers


def test_host_reuse_head_204_and_limits(upstream: Upstream) -> None:
    """GET, HEAD, 204 and a chunked response with trailers all keep the connection; a
    partial read and ``connection: close`` do not."""

    async def main() -> list[Any]:
        pool = hc.pool_for(asyncio.get_running_loop())
        out = [await _send(upstream, "/a")]
        out.append(await _send(upstream, "/b", method=H.MethodHead()))
        out.append(await _send(upstream, "/empty"))
        out.append(await _send(upstream, "/c", method=H.MethodPost()))
        out.append(await _send(upstream, "/half", limit=10))
        out.append(await _send(upstream, "/d"))
        out.append(await _send(upstream, "/close"))
        out.append(await _send(upstream, "/e"))
        # kept by scheme too: a plain connection never serves an https request
        key = (False, "127.0.0.1", upstream.port)
        assert pool.take((True, *key[1:])) is None
        conn = pool.take(key)
        assert conn is not None and conn.key == key
        pool.put(conn)
        out.append(pool.opened)
        pool.close()
        return out

    *results, opened = asyncio.run(main())
    a, head, empty, c, big, _, close, _ = results
    assert a[:2] == (200, b"pong:") and a[2].value.get("x-up-trailer") == [b"t2"]
    assert head[:2] == (200, b"")
    assert empty[:2] == (204, b"")
    assert c[:2] == (200, b"pong:")
    assert big[:2] == (200, b"h" * 50)
    assert close[:2] == (200, b"bye!\n")
    conns = upstream.conns()
    assert conns[0] == conns[1] == conns[2] == conns[3] == conns[4]
    assert conns[5] == conns[6] != conns[4]
    assert conns[7] != conns[6]
    assert opened == 3
    assert [s["method"] for s in upstream.seen[:4]] == ["GET", "HEAD", "GET", "POST"]


def test_host_framing_errors(upstream: Upstream) -> None:
    async def main() -> list[Any]:
        out = [await _send(upstream, p) for p in ("/badchunk", "/truncated", "/bighead")]
        hc.pool_for(asyncio.get_running_loop()).close()
        return out

    bad, cut, big = asyncio.run(main())
    assert bad[:2] == (200, b"abc") and bad[2] == Err(H.ErrorCodeHTTPProtocolError())
    assert cut[:2] == (200, b"0123456789")
    assert cut[2] == Err(H.ErrorCodeHTTPResponseIncomplete())
    assert isinstance(big[0], H.ErrorCodeHTTPResponseHeaderSectionSize)


def test_pool_bounds_and_idle_expiry(upstream: Upstream) -> None:
    """At most ``max_idle_per_host`` connections are kept; idle ones close after
    ``idle_timeout``; a kept connection the server closed is not used."""

    async def main() -> tuple[int, int, int]:
        pool = hc.pool_for(asyncio.get_running_loop())
        pool.limits = hc.PoolLimits(max_idle_per_host=2, max_idle=10, idle_timeout=0.3)
        await asyncio.gather(*(_send(upstream, f"/p{i}") for i in range(4)))
        kept = pool.count
        await asyncio.sleep(0.6)
        expired = pool.count
        await _send(upstream, "/q")
        await _send(upstream, "/r")
        opened = pool.opened
        pool.close()
        return kept, expired, opened

    kept, expired, opened = asyncio.run(main())
    assert (kept, expired) == (2, 0)
    assert opened == 5  # 4 at once, then 1 for /q and /r
    assert len(set(upstream.conns()[4:])) == 1
    assert not set(upstream.conns()[:4]) & set(upstream.conns()[4:])


def test_server_closing_a_kept_connection() -> None:
    """A server that answers once and closes (without saying so) leaves a kept connection
    that is dead: the next request notices and uses a new one."""

    async def main() -> tuple[list[Any], int]:
        accepted = 0

        async def once(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            nonlocal accepted
            accepted += 1
            await r.readuntil(b"\r\n\r\n")
            w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await w.drain()
            w.close()

        srv = await asyncio.start_server(once, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        out = []
        for _ in range(3):
            http, req = _request(f"127.0.0.1:{port}", "/")
            r = await http.send(None, req)
            assert isinstance(r, Ok), r
            data = bytearray()
            async for chunk in r.value.body.contents:
                data += bytes(chunk)
            out.append(bytes(data))
            await asyncio.sleep(0.05)
        srv.close()
        hc.pool_for(asyncio.get_running_loop()).close()
        return out, accepted

    assert asyncio.run(main()) == ([b"ok"] * 3, 3)


def test_request_head_and_authority() -> None:
    head = hc.request_head("POST", "/x?y", "h:8", [("a", b"1")], chunked=True, length=None)
    assert head == b"POST /x?y HTTP/1.1\r\nhost: h:8\r\na: 1\r\ntransfer-encoding: chunked\r\n\r\n"
    assert hc.request_head("GET", "/", "h", [], chunked=False, length=0).endswith(
        b"content-length: 0\r\n\r\n"
    )
    assert hc.split_authority("u@[::1]:81", False) == ("::1", 81, "[::1]:81")
    assert hc.split_authority("example.com", True) == ("example.com", 443, "example.com")
    assert hc.split_authority("h:notaport", False) is None
    assert hc.split_authority("", False) is None
    assert hc.host_field("h:443", 443, True) == "h" and hc.host_field("h:80", 80, True) == "h:80"


def test_between_bytes_and_first_byte_timeouts() -> None:
    """A body that stalls runs into between-bytes (connection-read-timeout on the body);
    a head that never comes, into first-byte. Neither connection is kept."""

    async def main() -> tuple[Any, Any, int]:
        async def stall(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            head = await r.readuntil(b"\r\n\r\n")
            if b"/body" in head:
                w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
            await r.read()  # until the client gives up
            w.close()

        srv = await asyncio.start_server(stall, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        out = []
        for path in ("/body", "/head"):
            http, req = _request(f"127.0.0.1:{port}", path)
            opts = wh.RequestOptions()
            opts.set_between_bytes_timeout(200_000_000)
            opts.set_first_byte_timeout(200_000_000)
            req.options = opts
            r = await http.send(None, req)
            if isinstance(r, Err):
                out.append(r.value)
                continue
            data = bytearray()
            async for chunk in r.value.body.contents:
                data += bytes(chunk)
            out.append((bytes(data), await r.value.body.trailers))
        pool = hc.pool_for(asyncio.get_running_loop())
        kept = pool.count
        srv.close()
        return out[0], out[1], kept

    body, head, kept = asyncio.run(main())
    assert body == (b"abc", Err(H.ErrorCodeConnectionReadTimeout()))
    assert head == H.ErrorCodeConnectionReadTimeout()
    assert kept == 0


def test_tls_connections_are_reused(tmp_path: Any) -> None:
    """https to a local TLS server (a certificate made here, which the client's context is
    told to trust): sequential requests share one TLS connection."""
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))

    async def main() -> tuple[list[Any], int]:
        conns = 0

        async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            nonlocal conns
            conns += 1
            try:
                while await r.readuntil(b"\r\n\r\n"):
                    w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nsec")
            except (asyncio.IncompleteReadError, ConnectionError):
                w.close()

        srv = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_ctx)
        port = srv.sockets[0].getsockname()[1]
        out = []
        for _ in range(3):
            store, http = h3._host_http()
            req = h3._host_request(store, f"localhost:{port}", None, scheme=H.SchemeHTTPS())
            r = await http.send(None, req)
            assert isinstance(r, Ok), r
            data = bytearray()
            async for chunk in r.value.body.contents:
                data += bytes(chunk)
            out.append(bytes(data))
        hc.pool_for(asyncio.get_running_loop()).close()
        srv.close()
        return out, conns

    saved, hc._TLS = hc._TLS, client_ctx
    try:
        assert asyncio.run(main()) == ([b"sec"] * 3, 1)
    finally:
        hc._TLS = saved
