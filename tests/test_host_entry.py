"""Host functions share one C callback per core type and find their Python function by
the key wasmtime passes them: real WAT guests, many stores, stale keys."""

from __future__ import annotations

import gc

import pytest
import wasmtime

from wasmloom.core import CoreStore, compile_module, default_engine, host_func, instantiate
from wasmloom.core.signatures import STORE_GONE_MESSAGE, _host_callbacks, _host_refs
from wasmloom.types import CoreFuncType

I32_I32 = CoreFuncType(("i32",), ("i32",))
# a host trap reaches wasmtime-py's checked call as an error
WASMTIME_ERRORS = (wasmtime.Trap, wasmtime.WasmtimeError)

# $f is called in a loop, $g once per call: two host functions of one type in one module.
LOOP = """(module
  (import "" "f" (func $f (param i32) (result i32)))
  (import "" "g" (func $g (param i32) (result i32)))
  (func (export "loop") (param i32) (result i32) (local i32)
    (loop $l
      (local.set 1 (call $f (local.get 1)))
      (br_if $l (i32.lt_u (local.get 1) (local.get 0))))
    (call $g (local.get 1))))"""


def _loop(store: CoreStore, f, g):  # type: ignore[no-untyped-def]
    module = compile_module(store.engine, wasmtime.wat2wasm(LOOP))
    inst = instantiate(store, module, [host_func(store, I32_I32, f), host_func(store, I32_I32, g)])
    return inst.exports["loop"].caller()


def test_each_function_gets_its_own_state() -> None:
    s1, s2 = CoreStore(), CoreStore()
    loop1 = _loop(s1, lambda x: x + 1, lambda x: x * 10)
    loop2 = _loop(s2, lambda x: x + 3, lambda x: x + 0xFFFFFFFF)  # wraps to x - 1
    assert loop1(100) == 1000
    assert loop2(100) == 101
    assert loop1(5) == 50


def test_host_functions_create_no_callback_objects() -> None:
    store = CoreStore()
    _loop(store, lambda x: x + 1, lambda x: x)
    before = len(_host_callbacks)
    for _ in range(50):
        _loop(CoreStore(), lambda x: x + 1, lambda x: x)
    assert len(_host_callbacks) == before


def test_table_does_not_grow_as_stores_come_and_go() -> None:
    gc.collect()
    before = len(_host_refs)
    for i in range(200):
        store = CoreStore()
        assert _loop(store, lambda x: x + 1, lambda x, i=i: x + i)(3) == 3 + i
    del store
    gc.collect()
    assert len(_host_refs) <= before + 2  # at most the last store's, if still referenced
    gc.collect()
    assert len(_host_refs) == before


def test_call_after_its_store_is_freed_is_a_trap() -> None:
    store = CoreStore()
    f = host_func(store, I32_I32, lambda x: x + 1)
    wt_store = store.wasmtime  # the wasmtime store lives on, its host function too
    wt_func = f.to_wasmtime()
    assert wt_func(wt_store, 41) == 42
    del store, f
    gc.collect()
    with pytest.raises(WASMTIME_ERRORS, match=STORE_GONE_MESSAGE):
        wt_func(wt_store, 1)


def test_exception_trap_names_the_function() -> None:
    store = CoreStore()

    def parse_header(x: int) -> int:
        raise ValueError("bad header")

    wt_func = host_func(store, I32_I32, parse_header).to_wasmtime()
    with pytest.raises(WASMTIME_ERRORS, match=r"host function .*parse_header raised ValueError"):
        wt_func(store.wasmtime, 1)
    assert isinstance(store.take_pending(), ValueError)


def test_bad_results_trap_and_are_reraised() -> None:
    store = CoreStore()
    loop = _loop(store, lambda x: "one", lambda x: x)
    with pytest.raises(TypeError):
        loop(3)
    unit = host_func(store, CoreFuncType(("i32", "i32"), ()), lambda a, b: 7)
    with pytest.raises(WASMTIME_ERRORS, match="expected None"):
        unit.to_wasmtime()(store.wasmtime, 1, 2)


def test_nested_calls_at_other_stack_depths() -> None:
    # the host function re-enters the guest, which calls it again deeper down
    store = CoreStore()
    module = compile_module(
        default_engine(),
        wasmtime.wat2wasm(
            """(module
              (import "" "h" (func $h (param i32 i32 i32) (result i32)))
              (func (export "down") (param i32) (result i32)
                (call $h (local.get 0) (i32.const 7) (i32.const 0xffffffff))))"""
        ),
    )
    seen: list[tuple[int, int]] = []

    def h(n: int, seven: int, top: int) -> int:
        seen.append((seven, top))
        return 0 if n == 0 else 1 + down(n - 1)

    down = (
        instantiate(store, module, [host_func(store, CoreFuncType(("i32",) * 3, ("i32",)), h)])
        .exports["down"]
        .caller()
    )
    assert down(40) == 40
    assert down(3) == 3
    assert seen == [(7, 0xFFFFFFFF)] * 45


def test_mixed_value_types() -> None:
    store = CoreStore()
    ty = CoreFuncType(("i64", "f64", "i32"), ("f32", "i64"))
    module = compile_module(
        default_engine(),
        wasmtime.wat2wasm(
            """(module
              (import "" "m" (func $m (param i64 f64 i32) (result f32 i64)))
              (func (export "go") (result f32 i64)
                (call $m (i64.const -1) (f64.const 2.5) (i32.const 9))))"""
        ),
    )
    go = instantiate(store, module, [host_func(store, ty, lambda a, b, c: (b * c, a - 1))])
    assert go.exports["go"].caller()() == (22.5, 0xFFFFFFFFFFFFFFFE)
