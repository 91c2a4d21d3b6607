"""Streams and futures from the host: producers, consumers, readers, adapters.

The host creates a stream with :meth:`StreamReader.new` and a *producer*,
then passes the reader to a guest. A stream from a guest arrives as a
:class:`StreamReader`; :meth:`StreamReader.pipe` attaches a *consumer*, or
:meth:`StreamReader.close` drops it. Futures work the same way
(:class:`FutureReader`).

A producer or consumer works in *steps*, with no rendezvous and no background
task: its step runs the moment the other side starts a copy, inside that copy,
and answers a :class:`StreamResult`; a step that answers ``PENDING`` runs again
after the ``wake`` it was given is called. What a step may do and answer is
written on the protocol methods: :meth:`StreamProducer.poll_produce`,
:meth:`StreamConsumer.poll_consume`, :meth:`FutureProducer.poll_produce` and
:meth:`FutureConsumer.poll_consume`. The runtime checks that contract after
every step; breaking it, or raising from a step, makes the guest trap with a
message naming the rule. The Python process is never harmed.

A producer or consumer is disposed of once (its optional ``close()``), when
the stream or future is over; if the guest holding the other end traps, its
optional ``fail(trap)`` is called first (``async for`` and ``await`` on a
reader raise the trap). A :class:`StreamReader` that is neither piped, closed
nor handed to a guest is closed when garbage-collected, with a
:class:`ResourceWarning`. Ready-made producers and consumers for files, bytes,
async iterables and asyncio streams are in :mod:`.stream_adapters` (re-exported
here); :class:`ListProducer` is here.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast, runtime_checkable

from wasmloom import types as T
from wasmloom.host.stream_adapters import (
    AsyncIterableProducer,
    AwaitableFutureProducer,
    BytearrayConsumer,
    BytesProducer,
    FileConsumer,
    FileProducer,
    StreamReaderProducer,
    StreamWriterConsumer,
    ValueFutureProducer,
)
from wasmloom.runtime.async_values import RuntimeAsyncValues
from wasmloom.runtime.streams import SharedFutureImpl, SharedStreamImpl
from wasmloom.runtime.streams.buffers import (
    Destination,
    FutureDestination,
    FutureSource,
    Source,
)
from wasmloom.runtime.streams.host_ends import (
    UNTYPED,
    ConsumerEnd,
    FutureConsumerEnd,
    FutureProducerEnd,
    HostPump,
    ProducerEnd,
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
    """The host's writing side of a stream.

    Its optional ``close()`` is called once when it is disposed of: after the
    reader dropped its end, or after :meth:`poll_produce` answered ``DROPPED``.
    If the reading guest traps, its optional ``fail(trap)`` is called first.
    """

    def poll_produce(self, store: Any, dst: Destination, finish: bool) -> StreamResult:
        """Produce items for the read the reader has started, into ``dst``.

        **When it runs.** The moment the reader starts a read, inside that read
        (a guest's ``stream.read``, or a host consumer's step for a stream
        between two host ends); again after ``dst.wake()`` when the last step
        answered ``PENDING``. Not while items kept from an earlier step still
        wait for delivery (they fill the next reads first), and never after it
        answered ``DROPPED``.

        **What it may do with dst.** ``dst.remaining()`` is the room left in the
        reader's buffer, or ``None`` for a host reader (no fixed capacity).
        Give items with ``dst.set_buffer(items)`` (a list; for ``stream<u8>``
        also bytes-like): what the reader has no room for is kept and delivered
        to its next reads. For ``stream<u8>``, ``dst.as_direct(n)`` is a view of
        the reader's buffer itself and ``dst.mark_written(k)`` commits the first
        ``k`` bytes written to it; direct bytes come before buffered items.
        ``dst`` and its views are for this step only; ``dst.wake`` may be kept
        and called at any time later, on the store's thread.

        **What it answers.**

        - ``COMPLETED``: items were produced, and more may follow. At least one
          item is required when the reader had room (``dst.remaining()`` > 0 or
          ``None``). For a zero-length read (``dst.remaining() == 0``) it means
          "ready": the next non-empty read will not block (items given now are
          kept for that read).
        - ``DROPPED``: the stream ends here. Items produced in the same step
          are delivered first; the reads after them see the end.
        - ``CANCELLED``: only when ``finish`` is true: wrapped up early, with
          or without items.
        - ``PENDING``: no answer yet, and nothing produced in this step. Keep
          ``dst.wake`` and call it when a step can make progress; the step then
          runs again.

        ``finish`` is true when the reader cancelled its read: answer as soon
        as possible (``CANCELLED`` with nothing produced is fine), or
        ``PENDING`` to finish an operation already under way gracefully.

        **What is checked.** After every step; a broken rule is a
        :class:`~wasmloom.errors.Trap` with one of these messages:
        "stream producer returned PENDING after producing items", "stream
        producer returned COMPLETED without producing any items while the
        reader had capacity", "stream producer returned CANCELLED when finish
        was false", "stream producer returned ..., not a StreamResult". An
        exception from the step is "stream producer failed: ...", and an item
        that is not a valid value of the element type is "the host produced an
        item that is not a valid `T`: ...". A step that ran inside the guest's
        ``stream.read`` traps there; one run by ``wake`` traps the guest when
        it receives the read's event.
        """
        ...


@runtime_checkable
class StreamConsumer(Protocol):
    """The host's reading side of a stream.

    Its optional ``close()`` is called once when it is disposed of: after the
    writer dropped its end (the end of the stream), or after
    :meth:`poll_consume` answered ``DROPPED``. If the writing guest traps, its
    optional ``fail(trap)`` is called first.
    """

    def poll_consume(self, store: Any, src: Source, finish: bool) -> StreamResult:
        """Take items from the write the writer has started, out of ``src``.

        **When it runs.** The moment the writer starts a write, inside that
        write (a guest's ``stream.write``, or a host producer's step for a
        stream between two host ends); again after ``src.wake()`` when the last
        step answered ``PENDING``. Never after it answered ``DROPPED``.

        **What it may do with src.** ``src.remaining()`` is the number of items
        left in the writer's buffer. ``src.read(buffer, limit=None)`` appends up
        to ``limit`` of them (default: all) to a list or ``bytearray``. For
        ``stream<u8>``, ``src.as_direct()`` is a read-only view of the bytes
        left in the writer's buffer and ``src.mark_read(n)`` consumes the first
        ``n`` of them. ``src`` and its views are for this step only;
        ``src.wake`` may be kept and called at any time later, on the store's
        thread.

        **What it answers.**

        - ``COMPLETED``: items were taken, and more may follow. At least one
          item taken during this write (in this step or an earlier ``PENDING``
          one) is required when items were available. For a zero-length write
          (``src.remaining() == 0``) it means "ready": a non-empty write could
          be taken now.
        - ``DROPPED``: the consumer takes nothing more; the writer sees
          ``DROPPED``, with the items taken so far counted as written.
        - ``CANCELLED``: only when ``finish`` is true: wrapped up early, with
          or without items taken.
        - ``PENDING``: no answer yet; the items taken in this step are the
          consumer's (that is backpressure: the write stays pending). Keep
          ``src.wake`` and call it when a step can make progress; the step then
          runs again.

        ``finish`` is true when the writer cancelled its write: answer as soon
        as possible (``CANCELLED`` is fine), or ``PENDING`` to finish an
        operation already under way gracefully.

        **What is checked.** After every step; a broken rule is a
        :class:`~wasmloom.errors.Trap` with one of these messages: "stream
        consumer returned COMPLETED without consuming any items while items
        were available", "stream consumer returned CANCELLED when finish was
        false", "stream consumer returned ..., not a StreamResult". An
        exception from the step is "stream consumer failed: ...". A step that
        ran inside the guest's ``stream.write`` traps there; one run by
        ``wake`` traps the guest when it receives the write's event.
        """
        ...


@runtime_checkable
class FutureProducer(Protocol):
    """The host's writing side of a future.

    Its optional ``close()`` is called once when it is disposed of: after the
    value was delivered or :meth:`poll_produce` answered ``DROPPED``, or after
    the reader dropped its end. If the reading guest traps, its optional
    ``fail(trap)`` is called first.
    """

    def poll_produce(self, store: Any, dst: FutureDestination, finish: bool) -> StreamResult:
        """Produce the future's value for the read the reader has started.

        **When it runs.** The moment the reader starts reading the future,
        inside that read; again after ``dst.wake()`` when the last step
        answered ``PENDING``. Never after it answered ``COMPLETED`` or
        ``DROPPED``.

        **What it may do with dst.** ``dst.set(value)`` gives the value.
        ``dst`` is for this step only; ``dst.wake`` may be kept and called at
        any time later, on the store's thread.

        **What it answers.**

        - ``COMPLETED``: the value was set; it is delivered and the future is
          done.
        - ``DROPPED``: there will be no value (one set in this step is
          discarded); the reader sees ``DROPPED``.
        - ``CANCELLED``: only when ``finish`` is true: the read ends without
          the value (one set in this step is discarded); the reader may read
          again later.
        - ``PENDING``: no answer yet, and no value set in this step. Keep
          ``dst.wake`` and call it when a step can make progress.

        ``finish`` is true when the reader cancelled its read: answer as soon
        as possible, or ``PENDING`` to finish an operation already under way.

        **What is checked.** After every step; a broken rule is a
        :class:`~wasmloom.errors.Trap` with one of these messages: "future
        producer returned PENDING after producing the value", "future producer
        returned COMPLETED without producing the value", "future producer
        returned CANCELLED when finish was false", "future producer returned
        ..., not a StreamResult". An exception from the step is "future
        producer failed: ...", and a value that is not valid for the future's
        type is "the host produced an item that is not a valid `T`: ...". A
        step that ran inside the guest's ``future.read`` traps there; one run
        by ``wake`` traps the guest when it receives the read's event.
        """
        ...


@runtime_checkable
class FutureConsumer(Protocol):
    """The host's reading side of a future.

    Its optional ``close()`` is called once when it is disposed of: after it
    took the value or answered ``DROPPED``, or after the writer dropped its
    end without a value. If the writing guest traps, its optional
    ``fail(trap)`` is called first.
    """

    def poll_consume(self, store: Any, src: FutureSource, finish: bool) -> StreamResult:
        """Take the future's value from the write the writer has started.

        **When it runs.** The moment the writer writes the value, inside that
        write; again after ``src.wake()`` when the last step answered
        ``PENDING``. Never after it answered ``COMPLETED`` or ``DROPPED``.

        **What it may do with src.** ``src.take()`` returns the value (once: a
        second call raises :class:`ValueError`). ``src`` is for this step only;
        ``src.wake`` may be kept and called at any time later, on the store's
        thread.

        **What it answers.**

        - ``COMPLETED``: the value was taken; the future is done.
        - ``DROPPED``: the consumer refuses the value; the writer sees
          ``DROPPED``.
        - ``CANCELLED``: only when ``finish`` is true: the write ends without
          the value being taken.
        - ``PENDING``: no answer yet (take the value in the step that answers
          ``COMPLETED``). Keep ``src.wake`` and call it when a step can make
          progress.

        ``finish`` is true when the writer cancelled its write: answer as soon
        as possible, or ``PENDING`` to finish an operation already under way.

        **What is checked.** After every step; a broken rule is a
        :class:`~wasmloom.errors.Trap` with one of these messages: "future
        consumer returned COMPLETED without taking the value", "future consumer
        returned CANCELLED when finish was false", "future consumer returned
        ..., not a StreamResult". An exception from the step is "future
        consumer failed: ...". A step that ran inside the guest's
        ``future.write`` traps there; one run by ``wake`` traps the guest when
        it receives the write's event.
        """
        ...


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
        host = shared.peer
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
        self._disposed = True  # self._take(), in line
        self.shared.drop()
        _kick(self.store)

    def into_producer(self) -> StreamProducer:
        """The producer of a stream the host created (host-to-host bypass)."""
        if self._disposed:
            self._take()  # raises: a dropped stream no longer has its producer's end
        host = self.shared.peer
        if not isinstance(host, ProducerEnd):
            raise TypeError("this stream was not created by the host")
        self._take()
        if host.has_leftover():
            return ListProducer(host.leftover[host.leftover_pos :], then=host.producer)
        return host.producer  # type: ignore[no-any-return]

    def _lowered(self, t: Any) -> SharedStreamImpl:
        if self._disposed:
            self._take()  # raises
        self._disposed = True
        shared = self.shared
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
        try:
            disposed = self._disposed
        except AttributeError:  # never initialised
            return
        if not disposed:
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
        # FutureProducer's one member, checked directly (isinstance of a runtime-checkable
        # protocol walks the protocol's attributes on every call)
        if getattr(producer, "poll_produce", None) is None:
            producer = AwaitableFutureProducer(cast("Awaitable[Any]", producer))
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
        if self._disposed:
            self._take()  # raises
        self._disposed = True
        shared = self.shared
        host = shared.peer
        if isinstance(host, FutureProducerEnd):
            _FuturePump(store, host, consumer).run()
            return
        FutureConsumerEnd(store, consumer, shared).attach()

    def close(self) -> None:
        if self._disposed:
            return
        self._disposed = True  # self._take(), in line
        self.shared.drop()
        _kick(self.store)

    def into_producer(self) -> FutureProducer:
        if self._disposed:
            self._take()  # raises: a dropped future no longer has its producer's end
        host = self.shared.peer
        if not isinstance(host, FutureProducerEnd):
            raise TypeError("this future was not created by the host")
        self._take()
        return host.producer  # type: ignore[no-any-return]

    def _lowered(self, t: Any) -> SharedFutureImpl:
        if self._disposed:
            self._take()  # raises
        self._disposed = True
        shared = self.shared
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
        try:
            disposed = self._disposed
        except AttributeError:  # never initialised
            return
        if not disposed:
            warnings.warn(
                f"a FutureReader of future<{self.shared.t}> was never piped, closed or handed"
                " to a guest; closing it (the writer sees DROPPED)",
                ResourceWarning,
                stacklevel=2,
            )
            self.close()


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
        self.prod.shared.drop()  # over: unlink the producer's end (it points back) from the future
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
        cls = v.__class__
        if cls is SharedStreamImpl:
            return StreamReader(v, self._store())
        if cls is SharedFutureImpl:
            return FutureReader(v, self._store())
        return v

    def unwrap(self, cx: Any, v: Any, t: Any) -> Any:
        cls = v.__class__
        if cls is StreamReader or cls is FutureReader:
            # v._lowered(t.t), in line (one frame less per stream or future passed)
            if v._disposed:
                v._take()  # raises
            v._disposed = True
            shared = v.shared
            if shared.t is UNTYPED:
                shared.t = t.t
            return shared
        if isinstance(v, _READERS):
            return v._lowered(t.t)
        return v


_READERS = (StreamReader, FutureReader)


# --- adapters: producers ---------------------------------------------------------------------------


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


# --- internal consumers: async for and await on a reader ----------------------------------------


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
