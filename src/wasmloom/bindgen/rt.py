"""Run-time support for generated (and dynamic) bindings.

Generated modules describe their WIT types as :mod:`wasmloom.types` values in
which every resource is a placeholder :class:`~wasmloom.types.ResourceType`.
When bindings attach to a linker or an instance, the placeholders are mapped
to the real resource types, and one :class:`~wasmloom.host.typed.ClassMap`
is built so that the canonical ABI lifts values straight into the generated
classes: no conversion runs per call in Python.

- Imported resources are implemented by Python objects. A :class:`HostTable`
  per resource type maps representations to those objects: an ``own`` handle
  given to the guest adds the object, one given back (or dropped by the guest)
  removes it; on a guest drop the object's ``drop()`` runs when it has one.
- Exported resources are :class:`GuestResource` subclasses: a
  :class:`~wasmloom.values.Resource` whose methods call the guest.

Generated modules import this module alone (``from wasmloom.bindgen import rt
as _rt``): it re-exports the names they use, from :mod:`typing`, the host API
and :mod:`wasmloom.types` (``_rt.Store``, ``_rt.RecordType``, ``_rt.U32``, ...).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Coroutine, Iterable, Sequence
from enum import Enum, Flag
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Generic,
    Literal,
    NoReturn,
    Protocol,
    TypeAlias,
    TypeVar,
)

from wasmloom import types as T
from wasmloom.errors import LinkError, WasmloomError
from wasmloom.host.accessor import Accessor
from wasmloom.host.component import Component
from wasmloom.host.instance import Func, Instance
from wasmloom.host.linker import Linker, LinkerInstance
from wasmloom.host.store import Store
from wasmloom.host.streams import FutureReader, StreamReader
from wasmloom.host.typed import (
    ClassMap,
    ExportedFunc,
    Subst,
    host_caller,
    specialise_as,
    subst_functype,
    subst_valtype,
)
from wasmloom.types import (
    BOOL,
    CHAR,
    F32,
    F64,
    S8,
    S16,
    S32,
    S64,
    STRING,
    U8,
    U16,
    U32,
    U64,
    BorrowType,
    CaseType,
    EnumType,
    ErrorContextType,
    FieldType,
    FlagsType,
    FuncType,
    FutureType,
    ListType,
    MapType,
    OptionType,
    OwnType,
    RecordType,
    ResourceType,
    ResultType,
    StreamType,
    TupleType,
    ValType,
    VariantType,
)
from wasmloom.values import Err, Ok, Resource, Some

if TYPE_CHECKING:
    from dataclasses import dataclass
    from dataclasses import dataclass as record
else:
    from wasmloom.types import dataclass as record

    def dataclass(cls: type | None = None, /, **options: Any) -> Any:
        """``dataclasses.dataclass``, the module imported on first use (a bindings
        module whose records are all ``record`` never imports it)."""
        import dataclasses

        return dataclasses.dataclass(cls, **options)


__all__ = [
    "Case",
    "EmptyCase",
    "ExportBinder",
    "GuestResource",
    "HostTable",
    "ImportBinder",
    "host_object",
    "own_handle",
    "wrong_store",
]
# What generated modules name as ``_rt.X`` (their one import):
__all__ += ["TYPE_CHECKING", "Any", "Callable", "ClassVar", "Literal", "Protocol", "TypeAlias"]
__all__ += ["Enum", "Err", "Flag", "Ok", "Some", "dataclass", "record"]
__all__ += ["Accessor", "Component", "FutureReader", "Instance", "Linker", "Store", "StreamReader"]
__all__ += ["FuncTable", "FuncType", "GuestClasses", "ResourceType", "TypeTable", "ValType"]
__all__ += ["BOOL", "CHAR", "F32", "F64", "S8", "S16", "S32", "S64", "STRING"]
__all__ += ["U8", "U16", "U32", "U64", "ErrorContextType", "ListType", "OptionType"]
__all__ += ["CaseType", "EnumType", "FieldType", "RecordType", "TupleType", "VariantType"]
__all__ += ["BorrowType", "FlagsType", "MapType", "OwnType", "ResultType"]
__all__ += ["FutureType", "StreamType"]


_V = TypeVar("_V")


@record(slots=True)
class Case(Generic[_V]):
    """A variant case with a payload: each generated case class subclasses it
    (with its own ``tag``), so that it is a dataclass without being made one
    at import time."""

    value: _V


@record(slots=True)
class EmptyCase:
    """A variant case without a payload (``value`` is ``None``); generated case classes subclass it."""

    value: None = None


TypeEntries = Iterable[tuple[T.ValType, Any]]
#: A module's named types and the classes they lift into (``_TYPES``).
TypeTable: TypeAlias = list[tuple[T.ValType, Any]]
#: An exported interface's functions and their WIT types (``Exports._FUNCS``).
FuncTable: TypeAlias = tuple[tuple[str, T.FuncType], ...]


def wrong_store(store: object) -> NoReturn:
    raise WasmloomError("bindings called with a store they do not belong to")


# --- host-implemented resources -------------------------------------------------------


class _Objects(dict[int, Any]):
    """A host table's objects by representation; a missing one raises
    :class:`~wasmloom.WasmloomError` naming the resource type. Its C ``__getitem__``
    is the ``from_rep`` of borrows (no Python frame per lifted borrow)."""

    __slots__ = ("table",)

    def __init__(self, table: HostTable) -> None:
        super().__init__()
        self.table = table

    def __missing__(self, rep: int) -> Any:
        raise WasmloomError(f"no host `{self.table.name}` object has representation {rep}")


class HostTable:
    """The Python objects behind the handles of one host resource type.

    Each object has one representation while any guest handle owns it; an
    object given to the guest as ``own`` twice gets the same representation,
    and its ``drop()`` runs once, when the guest drops its last owning handle.
    An object only lent to the guest (a ``borrow`` lowered by the host) has an
    entry for the length of that call (:meth:`lend_mark` / :meth:`end_lends`).
    """

    __slots__ = ("_counts", "_lent", "_next", "_objs", "_reps", "rt")

    def __init__(self) -> None:
        self._objs = _Objects(self)
        self._counts: dict[int, int] = {}
        self._reps: dict[int, int] = {}  # id(obj) -> rep; the table keeps obj alive
        self._lent: list[int] = []
        self._next = 1
        self.rt: T.ResourceType | None = None

    @property
    def name(self) -> str:
        return self.rt.name if self.rt is not None else "resource"

    def add(self, obj: Any) -> int:
        """The representation of ``obj`` for a new ``own`` handle given to the guest."""
        reps = self._reps
        key = id(obj)
        if key in reps:
            rep: int = reps[key]
            self._counts[rep] += 1
            return rep
        if obj is None:
            raise TypeError(f"expected a host `{self.name}` object, got None")
        rep = self._next
        self._next = rep + 1
        self._objs[rep] = obj
        self._counts[rep] = 1
        reps[key] = rep
        return rep

    def lend(self, obj: Any) -> int:
        """The representation of ``obj`` for a ``borrow`` given to the guest."""
        rep = self._reps.get(id(obj))
        if rep is None:
            rep = self.add(obj)
            self._counts[rep] = 0  # lent only: no owning handle
            self._lent.append(rep)
        return rep

    def lend_mark(self) -> int:
        return len(self._lent)

    def end_lends(self, mark: int) -> None:
        """Forget the objects lent since ``mark`` that no owning handle holds."""
        lent = self._lent
        while len(lent) > mark:
            rep = lent.pop()
            if self._counts.get(rep) == 0:
                self.take(rep)

    def get(self, rep: int) -> Any:
        """The object behind ``rep`` (a borrow lifted from the guest)."""
        return self._objs[rep]

    def take(self, rep: int) -> Any:
        """The object behind ``rep``, whose owning handle comes back to the host: one
        owning handle fewer, and after the last the entry is forgotten."""
        objs = self._objs
        obj = objs[rep]
        counts = self._counts
        n = counts[rep] - 1
        if n > 0:
            counts[rep] = n
        else:
            del objs[rep]
            del counts[rep]
            del self._reps[id(obj)]
        return obj

    def drop(self, rep: int) -> None:
        """The resource type's destructor: after the last owning handle, call ``drop()``."""
        if rep not in self._objs:
            return
        obj = self.take(rep)
        if rep in self._counts:  # owning handles are left
            return
        d = getattr(obj, "drop", None)
        if callable(d):
            d()

    def __len__(self) -> int:
        return len(self._objs)


_host_tables: weakref.WeakKeyDictionary[T.ResourceType, HostTable] = weakref.WeakKeyDictionary()


def own_handle(rt: T.ResourceType, obj: Any) -> Resource:
    """An owned handle of ``obj`` as a value of host resource type ``rt`` (one that typed
    bindings defined in a linker).

    For values the runtime lowers without the bindings' classes: the
    elements a host producer gives a ``stream`` or ``future``. Raises
    ``LookupError`` if no bindings defined ``rt``.
    """
    tbl = _host_tables.get(rt)
    if tbl is None:
        raise LookupError(f"resource type `{rt.name}` was not defined by typed bindings")
    return Resource(rt, tbl.add(obj), True)


def host_object(v: Resource) -> Any:
    """The host object an owned handle of a bindings-defined resource type names (ownership
    comes back to the host), or ``None`` when ``v`` is no such handle."""
    tbl = _host_tables.get(v.rt) if v.own else None
    return None if tbl is None else tbl.take(v.rep)


def _host_converters(tbl: HostTable) -> tuple[Any, Any]:
    return (tbl.take, tbl.add), (tbl._objs.__getitem__, tbl.lend)


# --- guest-implemented resources --------------------------------------------------------


class GuestResource(Resource):
    """A handle to a resource the guest implements; generated classes subclass it.

    ``owner`` is the bindings object whose functions its methods call (its
    ``_store`` is the store the handle belongs to). :meth:`drop` ends an owned
    handle, running the guest's destructor; passing an owned handle to the
    guest as ``own`` moves it there. A dropped or moved handle is refused by
    every later call, as is one built by hand (see :class:`~wasmloom.Resource`).
    """

    __slots__ = ("owner",)

    def __init__(self, rt: T.ResourceType, rep: int, own: bool, owner: Any = None) -> None:
        super().__init__(rt, rep, own)
        self.owner = owner

    def drop(self, store: Store[Any]) -> None:
        """Drop this owned handle: the guest's destructor runs (once; later calls do nothing).

        A borrowed handle is not the host's to drop: this does nothing for one.
        """
        owner_store = getattr(self.owner, "_store", None)
        if owner_store is not None and store is not owner_store:
            wrong_store(store)
        super().drop(store)

    def __repr__(self) -> str:
        kind = "own" if self.own else "borrow"
        state = ", dropped" if self.dropped else ""
        return f"{type(self).__name__}({kind}, rep={self.rep}{state})"


def _guest_converters(cls: type[GuestResource], rt: T.ResourceType, owner: Any) -> Any:
    def checked(v: Any) -> Resource:
        if not isinstance(v, Resource) or v.rt is not rt:
            what = type(v).__name__ if isinstance(v, GuestResource) else f"{v!r:.60}"
            raise TypeError(
                f"expected a `{cls.__name__}` handle of this instance (resource `{rt.name}`), "
                f"got {what}"
            )
        return v

    def to_rep(v: Any) -> int:
        return checked(v)._give(False)

    def to_rep_own(v: Any) -> int:
        r = checked(v)
        if not r.own:
            raise TypeError(f"a borrowed `{cls.__name__}` cannot be passed as an owned one")
        return r._give(True)  # ownership moves to the guest

    return (
        (lambda rep: cls(rt, rep, True, owner), to_rep_own),
        (lambda rep: cls(rt, rep, False, owner), to_rep),
    )


#: The guest classes of a module's exported resources, by placeholder (``_GUEST_CLASSES``).
GuestClasses: TypeAlias = dict[T.ResourceType, type[GuestResource]]


# --- class maps -------------------------------------------------------------------------


def _match(wit: T.ValType | None, actual: T.ValType | None, m: Subst) -> None:
    """Pair the placeholder resources of ``wit`` with those of ``actual`` (same shape)."""
    if wit is None or actual is None:
        return
    if isinstance(wit, T.OwnType | T.BorrowType) and isinstance(actual, T.OwnType | T.BorrowType):
        m.setdefault(wit.rt, actual.rt)
        return
    if isinstance(wit, T.ListType | T.OptionType) and isinstance(actual, type(wit)):
        _match(wit.t, actual.t, m)
    elif isinstance(wit, T.RecordType) and isinstance(actual, T.RecordType):
        for a, b in zip(wit.fields, actual.fields, strict=False):
            _match(a.t, b.t, m)
    elif isinstance(wit, T.TupleType) and isinstance(actual, T.TupleType):
        for x, y in zip(wit.ts, actual.ts, strict=False):
            _match(x, y, m)
    elif isinstance(wit, T.VariantType) and isinstance(actual, T.VariantType):
        for c, d in zip(wit.cases, actual.cases, strict=False):
            _match(c.t, d.t, m)
    elif isinstance(wit, T.ResultType) and isinstance(actual, T.ResultType):
        _match(wit.ok, actual.ok, m)
        _match(wit.error, actual.error, m)
    elif isinstance(wit, T.MapType) and isinstance(actual, T.MapType):
        _match(wit.k, actual.k, m)
        _match(wit.v, actual.v, m)


def match_functype(wit: T.FuncType, actual: T.FuncType, m: Subst) -> None:
    for (_, a), (_, b) in zip(wit.params, actual.params, strict=False):
        _match(a, b, m)
    _match(wit.result, actual.result, m)


def build_class_map(
    entries: TypeEntries,
    m: Subst,
    guest_classes: dict[T.ResourceType, type[GuestResource]] | None = None,
    owner: Any = None,
) -> ClassMap:
    """The class map of ``entries`` with placeholders replaced through ``m``.

    Resources in ``m`` get converters: a host table when the real type has one,
    else the guest class of ``guest_classes`` for the placeholder.
    """
    out: list[tuple[T.ValType, Any]] = []  # a list: same-shaped named types are distinct keys
    for vt, cls in entries:
        key = subst_valtype(vt, m)
        assert key is not None
        out.append((key, cls))
    for wit_rt, rt in m.items():
        tbl = _host_tables.get(rt)
        conv: Any = None
        if tbl is not None:
            conv = _host_converters(tbl)
        elif guest_classes is not None and wit_rt in guest_classes:
            conv = _guest_converters(guest_classes[wit_rt], rt, owner)
        if conv is not None:
            out.append((T.OwnType(rt), conv[0]))
            out.append((T.BorrowType(rt), conv[1]))
    return ClassMap(out)


# --- imports ----------------------------------------------------------------------------

_linker_rts: weakref.WeakKeyDictionary[Linker, Subst] = weakref.WeakKeyDictionary()


class ImportBinder:
    """Defines one imported interface's resources and functions in a linker instance.

    Call :meth:`resource` for every resource the interface defines, then
    :meth:`func` for every function.
    """

    def __init__(self, linker: Linker, name: str | None, entries: TypeEntries) -> None:
        self.linker = linker
        self.inst: LinkerInstance = linker.root() if name is None else linker.instance(name)
        self.m = _linker_rts.setdefault(linker, {})
        self.entries = list(entries)
        self._classes: ClassMap | None = None

    def resource(self, wit_rt: T.ResourceType, name: str) -> T.ResourceType:
        """Define resource ``name`` (placeholder ``wit_rt``), implemented by host objects;
        return its resource type."""
        tbl = HostTable()
        rt = self.inst.resource(name, dtor=tbl.drop)
        tbl.rt = rt
        _host_tables[rt] = tbl
        self.m[wit_rt] = rt
        return rt

    @property
    def classes(self) -> ClassMap:
        if self._classes is None:
            self._classes = build_class_map(self.entries, self.m)
        return self._classes

    def func(self, name: str, ft: T.FuncType, fn: Callable[..., Any]) -> None:
        """Define ``name`` as ``fn(store, *args)`` with the WIT type ``ft``."""
        real = subst_functype(ft, self.m)
        self.inst.func_wrap(name, fn, type=real, with_store=True, classes=self.classes)


# --- exports ----------------------------------------------------------------------------


def _lending_tables(ft: T.FuncType) -> list[HostTable]:
    """The host tables whose objects the parameters of ``ft`` may lend (borrow) to the guest."""
    out: list[HostTable] = []

    def visit(t: T.ValType) -> bool:
        if isinstance(t, T.BorrowType):
            tbl = _host_tables.get(t.rt)
            if tbl is not None and tbl not in out:
                out.append(tbl)
        return False

    for _, t in ft.params:
        T.contains(t, visit)
    return out


class _BinderPlan:
    """What an :class:`ExportBinder` derives from the types of the functions it binds:
    the class map, and the type each function's lifting is planned with.

    ``args`` are the binder's ``(funcs, entries, guest_classes)``. The plan depends
    on the instance only through the exported functions' types, so a later
    instance whose functions have equal types (resource types compare by
    identity) reuses it (:meth:`fits`). It is :attr:`shareable` when no
    converter of it refers to ``owner`` (no guest class is involved) and no
    resource type in it belongs to a component instance (so keeping it keeps
    no instance alive).
    """

    __slots__ = ("actual", "args", "classes", "plan_types", "shareable")

    def __init__(self, args: _BinderArgs, exported: dict[str, ExportedFunc], owner: Any) -> None:
        funcs, entries, guest_classes = args
        m: Subst = {}
        for name, ft in funcs:
            match_functype(ft, exported[name].type, m)
        self.args = args
        self.actual = [f.type for f in exported.values()]
        self.classes = build_class_map(entries, m, guest_classes, owner)
        # the WIT type each function's lifting is planned with when it equals the
        # function's type (see specialise); None: the function's own type
        self.plan_types: dict[str, T.FuncType | None] = {}
        for name, ft in funcs:
            wit = subst_functype(ft, m)
            self.plan_types[name] = wit if wit == exported[name].type else None
        self.shareable = all(
            rt.impl is None and (wit_rt not in guest_classes or rt in _host_tables)
            for wit_rt, rt in m.items()
        )

    def fits(self, args: _BinderArgs, exported: dict[str, ExportedFunc]) -> bool:
        """Whether this plan is the one these arguments would derive."""
        if any(a is not b for a, b in zip(self.args, args, strict=True)):
            return False
        return all(
            a is f.type or a == f.type for a, f in zip(self.actual, exported.values(), strict=True)
        )


_BinderArgs: TypeAlias = tuple[
    Sequence[tuple[str, T.FuncType]], TypeEntries, dict[T.ResourceType, type[GuestResource]]
]


# The plan of each bindings class and path last bound, by the identity of its arguments
# (a plan keeps them, so the identities stay theirs).
_binder_plans: dict[tuple[int, int, int, tuple[str, ...]], _BinderPlan] = {}
_BINDER_PLANS_MAX = 256


class ExportBinder:
    """Binds one exported interface (or the world's own exports) of an instance.

    ``funcs`` lists ``(export name, WIT function type)``; the class map is
    built once for all of them. :meth:`call` gives the host-to-guest caller
    ``f(args) -> result`` of one function.
    """

    def __init__(
        self,
        instance: Instance,
        path: Sequence[str],
        funcs: Sequence[tuple[str, T.FuncType]],
        entries: TypeEntries,
        guest_classes: dict[T.ResourceType, type[GuestResource]],
        owner: Any,
    ) -> None:
        exported: dict[str, ExportedFunc] = {}
        for name, _ft in funcs:
            f = instance.get_export(*path, name)
            if not isinstance(f, ExportedFunc):
                where = "/".join([*path, name])
                raise LinkError(f"the instance has no exported function `{where}`")
            exported[name] = f
        key = (id(funcs), id(entries), id(guest_classes), tuple(path))
        args = (funcs, entries, guest_classes)
        plan = _binder_plans.get(key)
        if plan is None or not plan.fits(args, exported):
            plan = _BinderPlan(args, exported, owner)
            if plan.shareable:
                if len(_binder_plans) >= _BINDER_PLANS_MAX:
                    _binder_plans.clear()
                _binder_plans[key] = plan
        self.classes = plan.classes
        # plan.fits: each type equals the plan's, so the plan's choice of type holds
        plan_types = plan.plan_types
        self.funcs = {n: self._specialise(plan, f, plan_types[n]) for n, f in exported.items()}

    def _specialise(
        self, plan: _BinderPlan, f: ExportedFunc, wit: T.FuncType | None
    ) -> ExportedFunc:
        """``f`` specialised through the class map; its plan kept when the binder plan
        is and it is planned with the WIT type (which holds no instance's resource)."""
        if wit is None:
            return specialise_as(f, self.classes, f.type)
        return specialise_as(f, self.classes, wit, kept=plan.shareable)

    def call(self, name: str) -> Callable[[Sequence[Any]], Any]:
        f = self.funcs[name]
        call = host_caller(f)
        tables = _lending_tables(f.type)
        if not tables:
            return call

        def call_lending(args: Sequence[Any]) -> Any:
            marks = [t.lend_mark() for t in tables]
            try:
                return call(args)
            finally:
                for t, mark in zip(tables, marks, strict=True):
                    t.end_lends(mark)

        return call_lending

    def call_async(
        self, store: Store[Any], name: str
    ) -> Callable[[Sequence[Any]], Coroutine[Any, Any, Any]]:
        """The awaitable twin of :meth:`call`: ``await f(args)`` runs the call under the
        running asyncio loop, as :meth:`Func.call_async <wasmloom.Func.call_async>` does, so
        that a sync export of an instance that may block can be called from async code."""
        f = Func(store, self.funcs[name], name)
        tables = _lending_tables(f.type)

        async def call(args: Sequence[Any]) -> Any:
            marks = [t.lend_mark() for t in tables]
            try:
                return await f.call_async(store, *args)
            finally:
                for t, mark in zip(tables, marks, strict=True):
                    t.end_lends(mark)

        return call

    def func(self, name: str) -> ExportedFunc:
        return self.funcs[name]

    def host_func(self, store: Store[Any], name: str) -> Func:
        """The :class:`~wasmloom.Func` of one function, for ``await f.call_async(store, ...)``."""
        return Func(store, self.funcs[name], name)
