"""Message bodies: :class:`Body`, the :class:`IncomingBody` read from a connection, and
:func:`write_body`, which sends a guest's body (chunked with its trailers, or by length)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

from wasmloom import types as T
from wasmloom.host.streams import (
    Destination,
    FutureDestination,
    FutureReader,
    Source,
    StreamReader,
    StreamResult,
)
from wasmloom.values import Err, Ok
from wasmloom.wasi.p3._streams import (
    CANCELLED,
    COMPLETED,
    DROPPED,
    PENDING,
    AsyncChunkProducer,
    Completion,
    StreamError,
)
from wasmloom.wasi.p3.bindings import wasi_http_types as H
from wasmloom.wasi.p3.http.errors import _internal
from wasmloom.wasi.p3.http.fields import (
    _OK,
    Fields,
    _fields_bytes,
    _FieldsBridge,
    parse_field_line,
)

__all__ = ["Body", "IncomingBody", "write_body"]


# asyncio's plain selector transport (3.11) sends what it can at once and copies the rest
# into its own buffer inside write(): a view of guest memory may be written without a copy.
# TLS transports (and later Pythons) may keep the object: they get bytes.
_WRITE_VIEWS = sys.version_info < (3, 12)
# a chunk of at most this many bytes is framed and written in one piece
_JOIN_CHUNK = 16 * 1024


# --- bodies ------------------------------------------------------------------------------


class Body:
    """A message body: its contents stream, its trailers future, and who reports on it.

    ``contents`` is ``None`` for an empty body. ``sent``, for a message a
    guest built with ``new``, is the producer of the future ``new``
    returned: settled when the body was transmitted or consumed.
    """

    __slots__ = ("contents", "sent", "trailers")

    def __init__(
        self,
        contents: StreamReader[Any] | None,
        trailers: FutureReader[Any] | None,
        sent: Completion | None = None,
    ) -> None:
        self.contents = contents
        self.trailers = trailers
        self.sent = sent

    def close(self, why: Any = None) -> None:
        """Dispose of both ends; a pending ``sent`` future gets ``Err(why)``."""
        for end in (self.contents, self.trailers):
            if end is not None:
                end.close()
        self.contents = self.trailers = None
        if self.sent is not None:
            self.sent.settle(Err(why if why is not None else _internal("the body was dropped")))


class IncomingBody:
    """A body read from an asyncio connection: by length, chunked (with trailers) or to EOF.

    :meth:`read` returns the next bytes (``b""`` at the end) or raises
    :class:`StreamError` with an ``error-code``; :meth:`finish` reads (and
    discards) the rest and returns the trailers result,
    ``Ok(Fields | None)`` or ``Err(error-code)``.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        *,
        length: int | None = None,
        chunked: bool = False,
        between_bytes: float | None = None,
        is_response: bool = False,
    ) -> None:
        self.reader = reader
        self.left = length  # bytes left: of the body (length), of the current chunk (chunked)
        self.chunked = chunked
        self.timeout = between_bytes
        self.is_response = is_response
        self.done = length == 0 and not chunked
        self.result: Ok[Fields | None] | Err[Any] | None = Ok(None) if self.done else None
        #: called once when the body ended (read to its end, failed or abandoned)
        self.on_end: Callable[[], None] | None = None
        self._lock = asyncio.Lock()

    def _end(self, result: Ok[Fields | None] | Err[Any]) -> None:
        if self.result is None or not self.done:
            self.result = result
        self.done = True
        on_end, self.on_end = self.on_end, None
        if on_end is not None:
            on_end()

    def abandon(self) -> None:
        """The reader dropped the stream before its end: stop (trailers: ``Ok(None)``)."""
        if not self.done:
            self._end(Ok(None))

    def _fail(self, code: Any) -> StreamError:
        self._end(Err(code))
        return StreamError(code)

    def _incomplete(self) -> Any:
        if self.is_response:
            return H.ErrorCodeHTTPResponseIncomplete()
        return H.ErrorCodeHTTPProtocolError()

    async def _io(self, aw: Any) -> Any:
        """``await aw`` within the between-bytes timeout; its failures as ``error-code``."""
        try:
            if self.timeout is None:
                return await aw
            if asyncio.current_task() is None:  # (asyncio.timeout acts on a task)
                return await asyncio.wait_for(aw, self.timeout)
            # (no task of its own per read, as wait_for makes in Python 3.11)
            async with asyncio.timeout(self.timeout):
                return await aw
        except TimeoutError:
            raise self._fail(H.ErrorCodeConnectionReadTimeout()) from None
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            raise self._fail(self._incomplete()) from None
        except OSError:
            raise self._fail(H.ErrorCodeConnectionTerminated()) from None

    async def read(self, n: int) -> bytes:
        async with self._lock:
            return await self._read(n)

    async def _read(self, n: int) -> bytes:
        if self.done:
            if isinstance(self.result, Err):
                raise StreamError(self.result.value)
            return b""
        n = max(n, 1)
        if not self.chunked:
            want = n if self.left is None else min(n, self.left)
            data = await self._io(self.reader.read(want))
            if not data:
                if self.left is not None:
                    raise self._fail(self._incomplete())
                self._end(Ok(None))
                return b""
            if self.left is not None:
                self.left -= len(data)
                if self.left == 0:
                    self._end(Ok(None))
            return bytes(data)
        while not self.left:
            if self.left == 0:  # the CRLF after a chunk's data
                if await self._io(self.reader.readexactly(2)) != b"\r\n":
                    raise self._fail(H.ErrorCodeHTTPProtocolError())
            line = await self._io(self.reader.readuntil(b"\n"))
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise self._fail(H.ErrorCodeHTTPProtocolError()) from None
            if size == 0:
                self._end(Ok(await self._read_trailers()))
                return b""
            self.left = size
        data = await self._io(self.reader.read(min(n, self.left)))
        if not data:
            raise self._fail(self._incomplete())
        self.left -= len(data)
        return bytes(data)

    async def _read_trailers(self) -> Fields | None:
        entries: list[tuple[str, bytes]] = []
        while True:
            line = await self._io(self.reader.readuntil(b"\n"))
            line = line.rstrip(b"\r\n")
            if not line:
                return Fields(entries, immutable=True) if entries else None
            entry = parse_field_line(line)
            if entry is None:
                raise self._fail(H.ErrorCodeHTTPProtocolError())
            entries.append(entry)

    async def finish(self) -> Ok[Fields | None] | Err[Any]:
        async with self._lock:
            try:
                while not self.done:
                    await self._read(65536)
            except StreamError:
                pass
            assert self.result is not None
            return self.result


class _EmptyContents:
    """The contents of an empty body: a ``stream<u8>`` that ends at the first read.

    It keeps no state, so one serves every empty body; ``close = None``: nothing to
    release when the stream is disposed of (and no lookup of a missing ``close``).
    """

    __slots__ = ()
    close = None

    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
        return DROPPED


class _NoTrailers:
    """The trailers of a body that has none: ``Ok(None)`` at the first read (one serves
    every such body, as :class:`_EmptyContents` does)."""

    __slots__ = ()
    close = None

    def poll_produce(self, store: Any, dst: FutureDestination, finish: bool) -> StreamResult:
        dst.set(_OK)
        return COMPLETED


_EMPTY_CONTENTS = _EmptyContents()
_NO_TRAILERS = _NoTrailers()


class _BodyProducer(AsyncChunkProducer):
    """The contents stream of an :class:`IncomingBody`; dropping it abandons the body."""

    def __init__(self, store: Any, body: IncomingBody) -> None:
        super().__init__(store, body.read, Completion())
        self.body = body

    def close(self) -> None:
        super().close()
        self.body.abandon()


class _TrailersProducer:
    """The trailers future of an :class:`IncomingBody`: resolves once the body was read.

    ``shared`` is the future's shared state (set once the future exists): given to a
    guest, it has the guest's type, whose ``own<fields>`` the trailers go out as; a host
    reader gets :class:`Fields`.
    """

    def __init__(self, store: Any, body: IncomingBody) -> None:
        self.store = store
        self.body = body
        self.shared: Any = None
        self.task: asyncio.Task[Any] | None = None

    def poll_produce(self, store: Any, dst: FutureDestination, finish: bool) -> StreamResult:
        task = self.task
        if task is None:
            if self.body.done and self.body.result is not None:
                dst.set(self._lower(self.body.result))
                return COMPLETED
            if finish:
                return CANCELLED
            task = self.task = self.store.spawn(self.body.finish())
            wake = dst.wake
            task.add_done_callback(lambda _: wake())
            return PENDING
        if not task.done():
            return CANCELLED if finish else PENDING
        self.task = None
        if task.cancelled():
            return CANCELLED
        dst.set(self._lower(task.result()))
        return COMPLETED

    def _lower(self, result: Ok[Fields | None] | Err[Any]) -> Any:
        if isinstance(result, Ok) and result.value is not None and self.shared is not None:
            rt = _fields_type(self.shared.t)
            if rt is not None:
                return Ok(_FieldsBridge(rt).to_guest(result.value))
        return result

    def close(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()


def _fields_type(t: Any) -> T.ResourceType | None:
    """The resource type of ``fields`` in a trailers future's type
    ``result<option<own<fields>>, error-code>``; None for any other (an untyped future: the
    host reads it)."""
    ok = t.ok if isinstance(t, T.ResultType) else None
    own = ok.t if isinstance(ok, T.OptionType) else None
    return own.rt if isinstance(own, T.OwnType) else None


# --- writing a body ----------------------------------------------------------------------


class _BodySink:
    """Writes a guest's ``stream<u8>`` to an asyncio connection, chunk-framed or raw.

    ``limit``, for a declared ``content-length``, is the exact size the body
    must have. :attr:`done` resolves to ``None`` at the end of the stream, or
    to an ``error-code`` (the connection failed, the body was too long).
    """

    def __init__(self, writer: asyncio.StreamWriter, chunked: bool, limit: int | None) -> None:
        self.writer = writer
        self.chunked = chunked
        self.limit = limit
        self.count = 0
        self.views_ok = _WRITE_VIEWS and writer.get_extra_info("ssl_object") is None
        # the transport tells how many bytes it holds (not every one does: ASGI's)
        self.sized = (
            type(writer.transport).get_write_buffer_size
            is not asyncio.WriteTransport.get_write_buffer_size
        )
        self.drain: asyncio.Future[Any] | None = None
        self.done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def _finish(self, value: Any) -> None:
        if not self.done.done():
            self.done.set_result(value)

    def poll_consume(self, store: Any, src: Source, finish: bool) -> StreamResult:
        drain = self.drain
        if drain is not None:
            if not drain.done():
                return CANCELLED if finish else PENDING
            self.drain = None
            if drain.cancelled() or drain.exception() is not None:
                self._finish(H.ErrorCodeConnectionTerminated())
                return DROPPED
        if self.writer.transport.is_closing():  # aborted, or the peer went away
            self._finish(H.ErrorCodeConnectionTerminated())
            return DROPPED
        if src.remaining() == 0:
            return COMPLETED
        try:
            view: Any = src.as_direct()
            direct = True
        except TypeError:  # a host-created stream: the items come as a copy
            buf = bytearray()
            src.read(buf)
            view, direct = memoryview(buf), False
        n = len(view)
        if not n:
            return COMPLETED
        self.count += n
        if self.limit is not None and self.count > self.limit:
            self._finish(H.ErrorCodeHTTPRequestBodySize(self.count))
            return DROPPED
        w = self.writer
        try:
            if self.chunked and n <= _JOIN_CHUNK:  # one write (a copy) rather than three sends
                w.write(b"%x\r\n%b\r\n" % (n, view))
            else:
                data = view if self.views_ok or not direct else bytes(view)
                if self.chunked:
                    w.write(b"%x\r\n" % n)
                    w.write(data)
                    w.write(b"\r\n")
                else:
                    w.write(data)
        except (OSError, RuntimeError):
            self._finish(H.ErrorCodeConnectionTerminated())
            return DROPPED
        if direct:
            src.mark_read(n)
        if self.sized:
            t = w.transport
            if not t.is_closing() and t.get_write_buffer_size() == 0:
                return COMPLETED  # all sent: nothing to drain
        drain = asyncio.ensure_future(w.drain())
        if drain.done():
            if drain.cancelled() or drain.exception() is not None:
                self._finish(H.ErrorCodeConnectionTerminated())
                return DROPPED
            return COMPLETED
        self.drain = drain
        wake = src.wake
        drain.add_done_callback(lambda _: wake())
        return PENDING

    def close(self) -> None:
        drain = self.drain
        if drain is not None and not drain.done():
            drain.add_done_callback(lambda _: self._finish(None))
            return
        self._finish(None)

    def fail(self, error: BaseException) -> None:
        self._finish(_internal(f"the body's writer failed: {error}"))


async def write_body(
    writer: asyncio.StreamWriter,
    body: Body,
    *,
    chunked: bool,
    limit: int | None,
    size_error: Callable[[int], Any],
) -> Ok[None] | Err[Any]:
    """Send ``body`` (its contents, then its trailers when ``chunked``) and flush.

    Takes ownership of the body's ends. Returns ``Ok(None)``, or ``Err(code)``:
    the connection failed, the size differs from ``limit`` (``size_error(n)``),
    or the guest's trailers future gave an error (the chunked body is then
    left unterminated, so the peer sees it incomplete).
    """
    contents, trailers = body.contents, body.trailers
    body.contents = body.trailers = None
    try:
        return await _write_body(writer, contents, trailers, chunked, limit, size_error)
    except BaseException:
        if trailers is not None:
            trailers.close()  # a no-op once awaited
        raise


async def _write_body(
    writer: asyncio.StreamWriter,
    contents: StreamReader[Any] | None,
    trailers: FutureReader[Any] | None,
    chunked: bool,
    limit: int | None,
    size_error: Callable[[int], Any],
) -> Ok[None] | Err[Any]:
    err = await send_contents(writer, contents, chunked, limit, size_error)
    if err is not None:
        if trailers is not None:
            trailers.close()
        return err
    fields: Fields | None = None
    if trailers is not None:
        got = await guest_trailers(trailers)
        if isinstance(got, Err):
            return got
        fields = got.value
    try:
        if chunked:
            writer.write(b"0\r\n" + (_fields_bytes(fields.entries) if fields else b"") + b"\r\n")
        await writer.drain()
    except (OSError, RuntimeError):
        return Err(H.ErrorCodeConnectionTerminated())
    return Ok(None)


async def send_contents(
    writer: asyncio.StreamWriter,
    contents: StreamReader[Any] | None,
    chunked: bool,
    limit: int | None,
    size_error: Callable[[int], Any],
) -> Err[Any] | None:
    """Pipe a guest body's ``contents`` to ``writer`` (chunk-framed when ``chunked``);
    takes ownership of them. None once every byte went out (``limit`` of them, when
    given), else ``Err(code)``: the connection failed, or the size differs from
    ``limit`` (``size_error(n)``)."""
    count = 0
    if contents is not None:
        sink = _BodySink(writer, chunked, limit)
        contents.pipe(contents.store, sink)
        err = await sink.done
        count = sink.count
        if err is not None:
            if isinstance(err, H.ErrorCodeHTTPRequestBodySize):
                err = size_error(count)
            return Err(err)
    return length_error(count, limit, size_error)


def length_error(
    count: int, limit: int | None, size_error: Callable[[int], Any]
) -> Err[Any] | None:
    """``Err(size_error(count))`` when a declared ``limit`` is not the ``count`` of bytes
    sent, else None."""
    if limit is not None and count != limit:
        return Err(size_error(count))
    return None


class TrailersRead:
    """Reads a guest body's trailers future: :attr:`result` is what it resolves to once
    known (at once when the guest already wrote it), else :meth:`wait` gives it.

    The result is ``Ok(fields)`` (None: no trailers) or ``Err(code)``; a future
    dropped without a value, or a trap of its writer, is an internal error.
    """

    __slots__ = ("result", "waiter")

    def __init__(self, trailers: FutureReader[Any]) -> None:
        self.result: Ok[Fields | None] | Err[Any] | None = None
        self.waiter: asyncio.Future[None] | None = None
        try:
            trailers.pipe(trailers.store, self)
        except Exception as e:  # (already piped or closed: not through the bindings)
            self._set(Err(_internal(f"trailers: {e}")))

    def _set(self, result: Ok[Fields | None] | Err[Any]) -> None:
        if self.result is None:
            self.result = result
            w = self.waiter
            if w is not None and not w.done():
                w.set_result(None)

    def poll_consume(self, store: Any, src: Any, finish: bool) -> StreamResult:
        got = src.take()
        if isinstance(got, Err):
            self._set(Err(got.value))
        else:
            v = got.value if isinstance(got, Ok) else None
            self._set(_OK if v is None else Ok(_FieldsBridge.from_guest(v)))
        return COMPLETED

    def close(self) -> None:
        if self.result is None:  # (called once the value was taken too)
            self._set(Err(_internal("trailers: the future's writer dropped it without a value")))

    def fail(self, error: BaseException) -> None:
        if self.result is None:
            self._set(Err(_internal(f"trailers: {error}")))

    async def wait(self) -> Ok[Fields | None] | Err[Any]:
        """The result, once the guest wrote it (or dropped the future, or trapped)."""
        while self.result is None:
            w = self.waiter = asyncio.get_running_loop().create_future()
            await w
        return self.result


async def guest_trailers(trailers: FutureReader[Any]) -> Ok[Fields | None] | Err[Any]:
    """What a guest body's trailers future resolves to (see :class:`TrailersRead`)."""
    read = TrailersRead(trailers)
    got = read.result
    return got if got is not None else await read.wait()
