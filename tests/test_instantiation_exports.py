"""Core exports passed on as imports without being fetched: ``core.instantiate_with``
and the component instantiations that use it, against real modules and components."""

from __future__ import annotations

import pytest
import wasmtime

from wasmloom import Component, Linker, LinkError, Store
from wasmloom.core import CoreStore, compile_module, default_engine, host_func, instantiate
from wasmloom.core.instantiate import ExportRef, Wiring, instantiate_with
from wasmloom.types import CoreFuncType

PROVIDER = """
(module
  (memory (export "mem") 1)
  (global $n (mut i32) (i32.const 0))
  (func (export "bump") (result i32)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (global.get $n))
  (func (export "twice") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2))))
"""

USER = """
(module
  (import "p" "bump" (func $bump (result i32)))
  (import "p" "mem" (memory 1))
  (import "h" "add" (func $add (param i32) (result i32)))
  (func (export "run") (result i32)
    (i32.store (i32.const 0) (call $add (call $bump)))
    (i32.load (i32.const 0))))
"""


def compile_wat(text: str):  # type: ignore[no-untyped-def]
    return compile_module(default_engine(), wasmtime.wat2wasm(text))


def provider(store: CoreStore):  # type: ignore[no-untyped-def]
    return instantiate(store, compile_wat(PROVIDER), [])


def test_instance_exports_and_refs_become_imports() -> None:
    store = CoreStore()
    p = provider(store)
    add = host_func(store, CoreFuncType(("i32",), ("i32",)), lambda x: x + 100)
    user = compile_wat(USER)
    got = []
    # the provider's exports directly, and then as refs inside an inline instance
    for args, instances in (
        ({"p": p.exports, "h": {"add": add}}, ()),
        (
            {
                "p": {"bump": ExportRef((0, "bump")), "mem": ExportRef((0, "mem"))},
                "h": {"add": add},
            },
            [p.exports],
        ),
    ):
        run = instantiate_with(store, user, args, instances).func("run").caller()
        got += [run(), run()]
    assert got == [101, 102, 103, 104]  # one provider: its counter and memory are shared
    assert bytes(p.memory("mem").view()[0:4]) == (104).to_bytes(4, "little")


def test_missing_or_mistyped_exports_are_link_errors() -> None:
    store = CoreStore()
    p = provider(store)
    add = host_func(store, CoreFuncType(("i32",), ("i32",)), lambda x: x)
    user = compile_wat(USER)
    with pytest.raises(LinkError, match="`h` was not supplied"):
        instantiate_with(store, user, {"p": p.exports})
    with pytest.raises(LinkError, match="`h` has no export `add`"):
        instantiate_with(store, user, {"p": p.exports, "h": {}})
    renamed = {"bump": ExportRef((0, "twice")), "mem": ExportRef((0, "nope"))}
    with pytest.raises(LinkError, match="`p` has no export `mem`"):
        instantiate_with(store, user, {"p": renamed, "h": {"add": add}}, [p.exports])
    wrong_kind = {"bump": ExportRef((0, "mem")), "mem": ExportRef((0, "mem"))}
    with pytest.raises(LinkError, match=r"import `p::bump`: expected a func, got memory"):
        instantiate_with(store, user, {"p": wrong_kind, "h": {"add": add}}, [p.exports])
    with pytest.raises(LinkError, match=r"import `h::add`: expected a func, got memory"):
        instantiate_with(store, user, {"p": p.exports, "h": {"add": p.memory("mem")}})
    other = provider(CoreStore())
    with pytest.raises(LinkError, match="belongs to a different store"):
        instantiate_with(store, user, {"p": other.exports, "h": {"add": add}})


# `run` reaches the provider's `bump` through an inline instance of aliases; the
# lift's memory is one of those aliases too (fetched, since the lift uses it).
COMPONENT = """
(component
  (import "add" (func $add (param "x" u32) (result u32)))
  (core module $P
    (memory (export "mem") 1)
    (global $n (mut i32) (i32.const 0))
    (func (export "bump") (result i32)
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (global.get $n)))
  (core module $U
    (import "p" "bump" (func $bump (result i32)))
    (import "p" "mem" (memory 1))
    (import "h" "add" (func $add (param i32) (result i32)))
    (func (export "run") (result i32) (call $add (call $bump))))
  (core instance $p (instantiate $P))
  (alias core export $p "bump" (core func $bump))
  (alias core export $p "mem" (core memory $mem))
  (core func $add-lowered (canon lower (func $add)))
  (core instance $u (instantiate $U
    (with "p" (instance (export "bump" (func $bump)) (export "mem" (memory $mem))))
    (with "h" (instance (export "add" (func $add-lowered))))))
  (func (export "run") (result u32) (canon lift (core func $u "run") (memory $mem)))
)
"""


def test_instances_from_one_instance_pre_are_independent() -> None:
    comp = Component.from_bytes(wasmtime.wat2wasm(COMPONENT))
    linker = Linker()
    linker.root().func_wrap("add", lambda x: x + 1000)
    pre = linker.instantiate_pre(comp)
    first, second = Store[None](), Store[None]()
    a = pre.instantiate(first).get_func("run")
    b = pre.instantiate(second).get_func("run")
    assert a is not None and b is not None
    assert (a(first), a(first), b(second)) == (1001, 1002, 1001)  # b: its own provider
    again = linker.instantiate(second, comp).get_func("run")
    assert again is not None and again(second) == 1001


def test_a_wiring_is_reused_and_a_changed_shape_is_checked_again() -> None:
    user = compile_wat(USER)
    wiring = Wiring()
    got = []
    for _ in range(2):  # the second store's call reuses the wiring the first one made
        store = CoreStore()
        p = provider(store)
        add = host_func(store, CoreFuncType(("i32",), ("i32",)), lambda x: x + 100)
        args = {
            "p": {"bump": ExportRef((0, "bump")), "mem": ExportRef((0, "mem"))},
            "h": {"add": add},
        }
        run = instantiate_with(store, user, args, [p.exports], wiring).func("run").caller()
        got += [run(), run()]
        assert wiring.module is user
    assert got == [101, 102, 101, 102]  # each store's own provider
    # arguments of another shape: checked (and wired) afresh, with the same errors
    store = CoreStore()
    p = provider(store)
    add = host_func(store, CoreFuncType(("i32",), ("i32",)), lambda x: x + 7)
    run = instantiate_with(store, user, {"p": p.exports, "h": {"add": add}}, (), wiring)
    assert run.func("run").caller()() == 8
    wrong_kind = {"bump": ExportRef((0, "mem")), "mem": ExportRef((0, "mem"))}
    with pytest.raises(LinkError, match=r"import `p::bump`: expected a func, got memory"):
        instantiate_with(store, user, {"p": wrong_kind, "h": {"add": add}}, [p.exports], wiring)
    with pytest.raises(LinkError, match=r"import `h::add`: expected a func, got memory"):
        instantiate_with(store, user, {"p": p.exports, "h": {"add": p.memory("mem")}}, (), wiring)
    other = provider(CoreStore())
    with pytest.raises(LinkError, match="belongs to a different store"):
        instantiate_with(store, user, {"p": other.exports, "h": {"add": add}}, (), wiring)


STARTED = """
(module
  (import "p" "bump" (func $bump (result i32)))
  (import "p" "mem" (memory 1))
  (import "h" "add" (func $add (param i32) (result i32)))
  (global $got (mut i32) (i32.const 0))
  (func $start (global.set $got (call $add (call $bump))))
  (start $start)
  (func (export "run") (result i32) (global.get $got)))
"""


def test_a_reused_wiring_keeps_its_imports_array_and_a_nested_reuse_gets_its_own() -> None:
    user = compile_wat(STARTED)
    wiring = Wiring()
    store = CoreStore()
    p = provider(store)
    refs = {"bump": ExportRef((0, "bump")), "mem": ExportRef((0, "mem"))}
    inner: list[int] = []
    nest = [False]

    def add(x: int) -> int:
        # the start function of an instance being made with the wiring makes another
        if nest[0]:
            nest[0] = False
            nested = instantiate_with(
                store, user, {"p": refs, "h": {"add": h}}, [p.exports], wiring
            )
            inner.append(nested.func("run").caller()())
        return x + 100

    h = host_func(store, CoreFuncType(("i32",), ("i32",)), add)
    args = {"p": refs, "h": {"add": h}}
    first = instantiate_with(store, user, args, [p.exports], wiring).func("run").caller()
    assert wiring.spare == []  # the first call wires: nothing kept yet
    nest[0] = True
    second = instantiate_with(store, user, args, [p.exports], wiring).func("run").caller()
    # the second call's start function made a third instance with the same wiring while
    # the second held the kept array: the third had one of its own; both are kept
    assert (first(), second(), inner) == (101, 102, [103])  # each its own bump's
    assert len(wiring.spare) == 2
    assert all(kept[0] is wiring.passed for kept in wiring.spare)
    # another shape drops them; its own reuse keeps one again
    for expect in (104, 105):
        made = instantiate_with(store, user, {"p": p.exports, "h": {"add": h}}, (), wiring)
        assert made.func("run").caller()() == expect
    assert len(wiring.spare) == 1 and wiring.spare[0][0] is wiring.passed
