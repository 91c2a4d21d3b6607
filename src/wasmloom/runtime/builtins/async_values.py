"""Lifting and lowering stream, future and error-context values across a call."""

from __future__ import annotations

from typing import Any

from wasmloom import types as T
from wasmloom.abi import codecs
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


def lift_async_value(cx: Any, i: int, t: Any) -> Any:
    inst = cx.inst
    is_stream = isinstance(t, T.StreamType)
    cls = ReadableStreamEnd if is_stream else ReadableFutureEnd
    kind = "stream" if is_stream else "future"
    e = inst.handles.get(i & 0xFFFF_FFFF)
    if not isinstance(e, cls) or e.shared.t != t.t:
        raise Trap(f"handle index {i} used with the wrong type, expected {_end_name(cls)}")
    if e.copying():
        raise Trap(f"cannot remove busy {kind}")
    if e.state is CopyState.DONE:
        if is_stream:
            raise Trap("cannot lift stream after being notified that the writable end dropped")
        raise Trap("cannot lift future after previous read succeeded")
    if e.in_waitable_set():
        raise Trap(f"cannot lift {kind} while it's in a waitable set")
    inst.handles.remove(i & 0xFFFF_FFFF)
    return e.shared


def lower_async_value(cx: Any, v: Any, t: Any) -> int:
    if isinstance(t, T.StreamType):
        if not isinstance(v, SharedStreamImpl):
            raise TypeError(f"expected a stream for `{t}`, got {type(v).__name__}")
        return int(cx.inst.handles.add(ReadableStreamEnd(v)))
    if not isinstance(v, SharedFutureImpl):
        raise TypeError(f"expected a future for `{t}`, got {type(v).__name__}")
    return int(cx.inst.handles.add(ReadableFutureEnd(v)))


def lift_error_context(cx: Any, i: int, t: Any) -> Any:
    return _get(cx.inst, i, ErrorContext, "error-context")


def lower_error_context(cx: Any, v: Any, t: Any) -> int:
    return int(cx.inst.handles.add(v))


codecs.ASYNC_VALUE_HOOKS[T.StreamType] = (lift_async_value, lower_async_value)
codecs.ASYNC_VALUE_HOOKS[T.FutureType] = (lift_async_value, lower_async_value)
codecs.ASYNC_VALUE_HOOKS[T.ErrorContextType] = (lift_error_context, lower_error_context)
