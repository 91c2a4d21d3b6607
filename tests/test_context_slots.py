"""Context-local storage kept in the wasm memory of the context built-ins
(wasmloom.runtime.context_slots.ContextSlots), on tests/guests/context_slots.wat.

The guest's `context.get`/`context.set` never call into Python; the runtime
saves and loads the slots whenever the code running in the instance changes
task or thread. The guest traps (``unreachable``) when a slot breaks the rule.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest
from guest_util import component

from wasmloom import Func, Linker, Store, StoreLimits

PATHS = [pytest.param(False, id="plain"), pytest.param(True, id="fibers")]
# The guest has one core memory and two core instances: limits at exactly that leave
# no room for the wasm context module, so the slots are kept by host functions.
LIMITS = [pytest.param(None, id="wasm"), pytest.param(StoreLimits(memories=1), id="host")]


def instance(
    fibers: bool, limits: StoreLimits | None = None
) -> tuple[Store[None], dict[str, Func]]:
    """A store (every guest on a fiber if ``fibers``) and the exports of the guest."""
    store: Store[None] = Store(time_slicing=fibers, limits=limits)
    inst = Linker().instantiate(store, component("context_slots"))
    funcs = {n: inst.get_func(n) for n in ("hold", "peek", "wide")}
    return store, {n: f for n, f in funcs.items() if f is not None}


@pytest.mark.parametrize("limits", LIMITS)
@pytest.mark.parametrize("fibers", PATHS)
def test_interleaved_tasks_keep_their_slots(fibers: bool, limits: StoreLimits | None) -> None:
    store, funcs = instance(fibers, limits)
    hold, peek = funcs["hold"], funcs["peek"]

    async def main() -> list[int]:
        calls = [asyncio.ensure_future(hold.call_async(store, x)) for x in (1, 5, 9)]
        await asyncio.sleep(0)
        # a sync call between the yields of the tasks starts with zeroed slots
        seen = await peek.call_async(store)
        return [seen, *await asyncio.gather(*calls)]

    assert asyncio.run(main()) == [0, 1, 5, 9]
    assert peek(store) == 0


@pytest.mark.parametrize("limits", LIMITS)
@pytest.mark.parametrize("fibers", PATHS)
def test_i64_slots(fibers: bool, limits: StoreLimits | None) -> None:
    store, funcs = instance(fibers, limits)
    wide = funcs["wide"]
    x = 0xFFFF_FFFF_FFFF_FFFE
    assert wide(store, x) == x ^ (x + 1)
    assert wide(store, 0x1_0000_0000) == 1
    assert funcs["peek"](store) == 0


@pytest.mark.parametrize("limits", [StoreLimits(memories=1), StoreLimits(instances=2)])
def test_limits_count_only_the_guests_own_instances_and_memories(limits: StoreLimits) -> None:
    """The context slots add no core instance or memory where a limit counts them."""
    store, funcs = instance(False, limits)
    assert funcs["wide"](store, 0x1_0000_0000) == 1
    assert funcs["peek"](store) == 0


def test_context_builtins_make_no_host_calls() -> None:
    store, funcs = instance(False)
    peek = funcs["peek"]
    peek(store)  # the call plan is built
    called: list[str] = []

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            called.append(frame.f_code.co_name)

    sys.setprofile(profile)
    try:
        assert peek(store) == 0
    finally:
        sys.setprofile(None)
    assert called  # the profile saw the call's Python frames
    assert "callback" not in called  # the shared host callback of core.signatures


@pytest.mark.parametrize("fibers", PATHS)
def test_destructor_without_a_thread_reaches_the_sync_storage(fibers: bool) -> None:
    store: Store[None] = Store(time_slicing=fibers)
    inst = Linker().instantiate(store, component("context_dtor"))
    make, saw, drop = (inst.get_func(n) for n in ("make-async", "dtor-saw", "drop-it"))
    assert make is not None and saw is not None and drop is not None
    g = asyncio.run(make.call_async(store, 5))  # its task's slot 0 is 5
    drop(store, g)  # the destructor runs in no thread of its instance
    assert saw(store) == 1000
