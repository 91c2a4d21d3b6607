"""Canonical definitions: ``canon lower`` and the built-ins, as core functions.

Each built-in is one short function named after it, guards first, as in the
spec's ``definitions.py``. The core functions are raw wasmtime host functions
(:func:`wasmloom.core.host_func`), so a guest reaches them without a
Python-level type check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wasmloom import core
from wasmloom import types as T
from wasmloom.abi.context import CanonOptions, LiftLowerContext
from wasmloom.abi.funcabi import FuncABI
from wasmloom.abi.layout import flatten_functype
from wasmloom.binary import ast
from wasmloom.errors import LinkError, Trap
from wasmloom.runtime import handles
from wasmloom.runtime.func import ComponentFunc, HostFunc
from wasmloom.runtime.handles import BorrowScope

if TYPE_CHECKING:
    from wasmloom.runtime.instance import ComponentInstance, Scope


def resolve_options(scope: Scope, o: ast.CanonOpts, inst: ComponentInstance) -> CanonOptions:
    """Turn a ``canonopt`` list into :class:`CanonOptions` with live memory and functions."""
    memory = None if o.memory is None else scope.core_memories[o.memory]
    realloc = None if o.realloc is None else scope.core_funcs[o.realloc].caller()
    post_return = None if o.post_return is None else scope.core_funcs[o.post_return].caller()
    callback = None if o.callback is None else scope.core_funcs[o.callback].caller()
    return CanonOptions(
        string_encoding=o.string_encoding,  # type: ignore[arg-type]
        memory=memory,
        realloc=realloc,
        post_return=post_return,
        is_async=o.is_async,
        callback=callback,
    )


def lower(
    store: core.CoreStore, inst: ComponentInstance, f: ComponentFunc, opts: CanonOptions
) -> core.CoreFunc:
    """``canon lower``: a core function that calls ``f`` on behalf of ``inst``."""
    if opts.is_async:
        return _unsupported(store, inst, "async lowering (canon lower async)", f.type, opts)
    ft = f.type
    flat_ft = flatten_functype(opts, ft, "lower")
    fabi = FuncABI(ft, opts, "lower")
    lift_params = fabi.lift_params
    lower_results = fabi.lower_results
    call = f.call
    fused = not isinstance(f, HostFunc)

    def lowered(*flat_args: Any) -> Any:
        if not inst.may_leave:
            raise Trap("cannot leave component instance")
        scope = BorrowScope()
        cx = LiftLowerContext(opts, inst, scope, fused=fused)
        args = lift_params(cx, flat_args)
        result = call(args, inst)
        out = lower_results(cx, result, flat_args)
        scope.exit()
        if not out:
            return None
        return out[0] if len(out) == 1 else tuple(out)

    return core.host_func(store, flat_ft, lowered)


def _unsupported(
    store: core.CoreStore, inst: ComponentInstance, what: str, ft: Any, opts: Any
) -> core.CoreFunc:
    raise LinkError(f"{what} is not supported yet")


# --- built-ins ------------------------------------------------------------------------


def builtin(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """The core function for a canon built-in other than lift and lower."""
    i32 = "i32"
    if d.name in ("resource.new", "resource.drop", "resource.rep"):
        assert d.type_idx is not None
        rt = scope.resource(d.type_idx)
        rep = rt.rep
        if d.name == "resource.new":
            return core.host_func(
                store, T.CoreFuncType((rep,), (i32,)), lambda r: handles.resource_new(inst, rt, r)
            )
        if d.name == "resource.drop":
            return core.host_func(
                store, T.CoreFuncType((i32,), ()), lambda i: handles.resource_drop(inst, rt, i)
            )
        return core.host_func(
            store, T.CoreFuncType((i32,), (rep,)), lambda i: handles.resource_rep(inst, rt, i)
        )
    raise LinkError(f"canon {d.name} is not supported yet")
