"""The component binary's abstract syntax, as Binary.md defines it.

Nodes keep indices exactly as encoded; resolving them into index spaces is the
runtime's job (``wasmloom.runtime``). Every node records ``offset``, the byte
offset of its encoding in the binary, for error messages.

A value type reference (``ValTypeRef``) is either a type index (``int``) or a
primitive type name (``str``, e.g. ``"u32"``, ``"error-context"``).
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, TypeAlias, Union

if TYPE_CHECKING:  # what the nodes are, to the type checker
    from dataclasses import dataclass, field
    from typing import Protocol

    class Sliceable(Protocol):
        """What a core module's bytes can be sliced from: ``bytes``, or an open file."""

        def __getitem__(self, key: slice, /) -> bytes: ...

else:  # and what makes them at run time (50 classes at a fraction of dataclass's cost)
    from wasmloom.types import dataclass, field


class Sort(Enum):
    """The sorts of index spaces (``sort`` and ``core:sort``)."""

    CORE_FUNC = "core func"
    CORE_TABLE = "core table"
    CORE_MEMORY = "core memory"
    CORE_GLOBAL = "core global"
    CORE_TAG = "core tag"
    CORE_TYPE = "core type"
    CORE_MODULE = "core module"
    CORE_INSTANCE = "core instance"
    FUNC = "func"
    VALUE = "value"
    TYPE = "type"
    COMPONENT = "component"
    INSTANCE = "instance"

    # Members are singletons compared by identity: hash them so too (C speed, where
    # Enum's own hash is a Python call; instantiation looks index spaces up by sort).
    __hash__ = object.__hash__


ValTypeRef: TypeAlias = int | str

# --- core types ----------------------------------------------------------------------


@dataclass(slots=True)
class CoreFuncTypeDef:
    """A core function type: parameter and result value types."""

    params: list[str]
    results: list[str]
    offset: int = 0


@dataclass(slots=True)
class CoreGcTypeDef:
    """A non-function core type of a rec group (struct or array, WebAssembly 3.0).

    Only carried through; components cannot use these at the boundary.
    """

    kind: str  # "struct" | "array" | "func" | "cont"
    raw: bytes
    offset: int = 0


@dataclass(slots=True)
class CoreRecGroup:
    """A core rec group: the sub types defined together."""

    types: list[CoreFuncTypeDef | CoreGcTypeDef]
    offset: int = 0


@dataclass(slots=True)
class CoreExternTypeRef:
    """A core extern type inside a module type: ``kind`` and its immediates.

    - func: ``type_idx`` (``exact`` for an exact function import)
    - table: ``reftype``, ``limits``, ``shared``, ``memory64`` (a 64-bit table)
    - memory: ``limits``, ``shared``, ``memory64``, ``page_size_log2`` (None: default)
    - global: ``valtype``, ``mutable``, ``shared``
    - tag: ``type_idx``
    """

    kind: str
    type_idx: int | None = None
    reftype: str | None = None
    limits: tuple[int, int | None] | None = None
    memory64: bool = False
    shared: bool = False
    valtype: str | None = None
    mutable: bool = False
    offset: int = 0
    page_size_log2: int | None = None
    exact: bool = False


@dataclass(slots=True)
class CoreImportDecl:
    """An import declared by a core module type."""

    module: str
    name: str
    desc: CoreExternTypeRef
    offset: int = 0


@dataclass(slots=True)
class CoreExportDecl:
    """An export declared by a core module type."""

    name: str
    desc: CoreExternTypeRef
    offset: int = 0


@dataclass(slots=True)
class CoreOuterAlias:
    """``(alias outer ct idx (type))`` inside a core module type."""

    count: int
    index: int
    offset: int = 0


CoreModuleDecl: TypeAlias = Union[CoreImportDecl, "CoreTypeDef", CoreOuterAlias, CoreExportDecl]


@dataclass(slots=True)
class CoreModuleTypeDef:
    """A core module type: its declarations in order."""

    decls: list[CoreModuleDecl]
    offset: int = 0


@dataclass(slots=True)
class CoreTypeDef:
    """One entry of the core type section: a rec group, a sub type, or a module type."""

    t: CoreRecGroup | CoreModuleTypeDef
    offset: int = 0


# --- component value types ---------------------------------------------------------


@dataclass(slots=True)
class RecordDef:
    """A ``record`` type: labelled fields."""

    fields: list[tuple[str, ValTypeRef]]
    offset: int = 0


@dataclass(slots=True)
class VariantDef:
    """A ``variant`` type: labelled cases, each with an optional payload."""

    cases: list[tuple[str, ValTypeRef | None]]
    offset: int = 0


@dataclass(slots=True)
class ListDef:
    """A ``list`` type; ``length`` is set for a fixed-length list."""

    t: ValTypeRef
    length: int | None = None
    offset: int = 0


@dataclass(slots=True)
class TupleDef:
    """A ``tuple`` type."""

    ts: list[ValTypeRef]
    offset: int = 0


@dataclass(slots=True)
class FlagsDef:
    """A ``flags`` type: its labels."""

    labels: list[str]
    offset: int = 0


@dataclass(slots=True)
class EnumDef:
    """An ``enum`` type: its labels."""

    labels: list[str]
    offset: int = 0


@dataclass(slots=True)
class OptionDef:
    """An ``option`` type."""

    t: ValTypeRef
    offset: int = 0


@dataclass(slots=True)
class ResultDef:
    """A ``result`` type, either side optional."""

    ok: ValTypeRef | None
    error: ValTypeRef | None
    offset: int = 0


@dataclass(slots=True)
class OwnDef:
    """An ``own`` handle type of a resource type index."""

    type_idx: int
    offset: int = 0


@dataclass(slots=True)
class BorrowDef:
    """A ``borrow`` handle type of a resource type index."""

    type_idx: int
    offset: int = 0


@dataclass(slots=True)
class StreamDef:
    """A ``stream`` type, its element type optional."""

    t: ValTypeRef | None
    offset: int = 0


@dataclass(slots=True)
class FutureDef:
    """A ``future`` type, its value type optional."""

    t: ValTypeRef | None
    offset: int = 0


@dataclass(slots=True)
class MapDef:
    """A ``map`` type: key and value types."""

    k: ValTypeRef
    v: ValTypeRef
    offset: int = 0


@dataclass(slots=True)
class PrimDef:
    """A ``defvaltype`` that is just a primitive (``(type u32)``)."""

    name: str
    offset: int = 0


DefValType: TypeAlias = PrimDef | RecordDef | VariantDef | ListDef | TupleDef | FlagsDef | EnumDef | OptionDef | ResultDef | OwnDef | BorrowDef | StreamDef | FutureDef | MapDef  # fmt: skip

# --- other component types -----------------------------------------------------------


@dataclass(slots=True)
class FuncTypeDef:
    """A component function type: named parameters, optional result, async or not."""

    params: list[tuple[str, ValTypeRef]]
    result: ValTypeRef | None
    is_async: bool = False
    offset: int = 0


@dataclass(slots=True)
class ResourceTypeDef:
    """A resource type defined by the component: representation and destructor."""

    rep: str  # core valtype, 'i32'
    dtor: int | None  # core func index
    offset: int = 0


@dataclass(slots=True)
class TypeBoundRef:
    """``(eq i)`` when ``eq`` is set, else ``(sub resource)``."""

    eq: int | None
    offset: int = 0


@dataclass(slots=True)
class ExternTypeRef:
    """An ``externtype``: the sort it describes and its index or bound.

    - ``core module``: ``index`` is a core type index
    - ``func``/``component``/``instance``: ``index`` is a type index
    - ``type``: ``bound``
    - ``value``: ``value_eq`` (a value index) or ``value_type``
    """

    sort: Sort
    index: int | None = None
    bound: TypeBoundRef | None = None
    value_eq: int | None = None
    value_type: ValTypeRef | None = None
    offset: int = 0


@dataclass(slots=True)
class ExternName:
    """An import or export name with its optional attributes."""

    name: str
    implements: str | None = None
    version_suffix: str | None = None
    external_id: str | None = None


@dataclass(slots=True)
class ImportDecl:
    """An import declared in a component or instance type."""

    name: ExternName
    t: ExternTypeRef
    offset: int = 0


@dataclass(slots=True)
class ExportDecl:
    """An export declared in a component or instance type."""

    name: ExternName
    t: ExternTypeRef
    offset: int = 0


@dataclass(slots=True)
class AliasExport:
    """``(alias export i "n" (sort))``: an export of a component instance."""

    sort: Sort
    instance: int
    name: str
    offset: int = 0


@dataclass(slots=True)
class AliasCoreExport:
    """``(alias core export i "n" (sort))``: an export of a core instance."""

    sort: Sort
    instance: int
    name: str
    offset: int = 0


@dataclass(slots=True)
class AliasOuter:
    """``(alias outer ct idx (sort))``: a definition of an enclosing scope."""

    sort: Sort
    count: int
    index: int
    offset: int = 0


Alias: TypeAlias = AliasExport | AliasCoreExport | AliasOuter


@dataclass(slots=True)
class TypeDef:
    """One entry of the type section, or a type declarator in a type."""

    t: DefValType | FuncTypeDef | ComponentTypeDef | InstanceTypeDef | ResourceTypeDef
    offset: int = 0


InstanceDecl: TypeAlias = CoreTypeDef | TypeDef | Alias | ExportDecl
ComponentDecl: TypeAlias = ImportDecl | CoreTypeDef | TypeDef | Alias | ExportDecl


@dataclass(slots=True)
class ComponentTypeDef:
    """A component type: its declarations in order."""

    decls: list[ComponentDecl]
    offset: int = 0


@dataclass(slots=True)
class InstanceTypeDef:
    """An instance type: its declarations in order."""

    decls: list[InstanceDecl]
    offset: int = 0


# --- definitions -----------------------------------------------------------------------


class CoreModule:
    """An embedded core module: its complete binary (``\\0asm`` preamble included) and
    its place in the component's binary.

    :meth:`slice_later` has ``data`` sliced from the component's bytes (or from
    anything sliced as bytes are, such as an open file) on first read: a component
    loaded from its cache record copies no module that nothing reads. Either way
    ``data`` reads as the module's bytes; equality, ``repr`` and pickling are those
    of a record of the fields ``data`` and ``offset``.
    """

    __slots__ = ("_data", "_file", "offset")
    __fields__ = ("data", "offset")

    def __init__(self, data: bytes, offset: int = 0) -> None:
        self._data = data
        self._file: tuple[Sliceable, int] | None = None
        self.offset = offset

    def slice_later(self, file: Sliceable, size: int) -> None:
        """Make ``data`` ``file[offset : offset + size]``, sliced when first read (``file``
        is kept until then; the caller checks the range). What slicing ``file`` raises
        (an ``OSError``), the first read of ``data`` raises."""
        self._file = (file, size)

    @property
    def data(self) -> bytes:
        file = self._file
        if file is not None:
            # _data before _file: a thread that sees no _file finds the slice
            self._data = file[0][self.offset : self.offset + file[1]]
            self._file = None
        return self._data

    @data.setter
    def data(self, value: bytes) -> None:
        self._data = value
        self._file = None

    def __repr__(self) -> str:
        return f"CoreModule(data={self.data!r}, offset={self.offset!r})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not CoreModule:
            return NotImplemented
        assert isinstance(other, CoreModule)
        return self.offset == other.offset and self.data == other.data

    __hash__ = None  # type: ignore[assignment]

    def __getstate__(self) -> tuple[bytes, int]:
        return (self.data, self.offset)

    def __setstate__(self, state: tuple[bytes, int]) -> None:
        self._data, self.offset = state
        self._file = None


@dataclass(slots=True)
class CoreInstantiate:
    """A core instance made by instantiating a core module with named arguments."""

    module: int
    args: list[tuple[str, int]]  # (name, core instance index)
    offset: int = 0


@dataclass(slots=True)
class CoreInlineExports:
    """A core instance made of existing core items, by name."""

    exports: list[tuple[str, Sort, int]]
    offset: int = 0


@dataclass(slots=True)
class Instantiate:
    """A component instance made by instantiating a component with named arguments."""

    component: int
    args: list[tuple[str, Sort, int]]
    offset: int = 0


@dataclass(slots=True)
class InlineExports:
    """A component instance made of existing items, by name."""

    exports: list[tuple[ExternName, Sort, int]]
    offset: int = 0


@dataclass(slots=True)
class CanonOpts:
    """The canonical options of a ``canon`` definition."""

    string_encoding: str = "utf8"  # 'utf8' | 'utf16' | 'latin1+utf16'
    memory: int | None = None
    realloc: int | None = None
    post_return: int | None = None
    is_async: bool = False
    callback: int | None = None
    core_type: int | None = None  # (core-type t), GC ABI
    gc: bool = False  # gc, GC ABI


@dataclass(slots=True)
class CanonLift:
    """``canon lift``: a core function as a component function of a type."""

    core_func: int
    opts: CanonOpts
    type_idx: int
    offset: int = 0


@dataclass(slots=True)
class CanonLower:
    """``canon lower``: a component function as a core function."""

    func: int
    opts: CanonOpts
    offset: int = 0


@dataclass(slots=True)
class CanonBuiltin:
    """Every canon definition other than lift and lower, named as in the text format.

    ``name`` is e.g. ``"resource.new"``, ``"stream.read"``, ``"waitable-set.wait"``,
    ``"context.get"``. Only the immediates the built-in has are set.
    """

    name: str
    type_idx: int | None = None  # resource/stream/future type index
    opts: CanonOpts | None = None
    result: ValTypeRef | None = None  # task.return
    has_result: bool = False  # task.return: whether a result type is given
    is_async: bool = False  # subtask.cancel, *.cancel-read/write
    cancellable: bool = False
    core_valtype: str | None = None  # context.get/set
    index: int | None = None  # context.get/set slot
    memory: int | None = None  # waitable-set.wait/poll
    core_type_idx: int | None = None  # thread.new-indirect, thread.spawn-*
    table: int | None = None
    shared: bool = False
    offset: int = 0


Canon: TypeAlias = CanonLift | CanonLower | CanonBuiltin


@dataclass(slots=True)
class Start:
    """A component start function (not supported at instantiation)."""

    func: int
    args: list[int]
    results: int
    offset: int = 0


@dataclass(slots=True)
class Import:
    """A component import: its name and extern type."""

    name: ExternName
    t: ExternTypeRef
    offset: int = 0


@dataclass(slots=True)
class Export:
    """A component export: its name, sort, index and optional type ascription."""

    name: ExternName
    sort: Sort
    index: int
    t: ExternTypeRef | None = None
    offset: int = 0


@dataclass(slots=True)
class ValueDef:
    """A 🪙 value definition: its type and the encoded value bytes."""

    t: ValTypeRef
    data: bytes
    offset: int = 0


Definition: TypeAlias = Union[
    CoreModule, CoreInstantiate, CoreInlineExports, CoreTypeDef, "Component",
    Instantiate, InlineExports, AliasExport, AliasCoreExport, AliasOuter, TypeDef,
    CanonLift, CanonLower, CanonBuiltin, Start, Import, Export, ValueDef,
]  # fmt: skip


@dataclass(slots=True)
class Component:
    """A component: its definitions in binary order, sections flattened.

    ``names`` holds the ``component-name`` custom section when present:
    ``names[sort][index] = name``; ``name`` is the component's own name.
    """

    definitions: list[Definition] = field(default_factory=list)
    name: str | None = None
    names: dict[Sort, dict[int, str]] = field(default_factory=dict)
    offset: int = 0
    size: int = 0
