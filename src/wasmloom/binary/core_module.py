"""Core module types read from a module's binary: its imports and exports, as wasmloom.types.

Asking wasmtime's C API for the type of a function that mentions GC reference
types aborts the process, so the types are read from the binary instead.
"""

from __future__ import annotations

from typing import NamedTuple

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


class _Reader:
    """A cursor over a valid core module binary (wasmtime validated it first)."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def byte(self) -> int:
        b = self.data[self.pos]
        self.pos += 1
        return b

    def u(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return result

    def s(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                if b & 0x40:
                    result -= 1 << shift
                return result

    def name(self) -> str:
        n = self.u()
        raw = self.data[self.pos : self.pos + n]
        self.pos += n
        return raw.decode("utf-8")

    def heaptype(self) -> str:
        b = self.data[self.pos]
        if b == 0x65:  # shared
            self.pos += 1
            return "shared " + self.heaptype()
        if b in _ABSTRACT_HEAP:
            self.pos += 1
            return _ABSTRACT_HEAP[b]
        return str(self.s())

    def reftype_after(self, b: int) -> str:
        if b in (0x63, 0x64):
            ht = self.heaptype()
            if b == 0x63:
                return (
                    _NULLABLE_SHORTHAND.get(ht, ht + "ref")
                    if not ht[0].isdigit()
                    else f"(ref null {ht})"
                )
            return f"(ref {ht})"
        return _NULLABLE_SHORTHAND.get(_ABSTRACT_HEAP[b], _ABSTRACT_HEAP[b] + "ref")

    def valtype(self) -> str:
        b = self.byte()
        if b in _NUM_TYPES:
            return _NUM_TYPES[b]
        if b == 0x65:  # shared abstract shorthand
            return "shared " + self.reftype_after(self.byte())
        return self.reftype_after(b)

    def limits(self) -> tuple[int, int | None, bool, bool, int]:
        flags = self.byte()
        lo = self.u()
        hi = self.u() if flags & 0x01 else None
        page_log2 = self.u() if flags & 0x08 else 16
        return lo, hi, bool(flags & 0x04), bool(flags & 0x02), page_log2

    def tabletype(self) -> CoreTableDesc:
        element = self.valtype()
        lo, hi, is64, _, _ = self.limits()
        return CoreTableDesc(element, lo, hi, is64)

    def memtype(self) -> CoreMemoryDesc:
        lo, hi, is64, shared, page_log2 = self.limits()
        return CoreMemoryDesc(lo, hi, is64, shared, page_log2)

    def globaltype(self) -> CoreGlobalDesc:
        vt = self.valtype()
        return CoreGlobalDesc(vt, self.byte() == 0x01)

    def skip_const_expr(self) -> None:
        while True:
            op = self.byte()
            if op == 0x0B:
                return
            if op in (0x41, 0x42):
                self.s()
            elif op == 0x43:
                self.pos += 4
            elif op == 0x44:
                self.pos += 8
            elif op in (0x23, 0xD2):
                self.u()
            elif op == 0xD0:
                self.heaptype()
            elif op in (0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E):
                pass
            elif op == 0xFD:
                self.u()  # v128.const is the only constant SIMD opcode
                self.pos += 16
            elif op == 0xFB:
                sub = self.u()
                if sub in (0, 1, 6, 7):
                    self.u()
                elif sub == 8:
                    self.u()
                    self.u()
                elif sub not in (26, 27, 28):
                    raise ValueError(f"unsupported GC opcode 0xfb {sub} in a constant expression")
            else:
                raise ValueError(f"unsupported opcode {op:#x} in a constant expression")


def _parse_types(r: _Reader, types: list[CoreFuncType | None]) -> None:
    for _ in range(r.u()):
        b = r.data[r.pos]
        if b == 0x4E:  # rec group
            r.pos += 1
            count = r.u()
        else:
            count = 1
        for _ in range(count):
            types.append(_parse_subtype(r))


def _parse_subtype(r: _Reader) -> CoreFuncType | None:
    b = r.byte()
    if b in (0x50, 0x4F):  # sub / sub final
        for _ in range(r.u()):
            r.u()
        b = r.byte()
    if b == 0x60:
        params = tuple(r.valtype() for _ in range(r.u()))
        results = tuple(r.valtype() for _ in range(r.u()))
        return CoreFuncType(params, results)
    if b == 0x5F:  # struct
        for _ in range(r.u()):
            _skip_fieldtype(r)
    elif b == 0x5E:  # array
        _skip_fieldtype(r)
    elif b == 0x5D:  # cont
        r.s()
    else:
        raise ValueError(f"unsupported composite type {b:#x}")
    return None


def _skip_fieldtype(r: _Reader) -> None:
    if r.data[r.pos] in (0x78, 0x77):  # packed i8 / i16
        r.pos += 1
    else:
        r.valtype()
    r.byte()  # mutability


def module_type(data: bytes) -> ModuleType:
    """Read the import and export lists of a valid core module binary.

    Each import is ``(module, name, CoreExternDesc)`` and each export
    ``(name, CoreExternDesc)``, in binary order. ``CoreExternDesc.type`` is a
    :class:`CoreFuncType` for functions and tags, else a :class:`CoreTableDesc`,
    :class:`CoreMemoryDesc` or :class:`CoreGlobalDesc`. Value types are text:
    ``i32`` ... ``v128``, ``funcref``, ``externref``, ``(ref null 3)`` (3 being a
    type index of this module). Raises :class:`ValueError` on constructs this
    reader does not know.
    """
    r = _Reader(data, 8)
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

    while r.pos < len(data):
        section = r.byte()
        size = r.u()
        end = r.pos + size
        if section == 1:
            _parse_types(r, types)
        elif section == 2:
            for _ in range(r.u()):
                module, name = r.name(), r.name()
                kind = r.byte()
                desc: CoreExternDesc
                if kind == 0x00:
                    idx = r.u()
                    funcs.append(idx)
                    desc = CoreExternDesc("func", functype(idx))
                elif kind == 0x01:
                    tables.append(r.tabletype())
                    desc = CoreExternDesc("table", tables[-1])
                elif kind == 0x02:
                    memories.append(r.memtype())
                    desc = CoreExternDesc("memory", memories[-1])
                elif kind == 0x03:
                    globals_.append(r.globaltype())
                    desc = CoreExternDesc("global", globals_[-1])
                elif kind == 0x04:
                    r.byte()
                    idx = r.u()
                    tags.append(idx)
                    desc = CoreExternDesc("tag", functype(idx))
                else:
                    raise ValueError(f"unsupported import kind {kind:#x}")
                imports.append((module, name, desc))
        elif section == 3:
            funcs.extend(r.u() for _ in range(r.u()))
        elif section == 4:
            for _ in range(r.u()):
                if r.data[r.pos] == 0x40:
                    r.pos += 2
                    tables.append(r.tabletype())
                    r.skip_const_expr()
                else:
                    tables.append(r.tabletype())
        elif section == 5:
            memories.extend(r.memtype() for _ in range(r.u()))
        elif section == 6:
            for _ in range(r.u()):
                globals_.append(r.globaltype())
                r.skip_const_expr()
        elif section == 7:
            for _ in range(r.u()):
                name = r.name()
                kind = r.byte()
                raw_exports.append((name, kind, r.u()))
        elif section == 13:
            for _ in range(r.u()):
                r.byte()
                tags.append(r.u())
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
