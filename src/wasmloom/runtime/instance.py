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
from functools import partial
from operator import itemgetter
from typing import Any

from wasmloom import core
from wasmloom import types as T
from wasmloom.abi.funcabi import FuncABI
from wasmloom.abi.layout import flatten_functype
from wasmloom.binary import ast
from wasmloom.core.instantiate import ExportRef, LazyExports, Wiring, instantiate_with
from wasmloom.errors import LinkError, Trap
from wasmloom.runtime.builtins import builtin
from wasmloom.runtime.lift import ComponentFunc, LiftedFunc
from wasmloom.runtime.lower import deferrable, lower, lower_deferred
from wasmloom.runtime.scope import ComponentDef, ComponentInstance, InstanceExports, Scope
from wasmloom.runtime.subtype import Subst, check_func, check_type, holds_handle

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


class StoreBound:
    """A provided import made once per store (a host function bound to its store).

    A resolver given to :func:`prepare` may return these (also inside the
    :class:`InstanceExports` of an instance import); each instantiation calls
    :meth:`bind` once per object and uses what it returns.
    """

    __slots__ = ()

    def bind(self, store: Any) -> Any:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError


# What a plan may keep of a resolved type: no handle types in it, streams' and
# futures' element types included (their resource types are per instance when the
# component defines them), and no instance or component types (which declare
# resources).
def _shareable(t: Any) -> bool:
    if isinstance(t, T.FuncType):
        return not any(holds_handle(pt) for _, pt in t.params) and not holds_handle(t.result)
    if isinstance(t, T.InstanceType | T.ComponentType | T.ResourceType):
        return False
    return not holds_handle(t)


class Plan:
    """What instantiating one component derives once and every instance reuses.

    ``prefix`` is the component's leading imports with the type definitions
    around them, resolved once (:func:`prepare`); the rest are memos filled by
    the first instantiation: resolved types free of resource types, core types,
    the lowering plan (:class:`FuncABI`) of each ``canon lower``, and the
    :class:`ExportRef` of each alias of an instantiated module's export, the
    :class:`Wiring` of each core instantiation, and the steps of each component's
    walk (:class:`_AliasRun`).
    """

    __slots__ = (
        "abis",
        "core_types",
        "per_instance",
        "prefix",
        "refs",
        "schedules",
        "types",
        "wirings",
    )

    def __init__(self) -> None:
        self.prefix: _Prefix | None = None
        self.types: dict[int, Any] = {}
        self.per_instance: set[int] = set()  # type definitions resolved per instance
        self.core_types: dict[int, list[Any]] = {}
        self.abis: dict[int, tuple[T.FuncType, Any, FuncABI]] = {}
        self.refs: dict[int, ExportRef] = {}  # by alias of an instantiated module's export
        self.wirings: dict[int, Wiring] = {}  # by core instantiation
        # by (component definition, definitions skipped): see _schedule
        self.schedules: dict[tuple[int, int], list[tuple[_Step, Any]]] = {}

    def abi(self, d: ast.CanonLower, f: Any, opts: Any) -> FuncABI:
        ft = f.type
        classes = getattr(f, "classes", None)
        mem = opts.memory
        key = (
            opts.string_encoding,
            "i32" if mem is None else mem.ptr_type,
            bool(opts.is_async),
            opts.callback is not None,
            classes,
        )
        hit = self.abis.get(id(d))
        if hit is not None and hit[0] is ft and hit[1] == key:
            return hit[2]
        fabi = FuncABI(ft, opts, "lower", classes)
        self.abis[id(d)] = (ft, key, fabi)
        return fabi

    def has_abi(self, d: ast.CanonLower) -> bool:
        """Whether a lowering plan of ``d`` was derived already (by an earlier instance)."""
        return id(d) in self.abis


class _Prefix:
    """The index spaces after a component's leading imports and type definitions."""

    __slots__ = ("count", "scope", "subst")

    def __init__(self, count: int, scope: Scope, subst: Subst) -> None:
        self.count = count
        self.scope = scope
        self.subst = subst


def prepare(cdef: ComponentDef, resolver: ImportResolver) -> Plan:
    """A :class:`Plan` for ``cdef`` whose leading imports are resolved now, once.

    The leading run of imports, type definitions (not resources), core types,
    core modules and aliases of imported instances' exports is walked here, so
    an import that cannot be satisfied is a :class:`LinkError` now; imports
    after it are resolved at each instantiation.
    """
    plan = Plan()
    scope = Scope(parent=cdef.outer)
    subst: Subst = {}
    count = 0
    for d in cdef.ast.definitions:
        if isinstance(d, ast.Import):
            name = d.name.name
            expected = scope.externtype(d.t, name)
            _push_import(scope, d.t.sort, expected, resolver(name, expected, subst))
        elif isinstance(d, ast.TypeDef) and not isinstance(d.t, ast.ResourceTypeDef):
            scope.types.append(scope.typedef(d, _no_resources))
        elif isinstance(d, ast.CoreTypeDef):
            scope.core_types.extend(scope.core_typedef(d))
        elif isinstance(d, ast.CoreModule):
            scope.core_modules.append(cdef.compiled[id(d)])
        elif isinstance(d, ast.AliasExport) and d.sort in (Sort.TYPE, Sort.FUNC, Sort.INSTANCE):
            _alias_export(scope, d)
        else:
            break
        count += 1
    plan.prefix = _Prefix(count, scope, subst)
    return plan


def _no_resources(d: ast.ResourceTypeDef) -> T.ResourceType:  # pragma: no cover - never called
    raise AssertionError("a resource definition ends the prepared prefix")


def _alias_export(scope: Scope, d: ast.AliasExport) -> None:
    target = scope.get(Sort.INSTANCE, d.instance)
    if d.name not in target:
        raise LinkError(f"instance {d.instance} has no export `{d.name}`")
    scope.push(d.sort, target[d.name])


def _bound(item: Any, store: Any, made: dict[int, Any]) -> Any:
    """``item`` with every :class:`StoreBound` in it bound to ``store`` (once each)."""
    if isinstance(item, StoreBound):
        out = made.get(id(item))
        if out is None:
            out = made[id(item)] = item.bind(store)
        return out
    if isinstance(item, InstanceExports):
        return InstanceExports({k: _bound(v, store, made) for k, v in item.items()})
    return item


def _start(plan: Plan, cdef: ComponentDef, store: Any) -> tuple[Scope, Subst, int]:
    """A fresh scope for one instance: the plan's prefix (bound to ``store``) or empty."""
    pre = plan.prefix
    scope = Scope(parent=cdef.outer)
    if pre is None:
        return scope, {}, 0
    src = pre.scope
    made: dict[int, Any] = {}
    scope.types.extend(src.types)
    scope.core_types.extend(src.core_types)
    scope.core_modules.extend(src.core_modules)
    if src.funcs:
        scope.funcs.extend([_bound(f, store, made) for f in src.funcs])
    if src.comp_instances:
        scope.comp_instances.extend([_bound(i, store, made) for i in src.comp_instances])
    if src.components:
        scope.components.extend(src.components)
    return scope, dict(pre.subst), pre.count


def instantiate(
    store: core.CoreStore,
    cdef: ComponentDef,
    resolver: ImportResolver,
    parent: ComponentInstance | None = None,
    plan: Plan | None = None,
    host_store: Any = None,
) -> tuple[ComponentInstance, InstanceExports]:
    """Instantiate ``cdef``; return its runtime instance and its exports.

    With ``plan`` (from :func:`prepare`), its prefix is taken as resolved, with
    its :class:`StoreBound` items bound to ``host_store``, and its memos are
    used and filled. Raises :class:`LinkError` when an import cannot be
    satisfied and :class:`Trap` when a core start function traps.
    """
    if plan is None:
        plan = Plan()
    scope, subst, skip = _start(plan, cdef, host_store)
    w = _Walk(store, cdef, resolver, parent, plan, scope, subst)
    for step, d in _schedule(plan, cdef, skip):
        step(w, d)
    _release_core_items(scope)
    return w.inst, w.exports


def _schedule(plan: Plan, cdef: ComponentDef, skip: int) -> list[tuple[_Step, Any]]:
    """The steps that walk ``cdef``'s definitions from ``skip`` on, made once per plan:
    each definition's step (given an inline core instance as its :class:`_InlineBag`),
    and each run of aliases of core exports as one :class:`_AliasRun`."""
    key = (id(cdef.ast), skip)
    got = plan.schedules.get(key)
    if got is not None:
        return got
    out: list[tuple[_Step, Any]] = []
    run: list[ast.AliasCoreExport] = []
    for d in cdef.ast.definitions[skip:]:
        if type(d) is ast.AliasCoreExport:
            run.append(d)
            continue
        if run:
            out.append((_alias_run, _AliasRun(run)))
            run = []
        step = _STEPS.get(type(d))
        if step is None:  # pragma: no cover - the decoder produces nothing else
            raise AssertionError(f"unknown definition {d!r}")
        if type(d) is ast.CoreInlineExports:
            out.append((step, _InlineBag(d)))
        else:
            out.append((step, d))
    if run:
        out.append((_alias_run, _AliasRun(run)))
    plan.schedules[key] = out
    return out


def _release_core_items(scope: Scope) -> None:
    """Empty ``scope``'s core item and instance index spaces once its walk is done.

    Nothing reads them afterwards (outer aliases reach only types, modules and
    components), and a nested component's definition refers back to ``scope``:
    emptied, what they held (the core instances' export maps, the
    :class:`ExportRef` of each alias) is freed at once instead of by the cycle
    collector.
    """
    scope.core_funcs.clear()
    scope.core_tables.clear()
    scope.core_memories.clear()
    scope.core_globals.clear()
    scope.core_tags.clear()
    scope.core_instances.clear()
    scope.canon_memo.clear()


class _Walk:
    """One instantiation in progress: the definitions' steps share this state."""

    __slots__ = ("cdef", "exports", "inst", "plan", "resolver", "scope", "store", "subst")

    def __init__(
        self,
        store: core.CoreStore,
        cdef: ComponentDef,
        resolver: ImportResolver,
        parent: ComponentInstance | None,
        plan: Plan,
        scope: Scope,
        subst: Subst,
    ) -> None:
        self.store = store
        self.cdef = cdef
        self.resolver = resolver
        self.plan = plan
        self.scope = scope
        self.subst = subst
        self.inst = ComponentInstance(store, parent, cdef.name or cdef.ast.name or "component")
        self.exports = InstanceExports()

    def make_resource(self, d: ast.ResourceTypeDef) -> T.ResourceType:
        dtor = None
        if d.dtor is not None:
            dtor = core_caller(_core_item(self.scope, Sort.CORE_FUNC, d.dtor))
        return T.ResourceType("resource", impl=self.inst, dtor=dtor, rep=d.rep)


def _core_module(w: _Walk, d: ast.CoreModule) -> None:
    w.scope.core_modules.append(w.cdef.compiled[id(d)])


def _core_instantiate(w: _Walk, d: ast.CoreInstantiate) -> None:
    scope = w.scope
    module = scope.get(Sort.CORE_MODULE, d.module)
    args = {name: scope.get(Sort.CORE_INSTANCE, i) for name, i in d.args}
    wiring = w.plan.wirings.get(id(d))
    if wiring is None:
        wiring = w.plan.wirings[id(d)] = Wiring()
    instance = instantiate_with(w.store, module, args, scope.core_instances, wiring)
    scope.core_instances.append(instance.exports)


class _InlineBag:
    """A ``CoreInlineExports`` definition as its walk reads it: per run of consecutive
    exports of one sort, ``(sort, their names, an itemgetter of their indices, whether
    the run is of one export)``; the bag is filled a run at a time, from C."""

    __slots__ = ("d", "runs")

    def __init__(self, d: ast.CoreInlineExports) -> None:
        self.d = d
        self.runs: list[tuple[Sort, tuple[str, ...], Callable[[list[Any]], Any], bool]] = []
        grouped: list[tuple[Sort, list[str], list[int]]] = []
        for n, s, i in d.exports:
            if not grouped or grouped[-1][0] != s:
                grouped.append((s, [], []))
            grouped[-1][1].append(n)
            grouped[-1][2].append(i)
        for s, names, idxs in grouped:
            self.runs.append((s, tuple(names), itemgetter(*idxs), len(idxs) == 1))


def _core_inline_exports(w: _Walk, bag: _InlineBag) -> None:
    scope = w.scope
    spaces = scope._spaces
    exports: dict[str, Any] = {}
    try:
        for sort, names, get, single in bag.runs:
            if single:
                exports[names[0]] = get(spaces[sort])
            else:
                exports.update(zip(names, get(spaces[sort]), strict=True))
    except IndexError:  # the same message as Scope.get's
        for _, s, i in bag.d.exports:
            scope.get(s, i)
        raise  # pragma: no cover - one of them is out of bounds
    scope.core_instances.append(exports)


def _core_typedef(w: _Walk, d: ast.CoreTypeDef) -> None:
    memo = w.plan.core_types
    got = memo.get(id(d))
    if got is None:
        got = memo[id(d)] = w.scope.core_typedef(d)
    w.scope.core_types.extend(got)


def _component(w: _Walk, d: ast.Component) -> None:
    w.scope.components.append(ComponentDef(d, w.cdef.compiled, w.scope, d.name))


def _instantiate_child(w: _Walk, d: ast.Instantiate) -> None:
    scope = w.scope
    child = scope.get(Sort.COMPONENT, d.component)
    with_args = {name: scope.get(s, i) for name, s, i in d.args}
    _, child_exports = instantiate(
        w.store, child, concrete_resolver(with_args), w.inst, _child_plan(w.plan, child)
    )
    scope.comp_instances.append(child_exports)


def _child_plan(plan: Plan, child: ComponentDef) -> Plan:
    """The memos serve nested components too (their keys are their own definitions)."""
    sub = Plan()
    sub.types = plan.types
    sub.per_instance = plan.per_instance
    sub.core_types = plan.core_types
    sub.abis = plan.abis
    sub.refs = plan.refs
    sub.wirings = plan.wirings
    sub.schedules = plan.schedules
    return sub


def _inline_exports(w: _Walk, d: ast.InlineExports) -> None:
    scope = w.scope
    scope.comp_instances.append(InstanceExports({n.name: scope.get(s, i) for n, s, i in d.exports}))


def _alias_core_export(w: _Walk, d: ast.AliasCoreExport) -> None:
    scope = w.scope
    target = scope.get(Sort.CORE_INSTANCE, d.instance)
    name = d.name
    if type(target) is LazyExports and name in target._types:
        # fetched only if used other than as an import
        item = w.plan.refs.get(id(d))
        if item is None:
            item = w.plan.refs[id(d)] = ExportRef((d.instance, name))
    else:
        try:
            item = target[name]
        except KeyError:
            raise LinkError(f"core instance {d.instance} has no export `{name}`") from None
    scope._spaces[d.sort].append(item)


class _AliasRun:
    """Consecutive aliases of core instances' exports, walked as one step.

    ``fast``, once an instance has walked them one by one, holds what they all came
    to when every target was an instance (not an inline one) exporting the name: the
    :class:`ExportRef` of each, by sort, and ``(instance index, its module's export
    types)`` of each target. A later walk whose targets are instances of the same
    modules pushes those at once; any other walks them one by one.
    """

    __slots__ = ("defs", "fast", "tried")

    def __init__(self, defs: list[ast.AliasCoreExport]) -> None:
        self.defs = defs
        self.fast: tuple[list[tuple[int, Any]], list[tuple[Sort, list[ExportRef]]]] | None
        self.fast = None
        self.tried = False  # whether fast was derived (None: the run cannot be taken at once)


def _alias_run(w: _Walk, run: _AliasRun) -> None:
    fast = run.fast
    if fast is not None:
        targets, by_sort = fast
        instances = w.scope.core_instances
        n = len(instances)
        for idx, types in targets:
            if idx >= n:
                break
            t = instances[idx]
            if type(t) is not LazyExports or t._types is not types:
                break
        else:
            spaces = w.scope._spaces
            for sort, refs in by_sort:
                spaces[sort].extend(refs)
            return
    for d in run.defs:
        _alias_core_export(w, d)
    if not run.tried:
        run.fast = _alias_run_at_once(w, run.defs)
        run.tried = True


def _alias_run_at_once(
    w: _Walk, defs: list[ast.AliasCoreExport]
) -> tuple[list[tuple[int, Any]], list[tuple[Sort, list[ExportRef]]]] | None:
    """What :attr:`_AliasRun.fast` keeps for ``defs``, just walked by ``w``; None when
    some target was not an instance exporting the name."""
    instances = w.scope.core_instances
    refs = w.plan.refs
    targets: dict[int, Any] = {}
    by_sort: dict[Sort, list[ExportRef]] = {}
    for d in defs:
        t = instances[d.instance]
        ref = refs.get(id(d))
        if type(t) is not LazyExports or d.name not in t._types or ref is None:
            return None
        targets[d.instance] = t._types
        by_sort.setdefault(d.sort, []).append(ref)
    return list(targets.items()), list(by_sort.items())


def _alias_outer(w: _Walk, d: ast.AliasOuter) -> None:
    outer = w.scope.outer(d.count)
    assert isinstance(outer, Scope)
    w.scope.push(d.sort, outer.get(d.sort, d.index))


def _typedef(w: _Walk, d: ast.TypeDef) -> None:
    memo = w.plan.types
    t = memo.get(id(d))
    if t is None:
        t = w.scope.typedef(d, w.make_resource)
        if id(d) not in w.plan.per_instance:
            if _shareable(t):
                memo[id(d)] = t
            else:
                w.plan.per_instance.add(id(d))
    w.scope.types.append(t)


def _canon_lift(w: _Walk, d: ast.CanonLift) -> None:
    scope = w.scope
    ft = scope.get(Sort.TYPE, d.type_idx)
    opts = _canon_options(scope, d.opts)
    callee = _core_item(scope, Sort.CORE_FUNC, d.core_func)
    callback = None if d.opts.callback is None else scope.core_funcs[d.opts.callback]
    scope.funcs.append(LiftedFunc(w.inst, callee, ft, opts, callback))


def _canon_lower(w: _Walk, d: ast.CanonLower) -> None:
    scope = w.scope
    f = scope.get(Sort.FUNC, d.func)
    opts = _canon_options(scope, d.opts)
    plan = w.plan
    if plan.has_abi(d) or not deferrable(f, opts):
        scope.core_funcs.append(lower(w.store, w.inst, f, opts, plan.abi(d, f, opts)))
        return
    # The first instance of the component: the plan and the function are made when
    # the guest first calls it (a command calls few of the many functions it imports).
    core_type = flatten_functype(opts, f.type, "lower")
    scope.core_funcs.append(
        lower_deferred(w.store, w.inst, f, opts, core_type, partial(plan.abi, d, f, opts))
    )


def _canon_builtin(w: _Walk, d: ast.CanonBuiltin) -> None:
    scope = w.scope
    if d.opts is not None:
        _fetch_opts(scope, d.opts)
    if d.memory is not None:
        _core_item(scope, Sort.CORE_MEMORY, d.memory)
    if d.table is not None:
        _core_item(scope, Sort.CORE_TABLE, d.table)
    scope.core_funcs.append(builtin(w.store, w.inst, scope, d))


def _core_item(scope: Scope, sort: Sort, idx: int) -> Any:
    """Core item ``idx`` of ``sort``, fetched from its instance (once) if it is an
    :class:`ExportRef` still (``LinkError`` if out of bounds)."""
    item = scope.get(sort, idx)
    if type(item) is ExportRef:
        item = scope._spaces[sort][idx] = scope.core_instances[item[0]][item[1]]
    return item


def _fetch_opts(scope: Scope, o: ast.CanonOpts) -> None:
    """Fetch the core items canon options ``o`` name (see :func:`_core_item`)."""
    if o.memory is not None:
        _core_item(scope, Sort.CORE_MEMORY, o.memory)
    for idx in (o.realloc, o.post_return, o.callback):
        if idx is not None:
            _core_item(scope, Sort.CORE_FUNC, idx)


def _canon_options(scope: Scope, o: ast.CanonOpts) -> Any:
    """The :class:`CanonOptions` of a lift or lowering under ``o`` in ``scope``, made
    once per scope for each set of options: index spaces are only appended to, so
    the same indices name the same items for the rest of the walk (and were checked
    when first made)."""
    key = (o.string_encoding, o.memory, o.realloc, o.post_return, o.is_async, o.callback)
    memo = scope.canon_memo
    got = memo.get(key)
    if got is None:
        if o.memory is not None or o.realloc is not None or o.post_return is not None:
            _fetch_opts(scope, o)
        elif o.callback is not None:
            _core_item(scope, Sort.CORE_FUNC, o.callback)
        got = memo[key] = scope.canon_options(o)
    return got


def _import(w: _Walk, d: ast.Import) -> None:
    name = d.name.name
    expected = w.scope.externtype(d.t, name)
    item = w.resolver(name, expected, w.subst)
    _push_import(w.scope, d.t.sort, expected, item)


def _export(w: _Walk, d: ast.Export) -> None:
    item = w.scope.get(d.sort, d.index)
    name = d.name.name
    if isinstance(item, LiftedFunc) and item.name is None:
        item.name = name
    w.exports[name] = item
    w.scope.push(d.sort, item)


def _start_def(w: _Walk, d: ast.Start) -> None:
    raise LinkError("component start functions (🪙) are not supported")


def _value_def(w: _Walk, d: ast.ValueDef) -> None:
    raise LinkError("component value definitions (🪙) are not supported")


def _alias_export_step(w: _Walk, d: ast.AliasExport) -> None:
    _alias_export(w.scope, d)


_Step = Callable[[_Walk, Any], None]

# One step per kind of definition (dispatch on the exact class: the decoder's).
_STEPS: dict[type, _Step] = {
    ast.CoreModule: _core_module,
    ast.CoreInstantiate: _core_instantiate,
    ast.CoreInlineExports: _core_inline_exports,
    ast.CoreTypeDef: _core_typedef,
    ast.Component: _component,
    ast.Instantiate: _instantiate_child,
    ast.InlineExports: _inline_exports,
    ast.AliasExport: _alias_export_step,
    ast.AliasCoreExport: _alias_core_export,
    ast.AliasOuter: _alias_outer,
    ast.TypeDef: _typedef,
    ast.CanonLift: _canon_lift,
    ast.CanonLower: _canon_lower,
    ast.CanonBuiltin: _canon_builtin,
    ast.Import: _import,
    ast.Export: _export,
    ast.Start: _start_def,
    ast.ValueDef: _value_def,
}


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
    "Plan",
    "Scope",
    "StoreBound",
    "Trap",
    "check_item",
    "concrete_resolver",
    "instantiate",
    "prepare",
]
