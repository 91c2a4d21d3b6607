"""Codecs of lists (dynamic and fixed-length) and maps; bulk element readers and writers."""

from __future__ import annotations

import sys
from array import array
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from wasmloom.abi.codecs.base import (
    M32,
    M64,
    NAN,
    Codec,
    GetCodec,
    pointer_pair_codec,
    to_float,
    type_error,
)
from wasmloom.abi.codecs.classes import ClassMap
from wasmloom.abi.layout import MAX_LIST_BYTE_LENGTH
from wasmloom.errors import Trap
from wasmloom.types import ListType, MapType, PrimType, TupleType, ValType

_LITTLE = sys.byteorder == "little"

# --- lists ----------------------------------------------------------------------------

_ARRAY_CODES = {"s8": "b", "u16": "H", "s16": "h", "u32": "I", "s32": "i", "u64": "Q", "s64": "q"}
_ARRAY_CODES["f32"] = "f"
_ARRAY_CODES["f64"] = "d"


def elements_reader(t: ValType, ec: Codec) -> Callable[[Any, int, int], Any]:
    """``read(cx, ptr, n)``: the ``n`` elements at a checked range, as the Python value."""
    es = ec.size
    name = t.name if isinstance(t, PrimType) else None
    if name == "u8":

        def read_u8(cx: Any, ptr: int, n: int) -> Any:
            return bytes(cx.mv[ptr : ptr + n])

        return read_u8
    if name in _ARRAY_CODES and _LITTLE and array(_ARRAY_CODES[name]).itemsize == es:
        code = _ARRAY_CODES[name]
        if name in ("f32", "f64"):

            def read_floats(cx: Any, ptr: int, n: int) -> Any:
                vals = cx.mv[ptr : ptr + n * es].cast(code).tolist()
                if any(f != f for f in vals):
                    vals = [f if f == f else NAN for f in vals]
                return vals

            return read_floats

        def read_ints(cx: Any, ptr: int, n: int) -> Any:
            return cx.mv[ptr : ptr + n * es].cast(code).tolist()

        return read_ints
    if name == "bool":

        def read_bools(cx: Any, ptr: int, n: int) -> Any:
            return [b != 0 for b in cx.mv[ptr : ptr + n]]

        return read_bools
    load = ec.load

    def read(cx: Any, ptr: int, n: int) -> Any:
        if n == 1:  # a future's value, one stream element: no comprehension
            return [load(cx, ptr)]
        return [load(cx, ptr + i * es) for i in range(n)]

    return read


def elements_writer(
    t: ValType, ec: Codec
) -> tuple[Callable[[Any], Any], Callable[[Any, Any, int], None]]:
    """``(prepare(v) -> (seq, n), write(cx, seq, ptr))`` for lowering a list's elements."""
    es = ec.size
    name = t.name if isinstance(t, PrimType) else None
    tname = f"list<{t}>"
    if name == "u8":

        def prep_u8(v: Any) -> Any:
            if isinstance(v, bytes | bytearray):
                return v
            if isinstance(v, memoryview):
                return v.cast("B") if v.format != "B" or v.ndim != 1 else v
            if isinstance(v, str) or not hasattr(v, "__len__"):
                raise type_error(tname, v)
            try:
                return bytes(v)
            except ValueError:
                raise ValueError(f"element out of range for WIT type `{tname}`") from None
            except TypeError:
                raise type_error(tname, v) from None

        def write_u8(cx: Any, data: Any, ptr: int) -> None:
            cx.mv[ptr : ptr + len(data)] = data

        return prep_u8, write_u8
    if name in _ARRAY_CODES and _LITTLE and array(_ARRAY_CODES[name]).itemsize == es:
        code = _ARRAY_CODES[name]
        is_float = name in ("f32", "f64")

        def prep_array(v: Any) -> Any:
            if isinstance(v, str | bytes) or not hasattr(v, "__iter__"):
                raise type_error(tname, v)
            try:
                return array(code, v)
            except OverflowError:
                raise ValueError(f"element out of range for WIT type `{tname}`") from None
            except TypeError:
                if is_float:
                    return array(code, [to_float(str(t), x) for x in v])
                raise type_error(tname, v) from None

        def write_array(cx: Any, arr: Any, ptr: int) -> None:
            b = memoryview(arr).cast("B")
            cx.mv[ptr : ptr + len(b)] = b

        return prep_array, write_array
    store = ec.store

    def prep(v: Any) -> Any:
        if (isinstance(v, str) and name != "char") or isinstance(v, bytes):
            raise type_error(tname, v)
        if not hasattr(v, "__len__"):
            if not hasattr(v, "__iter__"):
                raise type_error(tname, v)
            v = list(v)
        return v

    def write(cx: Any, seq: Any, ptr: int) -> None:
        for i, e in enumerate(seq):
            store(cx, e, ptr + i * es)

    return prep, write


def list_codec(
    t: ListType, enc: str, ptr_type: str, classes: ClassMap | None, get_codec: GetCodec
) -> Codec:
    et = t.t
    ec = get_codec(et, enc, ptr_type, classes)
    es = ec.size
    ea = ec.align
    if t.length is not None:
        return _fixed_list_codec(t, ec, ptr_type)
    read = elements_reader(et, ec)
    prep, write = elements_writer(et, ec)
    pmask = M32 if ptr_type == "i32" else M64
    # What each element costs against the lift budget: its size, and at least
    # one byte, so a list of empty elements cannot be made arbitrarily long.
    charge = es or 1
    amask = ea - 1
    # list<u8> reads and writes its bytes in line; a list of compound elements (whose
    # ``prep`` passes a list through unchanged) skips ``prep`` for a list
    name = et.name if isinstance(et, PrimType) else None
    u8 = name == "u8"
    compound = name is None

    def lift_range(cx: Any, ptr: int, n: int) -> Any:
        ptr &= pmask
        n &= pmask
        nbytes = n * es
        if nbytes > MAX_LIST_BYTE_LENGTH:
            raise Trap(
                "list content out-of-bounds"
                if cx.fused
                else "list pointer/length out of bounds of memory"
            )
        if ptr & amask or ptr + nbytes > len(cx.mv):
            cx.check_range(ptr, ea, nbytes, "list")  # traps, or re-derives the view
        used = cx.lift_used + n * charge  # the lift budget (see wasmloom.abi.context)
        if used > cx.lift_cap:
            cx.check_lift_budget(used)
        cx.lift_used = used
        if u8:
            return bytes(cx.mv[ptr : ptr + n])
        return read(cx, ptr, n)

    def lower_range(cx: Any, v: Any) -> tuple[int, int]:
        cls = v.__class__
        seq = v if (u8 and cls is bytes) or (compound and cls is list) else prep(v)
        n = len(seq)
        nbytes = n * es
        ptr = cx.reallocate(0, 0, ea, nbytes)
        if ptr & amask or ptr + nbytes > len(cx.mv):
            cx.check_alloc(ptr, ea, nbytes, "list")  # traps, or re-derives the view
        if u8:
            cx.mv[ptr : ptr + nbytes] = seq
        else:
            write(cx, seq, ptr)
        return ptr, n

    return pointer_pair_codec(t, ptr_type, lift_range, lower_range)


def _fixed_list_codec(t: ListType, ec: Codec, ptr_type: str) -> Codec:
    n = t.length
    assert n is not None
    es = ec.size
    eload, estore, elift, elower = ec.load, ec.store, ec.lift_flat, ec.lower_flat
    tname = str(t)

    def check(v: Any) -> Any:
        if isinstance(v, str) or not hasattr(v, "__len__"):
            raise type_error(tname, v)
        if len(v) != n:
            raise ValueError(f"expected {n} elements for WIT type `{tname}`, got {len(v)}")
        return v

    def load(cx: Any, p: int) -> Any:
        return [eload(cx, p + i * es) for i in range(n)]

    def store(cx: Any, v: Any, p: int) -> None:
        for i, e in enumerate(check(v)):
            estore(cx, e, p + i * es)

    def lift_flat(cx: Any, it: Iterator[Any]) -> Any:
        return [elift(cx, it) for _ in range(n)]

    def lower_flat(cx: Any, v: Any, out: list[Any]) -> None:
        for e in check(v):
            elower(cx, e, out)

    return Codec(t, ptr_type, load, store, lift_flat, lower_flat, ec.pure)


def map_codec(
    t: MapType, enc: str, ptr_type: str, classes: ClassMap | None, get_codec: GetCodec
) -> Codec:
    pair = TupleType((t.k, t.v))
    lc = get_codec(ListType(pair), enc, ptr_type, classes)
    lload, lstore, llift, llower = lc.load, lc.store, lc.lift_flat, lc.lower_flat
    tname = str(t)

    def to_pairs(v: Any) -> Any:
        if isinstance(v, Mapping):
            return list(v.items())
        if isinstance(v, list | tuple):
            return v
        raise type_error(tname, v)

    # Between components (cx.fused) a map stays a list of (key, value) pairs, so
    # duplicate keys pass through unchanged, as the ABI allows.
    def load(cx: Any, p: int) -> Any:
        pairs = lload(cx, p)
        return pairs if cx.fused else dict(pairs)

    def store(cx: Any, v: Any, p: int) -> None:
        lstore(cx, to_pairs(v), p)

    def lift_flat(cx: Any, it: Iterator[Any]) -> Any:
        pairs = llift(cx, it)
        return pairs if cx.fused else dict(pairs)

    def lower_flat(cx: Any, v: Any, out: list[Any]) -> None:
        llower(cx, to_pairs(v), out)

    return Codec(t, ptr_type, load, store, lift_flat, lower_flat, False)
