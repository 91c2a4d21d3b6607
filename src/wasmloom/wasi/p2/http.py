"""WASI 0.2.x ``wasi:http``: ``types`` and ``outgoing-handler`` over the 0.2 stream resources.

Implemented against the bindings generated from the project's WIT
(:mod:`wasmloom.wasi.p2.bindings`, modules ``wasi_http_*``)::

    add_to_linker(linker, lambda d: host_for(d.ctx))

WASI 0.2 calls are synchronous: a guest runs on a thread of its own (``wasmloom
serve`` calls ``incoming-handler.handle`` through :func:`asyncio.to_thread`),
while the network I/O runs on an asyncio event loop, the :class:`LoopBridge`
of the :class:`WasiHttpP2`: the server's loop when serving, else a private
loop on a daemon thread made on first use. A host call that waits (a
``blocking-read``, a ``pollable.block``, a write that waits for the
connection to drain) blocks the guest's thread, never the loop.

Bodies:

- an incoming body (request or response) is read from the connection with
  :class:`wasmloom.wasi.p3.http.IncomingBody` (content-length, chunked with
  trailers, or to the end); its ``input-stream`` reads ahead one chunk at a
  time, ``read`` returns what has arrived and ``subscribe`` is ready when
  something has (or the end or an error);
- an outgoing body (response or request) is kept in memory until its message
  is on its way (``response-outparam.set``, ``outgoing-handler.handle``), then
  each write goes to the connection and waits for it to drain. It is framed
  with the message's ``content-length`` when there is one (a body of another
  size is an ``HTTP-*-body-size`` error), else chunked, ending with the
  trailers given to ``outgoing-body.finish``.

Header fields follow the 0.3 rules (:class:`wasmloom.wasi.p3.http.Fields`):
the fields of a message, and those ``headers()`` hands out, are immutable.
The HTTP/1.1 parsing and error mapping are shared with the 0.3 client.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ssl
import threading
import urllib.parse
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from wasmloom.host.linker import Linker
from wasmloom.values import Err, Ok
from wasmloom.wasi.ctx import WasiCtx
from wasmloom.wasi.p2.bindings import wasi_http_outgoing_handler, wasi_http_types
from wasmloom.wasi.p2.bindings import wasi_http_types as H2
from wasmloom.wasi.p2.bindings import wasi_io_streams as streams
from wasmloom.wasi.p2.io import (
    FuturePollable,
    InputStreamBase,
    IoError,
    OutputStreamBase,
    Pollable,
)
from wasmloom.wasi.p3 import http as wh
from wasmloom.wasi.p3._streams import StreamError
from wasmloom.wasi.p3.http import client as wire
from wasmloom.wasi.p3.http import errors as werr
from wasmloom.wasi.p3.http import fields as wfields

__all__ = [
    "Fields",
    "IncomingBody",
    "IncomingRequest",
    "LoopBridge",
    "OutgoingBody",
    "OutgoingResponse",
    "ResponseOutparam",
    "WasiHttpP2",
    "WireSink",
    "add_to_linker",
    "host_for",
]

R = TypeVar("R")

#: How many bytes an input stream reads ahead from the connection at once.
READ_AHEAD = 1 << 20
_CLOSED: Err[Any] = Err(streams.StreamErrorClosed())

_METHODS: dict[str, H2.Method] = {
    "GET": H2.MethodGet(),
    "HEAD": H2.MethodHead(),
    "POST": H2.MethodPost(),
    "PUT": H2.MethodPut(),
    "DELETE": H2.MethodDelete(),
    "CONNECT": H2.MethodConnect(),
    "OPTIONS": H2.MethodOptions(),
    "TRACE": H2.MethodTrace(),
    "PATCH": H2.MethodPatch(),
}


def method_of(name: str) -> H2.Method:
    """The ``method`` value of a request-line token."""
    return _METHODS.get(name) or H2.MethodOther(name)


# --- the event loop the I/O runs on -------------------------------------------------------


class LoopBridge:
    """Runs coroutines on an asyncio loop for a guest's thread (a private loop when none is given)."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="wasi-http-p2", daemon=True).start()
                self._loop = loop
            return self._loop

    def submit(self, coro: Coroutine[Any, Any, R]) -> concurrent.futures.Future[R]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, R]) -> R:
        """Run ``coro`` on the loop and wait for it (never from the loop's own thread)."""
        loop = self.loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            coro.close()
            raise RuntimeError("a blocking wasi:http 0.2 call on its own event loop's thread")
        return asyncio.run_coroutine_threadsafe(coro, loop).result()


class HttpIoError(IoError):
    """A stream ``error`` carrying the HTTP ``error-code`` behind it."""

    def __init__(self, code: Any) -> None:
        super().__init__(wh.error_label(code))
        self.http_code = code


def _stream_failed(code: Any) -> Err[Any]:
    return Err(streams.StreamErrorLastOperationFailed(HttpIoError(code)))


# --- fields ------------------------------------------------------------------------------


class Fields:
    """``fields``: the 0.3 :class:`~wasmloom.wasi.p3.http.Fields` under the 0.2 method names."""

    __slots__ = ("inner",)

    def __init__(self, inner: wh.Fields | None = None) -> None:
        self.inner = inner if inner is not None else wh.Fields()

    def get(self, name: str) -> list[bytes]:
        return self.inner.get(name)

    def has(self, name: str) -> bool:
        return self.inner.has(name)

    def set(self, name: str, value: list[bytes]) -> Any:
        return self.inner.set(name, value)

    def delete(self, name: str) -> Any:
        return self.inner.delete(name)

    def append(self, name: str, value: bytes) -> Any:
        return self.inner.append(name, value)

    def entries(self) -> list[tuple[str, bytes]]:
        return self.inner.copy_all()

    def clone(self) -> Fields:
        return Fields(self.inner.clone())


def _owned(headers: Fields) -> wh.Fields:
    """The entries of ``headers`` given to a message: immutable from now on."""
    inner = headers.inner
    inner.immutable = True
    return inner


# --- incoming bodies ---------------------------------------------------------------------


class BodyInputStream(InputStreamBase):
    """The ``input-stream`` of an incoming body: reads ahead one chunk on the loop.

    A read in flight when the guest drops the stream completes (its bytes are
    discarded); ``finish`` then reads on from there.
    """

    def __init__(self, bridge: LoopBridge, body: wh.IncomingBody) -> None:
        self.bridge = bridge
        self.body = body
        self.buf = b""
        self.eof = False
        self.error: Any = None
        self.pending: concurrent.futures.Future[bytes] | None = None

    def _start(self) -> concurrent.futures.Future[bytes]:
        if self.pending is None:
            self.pending = self.bridge.submit(self.body.read(READ_AHEAD))
        return self.pending

    def _collect(self) -> None:
        fut = self.pending
        if fut is None or not fut.done():
            return
        self.pending = None
        try:
            data = fut.result()
        except StreamError as e:
            self.error = e.code
            return
        except (concurrent.futures.CancelledError, RuntimeError) as e:
            self.error = H2.ErrorCodeInternalError(str(e) or "cancelled")
            return
        if data:
            self.buf += data
        else:
            self.eof = True

    def has_data(self) -> bool:
        self._collect()
        return bool(self.buf) or self.eof or self.error is not None

    def wait(self) -> None:
        if not self.has_data():
            concurrent.futures.wait([self._start()])
            self._collect()

    def read(self, len: int) -> Ok[bytes] | Err[streams.StreamError]:
        if self.has_data():
            return self._take(len)
        self._start()
        return Ok(b"")

    def blocking_read(self, len: int) -> Ok[bytes] | Err[streams.StreamError]:
        self.wait()
        return self._take(len)

    def _take(self, n: int) -> Ok[bytes] | Err[streams.StreamError]:
        if self.buf:
            if n >= len(self.buf):
                out, self.buf = self.buf, b""
            else:
                out, self.buf = self.buf[:n], self.buf[n:]
            return Ok(out)
        if self.error is not None:
            return _stream_failed(self.error)
        if self.eof:
            return _CLOSED
        return Ok(b"")

    def subscribe(self) -> Pollable:
        return _InputPollable(self)


class _InputPollable(Pollable):
    def __init__(self, stream: BodyInputStream) -> None:
        self.stream = stream

    def ready(self) -> bool:
        if self.stream.has_data():
            return True
        self.stream._start()
        return False

    def block(self) -> None:
        self.stream.wait()


class IncomingBody:
    """``incoming-body``: one ``stream`` (its contents), then ``finish`` for the trailers."""

    def __init__(self, bridge: LoopBridge, body: wh.IncomingBody | None) -> None:
        self.bridge = bridge
        self.body = body
        self.taken = False

    def stream(self) -> Ok[BodyInputStream] | Err[None]:
        if self.taken:
            return Err(None)
        self.taken = True
        src = self.body if self.body is not None else wh.IncomingBody(_EMPTY_READER, length=0)
        return Ok(BodyInputStream(self.bridge, src))

    def finish_trailers(self) -> FutureTrailers:
        if self.body is None:
            done: concurrent.futures.Future[Any] = concurrent.futures.Future()
            done.set_result(Ok(None))
            return FutureTrailers(done)
        return FutureTrailers(self.bridge.submit(self.body.finish()))

    def drop(self) -> None:
        if self.body is not None and not self.body.done:
            self.bridge.loop.call_soon_threadsafe(self.body.abandon)  # it closes on the loop


class _NoReader:
    """Stands in for a connection under a body of length 0 (never read)."""


_EMPTY_READER: Any = _NoReader()


class _FutureResult:
    """A ``future-*`` resource: ``get`` is None until the work is done, then its
    outcome once (``Ok`` around it), then ``Err``."""

    def __init__(self, fut: concurrent.futures.Future[Any]) -> None:
        self.fut = fut
        self.taken = False

    def subscribe(self) -> Pollable:
        return FuturePollable(self.fut)

    def _outcome(self, r: Any) -> Any:
        return r

    def get(self) -> Any:
        if not self.fut.done():
            return None
        if self.taken:
            return Err(None)
        self.taken = True
        try:
            r = self.fut.result()
        except BaseException as e:
            return Ok(Err(H2.ErrorCodeInternalError(str(e) or type(e).__name__)))
        return Ok(self._outcome(r))


class FutureTrailers(_FutureResult):
    """``future-trailers``: the trailers once the body was read to its end."""

    def _outcome(self, r: Any) -> Any:
        if isinstance(r, Ok) and isinstance(r.value, wh.Fields):
            return Ok(Fields(r.value))
        return r


class IncomingRequest:
    """``incoming-request``: what the server read, for ``incoming-handler.handle``."""

    def __init__(
        self,
        bridge: LoopBridge,
        method: str,
        path_with_query: str | None,
        authority: str | None,
        headers: list[tuple[str, bytes]],
        body: wh.IncomingBody | None,
        scheme: H2.Scheme | None = None,
    ) -> None:
        self._method = method_of(method)
        self._path = path_with_query
        self._authority = authority
        self._scheme = scheme if scheme is not None else H2.SchemeHTTP()
        self._headers = wh.Fields(headers, immutable=True)
        self._body: IncomingBody | None = IncomingBody(bridge, body)

    def method(self) -> H2.Method:
        return self._method

    def path_with_query(self) -> str | None:
        return self._path

    def scheme(self) -> H2.Scheme | None:
        return self._scheme

    def authority(self) -> str | None:
        return self._authority

    def headers(self) -> Fields:
        return Fields(self._headers)

    def consume(self) -> Ok[IncomingBody] | Err[None]:
        body, self._body = self._body, None
        return Err(None) if body is None else Ok(body)


class IncomingResponse:
    """``incoming-response``: what the client read."""

    def __init__(self, status: int, headers: wh.Fields, body: IncomingBody) -> None:
        self._status = status
        self._headers = headers
        self._body: IncomingBody | None = body

    def status(self) -> int:
        return self._status

    def headers(self) -> Fields:
        return Fields(self._headers)

    def consume(self) -> Ok[IncomingBody] | Err[None]:
        body, self._body = self._body, None
        return Err(None) if body is None else Ok(body)


# --- outgoing bodies ---------------------------------------------------------------------


class WireSink:
    """Writes a body to an asyncio connection, chunked or within a declared length.

    Loop side. :attr:`done` resolves to ``Ok(None)`` once the body ended
    well, or ``Err(error-code)``. ``discard``: the message has no body on the
    wire (a response to ``HEAD``, a 204 or 304): what is written is dropped.
    """

    def __init__(
        self,
        writer: asyncio.StreamWriter,
        chunked: bool,
        limit: int | None,
        size_error: Any,
        discard: bool = False,
    ) -> None:
        self.discard = discard
        self.writer = writer
        self.chunked = chunked
        self.limit = limit
        self.size_error = size_error
        self.count = 0
        self.done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def _finish(self, result: Any) -> None:
        if not self.done.done():
            self.done.set_result(result)

    def write_now(self, data: bytes) -> Any:
        """Queue ``data`` on the transport; an ``error-code`` when it cannot be sent."""
        if self.done.done():
            return self.done.result().value if isinstance(self.done.result(), Err) else None
        if self.writer.transport.is_closing():
            self._finish(Err(H2.ErrorCodeConnectionTerminated()))
            return H2.ErrorCodeConnectionTerminated()
        self.count += len(data)
        if self.limit is not None and self.count > self.limit:
            code = self.size_error(self.count)
            self._finish(Err(code))
            return code
        if not data or self.discard:
            return None
        if self.chunked:
            self.writer.write(b"%x\r\n" % len(data) + data + b"\r\n")
        else:
            self.writer.write(data)
        return None

    async def send(self, data: bytes) -> Any:
        err = self.write_now(data)
        if err is not None:
            return err
        try:
            await self.writer.drain()
        except (OSError, RuntimeError):
            self._finish(Err(H2.ErrorCodeConnectionTerminated()))
            return H2.ErrorCodeConnectionTerminated()
        return None

    def end_now(self, trailers: wh.Fields | None) -> Any:
        """Write the end of the body (the last chunk and the trailers)."""
        if self.done.done():
            r = self.done.result()
            return r.value if isinstance(r, Err) else None
        if self.limit is not None and self.count != self.limit and not self.discard:
            code = self.size_error(self.count)
            self._finish(Err(code))
            return code
        if self.chunked and not self.discard:
            tail = wfields._fields_bytes(trailers.entries) if trailers is not None else b""
            self.writer.write(b"0\r\n" + tail + b"\r\n")
        self._finish(Ok(None))
        return None

    async def end(self, trailers: wh.Fields | None) -> Any:
        err = self.end_now(trailers)
        if err is None:
            try:
                await self.writer.drain()
            except (OSError, RuntimeError):
                return H2.ErrorCodeConnectionTerminated()
        return err

    def abort(self, code: Any) -> None:
        self._finish(Err(code))


class BodyPipe:
    """What a guest writes to an outgoing body: kept until a :class:`WireSink` is attached.

    The guest's thread calls :meth:`write` and :meth:`finish`; the loop calls
    :meth:`attach` (which sends what was kept) and :meth:`abandon`.
    """

    def __init__(self, bridge: LoopBridge) -> None:
        self.bridge = bridge
        self.lock = threading.Lock()
        self.kept: list[bytes] = []
        self.sink: WireSink | None = None
        self.finished = False
        self.trailers: wh.Fields | None = None
        self.error: Any = None

    def write(self, data: bytes) -> Any:
        """Guest side: the ``error-code`` when the body cannot take ``data``, else None."""
        with self.lock:
            if self.error is not None:
                return self.error
            sink = self.sink
            if sink is None:
                self.kept.append(bytes(data))
                return None
        err = self.bridge.run(sink.send(bytes(data)))
        if err is not None:
            self.error = err
        return err

    def finish(self, trailers: wh.Fields | None) -> Any:
        with self.lock:
            self.finished = True
            self.trailers = trailers
            if self.error is not None:
                return self.error
            sink = self.sink
            if sink is None:
                return None
        err = self.bridge.run(sink.end(trailers))
        if err is not None:
            self.error = err
        return err

    def attach(self, sink: WireSink) -> None:
        """Loop side: from now on the body goes to ``sink``."""
        with self.lock:
            kept, self.kept = self.kept, []
            self.sink = sink
            for data in kept:
                err = sink.write_now(data)
                if err is not None:
                    self.error = err
                    return
            if self.finished:
                err = sink.end_now(self.trailers)
                if err is not None:
                    self.error = err

    def known_size(self) -> int | None:
        """The body's size when it was written and finished (without trailers) before
        being sent, else None."""
        with self.lock:
            if self.finished and self.sink is None and self.error is None and not self.trailers:
                return sum(len(b) for b in self.kept)
        return None

    def end_unused(self) -> None:
        """Loop side: the guest never asked for the body (it is empty)."""
        with self.lock:
            if self.finished or self.error is not None:
                return
            self.finished = True
            sink = self.sink
        if sink is not None:
            sink.end_now(None)

    def abandon(self, code: Any) -> None:
        """The body will not be finished (dropped, or its writer is gone)."""
        with self.lock:
            if not self.finished and self.error is None:
                self.error = code
            sink = self.sink
        if sink is not None and not self.finished:
            sink.abort(code)


class BodyOutputStream(OutputStreamBase):
    """The ``output-stream`` of an outgoing body."""

    def __init__(self, pipe: BodyPipe) -> None:
        self.pipe = pipe

    def write(self, contents: bytes) -> Ok[None] | Err[streams.StreamError]:
        err = self.pipe.write(contents)
        return Ok(None) if err is None else _stream_failed(err)


class OutgoingBody:
    """``outgoing-body``: one ``write`` stream, then ``finish`` (with trailers)."""

    def __init__(self, pipe: BodyPipe) -> None:
        self.pipe = pipe
        self.taken = False
        self.finished = False

    def write(self) -> Ok[BodyOutputStream] | Err[None]:
        if self.taken:
            return Err(None)
        self.taken = True
        return Ok(BodyOutputStream(self.pipe))

    def finish(self, trailers: Fields | None) -> Ok[None] | Err[Any]:
        self.finished = True
        err = self.pipe.finish(_owned(trailers) if trailers is not None else None)
        return Ok(None) if err is None else Err(err)

    def drop(self) -> None:
        if not self.finished:
            self.pipe.abandon(H2.ErrorCodeInternalError("the body was dropped unfinished"))


class _Message:
    """What outgoing requests and responses share: headers and one body."""

    def __init__(self, bridge: LoopBridge, headers: Fields) -> None:
        self.fields = _owned(headers)
        self.pipe = BodyPipe(bridge)
        self.body_taken = False

    def headers(self) -> Fields:
        return Fields(self.fields)

    def body(self) -> Ok[OutgoingBody] | Err[None]:
        if self.body_taken:
            return Err(None)
        self.body_taken = True
        return Ok(OutgoingBody(self.pipe))


class OutgoingResponse(_Message):
    """``outgoing-response``: a status (200 unless set), headers and a body."""

    def __init__(self, bridge: LoopBridge, headers: Fields) -> None:
        super().__init__(bridge, headers)
        self.status = 200

    def status_code(self) -> int:
        return self.status

    def set_status_code(self, status_code: int) -> Ok[None] | Err[None]:
        if not 100 <= status_code <= 599:
            return Err(None)
        self.status = status_code
        return Ok(None)


class OutgoingRequest(_Message):
    """``outgoing-request``: GET ``/`` over http unless set otherwise."""

    def __init__(self, bridge: LoopBridge, headers: Fields) -> None:
        super().__init__(bridge, headers)
        self._method: H2.Method = H2.MethodGet()
        self._path: str | None = None
        self._scheme: H2.Scheme | None = None
        self._authority: str | None = None

    def method(self) -> H2.Method:
        return self._method

    def set_method(self, method: H2.Method) -> Ok[None] | Err[None]:
        if isinstance(method, H2.MethodOther) and not wh.valid_name(method.value):
            return Err(None)
        self._method = method
        return Ok(None)

    def path_with_query(self) -> str | None:
        return self._path

    def set_path_with_query(self, path_with_query: str | None) -> Ok[None] | Err[None]:
        if path_with_query is not None and any(c in path_with_query for c in " \r\n#"):
            return Err(None)
        self._path = path_with_query
        return Ok(None)

    def scheme(self) -> H2.Scheme | None:
        return self._scheme

    def set_scheme(self, scheme: H2.Scheme | None) -> Ok[None] | Err[None]:
        self._scheme = scheme
        return Ok(None)

    def authority(self) -> str | None:
        return self._authority

    def set_authority(self, authority: str | None) -> Ok[None] | Err[None]:
        if authority is not None and any(c in authority for c in " /?#\r\n"):
            return Err(None)
        self._authority = authority
        return Ok(None)


class RequestOptions:
    """``request-options``: connect, first-byte and between-bytes timeouts (nanoseconds)."""

    def __init__(self) -> None:
        self.connect: int | None = None
        self.first_byte: int | None = None
        self.between_bytes: int | None = None

    def connect_timeout(self) -> int | None:
        return self.connect

    def set_connect_timeout(self, duration: int | None) -> Ok[None]:
        self.connect = duration
        return Ok(None)

    def first_byte_timeout(self) -> int | None:
        return self.first_byte

    def set_first_byte_timeout(self, duration: int | None) -> Ok[None]:
        self.first_byte = duration
        return Ok(None)

    def between_bytes_timeout(self) -> int | None:
        return self.between_bytes

    def set_between_bytes_timeout(self, duration: int | None) -> Ok[None]:
        self.between_bytes = duration
        return Ok(None)


class ResponseOutparam:
    """``response-outparam``: ``set`` hands the result to ``deliver`` (called once)."""

    def __init__(self, deliver: Callable[[Ok[Any] | Err[Any]], None]) -> None:
        self.deliver: Callable[[Ok[Any] | Err[Any]], None] | None = deliver

    def send_informational(self, status: int, headers: Fields) -> Err[Any]:
        return Err(H2.ErrorCodeHTTPUpgradeFailed())

    def set(self, response: Ok[Any] | Err[Any]) -> None:
        deliver, self.deliver = self.deliver, None
        if deliver is not None:
            deliver(response)


class FutureIncomingResponse(_FutureResult):
    """``future-incoming-response``: the client's answer once it arrived."""

    def drop(self) -> None:
        self.fut.cancel()


# --- the host ----------------------------------------------------------------------------


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
