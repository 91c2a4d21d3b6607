"""Core types inside a component binary (Binary.md ``core:type``): rec groups and module types.

Function types become :class:`CoreFuncTypeDef`; the other composite types (GC,
continuations) are checked for their encoding and kept as raw bytes. Reference
types are text: ``funcref``, ``(ref null 3)``, ``(ref null (shared any))``.
"""

from __future__ import annotations

from wasmloom.binary.ast import (
    CoreExportDecl,
    CoreExternTypeRef,
    CoreFuncTypeDef,
    CoreGcTypeDef,
    CoreImportDecl,
    CoreModuleDecl,
    CoreModuleTypeDef,
    CoreOuterAlias,
    CoreRecGroup,
    CoreTypeDef,
)
from wasmloom.binary.reader import MAX_NESTING, Reader
from wasmloom.errors import DecodeError

__all__ = ["read_core_type", "read_core_valtype"]

CORE_NUMTYPES: dict[int, str] = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128"}
ABSTRACT_HEAPTYPES: dict[int, str] = {
    0x70: "func",
    0x6F: "extern",
    0x6E: "any",
    0x71: "none",
    0x72: "noextern",
    0x73: "nofunc",
    0x6D: "eq",
    0x6B: "struct",
    0x6A: "array",
    0x6C: "i31",
    0x69: "exn",
    0x74: "noexn",
    0x68: "cont",
    0x75: "nocont",
}
# `(ref null ht)` for an abstract, unshared `ht` has a short name.
SHORT_REFTYPES: dict[str, str] = {
    "func": "funcref",
    "extern": "externref",
    "any": "anyref",
    "none": "nullref",
    "noextern": "nullexternref",
    "nofunc": "nullfuncref",
    "eq": "eqref",
    "struct": "structref",
    "array": "arrayref",
    "i31": "i31ref",
    "exn": "exnref",
    "noexn": "nullexnref",
    "cont": "contref",
    "nocont": "nullcontref",
}


def _read_heaptype(r: Reader) -> str:
    pos = r.pos
    idx = r.s33("heap type")
    if idx >= 0:
        return str(idx)
    r.pos = pos
    b = r.u8("heap type")
    if b == 0x65:
        return f"(shared {_read_abstract_heaptype(r)})"
    if b == 0x62:
        return f"(exact {r.u32()})"
    r.pos = pos
    return _read_abstract_heaptype(r)


def _read_abstract_heaptype(r: Reader) -> str:
    pos = r.pos
    name = ABSTRACT_HEAPTYPES.get(r.u8("heap type"))
    if name is None:
        raise DecodeError(pos, "heap type")
    return name


def _read_reftype(r: Reader) -> str:
    pos = r.pos
    b = r.u8("reference type")
    if b in (0x63, 0x64):
        ht = _read_heaptype(r)
        return f"(ref null {ht})" if b == 0x63 else f"(ref {ht})"
    if b == 0x65:
        return f"(ref null (shared {_read_abstract_heaptype(r)}))"
    name = ABSTRACT_HEAPTYPES.get(b)
    if name is None:
        raise DecodeError(pos, "reference type")
    return SHORT_REFTYPES[name]


def read_core_valtype(r: Reader) -> str:
    b = r.peek("core value type")
    num = CORE_NUMTYPES.get(b)
    if num is not None:
        r.pos += 1
        return num
    pos = r.pos
    try:
        return _read_reftype(r)
    except DecodeError as e:
        if e.offset == pos:
            raise DecodeError(pos, "core value type") from None
        raise


def _read_storage_type(r: Reader) -> None:
    b = r.peek("storage type")
    if b in (0x78, 0x77):
        r.pos += 1
    else:
        read_core_valtype(r)


def _read_field_type(r: Reader) -> None:
    _read_storage_type(r)
    r.flag("field mutability (0x00 or 0x01)")


def _read_sub_type(r: Reader) -> CoreFuncTypeDef | CoreGcTypeDef:
    start = r.pos
    b = r.u8("core type")
    plain = True
    if b in (0x4F, 0x50):
        supers = r.vec_len("supertype")
        for _ in range(supers):
            r.u32()
        plain = b == 0x4F and supers == 0
        b = r.u8("composite type")
    if b == 0x65:
        plain = False
        b = r.u8("composite type")
    if b == 0x4C:
        plain = False
        r.u32()
        b = r.u8("composite type")
    if b == 0x4D:
        plain = False
        r.u32()
        b = r.u8("composite type")
    if b == 0x60:
        params = [read_core_valtype(r) for _ in range(r.vec_len("parameter"))]
        results = [read_core_valtype(r) for _ in range(r.vec_len("result"))]
        if plain:
            return CoreFuncTypeDef(params, results, start)
        kind = "func"
    elif b == 0x5E:
        _read_field_type(r)
        kind = "array"
    elif b == 0x5F:
        for _ in range(r.vec_len("struct field")):
            _read_field_type(r)
        kind = "struct"
    elif b == 0x5D:
        pos = r.pos
        if r.s33("continuation type index") < 0:
            raise DecodeError(pos, "continuation type index")
        kind = "cont"
    else:
        raise DecodeError(r.pos - 1, "composite type (func, struct, array or cont)")
    return CoreGcTypeDef(kind, r.data[start : r.pos], start)


def _read_rec_group(r: Reader) -> CoreRecGroup:
    pos = r.pos
    if r.peek("core type") == 0x4E:
        r.pos += 1
        return CoreRecGroup([_read_sub_type(r) for _ in range(r.vec_len("rec group type"))], pos)
    return CoreRecGroup([_read_sub_type(r)], pos)


def _read_limits(r: Reader, has_max: bool) -> tuple[int, int | None]:
    lo = r.u64()
    return (lo, r.u64() if has_max else None)


def _read_core_extern_type(r: Reader) -> CoreExternTypeRef:
    pos = r.pos
    b = r.u8("core extern type")
    if b in (0x00, 0x20):
        return CoreExternTypeRef("func", type_idx=r.u32(), exact=b == 0x20, offset=pos)
    if b == 0x01:
        rt = _read_reftype(r)
        fpos = r.pos
        flags = r.u8("table limits flags")
        if flags & ~0b111:
            raise DecodeError(fpos, "table limits flags")
        return CoreExternTypeRef(
            "table",
            reftype=rt,
            limits=_read_limits(r, bool(flags & 1)),
            shared=bool(flags & 2),
            memory64=bool(flags & 4),
            offset=pos,
        )
    if b == 0x02:
        fpos = r.pos
        flags = r.u8("memory limits flags")
        if flags & ~0b1111:
            raise DecodeError(fpos, "memory limits flags")
        limits = _read_limits(r, bool(flags & 1))
        page_size_log2 = None
        if flags & 8:
            ppos = r.pos
            page_size_log2 = r.u32()
            if page_size_log2 >= 64:
                raise DecodeError(ppos, "page size log2 below 64")
        return CoreExternTypeRef(
            "memory",
            limits=limits,
            shared=bool(flags & 2),
            memory64=bool(flags & 4),
            page_size_log2=page_size_log2,
            offset=pos,
        )
    if b == 0x03:
        vt = read_core_valtype(r)
        fpos = r.pos
        flags = r.u8("global flags")
        if flags > 0b11:
            raise DecodeError(fpos, "global flags")
        return CoreExternTypeRef(
            "global", valtype=vt, mutable=bool(flags & 1), shared=bool(flags & 2), offset=pos
        )
    if b == 0x04:
        r.expect(0x00, "tag attribute 0x00")
        return CoreExternTypeRef("tag", type_idx=r.u32(), offset=pos)
    raise DecodeError(pos, "core extern type")


def read_core_type(r: Reader, depth: int) -> CoreTypeDef:
    pos = r.pos
    b = r.peek("core type")
    if b == 0x00:
        r.pos += 1
        if r.peek("non-final sub type (0x50)") != 0x50:
            raise DecodeError(r.pos, "non-final sub type (0x50)")
        return CoreTypeDef(CoreRecGroup([_read_sub_type(r)], pos + 1), pos)
    if b == 0x50:
        r.pos += 1
        if depth >= MAX_NESTING:
            raise DecodeError(pos, f"nesting depth at most {MAX_NESTING}")
        decls: list[CoreModuleDecl] = []
        for _ in range(r.vec_len("module type declaration")):
            dpos = r.pos
            kind = r.u8("module type declaration")
            if kind == 0x00:
                module = r.name()
                name = r.name()
                decls.append(CoreImportDecl(module, name, _read_core_extern_type(r), dpos))
            elif kind == 0x01:
                decls.append(CoreTypeDef(_read_rec_group(r), dpos))
            elif kind == 0x02:
                r.expect(0x10, "outer alias of sort core type (0x10)")
                r.expect(0x01, "outer alias (0x01)")
                count = r.u32()
                decls.append(CoreOuterAlias(count, r.u32(), dpos))
            elif kind == 0x03:
                name = r.name()
                decls.append(CoreExportDecl(name, _read_core_extern_type(r), dpos))
            else:
                raise DecodeError(dpos, "module type declaration")
        return CoreTypeDef(CoreModuleTypeDef(decls, pos), pos)
    return CoreTypeDef(_read_rec_group(r), pos)
