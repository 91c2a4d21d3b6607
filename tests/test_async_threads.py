"""The thread built-ins against a real guest (tests/guests/async_threads.wat).

Each export logs its steps as decimal digits, so the result shows the order in
which the main thread and the threads it started with ``thread.new-indirect``
ran: switching (``*-then-resume``/``*-then-promote``), ``resume-later``,
``thread.yield`` and ``thread.suspend``, each thread on its own fiber with its
own context slots.
"""

from __future__ import annotations

import asyncio

import pytest
from guest_util import component

from wasmloom import Instance, Linker, Store, Trap

ORDER = {
    # sync-typed: the main thread switches to a new thread and is switched back
    "suspend-then-resume": 123,
    # sync-typed: the new thread exits; the ready main thread is resumed
    "yield-then-resume": 123,
    # the thread made ready first runs first when main yields
    "resume-later": 123,
    # suspend-then-promote switches to a ready thread, which yields back
    "promote": 12345,
    # yield-then-promote of a thread that is not ready only yields
    "promote-not-ready": 1234,
    # a thread suspends itself; resume-later makes it run again
    "suspend-resumed-later": 12345,
}


def instantiate() -> tuple[Store[None], Instance]:
    store: Store[None] = Store()
    return store, Linker().instantiate(store, component("async_threads"))


@pytest.mark.parametrize("name", ORDER)
def test_thread_switching_order(name: str) -> None:
    store, inst = instantiate()
    f = inst.get_func(name)
    assert f is not None
    assert f(store) == ORDER[name]
    # the instance is not poisoned: the same export runs again
    assert f(store) == ORDER[name]


def test_threads_under_asyncio() -> None:
    store, inst = instantiate()

    async def main() -> list[int]:
        out = []
        for name in ORDER:
            f = inst.get_func(name)
            assert f is not None
            out.append(await f.call_async(store))
        return out

    assert asyncio.run(main()) == list(ORDER.values())


TRAPS = {
    "resume-self": "cannot resume thread which is not suspended",
    "switch-to-self": "cannot resume thread which is not suspended",
    "resume-unknown": "unknown handle index 99",
    "bad-table-index": "invalid table index 8 for `thread.new-indirect`",
    "null-table-entry": "invalid table index 7 for `thread.new-indirect`",
    "type-mismatch": "indirect call type mismatch for `thread.new-indirect`",
    "suspend-in-sync": "cannot block a synchronous task before returning",
    "trap-in-thread": "unreachable",
}


@pytest.mark.parametrize("name", TRAPS)
def test_thread_builtin_traps_and_poisons(name: str) -> None:
    store, inst = instantiate()
    f = inst.get_func(name)
    assert f is not None
    with pytest.raises(Trap, match=TRAPS[name]):
        f(store)
    g = inst.get_func("resume-later")
    assert g is not None
    with pytest.raises(Trap, match="cannot enter component instance"):
        g(store)
