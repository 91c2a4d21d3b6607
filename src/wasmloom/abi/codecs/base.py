"""What every codec module shares: :class:`Codec`, the host value checks, float bits."""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterator
from typing import Any

from wasmloom.abi.codecs.classes import ClassMap
from wasmloom.abi.layout import alignment, elem_size, flatten_type
from wasmloom.types import ValType

Load = Callable[[Any, int], Any]
Store = Callable[[Any, Any, int], None]
LiftFlat = Callable[[Any, Iterator[Any]], Any]
LowerFlat = Callable[[Any, Any, list[Any]], None]
#: ``lift_values(cx, *flat)``: a value from exactly its core values, given one by one.
LiftValues = Callable[..., Any]
#: ``lower_value(cx, v) -> flat``: the one core value of a value (a one-slot type).
LowerValue = Callable[[Any, Any], Any]

M32 = 0xFFFF_FFFF
M64 = 0xFFFF_FFFF_FFFF_FFFF
NAN = math.nan


class Codec:
    """The specialised lift/lower functions and layout of one value type."""

    __slots__ = (
        "align",
        "flat",
        "lift_flat",
        "lift_values",
        "load",
        "lower_flat",
        "lower_value",
        "pure",
        "size",
        "store",
        "t",
    )

    def __init__(
        self,
        t: ValType,
        ptr_type: str,
        load: Load,
        store: Store,
        lift_flat: LiftFlat,
        lower_flat: LowerFlat,
        pure: bool,
        lift_values: LiftValues | None = None,
        lower_value: LowerValue | None = None,
    ) -> None:
        self.t = t
        self.size = elem_size(t, ptr_type)
        self.align = alignment(t, ptr_type)
        self.flat = flatten_type(t, ptr_type)
        self.load = load
        self.store = store
        self.lift_flat = lift_flat
        self.lower_flat = lower_flat
        # pure: lowering never allocates (no string or dynamic list inside).
        self.pure = pure
        # lift_values: lift_flat taking the ``len(flat)`` core values as arguments
        # (no iterator), for the types that have one; else None.
        self.lift_values = lift_values
        # lower_value: lower_flat of a one-slot type returning its core value; or None.
        # Where the type's size is the slot's (4 bytes for i32, 8 for i64), its memory
        # form is that value's little-endian bytes (see word_packer).
        self.lower_value = lower_value


_WORDS = {("i32", 4): struct.Struct("<I").pack_into, ("i64", 8): struct.Struct("<Q").pack_into}


def word_packer(c: Codec) -> Callable[[Any, int, int], None] | None:
    """``pack_into(mv, p, x)`` writing ``c``'s values in memory from their core value
    ``x = c.lower_value(cx, v)``, when that is their memory form (a one-slot type of the
    slot's size: a handle, a 32- or 64-bit integer); else ``None``."""
    if c.lower_value is None or len(c.flat) != 1:
        return None
    return _WORDS.get((c.flat[0], c.size))


#: ``get_codec(t, string_encoding, ptr_type, classes)``: the codec of a nested type (the
#: builders of compound types take it, so that they need not import the dispatcher).
GetCodec = Callable[[ValType, str, str, ClassMap | None], Codec]


# --- host value checks -----------------------------------------------------------------


def type_error(tname: str, v: Any) -> TypeError:
    return TypeError(f"expected a value of WIT type `{tname}`, got {type(v).__name__} {v!r:.60}")


def to_float(tname: str, v: Any) -> float:
    if v.__class__ is float:
        return v
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    raise type_error(tname, v)


def f32_bits(f: float) -> int:
    if f != f:
        return 0x7FC00000
    try:
        return struct.unpack("<I", struct.pack("<f", f))[0]  # type: ignore[no-any-return]
    except OverflowError:
        return 0x7F800000 if f > 0 else 0xFF800000


def f64_bits(f: float) -> int:
    if f != f:
        return 0x7FF8000000000000
    return struct.unpack("<Q", struct.pack("<d", f))[0]  # type: ignore[no-any-return]


def f32_from_bits(i: int) -> float:
    f: float = struct.unpack("<f", struct.pack("<I", i & M32))[0]
    return f if f == f else NAN


def f64_from_bits(i: int) -> float:
    f: float = struct.unpack("<d", struct.pack("<Q", i & M64))[0]
    return f if f == f else NAN


def pointer_pair_codec(
    t: ValType,
    ptr_type: str,
    lift_range: Callable[[Any, int, int], Any],
    lower_range: Callable[[Any, Any], tuple[int, int]],
) -> Codec:
    """The codec of a value held as a (pointer, length) pair (a string, a list):
    two flat values, or two words of ``ptr_type`` in memory. ``lift_range(cx, ptr,
    n)`` checks and reads the contents; ``lower_range(cx, v)`` allocates and writes
    them, and returns the pair."""
    pst = struct.Struct("<II" if ptr_type == "i32" else "<QQ")
    p_unpack = pst.unpack_from
    p_pack = pst.pack_into

    def load(cx: Any, p: int) -> Any:
        ptr, n = p_unpack(cx.mv, p)
        return lift_range(cx, ptr, n)

    def store(cx: Any, v: Any, p: int) -> None:
        ptr, n = lower_range(cx, v)
        p_pack(cx.mv, p, ptr, n)

    def lift_flat(cx: Any, it: Iterator[Any]) -> Any:
        return lift_range(cx, next(it), next(it))

    def lower_flat(cx: Any, v: Any, out: list[Any]) -> None:
        out.extend(lower_range(cx, v))

    return Codec(t, ptr_type, load, store, lift_flat, lower_flat, False, lift_range)
