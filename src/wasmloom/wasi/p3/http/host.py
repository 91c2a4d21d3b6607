"""The ``wasi:http`` 0.3.0 host of a store (:class:`WasiHttp`: ``types`` and ``client``)
and :func:`add_to_linker`."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

from wasmloom import types as T
from wasmloom.host.accessor import Accessor
from wasmloom.host.linker import Linker
from wasmloom.host.streams import (
    BytesProducer,
    FutureReader,
    StreamReader,
    ValueFutureProducer,
)
from wasmloom.values import Err, Ok
from wasmloom.wasi.p3._streams import Completion
from wasmloom.wasi.p3.bindings import wasi_http_client, wasi_http_types
from wasmloom.wasi.p3.bindings import wasi_http_types as H
from wasmloom.wasi.p3.http.bodies import (
    Body,
    IncomingBody,
    _BodyProducer,
    _TrailersProducer,
    write_body,
)
from wasmloom.wasi.p3.http.client import (
    _MAX_HEAD,
    _Connection,
    _content_length,
    _HeadError,
    _read_head,
    _wire_target,
)
from wasmloom.wasi.p3.http.errors import _connect_error, _internal
from wasmloom.wasi.p3.http.fields import Fields, _fields_bytes, _FieldsBridge
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
        self.fields_rt: T.ResourceType | None = None

    @property
    def store(self) -> Any:
        return self.p3.store

    def _bridge(self) -> _FieldsBridge | None:
        """How trailers reach a guest (None before linking: host readers get :class:`Fields`)."""
        return None if self.fields_rt is None else _FieldsBridge(self.fields_rt)

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
        return Response(headers, Body(contents, trailers, sent)), FutureReader.new(self.store, sent)

    def request_options_new(self) -> RequestOptions:
        return RequestOptions()

    def request_consume_body(self, this: Any, res: FutureReader[Any]) -> Any:
        body, this.body = this.body, None
        return self._consume(body, res)

    def response_consume_body(self, this: Any, res: FutureReader[Any]) -> Any:
        body, this.body = this.body, None
        return self._consume(body, res)

    def _consume(
        self, body: Body | None, res: FutureReader[Any]
    ) -> tuple[StreamReader[Any], FutureReader[Any]]:
        store = self.store
        if body is None:  # cannot happen through the bindings: `this` is owned
            body = Body(None, None)
        sent = body.sent
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
        contents = body.contents or StreamReader.new(store, BytesProducer(b""))
        trailers = body.trailers or FutureReader.new(store, ValueFutureProducer(Ok(None)))
        body.contents = body.trailers = None
        return contents, trailers

    # -- bodies the host reads from a connection
    def incoming_body(self, body: IncomingBody | None) -> Body:
        """A :class:`Body` for the guest whose contents and trailers come from ``body``."""
        store = self.store
        if body is None:
            return Body(None, None)
        producer = _BodyProducer(store, body)
        trailers = FutureReader.new(store, _TrailersProducer(store, body, self._bridge))
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
        authority = request.authority
        if not authority:
            return Err(H.ErrorCodeHTTPRequestURIInvalid())
        hostport = authority.rpartition("@")[2]
        if hostport.startswith("["):
            end = hostport.find("]")
            host, port_s = hostport[1:end], hostport[end + 2 :]
        else:
            host, _, port_s = hostport.partition(":")
        port = int(port_s) if port_s else (443 if tls else 80)
        opts = request.options
        connect_t = _seconds(opts.connect) if opts and opts.connect is not None else None
        first_t = _seconds(opts.first_byte) if opts and opts.first_byte is not None else None
        between_t = _seconds(opts.between_bytes) if opts else None
        ctx = ssl.create_default_context() if tls else None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    host, port, ssl=ctx, server_hostname=host if tls else None, limit=_MAX_HEAD
                ),
                connect_t if connect_t is not None else self.default_timeout,
            )
        except BaseException as e:
            if isinstance(e, asyncio.CancelledError):
                raise
            return Err(_connect_error(e))
        try:
            return await self._exchange(
                request, body, host, port, tls, reader, writer, first_t, between_t
            )
        except BaseException:
            writer.close()
            raise

    async def _exchange(
        self,
        request: Request,
        body: Body,
        host: str,
        port: int,
        tls: bool,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        first_t: float | None,
        between_t: float | None,
    ) -> Ok[Response] | Err[Any]:
        method = method_name(request.method)
        target = _wire_target(request.path_with_query)
        headers = request.headers.entries
        limit = _content_length(headers)
        if limit is not None and limit < 0:
            writer.close()
            return Err(H.ErrorCodeHTTPRequestHeaderSize(None))
        chunked = limit is None and body.contents is not None
        head = [f"{method} {target} HTTP/1.1\r\n".encode("latin-1")]
        default_port = 443 if tls else 80
        host_hdr = request.authority.rpartition("@")[2] if request.authority else host
        if port == default_port and host_hdr.endswith(f":{port}"):
            host_hdr = host_hdr[: -len(f":{port}")]
        head.append(b"host: " + host_hdr.encode("latin-1") + b"\r\n")
        head.append(_fields_bytes(headers))
        if chunked:
            head.append(b"transfer-encoding: chunked\r\n")
        elif limit is None and method in ("POST", "PUT", "PATCH"):
            head.append(b"content-length: 0\r\n")
        head.append(b"connection: close\r\n\r\n")
        writer.write(b"".join(head))
        sent = body.sent
        body.sent = None
        # The body goes out while the response is awaited (a server may answer early);
        # a body that fails first fails the send, as no response may then be trusted.
        conn = _Connection(writer)
        body_task = self.store.spawn(
            write_body(
                writer,
                body,
                chunked=chunked,
                limit=limit,
                size_error=lambda n: H.ErrorCodeHTTPRequestBodySize(n),
            )
        )

        def body_done(t: asyncio.Task[Any]) -> None:
            result = Err(_internal("send was cancelled")) if t.cancelled() else t.result()
            if sent is not None:
                sent.settle(result)
            if isinstance(result, Err):
                conn.abort()
            conn.release()

        body_task.add_done_callback(body_done)
        head_task = asyncio.ensure_future(
            asyncio.wait_for(
                _read_head(reader), first_t if first_t is not None else self.default_timeout
            )
        )
        try:
            await asyncio.wait({body_task, head_task}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            head_task.cancel()
            body_task.cancel()
            raise
        if body_task.done() and not body_task.cancelled():
            result = body_task.result()
            if isinstance(result, Err):
                head_task.cancel()
                return Err(result.value)
        try:
            status, fields = await head_task
        except BaseException as e:
            conn.abort()
            body_task.cancel()
            if isinstance(e, asyncio.CancelledError):
                raise
            if isinstance(e, TimeoutError):
                return Err(H.ErrorCodeConnectionReadTimeout())
            if isinstance(e, _HeadError):
                return Err(e.code)
            if isinstance(e, OSError | asyncio.IncompleteReadError):
                return Err(H.ErrorCodeHTTPResponseIncomplete())
            raise
        no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
        te = b",".join(v for k, v in fields if k == "transfer-encoding").lower()
        length = _content_length(fields)
        if length is not None and length < 0:
            conn.abort()
            body_task.cancel()
            return Err(H.ErrorCodeHTTPProtocolError())
        incoming: IncomingBody | None = None
        if not no_body:
            if te:
                if te.split(b",")[-1].strip() != b"chunked":
                    conn.abort()
                    body_task.cancel()
                    return Err(H.ErrorCodeHTTPResponseTransferCoding(te.decode("latin-1")))
                incoming = IncomingBody(
                    reader, chunked=True, between_bytes=between_t, is_response=True
                )
            else:
                incoming = IncomingBody(
                    reader, length=length, between_bytes=between_t, is_response=True
                )
        resp_fields = Fields([(k, v) for k, v in fields if k not in ("transfer-encoding",)])
        resp = Response(resp_fields, self.incoming_body(incoming), status)
        if incoming is None or incoming.done:
            conn.release()
        else:
            incoming.on_end = conn.release
        return Ok(resp)


def add_to_linker(linker: Linker, getter: Callable[[Any], WasiHttp]) -> None:
    """Define ``wasi:http/types`` and ``wasi:http/client`` 0.3.0 in ``linker``.

    ``getter(store.data)`` is the store's :class:`WasiHttp`.
    """

    def get(d: Any) -> WasiHttp:
        h = getter(d)
        if h.fields_rt is None:
            h.fields_rt = fields_rt
        return h

    fields_rt = wasi_http_types.add_to_linker(linker, get).fields
    wasi_http_client.add_to_linker(linker, get)
