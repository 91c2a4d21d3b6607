"""Canonical ABI lifting/lowering of every value type, flat and through memory."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from abi_helpers import Env

from wasmloom import Trap
from wasmloom import types as T
from wasmloom.abi.codecs import get_codec
from wasmloom.abi.context import BytearrayMemory, CanonOptions
from wasmloom.abi.layout import alignment, elem_size, flatten_functype, flatten_type
from wasmloom.values import Err, Ok, Record, Some, Variant, enum_class, flags_class

REC = T.RecordType((T.FieldType("a-b", T.U8), T.FieldType("c", T.STRING), T.FieldType("d", T.F64)))
VAR = T.VariantType(
    (T.CaseType("none", None), T.CaseType("int", T.S64), T.CaseType("flt", T.F32),
     T.CaseType("str", T.STRING))
)  # fmt: skip
ENUM = T.EnumType(("red", "green", "blue-ish"))
FLAGS = T.FlagsType(tuple(f"f{i}" for i in range(20)))
E = enum_class(ENUM)
F = flags_class(FLAGS)

CASES: list[tuple[T.ValType, Any]] = [
    (T.BOOL, True),
    (T.BOOL, False),
    (T.U8, 255),
    (T.S8, -128),
    (T.U16, 65535),
    (T.S16, -32768),
    (T.U32, 0xFFFF_FFFF),
    (T.S32, -(2**31)),
    (T.U64, 2**64 - 1),
    (T.S64, -(2**63)),
    (T.F32, 1.5),
    (T.F32, -math.inf),
    (T.F64, 1e300),
    (T.CHAR, "x"),
    (T.CHAR, "\U0010ffff"),
    (T.STRING, ""),
    (T.STRING, "héllo ☃ \U0001f600"),
    (T.ListType(T.U8), b"\x00\x01\xff"),
    (T.ListType(T.U8), b""),
    (T.ListType(T.U32), [1, 2, 0xFFFF_FFFF]),
    (T.ListType(T.S16), [-1, 7]),
    (T.ListType(T.F64), [0.5, -2.0]),
    (T.ListType(T.BOOL), [True, False, True]),
    (T.ListType(T.CHAR), ["a", "☃"]),
    (T.ListType(T.STRING), ["a", "", "bc"]),
    (T.ListType(T.ListType(T.U16)), [[1], [], [2, 3]]),
    (T.ListType(T.U32, 3), [7, 8, 9]),
    (T.ListType(T.STRING, 2), ["x", "yz"]),
    (T.TupleType((T.U8, T.STRING, T.U64)), (1, "two", 3)),
    # 32/64-bit integers stored in a tuple from their core value (word_packer)
    (T.TupleType((T.S32, T.U16, T.S64, T.U32)), (-5, 9, -(2**63), 2**32 - 1)),
    (REC, Record(a_b=1, c="see", d=2.25)),
    (VAR, Variant("none")),
    (VAR, Variant("int", -5)),
    (VAR, Variant("flt", 2.5)),
    (VAR, Variant("str", "payload")),
    (ENUM, E.blue_ish),
    (FLAGS, F.f0 | F.f19),
    (FLAGS, F(0)),
    (T.OptionType(T.U32), None),
    (T.OptionType(T.U32), 9),
    (T.OptionType(T.OptionType(T.U32)), Some(None)),
    (T.OptionType(T.OptionType(T.U32)), Some(4)),
    (T.OptionType(T.OptionType(T.U32)), None),
    (T.ResultType(T.STRING, T.U8), Ok("fine")),
    (T.ResultType(T.STRING, T.U8), Err(3)),
    (T.ResultType(None, None), Ok()),
    (T.ResultType(None, None), Err()),
    (T.MapType(T.STRING, T.U32), {"a": 1, "bb": 2}),
    (T.ListType(REC), [Record(a_b=2, c="", d=0.0), Record(a_b=3, c="q", d=-1.0)]),
]


def _signed(flat: list[Any], types: tuple[str, ...]) -> list[Any]:
    """The same core values, with ints in their signed two's-complement form."""
    out = []
    for v, t in zip(flat, types, strict=True):
        if isinstance(v, int) and t in ("i32", "i64"):
            bits = 32 if t == "i32" else 64
            out.append(v - (1 << bits) if v >= 1 << (bits - 1) else v)
        else:
            out.append(v)
    return out


@pytest.mark.parametrize("encoding", ["utf8", "utf16", "latin1+utf16"])
@pytest.mark.parametrize("ptr_type", ["i32", "i64"])
@pytest.mark.parametrize(("t", "v"), CASES, ids=[f"{t}={v!r}"[:50] for t, v in CASES])
def test_round_trip(t: T.ValType, v: Any, encoding: str, ptr_type: str) -> None:
    env = Env(encoding, ptr_type)
    c = get_codec(t, encoding, ptr_type)
    cx = env.cx()
    # through memory
    ptr = 1024 * c.align
    env.top = 16384
    c.store(cx, v, ptr)
    assert c.load(env.cx(), ptr) == v
    # flat
    out: list[Any] = []
    c.lower_flat(cx, v, out)
    assert len(out) == len(c.flat)
    for x, ft in zip(out, c.flat, strict=True):
        if ft in ("i32", "i64"):
            assert isinstance(x, int) and 0 <= x < (1 << (32 if ft == "i32" else 64))
        else:
            assert isinstance(x, float)
    assert c.lift_flat(env.cx(), iter(out)) == v
    assert c.lift_flat(env.cx(), iter(_signed(out, c.flat))) == v
    if c.lower_value is not None:  # the one core value, returned
        assert [c.lower_value(cx, v)] == out
    if c.lift_values is not None:  # the same values, passed as arguments
        assert c.lift_values(env.cx(), *out) == v
        assert c.lift_values(env.cx(), *_signed(out, c.flat)) == v


def test_lifted_python_types() -> None:
    env = Env()
    cx = env.cx()
    c = get_codec(T.ListType(T.U8))
    out: list[Any] = []
    c.lower_flat(cx, bytearray(b"ab"), out)
    assert type(c.lift_flat(cx, iter(out))) is bytes
    c.lower_flat(cx, memoryview(b"cd"), out := [])
    assert c.lift_flat(cx, iter(out)) == b"cd"
    c = get_codec(ENUM)
    c.lower_flat(cx, "green", out := [])
    assert out == [1] and c.lift_flat(cx, iter(out)) is E.green
    c = get_codec(FLAGS)
    c.lower_flat(cx, ["f1", "f3"], out := [])
    assert out == [0b1010] and c.lift_flat(cx, iter(out)) == F.f1 | F.f3
    c = get_codec(REC)
    c.lower_flat(cx, {"a-b": 1, "c": "x", "d": 0.5}, out := [])
    assert c.lift_flat(cx, iter(out)) == Record(a_b=1, c="x", d=0.5)
    c = get_codec(T.OptionType(T.U8))
    c.lower_flat(cx, Some(3), out := [])
    assert out == [1, 3]
    c = get_codec(T.TupleType((T.U8, T.U8)))
    c.lower_flat(cx, [1, 2], out := [])
    assert c.lift_flat(cx, iter(out)) == (1, 2)
    # maps: a dict for the host; between components, the pairs (duplicates kept)
    c = get_codec(T.MapType(T.STRING, T.U8))
    c.lower_flat(cx, [("k", 1), ("k", 2)], out := [])
    assert c.lift_flat(cx, iter(out)) == {"k": 2}
    assert c.lift_flat(env.cx(fused=True), iter(out)) == [("k", 1), ("k", 2)]


def test_layout() -> None:
    assert (alignment(REC), elem_size(REC)) == (8, 24)
    assert (alignment(REC, "i64"), elem_size(REC, "i64")) == (8, 32)
    assert flatten_type(REC) == ("i32", "i32", "i32", "f64")
    assert flatten_type(VAR) == ("i32", "i64", "i32")
    assert elem_size(VAR) == 16
    assert flatten_type(T.VariantType((T.CaseType("a", T.F32), T.CaseType("b", T.U32)))) == (
        "i32",
        "i32",
    )
    assert flatten_type(T.ResultType(T.F32, T.F64)) == ("i32", "i64")
    assert elem_size(T.FlagsType(("a",) * 9)) == 2 and elem_size(FLAGS) == 4
    assert elem_size(T.ListType(T.U16, 5)) == 10 and alignment(T.ListType(T.U16, 5)) == 2
    assert flatten_type(T.ListType(T.U16, 3)) == ("i32",) * 3
    assert elem_size(T.MapType(T.STRING, T.U8)) == 8
    many = T.EnumType(tuple(f"e{i}" for i in range(300)))
    assert elem_size(many) == 2
    assert flatten_type(T.STRING, "i64") == ("i64", "i64")


def test_flatten_functype() -> None:
    mem = BytearrayMemory(16)
    sync = CanonOptions(memory=mem)
    big = T.FuncType(tuple((f"p{i}", T.U32) for i in range(17)), T.STRING)
    assert flatten_functype(sync, big, "lift") == T.CoreFuncType(("i32",), ("i32",))
    assert flatten_functype(sync, big, "lower") == T.CoreFuncType(("i32", "i32"), ())
    small = T.FuncType((("a", T.U64), ("b", T.F32)), T.U32)
    assert flatten_functype(sync, small, "lift") == T.CoreFuncType(("i64", "f32"), ("i32",))
    aopts = CanonOptions(memory=mem, is_async=True)
    five = T.FuncType(tuple((f"p{i}", T.U32) for i in range(5)), T.U32)
    assert flatten_functype(aopts, five, "lower") == T.CoreFuncType(("i32", "i32"), ("i32",))
    assert flatten_functype(aopts, five, "lift") == T.CoreFuncType(("i32",) * 5, ())
    cb = CanonOptions(memory=mem, is_async=True, callback=lambda *a: 0)
    assert flatten_functype(cb, five, "lift") == T.CoreFuncType(("i32",) * 5, ("i32",))


def test_variant_flat_coercion() -> None:
    # i32/f32 join to i32; the f32 payload travels as its bit pattern.
    t = T.VariantType((T.CaseType("a", T.F32), T.CaseType("b", T.U32)))
    c = get_codec(t)
    env = Env()
    out: list[Any] = []
    c.lower_flat(env.cx(), Variant("a", 1.0), out)
    assert out == [0, 0x3F800000]
    assert c.lift_flat(env.cx(), iter([0, 0x3F800000])) == Variant("a", 1.0)
    # f64 and i32 join to i64
    t2 = T.ResultType(T.F64, T.U32)
    c2 = get_codec(t2)
    c2.lower_flat(env.cx(), Ok(2.0), out := [])
    assert out == [0, struct.unpack("<Q", struct.pack("<d", 2.0))[0]]
    assert c2.lift_flat(env.cx(), iter([1, (1 << 40) | 5])) == Err(5)
    assert c2.lift_flat(env.cx(), iter([1, -1])) == Err(0xFFFF_FFFF)


def test_lift_normalises_ints_and_floats() -> None:
    cx = Env().cx()
    assert get_codec(T.U8).lift_flat(cx, iter([0x1FF])) == 0xFF
    assert get_codec(T.S8).lift_flat(cx, iter([0xFF])) == -1
    assert get_codec(T.S16).lift_flat(cx, iter([-1])) == -1
    assert get_codec(T.U32).lift_flat(cx, iter([-1])) == 0xFFFF_FFFF
    assert get_codec(T.S64).lift_flat(cx, iter([2**64 - 1])) == -1
    assert get_codec(T.BOOL).lift_flat(cx, iter([2])) is True
    assert get_codec(T.BOOL).lift_flat(cx, iter([1 << 32])) is False
    nan = get_codec(T.F64).lift_flat(cx, iter([float("nan")]))
    assert math.isnan(nan)
    env = Env()
    env.mem.data[0:4] = struct.pack("<I", 0x7FA00001)  # a signalling NaN with payload
    f = get_codec(T.F32).load(env.cx(), 0)
    assert struct.pack("<f", f) == struct.pack("<I", 0x7FC00000)
    env.mem.data[8] = 3
    assert get_codec(T.BOOL).load(env.cx(), 8) is True


def test_invalid_flags_bits_ignored() -> None:
    t = T.FlagsType(("a", "b"))
    assert get_codec(t).lift_flat(Env().cx(), iter([0xFF])) == flags_class(t)(3)


@pytest.mark.parametrize("bad", [0xD800, 0xDFFF, 0x110000, -1])
def test_char_trap(bad: int) -> None:
    with pytest.raises(Trap, match="invalid `char` bit pattern"):
        get_codec(T.CHAR).lift_flat(Env().cx(), iter([bad]))


def test_discriminant_traps() -> None:
    cx = Env().cx()
    for t, n in ((VAR, 4), (ENUM, 3), (T.OptionType(T.U8), 2), (T.ResultType(None, None), 2)):
        c = get_codec(t)
        with pytest.raises(Trap, match="invalid variant discriminant"):
            c.lift_flat(cx, iter([n, 0, 0]))
    env = Env()
    env.mem.data[0] = 4
    with pytest.raises(Trap, match="invalid variant discriminant"):
        get_codec(VAR).load(env.cx(), 0)


def test_list_traps() -> None:
    env = Env()
    c = get_codec(T.ListType(T.U32))
    with pytest.raises(Trap, match="unaligned pointer"):
        c.lift_flat(env.cx(), iter([2, 1]))
    with pytest.raises(Trap, match="list pointer/length out of bounds of memory"):
        c.lift_flat(env.cx(), iter([65532, 2]))
    with pytest.raises(Trap, match="list content out-of-bounds"):
        c.lift_flat(env.cx(fused=True), iter([65532, 2]))
    with pytest.raises(Trap, match="list pointer/length out of bounds of memory"):
        c.lift_flat(env.cx(), iter([0, 1 << 30]))
    assert c.lift_flat(env.cx(), iter([65536, 0])) == []


def _bad_realloc(env: Env, ptr: int) -> None:
    def realloc(old: int, old_size: int, align: int, new: int) -> int:
        env.calls.append((old, old_size, align, new))
        return ptr

    env.opts.realloc = realloc


@pytest.mark.parametrize(
    ("ptr", "value", "fused", "msg"),
    [
        (-4, [1, 2], False, "realloc return: beyond end of memory"),
        (-4, [], False, "realloc return: beyond end of memory"),
        (-1, [1, 2], False, "realloc return: result not aligned"),
        (2, [1], False, "realloc return: result not aligned"),
        (-4, [1], True, "list content out-of-bounds"),
        (2, [1], True, "unaligned pointer"),
    ],
)
def test_realloc_result_checked(ptr: int, value: list[int], fused: bool, msg: str) -> None:
    env = Env()
    _bad_realloc(env, ptr)
    with pytest.raises(Trap, match=msg):
        get_codec(T.ListType(T.U32)).lower_flat(env.cx(fused=fused), value, [])
    assert env.calls == [(0, 0, 4, 4 * len(value))]


def test_realloc_called_for_empty_list() -> None:
    env = Env()
    out: list[Any] = []
    get_codec(T.ListType(T.U8)).lower_flat(env.cx(), b"", out)
    assert env.calls == [(0, 0, 1, 0)]
    assert out == [64, 0]


def test_may_leave_during_realloc() -> None:
    env = Env()
    seen = []

    def realloc(old: int, old_size: int, align: int, new: int) -> int:
        seen.append(env.inst.may_leave)
        return 16

    env.opts.realloc = realloc
    get_codec(T.STRING).lower_flat(env.cx(), "hi", [])
    assert seen == [False] and env.inst.may_leave is True
    env.inst.may_leave = False
    with pytest.raises(Trap, match="cannot leave component instance"):
        get_codec(T.STRING).lower_flat(env.cx(), "hi", [])


def test_memory_growth_during_realloc() -> None:
    env = Env(size=64)

    def realloc(old: int, old_size: int, align: int, new: int) -> int:
        base = env.mem.grow(65536)
        return base

    env.opts.realloc = realloc
    out: list[Any] = []
    get_codec(T.ListType(T.STRING)).lower_flat(env.cx(), ["abc", "de"], out)
    assert get_codec(T.ListType(T.STRING)).lift_flat(env.cx(), iter(out)) == ["abc", "de"]


@pytest.mark.parametrize(
    ("t", "v", "exc"),
    [
        (T.U8, 256, ValueError),
        (T.U8, -1, ValueError),
        (T.S32, 2**31, ValueError),
        (T.U32, "1", TypeError),
        (T.U32, 1.0, TypeError),
        (T.F32, "x", TypeError),
        (T.CHAR, "ab", TypeError),
        (T.CHAR, "\ud800", ValueError),
        (T.STRING, b"x", TypeError),
        (T.STRING, "\ud800", ValueError),
        (T.ListType(T.U8), [256], ValueError),
        (T.ListType(T.U32), [-1], ValueError),
        (T.ListType(T.U32), ["a"], TypeError),
        (T.ListType(T.U32, 2), [1], ValueError),
        (VAR, Variant("nope"), ValueError),
        (VAR, 3, TypeError),
        (ENUM, "purple", ValueError),
        (FLAGS, ["zz"], ValueError),
        (T.OptionType(T.OptionType(T.U8)), 3, TypeError),
        (T.ResultType(None, None), None, TypeError),
        (REC, object(), TypeError),
        (T.TupleType((T.U8, T.U8)), (1,), ValueError),
        (T.MapType(T.STRING, T.U8), 5, TypeError),
    ],
)
def test_host_value_errors(t: T.ValType, v: Any, exc: type[Exception]) -> None:
    env = Env()
    with pytest.raises(exc, match=r"WIT type|surrogate|WIT `char`"):
        get_codec(t).lower_flat(env.cx(), v, [])
