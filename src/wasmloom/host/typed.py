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
from typing import Any

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
    c = copy.copy(f)
    d = c.__dict__
    for k, v in list(d.items()):
        if isinstance(v, pytypes.MethodType) and v.__self__ is f:
            d[k] = pytypes.MethodType(v.__func__, c)
        elif k == "call_from_host":
            del d[k]
    ft = wit_type if wit_type is not None and wit_type == f.type else f.type
    c._abi = FuncABI(ft, f.opts, "lift", classes)
    c.lift_return = c._abi.lift_task_return  # an async export's results, into the classes too
    c._core = f.callee.caller()
    return c


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
