"""Containment: what a guest can make the host allocate through handle tables.

The handle limit (``StoreLimits.handles``) against tests/guests/contain_handles.wat:
each built-in that adds to the instance's handle table traps at the first
entry past the limit, freed entries are reused, and the store stays usable.
"""

from __future__ import annotations

from typing import Any

import pytest
from guest_util import component

from wasmloom import Instance, Linker, Store, StoreLimits, Trap
from wasmloom.abi.handles import Table
from wasmloom.runtime.tasks import instance_state


class Guest:
    """An instance of a containment guest in ``store``; ``g("f", ...)`` calls export ``f``."""

    def __init__(self, name: str, store: Store[None]) -> None:
        self.store = store
        self.inst: Instance = Linker().instantiate(store, component(name))

    def func(self, name: str) -> Any:
        f = self.inst.get_func(name)
        assert f is not None, name
        return f

    def __call__(self, name: str, *args: Any) -> Any:
        return self.func(name)(self.store, *args)


# --- the handle limit ------------------------------------------------------------------


def test_resource_handles_stop_at_the_limit_and_freed_ones_are_reused() -> None:
    store: Store[None] = Store(limits=StoreLimits(handles=1000))
    g = Guest("contain_handles", store)
    assert g("resources", 1000) == 1000  # handles 1..1000
    for h in (5, 17, 999):
        g("drop-resource", h)
    assert g("resources", 3) == 5  # the freed slots, reused
    with pytest.raises(Trap, match="handle limit of 1000 reached") as info:
        g("resources", 1)
    assert "resources" in str(info.value)
    with pytest.raises(Trap, match="cannot enter component instance"):
        g("resources", 1)
    fresh = Guest("contain_handles", store)
    assert fresh("resources", 1000) == 1000
    with pytest.raises(Trap, match="handle limit of 1000 reached"):
        fresh("resources", 1)


@pytest.mark.parametrize(
    ("export", "per_call", "drop"),
    [
        ("streams", 2, None),  # the readable and the writable end
        ("futures", 2, None),
        ("sets", 1, "drop-set"),
        ("errors", 1, "drop-error"),
    ],
)
def test_every_kind_of_handle_counts(export: str, per_call: int, drop: str | None) -> None:
    store: Store[None] = Store(limits=StoreLimits(handles=1000))
    g = Guest("contain_handles", store)
    last = g(export, 1000 // per_call)
    assert last == 1000
    if drop is not None:
        g(drop, 10)
        assert g(export, 1) == 10
    with pytest.raises(Trap, match="handle limit of 1000 reached"):
        g(export, 1)
    with pytest.raises(Trap, match="cannot enter component instance"):
        g(export, 1)
    fresh = Guest("contain_handles", store)
    assert fresh(export, 1000 // per_call) == 1000


def test_without_a_limit_handles_are_not_bounded_by_it() -> None:
    g = Guest("contain_handles", Store())
    assert g("resources", 5000) == 5000


def test_the_thread_table_takes_the_limit_too() -> None:
    store: Store[None] = Store(limits=StoreLimits(handles=7))
    g = Guest("contain_handles", store)
    inst = g.inst._inst
    assert inst.handles.limit == 7
    assert instance_state(inst).threads.limit == 7


def test_table_limit_counts_live_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    t: Table[str] = Table(2)
    assert (t.add("a"), t.add("b")) == (1, 2)
    with pytest.raises(Trap, match="handle limit of 2 reached"):
        t.add("c")
    assert t.remove(1) == "a"
    assert t.add("c") == 1 and len(t) == 2
    with pytest.raises(Trap, match="handle limit of 2 reached"):
        t.add("d")
    monkeypatch.setattr(Table, "MAX_LENGTH", 3)
    for table in (Table[str](), Table[str](10)):  # the absolute cap keeps its message
        for e in "abc":
            table.add(e)
        with pytest.raises(Trap, match="handle table full"):
            table.add("d")
