"""Strings at the edge (issue 15, item 7), on tests/guests/conformance_strings.wat.

Between components a string may be up to 2^31-1 bytes: one that long and in
bounds reaches the destination's ``realloc`` (which here traps) before its
bytes are read, and only a longer one is "string content out-of-bounds". A
pointer's alignment is checked before its length and bounds, for
UTF-16-tagged latin1+utf16 lengths too. Wasmtime gives each call the same
result; the host-side message is its words too.
"""

from __future__ import annotations

import pytest
from abi_helpers import Env
from guest_util import component

from wasmloom import Instance, Linker, Store, Trap
from wasmloom.abi import strings
from wasmloom.abi.strings import lift_string, lower_string

PAGES_2GIB = 32768
UNREACHABLE = "wasm `unreachable` instruction executed"
OOB = "wasm trap: string content out-of-bounds"
TAG = 1 << 31


def instance(grow: bool) -> tuple[Store[None], Instance]:
    store: Store[None] = Store()
    inst = Linker().instantiate(store, component("conformance_strings"))
    if grow:
        g = inst.get_func("grow")
        assert g is not None
        assert g(store, PAGES_2GIB) == 1
    return store, inst


def call_traps(grow: bool, name: str, ptr: int, length: int) -> str:
    store, inst = instance(grow)
    f = inst.get_func(name)
    assert f is not None
    with pytest.raises(Trap) as info:
        f(store, ptr, length)
    return str(info.value)


@pytest.mark.parametrize(
    ("name", "longest"),
    [("utf8-utf8", (1 << 31) - 1), ("utf8-utf16", (1 << 30) - 1)],
)
def test_the_longest_string_reaches_the_destination_realloc(name: str, longest: int) -> None:
    assert UNREACHABLE in call_traps(True, name, 0, longest)
    assert call_traps(True, name, 0, longest + 1).startswith(OOB)
    # out of the source's bounds: no realloc
    assert call_traps(False, name, 0, longest).startswith(OOB)


@pytest.mark.parametrize("length", [0xFFFF_FFFF, TAG | 1, 3])
def test_alignment_is_checked_first_between_components(length: int) -> None:
    """A UTF-16-tagged length this long is out of bounds too; the alignment says so first."""
    assert call_traps(False, "compact-utf8", 1, length).startswith("wasm trap: unaligned pointer")


@pytest.mark.parametrize("length", [0xFFFF_FFFF, TAG | 1, 3])
def test_alignment_is_checked_first_to_the_host(length: int) -> None:
    message = call_traps(False, "compact-string", 1, length)
    assert message.startswith("string pointer not aligned to 2")


# --- the lowering of strings too long to decode at once, against the usual one -----------

ENCODINGS = ["utf8", "utf16", "latin1+utf16"]
SAMPLES = ["", "a", "ascii only", "café ÿ", "ÿ", "ā first", "☃ snow", "\U0001f600 emoji"]


def _guest_bytes(s: str, enc: str) -> tuple[bytes, int]:
    if enc == "utf8":
        return s.encode("utf-8"), len(s.encode("utf-8"))
    if enc == "utf16" or any(ord(c) > 0xFF for c in s):
        b = s.encode("utf-16-le")
        return b, len(b) // 2 | (TAG if enc == "latin1+utf16" else 0)
    return s.encode("latin-1"), len(s)


def _transfer(src: str, dst: str, s: str) -> tuple[bytes, int, list[tuple[int, int, int, int]]]:
    a, b = Env(src), Env(dst, start=4096)
    data, tcu = _guest_bytes(s, src)
    a.mem.data[1024 : 1024 + len(data)] = data
    lifted = lift_string(a.cx(fused=True), 1024, tcu)
    ptr, out_tcu = lower_string(b.cx(fused=True), lifted)
    n = (out_tcu & ~TAG) * (2 if dst == "utf16" or out_tcu & TAG else 1)
    return bytes(b.mem.data[ptr : ptr + n]), out_tcu, b.calls


@pytest.mark.parametrize("src", ENCODINGS)
@pytest.mark.parametrize("dst", ENCODINGS)
@pytest.mark.parametrize("s", SAMPLES)
def test_big_strings_lower_as_others_do(
    monkeypatch: pytest.MonkeyPatch, src: str, dst: str, s: str
) -> None:
    """With the host's decoding limit at 0 every string lifts as a BigWasmStr: it lowers
    to the same bytes, with the same realloc calls, as a string decoded at once."""
    want = _transfer(src, dst, s)
    monkeypatch.setattr(strings, "MAX_STRING_BYTE_LENGTH", -1)
    a = Env(src)
    data, tcu = _guest_bytes(s, src)
    a.mem.data[1024 : 1024 + len(data)] = data
    assert type(lift_string(a.cx(fused=True), 1024, tcu)) is strings.BigWasmStr
    assert _transfer(src, dst, s) == want
