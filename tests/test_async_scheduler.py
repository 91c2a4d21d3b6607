"""The scheduler's ready queue: a wake-up costs the threads it readies, in FIFO order.

Against real guests (tests/guests/async_basic.wat): many calls waiting at once,
each woken by its own host call, and the number of readiness checks that takes.
Then the scheduler's own state machine (runtime/scheduler.py) driven from
Python, as the spec's tests drive its definitions: threads are plain objects
with the fields the scheduler uses (its ``Runnable`` protocol), waiting on real
waitables and waitable sets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from guest_util import component

from wasmloom import Linker, Store
from wasmloom.runtime import scheduler
from wasmloom.runtime.scheduler import Scheduler, unpark, wake
from wasmloom.runtime.tasks import Thread
from wasmloom.runtime.waitables import EventCode, Waitable, WaitableSet


class Env:
    """``async_basic`` with a host import each call of which waits for its own event."""

    def __init__(self) -> None:
        self.gates: dict[int, asyncio.Event] = {}
        linker = Linker()
        linker.root().func_wrap("host-add", self.host_add)
        self.store: Store[None] = Store()
        self.inst = linker.instantiate(self.store, component("async_basic"))

    async def host_add(self, a: int) -> int:
        gate = self.gates.setdefault(a, asyncio.Event())
        await gate.wait()
        return a + 100

    def func(self, name: str) -> Any:
        f = self.inst.get_func(name)
        assert f is not None
        return f


def count_calls(monkeypatch: pytest.MonkeyPatch, cls: type, name: str) -> list[int]:
    """Count the calls of method ``cls.name`` (a one-item list, updated in place)."""
    n = [0]
    inner = getattr(cls, name)

    def counted(self: Any) -> Any:
        n[0] += 1
        return inner(self)

    monkeypatch.setattr(cls, name, counted)
    return n


@pytest.mark.parametrize(
    ("name", "cls", "method"),
    [
        ("callback-wait", Thread, "wait_set_ready"),
        ("stackful-set-wait", WaitableSet, "has_pending_event"),
    ],
)
def test_each_wake_up_checks_only_the_thread_it_readies(
    monkeypatch: pytest.MonkeyPatch, name: str, cls: type, method: str
) -> None:
    """N calls wait at once, each for its own host call; as those finish one by one,
    the waiting threads' readiness is checked a few times per call, not N times
    (a scheduler that rescans every waiting thread per wake-up makes ~N²/2 checks)."""
    n = 1500
    env = Env()
    checks = count_calls(monkeypatch, cls, method)
    f = env.func(name)

    async def main() -> list[int]:
        calls = [asyncio.ensure_future(f.call_async(env.store, i)) for i in range(n)]
        await asyncio.sleep(0)
        while len(env.gates) < n:
            await asyncio.sleep(0.001)
        for i in range(n):
            env.gates[i].set()
        return list(await asyncio.gather(*calls))

    assert asyncio.run(main()) == [100 + i for i in range(n)]
    assert 0 < checks[0] <= 4 * n, checks[0]
    assert not env.store.scheduler.waiting


def test_calls_resume_in_the_order_their_host_calls_finished() -> None:
    env = Env()
    f = env.func("callback-wait")
    order = [3, 0, 4, 1, 2]
    done: list[int] = []

    async def one(i: int) -> None:
        assert await f.call_async(env.store, i) == 100 + i
        done.append(i)

    async def main() -> None:
        calls = [asyncio.ensure_future(one(i)) for i in range(5)]
        while len(env.gates) < 5:
            await asyncio.sleep(0.001)
        for i in order:
            env.gates[i].set()
            await asyncio.sleep(0.001)
        await asyncio.gather(*calls)

    asyncio.run(main())
    assert done == order


# --- the state machine, driven from Python ------------------------------------------------


class InstanceState:
    """What the scheduler reads of a thread's instance."""

    def __init__(self) -> None:
        self.preempted: Any = None
        self.exclusive_thread: Any = None
        self.waiters: list[Any] | None = None


class Task:
    def __init__(self, st: InstanceState) -> None:
        self.istate = st
        self.root = None


class PyThread:
    """A thread whose resumption records its name (the scheduler's ``Runnable``)."""

    def __init__(self, sched: Scheduler[Any], st: InstanceState, name: str, log: list[str]):
        self.sched = sched
        self.task = Task(st)
        self.name = name
        self.log = log
        self.ready_func: Callable[[], bool] | None = None
        self.switch_to: Any = None
        self.turn: Any = None
        self.wait_on: Any = None
        self.needs_lock = False
        self.parked: Any = None
        self.queued = False

    def wait(self, ready: Callable[[], bool], on: Any) -> None:
        """Thread.start_waiting, for these threads."""
        self.ready_func = ready
        self.wait_on = on
        self.sched.waiting[self] = None
        self.queued = True
        self.sched.ready.append(self)

    def ready(self) -> bool:
        return self.ready_func is not None and self.ready_func()

    def _resume_once(self, cancelled: bool) -> None:
        self.ready_func = None
        del self.sched.waiting[self]
        unpark(self)
        self.log.append(self.name)

    def resume(self, cancelled: bool = False) -> None:
        self._resume_once(cancelled)

    def abandon(self) -> None:
        self.ready_func = None


def event(w: Waitable) -> None:
    w.set_pending_event(lambda: (EventCode.SUBTASK, 0, 0))


def test_threads_run_in_the_order_they_became_ready_not_the_order_they_waited() -> None:
    sched: Scheduler[Any] = Scheduler()
    st = InstanceState()
    log: list[str] = []
    ws = [Waitable() for _ in range(3)]
    threads = [PyThread(sched, st, n, log) for n in "abc"]
    for t, w in zip(threads, ws, strict=True):
        t.wait(w.has_pending_event, w)
    assert not sched.tick()  # none ready: each is parked on its waitable
    assert all(t.parked is w for t, w in zip(threads, ws, strict=True))
    for i in (2, 0, 1):
        event(ws[i])
    sched.run_ready()
    assert log == ["c", "a", "b"]
    assert not sched.waiting and not sched.ready and not sched.polled


def test_an_event_wakes_only_the_threads_waiting_on_its_set() -> None:
    sched: Scheduler[Any] = Scheduler()
    st = InstanceState()
    log: list[str] = []
    sets = [WaitableSet() for _ in range(50)]
    members = [Waitable() for _ in sets]
    checks = [0] * len(sets)
    for i, (s, w) in enumerate(zip(sets, members, strict=True)):
        w.join(s)

        def ready(s: WaitableSet = s, i: int = i) -> bool:
            checks[i] += 1
            return s.has_pending_event()

        PyThread(sched, st, str(i), log).wait(ready, s)
    assert not sched.tick()
    assert checks == [1] * len(sets)
    event(members[7])
    assert sched.tick()
    assert log == ["7"] and checks[7] == 2 and sum(checks) == len(sets) + 1


def test_a_thread_held_back_by_the_lock_waits_for_its_release() -> None:
    sched: Scheduler[Any] = Scheduler()
    st = InstanceState()
    log: list[str] = []
    s = WaitableSet()
    w = Waitable()
    w.join(s)
    holder = object()
    st.exclusive_thread = holder
    t = PyThread(sched, st, "t", log)
    t.needs_lock = True
    t.wait(lambda: st.exclusive_thread is None and s.has_pending_event(), s)
    event(w)  # the event alone does not make it ready: the lock is held
    assert not sched.tick() and t.parked is st
    st.exclusive_thread = None
    wake(st)  # InstanceState.unlock
    assert sched.tick() and log == ["t"]


def test_a_thread_nothing_wakes_is_polled_on_each_tick() -> None:
    sched: Scheduler[Any] = Scheduler()
    st = InstanceState()
    log: list[str] = []
    flag = [False]
    t = PyThread(sched, st, "t", log)
    t.wait(lambda: flag[0], None)  # nothing will wake it: polled on each tick
    assert not sched.tick()
    flag[0] = True
    assert sched.tick() and log == ["t"]
    assert not sched.polled


def test_a_ready_thread_nothing_woke_is_found_before_a_deadlock_is_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(scheduler, "_STRICT", False)
    sched: Scheduler[Any] = Scheduler()
    st = InstanceState()
    log: list[str] = []
    w = Waitable()
    t = PyThread(sched, st, "t", log)
    t.wait(w.has_pending_event, w)
    assert not sched.tick() and t.parked is w
    w.pending_event = lambda: (EventCode.SUBTASK, 0, 0)  # no set_pending_event: no wake-up
    assert not sched.tick()
    sched.run_until(lambda: bool(log))
    assert log == ["t"]
    monkeypatch.setattr(scheduler, "_STRICT", True)
    t.wait(lambda: True, w)
    sched.ready.clear()
    t.queued = False
    with pytest.raises(AssertionError, match="missed wake-up"):
        sched.run_until(lambda: len(log) > 1)
