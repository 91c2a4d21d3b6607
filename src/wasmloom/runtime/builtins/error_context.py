"""The error-context built-ins: ``error-context.new``/``debug-message``/``drop``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wasmloom.abi.context import LiftLowerContext
from wasmloom.abi.strings import lift_string, lower_string
from wasmloom.runtime.builtins.common import _check_leave, _get


@dataclass(eq=False)
class ErrorContext:
    """An ``error-context`` value: an immutable debug message."""

    debug_message: str


def canon_error_context_new(inst: Any, opts: Any, ptr: int, units: int) -> int:
    _check_leave(inst)
    cx = LiftLowerContext(opts, inst, None)
    cx.refresh()
    msg = lift_string(cx, ptr & cx.ptr_mask, units)
    return int(inst.handles.add(ErrorContext(msg)))


def canon_error_context_debug_message(inst: Any, opts: Any, i: int, ptr: int) -> None:
    _check_leave(inst)
    ec: ErrorContext = _get(inst, i, ErrorContext, "error-context")
    cx = LiftLowerContext(opts, inst, None)
    cx.refresh()
    p, n = lower_string(cx, ec.debug_message)
    cx.refresh()
    ptr &= cx.ptr_mask
    cx.check_range(ptr, 4, 8, "value")
    cx.mv[ptr : ptr + 4] = p.to_bytes(4, "little")
    cx.mv[ptr + 4 : ptr + 8] = n.to_bytes(4, "little")


def canon_error_context_drop(inst: Any, i: int) -> None:
    _check_leave(inst)
    _get(inst, i, ErrorContext, "error-context")
    inst.handles.remove(i)
