"""Core module types read from a module's binary: its imports and exports, as wasmloom.types.

Asking wasmtime's C API for the type of a function that mentions GC reference
types aborts the process, so the types are read from the binary instead.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from wasmloom.binary.reader import Reader
from wasmloom.types import CoreExternDesc, CoreFuncType, ModuleType

# --- module types, read from the binary ------------------------------------------------


class CoreTableDesc(NamedTuple):
    """The ``type`` of a table :class:`CoreExternDesc`."""

    element: str  # reference type as text: 'funcref', '(ref null 3)', ...
    min: int
    max: int | None
    table64: bool = False


class CoreMemoryDesc(NamedTuple):
    """The ``type`` of a memory :class:`CoreExternDesc`."""

    min: int  # in pages
    max: int | None
    memory64: bool = False
    shared: bool = False
    page_size_log2: int = 16


class CoreGlobalDesc(NamedTuple):
    """The ``type`` of a global :class:`CoreExternDesc`."""

    valtype: str
    mutable: bool


# For a tag, CoreExternDesc.type is the CoreFuncType of its payload.

_ABSTRACT_HEAP = {
    0x74: "noexn", 0x73: "nofunc", 0x72: "noextern", 0x71: "none", 0x70: "func",
    0x6F: "extern", 0x6E: "any", 0x6D: "eq", 0x6C: "i31", 0x6B: "struct",
    0x6A: "array", 0x69: "exn",
}  # fmt: skip
_NULLABLE_SHORTHAND = {
    "noexn": "nullexnref", "nofunc": "nullfuncref", "noextern": "nullexternref",
    "none": "nullref",
}  # fmt: skip
_NUM_TYPES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128"}


def _heaptype(r: Reader) -> str:
    b = r.peek("heap type")
    if b == 0x65:  # shared
        r.pos += 1
        return "shared " + _heaptype(r)
    if b in _ABSTRACT_HEAP:
        r.pos += 1
        return _ABSTRACT_HEAP[b]
    return str(r.s33("heap type"))


def _reftype_after(r: Reader, b: int) -> str:
    if b in (0x63, 0x64):
        ht = _heaptype(r)
        if b == 0x63:
            return (
                _NULLABLE_SHORTHAND.get(ht, ht + "ref")
                if not ht[0].isdigit()
                else f"(ref null {ht})"
            )
        return f"(ref {ht})"
    return _NULLABLE_SHORTHAND.get(_ABSTRACT_HEAP[b], _ABSTRACT_HEAP[b] + "ref")


def _valtype(r: Reader) -> str:
    b = r.u8("value type")
    if b in _NUM_TYPES:
        return _NUM_TYPES[b]
    if b == 0x65:  # shared abstract shorthand
        return "shared " + _reftype_after(r, r.u8("reference type"))
    return _reftype_after(r, b)


def _limits(r: Reader) -> tuple[int, int | None, bool, bool, int]:
    flags = r.u8("limits flags")
    lo = r.u64()
    hi = r.u64() if flags & 0x01 else None
    page_log2 = r.u32() if flags & 0x08 else 16
    return lo, hi, bool(flags & 0x04), bool(flags & 0x02), page_log2


def _tabletype(r: Reader) -> CoreTableDesc:
    element = _valtype(r)
    lo, hi, is64, _, _ = _limits(r)
    return CoreTableDesc(element, lo, hi, is64)


def _memtype(r: Reader) -> CoreMemoryDesc:
    lo, hi, is64, shared, page_log2 = _limits(r)
    return CoreMemoryDesc(lo, hi, is64, shared, page_log2)


def _globaltype(r: Reader) -> CoreGlobalDesc:
    vt = _valtype(r)
    return CoreGlobalDesc(vt, r.u8("global mutability") == 0x01)


def _skip_const_expr(r: Reader) -> None:
    while True:
        op = r.u8("constant expression")
        if op == 0x0B:
            return
        if op == 0x41:
            r.s32()
        elif op == 0x42:
            r.s64()
        elif op == 0x43:
            r.skip(4, "f32 constant")
        elif op == 0x44:
            r.skip(8, "f64 constant")
        elif op in (0x23, 0xD2):
            r.u32()
        elif op == 0xD0:
            _heaptype(r)
        elif op in (0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E):
            pass
        elif op == 0xFD:
            r.u32()  # v128.const is the only constant SIMD opcode
            r.skip(16, "v128 constant")
        elif op == 0xFB:
            sub = r.u32()
            if sub in (0, 1, 6, 7):
                r.u32()
            elif sub == 8:
                r.u32()
                r.u32()
            elif sub not in (26, 27, 28):
                raise ValueError(f"unsupported GC opcode 0xfb {sub} in a constant expression")
        else:
            raise ValueError(f"unsupported opcode {op:#x} in a constant expression")


def _parse_types(r: Reader, types: list[CoreFuncType | None]) -> None:
    for _ in range(r.vec_len("rec group")):
        if r.peek("core type") == 0x4E:  # rec group
            r.pos += 1
            count = r.vec_len("rec group type")
        else:
            count = 1
        for _ in range(count):
            types.append(_parse_subtype(r))


def _parse_subtype(r: Reader) -> CoreFuncType | None:
    b = r.u8("core type")
    if b in (0x50, 0x4F):  # sub / sub final
        for _ in range(r.vec_len("supertype")):
            r.u32()
        b = r.u8("composite type")
    if b == 0x60:
        params = tuple(_valtype(r) for _ in range(r.vec_len("parameter")))
        results = tuple(_valtype(r) for _ in range(r.vec_len("result")))
        return CoreFuncType(params, results)
    if b == 0x5F:  # struct
        for _ in range(r.vec_len("struct field")):
            _skip_fieldtype(r)
    elif b == 0x5E:  # array
        _skip_fieldtype(r)
    elif b == 0x5D:  # cont
        r.s33("continuation type index")
    else:
        raise ValueError(f"unsupported composite type {b:#x}")
    return None


def _skip_fieldtype(r: Reader) -> None:
    if r.peek("storage type") in (0x78, 0x77):  # packed i8 / i16
        r.pos += 1
    else:
        _valtype(r)
    r.u8("field mutability")


def module_type(data: bytes) -> ModuleType:
    """Read the import and export lists of a valid core module binary.

    Each import is ``(module, name, CoreExternDesc)`` and each export
    ``(name, CoreExternDesc)``, in binary order. ``CoreExternDesc.type`` is a
    :class:`CoreFuncType` for functions and tags, else a :class:`CoreTableDesc`,
    :class:`CoreMemoryDesc` or :class:`CoreGlobalDesc`. Value types are text:
    ``i32`` ... ``v128``, ``funcref``, ``externref``, ``(ref null 3)`` (3 being a
    type index of this module). Raises :class:`ValueError` on constructs this
    reader does not know, and :class:`~wasmloom.errors.DecodeError` where the
    bytes cannot be read.
    """
    r = Reader(data, 8)
    types: list[CoreFuncType | None] = []
    funcs: list[int] = []
    tables: list[CoreTableDesc] = []
    memories: list[CoreMemoryDesc] = []
    globals_: list[CoreGlobalDesc] = []
    tags: list[int] = []
    imports: list[tuple[str, str, CoreExternDesc]] = []
    exports: list[tuple[str, CoreExternDesc]] = []
    raw_exports: list[tuple[str, int, int]] = []

    def functype(idx: int) -> CoreFuncType:
        t = types[idx]
        if t is None:
            raise ValueError(f"type {idx} is not a function type")
        return t

    while not r.at_end():
        section = r.u8("section id")
        end = r.size("section")
        if section == 1:
            _parse_types(r, types)
        elif section == 2:
            for _ in range(r.vec_len("import")):
                module, name = r.name(), r.name()
                kind = r.u8("import kind")
                desc: CoreExternDesc
                if kind == 0x00:
                    idx = r.u32()
                    funcs.append(idx)
                    desc = CoreExternDesc("func", functype(idx))
                elif kind == 0x01:
                    tables.append(_tabletype(r))
                    desc = CoreExternDesc("table", tables[-1])
                elif kind == 0x02:
                    memories.append(_memtype(r))
                    desc = CoreExternDesc("memory", memories[-1])
                elif kind == 0x03:
                    globals_.append(_globaltype(r))
                    desc = CoreExternDesc("global", globals_[-1])
                elif kind == 0x04:
                    r.u8("tag attribute")
                    idx = r.u32()
                    tags.append(idx)
                    desc = CoreExternDesc("tag", functype(idx))
                else:
                    raise ValueError(f"unsupported import kind {kind:#x}")
                imports.append((module, name, desc))
        elif section == 3:
            funcs.extend(r.u32() for _ in range(r.vec_len("function")))
        elif section == 4:
            for _ in range(r.vec_len("table")):
                if r.peek("table type") == 0x40:
                    r.skip(2, "table type")
                    tables.append(_tabletype(r))
                    _skip_const_expr(r)
                else:
                    tables.append(_tabletype(r))
        elif section == 5:
            memories.extend(_memtype(r) for _ in range(r.vec_len("memory")))
        elif section == 6:
            for _ in range(r.vec_len("global")):
                globals_.append(_globaltype(r))
                _skip_const_expr(r)
        elif section == 7:
            for _ in range(r.vec_len("export")):
                name = r.name()
                kind = r.u8("export kind")
                raw_exports.append((name, kind, r.u32()))
        elif section == 13:
            for _ in range(r.vec_len("tag")):
                r.u8("tag attribute")
                tags.append(r.u32())
        r.pos = end

    for name, kind, idx in raw_exports:
        if kind == 0x00:
            desc = CoreExternDesc("func", functype(funcs[idx]))
        elif kind == 0x01:
            desc = CoreExternDesc("table", tables[idx])
        elif kind == 0x02:
            desc = CoreExternDesc("memory", memories[idx])
        elif kind == 0x03:
            desc = CoreExternDesc("global", globals_[idx])
        elif kind == 0x04:
            desc = CoreExternDesc("tag", functype(tags[idx]))
        else:
            raise ValueError(f"unsupported export kind {kind:#x}")
        exports.append((name, desc))
    return ModuleType(tuple(imports), tuple(exports))


# --- module types as plain data (the compile cache keeps them beside the code) ---------

_DESC_CLASSES: dict[str, Any] = {
    "table": CoreTableDesc,
    "memory": CoreMemoryDesc,
    "global": CoreGlobalDesc,
}


def module_type_to_data(mt: ModuleType) -> Any:
    """``mt`` as tuples of strings, ints and bools (for :mod:`marshal`): each distinct
    extern description once, then the imports' modules, names and description
    indices, and the exports' names and description indices."""
    table: dict[tuple[Any, ...], int] = {}

    def index(d: CoreExternDesc) -> int:
        t = d.type
        key = (d.kind, t.params, t.results) if isinstance(t, CoreFuncType) else (d.kind, tuple(t))
        return table.setdefault(key, len(table))

    imports = [index(d) for _, _, d in mt.imports]
    exports = [index(d) for _, d in mt.exports]
    return (
        _DATA_FORMAT,
        tuple(table),
        tuple(m for m, _, _ in mt.imports),
        tuple(n for _, n, _ in mt.imports),
        tuple(imports),
        tuple(n for n, _ in mt.exports),
        tuple(exports),
    )


#: The first item of :func:`module_type_to_data`'s tuple (what an older layout lacks).
_DATA_FORMAT = "module-type-2"


def module_type_from_data(data: Any) -> ModuleType:
    """The inverse of :func:`module_type_to_data`; equal function types, and equal
    descriptions, become one object (a module of thousands of functions has a few
    dozen types). Raises ``ValueError`` for data it did not make."""
    funcs: dict[Any, CoreFuncType] = {}

    def desc(d: Any) -> CoreExternDesc:
        kind = d[0]
        if kind in ("func", "tag"):
            key = (d[1], d[2])
            ft = funcs.get(key)
            if ft is None:
                ft = funcs[key] = CoreFuncType(tuple(d[1]), tuple(d[2]))
            return CoreExternDesc(kind, ft)
        return CoreExternDesc(kind, _DESC_CLASSES[kind](*d[1]))

    try:
        fmt, table, imp_modules, imp_names, imp_descs, exp_names, exp_descs = data
        if fmt != _DATA_FORMAT:
            raise ValueError(f"layout {fmt!r}")
        descs = [desc(d) for d in table]
        at = descs.__getitem__
        return ModuleType(
            tuple(zip(imp_modules, imp_names, map(at, imp_descs), strict=True)),
            tuple(zip(exp_names, map(at, exp_descs), strict=True)),
        )
    except (TypeError, ValueError, KeyError, IndexError) as e:
        raise ValueError(f"not a module type: {e}") from None
