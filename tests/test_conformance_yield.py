"""A YIELD lets the event loop run (issue 15, item 3), on tests/guests/conformance_yield.wat.

A task that keeps yielding (the callback code YIELD, or ``thread.yield``) must
not starve the asyncio loop: other asyncio tasks, the host's coroutines and
timeouts run between its steps, as Wasmtime yields to its executor before
it resumes a yielded task. Each guest spins until the host tells it to stop,
or up to a limit that shows it was never told.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from guest_util import component

from wasmloom import Func, Linker, Store

LIMIT = 100_000
#: The most yields a guest may make while the host takes three turns of the loop.
FEW = 20
SPINS = ["spin", "spin-stackful"]


class Env:
    def __init__(self) -> None:
        self.stop = False
        self.paused = 0
        linker = Linker()
        linker.root().func_wrap("should-stop", lambda: self.stop)

        async def pause() -> None:
            for _ in range(3):
                await asyncio.sleep(0)
            self.paused += 1

        linker.root().func_wrap("pause", pause)
        self.store: Store[None] = Store()
        self.inst = linker.instantiate(self.store, component("conformance_yield"))

    def func(self, name: str) -> Func:
        f = self.inst.get_func(name)
        assert f is not None
        return f


@pytest.mark.parametrize("name", SPINS)
def test_an_asyncio_task_runs_while_the_guest_yields(name: str) -> None:
    env = Env()

    async def main() -> int:
        async def stopper() -> None:
            for _ in range(3):
                await asyncio.sleep(0)
            env.stop = True

        task = asyncio.create_task(stopper())
        n = int(await env.func(name).call_async(env.store, LIMIT))
        await task
        return n

    n = asyncio.run(main())
    assert 0 < n <= FEW


@pytest.mark.parametrize("name", SPINS)
def test_a_timeout_fires_while_the_guest_yields(name: str) -> None:
    """wait_for's timeout fires, the task is cancelled, and the instance stays usable."""
    env = Env()

    async def main() -> None:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(env.func(name).call_async(env.store, LIMIT), 0.02)
        assert time.monotonic() - t0 < 0.25
        env.stop = True
        assert await env.func(name).call_async(env.store, LIMIT) == 0

    asyncio.run(main())
    assert not env.inst.poisoned


def test_a_host_coroutine_runs_while_the_guest_yields_under_asyncio() -> None:
    env = Env()

    async def main() -> int:
        return int(await env.func("spin-on-host").call_async(env.store, LIMIT))

    n = asyncio.run(main())
    assert env.paused == 1
    assert 0 < n <= FEW


def test_a_host_coroutine_runs_while_the_guest_yields_in_a_sync_call() -> None:
    """No loop runs: the store's own loop gives the coroutine its turns."""
    env = Env()
    f = env.func("spin-on-host")
    n = f(env.store, LIMIT)
    assert env.paused == 1
    assert 0 < n <= FEW
    assert 0 < f(env.store, LIMIT) <= FEW
    assert env.paused == 2


@pytest.mark.parametrize("name", SPINS)
def test_a_sync_call_of_a_yielding_task_returns(name: str) -> None:
    """With no host work waiting, the yields of a sync call need no event loop."""
    env = Env()
    assert env.func(name)(env.store, 1000) == 1000


def test_yields_left_from_a_sync_call_go_on_under_asyncio() -> None:
    """A task that returned to a sync call and yields on waits for a turn of the store's
    own loop; a later driver under another loop takes that turn instead of waiting."""
    env = Env()
    assert env.func("return-then-yield")(env.store, 5) == 5
    assert env.func("yields-after")(env.store) < 5

    async def main() -> int:
        call = env.func("spin-on-host").call_async(env.store, LIMIT)
        return int(await asyncio.wait_for(call, 5))

    assert 0 < asyncio.run(main()) <= FEW
    assert env.func("yields-after")(env.store) == 5
