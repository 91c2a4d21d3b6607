"""Outgoing messages and bodies (written to a connection): ``outgoing-request``,
``outgoing-response``, ``outgoing-body`` and its ``output-stream``, ``request-options``,
``response-outparam``, ``future-incoming-response``."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from wasmloom.values import Err, Ok
from wasmloom.wasi.p2.bindings import wasi_http_types as H2
from wasmloom.wasi.p2.bindings import wasi_io_streams as streams
from wasmloom.wasi.p2.http.common import Fields, LoopBridge, _owned, _stream_failed
from wasmloom.wasi.p2.http.incoming import _FutureResult
from wasmloom.wasi.p2.io import OutputStreamBase
from wasmloom.wasi.p3 import http as wh
from wasmloom.wasi.p3.http import fields as wfields

__all__ = [
    "BodyOutputStream",
    "BodyPipe",
    "FutureIncomingResponse",
    "OutgoingBody",
    "OutgoingRequest",
    "OutgoingResponse",
    "RequestOptions",
    "ResponseOutparam",
    "WireSink",
]


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
