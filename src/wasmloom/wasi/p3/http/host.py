"""The ``wasi:http`` 0.3.0 host of a store (:class:`WasiHttp`: ``types`` and ``client``)
and :func:`add_to_linker`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from wasmloom.host.accessor import Accessor
from wasmloom.host.linker import Linker
from wasmloom.host.streams import (
    FutureReader,
    StreamReader,
)
from wasmloom.values import Err, Ok
from wasmloom.wasi import http_client as hc
from wasmloom.wasi.p3._streams import Completion
from wasmloom.wasi.p3.bindings import wasi_http_client, wasi_http_types
from wasmloom.wasi.p3.bindings import wasi_http_types as H
from wasmloom.wasi.p3.http.bodies import (
    _EMPTY_CONTENTS,
    _NO_TRAILERS,
    Body,
    IncomingBody,
    _BodyProducer,
    _TrailersProducer,
    write_body,
)
from wasmloom.wasi.p3.http.client import _content_length, _wire_target
from wasmloom.wasi.p3.http.errors import _internal
from wasmloom.wasi.p3.http.fields import Fields
from wasmloom.wasi.p3.http.messages import Request, RequestOptions, Response, _seconds, method_name

__all__ = ["WasiHttp", "add_to_linker"]


class WasiHttp:
    """The ``wasi:http`` 0.3.0 host of one store (``types`` and ``client``).

    ``p3`` is the store's :class:`~wasmloom.wasi.p3.host.WasiP3` (it knows
    the store). ``default_timeout`` (seconds) bounds a connect and the wait for
    a response's first byte when the request sets no timeout.
    """

    def __init__(self, p3: Any, default_timeout: float | None = 600.0) -> None:
        self.p3 = p3
        self.default_timeout = default_timeout
        self._store: Any = None  # p3's, once bound (looked up per call otherwise)

    @property
    def store(self) -> Any:
        store = self._store
        if store is None:
            store = self._store = self.p3.store
        return store

    # -- types: constructors and static functions
    def fields_new(self) -> Fields:
        return Fields()

    # (parameters and results of the protocol's resource types are typed Any: the
    # generated protocols name the bindings' Host* protocols, these are their classes)
    def fields_from_list(self, entries: list[tuple[str, bytes]]) -> Any:
        return Fields.checked(entries)

    def request_new(
        self,
        headers: Any,
        contents: StreamReader[int] | None,
        trailers: FutureReader[Any],
        options: Any,
    ) -> Any:
        sent = Completion()
        req = Request(headers, Body(contents, trailers, sent), options)
        return req, FutureReader.new(self.store, sent)

    def response_new(
        self, headers: Any, contents: StreamReader[int] | None, trailers: FutureReader[Any]
    ) -> Any:
        sent = Completion()
        store = self._store or self.store
        return Response(headers, Body(contents, trailers, sent)), FutureReader.new(store, sent)

    def request_options_new(self) -> RequestOptions:
        return RequestOptions()

    def request_consume_body(self, this: Any, res: FutureReader[Any]) -> Any:
        """``consume-body`` of a request or a response (``response_consume_body`` too)."""
        body, this.body = this.body, None
        store = self._store or self.store
        contents = trailers = sent = None  # (body None: a request without a body)
        if body is not None:
            contents, trailers, sent = body.contents, body.trailers, body.sent
            body.contents = body.trailers = None
        if sent is not None:
            # the consumer's verdict is the one `new` promised
            async def forward() -> None:
                try:
                    sent.settle(await res)
                except Exception as e:
                    sent.settle(Err(_internal(f"consume-body result: {e}")))

            store.spawn(forward())
        else:
            res.close()
        if contents is None:
            contents = StreamReader.new(store, _EMPTY_CONTENTS)
        if trailers is None:
            trailers = FutureReader.new(store, _NO_TRAILERS)
        return contents, trailers

    response_consume_body = request_consume_body

    # -- bodies the host reads from a connection
    def incoming_body(self, body: IncomingBody | None) -> Body:
        """A :class:`Body` for the guest whose contents and trailers come from ``body``."""
        store = self._store or self.store
        if body is None:
            return Body(None, None)
        producer = _BodyProducer(store, body)
        ends = _TrailersProducer(store, body)
        trailers = FutureReader.new(store, ends)
        ends.shared = trailers.shared
        return Body(StreamReader.new(store, producer), trailers)

    # -- client
    async def send(self, accessor: Accessor[Any, Any], request: Any) -> Any:
        """``wasi:http/client.send``: HTTP/1.1 to the request's authority."""
        body = request.body
        request.body = None
        if body is None:
            body = Body(None, None)
        try:
            result = await self._send(request, body)
        except asyncio.CancelledError:
            body.close(_internal("send was cancelled"))
            raise
        if isinstance(result, Err):
            body.close(result.value)
        return result

    async def _send(self, request: Request, body: Body) -> Ok[Response] | Err[Any]:
        # The request must make a URI before anything is sent or read: a scheme
        # other than http/https is a protocol error (as in Wasmtime), a missing
        # authority an invalid URI; no path-with-query goes out as "/" (WASI issue
        # 949, checked by wasi-testsuite's http-client-path-none). Failing here, in
        # the call's first step, :meth:`send` closes the body before the guest's
        # writes to it wait for a reader.
        scheme = request.scheme
        tls = isinstance(scheme, H.SchemeHTTPS)
        if isinstance(scheme, H.SchemeOther):
            return Err(H.ErrorCodeHTTPProtocolError())
        where = hc.split_authority(request.authority or "", tls)
        if where is None:
            return Err(H.ErrorCodeHTTPRequestURIInvalid())
        host, port, hostport = where
        method = method_name(request.method)
        headers = request.headers.entries
        limit = _content_length(headers)
        if limit is not None and limit < 0:
            return Err(H.ErrorCodeHTTPRequestHeaderSize(None))
        chunked = limit is None and body.contents is not None
        no_length = limit is not None or chunked or method not in ("POST", "PUT", "PATCH")
        head = hc.request_head(
            method,
            _wire_target(request.path_with_query),
            hc.host_field(hostport, port, tls),
            headers,
            chunked=chunked,
            length=None if no_length else 0,
        )
        sent = body.sent
        body.sent = None
        store = self.store

        def start_body(writer: asyncio.StreamWriter) -> asyncio.Future[Any]:
            task = store.spawn(
                write_body(
                    writer,
                    body,
                    chunked=chunked,
                    limit=limit,
                    size_error=lambda n: H.ErrorCodeHTTPRequestBodySize(n),
                )
            )
            if sent is not None:

                def settle(t: asyncio.Task[Any]) -> None:
                    c = t.cancelled()
                    sent.settle(Err(_internal("send was cancelled")) if c else t.result())

                task.add_done_callback(settle)
            return task  # type: ignore[no-any-return]

        opts = request.options
        connect_t = _seconds(opts.connect) if opts and opts.connect is not None else None
        first_t = _seconds(opts.first_byte) if opts and opts.first_byte is not None else None
        got = await hc.exchange(
            hc.pool_for(asyncio.get_running_loop()),
            (tls, host, port),
            head,
            start_body,
            head_only=method == "HEAD",
            connect_timeout=connect_t if connect_t is not None else self.default_timeout,
            first_byte_timeout=first_t if first_t is not None else self.default_timeout,
            between_bytes_timeout=_seconds(opts.between_bytes) if opts else None,
        )
        if isinstance(got, Err):
            if sent is not None:
                sent.settle(got)  # a no-op once the body's own result is in
            return got
        status, fields, incoming = got.value
        return Ok(Response(Fields(fields), self.incoming_body(incoming), status))


def add_to_linker(linker: Linker, getter: Callable[[Any], WasiHttp]) -> None:
    """Define ``wasi:http/types`` and ``wasi:http/client`` 0.3.0 in ``linker``.

    ``getter(store.data)`` is the store's :class:`WasiHttp`.
    """
    wasi_http_types.add_to_linker(linker, getter)
    wasi_http_client.add_to_linker(linker, getter)
