"""The wasi:http 0.3 service that tests/test_serve*.py and tests/test_asgi*.py serve.

Python built by componentize-py against the project's WIT (world
``wasi:http/service``), once per checkout (tests/cpy_build.py). Routes:

- ``/echo``: the request body and trailers back, as they come;
- ``/fields``: the request's authority and field names, as response fields;
- ``/read``: reads the whole request body and its trailers, then answers
  ``ok N`` or ``error CODE`` (what the guest's body stream ended with);
- ``/trailers``: ``hello`` with a trailer ``x-t: 1``;
- ``/partial-trap``: sends the head and ``partial body``, then traps;
- anything else: ``hello``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from cpy_build import build

WIT03 = Path(__file__).resolve().parents[1] / "src" / "wasmloom" / "wasi" / "wit" / "0.3.0"

_APP_WIT = "package local:svc;\n\nworld app {\n  include wasi:http/service@0.3.0;\n}\n"

_APP_PY = """import componentize_py_async_support as cas
import wit_world
from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import wasi_http_types as t


def _trailers():
    return wit_world.result_option_wasi_http_types_fields_wasi_http_types_error_code_future(
        lambda: Ok(None)
    )


def _res():
    return wit_world.result_unit_wasi_http_types_error_code_future(lambda: Ok(None))


def respond(status, headers, data=b"", trailers=None, trap=False):
    tr_tx, tr_rx = _trailers()
    tx, body = wit_world.byte_stream()

    async def write():
        with tx:
            await tx.write_all(data)
            if trap:
                raise RuntimeError("the guest fails after its response")
        await tr_tx.write(Ok(t.Fields.from_list(trailers) if trailers else None))

    cas.spawn(write())
    resp, _sent = t.Response.new(t.Fields.from_list(headers), body, tr_rx)
    resp.set_status_code(status)
    return resp


class Handler(exports.Handler):
    async def handle(self, request):
        path = request.get_path_with_query() or "/"
        if path == "/echo":
            res_tx, res_rx = _res()
            body, trailers = t.Request.consume_body(request, res_rx)
            with res_tx:
                pass
            resp, _sent = t.Response.new(t.Fields(), body, trailers)
            return resp
        if path == "/fields":
            names = [k for k, _ in request.get_headers().copy_all()]
            out = [("x-authority", (request.get_authority() or "-").encode())]
            out.append(("x-names", ",".join(names).encode()))
            return respond(200, out)
        if path == "/read":
            res_tx, res_rx = _res()
            body, trailers = t.Request.consume_body(request, res_rx)
            n = 0
            with body:
                while not body.writer_dropped:
                    n += len(await body.read(65536))
            result = await trailers.read()
            with res_tx:
                pass
            if isinstance(result, Err):
                name = type(result.value).__name__.split("_", 1)[-1]
                return respond(200, [], ("error " + name).encode())
            return respond(200, [], ("ok %d" % n).encode())
        if path == "/trailers":
            return respond(200, [], b"hello", trailers=[("x-t", b"1")])
        if path == "/partial-trap":
            return respond(200, [], b"partial body", trap=True)
        return respond(200, [("content-type", b"text/plain")], b"hello")
"""


def guest() -> Path:
    files = {"wit/app.wit": _APP_WIT, "app.py": _APP_PY}
    files["wit/deps/cli/cli.wit"] = (WIT03 / "cli.wit").read_text()
    for f in sorted((WIT03 / "deps").rglob("*.wit")):
        files[f"wit/deps/{f.relative_to(WIT03 / 'deps')}"] = f.read_text()
    return build("serve-service", files, wit="wit", world="app")


async def asgi_call(app: Any, path: str, body: bytes = b"", trailers: bool = False) -> list[Any]:
    """The ASGI messages ``app`` sends for one request to ``path`` (GET, or POST of ``body``
    in messages of 1,000 bytes), driven directly (``trailers``: the server offers response
    trailers)."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "2",
        "method": "POST" if body else "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"h:1")]
        + ([(b"content-length", str(len(body)).encode())] if body else []),
        "server": ("127.0.0.1", 80),
        "extensions": {"http.response.trailers": {}} if trailers else {},
    }
    chunks = [body[i : i + 1000] for i in range(0, len(body), 1000)] or [b""]
    incoming = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    sent: list[Any] = []

    async def receive() -> Any:
        if incoming:
            return incoming.pop(0)
        await asyncio.sleep(3600)

    async def send(msg: Any) -> None:
        sent.append(msg)

    await app(scope, receive, send)
    return sent
