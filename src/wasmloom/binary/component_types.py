"""Component-level types of a component binary (Binary.md).

Sorts, extern names and extern types, aliases, value types and the ``type``
definitions (value, resource, function, component and instance types).
"""

from __future__ import annotations

from wasmloom.binary.ast import (
    Alias,
    AliasCoreExport,
    AliasExport,
    AliasOuter,
    BorrowDef,
    ComponentDecl,
    ComponentTypeDef,
    DefValType,
    EnumDef,
    ExportDecl,
    ExternName,
    ExternTypeRef,
    FlagsDef,
    FuncTypeDef,
    FutureDef,
    ImportDecl,
    InstanceDecl,
    InstanceTypeDef,
    ListDef,
    MapDef,
    OptionDef,
    OwnDef,
    PrimDef,
    RecordDef,
    ResourceTypeDef,
    ResultDef,
    Sort,
    StreamDef,
    TupleDef,
    TypeBoundRef,
    TypeDef,
    ValTypeRef,
    VariantDef,
)
from wasmloom.binary.core_types import read_core_type, read_core_valtype
from wasmloom.binary.reader import MAX_NESTING, Reader
from wasmloom.errors import DecodeError

__all__ = [
    "read_alias",
    "read_core_sort",
    "read_extern_name",
    "read_extern_type",
    "read_resultlist",
    "read_sort",
    "read_type",
    "read_valtype",
]

PRIM_VALTYPES: dict[int, str] = {
    0x7F: "bool",
    0x7E: "s8",
    0x7D: "u8",
    0x7C: "s16",
    0x7B: "u16",
    0x7A: "s32",
    0x79: "u32",
    0x78: "s64",
    0x77: "u64",
    0x76: "f32",
    0x75: "f64",
    0x74: "char",
    0x73: "string",
    0x64: "error-context",
}

CORE_SORTS: dict[int, Sort] = {
    0x00: Sort.CORE_FUNC,
    0x01: Sort.CORE_TABLE,
    0x02: Sort.CORE_MEMORY,
    0x03: Sort.CORE_GLOBAL,
    0x04: Sort.CORE_TAG,
    0x10: Sort.CORE_TYPE,
    0x11: Sort.CORE_MODULE,
    0x12: Sort.CORE_INSTANCE,
}
COMPONENT_SORTS: dict[int, Sort] = {
    0x01: Sort.FUNC,
    0x02: Sort.VALUE,
    0x03: Sort.TYPE,
    0x04: Sort.COMPONENT,
    0x05: Sort.INSTANCE,
}
OUTER_ALIAS_SORTS = frozenset({Sort.CORE_MODULE, Sort.CORE_TYPE, Sort.TYPE, Sort.COMPONENT})


# --- sorts, names, extern types ---------------------------------------------------


def read_core_sort(r: Reader) -> Sort:
    pos = r.pos
    b = r.u8("core sort")
    sort = CORE_SORTS.get(b)
    if sort is None:
        if b == 0x20:  # an exact function (custom descriptors); still a function
            return Sort.CORE_FUNC
        raise DecodeError(pos, "core sort")
    return sort


def read_sort(r: Reader) -> Sort:
    pos = r.pos
    b = r.u8("sort")
    if b == 0x00:
        return read_core_sort(r)
    sort = COMPONENT_SORTS.get(b)
    if sort is None:
        raise DecodeError(pos, "sort")
    return sort


def read_extern_name(r: Reader) -> ExternName:
    pos = r.pos
    form = r.u8("name attributes (0x00, 0x01 or 0x02)")
    if form > 2:
        raise DecodeError(pos, "name attributes (0x00, 0x01 or 0x02)")
    en = ExternName(r.name())
    if form == 2:
        for _ in range(r.vec_len("attribute")):
            apos = r.pos
            kind = r.u8("name attribute (0x00, 0x01 or 0x02)")
            if kind == 0x00:
                if en.implements is not None:
                    raise DecodeError(apos, "at most one implements attribute")
                en.implements = r.name()
            elif kind == 0x01:
                if en.version_suffix is not None:
                    raise DecodeError(apos, "at most one versionsuffix attribute")
                en.version_suffix = r.name()
            elif kind == 0x02:
                if en.external_id is not None:
                    raise DecodeError(apos, "at most one external-id attribute")
                en.external_id = r.name()
            else:
                raise DecodeError(apos, "name attribute (0x00, 0x01 or 0x02)")
    return en


def read_valtype(r: Reader) -> ValTypeRef:
    pos = r.pos
    b = r.peek("value type")
    prim = PRIM_VALTYPES.get(b)
    if prim is not None:
        r.pos = pos + 1
        return prim
    idx = r.s33("value type")
    if idx < 0:
        raise DecodeError(pos, "value type")
    return idx


def read_opt_valtype(r: Reader) -> ValTypeRef | None:
    if r.flag("optional value type (0x00 or 0x01)"):
        return read_valtype(r)
    return None


def read_extern_type(r: Reader) -> ExternTypeRef:
    pos = r.pos
    b = r.u8("extern type")
    if b == 0x00:
        r.expect(0x11, "core module sort (0x11)")
        return ExternTypeRef(Sort.CORE_MODULE, index=r.u32(), offset=pos)
    if b == 0x01:
        return ExternTypeRef(Sort.FUNC, index=r.u32(), offset=pos)
    if b == 0x02:
        vpos = r.pos
        vb = r.u8("value bound (0x00 or 0x01)")
        if vb == 0x00:
            return ExternTypeRef(Sort.VALUE, value_eq=r.u32(), offset=pos)
        if vb == 0x01:
            return ExternTypeRef(Sort.VALUE, value_type=read_valtype(r), offset=pos)
        raise DecodeError(vpos, "value bound (0x00 or 0x01)")
    if b == 0x03:
        bpos = r.pos
        tb = r.u8("type bound (0x00 or 0x01)")
        if tb == 0x00:
            return ExternTypeRef(Sort.TYPE, bound=TypeBoundRef(r.u32(), bpos), offset=pos)
        if tb == 0x01:
            return ExternTypeRef(Sort.TYPE, bound=TypeBoundRef(None, bpos), offset=pos)
        raise DecodeError(bpos, "type bound (0x00 or 0x01)")
    if b == 0x04:
        return ExternTypeRef(Sort.COMPONENT, index=r.u32(), offset=pos)
    if b == 0x05:
        return ExternTypeRef(Sort.INSTANCE, index=r.u32(), offset=pos)
    raise DecodeError(pos, "extern type")


# --- type definitions ----------------------------------------------------------------


def _read_labels(r: Reader, what: str) -> list[str]:
    return [r.name() for _ in range(r.vec_len(what))]


def _read_defvaltype(r: Reader, b: int, pos: int) -> DefValType:
    if b == 0x72:
        fields = []
        for _ in range(r.vec_len("record field")):
            label = r.name()
            fields.append((label, read_valtype(r)))
        return RecordDef(fields, pos)
    if b == 0x71:
        cases: list[tuple[str, ValTypeRef | None]] = []
        for _ in range(r.vec_len("variant case")):
            label = r.name()
            t = read_opt_valtype(r)
            r.expect(0x00, "variant case terminator 0x00")
            cases.append((label, t))
        return VariantDef(cases, pos)
    if b == 0x70:
        return ListDef(read_valtype(r), None, pos)
    if b == 0x67:
        t = read_valtype(r)
        return ListDef(t, r.u32(), pos)
    if b == 0x6F:
        return TupleDef([read_valtype(r) for _ in range(r.vec_len("tuple type"))], pos)
    if b == 0x6E:
        return FlagsDef(_read_labels(r, "flags label"), pos)
    if b == 0x6D:
        return EnumDef(_read_labels(r, "enum label"), pos)
    if b == 0x6B:
        return OptionDef(read_valtype(r), pos)
    if b == 0x6A:
        ok = read_opt_valtype(r)
        return ResultDef(ok, read_opt_valtype(r), pos)
    if b == 0x69:
        return OwnDef(r.u32(), pos)
    if b == 0x68:
        return BorrowDef(r.u32(), pos)
    if b == 0x66:
        return StreamDef(read_opt_valtype(r), pos)
    if b == 0x65:
        return FutureDef(read_opt_valtype(r), pos)
    if b == 0x63:
        k = read_valtype(r)
        return MapDef(k, read_valtype(r), pos)
    prim = PRIM_VALTYPES.get(b)
    if prim is not None:
        return PrimDef(prim, pos)
    raise DecodeError(pos, "type definition")


def read_resultlist(r: Reader) -> ValTypeRef | None:
    pos = r.pos
    b = r.u8("result list (0x00 or 0x01 0x00)")
    if b == 0x00:
        return read_valtype(r)
    if b == 0x01:
        r.expect(0x00, "empty result list (0x01 0x00)")
        return None
    raise DecodeError(pos, "result list (0x00 or 0x01 0x00)")


def read_alias(r: Reader) -> Alias:
    pos = r.pos
    sort = read_sort(r)
    tpos = r.pos
    target = r.u8("alias target (0x00, 0x01 or 0x02)")
    if target == 0x00:
        inst = r.u32()
        return AliasExport(sort, inst, r.name(), pos)
    if target == 0x01:
        if sort not in CORE_SORTS.values():
            raise DecodeError(pos, "core sort for a core export alias")
        inst = r.u32()
        return AliasCoreExport(sort, inst, r.name(), pos)
    if target == 0x02:
        if sort not in OUTER_ALIAS_SORTS:
            raise DecodeError(pos, "outer alias sort (core module, core type, type, component)")
        count = r.u32()
        return AliasOuter(sort, count, r.u32(), pos)
    raise DecodeError(tpos, "alias target (0x00, 0x01 or 0x02)")


def _read_instance_decl(r: Reader, kind: int, pos: int, depth: int) -> InstanceDecl:
    if kind == 0x00:
        return read_core_type(r, depth)
    if kind == 0x01:
        return read_type(r, depth)
    if kind == 0x02:
        return read_alias(r)
    if kind == 0x04:
        name = read_extern_name(r)
        return ExportDecl(name, read_extern_type(r), pos)
    raise DecodeError(pos, "component or instance type declaration")


def read_type(r: Reader, depth: int) -> TypeDef:
    pos = r.pos
    b = r.u8("type definition")
    if b == 0x3F:
        rep = read_core_valtype(r)
        dtor = r.u32() if r.flag("optional destructor (0x00 or 0x01)") else None
        return TypeDef(ResourceTypeDef(rep, dtor, pos), pos)
    if b in (0x40, 0x43):
        params = []
        for _ in range(r.vec_len("parameter")):
            label = r.name()
            params.append((label, read_valtype(r)))
        result = read_resultlist(r)
        return TypeDef(FuncTypeDef(params, result, b == 0x43, pos), pos)
    if b in (0x41, 0x42):
        if depth >= MAX_NESTING:
            raise DecodeError(pos, f"nesting depth at most {MAX_NESTING}")
        n = r.vec_len("type declaration")
        if b == 0x41:
            cdecls: list[ComponentDecl] = []
            for _ in range(n):
                dpos = r.pos
                kind = r.u8("component type declaration")
                if kind == 0x03:
                    name = read_extern_name(r)
                    cdecls.append(ImportDecl(name, read_extern_type(r), dpos))
                else:
                    cdecls.append(_read_instance_decl(r, kind, dpos, depth + 1))
            return TypeDef(ComponentTypeDef(cdecls, pos), pos)
        idecls: list[InstanceDecl] = []
        for _ in range(n):
            dpos = r.pos
            kind = r.u8("instance type declaration")
            idecls.append(_read_instance_decl(r, kind, dpos, depth + 1))
        return TypeDef(InstanceTypeDef(idecls, pos), pos)
    return TypeDef(_read_defvaltype(r, b, pos), pos)
