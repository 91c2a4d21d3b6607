"""The host's ends of streams and futures: one implementation of the peer interface (sans-I/O).

A stream or future one of whose ends the host holds has a *host end* as the
peer of its :class:`~wasmloom.runtime.streams.machine.SharedStreamImpl`
(``shared.peer``; see :class:`~wasmloom.runtime.streams.machine.StreamPeer`):

- :class:`ProducerEnd`: the host writes. Each read the other side starts runs
  the producer's ``poll_produce`` at once, inside that read.
- :class:`ConsumerEnd`: the host reads. Each write runs ``poll_consume``.
- :class:`FutureProducerEnd`/:class:`FutureConsumerEnd`: the same for futures.
- :class:`HostPump`: both ends are the host's; the producer feeds the consumer.

A step answers with a :class:`StreamResult`. ``PENDING`` leaves the copy
pending; the producer or consumer calls the ``wake`` it was given (from the
store's thread) when it can make progress, and the step runs again. The
contracts of the protocols (written on the methods of
:mod:`wasmloom.host.streams`) are checked after every step; a broken one is a
:class:`~wasmloom.errors.Trap` whose message names the rule. A step that runs
inside a guest's built-in raises it there; a step run by ``wake`` outside guest
code delivers it with the copy's event, so the guest traps when it receives
that event.

Nothing here does I/O or touches asyncio.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

from wasmloom.errors import Trap
from wasmloom.runtime.streams.buffers import (
    Destination,
    FutureDestination,
    FutureSource,
    Source,
    deliver,
)
from wasmloom.runtime.streams.machine import (
    COPY_CANCELLED,
    COPY_COMPLETED,
    COPY_DROPPED,
    DROPPED_END,
    CopyResult,
    FailedEnd,
)

__all__ = [
    "UNTYPED",
    "ConsumerEnd",
    "FutureConsumerEnd",
    "FutureProducerEnd",
    "HostPump",
    "ProducerEnd",
    "StreamResult",
]


class _Untyped:
    def __repr__(self) -> str:
        return "UNTYPED"


# The element type of a host-created stream before it is first lowered into a guest.
UNTYPED: Any = _Untyped()


class StreamResult(Enum):
    """What one produce or consume step answers.

    ``COMPLETED``: items moved (or, for a zero-length copy, ready for the next
    one); more may follow. ``CANCELLED``: wrapped up early because ``finish``
    was true. ``DROPPED``: this end is done; no more items. ``PENDING``: no
    answer yet; the step runs again after ``wake()``.
    """

    COMPLETED = "completed"
    CANCELLED = "cancelled"
    DROPPED = "dropped"
    PENDING = "pending"


COMPLETED = StreamResult.COMPLETED
CANCELLED = StreamResult.CANCELLED
DROPPED = StreamResult.DROPPED
PENDING = StreamResult.PENDING


def _raiser(trap: Trap) -> Callable[[], None]:
    def raise_trap() -> None:
        raise trap

    return raise_trap


def _element_type(shared: Any) -> Any:
    t = shared.t
    return None if t is UNTYPED else t


# --- the step runner ---------------------------------------------------------------------------


def _call(what: str, fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except Trap:
        raise
    except Exception as e:
        raise Trap(f"{what} failed: {e!r}") from e


def _dispose(what: str, obj: Any) -> None:
    close = getattr(obj, "close", None)
    if close is not None:
        try:
            close()
        except Trap:
            raise
        except Exception as e:
            raise Trap(f"{what}.close() failed: {e!r}") from e


class _Stepper:
    """Runs a step now, or again after ``wake``; never re-entered.

    While a step is PENDING the copy counts as host work in flight for the
    store's scheduler (``host_pending``), so a guest waiting for it is not
    reported as deadlocked; a result delivered from ``wake`` (outside guest
    code) kicks the scheduler so the waiting guest thread runs.
    """

    __slots__ = ("held", "op", "polling", "rewake", "sched")

    op: Any
    polling: bool
    rewake: bool
    held: bool
    sched: Any  # the store's scheduler (``None`` without one), set by the subclass

    def _hold(self) -> None:
        sched = self.sched
        if not self.held and sched is not None:
            self.held = True
            sched.host_pending += 1

    def _release(self, deferred: bool) -> None:
        sched = self.sched
        if sched is None:
            return
        if self.held:
            self.held = False
            sched.host_pending -= 1
        if deferred:
            sched.kick()

    def poll(self) -> Any:
        raise NotImplementedError

    def run(self, deferred: bool) -> None:
        """Run steps while woken; deliver the result to the pending copy."""
        if self.polling:
            self.rewake = True
            return
        op = self.op
        if op is None:
            return
        try:
            result = self.step_now()
        except Trap as trap:
            if not deferred:
                self._release(False)
                raise
            if len(op) == 3:
                op[1](_raiser(trap))  # a stream copy: trap when the event is received
            else:
                op[1](_RaisingResult(trap))  # a future copy: likewise
            self._release(True)
            return
        if result is None:
            self._hold()
            return
        op[-1](result)
        self._release(deferred)

    def step_now(self) -> Any:
        """Run the step of the copy in ``op`` (again while woken during it); return its result.

        ``None``: the step is PENDING and the copy stays in ``op`` (a copy
        started by ``read_now``/``write_now`` gets its callbacks with
        :meth:`pend`). A trap propagates, the copy forgotten.
        """
        self.polling = True
        try:
            while True:
                self.rewake = False
                try:
                    result = self.poll()
                except Trap:
                    self.op = None
                    raise
                if result is not None:
                    self.op = None
                    return result
                if not self.rewake:
                    return None
        finally:
            self.polling = False

    def settle(self, r: Any) -> CopyResult | None:
        """Finish the step of the copy in ``op`` that a stream end ran in line (with
        ``polling`` set) and that answered ``r``: check the answer, and run the step
        again (:meth:`step_now`) if it was woken while PENDING. The copy's result, or
        ``None`` (it stays in ``op``)."""
        try:
            try:
                result = self._outcome(r)
            except Trap:
                self.op = None
                raise
            if result is not None:
                self.op = None
                return result  # type: ignore[no-any-return]
            if not self.rewake:
                return None
        finally:
            self.polling = False
        return self.step_now()  # type: ignore[no-any-return]

    def _outcome(self, r: Any) -> Any:
        raise NotImplementedError

    def pend(self, *callbacks: Any) -> None:
        """Give the copy ``read_now``/``write_now`` left pending its callbacks (``on_copy`` and
        ``on_copy_done`` for a stream, ``on_copy_done`` for a future); a later wake
        delivers its result through them."""
        self.op = (self.op[0], *callbacks)
        if self.polling:
            self.rewake = True  # the step running now runs again, for this copy
        else:
            self._hold()

    def wake(self) -> None:
        if self.polling:
            self.rewake = True  # the step running now runs again (if it answers PENDING)
        elif self.op is not None:
            self.run(True)

    def abandon(self) -> None:
        """Forget the pending copy (its guest will never run again); no result is delivered."""
        self.op = None
        self._release(False)


def _fail_and_dispose(what: str, obj: Any, error: BaseException) -> None:
    """Tell a producer or consumer its guest trapped: ``fail(error)`` if it has one, then ``close()``."""
    fail = getattr(obj, "fail", None)
    if fail is not None:
        _call(f"{what}.fail()", fail, error)
    _dispose(what, obj)


class _HostEnd(_Stepper):
    """The host's end of one stream or future, run by the user's producer or consumer ``obj``.

    ``ended``: the other side may copy no more (the producer or consumer
    answered DROPPED or finished the future, or the guest trapped).
    ``dispose()`` closes ``obj`` once, when the stream or future is over.
    """

    __slots__ = ("disposed", "ended", "finish", "obj", "shared", "store", "view")

    #: What ``obj`` is, in messages ("stream producer", ...).
    what = ""

    def __init__(self, store: Any, obj: Any, shared: Any = None) -> None:
        self.op = None
        self.polling = False
        self.rewake = False
        self.held = False
        try:
            self.sched = store.scheduler
        except AttributeError:  # no store, or one without a scheduler
            self.sched = None
        self.store = store
        self.obj = obj
        self.shared: Any = shared
        self.ended = False
        self.disposed = False
        self.finish = False  # the current step is asked to wrap up (the copy was cancelled)
        # The Destination or Source handed to every stream step (re-armed for each);
        # it holds ``self.wake`` (a cycle), so it is let go once no step will run again.
        self.view: Any = None

    def cancel(self) -> None:
        if self.op is not None:
            self.finish = True
            self.run(False)

    def dispose(self) -> None:
        """The stream or future is over: close ``obj`` once, and let go of the view
        (so reference counting frees this end)."""
        if not self.disposed:
            self.disposed = True
            self.view = None
            _dispose(self.what, self.obj)

    #: The other end dropped: the stream or future is over; dispose of ``obj``.
    drop = dispose

    def _end(self) -> None:
        """``obj`` answered its last copy: dispose of it, and leave the stream or
        future, whose peer becomes :data:`DROPPED_END` (which answers as this end
        now would: DROPPED to a copy, nothing to a cancel, drop or fail), so that
        no call reaches this end when the guest drops its end."""
        self.ended = True
        if not self.disposed:  # self.dispose(), in line
            self.disposed = True
            self.view = None
            _dispose(self.what, self.obj)
        shared = self.shared
        if shared is not None and shared.peer is self:
            shared.peer = DROPPED_END

    def step_failed(self, e: BaseException) -> BaseException:
        """The exception to raise for ``e``, raised by the first step a guest's copy ran
        in line (``polling`` set): ``e`` itself if it is a :class:`Trap` or not an
        ``Exception``, else a Trap naming ``obj``. Clears ``polling``."""
        self.polling = False
        if isinstance(e, Trap) or not isinstance(e, Exception):
            return e
        trap = Trap(f"{self.what} failed: {e!r}")
        trap.__cause__ = e
        return trap

    def fail(self, error: BaseException) -> None:
        """The guest holding the other end trapped: forget its copy, dispose with ``error``."""
        self.abandon()
        self.ended = True
        if not self.disposed:
            self.disposed = True
            self.view = None
            _fail_and_dispose(self.what, self.obj, error)

    def start_copy(self, inst: Any, buf: Any) -> CopyResult | None:
        """Start a guest's copy through ``buf``: DROPPED if this end has ended, else
        put the copy in ``op`` and run its step now (see :meth:`step_now`) and return
        its result, or ``None``: the copy is pending (also when called from inside a
        step, which then runs it) and :meth:`pend` gives it its callbacks."""
        if self.ended:
            return COPY_DROPPED
        self.finish = False
        self.op = (buf,)
        if self.polling:
            return None
        return self.step_now()  # type: ignore[no-any-return]

    def _future_outcome(self, r: Any, moved: bool, missing: str) -> Any:
        """The copy result of a future's step that answered ``r`` (not PENDING);
        ``moved``: the value was produced or taken. Traps on a broken rule.

        A future whose copy is over (COMPLETED or DROPPED) is done for this end
        (see :meth:`_end`)."""
        if r is COMPLETED:
            if not moved:
                raise Trap(f"{self.what} returned COMPLETED without {missing}")
            result = COPY_COMPLETED
        elif r is DROPPED:
            result = COPY_DROPPED
        elif r is CANCELLED:
            if not self.finish:
                raise Trap(f"{self.what} returned CANCELLED when finish was false")
            return COPY_CANCELLED
        else:
            raise Trap(f"{self.what} returned {r!r}, not a StreamResult")
        self._end()
        return result


class _ConsumerHostEnd(_HostEnd):
    """A host end attached to a stream or future a guest writes (it may already have a write pending)."""

    __slots__ = ()

    def attach(self) -> None:
        """Become the peer of ``shared``: take over the guest's writes, including one
        already pending on the rendezvous this end replaces."""
        shared = self.shared
        prev = shared.peer
        shared.peer = self
        if isinstance(prev, FailedEnd):
            self.fail(prev.error)
            return
        op = prev.take_pending()
        if shared.dropped:
            self.dispose()
        elif op is not None:
            self.op = op
            self.run(True)


class ProducerEnd(_HostEnd):
    """The host's writable end of a stream: ``producer.poll_produce`` answers each read."""

    __slots__ = ("leftover", "leftover_pos", "pump")

    what = "stream producer"

    def __init__(self, store: Any, producer: Any) -> None:
        _HostEnd.__init__(self, store, producer)
        self.leftover: Any = None
        self.leftover_pos = 0
        self.pump: HostPump | None = None

    @property
    def producer(self) -> Any:
        return self.obj

    def has_leftover(self) -> bool:
        lo = self.leftover
        return lo is not None and self.leftover_pos < len(lo)

    def _answer_unstepped(self, buf: Any) -> Any:
        """A read answered without a step: items kept from an earlier step go into
        ``buf`` (COMPLETED), or the producer has ended (DROPPED); else ``None``."""
        lo = self.leftover
        if lo is not None:
            if self.leftover_pos < len(lo):
                self.leftover_pos += deliver(buf, lo, self.leftover_pos)
                return COPY_COMPLETED
            self.leftover = None
        return COPY_DROPPED if self.ended else None

    def read_now(self, inst: Any, buf: Any) -> CopyResult | None:
        """A guest reads into ``buf``: its result now, or ``None`` (pending: see :meth:`pend`).

        Runs the first step (and again while woken during it). The guest's
        ``stream.read`` built-in runs the first step of a read in line instead
        (see :func:`wasmloom.runtime.builtins.streams._stream_copy`), and comes
        here only when this end has items kept from an earlier step, has ended,
        or is inside a step.
        """
        if self.leftover is not None or self.ended:
            r = self._answer_unstepped(buf)
            if r is not None:
                return r  # type: ignore[no-any-return]
        return self.start_copy(inst, buf)

    def poll(self) -> CopyResult | None:
        """Run a step of the read in ``op``; its result, or ``None`` if PENDING."""
        d = self.view
        if d is None:
            d = self.view = Destination(None, None, self.wake)
        d._buf = self.op[0]
        d._items = None
        try:  # _call in line
            r = self.obj.poll_produce(self.store, d, self.finish)
        except Exception as e:
            raise self.step_failed(e)  # noqa: B904 (the cause is set there)
        return self._outcome(r)

    def write_now(self, inst: Any, buf: Any) -> CopyResult | None:
        raise Trap("cannot write to the host's end of a stream")

    def wake(self) -> None:
        if self.pump is not None:
            self.pump.run()
        else:
            super().wake()

    def _outcome(self, r: Any) -> CopyResult | None:
        """The result of the read in ``op`` whose step answered ``r`` into the view;
        ``None`` if PENDING. Delivers the items the step gave; traps on a broken rule."""
        buf = self.op[0]
        d = self.view
        items = d._items
        n_items = 0 if items is None else len(items)
        # A step starts with nothing moved into ``buf`` (a step that moves items
        # ends the copy), so its progress is what the step wrote there directly.
        produced = buf.progress + n_items
        if r is PENDING:
            if produced:
                raise Trap("stream producer returned PENDING after producing items")
            return None
        if r is CANCELLED:
            if not self.finish:
                raise Trap("stream producer returned CANCELLED when finish was false")
        elif r is COMPLETED:
            if produced == 0 and buf.length > buf.progress:
                raise Trap(
                    "stream producer returned COMPLETED without producing any items"
                    " while the reader had capacity"
                )
        elif r is not DROPPED:
            raise Trap(f"stream producer returned {r!r}, not a StreamResult")
        if n_items:
            k = deliver(buf, items, 0)
            if k < n_items:
                self.leftover = items
                self.leftover_pos = k
        if r is DROPPED:
            lo = self.leftover  # self.has_leftover(), in line
            if lo is not None and self.leftover_pos < len(lo):
                self.ended = True  # it delivers its items kept first
                self.dispose()
                return COPY_COMPLETED
            self._end()
            return COPY_DROPPED
        return COPY_CANCELLED if r is CANCELLED else COPY_COMPLETED


class ConsumerEnd(_ConsumerHostEnd):
    """The host's readable end of a stream a guest writes: ``consumer.poll_consume`` answers each write."""

    __slots__ = ("avail", "taken")

    what = "stream consumer"

    def __init__(self, store: Any, consumer: Any, shared: Any) -> None:
        _HostEnd.__init__(self, store, consumer, shared)
        self.taken = 0  # items taken during the current write
        self.avail = 0  # items the write had before the current step

    @property
    def consumer(self) -> Any:
        return self.obj

    def read_now(self, inst: Any, buf: Any) -> CopyResult | None:
        raise Trap("cannot read from the host's end of a stream")

    def write_now(self, inst: Any, buf: Any) -> CopyResult | None:
        """A guest writes from ``buf``: its result now, or ``None`` (pending: see :meth:`pend`).

        Runs the first step (and again while woken during it); the guest's
        ``stream.write`` built-in runs the first step in line instead, as for
        :meth:`ProducerEnd.read_now`.
        """
        self.taken = 0
        return self.start_copy(inst, buf)

    def poll(self) -> CopyResult | None:
        """Run a step of the write in ``op``; its result, or ``None`` if PENDING."""
        s = self.view
        if s is None:
            s = self.view = Source(None, None, self.wake)
        buf = self.op[0]
        self.avail = buf.length - buf.progress
        s._buf = buf
        s.taken = 0
        try:  # _call in line
            r = self.obj.poll_consume(self.store, s, self.finish)
        except Exception as e:
            raise self.step_failed(e)  # noqa: B904 (the cause is set there)
        self.taken += s.taken
        return self._outcome(r)

    def _outcome(self, r: Any) -> CopyResult | None:
        """The result of the write in ``op`` whose step answered ``r`` (the write had
        ``avail`` items before the step); ``None`` if PENDING. Traps on a broken rule."""
        avail = self.avail
        if r is PENDING:
            return None
        if r is CANCELLED:
            if not self.finish:
                raise Trap("stream consumer returned CANCELLED when finish was false")
            return COPY_CANCELLED
        if r is COMPLETED:
            if self.taken == 0 and avail > 0:
                raise Trap(
                    "stream consumer returned COMPLETED without consuming any items"
                    " while items were available"
                )
            return COPY_COMPLETED
        if r is DROPPED:
            self._end()
            return COPY_DROPPED
        raise Trap(f"stream consumer returned {r!r}, not a StreamResult")


class HostPump:
    """A host-to-host stream: the producer feeds the consumer directly, no guest in between."""

    __slots__ = ("consumer", "done", "items", "pos", "prod", "rerun", "running", "store")

    def __init__(self, store: Any, prod: ProducerEnd, consumer: Any) -> None:
        self.store = store
        self.prod = prod
        self.consumer = consumer
        self.items: Any = None
        self.pos = 0
        self.done = False
        self.running = False
        self.rerun = False
        if prod.has_leftover():
            self.items = prod.leftover[prod.leftover_pos :]
            prod.leftover = None

    def run(self) -> None:
        if self.running:
            self.rerun = True
            return
        self.running = True
        try:
            self.rerun = True
            while self.rerun and not self.done:
                self.rerun = False
                self._steps()
        finally:
            self.running = False

    def _finish(self) -> None:
        self.done = True
        prod = self.prod
        prod.dispose()
        # The stream is over: unlink the producer's end from the stream and from
        # this pump (each points back), so reference counting frees them.
        prod.pump = None
        prod.shared.drop()
        _dispose("stream consumer", self.consumer)

    def _steps(self) -> None:
        prod = self.prod
        t = _element_type(prod.shared)
        while not self.done:
            if self.items is None or self.pos >= len(self.items):
                self.items = None
                if prod.ended:
                    self._finish()
                    return
                d = Destination(None, t, self.run)
                r = _call("stream producer", prod.obj.poll_produce, self.store, d, False)
                if r is PENDING:
                    if d._items:
                        raise Trap("stream producer returned PENDING after producing items")
                    return
                if r is CANCELLED:
                    raise Trap("stream producer returned CANCELLED when finish was false")
                if r is COMPLETED and not d._items:
                    raise Trap(
                        "stream producer returned COMPLETED without producing any items"
                        " while the reader had capacity"
                    )
                if r is DROPPED:
                    prod.ended = True
                self.items = d._items
                self.pos = 0
                continue
            s = Source(None, t, self.run, self.items)
            s._pos = self.pos
            r = _call("stream consumer", self.consumer.poll_consume, self.store, s, False)
            self.pos = s._pos
            if r is PENDING:
                return
            if r is DROPPED:
                self._finish()
                return
            if r is CANCELLED:
                raise Trap("stream consumer returned CANCELLED when finish was false")
            if s.taken == 0:
                raise Trap(
                    "stream consumer returned COMPLETED without consuming any items"
                    " while items were available"
                )


# --- futures ------------------------------------------------------------------------------------


class _RaisingResult:
    """A future copy result that traps when the guest receives its event."""

    def __init__(self, trap: Trap) -> None:
        self.trap = trap

    def __index__(self) -> int:
        raise self.trap

    def __int__(self) -> int:
        raise self.trap

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = object.__hash__


class FutureProducerEnd(_HostEnd):
    """The host's writable end of a future: ``producer.poll_produce`` answers the read."""

    __slots__ = ()

    what = "future producer"

    @property
    def producer(self) -> Any:
        return self.obj

    #: A guest reads the value into ``buf``: the result now, or ``None`` (see :meth:`pend`).
    read_now = _HostEnd.start_copy

    def write_now(self, inst: Any, buf: Any) -> CopyResult | None:
        raise Trap("cannot write to the host's end of a future")

    def poll(self) -> Any:
        buf = self.op[0]
        d = FutureDestination(self.wake)
        try:  # _call in line
            r = self.obj.poll_produce(self.store, d, self.finish)
        except Trap:
            raise
        except Exception as e:
            raise Trap(f"future producer failed: {e!r}") from e
        if r is PENDING:
            if d.has_value:
                raise Trap("future producer returned PENDING after producing the value")
            return None
        if r is COMPLETED and d.has_value:
            deliver(buf, [d.value], 0)
        return self._future_outcome(r, d.has_value, "producing the value")


class FutureConsumerEnd(_ConsumerHostEnd):
    """The host's readable end of a future a guest writes: ``consumer.poll_consume`` takes the value."""

    __slots__ = ()

    what = "future consumer"

    @property
    def consumer(self) -> Any:
        return self.obj

    def read_now(self, inst: Any, buf: Any) -> CopyResult | None:
        raise Trap("cannot read from the host's end of a future")

    #: A guest writes the value from ``buf``: the result now, or ``None`` (see :meth:`pend`).
    write_now = _HostEnd.start_copy

    def poll(self) -> Any:
        s = FutureSource(self.op[0], self.wake)
        try:  # _call in line
            r = self.obj.poll_consume(self.store, s, self.finish)
        except Exception as e:
            raise self.step_failed(e)  # noqa: B904 (the cause is set there)
        if r is PENDING:
            return None
        return self._future_outcome(r, s.taken, "taking the value")
