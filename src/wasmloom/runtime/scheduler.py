"""The store's scheduler: the host calls in flight and the threads waiting to run.

Follows the spec's ``Store.tick``. :class:`Scheduler` holds the ``waiting``
threads of one store (:class:`wasmloom.runtime.tasks.Thread`) and resumes the
ready ones in FIFO order, the order in which they became ready.

Readiness is pushed, not polled: a waiting thread that is not ready yet is
*parked* on the thing it waits for (its ``wait_on``: a waitable, a waitable
set, its instance's state, a loop turn), in that thing's ``waiters`` list.
Whatever makes the thing ready (an event, the instance's lock released, the
turn taken) calls :func:`wake`, which moves the threads parked there to the
scheduler's ``ready`` queue; the scheduler checks each thread it takes from
the queue once more and parks it again if it is not ready after all. So a
wake-up touches only the threads it readies, however many others wait. A
thread waiting on a condition with nothing to wake it (``wait_on`` unset) is
*polled*: checked on each tick, as every thread used to be.

Each host call is a :class:`Root`; a trap in any
thread working for it poisons the thread's instance and fails the root. The
drivers (:meth:`Scheduler.drive_sync` for a synchronous host call,
:meth:`Scheduler.root_future` under asyncio) run ready threads and, when none is
ready, wait for host work (async host functions, host streams) through
asyncio; with nothing to wait for, the pending roots fail with Wasmtime's
'deadlock detected' trap.

A thread that yields (the callback code YIELD, ``thread.yield``) is ready at
once, as the spec says, but the drivers resume it only after the event
loop's next turn (its ``turn``, from :meth:`Scheduler.next_turn`), as Wasmtime
yields to its executor before it resumes a yielded task: a guest that spins,
yielding, until the host acts cannot starve the host's other tasks,
coroutines and timeouts. Where no loop can or need run (guest code on the
stack, or a synchronous host call with no other host work), the turn is
taken at once.
"""

from __future__ import annotations

import functools
import sys
import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from wasmloom.errors import Trap, WasmloomError

if TYPE_CHECKING:
    import asyncio
else:
    from wasmloom.aio import asyncio

__all__ = ["DEADLOCK", "IN_LOOP", "Root", "Runnable", "Scheduler", "park", "settle", "wake"]

DEADLOCK = "deadlock detected: event loop cannot make further progress"
IN_LOOP = (
    "a synchronous call of an async function cannot drive the store's event loop "
    "from inside a running asyncio loop; use `await func.call_async(store, ...)`"
)


class Runnable(Protocol):
    """What the scheduler asks of the threads it runs (:class:`wasmloom.runtime.tasks.Thread`)."""

    ready_func: Callable[[], bool] | None
    switch_to: Any
    task: Any
    turn: Any
    #: What the thread waits for (something with ``waiters``), ``None``: polled.
    wait_on: Any
    #: Its readiness needs its instance's exclusive lock free.
    needs_lock: bool
    #: Where it is parked now (a ``wait_on``, or :data:`POLLED`), ``None``: nowhere.
    parked: Any
    #: It is in the scheduler's ``ready`` queue.
    queued: bool
    sched: Any

    def ready(self) -> bool: ...

    def resume(self, cancelled: bool = False) -> None: ...

    def _resume_once(self, cancelled: bool) -> None: ...

    def abandon(self) -> None: ...


ThreadT = TypeVar("ThreadT", bound=Runnable)

#: ``parked`` of a waiting thread with nothing to wake it: checked on each tick.
POLLED: Any = object()


def wake(owner: Any) -> None:
    """``owner`` (a waitable, waitable set, instance state or turn) may have made the
    threads parked on it ready: move them to their scheduler's ready queue, in order."""
    lot = owner.waiters
    if lot is None:
        return
    owner.waiters = None
    for t in lot:
        if t.parked is owner:
            t.parked = None
            if not t.queued:
                t.queued = True
                t.sched.ready.append(t)


def park(t: Any, owner: Any) -> None:
    """Park waiting thread ``t`` on ``owner`` until :func:`wake` (``None``: polled)."""
    if owner is None:
        t.parked = POLLED
        t.sched.polled[t] = None
        return
    t.parked = owner
    lot = owner.waiters
    if lot is None:
        owner.waiters = [t]
        return
    lot.append(t)
    n = len(lot)
    if n >= 64 and n & (n - 1) == 0:
        # Threads that stopped waiting without a wake-up leave stale entries: drop them.
        lot[:] = [x for x in dict.fromkeys(lot) if x.parked is owner]


def settle(t: Any) -> bool:
    """Whether waiting thread ``t`` may run now; if not, park it on what it waits for.

    That is the loop turn it yielded for, its instance (preempted by another
    thread, or its exclusive lock taken when ``t`` needs it), or its ``wait_on``.
    """
    turn = t.turn
    if turn is not None and not turn.done:
        park(t, turn)  # yielded: the loop takes its turn first
        return False
    st = t.task.istate
    pre = st.preempted
    if (pre is not None and pre is not t) or (t.needs_lock and st.exclusive_thread is not None):
        park(t, st)
        return False
    if t.ready_func():
        return True
    park(t, t.wait_on)
    return False


def unpark(t: Any) -> None:
    """``t`` no longer waits: out of the polled threads (a parked entry goes stale)."""
    p = t.parked
    if p is not None:
        t.parked = None
        if p is POLLED:
            t.sched.polled.pop(t, None)


class Root:
    """One call made by the host: its result or error, and the asyncio future awaiting it."""

    __slots__ = ("abandoned", "delivered", "done", "error", "future", "result", "task")

    def __init__(self) -> None:
        self.done = False
        #: The host has taken the outcome (:meth:`outcome`).
        self.delivered = False
        #: The host stopped awaiting the call (:meth:`Scheduler.cancel_root`).
        self.abandoned = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.future: asyncio.Future[None] | None = None
        #: The task the host called (the first one made for this root), until done.
        self.task: Any = None

    def resolve(self, result: Any) -> None:
        if self.done:
            return
        self.done = True
        self.task = None
        self.result = result
        f = self.future
        if f is not None and not f.done():
            f.set_result(None)

    def fail(self, error: BaseException) -> None:
        if self.done:
            return
        self.done = True
        self.task = None
        self.error = error
        self._wake()

    def _wake(self) -> None:
        f = self.future
        if f is not None and not f.done():
            f.set_result(None)

    def fail_undelivered(self, error: BaseException) -> None:
        """Fail even a resolved call whose result the host has not taken yet (its task
        trapped after returning, once a preemption had given the host a turn)."""
        if self.delivered or (self.done and self.error is not None):
            return
        self.done = False
        self.result = None
        self.fail(error)

    def outcome(self) -> Any:
        self.delivered = True
        if self.error is not None:
            raise self.error
        return self.result


class Turn:
    """The event loop's next turn, which the threads that yielded before it wait for."""

    __slots__ = ("done", "handle", "loop", "waiters")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.done = False
        self.loop = loop
        self.handle: asyncio.Handle | None = None
        #: The yielded threads parked until this turn (:func:`park`).
        self.waiters: list[Any] | None = None


class Scheduler(Generic[ThreadT]):
    """The waiting threads of one store, the thread running now, and host work in flight.

    Each store owns one: the host ``Store`` creates it, and its core store
    carries it (``CoreStore.scheduler``) to the instances (their ``InstanceState``).

    ``host_pending`` counts host work that will later make a thread ready
    (an async host function running, a host stream operation in flight):
    while it is non-zero the drivers wait for :meth:`notify` instead of
    reporting deadlock. Code that completes such work calls :meth:`notify`.
    """

    __slots__ = (
        "__weakref__",
        "_driver",
        "_event",
        "_event_set",
        "_loop",
        "_turn",
        "current",
        "host_pending",
        "polled",
        "ready",
        "roots",
        "waiting",
    )

    def __init__(self) -> None:
        #: Every waiting thread, in the order it started waiting.
        self.waiting: dict[ThreadT, None] = {}
        #: Threads that may be ready, in the order they became so (see the module doc).
        self.ready: deque[ThreadT] = deque()
        #: Waiting threads with nothing to wake them, checked on each tick.
        self.polled: dict[ThreadT, None] = {}
        self.current: ThreadT | None = None
        self.host_pending = 0
        #: The host calls awaited under asyncio (:meth:`root_future`), in call order.
        self.roots: dict[Root, None] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        #: ``_event`` is set (a cleared or new event clears this): notifying again
        #: need not call its ``set``.
        self._event_set = False
        self._driver: asyncio.Task[None] | None = None
        self._turn: Turn | None = None

    def may_yield(self) -> bool:
        """Whether a guest thread that yields at an epoch tick lets anything else run: a
        thread is ready or polled, host work is in flight, or an asyncio loop runs or is
        this scheduler's own (its callbacks, timers and signal handlers run meanwhile).
        Otherwise a yield would run nothing but a loop made for it (and asyncio's import)."""
        if self.ready or self.host_pending or self.polled or self._loop is not None:
            return True
        aio = sys.modules.get("asyncio")
        return aio is not None and aio._get_running_loop() is not None

    # -- running threads

    def tick(self) -> bool:
        """Resume the first ready thread; ``False`` if none is ready.

        An exception from the thread poisons its instance and fails its
        :class:`Root`; it propagates only when no pending root owns the thread.
        """
        t = self.next_ready()
        if t is None:
            return False
        try:
            # t.resume(), in line
            t._resume_once(False)
            nxt = t.switch_to
            if nxt is not None:
                t.switch_to = None
                nxt.resume()
        except Exception as e:
            self.thread_failed(t, e)
        return True

    def next_ready(self) -> ThreadT | None:
        """The first thread of the ready queue that is ready; the others taken from the
        queue are parked again (on what they wait for). Then the polled threads."""
        q = self.ready
        while q:
            t = q.popleft()
            t.queued = False
            rf = t.ready_func
            if rf is None:
                continue  # resumed meanwhile, by other means
            # settle(t), in line
            turn = t.turn
            if turn is not None and not turn.done:
                park(t, turn)
                continue
            st = t.task.istate
            pre = st.preempted
            if (pre is not None and pre is not t) or (
                t.needs_lock and st.exclusive_thread is not None
            ):
                owner = st
            elif rf():
                return t
            else:
                owner = t.wait_on
                if owner is None:
                    park(t, None)
                    continue
            # park(t, owner), in line (the threads waiting for the instance's lock
            # come back here each time it is released)
            t.parked = owner
            lot = owner.waiters
            if lot is None:
                owner.waiters = [t]
            elif len(lot) < 63:
                lot.append(t)
            else:
                park(t, owner)
        if self.polled:
            for t in self.polled:
                if runnable(t):
                    return t
        return None

    def rescan(self) -> bool:
        """Queue every waiting thread that is ready but was not woken; ``False`` if none.

        The drivers call this before they report a deadlock: a thread whose
        readiness nothing signalled must not be lost. It costs one pass over
        the waiting threads, so it is not on any per-event path.
        """
        found = False
        for t in self.waiting:
            if not t.queued and runnable(t):
                if _STRICT:
                    raise AssertionError(f"missed wake-up: {t!r} waits on {t.wait_on!r}")
                unpark(t)
                t.queued = True
                self.ready.append(t)
                found = True
        return found

    def thread_failed(self, t: ThreadT, e: Exception) -> None:
        task = t.task
        if isinstance(e, Trap):
            name = getattr(task, "name", None)
            if name is not None:
                e.with_func(name)
        root = task.root
        # Until the host has taken the result, a trap of the task is the call's (a sync
        # function's post-return, a task that traps right after task.return: without a
        # preemption in between the host would not have seen the result either).
        owned = root is not None and not root.delivered
        task.poison(e)
        if not owned:
            raise e
        assert root is not None
        root.fail_undelivered(e)
        if root.abandoned:  # nobody awaits the call any more
            self._unawaited_trap(e)

    def run_until(self, done: Callable[[], bool]) -> None:
        """Run ready threads until ``done()``; trap on deadlock (no host work awaited).

        Guest code is on the stack: no event loop turn can come, so a pending
        one is taken at once.
        """
        while not done():
            if not self.tick() and not self.take_turn() and not self.rescan():
                raise Trap(DEADLOCK)

    # -- yielding

    def next_turn(self) -> Turn:
        """The loop's next turn, which a thread that yields waits for (its ``turn``).

        The threads that yield before that turn share it. It counts as host
        work in flight, so the drivers wait for it (running the loop) rather
        than report a deadlock.
        """
        turn = self._turn
        loop = self.loop()
        if turn is not None and turn.loop is not loop:
            self.take_turn()  # made on a loop that no longer runs this store
            turn = None
        if turn is None:
            turn = self._turn = Turn(loop)
            self.host_pending += 1
            # Through a weak reference: a pending turn does not keep the store alive.
            turn.handle = loop.call_soon(_turned, weakref.ref(self), turn)
        return turn

    def take_stale_turn(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Take the pending turn now if it waits on another loop than ``loop``, the one
        about to run (a turn made under one asyncio loop outlived it)."""
        turn = self._turn
        return turn is not None and turn.loop is not loop and self.take_turn()

    def _turned(self, turn: Turn) -> None:
        if turn.done or turn.loop in _CLOSING:
            # Taken already, or the store's own loop is being closed (the store is
            # going away, at exit perhaps): no guest code runs from here.
            return
        if self._turn is turn:
            self._turn = None
        turn.done = True
        turn.handle = None
        self.host_pending -= 1
        wake(turn)
        self.run_ready()
        self.notify()

    def take_turn(self) -> bool:
        """Take the pending turn now, without the loop; ``False`` if there is none."""
        turn = self._turn
        if turn is None:
            return False
        self._turn = None
        if turn.handle is not None:
            turn.handle.cancel()
            turn.handle = None
        turn.done = True
        self.host_pending -= 1
        wake(turn)
        return True

    # -- host work

    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop host work runs on: the running loop, else the store's own."""
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            pass
        lp = self._loop
        if lp is None or lp.is_closed():
            lp = self._loop = asyncio.new_event_loop()
            # Closed with the scheduler (that is, with its store) at the latest.
            weakref.finalize(self, _close_loop, lp)
        return lp

    def close(self) -> None:
        """Close the store's own event loop, if it has one and it is not running.

        A later :meth:`loop` call outside a running loop creates a new one.
        """
        lp = self._loop
        self._loop = None
        self._event = None
        if lp is not None:
            _close_loop(lp)

    def notify(self) -> None:
        """Host work made progress: wake the driver waiting for it."""
        ev = self._event
        if ev is not None and not self._event_set:
            self._event_set = True
            ev.set()

    def kick(self) -> None:
        """Host work made a thread ready: wake the driver, or start one on the running loop.

        A task that outlives its host call (a callback task streaming after
        ``task.return``) has no pending root keeping a driver alive; this
        starts one when such a thread is ready. Outside a running loop it only
        notifies (the next driver picks the thread up).
        """
        ev = self._event  # self.notify(), in line
        if ev is not None and not self._event_set:
            self._event_set = True
            ev.set()
        if self.current is not None:
            return
        if not (self.ready or self.polled):
            return
        d = self._driver
        if d is not None and not d.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._driver = loop.create_task(self._drive())

    def run_ready(self) -> None:
        """Host work finished on the event loop: run the threads it made ready, in line.

        Outside guest code this runs every ready thread now, and wakes the
        driver only when no host work is left (it must then check for
        deadlock, or stop); inside guest code it only calls :meth:`kick`.
        """
        if self.current is not None:
            self.kick()
            return
        try:
            # while self.tick(): pass, in line.
            t = self.next_ready()
            while t is not None:
                try:
                    # t.resume(), in line
                    t._resume_once(False)
                    nxt = t.switch_to
                    if nxt is not None:
                        t.switch_to = None
                        nxt.resume()
                except Exception as e:
                    self.thread_failed(t, e)
                t = self.next_ready()
        finally:
            if not self.host_pending:
                self.kick()

    async def _host_progress(self) -> None:
        ev = self._event
        if ev is None:
            ev = self._event = asyncio.Event()
            self._event_set = False
        await ev.wait()
        ev.clear()
        self._event_set = False

    # -- drivers

    def drive_sync(self, root: Root) -> Any:
        """Run the store until ``root`` is done, outside any running event loop."""
        while not root.done:
            if self.tick():
                continue
            if self._turn is not None and self.host_pending == 1:
                # Only yielded threads wait: no host work could use the loop's turn.
                self.take_turn()
                continue
            if self.host_pending:
                loop = self.loop()
                if self.take_stale_turn(loop):
                    continue
                # The event exists before the loop runs: host work that completes in
                # the loop's first turn (a yielded thread's turn) must find it.
                ev = self._event = asyncio.Event()
                self._event_set = False
                # The root may resolve inside a run_ready of the loop's turn while other
                # host work is still pending: its future wakes this driver then.
                fut = root.future = loop.create_future()
                fut.add_done_callback(functools.partial(_set_event, ev))
                try:
                    loop.run_until_complete(ev.wait())
                finally:
                    self._event = None
                    root.future = None
                continue
            if not self.rescan():
                self.deadlock(root)
        return root.outcome()

    def deadlock(self, root: Root) -> None:
        """Fail ``root`` with the deadlock trap; its stuck threads are dropped."""
        for t in list(self.waiting):
            if t.task.root is root:
                t.abandon()
                t.task.poison()
        root.fail(Trap(DEADLOCK))

    def cancel_root(self, root: Root, st: Any) -> None:
        """The host stopped awaiting ``root``: request cancellation of its task.

        The spec's ``subtask.cancel`` without waiting: the task's thread gets
        TASK_CANCELLED now if it waits cancellably, else at its next
        cancellable wait; the guest then calls ``task.cancel`` or returns.
        ``st`` is the state of the instance the host called (its
        :class:`~wasmloom.runtime.tasks.InstanceState`). A trap while the
        guest handles the cancellation poisons the instance and goes to the
        event loop's exception handler (nobody awaits the call any more).
        """
        if root.done:
            return
        root.abandoned = True
        task = root.task
        if task is None or task.resolved():
            return
        if self.current is not None or st.preempted is not None:
            # Guest code is on the stack, or a thread of the instance is preempted
            # mid-computation: request it once that has returned or is suspended.
            self.loop().call_soon(self.cancel_root, root, st)
            return
        try:
            task.request_cancellation()
        except Exception as e:
            if isinstance(e, Trap) and getattr(task, "name", None) is not None:
                e.with_func(task.name)
            task.poison(e)
            root.fail(e)
            self._unawaited_trap(e)
        self.kick()

    def _unawaited_trap(self, e: BaseException) -> None:
        """A trap in a call the host stopped awaiting goes to the loop's exception handler."""
        self.loop().call_exception_handler(
            {"message": "guest trap while handling the cancellation of a call", "exception": e}
        )

    def root_future(self, root: Root) -> asyncio.Future[None] | None:
        """Await ``root`` under asyncio, driving the store as needed: run the ready
        threads; ``None`` if ``root`` is then done, else the future to await (on the
        running loop), which the drivers complete when it is.

        The awaiter takes ``root`` out of :attr:`roots` once the future is done (or
        its wait cancelled), then its outcome (:meth:`Root.outcome`). A plain
        function, not a coroutine: the caller's own coroutine awaits the future,
        one coroutine less per host call.
        """
        while not root.done and self.tick():
            pass
        if root.done:
            return None
        loop = asyncio.get_running_loop()
        root.future = fut = loop.create_future()
        self.roots[root] = None
        d = self._driver
        if d is None or d.done():
            self._driver = loop.create_task(self._drive())
        elif not self.host_pending:
            # With host work in flight the driver wakes when it progresses (and
            # then sees this root); without, it must check for deadlock now.
            self.notify()
        return fut

    async def _drive(self) -> None:
        self._event = asyncio.Event()
        self._event_set = False
        try:
            while True:
                n = 0
                while self.tick():
                    n += 1
                    if n & 63 == 0:
                        await asyncio.sleep(0)
                # Done roots leave `roots` as soon as their awaiter resumes: this
                # stops at one of the first few.
                if not any(not r.done for r in self.roots):
                    if not self.host_pending:
                        return
                elif not self.host_pending:
                    # Give other asyncio tasks one turn before calling it a deadlock.
                    await asyncio.sleep(0)
                    if self.host_pending or self.ready or self.polled or self.rescan():
                        continue
                    for r in list(self.roots):
                        if not r.done:
                            self.deadlock(r)
                    continue
                if self.take_stale_turn(asyncio.get_running_loop()):
                    continue
                await self._host_progress()
        finally:
            self._driver = None

    def check_no_loop(self) -> None:
        """Raise if called inside a running event loop (sync calls may not nest in one)."""
        if asyncio._get_running_loop() is not None:
            raise WasmloomError(IN_LOOP)


def runnable(t: Any) -> bool:
    """Whether waiting thread ``t`` may run now (it is ready, its instance is not
    preempted by another thread, and the loop turn it yielded for came)."""
    rf = t.ready_func
    if rf is None:
        return False
    turn = t.turn
    if turn is not None and not turn.done:
        return False
    pre = t.task.istate.preempted
    return (pre is None or pre is t) and bool(rf())


#: Tests set this to make :meth:`Scheduler.rescan` fail loudly on a missed wake-up.
_STRICT = False


def _turned(ref: weakref.ref[Scheduler[Any]], turn: Turn) -> None:
    sched = ref()
    if sched is not None:
        sched._turned(turn)


#: The stores' own loops being closed (:func:`_close_loop`): their pending yield
#: turns resume no guest code.
_CLOSING: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


def _close_loop(lp: asyncio.AbstractEventLoop) -> None:
    if lp.is_closed() or lp.is_running():
        return
    _CLOSING.add(lp)
    try:
        # Let pending background work unwind, unless some other loop is running
        # (a finalizer during someone else's loop): then it is only closed.
        if asyncio._get_running_loop() is None:
            pending = [t for t in asyncio.all_tasks(lp) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                lp.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            lp.run_until_complete(lp.shutdown_asyncgens())
    finally:
        lp.close()


def _set_event(ev: asyncio.Event, _: object) -> None:
    ev.set()
