"""Lifting and lowering stream, future and error-context values across a call.

The spec's ``lift_stream``/``lower_stream``, their future and error-context twins, and
:class:`RuntimeAsyncValues`, the runtime's :class:`~wasmloom.abi.context.AsyncValues`.
"""

from __future__ import annotations

from typing import Any

from wasmloom import types as T
from wasmloom.errors import Trap
from wasmloom.runtime.builtins.common import _get
from wasmloom.runtime.builtins.error_context import ErrorContext
from wasmloom.runtime.builtins.streams import _end_name
from wasmloom.runtime.streams import (
    CopyState,
    ReadableFutureEnd,
    ReadableStreamEnd,
    SharedFutureImpl,
    SharedStreamImpl,
)
from wasmloom.runtime.subtype import same_type

__all__ = [
    "RuntimeAsyncValues",
    "lift_async_value",
    "lift_error_context",
    "lower_async_value",
    "lower_error_context",
]


def lift_async_value(cx: Any, i: int, t: Any) -> Any:
    is_stream = t.__class__ is T.StreamType or isinstance(t, T.StreamType)
    cls = ReadableStreamEnd if is_stream else ReadableFutureEnd
    j = i & 0xFFFF_FFFF
    handles = cx.inst.handles
    a = handles.array  # Table.get in line
    try:  # the entry, or None past the end (indices are unsigned)
        e: Any = a[j]
    except IndexError:
        e = None
    if e is None:
        handles.get(j)  # traps
    if e.__class__ is not cls or (e.shared.t is not t.t and not same_type(e.shared.t, t.t)):
        raise Trap(f"handle index {i} used with the wrong type, expected {_end_name(cls)}")
    state = e.state
    if state is not _IDLE:
        kind = "stream" if is_stream else "future"
        if state is not CopyState.DONE:
            raise Trap(f"cannot remove busy {kind}")
        if is_stream:
            raise Trap("cannot lift stream after being notified that the writable end dropped")
        raise Trap("cannot lift future after previous read succeeded")
    if e.wset is not None:
        raise Trap(
            f"cannot lift {'stream' if is_stream else 'future'} while it's in a waitable set"
        )
    a[j] = None  # Table.remove in line (the entry is there)
    handles.free.append(j)
    return e.shared


_IDLE = CopyState.IDLE


def lower_async_value(cx: Any, v: Any, t: Any) -> int:
    if t.__class__ is T.StreamType or isinstance(t, T.StreamType):
        if v.__class__ is not SharedStreamImpl and not isinstance(v, SharedStreamImpl):
            raise TypeError(f"expected a stream for `{t}`, got {type(v).__name__}")
        e: Any = ReadableStreamEnd(v)
    else:
        if v.__class__ is not SharedFutureImpl and not isinstance(v, SharedFutureImpl):
            raise TypeError(f"expected a future for `{t}`, got {type(v).__name__}")
        e = ReadableFutureEnd(v)
    table = cx.inst.handles
    free = table.free
    if free and table.journal is None:  # Table.add in line for a reused slot
        i: int = free.pop()
        table.array[i] = e
        return i
    i = table.add(e)
    return i


def lift_error_context(cx: Any, i: int, t: Any) -> Any:
    return _get(cx.inst, i, ErrorContext, "error-context")


def lower_error_context(cx: Any, v: Any, t: Any) -> int:
    return int(cx.inst.handles.add(v))


class RuntimeAsyncValues:
    """The runtime's :class:`~wasmloom.abi.context.AsyncValues`.

    A stream or future value is its shared state, which moves between handle
    tables as a readable end; an error context is itself. ``wrap`` and
    ``unwrap`` leave values as they are: a host that shows streams and futures
    its own way overrides them.
    """

    __slots__ = ()

    lift_async_value = staticmethod(lift_async_value)
    lower_async_value = staticmethod(lower_async_value)
    lift_error_context = staticmethod(lift_error_context)
    lower_error_context = staticmethod(lower_error_context)

    def wrap(self, cx: Any, v: Any, t: Any) -> Any:
        return v

    def unwrap(self, cx: Any, v: Any, t: Any) -> Any:
        return v
