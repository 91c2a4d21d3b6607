"""Canonical ABI layout: alignment, size and flattening of value types.

Everything here follows CanonicalABI.md ("Alignment", "Element Size",
"Flattening"). ``ptr_type`` is the address type of the memory involved,
``'i32'`` or ``'i64'`` (memory64). Results are cached per (type, ptr_type);
types are hashable, so structurally equal types share entries.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal, Protocol

from wasmloom.types import (
    U8,
    U16,
    U32,
    BorrowType,
    CaseType,
    CoreFuncType,
    ErrorContextType,
    FieldType,
    FlagsType,
    FuncType,
    FutureType,
    ListType,
    MapType,
    OwnType,
    PrimType,
    RecordType,
    StreamType,
    TupleType,
    ValType,
    VariantType,
    despecialize,
)

__all__ = [
    "MAX_FLAT_ASYNC_PARAMS",
    "MAX_FLAT_PARAMS",
    "MAX_FLAT_RESULTS",
    "MAX_LIST_BYTE_LENGTH",
    "MAX_STRING_BYTE_LENGTH",
    "PtrType",
    "align_to",
    "alignment",
    "despecialize_abi",
    "discriminant_type",
    "elem_size",
    "field_offsets",
    "flatten_functype",
    "flatten_type",
    "flatten_types",
    "join",
    "max_case_alignment",
    "payload_offset",
    "ptr_size",
]

PtrType = Literal["i32", "i64"]

MAX_FLAT_PARAMS = 16
MAX_FLAT_ASYNC_PARAMS = 4
MAX_FLAT_RESULTS = 1
MAX_STRING_BYTE_LENGTH = (1 << 28) - 1
MAX_LIST_BYTE_LENGTH = (1 << 28) - 1

_PRIM_SIZE = {
    "bool": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "s32": 4, "u32": 4,
    "s64": 8, "u64": 8, "f32": 4, "f64": 8, "char": 4,
}  # fmt: skip
_PRIM_FLAT = {
    "bool": "i32", "s8": "i32", "u8": "i32", "s16": "i32", "u16": "i32", "s32": "i32",
    "u32": "i32", "s64": "i64", "u64": "i64", "f32": "f32", "f64": "f64", "char": "i32",
}  # fmt: skip


def ptr_size(ptr_type: str) -> int:
    return 4 if ptr_type == "i32" else 8


def align_to(ptr: int, alignment: int) -> int:
    return -(-ptr // alignment) * alignment


@cache
def despecialize_abi(t: ValType) -> ValType:
    """``despecialize`` plus ``map<k, v>`` -> ``list<tuple<k, v>>``, as the spec does."""
    if isinstance(t, MapType):
        return ListType(despecialize(TupleType((t.k, t.v))))
    return despecialize(t)


def discriminant_type(cases: tuple[CaseType, ...] | int) -> PrimType:
    n = cases if isinstance(cases, int) else len(cases)
    assert 0 < n < (1 << 32)
    if n <= 256:
        return U8
    if n <= 65536:
        return U16
    return U32


def _flags_size(n: int) -> int:
    assert 0 < n <= 32
    return 1 if n <= 8 else 2 if n <= 16 else 4


@cache
def alignment(t: ValType, ptr_type: str = "i32") -> int:
    t = despecialize_abi(t)
    if isinstance(t, PrimType):
        return ptr_size(ptr_type) if t.name == "string" else _PRIM_SIZE[t.name]
    if isinstance(t, ListType):
        return alignment(t.t, ptr_type) if t.length is not None else ptr_size(ptr_type)
    if isinstance(t, RecordType):
        return max((alignment(f.t, ptr_type) for f in t.fields), default=1)
    if isinstance(t, VariantType):
        return max(
            alignment(discriminant_type(t.cases), ptr_type), max_case_alignment(t.cases, ptr_type)
        )
    if isinstance(t, FlagsType):
        return _flags_size(len(t.labels))
    if isinstance(t, OwnType | BorrowType | StreamType | FutureType | ErrorContextType):
        return 4
    raise TypeError(f"no canonical ABI layout for {t}")


def max_case_alignment(cases: tuple[CaseType, ...], ptr_type: str = "i32") -> int:
    return max((alignment(c.t, ptr_type) for c in cases if c.t is not None), default=1)


@cache
def elem_size(t: ValType, ptr_type: str = "i32") -> int:
    t = despecialize_abi(t)
    if isinstance(t, PrimType):
        return 2 * ptr_size(ptr_type) if t.name == "string" else _PRIM_SIZE[t.name]
    if isinstance(t, ListType):
        if t.length is not None:
            return t.length * elem_size(t.t, ptr_type)
        return 2 * ptr_size(ptr_type)
    if isinstance(t, RecordType):
        s = 0
        for f in t.fields:
            s = align_to(s, alignment(f.t, ptr_type)) + elem_size(f.t, ptr_type)
        return align_to(s, alignment(t, ptr_type))
    if isinstance(t, VariantType):
        s = elem_size(discriminant_type(t.cases), ptr_type)
        s = align_to(s, max_case_alignment(t.cases, ptr_type))
        s += max((elem_size(c.t, ptr_type) for c in t.cases if c.t is not None), default=0)
        return align_to(s, alignment(t, ptr_type))
    if isinstance(t, FlagsType):
        return _flags_size(len(t.labels))
    if isinstance(t, OwnType | BorrowType | StreamType | FutureType | ErrorContextType):
        return 4
    raise TypeError(f"no canonical ABI layout for {t}")


@cache
def field_offsets(fields: tuple[FieldType, ...], ptr_type: str = "i32") -> tuple[int, ...]:
    """Byte offset of each record field from the start of the record."""
    out = []
    s = 0
    for f in fields:
        s = align_to(s, alignment(f.t, ptr_type))
        out.append(s)
        s += elem_size(f.t, ptr_type)
    return tuple(out)


def payload_offset(cases: tuple[CaseType, ...], ptr_type: str = "i32") -> int:
    """Byte offset of a variant's payload from the start of the variant."""
    return align_to(
        elem_size(discriminant_type(cases), ptr_type), max_case_alignment(cases, ptr_type)
    )


def join(a: str, b: str) -> str:
    if a == b:
        return a
    if (a == "i32" and b == "f32") or (a == "f32" and b == "i32"):
        return "i32"
    return "i64"


@cache
def flatten_type(t: ValType, ptr_type: str = "i32") -> tuple[str, ...]:
    """The core value types ``t`` flattens to."""
    t = despecialize_abi(t)
    if isinstance(t, PrimType):
        if t.name == "string":
            return (ptr_type, ptr_type)
        return (_PRIM_FLAT[t.name],)
    if isinstance(t, ListType):
        if t.length is not None:
            return flatten_type(t.t, ptr_type) * t.length
        return (ptr_type, ptr_type)
    if isinstance(t, RecordType):
        return tuple(ft for f in t.fields for ft in flatten_type(f.t, ptr_type))
    if isinstance(t, VariantType):
        flat: list[str] = []
        for c in t.cases:
            if c.t is not None:
                for i, ft in enumerate(flatten_type(c.t, ptr_type)):
                    if i < len(flat):
                        flat[i] = join(flat[i], ft)
                    else:
                        flat.append(ft)
        return ("i32", *flat)
    if isinstance(t, FlagsType | OwnType | BorrowType | StreamType | FutureType):
        return ("i32",)
    if isinstance(t, ErrorContextType):
        return ("i32",)
    raise TypeError(f"cannot flatten {t}")


def flatten_types(ts: list[ValType] | tuple[ValType, ...], ptr_type: str = "i32") -> list[str]:
    return [ft for t in ts for ft in flatten_type(t, ptr_type)]


class _OptsLike(Protocol):
    @property
    def memory(self) -> Any: ...
    @property
    def is_async(self) -> bool: ...
    @property
    def callback(self) -> Any: ...


def _opts_ptr_type(opts: _OptsLike) -> str:
    mem = opts.memory
    return "i32" if mem is None else str(mem.ptr_type)


def flatten_functype(opts: _OptsLike, ft: FuncType, context: str) -> CoreFuncType:
    """The core function type of ``ft`` lifted (``'lift'``) or lowered (``'lower'``) with ``opts``."""
    return _flatten_functype(
        ft, _opts_ptr_type(opts), bool(opts.is_async), opts.callback is not None, context
    )


@cache
def _flatten_functype(
    ft: FuncType, ptr_type: str, is_async: bool, has_callback: bool, context: str
) -> CoreFuncType:
    flat_params = flatten_types(ft.param_types(), ptr_type)
    flat_results = flatten_types(ft.result_types(), ptr_type)
    if not is_async:
        if len(flat_params) > MAX_FLAT_PARAMS:
            flat_params = [ptr_type]
        if len(flat_results) > MAX_FLAT_RESULTS:
            if context == "lift":
                flat_results = [ptr_type]
            else:
                flat_params = [*flat_params, ptr_type]
                flat_results = []
    elif context == "lift":
        if len(flat_params) > MAX_FLAT_PARAMS:
            flat_params = [ptr_type]
        flat_results = ["i32"] if has_callback else []
    else:
        if len(flat_params) > MAX_FLAT_ASYNC_PARAMS:
            flat_params = [ptr_type]
        if flat_results:
            flat_params = [*flat_params, ptr_type]
        flat_results = ["i32"]
    return CoreFuncType(tuple(flat_params), tuple(flat_results))
