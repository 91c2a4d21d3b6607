"""Strings: every encoding pair, exact realloc sequences, and the string traps."""

from __future__ import annotations

from typing import Any

import pytest
from abi_helpers import Env

from wasmloom import Trap
from wasmloom.abi.strings import WasmStr, lift_string, lower_string

ENCODINGS = ["utf8", "utf16", "latin1+utf16"]
SAMPLES = ["", "a", "ascii only", "café ÿ", "☃ snow", "\U0001f600 emoji", "x" * 300 + "é", "\x00"]
TAG = 1 << 31


def _encode(s: str, enc: str) -> tuple[bytes, int]:
    """The bytes and tagged code units a guest using ``enc`` would hold for ``s``."""
    if enc == "utf8":
        b = s.encode("utf-8")
        return b, len(b)
    if enc == "utf16":
        b = s.encode("utf-16-le")
        return b, len(b) // 2
    try:
        b = s.encode("latin-1")
        return b, len(b)
    except UnicodeEncodeError:
        b = s.encode("utf-16-le")
        return b, (len(b) // 2) | TAG


def _guest_string(env: Env, s: str) -> tuple[int, int]:
    b, tcu = _encode(s, env.opts.string_encoding)
    ptr = 1024
    env.mem.data[ptr : ptr + len(b)] = b
    return ptr, tcu


@pytest.mark.parametrize("src", ENCODINGS)
@pytest.mark.parametrize("dst", ENCODINGS)
@pytest.mark.parametrize("s", SAMPLES)
def test_transcode(src: str, dst: str, s: str) -> None:
    a = Env(src)
    b = Env(dst, start=4096)
    ptr, tcu = _guest_string(a, s)
    lifted = lift_string(a.cx(fused=True), ptr, tcu)
    assert lifted == s and isinstance(lifted, WasmStr)
    dptr, dtcu = lower_string(b.cx(fused=True), lifted)
    want_bytes, want_tcu = _encode(s, dst)
    assert dtcu == want_tcu
    assert bytes(b.mem.data[dptr : dptr + len(want_bytes)]) == want_bytes
    assert lift_string(b.cx(), dptr, dtcu) == s
    assert b.calls[0][0] == 0  # first call allocates


def _calls(src: str, dst: str, s: str) -> list[tuple[int, int, int, int]]:
    a = Env(src)
    b = Env(dst, start=4096)
    ptr, tcu = _guest_string(a, s)
    lower_string(b.cx(fused=True), lift_string(a.cx(fused=True), ptr, tcu))
    return [(old > 0, old_size, align, new) for old, old_size, align, new in b.calls]  # type: ignore[misc]


def test_realloc_sequences() -> None:
    # utf8 -> utf8: one exact copy
    assert _calls("utf8", "utf8", "héllo") == [(False, 0, 1, 6)]
    # utf16 -> utf8: optimistic, worst case (3x), then shrink
    assert _calls("utf16", "utf8", "hé") == [(False, 0, 1, 2), (True, 2, 1, 6), (True, 6, 1, 3)]
    assert _calls("utf16", "utf8", "hi") == [(False, 0, 1, 2)]
    # latin1 -> utf8: worst case 2x
    assert _calls("latin1+utf16", "utf8", "hé") == [
        (False, 0, 1, 2),
        (True, 2, 1, 4),
        (True, 4, 1, 3),
    ]
    # utf8 -> utf16: worst case 2 * utf8 bytes, then shrink
    assert _calls("utf8", "utf16", "hé") == [(False, 0, 2, 6), (True, 6, 2, 4)]
    assert _calls("utf8", "utf16", "") == [(False, 0, 2, 0)]
    # utf16 -> utf16 and latin1 -> utf16: exact copies
    assert _calls("utf16", "utf16", "hé") == [(False, 0, 2, 4)]
    assert _calls("latin1+utf16", "utf16", "hé") == [(False, 0, 2, 4)]
    # utf8 -> latin1+utf16: latin1 fits: shrink from code units
    assert _calls("utf8", "latin1+utf16", "hé") == [(False, 0, 2, 3), (True, 3, 2, 2)]
    assert _calls("utf8", "latin1+utf16", "hi") == [(False, 0, 2, 2)]
    # utf8 -> latin1+utf16 with a non-latin1 char: grow to 2x, then shrink
    assert _calls("utf8", "latin1+utf16", "a☃") == [
        (False, 0, 2, 4),
        (True, 4, 2, 8),
        (True, 8, 2, 4),
    ]
    # latin1+utf16 -> latin1+utf16: latin1 copies; utf16 that fits latin1 compacts
    assert _calls("latin1+utf16", "latin1+utf16", "hé") == [(False, 0, 2, 2)]
    assert _calls("latin1+utf16", "latin1+utf16", "a☃") == [(False, 0, 2, 4)]


def test_host_strings() -> None:
    env = Env("utf16")
    ptr, tcu = lower_string(env.cx(), "hé")
    assert env.calls == [(0, 0, 2, 6), (ptr, 6, 2, 4)]
    assert tcu == 2
    s = lift_string(env.cx(), ptr, tcu)
    assert s == "hé" and type(s) is str
    env = Env("latin1+utf16")
    ptr, tcu = lower_string(env.cx(), "☃")
    assert tcu == 1 | TAG
    assert lift_string(env.cx(), ptr, tcu) == "☃"


def test_memory64_tag() -> None:
    env = Env("latin1+utf16", "i64")
    ptr, tcu = lower_string(env.cx(), "☃x")
    assert tcu == 2 | (1 << 63)
    assert lift_string(env.cx(), ptr, tcu) == "☃x"


@pytest.mark.parametrize(
    ("enc", "data", "tcu", "msg"),
    [
        ("utf8", b"\xff", 1, "invalid utf-8"),
        ("utf8", b"\xc3", 1, "incomplete utf-8 byte sequence"),
        ("utf8", b"\xed\xa0\x80", 3, "invalid utf-8"),
        ("utf16", b"\x00\xd8", 1, "invalid utf-16"),
    ],
)
def test_decode_traps(enc: str, data: bytes, tcu: int, msg: str) -> None:
    env = Env(enc)
    env.mem.data[8 : 8 + len(data)] = data
    with pytest.raises(Trap, match=msg):
        lift_string(env.cx(), 8, tcu)


@pytest.mark.parametrize(
    ("enc", "ptr", "tcu", "fused", "msg"),
    [
        ("utf8", 0xDEADBEEF, 0, False, "string pointer/length out of bounds of memory"),
        ("utf8", 65535, 2, False, "string pointer/length out of bounds of memory"),
        ("utf8", 0x80000000, 1, True, "string content out-of-bounds"),
        ("utf8", 65535, 2, True, "string content out-of-bounds"),
        ("utf8", 0, 1 << 28, True, "string content out-of-bounds"),
        ("utf16", 1, 0, True, "unaligned pointer"),
        ("latin1+utf16", 1, 0, True, "unaligned pointer"),
        ("latin1+utf16", 1, TAG, True, "unaligned pointer"),
    ],
)
def test_range_traps(enc: str, ptr: int, tcu: int, fused: bool, msg: str) -> None:
    env = Env(enc)
    with pytest.raises(Trap, match=msg):
        lift_string(env.cx(fused=fused), ptr, tcu)


def test_edge_strings_ok() -> None:
    env = Env()
    env.mem.data[65534:65536] = b"ok"
    assert lift_string(env.cx(), 65534, 2) == "ok"
    assert lift_string(env.cx(), 65536, 0) == ""
    with pytest.raises(Trap):
        lift_string(env.cx(), -2, 2)  # i.e. 0xfffffffe


@pytest.mark.parametrize("dst", ENCODINGS)
def test_realloc_string_traps(dst: str) -> None:
    env = Env(dst)

    def realloc(*args: Any) -> int:
        return 65534

    env.opts.realloc = realloc
    with pytest.raises(Trap, match="realloc return: beyond end of memory"):
        lower_string(env.cx(), "hello")
    with pytest.raises(Trap, match="string content out-of-bounds"):
        lower_string(env.cx(fused=True), "hello")
