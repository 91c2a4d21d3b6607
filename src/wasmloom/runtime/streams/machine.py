"""The copy machine of streams and futures (sans-I/O).

Follows the spec's ``SharedStreamImpl``/``SharedFutureImpl`` and ``CopyEnd``.
A guest's end of a stream or future is a :class:`CopyEnd` (a
:class:`~wasmloom.runtime.waitables.Waitable` in some instance's handle table,
with its own :class:`CopyState`). Both ends share one ``Shared*Impl``, which
hands every read, write, cancel and drop to its *peer*: the other side of the
copy, one implementation of :class:`StreamPeer` (or :class:`FuturePeer`):

- :class:`StreamRendezvous`/:class:`FutureRendezvous`: both ends are guests'. A
  copy either meets the pending copy of the other end at once, or becomes the
  pending copy itself.
- the host ends of :mod:`wasmloom.runtime.streams.host_ends`: one end is the
  host's, and its producer or consumer answers each copy.
- :class:`FailedEnd`: the instance holding one end trapped before the host took
  the other; every copy sees DROPPED.
- :data:`DROPPED_END`: an end dropped, so the stream or future is over; every
  copy of the other end sees DROPPED.

The peer changes when the host attaches to a stream a guest created, when an
instance trapped (:func:`fail_host_ends`), and when an end drops; the ends keep
their ``Shared*Impl``. Dropping lets go of the peer (which points back at the
``Shared*Impl``), so the objects of a finished stream or future form no cycle
and reference counting frees them, without the cyclic collector.

Buffers are anything with ``remain()``, ``is_zero_length()``, ``progress`` and
``read(n) -> list`` (readable) or ``write(values)`` (writable); see
:mod:`wasmloom.runtime.streams.buffers`. Guest buffers (in guest memory) live
with the built-ins. Trap messages follow Wasmtime.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum, IntEnum
from typing import Any, Protocol

from wasmloom.errors import Trap
from wasmloom.runtime.waitables import EventCode, EventTuple, Waitable

__all__ = [
    "DROPPED_END",
    "MAX_BUFFER_LENGTH",
    "Buffer",
    "CopyEnd",
    "CopyResult",
    "CopyState",
    "DroppedEnd",
    "FailedEnd",
    "FuturePeer",
    "FutureRendezvous",
    "ReadableFutureEnd",
    "ReadableStreamEnd",
    "SharedFutureImpl",
    "SharedStreamImpl",
    "StreamPeer",
    "StreamRendezvous",
    "WritableFutureEnd",
    "WritableStreamEnd",
    "fail_host_ends",
]

MAX_BUFFER_LENGTH = 2**28 - 1


class CopyResult(IntEnum):
    """The low 4 bits of a stream/future copy result."""

    COMPLETED = 0
    DROPPED = 1
    CANCELLED = 2


class CopyState(Enum):
    """The state of one end of a stream or future."""

    IDLE = 1
    COPYING = 2
    CANCELLING_COPY = 3
    DONE = 4


# The members as module globals, for the hot paths here and in the built-ins and host
# ends: an enum class's attribute costs a lookup through its metaclass (several
# hundred instructions) on every access.
COPY_COMPLETED = CopyResult.COMPLETED
COPY_DROPPED = CopyResult.DROPPED
COPY_CANCELLED = CopyResult.CANCELLED
IDLE = CopyState.IDLE
COPYING = CopyState.COPYING
CANCELLING_COPY = CopyState.CANCELLING_COPY
DONE = CopyState.DONE


class Buffer(Protocol):
    """A source or destination of a copy."""

    progress: int

    def remain(self) -> int: ...

    def is_zero_length(self) -> bool: ...


ReclaimBuffer = Callable[[], None]
OnCopy = Callable[[ReclaimBuffer], None]
OnCopyDone = Callable[[CopyResult], None]


# --- the peer interface ----------------------------------------------------------------------


class StreamPeer(Protocol):
    """The other side of every copy on one stream, as a guest's end sees it.

    A copy starts with :meth:`read_now` (the guest reads into ``dst``) or
    :meth:`write_now` (the guest writes from ``src``). Either answers at once
    with the copy's :class:`CopyResult` (the copy is over: no callback will
    follow), or with ``None``: the copy is now pending on the peer, and the
    caller passes its callbacks to :meth:`pend` before anything else runs.
    The peer later calls ``on_copy(reclaim)`` when it moved items while the
    copy stays pending (a guest↔guest rendezvous), and ``on_copy_done(result)``
    when the copy is over. A copy in the direction the peer does not serve
    (a write to the host's producer) traps.

    :meth:`cancel` asks the pending copy to wrap up (its result comes through
    its callbacks, possibly at once), :meth:`drop` tells the peer that an end
    went away (called once per stream), and :meth:`fail` that the instance
    holding an end trapped.
    """

    def read_now(self, inst: Any, dst: Any) -> CopyResult | None: ...

    def write_now(self, inst: Any, src: Any) -> CopyResult | None: ...

    def pend(self, on_copy: OnCopy, on_copy_done: OnCopyDone) -> None: ...

    def cancel(self) -> None: ...

    def drop(self) -> None: ...

    def fail(self, error: BaseException) -> None: ...


class FuturePeer(Protocol):
    """The other side of every copy on one future: as :class:`StreamPeer`, with
    one value and no ``on_copy`` (a future copy moves its value and is over)."""

    def read_now(self, inst: Any, dst: Any) -> CopyResult | None: ...

    def write_now(self, inst: Any, src: Any) -> CopyResult | None: ...

    def pend(self, on_copy_done: OnCopyDone) -> None: ...

    def cancel(self) -> None: ...

    def drop(self) -> None: ...

    def fail(self, error: BaseException) -> None: ...


# --- the shared state of a stream or future -------------------------------------------------


class _Shared:
    """What both ends of one stream or future share: its element type, whether an
    end dropped, and the peer that answers its copies."""

    __slots__ = ("dropped", "peer", "t")

    t: Any
    dropped: bool
    peer: Any

    @property
    def pending_buffer(self) -> Any:
        """The buffer of the copy pending on a guest↔guest stream or future (``None`` if none)."""
        return getattr(self.peer, "pending_buffer", None)

    def cancel(self) -> None:
        self.peer.cancel()

    def drop(self) -> None:
        """An end went away: the stream or future is over; tell the peer once.

        The peer is then replaced by :data:`DROPPED_END`, which answers every
        later copy of the other end DROPPED, as the peer itself would have. The
        peer (which points back here) is no longer referenced, so reference
        counting frees both without waiting for the cyclic collector.
        """
        if not self.dropped:
            self.dropped = True
            peer = self.peer
            if peer is DROPPED_END:
                return  # a host end that finished the future left already
            try:
                peer.drop()
            finally:
                if self.peer is peer:
                    self.peer = DROPPED_END


class SharedStreamImpl(_Shared):
    """What both ends of one stream share; its :class:`StreamPeer` answers its copies."""

    __slots__ = ()

    def __init__(self, t: Any, peer: StreamPeer | None = None) -> None:
        self.t = t
        self.dropped = False
        self.peer: StreamPeer = StreamRendezvous(self) if peer is None else peer

    def read(self, inst: Any, dst: Any, on_copy: OnCopy, on_copy_done: OnCopyDone) -> None:
        peer = self.peer
        result = peer.read_now(inst, dst)
        if result is None:
            peer.pend(on_copy, on_copy_done)
        else:
            on_copy_done(result)

    def write(self, inst: Any, src: Any, on_copy: OnCopy, on_copy_done: OnCopyDone) -> None:
        peer = self.peer
        result = peer.write_now(inst, src)
        if result is None:
            peer.pend(on_copy, on_copy_done)
        else:
            on_copy_done(result)


class SharedFutureImpl(_Shared):
    """What both ends of one future share; its :class:`FuturePeer` answers its copies."""

    __slots__ = ()

    def __init__(self, t: Any, peer: FuturePeer | None = None) -> None:
        self.t = t
        self.dropped = False
        self.peer: FuturePeer = FutureRendezvous(self) if peer is None else peer

    def read(self, inst: Any, dst: Any, on_copy_done: OnCopyDone) -> None:
        peer = self.peer
        result = peer.read_now(inst, dst)
        if result is None:
            peer.pend(on_copy_done)
        else:
            on_copy_done(result)

    def write(self, inst: Any, src: Any, on_copy_done: OnCopyDone) -> None:
        assert src.remain() == 1
        peer = self.peer
        result = peer.write_now(inst, src)
        if result is None:
            peer.pend(on_copy_done)
        else:
            on_copy_done(result)


# --- guest <-> guest --------------------------------------------------------------------------


def _transfer(dst: Any, src: Any, n: int) -> None:
    """Move ``n`` elements from ``src`` to ``dst``: one block copy when ``dst`` can
    take ``src``'s bytes as they are (``move_from``), else element by element."""
    move = getattr(dst, "move_from", None)
    if move is None or not move(src, n):
        dst.write(src.read(n))


def _same_inst_check(t: Any, inst: Any, pending_inst: Any, what: str) -> None:
    if inst is not None and inst is pending_inst and not _none_or_number(t):
        raise Trap(f"cannot read from and write to intra-component {what}")


_NUMBER_NAMES = frozenset(
    {"u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "f32", "f64", "float32", "float64"}
)


def _none_or_number(t: Any) -> bool:
    return t is None or str(t) in _NUMBER_NAMES


class _Rendezvous:
    """The peer of a stream or future both of whose ends are guests': at most one
    pending copy, which the other end's next copy meets."""

    __slots__ = ("pending_buffer", "pending_inst", "pending_on_copy_done", "shared")

    def __init__(self, shared: _Shared) -> None:
        self.shared = shared
        self.pending_inst: Any = None
        self.pending_buffer: Any = None
        self.pending_on_copy_done: OnCopyDone | None = None

    def reset_pending(self) -> None:
        self.pending_inst = None
        self.pending_buffer = None
        self.pending_on_copy_done = None

    def set_pending(self, inst: Any, buffer: Any) -> None:
        """``buffer``'s copy waits for the other end (its callbacks come with ``pend``)."""
        self.pending_inst = inst
        self.pending_buffer = buffer

    def reset_and_notify_pending(self, result: CopyResult) -> None:
        done = self.pending_on_copy_done
        self.reset_pending()
        assert done is not None
        done(result)

    def cancel(self) -> None:
        self.reset_and_notify_pending(COPY_CANCELLED)

    def drop(self) -> None:
        if self.pending_buffer is not None:
            self.reset_and_notify_pending(COPY_DROPPED)

    def fail(self, error: BaseException) -> None:
        """The instance holding an end trapped: drop the stream or future; no host
        end may attach to it (a consumer that does fails with ``error``)."""
        shared = self.shared
        shared.drop()
        shared.peer = FailedEnd(error)


class StreamRendezvous(_Rendezvous):
    """The peer of a stream both of whose ends are guests'.

    A copy that finds the other end's copy pending moves what both buffers
    allow and completes at once; the pending copy hears of it through its
    ``on_copy`` and stays pending until it reclaims its buffer. A copy that
    finds none (or finds a zero-length one, which then completes) becomes the
    pending copy.
    """

    __slots__ = ("pending_on_copy",)

    def __init__(self, shared: SharedStreamImpl) -> None:
        super().__init__(shared)
        self.pending_on_copy: OnCopy | None = None

    def reset_pending(self) -> None:
        self.pending_inst = None
        self.pending_buffer = None
        self.pending_on_copy = None
        self.pending_on_copy_done = None

    def pend(self, on_copy: OnCopy, on_copy_done: OnCopyDone) -> None:
        self.pending_on_copy = on_copy
        self.pending_on_copy_done = on_copy_done

    def take_pending(self) -> tuple[Any, OnCopy, OnCopyDone] | None:
        """Hand over the pending copy (buffer and callbacks) and forget it; ``None`` if none."""
        buffer = self.pending_buffer
        if buffer is None:
            return None
        op = (buffer, self.pending_on_copy, self.pending_on_copy_done)
        self.reset_pending()
        return op  # type: ignore[return-value]

    def read_now(self, inst: Any, dst: Any) -> CopyResult | None:
        if self.shared.dropped:
            return COPY_DROPPED
        if self.pending_buffer is None:
            self.pending_inst = inst  # set_pending, in line
            self.pending_buffer = dst
            return None
        _same_inst_check(self.shared.t, inst, self.pending_inst, "stream")
        src = self.pending_buffer
        if src.remain() > 0:
            if dst.remain() > 0:
                _transfer(dst, src, min(dst.remain(), src.remain()))
                assert self.pending_on_copy is not None
                self.pending_on_copy(self.reset_pending)
            return COPY_COMPLETED
        self.reset_and_notify_pending(COPY_COMPLETED)
        self.set_pending(inst, dst)
        return None

    def write_now(self, inst: Any, src: Any) -> CopyResult | None:
        if self.shared.dropped:
            return COPY_DROPPED
        if self.pending_buffer is None:
            self.pending_inst = inst  # set_pending, in line
            self.pending_buffer = src
            return None
        _same_inst_check(self.shared.t, inst, self.pending_inst, "stream")
        dst = self.pending_buffer
        if dst.remain() > 0:
            if src.remain() > 0:
                _transfer(dst, src, min(src.remain(), dst.remain()))
                assert self.pending_on_copy is not None
                self.pending_on_copy(self.reset_pending)
            return COPY_COMPLETED
        if src.is_zero_length() and dst.is_zero_length():
            return COPY_COMPLETED
        self.reset_and_notify_pending(COPY_COMPLETED)
        self.set_pending(inst, src)
        return None


class FutureRendezvous(_Rendezvous):
    """The peer of a future both of whose ends are guests': the first copy waits
    for the other end's, which moves the value and completes both."""

    __slots__ = ()

    def pend(self, on_copy_done: OnCopyDone) -> None:
        self.pending_on_copy_done = on_copy_done

    def take_pending(self) -> tuple[Any, OnCopyDone] | None:
        """Hand over the pending copy (buffer and callback) and forget it; ``None`` if none."""
        buffer = self.pending_buffer
        if buffer is None:
            return None
        op = (buffer, self.pending_on_copy_done)
        self.pending_inst = None  # self.reset_pending(), in line
        self.pending_buffer = None
        self.pending_on_copy_done = None
        return op  # type: ignore[return-value]

    def read_now(self, inst: Any, dst: Any) -> CopyResult | None:
        assert not self.shared.dropped and dst.remain() == 1
        if self.pending_buffer is None:
            self.pending_inst = inst  # set_pending, in line
            self.pending_buffer = dst
            return None
        _same_inst_check(self.shared.t, inst, self.pending_inst, "future")
        dst.write(self.pending_buffer.read(1))
        self.reset_and_notify_pending(COPY_COMPLETED)
        return COPY_COMPLETED

    def write_now(self, inst: Any, src: Any) -> CopyResult | None:
        if self.shared.dropped:
            return COPY_DROPPED
        if self.pending_buffer is None:
            self.pending_inst = inst  # set_pending, in line
            self.pending_buffer = src
            return None
        _same_inst_check(self.shared.t, inst, self.pending_inst, "future")
        self.pending_buffer.write(src.read(1))
        self.reset_and_notify_pending(COPY_COMPLETED)
        return COPY_COMPLETED


class DroppedEnd:
    """The peer of a stream or future after one of its ends dropped (the one
    instance is :data:`DROPPED_END`): every copy of the other end sees DROPPED,
    and a host end that attaches later is disposed of at once."""

    __slots__ = ()

    def read_now(self, inst: Any, buf: Any) -> CopyResult | None:
        return COPY_DROPPED

    write_now = read_now

    def pend(self, *callbacks: Any) -> None:
        raise AssertionError("a dropped or failed stream or future answers every copy at once")

    def take_pending(self) -> None:
        return None

    def cancel(self) -> None:
        return None

    def drop(self) -> None:
        return None

    def fail(self, error: BaseException) -> None:
        return None


DROPPED_END = DroppedEnd()


class FailedEnd(DroppedEnd):
    """The peer of a stream or future after the instance holding one end trapped
    while the other end had no host end (guest↔guest, or not yet attached).

    Every copy sees DROPPED; a host consumer that attaches later fails with
    the trap (``error``).
    """

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def fail_host_ends(inst: Any, error: BaseException) -> None:
    """``inst`` trapped: fail the other side of every stream and future it holds an end of.

    An attached host producer or consumer is disposed of: its optional
    ``fail(error)`` is called, then its ``close()`` (an exception from either
    is ignored: the guest already trapped). The pending copy is forgotten, so
    the store no longer waits for it. A stream or future whose other end has
    no host end yet is dropped (a guest at the other end sees DROPPED) and
    remembers ``error`` for a host that attaches later (:class:`FailedEnd`).
    """
    for w in list(inst.handles):
        shared = getattr(w, "shared", None)
        if shared is None:
            continue
        try:
            shared.peer.fail(error)
        except Trap:
            pass


# --- the guest's ends -------------------------------------------------------------------------


class CopyEnd(Waitable):
    """One end of a stream or future, as held in a handle table.

    ``index`` (its handle index), ``copy_buffer`` and ``keeper`` are set when a
    future copy pends, ``result`` when it is over (see :meth:`future_copy_done`),
    and read only after that.
    """

    __slots__ = ("copy_buffer", "done_reason", "index", "keeper", "result", "shared", "state")

    index: int
    result: Any
    copy_buffer: Any
    keeper: Any

    readable = False
    is_stream = True
    #: The code of the event that delivers a pending copy's result.
    event_code = EventCode.STREAM_WRITE

    def __init__(self, shared: Any) -> None:
        # Waitable.__init__'s fields, set here: one frame less per end (two per stream)
        self.pending_event = None
        self.wset = None
        self.has_sync_waiter = False
        self.waiters = None
        self.state = IDLE
        self.shared = shared
        # Why the end is DONE: CopyResult.DROPPED (the other end went away) or COMPLETED.
        self.done_reason: CopyResult | None = None

    def copying(self) -> bool:
        state = self.state
        return state is COPYING or state is CANCELLING_COPY

    def kind(self) -> str:
        return "stream" if self.is_stream else "future"

    def check_drop(self) -> None:
        """Trap if this end may not be dropped now."""
        state = self.state
        if state is COPYING or state is CANCELLING_COPY:
            verb = "remove" if self.readable else "drop"
            raise Trap(f"cannot {verb} busy {self.kind()}")

    def drop(self) -> None:
        self.check_drop()
        self.release()

    def release(self) -> None:
        """Drop this end once :meth:`check_drop` allowed it: the stream or future is
        over (its peer hears of it), and the end leaves its waitable set."""
        self.shared.drop()
        if self.wset is None:
            self.pending_event = None
        else:
            Waitable.drop(self)

    def future_copy_done(self, result: CopyResult) -> None:
        """The ``on_copy_done`` of this future end's pending copy: the copy is over
        with ``result``, which :meth:`future_copy_event` delivers.

        The peer is done with the copy's buffer (``copy_buffer``) when it calls
        this, so the buffer goes back to what started the copy (``keeper``, the
        built-in), as its ``spare`` for the next copy if it has none.
        """
        self.result = result
        keeper = self.keeper
        if keeper.spare is None:
            keeper.spare = self.copy_buffer
        self.copy_buffer = None
        self.set_pending_event(self.future_copy_event)

    def future_copy_event(self) -> EventTuple:
        """The event of this future end's copy that is over (see
        :meth:`future_copy_done`); the end's state follows its result."""
        result = self.result
        if result is COPY_DROPPED or result is COPY_COMPLETED:
            self.state = DONE
            self.done_reason = result
        else:
            self.state = IDLE
        return (self.event_code, self.index, int(result))


class ReadableStreamEnd(CopyEnd):
    __slots__ = ()
    readable = True
    event_code = EventCode.STREAM_READ

    def copy(self, inst: Any, dst: Any, on_copy: OnCopy, on_copy_done: OnCopyDone) -> None:
        self.shared.read(inst, dst, on_copy, on_copy_done)


class WritableStreamEnd(CopyEnd):
    __slots__ = ()

    def copy(self, inst: Any, src: Any, on_copy: OnCopy, on_copy_done: OnCopyDone) -> None:
        self.shared.write(inst, src, on_copy, on_copy_done)


class ReadableFutureEnd(CopyEnd):
    __slots__ = ()
    readable = True
    is_stream = False
    event_code = EventCode.FUTURE_READ

    def copy(self, inst: Any, dst: Any, on_copy_done: OnCopyDone) -> None:
        self.shared.read(inst, dst, on_copy_done)


class WritableFutureEnd(CopyEnd):
    __slots__ = ()
    is_stream = False
    event_code = EventCode.FUTURE_WRITE

    def copy(self, inst: Any, src: Any, on_copy_done: OnCopyDone) -> None:
        self.shared.write(inst, src, on_copy_done)

    def check_drop(self) -> None:
        state = self.state
        if state is not DONE:
            if state is COPYING or state is CANCELLING_COPY:
                raise Trap("cannot drop busy future")
            raise Trap("cannot drop future write end without first writing a value")
