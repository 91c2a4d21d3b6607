"""The 0.2 ``wasi:http`` host (:class:`WasiHttpP2`: ``types`` and the ``outgoing-handler``
client), :func:`host_for` and :func:`add_to_linker`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from wasmloom.host.linker import Linker
from wasmloom.values import Err, Ok
from wasmloom.wasi import http_client as hc
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

__all__ = ["WasiHttpP2", "add_to_linker", "host_for", "host_hdr"]


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
        where = hc.split_authority(req._authority or "", tls)
        if where is None:
            req.pipe.abandon(H2.ErrorCodeHTTPRequestURIInvalid())
            return Err(H2.ErrorCodeHTTPRequestURIInvalid())
        host, port, hostport = where
        method = wh.method_name(req._method)
        entries = req.fields.entries
        limit = wire._content_length(entries)
        if limit is not None and limit < 0:
            req.pipe.abandon(H2.ErrorCodeHTTPRequestHeaderSize(None))
            return Err(H2.ErrorCodeHTTPRequestHeaderSize(None))
        # framing: the declared length; else the length of a body already complete;
        # else chunked. A body never asked for is empty.
        chunked = False
        length: int | None = None
        if limit is None:
            size = req.pipe.known_size() if req.body_taken else 0
            if size is None:
                chunked = True
            else:
                limit = size
                if size or method in ("POST", "PUT", "PATCH"):
                    length = size
        head = hc.request_head(
            method,
            wire._wire_target(req._path),
            hc.host_field(hostport, port, tls),
            entries,
            chunked=chunked,
            length=length,
        )
        sinks: list[WireSink] = []

        def start_body(writer: asyncio.StreamWriter) -> asyncio.Future[Any]:
            sink = WireSink(writer, chunked, limit, H2.ErrorCodeHTTPRequestBodySize)
            sinks.append(sink)
            req.pipe.attach(sink)
            if not req.body_taken:
                req.pipe.end_unused()
            return sink.done

        def seconds(name: str, default: float | None) -> float | None:
            ns = None if opts is None else getattr(opts, name)
            return default if ns is None else float(ns) / 1e9

        try:
            got = await hc.exchange(
                hc.pool_for(asyncio.get_running_loop()),
                (tls, host, port),
                head,
                start_body,
                head_only=method == "HEAD",
                connect_timeout=seconds("connect", self.default_timeout),
                first_byte_timeout=seconds("first_byte", self.default_timeout),
                between_bytes_timeout=seconds("between_bytes", None),
            )
        except asyncio.CancelledError:
            req.pipe.abandon(H2.ErrorCodeInternalError("cancelled"))
            raise
        if isinstance(got, Err):
            req.pipe.abandon(got.value)
            for sink in sinks:
                sink.abort(H2.ErrorCodeConnectionTerminated())
            return got
        status, fields, incoming = got.value
        headers = wh.Fields(fields, True)
        return Ok(IncomingResponse(status, headers, IncomingBody(self.bridge, incoming)))


host_hdr = hc.host_field


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
