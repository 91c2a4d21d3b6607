"""Strings in the canonical ABI: lifting and lowering in all three encodings.

Lowering reproduces the spec's ``store_string_into_range`` exactly, including
the sequence and arguments of realloc calls (worst-case allocation, then
shrink), because the spec tests observe them. How much is allocated depends on
the *source* encoding and code-unit count: a host ``str`` counts as UTF-8 whose
code units are its UTF-8 bytes; a string lifted with ``cx.fused`` set is a
:class:`WasmStr` that remembers the encoding and code units it was lifted from,
so transcoding between components (lift with one context, lower with another)
is exact.

Between components a string may be up to 2^31-1 bytes, as in Wasmtime's
adapters. One longer than the host decodes at once (``MAX_STRING_BYTE_LENGTH``)
lifts as a :class:`BigWasmStr`, where it lies in the source memory, and lowers
in the order of Wasmtime's adapters: the destination's length limit, then its
``realloc``, each time before the bytes it needs are read. Only what such a
lowering decodes into Python counts against the lift budget; a copy in the
same encoding goes memory to memory.
"""

from __future__ import annotations

import re
from typing import Any

from wasmloom.abi.layout import MAX_STRING_BYTE_LENGTH
from wasmloom.errors import Trap

__all__ = ["BigWasmStr", "WasmStr", "lift_string", "lower_string", "utf16_tag"]

#: The longest string in bytes, in any encoding, that may pass between components.
MAX_FUSED_STRING_BYTES = (1 << 31) - 1
_FUSED_OOB = "wasm trap: string content out-of-bounds"


class WasmStr(str):
    """A ``str`` lifted from a component, with its source ``encoding`` and ``code_units``.

    ``encoding`` is the source's simple encoding (``'utf8'``, ``'utf16'`` or
    ``'latin1'``), ``option`` its ``string-encoding`` option and ``code_units``
    the untagged code-unit count.
    """

    encoding: str
    option: str
    code_units: int


class BigWasmStr:
    """A string lifted between components that is too long to decode before it is lowered.

    ``memory``, ``ptr`` and ``nbytes`` say where it lies; ``encoding``,
    ``option`` and ``code_units`` are as in :class:`WasmStr`.
    """

    __slots__ = ("code_units", "encoding", "memory", "nbytes", "option", "ptr")

    def __init__(self, memory: Any, ptr: int, nbytes: int, encoding: str, option: str, cu: int):
        self.memory = memory
        self.ptr = ptr
        self.nbytes = nbytes
        self.encoding = encoding
        self.option = option
        self.code_units = cu

    def raw(self, start: int = 0, end: int | None = None) -> memoryview:
        """Bytes ``start:end`` of the string, in a view of the memory as it is now."""
        stop = self.nbytes if end is None else end
        view: memoryview = self.memory.view()
        return view[self.ptr + start : self.ptr + stop]

    def decode(self, nbytes: int | None = None) -> str:
        """The string (or its first ``nbytes`` bytes) decoded."""
        codec = _CODECS[self.encoding]
        try:
            return str(self.raw(0, nbytes), codec)
        except UnicodeDecodeError as e:
            raise _decode_error(e, codec) from None


_CODECS = {"utf8": "utf-8", "utf16": "utf-16-le", "latin1": "latin-1"}


def utf16_tag(ptr_type: str) -> int:
    return 1 << 31 if ptr_type == "i32" else 1 << 63


def _decode_error(e: UnicodeDecodeError, encoding: str) -> Trap:
    if encoding == "utf-8":
        if e.reason == "unexpected end of data":
            return Trap("incomplete utf-8 byte sequence")
        return Trap("invalid utf-8")
    return Trap("invalid utf-16")


# --- lifting ----------------------------------------------------------------------


def lift_string(cx: Any, ptr: int, tagged_code_units: int) -> str:
    """``load_string_from_range``: decode a string from ``cx``'s memory (ints any range)."""
    mask = cx.ptr_mask
    ptr &= mask
    tagged_code_units &= mask
    enc = cx.string_encoding
    if enc == "utf8":
        align = 1
        nbytes = tagged_code_units
        codec = "utf-8"
        simple = "utf8"
        cu = tagged_code_units
    elif enc == "utf16":
        align = 2
        nbytes = 2 * tagged_code_units
        codec = "utf-16-le"
        simple = "utf16"
        cu = tagged_code_units
    else:
        align = 2
        tag = utf16_tag(cx.ptr_type)
        if tagged_code_units & tag:
            cu = tagged_code_units ^ tag
            nbytes = 2 * cu
            codec = "utf-16-le"
            simple = "utf16"
        else:
            cu = nbytes = tagged_code_units
            codec = "latin-1"
            simple = "latin1"
    # Alignment first, then bounds, then the length (Wasmtime's order).
    if ptr & (align - 1) or ptr + nbytes > len(cx.mv):
        cx.check_range(ptr, align, nbytes, "string")  # traps, or re-derives the view
    mv = cx.mv  # after the check, which may re-derive it
    used = cx.lift_used + nbytes  # the lift budget (see wasmloom.abi.context)
    if nbytes > MAX_STRING_BYTE_LENGTH:
        if not cx.fused:
            raise Trap("string pointer/length out of bounds of memory")
        if nbytes > MAX_FUSED_STRING_BYTES:
            raise Trap(_FUSED_OOB)
        # Not read yet: the lift budget counts what lowering decodes (see _lower_big).
        return BigWasmStr(cx.memory, ptr, nbytes, simple, enc, cu)  # type: ignore[return-value]
    if used > cx.lift_cap:
        cx.check_lift_budget(used)
    cx.lift_used = used
    try:
        s = str(mv[ptr : ptr + nbytes], codec)
    except UnicodeDecodeError as e:
        raise _decode_error(e, codec) from None
    if cx.fused:
        w = WasmStr(s)
        w.encoding = simple
        w.option = enc
        w.code_units = cu
        return w
    return s


# --- lowering -----------------------------------------------------------------------

_NON_ASCII_BYTE = re.compile(b"[\x80-\xff]")
_NON_LATIN1 = re.compile("[^\x00-\xff]")


def _host_utf8(v: Any) -> bytes:
    if not isinstance(v, str):
        raise TypeError(f"expected a str for WIT type `string`, got {type(v).__name__}")
    try:
        return v.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            "str for WIT type `string` contains a lone surrogate, which is not a Unicode scalar value"
        ) from None


def lower_string(cx: Any, v: Any) -> tuple[int, int]:
    """``store_string_into_range``: allocate and write ``v``; return (ptr, tagged code units)."""
    dst = cx.string_encoding
    if dst == "utf8" and v.__class__ is str:  # the common case, in line
        try:
            b = v.encode("utf-8")
        except UnicodeEncodeError:
            b = _host_utf8(v)  # raises
        return _copy(cx, b, len(b), 1)
    if type(v) is BigWasmStr:
        return _lower_big(cx, v)
    if type(v) is WasmStr:
        src_option = v.option
        src = v.encoding
        cu = v.code_units
        encoded: bytes | None = None
    else:
        encoded = _host_utf8(v)
        src_option = src = "utf8"
        cu = len(encoded)
    if dst == "utf8":
        if src == "utf8":
            if encoded is None:
                encoded = v.encode("utf-8")
            return _copy(cx, encoded, cu, 1)
        return _to_utf8(cx, v, cu, 3 * cu if src == "utf16" else 2 * cu)
    if dst == "utf16":
        if src == "utf8":
            return _utf8_to_utf16(cx, v, cu)
        return _copy(cx, v.encode("utf-16-le"), cu, 2)
    # latin1+utf16
    if src_option != "latin1+utf16":
        return _to_latin1_or_utf16(cx, v, cu)
    if src == "latin1":
        return _copy(cx, v.encode("latin-1"), cu, 2)
    return _probably_utf16_to_latin1_or_utf16(cx, v, cu)


def _copy(cx: Any, encoded: bytes, code_units: int, align: int) -> tuple[int, int]:
    """``store_string_copy``: one allocation of exactly the encoded size."""
    n = len(encoded)
    ptr = cx.reallocate(0, 0, align, n)
    if ptr & (align - 1) or ptr + n > len(cx.mv):
        cx.check_alloc(ptr, align, n, "string")  # traps, or re-derives the view
    cx.mv[ptr : ptr + n] = encoded
    return ptr, code_units


def _to_utf8(cx: Any, s: str, cu: int, worst: int) -> tuple[int, int]:
    """``store_string_to_utf8`` from UTF-16 or Latin-1 source."""
    ptr = cx.allocate(1, cu)
    cx.check_alloc(ptr, 1, cu, "string")
    encoded = s.encode("utf-8")
    m = _NON_ASCII_BYTE.search(encoded)
    if m is None:
        cx.mv[ptr : ptr + cu] = encoded
        return ptr, cu
    i = m.start()
    cx.mv[ptr : ptr + i] = encoded[:i]
    ptr = cx.reallocate(ptr, cu, 1, worst)
    cx.check_alloc(ptr, 1, worst, "string")
    n = len(encoded)
    cx.mv[ptr + i : ptr + n] = encoded[i:]
    if worst > n:
        ptr = cx.reallocate(ptr, worst, 1, n)
        cx.check_alloc(ptr, 1, n, "string")
    return ptr, n


def _utf8_to_utf16(cx: Any, s: str, cu: int) -> tuple[int, int]:
    """``store_utf8_to_utf16``: allocate the worst case, then shrink."""
    worst = 2 * cu
    ptr = cx.allocate(2, worst)
    cx.check_alloc(ptr, 2, worst, "string")
    encoded = s.encode("utf-16-le")
    n = len(encoded)
    cx.mv[ptr : ptr + n] = encoded
    if n < worst:
        ptr = cx.reallocate(ptr, worst, 2, n)
        cx.check_alloc(ptr, 2, n, "string")
    return ptr, n // 2


def _to_latin1_or_utf16(cx: Any, s: str, cu: int) -> tuple[int, int]:
    """``store_string_to_latin1_or_utf16`` from UTF-8 or UTF-16 source."""
    ptr = cx.allocate(2, cu)
    cx.check_alloc(ptr, 2, cu, "string")
    m = _NON_LATIN1.search(s)
    if m is None:
        latin1 = s.encode("latin-1")
        n = len(latin1)
        cx.mv[ptr : ptr + n] = latin1
        if n < cu:
            ptr = cx.reallocate(ptr, cu, 2, n)
            cx.check_alloc(ptr, 2, n, "string")
        return ptr, n
    j = m.start()
    cx.mv[ptr : ptr + j] = s[:j].encode("latin-1")
    worst = 2 * cu
    ptr = cx.reallocate(ptr, cu, 2, worst)
    cx.check_alloc(ptr, 2, worst, "string")
    # Inflate the Latin-1 prefix in place (as realloc left it), then write the rest.
    mv = cx.mv
    inflated = bytearray(2 * j)
    inflated[0::2] = mv[ptr : ptr + j]
    mv[ptr : ptr + 2 * j] = inflated
    encoded = s.encode("utf-16-le")
    n = len(encoded)
    mv[ptr + 2 * j : ptr + n] = encoded[2 * j :]
    if worst > n:
        ptr = cx.reallocate(ptr, worst, 2, n)
        cx.check_alloc(ptr, 2, n, "string")
    return ptr, (n // 2) | utf16_tag(cx.ptr_type)


def _probably_utf16_to_latin1_or_utf16(cx: Any, s: str, cu: int) -> tuple[int, int]:
    """``store_probably_utf16_to_latin1_or_utf16``: write UTF-16, compact to Latin-1 if possible."""
    nbytes = 2 * cu
    ptr = cx.allocate(2, nbytes)
    cx.check_alloc(ptr, 2, nbytes, "string")
    encoded = s.encode("utf-16-le")
    n = len(encoded)
    cx.mv[ptr : ptr + n] = encoded
    if _NON_LATIN1.search(s) is not None:
        return ptr, (n // 2) | utf16_tag(cx.ptr_type)
    latin1 = s.encode("latin-1")
    size = len(latin1)
    cx.mv[ptr : ptr + size] = latin1
    ptr = cx.reallocate(ptr, nbytes, 1, size)
    cx.check_alloc(ptr, 1, size, "string")
    return ptr, size


# --- strings too long to decode at once, between components -----------------------------

_ASCII_UNITS16 = re.compile(b"(?:[\x00-\x7f]\x00)*")
_LATIN1_UNITS16 = re.compile(b"(?:[\x00-\xff]\x00)*")
_ABOVE_LATIN1_UTF8 = re.compile(b"[\xc4-\xff]")


def _limit(cu: int, width: int) -> None:
    """Wasmtime's check before an allocation of ``cu`` units of ``width`` bytes."""
    if cu > MAX_FUSED_STRING_BYTES // width:
        raise Trap(_FUSED_OOB)


def _widens_at(v: BigWasmStr, compact: bool) -> int | None:
    """The byte offset of the first character of ``v`` above ASCII (above Latin-1 if
    ``compact``), found in its raw bytes; None if it has none."""
    raw = v.raw()
    if v.encoding == "utf16":
        m = (_LATIN1_UNITS16 if compact else _ASCII_UNITS16).match(raw)
        assert m is not None
        end = m.end() & ~1
        return None if end >= len(raw) else end
    found = (_ABOVE_LATIN1_UTF8 if compact else _NON_ASCII_BYTE).search(raw)
    return None if found is None else found.start()


def _decode(cx: Any, v: BigWasmStr, nbytes: int | None = None) -> str:
    """``v.decode(nbytes)``, its bytes counted against the lift budget first (a copy in
    the same encoding goes memory to memory and decodes nothing)."""
    used = cx.lift_used + (v.nbytes if nbytes is None else nbytes)
    if used > cx.lift_cap:
        cx.check_lift_budget(used)
    cx.lift_used = used
    return v.decode(nbytes)


def _write(cx: Any, ptr: int, data: bytes) -> None:
    cx.mv[ptr : ptr + len(data)] = data


def _lower_big(cx: Any, v: BigWasmStr) -> tuple[int, int]:
    """Lower a :class:`BigWasmStr` with the realloc calls of :func:`lower_string`, each
    after Wasmtime's length check and before the source bytes it needs are read."""
    dst, src, cu = cx.string_encoding, v.encoding, v.code_units
    if (dst, src) in (("utf8", "utf8"), ("utf16", "utf16")) or (
        dst == "latin1+utf16" and src == "latin1" and v.option == "latin1+utf16"
    ):
        width = 1 if src != "utf16" else 2
        _limit(cu, width)
        align = 1 if dst == "utf8" else 2
        ptr = cx.allocate(align, cu * width)
        cx.check_alloc(ptr, align, cu * width, "string")
        cx.mv[ptr : ptr + v.nbytes] = v.raw()
        return ptr, cu
    if dst == "utf16":  # from utf8 or latin1: the worst case first
        _limit(cu, 2)
        ptr = cx.allocate(2, 2 * cu)
        cx.check_alloc(ptr, 2, 2 * cu, "string")
        encoded = _decode(cx, v).encode("utf-16-le")
        _write(cx, ptr, encoded)
        if len(encoded) < 2 * cu:
            ptr = cx.reallocate(ptr, 2 * cu, 2, len(encoded))
            cx.check_alloc(ptr, 2, len(encoded), "string")
        return ptr, len(encoded) // 2
    if dst == "latin1+utf16" and v.option == "latin1+utf16":  # tagged utf16 source
        _limit(cu, 2)
        ptr = cx.allocate(2, 2 * cu)
        cx.check_alloc(ptr, 2, 2 * cu, "string")
        return _finish(cx, ptr, 2 * cu, _decode(cx, v), compact=True, probably_utf16=True)
    # dst utf8 from utf16/latin1, or latin1+utf16 from utf8/utf16: narrow, widened on demand
    compact = dst == "latin1+utf16"
    _limit(cu, 2 if src == "utf16" else 1)
    align = 2 if compact else 1
    ptr = cx.allocate(align, cu)
    cx.check_alloc(ptr, align, cu, "string")
    at = _widens_at(v, compact)
    if at is None:
        s = _decode(cx, v)
        narrow = s.encode("latin-1" if compact else "utf-8")
        _write(cx, ptr, narrow)
        if compact and len(narrow) < cu:
            ptr = cx.reallocate(ptr, cu, 2, len(narrow))
            cx.check_alloc(ptr, 2, len(narrow), "string")
        return ptr, len(narrow)
    _write(cx, ptr, _decode(cx, v, at).encode("latin-1"))
    if compact:
        worst = 2 * cu
        _limit(cu, 2)
    else:
        factor = 3 if src == "utf16" else 2
        worst = factor * cu
        _limit(cu, factor)
    ptr = cx.reallocate(ptr, cu, align, worst)
    cx.check_alloc(ptr, align, worst, "string")
    return _finish(cx, ptr, worst, _decode(cx, v), compact=compact, probably_utf16=False)


def _finish(
    cx: Any, ptr: int, size: int, s: str, *, compact: bool, probably_utf16: bool
) -> tuple[int, int]:
    """Write ``s`` over the ``size`` bytes at ``ptr`` (UTF-16 if ``compact``, else UTF-8)
    and shrink the allocation to what was written."""
    if not compact:
        encoded = s.encode("utf-8")
        _write(cx, ptr, encoded)
        if len(encoded) < size:
            ptr = cx.reallocate(ptr, size, 1, len(encoded))
            cx.check_alloc(ptr, 1, len(encoded), "string")
        return ptr, len(encoded)
    encoded = s.encode("utf-16-le")
    _write(cx, ptr, encoded)
    if probably_utf16 and _NON_LATIN1.search(s) is None:
        latin1 = s.encode("latin-1")
        _write(cx, ptr, latin1)
        ptr = cx.reallocate(ptr, size, 1, len(latin1))
        cx.check_alloc(ptr, 1, len(latin1), "string")
        return ptr, len(latin1)
    if len(encoded) < size:
        ptr = cx.reallocate(ptr, size, 2, len(encoded))
        cx.check_alloc(ptr, 2, len(encoded), "string")
    return ptr, (len(encoded) // 2) | utf16_tag(cx.ptr_type)
