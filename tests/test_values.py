"""Every component value type, host -> guest and guest -> host, flat and through memory.

Guests: tests/guests/values.wat (``echo-X`` passes its flat arguments to the host
import ``host-X`` and returns what the host returned) and tests/guests/layout.wat
(exact byte layouts in both directions).
"""

from __future__ import annotations

import enum
import math
import struct
import subprocess
from typing import Any

import pytest
from guest_util import GUESTS, Recorder, component, instantiate_echo

from wasmloom import Err, Instance, Linker, Ok, Record, Some, Store, Variant
from wasmloom import types as T
from wasmloom.validate import wasm_tools_executable


@pytest.mark.parametrize("path", sorted(GUESTS.glob("*.wat")), ids=lambda p: p.name)
def test_guest_is_valid_per_wasm_tools(path: Any) -> None:
    wasm = subprocess.run(
        [wasm_tools_executable(), "parse", str(path)], capture_output=True, check=True
    ).stdout
    proc = subprocess.run(
        [wasm_tools_executable(), "validate", "--features", "all", "-"],
        input=wasm,
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()


@pytest.fixture
def echo() -> tuple[Store[None], Instance, Recorder]:
    rec = Recorder()
    store, inst = instantiate_echo("values", rec)
    return store, inst, rec


def roundtrip(env: tuple[Store[None], Instance, Recorder], name: str, v: Any) -> tuple[Any, Any]:
    """Call ``echo-<name>(v)``; return (what the host import saw, what the host got back)."""
    store, inst, rec = env
    f = inst.get_func(f"echo-{name}")
    assert f is not None, name
    out = f(store, v)
    (seen,) = rec.last(f"host-{name}")
    return seen, out


def same(a: Any, b: Any) -> bool:
    """Equality that tells -0.0 from 0.0 and lets NaN equal NaN."""
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return bool(a == b) and type(a) is type(b)


INTS = [
    ("u8", [0, 1, 127, 128, 255]),
    ("s8", [-128, -1, 0, 1, 127]),
    ("u16", [0, 0x7FFF, 0x8000, 0xFFFF]),
    ("s16", [-(2**15), -1, 0, 2**15 - 1]),
    ("u32", [0, 2**31 - 1, 2**31, 2**32 - 1]),
    ("s32", [-(2**31), -1, 0, 2**31 - 1]),
    ("u64", [0, 2**63 - 1, 2**63, 2**64 - 1]),
    ("s64", [-(2**63), -1, 0, 2**63 - 1]),
]


@pytest.mark.parametrize(("name", "values"), INTS, ids=[n for n, _ in INTS])
def test_integers_at_their_boundaries(echo: Any, name: str, values: list[int]) -> None:
    for v in values:
        seen, out = roundtrip(echo, name, v)
        assert same(seen, v) and same(out, v), (name, v, seen, out)


@pytest.mark.parametrize("name", ["u8", "s8", "u16", "s16", "u32", "s32", "u64", "s64"])
def test_integers_out_of_range_are_rejected_by_lowering(echo: Any, name: str) -> None:
    store, inst, rec = echo
    lo, hi = dict(INTS)[name][0], dict(INTS)[name][-1]
    for bad in (lo - 1, hi + 1):
        with pytest.raises(ValueError, match="out of range"):
            inst.get_func(f"echo-{name}")(store, bad)
    with pytest.raises(TypeError):
        inst.get_func(f"echo-{name}")(store, 1.5)
    assert rec.seen == {}


def test_bool(echo: Any) -> None:
    for v in (True, False):
        seen, out = roundtrip(echo, "bool", v)
        assert seen is v and out is v


@pytest.mark.parametrize("name", ["f32", "f64"])
def test_floats_specials(echo: Any, name: str) -> None:
    for v in (0.0, -0.0, 1.5, -2.25, math.inf, -math.inf, math.nan, 1e-30):
        want = struct.unpack("<f", struct.pack("<f", v))[0] if name == "f32" else v
        seen, out = roundtrip(echo, name, v)
        assert same(seen, want) and same(out, want), (v, seen, out)


def test_f32_rounds_to_single_precision(echo: Any) -> None:
    seen, out = roundtrip(echo, "f32", 0.1)
    assert out == seen == struct.unpack("<f", struct.pack("<f", 0.1))[0] != 0.1
    seen, out = roundtrip(echo, "f64", 0.1)
    assert out == 0.1


def test_char_including_non_bmp(echo: Any) -> None:
    for v in ("a", "\0", "é", "☃", "\ud7ff", "\ue000", "𝄞", "😀", "\U0010ffff"):
        seen, out = roundtrip(echo, "char", v)
        assert seen == v and out == v
    store, inst, _ = echo
    with pytest.raises(TypeError):
        inst.get_func("echo-char")(store, "ab")


def test_strings(echo: Any) -> None:
    for v in ("", "abc", "héllo wörld", "日本語", "🎉" * 3, "x" * 70_000 + "€", "\0nul\0"):
        seen, out = roundtrip(echo, "string", v)
        assert seen == v and out == v


def test_bytes_accepts_bytes_like_and_lifts_bytes(echo: Any) -> None:
    data = bytes(range(256)) * 3
    for v in (b"", data, bytearray(data), memoryview(data)):
        seen, out = roundtrip(echo, "bytes", v)
        assert type(seen) is bytes and seen == bytes(v)
        assert type(out) is bytes and out == bytes(v)


def test_nested_lists(echo: Any) -> None:
    v = [[], ["a"], ["b", "c🎉", ""], [str(i) for i in range(100)]]
    seen, out = roundtrip(echo, "nested", v)
    assert seen == v and out == v
    seen, out = roundtrip(echo, "nested", ())
    assert seen == [] and out == []


def test_fixed_length_list(echo: Any) -> None:
    seen, out = roundtrip(echo, "fixed", [1, 2, 3, 2**32 - 1])
    assert seen == out == [1, 2, 3, 2**32 - 1]


def test_record_from_record_dict_or_object(echo: Any) -> None:
    want = Record(x=-5, y=2**40, name="pt", ok=True, f=1.5)

    class Obj:
        x = -5
        y = 2**40
        name = "pt"
        ok = True
        f = 1.5

    for v in (want, {"x": -5, "y": 2**40, "name": "pt", "ok": True, "f": 1.5}, Obj()):
        seen, out = roundtrip(echo, "point", v)
        assert isinstance(out, Record) and seen == want and out == want
    assert out.name == "pt" and out.y == 2**40


def test_list_of_records(echo: Any) -> None:
    v = [Record(x=i, y=-i, name=f"p{i}", ok=i % 2 == 0, f=float(i)) for i in range(50)]
    seen, out = roundtrip(echo, "points", v)
    assert seen == v and out == v


def test_tuple(echo: Any) -> None:
    seen, out = roundtrip(echo, "tuple", (255, -0.0, "t"))
    assert seen == out == (255, -0.0, "t") and type(out) is tuple
    assert math.copysign(1, out[1]) == -1


def test_variant_every_case(echo: Any) -> None:
    for v in (
        Variant("none"),
        Variant("circle", 2.5),
        Variant("square", 2**64 - 1),
        Variant("named", "héllo"),
        Variant("pair", (1, 255)),
    ):
        seen, out = roundtrip(echo, "shape", v)
        assert seen == v and out == v
    store, inst, _ = echo
    with pytest.raises(ValueError, match="unknown case"):
        inst.get_func("echo-shape")(store, Variant("oval"))


def test_enum_members_and_labels(echo: Any) -> None:
    seen, out = roundtrip(echo, "color", "green")
    assert isinstance(out, enum.Enum) and out.value == "green" and seen is out
    _, out2 = roundtrip(echo, "color", out)
    assert out2 is out
    red = type(out)("red")
    assert roundtrip(echo, "color", red)[1] is red


def test_enum_with_u16_discriminant(echo: Any) -> None:
    for label in ("e0", "e1", "e255", "e256", "e299"):
        seen, out = roundtrip(echo, "big-enum", label)
        assert out.value == label and seen is out


def flag_names(v: Any) -> set[str]:
    assert isinstance(v, enum.Flag)
    return {m.name for m in type(v) if m in v}


@pytest.mark.parametrize(
    ("name", "labels"),
    [
        ("flags3", ["read", "write", "exec"]),
        ("flags9", [f"b{i}" for i in range(9)]),
        ("flags32", [f"f{i}" for i in range(32)]),
    ],
)
def test_flags(echo: Any, name: str, labels: list[str]) -> None:
    for chosen in ([], labels[:1], labels[-1:], labels[::2], labels):
        seen, out = roundtrip(echo, name, chosen)
        assert flag_names(seen) == set(chosen) and flag_names(out) == set(chosen)
        _, out2 = roundtrip(echo, name, out)
        assert out2 == out


def test_options(echo: Any) -> None:
    for v in (None, 0, 2**32 - 1):
        seen, out = roundtrip(echo, "option", v)
        assert seen == v and out == v
    seen, out = roundtrip(echo, "option", Some(7))
    assert seen == out == 7


def test_option_of_option_uses_some(echo: Any) -> None:
    for v in (None, Some(None), Some("x"), Some("")):
        seen, out = roundtrip(echo, "option-option", v)
        assert seen == v and out == v
    assert roundtrip(echo, "option-option", Some(None))[1] == Some(None)


def test_results_all_shapes(echo: Any) -> None:
    cases = {
        "result": [Ok(0), Ok(2**32 - 1), Err(""), Err("bad 🎉")],
        "result-empty": [Ok(None), Err(None)],
        "result-err": [Ok(None), Err(0), Err(255)],
        "result-ok": [Ok("fine"), Ok(""), Err(None)],
    }
    for name, values in cases.items():
        for v in values:
            seen, out = roundtrip(echo, name, v)
            assert seen == v and out == v and type(out) is type(v), (name, v)


def test_result_through_memory_pair(echo: Any) -> None:
    seen, out = roundtrip(echo, "pair", (0, 255))
    assert seen == out == (0, 255)


MANY = [200, -300, 4_000_000_000, -(2**62), -0.0, math.inf, "😀", True, "hé🎉"]
MANY += [2**64 - 1, -128, 65535, -(2**31), 0.5, -1.25, 0, ""]


def test_seventeen_params_spill_to_memory(echo: Any) -> None:
    store, inst, rec = echo
    f = inst.get_func("echo-many")
    out = f(store, *MANY)
    assert rec.last("host-many") == tuple(MANY) == out


def test_host_results_differ_from_arguments(echo: Any) -> None:
    store, inst, rec = echo
    rec.returns["host-string"] = lambda s: s[::-1] + "!"
    rec.returns["host-points"] = lambda ps: [*ps, Record(x=9, y=9, name="new", ok=False, f=0.0)]
    rec.returns["host-option-option"] = lambda v: Some(None)
    assert inst.get_func("echo-string")(store, "abc€") == "€cba!"
    assert inst.get_func("echo-points")(store, [])[0].name == "new"
    assert inst.get_func("echo-option-option")(store, None) == Some(None)


def test_host_returning_a_wrong_value_fails_the_call(echo: Any) -> None:
    store, inst, rec = echo
    rec.returns["host-u8"] = lambda v: 300
    with pytest.raises(ValueError, match="out of range"):
        inst.get_func("echo-u8")(store, 1)
    rec.returns["host-u8"] = lambda v: v
    assert inst.get_func("echo-u8")(store, 1) == 1


def test_dynamic_host_functions_with_func_new() -> None:
    calls: list[Any] = []
    linker = Linker()

    def dyn(store: Store[Any], args: list[Any]) -> Any:
        calls.append((store.data, args))
        return args[0] if len(args) == 1 else tuple(args)

    for imp in ("host-" + n for n in ["string", "point", "many"]):
        linker.root().func_new(imp, dyn)
    for imp in (i for i in _imports() if i not in ("host-string", "host-point", "host-many")):
        linker.root().func_wrap(imp, Recorder().func(imp))
    store: Store[str] = Store(data="ctx")
    inst = linker.instantiate(store, component("values"))
    assert inst.get_func("echo-string")(store, "dyn") == "dyn"
    assert inst.get_func("echo-many")(store, *MANY) == tuple(MANY)
    assert calls[0] == ("ctx", ["dyn"]) and calls[1][1] == MANY


def _imports() -> list[str]:
    from guest_util import host_imports

    return host_imports("values")


def test_explicit_type_and_annotation_checks_at_link_time() -> None:
    from wasmloom.typing import string, u32

    linker = Linker()

    def ok_u32(v: u32) -> u32:
        return v

    def ok_str(v: string) -> string:
        return v + "?"

    linker.root().func_wrap("host-u32", ok_u32)
    linker.root().func_wrap("host-string", ok_str)
    linker.root().func_wrap("host-u64", lambda v: v, type=T.FuncType((("v", T.U64),), T.U64))
    for imp in _imports():
        if imp not in ("host-u32", "host-string", "host-u64"):
            linker.root().func_wrap(imp, Recorder().func(imp))
    store: Store[None] = Store()
    inst = linker.instantiate(store, component("values"))
    assert inst.get_func("echo-u32")(store, 5) == 5
    assert inst.get_func("echo-string")(store, "a") == "a?"
    assert inst.get_func("echo-u64")(store, 2**64 - 1) == 2**64 - 1


# --- exact layouts --------------------------------------------------------------------


@pytest.fixture
def layout() -> tuple[Store[None], Instance]:
    store: Store[None] = Store()
    return store, Linker().instantiate(store, component("layout"))


def test_lifting_a_spilled_tuple_from_exact_bytes(layout: Any) -> None:
    store, inst = layout
    out = inst.get_func("many-const")(store)
    want = (200, -300, 4_000_000_000, -(2**62), -0.0, math.inf, "😀", True, "hé🎉")
    want += (2**64 - 1, -128, 65535, -(2**31), 0.5, -1.25, 0, "")
    assert out == want
    assert math.copysign(1, out[4]) == -1


def test_lifting_a_record_from_exact_bytes(layout: Any) -> None:
    store, inst = layout
    assert inst.get_func("point-const")(store) == Record(x=-5, y=2**40, name="hé🎉", ok=True, f=1.5)


def test_lowering_spilled_params_lays_them_out_per_the_abi(layout: Any) -> None:
    store, inst = layout
    raw = inst.get_func("many-raw")(store, *MANY)
    assert len(raw) == 96
    fields = [
        ("<B", 0), ("<h", 2), ("<I", 4), ("<q", 8), ("<f", 16), ("<d", 24), ("<I", 32),
        ("<B", 36), ("<Q", 48), ("<b", 56), ("<H", 58), ("<i", 60), ("<f", 64), ("<d", 72),
        ("<I", 80),
    ]  # fmt: skip
    got = [struct.unpack_from(fmt, raw, off)[0] for fmt, off in fields]
    assert got[:6] == [200, -300, 4_000_000_000, -(2**62), -0.0, math.inf]
    assert got[6] == ord("😀") and got[7] == 1
    assert got[8:] == [2**64 - 1, -128, 65535, -(2**31), 0.5, -1.25, 0]
    assert struct.unpack_from("<I", raw, 44)[0] == len("hé🎉".encode())
    assert struct.unpack_from("<I", raw, 88)[0] == 0


def test_lowering_a_record_in_a_list(layout: Any) -> None:
    store, inst = layout
    raw = inst.get_func("point-raw")(store, [Record(x=-5, y=2**40, name="ab", ok=True, f=1.5)])
    assert len(raw) == 32
    assert struct.unpack_from("<i", raw, 0)[0] == -5
    assert struct.unpack_from("<q", raw, 8)[0] == 2**40
    assert struct.unpack_from("<I", raw, 20)[0] == 2
    assert raw[24] == 1 and struct.unpack_from("<f", raw, 28)[0] == 1.5
