"""Sync ``canon lower`` of host functions: the generated function per core type
(flat parameters) and the general one (spilled parameters), against real components."""

from __future__ import annotations

import pytest

from wasmloom import Component, Linker, Store, Trap, wat2wasm

# greet(name, n) -> string is lowered with a return pointer (its result is spilled);
# sum17 takes 17 u32s, spilled to memory; twice(x) -> u32 is all flat.
GUEST = """
(component
  (import "greet" (func $greet (param "name" string) (param "n" u32) (result string)))
  (type $sum17-t (func
    (param "a0" u32) (param "a1" u32) (param "a2" u32) (param "a3" u32) (param "a4" u32)
    (param "a5" u32) (param "a6" u32) (param "a7" u32) (param "a8" u32) (param "a9" u32)
    (param "a10" u32) (param "a11" u32) (param "a12" u32) (param "a13" u32)
    (param "a14" u32) (param "a15" u32) (param "a16" u32) (result u32)))
  (import "sum17" (func $sum17 (type $sum17-t)))
  (import "twice" (func $twice (param "x" u32) (result u32)))
  (core module $Mem
    (memory (export "mem") 1)
    (global $next (mut i32) (i32.const 4096))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (global.get $next))
      (global.set $next (i32.add (global.get $next) (local.get 3)))
      (local.get $p)))
  (core instance $mem (instantiate $Mem))
  (alias core export $mem "mem" (core memory $memory))
  (alias core export $mem "realloc" (core func $realloc))
  (core func $greet-lowered (canon lower (func $greet) (memory $memory) (realloc $realloc)))
  (core func $sum17-lowered (canon lower (func $sum17) (memory $memory)))
  (core func $twice-lowered (canon lower (func $twice)))
  (core module $M
    (import "" "mem" (memory 1))
    (import "" "greet" (func $greet (param i32 i32 i32 i32)))
    (import "" "sum17" (func $sum17 (param i32) (result i32)))
    (import "" "twice" (func $twice (param i32) (result i32)))
    (func (export "greet-at") (param i32 i32 i32 i32) (result i32)
      (call $greet (local.get 0) (local.get 1) (local.get 2) (local.get 3))
      (local.get 3))
    (func (export "sum") (result i32)
      (local $i i32)
      (loop $fill
        (i32.store (i32.shl (local.get $i) (i32.const 2)) (i32.add (local.get $i) (i32.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $fill (i32.lt_u (local.get $i) (i32.const 17))))
      (call $sum17 (i32.const 0)))
    (func (export "twice-plus-one") (param i32) (result i32)
      (i32.add (call $twice (local.get 0)) (i32.const 1))))
  (core instance $m (instantiate $M (with "" (instance
    (export "mem" (memory $memory))
    (export "greet" (func $greet-lowered))
    (export "sum17" (func $sum17-lowered))
    (export "twice" (func $twice-lowered))))))
  (func (export "greet-at") (param "name" string) (param "n" u32) (param "at" u32)
    (result string)
    (canon lift (core func $m "greet-at") (memory $memory) (realloc $realloc)))
  (func (export "sum") (result u32) (canon lift (core func $m "sum")))
  (func (export "twice-plus-one") (param "x" u32) (result u32)
    (canon lift (core func $m "twice-plus-one")))
)
"""


def _instance() -> tuple[Store[None], object]:
    linker = Linker()
    root = linker.root()

    def greet(name: str, n: int) -> str:
        if name == "trap":
            raise Trap("greet refused")
        return f"{name}!" * n

    root.func_wrap("greet", greet)
    root.func_wrap("sum17", lambda *a: sum(a))
    root.func_wrap("twice", lambda x: 2 * x)
    store: Store[None] = Store()
    return store, linker.instantiate(store, Component.from_bytes(wat2wasm(GUEST)))


def _call(name: str, *args: object) -> object:
    store, inst = _instance()
    f = inst.get_func(name)  # type: ignore[attr-defined]
    assert f is not None
    return f(store, *args)


def test_flat_parameters_and_a_spilled_result() -> None:
    store, inst = _instance()
    f = inst.get_func("greet-at")  # type: ignore[attr-defined]
    assert f is not None
    assert f(store, "hi", 3, 1024) == "hi!hi!hi!"
    assert f(store, "", 0, 2048) == ""  # and again, through the same function


def test_all_flat() -> None:
    assert _call("twice-plus-one", 20) == 41


def test_spilled_parameters() -> None:
    assert _call("sum") == sum(range(1, 18))


@pytest.mark.parametrize(
    ("at", "message"),
    [(0xFFFF_FFF8, "pointer out of bounds of memory"), (1026, "unaligned pointer")],
)
def test_a_bad_return_pointer_traps(at: int, message: str) -> None:
    with pytest.raises(Trap, match=message):
        _call("greet-at", "hi", 1, at)


def test_a_trap_of_the_host_function_reaches_the_caller() -> None:
    with pytest.raises(Trap, match="greet refused"):
        _call("greet-at", "trap", 1, 1024)
