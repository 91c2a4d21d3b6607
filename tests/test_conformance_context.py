"""Context-local storage per task (issue 15, item 1), on tests/guests/conformance_context.wat.

Every call is a task whose `context.get` slots start at zero, sync calls
included; a ``realloc`` that the canonical ABI calls to lower a string runs with
fresh slots and its `context.set` is discarded; ``post-return`` sees the
slots of the task it follows, and what it sets there stays with that task.
The guest traps (``unreachable``) wherever a slot breaks the rule. Wasmtime
runs the same component with the same results.
"""

from __future__ import annotations

import asyncio

import pytest
from guest_util import component

from wasmloom import Func, Instance, Linker, Store

# time_slicing: every guest on a fiber, so every call (a sync one too) is a task with a thread
PATHS = [pytest.param(False, id="plain"), pytest.param(True, id="fibers")]


def instance(fibers: bool) -> tuple[Store[None], Instance]:
    store: Store[None] = Store(time_slicing=fibers)
    return store, Linker().instantiate(store, component("conformance_context"))


def func(inst: Instance, name: str) -> Func:
    f = inst.get_func(name)
    assert f is not None
    return f


@pytest.mark.parametrize("fibers", PATHS)
def test_each_sync_call_starts_with_zeroed_slots(fibers: bool) -> None:
    store, inst = instance(fibers)
    func(inst, "push")(store, 33)
    assert func(inst, "pull")(store) == 0
    assert func(inst, "pull1")(store) == 0
    func(inst, "push")(store, 7)
    assert func(inst, "pull1")(store) == 0


@pytest.mark.parametrize("fibers", PATHS)
def test_each_sync_call_from_a_guest_starts_with_zeroed_slots(fibers: bool) -> None:
    """$B calls push(33) then pull(): 0, and its own slot is untouched by either."""
    store, inst = instance(fibers)
    assert func(inst, "b-push-pull")(store) == 0
    assert func(inst, "b-push-pull")(store) == 0
    assert not inst.poisoned


@pytest.mark.parametrize("fibers", PATHS)
@pytest.mark.parametrize("name", ["take-strings", "take-strings-async"])
def test_callee_realloc_runs_with_fresh_slots(fibers: bool, name: str) -> None:
    """Two strings from the host: two reallocs, each finding zeroed slots and setting
    both; the function itself still starts at zero."""
    store, inst = instance(fibers)
    f = func(inst, name)
    assert f(store, "hello", "world!") == 11
    assert f(store, "héllo", "") == 6

    async def awaited() -> int:
        return int(await f.call_async(store, "ab", "c"))

    assert asyncio.run(awaited()) == 3
    assert not inst.poisoned


@pytest.mark.parametrize("fibers", PATHS)
def test_callee_realloc_from_a_guest_runs_with_fresh_slots(fibers: bool) -> None:
    store, inst = instance(fibers)
    assert func(inst, "b-take-strings")(store) == 11
    assert func(inst, "b-take-strings")(store) == 11


@pytest.mark.parametrize("fibers", PATHS)
def test_caller_realloc_runs_with_fresh_slots_and_its_set_is_discarded(fibers: bool) -> None:
    """$B's realloc, lowering give-string's result, finds zero and sets 0x7777; $B's
    own slot is still 0x1234 afterwards."""
    store, inst = instance(fibers)
    assert func(inst, "b-give-string")(store) == 5
    assert func(inst, "b-give-string")(store) == 5
    assert not inst.poisoned


@pytest.mark.parametrize("fibers", PATHS)
def test_post_return_sees_the_callee_task_slots(fibers: bool) -> None:
    """give-string sets 0xcafe; its post-return traps unless it sees it, then sets
    0xbeef, which no later task sees."""
    store, inst = instance(fibers)
    assert func(inst, "give-string")(store) == "hello"
    assert func(inst, "pull")(store) == 0
    assert func(inst, "give-string")(store) == "hello"
    assert not inst.poisoned
