"""Handles of guest-defined resources in the dynamic API (tests/guests/counter.wat).

A handle the host holds is one the runtime gave it: a ``Resource`` built by hand
for a guest's resource type, one already dropped, one moved to the guest as
``own`` or a borrow whose call has ended is refused before the guest is entered
(and the instance stays usable). ``Resource.drop(store)`` runs the guest's
destructor. Types and messages name the resource (``own<counter>``).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from guest_util import component

from wasmloom import HandleError, Linker, Resource, Store, Trap, WasmloomError


class Counter:
    def __init__(self) -> None:
        self.store: Store[None] = Store()
        self.inst = Linker().instantiate(self.store, component("counter"))

    def __call__(self, name: str, *args: Any) -> Any:
        f = self.inst.get_func(name)
        assert f is not None, name
        return f(self.store, *args)

    def new(self, n: int) -> Resource:
        r = self("[constructor]counter", n)
        assert isinstance(r, Resource)
        return r


@pytest.fixture
def g() -> Counter:
    return Counter()


def test_types_and_values_keep_the_resource_name(g: Counter) -> None:
    new = g.inst.get_func("[constructor]counter")
    get = g.inst.get_func("[method]counter.get")
    assert new is not None and get is not None
    assert str(new.type) == "func(start: u32) -> own<counter>"
    assert str(get.type) == "func(self: borrow<counter>) -> u32"
    assert repr(g.new(3)) == "Resource(own<counter>, rep=3)"
    with pytest.raises(TypeError, match=r"`borrow<counter>`, got int 3"):
        g("[method]counter.get", 3)


def test_drop_runs_the_guests_destructor_once(g: Counter) -> None:
    c = g.new(5)
    assert g("[method]counter.get", c) == 5  # an own handle lends itself as a borrow
    assert not c.dropped
    c.drop(g.store)
    assert c.dropped and g("drops") == 1 and g("last-dropped") == 5
    c.drop(g.store)  # nothing left to drop
    assert g("drops") == 1


def test_a_dropped_handle_is_refused_and_the_instance_stays_usable(g: Counter) -> None:
    c = g.new(5)
    c.drop(g.store)
    for name in ("[method]counter.get", "consume"):
        with pytest.raises(HandleError, match=r"Resource\(own<counter>, rep=5\) was dropped"):
            g(name, c)
    assert g("drops") == 1 and g("[method]counter.get", g.new(6)) == 6


def test_an_own_handle_moves_to_the_guest(g: Counter) -> None:
    c = g.new(7)
    assert g("consume", c) == 7 and g("drops") == 1 and c.dropped
    with pytest.raises(HandleError, match="moved to the guest"):
        g("consume", c)
    with pytest.raises(HandleError, match="moved to the guest"):
        g("[method]counter.get", c)
    c.drop(g.store)  # the guest has it: nothing for the host to drop
    assert g("drops") == 1


@pytest.mark.parametrize("own", [True, False])
def test_a_handle_built_by_hand_never_reaches_the_guest(g: Counter, own: bool) -> None:
    c = g.new(8)
    forged = Resource(c.rt, 8, own)  # the rep of a live resource
    stale = Resource(c.rt, 9, own)  # a rep the guest never made
    for r in (forged, stale):
        with pytest.raises(HandleError, match="not given out by the runtime"):
            g("[method]counter.get", r)
        if own:
            with pytest.raises(HandleError, match="not given out by the runtime"):
                g("consume", r)
    with pytest.raises(HandleError, match="not given out by the runtime"):
        forged.drop(g.store)
    assert g("drops") == 0 and g("[method]counter.get", c) == 8


def test_a_destroyed_rep_never_reaches_the_guest(g: Counter) -> None:
    c = g.new(10)
    c.drop(g.store)
    again = Resource(c.rt, c.rep, True)
    with pytest.raises(HandleError):
        g("consume", again)
    assert g("drops") == 1


def test_handles_cannot_be_copied_or_changed(g: Counter) -> None:
    c = g.new(11)
    assert copy.copy(c) is c and copy.deepcopy(c) is c
    with pytest.raises(AttributeError):
        c.rep = 12  # type: ignore[misc]
    assert g("consume", c) == 11
    with pytest.raises(HandleError):
        g("consume", copy.copy(c))


def test_a_failed_call_leaves_an_own_handle_with_the_host(g: Counter) -> None:
    # `consume` takes one argument: the count is wrong, nothing moved
    c = g.new(12)
    with pytest.raises(TypeError):
        g("consume", c, 1)
    assert not c.dropped and g("consume", c) == 12


def test_drop_checks_the_store(g: Counter) -> None:
    c = g.new(13)
    with pytest.raises(WasmloomError, match="store"):
        c.drop(Store())
    assert not c.dropped


def test_drop_in_a_poisoned_instance_traps(g: Counter) -> None:
    c = g.new(14)
    g.inst._inst.poisoned = True  # as after a trap
    with pytest.raises(Trap, match="cannot enter component instance"):
        c.drop(g.store)
    assert not c.dropped


def test_a_borrow_lent_to_the_host_ends_with_the_call(g: Counter) -> None:
    kept: list[Resource] = []
    rt = g.inst.get_export("counter")

    def peek(c: Resource) -> int:
        kept.append(c)
        assert not c.own and c.rt is rt
        return int(g("[method]counter.get", c))  # usable during the call

    linker = Linker()
    linker.root().resource("counter", rt)
    linker.root().func_wrap("host-peek", peek)
    user = linker.instantiate(g.store, component("counter_user"))
    lend = user.get_func("lend")
    assert lend is not None
    assert lend(g.store, g.new(21)) == 21 and g("drops") == 1
    with pytest.raises(HandleError, match="the borrow ended"):
        g("[method]counter.get", kept[0])
