"""A component's walk made once per plan (``runtime.instance._schedule``): runs of
aliases of core exports are pushed at once by later instances, against a real
component."""

from __future__ import annotations

import wasmtime

from wasmloom import Component, Linker, Store
from wasmloom.runtime.instance import _AliasRun

# Two runs of aliases: of the instance $p's exports (taken at once after the first
# instance), and one that includes an export of the inline instance $h (walked one by
# one each time).
COMPONENT = """
(component
  (import "plus" (func $plus (param "x" u32) (result u32)))
  (core module $P
    (global $count (mut i32) (i32.const 0))
    (func (export "peek") (result i32) (global.get $count))
    (func (export "bump") (result i32)
      (global.set $count (i32.add (i32.const 1) (global.get $count)))
      (global.get $count))
    (memory (export "mem") 1))
  (core instance $p (instantiate $P))
  (alias core export $p "bump" (core func $bump))
  (alias core export $p "mem" (core memory $mem))
  (core func $add-lowered (canon lower (func $plus)))
  (core instance $h (export "add" (func $add-lowered)))
  (alias core export $h "add" (core func $add2))
  (alias core export $p "peek" (core func $peek))
  (core module $U
    (import "p" "bump" (func $bump (result i32)))
    (import "p" "peek" (func $peek (result i32)))
    (import "p" "mem" (memory 1))
    (import "h" "add" (func $add (param i32) (result i32)))
    (func (export "run") (result i32)
      (i32.store (i32.const 0) (call $add (call $bump)))
      (i32.add (i32.load (i32.const 0)) (call $peek))))
  (core instance $u (instantiate $U
    (with "p" (instance
      (export "bump" (func $bump)) (export "peek" (func $peek)) (export "mem" (memory $mem))))
    (with "h" (instance (export "add" (func $add2))))))
  (func (export "run") (result u32) (canon lift (core func $u "run")))
)
"""


def test_alias_runs_are_taken_at_once_by_later_instances() -> None:
    comp = Component.from_bytes(wasmtime.wat2wasm(COMPONENT))
    linker = Linker()
    linker.root().func_wrap("plus", lambda x: x + 1000)
    pre = linker.instantiate_pre(comp)
    got = []
    for _ in range(3):
        store: Store[None] = Store()
        run = pre.instantiate(store).get_func("run")
        assert run is not None
        got.append((run(store), run(store)))
    # each instance its own $p: bump() + 1000, plus peek() (= bump's value)
    assert got == [(1002, 1004)] * 3
    runs = [
        d for steps in pre._plan.schedules.values() for _, d in steps if isinstance(d, _AliasRun)
    ]
    # the third: `run` of $u, which the lift names
    assert [len(r.defs) for r in runs] == [2, 2, 1]
    assert all(r.tried for r in runs)
    direct, mixed, lifted = runs
    assert direct.fast is not None and mixed.fast is None and lifted.fast is not None
    targets, by_sort = direct.fast
    assert len(targets) == 1 and [len(refs) for _, refs in by_sort] == [1, 1]
