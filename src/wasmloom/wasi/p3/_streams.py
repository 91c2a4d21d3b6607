"""Producers and consumers shared by the WASI 0.3.0 hosts (stdio and files).

They follow the step protocol of :mod:`wasmloom.host.streams`. Blocking work
never runs on the event loop: a step that would block starts a background
task through ``store.spawn`` (so the store counts it as pending host work),
answers ``PENDING`` and wakes the reader or writer when the task is done.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from wasmloom.host.streams import (
    Destination,
    FutureDestination,
    FutureReader,
    Source,
    StreamResult,
)
from wasmloom.values import Err, Ok

if TYPE_CHECKING:
    import asyncio
else:
    from wasmloom.aio import asyncio

__all__ = [
    "AsyncChunkProducer",
    "Completion",
    "DirectSinkConsumer",
    "StreamError",
    "result_future",
    "take_bytes",
]

COMPLETED = StreamResult.COMPLETED
DROPPED = StreamResult.DROPPED
PENDING = StreamResult.PENDING
CANCELLED = StreamResult.CANCELLED


class Completion:
    """A ``future<result<_, E>>`` producer whose value is settled once, later, by the host.

    :meth:`settle` fixes the value and wakes a reader waiting for it; the
    first settlement wins. It holds nothing to release: ``close = None`` tells the
    future's end so (no lookup of a missing ``close`` when it is disposed of).
    """

    __slots__ = ("_value", "_wake")
    close = None

    def __init__(self) -> None:
        self._value: Any = None
        self._wake: Callable[[], None] | None = None

    @property
    def settled(self) -> bool:
        return self._value is not None

    def settle(self, value: Ok[None] | Err[Any]) -> None:
        if self._value is not None:
            return
        self._value = value
        wake, self._wake = self._wake, None
        if wake is not None:
            wake()

    def poll_produce(self, store: Any, dst: FutureDestination, finish: bool) -> StreamResult:
        if self._value is not None:
            dst.set(self._value)
            return COMPLETED
        if finish:
            return CANCELLED
        self._wake = dst.wake
        return PENDING


def result_future(store: Any, completion: Completion) -> FutureReader[Any]:
    """A future for the guest whose value is ``completion``'s."""
    return FutureReader.new(store, completion)


class DirectSinkConsumer:
    """Consumes a ``stream<u8>`` by handing views of the writer's buffer to ``write``.

    ``write(view)`` gets guest memory itself (no copy) and must not keep it;
    it returns ``None`` on success or an error value, which ends the stream
    (DROPPED) and settles ``completion`` with ``Err(error)``. The end of the
    stream settles it with ``Ok(None)``.
    """

    __slots__ = ("_completion", "_write")

    def __init__(self, write: Callable[[memoryview], Any], completion: Completion) -> None:
        self._write = write
        self._completion = completion

    def poll_consume(self, store: Any, src: Source, finish: bool) -> StreamResult:
        try:
            view = src.as_direct()
        except TypeError:  # a host-created (untyped) stream: take a copy instead
            buf = bytearray()
            src.read(buf)
            view = memoryview(buf)
            direct = False
        else:
            direct = True
        if not view:
            return COMPLETED
        err = self._write(view)
        if err is not None:
            self._completion.settle(Err(err))
            return DROPPED
        if direct:
            src.mark_read(len(view))
        return COMPLETED

    def close(self) -> None:
        self._completion.settle(Ok(None))


def take_bytes(src: Source) -> bytes:
    """All bytes ``src`` offers, copied (the guest's buffer is valid only during the step)."""
    try:
        view = src.as_direct()
    except TypeError:  # a host-created (untyped) stream
        buf = bytearray()
        src.read(buf)
        return bytes(buf)
    data = bytes(view)
    src.mark_read(len(data))
    return data


class AsyncChunkProducer:
    """Produces a ``stream<u8>`` from ``fetch(n)``, an async read of up to ``n`` bytes.

    ``fetch`` returns bytes (``b""`` at the end) or raises :class:`StreamError`
    carrying the guest-visible error. ``sync_fetch``, when given and
    ``ready()`` says it will not block, reads straight into the guest's buffer
    instead of going through a task. The end settles ``completion``.
    """

    def __init__(
        self,
        store: Any,
        fetch: Callable[[int], Awaitable[bytes]],
        completion: Completion,
        *,
        sync_readinto: Callable[[memoryview], int] | None = None,
        ready: Callable[[], bool] | None = None,
        chunk: int = 65536,
    ) -> None:
        self._store = store
        self._fetch = fetch
        self._completion = completion
        self._sync_readinto = sync_readinto
        self._ready = ready
        self._chunk = chunk
        self._task: asyncio.Task[bytes] | None = None

    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
        task = self._task
        if task is None:
            room = dst.remaining()
            if self._sync_readinto is not None and (self._ready is None or self._ready()):
                if room == 0:
                    return COMPLETED
                try:
                    try:
                        view = dst.as_direct(room or self._chunk)
                    except TypeError:  # a host reader of an untyped stream
                        scratch = bytearray(room or self._chunk)
                        n = self._sync_readinto(memoryview(scratch))
                        if n:
                            dst.set_buffer(bytes(scratch[:n]))
                            return COMPLETED
                    else:
                        n = self._sync_readinto(view)
                except StreamError as e:
                    self._completion.settle(Err(e.code))
                    return DROPPED
                if n == 0:
                    self._completion.settle(Ok(None))
                    return DROPPED
                dst.mark_written(n)
                return COMPLETED
            if finish:
                return CANCELLED
            want = self._chunk if not room else max(room, 1)
            task = self._task = self._store.spawn(self._fetch(want))
            wake = dst.wake
            task.add_done_callback(lambda _: wake())
            return PENDING
        if not task.done():
            return CANCELLED if finish else PENDING
        self._task = None
        exc = task.exception() if not task.cancelled() else None
        if task.cancelled():
            return CANCELLED
        if isinstance(exc, StreamError):
            self._completion.settle(Err(exc.code))
            return DROPPED
        if exc is not None:
            raise exc
        data = task.result()
        if not data:
            self._completion.settle(Ok(None))
            return DROPPED
        dst.set_buffer(data)
        return COMPLETED

    def close(self) -> None:
        task = self._task
        if task is not None and not task.done():
            task.cancel()
        self._completion.settle(Ok(None))


class StreamError(Exception):
    """A read or write failed with ``code``, the value the guest's result future carries."""

    def __init__(self, code: Any) -> None:
        super().__init__(f"stream error: {code}")
        self.code = code
