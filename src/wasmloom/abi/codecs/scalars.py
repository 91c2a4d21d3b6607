"""Codecs of the primitive types: integers, bool, floats, char, string."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Any

from wasmloom.abi.codecs.base import (
    M32,
    M64,
    NAN,
    Codec,
    f32_bits,
    f64_bits,
    pointer_pair_codec,
    to_float,
    type_error,
)
from wasmloom.abi.strings import lift_string, lower_string
from wasmloom.errors import Trap
from wasmloom.types import PrimType


def _int_checker(tname: str, lo: int, hi: int) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if v.__class__ is int:
            if lo <= v <= hi:
                return v
            raise ValueError(f"{v} out of range for WIT type `{tname}` [{lo}, {hi}]")
        if isinstance(v, int) and not isinstance(v, bool):
            return check(int(v))
        raise type_error(tname, v)

    return check


def _to_bool(v: Any) -> bool:
    if v is True or v is False:
        return v
    if isinstance(v, int):
        return bool(v)
    raise type_error("bool", v)


def _char_code(v: Any) -> int:
    if isinstance(v, str) and len(v) == 1:
        i = ord(v)
        if 0xD800 <= i <= 0xDFFF:
            raise ValueError(f"{v!r} is a surrogate, not a valid WIT `char`")
        return i
    raise type_error("char", v)


def _char_from(i: int) -> str:
    if i >= 0x110000 or 0xD800 <= i <= 0xDFFF:
        raise Trap("invalid `char` bit pattern")
    return chr(i)


# --- primitives -------------------------------------------------------------------------

_INT_INFO = {
    # name: (struct code, lo, hi, signed, core mask)
    "u8": ("B", 0, 0xFF, False, M32),
    "s8": ("b", -0x80, 0x7F, True, M32),
    "u16": ("H", 0, 0xFFFF, False, M32),
    "s16": ("h", -0x8000, 0x7FFF, True, M32),
    "u32": ("I", 0, M32, False, M32),
    "s32": ("i", -0x8000_0000, 0x7FFF_FFFF, True, M32),
    "u64": ("Q", 0, M64, False, M64),
    "s64": ("q", -0x8000_0000_0000_0000, 0x7FFF_FFFF_FFFF_FFFF, True, M64),
}


def _int_codec(t: PrimType, ptr_type: str) -> Codec:
    name = t.name
    code, lo, hi, signed, cmask = _INT_INFO[name]
    check = _int_checker(name, lo, hi)
    st = struct.Struct("<" + code)
    unpack_from = st.unpack_from
    pack_into = st.pack_into
    bits = st.size * 8
    tmask = (1 << bits) - 1
    sign = 1 << (bits - 1)

    if code == "B":

        def load(cx: Any, p: int) -> Any:
            return cx.mv[p]

        def store(cx: Any, v: Any, p: int) -> None:
            cx.mv[p] = v if (v.__class__ is int and 0 <= v <= 255) else check(v)

    else:

        def load(cx: Any, p: int) -> Any:
            return unpack_from(cx.mv, p)[0]

        def store(cx: Any, v: Any, p: int) -> None:
            pack_into(cx.mv, p, v if (v.__class__ is int and lo <= v <= hi) else check(v))

    if signed:

        def lift_flat(cx: Any, it: Iterator[Any]) -> Any:
            return ((next(it) & tmask) ^ sign) - sign

        def lift_value(cx: Any, v: int) -> Any:
            return ((v & tmask) ^ sign) - sign

        def lower_flat(cx: Any, v: Any, out: list[Any]) -> None:
            if not (v.__class__ is int and lo <= v <= hi):
                v = check(v)
            out.append(v & cmask)

        def lower_value(cx: Any, v: Any) -> Any:
            if not (v.__class__ is int and lo <= v <= hi):
                v = check(v)
            return v & cmask

    else:

        def lift_flat(cx: Any, it: Iterator[Any]) -> Any:
            return next(it) & tmask

        def lift_value(cx: Any, v: int) -> Any:
            return v & tmask

        def lower_flat(cx: Any, v: Any, out: list[Any]) -> None:
            out.append(v if (v.__class__ is int and 0 <= v <= hi) else check(v))

        def lower_value(cx: Any, v: Any) -> Any:
            return v if (v.__class__ is int and 0 <= v <= hi) else check(v)

    return Codec(t, ptr_type, load, store, lift_flat, lower_flat, True, lift_value, lower_value)


def prim_codec(t: PrimType, enc: str, ptr_type: str) -> Codec:
    name = t.name
    if name in _INT_INFO:
        return _int_codec(t, ptr_type)
    if name == "bool":
        return _bool_codec(t, ptr_type)
    if name == "f32" or name == "f64":
        return _float_codec(t, ptr_type)
    if name == "char":
        return _char_codec(t, ptr_type)
    assert name == "string"
    return _string_codec(t, ptr_type)


def _bool_codec(t: PrimType, ptr_type: str) -> Codec:

    def load(cx: Any, p: int) -> Any:
        return cx.mv[p] != 0

    def store(cx: Any, v: Any, p: int) -> None:
        cx.mv[p] = 1 if _to_bool(v) else 0

    def lift_flat(cx: Any, it: Iterator[Any]) -> Any:
        return (next(it) & M32) != 0

    def lower_flat(cx: Any, v: Any, out: list[Any]) -> None:
        out.append(1 if (v is True or (v is not False and _to_bool(v))) else 0)

    return Codec(t, ptr_type, load, store, lift_flat, lower_flat, True)


def _float_codec(t: PrimType, ptr_type: str) -> Codec:
    name = t.name
    st = struct.Struct("<f" if name == "f32" else "<d")
    unpack_from = st.unpack_from
    to_bits = f32_bits if name == "f32" else f64_bits
    bits_st = struct.Struct("<I" if name == "f32" else "<Q")
    bits_pack = bits_st.pack_into

    def load(cx: Any, p: int) -> Any:
        f = unpack_from(cx.mv, p)[0]
        return f if f == f else NAN

    def store(cx: Any, v: Any, p: int) -> None:
        bits_pack(cx.mv, p, to_bits(to_float(name, v)))

    def lift_flat(cx: Any, it: Iterator[Any]) -> Any:
        f = next(it)
        return f if f == f else NAN

    def lower_flat(cx: Any, v: Any, out: list[Any]) -> None:
        f = v if v.__class__ is float else to_float(name, v)
        out.append(f if f == f else NAN)

    return Codec(t, ptr_type, load, store, lift_flat, lower_flat, True)


def _char_codec(t: PrimType, ptr_type: str) -> Codec:
    cst = struct.Struct("<I")
    c_unpack = cst.unpack_from
    c_pack = cst.pack_into

    def load(cx: Any, p: int) -> Any:
        return _char_from(c_unpack(cx.mv, p)[0])

    def store(cx: Any, v: Any, p: int) -> None:
        c_pack(cx.mv, p, _char_code(v))

    def lift_flat(cx: Any, it: Iterator[Any]) -> Any:
        return _char_from(next(it) & M32)

    def lower_flat(cx: Any, v: Any, out: list[Any]) -> None:
        out.append(_char_code(v))

    return Codec(t, ptr_type, load, store, lift_flat, lower_flat, True)


def _string_codec(t: PrimType, ptr_type: str) -> Codec:
    return pointer_pair_codec(t, ptr_type, lift_string, lower_string)
