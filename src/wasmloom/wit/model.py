"""The resolved WIT model: packages, interfaces, worlds, named type definitions.

Every non-primitive WIT type is a :class:`TypeDef`. Named ones (``record r``,
``type t = ...``, a ``use``) carry their name, owner and docs; anonymous ones
(``list<u8>``, ``option<r>``, an own/borrow handle) have ``name`` None. A
reference to a named type *is* that ``TypeDef`` object, so bindings can name
things. :attr:`TypeDef.type` gives the structural :mod:`wasmloom.types` value
type, where every ``resource`` is one :class:`wasmloom.types.ResourceType`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from wasmloom import types as T

__all__ = [
    "Alias",
    "Case",
    "Enum",
    "EnumCase",
    "FixedList",
    "Flag",
    "Flags",
    "Function",
    "Future",
    "Handle",
    "Interface",
    "List",
    "Map",
    "Option",
    "Package",
    "PackageName",
    "Record",
    "RecordField",
    "Resource",
    "Result",
    "Stability",
    "Stream",
    "Tuple",
    "Type",
    "TypeDef",
    "TypeKind",
    "Variant",
    "World",
    "WorldItem",
    "to_valtype",
    "unalias",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class PackageName:
    namespace: str
    name: str
    version: str | None = None

    def __str__(self) -> str:
        return f"{self.namespace}:{self.name}" + (f"@{self.version}" if self.version else "")

    def interface_id(self, iface: str) -> str:
        """``ns:pkg/iface@ver``, the component-level name of an interface."""
        v = f"@{self.version}" if self.version else ""
        return f"{self.namespace}:{self.name}/{iface}{v}"


@dataclass(frozen=True, slots=True)
class Stability:
    """The feature gates of an item (all None: ungated)."""

    since: str | None = None
    unstable: str | None = None
    deprecated: str | None = None


UNGATED = Stability()

# --- type definitions ---------------------------------------------------------------


@dataclass(eq=False, slots=True)
class RecordField:
    name: str
    type: Type
    docs: str | None = None


@dataclass(eq=False, slots=True)
class Record:
    fields: list[RecordField]


@dataclass(eq=False, slots=True)
class Case:
    name: str
    type: Type | None
    docs: str | None = None


@dataclass(eq=False, slots=True)
class Variant:
    cases: list[Case]


@dataclass(eq=False, slots=True)
class EnumCase:
    name: str
    docs: str | None = None


@dataclass(eq=False, slots=True)
class Enum:
    cases: list[EnumCase]


@dataclass(eq=False, slots=True)
class Flag:
    name: str
    docs: str | None = None


@dataclass(eq=False, slots=True)
class Flags:
    flags: list[Flag]


@dataclass(eq=False, slots=True)
class Resource:
    """A resource type; its functions live in the owner's ``functions``."""


@dataclass(eq=False, slots=True)
class Alias:
    """``type t = T``, or a type brought in by ``use`` (then ``target`` is a TypeDef)."""

    target: Type


@dataclass(eq=False, slots=True)
class Tuple:
    types: list[Type]


@dataclass(eq=False, slots=True)
class Option:
    type: Type


@dataclass(eq=False, slots=True)
class Result:
    ok: Type | None
    err: Type | None


@dataclass(eq=False, slots=True)
class List:
    type: Type


@dataclass(eq=False, slots=True)
class FixedList:
    type: Type
    length: int


@dataclass(eq=False, slots=True)
class Map:
    key: Type
    value: Type


@dataclass(eq=False, slots=True)
class Future:
    type: Type | None


@dataclass(eq=False, slots=True)
class Stream:
    type: Type | None


@dataclass(eq=False, slots=True)
class Handle:
    """``own<r>`` (written ``r``) or ``borrow<r>``; ``resource`` may be an alias of one."""

    resource: TypeDef
    borrow: bool = False


TypeKind: TypeAlias = Record | Variant | Enum | Flags | Resource | Alias | Tuple | Option | Result | List | FixedList | Map | Future | Stream | Handle  # fmt: skip


@dataclass(eq=False, slots=True)
class TypeDef:
    """A WIT type definition, named or anonymous.

    ``owner`` is the :class:`Interface` or :class:`World` that defines a named
    type (None for anonymous ones). For a ``resource``, ``resource_type`` is
    its :class:`wasmloom.types.ResourceType`.
    """

    name: str | None
    kind: TypeKind
    owner: Interface | World | None = None
    docs: str | None = None
    stability: Stability = UNGATED
    resource_type: T.ResourceType | None = None
    _vt: T.ValType | None = field(default=None, repr=False)

    @property
    def type(self) -> T.ValType | T.ResourceType:
        """The structural type (a resource's :class:`ResourceType` for resources)."""
        d = unalias(self)
        if isinstance(d, TypeDef) and isinstance(d.kind, Resource):
            assert d.resource_type is not None
            return d.resource_type
        return to_valtype(self)

    def __repr__(self) -> str:
        return f"<TypeDef {self.name or '(anonymous)'} {type(self.kind).__name__}>"


Type: TypeAlias = T.PrimType | T.ErrorContextType | TypeDef


def unalias(t: Type) -> Type:
    """Follow ``type t = ...`` and ``use`` aliases to the defining type."""
    while isinstance(t, TypeDef) and isinstance(t.kind, Alias):
        t = t.kind.target
    return t


def _opt(t: Type | None) -> T.ValType | None:
    return None if t is None else to_valtype(t)


def qualified_name(t: TypeDef) -> str | None:
    """``ns:pkg/iface@ver#name`` (or the world's or interface's own name before ``#``)
    for a named type; ``None`` for an anonymous one."""
    if t.name is None:
        return None
    owner = t.owner
    if isinstance(owner, Interface):
        where = owner.id or owner.name or ""
    elif isinstance(owner, World):
        pkg = owner.package
        where = f"{pkg.name}/{owner.name}" if pkg is not None else owner.name
    else:
        where = ""
    return f"{where}#{t.name}"


def to_valtype(t: Type) -> T.ValType:
    """The :mod:`wasmloom.types` value type of a WIT type."""
    if not isinstance(t, TypeDef):
        return t
    if t._vt is not None:
        return t._vt
    k = t.kind
    vt: T.ValType
    if isinstance(k, Alias):
        vt = to_valtype(k.target)
    elif isinstance(k, Record):
        fields = tuple(T.FieldType(f.name, to_valtype(f.type)) for f in k.fields)
        vt = T.RecordType(fields, qualified_name(t))
    elif isinstance(k, Variant):
        cases = tuple(T.CaseType(c.name, _opt(c.type)) for c in k.cases)
        vt = T.VariantType(cases, qualified_name(t))
    elif isinstance(k, Enum):
        vt = T.EnumType(tuple(c.name for c in k.cases), qualified_name(t))
    elif isinstance(k, Flags):
        vt = T.FlagsType(tuple(f.name for f in k.flags), qualified_name(t))
    elif isinstance(k, Tuple):
        vt = T.TupleType(tuple(to_valtype(x) for x in k.types))
    elif isinstance(k, Option):
        vt = T.OptionType(to_valtype(k.type))
    elif isinstance(k, Result):
        vt = T.ResultType(_opt(k.ok), _opt(k.err))
    elif isinstance(k, List):
        vt = T.ListType(to_valtype(k.type))
    elif isinstance(k, FixedList):
        vt = T.ListType(to_valtype(k.type), k.length)
    elif isinstance(k, Map):
        vt = T.MapType(to_valtype(k.key), to_valtype(k.value))
    elif isinstance(k, Future):
        vt = T.FutureType(_opt(k.type))
    elif isinstance(k, Stream):
        vt = T.StreamType(_opt(k.type))
    elif isinstance(k, Handle):
        r = unalias(k.resource)
        assert isinstance(r, TypeDef) and r.resource_type is not None
        vt = T.BorrowType(r.resource_type) if k.borrow else T.OwnType(r.resource_type)
    else:  # Resource used as a value type: an owned handle
        assert t.resource_type is not None
        vt = T.OwnType(t.resource_type)
    t._vt = vt
    return vt


# --- functions, interfaces, worlds ------------------------------------------------------


@dataclass(eq=False, slots=True)
class Function:
    """A WIT function. ``kind`` is 'freestanding', 'method', 'static' or 'constructor'.

    Methods include their ``self: borrow<r>`` parameter; constructors their
    result. ``resource`` is the resource TypeDef of the non-freestanding kinds.
    """

    name: str
    kind: str
    params: list[tuple[str, Type]]
    result: Type | None
    resource: TypeDef | None = None
    is_async: bool = False
    docs: str | None = None
    stability: Stability = UNGATED

    @property
    def component_name(self) -> str:
        """The import/export name: ``f``, ``[method]r.f``, ``[static]r.f``, ``[constructor]r``."""
        if self.kind == "freestanding" or self.resource is None:
            return self.name
        r = self.resource.name
        if self.kind == "constructor":
            return f"[constructor]{r}"
        return f"[{self.kind}]{r}.{self.name}"

    def functype(self) -> T.FuncType:
        return T.FuncType(
            tuple((n, to_valtype(t)) for n, t in self.params),
            None if self.result is None else to_valtype(self.result),
            self.is_async,
        )


@dataclass(eq=False, slots=True)
class Interface:
    """An interface: named types (in order) and functions keyed by component name."""

    name: str | None
    package: Package | None = None
    types: dict[str, TypeDef] = field(default_factory=dict)
    functions: dict[str, Function] = field(default_factory=dict)
    docs: str | None = None
    stability: Stability = UNGATED

    @property
    def id(self) -> str | None:
        """``ns:pkg/name@ver`` for a named interface of a named package, else None."""
        if self.name is None or self.package is None:
            return None
        return self.package.name.interface_id(self.name)

    def __repr__(self) -> str:
        return f"<Interface {self.id or self.name}>"


WorldItem: TypeAlias = Interface | Function | TypeDef


@dataclass(eq=False, slots=True)
class World:
    """A world. ``imports``/``exports`` map component-level names to items.

    An interface item's key is its id (``ns:pkg/iface@ver``) when imported by
    path, else the plain name (an inline ``interface { }`` has ``name`` None).
    Types the world defines or uses are imports keyed by their name.
    """

    name: str
    package: Package | None = None
    imports: dict[str, WorldItem] = field(default_factory=dict)
    exports: dict[str, WorldItem] = field(default_factory=dict)
    docs: str | None = None
    stability: Stability = UNGATED

    def __repr__(self) -> str:
        return f"<World {self.name}>"


@dataclass(eq=False, slots=True)
class Package:
    name: PackageName
    interfaces: dict[str, Interface] = field(default_factory=dict)
    worlds: dict[str, World] = field(default_factory=dict)
    docs: str | None = None

    def __repr__(self) -> str:
        return f"<Package {self.name}>"
