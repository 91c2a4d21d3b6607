"""Streams and futures: the copy and rendezvous state machines (sans-I/O).

Follows the spec's ``SharedStreamImpl``/``SharedFutureImpl`` and ``CopyEnd``.
Both ends of a stream or future share one ``Shared*Impl``; each end is a
:class:`~wasmloom.runtime.waitables.Waitable` in some instance's handle table
with its own :class:`CopyState`. A read or write either rendezvouses with a
pending copy of the other end at once, or becomes the pending copy itself.

Buffers are anything with ``remain()``, ``is_zero_length()``, ``progress`` and
``read(n) -> list`` (readable) or ``write(values)`` (writable);
:class:`~wasmloom.runtime.streams.buffers.ListBuffer` is the plain in-Python
one (used by tests); guest buffers (in guest memory) live with the built-ins.

Trap messages follow Wasmtime.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum, IntEnum
from typing import Any, Protocol

from wasmloom.errors import Trap
from wasmloom.runtime.waitables import Waitable

__all__ = [
    "MAX_BUFFER_LENGTH",
    "Buffer",
    "CopyEnd",
    "CopyResult",
    "CopyState",
    "ReadableFutureEnd",
    "ReadableStreamEnd",
    "SharedFutureImpl",
    "SharedStreamImpl",
    "WritableFutureEnd",
    "WritableStreamEnd",
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


class Buffer(Protocol):
    """A source or destination of a copy."""

    progress: int

    def remain(self) -> int: ...

    def is_zero_length(self) -> bool: ...


def _transfer(dst: Any, src: Any, n: int) -> None:
    """Move ``n`` elements from ``src`` to ``dst``: one block copy when ``dst`` can
    take ``src``'s bytes as they are (``move_from``), else element by element."""
    move = getattr(dst, "move_from", None)
    if move is None or not move(src, n):
        dst.write(src.read(n))


ReclaimBuffer = Callable[[], None]
OnCopy = Callable[[ReclaimBuffer], None]
OnCopyDone = Callable[[CopyResult], None]


def _same_inst_check(t: Any, inst: Any, pending_inst: Any, what: str) -> None:
    if inst is not None and inst is pending_inst and not _none_or_number(t):
        raise Trap(f"cannot read from and write to intra-component {what}")


_NUMBER_NAMES = frozenset(
    {"u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "f32", "f64", "float32", "float64"}
)


def _none_or_number(t: Any) -> bool:
    return t is None or str(t) in _NUMBER_NAMES


class SharedStreamImpl:
    """The state both ends of one stream share: at most one pending copy."""

    __slots__ = (
        "dropped",
        "host",
        "pending_buffer",
        "pending_inst",
        "pending_on_copy",
        "pending_on_copy_done",
        "t",
    )

    def __init__(self, t: Any, host: Any = None) -> None:
        self.t = t
        self.dropped = False
        self.pending_inst: Any = None
        self.pending_buffer: Any = None
        self.pending_on_copy: OnCopy | None = None
        self.pending_on_copy_done: OnCopyDone | None = None
        # The host end, when one end of this stream is the host's
        # (:mod:`wasmloom.runtime.host_streams`): copies, cancels and drops go to it.
        self.host: Any = host

    def reset_pending(self) -> None:
        self.pending_inst = None
        self.pending_buffer = None
        self.pending_on_copy = None
        self.pending_on_copy_done = None

    def set_pending(
        self, inst: Any, buffer: Any, on_copy: OnCopy, on_copy_done: OnCopyDone
    ) -> None:
        self.pending_inst = inst
        self.pending_buffer = buffer
        self.pending_on_copy = on_copy
        self.pending_on_copy_done = on_copy_done

    def reset_and_notify_pending(self, result: CopyResult) -> None:
        done = self.pending_on_copy_done
        self.reset_pending()
        assert done is not None
        done(result)

    def cancel(self) -> None:
        if self.host is not None:
            self.host.cancel()
            return
        self.reset_and_notify_pending(CopyResult.CANCELLED)

    def drop(self) -> None:
        if not self.dropped:
            self.dropped = True
            if self.host is not None:
                self.host.drop()
            elif self.pending_buffer is not None:
                self.reset_and_notify_pending(CopyResult.DROPPED)

    def read(self, inst: Any, dst: Any, on_copy: OnCopy, on_copy_done: OnCopyDone) -> None:
        if self.host is not None:
            self.host.read(inst, dst, on_copy, on_copy_done)
        elif self.dropped:
            on_copy_done(CopyResult.DROPPED)
        elif self.pending_buffer is None:
            self.set_pending(inst, dst, on_copy, on_copy_done)
        else:
            _same_inst_check(self.t, inst, self.pending_inst, "stream")
            src = self.pending_buffer
            if src.remain() > 0:
                if dst.remain() > 0:
                    n = min(dst.remain(), src.remain())
                    _transfer(dst, src, n)
                    assert self.pending_on_copy is not None
                    self.pending_on_copy(self.reset_pending)
                on_copy_done(CopyResult.COMPLETED)
            else:
                self.reset_and_notify_pending(CopyResult.COMPLETED)
                self.set_pending(inst, dst, on_copy, on_copy_done)

    def write(self, inst: Any, src: Any, on_copy: OnCopy, on_copy_done: OnCopyDone) -> None:
        if self.host is not None:
            self.host.write(inst, src, on_copy, on_copy_done)
        elif self.dropped:
            on_copy_done(CopyResult.DROPPED)
        elif self.pending_buffer is None:
            self.set_pending(inst, src, on_copy, on_copy_done)
        else:
            _same_inst_check(self.t, inst, self.pending_inst, "stream")
            dst = self.pending_buffer
            if dst.remain() > 0:
                if src.remain() > 0:
                    n = min(src.remain(), dst.remain())
                    _transfer(dst, src, n)
                    assert self.pending_on_copy is not None
                    self.pending_on_copy(self.reset_pending)
                on_copy_done(CopyResult.COMPLETED)
            elif src.is_zero_length() and dst.is_zero_length():
                on_copy_done(CopyResult.COMPLETED)
            else:
                self.reset_and_notify_pending(CopyResult.COMPLETED)
                self.set_pending(inst, src, on_copy, on_copy_done)


class SharedFutureImpl:
    """The state both ends of one future share."""

    __slots__ = ("dropped", "host", "pending_buffer", "pending_inst", "pending_on_copy_done", "t")

    def __init__(self, t: Any, host: Any = None) -> None:
        self.t = t
        self.dropped = False
        self.pending_inst: Any = None
        self.pending_buffer: Any = None
        self.pending_on_copy_done: OnCopyDone | None = None
        # The host end, as for :class:`SharedStreamImpl`.
        self.host: Any = host

    def reset_pending(self) -> None:
        self.pending_inst = None
        self.pending_buffer = None
        self.pending_on_copy_done = None

    def set_pending(self, inst: Any, buffer: Any, on_copy_done: OnCopyDone) -> None:
        self.pending_inst = inst
        self.pending_buffer = buffer
        self.pending_on_copy_done = on_copy_done

    def reset_and_notify_pending(self, result: CopyResult) -> None:
        done = self.pending_on_copy_done
        self.reset_pending()
        assert done is not None
        done(result)

    def cancel(self) -> None:
        if self.host is not None:
            self.host.cancel()
            return
        self.reset_and_notify_pending(CopyResult.CANCELLED)

    def drop(self) -> None:
        if not self.dropped:
            self.dropped = True
            if self.host is not None:
                self.host.drop()
            elif self.pending_buffer is not None:
                self.reset_and_notify_pending(CopyResult.DROPPED)

    def read(self, inst: Any, dst: Any, on_copy_done: OnCopyDone) -> None:
        if self.host is not None:
            self.host.read(inst, dst, on_copy_done)
            return
        assert not self.dropped and dst.remain() == 1
        if self.pending_buffer is None:
            self.set_pending(inst, dst, on_copy_done)
        else:
            _same_inst_check(self.t, inst, self.pending_inst, "future")
            dst.write(self.pending_buffer.read(1))
            self.reset_and_notify_pending(CopyResult.COMPLETED)
            on_copy_done(CopyResult.COMPLETED)

    def write(self, inst: Any, src: Any, on_copy_done: OnCopyDone) -> None:
        assert src.remain() == 1
        if self.host is not None:
            self.host.write(inst, src, on_copy_done)
        elif self.dropped:
            on_copy_done(CopyResult.DROPPED)
        elif self.pending_buffer is None:
            self.set_pending(inst, src, on_copy_done)
        else:
            _same_inst_check(self.t, inst, self.pending_inst, "future")
            self.pending_buffer.write(src.read(1))
            self.reset_and_notify_pending(CopyResult.COMPLETED)
            on_copy_done(CopyResult.COMPLETED)


class CopyEnd(Waitable):
    """One end of a stream or future, as held in a handle table."""

    __slots__ = ("done_reason", "shared", "state")

    readable = False
    is_stream = True

    def __init__(self, shared: Any) -> None:
        super().__init__()
        self.state = CopyState.IDLE
        self.shared = shared
        # Why the end is DONE: CopyResult.DROPPED (the other end went away) or COMPLETED.
        self.done_reason: CopyResult | None = None

    def copying(self) -> bool:
        return self.state is CopyState.COPYING or self.state is CopyState.CANCELLING_COPY

    def kind(self) -> str:
        return "stream" if self.is_stream else "future"

    def check_drop(self) -> None:
        """Trap if this end may not be dropped now."""
        if self.copying():
            verb = "remove" if self.readable else "drop"
            raise Trap(f"cannot {verb} busy {self.kind()}")

    def drop(self) -> None:
        self.check_drop()
        self.shared.drop()
        Waitable.drop(self)


class ReadableStreamEnd(CopyEnd):
    __slots__ = ()
    readable = True

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

    def copy(self, inst: Any, dst: Any, on_copy_done: OnCopyDone) -> None:
        self.shared.read(inst, dst, on_copy_done)


class WritableFutureEnd(CopyEnd):
    __slots__ = ()
    is_stream = False

    def copy(self, inst: Any, src: Any, on_copy_done: OnCopyDone) -> None:
        self.shared.write(inst, src, on_copy_done)

    def check_drop(self) -> None:
        super().check_drop()
        if self.state is not CopyState.DONE:
            raise Trap("cannot drop future write end without first writing a value")
