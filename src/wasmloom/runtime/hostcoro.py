"""Running the coroutines of async host functions on a store's worker tasks.

:func:`start` runs a host coroutine's first step at once, in line with the
guest's call (as asyncio's eager tasks do). A coroutine that finishes in it
costs no asyncio task and no event-loop turn. One that suspends is carried on
by a *worker*: a long-lived :class:`asyncio.Task` of the store that steps one
coroutine at a time, and waits idle between them; a store keeps a few idle
workers per event loop. So a coroutine that suspends once (``await
asyncio.sleep(0)``) resumes one loop turn later, and creating a task is not
part of a host call. A coroutine started by the code a worker runs when its
coroutine finished (``on_done``: the guest it resumed calls the host again)
is carried on by that same worker next, with no hand-off between tasks.

Contract for the coroutine, as with a task of its own:

- ``asyncio.current_task()`` is its worker during every step, the first one
  included; ``asyncio.timeout``/``wait_for`` inside it, and cancelling that
  task while the coroutine waits, act on the coroutine. Once the coroutine
  has finished, the task may run other host coroutines: keep no reference to
  it beyond the call.
- Every step runs in one copy of the context current when the call started
  (``contextvars``), as :func:`asyncio.create_task` would.
- A worker whose coroutine was cancelled retires (it never outlives a
  cancellation it did not ask for, so ``asyncio.run`` shutdown and loop
  closing end it like any task).
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import types
import weakref
from collections.abc import Callable, Coroutine, Generator
from typing import Any

__all__ = ["HostCoroutine", "OnDone", "start"]

# on_done(result, exception, cancelled): the coroutine finished (on its worker).
OnDone = Callable[[Any, "BaseException | None", bool], None]

_enter_task = asyncio.tasks._enter_task
_leave_task = asyncio.tasks._leave_task
_current_task: Callable[[asyncio.AbstractEventLoop], asyncio.Task[Any] | None]
if sys.version_info < (3, 12) and isinstance(getattr(asyncio.tasks, "_current_tasks", None), dict):
    # CPython 3.11's current_task is Python code around this dict lookup.
    _current_task = asyncio.tasks._current_tasks.get  # type: ignore[attr-defined]
else:
    _current_task = asyncio.current_task

# Idle workers kept per store and event loop; more retire when they go idle.
MAX_IDLE = 8

_QUEUED = 0  # first step done, its worker has not taken it up yet
_RUNNING = 1  # on its worker
_DONE = 2  # finished, cancelled before it was taken up, or dropped


class HostCoroutine:
    """A host coroutine that suspended in its first step, carried on by a worker."""

    __slots__ = ("cancel_requested", "coro", "ctx", "first", "on_done", "state", "worker")

    def __init__(
        self, coro: Any, ctx: contextvars.Context, first: Any, on_done: OnDone, worker: _Worker
    ) -> None:
        self.coro = coro
        self.ctx = ctx
        self.first = first
        self.on_done = on_done
        self.worker = worker
        self.state = _QUEUED
        self.cancel_requested = False

    def done(self) -> bool:
        return self.state == _DONE

    def cancel(self) -> bool:
        """Request cancellation (nothing if the coroutine has finished).

        Returns ``True`` if the coroutine was closed now, before its worker
        took it up: ``on_done`` is then never called. Otherwise the worker
        task is cancelled, and ``on_done`` reports what the coroutine did with
        the :class:`asyncio.CancelledError`.
        """
        if self.state == _DONE:
            return False
        self.cancel_requested = True
        if self.state == _QUEUED:
            self.state = _DONE
            self.ctx.run(self.coro.close)
            return True
        self.worker.task.cancel()
        return False


class _Worker:
    """A long-lived task stepping host coroutines, one at a time.

    ``free``: it has no coroutine and may take one; the free workers of a
    pool are in it (except while :func:`start` holds one).
    """

    __slots__ = (
        "__weakref__",
        "finishing",
        "free",
        "job",
        "loop",
        "next",
        "owner",
        "pool",
        "task",
        "wake",
    )

    def __init__(
        self, loop: asyncio.AbstractEventLoop, pool: list[_Worker], owner: weakref.ref[Any]
    ) -> None:
        self.loop = loop
        self.owner = owner
        self.pool = pool
        self.free = True
        self.job: HostCoroutine | None = None
        # While ``on_done`` of its job runs: a coroutine started then (by the
        # code ``on_done`` runs) is carried on by this worker next (``next``).
        self.finishing = False
        self.next: HostCoroutine | None = None
        self.wake: asyncio.Future[None] | None = None
        task = self.task = loop.create_task(self._work(), context=contextvars.Context())
        # An idle worker of a loop closed without cancelling its tasks is garbage, not news.
        task._log_destroy_pending = False  # type: ignore[attr-defined]
        task.add_done_callback(self._ended)

    def usable(self) -> bool:
        w = self.wake
        return self.free and not self.task.done() and (w is None or not w.done())

    def take(self, job: HostCoroutine) -> None:
        """Give this free worker ``job`` to carry on."""
        self.free = False
        self.job = job
        w = self.wake
        if w is not None:
            self.wake = None
            w.set_result(None)

    def _ended(self, _task: Any) -> None:
        # Ended with a coroutine given that never ran on: it was cancelled.
        self.free = False
        for job in (self.job, self.next):
            if job is not None and job.state == _QUEUED:
                job.state = _DONE
                job.ctx.run(job.coro.close)
                job.ctx.run(job.on_done, None, None, True)

    async def _work(self) -> None:
        global _finishing
        pool = self.pool
        task = self.task
        carried = False
        while True:
            thrown: BaseException | None = None
            if self.job is None:
                wake = self.wake = self.loop.create_future()
                try:
                    await wake
                except asyncio.CancelledError as e:
                    self.wake = None
                    job = self.job
                    if job is None or job.state == _DONE:
                        # Cancelled while idle (the loop shutting down): retire.
                        self.free = False
                        if self in pool:
                            pool.remove(self)
                        raise
                    thrown = e  # meant for the coroutine it was just given
            job = self.job
            assert job is not None
            if job.state == _QUEUED:
                job.state = _RUNNING
                result: Any = None
                exc: BaseException | None = None
                cancelled = False
                try:
                    result = await _steps(job, thrown, carried)
                except asyncio.CancelledError:
                    cancelled = True
                except Exception as e:
                    exc = e
                job.state = _DONE
                prev = _finishing
                _finishing = self
                self.finishing = True
                try:
                    job.ctx.run(job.on_done, result, exc, cancelled)
                except Exception as e:
                    self.loop.call_exception_handler(
                        {"message": "error completing an async host call", "exception": e}
                    )
                finally:
                    self.finishing = False
                    _finishing = prev
            nxt = self.job = self.next
            self.next = None
            if nxt is not None:
                # Started while on_done ran: carry it on now (its first step's
                # bare yield still gets its loop turn, see _steps).
                carried = True
                continue
            carried = False
            if task.cancelling() or len(pool) >= MAX_IDLE:
                # After a cancellation (asked for by the coroutine's caller or
                # not: the loop's shutdown, someone holding this task), or
                # with enough idle workers: retire.
                return
            self.free = True
            pool.append(self)


@types.coroutine
def _steps(
    job: HostCoroutine, thrown: BaseException | None, carried: bool
) -> Generator[Any, Any, Any]:
    """Step ``job``'s coroutine in its context on the awaiting worker (a generator-based
    coroutine: awaited directly, no awaitable object per job).

    ``thrown``: an exception to throw in first; ``carried``: taken up in the
    step that started it (no loop turn has passed since its first step).
    """
    coro = job.coro
    run = job.ctx.run
    send = coro.send
    try:
        if thrown is not None:
            out = run(coro.throw, thrown)
        elif job.first is None and not carried:
            # A bare yield: the loop turn it asked for has passed.
            out = run(send, None)
        else:
            out = job.first
        job.first = None
        while True:
            try:
                sent = yield out
            except GeneratorExit:
                run(coro.close)
                raise
            except BaseException as e:  # thrown in by the task (cancellation)
                out = run(coro.throw, e)
            else:
                out = run(send, sent)
    except StopIteration as stop:
        return stop.value


_POOLS: weakref.WeakKeyDictionary[Any, tuple[asyncio.AbstractEventLoop, list[_Worker]]] = (
    weakref.WeakKeyDictionary()
)


# The worker whose coroutine's on_done is running (on this OS thread's loop, if
# it is the current task there).
_finishing: _Worker | None = None


def _owner_pool(owner: Any, loop: asyncio.AbstractEventLoop) -> list[_Worker]:
    entry = _POOLS.get(owner)
    if entry is None or entry[0] is not loop:
        entry = _POOLS[owner] = (loop, [])
    return entry[1]


def _worker(owner: Any, loop: asyncio.AbstractEventLoop) -> _Worker:
    pool = _owner_pool(owner, loop)
    while pool:
        w = pool.pop()
        if w.usable():
            return w
    return _Worker(loop, pool, weakref.ref(owner))


def start(
    owner: Any, loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]
) -> tuple[HostCoroutine | None, Any]:
    """Run ``coro``'s first step now, on ``loop`` (which must be running).

    Returns ``(None, result)`` if it finished in that step (an exception it
    raises propagates), else ``(h, None)``: a worker of ``owner`` (a store's
    scheduler) carries it on from the next loop turn on, and calls
    ``h.on_done`` (which the caller sets before returning to the loop) when
    it finishes.
    """
    cur = _current_task(loop)
    w = _finishing
    if (
        w is not None
        and w.task is cur
        and w.finishing
        and w.next is None
        and w.owner() is owner
        and w.loop is loop
        and not w.task.cancelling()
    ):
        # Started by the code completing this worker's previous coroutine:
        # the same worker carries it on (already the current task).
        ctx = contextvars.copy_context()
        try:
            first = ctx.run(coro.send, None)
        except StopIteration as e:
            return None, e.value
        h = HostCoroutine(coro, ctx, first, _unset, w)
        w.next = h
        return h, None
    w = _worker(owner, loop)
    task = w.task
    ctx = contextvars.copy_context()
    if cur is not None:
        _leave_task(loop, cur)
    _enter_task(loop, task)
    try:
        first = ctx.run(coro.send, None)
    except StopIteration as e:
        _release(w)
        return None, e.value
    except BaseException:
        _release(w)
        raise
    finally:
        _leave_task(loop, task)
        if cur is not None:
            _enter_task(loop, cur)
    h = HostCoroutine(coro, ctx, first, _unset, w)
    w.take(h)
    return h, None


def _unset(result: Any, exc: BaseException | None, cancelled: bool) -> None:
    raise AssertionError("HostCoroutine.on_done was not set")


def _release(w: _Worker) -> None:
    """``w`` was not needed after all: back to its pool."""
    w.pool.append(w)
