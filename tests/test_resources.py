"""Resources against a real guest (tests/guests/resources.wat).

Host-defined resources (``res``, ``other``) pass in and out as own/borrow and
their destructor runs exactly once per guest drop; a guest-defined resource
(``g``) runs its own destructor; borrow scopes and bad handles trap with
Wasmtime's messages.
"""

from __future__ import annotations

from typing import Any

import pytest
from guest_util import component

from wasmloom import Instance, Linker, Resource, ResourceType, Store, Trap


class Env:
    def __init__(self) -> None:
        self.dropped: list[int] = []
        self.got: list[Resource] = []
        self.both: list[tuple[Resource, Resource]] = []
        linker = Linker()
        self.res: ResourceType = linker.root().resource("res", dtor=self.dropped.append)
        self.other: ResourceType = linker.root().resource("other")
        linker.root().func_wrap("host-make", lambda n: Resource(self.res, n, True))
        linker.root().func_wrap("host-get", self.host_get)
        linker.root().func_wrap("host-take-both", lambda a, b: self.both.append((a, b)))
        self.store: Store[None] = Store()
        self.inst: Instance = linker.instantiate(self.store, component("resources"))

    def host_get(self, r: Resource) -> int:
        self.got.append(r)
        return r.rep * 10

    def own(self, rep: int) -> Resource:
        return Resource(self.res, rep, True)

    def __call__(self, name: str, *args: Any) -> Any:
        f = self.inst.get_func(name)
        assert f is not None, name
        return f(self.store, *args)


@pytest.fixture
def env() -> Env:
    return Env()


def test_host_resource_own_in_and_out(env: Env) -> None:
    out = env("roundtrip", env.own(7))
    assert out == Resource(env.res, 7, True) and out.rt is env.res and out.own
    assert env.dropped == []


def test_host_resource_made_by_the_host_on_request_of_the_guest(env: Env) -> None:
    out = env("make", 42)
    assert out == env.own(42)


def test_borrow_passed_to_guest_and_on_to_the_host(env: Env) -> None:
    assert env("get-borrowed", Resource(env.res, 3, False)) == 30
    (seen,) = env.got
    assert seen.rt is env.res and seen.rep == 3 and not seen.own
    assert env.dropped == []


def test_an_own_handle_is_borrowed_for_an_import_call(env: Env) -> None:
    assert env("get-owned", env.own(5)) == 50
    assert env.got[0] == Resource(env.res, 5, False)
    assert env.dropped == [5]


def test_destructor_runs_exactly_once_per_drop(env: Env) -> None:
    env("drop-own", env.own(1))
    env("keep", env.own(2))
    assert env.dropped == [1]
    env("drop-kept")
    assert env.dropped == [1, 2]
    with pytest.raises(Trap, match="unknown handle index"):
        env("drop-kept")
    assert env.dropped == [1, 2]


def test_borrow_still_held_at_the_end_of_the_call_traps(env: Env) -> None:
    with pytest.raises(Trap, match="borrow handles still remain at the end of the call") as e:
        env("leak-borrow", Resource(env.res, 9, False))
    assert "leak-borrow" in str(e.value)


@pytest.mark.parametrize("index", [17, 0])
def test_unknown_handle_index(index: int) -> None:
    # A trap poisons the instance: each trapping case gets a fresh one.
    env = Env()
    with pytest.raises(Trap, match=f"unknown handle index {index}"):
        env("drop-handle", index)
    with pytest.raises(Trap, match="cannot enter component instance"):
        env("drop-handle", index)


def test_handle_used_with_the_wrong_resource_type(env: Env) -> None:
    with pytest.raises(Trap, match="used with the wrong type"):
        env("drop-as-other", env.own(4))
    assert env.dropped == []


def test_own_resource_cannot_be_given_away_while_borrowed(env: Env) -> None:
    with pytest.raises(Trap, match="cannot remove owned resource while borrowed"):
        env("lend-and-give", env.own(6))
    assert env.both == []


def test_lowering_a_resource_of_the_wrong_type_from_the_host_fails(env: Env) -> None:
    with pytest.raises(TypeError, match="resource of type `other` passed"):
        env("roundtrip", Resource(env.other, 1, True))


# --- the guest-defined resource `g` ---------------------------------------------------


def test_guest_resource_new_rep_drop_and_destructor(env: Env) -> None:
    g = env("g-new", 1234)
    assert isinstance(g, Resource) and g.own and g.rep == 1234
    assert g.rt is not env.res
    assert env("drops") == 0
    assert env("g-value", g) == 1234  # an own handle lends itself as a borrow
    assert env("g-rep-and-drop", g) == 1234
    assert env("drops") == 1 and env("last-dropped") == 1234


def test_guest_resource_handles_are_per_instance_table_entries(env: Env) -> None:
    handles = [env("g-new", rep) for rep in (10, 20, 30)]
    assert [h.rep for h in handles] == [10, 20, 30]
    for h in reversed(handles):
        assert env("g-rep-and-drop", h) == h.rep
    assert env("drops") == 3 and env("last-dropped") == 10


@pytest.mark.parametrize(
    ("index", "message"), [(1, "used with the wrong type"), (99, "unknown handle index 99")]
)
def test_guest_resource_rep_of_a_host_resource_handle_traps(index: int, message: str) -> None:
    env = Env()  # fresh per trapping case: a trap poisons the instance
    env("keep", env.own(8))
    with pytest.raises(Trap, match=message):
        env("g-rep-of", index)


def test_store_stays_usable_after_resource_traps(env: Env) -> None:
    with pytest.raises(Trap):
        env("drop-handle", 5)
    linker = Linker()
    linker.root().resource("res", env.res)
    linker.root().resource("other", env.other)
    for name in ("host-make", "host-get", "host-take-both"):
        linker.root().func_new(name, lambda store, args: None)
    again = linker.instantiate(env.store, component("resources"))
    f = again.get_func("roundtrip")
    assert f is not None and f(env.store, env.own(1)) == env.own(1)
