"""Component Model types, resolved: no type indices left, only type objects.

These mirror the classes of the spec's ``definitions.py``. Value types are
frozen dataclasses, so two structurally equal types compare equal and hash the
same (useful as cache keys for the per-type lift/lower specialisations).
Resource types are the exception: each :class:`ResourceType` is a distinct,
generative type compared by identity.

The binary decoder produces index-based AST nodes (``wasmloom.binary.ast``);
the runtime resolves them into these objects.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

if TYPE_CHECKING:  # what these classes are, to the type checker
    from dataclasses import dataclass, field
else:  # and what makes them at run time: see _record

    def dataclass(cls: type | None = None, /, **options: Any) -> Any:
        if cls is not None:
            return _record(cls, **options)
        return lambda cls: _record(cls, **options)

    def field(**options: Any) -> Any:
        return _Field(**options)

# --- record classes --------------------------------------------------------------


class FrozenInstanceError(AttributeError):
    """An attempt to change a field of a frozen type object."""


_MISSING: Any = object()


class _Field:
    __slots__ = ("compare", "default", "factory", "repr")

    def __init__(
        self,
        *,
        default: Any = _MISSING,
        default_factory: Any = _MISSING,
        compare: bool = True,
        repr: bool = True,
    ) -> None:
        self.default = default
        self.factory = default_factory
        self.compare = compare
        self.repr = repr


def _record(cls: type, *, slots: bool = False, frozen: bool = False, eq: bool = True) -> type:
    """``dataclasses.dataclass(slots=..., frozen=..., eq=...)`` as this package uses it:
    ``__init__`` over the annotated fields (defaults, ``field(default=,
    default_factory=, compare=, repr=)``) that ends by calling ``__post_init__``
    when the class has one, ``__repr__``, ``__match_args__``, ``==`` and, when
    frozen, a hash over the compared fields, refusal to change a field, and
    pickling. It makes a class for a twentieth of dataclass's import cost, which
    every command paid for the hundred classes of the types and the binary AST.
    The module ``dataclasses`` still sees a dataclass: ``__dataclass_fields__``
    and ``__dataclass_params__`` are made, by ``dataclasses`` itself, on first
    access (``dataclasses.fields``, ``replace``, ``asdict``, ``is_dataclass``).
    Without ``slots`` a field's plain default stays a class attribute, as there.

    A frozen class computes its hash once per object, on first use, and keeps it
    (in a slot that is no field: not compared, shown or pickled). Type objects are
    dict keys all over the runtime (codec and plan caches), and nested ones would
    otherwise re-hash their whole tree on every lookup."""
    names = tuple(vars(cls).get("__annotations__", {}))
    ns = {k: v for k, v in cls.__dict__.items() if k not in names}
    ns.pop("__dict__", None)
    ns.pop("__weakref__", None)
    ns["__fields__"] = names
    ns["__match_args__"] = names
    if slots:
        ns["__slots__"] = (*names, "_hash") if frozen and eq else names
    specs: dict[str, _Field] = {}
    for n in names:
        d = cls.__dict__.get(n, _MISSING)
        f = d if isinstance(d, _Field) else _Field(default=d)
        specs[n] = f
        if not slots and f.default is not _MISSING:
            ns[n] = f.default
    post_init = "__post_init__" in ns or any(hasattr(b, "__post_init__") for b in cls.__bases__)
    rec = _Record(specs, frozen, post_init)
    ns["__init__"] = _compiled_on_first_call(rec, "__init__")
    ns["__repr__"] = _repr
    ns["__repr_fields__"] = tuple(n for n in names if specs[n].repr)
    for attr in ("__dataclass_fields__", "__dataclass_params__"):
        ns[attr] = _AsDataclass(attr, rec, frozen=frozen, eq=eq)
    if eq:
        ns["__eq__"] = _compiled_on_first_call(rec, "__eq__")
        ns["__hash__"] = _compiled_on_first_call(rec, "__hash__") if frozen else None
    if frozen:
        ns["__setattr__"] = _frozen_set
        ns["__delattr__"] = _frozen_del
        ns["__getstate__"] = _getstate
        ns["__setstate__"] = _setstate
    new = type(cls.__name__, cls.__bases__, ns)
    new.__qualname__ = cls.__qualname__
    rec.cls = new
    return new


_EQ = """def __eq__(a, b):
    if a is b:
        return True
    if b.__class__ is not a.__class__:
        return NotImplemented
    return {}
"""
_HASH = """def __hash__(a):
    try:
        return a._hash
    except AttributeError:
        h = hash(({}))
        _set(a, '_hash', h)
        return h
"""


class _Record:
    """What :func:`_record` knows of one class: its fields, and the source of its
    methods, written on the first call of one of them."""

    __slots__ = ("cls", "frozen", "glob", "post_init", "specs")

    cls: type  # the class, once made: where each method replaces its stub

    def __init__(self, specs: dict[str, _Field], frozen: bool, post_init: bool) -> None:
        self.specs = specs
        self.frozen = frozen
        self.post_init = post_init
        self.glob: dict[str, Any] = {"_set": object.__setattr__, "_MISSING": _MISSING}

    def source(self, name: str) -> str:
        """The source of the method ``name`` (``__init__``, ``__eq__`` or ``__hash__``)."""
        compared = [n for n, f in self.specs.items() if f.compare]
        if name == "__eq__":
            # Written out per class: one frame per level of a deep comparison, no
            # generator, and a part shared by both sides (``is``) is not descended into.
            same = " and ".join(f"(a.{n} is b.{n} or a.{n} == b.{n})" for n in compared)
            return _EQ.format(same or "True")
        if name == "__hash__":
            return _HASH.format("".join(f"a.{n}, " for n in compared))
        params, body, glob = [], [], self.glob
        for n, f in self.specs.items():
            assign = f"_set(self, {n!r}, {{}})" if self.frozen else f"self.{n} = {{}}"
            if f.factory is not _MISSING:
                glob[f"_make_{n}"] = f.factory
                params.append(f"{n}=_MISSING")
                body.append("    " + assign.format(f"_make_{n}() if {n} is _MISSING else {n}"))
            else:
                if f.default is _MISSING:
                    params.append(n)
                else:
                    glob[f"_default_{n}"] = f.default
                    params.append(f"{n}=_default_{n}")
                body.append("    " + assign.format(n))
        if self.post_init:
            body.append("    self.__post_init__()")
        lines = "\n".join(body or ["    pass"])
        return f"def __init__(self, {', '.join(params)}):\n{lines}"


def _compiled_on_first_call(rec: _Record, name: str) -> Any:
    """A stand-in for the method ``name`` of ``rec``'s class: its first call writes and
    compiles the method, puts it on the class in its place, and calls it. Compiling
    every method of the hundred record classes when the module loads cost a command
    ~12 ms, and a warm start calls few of them (unpickling calls no ``__init__``)."""

    def first_call(*args: Any, **kwargs: Any) -> Any:
        exec(rec.source(name), rec.glob)
        method = rec.glob[name]
        setattr(rec.cls, name, method)
        return method(*args, **kwargs)

    first_call.__name__ = name
    return first_call


class _AsDataclass:
    """``__dataclass_fields__`` and ``__dataclass_params__`` of a record class, made on
    first access by ``dataclasses.dataclass`` over a field-for-field copy of the class
    (no methods, so none of them is made twice), then set on the class in place of
    this stand-in."""

    def __init__(self, name: str, rec: _Record, **params: bool) -> None:
        self.name = name
        self.rec = rec
        self.params = params

    def __get__(self, obj: object, owner: type) -> Any:
        import dataclasses

        owner = self.rec.cls  # a subclass inherits what this makes

        ns: dict[str, Any] = {
            "__annotations__": dict(vars(owner).get("__annotations__", {})),
            "__module__": owner.__module__,
            "__qualname__": owner.__qualname__,
        }
        for n, f in self.rec.specs.items():
            kw: dict[str, Any] = {"compare": f.compare, "repr": f.repr}
            if f.default is not _MISSING:
                kw["default"] = f.default
            if f.factory is not _MISSING:
                kw["default_factory"] = f.factory
            ns[n] = dataclasses.field(**kw)
        copy: Any = dataclasses.dataclass(type(owner.__name__, (), ns), **self.params)
        for attr in ("__dataclass_fields__", "__dataclass_params__"):
            type.__setattr__(owner, attr, vars(copy)[attr])
        return vars(owner)[self.name]


def _repr(self: Any) -> str:
    fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in type(self).__repr_fields__)
    return f"{type(self).__qualname__}({fields})"


@cache
def _frozen_error() -> type[FrozenInstanceError]:
    """:class:`FrozenInstanceError` that is ``dataclasses.FrozenInstanceError`` too, as a
    frozen dataclass raises (that module is imported only on this error path)."""
    import dataclasses

    class FrozenDataclassError(FrozenInstanceError, dataclasses.FrozenInstanceError):
        pass

    FrozenDataclassError.__name__ = FrozenDataclassError.__qualname__ = "FrozenInstanceError"
    return FrozenDataclassError


def _frozen_set(self: Any, name: str, value: Any) -> None:
    raise _frozen_error()(f"cannot assign to field {name!r}")


def _frozen_del(self: Any, name: str) -> None:
    raise _frozen_error()(f"cannot delete field {name!r}")


def _getstate(self: Any) -> list[Any]:
    return [getattr(self, n) for n in type(self).__fields__]


def _setstate(self: Any, state: list[Any]) -> None:
    for n, v in zip(type(self).__fields__, state, strict=True):
        object.__setattr__(self, n, v)


# --- value types -----------------------------------------------------------------

PrimName = Literal[
    "bool", "s8", "u8", "s16", "u16", "s32", "u32", "s64", "u64",
    "f32", "f64", "char", "string",
]  # fmt: skip

PRIM_NAMES: tuple[PrimName, ...] = (
    "bool", "s8", "u8", "s16", "u16", "s32", "u32", "s64", "u64",
    "f32", "f64", "char", "string",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PrimType:
    """A primitive value type, named as in WIT (``u32``, ``string``...)."""

    name: PrimName

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class ErrorContextType:
    """The ``error-context`` type."""

    def __str__(self) -> str:
        return "error-context"


@dataclass(frozen=True, slots=True)
class ListType:
    """``list<t>``, or the fixed-length ``list<t, length>`` when ``length`` is set."""

    t: ValType
    length: int | None = None

    def __str__(self) -> str:
        return f"list<{self.t}>" if self.length is None else f"list<{self.t}, {self.length}>"


@dataclass(frozen=True, slots=True)
class FieldType:
    """One labelled field of a record type."""

    label: str
    t: ValType


@dataclass(frozen=True, slots=True)
class RecordType:
    """A record type."""

    fields: tuple[FieldType, ...]
    #: The WIT name of a named type (``"pkg:ns/iface#name"``), where known; not
    #: part of the type's identity (types are structural), but it tells
    #: same-shaped named types apart in typed bindings.
    name: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return "record { " + ", ".join(f"{f.label}: {f.t}" for f in self.fields) + " }"


@dataclass(frozen=True, slots=True)
class TupleType:
    """A tuple type."""

    ts: tuple[ValType, ...]

    def __str__(self) -> str:
        return "tuple<" + ", ".join(map(str, self.ts)) + ">"


@dataclass(frozen=True, slots=True)
class CaseType:
    """One labelled case of a variant type, with an optional payload."""

    label: str
    t: ValType | None


@dataclass(frozen=True, slots=True)
class VariantType:
    """A variant type."""

    cases: tuple[CaseType, ...]
    #: The WIT name of a named type (``"pkg:ns/iface#name"``), where known; not
    #: part of the type's identity (types are structural), but it tells
    #: same-shaped named types apart in typed bindings.
    name: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return (
            "variant { "
            + ", ".join(c.label if c.t is None else f"{c.label}({c.t})" for c in self.cases)
            + " }"
        )


@dataclass(frozen=True, slots=True)
class EnumType:
    """An enum type."""

    labels: tuple[str, ...]
    #: The WIT name of a named type (``"pkg:ns/iface#name"``), where known; not
    #: part of the type's identity (types are structural), but it tells
    #: same-shaped named types apart in typed bindings.
    name: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return "enum { " + ", ".join(self.labels) + " }"


@dataclass(frozen=True, slots=True)
class FlagsType:
    """A flags type."""

    labels: tuple[str, ...]
    #: The WIT name of a named type (``"pkg:ns/iface#name"``), where known; not
    #: part of the type's identity (types are structural), but it tells
    #: same-shaped named types apart in typed bindings.
    name: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return "flags { " + ", ".join(self.labels) + " }"


@dataclass(frozen=True, slots=True)
class OptionType:
    """An option type."""

    t: ValType

    def __str__(self) -> str:
        return f"option<{self.t}>"


@dataclass(frozen=True, slots=True)
class ResultType:
    """A result type."""

    ok: ValType | None
    error: ValType | None

    def __str__(self) -> str:
        ok = "_" if self.ok is None else str(self.ok)
        return f"result<{ok}, {self.error}>" if self.error is not None else f"result<{ok}>"


@dataclass(frozen=True, slots=True)
class MapType:
    """A map type."""

    k: ValType
    v: ValType

    def __str__(self) -> str:
        return f"map<{self.k}, {self.v}>"


class ResourceType:
    """A resource type. Generative: every instance is a distinct type.

    ``name`` is for messages only. ``impl`` is the component instance that
    defined the resource (``None`` for host-defined resources and for abstract
    resource types that only appear in type signatures). ``dtor`` is called
    with the representation when an owned handle is dropped. ``rep`` is the
    core representation type (always ``'i32'`` today).
    """

    __slots__ = ("__weakref__", "dtor", "host", "impl", "name", "rep")

    def __init__(
        self,
        name: str = "resource",
        *,
        impl: Any = None,
        dtor: Any = None,
        host: bool = False,
        rep: str = "i32",
    ) -> None:
        self.name = name
        self.impl = impl
        self.dtor = dtor
        self.host = host
        self.rep = rep

    def __repr__(self) -> str:
        return f"<resource {self.name} at {id(self):#x}>"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class OwnType:
    """An owned handle of a resource type."""

    rt: ResourceType

    def __str__(self) -> str:
        return f"own<{self.rt}>"


@dataclass(frozen=True, slots=True)
class BorrowType:
    """A borrowed handle of a resource type."""

    rt: ResourceType

    def __str__(self) -> str:
        return f"borrow<{self.rt}>"


@dataclass(frozen=True, slots=True)
class StreamType:
    """A stream type (``t`` is None for a stream of no values)."""

    t: ValType | None

    def __str__(self) -> str:
        return "stream" if self.t is None else f"stream<{self.t}>"


@dataclass(frozen=True, slots=True)
class FutureType:
    """A future type (``t`` is None for a future of no value)."""

    t: ValType | None

    def __str__(self) -> str:
        return "future" if self.t is None else f"future<{self.t}>"


ValType: TypeAlias = (
    PrimType
    | ErrorContextType
    | ListType
    | RecordType
    | TupleType
    | VariantType
    | EnumType
    | FlagsType
    | OptionType
    | ResultType
    | MapType
    | OwnType
    | BorrowType
    | StreamType
    | FutureType
)

# Shared instances of the primitive types.
BOOL = PrimType("bool")
S8 = PrimType("s8")
U8 = PrimType("u8")
S16 = PrimType("s16")
U16 = PrimType("u16")
S32 = PrimType("s32")
U32 = PrimType("u32")
S64 = PrimType("s64")
U64 = PrimType("u64")
F32 = PrimType("f32")
F64 = PrimType("f64")
CHAR = PrimType("char")
STRING = PrimType("string")

# --- core types --------------------------------------------------------------------

CoreValType = str  # 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | reference types, as text


@dataclass(frozen=True, slots=True)
class CoreFuncType:
    """A core function type: parameter and result value types by name."""

    params: tuple[CoreValType, ...]
    results: tuple[CoreValType, ...]

    def __str__(self) -> str:
        return f"(func (param {' '.join(self.params)}) (result {' '.join(self.results)}))"


@dataclass(frozen=True, slots=True)
class CoreExternDesc:
    """A core import or export as seen in a core module type: kind plus a textual type."""

    kind: Literal["func", "table", "memory", "global", "tag"]
    type: Any  # CoreFuncType for funcs; a descriptive tuple otherwise


@dataclass(frozen=True, slots=True)
class ModuleType:
    """A core module type: its imports and exports."""

    imports: tuple[tuple[str, str, CoreExternDesc], ...]
    exports: tuple[tuple[str, CoreExternDesc], ...]


# --- extern types --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FuncType:
    """A component function type. ``result`` is ``None`` for no result."""

    params: tuple[tuple[str, ValType], ...]
    result: ValType | None
    is_async: bool = False

    def param_types(self) -> list[ValType]:
        return [t for _, t in self.params]

    def result_types(self) -> list[ValType]:
        return [] if self.result is None else [self.result]

    def __str__(self) -> str:
        ps = ", ".join(f"{n}: {t}" for n, t in self.params)
        prefix = "async func" if self.is_async else "func"
        return f"{prefix}({ps})" + ("" if self.result is None else f" -> {self.result}")


@dataclass(frozen=True, slots=True)
class TypeBound:
    """The type of a ``(type ...)`` import or export: ``eq`` a type, or ``sub resource``.

    For ``sub resource`` bounds, ``t`` is the fresh abstract :class:`ResourceType`
    the declaration introduced.
    """

    t: ValType | ResourceType
    sub_resource: bool = False


@dataclass(frozen=True, slots=True)
class ValueBound:
    """The bound of a value import or export."""

    t: ValType


@dataclass(eq=False, slots=True)
class InstanceType:
    """An instance type: its exports by name."""

    exports: dict[str, ExternType] = field(default_factory=dict)


@dataclass(eq=False, slots=True)
class ComponentType:
    """A component type: its imports and exports by name."""

    imports: dict[str, ExternType] = field(default_factory=dict)
    exports: dict[str, ExternType] = field(default_factory=dict)


ExternType: TypeAlias = (
    FuncType | TypeBound | ValueBound | InstanceType | ComponentType | ModuleType
)


def despecialize(t: ValType) -> ValType:
    """Return the fundamental type of a specialised one, as the spec does for the ABI.

    ``tuple``, ``enum``, ``option`` and ``result`` become records and variants.
    """
    if isinstance(t, TupleType):
        return RecordType(tuple(FieldType(str(i), ti) for i, ti in enumerate(t.ts)))
    if isinstance(t, EnumType):
        return VariantType(tuple(CaseType(label, None) for label in t.labels))
    if isinstance(t, OptionType):
        return VariantType((CaseType("none", None), CaseType("some", t.t)))
    if isinstance(t, ResultType):
        return VariantType((CaseType("ok", t.ok), CaseType("error", t.error)))
    return t


def contains(t: ValType | None, pred: Any) -> bool:
    """True if ``pred`` holds for ``t`` or any value type nested inside it."""
    if t is None:
        return False
    if pred(t):
        return True
    if isinstance(t, ListType | OptionType):
        return contains(t.t, pred)
    if isinstance(t, RecordType):
        return any(contains(f.t, pred) for f in t.fields)
    if isinstance(t, TupleType):
        return any(contains(ti, pred) for ti in t.ts)
    if isinstance(t, VariantType):
        return any(contains(c.t, pred) for c in t.cases)
    if isinstance(t, ResultType):
        return contains(t.ok, pred) or contains(t.error, pred)
    if isinstance(t, MapType):
        return contains(t.k, pred) or contains(t.v, pred)
    return False


def contains_borrow(t: ValType | None) -> bool:
    return contains(t, lambda u: isinstance(u, BorrowType))


def contains_async_value(t: ValType | None) -> bool:
    return contains(t, lambda u: isinstance(u, StreamType | FutureType))
