"""FuncABI: parameter and result passing, flat and spilled, both directions."""

from __future__ import annotations

from typing import Any

import pytest
from abi_helpers import Env

from wasmloom import Trap
from wasmloom import types as T
from wasmloom.abi.context import CanonOptions
from wasmloom.abi.funcabi import FuncABI
from wasmloom.values import Record


def ft(params: list[T.ValType], result: T.ValType | None) -> T.FuncType:
    return T.FuncType(tuple((f"p{i}", t) for i, t in enumerate(params)), result)


def test_add() -> None:
    env = Env()
    fa = FuncABI(ft([T.U32, T.S32], T.S32), env.opts, "lift")
    cx = env.cx()
    assert fa.lower_params(cx, [1, -1]) == [1, 0xFFFF_FFFF]
    assert fa.lift_results(cx, 0xFFFF_FFFF) == -1
    assert fa.lift_results(cx, [5]) == 5
    assert fa.core_type == T.CoreFuncType(("i32", "i32"), ("i32",))
    with pytest.raises(TypeError, match="takes 2"):
        fa.lower_params(cx, [1])


def test_no_result() -> None:
    env = Env()
    fa = FuncABI(ft([], None), env.opts, "lift")
    assert fa.lower_params(env.cx(), []) == []
    assert fa.lift_results(env.cx(), None) is None
    assert fa.lower_results(env.cx(), None, ()) == []


def test_spilled_params_lift_side() -> None:
    env = Env()
    params = [T.U32] * 16 + [T.STRING]
    fa = FuncABI(ft(params, None), env.opts, "lift")
    args = [*range(16), "spill"]
    flat = fa.lower_params(env.cx(), args)
    assert len(flat) == 1
    assert env.calls[0] == (0, 0, 4, 72)  # the params tuple comes first
    # the callee side (a lowered import) reads them back from the pointer
    fb = FuncABI(ft(params, None), env.opts, "lower")
    assert fb.lift_params(env.cx(), flat) == args
    assert fb.core_type.params == ("i32",)


def test_spilled_results() -> None:
    env = Env()
    rt = T.TupleType((T.STRING, T.U64))
    imp = FuncABI(ft([T.U8], rt), env.opts, "lower")
    assert imp.core_type == T.CoreFuncType(("i32", "i32"), ())
    retptr = 256
    assert imp.lower_results(env.cx(), ("hi", 7), (3, retptr)) == []
    exp = FuncABI(ft([T.U8], rt), env.opts, "lift")
    assert exp.core_type == T.CoreFuncType(("i32",), ("i32",))
    assert exp.lift_results(env.cx(), retptr) == ("hi", 7)
    assert exp.lift_results(env.cx(), [retptr]) == ("hi", 7)


def test_retptr_traps() -> None:
    env = Env()
    rt = T.TupleType((T.U32, T.U32))
    exp = FuncABI(ft([], rt), env.opts, "lift")
    with pytest.raises(Trap, match="unaligned pointer"):
        exp.lift_results(env.cx(), 1)
    with pytest.raises(Trap, match="pointer out of bounds of memory"):
        exp.lift_results(env.cx(), 65532)
    imp = FuncABI(ft([], rt), env.opts, "lower")
    with pytest.raises(Trap, match="unaligned pointer"):
        imp.lower_results(env.cx(), (1, 2), (2,))
    with pytest.raises(Trap, match="out of bounds memory access"):
        imp.lower_results(env.cx(fused=True), (1, 2), (-4,))


def test_many_multi_value_round_trip() -> None:
    env = Env()
    rec = T.RecordType(tuple(T.FieldType(f"f{i}", T.F64) for i in range(20)))
    f = ft([rec, T.ListType(T.U16)], T.OptionType(rec))
    v = Record(**{f"f{i}": float(i) for i in range(20)})
    exp = FuncABI(f, env.opts, "lift")
    imp = FuncABI(f, env.opts, "lower")
    flat = exp.lower_params(env.cx(), [v, [1, 2, 3]])
    assert len(flat) == 1
    assert imp.lift_params(env.cx(), flat) == [v, [1, 2, 3]]
    retptr = 2048
    imp.lower_results(env.cx(), v, (*flat, retptr))
    assert exp.lift_results(env.cx(), retptr) == v


def test_async_thresholds() -> None:
    env = Env()
    opts = CanonOptions(memory=env.mem, realloc=env.realloc, is_async=True)
    f = ft([T.U32] * 5, T.U32)
    imp = FuncABI(f, opts, "lower")
    assert imp.core_type == T.CoreFuncType(("i32", "i32"), ("i32",))
    for i in range(5):
        env.mem.data[64 + 4 * i] = i + 1
    assert imp.lift_params(env.cx(), [64, 512]) == [1, 2, 3, 4, 5]
    assert imp.lower_results(env.cx(), 9, [64, 512]) == []
    assert env.mem.data[512] == 9
    exp = FuncABI(f, opts, "lift")
    assert exp.lower_params(env.cx(), [1, 2, 3, 4, 5]) == [1, 2, 3, 4, 5]
    assert exp.lift_task_return(env.cx(), [7]) == 7


def test_memory64_spill() -> None:
    env = Env(ptr_type="i64")
    f = ft([T.STRING], T.STRING)
    exp = FuncABI(f, env.opts, "lift")
    assert exp.core_type == T.CoreFuncType(("i64", "i64"), ("i64",))
    flat = exp.lower_params(env.cx(), ["wide"])
    imp = FuncABI(f, env.opts, "lower")
    assert imp.lift_params(env.cx(), flat) == ["wide"]
    imp.lower_results(env.cx(), "back", (*flat, 4096))
    assert exp.lift_results(env.cx(), 4096) == "back"


def test_bytes_fast_path() -> None:
    env = Env(size=4 << 20)
    f = ft([T.ListType(T.U8)], None)
    exp = FuncABI(f, env.opts, "lift")
    imp = FuncABI(f, env.opts, "lower")
    data = bytes(range(256)) * 4096
    flat = exp.lower_params(env.cx(), [data])
    got: Any = imp.lift_params(env.cx(), flat)[0]
    assert got == data and type(got) is bytes
