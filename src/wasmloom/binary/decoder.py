"""Decode a component binary (Binary.md) into the AST of :mod:`wasmloom.binary.ast`.

Contract:

- :func:`decode_component` returns the component's definitions in binary order
  (sections flattened), so index spaces can be built by walking them in order.
- Every malformed input raises :class:`~wasmloom.errors.DecodeError` carrying the
  byte offset (relative to the start of the outermost binary) and what was
  expected there. No other exception escapes, whatever the input.
- Embedded core modules are sliced, not parsed: ``CoreModule.data`` is the
  module's complete binary. Decoding cost is linear in the number of
  component-level items, not in the size of embedded core modules.
- Only the encoding is checked. Index bounds, type well-formedness and the other
  rules Binary.md calls "validation" are the validator's job, with two
  exceptions the AST cannot represent: duplicate canon options and duplicate name
  attributes are rejected here.
- The ``component-name`` custom section fills ``Component.name``/``names``; an
  ill-formed name section is ignored (as the spec requires), other custom
  sections are skipped.

Encodings follow Binary.md as implemented by wasm-tools 1.262 where the two
differ: ``thread.spawn-ref``/``thread.spawn-indirect``/
``thread.available-parallelism`` carry no ``shared`` immediate, and
``stream.forward`` (0x2e) and ``future.forward`` (0x2f) are accepted.
"""

from __future__ import annotations

from wasmloom.binary.ast import (
    Alias,
    AliasCoreExport,
    AliasExport,
    AliasOuter,
    BorrowDef,
    CanonBuiltin,
    CanonLift,
    CanonLower,
    CanonOpts,
    Component,
    ComponentDecl,
    ComponentTypeDef,
    CoreExportDecl,
    CoreExternTypeRef,
    CoreFuncTypeDef,
    CoreGcTypeDef,
    CoreImportDecl,
    CoreInlineExports,
    CoreInstantiate,
    CoreModule,
    CoreModuleDecl,
    CoreModuleTypeDef,
    CoreOuterAlias,
    CoreRecGroup,
    CoreTypeDef,
    Definition,
    DefValType,
    EnumDef,
    Export,
    ExportDecl,
    ExternName,
    ExternTypeRef,
    FlagsDef,
    FuncTypeDef,
    FutureDef,
    Import,
    ImportDecl,
    InlineExports,
    InstanceDecl,
    InstanceTypeDef,
    Instantiate,
    ListDef,
    MapDef,
    OptionDef,
    OwnDef,
    PrimDef,
    RecordDef,
    ResourceTypeDef,
    ResultDef,
    Sort,
    Start,
    StreamDef,
    TupleDef,
    TypeBoundRef,
    TypeDef,
    ValTypeRef,
    ValueDef,
    VariantDef,
)
from wasmloom.binary.reader import MAX_NESTING, Reader
from wasmloom.errors import DecodeError

__all__ = ["MAX_NESTING", "decode_component", "is_component", "is_core_module"]

MAGIC = b"\x00asm"
COMPONENT_VERSION = b"\x0d\x00"
COMPONENT_LAYER = b"\x01\x00"
CORE_PREAMBLE = b"\x00asm\x01\x00\x00\x00"

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

STRING_ENCODINGS = {0x00: "utf8", 0x01: "utf16", 0x02: "latin1+utf16"}

# canon built-ins with no immediates
_CANON_PLAIN: dict[int, str] = {
    0x24: "backpressure.inc",
    0x25: "backpressure.dec",
    0x05: "task.cancel",
    0x0D: "subtask.drop",
    0x1E: "error-context.drop",
    0x1F: "waitable-set.new",
    0x22: "waitable-set.drop",
    0x23: "waitable.join",
    0x26: "thread.index",
    0x28: "thread.resume-later",
    0x42: "thread.available-parallelism",
}
# canon built-ins whose only immediate is a type index
_CANON_TYPE: dict[int, str] = {
    0x02: "resource.new",
    0x03: "resource.drop",
    0x04: "resource.rep",
    0x0E: "stream.new",
    0x13: "stream.drop-readable",
    0x14: "stream.drop-writable",
    0x15: "future.new",
    0x1A: "future.drop-readable",
    0x1B: "future.drop-writable",
    0x2E: "stream.forward",
    0x2F: "future.forward",
}
# a type index and canon options
_CANON_TYPE_OPTS: dict[int, str] = {
    0x0F: "stream.read",
    0x10: "stream.write",
    0x16: "future.read",
    0x17: "future.write",
}
# a type index and `async?`
_CANON_TYPE_ASYNC: dict[int, str] = {
    0x11: "stream.cancel-read",
    0x12: "stream.cancel-write",
    0x18: "future.cancel-read",
    0x19: "future.cancel-write",
}
# only `cancel?`
_CANON_CANCEL: dict[int, str] = {
    0x29: "thread.suspend",
    0x0C: "thread.yield",
    0x2A: "thread.suspend-then-resume",
    0x2B: "thread.yield-then-resume",
    0x2C: "thread.suspend-then-promote",
    0x2D: "thread.yield-then-promote",
}


def is_component(data: bytes | bytearray | memoryview) -> bool:
    """Whether ``data`` starts with a component preamble (magic and layer 1).

    The version is not checked, so a component of another pre-standard version
    is still recognised (and :func:`decode_component` reports the version).
    """
    head = bytes(data[:8])
    return len(head) == 8 and head[:4] == MAGIC and head[6:8] == COMPONENT_LAYER


def is_core_module(data: bytes | bytearray | memoryview) -> bool:
    """Whether ``data`` starts with a core module preamble (magic and layer 0)."""
    head = bytes(data[:8])
    return len(head) == 8 and head[:4] == MAGIC and head[6:8] == b"\x00\x00"


def decode_component(data: bytes | bytearray | memoryview) -> Component:
    """Decode a complete component binary.

    Raises :class:`DecodeError` for malformed input (and only that).
    """
    buf = bytes(data)
    try:
        r = Reader(buf, 0, len(buf))
        comp = _read_component(r, 0)
        if r.pos != r.end:  # pragma: no cover - sections run to the end
            raise DecodeError(r.pos, "end of binary")
        return comp
    except RecursionError:
        raise DecodeError(0, f"nesting depth at most {MAX_NESTING}") from None
    except MemoryError:
        raise DecodeError(0, "a binary small enough to decode") from None


# --- sorts, names, extern types ---------------------------------------------------


def _read_core_sort(r: Reader) -> Sort:
    pos = r.pos
    b = r.u8("core sort")
    sort = CORE_SORTS.get(b)
    if sort is None:
        if b == 0x20:  # an exact function (custom descriptors); still a function
            return Sort.CORE_FUNC
        raise DecodeError(pos, "core sort")
    return sort


def _read_sort(r: Reader) -> Sort:
    pos = r.pos
    b = r.u8("sort")
    if b == 0x00:
        return _read_core_sort(r)
    sort = COMPONENT_SORTS.get(b)
    if sort is None:
        raise DecodeError(pos, "sort")
    return sort


def _read_extern_name(r: Reader) -> ExternName:
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


def _read_valtype(r: Reader) -> ValTypeRef:
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


def _read_opt_valtype(r: Reader) -> ValTypeRef | None:
    if r.flag("optional value type (0x00 or 0x01)"):
        return _read_valtype(r)
    return None


def _read_extern_type(r: Reader) -> ExternTypeRef:
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
            return ExternTypeRef(Sort.VALUE, value_type=_read_valtype(r), offset=pos)
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


# --- core types --------------------------------------------------------------------


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


def _read_core_valtype(r: Reader) -> str:
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
        _read_core_valtype(r)


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
        params = [_read_core_valtype(r) for _ in range(r.vec_len("parameter"))]
        results = [_read_core_valtype(r) for _ in range(r.vec_len("result"))]
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
        vt = _read_core_valtype(r)
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


def _read_core_type(r: Reader, depth: int) -> CoreTypeDef:
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


# --- component types ----------------------------------------------------------------


def _read_labels(r: Reader, what: str) -> list[str]:
    return [r.name() for _ in range(r.vec_len(what))]


def _read_defvaltype(r: Reader, b: int, pos: int) -> DefValType:
    if b == 0x72:
        fields = []
        for _ in range(r.vec_len("record field")):
            label = r.name()
            fields.append((label, _read_valtype(r)))
        return RecordDef(fields, pos)
    if b == 0x71:
        cases: list[tuple[str, ValTypeRef | None]] = []
        for _ in range(r.vec_len("variant case")):
            label = r.name()
            t = _read_opt_valtype(r)
            r.expect(0x00, "variant case terminator 0x00")
            cases.append((label, t))
        return VariantDef(cases, pos)
    if b == 0x70:
        return ListDef(_read_valtype(r), None, pos)
    if b == 0x67:
        t = _read_valtype(r)
        return ListDef(t, r.u32(), pos)
    if b == 0x6F:
        return TupleDef([_read_valtype(r) for _ in range(r.vec_len("tuple type"))], pos)
    if b == 0x6E:
        return FlagsDef(_read_labels(r, "flags label"), pos)
    if b == 0x6D:
        return EnumDef(_read_labels(r, "enum label"), pos)
    if b == 0x6B:
        return OptionDef(_read_valtype(r), pos)
    if b == 0x6A:
        ok = _read_opt_valtype(r)
        return ResultDef(ok, _read_opt_valtype(r), pos)
    if b == 0x69:
        return OwnDef(r.u32(), pos)
    if b == 0x68:
        return BorrowDef(r.u32(), pos)
    if b == 0x66:
        return StreamDef(_read_opt_valtype(r), pos)
    if b == 0x65:
        return FutureDef(_read_opt_valtype(r), pos)
    if b == 0x63:
        k = _read_valtype(r)
        return MapDef(k, _read_valtype(r), pos)
    prim = PRIM_VALTYPES.get(b)
    if prim is not None:
        return PrimDef(prim, pos)
    raise DecodeError(pos, "type definition")


def _read_resultlist(r: Reader) -> ValTypeRef | None:
    pos = r.pos
    b = r.u8("result list (0x00 or 0x01 0x00)")
    if b == 0x00:
        return _read_valtype(r)
    if b == 0x01:
        r.expect(0x00, "empty result list (0x01 0x00)")
        return None
    raise DecodeError(pos, "result list (0x00 or 0x01 0x00)")


def _read_alias(r: Reader) -> Alias:
    pos = r.pos
    sort = _read_sort(r)
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
        return _read_core_type(r, depth)
    if kind == 0x01:
        return _read_type(r, depth)
    if kind == 0x02:
        return _read_alias(r)
    if kind == 0x04:
        name = _read_extern_name(r)
        return ExportDecl(name, _read_extern_type(r), pos)
    raise DecodeError(pos, "component or instance type declaration")


def _read_type(r: Reader, depth: int) -> TypeDef:
    pos = r.pos
    b = r.u8("type definition")
    if b == 0x3F:
        rep = _read_core_valtype(r)
        dtor = r.u32() if r.flag("optional destructor (0x00 or 0x01)") else None
        return TypeDef(ResourceTypeDef(rep, dtor, pos), pos)
    if b in (0x40, 0x43):
        params = []
        for _ in range(r.vec_len("parameter")):
            label = r.name()
            params.append((label, _read_valtype(r)))
        result = _read_resultlist(r)
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
                    name = _read_extern_name(r)
                    cdecls.append(ImportDecl(name, _read_extern_type(r), dpos))
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


# --- canon ------------------------------------------------------------------------------


def _read_canon_opts(r: Reader) -> CanonOpts:
    opts = CanonOpts()
    seen: set[int] = set()
    for _ in range(r.vec_len("canon option")):
        pos = r.pos
        b = r.u8("canon option")
        key = 0 if b <= 0x02 else b  # the string encodings conflict with each other
        if key in seen:
            raise DecodeError(pos, "no duplicate or conflicting canon options")
        seen.add(key)
        if b <= 0x02:
            opts.string_encoding = STRING_ENCODINGS[b]
        elif b == 0x03:
            opts.memory = r.u32()
        elif b == 0x04:
            opts.realloc = r.u32()
        elif b == 0x05:
            opts.post_return = r.u32()
        elif b == 0x06:
            opts.is_async = True
        elif b == 0x07:
            opts.callback = r.u32()
        elif b == 0x08:
            opts.core_type = r.u32()
        elif b == 0x09:
            opts.gc = True
        else:
            raise DecodeError(pos, "canon option")
    return opts


def _read_canon(r: Reader) -> CanonLift | CanonLower | CanonBuiltin:
    pos = r.pos
    b = r.u8("canon opcode")
    if b == 0x00:
        r.expect(0x00, "core func sort (0x00) of canon lift")
        f = r.u32()
        opts = _read_canon_opts(r)
        return CanonLift(f, opts, r.u32(), pos)
    if b == 0x01:
        r.expect(0x00, "func sort (0x00) of canon lower")
        f = r.u32()
        return CanonLower(f, _read_canon_opts(r), pos)
    name = _CANON_PLAIN.get(b)
    if name is not None:
        return CanonBuiltin(name, offset=pos)
    name = _CANON_TYPE.get(b)
    if name is not None:
        return CanonBuiltin(name, type_idx=r.u32(), offset=pos)
    name = _CANON_TYPE_OPTS.get(b)
    if name is not None:
        t = r.u32()
        return CanonBuiltin(name, type_idx=t, opts=_read_canon_opts(r), offset=pos)
    name = _CANON_TYPE_ASYNC.get(b)
    if name is not None:
        t = r.u32()
        return CanonBuiltin(name, type_idx=t, is_async=r.flag("async? (0x00 or 0x01)"), offset=pos)
    name = _CANON_CANCEL.get(b)
    if name is not None:
        return CanonBuiltin(name, cancellable=r.flag("cancel? (0x00 or 0x01)"), offset=pos)
    if b == 0x09:
        result = _read_resultlist(r)
        has_result = result is not None
        return CanonBuiltin(
            "task.return",
            result=result,
            has_result=has_result,
            opts=_read_canon_opts(r),
            offset=pos,
        )
    if b in (0x0A, 0x0B):
        vt = _read_core_valtype(r)
        name = "context.get" if b == 0x0A else "context.set"
        return CanonBuiltin(name, core_valtype=vt, index=r.u32(), offset=pos)
    if b == 0x06:
        return CanonBuiltin("subtask.cancel", is_async=r.flag("async? (0x00 or 0x01)"), offset=pos)
    if b in (0x1C, 0x1D):
        name = "error-context.new" if b == 0x1C else "error-context.debug-message"
        return CanonBuiltin(name, opts=_read_canon_opts(r), offset=pos)
    if b in (0x20, 0x21):
        name = "waitable-set.wait" if b == 0x20 else "waitable-set.poll"
        cancellable = r.flag("cancel? (0x00 or 0x01)")
        return CanonBuiltin(name, cancellable=cancellable, memory=r.u32(), offset=pos)
    if b == 0x27:
        ft = r.u32()
        return CanonBuiltin("thread.new-indirect", core_type_idx=ft, table=r.u32(), offset=pos)
    if b == 0x40:
        return CanonBuiltin("thread.spawn-ref", core_type_idx=r.u32(), offset=pos)
    if b == 0x41:
        ft = r.u32()
        return CanonBuiltin("thread.spawn-indirect", core_type_idx=ft, table=r.u32(), offset=pos)
    raise DecodeError(pos, "canon opcode")


# --- sections ---------------------------------------------------------------------------


def _read_component(r: Reader, depth: int) -> Component:
    """Read a component (preamble and sections) spanning ``r.pos`` to ``r.end``."""
    start = r.pos
    data = r.data
    if r.end - start < 4 or data[start : start + 4] != MAGIC:
        raise DecodeError(start, "magic \\0asm")
    if r.end - start < 8:
        raise DecodeError(start + 4, "component version 0x0d and layer 1")
    if data[start + 4 : start + 8] == CORE_PREAMBLE[4:]:
        raise DecodeError(start + 4, "a component (version 0x0d, layer 1), not a core module")
    if data[start + 4 : start + 6] != COMPONENT_VERSION:
        raise DecodeError(start + 4, "component version 0x0d")
    if data[start + 6 : start + 8] != COMPONENT_LAYER:
        raise DecodeError(start + 6, "layer 1 (component)")
    r.pos = start + 8
    comp = Component(offset=start, size=r.end - start)
    defs = comp.definitions
    end = r.end
    while r.pos < end:
        spos = r.pos
        sid = r.u8("section id")
        if sid > 12:
            raise DecodeError(spos, "section id (0 to 12)")
        send = r.size("section")
        r.end = send
        _read_section(r, sid, defs, comp, depth)
        if r.pos != send:
            raise DecodeError(r.pos, "end of section (section size mismatch)")
        r.end = end
    return comp


def _read_section(r: Reader, sid: int, defs: list[Definition], comp: Component, depth: int) -> None:
    pos = r.pos
    if sid == 0:
        name = r.name("custom section name")
        if name == "component-name":
            _read_name_section(Reader(r.data, r.pos, r.end), comp)
        r.pos = r.end
    elif sid == 1:
        if r.data[pos : pos + 8] != CORE_PREAMBLE:
            raise DecodeError(pos, "core module preamble (\\0asm, version 1)")
        defs.append(CoreModule(r.data[pos : r.end], pos))
        r.pos = r.end
    elif sid == 2:
        for _ in range(r.vec_len("core instance")):
            ipos = r.pos
            kind = r.u8("core instance (0x00 or 0x01)")
            if kind == 0x00:
                module = r.u32()
                args = []
                for _ in range(r.vec_len("instantiate argument")):
                    name = r.name()
                    r.expect(0x12, "core instance sort (0x12)")
                    args.append((name, r.u32()))
                defs.append(CoreInstantiate(module, args, ipos))
            elif kind == 0x01:
                exports = []
                for _ in range(r.vec_len("inline export")):
                    name = r.name()
                    sort = _read_core_sort(r)
                    exports.append((name, sort, r.u32()))
                defs.append(CoreInlineExports(exports, ipos))
            else:
                raise DecodeError(ipos, "core instance (0x00 or 0x01)")
    elif sid == 3:
        for _ in range(r.vec_len("core type")):
            defs.append(_read_core_type(r, depth))
    elif sid == 4:
        if depth >= MAX_NESTING:
            raise DecodeError(pos, f"nesting depth at most {MAX_NESTING}")
        defs.append(_read_component(r, depth + 1))
    elif sid == 5:
        for _ in range(r.vec_len("instance")):
            ipos = r.pos
            kind = r.u8("instance (0x00 or 0x01)")
            if kind == 0x00:
                component = r.u32()
                cargs = []
                for _ in range(r.vec_len("instantiate argument")):
                    name = r.name()
                    sort = _read_sort(r)
                    cargs.append((name, sort, r.u32()))
                defs.append(Instantiate(component, cargs, ipos))
            elif kind == 0x01:
                iexports = []
                for _ in range(r.vec_len("inline export")):
                    en = _read_extern_name(r)
                    sort = _read_sort(r)
                    iexports.append((en, sort, r.u32()))
                defs.append(InlineExports(iexports, ipos))
            else:
                raise DecodeError(ipos, "instance (0x00 or 0x01)")
    elif sid == 6:
        for _ in range(r.vec_len("alias")):
            defs.append(_read_alias(r))
    elif sid == 7:
        for _ in range(r.vec_len("type")):
            defs.append(_read_type(r, depth))
    elif sid == 8:
        for _ in range(r.vec_len("canon")):
            defs.append(_read_canon(r))
    elif sid == 9:
        f = r.u32()
        values = [r.u32() for _ in range(r.vec_len("start argument"))]
        defs.append(Start(f, values, r.u32(), pos))
    elif sid == 10:
        for _ in range(r.vec_len("import")):
            ipos = r.pos
            en = _read_extern_name(r)
            defs.append(Import(en, _read_extern_type(r), ipos))
    elif sid == 11:
        for _ in range(r.vec_len("export")):
            epos = r.pos
            en = _read_extern_name(r)
            sort = _read_sort(r)
            idx = r.u32()
            t = _read_extern_type(r) if r.flag("optional export type (0x00 or 0x01)") else None
            defs.append(Export(en, sort, idx, t, epos))
    else:  # sid == 12
        for _ in range(r.vec_len("value")):
            vpos = r.pos
            vt = _read_valtype(r)
            vend = r.size("value")
            defs.append(ValueDef(vt, r.data[r.pos : vend], vpos))
            r.pos = vend


def _read_name_section(r: Reader, comp: Component) -> None:
    """Fill ``comp.name``/``comp.names``; an ill-formed subsection is ignored."""
    while not r.at_end():
        try:
            sid = r.u8("name subsection id")
            send = r.size("name subsection")
        except DecodeError:
            return
        sub = Reader(r.data, r.pos, send)
        r.pos = send
        try:
            if sid == 0:
                name = sub.name()
                if sub.at_end():
                    comp.name = name
            elif sid == 1:
                sort = _read_sort(sub)
                names: dict[int, str] = {}
                for _ in range(sub.vec_len("name")):
                    idx = sub.u32()
                    names[idx] = sub.name()
                if sub.at_end():
                    comp.names[sort] = names
        except DecodeError:
            continue
