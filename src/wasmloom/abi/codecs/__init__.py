"""Lifting and lowering, specialised once per value type.

:func:`get_codec` builds (and caches per ``(type, string_encoding, ptr_type)``)
a :class:`Codec` whose four closures do the work for that type only:

- ``load(cx, ptr) -> value`` reads a value at a pointer already checked to be
  aligned and in bounds;
- ``store(cx, v, ptr)`` writes one, allocating (through ``cx``) what it points to;
- ``lift_flat(cx, it) -> value`` consumes core values from the iterator ``it``
  (ints in any range, signed or unsigned, are normalised); ``lift_values(cx,
  *flat)``, where a codec has it (handles, strings, lists, integers), does the same
  from its core values passed as arguments;
- ``lower_flat(cx, v, out)`` appends core values to the list ``out`` (ints
  unsigned, floats as ``float``); ``lower_value(cx, v)``, where a codec has it
  (handles, integers), returns the one core value instead.

Guest mistakes raise :class:`wasmloom.Trap` (Wasmtime's messages); host
mistakes (wrong Python type, out-of-range int, unknown case) raise ``TypeError``
or ``ValueError`` naming the WIT type.

The builders live by kind: :mod:`.scalars` (numbers, char, string),
:mod:`.lists` (lists, maps), :mod:`.records` (records, tuples),
:mod:`.variants` (variant, enum, option, result, flags) and :mod:`.handles`
(resources, streams, futures, error contexts); this module dispatches.
"""

from __future__ import annotations

from wasmloom.abi.codecs.base import Codec
from wasmloom.abi.codecs.classes import ClassMap, type_names
from wasmloom.abi.codecs.handles import (
    async_value_codec,
    resource_codec,
)
from wasmloom.abi.codecs.lists import elements_reader, elements_writer, list_codec, map_codec
from wasmloom.abi.codecs.records import record_codec, tuple_codec
from wasmloom.abi.codecs.scalars import prim_codec
from wasmloom.abi.codecs.variants import (
    enum_codec,
    flags_codec,
    option_codec,
    result_codec,
    variant_codec,
)
from wasmloom.types import (
    BorrowType,
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
)

__all__ = [
    "ClassMap",
    "Codec",
    "elements_reader",
    "elements_writer",
    "get_codec",
    "type_names",
]


_cache: dict[tuple[ValType, str, str], Codec] = {}
_class_cache: dict[tuple[ValType, tuple[str | None, ...], str, str, ClassMap], Codec] = {}
# Class maps whose converters refer to one instance's bindings (guest resources) are
# new per instance: the cache is emptied when full, so it never holds more than this.
_CLASS_CACHE_MAX = 1024


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
            if len(_class_cache) >= _CLASS_CACHE_MAX:
                _class_cache.clear()
            _class_cache[ckey] = c
        return c
    key = (t, string_encoding, ptr_type)
    c = _cache.get(key)
    if c is None:
        c = _build(t, string_encoding, ptr_type)
        _cache[key] = c
    return c


# --- dispatch ------------------------------------------------------------------------------


def _build(t: ValType, enc: str, ptr_type: str, classes: ClassMap | None = None) -> Codec:
    if isinstance(t, PrimType):
        return prim_codec(t, enc, ptr_type)
    if isinstance(t, ListType):
        return list_codec(t, enc, ptr_type, classes, get_codec)
    if isinstance(t, RecordType):
        return record_codec(t, enc, ptr_type, classes, get_codec)
    if isinstance(t, TupleType):
        return tuple_codec(t, enc, ptr_type, classes, get_codec)
    if isinstance(t, VariantType):
        return variant_codec(t, enc, ptr_type, classes, get_codec)
    if isinstance(t, EnumType):
        return enum_codec(t, enc, ptr_type, classes)
    if isinstance(t, OptionType):
        return option_codec(t, enc, ptr_type, classes, get_codec)
    if isinstance(t, ResultType):
        return result_codec(t, enc, ptr_type, classes, get_codec)
    if isinstance(t, FlagsType):
        return flags_codec(t, ptr_type, classes)
    if isinstance(t, MapType):
        return map_codec(t, enc, ptr_type, classes, get_codec)
    if isinstance(t, OwnType | BorrowType):
        return resource_codec(t, ptr_type, classes)
    if isinstance(t, StreamType | FutureType | ErrorContextType):
        return async_value_codec(t, ptr_type)
    raise TypeError(f"no canonical ABI for {t!r}")
