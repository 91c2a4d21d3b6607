"""Async host functions run as if each were its own asyncio task (runtime/hostcoro.py).

Against ``async_cycle.wat`` (a callback-lifted guest calling the async host
import ``tick`` n times) and against :func:`hostcoro.start` directly.
"""

from __future__ import annotations

import asyncio
import contextvars
from pathlib import Path
from typing import Any

import pytest

from wasmloom import Component, Linker, Store
from wasmloom.runtime import hostcoro

GUESTS = Path(__file__).parent / "guests"
_COMP: Component | None = None


def cycles(tick: Any, n: int) -> int:
    """Run ``cycles(n)`` of async_cycle.wat with ``tick`` as the host import, awaited."""
    global _COMP
    if _COMP is None:
        _COMP = Component.from_file(GUESTS / "async_cycle.wat")
    linker = Linker()
    linker.root().func_wrap("tick", tick)
    store: Store[None] = Store()
    f = linker.instantiate(store, _COMP).get_func("cycles")
    assert f

    async def main() -> int:
        me = asyncio.current_task()
        got = await asyncio.wait_for(f.call_async(store, n), 5)
        assert asyncio.current_task() is me and not me.cancelling()  # type: ignore[union-attr]
        return int(got)

    return asyncio.run(main())


def test_current_task_is_one_task_for_every_step_and_not_the_callers() -> None:
    seen: list[tuple[Any, Any]] = []

    async def tick() -> None:
        first = asyncio.current_task()
        await asyncio.sleep(0)
        seen.append((first, asyncio.current_task()))

    assert cycles(tick, 5) == 5
    assert len(seen) == 5
    for first, later in seen:
        assert first is not None and first is later


def test_timeout_inside_a_host_function_set_in_its_first_step() -> None:
    timed_out: list[bool] = []

    async def tick() -> None:
        try:
            async with asyncio.timeout(0.01):
                await asyncio.Event().wait()
        except TimeoutError:
            timed_out.append(True)

    assert cycles(tick, 3) == 3
    assert timed_out == [True, True, True]


def test_wait_for_and_a_second_timeout_after_the_first_suspension() -> None:
    async def tick() -> None:
        await asyncio.sleep(0)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.Event().wait(), 0.005)
        async with asyncio.timeout(1):
            await asyncio.sleep(0)

    assert cycles(tick, 3) == 3


VAR: contextvars.ContextVar[int] = contextvars.ContextVar("VAR", default=0)


def test_each_call_runs_in_a_copy_of_the_context_and_keeps_it_across_suspensions() -> None:
    seen: list[tuple[int, int]] = []

    async def tick() -> None:
        v = VAR.get() + 10
        VAR.set(v)
        await asyncio.sleep(0)
        seen.append((v, VAR.get()))

    assert cycles(tick, 4) == 4
    assert len(seen) == 4 and all(a == b for a, b in seen)
    assert VAR.get() == 0


def test_a_host_function_that_finishes_at_once_is_not_awaited() -> None:
    async def tick() -> None:
        assert asyncio.current_task() is not None

    assert cycles(tick, 10) == 0


def test_an_exception_in_a_host_function_fails_the_call() -> None:
    async def tick() -> None:
        await asyncio.sleep(0)
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        cycles(tick, 2)


# --- hostcoro.start directly -------------------------------------------------------------


class Owner:
    """Stands in for a store's scheduler (the key of a worker pool)."""


def test_cancel_before_and_after_the_worker_took_it_up() -> None:
    done: list[tuple[Any, Any, bool]] = []
    closed: list[str] = []

    async def body(tag: str) -> str:
        try:
            await asyncio.Event().wait()
        finally:
            closed.append(tag)
        return tag

    def on_done(r: Any, e: BaseException | None, c: bool) -> None:
        done.append((r, e, c))

    async def main() -> None:
        owner = Owner()
        loop = asyncio.get_running_loop()
        h1, _ = hostcoro.start(owner, loop, body("early"))
        assert h1 is not None
        h1.on_done = on_done
        assert h1.cancel()  # closed at once, no on_done
        assert closed == ["early"] and done == []
        h2, _ = hostcoro.start(owner, loop, body("late"))
        assert h2 is not None
        h2.on_done = on_done
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert not h2.cancel()  # goes to the worker
        for _ in range(5):
            await asyncio.sleep(0)
        assert closed == ["early", "late"]
        assert done == [(None, None, True)]
        assert h2.done() and not h2.cancel()

    asyncio.run(main())


def test_workers_are_reused_concurrent_coroutines_get_their_own_and_shutdown_ends_them() -> None:
    tasks: list[Any] = []

    async def body(ev: asyncio.Event) -> None:
        tasks.append(asyncio.current_task())
        await ev.wait()

    def on_done(r: Any, e: BaseException | None, c: bool) -> None:
        assert e is None and not c

    async def main() -> None:
        owner = Owner()
        loop = asyncio.get_running_loop()
        a, b = asyncio.Event(), asyncio.Event()
        for ev in (a, b):
            h, _ = hostcoro.start(owner, loop, body(ev))
            assert h is not None
            h.on_done = on_done
        assert tasks[0] is not tasks[1]
        a.set()
        b.set()
        for _ in range(5):
            await asyncio.sleep(0)
        c = asyncio.Event()
        c.set()
        h, _ = hostcoro.start(owner, loop, body(c))
        assert h is None  # finished in its first step, on a reused worker
        assert tasks[2] in tasks[:2]
        # idle workers are left pending: asyncio.run must still end

    asyncio.run(asyncio.wait_for(main(), 5))


def test_coroutine_started_while_another_completes_still_waits_its_loop_turn() -> None:
    # Each tick after the first is started by the worker completing the previous
    # one, which carries it on itself: its bare yield (sleep(0)) must still let
    # other tasks run one turn, and it runs on one task in every step.
    turns: list[int] = []
    seen: list[tuple[Any, Any]] = []

    async def tick() -> None:
        first = asyncio.current_task()
        before = len(turns)
        await asyncio.sleep(0)
        assert len(turns) > before
        seen.append((first, asyncio.current_task()))

    async def main() -> int:
        global _COMP
        if _COMP is None:
            _COMP = Component.from_file(GUESTS / "async_cycle.wat")
        linker = Linker()
        linker.root().func_wrap("tick", tick)
        store: Store[None] = Store()
        f = linker.instantiate(store, _COMP).get_func("cycles")
        assert f
        stop = False

        async def spin() -> None:
            while not stop:
                turns.append(1)
                await asyncio.sleep(0)

        s = asyncio.create_task(spin())
        got = await f.call_async(store, 20)
        stop = True
        await s
        return int(got)

    assert asyncio.run(main()) == 20
    assert len(seen) == 20 and all(a is not None and a is b for a, b in seen)


_CANCEL_WAT = """
(component
  (import "tick" (func $tick async))
  (core module $M
    (import "" "task.return" (func $task.return (param i32)))
    (import "" "subtask.cancel" (func $cancel (param i32) (result i32)))
    (import "" "subtask.drop" (func $drop (param i32)))
    (import "" "tick" (func $tick (result i32)))
    (func (export "run") (result i32)
      (local $st i32) (local $r i32)
      (local.set $st (call $tick))
      (if (i32.ne (i32.and (local.get $st) (i32.const 15)) (i32.const 1)) (then unreachable))
      (local.set $r (call $cancel (i32.shr_u (local.get $st) (i32.const 4))))
      (call $drop (i32.shr_u (local.get $st) (i32.const 4)))
      (call $task.return (local.get $r))
      (i32.const 0))
    (func (export "run-cb") (param i32 i32 i32) (result i32) unreachable))
  (canon task.return (result u32) (core func $task.return))
  (canon subtask.cancel async (core func $cancel))
  (canon subtask.drop (core func $drop))
  (canon lower (func $tick) async (core func $tick-lowered))
  (core instance $m (instantiate $M (with "" (instance
    (export "task.return" (func $task.return))
    (export "subtask.cancel" (func $cancel))
    (export "subtask.drop" (func $drop))
    (export "tick" (func $tick-lowered))))))
  (func (export "run") async (result u32)
    (canon lift (core func $m "run") async (callback (core func $m "run-cb")))))
"""


def test_subtask_cancel_of_a_suspended_host_coroutine_before_it_ran_on() -> None:
    ran_on: list[bool] = []

    async def tick() -> None:
        await asyncio.sleep(0)
        ran_on.append(True)

    linker = Linker()
    linker.root().func_wrap("tick", tick)
    store: Store[None] = Store()
    f = linker.instantiate(store, Component.from_bytes(_CANCEL_WAT)).get_func("run")
    assert f

    async def main() -> int:
        got = int(await f.call_async(store))
        await asyncio.sleep(0.01)
        return got

    assert asyncio.run(main()) == 4  # CANCELLED_BEFORE_RETURNED, at once
    assert ran_on == []
