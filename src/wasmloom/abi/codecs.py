"""Lifting and lowering, specialised once per value type.

:func:`get_codec` builds (and caches per ``(type, string_encoding, ptr_type)``)
a :class:`Codec` whose four closures do the work for that type only:

- ``load(cx, ptr) -> value`` reads a value at a pointer already checked to be
  aligned and in bounds;
- ``store(cx, v, ptr)`` writes one, allocating (through ``cx``) what it points to;
- ``lift_flat(cx, it) -> value`` consumes core values from the iterator ``it``
  (ints in any range, signed or unsigned, are normalised);
- ``lower_flat(cx, v, out)`` appends core values to the list ``out`` (ints
  unsigned, floats as ``float``).

Guest mistakes raise :class:`wasmloom.Trap` (Wasmtime's messages); host
mistakes (wrong Python type, out-of-range int, unknown case) raise ``TypeError``
or ``ValueError`` naming the WIT type.
"""

from __future__ import annotations

import enum
import math
import struct
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from wasmloom.abi.handles import lift_borrow, lift_own, lower_borrow, lower_own
from wasmloom.abi.layout import (
    MAX_LIST_BYTE_LENGTH,
    alignment,
    despecialize_abi,
    discriminant_type,
    elem_size,
    field_offsets,
    flatten_type,
    payload_offset,
)
from wasmloom.abi.strings import lift_string, lower_string
from wasmloom.errors import Trap
from wasmloom.types import (
    BorrowType,
    CaseType,
    EnumType,
    ErrorContextType,
    FlagsType,
    FutureType,
    ListType,
    MapType,
    OptionType,
    OwnType,
    PrimType,
    RecordType,
    ResultType,
    StreamType,
    TupleType,
    ValType,
    VariantType,
    contains,
)
from wasmloom.values import (
    Err,
    Ok,
    Record,
    Resource,
    Some,
    Variant,
    enum_class,
    flags_class,
    py_name,
)

__all__ = [
    "ASYNC_VALUE_HOOKS",
    "HOST_ASYNC_WRAP",
    "ClassMap",
    "Codec",
    "elements_reader",
    "elements_writer",
    "get_codec",
    "type_names",
]

Load = Callable[[Any, int], Any]
Store = Callable[[Any, Any, int], None]
LiftFlat = Callable[[Any, Iterator[Any]], Any]
LowerFlat = Callable[[Any, Any, list[Any]], None]

M32 = 0xFFFF_FFFF
M64 = 0xFFFF_FFFF_FFFF_FFFF
NAN = math.nan
_LITTLE = sys.byteorder == "little"

# Hooks for the values that live in handle tables and are not plain resources:
# ``ASYNC_VALUE_HOOKS[StreamType] = (lift(cx, index, t) -> value, lower(cx, value, t) -> index)``.
ASYNC_VALUE_HOOKS: dict[
    type, tuple[Callable[[Any, int, Any], Any], Callable[[Any, Any, Any], int]]
] = {}

# How stream/future values look to the host (:mod:`wasmloom.host.streams`):
# ``HOST_ASYNC_WRAP[StreamType] = (wrap(cx, value, t) -> host object, unwrap(cx, obj, t) -> value)``.
# ``wrap`` applies to values lifted for the host (``cx.fused`` false); ``unwrap``
# to every value before it is lowered.
HOST_ASYNC_WRAP: dict[
    type, tuple[Callable[[Any, Any, Any], Any], Callable[[Any, Any, Any], Any]]
] = {}


class Codec:
    """The specialised lift/lower functions and layout of one value type."""

    __slots__ = (
        "align",
        "flat",
        "lift_flat",
        "load",
        "lower_flat",
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


class ClassMap:
    """Python classes to lift values of given types into (an optional input of :func:`get_codec`).

    Keys are value types; a type absent from the map keeps the default value
    mapping. The value of each kind of key:

    - :class:`RecordType`: a class called with the field values positionally,
      in WIT order; its ``__match_args__`` (as dataclasses have), when present,
      names the attributes lowering reads (else the labels with ``-`` -> ``_``);
    - :class:`VariantType`: a tuple of one class per case, called with the
      payload (with no argument for a case without one); lowering accepts an
      instance of a case class, reading its payload from ``.value``;
    - :class:`EnumType`: an ``enum.Enum`` class whose members are in label order;
    - :class:`FlagsType`: an ``enum.Flag`` class where label ``i`` is bit ``1 << i``;
    - :class:`OwnType` / :class:`BorrowType`: a pair ``(from_rep, to_rep)``;
      lifting gives ``from_rep(rep)`` and lowering passes ``to_rep(value)`` on.

    Lowering still accepts everything the default mapping accepts. A named
    type (``name`` set, as typed bindings make them) is looked up by its
    structure and name, so same-shaped named types keep their own classes;
    an unnamed one by its structure alone. Class maps compare by content, so
    they key the codec caches.
    """

    __slots__ = ("_by_shape", "_hash", "_key", "map")

    def __init__(self, entries: Mapping[ValType, Any] | Iterable[tuple[ValType, Any]]) -> None:
        pairs = entries.items() if isinstance(entries, Mapping) else entries
        self.map: dict[tuple[ValType, str | None], Any] = {(t, _name(t)): cls for t, cls in pairs}
        # the same entries by shape alone, for unnamed types (the last one wins)
        self._by_shape: dict[ValType, Any] = {t: cls for (t, _), cls in self.map.items()}
        self._key = frozenset(self.map.items())
        self._hash = hash(self._key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClassMap) and self._key == other._key

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"ClassMap({len(self.map)} types)"

    def get(self, t: ValType) -> Any:
        """The class (or converters) for values of ``t``; ``None`` if it has none."""
        name = _name(t)
        if name is None:
            return self._by_shape.get(t)
        return self.map.get((t, name))

    def applies_to(self, t: ValType | None) -> bool:
        """Whether ``t`` or a type nested in it has an entry."""
        return contains(t, lambda u: self.get(u) is not None)


def _name(t: ValType) -> str | None:
    if isinstance(t, RecordType | VariantType | EnumType | FlagsType):
        return t.name
    return None


def type_names(t: ValType | None) -> tuple[str | None, ...]:
    """The names of ``t`` and the types nested in it, in a fixed order (a cache key part)."""
    out: list[str | None] = []

    def visit(u: ValType) -> bool:
        out.append(_name(u))
        return False

    contains(t, visit)
    return tuple(out)


_cache: dict[tuple[ValType, str, str], Codec] = {}
_class_cache: dict[tuple[ValType, tuple[str | None, ...], str, str, ClassMap], Codec] = {}


def get_codec(
    t: ValType,
    string_encoding: str = "utf8",
    ptr_type: str = "i32",
    classes: ClassMap | None = None,
) -> Codec:
    """The (cached) codec of ``t`` for a string encoding and pointer type.

    With ``classes``, values of the mapped types lift into the given classes
    (see :class:`ClassMap`); the cache is keyed by the class map too.
    """
    if classes is not None and classes.applies_to(t):
        ckey = (t, type_names(t), string_encoding, ptr_type, classes)
        c = _class_cache.get(ckey)
        if c is None:
            c = _build(t, string_encoding, ptr_type, classes)
            _class_cache[ckey] = c
        return c
    key = (t, string_encoding, ptr_type)
    c = _cache.get(key)
    if c is None:
        c = _build(t, string_encoding, ptr_type)
        _cache[key] = c
    return c


# --- host value checks -----------------------------------------------------------------


def _type_error(tname: str, v: Any) -> TypeError:
    return TypeError(f"expected a value of WIT type `{tname}`, got {type(v).__name__} {v!r:.60}")


def _int_checker(tname: str, lo: int, hi: int) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if v.__class__ is int:
            if lo <= v <= hi:
                return v
            raise ValueError(f"{v} out of range for WIT type `{tname}` [{lo}, {hi}]")
        if isinstance(v, int) and not isinstance(v, bool):
            return check(int(v))
        raise _type_error(tname, v)

    return check


def _to_float(tname: str, v: Any) -> float:
    if v.__class__ is float:
        return v
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    raise _type_error(tname, v)


def _to_bool(v: Any) -> bool:
    if v is True or v is False:
        return v
    if isinstance(v, int):
        return bool(v)
    raise _type_error("bool", v)


def _char_code(v: Any) -> int:
    if isinstance(v, str) and len(v) == 1:
        i = ord(v)
        if 0xD800 <= i <= 0xDFFF:
            raise ValueError(f"{v!r} is a surrogate, not a valid WIT `char`")
        return i
    raise _type_error("char", v)


def _char_from(i: int) -> str:
    if i >= 0x110000 or 0xD800 <= i <= 0xDFFF:
        raise Trap("invalid `char` bit pattern")
    return chr(i)


def _f32_bits(f: float) -> int:
    if f != f:
        return 0x7FC00000
    try:
        return struct.unpack("<I", struct.pack("<f", f))[0]  # type: ignore[no-any-return]
    except OverflowError:
        return 0x7F800000 if f > 0 else 0xFF800000


def _f64_bits(f: float) -> int:
    if f != f:
        return 0x7FF8000000000000
    return struct.unpack("<Q", struct.pack("<d", f))[0]  # type: ignore[no-any-return]


def _f32_from_bits(i: int) -> float:
    f: float = struct.unpack("<f", struct.pack("<I", i & M32))[0]
    return f if f == f else NAN


def _f64_from_bits(i: int) -> float:
    f: float = struct.unpack("<d", struct.pack("<Q", i & M64))[0]
    return f if f == f else NAN


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

        def lower_flat(cx: Any, v: Any, out: list[Any]) -> None:
            if not (v.__class__ is int and lo <= v <= hi):
                v = check(v)
            out.append(v & cmask)

    else:

        def lift_flat(cx: Any, it: Iterator[Any]) -> Any:
            return next(it) & tmask

        def lower_flat(cx: Any, v: Any, out: list[Any]) -> None:
            out.append(v if (v.__class__ is int and 0 <= v <= hi) else check(v))

    return Codec(t, ptr_type, load, store, lift_flat, lower_flat, True)


def _prim_codec(t: PrimType, enc: str, ptr_type: str) -> Codec:
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
    to_bits = _f32_bits if name == "f32" else _f64_bits
    bits_st = struct.Struct("<I" if name == "f32" else "<Q")
    bits_pack = bits_st.pack_into

    def load(cx: Any, p: int) -> Any:
        f = unpack_from(cx.mv, p)[0]
        return f if f == f else NAN

    def store(cx: Any, v: Any, p: int) -> None:
        bits_pack(cx.mv, p, to_bits(_to_float(name, v)))

    def lift_flat(cx: Any, it: Iterator[Any]) -> Any:
        f = next(it)
        return f if f == f else NAN

    def lower_flat(cx: Any, v: Any, out: list[Any]) -> None:
        f = v if v.__class__ is float else _to_float(name, v)
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
    pst = struct.Struct("<II" if ptr_type == "i32" else "<QQ")
    p_unpack = pst.unpack_from
    p_pack = pst.pack_into

    def load(cx: Any, p: int) -> Any:
        ptr, n = p_unpack(cx.mv, p)
        return lift_string(cx, ptr, n)

    def store(cx: Any, v: Any, p: int) -> None:
        ptr, n = lower_string(cx, v)
        p_pack(cx.mv, p, ptr, n)

    def lift_flat(cx: Any, it: Iterator[Any]) -> Any:
        return lift_string(cx, next(it), next(it))

    def lower_flat(cx: Any, v: Any, out: list[Any]) -> None:
        out.extend(lower_string(cx, v))

    return Codec(t, ptr_type, load, store, lift_flat, lower_flat, False)


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
                raise _type_error(tname, v)
            try:
                return bytes(v)
            except ValueError:
                raise ValueError(f"element out of range for WIT type `{tname}`") from None
            except TypeError:
                raise _type_error(tname, v) from None

        def write_u8(cx: Any, data: Any, ptr: int) -> None:
            cx.mv[ptr : ptr + len(data)] = data

        return prep_u8, write_u8
    if name in _ARRAY_CODES and _LITTLE and array(_ARRAY_CODES[name]).itemsize == es:
        code = _ARRAY_CODES[name]
        is_float = name in ("f32", "f64")

        def prep_array(v: Any) -> Any:
            if isinstance(v, str | bytes) or not hasattr(v, "__iter__"):
                raise _type_error(tname, v)
            try:
                return array(code, v)
            except OverflowError:
                raise ValueError(f"element out of range for WIT type `{tname}`") from None
            except TypeError:
                if is_float:
                    return array(code, [_to_float(str(t), x) for x in v])
                raise _type_error(tname, v) from None

        def write_array(cx: Any, arr: Any, ptr: int) -> None:
            b = memoryview(arr).cast("B")
            cx.mv[ptr : ptr + len(b)] = b

        return prep_array, write_array
    store = ec.store

    def prep(v: Any) -> Any:
        if (isinstance(v, str) and name != "char") or isinstance(v, bytes):
            raise _type_error(tname, v)
        if not hasattr(v, "__len__"):
            if not hasattr(v, "__iter__"):
                raise _type_error(tname, v)
            v = list(v)
        return v

    def write(cx: Any, seq: Any, ptr: int) -> None:
        for i, e in enumerate(seq):
            store(cx, e, ptr + i * es)

    return prep, write


def _list_codec(t: ListType, enc: str, ptr_type: str, classes: ClassMap | None = None) -> Codec:
    et = t.t
    ec = get_codec(et, enc, ptr_type, classes)
    es = ec.size
    ea = ec.align
    if t.length is not None:
        return _fixed_list_codec(t, ec, ptr_type)
    read = elements_reader(et, ec)
    prep, write = elements_writer(et, ec)
    pst = struct.Struct("<II" if ptr_type == "i32" else "<QQ")
    p_unpack = pst.unpack_from
    p_pack = pst.pack_into
    pmask = M32 if ptr_type == "i32" else M64
    # What each element costs against the lift budget: its size, and at least
    # one byte, so a list of empty elements cannot be made arbitrarily long.
    charge = es or 1

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
        cx.check_range(ptr, ea, nbytes, "list")
        used = cx.lift_used + n * charge  # the lift budget (see wasmloom.abi.context)
        if used > cx.lift_cap:
            cx.check_lift_budget(used)
        cx.lift_used = used
        return read(cx, ptr, n)

    def lower_range(cx: Any, v: Any) -> tuple[int, int]:
        seq = prep(v)
        n = len(seq)
        nbytes = n * es
        ptr = cx.allocate(ea, nbytes)
        cx.check_alloc(ptr, ea, nbytes, "list")
        write(cx, seq, ptr)
        return ptr, n

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

    return Codec(t, ptr_type, load, store, lift_flat, lower_flat, False)


def _fixed_list_codec(t: ListType, ec: Codec, ptr_type: str) -> Codec:
    n = t.length
    assert n is not None
    es = ec.size
    eload, estore, elift, elower = ec.load, ec.store, ec.lift_flat, ec.lower_flat
    tname = str(t)

    def check(v: Any) -> Any:
        if isinstance(v, str) or not hasattr(v, "__len__"):
            raise _type_error(tname, v)
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


def _map_codec(t: MapType, enc: str, ptr_type: str, classes: ClassMap | None = None) -> Codec:
    pair = TupleType((t.k, t.v))
    lc = get_codec(ListType(pair), enc, ptr_type, classes)
    lload, lstore, llift, llower = lc.load, lc.store, lc.lift_flat, lc.lower_flat
    tname = str(t)

    def to_pairs(v: Any) -> Any:
        if isinstance(v, Mapping):
            return list(v.items())
        if isinstance(v, list | tuple):
            return v
        raise _type_error(tname, v)

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


# --- records and tuples ------------------------------------------------------------------


def _record_codec(t: RecordType, enc: str, ptr_type: str, classes: ClassMap | None = None) -> Codec:
    offs = field_offsets(t.fields, ptr_type)
    fcs = [get_codec(f.t, enc, ptr_type, classes) for f in t.fields]
    cls = None if classes is None else classes.get(t)
    names = [py_name(f.label) for f in t.fields]
    if cls is not None:
        match_args = getattr(cls, "__match_args__", None)
        if match_args is not None and len(match_args) == len(names):
            names = list(match_args)
    labels = [f.label for f in t.fields]
    loads = list(zip(names, offs, [c.load for c in fcs], strict=True))
    stores = list(zip(names, labels, offs, [c.store for c in fcs], strict=True))
    lifts = list(zip(names, [c.lift_flat for c in fcs], strict=True))
    lowers = list(zip(names, labels, [c.lower_flat for c in fcs], strict=True))
    tname = str(t)
    new = Record.__new__

    def get(v: Any, name: str, label: str) -> Any:
        if isinstance(v, dict):
            if label in v:
                return v[label]
            if name in v:
                return v[name]
            raise TypeError(f"missing field `{label}` for WIT type `{tname}`")
        try:
            return getattr(v, name)
        except AttributeError:
            raise TypeError(
                f"expected a Record (or an object/dict with field `{label}`) for WIT type "
                f"`{tname}`, got {type(v).__name__}"
            ) from None

    def load(cx: Any, p: int) -> Any:
        r = new(Record)
        d = r.__dict__
        for name, off, ld in loads:
            d[name] = ld(cx, p + off)
        return r

    def store(cx: Any, v: Any, p: int) -> None:
        for name, label, off, st in stores:
            st(cx, get(v, name, label), p + off)

    def lift_flat(cx: Any, it: Iterator[Any]) -> Any:
        r = new(Record)
        d = r.__dict__
        for name, lf in lifts:
            d[name] = lf(cx, it)
        return r

    def lower_flat(cx: Any, v: Any, out: list[Any]) -> None:
        for name, label, lo in lowers:
            lo(cx, get(v, name, label), out)

    if cls is not None:
        # Unrolled once per record type: the class is called with each field's
        # value in order, with no intermediate list.
        env: dict[str, Any] = {"cls": cls}
        for i, c in enumerate(fcs):
            env[f"ld{i}"] = c.load
            env[f"lf{i}"] = c.lift_flat
        load_args = ", ".join(f"ld{i}(cx, p + {off})" for i, off in enumerate(offs))
        lift_args = ", ".join(f"lf{i}(cx, it)" for i in range(len(fcs)))
        exec(
            f"def load_cls(cx, p):\n    return cls({load_args})\n"
            f"def lift_flat_cls(cx, it):\n    return cls({lift_args})\n",
            env,
        )
        load_cls = env["load_cls"]
        lift_flat_cls = env["lift_flat_cls"]

        pure = all(c.pure for c in fcs)
        return Codec(t, ptr_type, load_cls, store, lift_flat_cls, lower_flat, pure)
    return Codec(t, ptr_type, load, store, lift_flat, lower_flat, all(c.pure for c in fcs))


def _tuple_codec(t: TupleType, enc: str, ptr_type: str, classes: ClassMap | None = None) -> Codec:
    rt = despecialize_abi(t)
    assert isinstance(rt, RecordType)
    offs = field_offsets(rt.fields, ptr_type)
    fcs = [get_codec(ti, enc, ptr_type, classes) for ti in t.ts]
    loads = list(zip(offs, [c.load for c in fcs], strict=True))
    stores = list(zip(offs, [c.store for c in fcs], strict=True))
    lifts = [c.lift_flat for c in fcs]
    lowers = [c.lower_flat for c in fcs]
    n = len(fcs)
    tname = str(t)

    def check(v: Any) -> Any:
        if isinstance(v, str) or not hasattr(v, "__len__"):
            raise _type_error(tname, v)
        if len(v) != n:
            raise ValueError(f"expected {n} elements for WIT type `{tname}`, got {len(v)}")
        return v

    def load(cx: Any, p: int) -> Any:
        return tuple([ld(cx, p + off) for off, ld in loads])

    def store(cx: Any, v: Any, p: int) -> None:
        for (off, st), e in zip(stores, check(v), strict=True):
            st(cx, e, p + off)

    def lift_flat(cx: Any, it: Iterator[Any]) -> Any:
        return tuple([lf(cx, it) for lf in lifts])

    def lower_flat(cx: Any, v: Any, out: list[Any]) -> None:
        for lo, e in zip(lowers, check(v), strict=True):
            lo(cx, e, out)

    return Codec(t, ptr_type, load, store, lift_flat, lower_flat, all(c.pure for c in fcs))


# --- variants (variant, enum, option, result) ---------------------------------------------


def _coercer(have: str, want: str) -> Callable[[Any], Any] | None:
    """Lifting: turn a joined flat slot of type ``have`` into the case's own ``want``."""
    if have == want:
        return None
    if have == "i32" and want == "f32":
        return _f32_from_bits
    if have == "i64" and want == "i32":
        return lambda x: x & M32
    if have == "i64" and want == "f32":
        return _f32_from_bits
    if have == "i64" and want == "f64":
        return _f64_from_bits
    raise AssertionError((have, want))


def _encoder(have: str, want: str) -> Callable[[Any], Any] | None:
    """Lowering: turn a case's flat value of type ``have`` into the joined slot type ``want``."""
    if have == want:
        return None
    if have == "f32":
        return _f32_bits
    if have == "f64":
        return _f64_bits
    return None  # i32 -> i64: unsigned ints need no change


def _variant_core(
    t: ValType,
    cases: tuple[Any, ...],
    enc: str,
    ptr_type: str,
    make: Callable[[int, Any], Any],
    match: Callable[[Any], tuple[int, Any]],
    classes: ClassMap | None = None,
) -> Codec:
    vt = despecialize_abi(t)
    assert isinstance(vt, VariantType)
    ncases = len(cases)
    dt = discriminant_type(vt.cases)
    dcode = {"u8": "B", "u16": "H", "u32": "I"}[dt.name]
    dst = struct.Struct("<" + dcode)
    d_unpack = dst.unpack_from
    d_pack = dst.pack_into
    poff = payload_offset(vt.cases, ptr_type)
    # The payload types come from ``cases``, not from ``vt``: despecialize_abi is
    # cached by shape, so ``vt`` may hold a same-shaped type of another name.
    payloads = [c.t if isinstance(c, CaseType) else c for c in cases]
    ccs = [None if pt is None else get_codec(pt, enc, ptr_type, classes) for pt in payloads]
    cloads = [None if c is None else c.load for c in ccs]
    cstores = [None if c is None else c.store for c in ccs]
    flat = flatten_type(vt, ptr_type)[1:]
    nslots = len(flat)
    zeros = [0.0 if f in ("f32", "f64") else 0 for f in flat]
    lift_plans: list[Any] = []
    lower_plans: list[Any] = []
    for c in ccs:
        if c is None:
            lift_plans.append(None)
            lower_plans.append(None)
            continue
        cf = c.flat
        conv = [_coercer(flat[i], want) for i, want in enumerate(cf)]
        enc_ = [_encoder(have, flat[i]) for i, have in enumerate(cf)]
        lift_plans.append((c.lift_flat, conv if any(conv) else None))
        lower_plans.append((c.lower_flat, enc_ if any(enc_) else None, zeros[len(cf) :]))

    def bad_disc() -> Trap:
        return Trap("invalid variant discriminant")

    def load(cx: Any, p: int) -> Any:
        i = d_unpack(cx.mv, p)[0]
        if i >= ncases:
            raise bad_disc()
        ld = cloads[i]
        return make(i, None if ld is None else ld(cx, p + poff))

    def store(cx: Any, v: Any, p: int) -> None:
        i, pv = match(v)
        d_pack(cx.mv, p, i)
        st = cstores[i]
        if st is not None:
            st(cx, pv, p + poff)

    def lift_flat(cx: Any, it: Iterator[Any]) -> Any:
        i = next(it) & M32
        slots = [next(it) for _ in range(nslots)] if nslots else ()
        if i >= ncases:
            raise bad_disc()
        plan = lift_plans[i]
        if plan is None:
            return make(i, None)
        lf, conv = plan
        if conv is None:
            return make(i, lf(cx, iter(slots)))
        vals = [x if cv is None else cv(x) for cv, x in zip(conv, slots, strict=False)]
        return make(i, lf(cx, iter(vals)))

    def lower_flat(cx: Any, v: Any, out: list[Any]) -> None:
        i, pv = match(v)
        out.append(i)
        plan = lower_plans[i]
        if plan is None:
            out.extend(zeros)
            return
        lo, encs, pad = plan
        if encs is None:
            lo(cx, pv, out)
        else:
            tmp: list[Any] = []
            lo(cx, pv, tmp)
            out.extend([x if e is None else e(x) for e, x in zip(encs, tmp, strict=True)])
        if pad:
            out.extend(pad)

    pure = all(c is None or c.pure for c in ccs)
    return Codec(t, ptr_type, load, store, lift_flat, lower_flat, pure)


def _variant_codec(
    t: VariantType, enc: str, ptr_type: str, classes: ClassMap | None = None
) -> Codec:
    labels = [c.label for c in t.cases]
    index = {label: i for i, label in enumerate(labels)}
    tname = str(t)

    def make(i: int, pv: Any) -> Any:
        return Variant(labels[i], pv)

    def match(v: Any) -> tuple[int, Any]:
        if isinstance(v, Variant):
            i = index.get(v.tag)
            if i is None:
                raise ValueError(f"unknown case {v.tag!r} for WIT type `{tname}`")
            return i, v.value
        tag = getattr(v, "tag", None)
        if isinstance(tag, str):  # any object with a case label and a payload
            i = index.get(tag)
            if i is None:
                raise ValueError(f"unknown case {tag!r} for WIT type `{tname}`")
            return i, getattr(v, "value", None)
        raise _type_error(tname, v)

    case_classes = None if classes is None else classes.get(t)
    if case_classes is not None:
        ctors = list(case_classes)
        has_payload = [c.t is not None for c in t.cases]
        by_class = {c: i for i, c in enumerate(ctors)}
        generic_match = match

        def make_cls(i: int, pv: Any) -> Any:
            return ctors[i](pv) if has_payload[i] else ctors[i]()

        def match_cls(v: Any) -> tuple[int, Any]:
            i = by_class.get(v.__class__)
            if i is None:
                return generic_match(v)
            return i, v.value if has_payload[i] else None

        return _variant_core(t, t.cases, enc, ptr_type, make_cls, match_cls, classes)
    return _variant_core(t, t.cases, enc, ptr_type, make, match, classes)


def _enum_codec(t: EnumType, enc: str, ptr_type: str, classes: ClassMap | None = None) -> Codec:
    given = None if classes is None else classes.get(t)
    cls = enum_class(t) if given is None else given
    members = list(cls)
    index: dict[Any, int] = {}
    for i, m in enumerate(members):
        index[m] = i
        index[t.labels[i]] = i
    tname = str(t)
    n = len(members)
    dt = discriminant_type(n)
    dst = struct.Struct("<" + {"u8": "B", "u16": "H", "u32": "I"}[dt.name])
    d_unpack = dst.unpack_from
    d_pack = dst.pack_into

    def match(v: Any) -> int:
        try:
            i = index.get(v)
        except TypeError:
            i = None
        if i is None:
            if isinstance(v, enum.Enum) and v.value in index:
                return index[v.value]
            if isinstance(v, str):
                raise ValueError(f"unknown case {v!r} for WIT type `{tname}`")
            raise _type_error(tname, v)
        return i

    def load(cx: Any, p: int) -> Any:
        i = d_unpack(cx.mv, p)[0]
        if i >= n:
            raise Trap("invalid variant discriminant")
        return members[i]

    def store(cx: Any, v: Any, p: int) -> None:
        d_pack(cx.mv, p, match(v))

    def lift_flat(cx: Any, it: Iterator[Any]) -> Any:
        i = next(it) & M32
        if i >= n:
            raise Trap("invalid variant discriminant")
        return members[i]

    def lower_flat(cx: Any, v: Any, out: list[Any]) -> None:
        out.append(match(v))

    return Codec(t, ptr_type, load, store, lift_flat, lower_flat, True)


def _option_codec(t: OptionType, enc: str, ptr_type: str, classes: ClassMap | None = None) -> Codec:
    nested = isinstance(t.t, OptionType)
    tname = str(t)

    def make(i: int, pv: Any) -> Any:
        if i == 0:
            return None
        return Some(pv) if nested else pv

    def match(v: Any) -> tuple[int, Any]:
        if v is None:
            return 0, None
        if isinstance(v, Some):
            return 1, v.value
        if nested:
            raise TypeError(
                f"expected None or Some(...) for WIT type `{tname}`, got {type(v).__name__}"
            )
        return 1, v

    return _variant_core(t, (None, t.t), enc, ptr_type, make, match, classes)


def _result_codec(t: ResultType, enc: str, ptr_type: str, classes: ClassMap | None = None) -> Codec:
    tname = str(t)

    def make(i: int, pv: Any) -> Any:
        return Ok(pv) if i == 0 else Err(pv)

    def match(v: Any) -> tuple[int, Any]:
        cls = v.__class__
        if cls is Ok:
            return 0, v.value
        if cls is Err:
            return 1, v.value
        if isinstance(v, Ok):
            return 0, v.value
        if isinstance(v, Err):
            return 1, v.value
        raise TypeError(
            f"expected Ok(...) or Err(...) for WIT type `{tname}`, got {type(v).__name__}"
        )

    return _variant_core(t, (t.ok, t.error), enc, ptr_type, make, match, classes)


# --- flags ---------------------------------------------------------------------------------


def _flags_codec(t: FlagsType, ptr_type: str, classes: ClassMap | None = None) -> Codec:
    given = None if classes is None else classes.get(t)
    cls = flags_class(t) if given is None else given
    n = len(t.labels)
    mask = (1 << n) - 1
    bit_of = {label: 1 << i for i, label in enumerate(t.labels)}
    for m in cls:
        assert m.name is not None
        bit_of[m.name] = m.value
    st = struct.Struct("<" + ("B" if n <= 8 else "H" if n <= 16 else "I"))
    unpack_from = st.unpack_from
    pack_into = st.pack_into
    tname = str(t)

    def to_bits(v: Any) -> int:
        if isinstance(v, cls):
            return v.value
        if isinstance(v, str) or not hasattr(v, "__iter__"):
            raise _type_error(tname, v)
        bits = 0
        for x in v:
            name = x.name if isinstance(x, enum.Flag) else x
            b = bit_of.get(name) if isinstance(name, str) else None
            if b is None:
                raise ValueError(f"unknown flag {x!r} for WIT type `{tname}`")
            bits |= b
        return bits

    def load(cx: Any, p: int) -> Any:
        return cls(unpack_from(cx.mv, p)[0] & mask)

    def store(cx: Any, v: Any, p: int) -> None:
        pack_into(cx.mv, p, to_bits(v))

    def lift_flat(cx: Any, it: Iterator[Any]) -> Any:
        return cls(next(it) & mask)

    def lower_flat(cx: Any, v: Any, out: list[Any]) -> None:
        out.append(to_bits(v))

    return Codec(t, ptr_type, load, store, lift_flat, lower_flat, True)


# --- handles ----------------------------------------------------------------------------------

_I32 = struct.Struct("<I")


def _handle_codec(
    t: ValType, ptr_type: str, lift: Callable[[Any, int], Any], lower: Callable[[Any, Any], int]
) -> Codec:
    unpack_from = _I32.unpack_from
    pack_into = _I32.pack_into

    def load(cx: Any, p: int) -> Any:
        return lift(cx, unpack_from(cx.mv, p)[0])

    def store(cx: Any, v: Any, p: int) -> None:
        pack_into(cx.mv, p, lower(cx, v))

    def lift_flat(cx: Any, it: Iterator[Any]) -> Any:
        return lift(cx, next(it) & M32)

    def lower_flat(cx: Any, v: Any, out: list[Any]) -> None:
        out.append(lower(cx, v))

    return Codec(t, ptr_type, load, store, lift_flat, lower_flat, True)


def _resource_codec(
    t: OwnType | BorrowType, ptr_type: str, classes: ClassMap | None = None
) -> Codec:
    rt = t.rt
    own = isinstance(t, OwnType)
    tname = str(t)
    conv = None if classes is None else classes.get(t)
    if conv is not None:
        from_rep, to_rep = conv
        lift_h, lower_h = (lift_own, lower_own) if own else (lift_borrow, lower_borrow)
        return _handle_codec(
            t,
            ptr_type,
            lambda cx, i: from_rep(lift_h(cx, i, rt)),
            lambda cx, v: lower_h(cx, to_rep(v), rt),
        )

    def check(v: Any) -> int:
        if not isinstance(v, Resource):
            raise _type_error(tname, v)
        if v.rt is not rt:
            raise TypeError(f"resource of type `{v.rt.name}` passed for WIT type `{tname}`")
        if own and not v.own:
            raise TypeError(f"a borrowed resource cannot be passed as `{tname}`")
        return v.rep

    if own:
        return _handle_codec(
            t,
            ptr_type,
            lambda cx, i: Resource(rt, lift_own(cx, i, rt), True),
            lambda cx, v: lower_own(cx, check(v), rt),
        )
    return _handle_codec(
        t,
        ptr_type,
        lambda cx, i: Resource(rt, lift_borrow(cx, i, rt), False),
        lambda cx, v: lower_borrow(cx, check(v), rt),
    )


def _async_value_codec(t: ValType, ptr_type: str) -> Codec:
    kind = type(t)

    def hooks() -> Any:
        h = ASYNC_VALUE_HOOKS.get(kind)
        if h is None:
            raise NotImplementedError(f"lifting/lowering `{t}` values is not available")
        return h

    def lift(cx: Any, i: int) -> Any:
        v = hooks()[0](cx, i, t)
        w = HOST_ASYNC_WRAP.get(kind)
        if w is not None and not cx.fused:
            v = w[0](cx, v, t)
        return v

    def lower(cx: Any, v: Any) -> int:
        w = HOST_ASYNC_WRAP.get(kind)
        if w is not None:
            taken = getattr(cx, "taken", None)
            if taken is None:
                v = w[1](cx, v, t)
            else:
                shared = getattr(v, "shared", None)
                before = getattr(shared, "t", None)
                u = w[1](cx, v, t)
                if u is not v:
                    taken.append((v, before))
                v = u
        return hooks()[1](cx, v, t)  # type: ignore[no-any-return]

    return _handle_codec(t, ptr_type, lift, lower)


# --- dispatch ------------------------------------------------------------------------------


def _build(t: ValType, enc: str, ptr_type: str, classes: ClassMap | None = None) -> Codec:
    if isinstance(t, PrimType):
        return _prim_codec(t, enc, ptr_type)
    if isinstance(t, ListType):
        return _list_codec(t, enc, ptr_type, classes)
    if isinstance(t, RecordType):
        return _record_codec(t, enc, ptr_type, classes)
    if isinstance(t, TupleType):
        return _tuple_codec(t, enc, ptr_type, classes)
    if isinstance(t, VariantType):
        return _variant_codec(t, enc, ptr_type, classes)
    if isinstance(t, EnumType):
        return _enum_codec(t, enc, ptr_type, classes)
    if isinstance(t, OptionType):
        return _option_codec(t, enc, ptr_type, classes)
    if isinstance(t, ResultType):
        return _result_codec(t, enc, ptr_type, classes)
    if isinstance(t, FlagsType):
        return _flags_codec(t, ptr_type, classes)
    if isinstance(t, MapType):
        return _map_codec(t, enc, ptr_type, classes)
    if isinstance(t, OwnType | BorrowType):
        return _resource_codec(t, ptr_type, classes)
    if isinstance(t, StreamType | FutureType | ErrorContextType):
        return _async_value_codec(t, ptr_type)
    raise TypeError(f"no canonical ABI for {t!r}")
