"""Two real componentize-py http apps, one per wasi:http world, for tests and bench/serve.py.

Both serve the same two routes, as a small service would:

- ``POST /echo``: the request body back, streamed chunk by chunk as it comes
  (never whole in the guest's memory), with the request's ``content-type``;
- ``GET /hash-all``: fetches every URL given in a ``url`` request field
  concurrently (outgoing wasi:http requests), hashing each body as it arrives,
  and streams back one line ``URL: SHA-256-HEX`` per URL as each finishes
  (``URL: error ...`` for a failure or a status other than 2xx).

:func:`proxy_p2` is the ``wasi:http/proxy`` (0.2) version: a blocking
``incoming-handler`` that multiplexes its outgoing requests with
``wasi:io/poll``. :func:`service_p3` is the ``wasi:http/service`` (0.3) version:
an ``async`` handler whose fetches are asyncio tasks. Both are built against
the project's own WIT (src/wasmloom/wasi/wit), once per checkout
(tests/cpy_build.py caches them under tests/.cache).
"""

from __future__ import annotations

from pathlib import Path

from cpy_build import build

WIT = Path(__file__).resolve().parents[1] / "src" / "wasmloom" / "wasi" / "wit"

_P2_WIT = "package local:apps;\n\nworld proxy-app {\n  include wasi:http/proxy@0.2.9;\n}\n"

_P2_PY = """import hashlib
from urllib.parse import urlsplit

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import outgoing_handler, poll, streams
from wit_world.imports.types import (
    Fields,
    Method_Get,
    Method_Post,
    OutgoingBody,
    OutgoingRequest,
    OutgoingResponse,
    ResponseOutparam,
    Scheme_Http,
    Scheme_Https,
)

CHUNK = 65536


def send_all(out, data):
    # Writes all of data to the output stream, waiting while it is full.
    view = memoryview(data)
    while view:
        room = out.check_write()
        if room == 0:
            with out.subscribe() as ready:
                ready.block()
            continue
        out.write(bytes(view[:room]))
        view = view[room:]


def start(out, status, fields):
    # Sends the response head; returns its body, to stream into.
    resp = OutgoingResponse(Fields.from_list(fields))
    resp.set_status_code(status)
    body = resp.body()
    ResponseOutparam.set(out, Ok(resp))
    return body


def finish(body):
    try:
        OutgoingBody.finish(body, None)
    except Err:
        pass  # the client went away before the end: nobody to tell


def echo(request, out):
    fields = [(k, v) for k, v in request.headers().entries() if k == "content-type"]
    incoming = request.consume()
    body = start(out, 200, fields)
    with incoming:
        with incoming.stream() as src, body.write() as dst:
            try:
                while True:
                    try:
                        chunk = src.blocking_read(CHUNK)
                    except Err as e:
                        if isinstance(e.value, streams.StreamError_Closed):
                            break
                        raise
                    send_all(dst, chunk)
                dst.blocking_flush()
            except Err:
                return  # the client went away (or sent a broken body): nobody to answer
    finish(body)


class Fetch:
    # One outgoing GET, advanced by step() each time its pollable is ready.

    def __init__(self, url):
        self.url = url
        self.hash = hashlib.sha256()
        self.future = self.pollable = self.resp = self.body = self.stream = None
        self.error = None
        parts = urlsplit(url)
        req = OutgoingRequest(Fields())
        req.set_method(Method_Get())
        req.set_scheme(Scheme_Https() if parts.scheme == "https" else Scheme_Http())
        req.set_authority(parts.netloc)
        req.set_path_with_query((parts.path or "/") + ("?" + parts.query if parts.query else ""))
        try:
            self.future = outgoing_handler.handle(req, None)
        except Err as e:
            self.error = "error " + type(e.value).__name__
            return
        self.pollable = self.future.subscribe()

    def step(self):
        # Returns the result line once this fetch is over, else None.
        if self.error is not None:
            return self.finish(self.error)
        if self.future is not None:
            got = self.future.get()
            if got is None:
                return None
            self.drop()
            resp = got.value
            if isinstance(resp, Err):
                return self.finish("error " + type(resp.value).__name__)
            self.resp = resp.value
            status = self.resp.status()
            if not 200 <= status < 300:
                return self.finish("error status %d" % status)
            self.body = self.resp.consume()
            self.stream = self.body.stream()
            self.pollable = self.stream.subscribe()
            return None
        try:
            self.hash.update(self.stream.read(CHUNK))
        except Err as e:
            if isinstance(e.value, streams.StreamError_Closed):
                return self.finish(self.hash.hexdigest())
            return self.finish("error reading the body")
        return None

    def drop(self):
        # Children before parents: pollable, stream, body, response; the future.
        for handle in (self.pollable, self.stream, self.body, self.resp, self.future):
            if handle is not None:
                handle.__exit__(None, None, None)
        self.future = self.pollable = self.resp = self.body = self.stream = None

    def finish(self, result):
        self.drop()
        return ("%s: %s" % (self.url, result)).encode() + bytes([10])


def hash_all(request, out):
    urls = [v.decode() for k, v in request.headers().entries() if k == "url"]
    body = start(out, 200, [("content-type", b"text/plain")])
    pending = [Fetch(url) for url in urls]
    lines = [f.step() for f in pending if f.error is not None]
    pending = [f for f in pending if f.error is None]
    with body.write() as dst:
        try:
            for line in lines:
                send_all(dst, line)
            while pending:
                ready = poll.poll([f.pollable for f in pending])
                for i in sorted(ready, reverse=True):
                    line = pending[i].step()
                    if line is not None:
                        del pending[i]
                        send_all(dst, line)
                        dst.blocking_flush()
        except Err:
            for f in pending:
                f.drop()
            return  # the client went away
    finish(body)


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request, response_out):
        path = request.path_with_query()
        method = request.method()
        if path == "/echo" and isinstance(method, Method_Post):
            echo(request, response_out)
        elif path == "/hash-all" and isinstance(method, Method_Get):
            hash_all(request, response_out)
        else:
            finish(start(response_out, 404, []))
"""

_P3_WIT = "package local:apps;\n\nworld service-app {\n  include wasi:http/service@0.3.0;\n}\n"

_P3_PY = """import asyncio
import hashlib
from urllib.parse import urlsplit

import componentize_py_async_support as cas
import wit_world
from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import client
from wit_world.imports.wasi_http_types import (
    Fields,
    Method_Get,
    Method_Post,
    Request,
    Response,
    Scheme_Http,
    Scheme_Https,
)

CHUNK = 65536


def trailers_future(value=None):
    # A future of the trailers (none unless given), for a request or response.
    make = wit_world.result_option_wasi_http_types_fields_wasi_http_types_error_code_future
    return make(lambda: Ok(value))


def done_future():
    # The future a body's consumer resolves when it is done with it.
    return wit_world.result_unit_wasi_http_types_error_code_future(lambda: Ok(None))


def response(status, fields, body, trailers):
    resp, _sent = Response.new(Fields.from_list(fields), body, trailers)
    resp.set_status_code(status)
    return resp


async def copy(src, req_trailers, dst, trailers_tx, done_tx):
    # The request body into the response body, chunk by chunk, then the trailers.
    with src, dst, done_tx:
        while not src.writer_dropped:
            chunk = await src.read(CHUNK)
            if chunk:
                await dst.write_all(chunk)
    result = await req_trailers.read()
    await trailers_tx.write(result)


async def fetch(url):
    # One line: the URL and the SHA-256 of its body, hashed as it arrives.
    parts = urlsplit(url)
    done_tx, done_rx = done_future()
    req, _sent = Request.new(Fields(), None, trailers_future()[1], None)
    req.set_method(Method_Get())
    req.set_scheme(Scheme_Https() if parts.scheme == "https" else Scheme_Http())
    req.set_authority(parts.netloc)
    req.set_path_with_query((parts.path or "/") + ("?" + parts.query if parts.query else ""))
    try:
        resp = await client.send(req)
    except Err as e:
        return "%s: error %s" % (url, type(e.value).__name__)
    status = resp.get_status_code()
    if not 200 <= status < 300:
        return "%s: error status %d" % (url, status)
    body, _trailers = Response.consume_body(resp, done_rx)
    digest = hashlib.sha256()
    with body, done_tx:
        while not body.writer_dropped:
            digest.update(await body.read(CHUNK))
    return "%s: %s" % (url, digest.hexdigest())


async def hash_all(urls, dst):
    lines = asyncio.Queue()

    async def one(url):
        await lines.put(await fetch(url))

    for url in urls:
        cas.spawn(one(url))
    with dst:
        for _ in urls:
            await dst.write_all((await lines.get()).encode() + bytes([10]))


class Handler(exports.Handler):
    async def handle(self, request):
        path = request.get_path_with_query()
        method = request.get_method()
        fields = request.get_headers().copy_all()
        if path == "/echo" and isinstance(method, Method_Post):
            done_tx, done_rx = done_future()
            src, req_trailers = Request.consume_body(request, done_rx)
            dst_tx, dst_rx = wit_world.byte_stream()
            tr_tx, tr_rx = trailers_future()
            cas.spawn(copy(src, req_trailers, dst_tx, tr_tx, done_tx))
            kept = [(k, v) for k, v in fields if k == "content-type"]
            return response(200, kept, dst_rx, tr_rx)
        if path == "/hash-all" and isinstance(method, Method_Get):
            urls = [v.decode() for k, v in fields if k == "url"]
            dst_tx, dst_rx = wit_world.byte_stream()
            cas.spawn(hash_all(urls, dst_tx))
            return response(200, [("content-type", b"text/plain")], dst_rx, trailers_future()[1])
        return response(404, [], None, trailers_future()[1])
"""


def _files(version: str, app_wit: str, app_py: str) -> dict[str, str]:
    root = WIT / version
    files = {"wit/app.wit": app_wit, "app.py": app_py}
    files["wit/deps/cli/cli.wit"] = (root / "cli.wit").read_text()
    for f in sorted((root / "deps").rglob("*.wit")):
        files[f"wit/deps/{f.relative_to(root / 'deps')}"] = f.read_text()
    return files


def proxy_p2() -> Path:
    """The ``wasi:http/proxy@0.2.9`` app, built (or from the cache)."""
    return build("apps-proxy-p2", _files("0.2", _P2_WIT, _P2_PY), wit="wit", world="proxy-app")


def service_p3() -> Path:
    """The ``wasi:http/service@0.3.0`` app, built (or from the cache)."""
    return build(
        "apps-service-p3", _files("0.3.0", _P3_WIT, _P3_PY), wit="wit", world="service-app"
    )
