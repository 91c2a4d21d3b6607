"""Incoming messages and bodies (read from a connection): ``incoming-request``,
``incoming-response``, ``incoming-body`` and its ``input-stream``, ``future-trailers``."""

from __future__ import annotations

import concurrent.futures
from typing import Any

from wasmloom.values import Err, Ok
from wasmloom.wasi.p2.bindings import wasi_http_types as H2
from wasmloom.wasi.p2.bindings import wasi_io_streams as streams
from wasmloom.wasi.p2.http.common import Fields, LoopBridge, _stream_failed
from wasmloom.wasi.p2.io import FuturePollable, InputStreamBase, Pollable
from wasmloom.wasi.p3 import http as wh
from wasmloom.wasi.p3._streams import StreamError

__all__ = [
    "READ_AHEAD",
    "BodyInputStream",
    "FutureTrailers",
    "IncomingBody",
    "IncomingRequest",
    "IncomingResponse",
    "method_of",
]


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
