"""The resource built-ins: resource.new, resource.drop, resource.rep.

Their semantics live beside the handle table, in :mod:`wasmloom.abi.handles`
(``resource_new``, ``resource_drop``, ``resource_rep``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wasmloom import core
from wasmloom import types as T
from wasmloom.abi import handles
from wasmloom.binary import ast
from wasmloom.errors import Trap
from wasmloom.runtime.builtins.common import CT, I32
from wasmloom.runtime.traps import at_boundary

if TYPE_CHECKING:
    from wasmloom.runtime.scope import ComponentInstance, Scope


def _resource(scope: Scope, d: ast.CanonBuiltin) -> T.ResourceType:
    assert d.type_idx is not None
    return scope.resource(d.type_idx)


def canon_resource_new(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon resource.new``: a new owned handle to ``rep``."""
    rt = _resource(scope, d)
    return core.host_func(store, CT((rt.rep,), (I32,)), lambda r: handles.resource_new(inst, rt, r))


def canon_resource_drop(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon resource.drop``: remove handle ``i``; run the destructor of an owned one."""
    rt = _resource(scope, d)

    def resource_drop(i: int) -> None:
        try:
            handles.resource_drop(inst, rt, i)
        except Trap as e:
            if rt.impl is not inst:  # the destructor ran in another component
                at_boundary(e)
            raise

    return core.host_func(store, CT((I32,), ()), resource_drop)


def canon_resource_rep(
    store: core.CoreStore, inst: ComponentInstance, scope: Scope, d: ast.CanonBuiltin
) -> core.CoreFunc:
    """``canon resource.rep``: the rep behind handle ``i``."""
    rt = _resource(scope, d)
    return core.host_func(store, CT((I32,), (rt.rep,)), lambda i: handles.resource_rep(inst, rt, i))
