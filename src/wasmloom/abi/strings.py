"""Strings in the canonical ABI: lifting and lowering in all three encodings.

Lowering reproduces the spec's ``store_string_into_range`` exactly, including
the sequence and arguments of realloc calls (worst-case allocation, then
shrink), because the spec tests observe them. How much is allocated depends on
the *source* encoding and code-unit count: a host ``str`` counts as UTF-8 whose
code units are its UTF-8 bytes; a string lifted with ``cx.fused`` set is a
:class:`WasmStr` that remembers the encoding and code units it was lifted from,
so transcoding between components (lift with one context, lower with another)
is exact.
"""

from __future__ import annotations

import re
from typing import Any

from wasmloom.abi.layout import MAX_STRING_BYTE_LENGTH
from wasmloom.errors import Trap

__all__ = ["WasmStr", "lift_string", "lower_string", "utf16_tag"]


class WasmStr(str):
    """A ``str`` lifted from a component, with its source ``encoding`` and ``code_units``.

    ``encoding`` is the source's simple encoding (``'utf8'``, ``'utf16'`` or
    ``'latin1'``), ``option`` its ``string-encoding`` option and ``code_units``
    the untagged code-unit count.
    """

    encoding: str
    option: str
    code_units: int


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
    mv = cx.mv
    if nbytes > MAX_STRING_BYTE_LENGTH:
        raise Trap(
            "wasm trap: string content out-of-bounds"
            if cx.fused
            else "string pointer/length out of bounds of memory"
        )
    cx.check_range(ptr, align, nbytes, "string")
    used = cx.lift_used + nbytes  # the lift budget (see wasmloom.abi.context)
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
    ptr = cx.allocate(align, n)
    cx.check_alloc(ptr, align, n, "string")
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
