"""The store: the unit of isolation that owns every instance and its host data."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from wasmloom import core
from wasmloom.errors import WasmloomError
from wasmloom.host.streams import HostAsyncValues
from wasmloom.limits import StoreLimits
from wasmloom.runtime.scheduler import Scheduler
from wasmloom.runtime.tasks import Thread

if TYPE_CHECKING:
    import asyncio
else:
    from wasmloom.aio import asyncio

D = TypeVar("D")
R = TypeVar("R")


class Store(Generic[D]):
    """Owns component instances and carries user data, ``store.data``.

    Everything instantiated in a store lives as long as the store. A store is
    not thread-safe: use it from one thread (its event loop's, once async
    calls are involved); :meth:`interrupt` is the exception.

    Containment, for guests you do not trust (each failure is a
    :class:`~wasmloom.Trap` naming what was hit, and poisons the instance
    that trapped; the store stays usable):

    - ``limits``: a :class:`~wasmloom.StoreLimits` (memory, tables, instances,
      handles, lift sizes);
    - ``fuel``: units of guest work (:meth:`set_fuel`; the engine must be made
      with ``Engine(consume_fuel=True)``), trapping "all fuel consumed";
    - ``deadline``: seconds from now after which guest code traps "deadline of
      S s exceeded" (:meth:`set_deadline`);
    - :meth:`interrupt`: from any thread or a signal handler, traps the guest
      code running now with "interrupted";
    - Python signal handlers run while a guest runs (checked at every epoch
      tick, :data:`wasmloom.core.EPOCH_TICK`): Ctrl-C raises
      ``KeyboardInterrupt`` out of a synchronous call within a tick;
    - ``time_slicing``: every guest of the store runs on a fiber, and guest
      code reached through the async API (``call_async``, tasks, threads)
      yields to the asyncio loop at every epoch tick, so that one busy guest
      does not starve other tasks, host coroutines, timeouts or signal
      handlers. Guests already on fibers (those that may block) yield whether
      or not it is set. Every call then takes the task path on a fiber: about
      10 µs, against 1 µs for a plain sync call (bench/containment.py).
    """

    def __init__(
        self,
        engine: core.Engine | None = None,
        data: D = None,  # type: ignore[assignment]
        *,
        limits: StoreLimits | None = None,
        fuel: int | None = None,
        deadline: float | None = None,
        time_slicing: bool = False,
    ) -> None:
        self.engine = engine if engine is not None else core.default_engine()
        self.data: D = data
        self._core = core.CoreStore(self.engine, limits, time_slicing=time_slicing)
        # The store's task scheduler, and how its instances show streams and futures to
        # the host: the runtime reaches both through the core store.
        self._scheduler: Scheduler[Thread] = Scheduler()
        #: The store's task scheduler (for wasmloom's runtime layers). A plain
        #: attribute, not a property: the runtime reads it for every host end of a
        #: stream or future.
        self.scheduler: Scheduler[Thread] = self._scheduler
        self._core.scheduler = self._scheduler
        self._core.yield_wanted = self._scheduler.may_yield
        self._core.async_values = HostAsyncValues(self)
        if fuel is not None:
            self._core.set_fuel(fuel)
        if deadline is not None:
            self._core.set_deadline(deadline)

    @property
    def core(self) -> core.CoreStore:
        """The underlying core store (for wasmloom's runtime layers)."""
        return self._core

    @property
    def limits(self) -> StoreLimits:
        """The store's :class:`~wasmloom.limits.StoreLimits`."""
        return self._core.limits

    @property
    def time_slicing(self) -> bool:
        """Whether every guest of the store runs on a fiber and yields at epoch ticks."""
        return self._core.time_slicing

    def set_fuel(self, fuel: int) -> None:
        """Set the fuel left to ``fuel`` (needs ``Engine(consume_fuel=True)``)."""
        self._core.set_fuel(fuel)

    def get_fuel(self) -> int:
        """The fuel left (needs ``Engine(consume_fuel=True)``)."""
        return self._core.get_fuel()

    def set_deadline(self, seconds: float | None) -> None:
        """Trap guest code that runs ``seconds`` from now or later; ``None`` removes it."""
        self._core.set_deadline(seconds)

    def interrupt(self) -> None:
        """Trap the guest code running in this store now with "interrupted" (thread-safe)."""
        self._core.interrupt()

    def run_concurrent(self, fn: Callable[[], Awaitable[R]]) -> R:
        """Run ``await fn()`` to completion on the store's event loop and return its result.

        ``fn`` may start any number of concurrent calls (``func.call_async``)
        and await them. Must be called outside a running asyncio loop; inside
        one, use ``await store.run_concurrent_async(fn)`` (or just ``await fn()``).
        """
        if asyncio._get_running_loop() is not None:
            raise WasmloomError(
                "Store.run_concurrent called inside a running event loop; "
                "use `await store.run_concurrent_async(fn)`"
            )
        return self.scheduler.loop().run_until_complete(self.run_concurrent_async(fn))

    def close(self) -> None:
        """Release what the store holds outside wasm: its own event loop (the one
        :meth:`run_concurrent` and synchronous calls of async functions drive;
        its pending background tasks are cancelled) and its paused calls.

        Does nothing to a loop that is running (the caller's). The store stays
        usable; a new loop is created when one is needed. Done automatically
        when the store is garbage-collected.
        """
        self.scheduler.close()
        self._core.close()

    async def run_concurrent_async(self, fn: Callable[[], Awaitable[R]]) -> R:
        """``await fn()``: the async form of :meth:`run_concurrent`."""
        return await fn()

    def spawn(self, coro: Coroutine[Any, Any, R]) -> asyncio.Task[R]:
        """Run ``coro`` as background work on the store's event loop.

        It runs while the loop runs: under :meth:`run_concurrent`, inside the
        caller's own loop, or while a synchronous call waits for host work.
        The store counts it as pending host work, so guests waiting on it are
        not reported as deadlocked.
        """
        sched = self.scheduler
        task = sched.loop().create_task(coro)
        sched.host_pending += 1

        def done(_: object) -> None:
            sched.host_pending -= 1
            sched.notify()

        task.add_done_callback(done)
        return task
