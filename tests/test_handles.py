"""Handle tables, resource handles and the resource built-ins."""

from __future__ import annotations

from typing import Any

import pytest
from abi_helpers import Env, Inst

from wasmloom import HandleError, Trap
from wasmloom import types as T
from wasmloom.abi.codecs import get_codec
from wasmloom.abi.handles import (
    BorrowScope,
    Table,
    resource_drop,
    resource_new,
    resource_rep,
)
from wasmloom.values import Resource


def test_table_reuses_free_slots() -> None:
    t: Table[str] = Table()
    assert [t.add("a"), t.add("b"), t.add("c")] == [1, 2, 3]
    assert t.remove(2) == "b"
    assert t.add("d") == 2
    assert list(t) == ["a", "d", "c"] and len(t) == 3
    for bad in (0, 4, -1, 2**32 - 1):
        with pytest.raises(Trap, match=f"unknown handle index {bad & 0xFFFFFFFF}$"):
            t.get(bad)


def test_resource_new_rep_drop() -> None:
    dropped: list[int] = []
    rt = T.ResourceType("r", dtor=dropped.append)
    inst = Inst()
    i = resource_new(inst, rt, 42)
    assert i == 1 and resource_rep(inst, rt, i) == 42
    resource_drop(inst, rt, i)
    assert dropped == [42]
    with pytest.raises(Trap, match="unknown handle index 1"):
        resource_drop(inst, rt, i)
    with pytest.raises(Trap, match="unknown handle index 5"):
        resource_rep(inst, rt, 5)
    with pytest.raises(Trap, match="unknown handle index 4294967295"):
        resource_drop(inst, rt, -1)


def test_wrong_type() -> None:
    r1, r2 = T.ResourceType("r1"), T.ResourceType("r2")
    inst = Inst()
    i = resource_new(inst, r1, 1)
    with pytest.raises(Trap, match="handle index 1 used with the wrong type, expected guest-def"):
        resource_drop(inst, r2, i)
    env = Env()
    env.inst = inst
    with pytest.raises(Trap, match="used with the wrong type"):
        get_codec(T.OwnType(r2)).lift_flat(env.cx(), iter([i]))


def test_may_leave() -> None:
    rt = T.ResourceType("r")
    inst = Inst()
    inst.may_leave = False
    with pytest.raises(Trap, match="cannot leave component instance"):
        resource_new(inst, rt, 1)


def test_own_transfer() -> None:
    rt = T.ResourceType("r")
    env = Env()
    i = resource_new(env.inst, rt, 7)
    c = get_codec(T.OwnType(rt))
    v = c.lift_flat(env.cx(), iter([i]))
    assert v == Resource(rt, 7, True)
    assert len(env.inst.handles) == 0  # moved out
    out: list[Any] = []
    c.lower_flat(env.cx(), v, out)
    assert resource_rep(env.inst, rt, out[0]) == 7
    with pytest.raises(TypeError):
        c.lower_flat(env.cx(), Resource(T.ResourceType("other"), 7, True), [])


def test_borrow_lend_and_scope() -> None:
    rt = T.ResourceType("r")
    caller = Env()
    i = resource_new(caller.inst, rt, 9)
    lend = BorrowScope()
    b = get_codec(T.BorrowType(rt)).lift_flat(caller.cx(lend), iter([i]))
    assert b == Resource(rt, 9, False)
    # the owner cannot drop or move it while lent
    with pytest.raises(Trap, match="cannot remove owned resource while borrowed"):
        resource_drop(caller.inst, rt, i)
    with pytest.raises(Trap, match="cannot remove owned resource while borrowed"):
        get_codec(T.OwnType(rt)).lift_flat(caller.cx(), iter([i]))
    # lowering the borrow into the callee creates a borrow handle counted by the task
    callee = Env()
    task = BorrowScope()
    out: list[Any] = []
    get_codec(T.BorrowType(rt)).lower_flat(callee.cx(task), b, out)
    assert task.num_borrows == 1
    with pytest.raises(Trap, match="borrow handles still remain at the end of the call"):
        task.exit()
    resource_drop(callee.inst, rt, out[0])  # dropping a borrow runs no destructor
    assert task.num_borrows == 0
    task.exit()
    lend.exit()
    resource_drop(caller.inst, rt, i)


def test_borrow_into_own_implementation_is_the_rep() -> None:
    env = Env()
    rt = T.ResourceType("r", impl=env.inst)
    h = get_codec(T.OwnType(rt)).lift_flat(env.cx(), iter([resource_new(env.inst, rt, 5)]))
    out: list[Any] = []
    get_codec(T.BorrowType(rt)).lower_flat(env.cx(BorrowScope()), h, out)
    assert out == [5]
    # a handle built by hand for a guest-implemented resource is refused
    with pytest.raises(HandleError, match="not given out by the runtime"):
        get_codec(T.BorrowType(rt)).lower_flat(env.cx(BorrowScope()), Resource(rt, 5, True), [])


def test_drop_traps_when_impl_cannot_be_entered() -> None:
    impl = Inst()
    impl.may_enter = False
    rt = T.ResourceType("r", impl=impl, dtor=lambda rep: None)
    inst = Inst()
    with pytest.raises(Trap, match="cannot enter component instance"):
        resource_drop(inst, rt, resource_new(inst, rt, 1))
