"""The 0.2 ``wasi:http`` host (:class:`WasiHttpP2`: ``types`` and the ``outgoing-handler``
client), :func:`host_for` and :func:`add_to_linker`."""

from __future__ import annotations

import asyncio
import ssl
import urllib.parse
from collections.abc import Callable
from typing import Any

from wasmloom.host.linker import Linker
from wasmloom.values import Err, Ok
from wasmloom.wasi.ctx import WasiCtx
from wasmloom.wasi.p2.bindings import wasi_http_outgoing_handler, wasi_http_types
from wasmloom.wasi.p2.bindings import wasi_http_types as H2
from wasmloom.wasi.p2.http.common import Fields, LoopBridge
from wasmloom.wasi.p2.http.incoming import FutureTrailers, IncomingBody, IncomingResponse
from wasmloom.wasi.p2.http.outgoing import (
    FutureIncomingResponse,
    OutgoingRequest,
    OutgoingResponse,
    RequestOptions,
    WireSink,
)
from wasmloom.wasi.p3 import http as wh
from wasmloom.wasi.p3.http import client as wire
from wasmloom.wasi.p3.http import errors as werr
from wasmloom.wasi.p3.http import fields as wfields

__all__ = ["WasiHttpP2", "add_to_linker", "host_for", "host_hdr"]


def _seconds(ns: int | None) -> float | None:
    return None if ns is None else ns / 1e9


class WasiHttpP2:
    """``wasi:http/types`` and ``wasi:http/outgoing-handler`` 0.2 of one store.

    ``default_timeout`` (seconds) bounds a connect and the wait for a
    response's first byte when the request sets no timeout.
    """

    def __init__(self, bridge: LoopBridge | None = None, default_timeout: float = 600.0) -> None:
        self.bridge = bridge if bridge is not None else LoopBridge()
        self.default_timeout = default_timeout

    # -- types
    def http_error_code(self, err: Any) -> Any:
        return getattr(err, "http_code", None)

    def fields_new(self) -> Fields:
        return Fields()

    def fields_from_list(self, entries: list[tuple[str, bytes]]) -> Any:
        r = wh.Fields.checked(entries)
        return Ok(Fields(r.value)) if isinstance(r, Ok) else r

    def outgoing_request_new(self, headers: Any) -> OutgoingRequest:
        return OutgoingRequest(self.bridge, headers)

    def request_options_new(self) -> RequestOptions:
        return RequestOptions()

    def response_outparam_set(self, param: Any, response: Any) -> None:
        param.set(response)

    def incoming_body_finish(self, this: Any) -> FutureTrailers:
        return this.finish_trailers()  # type: ignore[no-any-return]

    def outgoing_response_new(self, headers: Any) -> OutgoingResponse:
        return OutgoingResponse(self.bridge, headers)

    def outgoing_body_finish(self, this: Any, trailers: Any) -> Any:
        return this.finish(trailers)

    # -- outgoing-handler
    def handle(self, request: Any, options: Any) -> Any:
        """``outgoing-handler.handle``: HTTP/1.1 to the request's authority, on the loop."""
        req: OutgoingRequest = request
        if isinstance(req._scheme, H2.SchemeOther) or not req._authority:
            return Err(H2.ErrorCodeHTTPRequestURIInvalid())
        return Ok(FutureIncomingResponse(self.bridge.submit(self._send(req, options))))

    async def _send(self, req: OutgoingRequest, opts: RequestOptions | None) -> Any:
        tls = isinstance(req._scheme, H2.SchemeHTTPS)
        authority = req._authority or ""
        hostport = authority.rpartition("@")[2]
        try:
            parts = urllib.parse.urlsplit("//" + hostport)
            host, port = parts.hostname or "", parts.port or (443 if tls else 80)
        except ValueError:
            return Err(H2.ErrorCodeHTTPRequestURIInvalid())
        connect_t = _seconds(opts.connect) if opts else None
        first_t = _seconds(opts.first_byte) if opts else None
        between_t = _seconds(opts.between_bytes) if opts else None
        ctx = ssl.create_default_context() if tls else None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    host, port, ssl=ctx, server_hostname=host if tls else None, limit=65536
                ),
                connect_t if connect_t is not None else self.default_timeout,
            )
        except asyncio.CancelledError:
            req.pipe.abandon(H2.ErrorCodeInternalError("cancelled"))
            raise
        except BaseException as e:
            req.pipe.abandon(werr._connect_error(e))
            return Err(werr._connect_error(e))
        try:
            return await self._exchange(
                req, host_hdr(hostport, port, tls), reader, writer, first_t, between_t
            )
        except BaseException:
            writer.close()
            raise

    async def _exchange(
        self,
        req: OutgoingRequest,
        host: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        first_t: float | None,
        between_t: float | None,
    ) -> Any:
        method = wh.method_name(req._method)
        entries = req.fields.entries
        limit = wire._content_length(entries)
        if limit is not None and limit < 0:
            writer.close()
            return Err(H2.ErrorCodeHTTPRequestHeaderSize(None))
        # framing: the declared length; else the length of a body already complete;
        # else chunked. A body never asked for is empty.
        chunked = False
        extra = b""
        if limit is None:
            size = req.pipe.known_size() if req.body_taken else 0
            if size is None:
                chunked = True
                extra = b"transfer-encoding: chunked\r\n"
            else:
                limit = size
                if size or method in ("POST", "PUT", "PATCH"):
                    extra = b"content-length: %d\r\n" % size
        head = [f"{method} {wire._wire_target(req._path)} HTTP/1.1\r\n".encode("latin-1")]
        head.append(b"host: " + host.encode("latin-1") + b"\r\n")
        head.append(wfields._fields_bytes(entries))
        head.append(extra + b"connection: close\r\n\r\n")
        writer.write(b"".join(head))
        sink = WireSink(writer, chunked, limit, H2.ErrorCodeHTTPRequestBodySize)
        conn = wire._Connection(writer)
        sink.done.add_done_callback(lambda _: conn.release())
        req.pipe.attach(sink)
        if not req.body_taken:
            req.pipe.end_unused()
        head_task = asyncio.ensure_future(
            asyncio.wait_for(
                wire._read_head(reader), first_t if first_t is not None else self.default_timeout
            )
        )
        try:
            await asyncio.wait({sink.done, head_task}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            head_task.cancel()
            raise
        if sink.done.done() and isinstance(sink.done.result(), Err):
            head_task.cancel()
            conn.abort()
            return sink.done.result()
        try:
            status, fields = await head_task
        except (TimeoutError, wire._HeadError, OSError, asyncio.IncompleteReadError) as e:
            conn.abort()
            sink.abort(H2.ErrorCodeConnectionTerminated())
            if isinstance(e, TimeoutError):
                return Err(H2.ErrorCodeConnectionReadTimeout())
            if isinstance(e, wire._HeadError):
                return Err(e.code)
            return Err(H2.ErrorCodeHTTPResponseIncomplete())
        no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
        te = b",".join(v for k, v in fields if k == "transfer-encoding").lower()
        length = wire._content_length(fields)
        if (length is not None and length < 0) or (te and te.split(b",")[-1].strip() != b"chunked"):
            conn.abort()
            return Err(H2.ErrorCodeHTTPProtocolError())
        incoming: wh.IncomingBody | None = None
        if not no_body:
            incoming = wh.IncomingBody(
                reader, chunked=bool(te), length=None if te else length,
                between_bytes=between_t, is_response=True,
            )  # fmt: skip
        if incoming is None or incoming.done:
            conn.release()
        else:
            incoming.on_end = conn.release
        headers = wh.Fields([(k, v) for k, v in fields if k != "transfer-encoding"], True)
        return Ok(IncomingResponse(status, headers, IncomingBody(self.bridge, incoming)))


def host_hdr(hostport: str, port: int, tls: bool) -> str:
    """The ``host`` field of a request to ``hostport`` (the default port left out)."""
    default = 443 if tls else 80
    if port == default and hostport.endswith(f":{port}"):
        return hostport[: -len(f":{port}")]
    return hostport


def host_for(ctx: WasiCtx) -> WasiHttpP2:
    """The :class:`WasiHttpP2` of ``ctx`` (made once, kept in ``ctx.hosts["p2-http"]``)."""
    h = ctx.hosts.get("p2-http")
    if h is None:
        h = ctx.hosts["p2-http"] = WasiHttpP2()
    assert isinstance(h, WasiHttpP2)
    return h


def add_to_linker(linker: Linker, getter: Callable[[Any], WasiHttpP2]) -> None:
    """Define ``wasi:http/types`` and ``wasi:http/outgoing-handler`` 0.2.9 in ``linker``
    (they serve imports of any 0.2.x); ``getter(store.data)`` is the store's :class:`WasiHttpP2`.
    """
    get: Callable[[Any], Any] = getter
    wasi_http_types.add_to_linker(linker, get)
    wasi_http_outgoing_handler.add_to_linker(linker, get)
