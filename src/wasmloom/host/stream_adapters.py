"""Ready-made producers and consumers for streams and futures (re-exported by
:mod:`wasmloom.host.streams`, whose protocol methods state the contract they keep).

Producers: :class:`BytesProducer`, :class:`FileProducer` (straight into the
reader's buffer), :class:`AsyncIterableProducer`, :class:`StreamReaderProducer`
(awaiting chunks on the running loop), :class:`ValueFutureProducer`,
:class:`AwaitableFutureProducer`. Consumers: :class:`BytearrayConsumer`,
:class:`FileConsumer` (straight from the writer's buffer),
:class:`StreamWriterConsumer` (answering ``PENDING`` while it drains).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable
from typing import TYPE_CHECKING, Any, BinaryIO

from wasmloom.runtime.streams.buffers import Destination, FutureDestination, Source
from wasmloom.runtime.streams.host_ends import (
    CANCELLED,
    COMPLETED,
    DROPPED,
    PENDING,
    StreamResult,
)

if TYPE_CHECKING:
    import asyncio
else:
    from wasmloom.aio import asyncio

__all__ = [
    "AsyncIterableProducer",
    "AwaitableFutureProducer",
    "BytearrayConsumer",
    "BytesProducer",
    "FileConsumer",
    "FileProducer",
    "StreamReaderProducer",
    "StreamWriterConsumer",
    "ValueFutureProducer",
]


def _loop_of(store: Any) -> asyncio.AbstractEventLoop:
    """The loop host work of ``store`` runs on (the running loop, else the store's own)."""
    sched = getattr(store, "scheduler", None)
    return asyncio.get_running_loop() if sched is None else sched.loop()


# --- producers ---------------------------------------------------------------------------------


class BytesProducer:
    """Produces the bytes of ``data`` (``stream<u8>``), written straight into the reader's buffer."""

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self.data = memoryview(data).cast("B")
        self.pos = 0

    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
        data = self.data
        pos = self.pos
        left = len(data) - pos
        if left == 0:
            return DROPPED
        room = dst.remaining()
        if room == 0:
            return COMPLETED
        if room is None:
            dst.set_buffer(data[pos:])
            self.pos = len(data)
            return DROPPED
        view = dst.as_direct(left)
        n = len(view)
        view[:] = data[pos : pos + n]
        dst.mark_written(n)
        self.pos = pos + n
        return DROPPED if self.pos == len(data) else COMPLETED


class _AsyncSource:
    """Shared machinery of producers that await their next chunk on the running loop."""

    def __init__(self) -> None:
        self.task: asyncio.Future[Any] | None = None
        self.eof = False

    def fetch(self) -> Awaitable[Any]:
        raise NotImplementedError

    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
        task = self.task
        if task is None:
            if self.eof:
                return DROPPED
            task = self.task = asyncio.ensure_future(self.fetch(), loop=_loop_of(store))
            wake = dst.wake
            task.add_done_callback(lambda _: wake())
        if not task.done():
            return CANCELLED if finish else PENDING
        self.task = None
        chunk = task.result()
        if chunk is None or len(chunk) == 0:
            self.eof = True
            return DROPPED
        dst.set_buffer(chunk)
        return COMPLETED

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None


class AsyncIterableProducer(_AsyncSource):
    """Produces the chunks (bytes for ``stream<u8>``, lists otherwise) of an async iterable."""

    def __init__(self, source: AsyncIterable[Any]) -> None:
        super().__init__()
        self.it = aiter(source)

    async def fetch(self) -> Any:
        try:
            return await anext(self.it)
        except StopAsyncIteration:
            return None

    def close(self) -> None:
        super().close()
        aclose = getattr(self.it, "aclose", None)
        if aclose is not None:
            self.closing = asyncio.ensure_future(aclose())


class StreamReaderProducer(_AsyncSource):
    """Produces the bytes read from an :class:`asyncio.StreamReader`."""

    def __init__(self, reader: asyncio.StreamReader, chunk: int = 65536) -> None:
        super().__init__()
        self.reader = reader
        self.chunk = chunk

    async def fetch(self) -> bytes:
        return await self.reader.read(self.chunk)


class FileProducer:
    """Produces the bytes of a binary file, read straight into the reader's buffer."""

    def __init__(self, f: BinaryIO, chunk: int = 65536) -> None:
        self.f = f
        self.chunk = chunk

    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
        room = dst.remaining()
        if room == 0:
            return COMPLETED
        view = dst.as_direct(self.chunk if room is None else room)
        n = self.f.readinto(view)  # type: ignore[attr-defined]
        if not n:
            if room is None:
                dst.mark_written(0)
            return DROPPED
        dst.mark_written(n)
        return COMPLETED


class ValueFutureProducer:
    """A future whose value is known now."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def poll_produce(self, store: Any, dst: FutureDestination, finish: bool) -> StreamResult:
        dst.set(self.value)
        return COMPLETED


class AwaitableFutureProducer:
    """A future whose value is the result of an awaitable (run on the running loop)."""

    def __init__(self, aw: Awaitable[Any]) -> None:
        self.aw = aw
        self.task: asyncio.Future[Any] | None = None

    def poll_produce(self, store: Any, dst: FutureDestination, finish: bool) -> StreamResult:
        task = self.task
        if task is None:
            task = self.task = asyncio.ensure_future(self.aw, loop=_loop_of(store))
            wake = dst.wake
            task.add_done_callback(lambda _: wake())
        if not task.done():
            return CANCELLED if finish else PENDING
        dst.set(task.result())
        return COMPLETED

    def close(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()


# --- consumers ---------------------------------------------------------------------------------


class BytearrayConsumer:
    """Appends everything written to a ``bytearray`` (``self.data``); ``self.closed`` at the end."""

    def __init__(self, data: bytearray | None = None) -> None:
        self.data = bytearray() if data is None else data
        self.closed = False

    def poll_consume(self, store: Any, src: Source, finish: bool) -> StreamResult:
        src.read(self.data)
        return COMPLETED

    def close(self) -> None:
        self.closed = True


class FileConsumer:
    """Writes the bytes written to the stream into a binary file, straight from the writer's buffer."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f

    def poll_consume(self, store: Any, src: Source, finish: bool) -> StreamResult:
        view = src.as_direct()
        n = self.f.write(view)
        src.mark_read(len(view) if n is None else n)
        return COMPLETED


class StreamWriterConsumer:
    """Forwards bytes to an :class:`asyncio.StreamWriter`, answering PENDING while it drains."""

    def __init__(self, writer: asyncio.StreamWriter, close_writer: bool = True) -> None:
        self.writer = writer
        self.close_writer = close_writer
        self.drain: asyncio.Future[Any] | None = None

    def poll_consume(self, store: Any, src: Source, finish: bool) -> StreamResult:
        drain = self.drain
        if drain is not None:
            if not drain.done():
                return PENDING
            self.drain = None
            drain.result()
        if src.remaining() == 0:
            return COMPLETED
        view = src.as_direct()
        self.writer.write(bytes(view))
        src.mark_read(len(view))
        drain = asyncio.ensure_future(self.writer.drain())
        if drain.done():
            return COMPLETED
        self.drain = drain
        wake = src.wake
        drain.add_done_callback(lambda _: wake())
        return PENDING

    def close(self) -> None:
        if self.close_writer:
            self.writer.close()
