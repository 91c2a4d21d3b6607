"""WAVE (wasmloom.wave): values of every type printed and read back, and the parser's errors.

The printed forms are those of wasm-wave (what ``wasmtime run --invoke``
prints); tests/test_cli_invoke.py checks them against the wasmtime CLI.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wasmloom import types as T
from wasmloom.values import Err, Ok, Record, Some, Variant, enum_class, flags_class
from wasmloom.wave import (
    MAX_DEPTH,
    WaveError,
    parse_call,
    results_to_wave,
    to_wave,
    value_from_wave,
)

INTS = ["s8", "u8", "s16", "u16", "s32", "u32", "s64", "u64"]
POINT = T.RecordType((T.FieldType("x", T.S32), T.FieldType("long-name", T.OptionType(T.STRING))))
SHAPE = T.VariantType(
    (
        T.CaseType("circle", T.F64),
        T.CaseType("point", POINT),
        T.CaseType("empty", None),
        T.CaseType("ok", None),
        T.CaseType("err", T.STRING),
    )
)
COLOR = T.EnumType(("red", "dark-blue", "none"))
PERMS = T.FlagsType(("read", "write", "exec"))


def round_trip(v: Any, t: T.ValType) -> Any:
    text = to_wave(v, t)
    back = value_from_wave(text, t)
    assert to_wave(back, t) == text
    return back


# --- printed forms, one type at a time ---------------------------------------------------------


@pytest.mark.parametrize(
    ("t", "value", "text"),
    [
        (T.BOOL, True, "true"),
        (T.BOOL, False, "false"),
        (T.S8, -128, "-128"),
        (T.U64, 2**64 - 1, "18446744073709551615"),
        (T.S64, -(2**63), "-9223372036854775808"),
        (T.F64, 1.0, "1"),
        (T.F64, -0.0, "-0"),
        (T.F64, 1e22, "10000000000000000000000"),
        (T.F64, 1.5e-7, "0.00000015"),
        (T.F64, math.inf, "inf"),
        (T.F64, -math.inf, "-inf"),
        (T.F64, math.nan, "nan"),
        (T.F32, struct.unpack("<f", struct.pack("<f", 0.1))[0], "0.1"),
        (T.F32, 3.4028234663852886e38, "340282350000000000000000000000000000000"),
        (T.CHAR, "'", "'\\''"),
        (T.CHAR, '"', "'\\\"'"),
        (T.CHAR, "\0", "'\\u{0}'"),
        (T.CHAR, "\u0301", "'\\u{301}'"),  # combining: escaped, as Rust does
        (T.CHAR, "é", "'é'"),
        (T.STRING, 'a\t"b"\\\n', '"a\\t\\"b\\"\\\\\\n"'),
        (T.STRING, "it's", '"it\\\'s"'),
        (T.ListType(T.U8), b"\x00\xff", "[0, 255]"),
        (T.ListType(T.STRING), [], "[]"),
        (T.ListType(T.U8, 2), b"ab", "[97, 98]"),
        (T.TupleType((T.U8, T.STRING)), (1, "x"), '(1, "x")'),
        (POINT, Record(x=1, long_name=None), "{x: 1}"),
        (POINT, Record(x=1, long_name="n"), '{x: 1, long-name: some("n")}'),
        (T.RecordType((T.FieldType("o", T.OptionType(T.U8)),)), Record(o=None), "{:}"),
        (SHAPE, Variant("empty"), "empty"),
        (SHAPE, Variant("ok"), "%ok"),
        (SHAPE, Variant("err", "e"), '%err("e")'),
        (SHAPE, Variant("circle", 2.5), "circle(2.5)"),
        (COLOR, enum_class(COLOR)("dark-blue"), "dark-blue"),
        (COLOR, enum_class(COLOR)("none"), "%none"),
        (T.OptionType(T.U8), None, "none"),
        (T.OptionType(T.U8), 3, "some(3)"),
        (T.OptionType(T.OptionType(T.U8)), Some(None), "some(none)"),
        (T.ResultType(T.STRING, T.U8), Ok("x"), 'ok("x")'),
        (T.ResultType(None, None), Err(None), "err"),
        (T.ResultType(None, T.STRING), Ok(None), "ok"),
        (PERMS, flags_class(PERMS)(0), "{}"),
        (PERMS, flags_class(PERMS)(5), "{read, exec}"),
    ],
)
def test_printed_form_and_back(t: T.ValType, value: Any, text: str) -> None:
    assert to_wave(value, t) == text
    back = value_from_wave(text, t)
    if isinstance(value, float) and math.isnan(value):
        assert math.isnan(back)
    else:
        assert back == value and type(back) is type(value)
        if isinstance(value, float):
            assert math.copysign(1, back) == math.copysign(1, value)


@pytest.mark.parametrize(
    ("t", "text", "value"),
    [
        (T.OptionType(T.U8), "7", 7),  # a flat some
        (T.ResultType(T.U8, None), "7", Ok(7)),  # a flat ok
        (
            T.RecordType((T.FieldType("a", T.U8), T.FieldType("b", T.OptionType(T.U8)))),
            "{b: 1, a: 2,}",
            Record(a=2, b=1),
        ),
        (PERMS, "{exec, %read,}", flags_class(PERMS)(5)),
        (T.ListType(T.S32), "[ 1 , // one\n 2 ]", [1, 2]),
        (T.STRING, '"""\n  one\n    two\n  """', "one\n  two"),
        (T.STRING, '"""\r\nx\r\n"""', "x"),
        (T.STRING, '"\\u{1F600}"', "😀"),
        (T.F32, "16777217", 16777216.0),  # to the nearest f32, ties to even
        (T.F32, "1e39", math.inf),
        (T.F64, "1e400", math.inf),
        (T.F32, "-1e-50", -0.0),
        (T.S32, "-0", 0),
        (T.F64, "5", 5.0),
    ],
)
def test_accepted_forms(t: T.ValType, text: str, value: Any) -> None:
    assert value_from_wave(text, t) == value


@pytest.mark.parametrize(
    ("t", "text", "message"),
    [
        (T.U8, "256", "256 is out of range for `u8` (0 to 255)"),
        (T.U8, "-0", "-0 is not a value of type `u8`"),
        (T.S8, "-129", "out of range"),
        (T.U32, "1e3", "1e3 is not a value of type `u32`"),
        (T.U64, "1" * 100, "out of range"),
        (T.U8, "01", "unexpected characters after the value"),
        (T.BOOL, "TRUE", "expected a value of type `bool`, found TRUE"),
        (T.BOOL, "True", "unexpected characters after the value (at offset 1)"),
        (T.F64, "+1", "unexpected character '+'"),
        (T.F64, ".5", "unexpected character '.'"),
        (T.CHAR, "'ab'", "a char literal holds one character"),
        (T.CHAR, "''", "a char literal holds one character"),
        (T.CHAR, '"a"', "expected a value of type `char`, found a string"),
        (T.STRING, '"\\u{d800}"', "is not a Unicode scalar value"),
        (T.STRING, '"\\u{110000}"', "is not a Unicode scalar value"),
        (T.STRING, '"\\u{}"', "invalid character escape"),
        (T.STRING, '"\\x41"', "invalid character escape (at offset 1)"),
        (T.STRING, '"a', "unterminated string"),
        (T.STRING, '"a\nb"', "a line break inside quotes"),
        (T.STRING, '"""x\n"""', 'opening """ must be followed immediately by a line break'),
        (T.STRING, '"""\nx"""', 'closing """ must be on a line of its own'),
        (T.STRING, '"""\n x\n  """', "lines must be indented at least as much"),
        (T.ListType(T.U8, 2), "[1]", "needs 2 elements, not 1"),
        (T.TupleType((T.U8, T.U8)), "(1)", "has 2 elements, not 1"),
        (T.TupleType((T.U8,)), "()", "empty tuple"),
        (POINT, "{long-name: none}", "missing field `x`"),
        (POINT, "{x: 1, y: 2}", "has no field `y`"),
        (POINT, "{x: 1, x: 2}", "duplicate field 'x'"),
        (PERMS, "{read, read}", "duplicate flag 'read'"),
        (PERMS, "{run}", "`run` is not a flag"),
        (PERMS, "{:}", "expected a value of type `flags"),
        (SHAPE, "ok", "expected a value of type `variant"),
        (SHAPE, "empty(1)", "case `empty` has no payload"),
        (SHAPE, "circle", "case `circle` needs a payload of type `f64`"),
        (SHAPE, "square", "`square` is not a case of"),
        (COLOR, "none", "expected a value of type `enum"),
        (T.OptionType(T.OptionType(T.U8)), "1", "expected a value of type `option<option<u8>>`"),
        (T.OptionType(T.U8), "some", "expected '(' after some"),
        (T.ResultType(None, T.U8), "1", "expected a value of type `result<_, u8>`"),
        (T.ListType(T.U8), "[1, 2", "unexpected end of input, expected ',' or ']'"),
        (T.ListType(T.U8), "[1 2]", "unexpected '2', expected ',' or ']'"),
        (T.ListType(T.U8), "[,]", "unexpected ',', expected a value"),
        (T.MapType(T.STRING, T.U8), "[]", "values of type `map<string, u8>` have no WAVE form"),
        (T.U8, "1 // c\n 2", "unexpected characters after the value (at offset 8)"),
        (T.STRING, "fooBar", "unexpected characters after the value"),
    ],
)
def test_rejected_forms(t: T.ValType, text: str, message: str) -> None:
    with pytest.raises(WaveError) as e:
        value_from_wave(text, t)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    t: T.ValType = T.U8
    for _ in range(MAX_DEPTH + 5):
        t = T.ListType(t)
    with pytest.raises(WaveError, match="nest deeper than 100"):
        value_from_wave("[" * 100_000 + "]" * 100_000, t)


def test_calls() -> None:
    ft = T.FuncType((("a", T.U8), ("b", T.OptionType(T.U8)), ("c", T.OptionType(T.U8))), None)
    call = parse_call("f(1)")
    assert (call.interface, call.func, call.arguments(ft)) == (None, "f", [1, None, None])
    assert parse_call("f(1, some(2),)").arguments(ft) == [1, 2, None]
    for text, iface, func in [
        ("ns:pkg/iface.f()", "ns:pkg/iface", "f"),
        ("ns:pkg/iface.f@1.2.3()", "ns:pkg/iface@1.2.3", "f"),
        ("ns:pkg/iface@1.2.3#f()", "ns:pkg/iface@1.2.3", "f"),
        ("api.do-it ()", "api", "do-it"),
    ]:
        c = parse_call(text)
        assert (c.interface, c.func, c.args) == (iface, func, [])
    with pytest.raises(WaveError, match=r"takes 3 arguments, 0 were given \(missing `a: u8`"):
        parse_call("f()").arguments(ft)
    with pytest.raises(WaveError, match="needs a function"):
        parse_call("ns:pkg/iface(1)")
    assert results_to_wave([], []) == "()"
    assert results_to_wave([1], [T.U8]) == "1"


# --- round trips of arbitrary values -----------------------------------------------------------

_LEAVES: list[T.ValType] = [T.BOOL, T.F32, T.F64, T.CHAR, T.STRING, COLOR, PERMS]
_LEAVES += [T.PrimType(n) for n in INTS]  # type: ignore[arg-type]


def _types() -> st.SearchStrategy[T.ValType]:
    labels = st.from_regex(r"[a-z][a-z0-9]{0,3}(-[a-z0-9]{1,3})?", fullmatch=True)

    def grow(inner: st.SearchStrategy[T.ValType]) -> st.SearchStrategy[T.ValType]:
        fields = st.lists(
            st.tuples(labels, inner), min_size=1, max_size=3, unique_by=lambda f: f[0]
        )
        cases = st.lists(
            st.tuples(labels | st.sampled_from(["ok", "none", "inf"]), st.none() | inner),
            min_size=1,
            max_size=3,
            unique_by=lambda c: c[0],
        )
        return st.one_of(
            inner.map(T.ListType),
            st.tuples(inner, st.integers(1, 3)).map(lambda p: T.ListType(p[0], p[1])),
            st.lists(inner, min_size=1, max_size=3).map(lambda ts: T.TupleType(tuple(ts))),
            fields.map(lambda fs: T.RecordType(tuple(T.FieldType(n, t) for n, t in fs))),
            cases.map(lambda cs: T.VariantType(tuple(T.CaseType(n, t) for n, t in cs))),
            inner.map(T.OptionType),
            st.tuples(st.none() | inner, st.none() | inner).map(lambda p: T.ResultType(*p)),
        )

    return st.recursive(st.sampled_from(_LEAVES), grow, max_leaves=6)


def _values(t: T.ValType) -> st.SearchStrategy[Any]:
    if isinstance(t, T.PrimType):
        n = t.name
        if n == "bool":
            return st.booleans()
        if n == "f32":
            return st.floats(width=32)
        if n == "f64":
            return st.floats()
        if n == "char":
            return st.characters(codec="utf-8")
        if n == "string":
            return st.text(st.characters(codec="utf-8"), max_size=8)
        bits = int(n[1:])
        return (
            st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
            if n[0] == "s"
            else st.integers(0, 2**bits - 1)
        )
    if isinstance(t, T.ListType):
        size = {"min_size": t.length, "max_size": t.length} if t.length else {"max_size": 3}
        if t.t == T.U8:
            return st.binary(**size)
        return st.lists(_values(t.t), **size)
    if isinstance(t, T.TupleType):
        return st.tuples(*map(_values, t.ts))
    if isinstance(t, T.RecordType):
        return st.fixed_dictionaries(
            {f.label.replace("-", "_"): _values(f.t) for f in t.fields}
        ).map(lambda d: Record(**d))
    if isinstance(t, T.VariantType):
        return st.one_of(
            *(
                st.just(Variant(c.label))
                if c.t is None
                else _values(c.t).map(lambda v, c=c: Variant(c.label, v))
                for c in t.cases
            )
        )
    if isinstance(t, T.EnumType):
        return st.sampled_from(list(enum_class(t)))
    if isinstance(t, T.FlagsType):
        return st.integers(0, 2 ** len(t.labels) - 1).map(flags_class(t))
    if isinstance(t, T.OptionType):
        wrap = (lambda v: Some(v)) if isinstance(t.t, T.OptionType) else (lambda v: v)
        return st.none() | _values(t.t).map(wrap)
    assert isinstance(t, T.ResultType)
    ok = st.just(Ok(None)) if t.ok is None else _values(t.ok).map(Ok)
    err = st.just(Err(None)) if t.error is None else _values(t.error).map(Err)
    return ok | err


def _same(a: Any, b: Any) -> bool:
    """Equality, with nan equal to nan and -0.0 apart from 0.0."""
    if isinstance(a, float):
        if math.isnan(a):
            return isinstance(b, float) and math.isnan(b)
        return isinstance(b, float) and a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, Record):
        return (
            isinstance(b, Record)
            and vars(a).keys() == vars(b).keys()
            and all(_same(vars(a)[k], vars(b)[k]) for k in vars(a))
        )
    if isinstance(a, Variant | Ok | Err | Some):
        return (
            type(a) is type(b)
            and getattr(a, "tag", None) == getattr(b, "tag", None)
            and _same(a.value, b.value)
        )
    return bool(a == b) and type(a) is type(b)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_every_value_round_trips(data: st.DataObject) -> None:
    t = data.draw(_types())
    v = data.draw(_values(t))
    back = round_trip(v, t)
    assert _same(v, back), (to_wave(v, t), v, back)


@settings(max_examples=300, deadline=None)
@given(st.floats(width=32))
def test_f32_prints_the_shortest_text_that_reads_back(x: float) -> None:
    text = to_wave(x, T.F32)
    back = value_from_wave(text, T.F32)
    assert _same(x, back)
    if math.isfinite(x) and x != 0:
        digits = text.lstrip("-0.").replace(".", "").rstrip("0")
        shorter = f"{x:.{max(len(digits) - 2, 0)}e}"  # one digit fewer
        assert struct.unpack("<f", struct.pack("<f", float(shorter)))[0] != x or len(digits) == 1


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=50))
def test_arbitrary_text_parses_or_raises_wave_error(text: str) -> None:
    try:
        value_from_wave(text, T.ListType(T.STRING))
    except WaveError:
        pass
