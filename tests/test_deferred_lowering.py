"""Lowerings made at the first call: ``core.deferred_host_func`` and the first instance.

The first instance of a component lowers each sync import that returns at once
(``runtime.lower.lower_deferred``) with a host function whose Python side, the
lowering plan included, is made when the guest first calls it: a command that
imports a hundred WASI functions and calls ten makes ten. Later instances find
the plans made and lower eagerly, as before.
"""

from __future__ import annotations

import pytest
import wasmtime

from wasmloom import Component, Linker, Store, Trap, wat2wasm
from wasmloom.core import CoreStore, compile_module, default_engine, deferred_host_func, instantiate
from wasmloom.types import CoreFuncType

I32_I32 = CoreFuncType(("i32",), ("i32",))
CALLER = """(module
  (import "h" "f" (func $f (param i32) (result i32)))
  (func (export "go") (param i32) (result i32) (call $f (local.get 0))))"""


def _go(store: CoreStore, f: object) -> object:
    module = compile_module(default_engine(), wasmtime.wat2wasm(CALLER))
    return instantiate(store, module, [f]).func("go")  # type: ignore[list-item]


def test_the_function_is_made_at_the_first_call_and_once() -> None:
    store = CoreStore()
    made: list[int] = []

    def make() -> object:
        made.append(1)
        return lambda x: x + 1

    go = _go(store, deferred_host_func(store, I32_I32, make))  # type: ignore[arg-type]
    assert made == []
    assert go.call(1) == 2  # type: ignore[attr-defined]
    assert go.call(41) == 42  # type: ignore[attr-defined]
    assert made == [1]


def test_what_make_raises_fails_the_call_as_the_functions_exception_would() -> None:
    store = CoreStore()

    tries: list[int] = []

    def make() -> object:
        tries.append(1)
        if len(tries) == 1:
            raise ValueError("no plan")
        return lambda x: x * 2

    go = _go(store, deferred_host_func(store, I32_I32, make))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no plan"):
        go.call(1)  # type: ignore[attr-defined]
    assert go.call(21) == 42  # type: ignore[attr-defined]  # the next call makes it again
    assert len(tries) == 2

    def refuse() -> object:
        raise Trap("refused")

    go = _go(store, deferred_host_func(store, I32_I32, refuse))  # type: ignore[arg-type]
    with pytest.raises(Trap, match="refused"):
        go.call(1)  # type: ignore[attr-defined]


# Two imports, of which the export calls one: `used` takes a string (its lowering
# reads memory), `unused` is never called.
TWO = """
(component
  (import "used" (func $used (param "s" string)))
  (import "unused" (func $unused (param "x" u32) (result u32)))
  (core module $Mem (memory (export "mem") 1))
  (core instance $mem (instantiate $Mem))
  (core func $used-lowered (canon lower (func $used) (memory (core memory $mem "mem"))))
  (core func $unused-lowered (canon lower (func $unused)))
  (core module $M
    (import "h" "mem" (memory 1))
    (import "h" "used" (func $used (param i32 i32)))
    (import "h" "unused" (func $unused (param i32) (result i32)))
    (data (i32.const 16) "hello")
    (func (export "go") (call $used (i32.const 16) (i32.const 5))))
  (core instance $m (instantiate $M (with "h" (instance
    (export "mem" (memory $mem "mem"))
    (export "used" (func $used-lowered))
    (export "unused" (func $unused-lowered))))))
  (func (export "go") (canon lift (core func $m "go")))
)
"""


def test_first_and_later_instances_lower_alike_and_the_first_makes_only_what_is_called() -> None:
    calls: list[str] = []
    linker = Linker()
    root = linker.root()
    root.func_wrap("used", calls.append)
    root.func_wrap("unused", lambda x: x)
    pre = linker.instantiate_pre(Component.from_bytes(wat2wasm(TWO)))
    for _ in range(3):
        store: Store[None] = Store(None)
        go = pre.instantiate(store).get_func("go")
        assert go is not None
        assert go(store) is None
    assert calls == ["hello"] * 3
    # the first instance made the plan of the lowering it called, and of no other
    plans = pre._plan.abis  # type: ignore[attr-defined]
    assert len(plans) == 1
