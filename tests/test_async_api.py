"""The asyncio host API against real guests (tests/guests/async_*.wat).

Stackful and callback tasks suspended on fibers while an ``async def`` host
function runs, concurrent calls, traps on the awaiting call with poisoning,
deadlock, and the synchronous entry point driving the store's loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from guest_util import component

from wasmloom import Instance, Linker, Store, Trap, WasmloomError

BLOCKING = ("stackful-wait", "stackful-set-wait", "callback-wait", "sync-add")


class Env:
    """``barrier``: each host call waits until that many calls have started (then
    the 1 ms sleep), so calls that do not overlap never finish."""

    def __init__(self, barrier: int = 0) -> None:
        self.log: list[tuple[str, int]] = []
        self.barrier = barrier
        self.all_started: asyncio.Event | None = None
        linker = Linker()
        linker.root().func_wrap("host-add", self.host_add)
        self.store: Store[None] = Store()
        self.inst: Instance = linker.instantiate(self.store, component("async_basic"))

    async def host_add(self, a: int) -> int:
        self.log.append(("start", a))
        if self.barrier:
            if self.all_started is None:
                self.all_started = asyncio.Event()
            if sum(what == "start" for what, _ in self.log) >= self.barrier:
                self.all_started.set()
            await asyncio.wait_for(self.all_started.wait(), 30)
        await asyncio.sleep(0.001)
        self.log.append(("end", a))
        return a + 100

    def func(self, name: str) -> Any:
        f = self.inst.get_func(name)
        assert f is not None
        return f


@pytest.mark.parametrize("name", BLOCKING)
def test_sync_call_drives_the_loop_through_an_async_host_function(name: str) -> None:
    env = Env()
    assert env.func(name)(env.store, 1) == 101
    assert env.log == [("start", 1), ("end", 1)]


def test_concurrent_calls_overlap_while_the_host_awaits() -> None:
    env = Env(barrier=12)

    async def main() -> list[int]:
        calls = [env.func(n).call_async(env.store, i) for i, n in enumerate(BLOCKING * 3)]
        return list(await asyncio.gather(*calls))

    assert asyncio.run(main()) == [100 + i for i in range(12)]
    starts = [i for i, (what, _) in enumerate(env.log) if what == "start"]
    assert len(starts) == 12 and starts[-1] < env.log.index(("end", 0))


def test_run_concurrent_and_spawn() -> None:
    env = Env()
    seen: list[int] = []

    async def background() -> None:
        seen.append(1)

    async def main() -> int:
        env.store.spawn(background())
        a, b = await asyncio.gather(
            env.func("callback-wait").call_async(env.store, 5),
            env.func("stackful-wait").call_async(env.store, 6),
        )
        return int(a + b)

    assert env.store.run_concurrent(main) == 211
    assert seen == [1]


def test_trap_raises_on_the_awaiting_call_and_poisons_the_instance() -> None:
    env = Env()

    async def main() -> None:
        ok = env.func("callback-wait").call_async(env.store, 1)
        with pytest.raises(Trap, match="unreachable"):
            await env.func("boom").call_async(env.store)
        with pytest.raises(Trap, match="cannot enter component instance"):
            await ok

    asyncio.run(main())


def test_host_exception_surfaces_on_the_awaiting_call() -> None:
    linker = Linker()

    async def failing(a: int) -> int:
        raise ValueError(f"no {a}")

    linker.root().func_wrap("host-add", failing)
    store: Store[None] = Store()
    inst = linker.instantiate(store, component("async_basic"))
    f = inst.get_func("stackful-wait")
    assert f is not None
    with pytest.raises(ValueError, match="no 3"):
        asyncio.run(f.call_async(store, 3))


def test_deadlock_is_reported_not_hung() -> None:
    env = Env()
    with pytest.raises(Trap, match="deadlock detected: event loop cannot make further progress"):
        env.func("wait-forever")(env.store)
    env = Env()
    with pytest.raises(Trap, match="deadlock detected"):
        asyncio.run(env.func("wait-forever").call_async(env.store))


def test_sync_call_of_an_async_export_inside_a_running_loop_is_refused() -> None:
    env = Env()

    async def main() -> None:
        with pytest.raises(WasmloomError, match="call_async"):
            env.func("stackful-wait")(env.store, 1)

    asyncio.run(main())


@pytest.mark.parametrize("name", ["add", "add-callback", "add-stackful"])
def test_plain_guest_sync_and_async(name: str) -> None:
    store: Store[None] = Store()
    inst = Linker().instantiate(store, component("async_plain"))
    f = inst.get_func(name)
    assert f is not None
    assert f(store, 1, 2) == 3
    assert asyncio.run(f.call_async(store, 20, 22)) == 42
