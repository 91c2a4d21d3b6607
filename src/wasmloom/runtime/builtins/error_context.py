"""The error-context built-ins: error-context.new/debug-message/drop, and the value they make."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wasmloom import core
from wasmloom.abi.context import LiftLowerContext
from wasmloom.abi.strings import lift_string, lower_string
from wasmloom.binary import ast
from wasmloom.runtime.builtins.common import CT, I32, _check_leave, _get, _options

if TYPE_CHECKING:
    from dataclasses import dataclass

    from wasmloom.runtime.scope import ComponentInstance, Scope
else:  # a dataclass without importing dataclasses
    from wasmloom.types import dataclass


@dataclass(eq=False)
class ErrorContext:
    """An ``error-context`` value: an immutable debug message."""

    debug_message: str


def canon_error_context_new(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon error-context.new``: a new error context of the string at ``ptr``."""
    opts = _options(scope, d)
    pt = opts.ptr_type

    def error_context_new(ptr: int, units: int) -> int:
        _check_leave(inst)
        cx = LiftLowerContext(opts, inst, None)
        cx.refresh()
        msg = lift_string(cx, ptr & cx.ptr_mask, units)
        return int(inst.handles.add(ErrorContext(msg)))

    return core.host_func(store, CT((pt, pt), (I32,)), error_context_new)


def canon_error_context_debug_message(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon error-context.debug-message``: store error context ``i``'s message at ``ptr``."""
    opts = _options(scope, d)
    pt = opts.ptr_type

    def error_context_debug_message(i: int, ptr: int) -> None:
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

    return core.host_func(store, CT((I32, pt), ()), error_context_debug_message)


def canon_error_context_drop(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon error-context.drop``: remove error context ``i``."""

    def error_context_drop(i: int) -> None:
        _check_leave(inst)
        _get(inst, i, ErrorContext, "error-context")
        inst.handles.remove(i)

    return core.host_func(store, CT((I32,), ()), error_context_drop)
