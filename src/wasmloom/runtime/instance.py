"""Component instantiation: walking a component's definitions into live index spaces.

:func:`instantiate` takes a :class:`ComponentDef` (a decoded component plus its
compiled core modules and the scope it was defined in) and an import resolver,
and returns the instance's exports. Core modules run on wasmtime through
:mod:`wasmloom.core`; component functions are :class:`~wasmloom.runtime.lift.ComponentFunc`
objects; nested component instances are plain :class:`InstanceExports` maps.

Index spaces follow Binary.md: each definition appends to the index space of
its sort, and exports and aliases introduce new indices too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wasmloom import core
from wasmloom import types as T
from wasmloom.binary import ast
from wasmloom.errors import LinkError, Trap
from wasmloom.runtime.builtins import builtin
from wasmloom.runtime.lift import ComponentFunc, LiftedFunc
from wasmloom.runtime.lower import lower
from wasmloom.runtime.scope import ComponentDef, ComponentInstance, InstanceExports, Scope
from wasmloom.runtime.subtype import Subst, check_func, check_type

Sort = ast.Sort


# resolver(name, expected type, substitution) -> provided item
ImportResolver = Callable[[str, T.ExternType, Subst], Any]


def check_item(item: Any, expected: T.ExternType, m: Subst, what: str) -> None:
    """Check a provided definition against an expected extern type; bind resources in ``m``."""
    if isinstance(expected, T.FuncType):
        if not isinstance(item, ComponentFunc):
            raise LinkError(f"expected a function for {what}, found {_kind(item)}")
        check_func(item.type, expected, m, what)
    elif isinstance(expected, T.TypeBound):
        if not isinstance(item, T.ResourceType) and not _is_valtype(item):
            raise LinkError(f"expected a type for {what}, found {_kind(item)}")
        check_type(item, expected, m, what)
    elif isinstance(expected, T.InstanceType):
        if not isinstance(item, dict):
            raise LinkError(f"expected an instance for {what}, found {_kind(item)}")
        for name, et in expected.exports.items():
            if name not in item:
                raise LinkError(f"instance {what} has no export named `{name}`")
            check_item(item[name], et, m, f"`{name}` of {what}")
    elif isinstance(expected, T.ComponentType):
        if not isinstance(item, ComponentDef):
            raise LinkError(f"expected a component for {what}, found {_kind(item)}")
    elif isinstance(expected, T.ModuleType):
        if not isinstance(item, core.CoreModule):
            raise LinkError(f"expected a core module for {what}, found {_kind(item)}")
    else:
        raise LinkError(f"unsupported import kind for {what}")


def _is_valtype(x: Any) -> bool:
    return type(x).__module__ == T.__name__


def _kind(item: Any) -> str:
    if isinstance(item, ComponentFunc):
        return "a function"
    if isinstance(item, dict):
        return "an instance"
    if isinstance(item, T.ResourceType):
        return "a resource type"
    if isinstance(item, ComponentDef):
        return "a component"
    if isinstance(item, core.CoreModule):
        return "a core module"
    return f"`{item}`"


def concrete_resolver(args: dict[str, Any]) -> ImportResolver:
    """A resolver for nested instantiation: the ``with`` arguments, checked by type."""

    def resolve(name: str, expected: T.ExternType, m: Subst) -> Any:
        if name not in args:
            raise LinkError(f"missing instantiation argument `{name}`")
        item = args[name]
        check_item(item, expected, m, f"`{name}`")
        return item

    return resolve


def instantiate(
    store: core.CoreStore,
    cdef: ComponentDef,
    resolver: ImportResolver,
    parent: ComponentInstance | None = None,
) -> tuple[ComponentInstance, InstanceExports]:
    """Instantiate ``cdef``; return its runtime instance and its exports.

    Raises :class:`LinkError` when an import cannot be satisfied and
    :class:`Trap` when a core start function traps.
    """
    inst = ComponentInstance(store, parent, cdef.name or cdef.ast.name or "component")
    scope = Scope(parent=cdef.outer)
    exports = InstanceExports()
    subst: Subst = {}

    def make_resource(d: ast.ResourceTypeDef) -> T.ResourceType:
        dtor = None
        if d.dtor is not None:
            dtor = core_caller(scope.get(Sort.CORE_FUNC, d.dtor))
        return T.ResourceType("resource", impl=inst, dtor=dtor, rep=d.rep)

    for d in cdef.ast.definitions:
        if isinstance(d, ast.CoreModule):
            scope.core_modules.append(cdef.compiled[id(d)])
        elif isinstance(d, ast.CoreInstantiate):
            module = scope.get(Sort.CORE_MODULE, d.module)
            args = {name: scope.get(Sort.CORE_INSTANCE, i) for name, i in d.args}
            imports = []
            for modname, fieldname, _desc in module.imports:
                if modname not in args:
                    raise LinkError(f"core module import `{modname}` was not supplied")
                provided = args[modname]
                if fieldname not in provided:
                    raise LinkError(f"core instance `{modname}` has no export `{fieldname}`")
                imports.append(provided[fieldname])
            cinst = core.instantiate(store, module, imports)
            scope.core_instances.append(cinst.exports)
        elif isinstance(d, ast.CoreInlineExports):
            scope.core_instances.append({n: scope.get(s, i) for n, s, i in d.exports})
        elif isinstance(d, ast.CoreTypeDef):
            scope.core_types.extend(scope.core_typedef(d))
        elif isinstance(d, ast.Component):
            scope.components.append(ComponentDef(d, cdef.compiled, scope, d.name))
        elif isinstance(d, ast.Instantiate):
            child = scope.get(Sort.COMPONENT, d.component)
            with_args = {name: scope.get(s, i) for name, s, i in d.args}
            _, child_exports = instantiate(store, child, concrete_resolver(with_args), inst)
            scope.comp_instances.append(child_exports)
        elif isinstance(d, ast.InlineExports):
            scope.comp_instances.append(
                InstanceExports({n.name: scope.get(s, i) for n, s, i in d.exports})
            )
        elif isinstance(d, ast.AliasExport):
            target = scope.get(Sort.INSTANCE, d.instance)
            if d.name not in target:
                raise LinkError(f"instance {d.instance} has no export `{d.name}`")
            scope.push(d.sort, target[d.name])
        elif isinstance(d, ast.AliasCoreExport):
            target = scope.get(Sort.CORE_INSTANCE, d.instance)
            if d.name not in target:
                raise LinkError(f"core instance {d.instance} has no export `{d.name}`")
            scope.push(d.sort, target[d.name])
        elif isinstance(d, ast.AliasOuter):
            outer = scope.outer(d.count)
            assert isinstance(outer, Scope)
            scope.push(d.sort, outer.get(d.sort, d.index))
        elif isinstance(d, ast.TypeDef):
            scope.types.append(scope.typedef(d, make_resource))
        elif isinstance(d, ast.CanonLift):
            ft = scope.get(Sort.TYPE, d.type_idx)
            opts = scope.canon_options(d.opts)
            callee = scope.get(Sort.CORE_FUNC, d.core_func)
            callback = (
                None if d.opts.callback is None else scope.get(Sort.CORE_FUNC, d.opts.callback)
            )
            scope.funcs.append(LiftedFunc(inst, callee, ft, opts, callback))
        elif isinstance(d, ast.CanonLower):
            f = scope.get(Sort.FUNC, d.func)
            opts = scope.canon_options(d.opts)
            scope.core_funcs.append(lower(store, inst, f, opts))
        elif isinstance(d, ast.CanonBuiltin):
            scope.core_funcs.append(builtin(store, inst, scope, d))
        elif isinstance(d, ast.Import):
            name = d.name.name
            expected = scope.externtype(d.t, name)
            item = resolver(name, expected, subst)
            _push_import(scope, d.t.sort, expected, item)
        elif isinstance(d, ast.Export):
            item = scope.get(d.sort, d.index)
            name = d.name.name
            if isinstance(item, LiftedFunc) and item.name is None:
                item.name = name
            exports[name] = item
            scope.push(d.sort, item)
        elif isinstance(d, ast.Start):
            raise LinkError("component start functions (🪙) are not supported")
        elif isinstance(d, ast.ValueDef):
            raise LinkError("component value definitions (🪙) are not supported")
        else:  # pragma: no cover - the decoder produces nothing else
            raise AssertionError(f"unknown definition {d!r}")
    return inst, exports


def _push_import(scope: Scope, sort: Sort, expected: T.ExternType, item: Any) -> None:
    if sort == Sort.TYPE:
        scope.types.append(item)
    elif sort == Sort.CORE_MODULE:
        scope.core_modules.append(item)
    else:
        scope.push(sort, item)


def core_caller(f: Any) -> Callable[..., Any]:
    """A Python callable for a core function item of an index space."""
    return f.caller()  # type: ignore[no-any-return]


__all__ = [
    "ComponentDef",
    "ComponentInstance",
    "ImportResolver",
    "InstanceExports",
    "Scope",
    "Trap",
    "check_item",
    "concrete_resolver",
    "instantiate",
]
