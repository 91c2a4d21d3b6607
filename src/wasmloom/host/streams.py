"""Streams and futures from the host: producers, consumers, readers, adapters.

The host creates a stream with :meth:`StreamReader.new` and a *producer*,
then passes the reader to a guest. A stream from a guest arrives as a
:class:`StreamReader`; :meth:`StreamReader.pipe` attaches a *consumer*, or
:meth:`StreamReader.close` drops it. Futures work the same way
(:class:`FutureReader`).

**The step protocol.** ``poll_produce(store, dst, finish)`` runs the moment
the reader starts a read (inside it; no rendezvous, no background task), and
``poll_consume(store, src, finish)`` the moment the writer starts a write. A
step returns a :class:`StreamResult`:

- ``COMPLETED``: items moved; more may follow. A producer must have produced
  at least one item if the reader had room (``dst.remaining()`` > 0 or None);
  a consumer must have taken at least one item if any was available.
- ``DROPPED``: this end is done (end of stream / no more room). Items moved in
  the same step are delivered first.
- ``CANCELLED``: only when ``finish`` is true: wrapped up early, possibly
  with nothing moved.
- ``PENDING``: no answer yet. Keep ``dst.wake``/``src.wake`` and call it (on
  the store's thread) when the step can make progress; the step then runs
  again. A producer must not return ``PENDING`` after producing items in the
  same step (a consumer may: that is backpressure; the items it took are
  its responsibility).

``finish`` is true when the guest cancelled the copy: answer as soon as
possible (``CANCELLED`` with nothing moved is fine), or ``PENDING`` to finish
an operation already under way gracefully.

**Zero-length copies are readiness probes.** A producer called with
``dst.remaining() == 0`` may answer ``COMPLETED`` (meaning: the next non-empty
read will not block), put items in ``dst.set_buffer`` (they are kept for the
next read), ``PENDING`` until it is ready, or ``DROPPED``. A consumer called
with ``src.remaining() == 0`` answers ``COMPLETED`` once it can take an item.

Breaking a rule above makes the guest trap with a message naming the rule;
so does an exception from a step. The Python process is never harmed.

**Disposal.** When the other end is dropped, or the step answered
``DROPPED``, the runtime calls the producer's or consumer's ``close()`` if it
has one (for a consumer, this is also the end-of-stream signal). If the
guest holding the other end traps, its pending copy is forgotten and the
producer or consumer is disposed of the same way, after a call of its optional
``fail(trap)`` method (``async for`` and ``await`` on a reader raise the trap). A
:class:`StreamReader` that is neither piped, closed nor handed to a guest is
closed when garbage-collected, with a :class:`ResourceWarning`.
"""

from __future__ import annotations

import asyncio
import warnings
import weakref
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Generator
from typing import Any, BinaryIO, Generic, Protocol, TypeVar, runtime_checkable

from wasmloom import types as T
from wasmloom.runtime.async_values import RuntimeAsyncValues
from wasmloom.runtime.host_streams import (
    UNTYPED,
    ConsumerEnd,
    Destination,
    FutureConsumerEnd,
    FutureDestination,
    FutureProducerEnd,
    FutureSource,
    HostPump,
    ProducerEnd,
    Source,
    StreamResult,
)
from wasmloom.runtime.streams import SharedFutureImpl, SharedStreamImpl

__all__ = [
    "AsyncIterableProducer",
    "AwaitableFutureProducer",
    "BytearrayConsumer",
    "BytesProducer",
    "Destination",
    "FileConsumer",
    "FileProducer",
    "FutureConsumer",
    "FutureDestination",
    "FutureProducer",
    "FutureReader",
    "FutureSource",
    "ListProducer",
    "Source",
    "StreamConsumer",
    "StreamProducer",
    "StreamReader",
    "StreamReaderProducer",
    "StreamResult",
    "StreamWriterConsumer",
    "ValueFutureProducer",
]

Item = TypeVar("Item")

COMPLETED = StreamResult.COMPLETED
CANCELLED = StreamResult.CANCELLED
DROPPED = StreamResult.DROPPED
PENDING = StreamResult.PENDING


# --- protocols --------------------------------------------------------------------------------


@runtime_checkable
class StreamProducer(Protocol):
    """The host's writing side of a stream (see the module docstring for the contract).

    An optional ``close()`` method is called once when the producer is disposed of.
    """

    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult: ...


@runtime_checkable
class StreamConsumer(Protocol):
    """The host's reading side of a stream (see the module docstring for the contract).

    An optional ``close()`` method is called once when the consumer is
    disposed of: after the writer dropped its end (end of stream), or after
    the consumer answered ``DROPPED``.
    """

    def poll_consume(self, store: Any, src: Source, finish: bool) -> StreamResult: ...


@runtime_checkable
class FutureProducer(Protocol):
    """The host's writing side of a future: ``dst.set(value)`` then ``COMPLETED``, or ``PENDING``."""

    def poll_produce(self, store: Any, dst: FutureDestination, finish: bool) -> StreamResult: ...


@runtime_checkable
class FutureConsumer(Protocol):
    """The host's reading side of a future: ``src.take()`` then ``COMPLETED``, or ``PENDING``."""

    def poll_consume(self, store: Any, src: FutureSource, finish: bool) -> StreamResult: ...


# --- readers ----------------------------------------------------------------------------------


class StreamReader(Generic[Item]):
    """The readable end of a ``stream<T>`` held by the host.

    Dispose of it exactly once: :meth:`pipe` a consumer, :meth:`close` it,
    pass it to a guest (as an argument or a result), or take back its
    producer (:meth:`into_producer`, for streams the host created). ``async
    with reader:`` closes it on exit unless it was disposed of inside.
    """

    __slots__ = ("__weakref__", "_disposed", "shared", "store")

    def __init__(self, shared: SharedStreamImpl, store: Any = None) -> None:
        self.shared = shared
        self._disposed = False
        #: The store of the guest the stream came from (``None`` for a host-created one).
        self.store = store

    @classmethod
    def new(cls, store: Any, producer: StreamProducer) -> StreamReader[Any]:
        """A new stream whose items come from ``producer``; hand the reader to a guest."""
        end = ProducerEnd(store, producer)
        shared = SharedStreamImpl(UNTYPED, end)
        end.shared = shared
        return cls(shared, store)

    @property
    def element_type(self) -> T.ValType | None:
        """The element type (``None`` for ``stream``); unknown until first given to a guest."""
        t = self.shared.t
        return None if t is UNTYPED else t

    def _take(self) -> SharedStreamImpl:
        if self._disposed:
            raise ValueError("this StreamReader was already piped, closed or handed over")
        self._disposed = True
        return self.shared

    def _untake(self, t: Any) -> None:
        """Undo :meth:`_take` for a hand-over to a guest that failed (the call's other
        arguments could not be lowered): the reader is the host's again, typed ``t``."""
        self._disposed = False
        self.shared.t = t

    def pipe(self, store: Any, consumer: StreamConsumer) -> None:
        """Attach ``consumer``: it answers every write from now on (and a write already waiting)."""
        shared = self._take()
        host = shared.host
        if isinstance(host, ProducerEnd):
            # host to host: no guest in between
            host.pump = pump = HostPump(store, host, consumer)
            pump.run()
            return
        ConsumerEnd(store, consumer, shared).attach()

    def close(self) -> None:
        """Drop this end: the writer sees DROPPED; a host producer is disposed of."""
        if self._disposed:
            return
        self._take().drop()
        _kick(self.store)

    def into_producer(self) -> StreamProducer:
        """The producer of a stream the host created (host-to-host bypass)."""
        host = self.shared.host
        if not isinstance(host, ProducerEnd):
            raise TypeError("this stream was not created by the host")
        self._take()
        if host.has_leftover():
            return ListProducer(host.leftover[host.leftover_pos :], then=host.producer)
        return host.producer  # type: ignore[no-any-return]

    def _lowered(self, t: Any) -> SharedStreamImpl:
        shared = self._take()
        if shared.t is UNTYPED:
            shared.t = t
        return shared

    async def __aenter__(self) -> StreamReader[Item]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __enter__(self) -> StreamReader[Item]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __aiter__(self) -> AsyncGenerator[Any, None]:
        """Iterate the stream's chunks (``bytes`` for ``stream<u8>``, else lists).

        The chunk consumer is attached with the reader's :attr:`store`. The
        iterator is an async generator: leaving ``async for`` early (``break``,
        an exception) closes it, which drops the stream (the writer's next
        write sees DROPPED, a pending one at once); ``await it.aclose()`` does
        so explicitly. If the writing guest traps, the iteration raises its trap.
        """
        consumer = _ChunkConsumer(self.shared.t == T.PrimType("u8"))
        self.pipe(self.store, consumer)
        return consumer.chunks()

    def __del__(self) -> None:
        if not getattr(self, "_disposed", True):
            warnings.warn(
                f"a StreamReader of stream<{self.shared.t}> was never piped, closed or handed"
                " to a guest; closing it (the writer sees DROPPED)",
                ResourceWarning,
                stacklevel=2,
            )
            self.close()

    def __repr__(self) -> str:
        return f"<StreamReader stream<{self.shared.t}>>"


class FutureReader(Generic[Item]):
    """The readable end of a ``future<T>`` held by the host.

    Dispose of it like a :class:`StreamReader`; or ``await`` it for the value
    (on a running asyncio loop).
    """

    __slots__ = ("__weakref__", "_disposed", "shared", "store")

    def __init__(self, shared: SharedFutureImpl, store: Any = None) -> None:
        self.shared = shared
        self._disposed = False
        #: The store of the guest the future came from (``None`` for a host-created one).
        self.store = store

    @classmethod
    def new(cls, store: Any, producer: FutureProducer | Awaitable[Any]) -> FutureReader[Any]:
        """A new future whose value comes from ``producer`` (or from an awaitable)."""
        if not isinstance(producer, FutureProducer):
            producer = AwaitableFutureProducer(producer)
        end = FutureProducerEnd(store, producer)
        shared = SharedFutureImpl(UNTYPED, end)
        end.shared = shared
        return cls(shared, store)

    def _take(self) -> SharedFutureImpl:
        if self._disposed:
            raise ValueError("this FutureReader was already piped, closed or handed over")
        self._disposed = True
        return self.shared

    def _untake(self, t: Any) -> None:
        """Undo :meth:`_take` for a hand-over to a guest that failed (the call's other
        arguments could not be lowered): the reader is the host's again, typed ``t``."""
        self._disposed = False
        self.shared.t = t

    def pipe(self, store: Any, consumer: FutureConsumer) -> None:
        """Attach ``consumer``: it takes the value when the writer writes it."""
        shared = self._take()
        host = shared.host
        if isinstance(host, FutureProducerEnd):
            _FuturePump(store, host, consumer).run()
            return
        FutureConsumerEnd(store, consumer, shared).attach()

    def close(self) -> None:
        if self._disposed:
            return
        self._take().drop()
        _kick(self.store)

    def into_producer(self) -> FutureProducer:
        host = self.shared.host
        if not isinstance(host, FutureProducerEnd):
            raise TypeError("this future was not created by the host")
        self._take()
        return host.producer  # type: ignore[no-any-return]

    def _lowered(self, t: Any) -> SharedFutureImpl:
        shared = self._take()
        if shared.t is UNTYPED:
            shared.t = t
        return shared

    def __await__(self) -> Generator[Any, None, Any]:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pipe(self.store, _SetFuture(fut))
        return fut.__await__()

    async def __aenter__(self) -> FutureReader[Item]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_disposed", True):
            warnings.warn(
                f"a FutureReader of future<{self.shared.t}> was never piped, closed or handed"
                " to a guest; closing it (the writer sees DROPPED)",
                ResourceWarning,
                stacklevel=2,
            )
            self.close()


def _loop_of(store: Any) -> asyncio.AbstractEventLoop:
    """The loop host work of ``store`` runs on (the running loop, else the store's own)."""
    sched = getattr(store, "scheduler", None)
    return asyncio.get_running_loop() if sched is None else sched.loop()


def _kick(store: Any) -> None:
    """Run the guest a drop made ready (its task may have outlived every host call)."""
    sched = getattr(store, "scheduler", None)
    if sched is not None:
        sched.kick()


class _FuturePump:
    def __init__(self, store: Any, prod: FutureProducerEnd, consumer: FutureConsumer) -> None:
        self.store = store
        self.prod = prod
        self.consumer = consumer
        self.done = False

    def run(self) -> None:
        if self.done:
            return
        d = FutureDestination(self.run)
        r = self.prod.producer.poll_produce(self.store, d, False)
        if r is PENDING:
            return
        self.done = True
        self.prod.dispose()
        if r is COMPLETED:
            box = _Box(d.value)
            self.consumer.poll_consume(self.store, box, False)  # type: ignore[arg-type]
        close = getattr(self.consumer, "close", None)
        if close is not None:
            close()


class _Box:
    def __init__(self, value: Any) -> None:
        self.value = value
        self.taken = False
        self.wake = _noop

    def take(self) -> Any:
        self.taken = True
        return self.value


def _noop() -> None:
    return None


# lifting (guest -> host) wraps; lowering (host -> guest) unwraps


class HostAsyncValues(RuntimeAsyncValues):
    """Streams and futures as the host of a :class:`Store` sees them (the store gives
    this to the runtime): a stream or future lifted for the host becomes a
    :class:`StreamReader`/:class:`FutureReader` of the store, and one the host
    passes is unwrapped back (its reader gives it up)."""

    __slots__ = ("_store",)

    def __init__(self, store: Any) -> None:
        self._store = weakref.ref(store)

    def wrap(self, cx: Any, v: Any, t: Any) -> Any:
        if isinstance(v, SharedStreamImpl):
            return StreamReader(v, self._store())
        if isinstance(v, SharedFutureImpl):
            return FutureReader(v, self._store())
        return v

    def unwrap(self, cx: Any, v: Any, t: Any) -> Any:
        if isinstance(v, StreamReader | FutureReader):
            return v._lowered(t.t)
        return v


# --- adapters: producers ---------------------------------------------------------------------------


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


class ListProducer:
    """Produces the items of a list (any element type), then ``then``'s items if given."""

    def __init__(self, items: Any, then: StreamProducer | None = None) -> None:
        self.items = items
        self.then = then

    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
        if self.items is not None and len(self.items):
            dst.set_buffer(self.items)
            self.items = None
            return COMPLETED if self.then is not None else DROPPED
        if self.then is not None:
            return self.then.poll_produce(store, dst, finish)
        return DROPPED

    def close(self) -> None:
        close = getattr(self.then, "close", None)
        if close is not None:
            close()


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


# --- adapters: consumers --------------------------------------------------------------------------


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


_END: Any = object()


class _ChunkConsumer:
    """Backs ``async for chunk in reader``: takes items only while the iterator waits."""

    def __init__(self, is_bytes: bool) -> None:
        self.is_bytes = is_bytes
        self.waiter: asyncio.Future[Any] | None = None
        self.wake: Callable[[], None] | None = None
        self.ended = False
        self.dropped = False  # the iteration stopped early: answer DROPPED
        self.error: BaseException | None = None

    def poll_consume(self, store: Any, src: Source, finish: bool) -> StreamResult:
        if self.dropped:
            return DROPPED
        waiter = self.waiter
        if waiter is None or waiter.done():
            self.wake = src.wake
            return CANCELLED if finish else PENDING
        if src.remaining() == 0:
            return COMPLETED
        chunk: Any = bytearray() if self.is_bytes else []
        src.read(chunk)
        self.waiter = None
        waiter.set_result(bytes(chunk) if self.is_bytes else chunk)
        return COMPLETED

    def close(self) -> None:
        self.ended = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(_END)

    def fail(self, error: BaseException) -> None:
        """The writing guest trapped: the iteration raises ``error``."""
        self.error = error
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)

    def drop(self) -> None:
        """The iteration stopped early: refuse the rest (a write waiting now sees DROPPED)."""
        if self.ended or self.dropped:
            return
        self.dropped = True
        wake = self.wake
        self.wake = None
        if wake is not None:
            wake()

    async def next(self) -> Any:
        """The next chunk, or ``_END`` at the end of the stream."""
        if self.error is not None:
            raise self.error
        if self.ended:
            return _END
        self.waiter = waiter = asyncio.get_running_loop().create_future()
        wake = self.wake
        if wake is not None:
            self.wake = None
            wake()
        return await waiter

    async def chunks(self) -> AsyncGenerator[Any, None]:
        try:
            while True:
                chunk = await self.next()
                if chunk is _END:
                    return
                yield chunk
        finally:
            self.drop()


class _SetFuture:
    def __init__(self, fut: asyncio.Future[Any]) -> None:
        self.fut = fut

    def poll_consume(self, store: Any, src: FutureSource, finish: bool) -> StreamResult:
        if not self.fut.done():
            self.fut.set_result(src.take())
        return COMPLETED

    def close(self) -> None:
        if not self.fut.done():
            self.fut.set_exception(EOFError("the future's writer dropped it without a value"))

    def fail(self, error: BaseException) -> None:
        if not self.fut.done():
            self.fut.set_exception(error)
