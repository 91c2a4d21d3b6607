"""The linker: host definitions by name, and instantiation of components against them.

Names are matched exactly first, then semver-compatibly as Wasmtime does: an
import of ``wasi:io/streams@0.2.4`` is satisfied by a definition of
``wasi:io/streams@0.2.9`` (same major version, or same minor version for
``0.x``), the highest compatible one winning.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from typing import Any

from wasmloom import types as T
from wasmloom.abi.codecs import ClassMap
from wasmloom.errors import LinkError, Trap
from wasmloom.host.annotations import check_annotations, functype_from_annotations
from wasmloom.host.component import Component
from wasmloom.host.instance import Func, Instance
from wasmloom.host.store import Store
from wasmloom.runtime import instance as rt_instance
from wasmloom.runtime.hostfunc import HostFunc, iscoroutinefunction
from wasmloom.runtime.scope import InstanceExports
from wasmloom.runtime.subtype import Subst, subst_functype, subst_valtype

_VERSIONED = re.compile(
    r"^(?P<base>[^@]+)@(?P<major>\d+)\.(?P<minor>\d+)\.(?P<patch>\d+)(?P<rest>.*)$"
)


def _compat_key(name: str) -> tuple[str, tuple[int, ...]] | None:
    m = _VERSIONED.match(name)
    if m is None or m.group("rest"):
        return None
    major, minor, patch = int(m["major"]), int(m["minor"]), int(m["patch"])
    if major:
        return m["base"], (major,)
    if minor:
        return m["base"], (0, minor)
    return m["base"], (0, 0, patch)


def _version(name: str) -> tuple[int, int, int]:
    m = _VERSIONED.match(name)
    assert m is not None
    return int(m["major"]), int(m["minor"]), int(m["patch"])


class _FuncDef:
    __slots__ = ("classes", "dynamic", "fn", "ft", "with_store")

    def __init__(
        self,
        fn: Callable[..., Any],
        ft: T.FuncType | None,
        dynamic: bool,
        with_store: bool,
        classes: ClassMap | None = None,
    ) -> None:
        self.fn = fn
        self.ft = ft
        self.dynamic = dynamic
        self.with_store = with_store
        self.classes = classes


class _ResourceDef:
    __slots__ = ("rt",)

    def __init__(self, rt: T.ResourceType) -> None:
        self.rt = rt


def _trapping(expected: T.ExternType, m: Subst, path: str) -> Any:
    """A definition of type ``expected`` whose functions trap when called."""
    if isinstance(expected, T.FuncType):
        ft = subst_functype(expected, m)

        def trap(*args: Any) -> Any:
            raise Trap(f"unknown import `{path}` has not been defined")

        return HostFunc(ft, trap, path)
    if isinstance(expected, T.InstanceType):
        out = InstanceExports()
        for name, et in expected.exports.items():
            out[name] = _trapping(et, m, f"{path}/{name}")
        return out
    if isinstance(expected, T.TypeBound):
        if expected.sub_resource:
            rt = T.ResourceType(path, host=True)
            assert isinstance(expected.t, T.ResourceType)
            m[expected.t] = rt
            return rt
        return expected.t
    raise LinkError(f"cannot define unknown import `{path}` ({_expected_kind(expected)}) as a trap")


class _HostFuncPre(rt_instance.StoreBound):
    """A host function checked against its import once, bound to each store by
    :meth:`InstancePre.instantiate`."""

    __slots__ = ("d", "ft", "is_coroutine", "path")

    def __init__(self, ft: T.FuncType, d: _FuncDef, path: str, is_coroutine: bool) -> None:
        self.ft = ft
        self.d = d
        self.path = path
        self.is_coroutine = is_coroutine

    def bind(self, store: Any) -> HostFunc:
        d = self.d
        return HostFunc(self.ft, _bind(store, d), self.path, d.classes, self.is_coroutine)


class LinkerInstance:
    """A namespace of host definitions: the linker's root, or a named instance in it."""

    def __init__(self, path: str, _changes: list[int] | None = None) -> None:
        self.path = path
        self._defs: dict[str, Any] = {}
        # shared by a linker's namespaces: counts definitions, which retire prepared plans
        self._changes = _changes if _changes is not None else [0]

    def _define(self, name: str, item: Any) -> None:
        if name in self._defs:
            raise LinkError(f"`{name}` is already defined in {self.path or 'the root'}")
        self._defs[name] = item
        self._changes[0] += 1

    def instance(self, name: str) -> LinkerInstance:
        """The nested instance ``name``, created on first use."""
        existing = self._defs.get(name)
        if existing is None:
            existing = LinkerInstance(f"{self.path}/{name}" if self.path else name, self._changes)
            self._defs[name] = existing
            self._changes[0] += 1
        if not isinstance(existing, LinkerInstance):
            raise LinkError(f"`{name}` is already defined and is not an instance")
        return existing

    def func_wrap(
        self,
        name: str,
        fn: Callable[..., Any],
        *,
        type: T.FuncType | None = None,
        with_store: bool = False,
        classes: ClassMap | None = None,
    ) -> None:
        """Define ``name`` as ``fn``, called with one Python value per parameter.

        The WIT type is ``type`` when given. Otherwise ``fn``'s annotations are
        checked against the importing component's type at link time (an
        unannotated parameter accepts any type). With ``with_store=True``,
        ``fn`` receives the :class:`Store` first. With ``classes``, arguments of
        the types it maps arrive as instances of its classes
        (:class:`~wasmloom.abi.codecs.ClassMap`; generated bindings use this).
        """
        if type is None:
            functype_from_annotations(fn, with_store)  # fail early on unusable annotations
        self._define(
            name, _FuncDef(fn, type, dynamic=False, with_store=with_store, classes=classes)
        )

    def func_new(self, name: str, fn: Callable[[Store[Any], list[Any]], Any]) -> None:
        """Define ``name`` as ``fn(store, args) -> result``, typed by the importing component."""
        self._define(name, _FuncDef(fn, None, dynamic=True, with_store=True))

    def resource(
        self, name: str, rt: T.ResourceType | None = None, dtor: Callable[[int], None] | None = None
    ) -> T.ResourceType:
        """Define the host resource type ``name``; return it.

        ``dtor(rep)`` runs when a guest drops an owned handle of it.
        """
        if rt is None:
            rt = T.ResourceType(name, host=True, dtor=dtor)
        elif dtor is not None:
            rt.dtor = dtor
        self._define(name, _ResourceDef(rt))
        return rt

    def define_instance(self, name: str, instance: Instance) -> None:
        """Define ``name`` as the exports of a component instance (to link components)."""
        self._define(name, instance)

    def define_func(self, name: str, func: Func) -> None:
        """Define ``name`` as an exported function of a component instance."""
        self._define(name, func)

    def lookup(self, name: str) -> Any:
        item = self._defs.get(name)
        if item is not None:
            return item
        key = _compat_key(name)
        if key is None:
            return None
        best: tuple[tuple[int, int, int], Any] | None = None
        for other, item in self._defs.items():
            if _compat_key(other) == key:
                v = _version(other)
                if best is None or v > best[0]:
                    best = (v, item)
        return None if best is None else best[1]


class Linker:
    """Host definitions and the instantiation of components against them."""

    #: How many prepared components :meth:`instantiate` keeps (most recently used).
    PREPARED = 8

    def __init__(self) -> None:
        self._root = LinkerInstance("")
        self._trap_unknown: set[int] = set()
        self._prepared: OrderedDict[int, tuple[int, InstancePre]] = OrderedDict()

    def root(self) -> LinkerInstance:
        """The root namespace (component-level imports)."""
        return self._root

    def instance(self, name: str) -> LinkerInstance:
        """Shorthand for ``linker.root().instance(name)``."""
        return self._root.instance(name)

    def define_unknown_imports_as_traps(self, component: Component) -> None:
        """Satisfy every import of ``component`` this linker lacks with trapping stubs.

        Applies when ``component`` is instantiated, at any depth of instance
        imports: functions trap with a message naming the import when called,
        and resources become fresh host resource types. Component and
        core-module imports cannot be stubbed and still fail to link.
        """
        self._trap_unknown.add(id(component.definition))
        self._root._changes[0] += 1

    def instantiate_pre(self, component: Component) -> InstancePre:
        """Resolve and type-check ``component``'s imports against this linker once.

        The result instantiates ``component`` in any number of stores doing only
        per-instance work (Wasmtime's ``InstancePre``): the imports' types, the
        checks of host functions against them and the lowering plans are derived
        once. It keeps the definitions it resolved: later changes to this linker
        do not reach it. Raises :class:`LinkError` naming an import that is
        missing or has the wrong type.
        """
        trap_unknown = id(component.definition) in self._trap_unknown

        def resolve(name: str, expected: T.ExternType, m: Subst) -> Any:
            return _provide(None, self._root, name, expected, m, name, trap_unknown)

        plan = rt_instance.prepare(component.definition, resolve)
        return InstancePre(self, component, plan, trap_unknown)

    def instantiate(self, store: Store[Any], component: Component) -> Instance:
        """Instantiate ``component`` in ``store``; every import must be satisfied here.

        Raises :class:`LinkError` naming the import that is missing or has the
        wrong type, and :class:`~wasmloom.Trap` if a start function traps. The
        linker keeps the :meth:`instantiate_pre` of the components it
        instantiated last, until its definitions change.
        """
        if component.engine is not store.engine:
            raise LinkError("the component and the store belong to different engines")
        key = id(component.definition)
        changes = self._root._changes[0]
        hit = self._prepared.get(key)
        if hit is not None and hit[0] == changes and hit[1].component is component:
            self._prepared.move_to_end(key)
            pre = hit[1]
        else:
            pre = self.instantiate_pre(component)
            self._prepared[key] = (changes, pre)
            while len(self._prepared) > self.PREPARED:
                self._prepared.popitem(last=False)
        return pre.instantiate(store)


class InstancePre:
    """A component whose imports a :class:`Linker` has resolved: see
    :meth:`Linker.instantiate_pre`. Instantiate it with :meth:`instantiate`."""

    def __init__(
        self, linker: Linker, component: Component, plan: rt_instance.Plan, trap_unknown: bool
    ) -> None:
        self.component = component
        self._definition = component.definition
        self._linker = linker
        self._plan = plan
        self._trap_unknown = trap_unknown

    def instantiate(self, store: Store[Any]) -> Instance:
        """A new instance of the component in ``store``; nothing is shared with other
        instances but the component's code and the host definitions.

        Raises :class:`~wasmloom.Trap` if a start function traps (and
        :class:`LinkError` for an import after the component's first core
        instance, which is resolved here).
        """
        component = self.component
        if component.engine is not store.engine:
            raise LinkError("the component and the store belong to different engines")
        root = self._linker._root
        trap_unknown = self._trap_unknown

        def resolve(name: str, expected: T.ExternType, m: Subst) -> Any:
            return _provide(store, root, name, expected, m, name, trap_unknown)

        inst, exports = rt_instance.instantiate(
            store.core, self._definition, resolve, plan=self._plan, host_store=store
        )
        return Instance(store, inst, exports)


def _provide(
    store: Store[Any] | None,
    ns: LinkerInstance,
    name: str,
    expected: T.ExternType,
    m: Subst,
    path: str,
    trap_unknown: bool = False,
) -> Any:
    item = ns.lookup(name)
    if item is None and isinstance(expected, T.TypeBound) and not expected.sub_resource:
        # an `(eq T)` type import is satisfied by its bound, as in Wasmtime; resource types
        # it names (`type trailers = fields`) are the ones already bound by this import
        t = expected.t
        if isinstance(t, T.ResourceType):
            return m.get(t, t)
        return subst_valtype(t, m) if isinstance(t, T.ValType) else t
    if item is None and trap_unknown:
        return _trapping(expected, m, path)
    if item is None:
        kind = _expected_kind(expected)
        raise LinkError(
            f"component imports {kind} `{path}`, but a matching implementation "
            "was not found in the linker"
        )
    if isinstance(item, LinkerInstance):
        if not isinstance(expected, T.InstanceType):
            raise LinkError(
                f"import `{path}` expects {_expected_kind(expected)}, found an instance"
            )
        out = InstanceExports()
        for export_name, et in expected.exports.items():
            out[export_name] = _provide(
                store, item, export_name, et, m, f"{path}/{export_name}", trap_unknown
            )
        return out
    if isinstance(item, _FuncDef):
        if not isinstance(expected, T.FuncType):
            raise LinkError(f"import `{path}` expects {_expected_kind(expected)}, found a function")
        want = subst_functype(expected, m)
        if item.ft is not None:
            rt_instance.check_item(HostFunc(item.ft, item.fn), expected, m, f"`{path}`")
            ft = item.ft
        else:
            ft = want
            if not item.dynamic:
                check_annotations(item.fn, ft, item.with_store, path)
        is_coroutine = iscoroutinefunction(item.fn)
        if store is None:  # prepared once, bound to each store
            return _HostFuncPre(ft, item, path, is_coroutine)
        return HostFunc(ft, _bind(store, item), path, item.classes, is_coroutine)
    if isinstance(item, _ResourceDef):
        rt_instance.check_item(item.rt, expected, m, f"`{path}`")
        return item.rt
    if isinstance(item, Instance):
        rt_instance.check_item(item.exports_map, expected, m, f"`{path}`")
        return item.exports_map
    if isinstance(item, Func):
        rt_instance.check_item(item.component_func, expected, m, f"`{path}`")
        return item.component_func
    rt_instance.check_item(item, expected, m, f"`{path}`")
    return item


def _bind(store: Store[Any], d: _FuncDef) -> Callable[..., Any]:
    fn = d.fn
    if d.dynamic:
        return lambda *args: fn(store, list(args))
    if d.with_store:
        return partial(fn, store)  # no Python frame of its own per call
    return fn


def _expected_kind(et: T.ExternType) -> str:
    if isinstance(et, T.FuncType):
        return "function"
    if isinstance(et, T.InstanceType):
        return "instance"
    if isinstance(et, T.TypeBound):
        return "resource" if et.sub_resource else "type"
    if isinstance(et, T.ComponentType):
        return "component"
    if isinstance(et, T.ModuleType):
        return "core module"
    return "value"


__all__ = ["InstancePre", "Linker", "LinkerInstance"]
