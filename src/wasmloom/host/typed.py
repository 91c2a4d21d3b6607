"""Typed calls: values lifted straight into Python classes (what typed bindings build on).

A :class:`ClassMap` names the Python class each value type lifts into.
Bindings make one per interface and hand it to the runtime twice:

- for exported functions, :func:`specialise` copies a lifted function so
  that its plan lifts (and lowers) through the map, and :func:`host_caller`
  gives the host-to-guest caller ``f(args) -> result`` of the copy: the same
  specialised path :class:`~wasmloom.Func` takes, with no conversion per call;
- for imported functions, :meth:`~wasmloom.LinkerInstance.func_wrap` takes
  the map as ``classes=``.

The resource types of a WIT signature are placeholders until the bindings
meet a linker or an instance: :func:`subst_functype` and
:func:`subst_valtype` replace them through a :data:`Subst`.
"""

from __future__ import annotations

import copy
import types as pytypes
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

from wasmloom import types as T
from wasmloom.abi.codecs import ClassMap
from wasmloom.abi.funcabi import FuncABI
from wasmloom.runtime.lift import ComponentFunc, LiftedFunc
from wasmloom.runtime.subtype import Subst, subst_functype, subst_valtype

__all__ = [
    "ClassMap",
    "ExportedFunc",
    "Subst",
    "host_caller",
    "specialise",
    "specialise_as",
    "subst_functype",
    "subst_valtype",
]

#: A function an instance exports, as :meth:`~wasmloom.Instance.get_export` gives it.
ExportedFunc = ComponentFunc


def specialise(
    f: ExportedFunc, classes: ClassMap, wit_type: T.FuncType | None = None
) -> ExportedFunc:
    """A copy of lifted function ``f`` whose plan lifts through ``classes``.

    ``wit_type``, the function's type as the bindings know it (with the names
    of its named types), plans the lifting when it has ``f``'s shape, so that
    same-shaped named types lift into their own classes.
    """
    if not isinstance(f, LiftedFunc):
        return f
    ft = wit_type if wit_type is not None and wit_type == f.type else f.type
    return specialise_as(f, classes, ft)


def specialise_as(
    f: ExportedFunc, classes: ClassMap, ft: T.FuncType, *, kept: bool = False
) -> ExportedFunc:
    """As :func:`specialise`, planning with ``ft``, which must equal ``f.type`` (the
    caller's word: it is not checked).

    ``kept``: the caller keeps ``ft`` and ``classes`` for later instances; the
    plan is then made once per ``ft`` and ``classes`` object and the options it
    depends on, and kept with them. (A class map whose converters refer to one
    instance's objects must not be kept: it would keep them alive.)
    """
    if not isinstance(f, LiftedFunc):
        return f
    c = copy.copy(f)
    d = c.__dict__
    for k, v in list(d.items()):
        if isinstance(v, pytypes.MethodType) and v.__self__ is f:
            d[k] = pytypes.MethodType(v.__func__, c)
        elif k == "call_from_host":
            del d[k]
    c._abi = _lift_abi(ft, f.opts, classes) if kept else FuncABI(ft, f.opts, "lift", classes)
    c.lift_return = c._abi.lift_task_return  # an async export's results, into the classes too
    c._core = f.callee.caller()
    return c


# The lifting plan of each (function type, class map) specialise_as was given as kept,
# by their identities, and the options it depends on. An entry keeps the type and the map, so
# their identities stay theirs.
_LiftKey: TypeAlias = tuple[int, int, str, str, bool, bool]
_lift_abis: dict[_LiftKey, tuple[T.FuncType, ClassMap, FuncABI]] = {}
_LIFT_ABIS_MAX = 256


def _lift_abi(ft: T.FuncType, opts: Any, classes: ClassMap) -> FuncABI:
    """``FuncABI(ft, opts, "lift", classes)``, made once per key (see :data:`_lift_abis`)."""
    mem = opts.memory
    key = (
        id(ft),
        id(classes),
        opts.string_encoding,
        "i32" if mem is None else mem.ptr_type,
        bool(opts.is_async),
        opts.callback is not None,
    )
    hit = _lift_abis.get(key)
    if hit is not None:
        return hit[2]
    abi = FuncABI(ft, opts, "lift", classes)
    if len(_lift_abis) >= _LIFT_ABIS_MAX:
        _lift_abis.clear()
    _lift_abis[key] = (ft, classes, abi)
    return abi


def host_caller(f: ExportedFunc) -> Callable[[Sequence[Any]], Any]:
    """The host-to-guest caller ``call(args) -> result`` of ``f``: its specialised sync
    path when it has one (not async), else its ``call``."""
    build = getattr(f, "_build_host_call", None)
    if build is not None and not getattr(f, "is_async", False):
        fast: Callable[[Sequence[Any]], Any] = build()
        return fast
    call = f.call

    def call_host(args: Sequence[Any]) -> Any:
        return call(list(args), None)

    return call_host
